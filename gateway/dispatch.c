/* Dispatcher step (see dispatch.h). */
#include "dispatch.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http_client.h"
#include "ingest.h"

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

dc_err gw_dispatch_once(struct dc_queue *q, size_t max, unsigned per_dest, long timeout_ms,
                        struct gw_dispatch_stats *st, struct dc_errinfo *ei)
{
	memset(st, 0, sizeof *st);
	struct dc_queue_item *items = NULL;
	size_t n = 0;
	int64_t now = now_ms();
	dc_err rc = dc_queue_claim(q, now, max, per_dest, timeout_ms * 2 + 5000, &items, &n, ei);
	if (rc)
		return rc;
	for (size_t i = 0; i < n && rc == DC_OK; i++) {
		const struct dc_queue_item *it = &items[i];
		const char *sp = it->dest ? strchr(it->dest, ' ') : NULL;
		char why[256] = "";
		enum gw_send_result r;
		if (!sp) {
			r = GW_FAILED;
			snprintf(why, sizeof why, "bad destination %.100s", it->dest ? it->dest : "(none)");
		} else if (gw_dest_is_hold(it->dest)) {
			r = GW_FAILED;
			snprintf(why, sizeof why, "%s", GW_HOLD_RAN_OUT);
		} else if (strncmp(it->dest, "http ", 5) == 0) {
			struct gw_http_post p = { .url = sp + 1, .media_type = it->media_type, .data = it->data, .len = it->len,
				                  .timeout_ms = timeout_ms };
			long status = 0;
			r = gw_http_post_sync(&p, &status, why, sizeof why);
		} else {
			/* an adapter this build does not have yet: keep the message, try later */
			r = GW_RETRY;
			snprintf(why, sizeof why, "no %.*s adapter in this build", (int)(sp - it->dest), it->dest);
		}
		int64_t t = now_ms();
		if (r == GW_SENT) {
			rc = dc_queue_ack(q, it->id, ei);
			st->sent++;
		} else if (r == GW_RETRY) {
			rc = dc_queue_retry_later(q, it->id, t, why, ei);
			st->retried++;
		} else {
			rc = dc_queue_fail(q, it->id, t, why, ei);
			st->failed++;
		}
	}
	dc_queue_items_free(items, n);
	gw_http_client_cleanup();
	return rc;
}
