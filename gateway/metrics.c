/* The daemon's counters (see metrics.h). */
#include "metrics.h"
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef GW_VERSION
#define GW_VERSION "0.0.0-dev"
#endif

#define SLOTS 17 /* the registry's adapters (GW_MAX_ADAPTERS), then "other" */
#define OTHER (SLOTS - 1)
#define HOLD_SLOT (SLOTS) /* deliveries: "hold" (pickup ran out) */
#define NONE_SLOT (SLOTS + 1)

typedef _Atomic uint64_t counter;

static void bump(counter *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t get(counter *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* a histogram: per-bucket counts (not cumulative), the sum in the unit's millionths */
#define MAX_BUCKETS 20
struct hist {
	const char *name, *help;
	const double *le; /* upper bounds, ascending */
	size_t n;
	counter b[MAX_BUCKETS + 1]; /* [n]: above the last bound */
	counter sum_micro;
	counter count;
};

static const double lat_le[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
static const double dlat_le[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400 };
static const double bytes_le[] = { 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864 };

static struct hist h_ingest = { "didcomm_gateway_ingest_latency_seconds",
	                        "Time from an inbound message's arrival to its answer (queued, answered or refused).",
	                        lat_le, sizeof lat_le / sizeof lat_le[0], { 0 }, 0, 0 };
static struct hist h_delivery = { "didcomm_gateway_delivery_latency_seconds",
	                          "Time from a message's acceptance to its delivery, for deliveries that succeeded.",
	                          dlat_le, sizeof dlat_le / sizeof dlat_le[0], { 0 }, 0, 0 };
static struct hist h_bytes = { "didcomm_gateway_envelope_bytes", "Size of inbound envelopes in bytes.", bytes_le,
	                       sizeof bytes_le / sizeof bytes_le[0], { 0 }, 0, 0 };

static void observe(struct hist *h, double v)
{
	size_t i = 0;
	while (i < h->n && v > h->le[i])
		i++;
	bump(&h->b[i], 1);
	bump(&h->count, 1);
	bump(&h->sum_micro, v > 0 ? (uint64_t)(v * 1e6) : 0);
}

/* inbound outcomes, by transport */
enum { IN_ACCEPTED, IN_ANSWERED, IN_REFUSED, IN_TRY_LATER, IN_BUSY, N_IN };
static const char *const in_names[N_IN] = { "accepted", "answered", "refused", "try_later", "busy" };
static counter in_c[SLOTS][N_IN];

/* delivery results, by adapter (+ hold, none) */
enum { D_SENT, D_RETRY, D_FAILED, D_HELD, N_D };
static const char *const d_names[N_D] = { "sent", "retry", "failed", "held" };
static counter d_c[SLOTS + 2][N_D];
static _Atomic int64_t d_last_sent[SLOTS + 2], d_last_fail[SLOTS + 2];
static char d_last_err[SLOTS + 2][160];
static pthread_mutex_t err_mu = PTHREAD_MUTEX_INITIALIZER;

/* unpack failures, by dc_err */
static const struct {
	dc_err rc;
	const char *name;
} reasons[] = {
	{ DC_ERR_MALFORMED, "malformed" }, { DC_ERR_TOO_BIG, "too_big" },     { DC_ERR_UNSUPPORTED, "unsupported" },
	{ DC_ERR_CRYPTO, "crypto" },       { DC_ERR_NOT_FOUND, "not_found" }, { DC_ERR_RESOLVE, "resolve" },
	{ DC_ERR_EXPIRED, "expired" },     { DC_ERR_DENIED, "denied" },       { DC_ERR_INVAL, "other" },
};
#define N_REASONS (sizeof reasons / sizeof reasons[0])
static counter unpack_c[N_REASONS];

/* queue writes */
static counter qw_ok, qw_failed;
static _Atomic int64_t qw_bad_us; /* the last write failed, at (monotonic us); 0: it did not */
#define QW_RECENT_US (30 * 1000000LL) /* a failure older than this no longer counts (no write may
                                        * follow one: a gateway not ready gets no messages) */
static char qw_why[200];

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t gw_metrics_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static size_t slot_of(const char *name)
{
	for (size_t i = 0; name && i < OTHER && gw_adapters[i]; i++)
		if (strcmp(gw_adapters[i]->name, name) == 0)
			return i;
	return OTHER;
}

static const char *slot_name(size_t i)
{
	return i == HOLD_SLOT ? "hold" : i == NONE_SLOT ? "none" : i == OTHER ? "other" : gw_adapters[i]->name;
}

/* the slots that exist in this build: the registry's, then other */
static size_t n_registry(void)
{
	size_t n = 0;
	while (n < OTHER && gw_adapters[n])
		n++;
	return n;
}

void gw_metrics_in(const char *transport, enum gw_outcome o, size_t bytes, int64_t took_us)
{
	int k = o == GW_ACCEPTED ? IN_ACCEPTED : o == GW_ANSWERED ? IN_ANSWERED : o == GW_REFUSED ? IN_REFUSED : IN_TRY_LATER;
	bump(&in_c[slot_of(transport)][k], 1);
	observe(&h_bytes, (double)bytes);
	if (took_us >= 0)
		observe(&h_ingest, (double)took_us / 1e6);
}

void gw_metrics_in_busy(const char *transport)
{
	bump(&in_c[slot_of(transport)][IN_BUSY], 1);
}

void gw_metrics_unpack_failed(dc_err rc)
{
	if (rc == DC_OK || rc == DC_ERR_AGAIN || rc == DC_ERR_NOMEM || rc == DC_ERR_IO)
		return;
	size_t i = 0;
	while (i < N_REASONS - 1 && reasons[i].rc != rc)
		i++;
	bump(&unpack_c[i], 1);
}

void gw_metrics_delivery(const char *adapter, enum gw_send_result r, int64_t age_ms, const char *why)
{
	size_t s = !adapter || !adapter[0] ? NONE_SLOT : strcmp(adapter, "hold") == 0 ? HOLD_SLOT : slot_of(adapter);
	int k = r == GW_SENT ? D_SENT : r == GW_RETRY ? D_RETRY : r == GW_HELD ? D_HELD : D_FAILED;
	bump(&d_c[s][k], 1);
	if (r == GW_SENT) {
		atomic_store_explicit(&d_last_sent[s], wall_ms(), memory_order_relaxed);
		observe(&h_delivery, age_ms > 0 ? (double)age_ms / 1000.0 : 0);
	} else if (r == GW_RETRY || r == GW_FAILED) {
		atomic_store_explicit(&d_last_fail[s], wall_ms(), memory_order_relaxed);
		pthread_mutex_lock(&err_mu);
		snprintf(d_last_err[s], sizeof d_last_err[s], "%s", why ? why : "");
		pthread_mutex_unlock(&err_mu);
	}
}

void gw_metrics_queue_write(dc_err rc, const char *why)
{
	if (rc == DC_ERR_AGAIN)
		return; /* full, busy or over a share: says nothing of the store's health */
	if (rc == DC_OK) {
		bump(&qw_ok, 1);
		atomic_store_explicit(&qw_bad_us, 0, memory_order_relaxed);
		return;
	}
	bump(&qw_failed, 1);
	pthread_mutex_lock(&err_mu);
	snprintf(qw_why, sizeof qw_why, "%s", why && why[0] ? why : dc_strerror(rc));
	pthread_mutex_unlock(&err_mu);
	atomic_store_explicit(&qw_bad_us, gw_metrics_now_us(), memory_order_relaxed);
}

bool gw_metrics_queue_write_failed(char *buf, size_t n)
{
	int64_t at = atomic_load_explicit(&qw_bad_us, memory_order_relaxed);
	if (!at || gw_metrics_now_us() - at > QW_RECENT_US)
		return false;
	pthread_mutex_lock(&err_mu);
	snprintf(buf, n, "%s", qw_why);
	pthread_mutex_unlock(&err_mu);
	return true;
}

void gw_metrics_totals(struct gw_metrics_totals *t)
{
	memset(t, 0, sizeof *t);
	for (size_t s = 0; s < SLOTS; s++) {
		for (int k = 0; k < N_IN; k++)
			t->in += get(&in_c[s][k]);
		t->accepted += get(&in_c[s][IN_ACCEPTED]);
		t->refused += get(&in_c[s][IN_REFUSED]);
		t->busy += get(&in_c[s][IN_BUSY]) + get(&in_c[s][IN_TRY_LATER]);
	}
	for (size_t s = 0; s < SLOTS + 2; s++) {
		t->sent += get(&d_c[s][D_SENT]);
		t->retried += get(&d_c[s][D_RETRY]);
		t->failed += get(&d_c[s][D_FAILED]);
	}
}

void gw_metrics_adapter(const char *name, struct gw_metrics_adapter *out)
{
	memset(out, 0, sizeof *out);
	size_t s = strcmp(name, "hold") == 0 ? HOLD_SLOT : slot_of(name);
	for (int k = 0; s < SLOTS && k < N_IN; k++)
		out->in += get(&in_c[s][k]);
	out->sent = get(&d_c[s][D_SENT]);
	out->retry = get(&d_c[s][D_RETRY]);
	out->failed = get(&d_c[s][D_FAILED]);
	out->held = get(&d_c[s][D_HELD]);
	out->last_sent_ms = atomic_load_explicit(&d_last_sent[s], memory_order_relaxed);
	out->last_fail_ms = atomic_load_explicit(&d_last_fail[s], memory_order_relaxed);
	pthread_mutex_lock(&err_mu);
	snprintf(out->last_error, sizeof out->last_error, "%s", d_last_err[s]);
	pthread_mutex_unlock(&err_mu);
}

/* ---- text ------------------------------------------------------------------------------ */
void gw_buf_put(struct gw_buf *b, const char *s, size_t n)
{
	if (b->full)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > b->max)
			cap = b->max;
		char *p = b->len + n + 1 <= cap ? realloc(b->p, cap) : NULL;
		if (!p) {
			b->full = true; /* too big, or no memory: what is there stays, the rest is left out */
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

void gw_buf_printf(struct gw_buf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof tmp) {
		gw_buf_put(b, tmp, (size_t)n);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (!big) {
		b->full = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	gw_buf_put(b, big, (size_t)n);
	free(big);
}

void gw_buf_free(struct gw_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

static void head(struct gw_buf *b, const char *name, const char *type, const char *help)
{
	gw_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void render_hist(struct gw_buf *b, struct hist *h)
{
	head(b, h->name, "histogram", h->help);
	uint64_t cum = 0;
	for (size_t i = 0; i < h->n; i++) {
		cum += get(&h->b[i]);
		gw_buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", h->name, h->le[i], (unsigned long long)cum);
	}
	cum += get(&h->b[h->n]);
	/* the count read after the buckets is at least their sum: +Inf is the count, so that a
	 * scrape racing an observe stays monotonic */
	uint64_t count = get(&h->count);
	if (count < cum)
		count = cum;
	gw_buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", h->name, (unsigned long long)count);
	gw_buf_printf(b, "%s_sum %.6f\n", h->name, (double)get(&h->sum_micro) / 1e6);
	gw_buf_printf(b, "%s_count %llu\n", h->name, (unsigned long long)count);
}

/* ---- adapters' connections -------------------------------------------------------------- */
struct conn_slot {
	char adapter[32];
	struct gw_metrics_conn c;
};
static struct conn_slot conns[GW_METRICS_MAX_CONNS];
static size_t n_conns;
static bool conns_full_said;
static pthread_mutex_t conn_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const conn_names[] = { [GW_CONN_DOWN] = "down", [GW_CONN_UP] = "up",
	                                  [GW_CONN_CONNECTING] = "connecting" };

void gw_metrics_conn(const char *adapter, const char *target, enum gw_conn_state st, const char *why)
{
	if (!adapter || !target || (unsigned)st > GW_CONN_CONNECTING)
		return;
	int64_t now = wall_ms();
	bool full = false;
	pthread_mutex_lock(&conn_mu);
	struct conn_slot *s = NULL;
	for (size_t i = 0; i < n_conns && !s; i++)
		if (strncmp(conns[i].adapter, adapter, sizeof conns[i].adapter - 1) == 0 &&
		    strncmp(conns[i].c.target, target, sizeof conns[i].c.target - 1) == 0)
			s = &conns[i];
	if (!s && n_conns < GW_METRICS_MAX_CONNS) {
		s = &conns[n_conns++];
		snprintf(s->adapter, sizeof s->adapter, "%s", adapter);
		snprintf(s->c.target, sizeof s->c.target, "%s", target);
		s->c.st = st;
		s->c.since_ms = now;
	} else if (!s) {
		full = !conns_full_said;
		conns_full_said = true;
	}
	if (s) {
		if (s->c.st != st) {
			s->c.st = st;
			s->c.since_ms = now;
			s->c.changes++;
		}
		snprintf(s->c.why, sizeof s->c.why, "%s", st == GW_CONN_UP || !why ? "" : why);
	}
	pthread_mutex_unlock(&conn_mu);
	if (full)
		gw_log(GW_LOG_WARN, "metrics", "more than %d adapter connections reported: %s %.100s and later ones are not "
		       "shown", GW_METRICS_MAX_CONNS, adapter, target);
}

size_t gw_metrics_conns(const char *adapter, struct gw_metrics_conn *out, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&conn_mu);
	for (size_t i = 0; i < n_conns && n < max; i++)
		if (strcmp(conns[i].adapter, adapter) == 0)
			out[n++] = conns[i].c;
	pthread_mutex_unlock(&conn_mu);
	return n;
}

/* a label value in the text format: backslash, double quote and newline escaped */
static void label(struct gw_buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			gw_buf_printf(b, "\\%c", *s);
		else if (*s == '\n')
			gw_buf_printf(b, "\\n");
		else
			gw_buf_put(b, s, 1);
	}
}

static void render_conns(struct gw_buf *b)
{
	struct conn_slot v[GW_METRICS_MAX_CONNS];
	pthread_mutex_lock(&conn_mu);
	size_t n = n_conns;
	memcpy(v, conns, n * sizeof *v);
	pthread_mutex_unlock(&conn_mu);
	head(b, "didcomm_gateway_adapter_connection_up", "gauge",
	     "An adapter's connection (MQTT broker, IMAP or SMTP server, watched folder) is up (1) or not (0: down or "
	     "connecting), by adapter and target.");
	for (size_t i = 0; i < n; i++) {
		gw_buf_printf(b, "didcomm_gateway_adapter_connection_up{adapter=\"%s\",target=\"", v[i].adapter);
		label(b, v[i].c.target);
		gw_buf_printf(b, "\"} %d\n", v[i].c.st == GW_CONN_UP);
	}
	head(b, "didcomm_gateway_adapter_connection_state", "gauge",
	     "An adapter's connection by state: 1 for the state it is in (up, connecting, down), 0 for the others.");
	for (size_t i = 0; i < n; i++)
		for (int k = 0; k < 3; k++) {
			gw_buf_printf(b, "didcomm_gateway_adapter_connection_state{adapter=\"%s\",target=\"", v[i].adapter);
			label(b, v[i].c.target);
			gw_buf_printf(b, "\",state=\"%s\"} %d\n", conn_names[k], (int)v[i].c.st == k);
		}
	head(b, "didcomm_gateway_adapter_connection_changes_total", "counter",
	     "Changes of state of an adapter's connection since it was first reported.");
	for (size_t i = 0; i < n; i++) {
		gw_buf_printf(b, "didcomm_gateway_adapter_connection_changes_total{adapter=\"%s\",target=\"", v[i].adapter);
		label(b, v[i].c.target);
		gw_buf_printf(b, "\"} %llu\n", (unsigned long long)v[i].c.changes);
	}
}

void gw_metrics_render(struct gw_buf *b)
{
	size_t nr = n_registry();
	head(b, "didcomm_gateway_build_info", "gauge", "The gateway's version (always 1).");
	gw_buf_printf(b, "didcomm_gateway_build_info{version=\"%s\",didcomm=\"v2\"} 1\n", gw_version());

	head(b, "didcomm_gateway_messages_in_total", "counter",
	     "Inbound messages by transport and outcome (busy: not taken, answered try later at once).");
	for (size_t s = 0; s < SLOTS; s++) {
		if (s >= nr && s != OTHER)
			continue;
		for (int k = 0; k < N_IN; k++)
			gw_buf_printf(b, "didcomm_gateway_messages_in_total{transport=\"%s\",outcome=\"%s\"} %llu\n",
			              slot_name(s), in_names[k], (unsigned long long)get(&in_c[s][k]));
	}
	head(b, "didcomm_gateway_deliveries_total", "counter",
	     "Delivery attempts by adapter and result (held: waiting for a device's presence, no attempt spent).");
	for (size_t s = 0; s < SLOTS + 2; s++) {
		if (s >= nr && s < OTHER)
			continue;
		for (int k = 0; k < N_D; k++)
			gw_buf_printf(b, "didcomm_gateway_deliveries_total{adapter=\"%s\",result=\"%s\"} %llu\n", slot_name(s),
			              d_names[k], (unsigned long long)get(&d_c[s][k]));
	}
	head(b, "didcomm_gateway_unpack_failures_total", "counter",
	     "Inbound envelopes that could not be opened or read, by reason.");
	for (size_t i = 0; i < N_REASONS; i++)
		gw_buf_printf(b, "didcomm_gateway_unpack_failures_total{reason=\"%s\"} %llu\n", reasons[i].name,
		              (unsigned long long)get(&unpack_c[i]));
	head(b, "didcomm_gateway_queue_writes_total", "counter", "Commits of inbound messages to the queue, by result.");
	gw_buf_printf(b, "didcomm_gateway_queue_writes_total{result=\"ok\"} %llu\n", (unsigned long long)get(&qw_ok));
	gw_buf_printf(b, "didcomm_gateway_queue_writes_total{result=\"failed\"} %llu\n",
	              (unsigned long long)get(&qw_failed));
	render_hist(b, &h_ingest);
	render_hist(b, &h_delivery);
	render_hist(b, &h_bytes);
	render_conns(b);
}

const char *gw_version(void)
{
	return GW_VERSION;
}
