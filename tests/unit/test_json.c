#include "testutil.h"
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

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

void init_json_tests(void)
{
	CU_pSuite s = CU_add_suite("json", NULL, NULL);
	TU_ADD(s, parse_ok);
	TU_ADD(s, parse_bad);
}
