/* The daemon's log (see log.h). */
#include "log.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define LOG_BURST 20      /* lines per call site ... */
#define LOG_WINDOW_S 10   /* ... per this many seconds */
#define LOG_SITES 256     /* call sites tracked (a hash table; collisions share a budget) */
#define FAIL_WINDOW_S 60  /* failed attempts to one destination: one line per this many seconds */
#define FAIL_DESTS 512    /* destinations tracked (a hash table; a collision starts a new window) */

static int log_min = GW_LOG_INFO;
static int log_json; /* JSON lines instead of text */
static const char *const names[] = { "debug", "info", "warn", "error" };

struct site {
	const char *fmt;      /* the call site, by its format string */
	int64_t window;       /* start of the current window (s, monotonic) */
	unsigned lines;       /* written in this window */
	unsigned long dropped;
};
static struct site sites[LOG_SITES];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

void gw_log_set_level(const char *level)
{
	log_min = GW_LOG_INFO;
	for (int i = 0; level && i < 4; i++)
		if (strcmp(level, names[i]) == 0)
			log_min = i;
}

void gw_log_set_format(const char *format)
{
	log_json = format && strcmp(format, "json") == 0;
}

/* s as the inside of a JSON string: quotes, backslashes and control characters escaped, bytes
 * that are not UTF-8 replaced by U+FFFD (a log line is one valid JSON value, whatever the
 * message quotes from elsewhere) */
static void json_str(char *out, size_t n, const char *s)
{
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p && o + 8 < n) {
		unsigned c = *p;
		size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
		bool valid = len > 0 && !(len == 2 && c < 0xc2) && !(len == 4 && c > 0xf4);
		for (size_t k = 1; valid && k < len; k++)
			valid = (p[k] & 0xc0) == 0x80;
		if (valid && len == 3) /* no overlong forms, no surrogates */
			valid = !(c == 0xe0 && p[1] < 0xa0) && !(c == 0xed && p[1] >= 0xa0);
		if (valid && len == 4)
			valid = !(c == 0xf0 && p[1] < 0x90) && !(c == 0xf4 && p[1] >= 0x90);
		if (!valid) {
			memcpy(out + o, "\\ufffd", 6);
			o += 6;
			p++;
		} else if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
			p++;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(out + o, n - o, "\\u%04x", c);
			p++;
		} else {
			memcpy(out + o, p, len);
			o += len;
			p += len;
		}
	}
	out[o] = 0;
}

static int64_t mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

/* may this site write now? *dropped: how many it left out since it last wrote; 2: write, and
 * say that what follows in this window is counted, not written */
static int admit(const char *fmt, unsigned long *dropped)
{
	size_t h = ((uintptr_t)fmt >> 3) % LOG_SITES;
	int64_t now = mono_s();
	pthread_mutex_lock(&mu);
	struct site *s = &sites[h];
	if (s->fmt != fmt || now - s->window >= LOG_WINDOW_S) {
		*dropped = s->fmt == fmt ? s->dropped : 0;
		s->fmt = fmt;
		s->window = now;
		s->lines = 0;
		s->dropped = 0;
	} else {
		*dropped = 0;
	}
	int ok = s->lines < LOG_BURST ? (s->lines + 1 == LOG_BURST ? 2 : 1) : 0;
	if (ok)
		s->lines++;
	else
		s->dropped++;
	pthread_mutex_unlock(&mu);
	return ok;
}

void gw_logv(enum gw_log_level lvl, const char *ctx, const char *fmt, va_list ap)
{
	if ((int)lvl < log_min || (int)lvl > GW_LOG_ERROR)
		return;
	unsigned long dropped = 0;
	int adm = admit(fmt, &dropped);
	if (!adm)
		return;
	char msg[600];
	vsnprintf(msg, sizeof msg, fmt, ap);
	for (char *p = msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' '; /* one line per event, whatever the message says */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char t[32];
	strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%S", &tm);
	if (log_json) {
		char js[sizeof msg * 6 + 16];
		json_str(js, sizeof js, msg);
		fprintf(stderr, "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"component\":\"%s\",\"msg\":\"%s\"", t,
		        ts.tv_nsec / 1000000, names[lvl], ctx, js);
		if (dropped)
			fprintf(stderr, ",\"dropped_before\":%lu", dropped);
		else if (adm == 2)
			fprintf(stderr, ",\"rate_limited\":%d", LOG_WINDOW_S);
		fputs("}\n", stderr);
		return;
	}
	char more[96] = "";
	if (dropped)
		snprintf(more, sizeof more, " (%lu more like this)", dropped);
	else if (adm == 2)
		snprintf(more, sizeof more, " (more like this in the next %d s are counted, not written)", LOG_WINDOW_S);
	fprintf(stderr, "%s.%03ldZ %s %s: %s%s\n", t, ts.tv_nsec / 1000000, names[lvl], ctx, msg, more);
}

void gw_log(enum gw_log_level lvl, const char *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	gw_logv(lvl, ctx, fmt, ap);
	va_end(ap);
}

/* failed delivery attempts, by destination (under mu) */
static struct fail {
	char dest[160];
	int64_t window;       /* when its last line was written (s, monotonic) */
	unsigned long more;   /* attempts since, not written */
} fails[FAIL_DESTS];

void gw_log_attempt_failed(const char *ctx, const char *dest, const char *why, unsigned attempt)
{
	if (log_min > GW_LOG_INFO)
		return;
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (const char *p = dest; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	int64_t now = mono_s();
	pthread_mutex_lock(&mu);
	struct fail *f = &fails[h % FAIL_DESTS];
	bool same = strncmp(f->dest, dest, sizeof f->dest - 1) == 0;
	if (same && f->window && now - f->window < FAIL_WINDOW_S) {
		f->more++;
		pthread_mutex_unlock(&mu);
		return;
	}
	unsigned long more = same ? f->more : 0;
	snprintf(f->dest, sizeof f->dest, "%s", dest);
	f->window = now;
	f->more = 0;
	pthread_mutex_unlock(&mu);
	if (more)
		gw_log(GW_LOG_INFO, ctx, "to %s: %s; will retry (attempt %u; %lu more failed attempts to it in the last %d s)",
		       dest, why, attempt, more, FAIL_WINDOW_S);
	else
		gw_log(GW_LOG_INFO, ctx, "to %s: %s; will retry (attempt %u; more failures to it within %d s are counted, "
		       "then summed up here)", dest, why, attempt, FAIL_WINDOW_S);
}
