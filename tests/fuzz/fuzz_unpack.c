/* dc_unpack on arbitrary bytes, with bob's secrets and the spec's DID documents. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>

static struct dc_ctx *ctx;

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *b = malloc(1 << 20);
	*n = b ? fread(b, 1, (1 << 20) - 1, f) : 0;
	fclose(f);
	return b;
}

static void setup(void)
{
	static struct dc_resolver *r;
	static struct dc_keystore *ks;
	const char *docs[] = { "tests/vectors/keys/alice-did-doc.json", "tests/vectors/keys/bob-did-doc.json",
	                       "tests/vectors/keys/charlie-did-doc.json" };
	if (dc_init() || dc_resolver_new(8, &r) || dc_keystore_new(&ks))
		abort();
	for (size_t i = 0; i < 3; i++)
		if (dc_resolver_add_docs_file(r, docs[i], NULL))
			abort(); /* run from the repository root */
	size_t n = 0;
	char *s = slurp("tests/vectors/keys/bob-secrets.json", &n);
	if (!s || dc_keystore_load_text(ks, s, n, NULL))
		abort();
	free(s);
	if (dc_ctx_new(r, ks, &ctx))
		abort();
	struct dc_limits l = { .max_message_bytes = 1 << 20 };
	dc_ctx_set_limits(ctx, &l);
}

FUZZ_ENTRY(unpack)
{
	if (!ctx)
		setup();
	char *msg = NULL;
	struct dc_unpack_meta *m = NULL;
	struct dc_unpack_opts o = { .unwrap_forwards = true };
	if (dc_unpack(ctx, (const char *)data, size, &o, &msg, &m, NULL) == DC_OK) {
		char *t = NULL;
		if (dc_unpack_meta_print(m, &t) == DC_OK)
			free(t);
	}
	free(msg);
	dc_unpack_meta_free(m);
	return 0;
}
