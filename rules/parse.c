/* Rules: recursive-descent parser and checker.
 *
 * GRAMMAR (EBNF over the tokens of lex.c; NL is the end of a line)
 *
 *   file      = { rule } EOF ;
 *   rule      = match "->" actions [ "else" actions ] ( NL | EOF ) ;
 *   match     = "default" | matcher { matcher } ;
 *   matcher   = ( "from" | "via" ) alts(TRANSPORT)  inbound transport
 *             | "to" alts(DIDGLOB)                  recipient DID
 *             | "sender" alts(DIDGLOB)              sender DID (unknown sender: no match)
 *             | "type" alts(TYPEGLOB)               message type (not visible: no match)
 *             | "media" alts(MEDIA)                 media type of the packed message
 *             | "size" ( "<" | "<=" | ">" | ">=" ) SIZE
 *             | "tag" alts(NAME) ;                  tag given by the inbound adapter's config
 *   alts(X)   = X { "|" X } ;                       any one of them
 *   actions   = action { "," action } ;             all of them (fan-out)
 *   action    = ADAPTER TARGET { OPTION }           deliver through that adapter
 *             | "resolve" { SCHEME }                recipient's DIDCommMessaging endpoints
 *             | "hold" DURATION                     keep for pickup or a later delivery
 *             | "reject" [ CODE ] ;                 refuse, with a problem report if possible
 *
 *   TRANSPORT = ADAPTER = "http" | "ws" | "mqtt" | "smtp" | "file" ;
 *   SCHEME    = "http" | "https" | "ws" | "wss" | "mqtt" | "mqtts" | "mailto" | "file" ;
 *   DIDGLOB   = { A-Z a-z 0-9 . - _ : % * ? }, and able to match "did:..." (without * or ? it
 *               must be a DID) ;  * is any run of bytes, ? one byte
 *   TYPEGLOB  = printable ASCII, no blanks ;  * and ? as above
 *   MEDIA     = "plain" | "signed" | "encrypted" | type "/" subtype (RFC 6838 characters) ;
 *   SIZE      = DIGITS [ "k" | "K" | "M" | "G" ]    k = 1024; at most 1G ;
 *   DURATION  = DIGITS ( "s" | "m" | "h" | "d" )    1s .. 365d ;
 *   CODE      = "e." TOKEN "." TOKEN { "." TOKEN }  TOKEN = [a-z0-9-]+ (default
 *               e.p.xfer.cant-use-endpoint) ;
 *   NAME      = [A-Za-z0-9_.-], 1 to 64 bytes ;
 *   TARGET    = one word or "string" with placeholders {to} {from} {id} {thid}:
 *               http  http:// or https:// URL, no placeholder in the scheme or host
 *               ws    ws:// or wss:// URL, likewise
 *               mqtt  topic: no + or #, not starting with $, valid UTF-8
 *               smtp  mail address (local@domain, or mailto:local@domain)
 *               file  directory (the message is written into it) ;
 *   OPTION    = KEY "=" VALUE as one word: mqtt qos=0|1|2 retain=yes|no;
 *               http and ws timeout=DURATION (1s..10m) ;
 *
 * Every value may be written as a "string" (escapes \" and \\ only); a string is never a
 * keyword, so "else" or "default" can be a value. `else` is reserved in action lists.
 * A line continues the rule above when it begins with "->", ",", "|" or "else", or when the
 * line above ends with "->", ",", "|" or "else", or with a backslash.
 *
 * MEANING
 *   First match wins. A rule's matchers must all match, left to right; a matcher on a field
 *   that is unknown for this message (sender of anoncrypt, type of an encrypted message)
 *   does not match. `default` matches everything: rules after it are never reached (warning);
 *   without one, a message that matches no rule is rejected (warning).
 *   Actions after "->" all run; hold and reject stand alone in their list. `else` is what
 *   happens to the message when an action cannot be carried out (resolve finds no usable
 *   endpoint, a target cannot be rendered, a delivery fails for good or runs out of retries,
 *   a hold runs out with nobody picking the message up); each failing action of a fan-out
 *   falls back on its own. The `else` list has no `else` of its own (when it fails too, the
 *   message is dead-lettered). No `else` after a reject.
 *
 * ERRORS are collected, never fatal: after one, the parser skips to the next matcher, the
 * next action (`,` or `else`) or the next rule, and goes on, so every error in a file is
 * reported with its line and column. */
#include "rule_int.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <stdlib.h>

struct rule_set {
	char *name;
	struct rule *v;
	size_t n, cap;
};

const char *const rule__transports[] = { "http", "ws", "mqtt", "smtp", "imap", "file", "pipe", NULL };
const char *const rule__schemes[] = { "http", "https", "ws", "wss", "mqtt", "mqtts", "mailto", "file", NULL };

static const char *const matcher_kw[] = {
	[MK_FROM] = "from", [MK_TO] = "to", [MK_SENDER] = "sender", [MK_TYPE] = "type",
	[MK_MEDIA] = "media", [MK_SIZE] = "size", [MK_TAG] = "tag", [MK_RELAY] = "relay",
};

/* Options, one row each (cf. nginx directives): adapter, key, type, bounds. */
enum otype { OT_UINT, OT_BOOL, OT_DURATION, OT_TOPIC /* an mqtt topic template, rendered like the target */ };
static const struct optdef {
	const char *adapter, *key;
	enum otype type;
	int64_t min, max;
} optdefs[] = {
	{ "mqtt", "qos", OT_UINT, 0, 2 },
	{ "mqtt", "retain", OT_BOOL, 0, 1 },
	{ "mqtt", "presence", OT_TOPIC, 0, 0 },
	{ "http", "timeout", OT_DURATION, 1, 600 },
	{ "ws", "timeout", OT_DURATION, 1, 600 },
};
#define N_OPTDEFS (sizeof optdefs / sizeof optdefs[0])

struct parser {
	struct rule__lexer lx;
	struct rule__tok prev, cur, nxt; /* prev: the last token consumed */
	struct rule__diags *d;
	struct rule_set *set;
	bool nomem;
	bool split; /* the current rule ended at a joined line that starts the next rule */
	unsigned hush_line, hush_col;
};

#define ERR(p, t, ...) perr(p, (t)->line, (t)->col, __VA_ARGS__)
#define ERRAT(p, t, off, ...) perr(p, (t)->line, col_plus(t, off), __VA_ARGS__)
#define WARN(p, line, col, ...) rule__diag((p)->d, RULE_WARNING, line, col, __VA_ARGS__)

/* An error, unless the lexer already reported a broken token at or before this place on
 * this line (an unterminated string swallows the rest of the line: one error is enough). */
static void perr(struct parser *p, unsigned line, unsigned col, const char *fmt, ...) RULE__PRINTF(4, 5);
static void perr(struct parser *p, unsigned line, unsigned col, const char *fmt, ...)
{
	if (p->hush_line == line && col >= p->hush_col)
		return;
	va_list ap;
	va_start(ap, fmt);
	rule__vdiag(p->d, RULE_ERROR, line, col, fmt, ap);
	va_end(ap);
}

/* Column of byte `off` of a token's value (a string's value starts after its quote). */
static unsigned col_plus(const struct rule__tok *t, size_t off)
{
	size_t c = (size_t)t->col + off + (t->k == TK_STR ? 1 : 0);
	return c > 0xFFFFFFFFu ? 0xFFFFFFFFu : (unsigned)c;
}

/* ---- numbers: bounded, overflow checked before each step (style.md pitfall 5) ---- */

static int parse_digits(const char *s, size_t len, size_t *used, uint64_t max, uint64_t *out)
{
	uint64_t n = 0;
	size_t i = 0;
	while (i < len && s[i] >= '0' && s[i] <= '9') {
		unsigned dgt = (unsigned)(s[i] - '0');
		if (dgt > max || n > (max - dgt) / 10)
			return -1;
		n = n * 10 + dgt;
		i++;
	}
	if (i == 0)
		return -1;
	*used = i;
	*out = n;
	return 0;
}

int rule_parse_duration(const char *s, size_t len, int64_t *out_s)
{
	*out_s = 0;
	uint64_t n, mult;
	size_t used;
	if (!s || parse_digits(s, len, &used, RULE_MAX_HOLD_S, &n) || used + 1 != len)
		return -1;
	switch (s[used]) {
	case 's': mult = 1; break;
	case 'm': mult = 60; break;
	case 'h': mult = 3600; break;
	case 'd': mult = 86400; break;
	default: return -1;
	}
	if (n == 0 || n > RULE_MAX_HOLD_S / mult)
		return -1;
	*out_s = (int64_t)(n * mult);
	return 0;
}

/* Why rule_parse_duration() refused s. */
static const char *duration_why(const char *s, size_t len)
{
	size_t i = 0;
	bool nonzero = false;
	while (i < len && s[i] >= '0' && s[i] <= '9')
		nonzero |= s[i++] != '0';
	if (i == 0 || i + 1 != len || !strchr("smhd", s[i]) || s[i] == 0)
		return "want a number and a unit s, m, h or d (such as 30s 15m 24h 7d)";
	if (!nonzero)
		return "at least 1s";
	return "at most 365d";
}

int rule_parse_size(const char *s, size_t len, uint64_t *out)
{
	*out = 0;
	uint64_t n, mult = 1;
	size_t used;
	if (!s || parse_digits(s, len, &used, RULE_MAX_SIZE, &n))
		return -1;
	if (used + 1 == len) {
		switch (s[used]) {
		case 'k': case 'K': mult = 1024; break;
		case 'M': mult = 1024 * 1024; break;
		case 'G': mult = 1024 * 1024 * 1024; break;
		default: return -1;
		}
	} else if (used != len) {
		return -1;
	}
	if (n > RULE_MAX_SIZE / mult)
		return -1;
	*out = n * mult;
	return 0;
}

const char *rule_media_type(const char *name)
{
	if (!name)
		return NULL;
	if (strcmp(name, "plain") == 0)
		return RULE_MEDIA_PLAIN;
	if (strcmp(name, "signed") == 0)
		return RULE_MEDIA_SIGNED;
	if (strcmp(name, "encrypted") == 0)
		return RULE_MEDIA_ENCRYPTED;
	return name;
}

/* ---- token stream ---- */

static bool at_end(const struct rule__tok *t)
{
	return t->k == TK_NL || t->k == TK_EOF;
}

static bool continues_line(const struct rule__tok *t)
{
	return t->k == TK_ARROW || t->k == TK_COMMA || t->k == TK_PIPE;
}

static bool joins_next_line(const struct rule__tok *t)
{
	return continues_line(t) || rule__tok_is(t, "else");
}

static void lex(struct parser *p)
{
	rule__lex_next(&p->lx, &p->nxt);
	if (p->nxt.bad) {
		p->hush_line = p->nxt.line;
		p->hush_col = p->nxt.col;
	}
}

/* Advance, joining continued lines: NL before "->" "," "|" "else", and NL after "->" "," "|". */
static void adv(struct parser *p)
{
	p->prev = p->cur;
	p->cur = p->nxt;
	lex(p);
	for (;;) {
		if (p->cur.k == TK_NL && (continues_line(&p->nxt) || rule__tok_is(&p->nxt, "else"))) {
			p->cur = p->nxt;
			lex(p);
		} else if (joins_next_line(&p->cur) && p->nxt.k == TK_NL) {
			lex(p);
		} else {
			break;
		}
	}
}

static void skip_to_end(struct parser *p)
{
	while (!at_end(&p->cur))
		adv(p);
}

static int find(const char *const *names, const struct rule__tok *t)
{
	for (int i = 0; names[i]; i++)
		if (rule__tok_is(t, names[i]))
			return i;
	return -1;
}

static int find_str(const char *const *names, const char *s)
{
	for (int i = 0; names[i]; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

static int matcher_kind(const struct rule__tok *t)
{
	if (rule__tok_is(t, "via"))
		return MK_FROM;
	for (int i = 0; i < MK__N; i++)
		if (rule__tok_is(t, matcher_kw[i]))
			return i;
	return -1;
}

static bool is_action_word(const struct rule__tok *t)
{
	return find(rule__transports, t) >= 0 || rule__tok_is(t, "resolve") || rule__tok_is(t, "hold") ||
	       rule__tok_is(t, "reject");
}

static bool is_value(const struct rule__tok *t)
{
	return t->k == TK_STR || (t->k == TK_WORD && !rule__tok_is(t, "else"));
}

static char *dup_tok(struct parser *p, const struct rule__tok *t)
{
	char *s = rule__tok_dup(t);
	if (!s)
		p->nomem = true;
	return s;
}

/* ---- freeing ---- */

static void action_clear(struct rule_action *a)
{
	free(a->target);
	free(a->code);
	for (size_t j = 0; j < a->n_opts; j++) {
		free(a->opts[j].key);
		free(a->opts[j].value);
	}
	free(a->opts);
	memset(a, 0, sizeof *a);
}

static void actions_clear(struct rule_action_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		action_clear(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void rule_clear(struct rule *r)
{
	for (size_t i = 0; i < r->n_m; i++) {
		for (size_t j = 0; j < r->m[i].n_alts; j++)
			free(r->m[i].alts[j]);
		free(r->m[i].alts);
	}
	free(r->m);
	actions_clear(&r->then);
	actions_clear(&r->fallback);
	memset(r, 0, sizeof *r);
}

void rule_set_free(struct rule_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++)
		rule_clear(&set->v[i]);
	free(set->v);
	free(set->name);
	free(set);
}

const char *rule_set_name(const struct rule_set *set)
{
	return set ? set->name : NULL;
}

size_t rule_set_count(const struct rule_set *set)
{
	return set ? set->n : 0;
}

const struct rule *rule_set_get(const struct rule_set *set, size_t i)
{
	return set && i < set->n ? &set->v[i] : NULL;
}

/* ---- value checks (0 ok; -1 with an error reported at the right column) ---- */

static bool did_glob_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-' ||
	       c == '_' || c == ':' || c == '%' || c == '*' || c == '?';
}

static int check_did_glob(struct parser *p, const struct rule__tok *t, const char *v)
{
	char sh[64];
	size_t n = strlen(v);
	if (n == 0) {
		ERR(p, t, "empty DID glob");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (!did_glob_byte((unsigned char)v[i])) {
			ERRAT(p, t, i, "'%s' in a DID glob: DIDs hold only letters, digits, . - _ : %% (and * ? here)",
			      rule__show(sh, sizeof sh, v + i, 1));
			return -1;
		}
	size_t wild = strcspn(v, "*?");
	for (size_t i = 0; i < wild && i < 4; i++)
		if (v[i] != "did:"[i]) {
			ERR(p, t, "'%s' never matches a DID (DIDs start with did:)", rule__show(sh, sizeof sh, v, n));
			return -1;
		}
	if (wild == n && !rule_is_did(v)) {
		ERR(p, t, "'%s' is not a DID (did:method:id) and has no * or ?", rule__show(sh, sizeof sh, v, n));
		return -1;
	}
	return 0;
}

static int check_type_glob(struct parser *p, const struct rule__tok *t, const char *v)
{
	char sh[16];
	if (!*v) {
		ERR(p, t, "empty message type glob");
		return -1;
	}
	for (size_t i = 0; v[i]; i++)
		if ((unsigned char)v[i] <= 0x20 || (unsigned char)v[i] >= 0x7f) {
			ERRAT(p, t, i, "'%s' in a message type glob (printable ASCII only)",
			      rule__show(sh, sizeof sh, v + i, 1));
			return -1;
		}
	return 0;
}

static bool mt_byte(unsigned char c) /* RFC 6838 restricted-name characters */
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("!#$&-^_.+", c);
}

/* *norm: malloc'd full media type, lower case. */
static int check_media(struct parser *p, const struct rule__tok *t, const char *v, char **norm)
{
	char sh[64];
	const char *full = rule_media_type(v);
	const char *slash = strchr(full, '/');
	bool ok = slash && slash != full && slash[1] && strlen(full) <= 255;
	for (size_t i = 0; ok && full[i]; i++)
		if (full + i != slash && (full[i] == 0 || !mt_byte((unsigned char)full[i])))
			ok = false;
	if (!ok) {
		ERR(p, t, "'%s' is not a media type (plain, signed, encrypted or type/subtype)",
		    rule__show(sh, sizeof sh, v, strlen(v)));
		return -1;
	}
	*norm = strdup(full);
	if (!*norm) {
		p->nomem = true;
		return -1;
	}
	for (char *c = *norm; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return 0;
}

static int check_tag(struct parser *p, const struct rule__tok *t, const char *v)
{
	char sh[64];
	size_t n = strlen(v);
	bool ok = n >= 1 && n <= 64;
	for (size_t i = 0; ok && i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		     c == '-';
	}
	if (!ok)
		ERR(p, t, "'%s' is not a tag name (1 to 64 of A-Z a-z 0-9 _ . -)", rule__show(sh, sizeof sh, v, n));
	return ok ? 0 : -1;
}

static int check_transport(struct parser *p, const struct rule__tok *t, const char *v)
{
	char sh[64];
	if (find_str(rule__transports, v) >= 0)
		return 0;
	if (strncmp(v, "did:", 4) == 0)
		ERR(p, t, "'from' takes the inbound transport (http ws mqtt smtp file); match the sender DID with "
		          "'sender %s'", rule__show(sh, sizeof sh, v, strlen(v)));
	else
		ERR(p, t, "unknown transport '%s' (expected http, ws, mqtt, smtp or file)",
		    rule__show(sh, sizeof sh, v, strlen(v)));
	return -1;
}

/* problem-report code: sorter "e", scope and at least one descriptor, tokens [a-z0-9-]+ */
static int check_code(struct parser *p, const struct rule__tok *t, const char *v)
{
	char sh[64];
	size_t n = strlen(v), parts = 0, tok = 0;
	bool ok = n >= 5 && n <= 128 && v[0] == 'e' && v[1] == '.';
	for (size_t i = 2; ok && i <= n; i++) {
		if (i == n || v[i] == '.') {
			ok = tok > 0;
			parts++;
			tok = 0;
		} else {
			unsigned char c = (unsigned char)v[i];
			ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
			tok++;
		}
	}
	if (!ok || parts < 2) {
		ERR(p, t, "'%s' is not a problem-report code (e.SCOPE.DESCRIPTOR..., such as %s)",
		    rule__show(sh, sizeof sh, v, n), RULE_DEFAULT_REJECT_CODE);
		return -1;
	}
	return 0;
}

/* ---- matchers ---- */

static const char *matcher_wants(enum rule__mk k)
{
	switch (k) {
	case MK_FROM: return "a transport (http, ws, mqtt, imap, file; smtp for mail sent by us)";
	case MK_TO: return "a recipient DID glob such as did:web:example.com:*";
	case MK_SENDER: return "a sender DID glob such as did:web:example.com:*";
	case MK_TYPE: return "a message type glob such as https://didcomm.org/trust-ping/2.0/*";
	case MK_MEDIA: return "plain, signed, encrypted or a media type";
	case MK_TAG: return "a tag name";
	case MK_RELAY: return "forward (a forward addressed to the gateway) or other (an envelope for someone else)";
	case MK_SIZE: case MK__N: break;
	}
	return "a value";
}

static int push_alt(struct parser *p, struct rule_matcher *m, char *v)
{
	char **na = realloc(m->alts, (m->n_alts + 1) * sizeof *na);
	if (!na) {
		free(v);
		p->nomem = true;
		return -1;
	}
	m->alts = na;
	m->alts[m->n_alts++] = v;
	return 0;
}

/* cur is the keyword. Consumes the matcher; appends it to r unless it is broken. */
static void parse_matcher(struct parser *p, struct rule *r, enum rule__mk kind)
{
	char sh[64];
	struct rule__tok kw = p->cur;
	struct rule_matcher m = { .kind = kind, .line = kw.line, .col = kw.col };
	m.kw = rule__tok_is(&kw, "via") ? "via" : matcher_kw[kind];
	bool bad = false;
	adv(p);
	if (kind != MK_SIZE)
		for (size_t i = 0; i < r->n_m; i++)
			if (r->m[i].kind == kind) {
				ERR(p, &kw, "a second '%s' matcher in one rule (the first is at %u:%u); write "
				            "alternatives as %s A|B", m.kw, r->m[i].line, r->m[i].col, m.kw);
				bad = true;
				break;
			}
	if (r->n_m >= RULE_MAX_MATCHERS) {
		ERR(p, &kw, "more than %d matchers in one rule", RULE_MAX_MATCHERS);
		bad = true;
	}
	if (kind == MK_SIZE) {
		switch (p->cur.k) {
		case TK_LT: m.op = OP_LT; break;
		case TK_LE: m.op = OP_LE; break;
		case TK_GT: m.op = OP_GT; break;
		case TK_GE: m.op = OP_GE; break;
		default:
			ERR(p, &p->cur, "'size' needs <, <=, > or >= and a size, such as size < 64k; got %s",
			    rule__tok_show(&p->cur, sh, sizeof sh));
			if (p->cur.k == TK_WORD && matcher_kind(&p->cur) < 0 && !is_action_word(&p->cur) &&
			    !rule__tok_is(&p->cur, "default"))
				adv(p); /* the size itself */
			return;
		}
		adv(p);
		if (p->cur.k != TK_WORD) {
			ERR(p, &p->cur, "'size %s' needs a size such as 64k, got %s", rule__op_str(m.op),
			    rule__tok_show(&p->cur, sh, sizeof sh));
			return;
		}
		if (rule_parse_size(p->cur.p, p->cur.n, &m.size)) {
			ERR(p, &p->cur, "bad size %s: digits with an optional k, M or G (k = 1024), at most 1G",
			    rule__tok_show(&p->cur, sh, sizeof sh));
			bad = true;
		} else if (m.op == OP_LT && m.size == 0) {
			ERR(p, &p->cur, "'size < 0' never matches");
			bad = true;
		} else if (m.op == OP_GE && m.size == 0) {
			WARN(p, kw.line, kw.col, "'size >= 0' always matches");
		}
		adv(p);
	} else {
		for (;;) {
			if (!is_value(&p->cur)) {
				ERR(p, &p->cur, "'%s' needs %s, got %s", m.kw, matcher_wants(kind),
				    rule__tok_show(&p->cur, sh, sizeof sh));
				bad = true;
				break;
			}
			char *v = dup_tok(p, &p->cur);
			if (!v)
				break;
			char *norm = NULL;
			int rc = 0;
			switch (kind) {
			case MK_FROM: rc = check_transport(p, &p->cur, v); break;
			case MK_TO: case MK_SENDER: rc = check_did_glob(p, &p->cur, v); break;
			case MK_TYPE: rc = check_type_glob(p, &p->cur, v); break;
			case MK_TAG: rc = check_tag(p, &p->cur, v); break;
			case MK_RELAY:
				if (strcmp(v, "forward") != 0 && strcmp(v, "other") != 0) {
					char rsh[64];
					ERR(p, &p->cur, "relay: want forward or other, got '%s'", rule__show(rsh, sizeof rsh, v, strlen(v)));
					rc = -1;
				}
				break;
			case MK_MEDIA:
				rc = check_media(p, &p->cur, v, &norm);
				if (rc == 0) {
					free(v);
					v = norm;
				}
				break;
			case MK_SIZE: case MK__N: break;
			}
			if (rc) {
				free(v);
				bad = true;
			} else if (m.n_alts >= RULE_MAX_ALTS) {
				ERR(p, &p->cur, "more than %d alternatives in one matcher", RULE_MAX_ALTS);
				free(v);
				bad = true;
			} else if (push_alt(p, &m, v)) {
				break;
			}
			adv(p);
			if (p->cur.k != TK_PIPE)
				break;
			adv(p);
		}
	}
	if (!bad && !p->nomem) {
		struct rule_matcher *nm = realloc(r->m, (r->n_m + 1) * sizeof *nm);
		if (nm) {
			r->m = nm;
			r->m[r->n_m++] = m;
			return;
		}
		p->nomem = true;
	}
	for (size_t j = 0; j < m.n_alts; j++)
		free(m.alts[j]);
	free(m.alts);
}

enum mstop { STOP_ARROW, STOP_END, STOP_ACTION };

static enum mstop parse_matchers(struct parser *p, struct rule *r)
{
	char sh[64];
	while (!p->nomem) {
		if (p->cur.k == TK_ARROW)
			return STOP_ARROW;
		if (at_end(&p->cur))
			return STOP_END;
		int k = matcher_kind(&p->cur);
		if (k >= 0) {
			parse_matcher(p, r, (enum rule__mk)k);
			continue;
		}
		if (is_action_word(&p->cur)) {
			ERR(p, &p->cur, "missing '->' before the action %s", rule__tok_show(&p->cur, sh, sizeof sh));
			return STOP_ACTION;
		}
		if (rule__tok_is(&p->cur, "default"))
			ERR(p, &p->cur, "'default' matches everything and cannot be combined with other matchers");
		else if (p->cur.k == TK_WORD)
			ERR(p, &p->cur, "unknown matcher %s (expected from, via, to, sender, type, media, size, tag or "
			                "default)", rule__tok_show(&p->cur, sh, sizeof sh));
		else
			ERR(p, &p->cur, "unexpected %s where a matcher belongs", rule__tok_show(&p->cur, sh, sizeof sh));
		/* resynchronise on the next matcher keyword, '->', an action word or the end */
		adv(p);
		while (!at_end(&p->cur) && p->cur.k != TK_ARROW && matcher_kind(&p->cur) < 0 &&
		       !is_action_word(&p->cur) && !rule__tok_is(&p->cur, "default"))
			adv(p);
	}
	return STOP_END;
}

/* ---- actions ---- */

static const char *target_wants(const char *adapter)
{
	if (!strcmp(adapter, "http")) return "an http:// or https:// URL";
	if (!strcmp(adapter, "ws")) return "a ws:// or wss:// URL";
	if (!strcmp(adapter, "mqtt")) return "an MQTT topic";
	if (!strcmp(adapter, "smtp")) return "a mail address";
	return "a directory";
}

static int parse_option(struct parser *p, struct rule_action *a)
{
	char sh[64], sh2[64];
	const struct rule__tok *t = &p->cur;
	const char *eq = memchr(t->p, '=', t->n);
	if (!eq || eq == t->p) {
		ERR(p, t, "unexpected %s after the target (options are key=value; separate actions with ',')",
		    rule__tok_show(t, sh, sizeof sh));
		return -1;
	}
	size_t klen = (size_t)(eq - t->p), vlen = t->n - klen - 1;
	const struct optdef *od = NULL;
	char known[96] = "";
	for (size_t i = 0; i < N_OPTDEFS; i++) {
		if (strcmp(optdefs[i].adapter, a->adapter) != 0)
			continue;
		if (strlen(optdefs[i].key) == klen && memcmp(optdefs[i].key, t->p, klen) == 0)
			od = &optdefs[i];
		size_t kl = strlen(known);
		snprintf(known + kl, sizeof known - kl, "%s%s", kl ? ", " : "", optdefs[i].key);
	}
	if (!od) {
		if (known[0])
			ERR(p, t, "unknown option '%s' for %s (it takes %s)", rule__show(sh, sizeof sh, t->p, klen),
			    a->adapter, known);
		else
			ERR(p, t, "unknown option '%s': %s takes no options", rule__show(sh, sizeof sh, t->p, klen),
			    a->adapter);
		return -1;
	}
	for (size_t i = 0; i < a->n_opts; i++)
		if (strcmp(a->opts[i].key, od->key) == 0) {
			ERR(p, t, "option '%s' given twice", od->key);
			return -1;
		}
	const char *v = eq + 1;
	bool ok;
	if (od->type == OT_BOOL) {
		ok = (vlen == 3 && !memcmp(v, "yes", 3)) || (vlen == 2 && !memcmp(v, "no", 2));
	} else if (od->type == OT_TOPIC) {
		char tv[RULE_MAX_TARGET + 1], why[160];
		size_t off = 0;
		ok = vlen <= RULE_MAX_TARGET;
		if (ok) {
			memcpy(tv, v, vlen);
			tv[vlen] = 0;
		}
		if (ok && rule__template_check("mqtt", tv, &off, why, sizeof why)) {
			rule__diag(p->d, RULE_ERROR, t->line, col_plus(t, klen + 1 + off), "%s=: %s", od->key, why);
			return -1;
		}
	} else if (od->type == OT_UINT) {
		uint64_t n = 0;
		size_t used = 0;
		ok = parse_digits(v, vlen, &used, (uint64_t)od->max, &n) == 0 && used == vlen && (int64_t)n >= od->min;
	} else {
		int64_t s = 0;
		ok = rule_parse_duration(v, vlen, &s) == 0 && s >= od->min && s <= od->max;
	}
	if (!ok) {
		if (od->type == OT_TOPIC) {
			ERR(p, t, "%s=: topic longer than %d bytes", od->key, RULE_MAX_TARGET);
			return -1;
		}
		const char *want = od->type == OT_BOOL ? "yes or no" : od->type == OT_UINT ? "a number" : "a duration";
		rule__diag(p->d, RULE_ERROR, t->line, col_plus(t, klen + 1), "%s=%s: want %s in %lld..%lld%s", od->key,
		           rule__show(sh2, sizeof sh2, v, vlen), want, (long long)od->min, (long long)od->max,
		           od->type == OT_DURATION ? " seconds" : "");
		return -1;
	}
	struct rule_opt *no = realloc(a->opts, (a->n_opts + 1) * sizeof *no);
	if (!no) {
		p->nomem = true;
		return -1;
	}
	a->opts = no;
	char *key = strdup(od->key), *val = malloc(vlen + 1);
	if (!key || !val) {
		free(key);
		free(val);
		p->nomem = true;
		return -1;
	}
	memcpy(val, v, vlen);
	val[vlen] = 0;
	a->opts[a->n_opts++] = (struct rule_opt){ key, val };
	return 0;
}

/* cur is an action word (or something that should be one). Fills *a; 0 ok, -1 error reported. */
static int parse_action(struct parser *p, struct rule_action *a)
{
	char sh[64], why[160];
	struct rule__tok t = p->cur;
	a->line = t.line;
	a->col = t.col;
	if (t.k != TK_WORD) {
		ERR(p, &t, "expected an action, got %s", rule__tok_show(&t, sh, sizeof sh));
		return -1;
	}
	int ad = find(rule__transports, &t);
	if (ad >= 0) {
		a->kind = RULE_ACT_DELIVER;
		a->adapter = rule__transports[ad];
		adv(p);
		if (!is_value(&p->cur)) {
			ERR(p, &p->cur, "'%s' needs a target (%s), got %s", a->adapter, target_wants(a->adapter),
			    rule__tok_show(&p->cur, sh, sizeof sh));
			return -1;
		}
		struct rule__tok tt = p->cur;
		if (!(a->target = dup_tok(p, &tt)))
			return -1;
		size_t off = 0;
		int rc = 0;
		if (rule__template_check(a->adapter, a->target, &off, why, sizeof why)) {
			ERRAT(p, &tt, off, "%s", why);
			rc = -1;
		}
		adv(p);
		while (p->cur.k == TK_WORD && !rule__tok_is(&p->cur, "else") && !p->nomem) {
			if (parse_option(p, a))
				rc = -1;
			adv(p);
		}
		return rc;
	}
	if (rule__tok_is(&t, "resolve")) {
		a->kind = RULE_ACT_RESOLVE;
		adv(p);
		int rc = 0;
		while (is_value(&p->cur)) {
			int sc = p->cur.k == TK_WORD ? find(rule__schemes, &p->cur) : -1;
			if (sc < 0) {
				ERR(p, &p->cur, "unknown scheme %s for resolve (expected http, https, ws, wss, mqtt, mqtts, "
				                "mailto or file)", rule__tok_show(&p->cur, sh, sizeof sh));
				rc = -1;
			} else {
				a->schemes |= 1u << sc;
			}
			adv(p);
		}
		return rc;
	}
	if (rule__tok_is(&t, "hold")) {
		a->kind = RULE_ACT_HOLD;
		adv(p);
		if (!is_value(&p->cur)) {
			ERR(p, &p->cur, "'hold' needs a duration such as 24h (s, m, h or d; at most 365d), got %s",
			    rule__tok_show(&p->cur, sh, sizeof sh));
			return -1;
		}
		int rc = 0;
		if (rule_parse_duration(p->cur.p, p->cur.n, &a->hold_s)) {
			ERR(p, &p->cur, "bad duration %s: %s", rule__tok_show(&p->cur, sh, sizeof sh),
			    duration_why(p->cur.p, p->cur.n));
			rc = -1;
		}
		adv(p);
		return rc;
	}
	if (rule__tok_is(&t, "reject")) {
		a->kind = RULE_ACT_REJECT;
		adv(p);
		int rc = 0;
		if (is_value(&p->cur)) {
			if (!(a->code = dup_tok(p, &p->cur)))
				return -1;
			rc = check_code(p, &p->cur, a->code);
			adv(p);
		} else if (!(a->code = strdup(RULE_DEFAULT_REJECT_CODE))) {
			p->nomem = true;
			return -1;
		}
		return rc;
	}
	if (memchr(t.p, '/', t.n) || memchr(t.p, '@', t.n))
		ERR(p, &t, "target %s needs an adapter before it (http, ws, mqtt, smtp or file)",
		    rule__tok_show(&t, sh, sizeof sh));
	else if (matcher_kind(&t) >= 0 || rule__tok_is(&t, "default"))
		ERR(p, &t, "matcher %s after '->' (matchers go before it)", rule__tok_show(&t, sh, sizeof sh));
	else
		ERR(p, &t, "unknown action %s (expected http, ws, mqtt, smtp, file, resolve, hold or reject)",
		    rule__tok_show(&t, sh, sizeof sh));
	adv(p);
	return -1;
}

static const char *action_name(const struct rule_action *a)
{
	switch (a->kind) {
	case RULE_ACT_DELIVER: return a->adapter;
	case RULE_ACT_RESOLVE: return "resolve";
	case RULE_ACT_HOLD: return "hold";
	case RULE_ACT_REJECT: return "reject";
	}
	return "?";
}

static void parse_actions(struct parser *p, struct rule_action_list *l, const char *after)
{
	char sh[64];
	bool broken = false;
	for (;;) {
		if (p->nomem)
			return;
		/* A line ending in '->' ',' or 'else' was joined to the next one, but that line starts a
		 * new rule: the action is missing; the new rule is parsed on its own. */
		if (p->cur.line != p->prev.line && p->prev.k != TK_EOF &&
		    (matcher_kind(&p->cur) >= 0 || rule__tok_is(&p->cur, "default") || p->cur.k == TK_EOF)) {
			struct rule__tok at = p->prev;
			at.col = col_plus(&p->prev, p->prev.n + (p->prev.k == TK_STR ? 1 : 0));
			ERR(p, &at, "expected an action after '%s' (http, ws, mqtt, smtp, file, resolve, hold or "
			            "reject), got end of line", after);
			p->split = p->cur.k != TK_EOF;
			return;
		}
		if (at_end(&p->cur) || rule__tok_is(&p->cur, "else") || p->cur.k == TK_COMMA) {
			ERR(p, &p->cur, "expected an action after '%s' (http, ws, mqtt, smtp, file, resolve, hold or "
			                "reject), got %s", after, rule__tok_show(&p->cur, sh, sizeof sh));
			if (p->cur.k != TK_COMMA)
				return;
			adv(p);
			after = ",";
			continue;
		}
		struct rule_action a = { 0 };
		int rc = parse_action(p, &a);
		if (rc == 0 && l->n >= RULE_MAX_ACTIONS) {
			ERR(p, &a, "more than %d actions in one list", RULE_MAX_ACTIONS);
			rc = -1;
		}
		if (rc == 0) {
			for (size_t i = 0; i < l->n; i++) {
				const struct rule_action *b = &l->v[i];
				if (b->kind == a.kind && (a.kind != RULE_ACT_DELIVER || (b->adapter == a.adapter &&
				                                                          strcmp(b->target, a.target) == 0))) {
					WARN(p, a.line, a.col, "the same action as in column %u: the message goes there twice",
					     b->col);
					break;
				}
			}
			struct rule_action *nv = realloc(l->v, (l->n + 1) * sizeof *nv);
			if (!nv) {
				p->nomem = true;
				rc = -1;
			} else {
				l->v = nv;
				l->v[l->n++] = a;
			}
		}
		if (rc) {
			action_clear(&a);
			broken = true;
			/* resynchronise: the next ',' or 'else' or the end of the rule */
			while (!at_end(&p->cur) && p->cur.k != TK_COMMA && !rule__tok_is(&p->cur, "else"))
				adv(p);
		}
		if (p->cur.k != TK_COMMA)
			break;
		adv(p);
		after = ",";
	}
	if (broken || l->n < 2)
		return;
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].kind == RULE_ACT_HOLD || l->v[i].kind == RULE_ACT_REJECT)
			rule__diag(p->d, RULE_ERROR, l->v[i].line, l->v[i].col,
			           "'%s' must be the only action in its list (a list after '->' or 'else' delivers "
			           "to all; hold and reject decide alone)", action_name(&l->v[i]));
}

/* ---- rules ---- */

static void parse_rule(struct parser *p)
{
	char sh[64];
	struct rule r = { 0 };
	struct rule__tok first = p->cur;
	r.line = first.line;
	r.col = first.col;
	r.num = p->set->n + 1;
	enum mstop stop;
	if (rule__tok_is(&first, "default")) {
		r.is_default = true;
		adv(p);
		stop = parse_matchers(p, &r); /* anything but '->' here is an error */
		if (r.n_m)
			ERR(p, &first, "'default' matches everything and cannot be combined with other matchers");
	} else if (first.k == TK_ARROW) {
		ERR(p, &first, "a rule starts with matchers or 'default', not '->'");
		stop = STOP_ARROW;
	} else {
		stop = parse_matchers(p, &r);
	}
	if (stop == STOP_ARROW) {
		adv(p);
	} else if (stop == STOP_END) {
		if (!p->nomem)
			ERR(p, &p->cur, "expected '->' and actions, got %s", rule__tok_show(&p->cur, sh, sizeof sh));
		goto done;
	}
	parse_actions(p, &r.then, "->");
	if (p->split)
		goto push;
	if (rule__tok_is(&p->cur, "else")) {
		struct rule__tok et = p->cur;
		adv(p);
		parse_actions(p, &r.fallback, "else");
		for (size_t i = 0; i < r.then.n; i++)
			if (r.then.v[i].kind == RULE_ACT_REJECT)
				ERR(p, &et, "'else' after 'reject' is never used");
		if (p->split)
			goto push;
		if (rule__tok_is(&p->cur, "else")) {
			ERR(p, &p->cur, "only one 'else' per rule");
			skip_to_end(p);
		}
	}
	if (!at_end(&p->cur) && !p->nomem) {
		ERR(p, &p->cur, "unexpected %s after the actions (separate actions with ',')",
		    rule__tok_show(&p->cur, sh, sizeof sh));
	}
done:
	skip_to_end(p);
push:
	p->split = false;
	if (!p->nomem && p->set->n == p->set->cap) {
		size_t ncap = p->set->cap ? p->set->cap * 2 : 16;
		struct rule *nv = realloc(p->set->v, ncap * sizeof *nv);
		if (!nv)
			p->nomem = true;
		else {
			p->set->v = nv;
			p->set->cap = ncap;
		}
	}
	if (p->nomem) {
		rule_clear(&r);
		return;
	}
	p->set->v[p->set->n++] = r;
}

static int diag_cmp(const struct rule_diag *a, const struct rule_diag *b)
{
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->col != b->col)
		return a->col < b->col ? -1 : 1;
	return 0;
}

/* stable insertion sort; at most RULE_MAX_DIAGS entries, the "too many" one stays last */
static void diags_sort(struct rule__diags *d)
{
	size_t n = d->full ? d->n - 1 : d->n;
	for (size_t i = 1; i < n; i++) {
		struct rule_diag x = d->v[i];
		size_t j = i;
		while (j > 0 && diag_cmp(&d->v[j - 1], &x) > 0) {
			d->v[j] = d->v[j - 1];
			j--;
		}
		d->v[j] = x;
	}
}

static void check_set(struct parser *p, const struct rule__tok *eof)
{
	const struct rule *def = NULL;
	for (size_t i = 0; i < p->set->n; i++) {
		const struct rule *r = &p->set->v[i];
		if (def) {
			WARN(p, r->line, r->col, "rule #%zu is never reached: rule #%zu (line %u) is 'default'", r->num, def->num,
			     def->line);
			continue;
		}
		if (r->is_default)
			def = r;
	}
	if (!def)
		WARN(p, eof->line, eof->col, "no 'default' rule: a message that matches no rule is rejected (%s); "
		                             "end with 'default -> ...' to say what happens",
		     RULE_DEFAULT_REJECT_CODE);
}

dc_err rule_set_parse_text(const char *name, const char *text, size_t len, struct rule_set **out,
                           struct rule_diag **diags, size_t *n_diags)
{
	if (out)
		*out = NULL;
	if (diags)
		*diags = NULL;
	if (n_diags)
		*n_diags = 0;
	if (!out || (!text && len))
		return DC_ERR_INVAL;
	if (!text)
		text = "";
	if (!name)
		name = "<rules>";
	struct rule__diags d = { 0 };
	struct parser p = { .d = &d };
	dc_err rc = DC_OK;
	p.set = calloc(1, sizeof *p.set);
	if (!p.set || !(p.set->name = strdup(name))) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	if (len > RULE_MAX_FILE_BYTES) {
		rule__diag(&d, RULE_ERROR, 0, 0, "larger than %u bytes", RULE_MAX_FILE_BYTES);
		rc = DC_ERR_TOO_BIG;
		goto out;
	}
	rule__lex_init(&p.lx, text, len, &d);
	lex(&p);
	adv(&p);
	while (p.cur.k != TK_EOF && !p.nomem && !d.full && !d.nomem) {
		if (p.cur.k == TK_NL) {
			adv(&p);
			continue;
		}
		if (p.set->n >= RULE_MAX_RULES) {
			ERR(&p, &p.cur, "more than %d rules", RULE_MAX_RULES);
			break;
		}
		parse_rule(&p);
	}
	if (p.nomem || d.nomem) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	if (!d.full)
		check_set(&p, &p.cur);
	if (d.nomem)
		rc = DC_ERR_NOMEM;
	else if (d.n_err)
		rc = DC_ERR_MALFORMED;
out:
	if (rc == DC_OK) {
		*out = p.set;
		p.set = NULL;
	}
	rule_set_free(p.set);
	if (rc != DC_ERR_NOMEM && diags && n_diags) {
		diags_sort(&d);
		*diags = d.v;
		*n_diags = d.n;
		d.v = NULL;
	}
	free(d.v);
	return rc;
}

dc_err rule_set_parse_file(const char *path, struct rule_set **out, struct rule_diag **diags, size_t *n_diags)
{
	if (out)
		*out = NULL;
	if (diags)
		*diags = NULL;
	if (n_diags)
		*n_diags = 0;
	if (!path || !out)
		return DC_ERR_INVAL;
	struct rule__diags d = { 0 };
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0;
	dc_err rc = DC_OK;
	if (!f) {
		rule__diag(&d, RULE_ERROR, 0, 0, "cannot open: %s", strerror(errno));
		rc = DC_ERR_IO;
		goto out;
	}
	/* read at most one byte more than the limit, so that "too big" is told apart */
	buf = malloc(RULE_MAX_FILE_BYTES + 1);
	if (!buf) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	n = fread(buf, 1, RULE_MAX_FILE_BYTES + 1, f);
	if (ferror(f)) {
		rule__diag(&d, RULE_ERROR, 0, 0, "cannot read: %s", strerror(errno));
		rc = DC_ERR_IO;
		goto out;
	}
	fclose(f);
	f = NULL;
	rc = rule_set_parse_text(path, buf, n, out, diags, n_diags);
out:
	if (f)
		fclose(f);
	free(buf);
	if (rc == DC_ERR_IO && diags && n_diags) {
		*diags = d.v;
		*n_diags = d.n;
		d.v = NULL;
	}
	free(d.v);
	return rc;
}
