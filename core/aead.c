/* Content encryption: A256CBC-HS512 (RFC 7518 §5.2, MAC checked in constant time before any
 * decryption), A256GCM (OpenSSL) and XC20P (libsodium XChaCha20-Poly1305). Every failure on
 * decrypt is DC_ERR_CRYPTO, whatever went wrong (no padding oracle). */
#include "internal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <string.h>

size_t dc__enc_cek_len(enum dc_enc e)
{
	return e == DC_ENC_A256CBC_HS512 ? 64 : (e == DC_ENC_A256GCM || e == DC_ENC_XC20P) ? 32 : 0;
}

size_t dc__enc_iv_len(enum dc_enc e)
{
	return e == DC_ENC_A256CBC_HS512 ? 16 : e == DC_ENC_A256GCM ? 12 : e == DC_ENC_XC20P ? 24 : 0;
}

size_t dc__enc_tag_len(enum dc_enc e)
{
	return e == DC_ENC_A256CBC_HS512 ? 32 : (e == DC_ENC_A256GCM || e == DC_ENC_XC20P) ? 16 : 0;
}

const char *dc__enc_name(enum dc_enc e)
{
	switch (e) {
	case DC_ENC_A256CBC_HS512: return "A256CBC-HS512";
	case DC_ENC_A256GCM: return "A256GCM";
	case DC_ENC_XC20P: return "XC20P";
	default: return "none";
	}
}

enum dc_enc dc__enc_from_name(const char *s)
{
	if (!s)
		return DC_ENC_NONE;
	if (strcmp(s, "A256CBC-HS512") == 0)
		return DC_ENC_A256CBC_HS512;
	if (strcmp(s, "A256GCM") == 0)
		return DC_ENC_A256GCM;
	if (strcmp(s, "XC20P") == 0)
		return DC_ENC_XC20P;
	return DC_ENC_NONE;
}

/* HMAC-SHA-512(mac_key, AAD || IV || CT || AL) truncated to 32 bytes; -1 on failure */
static int cbc_tag(const uint8_t *mac_key, const uint8_t *aad, size_t aad_len, const uint8_t *iv,
                   const uint8_t *ct, size_t ct_len, uint8_t tag[32])
{
	uint8_t al[8], full[64];
	uint64_t bits = (uint64_t)aad_len * 8;
	size_t n = 0;
	for (int i = 0; i < 8; i++)
		al[i] = (uint8_t)(bits >> (56 - 8 * i));
	EVP_MAC_CTX *c = dc__hmac_sha512_new(mac_key, 32);
	int ok = c && EVP_MAC_update(c, aad, aad_len) == 1 && EVP_MAC_update(c, iv, 16) == 1 &&
	         EVP_MAC_update(c, ct, ct_len) == 1 && EVP_MAC_update(c, al, 8) == 1 &&
	         EVP_MAC_final(c, full, &n, sizeof full) == 1 && n == 64;
	EVP_MAC_CTX_free(c); /* cleanses the keyed state */
	if (ok)
		memcpy(tag, full, 32);
	sodium_memzero(full, sizeof full);
	return ok ? 0 : -1;
}

static dc_err evp_crypt(const EVP_CIPHER *c, bool enc, const uint8_t *key, const uint8_t *iv, size_t iv_len,
                        const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t in_len, uint8_t *out,
                        size_t *out_len, uint8_t *tag, bool gcm)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	dc_err rc = DC_ERR_CRYPTO;
	int n = 0, m = 0;
	*out_len = 0;
	if (!ctx)
		return DC_ERR_NOMEM;
	/* one init with cipher, key and IV when the IV has the cipher's default length (CBC's
	 * 16 bytes, GCM's 12); a second init costs as much again */
	if (gcm && iv_len != 12) {
		if (EVP_CipherInit_ex(ctx, c, NULL, NULL, NULL, enc) != 1 ||
		    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, (int)iv_len, NULL) != 1 ||
		    EVP_CipherInit_ex(ctx, NULL, NULL, key, iv, enc) != 1)
			goto out;
	} else if (EVP_CipherInit_ex(ctx, c, NULL, key, iv, enc) != 1) {
		goto out;
	}
	if (gcm && aad_len && EVP_CipherUpdate(ctx, NULL, &n, aad, (int)aad_len) != 1)
		goto out;
	/* EVP takes int lengths: feed in chunks so large messages cannot overflow */
	size_t done = 0, o = 0;
	while (done < in_len) {
		size_t chunk = in_len - done > (1u << 30) ? (1u << 30) : in_len - done;
		if (EVP_CipherUpdate(ctx, out + o, &n, in + done, (int)chunk) != 1)
			goto out;
		done += chunk;
		o += (size_t)n;
	}
	if (gcm && !enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, out + o, &m) != 1)
		goto out;
	o += (size_t)m;
	if (gcm && enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
		goto out;
	*out_len = o;
	rc = DC_OK;
out:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

dc_err dc__aead_encrypt(enum dc_enc e, const uint8_t *cek, const uint8_t *iv, const uint8_t *aad, size_t aad_len,
                        const uint8_t *pt, size_t pt_len, uint8_t *ct, size_t *ct_len, uint8_t *tag)
{
	switch (e) {
	case DC_ENC_A256CBC_HS512: {
		dc_err rc = evp_crypt(dc__evp_cipher(DC_EVP_AES256_CBC), true, cek + 32, iv, 16, NULL, 0, pt, pt_len, ct, ct_len, NULL,
		                      false);
		if (rc == DC_OK && cbc_tag(cek, aad, aad_len, iv, ct, *ct_len, tag) != 0)
			rc = DC_ERR_CRYPTO;
		return rc;
	}
	case DC_ENC_A256GCM:
		return evp_crypt(dc__evp_cipher(DC_EVP_AES256_GCM), true, cek, iv, 12, aad, aad_len, pt, pt_len, ct, ct_len, tag, true);
	case DC_ENC_XC20P: {
		unsigned long long tl = 0;
		crypto_aead_xchacha20poly1305_ietf_encrypt_detached(ct, tag, &tl, pt, pt_len, aad, aad_len, NULL, iv, cek);
		*ct_len = pt_len;
		return DC_OK;
	}
	default: return DC_ERR_UNSUPPORTED;
	}
}

dc_err dc__aead_decrypt(enum dc_enc e, const uint8_t *cek, const uint8_t *iv, size_t iv_len, const uint8_t *aad,
                        size_t aad_len, const uint8_t *ct, size_t ct_len, const uint8_t *tag, size_t tag_len,
                        uint8_t *pt, size_t *pt_len)
{
	*pt_len = 0;
	if (iv_len != dc__enc_iv_len(e) || tag_len != dc__enc_tag_len(e))
		return DC_ERR_CRYPTO;
	switch (e) {
	case DC_ENC_A256CBC_HS512: {
		uint8_t want[32];
		if (ct_len == 0 || ct_len % 16)
			return DC_ERR_CRYPTO;
		int same = cbc_tag(cek, aad, aad_len, iv, ct, ct_len, want) == 0 ? CRYPTO_memcmp(want, tag, 32) : -1;
		sodium_memzero(want, sizeof want);
		if (same != 0)
			return DC_ERR_CRYPTO; /* MAC first: nothing is decrypted on a bad tag */
		dc_err rc = evp_crypt(dc__evp_cipher(DC_EVP_AES256_CBC), false, cek + 32, iv, 16, NULL, 0, ct, ct_len, pt, pt_len, NULL,
		                      false);
		return rc ? DC_ERR_CRYPTO : DC_OK;
	}
	case DC_ENC_A256GCM: {
		dc_err rc = evp_crypt(dc__evp_cipher(DC_EVP_AES256_GCM), false, cek, iv, 12, aad, aad_len, ct, ct_len, pt, pt_len,
		                      (uint8_t *)tag, true);
		if (rc)
			sodium_memzero(pt, ct_len);
		return rc ? DC_ERR_CRYPTO : DC_OK;
	}
	case DC_ENC_XC20P:
		if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(pt, NULL, ct, ct_len, tag, aad, aad_len, iv, cek))
			return DC_ERR_CRYPTO;
		*pt_len = ct_len;
		return DC_OK;
	default: return DC_ERR_CRYPTO;
	}
}
