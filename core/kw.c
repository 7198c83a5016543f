/* AES-256 key wrap (RFC 3394) through OpenSSL; the integrity check is OpenSSL's. */
#include "internal.h"

#include <openssl/evp.h>

static dc_err kw(const uint8_t kek[32], const uint8_t *in, size_t in_len, uint8_t *out, bool wrap)
{
	if (in_len < (wrap ? 16 : 24) || in_len % 8 || in_len > 1024)
		return wrap ? DC_ERR_INVAL : DC_ERR_CRYPTO;
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	dc_err rc = DC_ERR_CRYPTO;
	int n = 0, m = 0;
	if (!ctx)
		return DC_ERR_NOMEM;
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_CipherInit_ex(ctx, dc__evp_cipher(DC_EVP_AES256_WRAP), NULL, kek, NULL, wrap) == 1 &&
	    EVP_CipherUpdate(ctx, out, &n, in, (int)in_len) == 1 && EVP_CipherFinal_ex(ctx, out + n, &m) == 1 &&
	    (size_t)(n + m) == (wrap ? in_len + 8 : in_len - 8))
		rc = DC_OK;
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
