/* Gateway configuration: `key value` lines and [sections], parsed by key tables: the
 * gateway's own (below) and each adapter's (struct gw_adapter_ops.keys). An adapter's section
 * that is absent means the adapter is off. Every key has a default. Errors read
 * "file:line: what". */
#ifndef GW_CONF_H
#define GW_CONF_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adapter.h"

#define GW_MAX_ADAPTERS 16
/* what runs without a configuration file: the HTTP listener with WebSocket on it */
#define GW_CONF_BUILTIN "[http]\n[ws]\n"

struct gw_conf {
	char *name;               /* the file read, for messages */
	/* global */
	char *state_dir;          /* var */
	char *log_level;          /* debug|info|warn|error */
	char *log_format;         /* text|json */
	char *rules;              /* rule file; "" = the built-in rules (rules.h) */
	char *identity_method;    /* peer2 */
	char *public_url;         /* endpoint put in our DID (default: the adapters' endpoints) */
	size_t max_message_bytes; /* 10 MiB, advertised as max_receive_bytes */
	unsigned workers;         /* threads opening envelopes; 0 = one per CPU (plus the committer) */
	/* [queue] */
	size_t queue_max_items;
	int64_t retry_base_ms, retry_max_ms, max_age_ms, lease_ms;
	unsigned per_dest_limit;
	bool queue_sync_full;     /* synchronous=FULL: survive power loss, not only kill -9 */
	size_t queue_files_from;  /* envelopes this big or bigger: a file each beside the database; 0 = none */
	unsigned concurrency;     /* deliveries in flight, all destinations together */
	unsigned per_peer_rate;   /* messages a second one peer address may submit (burst twice that) */
	unsigned queue_share;     /* percent of max_items one origin or one sender may have queued */
	char *queue_backend;      /* sqlite (state_dir/queue.db) | postgres (shared by several gateways) */
	char *queue_url;          /* postgres: libpq URL or conninfo */
	char *queue_password_file;/* postgres: the password (a 0600 file), "" = libpq's ways (PGPASSFILE) */
	char *queue_instance;     /* postgres: this gateway's name among those sharing it; "" = host:state_dir */
	/* [outbound] */
	struct gw_conf_list outbound_allow; /* CIDRs DID-derived targets may reach besides public ones */
	/* [admin]: present = on */
	bool admin_on;
	char *admin_listen;       /* host:port, loopback unless a token is set */
	char *admin_token_file;   /* bearer token (file of mode 0600 or stricter), "" = none */
	unsigned admin_max_conns; /* admin connections at once */
	/* [relay] */
	int64_t loop_window_ms;   /* an envelope seen again within this is a loop */
	unsigned max_hops;        /* nested forwards to us */
	/* [mediator] */
	char *med_policy;         /* open | closed | allow FILE: who is granted mediation */
	int64_t med_hold_ms;      /* how long a message for a registered recipient waits for pickup */
	/* adapters' sections, by their index in gw_adapters[]: parsed, or NULL when absent */
	void *ad_conf[GW_MAX_ADAPTERS];
	unsigned ad_line[GW_MAX_ADAPTERS]; /* where the section starts */
};

void gw_conf_defaults(struct gw_conf *c);
/* Parse path over the defaults already in c. DC_ERR_MALFORMED with e->msg "file:line: what",
 * DC_ERR_IO when the file cannot be read. */
dc_err gw_conf_load(struct gw_conf *c, const char *path, struct dc_errinfo *e) DC_WUR;
dc_err gw_conf_load_text(struct gw_conf *c, const char *name, const char *text, size_t len,
                         struct dc_errinfo *e) DC_WUR;
void gw_conf_clear(struct gw_conf *c);
/* Print the effective configuration (for `run -t`). */
void gw_conf_print(const struct gw_conf *c, void *file);
/* the limits adapters see */
void gw_conf_limits(const struct gw_conf *c, struct gw_limits *lim);
/* The gateway's endpoint URIs for its DID document: public_url when set, else what the
 * configured adapters serve. Returns how many (at most max), each in bufs[i] (n bytes). */
size_t gw_conf_endpoints(const struct gw_conf *c, char (*bufs)[512], size_t max);
#endif
