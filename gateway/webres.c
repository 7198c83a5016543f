/* did:web documents fetched off the ingest workers (see webres.h).
 *
 * One mutex guards the cache, the hosts, the queue of fetches and the lists of waiters; it is
 * never held across a libcurl transfer or a ready() call. Each fetcher thread owns a curl
 * multi handle: it takes queued fetches whose host has a free slot, runs them all at once,
 * and sleeps in curl_multi_poll, which gw_webres_fetch/wait interrupt with curl_multi_wakeup
 * when there is new work. An entry being fetched (PENDING) is never evicted; the job that
 * fetches it points at it until it ends. */
#include "webres.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define URL_MAX 2048
#define WHY_MAX 256
#define MAX_THREADS 16
#define HOST_MAX 300

enum ent_state { E_PENDING, E_OK, E_FAIL };

struct waiter {
	struct waiter *next;
	void (*ready)(void *arg);
	void *arg;
};

struct host {
	struct host *next;
	unsigned active;        /* transfers in flight */
	size_t queued;          /* fetches waiting */
	char key[];             /* "host:port", lower case */
};

struct entry {
	struct entry *hnext;            /* hash chain */
	struct entry *newer, *older;    /* LRU list */
	uint64_t hash;
	enum ent_state st;
	char *body;
	size_t len;
	int64_t expires;                /* CLOCK_MONOTONIC ms; done entries only */
	struct waiter *waiters;         /* PENDING: called when it ends */
	char why[WHY_MAX];              /* E_FAIL */
	char url[];
};

struct fetcher;
struct job {
	struct job *next;               /* in the queue, or in its fetcher's list */
	struct entry *e;
	struct host *h;
	struct fetcher *f;
	CURL *easy;
	struct gw_netpolicy_curl pol;
	char *buf;
	size_t len, max;
	bool too_big;
	char err[CURL_ERROR_SIZE];
};

struct fetcher {
	struct gw_webres *wr;
	pthread_t th;
	bool started;
	CURLM *m;
	struct job *jobs;               /* in flight on this thread */
	unsigned active;
};

struct gw_webres {
	struct gw_webres_cfg cfg;
	pthread_mutex_t mu;
	bool stop;
	struct entry **buckets;
	size_t n_buckets;               /* a power of two */
	size_t n_entries, bytes;
	struct entry *newest, *oldest;
	struct host *hosts;
	struct job *q_head, *q_tail;
	size_t n_queued;
	unsigned n_active;
	struct waiter *ready;           /* to be called soon by a fetcher thread */
	struct fetcher f[MAX_THREADS];
	unsigned n_f;
	bool curl_inited;
	struct gw_webres_stats st;
};

static _Thread_local char tl_missing[URL_MAX + 1];
static _Thread_local bool tl_has_missing;
static _Thread_local char tl_why[WHY_MAX];

const char *gw_webres_missing(void)
{
	return tl_has_missing ? tl_missing : NULL;
}

const char *gw_webres_why(void)
{
	return tl_why;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void gw_webres_cfg_default(struct gw_webres_cfg *c)
{
	if (!c->ttl_ms)
		c->ttl_ms = 300000;
	if (!c->neg_ttl_ms)
		c->neg_ttl_ms = 60000;
	if (!c->max_entries)
		c->max_entries = 4096;
	if (!c->max_bytes)
		c->max_bytes = 64u << 20;
	if (!c->max_body)
		c->max_body = 1u << 20;
	if (!c->deadline_ms)
		c->deadline_ms = 5000;
	if (!c->threads)
		c->threads = 2;
	if (!c->per_host)
		c->per_host = 2;
	if (!c->max_active)
		c->max_active = 32;
	if (!c->max_queued)
		c->max_queued = 1024;
	if (!c->max_queued_per_host)
		c->max_queued_per_host = 32;
}

/* ---- cache --------------------------------------------------------------------------------- */

static uint64_t hash_of(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static struct entry *lookup(struct gw_webres *wr, const char *url, uint64_t h)
{
	for (struct entry *e = wr->buckets[h & (wr->n_buckets - 1)]; e; e = e->hnext)
		if (e->hash == h && strcmp(e->url, url) == 0)
			return e;
	return NULL;
}

static void lru_unlink(struct gw_webres *wr, struct entry *e)
{
	if (e->newer)
		e->newer->older = e->older;
	else
		wr->newest = e->older;
	if (e->older)
		e->older->newer = e->newer;
	else
		wr->oldest = e->newer;
	e->newer = e->older = NULL;
}

static void lru_front(struct gw_webres *wr, struct entry *e)
{
	if (wr->newest == e)
		return;
	if (e->newer || e->older || wr->oldest == e)
		lru_unlink(wr, e);
	e->older = wr->newest;
	if (wr->newest)
		wr->newest->newer = e;
	wr->newest = e;
	if (!wr->oldest)
		wr->oldest = e;
}

static void entry_drop_body(struct gw_webres *wr, struct entry *e)
{
	wr->bytes -= e->len;
	free(e->body);
	e->body = NULL;
	e->len = 0;
}

static void entry_remove(struct gw_webres *wr, struct entry *e)
{
	struct entry **p = &wr->buckets[e->hash & (wr->n_buckets - 1)];
	while (*p != e)
		p = &(*p)->hnext;
	*p = e->hnext;
	lru_unlink(wr, e);
	entry_drop_body(wr, e);
	wr->n_entries--;
	free(e);
}

/* Evict the least recently used finished entries (never keep, never a PENDING one) until
 * there is room for `add` more entries and the bodies fit in max_bytes. */
static void evict(struct gw_webres *wr, size_t add, const struct entry *keep)
{
	struct entry *e = wr->oldest;
	while (e && (wr->n_entries + add > wr->cfg.max_entries || wr->bytes > wr->cfg.max_bytes)) {
		struct entry *nx = e->newer;
		if (e != keep && e->st != E_PENDING)
			entry_remove(wr, e);
		e = nx;
	}
}

/* ---- hosts and the queue ------------------------------------------------------------------- */

/* "host:port" of an http(s) URL, lower case; false if there is none */
static bool host_key(const char *url, char *out, size_t cap)
{
	bool tls = strncmp(url, "https://", 8) == 0;
	if (!tls && strncmp(url, "http://", 7) != 0)
		return false;
	const char *h = url + (tls ? 8 : 7);
	size_t n = strcspn(h, "/?#");
	if (n == 0 || n + 7 >= cap)
		return false;
	for (size_t i = 0; i < n; i++)
		out[i] = (h[i] >= 'A' && h[i] <= 'Z') ? (char)(h[i] - 'A' + 'a') : h[i];
	out[n] = 0;
	const char *colon = strrchr(out, ':');
	if (!colon || strchr(colon, ']')) /* no port (an IPv6 literal has colons inside []) */
		snprintf(out + n, cap - n, ":%s", tls ? "443" : "80");
	return true;
}

static struct host *host_get(struct gw_webres *wr, const char *key)
{
	for (struct host *h = wr->hosts; h; h = h->next)
		if (strcmp(h->key, key) == 0)
			return h;
	size_t kl = strlen(key);
	struct host *h = calloc(1, sizeof *h + kl + 1);
	if (!h)
		return NULL;
	memcpy(h->key, key, kl + 1);
	h->next = wr->hosts;
	wr->hosts = h;
	return h;
}

static void host_release(struct gw_webres *wr, struct host *h)
{
	if (h->active || h->queued)
		return;
	struct host **p = &wr->hosts;
	while (*p != h)
		p = &(*p)->next;
	*p = h->next;
	free(h);
}

static void wake(struct gw_webres *wr)
{
	for (unsigned i = 0; i < wr->n_f; i++)
		if (wr->f[i].m)
			curl_multi_wakeup(wr->f[i].m);
}

/* Under mu: queue a fetch of url, into e (an expired entry) or a new entry. NULL with why set
 * when there is no room. */
static struct entry *start_fetch(struct gw_webres *wr, struct entry *e, const char *url, uint64_t hash, char *why,
                                 size_t why_len)
{
	char key[HOST_MAX];
	if (!host_key(url, key, sizeof key)) {
		snprintf(why, why_len, "did:web: %.200s is not an http(s) URL", url);
		return NULL;
	}
	if (wr->n_queued >= wr->cfg.max_queued) {
		snprintf(why, why_len, "did:web: too many fetches waiting (%zu)", wr->n_queued);
		return NULL;
	}
	struct host *h = host_get(wr, key);
	struct job *j = calloc(1, sizeof *j);
	if (!h || !j) {
		free(j);
		if (h)
			host_release(wr, h);
		snprintf(why, why_len, "did:web: out of memory");
		return NULL;
	}
	if (h->queued >= wr->cfg.max_queued_per_host) {
		free(j);
		snprintf(why, why_len, "did:web: too many fetches waiting for %.200s", key);
		return NULL;
	}
	if (!e) {
		evict(wr, 1, NULL);
		size_t ul = strlen(url);
		if (wr->n_entries >= wr->cfg.max_entries || !(e = calloc(1, sizeof *e + ul + 1))) {
			free(j);
			host_release(wr, h);
			snprintf(why, why_len, "did:web: no room for another fetch");
			return NULL;
		}
		memcpy(e->url, url, ul + 1);
		e->hash = hash;
		e->hnext = wr->buckets[hash & (wr->n_buckets - 1)];
		wr->buckets[hash & (wr->n_buckets - 1)] = e;
		wr->n_entries++;
	}
	entry_drop_body(wr, e);
	e->st = E_PENDING;
	e->why[0] = 0;
	lru_front(wr, e);
	j->e = e;
	j->h = h;
	h->queued++;
	if (wr->q_tail)
		wr->q_tail->next = j;
	else
		wr->q_head = j;
	wr->q_tail = j;
	wr->n_queued++;
	wr->st.fetches++;
	wake(wr);
	return e;
}

/* Under mu: the first queued fetch whose host has a free slot. */
static struct job *pick(struct gw_webres *wr)
{
	if (wr->n_active >= wr->cfg.max_active)
		return NULL;
	struct job *prev = NULL;
	for (struct job *j = wr->q_head; j; prev = j, j = j->next) {
		if (j->h->active >= wr->cfg.per_host)
			continue;
		if (prev)
			prev->next = j->next;
		else
			wr->q_head = j->next;
		if (wr->q_tail == j)
			wr->q_tail = prev;
		j->next = NULL;
		wr->n_queued--;
		j->h->queued--;
		j->h->active++;
		wr->n_active++;
		return j;
	}
	return NULL;
}

/* ---- the fetch callback -------------------------------------------------------------------- */

dc_err gw_webres_fetch(void *arg, const char *url, size_t max, char **body, size_t *len)
{
	struct gw_webres *wr = arg;
	if (body)
		*body = NULL;
	if (len)
		*len = 0;
	tl_has_missing = false;
	tl_why[0] = 0;
	if (!wr || !url || !body || !len)
		return DC_ERR_INVAL;
	size_t ul = strnlen(url, URL_MAX + 1);
	if (ul > URL_MAX) {
		snprintf(tl_why, sizeof tl_why, "did:web: URL longer than %d", URL_MAX);
		return DC_ERR_RESOLVE;
	}
	uint64_t h = hash_of(url);
	dc_err rc;
	pthread_mutex_lock(&wr->mu);
	struct entry *e = wr->stop ? NULL : lookup(wr, url, h);
	if (wr->stop) {
		snprintf(tl_why, sizeof tl_why, "did:web: shutting down");
		rc = DC_ERR_RESOLVE;
	} else if (e && e->st != E_PENDING && now_ms() >= e->expires) {
		wr->st.misses++;
		rc = start_fetch(wr, e, url, h, tl_why, sizeof tl_why) ? DC_ERR_AGAIN : DC_ERR_RESOLVE;
	} else if (!e) {
		wr->st.misses++;
		rc = start_fetch(wr, NULL, url, h, tl_why, sizeof tl_why) ? DC_ERR_AGAIN : DC_ERR_RESOLVE;
	} else if (e->st == E_PENDING) {
		rc = DC_ERR_AGAIN;
	} else if (e->st == E_FAIL) {
		wr->st.neg_hits++;
		snprintf(tl_why, sizeof tl_why, "%s", e->why);
		rc = DC_ERR_RESOLVE;
	} else if (e->len > max) {
		snprintf(tl_why, sizeof tl_why, "did:web: %.200s: over %zu bytes", url, max);
		rc = DC_ERR_TOO_BIG;
	} else if (!(*body = malloc(e->len + 1))) {
		rc = DC_ERR_NOMEM;
	} else {
		wr->st.hits++;
		memcpy(*body, e->body, e->len);
		(*body)[e->len] = 0;
		*len = e->len;
		lru_front(wr, e);
		rc = DC_OK;
	}
	pthread_mutex_unlock(&wr->mu);
	if (rc == DC_ERR_AGAIN) {
		memcpy(tl_missing, url, ul + 1);
		tl_has_missing = true;
	}
	return rc;
}

dc_err gw_webres_wait(struct gw_webres *wr, const char *url, void (*ready)(void *arg), void *arg)
{
	if (!wr || !url || !ready)
		return DC_ERR_INVAL;
	if (strnlen(url, URL_MAX + 1) > URL_MAX)
		return DC_ERR_INVAL;
	struct waiter *w = calloc(1, sizeof *w);
	if (!w)
		return DC_ERR_NOMEM;
	w->ready = ready;
	w->arg = arg;
	uint64_t h = hash_of(url);
	char why[WHY_MAX];
	dc_err rc = DC_OK;
	pthread_mutex_lock(&wr->mu);
	struct entry *e = lookup(wr, url, h);
	if (wr->stop) {
		rc = DC_ERR_AGAIN;
	} else if (!e && !(e = start_fetch(wr, NULL, url, h, why, sizeof why))) {
		rc = DC_ERR_AGAIN;
	} else if (e->st == E_PENDING) {
		w->next = e->waiters;
		e->waiters = w;
	} else { /* over already: soon, from a fetcher thread */
		w->next = wr->ready;
		wr->ready = w;
		wake(wr);
	}
	pthread_mutex_unlock(&wr->mu);
	if (rc)
		free(w);
	return rc;
}

void gw_webres_stats(struct gw_webres *wr, struct gw_webres_stats *out)
{
	pthread_mutex_lock(&wr->mu);
	*out = wr->st;
	out->entries = wr->n_entries;
	out->bytes = wr->bytes;
	out->queued = wr->n_queued;
	out->active = wr->n_active;
	pthread_mutex_unlock(&wr->mu);
}

/* ---- the fetcher threads ------------------------------------------------------------------- */

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct job *j = arg;
	size_t n = size * nmemb;
	if (n > j->max - j->len) {
		j->too_big = true;
		return 0;
	}
	char *nb = realloc(j->buf, j->len + n + 1);
	if (!nb)
		return 0;
	j->buf = nb;
	memcpy(j->buf + j->len, p, n);
	j->len += n;
	j->buf[j->len] = 0;
	return n;
}

static void run_waiters(struct waiter *w)
{
	while (w) {
		struct waiter *nx = w->next;
		w->ready(w->arg);
		free(w);
		w = nx;
	}
}

/* The transfer of j ended (or never started: easy NULL); record the outcome, wake its waiters. */
static void finish(struct fetcher *f, struct job *j, CURLcode cr)
{
	struct gw_webres *wr = f->wr;
	long status = 0;
	char why[WHY_MAX] = "";
	const char *url = j->e->url;
	if (j->easy) {
		curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
		curl_multi_remove_handle(f->m, j->easy);
		curl_easy_cleanup(j->easy);
		j->easy = NULL;
	} else {
		cr = CURLE_OUT_OF_MEMORY;
	}
	bool ok = false;
	if (j->pol.refused)
		snprintf(why, sizeof why, "did:web: %.100s: %.140s", url, j->pol.why);
	else if (j->too_big || cr == CURLE_FILESIZE_EXCEEDED)
		snprintf(why, sizeof why, "did:web: %.200s: the document is over %zu bytes", url, j->max);
	else if (cr == CURLE_OPERATION_TIMEDOUT)
		snprintf(why, sizeof why, "did:web: %.200s: no answer within %u ms", url, wr->cfg.deadline_ms);
	else if (cr != CURLE_OK)
		snprintf(why, sizeof why, "did:web: %.100s: %.140s", url, j->err[0] ? j->err : curl_easy_strerror(cr));
	else if (status != 200)
		snprintf(why, sizeof why, "did:web: %.200s: HTTP status %ld", url, status);
	else
		ok = true;
	pthread_mutex_lock(&wr->mu);
	struct entry *e = j->e;
	if (ok) {
		e->st = E_OK;
		e->body = j->buf ? j->buf : strdup("");
		e->len = j->buf ? j->len : 0;
		j->buf = NULL;
		if (!e->body) {
			e->st = E_FAIL;
			snprintf(e->why, sizeof e->why, "did:web: out of memory");
		}
		wr->bytes += e->len;
		e->expires = now_ms() + wr->cfg.ttl_ms;
	} else {
		e->st = E_FAIL;
		snprintf(e->why, sizeof e->why, "%s", why);
		e->expires = now_ms() + wr->cfg.neg_ttl_ms;
	}
	struct waiter *w = e->waiters;
	e->waiters = NULL;
	j->h->active--;
	wr->n_active--;
	f->active--;
	host_release(wr, j->h);
	evict(wr, 0, e);
	pthread_mutex_unlock(&wr->mu);
	free(j->buf);
	free(j);
	run_waiters(w);
}

static CURL *easy_for(struct gw_webres *wr, struct job *j)
{
	CURL *c = curl_easy_init();
	if (!c)
		return NULL;
	j->max = wr->cfg.max_body;
	curl_easy_setopt(c, CURLOPT_URL, (const char *)j->e->url); /* the URL never changes while PENDING */
	curl_easy_setopt(c, CURLOPT_PRIVATE, j);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)wr->cfg.deadline_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)wr->cfg.deadline_ms);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)j->max);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, j->err);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "didcomm-gateway");
	gw_netpolicy_curl(c, wr->cfg.np, true, &j->pol);
	return c;
}

static void *fetcher_main(void *arg)
{
	struct fetcher *f = arg;
	struct gw_webres *wr = f->wr;
	for (;;) {
		struct job *started = NULL;
		pthread_mutex_lock(&wr->mu);
		if (wr->stop) {
			pthread_mutex_unlock(&wr->mu);
			break;
		}
		struct waiter *rd = wr->ready;
		wr->ready = NULL;
		struct job *j;
		while ((j = pick(wr))) {
			j->f = f;
			f->active++;
			j->next = started;
			started = j;
		}
		pthread_mutex_unlock(&wr->mu);
		run_waiters(rd);
		while ((j = started)) {
			started = j->next;
			j->easy = easy_for(wr, j);
			if (!j->easy || curl_multi_add_handle(f->m, j->easy) != CURLM_OK) {
				finish(f, j, CURLE_OUT_OF_MEMORY);
				continue;
			}
			j->next = f->jobs;
			f->jobs = j;
		}
		int running = 0;
		curl_multi_perform(f->m, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(f->m, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			CURLcode cr = msg->data.result;
			struct job *dj = NULL;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&dj);
			struct job **p = &f->jobs;
			while (*p && *p != dj)
				p = &(*p)->next;
			if (*p)
				*p = dj->next;
			finish(f, dj, cr);
		}
		curl_multi_poll(f->m, NULL, 0, 1000, NULL);
	}
	/* stopping: abandon the transfers; gw_webres_free answers their waiters */
	for (struct job *j = f->jobs, *nx; j; j = nx) {
		nx = j->next;
		curl_multi_remove_handle(f->m, j->easy);
		curl_easy_cleanup(j->easy);
		pthread_mutex_lock(&wr->mu);
		snprintf(j->e->why, sizeof j->e->why, "did:web: shutting down");
		j->h->active--;
		wr->n_active--;
		host_release(wr, j->h);
		pthread_mutex_unlock(&wr->mu);
		free(j->buf);
		free(j);
	}
	f->jobs = NULL;
	return NULL;
}

dc_err gw_webres_new(const struct gw_webres_cfg *cfg, struct gw_webres **out)
{
	if (!out)
		return DC_ERR_INVAL;
	*out = NULL;
	struct gw_webres *wr = calloc(1, sizeof *wr);
	if (!wr)
		return DC_ERR_NOMEM;
	if (cfg)
		wr->cfg = *cfg;
	gw_webres_cfg_default(&wr->cfg);
	if (wr->cfg.threads > MAX_THREADS)
		wr->cfg.threads = MAX_THREADS;
	if (wr->cfg.max_body > wr->cfg.max_bytes)
		wr->cfg.max_bytes = wr->cfg.max_body;
	dc_err rc = DC_OK;
	wr->n_buckets = 16;
	while (wr->n_buckets < wr->cfg.max_entries && wr->n_buckets < ((size_t)1 << 24))
		wr->n_buckets <<= 1;
	if (pthread_mutex_init(&wr->mu, NULL) != 0) {
		free(wr);
		return DC_ERR_NOMEM;
	}
	wr->curl_inited = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
	if (!(wr->buckets = calloc(wr->n_buckets, sizeof *wr->buckets))) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	for (unsigned i = 0; i < wr->cfg.threads; i++) {
		wr->f[i].wr = wr;
		if (!(wr->f[i].m = curl_multi_init())) {
			rc = DC_ERR_NOMEM;
			goto out;
		}
		wr->n_f = i + 1;
	}
	for (unsigned i = 0; i < wr->n_f; i++) {
		if (pthread_create(&wr->f[i].th, NULL, fetcher_main, &wr->f[i]) != 0) {
			rc = DC_ERR_NOMEM;
			goto out;
		}
		wr->f[i].started = true;
	}
out:
	if (rc) {
		gw_webres_free(wr);
		return rc;
	}
	*out = wr;
	return DC_OK;
}

void gw_webres_free(struct gw_webres *wr)
{
	if (!wr)
		return;
	pthread_mutex_lock(&wr->mu);
	wr->stop = true;
	wake(wr);
	pthread_mutex_unlock(&wr->mu);
	for (unsigned i = 0; i < wr->n_f; i++)
		if (wr->f[i].started)
			pthread_join(wr->f[i].th, NULL);
	for (unsigned i = 0; i < wr->n_f; i++)
		curl_multi_cleanup(wr->f[i].m);
	/* The threads are gone. Every waiter gets its call; meanwhile gw_webres_fetch and
	 * gw_webres_wait refuse (stop is set) and touch nothing else. */
	pthread_mutex_lock(&wr->mu);
	struct waiter *w = wr->ready;
	wr->ready = NULL;
	for (struct entry *e = wr->newest; e; e = e->older) {
		struct waiter **tail = &e->waiters;
		while (*tail)
			tail = &(*tail)->next;
		*tail = w;
		w = e->waiters;
		e->waiters = NULL;
	}
	pthread_mutex_unlock(&wr->mu);
	run_waiters(w);
	for (struct job *j = wr->q_head, *nx; j; j = nx) {
		nx = j->next;
		free(j);
	}
	for (struct entry *e = wr->newest, *nx; e; e = nx) {
		nx = e->older;
		free(e->body);
		free(e);
	}
	for (struct host *h = wr->hosts, *nx; h; h = nx) {
		nx = h->next;
		free(h);
	}
	free(wr->buckets);
	pthread_mutex_destroy(&wr->mu);
	if (wr->curl_inited)
		curl_global_cleanup();
	free(wr);
}
