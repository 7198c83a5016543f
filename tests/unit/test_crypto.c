/* Keys and primitives: RFC 3394 known answer, ECDH agreement on every curve, point and
 * private-key validation, low-S ECDSA, signatures that must fail, JWK round trips. */
#include "testutil.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
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

static void ecdh_all_curves(void)
{
	enum dc_crv c[] = { DC_CRV_X25519, DC_CRV_P256, DC_CRV_P384, DC_CRV_P521 };
	for (size_t i = 0; i < 4; i++) {
		struct dc_key *a = NULL, *b = NULL, *bpub = NULL;
		uint8_t z1[DC_MAX_Z], z2[DC_MAX_Z];
		size_t l1 = 0, l2 = 0;
		CU_ASSERT_EQUAL_FATAL(dc__key_generate(c[i], &a), DC_OK);
		CU_ASSERT_EQUAL_FATAL(dc__key_generate(c[i], &b), DC_OK);
		CU_ASSERT_EQUAL_FATAL(dc__key_dup_public(b, &bpub), DC_OK);
		CU_ASSERT_EQUAL(dc__ecdh(a, bpub, z1, &l1), DC_OK);
		CU_ASSERT_EQUAL(dc__ecdh(b, a, z2, &l2), DC_OK);
		CU_ASSERT(l1 == dc__crv_field_len(c[i]) && l1 == l2 && memcmp(z1, z2, l1) == 0);
		/* a public key has no secret to agree with */
		CU_ASSERT_EQUAL(dc__ecdh(bpub, a, z1, &l1), DC_ERR_CRYPTO);
		dc_key_free(a);
		dc_key_free(b);
		dc_key_free(bpub);
	}
	/* X25519 low-order point: all-zero shared secret refused */
	struct dc_key *a = NULL, *zero = NULL;
	uint8_t zp[32] = { 0 }, z[DC_MAX_Z];
	size_t zl = 0;
	CU_ASSERT_EQUAL_FATAL(dc__key_generate(DC_CRV_X25519, &a), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc__key_from_pub(DC_CRV_X25519, zp, 32, &zero), DC_OK);
	CU_ASSERT_EQUAL(dc__ecdh(a, zero, z, &zl), DC_ERR_CRYPTO);
	dc_key_free(a);
	dc_key_free(zero);
}

static void point_validation(void)
{
	enum dc_crv c[] = { DC_CRV_P256, DC_CRV_P384, DC_CRV_P521, DC_CRV_SECP256K1 };
	for (size_t i = 0; i < 4; i++) {
		struct dc_key *k = NULL, *x = NULL;
		CU_ASSERT_EQUAL_FATAL(dc__key_generate(c[i], &k), DC_OK);
		uint8_t p[DC_MAX_PUB];
		memcpy(p, k->pub, k->pub_len);
		p[k->pub_len - 1] ^= 1; /* y off by one: not on the curve */
		CU_ASSERT_EQUAL(dc__key_from_pub(c[i], p, k->pub_len, &x), DC_ERR_MALFORMED);
		CU_ASSERT_EQUAL(dc__key_from_pub(c[i], p, k->pub_len - 1, &x), DC_ERR_MALFORMED);
		/* compressed form decodes to the same point */
		size_t f = dc__crv_field_len(c[i]);
		p[0] = (uint8_t)(0x02 | (k->pub[2 * f] & 1));
		memcpy(p + 1, k->pub + 1, f);
		CU_ASSERT_EQUAL_FATAL(dc__key_from_pub(c[i], p, 1 + f, &x), DC_OK);
		CU_ASSERT(memcmp(x->pub, k->pub, k->pub_len) == 0);
		/* a private key that is not this key's */
		struct dc_key *other = NULL;
		CU_ASSERT_EQUAL_FATAL(dc__key_generate(c[i], &other), DC_OK);
		CU_ASSERT_EQUAL(dc__key_set_priv(x, other->priv, other->priv_len), DC_ERR_MALFORMED);
		CU_ASSERT_EQUAL(dc__key_set_priv(x, k->priv, k->priv_len), DC_OK);
		dc_key_free(other);
		dc_key_free(x);
		dc_key_free(k);
	}
}

static void signatures(void)
{
	enum dc_crv c[] = { DC_CRV_ED25519, DC_CRV_P256, DC_CRV_SECP256K1 };
	for (size_t i = 0; i < 3; i++) {
		struct dc_key *k = NULL;
		CU_ASSERT_EQUAL_FATAL(dc__key_generate(c[i], &k), DC_OK);
		enum dc_sig_alg alg = dc__sig_alg_for_crv(c[i]);
		BIGNUM *half = NULL;
		if (c[i] != DC_CRV_ED25519) {
			EC_GROUP *g = EC_GROUP_new_by_curve_name(c[i] == DC_CRV_P256 ? NID_X9_62_prime256v1 : NID_secp256k1);
			half = BN_dup(EC_GROUP_get0_order(g));
			BN_rshift1(half, half);
			EC_GROUP_free(g);
		}
		for (int round = 0; round < 32; round++) {
			uint8_t sig[64];
			size_t sl = 0;
			const uint8_t m[] = "message";
			CU_ASSERT_EQUAL_FATAL(dc__sign(k, m, 7, sig, sizeof sig, &sl), DC_OK);
			CU_ASSERT_EQUAL(dc__verify(k, alg, m, 7, sig, sl), DC_OK);
			CU_ASSERT_EQUAL(dc__verify(k, alg, m, 6, sig, sl), DC_ERR_CRYPTO);
			if (half) { /* low-S, which secp256k1 verifiers (didcomm-rust) insist on */
				BIGNUM *s = BN_bin2bn(sig + 32, 32, NULL);
				CU_ASSERT(BN_cmp(s, half) <= 0);
				BN_free(s);
			}
			sig[10] ^= 0x20;
			CU_ASSERT_EQUAL(dc__verify(k, alg, m, 7, sig, sl), DC_ERR_CRYPTO);
		}
		/* the wrong algorithm for the key */
		uint8_t sig[64] = { 1 };
		CU_ASSERT_EQUAL(dc__verify(k, alg == DC_SIG_EDDSA ? DC_SIG_ES256 : DC_SIG_EDDSA, sig, 1, sig, 64),
		                DC_ERR_CRYPTO);
		BN_free(half);
		dc_key_free(k);
	}
}

static void jwk_roundtrip(void)
{
	enum dc_crv c[] = { DC_CRV_X25519, DC_CRV_ED25519, DC_CRV_P256, DC_CRV_P384, DC_CRV_P521, DC_CRV_SECP256K1 };
	for (size_t i = 0; i < 6; i++) {
		struct dc_key *k = NULL, *back = NULL;
		char *t = NULL;
		CU_ASSERT_EQUAL_FATAL(dc__key_generate(c[i], &k), DC_OK);
		CU_ASSERT_EQUAL(dc__key_set_kid(k, "did:x:y#k"), DC_OK);
		CU_ASSERT_EQUAL_FATAL(dc_jwk_print(k, true, &t), DC_OK);
		CU_ASSERT_EQUAL_FATAL(dc_jwk_parse_text(t, strlen(t), &back), DC_OK);
		CU_ASSERT(back->pub_len == k->pub_len && memcmp(back->pub, k->pub, k->pub_len) == 0);
		CU_ASSERT(back->priv_len == k->priv_len && memcmp(back->priv, k->priv, k->priv_len) == 0);
		CU_ASSERT_STRING_EQUAL(dc_key_kid(back), "did:x:y#k");
		free(t);
		dc_key_free(back);
		dc_key_free(k);
	}
	const char *bad[] = {
		"{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs=\"}", /* padding */
		"{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlat\"}",    /* short */
		"{\"kty\":\"EC\",\"crv\":\"X25519\",\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs\"}",   /* kty */
		"{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}",
		"{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"AA\"}",
		"{\"kty\":\"OKP\",\"crv\":\"X25519\"}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct dc_key *k = NULL;
		CU_ASSERT_NOT_EQUAL(dc_jwk_parse_text(bad[i], strlen(bad[i]), &k), DC_OK);
		CU_ASSERT_PTR_NULL(k);
	}
}

void init_crypto_tests(void)
{
	CU_pSuite s = CU_add_suite("crypto", NULL, NULL);
	TU_ADD(s, aes_kw_rfc3394);
	TU_ADD(s, aead_roundtrip_and_tamper);
	TU_ADD(s, ecdh_all_curves);
	TU_ADD(s, point_validation);
	TU_ADD(s, signatures);
	TU_ADD(s, jwk_roundtrip);
}
