/* The relay daemon: an HTTP listener (libwebsockets' own event loop, one thread) feeding
 * ingest, and a dispatcher thread with its own queue connection delivering what is due.
 * POST only, with Content-Length (411 otherwise: lws does not deliver chunked bodies), a
 * DIDComm media type (415), at most max_message_bytes (413); 202 only after the queue
 * commit, 503 when the queue is full. SIGTERM/SIGINT: stop accepting, let the dispatcher
 * finish the item in hand, exit 0. SIGHUP: reload the rules; a file with errors is refused
 * and the old rules stay. Crypto runs on the loop thread for now (see the closing note). */
#include "daemon.h"

#include <libwebsockets.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dispatch.h"
#include "ingest.h"

static volatile sig_atomic_t stop_flag, reload_flag;
static struct lws_context *lws_ctx;

void gw_log(const char *level, const char *ctx, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' '; /* one line per event, whatever the message says */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char t[32];
	strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %s %s: %s\n", t, ts.tv_nsec / 1000000, level, ctx, msg);
}

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_flag = 1;
	else
		stop_flag = 1;
	if (lws_ctx)
		lws_cancel_service(lws_ctx); /* async-signal-safe: writes to lws's wake pipe */
}

struct daemon {
	struct gw_state *s;
	struct gw_ingest_cfg g;
	pthread_t disp;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool wake;
};

static struct daemon D;

/* ---- HTTP ------------------------------------------------------------------------------ */
struct pss {
	char *body;
	size_t len, cap;
	char ct[128];
	int early;       /* a status decided before the body (411, 413, 415, 405): answered on completion */
};

static int respond(struct lws *wsi, int status, const char *text, bool close_after)
{
	unsigned char buf[LWS_PRE + 1024], *start = &buf[LWS_PRE], *p = start, *end = &buf[sizeof buf - 1];
	size_t n = strlen(text);
	if (n > 512)
		n = 512;
	if (lws_add_http_common_headers(wsi, (unsigned)status, "text/plain", (lws_filepos_t)(n + 1), &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	memcpy(start, text, n);
	start[n] = '\n';
	if (lws_write(wsi, start, n + 1, LWS_WRITE_HTTP_FINAL) != (int)(n + 1))
		return -1;
	if (close_after)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static void wake_dispatcher(void)
{
	pthread_mutex_lock(&D.mu);
	D.wake = true;
	pthread_cond_signal(&D.cv);
	pthread_mutex_unlock(&D.mu);
}

static int cb_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct pss *ps = user;
	switch (reason) {
	case LWS_CALLBACK_HTTP: {
		memset(ps, 0, sizeof *ps);
		if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) <= 0)
			return respond(wsi, 405, "POST DIDComm messages here", false);
		lws_hdr_copy(wsi, ps->ct, sizeof ps->ct, WSI_TOKEN_HTTP_CONTENT_TYPE);
		char cl[32] = "";
		if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
			return respond(wsi, 411, "Content-Length required", true);
		char *e = NULL;
		unsigned long long n = strtoull(cl, &e, 10);
		if (!e || *e || cl[0] < '0' || cl[0] > '9')
			return respond(wsi, 400, "bad Content-Length", true);
		if (n > D.g.max_bytes) {
			gw_log("info", "http", "413: %llu bytes over max_receive_bytes %zu", n, D.g.max_bytes);
			return respond(wsi, 413, "message too big", true);
		}
		if (!(ps->body = malloc((size_t)n + 1)))
			return respond(wsi, 503, "out of memory", true);
		ps->cap = (size_t)n;
		if (n == 0)
			goto complete; /* no body callbacks will come */
		return 0;
	}
	case LWS_CALLBACK_HTTP_BODY:
		if (!ps->body || len > ps->cap - ps->len)
			return -1; /* more than Content-Length announced: drop the connection */
		memcpy(ps->body + ps->len, in, len);
		ps->len += len;
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
	complete: {
		struct gw_ingest_result r;
		char peer[64] = "";
		lws_get_peer_simple(wsi, peer, sizeof peer);
		gw_ingest(&D.g, "http", peer, ps->ct[0] ? ps->ct : NULL, (const uint8_t *)ps->body, ps->len, &r);
		free(ps->body);
		ps->body = NULL;
		if (r.status == GW_IN_ACCEPTED && r.n_queued)
			wake_dispatcher();
		gw_log(r.status == GW_IN_ACCEPTED ? "info" : "warn", "http", "%d from %s: %s", (int)r.status, peer, r.why);
		char text[400];
		snprintf(text, sizeof text, "%s%s%s", r.why, r.problem_code[0] ? " " : "", r.problem_code);
		int ret = respond(wsi, (int)r.status, text, false);
		gw_ingest_result_clear(&r);
		return ret;
	}
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		if (ps) {
			free(ps->body);
			ps->body = NULL;
		}
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static const struct lws_protocols protocols[] = {
	{ "http", cb_http, sizeof(struct pss), 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

/* ---- dispatcher thread ------------------------------------------------------------------- */
static void *dispatcher(void *arg)
{
	(void)arg;
	char path[4200];
	snprintf(path, sizeof path, "%s/queue.db", D.s->conf.state_dir);
	struct dc_queue *q = NULL;
	struct dc_errinfo ei = { 0 };
	struct dc_queue_opts qo = { .retry_base_ms = D.s->conf.retry_base_ms, .retry_max_ms = D.s->conf.retry_max_ms,
		                    .max_age_ms = D.s->conf.max_age_ms, .sync_full = D.s->conf.queue_sync_full };
	if (dc_queue_open_sqlite(path, &qo, &q, &ei)) {
		gw_log("error", "dispatch", "%s", ei.msg);
		stop_flag = 1;
		lws_cancel_service(lws_ctx);
		return NULL;
	}
	while (!stop_flag) {
		struct gw_dispatch_stats st;
		if (gw_dispatch_once(q, 64, D.s->conf.per_dest_limit, (long)D.s->conf.http_timeout_ms, &st, &ei))
			gw_log("error", "dispatch", "%s", ei.msg);
		else if (st.sent || st.retried || st.failed)
			gw_log("info", "dispatch", "%zu sent, %zu to retry, %zu failed", st.sent, st.retried, st.failed);
		if (st.sent + st.retried + st.failed == 64)
			continue; /* more may be due right away */
		pthread_mutex_lock(&D.mu);
		if (!D.wake && !stop_flag) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += 200 * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&D.cv, &D.mu, &until);
		}
		D.wake = false;
		pthread_mutex_unlock(&D.mu);
	}
	dc_queue_close(q);
	return NULL;
}

static void reload_rules(void)
{
	const char *path = D.s->conf.rules;
	if (!path[0]) {
		gw_log("info", "rules", "SIGHUP: built-in rules, nothing to reload");
		return;
	}
	struct rule_set *rs = NULL;
	struct rule_diag *d = NULL;
	size_t nd = 0;
	dc_err rc = rule_set_parse_file(path, &rs, &d, &nd);
	for (size_t i = 0; i < nd; i++)
		gw_log(d[i].sev == RULE_ERROR ? "error" : "warn", "rules", "%s:%u:%u: %s", path, d[i].line, d[i].col,
		       d[i].msg);
	free(d);
	if (rc) {
		gw_log("error", "rules", "SIGHUP: %s has errors; keeping the rules in force", path);
		return;
	}
	rule_set_free(D.s->rules);
	D.s->rules = rs;
	D.g.rules = rs;
	gw_log("info", "rules", "SIGHUP: reloaded %s (%zu rules)", path, rule_set_count(rs));
}

int gw_daemon_run(struct gw_state *s)
{
	memset(&D, 0, sizeof D);
	D.s = s;
	gw_state_ingest_cfg(s, &D.g);
	pthread_mutex_init(&D.mu, NULL);
	pthread_cond_init(&D.cv, NULL);
	char host[300];
	snprintf(host, sizeof host, "%s", s->conf.http_listen);
	char *colon = strrchr(host, ':');
	*colon = 0;
	int port = (int)strtol(colon + 1, NULL, 10); /* validated as 0..65535 by the config table */
	lws_set_log_level(LLL_ERR, NULL);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = port;
	info.iface = host;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
	info.vhost_name = "didcomm-gateway";
	info.timeout_secs = 30;
	lws_ctx = lws_create_context(&info);
	if (!lws_ctx) {
		gw_log("error", "http", "cannot listen on %s", s->conf.http_listen);
		return 1;
	}
	struct lws_vhost *vh = lws_get_vhost_by_name(lws_ctx, "didcomm-gateway");
	gw_log("info", "gateway", "identity %s", s->did);
	gw_log("info", "http", "listening on %s:%d", host, vh ? lws_get_vhost_listen_port(vh) : port);
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (pthread_create(&D.disp, NULL, dispatcher, NULL) != 0) {
		gw_log("error", "dispatch", "cannot start the dispatcher thread");
		lws_context_destroy(lws_ctx);
		return 1;
	}
	while (!stop_flag) {
		if (lws_service(lws_ctx, 0) < 0)
			break;
		if (reload_flag) {
			reload_flag = 0;
			reload_rules();
		}
	}
	gw_log("info", "gateway", "stopping");
	stop_flag = 1;
	wake_dispatcher();
	pthread_join(D.disp, NULL);
	lws_context_destroy(lws_ctx);
	lws_ctx = NULL;
	pthread_cond_destroy(&D.cv);
	pthread_mutex_destroy(&D.mu);
	gw_log("info", "gateway", "stopped");
	return 0;
}
