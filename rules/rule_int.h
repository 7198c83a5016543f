/* Cross-file internals of rules/ (rule__ prefix). Not installed, not used outside rules/. */
#ifndef RULE_INT_H
#define RULE_INT_H

#include <stdarg.h>

#include "rules.h"

#if defined(__GNUC__) || defined(__clang__)
#define RULE__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define RULE__PRINTF(a, b)
#endif

/* ---- diagnostics being collected ---- */
struct rule__diags {
	struct rule_diag *v;
	size_t n, cap;
	size_t n_err;
	bool full;  /* RULE_MAX_DIAGS reached: the parser stops */
	bool nomem;
};
void rule__diag(struct rule__diags *d, enum rule_sev sev, unsigned line, unsigned col, const char *fmt, ...)
	RULE__PRINTF(5, 6);
void rule__vdiag(struct rule__diags *d, enum rule_sev sev, unsigned line, unsigned col, const char *fmt,
                 va_list ap) RULE__PRINTF(5, 0);

/* Copy s (len bytes) into buf (cap > 4) as printable ASCII: bytes outside 0x20..0x7e become
 * \xNN, and a long value is cut with "...". Returns buf. */
char *rule__show(char *buf, size_t cap, const char *s, size_t len);

/* ---- lexer (lex.c) ---- */
enum rule__tk {
	TK_EOF = 0,
	TK_NL,    /* end of a line that held tokens (runs of blank and comment lines give one) */
	TK_WORD,  /* run of word bytes */
	TK_STR,   /* "..." with \" and \\; p/n is the raw text between the quotes */
	TK_ARROW, /* -> */
	TK_COMMA, /* , */
	TK_PIPE,  /* | */
	TK_LT, TK_LE, TK_GT, TK_GE,
};

struct rule__tok {
	enum rule__tk k;
	unsigned line, col;
	const char *p;
	size_t n;
	bool bad; /* the lexer already reported it (unterminated string): no follow-up errors */
};

struct rule__lexer {
	const char *s;
	size_t len, pos;
	unsigned line;
	size_t line_start;
	bool prev_nl;
	bool eof;
	struct rule__diags *d;
};

void rule__lex_init(struct rule__lexer *lx, const char *s, size_t len, struct rule__diags *d);
void rule__lex_next(struct rule__lexer *lx, struct rule__tok *t);
/* The token's value as a NUL-terminated string (escapes of TK_STR undone); NULL on ENOMEM. */
char *rule__tok_dup(const struct rule__tok *t);
bool rule__tok_is(const struct rule__tok *t, const char *word);
/* A short printable rendering for messages: 'word', "string", '->', end of line ... */
const char *rule__tok_show(const struct rule__tok *t, char *buf, size_t cap);

/* ---- matchers (match.c) ---- */
enum rule__mk { MK_FROM = 0, MK_TO, MK_SENDER, MK_TYPE, MK_MEDIA, MK_SIZE, MK_TAG, MK_RELAY, MK__N };
enum rule__op { OP_LT = 1, OP_LE, OP_GT, OP_GE };

struct rule_matcher {
	enum rule__mk kind;
	const char *kw;   /* as written: "from" or "via", "to" ... (static) */
	unsigned line, col;
	char **alts;      /* from, to, sender, type, media (full type, lower case), tag */
	size_t n_alts;
	enum rule__op op; /* size */
	uint64_t size;
};

/* 1 / 0 / -1 (unknown); why (may be NULL) gets a readable reason either way. */
int rule__matcher_eval(const struct rule_matcher *m, const struct rule_env *env, char *why, size_t why_len);
void rule__matcher_print(FILE *f, const struct rule_matcher *m);
const char *rule__op_str(enum rule__op op);

/* Template check shared by the parser and the renderer: 0, or -1 with *off and why set. */
int rule__template_check(const char *adapter, const char *t, size_t *off, char *why, size_t why_len);

/* ---- names ---- */
extern const char *const rule__transports[]; /* NULL-terminated: http ws mqtt smtp file */
extern const char *const rule__schemes[];    /* in RULE_SCHEME_* bit order */

#endif
