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

dc_err dc__concat_kdf(const uint8_t *z, size_t z_len, const char *alg, const uint8_t *apu, size_t apu_len,
                      const uint8_t *apv, size_t apv_len, const uint8_t *tag, size_t tag_len, uint8_t out[32])
{
	if (z_len > 2 * DC_MAX_Z || apu_len > UINT32_MAX || apv_len > UINT32_MAX || tag_len > UINT32_MAX)
		return DC_ERR_INVAL;
	uint8_t one[4], bits[4];
	unsigned int n = 0;
	be32(one, 1); /* round counter */
	be32(bits, 256);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_DigestInit_ex(c, dc__evp_md(DC_MD_SHA256), NULL) == 1 && EVP_DigestUpdate(c, one, 4) == 1 &&
	         EVP_DigestUpdate(c, z, z_len) == 1 && upd_len(c, (const uint8_t *)alg, strlen(alg)) &&
	         upd_len(c, apu, apu_len) && upd_len(c, apv, apv_len) && EVP_DigestUpdate(c, bits, 4) == 1 &&
	         (!tag || upd_len(c, tag, tag_len)) && EVP_DigestFinal_ex(c, out, &n) == 1 && n == 32;
	EVP_MD_CTX_free(c); /* cleanses the state, which held Z */
	if (!ok) {
		sodium_memzero(out, 32);
		return DC_ERR_CRYPTO;
	}
	return DC_OK;
}
