/* adapters/file: DIDComm messages as files in folders (the DIDComm Filesystem Transport
 * Extension, didcomm-messaging extensions/filesystem_transport).
 *
 * Inbound: each `watch DIR [tag NAME]` is an endpoint folder. Files named *.dcem, *.dcsm,
 * *.dcpm in it, in its <thid>.thid/ and <abc>.threads/ subfolders and in
 * <abc>.threads/<thid>.thid/ are messages; every other file and subfolder is ignored. Folders
 * are watched with inotify (IN_CLOSE_WRITE, IN_MOVED_TO, new subfolders) on the loop thread,
 * scanned at start-up (what arrived while the gateway was down) and again every `rescan`
 * (inotify overflow, file systems that send no events). Order: files without an ordinal
 * prefix by ascending modification time first, then `N--name` files by N (numeric).
 *
 * Taking a file in, so that a half-copied file is never taken and no file is taken twice:
 *   1. lstat: a symlink or a special file is refused; a file over max_message_bytes is
 *      refused before it is read;
 *   2. it must have settled: unchanged for `settle` (mtime older than that), so a writer
 *      that copies in pieces without the extension's rename is waited for;
 *   3. rename to a claim name NAME.<id>.taking (out of the extension set: other readers and
 *      our own rescans no longer see it), open with O_NOFOLLOW, read, fstat again (changed
 *      under us: renamed back and retried later);
 *   4. submit; in the ack (loop thread): GW_ACCEPTED/GW_ANSWERED: removed (`after delete`) or
 *      moved (`after move DIR`); GW_TRY_LATER: renamed back, retried later; GW_REFUSED:
 *      renamed NAME.refused with the reason in NAME.reason beside it.
 *   A claim left by a crash (kill -9 between 3 and 4) is taken again after the restart (any
 *   scan lists claims of ours that are not in hand, and takes them first): never lost. It is
 *   not queued twice when the crash fell between the queue commit and the removal: each
 *   submit carries an idempotency key (the file's path under its own name, size and
 *   modification time; the gateway binds it to the bytes) that the queue stores in the same
 *   transaction, so the second take is acknowledged without a second item. <id> comes from
 *   the gateway's DID, so that gateways sharing a folder do not take each other's claims.
 *
 * Shared folders (`watch DIR shared`: the extension's duplex and fan-out folders, read and
 * written by others too): each file is submitted with only_ours, so the gateway takes only
 * what is encrypted to it; anything else comes back GW_REF_NOT_OURS and is renamed back as it
 * was, and remembered (path, size, mtime) so that it is not claimed again while unchanged. A
 * message uniquely ours goes as above. A multiplex one (gw_reply.multiplex: encrypted to
 * others too) is recorded after the commit in NAME-processed.txt (a line with the key of ours
 * that opened it, appended and fsync'd) and renamed back; the reader whose line brings the
 * sidecar to processed_threshold lines removes the message, then the sidecar (0: never). A
 * file whose sidecar names our DID (or one of its keys) is not taken; a claim of ours with
 * such a sidecar (a crash after our line) goes back untaken.
 *
 * Outbound: the rule action `file DIR` (the operator's: trusted) and `file:///path` service
 * endpoints (from DID documents: untrusted) write one file per message, named by its id and
 * queue item (stable across retries): a temporary .NAME.tmp created O_EXCL 0600, written,
 * fsync'd, renamed to NAME.dcem, then the folder fsync'd. The nesting the folder shows
 * (NAME.thid, ABC.threads, ABC.threads/NAME.thid) is used, none other; the message's thread is its id
 * (encrypted envelopes do not show thid: such a message starts its own thread). Paths with
 * `.` or `..` segments are refused. Untrusted folders must lie at or below an
 * `allow_endpoint` root (none: refused), and are reached from the root one segment at a time
 * with O_NOFOLLOW, so no symlink leads elsewhere. Folder missing, full or read-only: retry
 * (the queue's backoff, then its dead letter). WRITERS threads do the writes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "adapter.h"

#define MAX_PATH 4096
#define SCAN_MAX 1000000        /* candidates listed per endpoint and scan */
#define STANDBY_MS 1000         /* another gateway of the cluster reads the folder: asked again after this */
#define KICK_MS 20              /* after an inotify event: scan this soon (events come in bursts) */
#define BUSY_MS 1000            /* the gateway said "try later": wait this long */
#define WRITERS 4               /* threads writing outbox files (each waits on fsync) */
#define NEST_TTL_MS 2000        /* an outbox folder's nesting is looked at again after this */

struct file_conf {
	struct gw_conf_list watch;          /* "DIR [tag NAME] [shared]" */
	struct gw_conf_list allow_endpoint; /* roots for file: endpoints from DID documents */
	char *after;                        /* "delete" | "move DIR" */
	int64_t settle_ms, rescan_ms;
	unsigned in_flight;
	unsigned processed_threshold;       /* shared: lines of a -processed.txt that let a multiplex
	                                     * file go (0: never, it stays for the others) */
};

#define O(f) offsetof(struct file_conf, f)
static const struct gw_conf_key file_keys[] = {
	{ "watch", GW_CONF_LIST, O(watch), 0, 0, NULL, NULL },
	{ "allow_endpoint", GW_CONF_LIST, O(allow_endpoint), 0, 0, NULL, NULL },
	{ "after", GW_CONF_STR, O(after), 1, MAX_PATH, "delete", NULL },
	{ "settle", GW_CONF_MS, O(settle_ms), 0, 3600000, "2s", NULL },
	{ "rescan", GW_CONF_MS, O(rescan_ms), 100, 86400000, "30s", NULL },
	{ "in_flight", GW_CONF_UINT, O(in_flight), 1, 100000, "64", NULL },
	{ "processed_threshold", GW_CONF_UINT, O(processed_threshold), 0, 10000, "0", NULL },
};
#undef O

/* ---- names --------------------------------------------------------------------------------- */
static const char *const exts[] = { ".dcem", ".dcsm", ".dcpm" };
static const char *const media[] = { "application/didcomm-encrypted+json", "application/didcomm-signed+json",
	                             "application/didcomm-plain+json" };

/* which of exts[] name ends with, or -1 */
static int ext_of(const char *name, size_t n)
{
	if (n <= 5)
		return -1;
	for (int i = 0; i < 3; i++)
		if (memcmp(name + n - 5, exts[i], 5) == 0)
			return i;
	return -1;
}

static bool ends_with(const char *s, const char *sfx)
{
	size_t n = strlen(s), k = strlen(sfx);
	return n > k && strcmp(s + n - k, sfx) == 0;
}

/* the ordinal prefix "DIGITS--": its digits without leading zeros into ord; false without one */
static bool ordinal(const char *name, char *ord, size_t n)
{
	size_t d = strspn(name, "0123456789");
	if (d == 0 || name[d] != '-' || name[d + 1] != '-')
		return false;
	while (d > 1 && *name == '0')
		name++, d--;
	if (d >= n)
		return false; /* absurdly long: treated as unprefixed */
	memcpy(ord, name, d);
	ord[d] = 0;
	return true;
}

static int64_t now_ms(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* ---- the adapter ------------------------------------------------------------------------------ */
struct cand {
	char *rel;       /* relative to the endpoint folder: "x.dcem", "a.thid/x.dcem", ... */
	int64_t mtime;   /* ns */
	char ord[24];    /* ordinal prefix digits, "" when none */
	bool claimed;    /* a claim of ours not in hand: left by a crash */
};

struct endpoint {
	struct gw_adapter *ad;
	char *dir, *tag;
	struct cand *list;
	size_t n, pos;
	bool dirty, scanned, warned_ro;
	bool shared;        /* a duplex folder others read and write too: only what is ours is taken */
	unsigned in_flight;
	int64_t retry_at;   /* monotonic ms: busy until then */
};

struct take {
	struct take *prev, *next;
	struct endpoint *ep;
	int dfd;             /* the file's folder */
	char *name, *claim;  /* in it: the file's name and its claim name */
	char *shown;         /* the full path, for logs */
	uint64_t seen;       /* shared endpoints: the file's entry in the looked-at set */
};

struct wdir {
	int wd;
	size_t ep;
};

struct wreq {
	struct wreq *next;
	char *target;
	bool untrusted;
	const struct gw_envelope *env;
	gw_send_done_fn *done;
	void *arg;
};

struct nest {
	char path[256];
	int64_t at;
	bool threads, thid;
};

struct gw_adapter {
	const struct file_conf *conf;
	struct gw_host *host;
	size_t max_bytes;
	struct endpoint *eps;
	size_t n_eps;
	char *move_dir;            /* after move DIR; NULL: delete */
	char **roots;              /* allow_endpoint, as given (absolute, no . or ..) */
	size_t n_roots;
	char claim_sfx[24];        /* ".<8 hex>.taking" */
	/* inbound, loop thread */
	int ino;
	struct gw_watch *ino_w;
	struct wdir *wds;
	size_t n_wds;
	struct gw_timer *rescan_t, *soon_t;
	int64_t soon_at;
	struct take *takes;
	bool started, stopping, no_inbound;
	/* outbound */
	pthread_t th[WRITERS];
	unsigned n_th;
	bool th_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct wreq *head, **tail;
	bool stop;
	unsigned counter;
	pthread_mutex_t nest_mu;   /* for nests[] */
	struct nest nests[8];
	/* shared endpoints (loop thread): files looked at and left (not ours, or recorded in
	 * their -processed.txt), by a hash of path, size and modification time: not claimed
	 * again while they stay as they are. Open addressing; when half full it is emptied (each
	 * file is then looked at once more). */
	uint64_t *looked;
	size_t n_looked;
};
#define LOOKED_SLOTS 65536

static void pump(void *arg);
static void file_free(struct gw_adapter *ad);

static void take_free(struct take *t)
{
	if (!t)
		return;
	if (t->dfd >= 0)
		close(t->dfd);
	free(t->name);
	free(t->claim);
	free(t->shown);
	free(t);
}

static void cands_free(struct endpoint *ep)
{
	for (size_t i = 0; i < ep->n; i++)
		free(ep->list[i].rel);
	free(ep->list);
	ep->list = NULL;
	ep->n = ep->pos = 0;
}

/* loop thread: run pump() in after_ms (or sooner if it is due sooner already) */
static void kick(struct gw_adapter *ad, int64_t after_ms)
{
	if (ad->stopping || ad->no_inbound)
		return;
	if (after_ms < 0)
		after_ms = 0;
	int64_t due = now_ms(CLOCK_MONOTONIC) + after_ms;
	if (ad->soon_t && ad->soon_at <= due)
		return;
	if (ad->soon_t)
		ad->host->timer_stop(ad->host, ad->soon_t);
	ad->soon_t = NULL;
	if (ad->host->timer_start(ad->host, (uint64_t)after_ms, 0, pump, ad, &ad->soon_t) == DC_OK)
		ad->soon_at = due;
	else
		ad->soon_t = NULL; /* the rescan timer comes round anyway */
}

/* ---- scanning -------------------------------------------------------------------------------- */
static void watch_dir(struct gw_adapter *ad, size_t ep, const char *path)
{
	if (ad->ino < 0)
		return;
	int wd = inotify_add_watch(ad->ino, path,
	                           IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK);
	if (wd < 0) {
		gw_host_log(ad->host, GW_LOG_WARN, "%s: cannot watch (%s): found by rescans only", path, strerror(errno));
		return;
	}
	for (size_t i = 0; i < ad->n_wds; i++)
		if (ad->wds[i].wd == wd)
			return;
	struct wdir *n = realloc(ad->wds, (ad->n_wds + 1) * sizeof *n);
	if (!n)
		return;
	ad->wds = n;
	ad->wds[ad->n_wds++] = (struct wdir){ .wd = wd, .ep = ep };
}

struct scan {
	struct cand *v;
	size_t n, cap;
	bool oom;
};

static void add_cand(struct scan *s, const char *rel, const struct stat *st, bool claimed)
{
	if (s->n >= SCAN_MAX || s->oom)
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct cand *v = realloc(s->v, cap * sizeof *v);
		if (!v) {
			s->oom = true;
			return;
		}
		s->v = v;
		s->cap = cap;
	}
	struct cand *c = &s->v[s->n];
	memset(c, 0, sizeof *c);
	if (!(c->rel = strdup(rel))) {
		s->oom = true;
		return;
	}
	c->mtime = mtime_ns(st);
	c->claimed = claimed;
	const char *base = strrchr(rel, '/');
	if (!ordinal(base ? base + 1 : rel, c->ord, sizeof c->ord))
		c->ord[0] = 0;
	s->n++;
}

/* the claim rel/nm is one the gateway has now (else: left by a crash, to be taken again) */
static bool in_hand(struct gw_adapter *ad, const struct endpoint *ep, const char *rel, const char *nm)
{
	char shown[MAX_PATH];
	size_t n = strlen(nm) - strlen(ad->claim_sfx);
	if (snprintf(shown, sizeof shown, "%s/%s%s%.*s", ep->dir, rel, rel[0] ? "/" : "", (int)n, nm) >= (int)sizeof shown)
		return true;
	for (const struct take *t = ad->takes; t; t = t->next)
		if (t->ep == ep && strcmp(t->shown, shown) == 0)
			return true;
	return false;
}

/* one folder of an endpoint: messages into s; depth 0 (the endpoint folder) descends into
 * *.thid and *.threads, depth 1 *.threads into *.thid */
static void scan_dir(struct gw_adapter *ad, size_t epi, const char *rel, int depth, bool threads, struct scan *s)
{
	struct endpoint *ep = &ad->eps[epi];
	char path[MAX_PATH];
	if (snprintf(path, sizeof path, "%s%s%s", ep->dir, rel[0] ? "/" : "", rel) >= (int)sizeof path)
		return;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | (depth ? O_NOFOLLOW : 0));
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		if (depth == 0) {
			gw_host_log(ad->host, GW_LOG_WARN, "%s: cannot read the folder: %s", path, strerror(errno));
			gw_host_conn(ad->host, ep->dir, GW_CONN_DOWN, strerror(errno));
		}
		return;
	}
	if (depth == 0) /* a watched folder is up while it can be read */
		gw_host_conn(ad->host, ep->dir, GW_CONN_UP, NULL);
	watch_dir(ad, epi, path); /* the same one again is a no-op */
	struct dirent *e;
	while ((e = readdir(d))) {
		const char *nm = e->d_name;
		size_t n = strlen(nm);
		if (nm[0] == '.' && (n == 1 || (n == 2 && nm[1] == '.')))
			continue;
		bool claimed = ends_with(nm, ad->claim_sfx) && ext_of(nm, n - strlen(ad->claim_sfx)) >= 0 &&
		               !in_hand(ad, ep, rel, nm);
		bool sub = depth == 0 ? (ends_with(nm, ".thid") || ends_with(nm, ".threads"))
		                      : (threads && ends_with(nm, ".thid"));
		if (ext_of(nm, n) < 0 && !claimed && !sub)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), nm, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		char r[MAX_PATH];
		if (snprintf(r, sizeof r, "%s%s%s", rel, rel[0] ? "/" : "", nm) >= (int)sizeof r)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (sub)
				scan_dir(ad, epi, r, depth + 1, depth == 0 && ends_with(nm, ".threads"), s);
			continue;
		}
		if (ext_of(nm, n) >= 0 || claimed)
			add_cand(s, r, &st, claimed); /* symlinks and special files too: take() refuses them */
	}
	closedir(d);
}

static int cand_cmp(const void *a_, const void *b_)
{
	const struct cand *a = a_, *b = b_;
	if (a->claimed != b->claimed)
		return a->claimed ? -1 : 1; /* taken before a crash: first */
	if (!a->ord[0] != !b->ord[0])
		return a->ord[0] ? 1 : -1; /* unprefixed first */
	if (a->ord[0]) {
		size_t la = strlen(a->ord), lb = strlen(b->ord);
		if (la != lb)
			return la < lb ? -1 : 1;
		int c = strcmp(a->ord, b->ord);
		if (c)
			return c;
	} else if (a->mtime != b->mtime) {
		return a->mtime < b->mtime ? -1 : 1;
	}
	return strcmp(a->rel, b->rel);
}

static void rescan(struct gw_adapter *ad, size_t epi)
{
	struct endpoint *ep = &ad->eps[epi];
	struct scan s = { 0 };
	scan_dir(ad, epi, "", 0, false, &s);
	if (s.oom)
		gw_host_log(ad->host, GW_LOG_WARN, "%s: out of memory listing the folder: %zu files this round", ep->dir, s.n);
	if (s.n)
		qsort(s.v, s.n, sizeof *s.v, cand_cmp);
	cands_free(ep);
	ep->list = s.v;
	ep->n = s.n;
	ep->scanned = true;
	ep->dirty = false;
}

/* ---- taking a file in -------------------------------------------------------------------------- */
/* Everything below works relative to the file's folder, opened from the endpoint folder one
 * name at a time without following symlinks: a subfolder swapped for a symlink between the
 * scan and the take leads nowhere else. */
static int open_sub(const char *top, const char *rel)
{
	int fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char seg[NAME_MAX + 1];
	const char *end = strrchr(rel, '/');
	for (const char *s = rel; fd >= 0 && end && s < end;) {
		size_t k = strcspn(s, "/");
		if (k == 0 || k > NAME_MAX) {
			close(fd);
			return -1;
		}
		memcpy(seg, s, k);
		seg[k] = 0;
		int nfd = openat(fd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = nfd;
		s += k + 1;
	}
	return fd;
}

/* ---- shared endpoints ------------------------------------------------------------------------ */
static uint64_t looked_key(const char *shown, const struct stat *st)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a over the path, then size and mtime */
	for (const char *p = shown; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
	int64_t v[2] = { (int64_t)st->st_size, mtime_ns(st) };
	for (size_t i = 0; i < sizeof v; i++)
		h = (h ^ ((const uint8_t *)v)[i]) * 1099511628211ull;
	return h ? h : 1; /* 0 marks a free slot */
}

static bool looked_has(const struct gw_adapter *ad, uint64_t k)
{
	for (size_t i = k & (LOOKED_SLOTS - 1); ad->looked && ad->looked[i]; i = (i + 1) & (LOOKED_SLOTS - 1))
		if (ad->looked[i] == k)
			return true;
	return false;
}

static void looked_add(struct gw_adapter *ad, uint64_t k)
{
	if (!ad->looked && !(ad->looked = calloc(LOOKED_SLOTS, sizeof *ad->looked)))
		return; /* looked at again next time: slower, not wrong */
	if (looked_has(ad, k))
		return;
	if (ad->n_looked >= LOOKED_SLOTS / 2) {
		memset(ad->looked, 0, LOOKED_SLOTS * sizeof *ad->looked);
		ad->n_looked = 0;
	}
	size_t i = k & (LOOKED_SLOTS - 1);
	while (ad->looked[i])
		i = (i + 1) & (LOOKED_SLOTS - 1);
	ad->looked[i] = k;
	ad->n_looked++;
}

/* NAME's sidecar (the extension's convention for multiplex-encrypted files): NAME-processed.txt,
 * one line per key that processed it. *ours: a line is the gateway's DID or one of its keys;
 * the number of lines, or -1 when there is none */
static int sidecar_read(const struct gw_adapter *ad, int dfd, const char *name, bool *ours)
{
	char sc[NAME_MAX + 32], buf[65536];
	*ours = false;
	snprintf(sc, sizeof sc, "%s-processed.txt", name);
	int fd = openat(dfd, sc, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t got = 0;
	for (ssize_t k; got < sizeof buf - 1 && (k = read(fd, buf + got, sizeof buf - 1 - got)) != 0;) {
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			break;
		got += (size_t)k;
	}
	close(fd);
	buf[got] = 0;
	const char *did = ad->host->our_did ? ad->host->our_did : "";
	size_t dl = strlen(did);
	int lines = 0;
	for (char *l = buf; *l;) {
		size_t k = strcspn(l, "\n");
		while (k && (l[k - 1] == '\r' || l[k - 1] == ' '))
			k--;
		if (k) {
			lines++;
			*ours |= dl && strncmp(l, did, dl) == 0 && (k == dl || l[dl] == '#');
		}
		l += strcspn(l, "\n");
		l += *l == '\n';
	}
	return lines;
}

/* one line for us (the key of ours that opened it), made durable; the lines now, or -1 */
static int sidecar_add(struct gw_adapter *ad, int dfd, const char *name, const char *kid, const char *shown)
{
	char sc[NAME_MAX + 32], line[600];
	snprintf(sc, sizeof sc, "%s-processed.txt", name);
	int n = snprintf(line, sizeof line, "%s\n", kid);
	int fd = openat(dfd, sc, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0666); /* others append too */
	bool okw = fd >= 0 && n > 0 && (size_t)n < sizeof line && write(fd, line, (size_t)n) == n && fsync(fd) == 0;
	int e = errno;
	if (fd >= 0)
		close(fd);
	if (!okw) {
		gw_host_log(ad->host, GW_LOG_ERROR, "%s-processed.txt: cannot record that we processed it: %s", shown,
		            strerror(e));
		return -1;
	}
	bool ours;
	return sidecar_read(ad, dfd, name, &ours);
}

/* NAME refused: FROM (NAME or its claim) renamed NAME.refused, the reason in NAME.reason */
static void set_aside(struct gw_adapter *ad, int dfd, const char *from, const char *name, const char *shown,
                      const char *why)
{
	char to[NAME_MAX + 16];
	snprintf(to, sizeof to, "%s.refused", name);
	if (renameat(dfd, from, dfd, to) != 0) {
		gw_host_log(ad->host, GW_LOG_ERROR, "%s: cannot rename it out of the way (%s); refused: %s", shown,
		            strerror(errno), why);
		return;
	}
	snprintf(to, sizeof to, "%s.reason", name);
	int fd = openat(dfd, to, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		char line[600];
		int n = snprintf(line, sizeof line, "%s\n", why);
		if (n > 0 && write(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1) < 0)
			gw_host_log(ad->host, GW_LOG_WARN, "%s.reason: %s", shown, strerror(errno));
		close(fd);
	}
	gw_host_log(ad->host, GW_LOG_INFO, "%s: refused, renamed %s.refused: %s", shown, name, why);
}

static void put_back(struct gw_adapter *ad, int dfd, const char *claim, const char *name, const char *shown)
{
	if (renameat(dfd, claim, dfd, name) != 0)
		gw_host_log(ad->host, GW_LOG_WARN, "%s: cannot rename its claim back: %s (taken again at the next start)",
		            shown, strerror(errno));
}

static void take_unlink(struct gw_adapter *ad, struct take *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		ad->takes = t->next;
	if (t->next)
		t->next->prev = t->prev;
}

/* taken in: the file goes (`after delete`) or is moved (`after move DIR`) */
static void finish_taken(struct gw_adapter *ad, struct take *t)
{
	if (ad->move_dir) {
		char to[MAX_PATH + 16];
		struct stat st;
		/* never over an earlier one of the same name: NAME~1.dcem, NAME~2.dcem, ... */
		snprintf(to, sizeof to, "%s/%s", ad->move_dir, t->name);
		size_t stem = strlen(t->name) - 5; /* the name ends with the extension (ext_of) */
		for (unsigned k = 1; k < 1000 && lstat(to, &st) == 0; k++)
			snprintf(to, sizeof to, "%s/%.*s~%u%s", ad->move_dir, (int)stem, t->name, k, t->name + stem);
		if (renameat(t->dfd, t->claim, AT_FDCWD, to) == 0)
			return;
		gw_host_log(ad->host, GW_LOG_WARN, "%s: cannot move to %s: %s (renamed .done instead)", t->shown, to,
		            strerror(errno));
		snprintf(to, sizeof to, "%s.done", t->name);
		if (renameat(t->dfd, t->claim, t->dfd, to) == 0)
			return;
	} else if (unlinkat(t->dfd, t->claim, 0) == 0) {
		return;
	}
	gw_host_log(ad->host, GW_LOG_ERROR, "%s: taken in, but cannot remove its claim: %s (it will be taken again)",
	            t->shown, strerror(errno));
}

static void file_ack(void *arg, const struct gw_reply *r)
{
	struct take *t = arg;
	struct endpoint *ep = t->ep;
	struct gw_adapter *ad = ep->ad;
	switch (r->outcome) {
	case GW_ACCEPTED:
	case GW_ANSWERED: /* a file carries no return route: an answer goes nowhere */
		if (ep->shared && r->multiplex) {
			/* not uniquely ours: recorded in its sidecar and left for the others, unless our
			 * line brings the sidecar to the threshold: then message and sidecar go together */
			int lines = sidecar_add(ad, t->dfd, t->name, r->multiplex, t->shown);
			if (lines > 0 && ad->conf->processed_threshold && (unsigned)lines >= ad->conf->processed_threshold) {
				char sc[NAME_MAX + 32];
				snprintf(sc, sizeof sc, "%s-processed.txt", t->name);
				finish_taken(ad, t);
				unlinkat(t->dfd, sc, 0);
				gw_host_log(ad->host, GW_LOG_DEBUG, "%s: processed by %d keys: removed with its sidecar", t->shown,
				            lines);
			} else {
				put_back(ad, t->dfd, t->claim, t->name, t->shown);
				looked_add(ad, t->seen);
			}
			break;
		}
		finish_taken(ad, t);
		break;
	case GW_TRY_LATER:
		put_back(ad, t->dfd, t->claim, t->name, t->shown);
		ep->retry_at = now_ms(CLOCK_MONOTONIC) + BUSY_MS;
		ep->dirty = true;
		gw_host_log(ad->host, GW_LOG_DEBUG, "%s: try later: %s", t->shown, r->why ? r->why : "");
		break;
	case GW_REFUSED: {
		if (r->refusal == GW_REF_NOT_OURS) { /* a shared folder: someone else's, left as it is */
			put_back(ad, t->dfd, t->claim, t->name, t->shown);
			looked_add(ad, t->seen);
			break;
		}
		char why[500];
		snprintf(why, sizeof why, "%s%s%s", r->why ? r->why : "refused", r->code && r->code[0] ? " " : "",
		         r->code ? r->code : "");
		set_aside(ad, t->dfd, t->claim, t->name, t->shown, why);
		break;
	}
	}
	ep->in_flight--;
	take_unlink(ad, t);
	take_free(t);
	kick(ad, 0);
}

enum took { TOOK, SKIP, WAIT, BUSY };

/* one candidate; *wait_ms set for WAIT */
static enum took take(struct gw_adapter *ad, struct endpoint *ep, const struct cand *c, int64_t *wait_ms)
{
	char shown[MAX_PATH], name[NAME_MAX + 1], claim[NAME_MAX + 32], why[300];
	const char *b = strrchr(c->rel, '/');
	b = b ? b + 1 : c->rel;
	if (snprintf(shown, sizeof shown, "%s/%s", ep->dir, c->rel) >= (int)sizeof shown ||
	    snprintf(name, sizeof name, "%s", b) >= (int)sizeof name)
		return SKIP;
	if (c->claimed) {
		snprintf(claim, sizeof claim, "%s", name);
		name[strlen(name) - strlen(ad->claim_sfx)] = 0;
		shown[strlen(shown) - strlen(ad->claim_sfx)] = 0;
	} else if (snprintf(claim, sizeof claim, "%s%s", name, ad->claim_sfx) >= (int)sizeof claim) {
		return SKIP;
	}
	int dfd = open_sub(ep->dir, c->rel);
	if (dfd < 0)
		return SKIP; /* the folder went (or became a symlink): the next scan sees */
	enum took res = SKIP;
	int fd = -1;
	uint8_t *data = NULL;
	struct take *t = NULL;
	const char *cur = c->claimed ? claim : name; /* where the file is now */
	struct stat st;
	if (fstatat(dfd, cur, &st, AT_SYMLINK_NOFOLLOW) != 0)
		goto out; /* gone: another reader took it */
	if (!S_ISREG(st.st_mode)) {
		set_aside(ad, dfd, cur, name, shown,
		          S_ISLNK(st.st_mode) ? "a symbolic link: refused (only regular files are taken)"
		                              : "not a regular file: refused");
		goto out;
	}
	if ((uint64_t)st.st_size > ad->max_bytes) {
		snprintf(why, sizeof why, "%lld bytes, over max_message_bytes %zu", (long long)st.st_size, ad->max_bytes);
		set_aside(ad, dfd, cur, name, shown, why);
		goto out;
	}
	uint64_t seen = 0;
	if (ep->shared) {
		/* looked at already (someone else's, or processed by us and left for the others) */
		seen = looked_key(shown, &st);
		if (!c->claimed && looked_has(ad, seen))
			goto out;
		bool ours;
		if (sidecar_read(ad, dfd, name, &ours) >= 0 && ours) {
			if (c->claimed) /* our line was written, the crash came before the claim went back */
				put_back(ad, dfd, claim, name, shown);
			looked_add(ad, seen);
			goto out;
		}
	}
	int64_t age = now_ms(CLOCK_REALTIME) - mtime_ns(&st) / 1000000;
	if (!c->claimed && age < ad->conf->settle_ms && age > -1000) {
		*wait_ms = ad->conf->settle_ms - age + 1;
		res = WAIT; /* may still be being written */
		goto out;
	}
	if (!c->claimed && renameat(dfd, name, dfd, claim) != 0) {
		if (errno != ENOENT && !ep->warned_ro)
			gw_host_log(ad->host, GW_LOG_WARN, "%s: cannot rename files to take them (%s): the folder is skipped",
			            ep->dir, strerror(errno));
		ep->warned_ro |= errno != ENOENT;
		goto out;
	}
	fd = openat(dfd, claim, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st2;
	if (fd < 0 || fstat(fd, &st2) != 0 || !S_ISREG(st2.st_mode)) {
		snprintf(why, sizeof why, "cannot read it: %s", fd < 0 ? strerror(errno) : "not a regular file");
		set_aside(ad, dfd, claim, name, shown, why);
		goto out;
	}
	if ((uint64_t)st2.st_size > ad->max_bytes) {
		snprintf(why, sizeof why, "%lld bytes, over max_message_bytes %zu", (long long)st2.st_size, ad->max_bytes);
		set_aside(ad, dfd, claim, name, shown, why);
		goto out;
	}
	size_t want = (size_t)st2.st_size, got = 0;
	if (!(data = malloc(want + 1))) {
		put_back(ad, dfd, claim, name, shown);
		res = BUSY;
		goto out;
	}
	for (;;) {
		ssize_t k = read(fd, data + got, want + 1 - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
		if (got == want + 1)
			break;
	}
	struct stat st3;
	if (fstat(fd, &st3) != 0 || got != want || st3.st_size != st2.st_size || mtime_ns(&st3) != mtime_ns(&st2)) {
		put_back(ad, dfd, claim, name, shown); /* still being written: later */
		*wait_ms = ad->conf->settle_ms + 1;
		res = WAIT;
		goto out;
	}
	if (want == 0) {
		set_aside(ad, dfd, claim, name, shown, "empty file: refused");
		goto out;
	}
	if (!(t = calloc(1, sizeof *t)) || (t->dfd = -1, !(t->name = strdup(name))) || !(t->claim = strdup(claim)) ||
	    !(t->shown = strdup(shown))) {
		put_back(ad, dfd, claim, name, shown);
		res = BUSY;
		goto out;
	}
	t->ep = ep;
	t->dfd = dfd;
	t->seen = seen;
	int x = ext_of(name, strlen(name));
	/* the file's identity, the same when its claim is taken again after a crash: where it
	 * lies (under its own name), its size and modification time (a rename keeps both); the
	 * gateway binds the bytes to it */
	char key[MAX_PATH + 64];
	snprintf(key, sizeof key, "%s\n%lld\n%lld", shown, (long long)st2.st_size, (long long)mtime_ns(&st2));
	struct gw_inbound m = { .source = shown, .media_type = x >= 0 ? media[x] : NULL, .tag = ep->tag,
		                .data = data, .len = want, .live = false, .key = key, .only_ours = ep->shared };
	data = NULL; /* submit takes it */
	dc_err rc = ad->host->submit(ad->host, &m, file_ack, t);
	if (rc) {
		if (!c->claimed) /* a claim of ours from before: left for the next start */
			put_back(ad, dfd, claim, name, shown);
		ad->no_inbound |= rc == DC_ERR_UNSUPPORTED; /* a one-shot command: it sends, it does not take in */
		t->dfd = -1;
		res = BUSY;
		goto out;
	}
	gw_host_log(ad->host, GW_LOG_DEBUG, "taken %s (%zu bytes)", shown, want);
	t->next = ad->takes;
	if (ad->takes)
		ad->takes->prev = t;
	ad->takes = t;
	ep->in_flight++;
	t = NULL;
	dfd = -1; /* the take's now */
	res = TOOK;
out:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	free(data);
	take_free(t);
	return res;
}

/* loop thread: take what can be taken, in order */
static void pump(void *arg)
{
	struct gw_adapter *ad = arg;
	if (ad->soon_t) {
		ad->host->timer_stop(ad->host, ad->soon_t);
		ad->soon_t = NULL;
	}
	if (ad->stopping || ad->no_inbound)
		return;
	if (ad->host->draining(ad->host))
		return;
	int64_t next = -1; /* ms until something is due */
	for (size_t i = 0; i < ad->n_eps && !ad->no_inbound; i++) {
		struct endpoint *ep = &ad->eps[i];
		int64_t now = now_ms(CLOCK_MONOTONIC);
		if (ep->retry_at > now) {
			if (next < 0 || ep->retry_at - now < next)
				next = ep->retry_at - now;
			continue;
		}
		/* several gateways on one queue: one reads the folder, the others look every second */
		if (ad->host->exclusive && !ad->host->exclusive(ad->host, ep->dir)) {
			if (next < 0 || STANDBY_MS < next)
				next = STANDBY_MS;
			continue;
		}
		if (ep->dirty || !ep->scanned)
			rescan(ad, i);
		while (ep->pos < ep->n && ep->in_flight < ad->conf->in_flight) {
			int64_t w = 0;
			enum took r = take(ad, ep, &ep->list[ep->pos], &w);
			if (r == WAIT) {
				if (next < 0 || w < next)
					next = w;
				ep->dirty = true; /* read the folder again then: the order may have changed */
				break;
			}
			if (r == BUSY) {
				ep->retry_at = now_ms(CLOCK_MONOTONIC) + BUSY_MS;
				ep->dirty = true;
				if (next < 0 || BUSY_MS < next)
					next = BUSY_MS;
				break;
			}
			ep->pos++;
		}
		if (ep->pos >= ep->n && ep->n)
			cands_free(ep);
	}
	if (next >= 0)
		kick(ad, next);
}

static void on_rescan(void *arg)
{
	struct gw_adapter *ad = arg;
	for (size_t i = 0; i < ad->n_eps; i++)
		ad->eps[i].dirty = true;
	kick(ad, 0);
}

static void on_inotify(void *arg, int fd, unsigned events)
{
	struct gw_adapter *ad = arg;
	(void)events;
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;
			p += sizeof *e + e->len;
			if (e->mask & IN_Q_OVERFLOW) {
				for (size_t i = 0; i < ad->n_eps; i++)
					ad->eps[i].dirty = true;
				any = true;
				continue;
			}
			const char *nm = e->len ? e->name : "";
			bool dir = (e->mask & IN_ISDIR) != 0;
			if (!dir && ext_of(nm, strlen(nm)) < 0)
				continue; /* our own claims and anything else */
			for (size_t i = 0; i < ad->n_wds; i++)
				if (ad->wds[i].wd == e->wd) {
					ad->eps[ad->wds[i].ep].dirty = true;
					any = true;
				}
		}
	}
	if (any)
		kick(ad, KICK_MS);
}

/* ---- outbound --------------------------------------------------------------------------------- */
/* "/a/b" or "file:///a/b" or "file://localhost/a/b" (percent-decoded) into out; false when it
 * is none of these, or has a "." or ".." segment, a NUL, or does not fit */
static bool target_path(const char *t, char *out, size_t n)
{
	const char *p = t;
	if (strncmp(t, "file:", 5) == 0) {
		p = t + 5;
		if (strncmp(p, "//", 2) == 0) {
			p += 2;
			if (strncmp(p, "localhost/", 10) == 0)
				p += 9;
			else if (*p != '/')
				return false; /* another host's folder */
		}
	}
	if (*p != '/')
		return false;
	size_t o = 0;
	for (; *p; p++) {
		char ch = *p;
		if (ch == '%' && t != p && strncmp(t, "file:", 5) == 0) {
			int v = 0;
			for (int k = 1; k <= 2; k++) {
				char h = p[k];
				int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
				                                        : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
				if (d < 0)
					return false;
				v = v * 16 + d;
			}
			if (v == 0)
				return false;
			ch = (char)v;
			p += 2;
		} else if (ch == '?' || ch == '#') {
			if (strncmp(t, "file:", 5) == 0)
				break;
		}
		if (o + 1 >= n)
			return false;
		out[o++] = ch;
	}
	while (o > 1 && out[o - 1] == '/')
		o--;
	out[o] = 0;
	for (const char *s = out; *s;) {
		s += strspn(s, "/");
		size_t k = strcspn(s, "/");
		if ((k == 1 && s[0] == '.') || (k == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		s += k;
	}
	return true;
}

/* the folder for a target, as an fd: trusted targets as given, untrusted ones below a root
 * reached one segment at a time without following symlinks */
static enum gw_send_result open_folder(struct gw_adapter *ad, const char *target, bool untrusted, int *dfd, char *why,
                                       size_t wn)
{
	char path[MAX_PATH];
	*dfd = -1;
	if (!target_path(target, path, sizeof path)) {
		snprintf(why, wn, "not a usable folder: %.200s (absolute, no . or .. segments, file: URIs of this host)",
		         target);
		return GW_FAILED;
	}
	if (!untrusted) {
		if ((*dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
			snprintf(why, wn, "%.200s: %s", path, strerror(errno));
			return GW_RETRY; /* not mounted yet, or made later: the queue retries */
		}
		return GW_SENT;
	}
	const char *rest = NULL, *root = NULL;
	for (size_t i = 0; i < ad->n_roots && !rest; i++) {
		size_t k = strlen(ad->roots[i]);
		if (strncmp(path, ad->roots[i], k) == 0 && (path[k] == 0 || path[k] == '/' || k == 1)) {
			root = ad->roots[i];
			rest = path + k;
		}
	}
	if (!rest) {
		snprintf(why, wn, "file endpoint %.200s from a DID document is not below an allow_endpoint folder", path);
		return GW_FAILED;
	}
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, wn, "%.200s: %s", root, strerror(errno));
		return GW_RETRY;
	}
	char seg[NAME_MAX + 1];
	for (const char *s = rest; *s;) {
		s += strspn(s, "/");
		size_t k = strcspn(s, "/");
		if (!k)
			break;
		if (k > NAME_MAX) {
			close(fd);
			snprintf(why, wn, "%.200s: a name too long", path);
			return GW_FAILED;
		}
		memcpy(seg, s, k);
		seg[k] = 0;
		s += k;
		int nfd = openat(fd, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		int e = errno;
		close(fd);
		if (nfd < 0) {
			snprintf(why, wn, "%.200s: %s%s", path, strerror(e), e == ELOOP ? " (symlinks are not followed)" : "");
			return e == ELOOP || e == ENOTDIR ? GW_FAILED : GW_RETRY;
		}
		fd = nfd;
	}
	*dfd = fd;
	return GW_SENT;
}

/* the nesting the folder shows (cached a few seconds per folder: big outboxes) */
static void nesting(struct gw_adapter *ad, const char *target, int dfd, bool *threads, bool *thid)
{
	int64_t now = now_ms(CLOCK_MONOTONIC);
	pthread_mutex_lock(&ad->nest_mu);
	for (size_t i = 0; i < sizeof ad->nests / sizeof ad->nests[0]; i++) {
		struct nest *c = &ad->nests[i];
		if (strcmp(c->path, target) == 0 && now - c->at < NEST_TTL_MS) {
			*threads = c->threads;
			*thid = c->thid;
			pthread_mutex_unlock(&ad->nest_mu);
			return;
		}
	}
	pthread_mutex_unlock(&ad->nest_mu);
	*threads = *thid = false;
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d && fd >= 0)
		close(fd);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		bool th = ends_with(e->d_name, ".threads"), ti = ends_with(e->d_name, ".thid");
		if (!th && !ti)
			continue;
		struct stat st;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
			continue;
		*thid |= ti;
		if (th && !*threads) {
			*threads = true;
			/* per-thread folders inside the prefix folders? */
			int sfd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			DIR *sd = sfd >= 0 ? fdopendir(sfd) : NULL;
			if (!sd && sfd >= 0)
				close(sfd);
			struct dirent *se;
			while (sd && (se = readdir(sd)))
				if (ends_with(se->d_name, ".thid"))
					*thid = true;
			if (sd)
				closedir(sd);
		}
	}
	if (d)
		rewinddir(d), closedir(d);
	pthread_mutex_lock(&ad->nest_mu);
	struct nest *slot = &ad->nests[0];
	for (size_t i = 0; i < sizeof ad->nests / sizeof ad->nests[0]; i++)
		if (ad->nests[i].at < slot->at || strcmp(ad->nests[i].path, target) == 0) {
			slot = &ad->nests[i];
			if (strcmp(slot->path, target) == 0)
				break;
		}
	if (strlen(target) < sizeof slot->path) {
		snprintf(slot->path, sizeof slot->path, "%s", target);
		slot->at = now;
		slot->threads = *threads;
		slot->thid = *thid;
	}
	pthread_mutex_unlock(&ad->nest_mu);
}

/* into a subfolder (made when missing): dfd replaced */
static bool into(int *dfd, const char *name, char *why, size_t wn)
{
	if (mkdirat(*dfd, name, 0700) != 0 && errno != EEXIST) {
		snprintf(why, wn, "cannot make %s: %s", name, strerror(errno));
		return false;
	}
	int fd = openat(*dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, wn, "%s: %s", name, strerror(errno));
		return false;
	}
	close(*dfd);
	*dfd = fd;
	return true;
}

static void safe_name(const char *s, char *out, size_t n)
{
	size_t o = 0;
	for (; s && *s && o + 1 < n && o < 96; s++) {
		unsigned char ch = (unsigned char)*s;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
		          ch == '_' || ch == '.' || ch == ':';
		out[o++] = ok ? (char)ch : '_';
	}
	out[o] = 0;
	if ((!o || out[0] == '.' || out[0] == '-') && n > o + 1) { /* never hidden, never an option */
		memmove(out + 1, out, o + 1);
		out[0] = 'm';
	}
}

static enum gw_send_result write_one(struct gw_adapter *ad, const struct wreq *q, char *why, size_t wn)
{
	int dfd = -1, fd = -1;
	enum gw_send_result res = open_folder(ad, q->target, q->untrusted, &dfd, why, wn);
	if (res != GW_SENT)
		return res;
	const struct gw_envelope *env = q->env;
	char id[128], name[200], tmp[260];
	unsigned seq = __atomic_add_fetch(&ad->counter, 1, __ATOMIC_RELAXED);
	if (env->msg_id && env->msg_id[0])
		safe_name(env->msg_id, id, sizeof id);
	else if (env->queue_id) /* an envelope shows no id: the queue item's, stable across retries */
		snprintf(id, sizeof id, "q%lld", (long long)env->queue_id);
	else
		snprintf(id, sizeof id, "m%ld-%ld-%u", (long)time(NULL), (long)getpid(), seq);
	int x = 0;
	for (int i = 0; i < 3; i++)
		if (env->media_type && strncmp(env->media_type, media[i], strlen(media[i])) == 0)
			x = i;
	if (env->msg_id && env->msg_id[0] && env->queue_id)
		snprintf(name, sizeof name, "%s-q%lld%s", id, (long long)env->queue_id, exts[x]);
	else
		snprintf(name, sizeof name, "%s%s", id, exts[x]);
	bool threads, thid;
	nesting(ad, q->target, dfd, &threads, &thid);
	if (threads) {
		char pfx[16];
		snprintf(pfx, sizeof pfx, "%.3s.threads", id);
		if (!into(&dfd, pfx, why, wn))
			goto retry;
	}
	if (thid) {
		char sub[160];
		snprintf(sub, sizeof sub, "%s.thid", id);
		if (!into(&dfd, sub, why, wn))
			goto retry;
	}
	snprintf(tmp, sizeof tmp, ".%s.%ld.%u.tmp", name, (long)getpid(), seq);
	if ((fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
		snprintf(why, wn, "%s: %s", q->target, strerror(errno));
		goto retry;
	}
	for (size_t off = 0; off < env->len;) {
		ssize_t k = write(fd, env->data + off, env->len - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			snprintf(why, wn, "%s: %s", q->target, k < 0 ? strerror(errno) : "short write");
			goto unlink_retry;
		}
		off += (size_t)k;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		snprintf(why, wn, "%s: %s", q->target, strerror(errno));
		goto unlink_retry;
	}
	fd = -1;
	if (renameat(dfd, tmp, dfd, name) != 0) {
		snprintf(why, wn, "%s: %s", q->target, strerror(errno));
		goto unlink_retry;
	}
	if (fsync(dfd) != 0) {
		snprintf(why, wn, "%s: fsync of the folder: %s", q->target, strerror(errno));
		close(dfd);
		return GW_RETRY; /* the file is there; written again under the same name */
	}
	close(dfd);
	snprintf(why, wn, "written %s%s%s", q->target, q->target[strlen(q->target) - 1] == '/' ? "" : "/", name);
	return GW_SENT;
unlink_retry:
	if (fd >= 0)
		close(fd);
	unlinkat(dfd, tmp, 0);
retry:
	close(dfd);
	return GW_RETRY; /* full, read-only, gone: the queue's backoff, then its dead letter */
}

static void *writer(void *arg)
{
	struct gw_adapter *ad = arg;
	prctl(PR_SET_NAME, "gw-file-out", 0, 0, 0);
	pthread_mutex_lock(&ad->mu);
	for (;;) {
		while (!ad->head && !ad->stop)
			pthread_cond_wait(&ad->cv, &ad->mu);
		struct wreq *q = ad->head;
		if (!q)
			break; /* stopping and nothing left */
		ad->head = q->next;
		if (!ad->head)
			ad->tail = &ad->head;
		bool stop = ad->stop;
		pthread_mutex_unlock(&ad->mu);
		char why[400] = "";
		enum gw_send_result r = GW_RETRY;
		if (stop)
			snprintf(why, sizeof why, "gateway shutting down");
		else
			r = write_one(ad, q, why, sizeof why);
		q->done(q->arg, r, why);
		free(q->target);
		free(q);
		pthread_mutex_lock(&ad->mu);
	}
	pthread_mutex_unlock(&ad->mu);
	return NULL;
}

/* ---- ops -------------------------------------------------------------------------------------- */
static bool clean_abs(const char *p)
{
	char buf[MAX_PATH];
	return p[0] == '/' && target_path(p, buf, sizeof buf) && strcmp(buf, p) == 0;
}

static dc_err file_create(const void *conf_, const struct gw_limits *lim, struct gw_adapter **out,
                          struct dc_errinfo *ei)
{
	const struct file_conf *conf = conf_;
	*out = NULL;
	struct gw_adapter *ad = calloc(1, sizeof *ad);
	if (!ad)
		return DC_ERR_NOMEM;
	dc_err rc = DC_OK;
	ad->conf = conf;
	ad->max_bytes = lim->max_message_bytes ? lim->max_message_bytes : 10u << 20;
	ad->ino = -1;
	ad->tail = &ad->head;
	pthread_mutex_init(&ad->mu, NULL);
	pthread_mutex_init(&ad->nest_mu, NULL);
	pthread_cond_init(&ad->cv, NULL);
	if (strncmp(conf->after, "move ", 5) == 0) {
		const char *d = conf->after + 5;
		d += strspn(d, " \t");
		if (!clean_abs(d)) {
			rc = dc_errinfo_set(ei, DC_ERR_INVAL, "after: move takes an absolute folder without . or .., got '%.100s'", d);
			goto fail;
		}
		if (!(ad->move_dir = strdup(d)))
			goto nomem;
	} else if (strcmp(conf->after, "delete") != 0) {
		rc = dc_errinfo_set(ei, DC_ERR_INVAL, "after: want 'delete' or 'move DIR', got '%.100s'", conf->after);
		goto fail;
	}
	if (conf->watch.n && !(ad->eps = calloc(conf->watch.n, sizeof *ad->eps)))
		goto nomem;
	for (size_t i = 0; i < conf->watch.n; i++) {
		const struct gw_conf_value *v = &conf->watch.v[i];
		/* DIR, then "tag NAME" and "shared", in either order */
		char dir[MAX_PATH] = "", tag[80] = "", tok[MAX_PATH];
		bool shared = false, has_tag = false, bad = false;
		size_t nt = 0;
		for (const char *p = v->v; !bad;) {
			p += strspn(p, " \t");
			size_t k = strcspn(p, " \t");
			if (!k)
				break;
			if (k >= sizeof tok) {
				bad = true;
				break;
			}
			memcpy(tok, p, k);
			tok[k] = 0;
			p += k;
			if (nt++ == 0) {
				memcpy(dir, tok, k + 1);
			} else if (strcmp(tok, "shared") == 0 && !shared) {
				shared = true;
			} else if (strcmp(tok, "tag") == 0 && !has_tag) {
				p += strspn(p, " \t");
				k = strcspn(p, " \t");
				bad = k == 0 || k >= sizeof tag;
				if (!bad) {
					memcpy(tag, p, k);
					tag[k] = 0;
					p += k;
					has_tag = true;
				}
			} else {
				bad = true;
			}
		}
		if (bad || !nt) {
			rc = dc_errinfo_set(ei, DC_ERR_INVAL, "line %u: watch: want 'DIR [tag NAME] [shared]', got '%.100s'",
			                    v->line, v->v);
			goto fail;
		}
		if (!clean_abs(dir)) {
			rc = dc_errinfo_set(ei, DC_ERR_INVAL, "line %u: watch: an absolute folder without . or .., got '%.100s'",
			                    v->line, dir);
			goto fail;
		}
		if (has_tag && tag[strspn(tag, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")]) {
			rc = dc_errinfo_set(ei, DC_ERR_INVAL, "line %u: watch: a tag is [A-Za-z0-9_.-], got '%.60s'", v->line, tag);
			goto fail;
		}
		for (size_t k = 0; k < i; k++)
			if (strcmp(ad->eps[k].dir, dir) == 0) {
				rc = dc_errinfo_set(ei, DC_ERR_INVAL, "line %u: watch: %.100s twice", v->line, dir);
				goto fail;
			}
		ad->eps[i].ad = ad;
		ad->eps[i].shared = shared;
		ad->n_eps = i + 1;
		if (!(ad->eps[i].dir = strdup(dir)) || (has_tag && !(ad->eps[i].tag = strdup(tag))))
			goto nomem;
	}
	if (conf->allow_endpoint.n && !(ad->roots = calloc(conf->allow_endpoint.n, sizeof *ad->roots)))
		goto nomem;
	for (size_t i = 0; i < conf->allow_endpoint.n; i++) {
		const struct gw_conf_value *v = &conf->allow_endpoint.v[i];
		if (!clean_abs(v->v)) {
			rc = dc_errinfo_set(ei, DC_ERR_INVAL, "line %u: allow_endpoint: an absolute folder without . or .., got "
			                    "'%.100s'", v->line, v->v);
			goto fail;
		}
		if (!(ad->roots[i] = strdup(v->v)))
			goto nomem;
		ad->n_roots = i + 1;
	}
	*out = ad;
	return DC_OK;
nomem:
	rc = DC_ERR_NOMEM;
fail:
	ad->conf = conf;
	file_free(ad);
	return rc;
}

static dc_err file_start(struct gw_adapter *ad, struct gw_host *host, struct dc_errinfo *ei)
{
	ad->host = host;
	/* the claim suffix: ours, from the gateway's DID (FNV-1a) */
	uint32_t h = 2166136261u;
	for (const char *p = host->our_did ? host->our_did : ""; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	snprintf(ad->claim_sfx, sizeof ad->claim_sfx, ".%08x.taking", h);
	for (ad->n_th = 0; ad->n_th < WRITERS; ad->n_th++)
		if (pthread_create(&ad->th[ad->n_th], NULL, writer, ad) != 0)
			break;
	ad->th_started = ad->n_th > 0;
	if (!ad->th_started)
		return dc_errinfo_set(ei, DC_ERR_NOMEM, "cannot start the file writer threads");
	ad->started = true;
	if (!ad->n_eps)
		return DC_OK;
	if ((ad->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0 ||
	    host->watch_fd(host, ad->ino, GW_FD_READ, on_inotify, ad, &ad->ino_w) != DC_OK) {
		gw_host_log(host, GW_LOG_WARN, "no inotify (%s): folders are read every rescan only", strerror(errno));
		if (ad->ino >= 0)
			close(ad->ino);
		ad->ino = -1;
	}
	if (host->timer_start(host, (uint64_t)ad->conf->rescan_ms, (uint64_t)ad->conf->rescan_ms, on_rescan, ad,
	                      &ad->rescan_t) != DC_OK)
		return dc_errinfo_set(ei, DC_ERR_NOMEM, "cannot start the rescan timer");
	for (size_t i = 0; i < ad->n_eps; i++) {
		struct stat st;
		if (stat(ad->eps[i].dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
			gw_host_conn(host, ad->eps[i].dir, GW_CONN_DOWN, "not a folder (yet?)");
			gw_host_log(host, GW_LOG_WARN, "watch %s: not a folder (yet?): looked for every rescan", ad->eps[i].dir);
		}
	}
	kick(ad, 0); /* the start-up scan, from the loop */
	return DC_OK;
}

static dc_err file_send(struct gw_adapter *ad, const struct gw_dest *dest, const struct gw_envelope *env,
                        gw_send_done_fn *done, void *arg)
{
	struct wreq *q = calloc(1, sizeof *q);
	if (!q || !(q->target = strndup(dest->target, dest->target_len))) {
		free(q);
		return DC_ERR_NOMEM;
	}
	q->untrusted = dest->untrusted;
	q->env = env;
	q->done = done;
	q->arg = arg;
	pthread_mutex_lock(&ad->mu);
	if (ad->stop || !ad->th_started) {
		pthread_mutex_unlock(&ad->mu);
		free(q->target);
		free(q);
		return DC_ERR_AGAIN;
	}
	*ad->tail = q;
	ad->tail = &q->next;
	pthread_cond_signal(&ad->cv);
	pthread_mutex_unlock(&ad->mu);
	return DC_OK;
}

static void file_stop(struct gw_adapter *ad)
{
	ad->stopping = true;
	if (ad->soon_t)
		ad->host->timer_stop(ad->host, ad->soon_t);
	if (ad->rescan_t)
		ad->host->timer_stop(ad->host, ad->rescan_t);
	ad->soon_t = ad->rescan_t = NULL;
	if (ad->ino_w)
		ad->host->watch_close(ad->host, ad->ino_w);
	ad->ino_w = NULL;
	if (ad->ino >= 0)
		close(ad->ino);
	ad->ino = -1;
	pthread_mutex_lock(&ad->mu);
	bool was = ad->stop;
	ad->stop = true;
	pthread_cond_broadcast(&ad->cv);
	pthread_mutex_unlock(&ad->mu);
	if (!was && ad->th_started) {
		for (unsigned i = 0; i < ad->n_th; i++)
			pthread_join(ad->th[i], NULL); /* what was waiting completes GW_RETRY */
		ad->th_started = false;
	}
}

static void file_free(struct gw_adapter *ad)
{
	if (!ad)
		return;
	if (ad->started)
		file_stop(ad);
	while (ad->takes) { /* no ack came: the claims stay on disk and are taken at the next start */
		struct take *t = ad->takes;
		ad->takes = t->next;
		take_free(t);
	}
	for (size_t i = 0; i < ad->n_eps; i++) {
		cands_free(&ad->eps[i]);
		free(ad->eps[i].dir);
		free(ad->eps[i].tag);
	}
	free(ad->eps);
	for (size_t i = 0; i < ad->n_roots; i++)
		free(ad->roots[i]);
	free(ad->roots);
	free(ad->wds);
	free(ad->looked);
	free(ad->move_dir);
	pthread_mutex_destroy(&ad->mu);
	pthread_mutex_destroy(&ad->nest_mu);
	pthread_cond_destroy(&ad->cv);
	free(ad);
}

static const char *const file_schemes[] = { "file", NULL };
const struct gw_adapter_ops gw_ad_file = {
	.name = "file",
	.schemes = file_schemes,
	.flags = GW_AD_IN | GW_AD_OUT,
	.keys = file_keys,
	.n_keys = sizeof file_keys / sizeof file_keys[0],
	.conf_size = sizeof(struct file_conf),
	.create = file_create,
	.start = file_start,
	.send = file_send,
	.stop = file_stop,
	.free = file_free,
};
