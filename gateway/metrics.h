/* The daemon's counters for the admin listener (admin.c): relaxed atomics, bumped from any
 * thread with one call where the event happens (pool.c, dispatcher.c, ingest.c), read when a
 * scrape renders them. No allocation, and no lock but for the text of a failure: counting
 * never slows the relay. Transports
 * and adapters are the registry's (gw_adapters[]), by name; a name not in it is counted
 * under "other". Prometheus text format 0.0.4 (gw_metrics_render). */
#ifndef GW_METRICS_H
#define GW_METRICS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adapter.h"
#include "didcomm.h"

/* monotonic clock in microseconds (for the latencies below) */
int64_t gw_metrics_now_us(void);

/* an inbound message answered: its transport (adapter name), outcome, size, and how long
 * from submit to answer (us; < 0: unknown) */
void gw_metrics_in(const char *transport, enum gw_outcome o, size_t bytes, int64_t took_us);
/* an inbound message not even taken (busy, over its rate, draining: "try later" at once) */
void gw_metrics_in_busy(const char *transport);
/* an envelope that could not be opened or read (dc_relay_inspect's error): DC_ERR_AGAIN,
 * NOMEM and IO are the gateway's own state, not the envelope's, and are not counted */
void gw_metrics_unpack_failed(dc_err rc);
/* a delivery's outcome, recorded; adapter: gw_dest.adapter ("hold", "" when unparsed);
 * age_ms: since the message was accepted (the delivery latency, for GW_SENT); why: the
 * adapter's word on a retry or failure (kept, the last one per adapter) */
void gw_metrics_delivery(const char *adapter, enum gw_send_result r, int64_t age_ms, const char *why);
/* a queue write (commit of inbound messages) ended: rc and what the store said; a failure in
 * the last 30 s with no success after it makes /readyz say the queue is not writable */
void gw_metrics_queue_write(dc_err rc, const char *why);
/* a failed queue write in the last 30 s not followed by a success: true and why in buf */
bool gw_metrics_queue_write_failed(char *buf, size_t n);

/* totals, for STATUS= lines and the status page */
struct gw_metrics_totals {
	uint64_t in, accepted, refused, busy, sent, retried, failed;
};
void gw_metrics_totals(struct gw_metrics_totals *t);

/* per adapter, for the status page: its deliveries and when it last ended one (0: never) */
struct gw_metrics_adapter {
	uint64_t in, sent, retry, failed, held;
	int64_t last_sent_ms, last_fail_ms; /* wall clock */
	char last_error[160];
};
void gw_metrics_adapter(const char *name, struct gw_metrics_adapter *out);

/* Adapters' connections (gw_host.conn_state): the last state of each (adapter, target), kept
 * for the first GW_METRICS_MAX_CONNS pairs reported (more are left out, said once in the log).
 * Any thread. */
#define GW_METRICS_MAX_CONNS 64
void gw_metrics_conn(const char *adapter, const char *target, enum gw_conn_state st, const char *why);
struct gw_metrics_conn {
	char target[200];
	enum gw_conn_state st;
	char why[160];
	int64_t since_ms;        /* wall clock: when it came into this state */
	uint64_t changes;        /* state changes since it was first reported */
};
/* the connections of one adapter, in the order they were first reported; how many (<= max) */
size_t gw_metrics_conns(const char *adapter, struct gw_metrics_conn *out, size_t max);

/* a growable text buffer with a cap: what does not fit is left out and full is set */
struct gw_buf {
	char *p;
	size_t len, cap, max;
	bool full;
};
void gw_buf_printf(struct gw_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void gw_buf_put(struct gw_buf *b, const char *s, size_t n);
void gw_buf_free(struct gw_buf *b);
/* the counters and histograms, with HELP and TYPE lines (the gauges are the caller's) */
void gw_metrics_render(struct gw_buf *b);

/* version, as `--version` prints it */
const char *gw_version(void);
#endif
