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
	/* the gateway's own endpoint URIs (public_url, or what its adapters serve) */
#define GW_STATE_MAX_ENDPOINTS 8
	char endpoint_buf[GW_STATE_MAX_ENDPOINTS][512];
	const char *endpoints[GW_STATE_MAX_ENDPOINTS];
	size_t n_endpoints;
};

/* conf_path may be NULL (defaults); state_dir overrides the configuration's when not NULL.
 * Creates the identity on first use. Errors go to stderr with the command's name. */
int gw_state_open(struct gw_state *s, const char *cmd, const char *conf_path, const char *state_dir);
void gw_state_close(struct gw_state *s);
/* The options every state-using command takes: -c/--config FILE and --state-dir DIR. Returns
 * the index of the first operand, or -1 on a usage error. */
int gw_state_args(int argc, char **argv, const char **conf, const char **state_dir);
void gw_state_ingest_cfg(const struct gw_state *s, struct gw_ingest_cfg *g);
#endif
