/* The event loop: one libuv loop, serviced by one thread, with libwebsockets on it as a
 * foreign loop. It owns every socket of the shared listener (built from the adapters'
 * lws_protocols), the adapters' live client connections, their fd watches and timers.
 * Other threads reach it only through gw_loop_post (a uv_async_t wake-up: the loop's own,
 * whichever adapters are built in). */
#ifndef GW_LOOP_H
#define GW_LOOP_H
#include <stdbool.h>
#include <stddef.h>

#include "adapter.h"
#include "didcomm.h"

struct gw_loop;
typedef void gw_loop_fn(void *arg);

/* the loop and its lws context (client connections; no listener yet). ads[i]: the created
 * instance of gw_adapters[i], or NULL when it is off; the protocols of those that are on go
 * to lws, each with .user = its adapter instance (lws_get_protocol(wsi)->user). */
dc_err gw_loop_new(struct gw_adapter *const *ads, struct gw_loop **out, struct dc_errinfo *ei) DC_WUR;
/* open the shared listener (port 0: any); *port gets the port bound. Fails (DC_ERR_IO, ei
 * says why) when the address cannot be bound: the daemon must not run deaf. Connections
 * beyond ln->max_connections in all, or ln->per_peer from one address, are closed at once. */
dc_err gw_loop_listen(struct gw_loop *l, const struct gw_listen *ln, int *port, struct dc_errinfo *ei) DC_WUR;
void gw_loop_free(struct gw_loop *l);
/* one pass: wait for I/O, a post, a timer or a wake-up, and handle it */
void gw_loop_service(struct gw_loop *l);
/* any thread: run fn(arg) on the loop thread */
dc_err gw_loop_post(struct gw_loop *l, gw_loop_fn *fn, void *arg) DC_WUR;
void gw_loop_wake(struct gw_loop *l);                /* async-signal-safe */
void gw_loop_run_posted(struct gw_loop *l);          /* loop thread: what is posted, now */
/* stop accepting new inbound messages (any thread) */
void gw_loop_set_draining(struct gw_loop *l, bool on);
bool gw_loop_draining(const struct gw_loop *l);
struct lws_context *gw_loop_lws(const struct gw_loop *l);
/* the listener's address, for the outbound policy's "never ourselves" (false: none) */
bool gw_loop_listen_addr(const struct gw_loop *l, char *host, size_t n, int *port);

/* fd watches and timers (loop thread), for the host interface */
dc_err gw_loop_watch(struct gw_loop *l, int fd, unsigned events, gw_fd_fn *fn, void *arg, struct gw_watch **out);
void gw_loop_watch_set(struct gw_watch *w, unsigned events);
void gw_loop_watch_close(struct gw_watch *w);
dc_err gw_loop_timer(struct gw_loop *l, uint64_t after_ms, uint64_t repeat_ms, gw_host_fn *fn, void *arg,
                     struct gw_timer **out);
void gw_loop_timer_stop(struct gw_timer *t);
#endif
