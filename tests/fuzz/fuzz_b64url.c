/* strict base64url: decode, and re-encode must give the input back; the SIMD paths the CPU has
 * must agree with the scalar code (verdict, length, bytes) */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

/* core/b64url.c, for tests: isa 0 is the scalar code alone */
void dc__b64url_encode_isa(unsigned isa, const uint8_t *in, size_t n, char *out);
dc_err dc__b64url_decode_isa(unsigned isa, const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen);

FUZZ_ENTRY(b64url)
{
	uint8_t *out = NULL;
	size_t n = 0;
	dc_err rc = dc__b64url_decode((const char *)data, size, &out, &n);
	uint8_t *ref = malloc(size + 1);
	size_t ref_n = 0;
	if (!ref)
		abort();
	dc_err ref_rc = dc__b64url_decode_isa(0, (const char *)data, size, ref, size, &ref_n);
	if (rc != ref_rc || (rc == DC_OK && (n != ref_n || memcmp(out, ref, n) != 0)))
		abort(); /* the SIMD and scalar decoders disagree */
	if (rc == DC_OK) {
		char *e = NULL, *e0 = malloc(dc__b64url_enc_len(n) + 1);
		if (!e0 || dc__b64url_encode(out, n, &e) != DC_OK || strlen(e) != size || memcmp(e, data, size) != 0)
			abort(); /* strict decoding is canonical */
		dc__b64url_encode_isa(0, out, n, e0);
		if (strcmp(e, e0) != 0)
			abort(); /* the SIMD and scalar encoders disagree */
		free(e0);
		free(e);
	}
	/* the input as bytes to encode, too */
	char *e = NULL, *e0 = malloc(dc__b64url_enc_len(size) + 1);
	if (!e0 || dc__b64url_encode(data, size, &e) != DC_OK)
		abort();
	dc__b64url_encode_isa(0, data, size, e0);
	if (strcmp(e, e0) != 0)
		abort();
	free(e0);
	free(e);
	free(ref);
	free(out);
	return 0;
}
