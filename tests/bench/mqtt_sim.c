/* MQTT benchmark: a fleet of simulated devices (libmosquitto clients in this process, one
 * thread, one epoll) doing DIDComm round trips. Normally started by tests/bench/mqtt.sh, which
 * runs mosquitto and the gateway.
 *
 *   mqtt_sim MQTT_PORT BOB_DID GATEWAY_KEY RECEIVER_PORT GATEWAY_URL
 *
 * Generation (before any timing): N device DIDs (did:peer:2 whose service is the gateway with
 * its key as routing key, like bob's), and for each device K pairs of messages: "up", a
 * forward for the gateway wrapping an anoncrypt envelope for bob, and "down", a forward for
 * the gateway wrapping one for the device. Every envelope is known by its JWE "tag".
 *
 * Phase "gateway": device i publishes up[i][k] (QoS 1) on didcomm/in/dev<i>; the gateway
 * (rule `from mqtt tag fleet -> http`) POSTs the inner envelope to this program's HTTP
 * receiver, which POSTs down[i][k] to the gateway (libcurl, keep-alive); the gateway (rule
 * `to did:peer:2.* -> mqtt dev/{to}/inbox`) publishes the inner envelope for the device on
 * dev/<its DID>/inbox, where the device is subscribed (QoS 1); then it sends its next up.
 * Phase "broker" (run first): the same forwards through mosquitto alone, on topics of about
 * the same length that the gateway does not subscribe to: a single client subscribed to
 * benchin/# plays the gateway and the HTTP agent at once and answers up[i][k] by publishing
 * down[i][k] (the bytes, no crypto) on the device's topic. Both phases are closed
 * loops with one round trip in flight per device, through the same broker, two broker hops
 * each; a round trip's latency runs from the device's publish to its receipt of the answer.
 *   MQTT_BENCH_DEVICES=1000  devices
 *   MQTT_BENCH_ROUNDS=5      round trips per device and phase
 *   MQTT_BENCH_WAIT=180      seconds a phase may take at most
 * Prints per phase: round trips/s, messages/s (two per round trip), p50/p90/p99/max latency,
 * the CPU each process spent a round trip (MQTT_BENCH_BROKER_PID, MQTT_BENCH_GATEWAY_PID: the
 * script passes them) and how busy the machine was, then the gateway's rate as a percentage of
 * the broker alone (the issue's goal: >= 70 %).
 * One thread, one epoll: work in proportion to the events, not to the fleet (a poll over every
 * device's socket at each turn took half of this program's time and CPU from the others).
 * Exit status: non-zero only when the benchmark cannot run. */
#define _GNU_SOURCE /* memmem, accept4 */
#include "didcomm.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BODY_BYTES 200
#define HDR_MAX 8192
#define BODY_MAX (1u << 20)
#define POSTERS 16

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("mqtt_sim: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static size_t env_num(const char *name, size_t def, size_t min, size_t max)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return def;
	char *end;
	unsigned long long n = strtoull(v, &end, 10);
	if (*end || n < min || n > max)
		die("%s: want %zu..%zu", name, min, max);
	return (size_t)n;
}

/* ---- envelopes and their tags ------------------------------------------------------------- */
struct env {
	char *b;
	size_t n;
};
struct dev {
	char *did, *topic_in, *topic_dev;   /* the gateway's topics */
	char *btopic_in, *btopic_dev;       /* the broker phase's: the gateway does not see them */
	struct env *up, *down;        /* K each: forwards for the gateway */
	struct mosquitto *m;
	int fd;
	unsigned k;                   /* rounds done in this phase */
	uint64_t sent;                /* when the current up was published */
	bool subscribed;
	bool out;                     /* EPOLLOUT asked for */
};

/* tag -> (device, round, direction) */
struct slot {
	char *tag;
	uint32_t dev, k;
	uint8_t dir;                  /* 0: up (inner for bob or the forward), 1: down */
};
static struct slot *tab;
static size_t tab_n;

static uint64_t hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

/* the value of the top-level "tag" member (JWE), or NULL */
static const char *tag_in(const char *b, size_t n, size_t *len)
{
	const char *end = b + n, *p = b;
	while ((p = memmem(p, (size_t)(end - p), "\"tag\"", 5))) {
		const char *q = p + 5;
		while (q < end && (*q == ' ' || *q == ':'))
			q++;
		if (q < end && *q == '"') {
			const char *e = memchr(q + 1, '"', (size_t)(end - q - 1));
			if (e) {
				*len = (size_t)(e - q - 1);
				return q + 1;
			}
		}
		p += 5;
	}
	return NULL;
}

static void tab_put(const char *tag, size_t len, uint32_t dev, uint32_t k, uint8_t dir)
{
	for (size_t i = hash(tag, len) % tab_n;; i = (i + 1) % tab_n)
		if (!tab[i].tag) {
			tab[i] = (struct slot){ .tag = strndup(tag, len), .dev = dev, .k = k, .dir = dir };
			return;
		}
}

static const struct slot *tab_get(const char *b, size_t n)
{
	size_t len;
	const char *tag = tag_in(b, n, &len);
	if (!tag)
		return NULL;
	for (size_t i = hash(tag, len) % tab_n; tab[i].tag; i = (i + 1) % tab_n)
		if (strlen(tab[i].tag) == len && memcmp(tab[i].tag, tag, len) == 0)
			return &tab[i];
	return NULL;
}

/* an anoncrypt envelope for `to`, then the forward for its routing key; both tags recorded */
static struct env make(struct dc_ctx *ctx, const char *to, const char *id, uint32_t dev, uint32_t k, uint8_t dir)
{
	char json[4096], pad[BODY_BYTES];
	memset(pad, 'x', sizeof pad - 1);
	pad[sizeof pad - 1] = 0;
	int n = snprintf(json, sizeof json,
	                 "{\"id\":\"%s\",\"type\":\"https://didcomm.org/basicmessage/2.0/message\",\"to\":[\"%s\"],"
	                 "\"body\":{\"content\":\"%s\"}}",
	                 id, to, pad);
	if (n < 0 || (size_t)n >= sizeof json)
		die("message %s does not fit", id);
	const char *tos[] = { to };
	struct dc_pack_opts o = { .mode = DC_PACK_ANONCRYPT, .to = tos, .n_to = 1, .no_forward = true };
	struct dc_pack_result pr = { 0 };
	struct dc_errinfo ei = { 0 };
	dc_err rc = dc_pack(ctx, json, (size_t)n, &o, &pr, &ei);
	if (rc || pr.n != 1)
		die("dc_pack: %s %s", dc_strerror(rc), ei.msg);
	struct env e = { pr.items[0].msg, pr.items[0].len };
	pr.items[0].msg = NULL;
	dc_pack_result_clear(&pr);
	size_t tl;
	const char *t = tag_in(e.b, e.n, &tl);
	if (!t)
		die("no tag in an envelope");
	tab_put(t, tl, dev, k, dir);
	char *endpoint = NULL;
	if ((rc = dc_relay_wrap(ctx, to, 0, NULL, 0, 0, &e.b, &e.n, &endpoint, &ei)))
		die("dc_relay_wrap: %s %s", dc_strerror(rc), ei.msg);
	free(endpoint);
	t = tag_in(e.b, e.n, &tl);
	if (!t)
		die("no tag in a forward");
	tab_put(t, tl, dev, k, dir);
	return e;
}

/* ---- the run -------------------------------------------------------------------------------- */
static struct dev *devs;
static size_t N, K;
static struct mosquitto *echo;          /* phase "broker": gateway and agent in one */
static int echo_fd = -1;
static uint64_t *lat;                   /* ns, one per round trip */
static size_t n_lat;
static size_t done_devs;
static CURLM *multi;
static const char *gw_url;
static struct curl_slist *hdrs;

struct post {
	struct post *next;
	const struct env *e;
};
static struct post *pq_head, *pq_tail;
static unsigned posting;
static size_t post_fail;

static void publish_up(struct dev *d)
{
	d->sent = now_ns();
	const struct env *e = &d->up[d->k];
	int rc = mosquitto_publish(d->m, NULL, echo ? d->btopic_in : d->topic_in, (int)e->n, e->b, 1, false);
	if (rc)
		die("device publish: %s", mosquitto_strerror(rc));
}

static void post_next(void);

static void on_dev_msg(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	(void)m;
	struct dev *d = obj;
	const struct slot *s = tab_get(msg->payload, (size_t)msg->payloadlen);
	if (!s || s->dir != 1 || &devs[s->dev] != d || s->k != d->k)
		return; /* a duplicate (QoS 1) or a stranger */
	lat[n_lat++] = now_ns() - d->sent;
	if (++d->k == K) {
		done_devs++;
		return;
	}
	publish_up(d);
}

static void on_echo_msg(struct mosquitto *m, void *obj, const struct mosquitto_message *msg)
{
	(void)obj;
	const struct slot *s = tab_get(msg->payload, (size_t)msg->payloadlen);
	if (!s || s->dir != 0)
		return;
	struct dev *d = &devs[s->dev];
	const struct env *e = &d->down[s->k];
	int rc = mosquitto_publish(m, NULL, d->btopic_dev, (int)e->n, e->b, 1, false);
	if (rc)
		die("echo publish: %s", mosquitto_strerror(rc));
}

static void on_sub(struct mosquitto *m, void *obj, int mid, int n, const int *granted)
{
	(void)m;
	(void)mid;
	(void)n;
	(void)granted;
	if (obj)
		((struct dev *)obj)->subscribed = true;
}

static struct mosquitto *client(const char *id, int port, void *obj)
{
	struct mosquitto *m = mosquitto_new(id, true, obj);
	if (!m)
		die("mosquitto_new");
	mosquitto_subscribe_callback_set(m, on_sub);
	mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1); /* small messages: no Nagle delay */
	int rc = mosquitto_connect(m, "127.0.0.1", port, 60);
	if (rc)
		die("connect %s: %s", id, mosquitto_strerror(rc));
	return m;
}

/* ---- HTTP: the agent's receiver (gateway phase) -------------------------------------------- */
struct conn {
	int fd;
	char *buf;
	size_t len, cap;
	char out[256];
	size_t out_len;
	bool wout;                    /* EPOLLOUT asked for */
};
static int lfd = -1;
static struct conn *conns;
static size_t n_conns, cap_conns;

/* ---- the epoll: what each registered fd is -------------------------------------------------- */
enum { EV_DEV, EV_ECHO, EV_LISTEN, EV_CONN, EV_CURL };
static int epfd = -1;

static uint64_t ev_key(uint32_t kind, uint32_t i)
{
	return (uint64_t)kind << 32 | i;
}

static void ep_set(int op, int fd, uint32_t events, uint64_t key)
{
	struct epoll_event e = { .events = events, .data.u64 = key };
	if (epoll_ctl(epfd, op, fd, &e) != 0 && op != EPOLL_CTL_DEL) /* a closed socket has left already */
		die("epoll_ctl: %s", strerror(errno));
}

static void conn_drop(size_t i)
{
	close(conns[i].fd); /* leaves the epoll with it */
	free(conns[i].buf);
	conns[i] = conns[--n_conns];
	if (i < n_conns) /* the last one moved into the gap: its key names its new place */
		ep_set(EPOLL_CTL_MOD, conns[i].fd, EPOLLIN | (conns[i].wout ? EPOLLOUT : 0), ev_key(EV_CONN, (uint32_t)i));
}

static void queue_post(const struct env *e)
{
	struct post *p = malloc(sizeof *p);
	if (!p)
		die("out of memory");
	*p = (struct post){ .e = e };
	if (pq_tail)
		pq_tail->next = p;
	else
		pq_head = p;
	pq_tail = p;
	post_next();
}

/* one whole request in c->buf: answer 202, queue the agent's reply */
static bool conn_parse(struct conn *c)
{
	char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
	if (!end)
		return c->len < HDR_MAX;
	size_t hl = (size_t)(end - c->buf) + 4, cl = 0;
	for (char *p = c->buf; p < end; p++)
		if ((*p == '\n') && strncasecmp(p + 1, "Content-Length:", 15) == 0)
			cl = strtoul(p + 16, NULL, 10);
	if (cl > BODY_MAX)
		return false;
	if (c->len < hl + cl)
		return true;
	const struct slot *s = tab_get(c->buf + hl, cl);
	if (s && s->dir == 0)
		queue_post(&devs[s->dev].down[s->k]);
	memmove(c->buf, c->buf + hl + cl, c->len - hl - cl);
	c->len -= hl + cl;
	static const char ok[] = "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n";
	if (c->out_len + sizeof ok - 1 > sizeof c->out)
		return false;
	memcpy(c->out + c->out_len, ok, sizeof ok - 1);
	c->out_len += sizeof ok - 1;
	return c->len ? conn_parse(c) : true;
}

static bool conn_io(struct conn *c, short rev)
{
	if (rev & (POLLIN | POLLERR | POLLHUP)) {
		for (;;) {
			if (c->cap - c->len < 65536) {
				size_t nc = c->cap ? c->cap * 2 : 131072;
				if (nc > BODY_MAX + HDR_MAX * 2)
					return false;
				char *nb = realloc(c->buf, nc);
				if (!nb)
					return false;
				c->buf = nb;
				c->cap = nc;
			}
			ssize_t r = read(c->fd, c->buf + c->len, c->cap - c->len);
			if (r == 0)
				return false;
			if (r < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				return false;
			}
			c->len += (size_t)r;
		}
		if (!conn_parse(c))
			return false;
	}
	while (c->out_len) {
		ssize_t w = write(c->fd, c->out, c->out_len);
		if (w < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK;
		memmove(c->out, c->out + w, c->out_len - (size_t)w);
		c->out_len -= (size_t)w;
	}
	return true;
}

static void rx_listen(int port)
{
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
		                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 512))
		die("receiver on 127.0.0.1:%d: %s", port, strerror(errno));
	ep_set(EPOLL_CTL_ADD, lfd, EPOLLIN, ev_key(EV_LISTEN, 0));
}

static void rx_accept(void)
{
	int fd;
	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
		if (n_conns == cap_conns) {
			cap_conns = cap_conns ? cap_conns * 2 : 64;
			conns = realloc(conns, cap_conns * sizeof *conns);
			if (!conns)
				die("out of memory");
		}
		conns[n_conns] = (struct conn){ .fd = fd };
		ep_set(EPOLL_CTL_ADD, fd, EPOLLIN, ev_key(EV_CONN, (uint32_t)n_conns));
		n_conns++;
	}
}

/* ---- HTTP: the agent's replies, POSTed to the gateway ---------------------------------------- */
static size_t sink(char *p, size_t size, size_t nmemb, void *arg)
{
	(void)p;
	(void)arg;
	return size * nmemb;
}

static void post_next(void)
{
	while (pq_head && posting < POSTERS) {
		struct post *p = pq_head;
		pq_head = p->next;
		if (!pq_head)
			pq_tail = NULL;
		CURL *c = curl_easy_init();
		if (!c)
			die("curl_easy_init");
		curl_easy_setopt(c, CURLOPT_URL, gw_url);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, p->e->b);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->e->n);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
		curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
		curl_easy_setopt(c, CURLOPT_PRIVATE, p);
		curl_multi_add_handle(multi, c);
		posting++;
	}
}

static void post_reap(void)
{
	int left;
	CURLMsg *msg;
	while ((msg = curl_multi_info_read(multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		CURL *c = msg->easy_handle;
		long code = 0;
		struct post *p = NULL;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **)&p);
		curl_multi_remove_handle(multi, c);
		curl_easy_cleanup(c);
		posting--;
		if (msg->data.result != CURLE_OK || code != 202) {
			post_fail++;
			if (p) { /* try again: the round trip must complete */
				p->next = NULL;
				if (pq_tail)
					pq_tail->next = p;
				else
					pq_head = p;
				pq_tail = p;
				p = NULL;
			}
		}
		free(p);
	}
	post_next();
}

/* ---- one epoll over everything ------------------------------------------------------------ */
static uint64_t curl_due;        /* CLOCK_MONOTONIC ns when curl wants its timeout action; 0: none */

/* curl's sockets in the same epoll (multi_socket) */
static int curl_sock(CURL *e, curl_socket_t fd, int what, void *arg, void *sockp)
{
	(void)e;
	(void)arg;
	if (what == CURL_POLL_REMOVE) {
		ep_set(EPOLL_CTL_DEL, fd, 0, 0);
		curl_multi_assign(multi, fd, NULL);
		return 0;
	}
	uint32_t ev = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	ep_set(sockp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, ev, ev_key(EV_CURL, (uint32_t)fd));
	if (!sockp)
		curl_multi_assign(multi, fd, (void *)1);
	return 0;
}

static int curl_timer(CURLM *m, long ms, void *arg)
{
	(void)m;
	(void)arg;
	curl_due = ms < 0 ? 0 : now_ns() + (uint64_t)ms * 1000000u;
	return 0;
}

/* a client's socket: readable, and writable only while libmosquitto has bytes queued */
static void mq_watch(struct mosquitto *m, uint64_t key, bool *out)
{
	bool want = mosquitto_want_write(m);
	if (want && mosquitto_loop_write(m, 1) != MOSQ_ERR_SUCCESS)
		die("a client lost its connection while writing");
	want = mosquitto_want_write(m);
	if (want != *out) {
		*out = want;
		ep_set(EPOLL_CTL_MOD, mosquitto_socket(m), EPOLLIN | (want ? EPOLLOUT : 0), key);
	}
}

static bool echo_out;

static void mq_io(struct mosquitto *m, uint32_t rev)
{
	int rc = 0;
	if (rev & (EPOLLIN | EPOLLERR | EPOLLHUP))
		rc = mosquitto_loop_read(m, 1);
	if (!rc && mosquitto_want_write(m))
		rc = mosquitto_loop_write(m, 1);
	if (rc)
		die("a client lost its connection: %s", mosquitto_strerror(rc));
}

static void dev_flush(struct dev *d)
{
	mq_watch(d->m, ev_key(EV_DEV, (uint32_t)(d - devs)), &d->out);
}

static void step(int timeout_ms)
{
	static struct epoll_event evs[512];
	uint64_t t = now_ns();
	if (curl_due && curl_due <= t)
		timeout_ms = 0;
	else if (curl_due && (curl_due - t) / 1000000u < (uint64_t)timeout_ms)
		timeout_ms = (int)((curl_due - t) / 1000000u) + 1;
	int n = epoll_wait(epfd, evs, (int)(sizeof evs / sizeof evs[0]), timeout_ms);
	if (n < 0 && errno != EINTR)
		die("epoll_wait: %s", strerror(errno));
	int running;
	for (int i = 0; i < n; i++) {
		uint32_t kind = (uint32_t)(evs[i].data.u64 >> 32), idx = (uint32_t)evs[i].data.u64, rev = evs[i].events;
		switch (kind) {
		case EV_DEV:
			mq_io(devs[idx].m, rev);
			dev_flush(&devs[idx]);
			break;
		case EV_ECHO:
			if (echo) {
				mq_io(echo, rev);
				mq_watch(echo, ev_key(EV_ECHO, 0), &echo_out);
			}
			break;
		case EV_LISTEN:
			rx_accept();
			break;
		case EV_CONN:
			if (idx >= n_conns)
				break;
			if (!conn_io(&conns[idx], (short)((rev & EPOLLIN ? POLLIN : 0) | (rev & (EPOLLERR | EPOLLHUP) ? POLLHUP : 0)))) {
				conn_drop(idx);
			} else if (conns[idx].wout != (conns[idx].out_len > 0)) {
				conns[idx].wout = conns[idx].out_len > 0;
				ep_set(EPOLL_CTL_MOD, conns[idx].fd, EPOLLIN | (conns[idx].wout ? EPOLLOUT : 0), ev_key(EV_CONN, idx));
			}
			break;
		case EV_CURL:
			curl_multi_socket_action(multi, (curl_socket_t)idx,
			                         (rev & EPOLLIN ? CURL_CSELECT_IN : 0) | (rev & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
			                         (rev & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0),
			                         &running);
			break;
		}
	}
	if (curl_due && curl_due <= now_ns()) {
		curl_due = 0;
		curl_multi_socket_action(multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	post_reap();
}

/* keep-alives: each client once a second, not at every turn */
static void misc_all(void)
{
	static uint64_t last;
	uint64_t t = now_ns();
	if (t - last < 1000000000u)
		return;
	last = t;
	for (size_t i = 0; i < N; i++)
		mosquitto_loop_misc(devs[i].m);
	if (echo)
		mosquitto_loop_misc(echo);
}

/* ---- where the CPU goes: this process, mosquitto, the gateway (per thread), the machine ---- */
#define MAX_THREADS 32
struct cpu {
	double sim, broker, gw, busy, idle;    /* seconds */
	size_t n_thr;
	char thr[MAX_THREADS][20];             /* the gateway's threads by name (comm) */
	double thr_s[MAX_THREADS];
};
static long broker_pid, gw_pid;
static double ticks_s;

/* utime + stime of /proc/PID[/task/TID]/stat, in seconds (0 when unreadable) */
static double proc_cpu(const char *path)
{
	char b[1024];
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	size_t n = fread(b, 1, sizeof b - 1, f);
	fclose(f);
	b[n] = 0;
	const char *p = strrchr(b, ')'); /* the name may hold spaces */
	unsigned long long ut = 0, st = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (double)(ut + st) / ticks_s;
}

static void cpu_now(struct cpu *c)
{
	memset(c, 0, sizeof *c);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	c->sim = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	         ru.ru_stime.tv_usec / 1e6;
	char path[128];
	if (broker_pid) {
		snprintf(path, sizeof path, "/proc/%ld/stat", broker_pid);
		c->broker = proc_cpu(path);
	}
	if (gw_pid) {
		snprintf(path, sizeof path, "/proc/%ld/task", gw_pid);
		DIR *d = opendir(path);
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char comm[20] = "", p2[300];
			snprintf(p2, sizeof p2, "/proc/%ld/task/%.20s/comm", gw_pid, e->d_name);
			FILE *f = fopen(p2, "r");
			if (f) {
				if (!fgets(comm, sizeof comm, f))
					comm[0] = 0;
				fclose(f);
			}
			comm[strcspn(comm, "\n")] = 0;
			snprintf(p2, sizeof p2, "/proc/%ld/task/%.20s/stat", gw_pid, e->d_name);
			double t = proc_cpu(p2);
			c->gw += t;
			size_t i = 0;
			while (i < c->n_thr && strcmp(c->thr[i], comm) != 0)
				i++;
			if (i == c->n_thr && c->n_thr < MAX_THREADS)
				snprintf(c->thr[c->n_thr++], sizeof c->thr[0], "%s", comm);
			if (i < c->n_thr)
				c->thr_s[i] += t;
		}
		if (d)
			closedir(d);
	}
	FILE *f = fopen("/proc/stat", "r");
	unsigned long long v[8] = { 0 };
	if (f) {
		if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
		           &v[7]) != 8)
			memset(v, 0, sizeof v);
		fclose(f);
	}
	c->busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / ticks_s;
	c->idle = (double)(v[3] + v[4]) / ticks_s;
}

/* CPU per round trip over a phase: who spent what (2 CPUs shared by all three and the rest of
 * the machine: a component's cost per round trip is what it takes from the others) */
static void cpu_print(const struct cpu *a, const struct cpu *b, size_t n, double secs, bool gw)
{
	if (!n)
		return;
	double k = 1e6 / (double)n;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	double busy = b->busy - a->busy, all = busy + b->idle - a->idle;
	printf("           CPU a round trip: simulator %.0f us, mosquitto %.0f us", (b->sim - a->sim) * k,
	       (b->broker - a->broker) * k);
	if (gw)
		printf(", gateway %.0f us", (b->gw - a->gw) * k);
	printf("; the machine %.0f %% busy (%ld CPUs, %.2f CPU-s a second)\n", all > 0 ? 100 * busy / all : 0, cpus,
	       secs > 0 ? busy / secs : 0);
	if (!gw)
		return;
	printf("           the gateway's threads a round trip:");
	for (size_t i = 0; i < b->n_thr; i++) {
		double t0 = 0;
		for (size_t j = 0; j < a->n_thr; j++)
			if (strcmp(a->thr[j], b->thr[i]) == 0)
				t0 = a->thr_s[j];
		double d = (b->thr_s[i] - t0) * k;
		if (d >= 1)
			printf(" %s %.0f us", b->thr[i], d);
	}
	printf("\n");
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

struct fig {
	double rt_s, p50, p90, p99, max;
	size_t done;
	double secs;
};

static struct fig run_phase(const char *name, int port, size_t wait_s)
{
	for (size_t i = 0; i < N; i++)
		devs[i].k = 0;
	done_devs = 0;
	n_lat = 0;
	struct cpu c0, c1;
	cpu_now(&c0);
	uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)wait_s * 1000000000u;
	for (size_t i = 0; i < N; i++) {
		publish_up(&devs[i]);
		dev_flush(&devs[i]);
	}
	while (done_devs < N && now_ns() < deadline) {
		step(50);
		misc_all();
	}
	uint64_t t1 = now_ns();
	cpu_now(&c1);
	(void)port;
	struct fig f = { .done = n_lat, .secs = (double)(t1 - t0) / 1e9 };
	if (n_lat) {
		qsort(lat, n_lat, sizeof *lat, cmp_u64);
		f.rt_s = (double)n_lat / f.secs;
		f.p50 = (double)lat[n_lat / 2] / 1e6;
		f.p90 = (double)lat[(size_t)((double)n_lat * 0.90)] / 1e6;
		f.p99 = (double)lat[(size_t)((double)n_lat * 0.99)] / 1e6;
		f.max = (double)lat[n_lat - 1] / 1e6;
	}
	printf("  %-8s %6zu of %6zu round trips in %6.2f s: %8.0f round trips/s = %8.0f msgs/s;"
	       " latency p50 %7.1f ms  p90 %7.1f ms  p99 %7.1f ms  max %7.1f ms\n",
	       name, f.done, N * K, f.secs, f.rt_s, 2 * f.rt_s, f.p50, f.p90, f.p99, f.max);
	cpu_print(&c0, &c1, f.done, f.secs, strcmp(name, "gateway") == 0);
	fflush(stdout);
	return f;
}

int main(int argc, char **argv)
{
	if (argc != 6)
		die("usage: mqtt_sim MQTT_PORT BOB_DID GATEWAY_KEY RECEIVER_PORT GATEWAY_URL");
	int port = atoi(argv[1]) /* a port from the script */, rport = atoi(argv[4]);
	const char *bob = argv[2], *gwkey = argv[3];
	gw_url = argv[5];
	N = env_num("MQTT_BENCH_DEVICES", 1000, 1, 100000);
	K = env_num("MQTT_BENCH_ROUNDS", 5, 1, 10000);
	size_t wait_s = env_num("MQTT_BENCH_WAIT", 180, 1, 36000);
	broker_pid = (long)env_num("MQTT_BENCH_BROKER_PID", 0, 0, 1u << 30);
	gw_pid = (long)env_num("MQTT_BENCH_GATEWAY_PID", 0, 0, 1u << 30);
	ticks_s = (double)sysconf(_SC_CLK_TCK);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* three a client: its socket and libmosquitto's socket pair */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 3 * N + 256)
		die("%zu devices need %zu open files; the limit is %llu", N, 3 * N + 256, (unsigned long long)rl.rlim_cur);

	if (dc_init())
		die("dc_init failed");
	/* generation */
	struct dc_resolver *res = NULL;
	struct dc_keystore *ks = NULL;
	struct dc_ctx *ctx = NULL;
	struct dc_errinfo ei = { 0 };
	if (dc_resolver_new(4096, &res) || dc_keystore_new(&ks) || dc_ctx_new(res, ks, &ctx))
		die("a libdidcomm context");
	tab_n = N * K * 8 + 17;
	tab = calloc(tab_n, sizeof *tab);
	devs = calloc(N, sizeof *devs);
	lat = calloc(N * K, sizeof *lat);
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll_create1: %s", strerror(errno));
	if (!tab || !devs || !lat)
		die("out of memory");
	uint64_t g0 = now_ns();
	for (size_t i = 0; i < N; i++) {
		struct dev *d = &devs[i];
		const char *eps[] = { gw_url }, *rks[] = { gwkey };
		struct dc_did_new_opts o = { .method = DC_DID_PEER2, .endpoints = eps, .n_endpoints = 1,
			                     .routing_keys = rks, .n_routing_keys = 1 };
		/* the device's secrets are not needed here (its messages are told apart by their tags,
		 * not opened): a keystore of its own, freed at once, so that 10,000 devices do not
		 * hold 20,000 guarded secret allocations (mappings) at the same time */
		struct dc_keystore *dks = NULL;
		if (dc_keystore_new(&dks) || dc_did_new(&o, dks, &d->did, &ei))
			die("dc_did_new: %s", ei.msg);
		dc_keystore_free(dks);
		size_t tl = strlen(d->did) + 32;
		d->topic_in = malloc(tl);
		d->topic_dev = malloc(tl);
		d->btopic_in = malloc(tl);
		d->btopic_dev = malloc(tl);
		d->up = calloc(K, sizeof *d->up);
		d->down = calloc(K, sizeof *d->down);
		if (!d->topic_in || !d->topic_dev || !d->btopic_in || !d->btopic_dev || !d->up || !d->down)
			die("out of memory");
		snprintf(d->topic_in, tl, "didcomm/in/dev%zu", i);
		snprintf(d->topic_dev, tl, "dev/%s/inbox", d->did);
		snprintf(d->btopic_in, tl, "benchin/dev%zu", i);
		snprintf(d->btopic_dev, tl, "bdev/%s/inbox", d->did);
		for (size_t k = 0; k < K; k++) {
			char id[64];
			snprintf(id, sizeof id, "u%zu-%zu", i, k);
			d->up[k] = make(ctx, bob, id, (uint32_t)i, (uint32_t)k, 0);
			snprintf(id, sizeof id, "d%zu-%zu", i, k);
			d->down[k] = make(ctx, d->did, id, (uint32_t)i, (uint32_t)k, 1);
		}
	}
	double gen_s = (double)(now_ns() - g0) / 1e9;

	mosquitto_lib_init();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	multi = curl_multi_init();
	curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)POSTERS);
	curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, curl_sock);
	curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, curl_timer);
	hdrs = curl_slist_append(NULL, "Content-Type: application/didcomm-encrypted+json");
	hdrs = curl_slist_append(hdrs, "Expect:");
	for (size_t i = 0; i < N; i++) {
		char id[32];
		snprintf(id, sizeof id, "bench-dev-%zu", i);
		devs[i].m = client(id, port, &devs[i]);
		mosquitto_message_callback_set(devs[i].m, on_dev_msg);
		char *const subs2[] = { devs[i].topic_dev, devs[i].btopic_dev };
		if (mosquitto_subscribe_multiple(devs[i].m, NULL, 2, subs2, 1, 0, NULL))
			die("subscribe");
		devs[i].fd = mosquitto_socket(devs[i].m);
		ep_set(EPOLL_CTL_ADD, devs[i].fd, EPOLLIN, ev_key(EV_DEV, (uint32_t)i));
		dev_flush(&devs[i]);
	}
	size_t subs = 0;
	uint64_t sd = now_ns() + 60000000000u;
	while (now_ns() < sd) {
		step(50);
		subs = 0;
		for (size_t i = 0; i < N; i++)
			subs += devs[i].subscribed;
		if (subs == N)
			break;
	}
	if (subs < N)
		die("only %zu of %zu devices subscribed", subs, N);
	printf("mqtt bench: %zu devices (one libmosquitto client each, one thread), %zu round trips each per phase,"
	       " one in flight per device; %zu envelopes made in %.1f s (body %d bytes, forwards of ~%zu bytes)\n",
	       N, K, N * K * 2, gen_s, BODY_BYTES, devs[0].up[0].n);

	/* the broker alone: one client answers up with down */
	echo = client("bench-echo", port, NULL);
	mosquitto_message_callback_set(echo, on_echo_msg);
	int emid = 0;
	if (mosquitto_subscribe(echo, &emid, "benchin/#", 1))
		die("echo subscribe");
	echo_fd = mosquitto_socket(echo);
	ep_set(EPOLL_CTL_ADD, echo_fd, EPOLLIN, ev_key(EV_ECHO, 0));
	mq_watch(echo, ev_key(EV_ECHO, 0), &echo_out);
	for (int i = 0; i < 20; i++)
		step(50); /* its SUBACK */
	struct fig b = run_phase("broker", port, wait_s);
	mosquitto_disconnect(echo);
	mosquitto_loop_write(echo, 1);
	ep_set(EPOLL_CTL_DEL, echo_fd, 0, 0);
	mosquitto_destroy(echo);
	echo = NULL;
	/* the gateway: the receiver answers what it gets by POSTing the device's down to the gateway */
	rx_listen(rport);
	struct fig g = run_phase("gateway", port, wait_s);
	if (post_fail)
		printf("  (%zu POSTs to the gateway failed and were sent again)\n", post_fail);
	if (b.rt_s > 0)
		printf("  gateway / broker alone: %.1f %% of the broker's round trips/s (goal >= 70 %%: %s);"
		       " p99 %.1f ms vs %.1f ms\n",
		       100.0 * g.rt_s / b.rt_s, g.rt_s >= 0.7 * b.rt_s ? "met" : "NOT met", g.p99, b.p99);
	fflush(stdout);
	return (b.done == N * K && g.done == N * K) ? 0 : 2;
}
