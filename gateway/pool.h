/* The ingest pool: threads that open inbound envelopes (crypto) and apply the rules, and one
 * committer thread that commits what they opened to the queue, so that the event loop never
 * waits on either. A worker hands its message to the committer and goes on to the next one;
 * the committer puts everything that gathered meanwhile in one transaction (small messages
 * first, in their own), then offers the deliveries to the dispatcher and posts each answer
 * to the loop thread, where the adapter's ack runs. Each thread has its own context; the
 * keystore (read-only), the queue handle (its operations serialise), the resolver's did:web
 * cache and the rules (under a read-write lock, swapped on SIGHUP) are shared. */
#ifndef GW_POOL_H
#define GW_POOL_H
#include "adapter.h"
#include "state.h"

struct gw_loop;
struct gw_dispatcher;
struct gw_pool;

/* n: threads (0 = one per CPU). disp: where committed deliveries go (may be NULL: the store
 * alone). */
/* np: the outbound policy for did:web fetches (borrowed, outlives the pool). did:web
 * documents are fetched off the workers (webres.h): a message that needs one not fetched
 * yet is parked until the fetch ends, then opened again. */
struct gw_netpolicy;
dc_err gw_pool_new(struct gw_state *s, unsigned n, struct gw_loop *loop, struct gw_dispatcher *disp,
                   const struct gw_netpolicy *np, struct gw_pool **out, struct dc_errinfo *ei) DC_WUR;
/* Any thread: one inbound message (takes m->data, always). ack runs on the loop thread.
 * DC_ERR_AGAIN: too much waiting, this peer over its rate, or stopping (ack not called). */
dc_err gw_pool_submit(struct gw_pool *p, const char *transport, struct gw_inbound *m, gw_ack_fn *ack, void *arg) DC_WUR;
/* the dispatcher it offers to (NULL: none) */
struct gw_dispatcher *gw_pool_dispatcher(struct gw_pool *p);
struct dc_queue *gw_pool_queue(struct gw_pool *p); /* the state's queue (borrowed) */
/* submitted but not yet acknowledged (shutdown waits for 0) */
size_t gw_pool_pending(struct gw_pool *p);
/* SIGHUP: swap in new rules; the old set is freed once no worker uses it. Takes ownership. */
void gw_pool_set_rules(struct gw_pool *p, struct rule_set *rs);
/* stop and join the threads (jobs still waiting are answered "try later" first) */
void gw_pool_free(struct gw_pool *p);
#endif
