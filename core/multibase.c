/* base58btc, multibase ('z' only: what DID methods use for keys) and multicodec key prefixes.
 *
 * base58 is a base conversion, quadratic in the length; both directions work on 32-bit limbs
 * (five base58 digits or four bytes per step) and refuse inputs over a fixed bound, so that a
 * hostile did:peer:4 long form costs a few milliseconds at most. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define B58_MAX_CHARS 12288u /* decode input bound (a did:peer DID is at most 8 KiB) */
#define B58_MAX_BYTES 9000u  /* encode input bound (encodes to < 12288 characters) */
#define B58_POW5 656356768u  /* 58^5 < 2^30 */

static const char b58_alpha[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

static int b58_digit(unsigned char c)
{
	/* the alphabet without 0, O, I and l, as ranges */
	if (c >= '1' && c <= '9')
		return c - '1';
	if (c >= 'A' && c <= 'H')
		return c - 'A' + 9;
	if (c >= 'J' && c <= 'N')
		return c - 'J' + 17;
	if (c >= 'P' && c <= 'Z')
		return c - 'P' + 22;
	if (c >= 'a' && c <= 'k')
		return c - 'a' + 33;
	if (c >= 'm' && c <= 'z')
		return c - 'm' + 44;
	return -1;
}

dc_err dc__base58_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
	*outlen = 0;
	if (!in || (!out && cap))
		return DC_ERR_INVAL;
	if (n > B58_MAX_CHARS)
		return DC_ERR_TOO_BIG;
	size_t zeros = 0;
	while (zeros < n && in[zeros] == '1')
		zeros++;
	/* n base58 digits need at most n*log(58)/log(256) < n*0.7324 bytes */
	size_t nbytes = (n - zeros) * 7324 / 10000 + 1;
	size_t nl = nbytes / 4 + 1, used = 0;
	uint32_t *w = calloc(nl, sizeof *w); /* big number, least significant limb last */
	if (!w)
		return DC_ERR_NOMEM;
	dc_err rc = DC_OK;
	for (size_t i = zeros; i < n;) {
		uint64_t mul = 1, add = 0;
		for (size_t k = 0; k < 5 && i < n; k++, i++) {
			int d = b58_digit((unsigned char)in[i]);
			if (d < 0) {
				rc = DC_ERR_MALFORMED;
				goto out;
			}
			mul *= 58;
			add = add * 58 + (uint64_t)d;
		}
		uint64_t carry = add;
		for (size_t j = 0; j < used; j++) {
			uint64_t t = (uint64_t)w[nl - 1 - j] * mul + carry;
			w[nl - 1 - j] = (uint32_t)t;
			carry = t >> 32;
		}
		if (carry) {
			if (used == nl) { /* cannot happen with the bound above; fail closed */
				rc = DC_ERR_MALFORMED;
				goto out;
			}
			w[nl - 1 - used++] = (uint32_t)carry;
		}
	}
	/* limbs -> big-endian bytes without leading zeros */
	size_t sig = used * 4;
	while (sig > 0) {
		size_t limb = nl - 1 - (sig - 1) / 4;
		if ((w[limb] >> (8 * ((sig - 1) % 4))) & 0xff)
			break;
		sig--;
	}
	if (zeros > cap || sig > cap - zeros) {
		rc = DC_ERR_TOO_BIG;
		goto out;
	}
	memset(out, 0, zeros);
	for (size_t b = 0; b < sig; b++) {
		size_t pos = sig - 1 - b; /* byte index counted from the least significant end */
		out[zeros + b] = (uint8_t)(w[nl - 1 - pos / 4] >> (8 * (pos % 4)));
	}
	*outlen = zeros + sig;
out:
	free(w);
	return rc;
}

dc_err dc__base58_encode(const uint8_t *in, size_t n, char **out)
{
	*out = NULL;
	if (!in && n)
		return DC_ERR_INVAL;
	if (n > B58_MAX_BYTES)
		return DC_ERR_TOO_BIG;
	size_t zeros = 0;
	while (zeros < n && in[zeros] == 0)
		zeros++;
	/* n bytes need at most n*log(256)/log(58) < n*1.3658 digits; 5 digits per limb */
	size_t ndig = (n - zeros) * 13658 / 10000 + 1;
	size_t nl = ndig / 5 + 1, used = 0;
	uint32_t *w = calloc(nl, sizeof *w); /* base 58^5, least significant limb last */
	char *s = malloc(zeros + nl * 5 + 1);
	if (!w || !s) {
		free(w);
		free(s);
		return DC_ERR_NOMEM;
	}
	for (size_t i = zeros; i < n;) {
		uint64_t mul = 1, carry = 0;
		for (size_t k = 0; k < 4 && i < n; k++, i++) {
			mul <<= 8;
			carry = (carry << 8) | in[i];
		}
		for (size_t j = 0; j < used; j++) {
			uint64_t t = (uint64_t)w[nl - 1 - j] * mul + carry;
			w[nl - 1 - j] = (uint32_t)(t % B58_POW5);
			carry = t / B58_POW5;
		}
		while (carry && used < nl) {
			w[nl - 1 - used++] = (uint32_t)(carry % B58_POW5);
			carry /= B58_POW5;
		}
		if (carry) { /* cannot happen with the bound above */
			free(w);
			free(s);
			return DC_ERR_TOO_BIG;
		}
	}
	size_t o = 0;
	for (size_t i = 0; i < zeros; i++)
		s[o++] = '1';
	bool lead = true;
	for (size_t j = nl - used; j < nl; j++) {
		char d[5];
		uint32_t v = w[j];
		for (int k = 4; k >= 0; k--) {
			d[k] = b58_alpha[v % 58];
			v /= 58;
		}
		for (int k = 0; k < 5; k++) {
			if (lead && d[k] == '1')
				continue;
			lead = false;
			s[o++] = d[k];
		}
	}
	s[o] = 0;
	free(w);
	*out = s;
	return DC_OK;
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

/* ---- multicodec ------------------------------------------------------------------- */

/* unsigned-varint (multiformats): at most 9 bytes, minimal encoding only. Returns the
 * number of bytes read, 0 on error. */
static size_t varint_read(const uint8_t *b, size_t n, uint64_t *v)
{
	uint64_t x = 0;
	for (size_t i = 0; i < n && i < 9; i++) {
		x |= (uint64_t)(b[i] & 0x7f) << (7 * i);
		if (!(b[i] & 0x80)) {
			if (i > 0 && b[i] == 0)
				return 0; /* a trailing zero group: not minimal */
			*v = x;
			return i + 1;
		}
	}
	return 0;
}

static size_t varint_write(uint64_t v, uint8_t *b)
{
	size_t i = 0;
	do {
		b[i] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			b[i] |= 0x80;
		i++;
	} while (v);
	return i;
}

static const struct {
	enum dc_crv crv;
	uint64_t code;
} pub_codecs[] = {
	{ DC_CRV_ED25519, 0xed },  { DC_CRV_X25519, 0xec }, { DC_CRV_P256, 0x1200 },
	{ DC_CRV_P384, 0x1201 },   { DC_CRV_P521, 0x1202 }, { DC_CRV_SECP256K1, 0xe7 },
};

dc_err dc__multikey_decode(const char *mb, struct dc_key **out)
{
	*out = NULL;
	if (!mb)
		return DC_ERR_INVAL;
	if (mb[0] != 'z')
		return DC_ERR_UNSUPPORTED; /* only base58btc multibase carries keys in practice */
	/* room for keys we do not take (RSA-4096 is ~530 bytes) so that they are seen as
	 * unsupported rather than malformed; ours are at most a P-521 point behind 2 bytes */
	uint8_t buf[640];
	size_t n = 0, len = strnlen(mb + 1, B58_MAX_CHARS + 1);
	dc_err rc = dc__base58_decode(mb + 1, len, buf, sizeof buf, &n);
	if (rc)
		return rc == DC_ERR_NOMEM ? rc : DC_ERR_MALFORMED;
	uint64_t code = 0;
	size_t pl = varint_read(buf, n, &code);
	if (!pl || pl >= n)
		return DC_ERR_MALFORMED;
	for (size_t i = 0; i < sizeof pub_codecs / sizeof pub_codecs[0]; i++)
		if (pub_codecs[i].code == code)
			return dc__key_from_pub(pub_codecs[i].crv, buf + pl, n - pl, out);
	return DC_ERR_UNSUPPORTED;
}

dc_err dc__multikey_encode(const struct dc_key *k, char **out)
{
	*out = NULL;
	if (!k)
		return DC_ERR_INVAL;
	uint8_t buf[10 + DC_MAX_PUB];
	size_t n = 0;
	for (size_t i = 0; i < sizeof pub_codecs / sizeof pub_codecs[0]; i++)
		if (pub_codecs[i].crv == k->crv)
			n = varint_write(pub_codecs[i].code, buf);
	if (!n)
		return DC_ERR_UNSUPPORTED;
	if (dc__crv_is_ec(k->crv)) { /* the compressed point: 02|03 by the parity of y, then x */
		size_t f = dc__crv_field_len(k->crv);
		if (k->pub_len != 1 + 2 * f || k->pub[0] != 0x04)
			return DC_ERR_INVAL;
		buf[n] = (uint8_t)(0x02 | (k->pub[2 * f] & 1));
		memcpy(buf + n + 1, k->pub + 1, f);
		n += 1 + f;
	} else {
		if (k->pub_len != 32)
			return DC_ERR_INVAL;
		memcpy(buf + n, k->pub, 32);
		n += 32;
	}
	return dc__multibase_z(buf, n, out);
}
