/* did:web documents fetched off the ingest workers.
 *
 * One struct gw_webres for the process: a cache shared by all threads, keyed by URL, and a
 * small pool of fetcher threads of its own that drive libcurl (multi interface, many
 * transfers per thread).
 *   - a fetched document is kept ttl_ms (5 min), a failure neg_ttl_ms (60 s);
 *   - at most max_entries URLs (4096) and max_bytes of bodies (64 MiB), least recently used
 *     out first; a body over max_body (1 MiB) is a failure;
 *   - each request has a whole deadline (deadline_ms, 5 s: DNS, connect, TLS, body);
 *   - at most per_host fetches (2) to one host:port at a time, max_active (32) in all; more
 *     wait in a queue (max_queued 1024 in all, max_queued_per_host 32), beyond which a miss
 *     is an immediate failure (not cached);
 *   - every connection passes gw_netpolicy_check(untrusted = true): did:web hosts come
 *     from messages. No redirects, http and https only, no proxy.
 *
 * gw_webres_fetch is a dc_fetch_fn (arg: the gw_webres) that never blocks:
 *   cache hit          -> DC_OK and a copy of the body;
 *   cached failure     -> DC_ERR_RESOLVE (gw_webres_why() tells the reason);
 *   miss / in progress -> the fetch is scheduled (once per URL, however many ask) and
 *                         DC_ERR_AGAIN; gw_webres_missing() names the URL.
 * The core passes DC_ERR_AGAIN up unchanged through dc_resolve, dc_unpack, dc_relay_inspect
 * and dc_pack, with an errinfo "did:web: ... is being fetched".
 *
 * How the daemon uses it (gateway/pool.c): the pool makes one gw_webres with the outbound
 * policy ([outbound] allow, the listener as "self"); every worker's resolver fetches through
 * gw_webres_fetch with its own web TTL at 0 (the shared cache is the one that expires). A
 * message whose opening ends in DC_ERR_AGAIN (ingest's result.fetching) is not answered: it
 * is parked with gw_webres_wait on gw_webres_missing() and put back in the pool's queue by
 * the fetcher thread when the fetch ends (at most 4 times a message), then opened again. At
 * shutdown gw_webres_free hands every parked message back before the workers are joined.
 */
#ifndef GW_WEBRES_H
#define GW_WEBRES_H
#include <stdbool.h>
#include <stddef.h>

#include "didcomm.h"
#include "netpolicy.h"

struct gw_webres_cfg {
	unsigned ttl_ms;                 /* 300000 */
	unsigned neg_ttl_ms;             /* 60000 */
	size_t max_entries;              /* 4096 */
	size_t max_bytes;                /* 64 MiB of cached bodies */
	size_t max_body;                 /* 1 MiB */
	unsigned deadline_ms;            /* 5000 */
	unsigned threads;                /* 2 */
	unsigned per_host;               /* 2 */
	unsigned max_active;             /* 32 transfers at once, all threads */
	size_t max_queued;               /* 1024 */
	size_t max_queued_per_host;      /* 32 */
	const struct gw_netpolicy *np;   /* borrowed, must outlive the gw_webres; NULL: no allow */
};
/* Zero fields take the defaults above. */
void gw_webres_cfg_default(struct gw_webres_cfg *c);

struct gw_webres;
/* Starts the fetcher threads. cfg may be NULL (defaults). */
dc_err gw_webres_new(const struct gw_webres_cfg *cfg, struct gw_webres **out) DC_WUR;
/* Stops the threads (transfers in flight are abandoned); every wait not yet answered gets its
 * ready() call, from the calling thread, before this returns. NULL-safe. */
void gw_webres_free(struct gw_webres *wr);

/* dc_fetch_fn; arg is the struct gw_webres. Never blocks on the network. Thread-safe. */
dc_err gw_webres_fetch(void *arg, const char *url, size_t max, char **body, size_t *len);

/* The URL of this thread's last DC_ERR_AGAIN from gw_webres_fetch, or NULL; borrowed, valid
 * until this thread's next gw_webres_fetch. */
const char *gw_webres_missing(void);
/* The reason of this thread's last DC_ERR_RESOLVE from gw_webres_fetch ("" if none). */
const char *gw_webres_why(void);

/* Call ready(arg) exactly once, from a fetcher thread, when url's fetch has ended (success
 * or failure); soon if it has already ended; a URL not (or no longer) known is fetched.
 * DC_OK: ready will be called. Any error: it will not (DC_ERR_AGAIN: too many fetches waiting;
 * DC_ERR_NOMEM). ready must not call back into this gw_webres except gw_webres_fetch and
 * gw_webres_wait, and should be quick (it runs on a fetcher thread). */
dc_err gw_webres_wait(struct gw_webres *wr, const char *url, void (*ready)(void *arg), void *arg) DC_WUR;

/* Counters, for tests and `status`. */
struct gw_webres_stats {
	size_t entries, bytes, queued, active;
	unsigned long fetches, hits, misses, neg_hits;
};
void gw_webres_stats(struct gw_webres *wr, struct gw_webres_stats *out);
#endif
