/* Keys and primitives: RFC 3394, RFC 7748 and RFC 8037 known answers; ECDH agreement on every
 * curve (generated and spec keys) and low-order X25519 points; public point and private scalar
 * validation; signatures (low-S ECDSA, the spec's C.2 signatures checked raw, r/s range, tamper). */
#include "testutil.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hex(const char *h, uint8_t *out)
{
	for (size_t i = 0; h[2 * i]; i++) {
		unsigned v;
		sscanf(h + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

static void aes_kw_rfc3394(void)
{
	/* RFC 3394 §4.6: 256 bits of key data with a 256-bit KEK */
	uint8_t kek[32], data[32], want[40], got[40], back[32];
	hex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", kek);
	hex("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F", data);
	hex("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21", want);
	CU_ASSERT_EQUAL(dc__aes_kw_wrap(kek, data, 32, got), DC_OK);
	CU_ASSERT(memcmp(got, want, 40) == 0);
	CU_ASSERT_EQUAL(dc__aes_kw_unwrap(kek, got, 40, back), DC_OK);
	CU_ASSERT(memcmp(back, data, 32) == 0);
	got[5] ^= 1;
	CU_ASSERT_EQUAL(dc__aes_kw_unwrap(kek, got, 40, back), DC_ERR_CRYPTO);
}

/* Our key wrap (one AES-256-ECB context) against OpenSSL's AES-256-WRAP cipher, for fresh
 * KEKs and every key-data length from 16 to 64 bytes; a changed byte fails the unwrap. */
static void aes_kw_matches_openssl(void)
{
	for (size_t len = 16; len <= 64; len += 8) {
		for (int round = 0; round < 8; round++) {
			uint8_t kek[32], data[64], got[72], want[72], back[64];
			int n = 0, m = 0;
			randombytes_buf(kek, sizeof kek);
			randombytes_buf(data, sizeof data);
			EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
			CU_ASSERT_PTR_NOT_NULL_FATAL(c);
			EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
			CU_ASSERT_FATAL(EVP_EncryptInit_ex(c, EVP_aes_256_wrap(), NULL, kek, NULL) == 1 &&
			                EVP_EncryptUpdate(c, want, &n, data, (int)len) == 1 &&
			                EVP_EncryptFinal_ex(c, want + n, &m) == 1);
			EVP_CIPHER_CTX_free(c);
			CU_ASSERT_EQUAL((size_t)(n + m), len + 8);
			CU_ASSERT_EQUAL(dc__aes_kw_wrap(kek, data, len, got), DC_OK);
			CU_ASSERT(memcmp(got, want, len + 8) == 0);
			CU_ASSERT_EQUAL(dc__aes_kw_unwrap(kek, want, len + 8, back), DC_OK);
			CU_ASSERT(memcmp(back, data, len) == 0);
			want[(size_t)round % (len + 8)] ^= 0x40;
			CU_ASSERT_EQUAL(dc__aes_kw_unwrap(kek, want, len + 8, back), DC_ERR_CRYPTO);
			CU_ASSERT(sodium_is_zero(back, len));
		}
	}
}

static void aead_roundtrip_and_tamper(void)
{
	enum dc_enc encs[] = { DC_ENC_A256CBC_HS512, DC_ENC_A256GCM, DC_ENC_XC20P };
	uint8_t cek[64], iv[24], tag[32], ct[64 + 16], pt[80];
	const char *msg = "attack at dawn, bring the good coffee please";
	size_t n = strlen(msg), ct_len = 0, pt_len = 0;
	for (size_t i = 0; i < 64; i++)
		cek[i] = (uint8_t)i;
	memset(iv, 7, sizeof iv);
	for (size_t e = 0; e < 3; e++) {
		size_t tl = dc__enc_tag_len(encs[e]), il = dc__enc_iv_len(encs[e]);
		CU_ASSERT_EQUAL_FATAL(dc__aead_encrypt(encs[e], cek, iv, (const uint8_t *)"aad", 3, (const uint8_t *)msg, n,
		                                       ct, &ct_len, tag),
		                      DC_OK);
		CU_ASSERT_EQUAL(dc__aead_decrypt(encs[e], cek, iv, il, (const uint8_t *)"aad", 3, ct, ct_len, tag, tl, pt,
		                                 &pt_len),
		                DC_OK);
		CU_ASSERT(pt_len == n && memcmp(pt, msg, n) == 0);
		CU_ASSERT_EQUAL(dc__aead_decrypt(encs[e], cek, iv, il, (const uint8_t *)"aaD", 3, ct, ct_len, tag, tl, pt,
		                                 &pt_len),
		                DC_ERR_CRYPTO);
		tag[0] ^= 1;
		CU_ASSERT_EQUAL(dc__aead_decrypt(encs[e], cek, iv, il, (const uint8_t *)"aad", 3, ct, ct_len, tag, tl, pt,
		                                 &pt_len),
		                DC_ERR_CRYPTO);
		tag[0] ^= 1;
		ct[ct_len - 1] ^= 1;
		CU_ASSERT_EQUAL(dc__aead_decrypt(encs[e], cek, iv, il, (const uint8_t *)"aad", 3, ct, ct_len, tag, tl, pt,
		                                 &pt_len),
		                DC_ERR_CRYPTO);
		CU_ASSERT_EQUAL(dc__aead_decrypt(encs[e], cek, iv, il - 1, (const uint8_t *)"aad", 3, ct, ct_len, tag, tl, pt,
		                                 &pt_len),
		                DC_ERR_CRYPTO);
	}
}

static int crv_nid(enum dc_crv c)
{
	return c == DC_CRV_P256 ? NID_X9_62_prime256v1 : c == DC_CRV_P384 ? NID_secp384r1
	       : c == DC_CRV_P521 ? NID_secp521r1 : NID_secp256k1;
}

static const enum dc_crv all_crv[] = { DC_CRV_X25519, DC_CRV_ED25519, DC_CRV_P256,
	                               DC_CRV_P384,   DC_CRV_P521,    DC_CRV_SECP256K1 };
static const enum dc_crv ec_crv[] = { DC_CRV_P256, DC_CRV_P384, DC_CRV_P521, DC_CRV_SECP256K1 };

/* A private spec key by kid (Bob's secrets spell the member "kid "). */
static struct dc_key *spec_key(const char *kid)
{
	const char *file = strstr(kid, "alice") ? "tests/vectors/keys/alice-secrets.json"
	                                         : "tests/vectors/keys/bob-secrets.json";
	cJSON *a = tu_read_json(file);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	struct dc_key *k = NULL;
	const cJSON *e;
	cJSON_ArrayForEach(e, a) {
		const char *id = dc__json_str(e, "kid") ? dc__json_str(e, "kid") : dc__json_str(e, "kid ");
		if (id && strcmp(id, kid) == 0)
			CU_ASSERT_EQUAL(dc__jwk_parse(e, &k, NULL), DC_OK);
	}
	dc__json_delete_secret(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(k);
	return k;
}

static struct dc_key *pub_of(const struct dc_key *k)
{
	struct dc_key *p = NULL;
	CU_ASSERT_EQUAL_FATAL(dc__key_dup_public(k, &p), DC_OK);
	return p;
}

static void names_and_curve_facts(void)
{
	static const struct {
		enum dc_crv crv;
		const char *name;
		size_t field;
		bool ec, ka;
		enum dc_sig_alg sig;
	} t[] = {
		{ DC_CRV_X25519, "X25519", 32, false, true, DC_SIG_NONE },
		{ DC_CRV_ED25519, "Ed25519", 32, false, false, DC_SIG_EDDSA },
		{ DC_CRV_P256, "P-256", 32, true, true, DC_SIG_ES256 },
		{ DC_CRV_P384, "P-384", 48, true, true, DC_SIG_NONE },
		{ DC_CRV_P521, "P-521", 66, true, true, DC_SIG_NONE },
		{ DC_CRV_SECP256K1, "secp256k1", 32, true, false, DC_SIG_ES256K },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		CU_ASSERT_STRING_EQUAL(dc_crv_name(t[i].crv), t[i].name);
		CU_ASSERT_EQUAL(dc_crv_from_name(t[i].name), t[i].crv);
		CU_ASSERT_EQUAL(dc__crv_field_len(t[i].crv), t[i].field);
		CU_ASSERT_EQUAL(dc__crv_is_ec(t[i].crv), t[i].ec);
		CU_ASSERT_EQUAL(dc__crv_is_key_agreement(t[i].crv), t[i].ka);
		CU_ASSERT_EQUAL(dc__sig_alg_for_crv(t[i].crv), t[i].sig);
	}
	static const char *const bad[] = { "", "x25519", "ed25519", "P256", "p-256", "P-256 ", " P-256", "secp256r1",
		                           "prime256v1", "SECP256K1", "P-224", "X448", "Ed448", "none", "P-2560" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CU_ASSERT_EQUAL(dc_crv_from_name(bad[i]), DC_CRV_NONE);
	CU_ASSERT_EQUAL(dc_crv_from_name(NULL), DC_CRV_NONE);
	CU_ASSERT_EQUAL(dc__crv_field_len(DC_CRV_NONE), 0);
	static const struct {
		enum dc_sig_alg a;
		const char *name;
	} s[] = { { DC_SIG_EDDSA, "EdDSA" }, { DC_SIG_ES256, "ES256" }, { DC_SIG_ES256K, "ES256K" } };
	for (size_t i = 0; i < 3; i++) {
		CU_ASSERT_STRING_EQUAL(dc__sig_alg_name(s[i].a), s[i].name);
		CU_ASSERT_EQUAL(dc__sig_alg_from_name(s[i].name), s[i].a);
	}
	static const char *const bad_alg[] = { "", "eddsa", "ES384", "ES512", "Ed25519", "es256", "ES256K ", "none" };
	for (size_t i = 0; i < sizeof bad_alg / sizeof bad_alg[0]; i++)
		CU_ASSERT_EQUAL(dc__sig_alg_from_name(bad_alg[i]), DC_SIG_NONE);
	CU_ASSERT_EQUAL(dc__sig_alg_from_name(NULL), DC_SIG_NONE);
}

static void generate_and_accessors(void)
{
	for (size_t i = 0; i < 6; i++) {
		enum dc_crv c = all_crv[i];
		size_t f = dc__crv_field_len(c);
		bool ec = dc__crv_is_ec(c);
		struct dc_key *k = NULL, *k2 = NULL;
		CU_ASSERT_EQUAL_FATAL(dc__key_generate(c, &k), DC_OK);
		CU_ASSERT_EQUAL_FATAL(dc__key_generate(c, &k2), DC_OK);
		CU_ASSERT_EQUAL(dc_key_crv(k), c);
		CU_ASSERT(dc_key_has_private(k));
		CU_ASSERT_PTR_NULL(dc_key_kid(k));
		CU_ASSERT_EQUAL(k->pub_len, ec ? 1 + 2 * f : 32);
		CU_ASSERT_EQUAL(k->priv_len, c == DC_CRV_ED25519 ? 64 : f);
		CU_ASSERT(memcmp(k->pub, k2->pub, k->pub_len) != 0);
		if (ec) {
			const uint8_t *x = NULL, *y = NULL;
			CU_ASSERT_EQUAL(k->pub[0], 0x04);
			dc__key_ec_xy(k, &x, &y);
			CU_ASSERT(x == k->pub + 1 && y == k->pub + 1 + f);
		}
		/* the d of a JWK: Ed25519 gives its 32-byte seed */
		uint8_t d[DC_MAX_PRIV];
		size_t dl = 99;
		CU_ASSERT_EQUAL(dc__key_priv_d(k, d, sizeof d, &dl), DC_OK);
		CU_ASSERT_EQUAL(dl, f);
		CU_ASSERT(memcmp(d, k->priv, dl) == 0);
		dl = 99;
		CU_ASSERT_EQUAL(dc__key_priv_d(k, d, f - 1, &dl), DC_ERR_TOO_BIG);
		CU_ASSERT_EQUAL(dl, 0);
		/* a fresh key from its own public part and d is the same key */
		struct dc_key *p = pub_of(k), *p2 = NULL;
		CU_ASSERT(!dc_key_has_private(p) && p->pub_len == k->pub_len && memcmp(p->pub, k->pub, k->pub_len) == 0);
		dl = 99;
		CU_ASSERT_EQUAL(dc__key_priv_d(p, d, sizeof d, &dl), DC_ERR_INVAL);
		CU_ASSERT_EQUAL(dl, 0);
		CU_ASSERT_EQUAL_FATAL(dc__key_from_pub(c, k->pub, k->pub_len, &p2), DC_OK);
		CU_ASSERT_EQUAL(dc__key_priv_d(k, d, sizeof d, &dl), DC_OK);
		CU_ASSERT_EQUAL(dc__key_set_priv(p2, d, dl), DC_OK);
		CU_ASSERT(p2->priv_len == k->priv_len && memcmp(p2->priv, k->priv, k->priv_len) == 0);
		sodium_memzero(d, sizeof d);
		/* kids: copied by dup, replaced, cleared */
		CU_ASSERT_EQUAL(dc__key_set_kid(k, "did:example:a#1"), DC_OK);
		struct dc_key *p3 = pub_of(k);
		CU_ASSERT_STRING_EQUAL(dc_key_kid(p3), "did:example:a#1");
		CU_ASSERT(dc_key_kid(p3) != dc_key_kid(k));
		CU_ASSERT_EQUAL(dc__key_set_kid(k, "did:example:a#2"), DC_OK);
		CU_ASSERT_STRING_EQUAL(dc_key_kid(k), "did:example:a#2");
		CU_ASSERT_EQUAL(dc__key_set_kid(k, NULL), DC_OK);
		CU_ASSERT_PTR_NULL(dc_key_kid(k));
		dc_key_free(p3);
		dc_key_free(p2);
		dc_key_free(p);
		dc_key_free(k2);
		dc_key_free(k);
	}
	struct dc_key *k = (struct dc_key *)1;
	CU_ASSERT_EQUAL(dc__key_generate(DC_CRV_NONE, &k), DC_ERR_UNSUPPORTED);
	CU_ASSERT_PTR_NULL(k);
	dc_key_free(NULL);
	CU_ASSERT_PTR_NULL(dc_key_kid(NULL));
	CU_ASSERT_EQUAL(dc_key_crv(NULL), DC_CRV_NONE);
	CU_ASSERT(!dc_key_has_private(NULL));
}

/* RFC 7748 §6.1: Alice and Bob, both directions. */
static void x25519_rfc7748(void)
{
	uint8_t a_sk[32], a_pk[32], b_sk[32], b_pk[32], k[32], z[DC_MAX_Z];
	hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a", a_sk);
	hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a", a_pk);
	hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb", b_sk);
	hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", b_pk);
	hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742", k);
	struct dc_key *a = NULL, *b = NULL, *ap = NULL, *bp = NULL;
	CU_ASSERT_EQUAL_FATAL(dc__key_from_pub(DC_CRV_X25519, a_pk, 32, &a), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc__key_from_pub(DC_CRV_X25519, b_pk, 32, &b), DC_OK);
	CU_ASSERT_EQUAL(dc__key_set_priv(a, b_sk, 32), DC_ERR_MALFORMED); /* not a's */
	CU_ASSERT_EQUAL(dc__key_set_priv(a, a_sk, 31), DC_ERR_MALFORMED);
	CU_ASSERT(!dc_key_has_private(a));
	CU_ASSERT_EQUAL_FATAL(dc__key_set_priv(a, a_sk, 32), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc__key_set_priv(b, b_sk, 32), DC_OK);
	ap = pub_of(a);
	bp = pub_of(b);
	size_t zl = 0;
	CU_ASSERT_EQUAL(dc__ecdh(a, bp, z, &zl), DC_OK);
	CU_ASSERT(zl == 32 && memcmp(z, k, 32) == 0);
	zl = 0;
	CU_ASSERT_EQUAL(dc__ecdh(b, ap, z, &zl), DC_OK);
	CU_ASSERT(zl == 32 && memcmp(z, k, 32) == 0);
	dc_key_free(a);
	dc_key_free(b);
	dc_key_free(ap);
	dc_key_free(bp);
}

/* Points of small order give an all-zero shared secret, which must be refused. */
static void x25519_low_order(void)
{
	static const char *const pts[] = {
		"0000000000000000000000000000000000000000000000000000000000000000", /* 0 */
		"0100000000000000000000000000000000000000000000000000000000000000", /* 1 */
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", /* order 8 */
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157", /* order 8 */
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* p - 1 */
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* p */
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* p + 1 */
	};
	struct dc_key *a = NULL;
	CU_ASSERT_EQUAL_FATAL(dc__key_generate(DC_CRV_X25519, &a), DC_OK);
	for (size_t i = 0; i < sizeof pts / sizeof pts[0]; i++) {
		uint8_t p[32], z[DC_MAX_Z];
		struct dc_key *lo = NULL;
		hex(pts[i], p);
		CU_ASSERT_EQUAL_FATAL(dc__key_from_pub(DC_CRV_X25519, p, 32, &lo), DC_OK);
		size_t zl = 99;
		memset(z, 0xaa, sizeof z);
		CU_ASSERT_EQUAL(dc__ecdh(a, lo, z, &zl), DC_ERR_CRYPTO);
		CU_ASSERT_EQUAL(zl, 0);
		CU_ASSERT(sodium_is_zero(z, sizeof z));
		dc_key_free(lo);
	}
	dc_key_free(a);
}

static void ecdh_all_curves(void)
{
	enum dc_crv c[] = { DC_CRV_X25519, DC_CRV_P256, DC_CRV_P384, DC_CRV_P521 };
	for (size_t i = 0; i < 4; i++) {
		for (int round = 0; round < 4; round++) {
			struct dc_key *a = NULL, *b = NULL, *apub = NULL, *bpub = NULL;
			uint8_t z1[DC_MAX_Z], z2[DC_MAX_Z];
			size_t l1 = 0, l2 = 0;
			CU_ASSERT_EQUAL_FATAL(dc__key_generate(c[i], &a), DC_OK);
			CU_ASSERT_EQUAL_FATAL(dc__key_generate(c[i], &b), DC_OK);
			apub = pub_of(a);
			bpub = pub_of(b);
			CU_ASSERT_EQUAL(dc__ecdh(a, bpub, z1, &l1), DC_OK);
			CU_ASSERT_EQUAL(dc__ecdh(b, apub, z2, &l2), DC_OK);
			CU_ASSERT(l1 == dc__crv_field_len(c[i]) && l1 == l2 && memcmp(z1, z2, l1) == 0);
			CU_ASSERT_EQUAL(dc__ecdh(a, b, z2, &l2), DC_OK); /* the peer's private part is not used */
			CU_ASSERT(l2 == l1 && memcmp(z1, z2, l1) == 0);
			/* a public key has no secret to agree with */
			CU_ASSERT_EQUAL(dc__ecdh(bpub, a, z1, &l1), DC_ERR_CRYPTO);
			CU_ASSERT_EQUAL(l1, 0);
			dc_key_free(a);
			dc_key_free(b);
			dc_key_free(apub);
			dc_key_free(bpub);
		}
	}
	/* curves that differ, or that are not for key agreement */
	struct dc_key *k[6] = { NULL };
	for (size_t i = 0; i < 6; i++)
		CU_ASSERT_EQUAL_FATAL(dc__key_generate(all_crv[i], &k[i]), DC_OK);
	for (size_t i = 0; i < 6; i++) {
		for (size_t j = 0; j < 6; j++) {
			uint8_t z[DC_MAX_Z];
			size_t zl = 99;
			dc_err want = (i == j && dc__crv_is_key_agreement(all_crv[i])) ? DC_OK : DC_ERR_CRYPTO;
			CU_ASSERT_EQUAL(dc__ecdh(k[i], k[j], z, &zl), want);
			if (want)
				CU_ASSERT_EQUAL(zl, 0);
		}
	}
	for (size_t i = 0; i < 6; i++)
		dc_key_free(k[i]);
}

/* The spec's Alice and Bob key-agreement keys agree, both directions. */
static void ecdh_spec_keys(void)
{
	static const char *const pairs[][2] = {
		{ "did:example:alice#key-x25519-1", "did:example:bob#key-x25519-1" },
		{ "did:example:alice#key-x25519-1", "did:example:bob#key-x25519-2" },
		{ "did:example:alice#key-x25519-1", "did:example:bob#key-x25519-3" },
		{ "did:example:alice#key-p256-1", "did:example:bob#key-p256-1" },
		{ "did:example:alice#key-p256-1", "did:example:bob#key-p256-2" },
		{ "did:example:bob#key-p384-1", "did:example:bob#key-p384-2" },
		{ "did:example:alice#key-p521-1", "did:example:bob#key-p521-1" },
		{ "did:example:alice#key-p521-1", "did:example:bob#key-p521-2" },
	};
	for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		struct dc_key *a = spec_key(pairs[i][0]), *b = spec_key(pairs[i][1]);
		struct dc_key *ap = pub_of(a), *bp = pub_of(b);
		uint8_t z1[DC_MAX_Z], z2[DC_MAX_Z];
		size_t l1 = 0, l2 = 0;
		CU_ASSERT_EQUAL(dc__ecdh(a, bp, z1, &l1), DC_OK);
		CU_ASSERT_EQUAL(dc__ecdh(b, ap, z2, &l2), DC_OK);
		CU_ASSERT(l1 == dc__crv_field_len(a->crv) && l1 == l2 && memcmp(z1, z2, l1) == 0);
		dc_key_free(a);
		dc_key_free(b);
		dc_key_free(ap);
		dc_key_free(bp);
	}
}

/* EC public points: compressed and uncompressed accepted, everything else refused. */
static void point_validation(void)
{
	for (size_t i = 0; i < 4; i++) {
		enum dc_crv c = ec_crv[i];
		size_t f = dc__crv_field_len(c);
		struct dc_key *k = NULL, *x = NULL;
		CU_ASSERT_EQUAL_FATAL(dc__key_generate(c, &k), DC_OK);
		uint8_t p[DC_MAX_PUB + 2];
		/* compressed form decodes to the same point; the other parity to its negation */
		p[0] = (uint8_t)(0x02 | (k->pub[2 * f] & 1));
		memcpy(p + 1, k->pub + 1, f);
		CU_ASSERT_EQUAL_FATAL(dc__key_from_pub(c, p, 1 + f, &x), DC_OK);
		CU_ASSERT(x->pub_len == k->pub_len && memcmp(x->pub, k->pub, k->pub_len) == 0);
		dc_key_free(x);
		x = NULL;
		EC_GROUP *g = EC_GROUP_new_by_curve_name(crv_nid(c));
		EC_POINT *q = EC_POINT_new(g);
		uint8_t neg[DC_MAX_PUB], fieldp[DC_MAX_PUB];
		BIGNUM *bp = BN_new();
		CU_ASSERT_FATAL(g && q && bp && EC_POINT_oct2point(g, q, k->pub, k->pub_len, NULL) == 1 &&
		                EC_POINT_invert(g, q, NULL) == 1 &&
		                EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, neg, sizeof neg, NULL) == k->pub_len &&
		                EC_GROUP_get_curve(g, bp, NULL, NULL, NULL) == 1 && BN_bn2binpad(bp, fieldp, (int)f) == (int)f);
		p[0] ^= 1;
		CU_ASSERT_EQUAL_FATAL(dc__key_from_pub(c, p, 1 + f, &x), DC_OK);
		CU_ASSERT(memcmp(x->pub, neg, k->pub_len) == 0);
		dc_key_free(x);
		x = NULL;
		/* refused encodings */
		struct {
			const char *what;
			size_t len;
		} bad[16];
		size_t nb = 0;
		uint8_t enc[16][DC_MAX_PUB + 2];
#define BAD(w, l) (bad[nb].what = (w), bad[nb].len = (l), enc[nb++])
		memcpy(BAD("y off by one", k->pub_len), k->pub, k->pub_len);
		enc[nb - 1][k->pub_len - 1] ^= 1;
		memcpy(BAD("one byte short", k->pub_len - 1), k->pub, k->pub_len - 1);
		memcpy(BAD("one byte long", k->pub_len + 1), k->pub, k->pub_len);
		enc[nb - 1][k->pub_len] = 0;
		memcpy(BAD("no prefix", 2 * f), k->pub + 1, 2 * f);
		BAD("empty", 0);
		BAD("infinity (0x00)", 1)[0] = 0;
		memcpy(BAD("prefix 0x05", k->pub_len), k->pub, k->pub_len);
		enc[nb - 1][0] = 0x05;
		memcpy(BAD("hybrid 0x06", k->pub_len), k->pub, k->pub_len);
		enc[nb - 1][0] = 0x06;
		memcpy(BAD("hybrid 0x07", k->pub_len), k->pub, k->pub_len);
		enc[nb - 1][0] = 0x07;
		uint8_t *z = BAD("x = y = 0", k->pub_len);
		memset(z, 0, k->pub_len);
		z[0] = 0x04;
		z = BAD("x all ones", k->pub_len);
		memcpy(z, k->pub, k->pub_len);
		memset(z + 1, 0xff, f);
		z = BAD("compressed x = p", 1 + f);
		z[0] = 0x02;
		memcpy(z + 1, fieldp, f);
		z = BAD("uncompressed y + p (when it fits) or y = p", k->pub_len);
		memcpy(z, k->pub, 1 + f);
		memcpy(z + 1 + f, fieldp, f);
		z = BAD("compressed, one byte short", f);
		memcpy(z, p, f);
		z = BAD("compressed with 0x04", 1 + f);
		memcpy(z, p, 1 + f);
		z[0] = 0x04;
#undef BAD
		for (size_t j = 0; j < nb; j++) {
			x = (struct dc_key *)1;
			dc_err rc = dc__key_from_pub(c, enc[j], bad[j].len, &x);
			if (rc != DC_ERR_MALFORMED)
				fprintf(stderr, "\n  %s %s: %s\n", dc_crv_name(c), bad[j].what, dc_strerror(rc));
			CU_ASSERT_EQUAL(rc, DC_ERR_MALFORMED);
			CU_ASSERT_PTR_NULL(x);
		}
		BN_free(bp);
		EC_POINT_free(q);
		EC_GROUP_free(g);
		/* a private key that is not this key's */
		struct dc_key *other = NULL;
		CU_ASSERT_EQUAL_FATAL(dc__key_from_pub(c, k->pub, k->pub_len, &x), DC_OK);
		CU_ASSERT_EQUAL_FATAL(dc__key_generate(c, &other), DC_OK);
		CU_ASSERT_EQUAL(dc__key_set_priv(x, other->priv, other->priv_len), DC_ERR_MALFORMED);
		CU_ASSERT(!dc_key_has_private(x));
		CU_ASSERT_EQUAL(dc__key_set_priv(x, k->priv, k->priv_len), DC_OK);
		dc_key_free(other);
		dc_key_free(x);
		dc_key_free(k);
	}
	/* OKP: exactly 32 bytes; Ed25519 also refuses small-order and non-canonical encodings */
	static const struct {
		enum dc_crv c;
		const char *hex;
		dc_err want;
	} okp[] = {
		{ DC_CRV_ED25519, "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", DC_OK }, /* RFC 8037 */
		{ DC_CRV_ED25519, "0100000000000000000000000000000000000000000000000000000000000000", DC_ERR_MALFORMED },
		{ DC_CRV_ED25519, "0000000000000000000000000000000000000000000000000000000000000000", DC_ERR_MALFORMED },
		{ DC_CRV_ED25519, "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", DC_ERR_MALFORMED },
		{ DC_CRV_ED25519, "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", DC_ERR_MALFORMED },
		{ DC_CRV_X25519, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f", DC_OK },
	};
	for (size_t i = 0; i < sizeof okp / sizeof okp[0]; i++) {
		uint8_t b[33] = { 0 };
		struct dc_key *k = NULL;
		hex(okp[i].hex, b);
		CU_ASSERT_EQUAL(dc__key_from_pub(okp[i].c, b, 32, &k), okp[i].want);
		dc_key_free(k);
		k = (struct dc_key *)1;
		CU_ASSERT_EQUAL(dc__key_from_pub(okp[i].c, b, 31, &k), DC_ERR_MALFORMED);
		CU_ASSERT_PTR_NULL(k);
		CU_ASSERT_EQUAL(dc__key_from_pub(okp[i].c, b, 33, &k), DC_ERR_MALFORMED);
		CU_ASSERT_PTR_NULL(k);
	}
	struct dc_key *k = (struct dc_key *)1;
	uint8_t b[32] = { 9 };
	CU_ASSERT_EQUAL(dc__key_from_pub(DC_CRV_NONE, b, 32, &k), DC_ERR_UNSUPPORTED);
	CU_ASSERT_PTR_NULL(k);
}

/* EC private scalars: 1 <= d < n, shorter input left-padded, d*G must be the public key. With
 * pub = G and d = 1, ECDH with any B is B's x coordinate: a known answer on every curve. */
static void ec_private_scalar(void)
{
	for (size_t i = 0; i < 4; i++) {
		enum dc_crv c = ec_crv[i];
		size_t f = dc__crv_field_len(c);
		EC_GROUP *g = EC_GROUP_new_by_curve_name(crv_nid(c));
		EC_POINT *mg = EC_POINT_new(g);
		uint8_t gen[DC_MAX_PUB], mgen[DC_MAX_PUB], n[DC_MAX_PRIV], d[DC_MAX_PRIV + 1];
		size_t pl = 1 + 2 * f;
		BIGNUM *t = BN_new();
		CU_ASSERT_FATAL(g && mg && t &&
		                EC_POINT_point2oct(g, EC_GROUP_get0_generator(g), POINT_CONVERSION_UNCOMPRESSED, gen, sizeof gen,
		                                   NULL) == pl &&
		                EC_POINT_copy(mg, EC_GROUP_get0_generator(g)) == 1 && EC_POINT_invert(g, mg, NULL) == 1 &&
		                EC_POINT_point2oct(g, mg, POINT_CONVERSION_UNCOMPRESSED, mgen, sizeof mgen, NULL) == pl &&
		                BN_bn2binpad(EC_GROUP_get0_order(g), n, (int)f) == (int)f);
		struct {
			const char *what;
			const uint8_t *pub;
			int d; /* 0: zero, 1: one, -1: n - 1, 2: n, 3: n + 1 */
			size_t len;
			dc_err want;
		} t_[] = {
			{ "d = 1, one byte", gen, 1, 1, DC_OK },
			{ "d = 1, field length", gen, 1, f, DC_OK },
			{ "d = 1, over field length", gen, 1, f + 1, DC_ERR_MALFORMED },
			{ "d = 1, no bytes", gen, 1, 0, DC_ERR_MALFORMED },
			{ "d = 0", gen, 0, f, DC_ERR_MALFORMED },
			{ "d = n (0 mod n)", gen, 2, f, DC_ERR_MALFORMED },
			{ "d = n + 1 (1 mod n)", gen, 3, f, DC_ERR_MALFORMED },
			{ "d = n - 1 for -G", mgen, -1, f, DC_OK },
			{ "d = n - 1 for G", gen, -1, f, DC_ERR_MALFORMED },
			{ "d = 1 for -G", mgen, 1, f, DC_ERR_MALFORMED },
		};
		for (size_t j = 0; j < sizeof t_ / sizeof t_[0]; j++) {
			memset(d, 0, sizeof d);
			size_t len = t_[j].len;
			if (t_[j].d == 1) {
				d[len ? len - 1 : 0] = 1;
			} else if (t_[j].d != 0) {
				BN_bin2bn(n, (int)f, t);
				if (t_[j].d == -1)
					BN_sub_word(t, 1);
				else if (t_[j].d == 3)
					BN_add_word(t, 1);
				CU_ASSERT_FATAL(BN_bn2binpad(t, d, (int)f) == (int)f);
			}
			struct dc_key *k = NULL;
			CU_ASSERT_EQUAL_FATAL(dc__key_from_pub(c, t_[j].pub, pl, &k), DC_OK);
			dc_err rc = dc__key_set_priv(k, d, len);
			if (rc != t_[j].want)
				fprintf(stderr, "\n  %s %s: %s\n", dc_crv_name(c), t_[j].what, dc_strerror(rc));
			CU_ASSERT_EQUAL(rc, t_[j].want);
			CU_ASSERT_EQUAL(dc_key_has_private(k), rc == DC_OK);
			if (rc == DC_OK && t_[j].d == 1) {
				uint8_t out[DC_MAX_PRIV];
				size_t ol = 0;
				CU_ASSERT_EQUAL(dc__key_priv_d(k, out, sizeof out, &ol), DC_OK);
				CU_ASSERT(ol == f && out[f - 1] == 1 && sodium_is_zero(out, f - 1));
				if (dc__crv_is_key_agreement(c)) {
					struct dc_key *b = NULL, *bp = NULL;
					uint8_t z[DC_MAX_Z];
					size_t zl = 0;
					CU_ASSERT_EQUAL_FATAL(dc__key_generate(c, &b), DC_OK);
					bp = pub_of(b);
					CU_ASSERT_EQUAL(dc__ecdh(k, bp, z, &zl), DC_OK);
					CU_ASSERT(zl == f && memcmp(z, b->pub + 1, f) == 0);
					dc_key_free(bp);
					dc_key_free(b);
				}
			}
			dc_key_free(k);
		}
		BN_free(t);
		EC_POINT_free(mg);
		EC_GROUP_free(g);
	}
	/* OKP: exactly 32 bytes */
	struct dc_key *k = NULL;
	uint8_t d[33] = { 0 };
	for (int c = 0; c < 2; c++) {
		CU_ASSERT_EQUAL_FATAL(dc__key_generate(c ? DC_CRV_ED25519 : DC_CRV_X25519, &k), DC_OK);
		memcpy(d, k->priv, 32);
		struct dc_key *p = pub_of(k);
		CU_ASSERT_EQUAL(dc__key_set_priv(p, d, 31), DC_ERR_MALFORMED);
		CU_ASSERT_EQUAL(dc__key_set_priv(p, d, 33), DC_ERR_MALFORMED);
		d[5] ^= 1;
		CU_ASSERT_EQUAL(dc__key_set_priv(p, d, 32), DC_ERR_MALFORMED);
		d[5] ^= 1;
		CU_ASSERT_EQUAL(dc__key_set_priv(p, d, 32), DC_OK);
		CU_ASSERT(p->priv_len == k->priv_len && memcmp(p->priv, k->priv, k->priv_len) == 0);
		dc_key_free(p);
		dc_key_free(k);
	}
	sodium_memzero(d, sizeof d);
}

/* Big-endian order n of an ECDSA curve, from OpenSSL. */
static void ecdsa_order(enum dc_crv c, uint8_t n[32])
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(crv_nid(c));
	CU_ASSERT_FATAL(g && BN_bn2binpad(EC_GROUP_get0_order(g), n, 32) == 32);
	EC_GROUP_free(g);
}

/* 32-byte big-endian a = n - a */
static void neg_mod(uint8_t a[32], const uint8_t n[32])
{
	BIGNUM *x = BN_bin2bn(a, 32, NULL), *m = BN_bin2bn(n, 32, NULL);
	CU_ASSERT_FATAL(x && m && BN_sub(x, m, x) && BN_bn2binpad(x, a, 32) == 32);
	BN_free(x);
	BN_free(m);
}

static void signatures(void)
{
	enum dc_crv c[] = { DC_CRV_ED25519, DC_CRV_P256, DC_CRV_SECP256K1 };
	for (size_t i = 0; i < 3; i++) {
		struct dc_key *k = NULL, *other = NULL, *pub = NULL;
		CU_ASSERT_EQUAL_FATAL(dc__key_generate(c[i], &k), DC_OK);
		CU_ASSERT_EQUAL_FATAL(dc__key_generate(c[i], &other), DC_OK);
		pub = pub_of(k);
		enum dc_sig_alg alg = dc__sig_alg_for_crv(c[i]);
		uint8_t n[32] = { 0 }, half[32] = { 0 };
		if (c[i] != DC_CRV_ED25519) {
			ecdsa_order(c[i], n);
			BIGNUM *h = BN_bin2bn(n, 32, NULL);
			BN_rshift1(h, h);
			BN_bn2binpad(h, half, 32);
			BN_free(h);
		}
		for (int round = 0; round < 32; round++) {
			uint8_t sig[64];
			size_t sl = 0;
			const uint8_t m[] = "message";
			CU_ASSERT_EQUAL_FATAL(dc__sign(k, m, 7, sig, sizeof sig, &sl), DC_OK);
			CU_ASSERT_EQUAL(sl, 64);
			CU_ASSERT_EQUAL(dc__verify(pub, alg, m, 7, sig, sl), DC_OK);
			CU_ASSERT_EQUAL(dc__verify(k, alg, m, 7, sig, sl), DC_OK);
			CU_ASSERT_EQUAL(dc__verify(other, alg, m, 7, sig, sl), DC_ERR_CRYPTO);
			CU_ASSERT_EQUAL(dc__verify(pub, alg, m, 6, sig, sl), DC_ERR_CRYPTO);
			CU_ASSERT_EQUAL(dc__verify(pub, alg, m, 7, sig, 63), DC_ERR_CRYPTO);
			CU_ASSERT_EQUAL(dc__verify(pub, DC_SIG_NONE, m, 7, sig, sl), DC_ERR_CRYPTO);
			if (c[i] != DC_CRV_ED25519) {
				/* low-S, which secp256k1 verifiers (didcomm-rust) insist on; high-S still verifies */
				CU_ASSERT(memcmp(sig + 32, half, 32) <= 0);
				uint8_t hs[64];
				memcpy(hs, sig, 64);
				neg_mod(hs + 32, n);
				CU_ASSERT_EQUAL(dc__verify(pub, alg, m, 7, hs, 64), DC_OK);
			}
			sig[10] ^= 0x20;
			CU_ASSERT_EQUAL(dc__verify(pub, alg, m, 7, sig, sl), DC_ERR_CRYPTO);
			sig[10] ^= 0x20;
			sig[63] ^= 0x01;
			CU_ASSERT_EQUAL(dc__verify(pub, alg, m, 7, sig, sl), DC_ERR_CRYPTO);
		}
		/* the wrong algorithm for the key */
		static const enum dc_sig_alg algs[] = { DC_SIG_EDDSA, DC_SIG_ES256, DC_SIG_ES256K };
		uint8_t sig[64];
		size_t sl = 0;
		CU_ASSERT_EQUAL_FATAL(dc__sign(k, (const uint8_t *)"m", 1, sig, sizeof sig, &sl), DC_OK);
		for (size_t a = 0; a < 3; a++)
			CU_ASSERT_EQUAL(dc__verify(pub, algs[a], (const uint8_t *)"m", 1, sig, 64),
			                algs[a] == alg ? DC_OK : DC_ERR_CRYPTO);
		/* r and s outside [1, n-1] */
		if (c[i] != DC_CRV_ED25519) {
			uint8_t ones[32], n1[32];
			memset(ones, 0xff, 32);
			memcpy(n1, n, 32);
			n1[31]++; /* n + 1: the low byte of both orders is below 0xff */
			const uint8_t zero[32] = { 0 };
			const uint8_t *vals[] = { zero, n, n1, ones };
			for (size_t v = 0; v < 4; v++) {
				for (int half_i = 0; half_i < 2; half_i++) {
					uint8_t bad[64];
					memcpy(bad, sig, 64);
					memcpy(bad + 32 * half_i, vals[v], 32);
					CU_ASSERT_EQUAL(dc__verify(pub, alg, (const uint8_t *)"m", 1, bad, 64), DC_ERR_CRYPTO);
				}
			}
			/* r + n is r modulo n but not a valid r */
			uint8_t rn[64];
			memcpy(rn, sig, 64);
			BIGNUM *r = BN_bin2bn(sig, 32, NULL), *bn = BN_bin2bn(n, 32, NULL);
			BN_add(r, r, bn);
			if (BN_num_bytes(r) <= 32) {
				BN_bn2binpad(r, rn, 32);
				CU_ASSERT_EQUAL(dc__verify(pub, alg, (const uint8_t *)"m", 1, rn, 64), DC_ERR_CRYPTO);
			}
			BN_free(r);
			BN_free(bn);
		}
		/* no private part, too little room */
		sl = 99;
		CU_ASSERT_EQUAL(dc__sign(pub, (const uint8_t *)"m", 1, sig, sizeof sig, &sl), DC_ERR_INVAL);
		CU_ASSERT_EQUAL(sl, 0);
		sl = 99;
		CU_ASSERT_EQUAL(dc__sign(k, (const uint8_t *)"m", 1, sig, 63, &sl), DC_ERR_INVAL);
		CU_ASSERT_EQUAL(sl, 0);
		dc_key_free(pub);
		dc_key_free(other);
		dc_key_free(k);
	}
	/* curves we do not sign with */
	enum dc_crv nosig[] = { DC_CRV_X25519, DC_CRV_P384, DC_CRV_P521 };
	for (size_t i = 0; i < 3; i++) {
		struct dc_key *k = NULL;
		uint8_t sig[132] = { 0 };
		size_t sl = 99;
		CU_ASSERT_EQUAL_FATAL(dc__key_generate(nosig[i], &k), DC_OK);
		CU_ASSERT_EQUAL(dc__sign(k, (const uint8_t *)"m", 1, sig, sizeof sig, &sl), DC_ERR_UNSUPPORTED);
		CU_ASSERT_EQUAL(sl, 0);
		for (int a = DC_SIG_NONE; a <= DC_SIG_ES256K; a++)
			CU_ASSERT_EQUAL(dc__verify(k, (enum dc_sig_alg)a, (const uint8_t *)"m", 1, sig, 64), DC_ERR_CRYPTO);
		dc_key_free(k);
	}
}

/* RFC 8037 A.1, A.2 and A.4: Ed25519 is deterministic, so the signature is a known answer. */
static void ed25519_rfc8037(void)
{
	const char *priv = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\","
	                   "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
	const char *pubj = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";
	const char *input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
	const char *want_b64 = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
	uint8_t want[64], sig[64], seed[32];
	size_t wl = 0, sl = 0, dl = 0;
	struct dc_key *k = NULL, *p = NULL;
	CU_ASSERT_EQUAL_FATAL(dc__b64url_decode_to(want_b64, strlen(want_b64), want, sizeof want, &wl), DC_OK);
	CU_ASSERT_EQUAL_FATAL(wl, 64);
	CU_ASSERT_EQUAL_FATAL(dc_jwk_parse_text(priv, strlen(priv), &k), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_jwk_parse_text(pubj, strlen(pubj), &p), DC_OK);
	CU_ASSERT_EQUAL(dc__key_priv_d(k, seed, sizeof seed, &dl), DC_OK);
	uint8_t want_seed[32];
	hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", want_seed); /* RFC 8032 7.1 test 1 */
	CU_ASSERT(dl == 32 && memcmp(seed, want_seed, 32) == 0);
	CU_ASSERT_EQUAL(dc__sign(k, (const uint8_t *)input, strlen(input), sig, sizeof sig, &sl), DC_OK);
	CU_ASSERT(sl == 64 && memcmp(sig, want, 64) == 0);
	CU_ASSERT_EQUAL(dc__verify(p, DC_SIG_EDDSA, (const uint8_t *)input, strlen(input), want, 64), DC_OK);
	CU_ASSERT_EQUAL(dc__verify(p, DC_SIG_EDDSA, (const uint8_t *)input, strlen(input) - 1, want, 64), DC_ERR_CRYPTO);
	want[0] ^= 1;
	CU_ASSERT_EQUAL(dc__verify(p, DC_SIG_EDDSA, (const uint8_t *)input, strlen(input), want, 64), DC_ERR_CRYPTO);
	sodium_memzero(seed, sizeof seed);
	dc_key_free(k);
	dc_key_free(p);
}

/* The spec's C.2 signatures, checked here at the raw level (signing input, r||s or R||S). */
static void spec_signatures_raw(void)
{
	static const char *const files[] = {
		"tests/vectors/messages/c2-signed-eddsa.json",
		"tests/vectors/messages/c2-signed-es256.json",
		"tests/vectors/messages/c2-signed-es256k.json",
	};
	for (size_t i = 0; i < 3; i++) {
		cJSON *v = tu_read_json(files[i]);
		CU_ASSERT_PTR_NOT_NULL_FATAL(v);
		const cJSON *packed = dc__json_obj(v, "packed");
		const cJSON *s0 = cJSON_GetArrayItem(dc__json_arr(packed, "signatures"), 0);
		const char *payload = dc__json_str(packed, "payload"), *prot = dc__json_str(s0, "protected");
		const char *sig_b64 = dc__json_str(s0, "signature"), *kid = dc__json_str(dc__json_obj(s0, "header"), "kid");
		const char *alg_s = dc__json_str(cJSON_GetArrayItem(dc__json_arr(v, "decoded_protected"), 0), "alg");
		CU_ASSERT_FATAL(payload && prot && sig_b64 && kid && alg_s);
		enum dc_sig_alg alg = dc__sig_alg_from_name(alg_s);
		struct dc_key *k = spec_key(kid), *p = pub_of(k);
		CU_ASSERT_EQUAL(dc__sig_alg_for_crv(p->crv), alg);
		size_t in_len = strlen(prot) + 1 + strlen(payload);
		char *in = malloc(in_len + 1);
		CU_ASSERT_PTR_NOT_NULL_FATAL(in);
		snprintf(in, in_len + 1, "%s.%s", prot, payload);
		uint8_t sig[64];
		size_t sl = 0;
		CU_ASSERT_EQUAL_FATAL(dc__b64url_decode_to(sig_b64, strlen(sig_b64), sig, sizeof sig, &sl), DC_OK);
		CU_ASSERT_EQUAL(dc__verify(p, alg, (const uint8_t *)in, in_len, sig, sl), DC_OK);
		if (alg != DC_SIG_EDDSA) { /* the other S verifies too */
			uint8_t n[32];
			ecdsa_order(p->crv, n);
			neg_mod(sig + 32, n);
			CU_ASSERT_EQUAL(dc__verify(p, alg, (const uint8_t *)in, in_len, sig, sl), DC_OK);
			neg_mod(sig + 32, n);
		}
		in[in_len - 1] ^= 1;
		CU_ASSERT_EQUAL(dc__verify(p, alg, (const uint8_t *)in, in_len, sig, sl), DC_ERR_CRYPTO);
		in[in_len - 1] ^= 1;
		/* our own signature over the same input verifies as well */
		uint8_t mine[64];
		size_t ml = 0;
		CU_ASSERT_EQUAL(dc__sign(k, (const uint8_t *)in, in_len, mine, sizeof mine, &ml), DC_OK);
		CU_ASSERT_EQUAL(dc__verify(p, alg, (const uint8_t *)in, in_len, mine, ml), DC_OK);
		free(in);
		dc_key_free(p);
		dc_key_free(k);
		cJSON_Delete(v);
	}
}

void init_crypto_tests(void)
{
	CU_pSuite s = CU_add_suite("crypto", NULL, NULL);
	TU_ADD(s, aes_kw_rfc3394);
	TU_ADD(s, aes_kw_matches_openssl);
	TU_ADD(s, aead_roundtrip_and_tamper);
	TU_ADD(s, names_and_curve_facts);
	TU_ADD(s, generate_and_accessors);
	TU_ADD(s, x25519_rfc7748);
	TU_ADD(s, x25519_low_order);
	TU_ADD(s, ecdh_all_curves);
	TU_ADD(s, ecdh_spec_keys);
	TU_ADD(s, point_validation);
	TU_ADD(s, ec_private_scalar);
	TU_ADD(s, signatures);
	TU_ADD(s, ed25519_rfc8037);
	TU_ADD(s, spec_signatures_raw);
}
