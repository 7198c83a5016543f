/* JWK parsing (public and private, every curve) and print round trip. */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

FUZZ_ENTRY(jwk)
{
	static int init;
	if (!init++ && dc_init())
		abort();
	struct dc_key *k = NULL;
	if (dc_jwk_parse_text((const char *)data, size, &k) == DC_OK) {
		char *t = NULL;
		if (dc_jwk_print(k, true, &t) == DC_OK) {
			struct dc_key *k2 = NULL;
			if (dc_jwk_parse_text(t, strlen(t), &k2) != DC_OK)
				abort(); /* what we print we must read back */
			dc_key_free(k2);
			free(t);
		}
		dc_key_free(k);
	}
	return 0;
}
