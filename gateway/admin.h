/* The admin listener: a small HTTP/1.1 server of its own (not the DIDComm listener), on the
 * daemon's event loop, for operators and their tools:
 *   GET /metrics   Prometheus text format 0.0.4 (metrics.h, and the queue's depths)
 *   GET /healthz   200 while the loop turns
 *   GET /readyz    200, or 503 with the reasons (not listening, queue not writable, no identity)
 *   GET /          a status page (HTML + CSS, no script, nothing from elsewhere)
 * GET and HEAD only, one request per connection (Connection: close), request heads of at most
 * ADMIN_MAX_HEAD bytes, ADMIN_DEADLINE_MS per connection from accept to the last byte sent,
 * [admin] max_connections at once. With token_file every path but /healthz wants
 * "Authorization: Bearer TOKEN"; without one, only a loopback address may be bound.
 * The queue is read by a thread of its own (its operations wait for the committer's), never
 * on the loop. */
#ifndef GW_ADMIN_H
#define GW_ADMIN_H
#include "didcomm.h"
#include "state.h"

#define ADMIN_MAX_HEAD 8192
#define ADMIN_DEADLINE_MS 5000
#define ADMIN_DEAD_SHOWN 10

struct gw_admin;
struct gw_loop;

/* Check [admin] (token file, loopback), bind and listen, start the queue reader. s and loop
 * outlive the admin listener. DC_ERR_INVAL / DC_ERR_IO with ei saying why. */
dc_err gw_admin_new(struct gw_state *s, struct gw_loop *loop, struct gw_admin **out, struct dc_errinfo *ei) DC_WUR;
/* `run -t`: [admin]'s listen and token_file as gw_admin_new checks them (nothing bound) */
dc_err gw_admin_check(const struct gw_conf *cf, struct dc_errinfo *ei) DC_WUR;
/* the address bound, "127.0.0.1:9090" */
const char *gw_admin_addr(const struct gw_admin *a);
/* the daemon is up: its adapters started and listening (what, for the status page) */
void gw_admin_set_started(struct gw_admin *a, const char *listening);
/* loop thread: close the listener and every connection, join the reader; before the loop's
 * posted closures run for the last time */
void gw_admin_stop(struct gw_admin *a);
/* after gw_loop_free (NULL-safe) */
void gw_admin_free(struct gw_admin *a);

/* for tests: is this the loopback? ("127.0.0.1", "::1", "localhost") */
bool gw_admin_is_loopback(const char *host);
#endif
