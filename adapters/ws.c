/* adapters/ws: DIDComm over WebSocket, each WebSocket message one DIDComm message.
 *
 * Inbound (loop thread): upgrades on the HTTP listener (subprotocol "didcomm", also the
 * default for clients naming none). Messages go to the ingest workers; a refusal is
 * answered on the socket with a problem report, a reply to a message that asked for
 * return_route goes back on the same socket. At most WS_MAX_PENDING messages per connection
 * wait for the workers; beyond that the socket is not read (TCP pushes back on the sender).
 *
 * Outbound: one client connection per endpoint URL (ws:// or wss://, TLS verified), opened
 * on first use and kept open for the next messages. A message counts as delivered once it is
 * written to the connection (WebSocket has no receipt); a connection that fails or closes
 * fails its waiting messages with "retry". Messages the far side sends us on that connection
 * are ingested like any other. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "conf.h"
#include "daemon.h"
#include "loop.h"
#include "lws_glue.h"

#define WS_MAX_PENDING 32
#define WS_RESUME_PENDING 8

struct wframe {
	struct wframe *next;
	gw_send_done_fn *done; /* outbound queue items; NULL for our answers */
	void *arg;
	size_t len;
	unsigned char buf[];   /* LWS_PRE + data */
};

static struct wframe *frame_new(const void *data, size_t len)
{
	struct wframe *f = malloc(sizeof *f + LWS_PRE + len);
	if (!f)
		return NULL;
	memset(f, 0, sizeof *f);
	f->len = len;
	memcpy(f->buf + LWS_PRE, data, len);
	return f;
}

/* reassembly of one inbound WebSocket message, bounded */
struct rx {
	char *buf;
	size_t len, cap;
	bool in_msg, over;
};

/* true when a whole message is in rx (or it overflowed: rx->over) */
static bool rx_add(struct rx *rx, struct lws *wsi, const void *in, size_t len, size_t max)
{
	if (!rx->in_msg) {
		rx->in_msg = true;
		rx->len = 0;
		rx->over = false;
	}
	if (!rx->over) {
		if (len > max - rx->len) {
			rx->over = true;
		} else {
			if (rx->len + len > rx->cap) {
				size_t cap = rx->cap ? rx->cap : 4096;
				while (cap < rx->len + len)
					cap *= 2;
				if (cap > max)
					cap = max;
				char *b = realloc(rx->buf, cap);
				if (!b)
					rx->over = true;
				else {
					rx->buf = b;
					rx->cap = cap;
				}
			}
			if (!rx->over) {
				memcpy(rx->buf + rx->len, in, len);
				rx->len += len;
			}
		}
	}
	if (lws_is_final_fragment(wsi) && lws_remaining_packet_payload(wsi) == 0) {
		rx->in_msg = false;
		return true;
	}
	return false;
}

static void rx_clear(struct rx *rx)
{
	free(rx->buf);
	memset(rx, 0, sizeof *rx);
}

/* a plaintext problem report for refusals decided on the loop (no sender known here) */
static struct wframe *problem_frame(const char *code, const char *why)
{
	char *pr = NULL;
	const char *args[] = { why };
	if (dc_problem_report(NULL, NULL, NULL, NULL, code, "{1}", args, 1, &pr))
		return NULL;
	struct wframe *f = frame_new(pr, strlen(pr));
	free(pr);
	return f;
}

static const char *code_for(int status)
{
	switch (status) {
	case 413: return "e.m.me.res.storage.message_too_big";
	case 503: return "e.m.me.res.storage.queue_full";
	case 500: return "e.m.me.res";
	case 403: return "e.m.req.rejected";
	default: return "e.m.msg";
	}
}

/* ---- inbound ------------------------------------------------------------------------------ */
struct wconn {
	struct lws *wsi;      /* NULL once closed (freed when the last ack comes) */
	char peer[64];
	struct rx rx;
	unsigned pending;
	bool flow_off;
	struct wframe *oh, *ot;
};

static void frames_free(struct wframe *f, const char *why)
{
	while (f) {
		struct wframe *n = f->next;
		if (f->done)
			f->done(f->arg, GW_RETRY, why);
		free(f);
		f = n;
	}
}

static void push(struct wframe **h, struct wframe **t, struct wframe *f)
{
	f->next = NULL;
	if (*t)
		(*t)->next = f;
	else
		*h = f;
	*t = f;
}

static void wconn_free(struct wconn *c)
{
	rx_clear(&c->rx);
	frames_free(c->oh, "closed");
	free(c);
}

static void answer(struct wconn *c, struct wframe *f)
{
	if (!f)
		return;
	push(&c->oh, &c->ot, f);
	lws_callback_on_writable(c->wsi);
}

static void ws_ack(void *arg, const struct gw_reply *r)
{
	struct wconn *c = arg;
	c->pending--;
	if (!c->wsi) {
		if (!c->pending)
			wconn_free(c);
		return;
	}
	if (r->body)
		answer(c, frame_new(r->body, r->body_len));
	else if (r->status >= 400)
		answer(c, problem_frame(code_for(r->status), r->why));
	if (c->flow_off && c->pending <= WS_RESUME_PENDING) {
		c->flow_off = false;
		lws_rx_flow_control(c->wsi, 1);
	}
}

static void ws_message(struct gw_loop *loop, struct wconn *c)
{
	const struct gw_conf *conf = gw_loop_conf(loop);
	if (c->rx.over) {
		char why[120];
		snprintf(why, sizeof why, "message over max_receive_bytes %zu", conf->max_message_bytes);
		gw_log("info", "ws", "413 from %s: %s", c->peer, why);
		answer(c, problem_frame(code_for(413), why));
		return;
	}
	if (gw_loop_draining(loop)) {
		answer(c, problem_frame(code_for(503), "shutting down: try again later"));
		return;
	}
	struct gw_inbound m = { .transport = "ws", .source = c->peer, .media_type = NULL,
		                .data = (const uint8_t *)c->rx.buf, .len = c->rx.len, .live = true };
	dc_err rc = gw_ingest_submit(gw_loop_ingest(loop), &m, ws_ack, c);
	if (rc) {
		answer(c, problem_frame(code_for(503), "busy: try again later"));
		return;
	}
	c->pending++;
	if (c->pending >= WS_MAX_PENDING && !c->flow_off) {
		c->flow_off = true;
		lws_rx_flow_control(c->wsi, 0);
	}
}

static int write_one(struct lws *wsi, struct wframe **h, struct wframe **t)
{
	struct wframe *f = *h;
	if (!f)
		return 0;
	*h = f->next;
	if (!*h)
		*t = NULL;
	int n = lws_write(wsi, f->buf + LWS_PRE, f->len, LWS_WRITE_TEXT);
	bool ok = n >= 0 && (size_t)n == f->len;
	if (f->done)
		f->done(f->arg, ok ? GW_SENT : GW_RETRY, ok ? "written to the WebSocket" : "WebSocket write failed");
	free(f);
	if (!ok)
		return -1;
	if (*h)
		lws_callback_on_writable(wsi);
	return 0;
}

int gw_ws_server_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct wconn **pc = user, *c = pc ? *pc : NULL;
	struct gw_loop *loop = gw_loop_of_ctx(lws_get_context(wsi));
	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		if (!(c = *pc = calloc(1, sizeof *c)))
			return -1;
		c->wsi = wsi;
		lws_get_peer_simple(wsi, c->peer, sizeof c->peer);
		gw_log("debug", "ws", "connection from %s", c->peer);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		if (c && rx_add(&c->rx, wsi, in, len, gw_loop_conf(loop)->max_message_bytes))
			ws_message(loop, c);
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return c ? write_one(wsi, &c->oh, &c->ot) : 0;
	case LWS_CALLBACK_CLOSED:
		if (c) {
			*pc = NULL;
			c->wsi = NULL;
			if (!c->pending)
				wconn_free(c);
		}
		return 0;
	default:
		return 0;
	}
}

/* ---- outbound ----------------------------------------------------------------------------- */
struct wsc {
	struct wsc *next;
	struct gw_adapter *ad;
	char *url;
	struct lws *wsi;
	bool open, connecting_call, failed_in_call;
	struct wframe *oh, *ot;
	struct rx rx;
};

struct gw_adapter {
	struct gw_loop *loop;
	struct gw_ingest *in;
	size_t max_bytes;
	bool stop;
	struct wsc *clients;
};

struct wsend {
	struct gw_adapter *ad;
	char *url;
	struct wframe *f;
};

static void wsc_unlink_free(struct wsc *w, const char *why)
{
	struct gw_adapter *ad = w->ad;
	for (struct wsc **pp = &ad->clients; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	frames_free(w->oh, why);
	rx_clear(&w->rx);
	free(w->url);
	free(w);
}

static bool connect_client(struct gw_adapter *ad, struct wsc *w)
{
	struct gw_ws_target t;
	if (!gw_ws_target_parse(&t, w->url))
		return false;
	struct lws_client_connect_info ci;
	memset(&ci, 0, sizeof ci);
	ci.context = gw_loop_lws(ad->loop);
	gw_ws_target_fill(&t, &ci);
	ci.local_protocol_name = "didcomm-client";
	ci.opaque_user_data = w; /* not userdata: lws would treat it as per-session storage */
	w->connecting_call = true;
	struct lws *wsi = lws_client_connect_via_info(&ci);
	w->connecting_call = false;
	if (!wsi || w->failed_in_call)
		return false;
	w->wsi = wsi;
	return true;
}

static void ws_send_on_loop(void *arg)
{
	struct wsend *s = arg;
	struct gw_adapter *ad = s->ad;
	struct wframe *f = s->f;
	if (ad->stop) {
		f->done(f->arg, GW_RETRY, "gateway shutting down");
		free(f);
		goto out;
	}
	struct wsc *w = ad->clients;
	while (w && strcmp(w->url, s->url) != 0)
		w = w->next;
	if (!w) {
		if (!(w = calloc(1, sizeof *w)) || !(w->url = strdup(s->url))) {
			free(w);
			f->done(f->arg, GW_RETRY, "out of memory");
			free(f);
			goto out;
		}
		w->ad = ad;
		w->next = ad->clients;
		ad->clients = w;
		push(&w->oh, &w->ot, f);
		if (!connect_client(ad, w)) {
			gw_log("info", "ws", "cannot connect to %s", w->url);
			wsc_unlink_free(w, "cannot connect");
		}
		goto out;
	}
	push(&w->oh, &w->ot, f);
	if (w->open)
		lws_callback_on_writable(w->wsi);
out:
	free(s->url);
	free(s);
}

static void client_ack(void *arg, const struct gw_reply *r)
{
	(void)arg;
	(void)r; /* messages arriving on our client connections have no return route */
}

int gw_ws_client_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct wsc *w = lws_get_opaque_user_data(wsi);
	(void)user;
	struct gw_loop *loop = gw_loop_of_ctx(lws_get_context(wsi));
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (w) {
			w->open = true;
			gw_log("debug", "ws", "connected to %s", w->url);
			if (w->oh)
				lws_callback_on_writable(wsi);
		}
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return w ? write_one(wsi, &w->oh, &w->ot) : 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (w && rx_add(&w->rx, wsi, in, len, gw_loop_conf(loop)->max_message_bytes) && !w->rx.over) {
			struct gw_inbound m = { .transport = "ws", .source = w->url, .data = (const uint8_t *)w->rx.buf,
				                .len = w->rx.len, .live = false };
			if (gw_ingest_submit(gw_loop_ingest(loop), &m, client_ack, NULL))
				gw_log("warn", "ws", "a message from %s dropped: busy", w->url);
		}
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (w) {
			char why[200];
			snprintf(why, sizeof why, "WebSocket %s: %.120s", reason == LWS_CALLBACK_CLIENT_CLOSED ? "closed" : "error",
			         in && reason == LWS_CALLBACK_CLIENT_CONNECTION_ERROR ? (const char *)in : "connection lost");
			gw_log("info", "ws", "%s: %s", w->url, why);
			if (w->connecting_call) {
				w->failed_in_call = true; /* connect_client's caller cleans up */
				return 0;
			}
			wsc_unlink_free(w, why);
		}
		return 0;
	default:
		return 0;
	}
}

static dc_err ws_create(const struct gw_conf *conf, struct gw_adapter **out)
{
	struct gw_adapter *ad = calloc(1, sizeof *ad);
	if (!ad)
		return DC_ERR_NOMEM;
	ad->max_bytes = conf->max_message_bytes;
	*out = ad;
	return DC_OK;
}

static dc_err ws_start(struct gw_adapter *ad, struct gw_loop *loop, struct gw_ingest *in)
{
	ad->loop = loop;
	ad->in = in;
	return DC_OK;
}

static dc_err ws_send(struct gw_adapter *ad, const char *target, const struct gw_envelope *env, gw_send_done_fn *done,
                      void *arg)
{
	struct wsend *s = calloc(1, sizeof *s);
	if (!s)
		return DC_ERR_NOMEM;
	s->ad = ad;
	s->url = strdup(target);
	s->f = frame_new(env->data, env->len);
	if (!s->url || !s->f || !ad->loop) {
		free(s->url);
		free(s->f);
		free(s);
		return ad->loop ? DC_ERR_NOMEM : DC_ERR_AGAIN;
	}
	s->f->done = done;
	s->f->arg = arg;
	if (gw_loop_post(ad->loop, ws_send_on_loop, s)) {
		free(s->url);
		free(s->f);
		free(s);
		return DC_ERR_NOMEM;
	}
	return DC_OK;
}

/* loop thread: fail what waits; the connections close with the loop */
static void ws_stop(struct gw_adapter *ad)
{
	ad->stop = true;
	for (struct wsc *w = ad->clients; w; w = w->next) {
		frames_free(w->oh, "gateway shutting down");
		w->oh = w->ot = NULL;
	}
}

static void ws_free(struct gw_adapter *ad)
{
	if (!ad)
		return;
	ws_stop(ad);
	while (ad->clients) {
		struct wsc *w = ad->clients;
		ad->clients = w->next;
		rx_clear(&w->rx);
		free(w->url);
		free(w);
	}
	free(ad);
}

static const char *const ws_schemes[] = { "ws", "wss", NULL };
const struct gw_adapter_ops gw_ad_ws = {
	.name = "ws",
	.schemes = ws_schemes,
	.flags = GW_AD_IN | GW_AD_OUT | GW_AD_LIVE,
	.create = ws_create,
	.start = ws_start,
	.send = ws_send,
	.stop = ws_stop,
	.free = ws_free,
};
