/* Bundles for sneakernet: messages held for pickup, carried on a stick to a gateway that is
 * never online with this one.
 *
 *   didcomm-gateway export --to DIR [--for DID]... [--since TIME] [-c CONF|--state-dir DIR]
 * writes the held messages (queue items "hold DID", for those DIDs, created since TIME) as one
 * bundle file DIR/bundle-<id>.json: a manifest (count, and for each message its queue item,
 * recipient, media type, length and SHA-256) and the messages (base64url). Written as a
 * temporary (O_EXCL, 0600), fsync'd, renamed, folder fsync'd. Nothing leaves the queue: the
 * messages stay held until the other side confirms (a receipt, below) or `queue ack ID`, so a
 * lost stick loses nothing.
 *
 *   didcomm-gateway import [--receipt DIR] BUNDLE...   (cmd_import.c hands bundles here)
 * verifies the whole bundle first (count, every length and SHA-256; one mismatch and nothing
 * of it is taken), then takes each message in as from the file transport (rules, queue).
 * Every message taken is remembered by its SHA-256 in state_dir/imported/, so importing the
 * same bundle again adds nothing. With --receipt, a receipt DIR/receipt-<id>.json lists the
 * SHA-256 of every message of the bundle that this gateway now has.
 *
 *   didcomm-gateway import RECEIPT
 * on the exporting side releases (removes from the queue) the held messages the receipt
 * names. A message taken in but not yet marked (a crash between the commit and the mark) is
 * not taken twice: it goes to the queue with its SHA-256 as idempotency key, stored in the
 * same transaction (the queue remembers its newest keys; the marks stay for good). */
#include "bundle.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"
#include "state.h"

#define BUNDLE_TYPE "didcomm-gateway/bundle/1"
#define RECEIPT_TYPE "didcomm-gateway/receipt/1"
#define MAX_ITEMS 100000
#define MAX_BUNDLE_BYTES ((size_t)1 << 30)
#define MAX_FOR 64

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void hex_sha256(const uint8_t *d, size_t n, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, d, n);
	sodium_bin2hex(out, 65, h, sizeof h);
}

/* DIR/name written whole or not at all: temporary O_EXCL 0600, fsync, rename, fsync of DIR */
static int write_atomic(const char *dir, const char *name, const char *data, size_t len, const char *cmd)
{
	char tmp[4200], path[4200];
	snprintf(tmp, sizeof tmp, "%s/.%s.%ld.tmp", dir, name, (long)getpid());
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "%s: %s: %s\n", cmd, tmp, strerror(errno));
		return 1;
	}
	for (size_t off = 0; off < len;) {
		ssize_t k = write(fd, data + off, len - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			fprintf(stderr, "%s: %s: %s\n", cmd, tmp, k < 0 ? strerror(errno) : "short write");
			close(fd);
			unlink(tmp);
			return 1;
		}
		off += (size_t)k;
	}
	if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
		fprintf(stderr, "%s: %s: %s\n", cmd, path, strerror(errno));
		unlink(tmp);
		return 1;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0) {
		fprintf(stderr, "%s: %s: fsync: %s\n", cmd, dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return 1;
	}
	close(dfd);
	return 0;
}

/* "1700000000" (unix seconds), "24h" / "30m" / "7d" / "90s" (that long ago), or
 * "2026-01-31T12:00:00Z"; ms since the epoch, -1 when none of these */
static int64_t parse_since(const char *s)
{
	char *end = NULL;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (end != s && !errno && s[0] >= '0' && s[0] <= '9') {
		int64_t unit = 0;
		if (!*end)
			return n > (unsigned long long)INT64_MAX / 1000 ? -1 : (int64_t)n * 1000;
		if (end[1] == 0)
			unit = *end == 's' ? 1000 : *end == 'm' ? 60000 : *end == 'h' ? 3600000 : *end == 'd' ? 86400000 : 0;
		if (unit && n < (unsigned long long)(INT64_MAX / unit) && (int64_t)n * unit <= now_ms())
			return now_ms() - (int64_t)n * unit;
	}
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	int used = 0;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
	           &tm.tm_sec, &used) == 6 && used > 0 && !s[used] && tm.tm_year >= 1970 && tm.tm_mon >= 1 &&
	    tm.tm_mon <= 12 && tm.tm_mday >= 1 && tm.tm_mday <= 31 && tm.tm_hour < 24 && tm.tm_min < 60 && tm.tm_sec < 61) {
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		return (int64_t)timegm(&tm) * 1000;
	}
	return -1;
}

int gw_cmd_export(int argc, char **argv)
{
	static const struct option opts[] = { { "to", required_argument, 0, 't' },  { "for", required_argument, 0, 'f' },
		                              { "since", required_argument, 0, 'S' }, { "config", required_argument, 0, 'c' },
		                              { "state-dir", required_argument, 0, 's' }, { 0, 0, 0, 0 } };
	const char *to = NULL, *conf = NULL, *state = NULL, *fors[MAX_FOR];
	size_t n_for = 0;
	int64_t since = 0;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 't': to = optarg; break;
		case 'c': conf = optarg; break;
		case 's': state = optarg; break;
		case 'f':
			if (n_for >= MAX_FOR || strncmp(optarg, "did:", 4) != 0) {
				fprintf(stderr, "export: --for takes a DID (at most %d of them)\n", MAX_FOR);
				return 2;
			}
			fors[n_for++] = optarg;
			break;
		case 'S':
			if ((since = parse_since(optarg)) < 0) {
				fprintf(stderr, "export: --since: want unix seconds, 24h (ago) or 2026-01-31T12:00:00Z, got '%s'\n",
				        optarg);
				return 2;
			}
			break;
		default: return 2;
		}
	}
	if (!to || optind != argc) {
		fprintf(stderr, "usage: export --to DIR [--for DID]... [--since TIME] [-c CONF|--state-dir DIR]\n");
		return 2;
	}
	struct stat st;
	if (stat(to, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "export: %s: not a folder\n", to);
		return 1;
	}
	struct gw_state s;
	if (gw_state_open_cmd(&s, "export", conf, state)) {
		gw_state_close(&s);
		return 1;
	}
	int ret = 1;
	struct dc_errinfo ei = { 0 };
	cJSON *root = cJSON_CreateObject(), *man = cJSON_CreateArray(), *items = cJSON_CreateArray();
	char *text = NULL;
	size_t count = 0, bytes = 0;
	bool more = false;
	unsigned char rnd[8];
	char bid[17];
	randombytes_buf(rnd, sizeof rnd);
	sodium_bin2hex(bid, sizeof bid, rnd, sizeof rnd);
	if (!root || !man || !items)
		goto oom;
	int64_t after = 0;
	for (;;) {
		struct dc_queue_item *page = NULL;
		size_t n = 0;
		if (dc_queue_list(s.q, false, after, 500, &page, &n, &ei)) {
			fprintf(stderr, "export: %s\n", ei.msg);
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			const struct dc_queue_item *it = &page[i];
			after = it->id;
			if (!it->dest || strncmp(it->dest, "hold ", 5) != 0 || it->created_ms < since)
				continue;
			const char *did = it->dest + 5;
			bool want = n_for == 0;
			for (size_t k = 0; k < n_for && !want; k++)
				want = strcmp(fors[k], did) == 0;
			if (!want)
				continue;
			if (count >= MAX_ITEMS || bytes + it->len > MAX_BUNDLE_BYTES / 2) {
				more = true;
				continue;
			}
			struct dc_queue_item full;
			if (dc_queue_get(s.q, it->id, &full, &ei))
				continue; /* gone meanwhile (picked up) */
			char hex[65], qid[24];
			hex_sha256(full.data, full.len, hex);
			size_t b64n = sodium_base64_ENCODED_LEN(full.len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
			char *b64 = malloc(b64n);
			cJSON *m = cJSON_CreateObject();
			snprintf(qid, sizeof qid, "%" PRId64, full.id);
			bool ok = b64 && m && cJSON_AddStringToObject(m, "item", qid) && cJSON_AddStringToObject(m, "to", did) &&
			          cJSON_AddStringToObject(m, "media_type", full.media_type ? full.media_type
			                                                                    : "application/didcomm-encrypted+json") &&
			          cJSON_AddNumberToObject(m, "len", (double)full.len) && cJSON_AddStringToObject(m, "sha256", hex) &&
			          (!full.msg_id || cJSON_AddStringToObject(m, "msg_id", full.msg_id));
			if (ok) {
				sodium_bin2base64(b64, b64n, full.data, full.len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
				cJSON *d = cJSON_CreateString(b64);
				ok = d && cJSON_AddItemToArray(items, d) && cJSON_AddItemToArray(man, m);
				if (!ok)
					cJSON_Delete(d);
			}
			if (!ok)
				cJSON_Delete(m);
			free(b64);
			bytes += full.len;
			dc_queue_item_clear(&full);
			if (!ok) {
				dc_queue_items_free(page, n);
				goto oom;
			}
			count++;
		}
		dc_queue_items_free(page, n);
		if (n < 500)
			break;
	}
	if (count == 0) {
		printf("export: no held messages%s\n", n_for ? " for those DIDs" : "");
		ret = 0;
		goto out;
	}
	if (!cJSON_AddStringToObject(root, "type", BUNDLE_TYPE) || !cJSON_AddStringToObject(root, "id", bid) ||
	    !cJSON_AddStringToObject(root, "from", s.did) ||
	    !cJSON_AddNumberToObject(root, "created", (double)(now_ms() / 1000)) ||
	    !cJSON_AddNumberToObject(root, "count", (double)count))
		goto oom;
	cJSON_AddItemToObject(root, "manifest", man);
	man = NULL;
	cJSON_AddItemToObject(root, "items", items);
	items = NULL;
	if (!(text = cJSON_PrintUnformatted(root)))
		goto oom;
	char name[64];
	snprintf(name, sizeof name, "bundle-%s.json", bid);
	if (write_atomic(to, name, text, strlen(text), "export"))
		goto out;
	printf("export: %zu held messages in %s/%s (they stay held until a receipt or `queue ack`)%s\n", count, to, name,
	       more ? "; more are held: export again" : "");
	ret = 0;
	goto out;
oom:
	fprintf(stderr, "export: out of memory\n");
out:
	free(text);
	cJSON_Delete(man);
	cJSON_Delete(items);
	cJSON_Delete(root);
	gw_state_close(&s);
	return ret;
}

/* ---- import -------------------------------------------------------------------------------------- */
static const char *str_of(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool gw_bundle_is(const char *data, size_t len)
{
	/* cheap look before parsing: the type member near the start */
	size_t n = len < 200 ? len : 200;
	char head[201];
	memcpy(head, data, n);
	head[n] = 0;
	return strstr(head, "\"" BUNDLE_TYPE "\"") || strstr(head, "\"" RECEIPT_TYPE "\"");
}

static bool hex64(const char *s)
{
	if (!s || strlen(s) != 64)
		return false;
	return strspn(s, "0123456789abcdef") == 64;
}

/* releases the held items whose envelopes a receipt names */
static int take_receipt(struct gw_state *s, const char *path, const cJSON *root)
{
	const cJSON *hs = cJSON_GetObjectItemCaseSensitive(root, "sha256");
	if (!cJSON_IsArray(hs)) {
		fprintf(stderr, "import: %s: a receipt without its sha256 list\n", path);
		return 1;
	}
	struct dc_errinfo ei = { 0 };
	size_t released = 0, n_hs = (size_t)cJSON_GetArraySize(hs);
	int64_t after = 0;
	for (;;) {
		struct dc_queue_item *page = NULL;
		size_t n = 0;
		if (dc_queue_list(s->q, false, after, 500, &page, &n, &ei)) {
			fprintf(stderr, "import: %s\n", ei.msg);
			return 1;
		}
		for (size_t i = 0; i < n; i++) {
			after = page[i].id;
			if (!page[i].dest || strncmp(page[i].dest, "hold ", 5) != 0)
				continue;
			struct dc_queue_item full;
			if (dc_queue_get(s->q, page[i].id, &full, &ei))
				continue;
			char hex[65];
			hex_sha256(full.data, full.len, hex);
			dc_queue_item_clear(&full);
			const cJSON *h;
			bool named = false;
			cJSON_ArrayForEach(h, hs) if (cJSON_IsString(h) && strcmp(h->valuestring, hex) == 0) named = true;
			if (named && dc_queue_ack(s->q, page[i].id, &ei) == DC_OK)
				released++;
		}
		dc_queue_items_free(page, n);
		if (n < 500)
			break;
	}
	printf("import: %s: receipt for bundle %s: %zu held messages released (%zu named)\n", path,
	       str_of(root, "bundle") ? str_of(root, "bundle") : "?", released, n_hs);
	return 0;
}

int gw_bundle_import(struct gw_state *s, const char *path, const char *data, size_t len, const char *receipt_dir)
{
	cJSON *root = cJSON_ParseWithLength(data, len), *rhs = NULL, *rc_root = NULL;
	int ret = 1;
	uint8_t **bins = NULL;
	size_t *bin_len = NULL, count = 0;
	char *text = NULL;
	if (!root || !cJSON_IsObject(root)) {
		fprintf(stderr, "import: %s: not a bundle (JSON)\n", path);
		goto out;
	}
	const char *type = str_of(root, "type"), *bid = str_of(root, "id");
	if (type && strcmp(type, RECEIPT_TYPE) == 0) {
		ret = take_receipt(s, path, root);
		goto out;
	}
	const cJSON *man = cJSON_GetObjectItemCaseSensitive(root, "manifest");
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(root, "items");
	const cJSON *cnt = cJSON_GetObjectItemCaseSensitive(root, "count");
	if (!type || strcmp(type, BUNDLE_TYPE) != 0 || !bid || strspn(bid, "0123456789abcdef") != strlen(bid) ||
	    strlen(bid) != 16 || !cJSON_IsArray(man) || !cJSON_IsArray(items) || !cJSON_IsNumber(cnt)) {
		fprintf(stderr, "import: %s: not a bundle of this gateway's kind (%s)\n", path, BUNDLE_TYPE);
		goto out;
	}
	int nm = cJSON_GetArraySize(man), ni = cJSON_GetArraySize(items);
	if (nm != ni || cnt->valuedouble != (double)nm || nm <= 0 || nm > MAX_ITEMS) {
		fprintf(stderr, "import: %s: damaged bundle: count %g, %d in the manifest, %d messages\n", path,
		        cnt->valuedouble, nm, ni);
		goto out;
	}
	count = (size_t)nm;
	if (!(bins = calloc(count, sizeof *bins)) || !(bin_len = calloc(count, sizeof *bin_len)))
		goto oom;
	/* the whole bundle verified before anything is taken in */
	for (size_t i = 0; i < count; i++) {
		const cJSON *m = cJSON_GetArrayItem(man, (int)i), *d = cJSON_GetArrayItem(items, (int)i);
		const cJSON *l = cJSON_GetObjectItemCaseSensitive(m, "len");
		const char *h = str_of(m, "sha256");
		if (!cJSON_IsString(d) || !hex64(h) || !cJSON_IsNumber(l) || l->valuedouble < 1 ||
		    l->valuedouble > (double)s->conf.max_message_bytes) {
			fprintf(stderr, "import: %s: damaged bundle: message %zu: bad manifest entry\n", path, i + 1);
			goto out;
		}
		size_t want = (size_t)l->valuedouble, got = 0;
		if (!(bins[i] = malloc(want)))
			goto oom;
		char hex[65];
		if (sodium_base642bin(bins[i], want, d->valuestring, strlen(d->valuestring), NULL, &got, NULL,
		                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
		    got != want || (hex_sha256(bins[i], got, hex), strcmp(hex, h) != 0)) {
			fprintf(stderr, "import: %s: damaged bundle: message %zu does not match its manifest entry "
			        "(length or SHA-256): nothing imported\n", path, i + 1);
			goto out;
		}
		bin_len[i] = got;
	}
	/* where what was taken is remembered */
	char mdir[4200];
	snprintf(mdir, sizeof mdir, "%s/imported", s->conf.state_dir);
	if (mkdir(mdir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "import: %s: %s\n", mdir, strerror(errno));
		goto out;
	}
	struct gw_ingest_cfg g;
	gw_state_ingest_cfg(s, &g);
	size_t taken = 0, known = 0, refused = 0, later = 0;
	if (!(rc_root = cJSON_CreateObject()) || !(rhs = cJSON_CreateArray()))
		goto oom;
	for (size_t i = 0; i < count; i++) {
		const cJSON *m = cJSON_GetArrayItem(man, (int)i);
		const char *h = str_of(m, "sha256"), *mt = str_of(m, "media_type");
		char mark[4300];
		snprintf(mark, sizeof mark, "%s/%s", mdir, h);
		struct stat st;
		if (stat(mark, &st) == 0) {
			known++;
			cJSON_AddItemToArray(rhs, cJSON_CreateString(h));
			continue;
		}
		char src[4300];
		snprintf(src, sizeof src, "%s#%zu", path, i + 1);
		struct gw_ingest_result r;
		/* keyed by its SHA-256: a crash between the commit and the mark below cannot take it twice */
		struct gw_ingest_in in = { .transport = "file", .source = src, .media_type = mt, .data = bins[i],
			                   .len = bin_len[i], .key = h };
		gw_ingest(&g, &in, &r);
		if (r.outcome == GW_ACCEPTED || r.outcome == GW_ANSWERED) {
			int fd = open(mark, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			if (fd >= 0)
				close(fd);
			else
				fprintf(stderr, "import: %s: %s (it may be taken again)\n", mark, strerror(errno));
			if (r.duplicate)
				known++;
			else
				taken++;
			cJSON_AddItemToArray(rhs, cJSON_CreateString(h));
		} else {
			fprintf(stderr, "import: %s: %s %s%s%s\n", src, r.outcome == GW_TRY_LATER ? "try later:" : "refused:",
			        r.why, r.problem_code[0] ? " " : "", r.problem_code);
			if (r.outcome == GW_TRY_LATER)
				later++;
			else
				refused++;
		}
		gw_ingest_result_clear(&r);
	}
	printf("import: %s: bundle %s from %s: %zu messages, %zu taken in, %zu already here, %zu refused, %zu to try "
	       "again\n", path, bid, str_of(root, "from") ? str_of(root, "from") : "?", count, taken, known, refused, later);
	ret = refused || later ? 1 : 0;
	if (receipt_dir) {
		if (!cJSON_AddStringToObject(rc_root, "type", RECEIPT_TYPE) || !cJSON_AddStringToObject(rc_root, "bundle", bid) ||
		    !cJSON_AddStringToObject(rc_root, "from", s->did))
			goto oom;
		cJSON_AddItemToObject(rc_root, "sha256", rhs);
		rhs = NULL;
		char name[64];
		snprintf(name, sizeof name, "receipt-%s.json", bid);
		if (!(text = cJSON_PrintUnformatted(rc_root)))
			goto oom;
		if (write_atomic(receipt_dir, name, text, strlen(text), "import"))
			ret = 1;
		else
			printf("import: receipt %s/%s: %zu messages confirmed\n", receipt_dir, name, taken + known);
	}
	goto out;
oom:
	fprintf(stderr, "import: %s: out of memory\n", path);
	ret = 1;
out:
	for (size_t i = 0; bins && i < count; i++)
		free(bins[i]);
	free(bins);
	free(bin_len);
	free(text);
	cJSON_Delete(rhs);
	cJSON_Delete(rc_root);
	cJSON_Delete(root);
	return ret;
}
