/* Concat KDF (NIST SP 800-56A §5.8.1) as JWA §4.6 uses it, one SHA-256 round for a 256-bit
 * key; for ECDH-1PU the content tag is appended to SuppPubInfo, length-prefixed
 * (draft-madden-jose-ecdh-1pu-04 §2.3). SHA-256 from OpenSSL (see evp.c). */
#include "internal.h"

#include <openssl/evp.h>
#include <sodium.h>
#include <string.h>

static void be32(uint8_t b[4], uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

static int upd_len(EVP_MD_CTX *c, const uint8_t *p, size_t n)
{
	uint8_t l[4];
	be32(l, (uint32_t)n);
	return EVP_DigestUpdate(c, l, 4) == 1 && (n == 0 || EVP_DigestUpdate(c, p, n) == 1);
}

static uint8_t *put_len(uint8_t *b, const uint8_t *p, size_t n)
{
	be32(b, (uint32_t)n);
	if (n)
		memcpy(b + 4, p, n);
	return b + 4 + n;
}

/* The KDF's input, written out (KDF_BUF bytes hold the usual one: Z, the algorithm, a kid in
 * apu, apv and a tag take some 250) and hashed in one EVP_Digest call: one call into the
 * provider instead of eleven updates. Longer inputs are hashed piece by piece. */
#define KDF_BUF 512

dc_err dc__concat_kdf(const uint8_t *z, size_t z_len, const char *alg, const uint8_t *apu, size_t apu_len,
                      const uint8_t *apv, size_t apv_len, const uint8_t *tag, size_t tag_len, uint8_t out[32])
{
	if (z_len > 2 * DC_MAX_Z || apu_len > UINT32_MAX || apv_len > UINT32_MAX || tag_len > UINT32_MAX)
		return DC_ERR_INVAL;
	uint8_t one[4], bits[4];
	unsigned int n = 0;
	size_t alg_len = strlen(alg);
	int ok;
	be32(one, 1); /* round counter */
	be32(bits, 256);
	if (z_len + alg_len + apu_len + apv_len + (tag ? tag_len + 4 : 0) <= KDF_BUF - 20) {
		uint8_t b[KDF_BUF], *p = b;
		memcpy(p, one, 4);
		memcpy(p + 4, z, z_len);
		p = put_len(p + 4 + z_len, (const uint8_t *)alg, alg_len);
		p = put_len(p, apu, apu_len);
		p = put_len(p, apv, apv_len);
		memcpy(p, bits, 4);
		p += 4;
		if (tag)
			p = put_len(p, tag, tag_len);
		ok = EVP_Digest(b, (size_t)(p - b), out, &n, dc__evp_md(DC_MD_SHA256), NULL) == 1 && n == 32;
		sodium_memzero(b, (size_t)(p - b)); /* it held Z; EVP_Digest cleanses its own state */
	} else {
		EVP_MD_CTX *c = EVP_MD_CTX_new();
		ok = c && EVP_DigestInit_ex(c, dc__evp_md(DC_MD_SHA256), NULL) == 1 && EVP_DigestUpdate(c, one, 4) == 1 &&
		     EVP_DigestUpdate(c, z, z_len) == 1 && upd_len(c, (const uint8_t *)alg, alg_len) &&
		     upd_len(c, apu, apu_len) && upd_len(c, apv, apv_len) && EVP_DigestUpdate(c, bits, 4) == 1 &&
		     (!tag || upd_len(c, tag, tag_len)) && EVP_DigestFinal_ex(c, out, &n) == 1 && n == 32;
		EVP_MD_CTX_free(c); /* cleanses the state, which held Z */
	}
	if (!ok) {
		sodium_memzero(out, 32);
		return DC_ERR_CRYPTO;
	}
	return DC_OK;
}
