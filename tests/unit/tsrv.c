/* A tiny TCP server on 127.0.0.1 for the unit tests (see tsrv.h). */
#include "tsrv.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void http_one(struct tsrv *s, int c)
{
	char req[4096];
	size_t n = 0;
	while (n < sizeof req - 1) {
		struct pollfd p = { c, POLLIN, 0 };
		if (poll(&p, 1, 2000) <= 0)
			break;
		ssize_t r = read(c, req + n, sizeof req - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		req[n] = 0;
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	req[n] = 0;
	atomic_fetch_add(&s->requests, 1);
	if (s->delay_ms)
		sleep_ms(s->delay_ms);
	char *eol = strstr(req, "\r\n");
	if (eol)
		*eol = 0;
	bool missing = strstr(req, "missing") != NULL;
	const char *body = missing ? "not here" : s->body ? s->body : "";
	char head[256];
	int hl = snprintf(head, sizeof head, "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
	                  "Connection: close\r\n\r\n", missing ? "404 Not Found" : "200 OK", strlen(body));
	if (write(c, head, (size_t)hl) != hl || write(c, body, strlen(body)) < 0) {
		/* the client went away: nothing to do */
	}
}

static void held_close(struct tsrv *s, int i)
{
	close(s->held[i]);
	s->held[i] = -1;
	atomic_fetch_sub(&s->open, 1);
}

static void *main_fn(void *arg)
{
	struct tsrv *s = arg;
	for (;;) {
		struct pollfd p[2 + TSRV_MAX_HELD];
		int np = 0;
		p[np++] = (struct pollfd){ s->stop_pipe[0], POLLIN, 0 };
		p[np++] = (struct pollfd){ s->fd, POLLIN, 0 };
		int idx[TSRV_MAX_HELD];
		for (int i = 0; i < TSRV_MAX_HELD; i++)
			if (s->held[i] >= 0) {
				idx[np - 2] = i;
				p[np++] = (struct pollfd){ s->held[i], POLLIN, 0 };
			}
		if (poll(p, (nfds_t)np, 1000) < 0)
			continue;
		if (p[0].revents)
			break;
		for (int k = 2; k < np; k++) {
			if (!p[k].revents)
				continue;
			char buf[1024];
			if (read(p[k].fd, buf, sizeof buf) <= 0) /* the client gave up */
				held_close(s, idx[k - 2]);
		}
		if (!(p[1].revents & POLLIN))
			continue;
		int c = accept(s->fd, NULL, NULL);
		if (c < 0)
			continue;
		atomic_fetch_add(&s->accepted, 1);
		int o = atomic_fetch_add(&s->open, 1) + 1;
		int m = atomic_load(&s->max_open);
		while (o > m && !atomic_compare_exchange_weak(&s->max_open, &m, o))
			;
		if (s->mode == TSRV_HTTP) {
			http_one(s, c);
			close(c);
			atomic_fetch_sub(&s->open, 1);
			continue;
		}
		int i = 0;
		while (i < TSRV_MAX_HELD && s->held[i] >= 0)
			i++;
		if (i == TSRV_MAX_HELD) {
			close(c);
			atomic_fetch_sub(&s->open, 1);
		} else {
			s->held[i] = c;
		}
	}
	for (int i = 0; i < TSRV_MAX_HELD; i++)
		if (s->held[i] >= 0)
			held_close(s, i);
	return NULL;
}

int tsrv_start(struct tsrv *s, enum tsrv_mode mode, const char *body)
{
	unsigned delay = s->delay_ms;
	memset(s, 0, sizeof *s);
	s->delay_ms = delay;
	s->mode = mode;
	s->body = body;
	for (int i = 0; i < TSRV_MAX_HELD; i++)
		s->held[i] = -1;
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof a;
	if (bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->fd, 64) != 0 ||
	    getsockname(s->fd, (struct sockaddr *)&a, &al) != 0 || pipe(s->stop_pipe) != 0) {
		close(s->fd);
		return -1;
	}
	s->port = ntohs(a.sin_port);
	if (pthread_create(&s->th, NULL, main_fn, s) != 0) {
		close(s->fd);
		close(s->stop_pipe[0]);
		close(s->stop_pipe[1]);
		return -1;
	}
	return 0;
}

void tsrv_stop(struct tsrv *s)
{
	if (write(s->stop_pipe[1], "x", 1) != 1) {
		/* a pipe with room: cannot fail */
	}
	pthread_join(s->th, NULL);
	close(s->fd);
	close(s->stop_pipe[0]);
	close(s->stop_pipe[1]);
}
