/* The event loop: one libwebsockets context, serviced by one thread, owning every socket of
 * the listener (HTTP and WebSocket on one port) and of live outbound WebSocket connections.
 * Other threads (ingest workers, the dispatcher, adapters' helpers) never touch lws: they
 * post a closure with gw_loop_post, which wakes the loop and runs it there. */
#ifndef GW_LOOP_H
#define GW_LOOP_H
#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "didcomm.h"

struct gw_loop;
struct gw_ingest;
struct gw_adapter;
struct lws_context;

typedef void gw_loop_fn(void *arg);

/* Listener from conf [http] (none when http is disabled: client connections only). */
dc_err gw_loop_new(const struct gw_conf *conf, struct gw_ingest *in, struct gw_loop **out, char *why, size_t why_len);
void gw_loop_free(struct gw_loop *l);
/* the ingest pool the listeners hand messages to (created after the loop: it posts to it) */
void gw_loop_set_ingest(struct gw_loop *l, struct gw_ingest *in);
int gw_loop_port(const struct gw_loop *l);           /* the listening port (0: none) */
/* one pass: wait for I/O (or a post, or the next timer) and handle it; <0 on a fatal error */
int gw_loop_service(struct gw_loop *l);
/* any thread, async-signal-safe only through gw_loop_wake: runs fn(arg) on the loop thread */
dc_err gw_loop_post(struct gw_loop *l, gw_loop_fn *fn, void *arg);
void gw_loop_wake(struct gw_loop *l);                /* async-signal-safe */
/* stop accepting new inbound messages: listeners answer 503 / a problem report */
void gw_loop_set_draining(struct gw_loop *l, bool on);

/* ---- for the adapters' lws callbacks (loop thread only) ---- */
struct gw_loop *gw_loop_of_ctx(struct lws_context *ctx);
void gw_loop_run_posted(struct gw_loop *l);          /* on LWS_CALLBACK_EVENT_WAIT_CANCELLED */
bool gw_loop_draining(const struct gw_loop *l);
struct gw_ingest *gw_loop_ingest(const struct gw_loop *l);
const struct gw_conf *gw_loop_conf(const struct gw_loop *l);
struct lws_context *gw_loop_lws(const struct gw_loop *l);
#endif
