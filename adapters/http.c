/* adapters/http: inbound POST on the shared listener, outbound POST with libcurl.
 *
 * Inbound (loop thread): POST to the configured path with a Content-Length (411 otherwise:
 * lws does not deliver chunked bodies), a DIDComm media type (415), 1 byte or more (400),
 * at most max_message_bytes (413, before reading the body). The body is read into a buffer
 * that grows as bytes arrive (never the announced size up front); the bodies being received
 * on all connections together may announce at most receive_total bytes (503 beyond), and a
 * body must arrive whole within body_timeout (else the connection is closed). The body goes
 * to the gateway (host->submit); the answer is written when it is done: 202 only after the
 * queue commit, 200 with our reply when the message asked for return_route, 4xx with a
 * problem report, 503 for "try later" (busy, queue or disk full, shutting down).
 *
 * Outbound: one thread drives a curl multi handle: many transfers in flight, keep-alive
 * connections reused per host (at most per_destination each), TLS verified, timeouts.
 * 2xx = delivered; 408, 429, 5xx, timeouts and refused connections = retry; other 4xx =
 * permanent. Targets from the rules file (trusted) follow 307/308 with the same body (at most
 * 3 hops); targets from DID documents (untrusted) follow none, pass the outbound address
 * policy at connect time (after DNS), and never share a connection with trusted ones. */
#include <curl/curl.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>

#include "adapter.h"

#define HDR_ROOM 512          /* our response headers fit in this */
#define MAX_URI 8192          /* longer: 414 */
#define MAX_REDIRECTS 3

struct http_conf {
	char *listen, *path, *ca_file;
	int64_t timeout_ms, body_timeout_ms;
	unsigned max_connections, per_peer;
	size_t receive_total;
};

#define O(f) offsetof(struct http_conf, f)
static const struct gw_conf_key http_keys[] = {
	{ "listen", GW_CONF_HOSTPORT, O(listen), 0, 0, "127.0.0.1:8080", NULL },
	{ "path", GW_CONF_STR, O(path), 1, 256, "/", NULL },
	{ "timeout", GW_CONF_MS, O(timeout_ms), 100, 600000, "10s", NULL },
	{ "ca_file", GW_CONF_STR, O(ca_file), 0, 4096, "", NULL },
	{ "max_connections", GW_CONF_UINT, O(max_connections), 1, 1000000, "1024", NULL },
	{ "per_peer", GW_CONF_UINT, O(per_peer), 1, 1000000, "64", NULL },
	{ "receive_total", GW_CONF_SIZE, O(receive_total), 1024, (int64_t)1 << 40, "256M", NULL },
	{ "body_timeout", GW_CONF_MS, O(body_timeout_ms), 1000, 3600000, "30s", NULL },
};
#undef O

/* ---- the adapter ----------------------------------------------------------------------------- */
struct hreq;

struct gw_adapter {
	const struct http_conf *conf;
	struct gw_host *host;
	size_t max_bytes;
	size_t receiving;          /* bytes announced by bodies being received (loop thread) */
	/* outbound */
	long timeout_ms;
	unsigned per_host, max_conns;
	CURLM *m;
	CURLSH *untrusted;         /* connections of untrusted targets: never reused by trusted ones */
	pthread_t th;
	bool started;
	pthread_mutex_t mu;
	struct hreq *incoming;
	bool stop;
	size_t active;
	struct curl_slist *std_hdrs; /* the usual Content-Type and no "Expect:", built once */
	CURL *idle[64];              /* easy handles to reuse (client thread only) */
	size_t n_idle;
};

/* ---- inbound ----------------------------------------------------------------------------- */
struct hconn {
	struct gw_adapter *ad;
	struct lws *wsi;      /* NULL once the connection closed (freed when the ack comes) */
	uint8_t *body;
	size_t len, cap, want; /* want: Content-Length, reserved in ad->receiving until done */
	char ct[128], peer[64];
	bool pending;         /* submitted, waiting for the ack */
	bool ready;           /* an answer waits for HTTP_WRITEABLE */
	bool close_after;     /* a request came in behind the one being answered: close after it */
	int status;
	unsigned char *resp;  /* LWS_PRE + HDR_ROOM + body */
	size_t resp_len;
	char resp_type[64];
};

static void release_body(struct hconn *c)
{
	if (c->want && c->ad)
		c->ad->receiving -= c->want;
	c->want = 0;
	free(c->body);
	c->body = NULL;
	c->len = c->cap = 0;
}

static void hconn_free(struct hconn *c)
{
	release_body(c);
	free(c->resp);
	free(c);
}

static int respond_now(struct lws *wsi, int status, const char *text, bool close_after)
{
	unsigned char buf[LWS_PRE + 1024], *start = &buf[LWS_PRE], *p = start, *end = &buf[sizeof buf - 1];
	size_t n = strlen(text);
	if (n > 512)
		n = 512;
	if (lws_add_http_common_headers(wsi, (unsigned)status, "text/plain", (lws_filepos_t)(n + 1), &p, end) ||
	    (close_after && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5, &p,
	                                                 end)) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	memcpy(start, text, n);
	start[n] = '\n';
	if (lws_write(wsi, start, n + 1, LWS_WRITE_HTTP_FINAL) != (int)(n + 1))
		return -1;
	if (close_after)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int status_of(const struct gw_reply *r)
{
	switch (r->outcome) {
	case GW_ACCEPTED: return 202;
	case GW_ANSWERED: return 200;
	case GW_TRY_LATER: return 503;
	case GW_REFUSED:
		switch (r->refusal) {
		case GW_REF_TOO_BIG: return 413;
		case GW_REF_BAD_TYPE: return 415;
		case GW_REF_DENIED: return 403;
		default: return 400;
		}
	}
	return 500;
}

/* loop thread: the gateway is done with the message */
static void http_ack(void *arg, const struct gw_reply *r)
{
	struct hconn *c = arg;
	c->pending = false;
	if (!c->wsi) {
		hconn_free(c); /* the client went away; the message is in the queue (or was refused) */
		return;
	}
	free(c->resp);
	c->resp = NULL;
	c->status = status_of(r);
	const uint8_t *body = r->body;
	size_t n = r->body_len;
	char text[400];
	if (!body) {
		snprintf(text, sizeof text, "%s\n", r->why ? r->why : "");
		body = (const uint8_t *)text;
		n = strlen(text);
	}
	snprintf(c->resp_type, sizeof c->resp_type, "%s", r->body ? r->body_type : "text/plain");
	/* room for the headers right before the body: one write, one segment (write_answer) */
	if (!(c->resp = malloc(LWS_PRE + HDR_ROOM + n + 1))) {
		c->status = 503;
		snprintf(c->resp_type, sizeof c->resp_type, "text/plain");
		n = 0;
	} else {
		memcpy(c->resp + LWS_PRE + HDR_ROOM, body, n);
	}
	c->resp_len = n;
	c->ready = true;
	lws_callback_on_writable(c->wsi);
}

static int write_answer(struct lws *wsi, struct hconn *c)
{
	unsigned char hdr[LWS_PRE + HDR_ROOM], *start = &hdr[LWS_PRE], *p = start, *end = &hdr[sizeof hdr - 1];
	c->ready = false;
	if (lws_add_http_common_headers(wsi, (unsigned)c->status, c->resp_type, (lws_filepos_t)c->resp_len, &p, end) ||
	    (c->close_after && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5,
	                                                    &p, end)) ||
	    lws_finalize_http_header(wsi, &p, end))
		return -1;
	size_t hl = (size_t)(p - start);
	if (!c->resp) { /* out of memory earlier: the headers alone */
		if (lws_write(wsi, start, hl, LWS_WRITE_HTTP_HEADERS) != (int)hl)
			return -1;
	} else {
		/* HTTP/1.1 only here (no TLS listener, so no h2): headers and body go out as one write */
		unsigned char *out = c->resp + LWS_PRE + HDR_ROOM - hl;
		memcpy(out, start, hl);
		size_t total = hl + c->resp_len;
		if (lws_write(wsi, out, total, LWS_WRITE_HTTP_FINAL) != (int)total)
			return -1;
		free(c->resp);
		c->resp = NULL;
	}
	if (c->close_after)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static bool path_ok(const char *uri, const char *path)
{
	size_t n = strcspn(uri, "?");
	return strlen(path) == n && strncmp(uri, path, n) == 0;
}

/* the body is whole: to the gateway */
static int body_done(struct lws *wsi, struct hconn *c)
{
	struct gw_adapter *ad = c->ad;
	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	struct gw_inbound m = { .source = c->peer, .media_type = c->ct[0] ? c->ct : NULL, .data = c->body, .len = c->len,
		                .live = true };
	c->body = NULL; /* submit takes it */
	c->len = c->cap = 0;
	if (c->want) {
		ad->receiving -= c->want;
		c->want = 0;
	}
	dc_err rc = ad->host->submit(ad->host, &m, http_ack, c);
	if (rc) {
		gw_host_log(ad->host, GW_LOG_INFO, "503 to %s: %s", c->peer,
		            rc == DC_ERR_AGAIN ? "busy, over its rate, or shutting down" : "no memory");
		return respond_now(wsi, 503, "busy: try again later", false);
	}
	c->pending = true;
	return 0;
}

static int on_request(struct lws *wsi, struct gw_adapter *ad, struct hconn **pc, const char *uri)
{
	const struct http_conf *conf = ad->conf;
	struct hconn *c = *pc;
	if (!c) {
		if (!(c = *pc = calloc(1, sizeof *c)))
			return -1;
		c->wsi = wsi;
		c->ad = ad;
		lws_get_peer_simple(wsi, c->peer, sizeof c->peer);
	}
	if (c->pending || c->ready) {
		/* pipelined: a request behind one not answered yet. It is not read: the first one's
		 * answer closes the connection, and the client sends this one again. */
		c->close_after = true;
		return 0;
	}
	release_body(c);
	c->ct[0] = 0;
	/* (lws 4.1 keeps header lengths in 16 bits: the URI's own length is what counts) */
	if ((uri && strnlen(uri, MAX_URI + 1) > MAX_URI) || lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > MAX_URI ||
	    lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > MAX_URI)
		return respond_now(wsi, 414, "URI too long", true);
	if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) <= 0)
		return respond_now(wsi, 405, "POST DIDComm messages here", false);
	if (!path_ok(uri ? uri : "", conf->path))
		return respond_now(wsi, 404, "no such path: DIDComm messages go to the configured path", false);
	lws_hdr_copy(wsi, c->ct, sizeof c->ct, WSI_TOKEN_HTTP_CONTENT_TYPE);
	char cl[32] = "";
	if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
		return respond_now(wsi, 411, "Content-Length required", true);
	char *e = NULL;
	unsigned long long n = strtoull(cl, &e, 10);
	if (!e || *e || cl[0] < '0' || cl[0] > '9')
		return respond_now(wsi, 400, "bad Content-Length", true);
	if (n == 0)
		return respond_now(wsi, 400, "empty body: POST one DIDComm message", false);
	if (n > ad->max_bytes) {
		gw_host_log(ad->host, GW_LOG_INFO, "413 to %s: %llu bytes over max_message_bytes %zu", c->peer, n,
		            ad->max_bytes);
		return respond_now(wsi, 413, "message too big (max_receive_bytes)", true);
	}
	if (ad->host->draining(ad->host))
		return respond_now(wsi, 503, "shutting down: try again later", true);
	if (n > conf->receive_total - ad->receiving) {
		gw_host_log(ad->host, GW_LOG_INFO, "503 to %s: bodies being received are at receive_total %zu", c->peer,
		            conf->receive_total);
		return respond_now(wsi, 503, "busy: try again later", true);
	}
	c->want = (size_t)n;
	ad->receiving += c->want;
	/* the whole body within body_timeout, however slowly it trickles */
	long secs = (long)((conf->body_timeout_ms + 999) / 1000);
	lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, (int)secs);
	char expect[32] = "";
	if (lws_hdr_copy(wsi, expect, sizeof expect, WSI_TOKEN_HTTP_EXPECT) > 0 && strcasecmp(expect, "100-continue") == 0) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		unsigned char buf[LWS_PRE + sizeof cont];
		memcpy(buf + LWS_PRE, cont, sizeof cont - 1);
		if (lws_write(wsi, buf + LWS_PRE, sizeof cont - 1, LWS_WRITE_RAW) != (int)(sizeof cont - 1))
			return -1;
	}
	return 0;
}

/* append a piece of the body (never past Content-Length), growing the buffer as it comes */
static int on_body(struct hconn *c, const void *in, size_t len)
{
	if (!c->want || len > c->want - c->len)
		return -1; /* more than Content-Length announced: drop the connection */
	if (c->len + len > c->cap) {
		size_t cap = c->cap ? c->cap : 16384;
		while (cap < c->len + len)
			cap *= 2;
		if (cap > c->want)
			cap = c->want;
		uint8_t *b = realloc(c->body, cap);
		if (!b)
			return -1;
		c->body = b;
		c->cap = cap;
	}
	memcpy(c->body + c->len, in, len);
	c->len += len;
	return 0;
}

static int http_server_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	const struct lws_protocols *prot = lws_get_protocol(wsi);
	struct gw_adapter *ad = prot ? prot->user : NULL;
	/* our per-session pointer (NULL for the client connections, which keep theirs elsewhere) */
	struct hconn **pc = user, *c = pc ? *pc : NULL;
	switch (reason) {
	case LWS_CALLBACK_FILTER_HTTP_CONNECTION: {
		char up[32] = "";
		if (lws_hdr_copy(wsi, up, sizeof up, WSI_TOKEN_UPGRADE) > 0 && strcasecmp(up, "websocket") != 0) {
			/* h2c: this listener speaks HTTP/1.1; never a 101 that loses the body */
			lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST, "HTTP/1.1 only: send it again without Upgrade");
			return 1;
		}
		return 0;
	}
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		if (in && strcmp(in, "websocket") != 0) {
			/* h2c and the rest: this listener speaks HTTP/1.1; never a 101 that loses the body */
			lws_return_http_status(wsi, HTTP_STATUS_BAD_REQUEST, "HTTP/1.1 only: send it again without Upgrade");
			return 1;
		}
		return 0;
	case LWS_CALLBACK_HTTP:
		if (!ad || !pc)
			return -1;
		return on_request(wsi, ad, pc, in);
	case LWS_CALLBACK_HTTP_BODY:
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (!c)
			return -1;
		if (c->pending || c->ready || c->close_after) {
			/* pipelined: more came behind a request not answered yet. It is not taken: the
			 * answer to the first closes the connection, and the client sends the rest again.
			 * (lws 4.1 offers the rest again on each pass until then; rx flow control would
			 * also stop the writable callback on the libuv loop, so it is not used.) */
			c->close_after = true;
			return 0;
		}
		if (reason == LWS_CALLBACK_HTTP_BODY)
			return on_body(c, in, len);
		if (c->len != c->want)
			return -1;
		return body_done(wsi, c);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (c && c->ready)
			return write_answer(wsi, c);
		return 0;
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		if (c) {
			*pc = NULL;
			c->wsi = NULL;
			release_body(c);
			if (!c->pending)
				hconn_free(c); /* else http_ack frees it */
		}
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* ---- outbound ---------------------------------------------------------------------------- */
struct hreq {
	struct hreq *next;
	struct gw_adapter *ad;
	CURL *e;
	char *url;
	struct curl_slist *hdrs;  /* owned unless it is the adapter's std_hdrs */
	const uint8_t *data;
	size_t len;
	int hops;
	bool untrusted;
	gw_send_done_fn *done;
	void *arg;
	char denied[200];         /* the outbound policy refused the address (opensocket) */
	char err[CURL_ERROR_SIZE];
};

static size_t sink(char *p, size_t size, size_t nmemb, void *arg)
{
	(void)p;
	(void)arg;
	return size * nmemb; /* the response body carries nothing for us (one-way transport) */
}

static void hreq_free(struct hreq *r)
{
	struct gw_adapter *ad = r->ad;
	if (r->e && ad && ad->n_idle < sizeof ad->idle / sizeof ad->idle[0]) {
		curl_easy_reset(r->e);
		ad->idle[ad->n_idle++] = r->e;
	} else if (r->e) {
		curl_easy_cleanup(r->e);
	}
	if (!ad || r->hdrs != ad->std_hdrs)
		curl_slist_free_all(r->hdrs);
	free(r->url);
	free(r);
}

static void finish(struct hreq *r, enum gw_send_result res, const char *why)
{
	r->done(r->arg, res, why);
	hreq_free(r);
}

/* the outbound address policy, after DNS, before the socket exists */
static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct hreq *r = arg;
	(void)purpose;
	struct gw_host *h = r->ad->host;
	if (h->outbound_check(h, &a->addr, a->addrlen, r->untrusted, r->denied, sizeof r->denied) != DC_OK) {
		if (!r->denied[0])
			snprintf(r->denied, sizeof r->denied, "outbound policy: address refused");
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype, a->protocol);
}

/* The one HTTP policy: every POST the gateway makes is set up here. */
static bool setup(struct gw_adapter *ad, struct hreq *r)
{
	if (!r->e)
		r->e = ad->n_idle ? ad->idle[--ad->n_idle] : curl_easy_init();
	CURL *e = r->e;
	if (!e)
		return false;
	r->denied[0] = 0;
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, (const char *)r->data);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ad->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ad->timeout_ms < 5000 ? ad->timeout_ms : 5000L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->err);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "didcomm-gateway");
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* 307/308 by hand: same body, bounded, trusted only */
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");       /* the policy must see the real address */
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, r);
	curl_easy_setopt(e, CURLOPT_SHARE, r->untrusted ? ad->untrusted : NULL);
	if (ad->conf->ca_file && ad->conf->ca_file[0])
		curl_easy_setopt(e, CURLOPT_CAINFO, ad->conf->ca_file);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	return curl_multi_add_handle(ad->m, e) == CURLM_OK;
}

static void completed(struct gw_adapter *ad, CURL *e, CURLcode cr)
{
	struct hreq *r = NULL;
	curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&r);
	curl_multi_remove_handle(ad->m, e);
	ad->active--;
	char why[300];
	if (r->denied[0]) {
		finish(r, GW_FAILED, r->denied); /* a policy refusal will not fix itself */
		return;
	}
	if (cr != CURLE_OK) {
		snprintf(why, sizeof why, "%s", r->err[0] ? r->err : curl_easy_strerror(cr));
		bool permanent = cr == CURLE_PEER_FAILED_VERIFICATION || cr == CURLE_SSL_CACERT_BADFILE ||
		                 cr == CURLE_UNSUPPORTED_PROTOCOL || cr == CURLE_URL_MALFORMAT;
		finish(r, permanent ? GW_FAILED : GW_RETRY, why);
		return;
	}
	long status = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	char *loc = NULL;
	if ((status == 307 || status == 308) && !r->untrusted && r->hops < MAX_REDIRECTS &&
	    curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc) {
		char *u = strdup(loc);
		if (u) {
			free(r->url);
			r->url = u;
			r->hops++;
			r->err[0] = 0;
			if (setup(ad, r)) {
				ad->active++;
				return;
			}
		}
		finish(r, GW_RETRY, "cannot follow a redirect");
		return;
	}
	snprintf(why, sizeof why, "HTTP %ld%s", status,
	         (status == 307 || status == 308) && r->untrusted ? " (redirects of DID endpoints are not followed)" : "");
	if (status >= 200 && status < 300)
		finish(r, GW_SENT, why);
	else if (status == 408 || status == 429 || status >= 500 || status == 307 || status == 308)
		finish(r, GW_RETRY, why);
	else
		finish(r, GW_FAILED, why);
}

static void *client_thread(void *arg)
{
	struct gw_adapter *ad = arg;
	prctl(PR_SET_NAME, "gw-http-out", 0, 0, 0); /* shows in top -H and /proc */
	for (;;) {
		pthread_mutex_lock(&ad->mu);
		struct hreq *r = ad->incoming;
		ad->incoming = NULL;
		bool stop = ad->stop;
		pthread_mutex_unlock(&ad->mu);
		/* the list is newest first: start them in arrival order */
		struct hreq *rev = NULL;
		while (r) {
			struct hreq *n = r->next;
			r->next = rev;
			rev = r;
			r = n;
		}
		for (r = rev; r;) {
			struct hreq *n = r->next;
			r->next = NULL;
			if (stop)
				finish(r, GW_RETRY, "gateway shutting down");
			else if (setup(ad, r))
				ad->active++;
			else
				finish(r, GW_RETRY, "cannot start the transfer");
			r = n;
		}
		if (stop && ad->active == 0)
			break;
		int running = 0;
		curl_multi_perform(ad->m, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(ad->m, &left)))
			if (msg->msg == CURLMSG_DONE)
				completed(ad, msg->easy_handle, msg->data.result);
		if (stop && ad->active == 0)
			break;
		curl_multi_poll(ad->m, NULL, 0, 1000, NULL);
	}
	return NULL;
}

static dc_err http_create(const void *conf_, const struct gw_limits *lim, struct gw_adapter **out, struct dc_errinfo *ei)
{
	const struct http_conf *conf = conf_;
	*out = NULL;
	if (conf->path[0] != '/')
		return dc_errinfo_set(ei, DC_ERR_INVAL, "path: must start with '/', got '%.100s'", conf->path);
	struct gw_adapter *ad = calloc(1, sizeof *ad);
	if (!ad)
		return DC_ERR_NOMEM;
	ad->conf = conf;
	ad->max_bytes = lim->max_message_bytes;
	ad->timeout_ms = (long)conf->timeout_ms;
	ad->per_host = lim->per_destination ? lim->per_destination : 32;
	ad->max_conns = lim->concurrency ? lim->concurrency : 256;
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/didcomm-encrypted+json");
	ad->std_hdrs = h ? curl_slist_append(h, "Expect:") : NULL;
	if (!ad->std_hdrs) {
		curl_slist_free_all(h);
		free(ad);
		return DC_ERR_NOMEM;
	}
	pthread_mutex_init(&ad->mu, NULL);
	*out = ad;
	return DC_OK;
}

static dc_err http_start(struct gw_adapter *ad, struct gw_host *host, struct dc_errinfo *ei)
{
	ad->host = host;
	if (!(ad->m = curl_multi_init()) || !(ad->untrusted = curl_share_init()))
		return dc_errinfo_set(ei, DC_ERR_NOMEM, "cannot create the HTTP client");
	curl_share_setopt(ad->untrusted, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_multi_setopt(ad->m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)ad->per_host);
	curl_multi_setopt(ad->m, CURLMOPT_MAXCONNECTS, (long)ad->max_conns);
	if (pthread_create(&ad->th, NULL, client_thread, ad) != 0)
		return dc_errinfo_set(ei, DC_ERR_NOMEM, "cannot start the HTTP client thread");
	ad->started = true;
	return DC_OK;
}

static dc_err http_send(struct gw_adapter *ad, const struct gw_dest *dest, const struct gw_envelope *env,
                        gw_send_done_fn *done, void *arg)
{
	struct hreq *r = calloc(1, sizeof *r);
	if (!r)
		return DC_ERR_NOMEM;
	r->ad = ad;
	const char *mt = env->media_type ? env->media_type : "application/didcomm-encrypted+json";
	if (strcmp(mt, "application/didcomm-encrypted+json") == 0) {
		r->hdrs = ad->std_hdrs;
	} else {
		char ct[160];
		snprintf(ct, sizeof ct, "Content-Type: %.140s", mt);
		struct curl_slist *h = curl_slist_append(NULL, ct), *h2 = h ? curl_slist_append(h, "Expect:") : NULL;
		r->hdrs = h2 ? h2 : h;
		if (!h2) {
			hreq_free(r);
			return DC_ERR_NOMEM;
		}
	}
	if (!(r->url = strndup(dest->target, dest->target_len))) {
		hreq_free(r);
		return DC_ERR_NOMEM;
	}
	r->untrusted = dest->untrusted;
	r->data = env->data;
	r->len = env->len;
	r->done = done;
	r->arg = arg;
	pthread_mutex_lock(&ad->mu);
	if (ad->stop || !ad->started) {
		pthread_mutex_unlock(&ad->mu);
		hreq_free(r);
		return DC_ERR_AGAIN;
	}
	r->next = ad->incoming;
	ad->incoming = r;
	pthread_mutex_unlock(&ad->mu);
	curl_multi_wakeup(ad->m);
	return DC_OK;
}

static void http_stop(struct gw_adapter *ad)
{
	pthread_mutex_lock(&ad->mu);
	bool was = ad->stop;
	ad->stop = true;
	pthread_mutex_unlock(&ad->mu);
	if (was || !ad->started)
		return;
	curl_multi_wakeup(ad->m);
	pthread_join(ad->th, NULL);
	ad->started = false;
}

static void http_free(struct gw_adapter *ad)
{
	if (!ad)
		return;
	http_stop(ad);
	while (ad->n_idle)
		curl_easy_cleanup(ad->idle[--ad->n_idle]);
	if (ad->m)
		curl_multi_cleanup(ad->m);
	if (ad->untrusted)
		curl_share_cleanup(ad->untrusted);
	curl_slist_free_all(ad->std_hdrs);
	pthread_mutex_destroy(&ad->mu);
	free(ad);
}

static bool http_endpoint(const void *conf_, char *buf, size_t n)
{
	const struct http_conf *conf = conf_;
	int w = snprintf(buf, n, "http://%s%s", conf->listen, conf->path);
	return w > 0 && (size_t)w < n;
}

static bool http_listen(const void *conf_, struct gw_listen *out)
{
	const struct http_conf *conf = conf_;
	*out = (struct gw_listen){ .hostport = conf->listen, .max_connections = conf->max_connections,
		                   .per_peer = conf->per_peer };
	return true;
}

static const struct lws_protocols http_protocols[] = {
	{ "http", http_server_cb, sizeof(void *), 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static const char *const http_schemes[] = { "http", "https", NULL };
const struct gw_adapter_ops gw_ad_http = {
	.name = "http",
	.schemes = http_schemes,
	.flags = GW_AD_IN | GW_AD_OUT,
	.keys = http_keys,
	.n_keys = sizeof http_keys / sizeof http_keys[0],
	.conf_size = sizeof(struct http_conf),
	.create = http_create,
	.start = http_start,
	.send = http_send,
	.stop = http_stop,
	.free = http_free,
	.lws_protocols = http_protocols,
	.endpoint = http_endpoint,
	.listen = http_listen,
};
