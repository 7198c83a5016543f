#include "testutil.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* core/b64url.c's SIMD paths, for the differential test (not in internal.h: tests only). isa 0
 * is the scalar code alone, 1 adds SSSE3, 2 AVX2; a level the CPU lacks is not used. */
unsigned dc__b64url_isa_max(void);
void dc__b64url_encode_isa(unsigned isa, const uint8_t *in, size_t n, char *out);
dc_err dc__b64url_decode_isa(unsigned isa, const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen);

static void roundtrip(void)
{
	const char *cases[][2] = { { "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
	                           { "foob", "Zm9vYg" }, { "\xfb\xff", "-_8" } };
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *e = NULL;
		CU_ASSERT_EQUAL_FATAL(dc__b64url_encode((const uint8_t *)cases[i][0], strlen(cases[i][0]), &e), DC_OK);
		CU_ASSERT_STRING_EQUAL(e, cases[i][1]);
		uint8_t *d = NULL;
		size_t n = 0;
		CU_ASSERT_EQUAL(dc__b64url_decode(e, strlen(e), &d, &n), DC_OK);
		CU_ASSERT_EQUAL(n, strlen(cases[i][0]));
		CU_ASSERT(memcmp(d, cases[i][0], n) == 0);
		free(d);
		free(e);
	}
}

static void strict(void)
{
	/* padding, whitespace, standard alphabet, impossible length, non-canonical bits */
	const char *bad[] = { "Zg==", "Zm8=", "Zm 9v", "Zm9v\n", "+/8", "Z", "Zh", "Zm9", "ab=c" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		uint8_t *d = NULL;
		size_t n = 0;
		CU_ASSERT_EQUAL(dc__b64url_decode(bad[i], strlen(bad[i]), &d, &n), DC_ERR_MALFORMED);
		CU_ASSERT_PTR_NULL(d);
	}
}

static void any(void)
{
	CU_ASSERT_EQUAL(dc__b64any_check("Zg==", 4), DC_OK);
	CU_ASSERT_EQUAL(dc__b64any_check("+/8=", 4), DC_OK);
	CU_ASSERT_EQUAL(dc__b64any_check("Zg", 2), DC_OK);
	CU_ASSERT_NOT_EQUAL(dc__b64any_check("Z===", 4), DC_OK);
	CU_ASSERT_NOT_EQUAL(dc__b64any_check("Zg=", 3), DC_OK);
	CU_ASSERT_NOT_EQUAL(dc__b64any_check("Z*g=", 4), DC_OK);
}

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static unsigned dec_val(char c)
{
	return (unsigned)(strchr(alphabet, c) - alphabet);
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	return tu_rnd(&rnd_state);
}

/* Decodes in[0..n) with every level and compares each with the scalar code: verdict, length,
 * and the output buffer (filled alike before, so even what a failing decode wrote must agree).
 * The text is copied to the end of its own allocation at offset off, and the output buffer is
 * exactly as large as the decoded length, so ASan sees any read or write past either. Returns
 * the scalar verdict. */
static dc_err decode_all(const char *in, size_t n, size_t off, unsigned *mismatches)
{
	size_t cap = (n / 4) * 3 + (n % 4 ? n % 4 - 1 : 0);
	char *buf = malloc(off + n + 1);
	uint8_t *ref = malloc(cap + 1), *got = malloc(cap + 1);
	CU_ASSERT_FATAL(buf && ref && got);
	char *text = buf + off;
	memcpy(text, in, n);
	memset(ref, 0xa5, cap);
	size_t ref_len = 99;
	dc_err ref_rc = dc__b64url_decode_isa(0, text, n, ref, cap, &ref_len);
	for (unsigned isa = 1; isa <= dc__b64url_isa_max(); isa++) {
		memset(got, 0xa5, cap);
		size_t got_len = 77;
		dc_err rc = dc__b64url_decode_isa(isa, text, n, got, cap, &got_len);
		if (rc != ref_rc || got_len != ref_len || memcmp(got, ref, cap) != 0) {
			if (++*mismatches <= 5)
				fprintf(stderr, "b64url: isa %u differs on %zu chars at offset %zu: rc %d/%d len %zu/%zu\n", isa,
				        n, off, (int)rc, (int)ref_rc, got_len, ref_len);
		}
	}
	/* the entry point the library uses, too */
	memset(got, 0xa5, cap);
	size_t got_len = 55;
	dc_err rc = dc__b64url_decode_to(text, n, got, cap, &got_len);
	if (rc != ref_rc || got_len != ref_len || memcmp(got, ref, cap) != 0)
		++*mismatches;
	free(buf);
	free(ref);
	free(got);
	return ref_rc;
}

/* Random texts of every length 0..300 at every alignment mod 32, decoded by the SIMD paths and
 * the scalar code: valid ones, and each with one character replaced by every byte value at a
 * few positions (two of them in the last 32 characters), and with non-zero trailing bits. */
static void simd_decode_differential(void)
{
	unsigned mismatches = 0, ok = 0, bad = 0, bits = 0;
	char text[300];
	for (size_t n = 0; n <= 300; n++) {
		for (int rep = 0; rep < 4; rep++) {
			for (size_t i = 0; i < n; i++)
				text[i] = alphabet[rnd() % 64];
			/* canonical trailing bits, as an encoder gives (rep 3: left random) */
			if (rep < 3 && n % 4 == 2)
				text[n - 1] = alphabet[dec_val(text[n - 1]) & 0x30];
			if (rep < 3 && n % 4 == 3)
				text[n - 1] = alphabet[dec_val(text[n - 1]) & 0x3c];
			dc_err rc = decode_all(text, n, (n + (size_t)rep) % 32, &mismatches);
			if (n % 4 == 1) {
				CU_ASSERT_EQUAL(rc, DC_ERR_MALFORMED);
			} else if (rep < 3) {
				CU_ASSERT_EQUAL(rc, DC_OK);
			}
			ok += rc == DC_OK;
			bits += rep == 3 && rc != DC_OK;
			if (n == 0 || rep == 3)
				continue;
			size_t pos[4] = { rnd() % n, rnd() % n, n - 1 - rnd() % (n < 32 ? n : 32), n - 1 - rnd() % (n < 32 ? n : 32) };
			for (int k = 0; k < 4; k++) {
				char keep = text[pos[k]];
				for (int v = 0; v < 256; v++) {
					text[pos[k]] = (char)v;
					bool valid = memchr(alphabet, v, 64) != NULL;
					rc = decode_all(text, n, rnd() % 32, &mismatches);
					if (!valid) {
						CU_ASSERT_EQUAL(rc, DC_ERR_MALFORMED);
					}
					bad += !valid;
				}
				text[pos[k]] = keep;
			}
		}
	}
	CU_ASSERT_EQUAL(mismatches, 0);
	CU_ASSERT(ok > 600 && bad > 600000 && bits > 100); /* every kind of input was there */
}

/* Random bytes of every length 0..300, encoded by the SIMD paths and the scalar code at every
 * alignment, into buffers of exactly the encoded size; each decodes back. */
static void simd_encode_differential(void)
{
	unsigned mismatches = 0;
	for (size_t n = 0; n <= 300; n++) {
		for (int rep = 0; rep < 4; rep++) {
			size_t off = rnd() % 32, len = dc__b64url_enc_len(n);
			uint8_t *buf = malloc(off + n + 1), *in = buf + off;
			char *ref = malloc(len + 1), *got = malloc(len + 1);
			CU_ASSERT_FATAL(buf && ref && got);
			for (size_t i = 0; i < n; i++)
				in[i] = (uint8_t)rnd();
			dc__b64url_encode_isa(0, in, n, ref);
			for (unsigned isa = 1; isa <= dc__b64url_isa_max() + 1; isa++) {
				if (isa <= dc__b64url_isa_max())
					dc__b64url_encode_isa(isa, in, n, got);
				else
					dc__b64url_encode_to(in, n, got);
				if (strlen(got) != len || strcmp(got, ref) != 0)
					mismatches++;
			}
			uint8_t back[300];
			size_t back_len = 0;
			CU_ASSERT_EQUAL(dc__b64url_decode_to(ref, len, back, sizeof back, &back_len), DC_OK);
			CU_ASSERT(back_len == n && memcmp(back, in, n) == 0);
			free(buf);
			free(ref);
			free(got);
		}
	}
	CU_ASSERT_EQUAL(mismatches, 0);
}

void init_b64url_tests(void)
{
	CU_pSuite s = CU_add_suite("b64url", NULL, NULL);
	TU_ADD(s, roundtrip);
	TU_ADD(s, strict);
	TU_ADD(s, any);
	TU_ADD(s, simd_decode_differential);
	TU_ADD(s, simd_encode_differential);
}
