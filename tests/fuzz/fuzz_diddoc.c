/* DID document parsing: methods, relationships, services. */
#include "fuzz.h"

#include <stdlib.h>

FUZZ_ENTRY(diddoc)
{
	static int init;
	if (!init++ && dc_init())
		abort();
	struct dc_did_doc *d = NULL;
	if (dc_did_doc_parse((const char *)data, size, &d, NULL) == DC_OK) {
		for (size_t i = 0; i < d->n_ka; i++)
			(void)dc__did_doc_vm(d, d->ka[i]);
		char *t = NULL;
		if (dc_did_doc_print(d, &t) == DC_OK)
			free(t);
		dc_did_doc_free(d);
	}
	return 0;
}
