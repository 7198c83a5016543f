/* Round trips through dc_pack / dc_unpack with freshly generated keys: every mode x curve x
 * enc, many recipients, nested forms, and forward wrapping through two mediators. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct world W;
static const enum dc_crv ka_curves[] = { DC_CRV_X25519, DC_CRV_P256, DC_CRV_P384, DC_CRV_P521 };

static int world_init(void)
{
	if (dc_resolver_new(64, &W.res))
		return 1;
	const char *r2[] = { "did:test:m1#key-x25519-1", "did:test:m2#key-x25519-1" };
	const char *r3[] = { "did:test:m2#key-x25519-1" };
	if (tu_make_party(W.res, &W.ks[ALICE], "did:test:alice", ka_curves, 4, 1, true, NULL, NULL, 0))
		return 1;
	if (tu_make_party(W.res, &W.ks[BOB], "did:test:bob", ka_curves, 4, 3, true, NULL, NULL, 0))
		return 1;
	if (tu_make_party(W.res, &W.ks[M1], "did:test:m1", ka_curves, 2, 1, false, "http://m1.example/didcomm", NULL, 0))
		return 1;
	if (tu_make_party(W.res, &W.ks[M2], "did:test:m2", ka_curves, 2, 1, false, "http://m2.example/didcomm", NULL, 0))
		return 1;
	/* bob2: routed through m1 then m2 by routingKeys */
	if (tu_make_party(W.res, &W.ks[BOB2], "did:test:bob2", ka_curves, 1, 1, false, "http://m1.example/didcomm", r2, 2))
		return 1;
	/* carol: a mediator DID as uri (its keys implicitly first), then m2 */
	if (tu_make_party(W.res, &W.ks[CAROL], "did:test:carol", ka_curves, 1, 1, false, "did:test:m1", r3, 1))
		return 1;
	return 0;
}

static int world_clear(void)
{
	for (size_t i = 0; i < 6; i++)
		dc_keystore_free(W.ks[i]);
	dc_resolver_free(W.res);
	return 0;
}

static const char *MSG = "{\"id\":\"1234567890\",\"type\":\"https://example.org/test/1.0/hello\","
                         "\"from\":\"did:test:alice\",\"to\":[\"did:test:bob\",\"did:test:bob2\",\"did:test:carol\"],"
                         "\"created_time\":1516269022,\"expires_time\":4102444800,"
                         "\"body\":{\"n\":12345678901234567890,\"s\":\"\\u00e9t\\u00e9\"}}";

static dc_err pack_one(int who, const struct dc_pack_opts *o, struct dc_pack_result *res, struct dc_errinfo *ei)
{
	struct dc_ctx *c = NULL;
	if (dc_ctx_new(W.res, W.ks[who], &c))
		return DC_ERR_NOMEM;
	dc_err rc = dc_pack(c, MSG, strlen(MSG), o, res, ei);
	dc_ctx_free(c);
	return rc;
}

static dc_err unpack_as(int who, const char *env, bool unwrap, char **msg, struct dc_unpack_meta **m,
                        struct dc_errinfo *ei)
{
	struct dc_ctx *c = NULL;
	if (dc_ctx_new(W.res, W.ks[who], &c))
		return DC_ERR_NOMEM;
	struct dc_unpack_opts o = { .unwrap_forwards = unwrap };
	dc_err rc = dc_unpack(c, env, strlen(env), &o, msg, m, ei);
	dc_ctx_free(c);
	return rc;
}

/* pack alice -> bob with o, unpack as bob, check plaintext bytes and metadata */
static void roundtrip(const struct dc_pack_opts *o, const char *label, size_t want_kids)
{
	struct dc_pack_result res = { 0 };
	struct dc_errinfo ei = { 0 };
	dc_err rc = pack_one(ALICE, o, &res, &ei);
	if (rc)
		fprintf(stderr, "\n%s: pack: %s\n", label, ei.msg);
	CU_ASSERT_EQUAL_FATAL(rc, DC_OK);
	CU_ASSERT_EQUAL_FATAL(res.n, 1);
	char *msg = NULL;
	struct dc_unpack_meta *m = NULL;
	rc = unpack_as(BOB, res.items[0].msg, true, &msg, &m, &ei);
	if (rc)
		fprintf(stderr, "\n%s: unpack: %s\n", label, ei.msg);
	CU_ASSERT_EQUAL(rc, DC_OK);
	if (rc == DC_OK) {
		CU_ASSERT_STRING_EQUAL(msg, MSG); /* byte for byte: the big number survives */
		bool enc = o->mode == DC_PACK_ANONCRYPT || o->mode == DC_PACK_AUTHCRYPT;
		CU_ASSERT_EQUAL(m->encrypted, enc);
		CU_ASSERT_EQUAL(m->authenticated, o->mode == DC_PACK_AUTHCRYPT || o->sign_from != NULL);
		CU_ASSERT_EQUAL(m->non_repudiation, o->sign_from != NULL);
		CU_ASSERT_EQUAL(m->anonymous_sender, o->mode == DC_PACK_ANONCRYPT || o->protect_sender);
		CU_ASSERT_FALSE(m->expired);
		if (o->mode == DC_PACK_AUTHCRYPT)
			CU_ASSERT(m->encrypted_from_kid && strncmp(m->encrypted_from_kid, "did:test:alice#", 15) == 0);
		if (o->sign_from)
			CU_ASSERT(m->sign_from && strcmp(m->sign_from, o->sign_from) == 0);
		if (want_kids)
			CU_ASSERT_EQUAL(m->n_encrypted_to_kids, want_kids);
	}
	free(msg);
	dc_unpack_meta_free(m);
	dc_pack_result_clear(&res);
}

static const char *bob_to[] = { "did:test:bob" };

static void anoncrypt_all(void)
{
	enum dc_enc encs[] = { DC_ENC_A256CBC_HS512, DC_ENC_A256GCM, DC_ENC_XC20P };
	for (size_t ci = 0; ci < 4; ci++)
		for (size_t ei = 0; ei < 3; ei++) {
			struct dc_pack_opts o = { .mode = DC_PACK_ANONCRYPT, .to = bob_to, .n_to = 1, .enc = encs[ei],
			                          .curve = ka_curves[ci], .no_forward = true };
			char label[64];
			snprintf(label, sizeof label, "anoncrypt %s %d", dc_crv_name(ka_curves[ci]), (int)encs[ei]);
			roundtrip(&o, label, 3); /* bob has three keys per curve: all are recipients */
		}
}

static void authcrypt_all(void)
{
	for (size_t ci = 0; ci < 4; ci++) {
		struct dc_pack_opts o = { .mode = DC_PACK_AUTHCRYPT, .to = bob_to, .n_to = 1, .curve = ka_curves[ci] };
		roundtrip(&o, dc_crv_name(ka_curves[ci]), 3);
		o.protect_sender = true;
		roundtrip(&o, "protect sender", 3);
		o.protect_sender = false;
		o.sign_from = "did:test:alice#sig-ed25519";
		roundtrip(&o, "authcrypt(sign)", 3);
	}
}

static void signed_all(void)
{
	const char *signers[] = { "did:test:alice#sig-ed25519", "did:test:alice#sig-p256", "did:test:alice#sig-k256" };
	for (size_t i = 0; i < 3; i++) {
		struct dc_pack_opts o = { .mode = DC_PACK_SIGNED, .sign_from = signers[i] };
		roundtrip(&o, signers[i], 0);
		struct dc_pack_opts a = { .mode = DC_PACK_ANONCRYPT, .to = bob_to, .n_to = 1, .sign_from = signers[i] };
		roundtrip(&a, "anoncrypt(sign)", 3);
	}
	struct dc_pack_opts p = { .mode = DC_PACK_PLAINTEXT };
	roundtrip(&p, "plaintext", 0);
}

static void chosen_kids(void)
{
	const char *to[] = { "did:test:bob#key-p384-2", "did:test:bob#key-p384-1" };
	struct dc_pack_opts o = { .mode = DC_PACK_AUTHCRYPT, .to = to, .n_to = 2 };
	roundtrip(&o, "two chosen kids", 2);
	/* kids of two curves in one JWE: refused */
	const char *mixed[] = { "did:test:bob#key-p384-2", "did:test:bob#key-x25519-1" };
	struct dc_pack_opts x = { .mode = DC_PACK_ANONCRYPT, .to = mixed, .n_to = 2 };
	struct dc_pack_result res = { 0 };
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_NOT_EQUAL(pack_one(ALICE, &x, &res, &ei), DC_OK);
	CU_ASSERT(ei.msg[0] != 0);
}

static void refusals(void)
{
	struct dc_pack_result res = { 0 };
	struct dc_errinfo ei = { 0 };
	/* authcrypt with an enc other than A256CBC-HS512 */
	struct dc_pack_opts o = { .mode = DC_PACK_AUTHCRYPT, .to = bob_to, .n_to = 1, .enc = DC_ENC_A256GCM };
	CU_ASSERT_EQUAL(pack_one(ALICE, &o, &res, &ei), DC_ERR_UNSUPPORTED);
	/* a sender that is not the message's from */
	struct dc_pack_opts f = { .mode = DC_PACK_AUTHCRYPT, .to = bob_to, .n_to = 1, .from = "did:test:bob" };
	CU_ASSERT_EQUAL(pack_one(BOB, &f, &res, &ei), DC_ERR_DENIED);
	/* a recipient not in the to header */
	const char *m1[] = { "did:test:m1" };
	struct dc_pack_opts t = { .mode = DC_PACK_ANONCRYPT, .to = m1, .n_to = 1 };
	CU_ASSERT_EQUAL(pack_one(ALICE, &t, &res, &ei), DC_ERR_DENIED);
	/* no secret for the sender */
	struct dc_pack_opts s = { .mode = DC_PACK_AUTHCRYPT, .to = bob_to, .n_to = 1 };
	CU_ASSERT_EQUAL(pack_one(M1, &s, &res, &ei), DC_ERR_NOT_FOUND);
	/* bob reading a message for bob that alice authcrypted, but with mallory's skid is covered
	 * in the hostile suite */
}

static void many_dids(void)
{
	const char *to[] = { "did:test:bob", "did:test:bob2" };
	struct dc_pack_opts o = { .mode = DC_PACK_AUTHCRYPT, .to = to, .n_to = 2, .no_forward = true };
	struct dc_pack_result res = { 0 };
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL_FATAL(pack_one(ALICE, &o, &res, &ei), DC_OK);
	CU_ASSERT_EQUAL_FATAL(res.n, 2); /* one envelope per DID, as the spec says */
	CU_ASSERT_STRING_EQUAL(res.items[0].to, "did:test:bob");
	CU_ASSERT_STRING_EQUAL(res.items[1].to, "did:test:bob2");
	char *msg = NULL;
	struct dc_unpack_meta *m = NULL;
	CU_ASSERT_EQUAL(unpack_as(BOB2, res.items[1].msg, true, &msg, &m, &ei), DC_OK);
	free(msg);
	dc_unpack_meta_free(m);
	msg = NULL;
	m = NULL;
	/* bob cannot read bob2's envelope */
	CU_ASSERT_EQUAL(unpack_as(BOB, res.items[1].msg, true, &msg, &m, &ei), DC_ERR_NOT_FOUND);
	dc_pack_result_clear(&res);
}

/* Hop by hop: the mediator opens its forward, finds next, hands the attachment on. */
static char *hop(int who, const char *env, const char *want_next)
{
	char *msg = NULL;
	struct dc_unpack_meta *m = NULL;
	struct dc_errinfo ei = { 0 };
	dc_err rc = unpack_as(who, env, true, &msg, &m, &ei);
	if (rc)
		fprintf(stderr, "\nhop %d: %s\n", who, ei.msg);
	CU_ASSERT_EQUAL_FATAL(rc, DC_OK);
	CU_ASSERT(m->anonymous_sender);
	cJSON *j = cJSON_Parse(msg);
	CU_ASSERT_STRING_EQUAL(dc__json_str(j, "type"), DC_TYPE_FORWARD);
	const char *next = dc__json_str(dc__json_obj(j, "body"), "next");
	CU_ASSERT_PTR_NOT_NULL_FATAL(next);
	CU_ASSERT_STRING_EQUAL(next, want_next);
	const cJSON *exp = cJSON_GetObjectItemCaseSensitive(j, "expires_time");
	CU_ASSERT(cJSON_IsNumber(exp) && exp->valuedouble == 4102444800.0);
	const cJSON *att = cJSON_GetArrayItem(dc__json_arr(j, "attachments"), 0);
	char *inner = cJSON_PrintUnformatted(dc__json_obj(dc__json_obj(att, "data"), "json"));
	CU_ASSERT_PTR_NOT_NULL(inner);
	cJSON_Delete(j);
	free(msg);
	dc_unpack_meta_free(m);
	return inner;
}

static void forward_two_mediators(void)
{
	const char *to[] = { "did:test:bob2" };
	struct dc_pack_opts o = { .mode = DC_PACK_AUTHCRYPT, .to = to, .n_to = 1 };
	struct dc_pack_result res = { 0 };
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL_FATAL(pack_one(ALICE, &o, &res, &ei), DC_OK);
	CU_ASSERT_STRING_EQUAL(res.items[0].endpoint, "http://m1.example/didcomm");
	char *at_m2 = hop(M1, res.items[0].msg, "did:test:m2#key-x25519-1");
	char *at_bob = hop(M2, at_m2, "did:test:bob2");
	char *msg = NULL;
	struct dc_unpack_meta *m = NULL;
	CU_ASSERT_EQUAL(unpack_as(BOB2, at_bob, true, &msg, &m, &ei), DC_OK);
	CU_ASSERT(msg && strcmp(msg, MSG) == 0);
	CU_ASSERT(m && m->authenticated && !m->re_wrapped_in_forward);
	free(msg);
	dc_unpack_meta_free(m);
	/* mediator 1 cannot read past its own layer; bob2 alone cannot open the outer layer */
	msg = NULL;
	m = NULL;
	CU_ASSERT_EQUAL(unpack_as(BOB2, res.items[0].msg, true, &msg, &m, &ei), DC_ERR_NOT_FOUND);
	free(at_m2);
	free(at_bob);
	dc_pack_result_clear(&res);
}

static void forward_mediator_did(void)
{
	const char *to[] = { "did:test:carol" };
	struct dc_pack_opts o = { .mode = DC_PACK_ANONCRYPT, .to = to, .n_to = 1 };
	struct dc_pack_result res = { 0 };
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL_FATAL(pack_one(ALICE, &o, &res, &ei), DC_OK);
	/* the mediator DID's own endpoint, its keys first: m1 (both X25519 and... its first curve) */
	CU_ASSERT_STRING_EQUAL(res.items[0].endpoint, "http://m1.example/didcomm");
	char *at_m2 = hop(M1, res.items[0].msg, "did:test:m2#key-x25519-1");
	char *at_carol = hop(M2, at_m2, "did:test:carol");
	char *msg = NULL;
	struct dc_unpack_meta *m = NULL;
	CU_ASSERT_EQUAL(unpack_as(CAROL, at_carol, true, &msg, &m, &ei), DC_OK);
	CU_ASSERT(msg && strcmp(msg, MSG) == 0);
	free(msg);
	dc_unpack_meta_free(m);
	free(at_m2);
	free(at_carol);
	dc_pack_result_clear(&res);
}

static void relay_inspect(int who, const char *env, size_t len, struct dc_relay *r, dc_err want)
{
	struct dc_ctx *c = NULL;
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL_FATAL(dc_ctx_new(W.res, W.ks[who], &c), DC_OK);
	dc_err rc = dc_relay_inspect(c, env, len, r, &ei);
	if (rc != want)
		fprintf(stderr, "\nrelay inspect as %d: %d %s\n", who, (int)rc, ei.msg);
	CU_ASSERT_EQUAL(rc, want);
	dc_ctx_free(c);
}

static char *relay_wrap_as(int who, const char *to, const char *self_kid, char *env, size_t *len, char **endpoint)
{
	struct dc_ctx *c = NULL;
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL_FATAL(dc_ctx_new(W.res, W.ks[who], &c), DC_OK);
	const char *skip[] = { self_kid };
	dc_err rc = dc_relay_wrap(c, to, 0, skip, 1, 4102444800, &env, len, endpoint, &ei);
	if (rc)
		fprintf(stderr, "\nrelay wrap: %s\n", ei.msg);
	CU_ASSERT_EQUAL(rc, DC_OK);
	dc_ctx_free(c);
	return env;
}

/* the gateway's view: hop by hop through dc_relay_inspect / dc_relay_wrap */
static void relay_hops(void)
{
	const char *to[] = { "did:test:bob2" };
	struct dc_pack_opts o = { .mode = DC_PACK_AUTHCRYPT, .to = to, .n_to = 1 };
	struct dc_pack_result res = { 0 };
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL_FATAL(pack_one(ALICE, &o, &res, &ei), DC_OK);
	struct dc_relay r1 = { 0 }, r2 = { 0 }, r3 = { 0 }, rx = { 0 };
	relay_inspect(M1, res.items[0].msg, res.items[0].len, &r1, DC_OK);
	CU_ASSERT_EQUAL_FATAL(r1.kind, DC_RELAY_FORWARD);
	CU_ASSERT_STRING_EQUAL(r1.next, "did:test:m2#key-x25519-1");
	CU_ASSERT_EQUAL(r1.expires_time, 4102444800);
	CU_ASSERT_EQUAL(r1.n_rcpt_kids, 1);
	CU_ASSERT_STRING_EQUAL(r1.media_type, "application/didcomm-encrypted+json");
	/* m2 takes no routing keys of its own: the payload goes on as it is, to m2's endpoint */
	char *ep = NULL, *env = r1.payload;
	size_t len = r1.payload_len;
	r1.payload = NULL;
	char *before = strdup(env);
	env = relay_wrap_as(M1, r1.next, "did:test:m1#key-x25519-1", env, &len, &ep);
	CU_ASSERT_STRING_EQUAL(ep, "http://m2.example/didcomm");
	CU_ASSERT_STRING_EQUAL(env, before);
	free(ep);
	relay_inspect(M2, env, len, &r2, DC_OK);
	CU_ASSERT_EQUAL_FATAL(r2.kind, DC_RELAY_FORWARD);
	CU_ASSERT_STRING_EQUAL(r2.next, "did:test:bob2");
	/* not for bob: he sees only the kids */
	relay_inspect(BOB, r2.payload, r2.payload_len, &rx, DC_OK);
	CU_ASSERT_EQUAL(rx.kind, DC_RELAY_NOT_FOR_US);
	CU_ASSERT(rx.n_rcpt_kids == 1 && strcmp(rx.rcpt_kids[0], "did:test:bob2#key-x25519-1") == 0);
	dc_relay_clear(&rx);
	/* for bob2: his message */
	relay_inspect(BOB2, r2.payload, r2.payload_len, &r3, DC_OK);
	CU_ASSERT_EQUAL(r3.kind, DC_RELAY_FOR_US);
	CU_ASSERT(r3.message && strcmp(r3.message, MSG) == 0);
	CU_ASSERT_STRING_EQUAL(r3.msg_id, "1234567890");
	dc_relay_clear(&r1);
	dc_relay_clear(&r2);
	dc_relay_clear(&r3);
	free(env);
	free(before);
	dc_pack_result_clear(&res);
}

static void relay_rewrap(void)
{
	/* m1 relays an envelope to carol, whose route is [m1 (as her service DID), m2]: m1 skips
	 * itself and wraps for m2, which then finds carol as next */
	const char *to[] = { "did:test:carol" };
	struct dc_pack_opts o = { .mode = DC_PACK_ANONCRYPT, .to = to, .n_to = 1, .no_forward = true };
	struct dc_pack_result res = { 0 };
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL_FATAL(pack_one(ALICE, &o, &res, &ei), DC_OK);
	char *ep = NULL, *env = res.items[0].msg;
	size_t len = res.items[0].len;
	res.items[0].msg = NULL;
	env = relay_wrap_as(M1, "did:test:carol", "did:test:m1#key-x25519-1", env, &len, &ep);
	CU_ASSERT_STRING_EQUAL(ep, "http://m1.example/didcomm");
	struct dc_relay r = { 0 };
	relay_inspect(M2, env, len, &r, DC_OK);
	CU_ASSERT_EQUAL_FATAL(r.kind, DC_RELAY_FORWARD);
	CU_ASSERT_STRING_EQUAL(r.next, "did:test:carol");
	dc_relay_clear(&r);
	free(env);
	free(ep);
	dc_pack_result_clear(&res);
	/* a plaintext forward is not relayed: anyone could have written it */
	const char *fwd = "{\"id\":\"f\",\"type\":\"https://didcomm.org/routing/2.0/forward\",\"body\":{\"next\":"
	                  "\"did:test:bob\"},\"attachments\":[{\"data\":{\"json\":{}}}]}";
	relay_inspect(M1, fwd, strlen(fwd), &r, DC_ERR_DENIED);
}

/* text with every occurrence of a replaced by b (malloc'd) */
static char *replace_all(const char *text, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), n = 0;
	for (const char *p = strstr(text, a); p; p = strstr(p + la, a))
		n++;
	char *out = malloc(strlen(text) + n * lb + 1), *o = out;
	if (!out)
		return NULL;
	for (const char *p = text;;) {
		const char *q = strstr(p, a);
		if (!q) {
			memcpy(o, p, strlen(p) + 1);
			break;
		}
		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		memcpy(o, b, lb);
		o += lb;
		p = q + la;
	}
	return out;
}

/* The envelope scanner (dc__jwe_scan) against the JSON parser (dc__json_parse +
 * dc__jwe_parse): a text it takes, it reads to the same JWE with the same verdict; a text
 * outside its shape it leaves alone (false), and dc_unpack still reads it through the
 * parser. */
static void check_scan(const char *text, bool want_scanned, dc_err want_rc, bool unpacks)
{
	size_t n = strlen(text);
	struct dc_jwe *a = NULL, *b = NULL;
	struct dc_errinfo ei = { 0 };
	dc_err rc_a = DC_ERR_INVAL, rc_b;
	bool scanned = dc__jwe_scan(text, n, 16, &a, &rc_a, &ei);
	CU_ASSERT_EQUAL(scanned, want_scanned);
	cJSON *j = NULL;
	rc_b = dc__json_parse(text, n, 64, &j, &ei);
	if (!rc_b)
		rc_b = dc__jwe_parse(j, 16, &b, &ei);
	cJSON_Delete(j);
	if (scanned) {
		CU_ASSERT_EQUAL(rc_a, want_rc);
		CU_ASSERT_EQUAL(rc_a, rc_b);
		CU_ASSERT_EQUAL(a != NULL, rc_a == DC_OK);
	}
	if (scanned && a && b) {
		CU_ASSERT_EQUAL(a->alg, b->alg);
		CU_ASSERT_EQUAL(a->enc, b->enc);
		CU_ASSERT_STRING_EQUAL(a->protected_b64, b->protected_b64);
		CU_ASSERT((a->skid == NULL) == (b->skid == NULL) && (!a->skid || strcmp(a->skid, b->skid) == 0));
		CU_ASSERT_EQUAL_FATAL(a->n_rcpts, b->n_rcpts);
		for (size_t i = 0; i < a->n_rcpts; i++) {
			CU_ASSERT_STRING_EQUAL(a->rcpts[i].kid, b->rcpts[i].kid);
			CU_ASSERT(a->rcpts[i].ek_len == b->rcpts[i].ek_len &&
			          memcmp(a->rcpts[i].ek, b->rcpts[i].ek, a->rcpts[i].ek_len) == 0);
		}
		CU_ASSERT(a->iv_len == b->iv_len && memcmp(a->iv, b->iv, a->iv_len) == 0);
		CU_ASSERT(a->tag_len == b->tag_len && memcmp(a->tag, b->tag, a->tag_len) == 0);
		CU_ASSERT(a->ct_len == b->ct_len && memcmp(a->ct, b->ct, a->ct_len) == 0);
		CU_ASSERT(a->epk->crv == b->epk->crv && a->epk->pub_len == b->epk->pub_len &&
		          memcmp(a->epk->pub, b->epk->pub, a->epk->pub_len) == 0);
	}
	dc__jwe_free(a);
	dc__jwe_free(b);
	char *msg = NULL;
	struct dc_unpack_meta *m = NULL;
	dc_err rc = unpack_as(BOB, text, true, &msg, &m, &ei);
	CU_ASSERT_EQUAL(rc == DC_OK, unpacks);
	if (rc == DC_OK)
		CU_ASSERT_STRING_EQUAL(msg, MSG);
	free(msg);
	dc_unpack_meta_free(m);
}

static void jwe_scanner(void)
{
	struct dc_pack_result res = { 0 };
	struct dc_errinfo ei = { 0 };
	/* one recipient key: the flattened form (one recipient) keeps the apv of the kids */
	const char *kids[][1] = { { "did:test:bob#key-x25519-2" }, { "did:test:bob#key-p256-1" } };
	for (size_t ci = 0; ci < 2; ci++) {
		struct dc_pack_opts o = { .mode = ci ? DC_PACK_AUTHCRYPT : DC_PACK_ANONCRYPT, .to = kids[ci], .n_to = 1,
			                  .no_forward = true };
		CU_ASSERT_EQUAL_FATAL(pack_one(ALICE, &o, &res, &ei), DC_OK);
		const char *env = res.items[0].msg;
		check_scan(env, true, DC_OK, true); /* as we write it */
		char *t;
		/* whitespace between the tokens (no kid, no base64url text holds ',', '":' or '{') */
		char *t1 = replace_all(env, ",", " ,\n\t"), *t2 = replace_all(t1, "\":", "\"\r: "),
		     *t3 = replace_all(t2, "{", " { ");
		size_t n4 = t3 ? strlen(t3) + 4 : 0;
		char *t4 = malloc(n4);
		CU_ASSERT_FATAL(t1 && t2 && t3 && t4);
		snprintf(t4, n4, " %s\n", t3);
		check_scan(t4, true, DC_OK, true);
		free(t1);
		free(t2);
		free(t3);
		free(t4);
		/* members in another order (the recipient's too) */
		cJSON *j = cJSON_Parse(env), *prot = cJSON_DetachItemFromObjectCaseSensitive(j, "protected");
		cJSON *r0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "recipients"), 0);
		cJSON *hdr = cJSON_DetachItemFromObjectCaseSensitive(r0, "header");
		cJSON_AddItemToObject(r0, "header", hdr);
		cJSON_AddItemToObject(j, "protected", prot);
		t = cJSON_PrintUnformatted(j);
		check_scan(t, true, DC_OK, true);
		free(t);
		/* the flattened form: the parser's */
		cJSON *rcpts = cJSON_DetachItemFromObjectCaseSensitive(j, "recipients");
		cJSON *r = cJSON_DetachItemFromArray(rcpts, 0);
		cJSON_AddItemToObject(j, "header", cJSON_DetachItemFromObjectCaseSensitive(r, "header"));
		cJSON_AddItemToObject(j, "encrypted_key", cJSON_DetachItemFromObjectCaseSensitive(r, "encrypted_key"));
		cJSON_Delete(r);
		cJSON_Delete(rcpts);
		t = cJSON_PrintUnformatted(j);
		check_scan(t, false, DC_OK, true);
		free(t);
		cJSON_Delete(j);
		/* an escaped character in a kid: the parser's, same message */
		t = replace_all(env, "did:test:bob#", "did:test:bob\\u0023");
		check_scan(t, false, DC_OK, true);
		free(t);
		/* another member, a duplicate, trailing bytes, a cut text: the parser's verdict */
		size_t n = strlen(env);
		char *x = malloc(n + 64);
		CU_ASSERT_FATAL(x != NULL);
		snprintf(x, n + 64, "%.*s,\"aad\":\"AA\"}", (int)(n - 1), env);
		check_scan(x, false, 0, false);
		snprintf(x, n + 64, "%.*s,\"iv\":\"AA\"}", (int)(n - 1), env);
		check_scan(x, false, 0, false);
		snprintf(x, n + 64, "%s x", env);
		check_scan(x, false, 0, false);
		snprintf(x, n + 64, "%.*s", (int)(n - 2), env);
		check_scan(x, false, 0, false);
		free(x);
		/* the shape, but an iv that is not base64url / a control character in a string */
		t = replace_all(env, "\"iv\":\"", "\"iv\":\"!");
		check_scan(t, true, DC_ERR_MALFORMED, false);
		free(t);
		t = replace_all(env, "\"iv\":\"", "\"iv\":\"\x01");
		check_scan(t, false, 0, false);
		free(t);
		dc_pack_result_clear(&res);
	}
}

/* The signed-message scanner (dc__jws_scan) against the JSON parser (dc__json_parse +
 * dc__jws_parse), as check_scan does for envelopes. */
static void check_jws_scan(const char *text, bool want_scanned, dc_err want_rc, bool unpacks)
{
	size_t n = strlen(text);
	struct dc_jws *a = NULL, *b = NULL;
	struct dc_errinfo ei = { 0 };
	dc_err rc_a = DC_ERR_INVAL, rc_b;
	bool scanned = dc__jws_scan(text, n, &a, &rc_a, &ei);
	CU_ASSERT_EQUAL(scanned, want_scanned);
	cJSON *j = NULL;
	rc_b = dc__json_parse(text, n, 64, &j, &ei);
	if (!rc_b)
		rc_b = dc__jws_parse(j, &b, &ei);
	cJSON_Delete(j);
	if (scanned) {
		CU_ASSERT_EQUAL(rc_a, want_rc);
		CU_ASSERT_EQUAL(rc_a, rc_b);
		CU_ASSERT_EQUAL(a != NULL, rc_a == DC_OK);
	}
	if (scanned && a && b) {
		CU_ASSERT_STRING_EQUAL(a->payload_b64, b->payload_b64);
		CU_ASSERT(a->payload_len == b->payload_len && memcmp(a->payload, b->payload, a->payload_len) == 0);
		CU_ASSERT_EQUAL_FATAL(a->n_sigs, b->n_sigs);
		for (size_t i = 0; i < a->n_sigs; i++) {
			CU_ASSERT_STRING_EQUAL(a->sigs[i].protected_b64, b->sigs[i].protected_b64);
			CU_ASSERT_EQUAL(a->sigs[i].alg, b->sigs[i].alg);
			CU_ASSERT_STRING_EQUAL(a->sigs[i].kid, b->sigs[i].kid);
			CU_ASSERT((a->sigs[i].typ == NULL) == (b->sigs[i].typ == NULL));
			CU_ASSERT(a->sigs[i].sig_len == b->sigs[i].sig_len &&
			          memcmp(a->sigs[i].sig, b->sigs[i].sig, a->sigs[i].sig_len) == 0);
		}
	}
	dc__jws_free(a);
	dc__jws_free(b);
	char *msg = NULL;
	struct dc_unpack_meta *m = NULL;
	dc_err rc = unpack_as(BOB, text, true, &msg, &m, &ei);
	CU_ASSERT_EQUAL(rc == DC_OK, unpacks);
	if (rc == DC_OK)
		CU_ASSERT_STRING_EQUAL(msg, MSG);
	free(msg);
	dc_unpack_meta_free(m);
}

static void jws_scanner(void)
{
	struct dc_pack_result res = { 0 };
	struct dc_errinfo ei = { 0 };
	const char *signers[] = { "did:test:alice#sig-ed25519", "did:test:alice#sig-p256" };
	for (size_t si = 0; si < 2; si++) {
		struct dc_pack_opts o = { .mode = DC_PACK_SIGNED, .sign_from = signers[si] };
		CU_ASSERT_EQUAL_FATAL(pack_one(ALICE, &o, &res, &ei), DC_OK);
		const char *env = res.items[0].msg;
		check_jws_scan(env, true, DC_OK, true); /* as we write it */
		/* whitespace between the tokens */
		char *t1 = replace_all(env, ",", " ,\n\t"), *t2 = replace_all(t1, "\":", "\"\r: "),
		     *t3 = replace_all(t2, "{", " { ");
		CU_ASSERT_FATAL(t1 && t2 && t3);
		check_jws_scan(t3, true, DC_OK, true);
		free(t1);
		free(t2);
		free(t3);
		/* members in another order; two signatures (the same one twice) */
		cJSON *j = cJSON_Parse(env);
		cJSON *sigs = cJSON_DetachItemFromObjectCaseSensitive(j, "signatures");
		cJSON *s0 = cJSON_GetArrayItem(sigs, 0);
		cJSON_AddItemToObject(s0, "protected", cJSON_DetachItemFromObjectCaseSensitive(s0, "protected"));
		cJSON_AddItemToArray(sigs, cJSON_Duplicate(s0, true));
		cJSON_AddItemToObject(j, "signatures", sigs);
		char *t = cJSON_PrintUnformatted(j);
		check_jws_scan(t, true, DC_OK, true);
		free(t);
		/* no unprotected header, a second member in it, no signature, the flattened form:
		 * the parser's */
		cJSON *h = cJSON_DetachItemFromObjectCaseSensitive(s0, "header");
		t = cJSON_PrintUnformatted(j);
		check_jws_scan(t, false, 0, false); /* no kid anywhere */
		free(t);
		cJSON_AddStringToObject(h, "x", "y");
		cJSON_AddItemToObject(s0, "header", h);
		t = cJSON_PrintUnformatted(j);
		check_jws_scan(t, false, 0, true);
		free(t);
		cJSON_DeleteItemFromArray(sigs, 1);
		cJSON_DeleteItemFromArray(sigs, 0);
		t = cJSON_PrintUnformatted(j);
		check_jws_scan(t, false, 0, false);
		free(t);
		cJSON_Delete(j);
		j = cJSON_Parse(env);
		cJSON *one = cJSON_DetachItemFromArray(cJSON_GetObjectItemCaseSensitive(j, "signatures"), 0);
		cJSON_DeleteItemFromObjectCaseSensitive(j, "signatures");
		for (cJSON *m = one->child; m; m = one->child)
			cJSON_AddItemToObject(j, m->string, cJSON_DetachItemViaPointer(one, m));
		cJSON_Delete(one);
		t = cJSON_PrintUnformatted(j);
		check_jws_scan(t, false, 0, true);
		free(t);
		cJSON_Delete(j);
		/* an escaped character in the kid: the parser's, same message */
		t = replace_all(env, "did:test:alice#", "did:test:alice\\u0023");
		check_jws_scan(t, false, 0, true);
		free(t);
		/* another member, a duplicate, trailing bytes, a cut text: the parser's verdict */
		size_t n = strlen(env);
		char *x = malloc(n + 64);
		CU_ASSERT_FATAL(x != NULL);
		snprintf(x, n + 64, "%.*s,\"x\":\"AA\"}", (int)(n - 1), env);
		check_jws_scan(x, false, 0, true);
		snprintf(x, n + 64, "%.*s,\"payload\":\"AA\"}", (int)(n - 1), env);
		check_jws_scan(x, false, 0, false);
		snprintf(x, n + 64, "%s x", env);
		check_jws_scan(x, false, 0, false);
		snprintf(x, n + 64, "%.*s", (int)(n - 2), env);
		check_jws_scan(x, false, 0, false);
		free(x);
		/* the shape, but a payload that is not base64url, a changed payload, a control
		 * character in a string */
		t = replace_all(env, "\"payload\":\"", "\"payload\":\"!");
		check_jws_scan(t, true, DC_ERR_MALFORMED, false);
		free(t);
		t = replace_all(env, "\"payload\":\"e", "\"payload\":\"f");
		check_jws_scan(t, true, DC_OK, false);
		free(t);
		t = replace_all(env, "\"payload\":\"", "\"payload\":\"\x01");
		check_jws_scan(t, false, 0, false);
		free(t);
		dc_pack_result_clear(&res);
	}
}

/* env with its protected header replaced by hdr (JSON text): malloc'd */
static char *with_header(const char *env, const char *hdr)
{
	char *b = NULL;
	if (dc__b64url_encode((const uint8_t *)hdr, strlen(hdr), &b))
		return NULL;
	const char *p = strstr(env, "\"protected\":\"") + 13, *q = strchr(p, '"');
	size_t n = strlen(env) + strlen(b) + 1;
	char *out = malloc(n);
	if (out)
		snprintf(out, n, "%.*s%s%s", (int)(p - env), env, b, q);
	free(b);
	return out;
}

/* The protected header read in place (its usual shape) or through the JSON parser (any
 * other): the same fields; the parser's verdicts for what the shape leaves out. */
/* appends n copies of s to the buffer at *p */
static void put_rep(char **p, const char *s, size_t n)
{
	size_t l = strlen(s);
	for (size_t i = 0; i < n; i++, *p += l)
		memcpy(*p, s, l);
	**p = 0;
}

/* A parsed JWE is one block sized before reading (jwe.c): the longest fields each path takes
 * (a 1,200-character typ, plain or \u-escaped; a 4,096-character apu copied again as skid;
 * kids of 2,048 characters; 320-character encrypted keys; the longest iv and tag) fit, read
 * by the scanner and by the JSON parser alike, with up to 16 recipients. */
static void jwe_block_bounds(void)
{
	for (int v = 0; v < 6; v++) {
		bool escaped = v & 1, many = v & 2, long_iv = v >= 4;
		size_t n_rcpts = many ? 16 : 8;
		char *hdr = malloc(32768), *p = hdr, *prot = NULL;
		CU_ASSERT_PTR_NOT_NULL_FATAL(hdr);
		put_rep(&p, "{\"typ\":\"", 1);
		put_rep(&p, escaped ? "\\u0061" : "a", 1200);
		put_rep(&p, "\",\"alg\":\"ECDH-1PU+A256KW\",\"enc\":\"A256CBC-HS512\",\"epk\":{\"kty\":\"OKP\",\"crv\":"
		            "\"X25519\",\"x\":\"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo\"},\"apu\":\"", 1);
		put_rep(&p, "QUFB", 1024); /* 3,072 bytes of 'A': the skid */
		put_rep(&p, "\",\"apv\":\"", 1);
		put_rep(&p, "A", 43);
		put_rep(&p, "\"}", 1);
		CU_ASSERT_EQUAL_FATAL(dc__b64url_encode((const uint8_t *)hdr, strlen(hdr), &prot), DC_OK);
		size_t cap = strlen(prot) + 16 * 2500 + 1024;
		char *env = malloc(cap);
		CU_ASSERT_PTR_NOT_NULL_FATAL(env);
		p = env;
		put_rep(&p, "{\"protected\":\"", 1);
		put_rep(&p, prot, 1);
		put_rep(&p, "\",\"recipients\":[", 1);
		for (size_t i = 0; i < n_rcpts; i++) {
			put_rep(&p, i ? ",{\"header\":{\"kid\":\"" : "{\"header\":{\"kid\":\"", 1);
			p += snprintf(p, 8, "%02zu", i);
			put_rep(&p, "k", 2046);
			put_rep(&p, "\"},\"encrypted_key\":\"", 1);
			put_rep(&p, "A", 320);
			put_rep(&p, "\"}", 1);
		}
		put_rep(&p, "],\"iv\":\"", 1);
		put_rep(&p, "A", long_iv ? 64 : 22);
		put_rep(&p, "\",\"ciphertext\":\"", 1);
		put_rep(&p, "A", 64);
		put_rep(&p, "\",\"tag\":\"", 1);
		put_rep(&p, "A", long_iv ? 128 : 43);
		put_rep(&p, "\"}", 1);
		dc_err want = long_iv ? DC_ERR_MALFORMED : DC_OK;
		struct dc_jwe *a = NULL, *b = NULL;
		struct dc_errinfo ei = { 0 };
		dc_err rc_a = DC_ERR_INVAL;
		CU_ASSERT_EQUAL(dc__jwe_scan(env, strlen(env), 16, &a, &rc_a, &ei), !many);
		if (!many)
			CU_ASSERT_EQUAL(rc_a, want);
		if (long_iv)
			CU_ASSERT_PTR_NOT_NULL(strstr(ei.msg, "iv or tag length"));
		cJSON *j = NULL;
		CU_ASSERT_EQUAL_FATAL(dc__json_parse(env, strlen(env), 64, &j, &ei), DC_OK);
		CU_ASSERT_EQUAL(dc__jwe_parse(j, 16, &b, &ei), want);
		cJSON_Delete(j);
		struct dc_jwe *both[] = { a, b };
		for (size_t k = 0; k < 2; k++) {
			struct dc_jwe *w = both[k];
			if (!w)
				continue;
			CU_ASSERT_EQUAL(strlen(w->typ), 1200);
			CU_ASSERT(strlen(w->skid) == 3072 && w->apu_len == 3072 && w->apv_len == 32);
			CU_ASSERT_EQUAL_FATAL(w->n_rcpts, n_rcpts);
			for (size_t i = 0; i < n_rcpts; i++)
				CU_ASSERT(strlen(w->rcpts[i].kid) == 2048 && w->rcpts[i].ek_len == 240);
			CU_ASSERT(w->iv_len == 16 && w->tag_len == 32 && w->ct_len == 48);
		}
		CU_ASSERT_EQUAL(a != NULL, !many && !long_iv);
		CU_ASSERT_EQUAL(b != NULL, !long_iv);
		dc__jwe_free(a);
		dc__jwe_free(b);
		free(env);
		free(prot);
		free(hdr);
	}
}

static void jwe_header_scanner(void)
{
	struct dc_pack_result res = { 0 };
	struct dc_errinfo ei = { 0 };
	const char *kids[][1] = { { "did:test:bob#key-x25519-2" }, { "did:test:bob#key-p256-1" } };
	for (size_t ci = 0; ci < 2; ci++) {
		struct dc_pack_opts o = { .mode = ci ? DC_PACK_AUTHCRYPT : DC_PACK_ANONCRYPT, .to = kids[ci], .n_to = 1,
			                  .no_forward = true };
		CU_ASSERT_EQUAL_FATAL(pack_one(ALICE, &o, &res, &ei), DC_OK);
		const char *env = res.items[0].msg;
		struct dc_jwe *ref = NULL;
		dc_err rc;
		CU_ASSERT_FATAL(dc__jwe_scan(env, strlen(env), 16, &ref, &rc, &ei) && rc == DC_OK);
		const char *p = strstr(env, "\"protected\":\"") + 13;
		uint8_t *raw = NULL;
		size_t rl = 0;
		CU_ASSERT_EQUAL_FATAL(dc__b64url_decode(p, strcspn(p, "\""), &raw, &rl), DC_OK);
		cJSON *h = cJSON_Parse((const char *)raw);
		CU_ASSERT_PTR_NOT_NULL_FATAL(h);
		char *orig = strdup((const char *)raw);
		/* variants: text, whether it parses, and whether it reads to ref's fields */
		struct {
			char *hdr;
			dc_err want;
			bool same;
		} v[8];
		size_t nv = 0;
		/* reordered, whitespace: read in place */
		cJSON *r = cJSON_Duplicate(h, true);
		cJSON_AddItemToObject(r, "alg", cJSON_DetachItemFromObjectCaseSensitive(r, "alg"));
		cJSON *epk = cJSON_DetachItemFromObjectCaseSensitive(r, "epk");
		cJSON_AddItemToObject(epk, "kty", cJSON_DetachItemFromObjectCaseSensitive(epk, "kty"));
		cJSON_AddItemToObject(r, "epk", epk);
		v[nv].hdr = cJSON_Print(r); /* formatted: newlines and tabs */
		v[nv].want = DC_OK;
		v[nv++].same = true;
		cJSON_Delete(r);
		/* another member, in the header and in epk; apu null; an escape: the parser's */
		r = cJSON_Duplicate(h, true);
		cJSON_AddStringToObject(r, "cty", "x");
		v[nv].hdr = cJSON_PrintUnformatted(r);
		v[nv].want = DC_OK;
		v[nv++].same = true;
		cJSON_Delete(r);
		r = cJSON_Duplicate(h, true);
		cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(r, "epk"), "kid", "k");
		v[nv].hdr = cJSON_PrintUnformatted(r);
		v[nv].want = DC_OK;
		v[nv++].same = true;
		cJSON_Delete(r);
		if (!ci) {
			r = cJSON_Duplicate(h, true);
			cJSON_AddNullToObject(r, "apu");
			v[nv].hdr = cJSON_PrintUnformatted(r);
			v[nv].want = DC_OK;
			v[nv++].same = true;
			cJSON_Delete(r);
		}
		v[nv].hdr = replace_all(orig, "application/", "application\\/");
		v[nv].want = DC_OK;
		v[nv++].same = true;
		/* a duplicate member, a number where a string goes, no apv: refused by the parser */
		size_t ol = strlen(orig);
		v[nv].hdr = malloc(ol + 32);
		snprintf(v[nv].hdr, ol + 32, "%.*s,\"alg\":\"x\"}", (int)(ol - 1), orig);
		v[nv].want = DC_ERR_MALFORMED;
		v[nv++].same = false;
		r = cJSON_Duplicate(h, true);
		cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "epk"), "x", cJSON_CreateNumber(5));
		v[nv].hdr = cJSON_PrintUnformatted(r);
		v[nv].want = DC_ERR_MALFORMED;
		v[nv++].same = false;
		cJSON_DeleteItemFromObjectCaseSensitive(r, "apv");
		v[nv].hdr = cJSON_PrintUnformatted(r);
		v[nv].want = DC_ERR_MALFORMED;
		v[nv++].same = false;
		cJSON_Delete(r);
		for (size_t i = 0; i < nv; i++) {
			char *e = with_header(env, v[i].hdr);
			struct dc_jwe *got = NULL;
			CU_ASSERT_FATAL(e != NULL);
			CU_ASSERT(dc__jwe_scan(e, strlen(e), 16, &got, &rc, &ei));
			if (rc != v[i].want)
				fprintf(stderr, "\nheader %s: %d %s\n", v[i].hdr, (int)rc, ei.msg);
			CU_ASSERT_EQUAL(rc, v[i].want);
			if (got && v[i].same) {
				CU_ASSERT_EQUAL(got->alg, ref->alg);
				CU_ASSERT_EQUAL(got->enc, ref->enc);
				CU_ASSERT((got->skid == NULL) == (ref->skid == NULL) && (!got->skid || !strcmp(got->skid, ref->skid)));
				CU_ASSERT(got->apu_len == ref->apu_len && (!got->apu_len || !memcmp(got->apu, ref->apu, got->apu_len)));
				CU_ASSERT(got->apv_len == ref->apv_len && memcmp(got->apv, ref->apv, got->apv_len) == 0);
				CU_ASSERT(got->epk->pub_len == ref->epk->pub_len &&
				          memcmp(got->epk->pub, ref->epk->pub, got->epk->pub_len) == 0);
				CU_ASSERT((got->typ == NULL) == (ref->typ == NULL) && (!got->typ || !strcmp(got->typ, ref->typ)));
			}
			dc__jwe_free(got);
			free(e);
			free(v[i].hdr);
		}
		free(orig);
		cJSON_Delete(h);
		free(raw);
		dc__jwe_free(ref);
		dc_pack_result_clear(&res);
	}
}

/* One context packing several times keeps its EC key generation contexts: every envelope has
 * a fresh ephemeral key and opens */
static void ctx_reused(void)
{
	struct dc_ctx *c = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_ctx_new(W.res, W.ks[ALICE], &c), DC_OK);
	for (size_t ci = 1; ci < 4; ci++) {
		char *epk[3] = { NULL, NULL, NULL };
		for (size_t i = 0; i < 3; i++) {
			struct dc_pack_opts o = { .mode = i == 2 ? DC_PACK_AUTHCRYPT : DC_PACK_ANONCRYPT, .to = bob_to,
				                  .n_to = 1, .curve = ka_curves[ci], .no_forward = true };
			struct dc_pack_result res = { 0 };
			struct dc_errinfo ei = { 0 };
			CU_ASSERT_EQUAL_FATAL(dc_pack(c, MSG, strlen(MSG), &o, &res, &ei), DC_OK);
			char *msg = NULL;
			struct dc_unpack_meta *m = NULL;
			CU_ASSERT_EQUAL(unpack_as(BOB, res.items[0].msg, true, &msg, &m, &ei), DC_OK);
			if (msg)
				CU_ASSERT_STRING_EQUAL(msg, MSG);
			const char *p = strstr(res.items[0].msg, "\"protected\":\"") + 13;
			epk[i] = strndup(p, strcspn(p, "\""));
			free(msg);
			dc_unpack_meta_free(m);
			dc_pack_result_clear(&res);
		}
		CU_ASSERT(strcmp(epk[0], epk[1]) != 0); /* the headers differ by their epk */
		for (size_t i = 0; i < 3; i++)
			free(epk[i]);
	}
	dc_ctx_free(c);
}

void init_pack_tests(void)
{
	CU_pSuite s = CU_add_suite("pack", world_init, world_clear);
	TU_ADD(s, anoncrypt_all);
	TU_ADD(s, authcrypt_all);
	TU_ADD(s, signed_all);
	TU_ADD(s, chosen_kids);
	TU_ADD(s, refusals);
	TU_ADD(s, many_dids);
	TU_ADD(s, forward_two_mediators);
	TU_ADD(s, forward_mediator_did);
	TU_ADD(s, relay_hops);
	TU_ADD(s, relay_rewrap);
	TU_ADD(s, jwe_scanner);
	TU_ADD(s, jws_scanner);
	TU_ADD(s, jwe_header_scanner);
	TU_ADD(s, jwe_block_bounds);
	TU_ADD(s, ctx_reused);
}
