/* The dispatcher (see dispatcher.h). One thread owns a queue connection: it claims due
 * items, starts their deliveries through the adapters, and records the outcomes that the
 * adapters report (from their own threads) on a locked list. Nothing here blocks on the
 * network: a slow destination holds only its own per_destination slots. */
#include "dispatcher.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"

#define MAX_ADAPTERS 16
#define IDLE_WAIT_MS 200   /* look at the queue at least this often (retries come due) */
#define CLAIM_BATCH 256    /* at most this many claimed per pass */

struct flight {
	struct flight *next;
	struct gw_dispatcher *d;
	struct dc_queue_item it;
	struct gw_envelope env;
	enum gw_send_result r;
	char why[256];
};

struct gw_dispatcher {
	struct gw_state *s;
	struct gw_adapter *ads[MAX_ADAPTERS];
	void (*on_fatal)(void);
	struct dc_queue *q;
	pthread_t th;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct flight *done;   /* completed, to record */
	bool wake, stop, idle;
	size_t in_flight;      /* dispatcher thread only */
	uint64_t sent, retried, failed;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void flight_free(struct flight *f)
{
	dc_queue_item_clear(&f->it);
	free(f);
}

/* any thread: an adapter is done with one delivery */
static void on_done(void *arg, enum gw_send_result r, const char *why)
{
	struct flight *f = arg;
	struct gw_dispatcher *d = f->d;
	f->r = r;
	snprintf(f->why, sizeof f->why, "%s", why ? why : "");
	pthread_mutex_lock(&d->mu);
	f->next = d->done;
	d->done = f;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

void gw_dispatcher_wake(void *arg)
{
	struct gw_dispatcher *d = arg;
	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	d->wake = true;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

static const char *log_dest(const struct dc_queue_item *it)
{
	return it->dest ? it->dest : "(none)";
}

/* dispatcher thread: record one outcome in the queue */
static bool record(struct gw_dispatcher *d, struct flight *f)
{
	struct dc_errinfo ei = { 0 };
	dc_err rc;
	int64_t t = now_ms();
	switch (f->r) {
	case GW_SENT:
		rc = dc_queue_ack(d->q, f->it.id, &ei);
		d->sent++;
		gw_log("debug", "dispatch", "#%lld %s delivered to %s (%s)", (long long)f->it.id,
		       f->it.msg_id ? f->it.msg_id : "-", log_dest(&f->it), f->why);
		break;
	case GW_RETRY:
		rc = dc_queue_retry_later(d->q, f->it.id, t, f->why, &ei);
		d->retried++;
		gw_log("info", "dispatch", "#%lld to %s: %s; will retry (attempt %u)", (long long)f->it.id, log_dest(&f->it),
		       f->why, f->it.attempts + 1);
		break;
	default:
		rc = dc_queue_fail(d->q, f->it.id, t, f->why, &ei);
		d->failed++;
		gw_log("warn", "dispatch", "#%lld to %s failed for good: %s (dead letter)", (long long)f->it.id,
		       log_dest(&f->it), f->why);
		break;
	}
	if (rc) /* the lease runs out and the item comes back: at least once, nothing lost */
		gw_log("error", "dispatch", "#%lld: recording the outcome: %s", (long long)f->it.id, ei.msg);
	d->in_flight--;
	flight_free(f);
	return rc == DC_OK;
}

/* dispatcher thread: hand one claimed item to its adapter (takes the item) */
static void start_one(struct gw_dispatcher *d, struct dc_queue_item *it)
{
	struct flight *f = calloc(1, sizeof *f);
	if (!f) {
		dc_queue_item_clear(it); /* the lease brings it back */
		return;
	}
	f->d = d;
	f->it = *it;
	memset(it, 0, sizeof *it);
	f->env = (struct gw_envelope){ .queue_id = f->it.id, .media_type = f->it.media_type, .data = f->it.data,
		                       .len = f->it.len };
	d->in_flight++;
	const char *dest = f->it.dest ? f->it.dest : "";
	const char *sp = strchr(dest, ' ');
	struct gw_adapter *ad = NULL;
	char name[32] = "";
	if (sp && (size_t)(sp - dest) < sizeof name) {
		memcpy(name, dest, (size_t)(sp - dest));
		for (size_t i = 0; gw_adapters[i] && i < MAX_ADAPTERS; i++)
			if (strcmp(gw_adapters[i]->name, name) == 0)
				ad = d->ads[i];
	}
	if (!sp) {
		on_done(f, GW_FAILED, "bad destination");
		return;
	}
	if (!ad) {
		char why[96];
		snprintf(why, sizeof why, "no %s adapter running", name[0] ? name : "such");
		on_done(f, GW_RETRY, why); /* kept: a later configuration may have it */
		return;
	}
	const struct gw_adapter_ops *ops = NULL;
	for (size_t i = 0; gw_adapters[i] && i < MAX_ADAPTERS; i++)
		if (d->ads[i] == ad)
			ops = gw_adapters[i];
	dc_err rc = ops->send(ad, sp + 1, &f->env, on_done, f);
	if (rc != DC_OK)
		on_done(f, GW_RETRY, rc == DC_ERR_AGAIN ? "adapter stopping" : "cannot start the delivery");
}

static void *run(void *arg)
{
	struct gw_dispatcher *d = arg;
	const struct gw_conf *c = &d->s->conf;
	size_t limit = c->concurrency ? c->concurrency : 256;
	int64_t lease = c->lease_ms > 0 ? c->lease_ms : 60000;
	int64_t next_claim = 0;
	for (;;) {
		pthread_mutex_lock(&d->mu);
		struct flight *done = d->done;
		d->done = NULL;
		bool stop = d->stop, wake = d->wake;
		d->wake = false;
		pthread_mutex_unlock(&d->mu);
		for (struct flight *f = done, *n; f; f = n) {
			n = f->next;
			record(d, f);
		}
		if (stop && d->in_flight == 0)
			break;
		int64_t t = now_ms();
		bool claimed_full = false;
		if (!stop && d->in_flight < limit && (wake || done || t >= next_claim)) {
			size_t room = limit - d->in_flight;
			if (room > CLAIM_BATCH)
				room = CLAIM_BATCH;
			struct dc_queue_item *items = NULL;
			size_t n = 0;
			struct dc_errinfo ei = { 0 };
			if (dc_queue_claim(d->q, t, room, c->per_dest_limit, lease, &items, &n, &ei)) {
				gw_log("error", "dispatch", "claim: %s", ei.msg);
			} else {
				for (size_t i = 0; i < n; i++)
					start_one(d, &items[i]);
				claimed_full = n == room;
			}
			dc_queue_items_free(items, n);
			next_claim = t + IDLE_WAIT_MS;
		}
		if (claimed_full && d->in_flight < limit)
			continue; /* more may be due right away */
		pthread_mutex_lock(&d->mu);
		if (!d->done && !d->wake && d->stop == stop) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += IDLE_WAIT_MS * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&d->cv, &d->mu, &until);
		}
		pthread_mutex_unlock(&d->mu);
	}
	pthread_mutex_lock(&d->mu);
	d->idle = true;
	pthread_mutex_unlock(&d->mu);
	gw_log("info", "dispatch", "stopped: %llu delivered, %llu to retry, %llu failed this run",
	       (unsigned long long)d->sent, (unsigned long long)d->retried, (unsigned long long)d->failed);
	return NULL;
}

dc_err gw_dispatcher_start(struct gw_state *s, struct gw_adapter *const *ads, void (*on_fatal)(void),
                           struct gw_dispatcher **out, char *why, size_t why_len)
{
	*out = NULL;
	struct gw_dispatcher *d = calloc(1, sizeof *d);
	if (!d)
		return DC_ERR_NOMEM;
	d->s = s;
	d->on_fatal = on_fatal;
	for (size_t i = 0; gw_adapters[i] && i < MAX_ADAPTERS; i++)
		d->ads[i] = ads[i];
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
	struct dc_errinfo ei = { 0 };
	if (gw_state_queue_open(s, &d->q, &ei)) {
		snprintf(why, why_len, "dispatcher: %s", ei.msg);
		gw_dispatcher_free(d);
		return DC_ERR_IO;
	}
	if (pthread_create(&d->th, NULL, run, d) != 0) {
		snprintf(why, why_len, "dispatcher: cannot start a thread");
		gw_dispatcher_free(d);
		return DC_ERR_NOMEM;
	}
	d->started = true;
	*out = d;
	return DC_OK;
}

void gw_dispatcher_stop(struct gw_dispatcher *d)
{
	if (!d)
		return;
	pthread_mutex_lock(&d->mu);
	d->stop = true;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

bool gw_dispatcher_idle(struct gw_dispatcher *d)
{
	if (!d || !d->started)
		return true;
	pthread_mutex_lock(&d->mu);
	bool idle = d->idle;
	pthread_mutex_unlock(&d->mu);
	return idle;
}

void gw_dispatcher_free(struct gw_dispatcher *d)
{
	if (!d)
		return;
	if (d->started) {
		gw_dispatcher_stop(d);
		pthread_join(d->th, NULL);
	}
	for (struct flight *f = d->done, *n; f; f = n) {
		n = f->next;
		flight_free(f); /* not recorded: their leases bring them back */
	}
	dc_queue_close(d->q);
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mu);
	free(d);
}
