/* base58btc, multibase ('z' only: what DID methods use for keys) and multicodec key prefixes. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

static const char b58[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

#define B58_MAX_IN 4096 /* bounded: the quadratic algorithm stays cheap */

dc_err dc__base58_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
	*outlen = 0;
	if (n > B58_MAX_IN)
		return DC_ERR_TOO_BIG;
	size_t zeros = 0;
	while (zeros < n && in[zeros] == '1')
		zeros++;
	size_t size = n * 733 / 1000 + 1; /* log(58)/log(256) */
	uint8_t *b = calloc(size, 1);
	if (!b)
		return DC_ERR_NOMEM;
	for (size_t i = zeros; i < n; i++) {
		const char *p = memchr(b58, in[i], sizeof b58 - 1);
		if (!p || !in[i]) {
			free(b);
			return DC_ERR_MALFORMED;
		}
		unsigned carry = (unsigned)(p - b58);
		for (size_t j = size; j-- > 0;) {
			carry += 58u * b[j];
			b[j] = (uint8_t)carry;
			carry >>= 8;
		}
		if (carry) {
			free(b);
			return DC_ERR_MALFORMED;
		}
	}
	size_t skip = 0;
	while (skip < size && b[skip] == 0)
		skip++;
	size_t len = zeros + (size - skip);
	if (len > cap) {
		free(b);
		return DC_ERR_TOO_BIG;
	}
	memset(out, 0, zeros);
	memcpy(out + zeros, b + skip, size - skip);
	free(b);
	*outlen = len;
	return DC_OK;
}

dc_err dc__base58_encode(const uint8_t *in, size_t n, char **out)
{
	*out = NULL;
	if (n > B58_MAX_IN)
		return DC_ERR_TOO_BIG;
	size_t zeros = 0;
	while (zeros < n && in[zeros] == 0)
		zeros++;
	size_t size = n * 138 / 100 + 1; /* log(256)/log(58) */
	uint8_t *b = calloc(size, 1);
	char *s = malloc(zeros + size + 1);
	if (!b || !s) {
		free(b);
		free(s);
		return DC_ERR_NOMEM;
	}
	for (size_t i = zeros; i < n; i++) {
		unsigned carry = in[i];
		for (size_t j = size; j-- > 0;) {
			carry += 256u * b[j];
			b[j] = (uint8_t)(carry % 58);
			carry /= 58;
		}
	}
	size_t skip = 0;
	while (skip < size && b[skip] == 0)
		skip++;
	size_t o = 0;
	for (size_t i = 0; i < zeros; i++)
		s[o++] = '1';
	for (size_t i = skip; i < size; i++)
		s[o++] = b58[b[i]];
	s[o] = 0;
	free(b);
	*out = s;
	return DC_OK;
}

struct codec {
	enum dc_crv crv;
	uint8_t prefix[2];
};
static const struct codec codecs[] = {
	{ DC_CRV_ED25519, { 0xed, 0x01 } }, { DC_CRV_X25519, { 0xec, 0x01 } }, { DC_CRV_P256, { 0x80, 0x24 } },
	{ DC_CRV_P384, { 0x81, 0x24 } },    { DC_CRV_P521, { 0x82, 0x24 } },   { DC_CRV_SECP256K1, { 0xe7, 0x01 } },
};

dc_err dc__multikey_decode(const char *mb, struct dc_key **out)
{
	*out = NULL;
	if (!mb || mb[0] != 'z')
		return DC_ERR_UNSUPPORTED; /* only base58btc multibase carries keys in practice */
	uint8_t buf[2 + DC_MAX_PUB];
	size_t n = 0;
	dc_err rc = dc__base58_decode(mb + 1, strlen(mb + 1), buf, sizeof buf, &n);
	if (rc)
		return rc == DC_ERR_TOO_BIG ? DC_ERR_MALFORMED : rc;
	if (n < 3)
		return DC_ERR_MALFORMED;
	for (size_t i = 0; i < sizeof codecs / sizeof codecs[0]; i++)
		if (buf[0] == codecs[i].prefix[0] && buf[1] == codecs[i].prefix[1])
			return dc__key_from_pub(codecs[i].crv, buf + 2, n - 2, out);
	return DC_ERR_UNSUPPORTED;
}

dc_err dc__multikey_encode(const struct dc_key *k, char **out)
{
	*out = NULL;
	uint8_t buf[2 + DC_MAX_PUB];
	size_t n = 0;
	for (size_t i = 0; i < sizeof codecs / sizeof codecs[0]; i++)
		if (codecs[i].crv == k->crv) {
			memcpy(buf, codecs[i].prefix, 2);
			n = 2;
		}
	if (!n)
		return DC_ERR_UNSUPPORTED;
	if (dc__crv_is_ec(k->crv)) { /* compressed point */
		size_t f = dc__crv_field_len(k->crv);
		buf[n] = (uint8_t)(0x02 | (k->pub[2 * f] & 1));
		memcpy(buf + n + 1, k->pub + 1, f);
		n += 1 + f;
	} else {
		memcpy(buf + n, k->pub, 32);
		n += 32;
	}
	return dc__multibase_z(buf, n, out);
}

dc_err dc__multibase_z(const uint8_t *b, size_t n, char **out)
{
	*out = NULL;
	char *s58 = NULL;
	dc_err rc = dc__base58_encode(b, n, &s58);
	if (rc)
		return rc;
	size_t l = strlen(s58);
	char *s = malloc(l + 2);
	if (!s) {
		free(s58);
		return DC_ERR_NOMEM;
	}
	s[0] = 'z';
	memcpy(s + 1, s58, l + 1);
	free(s58);
	*out = s;
	return DC_OK;
}
