/* The mediator (see mediator.h). */
#include "mediator.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "log.h"
#include "mediation.h"

#define BUCKETS 4096          /* mailbox cache: chained, by hash */
#define MAX_ALLOW 100000      /* DIDs in an allow file */
#define LIVE_BATCH 100        /* messages in one live delivery */
#define LIVE_INFLIGHT 4       /* live deliveries on their way to one connection */
#define MAX_SESSIONS 100000
#define LIVE_BACKOFF_MS 100   /* a connection with too much unread is pushed to again after this */

const char *const gw_med_protocols[] = { DC_MED_PIURI_CM3, DC_MED_PIURI_CM2, DC_MED_PIURI_PICKUP3, NULL };

enum policy { P_OPEN, P_CLOSED, P_ALLOW };

struct box {
	struct box *next;
	char *mailbox, *client;
	unsigned refs;            /* recipients registered with this mailbox */
};

struct session {
	struct session *next;     /* every session (the pusher's walk) */
	struct session *hnext;    /* in its hash bucket (lookups by client) */
	char *client;
	char transport[16];
	uint64_t conn;
	int64_t last_id;          /* pushed up to here */
	unsigned inflight;
	bool dirty, gone;
	int64_t not_before;       /* after a "too much unread": the next push waits until then */
	uint64_t gen;             /* changes when the session moves to another connection */
};

struct push_ctx {
	struct gw_med *m;
	struct session *s;
	uint64_t gen;
	int64_t first_id;
	uint8_t *data;
};

struct gw_med {
	struct dc_queue *q;
	char *our_did;
	enum policy policy;
	char **allow;             /* sorted */
	size_t n_allow;
	int64_t hold_ms;
	pthread_rwlock_t lock;    /* the cache */
	struct box *b[BUCKETS];
	/* live delivery */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct session *sessions;
	struct session *sb[BUCKETS];
	size_t n_sessions;
	bool started, stop, joined;
	pthread_t th;
	struct dc_resolver *res;
	struct dc_ctx *ctx;
	gw_med_push_fn *push;
	void *push_arg;
	size_t max_push_bytes;
};

static size_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (size_t)(h % BUCKETS);
}

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

/* the DID of a DID or DID URL (malloc'd), or NULL */
static char *did_of(const char *s)
{
	if (!s || strncmp(s, "did:", 4) != 0)
		return NULL;
	return strndup(s, strcspn(s, "#?/"));
}

/* lock held (write) */
static void cache_add(struct gw_med *m, const char *mailbox, const char *client)
{
	size_t h = hash(mailbox);
	for (struct box *b = m->b[h]; b; b = b->next)
		if (strcmp(b->mailbox, mailbox) == 0) {
			b->refs++;
			return;
		}
	struct box *b = calloc(1, sizeof *b);
	if (!b || !(b->mailbox = strdup(mailbox)) || !(b->client = strdup(client))) {
		if (b)
			free(b->mailbox);
		free(b);
		return; /* out of memory: forwards to it are left to the rules until the next start */
	}
	b->refs = 1;
	b->next = m->b[h];
	m->b[h] = b;
}

static void cache_del(struct gw_med *m, const char *mailbox)
{
	for (struct box **pp = &m->b[hash(mailbox)]; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->mailbox, mailbox) == 0) {
			struct box *b = *pp;
			if (--b->refs == 0) {
				*pp = b->next;
				free(b->mailbox);
				free(b->client);
				free(b);
			}
			return;
		}
}

static void each_cb(void *arg, const char *mailbox, const char *client)
{
	cache_add(arg, mailbox, client);
}

/* the client of a mailbox (copied into buf), or false */
static bool owner_of(struct gw_med *m, const char *mailbox, char **client)
{
	*client = NULL;
	pthread_rwlock_rdlock(&m->lock);
	for (struct box *b = m->b[hash(mailbox)]; b; b = b->next)
		if (strcmp(b->mailbox, mailbox) == 0) {
			*client = strdup(b->client);
			break;
		}
	pthread_rwlock_unlock(&m->lock);
	return *client != NULL;
}

bool gw_med_holds(struct gw_med *m, const char *did)
{
	if (!m || !did)
		return false;
	pthread_rwlock_rdlock(&m->lock);
	bool found = false;
	for (struct box *b = m->b[hash(did)]; b && !found; b = b->next)
		found = strcmp(b->mailbox, did) == 0;
	pthread_rwlock_unlock(&m->lock);
	return found;
}

int64_t gw_med_hold_ms(const struct gw_med *m)
{
	return m->hold_ms;
}

bool gw_med_policy_ok(const char *policy, char *why, size_t n)
{
	if (!policy || strcmp(policy, "open") == 0 || strcmp(policy, "closed") == 0)
		return true;
	if (strncmp(policy, "allow", 5) == 0 && (policy[5] == ' ' || policy[5] == '\t')) {
		const char *f = policy + 6;
		while (*f == ' ' || *f == '\t')
			f++;
		if (*f)
			return true;
	}
	snprintf(why, n, "policy: open, closed or allow FILE, not \"%.100s\"", policy);
	return false;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static dc_err load_allow(struct gw_med *m, const char *path, struct dc_errinfo *ei)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return dc_errinfo_set(ei, DC_ERR_IO, "[mediator] policy allow %.200s: %s", path, strerror(errno));
	char line[DC_MED_MAX_DID + 8];
	size_t cap = 0;
	unsigned no = 0;
	dc_err rc = DC_OK;
	while (rc == DC_OK && fgets(line, sizeof line, f)) {
		no++;
		char *s = line, *e;
		while (*s == ' ' || *s == '\t')
			s++;
		if ((e = strchr(s, '#')))
			*e = 0;
		e = s + strlen(s);
		while (e > s && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			*--e = 0;
		if (!*s)
			continue;
		if (strncmp(s, "did:", 4) != 0 || strpbrk(s, " \t")) {
			rc = dc_errinfo_set(ei, DC_ERR_MALFORMED, "%.200s:%u: not a DID", path, no);
			break;
		}
		if (m->n_allow == MAX_ALLOW) {
			rc = dc_errinfo_set(ei, DC_ERR_TOO_BIG, "%.200s: more than %d DIDs", path, MAX_ALLOW);
			break;
		}
		if (m->n_allow == cap) {
			size_t nc = cap ? cap * 2 : 64;
			char **na = realloc(m->allow, nc * sizeof *na);
			if (!na) {
				rc = DC_ERR_NOMEM;
				break;
			}
			m->allow = na;
			cap = nc;
		}
		char *d = did_of(s);
		if (!d) {
			rc = DC_ERR_NOMEM;
			break;
		}
		m->allow[m->n_allow++] = d;
	}
	fclose(f);
	if (rc == DC_OK && m->n_allow)
		qsort(m->allow, m->n_allow, sizeof *m->allow, cmp_str);
	return rc;
}

dc_err gw_med_new(struct dc_queue *q, const char *our_did, const char *policy, int64_t hold_ms, struct gw_med **out,
                  struct dc_errinfo *ei)
{
	*out = NULL;
	char why[200];
	if (!gw_med_policy_ok(policy, why, sizeof why))
		return dc_errinfo_set(ei, DC_ERR_MALFORMED, "[mediator] %s", why);
	struct gw_med *m = calloc(1, sizeof *m);
	if (!m || !(m->our_did = strdup(our_did))) {
		free(m);
		return DC_ERR_NOMEM;
	}
	m->q = q;
	m->hold_ms = hold_ms > 0 ? hold_ms : INT64_C(72) * 3600 * 1000;
	pthread_rwlock_init(&m->lock, NULL);
	pthread_mutex_init(&m->mu, NULL);
	pthread_cond_init(&m->cv, NULL);
	m->policy = !policy || strcmp(policy, "open") == 0 ? P_OPEN : strcmp(policy, "closed") == 0 ? P_CLOSED : P_ALLOW;
	dc_err rc = DC_OK;
	if (m->policy == P_ALLOW) {
		const char *f = policy + 6;
		while (*f == ' ' || *f == '\t')
			f++;
		rc = load_allow(m, f, ei);
	}
	if (rc == DC_OK) {
		pthread_rwlock_wrlock(&m->lock);
		rc = dc_queue_med_each(q, each_cb, m, ei);
		pthread_rwlock_unlock(&m->lock);
	}
	if (rc) {
		gw_med_free(m);
		return rc;
	}
	*out = m;
	return DC_OK;
}

void gw_med_stop(struct gw_med *m)
{
	if (!m || !m->started || m->joined)
		return;
	pthread_mutex_lock(&m->mu);
	m->stop = true;
	pthread_cond_broadcast(&m->cv);
	pthread_mutex_unlock(&m->mu);
	pthread_join(m->th, NULL);
	m->joined = true;
}

void gw_med_free(struct gw_med *m)
{
	if (!m)
		return;
	gw_med_stop(m);
	for (struct session *s = m->sessions, *n; s; s = n) {
		n = s->next;
		free(s->client);
		free(s);
	}
	for (size_t i = 0; i < BUCKETS; i++)
		for (struct box *b = m->b[i], *n; b; b = n) {
			n = b->next;
			free(b->mailbox);
			free(b->client);
			free(b);
		}
	for (size_t i = 0; i < m->n_allow; i++)
		free(m->allow[i]);
	free(m->allow);
	dc_ctx_free(m->ctx);
	dc_resolver_free(m->res);
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->mu);
	pthread_rwlock_destroy(&m->lock);
	free(m->our_did);
	free(m);
}

/* ---- requests ------------------------------------------------------------------------------ */
static void refuse(struct gw_med_out *out, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void refuse(struct gw_med_out *out, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out->why, sizeof out->why, fmt, ap);
	va_end(ap);
	snprintf(out->code, sizeof out->code, "%s", code);
	free(out->reply);
	out->reply = NULL;
}

static bool allowed(const struct gw_med *m, const char *client)
{
	switch (m->policy) {
	case P_OPEN: return true;
	case P_CLOSED: return false;
	default: return bsearch(&client, m->allow, m->n_allow, sizeof *m->allow, cmp_str) != NULL;
	}
}

/* lock mu held */
static struct session *session_of(struct gw_med *m, const char *client)
{
	for (struct session *s = m->sb[hash(client)]; s; s = s->hnext)
		if (strcmp(s->client, client) == 0)
			return s;
	return NULL;
}

/* lock mu held: out of its bucket (the caller unlinks it from the list) */
static void session_unhash(struct gw_med *m, struct session *s)
{
	for (struct session **pp = &m->sb[hash(s->client)]; *pp; pp = &(*pp)->hnext)
		if (*pp == s) {
			*pp = s->hnext;
			return;
		}
}

static bool live_here(struct gw_med *m, const struct gw_med_in *in)
{
	pthread_mutex_lock(&m->mu);
	struct session *s = session_of(m, in->client);
	bool on = s && !s->gone && in->conn && s->conn == in->conn && strcmp(s->transport, in->transport) == 0;
	pthread_mutex_unlock(&m->mu);
	return on;
}

static void status(struct gw_med *m, const struct gw_med_in *in, const struct dc_med_request *rq, const char *mailbox,
                   struct gw_med_out *out)
{
	struct dc_queue_mailbox_stats st;
	struct dc_errinfo ei = { 0 };
	if (dc_queue_mailbox_stats(m->q, in->client, mailbox, &st, &ei)) {
		refuse(out, "e.p.me.res.storage", "status: %s", ei.msg);
		return;
	}
	int64_t now = now_ms();
	struct dc_med_status s = { .recipient_did = rq->recipient_did, .message_count = st.count, .total_bytes = st.bytes,
		                   .longest_waited_seconds = st.count ? (now - st.oldest_ms) / 1000 : 0,
		                   .newest_received_time = st.newest_ms / 1000, .oldest_received_time = st.oldest_ms / 1000,
		                   .live_delivery = live_here(m, in) };
	if (dc_med_status(rq, m->our_did, &s, &out->reply))
		refuse(out, "e.p.me.res.memory", "status: out of memory");
}

static void update(struct gw_med *m, const struct gw_med_in *in, struct dc_med_request *rq, struct gw_med_out *out)
{
	int64_t now = now_ms();
	for (size_t i = 0; i < rq->n_updates; i++) {
		struct dc_med_update *u = &rq->updates[i];
		char *mailbox = did_of(u->did);
		enum dc_queue_med_change ch = DC_QUEUE_MED_SAME;
		struct dc_errinfo ei = { 0 };
		if (!mailbox) {
			u->result = DC_MED_SERVER_ERROR;
			continue;
		}
		/* a DID whose document sends its mail elsewhere is someone else's: not held here */
		dc_err vrc = u->add && in->ctx ? dc_med_routes_via(in->ctx, u->did, m->our_did, in->endpoints, in->n_endpoints, &ei) : DC_OK;
		if (vrc) {
			u->result = vrc == DC_ERR_AGAIN || vrc == DC_ERR_NOMEM ? DC_MED_SERVER_ERROR : DC_MED_CLIENT_ERROR;
			gw_log(GW_LOG_INFO, "mediator", "recipient %.120s not registered for %.120s: %s", u->did, in->client, ei.msg);
			free(mailbox);
			continue;
		}
		/* the cache follows the store under its lock: a forward sees both or neither */
		pthread_rwlock_wrlock(&m->lock);
		dc_err rc = dc_queue_med_recipient(m->q, in->client, u->did, mailbox, u->add, now, &ch, &ei);
		if (rc == DC_OK && ch == DC_QUEUE_MED_DONE) {
			if (u->add)
				cache_add(m, mailbox, in->client);
			else
				cache_del(m, mailbox);
		}
		pthread_rwlock_unlock(&m->lock);
		if (rc) {
			gw_log(GW_LOG_WARN, "mediator", "recipient-update from %.200s: %s", in->client, ei.msg);
			u->result = DC_MED_SERVER_ERROR;
		} else {
			u->result = ch == DC_QUEUE_MED_DONE ? DC_MED_SUCCESS : ch == DC_QUEUE_MED_SAME ? DC_MED_NO_CHANGE :
			                                                                             DC_MED_CLIENT_ERROR;
		}
		free(mailbox);
	}
	if (dc_med_update_response(rq, m->our_did, &out->reply))
		refuse(out, "e.p.me.res.memory", "recipient-update: out of memory");
}

static void query(struct gw_med *m, const struct gw_med_in *in, const struct dc_med_request *rq, struct gw_med_out *out)
{
	char **dids = NULL;
	size_t n = 0, total = 0;
	struct dc_errinfo ei = { 0 };
	if (dc_queue_med_recipients(m->q, in->client, rq->offset, rq->limit, &dids, &n, &total, &ei)) {
		refuse(out, "e.p.me.res.storage", "recipient-query: %s", ei.msg);
		return;
	}
	size_t remaining = total > rq->offset + n ? total - rq->offset - n : 0;
	if (dc_med_recipients(rq, m->our_did, (const char *const *)dids, n, rq->offset, remaining, &out->reply))
		refuse(out, "e.p.me.res.memory", "recipient-query: out of memory");
	for (size_t i = 0; i < n; i++)
		free(dids[i]);
	free(dids);
}

static void delivery(struct gw_med *m, const struct gw_med_in *in, const struct dc_med_request *rq, const char *mailbox,
                     struct gw_med_out *out)
{
	struct dc_queue_item *items = NULL;
	size_t n = 0;
	struct dc_errinfo ei = { 0 };
	if (dc_queue_mailbox_get(m->q, in->client, mailbox, 0, rq->limit, in->max_reply, &items, &n, &ei)) {
		refuse(out, "e.p.me.res.storage", "delivery-request: %s", ei.msg);
		return;
	}
	if (!n) {
		status(m, in, rq, mailbox, out); /* nothing waiting: a status, as the protocol says */
		return;
	}
	struct dc_med_attachment *att = calloc(n, sizeof *att);
	char (*ids)[24] = calloc(n, sizeof *ids);
	if (att && ids) {
		for (size_t i = 0; i < n; i++) {
			snprintf(ids[i], sizeof ids[i], "%" PRId64, items[i].id);
			att[i] = (struct dc_med_attachment){ .id = ids[i], .data = items[i].data, .len = items[i].len };
		}
	}
	if (!att || !ids || dc_med_delivery(rq, m->our_did, NULL, rq->recipient_did, att, n, &out->reply))
		refuse(out, "e.p.me.res.memory", "delivery-request: out of memory");
	free(att);
	free(ids);
	dc_queue_items_free(items, n);
}

static void received(struct gw_med *m, const struct gw_med_in *in, const struct dc_med_request *rq,
                     struct gw_med_out *out)
{
	int64_t *ids = calloc(rq->n_ids ? rq->n_ids : 1, sizeof *ids);
	size_t k = 0, gone = 0;
	if (!ids) {
		refuse(out, "e.p.me.res.memory", "messages-received: out of memory");
		return;
	}
	for (size_t i = 0; i < rq->n_ids; i++) {
		char *end = NULL;
		errno = 0;
		long long v = strtoll(rq->ids[i], &end, 10);
		if (!errno && end && !*end && v > 0 && rq->ids[i][0] != '+')
			ids[k++] = v; /* ids that are not ours name nothing: ignored */
	}
	struct dc_errinfo ei = { 0 };
	dc_err rc = dc_queue_mailbox_ack(m->q, in->client, ids, k, &gone, &ei);
	free(ids);
	if (rc) {
		refuse(out, "e.p.me.res.storage", "messages-received: %s", ei.msg);
		return;
	}
	status(m, in, rq, NULL, out);
}

static void live_change(struct gw_med *m, const struct gw_med_in *in, const struct dc_med_request *rq,
                        struct gw_med_out *out)
{
	if (rq->live && (!in->conn || !m->started)) {
		refuse(out, "e.m.live-mode-not-supported", "Connection does not support Live Delivery");
		return;
	}
	/* messages already queued stay for delivery-request: live mode pushes what comes next */
	struct dc_queue_mailbox_stats st;
	struct dc_errinfo ei = { 0 };
	if (rq->live && dc_queue_mailbox_stats(m->q, in->client, NULL, &st, &ei)) {
		refuse(out, "e.p.me.res.storage", "live-delivery-change: %s", ei.msg);
		return;
	}
	pthread_mutex_lock(&m->mu);
	struct session *s = session_of(m, in->client);
	if (rq->live && !s && m->n_sessions < MAX_SESSIONS && (s = calloc(1, sizeof *s))) {
		if (!(s->client = strdup(in->client))) {
			free(s);
			s = NULL;
		} else {
			s->next = m->sessions;
			m->sessions = s;
			size_t h = hash(s->client);
			s->hnext = m->sb[h];
			m->sb[h] = s;
			m->n_sessions++;
		}
	}
	if (rq->live && s) {
		s->last_id = st.last_id;
		snprintf(s->transport, sizeof s->transport, "%s", in->transport);
		s->conn = in->conn;
		s->gone = false;
		s->dirty = false;
		s->gen++;
	} else if (!rq->live && s && s->conn == in->conn) {
		s->gone = true;
	}
	pthread_mutex_unlock(&m->mu);
	if (rq->live && !s) {
		refuse(out, "e.m.me.res.memory", "live delivery: too many live sessions");
		return;
	}
	status(m, in, rq, NULL, out);
}

bool gw_med_handle(struct gw_med *m, const struct gw_med_in *in, struct gw_med_out *out)
{
	struct dc_med_request rq;
	struct dc_errinfo ei = { 0 };
	memset(out, 0, sizeof *out);
	dc_err rc = dc_med_parse(in->msg, in->len, &rq, &ei);
	if (rc == DC_OK && rq.kind == DC_MED_NONE)
		return false;
	if (rc) {
		/* a message of these protocols that breaks their rules (or not JSON at all: then it
		 * is not ours to judge, unless the type was ours; dc_med_parse says which) */
		if (rc == DC_ERR_NOMEM)
			refuse(out, "e.p.me.res.memory", "out of memory");
		else
			refuse(out, rc == DC_ERR_TOO_BIG ? "e.p.msg.too-big" : "e.p.msg", "%s", ei.msg);
		return true;
	}
	if (rq.kind == DC_MED_OTHER)
		goto out; /* an answer sent to us: nothing to say */
	bool pickup = rq.kind >= DC_MED_STATUS_REQUEST;
	if (!in->client) {
		refuse(out, "e.p.trust.authcrypt-required",
		       "the mediator answers only a sender it can authenticate: authcrypt the message from your DID");
		goto out;
	}
	if (pickup && !in->on_connection) {
		/* a status or a delivery is never queued: it goes back on the request's connection */
		refuse(out, "e.p.req.return-route-all",
		       "message pickup answers on the request's connection: send it with return_route all");
		goto out;
	}
	if (rq.kind == DC_MED_MEDIATE_REQUEST) {
		if (!allowed(m, in->client)) {
			gw_log(GW_LOG_INFO, "mediator", "mediation denied to %.200s (policy)", in->client);
			if (dc_med_deny(&rq, m->our_did, &out->reply))
				refuse(out, "e.p.me.res.memory", "out of memory");
			goto out;
		}
		const char *rd[] = { m->our_did };
		if (dc_queue_med_grant(m->q, in->client, now_ms(), &ei))
			refuse(out, "e.p.me.res.storage", "mediate-request: %s", ei.msg);
		else if (dc_med_grant(&rq, m->our_did, rd, 1, &out->reply))
			refuse(out, "e.p.me.res.memory", "out of memory");
		else
			gw_log(GW_LOG_INFO, "mediator", "mediation granted to %.200s (coordinate-mediation %d.0)", in->client,
			       rq.version);
		goto out;
	}
	/* everything else: a client granted mediation, and only its own mailboxes */
	bool granted = false;
	if (dc_queue_med_granted(m->q, in->client, &granted, &ei)) {
		refuse(out, "e.p.me.res.storage", "%s", ei.msg);
		goto out;
	}
	char *mailbox = NULL;
	if (granted && rq.recipient_did) {
		char *who = NULL;
		mailbox = did_of(rq.recipient_did);
		granted = mailbox && owner_of(m, mailbox, &who) && strcmp(who, in->client) == 0;
		free(who);
	}
	if (!granted) {
		/* the same answer whether the DID is unknown, someone else's, or not granted: nothing
		 * is revealed */
		refuse(out, "e.p.trust.not-mediated", "no mediation here for this sender (or not for that recipient)");
		free(mailbox);
		goto out;
	}
	switch (rq.kind) {
	case DC_MED_RECIPIENT_UPDATE: update(m, in, &rq, out); break;
	case DC_MED_RECIPIENT_QUERY: query(m, in, &rq, out); break;
	case DC_MED_STATUS_REQUEST: status(m, in, &rq, mailbox, out); break;
	case DC_MED_DELIVERY_REQUEST: delivery(m, in, &rq, mailbox, out); break;
	case DC_MED_MESSAGES_RECEIVED: received(m, in, &rq, out); break;
	case DC_MED_LIVE_CHANGE: live_change(m, in, &rq, out); break;
	default: break;
	}
	free(mailbox);
out:
	dc_med_request_clear(&rq);
	return true;
}

/* ---- live delivery ------------------------------------------------------------------------- */
static void push_done(void *arg, enum gw_send_result r, const char *why)
{
	struct push_ctx *p = arg;
	struct gw_med *m = p->m;
	pthread_mutex_lock(&m->mu);
	struct session *s = p->s;
	s->inflight--;
	if (s->gen == p->gen) {
		if (r == GW_FAILED) {
			s->gone = true; /* the connection is gone: live mode ends with it */
		} else if (r != GW_SENT) {
			/* not written (busy): from that batch on again, a moment later; what the client
			 * got twice it drops by id */
			if (p->first_id - 1 < s->last_id)
				s->last_id = p->first_id - 1;
			s->dirty = true;
			s->not_before = mono_ms() + LIVE_BACKOFF_MS;
		}
	}
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
	(void)why;
	free(p->data);
	free(p);
}

/* mu held on entry and exit; one batch for s */
static void push_one(struct gw_med *m, struct session *s)
{
	char *client = strdup(s->client);
	char transport[16];
	snprintf(transport, sizeof transport, "%s", s->transport);
	uint64_t conn = s->conn, gen = s->gen;
	int64_t after = s->last_id;
	s->dirty = false;
	pthread_mutex_unlock(&m->mu);
	struct dc_queue_item *items = NULL;
	size_t n = 0;
	struct dc_errinfo ei = { 0 };
	char *msg = NULL;
	struct dc_pack_result pr = { 0 };
	bool more = false;
	int64_t top = after;
	if (client && dc_queue_mailbox_get(m->q, client, NULL, after, LIVE_BATCH, m->max_push_bytes, &items, &n, &ei) == DC_OK &&
	    n) {
		struct dc_med_attachment att[LIVE_BATCH];
		char ids[LIVE_BATCH][24];
		for (size_t i = 0; i < n; i++) {
			snprintf(ids[i], sizeof ids[i], "%" PRId64, items[i].id);
			att[i] = (struct dc_med_attachment){ .id = ids[i], .data = items[i].data, .len = items[i].len };
			top = items[i].id;
		}
		more = n == LIVE_BATCH;
		const char *to[] = { client };
		struct dc_pack_opts po = { .mode = DC_PACK_AUTHCRYPT, .to = to, .n_to = 1, .from = m->our_did, .no_forward = true };
		if (dc_med_delivery(NULL, m->our_did, client, NULL, att, n, &msg) == DC_OK &&
		    dc_pack(m->ctx, msg, strlen(msg), &po, &pr, &ei) == DC_OK && pr.n == 1) {
			struct push_ctx *p = calloc(1, sizeof *p);
			if (p) {
				p->m = m;
				p->s = s;
				p->gen = gen;
				p->first_id = items[0].id;
				p->data = (uint8_t *)pr.items[0].msg;
				pr.items[0].msg = NULL;
				size_t len = pr.items[0].len;
				pthread_mutex_lock(&m->mu);
				s->inflight++;
				pthread_mutex_unlock(&m->mu);
				if (m->push(m->push_arg, transport, conn, p->data, len, push_done, p) != DC_OK)
					push_done(p, GW_FAILED, "no such connection");
			}
		} else {
			gw_log(GW_LOG_WARN, "mediator", "live delivery to %.200s: %s", client, ei.msg[0] ? ei.msg : "cannot pack");
		}
	}
	dc_pack_result_clear(&pr);
	free(msg);
	dc_queue_items_free(items, n);
	free(client);
	pthread_mutex_lock(&m->mu);
	if (s->gen == gen && top > s->last_id)
		s->last_id = top;
	if (more)
		s->dirty = true;
}

static void *live_run(void *arg)
{
	struct gw_med *m = arg;
	prctl(PR_SET_NAME, "gw-live", 0, 0, 0);
	pthread_mutex_lock(&m->mu);
	while (!m->stop) {
		struct session *s = m->sessions, **pp = &m->sessions;
		bool worked = false;
		while (s) {
			if (s->gone && !s->inflight) {
				session_unhash(m, s);
				*pp = s->next;
				free(s->client);
				free(s);
				m->n_sessions--;
				s = *pp;
				continue;
			}
			if (s->dirty && !s->gone && s->inflight < LIVE_INFLIGHT && s->not_before <= mono_ms()) {
				push_one(m, s);
				worked = true;
			}
			pp = &s->next;
			s = s->next;
		}
		if (!worked) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += LIVE_BACKOFF_MS * 1000000L; /* a backed-off session is looked at again */
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&m->cv, &m->mu, &ts);
		}
	}
	pthread_mutex_unlock(&m->mu);
	return NULL;
}

dc_err gw_med_start_live(struct gw_med *m, struct dc_keystore *ks, const struct dc_limits *lim, gw_med_push_fn *push,
                         void *arg, struct dc_errinfo *ei)
{
	if (dc_resolver_new(256, &m->res) || dc_ctx_new(m->res, ks, &m->ctx))
		return dc_errinfo_set(ei, DC_ERR_NOMEM, "mediator: out of memory");
	if (lim)
		dc_ctx_set_limits(m->ctx, lim);
	m->max_push_bytes = lim && lim->max_message_bytes ? lim->max_message_bytes / 3 : (4u << 20);
	m->push = push;
	m->push_arg = arg;
	if (pthread_create(&m->th, NULL, live_run, m) != 0)
		return dc_errinfo_set(ei, DC_ERR_NOMEM, "mediator: cannot start a thread");
	m->started = true;
	return DC_OK;
}

void gw_med_notify(struct gw_med *m, const char *did)
{
	if (!m || !m->started || !did)
		return;
	char *client = NULL;
	if (!owner_of(m, did, &client))
		return;
	pthread_mutex_lock(&m->mu);
	struct session *s = session_of(m, client);
	if (s && !s->gone) {
		s->dirty = true;
		pthread_cond_signal(&m->cv);
	}
	pthread_mutex_unlock(&m->mu);
	free(client);
}
