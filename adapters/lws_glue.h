/* The libwebsockets callbacks of the adapters that live on the loop (gateway/loop.c builds
 * its protocol list from these). Loop thread only. */
#ifndef GW_LWS_GLUE_H
#define GW_LWS_GLUE_H
#include <libwebsockets.h>
#include <stdbool.h>

/* protocols[0]: plain HTTP (POST of one message) and the loop's wake-ups */
int gw_http_server_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);
/* "didcomm": inbound WebSocket, each message one message (the default for clients naming none) */
int gw_ws_server_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);
/* "didcomm-client": our outbound WebSocket connections */
int gw_ws_client_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);

#define GW_WS_RX_CHUNK 65536

/* A ws:// or wss:// URL taken apart for lws_client_connect_via_info (ws_client.c). */
struct gw_ws_target {
	char buf[1024];   /* lws_parse_uri works in place: addr points in here */
	char path[1100];
	const char *addr;
	int port;
	bool tls;
};
/* false: not a ws:// or wss:// URL (or too long) */
bool gw_ws_target_parse(struct gw_ws_target *t, const char *url);
/* address, port, path, host, origin, TLS; no subprotocol named (servers differ) */
void gw_ws_target_fill(const struct gw_ws_target *t, struct lws_client_connect_info *ci);
#endif
