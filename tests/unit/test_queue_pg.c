/* What only the shared store (PostgreSQL) does, in suite queue_pg (test_queue.c registers it
 * when DC_TEST_PG_URL names a server): two gateways' handles claiming at once never hold one
 * item together; a lease that runs out is taken over, and a start-up releases only its own;
 * a schema newer than the program is refused; the cluster's identity; LISTEN/NOTIFY wakes a
 * watcher; the connection killed under a handle comes back by itself; mediation; purges by
 * destination; the password file's mode; a version 1 schema migrated; queue reroute beside
 * another gateway's claim. */
#include "testutil.h"

#include "dc_queue.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern const char *tq_pg_url;

static void no_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

int tq_pg_exec(const char *sql)
{
	PGconn *c = PQconnectdb(tq_pg_url);
	int rc = -1;
	if (c && PQstatus(c) == CONNECTION_OK) {
		PQsetNoticeProcessor(c, no_notice, NULL);
		PGresult *r = PQexec(c, sql);
		ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
		rc = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK ? 0 : -1;
		if (rc)
			fprintf(stderr, "\nqueue_pg: %s: %s", sql, PQerrorMessage(c));
		PQclear(r);
	}
	PQfinish(c);
	return rc;
}

int64_t tq_pg_count(const char *table)
{
	char sql[128];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
	PGconn *c = PQconnectdb(tq_pg_url);
	int64_t v = -1;
	if (c && PQstatus(c) == CONNECTION_OK) {
		PGresult *r = PQexec(c, sql);
		if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
			v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
	}
	PQfinish(c);
	return v;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct dc_queue *open_as(const char *instance, const struct dc_queue_opts *o)
{
	struct dc_queue *q = NULL;
	struct dc_errinfo ei = { 0 };
	if (dc_queue_open_pg(tq_pg_url, NULL, o, instance, &q, &ei))
		fprintf(stderr, "\nqueue_pg open: %s\n", ei.msg);
	return q;
}

static void clean(void)
{
	CU_ASSERT_EQUAL(tq_pg_exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public"), 0);
}

static struct dc_queue_new_item item(const char *dest, const char *data)
{
	struct dc_queue_new_item it = { .msg_id = "m", .data = (const uint8_t *)data, .len = strlen(data),
	                                .media_type = "application/didcomm-encrypted+json", .dest = dest,
	                                .origin = "http 127.0.0.1" };
	return it;
}

/* ---- two gateways claiming at once ---- */
#define N_ITEMS 400
struct claimer {
	struct dc_queue *q;
	int64_t got[N_ITEMS];
	size_t n;
	int errors;
};

static void *claim_all(void *arg)
{
	struct claimer *c = arg;
	for (int idle = 0; idle < 20;) {
		struct dc_queue_item *its = NULL;
		size_t n = 0;
		if (dc_queue_claim(c->q, now_ms(), 16, 1000, 60000, &its, &n, NULL)) {
			c->errors++;
			break;
		}
		idle = n ? 0 : idle + 1;
		for (size_t i = 0; i < n && c->n < N_ITEMS; i++)
			c->got[c->n++] = its[i].id;
		dc_queue_items_free(its, n); /* not acked: held by their leases */
	}
	return NULL;
}

static void two_gateways_claim(void)
{
	clean();
	struct dc_queue *a = open_as("test-a", NULL), *b = open_as("test-b", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	static struct dc_queue_new_item its[N_ITEMS];
	char data[N_ITEMS][16];
	for (int i = 0; i < N_ITEMS; i++) {
		snprintf(data[i], sizeof data[i], "m%d", i);
		its[i] = item(i % 2 ? "http a" : "http b", data[i]);
	}
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(a, its, N_ITEMS, NULL, NULL), DC_OK);
	static struct claimer ca, cb;
	memset(&ca, 0, sizeof ca);
	memset(&cb, 0, sizeof cb);
	ca.q = a;
	cb.q = b;
	pthread_t ta, tb;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&ta, NULL, claim_all, &ca), 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&tb, NULL, claim_all, &cb), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	CU_ASSERT(ca.errors == 0 && cb.errors == 0);
	CU_ASSERT_EQUAL(ca.n + cb.n, N_ITEMS); /* each item once, by one of them */
	static char seen[N_ITEMS + 1];
	memset(seen, 0, sizeof seen);
	int dup = 0;
	for (int w = 0; w < 2; w++) {
		struct claimer *c = w ? &cb : &ca;
		for (size_t i = 0; i < c->n; i++) {
			int64_t id = c->got[i];
			if (id >= 1 && id <= N_ITEMS)
				dup += seen[id]++ > 0;
		}
	}
	CU_ASSERT_EQUAL(dup, 0);
	struct dc_queue_stats st;
	CU_ASSERT_EQUAL(dc_queue_stats(b, now_ms(), &st, NULL), DC_OK);
	CU_ASSERT(st.queued == N_ITEMS && st.leased == N_ITEMS && st.due == 0);
	/* both ack theirs (ack_many), nothing left */
	size_t gone = 0;
	CU_ASSERT_EQUAL(dc_queue_ack_many(a, ca.got, ca.n, &gone, NULL), DC_OK);
	CU_ASSERT_EQUAL(gone, ca.n);
	CU_ASSERT_EQUAL(dc_queue_ack_many(b, cb.got, cb.n, &gone, NULL), DC_OK);
	CU_ASSERT_EQUAL(gone, cb.n);
	CU_ASSERT_EQUAL(dc_queue_stats(a, now_ms(), &st, NULL), DC_OK);
	CU_ASSERT_EQUAL(st.queued, 0);
	dc_queue_close(a);
	dc_queue_close(b);
}

/* a dead gateway's leases run out and another takes them; a start-up releases its own only */
static void leases_taken_over(void)
{
	clean();
	struct dc_queue *a = open_as("test-a", NULL), *b = open_as("test-b", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	struct dc_queue_new_item its[3] = { item("http a", "1"), item("http a", "2"), item("http a", "3") };
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(a, its, 3, NULL, NULL), DC_OK);
	int64_t now = now_ms() + 10;
	struct dc_queue_item *got = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL(dc_queue_claim(a, now, 10, 8, 60000, &got, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL(n, 3);
	dc_queue_items_free(got, n);
	uint64_t released = 99;
	CU_ASSERT_EQUAL(dc_queue_release_leases(b, &released, NULL), DC_OK); /* b starts: a's are a's */
	CU_ASSERT_EQUAL(released, 0);
	CU_ASSERT_EQUAL(dc_queue_claim(b, now, 10, 8, 60000, &got, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL(n, 0);
	dc_queue_items_free(got, n);
	/* a died: its leases run out, b takes them over */
	CU_ASSERT_EQUAL(dc_queue_claim(b, now + 61000, 10, 8, 60000, &got, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL(n, 3);
	dc_queue_items_free(got, n);
	/* a restarts: the items are b's now, not released */
	CU_ASSERT_EQUAL(dc_queue_release_leases(a, &released, NULL), DC_OK);
	CU_ASSERT_EQUAL(released, 0);
	CU_ASSERT_EQUAL(dc_queue_release_leases(b, &released, NULL), DC_OK);
	CU_ASSERT_EQUAL(released, 3);
	dc_queue_close(a);
	dc_queue_close(b);
}

static void schema_newer_refused(void)
{
	clean();
	struct dc_queue *a = open_as("test-a", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	dc_queue_close(a);
	CU_ASSERT_EQUAL(tq_pg_count("dc_schema"), 1);
	CU_ASSERT_EQUAL(tq_pg_exec("UPDATE dc_schema SET version=99"), 0);
	struct dc_errinfo ei = { 0 };
	a = NULL;
	CU_ASSERT_EQUAL(dc_queue_open_pg(tq_pg_url, NULL, NULL, "test-a", &a, &ei), DC_ERR_UNSUPPORTED);
	CU_ASSERT_PTR_NULL(a);
	CU_ASSERT(strstr(ei.msg, "version 99") && strstr(ei.msg, "newer"));
	CU_ASSERT_EQUAL(tq_pg_exec("UPDATE dc_schema SET version=2"), 0);
	CU_ASSERT_PTR_NOT_NULL(a = open_as("test-a", NULL));
	dc_queue_close(a);
	/* a URL that leads nowhere: a clear error, no handle */
	CU_ASSERT_EQUAL(dc_queue_open_pg("postgresql://gw@127.0.0.1:1/none", NULL, NULL, "x", &a, &ei), DC_ERR_IO);
	CU_ASSERT_PTR_NULL(a);
	CU_ASSERT(strstr(ei.msg, "PostgreSQL") != NULL);
}

static void cluster_identity(void)
{
	clean();
	struct dc_queue *a = open_as("test-a", NULL), *b = open_as("test-b", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL(dc_queue_identity(a, "did:example:gw", &ei), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_identity(b, "did:example:gw", &ei), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_identity(b, "did:example:other", &ei), DC_ERR_DENIED);
	CU_ASSERT(strstr(ei.msg, "did:example:other") && strstr(ei.msg, "did:example:gw") && strstr(ei.msg, "same identity"));
	CU_ASSERT_STRING_EQUAL(dc_queue_backend(a), "postgres");
	dc_queue_close(a);
	dc_queue_close(b);
}

/* ---- LISTEN/NOTIFY ---- */
static pthread_mutex_t wmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wcv = PTHREAD_COND_INITIALIZER;
static int woken;

static void on_due(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&wmu);
	woken++;
	pthread_cond_broadcast(&wcv);
	pthread_mutex_unlock(&wmu);
}

/* until woken reaches want (10 s at most): whether it did */
static bool wait_woken(int want)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&wmu);
	while (woken < want && pthread_cond_timedwait(&wcv, &wmu, &until) == 0)
		;
	bool ok = woken >= want;
	pthread_mutex_unlock(&wmu);
	return ok;
}

static void watch_notified(void)
{
	clean();
	struct dc_queue *a = open_as("test-a", NULL), *b = open_as("test-b", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	woken = 0;
	CU_ASSERT_EQUAL_FATAL(dc_queue_watch(b, on_due, NULL, NULL), DC_OK);
	CU_ASSERT(wait_woken(1)); /* once when it starts listening */
	struct dc_queue_new_item it = item("http a", "x");
	CU_ASSERT_EQUAL(dc_queue_put(a, &it, 1, NULL, NULL), DC_OK);
	CU_ASSERT(wait_woken(2)); /* a's put reached b */
	dc_queue_close(b);
	dc_queue_close(a);
}

/* the server drops the connection (a restart, a failover): the next operation says so, a
 * later one reconnects by itself; nothing committed is lost */
static void reconnects(void)
{
	clean();
	struct dc_queue *a = open_as("test-a", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	struct dc_queue_new_item it = item("http a", "kept");
	int64_t id = 0;
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(a, &it, 1, &id, NULL), DC_OK);
	CU_ASSERT_EQUAL(tq_pg_exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
	                           "application_name='didcomm-gateway' AND pid<>pg_backend_pid()"), 0);
	struct dc_errinfo ei = { 0 };
	struct dc_queue_stats st;
	CU_ASSERT_EQUAL(dc_queue_stats(a, now_ms(), &st, &ei), DC_ERR_IO);
	CU_ASSERT(strstr(ei.msg, "queue:") != NULL);
	dc_err rc = DC_ERR_IO;
	for (int i = 0; i < 200 && rc; i++) { /* the backoff is 0.2 s first: well within 10 s */
		if ((rc = dc_queue_stats(a, now_ms(), &st, NULL)))
			usleep(50 * 1000);
	}
	CU_ASSERT_EQUAL(rc, DC_OK);
	CU_ASSERT_EQUAL(st.queued, 1);
	struct dc_queue_item got;
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(a, id, &got, NULL), DC_OK);
	CU_ASSERT(got.len == 4 && memcmp(got.data, "kept", 4) == 0);
	dc_queue_item_clear(&got);
	dc_queue_close(a);
}

static void count_box(void *arg, const char *mailbox, const char *client)
{
	if (strcmp(mailbox, "did:r1") == 0 && strcmp(client, "did:c1") == 0)
		++*(int *)arg;
}

static void mediation(void)
{
	clean();
	struct dc_queue *a = open_as("test-a", NULL), *b = open_as("test-b", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	int64_t now = now_ms();
	bool granted = true;
	CU_ASSERT_EQUAL(dc_queue_med_granted(a, "did:c1", &granted, NULL), DC_OK);
	CU_ASSERT(!granted);
	CU_ASSERT_EQUAL(dc_queue_med_grant(a, "did:c1", now, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_med_grant(a, "did:c1", now, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_med_granted(b, "did:c1", &granted, NULL), DC_OK); /* the other gateway sees it */
	CU_ASSERT(granted);
	enum dc_queue_med_change ch;
	CU_ASSERT_EQUAL(dc_queue_med_recipient(a, "did:c1", "did:r1", "did:r1", true, now, &ch, NULL), DC_OK);
	CU_ASSERT_EQUAL(ch, DC_QUEUE_MED_DONE);
	CU_ASSERT_EQUAL(dc_queue_med_recipient(b, "did:c1", "did:r1", "did:r1", true, now, &ch, NULL), DC_OK);
	CU_ASSERT_EQUAL(ch, DC_QUEUE_MED_SAME);
	CU_ASSERT_EQUAL(dc_queue_med_recipient(b, "did:c2", "did:r1", "did:r1", true, now, &ch, NULL), DC_OK);
	CU_ASSERT_EQUAL(ch, DC_QUEUE_MED_OTHERS);
	CU_ASSERT_EQUAL(dc_queue_med_recipient(b, "did:c2", "did:r1#k", "did:r1", true, now, &ch, NULL), DC_OK);
	CU_ASSERT_EQUAL(ch, DC_QUEUE_MED_OTHERS); /* one client a mailbox */
	char **dids = NULL;
	size_t n = 0, total = 0;
	CU_ASSERT_EQUAL(dc_queue_med_recipients(b, "did:c1", 0, 10, &dids, &n, &total, NULL), DC_OK);
	CU_ASSERT(n == 1 && total == 1 && dids && strcmp(dids[0], "did:r1") == 0);
	for (size_t i = 0; i < n; i++)
		free(dids[i]);
	free(dids);
	struct dc_queue_new_item its[3] = { item("hold did:r1", "one"), item("hold did:r1", "two!"), item("http x", "3") };
	int64_t ids[3];
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(a, its, 3, ids, NULL), DC_OK);
	struct dc_queue_mailbox_stats ms;
	CU_ASSERT_EQUAL(dc_queue_mailbox_stats(b, "did:c1", NULL, &ms, NULL), DC_OK);
	CU_ASSERT(ms.count == 2 && ms.bytes == 7 && ms.last_id == ids[1] && ms.oldest_ms > 0);
	CU_ASSERT_EQUAL(dc_queue_mailbox_stats(b, "did:c2", NULL, &ms, NULL), DC_OK);
	CU_ASSERT_EQUAL(ms.count, 0);
	struct dc_queue_item *got = NULL;
	CU_ASSERT_EQUAL(dc_queue_mailbox_get(b, "did:c1", NULL, 0, 10, 1 << 20, &got, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT(got[0].id == ids[0] && got[1].len == 4 && memcmp(got[1].data, "two!", 4) == 0);
	dc_queue_items_free(got, n);
	size_t gone = 0;
	CU_ASSERT_EQUAL(dc_queue_mailbox_ack(b, "did:c2", ids, 3, &gone, NULL), DC_OK);
	CU_ASSERT_EQUAL(gone, 0); /* not c2's */
	CU_ASSERT_EQUAL(dc_queue_mailbox_ack(b, "did:c1", ids, 3, &gone, NULL), DC_OK);
	CU_ASSERT_EQUAL(gone, 2); /* the http one is no mailbox's */
	int rows = 0;
	CU_ASSERT_EQUAL(dc_queue_med_each(a, count_box, &rows, NULL), DC_OK);
	CU_ASSERT_EQUAL(rows, 1);
	CU_ASSERT_EQUAL(dc_queue_med_recipient(a, "did:c1", "did:r1", "did:r1", false, now, &ch, NULL), DC_OK);
	CU_ASSERT_EQUAL(ch, DC_QUEUE_MED_DONE);
	dc_queue_close(a);
	dc_queue_close(b);
}

/* queue purge --dest on PostgreSQL: SQLite's GLOB, characters of regular expressions literal */
static void purge_by_glob(void)
{
	clean();
	struct dc_queue *a = open_as("test-a", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	struct dc_queue_new_item its[4] = { item("http https://a.example/x", "1"), item("http https://a.example/y", "2"),
		                            item("http https://aXexample/z", "3"), item("mqtt t/1", "4") };
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(a, its, 4, NULL, NULL), DC_OK);
	uint64_t removed = 0;
	CU_ASSERT_EQUAL(dc_queue_purge_dest(a, "http https://a.example/*", false, &removed, NULL), DC_OK);
	CU_ASSERT_EQUAL(removed, 2); /* the '.' is a dot, not any character */
	CU_ASSERT_EQUAL(dc_queue_purge_dest(a, "mqtt t/?", false, &removed, NULL), DC_OK);
	CU_ASSERT_EQUAL(removed, 1);
	CU_ASSERT_EQUAL(dc_queue_purge_dest(a, "http [a-z]*", false, &removed, NULL), DC_OK);
	CU_ASSERT_EQUAL(removed, 1);
	uint64_t rm = 0;
	CU_ASSERT_EQUAL(dc_queue_remove(a, 999, &rm, NULL), DC_ERR_NOT_FOUND);
	dc_queue_close(a);
}

/* one reader at a time: the first to ask holds the name; the other takes it over when the
 * holder goes (closed, or its session killed) */
static bool wait_mine(struct dc_queue *q, const char *name)
{
	for (int i = 0; i < 200; i++) { /* 10 s: the answers are cached for 1 s */
		bool mine = false;
		if (dc_queue_exclusive(q, name, &mine, NULL) == DC_OK && mine)
			return true;
		usleep(50 * 1000);
	}
	return false;
}

static void exclusive_readers(void)
{
	clean();
	struct dc_queue *a = open_as("test-a", NULL), *b = open_as("test-b", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	bool mine = false;
	CU_ASSERT_EQUAL(dc_queue_exclusive(a, "imap gw@mail:143/INBOX", &mine, NULL), DC_OK);
	CU_ASSERT(mine);
	CU_ASSERT_EQUAL(dc_queue_exclusive(b, "imap gw@mail:143/INBOX", &mine, NULL), DC_OK);
	CU_ASSERT(!mine);
	CU_ASSERT_EQUAL(dc_queue_exclusive(b, "/srv/inbox", &mine, NULL), DC_OK);
	CU_ASSERT(mine); /* another name: another lock */
	CU_ASSERT_EQUAL(dc_queue_exclusive(a, "imap gw@mail:143/INBOX", &mine, NULL), DC_OK);
	CU_ASSERT(mine);
	dc_queue_close(a); /* a gateway stops (or dies): the other takes over */
	CU_ASSERT(wait_mine(b, "imap gw@mail:143/INBOX"));
	/* b's session killed: b no longer claims it; a newcomer gets it */
	CU_ASSERT_EQUAL(tq_pg_exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
	                           "application_name='didcomm-gateway' AND pid<>pg_backend_pid()"), 0);
	struct dc_queue *c = open_as("test-c", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT(wait_mine(c, "imap gw@mail:143/INBOX"));
	/* and b, once its cached answer runs out (1 s), knows it lost it */
	bool lost = false;
	for (int i = 0; i < 200 && !lost; i++) {
		lost = dc_queue_exclusive(b, "imap gw@mail:143/INBOX", &mine, NULL) != DC_OK || !mine;
		if (!lost)
			usleep(50 * 1000);
	}
	CU_ASSERT(lost);
	CU_ASSERT_EQUAL(dc_queue_exclusive(c, "", &mine, NULL), DC_ERR_INVAL);
	dc_queue_close(b);
	dc_queue_close(c);
}

/* a batch in one round trip: an item left out by its key takes no else with it, and the
 * else items of the others go to their own items */
static void keyed_else_in_a_batch(void)
{
	clean();
	struct dc_queue *a = open_as("test-a", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	struct dc_queue_else ea = { .dest = "http else-a" }, eb = { .dest = "http else-b" };
	struct dc_queue_new_item one = item("http a", "A");
	one.key = "k1";
	one.els = &ea;
	one.n_els = 1;
	int64_t id1 = 0;
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(a, &one, 1, &id1, NULL), DC_OK);
	struct dc_queue_new_item two[3] = { item("http b", "B"), one, item("http c", "C") };
	two[0].els = &eb;
	two[0].n_els = 1;
	two[2].key = "k2";
	two[2].els = &eb;
	two[2].n_els = 1;
	int64_t ids[3] = { -1, -1, -1 };
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(a, two, 3, ids, NULL), DC_OK);
	CU_ASSERT(ids[0] > id1 && ids[1] == 0 && ids[2] > ids[0]);
	CU_ASSERT_EQUAL(tq_pg_count("fallback"), 3); /* A's, B's, C's: none for the A left out */
	CU_ASSERT_EQUAL(tq_pg_count("queue"), 3);
	CU_ASSERT_EQUAL(dc_queue_fail(a, id1, now_ms(), "gone", NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_fail(a, ids[0], now_ms(), "gone", NULL), DC_OK);
	struct dc_queue_item *ls = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL(dc_queue_list(a, false, 0, 10, &ls, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(n, 3); /* C, and the two else items */
	CU_ASSERT_STRING_EQUAL(ls[1].dest, "http else-a");
	CU_ASSERT_STRING_EQUAL(ls[2].dest, "http else-b");
	dc_queue_items_free(ls, n);
	/* full: the batch goes back whole */
	dc_queue_close(a);
	struct dc_queue_opts o = { .max_items = 4 };
	CU_ASSERT_PTR_NOT_NULL_FATAL(a = open_as("test-a", &o));
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL(dc_queue_put(a, two, 3, ids, &ei), DC_ERR_AGAIN);
	CU_ASSERT(strstr(ei.msg, "full") != NULL);
	CU_ASSERT_EQUAL(tq_pg_count("queue"), 3);
	dc_queue_close(a);
}

static void password_file_mode(void)
{
	char path[] = "/tmp/dcpw.XXXXXX";
	int fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, "secret\n", 7), 7);
	close(fd);
	CU_ASSERT_EQUAL(chmod(path, 0644), 0);
	struct dc_queue *q = NULL;
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL(dc_queue_open_pg(tq_pg_url, path, NULL, "test-a", &q, &ei), DC_ERR_DENIED);
	CU_ASSERT(strstr(ei.msg, "chmod 600") != NULL);
	CU_ASSERT_PTR_NULL(q);
	CU_ASSERT_EQUAL(chmod(path, 0600), 0);
	CU_ASSERT_EQUAL(dc_queue_open_pg(tq_pg_url, path, NULL, "test-a", &q, &ei), DC_OK); /* trust: not asked */
	dc_queue_close(q);
	unlink(path);
}

/* a store of version 1 (before the rule inputs were kept): the first gateway of version 2
 * adds the column and records the version, once; its items have none, new ones do */
static int64_t schema_version(void)
{
	return tq_pg_count("dc_schema WHERE version=2") == 1 && tq_pg_count("dc_schema") == 1 ? 2 : -1;
}

static void schema_v1_migrated(void)
{
	clean();
	struct dc_queue *a = open_as("test-a", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	struct dc_queue_new_item it = item("http a", "old");
	int64_t old_id = 0, new_id = 0;
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(a, &it, 1, &old_id, NULL), DC_OK);
	dc_queue_close(a);
	/* the version 1 schema: no facts column, version 1 recorded */
	CU_ASSERT_EQUAL_FATAL(tq_pg_exec("ALTER TABLE queue DROP COLUMN facts; UPDATE dc_schema SET version=1"), 0);
	CU_ASSERT_EQUAL(tq_pg_count("information_schema.columns WHERE table_name='queue' AND column_name='facts'"), 0);
	struct dc_queue *b = open_as("test-b", NULL), *c = open_as("test-c", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c); /* the second start finds it done */
	CU_ASSERT_EQUAL(schema_version(), 2);
	CU_ASSERT_EQUAL(tq_pg_count("information_schema.columns WHERE table_name='queue' AND column_name='facts'"), 1);
	struct dc_queue_item got;
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(b, old_id, &got, NULL), DC_OK);
	CU_ASSERT(got.len == 3 && memcmp(got.data, "old", 3) == 0 && got.facts == NULL);
	dc_queue_item_clear(&got);
	it.facts = "{\"part\":0}";
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(c, &it, 1, &new_id, NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(b, new_id, &got, NULL), DC_OK);
	CU_ASSERT(got.facts && strcmp(got.facts, "{\"part\":0}") == 0);
	dc_queue_item_clear(&got);
	dc_queue_close(b);
	dc_queue_close(c);
}

/* queue reroute beside the gateways: an item another gateway holds is in flight; one whose
 * claim is under way (its row locked) is waited for and then found in flight; once that lease
 * ran out it moves and is nobody's; the gateway of the command's own state_dir (the same
 * instance name) is woken */
struct redest_job {
	struct dc_queue *q;
	int64_t id;
	struct dc_queue_redest r;
	dc_err rc;
	char msg[256];
};

static void *redest_thread(void *arg)
{
	struct redest_job *j = arg;
	struct dc_errinfo ei = { 0 };
	j->rc = dc_queue_redest(j->q, j->id, &j->r, &ei);
	snprintf(j->msg, sizeof j->msg, "%s", ei.msg);
	return NULL;
}

static void redest_beside_claims(void)
{
	clean();
	struct dc_queue *a = open_as("test-a", NULL), *b = open_as("test-b", NULL), *w = open_as("test-a", NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_PTR_NOT_NULL_FATAL(w);
	struct dc_queue_new_item its[2] = { item("http a", "1"), item("http a", "2") };
	int64_t ids[2];
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(a, its, 2, ids, NULL), DC_OK);
	int64_t now = now_ms() + 10;
	struct dc_queue_item *got = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL_FATAL(dc_queue_claim(b, now, 1, 8, 60000, &got, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_EQUAL(got[0].id, ids[0]);
	dc_queue_items_free(got, n);
	struct dc_errinfo ei = { 0 };
	struct dc_queue_redest r = { .from = "http a", .dest = "http b", .now_ms = now, .next_ms = now };
	CU_ASSERT_EQUAL(dc_queue_redest(a, ids[0], &r, &ei), DC_ERR_AGAIN);
	CU_ASSERT_PTR_NOT_NULL(strstr(ei.msg, "in flight"));
	/* b's lease ran out (b died): a moves it; it is nobody's, b's restart releases nothing */
	r.now_ms = r.next_ms = now + 61000;
	CU_ASSERT_EQUAL(dc_queue_redest(a, ids[0], &r, &ei), DC_OK);
	CU_ASSERT_EQUAL(tq_pg_count("queue WHERE owner IS NOT NULL OR lease_until<>0"), 0);
	uint64_t released = 9;
	CU_ASSERT_EQUAL(dc_queue_release_leases(b, &released, NULL), DC_OK);
	CU_ASSERT_EQUAL(released, 0);

	/* a claim under way elsewhere: its row locked, its lease written, not yet committed */
	PGconn *c = PQconnectdb(tq_pg_url);
	CU_ASSERT_FATAL(c && PQstatus(c) == CONNECTION_OK);
	char sql[200];
	snprintf(sql, sizeof sql, "BEGIN; SELECT id FROM queue WHERE id=%lld FOR UPDATE; UPDATE queue SET "
	         "lease_until=%lld, owner='test-b' WHERE id=%lld", (long long)ids[1], (long long)(now + 60000),
	         (long long)ids[1]);
	PGresult *res = PQexec(c, sql);
	CU_ASSERT_EQUAL(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	static struct redest_job j;
	memset(&j, 0, sizeof j);
	j.q = a;
	j.id = ids[1];
	j.r = (struct dc_queue_redest){ .from = "http a", .dest = "http c", .now_ms = now, .next_ms = now };
	pthread_t th;
	CU_ASSERT_EQUAL_FATAL(pthread_create(&th, NULL, redest_thread, &j), 0);
	/* until the re-route waits for that row lock (10 s at most) */
	bool waiting = false;
	for (int i = 0; i < 200 && !waiting; i++)
		if (!(waiting = tq_pg_count("pg_locks WHERE NOT granted AND locktype='transactionid'") >= 1))
			usleep(50 * 1000);
	CU_ASSERT(waiting);
	res = PQexec(c, "COMMIT");
	CU_ASSERT_EQUAL(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	PQfinish(c);
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(j.rc, DC_ERR_AGAIN);
	CU_ASSERT_PTR_NOT_NULL(strstr(j.msg, "in flight"));
	struct dc_queue_item it;
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(a, ids[1], &it, NULL), DC_OK);
	CU_ASSERT_STRING_EQUAL(it.dest, "http a");
	dc_queue_item_clear(&it);

	/* the daemon beside the command, with the same instance name, hears of a move */
	woken = 0;
	CU_ASSERT_EQUAL_FATAL(dc_queue_watch(w, on_due, NULL, NULL), DC_OK);
	CU_ASSERT(wait_woken(1)); /* once when it starts listening */
	r = (struct dc_queue_redest){ .from = "http b", .dest = "http d", .now_ms = now, .next_ms = now };
	CU_ASSERT_EQUAL(dc_queue_redest(a, ids[0], &r, &ei), DC_OK);
	CU_ASSERT(wait_woken(2));
	dc_queue_close(w);
	dc_queue_close(a);
	dc_queue_close(b);
}

void tq_pg_add_tests(CU_pSuite s)
{
	TU_ADD(s, two_gateways_claim);
	TU_ADD(s, leases_taken_over);
	TU_ADD(s, schema_newer_refused);
	TU_ADD(s, cluster_identity);
	TU_ADD(s, watch_notified);
	TU_ADD(s, reconnects);
	TU_ADD(s, mediation);
	TU_ADD(s, purge_by_glob);
	TU_ADD(s, exclusive_readers);
	TU_ADD(s, keyed_else_in_a_batch);
	TU_ADD(s, password_file_mode);
	TU_ADD(s, schema_v1_migrated);
	TU_ADD(s, redest_beside_claims);
}
