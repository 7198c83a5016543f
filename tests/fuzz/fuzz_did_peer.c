/* did:peer (0, 2, 4) and did:key resolution of arbitrary strings; no network (no fetcher). */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

FUZZ_ENTRY(did_peer)
{
	static struct dc_resolver *r;
	if (!r && (dc_init() || dc_resolver_new(4, &r)))
		abort();
	if (size > 16384)
		return 0;
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	struct dc_did_doc *d = NULL;
	if (dc_resolve(r, s, &d, NULL) == DC_OK)
		dc_did_doc_free(d);
	free(s);
	return 0;
}
