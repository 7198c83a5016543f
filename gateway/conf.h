/* Gateway configuration: `key value` lines, [sections], parsed by one table.
 * Every key has a default, so an empty file is a valid configuration. */
#ifndef GW_CONF_H
#define GW_CONF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gw_conf {
	/* global */
	char *state_dir;          /* var */
	char *log_level;          /* debug|info|warn|error */
	char *rules;              /* rule file; "" = built-in "default -> resolve else hold 72h" */
	char *identity_method;    /* peer2 */
	char *public_url;         /* endpoint put in our DID (default: http://<http listen>/) */
	size_t max_message_bytes; /* 10 MiB, advertised as max_receive_bytes */
	unsigned workers;         /* threads opening envelopes; 0 = one per CPU (plus the committer) */
	/* queue */
	size_t queue_max_items;
	int64_t retry_base_ms, retry_max_ms, max_age_ms, lease_ms;
	unsigned per_dest_limit;
	bool queue_sync_full;     /* synchronous=FULL: survive power loss, not only kill -9 */
	size_t queue_files_from;  /* envelopes this big or bigger: a file each beside the database; 0 = none */
	unsigned concurrency;     /* deliveries in flight, all destinations together */
	/* [http] (serves WebSocket on the same listener) */
	bool http_enabled, ws_enabled;
	char *http_listen;        /* host:port; port 0 = pick one */
	char *http_path;
	int64_t http_timeout_ms;  /* outbound request timeout */
};

struct gw_conf_err {
	char msg[512];            /* "file:line: what" */
};

void gw_conf_defaults(struct gw_conf *c);
/* Parse path over the defaults already in c. Returns 0, or -1 with e->msg set. */
int gw_conf_load(struct gw_conf *c, const char *path, struct gw_conf_err *e);
int gw_conf_load_text(struct gw_conf *c, const char *name, const char *text, size_t len, struct gw_conf_err *e);
void gw_conf_clear(struct gw_conf *c);
/* Print the effective configuration (for `run -t`). */
void gw_conf_print(const struct gw_conf *c, void *file);
#endif
