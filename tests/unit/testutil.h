/* Shared helpers for the CUnit suites. */
#ifndef DC_TESTUTIL_H
#define DC_TESTUTIL_H
#include <CUnit/CUnit.h>
#include <stddef.h>
#include "internal.h"

/* Read a whole file (NUL-terminated, malloc'd); NULL on failure. Paths are relative to the
 * repository root (make test runs from there) unless absolute. */
char *tu_read_file(const char *path, size_t *len);
/* Parse a JSON file with cJSON (NULL on failure). */
cJSON *tu_read_json(const char *path);

#define TU_ADD(suite, fn) CU_add_test(suite, #fn, fn)
#endif
