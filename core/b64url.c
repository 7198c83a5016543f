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

/* ---- SIMD blocks (x86-64) ----------------------------------------------------------------
 * Whole blocks only, never reading or writing past the caller's lengths: decoding takes 32
 * (AVX2) or 16 (SSSE3) characters to 24 or 12 bytes, encoding 24 or 12 bytes to 32 or 16
 * characters; the scalar loops below do the rest. A decoding block with any character outside
 * the alphabet is left to the scalar loop, which then rejects the input exactly as it would
 * have alone (and has written the same bytes before it). The functions are compiled for their
 * instruction set with target attributes (the build is for baseline x86-64) and are called
 * only when the CPU has it: __builtin_cpu_supports reads what the compiler's runtime detected
 * once at start-up (AVX2 only when the OS saves the YMM registers). */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define B64_X86 1
#include <immintrin.h>

/* The validity of a character from its two nibbles: the bits of lo_bad[low nibble] that the
 * high nibble's class selects (hi_cls) mark what is outside the alphabet in that row.
 *   bit 0: every low nibble (rows 0x00-0x1f and 0x80-0xff)
 *   bit 1: all but 0xd (row 0x20: only '-')
 *   bit 2: 0xa-0xf (row 0x30: '0'-'9')
 *   bit 3: 0x0 (rows 0x40 and 0x60: '@' and '`')
 *   bit 4: 0xb-0xe (rows 0x50 and 0x70: '[' to '^', '{' to '~')
 *   bit 5: 0xf (row 0x70: DEL; in row 0x50 it is '_') */
#define LO_BAD(l) (char)(1 | ((l) != 0xd ? 2 : 0) | ((l) >= 0xa ? 4 : 0) | ((l) == 0 ? 8 : 0) | \
                         ((l) >= 0xb && (l) <= 0xe ? 16 : 0) | ((l) == 0xf ? 32 : 0))
#define LO_BAD_ROW LO_BAD(0), LO_BAD(1), LO_BAD(2), LO_BAD(3), LO_BAD(4), LO_BAD(5), LO_BAD(6), \
	LO_BAD(7), LO_BAD(8), LO_BAD(9), LO_BAD(10), LO_BAD(11), LO_BAD(12), LO_BAD(13), LO_BAD(14), LO_BAD(15)
#define HI_CLS_ROW 1, 1, 2, 4, 8, 16, 8, 16 | 32, 1, 1, 1, 1, 1, 1, 1, 1
/* value = character + shift[high nibble]; '_' (0x5f) is 63 = 0x5f - 32, not 0x5f - 65 */
#define SHIFT_ROW 0, 0, 62 - '-', 52 - '0', -'A', -'A', 26 - 'a', 26 - 'a', 0, 0, 0, 0, 0, 0, 0, 0
#define UNDERSCORE_FIX (63 - '_' + 'A')
/* 4 x 6 bits -> 3 bytes: pairs (a*64 + b), then pairs of those (x*4096 + y), then each
 * 32-bit lane's bytes 2, 1, 0 */
#define PACK_ROW 2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1

__attribute__((target("avx2"))) static size_t dec_avx2(const char *in, size_t n, uint8_t *out)
{
	const __m256i lo_bad = _mm256_setr_epi8(LO_BAD_ROW, LO_BAD_ROW);
	const __m256i hi_cls = _mm256_setr_epi8(HI_CLS_ROW, HI_CLS_ROW);
	const __m256i shift = _mm256_setr_epi8(SHIFT_ROW, SHIFT_ROW);
	const __m256i pack = _mm256_setr_epi8(PACK_ROW, PACK_ROW);
	const __m256i nib = _mm256_set1_epi8(0x0f), us = _mm256_set1_epi8('_');
	const __m256i fix = _mm256_set1_epi8(UNDERSCORE_FIX);
	const __m256i join = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 7, 7);
	size_t i = 0;
	for (; n - i >= 32; i += 32) {
		__m256i x = _mm256_loadu_si256((const __m256i *)(const void *)(in + i));
		__m256i hi = _mm256_and_si256(_mm256_srli_epi32(x, 4), nib);
		__m256i bad = _mm256_and_si256(_mm256_shuffle_epi8(lo_bad, _mm256_and_si256(x, nib)),
		                               _mm256_shuffle_epi8(hi_cls, hi));
		if (!_mm256_testz_si256(bad, bad))
			break;
		__m256i s = _mm256_add_epi8(_mm256_shuffle_epi8(shift, hi),
		                            _mm256_and_si256(_mm256_cmpeq_epi8(x, us), fix));
		__m256i v = _mm256_add_epi8(x, s);
		v = _mm256_maddubs_epi16(v, _mm256_set1_epi32(0x01400140));
		v = _mm256_madd_epi16(v, _mm256_set1_epi32(0x00011000));
		v = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(v, pack), join);
		uint8_t *o = out + i / 4 * 3;
		_mm_storeu_si128((__m128i *)(void *)o, _mm256_castsi256_si128(v));
		_mm_storel_epi64((__m128i *)(void *)(o + 16), _mm256_extracti128_si256(v, 1));
	}
	return i;
}

__attribute__((target("ssse3"))) static size_t dec_ssse3(const char *in, size_t n, uint8_t *out)
{
	const __m128i lo_bad = _mm_setr_epi8(LO_BAD_ROW), hi_cls = _mm_setr_epi8(HI_CLS_ROW);
	const __m128i shift = _mm_setr_epi8(SHIFT_ROW), pack = _mm_setr_epi8(PACK_ROW);
	const __m128i nib = _mm_set1_epi8(0x0f), us = _mm_set1_epi8('_'), fix = _mm_set1_epi8(UNDERSCORE_FIX);
	size_t i = 0;
	for (; n - i >= 16; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(in + i));
		__m128i hi = _mm_and_si128(_mm_srli_epi32(x, 4), nib);
		__m128i bad = _mm_and_si128(_mm_shuffle_epi8(lo_bad, _mm_and_si128(x, nib)), _mm_shuffle_epi8(hi_cls, hi));
		if (_mm_movemask_epi8(_mm_cmpeq_epi8(bad, _mm_setzero_si128())) != 0xffff)
			break;
		__m128i s = _mm_add_epi8(_mm_shuffle_epi8(shift, hi), _mm_and_si128(_mm_cmpeq_epi8(x, us), fix));
		__m128i v = _mm_add_epi8(x, s);
		v = _mm_maddubs_epi16(v, _mm_set1_epi32(0x01400140));
		v = _mm_madd_epi16(v, _mm_set1_epi32(0x00011000));
		v = _mm_shuffle_epi8(v, pack);
		uint8_t *o = out + i / 4 * 3;
		uint32_t last = (uint32_t)_mm_cvtsi128_si32(_mm_srli_si128(v, 8));
		_mm_storel_epi64((__m128i *)(void *)o, v);
		memcpy(o + 8, &last, 4);
	}
	return i;
}

/* 12 bytes per 128-bit lane, as 3-byte groups [b0 b1 b2] -> 16-bit words [b1 b0] [b2 b1] so that
 * the four 6-bit fields can be moved into four bytes by multiplications */
#define SPREAD_ROW 1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10
/* character = index + offset[class]: class 13 for 0-25, 0 for 26-51, 1-12 for 52-63 */
#define OFFSET_ROW 'a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, \
	'0' - 52, '0' - 52, '0' - 52, '-' - 62, '_' - 63, 'A', 0, 0

__attribute__((target("avx2"))) static size_t enc_avx2(const uint8_t *in, size_t n, char *out)
{
	const __m256i spread = _mm256_setr_epi8(SPREAD_ROW, SPREAD_ROW);
	const __m256i offset = _mm256_setr_epi8(OFFSET_ROW, OFFSET_ROW);
	size_t i = 0, o = 0;
	/* two 16-byte loads of which 12 bytes are used: 28 bytes must be there */
	for (; n - i >= 28; i += 24, o += 32) {
		__m256i x = _mm256_inserti128_si256(
			_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)(in + i))),
			_mm_loadu_si128((const __m128i *)(const void *)(in + i + 12)), 1);
		x = _mm256_shuffle_epi8(x, spread);
		__m256i a = _mm256_mulhi_epu16(_mm256_and_si256(x, _mm256_set1_epi32(0x0fc0fc00)),
		                               _mm256_set1_epi32(0x04000040));
		__m256i b = _mm256_mullo_epi16(_mm256_and_si256(x, _mm256_set1_epi32(0x003f03f0)),
		                               _mm256_set1_epi32(0x01000010));
		__m256i idx = _mm256_or_si256(a, b);
		__m256i cls = _mm256_subs_epu8(idx, _mm256_set1_epi8(51));
		cls = _mm256_or_si256(cls, _mm256_and_si256(_mm256_cmpgt_epi8(_mm256_set1_epi8(26), idx),
		                                            _mm256_set1_epi8(13)));
		__m256i ch = _mm256_add_epi8(idx, _mm256_shuffle_epi8(offset, cls));
		_mm256_storeu_si256((__m256i *)(void *)(out + o), ch);
	}
	return i;
}

__attribute__((target("ssse3"))) static size_t enc_ssse3(const uint8_t *in, size_t n, char *out)
{
	const __m128i spread = _mm_setr_epi8(SPREAD_ROW), offset = _mm_setr_epi8(OFFSET_ROW);
	size_t i = 0, o = 0;
	for (; n - i >= 16; i += 12, o += 16) {
		__m128i x = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(in + i)), spread);
		__m128i a = _mm_mulhi_epu16(_mm_and_si128(x, _mm_set1_epi32(0x0fc0fc00)), _mm_set1_epi32(0x04000040));
		__m128i b = _mm_mullo_epi16(_mm_and_si128(x, _mm_set1_epi32(0x003f03f0)), _mm_set1_epi32(0x01000010));
		__m128i idx = _mm_or_si128(a, b);
		__m128i cls = _mm_subs_epu8(idx, _mm_set1_epi8(51));
		cls = _mm_or_si128(cls, _mm_and_si128(_mm_cmpgt_epi8(_mm_set1_epi8(26), idx), _mm_set1_epi8(13)));
		_mm_storeu_si128((__m128i *)(void *)(out + o), _mm_add_epi8(idx, _mm_shuffle_epi8(offset, cls)));
	}
	return i;
}
#endif

/* The instruction sets this CPU lets us use: 2 AVX2 (and SSSE3), 1 SSSE3, 0 none. */
unsigned dc__b64url_isa_max(void)
{
#ifdef B64_X86
	if (__builtin_cpu_supports("avx2"))
		return 2;
	if (__builtin_cpu_supports("ssse3"))
		return 1;
#endif
	return 0;
}

/* isa: what encode() and decode() may use, at most dc__b64url_isa_max() */
static void encode(unsigned isa, const uint8_t *in, size_t n, char *out)
{
	size_t i = 0, o = 0;
#ifdef B64_X86
	if (isa >= 2 && n >= 28) {
		i = enc_avx2(in, n, out);
		o = i / 3 * 4;
	}
	if (isa >= 1 && n - i >= 16) {
		size_t k = enc_ssse3(in + i, n - i, out + o);
		i += k;
		o += k / 3 * 4;
	}
#else
	(void)isa;
#endif
	for (; n - i >= 3; i += 3) {
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

void dc__b64url_encode_to(const uint8_t *in, size_t n, char *out)
{
	encode(dc__b64url_isa_max(), in, n, out);
}

/* For the tests: isa is the most the call may use (0: the scalar code alone), capped by what
 * the CPU has. */
void dc__b64url_encode_isa(unsigned isa, const uint8_t *in, size_t n, char *out)
{
	unsigned max = dc__b64url_isa_max();
	encode(isa < max ? isa : max, in, n, out);
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

static dc_err decode(unsigned isa, const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
	*outlen = 0;
	if (n % 4 == 1)
		return DC_ERR_MALFORMED;
	if (dec_len(n) > cap)
		return DC_ERR_TOO_BIG;
	size_t i = 0, o = 0;
#ifdef B64_X86
	if (isa >= 2 && n >= 32) {
		i = dec_avx2(in, n, out);
		o = i / 4 * 3;
	}
	if (isa >= 1 && n - i >= 16) {
		size_t k = dec_ssse3(in + i, n - i, out + o);
		i += k;
		o += k / 4 * 3;
	}
#else
	(void)isa;
#endif
	for (; n - i >= 4; i += 4) {
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

dc_err dc__b64url_decode_to(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
	return decode(dc__b64url_isa_max(), in, n, out, cap, outlen);
}

/* For the tests, as dc__b64url_encode_isa. */
dc_err dc__b64url_decode_isa(unsigned isa, const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
	unsigned max = dc__b64url_isa_max();
	return decode(isa < max ? isa : max, in, n, out, cap, outlen);
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
