/* The host interface (adapter.h) as the gateway implements it: one per adapter instance,
 * over the event loop, the ingest pool and the outbound policy. The one-shot commands
 * (`send`, `queue flush`) use the same with no pool: they take no inbound messages. */
#ifndef GW_HOST_H
#define GW_HOST_H
#include "adapter.h"

struct gw_loop;
struct gw_pool;
struct gw_netpolicy;

struct gw_hostimpl {
	struct gw_host h;              /* first: what the adapter is given */
	const char *name;              /* the adapter's name: log context and transport */
	struct gw_loop *loop;
	struct gw_pool *pool;          /* NULL: no inbound messages (commands) */
	const struct gw_netpolicy *np; /* NULL: only "never ourselves" */
};

void gw_host_init(struct gw_hostimpl *hi, const char *name, struct gw_loop *loop, struct gw_pool *pool,
                  const struct gw_netpolicy *np, const struct gw_limits *lim, const char *our_did);
#endif
