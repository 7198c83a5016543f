/* The gateway's state directory: one daemon per state_dir (the lock), an identity that is
 * never replaced (did.txt read back from the secrets), a damaged or empty queue.db refused, and
 * the modes of every file the state creates. */
#include "testutil.h"

#include "state.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[64];
static int n_dirs;

static int setup(void)
{
	snprintf(base, sizeof base, "/tmp/dcstate.XXXXXX");
	return mkdtemp(base) ? 0 : 1;
}

static int teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", base);
	return system(cmd) == 0 ? 0 : 1;
}

/* a new state directory's path (not created) */
static void new_dir(char *out, size_t n)
{
	snprintf(out, n, "%s/s%d", base, n_dirs++);
}

static void path_in(char *out, size_t n, const char *dir, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

static int mode_of(const char *dir, const char *name)
{
	char p[512];
	struct stat st;
	path_in(p, sizeof p, dir, name);
	return stat(p, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

static off_t size_of(const char *dir, const char *name)
{
	char p[512];
	struct stat st;
	path_in(p, sizeof p, dir, name);
	return stat(p, &st) == 0 ? st.st_size : -1;
}

static char *read_in(const char *dir, const char *name)
{
	char p[512];
	path_in(p, sizeof p, dir, name);
	return tu_read_file(p, NULL);
}

static void write_in(const char *dir, const char *name, const char *text)
{
	char p[512];
	path_in(p, sizeof p, dir, name);
	FILE *f = fopen(p, "w");
	CU_ASSERT_FATAL(f != NULL);
	fputs(text, f);
	CU_ASSERT_FATAL(fclose(f) == 0);
}

static void lock_refused_while_held(void)
{
	char d[128];
	new_dir(d, sizeof d);
	struct gw_state a, b;
	CU_ASSERT_EQUAL_FATAL(gw_state_open_cmd(&a, "test", NULL, d), 0);
	CU_ASSERT_EQUAL_FATAL(gw_state_lock(&a, NULL), DC_OK);
	char *pid = read_in(d, "lock");
	CU_ASSERT_FATAL(pid != NULL);
	CU_ASSERT_EQUAL(strtol(pid, NULL, 10), (long)getpid());
	free(pid);
	/* what the offline commands do works while the daemon holds the directory */
	CU_ASSERT_EQUAL_FATAL(gw_state_open_cmd(&b, "test", NULL, d), 0);
	struct dc_queue_stats st;
	CU_ASSERT_EQUAL(dc_queue_stats(b.q, 0, &st, NULL), DC_OK);
	/* a second daemon does not get it (flock: another open file, even in this process) */
	CU_ASSERT_EQUAL(gw_state_lock(&b, NULL), DC_ERR_DENIED);
	CU_ASSERT(!b.locked);
	gw_state_close(&a); /* lets it go */
	CU_ASSERT_EQUAL(gw_state_lock(&b, NULL), DC_OK);
	gw_state_close(&b);
}

static void identity_read_back_from_secrets(void)
{
	char d[128], p[512];
	new_dir(d, sizeof d);
	struct gw_state s;
	CU_ASSERT_EQUAL_FATAL(gw_state_open_cmd(&s, "test", NULL, d), 0);
	char *did = strdup(s.did);
	gw_state_close(&s);
	char *secrets = read_in(d, "secrets.json");
	CU_ASSERT_FATAL(did != NULL && secrets != NULL);

	path_in(p, sizeof p, d, "did.txt");
	CU_ASSERT_EQUAL_FATAL(unlink(p), 0);
	CU_ASSERT_EQUAL_FATAL(gw_state_open_cmd(&s, "test", NULL, d), 0);
	CU_ASSERT_STRING_EQUAL(s.did, did);
	gw_state_close(&s);
	char *txt = read_in(d, "did.txt"), *again = read_in(d, "secrets.json");
	CU_ASSERT(txt && strncmp(txt, did, strlen(did)) == 0 && txt[strlen(did)] == '\n');
	CU_ASSERT(again && strcmp(again, secrets) == 0); /* the secrets untouched */
	CU_ASSERT_EQUAL(mode_of(d, "did.txt"), 0600);
	free(txt);
	free(again);

	/* an empty did.txt is replaced the same way */
	write_in(d, "did.txt", "");
	CU_ASSERT_EQUAL_FATAL(gw_state_open_cmd(&s, "test", NULL, d), 0);
	CU_ASSERT_STRING_EQUAL(s.did, did);
	gw_state_close(&s);

	/* keys of two DIDs, or of none: refused, and secrets.json stays as it is */
	char d2[128];
	new_dir(d2, sizeof d2);
	CU_ASSERT_EQUAL_FATAL(gw_state_open_cmd(&s, "test", NULL, d2), 0);
	gw_state_close(&s);
	char *other = read_in(d2, "secrets.json");
	CU_ASSERT_FATAL(other != NULL);
	char *a1 = strrchr(secrets, ']'), *o1 = strchr(other, '[');
	CU_ASSERT_FATAL(a1 && o1);
	size_t both_len = strlen(secrets) + strlen(other) + 4;
	char *both = malloc(both_len);
	CU_ASSERT_FATAL(both != NULL);
	snprintf(both, both_len, "%.*s,%s", (int)(a1 - secrets), secrets, o1 + 1);
	const char *bad[] = { both, "[]\n" };
	for (size_t i = 0; i < 2; i++) {
		write_in(d2, "secrets.json", bad[i]);
		path_in(p, sizeof p, d2, "did.txt");
		unlink(p);
		CU_ASSERT_EQUAL(gw_state_open_cmd(&s, "test", NULL, d2), 1);
		gw_state_close(&s);
		char *now = read_in(d2, "secrets.json");
		CU_ASSERT(now && strcmp(now, bad[i]) == 0);
		CU_ASSERT_EQUAL(size_of(d2, "did.txt"), -1);
		free(now);
	}
	free(both);
	free(other);
	free(secrets);
	free(did);
}

static void corrupt_queue_refused(void)
{
	char d[128], p[512];
	new_dir(d, sizeof d);
	struct gw_state s;
	CU_ASSERT_EQUAL_FATAL(gw_state_open_cmd(&s, "test", NULL, d), 0);
	CU_ASSERT_EQUAL(gw_state_check_queue(&s, NULL), DC_OK);
	static char data[600];
	memset(data, 'e', sizeof data - 1);
	struct dc_queue_new_item it[50];
	for (size_t i = 0; i < 50; i++)
		it[i] = (struct dc_queue_new_item){ .data = (const uint8_t *)data, .len = sizeof data, .dest = "http x" };
	for (int k = 0; k < 4; k++)
		CU_ASSERT_EQUAL(dc_queue_put(s.q, it, 50, NULL, NULL), DC_OK);
	gw_state_close(&s); /* the last connection: the log folded into queue.db */

	/* the queue table's root page overwritten: opening reads only the schema, the check sees it */
	path_in(p, sizeof p, d, "queue.db");
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long root = 0, pgsz = 0;
	CU_ASSERT_FATAL(sqlite3_open(p, &db) == SQLITE_OK);
	if (sqlite3_prepare_v2(db, "SELECT rootpage, (SELECT page_size FROM pragma_page_size) FROM sqlite_master "
	                       "WHERE name='queue'", -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		root = (long)sqlite3_column_int64(st, 0);
		pgsz = (long)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	CU_ASSERT_FATAL(root > 1 && pgsz >= 512);
	char junk[65536];
	memset(junk, 0xff, sizeof junk);
	FILE *f = fopen(p, "r+b");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT(fseek(f, (root - 1) * pgsz, SEEK_SET) == 0 && fwrite(junk, 1, (size_t)pgsz, f) == (size_t)pgsz);
	CU_ASSERT_FATAL(fclose(f) == 0);
	CU_ASSERT_EQUAL_FATAL(gw_state_open_cmd(&s, "test", NULL, d), 0);
	CU_ASSERT_EQUAL(gw_state_check_queue(&s, NULL), DC_ERR_IO);
	gw_state_close(&s);

	/* garbage from the first byte: not even opened */
	f = fopen(p, "wb");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT(fwrite(junk, 1, 8192, f) == 8192);
	CU_ASSERT_FATAL(fclose(f) == 0);
	CU_ASSERT_EQUAL(gw_state_open_cmd(&s, "test", NULL, d), 1);
	gw_state_close(&s);
	CU_ASSERT_EQUAL(size_of(d, "queue.db"), 8192); /* left as it was */
}

static void empty_queue_refused(void)
{
	char d[128], p[512];
	new_dir(d, sizeof d);
	struct gw_state s;
	CU_ASSERT_EQUAL_FATAL(gw_state_open_cmd(&s, "test", NULL, d), 0);
	gw_state_close(&s);
	CU_ASSERT(size_of(d, "queue.db") > 0);
	CU_ASSERT_EQUAL(size_of(d, "queue.db-wal"), -1);
	path_in(p, sizeof p, d, "queue.db");
	CU_ASSERT_EQUAL_FATAL(truncate(p, 0), 0);
	CU_ASSERT_EQUAL(gw_state_open_cmd(&s, "test", NULL, d), 1);
	gw_state_close(&s);
	CU_ASSERT_EQUAL(size_of(d, "queue.db"), 0); /* not made into a new, empty queue */
}

static void file_modes(void)
{
	char d[128];
	new_dir(d, sizeof d);
	mode_t old = umask(0); /* the widest: nothing taken away from what is asked */
	struct gw_state s;
	CU_ASSERT_EQUAL_FATAL(gw_state_open_cmd(&s, "test", NULL, d), 0);
	CU_ASSERT_EQUAL(gw_state_lock(&s, NULL), DC_OK);
	CU_ASSERT(dc_queue_file_min(s.q) > 0);
	char name[DC_QUEUE_FILE_NAME], blob[128];
	CU_ASSERT_EQUAL(dc_queue_file_write(s.q, (const uint8_t *)"envelope", 8, name, NULL), DC_OK);
	struct dc_queue_new_item it = { .data = (const uint8_t *)"small", .len = 5, .dest = "http x" };
	CU_ASSERT_EQUAL(dc_queue_put(s.q, &it, 1, NULL, NULL), DC_OK); /* the -wal and -shm exist now */
	const char *files[] = { "did.txt", "secrets.json", "lock", "queue.db", "queue.db-wal", "queue.db-shm" };
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		int m = mode_of(d, files[i]);
		if (m != 0600)
			fprintf(stderr, "\n%s: mode %o\n", files[i], (unsigned)m);
		CU_ASSERT_EQUAL(m, 0600);
	}
	snprintf(blob, sizeof blob, "queue.db-blobs/%s", name);
	CU_ASSERT_EQUAL(mode_of(d, blob), 0600);
	CU_ASSERT_EQUAL(mode_of(d, "queue.db-blobs"), 0700);
	CU_ASSERT_EQUAL(mode_of(d, ""), 0700);
	dc_queue_file_discard(s.q, name);
	gw_state_close(&s);
	umask(old);
}

void init_state_tests(void)
{
	CU_pSuite s = CU_add_suite("state", setup, teardown);
	TU_ADD(s, lock_refused_while_held);
	TU_ADD(s, identity_read_back_from_secrets);
	TU_ADD(s, corrupt_queue_refused);
	TU_ADD(s, empty_queue_refused);
	TU_ADD(s, file_modes);
}
