/* The gateway's ingest path without sockets: forward -> rules -> queue, our own protocols,
 * and every refusal with its status. */
#include "testutil.h"

#include "ingest.h"
#include "mediator.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { GW = 0, AL = 1, CA = 2, BO = 3 };
static struct world I;
static struct dc_queue *Q;
static char qdir[64];
static const enum dc_crv x25519[] = { DC_CRV_X25519 };

static int ingest_init(void)
{
	snprintf(qdir, sizeof qdir, "/tmp/dcing.XXXXXX");
	if (!mkdtemp(qdir) || dc_resolver_new(16, &I.res))
		return 1;
	const char *via_gw[] = { "did:test:gw#key-x25519-1" };
	if (tu_make_party(I.res, &I.ks[GW], "did:test:gw", x25519, 1, 1, true, "http://127.0.0.1:9/gw", NULL, 0) ||
	    tu_make_party(I.res, &I.ks[AL], "did:test:alice", x25519, 1, 1, true, NULL, NULL, 0) ||
	    tu_make_party(I.res, &I.ks[CA], "did:test:carol", x25519, 1, 1, false, "http://127.0.0.1:9/carol", via_gw, 1) ||
	    tu_make_party(I.res, &I.ks[BO], "did:test:bob", x25519, 1, 1, false, NULL, NULL, 0))
		return 1;
	char path[128];
	snprintf(path, sizeof path, "%s/queue.db", qdir);
	struct dc_queue_opts o = { .max_items = 5 };
	return dc_queue_open_sqlite(path, &o, &Q, NULL) ? 1 : 0;
}

static int ingest_clear(void)
{
	dc_queue_close(Q);
	for (int i = 0; i < 6; i++)
		dc_keystore_free(I.ks[i]);
	dc_resolver_free(I.res);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", qdir);
	return system(cmd) == 0 ? 0 : 1;
}

static char *pack_from_alice(const char *to, const char *msg, enum dc_pack_mode mode, bool no_forward)
{
	struct dc_ctx *c = NULL;
	struct dc_pack_result r = { 0 };
	const char *t[] = { to };
	struct dc_pack_opts o = { .mode = mode, .to = t, .n_to = 1, .no_forward = no_forward };
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL_FATAL(dc_ctx_new(I.res, I.ks[AL], &c), DC_OK);
	dc_err rc = dc_pack(c, msg, strlen(msg), &o, &r, &ei);
	if (rc)
		fprintf(stderr, "\npack: %s\n", ei.msg);
	CU_ASSERT_EQUAL_FATAL(rc, DC_OK);
	char *env = r.items[0].msg;
	r.items[0].msg = NULL;
	dc_pack_result_clear(&r);
	dc_ctx_free(c);
	return env;
}

static void run(const char *rules_text, const char *mt, const char *env, size_t len, struct gw_ingest_result *res)
{
	struct rule_set *rs = NULL;
	CU_ASSERT_EQUAL_FATAL(rule_set_parse_text("test.rules", rules_text, strlen(rules_text), &rs, NULL, NULL), DC_OK);
	struct dc_ctx *c = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_ctx_new(I.res, I.ks[GW], &c), DC_OK);
	struct gw_ingest_cfg g = { .dc = c, .q = Q, .rules = rs, .max_bytes = 1 << 20,
		                   .proto = { .our_did = "did:test:gw", .max_receive_bytes = 1 << 20 } };
	struct gw_ingest_in m = { .transport = "http", .source = "127.0.0.1", .media_type = mt, .data = (const uint8_t *)env, .len = len };
	gw_ingest(&g, &m, res);
	dc_ctx_free(c);
	rule_set_free(rs);
}

static int64_t soon(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1000;
}

static const char *MT = "application/didcomm-encrypted+json";
static const char *M_CAROL = "{\"id\":\"c1\",\"type\":\"https://didcomm.org/basicmessage/2.0/message\",\"from\":"
                             "\"did:test:alice\",\"to\":[\"did:test:carol\"],\"body\":{\"content\":\"hi\"}}";

static void forward_resolved(void)
{
	char *env = pack_from_alice("did:test:carol", M_CAROL, DC_PACK_AUTHCRYPT, false);
	struct gw_ingest_result res;
	run(RULE_BUILTIN_TEXT, MT, env, strlen(env), &res);
	if (res.outcome != GW_ACCEPTED)
		fprintf(stderr, "\ningest: %d %s\n", (int)res.outcome, res.why);
	CU_ASSERT_EQUAL_FATAL(res.outcome, GW_ACCEPTED);
	CU_ASSERT_EQUAL(res.n_queued, 1);
	gw_ingest_result_clear(&res);
	/* what the dispatcher will find: carol's envelope for carol's endpoint */
	struct dc_queue_item *it = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL_FATAL(dc_queue_claim(Q, soon(), 10, 8, 60000, &it, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_STRING_EQUAL(it[0].dest, "resolved http http://127.0.0.1:9/carol"); /* from a DID document */
	struct dc_ctx *c = NULL;
	char *msg = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_ctx_new(I.res, I.ks[CA], &c), DC_OK);
	CU_ASSERT_EQUAL(dc_unpack(c, (const char *)it[0].data, it[0].len, NULL, &msg, NULL, NULL), DC_OK);
	CU_ASSERT(msg && strcmp(msg, M_CAROL) == 0);
	free(msg);
	dc_ctx_free(c);
	CU_ASSERT_EQUAL(dc_queue_ack(Q, it[0].id, NULL), DC_OK);
	dc_queue_items_free(it, n);
	free(env);
}

static void rules_decide(void)
{
	char *env = pack_from_alice("did:test:carol", M_CAROL, DC_PACK_AUTHCRYPT, false);
	struct gw_ingest_result res;
	/* templated target, fan out to two */
	run("to did:test:* -> http http://127.0.0.1:9/in/{to}, file /spool/{to}\n", MT, env, strlen(env), &res);
	CU_ASSERT_EQUAL(res.outcome, GW_ACCEPTED);
	CU_ASSERT_EQUAL(res.n_queued, 2);
	gw_ingest_result_clear(&res);
	struct dc_queue_item *it = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL_FATAL(dc_queue_claim(Q, soon(), 10, 8, 60000, &it, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT(strstr(it[0].dest, "http http://127.0.0.1:9/in/did") == it[0].dest);
	CU_ASSERT_STRING_EQUAL(it[1].dest, "file /spool/did:test:carol");
	for (size_t i = 0; i < n; i++)
		CU_ASSERT_EQUAL(dc_queue_ack(Q, it[i].id, NULL), DC_OK);
	dc_queue_items_free(it, n);
	/* reject with a code */
	run("to did:test:carol -> reject e.p.me.not-here\ndefault -> resolve\n", MT, env, strlen(env), &res);
	CU_ASSERT_EQUAL(res.refusal, GW_REF_DENIED);
	CU_ASSERT_STRING_EQUAL(res.problem_code, "e.p.me.not-here");
	gw_ingest_result_clear(&res);
	/* no rule matches */
	run("to did:other:* -> resolve\n", MT, env, strlen(env), &res);
	CU_ASSERT_EQUAL(res.refusal, GW_REF_DENIED);
	gw_ingest_result_clear(&res);
	free(env);
	/* not for us and no endpoint: resolve fails, the else holds it */
	const char *mb = "{\"id\":\"b1\",\"type\":\"t/1.0/x\",\"to\":[\"did:test:bob\"],\"body\":{}}";
	char *eb = pack_from_alice("did:test:bob", mb, DC_PACK_ANONCRYPT, true);
	run("default -> resolve else hold 72h\n", MT, eb, strlen(eb), &res);
	CU_ASSERT_EQUAL(res.outcome, GW_ACCEPTED);
	gw_ingest_result_clear(&res);
	struct dc_queue_item *list = NULL;
	CU_ASSERT_EQUAL(dc_queue_list(Q, false, 0, 10, &list, &n, NULL), DC_OK);
	CU_ASSERT(n == 1 && strcmp(list[0].dest, "hold did:test:bob") == 0);
	CU_ASSERT(n == 1 && list[0].next_ms > list[0].created_ms + 3600000); /* waits for pickup */
	if (n == 1)
		CU_ASSERT_EQUAL(dc_queue_fail(Q, list[0].id, 0, "test cleanup", NULL), DC_OK);
	dc_queue_items_free(list, n);
	/* the built-in rules relay forwards addressed to us, not envelopes for others */
	run(RULE_BUILTIN_TEXT, MT, eb, strlen(eb), &res);
	CU_ASSERT_EQUAL(res.outcome, GW_REFUSED);
	CU_ASSERT_EQUAL(res.refusal, GW_REF_DENIED);
	CU_ASSERT_STRING_EQUAL(res.problem_code, "e.p.msg.not-relayed");
	gw_ingest_result_clear(&res);
	free(eb);
}

static void our_protocols(void)
{
	const char *ping = "{\"id\":\"p1\",\"type\":\"https://didcomm.org/trust-ping/2.0/ping\",\"from\":\"did:test:alice\","
	                   "\"to\":[\"did:test:gw\"],\"body\":{\"response_requested\":true}}";
	char *env = pack_from_alice("did:test:gw", ping, DC_PACK_AUTHCRYPT, true);
	struct gw_ingest_result res;
	run(RULE_BUILTIN_TEXT, MT, env, strlen(env), &res);
	CU_ASSERT_EQUAL(res.outcome, GW_ACCEPTED);
	CU_ASSERT(res.reply && strstr(res.reply, "ping-response") && strstr(res.reply, "\"thid\":\"p1\""));
	CU_ASSERT(res.reply_to && strcmp(res.reply_to, "did:test:alice") == 0);
	gw_ingest_result_clear(&res);
	free(env);
}

/* the daemon's way: open several messages, commit their deliveries in one transaction, then
 * finish each; a failed commit finishes with the right status and frees everything */
static void two_step_commit(void)
{
	struct rule_set *rs = NULL;
	const char *rules = "default -> http http://127.0.0.1:9/x\n";
	CU_ASSERT_EQUAL_FATAL(rule_set_parse_text("test.rules", rules, strlen(rules), &rs, NULL, NULL), DC_OK);
	struct dc_ctx *c = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_ctx_new(I.res, I.ks[GW], &c), DC_OK);
	struct gw_ingest_cfg g = { .dc = c, .q = Q, .rules = rs, .max_bytes = 1 << 20, .lease_ms = 60000,
		                   .proto = { .our_did = "did:test:gw", .max_receive_bytes = 1 << 20 } };
	char *env[3];
	struct gw_ingest_result res[3];
	struct gw_commit *pc[3];
	struct dc_queue_new_item all[3 * GW_INGEST_MAX_TARGETS];
	size_t n_all = 0, n_of[3];
	for (int i = 0; i < 3; i++) {
		env[i] = pack_from_alice("did:test:carol", M_CAROL, DC_PACK_AUTHCRYPT, false);
		struct gw_ingest_in m = { .transport = "http", .source = "127.0.0.1", .media_type = MT, .data = (const uint8_t *)env[i], .len = strlen(env[i]) };
		gw_ingest_start(&g, &m, &res[i], &pc[i]);
		CU_ASSERT_PTR_NOT_NULL_FATAL(pc[i]);
		CU_ASSERT_EQUAL(res[i].outcome, 0); /* not final before the commit */
		const struct dc_queue_new_item *it;
		gw_commit_items(pc[i], &it, &n_of[i]);
		CU_ASSERT_EQUAL_FATAL(n_of[i], 1);
		CU_ASSERT_STRING_EQUAL(it[0].dest, "http http://127.0.0.1:9/x");
		CU_ASSERT(it[0].leased_until_ms > 0);
		memcpy(&all[n_all], it, n_of[i] * sizeof *it);
		n_all += n_of[i];
	}
	/* the rules may change before the commit: what the items point at is the commit's own */
	rule_set_free(rs);
	g.rules = NULL;
	int64_t ids[3 * GW_INGEST_MAX_TARGETS];
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(Q, all, 2, ids, NULL), DC_OK); /* the first two together */
	for (int i = 0; i < 2; i++) {
		gw_ingest_finish(pc[i], DC_OK, &ids[i], NULL, &res[i]);
		CU_ASSERT_EQUAL(res[i].outcome, GW_ACCEPTED);
		CU_ASSERT_EQUAL(res[i].n_queued, 1);
		CU_ASSERT(strstr(res[i].why, "test.rules:1") != NULL);
		CU_ASSERT_EQUAL_FATAL(res[i].n_fast, 1); /* born leased: for the dispatcher, from memory */
		CU_ASSERT_EQUAL(res[i].fast[0].id, ids[i]);
		CU_ASSERT_EQUAL(res[i].fast[0].len, all[i].len);
	}
	struct dc_errinfo ei = { 0 };
	dc_errinfo_set(&ei, DC_ERR_AGAIN, "queue full (test)");
	gw_ingest_finish(pc[2], DC_ERR_AGAIN, NULL, &ei, &res[2]);
	CU_ASSERT_EQUAL(res[2].outcome, GW_TRY_LATER);
	CU_ASSERT_STRING_EQUAL(res[2].why, "queue full (test)");
	CU_ASSERT_EQUAL(res[2].n_fast, 0);
	/* leased: nothing to claim; then done */
	struct dc_queue_item *it = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL(dc_queue_claim(Q, soon(), 10, 8, 60000, &it, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL(n, 0);
	dc_queue_items_free(it, n);
	for (int i = 0; i < 2; i++)
		CU_ASSERT_EQUAL(dc_queue_ack(Q, ids[i], NULL), DC_OK);
	/* nothing to commit: *pc stays NULL and the result is final */
	struct gw_commit *none = (struct gw_commit *)1;
	gw_ingest_result_clear(&res[2]);
	struct gw_ingest_in bad = { .transport = "http", .source = "127.0.0.1", .media_type = "text/plain", .data = (const uint8_t *)"{}", .len = 2 };
	gw_ingest_start(&g, &bad, &res[2], &none);
	CU_ASSERT_PTR_NULL(none);
	CU_ASSERT_EQUAL(res[2].refusal, GW_REF_BAD_TYPE);
	for (int i = 0; i < 3; i++) {
		gw_ingest_result_clear(&res[i]);
		free(env[i]);
	}
	dc_ctx_free(c);
}

static void run_in(const char *rules_text, const struct gw_ingest_in *m, struct gw_ingest_result *res)
{
	struct rule_set *rs = NULL;
	CU_ASSERT_EQUAL_FATAL(rule_set_parse_text("test.rules", rules_text, strlen(rules_text), &rs, NULL, NULL), DC_OK);
	struct dc_ctx *c = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_ctx_new(I.res, I.ks[GW], &c), DC_OK);
	struct gw_ingest_cfg g = { .dc = c, .q = Q, .rules = rs, .max_bytes = 1 << 20,
		                   .proto = { .our_did = "did:test:gw", .max_receive_bytes = 1 << 20 } };
	gw_ingest(&g, m, res);
	dc_ctx_free(c);
	rule_set_free(rs);
}

/* an idempotency key: the same key and bytes again add nothing (accepted, duplicate); other
 * bytes with that key, or the same bytes with another key, are new. only_ours (a shared
 * place): an envelope for someone else or a plaintext one is GW_REF_NOT_OURS with no problem
 * report and nothing kept; multiplex: encrypted to us and to another DID's key */
static void keys_and_shared(void)
{
	const char *rules = "default -> http http://127.0.0.1:9/k\n";
	char *e1 = pack_from_alice("did:test:carol", M_CAROL, DC_PACK_AUTHCRYPT, false);
	char *e2 = pack_from_alice("did:test:carol", M_CAROL, DC_PACK_AUTHCRYPT, false);
	struct gw_ingest_in m = { .transport = "file", .source = "/in/x.dcem", .media_type = MT, .data = (const uint8_t *)e1,
		                  .len = strlen(e1), .key = "/in/x.dcem\n100\n1" };
	struct gw_ingest_result res;
	const struct { const char *data, *key; bool dup; } steps[] = {
		{ e1, "/in/x.dcem\n100\n1", false }, { e1, "/in/x.dcem\n100\n1", true }, { e2, "/in/x.dcem\n100\n1", false },
		{ e1, "/in/x.dcem\n100\n2", false }, { e1, NULL, false },
	};
	for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
		m.data = (const uint8_t *)steps[i].data;
		m.len = strlen(steps[i].data);
		m.key = steps[i].key;
		run_in(rules, &m, &res);
		CU_ASSERT_EQUAL(res.outcome, GW_ACCEPTED);
		CU_ASSERT_EQUAL(res.duplicate, steps[i].dup);
		CU_ASSERT_EQUAL(res.n_queued, steps[i].dup ? 0 : 1);
		CU_ASSERT_STRING_EQUAL(res.multiplex, "");
		gw_ingest_result_clear(&res);
	}
	uint64_t removed = 0;
	CU_ASSERT_EQUAL(dc_queue_purge_dest(Q, "http http://127.0.0.1:9/k", false, &removed, NULL), DC_OK);
	CU_ASSERT_EQUAL(removed, 4);
	/* only_ours: for bob (not us), plaintext: left be, nothing said back */
	const char *m_bob = "{\"id\":\"b1\",\"type\":\"https://didcomm.org/basicmessage/2.0/message\",\"to\":"
	                    "[\"did:test:bob\"],\"body\":{}}";
	char *eb = pack_from_alice("did:test:bob", m_bob, DC_PACK_ANONCRYPT, true);
	m = (struct gw_ingest_in){ .transport = "file", .source = "/sh/b.dcem", .media_type = MT, .data = (const uint8_t *)eb,
		                   .len = strlen(eb), .key = "k", .only_ours = true };
	run_in(rules, &m, &res);
	CU_ASSERT(res.outcome == GW_REFUSED && res.refusal == GW_REF_NOT_OURS && res.problem_code[0] == 0);
	gw_ingest_result_clear(&res);
	m.data = (const uint8_t *)M_CAROL;
	m.len = strlen(M_CAROL);
	m.media_type = "application/didcomm-plain+json";
	run_in(rules, &m, &res);
	CU_ASSERT(res.outcome == GW_REFUSED && res.refusal == GW_REF_NOT_OURS);
	gw_ingest_result_clear(&res);
	/* ours in a shared place: taken */
	m = (struct gw_ingest_in){ .transport = "file", .source = "/sh/c.dcem", .media_type = MT, .data = (const uint8_t *)e1,
		                   .len = strlen(e1), .only_ours = true };
	run_in(rules, &m, &res);
	CU_ASSERT(res.outcome == GW_ACCEPTED && res.n_queued == 1 && res.multiplex[0] == 0);
	gw_ingest_result_clear(&res);
	/* multiplex: a ping encrypted to the gateway's key and bob's */
	const char *ping = "{\"id\":\"p1\",\"type\":\"https://didcomm.org/trust-ping/2.0/ping\",\"body\":"
	                   "{\"response_requested\":false}}";
	struct dc_did_doc *gdoc = NULL, *bdoc = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_resolve(I.res, "did:test:gw", &gdoc, NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_resolve(I.res, "did:test:bob", &bdoc, NULL), DC_OK);
	const struct dc_key *ks[2] = { dc__did_doc_vm(gdoc, "did:test:gw#key-x25519-1")->key,
		                       dc__did_doc_vm(bdoc, "did:test:bob#key-x25519-1")->key };
	char *mx = NULL;
	size_t mlen = 0;
	CU_ASSERT_EQUAL_FATAL(dc__jwe_encrypt(DC_ALG_ECDH_ES_A256KW, DC_ENC_XC20P, NULL, NULL, ks, 2, (const uint8_t *)ping,
	                                      strlen(ping), &mx, &mlen, NULL), DC_OK);
	m.data = (const uint8_t *)mx;
	m.len = mlen;
	run_in(rules, &m, &res);
	CU_ASSERT_EQUAL(res.outcome, GW_ACCEPTED);
	CU_ASSERT_STRING_EQUAL(res.multiplex, "did:test:gw#key-x25519-1");
	gw_ingest_result_clear(&res);
	CU_ASSERT_EQUAL(dc_queue_purge_dest(Q, "http http://127.0.0.1:9/k", false, &removed, NULL), DC_OK);
	free(mx);
	dc_did_doc_free(gdoc);
	dc_did_doc_free(bdoc);
	free(eb);
	free(e1);
	free(e2);
}

static void refusals(void)
{
	struct gw_ingest_result res;
	char *big = malloc((1 << 20) + 2);
	memset(big, ' ', (1 << 20) + 1);
	big[(1 << 20) + 1] = 0;
	run(RULE_BUILTIN_TEXT, MT, big, (1 << 20) + 1, &res);
	CU_ASSERT_EQUAL(res.refusal, GW_REF_TOO_BIG);
	free(big);
	run(RULE_BUILTIN_TEXT, "text/plain", "{}", 2, &res);
	CU_ASSERT_EQUAL(res.refusal, GW_REF_BAD_TYPE);
	run(RULE_BUILTIN_TEXT, "didcomm-encrypted+json; charset=utf-8", "{", 1, &res);
	CU_ASSERT_EQUAL(res.refusal, GW_REF_MALFORMED); /* the type without application/ is fine; the body is not */
	CU_ASSERT(res.why[0] != 0);
	/* queue full: 503 (max_items 5) */
	char *env = pack_from_alice("did:test:carol", M_CAROL, DC_PACK_AUTHCRYPT, false);
	int full = 0;
	for (int i = 0; i < 8; i++) {
		run("default -> http http://127.0.0.1:9/x\n", MT, env, strlen(env), &res);
		full += res.outcome == GW_TRY_LATER;
		gw_ingest_result_clear(&res);
	}
	CU_ASSERT(full >= 3);
	free(env);
}

/* a forward's attachment goes on as the sender wrote it, byte for byte (not printed again
 * from a parsed tree): odd spacing, key order and number forms survive */
static void forward_bytes_kept(void)
{
	const char *inner = "{ \"ciphertext\" : \"abc\",\n  \"n\": 1.50e2, \"recipients\":[ {\"header\":{\"kid\":\"did:test:bob#k\"}} ],"
	                    " \"s\": \"q\\\"}{[\" }";
	char fwd[1024];
	snprintf(fwd, sizeof fwd,
	         "{\"id\":\"f1\",\"type\":\"https://didcomm.org/routing/2.0/forward\",\"to\":[\"did:test:gw\"],"
	         "\"body\":{\"next\":\"did:test:bob\"},\"attachments\":[ { \"id\":\"a\", \"data\" : { \"json\" : %s } } ]}",
	         inner);
	char *env = pack_from_alice("did:test:gw", fwd, DC_PACK_ANONCRYPT, true);
	struct dc_ctx *c = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_ctx_new(I.res, I.ks[GW], &c), DC_OK);
	struct dc_relay r;
	struct dc_errinfo ei = { 0 };
	dc_err rc = dc_relay_inspect(c, env, strlen(env), &r, &ei);
	if (rc)
		fprintf(stderr, "\ninspect: %s\n", ei.msg);
	CU_ASSERT_EQUAL_FATAL(rc, DC_OK);
	CU_ASSERT_EQUAL(r.kind, DC_RELAY_FORWARD);
	CU_ASSERT(r.payload_len == strlen(inner) && memcmp(r.payload, inner, r.payload_len) == 0);
	dc_relay_clear(&r);
	dc_ctx_free(c);
	free(env);
}

/* a forward whose next is a registered recipient is held before any rule (the rules here
 * refuse everything); pickup answers the client that registered it */
static void mediator_first(void)
{
	struct gw_med *med = NULL;
	enum dc_queue_med_change ch;
	struct dc_queue *MQ = NULL; /* a queue of its own: the suite's is small and full by now */
	char path[128];
	snprintf(path, sizeof path, "%s/med.db", qdir);
	CU_ASSERT_EQUAL_FATAL(dc_queue_open_sqlite(path, NULL, &MQ, NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_queue_med_grant(MQ, "did:test:alice", 1, NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_queue_med_recipient(MQ, "did:test:alice", "did:test:carol", "did:test:carol", true, 1, &ch, NULL),
	                      DC_OK);
	CU_ASSERT_EQUAL_FATAL(gw_med_new(MQ, "did:test:gw", "open", 3600000, &med, NULL), DC_OK);
	CU_ASSERT(gw_med_holds(med, "did:test:carol"));
	CU_ASSERT(!gw_med_holds(med, "did:test:bob"));
	const char *msg = "{\"id\":\"m1\",\"type\":\"https://didcomm.org/basicmessage/2.0/message\",\"from\":\"did:test:alice\","
	                  "\"to\":[\"did:test:carol\"],\"body\":{\"content\":\"hi\"}}";
	char *env = pack_from_alice("did:test:carol", msg, DC_PACK_AUTHCRYPT, false);
	struct rule_set *rs = NULL;
	const char *rules = "default -> reject e.p.msg.not-relayed\n";
	CU_ASSERT_EQUAL_FATAL(rule_set_parse_text("t.rules", rules, strlen(rules), &rs, NULL, NULL), DC_OK);
	struct dc_ctx *c = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_ctx_new(I.res, I.ks[GW], &c), DC_OK);
	struct gw_ingest_cfg g = { .dc = c, .q = MQ, .rules = rs, .max_bytes = 1 << 20, .med = med,
		                   .proto = { .our_did = "did:test:gw", .max_receive_bytes = 1 << 20 } };
	struct gw_ingest_in m = { .transport = "http", .source = "127.0.0.1", .media_type = MT, .data = (const uint8_t *)env,
		                  .len = strlen(env), .live = true };
	struct gw_ingest_result res;
	gw_ingest(&g, &m, &res);
	if (res.outcome != GW_ACCEPTED)
		fprintf(stderr, "\nmediator_first: %s\n", res.why);
	CU_ASSERT_EQUAL(res.outcome, GW_ACCEPTED);
	CU_ASSERT_EQUAL(res.n_queued, 1);
	CU_ASSERT(res.held_for && strcmp(res.held_for, "did:test:carol") == 0);
	gw_ingest_result_clear(&res);
	/* without the mediator, the rules refuse the same forward */
	g.med = NULL;
	gw_ingest(&g, &m, &res);
	CU_ASSERT_EQUAL(res.outcome, GW_REFUSED);
	gw_ingest_result_clear(&res);
	free(env);
	/* alice asks for her status on the return route: one message waits */
	g.med = med;
	const char *sr = "{\"id\":\"s1\",\"type\":\"https://didcomm.org/messagepickup/3.0/status-request\",\"from\":\"did:test:alice\","
	                 "\"to\":[\"did:test:gw\"],\"return_route\":\"all\",\"body\":{}}";
	env = pack_from_alice("did:test:gw", sr, DC_PACK_AUTHCRYPT, true);
	m.data = (const uint8_t *)env;
	m.len = strlen(env);
	gw_ingest(&g, &m, &res);
	CU_ASSERT_EQUAL(res.outcome, GW_ACCEPTED);
	CU_ASSERT(res.reply && strstr(res.reply, "messagepickup/3.0/status") && strstr(res.reply, "\"message_count\":1") &&
	          strstr(res.reply, "\"thid\":\"s1\""));
	gw_ingest_result_clear(&res);
	/* the same, anonymous: refused, nothing told */
	free(env);
	env = pack_from_alice("did:test:gw", sr, DC_PACK_ANONCRYPT, true);
	m.data = (const uint8_t *)env;
	m.len = strlen(env);
	gw_ingest(&g, &m, &res);
	CU_ASSERT_EQUAL(res.outcome, GW_REFUSED);
	CU_ASSERT_STRING_EQUAL(res.problem_code, "e.p.trust.authcrypt-required");
	CU_ASSERT_PTR_NULL(res.reply);
	gw_ingest_result_clear(&res);
	free(env);
	uint64_t removed = 0;
	CU_ASSERT_EQUAL(dc_queue_purge_dest(MQ, "hold did:test:carol", false, &removed, NULL), DC_OK);
	CU_ASSERT_EQUAL(removed, 1);
	dc_ctx_free(c);
	rule_set_free(rs);
	gw_med_free(med);
	dc_queue_close(MQ);
}

void init_ingest_tests(void)
{
	CU_pSuite s = CU_add_suite("ingest", ingest_init, ingest_clear);
	TU_ADD(s, forward_resolved);
	TU_ADD(s, rules_decide);
	TU_ADD(s, our_protocols);
	TU_ADD(s, two_step_commit);
	TU_ADD(s, keys_and_shared);
	TU_ADD(s, refusals);
	TU_ADD(s, forward_bytes_kept);
	TU_ADD(s, mediator_first);
}
