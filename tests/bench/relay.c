/* Relay benchmark: many concurrent senders POST forward-wrapped anoncrypt messages through
 * the gateway to an HTTP receiver in this process; then the same load straight to the
 * receiver, without the gateway, as the ceiling. Normally started by tests/bench/relay.sh,
 * which runs the gateway (`make bench` runs that script at its end).
 *
 *   relay BOB_DID RECEIVER_PORT
 *
 * BOB_DID is a did:peer:2 whose DIDCommMessaging service is the gateway's URL with the
 * gateway's key as routing key; the gateway's rules send forwards for bob to
 * http://127.0.0.1:RECEIVER_PORT/inbox, where this program listens.
 *   RELAY_BENCH_N=20000    messages (300-byte bodies), generated before any timing
 *   RELAY_BENCH_CONC=64    transfers in flight (libcurl multi, keep-alive)
 *   RELAY_BENCH_WAIT=60    seconds to wait for deliveries after the last POST answer
 *   RELAY_GW_PID=PID       the gateway's process: its CPU time in each phase is printed
 *   RELAY_GW_URLS="U1 U2"  several gateways (tests/bench/pg.sh): the gateway phase's
 *                          transfers go to these round-robin instead of bob's endpoint
 *
 * Phase "gateway": every forward is POSTed to the gateway; the receiver gets the inner
 * envelope and knows which message it is by the JWE "tag" (a table built at generation).
 * Phase "direct": the same forwards are POSTed to the receiver (whose table knows the
 * forwards' tags too, so a late duplicate of phase one is never counted in phase two).
 * Latencies run from the moment the sender saw the 2xx ("accept"; clamped at 0, since a
 * delivery can beat the answer) or the POST started, to the moment the receiver had read the
 * whole body. Prints a table with the targets marked met / NOT met; the exit status
 * is non-zero only when the benchmark cannot run. */
#define _POSIX_C_SOURCE 200809L
#include "didcomm.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BODY_BYTES 300
#define TAG_MAX 96                 /* base64url JWE tag: 22 (16 bytes) or 43 (32 bytes) chars */
#define GEN_THREADS_MAX 8
#define RX_HDR_MAX 8192            /* request line and headers */
#define RX_BODY_MAX (1u << 20)     /* our envelopes are ~3 KiB */
#define RX_BUF_INIT 16384
#define RX_OUT_CAP 4096            /* answers queued on one connection */
#define RX_CONNS_MAX 1024
#define TARGET_MSGS 5000.0
#define TARGET_P99_MS 20.0

static const char ACCEPTED[] = "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n";

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("relay: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static struct timespec t0;

/* nanoseconds since start-up, never 0 (0 means "did not happen") */
static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)(t.tv_sec - t0.tv_sec) * 1000000000u + (uint64_t)t.tv_nsec - (uint64_t)t0.tv_nsec + 1;
}

static size_t env_size(const char *name, size_t def, size_t min, size_t max)
{
	const char *s = getenv(name);
	if (!s || !*s)
		return def;
	char *e = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &e, 10);
	if (errno || *e || s[0] < '0' || s[0] > '9' || v < min || v > max) {
		fail("%s=%s: want a number from %zu to %zu; using %zu", name, s, min, max, def);
		return def;
	}
	return (size_t)v;
}

/* ---- messages and the tag table ---------------------------------------------------------- */
struct msg {
	char *fwd;              /* the forward, anoncrypted to the gateway's key */
	size_t fwd_len;
	char in_tag[TAG_MAX];   /* tag of the envelope for bob inside it */
	char fwd_tag[TAG_MAX];
};

/* Open addressing: slot = id + 1 (0 is empty); id < n is msgs[id].in_tag, else
 * msgs[id - n].fwd_tag. Read-only once built. */
struct tagmap {
	uint32_t *slot;
	size_t mask;
	const struct msg *msgs;
	size_t n;
};

static uint64_t hash(const char *s, size_t n)
{
	uint64_t h = 14695981039346656037u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211u;
	return h;
}

static const char *tagmap_key(const struct tagmap *m, uint32_t id)
{
	return id < m->n ? m->msgs[id].in_tag : m->msgs[id - m->n].fwd_tag;
}

/* -1 when absent */
static long tagmap_find(const struct tagmap *m, const char *tag, size_t len)
{
	for (size_t i = hash(tag, len) & m->mask;; i = (i + 1) & m->mask) {
		uint32_t s = m->slot[i];
		if (!s)
			return -1;
		const char *k = tagmap_key(m, s - 1);
		if (strncmp(k, tag, len) == 0 && k[len] == 0)
			return (long)(s - 1);
	}
}

static int tagmap_build(struct tagmap *m, const struct msg *msgs, size_t n)
{
	size_t cap = 16;
	while (cap < 4 * n)
		cap *= 2;
	m->slot = calloc(cap, sizeof *m->slot);
	if (!m->slot) {
		fail("tag table: out of memory");
		return -1;
	}
	m->mask = cap - 1;
	m->msgs = msgs;
	m->n = n;
	for (uint32_t id = 0; id < 2 * n; id++) {
		const char *k = tagmap_key(m, id);
		size_t len = strlen(k);
		if (tagmap_find(m, k, len) >= 0) {
			fail("two envelopes with the tag %s", k);
			return -1;
		}
		size_t i = hash(k, len) & m->mask;
		while (m->slot[i])
			i = (i + 1) & m->mask;
		m->slot[i] = id + 1;
	}
	return 0;
}

/* ---- generation (before any timing; one context per thread) -------------------------- */
struct gen {
	pthread_t th;
	const char *bob;
	struct msg *msgs;
	size_t from, to;
	int rc;
};

static int tag_of(const char *env, size_t len, char *tag, const char *what)
{
	cJSON *j = cJSON_ParseWithLength(env, len);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "tag");
	int rc = -1;
	if (!cJSON_IsString(t) || !t->valuestring[0] || strlen(t->valuestring) >= TAG_MAX)
		fail("the %s envelope has no usable \"tag\"", what);
	else {
		memcpy(tag, t->valuestring, strlen(t->valuestring) + 1);
		rc = 0;
	}
	cJSON_Delete(j);
	return rc;
}

static void *gen_main(void *arg)
{
	struct gen *g = arg;
	struct dc_resolver *res = NULL;
	struct dc_keystore *ks = NULL;
	struct dc_ctx *ctx = NULL;
	struct dc_errinfo ei = { 0 };
	size_t cap = strlen(g->bob) + BODY_BYTES + 256;
	char *json = malloc(cap), pad[BODY_BYTES];
	dc_err rc;

	g->rc = -1;
	/* the body is {"content":"..."}: 14 bytes of syntax around the text */
	memset(pad, 'x', sizeof pad);
	pad[BODY_BYTES - 14] = 0;
	if (!json) {
		fail("generation: out of memory");
		goto out;
	}
	if ((rc = dc_resolver_new(64, &res)) || (rc = dc_keystore_new(&ks)) || (rc = dc_ctx_new(res, ks, &ctx))) {
		fail("generation: creating a context: %s", dc_strerror(rc));
		goto out;
	}
	for (size_t i = g->from; i < g->to; i++) {
		struct msg *m = &g->msgs[i];
		const char *to[] = { g->bob };
		struct dc_pack_opts o = { .mode = DC_PACK_ANONCRYPT, .to = to, .n_to = 1, .no_forward = true };
		struct dc_pack_result pr = { 0 };
		char *env = NULL, *endpoint = NULL;
		size_t len;
		int n = snprintf(json, cap,
		                 "{\"id\":\"b%zu\",\"type\":\"https://didcomm.org/basicmessage/2.0/message\","
		                 "\"to\":[\"%s\"],\"body\":{\"content\":\"%s\"}}",
		                 i, g->bob, pad);
		if (n < 0 || (size_t)n >= cap) {
			fail("generation: message %zu does not fit", i);
			goto out;
		}
		if ((rc = dc_pack(ctx, json, (size_t)n, &o, &pr, &ei)) || pr.n != 1) {
			fail("generation: dc_pack for %s: %s%s%s", g->bob, dc_strerror(rc), ei.msg[0] ? ": " : "",
			     ei.msg);
			dc_pack_result_clear(&pr);
			goto out;
		}
		env = pr.items[0].msg;
		len = pr.items[0].len;
		pr.items[0].msg = NULL;
		dc_pack_result_clear(&pr);
		if (tag_of(env, len, m->in_tag, "inner")) {
			free(env);
			goto out;
		}
		/* the same forward dc_pack makes by itself: for the routing key in bob's service */
		rc = dc_relay_wrap(ctx, g->bob, 0, NULL, 0, 0, &env, &len, &endpoint, &ei);
		free(endpoint);
		if (rc) {
			fail("generation: dc_relay_wrap for %s: %s%s%s", g->bob, dc_strerror(rc), ei.msg[0] ? ": " : "",
			     ei.msg);
			free(env);
			goto out;
		}
		m->fwd = env;
		m->fwd_len = len;
		if (tag_of(env, len, m->fwd_tag, "forward"))
			goto out;
		if (strcmp(m->fwd_tag, m->in_tag) == 0) {
			fail("%s has no routing key in its service: nothing wraps its messages in a forward", g->bob);
			goto out;
		}
	}
	g->rc = 0;
out:
	dc_ctx_free(ctx);
	dc_keystore_free(ks);
	dc_resolver_free(res);
	free(json);
	return NULL;
}

/* bob's endpoint (the gateway's URL), malloc'd */
static char *endpoint_of(const char *bob)
{
	struct dc_resolver *res = NULL;
	struct dc_keystore *ks = NULL;
	struct dc_ctx *ctx = NULL;
	struct dc_errinfo ei = { 0 };
	char *env = strdup("{}"), *endpoint = NULL;
	size_t len = 2;
	dc_err rc;

	if (!env)
		rc = DC_ERR_NOMEM;
	else if (!(rc = dc_resolver_new(4, &res)) && !(rc = dc_keystore_new(&ks)) && !(rc = dc_ctx_new(res, ks, &ctx)))
		rc = dc_relay_wrap(ctx, bob, 0, NULL, 0, 0, &env, &len, &endpoint, &ei);
	if (rc)
		fail("resolving %s: %s%s%s", bob, dc_strerror(rc), ei.msg[0] ? ": " : "", ei.msg);
	else if (!endpoint)
		fail("%s has no DIDCommMessaging service", bob);
	free(env);
	dc_ctx_free(ctx);
	dc_keystore_free(ks);
	dc_resolver_free(res);
	return rc ? NULL : endpoint;
}

/* ---- per-phase records ------------------------------------------------------------------- */
struct phase {
	const char *name;
	uint64_t *start, *accept;     /* sender thread only; accept only for a 2xx */
	_Atomic uint64_t *deliver;    /* receiver thread writes the first delivery */
	atomic_size_t delivered, dups;
	size_t ok, non2xx, errors;
	long first_bad_status;
	char first_error[CURL_ERROR_SIZE];
	double cpu_self, cpu_gw;      /* seconds of CPU in this phase (-1: unknown) */
};

static int phase_init(struct phase *p, const char *name, size_t n)
{
	memset(p, 0, sizeof *p);
	p->name = name;
	p->start = calloc(n, sizeof *p->start);
	p->accept = calloc(n, sizeof *p->accept);
	p->deliver = malloc(n * sizeof *p->deliver);
	if (!p->start || !p->accept || !p->deliver) {
		fail("phase records: out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		atomic_init(&p->deliver[i], 0);
	atomic_init(&p->delivered, 0);
	atomic_init(&p->dups, 0);
	return 0;
}

static void phase_clear(struct phase *p)
{
	free(p->start);
	free(p->accept);
	free(p->deliver);
}

/* ---- the receiver: one thread, epoll, HTTP/1.1 keep-alive ---------------------------------- */
struct conn {
	int fd;
	size_t idx;                   /* in rx->conns */
	char *in;
	size_t in_len, in_cap;
	char out[RX_OUT_CAP];
	size_t out_len, out_off;
	bool closing;                 /* after the queued answers */
	uint32_t events;              /* registered with epoll */
};

struct rx {
	int lfd, efd, ep;
	pthread_t th;
	bool started;
	const struct tagmap *map;
	struct phase *phases;         /* [0] gateway (inner tags), [1] direct (forward tags) */
	struct conn *conns[RX_CONNS_MAX];
	size_t n_conns;
	atomic_size_t unknown, bad;   /* bodies we could not place; malformed requests */
};

static void conn_close(struct rx *rx, struct conn *c)
{
	epoll_ctl(rx->ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	rx->conns[c->idx] = rx->conns[--rx->n_conns];
	rx->conns[c->idx]->idx = c->idx;
	free(c->in);
	free(c);
}

static void rx_accept(struct rx *rx)
{
	for (;;) {
		int fd = accept(rx->lfd, NULL, NULL);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
				fail("receiver: accept: %s", strerror(errno));
			return;
		}
		struct conn *c = NULL;
		if (rx->n_conns == RX_CONNS_MAX || !(c = calloc(1, sizeof *c)) || !(c->in = malloc(RX_BUF_INIT))) {
			fail("receiver: connection refused (%zu open, or out of memory)", rx->n_conns);
			free(c);
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (fcntl(fd, F_SETFL, O_NONBLOCK) || fcntl(fd, F_SETFD, FD_CLOEXEC)) {
			fail("receiver: fcntl: %s", strerror(errno));
			free(c->in);
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->in_cap = RX_BUF_INIT;
		c->events = EPOLLIN;
		struct epoll_event ev = { .events = c->events, .data.ptr = c };
		if (epoll_ctl(rx->ep, EPOLL_CTL_ADD, fd, &ev)) {
			fail("receiver: epoll_ctl: %s", strerror(errno));
			free(c->in);
			free(c);
			close(fd);
			continue;
		}
		c->idx = rx->n_conns;
		rx->conns[rx->n_conns++] = c;
	}
}

static void rx_body(struct rx *rx, const char *b, size_t n, uint64_t t)
{
	static const char key[] = "\"tag\"";
	const char *end = b + n, *p = NULL;
	for (const char *q = b; q + sizeof key - 1 <= end; q++)
		if (*q == '"' && memcmp(q, key, sizeof key - 1) == 0) {
			p = q + sizeof key - 1;
			break;
		}
	while (p && p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	if (p && p < end && *p == ':')
		p++;
	else
		p = NULL;
	while (p && p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	const char *v = p && p < end && *p == '"' ? p + 1 : NULL, *ve = v;
	while (ve && ve < end && *ve != '"')
		ve++;
	long id = v && ve < end && ve - v < TAG_MAX ? tagmap_find(rx->map, v, (size_t)(ve - v)) : -1;
	if (id < 0) {
		atomic_fetch_add_explicit(&rx->unknown, 1, memory_order_relaxed);
		return;
	}
	size_t i = (size_t)id % rx->map->n;
	struct phase *ph = &rx->phases[(size_t)id / rx->map->n];
	uint64_t none = 0;
	if (atomic_compare_exchange_strong_explicit(&ph->deliver[i], &none, t, memory_order_relaxed,
	                                            memory_order_relaxed))
		atomic_fetch_add_explicit(&ph->delivered, 1, memory_order_release);
	else
		atomic_fetch_add_explicit(&ph->dups, 1, memory_order_relaxed);
}

static void queue_answer(struct conn *c, const char *s)
{
	size_t n = strlen(s);
	if (n <= RX_OUT_CAP - c->out_len) {
		memcpy(c->out + c->out_len, s, n);
		c->out_len += n;
	}
}

static void refuse(struct rx *rx, struct conn *c, const char *answer)
{
	atomic_fetch_add_explicit(&rx->bad, 1, memory_order_relaxed);
	queue_answer(c, answer);
	c->closing = true;
}

static bool header_is(const char *line, size_t n, const char *name, const char **val, size_t *vlen)
{
	size_t k = strlen(name);
	if (n <= k || line[k] != ':' || strncasecmp(line, name, k) != 0)
		return false;
	*val = line + k + 1;
	*vlen = n - k - 1;
	while (*vlen && (**val == ' ' || **val == '\t')) {
		(*val)++;
		(*vlen)--;
	}
	while (*vlen && ((*val)[*vlen - 1] == ' ' || (*val)[*vlen - 1] == '\t'))
		(*vlen)--;
	return true;
}

/* Answer every complete request in c->in. Returns how many bytes c->in must be able to hold
 * for the next request to make progress (0 when none is waiting for more input). */
static size_t rx_parse(struct rx *rx, struct conn *c, uint64_t t)
{
	while (!c->closing && RX_OUT_CAP - c->out_len >= 128) {
		const char *b = c->in, *hend = NULL;
		for (size_t i = 0; i + 4 <= c->in_len; i++)
			if (b[i] == '\r' && memcmp(b + i, "\r\n\r\n", 4) == 0) {
				hend = b + i;
				break;
			}
		if (!hend) {
			if (c->in_len >= RX_HDR_MAX)
				refuse(rx, c, "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\n"
				              "Connection: close\r\n\r\n");
			return c->closing ? 0 : c->in_len + 1;
		}
		size_t hlen = (size_t)(hend - b) + 4, clen = 0, vlen;
		bool has_cl = false, chunked = false, close_after = false, bad = false;
		const char *line = memchr(b, '\n', hlen), *val;
		bool is_post = hlen > 5 && memcmp(b, "POST ", 5) == 0;
		while (line && (line += 1) < hend) {
			const char *le = memchr(line, '\r', (size_t)(hend + 2 - line));
			size_t n = (size_t)(le - line);
			if (header_is(line, n, "Content-Length", &val, &vlen)) {
				has_cl = true;
				bad = bad || vlen == 0 || vlen > 11; /* 11 digits: far over RX_BODY_MAX already */
				for (size_t k = 0; k < vlen && !bad; k++) {
					if (val[k] < '0' || val[k] > '9') {
						bad = true;
						break;
					}
					clen = clen * 10 + (size_t)(val[k] - '0');
				}
			} else if (header_is(line, n, "Transfer-Encoding", &val, &vlen)) {
				chunked = true;
			} else if (header_is(line, n, "Connection", &val, &vlen)) {
				close_after = vlen == 5 && strncasecmp(val, "close", 5) == 0;
			}
			line = memchr(line, '\n', (size_t)(hend + 2 - line));
		}
		if (chunked || (is_post && !has_cl)) {
			refuse(rx, c, "HTTP/1.1 411 Length Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
			return 0;
		}
		if (bad || (has_cl && clen > RX_BODY_MAX)) {
			refuse(rx, c, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
			return 0;
		}
		if (c->in_len - hlen < clen)
			return hlen + clen;
		if (is_post)
			rx_body(rx, b + hlen, clen, t);
		queue_answer(c, ACCEPTED);
		memmove(c->in, c->in + hlen + clen, c->in_len - hlen - clen);
		c->in_len -= hlen + clen;
		c->closing = close_after;
	}
	return 0;
}

/* 0: keep the connection, -1: close it */
static int conn_flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		}
		c->out_off += (size_t)w;
	}
	c->out_off = c->out_len = 0;
	return c->closing ? -1 : 0;
}

static int conn_want(struct rx *rx, struct conn *c)
{
	uint32_t ev = 0;
	if (c->out_off < c->out_len)
		ev |= EPOLLOUT;
	else if (!c->closing)
		ev |= EPOLLIN;
	if (ev == c->events)
		return 0;
	struct epoll_event e = { .events = ev, .data.ptr = c };
	c->events = ev;
	return epoll_ctl(rx->ep, EPOLL_CTL_MOD, c->fd, &e);
}

/* 0: keep the connection, -1: close it */
static int conn_io(struct rx *rx, struct conn *c, uint32_t events)
{
	if (events & EPOLLOUT) {
		if (conn_flush(c))
			return -1;
		if (c->out_len)
			return conn_want(rx, c);
		rx_parse(rx, c, now_ns()); /* requests that waited for room to answer */
	} else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
		if (r == 0)
			return -1;
		if (r < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
		c->in_len += (size_t)r;
		size_t need = rx_parse(rx, c, now_ns());
		if (need > c->in_cap) {
			size_t ncap = need > 2 * c->in_cap ? need : 2 * c->in_cap;
			if (ncap > RX_HDR_MAX + RX_BODY_MAX)
				ncap = RX_HDR_MAX + RX_BODY_MAX;
			char *p = realloc(c->in, ncap);
			if (!p) {
				fail("receiver: out of memory for a %zu-byte request", need);
				return -1;
			}
			c->in = p;
			c->in_cap = ncap;
		}
	}
	if (conn_flush(c))
		return -1;
	return conn_want(rx, c);
}

static void *rx_main(void *arg)
{
	struct rx *rx = arg;
	struct epoll_event ev[64];
	for (;;) {
		int n = epoll_wait(rx->ep, ev, 64, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail("receiver: epoll_wait: %s", strerror(errno));
			return NULL;
		}
		for (int k = 0; k < n; k++) {
			void *p = ev[k].data.ptr;
			if (p == &rx->efd)
				return NULL;
			if (p == &rx->lfd)
				rx_accept(rx);
			else if (conn_io(rx, p, ev[k].events))
				conn_close(rx, p);
		}
	}
}

static int rx_start(struct rx *rx, unsigned port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
		                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1;
	rx->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	rx->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	rx->ep = epoll_create1(EPOLL_CLOEXEC);
	if (rx->lfd < 0 || rx->efd < 0 || rx->ep < 0) {
		fail("receiver: socket/eventfd/epoll: %s", strerror(errno));
		return -1;
	}
	setsockopt(rx->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(rx->lfd, (struct sockaddr *)&a, sizeof a) || listen(rx->lfd, 512)) {
		fail("receiver: 127.0.0.1:%u: %s", port, strerror(errno));
		return -1;
	}
	struct epoll_event el = { .events = EPOLLIN, .data.ptr = &rx->lfd };
	struct epoll_event ee = { .events = EPOLLIN, .data.ptr = &rx->efd };
	if (epoll_ctl(rx->ep, EPOLL_CTL_ADD, rx->lfd, &el) || epoll_ctl(rx->ep, EPOLL_CTL_ADD, rx->efd, &ee)) {
		fail("receiver: epoll_ctl: %s", strerror(errno));
		return -1;
	}
	int e = pthread_create(&rx->th, NULL, rx_main, rx);
	if (e) {
		fail("receiver: pthread_create: %s", strerror(e));
		return -1;
	}
	rx->started = true;
	return 0;
}

static void rx_stop(struct rx *rx)
{
	if (rx->started) {
		uint64_t one = 1;
		if (write(rx->efd, &one, sizeof one) != sizeof one)
			fail("receiver: cannot wake the thread: %s", strerror(errno));
		else
			pthread_join(rx->th, NULL);
	}
	while (rx->n_conns)
		conn_close(rx, rx->conns[0]);
	if (rx->lfd >= 0)
		close(rx->lfd);
	if (rx->efd >= 0)
		close(rx->efd);
	if (rx->ep >= 0)
		close(rx->ep);
}

/* ---- the senders: libcurl multi, conc transfers in flight ------------------------------- */
struct xfer {
	CURL *h;
	size_t i;
	char err[CURL_ERROR_SIZE];
};

static size_t sink(char *p, size_t size, size_t nmemb, void *arg)
{
	(void)p;
	(void)arg;
	return size * nmemb;
}

static int xfer_start(CURLM *multi, struct xfer *x, const struct msg *m, struct phase *ph, size_t i)
{
	x->i = i;
	x->err[0] = 0;
	curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, m[i].fwd);
	curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)m[i].fwd_len);
	ph->start[i] = now_ns();
	CURLMcode mc = curl_multi_add_handle(multi, x->h);
	if (mc) {
		fail("curl_multi_add_handle: %s", curl_multi_strerror(mc));
		return -1;
	}
	return 0;
}

static double cpu_self(void)
{
	struct rusage u;
	if (getrusage(RUSAGE_SELF, &u))
		return -1;
	return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec +
	       u.ru_stime.tv_usec / 1e6;
}

/* utime + stime of a process from /proc/PID/stat, in seconds; -1 when unknown */
static double cpu_of(long pid)
{
	char path[64], buf[1024];
	if (pid <= 0)
		return -1;
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	const char *p = strrchr(buf, ')'); /* the command name may hold blanks */
	unsigned long long ut, st;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

#define GW_URLS_MAX 8
static char *gw_urls[GW_URLS_MAX]; /* RELAY_GW_URLS */
static size_t n_gw_urls;

static int run_phase(struct phase *ph, const char *url, const struct msg *m, size_t n, size_t conc,
                     unsigned wait_s, long gw_pid)
{
	bool spread = n_gw_urls && strcmp(ph->name, "gateway") == 0; /* transfer k to gateway k mod n */
	CURLM *multi = curl_multi_init();
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/didcomm-encrypted+json");
	struct curl_slist *h2 = hdr ? curl_slist_append(hdr, "Expect:") : NULL;
	struct xfer *x = calloc(conc, sizeof *x);
	size_t next = 0, active = 0;
	int rc = -1;
	double cpu0 = cpu_self(), gw0 = cpu_of(gw_pid), cpu1, gw1;

	if (!multi || !h2 || !x) {
		fail("%s: curl set-up: out of memory", ph->name);
		if (!h2)
			curl_slist_free_all(hdr);
		hdr = NULL;
		goto out;
	}
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)conc);
	for (size_t k = 0; k < conc; k++) {
		if (!(x[k].h = curl_easy_init())) {
			fail("%s: curl_easy_init failed", ph->name);
			goto out;
		}
		curl_easy_setopt(x[k].h, CURLOPT_URL, spread ? gw_urls[k % n_gw_urls] : url);
		curl_easy_setopt(x[k].h, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(x[k].h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(x[k].h, CURLOPT_TIMEOUT_MS, 30000L);
		curl_easy_setopt(x[k].h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
		curl_easy_setopt(x[k].h, CURLOPT_WRITEFUNCTION, sink);
		curl_easy_setopt(x[k].h, CURLOPT_ERRORBUFFER, x[k].err);
		curl_easy_setopt(x[k].h, CURLOPT_PRIVATE, &x[k]);
	}
	for (size_t k = 0; k < conc && next < n; k++, active++)
		if (xfer_start(multi, &x[k], m, ph, next++))
			goto out;
	while (active) {
		int still;
		CURLMcode mc = curl_multi_perform(multi, &still);
		if (mc) {
			fail("%s: curl_multi_perform: %s", ph->name, curl_multi_strerror(mc));
			goto out;
		}
		CURLMsg *cm;
		int left;
		while ((cm = curl_multi_info_read(multi, &left))) {
			if (cm->msg != CURLMSG_DONE)
				continue;
			uint64_t t = now_ns();
			char *priv = NULL;
			long status = 0;
			curl_easy_getinfo(cm->easy_handle, CURLINFO_PRIVATE, &priv);
			struct xfer *xf = (struct xfer *)priv;
			CURLcode cr = cm->data.result;
			curl_multi_remove_handle(multi, xf->h);
			active--;
			if (cr != CURLE_OK) {
				if (!ph->errors++)
					snprintf(ph->first_error, sizeof ph->first_error, "%s",
					         xf->err[0] ? xf->err : curl_easy_strerror(cr));
			} else {
				curl_easy_getinfo(xf->h, CURLINFO_RESPONSE_CODE, &status);
				if (status >= 200 && status < 300) {
					ph->accept[xf->i] = t;
					ph->ok++;
				} else if (!ph->non2xx++) {
					ph->first_bad_status = status;
				}
			}
			if (next < n) {
				if (xfer_start(multi, xf, m, ph, next++))
					goto out;
				active++;
			}
		}
		if (active && (mc = curl_multi_poll(multi, NULL, 0, 1000, NULL))) {
			fail("%s: curl_multi_poll: %s", ph->name, curl_multi_strerror(mc));
			goto out;
		}
	}
	/* every message accepted here must reach the receiver */
	uint64_t deadline = now_ns() + (uint64_t)wait_s * 1000000000u;
	while (atomic_load_explicit(&ph->delivered, memory_order_acquire) < ph->ok && now_ns() < deadline)
		nanosleep(&(struct timespec){ .tv_nsec = 2000000 }, NULL);
	rc = 0;
out:
	cpu1 = cpu_self();
	gw1 = cpu_of(gw_pid);
	ph->cpu_self = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
	ph->cpu_gw = gw0 >= 0 && gw1 >= 0 ? gw1 - gw0 : -1;
	for (size_t k = 0; x && k < conc; k++) {
		if (x[k].h) {
			curl_multi_remove_handle(multi, x[k].h);
			curl_easy_cleanup(x[k].h);
		}
	}
	free(x);
	curl_multi_cleanup(multi);
	curl_slist_free_all(hdr);
	return rc;
}

/* ---- figures ---------------------------------------------------------------------------- */
struct figures {
	size_t delivered, missing, dups;
	double wall, msgs_per_s, posted_per_s;
	double acc[4];                /* accept -> delivery p50 p90 p99 max, ms */
	double post[2];               /* post start -> delivery p50 p99, ms */
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* nearest rank, in ms; -1 (printed n/a) without samples */
static double pct(const uint64_t *v, size_t n, double p)
{
	if (!n)
		return -1;
	size_t r = (size_t)(p / 100.0 * (double)n + 0.999999);
	return (double)v[r ? r - 1 : 0] / 1e6;
}

static int figures_of(const struct phase *ph, size_t n, struct figures *f)
{
	uint64_t *acc = malloc((n ? n : 1) * sizeof *acc), *post = malloc((n ? n : 1) * sizeof *post);
	uint64_t first = UINT64_MAX, last_dlv = 0, last_acc = 0;
	size_t na = 0, np = 0;
	memset(f, 0, sizeof *f);
	if (!acc || !post) {
		free(acc);
		free(post);
		fail("figures: out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t d = atomic_load_explicit(&ph->deliver[i], memory_order_relaxed);
		if (ph->start[i] && ph->start[i] < first)
			first = ph->start[i];
		if (ph->accept[i] > last_acc)
			last_acc = ph->accept[i];
		if (!d) {
			f->missing += ph->accept[i] != 0;
			continue;
		}
		f->delivered++;
		if (d > last_dlv)
			last_dlv = d;
		if (ph->accept[i])
			acc[na++] = d > ph->accept[i] ? d - ph->accept[i] : 0;
		if (ph->start[i])
			post[np++] = d > ph->start[i] ? d - ph->start[i] : 0;
	}
	f->dups = atomic_load(&ph->dups);
	qsort(acc, na, sizeof *acc, cmp_u64);
	qsort(post, np, sizeof *post, cmp_u64);
	f->acc[0] = pct(acc, na, 50);
	f->acc[1] = pct(acc, na, 90);
	f->acc[2] = pct(acc, na, 99);
	f->acc[3] = na ? (double)acc[na - 1] / 1e6 : -1;
	f->post[0] = pct(post, np, 50);
	f->post[1] = pct(post, np, 99);
	uint64_t end = last_dlv > last_acc ? last_dlv : last_acc;
	if (first != UINT64_MAX && end > first)
		f->wall = (double)(end - first) / 1e9;
	if (first != UINT64_MAX && last_dlv > first)
		f->msgs_per_s = (double)f->delivered / ((double)(last_dlv - first) / 1e9);
	if (first != UINT64_MAX && last_acc > first)
		f->posted_per_s = (double)ph->ok / ((double)(last_acc - first) / 1e9);
	free(acc);
	free(post);
	return 0;
}

static void row_z(const char *label, size_t a, size_t b)
{
	printf("  %-34s %14zu %14zu\n", label, a, b);
}

/* a and b with `dec` decimals; negative: n/a */
static void row_f(const char *label, int dec, double a, double b, const char *note)
{
	char sa[32], sb[32];
	if (a < 0)
		snprintf(sa, sizeof sa, "n/a");
	else
		snprintf(sa, sizeof sa, "%.*f", dec, a);
	if (b < 0)
		snprintf(sb, sizeof sb, "n/a");
	else
		snprintf(sb, sizeof sb, "%.*f", dec, b);
	printf("  %-34s %14s %14s%s%s\n", label, sa, sb, note ? "   " : "", note ? note : "");
}

static void print_table(const struct phase *ph, const struct figures *f, size_t n, unsigned wait_s,
                        const struct rx *rx)
{
	char note[96];
	printf("  %-34s %14s %14s\n", "", "gateway", "direct");
	printf("  %-34s %14s %14s\n", "", "--------------", "--------------");
	row_z("messages posted", n, n);
	row_z("accepted (2xx)", ph[0].ok, ph[1].ok);
	row_z("non-2xx answers", ph[0].non2xx, ph[1].non2xx);
	row_z("transport errors", ph[0].errors, ph[1].errors);
	row_z("delivered (unique)", f[0].delivered, f[1].delivered);
	row_z("duplicates", f[0].dups, f[1].dups);
	snprintf(note, sizeof note, "missing (no delivery in %us)", wait_s);
	row_z(note, f[0].missing, f[1].missing);
	row_f("wall seconds", 3, f[0].wall, f[1].wall, NULL);
	row_f("accepted msgs/s (sender side)", 0, f[0].posted_per_s, f[1].posted_per_s, NULL);
	snprintf(note, sizeof note, "target >= %.0f: %s", TARGET_MSGS, f[0].msgs_per_s >= TARGET_MSGS ? "met" : "NOT met");
	row_f("delivered msgs/s", 0, f[0].msgs_per_s, f[1].msgs_per_s, note);
	row_f("accept->delivery p50 ms", 2, f[0].acc[0], f[1].acc[0], NULL);
	row_f("accept->delivery p90 ms", 2, f[0].acc[1], f[1].acc[1], NULL);
	snprintf(note, sizeof note, "target < %.0f ms: %s", TARGET_P99_MS,
	         f[0].acc[2] >= 0 && f[0].acc[2] < TARGET_P99_MS ? "met" : "NOT met");
	row_f("accept->delivery p99 ms", 2, f[0].acc[2], f[1].acc[2], note);
	row_f("accept->delivery max ms", 2, f[0].acc[3], f[1].acc[3], NULL);
	row_f("post start->delivery p50 ms", 2, f[0].post[0], f[1].post[0], NULL);
	row_f("post start->delivery p99 ms", 2, f[0].post[1], f[1].post[1], NULL);
	row_f("CPU s, this process (send+receive)", 2, ph[0].cpu_self, ph[1].cpu_self, NULL);
	row_f("CPU s, gateway process", 2, ph[0].cpu_gw, -1, NULL);
	if (f[0].delivered && ph[0].cpu_gw >= 0)
		printf("  %-34s %14.1f\n", "gateway CPU us per delivered msg", ph[0].cpu_gw * 1e6 / (double)f[0].delivered);
	for (int k = 0; k < 2; k++) {
		if (ph[k].non2xx)
			printf("  %s: first non-2xx answer: HTTP %ld\n", ph[k].name, ph[k].first_bad_status);
		if (ph[k].errors)
			printf("  %s: first transport error: %s\n", ph[k].name, ph[k].first_error);
	}
	size_t unknown = atomic_load(&rx->unknown), bad = atomic_load(&rx->bad);
	if (unknown || bad)
		printf("  receiver: %zu bodies without a known tag, %zu malformed requests\n", unknown, bad);
	if (f[1].msgs_per_s > 0)
		printf("  gateway/direct delivered msgs/s: %.2f\n", f[0].msgs_per_s / f[1].msgs_per_s);
	printf("targets (gateway phase, informational): delivered msgs/s >= %.0f %s; p99 accept->delivery < %.0f ms %s\n",
	       TARGET_MSGS, f[0].msgs_per_s >= TARGET_MSGS ? "met" : "NOT met", TARGET_P99_MS,
	       f[0].acc[2] >= 0 && f[0].acc[2] < TARGET_P99_MS ? "met" : "NOT met");
}

int main(int argc, char **argv)
{
	struct msg *msgs = NULL;
	struct tagmap map = { 0 };
	struct phase ph[2];
	struct figures f[2];
	struct rx *rx = NULL;
	struct gen *gens = NULL;
	char *gw_url = NULL, rx_url[64];
	int rc = 1;
	bool curl_up = false;

	memset(ph, 0, sizeof ph);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (argc != 3) {
		fprintf(stderr, "usage: relay BOB_DID RECEIVER_PORT  (see tests/bench/relay.sh)\n");
		return 2;
	}
	const char *bob = argv[1];
	char *e = NULL;
	unsigned long port = strtoul(argv[2], &e, 10);
	if (!e || *e || port == 0 || port > 65535) {
		fail("bad receiver port %s", argv[2]);
		return 2;
	}
	size_t n = env_size("RELAY_BENCH_N", 20000, 1, 10000000);
	size_t conc = env_size("RELAY_BENCH_CONC", 64, 1, 1000);
	unsigned wait_s = (unsigned)env_size("RELAY_BENCH_WAIT", 60, 1, 3600);
	const char *pid_s = getenv("RELAY_GW_PID");
	long gw_pid = pid_s ? strtol(pid_s, NULL, 10) : 0;
	snprintf(rx_url, sizeof rx_url, "http://127.0.0.1:%lu/inbox", port);

	if (dc_init()) {
		fail("dc_init failed");
		return 1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fail("curl_global_init failed");
		return 1;
	}
	curl_up = true;
	if (!(gw_url = endpoint_of(bob)))
		goto out;
	const char *urls = getenv("RELAY_GW_URLS");
	for (const char *u = urls; u && *u && n_gw_urls < GW_URLS_MAX;) {
		size_t l = strcspn(u, " ");
		if (l && !(gw_urls[n_gw_urls++] = strndup(u, l))) {
			fail("out of memory");
			goto out;
		}
		u += l;
		u += strspn(u, " ");
	}

	/* generation */
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t nt = cpus < 1 ? 1 : cpus > GEN_THREADS_MAX ? GEN_THREADS_MAX : (size_t)cpus;
	if (nt > n)
		nt = n;
	msgs = calloc(n, sizeof *msgs);
	gens = calloc(nt, sizeof *gens);
	if (!msgs || !gens) {
		fail("out of memory for %zu messages", n);
		goto out;
	}
	uint64_t g0 = now_ns();
	size_t started = 0;
	for (size_t t = 0; t < nt; t++, started++) {
		gens[t] = (struct gen){ .bob = bob, .msgs = msgs, .from = n * t / nt, .to = n * (t + 1) / nt };
		int err = pthread_create(&gens[t].th, NULL, gen_main, &gens[t]);
		if (err) {
			fail("pthread_create: %s", strerror(err));
			break;
		}
	}
	bool gen_ok = started == nt;
	for (size_t t = 0; t < started; t++) {
		pthread_join(gens[t].th, NULL);
		gen_ok = gen_ok && gens[t].rc == 0;
	}
	if (!gen_ok)
		goto out;
	size_t bytes = 0;
	for (size_t i = 0; i < n; i++)
		bytes += msgs[i].fwd_len;
	printf("relay: %zu messages (300-byte bodies; forwards of %zu bytes on average, generated in %.1f s "
	       "on %zu threads), %zu in flight, %ld CPUs\n",
	       n, bytes / n, (double)(now_ns() - g0) / 1e9, nt, conc, cpus);
	printf("relay: gateway %s%s -> receiver %s; direct: the same forwards to the receiver\n",
	       n_gw_urls ? urls : gw_url, n_gw_urls ? " (round-robin)" : "", rx_url);
	fflush(stdout);
	if (tagmap_build(&map, msgs, n) || phase_init(&ph[0], "gateway", n) || phase_init(&ph[1], "direct", n))
		goto out;

	if (!(rx = calloc(1, sizeof *rx))) {
		fail("out of memory");
		goto out;
	}
	rx->lfd = rx->efd = rx->ep = -1;
	rx->map = &map;
	rx->phases = ph;
	atomic_init(&rx->unknown, 0);
	atomic_init(&rx->bad, 0);
	if (rx_start(rx, (unsigned)port))
		goto out;
	if (run_phase(&ph[0], gw_url, msgs, n, conc, wait_s, gw_pid) ||
	    run_phase(&ph[1], rx_url, msgs, n, conc, wait_s, -1))
		goto out;
	if (figures_of(&ph[0], n, &f[0]) || figures_of(&ph[1], n, &f[1]))
		goto out;
	print_table(ph, f, n, wait_s, rx);
	rc = 0;
out:
	if (rx) {
		rx_stop(rx);
		free(rx);
	}
	phase_clear(&ph[0]);
	phase_clear(&ph[1]);
	free(map.slot);
	for (size_t i = 0; msgs && i < n; i++)
		free(msgs[i].fwd);
	free(msgs);
	free(gens);
	free(gw_url);
	for (size_t i = 0; i < n_gw_urls; i++)
		free(gw_urls[i]);
	if (curl_up)
		curl_global_cleanup();
	return rc;
}
