/* Hostile input through dc_unpack: tampering with every JWE member, wrong keys, spoofed
 * senders, duplicate recipients, unknown algorithms, padded base64, deep nesting, 10 MB
 * messages, truncation. Each gives a clear error; the sanitizer build runs the same. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct world H;
static const enum dc_crv curves[] = { DC_CRV_X25519, DC_CRV_P256 };
#define MALLORY M1

static int hostile_init(void)
{
	if (dc_resolver_new(32, &H.res))
		return 1;
	if (tu_make_party(H.res, &H.ks[ALICE], "did:test:alice", curves, 2, 1, true, NULL, NULL, 0) ||
	    tu_make_party(H.res, &H.ks[BOB], "did:test:bob", curves, 2, 2, true, NULL, NULL, 0) ||
	    tu_make_party(H.res, &H.ks[MALLORY], "did:test:mallory", curves, 2, 1, true, NULL, NULL, 0))
		return 1;
	return 0;
}

static int hostile_clear(void)
{
	for (size_t i = 0; i < 6; i++)
		dc_keystore_free(H.ks[i]);
	dc_resolver_free(H.res);
	return 0;
}

static const char *MSG = "{\"id\":\"h1\",\"type\":\"https://example.org/t/1.0/x\",\"from\":\"did:test:alice\","
                         "\"to\":[\"did:test:bob\"],\"body\":{}}";

static char *pack_as(int who, enum dc_pack_mode mode, const char *msg, const char *sign_from, enum dc_enc enc)
{
	struct dc_ctx *c = NULL;
	struct dc_pack_result r = { 0 };
	struct dc_errinfo ei = { 0 };
	const char *to[] = { "did:test:bob" };
	struct dc_pack_opts o = { .mode = mode, .to = to, .n_to = 1, .sign_from = sign_from, .enc = enc,
	                          .curve = DC_CRV_X25519 };
	CU_ASSERT_EQUAL_FATAL(dc_ctx_new(H.res, H.ks[who], &c), DC_OK);
	dc_err rc = dc_pack(c, msg, strlen(msg), &o, &r, &ei);
	if (rc)
		fprintf(stderr, "\npack: %s\n", ei.msg);
	CU_ASSERT_EQUAL_FATAL(rc, DC_OK);
	char *out = r.items[0].msg;
	r.items[0].msg = NULL;
	dc_pack_result_clear(&r);
	dc_ctx_free(c);
	return out;
}

static dc_err unpack_with(struct dc_keystore *ks, const char *in, size_t len, char *err, size_t err_len)
{
	struct dc_ctx *c = NULL;
	struct dc_errinfo ei = { 0 };
	char *msg = NULL;
	struct dc_unpack_meta *m = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_ctx_new(H.res, ks, &c), DC_OK);
	struct dc_unpack_opts o = { .unwrap_forwards = true };
	dc_err rc = dc_unpack(c, in, len, &o, &msg, &m, &ei);
	if (err)
		snprintf(err, err_len, "%s", ei.msg);
	if (rc) {
		CU_ASSERT_PTR_NULL(msg); /* never partial output */
		CU_ASSERT(ei.msg[0] != 0);
	}
	free(msg);
	dc_unpack_meta_free(m);
	dc_ctx_free(c);
	return rc;
}

static dc_err unpack_bob(const char *in)
{
	return unpack_with(H.ks[BOB], in, strlen(in), NULL, 0);
}

/* Change one character of member `name` (top level, or in recipients[0] when rcpt) at index at. */
static char *tamper(const char *env, const char *name, bool rcpt, size_t at)
{
	cJSON *j = cJSON_Parse(env);
	/* a recipient member is tampered for every recipient: bob holds several of the keys */
	cJSON *holders = rcpt ? cJSON_GetObjectItemCaseSensitive(j, "recipients") : NULL;
	cJSON *holder = rcpt ? holders->child : j;
	for (; holder; holder = rcpt ? holder->next : NULL) {
		cJSON *v = cJSON_GetObjectItemCaseSensitive(holder, name);
		CU_ASSERT_FATAL(cJSON_IsString(v));
		char *s = v->valuestring;
		size_t n = strlen(s);
		size_t i = at % n;
		s[i] = s[i] == 'A' ? 'B' : 'A';
	}
	char *out = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return out;
}

static void tampered_members(void)
{
	enum dc_pack_mode modes[] = { DC_PACK_ANONCRYPT, DC_PACK_AUTHCRYPT };
	enum dc_enc encs[] = { DC_ENC_XC20P, DC_ENC_A256CBC_HS512 };
	const char *members[] = { "ciphertext", "tag", "iv", "protected", "encrypted_key" };
	for (size_t mi = 0; mi < 2; mi++) {
		char *env = pack_as(ALICE, modes[mi], MSG, NULL, encs[mi]);
		CU_ASSERT_EQUAL(unpack_bob(env), DC_OK);
		for (size_t k = 0; k < 5; k++) {
			for (size_t at = 0; at < 40; at += 13) {
				char *bad = tamper(env, members[k], k == 4, at);
				dc_err rc = unpack_bob(bad);
				if (rc == DC_OK)
					fprintf(stderr, "\ntamper %s at %zu (mode %zu) went unnoticed\n", members[k], at, mi);
				CU_ASSERT_NOT_EQUAL(rc, DC_OK);
				if (k != 3) /* a tampered protected header may also fail to parse */
					CU_ASSERT(rc == DC_ERR_CRYPTO || rc == DC_ERR_MALFORMED);
				free(bad);
			}
		}
		free(env);
	}
}

static void wrong_key(void)
{
	/* a keystore holding a different key under bob's kid */
	char *env = pack_as(ALICE, DC_PACK_ANONCRYPT, MSG, NULL, DC_ENC_A256GCM);
	struct dc_keystore *ks = NULL;
	struct dc_key *k = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_keystore_new(&ks), DC_OK);
	for (int i = 1; i <= 2; i++) {
		char kid[64];
		snprintf(kid, sizeof kid, "did:test:bob#key-x25519-%d", i);
		CU_ASSERT_EQUAL_FATAL(dc__key_generate(DC_CRV_X25519, &k), DC_OK);
		CU_ASSERT_EQUAL_FATAL(dc__key_set_kid(k, kid), DC_OK);
		CU_ASSERT_EQUAL_FATAL(dc_keystore_take(ks, k), DC_OK);
	}
	char err[256];
	CU_ASSERT_EQUAL(unpack_with(ks, env, strlen(env), err, sizeof err), DC_ERR_CRYPTO);
	dc_keystore_free(ks);
	free(env);
}

/* authcrypt made by hand with mallory's key but a plaintext that claims alice */
static void skid_from_mismatch(void)
{
	const struct dc_key *mkey = dc_keystore_get(H.ks[MALLORY], "did:test:mallory#key-x25519-1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkey);
	const struct dc_key *bobk = NULL;
	struct dc_did_doc *bdoc = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_resolve(H.res, "did:test:bob", &bdoc, NULL), DC_OK);
	bobk = dc__did_doc_vm(bdoc, "did:test:bob#key-x25519-1")->key;
	char *env = NULL;
	size_t len = 0;
	CU_ASSERT_EQUAL_FATAL(dc__jwe_encrypt(DC_ALG_ECDH_1PU_A256KW, DC_ENC_A256CBC_HS512, mkey, dc_key_kid(mkey),
	                                      &bobk, 1, (const uint8_t *)MSG, strlen(MSG), &env, &len, NULL),
	                      DC_OK);
	char err[256];
	CU_ASSERT_EQUAL(unpack_with(H.ks[BOB], env, len, err, sizeof err), DC_ERR_DENIED);
	CU_ASSERT(strstr(err, "authcrypt sender") != NULL);
	free(env);
	/* signed by mallory, claiming alice */
	char *jws = NULL;
	const struct dc_key *msig = dc_keystore_get(H.ks[MALLORY], "did:test:mallory#sig-ed25519");
	CU_ASSERT_EQUAL_FATAL(dc__jws_sign(msig, dc_key_kid(msig), (const uint8_t *)MSG, strlen(MSG), &jws, &len),
	                      DC_OK);
	CU_ASSERT_EQUAL(unpack_with(H.ks[BOB], jws, len, err, sizeof err), DC_ERR_DENIED);
	free(jws);
	/* a key of alice listed only under keyAgreement cannot sign for her */
	dc_did_doc_free(bdoc);
}

static void signer_not_sender(void)
{
	/* authcrypt by alice around a JWS by mallory of a message from alice: signer != sender */
	char *jws = NULL;
	size_t len = 0;
	const struct dc_key *msig = dc_keystore_get(H.ks[MALLORY], "did:test:mallory#sig-ed25519");
	CU_ASSERT_EQUAL_FATAL(dc__jws_sign(msig, dc_key_kid(msig), (const uint8_t *)MSG, strlen(MSG), &jws, &len),
	                      DC_OK);
	const struct dc_key *akey = dc_keystore_get(H.ks[ALICE], "did:test:alice#key-x25519-1");
	struct dc_did_doc *bdoc = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_resolve(H.res, "did:test:bob", &bdoc, NULL), DC_OK);
	const struct dc_key *bobk = dc__did_doc_vm(bdoc, "did:test:bob#key-x25519-1")->key;
	char *env = NULL;
	size_t elen = 0;
	CU_ASSERT_EQUAL_FATAL(dc__jwe_encrypt(DC_ALG_ECDH_1PU_A256KW, DC_ENC_A256CBC_HS512, akey, dc_key_kid(akey),
	                                      &bobk, 1, (const uint8_t *)jws, len, &env, &elen, NULL),
	                      DC_OK);
	CU_ASSERT_EQUAL(unpack_with(H.ks[BOB], env, elen, NULL, 0), DC_ERR_DENIED);
	free(env);
	free(jws);
	dc_did_doc_free(bdoc);
}

static void not_addressed_to_us(void)
{
	/* anoncrypt to bob of a message whose to names only mallory */
	const char *m = "{\"id\":\"h2\",\"type\":\"t/1.0/x\",\"to\":[\"did:test:mallory\"],\"body\":{}}";
	struct dc_did_doc *bdoc = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_resolve(H.res, "did:test:bob", &bdoc, NULL), DC_OK);
	const struct dc_key *bobk = dc__did_doc_vm(bdoc, "did:test:bob#key-x25519-1")->key;
	char *env = NULL;
	size_t len = 0;
	CU_ASSERT_EQUAL_FATAL(dc__jwe_encrypt(DC_ALG_ECDH_ES_A256KW, DC_ENC_XC20P, NULL, NULL, &bobk, 1,
	                                      (const uint8_t *)m, strlen(m), &env, &len, NULL),
	                      DC_OK);
	CU_ASSERT_EQUAL(unpack_with(H.ks[BOB], env, len, NULL, 0), DC_ERR_DENIED);
	/* anoncrypt(anoncrypt) with no forward between: not an allowed nesting */
	char *outer = NULL;
	size_t olen = 0;
	CU_ASSERT_EQUAL_FATAL(dc__jwe_encrypt(DC_ALG_ECDH_ES_A256KW, DC_ENC_XC20P, NULL, NULL, &bobk, 1,
	                                      (const uint8_t *)env, len, &outer, &olen, NULL),
	                      DC_OK);
	CU_ASSERT_EQUAL(unpack_with(H.ks[BOB], outer, olen, NULL, 0), DC_ERR_MALFORMED);
	free(outer);
	free(env);
	dc_did_doc_free(bdoc);
}

static char *edit_json(const char *env, void (*fn)(cJSON *))
{
	cJSON *j = cJSON_Parse(env);
	fn(j);
	char *out = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return out;
}

static void dup_rcpt(cJSON *j)
{
	cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "recipients");
	cJSON_AddItemToArray(r, cJSON_Duplicate(cJSON_GetArrayItem(r, 0), true));
}

static void pad_ct(cJSON *j)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "ciphertext");
	size_t n = strlen(v->valuestring);
	char *s = malloc(n + 3);
	memcpy(s, v->valuestring, n);
	memcpy(s + n, "==", 3);
	cJSON_SetValuestring(v, s);
	free(s);
}

static void set_protected(cJSON *j, const char *from, const char *to)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "protected");
	uint8_t *hdr = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL_FATAL(dc__b64url_decode(v->valuestring, strlen(v->valuestring), &hdr, &n), DC_OK);
	char *p = strstr((char *)hdr, from);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	char buf[2048];
	snprintf(buf, sizeof buf, "%.*s%s%s", (int)(p - (char *)hdr), (char *)hdr, to, p + strlen(from));
	char *b64 = NULL;
	CU_ASSERT_EQUAL_FATAL(dc__b64url_encode((const uint8_t *)buf, strlen(buf), &b64), DC_OK);
	cJSON_SetValuestring(v, b64);
	free(b64);
	free(hdr);
}
static void alg_rsa(cJSON *j) { set_protected(j, "\"ECDH-ES+A256KW\"", "\"RSA-OAEP-256\""); }
static void enc_a128(cJSON *j) { set_protected(j, "\"XC20P\"", "\"A128GCM\""); }
static void dup_member(cJSON *j) { set_protected(j, "\"enc\":\"XC20P\"", "\"enc\":\"XC20P\",\"enc\":\"XC20P\""); }

static void structural(void)
{
	char *env = pack_as(ALICE, DC_PACK_ANONCRYPT, MSG, NULL, DC_ENC_XC20P);
	void (*edits[])(cJSON *) = { dup_rcpt, pad_ct, alg_rsa, enc_a128, dup_member };
	dc_err want[] = { DC_ERR_MALFORMED, DC_ERR_MALFORMED, DC_ERR_UNSUPPORTED, DC_ERR_UNSUPPORTED, DC_ERR_MALFORMED };
	for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
		char *bad = edit_json(env, edits[i]);
		char err[256];
		dc_err rc = unpack_with(H.ks[BOB], bad, strlen(bad), err, sizeof err);
		if (rc != want[i])
			fprintf(stderr, "\nstructural %zu: rc %d (%s)\n", i, (int)rc, err);
		CU_ASSERT_EQUAL(rc, want[i]);
		free(bad);
	}
	/* every truncation of a valid envelope fails cleanly */
	size_t n = strlen(env);
	for (size_t cut = 0; cut < n; cut += (cut < 64 ? 1 : 37))
		CU_ASSERT_NOT_EQUAL(unpack_with(H.ks[BOB], env, cut, NULL, 0), DC_OK);
	free(env);
}

static void deep_and_garbage(void)
{
	size_t depth = 200000;
	char *deep = malloc(2 * depth);
	memset(deep, '[', depth);
	memset(deep + depth, ']', depth);
	CU_ASSERT_EQUAL(unpack_with(H.ks[BOB], deep, 2 * depth, NULL, 0), DC_ERR_TOO_BIG);
	memset(deep, '{', depth);
	CU_ASSERT_NOT_EQUAL(unpack_with(H.ks[BOB], deep, depth, NULL, 0), DC_OK);
	free(deep);
	const char *junk[] = { "", "null", "[]", "\"x\"", "{}", "{\"ciphertext\":1}", "{\"payload\":\"e30\",\"signatures\":[]}",
	                       "{\"protected\":\"\",\"recipients\":[],\"iv\":\"\",\"ciphertext\":\"\",\"tag\":\"\"}",
	                       "\xff\xfe{", "{\"a\":\"\\ud800\"}" };
	for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
		CU_ASSERT_NOT_EQUAL(unpack_with(H.ks[BOB], junk[i], strlen(junk[i]), NULL, 0), DC_OK);
}

static void big_messages(void)
{
	/* 10 MB body: packs and unpacks */
	size_t body = 10u << 20;
	char *m = malloc(body + 256);
	int o = snprintf(m, 256, "{\"id\":\"big\",\"type\":\"t/1.0/x\",\"from\":\"did:test:alice\",\"to\":[\"did:test:bob\"],"
	                         "\"body\":{\"data\":\"");
	memset(m + o, 'a', body);
	memcpy(m + o + body, "\"}}", 4);
	char *env = pack_as(ALICE, DC_PACK_AUTHCRYPT, m, NULL, DC_ENC_NONE);
	CU_ASSERT_EQUAL(unpack_bob(env), DC_OK);
	free(env);
	/* over the 32 MiB input limit: refused before parsing */
	size_t huge = (32u << 20) + 1;
	char *h = malloc(huge);
	memset(h, ' ', huge);
	h[0] = '{';
	h[huge - 1] = '}';
	CU_ASSERT_EQUAL(unpack_with(H.ks[BOB], h, huge, NULL, 0), DC_ERR_TOO_BIG);
	free(h);
	free(m);
}

void init_hostile_tests(void)
{
	CU_pSuite s = CU_add_suite("hostile", hostile_init, hostile_clear);
	TU_ADD(s, tampered_members);
	TU_ADD(s, wrong_key);
	TU_ADD(s, skid_from_mismatch);
	TU_ADD(s, signer_not_sender);
	TU_ADD(s, not_addressed_to_us);
	TU_ADD(s, structural);
	TU_ADD(s, deep_and_garbage);
	TU_ADD(s, big_messages);
}
