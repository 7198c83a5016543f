#include "testutil.h"
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* core/json.c's string scanner at each level, for the differential test (not in internal.h:
 * tests only). isa 0 is the portable code alone, 1 adds SSE2, 2 AVX2 (used if the CPU has it). */
unsigned dc__scan_isa_max(void);
bool dc__scan_str_isa(unsigned isa, struct dc_scan *s, struct dc_span *v);

static void parse_ok(void)
{
	cJSON *j = NULL;
	const char *s = "{\"a\":1,\"b\":[1,2,{\"c\":\"}\"}]}  \n";
	CU_ASSERT_EQUAL(dc__json_parse(s, strlen(s), 8, &j, NULL), DC_OK);
	CU_ASSERT_PTR_NOT_NULL(dc__json_arr(j, "b"));
	CU_ASSERT_PTR_NULL(dc__json_arr(j, "B")); /* case-sensitive */
	cJSON_Delete(j);
}

static void parse_bad(void)
{
	struct dc_errinfo ei;
	cJSON *j = NULL;
	const char *dup = "{\"a\":1,\"b\":{\"x\":1,\"x\":2}}";
	CU_ASSERT_EQUAL(dc__json_parse(dup, strlen(dup), 8, &j, &ei), DC_ERR_MALFORMED);
	CU_ASSERT(strstr(ei.msg, "duplicate") != NULL);
	const char *trail = "{\"a\":1} x";
	CU_ASSERT_EQUAL(dc__json_parse(trail, strlen(trail), 8, &j, NULL), DC_ERR_MALFORMED);
	const char *trunc = "{\"a\":[1,2";
	CU_ASSERT_EQUAL(dc__json_parse(trunc, strlen(trunc), 8, &j, NULL), DC_ERR_MALFORMED);
	char deep[200];
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	CU_ASSERT_EQUAL(dc__json_parse(deep, 200, 64, &j, NULL), DC_ERR_TOO_BIG);
	/* not NUL-terminated: only n bytes are read */
	const char buf[] = { '{', '}', 'x' };
	CU_ASSERT_EQUAL(dc__json_parse(buf, 2, 8, &j, NULL), DC_OK);
	cJSON_Delete(j);
	/* many members: sorted duplicate check */
	char big[4096];
	size_t o = 0;
	big[o++] = '{';
	for (int i = 0; i < 100; i++)
		o += (size_t)snprintf(big + o, sizeof big - o, "%s\"k%d\":%d", i ? "," : "", i % 99, i);
	big[o++] = '}';
	CU_ASSERT_EQUAL(dc__json_parse(big, o, 8, &j, NULL), DC_ERR_MALFORMED);
}

static uint64_t rnd_state = 0x243f6a8885a308d3ull;
static uint32_t rnd(void)
{
	return tu_rnd(&rnd_state);
}

/* Scans text[0..n) (copied to the end of its own allocation at offset off, so ASan sees any
 * read past it) at every level and with dc__scan_str, and compares each with a byte-by-byte
 * reading of the rule: whitespace, '"', then the first byte that is '"', '\\' or below 0x20
 * must be a '"'. Returns that verdict. */
static bool scan_all(const char *in, size_t n, size_t off, unsigned *mismatches)
{
	char *buf = malloc(off + n + 1);
	CU_ASSERT_FATAL(buf != NULL);
	char *text = buf + off;
	memcpy(text, in, n);
	size_t at = 0;
	while (at < n && (text[at] == ' ' || text[at] == '\t' || text[at] == '\n' || text[at] == '\r'))
		at++;
	bool want = false;
	size_t open = at, close = n;
	if (at < n && text[at] == '"') {
		for (close = at + 1; close < n; close++) {
			unsigned char ch = (unsigned char)text[close];
			if (ch == '"' || ch == '\\' || ch < 0x20)
				break;
		}
		want = close < n && text[close] == '"';
	}
	for (unsigned isa = 0; isa <= 3; isa++) {
		struct dc_scan s = { text, text + n };
		struct dc_span v = { NULL, 12345 };
		bool got = isa < 3 ? dc__scan_str_isa(isa, &s, &v) : dc__scan_str(&s, &v);
		bool same = got == want;
		if (same && want)
			same = v.p == text + open + 1 && v.n == close - open - 1 && s.p == text + close + 1;
		else if (same)
			same = v.p == NULL && v.n == 12345 && s.p == text + (at < n && text[at] == '"' ? at + 1 : at);
		if (!same && ++*mismatches <= 5)
			fprintf(stderr, "scan_str: isa %u differs on %zu bytes at offset %zu\n", isa, n, off);
	}
	free(buf);
	return want;
}

/* Every string length 0..130 with a stop byte ('"', '\\', control characters) or none at
 * every position, then random texts up to 300 bytes with bytes of every value, at random
 * alignments: the SSE2 and AVX2 scans against the rule. */
static void simd_scan_differential(void)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	static const unsigned char stop[] = { '"', '\\', 0x00, 0x01, 0x0a, 0x1f, 0x20, 0x7f, 0x80, 0xff };
	char text[340];
	unsigned mismatches = 0, found = 0, refused = 0;
	for (size_t len = 0; len <= 130; len++) {
		for (size_t k = 0; k <= len; k++) {
			for (size_t t = 0; t <= sizeof stop; t++) {
				size_t ws = rnd() % 3, n = ws + 1 + len;
				memset(text, ' ', ws);
				text[ws] = '"';
				for (size_t i = 0; i < len; i++)
					text[ws + 1 + i] = alphabet[rnd() % 64];
				if (k < len && t < sizeof stop)
					text[ws + 1 + k] = (char)stop[t];
				/* then a closing quote (which a missed stop byte would reach), or not */
				text[n++] = rnd() % 4 ? '"' : 'x';
				bool ok = scan_all(text, n, rnd() % 32, &mismatches);
				found += ok;
				refused += !ok;
			}
		}
	}
	for (int rep = 0; rep < 20000; rep++) {
		size_t n = rnd() % 301;
		for (size_t i = 0; i < n; i++) {
			uint32_t r = rnd() % 64;
			text[i] = r == 0 ? (char)rnd() : alphabet[r];
		}
		if (n)
			text[0] = rnd() % 8 ? '"' : (char)rnd();
		found += scan_all(text, n, rnd() % 32, &mismatches);
	}
	CU_ASSERT_EQUAL(mismatches, 0);
	CU_ASSERT(found > 3000 && refused > 30000);
}

void init_json_tests(void)
{
	CU_pSuite s = CU_add_suite("json", NULL, NULL);
	TU_ADD(s, parse_ok);
	TU_ADD(s, parse_bad);
	TU_ADD(s, simd_scan_differential);
}
