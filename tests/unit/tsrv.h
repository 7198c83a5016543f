/* A tiny TCP server on 127.0.0.1 for the unit tests, in a thread of its own:
 *   TSRV_HTTP    answers every request with `status` and `body` (a path with "missing" in it:
 *                404), after delay_ms; one connection at a time, then closes it;
 *   TSRV_TARPIT  accepts and reads, never answers; closes what the client closes. */
#ifndef TSRV_H
#define TSRV_H
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

enum tsrv_mode { TSRV_HTTP, TSRV_TARPIT };
#define TSRV_MAX_HELD 64

struct tsrv {
	enum tsrv_mode mode;
	const char *body;
	unsigned delay_ms;
	uint16_t port;
	atomic_int accepted, requests, open, max_open;
	/* internal */
	int fd, stop_pipe[2], held[TSRV_MAX_HELD];
	pthread_t th;
};

/* 0, or -1 (no socket / thread) */
int tsrv_start(struct tsrv *s, enum tsrv_mode mode, const char *body);
void tsrv_stop(struct tsrv *s);
#endif
