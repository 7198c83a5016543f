/* Table-driven configuration (cf. nginx/redis): one row per key with its type, bounds and
 * default; one generic setter per type. Errors read "file:line: what". */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum ctype { T_STR, T_SIZE, T_MS, T_UINT, T_BOOL, T_HOSTPORT };

struct row {
	const char *section; /* "" = global */
	const char *key;
	enum ctype type;
	size_t off;
	int64_t min, max;
	const char *def;
	const char *choices; /* T_STR: "a|b|c" when only these are allowed */
};

#define O(f) offsetof(struct gw_conf, f)
static const struct row rows[] = {
	{ "", "state_dir", T_STR, O(state_dir), 1, 4096, "var" },
	{ "", "log_level", T_STR, O(log_level), 1, 16, "info", "debug|info|warn|error" },
	{ "", "rules", T_STR, O(rules), 0, 4096, "" },
	{ "", "identity_method", T_STR, O(identity_method), 1, 16, "peer2" },
	{ "", "public_url", T_STR, O(public_url), 0, 2048, "" },
	{ "", "max_message_bytes", T_SIZE, O(max_message_bytes), 1024, 64 << 20, "10M" },
	{ "", "workers", T_UINT, O(workers), 0, 64, "0" },
	{ "queue", "max_items", T_SIZE, O(queue_max_items), 1, 100000000, "1000000" },
	{ "queue", "retry_base", T_MS, O(retry_base_ms), 10, 3600000, "1s" },
	{ "queue", "retry_max", T_MS, O(retry_max_ms), 100, 86400000, "1h" },
	{ "queue", "max_age", T_MS, O(max_age_ms), 1000, INT64_C(31536000000), "72h" },
	{ "queue", "lease", T_MS, O(lease_ms), 1000, 3600000, "60s" },
	{ "queue", "per_destination", T_UINT, O(per_dest_limit), 1, 1024, "32" },
	{ "queue", "sync_full", T_BOOL, O(queue_sync_full), 0, 1, "no" },
	{ "queue", "files_from", T_SIZE, O(queue_files_from), 0, 1 << 30, "128K" },
	{ "queue", "concurrency", T_UINT, O(concurrency), 1, 4096, "256" },
	{ "http", "enabled", T_BOOL, O(http_enabled), 0, 1, "yes" },
	{ "http", "websocket", T_BOOL, O(ws_enabled), 0, 1, "yes" },
	{ "http", "listen", T_HOSTPORT, O(http_listen), 0, 0, "127.0.0.1:8080" },
	{ "http", "path", T_STR, O(http_path), 1, 256, "/" },
	{ "http", "timeout", T_MS, O(http_timeout_ms), 100, 600000, "10s" },
};
#define N_ROWS (sizeof rows / sizeof rows[0])

/* bounded number with optional unit; mult table by type */
static int parse_num(const char *v, enum ctype t, int64_t *out)
{
	errno = 0;
	char *end = NULL;
	if (!isdigit((unsigned char)v[0]))
		return -1;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || end == v)
		return -1;
	uint64_t mult = 1;
	if (t == T_SIZE) {
		if (*end == 'k' || *end == 'K') mult = 1024, end++;
		else if (*end == 'M') mult = 1024 * 1024, end++;
		else if (*end == 'G') mult = 1024ull * 1024 * 1024, end++;
	} else if (t == T_MS) {
		if (strcmp(end, "ms") == 0) mult = 1, end += 2;
		else if (*end == 's') mult = 1000, end++;
		else if (*end == 'm') mult = 60000, end++;
		else if (*end == 'h') mult = 3600000, end++;
		else if (*end == 'd') mult = 86400000, end++;
		else if (*end == '\0') mult = 1000; /* bare number: seconds */
	}
	if (*end != '\0')
		return -1;
	if (n > (unsigned long long)INT64_MAX / mult)
		return -1;
	*out = (int64_t)(n * mult);
	return 0;
}

static bool one_of(const char *choices, const char *v)
{
	size_t n = strlen(v);
	for (const char *p = choices; *p;) {
		size_t k = strcspn(p, "|");
		if (k == n && strncmp(p, v, n) == 0)
			return true;
		p += k + (p[k] == '|');
	}
	return false;
}

static int set(struct gw_conf *c, const struct row *r, const char *v, char *why, size_t why_len)
{
	char *base = (char *)c;
	int64_t n = 0;
	switch (r->type) {
	case T_STR:
	case T_HOSTPORT: {
		size_t len = strlen(v);
		if (r->type == T_STR && ((int64_t)len < r->min || (int64_t)len > r->max)) {
			snprintf(why, why_len, "%s: length must be %lld..%lld", r->key, (long long)r->min, (long long)r->max);
			return -1;
		}
		if (r->choices && !one_of(r->choices, v)) {
			snprintf(why, why_len, "%s: want one of %s, got '%.100s'", r->key, r->choices, v);
			return -1;
		}
		if (r->type == T_HOSTPORT) {
			const char *colon = strrchr(v, ':');
			int64_t port = -1;
			if (!colon || colon == v || parse_num(colon + 1, T_UINT, &port) || port > 65535 || len > 300) {
				snprintf(why, why_len, "%s: want host:port, got '%.100s'", r->key, v);
				return -1;
			}
		}
		char *s = strdup(v);
		if (!s) {
			snprintf(why, why_len, "out of memory");
			return -1;
		}
		char **slot = (char **)(base + r->off);
		free(*slot);
		*slot = s;
		return 0;
	}
	case T_BOOL: {
		bool b;
		if (!strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "1")) b = true;
		else if (!strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "0")) b = false;
		else {
			snprintf(why, why_len, "%s: want yes or no, got '%.100s'", r->key, v);
			return -1;
		}
		*(bool *)(base + r->off) = b;
		return 0;
	}
	case T_SIZE:
	case T_MS:
	case T_UINT:
		if (parse_num(v, r->type, &n) || n < r->min || n > r->max) {
			snprintf(why, why_len, "%s: '%.100s' is not a %s in %lld..%lld", r->key, v,
			         r->type == T_SIZE ? "size" : r->type == T_MS ? "duration (ms)" : "number", (long long)r->min,
			         (long long)r->max);
			return -1;
		}
		if (r->type == T_SIZE)
			*(size_t *)(base + r->off) = (size_t)n;
		else if (r->type == T_MS)
			*(int64_t *)(base + r->off) = n;
		else
			*(unsigned *)(base + r->off) = (unsigned)n;
		return 0;
	}
	return -1;
}

void gw_conf_defaults(struct gw_conf *c)
{
	char why[256];
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < N_ROWS; i++)
		if (set(c, &rows[i], rows[i].def, why, sizeof why))
			abort(); /* our own table is wrong */
}

void gw_conf_clear(struct gw_conf *c)
{
	for (size_t i = 0; i < N_ROWS; i++)
		if (rows[i].type == T_STR || rows[i].type == T_HOSTPORT) {
			char **slot = (char **)((char *)c + rows[i].off);
			free(*slot);
			*slot = NULL;
		}
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = 0;
	return s;
}

int gw_conf_load_text(struct gw_conf *c, const char *name, const char *text, size_t len, struct gw_conf_err *e)
{
	char section[64] = "";
	size_t lineno = 0, pos = 0;
	char line[4096];
	while (pos < len) {
		size_t end = pos;
		while (end < len && text[end] != '\n')
			end++;
		lineno++;
		size_t n = end - pos;
		if (n >= sizeof line) {
			snprintf(e->msg, sizeof e->msg, "%s:%zu: line longer than %zu bytes", name, lineno, sizeof line - 1);
			return -1;
		}
		memcpy(line, text + pos, n);
		line[n] = 0;
		pos = end + 1;
		if (memchr(line, '\0', n)) {
			snprintf(e->msg, sizeof e->msg, "%s:%zu: NUL byte", name, lineno);
			return -1;
		}
		char *hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		char *s = trim(line);
		if (!*s)
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');
			if (!close || close[1] != 0 || close - s - 1 >= (long)sizeof section) {
				snprintf(e->msg, sizeof e->msg, "%s:%zu: bad section header", name, lineno);
				return -1;
			}
			*close = 0;
			snprintf(section, sizeof section, "%s", trim(s + 1));
			bool known = false;
			for (size_t i = 0; i < N_ROWS; i++)
				known |= strcmp(rows[i].section, section) == 0;
			if (!known) {
				snprintf(e->msg, sizeof e->msg, "%s:%zu: unknown section [%s]", name, lineno, section);
				return -1;
			}
			continue;
		}
		char *sp = s + strcspn(s, " \t");
		if (!*sp) {
			snprintf(e->msg, sizeof e->msg, "%s:%zu: '%s' has no value", name, lineno, s);
			return -1;
		}
		*sp = 0;
		char *val = trim(sp + 1);
		const struct row *r = NULL;
		for (size_t i = 0; i < N_ROWS && !r; i++)
			if (strcmp(rows[i].section, section) == 0 && strcmp(rows[i].key, s) == 0)
				r = &rows[i];
		if (!r) {
			snprintf(e->msg, sizeof e->msg, "%s:%zu: unknown key '%s'%s%s%s", name, lineno, s,
			         *section ? " in [" : "", section, *section ? "]" : "");
			return -1;
		}
		char why[300];
		if (set(c, r, val, why, sizeof why)) {
			snprintf(e->msg, sizeof e->msg, "%s:%zu: %s", name, lineno, why);
			return -1;
		}
	}
	return 0;
}

int gw_conf_load(struct gw_conf *c, const char *path, struct gw_conf_err *e)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(e->msg, sizeof e->msg, "%s: %s", path, strerror(errno));
		return -1;
	}
	size_t cap = 1 << 20;
	char *buf = malloc(cap);
	size_t n = buf ? fread(buf, 1, cap, f) : 0;
	bool too_big = buf && n == cap;
	int err = ferror(f);
	fclose(f);
	if (!buf || err || too_big) {
		snprintf(e->msg, sizeof e->msg, "%s: %s", path, !buf ? "out of memory" : too_big ? "over 1 MiB" : "read error");
		free(buf);
		return -1;
	}
	int rc = gw_conf_load_text(c, path, buf, n, e);
	free(buf);
	return rc;
}

void gw_conf_print(const struct gw_conf *c, void *file)
{
	FILE *f = file;
	const char *section = NULL;
	for (size_t i = 0; i < N_ROWS; i++) {
		const struct row *r = &rows[i];
		if (!section || strcmp(section, r->section) != 0) {
			section = r->section;
			if (*section)
				fprintf(f, "\n[%s]\n", section);
		}
		const char *base = (const char *)c;
		switch (r->type) {
		case T_STR:
		case T_HOSTPORT: fprintf(f, "%s %s\n", r->key, *(char *const *)(base + r->off)); break;
		case T_BOOL: fprintf(f, "%s %s\n", r->key, *(const bool *)(base + r->off) ? "yes" : "no"); break;
		case T_SIZE: fprintf(f, "%s %zu\n", r->key, *(const size_t *)(base + r->off)); break;
		case T_MS: fprintf(f, "%s %lldms\n", r->key, (long long)*(const int64_t *)(base + r->off)); break;
		case T_UINT: fprintf(f, "%s %u\n", r->key, *(const unsigned *)(base + r->off)); break;
		}
	}
}
