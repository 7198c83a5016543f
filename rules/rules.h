/* Rules: a pure function (envelope metadata) -> the first matching rule's ordered actions.
 *
 * The rule language (grammar at the top of rules/parse.c, examples in conf/rules.conf):
 *
 *     from smtp  to did:web:agents.example.com:*  -> http https://agents.example.com/dc  else hold 24h
 *     to did:peer:2.*  tag fleet                   -> mqtt fleet/{to}/inbox qos=1          else hold 7d
 *     default                                      -> resolve                              else hold 72h
 *
 * First match wins. A rule's matchers are ANDed; `A|B` inside one matcher is an OR. The actions
 * after `->` all run (fan-out); `else` names what to do when they cannot be carried out.
 *
 * No sockets, no globals, no stdout except the FILE * given to rule_explain(); a parsed set is
 * immutable, so one set can be shared by threads and swapped as a whole on SIGHUP.
 * Conventions as in didcomm.h: dc_err results, out-params zeroed on failure, _free(NULL) ok. */
#ifndef RULES_H
#define RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "didcomm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- limits (every one is enforced with a diagnostic, never silently) -------------------- */
#define RULE_MAX_FILE_BYTES (4u << 20)   /* a rule file */
#define RULE_MAX_LINE 4096               /* bytes per physical line */
#define RULE_MAX_RULES 10000
#define RULE_MAX_MATCHERS 32             /* matchers in one rule */
#define RULE_MAX_ALTS 64                 /* A|B|... alternatives in one matcher */
#define RULE_MAX_ACTIONS 16              /* actions in one list (fan-out) */
#define RULE_MAX_DIAGS 200               /* then "too many diagnostics" and parsing stops */
#define RULE_MAX_HOLD_S (365 * 86400)    /* hold 365d */
#define RULE_MAX_SIZE (UINT64_C(1) << 30) /* size < 1G */
#define RULE_MAX_TARGET 4096             /* a rendered target, bytes */
#define RULE_MAX_VALUE 8192              /* a message field compared or substituted, bytes */

/* `reject` without a code. The spec's own example code for "cannot deliver this"; the xfer
 * scope is the one for a relay refusing to move a message. */
#define RULE_DEFAULT_REJECT_CODE "e.p.xfer.cant-use-endpoint"
/* What a gateway without a rule file does (parse it with rule_set_parse_text): forwards
 * addressed to the gateway are relayed; envelopes for others are not (an open relay would let
 * anyone use the gateway to reach anywhere). */
#define RULE_BUILTIN_TEXT "relay forward -> resolve else hold 72h\ndefault -> reject e.p.msg.not-relayed\n"

/* The media types `media plain|signed|encrypted` stand for. */
#define RULE_MEDIA_PLAIN "application/didcomm-plain+json"
#define RULE_MEDIA_SIGNED "application/didcomm-signed+json"
#define RULE_MEDIA_ENCRYPTED "application/didcomm-encrypted+json"

/* ---- diagnostics ------------------------------------------------------------------------- */
enum rule_sev { RULE_ERROR = 1, RULE_WARNING = 2 };

struct rule_diag {
	enum rule_sev sev;
	unsigned line, col; /* 1-based; col counts bytes (a tab is one). line 0: the whole file */
	char msg[200];      /* "what", without the position; printable ASCII */
};

/* "name:line:col: error: what\n" (or "name: error: what\n" for line 0). */
void rule_diag_print(FILE *f, const char *name, const struct rule_diag *d);

/* ---- a parsed rule set ------------------------------------------------------------------- */
enum rule_action_kind {
	RULE_ACT_DELIVER = 1, /* adapter + templated target */
	RULE_ACT_RESOLVE,     /* recipient's DIDCommMessaging endpoints, in document order */
	RULE_ACT_HOLD,        /* keep for pickup or a later delivery, hold_s seconds */
	RULE_ACT_REJECT,      /* refuse; problem report with `code` where a sender can be told */
};

/* URI schemes `resolve` may be limited to (bits of rule_action.schemes). */
enum {
	RULE_SCHEME_HTTP = 1 << 0, RULE_SCHEME_HTTPS = 1 << 1, RULE_SCHEME_WS = 1 << 2, RULE_SCHEME_WSS = 1 << 3,
	RULE_SCHEME_MQTT = 1 << 4, RULE_SCHEME_MQTTS = 1 << 5, RULE_SCHEME_MAILTO = 1 << 6, RULE_SCHEME_FILE = 1 << 7,
};

struct rule_opt {
	char *key, *value; /* validated at parse time (see the option table in parse.c) */
};

/* Everything here is read-only for users of the library. */
struct rule_action {
	enum rule_action_kind kind;
	const char *adapter;   /* DELIVER: "http" "ws" "mqtt" "smtp" "file" (static storage) */
	char *target;          /* DELIVER: the template as written, placeholders {to} {from} {id} {thid} */
	struct rule_opt *opts; /* DELIVER: key=value options, in order */
	size_t n_opts;
	unsigned schemes;      /* RESOLVE: RULE_SCHEME_* bits; 0 = every scheme */
	int64_t hold_s;        /* HOLD: seconds, 1..RULE_MAX_HOLD_S */
	char *code;            /* REJECT: problem-report code */
	unsigned line, col;
};

struct rule_action_list {
	struct rule_action *v;
	size_t n;
};

struct rule_matcher; /* private to the library; see rule_explain() for a readable account */

struct rule {
	size_t num;                       /* #N: 1-based position in the file */
	unsigned line, col;               /* where the rule starts */
	bool is_default;
	struct rule_matcher *m;           /* ANDed, evaluated left to right */
	size_t n_m;
	struct rule_action_list then;     /* after `->`: all of them (fan-out) */
	struct rule_action_list fallback; /* after `else`; n == 0 when there is none */
};

struct rule_set; /* opaque, immutable once parsed */

/* Parse a rule file held in memory (need not be NUL-terminated). name is used in diagnostics.
 * Every error and warning goes into *diags (malloc'd array, sorted by position; free() it),
 * when diags is not NULL. Returns DC_OK (warnings allowed), DC_ERR_MALFORMED (at least one
 * error: *out is NULL), DC_ERR_TOO_BIG (over RULE_MAX_FILE_BYTES), DC_ERR_NOMEM. */
dc_err rule_set_parse_text(const char *name, const char *text, size_t len, struct rule_set **out,
                           struct rule_diag **diags, size_t *n_diags) DC_WUR;
/* The same for a file; DC_ERR_IO (with a line-0 diagnostic) when it cannot be read. */
dc_err rule_set_parse_file(const char *path, struct rule_set **out, struct rule_diag **diags,
                           size_t *n_diags) DC_WUR;
void rule_set_free(struct rule_set *set);

const char *rule_set_name(const struct rule_set *set);                /* borrowed */
size_t rule_set_count(const struct rule_set *set);
const struct rule *rule_set_get(const struct rule_set *set, size_t i); /* 0-based; NULL past the end */

/* ---- matching ------------------------------------------------------------------------------ */
/* What is known about one message (all borrowed; NULL when unknown or not visible). */
struct rule_env {
	const char *transport;  /* inbound adapter: "http" "ws" "mqtt" "smtp" "file" */
	const char *to;         /* recipient DID (after a forward to us: its `next`) */
	const char *sender;     /* sender DID when known (authcrypt skid, signer, plaintext from) */
	const char *type;       /* message type when visible (plaintext, signed) */
	const char *media_type; /* as classified; parameters after ';' are ignored */
	const char *tag;        /* set by the inbound adapter's configuration */
	size_t size;            /* packed bytes */
	const char *msg_id;     /* {id} when visible */
	const char *thid;       /* {thid} when visible */
	const char *relay;      /* "forward": a forward addressed to the gateway (to = its next);
	                         * "other": an envelope encrypted for someone else */
};

/* The first rule that matches. DC_ERR_NOT_FOUND when none does (*matched NULL): the caller
 * rejects the message with RULE_DEFAULT_REJECT_CODE (rule check warns about a file without
 * a `default`). */
dc_err rule_match(const struct rule_set *set, const struct rule_env *env, const struct rule **matched) DC_WUR;
/* One rule: 1 matches, 0 does not, -1 a field it needs is unknown (counts as no match). */
int rule_matches(const struct rule *r, const struct rule_env *env);

/* Render a DELIVER action's target for env into *out (malloc'd). Substituted values are
 * refused, never cleaned: printable ASCII only; {to} {from} must be DIDs (not DID URLs);
 * file and smtp refuse '/' and '..' (smtp also < > , ; " \\); mqtt refuses + # / and a
 * leading $; http and ws percent-encode and refuse "." and "..". Errors: DC_ERR_INVAL (not a
 * DELIVER action, bad template), DC_ERR_NOT_FOUND (a placeholder's value is unknown),
 * DC_ERR_DENIED (a value refused), DC_ERR_TOO_BIG (over RULE_MAX_TARGET); ei says which. */
dc_err rule_render_target(const struct rule_action *a, const struct rule_env *env, char **out,
                          struct dc_errinfo *ei) DC_WUR;
/* A DELIVER action's options as "k=v k=v" (malloc'd; "" when none), the template ones
 * (mqtt presence=) rendered for env like the target, {to} included, with its refusals. */
dc_err rule_render_opts(const struct rule_action *a, const struct rule_env *env, char **out,
                        struct dc_errinfo *ei) DC_WUR;
/* An option's value (borrowed), or NULL when the action does not set it. */
const char *rule_action_opt(const struct rule_action *a, const char *key);
/* Does `resolve` allow endpoints with this URI scheme (case-insensitive)? */
bool rule_resolve_allows(const struct rule_action *a, const char *scheme);

/* ---- explain ------------------------------------------------------------------------------- */
/* Print the message fields, then for each rule up to the first match why it did not match,
 * then "rule #N (file:line) matched: ..." with the actions and the rendered targets.
 * Returns DC_OK when a rule matched, DC_ERR_NOT_FOUND when none did, DC_ERR_IO on a write error. */
dc_err rule_explain(const struct rule_set *set, const struct rule_env *env, FILE *out) DC_WUR;
/* One action in rule syntax ("mqtt fleet/{to}/inbox qos=1"). */
void rule_action_print(FILE *f, const struct rule_action *a);

/* ---- helpers (also used by the command line) ------------------------------------------------ */
/* DID syntax (W3C DID Core): did:method:method-specific-id, no path, query or fragment. */
bool rule_is_did(const char *s);
/* Glob: '*' any run of bytes, '?' one byte, everything else literal. */
bool rule_glob(const char *pattern, const char *s);
/* "30s" "15m" "24h" "7d" -> seconds, 1..RULE_MAX_HOLD_S. 0 or -1. */
int rule_parse_duration(const char *s, size_t len, int64_t *out_s) DC_WUR;
/* "512" "64k" "10M" "1G" (k = 1024) -> bytes, 0..RULE_MAX_SIZE. 0 or -1. */
int rule_parse_size(const char *s, size_t len, uint64_t *out) DC_WUR;
/* "plain" "signed" "encrypted" -> the full media type; anything else is returned as is. */
const char *rule_media_type(const char *name);

#ifdef __cplusplus
}
#endif
#endif
