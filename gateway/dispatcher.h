/* The dispatcher: one thread with its own queue connection. It claims due items (at most
 * per_destination in flight per destination, `concurrency` in all), hands each to its
 * adapter's send(), and records the outcome: ack, retry later with backoff, or dead letter.
 * Many deliveries are in flight at once; completions come back from the adapters' threads. */
#ifndef GW_DISPATCHER_H
#define GW_DISPATCHER_H
#include "adapter.h"
#include "state.h"

struct gw_dispatcher;

/* ads[i] is the started instance of gw_adapters[i] (NULL: not configured) */
dc_err gw_dispatcher_start(struct gw_state *s, struct gw_adapter *const *ads, void (*on_fatal)(void), struct gw_dispatcher **out,
                           char *why, size_t why_len);
void gw_dispatcher_wake(void *d);  /* any thread: something new may be due */
/* stop claiming; wait for deliveries in flight to complete (the adapters must still run) */
void gw_dispatcher_stop(struct gw_dispatcher *d);
bool gw_dispatcher_idle(struct gw_dispatcher *d);   /* stopped and nothing in flight */
void gw_dispatcher_free(struct gw_dispatcher *d);   /* joins the thread */
#endif
