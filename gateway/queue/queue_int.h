/* Queue internals: the store vtable (one file per store, like OpenSMTPD's queue backends).
 * The queue is the gateway's (libgwqueue.a), not libdidcomm's: it uses only the public
 * API of didcomm.h. */
#ifndef DC_QUEUE_INT_H
#define DC_QUEUE_INT_H
#include <pthread.h>

#include "dc_queue.h"

struct dc_queue_store_ops {
	const char *name;
	dc_err (*put)(struct dc_queue *q, const struct dc_queue_new_item *items, size_t n, int64_t *ids,
	              struct dc_errinfo *ei);
	dc_err (*claim)(struct dc_queue *q, int64_t now, size_t max, unsigned per_dest, int64_t lease,
	                struct dc_queue_item **items, size_t *n, struct dc_errinfo *ei);
	dc_err (*ack)(struct dc_queue *q, int64_t id, struct dc_errinfo *ei);
	dc_err (*ack_many)(struct dc_queue *q, const int64_t *ids, size_t n, size_t *gone, struct dc_errinfo *ei);
	dc_err (*retry)(struct dc_queue *q, int64_t id, int64_t now, const char *error, struct dc_errinfo *ei);
	dc_err (*fail)(struct dc_queue *q, int64_t id, int64_t now, const char *reason, struct dc_errinfo *ei);
	dc_err (*hold)(struct dc_queue *q, int64_t id, const char *key, struct dc_errinfo *ei);
	dc_err (*release_held)(struct dc_queue *q, const char *key, int64_t now, uint64_t *released, struct dc_errinfo *ei);
	dc_err (*stats)(struct dc_queue *q, int64_t now, struct dc_queue_stats *st, struct dc_errinfo *ei);
	dc_err (*list)(struct dc_queue *q, bool dead, int64_t after, size_t max, struct dc_queue_item **items, size_t *n,
	               struct dc_errinfo *ei);
	dc_err (*get)(struct dc_queue *q, int64_t id, struct dc_queue_item *item, struct dc_errinfo *ei);
	dc_err (*requeue)(struct dc_queue *q, int64_t id, int64_t now, struct dc_errinfo *ei);
	dc_err (*purge_dead)(struct dc_queue *q, uint64_t *purged, struct dc_errinfo *ei);
	dc_err (*remove)(struct dc_queue *q, int64_t id, const char *dest_glob, bool dead, uint64_t *removed,
	                 struct dc_errinfo *ei);
	dc_err (*release_leases)(struct dc_queue *q, uint64_t *released, struct dc_errinfo *ei);
	dc_err (*check)(struct dc_queue *q, struct dc_errinfo *ei); /* optional */
	dc_err (*share)(struct dc_queue *q, const char *key, uint64_t *n, struct dc_errinfo *ei); /* optional */
	/* optional (blob_min_bytes); called without the handle's lock */
	dc_err (*file_write)(struct dc_queue *q, const uint8_t *data, size_t len, char *name, struct dc_errinfo *ei);
	void (*file_discard)(struct dc_queue *q, const char *name);
	/* optional (queue reroute); NULL: DC_ERR_UNSUPPORTED */
	dc_err (*redest)(struct dc_queue *q, int64_t id, const struct dc_queue_redest *r, struct dc_errinfo *ei);
	void (*close)(struct dc_queue *q);
	/* optional: mediation (dc_queue.h); NULL: DC_ERR_UNSUPPORTED */
	const struct dc_queue_med_ops *med;
	/* optional (shared stores): dc_queue_watch, dc_queue_identity */
	dc_err (*watch)(struct dc_queue *q, void (*fn)(void *arg), void *arg, struct dc_errinfo *ei);
	dc_err (*identity)(struct dc_queue *q, const char *did, struct dc_errinfo *ei);
	/* optional (shared stores): dc_queue_exclusive; called without the handle's lock */
	dc_err (*exclusive)(struct dc_queue *q, const char *name, bool *mine, struct dc_errinfo *ei);
};

struct dc_queue_med_ops {
	dc_err (*grant)(struct dc_queue *q, const char *client, int64_t now, struct dc_errinfo *ei);
	dc_err (*granted)(struct dc_queue *q, const char *client, bool *granted, struct dc_errinfo *ei);
	dc_err (*recipient)(struct dc_queue *q, const char *client, const char *recipient, const char *mailbox, bool add,
	                    int64_t now, enum dc_queue_med_change *res, struct dc_errinfo *ei);
	dc_err (*recipients)(struct dc_queue *q, const char *client, size_t offset, size_t limit, char ***dids, size_t *n,
	                     size_t *total, struct dc_errinfo *ei);
	dc_err (*each)(struct dc_queue *q, void (*fn)(void *arg, const char *mailbox, const char *client), void *arg,
	               struct dc_errinfo *ei);
	dc_err (*stats)(struct dc_queue *q, const char *client, const char *mailbox, struct dc_queue_mailbox_stats *st,
	                struct dc_errinfo *ei);
	/* ids (and nothing else) of the items: the front fetches each with get() */
	dc_err (*ids)(struct dc_queue *q, const char *client, const char *mailbox, int64_t after_id, size_t max,
	              int64_t **ids, size_t *n, struct dc_errinfo *ei);
	/* of ids, those in the client's mailboxes (written over ids; *n shrinks) */
	dc_err (*owned)(struct dc_queue *q, const char *client, int64_t *ids, size_t *n, struct dc_errinfo *ei);
};

struct dc_queue {
	const struct dc_queue_store_ops *ops;
	pthread_mutex_t mu;             /* one operation at a time (queue.c) */
	struct dc_queue_opts o;
	void *impl;
};

/* errors in the library's shape (dc_errinfo_set is public) */
#define dc__fail dc_errinfo_set

/* Dead letters a store makes by itself inside a transaction (expired, max_age), told to
 * opts.dead_fn only once that transaction commits (queue.c). */
struct dc__dead_note {
	int64_t id;
	char *msg_id, *dest, *reason;
};
struct dc__dead_notes {
	struct dc__dead_note *v;
	size_t n, cap;
};
/* takes the three malloc'd strings over (freed at once when out of memory: not told) */
void dc__dead_note_add(struct dc__dead_notes *d, int64_t id, char *msg_id, char *dest, char *reason);
/* after the commit (tell: the dead letters are real) or a rollback, or for dc_queue_fail
 * (not: its caller knows) */
void dc__dead_notes_end(const struct dc_queue *q, struct dc__dead_notes *d, bool tell);
void dc__dead_notes_free(struct dc__dead_notes *d);

void dc__queue_opts_fill(struct dc_queue_opts *o, const struct dc_queue_opts *in);
/* write all len bytes (EINTR retried): 0, or the errno of the failure (queue.c) */
int dc__queue_write_all(int fd, const void *p, size_t len);
/* the SQLite store's mediation tables (queue_sqlite_med.c): created on open, old stores too */
struct sqlite3;
extern const struct dc_queue_med_ops dc__sq_med_ops;
dc_err dc__sq_med_schema(struct sqlite3 *db, const char *path, struct dc_errinfo *ei);
struct sqlite3 *dc__sq_db(struct dc_queue *q);
/* the PostgreSQL store's connection for its mediation tables (queue_pg_med.c): ensured (DC_ERR_IO
 * when it cannot be had), and an error result turned into the queue's error (the connection
 * dropped for a reconnect when it is gone) */
struct pg_conn;
struct pg_result;
extern const struct dc_queue_med_ops dc__pg_med_ops;
dc_err dc__pg_ensure(struct dc_queue *q, struct dc_errinfo *ei);
struct pg_conn *dc__pg_conn(struct dc_queue *q);
dc_err dc__pg_fail(struct dc_queue *q, struct pg_result *r, struct dc_errinfo *ei, const char *what);
#endif
