/* The SQLite store's mediation tables (dc_queue.h "mediation"):
 *   med_client(client, granted_ms)                 clients granted mediation
 *   med_recipient(recipient, mailbox, client, ...)  what each registered (one client a mailbox)
 * and, on the queue, a virtual column `mailbox` (the DID of a "hold DID" destination, else
 * NULL) with a partial index (mailbox, id): a mailbox's items are found without touching the
 * rest of the queue, and relayed items pay nothing but the test for the index. Each mailbox's
 * count and bytes are kept by triggers in med_box (a status is then a few rows, not a scan of
 * every held item: 100,000 of them took a second). Created on
 * open, for stores made before them too (ALTER TABLE ADD COLUMN of a virtual column leaves
 * the rows as they are). Statements are prepared per call: these are rare next to put and
 * claim, and each is a few microseconds. The front (queue.c) holds the handle's lock. */
#include "queue_int.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char schema[] =
	"CREATE TABLE IF NOT EXISTS med_client(client TEXT PRIMARY KEY, granted_ms INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE IF NOT EXISTS med_recipient(id INTEGER PRIMARY KEY, recipient TEXT NOT NULL UNIQUE,"
	" mailbox TEXT NOT NULL, client TEXT NOT NULL, added_ms INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS med_recipient_client ON med_recipient(client, id);"
	"CREATE INDEX IF NOT EXISTS med_recipient_mailbox ON med_recipient(mailbox);";
static const char mailbox_col[] =
	"ALTER TABLE queue ADD COLUMN mailbox TEXT GENERATED ALWAYS AS "
	"(CASE WHEN substr(dest,1,5)='hold ' THEN substr(dest,6) END) VIRTUAL";
static const char mailbox_idx[] = "CREATE INDEX IF NOT EXISTS queue_mailbox ON queue(mailbox, id) WHERE mailbox IS NOT NULL";
/* the counts, kept in the same transaction as the items by every way in and out */
static const char box_schema[] =
	"CREATE TABLE med_box(mailbox TEXT PRIMARY KEY, n INTEGER NOT NULL, bytes INTEGER NOT NULL) WITHOUT ROWID;"
	"INSERT INTO med_box SELECT mailbox,COUNT(*),SUM(LENGTH(data)+blob_len) FROM queue WHERE mailbox IS NOT NULL "
	"GROUP BY mailbox;"
	"CREATE TRIGGER IF NOT EXISTS med_box_in AFTER INSERT ON queue WHEN NEW.mailbox IS NOT NULL BEGIN "
	"INSERT INTO med_box(mailbox,n,bytes) VALUES(NEW.mailbox,1,LENGTH(NEW.data)+NEW.blob_len) "
	"ON CONFLICT(mailbox) DO UPDATE SET n=n+1,bytes=bytes+excluded.bytes; END;"
	"CREATE TRIGGER IF NOT EXISTS med_box_out AFTER DELETE ON queue WHEN OLD.mailbox IS NOT NULL BEGIN "
	"UPDATE med_box SET n=n-1,bytes=bytes-(LENGTH(OLD.data)+OLD.blob_len) WHERE mailbox=OLD.mailbox; "
	"DELETE FROM med_box WHERE mailbox=OLD.mailbox AND n<=0; END;"
	/* the destination of an item does not change in place today; if it did, the counts follow */
	"CREATE TRIGGER IF NOT EXISTS med_box_move AFTER UPDATE OF dest ON queue WHEN "
	"OLD.mailbox IS NOT NEW.mailbox BEGIN "
	"UPDATE med_box SET n=n-1,bytes=bytes-(LENGTH(OLD.data)+OLD.blob_len) WHERE mailbox=OLD.mailbox; "
	"DELETE FROM med_box WHERE mailbox=OLD.mailbox AND n<=0; "
	"INSERT INTO med_box(mailbox,n,bytes) SELECT NEW.mailbox,1,LENGTH(NEW.data)+NEW.blob_len WHERE NEW.mailbox IS NOT NULL "
	"ON CONFLICT(mailbox) DO UPDATE SET n=n+1,bytes=bytes+excluded.bytes; END;";

dc_err dc__sq_med_schema(sqlite3 *db, const char *path, struct dc_errinfo *ei)
{
	char *err = NULL;
	sqlite3_stmt *s = NULL;
	bool has = false;
	if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM pragma_table_info('queue') WHERE name='mailbox'", -1, &s, NULL) ==
	        SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		has = sqlite3_column_int(s, 0) > 0;
	sqlite3_finalize(s);
	/* pragma_table_info leaves generated columns out: table_xinfo has them */
	if (!has && sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM pragma_table_xinfo('queue') WHERE name='mailbox'", -1, &s,
	                               NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		has = sqlite3_column_int(s, 0) > 0;
	sqlite3_finalize(s);
	bool boxes = false;
	if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM sqlite_master WHERE name='med_box'", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		boxes = sqlite3_column_int(s, 0) > 0;
	sqlite3_finalize(s);
	if (sqlite3_exec(db, schema, NULL, NULL, &err) != SQLITE_OK ||
	    (!has && sqlite3_exec(db, mailbox_col, NULL, NULL, &err) != SQLITE_OK) ||
	    sqlite3_exec(db, mailbox_idx, NULL, NULL, &err) != SQLITE_OK ||
	    (!boxes && (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &err) != SQLITE_OK ||
	                (sqlite3_exec(db, box_schema, NULL, NULL, &err) != SQLITE_OK &&
	                 (sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), 1)) ||
	                sqlite3_exec(db, "COMMIT", NULL, NULL, &err) != SQLITE_OK))) {
		dc_err rc = dc__fail(ei, DC_ERR_IO, "queue: %.200s: adding the mediator's tables: %s", path,
		                     err ? err : "failed");
		sqlite3_free(err);
		return rc;
	}
	return DC_OK;
}

static dc_err fail(sqlite3 *db, struct dc_errinfo *ei, const char *what)
{
	int code = sqlite3_extended_errcode(db) & 0xff;
	return dc__fail(ei, code == SQLITE_BUSY || code == SQLITE_LOCKED ? DC_ERR_AGAIN : code == SQLITE_NOMEM ? DC_ERR_NOMEM : DC_ERR_IO,
	                "queue: %s: %s", what, sqlite3_errmsg(db));
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *s = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK) {
		sqlite3_finalize(s);
		return NULL;
	}
	return s;
}

static dc_err med_grant(struct dc_queue *q, const char *client, int64_t now, struct dc_errinfo *ei)
{
	sqlite3 *db = dc__sq_db(q);
	sqlite3_stmt *s = prep(db, "INSERT INTO med_client(client,granted_ms) VALUES(?1,?2) ON CONFLICT(client) DO NOTHING");
	if (!s)
		return fail(db, ei, "grant");
	sqlite3_bind_text(s, 1, client, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now);
	int r = sqlite3_step(s);
	sqlite3_finalize(s);
	return r == SQLITE_DONE ? DC_OK : fail(db, ei, "grant");
}

static dc_err med_granted(struct dc_queue *q, const char *client, bool *granted, struct dc_errinfo *ei)
{
	sqlite3 *db = dc__sq_db(q);
	sqlite3_stmt *s = prep(db, "SELECT 1 FROM med_client WHERE client=?1");
	if (!s)
		return fail(db, ei, "grant lookup");
	sqlite3_bind_text(s, 1, client, -1, SQLITE_STATIC);
	int r = sqlite3_step(s);
	sqlite3_finalize(s);
	*granted = r == SQLITE_ROW;
	return r == SQLITE_ROW || r == SQLITE_DONE ? DC_OK : fail(db, ei, "grant lookup");
}

/* the client of a recipient or of a mailbox, or "" (malloc'd; NULL: out of memory or error) */
static char *owner(sqlite3 *db, const char *sql, const char *key, int *r)
{
	sqlite3_stmt *s = prep(db, sql);
	if (!s) {
		*r = SQLITE_ERROR;
		return NULL;
	}
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	*r = sqlite3_step(s);
	const unsigned char *t = *r == SQLITE_ROW ? sqlite3_column_text(s, 0) : NULL;
	char *o = strdup(t ? (const char *)t : "");
	sqlite3_finalize(s);
	return o;
}

static dc_err med_recipient(struct dc_queue *q, const char *client, const char *recipient, const char *mailbox,
                            bool add, int64_t now, enum dc_queue_med_change *res, struct dc_errinfo *ei)
{
	sqlite3 *db = dc__sq_db(q);
	int r;
	char *who = owner(db, "SELECT client FROM med_recipient WHERE recipient=?1", recipient, &r);
	if (!who)
		return r == SQLITE_ERROR ? fail(db, ei, "recipient lookup") : DC_ERR_NOMEM;
	dc_err rc = DC_OK;
	if (!add) {
		/* only the client's own registration goes; someone else's is "no change" (nothing told) */
		*res = DC_QUEUE_MED_SAME;
		if (strcmp(who, client) == 0) {
			sqlite3_stmt *s = prep(db, "DELETE FROM med_recipient WHERE recipient=?1 AND client=?2");
			if (!s) {
				rc = fail(db, ei, "recipient remove");
			} else {
				sqlite3_bind_text(s, 1, recipient, -1, SQLITE_STATIC);
				sqlite3_bind_text(s, 2, client, -1, SQLITE_STATIC);
				rc = sqlite3_step(s) == SQLITE_DONE ? DC_OK : fail(db, ei, "recipient remove");
				sqlite3_finalize(s);
				*res = DC_QUEUE_MED_DONE;
			}
		}
		free(who);
		return rc;
	}
	if (who[0]) {
		*res = strcmp(who, client) == 0 ? DC_QUEUE_MED_SAME : DC_QUEUE_MED_OTHERS;
		free(who);
		return DC_OK;
	}
	free(who);
	/* a mailbox has one client: another recipient of the same DID registered by someone else */
	if (!(who = owner(db, "SELECT client FROM med_recipient WHERE mailbox=?1 LIMIT 1", mailbox, &r)))
		return r == SQLITE_ERROR ? fail(db, ei, "mailbox lookup") : DC_ERR_NOMEM;
	if (who[0] && strcmp(who, client) != 0) {
		*res = DC_QUEUE_MED_OTHERS;
		free(who);
		return DC_OK;
	}
	free(who);
	sqlite3_stmt *s = prep(db, "SELECT COUNT(*) FROM med_recipient WHERE client=?1");
	if (!s)
		return fail(db, ei, "recipients");
	sqlite3_bind_text(s, 1, client, -1, SQLITE_STATIC);
	int64_t have = sqlite3_step(s) == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
	sqlite3_finalize(s);
	if (have >= DC_QUEUE_MED_MAX_RECIPIENTS) {
		*res = DC_QUEUE_MED_FULL;
		return DC_OK;
	}
	s = prep(db, "INSERT INTO med_recipient(recipient,mailbox,client,added_ms) VALUES(?1,?2,?3,?4)");
	if (!s)
		return fail(db, ei, "recipient add");
	sqlite3_bind_text(s, 1, recipient, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, mailbox, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, client, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, now);
	r = sqlite3_step(s);
	sqlite3_finalize(s);
	if (r != SQLITE_DONE)
		return fail(db, ei, "recipient add");
	*res = DC_QUEUE_MED_DONE;
	return DC_OK;
}

static dc_err med_recipients(struct dc_queue *q, const char *client, size_t offset, size_t limit, char ***dids,
                             size_t *n, size_t *total, struct dc_errinfo *ei)
{
	sqlite3 *db = dc__sq_db(q);
	sqlite3_stmt *c = prep(db, "SELECT COUNT(*) FROM med_recipient WHERE client=?1");
	if (!c)
		return fail(db, ei, "recipients");
	sqlite3_bind_text(c, 1, client, -1, SQLITE_STATIC);
	*total = sqlite3_step(c) == SQLITE_ROW ? (size_t)sqlite3_column_int64(c, 0) : 0;
	sqlite3_finalize(c);
	if (!limit || offset >= *total)
		return DC_OK;
	sqlite3_stmt *s = prep(db, "SELECT recipient FROM med_recipient WHERE client=?1 ORDER BY id LIMIT ?2 OFFSET ?3");
	char **out = calloc(limit, sizeof *out);
	if (!s || !out) {
		sqlite3_finalize(s);
		free(out);
		return s ? DC_ERR_NOMEM : fail(db, ei, "recipients");
	}
	sqlite3_bind_text(s, 1, client, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)limit);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)offset);
	size_t got = 0;
	dc_err rc = DC_OK;
	while (got < limit && sqlite3_step(s) == SQLITE_ROW)
		if (!(out[got++] = strdup((const char *)sqlite3_column_text(s, 0)))) {
			rc = DC_ERR_NOMEM;
			break;
		}
	sqlite3_finalize(s);
	if (rc) {
		for (size_t i = 0; i < got; i++)
			free(out[i]);
		free(out);
		return rc;
	}
	*dids = out;
	*n = got;
	return DC_OK;
}

static dc_err med_each(struct dc_queue *q, void (*fn)(void *arg, const char *mailbox, const char *client), void *arg,
                       struct dc_errinfo *ei)
{
	sqlite3 *db = dc__sq_db(q);
	sqlite3_stmt *s = prep(db, "SELECT mailbox,client FROM med_recipient ORDER BY id");
	if (!s)
		return fail(db, ei, "mailboxes");
	int r;
	while ((r = sqlite3_step(s)) == SQLITE_ROW)
		fn(arg, (const char *)sqlite3_column_text(s, 0), (const char *)sqlite3_column_text(s, 1));
	sqlite3_finalize(s);
	return r == SQLITE_DONE ? DC_OK : fail(db, ei, "mailboxes");
}

/* the client's mailboxes, or the one named if it is one of them */
#define BOXES "mailbox IN (SELECT mailbox FROM med_recipient WHERE client=?1 AND (?2 IS NULL OR mailbox=?2))"

static dc_err med_stats(struct dc_queue *q, const char *client, const char *mailbox, struct dc_queue_mailbox_stats *st,
                        struct dc_errinfo *ei)
{
	sqlite3 *db = dc__sq_db(q);
	/* counts from med_box; the oldest and newest items are the ends of each mailbox's index
	 * (ids grow with time): index seeks, then two rows read */
	sqlite3_stmt *s = prep(db, "WITH e AS MATERIALIZED (SELECT (SELECT id FROM queue q WHERE q.mailbox=r.mailbox ORDER BY id LIMIT 1) lo,"
	                           "(SELECT id FROM queue q WHERE q.mailbox=r.mailbox ORDER BY id DESC LIMIT 1) hi "
	                           "FROM med_recipient r WHERE client=?1 AND (?2 IS NULL OR mailbox=?2)) "
	                           "SELECT (SELECT COALESCE(SUM(n),0) FROM med_box WHERE " BOXES "),"
	                           "(SELECT COALESCE(SUM(bytes),0) FROM med_box WHERE " BOXES "),"
	                           "COALESCE((SELECT created_ms FROM queue WHERE id=(SELECT MIN(lo) FROM e)),0),"
	                           "COALESCE((SELECT created_ms FROM queue WHERE id=(SELECT MAX(hi) FROM e)),0),"
	                           "COALESCE((SELECT MAX(hi) FROM e),0)");
	if (!s)
		return fail(db, ei, "mailbox status");
	sqlite3_bind_text(s, 1, client, -1, SQLITE_STATIC);
	if (mailbox)
		sqlite3_bind_text(s, 2, mailbox, -1, SQLITE_STATIC);
	int r = sqlite3_step(s);
	if (r == SQLITE_ROW) {
		st->count = (uint64_t)sqlite3_column_int64(s, 0);
		st->bytes = (uint64_t)sqlite3_column_int64(s, 1);
		st->oldest_ms = sqlite3_column_int64(s, 2);
		st->newest_ms = sqlite3_column_int64(s, 3);
		st->last_id = sqlite3_column_int64(s, 4);
	}
	sqlite3_finalize(s);
	return r == SQLITE_ROW ? DC_OK : fail(db, ei, "mailbox status");
}

static dc_err med_ids(struct dc_queue *q, const char *client, const char *mailbox, int64_t after_id, size_t max,
                      int64_t **ids, size_t *n, struct dc_errinfo *ei)
{
	*ids = NULL;
	*n = 0;
	sqlite3 *db = dc__sq_db(q);
	sqlite3_stmt *s = prep(db, "SELECT id FROM queue WHERE " BOXES " AND id>?3 ORDER BY id LIMIT ?4");
	int64_t *out = calloc(max ? max : 1, sizeof *out);
	if (!s || !out) {
		sqlite3_finalize(s);
		free(out);
		return s ? DC_ERR_NOMEM : fail(db, ei, "mailbox");
	}
	sqlite3_bind_text(s, 1, client, -1, SQLITE_STATIC);
	if (mailbox)
		sqlite3_bind_text(s, 2, mailbox, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, after_id);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)max);
	size_t got = 0;
	int r;
	while (got < max && (r = sqlite3_step(s)) == SQLITE_ROW)
		out[got++] = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	*ids = out;
	*n = got;
	return DC_OK;
}

static dc_err med_owned(struct dc_queue *q, const char *client, int64_t *ids, size_t *n, struct dc_errinfo *ei)
{
	sqlite3 *db = dc__sq_db(q);
	sqlite3_stmt *s = prep(db, "SELECT 1 FROM queue q JOIN med_recipient r ON r.mailbox=q.mailbox "
	                           "WHERE q.id=?2 AND r.client=?1 LIMIT 1");
	if (!s)
		return fail(db, ei, "mailbox");
	size_t k = 0;
	for (size_t i = 0; i < *n; i++) {
		sqlite3_bind_text(s, 1, client, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, ids[i]);
		if (sqlite3_step(s) == SQLITE_ROW)
			ids[k++] = ids[i];
		sqlite3_reset(s);
	}
	sqlite3_finalize(s);
	*n = k;
	return DC_OK;
}

const struct dc_queue_med_ops dc__sq_med_ops = {
	.grant = med_grant,
	.granted = med_granted,
	.recipient = med_recipient,
	.recipients = med_recipients,
	.each = med_each,
	.stats = med_stats,
	.ids = med_ids,
	.owned = med_owned,
};
