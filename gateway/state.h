/* The gateway's state opened from its configuration: identity (DID + 0600 secrets), resolver,
 * context, queue and rules. Shared by the daemon and the offline commands. */
#ifndef GW_STATE_H
#define GW_STATE_H
#include "conf.h"
#include "dc_queue.h"
#include "ingest.h"
#include "rules.h"

struct gw_state {
	struct gw_conf conf;
	char *did;
	struct dc_resolver *res;
	struct dc_keystore *ks;
	struct dc_ctx *ctx;
	struct dc_queue *q;
	struct rule_set *rules;
	struct gw_med *med;    /* the daemon's mediator (mediator.h), NULL in the offline commands */
	/* the gateway's own endpoint URIs (public_url, or what its adapters serve) */
#define GW_STATE_MAX_ENDPOINTS 8
	char endpoint_buf[GW_STATE_MAX_ENDPOINTS][512];
	const char *endpoints[GW_STATE_MAX_ENDPOINTS];
	size_t n_endpoints;
	char notice[600];      /* what opening did that the user should hear of (did.txt rebuilt), or "" */
	bool adapter_on[GW_MAX_ADAPTERS]; /* by index in gw_adapters[]: its section is configured */
	int lock_fd;           /* gw_state_lock's, while locked */
	bool locked;
};

/* conf_path may be NULL (defaults); state_dir overrides the configuration's when not NULL.
 * Creates the identity on first use; an existing secrets.json is never replaced (a missing
 * did.txt is derived from it again). A 0-byte queue.db is refused. Every file it creates is
 * 0600. Errors: ei, for the command to print; s->notice: what it did that the user should hear of. */
dc_err gw_state_open(struct gw_state *s, const char *conf_path, const char *state_dir, struct dc_errinfo *ei) DC_WUR;
/* the same for a command: the error and the notice on stderr with its name; the exit code */
int gw_state_open_cmd(struct gw_state *s, const char *cmd, const char *conf_path, const char *state_dir);
void gw_state_close(struct gw_state *s);
/* The daemon's hold on state_dir: an exclusive flock on state_dir/lock, which holds its pid,
 * kept until gw_state_close (or exit). 1 with a message naming the holder's pid when another
 * process has it. Offline commands do not take it. */
dc_err gw_state_lock(struct gw_state *s, struct dc_errinfo *ei) DC_WUR;
/* The daemon's start-up check of the queue (PRAGMA quick_check): 1 with a message naming the
 * file and what SQLite said when it is damaged. */
dc_err gw_state_check_queue(struct gw_state *s, struct dc_errinfo *ei) DC_WUR;
/* The options every state-using command takes: -c/--config FILE and --state-dir DIR. Returns
 * the index of the first operand, or -1 on a usage error. */
int gw_state_args(int argc, char **argv, const char **conf, const char **state_dir);
/* The configured queue ([queue] backend): SQLite in state_dir/queue.db (a 0-byte file refused),
 * or the shared PostgreSQL (url, password_file, instance: host:state_dir by default). */
dc_err gw_queue_open(const struct gw_conf *c, const char *state_dir, struct dc_queue **q, struct dc_errinfo *ei) DC_WUR;
void gw_state_ingest_cfg(const struct gw_state *s, struct gw_ingest_cfg *g);
#endif
