/* CUnit driver: each module's file defines init_<mod>_tests(); missing ones are skipped
 * (weak), so a suite is added by adding its file. Prints "N passed, N failed" last. */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define SUITES(X) X(b64url) X(json) X(crypto) X(jwk) X(jose) X(multibase) X(did) X(keystore) \
	X(msg) X(pack) X(from_prior) X(vectors) X(hostile) X(protocols) X(queue) X(rules) X(ingest)
#define DECL(n) void init_##n##_tests(void) __attribute__((weak));
SUITES(DECL)

size_t tu_dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	size_t n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

char *tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 4096, n = 0;
	char *b = malloc(cap);
	size_t r;
	while (b && (r = fread(b + n, 1, cap - n - 1, f)) > 0) {
		n += r;
		if (cap - n - 1 == 0) {
			char *nb = realloc(b, cap * 2);
			if (!nb) {
				free(b);
				b = NULL;
				break;
			}
			b = nb;
			cap *= 2;
		}
	}
	fclose(f);
	if (!b)
		return NULL;
	b[n] = 0;
	if (len)
		*len = n;
	return b;
}

cJSON *tu_read_json(const char *path)
{
	size_t n;
	char *s = tu_read_file(path, &n);
	if (!s)
		return NULL;
	cJSON *j = cJSON_ParseWithLength(s, n);
	free(s);
	return j;
}

int main(int argc, char **argv)
{
	if (dc_init() != DC_OK || CU_initialize_registry() != CUE_SUCCESS)
		return 2;
#define CALL(n) if (init_##n##_tests) init_##n##_tests();
	SUITES(CALL)
	CU_basic_set_mode(argc > 1 && strcmp(argv[1], "-v") == 0 ? CU_BRM_VERBOSE : CU_BRM_NORMAL);
	CU_basic_run_tests();
	unsigned run = CU_get_number_of_tests_run(), failed = CU_get_number_of_tests_failed();
	unsigned asserts_failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	printf("\nunit: %u passed, %u failed\n", run - failed, failed);
	return (failed || asserts_failed) ? 1 : 0;
}
