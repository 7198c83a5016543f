/* DID resolution. A DID URL is cut to its DID (at '#', '?' or '/'); then, in order:
 *   1. documents given locally (dc_resolver_add_docs_*), which win over every method;
 *   2. a bounded MRU cache of what the methods resolved (cache_size entries; 0 means 256);
 *   3. the method: did:key, did:peer (0, 2, 4), did:web through the caller's fetch callback
 *      (at most 1 MiB; the document's id must be the DID). Other methods: DC_ERR_UNSUPPORTED.
 * A did:peer:4 short form resolves through a long form seen before: the resolver remembers
 * the last PEER4_KEEP long forms it resolved.
 * Documents are reference counted; dc_resolve returns a new reference. A resolver is used by
 * one thread at a time. Cached did:key and did:peer documents never expire (they cannot
 * change); fetched did:web documents expire after web_ttl_ms (dc_resolver_set_web_ttl; 0: not
 * cached). A fetch that answers DC_ERR_AGAIN ("being fetched, ask again") is passed up as
 * DC_ERR_AGAIN, not as a resolution failure. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WEB_MAX (1u << 20)      /* a did:web document */
#define DOCS_FILE_MAX (64u << 20) /* a local documents file */
#define MAX_LOCAL 4096          /* local documents */
#define DEFAULT_CACHE 256
#define PEER4_KEEP 256          /* did:peer:4 long forms remembered */
#define DOC_DEPTH 32
#define DEFAULT_WEB_TTL_MS 300000 /* 5 minutes */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

dc_err dc_resolver_new(size_t cache_size, struct dc_resolver **out)
{
	if (!out)
		return DC_ERR_INVAL;
	*out = NULL;
	struct dc_resolver *r = calloc(1, sizeof *r);
	if (!r)
		return DC_ERR_NOMEM;
	r->cache_cap = cache_size ? cache_size : DEFAULT_CACHE;
	r->web_ttl_ms = DEFAULT_WEB_TTL_MS;
	if (r->cache_cap > (size_t)-1 / sizeof *r->cache_until || !(r->cache = calloc(r->cache_cap, sizeof *r->cache)) ||
	    !(r->cache_until = calloc(r->cache_cap, sizeof *r->cache_until))) {
		free(r->cache);
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
	for (size_t i = 0; i < r->n_peer4; i++)
		free(r->peer4_long[i]);
	free(r->peer4_long);
	free(r->cache);
	free(r->cache_until);
	free(r->local);
	free(r);
}

void dc_resolver_set_fetch(struct dc_resolver *r, dc_fetch_fn *fn, void *arg)
{
	r->fetch = fn;
	r->fetch_arg = arg;
}

void dc_resolver_set_web_ttl(struct dc_resolver *r, int64_t ms)
{
	r->web_ttl_ms = ms > 0 ? ms : 0;
}

void dc_resolver_allow_http_loopback(struct dc_resolver *r, bool allow)
{
	r->http_loopback = allow;
}

/* ---- local documents ------------------------------------------------------------------- */

/* All documents of one call or none: they are parsed first, then put in place (a later
 * document for a DID replaces an earlier one, also within one call). */
dc_err dc_resolver_add_docs_text(struct dc_resolver *r, const char *json, size_t len, struct dc_errinfo *ei)
{
	if (!r || !json)
		return DC_ERR_INVAL;
	cJSON *j = NULL;
	dc_err rc = dc__json_parse(json, len, DOC_DEPTH, &j, ei);
	if (rc)
		return rc;
	if (!cJSON_IsObject(j) && !cJSON_IsArray(j)) {
		cJSON_Delete(j);
		return dc__fail(ei, DC_ERR_MALFORMED, "DID documents: want an object or an array of objects");
	}
	size_t n = cJSON_IsArray(j) ? (size_t)cJSON_GetArraySize(j) : 1;
	if (n > MAX_LOCAL || r->n_local + n > MAX_LOCAL) {
		cJSON_Delete(j);
		return dc__fail(ei, DC_ERR_TOO_BIG, "more than %d local DID documents", MAX_LOCAL);
	}
	struct dc_did_doc **docs = calloc(n ? n : 1, sizeof *docs);
	if (!docs) {
		cJSON_Delete(j);
		return DC_ERR_NOMEM;
	}
	size_t got = 0;
	if (cJSON_IsObject(j)) {
		rc = dc__did_doc_from_json(j, &docs[got], ei);
		got += rc == DC_OK;
	} else {
		cJSON *e;
		while (rc == DC_OK && (e = cJSON_DetachItemFromArray(j, 0))) {
			struct dc_errinfo inner = { 0 };
			rc = dc__did_doc_from_json(e, &docs[got], &inner);
			if (rc)
				dc__fail(ei, rc, "DID documents[%zu]: %s", got, inner.msg[0] ? inner.msg : dc_strerror(rc));
			else
				got++;
		}
		cJSON_Delete(j);
	}
	struct dc_did_doc **nl = NULL;
	if (rc == DC_OK && !(nl = realloc(r->local, (r->n_local + got + 1) * sizeof *nl)))
		rc = DC_ERR_NOMEM;
	if (rc) {
		for (size_t i = 0; i < got; i++)
			dc_did_doc_free(docs[i]);
		free(docs);
		return rc;
	}
	r->local = nl;
	for (size_t i = 0; i < got; i++) {
		size_t k = 0;
		while (k < r->n_local && strcmp(r->local[k]->id, docs[i]->id) != 0)
			k++;
		if (k < r->n_local)
			dc_did_doc_free(r->local[k]);
		else
			r->n_local++;
		r->local[k] = docs[i];
	}
	free(docs);
	return DC_OK;
}

static dc_err read_file(const char *path, size_t max, char **out, size_t *len, struct dc_errinfo *ei)
{
	*out = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dc__fail(ei, DC_ERR_IO, "cannot open %.200s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return dc__fail(ei, DC_ERR_IO, "%.200s: not a regular file", path);
	}
	if ((uintmax_t)st.st_size > max) {
		close(fd);
		return dc__fail(ei, DC_ERR_TOO_BIG, "%.200s: over %zu bytes", path, max);
	}
	size_t cap = (size_t)st.st_size, n = 0;
	char *b = malloc(cap + 1);
	if (!b) {
		close(fd);
		return DC_ERR_NOMEM;
	}
	while (n < cap) { /* a file that shrinks meanwhile is read as it now is */
		ssize_t got = read(fd, b + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int e = errno;
			close(fd);
			free(b);
			return dc__fail(ei, DC_ERR_IO, "reading %.200s: %s", path, strerror(e));
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	b[n] = 0;
	*out = b;
	*len = n;
	return DC_OK;
}

dc_err dc_resolver_add_docs_file(struct dc_resolver *r, const char *path, struct dc_errinfo *ei)
{
	if (!r || !path)
		return DC_ERR_INVAL;
	char *b = NULL;
	size_t n = 0;
	dc_err rc = read_file(path, DOCS_FILE_MAX, &b, &n, ei);
	if (rc)
		return rc;
	struct dc_errinfo inner = { 0 };
	rc = dc_resolver_add_docs_text(r, b, n, &inner);
	free(b);
	if (rc)
		dc__fail(ei, rc, "%.200s: %s", path, inner.msg[0] ? inner.msg : dc_strerror(rc));
	return rc;
}

/* ---- cache ----------------------------------------------------------------------------- */

/* until: CLOCK_MONOTONIC ms when it expires, 0 never */
static void cache_put(struct dc_resolver *r, struct dc_did_doc *d, int64_t until)
{
	if (r->n_cache == r->cache_cap)
		dc_did_doc_free(r->cache[--r->n_cache]); /* the least recently used */
	memmove(r->cache + 1, r->cache, r->n_cache * sizeof *r->cache);
	memmove(r->cache_until + 1, r->cache_until, r->n_cache * sizeof *r->cache_until);
	r->cache[0] = dc__did_doc_ref(d);
	r->cache_until[0] = until;
	r->n_cache++;
}

static struct dc_did_doc *cache_get(struct dc_resolver *r, const char *did)
{
	for (size_t i = 0; i < r->n_cache; i++)
		if (strcmp(r->cache[i]->id, did) == 0) {
			struct dc_did_doc *d = r->cache[i];
			int64_t until = r->cache_until[i];
			if (until && now_ms() >= until) { /* expired: out, and resolved afresh */
				dc_did_doc_free(d);
				r->n_cache--;
				memmove(r->cache + i, r->cache + i + 1, (r->n_cache - i) * sizeof *r->cache);
				memmove(r->cache_until + i, r->cache_until + i + 1, (r->n_cache - i) * sizeof *r->cache_until);
				return NULL;
			}
			memmove(r->cache + 1, r->cache, i * sizeof *r->cache); /* to the front */
			memmove(r->cache_until + 1, r->cache_until, i * sizeof *r->cache_until);
			r->cache[0] = d;
			r->cache_until[0] = until;
			return d;
		}
	return NULL;
}

/* remember a did:peer:4 long form (MRU first, bounded); failure only costs the short form */
static void peer4_remember(struct dc_resolver *r, const char *long_did)
{
	size_t i = 0;
	while (i < r->n_peer4 && strcmp(r->peer4_long[i], long_did) != 0)
		i++;
	char *s;
	if (i < r->n_peer4) {
		s = r->peer4_long[i];
	} else {
		if (!r->peer4_long && !(r->peer4_long = calloc(PEER4_KEEP, sizeof *r->peer4_long)))
			return;
		if (!(s = strdup(long_did)))
			return;
		if (r->n_peer4 == PEER4_KEEP)
			free(r->peer4_long[--r->n_peer4]);
		i = r->n_peer4++;
	}
	memmove(r->peer4_long + 1, r->peer4_long, i * sizeof *r->peer4_long);
	r->peer4_long[0] = s;
}

static const char *peer4_long_of(const struct dc_resolver *r, const char *short_did)
{
	size_t n = strlen(short_did);
	for (size_t i = 0; i < r->n_peer4; i++)
		if (strncmp(r->peer4_long[i], short_did, n) == 0 && r->peer4_long[i][n] == ':')
			return r->peer4_long[i];
	return NULL;
}

/* ---- methods --------------------------------------------------------------------------- */

static dc_err by_web(struct dc_resolver *r, const char *did, cJSON **doc, struct dc_errinfo *ei)
{
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
	if (rc == DC_ERR_AGAIN) { /* not an answer yet: the caller asks again later */
		dc__fail(ei, DC_ERR_AGAIN, "did:web: %.300s is being fetched", url);
		free(url);
		free(body);
		return DC_ERR_AGAIN;
	}
	if (rc || !body || len > WEB_MAX) {
		if (rc == DC_OK) /* a fetcher that broke its contract */
			rc = len > WEB_MAX ? DC_ERR_TOO_BIG : DC_ERR_IO;
		dc__fail(ei, DC_ERR_RESOLVE, "did:web: fetching %.300s failed (%s)", url, dc_strerror(rc));
		free(url);
		free(body);
		return DC_ERR_RESOLVE;
	}
	free(url);
	struct dc_errinfo inner = { 0 };
	rc = dc__json_parse(body, len, DOC_DEPTH, doc, &inner);
	free(body);
	if (rc)
		return dc__fail(ei, DC_ERR_RESOLVE, "did:web: %.200s: the document is not JSON (%s)", did, inner.msg);
	const char *id = dc__json_str(*doc, "id");
	if (!id || strcmp(id, did) != 0) {
		cJSON_Delete(*doc);
		*doc = NULL;
		return dc__fail(ei, DC_ERR_RESOLVE, "did:web: the document's id is not %.200s", did);
	}
	return DC_OK;
}

static dc_err by_method(struct dc_resolver *r, const char *did, cJSON **doc, struct dc_errinfo *ei)
{
	*doc = NULL;
	if (strncmp(did, "did:key:", 8) == 0)
		return dc__did_key_resolve(did, doc, ei);
	if (strncmp(did, "did:peer:4", 10) == 0 && !dc__did_peer4_short_len(did)) {
		const char *l = peer4_long_of(r, did);
		if (l)
			return dc__did_peer4_doc(l, did, doc, ei);
	}
	if (strncmp(did, "did:peer:", 9) == 0)
		return dc__did_peer_resolve(did, doc, ei);
	if (strncmp(did, "did:web:", 8) == 0)
		return by_web(r, did, doc, ei);
	return dc__fail(ei, DC_ERR_UNSUPPORTED, "DID method of %.100s is not supported", did);
}

dc_err dc_resolve(struct dc_resolver *r, const char *did_url, struct dc_did_doc **out, struct dc_errinfo *ei)
{
	if (!out)
		return DC_ERR_INVAL;
	*out = NULL;
	if (!r)
		return DC_ERR_INVAL;
	char *did = NULL;
	dc_err rc = dc__did_of(did_url, &did);
	if (rc)
		return rc == DC_ERR_NOMEM ? rc
		                          : dc__fail(ei, DC_ERR_RESOLVE, "not a DID: %.200s", did_url ? did_url : "(null)");
	struct dc_did_doc *d = NULL;
	for (size_t i = 0; i < r->n_local && !d; i++)
		if (strcmp(r->local[i]->id, did) == 0)
			d = r->local[i];
	if (!d)
		d = cache_get(r, did);
	if (d) {
		*out = dc__did_doc_ref(d);
		goto out;
	}
	cJSON *j = NULL;
	if ((rc = by_method(r, did, &j, ei)))
		goto out;
	if ((rc = dc__did_doc_from_json(j, &d, ei)))
		goto out;
	if (strcmp(d->id, did) != 0) { /* every method sets the id; a guard against our own bugs */
		dc_did_doc_free(d);
		rc = dc__fail(ei, DC_ERR_RESOLVE, "%.200s resolved to a document for another DID", did);
		goto out;
	}
	bool web = strncmp(did, "did:web:", 8) == 0;
	if (!web)
		cache_put(r, d, 0);
	else if (r->web_ttl_ms)
		cache_put(r, d, now_ms() + r->web_ttl_ms);
	*out = d;
out:
	if (*out && dc__did_peer4_short_len(did))
		peer4_remember(r, did);
	free(did);
	return rc;
}
