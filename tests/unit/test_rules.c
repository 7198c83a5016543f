/* Rules: parser (good files, every error kind at its line:col, limits), first match wins,
 * globs, DID syntax, sizes, durations, rendering with injection refusals, explain output, and
 * arbitrary bytes never crash the parser. Paths are relative to the repository root. */
#include "testutil.h"
#include "rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

static size_t count_sev(const struct rule_diag *d, size_t n, enum rule_sev sev)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += d[i].sev == sev;
	return k;
}

static void dump(const char *name, const struct rule_diag *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rule_diag_print(stderr, name, &d[i]);
}

static struct rule_set *parse_ok(const char *text)
{
	struct rule_set *set = NULL;
	struct rule_diag *d = NULL;
	size_t nd = 0;
	dc_err rc = rule_set_parse_text("t", text, strlen(text), &set, &d, &nd);
	if (rc != DC_OK)
		dump("t", d, nd);
	CU_ASSERT_EQUAL(rc, DC_OK);
	free(d);
	return set;
}

/* ---- good files ---- */

static void good_files(void)
{
	static const struct {
		const char *path;
		size_t rules;
	} files[] = { { "conf/rules.conf", 9 }, { "tests/rules/good.rules", 8 } };
	for (size_t i = 0; i < N(files); i++) {
		struct rule_set *set = NULL;
		struct rule_diag *d = NULL;
		size_t nd = 0;
		dc_err rc = rule_set_parse_file(files[i].path, &set, &d, &nd);
		if (rc != DC_OK || nd)
			dump(files[i].path, d, nd);
		CU_ASSERT_EQUAL(rc, DC_OK);
		CU_ASSERT_EQUAL(nd, 0); /* not even a warning */
		CU_ASSERT_EQUAL(rule_set_count(set), files[i].rules);
		CU_ASSERT_STRING_EQUAL(rule_set_name(set), files[i].path);
		free(d);
		rule_set_free(set);
	}
}

/* what the parser builds from good.rules */
static void good_structure(void)
{
	struct rule_set *set = NULL;
	CU_ASSERT_EQUAL_FATAL(rule_set_parse_file("tests/rules/good.rules", &set, NULL, NULL), DC_OK);
	const struct rule *r = rule_set_get(set, 0);
	CU_ASSERT_EQUAL(r->num, 1);
	CU_ASSERT_EQUAL(r->line, 2);
	CU_ASSERT_EQUAL(r->n_m, 4);
	CU_ASSERT_EQUAL(r->then.n, 1);
	CU_ASSERT_STRING_EQUAL(r->then.v[0].adapter, "mqtt");
	CU_ASSERT_STRING_EQUAL(r->then.v[0].target, "fleet/{to}/in");
	CU_ASSERT_STRING_EQUAL(rule_action_opt(&r->then.v[0], "qos"), "1");
	CU_ASSERT_STRING_EQUAL(rule_action_opt(&r->then.v[0], "retain"), "no");
	CU_ASSERT_PTR_NULL(rule_action_opt(&r->then.v[0], "timeout"));
	r = rule_set_get(set, 1); /* continued over three lines, fan-out of two */
	CU_ASSERT_EQUAL(r->line, 3);
	CU_ASSERT_EQUAL(r->then.n, 2);
	CU_ASSERT_STRING_EQUAL(r->then.v[1].target, "wss://relay.example.net/socket");
	CU_ASSERT_EQUAL(r->then.v[1].line, 5);
	CU_ASSERT_EQUAL(r->fallback.n, 1);
	CU_ASSERT_EQUAL(r->fallback.v[0].kind, RULE_ACT_HOLD);
	CU_ASSERT_EQUAL(r->fallback.v[0].hold_s, 15 * 60);
	r = rule_set_get(set, 2);
	CU_ASSERT_EQUAL(r->then.v[0].kind, RULE_ACT_RESOLVE);
	CU_ASSERT(rule_resolve_allows(&r->then.v[0], "https"));
	CU_ASSERT(rule_resolve_allows(&r->then.v[0], "WSS"));
	CU_ASSERT(!rule_resolve_allows(&r->then.v[0], "http"));
	CU_ASSERT(!rule_resolve_allows(&r->then.v[0], "gopher"));
	CU_ASSERT(rule_resolve_allows(&r->fallback.v[0], "mailto")); /* no list: every scheme */
	r = rule_set_get(set, 3); /* backslash continuation */
	CU_ASSERT_EQUAL(r->line, 9);
	CU_ASSERT_STRING_EQUAL(r->then.v[0].target, "/var/spool/didcomm/outbox/{to}");
	r = rule_set_get(set, 4);
	CU_ASSERT_STRING_EQUAL(r->then.v[0].target, "relay@mail.example.org");
	CU_ASSERT_STRING_EQUAL(r->fallback.v[0].code, "e.p.xfer.no-mailbox");
	r = rule_set_get(set, 5);
	CU_ASSERT_STRING_EQUAL(r->then.v[0].code, RULE_DEFAULT_REJECT_CODE);
	r = rule_set_get(set, 7);
	CU_ASSERT(r->is_default);
	CU_ASSERT_EQUAL(r->fallback.v[0].hold_s, 365 * 86400);
	CU_ASSERT_PTR_NULL(rule_set_get(set, 8));
	rule_set_free(set);
}

/* line endings, comments, strings, joined lines */
static void good_syntax(void)
{
	static const struct {
		const char *text;
		size_t rules;
		const char *target0; /* target of rule 1's first action, or NULL */
	} cases[] = {
		{ "", 0, NULL },
		{ "# only a comment\n\n   \t\n", 0, NULL },
		{ "default -> resolve", 1, NULL },                                   /* no final newline */
		{ "default -> resolve\r\n", 1, NULL },                               /* CRLF */
		{ "to did:a:b -> http http://h/p#frag\ndefault -> resolve\n", 2, "http://h/p#frag" },
		{ "to did:a:b -> http http://h/ # comment\ndefault -> resolve\n", 2, "http://h/" },
		{ "to did:a:b -> file \"/a b/c,d|e<f>\"\ndefault -> resolve\n", 2, "/a b/c,d|e<f>" },
		{ "to did:a:b -> file \"/x\\\"y\\\\z\"\ndefault -> resolve\n", 2, "/x\"y\\z" },
		{ "to did:a:b ->\n  # comment between\n  file /x\ndefault -> resolve\n", 2, "/x" },
		{ "to did:a:b \\\r\n -> file /x\r\ndefault -> resolve\r\n", 2, "/x" },
		{ "to did:a:b\n->\nfile /x\n,\nfile /y\nelse\nhold 1h\ndefault -> resolve\n", 2, "/x" },
		{ "to did:a:b->file /x\ndefault->resolve\n", 2, "/x" },
		{ "size<1k->file /x\ndefault -> resolve\n", 2, "/x" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct rule_set *set = parse_ok(cases[i].text);
		CU_ASSERT_EQUAL(rule_set_count(set), cases[i].rules);
		if (set && cases[i].target0) {
			const struct rule *r = rule_set_get(set, 0);
			CU_ASSERT_STRING_EQUAL(r->then.v[0].target, cases[i].target0);
		}
		rule_set_free(set);
	}
	/* a quoted keyword is a value */
	struct rule_set *set = parse_ok("to did:a:b -> file \"else\" else file \"default\"\ndefault -> resolve\n");
	CU_ASSERT_STRING_EQUAL(rule_set_get(set, 0)->then.v[0].target, "else");
	CU_ASSERT_STRING_EQUAL(rule_set_get(set, 0)->fallback.v[0].target, "default");
	rule_set_free(set);
}

/* ---- errors: one per case, at its line:col ---- */

static void error_kinds(void)
{
	static const struct {
		const char *text;
		unsigned line, col;
		const char *msg;
	} cases[] = {
		/* lexer */
		{ "default -> resolve\x01\n", 1, 19, "control byte 0x01" },
		{ "default -> resolve\0\n", 1, 19, "control byte 0x00" },
		{ "default -> resolve\r \n", 1, 19, "stray carriage return" },
		{ "default -> file \"/x\n", 1, 17, "unterminated string" },
		{ "default -> file \"/x\\n\"\n", 1, 20, "unknown escape" },
		/* match part */
		{ "-> resolve\n", 1, 1, "starts with matchers or 'default'" },
		{ "colour red -> resolve\n", 1, 1, "unknown matcher 'colour'" },
		{ "to did:a:* , -> resolve\n", 1, 12, "unexpected ','" },
		{ "from smtpx -> resolve\n", 1, 6, "unknown transport 'smtpx'" },
		{ "from did:web:x -> resolve\n", 1, 6, "with 'sender did:web:x'" },
		{ "from http|gopher -> resolve\n", 1, 11, "unknown transport 'gopher'" },
		{ "from -> resolve\n", 1, 6, "'from' needs a transport" },
		{ "to alice -> resolve\n", 1, 4, "never matches a DID" },
		{ "to did:web -> resolve\n", 1, 4, "is not a DID" },
		{ "to did:web:a/b -> resolve\n", 1, 13, "'/' in a DID glob" },
		{ "to did:web:a|did:x:y# -> resolve\n", 1, 21, "'#' in a DID glob" },
		{ "sender -> resolve\n", 1, 8, "'sender' needs a sender DID glob" },
		{ "type \"a b\" -> resolve\n", 1, 8, "in a message type glob" },
		{ "media gzip -> resolve\n", 1, 7, "not a media type" },
		{ "media text/ -> resolve\n", 1, 7, "not a media type" },
		{ "size 10 -> resolve\n", 1, 6, "'size' needs <, <=, > or >=" },
		{ "size < -> resolve\n", 1, 8, "'size <' needs a size" },
		{ "size < 2T -> resolve\n", 1, 8, "bad size '2T'" },
		{ "size < 2G -> resolve\n", 1, 8, "bad size '2G'" },
		{ "size < 1073741825 -> resolve\n", 1, 8, "bad size" },
		{ "size < 99999999999999999999999 -> resolve\n", 1, 8, "bad size" },
		{ "size < 0 -> resolve\n", 1, 8, "never matches" },
		{ "size < 1.5k -> resolve\n", 1, 8, "bad size" },
		{ "tag a/b -> resolve\n", 1, 5, "not a tag name" },
		{ "to did:a:* to did:b:* -> resolve\n", 1, 12, "a second 'to' matcher" },
		{ "from http via ws -> resolve\n", 1, 11, "a second 'via' matcher" },
		{ "default to did:a:b -> resolve\n", 1, 1, "cannot be combined" },
		{ "to did:a:b default -> resolve\n", 1, 12, "cannot be combined" },
		{ "to did:a:b http http://x/\n", 1, 12, "missing '->' before the action 'http'" },
		{ "to did:a:b\n", 1, 11, "expected '->' and actions" },
		{ "to did:a:b", 1, 11, "expected '->' and actions, got end of file" },
		/* actions */
		{ "default ->\n", 1, 11, "expected an action after '->'" },
		{ "default -> else hold 1h\n", 1, 12, "expected an action after '->'" },
		{ "default -> file /x,\n", 1, 20, "expected an action after ','" },
		{ "default -> file /x, , file /y\n", 1, 21, "expected an action after ','" },
		{ "default -> file /x else\n", 1, 24, "expected an action after 'else'" },
		{ "default -> htp http://x/\n", 1, 12, "unknown action 'htp'" },
		{ "default -> https://x/in\n", 1, 12, "needs an adapter before it" },
		{ "default -> to did:a:b\n", 1, 12, "matchers go before it" },
		{ "default -> \"http\" x\n", 1, 12, "expected an action" },
		{ "default -> http\n", 1, 16, "'http' needs a target" },
		{ "default -> http else hold 1h\n", 1, 17, "'http' needs a target" },
		{ "default -> http ftp://x/\n", 1, 17, "must start with http:// or https://" },
		{ "default -> ws https://x/\n", 1, 15, "must start with ws:// or wss://" },
		{ "default -> http http:///p\n", 1, 24, "URL without a host" },
		{ "default -> http https://{to}.example/\n", 1, 25, "host part of a URL" },
		{ "default -> http \"https://x/a b\"\n", 1, 29, "space in a URL" },
		{ "default -> http https://x/{nope}\n", 1, 27, "unknown placeholder '{nope}'" },
		{ "default -> http https://x/{to\n", 1, 27, "unknown placeholder '{to'" },
		{ "default -> http https://x/}\n", 1, 27, "'}' without '{'" },
		{ "default -> mqtt a/+/b\n", 1, 19, "MQTT wildcard '+'" },
		{ "default -> mqtt a/#\n", 1, 19, "MQTT wildcard '#'" },
		{ "default -> mqtt $SYS/x\n", 1, 17, "belong to the broker" },
		{ "default -> mqtt \"a\xff\"\n", 1, 18, "not valid UTF-8" },
		{ "default -> smtp mailbox\n", 1, 17, "with '@'" },
		{ "default -> smtp \"a@b,c@d\"\n", 1, 21, "',' in a mail address" },
		{ "default -> smtp {to}\n", 1, 17, "with '@'" },
		{ "default -> mqtt t qos=3\n", 1, 23, "qos=3: want a number in 0..2" },
		{ "default -> mqtt t qos=99999999999999999999\n", 1, 23, "qos=" },
		{ "default -> mqtt t qos=1 qos=1\n", 1, 25, "given twice" },
		{ "default -> mqtt t retain=maybe\n", 1, 26, "want yes or no" },
		{ "default -> mqtt t colour=red\n", 1, 19, "unknown option 'colour' for mqtt (it takes qos, retain, presence)" },
		{ "default -> file /x mode=0600\n", 1, 20, "file takes no options" },
		{ "default -> http https://x/ timeout=11m\n", 1, 36, "timeout=11m" },
		{ "default -> http https://x/ stray\n", 1, 28, "unexpected 'stray' after the target" },
		{ "default -> resolve gopher\n", 1, 20, "unknown scheme 'gopher'" },
		{ "default -> hold\n", 1, 16, "'hold' needs a duration" },
		{ "default -> hold 400d\n", 1, 17, "at most 365d" },
		{ "default -> hold 366d\n", 1, 17, "at most 365d" },
		{ "default -> hold 8761h\n", 1, 17, "at most 365d" },
		{ "default -> hold 18446744073709551617s\n", 1, 17, "at most 365d" },
		{ "default -> hold 0s\n", 1, 17, "at least 1s" },
		{ "default -> hold 5w\n", 1, 17, "want a number and a unit" },
		{ "default -> hold 24\n", 1, 17, "want a number and a unit" },
		{ "default -> hold -1h\n", 1, 17, "want a number and a unit" },
		{ "default -> reject E.p.x\n", 1, 19, "not a problem-report code" },
		{ "default -> reject w.p.x\n", 1, 19, "not a problem-report code" },
		{ "default -> reject e.p\n", 1, 19, "not a problem-report code" },
		{ "default -> reject e..x\n", 1, 19, "not a problem-report code" },
		{ "default -> reject else hold 1h\n", 1, 19, "'else' after 'reject' is never used" },
		{ "default -> hold 1h, file /x\n", 1, 12, "'hold' must be the only action" },
		{ "default -> file /x, reject\n", 1, 21, "'reject' must be the only action" },
		{ "default -> file /x else hold 1h else hold 2h\n", 1, 33, "only one 'else' per rule" },
		{ "default -> file /x \"y\"\n", 1, 20, "unexpected \"y\" after the actions" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct rule_set *set = (struct rule_set *)1;
		struct rule_diag *d = NULL;
		size_t nd = 0;
		size_t len = strlen(cases[i].text);
		if (strstr(cases[i].msg, "0x00"))
			len = strlen(cases[i].text) + 1 + strlen(cases[i].text + strlen(cases[i].text) + 1);
		dc_err rc = rule_set_parse_text("t", cases[i].text, len, &set, &d, &nd);
		size_t ne = count_sev(d, nd, RULE_ERROR);
		const struct rule_diag *e = NULL;
		for (size_t k = 0; k < nd && !e; k++)
			if (d[k].sev == RULE_ERROR)
				e = &d[k];
		bool ok = rc == DC_ERR_MALFORMED && set == NULL && ne == 1 && e && e->line == cases[i].line &&
		          e->col == cases[i].col && strstr(e->msg, cases[i].msg);
		if (!ok) {
			fprintf(stderr, "\ncase %zu: want %u:%u '%s', got rc %d:\n", i, cases[i].line, cases[i].col,
			        cases[i].msg, rc);
			dump("t", d, nd);
		}
		CU_ASSERT(ok);
		free(d);
		rule_set_free(set);
	}
}

static void warnings(void)
{
	static const struct {
		const char *text;
		unsigned line, col;
		const char *msg;
	} cases[] = {
		{ "to did:a:b -> resolve\n", 2, 1, "no 'default' rule" },
		{ "to did:a:b -> resolve", 1, 22, "no 'default' rule" },
		{ "", 1, 1, "no 'default' rule" },
		{ "default -> resolve\nto did:a:b -> resolve\n", 2, 1, "rule #2 is never reached: rule #1 (line 1)" },
		{ "default -> resolve\n  to did:a:b -> resolve\n", 2, 3, "rule #2 is never reached" },
		{ "size >= 0 -> file /x\ndefault -> resolve\n", 1, 1, "always matches" },
		{ "default -> file /x, file /x\n", 1, 21, "goes there twice" },
		{ "default -> resolve, resolve\n", 1, 21, "goes there twice" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct rule_set *set = NULL;
		struct rule_diag *d = NULL;
		size_t nd = 0;
		dc_err rc = rule_set_parse_text("t", cases[i].text, strlen(cases[i].text), &set, &d, &nd);
		bool ok = rc == DC_OK && set && nd == 1 && d[0].sev == RULE_WARNING && d[0].line == cases[i].line &&
		          d[0].col == cases[i].col && strstr(d[0].msg, cases[i].msg);
		if (!ok) {
			fprintf(stderr, "\nwarning case %zu: rc %d\n", i, rc);
			dump("t", d, nd);
		}
		CU_ASSERT(ok);
		free(d);
		rule_set_free(set);
	}
}

/* tests/rules/bad.rules: every error reported, in order, nothing stops the parser */
static void bad_file(void)
{
	static const struct {
		unsigned line, col;
		enum rule_sev sev;
	} want[] = {
		{ 2, 6, RULE_ERROR },   { 3, 4, RULE_ERROR },   { 4, 17, RULE_ERROR },  { 5, 22, RULE_ERROR },
		{ 6, 28, RULE_ERROR },  { 7, 22, RULE_ERROR },  { 8, 22, RULE_ERROR },  { 9, 8, RULE_ERROR },
		{ 10, 14, RULE_ERROR }, { 11, 1, RULE_ERROR },  { 12, 30, RULE_ERROR }, { 13, 27, RULE_ERROR },
		{ 14, 28, RULE_ERROR }, { 14, 30, RULE_ERROR }, { 15, 24, RULE_ERROR }, { 16, 17, RULE_ERROR },
		{ 17, 37, RULE_ERROR }, { 18, 14, RULE_ERROR }, { 19, 1, RULE_ERROR },  { 21, 1, RULE_WARNING },
	};
	struct rule_set *set = NULL;
	struct rule_diag *d = NULL;
	size_t nd = 0;
	CU_ASSERT_EQUAL(rule_set_parse_file("tests/rules/bad.rules", &set, &d, &nd), DC_ERR_MALFORMED);
	CU_ASSERT_PTR_NULL(set);
	CU_ASSERT_EQUAL(nd, N(want));
	for (size_t i = 0; i < nd && i < N(want); i++) {
		bool ok = d[i].line == want[i].line && d[i].col == want[i].col && d[i].sev == want[i].sev;
		if (!ok)
			rule_diag_print(stderr, "bad.rules", &d[i]);
		CU_ASSERT(ok);
	}
	/* the printed form */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	rule_diag_print(f, "tests/rules/bad.rules", &d[0]);
	rule_diag_print(f, "tests/rules/bad.rules", &d[nd - 1]);
	struct rule_diag whole = { RULE_ERROR, 0, 0, "cannot open" };
	rule_diag_print(f, "x.rules", &whole);
	fclose(f);
	CU_ASSERT_STRING_EQUAL(buf, "tests/rules/bad.rules:2:6: error: unknown transport 'smtpx' (expected http, ws, "
	                            "mqtt, smtp or file)\n"
	                            "tests/rules/bad.rules:21:1: warning: rule #20 is never reached: rule #19 (line 20) "
	                            "is 'default'\n"
	                            "x.rules: error: cannot open\n");
	free(buf);
	free(d);
}

static void limits(void)
{
	struct rule_set *set = NULL;
	struct rule_diag *d = NULL;
	size_t nd = 0;
	/* a line of RULE_MAX_LINE bytes is fine, one more is not */
	size_t cap = 24 * (RULE_MAX_RULES + 2) + RULE_MAX_LINE + 64;
	char *t = malloc(cap);
	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	for (int extra = 0; extra <= 1; extra++) {
		size_t n = (size_t)snprintf(t, cap, "default -> file /");
		while (n < (size_t)RULE_MAX_LINE + (size_t)extra)
			t[n++] = 'x';
		t[n++] = '\n';
		CU_ASSERT_EQUAL(rule_set_parse_text("t", t, n, &set, &d, &nd), extra ? DC_ERR_MALFORMED : DC_OK);
		if (extra) {
			CU_ASSERT_EQUAL(nd, 1);
			CU_ASSERT(nd && d[0].line == 1 && d[0].col == RULE_MAX_LINE + 1 && strstr(d[0].msg, "line longer"));
		}
		free(d);
		rule_set_free(set);
	}
	/* RULE_MAX_RULES rules, then one more */
	for (int extra = 0; extra <= 1; extra++) {
		size_t n = 0;
		for (int i = 0; i < RULE_MAX_RULES - 1 + extra; i++)
			n += (size_t)snprintf(t + n, cap - n, "tag a -> file /x\n");
		n += (size_t)snprintf(t + n, cap - n, "default -> resolve\n");
		dc_err rc = rule_set_parse_text("t", t, n, &set, &d, &nd);
		CU_ASSERT_EQUAL(rc, extra ? DC_ERR_MALFORMED : DC_OK);
		CU_ASSERT_EQUAL(rule_set_count(set), extra ? 0 : RULE_MAX_RULES);
		if (extra)
			CU_ASSERT(nd >= 1 && d[0].line == RULE_MAX_RULES + 1 && strstr(d[0].msg, "more than 10000 rules"));
		free(d);
		rule_set_free(set);
	}
	/* errors stop at RULE_MAX_DIAGS, the last one says so */
	{
		size_t n = 0;
		for (int i = 0; i < 2 * RULE_MAX_DIAGS; i++)
			n += (size_t)snprintf(t + n, cap - n, "to x -> file /x\n");
		CU_ASSERT_EQUAL(rule_set_parse_text("t", t, n, &set, &d, &nd), DC_ERR_MALFORMED);
		CU_ASSERT_EQUAL(nd, RULE_MAX_DIAGS);
		CU_ASSERT(nd && strstr(d[nd - 1].msg, "too many diagnostics"));
		CU_ASSERT(nd > 2 && d[nd - 2].line == RULE_MAX_DIAGS - 1);
		free(d);
	}
	/* fan-out bound, alternatives bound */
	{
		size_t n = (size_t)snprintf(t, cap, "default -> file /0");
		for (int i = 1; i <= RULE_MAX_ACTIONS; i++)
			n += (size_t)snprintf(t + n, cap - n, ", file /%d", i);
		CU_ASSERT_EQUAL(rule_set_parse_text("t", t, n, &set, &d, &nd), DC_ERR_MALFORMED);
		CU_ASSERT(nd == 1 && strstr(d[0].msg, "more than 16 actions"));
		free(d);
		n = (size_t)snprintf(t, cap, "tag a0");
		for (int i = 1; i <= RULE_MAX_ALTS; i++)
			n += (size_t)snprintf(t + n, cap - n, "|a%d", i);
		n += (size_t)snprintf(t + n, cap - n, " -> resolve\ndefault -> resolve\n");
		CU_ASSERT_EQUAL(rule_set_parse_text("t", t, n, &set, &d, &nd), DC_ERR_MALFORMED);
		CU_ASSERT(nd == 1 && strstr(d[0].msg, "alternatives"));
		free(d);
		n = 0;
		for (int i = 0; i <= RULE_MAX_MATCHERS; i++)
			n += (size_t)snprintf(t + n, cap - n, "size > %d ", i);
		n += (size_t)snprintf(t + n, cap - n, "-> resolve\ndefault -> resolve\n");
		CU_ASSERT_EQUAL(rule_set_parse_text("t", t, n, &set, &d, &nd), DC_ERR_MALFORMED);
		CU_ASSERT(nd == 1 && strstr(d[0].msg, "more than 32 matchers"));
		free(d);
	}
	free(t);
	/* whole file too big; missing file */
	CU_ASSERT_EQUAL(rule_set_parse_text("t", "", (size_t)RULE_MAX_FILE_BYTES + 1, &set, &d, &nd), DC_ERR_TOO_BIG);
	CU_ASSERT(nd == 1 && d[0].line == 0);
	free(d);
	CU_ASSERT_EQUAL(rule_set_parse_file("tests/rules/does-not-exist.rules", &set, &d, &nd), DC_ERR_IO);
	CU_ASSERT(nd == 1 && d[0].line == 0 && strstr(d[0].msg, "cannot open"));
	CU_ASSERT_PTR_NULL(set);
	free(d);
	/* bad arguments */
	CU_ASSERT_EQUAL(rule_set_parse_text("t", NULL, 3, &set, NULL, NULL), DC_ERR_INVAL);
	CU_ASSERT_EQUAL(rule_set_parse_text("t", "x", 1, NULL, NULL, NULL), DC_ERR_INVAL);
	CU_ASSERT_EQUAL(rule_set_parse_text(NULL, NULL, 0, &set, NULL, NULL), DC_OK); /* empty: no rules */
	CU_ASSERT_EQUAL(rule_set_count(set), 0);
	rule_set_free(set);
	rule_set_free(NULL);
}

/* ---- numbers ---- */

static void durations(void)
{
	static const struct {
		const char *s;
		int64_t want; /* -1: refused */
	} cases[] = {
		{ "30s", 30 }, { "15m", 900 }, { "24h", 86400 }, { "7d", 604800 }, { "1s", 1 }, { "007h", 25200 },
		{ "365d", 31536000 }, { "8760h", 31536000 }, { "525600m", 31536000 }, { "31536000s", 31536000 },
		{ "366d", -1 }, { "8761h", -1 }, { "31536001s", -1 }, { "0s", -1 }, { "0d", -1 },
		{ "9223372036854775807s", -1 }, { "18446744073709551616s", -1 }, { "99999999999999999999999d", -1 },
		{ "", -1 }, { "s", -1 }, { "1", -1 }, { "1x", -1 }, { "1ms", -1 }, { "-1s", -1 }, { "+1s", -1 },
		{ " 1s", -1 }, { "1s ", -1 }, { "1.5h", -1 }, { "1h30m", -1 }, { "1S", -1 }, { "1H", -1 },
	};
	for (size_t i = 0; i < N(cases); i++) {
		int64_t v = 123;
		int rc = rule_parse_duration(cases[i].s, strlen(cases[i].s), &v);
		CU_ASSERT_EQUAL(rc, cases[i].want < 0 ? -1 : 0);
		CU_ASSERT_EQUAL(v, cases[i].want < 0 ? 0 : cases[i].want);
		if ((rc == 0) != (cases[i].want >= 0))
			fprintf(stderr, "\nduration '%s'\n", cases[i].s);
	}
	int64_t v;
	CU_ASSERT_EQUAL(rule_parse_duration("24h", 2, &v), -1); /* length is honoured */
	CU_ASSERT_EQUAL(rule_parse_duration(NULL, 0, &v), -1);
}

static void sizes(void)
{
	static const struct {
		const char *s;
		int64_t want;
	} cases[] = {
		{ "0", 0 }, { "512", 512 }, { "64k", 65536 }, { "64K", 65536 }, { "10M", 10485760 },
		{ "1G", 1073741824 }, { "1048576k", 1073741824 }, { "1073741824", 1073741824 },
		{ "1073741825", -1 }, { "1048577k", -1 }, { "1025M", -1 }, { "2G", -1 },
		{ "18446744073709551616", -1 }, { "", -1 }, { "k", -1 }, { "1m", -1 }, { "1g", -1 },
		{ "1kB", -1 }, { "1T", -1 }, { "-1", -1 }, { "1 k", -1 }, { "0x10", -1 },
	};
	for (size_t i = 0; i < N(cases); i++) {
		uint64_t v = 123;
		int rc = rule_parse_size(cases[i].s, strlen(cases[i].s), &v);
		CU_ASSERT_EQUAL(rc, cases[i].want < 0 ? -1 : 0);
		CU_ASSERT_EQUAL(v, cases[i].want < 0 ? 0 : (uint64_t)cases[i].want);
		if ((rc == 0) != (cases[i].want >= 0))
			fprintf(stderr, "\nsize '%s'\n", cases[i].s);
	}
	/* the size matcher's edges: < <= > >= at N-1, N, N+1 */
	struct rule_set *set = parse_ok("size < 1k -> file /lt\nsize <= 1k -> file /le\n"
	                                "size > 1k -> file /gt\nsize >= 1k -> file /ge\ndefault -> resolve\n");
	static const struct {
		size_t size;
		bool lt, le, gt, ge;
	} edges[] = {
		{ 0, true, true, false, false },     { 1023, true, true, false, false },
		{ 1024, false, true, false, true },  { 1025, false, false, true, true },
		{ (size_t)-1, false, false, true, true },
	};
	for (size_t i = 0; set && i < N(edges); i++) {
		struct rule_env env = { .size = edges[i].size };
		CU_ASSERT_EQUAL(rule_matches(rule_set_get(set, 0), &env), edges[i].lt);
		CU_ASSERT_EQUAL(rule_matches(rule_set_get(set, 1), &env), edges[i].le);
		CU_ASSERT_EQUAL(rule_matches(rule_set_get(set, 2), &env), edges[i].gt);
		CU_ASSERT_EQUAL(rule_matches(rule_set_get(set, 3), &env), edges[i].ge);
	}
	rule_set_free(set);
}

/* ---- globs and DIDs ---- */

static void globs(void)
{
	static const struct {
		const char *pat, *s;
		bool want;
	} cases[] = {
		{ "did:web:*", "did:web:example.com", true },
		{ "did:web:*", "did:web:", true },
		{ "did:web:*", "did:webx:a", false },
		{ "did:web:agents.example.com:*", "did:web:agents.example.com:alice", true },
		{ "did:web:agents.example.com:*", "did:web:agents.example.com", false },
		{ "did:web:*.example.com", "did:web:a.b.example.com", true },
		{ "did:web:*.example.com", "did:web:example.com", false },
		{ "did:peer:2.*", "did:peer:2.Ez6LS", true },
		{ "did:peer:2.*", "did:peer:4zQm", false },
		{ "did:peer:?.*", "did:peer:0.z6", true },
		{ "did:peer:?", "did:peer:", false },
		{ "did:peer:?", "did:peer:ab", false },
		{ "*", "", true },
		{ "*", "anything", true },
		{ "**a**", "xxaxx", true },
		{ "*a*b*c", "abcabc", true },
		{ "*a*b*c", "abcab", false },
		{ "did:example:vault", "did:example:vault", true },
		{ "did:example:vault", "did:example:vaults", false },
		{ "did:example:vault", "did:example:vaul", false },
		{ "did:a:*:x", "did:a:b:c:x", true },
		{ "DID:a:b", "did:a:b", false }, /* case matters */
		{ "a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false },
	};
	for (size_t i = 0; i < N(cases); i++) {
		bool got = rule_glob(cases[i].pat, cases[i].s);
		if (got != cases[i].want)
			fprintf(stderr, "\nglob '%s' '%s'\n", cases[i].pat, cases[i].s);
		CU_ASSERT_EQUAL(got, cases[i].want);
	}
	/* a long hostile subject against a many-star pattern stays fast (no recursion) */
	size_t n = RULE_MAX_VALUE;
	char *s = malloc(n + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	memset(s, 'a', n);
	s[n] = 0;
	CU_ASSERT(!rule_glob("*a*a*a*a*a*a*a*a*a*a*b", s));
	CU_ASSERT(rule_glob("*a*a*a*a*a*a*a*a*a*a", s));
	free(s);
}

static void dids(void)
{
	static const struct {
		const char *s;
		bool want;
	} cases[] = {
		{ "did:web:example.com", true }, { "did:web:example.com%3A8080:a:b", true },
		{ "did:peer:2.Ez6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc", true },
		{ "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", true },
		{ "did:example:123456789abcdefghi", true }, { "did:a:b", true }, { "did:0:_", true },
		{ "did:web::a", true }, { "did:a:b.-_", true },
		{ "", false }, { "did", false }, { "did:", false }, { "did:web", false }, { "did:web:", false },
		{ "did::x", false }, { "did:Web:x", false }, { "did:we-b:x", false }, { "did:web:a:", false },
		{ "did:web:a/b", false }, { "did:web:a?b", false }, { "did:web:a#key-1", false },
		{ "did:web:a b", false }, { "did:web:a%2", false }, { "did:web:a%zz", false }, { "did:web:..%2F", true },
		{ "DID:web:a", false }, { "did:web:a\n", false }, { "did:web:a\r\nBcc: x", false },
		{ "did:web:\xc3\xa9", false }, { "did:web:a+b", false }, { "did:web:a@b", false },
	};
	for (size_t i = 0; i < N(cases); i++) {
		bool got = rule_is_did(cases[i].s);
		if (got != cases[i].want)
			fprintf(stderr, "\ndid '%s'\n", cases[i].s);
		CU_ASSERT_EQUAL(got, cases[i].want);
	}
	CU_ASSERT(!rule_is_did(NULL));
}

/* ---- matching ---- */

static const char *const match_text =
	"from smtp  to did:web:agents.example.com:*  -> http https://agents.example.com/dc  else hold 24h\n" /* 1 */
	"to did:peer:2.*  tag fleet   -> mqtt fleet/{to}/inbox qos=1  else hold 7d\n"                      /* 2 */
	"sender did:key:*             -> file /var/spool/keys\n"                                            /* 3 */
	"type https://didcomm.org/trust-ping/2.0/*  -> reject\n"                                            /* 4 */
	"media signed|plain  size > 1M -> reject e.p.xfer.too-big\n"                                        /* 5 */
	"to did:example:vault|did:example:safe      -> file /var/spool/didcomm/outbox\n"                    /* 6 */
	"via http|ws  to did:web:*    -> resolve https\n"                                                   /* 7 */
	"default                      -> resolve  else hold 72h\n";                                         /* 8 */

static void first_match(void)
{
	struct rule_set *set = parse_ok(match_text);
	CU_ASSERT_PTR_NOT_NULL_FATAL(set);
	static const struct {
		struct rule_env env;
		size_t want; /* rule number */
	} cases[] = {
		{ { .transport = "smtp", .to = "did:web:agents.example.com:alice" }, 1 },
		{ { .transport = "http", .to = "did:web:agents.example.com:alice" }, 7 },
		{ { .transport = "mqtt", .to = "did:web:agents.example.com:alice" }, 8 },
		{ { .transport = "smtp", .to = "did:peer:2.Ez6", .tag = "fleet" }, 2 },
		{ { .transport = "smtp", .to = "did:peer:2.Ez6", .tag = "lab" }, 8 },
		{ { .transport = "smtp", .to = "did:peer:2.Ez6" }, 8 },
		/* sender unknown: rule 3 does not match; known: it does, before 4 and 6 */
		{ { .to = "did:example:vault", .type = "https://didcomm.org/trust-ping/2.0/ping" }, 4 },
		{ { .to = "did:example:vault", .sender = "did:key:z6Mk", .type = "https://didcomm.org/trust-ping/2.0/ping" },
		  3 },
		{ { .to = "did:example:vault", .sender = "did:web:x" }, 6 },
		{ { .to = "did:example:safe" }, 6 },
		{ { .to = "did:example:vaults" }, 8 },
		/* media: short names, case, parameters */
		{ { .to = "did:a:b", .media_type = RULE_MEDIA_SIGNED, .size = 2 << 20 }, 5 },
		{ { .to = "did:a:b", .media_type = "Application/DIDComm-Plain+JSON; charset=utf-8", .size = 2 << 20 }, 5 },
		{ { .to = "did:a:b", .media_type = RULE_MEDIA_ENCRYPTED, .size = 2 << 20 }, 8 },
		{ { .to = "did:a:b", .media_type = RULE_MEDIA_SIGNED, .size = 1 << 20 }, 8 },
		{ { .to = "did:a:b", .size = 2 << 20 }, 8 }, /* media unknown */
		{ { .transport = "ws", .to = "did:web:x" }, 7 },
		{ { 0 }, 8 },
	};
	for (size_t i = 0; i < N(cases); i++) {
		const struct rule *r = NULL;
		CU_ASSERT_EQUAL(rule_match(set, &cases[i].env, &r), DC_OK);
		CU_ASSERT_PTR_NOT_NULL(r);
		if (r && r->num != cases[i].want)
			fprintf(stderr, "\nmatch case %zu: rule #%zu, want #%zu\n", i, r->num, cases[i].want);
		CU_ASSERT(r && r->num == cases[i].want);
	}
	/* -1: a field the rule needs is unknown */
	struct rule_env anon = { .to = "did:x:y" };
	CU_ASSERT_EQUAL(rule_matches(rule_set_get(set, 2), &anon), -1);
	CU_ASSERT_EQUAL(rule_matches(rule_set_get(set, 0), &anon), -1); /* transport unknown */
	CU_ASSERT_EQUAL(rule_matches(rule_set_get(set, 1), &anon), 0);  /* `to` known, no match */
	CU_ASSERT_EQUAL(rule_matches(rule_set_get(set, 7), &anon), 1);
	/* over-long values never match a glob */
	char *big = malloc(RULE_MAX_VALUE + 16);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	memcpy(big, "did:web:", 8);
	memset(big + 8, 'a', RULE_MAX_VALUE + 7);
	big[RULE_MAX_VALUE + 15] = 0;
	struct rule_env longenv = { .transport = "http", .to = big };
	const struct rule *r = NULL;
	CU_ASSERT_EQUAL(rule_match(set, &longenv, &r), DC_OK);
	CU_ASSERT(r && r->num == 8);
	free(big);
	/* arguments */
	CU_ASSERT_EQUAL(rule_match(NULL, &anon, &r), DC_ERR_INVAL);
	CU_ASSERT_PTR_NULL(r);
	CU_ASSERT_EQUAL(rule_match(set, NULL, &r), DC_ERR_INVAL);
	CU_ASSERT_EQUAL(rule_match(set, &anon, NULL), DC_ERR_INVAL);
	rule_set_free(set);
	/* no default: nothing matches */
	set = parse_ok("to did:a:b -> resolve\ndefault -> resolve\n");
	rule_set_free(set);
	struct rule_diag *d = NULL;
	size_t nd = 0;
	CU_ASSERT_EQUAL(rule_set_parse_text("t", "to did:a:b -> resolve\n", 22, &set, &d, &nd), DC_OK);
	free(d);
	CU_ASSERT_EQUAL(rule_match(set, &anon, &r), DC_ERR_NOT_FOUND);
	CU_ASSERT_PTR_NULL(r);
	rule_set_free(set);
	/* the built-in rule text */
	set = parse_ok(RULE_BUILTIN_TEXT);
	/* an envelope for someone else: not relayed */
	CU_ASSERT_EQUAL(rule_match(set, &anon, &r), DC_OK);
	CU_ASSERT(r && r->is_default && r->then.v[0].kind == RULE_ACT_REJECT &&
	          strcmp(r->then.v[0].code, "e.p.msg.not-relayed") == 0);
	/* a forward addressed to us: relayed */
	struct rule_env fwd = anon;
	fwd.relay = "forward";
	CU_ASSERT_EQUAL(rule_match(set, &fwd, &r), DC_OK);
	CU_ASSERT(r && !r->is_default && r->then.v[0].kind == RULE_ACT_RESOLVE && r->fallback.v[0].hold_s == 72 * 3600);
	fwd.relay = "other";
	CU_ASSERT_EQUAL(rule_match(set, &fwd, &r), DC_OK);
	CU_ASSERT(r && r->is_default);
	rule_set_free(set);
	/* relay takes forward or other, nothing else */
	CU_ASSERT_EQUAL(rule_set_parse_text("t", "relay sideways -> resolve\n", 26, &set, &d, &nd), DC_ERR_MALFORMED);
	CU_ASSERT(nd >= 1 && strstr(d[0].msg, "forward or other") != NULL);
	free(d);
}

/* ---- rendering and its refusals ---- */

static void render(void)
{
	static const struct {
		const char *adapter, *target;
		const char *to, *from, *id, *thid;
		dc_err rc;
		const char *want; /* output, or a piece of the error message */
	} cases[] = {
		{ "mqtt", "fleet/{to}/inbox", "did:peer:2.Ez6", NULL, NULL, NULL, DC_OK, "fleet/did:peer:2.Ez6/inbox" },
		{ "file", "/spool/{to}", "did:web:a.example", NULL, NULL, NULL, DC_OK, "/spool/did:web:a.example" },
		{ "file", "/spool/{id}.dcem", NULL, NULL, "1234-abcd", NULL, DC_OK, "/spool/1234-abcd.dcem" },
		{ "smtp", "dc+{thid}@mail.example", NULL, NULL, NULL, "t-1", DC_OK, "dc+t-1@mail.example" },
		{ "http", "https://x/in/{to}?from={from}&id={id}", "did:web:a%3A1", "did:key:z6", "a/c?d&e=#", NULL, DC_OK,
		  "https://x/in/did:web:a%253A1?from=did:key:z6&id=a%2Fc%3Fd%26e%3D%23" },
		{ "ws", "wss://x/{id}", NULL, NULL, "~._-", NULL, DC_OK, "wss://x/~._-" },
		{ "http", "https://x/static", NULL, NULL, NULL, NULL, DC_OK, "https://x/static" },
		/* unknown values */
		{ "http", "https://x/{from}", "did:a:b", NULL, NULL, NULL, DC_ERR_NOT_FOUND, "sender is not known" },
		{ "file", "/s/{id}", "did:a:b", NULL, NULL, NULL, DC_ERR_NOT_FOUND, "{id}: not visible" },
		{ "file", "/s/{thid}", "did:a:b", NULL, NULL, NULL, DC_ERR_NOT_FOUND, "{thid}" },
		{ "file", "/s/{to}", NULL, NULL, NULL, NULL, DC_ERR_NOT_FOUND, "recipient" },
		/* {to} {from} must be DIDs */
		{ "mqtt", "f/{to}", "did:web:a/b", NULL, NULL, NULL, DC_ERR_DENIED, "not a DID" },
		{ "mqtt", "f/{to}", "did:web:a#key-1", NULL, NULL, NULL, DC_ERR_DENIED, "not a DID" },
		{ "http", "https://x/{to}", "did:web:a?x=1", NULL, NULL, NULL, DC_ERR_DENIED, "not a DID" },
		{ "http", "https://x/{from}", "did:a:b", "alice", NULL, NULL, DC_ERR_DENIED, "not a DID" },
		/* file: / .. \ . CR LF */
		{ "file", "/s/{id}", NULL, NULL, "../../etc/passwd", NULL, DC_ERR_DENIED, "'/' refused" },
		{ "file", "/s/{id}", NULL, NULL, "..", NULL, DC_ERR_DENIED, "'..' refused" },
		{ "file", "/s/{id}", NULL, NULL, "a..b", NULL, DC_ERR_DENIED, "'..' refused" },
		{ "file", "/s/{id}", NULL, NULL, ".", NULL, DC_ERR_DENIED, "'..' refused" },
		{ "file", "/s/{id}", NULL, NULL, "a\\b", NULL, DC_ERR_DENIED, "'\\' refused" },
		{ "file", "/s/{id}", NULL, NULL, "a\nb", NULL, DC_ERR_DENIED, "byte 0x0a" },
		{ "file", "/s/{id}", NULL, NULL, "a\rb", NULL, DC_ERR_DENIED, "byte 0x0d" },
		{ "file", "/s/{to}", "did:web:..", NULL, NULL, NULL, DC_ERR_DENIED, "'..' refused" },
		{ "file", "/s/{id}", NULL, NULL, "", NULL, DC_ERR_DENIED, "empty" },
		/* smtp: header injection and extra recipients */
		{ "smtp", "x+{id}@m.example", NULL, NULL, "a\r\nBcc: evil@x", NULL, DC_ERR_DENIED, "byte 0x0d" },
		{ "smtp", "x+{id}@m.example", NULL, NULL, "a\nb", NULL, DC_ERR_DENIED, "byte 0x0a" },
		{ "smtp", "x+{id}@m.example", NULL, NULL, "a,b@evil", NULL, DC_ERR_DENIED, "',' refused" },
		{ "smtp", "x+{id}@m.example", NULL, NULL, "a>b", NULL, DC_ERR_DENIED, "'>' refused" },
		{ "smtp", "x+{id}@m.example", NULL, NULL, "a/b", NULL, DC_ERR_DENIED, "'/' refused" },
		{ "smtp", "x+{id}@m.example", NULL, NULL, "a..b", NULL, DC_ERR_DENIED, "'..' refused" },
		{ "smtp", "x+{id}@m.example", NULL, NULL, "a b", NULL, DC_ERR_DENIED, "byte 0x20" },
		/* mqtt: + # / and a leading $ */
		{ "mqtt", "f/{id}/in", NULL, NULL, "a+b", NULL, DC_ERR_DENIED, "'+' refused" },
		{ "mqtt", "f/{id}/in", NULL, NULL, "#", NULL, DC_ERR_DENIED, "'#' refused" },
		{ "mqtt", "f/{id}/in", NULL, NULL, "a/b", NULL, DC_ERR_DENIED, "'/' refused" },
		{ "mqtt", "{id}/in", NULL, NULL, "$SYS", NULL, DC_ERR_DENIED, "starts with '$'" },
		{ "mqtt", "f/{id}", NULL, NULL, "\xc3\xa9", NULL, DC_ERR_DENIED, "byte 0xc3" },
		/* http: dot segments */
		{ "http", "https://x/a/{id}/b", NULL, NULL, "..", NULL, DC_ERR_DENIED, "URL path segment" },
		{ "http", "https://x/a/{id}/b", NULL, NULL, ".", NULL, DC_ERR_DENIED, "URL path segment" },
		{ "ws", "ws://x/{id}", NULL, NULL, "a\tb", NULL, DC_ERR_DENIED, "byte 0x09" },
		/* templates are checked again when rendering (a hand-made action) */
		{ "http", "https://{to}/", "did:a:b", NULL, NULL, NULL, DC_ERR_INVAL, "host part" },
		{ "mqtt", "a/+", NULL, NULL, NULL, NULL, DC_ERR_INVAL, "wildcard" },
		{ "file", "/s/{nope}", NULL, NULL, NULL, NULL, DC_ERR_INVAL, "unknown placeholder" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct rule_action a = { .kind = RULE_ACT_DELIVER, .adapter = cases[i].adapter,
		                         .target = (char *)cases[i].target };
		struct rule_env env = { .to = cases[i].to, .sender = cases[i].from, .msg_id = cases[i].id,
		                        .thid = cases[i].thid };
		char *out = (char *)1;
		struct dc_errinfo ei = { 0 };
		dc_err rc = rule_render_target(&a, &env, &out, &ei);
		bool ok = rc == cases[i].rc &&
		          (rc == DC_OK ? out && strcmp(out, cases[i].want) == 0
		                       : out == NULL && ei.code == rc && strstr(ei.msg, cases[i].want) != NULL);
		if (!ok)
			fprintf(stderr, "\nrender case %zu: rc %d out '%s' ei '%s'\n", i, rc, rc == DC_OK ? out : "",
			        ei.msg);
		CU_ASSERT(ok);
		if (rc == DC_OK)
			free(out);
	}
	/* too long once rendered */
	char *id = malloc(RULE_MAX_VALUE + 1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(id);
	memset(id, 'a', RULE_MAX_VALUE);
	id[RULE_MAX_VALUE] = 0;
	struct rule_action a = { .kind = RULE_ACT_DELIVER, .adapter = "file", .target = "/s/{id}" };
	struct rule_env env = { .msg_id = id };
	char *out = NULL;
	CU_ASSERT_EQUAL(rule_render_target(&a, &env, &out, NULL), DC_ERR_TOO_BIG);
	CU_ASSERT_PTR_NULL(out);
	/* under the limit as a value, over it once percent-encoded */
	memset(id, '%', RULE_MAX_TARGET / 2);
	id[RULE_MAX_TARGET / 2] = 0;
	a.adapter = "http";
	a.target = "https://x/{id}";
	CU_ASSERT_EQUAL(rule_render_target(&a, &env, &out, NULL), DC_ERR_TOO_BIG);
	CU_ASSERT_PTR_NULL(out);
	free(id);
	/* not a deliver action */
	struct rule_action h = { .kind = RULE_ACT_HOLD, .hold_s = 60 };
	CU_ASSERT_EQUAL(rule_render_target(&h, &env, &out, NULL), DC_ERR_INVAL);
	CU_ASSERT_EQUAL(rule_render_target(NULL, &env, &out, NULL), DC_ERR_INVAL);
	/* from a parsed rule */
	struct rule_set *set = parse_ok(match_text);
	struct rule_env fleet = { .transport = "mqtt", .to = "did:peer:2.Ez6LSb", .tag = "fleet" };
	const struct rule *r = NULL;
	CU_ASSERT_EQUAL(rule_match(set, &fleet, &r), DC_OK);
	CU_ASSERT_EQUAL(rule_render_target(&r->then.v[0], &fleet, &out, NULL), DC_OK);
	CU_ASSERT_STRING_EQUAL(out, "fleet/did:peer:2.Ez6LSb/inbox");
	free(out);
	rule_set_free(set);
}

/* ---- explain ---- */

static char *explain(const struct rule_set *set, const struct rule_env *env, dc_err *rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return NULL;
	*rc = rule_explain(set, env, f);
	fclose(f);
	return buf;
}

static void explain_output(void)
{
	struct rule_set *set = parse_ok(match_text);
	CU_ASSERT_PTR_NOT_NULL_FATAL(set);
	static const struct {
		struct rule_env env;
		dc_err rc;
		const char *lines[6]; /* each must appear, in this order */
	} cases[] = {
		{ { .transport = "smtp", .to = "did:web:agents.example.com:alice" },
		  DC_OK,
		  { "message: transport=smtp to=did:web:agents.example.com:alice sender=(unknown)",
		    "rule #1 (t:1) matched: from smtp matches smtp; to did:web:agents.example.com:alice matches "
		    "did:web:agents.example.com:*\n",
		    "  -> http https://agents.example.com/dc  => https://agents.example.com/dc\n",
		    "  else hold 24h\n" } },
		{ { .transport = "mqtt", .to = "did:peer:2.Ez6", .tag = "fleet" },
		  DC_OK,
		  { "rule #1 (t:1) not matched: from mqtt does not match smtp\n",
		    "rule #2 (t:2) matched: to did:peer:2.Ez6 matches did:peer:2.*; tag fleet matches fleet\n",
		    "  -> mqtt fleet/{to}/inbox qos=1  => fleet/did:peer:2.Ez6/inbox\n", "  else hold 7d\n" } },
		{ { .to = "did:example:vault", .type = "https://didcomm.org/trust-ping/2.0/ping" },
		  DC_OK,
		  { "rule #1 (t:1) not matched: from: the inbound transport is not known, wanted smtp\n",
		    "rule #2 (t:2) not matched: to did:example:vault does not match did:peer:2.*\n",
		    "rule #3 (t:3) not matched: sender: the sender is not known (anonymous or not visible), wanted "
		    "did:key:*\n",
		    "rule #4 (t:4) matched: type https://didcomm.org/trust-ping/2.0/ping matches "
		    "https://didcomm.org/trust-ping/2.0/*\n",
		    "  -> reject e.p.xfer.cant-use-endpoint\n" } },
		{ { .to = "did:a:b", .media_type = RULE_MEDIA_ENCRYPTED, .size = 5 },
		  DC_OK,
		  { "rule #5 (t:5) not matched: media application/didcomm-encrypted+json does not match signed|plain\n",
		    "rule #6 (t:6) not matched: to did:a:b does not match did:example:vault|did:example:safe\n",
		    "rule #8 (t:8) matched: default matches every message\n", "  -> resolve\n", "  else hold 72h\n" } },
		{ { .to = "did:a:b", .media_type = RULE_MEDIA_PLAIN, .size = 5 },
		  DC_OK,
		  { "rule #5 (t:5) not matched: size 5 is not > 1M\n" } },
		/* hostile bytes are shown escaped */
		{ { .to = "did:a:\x1b[31m\n", .transport = "http" },
		  DC_OK,
		  { "to=did:a:\\x1b[31m\\x0a ", "rule #7 (t:7) not matched: to did:a:\\x1b[31m\\x0a does not match did:web:*" } },
	};
	for (size_t i = 0; i < N(cases); i++) {
		dc_err rc = DC_ERR_IO;
		char *out = explain(set, &cases[i].env, &rc);
		CU_ASSERT_PTR_NOT_NULL_FATAL(out);
		CU_ASSERT_EQUAL(rc, cases[i].rc);
		const char *at = out;
		for (size_t k = 0; k < N(cases[i].lines) && cases[i].lines[k]; k++) {
			const char *hit = strstr(at, cases[i].lines[k]);
			if (!hit)
				fprintf(stderr, "\nexplain case %zu: missing '%s' in:\n%s", i, cases[i].lines[k], out);
			CU_ASSERT_PTR_NOT_NULL(hit);
			if (hit)
				at = hit + strlen(cases[i].lines[k]);
		}
		if (i == 0) /* nothing about later rules once one matched */
			CU_ASSERT_PTR_NULL(strstr(out, "rule #2"));
		free(out);
	}
	rule_set_free(set);
	/* a target that cannot be rendered, and no rule at all */
	set = parse_ok("to did:a:* -> http https://x/{from} else hold 1h\n");
	struct rule_env env = { .to = "did:a:b" };
	dc_err rc = DC_OK;
	char *out = explain(set, &env, &rc);
	CU_ASSERT_EQUAL(rc, DC_OK);
	CU_ASSERT(out && strstr(out, "  -> http https://x/{from}  => cannot render: {from}: the sender is "
	                                          "not known for this message (the 'else' applies)\n"));
	free(out);
	env.to = "did:b:c";
	out = explain(set, &env, &rc);
	CU_ASSERT_EQUAL(rc, DC_ERR_NOT_FOUND);
	CU_ASSERT(out && strstr(out, "no rule matched: the message is rejected (e.p.xfer.cant-use-endpoint)"));
	free(out);
	CU_ASSERT_EQUAL(rule_explain(NULL, &env, stdout), DC_ERR_INVAL);
	rule_set_free(set);
	/* rule_action_print writes rule syntax back, quoting what needs it */
	set = parse_ok("default -> file \"/a b\", mqtt t qos=2, resolve https mailto, file \"else\"\n"
	               "  else hold 90m\n");
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	const struct rule *r = rule_set_get(set, 0);
	for (size_t i = 0; i < r->then.n; i++) {
		rule_action_print(f, &r->then.v[i]);
		fputc('|', f);
	}
	rule_action_print(f, &r->fallback.v[0]);
	fclose(f);
	CU_ASSERT_STRING_EQUAL(buf, "file \"/a b\"|mqtt t qos=2|resolve https mailto|file \"else\"|hold 90m");
	free(buf);
	rule_set_free(set);
}

/* ---- hostile input: arbitrary bytes never crash, never leak (ASan build) ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

/* parse, and when it parses, match, render and explain too; check the diagnostics' shape */
static void exercise(const char *text, size_t len)
{
	struct rule_set *set = (struct rule_set *)1;
	struct rule_diag *d = NULL;
	size_t nd = 0;
	dc_err rc = rule_set_parse_text("fuzz", text, len, &set, &d, &nd);
	CU_ASSERT(rc == DC_OK || rc == DC_ERR_MALFORMED);
	CU_ASSERT((rc == DC_OK) == (set != NULL));
	CU_ASSERT(nd <= RULE_MAX_DIAGS);
	CU_ASSERT(rc == DC_OK || count_sev(d, nd, RULE_ERROR) > 0);
	for (size_t i = 0; i < nd; i++) {
		size_t ml = strnlen(d[i].msg, sizeof d[i].msg);
		CU_ASSERT(ml < sizeof d[i].msg);
		for (size_t k = 0; k < ml; k++)
			if ((unsigned char)d[i].msg[k] < 0x20 || (unsigned char)d[i].msg[k] >= 0x7f) {
				CU_FAIL("diagnostic with a non-printable byte");
				break;
			}
	}
	free(d);
	if (rc != DC_OK)
		return;
	static const struct rule_env envs[] = {
		{ .transport = "mqtt", .to = "did:peer:2.Ez6", .tag = "fleet", .msg_id = "1", .thid = "2" },
		{ .transport = "smtp", .to = "did:web:a:b", .sender = "did:key:z6", .media_type = RULE_MEDIA_PLAIN,
		  .type = "https://didcomm.org/x/1.0/y", .size = 100000 },
		{ 0 },
	};
	FILE *null = fopen("/dev/null", "w");
	for (size_t e = 0; e < N(envs); e++) {
		const struct rule *r = NULL;
		if (rule_match(set, &envs[e], &r) == DC_OK)
			for (size_t i = 0; i < r->then.n; i++)
				if (r->then.v[i].kind == RULE_ACT_DELIVER) {
					char *out = NULL;
					if (rule_render_target(&r->then.v[i], &envs[e], &out, NULL) == DC_OK)
						free(out);
				}
		if (null)
			CU_ASSERT(rule_explain(set, &envs[e], null) != DC_ERR_IO);
	}
	if (null)
		fclose(null);
	rule_set_free(set);
}

static void fuzz_random_bytes(void)
{
	char buf[600];
	for (int iter = 0; iter < 3000; iter++) {
		size_t n = rnd() % sizeof buf;
		for (size_t i = 0; i < n; i++)
			buf[i] = (char)rnd();
		exercise(buf, n);
	}
}

/* random sequences of the language's own words get much further into the parser */
static void fuzz_token_soup(void)
{
	static const char *const dict[] = {
		"from", "via", "to", "sender", "type", "media", "size", "tag", "default", "->", ",", "|", "<", "<=",
		">", ">=", "else", "http", "ws", "mqtt", "smtp", "file", "resolve", "hold", "reject", "did:web:*",
		"did:peer:2.*", "did:a:b", "smtp", "plain", "signed", "encrypted", "text/x", "64k", "1G", "2G", "0",
		"24h", "0s", "400d", "7d", "https://x/{to}", "http://h/{id}", "wss://w/{from}", "fleet/{to}/in",
		"a/+", "$x", "/var/{thid}", "a@b", "{to}@b", "qos=1", "qos=9", "retain=yes", "timeout=5s", "x=y",
		"e.p.xfer.x", "E.x", "\"q s\"", "\"unterminated", "\\\n", "\n", "\n", "\r\n", "#c\n", "\t", "\x01",
		"\xff", "{", "}", "*", "?", "=", "-", ">",
	};
	char buf[1024];
	for (int iter = 0; iter < 6000; iter++) {
		size_t n = 0, words = 1 + rnd() % 40;
		for (size_t w = 0; w < words; w++) {
			const char *s = dict[rnd() % N(dict)];
			size_t l = strlen(s);
			if (n + l + 1 >= sizeof buf)
				break;
			memcpy(buf + n, s, l);
			n += l;
			if (rnd() % 4)
				buf[n++] = ' ';
		}
		exercise(buf, n);
	}
}

/* every truncation of the example file, and single-byte changes to it */
static void fuzz_truncations(void)
{
	static const char *const files[] = { "conf/rules.conf", "tests/rules/good.rules", "tests/rules/bad.rules" };
	for (size_t f = 0; f < N(files); f++) {
		size_t len = 0;
		char *text = tu_read_file(files[f], &len);
		CU_ASSERT_PTR_NOT_NULL_FATAL(text);
		for (size_t n = 0; n <= len; n++) {
			/* a heap copy of exactly n bytes: reading past it is an ASan error */
			char *cut = malloc(n ? n : 1);
			CU_ASSERT_PTR_NOT_NULL_FATAL(cut);
			memcpy(cut, text, n);
			exercise(cut, n);
			free(cut);
		}
		char *mut = malloc(len ? len : 1);
		CU_ASSERT_PTR_NOT_NULL_FATAL(mut);
		for (int iter = 0; iter < 2000 && len; iter++) {
			memcpy(mut, text, len);
			for (int k = 1 + (int)(rnd() % 3); k > 0; k--)
				mut[rnd() % len] = (char)rnd();
			exercise(mut, len);
		}
		free(mut);
		free(text);
	}
}

void init_rules_tests(void)
{
	CU_pSuite s = CU_add_suite("rules", NULL, NULL);
	TU_ADD(s, good_files);
	TU_ADD(s, good_structure);
	TU_ADD(s, good_syntax);
	TU_ADD(s, error_kinds);
	TU_ADD(s, warnings);
	TU_ADD(s, bad_file);
	TU_ADD(s, limits);
	TU_ADD(s, durations);
	TU_ADD(s, sizes);
	TU_ADD(s, globs);
	TU_ADD(s, dids);
	TU_ADD(s, first_match);
	TU_ADD(s, render);
	TU_ADD(s, explain_output);
	TU_ADD(s, fuzz_random_bytes);
	TU_ADD(s, fuzz_token_soup);
	TU_ADD(s, fuzz_truncations);
}
