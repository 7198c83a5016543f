/* The one interface between the gateway and a transport adapter, both ways:
 *   - struct gw_adapter_ops: what an adapter offers (registry.c lists one per adapter);
 *   - struct gw_host: what the gateway offers an adapter, handed to start().
 * An adapter (adapters/<name>.c) includes this header and nothing else of gateway/, exports
 * only `gw_ad_<name>`, and is one line in registry.c. A test passes a fake host (tests/unit).
 * Adapters never look inside envelopes; the core never opens a socket.
 * (Design: shared/design.md "Adapters"; style: shared/style.md "ADAPTER".)
 *
 * Threads. The host's loop thread owns every socket of the shared listener and whatever an
 * adapter registers with watch_fd/timer_start; their callbacks, post()ed functions and
 * ack callbacks run there. submit(), post() and log() may be called from any thread.
 * send() is called from the dispatcher's or a worker's thread; done() may come from any
 * thread, exactly once, never from inside send() itself.
 *
 * Errors: dc_err plus an optional struct dc_errinfo (didcomm.h), as everywhere. */
#ifndef GW_ADAPTER_H
#define GW_ADAPTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "didcomm.h"

struct gw_adapter;    /* one configured adapter instance, the adapter's own */
struct gw_host;       /* the gateway as an adapter sees it (below) */
struct lws_protocols; /* libwebsockets, for adapters that serve on the shared listener */
struct lws_context;

/* ---- configuration: each adapter declares its [section] as a key table ------------------- */
enum gw_conf_type {
	GW_CONF_STR,      /* char *, length min..max, optional "a|b|c" choices */
	GW_CONF_SIZE,     /* size_t, with k/K/M/G */
	GW_CONF_MS,       /* int64_t milliseconds, with ms/s/m/h/d (bare number = seconds) */
	GW_CONF_UINT,     /* unsigned */
	GW_CONF_BOOL,     /* bool: yes/no/on/off/true/false/1/0 */
	GW_CONF_HOSTPORT, /* char *, host:port (port 0..65535) */
	GW_CONF_LIST,     /* struct gw_conf_list: a repeatable key, each value kept as written */
};

struct gw_conf_key {
	const char *key;
	enum gw_conf_type type;
	size_t off;          /* offsetof in the adapter's config struct */
	int64_t min, max;
	const char *def;     /* default as text; NULL for lists and "no default" strings (NULL pointer) */
	const char *choices; /* GW_CONF_STR: "a|b|c" */
};

struct gw_conf_value {
	char *v;             /* as written, trimmed */
	unsigned line;       /* where, for "file:line: why" from create() */
};
struct gw_conf_list {
	struct gw_conf_value *v;
	size_t n;
};

/* The gateway's settings an adapter may need (read-only, valid while the adapter lives). */
struct gw_limits {
	size_t max_message_bytes;  /* inbound: refuse bigger messages before reading them whole */
	unsigned per_destination;  /* outbound connections per destination */
	unsigned concurrency;      /* outbound deliveries in flight, in all */
};

/* ---- outcomes --------------------------------------------------------------------------- */
enum gw_send_result {
	GW_SENT,   /* delivered: the queue item is acknowledged */
	GW_RETRY,  /* try again later with backoff (5xx, timeout, refused connection) */
	GW_FAILED, /* permanent (4xx other than 408/429, refused by policy): dead letter with why */
	GW_HELD,   /* not now, and no attempt spent: why is a hold key (mqtt: the device's presence
	            * topic); the item waits in the queue ("presence" in `queue ls`) until the
	            * adapter calls host->release with that key, then goes out in arrival order */
};
/* send() completion: exactly once, from any thread, never from inside send() itself */
typedef void gw_send_done_fn(void *arg, enum gw_send_result r, const char *why);

/* What became of one inbound message, whatever the transport; each adapter maps it to its
 * own answer (HTTP status, WebSocket problem report, MQTT PUBACK or not, mail folder, file). */
enum gw_outcome {
	GW_ACCEPTED = 1, /* durable in the queue, or handled by us with nothing to say back */
	GW_ANSWERED,     /* handled: body is our reply for the return route */
	GW_REFUSED,      /* refused for good (don't resend it): reason + problem code + maybe a body */
	GW_TRY_LATER,    /* not taken (busy, queue or disk full, shutting down): resend it later */
};
enum gw_refusal {
	GW_REF_NONE = 0,
	GW_REF_MALFORMED,  /* not a DIDComm message we can read (HTTP 400) */
	GW_REF_TOO_BIG,    /* over max_message_bytes (413) */
	GW_REF_BAD_TYPE,   /* not a DIDComm media type (415) */
	GW_REF_DENIED,     /* a rule or the relay policy said no (403) */
	GW_REF_NOT_OURS,   /* only_ours: not encrypted to this gateway; nothing kept, leave it be */
};

struct gw_reply {
	enum gw_outcome outcome;
	enum gw_refusal refusal;  /* GW_REFUSED: why, by kind */
	const char *code;         /* problem-report code, or "" */
	const char *why;          /* one line for logs; safe to show the sender */
	const char *body_type;    /* media type of body, or NULL */
	const uint8_t *body;      /* the reply (GW_ANSWERED) or a problem report, or NULL */
	size_t body_len;
	const char *multiplex;    /* accepted, but also encrypted to keys of others (not uniquely ours):
	                           * the kid of ours that opened it; NULL when it was ours alone */
};
/* runs on the loop thread, exactly once per submit that returned DC_OK; r is borrowed */
typedef void gw_ack_fn(void *arg, const struct gw_reply *r);

/* One inbound message. submit() takes data (malloc'd) in every case, even when it fails. */
struct gw_inbound {
	const char *source;      /* peer address, topic, mailbox, path (copied) */
	const char *media_type;  /* as received, or NULL (classified by content) (copied) */
	const char *tag;         /* for the rules' `tag` matcher, or NULL (copied) */
	uint8_t *data;           /* taken */
	size_t len;
	bool live;               /* the connection can carry a reply (return_route "all") */
	/* Idempotency key, or NULL (copied): what identifies this message at its origin, so that
	 * taking it in again (a redelivery; a file taken again after a crash between the commit
	 * and its removal) adds nothing. The queue stores it, bound to the transport and the
	 * bytes, in the same transaction as the message's items; a second submit of the same
	 * bytes with the same key is acked GW_ACCEPTED without a second item, for as long as the
	 * queue remembers the key (its newest keys always; dc_queue_opts keys_*). */
	const char *key;
	/* A shared place (a duplex folder): take the message only when it is encrypted to this
	 * gateway; anything else (for others, plaintext, signed, or sent by this gateway) is
	 * GW_REFUSED with GW_REF_NOT_OURS and no problem report, and nothing is kept. */
	bool only_ours;
	/* A connection that stays open (WebSocket), or 0: its number, unique within the adapter
	 * while it lives. The gateway may later write to it with push() (live delivery of held
	 * messages to a recipient connected here). */
	uint64_t conn;
};

/* ---- destinations --------------------------------------------------------------------- */
/* Where a queue item goes, parsed once from its stored form:
 *   "ADAPTER TARGET[\tOPTS]"           written in the rules file: the operator's, trusted
 *   "resolved ADAPTER TARGET[\tOPTS]"  from a DID document: the outbound policy applies
 *                                      (no loopback/private addresses, no redirects)
 *   "hold DID"                         kept for pickup, no adapter
 * OPTS are the rule action's options, "k=v" separated by blanks (mqtt: qos=1 retain=no). */
struct gw_dest {
	char adapter[16];   /* registry name, or "hold" */
	const char *target; /* borrowed from the string parsed (up to the tab: see target_len) */
	size_t target_len;
	const char *opts;   /* borrowed, "" when none */
	bool untrusted;     /* "resolved": apply the outbound address policy, follow no redirects */
	bool hold;
};
/* false when s is not one of the forms above */
bool gw_dest_parse(const char *s, struct gw_dest *d);
/* the target as a NUL-terminated string in buf; false when it does not fit */
bool gw_dest_target(const struct gw_dest *d, char *buf, size_t n);
/* an option's value into buf ("" and false when absent) */
bool gw_dest_opt(const struct gw_dest *d, const char *key, char *buf, size_t n);

/* An envelope to send. Valid until done() is called. */
struct gw_envelope {
	int64_t queue_id;        /* 0 when not from the queue (the send command) */
	const char *msg_id;      /* may be NULL */
	const char *media_type;
	const uint8_t *data;
	size_t len;
	int64_t expires_ms;      /* DIDComm expires_time, wall clock ms; 0 = none */
};

/* ---- what the gateway offers an adapter --------------------------------------------------- */
enum gw_log_level { GW_LOG_DEBUG, GW_LOG_INFO, GW_LOG_WARN, GW_LOG_ERROR };
typedef void gw_host_fn(void *arg);
enum { GW_FD_READ = 1, GW_FD_WRITE = 2 };
typedef void gw_fd_fn(void *arg, int fd, unsigned events); /* events: GW_FD_*; errors come as READ */
struct gw_watch;
struct gw_timer;
/* the state of one of an adapter's connections (gw_host.conn_state) */
enum gw_conn_state {
	GW_CONN_DOWN = 0,       /* not connected (refused, lost, unreachable, stopped) */
	GW_CONN_UP = 1,         /* connected and usable */
	GW_CONN_CONNECTING = 2, /* a connect (or a reconnect) under way */
};

struct gw_host {
	void *impl;                    /* the host's own state */
	const struct gw_limits *limits;
	const char *our_did;           /* the gateway's DID */
	/* One line, level and context (the adapter's name) added; repeated lines are rate-limited
	 * by the host ("N more like this"). Any thread. */
	void (*log)(struct gw_host *h, enum gw_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
	/* Hand an inbound message to the gateway (any thread; takes m->data). ack runs later on the
	 * loop thread, once the message is durable in the queue or refused. DC_ERR_AGAIN: too
	 * much waiting already, or draining: answer "try later" now; ack will not be called.
	 * DC_ERR_UNSUPPORTED: this host takes no inbound messages (a one-shot command). */
	dc_err (*submit)(struct gw_host *h, struct gw_inbound *m, gw_ack_fn *ack, void *arg);
	/* run fn(arg) on the loop thread soon (any thread) */
	dc_err (*post)(struct gw_host *h, gw_host_fn *fn, void *arg);
	/* loop thread: call fn when fd is readable/writable (events: GW_FD_*); set changes the
	 * events (0 pauses); close stops it (no callback after it returns) and frees it later */
	dc_err (*watch_fd)(struct gw_host *h, int fd, unsigned events, gw_fd_fn *fn, void *arg, struct gw_watch **out);
	void (*watch_set)(struct gw_host *h, struct gw_watch *w, unsigned events);
	void (*watch_close)(struct gw_host *h, struct gw_watch *w);
	/* loop thread: fn after after_ms, then every repeat_ms (0: once); stop frees it (no
	 * callback after it returns; a one-shot timer must still be stopped) */
	dc_err (*timer_start)(struct gw_host *h, uint64_t after_ms, uint64_t repeat_ms, gw_host_fn *fn, void *arg,
	                      struct gw_timer **out);
	void (*timer_stop)(struct gw_host *h, struct gw_timer *t);
	/* shutting down: take no new inbound messages (any thread) */
	bool (*draining)(struct gw_host *h);
	/* The outbound address policy, after DNS and before connect (any thread). untrusted: the
	 * target came from a DID document or a message (gw_dest.untrusted). DC_ERR_DENIED with
	 * why filled when the address may not be reached (loopback, private, link-local,
	 * multicast, unspecified, or the gateway itself, unless [outbound] allow says so). */
	dc_err (*outbound_check)(struct gw_host *h, const struct sockaddr *sa, socklen_t len, bool untrusted, char *why,
	                         size_t why_len);
	/* A secret (a password) from a file of the operator's: ours alone (no group or other
	 * permission bits, else DC_ERR_DENIED), its first line, at most 1 KiB. *out is the
	 * caller's to zero (sodium_memzero) and free. Any thread. */
	dc_err (*read_secret)(struct gw_host *h, const char *path, char **out, struct dc_errinfo *ei);
	/* the loop's libwebsockets context (shared listener and client connections), or NULL */
	struct lws_context *(*lws)(struct gw_host *h);
	/* Deliveries this adapter answered GW_HELD with why = key are due again now, in arrival
	 * order (any thread; after every done(GW_HELD, key) that came before it). NULL where no
	 * queue lives (the one-shot commands `send` and `queue flush`): such a host takes no
	 * inbound messages either. */
	void (*release)(struct gw_host *h, const char *key);
	/* The state of one of the adapter's connections (a broker, a mail server, a watched
	 * folder) changed, or is said again: target names it for the operator ("host:port", a
	 * folder's path; no credentials), why says why in a few words when it is not up (may be
	 * NULL). The host shows the last state per (adapter, target) in /metrics and on the
	 * status page. Any thread; cheap (a lock, a copy). NULL where nobody watches (the
	 * one-shot commands): call it through gw_host_conn(). */
	void (*conn_state)(struct gw_host *h, const char *target, enum gw_conn_state st, const char *why);
	/* Several gateways on one queue (PostgreSQL), each configured to read the same source (an
	 * IMAP mailbox, a watched folder): whether this gateway is the one that reads name now.
	 * One at a time holds it; when its holder dies (or loses the database) another takes it at
	 * its next call. Always true for a gateway alone on its queue; false when the database
	 * cannot say (nothing could be queued then anyway). Cached: call it before each round of
	 * reading. Any thread. NULL where no queue lives (treat as true). */
	bool (*exclusive)(struct gw_host *h, const char *name);
};

/* h->conn_state when the host has one */
static inline void gw_host_conn(struct gw_host *h, const char *target, enum gw_conn_state st, const char *why)
{
	if (h && h->conn_state && target)
		h->conn_state(h, target, st, why);
}

/* ---- what an adapter offers -------------------------------------------------------------- */
struct gw_listen {
	const char *hostport;      /* "127.0.0.1:8080"; port 0: any */
	unsigned max_connections;  /* inbound connections in total (HTTP and WebSocket) */
	unsigned per_peer;         /* ... and per peer address */
};

enum { GW_AD_IN = 1, GW_AD_OUT = 2, GW_AD_LIVE = 4 };
#define GW_LWS_DEFAULT_WS 0x6477u

struct gw_adapter_ops {
	const char *name;                 /* "mqtt": its conf [section], its rule action, its transport */
	const char *const *schemes;       /* {"mqtt","mqtts",NULL}: `resolve` and `send` pick it by scheme */
	unsigned flags;
	/* its [section]: conf_size bytes, filled from keys by the gateway's config parser; a
	 * section absent from the file means the adapter is off */
	const struct gw_conf_key *keys;
	size_t n_keys, conf_size;
	/* free what the parser allocated in a section struct is done by the parser (strings, lists) */
	/* Validate conf (its section, parsed) and make an instance; no threads, sockets or files
	 * yet. ei: what is wrong ("key: why"; for a list entry, its gw_conf_value.line). */
	dc_err (*create)(const void *conf, const struct gw_limits *lim, struct gw_adapter **out, struct dc_errinfo *ei);
	/* Start serving: threads, sockets, watches. host stays valid until free(). */
	dc_err (*start)(struct gw_adapter *ad, struct gw_host *host, struct dc_errinfo *ei);
	/* Deliver env to dest (gw_dest.adapter is this adapter). DC_OK: done() will be called;
	 * anything else: it will not (DC_ERR_AGAIN: stopping, try later). */
	dc_err (*send)(struct gw_adapter *ad, const struct gw_dest *dest, const struct gw_envelope *env,
	               gw_send_done_fn *done, void *arg);
	void (*stop)(struct gw_adapter *ad); /* loop thread: stop reading; pending sends complete GW_RETRY; idempotent */
	void (*free)(struct gw_adapter *ad); /* after stop and after the loop is gone; NULL-safe */
	/* optional: protocols served on the shared HTTP listener or used by its client connections
	 * (the loop builds its lws protocol list from every adapter's; the HTTP adapter's comes
	 * first in the registry: lws hands plain HTTP to the first); NULL-terminated. A protocol
	 * whose .id is GW_LWS_DEFAULT_WS takes WebSocket upgrades that name no subprotocol. */
	const struct lws_protocols *lws_protocols;
	/* optional: the endpoint URI this adapter serves for the gateway's DID document (from its
	 * parsed section), e.g. "http://127.0.0.1:8080/"; false when it serves none */
	bool (*endpoint)(const void *conf, char *buf, size_t n);
	/* optional: the shared HTTP listener this adapter asks for (false: none); the loop opens
	 * it before start() and enforces the connection limits for every protocol on it */
	bool (*listen)(const void *conf, struct gw_listen *out);
	/* optional (GW_AD_LIVE): write one message on inbound connection conn (gw_inbound.conn),
	 * from any thread. DC_OK: done() follows, GW_SENT once written, GW_RETRY when the
	 * connection has too much unread now, GW_FAILED when it is gone; other returns: no done(). */
	dc_err (*push)(struct gw_adapter *ad, uint64_t conn, const uint8_t *data, size_t len, gw_send_done_fn *done,
	               void *arg);
};

/* registry.c: NULL-terminated list of every compiled-in adapter */
extern const struct gw_adapter_ops *const gw_adapters[];
const struct gw_adapter_ops *gw_adapter_by_name(const char *name);
const struct gw_adapter_ops *gw_adapter_by_scheme(const char *scheme);
/* the adapter for a URI by its scheme ("https://..." -> http), or NULL */
const struct gw_adapter_ops *gw_adapter_for_uri(const char *uri);

#define gw_host_log(h, lvl, ...) ((h)->log((h), (lvl), __VA_ARGS__))

#endif
