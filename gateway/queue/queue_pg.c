/* The PostgreSQL store: the queue shared by several gateways (issue 14).
 * - Every envelope is in the database (bytea): other gateways must reach it, so nothing is a
 *   local file (blob_min_bytes is ignored; file_write is not offered).
 * - A claim locks due rows with FOR UPDATE SKIP LOCKED and leases them (lease_until, owner =
 *   this instance's name) in one transaction: two gateways never hold the same item at once,
 *   and an item whose lease ran out (its gateway died) is due again for any of them.
 *   Start-up releases only the leases (and holds) of this instance's earlier run.
 * - A put is one transaction with its idempotency keys and else items, sent in one round trip
 *   (libpq's pipeline mode), and ends with pg_notify('dc_queue', instance): idle gateways
 *   LISTEN (dc_queue_watch) and claim at once.
 * - dc_queue_exclusive: session advisory locks on a connection of their own, so that one
 *   gateway of a cluster reads a shared source (an IMAP mailbox, a folder) at a time.
 * - The schema is created and migrated here, under an advisory lock (gateways start
 *   together); dc_schema holds its version, and a newer one than this program knows stops it.
 * - queue reroute (dc_queue_redest) changes a waiting item with its row locked FOR UPDATE, and
 *   the dead letters the store makes by itself (at a claim, at a retry) are told to
 *   opts.dead_fn once their transaction has committed, as in the SQLite store.
 * - The connection lost: every operation fails (DC_ERR_IO, "try later" for an inbound) until
 *   a reconnect, tried on the next operation once the backoff (0.2 s doubling to 5 s) allows;
 *   statements are prepared again on each new connection.
 * Statements are prepared once per connection with parameters (no SQL is built from data);
 * results come back in binary (integers are big-endian, text and bytea raw). */
#include "queue_int.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SCHEMA_VERSION 2
#define MIGRATE_LOCK 0x6463717565756531LL /* "dcqueue1": the advisory lock of schema changes */
#define KEY_PRUNE_EVERY 256
#define MAX_LOCKS 64         /* names dc_queue_exclusive keeps answers for */
#define LOCK_CACHE_MS 1000
#define LOCK_RETRY_MS 5000   /* its connection lost: tried again after this (the loop thread may ask) */
#define LOCK_SPACE "1684229195" /* 0x64634c4b, "dcLK": the first key of its (int4,int4) advisory locks */
#define HOLD_RECHECK_MS 600000 /* a hold for presence is looked at again after this */

enum { P_PUT_ITEM, P_ELSE_AFTER, P_COUNT, P_COUNT_EXACT, P_NOTIFY, P_KEY_PRUNE_N, P_KEY_PRUNE_AGE, P_INFLIGHT,
       P_DUE, P_LEASE, P_ELSE_TAKE, P_ELSE_DROP, P_TODEAD, P_ACK, P_ACK_MANY, P_GET_FOR_RETRY, P_RETRY, P_HOLD,
       P_RELEASE, P_STATS, P_LISTQ, P_LISTD, P_GETQ, P_GETD, P_REQ_Q, P_REQ_D, P_PURGE_DEAD, P_RM_DEAD_GLOB,
       P_RM_GLOB, P_RM_ID, P_RELEASE_OWN, P_RELEASE_HELD_OWN, P_SHARE, P_REDEST_GET, P_REDEST, P_ELSE_PUT, P_N };

#define ITEM_COLS "id,msg_id,data,media_type,dest,origin,created_ms,next_ms,expires_ms,attempts,last_error"

static const struct {
	const char *sql;
	int nparams;
} stmts[P_N] = {
	/* an item and its key: put before (no row from k), the item is left out and no id comes back */
	[P_PUT_ITEM] = { "WITH k AS (INSERT INTO inkey(key,at_ms) SELECT $12,$6 WHERE $12::text IS NOT NULL "
	                 "ON CONFLICT(key) DO NOTHING RETURNING 1) "
	                 "INSERT INTO queue(msg_id,data,media_type,dest,origin,created_ms,next_ms,expires_ms,lease_until,"
	                 "owner,sender,facts) SELECT $1,$2::bytea,$3,$4,$5,$6::int8,$7::int8,$8::int8,$9::int8,$10,$11,$13 "
	                 "WHERE $12::text IS NULL OR EXISTS (SELECT 1 FROM k) RETURNING id", 13 },
	/* an else of the item just put (this session's last queue id), unless that item was left
	 * out: then its key's insert took a number of inkey's sequence and made no row with it */
	[P_ELSE_AFTER] = { "INSERT INTO fallback(primary_id,dest,data,hold_ms,expires_ms) "
	                   "SELECT currval('queue_id_seq'),$1,$2::bytea,$3::int8,$4::int8 WHERE CASE WHEN $5::text IS NULL "
	                   "THEN true ELSE EXISTS (SELECT 1 FROM inkey WHERE key=$5 AND id=currval('inkey_id_seq')) END", 5 },
	/* an upper bound first (two index probes); the exact count only when the bound is over */
	[P_COUNT] = { "SELECT COALESCE(max(id)-min(id)+1,0)::int8 FROM queue", 0 },
	[P_COUNT_EXACT] = { "SELECT count(*) FROM queue", 0 },
	[P_NOTIFY] = { "SELECT pg_notify('dc_queue',$1)", 1 },
	[P_KEY_PRUNE_N] = { "DELETE FROM inkey WHERE id <= (SELECT max(id) FROM inkey) - $1", 1 },
	[P_KEY_PRUNE_AGE] = { "DELETE FROM inkey WHERE id IN (SELECT id FROM inkey ORDER BY id LIMIT 1024) AND at_ms < $1 "
	                      "AND id <= (SELECT max(id) FROM inkey) - $2", 2 },
	/* in flight per destination, every gateway's */
	[P_INFLIGHT] = { "SELECT dest,count(*) FROM queue WHERE lease_until>$1 GROUP BY dest", 1 },
	/* rows another gateway is claiming are skipped, not waited for */
	[P_DUE] = { "SELECT " ITEM_COLS " FROM queue WHERE next_ms<=$1 AND lease_until<=$1 ORDER BY next_ms,id LIMIT $2 "
	            "FOR UPDATE SKIP LOCKED", 2 },
	/* a leased item is not due before its lease ends: it moves out of the way of the due scan */
	[P_LEASE] = { "UPDATE queue SET lease_until=$1,next_ms=$1,owner=$2,held=NULL WHERE id=ANY($3::int8[])", 3 },
	/* the else of a failed item becomes new items (before the item itself goes) */
	[P_ELSE_TAKE] = { "INSERT INTO queue(msg_id,data,media_type,dest,origin,created_ms,next_ms,expires_ms) "
	                  "SELECT q.msg_id,COALESCE(f.data,q.data),q.media_type,f.dest,'else of #'||q.id,$2,$2+f.hold_ms,"
	                  "f.expires_ms FROM fallback f JOIN queue q ON q.id=f.primary_id WHERE f.primary_id=$1 "
	                  "ORDER BY f.id", 2 },
	[P_ELSE_DROP] = { "DELETE FROM fallback WHERE primary_id=$1", 1 },
	/* the row moves to the dead letters in one statement (what opts.dead_fn is told comes back) */
	[P_TODEAD] = { "WITH d AS (DELETE FROM queue WHERE id=$1 RETURNING *) "
	               "INSERT INTO dead(id,msg_id,data,media_type,dest,origin,sender,created_ms,died_ms,attempts,reason) "
	               "SELECT id,msg_id,data,media_type,dest,origin,sender,created_ms,$2,attempts+$4,$3 FROM d "
	               "RETURNING msg_id,dest,reason", 4 },
	/* delivered: the item and its else go */
	[P_ACK] = { "WITH f AS (DELETE FROM fallback WHERE primary_id=$1) DELETE FROM queue WHERE id=$1", 1 },
	[P_ACK_MANY] = { "WITH f AS (DELETE FROM fallback WHERE primary_id=ANY($1::int8[])) "
	                 "DELETE FROM queue WHERE id=ANY($1::int8[])", 1 },
	[P_GET_FOR_RETRY] = { "SELECT attempts,created_ms,expires_ms FROM queue WHERE id=$1 FOR UPDATE", 1 },
	[P_RETRY] = { "UPDATE queue SET attempts=attempts+1,next_ms=$1,lease_until=0,owner=NULL,last_error=$2 WHERE id=$3",
	              3 },
	/* held for presence: out of the due scan until released, or until $5 (now + HOLD_RECHECK_MS):
	 * then any gateway claims it and its adapter looks at the presence afresh (the gateway that
	 * held it, and would have released it, may be gone); or when it expires or gets too old
	 * ($3: max age), when a claim sends it to the dead letters; no attempt counted. The owner
	 * stays: this instance's next start releases its holds */
	[P_HOLD] = { "UPDATE queue SET held=$2,lease_until=0,owner=$4,next_ms=LEAST(CASE expires_ms WHEN 0 THEN "
	             "9000000000000000000 ELSE expires_ms END,created_ms+$3+1,$5) WHERE id=$1", 5 },
	[P_RELEASE] = { "UPDATE queue SET held=NULL,owner=NULL,next_ms=$2 WHERE held=$1", 2 },
	/* one pass over the queue (and a count of the dead letters): every figure at once */
	[P_STATS] = { "SELECT count(*),count(*) FILTER (WHERE lease_until>$1),(SELECT count(*) FROM dead),"
	              "count(*) FILTER (WHERE held IS NOT NULL),COALESCE(sum(octet_length(data)),0)::int8,"
	              "COALESCE(min(created_ms),0)::int8,"
	              "count(*) FILTER (WHERE next_ms<=$1 AND lease_until<=$1 AND held IS NULL),"
	              "COALESCE(min(next_ms) FILTER (WHERE next_ms<=$1 AND lease_until<=$1 AND held IS NULL),0)::int8,"
	              "count(*) FILTER (WHERE mailbox IS NOT NULL AND lease_until<=$1) FROM queue", 1 },
	[P_LISTQ] = { "SELECT id,msg_id,NULL::bytea,media_type,dest,origin,created_ms,next_ms,expires_ms,attempts,"
	              "last_error,held FROM queue WHERE id>$1 ORDER BY id LIMIT $2", 2 },
	[P_LISTD] = { "SELECT id,msg_id,NULL::bytea,media_type,dest,origin,created_ms,died_ms,0::int8,attempts,reason,"
	              "NULL::text FROM dead WHERE id>$1 ORDER BY id LIMIT $2", 2 },
	[P_GETQ] = { "SELECT " ITEM_COLS ",held,facts FROM queue WHERE id=$1", 1 },
	[P_GETD] = { "SELECT id,msg_id,data,media_type,dest,origin,created_ms,died_ms,0::int8,attempts,reason,NULL::text "
	             "FROM dead WHERE id=$1", 1 },
	[P_REQ_Q] = { "UPDATE queue SET next_ms=$2,lease_until=0,owner=NULL,held=NULL WHERE id=$1", 2 },
	[P_REQ_D] = { "WITH d AS (DELETE FROM dead WHERE id=$1 RETURNING *) INSERT INTO queue(id,msg_id,data,media_type,"
	              "dest,origin,sender,created_ms,next_ms,expires_ms) SELECT id,msg_id,data,media_type,dest,origin,"
	              "sender,$2,$2,0 FROM d", 2 },
	[P_PURGE_DEAD] = { "DELETE FROM dead", 0 },
	/* $1: a POSIX regular expression made from the operator's glob (glob_regex) */
	[P_RM_DEAD_GLOB] = { "DELETE FROM dead WHERE dest ~ $1", 1 },
	[P_RM_GLOB] = { "WITH f AS (DELETE FROM fallback WHERE primary_id IN (SELECT id FROM queue WHERE dest ~ $1)) "
	                "DELETE FROM queue WHERE dest ~ $1", 1 },
	[P_RM_ID] = { "WITH f AS (DELETE FROM fallback WHERE primary_id=$1), q AS (DELETE FROM queue WHERE id=$1 RETURNING 1),"
	              " d AS (DELETE FROM dead WHERE id=$1 RETURNING 1) "
	              "SELECT (SELECT count(*) FROM q)+(SELECT count(*) FROM d)", 1 },
	/* start-up: this instance's leases (its last run died with them in flight) */
	[P_RELEASE_OWN] = { "UPDATE queue SET lease_until=0,owner=NULL,next_ms=LEAST(next_ms,$2) "
	                    "WHERE owner=$1 AND lease_until>0", 2 },
	[P_RELEASE_HELD_OWN] = { "UPDATE queue SET held=NULL,owner=NULL,next_ms=$2 WHERE owner=$1 AND held IS NOT NULL", 2 },
	/* live items of one origin or sender (else items are the gateway's own: origin "else of #N") */
	[P_SHARE] = { "SELECT (SELECT count(*) FROM queue WHERE origin=$1)+(SELECT count(*) FROM queue WHERE sender=$1)", 1 },
	/* queue reroute: the row locked (a claim under way elsewhere is waited for, and then its
	 * lease is seen; a claim after this one skips the row until the commit) */
	[P_REDEST_GET] = { "SELECT dest,lease_until FROM queue WHERE id=$1 FOR UPDATE", 1 },
	/* $5: a new envelope, or NULL (its own stays) */
	[P_REDEST] = { "UPDATE queue SET dest=$2,next_ms=$3,attempts=0,last_error=$4,held=NULL,lease_until=0,owner=NULL,"
	               "data=COALESCE($5::bytea,data) WHERE id=$1", 5 },
	[P_ELSE_PUT] = { "INSERT INTO fallback(primary_id,dest,data,hold_ms,expires_ms) "
	                 "VALUES($1::int8,$2,$3::bytea,$4::int8,$5::int8)", 5 },
};

struct pg {
	PGconn *c;              /* NULL: not connected (reconnected by the next operation after backoff) */
	char *url, *instance;
	char *password;         /* from password_file (sodium_malloc'd, zeroed), or NULL: libpq's own ways */
	int64_t retry_at_ms;    /* monotonic: no reconnect before this */
	int64_t backoff_ms;
	unsigned keyed_puts;
	/* dead letters made by the transaction in progress, for opts.dead_fn once it commits */
	struct dc__dead_notes notes;
	/* the listener (dc_queue_watch) */
	pthread_t th;
	bool watching;
	int stop_fd[2];
	void (*due_fn)(void *);
	void *due_arg;
	/* dc_queue_exclusive: a session of its own holds the advisory locks */
	pthread_mutex_t lk_mu;
	PGconn *lk;
	int64_t lk_retry_ms;
	struct held_lock {
		char *name;
		bool mine;
		int64_t checked_ms; /* monotonic: the answer stands for LOCK_CACHE_MS */
	} locks[MAX_LOCKS];
	size_t n_locks;
};
#define PG(q) ((struct pg *)(q)->impl)

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* one line of libpq's message (it ends in a newline and may hold several) */
static void one_line(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src && src[0] ? src : "unknown error");
	for (char *c = dst; *c; c++)
		if (*c == '\n' || *c == '\r' || *c == '\t')
			*c = ' ';
	size_t l = strlen(dst);
	while (l && dst[l - 1] == ' ')
		dst[--l] = 0;
}

static void no_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static PGconn *connect_db(const struct pg *p, char *err, size_t errn)
{
	const char *keys[6], *vals[6];
	int k = 0;
	keys[k] = "dbname"; /* the URL, expanded */
	vals[k++] = p->url;
	keys[k] = "application_name";
	vals[k++] = "didcomm-gateway";
	keys[k] = "connect_timeout";
	vals[k++] = "5";
	if (p->password) {
		keys[k] = "password";
		vals[k++] = p->password;
	}
	keys[k] = NULL;
	vals[k] = NULL;
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	if (!c) {
		snprintf(err, errn, "out of memory");
		return NULL;
	}
	if (PQstatus(c) != CONNECTION_OK) {
		one_line(err, errn, PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	PQsetNoticeProcessor(c, no_notice, NULL); /* libpq would print the server's notices on stderr */
	return c;
}

static void drop_conn(struct pg *p)
{
	if (p->c)
		PQfinish(p->c);
	p->c = NULL;
	p->retry_at_ms = mono_ms() + p->backoff_ms;
	p->backoff_ms = p->backoff_ms ? (p->backoff_ms * 2 > 5000 ? 5000 : p->backoff_ms * 2) : 200;
}

static dc_err prepare_all(struct pg *p, char *err, size_t errn)
{
	for (int i = 0; i < P_N; i++) {
		char name[16];
		snprintf(name, sizeof name, "q%d", i);
		PGresult *r = PQprepare(p->c, name, stmts[i].sql, stmts[i].nparams, NULL);
		bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!ok)
			one_line(err, errn, r ? PQresultErrorMessage(r) : PQerrorMessage(p->c));
		PQclear(r);
		if (!ok)
			return DC_ERR_IO;
	}
	return DC_OK;
}

/* a connection with the statements prepared, or DC_ERR_IO saying why not */
static dc_err ensure(struct dc_queue *q, struct dc_errinfo *ei)
{
	struct pg *p = PG(q);
	if (p->c && PQstatus(p->c) == CONNECTION_OK)
		return DC_OK;
	if (p->c)
		drop_conn(p);
	if (mono_ms() < p->retry_at_ms)
		return dc__fail(ei, DC_ERR_IO, "queue: PostgreSQL unreachable (reconnecting)");
	char err[300];
	if (!(p->c = connect_db(p, err, sizeof err))) {
		drop_conn(p);
		return dc__fail(ei, DC_ERR_IO, "queue: PostgreSQL: %s", err);
	}
	if (prepare_all(p, err, sizeof err)) {
		drop_conn(p);
		return dc__fail(ei, DC_ERR_IO, "queue: PostgreSQL: preparing: %s", err);
	}
	p->backoff_ms = 0;
	return DC_OK;
}

/* an error's code: the connection gone or the server going away is IO (try later, and
 * reconnect); a serialization failure or deadlock is AGAIN; the rest IO */
static dc_err res_fail(struct dc_queue *q, PGresult *r, struct dc_errinfo *ei, const char *what)
{
	struct pg *p = PG(q);
	char msg[300];
	one_line(msg, sizeof msg, r ? PQresultErrorMessage(r) : PQerrorMessage(p->c));
	const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	dc_err rc = DC_ERR_IO;
	if (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 || strcmp(state, "55P03") == 0))
		rc = DC_ERR_AGAIN;
	if (state && strncmp(state, "53", 2) == 0 && strcmp(state, "53100") != 0)
		rc = DC_ERR_AGAIN; /* out of connections or memory; 53100 is a full disk: IO */
	dc__fail(ei, rc, "queue: %s: %s", what, msg);
	if (PQstatus(p->c) != CONNECTION_OK || (state && strncmp(state, "57P", 3) == 0) ||
	    (state && strncmp(state, "08", 2) == 0))
		drop_conn(p);
	return rc;
}

/* a prepared statement; params in text except those in bin (bytea, with lens) */
static PGresult *xp(struct dc_queue *q, int st, const char *const *vals, const int *lens, const int *fmts)
{
	char name[16];
	snprintf(name, sizeof name, "q%d", st);
	return PQexecPrepared(PG(q)->c, name, stmts[st].nparams, vals, lens, fmts, 1);
}

/* run st expecting commands or rows: *out the result (PQclear it), or an error */
static dc_err run(struct dc_queue *q, int st, const char *const *vals, const int *lens, const int *fmts, PGresult **out,
                  struct dc_errinfo *ei, const char *what)
{
	PGresult *r = xp(q, st, vals, lens, fmts);
	ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		dc_err rc = res_fail(q, r, ei, what);
		PQclear(r);
		if (out)
			*out = NULL;
		return rc;
	}
	if (out)
		*out = r;
	else
		PQclear(r);
	return DC_OK;
}

static dc_err simple(struct dc_queue *q, const char *sql, struct dc_errinfo *ei)
{
	PGresult *r = PQexec(PG(q)->c, sql);
	ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	dc_err rc = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK ? DC_OK : res_fail(q, r, ei, sql);
	PQclear(r);
	return rc;
}

static dc_err begin(struct dc_queue *q, struct dc_errinfo *ei)
{
	dc_err rc = ensure(q, ei);
	return rc ? rc : simple(q, "BEGIN", ei);
}

static void rollback(struct dc_queue *q)
{
	if (PG(q)->c && PQstatus(PG(q)->c) == CONNECTION_OK)
		PQclear(PQexec(PG(q)->c, "ROLLBACK"));
}

static dc_err commit(struct dc_queue *q, struct dc_errinfo *ei)
{
	dc_err rc = simple(q, "COMMIT", ei);
	if (rc)
		rollback(q);
	return rc;
}

static int64_t get_i64(const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return 0;
	const unsigned char *v = (const unsigned char *)PQgetvalue(r, row, col);
	int n = PQgetlength(r, row, col);
	if (n == 8) {
		uint64_t x;
		memcpy(&x, v, 8);
		return (int64_t)be64toh(x);
	}
	if (n == 4) {
		uint32_t x;
		memcpy(&x, v, 4);
		return (int32_t)be32toh(x);
	}
	if (n == 2) {
		uint16_t x;
		memcpy(&x, v, 2);
		return (int16_t)be16toh(x);
	}
	return 0;
}

static char *get_str(const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return NULL;
	return strndup(PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col));
}

static uint64_t cmd_count(const PGresult *r)
{
	const char *t = PQcmdTuples((PGresult *)r);
	return t && t[0] ? strtoull(t, NULL, 10) : 0;
}

/* one row of P_DUE / P_GETQ / P_GETD / a list: the columns of ITEM_COLS */
static dc_err row_item(const PGresult *r, int row, struct dc_queue_item *it, bool with_data, bool dead)
{
	memset(it, 0, sizeof *it);
	it->id = get_i64(r, row, 0);
	it->msg_id = get_str(r, row, 1);
	if (with_data && !PQgetisnull(r, row, 2)) {
		int n = PQgetlength(r, row, 2);
		if (!(it->data = malloc(n > 0 ? (size_t)n : 1)))
			return DC_ERR_NOMEM;
		memcpy(it->data, PQgetvalue(r, row, 2), (size_t)n);
		it->len = (size_t)n;
	}
	it->media_type = get_str(r, row, 3);
	it->dest = get_str(r, row, 4);
	it->origin = get_str(r, row, 5);
	it->created_ms = get_i64(r, row, 6);
	it->next_ms = get_i64(r, row, 7);
	it->expires_ms = get_i64(r, row, 8);
	it->attempts = (unsigned)get_i64(r, row, 9);
	it->last_error = get_str(r, row, 10);
	it->dead = dead;
	if (PQnfields(r) > 11)
		it->held = get_str(r, row, 11);
	if (PQnfields(r) > 12)
		it->facts = get_str(r, row, 12);
	return DC_OK;
}

#define I64(buf, v) (snprintf((buf), sizeof(buf), "%" PRId64, (int64_t)(v)), (const char *)(buf))

/* "{1,2,3}" for =ANY($n::int8[]) (malloc'd) */
static char *id_array(const int64_t *ids, size_t n)
{
	size_t cap = 2 + n * 21 + 1;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	size_t o = 0;
	s[o++] = '{';
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(s + o, cap - o, "%s%" PRId64, i ? "," : "", ids[i]);
	s[o++] = '}';
	s[o] = 0;
	return s;
}

static dc_err notify(struct dc_queue *q, struct dc_errinfo *ei)
{
	const char *v[1] = { PG(q)->instance };
	return run(q, P_NOTIFY, v, NULL, NULL, NULL, ei, "notify");
}

/* ---- put ---------------------------------------------------------------------------------- */
/* One round trip for the batch (libpq's pipeline mode): BEGIN, the count, each item with its
 * key (P_PUT_ITEM) and its else items (P_ELSE_AFTER), the keys' pruning, the notification;
 * then, the results read, COMMIT (or ROLLBACK: an error, or the queue full). */
enum put_kind { K_BEGIN, K_COUNT, K_ITEM, K_ELSE, K_OTHER };

static bool send_p(struct dc_queue *q, int st, const char *const *v, const int *lens, const int *fmts)
{
	char name[16];
	snprintf(name, sizeof name, "q%d", st);
	return PQsendQueryPrepared(PG(q)->c, name, stmts[st].nparams, v, lens, fmts, 1) == 1;
}

static dc_err pg_put(struct dc_queue *q, const struct dc_queue_new_item *items, size_t n, int64_t *ids,
                     struct dc_errinfo *ei)
{
	dc_err rc = ensure(q, ei);
	if (rc)
		return rc;
	struct pg *p = PG(q);
	PGconn *c = p->c;
	int64_t now = wall_ms();
	size_t nq = 6;
	bool any = false, keyed = false;
	for (size_t i = 0; i < n; i++) {
		nq += 1 + items[i].n_els;
		any |= items[i].leased_until_ms <= 0;
		keyed |= items[i].key != NULL;
	}
	bool prune = keyed && ++p->keyed_puts >= KEY_PRUNE_EVERY;
	if (prune)
		p->keyed_puts = 0;
	unsigned char *kind = malloc(nq);
	size_t *which = malloc(nq * sizeof *which);
	if (!kind || !which) {
		free(kind);
		free(which);
		return DC_ERR_NOMEM;
	}
	size_t sent = 0;
	bool ok = PQenterPipelineMode(c) == 1;
	char b1[24], b2[24], b3[24], b4[24];
	if (ok && (ok = PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 1) == 1))
		kind[sent++] = K_BEGIN;
	if (ok && (ok = send_p(q, P_COUNT, NULL, NULL, NULL)))
		kind[sent++] = K_COUNT;
	for (size_t i = 0; ok && i < n; i++) {
		const struct dc_queue_new_item *it = &items[i];
		int64_t next = it->not_before_ms > now ? it->not_before_ms : now;
		if (it->leased_until_ms > next)
			next = it->leased_until_ms;
		const char *v[13] = { it->msg_id, (const char *)it->data, it->media_type, it->dest, it->origin, I64(b1, now),
			              I64(b2, next), I64(b3, it->expires_ms),
			              I64(b4, it->leased_until_ms > 0 ? it->leased_until_ms : 0),
			              it->leased_until_ms > 0 ? p->instance : NULL, it->sender, it->key, it->facts };
		int lens[13] = { 0, (int)it->len };
		int fmts[13] = { 0, 1 };
		if (!(ok = send_p(q, P_PUT_ITEM, v, lens, fmts)))
			break;
		which[sent] = i;
		kind[sent++] = K_ITEM;
		for (size_t k = 0; ok && k < it->n_els; k++) {
			const struct dc_queue_else *e = &it->els[k];
			const char *ev[5] = { e->dest, e->data ? (const char *)e->data : NULL,
				              I64(b1, e->hold_ms > 0 ? e->hold_ms : 0), I64(b2, e->expires_ms), it->key };
			int el[5] = { 0, (int)e->len };
			int ef[5] = { 0, 1 };
			if ((ok = send_p(q, P_ELSE_AFTER, ev, el, ef)))
				kind[sent++] = K_ELSE;
		}
	}
	if (ok && prune) {
		const char *v1[1] = { I64(b1, q->o.keys_max) };
		const char *v2[2] = { I64(b2, now - q->o.keys_keep_ms), I64(b3, DC_QUEUE_KEYS_KEPT) };
		if ((ok = send_p(q, P_KEY_PRUNE_N, v1, NULL, NULL)))
			kind[sent++] = K_OTHER;
		if (ok && (ok = send_p(q, P_KEY_PRUNE_AGE, v2, NULL, NULL)))
			kind[sent++] = K_OTHER;
	}
	if (ok && any) { /* delivered to the listeners at the commit */
		const char *v[1] = { p->instance };
		if ((ok = send_p(q, P_NOTIFY, v, NULL, NULL)))
			kind[sent++] = K_OTHER;
	}
	if (ok)
		ok = PQpipelineSync(c) == 1;
	if (!ok) { /* the connection is broken: the server drops the transaction with it */
		rc = res_fail(q, NULL, ei, "put");
		if (p->c) {
			drop_conn(p);
			if (rc != DC_ERR_IO)
				rc = dc__fail(ei, DC_ERR_IO, "queue: put: %s", "the connection failed");
		}
		free(kind);
		free(which);
		return rc;
	}
	int64_t count = 0, inserted = 0;
	for (size_t k = 0; k < sent && p->c; k++) {
		PGresult *r = PQgetResult(c);
		if (!r) {
			if (!rc)
				rc = res_fail(q, NULL, ei, "put");
			break;
		}
		ExecStatusType st = PQresultStatus(r);
		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
			if (!rc && st != PGRES_PIPELINE_ABORTED)
				rc = res_fail(q, r, ei, kind[k] == K_ITEM ? "insert" : kind[k] == K_ELSE ? "insert else" : "put");
		} else if (kind[k] == K_COUNT) {
			count = PQntuples(r) ? get_i64(r, 0, 0) : 0;
		} else if (kind[k] == K_ITEM) {
			inserted += PQntuples(r) > 0;
			if (ids)
				ids[which[k]] = PQntuples(r) ? get_i64(r, 0, 0) : 0; /* no row: its key was put before */
		}
		PQclear(r);
		if (p->c)
			PQclear(PQgetResult(p->c)); /* the NULL that ends each query's results */
	}
	if (p->c) {
		PGresult *r = PQgetResult(p->c); /* the sync */
		if (!r || PQresultStatus(r) != PGRES_PIPELINE_SYNC) {
			if (!rc)
				rc = res_fail(q, r, ei, "put");
		}
		PQclear(r);
	}
	free(kind);
	free(which);
	if (!p->c || PQexitPipelineMode(p->c) != 1) {
		if (p->c)
			drop_conn(p);
		return rc ? rc : dc__fail(ei, DC_ERR_IO, "queue: put: the connection failed");
	}
	if (!rc && (uint64_t)count + n > q->o.max_items) {
		PGresult *r = NULL;
		if (!(rc = run(q, P_COUNT_EXACT, NULL, NULL, NULL, &r, ei, "count"))) {
			count = (PQntuples(r) ? get_i64(r, 0, 0) : 0) - inserted; /* as it was before the batch */
			PQclear(r);
			if ((uint64_t)count + n > q->o.max_items)
				rc = dc__fail(ei, DC_ERR_AGAIN, "queue: full (%lld items)", (long long)count);
		}
	}
	if (rc) {
		rollback(q);
		return rc;
	}
	return commit(q, ei); /* durable when this returns: the caller may acknowledge */
}

/* ---- claim, dead letters ------------------------------------------------------------------ */
/* a dead letter made by the transaction in progress: row 0 of P_TODEAD's result (out of
 * memory: not told) */
static void note_dead(struct dc_queue *q, int64_t id, const PGresult *r)
{
	if (q->o.dead_fn && PQntuples(r) >= 1)
		dc__dead_note_add(&PG(q)->notes, id, get_str(r, 0, 0), get_str(r, 0, 1), get_str(r, 0, 2));
}

/* after the commit (tell: the dead letters are real) or a rollback, or for dc_queue_fail (not:
 * its caller knows) */
static void end_notes(struct dc_queue *q, bool tell) { dc__dead_notes_end(q, &PG(q)->notes, tell); }

/* take_else: the item failed for good (its else runs); false: it expired (nothing runs).
 * *gone: whether the item was there. In the caller's transaction. */
static dc_err to_dead(struct dc_queue *q, int64_t id, int64_t now, const char *reason, int extra_attempt,
                      bool take_else, bool *gone, struct dc_errinfo *ei)
{
	char why[600], b1[24], b2[24], b3[24];
	dc_err rc;
	PGresult *r = NULL;
	if (take_else) {
		const char *v[2] = { I64(b1, id), I64(b2, now) };
		if ((rc = run(q, P_ELSE_TAKE, v, NULL, NULL, &r, ei, "else")))
			return rc;
		uint64_t n = cmd_count(r);
		PQclear(r);
		if (n > 0) {
			snprintf(why, sizeof why, "%.450s; handed to the rule's else (%llu item%s)", reason ? reason : "unknown",
			         (unsigned long long)n, n == 1 ? "" : "s");
			reason = why;
		}
	}
	const char *dv[1] = { I64(b1, id) };
	if ((rc = run(q, P_ELSE_DROP, dv, NULL, NULL, NULL, ei, "else delete")))
		return rc;
	const char *v[4] = { I64(b1, id), I64(b2, now), reason ? reason : "unknown", I64(b3, extra_attempt) };
	if ((rc = run(q, P_TODEAD, v, NULL, NULL, &r, ei, "dead-letter")))
		return rc;
	if (gone)
		*gone = cmd_count(r) > 0;
	note_dead(q, id, r);
	PQclear(r);
	return DC_OK;
}

struct inflight {
	char *dest;
	unsigned n;
};

static struct inflight *inflight_of(struct inflight *fl, size_t nfl, const char *dest)
{
	for (size_t i = 0; i < nfl; i++)
		if (fl[i].dest && dest && strcmp(fl[i].dest, dest) == 0)
			return &fl[i];
	return NULL;
}

static dc_err pg_claim(struct dc_queue *q, int64_t now, size_t max, unsigned per_dest, int64_t lease,
                       struct dc_queue_item **items, size_t *n, struct dc_errinfo *ei)
{
	struct inflight *fl = NULL;
	size_t nfl = 0, got = 0;
	struct dc_queue_item *out = NULL;
	int64_t *leased = NULL;
	char *arr = NULL;
	PGresult *r = NULL, *due = NULL;
	char b1[24], b2[24];
	dc_err rc = begin(q, ei);
	if (rc)
		return rc;
	const char *v1[1] = { I64(b1, now) };
	if ((rc = run(q, P_INFLIGHT, v1, NULL, NULL, &r, ei, "claim")))
		goto out;
	int rows = PQntuples(r);
	size_t cap = (size_t)rows + max + 1;
	if (!(fl = calloc(cap, sizeof *fl)) || !(out = calloc(max, sizeof *out)) || !(leased = calloc(max, sizeof *leased))) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	for (int i = 0; i < rows; i++) {
		fl[nfl].dest = get_str(r, i, 0);
		fl[nfl++].n = (unsigned)get_i64(r, i, 1);
	}
	PQclear(r);
	r = NULL;
	/* look further than max: some due items may be held back by their destination's limit
	 * (the rows looked at stay locked until the commit, the others' claims skip them) */
	const char *v2[2] = { I64(b1, now), I64(b2, max * 4 + 16) };
	if ((rc = run(q, P_DUE, v2, NULL, NULL, &due, ei, "claim")))
		goto out;
	int64_t dead_ids[64];
	const char *dead_why[64];
	bool dead_else[64];
	size_t ndead = 0;
	rows = PQntuples(due);
	for (int i = 0; i < rows && got < max; i++) {
		int64_t id = get_i64(due, i, 0), created = get_i64(due, i, 6), expires = get_i64(due, i, 8);
		if ((expires && expires <= now) || now - created > q->o.max_age_ms) {
			if (ndead < 64) {
				dead_else[ndead] = !(expires && expires <= now); /* too old: its else runs; expired: nothing */
				dead_why[ndead] = dead_else[ndead] ? "too old (max_age)" : "expired (expires_time passed)";
				dead_ids[ndead++] = id;
			}
			continue;
		}
		const char *dest = PQgetisnull(due, i, 4) ? NULL : PQgetvalue(due, i, 4);
		struct inflight *f = inflight_of(fl, nfl, dest);
		if (f && f->n >= per_dest)
			continue;
		if ((rc = row_item(due, i, &out[got], true, false))) {
			dc_queue_item_clear(&out[got]);
			goto out;
		}
		leased[got++] = id;
		if (f) {
			f->n++;
		} else if (nfl < cap) {
			fl[nfl].dest = dest ? strdup(dest) : NULL;
			fl[nfl++].n = 1;
		}
	}
	for (size_t i = 0; i < ndead; i++)
		if ((rc = to_dead(q, dead_ids[i], now, dead_why[i], 0, dead_else[i], NULL, ei)))
			goto out;
	if (got) {
		if (!(arr = id_array(leased, got))) {
			rc = DC_ERR_NOMEM;
			goto out;
		}
		const char *v3[3] = { I64(b1, now + lease), PG(q)->instance, arr };
		if ((rc = run(q, P_LEASE, v3, NULL, NULL, NULL, ei, "lease")))
			goto out;
	}
	rc = commit(q, ei);
out:
	PQclear(r);
	PQclear(due);
	if (rc) {
		rollback(q);
		dc_queue_items_free(out, got);
	} else {
		*items = out;
		*n = got;
	}
	end_notes(q, rc == DC_OK);
	for (size_t i = 0; i < nfl; i++)
		free(fl[i].dest);
	free(fl);
	free(leased);
	free(arr);
	return rc;
}

static dc_err pg_ack(struct dc_queue *q, int64_t id, struct dc_errinfo *ei)
{
	dc_err rc = ensure(q, ei);
	if (rc)
		return rc;
	char b1[24];
	const char *v[1] = { I64(b1, id) };
	PGresult *r = NULL;
	if ((rc = run(q, P_ACK, v, NULL, NULL, &r, ei, "ack")))
		return rc;
	bool gone = cmd_count(r) > 0;
	PQclear(r);
	return gone ? DC_OK : dc__fail(ei, DC_ERR_NOT_FOUND, "queue: no item %lld", (long long)id);
}

static dc_err pg_ack_many(struct dc_queue *q, const int64_t *ids, size_t n, size_t *gone, struct dc_errinfo *ei)
{
	dc_err rc = ensure(q, ei);
	if (rc)
		return rc;
	char *arr = id_array(ids, n);
	if (!arr)
		return DC_ERR_NOMEM;
	const char *v[1] = { arr };
	PGresult *r = NULL;
	rc = run(q, P_ACK_MANY, v, NULL, NULL, &r, ei, "ack");
	free(arr);
	if (rc)
		return rc;
	if (gone)
		*gone = (size_t)cmd_count(r);
	PQclear(r);
	return DC_OK;
}

static dc_err pg_retry(struct dc_queue *q, int64_t id, int64_t now, const char *error, struct dc_errinfo *ei)
{
	dc_err rc = begin(q, ei);
	if (rc)
		return rc;
	char b1[24], b2[24];
	const char *v[1] = { I64(b1, id) };
	PGresult *r = NULL;
	if ((rc = run(q, P_GET_FOR_RETRY, v, NULL, NULL, &r, ei, "retry")))
		goto rollback;
	if (!PQntuples(r)) {
		PQclear(r);
		rc = dc__fail(ei, DC_ERR_NOT_FOUND, "queue: no item %lld", (long long)id);
		goto rollback;
	}
	unsigned attempts = (unsigned)get_i64(r, 0, 0);
	int64_t created = get_i64(r, 0, 1), expires = get_i64(r, 0, 2);
	PQclear(r);
	int64_t next = now + dc_queue_backoff_ms(&q->o, attempts + 1);
	bool expired = expires && expires <= next;
	bool old = next - created > q->o.max_age_ms;
	if (expired || old) {
		char why[512];
		snprintf(why, sizeof why, "%s; last error: %.400s", expired ? "expired before the next attempt" :
		         "gave up after max_age", error ? error : "none");
		rc = to_dead(q, id, now, why, 1, !expired, NULL, ei);
	} else {
		const char *rv[3] = { I64(b1, next), error, I64(b2, id) };
		rc = run(q, P_RETRY, rv, NULL, NULL, NULL, ei, "retry");
	}
	if (rc)
		goto rollback;
	rc = commit(q, ei);
	end_notes(q, rc == DC_OK);
	return rc;
rollback:
	rollback(q);
	end_notes(q, false);
	return rc;
}

static dc_err pg_fail(struct dc_queue *q, int64_t id, int64_t now, const char *reason, struct dc_errinfo *ei)
{
	dc_err rc = begin(q, ei);
	if (rc)
		return rc;
	bool gone = false;
	rc = to_dead(q, id, now, reason, 1, true, &gone, ei);
	end_notes(q, false); /* the caller knows */
	if (rc) {
		rollback(q);
		return rc;
	}
	if (!gone) { /* nothing done: the else insert found no row either */
		rollback(q);
		return dc__fail(ei, DC_ERR_NOT_FOUND, "queue: no item %lld", (long long)id);
	}
	return commit(q, ei);
}

static dc_err pg_hold(struct dc_queue *q, int64_t id, const char *key, struct dc_errinfo *ei)
{
	dc_err rc = ensure(q, ei);
	if (rc)
		return rc;
	char b1[24], b2[24], b3[24];
	const char *v[5] = { I64(b1, id), key, I64(b2, q->o.max_age_ms), PG(q)->instance, I64(b3, wall_ms() + HOLD_RECHECK_MS) };
	PGresult *r = NULL;
	if ((rc = run(q, P_HOLD, v, NULL, NULL, &r, ei, "hold")))
		return rc;
	bool found = cmd_count(r) > 0;
	PQclear(r);
	return found ? DC_OK : dc__fail(ei, DC_ERR_NOT_FOUND, "queue: no item %lld", (long long)id);
}

static dc_err pg_release_held(struct dc_queue *q, const char *key, int64_t now, uint64_t *released,
                              struct dc_errinfo *ei)
{
	dc_err rc = ensure(q, ei);
	if (rc)
		return rc;
	char b1[24];
	const char *v[2] = { key, I64(b1, now) };
	PGresult *r = NULL;
	if ((rc = run(q, P_RELEASE, v, NULL, NULL, &r, ei, "release")))
		return rc;
	uint64_t k = cmd_count(r);
	PQclear(r);
	if (released)
		*released = k;
	if (k)
		(void)notify(q, NULL); /* the others claim them too; at worst they look within a poll */
	return DC_OK;
}

static dc_err pg_stats(struct dc_queue *q, int64_t now, struct dc_queue_stats *st, struct dc_errinfo *ei)
{
	memset(st, 0, sizeof *st);
	dc_err rc = ensure(q, ei);
	if (rc)
		return rc;
	char b1[24];
	const char *v[1] = { I64(b1, now) };
	PGresult *r = NULL;
	if ((rc = run(q, P_STATS, v, NULL, NULL, &r, ei, "stats")))
		return rc;
	if (PQntuples(r) == 1) {
		st->queued = (uint64_t)get_i64(r, 0, 0);
		st->leased = (uint64_t)get_i64(r, 0, 1);
		st->dead = (uint64_t)get_i64(r, 0, 2);
		st->presence = (uint64_t)get_i64(r, 0, 3);
		st->bytes = (uint64_t)get_i64(r, 0, 4);
		st->oldest_created_ms = get_i64(r, 0, 5);
		st->due = (uint64_t)get_i64(r, 0, 6);
		st->oldest_due_ms = get_i64(r, 0, 7);
		st->pickup = (uint64_t)get_i64(r, 0, 8);
	}
	PQclear(r);
	return DC_OK;
}

static dc_err pg_list(struct dc_queue *q, bool dead, int64_t after, size_t max, struct dc_queue_item **items,
                      size_t *n, struct dc_errinfo *ei)
{
	dc_err rc = ensure(q, ei);
	if (rc)
		return rc;
	char b1[24], b2[24];
	const char *v[2] = { I64(b1, after), I64(b2, max) };
	PGresult *r = NULL;
	if ((rc = run(q, dead ? P_LISTD : P_LISTQ, v, NULL, NULL, &r, ei, "list")))
		return rc;
	int rows = PQntuples(r);
	struct dc_queue_item *out = calloc(rows ? (size_t)rows : 1, sizeof *out);
	size_t got = 0;
	rc = out ? DC_OK : DC_ERR_NOMEM;
	for (int i = 0; !rc && i < rows && got < max; i++)
		if ((rc = row_item(r, i, &out[got], false, dead)) == DC_OK)
			got++;
		else
			dc_queue_item_clear(&out[got]);
	PQclear(r);
	if (rc) {
		dc_queue_items_free(out, got);
		return rc;
	}
	*items = out;
	*n = got;
	return DC_OK;
}

static dc_err pg_get(struct dc_queue *q, int64_t id, struct dc_queue_item *item, struct dc_errinfo *ei)
{
	dc_err rc = ensure(q, ei);
	if (rc)
		return rc;
	char b1[24];
	const char *v[1] = { I64(b1, id) };
	for (int which = P_GETQ; which <= P_GETD; which++) {
		PGresult *r = NULL;
		if ((rc = run(q, which, v, NULL, NULL, &r, ei, "get")))
			return rc;
		if (PQntuples(r) == 1) {
			rc = row_item(r, 0, item, true, which == P_GETD);
			if (rc)
				dc_queue_item_clear(item);
			PQclear(r);
			return rc;
		}
		PQclear(r);
	}
	return dc__fail(ei, DC_ERR_NOT_FOUND, "queue: no item %lld", (long long)id);
}

static dc_err pg_requeue(struct dc_queue *q, int64_t id, int64_t now, struct dc_errinfo *ei)
{
	dc_err rc = begin(q, ei);
	if (rc)
		return rc;
	char b1[24], b2[24];
	const char *v[2] = { I64(b1, id), I64(b2, now) };
	PGresult *r = NULL;
	if ((rc = run(q, P_REQ_Q, v, NULL, NULL, &r, ei, "requeue")))
		goto rollback;
	bool found = cmd_count(r) > 0;
	PQclear(r);
	if (!found) {
		if ((rc = run(q, P_REQ_D, v, NULL, NULL, &r, ei, "requeue")))
			goto rollback;
		found = cmd_count(r) > 0;
		PQclear(r);
	}
	if (!found) {
		rc = dc__fail(ei, DC_ERR_NOT_FOUND, "queue: no item %lld", (long long)id);
		goto rollback;
	}
	if ((rc = notify(q, ei)))
		goto rollback;
	return commit(q, ei);
rollback:
	rollback(q);
	return rc;
}

/* queue reroute: one transaction with the row locked. Then every gateway is told (a
 * notification none of them takes for its own: the command has the instance name of the
 * gateway of its state_dir), and the one whose claim comes first takes the item. */
static dc_err pg_redest(struct dc_queue *q, int64_t id, const struct dc_queue_redest *r, struct dc_errinfo *ei)
{
	dc_err rc = begin(q, ei);
	if (rc)
		return rc;
	char b1[24], b2[24], b3[24], b4[24];
	const char *gv[1] = { I64(b1, id) };
	PGresult *res = NULL;
	if ((rc = run(q, P_REDEST_GET, gv, NULL, NULL, &res, ei, "redest")))
		goto rollback;
	if (PQntuples(res) != 1) {
		PQclear(res);
		rc = dc__fail(ei, DC_ERR_NOT_FOUND, "queue: no queued item %lld", (long long)id);
		goto rollback;
	}
	bool in_flight = get_i64(res, 0, 1) > r->now_ms;
	bool moved = PQgetisnull(res, 0, 0) || strcmp(PQgetvalue(res, 0, 0), r->from) != 0;
	PQclear(res);
	if (in_flight) {
		rc = dc__fail(ei, DC_ERR_AGAIN, "queue: item %lld is in flight", (long long)id);
		goto rollback;
	}
	if (moved) {
		rc = dc__fail(ei, DC_ERR_AGAIN, "queue: item %lld has another destination now", (long long)id);
		goto rollback;
	}
	const char *v[5] = { I64(b1, id), r->dest, I64(b2, r->next_ms), r->why,
		             r->data ? (r->len ? (const char *)r->data : "") : NULL };
	int lens[5] = { 0, 0, 0, 0, (int)r->len };
	int fmts[5] = { 0, 0, 0, 0, 1 };
	if ((rc = run(q, P_REDEST, v, lens, fmts, NULL, ei, "redest")))
		goto rollback;
	const char *dv[1] = { I64(b1, id) };
	if ((rc = run(q, P_ELSE_DROP, dv, NULL, NULL, NULL, ei, "else delete")))
		goto rollback;
	for (size_t k = 0; k < r->n_els; k++) {
		const struct dc_queue_else *e = &r->els[k];
		const char *ev[5] = { I64(b1, id), e->dest, e->data ? (e->len ? (const char *)e->data : "") : NULL,
			              I64(b3, e->hold_ms > 0 ? e->hold_ms : 0), I64(b4, e->expires_ms) };
		int el[5] = { 0, 0, (int)e->len };
		int ef[5] = { 0, 0, 1 };
		if ((rc = run(q, P_ELSE_PUT, ev, el, ef, NULL, ei, "insert else")))
			goto rollback;
	}
	const char *nv[1] = { "queue reroute" };
	if ((rc = run(q, P_NOTIFY, nv, NULL, NULL, NULL, ei, "notify")))
		goto rollback;
	return commit(q, ei);
rollback:
	rollback(q);
	return rc;
}

static dc_err pg_purge_dead(struct dc_queue *q, uint64_t *purged, struct dc_errinfo *ei)
{
	dc_err rc = ensure(q, ei);
	if (rc)
		return rc;
	PGresult *r = NULL;
	if ((rc = run(q, P_PURGE_DEAD, NULL, NULL, NULL, &r, ei, "purge")))
		return rc;
	if (purged)
		*purged = cmd_count(r);
	PQclear(r);
	return DC_OK;
}

/* SQLite's GLOB (* any run, ? one character, [...] a set, [^...] not in it) as an anchored
 * POSIX regular expression; every other character stands for itself */
static char *glob_regex(const char *g)
{
	size_t n = strlen(g);
	char *s = malloc(n * 2 + 4);
	if (!s)
		return NULL;
	size_t o = 0;
	s[o++] = '^';
	for (size_t i = 0; i < n; i++) {
		char c = g[i];
		if (c == '*') {
			s[o++] = '.';
			s[o++] = '*';
		} else if (c == '?') {
			s[o++] = '.';
		} else if (c == '[' && strchr(g + i + 1, ']')) {
			const char *end = strchr(g + i + 2, ']'); /* a ']' first in the set is a member */
			if (!end) {
				s[o++] = '\\';
				s[o++] = c;
				continue;
			}
			for (const char *k = g + i; k <= end; k++)
				if (*k == '\\') { /* no escapes inside a set: a backslash is itself */
					s[o++] = '\\';
					s[o++] = '\\';
				} else {
					s[o++] = *k;
				}
			i = (size_t)(end - g);
		} else if (strchr("\\.^$|()[]{}+", c)) {
			s[o++] = '\\';
			s[o++] = c;
		} else {
			s[o++] = c;
		}
	}
	s[o++] = '$';
	s[o] = 0;
	return s;
}

static dc_err pg_remove(struct dc_queue *q, int64_t id, const char *glob, bool dead, uint64_t *removed,
                        struct dc_errinfo *ei)
{
	dc_err rc = ensure(q, ei);
	if (rc)
		return rc;
	PGresult *r = NULL;
	uint64_t n = 0;
	if (glob) {
		char *re = glob_regex(glob);
		if (!re)
			return DC_ERR_NOMEM;
		const char *v[1] = { re };
		rc = run(q, dead ? P_RM_DEAD_GLOB : P_RM_GLOB, v, NULL, NULL, &r, ei, "remove");
		free(re);
		if (rc)
			return rc;
		n = cmd_count(r);
	} else {
		char b1[24];
		const char *v[1] = { I64(b1, id) };
		if ((rc = run(q, P_RM_ID, v, NULL, NULL, &r, ei, "remove")))
			return rc;
		n = PQntuples(r) ? (uint64_t)get_i64(r, 0, 0) : 0;
		if (!n) {
			PQclear(r);
			return dc__fail(ei, DC_ERR_NOT_FOUND, "queue: no item %lld", (long long)id);
		}
	}
	PQclear(r);
	if (removed)
		*removed = n;
	return DC_OK;
}

/* start-up of this instance: its own leases and holds (its last run's) are due now; the
 * other gateways' are theirs, and run out if those died */
static dc_err pg_release_leases(struct dc_queue *q, uint64_t *released, struct dc_errinfo *ei)
{
	dc_err rc = ensure(q, ei);
	if (rc)
		return rc;
	char b1[24];
	const char *v[2] = { PG(q)->instance, I64(b1, wall_ms()) };
	PGresult *r = NULL;
	if ((rc = run(q, P_RELEASE_OWN, v, NULL, NULL, &r, ei, "releasing leases")))
		return rc;
	uint64_t k = cmd_count(r);
	PQclear(r);
	if (released)
		*released = k;
	rc = run(q, P_RELEASE_HELD_OWN, v, NULL, NULL, NULL, ei, "releasing holds");
	return rc;
}

static dc_err pg_check(struct dc_queue *q, struct dc_errinfo *ei)
{
	dc_err rc = ensure(q, ei);
	return rc ? rc : simple(q, "SELECT 1", ei);
}

static dc_err pg_share(struct dc_queue *q, const char *key, uint64_t *n, struct dc_errinfo *ei)
{
	dc_err rc = ensure(q, ei);
	if (rc)
		return rc;
	const char *v[1] = { key };
	PGresult *r = NULL;
	if ((rc = run(q, P_SHARE, v, NULL, NULL, &r, ei, "share")))
		return rc;
	int64_t k = PQntuples(r) ? get_i64(r, 0, 0) : 0;
	*n = k > 0 ? (uint64_t)k : 0;
	PQclear(r);
	return DC_OK;
}

/* ---- the listener ---------------------------------------------------------------------------
 * A thread of its own with a connection of its own (LISTEN holds it): wakes fn when another
 * gateway's notification arrives, and once after each (re)connect, since notifications sent
 * while it was away are lost. */
static bool wait_stop(struct pg *p, int fd, int ms)
{
	struct pollfd f[2] = { { .fd = p->stop_fd[0], .events = POLLIN }, { .fd = fd, .events = POLLIN } };
	int r = poll(f, fd >= 0 ? 2 : 1, ms);
	return r > 0 && (f[0].revents & (POLLIN | POLLHUP));
}

static void *listener(void *arg)
{
	struct dc_queue *q = arg;
	struct pg *p = PG(q);
	int64_t backoff = 200;
	for (;;) {
		char err[300];
		PGconn *c = connect_db(p, err, sizeof err);
		PGresult *r = c ? PQexec(c, "LISTEN dc_queue") : NULL;
		bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
		if (!ok) {
			if (c)
				PQfinish(c);
			if (wait_stop(p, -1, (int)backoff))
				return NULL;
			backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
			continue;
		}
		backoff = 200;
		p->due_fn(p->due_arg); /* what came while not listening */
		int fd = PQsocket(c);
		for (;;) {
			if (wait_stop(p, fd, 30000)) {
				PQfinish(c);
				return NULL;
			}
			if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK)
				break;
			bool wake = false;
			PGnotify *nt;
			while ((nt = PQnotifies(c))) {
				wake |= !nt->extra || strcmp(nt->extra, p->instance) != 0; /* not our own puts */
				PQfreemem(nt);
			}
			if (wake)
				p->due_fn(p->due_arg);
		}
		PQfinish(c);
	}
}

static void unwatch(struct pg *p)
{
	if (!p->watching)
		return;
	(void)!write(p->stop_fd[1], "x", 1);
	pthread_join(p->th, NULL);
	close(p->stop_fd[0]);
	close(p->stop_fd[1]);
	p->watching = false;
}

static dc_err pg_watch(struct dc_queue *q, void (*fn)(void *), void *arg, struct dc_errinfo *ei)
{
	struct pg *p = PG(q);
	if (!fn) {
		unwatch(p);
		return DC_OK;
	}
	if (p->watching)
		return dc__fail(ei, DC_ERR_INVAL, "queue: already watched");
	if (pipe(p->stop_fd) != 0)
		return dc__fail(ei, DC_ERR_IO, "queue: pipe: %s", strerror(errno));
	p->due_fn = fn;
	p->due_arg = arg;
	if (pthread_create(&p->th, NULL, listener, q) != 0) {
		close(p->stop_fd[0]);
		close(p->stop_fd[1]);
		return dc__fail(ei, DC_ERR_NOMEM, "queue: cannot start the listener");
	}
	p->watching = true;
	return DC_OK;
}

/* ---- one reader at a time (dc_queue_exclusive) ------------------------------------------- */
static void lk_drop(struct pg *p)
{
	if (p->lk)
		PQfinish(p->lk);
	p->lk = NULL;
	for (size_t i = 0; i < p->n_locks; i++)
		p->locks[i].mine = false; /* went with the session */
}

static dc_err pg_exclusive(struct dc_queue *q, const char *name, bool *mine, struct dc_errinfo *ei)
{
	struct pg *p = PG(q);
	*mine = false;
	pthread_mutex_lock(&p->lk_mu);
	int64_t now = mono_ms();
	struct held_lock *h = NULL;
	for (size_t i = 0; i < p->n_locks && !h; i++)
		if (strcmp(p->locks[i].name, name) == 0)
			h = &p->locks[i];
	if (h && now - h->checked_ms < LOCK_CACHE_MS) {
		*mine = h->mine;
		pthread_mutex_unlock(&p->lk_mu);
		return DC_OK;
	}
	if (!h && p->n_locks == MAX_LOCKS) {
		pthread_mutex_unlock(&p->lk_mu);
		return dc__fail(ei, DC_ERR_TOO_BIG, "queue: more than %d exclusive sources", MAX_LOCKS);
	}
	if (!h) {
		h = &p->locks[p->n_locks];
		*h = (struct held_lock){ .name = strdup(name) };
		if (!h->name) {
			pthread_mutex_unlock(&p->lk_mu);
			return DC_ERR_NOMEM;
		}
		p->n_locks++;
	}
	dc_err rc = DC_OK;
	char err[300];
	if (p->lk && PQstatus(p->lk) != CONNECTION_OK)
		lk_drop(p);
	if (!p->lk && now < p->lk_retry_ms) {
		rc = dc__fail(ei, DC_ERR_IO, "queue: PostgreSQL unreachable (reconnecting)");
	} else if (!p->lk && !(p->lk = connect_db(p, err, sizeof err))) {
		p->lk_retry_ms = now + LOCK_RETRY_MS;
		rc = dc__fail(ei, DC_ERR_IO, "queue: PostgreSQL: %s", err);
	} else {
		/* held: the session is still there (a lock is never lost while it is); else try */
		const char *v[1] = { name };
		PGresult *r = h->mine ? PQexec(p->lk, "SELECT true") :
		                        PQexecParams(p->lk, "SELECT pg_try_advisory_lock(" LOCK_SPACE ", hashtext($1))", 1,
		                                     NULL, v, NULL, NULL, 0);
		if (r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
			h->mine = PQgetvalue(r, 0, 0)[0] == 't';
		} else {
			one_line(err, sizeof err, r ? PQresultErrorMessage(r) : PQerrorMessage(p->lk));
			rc = dc__fail(ei, DC_ERR_IO, "queue: PostgreSQL: %s", err);
			lk_drop(p);
			p->lk_retry_ms = now + LOCK_RETRY_MS;
		}
		PQclear(r);
	}
	h->checked_ms = now;
	if (rc)
		h->mine = false;
	*mine = h->mine;
	pthread_mutex_unlock(&p->lk_mu);
	return rc;
}

/* ---- the cluster's identity ------------------------------------------------------------- */
static dc_err pg_identity(struct dc_queue *q, const char *did, struct dc_errinfo *ei)
{
	dc_err rc = ensure(q, ei);
	if (rc)
		return rc;
	const char *v[1] = { did };
	PGresult *r = PQexecParams(PG(q)->c,
	                           "WITH i AS (INSERT INTO cluster(key,value) VALUES('did',$1) ON CONFLICT(key) DO NOTHING "
	                           "RETURNING value) SELECT value FROM i UNION ALL SELECT value FROM cluster WHERE key='did'",
	                           1, NULL, v, NULL, NULL, 0);
	if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = res_fail(q, r, ei, "identity");
		PQclear(r);
		return rc;
	}
	if (PQntuples(r) < 1) { /* taken meanwhile by another gateway's first start: look again */
		PQclear(r);
		r = PQexecParams(PG(q)->c, "SELECT value FROM cluster WHERE key='did' AND $1::text IS NOT NULL", 1, NULL, v,
		                 NULL, NULL, 0);
		if (!r || PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1) {
			rc = r && PQresultStatus(r) == PGRES_TUPLES_OK ? dc__fail(ei, DC_ERR_IO, "queue: no identity recorded")
			                                                : res_fail(q, r, ei, "identity");
			PQclear(r);
			return rc;
		}
	}
	const char *have = PQgetvalue(r, 0, 0);
	if (strcmp(have, did) != 0)
		rc = dc__fail(ei, DC_ERR_DENIED,
		              "queue: not the same identity as the gateways sharing this database (copy did.txt and "
		              "secrets.json of one of them into this state_dir): this one is %.60s..., theirs %.60s...",
		              did, have);
	PQclear(r);
	return rc;
}

static void pg_close(struct dc_queue *q)
{
	struct pg *p = q->impl;
	if (p) {
		unwatch(p);
		lk_drop(p);
		for (size_t i = 0; i < p->n_locks; i++)
			free(p->locks[i].name);
		pthread_mutex_destroy(&p->lk_mu);
		end_notes(q, false);
		dc__dead_notes_free(&p->notes);
		if (p->c)
			PQfinish(p->c);
		if (p->password) {
			sodium_memzero(p->password, strlen(p->password));
			sodium_free(p->password);
		}
		free(p->url);
		free(p->instance);
		free(p);
	}
	pthread_mutex_destroy(&q->mu);
	free(q);
}

extern const struct dc_queue_med_ops dc__pg_med_ops;

static const struct dc_queue_store_ops pg_ops = {
	.name = "postgres", .put = pg_put, .claim = pg_claim, .ack = pg_ack, .retry = pg_retry, .fail = pg_fail,
	.stats = pg_stats, .list = pg_list, .get = pg_get, .requeue = pg_requeue, .purge_dead = pg_purge_dead,
	.remove = pg_remove, .release_leases = pg_release_leases, .hold = pg_hold, .release_held = pg_release_held,
	.ack_many = pg_ack_many, .check = pg_check, .share = pg_share, .redest = pg_redest, .close = pg_close, .med = &dc__pg_med_ops,
	.watch = pg_watch, .identity = pg_identity, .exclusive = pg_exclusive,
};

PGconn *dc__pg_conn(struct dc_queue *q)
{
	return PG(q)->c;
}

dc_err dc__pg_ensure(struct dc_queue *q, struct dc_errinfo *ei)
{
	return ensure(q, ei);
}

dc_err dc__pg_fail(struct dc_queue *q, PGresult *r, struct dc_errinfo *ei, const char *what)
{
	return res_fail(q, r, ei, what);
}

/* ---- schema --------------------------------------------------------------------------------
 * Version 2. A later version adds a step to migrations[] (from version i to i+1), never
 * changes an earlier one. A new database runs every step. */
static const char schema_v1[] =
	"CREATE TABLE queue(id bigserial PRIMARY KEY, dest text NOT NULL, next_ms int8 NOT NULL,"
	" lease_until int8 NOT NULL DEFAULT 0, owner text, created_ms int8 NOT NULL, expires_ms int8 NOT NULL DEFAULT 0,"
	" attempts int4 NOT NULL DEFAULT 0, msg_id text, media_type text, origin text, sender text, last_error text,"
	" held text, mailbox text GENERATED ALWAYS AS (CASE WHEN left(dest,5)='hold ' THEN substr(dest,6) END) STORED,"
	" data bytea NOT NULL);"
	"CREATE INDEX queue_due ON queue(next_ms, id);"
	"CREATE INDEX queue_lease ON queue(lease_until, dest);"
	"CREATE INDEX queue_owner ON queue(owner) WHERE owner IS NOT NULL;"
	"CREATE INDEX queue_held ON queue(held) WHERE held IS NOT NULL;"
	"CREATE INDEX queue_mailbox ON queue(mailbox, id) WHERE mailbox IS NOT NULL;"
	"CREATE INDEX queue_origin ON queue(origin);"
	"CREATE INDEX queue_sender ON queue(sender) WHERE sender IS NOT NULL;"
	"CREATE TABLE fallback(id bigserial PRIMARY KEY, primary_id int8 NOT NULL, dest text NOT NULL,"
	" hold_ms int8 NOT NULL DEFAULT 0, expires_ms int8 NOT NULL DEFAULT 0, data bytea);"
	"CREATE INDEX fallback_of ON fallback(primary_id);"
	"CREATE TABLE dead(id int8 PRIMARY KEY, msg_id text, dest text, origin text, sender text, media_type text,"
	" created_ms int8, died_ms int8, attempts int4, reason text, data bytea);"
	"CREATE TABLE inkey(id bigserial PRIMARY KEY, key text NOT NULL UNIQUE, at_ms int8 NOT NULL);"
	"CREATE TABLE med_client(client text PRIMARY KEY, granted_ms int8 NOT NULL);"
	"CREATE TABLE med_recipient(id bigserial PRIMARY KEY, recipient text NOT NULL UNIQUE, mailbox text NOT NULL,"
	" client text NOT NULL, added_ms int8 NOT NULL);"
	"CREATE INDEX med_recipient_client ON med_recipient(client, id);"
	"CREATE INDEX med_recipient_mailbox ON med_recipient(mailbox);"
	/* what the whole cluster shares besides the queue: its DID */
	"CREATE TABLE cluster(key text PRIMARY KEY, value text NOT NULL);";

/* 2: the rule inputs kept with each item (dc_queue_new_item.facts) for queue reroute; the items
 * of a version 1 store have none (queue reroute leaves them where they are) */
static const char schema_v2[] = "ALTER TABLE queue ADD COLUMN facts text";

static const char *const migrations[] = { schema_v1, schema_v2 }; /* [i]: version i to i+1 */
_Static_assert(sizeof migrations / sizeof migrations[0] == SCHEMA_VERSION, "a migration step per version");

static dc_err schema(struct dc_queue *q, struct dc_errinfo *ei)
{
	PGconn *c = PG(q)->c;
	dc_err rc = simple(q, "BEGIN", ei);
	if (rc)
		return rc;
	char sql[200];
	snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%lld)", (long long)MIGRATE_LOCK);
	if ((rc = simple(q, sql, ei)) ||
	    (rc = simple(q, "CREATE TABLE IF NOT EXISTS dc_schema(version int4 NOT NULL)", ei)))
		goto rollback;
	PGresult *r = PQexec(c, "SELECT max(version) FROM dc_schema");
	if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = res_fail(q, r, ei, "schema version");
		PQclear(r);
		goto rollback;
	}
	long have = PQgetisnull(r, 0, 0) ? 0 : strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	if (have > SCHEMA_VERSION) {
		rc = dc__fail(ei, DC_ERR_UNSUPPORTED,
		              "queue: the PostgreSQL schema is version %ld, newer than this program knows (%d): a newer "
		              "gateway made it; run that version (or newer) of didcomm-gateway", have, SCHEMA_VERSION);
		goto rollback;
	}
	for (long v = have; v < SCHEMA_VERSION; v++) {
		if ((rc = simple(q, migrations[v], ei)))
			goto rollback;
		snprintf(sql, sizeof sql, "DELETE FROM dc_schema; INSERT INTO dc_schema(version) VALUES(%ld)", v + 1);
		if ((rc = simple(q, sql, ei)))
			goto rollback;
	}
	return commit(q, ei);
rollback:
	rollback(q);
	return rc;
}

/* the password: the first line of a file only its owner may read (0600 or tighter) */
static dc_err read_password(const char *path, char **out, struct dc_errinfo *ei)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return dc__fail(ei, DC_ERR_IO, "queue: password_file %.300s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		close(fd);
		return dc__fail(ei, DC_ERR_DENIED, "queue: password_file %.300s: must be a file only its owner can read "
		                "(chmod 600)", path);
	}
	char *b = sodium_malloc(1025);
	if (!b) {
		close(fd);
		return DC_ERR_NOMEM;
	}
	ssize_t n;
	while ((n = read(fd, b, 1024)) < 0 && errno == EINTR)
		;
	close(fd);
	if (n < 0) {
		sodium_free(b);
		return dc__fail(ei, DC_ERR_IO, "queue: password_file %.300s: %s", path, strerror(errno));
	}
	b[n] = 0;
	b[strcspn(b, "\r\n")] = 0;
	if (!b[0]) {
		sodium_free(b);
		return dc__fail(ei, DC_ERR_MALFORMED, "queue: password_file %.300s: empty (or over 1024 bytes on one line)",
		                path);
	}
	*out = b;
	return DC_OK;
}

dc_err dc_queue_open_pg(const char *url, const char *password_file, const struct dc_queue_opts *o,
                        const char *instance, struct dc_queue **out, struct dc_errinfo *ei)
{
	*out = NULL;
	if (!url || !url[0] || !instance || !instance[0] || strlen(instance) > 200)
		return dc__fail(ei, DC_ERR_INVAL, "queue: PostgreSQL needs a url and an instance name (1 to 200 bytes)");
	struct dc_queue *q = calloc(1, sizeof *q);
	struct pg *p = calloc(1, sizeof *p);
	if (!q || !p) {
		free(q);
		free(p);
		return DC_ERR_NOMEM;
	}
	q->ops = &pg_ops;
	q->impl = p;
	pthread_mutex_init(&q->mu, NULL);
	pthread_mutex_init(&p->lk_mu, NULL);
	dc__queue_opts_fill(&q->o, o);
	q->o.blob_min_bytes = 0; /* every envelope in the database: the other gateways read it */
	dc_err rc = DC_OK;
	if (!(p->url = strdup(url)) || !(p->instance = strdup(instance)))
		rc = DC_ERR_NOMEM;
	if (!rc && password_file)
		rc = read_password(password_file, &p->password, ei);
	char err[300];
	if (!rc && !(p->c = connect_db(p, err, sizeof err)))
		rc = dc__fail(ei, DC_ERR_IO, "queue: PostgreSQL: %s", err);
	/* the tables first: the statements are prepared on them */
	if (!rc && !(rc = schema(q, ei)) && prepare_all(p, err, sizeof err))
		rc = dc__fail(ei, DC_ERR_IO, "queue: PostgreSQL: preparing: %s", err);
	if (rc) {
		pg_close(q);
		return rc;
	}
	*out = q;
	return DC_OK;
}
