/* Rules: matching (first match wins; matchers return 1 / 0 / -1 = unknown) and rendering of
 * templated targets, which refuses dangerous values instead of cleaning them (style.md
 * pitfall 8). */
#include "rule_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- DID syntax and globs ---- */

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* did = "did:" method-name ":" method-specific-id
 * method-name = 1*( %x61-7A / DIGIT ); method-specific-id = *( *idchar ":" ) 1*idchar
 * idchar = ALPHA / DIGIT / "." / "-" / "_" / pct-encoded */
bool rule_is_did(const char *s)
{
	if (!s || strncmp(s, "did:", 4) != 0)
		return false;
	const char *p = s + 4;
	size_t m = 0;
	while ((p[m] >= 'a' && p[m] <= 'z') || (p[m] >= '0' && p[m] <= '9'))
		m++;
	if (m == 0 || p[m] != ':')
		return false;
	p += m + 1;
	size_t n = 0;
	char last = ':';
	for (;;) {
		char c = p[n];
		if (c == 0)
			break;
		if (c == '%') {
			if (!is_hex(p[n + 1]) || !is_hex(p[n + 2]))
				return false;
			n += 3;
			last = 'x';
			continue;
		}
		if (!is_alnum(c) && c != '.' && c != '-' && c != '_' && c != ':')
			return false;
		last = c;
		n++;
		if (n > RULE_MAX_VALUE)
			return false;
	}
	return n > 0 && last != ':';
}

/* Iterative, remembering only the last '*': O(len(s) * len(pattern)) at worst, no recursion. */
bool rule_glob(const char *pat, const char *s)
{
	const char *star = NULL, *resume = NULL;
	while (*s) {
		if (*pat == '*') {
			star = pat++;
			resume = s;
		} else if (*pat && (*pat == '?' || *pat == *s)) {
			pat++;
			s++;
		} else if (star) {
			pat = star + 1;
			s = ++resume;
		} else {
			return false;
		}
	}
	while (*pat == '*')
		pat++;
	return *pat == 0;
}

/* ---- matchers ---- */

const char *rule__op_str(enum rule__op op)
{
	switch (op) {
	case OP_LT: return "<";
	case OP_LE: return "<=";
	case OP_GT: return ">";
	case OP_GE: return ">=";
	}
	return "?";
}

static const char *media_short(const char *full)
{
	if (strcmp(full, RULE_MEDIA_PLAIN) == 0)
		return "plain";
	if (strcmp(full, RULE_MEDIA_SIGNED) == 0)
		return "signed";
	if (strcmp(full, RULE_MEDIA_ENCRYPTED) == 0)
		return "encrypted";
	return full;
}

static void size_str(char *buf, size_t cap, uint64_t n)
{
	if (n && n % (1024 * 1024 * 1024) == 0)
		snprintf(buf, cap, "%lluG", (unsigned long long)(n >> 30));
	else if (n && n % (1024 * 1024) == 0)
		snprintf(buf, cap, "%lluM", (unsigned long long)(n >> 20));
	else if (n && n % 1024 == 0)
		snprintf(buf, cap, "%lluk", (unsigned long long)(n >> 10));
	else
		snprintf(buf, cap, "%llu", (unsigned long long)n);
}

/* "a|b|c" into buf, shortened as needed */
static void alts_str(char *buf, size_t cap, const struct rule_matcher *m)
{
	size_t o = 0;
	buf[0] = 0;
	for (size_t i = 0; i < m->n_alts && o + 1 < cap; i++) {
		char sh[128];
		const char *a = m->kind == MK_MEDIA ? media_short(m->alts[i]) : m->alts[i];
		int w = snprintf(buf + o, cap - o, "%s%s", i ? "|" : "", rule__show(sh, sizeof sh, a, strlen(a)));
		if (w < 0)
			break;
		o += (size_t)w < cap - o ? (size_t)w : cap - o - 1;
	}
}

void rule__matcher_print(FILE *f, const struct rule_matcher *m)
{
	char buf[1024];
	if (m->kind == MK_SIZE) {
		size_str(buf, sizeof buf, m->size);
		fprintf(f, "size %s %s", rule__op_str(m->op), buf);
		return;
	}
	alts_str(buf, sizeof buf, m);
	fprintf(f, "%s %s", m->kw, buf);
}

#define WHY(...) do { if (why) snprintf(why, why_len, __VA_ARGS__); } while (0)

int rule__matcher_eval(const struct rule_matcher *m, const struct rule_env *env, char *why, size_t why_len)
{
	char pat[512], val[160];
	const char *v = NULL, *what = "";
	if (m->kind == MK_SIZE) {
		bool ok = false;
		switch (m->op) {
		case OP_LT: ok = env->size < m->size; break;
		case OP_LE: ok = env->size <= m->size; break;
		case OP_GT: ok = env->size > m->size; break;
		case OP_GE: ok = env->size >= m->size; break;
		}
		size_str(pat, sizeof pat, m->size);
		WHY("size %zu %s%s %s", env->size, ok ? "" : "is not ", rule__op_str(m->op), pat);
		return ok ? 1 : 0;
	}
	char media[256];
	switch (m->kind) {
	case MK_FROM: v = env->transport; what = "the inbound transport is not known"; break;
	case MK_TO: v = env->to; what = "the recipient is not known"; break;
	case MK_SENDER: v = env->sender; what = "the sender is not known (anonymous or not visible)"; break;
	case MK_TYPE: v = env->type; what = "the message type is not visible in this message"; break;
	case MK_TAG: v = env->tag; break;
	case MK_RELAY: v = env->relay; what = "not an envelope to relay"; break;
	case MK_MEDIA:
		v = env->media_type;
		what = "the media type is not known";
		if (v) { /* compare without parameters, trimmed, lower case */
			size_t n = strcspn(v, ";"), s0 = 0;
			while (s0 < n && (v[s0] == ' ' || v[s0] == '\t'))
				s0++;
			while (n > s0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
				n--;
			if (n - s0 >= sizeof media) {
				WHY("media type too long (%zu bytes)", n - s0);
				return 0;
			}
			for (size_t i = s0; i < n; i++)
				media[i - s0] = (v[i] >= 'A' && v[i] <= 'Z') ? (char)(v[i] - 'A' + 'a') : v[i];
			media[n - s0] = 0;
			v = media;
		}
		break;
	case MK_SIZE: case MK__N: break;
	}
	if (why)
		alts_str(pat, sizeof pat, m);
	if (!v) {
		if (m->kind == MK_TAG) {
			WHY("tag: this message has none, wanted %s", pat);
			return 0;
		}
		WHY("%s: %s, wanted %s", m->kw, what, pat);
		return -1;
	}
	size_t vlen = strnlen(v, RULE_MAX_VALUE + 1);
	if (vlen > RULE_MAX_VALUE) {
		WHY("%s: the value is longer than %d bytes", m->kw, RULE_MAX_VALUE);
		return -1;
	}
	for (size_t i = 0; i < m->n_alts; i++) {
		const char *a = m->alts[i];
		bool ok = (m->kind == MK_TO || m->kind == MK_SENDER || m->kind == MK_TYPE) ? rule_glob(a, v)
		                                                                          : strcmp(a, v) == 0;
		if (ok) {
			char sh[128];
			const char *as = m->kind == MK_MEDIA ? media_short(a) : a;
			WHY("%s %s matches %s", m->kw, rule__show(val, sizeof val, v, vlen),
			    rule__show(sh, sizeof sh, as, strlen(as)));
			return 1;
		}
	}
	WHY("%s %s does not match %s", m->kw, rule__show(val, sizeof val, v, vlen), pat);
	return 0;
}

int rule_matches(const struct rule *r, const struct rule_env *env)
{
	if (!r || !env)
		return 0;
	if (r->is_default)
		return 1;
	if (r->n_m == 0)
		return 0; /* cannot come out of the parser */
	for (size_t i = 0; i < r->n_m; i++) {
		int rc = rule__matcher_eval(&r->m[i], env, NULL, 0);
		if (rc != 1)
			return rc;
	}
	return 1;
}

dc_err rule_match(const struct rule_set *set, const struct rule_env *env, const struct rule **matched)
{
	if (matched)
		*matched = NULL;
	if (!set || !env || !matched)
		return DC_ERR_INVAL;
	for (size_t i = 0; i < rule_set_count(set); i++) {
		const struct rule *r = rule_set_get(set, i);
		if (rule_matches(r, env) == 1) {
			*matched = r;
			return DC_OK;
		}
	}
	return DC_ERR_NOT_FOUND;
}

const char *rule_action_opt(const struct rule_action *a, const char *key)
{
	if (!a || !key)
		return NULL;
	for (size_t i = 0; i < a->n_opts; i++)
		if (strcmp(a->opts[i].key, key) == 0)
			return a->opts[i].value;
	return NULL;
}

bool rule_resolve_allows(const struct rule_action *a, const char *scheme)
{
	if (!a || a->kind != RULE_ACT_RESOLVE || !scheme)
		return false;
	for (int i = 0; rule__schemes[i]; i++)
		if (strcasecmp(rule__schemes[i], scheme) == 0)
			return a->schemes == 0 || (a->schemes & (1u << i));
	return a->schemes == 0; /* a plain `resolve`: any scheme an adapter of this build serves */
}

/* ---- templates ---- */

static const char *const placeholders[] = { "to", "from", "id", "thid", NULL };

/* Placeholder at t (which is '{'): its index, and *len the bytes up to and with '}'; -1 if bad. */
static int placeholder_at(const char *t, size_t *len)
{
	size_t n = 1;
	while (t[n] >= 'a' && t[n] <= 'z' && n < 8)
		n++;
	if (t[n] != '}')
		return -1;
	for (int i = 0; placeholders[i]; i++)
		if (strlen(placeholders[i]) == n - 1 && memcmp(placeholders[i], t + 1, n - 1) == 0) {
			*len = n + 1;
			return i;
		}
	return -1;
}

static bool utf8_valid(const unsigned char *s)
{
	while (*s) {
		unsigned char c = *s;
		size_t n;
		uint32_t cp;
		if (c < 0x80) {
			s++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		for (size_t i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		s += n + 1;
	}
	return true;
}

#define FAIL(o, ...) do { *off = (o); snprintf(why, why_len, __VA_ARGS__); return -1; } while (0)

int rule__template_check(const char *adapter, const char *t, size_t *off, char *why, size_t why_len)
{
	char sh[64];
	size_t n = strlen(t);
	*off = 0;
	if (n == 0)
		FAIL(0, "empty %s target", adapter);
	if (n > RULE_MAX_TARGET)
		FAIL(0, "%s target longer than %d bytes", adapter, RULE_MAX_TARGET);
	bool url = !strcmp(adapter, "http") || !strcmp(adapter, "ws");
	bool mqtt = !strcmp(adapter, "mqtt"), smtp = !strcmp(adapter, "smtp");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)t[i];
		if (c < 0x20 || c == 0x7f)
			FAIL(i, "control byte 0x%02x in a target", c);
		if (c == '{') {
			size_t len = 0;
			if (placeholder_at(t + i, &len) < 0) {
				size_t e = i + 1;
				while (e < n && e < i + 16 && t[e] != '}')
					e++;
				FAIL(i, "unknown placeholder '%s' (expected {to}, {from}, {id} or {thid})",
				     rule__show(sh, sizeof sh, t + i, e < n && t[e] == '}' ? e - i + 1 : e - i));
			}
			i += len - 1;
			continue;
		}
		if (c == '}')
			FAIL(i, "'}' without '{' (braces are for placeholders)");
		if ((url || smtp) && (c == ' ' || c >= 0x80))
			FAIL(i, "%s in a %s", c == ' ' ? "space" : "non-ASCII byte", url ? "URL" : "mail address");
		if (mqtt && (c == '+' || c == '#'))
			FAIL(i, "MQTT wildcard '%c' in a topic to publish to", c);
		if (smtp && strchr("<>,;\"\\", c))
			FAIL(i, "'%c' in a mail address target (give one bare address)", c);
	}
	if (url) {
		bool http = !strcmp(adapter, "http");
		const char *s1 = http ? "http://" : "ws://", *s2 = http ? "https://" : "wss://";
		size_t pre = !strncmp(t, s1, strlen(s1)) ? strlen(s1) : !strncmp(t, s2, strlen(s2)) ? strlen(s2) : 0;
		if (!pre)
			FAIL(0, "%s target must start with %s or %s", adapter, s1, s2);
		size_t host = strcspn(t + pre, "/?#");
		if (host == 0)
			FAIL(pre, "URL without a host");
		const char *brace = memchr(t + pre, '{', host);
		if (brace)
			FAIL((size_t)(brace - t), "placeholder in the host part of a URL (only the path and query may "
			                          "hold one)");
	} else if (mqtt) {
		if (t[0] == '$')
			FAIL(0, "MQTT topics starting with '$' belong to the broker");
		if (!utf8_valid((const unsigned char *)t))
			FAIL(0, "MQTT topic is not valid UTF-8");
	} else if (smtp) {
		const char *at = NULL;
		for (size_t i = 0; i < n; i++) {
			size_t len;
			if (t[i] == '{' && placeholder_at(t + i, &len) >= 0)
				i += len - 1;
			else if (t[i] == '@')
				at = t + i;
		}
		if (!at)
			FAIL(0, "smtp target must be a mail address with '@' (local@domain)");
	}
	return 0;
}

/* ---- rendering ---- */

struct buf {
	char *p;
	size_t n;
};

static int put(struct buf *b, char c)
{
	if (b->n >= RULE_MAX_TARGET)
		return -1;
	b->p[b->n++] = c;
	return 0;
}

/* 0, or -1 with why: is v acceptable for placeholder `name` in an `adapter` target? */
static int value_ok(const char *adapter, const char *name, const char *v, char *why, size_t why_len)
{
	char sh[96];
	size_t n = strnlen(v, RULE_MAX_VALUE + 1);
	if (n > RULE_MAX_VALUE) {
		snprintf(why, why_len, "{%s}: longer than %d bytes", name, RULE_MAX_VALUE);
		return -1;
	}
	rule__show(sh, sizeof sh, v, n);
	if (n == 0) {
		snprintf(why, why_len, "{%s}: empty", name);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c <= 0x20 || c >= 0x7f) {
			snprintf(why, why_len, "{%s}: byte 0x%02x in '%s' (printable ASCII only)", name, c, sh);
			return -1;
		}
	}
	if ((!strcmp(name, "to") || !strcmp(name, "from")) && !rule_is_did(v)) {
		snprintf(why, why_len, "{%s}: '%s' is not a DID", name, sh);
		return -1;
	}
	const char *bad = NULL;
	if (!strcmp(adapter, "file"))
		bad = "/\\";
	else if (!strcmp(adapter, "smtp"))
		bad = "/\\<>,;\"";
	else if (!strcmp(adapter, "mqtt"))
		bad = "/+#";
	size_t k = bad ? strcspn(v, bad) : n;
	if (k < n) {
		snprintf(why, why_len, "{%s}: '%c' refused in a %s target ('%s')", name, v[k], adapter, sh);
		return -1;
	}
	bool dots = strstr(v, "..") != NULL;
	if ((!strcmp(adapter, "file") || !strcmp(adapter, "smtp")) && (dots || !strcmp(v, "."))) {
		snprintf(why, why_len, "{%s}: '.' or '..' refused in a %s target ('%s')", name, adapter, sh);
		return -1;
	}
	if ((!strcmp(adapter, "http") || !strcmp(adapter, "ws")) && (!strcmp(v, ".") || !strcmp(v, ".."))) {
		snprintf(why, why_len, "{%s}: '%s' refused as a URL path segment", name, sh);
		return -1;
	}
	return 0;
}

static void set_ei(struct dc_errinfo *ei, dc_err rc, const char *why)
{
	if (!ei)
		return;
	ei->code = rc;
	snprintf(ei->msg, sizeof ei->msg, "%s", why);
}

static dc_err render(const char *adapter, const char *t, const struct rule_env *env, char **out,
                     struct dc_errinfo *ei)
{
	char why[256];
	size_t off;
	dc_err rc = DC_OK;
	if (rule__template_check(adapter, t, &off, why, sizeof why)) {
		set_ei(ei, DC_ERR_INVAL, why);
		return DC_ERR_INVAL;
	}
	bool url = !strcmp(adapter, "http") || !strcmp(adapter, "ws");
	struct buf b = { malloc(RULE_MAX_TARGET + 1), 0 };
	if (!b.p) {
		set_ei(ei, DC_ERR_NOMEM, "out of memory");
		return DC_ERR_NOMEM;
	}
	for (size_t i = 0; t[i]; i++) {
		size_t len = 0;
		int ph = t[i] == '{' ? placeholder_at(t + i, &len) : -1;
		if (ph < 0) {
			if (put(&b, t[i]))
				goto toobig;
			continue;
		}
		i += len - 1;
		const char *name = placeholders[ph];
		const char *v = ph == 0 ? env->to : ph == 1 ? env->sender : ph == 2 ? env->msg_id : env->thid;
		if (!v) {
			snprintf(why, sizeof why, "{%s}: %s", name,
			         ph == 1 ? "the sender is not known for this message"
			                 : ph == 0 ? "the recipient is not known" : "not visible in this message");
			rc = DC_ERR_NOT_FOUND;
			goto fail;
		}
		if (value_ok(adapter, name, v, why, sizeof why)) {
			rc = DC_ERR_DENIED;
			goto fail;
		}
		for (const char *c = v; *c; c++) {
			bool plain = is_alnum(*c) || strchr("-._~:", *c);
			if (!url || plain) {
				if (put(&b, *c))
					goto toobig;
			} else {
				static const char hex[] = "0123456789ABCDEF";
				unsigned char u = (unsigned char)*c;
				if (put(&b, '%') || put(&b, hex[u >> 4]) || put(&b, hex[u & 15]))
					goto toobig;
			}
		}
	}
	if (!strcmp(adapter, "mqtt") && b.n && b.p[0] == '$') {
		snprintf(why, sizeof why, "rendered MQTT topic starts with '$'");
		rc = DC_ERR_DENIED;
		goto fail;
	}
	b.p[b.n] = 0;
	*out = b.p;
	return DC_OK;
toobig:
	snprintf(why, sizeof why, "rendered target longer than %d bytes", RULE_MAX_TARGET);
	rc = DC_ERR_TOO_BIG;
fail:
	free(b.p);
	set_ei(ei, rc, why);
	return rc;
}

dc_err rule_render_target(const struct rule_action *a, const struct rule_env *env, char **out,
                          struct dc_errinfo *ei)
{
	if (out)
		*out = NULL;
	if (!a || !env || !out || a->kind != RULE_ACT_DELIVER || !a->adapter || !a->target) {
		set_ei(ei, DC_ERR_INVAL, "not a deliver action");
		return DC_ERR_INVAL;
	}
	return render(a->adapter, a->target, env, out, ei);
}

dc_err rule_render_opts(const struct rule_action *a, const struct rule_env *env, char **out, struct dc_errinfo *ei)
{
	if (out)
		*out = NULL;
	if (!a || !env || !out || a->kind != RULE_ACT_DELIVER || !a->adapter) {
		set_ei(ei, DC_ERR_INVAL, "not a deliver action");
		return DC_ERR_INVAL;
	}
	size_t cap = 1, n = 0;
	for (size_t i = 0; i < a->n_opts; i++)
		cap += strlen(a->opts[i].key) + 2 + RULE_MAX_TARGET;
	char *s = malloc(cap);
	if (!s) {
		set_ei(ei, DC_ERR_NOMEM, "out of memory");
		return DC_ERR_NOMEM;
	}
	s[0] = 0;
	for (size_t i = 0; i < a->n_opts; i++) {
		char *v = NULL;
		bool topic = !strcmp(a->adapter, "mqtt") && !strcmp(a->opts[i].key, "presence");
		if (topic) {
			dc_err rc = render("mqtt", a->opts[i].value, env, &v, ei);
			if (rc) {
				free(s);
				return rc;
			}
		}
		n += (size_t)snprintf(s + n, cap - n, "%s%s=%s", n ? " " : "", a->opts[i].key, v ? v : a->opts[i].value);
		free(v);
	}
	*out = s;
	return DC_OK;
}
