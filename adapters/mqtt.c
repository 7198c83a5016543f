/* adapters/mqtt: DIDComm over an MQTT broker (libmosquitto), for fleets of small devices.
 *
 * Loop. libmosquitto runs on the gateway's own loop, no thread of its own: its socket is watched
 * through the host (read; write while mosquitto_want_write), mosquitto_loop_read/write run
 * from that watch, and a 500 ms timer runs mosquitto_loop_misc (keep-alive), the publish
 * deadlines and the reconnects (backoff 1 s doubling to reconnect_max). The handle is put in
 * libmosquitto's "threaded" mode (mosquitto_threaded_set) although no thread of it runs: then
 * nothing it queues is written from inside its calls, only by our mosquitto_loop_write, which
 * is what lets us hold PUBACKs back (below). The connect is non-blocking (try_connect): only
 * DNS, for a broker given by name, still runs on the loop. On the loop and not on a thread of
 * its own because holding the PUBACKs needs it, and it costs nothing there: libmosquitto is
 * 0.4 % of the gateway's CPU in `make bench` (README).
 *
 * Inbound. Each [mqtt] `subscribe FILTER [tag NAME]` is a QoS 1 subscription; every message
 * goes to the gateway with source = its topic and tag = NAME. With `share_group GROUP` (several
 * gateways on one queue) the subscriptions are shared ones, $share/GROUP/FILTER: the broker
 * hands each publish to one of the group's gateways. libmosquitto 2.0 (Debian 12)
 * has no manual acknowledgement: it queues the PUBACK while it reads the PUBLISH, before the
 * application sees it. We keep that PUBACK from reaching the wire until the gateway answers:
 * after a read that submitted messages, nothing is written on the socket (the "gate") until
 * every one of them is acknowledged (durable in the queue, or refused); then the queued
 * PUBACKs go out together. So a PUBACK leaves only after the commit. Reading goes on meanwhile
 * (the broker sends at most its in-flight window, 20 by default, without our PUBACKs): one
 * commit covers a batch, and the broker's PUBACKs for our own publishes are still taken.
 * Refused messages (garbage, not DIDComm, too big) are logged and acknowledged (dropped).
 * When the gateway says "try later" (queue full, draining), the connection is cut without
 * writing anything (shutdown): the broker keeps every message of that batch and sends it
 * again on the next connection (persistent session), the ones the gateway had already taken
 * too: redelivery is at least once, receivers drop duplicates by id.
 *
 * Outbound. Rule action `mqtt TOPIC [qos=0|1|2] [retain=yes|no] [presence=TOPIC]` (target =
 * the topic on [mqtt] broker) and DID endpoints mqtt://host:port/topic (mqtts://): delivered
 * when the broker acknowledges (PUBACK for QoS 1, PUBCOMP for 2; QoS 0 when written), else
 * GW_RETRY (not connected, no acknowledgement within `timeout`). Endpoints naming another
 * broker than [mqtt] broker are refused (one broker for now). Topics with + # NUL or a leading
 * $ are refused. MQTT 5 where the broker speaks it (content-type = the envelope's media type;
 * a persistent session with session_expiry), else MQTT 3.1.1 (clean session off).
 *
 * {to} in topics. The recipient DID is put in a topic as it is: that is the encoding, and it
 * is reversible by being the identity. It is safe because the rules accept only DIDs for {to}
 * (did:METHOD:ID with ID made of letters, digits, . - _ : and %XX escapes; no DID URLs) and
 * refuse any value with '/', '+' or '#' (rules/match.c), so a DID is always exactly one topic
 * level, never a wildcard, never two levels. fleet/{to}/inbox for did:peer:2.Ez6Lsk... is
 * fleet/did:peer:2.Ez6Lsk.../inbox; the device finds its DID as the second level.
 *
 * Presence. presence=TOPIC (rendered like the topic, {to} included) names the device's presence
 * topic, where it publishes `online` (retained) and sets `offline` as its last will. The first
 * delivery for a device subscribes to its presence topic (QoS 0: mosquitto sends the retained
 * payload before the SUBACK) and waits for the SUBACK. While the last payload seen there is
 * `offline`, deliveries answer GW_HELD: the item stays in the durable queue, no attempt spent
 * (`queue ls` says "presence"), until `online` arrives: then host->release makes them due
 * again, in arrival order. An empty payload (retained message cleared) or none at all =
 * publish. Memory: one entry (topic + ~64 bytes) per device that was sent something, at most
 * max_presence (beyond: presence is not looked at, deliveries publish). */
#include <errno.h>
#include <limits.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "adapter.h"

#define TICK_MS 500
#define READ_BATCH 256          /* packets read per readable event, while bytes wait */
#define N_MID_BUCKETS 1024
#define N_PRES_BUCKETS 4096
#define MAX_TOPIC 1024
#define DIDCOMM_ENC "application/didcomm-encrypted+json"

struct mqtt_conf {
	char *broker, *client_id, *username, *password_file, *ca_file, *cert_file, *key_file, *protocol;
	struct gw_conf_list subscribe;
	char *share_group;
	int64_t keepalive_ms, timeout_ms, reconnect_max_ms, session_expiry_ms;
	unsigned max_presence;
};

#define O(f) offsetof(struct mqtt_conf, f)
static const struct gw_conf_key mqtt_keys[] = {
	{ "broker", GW_CONF_STR, O(broker), 8, 1024, "mqtt://127.0.0.1:1883", NULL },
	{ "client_id", GW_CONF_STR, O(client_id), 0, 128, "", NULL },
	{ "subscribe", GW_CONF_LIST, O(subscribe), 0, 0, NULL, NULL },
	{ "share_group", GW_CONF_STR, O(share_group), 0, 64, "", NULL },
	{ "username", GW_CONF_STR, O(username), 0, 256, "", NULL },
	{ "password_file", GW_CONF_STR, O(password_file), 0, 4096, "", NULL },
	{ "ca_file", GW_CONF_STR, O(ca_file), 0, 4096, "", NULL },
	{ "cert_file", GW_CONF_STR, O(cert_file), 0, 4096, "", NULL },
	{ "key_file", GW_CONF_STR, O(key_file), 0, 4096, "", NULL },
	{ "protocol", GW_CONF_STR, O(protocol), 1, 8, "5", "5|3.1.1" },
	{ "keepalive", GW_CONF_MS, O(keepalive_ms), 5000, 3600000, "60s", NULL },
	{ "timeout", GW_CONF_MS, O(timeout_ms), 1000, 600000, "30s", NULL },
	{ "reconnect_max", GW_CONF_MS, O(reconnect_max_ms), 1000, 600000, "30s", NULL },
	{ "session_expiry", GW_CONF_MS, O(session_expiry_ms), 0, INT64_C(4294967295) * 1000, "1d", NULL },
	{ "max_presence", GW_CONF_UINT, O(max_presence), 16, 10000000, "100000", NULL },
};
#undef O

struct sub {
	char *filter, *tag;
	char *wire; /* what is subscribed: the filter, or $share/GROUP/filter */
};

/* one outbound delivery */
struct pub {
	struct pub *next;
	char *topic, *presence;
	const char *fail;        /* refused before it reached the loop (permanent) */
	char fail_buf[256];
	int qos, mid;
	bool retain, untrusted;
	const uint8_t *data;     /* the envelope's: valid until done() */
	size_t len;
	const char *media_type;
	int64_t expires_ms;      /* wall clock, 0 = none: MQTT 5 message expiry */
	gw_send_done_fn *done;   /* NULL once answered: an orphan (below) */
	void *arg;
	int64_t deadline;
};

/* one device's presence topic */
struct presence {
	struct presence *next;   /* bucket chain */
	struct presence *snext;  /* on the list of subscriptions waiting for their SUBACK */
	char *topic;
	int sub_mid;             /* 0: no SUBSCRIBE outstanding */
	bool known;              /* SUBACK seen: offline is what the broker said (or nothing) */
	bool offline;
	struct pub *wh, *wt;     /* deliveries waiting for the SUBACK */
};

/* one inbound message the gateway has not answered yet */
struct inack {
	struct gw_adapter *ad;
	uint64_t gen;
	char topic[128];
};

struct gw_adapter {
	const struct mqtt_conf *conf;
	struct gw_host *host;
	size_t max_bytes;
	char scheme[8], host_name[256];
	int port;
	bool tls, oneshot;
	struct sub *subs;
	size_t n_subs;
	struct mosquitto *m;
	int protocol;            /* MQTT_PROTOCOL_V5 or _V311 */
	char client_id[160];
	char *password;
	struct gw_watch *watch;
	struct gw_timer *tick;
	bool connected, stopping, drop_conn;
	bool connecting, tcp_up;  /* a non-blocking connect under way; its TCP part done */
	bool use_tls;
	int64_t connect_deadline;
	char tls_err[200];       /* libmosquitto's last TLS error line, for the log */
	uint64_t gen;            /* connection generation: acks of an older one change nothing */
	size_t pending_in;       /* submitted on this connection, not answered: the gate is shut */
	int64_t backoff_ms, next_try_ms;
	bool down_logged;
	struct pub *flight[N_MID_BUCKETS];
	size_t n_flight;
	struct presence *pres[N_PRES_BUCKETS];
	struct presence *subscribing;
	struct pub *cwh, *cwt;   /* deliveries waiting for the connect under way (a command's first) */
	size_t n_pres;
	bool pres_full_logged;
	/* send() from any thread: handed to the loop */
	pthread_mutex_t mu;
	struct pub *inh, *intail;
	bool posted, closed;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void)
{
	mosquitto_lib_init(); /* never cleaned up: one-shot commands and the daemon may share it */
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t fnv(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* "mqtt[s]://host[:port][/rest]" -> parts; rest points after the '/' (or at ""); false if bad */
static bool parse_uri(const char *uri, char *scheme, size_t scheme_n, char *host, size_t host_n, int *port,
                      const char **rest)
{
	const char *p = strstr(uri, "://");
	if (!p || (size_t)(p - uri) >= scheme_n)
		return false;
	memcpy(scheme, uri, (size_t)(p - uri));
	scheme[p - uri] = 0;
	bool tls = strcasecmp(scheme, "mqtts") == 0;
	if (!tls && strcasecmp(scheme, "mqtt") != 0)
		return false;
	p += 3;
	size_t hl = strcspn(p, ":/");
	if (hl == 0 || hl >= host_n)
		return false;
	memcpy(host, p, hl);
	host[hl] = 0;
	p += hl;
	*port = tls ? 8883 : 1883;
	if (*p == ':') {
		char *end = NULL;
		errno = 0;
		long v = strtol(p + 1, &end, 10);
		if (errno || end == p + 1 || v < 1 || v > 65535 || (*end && *end != '/'))
			return false;
		*port = (int)v;
		p = end;
	}
	*rest = *p == '/' ? p + 1 : p;
	return true;
}

static bool topic_ok(const char *t)
{
	size_t n = strlen(t);
	return n > 0 && n <= MAX_TOPIC && t[0] != '$' && mosquitto_pub_topic_check2(t, n) == MOSQ_ERR_SUCCESS;
}

/* ---- create ---------------------------------------------------------------------------- */
static void mqtt_free(struct gw_adapter *ad);

static dc_err mqtt_create(const void *conf_, const struct gw_limits *lim, struct gw_adapter **out, struct dc_errinfo *ei)
{
	const struct mqtt_conf *conf = conf_;
	*out = NULL;
	struct gw_adapter *ad = calloc(1, sizeof *ad);
	if (!ad)
		return DC_ERR_NOMEM;
	pthread_mutex_init(&ad->mu, NULL);
	ad->conf = conf;
	ad->max_bytes = lim->max_message_bytes;
	dc_err rc = DC_OK;
	const char *rest = NULL;
	if (!parse_uri(conf->broker, ad->scheme, sizeof ad->scheme, ad->host_name, sizeof ad->host_name, &ad->port,
	               &rest) ||
	    *rest) {
		rc = dc_errinfo_set(ei, DC_ERR_INVAL, "broker: want mqtt://HOST[:PORT] or mqtts://HOST[:PORT], not '%.200s'",
		                    conf->broker);
		goto fail;
	}
	ad->tls = strcasecmp(ad->scheme, "mqtts") == 0;
	if ((conf->cert_file[0] != 0) != (conf->key_file[0] != 0)) {
		rc = dc_errinfo_set(ei, DC_ERR_INVAL, "cert_file and key_file go together");
		goto fail;
	}
	if (conf->password_file[0] && !conf->username[0]) {
		rc = dc_errinfo_set(ei, DC_ERR_INVAL, "password_file without username");
		goto fail;
	}
	ad->protocol = strcmp(conf->protocol, "3.1.1") == 0 ? MQTT_PROTOCOL_V311 : MQTT_PROTOCOL_V5;
	if (conf->subscribe.n && !(ad->subs = calloc(conf->subscribe.n, sizeof *ad->subs))) {
		rc = DC_ERR_NOMEM;
		goto fail;
	}
	const char *grp = conf->share_group;
	if (grp[0] && strpbrk(grp, "/+#") != NULL) {
		rc = dc_errinfo_set(ei, DC_ERR_INVAL, "share_group: '%.64s' may not hold '/', '+' or '#'", grp);
		goto fail;
	}
	for (size_t i = 0; i < conf->subscribe.n; i++) {
		const struct gw_conf_value *v = &conf->subscribe.v[i];
		char f[MAX_TOPIC + 1], kw[16], tag[129], extra[2];
		int n = sscanf(v->v, "%1024s %15s %128s %1s", f, kw, tag, extra);
		if (n != 1 && !(n == 3 && strcmp(kw, "tag") == 0)) {
			rc = dc_errinfo_set(ei, DC_ERR_INVAL, "line %u: subscribe: want FILTER [tag NAME], not '%.200s'", v->line,
			                    v->v);
			goto fail;
		}
		if (mosquitto_sub_topic_check2(f, strlen(f)) != MOSQ_ERR_SUCCESS) {
			rc = dc_errinfo_set(ei, DC_ERR_INVAL, "line %u: subscribe: '%.200s' is not a topic filter", v->line, f);
			goto fail;
		}
		size_t wl = strlen(f) + strlen(grp) + 9;
		ad->n_subs = i + 1; /* freed with the rest if one of these fails */
		if (!(ad->subs[i].filter = strdup(f)) || (n == 3 && !(ad->subs[i].tag = strdup(tag))) ||
		    !(ad->subs[i].wire = malloc(wl))) {
			rc = DC_ERR_NOMEM;
			goto fail;
		}
		if (grp[0])
			snprintf(ad->subs[i].wire, wl, "$share/%s/%s", grp, f);
		else
			snprintf(ad->subs[i].wire, wl, "%s", f);
	}
	*out = ad;
	return DC_OK;
fail:
	mqtt_free(ad);
	return rc;
}

/* ---- outbound, loop thread --------------------------------------------------------------- */
static void update_watch(struct gw_adapter *ad);

static void pub_free(struct pub *p)
{
	free(p->topic);
	free(p->presence);
	free(p);
}

static void finish(struct pub *p, enum gw_send_result r, const char *why)
{
	p->done(p->arg, r, why);
	pub_free(p);
}

/* The in-flight table mirrors libmosquitto's own queue of unacknowledged publishes, which
 * it keeps across reconnects and sends again (DUP) after every CONNACK: a PUBACK that comes
 * after a reconnect finds its delivery here by mid. A delivery answered GW_RETRY before its
 * PUBACK (timeout) stays as an orphan while libmosquitto still holds the message: mids wrap at
 * 65535, and libmosquitto removes the oldest message with an acknowledged mid, so a chain is
 * kept oldest first and a PUBACK goes to the oldest entry with its mid, as libmosquitto does.
 * An orphan takes the PUBACK meant for it; a newer delivery with the same mid is never marked
 * delivered by an older message's acknowledgement (at worst it times out and goes again). */
static void flight_put(struct gw_adapter *ad, struct pub *p)
{
	struct pub **b = &ad->flight[(unsigned)p->mid % N_MID_BUCKETS];
	while (*b)
		b = &(*b)->next;
	p->next = NULL;
	*b = p;
	ad->n_flight++;
}

static struct pub *flight_take(struct gw_adapter *ad, int mid)
{
	for (struct pub **pp = &ad->flight[(unsigned)mid % N_MID_BUCKETS]; *pp; pp = &(*pp)->next)
		if ((*pp)->mid == mid) {
			struct pub *p = *pp;
			*pp = p->next;
			ad->n_flight--;
			return p;
		}
	return NULL;
}

/* answered now (timeout, stop), kept as an orphan until libmosquitto lets go of its copy */
static void orphan(struct pub *p, enum gw_send_result r, const char *why)
{
	p->done(p->arg, r, why);
	p->done = NULL;
	p->data = NULL;
}

static void publish_now(struct gw_adapter *ad, struct pub *p)
{
	if (!ad->connected) {
		finish(p, GW_RETRY, "not connected to the MQTT broker");
		return;
	}
	if (p->untrusted) { /* a topic from a DID document: the broker's address passes the policy */
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		char why[200] = "";
		if (getpeername(mosquitto_socket(ad->m), (struct sockaddr *)&ss, &sl) != 0) {
			finish(p, GW_RETRY, "broker address unknown");
			return;
		}
		if (ad->host->outbound_check(ad->host, (struct sockaddr *)&ss, sl, true, why, sizeof why) != DC_OK) {
			finish(p, GW_FAILED, why);
			return;
		}
	}
	mosquitto_property *props = NULL;
	uint32_t expiry = 0;
	if (p->expires_ms) { /* DIDComm expires_time: the broker drops it then (MQTT 5 message expiry) */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t left = p->expires_ms - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
		if (left <= 0) {
			finish(p, GW_FAILED, "expired (expires_time passed)");
			return;
		}
		expiry = left / 1000 >= UINT32_MAX ? UINT32_MAX : (uint32_t)((left + 999) / 1000);
	}
	if (ad->protocol == MQTT_PROTOCOL_V5 &&
	    (mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE, p->media_type ? p->media_type : DIDCOMM_ENC) ||
	     (expiry && mosquitto_property_add_int32(&props, MQTT_PROP_MESSAGE_EXPIRY_INTERVAL, expiry)))) {
		mosquitto_property_free_all(&props);
		finish(p, GW_RETRY, "out of memory");
		return;
	}
	int mid = 0;
	int rc = mosquitto_publish_v5(ad->m, &mid, p->topic, (int)p->len, p->data, p->qos, p->retain, props);
	mosquitto_property_free_all(&props);
	if (rc != MOSQ_ERR_SUCCESS) {
		bool hard = rc == MOSQ_ERR_PAYLOAD_SIZE || rc == MOSQ_ERR_OVERSIZE_PACKET || rc == MOSQ_ERR_INVAL ||
		            rc == MOSQ_ERR_MALFORMED_UTF8 || rc == MOSQ_ERR_QOS_NOT_SUPPORTED;
		char why[160];
		snprintf(why, sizeof why, "publish to %.80s: %s", p->topic, mosquitto_strerror(rc));
		if (mid && p->qos) { /* failed after its mid was given: libmosquitto may have queued it */
			p->mid = mid;
			flight_put(ad, p);
			orphan(p, GW_RETRY, why);
			return;
		}
		finish(p, hard ? GW_FAILED : GW_RETRY, why);
		return;
	}
	p->mid = mid;
	p->deadline = mono_ms() + ad->conf->timeout_ms;
	flight_put(ad, p);
}

/* ---- presence ------------------------------------------------------------------------------ */
static struct presence *pres_find(struct gw_adapter *ad, const char *topic)
{
	for (struct presence *e = ad->pres[fnv(topic) % N_PRES_BUCKETS]; e; e = e->next)
		if (strcmp(e->topic, topic) == 0)
			return e;
	return NULL;
}

static struct presence *pres_add(struct gw_adapter *ad, const char *topic)
{
	if (ad->n_pres >= ad->conf->max_presence) {
		if (!ad->pres_full_logged)
			gw_host_log(ad->host, GW_LOG_WARN, "max_presence (%u) devices watched: others are published to "
			                                   "without looking at their presence", ad->conf->max_presence);
		ad->pres_full_logged = true;
		return NULL;
	}
	struct presence *e = calloc(1, sizeof *e);
	if (!e || !(e->topic = strdup(topic))) {
		free(e);
		return NULL;
	}
	struct presence **b = &ad->pres[fnv(topic) % N_PRES_BUCKETS];
	e->next = *b;
	*b = e;
	ad->n_pres++;
	return e;
}

static void pres_subscribe(struct gw_adapter *ad, struct presence *e)
{
	if (!ad->connected || e->sub_mid)
		return;
	int mid = 0;
	int rc = mosquitto_subscribe_v5(ad->m, &mid, e->topic, 0, 0, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		gw_host_log(ad->host, GW_LOG_WARN, "subscribe to presence %s: %s", e->topic, mosquitto_strerror(rc));
		return;
	}
	e->sub_mid = mid;
	e->snext = ad->subscribing;
	ad->subscribing = e;
}

/* a delivery for a device whose presence is known now */
static void pres_decide(struct gw_adapter *ad, struct presence *e, struct pub *p)
{
	if (e && e->offline)
		finish(p, GW_HELD, p->presence);
	else
		publish_now(ad, p);
}

static void dispatch(struct gw_adapter *ad, struct pub *p)
{
	if (p->fail) {
		finish(p, GW_FAILED, p->fail);
		return;
	}
	if (ad->stopping) {
		finish(p, GW_RETRY, "adapter stopping");
		return;
	}
	if (!ad->connected && ad->connecting) { /* the CONNACK is near: wait for it, not a retry */
		p->next = NULL;
		if (ad->cwt)
			ad->cwt->next = p;
		else
			ad->cwh = p;
		ad->cwt = p;
		return;
	}
	if (!p->presence || !ad->host->release) {
		publish_now(ad, p);
		return;
	}
	struct presence *e = pres_find(ad, p->presence);
	if (!e)
		e = pres_add(ad, p->presence);
	if (!e || e->known) {
		pres_decide(ad, e, p);
		return;
	}
	if (!ad->connected) {
		finish(p, GW_RETRY, "not connected to the MQTT broker");
		return;
	}
	p->next = NULL;
	if (e->wt)
		e->wt->next = p;
	else
		e->wh = p;
	e->wt = p;
	pres_subscribe(ad, e);
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted,
                         const mosquitto_property *props)
{
	(void)m;
	(void)props;
	struct gw_adapter *ad = obj;
	for (struct presence **pp = &ad->subscribing; *pp; pp = &(*pp)->snext) {
		struct presence *e = *pp;
		if (e->sub_mid != mid)
			continue;
		*pp = e->snext;
		e->snext = NULL;
		e->sub_mid = 0;
		if (n < 1 || granted[0] >= 128)
			gw_host_log(ad->host, GW_LOG_WARN, "presence %s: subscription refused by the broker: publishing without "
			                                   "it", e->topic);
		e->known = true; /* the retained payload, if any, came before the SUBACK */
		struct pub *p = e->wh;
		e->wh = e->wt = NULL;
		while (p) {
			struct pub *next = p->next;
			pres_decide(ad, e, p);
			p = next;
		}
		update_watch(ad);
		return;
	}
}

/* a payload on a presence topic: true when the topic is one */
static bool presence_seen(struct gw_adapter *ad, const struct mosquitto_message *msg)
{
	struct presence *e = pres_find(ad, msg->topic);
	if (!e)
		return false;
	bool off = msg->payloadlen == 7 && memcmp(msg->payload, "offline", 7) == 0;
	bool on = msg->payloadlen == 0 || (msg->payloadlen == 6 && memcmp(msg->payload, "online", 6) == 0);
	if (!off && !on) {
		gw_host_log(ad->host, GW_LOG_DEBUG, "presence %s: payload is neither online nor offline: ignored", e->topic);
		return true;
	}
	bool was = e->offline;
	e->offline = off;
	if (was != off)
		gw_host_log(ad->host, GW_LOG_INFO, "presence %s: %s", e->topic, off ? "offline: holding" : "online: releasing");
	if (was && !off && ad->host->release)
		ad->host->release(ad->host, e->topic);
	return true;
}

/* ---- inbound ------------------------------------------------------------------------------ */
static void conn_lost(struct gw_adapter *ad, const char *why);

static void hard_drop(struct gw_adapter *ad)
{
	/* nothing queued (PUBACKs included) goes out: the broker resends the batch */
	gw_host_log(ad->host, GW_LOG_WARN, "the gateway cannot take messages now: disconnecting without acknowledging; "
	                                   "the broker sends them again");
	shutdown(mosquitto_socket(ad->m), SHUT_RDWR);
	int rc = mosquitto_loop_read(ad->m, 1);
	if (ad->watch)
		conn_lost(ad, rc ? mosquitto_strerror(rc) : "dropped");
}

/* every message read so far is answered: the PUBACKs may go, and reading resumes */
static void gate_open(struct gw_adapter *ad)
{
	if (!ad->watch || ad->pending_in)
		return;
	if (ad->drop_conn) {
		hard_drop(ad);
		return;
	}
	int rc = mosquitto_loop_write(ad->m, 1);
	if (rc == MOSQ_ERR_SUCCESS && ad->watch)
		rc = mosquitto_loop_read(ad->m, 1); /* TLS may hold records the socket no longer shows */
	if (rc != MOSQ_ERR_SUCCESS && ad->watch)
		conn_lost(ad, mosquitto_strerror(rc));
	update_watch(ad);
}

static void on_ack(void *arg, const struct gw_reply *r)
{
	struct inack *a = arg;
	struct gw_adapter *ad = a->ad;
	switch (r->outcome) {
	case GW_ACCEPTED:
	case GW_ANSWERED:
		break;
	case GW_REFUSED:
		gw_host_log(ad->host, GW_LOG_WARN, "message on %s refused: %s (dropped)", a->topic, r->why ? r->why : "");
		break;
	default:
		ad->drop_conn = true;
		break;
	}
	if (a->gen == ad->gen && ad->pending_in) {
		ad->pending_in--;
		if (!ad->stopping)
			gate_open(ad);
	}
	free(a);
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg,
                       const mosquitto_property *props)
{
	(void)m;
	struct gw_adapter *ad = obj;
	if (ad->stopping || !msg->topic)
		return;
	bool pres = presence_seen(ad, msg);
	const struct sub *s = NULL;
	for (size_t i = 0; i < ad->n_subs && !s; i++) {
		bool match = false;
		if (mosquitto_topic_matches_sub(ad->subs[i].filter, msg->topic, &match) == MOSQ_ERR_SUCCESS && match)
			s = &ad->subs[i];
	}
	if (!s) {
		if (!pres)
			gw_host_log(ad->host, GW_LOG_DEBUG, "message on %s matches no subscription: ignored", msg->topic);
		return;
	}
	if (msg->payloadlen <= 0 || (size_t)msg->payloadlen > ad->max_bytes) {
		gw_host_log(ad->host, GW_LOG_WARN, "message on %s dropped: %d bytes (%s)", msg->topic, msg->payloadlen,
		            msg->payloadlen <= 0 ? "empty" : "over max_message_bytes");
		return;
	}
	char *ct = NULL;
	if (props)
		mosquitto_property_read_string(props, MQTT_PROP_CONTENT_TYPE, &ct, false);
	struct inack *a = calloc(1, sizeof *a);
	uint8_t *data = malloc((size_t)msg->payloadlen);
	if (!a || !data) {
		free(a);
		free(data);
		free(ct);
		ad->drop_conn = true; /* not taken: must not be acknowledged */
		return;
	}
	memcpy(data, msg->payload, (size_t)msg->payloadlen);
	a->ad = ad;
	a->gen = ad->gen;
	snprintf(a->topic, sizeof a->topic, "%s", msg->topic);
	/* keyed by its topic (the queue binds the key to the bytes): the same envelope delivered
	 * again on the same topic (a redelivery after a reconnect: libmosquitto acknowledges before
	 * we have committed) is acked without a second item */
	struct gw_inbound in = { .source = msg->topic, .media_type = ct, .tag = s->tag, .data = data,
		                 .len = (size_t)msg->payloadlen, .live = false, .key = msg->topic };
	dc_err rc = ad->host->submit(ad->host, &in, on_ack, a);
	free(ct);
	if (rc == DC_OK) {
		ad->pending_in++;
		return;
	}
	free(a);
	if (rc == DC_ERR_UNSUPPORTED)
		return;
	ad->drop_conn = true; /* busy or draining: not acknowledged, the broker keeps it */
}

/* ---- the connection --------------------------------------------------------------------- */
static void on_io(void *arg, int fd, unsigned events)
{
	(void)fd;
	struct gw_adapter *ad = arg;
	int rc = MOSQ_ERR_SUCCESS;
	if (ad->connecting) {
		/* The first event says the TCP connect ended (an error comes as READ). mosquitto_loop_read
		 * drives the TLS handshake (or reports the refused connect), mosquitto_loop_write then
		 * sends CONNECT once the handshake is through. */
		ad->tcp_up = true;
		rc = mosquitto_loop_read(ad->m, 1);
		if (rc == MOSQ_ERR_SUCCESS && ad->watch && ad->connecting)
			rc = mosquitto_loop_write(ad->m, 1);
		if (rc != MOSQ_ERR_SUCCESS && ad->watch)
			conn_lost(ad, mosquitto_strerror(rc));
		update_watch(ad);
		return;
	}
	/* mosquitto_loop_read reads one packet when nothing of ours is in flight: read on while
	 * the socket holds more bytes, so that one commit covers a batch of messages and not
	 * each message its own (nothing is written until the whole batch is answered) */
	for (int i = 0; (events & GW_FD_READ) && i < READ_BATCH; i++) {
		rc = mosquitto_loop_read(ad->m, 1);
		int avail = 0;
		if (rc != MOSQ_ERR_SUCCESS || !ad->watch || ad->drop_conn ||
		    ioctl(mosquitto_socket(ad->m), FIONREAD, &avail) != 0 || avail <= 0)
			break;
	}
	if (rc == MOSQ_ERR_SUCCESS && ad->watch && !ad->pending_in && (events & GW_FD_WRITE) &&
	    mosquitto_want_write(ad->m))
		rc = mosquitto_loop_write(ad->m, 1);
	if (rc != MOSQ_ERR_SUCCESS && ad->watch)
		conn_lost(ad, mosquitto_strerror(rc));
	if (ad->watch && !ad->pending_in && ad->drop_conn)
		hard_drop(ad);
	update_watch(ad);
}

static void update_watch(struct gw_adapter *ad)
{
	if (!ad->watch)
		return;
	unsigned ev = 0;
	if (ad->connecting) {
		/* until TCP is up: writable = connected. During a TLS handshake libmosquitto may say it
		 * wants to write while it waits to read (a spin): read only; CONNECT follows the
		 * handshake in the same on_io, and the tick writes whatever is left. */
		ev = GW_FD_READ;
		if (!ad->tcp_up || (!ad->use_tls && mosquitto_want_write(ad->m)))
			ev |= GW_FD_WRITE;
	} else if (!ad->pending_in) {
		ev = GW_FD_READ;
		if (mosquitto_want_write(ad->m))
			ev |= GW_FD_WRITE;
	} else if (!ad->drop_conn) {
		/* the gate: nothing written while messages wait for the gateway (their PUBACKs are
		 * queued); reading goes on (the broker's PUBACKs for our publishes, more messages for
		 * the same batch: at most the broker's in-flight window, whose PUBACKs are held) */
		ev = GW_FD_READ;
	}
	ad->host->watch_set(ad->host, ad->watch, ev);
}

static void conn_lost(struct gw_adapter *ad, const char *why)
{
	if (ad->watch) {
		ad->host->watch_close(ad->host, ad->watch);
		ad->watch = NULL;
	}
	bool was = ad->connected;
	ad->connected = false;
	ad->connecting = ad->tcp_up = false;
	ad->gen++;
	ad->pending_in = 0;
	ad->drop_conn = false;
	/* subscriptions in flight are sent again on the next connection */
	for (struct presence *e = ad->subscribing, *n; e; e = n) {
		n = e->snext;
		e->snext = NULL;
		e->sub_mid = 0;
	}
	ad->subscribing = NULL;
	for (struct pub *p = ad->cwh, *n; p; p = n) {
		n = p->next;
		finish(p, GW_RETRY, "not connected to the MQTT broker");
	}
	ad->cwh = ad->cwt = NULL;
	gw_host_conn(ad->host, ad->conf->broker, GW_CONN_DOWN, ad->stopping ? "stopped" : ad->tls_err[0] ? ad->tls_err : why);
	if (ad->stopping)
		return;
	ad->backoff_ms = ad->backoff_ms ? ad->backoff_ms * 2 : 1000;
	if (ad->backoff_ms > ad->conf->reconnect_max_ms)
		ad->backoff_ms = ad->conf->reconnect_max_ms;
	ad->next_try_ms = mono_ms() + ad->backoff_ms;
	if (ad->tls_err[0]) /* a failed handshake: say why (certificate, host name) once per outage */
		gw_host_log(ad->host, GW_LOG_ERROR, "broker %s: TLS handshake failed: %s (check ca_file, cert_file, the "
		                                    "broker's certificate and its name); retrying in %lld ms",
		            ad->conf->broker, ad->tls_err, (long long)ad->backoff_ms);
	else if (was || !ad->down_logged)
		gw_host_log(ad->host, GW_LOG_WARN, "broker %s: connection lost (%s); reconnecting in %lld ms", ad->conf->broker,
		            why, (long long)ad->backoff_ms);
	ad->tls_err[0] = 0;
	ad->down_logged = true;
}

static void on_disconnect(struct mosquitto *m, void *obj, int rc, const mosquitto_property *props)
{
	(void)m;
	(void)props;
	struct gw_adapter *ad = obj;
	conn_lost(ad, rc ? mosquitto_strerror(rc) : "closed");
}

static void on_connect(struct mosquitto *m, void *obj, int rc, int flags, const mosquitto_property *props)
{
	(void)props;
	struct gw_adapter *ad = obj;
	if (rc != 0) {
		if (ad->protocol == MQTT_PROTOCOL_V5 && rc == MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION) {
			gw_host_log(ad->host, GW_LOG_INFO, "broker %s does not speak MQTT 5: using 3.1.1", ad->conf->broker);
			ad->protocol = MQTT_PROTOCOL_V311;
			mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
			ad->backoff_ms = 0; /* the reconnect comes at once */
		} else {
			gw_host_log(ad->host, GW_LOG_ERROR, "broker %s refused the connection: %s", ad->conf->broker,
			            ad->protocol == MQTT_PROTOCOL_V5 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc));
		}
		ad->down_logged = true;
		return; /* libmosquitto closes the connection: on_disconnect */
	}
	ad->connected = true;
	ad->connecting = false;
	ad->backoff_ms = 0;
	ad->down_logged = false;
	gw_host_conn(ad->host, ad->conf->broker, GW_CONN_UP, NULL);
	gw_host_log(ad->host, GW_LOG_INFO, "connected to %s as %s (MQTT %s%s)", ad->conf->broker, ad->client_id,
	            ad->protocol == MQTT_PROTOCOL_V5 ? "5" : "3.1.1", (flags & 1) ? ", session resumed" : "");
	for (size_t i = 0; i < ad->n_subs; i++) {
		int r = mosquitto_subscribe_v5(m, NULL, ad->subs[i].wire, 1, 0, NULL);
		if (r != MOSQ_ERR_SUCCESS)
			gw_host_log(ad->host, GW_LOG_ERROR, "subscribe %s: %s", ad->subs[i].wire, mosquitto_strerror(r));
	}
	/* presence topics again: their retained payloads say where each device is now */
	for (size_t b = 0; b < N_PRES_BUCKETS; b++)
		for (struct presence *e = ad->pres[b]; e; e = e->next)
			pres_subscribe(ad, e);
	struct pub *w = ad->cwh;
	ad->cwh = ad->cwt = NULL;
	while (w) {
		struct pub *next = w->next;
		dispatch(ad, w);
		w = next;
	}
}

static void on_publish(struct mosquitto *m, void *obj, int mid, int reason, const mosquitto_property *props)
{
	(void)m;
	(void)props;
	struct gw_adapter *ad = obj;
	struct pub *p = flight_take(ad, mid);
	if (!p)
		return;
	if (!p->done) { /* an orphan: answered GW_RETRY already (it goes again: a duplicate, not a loss) */
		pub_free(p);
		return;
	}
	if (reason >= 128) {
		char why[160];
		snprintf(why, sizeof why, "broker refused the publish to %.80s: %s", p->topic, mosquitto_reason_string(reason));
		bool hard = reason == MQTT_RC_NOT_AUTHORIZED || reason == MQTT_RC_TOPIC_NAME_INVALID ||
		            reason == MQTT_RC_PAYLOAD_FORMAT_INVALID || reason == MQTT_RC_PACKET_TOO_LARGE;
		finish(p, hard ? GW_FAILED : GW_RETRY, why);
		return;
	}
	finish(p, GW_SENT, p->qos ? (p->qos == 1 ? "PUBACK" : "PUBCOMP") : "written (QoS 0)");
}

/* libmosquitto's own log: its TLS errors say what failed (certificate verify failed, ...) */
static void on_log(struct mosquitto *m, void *obj, int level, const char *str)
{
	(void)m;
	struct gw_adapter *ad = obj;
	if (level == MOSQ_LOG_ERR && str && strncmp(str, "OpenSSL Error", 13) == 0 && !ad->tls_err[0]) {
		const char *p = strrchr(str, ':'); /* "OpenSSL Error[0]: error:0A000086:SSL routines::certificate verify failed" */
		snprintf(ad->tls_err, sizeof ad->tls_err, "%s", p && p[1] ? p + 1 : str);
	}
}

/* Non-blocking: mosquitto_connect_bind_async starts the TCP connect and queues CONNECT; the
 * watch drives the rest (on_io). The loop waits for nothing but DNS, for a broker given by
 * name (libmosquitto resolves it with getaddrinfo): an IP address never blocks.
 * MQTT 5 connect properties (session expiry) reach libmosquitto only through its blocking
 * mosquitto_connect_bind_v5, which stores them before it checks its arguments: called with
 * keepalive 1 (below its minimum of 5) it stores them and returns MOSQ_ERR_INVAL without
 * touching the network, and the async connect then sends them. 06b-mqtt-tls.sh checks that
 * the session outlives a gateway restart, which it would not without them. */
static void try_connect(struct gw_adapter *ad)
{
	mosquitto_property *props = NULL;
	if (ad->protocol == MQTT_PROTOCOL_V5 && !ad->oneshot && ad->conf->session_expiry_ms > 0)
		mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
		                             (uint32_t)(ad->conf->session_expiry_ms / 1000));
	mosquitto_int_option(ad->m, MOSQ_OPT_PROTOCOL_VERSION, ad->protocol);
	int rc = mosquitto_connect_bind_v5(ad->m, ad->host_name, ad->port, 1, NULL, props); /* stores props only */
	mosquitto_property_free_all(&props);
	if (rc != MOSQ_ERR_INVAL) { /* a libmosquitto that connected, or failed otherwise: not what we rely on */
		conn_lost(ad, rc == MOSQ_ERR_SUCCESS ? "unexpected blocking connect" : mosquitto_strerror(rc));
		return;
	}
	ad->tls_err[0] = 0;
	errno = 0;
	rc = mosquitto_connect_bind_async(ad->m, ad->host_name, ad->port, (int)(ad->conf->keepalive_ms / 1000), NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		conn_lost(ad, rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		return;
	}
	dc_err e = ad->host->watch_fd(ad->host, mosquitto_socket(ad->m), GW_FD_READ | GW_FD_WRITE, on_io, ad, &ad->watch);
	if (e != DC_OK) {
		conn_lost(ad, "cannot watch the socket");
		return;
	}
	ad->connecting = true;
	ad->tcp_up = false;
	ad->connect_deadline = mono_ms() + ad->conf->timeout_ms;
	if (!ad->down_logged) /* the first connect; after a loss it stays down (and why) until up */
		gw_host_conn(ad->host, ad->conf->broker, GW_CONN_CONNECTING, NULL);
	update_watch(ad);
}

static void on_tick(void *arg)
{
	struct gw_adapter *ad = arg;
	if (ad->stopping)
		return;
	int64_t now = mono_ms();
	if (ad->watch && ad->connecting) {
		if (now >= ad->connect_deadline) {
			shutdown(mosquitto_socket(ad->m), SHUT_RDWR); /* the next connect closes it */
			conn_lost(ad, "no CONNACK within timeout (broker unreachable?)");
		} else if (ad->tcp_up && mosquitto_loop_write(ad->m, 1) != MOSQ_ERR_SUCCESS && ad->watch) {
			conn_lost(ad, "write failed while connecting");
		}
	} else if (ad->watch) {
		int rc = mosquitto_loop_misc(ad->m);
		if (rc != MOSQ_ERR_SUCCESS && ad->watch)
			conn_lost(ad, mosquitto_strerror(rc));
	}
	if (!ad->watch && now >= ad->next_try_ms)
		try_connect(ad);
	if (ad->n_flight)
		for (size_t b = 0; b < N_MID_BUCKETS; b++)
			for (struct pub **pp = &ad->flight[b]; *pp;) {
				struct pub *p = *pp;
				if (!p->done || p->deadline > now) {
					pp = &p->next;
					continue;
				}
				const char *why = ad->connected ? "no acknowledgement from the broker in time"
				                                : "not connected to the MQTT broker";
				if (p->qos) { /* libmosquitto still holds it and sends it again: keep its mid */
					orphan(p, GW_RETRY, why);
					pp = &p->next;
					continue;
				}
				*pp = p->next; /* QoS 0: dropped by libmosquitto on a reconnect, no callback */
				ad->n_flight--;
				finish(p, GW_RETRY, why);
			}
	update_watch(ad);
}

/* sends handed over by send() */
static void drain(void *arg)
{
	struct gw_adapter *ad = arg;
	pthread_mutex_lock(&ad->mu);
	struct pub *p = ad->inh;
	ad->inh = ad->intail = NULL;
	ad->posted = false;
	pthread_mutex_unlock(&ad->mu);
	while (p) {
		struct pub *next = p->next;
		dispatch(ad, p);
		p = next;
	}
	update_watch(ad);
}

static dc_err mqtt_start(struct gw_adapter *ad, struct gw_host *host, struct dc_errinfo *ei)
{
	ad->host = host;
	ad->oneshot = host->release == NULL;
	pthread_once(&lib_once, lib_init);
	if (ad->conf->client_id[0])
		snprintf(ad->client_id, sizeof ad->client_id, "%s", ad->conf->client_id);
	else
		snprintf(ad->client_id, sizeof ad->client_id, "dcgw-%016llx",
		         (unsigned long long)fnv(host->our_did ? host->our_did : "didcomm-gateway"));
	if (ad->oneshot) /* a command: never take the daemon's session (same id = the broker drops the other) */
		snprintf(ad->client_id + strlen(ad->client_id), sizeof ad->client_id - strlen(ad->client_id), "-cmd%ld",
		         (long)getpid());
	if (!(ad->m = mosquitto_new(ad->client_id, ad->oneshot, ad)))
		return dc_errinfo_set(ei, DC_ERR_NOMEM, "mqtt: cannot create the client");
	mosquitto_threaded_set(ad->m, true); /* see the top: we write only from our loop_write */
	mosquitto_connect_v5_callback_set(ad->m, on_connect);
	mosquitto_disconnect_v5_callback_set(ad->m, on_disconnect);
	mosquitto_message_v5_callback_set(ad->m, on_message);
	mosquitto_publish_v5_callback_set(ad->m, on_publish);
	mosquitto_subscribe_v5_callback_set(ad->m, on_subscribe);
	mosquitto_log_callback_set(ad->m, on_log);
	mosquitto_int_option(ad->m, MOSQ_OPT_TCP_NODELAY, 1); /* small messages: no Nagle delay */
	if (ad->conf->username[0]) {
		dc_err rc = ad->conf->password_file[0] ? host->read_secret(host, ad->conf->password_file, &ad->password, ei) : DC_OK;
		if (rc)
			return rc;
		if (mosquitto_username_pw_set(ad->m, ad->conf->username, ad->password) != MOSQ_ERR_SUCCESS)
			return dc_errinfo_set(ei, DC_ERR_INVAL, "mqtt: username refused");
	}
	ad->use_tls = ad->tls || ad->conf->ca_file[0];
	if (ad->use_tls) {
		const char *ca = ad->conf->ca_file[0] ? ad->conf->ca_file : NULL;
		int rc = ca ? mosquitto_tls_set(ad->m, ca, NULL, ad->conf->cert_file[0] ? ad->conf->cert_file : NULL,
		                                ad->conf->key_file[0] ? ad->conf->key_file : NULL, NULL)
		            : mosquitto_int_option(ad->m, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
		if (rc != MOSQ_ERR_SUCCESS)
			return dc_errinfo_set(ei, DC_ERR_INVAL, "mqtt: TLS setup: %s", mosquitto_strerror(rc));
	}
	dc_err e = host->timer_start(host, TICK_MS, TICK_MS, on_tick, ad, &ad->tick);
	if (e)
		return dc_errinfo_set(ei, e, "mqtt: cannot start a timer");
	try_connect(ad);
	return DC_OK;
}

static dc_err mqtt_send(struct gw_adapter *ad, const struct gw_dest *dest, const struct gw_envelope *env,
                        gw_send_done_fn *done, void *arg)
{
	struct pub *p = calloc(1, sizeof *p);
	char target[MAX_TOPIC + 300], opt[MAX_TOPIC + 1];
	if (!p)
		return DC_ERR_NOMEM;
	p->done = done;
	p->arg = arg;
	p->data = env->data;
	p->len = env->len;
	p->media_type = env->media_type;
	p->expires_ms = env->expires_ms;
	p->untrusted = dest->untrusted;
	p->qos = 1;
	const char *topic = target;
	if (!gw_dest_target(dest, target, sizeof target)) {
		p->fail = "target too long";
	} else if (strstr(target, "://")) { /* a DID endpoint: mqtt://host:port/topic */
		char scheme[8], host[256];
		int port = 0;
		if (!parse_uri(target, scheme, sizeof scheme, host, sizeof host, &port, &topic)) {
			p->fail = "not an mqtt:// or mqtts:// URI";
		} else if (strcasecmp(scheme, ad->scheme) != 0 || strcasecmp(host, ad->host_name) != 0 || port != ad->port) {
			snprintf(p->fail_buf, sizeof p->fail_buf, "%.40s://%.60s:%d is not the configured broker (%.60s)", scheme,
			         host, port, ad->conf->broker);
			p->fail = p->fail_buf;
		}
	}
	if (!p->fail && !topic_ok(topic))
		p->fail = "not a topic to publish to (empty, wildcard, leading $ or too long)";
	if (!p->fail && env->len > MQTT_MAX_PAYLOAD)
		p->fail = "envelope over the MQTT payload limit (256 MiB)";
	if (!p->fail && gw_dest_opt(dest, "qos", opt, sizeof opt) && opt[0])
		p->qos = opt[0] == '0' ? 0 : opt[0] == '2' ? 2 : 1;
	if (!p->fail && gw_dest_opt(dest, "retain", opt, sizeof opt))
		p->retain = strcmp(opt, "yes") == 0;
	if (!p->fail && gw_dest_opt(dest, "presence", opt, sizeof opt) && opt[0]) {
		if (!topic_ok(opt))
			p->fail = "presence= is not a topic";
		else if (!(p->presence = strdup(opt))) {
			free(p);
			return DC_ERR_NOMEM;
		}
	}
	if (!(p->topic = strdup(p->fail ? "-" : topic))) {
		pub_free(p);
		return DC_ERR_NOMEM;
	}
	pthread_mutex_lock(&ad->mu);
	if (ad->closed || !ad->host) {
		pthread_mutex_unlock(&ad->mu);
		pub_free(p);
		return DC_ERR_AGAIN;
	}
	if (ad->intail)
		ad->intail->next = p;
	else
		ad->inh = p;
	ad->intail = p;
	bool post = !ad->posted;
	ad->posted = true;
	pthread_mutex_unlock(&ad->mu);
	if (post && ad->host->post(ad->host, drain, ad) != DC_OK) {
		/* the loop is gone: the entries wait for stop(), which answers them GW_RETRY */
		pthread_mutex_lock(&ad->mu);
		ad->posted = false;
		pthread_mutex_unlock(&ad->mu);
	}
	return DC_OK;
}

static void mqtt_stop(struct gw_adapter *ad)
{
	if (!ad || ad->stopping || !ad->host)
		return;
	ad->stopping = true;
	pthread_mutex_lock(&ad->mu);
	ad->closed = true;
	struct pub *in = ad->inh;
	ad->inh = ad->intail = NULL;
	pthread_mutex_unlock(&ad->mu);
	for (struct pub *n; in; in = n) {
		n = in->next;
		finish(in, GW_RETRY, "adapter stopping");
	}
	for (size_t b = 0; b < N_MID_BUCKETS; b++)
		for (struct pub *p = ad->flight[b], *n; p; p = n) {
			n = p->next;
			if (p->done)
				finish(p, GW_RETRY, "adapter stopping");
			else
				pub_free(p);
		}
	memset(ad->flight, 0, sizeof ad->flight);
	ad->n_flight = 0;
	for (struct pub *p = ad->cwh, *n; p; p = n) {
		n = p->next;
		finish(p, GW_RETRY, "adapter stopping");
	}
	ad->cwh = ad->cwt = NULL;
	for (size_t b = 0; b < N_PRES_BUCKETS; b++)
		for (struct presence *e = ad->pres[b]; e; e = e->next) {
			for (struct pub *p = e->wh, *n; p; p = n) {
				n = p->next;
				finish(p, GW_RETRY, "adapter stopping");
			}
			e->wh = e->wt = NULL;
		}
	if (ad->tick) {
		ad->host->timer_stop(ad->host, ad->tick);
		ad->tick = NULL;
	}
	if (ad->connected && !ad->pending_in) { /* a clean DISCONNECT (the session stays) */
		mosquitto_disconnect(ad->m);
		mosquitto_loop_write(ad->m, 1);
	}
	if (ad->watch) {
		ad->host->watch_close(ad->host, ad->watch);
		ad->watch = NULL;
	}
	ad->connected = false;
}

static void mqtt_free(struct gw_adapter *ad)
{
	if (!ad)
		return;
	if (ad->m)
		mosquitto_destroy(ad->m); /* closes the socket if still open (unacknowledged: resent) */
	for (size_t b = 0; b < N_PRES_BUCKETS; b++)
		for (struct presence *e = ad->pres[b], *n; e; e = n) {
			n = e->next;
			free(e->topic);
			free(e);
		}
	for (size_t i = 0; i < ad->n_subs; i++) {
		free(ad->subs[i].filter);
		free(ad->subs[i].tag);
		free(ad->subs[i].wire);
	}
	free(ad->subs);
	if (ad->password) {
		sodium_memzero(ad->password, strlen(ad->password));
		free(ad->password);
	}
	pthread_mutex_destroy(&ad->mu);
	free(ad);
}

static const char *const mqtt_schemes[] = { "mqtt", "mqtts", NULL };

const struct gw_adapter_ops gw_ad_mqtt = {
	.name = "mqtt",
	.schemes = mqtt_schemes,
	.flags = GW_AD_IN | GW_AD_OUT,
	.keys = mqtt_keys,
	.n_keys = sizeof mqtt_keys / sizeof mqtt_keys[0],
	.conf_size = sizeof(struct mqtt_conf),
	.create = mqtt_create,
	.start = mqtt_start,
	.send = mqtt_send,
	.stop = mqtt_stop,
	.free = mqtt_free,
};
