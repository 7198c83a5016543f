/* The dispatcher step: claim due queue items, deliver each through its adapter, then ack,
 * retry later (backoff) or dead-letter. Synchronous for now (one item at a time over
 * libcurl); the daemon's event loop will drive the same decisions asynchronously. */
#ifndef GW_DISPATCH_H
#define GW_DISPATCH_H
#include "dc_queue.h"

struct gw_dispatch_stats {
	size_t sent, retried, failed;
};

dc_err gw_dispatch_once(struct dc_queue *q, size_t max, unsigned per_dest, long timeout_ms,
                        struct gw_dispatch_stats *st, struct dc_errinfo *ei);
#endif
