/* Outbound HTTP delivery (libcurl), shared by `send` and the dispatcher. */
#ifndef GW_HTTP_CLIENT_H
#define GW_HTTP_CLIENT_H
#include <stddef.h>
#include <stdint.h>

#include "adapter.h"

struct gw_http_post {
	const char *url;
	const char *media_type;  /* application/didcomm-encrypted+json ... */
	const uint8_t *data;
	size_t len;
	long timeout_ms;         /* whole request; 0 = 10 s */
	const char *ca_file;     /* extra trust anchor for https (tests), may be NULL */
};

/* POST once. 2xx -> GW_SENT; 408, 429, 5xx, timeouts, refused or reset connections -> GW_RETRY;
 * other statuses (4xx, 3xx other than 307/308 which are followed) -> GW_FAILED. why gets one
 * line ("HTTP 503", "connection refused", ...); *status the HTTP status or 0. */
enum gw_send_result gw_http_post_sync(const struct gw_http_post *p, long *status, char *why, size_t why_len);
/* free this thread's reused handle (at thread or program exit) */
void gw_http_client_cleanup(void);
#endif
