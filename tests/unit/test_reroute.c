/* Re-routing (queue reroute): the rule inputs kept with each item at ingest, the rules deciding
 * again from them (gw_ingest_replan), the store's atomic change (dc_queue_redest: only a waiting
 * item that still has the destination it was read with), and the store's own dead letters told
 * to dc_queue_opts.dead_fn. */
#include "testutil.h"

#include "ingest.h"
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { GW = 0, AL = 1, CA = 2 };
static struct world W;
static char rdir[64];
static const enum dc_crv x25519[] = { DC_CRV_X25519 };

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int reroute_init(void)
{
	snprintf(rdir, sizeof rdir, "/tmp/dcrr.XXXXXX");
	if (!mkdtemp(rdir) || dc_resolver_new(16, &W.res))
		return 1;
	const char *via_gw[] = { "did:test:gw#key-x25519-1" };
	return tu_make_party(W.res, &W.ks[GW], "did:test:gw", x25519, 1, 1, true, "http://127.0.0.1:9/gw", NULL, 0) ||
	       tu_make_party(W.res, &W.ks[AL], "did:test:alice", x25519, 1, 1, true, NULL, NULL, 0) ||
	       tu_make_party(W.res, &W.ks[CA], "did:test:carol", x25519, 1, 1, false, "http://127.0.0.1:9/carol", via_gw, 1);
}

static int reroute_clear(void)
{
	for (int i = 0; i < 6; i++)
		dc_keystore_free(W.ks[i]);
	dc_resolver_free(W.res);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", rdir);
	return system(cmd) == 0 ? 0 : 1;
}

static struct dc_queue *open_q(const char *name, const struct dc_queue_opts *o)
{
	char path[128];
	snprintf(path, sizeof path, "%s/%s", rdir, name);
	struct dc_queue *q = NULL;
	struct dc_errinfo ei = { 0 };
	if (dc_queue_open_sqlite(path, o, &q, &ei))
		fprintf(stderr, "\nqueue open: %s\n", ei.msg);
	return q;
}

/* a forward to the gateway for carol, from alice (anoncrypt) */
static char *for_carol(void)
{
	struct dc_ctx *c = NULL;
	struct dc_pack_result r = { 0 };
	const char *t[] = { "did:test:carol" };
	struct dc_pack_opts o = { .mode = DC_PACK_ANONCRYPT, .to = t, .n_to = 1 };
	const char *msg = "{\"id\":\"rr-1\",\"type\":\"https://example.org/t/1.0/x\",\"to\":[\"did:test:carol\"],\"body\":{}}";
	CU_ASSERT_EQUAL_FATAL(dc_ctx_new(W.res, W.ks[AL], &c), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_pack(c, msg, strlen(msg), &o, &r, NULL), DC_OK);
	char *env = r.items[0].msg;
	r.items[0].msg = NULL;
	dc_pack_result_clear(&r);
	dc_ctx_free(c);
	return env;
}

struct cfg {
	struct rule_set *rs;
	struct dc_ctx *c;
	struct gw_ingest_cfg g;
};

static void cfg_init(struct cfg *k, struct dc_queue *q, const char *rules)
{
	memset(k, 0, sizeof *k);
	CU_ASSERT_EQUAL_FATAL(rule_set_parse_text("rr.rules", rules, strlen(rules), &k->rs, NULL, NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_ctx_new(W.res, W.ks[GW], &k->c), DC_OK);
	k->g = (struct gw_ingest_cfg){ .dc = k->c, .q = q, .rules = k->rs, .max_bytes = 1 << 20,
		                       .proto = { .our_did = "did:test:gw", .max_receive_bytes = 1 << 20 } };
}

static void cfg_clear(struct cfg *k)
{
	dc_ctx_free(k->c);
	rule_set_free(k->rs);
}

/* the one queued item (its id) after ingesting env under rules */
static int64_t ingest_one(struct dc_queue *q, const char *rules, const char *env)
{
	struct cfg k;
	cfg_init(&k, q, rules);
	struct gw_ingest_result res;
	struct gw_ingest_in m = { .transport = "http", .source = "127.0.0.1", .tag = "t1", .data = (const uint8_t *)env,
		                  .len = strlen(env) };
	gw_ingest(&k.g, &m, &res);
	CU_ASSERT_EQUAL(res.outcome, GW_ACCEPTED);
	CU_ASSERT_EQUAL(res.n_queued, 1);
	gw_ingest_result_clear(&res);
	cfg_clear(&k);
	struct dc_queue_item *items = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL_FATAL(dc_queue_list(q, false, 0, 10, &items, &n, NULL), DC_OK);
	CU_ASSERT_FATAL(n >= 1);
	int64_t id = items[n - 1].id;
	dc_queue_items_free(items, n);
	return id;
}

static void test_replan_redest(void)
{
	struct dc_queue *q = open_q("a.db", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	char *env = for_carol();
	int64_t id = ingest_one(q, "to did:test:carol -> http http://127.0.0.1:1/old else hold 1h\ndefault -> reject\n", env);
	struct dc_queue_item it;
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, id, &it, NULL), DC_OK);
	CU_ASSERT_STRING_EQUAL(it.dest, "http http://127.0.0.1:1/old");
	CU_ASSERT_PTR_NOT_NULL_FATAL(it.facts);
	CU_ASSERT_PTR_NOT_NULL(strstr(it.facts, "\"part\":0,"));
	CU_ASSERT_PTR_NOT_NULL(strstr(it.facts, "\"to\":\"did:test:carol\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(it.facts, "\"relay\":\"forward\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(it.facts, "\"tag\":\"t1\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(it.facts, "\"parts\":1"));

	struct cfg k;
	struct gw_replan rp;
	struct dc_errinfo ei = { 0 };
	/* the new rules: another target and another else; the tag is matched from the facts */
	cfg_init(&k, q, "tag t1 to did:test:carol -> http http://127.0.0.1:2/new else hold 2h\ndefault -> reject\n");
	CU_ASSERT_EQUAL_FATAL(gw_ingest_replan(&k.g, it.facts, it.data, it.len, it.expires_ms, &rp, &ei), DC_OK);
	CU_ASSERT_STRING_EQUAL(rp.dest, "http http://127.0.0.1:2/new");
	CU_ASSERT_PTR_NULL(rp.data);
	CU_ASSERT_EQUAL(rp.n_els, 1);
	CU_ASSERT_STRING_EQUAL(rp.els[0].dest, "hold did:test:carol");
	CU_ASSERT_EQUAL(rp.els[0].hold_ms, 2 * 3600 * 1000);
	CU_ASSERT_STRING_EQUAL(rp.rule, "rr.rules:1");
	int64_t t = now_ms();
	CU_ASSERT(rp.next_ms >= t - 5000 && rp.next_ms <= t + 5000);
	struct dc_queue_redest r = { .from = it.dest, .dest = rp.dest, .now_ms = t, .next_ms = rp.next_ms,
		                     .why = "rerouted", .els = rp.els, .n_els = rp.n_els };
	CU_ASSERT_EQUAL(dc_queue_redest(q, id, &r, &ei), DC_OK);
	/* again with the old destination: changed meanwhile */
	CU_ASSERT_EQUAL(dc_queue_redest(q, id, &r, &ei), DC_ERR_AGAIN);
	CU_ASSERT_PTR_NOT_NULL(strstr(ei.msg, "another destination"));
	gw_replan_clear(&rp);
	cfg_clear(&k);
	dc_queue_item_clear(&it);
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, id, &it, NULL), DC_OK);
	CU_ASSERT_STRING_EQUAL(it.dest, "http http://127.0.0.1:2/new");
	CU_ASSERT_EQUAL(it.attempts, 0);
	CU_ASSERT_STRING_EQUAL(it.last_error, "rerouted");

	/* a hold: the item waits until the hold runs out */
	cfg_init(&k, q, "to did:test:carol -> hold 1h\n");
	CU_ASSERT_EQUAL_FATAL(gw_ingest_replan(&k.g, it.facts, it.data, it.len, it.expires_ms, &rp, &ei), DC_OK);
	CU_ASSERT_STRING_EQUAL(rp.dest, "hold did:test:carol");
	CU_ASSERT(rp.next_ms >= now_ms() + 3500 * 1000);
	CU_ASSERT_EQUAL(rp.n_els, 0);
	gw_replan_clear(&rp);
	cfg_clear(&k);
	/* what is not re-decided, and says why */
	static const struct {
		const char *rules;
		dc_err rc;
		const char *why;
	} no[] = {
		{ "to did:test:carol -> reject\n", DC_ERR_DENIED, "rejects it" },
		{ "to did:test:other -> http http://127.0.0.1:2/x\n", DC_ERR_DENIED, "no rule matches" },
		{ "tag t2 -> http http://127.0.0.1:2/x\ndefault -> reject\n", DC_ERR_DENIED, "rejects it" },
		{ "to did:test:carol -> http http://127.0.0.1:2/a, http http://127.0.0.1:2/b\n", DC_ERR_UNSUPPORTED,
		  "makes 2 deliveries of its message where it had 1" },
	};
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
		cfg_init(&k, q, no[i].rules);
		memset(&ei, 0, sizeof ei);
		CU_ASSERT_EQUAL(gw_ingest_replan(&k.g, it.facts, it.data, it.len, it.expires_ms, &rp, &ei), no[i].rc);
		CU_ASSERT_PTR_NOT_NULL(strstr(ei.msg, no[i].why));
		CU_ASSERT_PTR_NULL(rp.dest);
		cfg_clear(&k);
	}
	cfg_init(&k, q, "default -> http http://127.0.0.1:2/x\n");
	CU_ASSERT_EQUAL(gw_ingest_replan(&k.g, NULL, it.data, it.len, 0, &rp, &ei), DC_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(gw_ingest_replan(&k.g, "{\"part\":3,\"parts\":1}", it.data, it.len, 0, &rp, &ei), DC_ERR_MALFORMED);
	CU_ASSERT_EQUAL(gw_ingest_replan(&k.g, "not json", it.data, it.len, 0, &rp, &ei), DC_ERR_MALFORMED);
	/* an envelope that is not the one that arrived (resolve wrapped it): left */
	CU_ASSERT_EQUAL(gw_ingest_replan(&k.g, it.facts, it.data, it.len - 1, 0, &rp, &ei), DC_ERR_UNSUPPORTED);
	CU_ASSERT_PTR_NOT_NULL(strstr(ei.msg, "wrapped"));
	cfg_clear(&k);

	/* in flight: leased by a claim, left alone */
	struct dc_queue_item *cl = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL_FATAL(dc_queue_claim(q, now_ms(), 10, 10, 60000, &cl, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL(n, 1);
	dc_queue_items_free(cl, n);
	struct dc_queue_redest r2 = { .from = "http http://127.0.0.1:2/new", .dest = "http http://127.0.0.1:3/x",
		                      .now_ms = now_ms(), .next_ms = now_ms() };
	CU_ASSERT_EQUAL(dc_queue_redest(q, id, &r2, &ei), DC_ERR_AGAIN);
	CU_ASSERT_PTR_NOT_NULL(strstr(ei.msg, "in flight"));
	/* gone (delivered): not found */
	CU_ASSERT_EQUAL(dc_queue_ack(q, id, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_redest(q, id, &r2, &ei), DC_ERR_NOT_FOUND);
	dc_queue_item_clear(&it);
	free(env);
	dc_queue_close(q);
}

/* a new envelope for an item whose old one is a file: the row keeps the new one, the file goes */
static void test_redest_file(void)
{
	char blobs[160];
	snprintf(blobs, sizeof blobs, "%s/b.db-blobs", rdir);
	struct dc_queue_opts o = { .blob_min_bytes = 16 };
	struct dc_queue *q = open_q("b.db", &o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	uint8_t big[100];
	memset(big, 'x', sizeof big);
	struct dc_queue_new_item ni = { .data = big, .len = sizeof big, .media_type = "application/didcomm-encrypted+json",
		                        .dest = "http http://127.0.0.1:1/a", .facts = "{\"part\":0}" };
	int64_t id = 0;
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, &ni, 1, &id, NULL), DC_OK);
	CU_ASSERT_EQUAL(tu_dir_entries(blobs), 1);
	struct dc_queue_else els[] = { { .dest = "hold did:test:x", .hold_ms = 1000 } };
	struct dc_queue_redest r = { .from = "http http://127.0.0.1:1/a", .dest = "http http://127.0.0.1:1/b",
		                     .data = (const uint8_t *)"wrapped!", .len = 8, .now_ms = now_ms(), .next_ms = now_ms(),
		                     .els = els, .n_els = 1 };
	CU_ASSERT_EQUAL(dc_queue_redest(q, id, &r, NULL), DC_OK);
	CU_ASSERT_EQUAL(tu_dir_entries(blobs), 0);
	struct dc_queue_item it;
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, id, &it, NULL), DC_OK);
	CU_ASSERT_EQUAL(it.len, 8);
	CU_ASSERT(it.data && memcmp(it.data, "wrapped!", 8) == 0);
	CU_ASSERT_STRING_EQUAL(it.facts, "{\"part\":0}");
	dc_queue_item_clear(&it);
	/* it fails for good: the new else takes it, with the new envelope */
	CU_ASSERT_EQUAL(dc_queue_fail(q, id, now_ms(), "gone", NULL), DC_OK);
	struct dc_queue_item *items = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL_FATAL(dc_queue_list(q, false, 0, 10, &items, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_STRING_EQUAL(items[0].dest, "hold did:test:x");
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, items[0].id, &it, NULL), DC_OK);
	CU_ASSERT(it.len == 8 && memcmp(it.data, "wrapped!", 8) == 0);
	dc_queue_item_clear(&it);
	dc_queue_items_free(items, n);
	dc_queue_close(q);
}

struct told {
	int n;
	int64_t id;
	char dest[80], reason[200];
};

static void on_dead(void *arg, int64_t id, const char *msg_id, const char *dest, const char *reason)
{
	struct told *t = arg;
	(void)msg_id;
	t->n++;
	t->id = id;
	snprintf(t->dest, sizeof t->dest, "%s", dest ? dest : "");
	snprintf(t->reason, sizeof t->reason, "%s", reason ? reason : "");
}

/* the store's own dead letters are told; dc_queue_fail's are its caller's */
static void test_dead_told(void)
{
	struct told t = { 0 };
	struct dc_queue_opts o = { .dead_fn = on_dead, .dead_arg = &t, .max_age_ms = 1, .retry_base_ms = 1 };
	struct dc_queue *q = open_q("c.db", &o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	struct dc_queue_new_item ni = { .data = (const uint8_t *)"x", .len = 1, .media_type = "m", .dest = "http http://h/a" };
	int64_t id = 0;
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, &ni, 1, &id, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_fail(q, id, now_ms(), "refused", NULL), DC_OK);
	CU_ASSERT_EQUAL(t.n, 0);
	/* too old at a retry */
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, &ni, 1, &id, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_retry_later(q, id, now_ms() + 10, "connection refused", NULL), DC_OK);
	CU_ASSERT_EQUAL(t.n, 1);
	CU_ASSERT_EQUAL(t.id, id);
	CU_ASSERT_STRING_EQUAL(t.dest, "http http://h/a");
	CU_ASSERT_PTR_NOT_NULL(strstr(t.reason, "connection refused"));
	/* expired, found by a claim */
	ni.expires_ms = now_ms() - 1000;
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, &ni, 1, &id, NULL), DC_OK);
	struct dc_queue_item *items = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL(dc_queue_claim(q, now_ms(), 10, 10, 1000, &items, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL(n, 0);
	dc_queue_items_free(items, n);
	CU_ASSERT_EQUAL(t.n, 2);
	CU_ASSERT_EQUAL(t.id, id);
	CU_ASSERT_PTR_NOT_NULL(strstr(t.reason, "expired"));
	dc_queue_close(q);
}

void init_reroute_tests(void)
{
	CU_pSuite s = CU_add_suite("reroute", reroute_init, reroute_clear);
	TU_ADD(s, test_replan_redest);
	TU_ADD(s, test_redest_file);
	TU_ADD(s, test_dead_told);
}
