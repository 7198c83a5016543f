/* Rules: the hand-written lexer and the diagnostics list.
 *
 * Tokens: words, "strings", `->` `,` `|` `<` `<=` `>` `>=`, end of line, end of file.
 * - A word is a run of bytes other than blanks, control bytes, `"` `,` `|` `<` `>`; the
 *   sequence `->` also ends a word. Bytes >= 0x80 are word bytes (UTF-8 topics, paths).
 * - `#` at the start of a word begins a comment up to the end of the line; inside a word it
 *   is an ordinary byte (https://host/p#frag).
 * - A backslash just before the end of a line joins the next line to this one.
 * - CR LF counts as LF; a lone CR, a NUL or another control byte outside a comment is an error
 *   (reported once per byte, then skipped like a blank).
 * - Lines longer than RULE_MAX_LINE bytes are an error (reported once, at the byte past the limit).
 * The lexer never stops: every problem becomes a diagnostic and lexing goes on, so that one
 * run reports every error in the file. */
#include "rule_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- diagnostics ---- */

void rule__diag(struct rule__diags *d, enum rule_sev sev, unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rule__vdiag(d, sev, line, col, fmt, ap);
	va_end(ap);
}

void rule__vdiag(struct rule__diags *d, enum rule_sev sev, unsigned line, unsigned col, const char *fmt,
                 va_list ap)
{
	if (sev == RULE_ERROR)
		d->n_err++;
	if (d->full || d->nomem)
		return;
	if (d->n == d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 16;
		if (ncap > RULE_MAX_DIAGS)
			ncap = RULE_MAX_DIAGS;
		struct rule_diag *nv = realloc(d->v, ncap * sizeof *nv);
		if (!nv) {
			d->nomem = true;
			return;
		}
		d->v = nv;
		d->cap = ncap;
	}
	struct rule_diag *x = &d->v[d->n++];
	x->sev = sev;
	x->line = line;
	x->col = col;
	if (d->n == RULE_MAX_DIAGS) {
		/* the last slot says why the list ends here */
		x->sev = RULE_ERROR;
		snprintf(x->msg, sizeof x->msg, "too many diagnostics (%d); stopping here", RULE_MAX_DIAGS);
		d->full = true;
		return;
	}
	vsnprintf(x->msg, sizeof x->msg, fmt, ap);
}

void rule_diag_print(FILE *f, const char *name, const struct rule_diag *d)
{
	const char *sev = d->sev == RULE_WARNING ? "warning" : "error";
	if (d->line)
		fprintf(f, "%s:%u:%u: %s: %s\n", name, d->line, d->col, sev, d->msg);
	else
		fprintf(f, "%s: %s: %s\n", name, sev, d->msg);
}

char *rule__show(char *buf, size_t cap, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t need = (c >= 0x20 && c < 0x7f) ? 1 : 4;
		if (o + need + 4 > cap) { /* room for "..." and the NUL */
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (need == 1) {
			buf[o++] = (char)c;
		} else {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		}
	}
	buf[o] = 0;
	return buf;
}

/* ---- lexer ---- */

void rule__lex_init(struct rule__lexer *lx, const char *s, size_t len, struct rule__diags *d)
{
	memset(lx, 0, sizeof *lx);
	lx->s = s;
	lx->len = len;
	lx->line = 1;
	lx->prev_nl = true; /* no NL token before the first token */
	lx->d = d;
}

static unsigned col_at(const struct rule__lexer *lx, size_t pos)
{
	size_t c = pos - lx->line_start + 1;
	return c > 0xFFFFFFFFu ? 0xFFFFFFFFu : (unsigned)c;
}

/* The current line ends at `end` (a '\n' or the end of the text). */
static void line_done(struct rule__lexer *lx, size_t end)
{
	size_t n = end - lx->line_start;
	if (n && lx->s[end - 1] == '\r')
		n--;
	if (n > RULE_MAX_LINE)
		rule__diag(lx->d, RULE_ERROR, lx->line, RULE_MAX_LINE + 1, "line longer than %d bytes", RULE_MAX_LINE);
}

static void newline(struct rule__lexer *lx)
{
	line_done(lx, lx->pos);
	lx->pos++;
	lx->line++;
	lx->line_start = lx->pos;
}

static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Backslash-newline (or backslash-CR-LF) at pos? Returns its length before the '\n', or 0. */
static size_t continuation_at(const struct rule__lexer *lx, size_t pos)
{
	if (lx->s[pos] != '\\')
		return 0;
	if (pos + 1 < lx->len && lx->s[pos + 1] == '\n')
		return 1;
	if (pos + 2 < lx->len && lx->s[pos + 1] == '\r' && lx->s[pos + 2] == '\n')
		return 2;
	return 0;
}

static bool word_byte(const struct rule__lexer *lx, size_t pos)
{
	unsigned char c = (unsigned char)lx->s[pos];
	if (c == ' ' || c == '\t' || is_ctl(c) || c == '"' || c == ',' || c == '|' || c == '<' || c == '>')
		return false;
	if (c == '-' && pos + 1 < lx->len && lx->s[pos + 1] == '>')
		return false;
	if (continuation_at(lx, pos))
		return false;
	return true;
}

void rule__lex_next(struct rule__lexer *lx, struct rule__tok *t)
{
	const char *s = lx->s;
	size_t k;
	while (lx->pos < lx->len) {
		unsigned char c = (unsigned char)s[lx->pos];
		if (c == ' ' || c == '\t') {
			lx->pos++;
		} else if ((k = continuation_at(lx, lx->pos)) != 0) {
			lx->pos += k;
			newline(lx);
		} else if (c == '\n') {
			if (!lx->prev_nl) {
				*t = (struct rule__tok){ TK_NL, lx->line, col_at(lx, lx->pos), s + lx->pos, 0, false };
				lx->prev_nl = true;
				newline(lx);
				return;
			}
			newline(lx);
		} else if (c == '\r') {
			if (lx->pos + 1 < lx->len && s[lx->pos + 1] == '\n') {
				lx->pos++;
				continue;
			}
			rule__diag(lx->d, RULE_ERROR, lx->line, col_at(lx, lx->pos), "stray carriage return");
			lx->pos++;
		} else if (c == '#') {
			while (lx->pos < lx->len && s[lx->pos] != '\n')
				lx->pos++;
		} else if (is_ctl(c)) {
			rule__diag(lx->d, RULE_ERROR, lx->line, col_at(lx, lx->pos), "control byte 0x%02x", c);
			lx->pos++;
		} else {
			break;
		}
	}
	if (lx->pos >= lx->len) {
		if (!lx->eof)
			line_done(lx, lx->len);
		lx->eof = true;
		*t = (struct rule__tok){ TK_EOF, lx->line, col_at(lx, lx->pos), s + lx->pos, 0, false };
		return;
	}
	lx->prev_nl = false;
	size_t start = lx->pos;
	t->line = lx->line;
	t->col = col_at(lx, start);
	t->p = s + start;
	t->bad = false;
	char c = s[start];
	char c1 = start + 1 < lx->len ? s[start + 1] : 0;
	switch (c) {
	case ',': t->k = TK_COMMA; lx->pos++; break;
	case '|': t->k = TK_PIPE; lx->pos++; break;
	case '<':
		t->k = c1 == '=' ? TK_LE : TK_LT;
		lx->pos += c1 == '=' ? 2 : 1;
		break;
	case '>':
		t->k = c1 == '=' ? TK_GE : TK_GT;
		lx->pos += c1 == '=' ? 2 : 1;
		break;
	case '"': {
		size_t i = start + 1;
		bool closed = false;
		t->k = TK_STR;
		while (i < lx->len && s[i] != '\n') {
			unsigned char b = (unsigned char)s[i];
			if (b == '"') {
				closed = true;
				break;
			}
			if (b == '\\' && i + 1 < lx->len && s[i + 1] != '\n') {
				if (s[i + 1] != '"' && s[i + 1] != '\\') {
					char sh[8];
					rule__diag(lx->d, RULE_ERROR, lx->line, col_at(lx, i),
					           "unknown escape '\\%s' in a string (only \\\" and \\\\)",
					           rule__show(sh, sizeof sh, s + i + 1, 1));
				}
				i += 2;
				continue;
			}
			if (b == '\r' && i + 1 < lx->len && s[i + 1] == '\n')
				break;
			if (is_ctl(b))
				rule__diag(lx->d, RULE_ERROR, lx->line, col_at(lx, i), "control byte 0x%02x in a string", b);
			i++;
		}
		t->p = s + start + 1;
		if (closed) {
			t->n = i - start - 1;
			lx->pos = i + 1;
		} else {
			rule__diag(lx->d, RULE_ERROR, t->line, t->col, "unterminated string");
			t->bad = true;
			size_t e = i;
			if (e > start + 1 && s[e - 1] == '\r')
				e--;
			t->n = e - start - 1;
			lx->pos = i; /* the '\n' (or EOF) ends the line as usual */
		}
		return;
	}
	default:
		if (c == '-' && c1 == '>') {
			t->k = TK_ARROW;
			lx->pos += 2;
			break;
		}
		t->k = TK_WORD;
		while (lx->pos < lx->len && word_byte(lx, lx->pos))
			lx->pos++;
		break;
	}
	t->n = lx->pos - start;
}

bool rule__tok_is(const struct rule__tok *t, const char *word)
{
	size_t n = strlen(word);
	return t->k == TK_WORD && t->n == n && memcmp(t->p, word, n) == 0;
}

char *rule__tok_dup(const struct rule__tok *t)
{
	char *o = malloc(t->n + 1);
	if (!o)
		return NULL;
	size_t j = 0;
	for (size_t i = 0; i < t->n; i++) {
		if (t->k == TK_STR && t->p[i] == '\\' && i + 1 < t->n && (t->p[i + 1] == '"' || t->p[i + 1] == '\\'))
			i++;
		o[j++] = t->p[i];
	}
	o[j] = 0;
	return o;
}

const char *rule__tok_show(const struct rule__tok *t, char *buf, size_t cap)
{
	char tmp[48];
	switch (t->k) {
	case TK_EOF: return "end of file";
	case TK_NL: return "end of line";
	case TK_ARROW: return "'->'";
	case TK_COMMA: return "','";
	case TK_PIPE: return "'|'";
	case TK_LT: return "'<'";
	case TK_LE: return "'<='";
	case TK_GT: return "'>'";
	case TK_GE: return "'>='";
	case TK_STR:
		snprintf(buf, cap, "\"%s\"", rule__show(tmp, sizeof tmp, t->p, t->n));
		return buf;
	case TK_WORD:
		break;
	}
	snprintf(buf, cap, "'%s'", rule__show(tmp, sizeof tmp, t->p, t->n));
	return buf;
}
