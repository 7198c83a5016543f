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
/* entries of a directory, not counting those whose names start with '.' (0 if it is missing) */
size_t tu_dir_entries(const char *dir);

/* A generated party: a DID document with keyAgreement keys (per_curve of each curve, kids
 * DID#key-<crv>-N) and, with signers, authentication keys DID#sig-ed25519|sig-p256|sig-k256;
 * the document goes into res, the private keys into a new *ks. Optional DIDCommMessaging
 * service (uri, routingKeys). */
int tu_make_party(struct dc_resolver *res, struct dc_keystore **ks, const char *did, const enum dc_crv *curves,
                   size_t n_curves, size_t per_curve, bool signers, const char *svc_uri,
                   const char *const *routing, size_t n_routing);

struct world {
	struct dc_resolver *res;
	struct dc_keystore *ks[6];
};
enum { ALICE, BOB, M1, M2, BOB2, CAROL };

#define TU_ADD(suite, fn) CU_add_test(suite, #fn, fn)

/* xorshift64*: a fixed pseudo-random sequence from *state (the same every run) */
static inline uint32_t tu_rnd(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return (uint32_t)((*state * 0x2545f4914f6cdd1dull) >> 32);
}
#endif
