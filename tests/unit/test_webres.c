/* gateway/webres.c and the core's side of it: DC_ERR_AGAIN from a fetch surfaces unchanged
 * from dc_resolve, dc_unpack and dc_relay_inspect; fetched documents expire in the core's
 * cache; the shared cache against real servers on 127.0.0.1 (a document server, a tarpit
 * that accepts and never answers). */
#include <CUnit/CUnit.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "netpolicy.h"
#include "testutil.h"
#include "tsrv.h"
#include "webres.h"

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ---- the core ------------------------------------------------------------------------------ */

struct fake {
	int calls;
	dc_err rc;
	const char *body;
};

static dc_err fake_fetch(void *arg, const char *url, size_t max, char **body, size_t *len)
{
	(void)url;
	(void)max;
	struct fake *f = arg;
	f->calls++;
	*body = NULL;
	*len = 0;
	if (f->rc)
		return f->rc;
	*body = strdup(f->body);
	*len = strlen(f->body);
	return DC_OK;
}

static char *doc_text(struct dc_resolver *r, const char *did)
{
	struct dc_did_doc *d = NULL;
	struct dc_errinfo ei = { 0 };
	char *s = NULL;
	if (dc_resolve(r, did, &d, &ei) == DC_OK && dc_did_doc_print(d, &s) != DC_OK)
		s = NULL;
	dc_did_doc_free(d);
	return s;
}

static void core_again(void)
{
	const char *alice = "did:web:example.com", *bob = "did:test:bob";
	const enum dc_crv x[] = { DC_CRV_X25519 };
	struct dc_resolver *r1 = NULL, *r2 = NULL;
	struct dc_keystore *ks_alice = NULL, *ks_bob = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_resolver_new(16, &r1), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_resolver_new(16, &r2), DC_OK);
	CU_ASSERT_EQUAL_FATAL(tu_make_party(r1, &ks_alice, alice, x, 1, 1, true, NULL, NULL, 0), 0);
	CU_ASSERT_EQUAL_FATAL(tu_make_party(r1, &ks_bob, bob, x, 1, 1, false, NULL, NULL, 0), 0);
	char *bob_doc = doc_text(r1, bob), *alice_doc = doc_text(r1, alice);
	CU_ASSERT_PTR_NOT_NULL_FATAL(bob_doc);
	CU_ASSERT_PTR_NOT_NULL_FATAL(alice_doc);
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL(dc_resolver_add_docs_text(r2, bob_doc, strlen(bob_doc), &ei), DC_OK);

	const char *msg = "{\"id\":\"m1\",\"type\":\"https://didcomm.org/basicmessage/2.0/message\","
	                  "\"from\":\"did:web:example.com\",\"to\":[\"did:test:bob\"],\"body\":{\"content\":\"hi\"}}";
	struct dc_ctx *c1 = NULL, *c2 = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_ctx_new(r1, ks_alice, &c1), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_ctx_new(r2, ks_bob, &c2), DC_OK);
	const char *to[] = { bob };
	struct dc_pack_opts po = { .mode = DC_PACK_AUTHCRYPT, .to = to, .n_to = 1 };
	struct dc_pack_result pr = { 0 };
	CU_ASSERT_EQUAL_FATAL(dc_pack(c1, msg, strlen(msg), &po, &pr, &ei), DC_OK);
	const char *env = pr.items[0].msg;

	/* the sender's document is being fetched: DC_ERR_AGAIN, not RESOLVE or CRYPTO */
	struct fake f = { .rc = DC_ERR_AGAIN };
	dc_resolver_set_fetch(r2, fake_fetch, &f);
	struct dc_did_doc *d = NULL;
	memset(&ei, 0, sizeof ei);
	CU_ASSERT_EQUAL(dc_resolve(r2, alice, &d, &ei), DC_ERR_AGAIN);
	CU_ASSERT(strstr(ei.msg, "being fetched") != NULL);
	CU_ASSERT_PTR_NULL(d);
	char *out = NULL;
	struct dc_unpack_meta *meta = NULL;
	struct dc_unpack_opts uo = { .unwrap_forwards = true };
	CU_ASSERT_EQUAL(dc_unpack(c2, env, strlen(env), &uo, &out, &meta, &ei), DC_ERR_AGAIN);
	CU_ASSERT_PTR_NULL(out);
	struct dc_relay rel = { 0 };
	CU_ASSERT_EQUAL(dc_relay_inspect(c2, env, strlen(env), &rel, &ei), DC_ERR_AGAIN);
	dc_relay_clear(&rel);
	/* signed, too */
	struct dc_pack_opts so = { .mode = DC_PACK_SIGNED, .sign_from = "did:web:example.com#sig-ed25519" };
	struct dc_pack_result sr = { 0 };
	CU_ASSERT_EQUAL_FATAL(dc_pack(c1, msg, strlen(msg), &so, &sr, &ei), DC_OK);
	CU_ASSERT_EQUAL(dc_unpack(c2, sr.items[0].msg, sr.items[0].len, &uo, &out, NULL, &ei), DC_ERR_AGAIN);
	/* a failed fetch is still a resolution failure */
	f.rc = DC_ERR_IO;
	CU_ASSERT_EQUAL(dc_resolve(r2, alice, &d, &ei), DC_ERR_RESOLVE);
	/* once it has arrived, the same envelopes open */
	f.rc = DC_OK;
	f.body = alice_doc;
	CU_ASSERT_EQUAL(dc_unpack(c2, env, strlen(env), &uo, &out, &meta, &ei), DC_OK);
	CU_ASSERT(out && strstr(out, "\"hi\""));
	free(out);
	dc_unpack_meta_free(meta);
	CU_ASSERT_EQUAL(dc_relay_inspect(c2, env, strlen(env), &rel, &ei), DC_OK);
	CU_ASSERT_EQUAL(rel.kind, DC_RELAY_FOR_US);
	dc_relay_clear(&rel);
	dc_pack_result_clear(&pr);
	dc_pack_result_clear(&sr);
	dc_ctx_free(c1);
	dc_ctx_free(c2);
	dc_keystore_free(ks_alice);
	dc_keystore_free(ks_bob);
	dc_resolver_free(r1);
	dc_resolver_free(r2);
	free(alice_doc);
	free(bob_doc);
}

static void core_web_ttl(void)
{
	struct dc_resolver *r = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_resolver_new(8, &r), DC_OK);
	struct fake f = { .body = "{\"id\":\"did:web:example.com\"}" };
	dc_resolver_set_fetch(r, fake_fetch, &f);
	dc_resolver_set_web_ttl(r, 100);
	struct dc_did_doc *d = NULL;
	struct dc_errinfo ei = { 0 };
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(dc_resolve(r, "did:web:example.com", &d, &ei), DC_OK);
		dc_did_doc_free(d);
	}
	CU_ASSERT_EQUAL(f.calls, 1);
	/* past the TTL it is fetched again (a wide margin: expiry only needs "later than 100 ms") */
	int64_t t0 = mono_ms();
	while (f.calls == 1 && mono_ms() - t0 < 5000) {
		nap_ms(50);
		CU_ASSERT_EQUAL(dc_resolve(r, "did:web:example.com", &d, &ei), DC_OK);
		dc_did_doc_free(d);
	}
	CU_ASSERT_EQUAL(f.calls, 2);
	CU_ASSERT(mono_ms() - t0 >= 100);
	dc_resolver_free(r);
	/* 0: fetched documents are not kept at all */
	CU_ASSERT_EQUAL_FATAL(dc_resolver_new(8, &r), DC_OK);
	dc_resolver_set_fetch(r, fake_fetch, &f);
	dc_resolver_set_web_ttl(r, 0);
	f.calls = 0;
	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(dc_resolve(r, "did:web:example.com", &d, &ei), DC_OK);
		dc_did_doc_free(d);
	}
	CU_ASSERT_EQUAL(f.calls, 3);
	dc_resolver_free(r);
}

/* ---- the shared cache ---------------------------------------------------------------------- */

struct ev {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int n;
	int64_t at[64];
};

static void ev_init(struct ev *e)
{
	memset(e, 0, sizeof *e);
	pthread_mutex_init(&e->mu, NULL);
	pthread_cond_init(&e->cv, NULL);
}

static void ev_clear(struct ev *e)
{
	pthread_mutex_destroy(&e->mu);
	pthread_cond_destroy(&e->cv);
}

static void ev_ready(void *arg)
{
	struct ev *e = arg;
	pthread_mutex_lock(&e->mu);
	if (e->n < 64)
		e->at[e->n] = mono_ms();
	e->n++;
	pthread_cond_broadcast(&e->cv);
	pthread_mutex_unlock(&e->mu);
}

/* wait until e has fired n times, at most ms; the count */
static int ev_wait(struct ev *e, int n, unsigned ms)
{
	struct timespec dl;
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&e->mu);
	while (e->n < n && pthread_cond_timedwait(&e->cv, &e->mu, &dl) == 0)
		;
	int got = e->n;
	pthread_mutex_unlock(&e->mu);
	return got;
}

static struct gw_netpolicy *loopback_ok(void)
{
	struct gw_netpolicy *np = NULL;
	struct dc_errinfo ei = { 0 };
	if (gw_netpolicy_new(&np) || gw_netpolicy_allow(np, "127.0.0.0/8", &ei))
		CU_FAIL_FATAL("netpolicy");
	return np;
}

static dc_err fetch(struct gw_webres *wr, const char *url, char **body, size_t *len)
{
	return gw_webres_fetch(wr, url, 1u << 20, body, len);
}

static const char *DOC = "{\"id\":\"did:web:127.0.0.1\"}";

static void hit_and_expiry(void)
{
	struct tsrv srv = { 0 };
	CU_ASSERT_EQUAL_FATAL(tsrv_start(&srv, TSRV_HTTP, DOC), 0);
	struct gw_netpolicy *np = loopback_ok();
	struct gw_webres_cfg cfg = { .ttl_ms = 300, .np = np };
	struct gw_webres *wr = NULL;
	CU_ASSERT_EQUAL_FATAL(gw_webres_new(&cfg, &wr), DC_OK);
	char url[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%u/a/did.json", (unsigned)srv.port);
	char *body = NULL;
	size_t len = 0;
	struct ev ev;
	ev_init(&ev);
	/* a miss: scheduled, DC_ERR_AGAIN at once, the URL recorded for this thread */
	CU_ASSERT_EQUAL(fetch(wr, url, &body, &len), DC_ERR_AGAIN);
	CU_ASSERT_PTR_NULL(body);
	CU_ASSERT_PTR_NOT_NULL_FATAL(gw_webres_missing());
	CU_ASSERT_STRING_EQUAL(gw_webres_missing(), url);
	CU_ASSERT_EQUAL(gw_webres_wait(wr, url, ev_ready, &ev), DC_OK);
	CU_ASSERT_EQUAL(ev_wait(&ev, 1, 10000), 1);
	/* a hit, as often as asked, one request */
	for (int i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL(fetch(wr, url, &body, &len), DC_OK);
		CU_ASSERT(body && len == strlen(DOC) && strcmp(body, DOC) == 0);
		CU_ASSERT_PTR_NULL(gw_webres_missing());
		free(body);
	}
	CU_ASSERT_EQUAL(atomic_load(&srv.requests), 1);
	/* the caller's cap */
	CU_ASSERT_EQUAL(gw_webres_fetch(wr, url, 4, &body, &len), DC_ERR_TOO_BIG);
	/* waiting on an ended fetch: ready soon (from a fetcher thread) */
	CU_ASSERT_EQUAL(gw_webres_wait(wr, url, ev_ready, &ev), DC_OK);
	CU_ASSERT_EQUAL(ev_wait(&ev, 2, 10000), 2);
	/* past the TTL: a miss again (the wide margin is the loop's bound, not the expectation) */
	int64_t t0 = mono_ms();
	dc_err rc = DC_OK;
	while ((rc = fetch(wr, url, &body, &len)) == DC_OK && mono_ms() - t0 < 10000) {
		free(body);
		nap_ms(20);
	}
	CU_ASSERT_EQUAL(rc, DC_ERR_AGAIN);
	CU_ASSERT_EQUAL(gw_webres_wait(wr, url, ev_ready, &ev), DC_OK);
	CU_ASSERT_EQUAL(ev_wait(&ev, 3, 10000), 3);
	CU_ASSERT_EQUAL(fetch(wr, url, &body, &len), DC_OK);
	free(body);
	CU_ASSERT_EQUAL(atomic_load(&srv.requests), 2);
	/* an HTTP error is a failure, cached */
	snprintf(url, sizeof url, "http://127.0.0.1:%u/missing/did.json", (unsigned)srv.port);
	CU_ASSERT_EQUAL(fetch(wr, url, &body, &len), DC_ERR_AGAIN);
	CU_ASSERT_EQUAL(gw_webres_wait(wr, url, ev_ready, &ev), DC_OK);
	CU_ASSERT_EQUAL(ev_wait(&ev, 4, 10000), 4);
	CU_ASSERT_EQUAL(fetch(wr, url, &body, &len), DC_ERR_RESOLVE);
	CU_ASSERT(strstr(gw_webres_why(), "HTTP status 404") != NULL);
	CU_ASSERT_EQUAL(fetch(wr, url, &body, &len), DC_ERR_RESOLVE);
	CU_ASSERT_EQUAL(atomic_load(&srv.requests), 3);
	/* not http(s): refused at once, nothing cached */
	CU_ASSERT_EQUAL(fetch(wr, "ftp://127.0.0.1/x", &body, &len), DC_ERR_RESOLVE);
	struct gw_webres_stats st;
	gw_webres_stats(wr, &st);
	CU_ASSERT_EQUAL(st.fetches, 3);
	CU_ASSERT_EQUAL(st.entries, 2);
	gw_webres_free(wr);
	gw_netpolicy_free(np);
	tsrv_stop(&srv);
	ev_clear(&ev);
}

/* the policy, with did:web hosts untrusted: loopback refused without an allow */
static void policy_refused(void)
{
	struct tsrv srv = { 0 };
	CU_ASSERT_EQUAL_FATAL(tsrv_start(&srv, TSRV_HTTP, DOC), 0);
	struct gw_webres *wr = NULL;
	CU_ASSERT_EQUAL_FATAL(gw_webres_new(NULL, &wr), DC_OK);
	char url[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%u/.well-known/did.json", (unsigned)srv.port);
	struct ev ev;
	ev_init(&ev);
	char *body = NULL;
	size_t len = 0;
	CU_ASSERT_EQUAL(fetch(wr, url, &body, &len), DC_ERR_AGAIN);
	CU_ASSERT_EQUAL(gw_webres_wait(wr, url, ev_ready, &ev), DC_OK);
	CU_ASSERT_EQUAL(ev_wait(&ev, 1, 10000), 1);
	CU_ASSERT_EQUAL(fetch(wr, url, &body, &len), DC_ERR_RESOLVE);
	CU_ASSERT(strstr(gw_webres_why(), "outbound policy") != NULL);
	CU_ASSERT_EQUAL(atomic_load(&srv.accepted), 0);
	gw_webres_free(wr);
	tsrv_stop(&srv);
	ev_clear(&ev);
}

struct asker {
	struct gw_webres *wr;
	const char *url;
	pthread_t th;
	struct ev ev;
	bool ok;
};

static void *ask(void *arg)
{
	struct asker *a = arg;
	char *body = NULL;
	size_t len = 0;
	dc_err rc = gw_webres_fetch(a->wr, a->url, 1u << 20, &body, &len);
	if (rc == DC_ERR_AGAIN) {
		if (gw_webres_wait(a->wr, gw_webres_missing(), ev_ready, &a->ev) != DC_OK || ev_wait(&a->ev, 1, 10000) != 1)
			return NULL;
		rc = gw_webres_fetch(a->wr, a->url, 1u << 20, &body, &len);
	}
	a->ok = rc == DC_OK && body && strcmp(body, DOC) == 0;
	free(body);
	return NULL;
}

static void one_fetch_for_many(void)
{
	struct tsrv srv = { .delay_ms = 200 }; /* the askers all come while it is in flight */
	CU_ASSERT_EQUAL_FATAL(tsrv_start(&srv, TSRV_HTTP, DOC), 0);
	struct gw_netpolicy *np = loopback_ok();
	struct gw_webres_cfg cfg = { .np = np };
	struct gw_webres *wr = NULL;
	CU_ASSERT_EQUAL_FATAL(gw_webres_new(&cfg, &wr), DC_OK);
	char url[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%u/many/did.json", (unsigned)srv.port);
	struct asker a[8];
	for (int i = 0; i < 8; i++) {
		a[i] = (struct asker){ .wr = wr, .url = url };
		ev_init(&a[i].ev);
		CU_ASSERT_EQUAL_FATAL(pthread_create(&a[i].th, NULL, ask, &a[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(a[i].th, NULL);
		CU_ASSERT(a[i].ok);
		ev_clear(&a[i].ev);
	}
	CU_ASSERT_EQUAL(atomic_load(&srv.requests), 1);
	struct gw_webres_stats st;
	gw_webres_stats(wr, &st);
	CU_ASSERT_EQUAL(st.fetches, 1);
	gw_webres_free(wr);
	gw_netpolicy_free(np);
	tsrv_stop(&srv);
}

/* A tarpit (accepts, never answers): misses answer at once, the fetches end at the deadline
 * as failures that are then cached, no more than per_host connections to it at a time, and
 * another host is served meanwhile. */
static void tarpit(void)
{
	enum { N = 5, DEADLINE = 1200 };
	struct tsrv pit = { 0 }, srv = { 0 };
	CU_ASSERT_EQUAL_FATAL(tsrv_start(&pit, TSRV_TARPIT, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(tsrv_start(&srv, TSRV_HTTP, DOC), 0);
	struct gw_netpolicy *np = loopback_ok();
	struct gw_webres_cfg cfg = { .np = np, .deadline_ms = DEADLINE, .per_host = 2 };
	struct gw_webres *wr = NULL;
	CU_ASSERT_EQUAL_FATAL(gw_webres_new(&cfg, &wr), DC_OK);
	struct ev ev, fast;
	ev_init(&ev);
	ev_init(&fast);
	char urls[N][128];
	char *body = NULL;
	size_t len = 0;
	int64_t t0 = mono_ms();
	for (int i = 0; i < N; i++) {
		snprintf(urls[i], sizeof urls[i], "http://127.0.0.1:%u/u%d/did.json", (unsigned)pit.port, i);
		int64_t s = mono_ms();
		CU_ASSERT_EQUAL(fetch(wr, urls[i], &body, &len), DC_ERR_AGAIN);
		CU_ASSERT(mono_ms() - s < 200); /* never blocks on the network */
		CU_ASSERT_EQUAL(gw_webres_wait(wr, urls[i], ev_ready, &ev), DC_OK);
	}
	/* asking again while in flight: still DC_ERR_AGAIN, no new fetch */
	CU_ASSERT_EQUAL(fetch(wr, urls[0], &body, &len), DC_ERR_AGAIN);
	/* another host goes through while the tarpit holds its two slots */
	char ok_url[128];
	snprintf(ok_url, sizeof ok_url, "http://127.0.0.1:%u/fine/did.json", (unsigned)srv.port);
	CU_ASSERT_EQUAL(fetch(wr, ok_url, &body, &len), DC_ERR_AGAIN);
	CU_ASSERT_EQUAL(gw_webres_wait(wr, ok_url, ev_ready, &fast), DC_OK);
	CU_ASSERT_EQUAL(ev_wait(&fast, 1, 10000), 1);
	CU_ASSERT(fast.at[0] - t0 < DEADLINE);
	CU_ASSERT_EQUAL(ev.n, 0);
	CU_ASSERT_EQUAL(fetch(wr, ok_url, &body, &len), DC_OK);
	free(body);
	/* all end, after the deadline, as failures */
	CU_ASSERT_EQUAL(ev_wait(&ev, N, 20000), N);
	CU_ASSERT(ev.at[0] - t0 >= DEADLINE - 50);
	CU_ASSERT(atomic_load(&pit.max_open) <= 2);
	CU_ASSERT_EQUAL(atomic_load(&pit.accepted), N);
	/* per host 2: the fifth started only when one of the first ended */
	CU_ASSERT(ev.at[N - 1] - t0 >= 2 * DEADLINE - 100);
	/* the failure is cached: an immediate DC_ERR_RESOLVE with the reason */
	for (int i = 0; i < N; i++) {
		int64_t s = mono_ms();
		CU_ASSERT_EQUAL(fetch(wr, urls[i], &body, &len), DC_ERR_RESOLVE);
		CU_ASSERT(mono_ms() - s < 200);
		CU_ASSERT(strstr(gw_webres_why(), "no answer within") != NULL);
	}
	CU_ASSERT_EQUAL(atomic_load(&pit.accepted), N);
	gw_webres_free(wr);
	gw_netpolicy_free(np);
	tsrv_stop(&pit);
	tsrv_stop(&srv);
	ev_clear(&ev);
	ev_clear(&fast);
}

/* the queue for one host is bounded; gw_webres_free answers every waiter */
static void bounds_and_free(void)
{
	struct tsrv pit = { 0 };
	CU_ASSERT_EQUAL_FATAL(tsrv_start(&pit, TSRV_TARPIT, NULL), 0);
	struct gw_netpolicy *np = loopback_ok();
	struct gw_webres_cfg cfg = { .np = np, .deadline_ms = 30000, .per_host = 1, .max_queued_per_host = 2 };
	struct gw_webres *wr = NULL;
	CU_ASSERT_EQUAL_FATAL(gw_webres_new(&cfg, &wr), DC_OK);
	struct ev ev;
	ev_init(&ev);
	char url[128];
	char *body = NULL;
	size_t len = 0;
	snprintf(url, sizeof url, "http://127.0.0.1:%u/0/did.json", (unsigned)pit.port);
	CU_ASSERT_EQUAL(fetch(wr, url, &body, &len), DC_ERR_AGAIN);
	CU_ASSERT_EQUAL(gw_webres_wait(wr, url, ev_ready, &ev), DC_OK);
	int64_t t0 = mono_ms();
	while (atomic_load(&pit.accepted) < 1 && mono_ms() - t0 < 10000)
		nap_ms(10);
	CU_ASSERT_EQUAL_FATAL(atomic_load(&pit.accepted), 1);
	for (int i = 1; i <= 3; i++) {
		snprintf(url, sizeof url, "http://127.0.0.1:%u/%d/did.json", (unsigned)pit.port, i);
		CU_ASSERT_EQUAL(fetch(wr, url, &body, &len), i <= 2 ? DC_ERR_AGAIN : DC_ERR_RESOLVE);
		if (i <= 2)
			CU_ASSERT_EQUAL(gw_webres_wait(wr, url, ev_ready, &ev), DC_OK);
	}
	CU_ASSERT(strstr(gw_webres_why(), "too many fetches waiting") != NULL);
	CU_ASSERT_EQUAL(gw_webres_wait(wr, url, ev_ready, &ev), DC_ERR_AGAIN);
	struct gw_webres_stats st;
	gw_webres_stats(wr, &st);
	CU_ASSERT_EQUAL(st.active, 1);
	CU_ASSERT_EQUAL(st.queued, 2);
	CU_ASSERT_EQUAL(ev.n, 0);
	gw_webres_free(wr); /* long before the deadline */
	CU_ASSERT_EQUAL(ev.n, 3);
	CU_ASSERT(mono_ms() - t0 < 10000);
	gw_netpolicy_free(np);
	tsrv_stop(&pit);
	ev_clear(&ev);
}

void init_webres_tests(void)
{
	CU_pSuite s = CU_add_suite("webres", NULL, NULL);
	TU_ADD(s, core_again);
	TU_ADD(s, core_web_ttl);
	TU_ADD(s, hit_and_expiry);
	TU_ADD(s, policy_refused);
	TU_ADD(s, one_fetch_for_many);
	TU_ADD(s, tarpit);
	TU_ADD(s, bounds_and_free);
}
