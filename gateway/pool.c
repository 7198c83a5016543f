/* The ingest pool (see pool.h). */
#include "pool.h"

#include <pthread.h>
#include <sys/prctl.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dispatcher.h"
#include "gateway.h"
#include "ingest.h"
#include "webres.h"
#include "log.h"
#include "loop.h"
#include "mediator.h"
#include "metrics.h"

#define MAX_WORKERS 64
#define MAX_WAITING 4096                 /* jobs not yet picked up */
#define MAX_WAITING_BYTES (256u << 20)   /* their bytes */
#define SMALL_JOB (64u << 10)            /* up to this, a job goes ahead of big ones... */
#define SMALL_RUN 8                      /* ...but a big one waits for at most this many */
#define MAX_GROUP_ITEMS 256              /* deliveries in one transaction... */
#define MAX_GROUP_BYTES (8u << 20)       /* ...and their bytes, past the first message */
#define RATE_BUCKETS 4096                /* per-peer submit rates, by a hash of the address */
#define GATHER_US 2000                   /* group commit: wait this long at most for messages... */
#define GATHER_JOBS 64                   /* ...still being opened, up to this many in the batch */

struct job {
	struct job *next;
	struct gw_pool *in;
	char transport[16], source[80], media[128], tag[65];
	bool has_media, has_tag, live, only_ours;
	uint64_t conn;            /* the inbound connection (live delivery), 0: none */
	char *key;                /* idempotency key (malloc'd), or NULL */
	uint8_t *data;
	size_t len;
	gw_ack_fn *ack;
	void *arg;
	struct gw_ingest_result res;
	struct gw_commit *commit; /* opened, its deliveries waiting for the committer */
	unsigned parked;          /* times it waited for a did:web fetch */
	int64_t ids[GW_INGEST_MAX_TARGETS];
	bool over_share;          /* refused by the committer: over its queue share */
	struct dc_errinfo share_ei;
	int64_t t0_us;            /* submitted (metrics) */
};

struct worker {
	struct gw_pool *in;
	bool small_only;      /* the extra worker: small messages never wait behind big ones */
	pthread_t th;
	bool started;
	struct dc_resolver *res;
	struct dc_ctx *ctx;
};

struct gw_pool {
	struct gw_state *s;
	/* the committer: workers hand it opened messages and go on to the next one; it commits
	 * whatever has gathered in one transaction (the busier, the bigger), then answers them.
	 * Small messages go first, in transactions of their own, not behind megabytes of data. */
	pthread_mutex_t cm_mu;
	pthread_cond_t cm_cv;
	struct job *cm_head[2], *cm_tail[2]; /* [0] small, [1] big */
	size_t cm_n[2];
	size_t opening;               /* submitted, not yet at the committer nor answered (atomic) */
	bool cm_stop, cm_started;
	pthread_t cm_th;
	struct dc_resolver *cm_res;
	struct dc_ctx *cm_ctx; /* packs problem reports for commits that failed */
	struct gw_loop *loop;
	struct gw_dispatcher *disp;
	struct gw_seen *seen;         /* envelopes sent lately: loop detection */
	struct gw_webres *wr;         /* did:web documents, fetched off the workers */
	pthread_mutex_t mu;
	pthread_cond_t cv;           /* general workers wait here */
	pthread_cond_t scv;          /* the small-only worker waits here */
	struct job *head, *tail;     /* big jobs */
	struct job *shead, *stail;   /* small jobs: not stuck behind megabytes of crypto */
	unsigned small_run;
	unsigned big_active;          /* big jobs being opened: the small-only worker helps then */
	size_t n_waiting, bytes_waiting; /* jobs not answered yet, and their bytes */
	bool stop;
	pthread_rwlock_t rules_lock;
	struct worker w[MAX_WORKERS];
	unsigned n;
	size_t pending;               /* submitted, not yet acknowledged (atomic) */
	/* per-peer submit rates: tokens refill at rate a second up to twice that (under mu) */
	struct {
		double tokens;
		int64_t at_ms;
	} rate[RATE_BUCKETS];
	double rate_per_s;
	uint64_t share_max;     /* live items one origin or one sender may have in the queue (0: any) */
};

static void job_free(struct job *j)
{
	gw_ingest_result_clear(&j->res);
	free(j->data);
	free(j->key);
	free(j);
}

static const char *outcome_name(enum gw_outcome o)
{
	switch (o) {
	case GW_ACCEPTED: return "accepted";
	case GW_ANSWERED: return "answered";
	case GW_REFUSED: return "refused";
	case GW_TRY_LATER: return "try later";
	}
	return "?";
}

/* loop thread: the result reaches the adapter */
static void deliver(void *arg)
{
	struct job *j = arg;
	struct gw_reply r = { .outcome = j->res.outcome ? j->res.outcome : GW_TRY_LATER,
		              .refusal = j->res.refusal,
		              .code = j->res.problem_code,
		              .why = j->res.told[0] ? j->res.told : j->res.why,
		              .body_type = j->res.out_type,
		              .body = (const uint8_t *)j->res.out,
		              .body_len = j->res.out_len,
		              .multiplex = j->res.multiplex[0] ? j->res.multiplex : NULL };
	bool quiet = (r.outcome == GW_ANSWERED && !j->res.loop) || r.refusal == GW_REF_NOT_OURS; /* someone else's */
	gw_log(quiet ? GW_LOG_DEBUG : GW_LOG_INFO, j->transport, "%s from %s: %s%s%s",
	       outcome_name(r.outcome), j->source, j->res.why, j->res.problem_code[0] ? " " : "", j->res.problem_code);
	gw_metrics_in(j->transport, r.outcome, j->len, gw_metrics_now_us() - j->t0_us);
	j->ack(j->arg, &r);
	__atomic_sub_fetch(&j->in->pending, 1, __ATOMIC_RELAXED);
	job_free(j);
}

/* the job is answered: it leaves the limits, its deliveries go to the dispatcher, its answer
 * to the loop */
static void job_done(struct gw_pool *in, struct job *j)
{
	pthread_mutex_lock(&in->mu);
	in->n_waiting--;
	in->bytes_waiting -= j->len;
	pthread_mutex_unlock(&in->mu);
	free(j->data);
	j->data = NULL;
	if (j->res.n_queued && j->res.held_for)
		gw_med_notify(in->s->med, j->res.held_for); /* a live client gets it now */
	if (j->res.n_queued && in->disp) {
		if (j->res.n_fast)
			gw_dispatcher_offer(in->disp, j->res.fast, j->res.n_fast); /* takes the items */
		else
			gw_dispatcher_wake(in->disp); /* held or delayed: in the store */
		j->res.fast = NULL;
		j->res.n_fast = 0;
	}
	while (gw_loop_post(in->loop, deliver, j) != DC_OK)
		usleep(1000); /* out of memory for a list node: the loop will free some */
}

#define MAX_PARKED 4 /* times one message waits for did:web fetches */

/* a fetcher thread: the did:web fetch a parked job waited for has ended: back in line */
static void unpark(void *arg)
{
	struct job *j = arg;
	struct gw_pool *in = j->in;
	__atomic_add_fetch(&in->opening, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&in->mu);
	bool small = j->len <= SMALL_JOB;
	struct job **h = small ? &in->shead : &in->head, **t = small ? &in->stail : &in->tail;
	j->next = NULL;
	if (*t)
		(*t)->next = j;
	else
		*h = j;
	*t = j;
	pthread_cond_signal(&in->cv);
	if (small && in->big_active)
		pthread_cond_signal(&in->scv);
	pthread_mutex_unlock(&in->mu);
}

static void process(struct worker *w, struct job *j)
{
	struct gw_pool *in = w->in;
	struct gw_ingest_cfg g;
	pthread_rwlock_rdlock(&in->rules_lock);
	gw_state_ingest_cfg(in->s, &g);
	g.lease_ms = in->disp ? in->s->conf.lease_ms : 0; /* deliveries due now go straight to the dispatcher */
	g.dc = w->ctx;
	g.q = in->s->q;
	g.seen = in->seen;
	struct gw_ingest_in m = { .transport = j->transport, .source = j->source, .tag = j->has_tag ? j->tag : NULL,
		                  .media_type = j->has_media ? j->media : NULL, .data = j->data, .len = j->len,
		                  .key = j->key, .only_ours = j->only_ours, .live = j->live, .conn = j->conn };
	gw_ingest_start(&g, &m, &j->res, &j->commit);
	if (!j->commit && j->res.fetching && in->wr && j->parked < MAX_PARKED && !in->stop) {
		/* a did:web document is being fetched: this job waits for it, the worker goes on */
		const char *url = gw_webres_missing();
		j->parked++;
		if (url && gw_webres_wait(in->wr, url, unpark, j) == DC_OK) {
			__atomic_sub_fetch(&in->opening, 1, __ATOMIC_RELAXED);
			pthread_rwlock_unlock(&in->rules_lock);
			gw_ingest_result_clear(&j->res);
			return;
		}
	}
	if (!j->commit)
		gw_ingest_answer(&g, j->live, &j->res);
	pthread_rwlock_unlock(&in->rules_lock);
	if (!j->commit) {
		__atomic_sub_fetch(&in->opening, 1, __ATOMIC_RELAXED);
		job_done(in, j);
		return;
	}
	int big = j->len > SMALL_JOB;
	if (big)
		gw_commit_write_files(j->commit, in->s->q); /* here, in parallel: the commit only names them */
	pthread_mutex_lock(&in->cm_mu);
	if (in->cm_tail[big])
		in->cm_tail[big]->next = j;
	else
		in->cm_head[big] = j;
	in->cm_tail[big] = j;
	in->cm_n[big]++;
	j->next = NULL;
	__atomic_sub_fetch(&in->opening, 1, __ATOMIC_RELAXED);
	pthread_cond_signal(&in->cm_cv);
	pthread_mutex_unlock(&in->cm_mu);
}

/* The queue shares (committer thread): may this job's items go in, with the live items its
 * origin (peer address, topic, mailbox, folder) and its authenticated sender already have,
 * plus what the batch gave them before it? tally: the batch's keys so far. */
struct tally {
	const char *key[2 * MAX_GROUP_ITEMS];
	uint64_t n[2 * MAX_GROUP_ITEMS];
	size_t len;
};

static bool share_ok(struct gw_pool *in, struct tally *t, const struct dc_queue_new_item *it, size_t k,
                     struct dc_errinfo *ei)
{
	const char *keys[2] = { NULL, NULL };
	if (!in->share_max)
		return true; /* share 100: only max_items counts */
	for (size_t i = 0; i < k; i++) /* the inbound's own items (not replies of ours) */
		if (it[i].origin && strcmp(it[i].origin, "reply") != 0) {
			keys[0] = it[i].origin;
			keys[1] = it[i].sender;
			break;
		}
	size_t slot[2] = { SIZE_MAX, SIZE_MAX };
	for (int w = 0; w < 2; w++) {
		if (!keys[w] || !keys[w][0])
			continue;
		for (size_t i = 0; i < t->len && slot[w] == SIZE_MAX; i++)
			if (strcmp(t->key[i], keys[w]) == 0)
				slot[w] = i;
		if (slot[w] == SIZE_MAX && t->len < sizeof t->key / sizeof t->key[0]) {
			uint64_t n = 0;
			struct dc_errinfo qe = { 0 };
			if (dc_queue_share(in->s->q, keys[w], &n, &qe) != DC_OK)
				n = 0; /* the put itself will say what is wrong with the store */
			t->key[t->len] = keys[w];
			t->n[t->len] = n;
			slot[w] = t->len++;
		}
		if (slot[w] != SIZE_MAX && t->n[slot[w]] + k > in->share_max) {
			dc_errinfo_set(ei, DC_ERR_AGAIN, "queue share used up: %s has %llu messages queued (share %llu)",
			               w ? "its sender" : "this peer", (unsigned long long)t->n[slot[w]],
			               (unsigned long long)in->share_max);
			return false;
		}
	}
	for (int w = 0; w < 2; w++)
		if (slot[w] != SIZE_MAX)
			t->n[slot[w]] += k;
	return true;
}

static bool rate_ok(struct gw_pool *in, const char *source);

/* the per_peer_rate again, for the authenticated sender (known only now, after opening): a
 * sender DID spread over many addresses is held to one rate too */
static bool sender_rate_ok(struct gw_pool *in, const struct dc_queue_new_item *it, size_t k, struct dc_errinfo *ei)
{
	const char *sender = NULL;
	for (size_t i = 0; i < k && !sender; i++)
		if (it[i].origin && strcmp(it[i].origin, "reply") != 0)
			sender = it[i].sender;
	if (!sender || !sender[0])
		return true;
	pthread_mutex_lock(&in->mu);
	bool ok = rate_ok(in, sender);
	pthread_mutex_unlock(&in->mu);
	if (!ok)
		dc_errinfo_set(ei, DC_ERR_AGAIN, "queue share: its sender is over per_peer_rate (%.0f a second)",
		               in->rate_per_s);
	return ok;
}

/* one transaction for the batch; if it fails, each message alone (one bad or over-full batch
 * must not fail the others). A message over its queue share is refused before (try later). */
static void commit_batch(struct gw_pool *in, struct job *batch, size_t n_items)
{
	struct dc_queue_new_item items[MAX_GROUP_ITEMS];
	int64_t ids[MAX_GROUP_ITEMS];
	struct dc_errinfo ei = { 0 };
	dc_err rc = DC_ERR_INVAL;
	struct tally t;
	t.len = 0;
	size_t n_ok = 0;
	for (struct job *j = batch; j; j = j->next) {
		const struct dc_queue_new_item *it;
		size_t k;
		gw_commit_items(j->commit, &it, &k);
		memset(&j->share_ei, 0, sizeof j->share_ei);
		j->over_share = !sender_rate_ok(in, it, k, &j->share_ei) || !share_ok(in, &t, it, k, &j->share_ei);
		n_ok += !j->over_share;
	}
	if (n_ok > 1 && n_items <= MAX_GROUP_ITEMS) {
		size_t n = 0;
		for (struct job *j = batch; j; j = j->next) {
			const struct dc_queue_new_item *it;
			size_t k;
			if (j->over_share)
				continue;
			gw_commit_items(j->commit, &it, &k);
			memcpy(&items[n], it, k * sizeof *it);
			n += k;
		}
		rc = dc_queue_put(in->s->q, items, n, ids, &ei);
	}
	size_t off = 0;
	for (struct job *j = batch; j; j = j->next) {
		const struct dc_queue_new_item *it;
		size_t k;
		gw_commit_items(j->commit, &it, &k);
		dc_err jrc = rc;
		struct dc_errinfo jei = { 0 };
		if (j->over_share) {
			gw_ingest_finish(j->commit, DC_ERR_AGAIN, NULL, &j->share_ei, &j->res);
			j->commit = NULL;
			continue;
		}
		if (rc == DC_OK)
			memcpy(j->ids, &ids[off], k * sizeof *ids);
		else
			jrc = dc_queue_put(in->s->q, it, k, j->ids, &jei);
		gw_metrics_queue_write(jrc, jei.msg[0] ? jei.msg : ei.msg);
		off += k;
		gw_ingest_finish(j->commit, jrc, j->ids, &jei, &j->res);
		j->commit = NULL;
	}
}

static void *commit_run(void *arg)
{
	struct gw_pool *in = arg;
	prctl(PR_SET_NAME, "gw-commit", 0, 0, 0);
	for (;;) {
		pthread_mutex_lock(&in->cm_mu);
		while (!in->cm_head[0] && !in->cm_head[1] && !in->cm_stop)
			pthread_cond_wait(&in->cm_cv, &in->cm_mu);
		int big = !in->cm_head[0];
		if (!in->cm_head[big]) {
			pthread_mutex_unlock(&in->cm_mu);
			break; /* stopping, and nothing left */
		}
		/* Group commit: while the workers are still opening messages, wait a little for them,
		 * so that one transaction takes them all. A transaction's commit costs as much as its
		 * inserts (`make bench`: more than half of the committer's time at ~8 messages a
		 * transaction). At most GATHER_US: a message alone waits for nothing. */
		if (!big && in->cm_n[0] < GATHER_JOBS && __atomic_load_n(&in->opening, __ATOMIC_RELAXED) > 0) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += GATHER_US * 1000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			while (!in->cm_stop && in->cm_n[0] < GATHER_JOBS &&
			       __atomic_load_n(&in->opening, __ATOMIC_RELAXED) > 0 &&
			       pthread_cond_timedwait(&in->cm_cv, &in->cm_mu, &until) == 0)
				;
		}
		/* what has gathered, up to the limits (the first message always) */
		struct job *batch = in->cm_head[big], *last = batch;
		size_t n_items = 0, bytes = 0;
		for (struct job *j = batch; j; j = j->next) {
			const struct dc_queue_new_item *it;
			size_t k, b = 0;
			gw_commit_items(j->commit, &it, &k);
			for (size_t i = 0; i < k; i++)
				b += it[i].len;
			if (j != batch && (n_items + k > MAX_GROUP_ITEMS || bytes + b > MAX_GROUP_BYTES))
				break;
			n_items += k;
			bytes += b;
			last = j;
		}
		for (struct job *j = batch;; j = j->next) {
			in->cm_n[big]--;
			if (j == last)
				break;
		}
		in->cm_head[big] = last->next;
		if (!in->cm_head[big])
			in->cm_tail[big] = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&in->cm_mu);

		commit_batch(in, batch, n_items);
		for (struct job *j = batch, *nx; j; j = nx) {
			nx = j->next;
			if (j->res.outcome != GW_ACCEPTED) { /* the commit failed: a problem report, maybe */
				struct gw_ingest_cfg g;
				pthread_rwlock_rdlock(&in->rules_lock);
				gw_state_ingest_cfg(in->s, &g);
				g.dc = in->cm_ctx;
				g.q = in->s->q;
				gw_ingest_answer(&g, j->live, &j->res);
				pthread_rwlock_unlock(&in->rules_lock);
			}
			job_done(in, j);
		}
	}
	return NULL;
}

/* the next job: small ones first, a big one after SMALL_RUN small ones in a row */
static struct job *take(struct gw_pool *in, bool small_only)
{
	bool small = in->shead && (small_only || !in->head || in->small_run < SMALL_RUN);
	struct job **h = small ? &in->shead : &in->head, **t = small ? &in->stail : &in->tail;
	struct job *j = *h;
	if (!j)
		return NULL;
	*h = j->next;
	if (!*h)
		*t = NULL;
	in->small_run = small ? in->small_run + 1 : 0;
	return j;
}

static void *run(void *arg)
{
	struct worker *w = arg;
	struct gw_pool *in = w->in;
	prctl(PR_SET_NAME, "gw-ingest", 0, 0, 0); /* shows in top -H and /proc */
	for (;;) {
		pthread_mutex_lock(&in->mu);
		while (!(w->small_only ? in->shead && in->big_active : (in->head || in->shead)) && !in->stop)
			pthread_cond_wait(w->small_only ? &in->scv : &in->cv, &in->mu);
		struct job *j = take(in, w->small_only);
		if (!j && w->small_only && in->head) {
			pthread_mutex_unlock(&in->mu);
			break; /* stopping: the others finish the big ones */
		}
		if (!j) {
			pthread_mutex_unlock(&in->mu);
			break;
		}
		bool big = j->len > SMALL_JOB;
		if (big && ++in->big_active == 1 && in->shead)
			pthread_cond_signal(&in->scv); /* small ones waiting: the small-only worker helps */
		pthread_mutex_unlock(&in->mu);
		process(w, j);
		if (big) {
			pthread_mutex_lock(&in->mu);
			in->big_active--;
			pthread_mutex_unlock(&in->mu);
		}
	}
	return NULL;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* mu held: may this peer submit one more now? (a token bucket per hash of its address) */
static bool rate_ok(struct gw_pool *in, const char *source)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (const char *p = source; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	size_t b = (size_t)(h % RATE_BUCKETS);
	int64_t now = mono_ms();
	double burst = in->rate_per_s * 2;
	if (in->rate[b].at_ms == 0) {
		in->rate[b].tokens = burst;
	} else {
		in->rate[b].tokens += (double)(now - in->rate[b].at_ms) * in->rate_per_s / 1000.0;
		if (in->rate[b].tokens > burst)
			in->rate[b].tokens = burst;
	}
	in->rate[b].at_ms = now;
	if (in->rate[b].tokens < 1.0)
		return false;
	in->rate[b].tokens -= 1.0;
	return true;
}

dc_err gw_pool_submit(struct gw_pool *in, const char *transport, struct gw_inbound *m, gw_ack_fn *ack, void *arg)
{
	uint8_t *data = m->data;
	m->data = NULL;
	struct job *j = calloc(1, sizeof *j);
	if (!j) {
		free(data);
		return DC_ERR_NOMEM;
	}
	j->in = in;
	snprintf(j->transport, sizeof j->transport, "%s", transport);
	snprintf(j->source, sizeof j->source, "%s", m->source ? m->source : "");
	if ((j->has_media = m->media_type != NULL))
		snprintf(j->media, sizeof j->media, "%s", m->media_type);
	if ((j->has_tag = m->tag != NULL))
		snprintf(j->tag, sizeof j->tag, "%s", m->tag);
	j->live = m->live;
	j->only_ours = m->only_ours;
	j->conn = m->conn;
	j->data = data ? data : malloc(1);
	j->len = m->len;
	j->ack = ack;
	j->arg = arg;
	j->t0_us = gw_metrics_now_us();
	if (!j->data || (m->key && !(j->key = strdup(m->key)))) {
		free(j->data);
		free(j);
		return DC_ERR_NOMEM;
	}
	pthread_mutex_lock(&in->mu);
	if (in->stop || in->n_waiting >= MAX_WAITING || in->bytes_waiting + m->len > MAX_WAITING_BYTES ||
	    gw_loop_draining(in->loop) || !rate_ok(in, j->source)) {
		pthread_mutex_unlock(&in->mu);
		gw_metrics_in_busy(transport);
		free(j->data);
		free(j->key);
		free(j);
		return DC_ERR_AGAIN;
	}
	struct job **h = m->len <= SMALL_JOB ? &in->shead : &in->head, **t = m->len <= SMALL_JOB ? &in->stail : &in->tail;
	if (*t)
		(*t)->next = j;
	else
		*h = j;
	*t = j;
	in->n_waiting++;
	in->bytes_waiting += m->len;
	__atomic_add_fetch(&in->pending, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&in->opening, 1, __ATOMIC_RELAXED);
	pthread_cond_signal(&in->cv);
	if (m->len <= SMALL_JOB && in->big_active)
		pthread_cond_signal(&in->scv);
	pthread_mutex_unlock(&in->mu);
	return DC_OK;
}

size_t gw_pool_pending(struct gw_pool *in)
{
	return __atomic_load_n(&in->pending, __ATOMIC_RELAXED);
}

void gw_pool_set_rules(struct gw_pool *in, struct rule_set *rs)
{
	pthread_rwlock_wrlock(&in->rules_lock);
	struct rule_set *old = in->s->rules;
	in->s->rules = rs;
	pthread_rwlock_unlock(&in->rules_lock);
	rule_set_free(old);
}

static void worker_clear(struct worker *w)
{
	dc_ctx_free(w->ctx);
	dc_resolver_free(w->res);
	w->ctx = NULL;
	w->res = NULL;
}

dc_err gw_pool_new(struct gw_state *s, unsigned n, struct gw_loop *loop, struct gw_dispatcher *disp,
                   const struct gw_netpolicy *np, struct gw_pool **out, struct dc_errinfo *ei)
{
	*out = NULL;
	if (n == 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		n = cpus < 1 ? 1 : cpus > 16 ? 16 : (unsigned)cpus;
	}
	n++; /* plus one for small messages only */
	if (n > MAX_WORKERS)
		n = MAX_WORKERS;
	struct gw_pool *in = calloc(1, sizeof *in);
	if (!in)
		return DC_ERR_NOMEM;
	in->s = s;
	in->loop = loop;
	in->disp = disp;
	in->rate_per_s = s->conf.per_peer_rate ? s->conf.per_peer_rate : 2000;
	unsigned pct = s->conf.queue_share ? s->conf.queue_share : 100;
	in->share_max = pct >= 100 ? 0 : (uint64_t)s->conf.queue_max_items * pct / 100; /* 0: no shares */
	if (pct < 100 && in->share_max < 1)
		in->share_max = 1;
	struct gw_webres_cfg wc;
	gw_webres_cfg_default(&wc);
	wc.np = np;
	if (gw_seen_new(65536, &in->seen) || gw_webres_new(&wc, &in->wr)) {
		gw_seen_free(in->seen);
		free(in);
		return DC_ERR_NOMEM;
	}
	pthread_mutex_init(&in->mu, NULL);
	pthread_cond_init(&in->cv, NULL);
	pthread_cond_init(&in->scv, NULL);
	pthread_mutex_init(&in->cm_mu, NULL);
	pthread_cond_init(&in->cm_cv, NULL);
	pthread_rwlock_init(&in->rules_lock, NULL);
	struct dc_limits lim;
	dc_ctx_get_limits(s->ctx, &lim);
	if (dc_resolver_new(64, &in->cm_res) || dc_ctx_new(in->cm_res, s->ks, &in->cm_ctx)) {
		gw_pool_free(in);
		return dc_errinfo_set(ei, DC_ERR_NOMEM, "committer: out of memory");
	}
	dc_resolver_set_fetch(in->cm_res, gw_webres_fetch, in->wr);
	dc_resolver_set_web_ttl(in->cm_res, 0);
	dc_ctx_set_limits(in->cm_ctx, &lim);
	if (pthread_create(&in->cm_th, NULL, commit_run, in) != 0) {
		gw_pool_free(in);
		return dc_errinfo_set(ei, DC_ERR_NOMEM, "committer: cannot start a thread");
	}
	in->cm_started = true;
	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &in->w[i];
		w->in = in;
		w->small_only = i == n - 1 && n > 1;
		in->n = i + 1;
		if (dc_resolver_new(1024, &w->res) || dc_ctx_new(w->res, s->ks, &w->ctx)) {
			gw_pool_free(in);
			return dc_errinfo_set(ei, DC_ERR_NOMEM, "worker %u: out of memory", i);
		}
		dc_resolver_set_fetch(w->res, gw_webres_fetch, in->wr);
		dc_resolver_set_web_ttl(w->res, 0);
		dc_ctx_set_limits(w->ctx, &lim);
		if (pthread_create(&w->th, NULL, run, w) != 0) {
			gw_pool_free(in);
			return dc_errinfo_set(ei, DC_ERR_NOMEM, "worker %u: cannot start a thread", i);
		}
		w->started = true;
	}
	*out = in;
	return DC_OK;
}

void gw_pool_free(struct gw_pool *in)
{
	if (!in)
		return;
	pthread_mutex_lock(&in->mu);
	in->stop = true;
	pthread_cond_broadcast(&in->cv);
	pthread_cond_broadcast(&in->scv);
	pthread_mutex_unlock(&in->mu);
	/* jobs waiting for did:web fetches come back to the queue now; the workers finish them */
	gw_webres_free(in->wr);
	in->wr = NULL;
	for (unsigned i = 0; i < in->n; i++) {
		if (in->w[i].started)
			pthread_join(in->w[i].th, NULL);
		worker_clear(&in->w[i]);
	}
	/* the workers are gone: the committer commits what they left, then stops */
	pthread_mutex_lock(&in->cm_mu);
	in->cm_stop = true;
	pthread_cond_signal(&in->cm_cv);
	pthread_mutex_unlock(&in->cm_mu);
	if (in->cm_started)
		pthread_join(in->cm_th, NULL);
	dc_ctx_free(in->cm_ctx);
	dc_resolver_free(in->cm_res);
	gw_seen_free(in->seen);
	pthread_rwlock_destroy(&in->rules_lock);
	pthread_cond_destroy(&in->cm_cv);
	pthread_mutex_destroy(&in->cm_mu);
	pthread_cond_destroy(&in->cv);
	pthread_cond_destroy(&in->scv);
	pthread_mutex_destroy(&in->mu);
	free(in);
}

struct dc_queue *gw_pool_queue(struct gw_pool *p)
{
	return p->s->q;
}

struct gw_dispatcher *gw_pool_dispatcher(struct gw_pool *p)
{
	return p ? p->disp : NULL;
}
