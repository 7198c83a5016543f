/* Synchronous WebSocket send (see ws_client.h): a private lws client context for one
 * message, so `send` shares nothing with the daemon's loop. */
#include "ws_client.h"
#include "lws_glue.h"

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct wss {
	const uint8_t *data;
	size_t len;
	bool written, flushed, closed, failed;
	char why[256];
	char *reply;
	size_t reply_len, reply_cap, max_reply;
};

static int cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct wss *s = lws_get_opaque_user_data(wsi);
	(void)user;
	if (!s)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (!s->written) {
			unsigned char *buf = malloc(LWS_PRE + s->len);
			if (!buf) {
				s->failed = true;
				snprintf(s->why, sizeof s->why, "out of memory");
				return -1;
			}
			memcpy(buf + LWS_PRE, s->data, s->len);
			int n = lws_write(wsi, buf + LWS_PRE, s->len, LWS_WRITE_TEXT);
			free(buf);
			if (n < 0 || (size_t)n != s->len) {
				s->failed = true;
				snprintf(s->why, sizeof s->why, "WebSocket write failed");
				return -1;
			}
			s->written = true;
			lws_callback_on_writable(wsi); /* comes back once what lws buffered has gone */
			return 0;
		}
		s->flushed = true;
		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (!s->reply_len || s->reply_cap) {
			/* keep the first message (bounded): a problem report about ours */
			if (s->reply_len + len > s->max_reply)
				return 0;
			char *p = realloc(s->reply, s->reply_len + len + 1);
			if (!p)
				return 0;
			s->reply = p;
			memcpy(p + s->reply_len, in, len);
			s->reply_len += len;
			p[s->reply_len] = 0;
			s->reply_cap = lws_is_final_fragment(wsi) ? 0 : 1;
		}
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		s->failed = true;
		snprintf(s->why, sizeof s->why, "%.200s", in ? (const char *)in : "connection failed");
		s->closed = true;
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (!s->flushed && !s->failed) {
			s->failed = true;
			snprintf(s->why, sizeof s->why, "connection closed before the message was sent");
		}
		s->closed = true;
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	{ "didcomm-send", cb, 0, 65536, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

bool gw_ws_target_parse(struct gw_ws_target *t, const char *url)
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

void gw_ws_target_fill(const struct gw_ws_target *t, struct lws_client_connect_info *ci)
{
	ci->address = t->addr;
	ci->port = t->port;
	ci->path = t->path;
	ci->host = t->addr;
	ci->origin = t->addr;
	ci->ssl_connection = t->tls ? LCCSCF_USE_SSL : 0;
	ci->protocol = NULL; /* servers differ: name none, as the spec's transports do */
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum gw_send_result gw_ws_send_sync(const char *url, const uint8_t *data, size_t len, long timeout_ms,
                                    const char *ca_file, char **reply, size_t *reply_len, char *why, size_t why_len)
{
	if (reply)
		*reply = NULL;
	if (reply_len)
		*reply_len = 0;
	struct gw_ws_target t;
	if (!gw_ws_target_parse(&t, url)) {
		snprintf(why, why_len, "not a usable ws:// or wss:// URL");
		return GW_FAILED;
	}
	lws_set_log_level(LLL_ERR, NULL);
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
	info.client_ssl_ca_filepath = ca_file;
	struct lws_context *ctx = lws_create_context(&info);
	if (!ctx) {
		snprintf(why, why_len, "cannot create a WebSocket client");
		return GW_RETRY;
	}
	struct wss s = { .data = data, .len = len, .max_reply = 1u << 20 };
	struct lws_client_connect_info ci;
	memset(&ci, 0, sizeof ci);
	ci.context = ctx;
	gw_ws_target_fill(&t, &ci);
	ci.local_protocol_name = "didcomm-send";
	ci.opaque_user_data = &s;
	enum gw_send_result r = GW_RETRY;
	if (!lws_client_connect_via_info(&ci) && !s.failed) {
		snprintf(why, why_len, "cannot connect");
		goto out;
	}
	int64_t until = mono_ms() + (timeout_ms > 0 ? timeout_ms : 10000);
	while (!s.closed && mono_ms() < until)
		if (lws_service(ctx, 0) < 0)
			break;
	if (s.flushed) {
		r = GW_SENT;
		snprintf(why, why_len, "written to the WebSocket");
	} else if (s.failed) {
		snprintf(why, why_len, "%s", s.why);
	} else {
		snprintf(why, why_len, "timed out");
	}
out:
	lws_context_destroy(ctx);
	if (reply && s.reply) {
		*reply = s.reply;
		if (reply_len)
			*reply_len = s.reply_len;
	} else {
		free(s.reply);
	}
	return r;
}
