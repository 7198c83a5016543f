/* adapters/imap: DIDComm messages in from IMAP mailboxes (DIDComm Email Transport Extension),
 * libetpan.
 *
 * Each mailbox ([imap] url, or one `mailbox URL [tag NAME]` line each) has a thread of its own:
 * libetpan is blocking, and nothing of it runs on the loop thread. The thread logs in, creates
 * the processed and rejected folders when they are missing, and works in rounds:
 *   UID SEARCH ALL -> up to `batch` mails -> RFC822.SIZE of each -> BODY.PEEK[] of those that
 *   fit max_mail (one UID FETCH per max_mail bytes) -> the DIDComm parts (mail_extract) ->
 *   host->submit, one per part -> wait until every ack is in -> per mail: all parts
 *   accepted: moved to `processed` (or \Deleted + EXPUNGE with `processed delete`); no
 *   usable part, or a part refused: moved to `rejected`, the reason logged; a part the
 *   gateway could not take now (busy, draining): left where it is, taken again later.
 * A mail is moved only after the acks say its parts are durable in the queue: a crash, a
 * server restart or a failed move in between leaves it in the mailbox, and the next round
 * takes it again. Each part is submitted with an idempotency key (the mailbox, its
 * UIDVALIDITY, the mail's UID, the part's index), so a part taken again is acked without a
 * second queue item for as long as the queue remembers the key. A broken session is opened
 * again with backoff (1 s doubling to 60 s, reset by a whole round), and the next round starts
 * from what is still in the mailbox. Between rounds the thread waits in IMAP
 * IDLE when the server offers it (bounded by `poll`, so a missed notification costs at most one
 * poll interval), else `poll`. The acks run on the loop thread; they record the outcome and
 * wake the mailbox thread through its eventfd, which does the moving.
 *
 * Why IDLE is waited on here and not through host->watch_fd: libetpan's IMAP calls are
 * synchronous (each writes its command and reads the whole answer before it returns; there is
 * no incremental parser to feed from a readable fd), so every command but the wait itself
 * must run on a thread of ours anyway: on the loop, one FETCH of a max_mail (16 MB) mail holds
 * it 30-50 ms on loopback alone, seconds over a slow link, and a server that stops answering
 * holds it for `timeout` (60 s). Handing only the IDLE wait to the loop would keep this thread,
 * parked on a condition instead of poll(), and add a hand-over each way plus an ordering
 * hazard (the loop's watch must be gone before this thread may close or reconnect, or the fd
 * number is reused under it) for no thread, wake-up or CPU saved: the thread waiting in IDLE
 * used 0 CPU ticks in 10 s, and a mail appended during IDLE reached the HTTP receiver in
 * 526-579 ms, of which ~500 ms is dovecot's own notification delay. Measured with dovecot
 * 2.3.19 on 127.0.0.1 (2026-12, the email2 branch).
 *
 * What counts as a DIDComm part (mail_extract), in MIME order (the order the extension asks
 * for when `Keywords: didcomm` is there, and a harmless one otherwise): every part whose
 * Content-Type is a DIDComm media type (the whole body too, when it is one); attachments named
 * *.dcem, *.dcsm, *.dcpm (added by people, whatever their Content-Type); *.json or
 * application/json attachments that hold a JWE or JWS (classified by content). Hostile mail is
 * bounded: at most max_mail bytes fetched, MAX_PARTS parts looked at, MAX_DEPTH levels of
 * nesting, each DIDComm part at most the gateway's max_message_bytes; anything unreadable
 * sends the mail to the rejected folder with the reason in the log. The sender's mail address
 * is never identity: only the DIDComm envelope is. */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <libetpan/libetpan.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "adapter.h"
#include "mailtls.h"

#define MAX_PARTS 64     /* MIME parts looked at in one mail */
#define MAX_DEPTH 12     /* multipart / message nesting */
#define MAX_DC_PARTS 16  /* DIDComm parts taken from one mail */
#define MAX_MAILBOXES 16

struct imap_conf {
	char *url, *username, *password_file, *processed, *rejected, *starttls, *ca_file;
	struct gw_conf_list mailbox;
	int64_t poll_ms, timeout_ms;
	size_t max_mail;
	unsigned batch;
};

#define O(f) offsetof(struct imap_conf, f)
static const struct gw_conf_key imap_keys[] = {
	{ "url", GW_CONF_STR, O(url), 0, 512, "", NULL },
	{ "mailbox", GW_CONF_LIST, O(mailbox), 0, 0, NULL, NULL },
	{ "username", GW_CONF_STR, O(username), 1, 256, NULL, NULL },
	{ "password_file", GW_CONF_STR, O(password_file), 1, 4096, NULL, NULL },
	{ "processed", GW_CONF_STR, O(processed), 1, 200, "Processed", NULL },
	{ "rejected", GW_CONF_STR, O(rejected), 1, 200, "Rejected", NULL },
	{ "starttls", GW_CONF_STR, O(starttls), 1, 16, "if-offered", "required|if-offered|no" },
	{ "poll", GW_CONF_MS, O(poll_ms), 200, 86400000, "30s", NULL },
	{ "timeout", GW_CONF_MS, O(timeout_ms), 1000, 600000, "60s", NULL },
	{ "max_mail", GW_CONF_SIZE, O(max_mail), 1024, (int64_t)1 << 30, "16M", NULL },
	{ "batch", GW_CONF_UINT, O(batch), 1, 1000, "50", NULL },
	{ "ca_file", GW_CONF_STR, O(ca_file), 0, 4096, "", NULL },
};
#undef O

/* ---- the DIDComm parts of one mail ------------------------------------------------------- */
struct dpart {
	char media[48];  /* a DIDComm media type, or "" (the gateway classifies by content) */
	uint8_t *data;   /* malloc'd */
	size_t len;
};

struct extract {
	struct dpart p[MAX_DC_PARTS];
	size_t n;
	size_t seen;      /* MIME parts looked at */
	bool keywords;    /* Keywords: didcomm */
	char bad[200];    /* a part that cannot be used (the mail goes to rejected), or "" */
	const char *raw;  /* the whole mail (borrowed, for the boundary check) */
	size_t raw_len;
};

/* the first reason a mail is unusable wins (the log says that one) */
static void set_bad(struct extract *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_bad(struct extract *x, const char *fmt, ...)
{
	if (x->bad[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->bad, sizeof x->bad, fmt, ap);
	va_end(ap);
}

static void extract_clear(struct extract *x)
{
	for (size_t i = 0; i < x->n; i++)
		free(x->p[i].data);
	memset(x, 0, sizeof *x);
}

static const char *const dc_types[] = { "application/didcomm-encrypted+json", "application/didcomm-signed+json",
	                                "application/didcomm-plain+json", NULL };
static const char *const dc_exts[] = { ".dcem", ".dcsm", ".dcpm", NULL };

static bool ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);
	return n >= m && !strcasecmp(s + n - m, suf);
}

/* "type/subtype", lower case, into buf ("text/plain" when the part has none) */
static void type_of(const struct mailmime_content *ct, char *buf, size_t n)
{
	const char *t = "text", *sub = "plain";
	if (ct && ct->ct_type) {
		const struct mailmime_type *ty = ct->ct_type;
		if (ty->tp_type == MAILMIME_TYPE_DISCRETE_TYPE && ty->tp_data.tp_discrete_type) {
			switch (ty->tp_data.tp_discrete_type->dt_type) {
			case MAILMIME_DISCRETE_TYPE_TEXT: t = "text"; break;
			case MAILMIME_DISCRETE_TYPE_IMAGE: t = "image"; break;
			case MAILMIME_DISCRETE_TYPE_AUDIO: t = "audio"; break;
			case MAILMIME_DISCRETE_TYPE_VIDEO: t = "video"; break;
			case MAILMIME_DISCRETE_TYPE_APPLICATION: t = "application"; break;
			default:
				t = ty->tp_data.tp_discrete_type->dt_extension ? ty->tp_data.tp_discrete_type->dt_extension : "x";
			}
		} else if (ty->tp_type == MAILMIME_TYPE_COMPOSITE_TYPE && ty->tp_data.tp_composite_type) {
			t = ty->tp_data.tp_composite_type->ct_type == MAILMIME_COMPOSITE_TYPE_MESSAGE ? "message" : "multipart";
		}
		sub = ct->ct_subtype ? ct->ct_subtype : "";
	}
	snprintf(buf, n, "%s/%s", t, sub);
	for (char *c = buf; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
}

/* a JSON object that looks like a JWE or a JWS (for *.json attachments) */
static bool looks_like_jwm(const uint8_t *d, size_t n)
{
	size_t i = 0;
	while (i < n && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n'))
		i++;
	if (i == n || d[i] != '{')
		return false;
	bool prot = memmem(d, n, "\"protected\"", 11) != NULL;
	return prot && (memmem(d, n, "\"ciphertext\"", 12) || memmem(d, n, "\"signatures\"", 12) ||
	                memmem(d, n, "\"payload\"", 9));
}

/* base64 as RFC 2045 writes it: the alphabet and line breaks (blanks too, leniently), a
 * multiple of 4 characters, '=' only as the last one or two. libetpan's decoder skips what
 * it does not know, which would hand the gateway a silently different message. */
static bool base64_clean(const char *s, size_t n)
{
	size_t chars = 0, pad = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\r' || c == '\n' || c == ' ' || c == '\t')
			continue;
		if (c == '=') {
			if (++pad > 2)
				return false;
		} else if (pad || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		                    c == '+' || c == '/')) {
			return false; /* a character outside the alphabet, or data after the padding */
		}
		chars++;
	}
	return chars % 4 == 0;
}

/* the decoded bytes of a single part (malloc'd; empty parts are NULL with *len 0) */
static dc_err part_bytes(const struct mailmime *m, uint8_t **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	const struct mailmime_data *d = m->mm_data.mm_single;
	if (!d || d->dt_type != MAILMIME_DATA_TEXT)
		return DC_ERR_MALFORMED;
	const char *src = d->dt_data.dt_text.dt_data;
	size_t n = d->dt_data.dt_text.dt_length;
	char *dec = NULL;
	size_t dl = 0, idx = 0;
	bool mm = false;
	if (d->dt_encoded && d->dt_encoding == MAILMIME_MECHANISM_BASE64 && !base64_clean(src, n))
		return DC_ERR_MALFORMED;
	if (d->dt_encoded && (d->dt_encoding == MAILMIME_MECHANISM_BASE64 ||
	                      d->dt_encoding == MAILMIME_MECHANISM_QUOTED_PRINTABLE)) {
		if (mailmime_part_parse(src, n, &idx, d->dt_encoding, &dec, &dl) != MAILIMF_NO_ERROR)
			return DC_ERR_MALFORMED;
		src = dec;
		n = dl;
		mm = true;
	}
	dc_err rc = DC_OK;
	if (n) {
		if (!(*out = malloc(n)))
			rc = DC_ERR_NOMEM;
		else
			memcpy(*out, src, n);
		*len = n;
	}
	if (mm)
		mmap_string_unref(dec);
	return rc;
}

static void walk(const struct mailmime *m, unsigned depth, size_t max_part, struct extract *x);

static void take_single(const struct mailmime *m, size_t max_part, struct extract *x)
{
	char mt[128];
	type_of(m->mm_content_type, mt, sizeof mt);
	struct mailmime_single_fields sf;
	memset(&sf, 0, sizeof sf);
	mailmime_single_fields_init(&sf, m->mm_mime_fields, m->mm_content_type);
	const char *fname = sf.fld_disposition_filename ? sf.fld_disposition_filename :
	                    sf.fld_content_name         ? sf.fld_content_name :
	                                                  "";
	const char *media = NULL;
	for (size_t i = 0; dc_types[i] && !media; i++)
		if (!strcmp(mt, dc_types[i]))
			media = dc_types[i];
	for (size_t i = 0; dc_exts[i] && !media; i++)
		if (ends_with(fname, dc_exts[i]))
			media = dc_types[i]; /* a person attached it: the name says what it is */
	bool sniff = !media && (ends_with(fname, ".json") || !strcmp(mt, "application/json"));
	if (!strncmp(mt, "multipart/", 10)) {
		/* libetpan reads a multipart it cannot split (no boundary) as one opaque part */
		set_bad(x, "malformed MIME: a %.60s with no boundary parameter", mt);
		return;
	}
	if (!media && !sniff)
		return;
	/* DIDComm messages are JSON, which is UTF-8 (RFC 8259): read in another charset, the
	 * bytes would be another message */
	const char *cs = sf.fld_content_charset;
	bool bad_cs = cs && strcasecmp(cs, "utf-8") && strcasecmp(cs, "utf8") && strcasecmp(cs, "us-ascii");
	if (media && bad_cs) {
		set_bad(x, "a %s part in charset %.40s (DIDComm messages are UTF-8)", media, cs);
		return;
	}
	uint8_t *data = NULL;
	size_t len = 0;
	dc_err rc = part_bytes(m, &data, &len);
	if (rc == DC_ERR_NOMEM)
		set_bad(x, "out of memory reading a part");
	else if (rc && media) /* (an ordinary JSON attachment that cannot be decoded is no concern of ours) */
		set_bad(x, "a %s part that cannot be decoded (broken %s)", media,
		        m->mm_data.mm_single && m->mm_data.mm_single->dt_encoding == MAILMIME_MECHANISM_BASE64 ?
		            "base64" :
		            "transfer encoding");
	if (rc)
		return;
	if (sniff && !looks_like_jwm(data, len)) {
		free(data);
		return; /* an ordinary JSON attachment */
	}
	if (sniff && bad_cs) {
		free(data);
		set_bad(x, "a JSON part holding a JWE/JWS in charset %.40s (DIDComm messages are UTF-8)", cs);
		return;
	}
	if (len == 0) {
		if (!x->bad[0])
			snprintf(x->bad, sizeof x->bad, "an empty %s part", media ? media : "JSON");
		return;
	}
	if (len > max_part) {
		free(data);
		if (!x->bad[0])
			snprintf(x->bad, sizeof x->bad, "a DIDComm part of %zu bytes, over max_message_bytes %zu", len, max_part);
		return;
	}
	if (x->n == MAX_DC_PARTS) {
		free(data);
		if (!x->bad[0])
			snprintf(x->bad, sizeof x->bad, "more than %d DIDComm parts in one mail", MAX_DC_PARTS);
		return;
	}
	struct dpart *p = &x->p[x->n++];
	snprintf(p->media, sizeof p->media, "%s", sniff ? "" : media);
	p->data = data;
	p->len = len;
}

static void walk(const struct mailmime *m, unsigned depth, size_t max_part, struct extract *x)
{
	if (!m)
		return;
	if (++x->seen > MAX_PARTS) {
		if (!x->bad[0])
			snprintf(x->bad, sizeof x->bad, "more than %d MIME parts", MAX_PARTS);
		return;
	}
	if (depth > MAX_DEPTH) {
		if (!x->bad[0])
			snprintf(x->bad, sizeof x->bad, "MIME nested deeper than %d levels", MAX_DEPTH);
		return;
	}
	switch (m->mm_type) {
	case MAILMIME_SINGLE:
		take_single(m, max_part, x);
		break;
	case MAILMIME_MULTIPLE: {
		/* a boundary that never occurs: libetpan hands back the body as one plain part */
		char mt[128];
		type_of(m->mm_content_type, mt, sizeof mt);
		const char *b = m->mm_content_type ? mailmime_content_param_get(m->mm_content_type, "boundary") : NULL;
		char delim[80];
		if (!b || !*b || strlen(b) > 70) {
			set_bad(x, "malformed MIME: a %.60s with %s boundary", mt, b && *b ? "an over-long" : "an empty");
			break;
		}
		snprintf(delim, sizeof delim, "--%s", b);
		if (!memmem(x->raw, x->raw_len, delim, strlen(delim))) {
			set_bad(x, "malformed MIME: the boundary of a %.60s never occurs", mt);
			break;
		}
		if (m->mm_data.mm_multipart.mm_mp_list)
			for (clistiter *it = clist_begin(m->mm_data.mm_multipart.mm_mp_list); it; it = clist_next(it))
				walk(clist_content(it), depth + 1, max_part, x);
		break;
	}
	case MAILMIME_MESSAGE:
		walk(m->mm_data.mm_message.mm_msg_mime, depth + 1, max_part, x);
		break;
	default:
		break;
	}
}

/* Content-Type header lines (at a line's start, folded values followed) that name a
 * multipart or message type, counted in the raw mail before libetpan parses it: its parser
 * recurses once per nesting level, and a mail of a few MB nested 100,000 deep overflows the
 * thread's stack. Every level of nesting needs such a line, so bounding their number bounds
 * the depth. Lines in bodies count too (a quoted header): harmless, the bound is far above
 * what a DIDComm mail holds. */
static size_t composite_headers(const char *s, size_t n)
{
	static const char ct[] = "content-type";
	size_t count = 0;
	for (size_t i = 0; i < n; i++) {
		if (i && s[i - 1] != '\n')
			continue;
		if (n - i < sizeof ct || strncasecmp(s + i, ct, sizeof ct - 1) != 0)
			continue;
		size_t j = i + sizeof ct - 1;
		while (j < n && (s[j] == ' ' || s[j] == '\t'))
			j++;
		if (j == n || s[j] != ':')
			continue;
		/* the value, unfolded, up to 200 bytes: does it name multipart or message? */
		char v[201];
		size_t vl = 0;
		for (j++; j < n && vl < sizeof v - 1; j++) {
			if (s[j] == '\r' || s[j] == '\n') {
				size_t k = j + (s[j] == '\r' && j + 1 < n && s[j + 1] == '\n');
				if (k + 1 < n && (s[k + 1] == ' ' || s[k + 1] == '\t')) {
					j = k; /* a folded line goes on */
					continue;
				}
				break;
			}
			v[vl++] = s[j];
		}
		v[vl] = 0;
		/* the type token comes after blanks and (nested) comments, as libetpan reads it; a
		 * value cut off before its token counts, to be safe */
		size_t k = 0;
		unsigned nest = 0;
		for (; k < vl; k++) {
			if (nest) {
				if (v[k] == '\\' && k + 1 < vl)
					k++;
				else if (v[k] == '(')
					nest++;
				else if (v[k] == ')')
					nest--;
			} else if (v[k] == '(') {
				nest++;
			} else if (v[k] != ' ' && v[k] != '\t') {
				break;
			}
		}
		if (k == vl ? vl == sizeof v - 1 :
		              !strncasecmp(v + k, "multipart", 9) || !strncasecmp(v + k, "message", 7))
			count++;
	}
	return count;
}

/* The DIDComm parts of one whole mail, in MIME order. DC_OK with x->n >= 1 and x->bad ""
 * when the mail is usable as a whole; otherwise DC_ERR_MALFORMED / DC_ERR_NOT_FOUND with the
 * reason in x->bad (the parts found are still there, to be freed by extract_clear). */
static dc_err mail_extract(const char *mail, size_t len, size_t max_part, struct extract *x)
{
	memset(x, 0, sizeof *x);
	x->raw = mail;
	x->raw_len = len;
	size_t idx = 0;
	struct mailmime *m = NULL;
	size_t comp = composite_headers(mail, len);
	if (comp > MAX_PARTS) {
		snprintf(x->bad, sizeof x->bad, "malformed MIME: %zu multipart/message headers, over %d (not parsed)", comp,
		         MAX_PARTS);
		return DC_ERR_MALFORMED;
	}
	if (len == 0 || mailmime_parse(mail, len, &idx, &m) != MAILIMF_NO_ERROR || !m) {
		snprintf(x->bad, sizeof x->bad, "not a MIME message");
		return DC_ERR_MALFORMED;
	}
	walk(m, 0, max_part, x);
	mailmime_free(m);
	/* Keywords: didcomm (the parts are taken in MIME order either way) */
	struct mailimf_fields *f = NULL;
	idx = 0;
	if (mailimf_fields_parse(mail, len, &idx, &f) == MAILIMF_NO_ERROR && f) {
		for (clistiter *it = f->fld_list ? clist_begin(f->fld_list) : NULL; it; it = clist_next(it)) {
			struct mailimf_field *fl = clist_content(it);
			if (fl->fld_type != MAILIMF_FIELD_KEYWORDS || !fl->fld_data.fld_keywords)
				continue;
			clist *kl = fl->fld_data.fld_keywords->kw_list;
			for (clistiter *k = kl ? clist_begin(kl) : NULL; k; k = clist_next(k)) {
				const char *w = clist_content(k);
				if (w && !strcasecmp(w, "didcomm"))
					x->keywords = true;
			}
		}
		mailimf_fields_free(f);
	}
	if (x->bad[0])
		return DC_ERR_MALFORMED;
	if (x->n == 0) {
		snprintf(x->bad, sizeof x->bad, "no DIDComm part (no DIDComm media type, no .dcem/.dcsm/.dcpm attachment)");
		return DC_ERR_NOT_FOUND;
	}
	return DC_OK;
}

/* ---- mailboxes ----------------------------------------------------------------------------- */
/* imap[s]://host[:port][/FOLDER] (FOLDER defaults to INBOX) */
static bool url_parse(const char *url, struct mail_srv *s, char *folder, size_t fn)
{
	memset(s, 0, sizeof *s);
	const char *p;
	if (!strncasecmp(url, "imap://", 7)) {
		p = url + 7;
	} else if (!strncasecmp(url, "imaps://", 8)) {
		p = url + 8;
		s->tls = true;
	} else {
		return false;
	}
	const char *hs = p, *he;
	if (*p == '[') {
		hs = p + 1;
		if (!(he = strchr(hs, ']')))
			return false;
		p = he + 1;
	} else {
		he = hs + strcspn(hs, ":/");
		p = he;
	}
	if (he == hs || (size_t)(he - hs) >= sizeof s->host)
		return false;
	memcpy(s->host, hs, (size_t)(he - hs));
	for (const char *c = s->host; *c; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f || *c == '@')
			return false;
	struct in6_addr a6;
	s->ip = inet_pton(AF_INET, s->host, &a6) == 1 || inet_pton(AF_INET6, s->host, &a6) == 1;
	snprintf(s->port, sizeof s->port, "%s", s->tls ? "993" : "143");
	if (*p == ':') {
		p++;
		size_t n = strspn(p, "0123456789");
		if (n == 0 || n > 5)
			return false;
		unsigned long v = strtoul(p, NULL, 10);
		if (v == 0 || v > 65535)
			return false;
		snprintf(s->port, sizeof s->port, "%lu", v);
		p += n;
	}
	if (*p && *p != '/')
		return false;
	const char *f = *p ? p + 1 : "";
	if (!*f)
		f = "INBOX";
	if (strlen(f) >= fn)
		return false;
	for (const char *c = f; *c; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f || strchr("%*\"\\", *c))
			return false;
	snprintf(folder, fn, "%s", f);
	return true;
}

enum { M_OK, M_REJECT, M_LATER }; /* a mail's outcome, in rising precedence */

struct mail {
	struct mbox *mb;
	uint32_t uid;
	unsigned parts, acked;
	int outcome;
	char why[200];
};

struct mbox {
	struct gw_adapter *ad;
	struct mail_srv srv;
	char folder[200], tag[65], src[80];
	pthread_t th;
	bool started;
	int efd;
	struct mail *batch;  /* conf->batch entries; lives until free (acks may be late) */
	unsigned pending;    /* acks not in yet (ad->mu) */
	mailimap *im;        /* the thread's */
	bool standby;        /* another gateway of the cluster reads this mailbox (host->exclusive) */
	uint32_t uidvalidity; /* of the selected folder, this session (0: the server named none) */
};

struct gw_adapter {
	const struct imap_conf *conf;
	struct gw_host *host;
	bool delete_processed;
	size_t max_part;
	char *password;
	X509_STORE *trust; /* when TLS may be used */
	pthread_mutex_t mu;
	bool stop;
	struct mbox mb[MAX_MAILBOXES];
	size_t n_mb;
};

static bool stopping(struct gw_adapter *ad)
{
	pthread_mutex_lock(&ad->mu);
	bool s = ad->stop;
	pthread_mutex_unlock(&ad->mu);
	return s;
}

static void wake(struct mbox *mb)
{
	uint64_t one = 1;
	ssize_t w = write(mb->efd, &one, sizeof one);
	(void)w; /* a full counter still wakes the thread */
}

/* wait up to ms for a wake-up (and, with fd >= 0, for fd to be readable): true if fd is */
static bool wait_for(struct mbox *mb, int fd, int64_t ms)
{
	struct pollfd p[2] = { { .fd = mb->efd, .events = POLLIN }, { .fd = fd, .events = POLLIN } };
	int n = poll(p, fd >= 0 ? 2 : 1, ms > 0x7fffffff ? 0x7fffffff : (int)ms);
	if (n > 0 && (p[0].revents & POLLIN)) {
		uint64_t v;
		ssize_t r = read(mb->efd, &v, sizeof v);
		(void)r;
	}
	return n > 0 && fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR));
}

/* loop thread: what the gateway made of one part */
static void imap_ack(void *arg, const struct gw_reply *r)
{
	struct mail *m = arg;
	struct mbox *mb = m->mb;
	pthread_mutex_lock(&mb->ad->mu);
	if (r->outcome == GW_TRY_LATER) {
		m->outcome = M_LATER;
	} else if (r->outcome == GW_REFUSED && m->outcome == M_OK) {
		m->outcome = M_REJECT;
		snprintf(m->why, sizeof m->why, "refused: %s", r->why ? r->why : "");
	}
	m->acked++;
	mb->pending--;
	pthread_mutex_unlock(&mb->ad->mu);
	wake(mb);
}

static int tcp_connect(struct gw_adapter *ad, const struct mail_srv *s, char *why, size_t why_len)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
	int e = getaddrinfo(s->host, s->port, &hints, &res);
	if (e) {
		snprintf(why, why_len, "%s: %s", s->host, gai_strerror(e));
		return -1;
	}
	int fd = -1;
	snprintf(why, why_len, "%s:%s: no address", s->host, s->port);
	for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
		char pol[200] = "";
		/* the operator's server: a trusted address for the outbound policy */
		if (ad->host->outbound_check(ad->host, a->ai_addr, a->ai_addrlen, false, pol, sizeof pol) != DC_OK) {
			snprintf(why, why_len, "%s", pol[0] ? pol : "outbound policy: address refused");
			continue;
		}
		if ((fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol)) < 0)
			continue;
		struct timeval tv = { .tv_sec = (time_t)(ad->conf->timeout_ms / 1000),
			              .tv_usec = (suseconds_t)(ad->conf->timeout_ms % 1000) * 1000 };
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
		if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
			snprintf(why, why_len, "connect %s:%s: %s", s->host, s->port, strerror(errno));
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	return fd;
}

static void imap_why(mailimap *im, int r, const char *step, char *why, size_t why_len)
{
	char resp[160] = "";
	if (im && im->imap_response) {
		snprintf(resp, sizeof resp, "%s", im->imap_response);
		for (char *c = resp; *c; c++)
			if ((unsigned char)*c < 0x20)
				*c = ' ';
	}
	snprintf(why, why_len, "%s: error %d%s%s", step, r, resp[0] ? ": " : "", resp);
}

/* connected, TLS as configured, logged in, folders there, the mailbox selected */
static mailimap *session_open(struct mbox *mb, char *why, size_t why_len)
{
	struct gw_adapter *ad = mb->ad;
	const struct imap_conf *c = ad->conf;
	time_t tmo = (time_t)((c->timeout_ms + 999) / 1000);
	int fd = tcp_connect(ad, &mb->srv, why, why_len);
	if (fd < 0)
		return NULL;
	mailimap *im = mailimap_new(0, NULL);
	if (!im) {
		close(fd);
		snprintf(why, why_len, "out of memory");
		return NULL;
	}
	mailimap_set_timeout(im, tmo);
	mailstream *st = mb->srv.tls ? mailstream_ssl_open_with_callback_timeout(fd, tmo, mail_tls_sni, &mb->srv) :
	                               mailstream_socket_open_timeout(fd, tmo);
	if (!st) {
		close(fd);
		mailimap_free(im);
		snprintf(why, why_len, "%s with %s:%s failed", mb->srv.tls ? "TLS handshake" : "stream", mb->srv.host,
		         mb->srv.port);
		return NULL;
	}
	if (mb->srv.tls && !mail_tls_verified(ad->trust, st, &mb->srv, why, why_len)) {
		mailstream_close(st); /* and its fd */
		mailimap_free(im);
		return NULL;
	}
	int r = mailimap_connect(im, st);
	if (r != MAILIMAP_NO_ERROR && r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED) {
		imap_why(im, r, "greeting", why, why_len);
		goto fail;
	}
	if (!mb->srv.tls && strcmp(c->starttls, "no") != 0) {
		struct mailimap_capability_data *cd = NULL;
		bool offered = mailimap_capability(im, &cd) == MAILIMAP_NO_ERROR && mailimap_has_extension(im, "STARTTLS");
		if (cd)
			mailimap_capability_data_free(cd);
		if (offered) {
			if ((r = mailimap_socket_starttls_with_callback(im, mail_tls_sni, &mb->srv)) != MAILIMAP_NO_ERROR) {
				imap_why(im, r, "STARTTLS", why, why_len);
				goto fail;
			}
			if (!mail_tls_verified(ad->trust, im->imap_stream, &mb->srv, why, why_len)) {
				mailstream_close(im->imap_stream); /* not one more word to that server, not even LOGOUT */
				im->imap_stream = NULL;
				goto fail;
			}
		} else if (!strcmp(c->starttls, "required")) {
			snprintf(why, why_len, "%s:%s offers no STARTTLS (starttls required)", mb->srv.host, mb->srv.port);
			goto fail;
		}
	}
	if ((r = mailimap_login(im, c->username, ad->password)) != MAILIMAP_NO_ERROR) {
		imap_why(im, r, "LOGIN", why, why_len);
		goto fail;
	}
	/* the capabilities after login (IDLE, MOVE, UIDPLUS) */
	struct mailimap_capability_data *cap = NULL;
	if (mailimap_capability(im, &cap) == MAILIMAP_NO_ERROR && cap)
		mailimap_capability_data_free(cap);
	if (!ad->delete_processed)
		(void)mailimap_create(im, c->processed); /* NO when it exists already: fine */
	(void)mailimap_create(im, c->rejected);
	if ((r = mailimap_select(im, mb->folder)) != MAILIMAP_NO_ERROR) {
		imap_why(im, r, "SELECT", why, why_len);
		goto fail;
	}
	mb->uidvalidity = im->imap_selection_info ? im->imap_selection_info->sel_uidvalidity : 0;
	return im;
fail:
	mailimap_free(im);
	return NULL;
}

/* the uids in the mailbox, oldest first, at most max */
static int search_uids(mailimap *im, uint32_t *uids, size_t max, size_t *n)
{
	*n = 0;
	clist *res = NULL;
	struct mailimap_search_key *k = mailimap_search_key_new_all();
	if (!k)
		return MAILIMAP_ERROR_MEMORY;
	int r = mailimap_uid_search(im, NULL, k, &res);
	mailimap_search_key_free(k);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	for (clistiter *it = clist_begin(res); it && *n < max; it = clist_next(it))
		uids[(*n)++] = *(uint32_t *)clist_content(it);
	mailimap_search_result_free(res);
	return MAILIMAP_NO_ERROR;
}

/* uid -> RFC822.SIZE for a set */
static int fetch_sizes(mailimap *im, const uint32_t *uids, size_t n, uint32_t *sizes)
{
	struct mailimap_set *set = mailimap_set_new_empty();
	struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
	clist *res = NULL;
	int r = MAILIMAP_ERROR_MEMORY;
	if (!set || !ft)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (mailimap_set_add_single(set, uids[i]) != MAILIMAP_NO_ERROR)
			goto out;
	if (mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_uid()) != MAILIMAP_NO_ERROR ||
	    mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_rfc822_size()) != MAILIMAP_NO_ERROR)
		goto out;
	if ((r = mailimap_uid_fetch(im, set, ft, &res)) != MAILIMAP_NO_ERROR)
		goto out;
	for (size_t i = 0; i < n; i++)
		sizes[i] = UINT32_MAX; /* not answered: treated as gone */
	for (clistiter *it = clist_begin(res); it; it = clist_next(it)) {
		struct mailimap_msg_att *ma = clist_content(it);
		uint32_t uid = 0, size = UINT32_MAX;
		for (clistiter *j = clist_begin(ma->att_list); j; j = clist_next(j)) {
			struct mailimap_msg_att_item *item = clist_content(j);
			if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC)
				continue;
			if (item->att_data.att_static->att_type == MAILIMAP_MSG_ATT_UID)
				uid = item->att_data.att_static->att_data.att_uid;
			else if (item->att_data.att_static->att_type == MAILIMAP_MSG_ATT_RFC822_SIZE)
				size = item->att_data.att_static->att_data.att_rfc822_size;
		}
		for (size_t i = 0; i < n; i++)
			if (uids[i] == uid)
				sizes[i] = size;
	}
	mailimap_fetch_list_free(res);
out:
	if (set)
		mailimap_set_free(set);
	if (ft)
		mailimap_fetch_type_free(ft);
	return r;
}

/* UID and BODY.PEEK[] of the mails of uids[0..n) whose sizes fit max_mail (the others are
 * not asked for): one command for them all. *res is libetpan's answer, for body_of, freed
 * with mailimap_fetch_list_free. */
static int fetch_bodies(mailimap *im, const uint32_t *uids, const uint32_t *sizes, size_t n, size_t max_mail,
                        clist **res)
{
	*res = NULL;
	struct mailimap_set *set = mailimap_set_new_empty();
	struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
	struct mailimap_section *sec = mailimap_section_new(NULL);
	struct mailimap_fetch_att *fa = sec ? mailimap_fetch_att_new_body_peek_section(sec) : NULL;
	int r = MAILIMAP_ERROR_MEMORY;
	if (!set || !ft || !fa) {
		if (fa)
			mailimap_fetch_att_free(fa);
		else if (sec)
			mailimap_section_free(sec);
		goto out;
	}
	if (mailimap_fetch_type_new_fetch_att_list_add(ft, fa) != MAILIMAP_NO_ERROR) {
		mailimap_fetch_att_free(fa);
		goto out;
	}
	if (mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_uid()) != MAILIMAP_NO_ERROR)
		goto out;
	size_t asked = 0;
	for (size_t i = 0; i < n; i++) {
		if (sizes[i] == UINT32_MAX || sizes[i] > max_mail)
			continue;
		if (mailimap_set_add_single(set, uids[i]) != MAILIMAP_NO_ERROR)
			goto out;
		asked++;
	}
	r = asked ? mailimap_uid_fetch(im, set, ft, res) : MAILIMAP_NO_ERROR;
out:
	if (set)
		mailimap_set_free(set);
	if (ft)
		mailimap_fetch_type_free(ft);
	return r;
}

/* the body of uid in a fetch_bodies answer (borrowed), or NULL when the server sent none
 * (expunged meanwhile) */
static const char *body_of(clist *res, uint32_t uid, size_t *len)
{
	*len = 0;
	for (clistiter *it = res ? clist_begin(res) : NULL; it; it = clist_next(it)) {
		struct mailimap_msg_att *ma = clist_content(it);
		uint32_t u = 0;
		const char *body = NULL;
		size_t bl = 0;
		for (clistiter *j = clist_begin(ma->att_list); j; j = clist_next(j)) {
			struct mailimap_msg_att_item *item = clist_content(j);
			if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC)
				continue;
			struct mailimap_msg_att_static *st = item->att_data.att_static;
			if (st->att_type == MAILIMAP_MSG_ATT_UID) {
				u = st->att_data.att_uid;
			} else if (st->att_type == MAILIMAP_MSG_ATT_BODY_SECTION && st->att_data.att_body_section->sec_body_part) {
				body = st->att_data.att_body_section->sec_body_part;
				bl = st->att_data.att_body_section->sec_length;
			}
		}
		if (u == uid && body) {
			*len = bl;
			return body;
		}
	}
	return NULL;
}

/* move the mails of a set to folder ("" = delete them): MOVE, else COPY + \Deleted + EXPUNGE */
static int move_set(mailimap *im, struct mailimap_set *set, const char *folder)
{
	int r;
	if (folder[0] && mailimap_has_extension(im, "MOVE"))
		return mailimap_uid_move(im, set, folder);
	if (folder[0] && (r = mailimap_uid_copy(im, set, folder)) != MAILIMAP_NO_ERROR)
		return r;
	struct mailimap_flag_list *fl = mailimap_flag_list_new_empty();
	struct mailimap_flag *f = mailimap_flag_new_deleted();
	if (!fl || !f || mailimap_flag_list_add(fl, f) != MAILIMAP_NO_ERROR) {
		if (f)
			mailimap_flag_free(f);
		if (fl)
			mailimap_flag_list_free(fl);
		return MAILIMAP_ERROR_MEMORY;
	}
	struct mailimap_store_att_flags *sa = mailimap_store_att_flags_new_add_flags_silent(fl);
	if (!sa) {
		mailimap_flag_list_free(fl);
		return MAILIMAP_ERROR_MEMORY;
	}
	r = mailimap_uid_store(im, set, sa);
	mailimap_store_att_flags_free(sa);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	return mailimap_has_extension(im, "UIDPLUS") ? mailimap_uid_expunge(im, set) : mailimap_expunge(im);
}

/* the batch's mails to their folders, by outcome */
static int settle(struct mbox *mb, size_t n)
{
	struct gw_adapter *ad = mb->ad;
	struct mailimap_set *ok = mailimap_set_new_empty(), *rej = mailimap_set_new_empty();
	int r = MAILIMAP_ERROR_MEMORY;
	size_t n_ok = 0, n_rej = 0;
	if (!ok || !rej)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct mail *m = &mb->batch[i];
		if (m->outcome == M_OK && mailimap_set_add_single(ok, m->uid) == MAILIMAP_NO_ERROR)
			n_ok++;
		else if (m->outcome == M_REJECT && mailimap_set_add_single(rej, m->uid) == MAILIMAP_NO_ERROR) {
			n_rej++;
			gw_host_log(ad->host, GW_LOG_WARN, "%s uid %u to %s: %s", mb->src, m->uid, ad->conf->rejected, m->why);
		}
	}
	r = MAILIMAP_NO_ERROR;
	if (n_rej && (r = move_set(mb->im, rej, ad->conf->rejected)) != MAILIMAP_NO_ERROR)
		goto out;
	if (n_ok && (r = move_set(mb->im, ok, ad->delete_processed ? "" : ad->conf->processed)) != MAILIMAP_NO_ERROR)
		goto out;
	if (n_ok)
		gw_host_log(ad->host, GW_LOG_DEBUG, "%s: %zu mail%s %s", mb->src, n_ok, n_ok == 1 ? "" : "s",
		            ad->delete_processed ? "deleted" : "moved to processed");
out:
	if (ok)
		mailimap_set_free(ok);
	if (rej)
		mailimap_set_free(rej);
	return r;
}

/* one mail's DIDComm parts to the gateway (or its reason to be rejected into m) */
static void take_mail(struct mbox *mb, struct mail *m, const char *raw, size_t len, bool *no_inbound)
{
	struct gw_adapter *ad = mb->ad;
	struct gw_host *h = ad->host;
	struct extract x;
	dc_err rc = mail_extract(raw, len, ad->max_part, &x);
	if (rc) {
		m->outcome = M_REJECT;
		snprintf(m->why, sizeof m->why, "%s", x.bad);
		extract_clear(&x);
		return;
	}
	for (size_t k = 0; k < x.n; k++) {
		/* The mail's place (folder, UIDVALIDITY, UID) and the part's index name the part:
		 * taken again after its commit (the session broke before the move, the gateway
		 * stopped in between), it is acked without a second queue item. Without a
		 * UIDVALIDITY a UID may name another mail later: no key then (at least once). */
		char key[160];
		snprintf(key, sizeof key, "%s/%" PRIu32 "/%" PRIu32 "/%zu", mb->src, mb->uidvalidity, m->uid, k);
		struct gw_inbound in = { .source = mb->src, .media_type = x.p[k].media[0] ? x.p[k].media : NULL,
			                 .tag = mb->tag[0] ? mb->tag : NULL, .data = x.p[k].data, .len = x.p[k].len,
			                 .key = mb->uidvalidity ? key : NULL };
		x.p[k].data = NULL; /* submit takes it */
		pthread_mutex_lock(&ad->mu);
		mb->pending++;
		m->parts++;
		pthread_mutex_unlock(&ad->mu);
		rc = h->submit(h, &in, imap_ack, m);
		if (rc) {
			pthread_mutex_lock(&ad->mu);
			mb->pending--;
			m->parts--;
			m->outcome = M_LATER;
			pthread_mutex_unlock(&ad->mu);
			if (rc == DC_ERR_UNSUPPORTED)
				*no_inbound = true;
			break; /* the rest of this mail waits with it */
		}
	}
	extract_clear(&x);
}

/* one round: take up to batch mails, hand their parts over, wait for the acks, settle them.
 * <0: the session broke (why); else the number of mails that stay for later, and *full when
 * the round was a whole batch (more may wait) */
static int round_once(struct mbox *mb, bool *full, bool *no_inbound, char *why, size_t why_len)
{
	struct gw_adapter *ad = mb->ad;
	unsigned cap = ad->conf->batch;
	uint32_t *uids = calloc(cap, sizeof *uids), *sizes = calloc(cap, sizeof *sizes);
	size_t n = 0;
	int later = 0, r;
	bool broken = false;
	*full = false;
	if (!uids || !sizes) {
		free(uids);
		free(sizes);
		snprintf(why, why_len, "out of memory");
		return -1;
	}
	if ((r = search_uids(mb->im, uids, cap, &n)) != MAILIMAP_NO_ERROR) {
		imap_why(mb->im, r, "UID SEARCH", why, why_len);
		broken = true;
		goto out;
	}
	if (n == 0)
		goto out;
	*full = n == cap;
	if ((r = fetch_sizes(mb->im, uids, n, sizes)) != MAILIMAP_NO_ERROR) {
		imap_why(mb->im, r, "UID FETCH RFC822.SIZE", why, why_len);
		broken = true;
		goto out;
	}
	/* the bodies in chunks of at most max_mail bytes, one UID FETCH each (a round trip per
	 * chunk, not per mail), handled in UID order; libetpan's answer is read in place */
	size_t used = 0;
	for (size_t i = 0; i < n && !broken && !*no_inbound && !stopping(ad);) {
		size_t j = i;
		uint64_t total = 0;
		for (; j < n; j++) {
			if (sizes[j] == UINT32_MAX || sizes[j] > ad->conf->max_mail)
				continue;
			if (j > i && total + sizes[j] > ad->conf->max_mail)
				break;
			total += sizes[j];
		}
		clist *res = NULL;
		if ((r = fetch_bodies(mb->im, uids + i, sizes + i, j - i, ad->conf->max_mail, &res)) != MAILIMAP_NO_ERROR) {
			imap_why(mb->im, r, "UID FETCH BODY.PEEK[]", why, why_len);
			broken = true;
			break;
		}
		for (; i < j && !*no_inbound; i++) {
			if (sizes[i] == UINT32_MAX)
				continue; /* gone meanwhile */
			struct mail *m = &mb->batch[used++];
			*m = (struct mail){ .mb = mb, .uid = uids[i], .outcome = M_OK };
			if (sizes[i] > ad->conf->max_mail) {
				m->outcome = M_REJECT;
				snprintf(m->why, sizeof m->why, "%u bytes, over max_mail %zu (not fetched)", sizes[i],
				         ad->conf->max_mail);
				continue;
			}
			size_t len = 0;
			const char *raw = body_of(res, m->uid, &len);
			if (!raw) {
				used--; /* expunged meanwhile */
				continue;
			}
			take_mail(mb, m, raw, len, no_inbound);
		}
		if (res)
			mailimap_fetch_list_free(res);
	}
	/* every ack in before anything moves */
	for (;;) {
		pthread_mutex_lock(&ad->mu);
		bool done = mb->pending == 0, stop = ad->stop;
		pthread_mutex_unlock(&ad->mu);
		if (done)
			break;
		if (stop) {
			/* shutting down with acks outstanding: the mails stay, and come again next start */
			broken = true;
			snprintf(why, why_len, "stopping");
			used = 0;
			break;
		}
		wait_for(mb, -1, 1000);
	}
	for (size_t i = 0; i < used; i++)
		if (mb->batch[i].outcome == M_LATER)
			later++;
	/* with a broken session the moves fail too: those mails come again next round */
	if (used && !broken && (r = settle(mb, used)) != MAILIMAP_NO_ERROR) {
		imap_why(mb->im, r, "moving mails", why, why_len);
		broken = true;
	}
out:
	free(uids);
	free(sizes);
	return broken ? -1 : later;
}

static void *mbox_thread(void *arg)
{
	struct mbox *mb = arg;
	struct gw_adapter *ad = mb->ad;
	prctl(PR_SET_NAME, "gw-imap-in", 0, 0, 0);
	int64_t backoff = 1000;
	char why[400], lock[400];
	snprintf(lock, sizeof lock, "imap %.256s@%s", ad->conf->username, mb->src);
	gw_host_conn(ad->host, mb->src, GW_CONN_CONNECTING, NULL);
	while (!stopping(ad)) {
		/* several gateways on one queue: one reads the mailbox, the others stand by */
		if (ad->host->exclusive && !ad->host->exclusive(ad->host, lock)) {
			if (!mb->standby)
				gw_host_log(ad->host, GW_LOG_INFO, "%s: read by another gateway of the cluster: standing by",
				            mb->src);
			mb->standby = true;
			if (mb->im) {
				mailimap_logout(mb->im);
				mailimap_free(mb->im);
				mb->im = NULL;
			}
			wait_for(mb, -1, ad->conf->poll_ms);
			continue;
		}
		mb->standby = false;
		if (!mb->im) {
			if (!(mb->im = session_open(mb, why, sizeof why))) {
				gw_host_conn(ad->host, mb->src, GW_CONN_DOWN, why);
				gw_host_log(ad->host, GW_LOG_WARN, "%s: %s (again in %llds)", mb->src, why,
				            (long long)(backoff / 1000));
				wait_for(mb, -1, backoff);
				backoff = backoff * 2 > 60000 ? 60000 : backoff * 2;
				continue;
			}
			gw_host_conn(ad->host, mb->src, GW_CONN_UP, NULL);
			gw_host_log(ad->host, GW_LOG_INFO, "%s: logged in%s", mb->src,
			            mailimap_has_idle(mb->im) ? ", IDLE" : ", polling");
		}
		bool full = false, no_inbound = false;
		int later = round_once(mb, &full, &no_inbound, why, sizeof why);
		if (no_inbound) {
			gw_host_log(ad->host, GW_LOG_DEBUG, "%s: this host takes no inbound mail", mb->src);
			break;
		}
		if (later < 0) {
			if (stopping(ad))
				break;
			gw_host_conn(ad->host, mb->src, GW_CONN_DOWN, why);
			/* a session that logs in but breaks in every round (a folder that refuses the
			 * moves) backs off as a server that refuses the login does: only a whole round
			 * resets it */
			gw_host_log(ad->host, GW_LOG_WARN, "%s: %s (reconnecting in %llds)", mb->src, why,
			            (long long)(backoff / 1000));
			mailimap_free(mb->im);
			mb->im = NULL;
			wait_for(mb, -1, backoff);
			backoff = backoff * 2 > 60000 ? 60000 : backoff * 2;
			continue;
		}
		backoff = 1000;
		if (full && later == 0)
			continue; /* more may wait */
		if (later > 0 || !mailimap_has_idle(mb->im)) {
			wait_for(mb, -1, ad->conf->poll_ms);
			continue;
		}
		/* IDLE until the server says something, a wake-up, or the poll interval */
		int r = mailimap_idle(mb->im);
		if (r != MAILIMAP_NO_ERROR) {
			imap_why(mb->im, r, "IDLE", why, sizeof why);
			gw_host_conn(ad->host, mb->src, GW_CONN_DOWN, why);
			gw_host_log(ad->host, GW_LOG_WARN, "%s: %s (reconnecting)", mb->src, why);
			mailimap_free(mb->im);
			mb->im = NULL;
			continue;
		}
		/* what the server said right after "+ idling" (an EXISTS for a mail that came since the
		 * search) may already sit in libetpan's read buffer, where poll() cannot see it */
		if (mb->im->imap_stream->read_buffer_len == 0)
			wait_for(mb, mailimap_idle_get_fd(mb->im), ad->conf->poll_ms);
		if ((r = mailimap_idle_done(mb->im)) != MAILIMAP_NO_ERROR) {
			imap_why(mb->im, r, "IDLE DONE", why, sizeof why);
			gw_host_conn(ad->host, mb->src, GW_CONN_DOWN, why);
			gw_host_log(ad->host, GW_LOG_WARN, "%s: %s (reconnecting)", mb->src, why);
			mailimap_free(mb->im);
			mb->im = NULL;
		}
	}
	if (mb->im) {
		mailimap_logout(mb->im);
		mailimap_free(mb->im);
		mb->im = NULL;
	}
	gw_host_conn(ad->host, mb->src, GW_CONN_DOWN, "stopped");
	return NULL;
}

/* ---- the adapter ------------------------------------------------------------------------- */
static dc_err add_mailbox(struct gw_adapter *ad, const char *spec, unsigned line, struct dc_errinfo *ei)
{
	if (ad->n_mb == MAX_MAILBOXES)
		return dc_errinfo_set(ei, DC_ERR_TOO_BIG, "line %u: more than %d mailboxes", line, MAX_MAILBOXES);
	struct mbox *mb = &ad->mb[ad->n_mb];
	char url[512];
	size_t ul = strcspn(spec, " \t");
	if (ul >= sizeof url)
		return dc_errinfo_set(ei, DC_ERR_INVAL, "line %u: mailbox URL too long", line);
	memcpy(url, spec, ul);
	url[ul] = 0;
	const char *rest = spec + ul;
	rest += strspn(rest, " \t");
	if (*rest) {
		if (strncmp(rest, "tag", 3) != 0 || (rest[3] != ' ' && rest[3] != '\t'))
			return dc_errinfo_set(ei, DC_ERR_INVAL, "line %u: expected 'mailbox URL [tag NAME]'", line);
		rest += 3;
		rest += strspn(rest, " \t");
		size_t tl = strcspn(rest, " \t");
		if (tl == 0 || tl >= sizeof mb->tag || rest[tl + strspn(rest + tl, " \t")])
			return dc_errinfo_set(ei, DC_ERR_INVAL, "line %u: tag NAME: one word of at most %zu bytes", line,
			                      sizeof mb->tag - 1);
		memcpy(mb->tag, rest, tl);
		mb->tag[tl] = 0;
	}
	if (!url_parse(url, &mb->srv, mb->folder, sizeof mb->folder))
		return dc_errinfo_set(ei, DC_ERR_INVAL,
		                      "line %u: expected imap://HOST[:PORT][/FOLDER] or imaps://..., got '%.100s'", line, url);
	char src[sizeof mb->src];
	snprintf(src, sizeof src, "%.40s:%s/%.30s", mb->srv.host, mb->srv.port, mb->folder);
	memcpy(mb->src, src, sizeof src);
	mb->ad = ad;
	mb->efd = -1;
	ad->n_mb++;
	return DC_OK;
}

static void imap_free(struct gw_adapter *ad);

static dc_err imap_create(const void *conf_, const struct gw_limits *lim, struct gw_adapter **out,
                          struct dc_errinfo *ei)
{
	const struct imap_conf *conf = conf_;
	*out = NULL;
	if (!conf->username || !conf->password_file)
		return dc_errinfo_set(ei, DC_ERR_INVAL, "username and password_file are required");
	if (!conf->url[0] && !conf->mailbox.n)
		return dc_errinfo_set(ei, DC_ERR_INVAL, "url (or mailbox lines): which mailbox to read");
	for (const char *c = conf->processed; *c; c++)
		if ((unsigned char)*c < 0x20 || strchr("%*\"\\", *c))
			return dc_errinfo_set(ei, DC_ERR_INVAL, "processed: not a folder name");
	for (const char *c = conf->rejected; *c; c++)
		if ((unsigned char)*c < 0x20 || strchr("%*\"\\", *c))
			return dc_errinfo_set(ei, DC_ERR_INVAL, "rejected: not a folder name");
	if (!strcmp(conf->rejected, "delete"))
		return dc_errinfo_set(ei, DC_ERR_INVAL, "rejected: mail is never deleted unread; name a folder");
	struct gw_adapter *ad = calloc(1, sizeof *ad);
	if (!ad)
		return DC_ERR_NOMEM;
	ad->conf = conf;
	ad->delete_processed = !strcmp(conf->processed, "delete");
	ad->max_part = lim && lim->max_message_bytes ? lim->max_message_bytes : 1 << 20;
	pthread_mutex_init(&ad->mu, NULL);
	dc_err rc = DC_OK;
	if (conf->url[0])
		rc = add_mailbox(ad, conf->url, 0, ei);
	for (size_t i = 0; !rc && i < conf->mailbox.n; i++)
		rc = add_mailbox(ad, conf->mailbox.v[i].v, conf->mailbox.v[i].line, ei);
	if (rc) {
		imap_free(ad);
		return rc;
	}
	*out = ad;
	return DC_OK;
}

static dc_err imap_start(struct gw_adapter *ad, struct gw_host *host, struct dc_errinfo *ei)
{
	ad->host = host;
	dc_err rc = host->read_secret(host, ad->conf->password_file, &ad->password, ei);
	if (rc)
		return rc;
	bool tls = strcmp(ad->conf->starttls, "no") != 0;
	for (size_t i = 0; i < ad->n_mb; i++)
		tls = tls || ad->mb[i].srv.tls;
	if (tls && !ad->trust && (rc = mail_tls_trust(ad->conf->ca_file, &ad->trust, ei)))
		return rc;
	for (size_t i = 0; i < ad->n_mb; i++) {
		struct mbox *mb = &ad->mb[i];
		if (!(mb->batch = calloc(ad->conf->batch, sizeof *mb->batch)) ||
		    (mb->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
			return dc_errinfo_set(ei, DC_ERR_NOMEM, "cannot set up mailbox %s", mb->src);
		if (pthread_create(&mb->th, NULL, mbox_thread, mb) != 0)
			return dc_errinfo_set(ei, DC_ERR_NOMEM, "cannot start the IMAP thread of %s", mb->src);
		mb->started = true;
	}
	return DC_OK;
}

static dc_err imap_send(struct gw_adapter *ad, const struct gw_dest *dest, const struct gw_envelope *env,
                        gw_send_done_fn *done, void *arg)
{
	(void)ad, (void)dest, (void)env, (void)done, (void)arg;
	return DC_ERR_UNSUPPORTED; /* inbound only: mail goes out through [smtp] */
}

static void imap_stop(struct gw_adapter *ad)
{
	pthread_mutex_lock(&ad->mu);
	ad->stop = true;
	pthread_mutex_unlock(&ad->mu);
	for (size_t i = 0; i < ad->n_mb; i++)
		if (ad->mb[i].started)
			wake(&ad->mb[i]);
	for (size_t i = 0; i < ad->n_mb; i++)
		if (ad->mb[i].started) {
			pthread_join(ad->mb[i].th, NULL);
			ad->mb[i].started = false;
		}
}

static void imap_free(struct gw_adapter *ad)
{
	if (!ad)
		return;
	imap_stop(ad);
	for (size_t i = 0; i < ad->n_mb; i++) {
		free(ad->mb[i].batch);
		if (ad->mb[i].efd >= 0)
			close(ad->mb[i].efd);
	}
	if (ad->password) {
		sodium_memzero(ad->password, strlen(ad->password));
		free(ad->password);
	}
	X509_STORE_free(ad->trust);
	pthread_mutex_destroy(&ad->mu);
	free(ad);
}

const struct gw_adapter_ops gw_ad_imap = {
	.name = "imap",
	.schemes = NULL,
	.flags = GW_AD_IN,
	.keys = imap_keys,
	.n_keys = sizeof imap_keys / sizeof imap_keys[0],
	.conf_size = sizeof(struct imap_conf),
	.create = imap_create,
	.start = imap_start,
	.send = imap_send,
	.stop = imap_stop,
	.free = imap_free,
};
