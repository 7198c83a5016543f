/* The libwebsockets callbacks of the adapters that live on the loop (gateway/loop.c builds
 * its protocol list from these). Loop thread only. */
#ifndef GW_LWS_GLUE_H
#define GW_LWS_GLUE_H
#include <libwebsockets.h>

/* protocols[0]: plain HTTP (POST of one message) and the loop's wake-ups */
int gw_http_server_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);
/* "didcomm": inbound WebSocket, each message one message (the default for clients naming none) */
int gw_ws_server_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);
/* "didcomm-client": our outbound WebSocket connections */
int gw_ws_client_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);

#define GW_WS_RX_CHUNK 65536
#endif
