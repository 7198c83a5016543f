/* The one transport interface. Each adapter (http.c ws.c, later mqtt.c smtp.c file.c) exports
 * only `gw_ad_<name>`; registry.c lists them. Adapters never look inside envelopes and the
 * core never opens a socket: inbound bytes go to gw_ingest_submit(), outbound come through
 * send(). (Design: shared/design.md "Adapters"; style: shared/style.md "ADAPTER".)
 *
 * Threads: the event loop (gateway/loop.h) owns every socket of the listeners and of live
 * client connections; inbound acknowledgements run on it. send() may be called from the
 * dispatcher thread; its completion may come from any thread. */
#ifndef GW_ADAPTER_H
#define GW_ADAPTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "didcomm.h"

struct gw_loop;      /* the event loop seen by adapters (gateway/loop.h) */
struct gw_ingest;    /* where inbound bytes go (gateway/workers.c) */
struct gw_adapter;   /* one configured adapter instance (opaque to the daemon) */
struct gw_conf;

enum gw_send_result {
	GW_SENT,   /* delivered: the queue item is acknowledged */
	GW_RETRY,  /* try again later with backoff (5xx, timeout, refused) */
	GW_FAILED, /* permanent (4xx other than 408/429): dead-letter with the reason */
};

/* send() completion: exactly once, from any thread, never from inside send() itself */
typedef void gw_send_done_fn(void *arg, enum gw_send_result r, const char *why);

/* One inbound message as an adapter hands it over (everything borrowed for the call). */
struct gw_inbound {
	const char *transport;   /* "http", "ws", ... */
	const char *source;      /* peer address, topic, mailbox, path */
	const char *media_type;  /* as received, may be NULL */
	const uint8_t *data;
	size_t len;
	bool live;               /* the connection can carry replies (return_route "all") */
};

/* What the inbound side answers, after the queue commit or with the reason it was refused. */
struct gw_reply {
	int status;              /* HTTP-style: 202 accepted, 200 answered (body), 4xx/5xx refused */
	const char *why;         /* one line for logs */
	const char *body_type;   /* media type of body, or NULL */
	const uint8_t *body;     /* the reply on the return route or a problem report, or NULL */
	size_t body_len;
};
/* runs on the loop thread, exactly once per accepted submit; r is borrowed for the call */
typedef void gw_ack_fn(void *arg, const struct gw_reply *r);

/* An envelope to send. Valid until done() is called. */
struct gw_envelope {
	int64_t queue_id;
	const char *media_type;
	const uint8_t *data;
	size_t len;
};

enum { GW_AD_IN = 1, GW_AD_OUT = 2, GW_AD_LIVE = 4 };

struct gw_adapter_ops {
	const char *name;                 /* "http": conf section and rule action */
	const char *const *schemes;       /* {"http","https",NULL}: `resolve` picks by endpoint scheme */
	unsigned flags;
	dc_err (*create)(const struct gw_conf *conf, struct gw_adapter **out); /* validate only */
	dc_err (*start)(struct gw_adapter *ad, struct gw_loop *loop, struct gw_ingest *in);
	/* target: the rendered target (URL, topic, mailbox, folder) */
	dc_err (*send)(struct gw_adapter *ad, const char *target, const struct gw_envelope *env, gw_send_done_fn *done,
	               void *arg);
	void (*stop)(struct gw_adapter *ad); /* stop reading and sending; pending sends complete GW_RETRY; idempotent */
	void (*free)(struct gw_adapter *ad); /* after stop; NULL-safe */
};

/* Hand inbound bytes to the core path (classify, unwrap forwards for us, rules, queue) on a
 * worker thread. The bytes are copied. ack runs later on the loop thread, once the message
 * is durable in the queue or refused. DC_ERR_AGAIN: too much is waiting already; answer
 * "try later" (503) now, ack will not be called. */
dc_err gw_ingest_submit(struct gw_ingest *in, const struct gw_inbound *msg, gw_ack_fn *ack, void *arg) DC_WUR;

/* registry.c: NULL-terminated list of every compiled-in adapter */
extern const struct gw_adapter_ops *const gw_adapters[];
const struct gw_adapter_ops *gw_adapter_by_name(const char *name);
const struct gw_adapter_ops *gw_adapter_by_scheme(const char *scheme);

#endif
