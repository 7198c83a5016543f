/* `run`: until the daemon lands (issue: the gateway), create or load the gateway's own
 * identity in the state dir and print it. */
#include "conf.h"
#include "gateway.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int run_identity(const struct gw_conf *conf);

int gw_cmd_run(int argc, char **argv)
{
	struct gw_conf conf;
	struct gw_conf_err ce;
	const char *path = NULL;
	bool test_only = false;
	int c;
	optind = 1;
	while ((c = getopt(argc, argv, "c:t")) != -1) {
		if (c == 'c')
			path = optarg;
		else if (c == 't')
			test_only = true;
		else
			return 2;
	}
	gw_conf_defaults(&conf);
	if (path && gw_conf_load(&conf, path, &ce)) {
		fprintf(stderr, "run: %s\n", ce.msg);
		gw_conf_clear(&conf);
		return 1;
	}
	if (test_only) {
		printf("run: configuration %s ok\n", path ? path : "(built-in defaults)");
		gw_conf_print(&conf, stdout);
		gw_conf_clear(&conf);
		return 0;
	}
	int ret = run_identity(&conf);
	gw_conf_clear(&conf);
	return ret;
}

static int run_identity(const struct gw_conf *conf)
{
	const char *state = conf->state_dir;
	if (mkdir(state, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "run: %s: %s\n", state, strerror(errno));
		return 1;
	}
	char secrets[4096], didfile[4096];
	snprintf(secrets, sizeof secrets, "%s/secrets.json", state);
	snprintf(didfile, sizeof didfile, "%s/did.txt", state);
	struct dc_errinfo ei = { 0 };
	char *did = NULL;
	size_t len = 0;
	if (gw_read_input(didfile, 1 << 16, &did, &len) == DC_OK && len > 4) {
		did[strcspn(did, "\r\n")] = 0;
	} else {
		free(did);
		did = NULL;
		struct dc_keystore *ks = NULL;
		char url[512];
		if (conf->public_url[0])
			snprintf(url, sizeof url, "%s", conf->public_url);
		else
			snprintf(url, sizeof url, "http://%s%s", conf->http_listen, conf->http_path);
		const char *ep[] = { url };
		struct dc_did_new_opts o = { .method = DC_DID_PEER2, .endpoints = ep, .n_endpoints = 1 };
		if (dc_keystore_new(&ks) || dc_did_new(&o, ks, &did, &ei) || dc_keystore_save_file(ks, secrets, &ei)) {
			fprintf(stderr, "run: creating the gateway identity: %s\n", ei.msg[0] ? ei.msg : "failed");
			dc_keystore_free(ks);
			free(did);
			return 1;
		}
		dc_keystore_free(ks);
		FILE *f = fopen(didfile, "w");
		if (!f || fprintf(f, "%s\n", did) < 0 || fclose(f) != 0) {
			fprintf(stderr, "run: %s: %s\n", didfile, strerror(errno));
			free(did);
			return 1;
		}
	}
	printf("didcomm-gateway: identity %s (secrets in %s)\n", did, secrets);
	printf("didcomm-gateway: the relay daemon is not built yet; use pack/unpack/did meanwhile\n");
	free(did);
	return 0;
}
