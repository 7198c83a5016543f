/* The ingest workers: a pool of threads that open inbound envelopes (crypto) and apply the
 * rules, and one committer thread that commits what they opened to the queue, so that the
 * event loop never waits on either. A worker hands its message to the committer and goes on
 * to the next one; the committer puts everything that gathered meanwhile in one transaction
 * (small messages first, in their own), then answers each message and hands its deliveries
 * to the dispatcher. Each thread has its own resolver and context; the keystore (read-only),
 * the queue handle (its operations serialise) and the rules (under a read-write lock,
 * swapped on SIGHUP) are shared. Results go back to the loop thread. */
#ifndef GW_WORKERS_H
#define GW_WORKERS_H
#include "adapter.h"
#include "state.h"

struct gw_loop;

/* Called (on the committer's thread, or a worker's) after a commit that queued deliveries: items[0..n) are those due
 * now, committed born-leased (dc_queue.h), for the dispatcher to send from memory; the callee
 * owns the array and its items. n == 0: only look in the queue (held or delayed items). */
typedef void gw_on_queued_fn(void *arg, struct dc_queue_item *items, size_t n);
/* n: threads (0 = one per CPU) */
dc_err gw_ingest_new(struct gw_state *s, unsigned n, struct gw_loop *loop, gw_on_queued_fn *on_queued, void *arg,
                     struct gw_ingest **out, char *why, size_t why_len);
/* loop thread: submitted but not yet acknowledged (shutdown waits for 0) */
size_t gw_ingest_pending(struct gw_ingest *in);
/* SIGHUP: swap in new rules; the old set is freed once no worker uses it. Takes ownership. */
void gw_ingest_set_rules(struct gw_ingest *in, struct rule_set *rs);
/* stop and join the threads (jobs still waiting are answered 503 first) */
void gw_ingest_free(struct gw_ingest *in);
#endif
