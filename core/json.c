/* JSON input with the checks cJSON lacks: a nesting bound applied before parsing, duplicate
 * member names rejected (RFC 7515 §5.2 allows reject-or-last; we reject), trailing garbage
 * rejected, and case-sensitive lookups only. */
#include "internal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* One pass over the bytes, outside strings, counting [ and {. */
static dc_err depth_check(const char *in, size_t n, size_t max_depth)
{
	size_t depth = 0;
	for (size_t i = 0; i < n; i++) {
		char ch = in[i];
		if (ch == '"') {
			/* jump to the closing quote: the first one after an even run of backslashes
			 * (memchr is vectorised; base64 strings are most of a JWE) */
			for (size_t from = i + 1;;) {
				const char *q = memchr(in + from, '"', n - from);
				if (!q)
					return DC_OK; /* unterminated: the parser reports it */
				size_t at = (size_t)(q - in), bs = 0;
				while (at - bs > i + 1 && in[at - bs - 1] == '\\')
					bs++;
				from = at + 1;
				if (bs % 2 == 0) {
					i = at;
					break;
				}
			}
		} else if (ch == '{' || ch == '[') {
			if (++depth > max_depth)
				return DC_ERR_TOO_BIG;
		} else if (ch == '}' || ch == ']') {
			if (depth)
				depth--;
		}
	}
	return DC_OK;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* true if an object anywhere under j has two members of one name */
static bool has_duplicates(const cJSON *j)
{
	for (const cJSON *c = j; c; c = c->next) {
		if (cJSON_IsObject(c)) {
			size_t k = 0;
			for (const cJSON *m = c->child; m; m = m->next)
				k++;
			if (k > 1 && k <= 16) {
				for (const cJSON *m = c->child; m; m = m->next)
					for (const cJSON *o = m->next; o; o = o->next)
						if (m->string[0] == o->string[0] && strcmp(m->string, o->string) == 0)
							return true;
			} else if (k > 16) {
				const char **names = malloc(k * sizeof *names);
				if (!names)
					return true; /* fail closed */
				size_t i = 0;
				for (const cJSON *m = c->child; m; m = m->next)
					names[i++] = m->string;
				qsort(names, k, sizeof *names, cmp_names);
				bool dup = false;
				for (i = 1; i < k && !dup; i++)
					dup = strcmp(names[i - 1], names[i]) == 0;
				free(names);
				if (dup)
					return true;
			}
		}
		if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && c->child && has_duplicates(c->child))
			return true;
	}
	return false;
}

dc_err dc__json_parse(const char *in, size_t n, size_t max_depth, cJSON **out, struct dc_errinfo *ei)
{
	*out = NULL;
	if (!in)
		return dc__fail(ei, DC_ERR_INVAL, "json: no input");
	if (n == 0)
		return dc__fail(ei, DC_ERR_MALFORMED, "json: empty input");
	if (depth_check(in, n, max_depth ? max_depth : 64))
		return dc__fail(ei, DC_ERR_TOO_BIG, "json: nested deeper than %zu levels", max_depth ? max_depth : 64);
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(in, n, &end, false);
	if (!j) {
		size_t at = end && end >= in ? (size_t)(end - in) : 0;
		return dc__fail(ei, DC_ERR_MALFORMED, "json: syntax error at byte %zu", at);
	}
	for (const char *p = end; p && p < in + n; p++) {
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n' && *p != '\0') {
			cJSON_Delete(j);
			return dc__fail(ei, DC_ERR_MALFORMED, "json: trailing data at byte %zu", (size_t)(p - in));
		}
		if (*p == '\0' && (size_t)(p - in) + 1 < n) {
			cJSON_Delete(j);
			return dc__fail(ei, DC_ERR_MALFORMED, "json: NUL byte at %zu", (size_t)(p - in));
		}
	}
	if (has_duplicates(j)) {
		cJSON_Delete(j);
		return dc__fail(ei, DC_ERR_MALFORMED, "json: duplicate member name");
	}
	*out = j;
	return DC_OK;
}

size_t dc__json_escape(const char *s, char *out)
{
	size_t n = 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			if (out) {
				out[n] = '\\';
				out[n + 1] = (char)c;
			}
			n += 2;
		} else if (c < 0x20) {
			if (out) {
				static const char hexd[] = "0123456789abcdef";
				memcpy(out + n, "\\u00", 4);
				out[n + 4] = hexd[c >> 4];
				out[n + 5] = hexd[c & 15];
			}
			n += 6;
		} else {
			if (out)
				out[n] = (char)c;
			n++;
		}
	}
	return n;
}

/* cJSON_GetObjectItemCaseSensitive with the first bytes compared before strcmp: most member
 * names differ there, and a message's checks look up some 30 names */
cJSON *dc__json_get(const cJSON *obj, const char *name)
{
	if (!obj || !name)
		return NULL;
	for (cJSON *c = obj->child; c && c->string; c = c->next)
		if (c->string[0] == name[0] && strcmp(c->string, name) == 0)
			return c;
	return NULL;
}

const char *dc__json_str(const cJSON *obj, const char *name)
{
	const cJSON *v = dc__json_get(obj, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

const cJSON *dc__json_obj(const cJSON *obj, const char *name)
{
	const cJSON *v = dc__json_get(obj, name);
	return cJSON_IsObject(v) ? v : NULL;
}

const cJSON *dc__json_arr(const cJSON *obj, const char *name)
{
	const cJSON *v = dc__json_get(obj, name);
	return cJSON_IsArray(v) ? v : NULL;
}

dc_err dc__json_print(const cJSON *j, char **out, size_t *len)
{
	*out = cJSON_PrintUnformatted(j);
	if (!*out) {
		if (len)
			*len = 0;
		return DC_ERR_NOMEM;
	}
	if (len)
		*len = strlen(*out);
	return DC_OK;
}

static void wipe(cJSON *j)
{
	for (; j; j = j->next) {
		if (cJSON_IsString(j) && j->valuestring)
			sodium_memzero(j->valuestring, strlen(j->valuestring));
		if (j->child)
			wipe(j->child);
	}
}

void dc__json_delete_secret(cJSON *j)
{
	if (!j)
		return;
	wipe(j);
	cJSON_Delete(j);
}

/* ---- reading JSON in place ---------------------------------------------------------- */
void dc__scan_ws(struct dc_scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

bool dc__scan_lit(struct dc_scan *s, char c)
{
	dc__scan_ws(s);
	if (s->p < s->end && *s->p == c) {
		s->p++;
		return true;
	}
	return false;
}

/* The first byte in [c, end) that is '"', '\\' or below 0x20, or end. Base64url texts are most of
 * an envelope: on x86-64, 16 bytes at a time with SSE2 (always there), then, for the rest of a
 * long string, 32 at a time with AVX2 if the CPU has it (__builtin_cpu_supports reads what the
 * compiler's runtime detected at start-up), 16 again, then eight at a time in a uint64_t, then
 * byte by byte: no read past end. isa: 2 AVX2 if the CPU has it (checked only for a string
 * long enough), 1 SSE2, 0 neither (the portable code alone). */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SCAN_X86 1
#include <immintrin.h>

/* bit i set: byte i of the 16 at c stops the scan */
static inline unsigned stops16(const char *c)
{
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)c);
	__m128i m = _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\\')));
	m = _mm_or_si128(m, _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8(0x1f)), x));
	return (unsigned)_mm_movemask_epi8(m);
}

/* *pc advanced 32 bytes at a time while 32 remain; true when it stopped on a stop byte */
__attribute__((target("avx2"))) static bool stops_avx2(const char **pc, const char *end)
{
	const __m256i q = _mm256_set1_epi8('"'), bs = _mm256_set1_epi8('\\'), ctl = _mm256_set1_epi8(0x1f);
	for (const char *c = *pc; end - c >= 32; c += 32) {
		__m256i x = _mm256_loadu_si256((const __m256i *)(const void *)c);
		__m256i m = _mm256_or_si256(_mm256_cmpeq_epi8(x, q), _mm256_cmpeq_epi8(x, bs));
		m = _mm256_or_si256(m, _mm256_cmpeq_epi8(_mm256_min_epu8(x, ctl), x));
		unsigned bits = (unsigned)_mm256_movemask_epi8(m);
		if (bits) {
			*pc = c + __builtin_ctz(bits);
			return true;
		}
		*pc = c + 32;
	}
	return false;
}
#endif

/* what dc__scan_str uses on this CPU */
unsigned dc__scan_isa_max(void)
{
#ifdef SCAN_X86
	return __builtin_cpu_supports("avx2") ? 2 : 1;
#else
	return 0;
#endif
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
/* from c on, after the first 16 bytes (or fewer) that scan_str looked at inline */
static const char *scan_rest(unsigned isa, const char *c, const char *end)
{
#ifdef SCAN_X86
	if (isa >= 2 && end - c >= 32 && __builtin_cpu_supports("avx2") && stops_avx2(&c, end))
		return c;
	if (isa >= 1)
		for (; end - c >= 16; c += 16) {
			unsigned bits = stops16(c);
			if (bits)
				return c + __builtin_ctz(bits);
		}
#else
	(void)isa;
#endif
	while (end - c >= 8) {
		uint64_t x, q, e;
		memcpy(&x, c, 8);
		q = x ^ (ONES * '"');
		e = x ^ (ONES * '\\');
		if ((((q - ONES) & ~q) | ((e - ONES) & ~e) | (x - ONES * 0x20)) & ~x & HIGHS)
			break;
		c += 8;
	}
	for (; c < end; c++) {
		unsigned char ch = (unsigned char)*c;
		if (ch == '"' || ch == '\\' || ch < 0x20)
			return c;
	}
	return end;
}

static inline bool scan_str(unsigned isa, struct dc_scan *s, struct dc_span *v)
{
	dc__scan_ws(s);
	if (s->p >= s->end || *s->p != '"')
		return false;
	const char *b = ++s->p, *c;
#ifdef SCAN_X86
	unsigned bits;
	if (isa >= 1 && s->end - b >= 16 && (bits = stops16(b)))
		c = b + __builtin_ctz(bits); /* most member names and short values */
	else if (isa >= 1 && s->end - b >= 16)
		c = scan_rest(isa, b + 16, s->end);
	else
#endif
		c = scan_rest(isa, b, s->end);
	if (c == s->end || *c != '"')
		return false;
	v->p = b;
	v->n = (size_t)(c - b);
	s->p = c + 1;
	return true;
}

bool dc__scan_str(struct dc_scan *s, struct dc_span *v)
{
	return scan_str(2, s, v);
}

/* For the tests: isa is the most the call may use (what the CPU lacks is not used). */
bool dc__scan_str_isa(unsigned isa, struct dc_scan *s, struct dc_span *v)
{
	return scan_str(isa, s, v);
}
