/* The dispatcher (see dispatcher.h): every delivery in flight, and one thread that records
 * their outcomes. Work comes two ways:
 *   - offered: the ingest committer starts what it just committed born-leased (dc_queue.h) itself,
 *     from memory, without a second trip through the store or a hand-off to this thread;
 *   - claimed: every IDLE_WAIT_MS (or when woken) the store is asked for due items: retries,
 *     delayed ones, a rule's else, and anything whose lease ran out (a crash, or an offer
 *     that went back to the store).
 * Per destination at most per_destination deliveries run at once; the rest wait here in
 * arrival order (bounded: beyond MAX_WAITING they go back to the store, due now). When a
 * delivery ends, the adapter's thread gives its slot to the next waiting one at once; the
 * outcome goes on a locked list that the dispatcher thread records in batches. */
#include "dispatcher.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "ingest.h"
#include "log.h"
#include "metrics.h"

#define MAX_ADAPTERS 16
#define IDLE_WAIT_MS 200   /* look at the store at least this often (retries come due) */
#define CLAIM_BATCH 256    /* at most this many claimed per pass */
#define MAX_WAITING 8192   /* offered items waiting for a slot; beyond, back to the store */
#define N_BUCKETS 1024
#define RECORD_GATHER_MS 10 /* outcomes wait at most this long to be recorded together... */
#define RECORD_BATCH 128    /* ...or until this many have come back */

struct flight {
	struct flight *next;
	struct gw_dispatcher *d;
	struct dest *dq;
	struct dc_queue_item it;
	struct gw_envelope env;
	struct gw_dest dest;  /* parsed from it.dest, points into it */
	enum gw_send_result r;
	char why[256];
	char *held;           /* GW_HELD: the hold key, whole (why may cut it) */
	bool slot;            /* counted in flight (and in dq->active) */
};

/* a presence key to release (gw_dispatcher_release) */
struct rel {
	struct rel *next;
	char key[];
};

/* one destination: deliveries running, and offered ones waiting for a slot */
struct dest {
	struct dest *next;      /* bucket chain */
	struct dest *ready_next; /* on the list of destinations with waiting items */
	bool on_ready;
	char *name;
	unsigned active;
	struct flight *wh, *wt;
	size_t waiting;
};

struct gw_dispatcher {
	struct gw_state *s;
	struct gw_adapter *ads[MAX_ADAPTERS];
	void (*notify)(void);
	struct dc_queue *q;
	pthread_t th;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct flight *done;     /* completed, to record (locked) */
	size_t n_done;
	int64_t done_since;      /* CLOCK_MONOTONIC ms of the oldest on done */
	struct rel *rel;         /* presence keys to release, after the outcomes before them (locked) */
	/* sm guards what follows (in_flight, waiting, the destinations): the committer starts what
	 * it offers, an adapter's thread what waited for the slot it frees, the dispatcher thread
	 * the rest. Lock order: sm, mu. */
	pthread_mutex_t sm;
	bool wake, stop, idle;
	size_t in_flight, waiting, limit;
	int64_t lease_ms;       /* how long a born-leased item is ours alone */
	bool claim_soon;        /* a failure may have queued a rule's else */
	unsigned per_dest;
	struct dest *buckets[N_BUCKETS];
	struct dest *ready;
	uint64_t sent, retried, failed;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* mu held: wait until ms (CLOCK_MONOTONIC) at the latest */
static void wait_until(struct gw_dispatcher *d, int64_t ms)
{
	int64_t left = ms - mono_ms();
	if (left <= 0)
		return;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += left / 1000;
	until.tv_nsec += (left % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&d->cv, &d->mu, &until);
}

static void flight_free(struct flight *f)
{
	free(f->held);
	dc_queue_item_clear(&f->it);
	free(f);
}

static const char *log_dest(const struct dc_queue_item *it)
{
	return it->dest ? it->dest : "(none)";
}

/* ---- destinations ---------------------------------------------------------------------- */
static size_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (size_t)(h % N_BUCKETS);
}

static struct dest *dest_get(struct gw_dispatcher *d, const char *name)
{
	size_t b = hash(name);
	for (struct dest *q = d->buckets[b]; q; q = q->next)
		if (strcmp(q->name, name) == 0)
			return q;
	struct dest *q = calloc(1, sizeof *q);
	if (!q || !(q->name = strdup(name))) {
		free(q);
		return NULL;
	}
	q->next = d->buckets[b];
	d->buckets[b] = q;
	return q;
}

/* forget a destination with nothing running or waiting (keeps the table small) */
static void dest_maybe_free(struct gw_dispatcher *d, struct dest *q)
{
	if (!q || q->active || q->wh || q->on_ready)
		return;
	for (struct dest **pp = &d->buckets[hash(q->name)]; *pp; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			break;
		}
	free(q->name);
	free(q);
}

/* ---- completions ------------------------------------------------------------------------- */
static void start_waiting(struct gw_dispatcher *d);

/* sm held, and not within a pass over the destinations (start_waiting): the delivery no
 * longer holds a slot (its outcome may not be recorded yet) */
static void release_slot(struct gw_dispatcher *d, struct flight *f)
{
	if (!f->slot)
		return;
	f->slot = false;
	d->in_flight--;
	if (!f->dq)
		return;
	f->dq->active--;
	if (f->dq->wh && !f->dq->on_ready) {
		f->dq->on_ready = true;
		f->dq->ready_next = d->ready;
		d->ready = f->dq;
	}
	dest_maybe_free(d, f->dq);
	f->dq = NULL;
}

/* the outcome goes on the list the dispatcher thread records */
static void push_done(struct gw_dispatcher *d, struct flight *f, enum gw_send_result r, const char *why)
{
	f->r = r;
	snprintf(f->why, sizeof f->why, "%s", why ? why : "");
	if (r == GW_HELD && !(f->held = strdup(why ? why : ""))) {
		f->r = GW_RETRY; /* no key to hold it under: an ordinary retry */
		snprintf(f->why, sizeof f->why, "out of memory holding for presence");
	}
	pthread_mutex_lock(&d->mu);
	if (!d->done)
		d->done_since = mono_ms();
	f->next = d->done;
	d->done = f;
	/* the first wakes the dispatcher thread, which gathers the rest (see run) */
	if (++d->n_done == 1 || d->n_done == RECORD_BATCH)
		pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

/* any thread: an adapter is done with one delivery. Its slot goes to the next waiting delivery
 * at once, from here, rather than after the outcome is recorded: a destination's slots stay
 * busy with transfers, not with the dispatcher's turn at the store. */
static void on_done(void *arg, enum gw_send_result r, const char *why)
{
	struct flight *f = arg;
	struct gw_dispatcher *d = f->d;
	pthread_mutex_lock(&d->sm);
	release_slot(d, f);
	start_waiting(d);
	pthread_mutex_unlock(&d->sm);
	push_done(d, f, r, why);
}


void gw_dispatcher_release(struct gw_dispatcher *d, const char *key)
{
	size_t n = strlen(key);
	struct rel *r = d ? malloc(sizeof *r + n + 1) : NULL;
	if (!r) {
		gw_log(GW_LOG_ERROR, "dispatch", "out of memory releasing %s (released at the next start)", key);
		return;
	}
	memcpy(r->key, key, n + 1);
	pthread_mutex_lock(&d->mu);
	/* in arrival order: the list is reversed when it is taken */
	r->next = d->rel;
	d->rel = r;
	pthread_cond_signal(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

/* dispatcher thread: after the outcomes taken with them (a hold is recorded before its release) */
static void release_all(struct gw_dispatcher *d, struct rel *list)
{
	struct rel *fifo = NULL;
	while (list) {
		struct rel *n = list->next;
		list->next = fifo;
		fifo = list;
		list = n;
	}
	for (struct rel *r = fifo, *n; r; r = n) {
		n = r->next;
		struct dc_errinfo ei = { 0 };
		uint64_t released = 0;
		if (dc_queue_release_held(d->q, r->key, now_ms(), &released, &ei))
			gw_log(GW_LOG_ERROR, "dispatch", "releasing %s: %s", r->key, ei.msg);
		else if (released)
			gw_log(GW_LOG_INFO, "dispatch", "%llu held for presence %s: due now", (unsigned long long)released,
			       r->key);
		if (released)
			d->claim_soon = true;
		free(r);
	}
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

static void offer_one(struct gw_dispatcher *d, struct flight *f);

/* the committer thread: start the deliveries it just committed, now (no hand-off to the dispatcher
 * thread on the way out; their outcomes come back to it) */
void gw_dispatcher_offer(struct gw_dispatcher *d, struct dc_queue_item *items, size_t n)
{
	pthread_mutex_lock(&d->sm);
	for (size_t i = 0; i < n; i++) {
		struct flight *f = calloc(1, sizeof *f);
		if (!f) {
			dc_queue_item_clear(&items[i]); /* committed and leased: the lease brings it back */
			continue;
		}
		f->d = d;
		f->it = items[i];
		offer_one(d, f);
	}
	pthread_mutex_unlock(&d->sm);
	free(items);
}

/* dispatcher thread: record the outcomes that came back, the deliveries in one transaction */
static void record_all(struct gw_dispatcher *d, struct flight *list)
{
	int64_t ids[256];
	size_t n = 0;
	struct dc_errinfo ei = { 0 };
	for (struct flight *f = list, *next; f; f = next) {
		next = f->next;
		dc_err rc = DC_OK;
		int64_t t = now_ms();
		gw_metrics_delivery(f->dest.adapter, f->r, t - f->it.created_ms, f->why);
		switch (f->r) {
		case GW_SENT:
			d->sent++;
			gw_log(GW_LOG_INFO, "dispatch", "#%lld %s delivered to %s (%s)", (long long)f->it.id,
			       f->it.msg_id ? f->it.msg_id : "-", log_dest(&f->it), f->why);
			ids[n++] = f->it.id;
			break;
		case GW_HELD:
			/* the adapter will release it (gw_dispatcher_release); no attempt spent */
			rc = dc_queue_hold(d->q, f->it.id, f->held, &ei);
			gw_log(GW_LOG_DEBUG, "dispatch", "#%lld to %s: held for presence %s", (long long)f->it.id,
			       log_dest(&f->it), f->held);
			break;
		case GW_RETRY:
			rc = dc_queue_retry_later(d->q, f->it.id, t, f->why, &ei);
			d->retried++;
			gw_log(GW_LOG_DEBUG, "dispatch", "#%lld to %s: %s; will retry (attempt %u)", (long long)f->it.id,
			       log_dest(&f->it), f->why, f->it.attempts + 1);
			gw_log_attempt_failed("dispatch", log_dest(&f->it), f->why, f->it.attempts + 1);
			break;
		default:
			rc = dc_queue_fail(d->q, f->it.id, t, f->why, &ei);
			d->failed++;
			d->claim_soon = true;
			gw_log(GW_LOG_WARN, "dispatch", "#%lld to %s failed for good: %s (dead letter)", (long long)f->it.id,
			       log_dest(&f->it), f->why);
			break;
		}
		/* an outcome not recorded: the lease runs out and the item comes back (at least once) */
		if (rc)
			gw_log(GW_LOG_ERROR, "dispatch", "#%lld: recording the outcome: %s", (long long)f->it.id, ei.msg);
		if (n == sizeof ids / sizeof ids[0] || (!next && n)) {
			if (dc_queue_ack_many(d->q, ids, n, NULL, &ei))
				gw_log(GW_LOG_ERROR, "dispatch", "recording %zu deliveries: %s", n, ei.msg);
			n = 0;
		}
		if (f->slot) { /* ended before it reached its adapter (see start) */
			pthread_mutex_lock(&d->sm);
			release_slot(d, f);
			pthread_mutex_unlock(&d->sm);
		}
		flight_free(f);
	}
}

/* ---- starting deliveries ------------------------------------------------------------------- */
/* sm held: hand one delivery to its adapter (it holds a slot from here until it ends). One
 * that ends here, before it reaches the adapter, keeps its slot until its outcome is recorded:
 * this may run inside a pass over the destinations (start_waiting), which must not see their
 * lists change or a destination freed under it. */
static void start(struct gw_dispatcher *d, struct flight *f)
{
	f->env = (struct gw_envelope){ .queue_id = f->it.id, .msg_id = f->it.msg_id, .media_type = f->it.media_type,
		                       .data = f->it.data, .len = f->it.len, .expires_ms = f->it.expires_ms };
	d->in_flight++;
	if (f->dq)
		f->dq->active++;
	f->slot = true;
	if (!gw_dest_parse(f->it.dest, &f->dest)) {
		push_done(d, f, GW_FAILED, "bad destination");
		return;
	}
	if (f->it.expires_ms && f->it.expires_ms <= now_ms()) {
		push_done(d, f, GW_FAILED, "expired (expires_time passed)");
		return;
	}
	if (f->dest.hold) {
		push_done(d, f, GW_FAILED, GW_HOLD_RAN_OUT);
		return;
	}
	struct gw_adapter *ad = NULL;
	const struct gw_adapter_ops *ops = NULL;
	for (size_t i = 0; gw_adapters[i] && i < MAX_ADAPTERS; i++)
		if (strcmp(gw_adapters[i]->name, f->dest.adapter) == 0) {
			ad = d->ads[i];
			ops = gw_adapters[i];
		}
	if (!ad) {
		char why[96];
		snprintf(why, sizeof why, "no %s adapter running", f->dest.adapter);
		push_done(d, f, GW_RETRY, why); /* kept: a later configuration may have it */
		return;
	}
	dc_err rc = ops->send(ad, &f->dest, &f->env, on_done, f);
	if (rc != DC_OK)
		push_done(d, f, GW_RETRY, rc == DC_ERR_AGAIN ? "adapter stopping" : "cannot start the delivery");
}

/* an offered delivery: now if its destination and the total have room, else it waits */
static void offer_one(struct gw_dispatcher *d, struct flight *f)
{
	f->dq = f->it.dest ? dest_get(d, f->it.dest) : NULL;
	if (f->dq && !f->dq->wh && f->dq->active < d->per_dest && d->in_flight < d->limit) {
		start(d, f);
		return;
	}
	struct dc_errinfo ei = { 0 };
	if (!f->dq || d->waiting >= MAX_WAITING) {
		/* too much waiting in memory: back to the store, due now, claimed when there is room */
		if (dc_queue_requeue(d->q, f->it.id, now_ms(), &ei))
			gw_log(GW_LOG_WARN, "dispatch", "#%lld: %s (its lease brings it back)", (long long)f->it.id, ei.msg);
		struct dest *q = f->dq;
		flight_free(f);
		dest_maybe_free(d, q);
		return;
	}
	f->next = NULL;
	if (f->dq->wt)
		f->dq->wt->next = f;
	else
		f->dq->wh = f;
	f->dq->wt = f;
	f->dq->waiting++;
	d->waiting++;
	if (f->dq->active < d->per_dest && !f->dq->on_ready) {
		f->dq->on_ready = true;
		f->dq->ready_next = d->ready;
		d->ready = f->dq;
	}
}

/* start waiting deliveries while there is room, destination by destination */
static void start_waiting(struct gw_dispatcher *d)
{
	struct dest *list = d->ready, *keep = NULL;
	d->ready = NULL;
	while (list) {
		struct dest *q = list;
		list = q->ready_next;
		q->on_ready = false;
		while (q->wh && q->active < d->per_dest && d->in_flight < d->limit) {
			struct flight *f = q->wh;
			q->wh = f->next;
			if (!q->wh)
				q->wt = NULL;
			q->waiting--;
			d->waiting--;
			f->next = NULL;
			if (now_ms() - f->it.created_ms > d->lease_ms - 1000) {
				/* waited about as long as its lease: the store hands it out (claimed) from now
				 * on; sending this copy as well would only make a duplicate */
				flight_free(f);
				continue;
			}
			start(d, f);
		}
		if (q->wh && q->active < d->per_dest) { /* out of total room: keep it for later */
			q->on_ready = true;
			q->ready_next = keep;
			keep = q;
		} else {
			dest_maybe_free(d, q);
		}
	}
	d->ready = keep;
}

/* claimed from the store (which applied the per-destination limit itself) */
static void start_claimed(struct gw_dispatcher *d, struct dc_queue_item *it)
{
	struct flight *f = calloc(1, sizeof *f);
	if (!f) {
		dc_queue_item_clear(it); /* the lease brings it back */
		return;
	}
	f->d = d;
	f->it = *it;
	memset(it, 0, sizeof *it);
	f->dq = f->it.dest ? dest_get(d, f->it.dest) : NULL;
	start(d, f);
}

static void *run(void *arg)
{
	struct gw_dispatcher *d = arg;
	prctl(PR_SET_NAME, "gw-dispatch", 0, 0, 0); /* shows in top -H and /proc */
	const struct gw_conf *c = &d->s->conf;
	int64_t lease = c->lease_ms > 0 ? c->lease_ms : 60000;
	int64_t next_claim = 0, claim_said = 0;
	bool claim_failing = false;
	for (;;) {
		pthread_mutex_lock(&d->mu);
		/* Outcomes are recorded together: one transaction for what came back within
		 * RECORD_GATHER_MS, not one for each few (`make bench`: the deletes were 18 % of the
		 * gateway's CPU at ~9 a transaction). Their slots are free already (on_done); the
		 * items only stay leased in the store that much longer (a crash then sends them
		 * again: at least once). A release, a claim to make or a stop goes first. */
		while (d->done && d->n_done < RECORD_BATCH && !d->rel && !d->wake && !d->stop &&
		       mono_ms() < d->done_since + RECORD_GATHER_MS)
			wait_until(d, d->done_since + RECORD_GATHER_MS);
		struct flight *done = d->done;
		struct rel *rel = d->rel;
		d->done = NULL;
		d->n_done = 0;
		d->rel = NULL;
		bool stop = d->stop, wake = d->wake;
		d->wake = false;
		pthread_mutex_unlock(&d->mu);
		record_all(d, done);
		release_all(d, rel);
		pthread_mutex_lock(&d->sm);
		start_waiting(d);
		bool finished = stop && d->in_flight == 0 && d->waiting == 0;
		size_t room = d->limit > d->in_flight ? d->limit - d->in_flight : 0;
		pthread_mutex_unlock(&d->sm);
		if (finished)
			break;
		int64_t t = now_ms();
		bool claimed_full = false;
		if (!stop && room && (wake || d->claim_soon || t >= next_claim)) {
			d->claim_soon = false;
			if (room > CLAIM_BATCH)
				room = CLAIM_BATCH;
			struct dc_queue_item *items = NULL;
			size_t n = 0;
			struct dc_errinfo ei = { 0 };
			if (dc_queue_claim(d->q, t, room, d->per_dest, lease, &items, &n, &ei)) {
				/* a store that is away (PostgreSQL restarting) fails every pass: said once,
				 * then every 30 s, and again when it answers */
				if (!claim_failing || t - claim_said >= 30000) {
					gw_log(GW_LOG_ERROR, "dispatch", "claim: %s%s", ei.msg,
					       claim_failing ? " (still)" : "; deliveries paused until the queue answers");
					claim_said = t;
				}
				claim_failing = true;
			} else {
				if (claim_failing)
					gw_log(GW_LOG_INFO, "dispatch", "claim: the queue answers again; deliveries go on");
				claim_failing = false;
				pthread_mutex_lock(&d->sm);
				for (size_t i = 0; i < n; i++)
					start_claimed(d, &items[i]);
				pthread_mutex_unlock(&d->sm);
				claimed_full = n == room;
			}
			dc_queue_items_free(items, n);
			next_claim = t + IDLE_WAIT_MS;
		}
		if (claimed_full)
			continue; /* more may be due right away */
		pthread_mutex_lock(&d->mu);
		if (!d->done && !d->rel && !d->wake && d->stop == stop) {
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
	gw_log(GW_LOG_INFO, "dispatch", "stopped: %llu delivered, %llu to retry, %llu failed this run",
	       (unsigned long long)d->sent, (unsigned long long)d->retried, (unsigned long long)d->failed);
	if (d->notify)
		d->notify(); /* the daemon's loop may be waiting for this */
	return NULL;
}

dc_err gw_dispatcher_new(struct gw_state *s, struct gw_dispatcher **out, struct dc_errinfo *ei)
{
	(void)ei;
	*out = NULL;
	struct gw_dispatcher *d = calloc(1, sizeof *d);
	if (!d)
		return DC_ERR_NOMEM;
	d->s = s;
	d->limit = s->conf.concurrency ? s->conf.concurrency : 256;
	d->per_dest = s->conf.per_dest_limit ? s->conf.per_dest_limit : 16;
	d->lease_ms = s->conf.lease_ms > 0 ? s->conf.lease_ms : 60000;
	d->q = s->q;
	pthread_mutex_init(&d->mu, NULL);
	pthread_mutex_init(&d->sm, NULL);
	pthread_cond_init(&d->cv, NULL);
	*out = d;
	return DC_OK;
}

dc_err gw_dispatcher_start(struct gw_dispatcher *d, struct gw_adapter *const *ads, void (*notify)(void),
                           struct dc_errinfo *ei)
{
	d->notify = notify;
	pthread_mutex_lock(&d->sm);
	for (size_t i = 0; gw_adapters[i] && i < MAX_ADAPTERS; i++)
		d->ads[i] = ads[i];
	pthread_mutex_unlock(&d->sm);
	struct dc_errinfo qe = { 0 };
	uint64_t released = 0;
	if (dc_queue_release_leases(d->q, &released, &qe))
		gw_log(GW_LOG_WARN, "dispatch", "releasing old leases: %s", qe.msg);
	else if (released)
		gw_log(GW_LOG_INFO, "dispatch", "%llu deliveries were in flight when the last run ended: due again now",
		       (unsigned long long)released);
	if (pthread_create(&d->th, NULL, run, d) != 0)
		return dc_errinfo_set(ei, DC_ERR_NOMEM, "dispatcher: cannot start a thread");
	d->started = true;
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

static void flights_free(struct flight *f)
{
	for (struct flight *n; f; f = n) {
		n = f->next;
		flight_free(f); /* not recorded: their leases bring them back */
	}
}

void gw_dispatcher_free(struct gw_dispatcher *d)
{
	if (!d)
		return;
	if (d->started) {
		gw_dispatcher_stop(d);
		pthread_join(d->th, NULL);
	}
	flights_free(d->done);
	for (struct rel *r = d->rel, *n; r; r = n) {
		n = r->next;
		free(r);
	}
	for (size_t b = 0; b < N_BUCKETS; b++)
		for (struct dest *q = d->buckets[b], *n; q; q = n) {
			n = q->next;
			flights_free(q->wh);
			free(q->name);
			free(q);
		}
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->sm);
	pthread_mutex_destroy(&d->mu);
	free(d);
}
