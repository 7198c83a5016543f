/* The queue front: option defaults, backoff, and dispatch to the store's vtable. */
#include "queue_int.h"

#include <errno.h>
#include <pthread.h>

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A handle may be shared by threads: each operation (one transaction) runs alone on it. One
 * shared connection keeps SQLite's page cache warm, where one per thread would have every
 * commit of the others throw it away. */
#define LOCKED(q, call)                          \
	do {                                     \
		pthread_mutex_lock(&(q)->mu);    \
		dc_err rc_ = (call);             \
		pthread_mutex_unlock(&(q)->mu);  \
		return rc_;                      \
	} while (0)

void dc__queue_opts_fill(struct dc_queue_opts *o, const struct dc_queue_opts *in)
{
	struct dc_queue_opts d = { .max_items = 1000000, .max_item_bytes = 32u << 20, .retry_base_ms = 1000,
	                           .retry_max_ms = 3600000, .max_age_ms = INT64_C(72) * 3600 * 1000,
	                           .checkpoint_pages = 1000, .keys_max = 1000000,
	                           .keys_keep_ms = INT64_C(7) * 86400 * 1000 };
	if (in) {
		if (in->max_items)
			d.max_items = in->max_items;
		if (in->max_item_bytes)
			d.max_item_bytes = in->max_item_bytes;
		if (in->retry_base_ms > 0)
			d.retry_base_ms = in->retry_base_ms;
		if (in->retry_max_ms > 0)
			d.retry_max_ms = in->retry_max_ms;
		if (in->max_age_ms > 0)
			d.max_age_ms = in->max_age_ms;
		if (in->checkpoint_pages > 0)
			d.checkpoint_pages = in->checkpoint_pages;
		if (in->keys_max)
			d.keys_max = in->keys_max;
		if (in->keys_keep_ms > 0)
			d.keys_keep_ms = in->keys_keep_ms;
		d.sync_full = in->sync_full;
		d.blob_min_bytes = in->blob_min_bytes;
		d.dead_fn = in->dead_fn;
		d.dead_arg = in->dead_arg;
	}
	*o = d;
}

int dc__queue_write_all(int fd, const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t off = 0;
	while (off < len) {
		ssize_t w = write(fd, b + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return errno;
		if (w == 0)
			return EIO;
		off += (size_t)w;
	}
	return 0;
}

int64_t dc_queue_backoff_ms(const struct dc_queue_opts *o, unsigned attempt)
{
	int64_t d = o->retry_base_ms;
	for (unsigned i = 1; i < attempt && d < o->retry_max_ms; i++)
		d *= 2; /* no overflow: stops at the cap, which is bounded by the config */
	if (d > o->retry_max_ms)
		d = o->retry_max_ms;
	/* full jitter in the upper half: spreads retries, never sooner than half the delay */
	int64_t half = d / 2;
	return half + (half > 0 ? (int64_t)randombytes_uniform((uint32_t)(half > UINT32_MAX ? UINT32_MAX : half) + 1) : 0);
}

void dc_queue_close(struct dc_queue *q)
{
	if (q)
		q->ops->close(q);
}

const char *dc_queue_backend(const struct dc_queue *q)
{
	return q->ops->name;
}

dc_err dc_queue_watch(struct dc_queue *q, void (*fn)(void *arg), void *arg, struct dc_errinfo *ei)
{
	if (!q->ops->watch && !fn)
		return DC_OK;
	if (!q->ops->watch)
		return dc__fail(ei, DC_ERR_UNSUPPORTED, "queue: the %s store has no other writers to watch", q->ops->name);
	return q->ops->watch(q, fn, arg, ei); /* its own connection: not under the handle's lock */
}

dc_err dc_queue_exclusive(struct dc_queue *q, const char *name, bool *mine, struct dc_errinfo *ei)
{
	*mine = true;
	if (!q->ops->exclusive)
		return DC_OK;
	if (!name || !name[0] || strlen(name) > 1024) {
		*mine = false;
		return dc__fail(ei, DC_ERR_INVAL, "queue: a lock's name is 1 to 1024 bytes");
	}
	return q->ops->exclusive(q, name, mine, ei); /* a connection and a lock of its own */
}

dc_err dc_queue_identity(struct dc_queue *q, const char *did, struct dc_errinfo *ei)
{
	if (!q->ops->identity)
		return DC_OK;
	if (!did || !did[0])
		return dc__fail(ei, DC_ERR_INVAL, "queue: no identity to record");
	LOCKED(q, q->ops->identity(q, did, ei));
}

size_t dc_queue_file_min(const struct dc_queue *q)
{
	return q->ops->file_write ? q->o.blob_min_bytes : 0;
}

dc_err dc_queue_file_write(struct dc_queue *q, const uint8_t *data, size_t len, char name[DC_QUEUE_FILE_NAME],
                           struct dc_errinfo *ei)
{
	name[0] = 0;
	if (!q->ops->file_write || !q->o.blob_min_bytes)
		return dc__fail(ei, DC_ERR_UNSUPPORTED, "queue: this store keeps envelopes inside");
	if (len > q->o.max_item_bytes)
		return dc__fail(ei, DC_ERR_TOO_BIG, "queue: item of %zu bytes over the limit of %zu", len, q->o.max_item_bytes);
	return q->ops->file_write(q, data, len, name, ei); /* no lock: a new file of its own */
}

void dc_queue_file_discard(struct dc_queue *q, const char *name)
{
	if (q->ops->file_discard && name && name[0])
		q->ops->file_discard(q, name);
}

dc_err dc_queue_put(struct dc_queue *q, const struct dc_queue_new_item *items, size_t n, int64_t *ids_out,
                    struct dc_errinfo *ei)
{
	for (size_t i = 0; i < n; i++) {
		if (!items[i].data || !items[i].dest)
			return dc__fail(ei, DC_ERR_INVAL, "queue: item %zu has no data or destination", i);
		const char *f = items[i].file;
		if (f && (!f[0] || f[0] == '.' || strchr(f, '/') || strlen(f) >= DC_QUEUE_FILE_NAME))
			return dc__fail(ei, DC_ERR_INVAL, "queue: item %zu names no file of dc_queue_file_write", i);
		if (items[i].key && (!items[i].key[0] || strlen(items[i].key) > 1024))
			return dc__fail(ei, DC_ERR_INVAL, "queue: item %zu: a key is 1 to 1024 bytes", i);
		if (items[i].len > q->o.max_item_bytes)
			return dc__fail(ei, DC_ERR_TOO_BIG, "queue: item of %zu bytes over the limit of %zu", items[i].len,
			                q->o.max_item_bytes);
	}
	LOCKED(q, q->ops->put(q, items, n, ids_out, ei));
}

dc_err dc_queue_claim(struct dc_queue *q, int64_t now_ms, size_t max, unsigned per_dest, int64_t lease_ms,
                      struct dc_queue_item **items, size_t *n, struct dc_errinfo *ei)
{
	*items = NULL;
	*n = 0;
	if (max == 0)
		return DC_OK;
	LOCKED(q, q->ops->claim(q, now_ms, max, per_dest ? per_dest : 1, lease_ms > 0 ? lease_ms : 60000, items, n, ei));
}

dc_err dc_queue_ack(struct dc_queue *q, int64_t id, struct dc_errinfo *ei)
{
	LOCKED(q, q->ops->ack(q, id, ei));
}

dc_err dc_queue_retry_later(struct dc_queue *q, int64_t id, int64_t now_ms, const char *error, struct dc_errinfo *ei)
{
	LOCKED(q, q->ops->retry(q, id, now_ms, error, ei));
}

dc_err dc_queue_fail(struct dc_queue *q, int64_t id, int64_t now_ms, const char *reason, struct dc_errinfo *ei)
{
	LOCKED(q, q->ops->fail(q, id, now_ms, reason, ei));
}

dc_err dc_queue_hold(struct dc_queue *q, int64_t id, const char *key, struct dc_errinfo *ei)
{
	if (!key || !key[0])
		return dc__fail(ei, DC_ERR_INVAL, "queue: a hold needs a key");
	LOCKED(q, q->ops->hold(q, id, key, ei));
}

dc_err dc_queue_release_held(struct dc_queue *q, const char *key, int64_t now_ms, uint64_t *released,
                             struct dc_errinfo *ei)
{
	if (released)
		*released = 0;
	if (!key || !key[0])
		return dc__fail(ei, DC_ERR_INVAL, "queue: a release needs a key");
	LOCKED(q, q->ops->release_held(q, key, now_ms, released, ei));
}

dc_err dc_queue_stats(struct dc_queue *q, int64_t now_ms, struct dc_queue_stats *st, struct dc_errinfo *ei)
{
	LOCKED(q, q->ops->stats(q, now_ms, st, ei));
}

dc_err dc_queue_list(struct dc_queue *q, bool dead, int64_t after, size_t max, struct dc_queue_item **items,
                     size_t *n, struct dc_errinfo *ei)
{
	*items = NULL;
	*n = 0;
	LOCKED(q, q->ops->list(q, dead, after, max > 1000 ? 1000 : max, items, n, ei));
}

dc_err dc_queue_get(struct dc_queue *q, int64_t id, struct dc_queue_item *item, struct dc_errinfo *ei)
{
	LOCKED(q, q->ops->get(q, id, item, ei));
}

dc_err dc_queue_requeue(struct dc_queue *q, int64_t id, int64_t now_ms, struct dc_errinfo *ei)
{
	LOCKED(q, q->ops->requeue(q, id, now_ms, ei));
}

dc_err dc_queue_check(struct dc_queue *q, struct dc_errinfo *ei)
{
	if (!q->ops->check)
		return DC_OK;
	LOCKED(q, q->ops->check(q, ei));
}

dc_err dc_queue_share(struct dc_queue *q, const char *key, uint64_t *n, struct dc_errinfo *ei)
{
	*n = 0;
	if (!q->ops->share || !key)
		return DC_OK;
	LOCKED(q, q->ops->share(q, key, n, ei));
}

dc_err dc_queue_redest(struct dc_queue *q, int64_t id, const struct dc_queue_redest *r, struct dc_errinfo *ei)
{
	if (id <= 0 || !r || !r->from || !r->dest || (r->n_els && !r->els))
		return dc__fail(ei, DC_ERR_INVAL, "queue: redest: bad arguments");
	if (!q->ops->redest)
		return dc__fail(ei, DC_ERR_UNSUPPORTED, "queue: the %s store cannot re-route items", q->ops->name);
	if (r->data && r->len > q->o.max_item_bytes)
		return dc__fail(ei, DC_ERR_TOO_BIG, "queue: item of %zu bytes is over %zu", r->len, q->o.max_item_bytes);
	LOCKED(q, q->ops->redest(q, id, r, ei));
}

dc_err dc_queue_remove(struct dc_queue *q, int64_t id, uint64_t *removed, struct dc_errinfo *ei)
{
	if (id <= 0)
		return dc__fail(ei, DC_ERR_INVAL, "queue: no item %lld", (long long)id);
	LOCKED(q, q->ops->remove(q, id, NULL, false, removed, ei));
}

dc_err dc_queue_purge_dest(struct dc_queue *q, const char *dest_glob, bool dead, uint64_t *removed,
                           struct dc_errinfo *ei)
{
	if (!dest_glob || !dest_glob[0])
		return dc__fail(ei, DC_ERR_INVAL, "queue: purge --dest needs a pattern");
	LOCKED(q, q->ops->remove(q, 0, dest_glob, dead, removed, ei));
}

dc_err dc_queue_purge_dead(struct dc_queue *q, uint64_t *purged, struct dc_errinfo *ei)
{
	LOCKED(q, q->ops->purge_dead(q, purged, ei));
}

void dc_queue_items_free(struct dc_queue_item *items, size_t n)
{
	for (size_t i = 0; items && i < n; i++)
		dc_queue_item_clear(&items[i]);
	free(items);
}

void dc_queue_item_clear(struct dc_queue_item *it)
{
	free(it->msg_id);
	free(it->media_type);
	free(it->dest);
	free(it->origin);
	free(it->last_error);
	free(it->held);
	free(it->facts);
	free(it->data);
}

dc_err dc_queue_release_leases(struct dc_queue *q, uint64_t *released, struct dc_errinfo *ei)
{
	LOCKED(q, q->ops->release_leases(q, released, ei));
}

dc_err dc_queue_ack_many(struct dc_queue *q, const int64_t *ids, size_t n, size_t *gone, struct dc_errinfo *ei)
{
	if (gone)
		*gone = 0;
	if (!n)
		return DC_OK;
	LOCKED(q, q->ops->ack_many(q, ids, n, gone, ei));
}

/* ---- mediation ------------------------------------------------------------------------------ */
#define MED(q, ei)                                                                                   \
	do {                                                                                         \
		if (!(q)->ops->med)                                                                  \
			return dc__fail((ei), DC_ERR_UNSUPPORTED, "queue: this store keeps no mediation"); \
	} while (0)

dc_err dc_queue_med_grant(struct dc_queue *q, const char *client, int64_t now_ms, struct dc_errinfo *ei)
{
	MED(q, ei);
	if (!client || !client[0])
		return dc__fail(ei, DC_ERR_INVAL, "queue: a grant needs a client");
	LOCKED(q, q->ops->med->grant(q, client, now_ms, ei));
}

dc_err dc_queue_med_granted(struct dc_queue *q, const char *client, bool *granted, struct dc_errinfo *ei)
{
	*granted = false;
	MED(q, ei);
	if (!client)
		return DC_OK;
	LOCKED(q, q->ops->med->granted(q, client, granted, ei));
}

dc_err dc_queue_med_recipient(struct dc_queue *q, const char *client, const char *recipient, const char *mailbox,
                              bool add, int64_t now_ms, enum dc_queue_med_change *res, struct dc_errinfo *ei)
{
	*res = DC_QUEUE_MED_SAME;
	MED(q, ei);
	if (!client || !recipient || !mailbox || !recipient[0] || !mailbox[0])
		return dc__fail(ei, DC_ERR_INVAL, "queue: a recipient needs a client, a DID and a mailbox");
	LOCKED(q, q->ops->med->recipient(q, client, recipient, mailbox, add, now_ms, res, ei));
}

dc_err dc_queue_med_recipients(struct dc_queue *q, const char *client, size_t offset, size_t limit, char ***dids,
                               size_t *n, size_t *total, struct dc_errinfo *ei)
{
	*dids = NULL;
	*n = *total = 0;
	MED(q, ei);
	LOCKED(q, q->ops->med->recipients(q, client, offset, limit > 1000 ? 1000 : limit, dids, n, total, ei));
}

dc_err dc_queue_med_each(struct dc_queue *q, void (*fn)(void *arg, const char *mailbox, const char *client), void *arg,
                         struct dc_errinfo *ei)
{
	MED(q, ei);
	LOCKED(q, q->ops->med->each(q, fn, arg, ei));
}

dc_err dc_queue_mailbox_stats(struct dc_queue *q, const char *client, const char *mailbox,
                              struct dc_queue_mailbox_stats *st, struct dc_errinfo *ei)
{
	memset(st, 0, sizeof *st);
	MED(q, ei);
	LOCKED(q, q->ops->med->stats(q, client, mailbox, st, ei));
}

dc_err dc_queue_mailbox_get(struct dc_queue *q, const char *client, const char *mailbox, int64_t after_id, size_t max,
                            size_t max_bytes, struct dc_queue_item **items, size_t *n, struct dc_errinfo *ei)
{
	*items = NULL;
	*n = 0;
	MED(q, ei);
	if (max == 0)
		return DC_OK;
	if (max > 1000)
		max = 1000;
	int64_t *ids = NULL;
	size_t nid = 0, got = 0, bytes = 0;
	pthread_mutex_lock(&q->mu);
	dc_err rc = q->ops->med->ids(q, client, mailbox, after_id, max, &ids, &nid, ei);
	struct dc_queue_item *out = rc || !nid ? NULL : calloc(nid, sizeof *out);
	if (!rc && nid && !out)
		rc = DC_ERR_NOMEM;
	for (size_t i = 0; !rc && i < nid; i++) {
		struct dc_errinfo ge = { 0 };
		dc_err g = q->ops->get(q, ids[i], &out[got], &ge);
		if (g == DC_ERR_NOT_FOUND || g == DC_ERR_IO)
			continue; /* gone meanwhile, or its file unreadable: not deliverable now */
		if (g) {
			rc = g;
			break;
		}
		if (got && bytes + out[got].len > max_bytes) {
			dc_queue_item_clear(&out[got]);
			break;
		}
		bytes += out[got].len;
		got++;
	}
	pthread_mutex_unlock(&q->mu);
	free(ids);
	if (rc) {
		dc_queue_items_free(out, got);
		return rc;
	}
	if (!got) {
		free(out);
		out = NULL;
	}
	*items = out;
	*n = got;
	return DC_OK;
}

dc_err dc_queue_mailbox_ack(struct dc_queue *q, const char *client, const int64_t *ids, size_t n, size_t *gone,
                            struct dc_errinfo *ei)
{
	if (gone)
		*gone = 0;
	MED(q, ei);
	if (!n)
		return DC_OK;
	int64_t *own = malloc(n * sizeof *own);
	if (!own)
		return DC_ERR_NOMEM;
	memcpy(own, ids, n * sizeof *own);
	size_t k = n;
	pthread_mutex_lock(&q->mu);
	dc_err rc = q->ops->med->owned(q, client, own, &k, ei);
	if (!rc && k)
		rc = q->ops->ack_many(q, own, k, gone, ei);
	pthread_mutex_unlock(&q->mu);
	free(own);
	return rc;
}

void dc__dead_note_add(struct dc__dead_notes *d, int64_t id, char *msg_id, char *dest, char *reason)
{
	if (d->n == d->cap) {
		size_t nc = d->cap ? d->cap * 2 : 8;
		struct dc__dead_note *nv = realloc(d->v, nc * sizeof *nv);
		if (!nv) {
			free(msg_id);
			free(dest);
			free(reason);
			return;
		}
		d->v = nv;
		d->cap = nc;
	}
	d->v[d->n++] = (struct dc__dead_note){ .id = id, .msg_id = msg_id, .dest = dest, .reason = reason };
}

void dc__dead_notes_end(const struct dc_queue *q, struct dc__dead_notes *d, bool tell)
{
	for (size_t i = 0; i < d->n; i++) {
		struct dc__dead_note *n = &d->v[i];
		if (tell && q->o.dead_fn)
			q->o.dead_fn(q->o.dead_arg, n->id, n->msg_id, n->dest, n->reason);
		free(n->msg_id);
		free(n->dest);
		free(n->reason);
	}
	d->n = 0;
}

void dc__dead_notes_free(struct dc__dead_notes *d)
{
	free(d->v);
	*d = (struct dc__dead_notes){ 0 };
}
