/* The event loop (see loop.h): libuv (epoll) under libwebsockets, one thread. The uv loop is
 * ours, lent to lws as a foreign loop, so that gw_loop_service can run it one pass at a time.
 * Closures posted from other threads go on a locked list; a uv_async_t wakes the loop, which
 * runs them. lws gets one client vhost (outbound connections) and, when an adapter asks for
 * it, one listener vhost; both carry the protocols every adapter declares. */
#include "loop.h"
#include "door.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <uv.h> /* before libwebsockets.h: declares its libuv helpers */
#include <libwebsockets.h>

#define MAX_PROTOCOLS 16

struct post {
	struct post *next;
	gw_loop_fn *fn;
	void *arg;
};

struct gw_loop {
	uv_loop_t uv;        /* ours, lent to lws as a foreign loop */
	bool uv_ok;
	uv_async_t wake;     /* posts and signals */
	bool wake_ok;
	struct lws_context *ctx;
	struct lws_vhost *client_vh, *listen_vh;
	struct lws_protocols protocols[MAX_PROTOCOLS + 1];
	struct lws_protocol_vhost_options pvo;
	pthread_mutex_t mu;
	struct post *head, *tail;
	volatile int draining;
	int port;
	char iface[300];
	/* the listener (loop thread): the door accepts, counts and judges heads; lws serves */
	struct gw_door *door;
	lws_callback_function *proto0;  /* protocols[0]'s own callback, behind conn_cb */
	lws_callback_function *ws_cb;   /* the default WebSocket protocol's, behind ws_cb_front */
	struct lws_protocols *renamed;  /* the didcomm-v2 alias while it answers as didcomm/v2 */
};

struct gw_watch {
	uv_poll_t p;
	gw_fd_fn *fn;
	void *arg;
	int fd;
	unsigned events; /* what is being watched: an unchanged set costs no epoll_ctl */
	bool set;
};

struct gw_timer {
	uv_timer_t t;
	gw_host_fn *fn;
	void *arg;
};

/* WebSocket clients that name no subprotocol get the protocol marked "default" (else lws
 * binds them to the first, HTTP) */
static const struct lws_protocol_vhost_options pvo_default = { NULL, NULL, "default", "1" };

/* An accepted connection's count (door.c) moves to its wsi: tagged in the wsi's opaque user
 * data as an odd number (client connections keep an adapter's pointer there, even), given back
 * when the wsi goes. */
static void conn_track(struct gw_loop *l, struct lws *wsi, enum lws_callback_reasons reason)
{
	if ((reason == LWS_CALLBACK_HTTP_BIND_PROTOCOL || reason == LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED ||
	     reason == LWS_CALLBACK_WS_SERVER_BIND_PROTOCOL) &&
	    !lws_get_opaque_user_data(wsi)) {
		unsigned b1 = gw_door_claim(l->door, lws_get_socket_fd(wsi));
		if (b1)
			lws_set_opaque_user_data(wsi, (void *)(uintptr_t)(((uintptr_t)b1 << 1) | 1));
	} else if (reason == LWS_CALLBACK_WSI_DESTROY) {
		uintptr_t tag = (uintptr_t)lws_get_opaque_user_data(wsi);
		if (tag & 1) {
			gw_door_release(l->door, (unsigned)(tag >> 1));
			lws_set_opaque_user_data(wsi, NULL);
		}
	}
}

/* The didcomm/v2 WebSocket subprotocol on libwebsockets 4.1, whose subprotocol tokenizer
 * cannot read a '/': it reads "didcomm/v2" as the token "didcomm" and stops there when a
 * protocol of that name matches. That is an alias of the WebSocket protocol, which answers to
 * "didcomm/v2" from its binding (FILTER_PROTOCOL_CONNECTION) to the handshake's end
 * (ADD_HEADERS), so that the 101 names what the client asked for. The WebSocket adapter has
 * already refused lists that do not offer didcomm/v2 itself. One loop thread: nothing else
 * matches protocol names in between. */
#define WS_ALIAS "didcomm"
#define WS_SUBPROTOCOL "didcomm/v2"

static void unrename(struct gw_loop *l)
{
	if (l->renamed) {
		l->renamed->name = WS_ALIAS;
		l->renamed = NULL;
	}
}

/* An upgrade request, before any adapter sees it. 0: allowed here (stop); 1: go on to the
 * adapters; < 0: hang up. "Upgrade: h2c" is ignored: the value is spoilt in place, so that
 * lws 4.1 (which would answer 101 itself) serves the request as the HTTP/1.1 it also is. */
static int upgrade_front(struct gw_loop *l, struct lws *wsi, void *in, size_t len)
{
	(void)len;
	unrename(l);
	char *up = in;
	if (strcasecmp(up, "h2c") == 0) {
		up[0] = '-';
		return 0;
	}
	if (strcasecmp(up, "websocket") != 0)
		return 1;
	/* the WebSocket adapter decides on its own handshakes (which subprotocols) */
	if (l->ws_cb) {
		int r = l->ws_cb(wsi, LWS_CALLBACK_HTTP_CONFIRM_UPGRADE, NULL, in, len);
		if (r)
			return r;
	}
	return 1;
}

/* In front of the WebSocket protocol and its alias */
static int ws_cb_front(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct lws_context *ctx = lws_get_context(wsi);
	struct gw_loop *l = ctx ? lws_context_user(ctx) : NULL;
	if (!l || !l->ws_cb)
		return 0;
	if (reason == LWS_CALLBACK_HTTP_CONFIRM_UPGRADE && in) {
		int r = upgrade_front(l, wsi, in, len);
		return r <= 0 ? r : 0; /* the adapter has had its say */
	}
	if (reason == LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION) {
		struct lws_protocols *p = (struct lws_protocols *)lws_get_protocol(wsi);
		if (p && p->name && strcmp(p->name, WS_ALIAS) == 0) {
			p->name = WS_SUBPROTOCOL; /* the handshake's answer names it */
			l->renamed = p;
		}
		int r = l->ws_cb(wsi, reason, user, in, len);
		if (r)
			unrename(l);
		return r;
	}
	if (reason == LWS_CALLBACK_ADD_HEADERS || reason == LWS_CALLBACK_ESTABLISHED ||
	    reason == LWS_CALLBACK_WSI_DESTROY)
		unrename(l);
	if (l->door)
		conn_track(l, wsi, reason); /* adopted connections bound to it first, and their end */
	return l->ws_cb(wsi, reason, user, in, len);
}

/* In front of protocols[0], which lws gives every adopted connection, HTTP binding and end */
static int conn_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct lws_context *ctx = lws_get_context(wsi);
	struct gw_loop *l = ctx ? lws_context_user(ctx) : NULL;
	if (l && l->door)
		conn_track(l, wsi, reason);
	if (l && reason == LWS_CALLBACK_HTTP_CONFIRM_UPGRADE && in) {
		int r = upgrade_front(l, wsi, in, len);
		if (r <= 0)
			return r;
	}
	return l && l->proto0 ? l->proto0(wsi, reason, user, in, len) : lws_callback_http_dummy(wsi, reason, user, in, len);
}

static void door_adopt(void *arg, int fd)
{
	struct gw_loop *l = arg;
	/* lws owns the descriptor from here: it closes it itself if it cannot take it */
	(void)lws_adopt_socket_vhost(l->listen_vh, fd);
}

static void on_wake(uv_async_t *a)
{
	gw_loop_run_posted(a->data);
}

dc_err gw_loop_new(struct gw_adapter *const *ads, struct gw_loop **out, struct dc_errinfo *ei)
{
	*out = NULL;
	struct gw_loop *l = calloc(1, sizeof *l);
	if (!l)
		return DC_ERR_NOMEM;
	pthread_mutex_init(&l->mu, NULL);
	if (uv_loop_init(&l->uv) != 0) {
		gw_loop_free(l);
		return dc_errinfo_set(ei, DC_ERR_NOMEM, "cannot create the event loop");
	}
	l->uv_ok = true;
	if (uv_async_init(&l->uv, &l->wake, on_wake) != 0) {
		gw_loop_free(l);
		return dc_errinfo_set(ei, DC_ERR_NOMEM, "cannot create the event loop's wake-up");
	}
	l->wake.data = l;
	l->wake_ok = true;
	/* every adapter's protocols; the first is the listener's HTTP handler */
	size_t n = 0;
	for (size_t a = 0; gw_adapters[a]; a++)
		for (const struct lws_protocols *p = gw_adapters[a]->lws_protocols; ads[a] && p && p->name && n < MAX_PROTOCOLS;
		     p++) {
			l->protocols[n] = *p;
			l->protocols[n++].user = ads[a];
		}
	if (n == 0) /* lws wants one protocol at least */
		l->protocols[n++] = (struct lws_protocols){ "http", lws_callback_http_dummy, 0, 0, 0, NULL, 0 };
	l->proto0 = l->protocols[0].callback;
	l->protocols[0].callback = conn_cb;
	for (size_t i = 1; i < n; i++)
		if (l->protocols[i].id == GW_LWS_DEFAULT_WS) {
			l->ws_cb = l->protocols[i].callback;
			l->protocols[i].callback = ws_cb_front;
			if (n < MAX_PROTOCOLS) { /* the alias that takes didcomm/v2 requests */
				l->protocols[n] = l->protocols[i];
				l->protocols[n].name = WS_ALIAS;
				l->protocols[n++].id = 0;
			}
			break;
		}
	void *foreign[1] = { &l->uv };
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = l->protocols;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE |
	               LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_LIBUV |
	               LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.user = l;
	/* the door answers longer request lines (414) and heads (431) itself */
	info.max_http_header_data2 = GW_DOOR_MAX_HEAD + 4096;
	info.max_http_header_pool2 = 64;
	info.foreign_loops = foreign;
	info.pcontext = &l->ctx;
	lws_set_log_level(LLL_ERR, NULL);
	l->ctx = lws_create_context(&info);
	if (!l->ctx) {
		gw_loop_free(l);
		return dc_errinfo_set(ei, DC_ERR_NOMEM, "cannot create the libwebsockets context");
	}
	info.vhost_name = "client";
	if (!(l->client_vh = lws_create_vhost(l->ctx, &info))) {
		gw_loop_free(l);
		return dc_errinfo_set(ei, DC_ERR_NOMEM, "cannot create the client vhost");
	}
	*out = l;
	return DC_OK;
}

dc_err gw_loop_listen(struct gw_loop *l, const struct gw_listen *ln, int *port, struct dc_errinfo *ei)
{
	const char *hostport = ln->hostport;
	*port = 0;
	if (l->listen_vh)
		return dc_errinfo_set(ei, DC_ERR_INVAL, "listen %s: the listener is open already", hostport);
	snprintf(l->iface, sizeof l->iface, "%s", hostport);
	char *colon = strrchr(l->iface, ':');
	if (!colon)
		return dc_errinfo_set(ei, DC_ERR_INVAL, "listen %s: no port", hostport);
	*colon = 0;
	char *end = NULL;
	long p = strtol(colon + 1, &end, 10);
	if (!end || *end || p < 0 || p > 65535)
		return dc_errinfo_set(ei, DC_ERR_INVAL, "listen %s: bad port", hostport);
	const char *host = strcmp(l->iface, "localhost") == 0 ? "127.0.0.1" : l->iface;
	struct in_addr probe;
	if (inet_pton(AF_INET, host, &probe) != 1)
		return dc_errinfo_set(ei, DC_ERR_INVAL, "listen %s: want an IPv4 address and a port", hostport);
	/* lws serves the connections the door hands it; it listens on nothing itself */
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = l->protocols;
	info.pvo = NULL;
	info.vhost_name = "didcomm-gateway";
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE;
	info.timeout_secs = 30;
	/* the protocol marked default takes WebSocket upgrades that name no subprotocol */
	for (size_t i = 0; l->protocols[i].name; i++)
		if (l->protocols[i].id == GW_LWS_DEFAULT_WS) {
			l->pvo = (struct lws_protocol_vhost_options){ NULL, &pvo_default, l->protocols[i].name, "" };
			info.pvo = &l->pvo;
			break;
		}
	l->listen_vh = lws_create_vhost(l->ctx, &info);
	if (!l->listen_vh)
		return dc_errinfo_set(ei, DC_ERR_IO, "cannot listen on %s: no vhost", hostport);
	dc_err e = gw_door_open(&l->uv, host, (int)p, ln->max_connections, ln->per_peer, 20, door_adopt, l, &l->door,
	                        &l->port, ei);
	if (e != DC_OK) {
		l->listen_vh = NULL; /* freed with the context */
		return e;
	}
	*port = l->port;
	return DC_OK;
}

bool gw_loop_listen_addr(const struct gw_loop *l, char *host, size_t n, int *port)
{
	if (!l->listen_vh)
		return false;
	snprintf(host, n, "%s", strcmp(l->iface, "localhost") == 0 ? "127.0.0.1" : l->iface);
	*port = l->port;
	return true;
}

static void close_handle(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

void gw_loop_free(struct gw_loop *l)
{
	if (!l)
		return;
	if (l->door) { /* its handles go first too; connections it counted end without it */
		gw_door_close(l->door);
		l->door = NULL;
	}
	if (l->wake_ok) { /* first: lws's handles must be the last ones for its destroy to finish */
		uv_close((uv_handle_t *)&l->wake, NULL);
		l->wake_ok = false;
	}
	if (l->ctx) {
		/* on a foreign loop lws closes everything through the loop and frees the context at
		 * the end, setting l->ctx to NULL (info.pcontext): keep the loop turning until then */
		lws_context_destroy(l->ctx);
		for (int i = 0; l->ctx && l->uv_ok && i < 2000; i++) {
			if (uv_run(&l->uv, UV_RUN_NOWAIT) != 0)
				continue;
			/* every handle closed: lws 4.1 finishes a foreign-loop destroy on the next call */
			lws_context_destroy(l->ctx);
			if (l->ctx)
				usleep(1000);
		}
	}
	if (l->uv_ok) {
		uv_run(&l->uv, UV_RUN_NOWAIT);
		if (uv_loop_close(&l->uv) == UV_EBUSY) {
			uv_walk(&l->uv, close_handle, NULL);
			uv_run(&l->uv, UV_RUN_DEFAULT);
			uv_loop_close(&l->uv);
		}
	}
	/* closures never run: their owners are gone with the loop */
	for (struct post *p = l->head, *n; p; p = n) {
		n = p->next;
		free(p);
	}
	pthread_mutex_destroy(&l->mu);
	free(l);
}

void gw_loop_service(struct gw_loop *l)
{
	uv_run(&l->uv, UV_RUN_ONCE); /* waits for I/O, a timer or a wake-up, handles it, returns */
}

dc_err gw_loop_post(struct gw_loop *l, gw_loop_fn *fn, void *arg)
{
	struct post *p = malloc(sizeof *p);
	if (!p)
		return DC_ERR_NOMEM;
	*p = (struct post){ .fn = fn, .arg = arg };
	pthread_mutex_lock(&l->mu);
	bool was_empty = !l->head; /* else a wake-up is on its way already */
	if (l->tail)
		l->tail->next = p;
	else
		l->head = p;
	l->tail = p;
	pthread_mutex_unlock(&l->mu);
	if (was_empty)
		uv_async_send(&l->wake);
	return DC_OK;
}

void gw_loop_wake(struct gw_loop *l)
{
	if (l && l->wake_ok)
		uv_async_send(&l->wake); /* async-signal-safe */
}

void gw_loop_run_posted(struct gw_loop *l)
{
	pthread_mutex_lock(&l->mu);
	struct post *p = l->head;
	l->head = l->tail = NULL;
	pthread_mutex_unlock(&l->mu);
	while (p) {
		struct post *n = p->next;
		p->fn(p->arg);
		free(p);
		p = n;
	}
}

void gw_loop_set_draining(struct gw_loop *l, bool on)
{
	__atomic_store_n(&l->draining, on ? 1 : 0, __ATOMIC_RELEASE);
}

bool gw_loop_draining(const struct gw_loop *l)
{
	return __atomic_load_n(&l->draining, __ATOMIC_ACQUIRE) != 0;
}

struct lws_context *gw_loop_lws(const struct gw_loop *l)
{
	return l->ctx;
}

/* ---- fd watches and timers --------------------------------------------------------------- */
static void on_poll(uv_poll_t *p, int status, int events)
{
	struct gw_watch *w = p->data;
	unsigned ev = 0;
	if (status < 0)
		w->set = false; /* libuv stopped the watch itself (POLLERR): the next set starts it again */
	if (status < 0 || (events & UV_READABLE))
		ev |= GW_FD_READ;
	if (events & UV_WRITABLE)
		ev |= GW_FD_WRITE;
	w->fn(w->arg, w->fd, ev);
}

static int uv_events(unsigned events)
{
	return ((events & GW_FD_READ) ? UV_READABLE : 0) | ((events & GW_FD_WRITE) ? UV_WRITABLE : 0);
}

dc_err gw_loop_watch(struct gw_loop *l, int fd, unsigned events, gw_fd_fn *fn, void *arg, struct gw_watch **out)
{
	*out = NULL;
	struct gw_watch *w = calloc(1, sizeof *w);
	if (!w)
		return DC_ERR_NOMEM;
	if (uv_poll_init(&l->uv, &w->p, fd) != 0) {
		free(w);
		return DC_ERR_IO;
	}
	w->p.data = w;
	w->fn = fn;
	w->arg = arg;
	w->fd = fd;
	gw_loop_watch_set(w, events);
	*out = w;
	return DC_OK;
}

void gw_loop_watch_set(struct gw_watch *w, unsigned events)
{
	/* libuv re-registers the fd on every uv_poll_start, even with the same events (one or
	 * two epoll_ctl calls): adapters set their watch after every event, mostly unchanged */
	if (w->set && w->events == events)
		return;
	w->set = true;
	w->events = events;
	if (events)
		uv_poll_start(&w->p, uv_events(events), on_poll);
	else
		uv_poll_stop(&w->p);
}

static void free_handle(uv_handle_t *h)
{
	free(h->data);
}

void gw_loop_watch_close(struct gw_watch *w)
{
	if (!w)
		return;
	uv_poll_stop(&w->p);
	uv_close((uv_handle_t *)&w->p, free_handle);
}

static void on_timer(uv_timer_t *t)
{
	struct gw_timer *g = t->data;
	g->fn(g->arg);
}

dc_err gw_loop_timer(struct gw_loop *l, uint64_t after_ms, uint64_t repeat_ms, gw_host_fn *fn, void *arg,
                     struct gw_timer **out)
{
	*out = NULL;
	struct gw_timer *g = calloc(1, sizeof *g);
	if (!g)
		return DC_ERR_NOMEM;
	if (uv_timer_init(&l->uv, &g->t) != 0) {
		free(g);
		return DC_ERR_NOMEM;
	}
	g->t.data = g;
	g->fn = fn;
	g->arg = arg;
	uv_timer_start(&g->t, on_timer, after_ms, repeat_ms);
	*out = g;
	return DC_OK;
}

void gw_loop_timer_stop(struct gw_timer *t)
{
	if (!t)
		return;
	uv_timer_stop(&t->t);
	uv_close((uv_handle_t *)&t->t, free_handle);
}
