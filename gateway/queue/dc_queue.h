/* The durable queue between acceptance and delivery (the gateway's libgwqueue.a, beside
 * libdidcomm, whose public API it uses). A store is a vtable
 * (struct dc_queue_ops) so that a shared engine can hold it later; SQLite in WAL mode is the
 * embedded default. Promise: dc_queue_put returns only after the commit, so an adapter may
 * acknowledge (HTTP 202, PUBACK, ...) as soon as it returns. Delivery is at least once: a
 * claimed item that is neither acked nor retried comes back when its lease runs out. */
#ifndef DC_QUEUE_H
#define DC_QUEUE_H
#include "didcomm.h"

struct dc_queue; /* a handle may be shared by threads: its operations run one at a time */

struct dc_queue_opts {
	size_t max_items;        /* above: DC_ERR_AGAIN ("queue full", HTTP 503); 0 = 1,000,000 */
	size_t max_item_bytes;   /* 0 = 32 MiB */
	int64_t retry_base_ms;   /* first retry delay; 0 = 1000 */
	int64_t retry_max_ms;    /* cap; 0 = 3,600,000 */
	int64_t max_age_ms;      /* then dead-letter; 0 = 72 h */
	bool sync_full;          /* synchronous=FULL (power loss) instead of NORMAL (kill -9 only) */
	int checkpoint_pages;    /* fold the write-ahead log into the store when it holds this many
	                          * pages (0 = 1000; more: fewer fsyncs, a bigger log) */
	/* a new store, its -wal and -shm, its envelope files are 0600, its directory 0700 */
	size_t blob_min_bytes;   /* envelopes this big or bigger are kept in files of their own
	                          * beside the store (SQLite: PATH-blobs/), written before the commit
	                          * that names them and removed after the one that lets them go;
	                          * 0 = every envelope inside the store */
	/* Idempotency keys (dc_queue_new_item.key) are remembered apart from the items (an item
	 * delivered long ago still has its key). Forgotten: beyond the newest keys_max (0 =
	 * 1,000,000), and when older than keys_keep_ms (0 = 7 days) unless among the newest
	 * DC_QUEUE_KEYS_KEPT (so a gateway that was down for weeks still knows the keys of its
	 * last moments, which are what a restart takes in again). */
	size_t keys_max;
	int64_t keys_keep_ms;
	/* optional: told, after the commit, of each item that the store itself made a dead letter
	 * (expired, or too old at a retry or a claim: dc_queue_retry_later, dc_queue_claim), which
	 * the caller would not otherwise hear of; dc_queue_fail's caller knows and is not told.
	 * Runs on the caller's thread with the handle's lock held: a log line, nothing that uses
	 * the queue. Stores without it tell nobody. */
	void (*dead_fn)(void *arg, int64_t id, const char *msg_id, const char *dest, const char *reason);
	void *dead_arg;
};
#define DC_QUEUE_KEYS_KEPT 10000

/* What to queue instead when a delivery fails for good or runs out of time (a rule's else):
 * it becomes a new item then, due after hold_ms (a hold, from the failure). */
struct dc_queue_else {
	const char *dest;        /* "adapter target" or "hold DID" */
	const uint8_t *data;     /* NULL: the failed item's own envelope */
	size_t len;
	int64_t hold_ms;         /* > 0: a hold of this long, from the failure */
	int64_t expires_ms;      /* wall clock, 0 = never */
};

struct dc_queue_new_item {
	const char *msg_id;      /* DIDComm id when known (receivers drop duplicates by it); may be NULL */
	const uint8_t *data;
	size_t len;
	const char *media_type;
	const char *dest;        /* "adapter target", e.g. "http https://bob/inbox" */
	const char *origin;      /* "transport source", may be NULL */
	const char *sender;      /* the authenticated sender's DID when known, may be NULL */
	int64_t expires_ms;      /* wall clock, 0 = never */
	int64_t not_before_ms;   /* first attempt no earlier than this (0 = now) */
	int64_t leased_until_ms; /* born leased (0 = no): the caller delivers it from memory right away;
	                          * the store hands it out only if that lease runs out (a crash) */
	const struct dc_queue_else *els; /* instead, if it fails for good (not when it expires) */
	size_t n_els;
	const char *file;        /* the envelope already written with dc_queue_file_write (data and len
	                          * still describe it): the item takes that file over when it commits */
	const char *key;         /* idempotency key, or NULL: when an item with this key was put before
	                          * (and the key is not forgotten yet), this one is not put again: its
	                          * id comes back 0 (its file, if any, is removed); the key is stored
	                          * in the same transaction as the item */
	const char *facts;       /* what the rules decided on (a small JSON object, ingest.h), kept with
	                          * the item so that they can decide again (queue reroute); may be NULL */
};

struct dc_queue_item {
	int64_t id;
	char *msg_id, *media_type, *dest, *origin, *last_error;
	uint8_t *data;
	size_t len;
	int64_t created_ms, next_ms, expires_ms;
	unsigned attempts;
	bool dead;
	char *held;              /* held for presence (dc_queue_hold): its key, else NULL */
	char *facts;             /* dc_queue_get of a queued item: its new_item.facts, else NULL */
};

struct dc_queue_stats {
	uint64_t queued, leased, dead, bytes;
	uint64_t presence;         /* of queued: held for presence (dc_queue_hold) */
	int64_t oldest_created_ms; /* 0 when empty */
	uint64_t due;              /* of queued: due now (not leased, not held, next attempt now or past) */
	uint64_t pickup;           /* of queued: held for pickup ("hold DID"), not leased */
	int64_t oldest_due_ms;     /* the earliest next attempt among the due ones; 0 when none */
};

dc_err dc_queue_open_sqlite(const char *path, const struct dc_queue_opts *o, struct dc_queue **out,
                            struct dc_errinfo *ei) DC_WUR;
/* The shared store (PostgreSQL): url a libpq URL or conninfo ("postgresql://gw@host:5432/didcomm");
 * password_file (or NULL: libpq's own ways, PGPASSFILE, ~/.pgpass) holds the password on its
 * first line and may be read by its owner only. instance names this gateway among those that
 * share the database: its leases and holds carry the name, and its start-up
 * (dc_queue_release_leases) releases only those. Every envelope is kept in the database
 * (blob_min_bytes is ignored). The schema is created or migrated here; one newer than this
 * program knows is refused (DC_ERR_UNSUPPORTED). The connection lost, operations fail with
 * DC_ERR_IO until it is back (tried again with backoff, by the operations themselves). */
dc_err dc_queue_open_pg(const char *url, const char *password_file, const struct dc_queue_opts *o,
                        const char *instance, struct dc_queue **out, struct dc_errinfo *ei) DC_WUR;
void dc_queue_close(struct dc_queue *q);
/* the store's name: "sqlite" or "postgres" */
const char *dc_queue_backend(const struct dc_queue *q);
/* Shared stores: fn(arg) is called, from a thread of the store's, when other processes may
 * have made work due (PostgreSQL: LISTEN/NOTIFY; also after each reconnect of the listener),
 * until dc_queue_close or a call with fn NULL (which returns once the thread is gone: no call
 * of fn after it). DC_ERR_UNSUPPORTED for a store with no other writers (SQLite). */
dc_err dc_queue_watch(struct dc_queue *q, void (*fn)(void *arg), void *arg, struct dc_errinfo *ei) DC_WUR;
/* Shared stores: one reader at a time for a source that several gateways are configured to
 * read (an IMAP mailbox, a watched folder): *mine is true when this handle holds the lock
 * named name, taken now if it is free. A lock is held by a database session of its own and
 * goes with it (the process dies, the connection is lost): another gateway takes it over at
 * its next call. Answers are cached for up to a second (no round trip per call). Stores with
 * no other readers (SQLite): always mine. Any thread. */
dc_err dc_queue_exclusive(struct dc_queue *q, const char *name, bool *mine, struct dc_errinfo *ei) DC_WUR;
/* Shared stores: every gateway of a cluster has one identity. The first to ask records did;
 * DC_ERR_DENIED with a message naming both when another DID is recorded. DC_OK for SQLite. */
dc_err dc_queue_identity(struct dc_queue *q, const char *did, struct dc_errinfo *ei) DC_WUR;

/* One transaction for the batch; ids_out (may be NULL) gets the new ids (0 for an item left
 * out because its key was put before). */
dc_err dc_queue_put(struct dc_queue *q, const struct dc_queue_new_item *items, size_t n, int64_t *ids_out,
                    struct dc_errinfo *ei) DC_WUR;
/* Up to max due items, leased for lease_ms, at most per_dest in flight per destination.
 * Items past their expires_ms or max age go to the dead letters instead. *items: array to
 * release with dc_queue_items_free. */
dc_err dc_queue_claim(struct dc_queue *q, int64_t now_ms, size_t max, unsigned per_dest, int64_t lease_ms,
                      struct dc_queue_item **items, size_t *n, struct dc_errinfo *ei) DC_WUR;
void dc_queue_items_free(struct dc_queue_item *items, size_t n);
/* frees the members of one item (from dc_queue_get, or one taken out of a claimed array) */
void dc_queue_item_clear(struct dc_queue_item *it);
/* delivered: gone */
dc_err dc_queue_ack(struct dc_queue *q, int64_t id, struct dc_errinfo *ei) DC_WUR;
/* many delivered, one transaction; ids no longer queued are skipped (*gone: how many were) */
dc_err dc_queue_ack_many(struct dc_queue *q, const int64_t *ids, size_t n, size_t *gone, struct dc_errinfo *ei) DC_WUR;
/* try again later (exponential backoff with jitter), or dead-letter when too old/expired */
dc_err dc_queue_retry_later(struct dc_queue *q, int64_t id, int64_t now_ms, const char *error,
                            struct dc_errinfo *ei) DC_WUR;
/* permanent failure: dead-letter now with the reason; its else items (if any) are queued */
dc_err dc_queue_fail(struct dc_queue *q, int64_t id, int64_t now_ms, const char *reason, struct dc_errinfo *ei) DC_WUR;

/* Held for presence: a claimed item waits, no attempt spent, until dc_queue_release_held with
 * the same key (an MQTT device's presence topic) makes it due again. It is not claimed
 * meanwhile, except when its expires_ms or max age comes (then it goes to the dead letters
 * as usual). */
dc_err dc_queue_hold(struct dc_queue *q, int64_t id, const char *key, struct dc_errinfo *ei) DC_WUR;
/* every item held under key is due at now_ms (claimed in arrival order); *released: how many */
dc_err dc_queue_release_held(struct dc_queue *q, const char *key, int64_t now_ms, uint64_t *released,
                             struct dc_errinfo *ei) DC_WUR;

dc_err dc_queue_stats(struct dc_queue *q, int64_t now_ms, struct dc_queue_stats *st, struct dc_errinfo *ei) DC_WUR;
/* A page of queued (dead=false) or dead items after id `after` (0 = from the start), data left out. */
dc_err dc_queue_list(struct dc_queue *q, bool dead, int64_t after, size_t max, struct dc_queue_item **items,
                     size_t *n, struct dc_errinfo *ei) DC_WUR;
dc_err dc_queue_get(struct dc_queue *q, int64_t id, struct dc_queue_item *item, struct dc_errinfo *ei) DC_WUR;
/* make a waiting or dead item due now (a dead one goes back to the queue with its attempts reset) */
dc_err dc_queue_requeue(struct dc_queue *q, int64_t id, int64_t now_ms, struct dc_errinfo *ei) DC_WUR;
/* Start-up of the only gateway on this store: items leased by an earlier run (which died with
 * them in flight) are due again now instead of when their leases run out, items held for
 * presence are due again now (their adapter looks at the presence afresh), and envelope files
 * (blob_min_bytes) that no item names, left by a put that died before its commit, are
 * removed once they are a minute old. On a shared store (PostgreSQL) only this instance's
 * own leases and holds: the other gateways' are theirs (and run out if those died). */
dc_err dc_queue_release_leases(struct dc_queue *q, uint64_t *released, struct dc_errinfo *ei) DC_WUR;
dc_err dc_queue_purge_dead(struct dc_queue *q, uint64_t *purged, struct dc_errinfo *ei) DC_WUR;
/* remove one item, queued (in flight or not) or dead, with its else and its file;
 * DC_ERR_NOT_FOUND when there is none. *removed (may be NULL): 1 */
dc_err dc_queue_remove(struct dc_queue *q, int64_t id, uint64_t *removed, struct dc_errinfo *ei) DC_WUR;
/* remove every queued item (dead: every dead one) whose destination matches dest_glob
 * (GLOB: * any run, ? one character), with their else and files */
dc_err dc_queue_purge_dest(struct dc_queue *q, const char *dest_glob, bool dead, uint64_t *removed,
                           struct dc_errinfo *ei) DC_WUR;
/* The store's own consistency check (SQLite: PRAGMA quick_check, which reads the whole file):
 * DC_ERR_IO with what the store said when it is damaged. For the daemon's start-up. */
dc_err dc_queue_check(struct dc_queue *q, struct dc_errinfo *ei) DC_WUR;
/* live items (queued, leased, held; not dead) whose origin or sender is key, for the queue
 * shares (0 when the store keeps no count) */
dc_err dc_queue_share(struct dc_queue *q, const char *key, uint64_t *n, struct dc_errinfo *ei) DC_WUR;

/* Re-routing (queue reroute): a waiting item gets a new destination, in one transaction. */
struct dc_queue_redest {
	const char *from;        /* the destination it must still have (else DC_ERR_AGAIN: changed meanwhile) */
	const char *dest;        /* the new one */
	const uint8_t *data;     /* a new envelope (resolve wrapped it for its endpoint), or NULL: its own */
	size_t len;
	int64_t now_ms;          /* a lease running past this: in flight, left alone (DC_ERR_AGAIN) */
	int64_t next_ms;         /* its next attempt (a hold: when the hold runs out) */
	const char *why;         /* becomes its last_error ("rerouted from ..."), may be NULL */
	const struct dc_queue_else *els; /* its else from now on, in place of the old one */
	size_t n_els;
};
/* Only an item that is queued, not dead, not leased (in flight) and still has r->from changes:
 * destination, envelope (when given), else; its attempts start again at 0, a presence hold
 * ends; created_ms (max_age) and expires_ms stay. DC_ERR_NOT_FOUND: no such queued item;
 * DC_ERR_AGAIN: in flight, or its destination changed meanwhile (ei says which);
 * DC_ERR_UNSUPPORTED: the store cannot do it. */
dc_err dc_queue_redest(struct dc_queue *q, int64_t id, const struct dc_queue_redest *r, struct dc_errinfo *ei) DC_WUR;

/* Envelopes in files of their own (blob_min_bytes): from this size on (0: the store keeps
 * every envelope inside). */
size_t dc_queue_file_min(const struct dc_queue *q);
#define DC_QUEUE_FILE_NAME 40
/* Write an envelope to a file of its own now, from any thread and without waiting for the
 * handle (no transaction), for a later dc_queue_put whose item names it (.file): a thread can
 * write big envelopes while another commits. The put takes the file over when it commits;
 * until then, and if the put fails, it is the caller's to remove (dc_queue_file_discard).
 * DC_ERR_UNSUPPORTED: this store keeps envelopes inside. */
dc_err dc_queue_file_write(struct dc_queue *q, const uint8_t *data, size_t len, char name[DC_QUEUE_FILE_NAME],
                           struct dc_errinfo *ei) DC_WUR;
void dc_queue_file_discard(struct dc_queue *q, const char *name);

/* backoff for the attempt-th retry: base*2^(attempt-1) capped at max, jittered into [d/2, d] */
int64_t dc_queue_backoff_ms(const struct dc_queue_opts *o, unsigned attempt);

/* ---- mediation (coordinate-mediation grants, recipients, and their mailboxes) -------------
 * A client DID granted mediation registers recipients (DIDs, or keys for coordinate-mediation
 * 2.0); each recipient names a mailbox (the DID part of it): the queued items whose
 * destination is "hold MAILBOX". One client per mailbox. Only the client that registered a
 * recipient sees and removes the items of its mailbox; the items stay ordinary queue items
 * (a hold runs out, max_age, queue rm) until then. Stores without these tables return
 * DC_ERR_UNSUPPORTED. */
enum dc_queue_med_change {
	DC_QUEUE_MED_DONE = 0, /* added or removed */
	DC_QUEUE_MED_SAME,     /* already so: no change */
	DC_QUEUE_MED_OTHERS,   /* add: the recipient (or its mailbox) belongs to another client */
	DC_QUEUE_MED_FULL,     /* add: the client has DC_QUEUE_MED_MAX_RECIPIENTS already */
};
#define DC_QUEUE_MED_MAX_RECIPIENTS 10000
dc_err dc_queue_med_grant(struct dc_queue *q, const char *client, int64_t now_ms, struct dc_errinfo *ei) DC_WUR;
dc_err dc_queue_med_granted(struct dc_queue *q, const char *client, bool *granted, struct dc_errinfo *ei) DC_WUR;
dc_err dc_queue_med_recipient(struct dc_queue *q, const char *client, const char *recipient, const char *mailbox,
                              bool add, int64_t now_ms, enum dc_queue_med_change *res, struct dc_errinfo *ei) DC_WUR;
/* a page of the client's recipients in the order they were added; *total: all of them.
 * *dids: an array of malloc'd strings, each and the array freed by the caller */
dc_err dc_queue_med_recipients(struct dc_queue *q, const char *client, size_t offset, size_t limit, char ***dids,
                               size_t *n, size_t *total, struct dc_errinfo *ei) DC_WUR;
/* every registered mailbox with its client (fn per row; start-up) */
dc_err dc_queue_med_each(struct dc_queue *q, void (*fn)(void *arg, const char *mailbox, const char *client),
                         void *arg, struct dc_errinfo *ei) DC_WUR;
struct dc_queue_mailbox_stats {
	uint64_t count, bytes;
	int64_t oldest_ms, newest_ms; /* created, 0 when empty */
	int64_t last_id;              /* the newest item's id, 0 when empty */
};
/* the client's mailboxes (mailbox NULL), or the one mailbox of its (else nothing) */
dc_err dc_queue_mailbox_stats(struct dc_queue *q, const char *client, const char *mailbox,
                              struct dc_queue_mailbox_stats *st, struct dc_errinfo *ei) DC_WUR;
/* up to max items with ids over after_id, oldest first, their envelopes too, stopping
 * before max_bytes of envelopes (the first item always comes); release with
 * dc_queue_items_free. Nothing changes: they stay until dc_queue_mailbox_ack. */
dc_err dc_queue_mailbox_get(struct dc_queue *q, const char *client, const char *mailbox, int64_t after_id, size_t max,
                            size_t max_bytes, struct dc_queue_item **items, size_t *n, struct dc_errinfo *ei) DC_WUR;
/* remove the ids that are in the client's mailboxes (the others are left alone and not
 * counted); *gone: how many went */
dc_err dc_queue_mailbox_ack(struct dc_queue *q, const char *client, const int64_t *ids, size_t n, size_t *gone,
                            struct dc_errinfo *ei) DC_WUR;
#endif
