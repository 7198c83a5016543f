/* The SQLite store (WAL). synchronous=NORMAL survives kill -9 of the process (the WAL is in
 * the OS page cache when a commit returns); synchronous=FULL (opts.sync_full) also survives
 * power loss, at the price of an fsync per commit. busy_timeout lets the command line read
 * while the daemon writes. Statements are prepared once.
 * Envelopes of blob_min_bytes or more are files in PATH-blobs/ (column blob names the file,
 * blob_len its size, data is empty): a file exists before the commit that names it and goes
 * after the commit that drops its row (a dead letter or a requeue moves it with the row);
 * the start-up sweep removes what a crash left between the two.
 * Modes: the store is created 0600 here (SQLite would make it 0644) and SQLite gives its -wal
 * and -shm the store's mode; envelope files are 0600 and their directory 0700, set with
 * fchmod/chmod so that neither the umask nor the parent directory changes them. */
#include "queue_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { S_ELSE_PUT, S_ELSE_TAKE, S_ELSE_BLOBS, S_ELSE_DROP, S_INSERT, S_COUNT, S_DUE, S_INFLIGHT, S_LEASE, S_DELETE,
       S_DELETE_RET, S_BLOB_OF, S_GETQ, S_GETD, S_RETRY, S_TODEAD, S_BEGIN, S_COMMIT, S_ROLLBACK, S_HOLD, S_RELEASE,
       S_SHARE, S_KEY_PUT, S_KEY_PRUNE_N, S_KEY_PRUNE_AGE, S_N };

static const char *const sql[S_N] = {
	[S_ELSE_PUT] = "INSERT INTO fallback(primary_id,dest,data,hold_ms,expires_ms) VALUES(?,?,?,?,?)",
	/* the else of a failed item becomes new items (before the item itself goes) */
	[S_ELSE_TAKE] = "INSERT INTO queue(msg_id,data,blob,blob_len,media_type,dest,origin,created_ms,next_ms,expires_ms) "
	                "SELECT q.msg_id,COALESCE(f.data,q.data),"
	                "CASE WHEN f.data IS NULL AND q.blob IS NOT NULL THEN q.blob||'.'||f.id END,"
	                "CASE WHEN f.data IS NULL THEN q.blob_len ELSE 0 END,q.media_type,f.dest,'else of #'||q.id,?2,"
	                "?2+f.hold_ms,f.expires_ms "
	                "FROM fallback f JOIN queue q ON q.id=f.primary_id WHERE f.primary_id=?1 ORDER BY f.id",
	/* the file names S_ELSE_TAKE gives the else items that share the failed item's file */
	[S_ELSE_BLOBS] = "SELECT q.blob,q.blob||'.'||f.id FROM fallback f JOIN queue q ON q.id=f.primary_id "
	                 "WHERE f.primary_id=?1 AND f.data IS NULL AND q.blob IS NOT NULL",
	[S_ELSE_DROP] = "DELETE FROM fallback WHERE primary_id=?",
	[S_INSERT] = "INSERT INTO queue(msg_id,data,media_type,dest,origin,created_ms,next_ms,expires_ms,lease_until,"
	             "blob,blob_len,sender,facts) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
	/* live items of one origin or sender (kept by the shares triggers) */
	[S_SHARE] = "SELECT n FROM shares WHERE key=?",
	/* an upper bound first (two index probes); the exact count only when the bound is over */
	[S_COUNT] = "SELECT COALESCE((SELECT MAX(id) FROM queue) - (SELECT MIN(id) FROM queue) + 1, 0)",
	[S_DUE] = "SELECT id,msg_id,data,media_type,dest,origin,created_ms,next_ms,expires_ms,attempts,last_error,blob,"
	          "blob_len FROM queue WHERE next_ms<=?1 AND lease_until<=?1 ORDER BY next_ms,id LIMIT ?2",
	[S_INFLIGHT] = "SELECT dest,COUNT(*) FROM queue WHERE lease_until>?1 GROUP BY dest",
	/* a leased item is not due before its lease ends: it moves out of the way of the due scan */
	[S_LEASE] = "UPDATE queue SET lease_until=?1,next_ms=?1 WHERE id=?2",
	[S_DELETE] = "DELETE FROM queue WHERE id=?", /* the row moved (dead letter): its file goes with it */
	[S_DELETE_RET] = "DELETE FROM queue WHERE id=? RETURNING blob", /* delivered: its file goes after the commit */
	[S_BLOB_OF] = "SELECT 1 FROM queue WHERE blob=?1 UNION ALL SELECT 1 FROM dead WHERE blob=?1 LIMIT 1",
	[S_GETQ] = "SELECT id,msg_id,data,media_type,dest,origin,created_ms,next_ms,expires_ms,attempts,last_error,blob,"
	           "blob_len,held,facts FROM queue WHERE id=?",
	[S_GETD] = "SELECT id,msg_id,data,media_type,dest,origin,created_ms,died_ms,0,attempts,reason,blob,blob_len "
	           "FROM dead WHERE id=?",
	[S_RETRY] = "UPDATE queue SET attempts=attempts+1,next_ms=?,lease_until=0,last_error=? WHERE id=?",
	[S_TODEAD] = "INSERT INTO dead(id,msg_id,data,blob,blob_len,media_type,dest,origin,created_ms,died_ms,attempts,reason) "
	             "SELECT id,msg_id,data,blob,blob_len,media_type,dest,origin,created_ms,?2,attempts+?4,?3 FROM queue "
	             "WHERE id=?1 RETURNING msg_id,dest,reason",
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	/* held for presence: out of the due scan until released, except when it expires or gets
	 * too old (?3: max age), when the claim sends it to the dead letters; no attempt counted */
	[S_HOLD] = "UPDATE queue SET held=?2,lease_until=0,next_ms=MIN(CASE expires_ms WHEN 0 THEN 9000000000000000000 "
	           "ELSE expires_ms END,created_ms+?3+1) WHERE id=?1",
	[S_RELEASE] = "UPDATE queue SET held=NULL,next_ms=?2 WHERE held=?1",
	/* idempotency keys: a key put before is ignored (no change: the item is left out) */
	[S_KEY_PUT] = "INSERT OR IGNORE INTO inkey(key,at_ms) VALUES(?1,?2)",
	/* beyond the newest ?1 */
	[S_KEY_PRUNE_N] = "DELETE FROM inkey WHERE id <= (SELECT MAX(id) FROM inkey) - ?1",
	/* older than ?1 and not among the newest ?2: a slice of the oldest each time (ids grow with time) */
	[S_KEY_PRUNE_AGE] = "DELETE FROM inkey WHERE id IN (SELECT id FROM inkey ORDER BY id LIMIT 1024) AND at_ms < ?1 "
	                    "AND id <= (SELECT MAX(id) FROM inkey) - ?2",
};

struct sq {
	sqlite3 *db;
	sqlite3_stmt *st[S_N];
	char *path;           /* the store, for messages */
	char *blob_dir;       /* PATH-blobs: envelopes of blob_min_bytes or more, a file each */
	/* files let go by the transaction in progress, removed once it commits */
	char **unlink;
	size_t n_unlink, cap_unlink;
	unsigned keyed_puts;  /* puts with keys since the keys were last pruned */
	/* dead letters made by the transaction in progress, for opts.dead_fn once it commits */
	struct dc__dead_notes notes;
	/* ack_many's statements, prepared at their first use (NULL if this SQLite cannot: one
	 * statement an id then) */
	sqlite3_stmt *del_many, *else_many;
	bool many_tried;
};
#define KEY_PRUNE_EVERY 256 /* puts with keys between two prunes of old keys */

#define DB(q) (((struct sq *)(q)->impl)->db)
#define ST(q, i) (((struct sq *)(q)->impl)->st[i])
#define SQ(q) ((struct sq *)(q)->impl)
#define BLOB_NAME DC_QUEUE_FILE_NAME /* 32 hex digits, and ".N" for an else's copy */
#define ORPHAN_AGE_S 60   /* a file no item names, this old, is left over from a put that died */

/* ---- envelopes in files of their own ------------------------------------------------------ */
static void blob_path(const struct sq *s, const char *name, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", s->blob_dir, name);
}

/* a new file with the envelope (fsynced with sync_full); name gets its name */
static dc_err blob_write(struct dc_queue *q, const uint8_t *data, size_t len, char name[BLOB_NAME],
                         struct dc_errinfo *ei)
{
	unsigned char r[16];
	randombytes_buf(r, sizeof r);
	sodium_bin2hex(name, BLOB_NAME, r, sizeof r);
	char path[4200];
	blob_path(SQ(q), name, path, sizeof path);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return dc__fail(ei, DC_ERR_IO, "queue: cannot create %.300s: %s", path, strerror(errno));
	int err = fchmod(fd, 0600) != 0 ? errno : 0;
	if (!err)
		err = dc__queue_write_all(fd, data, len);
	if (!err && q->o.sync_full && fdatasync(fd) != 0)
		err = errno;
	if (close(fd) != 0 && !err)
		err = errno;
	if (err) {
		unlink(path);
		return dc__fail(ei, DC_ERR_IO, "queue: writing %.300s: %s", path, strerror(err));
	}
	return DC_OK;
}

static void blob_unlink(const struct sq *s, const char *name)
{
	char path[4200];
	blob_path(s, name, path, sizeof path);
	unlink(path);
}

/* from -> a new file to (0, or -1 with errno) */
static int file_copy(const char *from, const char *to, bool sync)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		int err = errno;
		close(in);
		errno = err;
		return -1;
	}
	char buf[65536];
	int err = fchmod(out, 0600) != 0 ? errno : 0;
	while (!err) {
		ssize_t r = read(in, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			err = r < 0 ? errno : 0;
			break;
		}
		if ((err = dc__queue_write_all(out, buf, (size_t)r)))
			break;
	}
	if (!err && sync && fdatasync(out) != 0)
		err = errno;
	close(in);
	if (close(out) != 0 && !err)
		err = errno;
	if (err) {
		unlink(to);
		errno = err;
		return -1;
	}
	return 0;
}

static dc_err sq_file_write(struct dc_queue *q, const uint8_t *data, size_t len, char *name, struct dc_errinfo *ei)
{
	return blob_write(q, data, len, name, ei);
}

static void sq_file_discard(struct dc_queue *q, const char *name)
{
	if (!strchr(name, '/') && name[0] != '.')
		blob_unlink(SQ(q), name);
}

/* the envelope of an item kept in a file (len bytes, as recorded) */
static dc_err blob_read(const struct sq *s, const char *name, size_t len, uint8_t **out)
{
	char path[4200];
	blob_path(s, name, path, sizeof path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return DC_ERR_IO;
	uint8_t *b = malloc(len ? len : 1);
	size_t off = 0;
	while (b && off < len) {
		ssize_t r = read(fd, b + off, len - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		off += (size_t)r;
	}
	close(fd);
	if (!b)
		return DC_ERR_NOMEM;
	if (off < len) {
		free(b);
		return DC_ERR_IO;
	}
	*out = b;
	return DC_OK;
}

/* a file let go by the transaction in progress: removed once it commits (a crash in between
 * leaves it to the start-up sweep) */
static int defer_unlink(struct sq *s, const char *name)
{
	if (s->n_unlink == s->cap_unlink) {
		size_t nc = s->cap_unlink ? s->cap_unlink * 2 : 16;
		char **nu = realloc(s->unlink, nc * sizeof *nu);
		if (!nu)
			return -1;
		s->unlink = nu;
		s->cap_unlink = nc;
	}
	if (!(s->unlink[s->n_unlink] = strdup(name)))
		return -1;
	s->n_unlink++;
	return 0;
}

static char *col_str(sqlite3_stmt *s, int i);

/* a dead letter made by the transaction in progress (out of memory: not told) */
static void note_dead(struct dc_queue *q, int64_t id, sqlite3_stmt *row)
{
	if (q->o.dead_fn)
		dc__dead_note_add(&SQ(q)->notes, id, col_str(row, 0), col_str(row, 1), col_str(row, 2));
}

static void end_notes(struct dc_queue *q, bool tell) { dc__dead_notes_end(q, &SQ(q)->notes, tell); }

/* after the commit (run) or the rollback (not) */
static void end_unlinks(struct sq *s, bool run)
{
	for (size_t i = 0; i < s->n_unlink; i++) {
		if (run)
			blob_unlink(s, s->unlink[i]);
		free(s->unlink[i]);
	}
	s->n_unlink = 0;
}

static dc_err db_fail(struct dc_queue *q, struct dc_errinfo *ei, const char *what)
{
	int code = sqlite3_extended_errcode(DB(q));
	dc_err rc = (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED ? DC_ERR_AGAIN :
	            (code & 0xff) == SQLITE_NOMEM ? DC_ERR_NOMEM : DC_ERR_IO;
	return dc__fail(ei, rc, "queue: %s: %s", what, sqlite3_errmsg(DB(q)));
}

static int step_done(sqlite3_stmt *s)
{
	int r = sqlite3_step(s);
	sqlite3_reset(s);
	return r == SQLITE_DONE || r == SQLITE_ROW ? 0 : -1;
}

static dc_err tx(struct dc_queue *q, int which, struct dc_errinfo *ei)
{
	if (step_done(ST(q, which)) != 0)
		return db_fail(q, ei, which == S_BEGIN ? "begin" : which == S_COMMIT ? "commit" : "rollback");
	return DC_OK;
}

static char *col_str(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	return t ? strdup((const char *)t) : NULL;
}

/* one row of S_DUE / S_GETQ / S_GETD / a list; with_data: the envelope too (read from its
 * file when it has one: DC_ERR_IO when that cannot be read) */
static dc_err row_item(const struct sq *sq, sqlite3_stmt *s, struct dc_queue_item *it, bool with_data, bool dead)
{
	memset(it, 0, sizeof *it);
	it->id = sqlite3_column_int64(s, 0);
	it->msg_id = col_str(s, 1);
	if (with_data) {
		const unsigned char *blob = sqlite3_column_count(s) > 12 ? sqlite3_column_text(s, 11) : NULL;
		dc_err rc = DC_OK;
		if (blob) {
			int64_t bl = sqlite3_column_int64(s, 12);
			it->len = bl > 0 ? (size_t)bl : 0;
			rc = blob_read(sq, (const char *)blob, it->len, &it->data);
		} else {
			const void *b = sqlite3_column_blob(s, 2);
			int n = sqlite3_column_bytes(s, 2);
			if (n > 0 && !(it->data = malloc((size_t)n)))
				rc = DC_ERR_NOMEM;
			else if (n > 0)
				memcpy(it->data, b, (size_t)n);
			it->len = n > 0 ? (size_t)n : 0;
		}
		if (rc) {
			dc_queue_item_clear(it);
			return rc;
		}
	}
	it->media_type = col_str(s, 3);
	it->dest = col_str(s, 4);
	it->origin = col_str(s, 5);
	it->created_ms = sqlite3_column_int64(s, 6);
	it->next_ms = sqlite3_column_int64(s, 7);
	it->expires_ms = sqlite3_column_int64(s, 8);
	it->attempts = (unsigned)sqlite3_column_int(s, 9);
	it->last_error = col_str(s, 10);
	it->dead = dead;
	return DC_OK;
}

static int64_t one_int(struct dc_queue *q, const char *query, int64_t arg)
{
	sqlite3_stmt *s = NULL;
	int64_t v = 0;
	if (sqlite3_prepare_v2(DB(q), query, -1, &s, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(s, 1, arg);
		if (sqlite3_step(s) == SQLITE_ROW)
			v = sqlite3_column_int64(s, 0);
	}
	sqlite3_finalize(s);
	return v;
}

/* the fsync that makes new names in the files' directory durable (sync_full) */
static dc_err blob_dir_sync(struct dc_queue *q, struct dc_errinfo *ei)
{
	int fd = open(SQ(q)->blob_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int err = fd < 0 || fsync(fd) != 0 ? errno : 0;
	if (fd >= 0)
		close(fd);
	return err ? dc__fail(ei, DC_ERR_IO, "queue: syncing %.300s: %s", SQ(q)->blob_dir, strerror(err)) : DC_OK;
}

/* in the put's transaction: keys beyond keys_max, and keys older than keys_keep_ms that are
 * not among the newest DC_QUEUE_KEYS_KEPT, forgotten */
static dc_err prune_keys(struct dc_queue *q, int64_t now, struct dc_errinfo *ei)
{
	SQ(q)->keyed_puts = 0;
	sqlite3_stmt *a = ST(q, S_KEY_PRUNE_N);
	sqlite3_bind_int64(a, 1, (sqlite3_int64)q->o.keys_max);
	if (step_done(a))
		return db_fail(q, ei, "forgetting keys");
	sqlite3_stmt *b = ST(q, S_KEY_PRUNE_AGE);
	sqlite3_bind_int64(b, 1, now - q->o.keys_keep_ms);
	sqlite3_bind_int64(b, 2, DC_QUEUE_KEYS_KEPT);
	return step_done(b) ? db_fail(q, ei, "forgetting old keys") : DC_OK;
}

/* an item's else list, in the caller's transaction */
static dc_err put_else(struct dc_queue *q, int64_t id, const struct dc_queue_else *els, size_t n,
                       struct dc_errinfo *ei)
{
	for (size_t k = 0; k < n; k++) {
		const struct dc_queue_else *e = &els[k];
		sqlite3_stmt *f = ST(q, S_ELSE_PUT);
		sqlite3_bind_int64(f, 1, id);
		sqlite3_bind_text(f, 2, e->dest, -1, SQLITE_STATIC);
		if (e->data)
			sqlite3_bind_blob64(f, 3, e->data, e->len, SQLITE_STATIC);
		else
			sqlite3_bind_null(f, 3);
		sqlite3_bind_int64(f, 4, e->hold_ms > 0 ? e->hold_ms : 0);
		sqlite3_bind_int64(f, 5, e->expires_ms);
		int r = sqlite3_step(f);
		sqlite3_clear_bindings(f);
		sqlite3_reset(f);
		if (r != SQLITE_DONE)
			return db_fail(q, ei, "insert else");
	}
	return DC_OK;
}

static dc_err sq_put(struct dc_queue *q, const struct dc_queue_new_item *items, size_t n, int64_t *ids,
                     struct dc_errinfo *ei)
{
	/* big envelopes go to files first, outside the transaction; the commit names them */
	char (*names)[BLOB_NAME] = NULL;
	size_t n_files = 0;
	dc_err rc = DC_OK;
	bool prewritten = false;
	for (size_t i = 0; i < n && q->o.blob_min_bytes; i++) {
		prewritten |= items[i].file != NULL;
		if (items[i].file || items[i].len < q->o.blob_min_bytes)
			continue;
		if (!names && !(names = calloc(n, sizeof *names)))
			return DC_ERR_NOMEM;
		if ((rc = blob_write(q, items[i].data, items[i].len, names[i], ei)))
			goto unlink_files;
		n_files++;
	}
	if ((n_files || prewritten) && q->o.sync_full && (rc = blob_dir_sync(q, ei)))
		goto unlink_files;
	if ((rc = tx(q, S_BEGIN, ei)))
		goto unlink_files;
	sqlite3_stmt *c = ST(q, S_COUNT);
	int64_t count = sqlite3_step(c) == SQLITE_ROW ? sqlite3_column_int64(c, 0) : 0;
	sqlite3_reset(c);
	if ((uint64_t)count + n > q->o.max_items)
		count = one_int(q, "SELECT COUNT(*) FROM queue WHERE ?1=?1", 0);
	if ((uint64_t)count + n > q->o.max_items) {
		rc = dc__fail(ei, DC_ERR_AGAIN, "queue: full (%lld items)", (long long)count);
		goto rollback;
	}
	int64_t now = 0;
	bool keyed = false;
	for (size_t i = 0; i < n; i++) {
		const struct dc_queue_new_item *it = &items[i];
		if (!now) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		}
		const char *file = it->file ? it->file : names && names[i][0] ? names[i] : NULL;
		if (it->key) {
			/* put before: left out (its file goes after the commit), id 0 */
			sqlite3_stmt *k = ST(q, S_KEY_PUT);
			sqlite3_bind_text(k, 1, it->key, -1, SQLITE_STATIC);
			sqlite3_bind_int64(k, 2, now);
			int kr = sqlite3_step(k);
			sqlite3_clear_bindings(k);
			sqlite3_reset(k);
			if (kr != SQLITE_DONE) {
				rc = db_fail(q, ei, "insert key");
				goto rollback;
			}
			keyed = true;
			if (sqlite3_changes(DB(q)) == 0) {
				if (ids)
					ids[i] = 0;
				if (file && defer_unlink(SQ(q), file) != 0) {
					rc = dc__fail(ei, DC_ERR_NOMEM, "queue: out of memory");
					goto rollback;
				}
				continue;
			}
		}
		sqlite3_stmt *s = ST(q, S_INSERT);
		sqlite3_bind_text(s, 1, it->msg_id, -1, SQLITE_STATIC);
		sqlite3_bind_blob64(s, 2, file ? (const void *)"" : it->data, file ? 0 : it->len, SQLITE_STATIC);
		if (file) {
			sqlite3_bind_text(s, 10, file, -1, SQLITE_STATIC);
			sqlite3_bind_int64(s, 11, (sqlite3_int64)it->len);
		} else {
			sqlite3_bind_null(s, 10);
			sqlite3_bind_int64(s, 11, 0);
		}
		sqlite3_bind_text(s, 3, it->media_type, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, it->dest, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 5, it->origin, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 12, it->sender, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 13, it->facts, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 6, now);
		int64_t next = it->not_before_ms > now ? it->not_before_ms : now;
		if (it->leased_until_ms > next)
			next = it->leased_until_ms;
		sqlite3_bind_int64(s, 7, next);
		sqlite3_bind_int64(s, 8, it->expires_ms);
		sqlite3_bind_int64(s, 9, it->leased_until_ms > 0 ? it->leased_until_ms : 0);
		int r = sqlite3_step(s);
		sqlite3_clear_bindings(s);
		sqlite3_reset(s);
		if (r != SQLITE_DONE) {
			rc = db_fail(q, ei, "insert");
			goto rollback;
		}
		int64_t id = sqlite3_last_insert_rowid(DB(q));
		if (ids)
			ids[i] = id;
		if ((rc = put_else(q, id, it->els, it->n_els, ei)))
			goto rollback;
	}
	if (keyed && ++SQ(q)->keyed_puts >= KEY_PRUNE_EVERY && (rc = prune_keys(q, now, ei)))
		goto rollback;
	if ((rc = tx(q, S_COMMIT, ei)))
		goto rollback;
	end_unlinks(SQ(q), true); /* the files of items left out */
	free(names);
	return DC_OK; /* durable when this returns: the caller may acknowledge */
rollback:
	tx(q, S_ROLLBACK, NULL);
	end_unlinks(SQ(q), false);
unlink_files:
	for (size_t i = 0; names && i < n; i++)
		if (names[i][0])
			blob_unlink(SQ(q), names[i]);
	free(names);
	return rc;
}

static dc_err drop_else(struct dc_queue *q, int64_t id, struct dc_errinfo *ei)
{
	sqlite3_stmt *d = ST(q, S_ELSE_DROP);
	sqlite3_bind_int64(d, 1, id);
	return step_done(d) ? db_fail(q, ei, "else delete") : DC_OK;
}

/* take_else: the item failed for good (its else runs); false: it expired (nothing runs) */
static dc_err to_dead(struct dc_queue *q, int64_t id, int64_t now, const char *reason, int extra_attempt,
                      bool take_else, struct dc_errinfo *ei)
{
	char why[600];
	if (take_else) {
		/* an else item that takes the failed item's envelope from a file gets a name of its own
		 * for it (a hard link): each file then goes with its own item */
		sqlite3_stmt *b = ST(q, S_ELSE_BLOBS);
		sqlite3_bind_int64(b, 1, id);
		int r;
		size_t linked = 0;
		while ((r = sqlite3_step(b)) == SQLITE_ROW) {
			linked++;
			char from[4200], to[4200];
			blob_path(SQ(q), (const char *)sqlite3_column_text(b, 0), from, sizeof from);
			blob_path(SQ(q), (const char *)sqlite3_column_text(b, 1), to, sizeof to);
			int lr = link(from, to);
			if (lr != 0 && errno == EEXIST) { /* left by an attempt that did not commit */
				unlink(to);
				lr = link(from, to);
			}
			if (lr != 0 && errno != ENOENT) /* a file system without hard links (a USB stick) */
				lr = file_copy(from, to, q->o.sync_full);
			if (lr != 0) {
				int err = errno;
				sqlite3_reset(b);
				return dc__fail(ei, DC_ERR_IO, "queue: linking %.300s for the else: %s", to, strerror(err));
			}
		}
		sqlite3_reset(b);
		if (r != SQLITE_DONE)
			return db_fail(q, ei, "else files");
		dc_err lrc = linked && q->o.sync_full ? blob_dir_sync(q, ei) : DC_OK;
		if (lrc)
			return lrc;
		sqlite3_stmt *t = ST(q, S_ELSE_TAKE);
		sqlite3_bind_int64(t, 1, id);
		sqlite3_bind_int64(t, 2, now);
		if (step_done(t))
			return db_fail(q, ei, "else");
		int n = sqlite3_changes(DB(q));
		if (n > 0) {
			snprintf(why, sizeof why, "%.450s; handed to the rule's else (%d item%s)", reason ? reason : "unknown", n,
			         n == 1 ? "" : "s");
			reason = why;
		}
	}
	dc_err rc = drop_else(q, id, ei);
	if (rc)
		return rc;
	sqlite3_stmt *s = ST(q, S_TODEAD);
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_text(s, 3, reason ? reason : "unknown", -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, extra_attempt);
	int r = sqlite3_step(s); /* the insert is done at the first step; the row is what it inserted */
	if (r == SQLITE_ROW)
		note_dead(q, id, s);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (r != SQLITE_ROW && r != SQLITE_DONE)
		return db_fail(q, ei, "dead-letter");
	sqlite3_stmt *d = ST(q, S_DELETE);
	sqlite3_bind_int64(d, 1, id);
	if (step_done(d))
		return db_fail(q, ei, "dead-letter delete");
	return DC_OK;
}

struct inflight {
	char *dest;
	unsigned n;
};

static dc_err sq_claim(struct dc_queue *q, int64_t now, size_t max, unsigned per_dest, int64_t lease,
                       struct dc_queue_item **items, size_t *n, struct dc_errinfo *ei)
{
	struct inflight *fl = NULL;
	size_t nfl = 0, cap = 0;
	struct dc_queue_item *out = NULL;
	size_t got = 0;
	dc_err rc = tx(q, S_BEGIN, ei);
	if (rc)
		return rc;
	sqlite3_stmt *s = ST(q, S_INFLIGHT);
	sqlite3_bind_int64(s, 1, now);
	while (sqlite3_step(s) == SQLITE_ROW) {
		if (nfl == cap) {
			cap = cap ? cap * 2 : 16;
			struct inflight *nf = realloc(fl, cap * sizeof *nf);
			if (!nf) {
				sqlite3_reset(s);
				rc = DC_ERR_NOMEM;
				goto out;
			}
			fl = nf;
		}
		fl[nfl].dest = col_str(s, 0);
		fl[nfl].n = (unsigned)sqlite3_column_int(s, 1);
		nfl++;
	}
	sqlite3_reset(s);
	if (!(out = calloc(max, sizeof *out))) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	/* look further than max: some due items may be held back by their destination's limit */
	s = ST(q, S_DUE);
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)(max * 4 + 16));
	int64_t dead_ids[64];
	const char *dead_why[64];
	bool dead_else[64];
	size_t ndead = 0;
	while (got < max && sqlite3_step(s) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(s, 0), created = sqlite3_column_int64(s, 6);
		int64_t expires = sqlite3_column_int64(s, 8);
		if ((expires && expires <= now) || now - created > q->o.max_age_ms) {
			if (ndead < 64) {
				dead_else[ndead] = !(expires && expires <= now); /* too old: its else runs; expired: nothing */
				dead_why[ndead] = dead_else[ndead] ? "too old (max_age)" : "expired (expires_time passed)";
				dead_ids[ndead++] = id;
			}
			continue;
		}
		const char *dest = (const char *)sqlite3_column_text(s, 4);
		struct inflight *f = NULL;
		for (size_t i = 0; i < nfl && !f; i++)
			if (fl[i].dest && dest && strcmp(fl[i].dest, dest) == 0)
				f = &fl[i];
		if (f && f->n >= per_dest)
			continue;
		if ((rc = row_item(SQ(q), s, &out[got], true, false)) == DC_ERR_IO) {
			rc = DC_OK; /* its file is gone: it cannot be delivered, and says so in the dead letters */
			if (ndead < 64) {
				dead_else[ndead] = false;
				dead_why[ndead] = "its envelope file is missing or unreadable";
				dead_ids[ndead++] = id;
			}
			continue;
		}
		if (rc) {
			sqlite3_reset(s);
			goto out;
		}
		got++;
		if (f) {
			f->n++;
			continue;
		}
		if (nfl == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct inflight *nf = realloc(fl, nc * sizeof *nf);
			if (!nf) {
				sqlite3_reset(s);
				rc = DC_ERR_NOMEM;
				goto out;
			}
			fl = nf;
			cap = nc;
		}
		fl[nfl].dest = dest ? strdup(dest) : NULL;
		fl[nfl].n = 1;
		nfl++;
	}
	sqlite3_clear_bindings(s);
	sqlite3_reset(s);
	for (size_t i = 0; i < ndead; i++)
		if ((rc = to_dead(q, dead_ids[i], now, dead_why[i], 0, dead_else[i], ei)))
			goto out;
	for (size_t i = 0; i < got; i++) {
		sqlite3_stmt *l = ST(q, S_LEASE);
		sqlite3_bind_int64(l, 1, now + lease);
		sqlite3_bind_int64(l, 2, out[i].id);
		if (step_done(l)) {
			rc = db_fail(q, ei, "lease");
			goto out;
		}
	}
	rc = tx(q, S_COMMIT, ei);
out:
	if (rc) {
		tx(q, S_ROLLBACK, NULL);
		dc_queue_items_free(out, got);
	} else {
		*items = out;
		*n = got;
	}
	end_notes(q, rc == DC_OK);
	for (size_t i = 0; i < nfl; i++)
		free(fl[i].dest);
	free(fl);
	return rc;
}

/* delivered: the row goes; its file, if it has one, once the transaction commits */
static dc_err delete_delivered(struct dc_queue *q, int64_t id, size_t *gone, struct dc_errinfo *ei)
{
	sqlite3_stmt *d = ST(q, S_DELETE_RET);
	sqlite3_bind_int64(d, 1, id);
	int r;
	while ((r = sqlite3_step(d)) == SQLITE_ROW) {
		(*gone)++;
		const unsigned char *b = sqlite3_column_text(d, 0);
		if (b)
			(void)defer_unlink(SQ(q), (const char *)b); /* out of memory: the start-up sweep takes it */
	}
	sqlite3_reset(d);
	return r == SQLITE_DONE ? DC_OK : db_fail(q, ei, "ack");
}

static dc_err sq_ack(struct dc_queue *q, int64_t id, struct dc_errinfo *ei)
{
	size_t n = 0;
	dc_err rc = delete_delivered(q, id, &n, ei);
	end_unlinks(SQ(q), rc == DC_OK); /* one statement, committed on its own */
	if (rc)
		return rc;
	bool gone = n > 0;
	rc = drop_else(q, id, ei); /* delivered: its else is of no further use */
	if (rc)
		return rc;
	return gone ? DC_OK : dc__fail(ei, DC_ERR_NOT_FOUND, "queue: no item %lld", (long long)id);
}

/* Delivered, the batch in one statement each for the rows and their else: a DELETE on queue
 * runs the count triggers and so opens a statement journal, which one statement an id paid
 * each time (`make bench`: a third of the dispatcher thread's time). ids go in as a JSON
 * array (json_each, in SQLite since 3.38). 1: not done (no such statement), use one an id. */
static int ack_list(struct dc_queue *q, const int64_t *ids, size_t n, size_t *gone, dc_err *rc, struct dc_errinfo *ei)
{
	struct sq *s = SQ(q);
	if (!s->many_tried) {
		s->many_tried = true;
		if (sqlite3_prepare_v3(s->db, "DELETE FROM queue WHERE id IN (SELECT value FROM json_each(?1)) RETURNING blob",
		                       -1, SQLITE_PREPARE_PERSISTENT, &s->del_many, NULL) != SQLITE_OK ||
		    sqlite3_prepare_v3(s->db, "DELETE FROM fallback WHERE primary_id IN (SELECT value FROM json_each(?1))", -1,
		                       SQLITE_PREPARE_PERSISTENT, &s->else_many, NULL) != SQLITE_OK) {
			sqlite3_finalize(s->del_many);
			sqlite3_finalize(s->else_many);
			s->del_many = s->else_many = NULL;
		}
	}
	if (!s->del_many || n > SIZE_MAX / 24 - 2)
		return 1;
	char *list = malloc(n * 21 + 2), *w = list;
	if (!list)
		return 1;
	*w++ = '[';
	for (size_t i = 0; i < n; i++)
		w += snprintf(w, 22, "%s%lld", i ? "," : "", (long long)ids[i]);
	*w++ = ']';
	*rc = DC_OK;
	sqlite3_bind_text(s->del_many, 1, list, (int)(w - list), SQLITE_STATIC);
	int r;
	while ((r = sqlite3_step(s->del_many)) == SQLITE_ROW) {
		(*gone)++;
		const unsigned char *b = sqlite3_column_text(s->del_many, 0);
		if (b)
			(void)defer_unlink(s, (const char *)b); /* out of memory: the start-up sweep takes it */
	}
	sqlite3_reset(s->del_many);
	sqlite3_clear_bindings(s->del_many);
	if (r != SQLITE_DONE) {
		*rc = db_fail(q, ei, "ack");
	} else {
		sqlite3_bind_text(s->else_many, 1, list, (int)(w - list), SQLITE_STATIC);
		if (step_done(s->else_many))
			*rc = db_fail(q, ei, "else delete");
		sqlite3_clear_bindings(s->else_many);
	}
	free(list);
	return 0;
}

static dc_err sq_ack_many(struct dc_queue *q, const int64_t *ids, size_t n, size_t *gone, struct dc_errinfo *ei)
{
	size_t k = 0;
	dc_err rc = tx(q, S_BEGIN, ei);
	if (rc)
		return rc;
	if (n > 1 && ack_list(q, ids, n, &k, &rc, ei) == 0) {
		if (rc) {
			tx(q, S_ROLLBACK, NULL);
			end_unlinks(SQ(q), false);
			return rc;
		}
		n = 0; /* done */
	}
	for (size_t i = 0; i < n; i++) {
		if ((rc = delete_delivered(q, ids[i], &k, ei)) || (rc = drop_else(q, ids[i], ei))) {
			tx(q, S_ROLLBACK, NULL);
			end_unlinks(SQ(q), false);
			return rc;
		}
	}
	if ((rc = tx(q, S_COMMIT, ei))) {
		tx(q, S_ROLLBACK, NULL);
		end_unlinks(SQ(q), false);
		return rc;
	}
	end_unlinks(SQ(q), true);
	if (gone)
		*gone = k;
	return DC_OK;
}

static dc_err sq_retry(struct dc_queue *q, int64_t id, int64_t now, const char *error, struct dc_errinfo *ei)
{
	struct dc_queue_item it;
	dc_err rc = tx(q, S_BEGIN, ei);
	if (rc)
		return rc;
	sqlite3_stmt *g = ST(q, S_GETQ);
	sqlite3_bind_int64(g, 1, id);
	if (sqlite3_step(g) != SQLITE_ROW) {
		sqlite3_reset(g);
		tx(q, S_ROLLBACK, NULL);
		return dc__fail(ei, DC_ERR_NOT_FOUND, "queue: no item %lld", (long long)id);
	}
	rc = row_item(SQ(q), g, &it, false, false);
	sqlite3_reset(g);
	if (rc) {
		tx(q, S_ROLLBACK, NULL);
		return rc;
	}
	int64_t next = now + dc_queue_backoff_ms(&q->o, it.attempts + 1);
	bool expired = it.expires_ms && it.expires_ms <= next;
	bool old = next - it.created_ms > q->o.max_age_ms;
	if (expired || old) {
		char why[512];
		snprintf(why, sizeof why, "%s; last error: %.400s", expired ? "expired before the next attempt" :
		         "gave up after max_age", error ? error : "none");
		rc = to_dead(q, id, now, why, 1, !expired, ei);
	} else {
		sqlite3_stmt *s = ST(q, S_RETRY);
		sqlite3_bind_int64(s, 1, next);
		sqlite3_bind_text(s, 2, error, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, id);
		if (step_done(s))
			rc = db_fail(q, ei, "retry");
		sqlite3_clear_bindings(s);
	}
	dc_queue_item_clear(&it);
	if (rc || (rc = tx(q, S_COMMIT, ei))) {
		tx(q, S_ROLLBACK, NULL);
		end_notes(q, false);
		return rc;
	}
	end_notes(q, true);
	return DC_OK;
}

static dc_err sq_fail(struct dc_queue *q, int64_t id, int64_t now, const char *reason, struct dc_errinfo *ei)
{
	dc_err rc = tx(q, S_BEGIN, ei);
	if (rc)
		return rc;
	rc = to_dead(q, id, now, reason, 1, true, ei);
	end_notes(q, false); /* the caller knows */
	if (rc) {
		tx(q, S_ROLLBACK, NULL);
		return rc;
	}
	bool gone = sqlite3_changes(DB(q)) > 0;
	if ((rc = tx(q, S_COMMIT, ei)))
		return rc;
	return gone ? DC_OK : dc__fail(ei, DC_ERR_NOT_FOUND, "queue: no item %lld", (long long)id);
}

static dc_err sq_hold(struct dc_queue *q, int64_t id, const char *key, struct dc_errinfo *ei)
{
	sqlite3_stmt *s = ST(q, S_HOLD);
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 3, q->o.max_age_ms);
	int r = step_done(s);
	sqlite3_clear_bindings(s);
	if (r)
		return db_fail(q, ei, "hold");
	if (sqlite3_changes(DB(q)) == 0)
		return dc__fail(ei, DC_ERR_NOT_FOUND, "queue: no item %lld", (long long)id);
	return DC_OK;
}

static dc_err sq_release_held(struct dc_queue *q, const char *key, int64_t now, uint64_t *released,
                              struct dc_errinfo *ei)
{
	sqlite3_stmt *s = ST(q, S_RELEASE);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, now);
	int r = step_done(s);
	sqlite3_clear_bindings(s);
	if (r)
		return db_fail(q, ei, "release");
	if (released)
		*released = (uint64_t)sqlite3_changes(DB(q));
	return DC_OK;
}

static dc_err sq_stats(struct dc_queue *q, int64_t now, struct dc_queue_stats *st, struct dc_errinfo *ei)
{
	(void)ei;
	memset(st, 0, sizeof *st);
	st->queued = (uint64_t)one_int(q, "SELECT COUNT(*) FROM queue WHERE ?1=?1", 0);
	st->leased = (uint64_t)one_int(q, "SELECT COUNT(*) FROM queue WHERE lease_until>?1", now);
	st->dead = (uint64_t)one_int(q, "SELECT COUNT(*) FROM dead WHERE ?1=?1", 0);
	st->presence = (uint64_t)one_int(q, "SELECT COUNT(*) FROM queue WHERE held IS NOT NULL AND ?1=?1", 0);
	st->bytes = (uint64_t)one_int(q, "SELECT COALESCE(SUM(LENGTH(data)+blob_len),0) FROM queue WHERE ?1=?1", 0);
	st->oldest_created_ms = one_int(q, "SELECT COALESCE(MIN(created_ms),0) FROM queue WHERE ?1=?1", 0);
	st->due = (uint64_t)one_int(q, "SELECT COUNT(*) FROM queue WHERE next_ms<=?1 AND lease_until<=?1 AND held IS NULL", now);
	st->oldest_due_ms = one_int(q, "SELECT COALESCE(MIN(next_ms),0) FROM queue WHERE next_ms<=?1 AND lease_until<=?1 "
	                               "AND held IS NULL", now);
	st->pickup = (uint64_t)one_int(q, "SELECT COUNT(*) FROM queue WHERE dest LIKE 'hold %' AND lease_until<=?1", now);
	return DC_OK;
}

static dc_err sq_list(struct dc_queue *q, bool dead, int64_t after, size_t max, struct dc_queue_item **items,
                      size_t *n, struct dc_errinfo *ei)
{
	const char *query = dead ? "SELECT id,msg_id,NULL,media_type,dest,origin,created_ms,died_ms,0,attempts,reason "
	                           "FROM dead WHERE id>? ORDER BY id LIMIT ?" :
	                           "SELECT id,msg_id,NULL,media_type,dest,origin,created_ms,next_ms,expires_ms,attempts,"
	                           "last_error,held FROM queue WHERE id>? ORDER BY id LIMIT ?";
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(DB(q), query, -1, &s, NULL) != SQLITE_OK)
		return db_fail(q, ei, "list");
	sqlite3_bind_int64(s, 1, after);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)max);
	struct dc_queue_item *out = calloc(max ? max : 1, sizeof *out);
	size_t got = 0;
	dc_err rc = out ? DC_OK : DC_ERR_NOMEM;
	while (rc == DC_OK && got < max && sqlite3_step(s) == SQLITE_ROW)
		if ((rc = row_item(SQ(q), s, &out[got], false, dead)) == DC_OK) {
			if (!dead)
				out[got].held = col_str(s, 11);
			got++;
		}
	sqlite3_finalize(s);
	if (rc) {
		dc_queue_items_free(out, got);
		return rc;
	}
	*items = out;
	*n = got;
	return DC_OK;
}

static dc_err sq_get(struct dc_queue *q, int64_t id, struct dc_queue_item *item, struct dc_errinfo *ei)
{
	for (int which = S_GETQ; which <= S_GETD; which++) {
		sqlite3_stmt *s = ST(q, which);
		sqlite3_bind_int64(s, 1, id);
		if (sqlite3_step(s) == SQLITE_ROW) {
			dc_err rc = row_item(SQ(q), s, item, true, which == S_GETD);
			if (rc == DC_OK && which == S_GETQ) {
				item->held = col_str(s, 13);
				item->facts = col_str(s, 14);
			}
			sqlite3_reset(s);
			return rc;
		}
		sqlite3_reset(s);
	}
	return dc__fail(ei, DC_ERR_NOT_FOUND, "queue: no item %lld", (long long)id);
}

static dc_err exec(struct dc_queue *q, const char *query, int64_t a, int64_t b, struct dc_errinfo *ei)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(DB(q), query, -1, &s, NULL) != SQLITE_OK)
		return db_fail(q, ei, "prepare");
	sqlite3_bind_int64(s, 1, a);
	sqlite3_bind_int64(s, 2, b);
	int r = sqlite3_step(s);
	sqlite3_finalize(s);
	return r == SQLITE_DONE ? DC_OK : db_fail(q, ei, "update");
}

static dc_err sq_requeue(struct dc_queue *q, int64_t id, int64_t now, struct dc_errinfo *ei)
{
	dc_err rc = tx(q, S_BEGIN, ei);
	if (rc)
		return rc;
	rc = exec(q, "UPDATE queue SET next_ms=?2,lease_until=0,held=NULL WHERE id=?1", id, now, ei);
	bool found = rc == DC_OK && sqlite3_changes(DB(q)) > 0;
	if (rc == DC_OK && !found) {
		rc = exec(q, "INSERT INTO queue(id,msg_id,data,blob,blob_len,media_type,dest,origin,created_ms,next_ms,"
		             "expires_ms) SELECT id,msg_id,data,blob,blob_len,media_type,dest,origin,?2,?2,0 FROM dead "
		             "WHERE id=?1", id, now, ei);
		found = rc == DC_OK && sqlite3_changes(DB(q)) > 0;
		if (found)
			rc = exec(q, "DELETE FROM dead WHERE id=?1 AND ?2=?2", id, 0, ei);
	}
	if (rc || !found) {
		tx(q, S_ROLLBACK, NULL);
		return rc ? rc : dc__fail(ei, DC_ERR_NOT_FOUND, "queue: no item %lld", (long long)id);
	}
	return tx(q, S_COMMIT, ei);
}

static dc_err sq_redest(struct dc_queue *q, int64_t id, const struct dc_queue_redest *r, struct dc_errinfo *ei)
{
	dc_err rc = tx(q, S_BEGIN, ei);
	if (rc)
		return rc;
	sqlite3_stmt *s = NULL;
	char *old_blob = NULL;
	if (sqlite3_prepare_v2(DB(q), "SELECT dest,lease_until,blob FROM queue WHERE id=?", -1, &s, NULL) != SQLITE_OK) {
		rc = db_fail(q, ei, "redest");
		goto rollback;
	}
	sqlite3_bind_int64(s, 1, id);
	int st = sqlite3_step(s);
	if (st != SQLITE_ROW) {
		rc = st == SQLITE_DONE ? dc__fail(ei, DC_ERR_NOT_FOUND, "queue: no queued item %lld", (long long)id) :
		                         db_fail(q, ei, "redest");
		goto rollback;
	}
	const unsigned char *dest = sqlite3_column_text(s, 0);
	if (sqlite3_column_int64(s, 1) > r->now_ms) {
		rc = dc__fail(ei, DC_ERR_AGAIN, "queue: item %lld is in flight", (long long)id);
		goto rollback;
	}
	if (!dest || strcmp((const char *)dest, r->from) != 0) {
		rc = dc__fail(ei, DC_ERR_AGAIN, "queue: item %lld has another destination now", (long long)id);
		goto rollback;
	}
	if (r->data && sqlite3_column_text(s, 2) && !(old_blob = strdup((const char *)sqlite3_column_text(s, 2)))) {
		rc = dc__fail(ei, DC_ERR_NOMEM, "queue: out of memory");
		goto rollback;
	}
	sqlite3_finalize(s);
	s = NULL;
	/* a new envelope lives in the row (the old file goes after the commit) */
	if (sqlite3_prepare_v2(DB(q),
	                       r->data ? "UPDATE queue SET dest=?2,next_ms=?3,attempts=0,last_error=?4,held=NULL,"
	                                 "lease_until=0,data=?5,blob=NULL,blob_len=0 WHERE id=?1" :
	                                 "UPDATE queue SET dest=?2,next_ms=?3,attempts=0,last_error=?4,held=NULL,"
	                                 "lease_until=0 WHERE id=?1",
	                       -1, &s, NULL) != SQLITE_OK) {
		rc = db_fail(q, ei, "redest");
		goto rollback;
	}
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, r->dest, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, r->next_ms);
	sqlite3_bind_text(s, 4, r->why, -1, SQLITE_STATIC);
	if (r->data)
		sqlite3_bind_blob64(s, 5, r->len ? (const void *)r->data : "", r->len, SQLITE_STATIC);
	if (sqlite3_step(s) != SQLITE_DONE) {
		rc = db_fail(q, ei, "redest");
		goto rollback;
	}
	if ((rc = drop_else(q, id, ei)))
		goto rollback;
	if ((rc = put_else(q, id, r->els, r->n_els, ei)))
		goto rollback;
	if (old_blob && defer_unlink(SQ(q), old_blob) != 0) {
		rc = dc__fail(ei, DC_ERR_NOMEM, "queue: out of memory");
		goto rollback;
	}
	sqlite3_finalize(s);
	s = NULL;
	free(old_blob);
	if ((rc = tx(q, S_COMMIT, ei))) {
		tx(q, S_ROLLBACK, NULL);
		end_unlinks(SQ(q), false);
		return rc;
	}
	end_unlinks(SQ(q), true);
	return DC_OK;
rollback:
	sqlite3_finalize(s);
	free(old_blob);
	tx(q, S_ROLLBACK, NULL);
	end_unlinks(SQ(q), false);
	return rc;
}

static dc_err sq_purge_dead(struct dc_queue *q, uint64_t *purged, struct dc_errinfo *ei)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(DB(q), "DELETE FROM dead RETURNING blob", -1, &s, NULL) != SQLITE_OK)
		return db_fail(q, ei, "purge");
	uint64_t n = 0;
	int r;
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		n++;
		const unsigned char *b = sqlite3_column_text(s, 0);
		if (b)
			(void)defer_unlink(SQ(q), (const char *)b); /* out of memory: the start-up sweep takes it */
	}
	sqlite3_finalize(s);
	end_unlinks(SQ(q), r == SQLITE_DONE); /* one statement, committed on its own */
	if (purged)
		*purged = r == SQLITE_DONE ? n : 0;
	return r == SQLITE_DONE ? DC_OK : db_fail(q, ei, "purge");
}

/* one DELETE ... RETURNING blob, with ?1 = id or ?1 = glob; the files go after the commit */
static dc_err del_returning(struct dc_queue *q, const char *query, int64_t id, const char *glob, uint64_t *n,
                            struct dc_errinfo *ei)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(DB(q), query, -1, &s, NULL) != SQLITE_OK)
		return db_fail(q, ei, "remove");
	if (glob)
		sqlite3_bind_text(s, 1, glob, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_int64(s, 1, id);
	int r;
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		if (n)
			(*n)++;
		const unsigned char *b = sqlite3_column_count(s) ? sqlite3_column_text(s, 0) : NULL;
		if (b)
			(void)defer_unlink(SQ(q), (const char *)b); /* out of memory: the start-up sweep takes it */
	}
	sqlite3_finalize(s);
	return r == SQLITE_DONE ? DC_OK : db_fail(q, ei, "remove");
}

static dc_err sq_remove(struct dc_queue *q, int64_t id, const char *glob, bool dead, uint64_t *removed,
                        struct dc_errinfo *ei)
{
	uint64_t n = 0;
	dc_err rc = tx(q, S_BEGIN, ei);
	if (rc)
		return rc;
	if (glob && dead) {
		rc = del_returning(q, "DELETE FROM dead WHERE dest GLOB ?1 RETURNING blob", 0, glob, &n, ei);
	} else if (glob) {
		rc = del_returning(q, "DELETE FROM fallback WHERE primary_id IN (SELECT id FROM queue WHERE dest GLOB ?1)", 0,
		                   glob, NULL, ei);
		if (!rc)
			rc = del_returning(q, "DELETE FROM queue WHERE dest GLOB ?1 RETURNING blob", 0, glob, &n, ei);
	} else {
		rc = del_returning(q, "DELETE FROM fallback WHERE primary_id=?1", id, NULL, NULL, ei);
		if (!rc)
			rc = del_returning(q, "DELETE FROM queue WHERE id=?1 RETURNING blob", id, NULL, &n, ei);
		if (!rc)
			rc = del_returning(q, "DELETE FROM dead WHERE id=?1 RETURNING blob", id, NULL, &n, ei);
		if (!rc && n == 0)
			rc = dc__fail(ei, DC_ERR_NOT_FOUND, "queue: no item %lld", (long long)id);
	}
	if (rc) {
		tx(q, S_ROLLBACK, NULL);
		end_unlinks(SQ(q), false);
		return rc;
	}
	rc = tx(q, S_COMMIT, ei);
	end_unlinks(SQ(q), rc == DC_OK);
	if (removed)
		*removed = rc == DC_OK ? n : 0;
	return rc;
}

/* start-up: files that no item names and that are old enough not to be a put in progress
 * (another process's) are left over from a put or a delete that died half-way */
static void sweep_blobs(struct dc_queue *q)
{
	DIR *d = opendir(SQ(q)->blob_dir);
	if (!d)
		return;
	time_t now = time(NULL);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[4200];
		struct stat st;
		blob_path(SQ(q), e->d_name, path, sizeof path);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || now - st.st_mtime < ORPHAN_AGE_S)
			continue;
		sqlite3_stmt *s = ST(q, S_BLOB_OF);
		sqlite3_bind_text(s, 1, e->d_name, -1, SQLITE_TRANSIENT);
		int r = sqlite3_step(s);
		sqlite3_reset(s);
		if (r == SQLITE_DONE)
			unlink(path); /* named by no item */
	}
	closedir(d);
}

static dc_err sq_release_leases(struct dc_queue *q, uint64_t *released, struct dc_errinfo *ei)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	dc_err rc = exec(q, "UPDATE queue SET lease_until=0,next_ms=MIN(next_ms,?2) WHERE lease_until>?1", 0, now, ei);
	if (released)
		*released = rc ? 0 : (uint64_t)sqlite3_changes(DB(q));
	if (rc == DC_OK)
		rc = exec(q, "UPDATE queue SET held=NULL,next_ms=?2 WHERE held IS NOT NULL AND ?1=?1", 0, now, ei);
	sweep_blobs(q);
	return rc;
}

static void sq_close(struct dc_queue *q)
{
	struct sq *s = q->impl;
	for (int i = 0; i < S_N; i++)
		sqlite3_finalize(s->st[i]);
	sqlite3_finalize(s->del_many);
	sqlite3_finalize(s->else_many);
	sqlite3_close(s->db);
	end_unlinks(s, false);
	free(s->unlink);
	end_notes(q, false);
	dc__dead_notes_free(&s->notes);
	free(s->blob_dir);
	free(s->path);
	free(s);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

/* PRAGMA quick_check: one row "ok", or up to 100 rows saying what is wrong */
static dc_err sq_check(struct dc_queue *q, struct dc_errinfo *ei)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(DB(q), "PRAGMA quick_check", -1, &s, NULL) != SQLITE_OK) {
		dc_err rc = dc__fail(ei, DC_ERR_IO, "queue: %.300s: damaged (quick_check: %s)", SQ(q)->path,
		                     sqlite3_errmsg(DB(q)));
		sqlite3_finalize(s);
		return rc;
	}
	int r, rows = 0;
	dc_err rc = DC_OK;
	while ((r = sqlite3_step(s)) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(s, 0);
		if (rows++ == 0 && !(t && strcmp((const char *)t, "ok") == 0)) {
			char what[160]; /* one line: a row may hold several */
			snprintf(what, sizeof what, "%s", t ? (const char *)t : "?");
			for (char *c = what; *c; c++)
				if (*c == '\n' || *c == '\r' || *c == '\t')
					*c = ' ';
			rc = dc__fail(ei, DC_ERR_IO, "queue: %.300s: damaged (quick_check: %s)", SQ(q)->path, what);
		}
	}
	if (r != SQLITE_DONE && !rc)
		rc = dc__fail(ei, DC_ERR_IO, "queue: %.300s: damaged (quick_check: %s)", SQ(q)->path, sqlite3_errmsg(DB(q)));
	else if (rc && rows > 1 && ei)
		snprintf(ei->msg + strlen(ei->msg), sizeof ei->msg - strlen(ei->msg), " (and %d more)", rows - 1);
	sqlite3_finalize(s);
	return rc;
}

static dc_err sq_share(struct dc_queue *q, const char *key, uint64_t *n, struct dc_errinfo *ei)
{
	sqlite3_stmt *s = ST(q, S_SHARE);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	int r = sqlite3_step(s);
	*n = r == SQLITE_ROW && sqlite3_column_int64(s, 0) > 0 ? (uint64_t)sqlite3_column_int64(s, 0) : 0;
	sqlite3_clear_bindings(s);
	sqlite3_reset(s);
	return r == SQLITE_ROW || r == SQLITE_DONE ? DC_OK : db_fail(q, ei, "share");
}

static const struct dc_queue_store_ops sqlite_ops = {
	.name = "sqlite", .put = sq_put, .claim = sq_claim, .ack = sq_ack, .retry = sq_retry, .fail = sq_fail,
	.stats = sq_stats, .list = sq_list, .get = sq_get, .requeue = sq_requeue, .purge_dead = sq_purge_dead,
	.remove = sq_remove, .release_leases = sq_release_leases, .hold = sq_hold, .release_held = sq_release_held,
	.ack_many = sq_ack_many, .file_write = sq_file_write,
	.file_discard = sq_file_discard, .check = sq_check, .share = sq_share, .redest = sq_redest, .close = sq_close,
	.med = &dc__sq_med_ops,
};

sqlite3 *dc__sq_db(struct dc_queue *q)
{
	return DB(q);
}

/* Column order matters: SQLite reads a row's columns in order, so the small ones the
 * dispatcher looks at come first and the envelope (often several pages) comes last. */
static const char schema[] =
	"CREATE TABLE IF NOT EXISTS queue(id INTEGER PRIMARY KEY AUTOINCREMENT, dest TEXT NOT NULL,"
	" next_ms INTEGER NOT NULL, lease_until INTEGER NOT NULL DEFAULT 0, created_ms INTEGER NOT NULL,"
	" expires_ms INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, msg_id TEXT, media_type TEXT,"
	" origin TEXT, last_error TEXT, blob TEXT, blob_len INTEGER NOT NULL DEFAULT 0, held TEXT, facts TEXT,"
	" data BLOB NOT NULL);"
	"CREATE INDEX IF NOT EXISTS queue_due ON queue(next_ms);"
	/* deliveries in flight per destination, without touching the rows */
	"CREATE INDEX IF NOT EXISTS queue_lease ON queue(lease_until, dest);"
	/* a rule's else for an item, queued in its place if it fails for good */
	"CREATE TABLE IF NOT EXISTS fallback(id INTEGER PRIMARY KEY, primary_id INTEGER NOT NULL, dest TEXT NOT NULL,"
	" hold_ms INTEGER NOT NULL DEFAULT 0, expires_ms INTEGER NOT NULL DEFAULT 0, data BLOB);"
	"CREATE INDEX IF NOT EXISTS fallback_of ON fallback(primary_id);"
	"CREATE TABLE IF NOT EXISTS dead(id INTEGER PRIMARY KEY, msg_id TEXT, dest TEXT, origin TEXT, media_type TEXT,"
	" created_ms INTEGER, died_ms INTEGER, attempts INTEGER, reason TEXT, blob TEXT, blob_len INTEGER NOT NULL DEFAULT 0,"
	" data BLOB);"
	/* idempotency keys of items put (dc_queue_new_item.key), kept apart from the items: a
	 * store made before them gets the table here */
	"CREATE TABLE IF NOT EXISTS inkey(id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, at_ms INTEGER NOT NULL);";

/* stores made before envelopes could be files get the columns; then the files' indexes
 * (partial: only rows with a file are in them) */
static const char *const schema_blob_cols[] = {
	"ALTER TABLE queue ADD COLUMN blob TEXT", "ALTER TABLE queue ADD COLUMN blob_len INTEGER NOT NULL DEFAULT 0",
	"ALTER TABLE dead ADD COLUMN blob TEXT", "ALTER TABLE dead ADD COLUMN blob_len INTEGER NOT NULL DEFAULT 0",
};
static const char schema_blob_idx[] =
	"CREATE INDEX IF NOT EXISTS queue_blob ON queue(blob) WHERE blob IS NOT NULL;"
	"CREATE INDEX IF NOT EXISTS queue_held ON queue(held) WHERE held IS NOT NULL;"
	"CREATE INDEX IF NOT EXISTS dead_blob ON dead(blob) WHERE blob IS NOT NULL;";

/* Live items per origin ("transport source") and per authenticated sender DID, for the queue
 * shares: kept by triggers, so that every way in and out (the daemon, the queue commands,
 * dead letters, requeues) counts, in the same transaction. The else items a failure makes are
 * the gateway's own and count for nobody. A store made before shares is counted once. */
#define SHARE_KEY(col, row) row "." col " IS NOT NULL AND " row "." col " NOT LIKE 'else of #%'"
#define SHARE_TRIGGERS(col)                                                                                            \
	"CREATE TRIGGER IF NOT EXISTS shares_in_" col " AFTER INSERT ON queue WHEN " SHARE_KEY(col, "NEW") " BEGIN "  \
	"INSERT INTO shares(key,n) VALUES(NEW." col ",1) ON CONFLICT(key) DO UPDATE SET n=n+1; END;"                  \
	"CREATE TRIGGER IF NOT EXISTS shares_out_" col " AFTER DELETE ON queue WHEN " SHARE_KEY(col, "OLD") " BEGIN " \
	"UPDATE shares SET n=n-1 WHERE key=OLD." col "; DELETE FROM shares WHERE key=OLD." col " AND n<=0; END;"
static const char schema_shares[] =
	"CREATE TABLE shares(key TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;"
	"INSERT INTO shares SELECT origin,COUNT(*) FROM queue WHERE " SHARE_KEY("origin", "queue") " GROUP BY origin;"
	"INSERT INTO shares SELECT sender,COUNT(*) FROM queue WHERE " SHARE_KEY("sender", "queue") " GROUP BY sender "
	"ON CONFLICT(key) DO UPDATE SET n=n+excluded.n;" SHARE_TRIGGERS("origin") SHARE_TRIGGERS("sender");

dc_err dc_queue_open_sqlite(const char *path, const struct dc_queue_opts *o, struct dc_queue **out,
                            struct dc_errinfo *ei)
{
	*out = NULL;
	struct dc_queue *q = calloc(1, sizeof *q);
	struct sq *s = calloc(1, sizeof *s);
	if (!q || !s) {
		free(q);
		free(s);
		return DC_ERR_NOMEM;
	}
	q->ops = &sqlite_ops;
	q->impl = s;
	pthread_mutex_init(&q->mu, NULL);
	dc__queue_opts_fill(&q->o, o);
	if (!(s->path = strdup(path))) {
		sq_close(q);
		return DC_ERR_NOMEM;
	}
	/* a new store is 0600 from the start (its -wal and -shm take its mode) */
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0) {
		int err = fchmod(fd, 0600) != 0 ? errno : 0;
		close(fd);
		if (err) {
			dc_err rc = dc__fail(ei, DC_ERR_IO, "queue: cannot create %.200s: %s", path, strerror(err));
			sq_close(q);
			return rc;
		}
	} else if (errno != EEXIST) {
		dc_err rc = dc__fail(ei, DC_ERR_IO, "queue: cannot create %.200s: %s", path, strerror(errno));
		sq_close(q);
		return rc;
	}
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		dc_err rc = dc__fail(ei, DC_ERR_IO, "queue: cannot open %.200s: %s", path,
		                     s->db ? sqlite3_errmsg(s->db) : "out of memory");
		sq_close(q);
		return rc;
	}
	sqlite3_busy_timeout(s->db, 5000);
	char pragmas[256];
	snprintf(pragmas, sizeof pragmas,
	         "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA foreign_keys=OFF; PRAGMA wal_autocheckpoint=%d;",
	         q->o.sync_full ? "FULL" : "NORMAL", q->o.checkpoint_pages);
	char *err = NULL;
	if (sqlite3_exec(s->db, pragmas, NULL, NULL, &err) != SQLITE_OK ||
	    sqlite3_exec(s->db, schema, NULL, NULL, &err) != SQLITE_OK) {
		dc_err rc = dc__fail(ei, DC_ERR_IO, "queue: %.200s: %s", path, err ? err : "setup failed");
		sqlite3_free(err);
		sq_close(q);
		return rc;
	}
	const char *tables[] = { "queue", "dead" };
	for (size_t t = 0; t < 2; t++) {
		char qq[160];
		snprintf(qq, sizeof qq, "SELECT COUNT(*) FROM pragma_table_info('%s') WHERE name='blob' AND ?1=?1", tables[t]);
		if (one_int(q, qq, 0) == 0 &&
		    (sqlite3_exec(s->db, schema_blob_cols[2 * t], NULL, NULL, &err) != SQLITE_OK ||
		     sqlite3_exec(s->db, schema_blob_cols[2 * t + 1], NULL, NULL, &err) != SQLITE_OK)) {
			dc_err rc = dc__fail(ei, DC_ERR_IO, "queue: %.200s: adding envelope files: %s", path, err ? err : "failed");
			sqlite3_free(err);
			sq_close(q);
			return rc;
		}
	}
	/* stores made before presence holds get the column */
	if (one_int(q, "SELECT COUNT(*) FROM pragma_table_info('queue') WHERE name='held' AND ?1=?1", 0) == 0 &&
	    sqlite3_exec(s->db, "ALTER TABLE queue ADD COLUMN held TEXT", NULL, NULL, &err) != SQLITE_OK) {
		dc_err rc = dc__fail(ei, DC_ERR_IO, "queue: %.200s: adding presence holds: %s", path, err ? err : "failed");
		sqlite3_free(err);
		sq_close(q);
		return rc;
	}
	/* stores made before re-routing get the column for the rule inputs (their items have none:
	 * queue reroute leaves them where they are) */
	if (one_int(q, "SELECT COUNT(*) FROM pragma_table_info('queue') WHERE name='facts' AND ?1=?1", 0) == 0 &&
	    sqlite3_exec(s->db, "ALTER TABLE queue ADD COLUMN facts TEXT", NULL, NULL, &err) != SQLITE_OK) {
		dc_err rc = dc__fail(ei, DC_ERR_IO, "queue: %.200s: adding the rule inputs: %s", path, err ? err : "failed");
		sqlite3_free(err);
		sq_close(q);
		return rc;
	}
	/* stores made before queue shares get the sender column and the counts */
	if ((one_int(q, "SELECT COUNT(*) FROM pragma_table_info('queue') WHERE name='sender' AND ?1=?1", 0) == 0 &&
	     sqlite3_exec(s->db, "ALTER TABLE queue ADD COLUMN sender TEXT", NULL, NULL, &err) != SQLITE_OK) ||
	    (one_int(q, "SELECT COUNT(*) FROM sqlite_master WHERE name='shares' AND ?1=?1", 0) == 0 &&
	     (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK ||
	      (sqlite3_exec(s->db, schema_shares, NULL, NULL, &err) != SQLITE_OK &&
	       (sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL), 1)) ||
	      sqlite3_exec(s->db, "COMMIT", NULL, NULL, &err) != SQLITE_OK))) {
		dc_err rc = dc__fail(ei, DC_ERR_IO, "queue: %.200s: adding queue shares: %s", path, err ? err : "failed");
		sqlite3_free(err);
		sq_close(q);
		return rc;
	}
	/* the mediator's tables and the queue's mailbox column (queue_sqlite_med.c) */
	dc_err mrc = dc__sq_med_schema(s->db, path, ei);
	if (mrc) {
		sq_close(q);
		return mrc;
	}
	size_t pl = strlen(path);
	if (sqlite3_exec(s->db, schema_blob_idx, NULL, NULL, &err) != SQLITE_OK || !(s->blob_dir = malloc(pl + 7))) {
		dc_err rc = dc__fail(ei, err ? DC_ERR_IO : DC_ERR_NOMEM, "queue: %.200s: %s", path, err ? err : "out of memory");
		sqlite3_free(err);
		sq_close(q);
		return rc;
	}
	memcpy(s->blob_dir, path, pl);
	memcpy(s->blob_dir + pl, "-blobs", 7);
	if (q->o.blob_min_bytes && (mkdir(s->blob_dir, 0700) == 0 ? chmod(s->blob_dir, 0700) != 0 : errno != EEXIST)) {
		dc_err rc = dc__fail(ei, DC_ERR_IO, "queue: cannot create %.300s: %s", s->blob_dir, strerror(errno));
		sq_close(q);
		return rc;
	}
	for (int i = 0; i < S_N; i++)
		if (sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) != SQLITE_OK) {
			dc_err rc = dc__fail(ei, DC_ERR_IO, "queue: preparing statement %d: %s", i, sqlite3_errmsg(s->db));
			sq_close(q);
			return rc;
		}
	*out = q;
	return DC_OK;
}
