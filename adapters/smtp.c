/* adapters/smtp: DIDComm messages out as mail (DIDComm Email Transport Extension), libetpan.
 *
 * Targets: the rule action `smtp ADDRESS` ("smtp a@b") and DID service endpoints
 * `mailto:ADDRESS` ("resolved smtp mailto:a@b"). Every mail goes to the one relay of the
 * [smtp] section (url), which the operator chose: the outbound address policy is applied to
 * it as a trusted address; the recipient address is data, never a place we connect to.
 *
 * The mail (mail_build): multipart/mixed, a short text/plain part for people that never asks
 * them to open anything, then the DIDComm message as one part with its media type
 * (application/didcomm-encrypted+json, -signed+json, -plain+json), base64, and a filename
 * (.dcem, .dcsm, .dcpm). Headers: Date, From (the gateway's address), To, Subject,
 * Message-ID, In-Reply-To/References, `Keywords: didcomm`, MIME-Version. Subject, Message-ID
 * and In-Reply-To follow the extension where the plaintext is visible (a plaintext or signed
 * message: see mail_meta below); for an encrypted one, the usual case, the Message-ID is
 * derived from the envelope's bytes (a resend of the same envelope carries the same one, so
 * receivers can drop it) and the Subject is the generic one. Anything written into a header
 * is refused when it holds CR, LF or another control byte (header injection), and what comes
 * from a message goes into a header only when it is made of the characters a msg-id or a
 * protocol name allows.
 *
 * Sending: one thread of our own (libetpan is blocking), jobs in arrival order, the SMTP
 * session kept open while more jobs wait. smtps:// is implicit TLS; smtp:// upgrades with
 * STARTTLS as `starttls` says (required | if-offered | no); the server's certificate is
 * verified after the handshake against ca_file or the system's store (tls_verified). AUTH
 * PLAIN (cyrus-sasl) with username + password_file (0600, read at start). Outcomes: the
 * server's 250 after DATA =
 * GW_SENT; a 4xx, a connection that fails or breaks, TLS or AUTH trouble = GW_RETRY (the
 * mail is fine, the path is not); a 5xx to MAIL, RCPT or DATA = GW_FAILED with the server's
 * reply (dead letter). */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <libetpan/libetpan.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "adapter.h"
#include "mailtls.h"

#define MAX_ADDR 254 /* RFC 5321 path limit, less the brackets */

struct smtp_conf {
	char *url, *from, *username, *password_file, *starttls, *ca_file;
	int64_t timeout_ms;
};

#define O(f) offsetof(struct smtp_conf, f)
static const struct gw_conf_key smtp_keys[] = {
	{ "url", GW_CONF_STR, O(url), 8, 512, "smtp://127.0.0.1:25", NULL },
	{ "from", GW_CONF_STR, O(from), 3, MAX_ADDR, NULL, NULL },
	{ "username", GW_CONF_STR, O(username), 0, 256, "", NULL },
	{ "password_file", GW_CONF_STR, O(password_file), 0, 4096, "", NULL },
	{ "starttls", GW_CONF_STR, O(starttls), 1, 16, "if-offered", "required|if-offered|no" },
	{ "timeout", GW_CONF_MS, O(timeout_ms), 1000, 600000, "60s", NULL },
	{ "ca_file", GW_CONF_STR, O(ca_file), 0, 4096, "", NULL },
};
#undef O

/* ---- the mail ---------------------------------------------------------------------------- */

/* a bare mail address, local@domain, safe to put in a header and an SMTP command */
static bool addr_ok(const char *a)
{
	size_t n = strlen(a);
	if (n < 3 || n > MAX_ADDR)
		return false;
	const char *at = strrchr(a, '@');
	if (!at || at == a || !at[1])
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a[i];
		if (c <= 0x20 || c >= 0x7f || strchr("<>,;:\"\\()[]", c))
			return false;
	}
	return strchr(a, '@') == at;
}

/* no byte that could end a header line or hide in one */
static bool header_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return false;
	return true;
}

static const char *media_ext(const char *mt)
{
	if (!strcasecmp(mt, "application/didcomm-encrypted+json"))
		return "dcem";
	if (!strcasecmp(mt, "application/didcomm-signed+json"))
		return "dcsm";
	if (!strcasecmp(mt, "application/didcomm-plain+json"))
		return "dcpm";
	return NULL;
}

struct sbuf {
	char *p;
	size_t n, cap;
	bool oom;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (n > b->cap - b->n) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap - b->n < n) {
			if (cap > SIZE_MAX / 2) {
				b->oom = true;
				return;
			}
			cap *= 2;
		}
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void sb_fmt(struct sbuf *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= sizeof tmp) {
		b->oom = true; /* our own formats are short: a bug, refuse rather than cut */
		return;
	}
	sb_add(b, tmp, (size_t)w);
}

/* base64 in lines of 76 characters, CRLF after each (RFC 2045) */
static void sb_base64(struct sbuf *b, const uint8_t *d, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char line[80];
	size_t l = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)d[i] << 16;
		size_t k = n - i;
		if (k > 1)
			v |= (uint32_t)d[i + 1] << 8;
		if (k > 2)
			v |= d[i + 2];
		line[l++] = tab[(v >> 18) & 63];
		line[l++] = tab[(v >> 12) & 63];
		line[l++] = k > 1 ? tab[(v >> 6) & 63] : '=';
		line[l++] = k > 2 ? tab[v & 63] : '=';
		if (l == 76) {
			line[l++] = '\r';
			line[l++] = '\n';
			sb_add(b, line, l);
			l = 0;
		}
	}
	if (l) {
		line[l++] = '\r';
		line[l++] = '\n';
		sb_add(b, line, l);
	}
}

/* ---- what the message shows: headers by the extension's conventions ----------------------
 * The extension wants Message-ID <id@thid> (the DIDComm id and thid of the first attached
 * message), Subject "PROTOCOL ABC" for the first message of a thread and "Re: PROTOCOL ABC"
 * after it (PROTOCOL from the message's type URI, ABC a piece of thid), In-Reply-To the
 * preceding message of the thread, and for a problem report Subject "Problem CODE -- Re: ..."
 * and a body that gives the code, the comment with its args filled in and escalate_to.
 * All of that is in the plaintext, which the gateway sees only for what it carries as a
 * plaintext (.dcpm) or signed (.dcsm) message: the JWS payload is read, not verified (these are
 * hints for mail clients; the extension says readers must not rely on them). An encrypted
 * message, which is what the gateway relays almost always (a forward's payload, an envelope
 * for someone else), shows nothing of it: then the Message-ID is the hash form, derived from
 * the envelope's bytes (a resend has the same one), the Subject "DIDComm message", and there
 * is no In-Reply-To. (The forward the gateway opened has an id and maybe a thid of its own,
 * but they name the forward, not the attached message, so they are not used.)
 * Thread of a message: its thid, or its id when it has none (the DIDComm rule), so the first
 * message of a thread has Message-ID <id@id> and a reply names it in In-Reply-To as
 * <thid@thid>: the only earlier message a DIDComm plaintext names. A problem report starts a
 * thread under pthid: In-Reply-To <pthid@pthid>; its Subject says "Re: ABC" with ABC from
 * pthid (the parent's protocol is not in the report). Values that cannot go into a header as
 * they are (other than the RFC 5322 atext and '.', or too long) are left out, and the hash form
 * and the generic Subject stand in. */
#define MAX_MSGID 200
#define THREAD_ABBREV 8

struct mail_meta {
	char id[MAX_MSGID + 1], thid[MAX_MSGID + 1], pthid[MAX_MSGID + 1];
	char proto[41];   /* protocol name from type, "" when not visible */
	char code[41];    /* a problem report's code */
	char *problem;    /* a problem report's text for people (malloc'd), or NULL */
	bool visible;     /* a plaintext was read */
};

static void mail_meta_clear(struct mail_meta *m)
{
	free(m->problem);
	memset(m, 0, sizeof *m);
}

/* RFC 5322 dot-atom-text: what may stand on either side of the @ of a msg-id */
static bool dot_atom(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > MAX_MSGID || s[0] == '.' || s[n - 1] == '.' || strstr(s, ".."))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      strchr("!#$%&'*+-/=?^_`{|}~.", *s)))
			return false;
	return true;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

/* a string of at most n-1 bytes that is a dot-atom, into buf; "" otherwise */
static void take_atom(char *buf, size_t n, const char *v)
{
	buf[0] = 0;
	if (v && strlen(v) < n && dot_atom(v))
		memcpy(buf, v, strlen(v) + 1);
}

/* the protocol name of a message type URI: the path segment before the version
 * ("https://didcomm.org/issue-credential/3.0/offer-credential" -> "issue-credential") */
static void proto_of(const char *type, char *buf, size_t n)
{
	buf[0] = 0;
	const char *p = type ? strstr(type, "://") : NULL;
	if (!p || !(p = strchr(p + 3, '/')))
		return;
	const char *prev = NULL;
	size_t prev_len = 0;
	while (*p == '/') {
		const char *seg = ++p;
		size_t len = strcspn(seg, "/?#");
		size_t d1 = strspn(seg, "0123456789");
		if (prev && d1 && d1 < len && seg[d1] == '.' && strspn(seg + d1 + 1, "0123456789") == len - d1 - 1 &&
		    len > d1 + 1) {
			if (prev_len == 0 || prev_len >= n)
				return;
			for (size_t i = 0; i < prev_len; i++)
				if (!((prev[i] >= 'a' && prev[i] <= 'z') || (prev[i] >= 'A' && prev[i] <= 'Z') ||
				      (prev[i] >= '0' && prev[i] <= '9') || strchr("-_.", prev[i])))
					return;
			memcpy(buf, prev, prev_len);
			buf[prev_len] = 0;
			return;
		}
		prev = seg;
		prev_len = len;
		p = seg + len;
	}
}

/* s with control bytes as blanks, into b */
static void sb_text(struct sbuf *b, const char *s, size_t max)
{
	for (size_t i = 0; s[i] && i < max; i++) {
		char c = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
		sb_add(b, &c, 1);
	}
}

/* the problem report's text for people: code, comment with {N} filled from args, escalate_to */
static char *problem_text(const cJSON *body, const char *code)
{
	struct sbuf b = { 0 };
	sb_str(&b, "A DIDComm agent reports a problem.\r\n\r\nProblem code: ");
	sb_str(&b, code);
	sb_str(&b, "\r\n");
	const char *comment = jstr(body, "comment");
	const cJSON *args = cJSON_GetObjectItemCaseSensitive(body, "args");
	if (comment) {
		sb_str(&b, "Comment: ");
		size_t start = b.n;
		for (const char *c = comment; *c && b.n - start < 2000; c++) {
			char *end = NULL;
			unsigned long k = 0;
			if (*c == '{' && c[1] >= '1' && c[1] <= '9' && (k = strtoul(c + 1, &end, 10)) && end && *end == '}' &&
			    cJSON_IsArray(args) && k <= (unsigned long)cJSON_GetArraySize(args)) {
				const cJSON *a = cJSON_GetArrayItem(args, (int)k - 1);
				char num[32];
				if (cJSON_IsString(a) && a->valuestring)
					sb_text(&b, a->valuestring, 500);
				else if (cJSON_IsNumber(a) && snprintf(num, sizeof num, "%g", a->valuedouble) > 0)
					sb_str(&b, num);
				c = end;
				continue;
			}
			sb_text(&b, c, 1);
		}
		sb_str(&b, "\r\n");
	}
	const char *esc = jstr(body, "escalate_to");
	if (esc) {
		sb_str(&b, "Escalate to: ");
		sb_text(&b, esc, 500);
		sb_str(&b, "\r\n");
	}
	sb_add(&b, "", 1);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* the plaintext of a plaintext or signed message (malloc'd, NUL-terminated), or NULL */
static char *plaintext_of(const char *media_type, const uint8_t *data, size_t len)
{
	if (!strcasecmp(media_type, "application/didcomm-plain+json")) {
		char *t = malloc(len + 1);
		if (t) {
			memcpy(t, data, len);
			t[len] = 0;
		}
		return t;
	}
	if (strcasecmp(media_type, "application/didcomm-signed+json") != 0)
		return NULL;
	cJSON *jws = cJSON_ParseWithLength((const char *)data, len);
	const char *pl = jws ? jstr(jws, "payload") : NULL;
	char *t = NULL;
	size_t n = pl ? strlen(pl) : 0, out = 0;
	if (pl && (t = malloc(n / 4 * 3 + 4)) &&
	    sodium_base642bin((unsigned char *)t, n / 4 * 3 + 3, pl, n, NULL, &out, NULL,
	                      sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0) {
		t[out] = 0;
	} else {
		free(t);
		t = NULL;
	}
	cJSON_Delete(jws);
	return t;
}

/* what the message shows (all empty for an encrypted one, or when it cannot be read) */
static void mail_meta_read(const char *media_type, const uint8_t *data, size_t len, struct mail_meta *m)
{
	memset(m, 0, sizeof *m);
	char *text = plaintext_of(media_type, data, len);
	cJSON *msg = text ? cJSON_Parse(text) : NULL;
	free(text);
	if (!cJSON_IsObject(msg)) {
		cJSON_Delete(msg);
		return;
	}
	m->visible = true;
	take_atom(m->id, sizeof m->id, jstr(msg, "id"));
	take_atom(m->thid, sizeof m->thid, jstr(msg, "thid"));
	take_atom(m->pthid, sizeof m->pthid, jstr(msg, "pthid"));
	if (!jstr(msg, "thid")) /* no thid: the message starts its own thread */
		memcpy(m->thid, m->id, sizeof m->id);
	proto_of(jstr(msg, "type"), m->proto, sizeof m->proto);
	const cJSON *body = cJSON_GetObjectItemCaseSensitive(msg, "body");
	const char *code = cJSON_IsObject(body) ? jstr(body, "code") : NULL;
	if (!strcmp(m->proto, "report-problem") && code && strlen(code) < sizeof m->code) {
		bool ok = code[0] != 0;
		for (const char *c = code; *c; c++)
			ok = ok && ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || strchr(".-_", *c));
		if (ok) {
			memcpy(m->code, code, strlen(code) + 1);
			m->problem = problem_text(body, m->code);
		}
	}
	cJSON_Delete(msg);
}

/* ABC of the extension: the start of a thread id */
static void thread_abbrev(const char *thid, char *buf, size_t n)
{
	size_t k = 0;
	for (; thid[k] && k < THREAD_ABBREV && k + 1 < n && (isalnum((unsigned char)thid[k]) || thid[k] == '-'); k++)
		buf[k] = thid[k];
	buf[k] = 0;
}

static void sb_subject(struct sbuf *b, const struct mail_meta *m)
{
	char abc[THREAD_ABBREV + 1] = "";
	if (m->code[0]) {
		thread_abbrev(m->pthid[0] ? m->pthid : m->thid, abc, sizeof abc);
		sb_fmt(b, "Subject: Problem %s -- Re: %s\r\n", m->code, abc[0] ? abc : "DIDComm message");
		return;
	}
	if (!m->proto[0] || !m->thid[0]) {
		sb_str(b, "Subject: DIDComm message\r\n");
		return;
	}
	thread_abbrev(m->thid, abc, sizeof abc);
	bool first = !strcmp(m->thid, m->id);
	sb_fmt(b, "Subject: %s%s%s%s\r\n", first ? "" : "Re: ", m->proto, abc[0] ? " " : "", abc);
}

/* a header holding one msg-id, folded onto its own line when it does not fit on the first */
static void sb_msgid(struct sbuf *b, const char *name, const char *left, const char *right)
{
	bool fold = strlen(name) + 4 + strlen(left) + strlen(right) > 78;
	sb_fmt(b, "%s:%s<%s@%s>\r\n", name, fold ? "\r\n " : " ", left, right);
}

struct mail_in {
	const char *from, *to;   /* bare addresses */
	const char *media_type;  /* a DIDComm media type */
	const uint8_t *data;
	size_t len;
	time_t now;
};

#define MAIL_BODY_TEXT                                                 \
	"This mail carries a DIDComm message between software agents.\r\n" \
	"It is handled automatically: nothing in it is meant for a\r\n"     \
	"person to read or act on.\r\n"

/* The whole mail, CRLF line ends, in *out (malloc'd, NUL-terminated). DC_ERR_INVAL with why
 * when an address or the media type cannot go into a header. */
static dc_err mail_build(const struct mail_in *in, char **out, size_t *out_len, char *why, size_t why_len)
{
	*out = NULL;
	*out_len = 0;
	if (!addr_ok(in->from) || !header_safe(in->from)) {
		snprintf(why, why_len, "from: not a bare mail address (local@domain)");
		return DC_ERR_INVAL;
	}
	if (!addr_ok(in->to) || !header_safe(in->to)) {
		snprintf(why, why_len, "recipient is not a bare mail address (local@domain, no CR/LF or specials)");
		return DC_ERR_INVAL;
	}
	const char *ext = in->media_type ? media_ext(in->media_type) : NULL;
	if (!ext) {
		snprintf(why, why_len, "not a DIDComm media type: %.80s", in->media_type ? in->media_type : "(none)");
		return DC_ERR_INVAL;
	}
	/* the bytes' hash names the mail: same envelope, same Message-ID and boundary */
	uint8_t h[16];
	char hex[33];
	crypto_generichash(h, sizeof h, in->data, in->len, NULL, 0);
	sodium_bin2hex(hex, sizeof hex, h, sizeof h);
	const char *domain = strrchr(in->from, '@') + 1;
	char date[64];
	struct tm tm;
	if (!gmtime_r(&in->now, &tm) || !strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm)) {
		snprintf(why, why_len, "cannot format the date");
		return DC_ERR_INVAL;
	}
	struct mail_meta mm;
	mail_meta_read(in->media_type, in->data, in->len, &mm);
	struct sbuf b = { 0 };
	sb_fmt(&b, "Date: %s\r\n", date);
	sb_fmt(&b, "From: <%s>\r\n", in->from);
	sb_fmt(&b, "To: <%s>\r\n", in->to);
	sb_subject(&b, &mm);
	if (mm.id[0] && mm.thid[0])
		sb_msgid(&b, "Message-ID", mm.id, mm.thid);
	else
		sb_fmt(&b, "Message-ID: <dc.%s@%s>\r\n", hex, domain);
	/* the thread's first message (or, for a problem report, the parent thread's) */
	const char *parent = mm.code[0] && mm.pthid[0] ? mm.pthid : mm.id[0] && strcmp(mm.thid, mm.id) ? mm.thid : "";
	if (parent[0]) {
		sb_msgid(&b, "In-Reply-To", parent, parent);
		sb_msgid(&b, "References", parent, parent);
	}
	sb_str(&b, "Keywords: didcomm\r\n");
	sb_str(&b, "MIME-Version: 1.0\r\n");
	sb_fmt(&b, "Content-Type: multipart/mixed;\r\n boundary=\"=_dc_%s\"\r\n", hex);
	sb_str(&b, "\r\n");
	sb_fmt(&b, "--=_dc_%s\r\n", hex);
	if (mm.problem) {
		/* the agent's own words may be any UTF-8: base64 keeps the lines short and the bytes intact */
		sb_str(&b, "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n");
		struct sbuf t = { 0 };
		sb_str(&t, mm.problem);
		sb_str(&t, "\r\n");
		sb_str(&t, MAIL_BODY_TEXT);
		if (t.oom)
			b.oom = true;
		else
			sb_base64(&b, (const uint8_t *)t.p, t.n);
		free(t.p);
	} else {
		sb_str(&b, "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n");
		sb_str(&b, MAIL_BODY_TEXT);
	}
	mail_meta_clear(&mm);
	sb_fmt(&b, "--=_dc_%s\r\n", hex);
	sb_fmt(&b, "Content-Type: %s\r\n", in->media_type);
	sb_fmt(&b, "Content-Disposition: attachment; filename=\"message.%s\"\r\n", ext);
	sb_str(&b, "Content-Transfer-Encoding: base64\r\n\r\n");
	sb_base64(&b, in->data, in->len);
	sb_fmt(&b, "--=_dc_%s--\r\n", hex);
	sb_add(&b, "", 1);
	if (b.oom) {
		free(b.p);
		snprintf(why, why_len, "out of memory");
		return DC_ERR_NOMEM;
	}
	*out = b.p;
	*out_len = b.n - 1;
	return DC_OK;
}

/* the recipient of a destination: "a@b" or "mailto:a@b" (no query: one bare address) */
static bool dest_rcpt(const struct gw_dest *d, char *buf, size_t n)
{
	char t[MAX_ADDR + 16];
	if (!gw_dest_target(d, t, sizeof t))
		return false;
	const char *a = t;
	if (!strncasecmp(a, "mailto:", 7))
		a += 7;
	if (strlen(a) >= n || !addr_ok(a))
		return false;
	memcpy(buf, a, strlen(a) + 1);
	return true;
}

/* ---- url ------------------------------------------------------------------------------- */
/* scheme://host[:port][/...] with the given schemes and default ports */
static bool url_parse(const char *url, const char *plain, const char *tls, const char *dport, const char *dtport,
                      struct mail_srv *s, const char **rest)
{
	memset(s, 0, sizeof *s);
	size_t pl = strlen(plain), tl = strlen(tls);
	const char *p;
	if (!strncasecmp(url, plain, pl) && !strncmp(url + pl, "://", 3)) {
		p = url + pl + 3;
	} else if (!strncasecmp(url, tls, tl) && !strncmp(url + tl, "://", 3)) {
		p = url + tl + 3;
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
	snprintf(s->port, sizeof s->port, "%s", s->tls ? dtport : dport);
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
	if (rest)
		*rest = p;
	else if (*p && strcmp(p, "/"))
		return false;
	return true;
}

/* ---- the adapter ------------------------------------------------------------------------ */
struct sjob {
	struct sjob *next;
	char rcpt[MAX_ADDR + 1];
	char *mail; /* NULL: refused before sending (err says why) */
	size_t len;
	char err[200];
	gw_send_done_fn *done;
	void *arg;
};

struct gw_adapter {
	const struct smtp_conf *conf;
	struct gw_host *host;
	struct mail_srv srv;
	enum { TLS_REQUIRED, TLS_IF_OFFERED, TLS_NO } starttls;
	char *password;
	X509_STORE *trust; /* when TLS may be used */
	pthread_t th;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct sjob *head, **tail;
	bool stop;
};

static void job_finish(struct sjob *j, enum gw_send_result r, const char *why)
{
	j->done(j->arg, r, why);
	free(j->mail);
	free(j);
}

/* connect to the relay: every address DNS gives, each through the outbound policy */
static int relay_connect(struct gw_adapter *ad, char *why, size_t why_len)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res = NULL;
	int e = getaddrinfo(ad->srv.host, ad->srv.port, &hints, &res);
	if (e) {
		snprintf(why, why_len, "%s: %s", ad->srv.host, gai_strerror(e));
		return -1;
	}
	int fd = -1;
	snprintf(why, why_len, "%s:%s: no address", ad->srv.host, ad->srv.port);
	for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
		char pol[200] = "";
		if (ad->host->outbound_check(ad->host, a->ai_addr, a->ai_addrlen, false, pol, sizeof pol) != DC_OK) {
			snprintf(why, why_len, "%s", pol[0] ? pol : "outbound policy: address refused");
			continue;
		}
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		struct timeval tv = { .tv_sec = (time_t)(ad->conf->timeout_ms / 1000),
			              .tv_usec = (suseconds_t)(ad->conf->timeout_ms % 1000) * 1000 };
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* bounds connect() too */
		if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
			snprintf(why, why_len, "connect %s:%s: %s", ad->srv.host, ad->srv.port, strerror(errno));
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	return fd;
}

/* the server's last reply, for logs and dead letters, one line */
static void reply_of(mailsmtp *s, int r, char *why, size_t why_len, const char *step)
{
	char resp[200] = "";
	if (s && s->response) {
		snprintf(resp, sizeof resp, "%s", s->response);
		for (char *c = resp; *c; c++)
			if ((unsigned char)*c < 0x20)
				*c = ' ';
	}
	if (s && s->response_code)
		snprintf(why, why_len, "%s: SMTP %d %s", step, s->response_code, resp);
	else
		snprintf(why, why_len, "%s: %s", step, mailsmtp_strerror(r));
}

/* a new session, greeted, TLS as configured, authenticated; NULL with why */
static mailsmtp *session_open(struct gw_adapter *ad, char *why, size_t why_len)
{
	int fd = relay_connect(ad, why, why_len);
	if (fd < 0)
		return NULL;
	time_t tmo = (time_t)((ad->conf->timeout_ms + 999) / 1000);
	mailsmtp *s = mailsmtp_new(0, NULL);
	mailstream *st = NULL;
	if (!s) {
		close(fd);
		snprintf(why, why_len, "out of memory");
		return NULL;
	}
	mailsmtp_set_timeout(s, tmo);
	st = ad->srv.tls ? mailstream_ssl_open_with_callback_timeout(fd, tmo, mail_tls_sni, &ad->srv) :
	                   mailstream_socket_open_timeout(fd, tmo);
	if (!st) {
		close(fd);
		snprintf(why, why_len, "%s with %s:%s failed", ad->srv.tls ? "TLS handshake" : "stream", ad->srv.host,
		         ad->srv.port);
		mailsmtp_free(s);
		return NULL;
	}
	if (ad->srv.tls && !mail_tls_verified(ad->trust, st, &ad->srv, why, why_len)) {
		mailstream_close(st); /* and its fd */
		mailsmtp_free(s);
		return NULL;
	}
	int r = mailsmtp_connect(s, st); /* takes the stream */
	if (r != MAILSMTP_NO_ERROR) {
		reply_of(s, r, why, why_len, "greeting");
		goto fail;
	}
	r = mailesmtp_ehlo(s);
	if (r == MAILSMTP_ERROR_NOT_IMPLEMENTED && ad->starttls != TLS_REQUIRED && !ad->conf->username[0])
		r = mailsmtp_helo(s);
	if (r != MAILSMTP_NO_ERROR) {
		reply_of(s, r, why, why_len, "EHLO");
		goto fail;
	}
	if (!ad->srv.tls && ad->starttls != TLS_NO) {
		if (s->esmtp & MAILSMTP_ESMTP_STARTTLS) {
			if ((r = mailsmtp_socket_starttls_with_callback(s, mail_tls_sni, &ad->srv)) != MAILSMTP_NO_ERROR) {
				reply_of(s, r, why, why_len, "STARTTLS");
				goto fail;
			}
			if (!mail_tls_verified(ad->trust, s->stream, &ad->srv, why, why_len)) {
				mailstream_close(s->stream); /* not one more word to that server, not even QUIT */
				s->stream = NULL;
				goto fail;
			}
			if ((r = mailesmtp_ehlo(s)) != MAILSMTP_NO_ERROR) {
				reply_of(s, r, why, why_len, "EHLO after STARTTLS");
				goto fail;
			}
		} else if (ad->starttls == TLS_REQUIRED) {
			snprintf(why, why_len, "%s:%s offers no STARTTLS (starttls required)", ad->srv.host, ad->srv.port);
			goto fail;
		}
	}
	if (ad->conf->username[0]) {
		r = mailesmtp_auth_sasl(s, "PLAIN", ad->srv.host, NULL, NULL, ad->conf->username, ad->conf->username,
		                        ad->password ? ad->password : "", NULL);
		if (r != MAILSMTP_NO_ERROR) {
			reply_of(s, r, why, why_len, "AUTH");
			goto fail;
		}
	}
	return s;
fail:
	mailsmtp_free(s); /* closes the stream and its fd */
	return NULL;
}

/* one mail on an open session; the outcome, with why */
static enum gw_send_result send_one(struct gw_adapter *ad, mailsmtp *s, struct sjob *j, char *why, size_t why_len,
                                    bool *broken)
{
	const char *step = "MAIL FROM";
	int r = (s->esmtp ? mailesmtp_mail(s, ad->conf->from, 0, NULL) : mailsmtp_mail(s, ad->conf->from));
	if (r == MAILSMTP_NO_ERROR) {
		step = "RCPT TO";
		r = s->esmtp ? mailesmtp_rcpt(s, j->rcpt, 0, NULL) : mailsmtp_rcpt(s, j->rcpt);
	}
	if (r == MAILSMTP_NO_ERROR) {
		step = "DATA";
		r = mailsmtp_data(s);
	}
	if (r == MAILSMTP_NO_ERROR) {
		step = "end of DATA";
		r = mailsmtp_data_message(s, j->mail, j->len);
	}
	if (r == MAILSMTP_NO_ERROR) {
		snprintf(why, why_len, "SMTP %d to %s", s->response_code ? s->response_code : 250, j->rcpt);
		return GW_SENT;
	}
	reply_of(s, r, why, why_len, step);
	int code = s->response_code;
	if (code >= 500 && code < 600) {
		/* refused for good; the session can carry the next mail after RSET */
		if (mailsmtp_reset(s) != MAILSMTP_NO_ERROR)
			*broken = true;
		return GW_FAILED;
	}
	*broken = true; /* 4xx or a broken stream: start afresh */
	return GW_RETRY;
}

static void *smtp_thread(void *arg)
{
	struct gw_adapter *ad = arg;
	prctl(PR_SET_NAME, "gw-smtp-out", 0, 0, 0);
	mailsmtp *s = NULL;
	/* connections are made on demand: the state shown is the last session's (up: the relay
	 * took it; down: the connect or the session failed), first shown at the first mail */
	char target[300];
	snprintf(target, sizeof target, "%s:%s", ad->srv.host, ad->srv.port);
	for (;;) {
		pthread_mutex_lock(&ad->mu);
		while (!ad->head && !ad->stop) {
			if (s) {
				/* nothing more to send: close the session before sleeping */
				pthread_mutex_unlock(&ad->mu);
				mailsmtp_quit(s);
				mailsmtp_free(s);
				s = NULL;
				pthread_mutex_lock(&ad->mu);
				continue;
			}
			pthread_cond_wait(&ad->cv, &ad->mu);
		}
		struct sjob *j = ad->head;
		if (j && !ad->stop) {
			ad->head = j->next;
			if (!ad->head)
				ad->tail = &ad->head;
		} else {
			j = NULL;
		}
		pthread_mutex_unlock(&ad->mu);
		if (!j)
			break; /* stopping: smtp_stop completes what is left */
		char why[400];
		if (!j->mail) {
			gw_host_log(ad->host, GW_LOG_WARN, "refused: %s", j->err);
			job_finish(j, GW_FAILED, j->err);
			continue;
		}
		if (!s && !(s = session_open(ad, why, sizeof why))) {
			gw_host_conn(ad->host, target, GW_CONN_DOWN, why);
			gw_host_log(ad->host, GW_LOG_WARN, "to %s: %s (will retry)", j->rcpt, why);
			job_finish(j, GW_RETRY, why);
			continue;
		}
		bool broken = false;
		gw_host_conn(ad->host, target, GW_CONN_UP, NULL);
		enum gw_send_result res = send_one(ad, s, j, why, sizeof why, &broken);
		if (res == GW_FAILED)
			gw_host_log(ad->host, GW_LOG_WARN, "to %s: refused: %s", j->rcpt, why);
		else if (res == GW_RETRY)
			gw_host_log(ad->host, GW_LOG_INFO, "to %s: %s (will retry)", j->rcpt, why);
		job_finish(j, res, why);
		if (broken) {
			if (res == GW_RETRY) /* a 4xx or a broken stream (a 5xx leaves the server up) */
				gw_host_conn(ad->host, target, GW_CONN_DOWN, why);
			mailsmtp_free(s);
			s = NULL;
		}
	}
	if (s) {
		mailsmtp_quit(s);
		mailsmtp_free(s);
	}
	return NULL;
}

static dc_err smtp_create(const void *conf_, const struct gw_limits *lim, struct gw_adapter **out,
                          struct dc_errinfo *ei)
{
	const struct smtp_conf *conf = conf_;
	(void)lim;
	*out = NULL;
	struct mail_srv srv;
	if (!url_parse(conf->url, "smtp", "smtps", "25", "465", &srv, NULL))
		return dc_errinfo_set(ei, DC_ERR_INVAL, "url: expected smtp://HOST[:PORT] or smtps://HOST[:PORT], got '%.100s'",
		                      conf->url);
	if (!conf->from || !conf->from[0])
		return dc_errinfo_set(ei, DC_ERR_INVAL, "from: the gateway's mail address is required");
	if (!addr_ok(conf->from))
		return dc_errinfo_set(ei, DC_ERR_INVAL, "from: '%.100s' is not a bare mail address (local@domain)",
		                      conf->from);
	if (conf->username[0] && !conf->password_file[0])
		return dc_errinfo_set(ei, DC_ERR_INVAL, "username needs password_file");
	if (!header_safe(conf->username))
		return dc_errinfo_set(ei, DC_ERR_INVAL, "username: control bytes");
	struct gw_adapter *ad = calloc(1, sizeof *ad);
	if (!ad)
		return DC_ERR_NOMEM;
	ad->conf = conf;
	ad->srv = srv;
	ad->starttls = !strcmp(conf->starttls, "required") ? TLS_REQUIRED : !strcmp(conf->starttls, "no") ? TLS_NO :
	                                                                                                      TLS_IF_OFFERED;
	ad->tail = &ad->head;
	pthread_mutex_init(&ad->mu, NULL);
	pthread_cond_init(&ad->cv, NULL);
	*out = ad;
	return DC_OK;
}

static dc_err smtp_start(struct gw_adapter *ad, struct gw_host *host, struct dc_errinfo *ei)
{
	ad->host = host;
	dc_err rc;
	if (ad->conf->password_file[0] && (rc = host->read_secret(host, ad->conf->password_file, &ad->password, ei)))
		return rc;
	if ((ad->srv.tls || ad->starttls != TLS_NO) && !ad->trust && (rc = mail_tls_trust(ad->conf->ca_file, &ad->trust, ei)))
		return rc;
	if (pthread_create(&ad->th, NULL, smtp_thread, ad) != 0)
		return dc_errinfo_set(ei, DC_ERR_NOMEM, "cannot start the SMTP thread");
	ad->started = true;
	return DC_OK;
}

static dc_err smtp_send(struct gw_adapter *ad, const struct gw_dest *dest, const struct gw_envelope *env,
                        gw_send_done_fn *done, void *arg)
{
	struct sjob *j = calloc(1, sizeof *j);
	if (!j)
		return DC_ERR_NOMEM;
	j->done = done;
	j->arg = arg;
	/* a refusal goes through the thread too: done() never comes from inside send() */
	if (!dest_rcpt(dest, j->rcpt, sizeof j->rcpt)) {
		snprintf(j->rcpt, sizeof j->rcpt, "?");
		snprintf(j->err, sizeof j->err, "not one bare mail address (local@domain, no CR/LF or specials)");
	} else {
		struct mail_in in = { .from = ad->conf->from, .to = j->rcpt,
			              .media_type = env->media_type ? env->media_type : "application/didcomm-encrypted+json",
			              .data = env->data, .len = env->len, .now = time(NULL) };
		dc_err rc = mail_build(&in, &j->mail, &j->len, j->err, sizeof j->err);
		if (rc == DC_ERR_NOMEM) {
			free(j);
			return rc;
		}
	}
	pthread_mutex_lock(&ad->mu);
	if (ad->stop || !ad->started) {
		pthread_mutex_unlock(&ad->mu);
		free(j->mail);
		free(j);
		return DC_ERR_AGAIN;
	}
	*ad->tail = j;
	ad->tail = &j->next;
	pthread_cond_signal(&ad->cv);
	pthread_mutex_unlock(&ad->mu);
	return DC_OK;
}

static void smtp_stop(struct gw_adapter *ad)
{
	pthread_mutex_lock(&ad->mu);
	bool was = ad->stop;
	ad->stop = true;
	pthread_cond_broadcast(&ad->cv);
	pthread_mutex_unlock(&ad->mu);
	if (was || !ad->started)
		return;
	pthread_join(ad->th, NULL);
	ad->started = false;
	/* what is left waits for the next start */
	pthread_mutex_lock(&ad->mu);
	struct sjob *j = ad->head;
	ad->head = NULL;
	ad->tail = &ad->head;
	pthread_mutex_unlock(&ad->mu);
	while (j) {
		struct sjob *n = j->next;
		job_finish(j, GW_RETRY, "gateway shutting down");
		j = n;
	}
}

static void smtp_free(struct gw_adapter *ad)
{
	if (!ad)
		return;
	smtp_stop(ad);
	if (ad->password) {
		sodium_memzero(ad->password, strlen(ad->password));
		free(ad->password);
	}
	X509_STORE_free(ad->trust);
	pthread_mutex_destroy(&ad->mu);
	pthread_cond_destroy(&ad->cv);
	free(ad);
}

static bool smtp_endpoint(const void *conf_, char *buf, size_t n)
{
	const struct smtp_conf *conf = conf_;
	if (!conf->from)
		return false;
	int w = snprintf(buf, n, "mailto:%s", conf->from);
	return w > 0 && (size_t)w < n;
}

static const char *const smtp_schemes[] = { "mailto", NULL };
const struct gw_adapter_ops gw_ad_smtp = {
	.name = "smtp",
	.schemes = smtp_schemes,
	.flags = GW_AD_OUT,
	.keys = smtp_keys,
	.n_keys = sizeof smtp_keys / sizeof smtp_keys[0],
	.conf_size = sizeof(struct smtp_conf),
	.create = smtp_create,
	.start = smtp_start,
	.send = smtp_send,
	.stop = smtp_stop,
	.free = smtp_free,
	.endpoint = smtp_endpoint,
};
