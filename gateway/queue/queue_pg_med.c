/* The PostgreSQL store's mediation tables (dc_queue.h "mediation"; the schema is in
 * queue_pg.c): med_client, med_recipient, and the queue's stored column `mailbox` (the DID of a
 * "hold DID" destination) with a partial index (mailbox, id). A mailbox's count and bytes are
 * read from that index when asked (no counting table: every gateway would queue behind its
 * row). Registrations of one mailbox by two gateways at once are serialized by an advisory
 * lock on the mailbox, so a mailbox still has one client. Statements go with parameters
 * (PQexecParams); these are rare next to put and claim. The front holds the handle's lock. */
#include "queue_int.h"

#include <endian.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* params in text, results in binary; *out the result, or the error */
static dc_err q_exec(struct dc_queue *q, const char *sql, int n, const char *const *v, PGresult **out,
                     struct dc_errinfo *ei, const char *what)
{
	*out = NULL;
	dc_err rc = dc__pg_ensure(q, ei);
	if (rc)
		return rc;
	PGresult *r = PQexecParams(dc__pg_conn(q), sql, n, NULL, v, NULL, NULL, 1);
	ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
		rc = dc__pg_fail(q, r, ei, what);
		PQclear(r);
		return rc;
	}
	*out = r;
	return DC_OK;
}

static int64_t i64(const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return 0;
	const unsigned char *v = (const unsigned char *)PQgetvalue(r, row, col);
	if (PQgetlength(r, row, col) == 8) {
		uint64_t x;
		memcpy(&x, v, 8);
		return (int64_t)be64toh(x);
	}
	return 0;
}

static char *str(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) ? NULL : strndup(PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col));
}

#define NUM(buf, v) (snprintf((buf), sizeof(buf), "%" PRId64, (int64_t)(v)), (const char *)(buf))

static dc_err med_grant(struct dc_queue *q, const char *client, int64_t now, struct dc_errinfo *ei)
{
	char b[24];
	const char *v[2] = { client, NUM(b, now) };
	PGresult *r;
	dc_err rc = q_exec(q, "INSERT INTO med_client(client,granted_ms) VALUES($1,$2) ON CONFLICT(client) DO NOTHING", 2,
	                   v, &r, ei, "grant");
	PQclear(r);
	return rc;
}

static dc_err med_granted(struct dc_queue *q, const char *client, bool *granted, struct dc_errinfo *ei)
{
	const char *v[1] = { client };
	PGresult *r;
	dc_err rc = q_exec(q, "SELECT 1 FROM med_client WHERE client=$1", 1, v, &r, ei, "grant lookup");
	*granted = !rc && PQntuples(r) > 0;
	PQclear(r);
	return rc;
}

static void rollback(struct dc_queue *q)
{
	PGconn *c = dc__pg_conn(q);
	if (c && PQstatus(c) == CONNECTION_OK)
		PQclear(PQexec(c, "ROLLBACK"));
}

/* in a transaction: the mailbox locked, then the same steps as the SQLite store */
static dc_err recipient_tx(struct dc_queue *q, const char *client, const char *recipient, const char *mailbox, bool add,
                           int64_t now, enum dc_queue_med_change *res, struct dc_errinfo *ei)
{
	PGresult *r;
	const char *vm[1] = { mailbox };
	dc_err rc = q_exec(q, "SELECT pg_advisory_xact_lock(hashtextextended($1,0))", 1, vm, &r, ei, "recipient lock");
	PQclear(r);
	if (rc)
		return rc;
	const char *vr[1] = { recipient };
	if ((rc = q_exec(q, "SELECT client FROM med_recipient WHERE recipient=$1", 1, vr, &r, ei, "recipient lookup")))
		return rc;
	char *who = PQntuples(r) ? str(r, 0, 0) : strdup("");
	PQclear(r);
	if (!who)
		return DC_ERR_NOMEM;
	if (!add) {
		/* only the client's own registration goes; someone else's is "no change" */
		*res = DC_QUEUE_MED_SAME;
		if (strcmp(who, client) == 0) {
			const char *v[2] = { recipient, client };
			rc = q_exec(q, "DELETE FROM med_recipient WHERE recipient=$1 AND client=$2", 2, v, &r, ei,
			            "recipient remove");
			PQclear(r);
			if (!rc)
				*res = DC_QUEUE_MED_DONE;
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
	if ((rc = q_exec(q, "SELECT client FROM med_recipient WHERE mailbox=$1 LIMIT 1", 1, vm, &r, ei, "mailbox lookup")))
		return rc;
	bool others = PQntuples(r) && strcmp(PQgetvalue(r, 0, 0), client) != 0; /* libpq ends every value with a NUL */
	PQclear(r);
	if (others) {
		*res = DC_QUEUE_MED_OTHERS;
		return DC_OK;
	}
	const char *vc[1] = { client };
	if ((rc = q_exec(q, "SELECT count(*) FROM med_recipient WHERE client=$1", 1, vc, &r, ei, "recipients")))
		return rc;
	int64_t have = PQntuples(r) ? i64(r, 0, 0) : 0;
	PQclear(r);
	if (have >= DC_QUEUE_MED_MAX_RECIPIENTS) {
		*res = DC_QUEUE_MED_FULL;
		return DC_OK;
	}
	char b[24];
	const char *v[4] = { recipient, mailbox, client, NUM(b, now) };
	if ((rc = q_exec(q, "INSERT INTO med_recipient(recipient,mailbox,client,added_ms) VALUES($1,$2,$3,$4)", 4, v, &r,
	                 ei, "recipient add")))
		return rc;
	PQclear(r);
	*res = DC_QUEUE_MED_DONE;
	return DC_OK;
}

static dc_err med_recipient(struct dc_queue *q, const char *client, const char *recipient, const char *mailbox,
                            bool add, int64_t now, enum dc_queue_med_change *res, struct dc_errinfo *ei)
{
	PGresult *r;
	dc_err rc = q_exec(q, "BEGIN", 0, NULL, &r, ei, "begin");
	PQclear(r);
	if (rc)
		return rc;
	if ((rc = recipient_tx(q, client, recipient, mailbox, add, now, res, ei))) {
		rollback(q);
		return rc;
	}
	rc = q_exec(q, "COMMIT", 0, NULL, &r, ei, "commit");
	PQclear(r);
	if (rc)
		rollback(q);
	return rc;
}

static dc_err med_recipients(struct dc_queue *q, const char *client, size_t offset, size_t limit, char ***dids,
                             size_t *n, size_t *total, struct dc_errinfo *ei)
{
	const char *vc[1] = { client };
	PGresult *r;
	dc_err rc = q_exec(q, "SELECT count(*) FROM med_recipient WHERE client=$1", 1, vc, &r, ei, "recipients");
	if (rc)
		return rc;
	*total = PQntuples(r) ? (size_t)i64(r, 0, 0) : 0;
	PQclear(r);
	if (!limit || offset >= *total)
		return DC_OK;
	char b1[24], b2[24];
	const char *v[3] = { client, NUM(b1, limit), NUM(b2, offset) };
	if ((rc = q_exec(q, "SELECT recipient FROM med_recipient WHERE client=$1 ORDER BY id LIMIT $2 OFFSET $3", 3, v, &r,
	                 ei, "recipients")))
		return rc;
	size_t rows = (size_t)PQntuples(r), got = 0;
	char **out = calloc(rows ? rows : 1, sizeof *out);
	for (size_t i = 0; out && i < rows && i < limit; i++) {
		if (!(out[got] = str(r, (int)i, 0)))
			break;
		got++;
	}
	PQclear(r);
	if (!out || got < rows) {
		for (size_t i = 0; out && i < got; i++)
			free(out[i]);
		free(out);
		return DC_ERR_NOMEM;
	}
	*dids = out;
	*n = got;
	return DC_OK;
}

static dc_err med_each(struct dc_queue *q, void (*fn)(void *arg, const char *mailbox, const char *client), void *arg,
                       struct dc_errinfo *ei)
{
	PGresult *r;
	dc_err rc = q_exec(q, "SELECT mailbox,client FROM med_recipient ORDER BY id", 0, NULL, &r, ei, "mailboxes");
	if (rc)
		return rc;
	for (int i = 0; i < PQntuples(r); i++)
		fn(arg, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1)); /* binary text is NUL-terminated by libpq */
	PQclear(r);
	return DC_OK;
}

/* the client's mailboxes, or the one named if it is one of them */
#define BOXES "mailbox IN (SELECT mailbox FROM med_recipient WHERE client=$1 AND ($2::text IS NULL OR mailbox=$2))"

static dc_err med_stats(struct dc_queue *q, const char *client, const char *mailbox, struct dc_queue_mailbox_stats *st,
                        struct dc_errinfo *ei)
{
	const char *v[2] = { client, mailbox };
	PGresult *r;
	dc_err rc = q_exec(q,
	                   "WITH b AS (SELECT id,created_ms,octet_length(data) l FROM queue WHERE " BOXES ") "
	                   "SELECT count(*),COALESCE(sum(l),0)::int8,COALESCE(min(created_ms),0)::int8,"
	                   "COALESCE((SELECT created_ms FROM b ORDER BY id DESC LIMIT 1),0)::int8,COALESCE(max(id),0)::int8 FROM b",
	                   2, v, &r, ei, "mailbox status");
	if (rc)
		return rc;
	if (PQntuples(r)) {
		st->count = (uint64_t)i64(r, 0, 0);
		st->bytes = (uint64_t)i64(r, 0, 1);
		st->oldest_ms = i64(r, 0, 2);
		st->newest_ms = i64(r, 0, 3);
		st->last_id = i64(r, 0, 4);
	}
	PQclear(r);
	return DC_OK;
}

static dc_err med_ids(struct dc_queue *q, const char *client, const char *mailbox, int64_t after_id, size_t max,
                      int64_t **ids, size_t *n, struct dc_errinfo *ei)
{
	*ids = NULL;
	*n = 0;
	char b1[24], b2[24];
	const char *v[4] = { client, mailbox, NUM(b1, after_id), NUM(b2, max) };
	PGresult *r;
	dc_err rc = q_exec(q, "SELECT id FROM queue WHERE " BOXES " AND id>$3 ORDER BY id LIMIT $4", 4, v, &r, ei,
	                   "mailbox");
	if (rc)
		return rc;
	size_t rows = (size_t)PQntuples(r);
	int64_t *out = calloc(rows ? rows : 1, sizeof *out);
	if (!out) {
		PQclear(r);
		return DC_ERR_NOMEM;
	}
	for (size_t i = 0; i < rows; i++)
		out[i] = i64(r, (int)i, 0);
	PQclear(r);
	*ids = out;
	*n = rows;
	return DC_OK;
}

static dc_err med_owned(struct dc_queue *q, const char *client, int64_t *ids, size_t *n, struct dc_errinfo *ei)
{
	size_t k = 0;
	for (size_t i = 0; i < *n; i++) {
		char b[24];
		const char *v[2] = { client, NUM(b, ids[i]) };
		PGresult *r;
		dc_err rc = q_exec(q, "SELECT 1 FROM queue q JOIN med_recipient m ON m.mailbox=q.mailbox "
		                      "WHERE q.id=$2 AND m.client=$1 LIMIT 1", 2, v, &r, ei, "mailbox");
		if (rc)
			return rc;
		if (PQntuples(r))
			ids[k++] = ids[i];
		PQclear(r);
	}
	*n = k;
	return DC_OK;
}

const struct dc_queue_med_ops dc__pg_med_ops = {
	.grant = med_grant,
	.granted = med_granted,
	.recipient = med_recipient,
	.recipients = med_recipients,
	.each = med_each,
	.stats = med_stats,
	.ids = med_ids,
	.owned = med_owned,
};
