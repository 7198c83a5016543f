/* CUnit driver: each module's file defines init_<mod>_tests(), named in SUITES below (a name
 * without its function fails the link: no suite is skipped silently). `test_unit [-v] [NAME...]`
 * runs the named suites only; an unknown name fails the run. Prints "N passed, N failed" last. */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define SUITES(X) X(b64url) X(json) X(plain) X(crypto) X(jwk) X(multibase) X(did) X(keystore) \
	X(pack) X(from_prior) X(vectors) X(hostile) X(protocols) X(med) X(queue) X(queue_pg) X(rules) X(ingest) X(state) X(netpolicy) X(webres) X(adapters) X(smtp) X(imap) X(file) X(admin) X(reroute)
#define DECL(n) void init_##n##_tests(void);
SUITES(DECL)

static const struct {
	const char *name;
	void (*init)(void);
} suites[] = {
#define ENTRY(n) { #n, init_##n##_tests },
	SUITES(ENTRY)
};
#define N_SUITES (sizeof suites / sizeof suites[0])

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
	bool verbose = false, chosen[N_SUITES] = { false }, any = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0) {
			verbose = true;
			continue;
		}
		size_t k = 0;
		while (k < N_SUITES && strcmp(suites[k].name, argv[i]) != 0)
			k++;
		if (k == N_SUITES) {
			fprintf(stderr, "unit: no suite named '%s' (the suites:", argv[i]);
			for (k = 0; k < N_SUITES; k++)
				fprintf(stderr, " %s", suites[k].name);
			fprintf(stderr, ")\nunit: 0 passed, 1 failed\n");
			return 2;
		}
		chosen[k] = any = true;
	}
	if (dc_init() != DC_OK || CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	for (size_t k = 0; k < N_SUITES; k++)
		if (!any || chosen[k])
			suites[k].init();
	CU_basic_set_mode(verbose ? CU_BRM_VERBOSE : CU_BRM_NORMAL);
	CU_basic_run_tests();
	unsigned run = CU_get_number_of_tests_run(), failed = CU_get_number_of_tests_failed();
	unsigned asserts_failed = CU_get_number_of_failures();
	CU_cleanup_registry();
	printf("\nunit: %u passed, %u failed\n", run - failed, failed);
	return (failed || asserts_failed) ? 1 : 0;
}
