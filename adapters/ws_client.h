/* One WebSocket message to an endpoint, synchronously (the `send` command). The daemon
 * keeps connections open instead (adapters/ws.c). */
#ifndef GW_WS_CLIENT_H
#define GW_WS_CLIENT_H
#include <stddef.h>
#include <stdint.h>

#include "adapter.h"

/* url: ws://host[:port]/path or wss://...; ca_file: extra trust anchor for wss (tests), may
 * be NULL. Connects, writes data as one text message, waits until it has left our buffers,
 * closes normally. GW_SENT once written (WebSocket has no receipt); GW_RETRY when the
 * connection fails or times out; GW_FAILED for a URL we cannot use. *reply (may be NULL):
 * the first message the far side sent before our close (a problem report), malloc'd or NULL. */
enum gw_send_result gw_ws_send_sync(const char *url, const uint8_t *data, size_t len, long timeout_ms,
                                    const char *ca_file, char **reply, size_t *reply_len, char *why, size_t why_len);
#endif
