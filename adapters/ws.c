/* adapters/ws: DIDComm over WebSocket, each WebSocket message one DIDComm message.
 *
 * Inbound (loop thread): upgrades on the shared listener that name no subprotocol or offer
 * didcomm/v2; those that offer only others are refused at the handshake (400 with the reason).
 * Messages go to the gateway (host->submit); a refusal
 * is answered on the socket with a problem report, a reply to a message that asked for
 * return_route goes back on the same socket. At most WS_MAX_PENDING messages per connection
 * wait for the gateway; beyond that the socket is not read (TCP pushes back on the sender).
 * Answers waiting to be written are bounded (max_out_frames): a peer that does not read
 * them is closed with 1008. The reassembly buffer goes with each message; a connection idle
 * for idle_timeout is closed.
 *
 * Outbound: one client connection per endpoint URL (ws:// or wss://, TLS verified), opened
 * on first use and kept open for the next messages. The host name is resolved on the
 * adapter's resolver thread and the address checked against the outbound policy before
 * connecting (targets from DID documents may not reach private addresses; none may reach
 * the gateway itself). A message counts as delivered once it is written to the connection
 * (WebSocket has no receipt); a connection that fails or closes fails its waiting messages
 * with "retry". Messages the far side sends us on that connection are taken in like any
 * other. */
#include <arpa/inet.h>
#include <libwebsockets.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "adapter.h"

#define WS_MAX_PENDING 32
#define WS_RESUME_PENDING 8
#define WS_RX_CHUNK 65536
#define WS_PROTOCOL "didcomm/v2"
#define MAX_RESOLVING 256      /* host names waiting for the resolver thread */

struct ws_conf {
	int64_t idle_timeout_ms;
	unsigned max_out_frames;
};

#define O(f) offsetof(struct ws_conf, f)
static const struct gw_conf_key ws_keys[] = {
	{ "idle_timeout", GW_CONF_MS, O(idle_timeout_ms), 1000, 86400000, "300s", NULL },
	{ "max_out_frames", GW_CONF_UINT, O(max_out_frames), 1, 100000, "64", NULL },
};
#undef O

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

/* reassembly of one inbound WebSocket message, bounded; the buffer leaves with the message */
struct rx {
	uint8_t *buf;
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
			free(rx->buf);
			rx->buf = NULL;
			rx->cap = rx->len = 0;
		} else {
			if (rx->len + len > rx->cap) {
				size_t cap = rx->cap ? rx->cap : 4096;
				while (cap < rx->len + len)
					cap *= 2;
				if (cap > max)
					cap = max;
				uint8_t *b = realloc(rx->buf, cap);
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

/* the message's bytes leave rx (the buffer with them) */
static uint8_t *rx_take(struct rx *rx, size_t *len)
{
	uint8_t *b = rx->buf;
	*len = rx->len;
	rx->buf = NULL;
	rx->len = rx->cap = 0;
	return b;
}

/* a plaintext problem report for refusals decided here (no sender known) */
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

static const char *code_for(const struct gw_reply *r)
{
	if (r->code && r->code[0])
		return r->code;
	if (r->outcome == GW_TRY_LATER)
		return "e.m.me.res.storage.queue_full";
	switch (r->refusal) {
	case GW_REF_TOO_BIG: return "e.p.msg.too-big";
	case GW_REF_DENIED: return "e.p.msg.not-relayed";
	default: return "e.p.msg";
	}
}

/* ---- the adapter ------------------------------------------------------------------------- */
struct wsc;
struct resolve_job;

struct gw_adapter {
	const struct ws_conf *conf;
	struct gw_host *host;
	size_t max_bytes;
	bool stop;
	struct wsc *clients;         /* loop thread */
	struct wconn *conns;         /* loop thread: inbound connections, for push() */
	uint64_t next_conn;
	/* the resolver thread */
	pthread_t rth;
	bool rstarted;
	pthread_mutex_t rmu;
	pthread_cond_t rcv;
	struct resolve_job *rhead, *rtail;
	size_t n_resolving;
	bool rstop;
};

static int idle_secs(const struct gw_adapter *ad)
{
	return (int)((ad->conf->idle_timeout_ms + 999) / 1000);
}

/* ---- inbound ------------------------------------------------------------------------------ */
struct wconn {
	struct wconn *next;   /* in ad->conns while open */
	uint64_t id;          /* gw_inbound.conn */
	struct gw_adapter *ad;
	struct lws *wsi;      /* NULL once closed (freed when the last ack comes) */
	char peer[64];
	struct rx rx;
	unsigned pending;
	bool flow_off, kill;
	struct wframe *oh, *ot;
	unsigned n_out;
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
	if (!f || c->kill) {
		free(f);
		return;
	}
	if (c->n_out >= c->ad->conf->max_out_frames) {
		/* the peer does not read what we answer: no more memory for it */
		free(f);
		c->kill = true;
		gw_host_log(c->ad->host, GW_LOG_INFO, "closing %s: over max_out_frames %u unread answers", c->peer,
		            c->ad->conf->max_out_frames);
		lws_callback_on_writable(c->wsi);
		return;
	}
	push(&c->oh, &c->ot, f);
	c->n_out++;
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
	else if (r->outcome == GW_REFUSED || r->outcome == GW_TRY_LATER)
		answer(c, problem_frame(code_for(r), r->why));
	if (c->flow_off && c->pending <= WS_RESUME_PENDING && !c->kill) {
		c->flow_off = false;
		lws_rx_flow_control(c->wsi, 1);
	}
}

static void ws_message(struct wconn *c)
{
	struct gw_adapter *ad = c->ad;
	if (c->rx.over) {
		char why[120];
		snprintf(why, sizeof why, "message over max_receive_bytes %zu", ad->max_bytes);
		gw_host_log(ad->host, GW_LOG_INFO, "refused from %s: %s", c->peer, why);
		rx_clear(&c->rx);
		answer(c, problem_frame("e.p.msg.too-big", why));
		return;
	}
	struct gw_inbound m = { .source = c->peer, .media_type = NULL, .live = true, .conn = c->id };
	m.data = rx_take(&c->rx, &m.len);
	if (ad->host->draining(ad->host)) {
		free(m.data);
		answer(c, problem_frame("e.m.me.res.storage.queue_full", "shutting down: try again later"));
		return;
	}
	dc_err rc = ad->host->submit(ad->host, &m, ws_ack, c);
	if (rc) {
		answer(c, problem_frame("e.m.me.res.storage.queue_full", "busy: try again later"));
		return;
	}
	c->pending++;
	if (c->pending >= WS_MAX_PENDING && !c->flow_off) {
		c->flow_off = true;
		lws_rx_flow_control(c->wsi, 0);
	}
}

static int write_one(struct lws *wsi, struct wframe **h, struct wframe **t, unsigned *n_out)
{
	struct wframe *f = *h;
	if (!f)
		return 0;
	*h = f->next;
	if (!*h)
		*t = NULL;
	if (n_out)
		(*n_out)--;
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

/* The handshake, before lws looks at the subprotocols: a client may name none, or offer
 * "didcomm/v2" (among others); one that offers only others is refused with 400 and a reason.
 * (The event loop makes libwebsockets 4.1, whose tokenizer cannot read the '/', take
 * didcomm/v2 and name it in the answer.) */
static bool offers_didcomm(const char *v, size_t n)
{
	for (size_t i = 0; i < n;) {
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t j = i;
		while (j < n && v[j] != ',' && v[j] != ' ' && v[j] != '\t')
			j++;
		if (j - i == strlen(WS_PROTOCOL) && memcmp(v + i, WS_PROTOCOL, j - i) == 0)
			return true;
		i = j;
	}
	return false;
}

static int confirm_upgrade(struct lws *wsi)
{
	int n = lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL);
	if (n <= 0)
		return 0;
	char v[256];
	int got = lws_hdr_copy(wsi, v, sizeof v, WSI_TOKEN_PROTOCOL);
	if (got > 0 && offers_didcomm(v, (size_t)got))
		return 0;
	lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST,
	                       "unsupported WebSocket subprotocol: offer " WS_PROTOCOL " or none (DIDComm messages, one per frame)");
	return 1;
}

static int ws_server_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct wconn **pc = user, *c = pc ? *pc : NULL;
	const struct lws_protocols *prot = lws_get_protocol(wsi);
	struct gw_adapter *ad = prot ? prot->user : NULL;
	switch (reason) {
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return confirm_upgrade(wsi);

	case LWS_CALLBACK_ESTABLISHED:
		if (!ad || !pc || !(c = *pc = calloc(1, sizeof *c)))
			return -1;
		c->wsi = wsi;
		c->ad = ad;
		c->id = ++ad->next_conn;
		c->next = ad->conns;
		ad->conns = c;
		lws_get_peer_simple(wsi, c->peer, sizeof c->peer);
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, idle_secs(ad));
		gw_host_log(ad->host, GW_LOG_DEBUG, "connection from %s", c->peer);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		if (!c)
			return -1;
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, idle_secs(c->ad));
		if (!c->kill && rx_add(&c->rx, wsi, in, len, c->ad->max_bytes))
			ws_message(c);
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (!c)
			return 0;
		if (c->kill) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)"too many unread answers", 23);
			return -1;
		}
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, idle_secs(c->ad));
		return write_one(wsi, &c->oh, &c->ot, &c->n_out);
	case LWS_CALLBACK_CLOSED:
		if (c) {
			*pc = NULL;
			c->wsi = NULL;
			for (struct wconn **pp = &c->ad->conns; *pp; pp = &(*pp)->next)
				if (*pp == c) {
					*pp = c->next;
					break;
				}
			rx_clear(&c->rx);
			frames_free(c->oh, "closed");
			c->oh = c->ot = NULL;
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
	bool open, connecting_call, failed_in_call, resolving;
	struct wframe *oh, *ot;
	struct rx rx;
};

struct wsend {
	struct gw_adapter *ad;
	char *url;
	bool untrusted;
	struct wframe *f;
};

/* A ws:// or wss:// URL taken apart for lws_client_connect_via_info. */
struct target {
	char buf[1024];   /* lws_parse_uri works in place: addr points in here */
	char path[1100];
	const char *addr;
	int port;
	bool tls;
};

static bool target_parse(struct target *t, const char *url)
{
	const char *prot = NULL, *path = NULL;
	memset(t, 0, sizeof *t);
	if (strlen(url) >= sizeof t->buf - 2)
		return false;
	snprintf(t->buf, sizeof t->buf, "%s", url);
	if (lws_parse_uri(t->buf, &prot, &t->addr, &t->port, &path) || (strcmp(prot, "ws") && strcmp(prot, "wss")))
		return false;
	t->tls = strcmp(prot, "wss") == 0;
	if (!strchr(url + strlen(prot) + 3, ':'))
		t->port = t->tls ? 443 : 80; /* lws_parse_uri assumes 80 for anything without a port */
	snprintf(t->path, sizeof t->path, "/%s", path ? path : "");
	return true;
}

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

/* loop thread: connect to the checked address (ip), naming the host for HTTP and TLS */
static bool connect_client(struct gw_adapter *ad, struct wsc *w, const char *ip)
{
	struct target t;
	if (!target_parse(&t, w->url))
		return false;
	struct lws_client_connect_info ci;
	memset(&ci, 0, sizeof ci);
	ci.context = ad->host->lws(ad->host);
	ci.address = ip;
	ci.port = t.port;
	ci.path = t.path;
	ci.host = t.addr;
	ci.origin = t.addr;
	ci.ssl_connection = t.tls ? LCCSCF_USE_SSL : 0;
	ci.protocol = NULL; /* servers differ: name none, as the spec's transports do */
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

/* host names are resolved off the loop and checked against the outbound policy */
struct resolve_job {
	struct resolve_job *next;
	struct gw_adapter *ad;
	struct wsc *w;            /* loop's: only touched back on the loop */
	char host[256];
	int port;
	bool untrusted;
	char ip[64];
	char why[200];
	bool ok;
};

static void resolved_on_loop(void *arg)
{
	struct resolve_job *j = arg;
	struct gw_adapter *ad = j->ad;
	struct wsc *w = ad->clients;
	while (w && w != j->w)
		w = w->next;
	if (w) { /* still wanted */
		w->resolving = false;
		if (ad->stop) {
			wsc_unlink_free(w, "gateway shutting down");
		} else if (!j->ok) {
			gw_host_log(ad->host, GW_LOG_INFO, "%s: %s", w->url, j->why);
			/* a policy refusal fails the deliveries for good; a failed lookup is retried */
			bool policy = strstr(j->why, "outbound policy") != NULL;
			for (struct wframe *f = w->oh; f; f = f->next)
				if (f->done) {
					f->done(f->arg, policy ? GW_FAILED : GW_RETRY, j->why);
					f->done = NULL;
				}
			wsc_unlink_free(w, j->why);
		} else if (!connect_client(ad, w, j->ip)) {
			gw_host_log(ad->host, GW_LOG_INFO, "cannot connect to %s", w->url);
			wsc_unlink_free(w, "cannot connect");
		}
	}
	free(j);
}

static void resolve_one(struct resolve_job *j)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res = NULL;
	char port[16];
	snprintf(port, sizeof port, "%d", j->port);
	int e = getaddrinfo(j->host, port, &hints, &res);
	if (e || !res) {
		snprintf(j->why, sizeof j->why, "cannot resolve %.100s: %s", j->host, gai_strerror(e));
		return;
	}
	struct gw_host *h = j->ad->host;
	if (h->outbound_check(h, res->ai_addr, res->ai_addrlen, j->untrusted, j->why, sizeof j->why) != DC_OK) {
		if (!j->why[0])
			snprintf(j->why, sizeof j->why, "outbound policy: address refused");
	} else if (inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, j->ip, sizeof j->ip)) {
		j->ok = true;
	}
	freeaddrinfo(res);
}

static void *resolver_thread(void *arg)
{
	struct gw_adapter *ad = arg;
	prctl(PR_SET_NAME, "gw-ws-dns", 0, 0, 0);
	for (;;) {
		pthread_mutex_lock(&ad->rmu);
		while (!ad->rhead && !ad->rstop)
			pthread_cond_wait(&ad->rcv, &ad->rmu);
		struct resolve_job *j = ad->rhead;
		if (j) {
			ad->rhead = j->next;
			if (!ad->rhead)
				ad->rtail = NULL;
			ad->n_resolving--;
		}
		bool stop = ad->rstop;
		pthread_mutex_unlock(&ad->rmu);
		if (!j && stop)
			break;
		if (!j)
			continue;
		if (!stop)
			resolve_one(j);
		else
			snprintf(j->why, sizeof j->why, "gateway shutting down");
		if (ad->host->post(ad->host, resolved_on_loop, j) != DC_OK)
			free(j); /* the loop is gone: its connections with it */
	}
	return NULL;
}

static bool resolve_start(struct gw_adapter *ad, struct wsc *w, bool untrusted)
{
	struct target t;
	if (!target_parse(&t, w->url))
		return false;
	struct resolve_job *j = calloc(1, sizeof *j);
	if (!j)
		return false;
	j->ad = ad;
	j->w = w;
	j->port = t.port;
	j->untrusted = untrusted;
	snprintf(j->host, sizeof j->host, "%s", t.addr);
	pthread_mutex_lock(&ad->rmu);
	if (ad->n_resolving >= MAX_RESOLVING || !ad->rstarted) {
		pthread_mutex_unlock(&ad->rmu);
		free(j);
		return false;
	}
	if (ad->rtail)
		ad->rtail->next = j;
	else
		ad->rhead = j;
	ad->rtail = j;
	ad->n_resolving++;
	pthread_cond_signal(&ad->rcv);
	pthread_mutex_unlock(&ad->rmu);
	w->resolving = true;
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
		if (!resolve_start(ad, w, s->untrusted)) {
			gw_host_log(ad->host, GW_LOG_INFO, "cannot connect to %s: resolver busy or URL unusable", w->url);
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

static int ws_client_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct wsc *w = lws_get_opaque_user_data(wsi);
	(void)user;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (w) {
			w->open = true;
			lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, idle_secs(w->ad));
			gw_host_log(w->ad->host, GW_LOG_DEBUG, "connected to %s", w->url);
			if (w->oh)
				lws_callback_on_writable(wsi);
		}
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (!w)
			return 0;
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, idle_secs(w->ad));
		return write_one(wsi, &w->oh, &w->ot, NULL);
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (!w)
			return 0;
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, idle_secs(w->ad));
		if (rx_add(&w->rx, wsi, in, len, w->ad->max_bytes)) {
			if (w->rx.over) {
				rx_clear(&w->rx);
				return 0;
			}
			struct gw_inbound m = { .source = w->url, .live = false };
			m.data = rx_take(&w->rx, &m.len);
			if (w->ad->host->submit(w->ad->host, &m, client_ack, NULL))
				gw_host_log(w->ad->host, GW_LOG_WARN, "a message from %s dropped: busy", w->url);
		}
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (w) {
			char why[200];
			snprintf(why, sizeof why, "WebSocket %s: %.120s", reason == LWS_CALLBACK_CLIENT_CLOSED ? "closed" : "error",
			         in && reason == LWS_CALLBACK_CLIENT_CONNECTION_ERROR ? (const char *)in : "connection lost");
			gw_host_log(w->ad->host, GW_LOG_INFO, "%s: %s", w->url, why);
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

static dc_err ws_create(const void *conf, const struct gw_limits *lim, struct gw_adapter **out, struct dc_errinfo *ei)
{
	(void)ei;
	struct gw_adapter *ad = calloc(1, sizeof *ad);
	if (!ad)
		return DC_ERR_NOMEM;
	ad->conf = conf;
	ad->max_bytes = lim->max_message_bytes;
	pthread_mutex_init(&ad->rmu, NULL);
	pthread_cond_init(&ad->rcv, NULL);
	*out = ad;
	return DC_OK;
}

static dc_err ws_start(struct gw_adapter *ad, struct gw_host *host, struct dc_errinfo *ei)
{
	ad->host = host;
	if (pthread_create(&ad->rth, NULL, resolver_thread, ad) != 0)
		return dc_errinfo_set(ei, DC_ERR_NOMEM, "cannot start the resolver thread");
	ad->rstarted = true;
	return DC_OK;
}

static dc_err ws_send(struct gw_adapter *ad, const struct gw_dest *dest, const struct gw_envelope *env,
                      gw_send_done_fn *done, void *arg)
{
	if (!ad->host)
		return DC_ERR_AGAIN;
	struct wsend *s = calloc(1, sizeof *s);
	if (!s)
		return DC_ERR_NOMEM;
	s->ad = ad;
	s->untrusted = dest->untrusted;
	s->url = strndup(dest->target, dest->target_len);
	s->f = frame_new(env->data, env->len);
	if (!s->url || !s->f) {
		free(s->url);
		free(s->f);
		free(s);
		return DC_ERR_NOMEM;
	}
	s->f->done = done;
	s->f->arg = arg;
	if (ad->host->post(ad->host, ws_send_on_loop, s)) {
		free(s->url);
		free(s->f);
		free(s);
		return DC_ERR_NOMEM;
	}
	return DC_OK;
}

/* ---- live delivery: the gateway writes on an inbound connection ---------------------------- */
struct wpush {
	struct gw_adapter *ad;
	uint64_t conn;
	struct wframe *f;
};

static void ws_push_on_loop(void *arg)
{
	struct wpush *p = arg;
	struct wframe *f = p->f;
	struct wconn *c = p->ad->conns;
	while (c && c->id != p->conn)
		c = c->next;
	free(p);
	if (!c || !c->wsi || c->kill) {
		f->done(f->arg, GW_FAILED, "the connection is gone");
		free(f);
	} else if (c->n_out >= c->ad->conf->max_out_frames) {
		f->done(f->arg, GW_RETRY, "the connection has too much unread"); /* not closed for a push */
		free(f);
	} else {
		push(&c->oh, &c->ot, f);
		c->n_out++;
		lws_callback_on_writable(c->wsi);
	}
}

static dc_err ws_push(struct gw_adapter *ad, uint64_t conn, const uint8_t *data, size_t len, gw_send_done_fn *done,
                      void *arg)
{
	if (!ad->host)
		return DC_ERR_AGAIN; /* not started: no connection to write to */
	struct wpush *p = calloc(1, sizeof *p);
	struct wframe *f = frame_new(data, len);
	if (!p || !f) {
		free(p);
		free(f);
		return DC_ERR_NOMEM;
	}
	f->done = done;
	f->arg = arg;
	*p = (struct wpush){ .ad = ad, .conn = conn, .f = f };
	if (ad->host->post(ad->host, ws_push_on_loop, p)) {
		free(p);
		free(f);
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
	pthread_mutex_lock(&ad->rmu);
	ad->rstop = true;
	pthread_cond_signal(&ad->rcv);
	pthread_mutex_unlock(&ad->rmu);
	if (ad->rstarted) {
		pthread_join(ad->rth, NULL);
		ad->rstarted = false;
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
	for (struct resolve_job *j = ad->rhead, *n; j; j = n) {
		n = j->next;
		free(j);
	}
	pthread_cond_destroy(&ad->rcv);
	pthread_mutex_destroy(&ad->rmu);
	free(ad);
}

static const struct lws_protocols ws_protocols[] = {
	{ WS_PROTOCOL, ws_server_cb, sizeof(void *), WS_RX_CHUNK, GW_LWS_DEFAULT_WS, NULL, 0 },
	{ "didcomm-client", ws_client_cb, 0, WS_RX_CHUNK, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static const char *const ws_schemes[] = { "ws", "wss", NULL };
const struct gw_adapter_ops gw_ad_ws = {
	.name = "ws",
	.schemes = ws_schemes,
	.flags = GW_AD_IN | GW_AD_OUT | GW_AD_LIVE,
	.keys = ws_keys,
	.n_keys = sizeof ws_keys / sizeof ws_keys[0],
	.conf_size = sizeof(struct ws_conf),
	.create = ws_create,
	.start = ws_start,
	.send = ws_send,
	.stop = ws_stop,
	.free = ws_free,
	.lws_protocols = ws_protocols,
	.push = ws_push,
};
