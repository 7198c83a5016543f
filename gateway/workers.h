/* The ingest workers: a pool of threads that open inbound envelopes (crypto), apply the rules
 * and commit to the queue, so that the event loop never waits on either. Each worker has its
 * own resolver, context and queue connection; the keystore (read-only) and the rules (under
 * a read-write lock, swapped on SIGHUP) are shared. Results go back to the loop thread. */
#ifndef GW_WORKERS_H
#define GW_WORKERS_H
#include "adapter.h"
#include "state.h"

struct gw_loop;

/* n: threads (0 = one per CPU); on_queued(arg) is called (any thread) after a commit that
 * queued deliveries, to wake the dispatcher. */
dc_err gw_ingest_new(struct gw_state *s, unsigned n, struct gw_loop *loop, void (*on_queued)(void *), void *arg,
                     struct gw_ingest **out, char *why, size_t why_len);
/* loop thread: submitted but not yet acknowledged (shutdown waits for 0) */
size_t gw_ingest_pending(struct gw_ingest *in);
/* SIGHUP: swap in new rules; the old set is freed once no worker uses it. Takes ownership. */
void gw_ingest_set_rules(struct gw_ingest *in, struct rule_set *rs);
/* stop and join the threads (jobs still waiting are answered 503 first) */
void gw_ingest_free(struct gw_ingest *in);
#endif
