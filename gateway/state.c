/* Opening the gateway's state (see state.h). */
#include "state.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gateway.h"

static int identity(struct gw_state *s, const char *cmd)
{
	char secrets[4200], didfile[4200];
	struct dc_errinfo ei = { 0 };
	snprintf(secrets, sizeof secrets, "%s/secrets.json", s->conf.state_dir);
	snprintf(didfile, sizeof didfile, "%s/did.txt", s->conf.state_dir);
	size_t len = 0;
	if (gw_read_input(didfile, 1 << 16, &s->did, &len) == DC_OK && len > 4) {
		s->did[strcspn(s->did, "\r\n")] = 0;
		if (dc_keystore_load_file(s->ks, secrets, &ei)) {
			fprintf(stderr, "%s: %s: %s\n", cmd, secrets, ei.msg);
			return 1;
		}
		return 0;
	}
	free(s->did);
	s->did = NULL;
	struct dc_did_new_opts o = { .method = DC_DID_PEER2, .endpoints = s->endpoints, .n_endpoints = s->n_endpoints };
	if (dc_did_new(&o, s->ks, &s->did, &ei) || dc_keystore_save_file(s->ks, secrets, &ei)) {
		fprintf(stderr, "%s: creating the gateway identity: %s\n", cmd, ei.msg);
		return 1;
	}
	FILE *f = fopen(didfile, "w");
	if (!f || fprintf(f, "%s\n", s->did) < 0 || fclose(f) != 0) {
		fprintf(stderr, "%s: %s: %s\n", cmd, didfile, strerror(errno));
		return 1;
	}
	return 0;
}

/* the state's queue; the daemon shares this one handle between its threads */
static dc_err queue_open(const struct gw_state *s, struct dc_queue **q, struct dc_errinfo *ei)
{
	char qpath[4200];
	snprintf(qpath, sizeof qpath, "%s/queue.db", s->conf.state_dir);
	/* the daemon shares one connection between its threads: a bigger log between checkpoints
	 * means fewer fsyncs in their way */
	struct dc_queue_opts qo = { .max_items = s->conf.queue_max_items, .max_item_bytes = s->conf.max_message_bytes * 2,
		                    .retry_base_ms = s->conf.retry_base_ms, .retry_max_ms = s->conf.retry_max_ms,
		                    .max_age_ms = s->conf.max_age_ms, .sync_full = s->conf.queue_sync_full,
		                    .checkpoint_pages = 1000, .blob_min_bytes = s->conf.queue_files_from };
	return dc_queue_open_sqlite(qpath, &qo, q, ei);
}

int gw_state_open(struct gw_state *s, const char *cmd, const char *conf_path, const char *state_dir)
{
	struct gw_conf_err ce;
	struct dc_errinfo ei = { 0 };
	memset(s, 0, sizeof *s);
	gw_conf_defaults(&s->conf);
	if (conf_path ? gw_conf_load(&s->conf, conf_path, &ce) :
	                gw_conf_load_text(&s->conf, "(built-in)", GW_CONF_BUILTIN, strlen(GW_CONF_BUILTIN), &ce)) {
		fprintf(stderr, "%s: %s\n", cmd, ce.msg);
		return 1;
	}
	s->n_endpoints = gw_conf_endpoints(&s->conf, s->endpoint_buf, GW_STATE_MAX_ENDPOINTS);
	for (size_t i = 0; i < s->n_endpoints; i++)
		s->endpoints[i] = s->endpoint_buf[i];
	if (state_dir) {
		char *d = strdup(state_dir);
		if (!d)
			return 1;
		free(s->conf.state_dir);
		s->conf.state_dir = d;
	}
	if (mkdir(s->conf.state_dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "%s: %s: %s\n", cmd, s->conf.state_dir, strerror(errno));
		return 1;
	}
	if (dc_resolver_new(1024, &s->res) || dc_keystore_new(&s->ks)) {
		fprintf(stderr, "%s: out of memory\n", cmd);
		return 1;
	}
	dc_resolver_set_fetch(s->res, gw_web_fetch, NULL);
	if (identity(s, cmd) || dc_ctx_new(s->res, s->ks, &s->ctx))
		return 1;
	if (queue_open(s, &s->q, &ei)) {
		fprintf(stderr, "%s: %s\n", cmd, ei.msg);
		return 1;
	}
	struct rule_diag *d = NULL;
	size_t nd = 0;
	dc_err rc = s->conf.rules[0] ? rule_set_parse_file(s->conf.rules, &s->rules, &d, &nd) :
	                               rule_set_parse_text("(built-in rules)", RULE_BUILTIN_TEXT, strlen(RULE_BUILTIN_TEXT),
	                                                   &s->rules, &d, &nd);
	for (size_t i = 0; i < nd; i++)
		rule_diag_print(stderr, s->conf.rules[0] ? s->conf.rules : "(built-in rules)", &d[i]);
	free(d);
	if (rc) {
		fprintf(stderr, "%s: the rules have errors; nothing was changed\n", cmd);
		return 1;
	}
	return 0;
}

void gw_state_close(struct gw_state *s)
{
	rule_set_free(s->rules);
	dc_queue_close(s->q);
	dc_ctx_free(s->ctx);
	dc_keystore_free(s->ks);
	dc_resolver_free(s->res);
	free(s->did);
	gw_conf_clear(&s->conf);
	memset(s, 0, sizeof *s);
}

void gw_state_ingest_cfg(const struct gw_state *s, struct gw_ingest_cfg *g)
{
	memset(g, 0, sizeof *g);
	g->dc = s->ctx;
	g->q = s->q;
	g->rules = s->rules;
	g->max_bytes = s->conf.max_message_bytes;
	g->proto.our_did = s->did;
	g->proto.max_receive_bytes = s->conf.max_message_bytes;
	g->our_endpoints = s->endpoints;
	g->n_endpoints = s->n_endpoints;
	g->max_hops = s->conf.max_hops;
	g->loop_window_ms = s->conf.loop_window_ms;
}

int gw_state_args(int argc, char **argv, const char **conf, const char **state_dir)
{
	static const struct option opts[] = { { "config", required_argument, 0, 'c' },
		                              { "state-dir", required_argument, 0, 's' },
		                              { 0, 0, 0, 0 } };
	int c;
	*conf = *state_dir = NULL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (c == 'c')
			*conf = optarg;
		else if (c == 's')
			*state_dir = optarg;
		else
			return -1;
	}
	return optind;
}
