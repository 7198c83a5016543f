/* Table-driven configuration (cf. nginx/redis): one row per key with its type, bounds and
 * default; one generic setter per type. The gateway's own keys are below; each adapter brings
 * its section's table (adapter.h). Errors read "file:line: what". */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct row {
	const char *section; /* "" = global */
	struct gw_conf_key k;
};

#define O(f) offsetof(struct gw_conf, f)
static const struct row rows[] = {
	{ "", { "state_dir", GW_CONF_STR, O(state_dir), 1, 4096, "var", NULL } },
	{ "", { "log_level", GW_CONF_STR, O(log_level), 1, 16, "info", "debug|info|warn|error" } },
	{ "", { "log_format", GW_CONF_STR, O(log_format), 1, 16, "text", "text|json" } },
	{ "", { "rules", GW_CONF_STR, O(rules), 0, 4096, "", NULL } },
	{ "", { "identity_method", GW_CONF_STR, O(identity_method), 1, 16, "peer2", "peer2" } },
	{ "", { "public_url", GW_CONF_STR, O(public_url), 0, 2048, "", NULL } },
	{ "", { "max_message_bytes", GW_CONF_SIZE, O(max_message_bytes), 1024, 64 << 20, "10M", NULL } },
	{ "", { "workers", GW_CONF_UINT, O(workers), 0, 64, "0", NULL } },
	{ "queue", { "max_items", GW_CONF_SIZE, O(queue_max_items), 1, 100000000, "1000000", NULL } },
	{ "queue", { "retry_base", GW_CONF_MS, O(retry_base_ms), 10, 3600000, "1s", NULL } },
	{ "queue", { "retry_max", GW_CONF_MS, O(retry_max_ms), 100, 86400000, "1h", NULL } },
	{ "queue", { "max_age", GW_CONF_MS, O(max_age_ms), 1000, INT64_C(31536000000), "72h", NULL } },
	{ "queue", { "lease", GW_CONF_MS, O(lease_ms), 1000, 3600000, "60s", NULL } },
	{ "queue", { "per_destination", GW_CONF_UINT, O(per_dest_limit), 1, 1024, "32", NULL } },
	{ "queue", { "sync_full", GW_CONF_BOOL, O(queue_sync_full), 0, 1, "no", NULL } },
	{ "queue", { "files_from", GW_CONF_SIZE, O(queue_files_from), 0, 1 << 30, "128K", NULL } },
	{ "queue", { "concurrency", GW_CONF_UINT, O(concurrency), 1, 4096, "256", NULL } },
	{ "queue", { "per_peer_rate", GW_CONF_UINT, O(per_peer_rate), 1, 10000000, "2000", NULL } },
	{ "queue", { "share", GW_CONF_UINT, O(queue_share), 1, 100, "10", NULL } },
	{ "queue", { "backend", GW_CONF_STR, O(queue_backend), 1, 16, "sqlite", "sqlite|postgres" } },
	{ "queue", { "url", GW_CONF_STR, O(queue_url), 0, 2048, "", NULL } },
	{ "queue", { "password_file", GW_CONF_STR, O(queue_password_file), 0, 4096, "", NULL } },
	{ "queue", { "instance", GW_CONF_STR, O(queue_instance), 0, 200, "", NULL } },
	{ "outbound", { "allow", GW_CONF_LIST, O(outbound_allow), 0, 0, NULL, NULL } },
	{ "admin", { "listen", GW_CONF_HOSTPORT, O(admin_listen), 0, 0, "127.0.0.1:9090", NULL } },
	{ "admin", { "token_file", GW_CONF_STR, O(admin_token_file), 0, 4096, "", NULL } },
	{ "admin", { "max_connections", GW_CONF_UINT, O(admin_max_conns), 1, 1024, "16", NULL } },
	{ "relay", { "loop_window", GW_CONF_MS, O(loop_window_ms), 1000, 86400000, "10m", NULL } },
	{ "relay", { "max_hops", GW_CONF_UINT, O(max_hops), 1, 32, "4", NULL } },
	{ "mediator", { "policy", GW_CONF_STR, O(med_policy), 4, 4200, "open", NULL } },
	{ "mediator", { "hold", GW_CONF_MS, O(med_hold_ms), 60000, INT64_C(31536000000), "72h", NULL } },
};
#define N_ROWS (sizeof rows / sizeof rows[0])

/* bounded number with optional unit */
static int parse_num(const char *v, enum gw_conf_type t, int64_t *out)
{
	errno = 0;
	char *end = NULL;
	if (!isdigit((unsigned char)v[0]))
		return -1;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || end == v)
		return -1;
	uint64_t mult = 1;
	if (t == GW_CONF_SIZE) {
		if (*end == 'k' || *end == 'K') mult = 1024, end++;
		else if (*end == 'M') mult = 1024 * 1024, end++;
		else if (*end == 'G') mult = 1024ull * 1024 * 1024, end++;
	} else if (t == GW_CONF_MS) {
		if (strcmp(end, "ms") == 0) mult = 1, end += 2;
		else if (*end == 's') mult = 1000, end++;
		else if (*end == 'm') mult = 60000, end++;
		else if (*end == 'h') mult = 3600000, end++;
		else if (*end == 'd') mult = 86400000, end++;
		else if (*end == '\0') mult = 1000; /* bare number: seconds */
	} else if (t == GW_CONF_UINT && *end == '%') {
		end++; /* a share in percent */
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

static int set(void *base_, const struct gw_conf_key *r, const char *v, unsigned line, char *why, size_t why_len)
{
	char *base = base_;
	int64_t n = 0;
	switch (r->type) {
	case GW_CONF_LIST: {
		struct gw_conf_list *l = (struct gw_conf_list *)(base + r->off);
		if (strlen(v) > 4096) {
			snprintf(why, why_len, "%s: longer than 4096 bytes", r->key);
			return -1;
		}
		if (l->n >= 1024) {
			snprintf(why, why_len, "%s: more than 1024 of them", r->key);
			return -1;
		}
		struct gw_conf_value *nv = realloc(l->v, (l->n + 1) * sizeof *nv);
		if (!nv) {
			snprintf(why, why_len, "out of memory");
			return -1;
		}
		l->v = nv;
		if (!(nv[l->n].v = strdup(v))) {
			snprintf(why, why_len, "out of memory");
			return -1;
		}
		nv[l->n].line = line;
		l->n++;
		return 0;
	}
	case GW_CONF_STR:
	case GW_CONF_HOSTPORT: {
		size_t len = strlen(v);
		if (r->type == GW_CONF_STR && ((int64_t)len < r->min || (int64_t)len > r->max)) {
			snprintf(why, why_len, "%s: length must be %lld..%lld", r->key, (long long)r->min, (long long)r->max);
			return -1;
		}
		if (r->choices && !one_of(r->choices, v)) {
			snprintf(why, why_len, "%s: want one of %s, got '%.100s'", r->key, r->choices, v);
			return -1;
		}
		if (r->type == GW_CONF_HOSTPORT) {
			const char *colon = strrchr(v, ':');
			int64_t port = -1;
			if (!colon || colon == v || parse_num(colon + 1, GW_CONF_UINT, &port) || port > 65535 || len > 300) {
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
	case GW_CONF_BOOL: {
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
	case GW_CONF_SIZE:
	case GW_CONF_MS:
	case GW_CONF_UINT:
		if (parse_num(v, r->type, &n) || n < r->min || n > r->max) {
			snprintf(why, why_len, "%s: '%.100s' is not a %s in %lld..%lld", r->key, v,
			         r->type == GW_CONF_SIZE ? "size" : r->type == GW_CONF_MS ? "duration (ms)" : "number",
			         (long long)r->min, (long long)r->max);
			return -1;
		}
		if (r->type == GW_CONF_SIZE)
			*(size_t *)(base + r->off) = (size_t)n;
		else if (r->type == GW_CONF_MS)
			*(int64_t *)(base + r->off) = n;
		else
			*(unsigned *)(base + r->off) = (unsigned)n;
		return 0;
	}
	return -1;
}

static void clear_key(void *base, const struct gw_conf_key *k)
{
	char *b = base;
	if (k->type == GW_CONF_STR || k->type == GW_CONF_HOSTPORT) {
		char **slot = (char **)(b + k->off);
		free(*slot);
		*slot = NULL;
	} else if (k->type == GW_CONF_LIST) {
		struct gw_conf_list *l = (struct gw_conf_list *)(b + k->off);
		for (size_t i = 0; i < l->n; i++)
			free(l->v[i].v);
		free(l->v);
		l->v = NULL;
		l->n = 0;
	}
}

void gw_conf_defaults(struct gw_conf *c)
{
	char why[256];
	memset(c, 0, sizeof *c);
	for (size_t i = 0; i < N_ROWS; i++)
		if (rows[i].k.def && set(c, &rows[i].k, rows[i].k.def, 0, why, sizeof why))
			abort(); /* our own table is wrong */
}

static void ad_conf_free(size_t a, void *conf)
{
	const struct gw_adapter_ops *ops = gw_adapters[a];
	if (!conf)
		return;
	for (size_t i = 0; i < ops->n_keys; i++)
		clear_key(conf, &ops->keys[i]);
	free(conf);
}

void gw_conf_clear(struct gw_conf *c)
{
	for (size_t i = 0; i < N_ROWS; i++)
		clear_key(c, &rows[i].k);
	for (size_t a = 0; a < GW_MAX_ADAPTERS && gw_adapters[a]; a++) {
		ad_conf_free(a, c->ad_conf[a]);
		c->ad_conf[a] = NULL;
	}
	free(c->name);
	c->name = NULL;
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

/* an adapter's section: its struct with the defaults */
static void *ad_conf_new(size_t a, char *why, size_t why_len)
{
	const struct gw_adapter_ops *ops = gw_adapters[a];
	void *conf = calloc(1, ops->conf_size ? ops->conf_size : 1);
	if (!conf) {
		snprintf(why, why_len, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < ops->n_keys; i++)
		if (ops->keys[i].def && set(conf, &ops->keys[i], ops->keys[i].def, 0, why, why_len)) {
			ad_conf_free(a, conf);
			return NULL;
		}
	return conf;
}

dc_err gw_conf_load_text(struct gw_conf *c, const char *name, const char *text, size_t len, struct dc_errinfo *e)
{
	char section[64] = "";
	long ad = -1; /* the adapter whose section we are in */
	size_t lineno = 0, pos = 0;
	char line[4096], why[300];
	free(c->name);
	c->name = strdup(name);
	while (pos < len) {
		size_t end = pos;
		while (end < len && text[end] != '\n')
			end++;
		lineno++;
		size_t n = end - pos;
		if (n >= sizeof line) {
			return dc_errinfo_set(e, DC_ERR_MALFORMED, "%s:%zu: line longer than %zu bytes", name, lineno, sizeof line - 1);
		}
		memcpy(line, text + pos, n);
		line[n] = 0;
		pos = end + 1;
		if (memchr(line, '\0', n)) {
			return dc_errinfo_set(e, DC_ERR_MALFORMED, "%s:%zu: NUL byte", name, lineno);
		}
		/* a comment starts with '#' at the start of a line or after a blank: an MQTT
		 * filter such as didcomm/in/# keeps its wildcard */
		char *hash = line;
		while ((hash = strchr(hash, '#')) && hash != line && hash[-1] != ' ' && hash[-1] != '\t')
			hash++;
		if (hash)
			*hash = 0;
		char *s = trim(line);
		if (!*s)
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');
			if (!close || close[1] != 0 || close - s - 1 >= (long)sizeof section) {
				return dc_errinfo_set(e, DC_ERR_MALFORMED, "%s:%zu: bad section header", name, lineno);
			}
			*close = 0;
			snprintf(section, sizeof section, "%s", trim(s + 1));
			if (strcmp(section, "admin") == 0)
				c->admin_on = true; /* the section alone turns the admin listener on */
			bool known = false;
			for (size_t i = 0; i < N_ROWS; i++)
				known |= strcmp(rows[i].section, section) == 0;
			ad = -1;
			for (size_t a = 0; a < GW_MAX_ADAPTERS && gw_adapters[a] && !known; a++)
				if (strcmp(gw_adapters[a]->name, section) == 0) {
					ad = (long)a;
					known = true;
					if (!c->ad_conf[a] && !(c->ad_conf[a] = ad_conf_new(a, why, sizeof why))) {
						return dc_errinfo_set(e, DC_ERR_MALFORMED, "%s:%zu: [%s]: %s", name, lineno, section, why);
					}
					c->ad_line[a] = (unsigned)lineno;
				}
			if (!known) {
				return dc_errinfo_set(e, DC_ERR_MALFORMED, "%s:%zu: unknown section [%s] (no such adapter in this build?)",
				         name, lineno, section);
			}
			continue;
		}
		char *sp = s + strcspn(s, " \t");
		if (!*sp) {
			return dc_errinfo_set(e, DC_ERR_MALFORMED, "%s:%zu: '%s' has no value", name, lineno, s);
		}
		*sp = 0;
		char *val = trim(sp + 1);
		const struct gw_conf_key *k = NULL;
		void *base = c;
		if (ad >= 0) {
			const struct gw_adapter_ops *ops = gw_adapters[ad];
			for (size_t i = 0; i < ops->n_keys && !k; i++)
				if (strcmp(ops->keys[i].key, s) == 0)
					k = &ops->keys[i];
			base = c->ad_conf[ad];
		} else {
			for (size_t i = 0; i < N_ROWS && !k; i++)
				if (strcmp(rows[i].section, section) == 0 && strcmp(rows[i].k.key, s) == 0)
					k = &rows[i].k;
		}
		if (!k) {
			return dc_errinfo_set(e, DC_ERR_MALFORMED, "%s:%zu: unknown key '%s'%s%s%s", name, lineno, s,
			         *section ? " in [" : "", section, *section ? "]" : "");
		}
		if (set(base, k, val, (unsigned)lineno, why, sizeof why)) {
			return dc_errinfo_set(e, DC_ERR_MALFORMED, "%s:%zu: %s", name, lineno, why);
		}
	}
	if (strcmp(c->queue_backend, "postgres") == 0 && !c->queue_url[0])
		return dc_errinfo_set(e, DC_ERR_MALFORMED, "%s: [queue] backend postgres needs a url "
		                      "(e.g. url postgresql://gw@127.0.0.1:5432/didcomm)", name);
	if (strcmp(c->queue_backend, "postgres") != 0 && (c->queue_url[0] || c->queue_password_file[0]))
		return dc_errinfo_set(e, DC_ERR_MALFORMED, "%s: [queue] url and password_file are for backend postgres", name);
	return 0;
}

dc_err gw_conf_load(struct gw_conf *c, const char *path, struct dc_errinfo *e)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		return dc_errinfo_set(e, DC_ERR_IO, "%s: %s", path, strerror(errno));
	}
	size_t cap = 1 << 20;
	char *buf = malloc(cap);
	size_t n = buf ? fread(buf, 1, cap, f) : 0;
	bool too_big = buf && n == cap;
	int err = ferror(f);
	fclose(f);
	if (!buf || err || too_big) {
		return dc_errinfo_set(e, DC_ERR_MALFORMED, "%s: %s", path, !buf ? "out of memory" : too_big ? "over 1 MiB" : "read error");
		free(buf);
	}
	dc_err rc = gw_conf_load_text(c, path, buf, n, e);
	free(buf);
	return rc;
}

static void print_key(FILE *f, const void *base_, const struct gw_conf_key *r)
{
	const char *base = base_;
	switch (r->type) {
	case GW_CONF_STR:
	case GW_CONF_HOSTPORT: {
		const char *v = *(char *const *)(base + r->off);
		fprintf(f, "%s %s\n", r->key, v ? v : "");
		break;
	}
	case GW_CONF_LIST: {
		const struct gw_conf_list *l = (const struct gw_conf_list *)(base + r->off);
		for (size_t i = 0; i < l->n; i++)
			fprintf(f, "%s %s\n", r->key, l->v[i].v);
		break;
	}
	case GW_CONF_BOOL: fprintf(f, "%s %s\n", r->key, *(const bool *)(base + r->off) ? "yes" : "no"); break;
	case GW_CONF_SIZE: fprintf(f, "%s %zu\n", r->key, *(const size_t *)(base + r->off)); break;
	case GW_CONF_MS: fprintf(f, "%s %lldms\n", r->key, (long long)*(const int64_t *)(base + r->off)); break;
	case GW_CONF_UINT: fprintf(f, "%s %u\n", r->key, *(const unsigned *)(base + r->off)); break;
	}
}

void gw_conf_print(const struct gw_conf *c, void *file)
{
	FILE *f = file;
	const char *section = NULL;
	for (size_t i = 0; i < N_ROWS; i++) {
		const struct row *r = &rows[i];
		if (!c->admin_on && strcmp(r->section, "admin") == 0)
			continue; /* off: printed, it would turn on */
		if (!section || strcmp(section, r->section) != 0) {
			section = r->section;
			if (*section)
				fprintf(f, "\n[%s]\n", section);
		}
		print_key(f, c, &r->k);
	}
	for (size_t a = 0; a < GW_MAX_ADAPTERS && gw_adapters[a]; a++) {
		if (!c->ad_conf[a])
			continue;
		fprintf(f, "\n[%s]\n", gw_adapters[a]->name);
		for (size_t i = 0; i < gw_adapters[a]->n_keys; i++)
			print_key(f, c->ad_conf[a], &gw_adapters[a]->keys[i]);
	}
}

void gw_conf_limits(const struct gw_conf *c, struct gw_limits *lim)
{
	*lim = (struct gw_limits){ .max_message_bytes = c->max_message_bytes,
		                   .per_destination = c->per_dest_limit,
		                   .concurrency = c->concurrency };
}

size_t gw_conf_endpoints(const struct gw_conf *c, char (*bufs)[512], size_t max)
{
	size_t n = 0;
	if (c->public_url && c->public_url[0] && max) {
		snprintf(bufs[n++], 512, "%s", c->public_url);
		return n;
	}
	for (size_t a = 0; a < GW_MAX_ADAPTERS && gw_adapters[a] && n < max; a++)
		if (c->ad_conf[a] && gw_adapters[a]->endpoint && gw_adapters[a]->endpoint(c->ad_conf[a], bufs[n], 512))
			n++;
	return n;
}
