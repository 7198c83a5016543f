/* A plaintext message read in place, without a JSON tree: one pass that checks the whole text
 * is JSON (RFC 8259 grammar, nesting, no member name twice in an object, nothing after it) and
 * that the headers pass dc__msg_validate, and keeps spans of the headers unpack reads.
 *
 * It only ever says yes to what the tree path (dc__json_parse, then dc__msg_validate) accepts.
 * Anything it is not sure of is declined, not refused: an escape in a header it hands out or in
 * a member name, a lone surrogate or \u0000, a control character in a string, a long number,
 * nesting past DC_PLAIN_DEPTH, more than DC_PLAIN_MEMBERS members in one object or
 * DC_PLAIN_MAX_TO recipients, attachments, from_prior. The tree path then gives the verdict and
 * its error text, so a declined message is treated exactly as before. */
#include "internal.h"

#include <string.h>

#define DC_PLAIN_DEPTH 16
#define DC_PLAIN_MEMBERS 32
#define MAX_ID_LEN 1024

struct pscan {
	struct dc_scan s;
	size_t max_depth;
};

static bool span_eq(const struct dc_span *a, const struct dc_span *b)
{
	return a->n == b->n && memcmp(a->p, b->p, a->n) == 0;
}

static bool hex4(const char *p, unsigned *v)
{
	unsigned x = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
		             : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
		             : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
		                                    : 16u;
		if (d > 15)
			return false;
		x = x << 4 | d;
	}
	*v = x;
	return true;
}

/* Any string: the fast scan, else escapes checked one by one. *esc: it had escapes. */
static bool str_any(struct pscan *ps, struct dc_span *v, bool *esc)
{
	*esc = false;
	struct dc_scan *s = &ps->s;
	const char *start = s->p;
	if (dc__scan_str(s, v))
		return true;
	s->p = start;
	dc__scan_ws(s);
	if (s->p >= s->end || *s->p != '"')
		return false;
	const char *b = ++s->p;
	while (s->p < s->end) {
		unsigned char ch = (unsigned char)*s->p;
		if (ch == '"') {
			v->p = b;
			v->n = (size_t)(s->p - b);
			s->p++;
			return true;
		}
		if (ch < 0x20)
			return false;
		if (ch != '\\') {
			s->p++;
			continue;
		}
		*esc = true;
		if (s->end - s->p < 2)
			return false;
		char e = s->p[1];
		if (e == 'u') {
			unsigned cp;
			/* no surrogates (paired or not) and no NUL: the tree path decides those */
			if (s->end - s->p < 6 || !hex4(s->p + 2, &cp) || cp == 0 || (cp >= 0xd800 && cp <= 0xdfff))
				return false;
			s->p += 6;
		} else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
			s->p += 2;
		} else {
			return false;
		}
	}
	return false;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 8259 number, at most 32 characters (the tree path copies numbers into a small buffer) */
static bool number(struct pscan *ps)
{
	struct dc_scan *s = &ps->s;
	const char *p = s->p, *e = s->end;
	if (p < e && *p == '-')
		p++;
	if (p >= e || !is_digit(*p))
		return false;
	if (*p == '0')
		p++;
	else
		while (p < e && is_digit(*p))
			p++;
	if (p < e && *p == '.') {
		if (++p >= e || !is_digit(*p))
			return false;
		while (p < e && is_digit(*p))
			p++;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		if (p >= e || !is_digit(*p))
			return false;
		while (p < e && is_digit(*p))
			p++;
	}
	if (p - s->p > 32)
		return false;
	s->p = p;
	return true;
}

static bool literal(struct pscan *ps, const char *lit, size_t n)
{
	struct dc_scan *s = &ps->s;
	if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n) != 0)
		return false;
	s->p += n;
	return true;
}

static bool value(struct pscan *ps, size_t depth);

/* after '{' or '[': one level deeper */
static bool deeper(const struct pscan *ps, size_t depth)
{
	return depth + 1 <= DC_PLAIN_DEPTH && (ps->max_depth == 0 || depth + 1 <= ps->max_depth);
}

/* the members after '{' up to and with '}'; their names collected for the duplicate check */
static bool object_rest(struct pscan *ps, size_t depth)
{
	struct dc_span names[DC_PLAIN_MEMBERS];
	size_t n = 0;
	if (dc__scan_lit(&ps->s, '}'))
		return true;
	do {
		if (n == DC_PLAIN_MEMBERS || !dc__scan_str(&ps->s, &names[n]) || !dc__scan_lit(&ps->s, ':'))
			return false;
		for (size_t i = 0; i < n; i++)
			if (span_eq(&names[i], &names[n]))
				return false;
		n++;
		if (!value(ps, depth))
			return false;
	} while (dc__scan_lit(&ps->s, ','));
	return dc__scan_lit(&ps->s, '}');
}

static bool array_rest(struct pscan *ps, size_t depth)
{
	if (dc__scan_lit(&ps->s, ']'))
		return true;
	do {
		if (!value(ps, depth))
			return false;
	} while (dc__scan_lit(&ps->s, ','));
	return dc__scan_lit(&ps->s, ']');
}

/* one JSON value at nesting depth (the containers around it) */
static bool value(struct pscan *ps, size_t depth)
{
	struct dc_scan *s = &ps->s;
	dc__scan_ws(s);
	if (s->p >= s->end)
		return false;
	struct dc_span v;
	bool esc;
	switch (*s->p) {
	case '{':
		s->p++;
		return deeper(ps, depth) && object_rest(ps, depth + 1);
	case '[':
		s->p++;
		return deeper(ps, depth) && array_rest(ps, depth + 1);
	case '"': return str_any(ps, &v, &esc);
	case 't': return literal(ps, "true", 4);
	case 'f': return literal(ps, "false", 5);
	case 'n': return literal(ps, "null", 4);
	default: return number(ps);
	}
}

/* an array of strings (escapes allowed); empty allowed */
static bool str_array(struct pscan *ps)
{
	struct dc_span v;
	bool esc;
	if (!dc__scan_lit(&ps->s, '['))
		return false;
	if (dc__scan_lit(&ps->s, ']'))
		return true;
	do {
		if (!str_any(ps, &v, &esc))
			return false;
	} while (dc__scan_lit(&ps->s, ','));
	return dc__scan_lit(&ps->s, ']');
}

static bool did_like(const struct dc_span *v)
{
	return v->n > 6 && memcmp(v->p, "did:", 4) == 0;
}

/* a non-negative integer of at most 2^53 written as plain digits (anything else: declined) */
static bool time_int(struct pscan *ps, int64_t *out)
{
	struct dc_scan *s = &ps->s;
	dc__scan_ws(s);
	const char *p = s->p;
	uint64_t v = 0;
	size_t n = 0;
	while (p + n < s->end && is_digit(p[n]) && n < 17)
		v = v * 10 + (uint64_t)(p[n++] - '0');
	if (n == 0 || n > 16 || (n > 1 && p[0] == '0') || v > 9007199254740992ull)
		return false;
	if (p + n < s->end && (p[n] == '.' || p[n] == 'e' || p[n] == 'E' || is_digit(p[n])))
		return false;
	s->p = p + n;
	*out = (int64_t)v;
	return true;
}

enum hdr { H_ID, H_TYPE, H_TYP, H_TO, H_FROM, H_THID, H_PTHID, H_LANG, H_CREATED, H_EXPIRES, H_BODY, H_PLEASE_ACK,
	   H_ACK, H_FROM_PRIOR, H_ATTACHMENTS, H_OTHER };

static enum hdr hdr_of(const struct dc_span *k)
{
	static const struct {
		const char *s;
		size_t n;
	} names[H_OTHER] = { { "id", 2 },         { "type", 4 },          { "typ", 3 },          { "to", 2 },
		             { "from", 4 },       { "thid", 4 },          { "pthid", 5 },        { "lang", 4 },
		             { "created_time", 12 }, { "expires_time", 12 }, { "body", 4 },        { "please_ack", 10 },
		             { "ack", 3 },        { "from_prior", 10 },   { "attachments", 11 } };
	for (int h = 0; h < H_OTHER; h++)
		if (k->n == names[h].n && k->p[0] == names[h].s[0] && memcmp(k->p, names[h].s, k->n) == 0)
			return (enum hdr)h;
	return H_OTHER;
}

static bool header(struct pscan *ps, enum hdr h, struct dc_plain *m)
{
	struct dc_span v;
	bool esc;
	switch (h) {
	case H_ID:
		return dc__scan_str(&ps->s, &m->id) && m->id.n > 0 && m->id.n <= MAX_ID_LEN;
	case H_TYPE:
		return dc__scan_str(&ps->s, &m->type) && m->type.n > 0;
	case H_TYP:
		if (!dc__scan_str(&ps->s, &m->typ))
			return false;
		m->has_typ = true;
		return dc__span_is(&m->typ, "application/didcomm-plain+json") || dc__span_is(&m->typ, "didcomm-plain+json");
	case H_TO:
		m->has_to = true;
		if (!dc__scan_lit(&ps->s, '['))
			return false;
		if (dc__scan_lit(&ps->s, ']'))
			return true;
		do {
			if (m->n_to == DC_PLAIN_MAX_TO || !dc__scan_str(&ps->s, &v) || !did_like(&v))
				return false;
			m->to[m->n_to++] = v;
		} while (dc__scan_lit(&ps->s, ','));
		return dc__scan_lit(&ps->s, ']');
	case H_FROM:
		m->has_from = true;
		return dc__scan_str(&ps->s, &m->from) && did_like(&m->from);
	case H_THID:
	case H_PTHID:
	case H_LANG:
		return str_any(ps, &v, &esc);
	case H_CREATED:
		m->has_created_time = true;
		return time_int(ps, &m->created_time);
	case H_EXPIRES:
		m->has_expires_time = true;
		return time_int(ps, &m->expires_time);
	case H_BODY:
		dc__scan_ws(&ps->s);
		return ps->s.p < ps->s.end && *ps->s.p == '{' && value(ps, 1);
	case H_PLEASE_ACK:
	case H_ACK:
		return str_array(ps);
	case H_FROM_PRIOR:
	case H_ATTACHMENTS:
		return false;
	default:
		return value(ps, 1);
	}
}

bool dc__plain_scan(const char *in, size_t n, size_t max_depth, struct dc_plain *m)
{
	struct pscan ps = { { in, in + n }, max_depth };
	struct dc_span names[DC_PLAIN_MEMBERS];
	size_t k = 0;
	memset(m, 0, sizeof *m);
	if (!dc__scan_lit(&ps.s, '{') || dc__scan_lit(&ps.s, '}'))
		return false;
	do {
		if (k == DC_PLAIN_MEMBERS || !dc__scan_str(&ps.s, &names[k]) || !dc__scan_lit(&ps.s, ':'))
			return false;
		for (size_t i = 0; i < k; i++)
			if (span_eq(&names[i], &names[k]))
				return false;
		if (!header(&ps, hdr_of(&names[k]), m))
			return false;
		k++;
	} while (dc__scan_lit(&ps.s, ','));
	if (!dc__scan_lit(&ps.s, '}'))
		return false;
	dc__scan_ws(&ps.s);
	if (ps.s.p < ps.s.end && *ps.s.p == '\0' && ps.s.p + 1 == ps.s.end)
		ps.s.p++; /* one closing NUL, as the tree path allows */
	/* id and type are required */
	return ps.s.p == ps.s.end && m->id.p && m->type.p;
}
