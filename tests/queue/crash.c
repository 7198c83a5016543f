/* kill -9 durability of the queue: a child puts items (batches of 1..16) and writes each id to
 * a pipe only after dc_queue_put has returned (the moment an adapter would acknowledge). The
 * parent kills it with SIGKILL at a random moment, reopens the queue and checks that every
 * reported id is there and that SQLite's integrity check passes. Also prints put+claim+ack
 * throughput (informational). Last line: "queue-crash: N passed, M failed". */
#include "dc_queue.h"

#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void child(const char *path, int fd)
{
	struct dc_queue *q = NULL;
	if (dc_queue_open_sqlite(path, NULL, &q, NULL))
		_exit(2);
	char data[300];
	memset(data, 'e', sizeof data);
	for (unsigned round = 0;; round++) {
		struct dc_queue_new_item it[16];
		int64_t ids[16];
		size_t n = 1 + round % 16;
		for (size_t i = 0; i < n; i++)
			it[i] = (struct dc_queue_new_item){ .data = (const uint8_t *)data, .len = sizeof data,
			                                    .dest = "http http://127.0.0.1:9/", .msg_id = "x" };
		if (dc_queue_put(q, it, n, ids, NULL))
			_exit(3);
		if (write(fd, ids, n * sizeof ids[0]) != (ssize_t)(n * sizeof ids[0]))
			_exit(4);
	}
}

static int round_trip(const char *path, unsigned kill_after_us, size_t *reported)
{
	int p[2];
	if (pipe(p))
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		child(path, p[1]);
	}
	close(p[1]);
	usleep(kill_after_us);
	kill(pid, SIGKILL);
	int64_t *ids = NULL;
	size_t n = 0, cap = 0;
	int64_t id;
	while (read(p[0], &id, sizeof id) == sizeof id) {
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			ids = realloc(ids, cap * sizeof *ids);
		}
		ids[n++] = id;
	}
	close(p[0]);
	waitpid(pid, NULL, 0);
	struct dc_queue *q = NULL;
	struct dc_errinfo ei = { 0 };
	if (dc_queue_open_sqlite(path, NULL, &q, &ei)) {
		fprintf(stderr, "reopen: %s\n", ei.msg);
		free(ids);
		return -1;
	}
	size_t missing = 0;
	for (size_t i = 0; i < n; i++) {
		struct dc_queue_item it;
		if (dc_queue_get(q, ids[i], &it, NULL) != DC_OK)
			missing++;
		else
			free(it.data), free(it.msg_id), free(it.media_type), free(it.dest), free(it.origin), free(it.last_error);
	}
	dc_queue_close(q);
	free(ids);
	*reported = n;
	return (int)missing;
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	char path[512];
	snprintf(path, sizeof path, "%s/crash.db", dir);
	if (sodium_init() < 0)
		return 2;
	unsigned passed = 0, failed = 0;
	size_t total = 0;
	for (int r = 0; r < 12; r++) {
		size_t reported = 0;
		unsigned us = 20000 + randombytes_uniform(200000);
		int missing = round_trip(path, us, &reported);
		total += reported;
		if (missing == 0 && reported > 0) {
			passed++;
			printf("ok round %d: killed after %u ms, %zu acknowledged ids all present\n", r, us / 1000, reported);
		} else {
			failed++;
			printf("FAIL round %d: %d of %zu acknowledged ids missing\n", r, missing, reported);
		}
	}
	/* integrity after all the kills */
	char cmd[600];
	snprintf(cmd, sizeof cmd, "sqlite3 '%s' 'PRAGMA integrity_check' 2>/dev/null | grep -qx ok", path);
	int integ = system(cmd);
	if (integ == 0 || system("command -v sqlite3 >/dev/null") != 0) {
		passed++;
		printf("ok integrity check%s\n", integ == 0 ? "" : " (sqlite3 CLI not installed: skipped)");
	} else {
		failed++;
		printf("FAIL integrity check\n");
	}
	/* throughput (informational): put + claim + ack */
	for (int batch = 1; batch <= 64; batch *= 64) {
		snprintf(path, sizeof path, "%s/bench-%d.db", dir, batch);
		struct dc_queue *q = NULL;
		if (dc_queue_open_sqlite(path, NULL, &q, NULL))
			return 2;
		char data[300];
		memset(data, 'e', sizeof data);
		struct dc_queue_new_item it[64];
		for (int i = 0; i < 64; i++)
			it[i] = (struct dc_queue_new_item){ .data = (const uint8_t *)data, .len = sizeof data, .dest = "http x" };
		size_t done = 0;
		double t0 = mono();
		while (mono() - t0 < 1.0) {
			if (dc_queue_put(q, it, (size_t)batch, NULL, NULL))
				return 3;
			struct dc_queue_item *got = NULL;
			size_t n = 0;
			if (dc_queue_claim(q, now_ms() + 1000, (size_t)batch, 1024, 60000, &got, &n, NULL))
				return 3;
			for (size_t i = 0; i < n; i++)
				if (dc_queue_ack(q, got[i].id, NULL))
					return 3;
			dc_queue_items_free(got, n);
			done += n;
		}
		printf("throughput: put+claim+ack, batch %d: %.0f items/s\n", batch, done / (mono() - t0));
		dc_queue_close(q);
	}
	printf("(%zu acknowledged puts checked across %u kills)\n", total, passed + failed - 1);
	printf("queue-crash: %u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
