/* The listener's front door (see door.h). One uv_poll on the listening socket; each accepted
 * connection gets a uv_poll and a uv_timer until its head has been judged. The door peeks
 * (MSG_PEEK) into one buffer of its own and reads nothing: what it hands on still has every
 * byte in the socket for libwebsockets. While a head is incomplete, SO_RCVLOWAT makes the
 * next wake-up mean more bytes (no spinning on what was peeked already), and after
 * MAX_PEEKS looks the connection goes on unjudged (lws has bounds of its own). What the door
 * answers itself it answers with "Connection: close", then reads and drops what the peer
 * still sends for a moment (a close with unread data would reset the connection and lose the
 * answer), then closes. */
#define _GNU_SOURCE /* accept4 */
#include "door.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#define PEER_BUCKETS 4096 /* connections per peer address, by a hash of it */
#define FD_TRACK 65536    /* accepted descriptors remembered until their wsi claims them */
#define ACCEPTS_PER_PASS 64
#define PAUSE_MS 200      /* out of descriptors: listen again after this */
#define LINGER_MS 2000    /* after an answer of ours: drop the peer's rest this long at most */
#define LINGER_BYTES (256 * 1024)
#define MAX_PEEKS 8

struct gw_door {
	uv_loop_t *uv;
	int fd;
	uv_poll_t poll;
	uv_timer_t pause;
	int handles;       /* open: the door is freed when the last closes */
	bool closing;
	unsigned max_conns, per_peer, head_timeout_s;
	gw_door_adopt_fn *adopt;
	void *arg;
	size_t n_conns;
	unsigned peers[PEER_BUCKETS];
	uint16_t fd_bucket[FD_TRACK]; /* bucket + 1 of an accepted fd not claimed yet, or 0 */
	struct conn *conns;           /* those still at the door */
	char peek[GW_DOOR_MAX_HEAD + 1];
};

struct conn {
	struct conn *next, *prev;
	struct gw_door *d;
	int fd;
	unsigned bucket1;
	uv_poll_t poll;
	uv_timer_t timer;
	int handles;
	bool lingering;
	unsigned peeks;
	size_t seen;     /* bytes peeked last time */
	size_t dropped;
};

static size_t peer_bucket(const struct sockaddr_storage *ss)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a over the address, without the port */
	const uint8_t *p = NULL;
	size_t n = 0;
	if (ss->ss_family == AF_INET) {
		p = (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
		n = 4;
	} else if (ss->ss_family == AF_INET6) {
		p = (const uint8_t *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
		n = 16;
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return (size_t)(h % PEER_BUCKETS);
}

void gw_door_release(struct gw_door *d, unsigned bucket1)
{
	if (!d || !bucket1 || bucket1 > PEER_BUCKETS)
		return;
	d->peers[bucket1 - 1] -= d->peers[bucket1 - 1] > 0;
	d->n_conns -= d->n_conns > 0;
}

unsigned gw_door_claim(struct gw_door *d, int fd)
{
	if (!d || fd < 0 || fd >= FD_TRACK)
		return 0;
	unsigned b = d->fd_bucket[fd];
	d->fd_bucket[fd] = 0;
	return b;
}

/* ---- the head -------------------------------------------------------------------------- */

int gw_door_judge(const char *buf, size_t len, bool *more)
{
	*more = false;
	size_t scan = len < GW_DOOR_MAX_LINE + 2 ? len : GW_DOOR_MAX_LINE + 2;
	const char *nl = memchr(buf, '\n', scan);
	if (!nl) {
		if (len > GW_DOOR_MAX_LINE + 1)
			return 414;
		*more = true;
		return 0;
	}
	if ((size_t)(nl - buf) > GW_DOOR_MAX_LINE)
		return 414;
	size_t lines = 0;
	for (const char *p = nl + 1, *end = buf + len; p < end;) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		if (!e)
			break; /* a line still arriving */
		size_t n = (size_t)(e - p);
		if (n == 0 || (n == 1 && p[0] == '\r'))
			return 0; /* the empty line: the head is whole */
		if (++lines > GW_DOOR_MAX_HEADERS)
			return 431;
		p = e + 1;
	}
	if (len > GW_DOOR_MAX_HEAD)
		return 431;
	*more = true;
	return 0;
}

/* ---- connections at the door ----------------------------------------------------------- */

static void conn_handle_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	if (--c->handles > 0)
		return;
	struct gw_door *d = c->d;
	free(c);
	if (--d->handles == 0)
		free(d);
}

/* off the door's list and its handles closed; close_fd: the socket too (else it was handed on) */
static void conn_end(struct conn *c, bool close_fd)
{
	struct gw_door *d = c->d;
	if (c->prev)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
	/* uv_close stops the poll at once (its epoll entry goes now): the fd is free to hand on */
	uv_close((uv_handle_t *)&c->poll, conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
	if (close_fd) {
		if (c->fd >= 0 && c->fd < FD_TRACK && d->fd_bucket[c->fd] == c->bucket1)
			d->fd_bucket[c->fd] = 0;
		gw_door_release(d, c->bucket1);
		close(c->fd);
	}
	c->fd = -1;
}

static void on_linger_timeout(uv_timer_t *t)
{
	conn_end(t->data, true);
}

static void answer(struct conn *c, int status)
{
	const char *why = status == 408   ? "Request Timeout"
	                  : status == 414 ? "URI Too Long"
	                  : status == 431 ? "Request Header Fields Too Large"
	                  : status == 503 ? "Service Unavailable"
	                                  : "Bad Request";
	char r[256];
	int n = snprintf(r, sizeof r,
	                 "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
	                 status, why, strlen(why) + 1, why);
	/* a fresh socket's send buffer takes this whole; if not, the peer gets what fits */
	ssize_t w = send(c->fd, r, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)w;
	shutdown(c->fd, SHUT_WR);
	c->lingering = true;
	int one = 1;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
	uv_timer_stop(&c->timer);
	uv_timer_start(&c->timer, on_linger_timeout, LINGER_MS, 0);
}

static void hand_on(struct conn *c)
{
	int fd = c->fd;
	struct gw_door *d = c->d;
	int one = 1;
	if (c->peeks > 1)
		setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
	conn_end(c, false); /* the poll is off the fd before lws puts its own on it */
	/* the socket is the callback's from here (its count stays in fd_bucket until claimed, or
	 * until the descriptor comes back from accept) */
	d->adopt(d->arg, fd);
}

static void on_conn(uv_poll_t *p, int status, int events)
{
	struct conn *c = p->data;
	(void)events;
	if (c->lingering) {
		char junk[16384];
		ssize_t n;
		while ((n = recv(c->fd, junk, sizeof junk, MSG_DONTWAIT)) > 0)
			if ((c->dropped += (size_t)n) > LINGER_BYTES)
				break;
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ||
		    c->dropped > LINGER_BYTES || status < 0)
			conn_end(c, true);
		return;
	}
	if (status < 0) {
		conn_end(c, true);
		return;
	}
	struct gw_door *d = c->d;
	ssize_t n = recv(c->fd, d->peek, sizeof d->peek, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0) {
		conn_end(c, true); /* gone before its head was whole */
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			conn_end(c, true);
		return;
	}
	c->seen = (size_t)n;
	bool more = false;
	int r = gw_door_judge(d->peek, (size_t)n, &more);
	if (r >= 400) {
		answer(c, r);
		return;
	}
	if (!more || ++c->peeks >= MAX_PEEKS) {
		hand_on(c);
		return;
	}
	/* wake up again when there is more than what was seen */
	int low = (int)n + 1;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &low, sizeof low);
}

static void on_head_timeout(uv_timer_t *t)
{
	struct conn *c = t->data;
	if (c->seen)
		answer(c, 408);
	else
		conn_end(c, true); /* said nothing: nothing to answer */
}

static void on_pause_end(uv_timer_t *t);

static void on_listen(uv_poll_t *p, int status, int events)
{
	struct gw_door *d = p->data;
	(void)status;
	(void)events;
	for (int i = 0; i < ACCEPTS_PER_PASS; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		int fd = accept4(d->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* out of descriptors: stop accepting for a moment instead of spinning on it */
				uv_poll_stop(&d->poll);
				uv_timer_start(&d->pause, on_pause_end, PAUSE_MS, 0);
			}
			return; /* EAGAIN, or a connection that went before we took it */
		}
		if (fd < FD_TRACK && d->fd_bucket[fd]) {
			/* that descriptor's earlier connection ended before its wsi claimed it */
			gw_door_release(d, d->fd_bucket[fd]);
			d->fd_bucket[fd] = 0;
		}
		size_t b = peer_bucket(&ss);
		if (d->n_conns >= d->max_conns || d->peers[b] >= d->per_peer || d->closing) {
			close(fd); /* hung up at once: the listener stays responsive for the others */
			continue;
		}
		struct conn *c = calloc(1, sizeof *c);
		if (!c) {
			close(fd);
			continue;
		}
		/* what lws would set on a socket it accepted itself: answers go out at once, and
		 * idle WebSocket connections are probed */
		int one = 1, idle = 60, intvl = 10, cnt = 3;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
		setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
		c->d = d;
		c->fd = fd;
		c->bucket1 = (unsigned)b + 1;
		if (uv_poll_init(d->uv, &c->poll, fd) != 0) {
			free(c);
			close(fd);
			continue;
		}
		uv_timer_init(d->uv, &c->timer);
		c->poll.data = c->timer.data = c;
		c->handles = 2;
		d->handles++;
		d->peers[b]++;
		d->n_conns++;
		if (fd < FD_TRACK)
			d->fd_bucket[fd] = (uint16_t)(b + 1);
		c->next = d->conns;
		if (d->conns)
			d->conns->prev = c;
		d->conns = c;
		uv_poll_start(&c->poll, UV_READABLE, on_conn);
		uv_timer_start(&c->timer, on_head_timeout, (uint64_t)d->head_timeout_s * 1000, 0);
	}
}

static void on_pause_end(uv_timer_t *t)
{
	struct gw_door *d = t->data;
	if (!d->closing)
		uv_poll_start(&d->poll, UV_READABLE, on_listen);
}

static void door_handle_closed(uv_handle_t *h)
{
	struct gw_door *d = h->data;
	if (--d->handles == 0)
		free(d);
}

dc_err gw_door_open(uv_loop_t *uv, const char *host, int port, unsigned max_conns, unsigned per_peer,
                    unsigned head_timeout_s, gw_door_adopt_fn *adopt, void *arg, struct gw_door **out, int *bound,
                    struct dc_errinfo *ei)
{
	*out = NULL;
	*bound = 0;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return dc_errinfo_set(ei, DC_ERR_INVAL, "listen %s:%d: want an IPv4 address and a port", host, port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 1024) != 0) {
		char e[128];
		snprintf(e, sizeof e, "%s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return dc_errinfo_set(ei, DC_ERR_IO, "cannot listen on %s:%d: %s", host, port, e);
	}
	socklen_t sl = sizeof sa;
	if (getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
		close(fd);
		return dc_errinfo_set(ei, DC_ERR_IO, "cannot listen on %s:%d: no port bound", host, port);
	}
	struct gw_door *d = calloc(1, sizeof *d);
	if (!d) {
		close(fd);
		return DC_ERR_NOMEM;
	}
	d->uv = uv;
	d->fd = fd;
	d->max_conns = max_conns ? max_conns : 1024;
	d->per_peer = per_peer ? per_peer : d->max_conns;
	d->head_timeout_s = head_timeout_s ? head_timeout_s : 20;
	d->adopt = adopt;
	d->arg = arg;
	if (uv_poll_init(uv, &d->poll, fd) != 0) {
		close(fd);
		free(d);
		return dc_errinfo_set(ei, DC_ERR_IO, "cannot watch the listener on %s:%d", host, port);
	}
	uv_timer_init(uv, &d->pause);
	d->poll.data = d->pause.data = d;
	d->handles = 2;
	uv_poll_start(&d->poll, UV_READABLE, on_listen);
	*bound = ntohs(sa.sin_port);
	*out = d;
	return DC_OK;
}

void gw_door_close(struct gw_door *d)
{
	if (!d || d->closing)
		return;
	d->closing = true;
	while (d->conns)
		conn_end(d->conns, true);
	uv_close((uv_handle_t *)&d->poll, door_handle_closed);
	uv_close((uv_handle_t *)&d->pause, door_handle_closed);
	close(d->fd);
	d->fd = -1;
}
