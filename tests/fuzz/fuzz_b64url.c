/* strict base64url: decode, and re-encode must give the input back */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

FUZZ_ENTRY(b64url)
{
	uint8_t *out = NULL;
	size_t n = 0;
	if (dc__b64url_decode((const char *)data, size, &out, &n) == DC_OK) {
		char *e = NULL;
		if (dc__b64url_encode(out, n, &e) != DC_OK || strlen(e) != size || memcmp(e, data, size) != 0)
			abort(); /* strict decoding is canonical */
		free(e);
		free(out);
	}
	return 0;
}
