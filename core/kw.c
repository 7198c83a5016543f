/* AES-256 key wrap (RFC 3394 §2.2), written over one AES-256-ECB context. OpenSSL 3.0's
 * AES-256-WRAP cipher runs the table-driven AES_encrypt/AES_decrypt instead of AES-NI: some
 * 60,000 instructions per 40-byte wrap and key-dependent table lookups. The ECB cipher takes
 * the hardware path. Each 64-bit step is one EVP_Cipher() call on the keyed context: it goes
 * to the provider's cipher function directly, without EVP_CipherUpdate's buffering and
 * checks (about a third of the instructions per step), and the key schedule is computed once
 * per wrap or unwrap. The integrity check value is compared in constant time; every unwrap
 * failure is DC_ERR_CRYPTO and leaves out zeroed. */
#include "internal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <string.h>

#define KW_MAX 1024

static const uint8_t kw_iv[8] = { 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6 };

static void xor_t(uint8_t a[8], uint64_t t)
{
	for (int k = 7; k >= 0 && t; k--, t >>= 8)
		a[k] ^= (uint8_t)t;
}

/* one AES block in place: EVP_Cipher returns 16 (provider ciphers) or 1 (legacy ones) on
 * success, 0 or -1 on failure */
static bool aes_block(EVP_CIPHER_CTX *ctx, uint8_t b[16])
{
	return EVP_Cipher(ctx, b, b, 16) > 0;
}

static dc_err kw(const uint8_t kek[32], const uint8_t *in, size_t in_len, uint8_t *out, bool wrap)
{
	if (in_len < (wrap ? 16 : 24) || in_len % 8 || in_len > KW_MAX)
		return wrap ? DC_ERR_INVAL : DC_ERR_CRYPTO;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t b[16], r[KW_MAX];
	size_t n = (wrap ? in_len : in_len - 8) / 8; /* 64-bit blocks of key data */
	dc_err rc = DC_ERR_CRYPTO;
	if (!ctx)
		return DC_ERR_NOMEM;
	/* no padding to turn off: EVP_Cipher() never pads */
	if (EVP_CipherInit_ex(ctx, dc__evp_cipher(DC_EVP_AES256_ECB), NULL, kek, NULL, wrap) != 1)
		goto out;
	if (wrap) {
		memcpy(b, kw_iv, 8);
		memcpy(r, in, in_len);
		for (uint64_t j = 0; j < 6; j++) {
			for (size_t i = 0; i < n; i++) {
				memcpy(b + 8, r + 8 * i, 8);
				if (!aes_block(ctx, b))
					goto out;
				xor_t(b, n * j + i + 1);
				memcpy(r + 8 * i, b + 8, 8);
			}
		}
		memcpy(out, b, 8);
		memcpy(out + 8, r, in_len);
	} else {
		memcpy(b, in, 8);
		memcpy(r, in + 8, in_len - 8);
		for (uint64_t j = 6; j-- > 0;) {
			for (size_t i = n; i-- > 0;) {
				xor_t(b, n * j + i + 1);
				memcpy(b + 8, r + 8 * i, 8);
				if (!aes_block(ctx, b))
					goto out;
				memcpy(r + 8 * i, b + 8, 8);
			}
		}
		if (CRYPTO_memcmp(b, kw_iv, 8) != 0)
			goto out;
		memcpy(out, r, in_len - 8);
	}
	rc = DC_OK;
out:
	if (rc && !wrap)
		sodium_memzero(out, in_len - 8);
	sodium_memzero(b, sizeof b);
	sodium_memzero(r, sizeof r);
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

dc_err dc__aes_kw_wrap(const uint8_t kek[32], const uint8_t *in, size_t in_len, uint8_t *out)
{
	return kw(kek, in, in_len, out, true);
}

dc_err dc__aes_kw_unwrap(const uint8_t kek[32], const uint8_t *in, size_t in_len, uint8_t *out)
{
	return kw(kek, in, in_len, out, false);
}
