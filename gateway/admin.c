/* The admin listener (see admin.h). One loop thread serves the connections; one reader thread
 * takes the queue's numbers when a request needs them (a snapshot), and posts back to the
 * loop, which answers every connection waiting for it. */
#define _GNU_SOURCE /* accept4 */
#include "admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <qrencode.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "mediation.h"
#include "metrics.h"

#define MAX_OUT (4u << 20)       /* the biggest answer (a status page with long reasons) */
#define MIN_FREE (1u << 20)      /* a queue's file system with less free is "full" */
#define RATE_SAMPLES 7           /* a sample every RATE_EVERY_MS: the rates are over a minute */
#define RATE_EVERY_MS 10000
#define SNAP_FRESH_MS 1000   /* a snapshot this young answers without another look at the queue */
#define LINGER_MAX (1u << 20)
#define TOKEN_MIN 16
#define TOKEN_MAX 1024

/* C_LINGER: answered and shut for writing; what the client still sends is read and dropped
 * until it closes (or the deadline, or LINGER_MAX), so that closing with unread bytes does
 * not reset the connection before the client has read the answer */
enum conn_state { C_READING, C_WAITING, C_WRITING, C_LINGER };
enum route { R_NONE, R_METRICS, R_READY, R_STATUS };

struct conn {
	struct conn *prev, *next;
	struct gw_admin *a;
	int fd;
	struct gw_watch *w;
	struct gw_timer *deadline;
	enum conn_state st;
	enum route route;
	bool head_only;
	size_t in_len;
	char in[ADMIN_MAX_HEAD];
	struct gw_buf out;
	size_t out_off;
	size_t dropped;          /* C_LINGER: bytes read and dropped */
};

struct dead_row {
	int64_t id, died_ms;
	unsigned attempts;
	char msg_id[100], dest[200], reason[300];
};

/* what the reader thread saw */
struct snapshot {
	bool ok;                 /* the stats came back */
	char err[200];
	struct dc_queue_stats st;
	int64_t at_ms;           /* wall clock */
	bool writable;
	char not_writable[300];
	struct dead_row dead[ADMIN_DEAD_SHOWN];
	size_t n_dead;
};

struct sample {
	int64_t at_ms;
	uint64_t in, sent;
};

struct gw_admin {
	struct gw_state *s;
	struct gw_loop *loop;
	char addr[320];
	unsigned char token_hash[crypto_generichash_BYTES];
	bool has_token;
	int lfd;
	struct gw_watch *lw;
	struct gw_timer *rate_timer;
	struct conn *conns;
	unsigned n_conns, max_conns;
	uint64_t refused_conns;   /* over max_connections */
	bool started, stopped;
	char listening[400];
	int64_t start_ms;
	struct sample rate[RATE_SAMPLES];
	size_t n_rate;
	/* the reader: want/stop under mu; snap is written under mu, read on the loop thread after
	 * its post arrives */
	pthread_t th;
	bool th_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool want, stop;
	bool refreshing;         /* loop thread: a snapshot asked for, not posted back yet */
	int64_t snap_mono_us;    /* loop thread: when the last one arrived (0: none yet) */
	struct snapshot snap;
};

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool gw_admin_is_loopback(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;
	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

/* "host:port" or "[v6]:port" into host (brackets gone) and port */
static bool split_hostport(const char *hp, char *host, size_t n, int *port)
{
	const char *colon = strrchr(hp, ':');
	if (!colon)
		return false;
	const char *h = hp;
	size_t hl = (size_t)(colon - hp);
	if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
		h++;
		hl -= 2;
	}
	if (hl == 0 || hl >= n)
		return false;
	memcpy(host, h, hl);
	host[hl] = 0;
	char *end = NULL;
	long p = strtol(colon + 1, &end, 10);
	if (!end || *end || end == colon + 1 || p < 0 || p > 65535)
		return false;
	*port = (int)p;
	return true;
}

/* the bearer token: a file of ours alone, its first line, printable, TOKEN_MIN..TOKEN_MAX */
static dc_err read_token(struct gw_admin *a, const char *path, struct dc_errinfo *ei)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return dc_errinfo_set(ei, DC_ERR_IO, "[admin] token_file %.200s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		close(fd);
		return dc_errinfo_set(ei, DC_ERR_DENIED, "[admin] token_file %.200s: not a file of ours alone (chmod 600)",
		                      path);
	}
	char buf[TOKEN_MAX + 2];
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	dc_err rc = DC_OK;
	if (n < 0) {
		rc = dc_errinfo_set(ei, DC_ERR_IO, "[admin] token_file %.200s: %s", path, strerror(errno));
		goto out;
	}
	buf[n] = 0;
	size_t len = strcspn(buf, "\r\n");
	buf[len] = 0;
	bool printable = true;
	for (size_t i = 0; i < len; i++)
		printable &= buf[i] > ' ' && buf[i] < 127;
	if (len < TOKEN_MIN || len > TOKEN_MAX || !printable) {
		rc = dc_errinfo_set(ei, DC_ERR_INVAL,
		                    "[admin] token_file %.200s: want one line of %d to %d printable characters, no blanks",
		                    path, TOKEN_MIN, TOKEN_MAX);
		goto out;
	}
	crypto_generichash(a->token_hash, sizeof a->token_hash, (const unsigned char *)buf, len, NULL, 0);
	a->has_token = true;
out:
	sodium_memzero(buf, sizeof buf);
	return rc;
}

/* ---- the queue reader ------------------------------------------------------------------- */
/* the newest dead letters: dc_queue_list pages from the oldest, so find the id after which
 * exactly ADMIN_DEAD_SHOWN remain (the number of them after x only falls as x grows) */
static bool at_least(struct dc_queue *q, int64_t after, size_t k)
{
	struct dc_queue_item *it = NULL;
	size_t n = 0;
	struct dc_errinfo ei = { 0 };
	if (dc_queue_list(q, true, after, k, &it, &n, &ei) != DC_OK)
		return false;
	dc_queue_items_free(it, n);
	return n >= k;
}

static void newest_dead(struct dc_queue *q, struct snapshot *sn)
{
	const size_t k = ADMIN_DEAD_SHOWN;
	int64_t after = 0;
	if (at_least(q, 0, k)) {
		int64_t lo = 0, hi = 1; /* at_least(lo) holds; find hi where it does not */
		while (hi < (INT64_C(1) << 62) && at_least(q, hi, k)) {
			lo = hi;
			hi *= 2;
		}
		while (hi - lo > 1) {
			int64_t mid = lo + (hi - lo) / 2;
			if (at_least(q, mid, k))
				lo = mid;
			else
				hi = mid;
		}
		after = lo;
	}
	struct dc_queue_item *it = NULL;
	size_t n = 0;
	struct dc_errinfo ei = { 0 };
	if (dc_queue_list(q, true, after, k, &it, &n, &ei) != DC_OK)
		return;
	for (size_t i = 0; i < n && i < k; i++) { /* newest first */
		struct dead_row *r = &sn->dead[i];
		const struct dc_queue_item *d = &it[n - 1 - i];
		r->id = d->id;
		r->died_ms = d->next_ms; /* a dead letter's next_ms is when it died */
		r->attempts = d->attempts;
		snprintf(r->msg_id, sizeof r->msg_id, "%s", d->msg_id ? d->msg_id : "");
		snprintf(r->dest, sizeof r->dest, "%s", d->dest ? d->dest : "");
		snprintf(r->reason, sizeof r->reason, "%s", d->last_error ? d->last_error : "");
	}
	sn->n_dead = n < k ? n : k;
	dc_queue_items_free(it, n);
}

/* can the store be written? (its file system, its file and folder; the last commit) */
static void probe_writable(const struct gw_state *s, struct snapshot *sn)
{
	char path[4200], why[300];
	const char *dir = s->conf.state_dir;
	snprintf(path, sizeof path, "%s/queue.db", dir);
	struct statvfs vfs;
	sn->writable = false;
	if (strcmp(dc_queue_backend(s->q), "sqlite") != 0) {
		/* a server's: it answers (the numbers just read) and took the last commit */
		if (!sn->ok)
			snprintf(sn->not_writable, sizeof sn->not_writable, "queue: %.250s", sn->err);
		else if (gw_metrics_queue_write_failed(why, sizeof why))
			snprintf(sn->not_writable, sizeof sn->not_writable, "the last commit failed: %.250s", why);
		else
			sn->writable = true;
		return;
	}
	if (statvfs(path, &vfs) != 0) {
		snprintf(sn->not_writable, sizeof sn->not_writable, "queue %.200s: %s", path, strerror(errno));
		return;
	}
	if (vfs.f_flag & ST_RDONLY) {
		snprintf(sn->not_writable, sizeof sn->not_writable, "queue %.200s: read-only file system", path);
		return;
	}
	if ((uint64_t)vfs.f_bavail * vfs.f_frsize < MIN_FREE) {
		snprintf(sn->not_writable, sizeof sn->not_writable, "queue %.200s: file system full (%llu bytes free)", path,
		         (unsigned long long)vfs.f_bavail * vfs.f_frsize);
		return;
	}
	if (access(path, W_OK) != 0 || access(dir, W_OK) != 0) {
		snprintf(sn->not_writable, sizeof sn->not_writable, "queue %.200s: %s", access(path, W_OK) ? path : dir,
		         strerror(errno));
		return;
	}
	if (gw_metrics_queue_write_failed(why, sizeof why)) {
		snprintf(sn->not_writable, sizeof sn->not_writable, "the last commit failed: %.250s", why);
		return;
	}
	sn->writable = true;
	sn->not_writable[0] = 0;
}

static void snap_ready(void *arg);

static void *reader(void *arg)
{
	struct gw_admin *a = arg;
	prctl(PR_SET_NAME, "gw-admin", 0, 0, 0);
	struct snapshot *sn = malloc(sizeof *sn);
	for (;;) {
		pthread_mutex_lock(&a->mu);
		while (!a->want && !a->stop)
			pthread_cond_wait(&a->cv, &a->mu);
		bool stop = a->stop;
		a->want = false;
		pthread_mutex_unlock(&a->mu);
		if (stop)
			break;
		if (sn) {
			memset(sn, 0, sizeof *sn);
			struct dc_errinfo ei = { 0 };
			sn->at_ms = wall_ms();
			sn->ok = dc_queue_stats(a->s->q, sn->at_ms, &sn->st, &ei) == DC_OK;
			if (!sn->ok)
				snprintf(sn->err, sizeof sn->err, "%.190s", ei.msg[0] ? ei.msg : "the queue's numbers are not available");
			if (sn->ok && sn->st.dead)
				newest_dead(a->s->q, sn);
			probe_writable(a->s, sn);
		}
		pthread_mutex_lock(&a->mu);
		if (sn)
			a->snap = *sn;
		else
			snprintf(a->snap.err, sizeof a->snap.err, "out of memory"), a->snap.ok = false;
		pthread_mutex_unlock(&a->mu);
		while (gw_loop_post(a->loop, snap_ready, a) != DC_OK) {
			pthread_mutex_lock(&a->mu);
			bool st = a->stop;
			pthread_mutex_unlock(&a->mu);
			if (st)
				break;
			usleep(10000);
		}
	}
	free(sn);
	return NULL;
}

static void ask_snapshot(struct gw_admin *a)
{
	if (a->refreshing)
		return; /* the one under way answers this connection too */
	a->refreshing = true;
	pthread_mutex_lock(&a->mu);
	a->want = true;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

/* ---- connections ------------------------------------------------------------------------- */
static void conn_close(struct conn *c)
{
	struct gw_admin *a = c->a;
	if (c->prev)
		c->prev->next = c->next;
	else
		a->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	a->n_conns--;
	gw_loop_watch_close(c->w);
	gw_loop_timer_stop(c->deadline);
	close(c->fd);
	gw_buf_free(&c->out);
	free(c);
}

static void on_deadline(void *arg)
{
	struct conn *c = arg;
	conn_close(c); /* slow, or never finished its request: no answer owed */
}

static void try_write(struct conn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.p + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			gw_loop_watch_set(c->w, GW_FD_WRITE);
			return;
		}
		conn_close(c);
		return;
	}
	shutdown(c->fd, SHUT_WR);
	c->st = C_LINGER;
	gw_loop_watch_set(c->w, GW_FD_READ);
}

static void linger(struct conn *c)
{
	char buf[4096];
	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof buf, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0 || (c->dropped += (size_t)n) > LINGER_MAX) {
			conn_close(c);
			return;
		}
	}
}

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

/* the answer: status line and headers, then body (not for HEAD) */
static void respond(struct conn *c, int status, const char *type, const char *extra, const char *body, size_t len)
{
	struct gw_buf *o = &c->out;
	o->max = MAX_OUT;
	gw_buf_printf(o,
	              "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n"
	              "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
	              "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; img-src data:\r\n"
	              "%s\r\n",
	              status, reason_phrase(status), type, len, extra ? extra : "");
	if (!c->head_only && len)
		gw_buf_put(o, body, len);
	if (o->full) { /* no memory for it: nothing better to say */
		conn_close(c);
		return;
	}
	c->st = C_WRITING;
	c->out_off = 0;
	gw_loop_watch_set(c->w, 0);
	try_write(c);
}

static void respond_text(struct conn *c, int status, const char *extra, const char *text)
{
	respond(c, status, "text/plain; charset=utf-8", extra, text, strlen(text));
}

/* ---- what is served ------------------------------------------------------------------------ */
/* readiness: "" when ready, else the reasons, "; " between them */
static void not_ready(struct gw_admin *a, char *why, size_t n)
{
	why[0] = 0;
	size_t len = 0;
#define ADD(...)                                                                                                       \
	do {                                                                                                           \
		if (len && len + 2 < n)                                                                                \
			len += (size_t)snprintf(why + len, n - len, "; ");                                            \
		if (len < n)                                                                                           \
			len += (size_t)snprintf(why + len, n - len, __VA_ARGS__);                                     \
		if (len >= n)                                                                                          \
			len = n - 1;                                                                                   \
	} while (0)
	if (gw_loop_draining(a->loop))
		ADD("shutting down");
	else if (!a->started)
		ADD("starting: not listening yet");
	if (!a->s->did || !a->s->did[0] || !a->s->ks || dc_keystore_count(a->s->ks) == 0)
		ADD("no identity loaded");
	if (!a->snap.ok)
		ADD("queue: %s", a->snap.err);
	else if (!a->snap.writable)
		ADD("queue not writable: %s", a->snap.not_writable);
#undef ADD
}

static void rate_sample(void *arg)
{
	struct gw_admin *a = arg;
	struct gw_metrics_totals t;
	gw_metrics_totals(&t);
	if (a->n_rate == RATE_SAMPLES) {
		memmove(&a->rate[0], &a->rate[1], (RATE_SAMPLES - 1) * sizeof a->rate[0]);
		a->n_rate--;
	}
	a->rate[a->n_rate++] = (struct sample){ wall_ms(), t.in, t.sent };
}

/* messages a second in and delivered, over the samples and now */
static void rates(struct gw_admin *a, double *in, double *sent)
{
	*in = *sent = 0;
	if (!a->n_rate)
		return;
	struct gw_metrics_totals t;
	gw_metrics_totals(&t);
	double dt = (double)(wall_ms() - a->rate[0].at_ms) / 1000.0;
	if (dt < 1)
		return;
	*in = (double)(t.in - a->rate[0].in) / dt;
	*sent = (double)(t.sent - a->rate[0].sent) / dt;
}

static void gauge(struct gw_buf *b, const char *name, const char *help, const char *labels, double v)
{
	gw_buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s%s %.17g\n", name, help, name, name, labels ? labels : "", v);
}

static void serve_metrics(struct conn *c)
{
	struct gw_admin *a = c->a;
	struct gw_buf b = { .max = MAX_OUT };
	gw_metrics_render(&b);
	const struct snapshot *sn = &a->snap;
	if (sn->ok) {
		const struct dc_queue_stats *st = &sn->st;
		uint64_t held = st->presence + st->pickup;
		uint64_t busy = st->leased + held + st->due;
		uint64_t waiting = st->queued > busy ? st->queued - busy : 0;
		gw_buf_printf(&b, "# HELP didcomm_gateway_queue_items Items in the queue by state (due: to be sent now; "
		                  "waiting: for a retry or a delay; leased: being delivered; held: for a device's presence "
		                  "or for pickup; dead: dead letters).\n# TYPE didcomm_gateway_queue_items gauge\n");
		const char *names[] = { "due", "waiting", "leased", "held", "dead" };
		uint64_t v[] = { st->due, waiting, st->leased, held, st->dead };
		for (size_t i = 0; i < 5; i++)
			gw_buf_printf(&b, "didcomm_gateway_queue_items{state=\"%s\"} %llu\n", names[i], (unsigned long long)v[i]);
		gauge(&b, "didcomm_gateway_queue_bytes", "Bytes of the envelopes in the queue (dead letters left out).", NULL,
		      (double)st->bytes);
		gauge(&b, "didcomm_gateway_queue_oldest_due_age_seconds",
		      "How long the item due the longest has waited for its delivery to start (0: none due).", NULL,
		      st->oldest_due_ms ? (double)(sn->at_ms - st->oldest_due_ms) / 1000.0 : 0);
		gauge(&b, "didcomm_gateway_queue_oldest_item_age_seconds",
		      "Age of the oldest item in the queue, whatever its state (0: empty).", NULL,
		      st->oldest_created_ms ? (double)(sn->at_ms - st->oldest_created_ms) / 1000.0 : 0);
	}
	char why[600];
	not_ready(a, why, sizeof why);
	gauge(&b, "didcomm_gateway_ready", "1 when /readyz says ready.", NULL, why[0] ? 0 : 1);
	gw_buf_printf(&b, "# HELP didcomm_gateway_adapter_up Adapters configured and started (1), by name.\n"
	                  "# TYPE didcomm_gateway_adapter_up gauge\n");
	for (size_t i = 0; i < GW_MAX_ADAPTERS && gw_adapters[i]; i++)
		if (a->s->adapter_on[i])
			gw_buf_printf(&b, "didcomm_gateway_adapter_up{adapter=\"%s\"} %d\n", gw_adapters[i]->name,
			              a->started && !gw_loop_draining(a->loop) ? 1 : 0);
	gauge(&b, "didcomm_gateway_start_time_seconds", "When the gateway started (Unix time).", NULL,
	      (double)a->start_ms / 1000.0);
	gw_buf_printf(&b, "# HELP didcomm_gateway_admin_refused_connections_total Admin connections closed at once "
	                  "(over max_connections).\n# TYPE didcomm_gateway_admin_refused_connections_total counter\n"
	                  "didcomm_gateway_admin_refused_connections_total %llu\n",
	              (unsigned long long)a->refused_conns);
	if (b.full)
		respond_text(c, 503, NULL, "metrics: too big or out of memory\n");
	else
		respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, b.p, b.len);
	gw_buf_free(&b);
}

static void serve_ready(struct conn *c)
{
	char why[600], body[640];
	not_ready(c->a, why, sizeof why);
	if (!why[0]) {
		respond_text(c, 200, NULL, "ready\n");
		return;
	}
	snprintf(body, sizeof body, "not ready: %s\n", why);
	respond_text(c, 503, NULL, body);
}

/* HTML text: what it says, never markup */
static void esc(struct gw_buf *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': gw_buf_put(b, "&amp;", 5); break;
		case '<': gw_buf_put(b, "&lt;", 4); break;
		case '>': gw_buf_put(b, "&gt;", 4); break;
		case '"': gw_buf_put(b, "&quot;", 6); break;
		case '\'': gw_buf_put(b, "&#39;", 5); break;
		default:
			if ((unsigned char)*s < 0x20 || *s == 0x7f)
				gw_buf_put(b, " ", 1);
			else
				gw_buf_put(b, s, 1);
		}
	}
}

/* how long since ms: "42s", "5m", "3h", "2d" */
static void age(struct gw_buf *b, int64_t ms, int64_t now)
{
	int64_t s = (now - ms) / 1000;
	if (s < 0)
		s = 0;
	if (s < 120)
		gw_buf_printf(b, "%llds", (long long)s);
	else if (s < 7200)
		gw_buf_printf(b, "%lldm", (long long)(s / 60));
	else if (s < 172800)
		gw_buf_printf(b, "%lldh", (long long)(s / 3600));
	else
		gw_buf_printf(b, "%lldd", (long long)(s / 86400));
}

static void when(struct gw_buf *b, int64_t ms, int64_t now)
{
	if (!ms) {
		gw_buf_printf(b, "never");
		return;
	}
	age(b, ms, now);
	gw_buf_printf(b, " ago");
}

static const char css[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1b1f24;background:#f6f7f9}"
	"h1{font-size:1.3em;margin:0 0 .2em}h2{font-size:1.05em;margin:1.4em 0 .4em}"
	"table{border-collapse:collapse;background:#fff;min-width:40%}"
	"th,td{border:1px solid #d6dae0;padding:.3em .6em;text-align:left;vertical-align:top}"
	"th{background:#eceff3}td.n{text-align:right;font-variant-numeric:tabular-nums}"
	"code{font:12px ui-monospace,monospace;word-break:break-all}"
	".ok{color:#116329;font-weight:600}.bad{color:#b3261e;font-weight:600}.idle{color:#6b7280}"
	".box{background:#fff;border:1px solid #d6dae0;padding:.6em .8em;max-width:70em}"
	"footer{margin-top:2em;color:#6b7280;font-size:12px}";

/* the out-of-band invitation to request mediation (as `invite` prints it), its URL as text and
 * as a QR code drawn in inline SVG (one path; no script, nothing fetched) */
static void invitation(struct gw_buf *b, const struct gw_state *s)
{
	char *inv = NULL, *url = NULL;
	if (!s->n_endpoints || !s->did || dc_oob_invitation(s->did, "request-mediate", "Request mediation from this gateway", &inv) ||
	    dc_oob_url(s->endpoints[0], inv, &url)) {
		free(inv);
		return;
	}
	gw_buf_printf(b, "<h2>Invitation</h2>\n<div class=\"box\"><code id=\"invitation\">");
	esc(b, url);
	gw_buf_printf(b, "</code>");
	QRcode *qr = QRcode_encodeString(url, 0, QR_ECLEVEL_L, QR_MODE_8, 1);
	if (qr) {
		int w = qr->width, q = 4;
		gw_buf_printf(b, "<br><svg id=\"qr\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" "
		                 "height=\"%d\" shape-rendering=\"crispEdges\"><rect width=\"100%%\" height=\"100%%\" "
		                 "fill=\"#fff\"/><path fill=\"#000\" d=\"",
		              w + 2 * q, w + 2 * q, (w + 2 * q) * 4, (w + 2 * q) * 4);
		for (int y = 0; y < w; y++)
			for (int x = 0; x < w; x++)
				if (qr->data[y * w + x] & 1)
					gw_buf_printf(b, "M%d %dh1v1h-1z", x + q, y + q);
		gw_buf_printf(b, "\"/></svg>");
		QRcode_free(qr);
	}
	gw_buf_printf(b, "</div>\n");
	free(inv);
	free(url);
}

static void serve_status(struct conn *c)
{
	struct gw_admin *a = c->a;
	const struct gw_state *s = a->s;
	const struct snapshot *sn = &a->snap;
	int64_t now = wall_ms();
	struct gw_buf b = { .max = MAX_OUT };
	char why[600];
	not_ready(a, why, sizeof why);
	gw_buf_printf(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	                  "<meta http-equiv=\"refresh\" content=\"5\">"
	                  "<meta name=\"viewport\" content=\"width=device-width\">"
	                  "<title>didcomm-gateway</title><style>%s</style></head><body>\n",
	              css);
	gw_buf_printf(&b, "<h1>didcomm-gateway %s</h1>\n<p>", gw_version());
	if (why[0]) {
		gw_buf_printf(&b, "<span class=\"bad\">not ready</span>: ");
		esc(&b, why);
	} else {
		gw_buf_printf(&b, "<span class=\"ok\">ready</span>");
	}
	gw_buf_printf(&b, " &middot; up ");
	age(&b, a->start_ms, now);
	gw_buf_printf(&b, "</p>\n<h2>Identity</h2>\n<div class=\"box\"><code id=\"did\">");
	esc(&b, s->did);
	gw_buf_printf(&b, "</code></div>\n");
	invitation(&b, s);
	gw_buf_printf(&b, "<h2>Configuration</h2>\n<table>\n<tr><th>configuration</th><td><code>");
	esc(&b, s->conf.name ? s->conf.name : "(built-in)");
	gw_buf_printf(&b, "</code></td></tr>\n<tr><th>rules</th><td><code id=\"rules\">");
	esc(&b, s->conf.rules && s->conf.rules[0] ? s->conf.rules : "(built-in rules)");
	gw_buf_printf(&b, "</code></td></tr>\n<tr><th>state</th><td><code>");
	esc(&b, s->conf.state_dir);
	gw_buf_printf(&b, "</code></td></tr>\n<tr><th>listening</th><td><code>");
	esc(&b, a->listening[0] ? a->listening : "-");
	gw_buf_printf(&b, "</code></td></tr>\n</table>\n");

	/* adapters */
	gw_buf_printf(&b, "<h2>Adapters</h2>\n<table id=\"adapters\">\n<tr><th>adapter</th><th>state</th><th>in</th>"
	                  "<th>delivered</th><th>retries</th><th>failed</th><th>last delivery</th><th>last failure</th>"
	                  "<th>connections</th></tr>\n");
	for (size_t i = 0; i < GW_MAX_ADAPTERS && gw_adapters[i]; i++) {
		if (!s->adapter_on[i])
			continue;
		struct gw_metrics_adapter m;
		gw_metrics_adapter(gw_adapters[i]->name, &m);
		const char *state = !a->started ? "starting" : gw_loop_draining(a->loop) ? "stopping" :
		                   m.last_fail_ms > m.last_sent_ms ? "failing" : m.last_sent_ms ? "delivering" : "up";
		const char *cls = strcmp(state, "failing") == 0 || strcmp(state, "stopping") == 0 ? "bad" :
		                  strcmp(state, "up") == 0 || strcmp(state, "starting") == 0 ? "idle" : "ok";
		gw_buf_printf(&b, "<tr><td>%s</td><td class=\"%s\">%s</td><td class=\"n\">%llu</td><td class=\"n\">%llu</td>"
		                  "<td class=\"n\">%llu</td><td class=\"n\">%llu</td><td>",
		              gw_adapters[i]->name, cls, state, (unsigned long long)m.in, (unsigned long long)m.sent,
		              (unsigned long long)m.retry, (unsigned long long)m.failed);
		when(&b, m.last_sent_ms, now);
		gw_buf_printf(&b, "</td><td>");
		if (m.last_fail_ms) {
			when(&b, m.last_fail_ms, now);
			gw_buf_printf(&b, ": ");
			esc(&b, m.last_error);
		} else {
			gw_buf_printf(&b, "never");
		}
		gw_buf_printf(&b, "</td><td>");
		/* what the adapter said of its connections (gw_host.conn_state) */
		struct gw_metrics_conn cs[16];
		size_t nc = gw_metrics_conns(gw_adapters[i]->name, cs, 16);
		for (size_t k = 0; k < nc; k++) {
			static const char *const names[] = { "down", "up", "connecting" };
			static const char *const cl[] = { "bad", "ok", "idle" };
			gw_buf_printf(&b, "%s<code>", k ? "<br>" : "");
			esc(&b, cs[k].target);
			gw_buf_printf(&b, "</code> <span class=\"%s conn\" data-target=\"", cl[cs[k].st]);
			esc(&b, cs[k].target);
			gw_buf_printf(&b, "\">%s</span> for ", names[cs[k].st]);
			age(&b, cs[k].since_ms, now);
			if (cs[k].why[0]) {
				gw_buf_printf(&b, ": ");
				esc(&b, cs[k].why);
			}
		}
		if (!nc)
			gw_buf_printf(&b, "-");
		gw_buf_printf(&b, "</td></tr>\n");
	}
	gw_buf_printf(&b, "</table>\n");

	/* queue */
	gw_buf_printf(&b, "<h2>Queue</h2>\n");
	if (!sn->ok) {
		gw_buf_printf(&b, "<p class=\"bad\">");
		esc(&b, sn->err);
		gw_buf_printf(&b, "</p>\n");
	} else {
		const struct dc_queue_stats *st = &sn->st;
		uint64_t held = st->presence + st->pickup, busy = st->leased + held + st->due;
		double rin, rsent;
		rates(a, &rin, &rsent);
		gw_buf_printf(&b,
		              "<table id=\"queue\">\n<tr><th>due</th><th>waiting</th><th>leased</th><th>held</th><th>dead</th>"
		              "<th>bytes</th><th>oldest</th><th>in /s</th><th>delivered /s</th></tr>\n"
		              "<tr><td class=\"n\">%llu</td><td class=\"n\">%llu</td><td class=\"n\">%llu</td>"
		              "<td class=\"n\">%llu</td><td class=\"n\">%llu</td><td class=\"n\">%llu</td><td>",
		              (unsigned long long)st->due, (unsigned long long)(st->queued > busy ? st->queued - busy : 0),
		              (unsigned long long)st->leased, (unsigned long long)held, (unsigned long long)st->dead,
		              (unsigned long long)st->bytes);
		if (st->oldest_created_ms)
			when(&b, st->oldest_created_ms, sn->at_ms);
		else
			gw_buf_printf(&b, "-");
		gw_buf_printf(&b, "</td><td class=\"n\">%.1f</td><td class=\"n\">%.1f</td></tr>\n</table>\n", rin, rsent);
		gw_buf_printf(&b, "<h2>Last dead letters</h2>\n");
		if (!sn->n_dead) {
			gw_buf_printf(&b, "<p class=\"idle\">none</p>\n");
		} else {
			gw_buf_printf(&b, "<table id=\"dead\">\n<tr><th>item</th><th>died</th><th>attempts</th><th>to</th>"
			                  "<th>message</th><th>reason</th></tr>\n");
			for (size_t i = 0; i < sn->n_dead; i++) {
				const struct dead_row *r = &sn->dead[i];
				gw_buf_printf(&b, "<tr><td class=\"n\">%lld</td><td>", (long long)r->id);
				when(&b, r->died_ms, now);
				gw_buf_printf(&b, "</td><td class=\"n\">%u</td><td><code>", r->attempts);
				esc(&b, r->dest);
				gw_buf_printf(&b, "</code></td><td><code>");
				esc(&b, r->msg_id);
				gw_buf_printf(&b, "</code></td><td>");
				esc(&b, r->reason);
				gw_buf_printf(&b, "</td></tr>\n");
			}
			gw_buf_printf(&b, "</table>\n");
		}
	}
	gw_buf_printf(&b, "<footer>Refreshes every 5 s. Also: <code>/metrics</code> (Prometheus), <code>/healthz</code>, "
	                  "<code>/readyz</code>.</footer>\n</body></html>\n");
	if (b.full)
		respond_text(c, 503, NULL, "status: too big or out of memory\n");
	else
		respond(c, 200, "text/html; charset=utf-8", NULL, b.p, b.len);
	gw_buf_free(&b);
}

static void serve(struct conn *c)
{
	switch (c->route) {
	case R_METRICS: serve_metrics(c); break;
	case R_READY: serve_ready(c); break;
	case R_STATUS: serve_status(c); break;
	case R_NONE: conn_close(c); break;
	}
}

static void snap_ready(void *arg)
{
	struct gw_admin *a = arg;
	if (a->stopped)
		return;
	a->refreshing = false;
	a->snap_mono_us = gw_metrics_now_us();
	pthread_mutex_lock(&a->mu); /* the reader wrote it under mu: this sees all of it */
	pthread_mutex_unlock(&a->mu);
	for (struct conn *c = a->conns, *n; c; c = n) {
		n = c->next; /* serving may close it */
		if (c->st == C_WAITING)
			serve(c);
	}
}

/* the value of header name in the head (NUL-terminated lines), or NULL */
static const char *header(const char *head, const char *end, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = head; p < end; p += strlen(p) + 1)
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			return v;
		}
	return NULL;
}

static bool authorised(struct gw_admin *a, const char *auth)
{
	if (!a->has_token)
		return true;
	if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
		return false;
	const char *t = auth + 7;
	while (*t == ' ')
		t++;
	size_t n = strcspn(t, " \t");
	unsigned char h[crypto_generichash_BYTES];
	crypto_generichash(h, sizeof h, (const unsigned char *)t, n, NULL, 0);
	return sodium_memcmp(h, a->token_hash, sizeof h) == 0;
}

/* a whole request head is in c->in (ending at end): answer it */
static void handle(struct conn *c, size_t head_len)
{
	struct gw_admin *a = c->a;
	char *h = c->in;
	if (memchr(h, 0, head_len)) { /* no NUL in a request head */
		respond_text(c, 400, NULL, "bad request\n");
		return;
	}
	/* lines NUL-terminated in place (CR too) */
	for (size_t i = 0; i < head_len; i++)
		if (h[i] == '\r' || h[i] == '\n')
			h[i] = 0;
	char *sp1 = strchr(h, ' ');
	char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || strchr(sp2 + 1, ' ')) {
		respond_text(c, 400, NULL, "bad request: want METHOD /path HTTP/1.1\n");
		return;
	}
	*sp1 = *sp2 = 0;
	const char *method = h, *target = sp1 + 1;
	if (strcmp(method, "HEAD") == 0)
		c->head_only = true;
	else if (strcmp(method, "GET") != 0) {
		respond_text(c, 405, "Allow: GET, HEAD\r\n", "only GET and HEAD here\n");
		return;
	}
	size_t plen = strcspn(target, "?#");
	char path[64];
	if (plen >= sizeof path) {
		respond_text(c, 404, NULL, "not found\n");
		return;
	}
	memcpy(path, target, plen);
	path[plen] = 0;
	if (strcmp(path, "/healthz") == 0) {
		respond_text(c, 200, NULL, "ok\n");
		return;
	}
	enum route r = strcmp(path, "/metrics") == 0 ? R_METRICS :
	               strcmp(path, "/readyz") == 0  ? R_READY :
	               strcmp(path, "/") == 0        ? R_STATUS :
	                                               R_NONE;
	if (r == R_NONE) {
		respond_text(c, 404, NULL, "not found: try /, /metrics, /healthz or /readyz\n");
		return;
	}
	const char *end = h + head_len;
	if (!authorised(a, header(h + strlen(h) + 1 < end ? h + strlen(h) + 1 : end, end, "Authorization"))) {
		respond_text(c, 401, "WWW-Authenticate: Bearer realm=\"didcomm-gateway\"\r\n", "a bearer token is needed\n");
		return;
	}
	c->route = r;
	c->st = C_WAITING;
	gw_loop_watch_set(c->w, 0);
	/* the queue's numbers at most once a second, however often the listener is asked: its
	 * queries wait for the committer's transactions, and delay them too */
	if (!a->refreshing && a->snap_mono_us && gw_metrics_now_us() - a->snap_mono_us < SNAP_FRESH_MS * 1000)
		serve(c);
	else
		ask_snapshot(a);
}

/* the end of the head (after its blank line), or 0 */
static size_t head_end(const char *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i++) {
		if (p[i] == '\n' && p[i + 1] == '\n')
			return i + 2;
		if (i + 3 < n && p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n')
			return i + 4;
	}
	return 0;
}

static void on_conn(void *arg, int fd, unsigned events)
{
	struct conn *c = arg;
	(void)fd;
	if (c->st == C_WRITING) {
		if (events & GW_FD_WRITE)
			try_write(c);
		return;
	}
	if (c->st == C_LINGER) {
		linger(c);
		return;
	}
	if (c->st != C_READING)
		return;
	for (;;) {
		if (c->in_len == sizeof c->in) {
			respond_text(c, 431, NULL, "request head too large\n");
			return;
		}
		ssize_t n = recv(c->fd, c->in + c->in_len, sizeof c->in - c->in_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			conn_close(c); /* gone, or an error: nobody to answer */
			return;
		}
		size_t from = c->in_len > 3 ? c->in_len - 3 : 0;
		c->in_len += (size_t)n;
		size_t e = head_end(c->in + from, c->in_len - from);
		if (e) {
			handle(c, from + e);
			return;
		}
	}
}

static void on_accept(void *arg, int fd, unsigned events)
{
	struct gw_admin *a = arg;
	(void)events;
	for (int i = 0; i < 64; i++) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
				gw_log(GW_LOG_WARN, "admin", "accept: %s", strerror(errno));
			return;
		}
		struct conn *c = a->n_conns < a->max_conns && !a->stopped ? calloc(1, sizeof *c) : NULL;
		if (!c) {
			a->refused_conns++;
			close(cfd);
			continue;
		}
		c->a = a;
		c->fd = cfd;
		if (gw_loop_watch(a->loop, cfd, GW_FD_READ, on_conn, c, &c->w) != DC_OK ||
		    gw_loop_timer(a->loop, ADMIN_DEADLINE_MS, 0, on_deadline, c, &c->deadline) != DC_OK) {
			gw_loop_watch_close(c->w);
			close(cfd);
			free(c);
			continue;
		}
		c->next = a->conns;
		if (a->conns)
			a->conns->prev = c;
		a->conns = c;
		a->n_conns++;
	}
}

/* ---- life ---------------------------------------------------------------------------------- */
/* [admin]: listen and token_file; a->has_token and the token's hash when a is not NULL */
static dc_err check_conf(const struct gw_conf *cf, struct gw_admin *a, char *host, size_t n, int *port,
                         struct dc_errinfo *ei)
{
	if (!cf->admin_listen || !split_hostport(cf->admin_listen, host, n, port))
		return dc_errinfo_set(ei, DC_ERR_INVAL, "[admin] listen %.100s: want host:port", cf->admin_listen);
	struct gw_admin probe;
	memset(&probe, 0, sizeof probe);
	if (!a)
		a = &probe;
	dc_err rc = DC_OK;
	if (cf->admin_token_file && cf->admin_token_file[0] && (rc = read_token(a, cf->admin_token_file, ei)))
		return rc;
	sodium_memzero(probe.token_hash, sizeof probe.token_hash);
	if (!a->has_token && !gw_admin_is_loopback(host))
		return dc_errinfo_set(ei, DC_ERR_DENIED,
		                      "[admin] listen %.100s: not a loopback address, and no token_file: refusing to show "
		                      "the gateway's state to the network without a token",
		                      cf->admin_listen);
	return DC_OK;
}

dc_err gw_admin_check(const struct gw_conf *cf, struct dc_errinfo *ei)
{
	char host[300];
	int port;
	return cf->admin_on ? check_conf(cf, NULL, host, sizeof host, &port, ei) : DC_OK;
}

dc_err gw_admin_new(struct gw_state *s, struct gw_loop *loop, struct gw_admin **out, struct dc_errinfo *ei)
{
	*out = NULL;
	const struct gw_conf *cf = &s->conf;
	char host[300];
	int port = 0;
	struct gw_admin *a = calloc(1, sizeof *a);
	if (!a)
		return DC_ERR_NOMEM;
	a->s = s;
	a->loop = loop;
	a->lfd = -1;
	a->max_conns = cf->admin_max_conns ? cf->admin_max_conns : 16;
	a->start_ms = wall_ms();
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	snprintf(a->snap.err, sizeof a->snap.err, "not looked at yet");
	dc_err rc = check_conf(cf, a, host, sizeof host, &port, ei);
	if (rc)
		goto fail;
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	socklen_t sl;
	const char *h = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, h, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		sl = sizeof *s4;
	} else if (inet_pton(AF_INET6, h, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		sl = sizeof *s6;
	} else {
		rc = dc_errinfo_set(ei, DC_ERR_INVAL, "[admin] listen %.100s: want an IP address (or localhost) and a port",
		                    cf->admin_listen);
		goto fail;
	}
	a->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (a->lfd < 0 || setsockopt(a->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    (ss.ss_family == AF_INET6 && setsockopt(a->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
	    bind(a->lfd, (struct sockaddr *)&ss, sl) != 0 || listen(a->lfd, 64) != 0) {
		rc = dc_errinfo_set(ei, DC_ERR_IO, "[admin] cannot listen on %.100s: %s", cf->admin_listen, strerror(errno));
		goto fail;
	}
	sl = sizeof ss;
	if (getsockname(a->lfd, (struct sockaddr *)&ss, &sl) == 0)
		port = ntohs(ss.ss_family == AF_INET ? s4->sin_port : s6->sin6_port);
	snprintf(a->addr, sizeof a->addr, ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", h, port);
	if ((rc = gw_loop_watch(loop, a->lfd, GW_FD_READ, on_accept, a, &a->lw)) ||
	    (rc = gw_loop_timer(loop, 0, RATE_EVERY_MS, rate_sample, a, &a->rate_timer))) {
		dc_errinfo_set(ei, rc, "[admin] cannot watch the listener");
		goto fail;
	}
	if (pthread_create(&a->th, NULL, reader, a) != 0) {
		rc = dc_errinfo_set(ei, DC_ERR_NOMEM, "[admin] cannot start a thread");
		goto fail;
	}
	a->th_started = true;
	*out = a;
	return DC_OK;
fail:
	gw_admin_stop(a);
	gw_admin_free(a);
	return rc ? rc : DC_ERR_IO;
}

const char *gw_admin_addr(const struct gw_admin *a)
{
	return a->addr;
}

void gw_admin_set_started(struct gw_admin *a, const char *listening)
{
	if (!a)
		return;
	a->started = true;
	snprintf(a->listening, sizeof a->listening, "%s", listening ? listening : "");
}

void gw_admin_stop(struct gw_admin *a)
{
	if (!a || a->stopped)
		return;
	a->stopped = true;
	while (a->conns)
		conn_close(a->conns);
	gw_loop_watch_close(a->lw);
	a->lw = NULL;
	gw_loop_timer_stop(a->rate_timer);
	a->rate_timer = NULL;
	if (a->lfd >= 0)
		close(a->lfd);
	a->lfd = -1;
	if (a->th_started) {
		pthread_mutex_lock(&a->mu);
		a->stop = true;
		pthread_cond_signal(&a->cv);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->th, NULL);
		a->th_started = false;
	}
}

void gw_admin_free(struct gw_admin *a)
{
	if (!a)
		return;
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	sodium_memzero(a->token_hash, sizeof a->token_hash);
	free(a);
}
