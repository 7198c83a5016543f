/* The relay daemon. Threads:
 *   main        the event loop (gateway/loop.c): every listener socket (HTTP and WebSocket on
 *               one port), live outbound WebSocket connections, signals, acknowledgements
 *   workers     open envelopes, apply the rules, commit to the queue (gateway/workers.c)
 *   dispatcher  claims due items and starts their deliveries (gateway/dispatcher.c)
 *   adapters    their own helpers (the HTTP client's curl multi thread)
 * so crypto and SQLite commits never stall the loop for other connections.
 *
 * SIGTERM/SIGINT: stop accepting (503 / a problem report), let the workers finish and answer
 * what they hold, let deliveries in flight complete, exit 0. SIGHUP: reload the rules; a
 * file with errors is refused and the old rules stay. */
#include "daemon.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapter.h"
#include "dispatcher.h"
#include "loop.h"
#include "workers.h"

#define MAX_ADAPTERS 16
#define DRAIN_LIMIT_S 60 /* give up waiting for in-flight work after this (leases bring it back) */

/* ---- log ------------------------------------------------------------------------------- */
static int log_min = 1; /* 0 debug, 1 info, 2 warn, 3 error */

static int level_of(const char *level)
{
	if (!strcmp(level, "debug"))
		return 0;
	if (!strcmp(level, "info"))
		return 1;
	if (!strcmp(level, "warn"))
		return 2;
	return 3;
}

void gw_log_set_level(const char *level)
{
	log_min = level ? level_of(level) : 1;
}

void gw_log(const char *level, const char *ctx, const char *fmt, ...)
{
	if (level_of(level) < log_min)
		return;
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

/* ---- signals ------------------------------------------------------------------------------ */
static volatile sig_atomic_t stop_flag, reload_flag;
static struct gw_loop *sig_loop;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_flag = 1;
	else
		stop_flag = 1;
	gw_loop_wake(sig_loop); /* async-signal-safe: a write to lws's wake pipe */
}

/* the workers wake the dispatcher, which is created after them */
static struct gw_dispatcher *volatile the_dispatcher;
static void on_queued(void *arg, struct dc_queue_item *items, size_t n)
{
	(void)arg;
	struct gw_dispatcher *d = the_dispatcher;
	if (d && n)
		gw_dispatcher_offer(d, items, n);
	else if (d)
		gw_dispatcher_wake(d);
	else
		dc_queue_items_free(items, n); /* committed and leased: claimed once the lease runs out */
}

static void wake_loop(void)
{
	gw_loop_wake(sig_loop);
}

static void reload_rules(struct gw_state *s, struct gw_ingest *in)
{
	const char *path = s->conf.rules;
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
	size_t n = rule_set_count(rs);
	gw_ingest_set_rules(in, rs);
	gw_log("info", "rules", "SIGHUP: reloaded %s (%zu rules)", path, n);
}

/* keep serving the loop until done() or the limit; false on timeout */
static bool serve_until(struct gw_loop *l, bool (*done)(void *), void *arg, int limit_s)
{
	time_t until = time(NULL) + limit_s;
	while (!done(arg)) {
		if (time(NULL) > until)
			return false;
		if (gw_loop_service(l) < 0)
			return false;
	}
	return true;
}

static bool ingest_idle(void *arg)
{
	return gw_ingest_pending(arg) == 0;
}

static bool dispatcher_idle(void *arg)
{
	return gw_dispatcher_idle(arg);
}

int gw_daemon_run(struct gw_state *s)
{
	gw_log_set_level(s->conf.log_level);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	signal(SIGPIPE, SIG_IGN);
	char why[512] = "";
	int ret = 1;
	struct gw_loop *loop = NULL;
	struct gw_ingest *in = NULL;
	struct gw_dispatcher *disp = NULL;
	struct gw_adapter *ads[MAX_ADAPTERS] = { 0 };
	size_t n_ads = 0;
	while (gw_adapters[n_ads] && n_ads < MAX_ADAPTERS)
		n_ads++;

	if (gw_loop_new(&s->conf, NULL, &loop, why, sizeof why)) {
		gw_log("error", "gateway", "%s", why);
		goto out;
	}
	if (gw_ingest_new(s, s->conf.workers, loop, on_queued, NULL, &in, why, sizeof why)) {
		gw_log("error", "gateway", "%s", why);
		goto out;
	}
	gw_loop_set_ingest(loop, in);
	for (size_t i = 0; i < n_ads; i++) {
		const struct gw_adapter_ops *ops = gw_adapters[i];
		dc_err rc = ops->create(&s->conf, &ads[i]);
		if (rc == DC_OK)
			rc = ops->start(ads[i], loop, in);
		if (rc) {
			gw_log("error", ops->name, "cannot start the adapter: %s", dc_strerror(rc));
			goto out;
		}
	}
	sig_loop = loop;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (gw_dispatcher_start(s, ads, wake_loop, &disp, why, sizeof why)) {
		gw_log("error", "gateway", "%s", why);
		goto out;
	}
	the_dispatcher = disp;
	gw_dispatcher_wake(disp);
	gw_log("info", "gateway", "identity %s", s->did);
	if (s->conf.http_enabled)
		gw_log("info", "http", "listening on %.*s:%d%s", (int)(strrchr(s->conf.http_listen, ':') - s->conf.http_listen),
		       s->conf.http_listen, gw_loop_port(loop), s->conf.ws_enabled ? " (HTTP and WebSocket)" : "");
	while (!stop_flag) {
		if (gw_loop_service(loop) < 0) {
			gw_log("error", "gateway", "the event loop failed");
			break;
		}
		if (reload_flag) {
			reload_flag = 0;
			reload_rules(s, in);
		}
	}
	gw_log("info", "gateway", "stopping: no new messages; finishing what is in hand");
	gw_loop_set_draining(loop, true);
	if (!serve_until(loop, ingest_idle, in, DRAIN_LIMIT_S))
		gw_log("warn", "gateway", "%zu inbound messages still unanswered", gw_ingest_pending(in));
	gw_dispatcher_stop(disp);
	if (!serve_until(loop, dispatcher_idle, disp, DRAIN_LIMIT_S))
		gw_log("warn", "gateway", "deliveries still in flight; their leases bring them back");
	ret = 0;
out:
	for (size_t i = 0; i < n_ads; i++)
		if (ads[i])
			gw_adapters[i]->stop(ads[i]);
	if (loop)
		gw_loop_run_posted(loop); /* sends posted to the loop complete (retry), acks are written off */
	the_dispatcher = NULL; /* from here, what the committer still commits waits for its lease */
	gw_ingest_free(in);    /* joins the threads that could still offer to the dispatcher */
	gw_dispatcher_free(disp);
	sig_loop = NULL;
	gw_loop_free(loop); /* closes the connections; adapters' callbacks still see their state */
	for (size_t i = 0; i < n_ads; i++)
		if (ads[i])
			gw_adapters[i]->free(ads[i]);
	curl_global_cleanup();
	gw_log("info", "gateway", ret == 0 ? "stopped" : "not started");
	return ret;
}
