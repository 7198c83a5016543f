/* The one transport interface. Each adapter (http.c ws.c mqtt.c smtp.c file.c) exports only
 * `ad_<name>_ops`; registry.c lists them. Adapters never look inside envelopes and the core
 * never opens a socket: inbound bytes go to gw_ingest_submit(), outbound come through send().
 * (Design: shared/design.md "Adapters"; style: shared/style.md "ADAPTER".) */
#ifndef GW_ADAPTER_H
#define GW_ADAPTER_H

#include <stddef.h>
#include <stdint.h>

#include "didcomm.h"

struct gw_loop;      /* the event loop seen by adapters: fds and timers only */
struct gw_ingest;    /* where inbound bytes go */
struct gw_adapter;   /* one configured adapter instance (opaque to the daemon) */
struct gw_conf;

enum gw_send_result {
	GW_SENT,   /* delivered: the queue item is acknowledged */
	GW_RETRY,  /* try again later with backoff (5xx, timeout, refused) */
	GW_FAILED, /* permanent (4xx other than 408/429): dead-letter with the reason */
};

/* send() completion: exactly once, never from inside send() itself */
typedef void gw_send_done_fn(void *arg, enum gw_send_result r, const char *why);
/* inbound acknowledgement, after the queue commit (or with the error that prevented it):
 * HTTP 202 / 503, MQTT PUBACK, IMAP delete, unlink */
typedef void gw_ack_fn(void *arg, dc_err rc, const char *why);

/* One inbound message as an adapter hands it over (everything borrowed for the call). */
struct gw_inbound {
	const char *transport;   /* "http", "ws", ... */
	const char *source;      /* peer address, topic, mailbox, path */
	const char *media_type;  /* as received, may be NULL */
	const uint8_t *data;
	size_t len;
	/* return route: a live connection that can carry replies (WS, or a held HTTP request) */
	void *reply_ctx;
	dc_err (*reply)(void *reply_ctx, const char *media_type, const uint8_t *data, size_t len);
};

/* A delivery target: adapter name + rendered target string (URL, topic, mailbox, folder). */
struct gw_target {
	const char *adapter;
	const char *target;
};

/* An envelope to send (borrowed for the duration of send(); copy what you keep). */
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
	dc_err (*send)(struct gw_adapter *ad, const struct gw_target *to, const struct gw_envelope *env,
	               gw_send_done_fn *done, void *arg);
	void (*stop)(struct gw_adapter *ad); /* stop reading; idempotent */
	void (*free)(struct gw_adapter *ad); /* after stop; NULL-safe */
};

/* Hand inbound bytes to the core path (classify, unwrap forwards for us, rules, queue).
 * ack is called once the message is durable in the queue, or refused. */
dc_err gw_ingest_submit(struct gw_ingest *in, const struct gw_inbound *msg, gw_ack_fn *ack, void *arg);

/* registry.c: NULL-terminated list of every compiled-in adapter */
extern const struct gw_adapter_ops *const gw_adapters[];
const struct gw_adapter_ops *gw_adapter_by_name(const char *name);
const struct gw_adapter_ops *gw_adapter_by_scheme(const char *scheme);

#endif
