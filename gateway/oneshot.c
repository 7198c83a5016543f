/* One-shot deliveries (see oneshot.h). */
#include "oneshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host.h"
#include "log.h"
#include "loop.h"
#include "netpolicy.h"

struct gw_oneshot {
	struct gw_loop *loop;
	struct gw_netpolicy *np;
	struct gw_limits lim;
	struct gw_adapter *ads[GW_MAX_ADAPTERS];
	bool started[GW_MAX_ADAPTERS];
	struct gw_hostimpl hosts[GW_MAX_ADAPTERS];
};

dc_err gw_oneshot_new(const struct gw_conf *conf, const char *our_did, struct gw_oneshot **out, struct dc_errinfo *ei)
{
	*out = NULL;
	struct gw_oneshot *o = calloc(1, sizeof *o);
	if (!o)
		return DC_ERR_NOMEM;
	dc_err rc = DC_OK;
	gw_conf_limits(conf, &o->lim);
	if ((rc = gw_netpolicy_new(&o->np)))
		goto fail;
	for (size_t i = 0; i < conf->outbound_allow.n; i++)
		if ((rc = gw_netpolicy_allow(o->np, conf->outbound_allow.v[i].v, ei))) {
			char m[sizeof ei->msg];
			snprintf(m, sizeof m, "%s", ei->msg);
			rc = dc_errinfo_set(ei, rc, "%s:%u: %s", conf->name ? conf->name : "config", conf->outbound_allow.v[i].line,
			                    m);
			goto fail;
		}
	/* the configuration's sections as the daemon reads them ([smtp] with its url, TLS, ca_file,
	 * AUTH...), but only the adapters that deliver: an inbound-only one ([imap]) would log in
	 * to read mail that this host cannot take, and hold up the exit */
	for (size_t i = 0; gw_adapters[i] && i < GW_MAX_ADAPTERS; i++)
		if (conf->ad_conf[i] && (gw_adapters[i]->flags & GW_AD_OUT) &&
		    (rc = gw_adapters[i]->create(conf->ad_conf[i], &o->lim, &o->ads[i], ei)))
			goto fail;
	if ((rc = gw_loop_new(o->ads, &o->loop, ei)))
		goto fail;
	for (size_t i = 0; gw_adapters[i] && i < GW_MAX_ADAPTERS; i++) {
		if (!o->ads[i])
			continue;
		gw_host_init(&o->hosts[i], gw_adapters[i]->name, o->loop, NULL, o->np, &o->lim, our_did);
		if ((rc = gw_adapters[i]->start(o->ads[i], &o->hosts[i].h, ei)))
			goto fail;
		o->started[i] = true;
	}
	*out = o;
	return DC_OK;
fail:
	gw_oneshot_free(o);
	return rc;
}

struct wait {
	struct gw_loop *loop;
	int done; /* atomic: done() may come from an adapter's thread */
	enum gw_send_result r;
	char why[300];
};

static void on_done(void *arg, enum gw_send_result r, const char *why)
{
	struct wait *w = arg;
	w->r = r;
	snprintf(w->why, sizeof w->why, "%s", why ? why : "");
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	gw_loop_wake(w->loop);
}

static void on_timeout(void *arg)
{
	(void)arg; /* the loop wakes up: gw_oneshot_send looks at the clock */
}

enum gw_send_result gw_oneshot_send(struct gw_oneshot *o, const struct gw_dest *d, const struct gw_envelope *env,
                                    long timeout_ms, char *why, size_t why_len)
{
	size_t i = 0;
	while (gw_adapters[i] && strcmp(gw_adapters[i]->name, d->adapter) != 0)
		i++;
	if (!gw_adapters[i] || !o->ads[i]) {
		snprintf(why, why_len, "no %s adapter configured", d->adapter);
		return GW_FAILED;
	}
	struct wait w = { .loop = o->loop };
	dc_err rc = gw_adapters[i]->send(o->ads[i], d, env, on_done, &w);
	if (rc) {
		snprintf(why, why_len, "cannot start the delivery: %s", dc_strerror(rc));
		return GW_RETRY;
	}
	struct gw_timer *t = NULL;
	if (gw_loop_timer(o->loop, (uint64_t)timeout_ms, 0, on_timeout, NULL, &t)) {
		snprintf(why, why_len, "out of memory");
		return GW_RETRY; /* done() still comes: the loop is served by the next call or at free */
	}
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (__atomic_load_n(&w.done, __ATOMIC_ACQUIRE))
			break;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long el = (long)(now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
		if (el >= timeout_ms)
			break;
		gw_loop_service(o->loop);
	}
	gw_loop_timer_stop(t);
	if (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE)) {
		/* the adapter still owns &w until done(): stop it, which completes what it holds */
		snprintf(why, why_len, "timed out");
		for (size_t k = 0; gw_adapters[k] && k < GW_MAX_ADAPTERS; k++)
			if (o->started[k]) {
				gw_adapters[k]->stop(o->ads[k]);
				o->started[k] = false;
			}
		while (!__atomic_load_n(&w.done, __ATOMIC_ACQUIRE)) {
			gw_loop_run_posted(o->loop);
			gw_loop_service(o->loop);
		}
		return GW_RETRY;
	}
	snprintf(why, why_len, "%s", w.why);
	return w.r;
}

void gw_oneshot_free(struct gw_oneshot *o)
{
	if (!o)
		return;
	for (size_t i = 0; gw_adapters[i] && i < GW_MAX_ADAPTERS; i++)
		if (o->started[i])
			gw_adapters[i]->stop(o->ads[i]);
	if (o->loop)
		gw_loop_run_posted(o->loop);
	gw_loop_free(o->loop);
	for (size_t i = 0; gw_adapters[i] && i < GW_MAX_ADAPTERS; i++)
		if (o->ads[i])
			gw_adapters[i]->free(o->ads[i]);
	gw_netpolicy_free(o->np);
	free(o);
}
