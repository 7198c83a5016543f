/* The PostgreSQL queue with many messages in it (tests/bench/pg.sh builds and runs this):
 *   pgq URL N
 * puts N items (1 KiB envelopes, 100 destinations, batches of 500) and prints the put rate;
 * then the database's size per message (queue table with its indexes and TOAST), the time
 * of dc_queue_stats, and the claim rate (claim 256 at a time, then ack them, as the
 * dispatcher does) over PGQ_CLAIM items (100,000) while the rest stay queued. Ends by
 * purging what it put (TRUNCATE through the store's own handle is not offered: DELETE in
 * batches would be the bench of its own, so the caller drops the database). */
#define _POSIX_C_SOURCE 200809L
#include "dc_queue.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long one(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	long long v = -1;
	if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: pgq URL N\n");
		return 2;
	}
	const char *url = argv[1];
	size_t n = strtoul(argv[2], NULL, 10);
	const char *cs = getenv("PGQ_CLAIM");
	size_t to_claim = cs ? strtoul(cs, NULL, 10) : 100000;
	if (to_claim > n)
		to_claim = n;
	if (dc_init())
		return 1;
	struct dc_queue_opts o = { .max_items = n + 1000 };
	struct dc_queue *q = NULL;
	struct dc_errinfo ei = { 0 };
	if (dc_queue_open_pg(url, NULL, &o, "bench", &q, &ei)) {
		fprintf(stderr, "pgq: %s\n", ei.msg);
		return 1;
	}
	enum { BATCH = 500 };
	static uint8_t env[1024];
	for (size_t i = 0; i < sizeof env; i++)
		env[i] = (uint8_t)('a' + i % 26);
	char dests[100][32], ids[BATCH][24];
	for (int d = 0; d < 100; d++)
		snprintf(dests[d], sizeof dests[d], "http https://h%d.example/in", d);
	struct dc_queue_new_item its[BATCH];
	double t0 = now_s();
	for (size_t done = 0; done < n;) {
		size_t k = n - done < BATCH ? n - done : BATCH;
		for (size_t i = 0; i < k; i++) {
			snprintf(ids[i], sizeof ids[i], "m%zu", done + i);
			its[i] = (struct dc_queue_new_item){ .msg_id = ids[i], .data = env, .len = sizeof env,
				                             .media_type = "application/didcomm-encrypted+json",
				                             .dest = dests[(done + i) % 100], .origin = "http 127.0.0.1" };
		}
		if (dc_queue_put(q, its, k, NULL, &ei)) {
			fprintf(stderr, "pgq: put: %s\n", ei.msg);
			return 1;
		}
		done += k;
	}
	double put_s = now_s() - t0;
	printf("pgq: put %zu items (1 KiB envelopes, batches of %d, one transaction each): %.1f s, %.0f items/s\n", n,
	       BATCH, put_s, (double)n / put_s);
	PGconn *c = PQconnectdb(url);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "pgq: %s", PQerrorMessage(c));
		return 1;
	}
	PQclear(PQexec(c, "VACUUM ANALYZE queue"));
	long long total = one(c, "SELECT pg_total_relation_size('queue')");
	long long heap = one(c, "SELECT pg_relation_size('queue')");
	printf("pgq: storage: queue table with indexes and TOAST %.1f MiB (heap %.1f MiB): %.0f bytes per message "
	       "(of which 1024 the envelope)\n",
	       (double)total / 1048576, (double)heap / 1048576, (double)total / (double)n);
	struct dc_queue_stats st;
	t0 = now_s();
	if (dc_queue_stats(q, wall_ms(), &st, &ei)) {
		fprintf(stderr, "pgq: stats: %s\n", ei.msg);
		return 1;
	}
	printf("pgq: dc_queue_stats with %" PRIu64 " queued: %.0f ms\n", st.queued, (now_s() - t0) * 1000);
	size_t claimed = 0, rounds = 0;
	int64_t *acks = malloc(256 * sizeof *acks);
	t0 = now_s();
	while (claimed < to_claim) {
		struct dc_queue_item *got = NULL;
		size_t k = 0;
		if (dc_queue_claim(q, wall_ms(), 256, 32, 60000, &got, &k, &ei)) {
			fprintf(stderr, "pgq: claim: %s\n", ei.msg);
			return 1;
		}
		if (!k)
			break;
		for (size_t i = 0; i < k; i++)
			acks[i] = got[i].id;
		dc_queue_items_free(got, k);
		if (dc_queue_ack_many(q, acks, k, NULL, &ei)) {
			fprintf(stderr, "pgq: ack: %s\n", ei.msg);
			return 1;
		}
		claimed += k;
		rounds++;
	}
	double cl_s = now_s() - t0;
	printf("pgq: claimed and acked %zu items (%zu claims of up to 256, 32 per destination) with %zu to %zu queued: "
	       "%.1f s, %.0f items/s\n", claimed, rounds, n, n - claimed, cl_s, (double)claimed / cl_s);
	free(acks);
	PQfinish(c);
	dc_queue_close(q);
	return 0;
}
