#include "testutil.h"
#include <stdlib.h>
#include <string.h>

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

void init_b64url_tests(void)
{
	CU_pSuite s = CU_add_suite("b64url", NULL, NULL);
	TU_ADD(s, roundtrip);
	TU_ADD(s, strict);
	TU_ADD(s, any);
}
