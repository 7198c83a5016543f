/* Concat KDF (NIST SP 800-56A §5.8.1) as JWA §4.6 uses it, one SHA-256 round for a 256-bit
 * key; for ECDH-1PU the content tag is appended to SuppPubInfo, length-prefixed
 * (draft-madden-jose-ecdh-1pu-04 §2.3). */
#include "internal.h"

#include <sodium.h>
#include <string.h>

static void be32(uint8_t b[4], uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

static void upd_len(crypto_hash_sha256_state *st, const uint8_t *p, size_t n)
{
	uint8_t l[4];
	be32(l, (uint32_t)n);
	crypto_hash_sha256_update(st, l, 4);
	if (n)
		crypto_hash_sha256_update(st, p, n);
}

dc_err dc__concat_kdf(const uint8_t *z, size_t z_len, const char *alg, const uint8_t *apu, size_t apu_len,
                      const uint8_t *apv, size_t apv_len, const uint8_t *tag, size_t tag_len, uint8_t out[32])
{
	if (z_len > 2 * DC_MAX_Z || apu_len > UINT32_MAX || apv_len > UINT32_MAX || tag_len > UINT32_MAX)
		return DC_ERR_INVAL;
	crypto_hash_sha256_state st;
	uint8_t b[4];
	crypto_hash_sha256_init(&st);
	be32(b, 1); /* round counter */
	crypto_hash_sha256_update(&st, b, 4);
	crypto_hash_sha256_update(&st, z, z_len);
	upd_len(&st, (const uint8_t *)alg, strlen(alg));
	upd_len(&st, apu, apu_len);
	upd_len(&st, apv, apv_len);
	be32(b, 256);
	crypto_hash_sha256_update(&st, b, 4);
	if (tag)
		upd_len(&st, tag, tag_len);
	crypto_hash_sha256_final(&st, out);
	sodium_memzero(&st, sizeof st);
	return DC_OK;
}
