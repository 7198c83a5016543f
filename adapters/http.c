/* adapters/http: inbound POST on the loop's listener, outbound POST with libcurl.
 *
 * Inbound (loop thread): POST to the configured path with Content-Length (411 otherwise:
 * lws does not deliver chunked bodies), a DIDComm media type (415, checked by ingest), at
 * most max_message_bytes (413, before reading the body). The body goes to the ingest
 * workers; the answer is written when they are done: 202 only after the queue commit, 200
 * with our reply when the message asked for return_route, 4xx/5xx with a problem report.
 *
 * Outbound: one thread drives a curl multi handle: many transfers in flight, keep-alive
 * connections reused per host (at most per_destination each), TLS verified, timeouts.
 * 2xx = delivered; 408, 429, 5xx, timeouts and refused connections = retry; other 4xx =
 * permanent; 307/308 followed with the same body (at most 3 hops). */
#include <curl/curl.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "conf.h"
#include "daemon.h"
#include "loop.h"
#include "lws_glue.h"

#define HDR_ROOM 512 /* our response headers fit in this */

/* ---- inbound ----------------------------------------------------------------------------- */
struct hconn {
	struct lws *wsi;      /* NULL once the connection closed (freed when the ack comes) */
	char *body;
	size_t len, cap;
	char ct[128], peer[64];
	bool pending;         /* submitted, waiting for the ack */
	bool ready;           /* an answer waits for HTTP_WRITEABLE */
	int status;
	unsigned char *resp;  /* LWS_PRE + body */
	size_t resp_len;
	char resp_type[64];
};

static void hconn_free(struct hconn *c)
{
	free(c->body);
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

/* loop thread: ingest is done with the message */
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
	c->status = r->status;
	const uint8_t *body = r->body;
	size_t n = r->body_len;
	char text[400];
	if (!body) {
		snprintf(text, sizeof text, "%s\n", r->why);
		body = (const uint8_t *)text;
		n = strlen(text);
	}
	snprintf(c->resp_type, sizeof c->resp_type, "%s", r->body ? r->body_type : "text/plain");
	/* room for the headers right before the body: one write, one segment (write_answer) */
	if (!(c->resp = malloc(LWS_PRE + HDR_ROOM + n + 1))) {
		c->status = 500;
		snprintf(c->resp_type, sizeof c->resp_type, "text/plain");
		n = 0;
		c->resp = NULL;
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
	    lws_finalize_http_header(wsi, &p, end))
		return -1;
	size_t hl = (size_t)(p - start);
	if (!c->resp) { /* out of memory earlier: the headers alone */
		if (lws_write(wsi, start, hl, LWS_WRITE_HTTP_HEADERS) != (int)hl)
			return -1;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	}
	/* HTTP/1.1 only here (no TLS listener, so no h2): headers and body go out as one write */
	unsigned char *out = c->resp + LWS_PRE + HDR_ROOM - hl;
	memcpy(out, start, hl);
	size_t total = hl + c->resp_len;
	if (lws_write(wsi, out, total, LWS_WRITE_HTTP_FINAL) != (int)total)
		return -1;
	free(c->resp);
	c->resp = NULL;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static bool path_ok(const char *uri, const char *path)
{
	size_t n = strcspn(uri, "?");
	return strlen(path) == n && strncmp(uri, path, n) == 0;
}

int gw_http_server_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct gw_loop *loop = gw_loop_of_ctx(lws_get_context(wsi));
	if (reason == LWS_CALLBACK_EVENT_WAIT_CANCELLED) {
		if (loop)
			gw_loop_run_posted(loop);
		return 0;
	}
	/* our per-session pointer (NULL for the client connections, which keep theirs elsewhere) */
	struct hconn **pc = user, *c = pc ? *pc : NULL;
	switch (reason) {
	case LWS_CALLBACK_HTTP: {
		const struct gw_conf *conf = gw_loop_conf(loop);
		if (!c) {
			if (!(c = *pc = calloc(1, sizeof *c)))
				return -1;
			c->wsi = wsi;
		}
		free(c->body);
		c->body = NULL;
		c->len = c->cap = 0;
		c->ct[0] = 0;
		if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) <= 0)
			return respond_now(wsi, 405, "POST DIDComm messages here", false);
		if (!path_ok(in ? (const char *)in : "", conf->http_path))
			return respond_now(wsi, 404, "no such path: DIDComm messages go to the configured path", false);
		lws_hdr_copy(wsi, c->ct, sizeof c->ct, WSI_TOKEN_HTTP_CONTENT_TYPE);
		lws_get_peer_simple(wsi, c->peer, sizeof c->peer);
		char cl[32] = "";
		if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0)
			return respond_now(wsi, 411, "Content-Length required", true);
		char *e = NULL;
		unsigned long long n = strtoull(cl, &e, 10);
		if (!e || *e || cl[0] < '0' || cl[0] > '9')
			return respond_now(wsi, 400, "bad Content-Length", true);
		if (n > conf->max_message_bytes) {
			gw_log("info", "http", "413 from %s: %llu bytes over max_receive_bytes %zu", c->peer, n,
			       conf->max_message_bytes);
			return respond_now(wsi, 413, "message too big (max_receive_bytes)", true);
		}
		if (gw_loop_draining(loop))
			return respond_now(wsi, 503, "shutting down: try again later", true);
		if (!(c->body = malloc((size_t)n + 1)))
			return respond_now(wsi, 503, "out of memory", true);
		c->cap = (size_t)n;
		if (n == 0)
			goto complete; /* no body callbacks will come */
		return 0;
	}
	case LWS_CALLBACK_HTTP_BODY:
		if (!c || !c->body || len > c->cap - c->len)
			return -1; /* more than Content-Length announced: drop the connection */
		memcpy(c->body + c->len, in, len);
		c->len += len;
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
	complete: {
		if (!c || !c->body)
			return -1;
		struct gw_inbound m = { .transport = "http", .source = c->peer, .media_type = c->ct[0] ? c->ct : NULL,
			                .data = (const uint8_t *)c->body, .len = c->len, .live = true };
		dc_err rc = gw_ingest_submit(gw_loop_ingest(loop), &m, http_ack, c);
		free(c->body);
		c->body = NULL;
		if (rc) {
			gw_log("warn", "http", "503 from %s: %s", c->peer, rc == DC_ERR_AGAIN ? "too much waiting" : "no memory");
			return respond_now(wsi, 503, "busy: try again later", false);
		}
		c->pending = true;
		return 0;
	}
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (c && c->ready)
			return write_answer(wsi, c);
		return 0;
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
	case LWS_CALLBACK_CLOSED_HTTP:
		if (c) {
			*pc = NULL;
			c->wsi = NULL;
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
	gw_send_done_fn *done;
	void *arg;
	char err[CURL_ERROR_SIZE];
};

struct gw_adapter {
	long timeout_ms;
	unsigned per_host, max_conns;
	CURLM *m;
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

static bool setup(struct gw_adapter *ad, struct hreq *r)
{
	if (!r->e)
		r->e = ad->n_idle ? ad->idle[--ad->n_idle] : curl_easy_init();
	CURL *e = r->e;
	if (!e)
		return false;
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
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* 307/308 by hand: same body, bounded */
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
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
	if ((status == 307 || status == 308) && r->hops < 3 && curl_easy_getinfo(e, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK &&
	    loc) {
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
	snprintf(why, sizeof why, "HTTP %ld", status);
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

static dc_err http_create(const struct gw_conf *conf, struct gw_adapter **out)
{
	struct gw_adapter *ad = calloc(1, sizeof *ad);
	if (!ad)
		return DC_ERR_NOMEM;
	ad->timeout_ms = (long)conf->http_timeout_ms;
	ad->per_host = conf->per_dest_limit;
	ad->max_conns = conf->concurrency;
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

static dc_err http_start(struct gw_adapter *ad, struct gw_loop *loop, struct gw_ingest *in)
{
	(void)loop; /* inbound runs in the loop's protocol list (gw_http_server_cb) */
	(void)in;
	if (!(ad->m = curl_multi_init()))
		return DC_ERR_NOMEM;
	curl_multi_setopt(ad->m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)ad->per_host);
	curl_multi_setopt(ad->m, CURLMOPT_MAXCONNECTS, (long)ad->max_conns);
	if (pthread_create(&ad->th, NULL, client_thread, ad) != 0)
		return DC_ERR_NOMEM;
	ad->started = true;
	return DC_OK;
}

static dc_err http_send(struct gw_adapter *ad, const char *target, const struct gw_envelope *env,
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
		snprintf(ct, sizeof ct, "Content-Type: %s", mt);
		struct curl_slist *h = curl_slist_append(NULL, ct), *h2 = h ? curl_slist_append(h, "Expect:") : NULL;
		r->hdrs = h2 ? h2 : h;
		if (!h2) {
			hreq_free(r);
			return DC_ERR_NOMEM;
		}
	}
	r->url = strdup(target);
	if (!r->url) {
		hreq_free(r);
		return DC_ERR_NOMEM;
	}
	r->ad = ad;
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
	if (ad->m)
		curl_multi_cleanup(ad->m);
	while (ad->n_idle)
		curl_easy_cleanup(ad->idle[--ad->n_idle]);
	curl_slist_free_all(ad->std_hdrs);
	pthread_mutex_destroy(&ad->mu);
	free(ad);
}

static const char *const http_schemes[] = { "http", "https", NULL };
const struct gw_adapter_ops gw_ad_http = {
	.name = "http",
	.schemes = http_schemes,
	.flags = GW_AD_IN | GW_AD_OUT,
	.create = http_create,
	.start = http_start,
	.send = http_send,
	.stop = http_stop,
	.free = http_free,
};
