/* systemd readiness and watchdog (see notify.h). */
#include "notify.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>

#include "log.h"
#include "loop.h"
#include "metrics.h"

#define STATUS_EVERY_MS 10000

struct gw_notify {
	struct gw_timer *watchdog, *status;
};

static void ping(void *arg)
{
	(void)arg;
	sd_notify(0, "WATCHDOG=1");
}

static void status(void *arg)
{
	(void)arg;
	struct gw_metrics_totals t;
	gw_metrics_totals(&t);
	sd_notifyf(0, "STATUS=relaying: %llu in (%llu accepted), %llu delivered, %llu retries, %llu failed",
	           (unsigned long long)t.in, (unsigned long long)t.accepted, (unsigned long long)t.sent,
	           (unsigned long long)t.retried, (unsigned long long)t.failed);
}

dc_err gw_notify_ready(struct gw_loop *loop, const char *what, struct gw_notify **out)
{
	*out = NULL;
	if (!getenv("NOTIFY_SOCKET"))
		return DC_OK;
	struct gw_notify *n = calloc(1, sizeof *n);
	if (!n)
		return DC_ERR_NOMEM;
	uint64_t usec = 0;
	if (sd_watchdog_enabled(0, &usec) > 0 && usec) {
		uint64_t every = usec / 2000; /* ms: twice per period */
		if (gw_loop_timer(loop, 0, every ? every : 1, ping, NULL, &n->watchdog) != DC_OK)
			gw_log(GW_LOG_WARN, "gateway", "systemd watchdog: cannot start the timer");
	}
	if (gw_loop_timer(loop, STATUS_EVERY_MS, STATUS_EVERY_MS, status, NULL, &n->status) != DC_OK)
		n->status = NULL;
	int r = sd_notifyf(0, "READY=1\nSTATUS=%s", what ? what : "running");
	if (r < 0)
		gw_log(GW_LOG_WARN, "gateway", "cannot tell systemd it is ready (NOTIFY_SOCKET): error %d", -r);
	*out = n;
	return DC_OK;
}

void gw_notify_stopping(struct gw_notify *n)
{
	if (n)
		sd_notify(0, "STOPPING=1\nSTATUS=stopping: finishing what is in hand");
}

void gw_notify_free(struct gw_notify *n)
{
	if (!n)
		return;
	gw_loop_timer_stop(n->watchdog);
	gw_loop_timer_stop(n->status);
	free(n);
}
