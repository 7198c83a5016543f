/* The relay daemon. Threads:
 *   main        the event loop (gateway/loop.c): the shared listener (HTTP and WebSocket on
 *               one port), live outbound WebSocket connections, adapters' fd watches and
 *               timers, acknowledgements, signals
 *   pool        open envelopes, apply the rules; one committer commits (gateway/pool.c)
 *   dispatcher  records outcomes, claims due items and starts their deliveries (dispatcher.c)
 *   adapters    their own helpers (the HTTP client's curl thread, the WebSocket resolver)
 * so crypto and SQLite commits never stall the loop for other connections. Adapters reach the
 * gateway only through their host (host.c): an adapter whose [section] is absent is off.
 *
 * SIGTERM/SIGINT: stop accepting (503 / a problem report), let the pool finish and answer
 * what it holds, let deliveries in flight complete, exit 0. SIGHUP: reload the rules; a
 * file with errors is refused and the old rules stay. */
#include "daemon.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "adapter.h"
#include "admin.h"
#include "dispatcher.h"
#include "host.h"
#include "log.h"
#include "mediator.h"
#include "loop.h"
#include "netpolicy.h"
#include "notify.h"
#include "pool.h"

#define DRAIN_LIMIT_S 60 /* give up waiting for in-flight work after this (leases bring it back) */

static volatile sig_atomic_t stop_flag, reload_flag;
static struct gw_loop *sig_loop;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		reload_flag = 1;
	else
		stop_flag = 1;
	gw_loop_wake(sig_loop); /* async-signal-safe: uv_async_send */
}

static void wake_loop(void)
{
	gw_loop_wake(sig_loop);
}

static void reload_rules(struct gw_state *s, struct gw_pool *pool)
{
	const char *path = s->conf.rules;
	if (!path[0]) {
		gw_log(GW_LOG_INFO, "rules", "SIGHUP: built-in rules, nothing to reload");
		return;
	}
	struct rule_set *rs = NULL;
	struct rule_diag *d = NULL;
	size_t nd = 0;
	dc_err rc = rule_set_parse_file(path, &rs, &d, &nd);
	for (size_t i = 0; i < nd; i++)
		gw_log(d[i].sev == RULE_ERROR ? GW_LOG_ERROR : GW_LOG_WARN, "rules", "%s:%u:%u: %s", path, d[i].line,
		       d[i].col, d[i].msg);
	free(d);
	if (rc) {
		gw_log(GW_LOG_ERROR, "rules", "SIGHUP: %s has errors; keeping the rules in force", path);
		return;
	}
	size_t n = rule_set_count(rs);
	gw_pool_set_rules(pool, rs);
	gw_log(GW_LOG_INFO, "rules", "SIGHUP: reloaded %s (%zu rules)", path, n);
}

/* keep serving the loop until done() or the limit; false on timeout */
static bool serve_until(struct gw_loop *l, bool (*done)(void *), void *arg, int limit_s)
{
	time_t until = time(NULL) + limit_s;
	while (!done(arg)) {
		if (time(NULL) > until)
			return false;
		gw_loop_service(l);
	}
	return true;
}

static bool pool_idle(void *arg)
{
	return gw_pool_pending(arg) == 0;
}

static bool dispatcher_idle(void *arg)
{
	return gw_dispatcher_idle(arg);
}

/* as many descriptors as the hard limit allows: the listener's own limits come first */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* the outbound policy from [outbound] */
static int policy_new(const struct gw_conf *c, struct gw_netpolicy **out)
{
	struct dc_errinfo ei = { 0 };
	if (gw_netpolicy_new(out))
		return -1;
	for (size_t i = 0; i < c->outbound_allow.n; i++)
		if (gw_netpolicy_allow(*out, c->outbound_allow.v[i].v, &ei)) {
			gw_log(GW_LOG_ERROR, "gateway", "%s:%u: %s", c->name ? c->name : "config", c->outbound_allow.v[i].line,
			       ei.msg);
			return -1;
		}
	return 0;
}

/* live delivery (mediator.h): a message for an inbound connection of the named adapter */
struct live_push {
	struct gw_adapter **ads;
	size_t n;
};

static dc_err live_push(void *arg, const char *transport, uint64_t conn, const uint8_t *data, size_t len,
                        gw_send_done_fn *done, void *done_arg)
{
	struct live_push *lp = arg;
	for (size_t i = 0; i < lp->n; i++)
		if (lp->ads[i] && gw_adapters[i]->push && strcmp(gw_adapters[i]->name, transport) == 0)
			return gw_adapters[i]->push(lp->ads[i], conn, data, len, done, done_arg);
	return DC_ERR_NOT_FOUND;
}

int gw_daemon_run(struct gw_state *s)
{
	gw_log_set_level(s->conf.log_level);
	gw_log_set_format(s->conf.log_format);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	struct dc_errinfo ei = { 0 };
	int ret = 1;
	struct gw_loop *loop = NULL;
	struct gw_pool *pool = NULL;
	struct gw_dispatcher *disp = NULL;
	struct gw_netpolicy *np = NULL;
	struct gw_admin *admin = NULL;
	struct gw_notify *notify = NULL;
	char listening[400] = "";
	struct gw_adapter *ads[GW_MAX_ADAPTERS] = { 0 };
	struct gw_hostimpl hosts[GW_MAX_ADAPTERS];
	struct gw_limits lim;
	size_t n_ads = 0, n_on = 0;
	bool started[GW_MAX_ADAPTERS] = { 0 };
	bool watching = false; /* the queue's listener wakes the dispatcher */
	while (gw_adapters[n_ads] && n_ads < GW_MAX_ADAPTERS)
		n_ads++;
	gw_conf_limits(&s->conf, &lim);
	if (policy_new(&s->conf, &np))
		goto out;

	/* the adapters whose sections are there: validated before anything runs */
	for (size_t i = 0; i < n_ads; i++) {
		if (!s->conf.ad_conf[i])
			continue;
		if (gw_adapters[i]->create(s->conf.ad_conf[i], &lim, &ads[i], &ei)) {
			gw_log(GW_LOG_ERROR, "gateway", "%s:%u: [%s]: %s", s->conf.name ? s->conf.name : "config",
			       s->conf.ad_line[i], gw_adapters[i]->name, ei.msg[0] ? ei.msg : "cannot create the adapter");
			goto out;
		}
		n_on++;
	}
	if (!n_on) {
		gw_log(GW_LOG_ERROR, "gateway", "no adapter configured: add an [http] section (or another adapter's)");
		goto out;
	}
	if (gw_loop_new(ads, &loop, &ei)) {
		gw_log(GW_LOG_ERROR, "gateway", "%s", ei.msg);
		goto out;
	}
	/* the admin listener first: a bad [admin] stops the start before anything listens */
	if (s->conf.admin_on) {
		if (gw_admin_new(s, loop, &admin, &ei)) {
			gw_log(GW_LOG_ERROR, "admin", "%s", ei.msg);
			goto out;
		}
		gw_log(GW_LOG_INFO, "admin", "listening on %s (/, /metrics, /healthz, /readyz)", gw_admin_addr(admin));
	}
	for (size_t i = 0; i < n_ads; i++) {
		struct gw_listen ln;
		if (!ads[i] || !gw_adapters[i]->listen || !gw_adapters[i]->listen(s->conf.ad_conf[i], &ln))
			continue;
		int port = 0;
		if (gw_loop_listen(loop, &ln, &port, &ei)) {
			gw_log(GW_LOG_ERROR, gw_adapters[i]->name, "%s", ei.msg);
			goto out;
		}
		char host[300], self[320];
		if (gw_loop_listen_addr(loop, host, sizeof host, &port)) {
			snprintf(self, sizeof self, "%s:%d", host, port);
			if (gw_netpolicy_add_self_text(np, self, &ei)) /* never a delivery to ourselves */
				gw_log(GW_LOG_WARN, "gateway", "outbound policy: %s", ei.msg);
		}
		gw_log(GW_LOG_INFO, gw_adapters[i]->name, "listening on %s:%d", host, port);
		size_t ll = strlen(listening);
		snprintf(listening + ll, sizeof listening - ll, "%s%s %s:%d", ll ? ", " : "", gw_adapters[i]->name, host, port);
	}
	/* the mediator and its pusher, before the workers that read it (pushes to an adapter not
	 * started yet fail, and live mode ends for that client) */
	struct live_push lp = { .ads = ads, .n = n_ads };
	struct dc_limits dl;
	dc_ctx_get_limits(s->ctx, &dl);
	if (gw_med_new(s->q, s->did, s->conf.med_policy, s->conf.med_hold_ms, &s->med, &ei) ||
	    gw_med_start_live(s->med, s->ks, &dl, live_push, &lp, &ei)) {
		gw_log(GW_LOG_ERROR, "gateway", "%s: %s", s->conf.name ? s->conf.name : "config", ei.msg);
		goto out;
	}
	if (gw_dispatcher_new(s, &disp, &ei) || gw_pool_new(s, s->conf.workers, loop, disp, np, &pool, &ei)) {
		gw_log(GW_LOG_ERROR, "gateway", "%s", ei.msg[0] ? ei.msg : "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n_ads; i++) {
		if (!ads[i])
			continue;
		gw_host_init(&hosts[i], gw_adapters[i]->name, loop, pool, np, &lim, s->did);
		if (gw_adapters[i]->start(ads[i], &hosts[i].h, &ei)) {
			gw_log(GW_LOG_ERROR, gw_adapters[i]->name, "cannot start: %s", ei.msg);
			goto out;
		}
		started[i] = true;
	}
	sig_loop = loop;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	if (gw_dispatcher_start(disp, ads, wake_loop, &ei)) {
		gw_log(GW_LOG_ERROR, "gateway", "%s", ei.msg);
		goto out;
	}
	gw_dispatcher_wake(disp);
	/* a shared queue: other gateways' new work wakes this one's dispatcher at once */
	if (dc_queue_watch(s->q, gw_dispatcher_wake, disp, &ei) == DC_OK)
		watching = true;
	else if (strcmp(dc_queue_backend(s->q), "sqlite") != 0)
		gw_log(GW_LOG_WARN, "queue", "not listening for other gateways' work (polling instead): %s", ei.msg);
	gw_log(GW_LOG_INFO, "gateway", "identity %s (queue: %s)", s->did, dc_queue_backend(s->q));
	gw_admin_set_started(admin, listening);
	if (gw_notify_ready(loop, listening[0] ? listening : "running", &notify))
		gw_log(GW_LOG_WARN, "gateway", "systemd notification: out of memory");
	while (!stop_flag) {
		gw_loop_service(loop);
		if (reload_flag) {
			reload_flag = 0;
			reload_rules(s, pool);
		}
	}
	gw_log(GW_LOG_INFO, "gateway", "stopping: no new messages; finishing what is in hand");
	gw_notify_stopping(notify);
	gw_loop_set_draining(loop, true);
	if (!serve_until(loop, pool_idle, pool, DRAIN_LIMIT_S))
		gw_log(GW_LOG_WARN, "gateway", "%zu inbound messages still unanswered", gw_pool_pending(pool));
	gw_dispatcher_stop(disp);
	if (!serve_until(loop, dispatcher_idle, disp, DRAIN_LIMIT_S))
		gw_log(GW_LOG_WARN, "gateway", "deliveries still in flight; their leases bring them back");
	ret = 0;
out:
	for (size_t i = 0; i < n_ads; i++)
		if (started[i])
			gw_adapters[i]->stop(ads[i]);
	gw_admin_stop(admin); /* its reader joined: nothing of it is posted after this */
	gw_notify_free(notify);
	if (loop)
		gw_loop_run_posted(loop); /* sends posted to the loop complete (retry), acks are written off */
	gw_pool_free(pool);           /* joins the threads that could still offer to the dispatcher */
	gw_med_stop(s->med);          /* its pusher: after the pool (no more notifies), before the loop goes */
	if (watching)
		if (dc_queue_watch(s->q, NULL, NULL, NULL)) /* its listener joined: no wake after this */
			gw_log(GW_LOG_WARN, "queue", "stopping the listener failed");
	gw_dispatcher_free(disp);
	sig_loop = NULL;
	gw_loop_free(loop); /* closes the connections; adapters' callbacks still see their state */
	gw_admin_free(admin);
	for (size_t i = 0; i < n_ads; i++)
		if (ads[i])
			gw_adapters[i]->free(ads[i]);
	gw_med_free(s->med); /* after the connections: their unwritten pushes have completed */
	s->med = NULL;
	gw_netpolicy_free(np);
	curl_global_cleanup();
	gw_log(GW_LOG_INFO, "gateway", ret == 0 ? "stopped" : "not started");
	return ret;
}
