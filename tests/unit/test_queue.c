/* The queue on both stores: put/claim/ack, leases, per-destination limits, backoff, dead
 * letters, expiry, max age, requeue, purge, stats, reopen, a second reader, limits. Suite
 * "queue" runs them on SQLite; suite "queue_pg" runs the same ones on the PostgreSQL whose URL
 * is in DC_TEST_PG_URL (tests/run.sh starts a throwaway server), without the SQLite-only
 * parts (envelope files, old store files), and then what only a shared store does (test_queue_pg.c). */
#include "testutil.h"

#include "dc_queue.h"
#include "queue_int.h"
#include <time.h>

#include <dirent.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>

/* test_queue_pg.c */
int tq_pg_exec(const char *sql);
int64_t tq_pg_count(const char *table);
void tq_pg_add_tests(CU_pSuite s);

static char dir[64];
bool tq_on_pg;        /* the suite running: queue_pg */
const char *tq_pg_url;

static struct dc_queue *open_q(const struct dc_queue_opts *o)
{
	char path[128];
	snprintf(path, sizeof path, "%s/q.db", dir);
	struct dc_queue *q = NULL;
	struct dc_errinfo ei = { 0 };
	dc_err rc = tq_on_pg ? dc_queue_open_pg(tq_pg_url, NULL, o, "test-a", &q, &ei) : dc_queue_open_sqlite(path, o, &q, &ei);
	if (rc)
		fprintf(stderr, "\nqueue open: %s\n", ei.msg);
	return q;
}

static int setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/dcq.XXXXXX");
	return mkdtemp(dir) ? 0 : 1;
}

static int teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}

static void fresh(void)
{
	if (tq_on_pg) {
		CU_ASSERT_EQUAL(tq_pg_exec("DROP SCHEMA public CASCADE; CREATE SCHEMA public"), 0);
		return;
	}
	char p[128];
	const char *sfx[] = { "", "-wal", "-shm" };
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s/q.db%s", dir, sfx[i]);
		unlink(p);
	}
	char cmd[160];
	snprintf(cmd, sizeof cmd, "rm -rf %s/q.db-blobs", dir);
	CU_ASSERT_EQUAL(system(cmd), 0);
}

static struct dc_queue_new_item item(const char *dest, const char *data)
{
	struct dc_queue_new_item it = { .msg_id = "m", .data = (const uint8_t *)data, .len = strlen(data),
	                                .media_type = "application/didcomm-encrypted+json", .dest = dest,
	                                .origin = "http 127.0.0.1" };
	return it;
}

static void put_claim_ack(void)
{
	fresh();
	struct dc_queue *q = open_q(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	struct dc_queue_new_item its[3] = { item("http a", "one"), item("http a", "two"), item("http b", "three") };
	int64_t ids[3];
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, its, 3, ids, NULL), DC_OK);
	CU_ASSERT(ids[0] < ids[1] && ids[1] < ids[2]);
	struct dc_queue_item *got = NULL;
	size_t n = 0;
	int64_t now = 4102444800000; /* far in the future: everything is due */
	CU_ASSERT_EQUAL(dc_queue_claim(q, 1, 10, 8, 1000, &got, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL(n, 0); /* at t=1 nothing is due yet */
	dc_queue_items_free(got, n);
	now = 0;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (int64_t)ts.tv_sec * 1000 + 1000;
	CU_ASSERT_EQUAL_FATAL(dc_queue_claim(q, now, 10, 8, 60000, &got, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	CU_ASSERT(got[0].len == 3 && memcmp(got[0].data, "one", 3) == 0);
	CU_ASSERT_STRING_EQUAL(got[2].dest, "http b");
	/* leased: not handed out twice */
	struct dc_queue_item *again = NULL;
	size_t n2 = 0;
	CU_ASSERT_EQUAL(dc_queue_claim(q, now, 10, 8, 60000, &again, &n2, NULL), DC_OK);
	CU_ASSERT_EQUAL(n2, 0);
	dc_queue_items_free(again, n2);
	/* the lease runs out (a crash mid-delivery): handed out again, at least once */
	CU_ASSERT_EQUAL(dc_queue_claim(q, now + 61000, 10, 8, 60000, &again, &n2, NULL), DC_OK);
	CU_ASSERT_EQUAL(n2, 3);
	dc_queue_items_free(again, n2);
	/* a restart releases the leases of the run that died: due at once, not when they run out */
	uint64_t released = 0;
	CU_ASSERT_EQUAL(dc_queue_release_leases(q, &released, NULL), DC_OK);
	CU_ASSERT_EQUAL(released, 3);
	CU_ASSERT_EQUAL(dc_queue_claim(q, now, 10, 8, 60000, &again, &n2, NULL), DC_OK);
	CU_ASSERT_EQUAL(n2, 3);
	dc_queue_items_free(again, n2);
	CU_ASSERT_EQUAL(dc_queue_release_leases(q, NULL, NULL), DC_OK);
	for (size_t i = 0; i < n; i++)
		CU_ASSERT_EQUAL(dc_queue_ack(q, got[i].id, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_ack(q, got[0].id, NULL), DC_ERR_NOT_FOUND);
	dc_queue_items_free(got, n);
	struct dc_queue_stats st;
	CU_ASSERT_EQUAL(dc_queue_stats(q, now, &st, NULL), DC_OK);
	CU_ASSERT_EQUAL(st.queued, 0);
	dc_queue_close(q);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void per_destination(void)
{
	fresh();
	struct dc_queue *q = open_q(NULL);
	struct dc_queue_new_item its[6] = { item("http a", "1"), item("http a", "2"), item("http a", "3"),
	                                    item("http a", "4"), item("http b", "5"), item("http b", "6") };
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, its, 6, NULL, NULL), DC_OK);
	struct dc_queue_item *got = NULL;
	size_t n = 0;
	int64_t now = now_ms() + 10;
	CU_ASSERT_EQUAL(dc_queue_claim(q, now, 10, 2, 60000, &got, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL(n, 4); /* two of a, two of b */
	dc_queue_items_free(got, n);
	/* two of a are in flight: a third claim gives none of a */
	CU_ASSERT_EQUAL(dc_queue_claim(q, now, 10, 2, 60000, &got, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL(n, 0);
	dc_queue_items_free(got, n);
	dc_queue_close(q);
}

static void backoff_and_dead_letters(void)
{
	struct dc_queue_opts o = { .retry_base_ms = 1000, .retry_max_ms = 8000, .max_age_ms = 60000 };
	struct dc_queue_opts filled = o;
	for (unsigned a = 1; a <= 8; a++) {
		int64_t want = a == 1 ? 1000 : a == 2 ? 2000 : a == 3 ? 4000 : 8000;
		for (int k = 0; k < 20; k++) {
			int64_t d = dc_queue_backoff_ms(&filled, a);
			CU_ASSERT(d >= want / 2 && d <= want);
		}
	}
	fresh();
	struct dc_queue *q = open_q(&o);
	struct dc_queue_new_item its[2] = { item("http down", "x"), item("http down", "y") };
	its[1].expires_ms = now_ms() + 1500; /* expires before the second retry */
	int64_t ids[2];
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, its, 2, ids, NULL), DC_OK);
	int64_t now = now_ms() + 10;
	struct dc_queue_item *got = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL(dc_queue_claim(q, now, 10, 8, 60000, &got, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL(n, 2);
	dc_queue_items_free(got, n);
	CU_ASSERT_EQUAL(dc_queue_retry_later(q, ids[0], now, "connection refused", NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_retry_later(q, ids[1], now + 1000, "503", NULL), DC_OK); /* -> dead: expired */
	struct dc_queue_item it;
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, ids[0], &it, NULL), DC_OK);
	CU_ASSERT_EQUAL(it.attempts, 1);
	CU_ASSERT(it.next_ms >= now + 500 && it.next_ms <= now + 1000);
	CU_ASSERT_STRING_EQUAL(it.last_error, "connection refused");
	dc_queue_item_clear(&it);
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, ids[1], &it, NULL), DC_OK);
	CU_ASSERT(it.dead);
	CU_ASSERT(strstr(it.last_error, "expired") != NULL);
	dc_queue_item_clear(&it);
	/* too old: dead-lettered on retry with the last error kept */
	CU_ASSERT_EQUAL(dc_queue_retry_later(q, ids[0], now + 70000, "timeout", NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, ids[0], &it, NULL), DC_OK);
	CU_ASSERT(it.dead && strstr(it.last_error, "timeout") && strstr(it.last_error, "max_age"));
	dc_queue_item_clear(&it);
	struct dc_queue_stats st;
	CU_ASSERT_EQUAL(dc_queue_stats(q, now, &st, NULL), DC_OK);
	CU_ASSERT(st.queued == 0 && st.dead == 2);
	/* requeue a dead one, list, purge */
	CU_ASSERT_EQUAL(dc_queue_requeue(q, ids[0], now, NULL), DC_OK);
	struct dc_queue_item *list = NULL;
	CU_ASSERT_EQUAL(dc_queue_list(q, false, 0, 10, &list, &n, NULL), DC_OK);
	CU_ASSERT(n == 1 && list[0].id == ids[0] && list[0].attempts == 0);
	dc_queue_items_free(list, n);
	CU_ASSERT_EQUAL(dc_queue_list(q, true, 0, 10, &list, &n, NULL), DC_OK);
	CU_ASSERT(n == 1 && list[0].id == ids[1]);
	dc_queue_items_free(list, n);
	uint64_t purged = 0;
	CU_ASSERT_EQUAL(dc_queue_purge_dead(q, &purged, NULL), DC_OK);
	CU_ASSERT_EQUAL(purged, 1);
	/* permanent failure */
	CU_ASSERT_EQUAL(dc_queue_fail(q, ids[0], now, "HTTP 404", NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, ids[0], &it, NULL), DC_OK);
	CU_ASSERT(it.dead && strcmp(it.last_error, "HTTP 404") == 0);
	dc_queue_item_clear(&it);
	/* expired at claim time: never handed out */
	struct dc_queue_new_item e = item("http x", "late");
	e.expires_ms = now - 1;
	int64_t eid = 0;
	CU_ASSERT_EQUAL(dc_queue_put(q, &e, 1, &eid, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_claim(q, now + 100, 10, 8, 1000, &got, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL(n, 0);
	dc_queue_items_free(got, n);
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, eid, &it, NULL), DC_OK);
	CU_ASSERT(it.dead);
	dc_queue_item_clear(&it);
	dc_queue_close(q);
}

static void limits_reopen_reader(void)
{
	fresh();
	struct dc_queue_opts o = { .max_items = 3, .max_item_bytes = 16 };
	struct dc_queue *q = open_q(&o), *reader = NULL;
	struct dc_queue_new_item big = item("http a", "0123456789abcdefg");
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL(dc_queue_put(q, &big, 1, NULL, &ei), DC_ERR_TOO_BIG);
	struct dc_queue_new_item its[4] = { item("http a", "1"), item("http a", "2"), item("http a", "3"),
	                                    item("http a", "4") };
	CU_ASSERT_EQUAL(dc_queue_put(q, its, 3, NULL, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_put(q, its + 3, 1, NULL, &ei), DC_ERR_AGAIN); /* full: HTTP 503 */
	CU_ASSERT(strstr(ei.msg, "full") != NULL);
	/* a second connection (the CLI) reads while the first is open */
	reader = open_q(NULL);
	struct dc_queue_stats st;
	CU_ASSERT_EQUAL(dc_queue_stats(reader, now_ms(), &st, NULL), DC_OK);
	CU_ASSERT_EQUAL(st.queued, 3);
	dc_queue_close(reader);
	dc_queue_close(q);
	q = open_q(NULL); /* reopen: all still there */
	CU_ASSERT_EQUAL(dc_queue_stats(q, now_ms(), &st, NULL), DC_OK);
	CU_ASSERT_EQUAL(st.queued, 3);
	CU_ASSERT(st.bytes == 3 && st.oldest_created_ms > 0);
	dc_queue_close(q);
	if (tq_on_pg)
		return;
	/* a file that is not a database */
	char p[128];
	snprintf(p, sizeof p, "%s/junk.db", dir);
	FILE *f = fopen(p, "w");
	fputs("this is not sqlite, just text that is long enough to have a header of sorts........", f);
	fclose(f);
	struct dc_queue *bad = NULL;
	CU_ASSERT_EQUAL(dc_queue_open_sqlite(p, NULL, &bad, &ei), DC_ERR_IO);
	CU_ASSERT_PTR_NULL(bad);
}

/* a rule's else: queued when the item fails for good or runs out of time, never when it
 * expires or is delivered; born-leased items stay out of claims until their lease ends */
static void else_and_born_leased(void)
{
	fresh();
	struct dc_queue *q = open_q(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	int64_t now = now_ms();
	struct dc_queue_else els[2] = { { .dest = "http b" }, { .dest = "hold did:x", .data = (const uint8_t *)"other",
		                                                  .len = 5, .hold_ms = 3600000 } };
	struct dc_queue_new_item its[3] = { item("http a", "one"), item("http a", "two"), item("http a", "three") };
	for (int i = 0; i < 3; i++) {
		its[i].els = els;
		its[i].n_els = 2;
	}
	its[2].leased_until_ms = now + 60000; /* born leased: the caller sends it from memory */
	int64_t ids[3];
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, its, 3, ids, NULL), DC_OK);
	struct dc_queue_item *got = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL(dc_queue_claim(q, now + 1000, 10, 8, 60000, &got, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL(n, 2); /* not the born-leased one */
	dc_queue_items_free(got, n);
	/* one fails for good: its two else items come in; one is delivered: its else goes */
	CU_ASSERT_EQUAL(dc_queue_fail(q, ids[0], now, "HTTP 404", NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_ack(q, ids[1], NULL), DC_OK);
	struct dc_queue_item *ls = NULL;
	CU_ASSERT_EQUAL(dc_queue_list(q, false, 0, 10, &ls, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(n, 3); /* the born-leased one and the two else items */
	CU_ASSERT_STRING_EQUAL(ls[1].dest, "http b");
	CU_ASSERT_STRING_EQUAL(ls[2].dest, "hold did:x");
	CU_ASSERT(ls[2].next_ms >= now + 3600000 && ls[2].expires_ms == 0); /* a hold: due then (its end), expiring only with the message */
	CU_ASSERT_STRING_EQUAL(ls[1].origin, "else of #1");
	int64_t else1 = ls[1].id, else2 = ls[2].id;
	dc_queue_items_free(ls, n);
	struct dc_queue_item it;
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, else1, &it, NULL), DC_OK);
	CU_ASSERT(it.len == 3 && memcmp(it.data, "one", 3) == 0); /* NULL data: the failed item's envelope */
	dc_queue_item_clear(&it);
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, else2, &it, NULL), DC_OK);
	CU_ASSERT(it.len == 5 && memcmp(it.data, "other", 5) == 0);
	dc_queue_item_clear(&it);
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, ids[0], &it, NULL), DC_OK);
	CU_ASSERT(it.dead && strstr(it.last_error, "handed to the rule's else (2 items)") != NULL);
	dc_queue_item_clear(&it);
	/* the born-leased one after its lease, and past its expiry: dead, no else */
	CU_ASSERT_EQUAL(dc_queue_retry_later(q, ids[2], now + INT64_C(80) * 3600 * 1000, "gone", NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_list(q, false, 0, 10, &ls, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL(n, 4); /* max age passed: its else came in too */
	dc_queue_items_free(ls, n);
	dc_queue_close(q);
}

/* envelopes of blob_min_bytes or more live in files beside the store: each file goes with
 * its item (delivered, dead, requeued, purged, copied for an else); leftovers are swept */
static size_t n_files(void)
{
	char p[128];
	snprintf(p, sizeof p, "%s/q.db-blobs", dir);
	return tu_dir_entries(p);
}

/* a file in the envelope directory, written (write) or only dated (an existing one) */
static void blob_file(const char *name, time_t mtime, bool write)
{
	char p[160];
	snprintf(p, sizeof p, "%s/q.db-blobs/%s", dir, name);
	if (write) {
		FILE *f = fopen(p, "w");
		CU_ASSERT_PTR_NOT_NULL_FATAL(f);
		fputs("x", f);
		fclose(f);
	}
	struct utimbuf t = { .actime = mtime, .modtime = mtime };
	CU_ASSERT_EQUAL(utime(p, &t), 0);
}

static bool exists(const char *name)
{
	char p[160];
	snprintf(p, sizeof p, "%s/q.db-blobs/%s", dir, name);
	return access(p, F_OK) == 0;
}

static void envelope_files(void)
{
	fresh();
	struct dc_queue_opts o = { .blob_min_bytes = 64 };
	struct dc_queue *q = open_q(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	char big[201];
	for (int i = 0; i < 200; i++)
		big[i] = (char)('a' + i % 26);
	big[200] = 0;
	int64_t now = now_ms();
	struct dc_queue_else els[2] = { { .dest = "http b" }, { .dest = "hold did:x", .data = (const uint8_t *)"other",
		                                                  .len = 5, .hold_ms = 3600000 } };
	struct dc_queue_new_item its[3] = { item("http a", "tiny"), item("http a", big), item("http a", big) };
	its[1].els = els;
	its[1].n_els = 2;
	int64_t ids[3];
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, its, 3, ids, NULL), DC_OK);
	CU_ASSERT_EQUAL(n_files(), 2); /* the two big ones */
	struct dc_queue_stats st;
	CU_ASSERT_EQUAL(dc_queue_stats(q, now, &st, NULL), DC_OK);
	CU_ASSERT_EQUAL(st.bytes, 404);
	struct dc_queue_item *got = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL(dc_queue_claim(q, now + 1000, 10, 8, 60000, &got, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	CU_ASSERT(got[0].len == 4 && memcmp(got[0].data, "tiny", 4) == 0);
	for (int i = 1; i < 3; i++)
		CU_ASSERT(got[i].len == 200 && memcmp(got[i].data, big, 200) == 0);
	dc_queue_items_free(got, n);
	/* delivered: its file goes */
	CU_ASSERT_EQUAL(dc_queue_ack(q, ids[2], NULL), DC_OK);
	CU_ASSERT_EQUAL(n_files(), 1);
	/* failed for good: the dead letter keeps the file, the else that takes the envelope gets a
	 * name of its own for it */
	CU_ASSERT_EQUAL(dc_queue_fail(q, ids[1], now, "HTTP 404", NULL), DC_OK);
	CU_ASSERT_EQUAL(n_files(), 2);
	struct dc_queue_item *ls = NULL;
	CU_ASSERT_EQUAL(dc_queue_list(q, false, 0, 10, &ls, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(n, 3); /* tiny, and the two else items */
	int64_t else1 = ls[1].id, else2 = ls[2].id;
	dc_queue_items_free(ls, n);
	struct dc_queue_item it;
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, else1, &it, NULL), DC_OK);
	CU_ASSERT(it.len == 200 && memcmp(it.data, big, 200) == 0);
	dc_queue_item_clear(&it);
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, else2, &it, NULL), DC_OK);
	CU_ASSERT(it.len == 5 && memcmp(it.data, "other", 5) == 0);
	dc_queue_item_clear(&it);
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, ids[1], &it, NULL), DC_OK);
	CU_ASSERT(it.dead && it.len == 200 && memcmp(it.data, big, 200) == 0);
	dc_queue_item_clear(&it);
	size_t gone = 0;
	int64_t del[] = { else1, else2, ids[0] };
	CU_ASSERT_EQUAL(dc_queue_ack_many(q, del, 3, &gone, NULL), DC_OK);
	CU_ASSERT_EQUAL(gone, 3);
	CU_ASSERT_EQUAL(n_files(), 1); /* the dead letter's */
	/* back from the dead letters with its file; delivered; gone */
	CU_ASSERT_EQUAL(dc_queue_requeue(q, ids[1], now, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_claim(q, now + 1000, 10, 8, 60000, &got, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT(got[0].id == ids[1] && got[0].len == 200 && memcmp(got[0].data, big, 200) == 0);
	dc_queue_items_free(got, n);
	CU_ASSERT_EQUAL(dc_queue_ack(q, ids[1], NULL), DC_OK);
	CU_ASSERT_EQUAL(n_files(), 0);
	/* purged dead letters take their files */
	struct dc_queue_new_item one = item("http c", big);
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, &one, 1, ids, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_fail(q, ids[0], now, "HTTP 410", NULL), DC_OK);
	CU_ASSERT_EQUAL(n_files(), 1);
	uint64_t purged = 0;
	CU_ASSERT_EQUAL(dc_queue_purge_dead(q, &purged, NULL), DC_OK);
	CU_ASSERT_EQUAL(purged, 1);
	CU_ASSERT_EQUAL(n_files(), 0);
	/* a file gone from under an item: that item is dead-lettered saying so, the rest go on */
	struct dc_queue_new_item two[2] = { item("http d", big), item("http d", "small") };
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, two, 2, ids, NULL), DC_OK);
	char p[160];
	snprintf(p, sizeof p, "%s/q.db-blobs", dir);
	DIR *d = opendir(p);
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.') {
			snprintf(p, sizeof p, "%s/q.db-blobs/%.40s", dir, e->d_name);
			unlink(p);
		}
	if (d)
		closedir(d);
	CU_ASSERT_EQUAL(dc_queue_claim(q, now + 1000, 10, 8, 60000, &got, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT(got[0].id == ids[1]);
	dc_queue_items_free(got, n);
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, ids[0], &it, NULL), DC_ERR_IO); /* dead, its file gone */
	CU_ASSERT_EQUAL(dc_queue_list(q, true, 0, 10, &ls, &n, NULL), DC_OK);
	CU_ASSERT(n == 1 && ls[0].id == ids[0] && strstr(ls[0].last_error, "envelope file") != NULL);
	dc_queue_items_free(ls, n);
	CU_ASSERT_EQUAL(dc_queue_purge_dead(q, NULL, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_ack(q, ids[1], NULL), DC_OK);
	/* start-up: a file no item names goes once it is old enough; a young one (a put in progress
	 * elsewhere) and a named one stay */
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, &one, 1, ids, NULL), DC_OK);
	CU_ASSERT_EQUAL(n_files(), 1);
	snprintf(p, sizeof p, "%s/q.db-blobs", dir);
	d = opendir(p);
	char named[64] = "";
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			snprintf(named, sizeof named, "%.40s", e->d_name);
	if (d)
		closedir(d);
	blob_file(named, time(NULL) - 3600, false); /* old, but named by an item */
	blob_file("0123456789abcdef0123456789abcdef", time(NULL) - 3600, true);
	blob_file("fedcba9876543210fedcba9876543210", time(NULL), true);
	CU_ASSERT_EQUAL(dc_queue_release_leases(q, NULL, NULL), DC_OK);
	CU_ASSERT(exists(named));
	CU_ASSERT(!exists("0123456789abcdef0123456789abcdef"));
	CU_ASSERT(exists("fedcba9876543210fedcba9876543210"));
	dc_queue_close(q);
	/* a reader with files off (the command line) still reads them */
	q = open_q(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, ids[0], &it, NULL), DC_OK);
	CU_ASSERT(it.len == 200 && memcmp(it.data, big, 200) == 0);
	dc_queue_item_clear(&it);
	dc_queue_close(q);
}

/* a file written ahead (another thread, no transaction), then named by the put that takes it */
static void envelope_files_ahead(void)
{
	fresh();
	struct dc_queue_opts o = { .blob_min_bytes = 64, .max_items = 2 };
	struct dc_queue *q = open_q(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	CU_ASSERT_EQUAL(dc_queue_file_min(q), 64);
	char big[150];
	memset(big, 'z', sizeof big - 1);
	big[sizeof big - 1] = 0;
	char name[DC_QUEUE_FILE_NAME];
	CU_ASSERT_EQUAL_FATAL(dc_queue_file_write(q, (const uint8_t *)big, 149, name, NULL), DC_OK);
	CU_ASSERT(exists(name));
	struct dc_queue_new_item its[2] = { item("http a", big), item("http a", big) };
	its[0].file = name;
	int64_t ids[2];
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, its, 2, ids, NULL), DC_OK); /* one named, one written by the put */
	CU_ASSERT_EQUAL(n_files(), 2);
	struct dc_queue_item *got = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL(dc_queue_claim(q, now_ms() + 1000, 10, 8, 60000, &got, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	for (size_t i = 0; i < n; i++)
		CU_ASSERT(got[i].len == 149 && memcmp(got[i].data, big, 149) == 0);
	dc_queue_items_free(got, n);
	/* a put that fails (full) leaves a file written ahead to its writer */
	char name2[DC_QUEUE_FILE_NAME];
	CU_ASSERT_EQUAL_FATAL(dc_queue_file_write(q, (const uint8_t *)big, 149, name2, NULL), DC_OK);
	struct dc_queue_new_item third = item("http a", big);
	third.file = name2;
	CU_ASSERT_EQUAL(dc_queue_put(q, &third, 1, NULL, NULL), DC_ERR_AGAIN);
	CU_ASSERT(exists(name2));
	dc_queue_file_discard(q, name2);
	CU_ASSERT(!exists(name2));
	third.file = "../q.db";
	CU_ASSERT_EQUAL(dc_queue_put(q, &third, 1, NULL, NULL), DC_ERR_INVAL);
	CU_ASSERT_EQUAL(dc_queue_ack_many(q, ids, 2, NULL, NULL), DC_OK);
	CU_ASSERT_EQUAL(n_files(), 0);
	dc_queue_close(q);
	q = open_q(NULL); /* files off: nothing to write ahead */
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	CU_ASSERT_EQUAL(dc_queue_file_min(q), 0);
	CU_ASSERT_EQUAL(dc_queue_file_write(q, (const uint8_t *)big, 149, name, NULL), DC_ERR_UNSUPPORTED);
	dc_queue_close(q);
}

/* a store made before envelopes could be files: opened, it gets the columns, and its items
 * stay readable */
static void old_store_upgraded(void)
{
	fresh();
	char path[128];
	snprintf(path, sizeof path, "%s/q.db", dir);
	sqlite3 *db = NULL;
	CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &db), SQLITE_OK);
	const char *old =
		"CREATE TABLE queue(id INTEGER PRIMARY KEY AUTOINCREMENT, dest TEXT NOT NULL, next_ms INTEGER NOT NULL,"
		" lease_until INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL DEFAULT 0,"
		" attempts INTEGER NOT NULL DEFAULT 0, msg_id TEXT, media_type TEXT, origin TEXT, last_error TEXT,"
		" data BLOB NOT NULL);"
		"CREATE TABLE dead(id INTEGER PRIMARY KEY, msg_id TEXT, dest TEXT, origin TEXT, media_type TEXT,"
		" created_ms INTEGER, died_ms INTEGER, attempts INTEGER, reason TEXT, data BLOB);"
		"INSERT INTO queue(dest,next_ms,created_ms,data) VALUES('http a',0,1,x'6f6c64');";
	CU_ASSERT_EQUAL_FATAL(sqlite3_exec(db, old, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	struct dc_queue_opts o = { .blob_min_bytes = 64 };
	struct dc_queue *q = open_q(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	struct dc_queue_item it;
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, 1, &it, NULL), DC_OK);
	CU_ASSERT(it.len == 3 && memcmp(it.data, "old", 3) == 0);
	dc_queue_item_clear(&it);
	char big[100];
	memset(big, 'b', sizeof big - 1);
	big[sizeof big - 1] = 0;
	struct dc_queue_new_item one = item("http a", big);
	int64_t id;
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, &one, 1, &id, NULL), DC_OK);
	CU_ASSERT_EQUAL(n_files(), 1);
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, id, &it, NULL), DC_OK);
	CU_ASSERT(it.len == 99 && memcmp(it.data, big, 99) == 0);
	dc_queue_item_clear(&it);
	/* a store made before idempotency keys takes them */
	struct dc_queue_new_item k = item("http a", "keyed");
	k.key = "k1";
	int64_t ids[2];
	CU_ASSERT_EQUAL(dc_queue_put(q, &k, 1, &ids[0], NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_put(q, &k, 1, &ids[1], NULL), DC_OK);
	CU_ASSERT(ids[0] > 0 && ids[1] == 0);
	dc_queue_close(q);
}

static int64_t count_rows(const char *table)
{
	if (tq_on_pg)
		return tq_pg_count(table);
	char path[128], qs[80];
	snprintf(path, sizeof path, "%s/q.db", dir);
	snprintf(qs, sizeof qs, "SELECT COUNT(*) FROM %s", table);
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -1;
	if (sqlite3_open(path, &db) == SQLITE_OK && sqlite3_prepare_v2(db, qs, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* idempotency keys: an item whose key was put before is left out (id 0, its file removed),
 * in the same batch too, also after the first was delivered and after a reopen; other keys
 * and items without a key are put; keys are forgotten beyond keys_max, the newest kept */
static void idempotency_keys(void)
{
	fresh();
	struct dc_queue_opts o = { .blob_min_bytes = 64, .keys_max = 300 };
	struct dc_queue *q = open_q(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	char big[100];
	memset(big, 'k', sizeof big - 1);
	big[sizeof big - 1] = 0;
	struct dc_queue_new_item its[4] = { item("http a", "one"), item("http a", big), item("http a", "three"),
		                            item("http b", "one") };
	its[0].key = "A.0";
	its[1].key = "B.0";
	its[2].key = "A.0"; /* the same key again in one batch */
	int64_t ids[4];
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, its, 4, ids, NULL), DC_OK);
	CU_ASSERT(ids[0] > 0 && ids[1] > 0 && ids[2] == 0 && ids[3] > 0);
	CU_ASSERT_EQUAL(n_files(), tq_on_pg ? 0 : 1);
	/* put again (a file taken in again after a crash): nothing added, its file removed */
	int64_t again[2];
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, its, 2, again, NULL), DC_OK);
	CU_ASSERT(again[0] == 0 && again[1] == 0);
	CU_ASSERT_EQUAL(n_files(), tq_on_pg ? 0 : 1);
	/* a file written ahead for an item left out goes too */
	char name[DC_QUEUE_FILE_NAME];
	if (!tq_on_pg) {
		CU_ASSERT_EQUAL_FATAL(dc_queue_file_write(q, (const uint8_t *)big, 99, name, NULL), DC_OK);
		CU_ASSERT_EQUAL(n_files(), 2);
		struct dc_queue_new_item pre = its[1];
		pre.file = name;
		CU_ASSERT_EQUAL(dc_queue_put(q, &pre, 1, again, NULL), DC_OK);
		CU_ASSERT_EQUAL(again[0], 0);
		CU_ASSERT_EQUAL(n_files(), 1);
	} else {
		/* every envelope in the database: no files to write ahead */
		CU_ASSERT_EQUAL(dc_queue_file_min(q), 0);
		CU_ASSERT_EQUAL(dc_queue_file_write(q, (const uint8_t *)big, 99, name, NULL), DC_ERR_UNSUPPORTED);
	}
	/* delivered, reopened: the key is still known */
	CU_ASSERT_EQUAL(dc_queue_ack(q, ids[0], NULL), DC_OK);
	dc_queue_close(q);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q = open_q(&o));
	CU_ASSERT_EQUAL(dc_queue_put(q, its, 1, again, NULL), DC_OK);
	CU_ASSERT_EQUAL(again[0], 0);
	struct dc_queue_stats st;
	CU_ASSERT_EQUAL(dc_queue_stats(q, now_ms(), &st, NULL), DC_OK);
	CU_ASSERT_EQUAL(st.queued, 2);
	CU_ASSERT_EQUAL(dc_queue_put(q, &(struct dc_queue_new_item){ .data = (const uint8_t *)"x", .len = 1,
	                                                            .dest = "http a", .key = "" }, 1, NULL, NULL),
	                DC_ERR_INVAL);
	/* many more keys: at most keys_max are kept, the newest */
	for (int i = 0; i < 600; i++) {
		char kk[16];
		snprintf(kk, sizeof kk, "n%d", i);
		struct dc_queue_new_item m = item("http c", "m");
		m.key = kk;
		CU_ASSERT_EQUAL(dc_queue_put(q, &m, 1, NULL, NULL), DC_OK);
	}
	dc_queue_close(q);
	int64_t kept = count_rows("inkey");
	CU_ASSERT(kept >= 300 && kept < 300 + 256 + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q = open_q(&o));
	struct dc_queue_new_item last = item("http c", "m");
	last.key = "n599";
	CU_ASSERT_EQUAL(dc_queue_put(q, &last, 1, again, NULL), DC_OK);
	CU_ASSERT_EQUAL(again[0], 0); /* the newest is remembered */
	last.key = "A.0";
	last.data = (const uint8_t *)"one";
	last.len = 3;
	CU_ASSERT_EQUAL(dc_queue_put(q, &last, 1, again, NULL), DC_OK);
	CU_ASSERT(again[0] > 0); /* the oldest was forgotten */
	dc_queue_close(q);
}

/* held for presence: not claimed, no attempt spent, counted and listed, released under its
 * key only, in arrival order; an expiring one still dies; start-up releases what is held */
static void presence_hold(void)
{
	fresh();
	struct dc_queue *q = open_q(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	struct dc_queue_new_item its[4] = { item("mqtt d1", "a"), item("mqtt d1", "b"), item("mqtt d2", "c"),
		                            item("mqtt d1", "d") };
	its[3].expires_ms = now_ms() + 1000;
	int64_t ids[4];
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, its, 4, ids, NULL), DC_OK);
	int64_t now = now_ms() + 10;
	struct dc_queue_item *got = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL(dc_queue_claim(q, now, 10, 8, 60000, &got, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(n, 4);
	for (size_t i = 0; i < n; i++)
		CU_ASSERT_EQUAL(dc_queue_hold(q, got[i].id, i == 2 ? "p/d2" : "p/d1", NULL), DC_OK);
	dc_queue_items_free(got, n);
	CU_ASSERT_EQUAL(dc_queue_hold(q, 9999, "p/d1", NULL), DC_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(dc_queue_hold(q, ids[0], "", NULL), DC_ERR_INVAL);
	struct dc_queue_stats st;
	CU_ASSERT_EQUAL(dc_queue_stats(q, now, &st, NULL), DC_OK);
	CU_ASSERT_EQUAL(st.presence, 4);
	CU_ASSERT_EQUAL(st.leased, 0);
	CU_ASSERT_EQUAL(dc_queue_list(q, false, 0, 10, &got, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(n, 4);
	CU_ASSERT_STRING_EQUAL(got[0].held, "p/d1");
	CU_ASSERT_STRING_EQUAL(got[2].held, "p/d2");
	CU_ASSERT_EQUAL(got[0].attempts, 0);
	dc_queue_items_free(got, n);
	/* an hour later: nothing due but the one that expired (dead, not delivered); on a shared
	 * store the held ones come back too, for a look at their presence (the gateway that held
	 * them may be gone), and are held again */
	CU_ASSERT_EQUAL(dc_queue_claim(q, now + 3600000, 10, 8, 60000, &got, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL(n, tq_on_pg ? 3 : 0);
	for (size_t i = 0; tq_on_pg && i < n; i++) {
		CU_ASSERT_PTR_NULL(got[i].held);
		CU_ASSERT_EQUAL(dc_queue_hold(q, got[i].id, strcmp(got[i].dest, "mqtt d2") ? "p/d1" : "p/d2", NULL), DC_OK);
	}
	dc_queue_items_free(got, n);
	CU_ASSERT_EQUAL(dc_queue_stats(q, now, &st, NULL), DC_OK);
	CU_ASSERT_EQUAL(st.dead, 1);
	CU_ASSERT_EQUAL(st.presence, 3);
	uint64_t rel = 0;
	CU_ASSERT_EQUAL(dc_queue_release_held(q, "p/none", now, &rel, NULL), DC_OK);
	CU_ASSERT_EQUAL(rel, 0);
	CU_ASSERT_EQUAL(dc_queue_release_held(q, "p/d1", now, &rel, NULL), DC_OK);
	CU_ASSERT_EQUAL(rel, 2);
	CU_ASSERT_EQUAL(dc_queue_claim(q, now + 1, 10, 8, 60000, &got, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(n, 2);
	CU_ASSERT_EQUAL(got[0].id, ids[0]); /* arrival order */
	CU_ASSERT_EQUAL(got[1].id, ids[1]);
	CU_ASSERT_PTR_NULL(got[0].held);
	dc_queue_items_free(got, n);
	/* start-up: what is still held is due again (its adapter looks at presence afresh) */
	uint64_t released = 0;
	CU_ASSERT_EQUAL(dc_queue_release_leases(q, &released, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_stats(q, now, &st, NULL), DC_OK);
	CU_ASSERT_EQUAL(st.presence, 0);
	dc_queue_close(q);
}

static uint64_t share_of(struct dc_queue *q, const char *key)
{
	uint64_t n = 99;
	CU_ASSERT_EQUAL(dc_queue_share(q, key, &n, NULL), DC_OK);
	return n;
}

/* queue shares: live items per origin and per sender, through put, ack, dead letter (with its
 * else, which counts for nobody), requeue and remove; a store made before shares is counted
 * when opened */
static void shares(void)
{
	fresh();
	char path[128];
	snprintf(path, sizeof path, "%s/q.db", dir);
	sqlite3 *db = NULL;
	if (tq_on_pg) /* a store of before: SQLite's own history; the same two items put plainly */
		snprintf(path, sizeof path, ":memory:");
	CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &db), SQLITE_OK);
	const char *old =
		"CREATE TABLE queue(id INTEGER PRIMARY KEY AUTOINCREMENT, dest TEXT NOT NULL, next_ms INTEGER NOT NULL,"
		" lease_until INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL DEFAULT 0,"
		" attempts INTEGER NOT NULL DEFAULT 0, msg_id TEXT, media_type TEXT, origin TEXT, last_error TEXT,"
		" blob TEXT, blob_len INTEGER NOT NULL DEFAULT 0, held TEXT, data BLOB NOT NULL);"
		"CREATE TABLE dead(id INTEGER PRIMARY KEY, msg_id TEXT, dest TEXT, origin TEXT, media_type TEXT,"
		" created_ms INTEGER, died_ms INTEGER, attempts INTEGER, reason TEXT, blob TEXT,"
		" blob_len INTEGER NOT NULL DEFAULT 0, data BLOB);"
		"INSERT INTO queue(dest,next_ms,created_ms,origin,data) VALUES('http a',0,1,'http 10.0.0.1',x'6f6c64');"
		"INSERT INTO queue(dest,next_ms,created_ms,origin,data) VALUES('http a',0,1,'http 10.0.0.1',x'6f6c64');";
	CU_ASSERT_EQUAL_FATAL(sqlite3_exec(db, old, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	struct dc_queue *q = open_q(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	if (tq_on_pg) {
		struct dc_queue_new_item two[2] = { item("http a", "old"), item("http a", "old") };
		two[0].origin = two[1].origin = "http 10.0.0.1";
		CU_ASSERT_EQUAL(dc_queue_put(q, two, 2, NULL, NULL), DC_OK);
	}
	CU_ASSERT_EQUAL(share_of(q, "http 10.0.0.1"), 2); /* counted at the upgrade */
	struct dc_queue_else els = { .dest = "hold did:example:x", .hold_ms = 1000 };
	struct dc_queue_new_item its[3] = { item("http a", "one"), item("http a", "two"), item("http b", "three") };
	its[0].sender = its[1].sender = "did:example:alice";
	its[2].origin = "ws 127.0.0.1";
	its[0].els = &els;
	its[0].n_els = 1;
	int64_t ids[3];
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, its, 3, ids, NULL), DC_OK);
	CU_ASSERT_EQUAL(share_of(q, "http 127.0.0.1"), 2);
	CU_ASSERT_EQUAL(share_of(q, "ws 127.0.0.1"), 1);
	CU_ASSERT_EQUAL(share_of(q, "did:example:alice"), 2);
	CU_ASSERT_EQUAL(share_of(q, "did:example:bob"), 0);
	CU_ASSERT_EQUAL(dc_queue_ack(q, ids[1], NULL), DC_OK);
	CU_ASSERT_EQUAL(share_of(q, "http 127.0.0.1"), 1);
	CU_ASSERT_EQUAL(share_of(q, "did:example:alice"), 1);
	/* failed for good: its else takes over (the gateway's own, counted for nobody) */
	CU_ASSERT_EQUAL(dc_queue_fail(q, ids[0], 5, "gone", NULL), DC_OK);
	CU_ASSERT_EQUAL(share_of(q, "http 127.0.0.1"), 0);
	CU_ASSERT_EQUAL(share_of(q, "did:example:alice"), 0);
	uint64_t removed = 0;
	CU_ASSERT_EQUAL(dc_queue_remove(q, ids[2], &removed, NULL), DC_OK);
	CU_ASSERT_EQUAL(removed, 1);
	CU_ASSERT_EQUAL(share_of(q, "ws 127.0.0.1"), 0);
	/* a dead letter brought back counts for its origin again */
	struct dc_queue_new_item four = item("http c", "four");
	int64_t id4;
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, &four, 1, &id4, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_fail(q, id4, 6, "gone", NULL), DC_OK);
	CU_ASSERT_EQUAL(share_of(q, "http 127.0.0.1"), 0);
	CU_ASSERT_EQUAL(dc_queue_requeue(q, id4, 7, NULL), DC_OK);
	CU_ASSERT_EQUAL(share_of(q, "http 127.0.0.1"), 1);
	dc_queue_close(q);
	/* and across a reopen */
	q = open_q(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	CU_ASSERT_EQUAL(share_of(q, "http 127.0.0.1"), 1);
	CU_ASSERT_EQUAL(share_of(q, "http 10.0.0.1"), 2);
	dc_queue_close(q);
}

/* the rule inputs kept with an item (queue reroute): back from dc_queue_get while it is
 * queued, through a retry, a hold and a re-route; a dead letter has none */
static void facts_kept(void)
{
	fresh();
	struct dc_queue *q = open_q(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	struct dc_queue_new_item its[2] = { item("http a", "x"), item("http a", "y") };
	its[0].facts = "{\"part\":0,\"to\":\"did:example:carol\",\"tag\":\"t1\",\"parts\":1}";
	int64_t ids[2];
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, its, 2, ids, NULL), DC_OK);
	struct dc_queue_item it;
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, ids[0], &it, NULL), DC_OK);
	CU_ASSERT(it.facts && strcmp(it.facts, its[0].facts) == 0);
	dc_queue_item_clear(&it);
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, ids[1], &it, NULL), DC_OK);
	CU_ASSERT_PTR_NULL(it.facts);
	dc_queue_item_clear(&it);
	int64_t now = now_ms() + 10;
	CU_ASSERT_EQUAL(dc_queue_retry_later(q, ids[0], now, "refused", NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_hold(q, ids[0], "p/x", NULL), DC_OK);
	struct dc_queue_redest r = { .from = "http a", .dest = "http b", .now_ms = now, .next_ms = now };
	CU_ASSERT_EQUAL(dc_queue_redest(q, ids[0], &r, NULL), DC_OK);
	dc_queue_close(q);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q = open_q(NULL)); /* and across a reopen */
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, ids[0], &it, NULL), DC_OK);
	CU_ASSERT(it.facts && strcmp(it.facts, its[0].facts) == 0);
	CU_ASSERT_STRING_EQUAL(it.dest, "http b");
	dc_queue_item_clear(&it);
	CU_ASSERT_EQUAL(dc_queue_fail(q, ids[0], now, "gone", NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, ids[0], &it, NULL), DC_OK);
	CU_ASSERT(it.dead && it.facts == NULL);
	dc_queue_item_clear(&it);
	dc_queue_close(q);
}

/* queued items other than those given (their ids), oldest first, with their envelopes */
static size_t others(struct dc_queue *q, const int64_t *skip, size_t n_skip, struct dc_queue_item *out, size_t max)
{
	struct dc_queue_item *ls = NULL;
	size_t n = 0, got = 0;
	CU_ASSERT_EQUAL_FATAL(dc_queue_list(q, false, 0, 50, &ls, &n, NULL), DC_OK);
	for (size_t i = 0; i < n; i++) {
		bool skipped = false;
		for (size_t k = 0; k < n_skip; k++)
			skipped |= ls[i].id == skip[k];
		if (!skipped && got < max)
			CU_ASSERT_EQUAL(dc_queue_get(q, ls[i].id, &out[got++], NULL), DC_OK);
	}
	dc_queue_items_free(ls, n);
	return got;
}

/* dc_queue_redest (queue reroute): only a queued item, not in flight, that still has the
 * destination it was read with; its attempts start again, a hold ends, created and expiry stay;
 * a new envelope and a new else (in place of the old) when given */
static void redest(void)
{
	fresh();
	struct dc_queue *q = open_q(NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	int64_t now = now_ms() + 10;
	struct dc_queue_else old_els[2] = { { .dest = "http old-else-1" }, { .dest = "http old-else-2" } };
	struct dc_queue_new_item its[3] = { item("http a", "one"), item("http a", "two"), item("mqtt d1", "three") };
	its[0].els = old_els;
	its[0].n_els = 2;
	its[0].expires_ms = now + 3600000;
	its[1].els = old_els;
	its[1].n_els = 1;
	int64_t ids[3];
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, its, 3, ids, NULL), DC_OK);
	struct dc_queue_item *got = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL_FATAL(dc_queue_claim(q, now, 10, 8, 60000, &got, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	dc_queue_items_free(got, n);
	/* [0] waits after a failed attempt, [1] is in flight (leased until now + 60 s), [2] is held */
	CU_ASSERT_EQUAL(dc_queue_retry_later(q, ids[0], now, "connection refused", NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_hold(q, ids[2], "p/d1", NULL), DC_OK);
	struct dc_queue_item before, it;
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, ids[0], &before, NULL), DC_OK);
	CU_ASSERT_EQUAL(before.attempts, 1);
	struct dc_errinfo ei = { 0 };

	/* moved: destination, next attempt, attempts 0, last error; created and expiry kept */
	struct dc_queue_else new_els[1] = { { .dest = "hold did:example:x", .data = (const uint8_t *)"own", .len = 3,
		                              .hold_ms = 7200000 } };
	struct dc_queue_redest r = { .from = "http a", .dest = "http b", .now_ms = now, .next_ms = now + 5,
		                     .why = "rerouted from http a", .els = new_els, .n_els = 1 };
	CU_ASSERT_EQUAL(dc_queue_redest(q, ids[0], &r, &ei), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, ids[0], &it, NULL), DC_OK);
	CU_ASSERT_STRING_EQUAL(it.dest, "http b");
	CU_ASSERT_EQUAL(it.attempts, 0);
	CU_ASSERT_STRING_EQUAL(it.last_error, "rerouted from http a");
	CU_ASSERT_EQUAL(it.next_ms, now + 5);
	CU_ASSERT_EQUAL(it.created_ms, before.created_ms);
	CU_ASSERT_EQUAL(it.expires_ms, now + 3600000);
	CU_ASSERT(it.len == 3 && memcmp(it.data, "one", 3) == 0); /* no new envelope: its own */
	dc_queue_item_clear(&it);
	dc_queue_item_clear(&before);
	/* the same again: its destination is another now (someone moved it meanwhile) */
	CU_ASSERT_EQUAL(dc_queue_redest(q, ids[0], &r, &ei), DC_ERR_AGAIN);
	CU_ASSERT_PTR_NOT_NULL(strstr(ei.msg, "another destination"));

	/* in flight: left alone */
	struct dc_queue_redest r1 = { .from = "http a", .dest = "http c", .now_ms = now, .next_ms = now };
	CU_ASSERT_EQUAL(dc_queue_redest(q, ids[1], &r1, &ei), DC_ERR_AGAIN);
	CU_ASSERT_PTR_NOT_NULL(strstr(ei.msg, "in flight"));
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, ids[1], &it, NULL), DC_OK);
	CU_ASSERT_STRING_EQUAL(it.dest, "http a");
	dc_queue_item_clear(&it);
	/* its lease ran out (the gateway died mid-delivery): waiting again, moved; no else now */
	r1.now_ms = r1.next_ms = now + 61000;
	CU_ASSERT_EQUAL(dc_queue_redest(q, ids[1], &r1, &ei), DC_OK);

	/* held for presence: the hold ends; a new envelope, and an else without one of its own */
	struct dc_queue_else e2 = { .dest = "http else-of-2" };
	struct dc_queue_redest r2 = { .from = "mqtt d1", .dest = "http d", .data = (const uint8_t *)"wrapped!", .len = 8,
		                      .now_ms = now, .next_ms = now, .els = &e2, .n_els = 1 };
	CU_ASSERT_EQUAL(dc_queue_redest(q, ids[2], &r2, &ei), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_queue_get(q, ids[2], &it, NULL), DC_OK);
	CU_ASSERT_PTR_NULL(it.held);
	CU_ASSERT_PTR_NULL(it.last_error);
	CU_ASSERT(it.len == 8 && memcmp(it.data, "wrapped!", 8) == 0);
	dc_queue_item_clear(&it);
	struct dc_queue_stats st;
	CU_ASSERT_EQUAL(dc_queue_stats(q, now, &st, NULL), DC_OK);
	CU_ASSERT_EQUAL(st.presence, 0);

	/* not found: no such item */
	CU_ASSERT_EQUAL(dc_queue_redest(q, 99999, &r, &ei), DC_ERR_NOT_FOUND);
	/* all three due at their new destinations, the new envelope with [2] */
	CU_ASSERT_EQUAL_FATAL(dc_queue_claim(q, now + 61000, 10, 8, 60000, &got, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(n, 3);
	for (size_t i = 0; i < n; i++) {
		const char *want = got[i].id == ids[0] ? "http b" : got[i].id == ids[1] ? "http c" : "http d";
		CU_ASSERT_STRING_EQUAL(got[i].dest, want);
		if (got[i].id == ids[2])
			CU_ASSERT(got[i].len == 8 && memcmp(got[i].data, "wrapped!", 8) == 0);
	}
	dc_queue_items_free(got, n);

	/* the else lists were replaced: [0] fails for good, only its new else comes (its own
	 * envelope, its hold); [1]'s is gone; [2]'s takes the new envelope */
	struct dc_queue_item el[4];
	CU_ASSERT_EQUAL(dc_queue_fail(q, ids[0], now + 62000, "gone", NULL), DC_OK);
	n = others(q, ids, 3, el, 4);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_STRING_EQUAL(el[0].dest, "hold did:example:x");
	CU_ASSERT(el[0].len == 3 && memcmp(el[0].data, "own", 3) == 0);
	CU_ASSERT(el[0].next_ms >= now + 62000 + 7200000);
	int64_t skip[4] = { ids[0], ids[1], ids[2], el[0].id };
	dc_queue_item_clear(&el[0]);
	CU_ASSERT_EQUAL(dc_queue_fail(q, ids[1], now + 62000, "gone", NULL), DC_OK);
	CU_ASSERT_EQUAL(others(q, skip, 4, el, 4), 0);
	CU_ASSERT_EQUAL(dc_queue_fail(q, ids[2], now + 62000, "gone", NULL), DC_OK);
	n = others(q, skip, 4, el, 4);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_STRING_EQUAL(el[0].dest, "http else-of-2");
	CU_ASSERT(el[0].len == 8 && memcmp(el[0].data, "wrapped!", 8) == 0);
	dc_queue_item_clear(&el[0]);
	/* a dead letter is no queued item */
	struct dc_queue_redest r3 = { .from = "http b", .dest = "http z", .now_ms = now + 63000, .next_ms = now };
	CU_ASSERT_EQUAL(dc_queue_redest(q, ids[0], &r3, &ei), DC_ERR_NOT_FOUND);
	CU_ASSERT_EQUAL(count_rows("dead"), 3);
	dc_queue_close(q);
}

struct told {
	int n;
	int64_t id;
	char msg_id[40], dest[80], reason[300];
	int64_t dead_rows; /* the dead letters another connection sees at that moment */
};

static void on_dead(void *arg, int64_t id, const char *msg_id, const char *dest, const char *reason)
{
	struct told *t = arg;
	t->n++;
	t->id = id;
	snprintf(t->msg_id, sizeof t->msg_id, "%s", msg_id ? msg_id : "");
	snprintf(t->dest, sizeof t->dest, "%s", dest ? dest : "");
	snprintf(t->reason, sizeof t->reason, "%s", reason ? reason : "");
	t->dead_rows = count_rows("dead");
}

/* opts.dead_fn: the dead letters the store makes by itself (expired or too old, at a retry or
 * at a claim) are told once each, after the commit (another connection sees them then); those
 * of dc_queue_fail are its caller's and are not */
static void dead_told(void)
{
	fresh();
	struct told t = { 0 };
	struct dc_queue_opts o = { .dead_fn = on_dead, .dead_arg = &t, .max_age_ms = 2000, .retry_base_ms = 1000 };
	struct dc_queue *q = open_q(&o);
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	int64_t now = now_ms();
	struct dc_queue_new_item a = item("http a", "a");
	int64_t id;
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, &a, 1, &id, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_fail(q, id, now, "refused", NULL), DC_OK);
	CU_ASSERT_EQUAL(t.n, 0);
	CU_ASSERT_EQUAL(count_rows("dead"), 1);
	/* expired before the next attempt (at least 500 ms away) */
	struct dc_queue_new_item b = item("http b", "b");
	b.expires_ms = now + 400;
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, &b, 1, &id, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_retry_later(q, id, now, "connection refused", NULL), DC_OK);
	CU_ASSERT_EQUAL(t.n, 1);
	CU_ASSERT_EQUAL(t.id, id);
	CU_ASSERT_STRING_EQUAL(t.msg_id, "m");
	CU_ASSERT_STRING_EQUAL(t.dest, "http b");
	CU_ASSERT(strstr(t.reason, "expired") && strstr(t.reason, "connection refused"));
	CU_ASSERT_EQUAL(t.dead_rows, 2);
	/* too old at a retry (max_age 2 s) */
	struct dc_queue_new_item c = item("http c", "c");
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, &c, 1, &id, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_retry_later(q, id, now + 5000, "timeout", NULL), DC_OK);
	CU_ASSERT_EQUAL(t.n, 2);
	CU_ASSERT_EQUAL(t.id, id);
	CU_ASSERT(strstr(t.reason, "max_age") && strstr(t.reason, "timeout"));
	CU_ASSERT_EQUAL(t.dead_rows, 3);
	/* expired, found by a claim */
	struct dc_queue_new_item d = item("http d", "d");
	d.expires_ms = now + 100;
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, &d, 1, &id, NULL), DC_OK);
	struct dc_queue_item *got = NULL;
	size_t n = 0;
	CU_ASSERT_EQUAL(dc_queue_claim(q, now + 1000, 10, 8, 60000, &got, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL(n, 0);
	dc_queue_items_free(got, n);
	CU_ASSERT_EQUAL(t.n, 3);
	CU_ASSERT_EQUAL(t.id, id);
	CU_ASSERT_STRING_EQUAL(t.dest, "http d");
	CU_ASSERT_PTR_NOT_NULL(strstr(t.reason, "expired"));
	CU_ASSERT_EQUAL(t.dead_rows, 4);
	/* two too old at one claim: each told once, both committed by then */
	struct dc_queue_new_item ef[2] = { item("http e", "e"), item("http f", "f") };
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, ef, 2, NULL, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_claim(q, now + 10000, 10, 8, 60000, &got, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL(n, 0);
	dc_queue_items_free(got, n);
	CU_ASSERT_EQUAL(t.n, 5);
	CU_ASSERT_PTR_NOT_NULL(strstr(t.reason, "max_age"));
	CU_ASSERT_EQUAL(t.dead_rows, 6);
	/* nothing more to tell */
	CU_ASSERT_EQUAL(dc_queue_claim(q, now + 20000, 10, 8, 60000, &got, &n, NULL), DC_OK);
	dc_queue_items_free(got, n);
	CU_ASSERT_EQUAL(t.n, 5);
	dc_queue_close(q);
}

static int setup_pg(void)
{
	tq_on_pg = true;
	return setup();
}

static int teardown_pg(void)
{
	tq_on_pg = false;
	return teardown();
}

void init_queue_pg_tests(void)
{
	if (!(tq_pg_url = getenv("DC_TEST_PG_URL")) || !tq_pg_url[0]) {
		/* tests/run.sh sets it (and fails if its server does not start) */
		fprintf(stderr, "queue_pg: DC_TEST_PG_URL is not set: the PostgreSQL store is not tested in this run\n");
		return;
	}
	CU_pSuite s = CU_add_suite("queue_pg", setup_pg, teardown_pg);
	TU_ADD(s, put_claim_ack);
	TU_ADD(s, per_destination);
	TU_ADD(s, backoff_and_dead_letters);
	TU_ADD(s, limits_reopen_reader);
	TU_ADD(s, else_and_born_leased);
	TU_ADD(s, presence_hold);
	TU_ADD(s, shares);
	TU_ADD(s, idempotency_keys);
	TU_ADD(s, facts_kept);
	TU_ADD(s, redest);
	TU_ADD(s, dead_told);
	tq_pg_add_tests(s);
}

void init_queue_tests(void)
{
	CU_pSuite s = CU_add_suite("queue", setup, teardown);
	TU_ADD(s, put_claim_ack);
	TU_ADD(s, per_destination);
	TU_ADD(s, backoff_and_dead_letters);
	TU_ADD(s, limits_reopen_reader);
	TU_ADD(s, else_and_born_leased);
	TU_ADD(s, envelope_files);
	TU_ADD(s, envelope_files_ahead);
	TU_ADD(s, old_store_upgraded);
	TU_ADD(s, presence_hold);
	TU_ADD(s, shares);
	TU_ADD(s, idempotency_keys);
	TU_ADD(s, facts_kept);
	TU_ADD(s, redest);
	TU_ADD(s, dead_told);
}
