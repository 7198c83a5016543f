/* base64url (RFC 4648 §5) without padding, strict on decode: no '=', no whitespace,
 * no characters outside the alphabet, and the unused trailing bits must be zero
 * (non-canonical encodings are rejected, so one signature has one encoding). */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static const char enc_tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 0..63, or 0xff for anything else */
static const uint8_t dec_tab[256] = {
#define X 0xff
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, 62, X, X, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, X, X, X, X, X, X,
	X, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, X, X, X, X, 63,
	X, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
	X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
#undef X
};

size_t dc__b64url_enc_len(size_t n)
{
	return (n / 3) * 4 + ((n % 3) ? (n % 3) + 1 : 0);
}

void dc__b64url_encode_to(const uint8_t *in, size_t n, char *out)
{
	size_t i = 0, o = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = enc_tab[v >> 18];
		out[o++] = enc_tab[(v >> 12) & 63];
		out[o++] = enc_tab[(v >> 6) & 63];
		out[o++] = enc_tab[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = enc_tab[v >> 18];
		out[o++] = enc_tab[(v >> 12) & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = enc_tab[v >> 18];
		out[o++] = enc_tab[(v >> 12) & 63];
		out[o++] = enc_tab[(v >> 6) & 63];
	}
	out[o] = '\0';
}

dc_err dc__b64url_encode(const uint8_t *in, size_t n, char **out)
{
	*out = NULL;
	if (n > (SIZE_MAX / 4) * 3 - 3)
		return DC_ERR_TOO_BIG;
	char *s = malloc(dc__b64url_enc_len(n) + 1);
	if (!s)
		return DC_ERR_NOMEM;
	dc__b64url_encode_to(in, n, s);
	*out = s;
	return DC_OK;
}

static size_t dec_len(size_t n)
{
	return (n / 4) * 3 + ((n % 4) ? (n % 4) - 1 : 0);
}

dc_err dc__b64url_decode_to(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
	*outlen = 0;
	if (n % 4 == 1)
		return DC_ERR_MALFORMED;
	if (dec_len(n) > cap)
		return DC_ERR_TOO_BIG;
	size_t i = 0, o = 0;
	for (; i + 4 <= n; i += 4) {
		uint8_t a = dec_tab[(uint8_t)in[i]], b = dec_tab[(uint8_t)in[i + 1]];
		uint8_t c = dec_tab[(uint8_t)in[i + 2]], d = dec_tab[(uint8_t)in[i + 3]];
		if ((a | b | c | d) & 0xc0)
			return DC_ERR_MALFORMED;
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | d;
		out[o++] = (uint8_t)(v >> 16);
		out[o++] = (uint8_t)(v >> 8);
		out[o++] = (uint8_t)v;
	}
	size_t rem = n - i;
	if (rem == 2) {
		uint8_t a = dec_tab[(uint8_t)in[i]], b = dec_tab[(uint8_t)in[i + 1]];
		if ((a | b) & 0xc0 || (b & 0x0f))
			return DC_ERR_MALFORMED;
		out[o++] = (uint8_t)(a << 2 | b >> 4);
	} else if (rem == 3) {
		uint8_t a = dec_tab[(uint8_t)in[i]], b = dec_tab[(uint8_t)in[i + 1]];
		uint8_t c = dec_tab[(uint8_t)in[i + 2]];
		if ((a | b | c) & 0xc0 || (c & 0x03))
			return DC_ERR_MALFORMED;
		out[o++] = (uint8_t)(a << 2 | b >> 4);
		out[o++] = (uint8_t)(b << 4 | c >> 2);
	}
	*outlen = o;
	return DC_OK;
}

dc_err dc__b64url_decode(const char *in, size_t n, uint8_t **out, size_t *outlen)
{
	*out = NULL;
	*outlen = 0;
	size_t cap = dec_len(n);
	uint8_t *b = malloc(cap + 1);
	if (!b)
		return DC_ERR_NOMEM;
	dc_err rc = dc__b64url_decode_to(in, n, b, cap, outlen);
	if (rc) {
		free(b);
		return rc;
	}
	b[*outlen] = 0;
	*out = b;
	return DC_OK;
}

dc_err dc__b64any_check(const char *in, size_t n)
{
	/* standard or url alphabet, '=' padding only at the end */
	size_t pad = 0;
	while (pad < 2 && n > 0 && in[n - 1] == '=') {
		n--;
		pad++;
	}
	if (n % 4 == 1 || (pad && (n + pad) % 4))
		return DC_ERR_MALFORMED;
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = (uint8_t)in[i];
		if (dec_tab[ch] == 0xff && ch != '+' && ch != '/')
			return DC_ERR_MALFORMED;
	}
	return DC_OK;
}
