/* The event loop (see loop.h): libuv (epoll) under libwebsockets, one thread. The uv loop is
 * ours, lent to lws as a foreign loop, so that gw_loop_service can run it one pass at a time.
 * Closures posted from other threads go on a locked list; lws_cancel_service wakes the loop,
 * which runs them from LWS_CALLBACK_EVENT_WAIT_CANCELLED. */
#include "loop.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h> /* before libwebsockets.h: declares its libuv helpers */

#include "lws_glue.h"

struct post {
	struct post *next;
	gw_loop_fn *fn;
	void *arg;
};

struct gw_loop {
	uv_loop_t uv;        /* ours, lent to lws as a foreign loop */
	bool uv_ok;
	struct lws_context *ctx;
	struct lws_vhost *vh;
	struct gw_ingest *in;
	const struct gw_conf *conf;
	pthread_mutex_t mu;
	struct post *head, *tail;
	bool draining;
	int port;
	char iface[300];
};

static const struct lws_protocols protocols[] = {
	{ "http", gw_http_server_cb, sizeof(void *), 0, 0, NULL, 0 },
	{ "didcomm", gw_ws_server_cb, sizeof(void *), GW_WS_RX_CHUNK, 0, NULL, 0 },
	{ "didcomm-client", gw_ws_client_cb, 0, GW_WS_RX_CHUNK, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};
/* WebSocket clients that name no subprotocol get "didcomm" (else lws binds them to "http") */
static const struct lws_protocol_vhost_options pvo_default = { NULL, NULL, "default", "1" };
static const struct lws_protocol_vhost_options pvo = { NULL, &pvo_default, "didcomm", "" };

dc_err gw_loop_new(const struct gw_conf *conf, struct gw_ingest *in, struct gw_loop **out, char *why, size_t why_len)
{
	*out = NULL;
	struct gw_loop *l = calloc(1, sizeof *l);
	if (!l)
		return DC_ERR_NOMEM;
	l->conf = conf;
	l->in = in;
	pthread_mutex_init(&l->mu, NULL);
	if (uv_loop_init(&l->uv) != 0) {
		snprintf(why, why_len, "cannot create the event loop");
		gw_loop_free(l);
		return DC_ERR_NOMEM;
	}
	l->uv_ok = true;
	void *foreign[1] = { &l->uv };
	int port = CONTEXT_PORT_NO_LISTEN;
	if (conf->http_enabled) {
		snprintf(l->iface, sizeof l->iface, "%s", conf->http_listen);
		char *colon = strrchr(l->iface, ':');
		if (!colon) {
			snprintf(why, why_len, "listen %s: no port", conf->http_listen);
			gw_loop_free(l);
			return DC_ERR_INVAL;
		}
		*colon = 0;
		port = (int)strtol(colon + 1, NULL, 10); /* 0..65535, checked by the config table */
	}
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = port;
	info.iface = conf->http_enabled ? l->iface : NULL;
	info.protocols = protocols;
	info.pvo = conf->ws_enabled ? &pvo : NULL;
	/* libuv under lws: epoll, so the cost of a wake-up does not grow with the connections held
	 * (lws's own loop polls every socket on each pass) */
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_HTTP_HEADERS_SECURITY_BEST_PRACTICES_ENFORCE |
	               LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_LIBUV;
	info.vhost_name = "didcomm-gateway";
	info.timeout_secs = 30;
	info.user = l;
	info.foreign_loops = foreign;
	info.pcontext = &l->ctx;
	info.ka_time = 60; /* TCP keepalive on idle WebSocket connections */
	info.ka_probes = 3;
	info.ka_interval = 10;
	lws_set_log_level(LLL_ERR, NULL);
	l->ctx = lws_create_context(&info);
	if (!l->ctx) {
		snprintf(why, why_len, "cannot listen on %s", conf->http_enabled ? conf->http_listen : "(client only)");
		gw_loop_free(l);
		return DC_ERR_IO;
	}
	l->vh = lws_get_vhost_by_name(l->ctx, "didcomm-gateway");
	l->port = conf->http_enabled && l->vh ? lws_get_vhost_listen_port(l->vh) : 0;
	*out = l;
	return DC_OK;
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

void gw_loop_set_ingest(struct gw_loop *l, struct gw_ingest *in)
{
	l->in = in;
}

int gw_loop_port(const struct gw_loop *l)
{
	return l->port;
}

int gw_loop_service(struct gw_loop *l)
{
	uv_run(&l->uv, UV_RUN_ONCE); /* waits for I/O, a timer or a wake-up, handles it, returns */
	return 0;
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
		lws_cancel_service(l->ctx);
	return DC_OK;
}

void gw_loop_wake(struct gw_loop *l)
{
	if (l && l->ctx)
		lws_cancel_service(l->ctx);
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
	l->draining = on;
}

bool gw_loop_draining(const struct gw_loop *l)
{
	return l->draining;
}

struct gw_loop *gw_loop_of_ctx(struct lws_context *ctx)
{
	return ctx ? lws_context_user(ctx) : NULL;
}

struct gw_ingest *gw_loop_ingest(const struct gw_loop *l)
{
	return l->in;
}

const struct gw_conf *gw_loop_conf(const struct gw_loop *l)
{
	return l->conf;
}

struct lws_context *gw_loop_lws(const struct gw_loop *l)
{
	return l->ctx;
}
