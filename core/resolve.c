/* DID resolution: documents given locally first, then a bounded MRU cache, then the method
 * (key, peer, web through the caller's fetch callback). Documents are reference counted. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WEB_MAX (1u << 20)
#define MAX_LOCAL 4096

dc_err dc_resolver_new(size_t cache_size, struct dc_resolver **out)
{
	*out = NULL;
	struct dc_resolver *r = calloc(1, sizeof *r);
	if (!r)
		return DC_ERR_NOMEM;
	r->cache_cap = cache_size ? cache_size : 256;
	if (!(r->cache = calloc(r->cache_cap, sizeof *r->cache))) {
		free(r);
		return DC_ERR_NOMEM;
	}
	*out = r;
	return DC_OK;
}

void dc_resolver_free(struct dc_resolver *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_cache; i++)
		dc_did_doc_free(r->cache[i]);
	for (size_t i = 0; i < r->n_local; i++)
		dc_did_doc_free(r->local[i]);
	free(r->cache);
	free(r->local);
	free(r);
}

void dc_resolver_set_fetch(struct dc_resolver *r, dc_fetch_fn *fn, void *arg)
{
	r->fetch = fn;
	r->fetch_arg = arg;
}

void dc_resolver_allow_http_loopback(struct dc_resolver *r, bool allow)
{
	r->http_loopback = allow;
}

static dc_err add_local(struct dc_resolver *r, cJSON *j, struct dc_errinfo *ei)
{
	if (r->n_local >= MAX_LOCAL) {
		cJSON_Delete(j);
		return dc__fail(ei, DC_ERR_TOO_BIG, "more than %d local DID documents", MAX_LOCAL);
	}
	struct dc_did_doc *d = NULL;
	dc_err rc = dc__did_doc_from_json(j, &d, ei);
	if (rc)
		return rc;
	/* a later document for the same DID replaces the earlier one */
	for (size_t i = 0; i < r->n_local; i++)
		if (strcmp(r->local[i]->id, d->id) == 0) {
			dc_did_doc_free(r->local[i]);
			r->local[i] = d;
			return DC_OK;
		}
	struct dc_did_doc **nl = realloc(r->local, (r->n_local + 1) * sizeof *nl);
	if (!nl) {
		dc_did_doc_free(d);
		return DC_ERR_NOMEM;
	}
	r->local = nl;
	r->local[r->n_local++] = d;
	return DC_OK;
}

dc_err dc_resolver_add_docs_text(struct dc_resolver *r, const char *json, size_t len, struct dc_errinfo *ei)
{
	cJSON *j = NULL;
	dc_err rc = dc__json_parse(json, len, 32, &j, ei);
	if (rc)
		return rc;
	if (cJSON_IsObject(j))
		return add_local(r, j, ei);
	if (!cJSON_IsArray(j)) {
		cJSON_Delete(j);
		return dc__fail(ei, DC_ERR_MALFORMED, "DID documents: want an object or an array of objects");
	}
	cJSON *e;
	while ((e = cJSON_DetachItemFromArray(j, 0))) {
		if ((rc = add_local(r, e, ei)))
			break;
	}
	cJSON_Delete(j);
	return rc;
}

static dc_err read_file(const char *path, size_t max, char **out, size_t *len, struct dc_errinfo *ei)
{
	*out = NULL;
	FILE *f = fopen(path, "rb");
	if (!f)
		return dc__fail(ei, DC_ERR_IO, "cannot open %.200s", path);
	char *b = malloc(max + 1);
	size_t n = b ? fread(b, 1, max + 1, f) : 0;
	int err = ferror(f);
	fclose(f);
	if (!b)
		return DC_ERR_NOMEM;
	if (err || n > max) {
		free(b);
		return dc__fail(ei, err ? DC_ERR_IO : DC_ERR_TOO_BIG, "%.200s: %s", path, err ? "read error" : "too big");
	}
	b[n] = 0;
	*out = b;
	*len = n;
	return DC_OK;
}

dc_err dc_resolver_add_docs_file(struct dc_resolver *r, const char *path, struct dc_errinfo *ei)
{
	char *b = NULL;
	size_t n = 0;
	dc_err rc = read_file(path, 64u << 20, &b, &n, ei);
	if (rc)
		return rc;
	rc = dc_resolver_add_docs_text(r, b, n, ei);
	free(b);
	return rc;
}

static void cache_put(struct dc_resolver *r, struct dc_did_doc *d)
{
	if (r->n_cache == r->cache_cap) {
		dc_did_doc_free(r->cache[r->n_cache - 1]);
		r->n_cache--;
	}
	memmove(r->cache + 1, r->cache, r->n_cache * sizeof *r->cache);
	r->cache[0] = dc__did_doc_ref(d);
	r->n_cache++;
}

static dc_err by_method(struct dc_resolver *r, const char *did, cJSON **doc, struct dc_errinfo *ei)
{
	if (strncmp(did, "did:key:", 8) == 0)
		return dc__did_key_resolve(did, doc, ei);
	if (strncmp(did, "did:peer:", 9) == 0)
		return dc__did_peer_resolve(did, doc, ei);
	if (strncmp(did, "did:web:", 8) == 0) {
		char *url = NULL, *body = NULL;
		size_t len = 0;
		dc_err rc = dc__did_web_url(did, r->http_loopback, &url, ei);
		if (rc)
			return rc;
		if (!r->fetch) {
			free(url);
			return dc__fail(ei, DC_ERR_RESOLVE, "did:web: no fetcher configured for %.200s", did);
		}
		rc = r->fetch(r->fetch_arg, url, WEB_MAX, &body, &len);
		if (rc) {
			dc__fail(ei, DC_ERR_RESOLVE, "did:web: fetching %.300s failed (%s)", url, dc_strerror(rc));
			free(url);
			return DC_ERR_RESOLVE;
		}
		free(url);
		rc = dc__json_parse(body, len, 32, doc, ei);
		free(body);
		if (rc)
			return dc__fail(ei, DC_ERR_RESOLVE, "did:web: %.200s: document is not JSON", did);
		const char *id = dc__json_str(*doc, "id");
		if (!id || strcmp(id, did) != 0) {
			cJSON_Delete(*doc);
			*doc = NULL;
			return dc__fail(ei, DC_ERR_RESOLVE, "did:web: document id is not %.200s", did);
		}
		return DC_OK;
	}
	return dc__fail(ei, DC_ERR_UNSUPPORTED, "DID method of %.100s is not supported", did);
}

dc_err dc_resolve(struct dc_resolver *r, const char *did_url, struct dc_did_doc **out, struct dc_errinfo *ei)
{
	*out = NULL;
	char *did = NULL;
	dc_err rc = dc__did_of(did_url, &did);
	if (rc)
		return dc__fail(ei, DC_ERR_RESOLVE, "not a DID: %.200s", did_url ? did_url : "(null)");
	for (size_t i = 0; i < r->n_local; i++)
		if (strcmp(r->local[i]->id, did) == 0) {
			*out = dc__did_doc_ref(r->local[i]);
			goto out;
		}
	for (size_t i = 0; i < r->n_cache; i++)
		if (strcmp(r->cache[i]->id, did) == 0) {
			struct dc_did_doc *d = r->cache[i];
			memmove(r->cache + 1, r->cache, i * sizeof *r->cache); /* to the front */
			r->cache[0] = d;
			*out = dc__did_doc_ref(d);
			goto out;
		}
	cJSON *j = NULL;
	if ((rc = by_method(r, did, &j, ei)))
		goto out;
	struct dc_did_doc *d = NULL;
	if ((rc = dc__did_doc_from_json(j, &d, ei)))
		goto out;
	cache_put(r, d);
	*out = d;
out:
	free(did);
	return rc;
}
