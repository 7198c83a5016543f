/* The dispatcher: one thread, sharing the state's queue handle with the workers. It claims due items (at most
 * per_destination in flight per destination, `concurrency` in all), hands each to its
 * adapter's send(), and records the outcome: ack, retry later with backoff, or dead letter.
 * Many deliveries are in flight at once; completions come back from the adapters' threads. */
#ifndef GW_DISPATCHER_H
#define GW_DISPATCHER_H
#include "adapter.h"
#include "state.h"

struct gw_dispatcher;

/* Made first (the ingest pool offers to it), started once the adapters run: ads[i] is the
 * started instance of gw_adapters[i] (NULL: off); notify() is called (from the dispatcher's
 * thread) once it has stopped and is idle. Until started, offers wait in memory. */
dc_err gw_dispatcher_new(struct gw_state *s, struct gw_dispatcher **out, struct dc_errinfo *ei) DC_WUR;
dc_err gw_dispatcher_start(struct gw_dispatcher *d, struct gw_adapter *const *ads, void (*notify)(void),
                           struct dc_errinfo *ei) DC_WUR;
void gw_dispatcher_wake(void *d);  /* any thread: something new may be due */
/* any thread: the items held for presence under key are due again (after every GW_HELD
 * outcome that reached the dispatcher before this call); gw_host.release */
void gw_dispatcher_release(struct gw_dispatcher *d, const char *key);
/* any thread: deliveries just committed born-leased, to send from memory; takes the array
 * and its items (committed born-leased: the caller delivers them from memory) */
void gw_dispatcher_offer(struct gw_dispatcher *d, struct dc_queue_item *items, size_t n);
/* stop claiming; wait for deliveries in flight to complete (the adapters must still run) */
void gw_dispatcher_stop(struct gw_dispatcher *d);
bool gw_dispatcher_idle(struct gw_dispatcher *d);   /* stopped and nothing in flight */
void gw_dispatcher_free(struct gw_dispatcher *d);   /* joins the thread */
#endif
