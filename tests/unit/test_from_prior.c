/* DID rotation on the sending side: dc_pack with from_prior_issuer signs the from_prior JWT
 * with the prior DID's key (every signing key type), dc_unpack reads it back; the refusals;
 * a JWT changed after signing; didcomm-rust's from_prior JWT vectors inside a message; what
 * unpack checks besides the signature. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sodium.h>

#define VEC "tests/vectors/"

static struct dc_resolver *R;
static struct dc_keystore *KS_OLD, *KS_NEW, *KS_BOTH;
static const enum dc_crv ka_x25519[] = { DC_CRV_X25519 };

static const char *MSG = "{\"id\":\"fp-1\",\"type\":\"https://example.org/test/1.0/hello\","
                         "\"from\":\"did:test:new\",\"to\":[\"did:test:peer\"],\"created_time\":1516269022,"
                         "\"body\":{\"n\":12345678901234567890}}";

/* copy kid from one keystore into another (private part included) */
static int copy_key(struct dc_keystore *from, struct dc_keystore *to, const char *kid)
{
	const struct dc_key *k = dc_keystore_get(from, kid);
	char *txt = NULL;
	struct dc_key *c = NULL;
	if (!k || dc_jwk_print(k, true, &txt))
		return -1;
	dc_err rc = dc_jwk_parse_text(txt, strlen(txt), &c);
	sodium_memzero(txt, strlen(txt));
	free(txt);
	return rc || dc_keystore_take(to, c) ? -1 : 0;
}

static struct dc_keystore *KS_PEER;

static int world_init(void)
{
	if (dc_resolver_new(16, &R) ||
	    tu_make_party(R, &KS_OLD, "did:test:old", ka_x25519, 1, 1, true, NULL, NULL, 0) ||
	    tu_make_party(R, &KS_NEW, "did:test:new", ka_x25519, 1, 1, true, NULL, NULL, 0) ||
	    tu_make_party(R, &KS_PEER, "did:test:peer", ka_x25519, 1, 1, false, NULL, NULL, 0) ||
	    dc_keystore_new(&KS_BOTH))
		return -1;
	static const char *const kids[] = { "did:test:old#sig-ed25519", "did:test:old#sig-p256",
		                            "did:test:old#sig-k256",    "did:test:new#sig-ed25519",
		                            "did:test:new#key-x25519-1" };
	for (size_t i = 0; i < sizeof kids / sizeof kids[0]; i++)
		if (copy_key(strncmp(kids[i], "did:test:old", 12) == 0 ? KS_OLD : KS_NEW, KS_BOTH, kids[i]))
			return -1;
	return 0;
}

static int world_clear(void)
{
	dc_keystore_free(KS_OLD);
	dc_keystore_free(KS_NEW);
	dc_keystore_free(KS_PEER);
	dc_keystore_free(KS_BOTH);
	dc_resolver_free(R);
	return 0;
}

static dc_err pack_with(struct dc_keystore *ks, const char *msg, const struct dc_pack_opts *o,
                        struct dc_pack_result *res, struct dc_errinfo *ei)
{
	struct dc_ctx *c = NULL;
	if (dc_ctx_new(R, ks, &c))
		return DC_ERR_NOMEM;
	dc_err rc = dc_pack(c, msg, strlen(msg), o, res, ei);
	dc_ctx_free(c);
	return rc;
}

static dc_err unpack_with(struct dc_keystore *ks, const char *env, char **msg, struct dc_unpack_meta **m,
                          struct dc_errinfo *ei)
{
	struct dc_ctx *c = NULL;
	if (dc_ctx_new(R, ks, &c))
		return DC_ERR_NOMEM;
	struct dc_unpack_opts o = { .unwrap_forwards = true };
	dc_err rc = dc_unpack(c, env, strlen(env), &o, msg, m, ei);
	dc_ctx_free(c);
	return rc;
}

static const char *peer_to[] = { "did:test:peer" };

/* every signing key type, every pack mode; the issuer as a kid and as a DID */
static void roundtrip_all(void)
{
	static const struct {
		const char *issuer, *want_kid, *alg;
	} iss[] = {
		{ "did:test:old#sig-ed25519", "did:test:old#sig-ed25519", "EdDSA" },
		{ "did:test:old#sig-p256", "did:test:old#sig-p256", "ES256" },
		{ "did:test:old#sig-k256", "did:test:old#sig-k256", "ES256K" },
		{ "did:test:old", "did:test:old#sig-ed25519", "EdDSA" }, /* a DID: its first authentication key */
	};
	static const enum dc_pack_mode modes[] = { DC_PACK_PLAINTEXT, DC_PACK_SIGNED, DC_PACK_ANONCRYPT,
		                                   DC_PACK_AUTHCRYPT };
	for (size_t i = 0; i < sizeof iss / sizeof iss[0]; i++) {
		for (size_t mi = 0; mi < sizeof modes / sizeof modes[0]; mi++) {
			struct dc_pack_opts o = { .mode = modes[mi], .to = peer_to, .n_to = 1, .no_forward = true,
				                  .from_prior_issuer = iss[i].issuer, .rotated_at = 1700000000 };
			struct dc_pack_result res = { 0 };
			struct dc_errinfo ei = { 0 };
			dc_err rc = pack_with(KS_BOTH, MSG, &o, &res, &ei);
			if (rc)
				fprintf(stderr, "\n%s mode %d: %s\n", iss[i].issuer, (int)modes[mi], ei.msg);
			CU_ASSERT_EQUAL_FATAL(rc, DC_OK);
			char *msg = NULL;
			struct dc_unpack_meta *m = NULL;
			rc = unpack_with(KS_PEER, res.items[0].msg, &msg, &m, &ei);
			if (rc)
				fprintf(stderr, "\n%s mode %d: unpack: %s\n", iss[i].issuer, (int)modes[mi], ei.msg);
			CU_ASSERT_EQUAL(rc, DC_OK);
			if (rc == DC_OK) {
				CU_ASSERT(m->from_prior_issuer_kid && strcmp(m->from_prior_issuer_kid, iss[i].want_kid) == 0);
				cJSON *claims = cJSON_Parse(m->from_prior_json);
				CU_ASSERT_STRING_EQUAL(dc__json_str(claims, "iss"), "did:test:old");
				CU_ASSERT_STRING_EQUAL(dc__json_str(claims, "sub"), "did:test:new");
				const cJSON *iat = cJSON_GetObjectItemCaseSensitive(claims, "iat");
				CU_ASSERT(cJSON_IsNumber(iat) && iat->valuedouble == 1700000000.0);
				cJSON_Delete(claims);
				/* the rest of the message is the caller's bytes, after the new first member */
				CU_ASSERT(strncmp(msg, "{\"from_prior\":\"", 15) == 0);
				CU_ASSERT(strstr(msg, "\"body\":{\"n\":12345678901234567890}") != NULL);
				/* the JWT header names the key and its algorithm */
				cJSON *jm = cJSON_Parse(msg);
				struct dc_jwt *jwt = NULL;
				const char *fp = dc__json_str(jm, "from_prior");
				CU_ASSERT_EQUAL(dc__jwt_parse(fp, strlen(fp), &jwt, NULL), DC_OK);
				if (jwt) {
					CU_ASSERT_STRING_EQUAL(dc__json_str(jwt->header, "typ"), "JWT");
					CU_ASSERT_STRING_EQUAL(dc__json_str(jwt->header, "alg"), iss[i].alg);
					CU_ASSERT_STRING_EQUAL(jwt->kid, iss[i].want_kid);
				}
				dc__jwt_free(jwt);
				cJSON_Delete(jm);
			}
			free(msg);
			dc_unpack_meta_free(m);
			dc_pack_result_clear(&res);
		}
	}
}

/* iat defaults to now */
static void default_time(void)
{
	struct dc_pack_opts o = { .mode = DC_PACK_PLAINTEXT, .from_prior_issuer = "did:test:old#sig-ed25519" };
	struct dc_pack_result res = { 0 };
	struct dc_errinfo ei = { 0 };
	int64_t before = (int64_t)time(NULL);
	CU_ASSERT_EQUAL_FATAL(pack_with(KS_BOTH, MSG, &o, &res, &ei), DC_OK);
	char *msg = NULL;
	struct dc_unpack_meta *m = NULL;
	CU_ASSERT_EQUAL_FATAL(unpack_with(KS_PEER, res.items[0].msg, &msg, &m, &ei), DC_OK);
	cJSON *claims = cJSON_Parse(m->from_prior_json);
	const cJSON *iat = cJSON_GetObjectItemCaseSensitive(claims, "iat");
	CU_ASSERT(cJSON_IsNumber(iat) && iat->valuedouble >= (double)before && iat->valuedouble <= (double)time(NULL));
	cJSON_Delete(claims);
	free(msg);
	dc_unpack_meta_free(m);
	dc_pack_result_clear(&res);
}

static void refused(struct dc_keystore *ks, const char *msg, const char *issuer, dc_err want, const char *says)
{
	struct dc_pack_opts o = { .mode = DC_PACK_AUTHCRYPT, .to = peer_to, .n_to = 1, .no_forward = true,
		                  .from_prior_issuer = issuer };
	struct dc_pack_result res = { 0 };
	struct dc_errinfo ei = { 0 };
	dc_err rc = pack_with(ks, msg, &o, &res, &ei);
	if (rc != want || !strstr(ei.msg, says))
		fprintf(stderr, "\nissuer %s: got %d \"%s\", want %d \"%s\"\n", issuer, (int)rc, ei.msg, (int)want, says);
	CU_ASSERT_EQUAL(rc, want);
	CU_ASSERT(strstr(ei.msg, says) != NULL);
	CU_ASSERT_EQUAL(res.n, 0); /* nothing comes out */
	CU_ASSERT_PTR_NULL(res.items);
}

static void refusals(void)
{
	/* a key-agreement key of the prior DID, not an authentication key */
	refused(KS_BOTH, MSG, "did:test:old#key-x25519-1", DC_ERR_DENIED, "is not an authentication key");
	/* a key the prior DID does not have at all */
	refused(KS_BOTH, MSG, "did:test:old#nope", DC_ERR_DENIED, "is not an authentication key");
	/* no secret for the issuer key (KS_NEW holds only the new DID's keys) */
	refused(KS_NEW, MSG, "did:test:old#sig-p256", DC_ERR_NOT_FOUND, "no secret for did:test:old#sig-p256");
	/* the prior DID is the new one */
	refused(KS_BOTH, MSG, "did:test:new#sig-ed25519", DC_ERR_INVAL, "is the message's from");
	/* no from */
	const char *nofrom = "{\"id\":\"fp-2\",\"type\":\"https://example.org/test/1.0/hello\",\"to\":[\"did:test:peer\"],"
	                     "\"body\":{}}";
	struct dc_pack_opts o = { .mode = DC_PACK_PLAINTEXT, .from_prior_issuer = "did:test:old#sig-ed25519" };
	struct dc_pack_result res = { 0 };
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL(pack_with(KS_BOTH, nofrom, &o, &res, &ei), DC_ERR_INVAL);
	CU_ASSERT(strstr(ei.msg, "no from") != NULL);
	CU_ASSERT_EQUAL(res.n, 0);
	/* a message that carries a from_prior already */
	const char *has = "{\"id\":\"fp-3\",\"type\":\"https://example.org/test/1.0/hello\",\"from\":\"did:test:new\","
	                  "\"from_prior\":\"a.b.c\",\"body\":{}}";
	memset(&ei, 0, sizeof ei);
	CU_ASSERT_EQUAL(pack_with(KS_BOTH, has, &o, &res, &ei), DC_ERR_INVAL);
	CU_ASSERT(strstr(ei.msg, "has one already") != NULL);
}

/* a JWT changed after signing (claims, header, signature) is refused on unpack */
static void tampered(void)
{
	struct dc_pack_opts o = { .mode = DC_PACK_PLAINTEXT, .from_prior_issuer = "did:test:old#sig-p256",
		                  .rotated_at = 1700000000 };
	struct dc_pack_result res = { 0 };
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL_FATAL(pack_with(KS_BOTH, MSG, &o, &res, &ei), DC_OK);
	const char *msg = res.items[0].msg;
	const char *jwt = msg + 15, *end = strchr(jwt, '"');
	const char *d1 = strchr(jwt, '.'), *d2 = strchr(d1 + 1, '.');
	size_t at[] = { 5, (size_t)(d1 - jwt) + 5, (size_t)(d2 - jwt) + 5 };
	for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
		char *bad = strdup(msg);
		char *p = bad + 15 + at[i];
		CU_ASSERT_FATAL(p < bad + (end - msg));
		*p = *p == 'A' ? 'B' : 'A';
		char *out = NULL;
		struct dc_unpack_meta *m = NULL;
		dc_err rc = unpack_with(KS_PEER, bad, &out, &m, &ei);
		CU_ASSERT_NOT_EQUAL(rc, DC_OK);
		CU_ASSERT_PTR_NULL(out);
		free(out);
		dc_unpack_meta_free(m);
		free(bad);
	}
	/* claims swapped for another sub, signature kept */
	cJSON *c = cJSON_CreateObject();
	cJSON_AddStringToObject(c, "iss", "did:test:old");
	cJSON_AddStringToObject(c, "sub", "did:test:peer");
	char *ct = cJSON_PrintUnformatted(c), *cb = NULL;
	CU_ASSERT_EQUAL_FATAL(dc__b64url_encode((const uint8_t *)ct, strlen(ct), &cb), DC_OK);
	size_t n = strlen(msg) + strlen(cb) + 1;
	char *bad = malloc(n);
	snprintf(bad, n, "%.*s%s%s", (int)(d1 + 1 - msg), msg, cb, d2);
	char *out = NULL;
	struct dc_unpack_meta *m = NULL;
	CU_ASSERT_NOT_EQUAL(unpack_with(KS_PEER, bad, &out, &m, &ei), DC_OK);
	free(out);
	dc_unpack_meta_free(m);
	free(bad);
	free(ct);
	free(cb);
	cJSON_Delete(c);
	dc_pack_result_clear(&res);
}

/* didcomm-rust's from_prior JWT vectors (tests/vectors/messages/rust-from-prior-jwt-*.json),
 * each put into a plaintext message from alice, read with the vector keys */
static void rust_jwt_vectors(void)
{
	static const char *const files[] = { "rust-from-prior-jwt-full.json", "rust-from-prior-jwt-invalid.json",
		                             "rust-from-prior-jwt-invalid-signature.json" };
	struct dc_resolver *r = NULL;
	struct dc_keystore *ks = NULL;
	struct dc_errinfo ei = { 0 };
	static const char *const docs[] = { VEC "keys/alice-did-doc.json", VEC "keys/bob-did-doc.json",
		                            VEC "keys/charlie-did-doc.json" };
	CU_ASSERT_EQUAL_FATAL(dc_resolver_new(8, &r), DC_OK);
	for (size_t i = 0; i < 3; i++)
		CU_ASSERT_EQUAL_FATAL(dc_resolver_add_docs_file(r, docs[i], &ei), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_keystore_new(&ks), DC_OK);
	size_t pos = 0, neg = 0;
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		char path[256];
		snprintf(path, sizeof path, VEC "messages/%s", files[i]);
		cJSON *v = tu_read_json(path);
		CU_ASSERT_PTR_NOT_NULL_FATAL(v);
		const char *jwt = dc__json_str(v, "jwt");
		bool negative = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "negative"));
		char msg[2048];
		snprintf(msg, sizeof msg,
		         "{\"id\":\"1234567890\",\"typ\":\"application/didcomm-plain+json\",\"type\":\"http://example.com/p\","
		         "\"from\":\"did:example:alice\",\"to\":[\"did:example:bob\"],\"from_prior\":\"%s\",\"body\":{}}",
		         jwt);
		struct dc_ctx *c = NULL;
		CU_ASSERT_EQUAL_FATAL(dc_ctx_new(r, ks, &c), DC_OK);
		char *out = NULL;
		struct dc_unpack_meta *m = NULL;
		memset(&ei, 0, sizeof ei);
		dc_err rc = dc_unpack(c, msg, strlen(msg), NULL, &out, &m, &ei);
		if (negative) {
			neg++;
			CU_ASSERT_NOT_EQUAL(rc, DC_OK);
			CU_ASSERT(ei.msg[0] != 0);
		} else {
			pos++;
			if (rc)
				fprintf(stderr, "\n%s: %s\n", files[i], ei.msg);
			CU_ASSERT_EQUAL(rc, DC_OK);
			if (rc == DC_OK) {
				CU_ASSERT_STRING_EQUAL(m->from_prior_issuer_kid, "did:example:charlie#key-1");
				cJSON *got = cJSON_Parse(m->from_prior_json);
				CU_ASSERT(cJSON_Compare(got, cJSON_GetObjectItemCaseSensitive(v, "expected_payload"), true) ||
				          cJSON_Compare(got, cJSON_GetObjectItemCaseSensitive(v, "decoded_payload"), true));
				cJSON_Delete(got);
			}
		}
		free(out);
		dc_unpack_meta_free(m);
		dc_ctx_free(c);
		cJSON_Delete(v);
	}
	CU_ASSERT_EQUAL(pos, 1);
	CU_ASSERT_EQUAL(neg, 2);
	dc_keystore_free(ks);
	dc_resolver_free(r);
}

/* A compact JWT: header {"typ":"JWT","alg":alg,"kid":kid} and the claims (JSON text), signed
 * with the secret of signer from KS_BOTH; malloc'd. */
static char *jwt_of(const char *alg, const char *kid, const char *claims, const char *signer)
{
	char hdr[256], *hb = NULL, *pb = NULL, *sb = NULL, *out = NULL;
	uint8_t sig[64];
	size_t sl = 0;
	snprintf(hdr, sizeof hdr, "{\"typ\":\"JWT\",\"alg\":\"%s\",\"kid\":\"%s\"}", alg, kid);
	const struct dc_key *k = dc_keystore_get(KS_BOTH, signer);
	if (!k || dc__b64url_encode((const uint8_t *)hdr, strlen(hdr), &hb) ||
	    dc__b64url_encode((const uint8_t *)claims, strlen(claims), &pb))
		goto out;
	size_t n = strlen(hb) + strlen(pb) + 2;
	char *in = malloc(n);
	if (!in)
		goto out;
	snprintf(in, n, "%s.%s", hb, pb);
	if (dc__sign(k, (const uint8_t *)in, strlen(in), sig, sizeof sig, &sl) == DC_OK &&
	    dc__b64url_encode(sig, sl, &sb) == DC_OK && (out = malloc(n + strlen(sb) + 1)))
		snprintf(out, n + strlen(sb) + 1, "%s.%s", in, sb);
	free(in);
out:
	free(hb);
	free(pb);
	free(sb);
	return out;
}

/* unpack of a plaintext message (from: NULL for none) carrying jwt as from_prior */
static dc_err unpack_fp(const char *from, const char *jwt, struct dc_errinfo *ei)
{
	char msg[4096], fromm[128] = "";
	if (from)
		snprintf(fromm, sizeof fromm, "\"from\":\"%s\",", from);
	snprintf(msg, sizeof msg,
	         "{\"id\":\"fp-u\",\"type\":\"https://example.org/test/1.0/hello\",%s\"to\":[\"did:test:peer\"],"
	         "\"from_prior\":\"%s\",\"body\":{}}",
	         fromm, jwt);
	char *out = NULL;
	struct dc_unpack_meta *m = NULL;
	memset(ei, 0, sizeof *ei);
	dc_err rc = unpack_with(KS_PEER, msg, &out, &m, ei);
	free(out);
	dc_unpack_meta_free(m);
	return rc;
}

/* What unpack checks beyond the signature: the JWT is signed by an authentication key of iss
 * and names it, sub is the message's from (no sub and no from: the relationship ends), iss and
 * sub are two DIDs, iat is a time, alg is the key's. */
static void unpack_checks(void)
{
	static const struct {
		const char *from, *alg, *kid, *claims, *signer;
		dc_err want;
		const char *says;
	} t[] = {
		{ "did:test:new", "EdDSA", "did:test:old#sig-ed25519",
		  "{\"iss\":\"did:test:old\",\"sub\":\"did:test:new\",\"iat\":1700000000}", "did:test:old#sig-ed25519", DC_OK,
		  "" },
		/* ending the relationship: neither sub nor from */
		{ NULL, "EdDSA", "did:test:old#sig-ed25519", "{\"iss\":\"did:test:old\",\"iat\":1700000000}",
		  "did:test:old#sig-ed25519", DC_OK, "" },
		/* sub names a new DID, the message has no from / another from */
		{ NULL, "EdDSA", "did:test:old#sig-ed25519", "{\"iss\":\"did:test:old\",\"sub\":\"did:test:new\"}",
		  "did:test:old#sig-ed25519", DC_ERR_DENIED, "is not the message's from" },
		{ "did:test:peer", "EdDSA", "did:test:old#sig-ed25519", "{\"iss\":\"did:test:old\",\"sub\":\"did:test:new\"}",
		  "did:test:old#sig-ed25519", DC_ERR_DENIED, "is not the message's from" },
		/* no sub, but a from */
		{ "did:test:new", "EdDSA", "did:test:old#sig-ed25519", "{\"iss\":\"did:test:old\"}", "did:test:old#sig-ed25519",
		  DC_ERR_DENIED, "is not the message's from" },
		/* the kid is not a key of iss (the new DID's key vouching for the old DID) */
		{ "did:test:new", "EdDSA", "did:test:new#sig-ed25519", "{\"iss\":\"did:test:old\",\"sub\":\"did:test:new\"}",
		  "did:test:new#sig-ed25519", DC_ERR_DENIED, "is not a key of iss" },
		/* the header names the old key, the new key signed */
		{ "did:test:new", "EdDSA", "did:test:old#sig-ed25519", "{\"iss\":\"did:test:old\",\"sub\":\"did:test:new\"}",
		  "did:test:new#sig-ed25519", DC_ERR_CRYPTO, "does not verify" },
		/* alg that is not the key's */
		{ "did:test:new", "ES256", "did:test:old#sig-ed25519", "{\"iss\":\"did:test:old\",\"sub\":\"did:test:new\"}",
		  "did:test:old#sig-ed25519", DC_ERR_CRYPTO, "does not verify" },
		/* a key of the old DID that is not an authentication key */
		{ "did:test:new", "EdDSA", "did:test:old#key-x25519-1", "{\"iss\":\"did:test:old\",\"sub\":\"did:test:new\"}",
		  "did:test:old#sig-ed25519", DC_ERR_DENIED, "" },
		/* iss and sub one DID, not DIDs, iat not a number */
		{ "did:test:old", "EdDSA", "did:test:old#sig-ed25519", "{\"iss\":\"did:test:old\",\"sub\":\"did:test:old#x\"}",
		  "did:test:old#sig-ed25519", DC_ERR_MALFORMED, "the same DID" },
		{ "did:test:new", "EdDSA", "did:test:old#sig-ed25519", "{\"iss\":\"did:test:old\",\"sub\":\"new\"}",
		  "did:test:old#sig-ed25519", DC_ERR_MALFORMED, "not a DID" },
		{ "did:test:new", "EdDSA", "did:test:old#sig-ed25519", "{\"iss\":\"did:test:old\",\"sub\":7}",
		  "did:test:old#sig-ed25519", DC_ERR_MALFORMED, "not a DID" },
		{ "did:test:new", "EdDSA", "did:test:old#sig-ed25519",
		  "{\"iss\":\"did:test:old\",\"sub\":\"did:test:new\",\"iat\":\"yesterday\"}", "did:test:old#sig-ed25519",
		  DC_ERR_MALFORMED, "iat is not a number" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		char *jwt = jwt_of(t[i].alg, t[i].kid, t[i].claims, t[i].signer);
		CU_ASSERT_PTR_NOT_NULL_FATAL(jwt);
		struct dc_errinfo ei;
		dc_err rc = unpack_fp(t[i].from, jwt, &ei);
		if (rc != t[i].want || !strstr(ei.msg, t[i].says))
			fprintf(stderr, "\ncase %zu: got %d \"%s\", want %d \"%s\"\n", i, (int)rc, ei.msg, (int)t[i].want,
			        t[i].says);
		CU_ASSERT_EQUAL(rc, t[i].want);
		CU_ASSERT(strstr(ei.msg, t[i].says) != NULL);
		free(jwt);
	}
}

void init_from_prior_tests(void)
{
	CU_pSuite s = CU_add_suite("from_prior", world_init, world_clear);
	TU_ADD(s, roundtrip_all);
	TU_ADD(s, default_time);
	TU_ADD(s, refusals);
	TU_ADD(s, tampered);
	TU_ADD(s, rust_jwt_vectors);
	TU_ADD(s, unpack_checks);
}
