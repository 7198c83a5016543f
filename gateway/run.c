/* `run`: until the daemon lands (issue: the gateway), create or load the gateway's own
 * identity in the state dir and print it. */
#include "gateway.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int gw_cmd_run(int argc, char **argv)
{
	const char *state = getenv("DIDCOMM_STATE_DIR") ? getenv("DIDCOMM_STATE_DIR") : "var";
	int c;
	optind = 1;
	while ((c = getopt(argc, argv, "c:")) != -1) {
		if (c != 'c')
			return 2;
		/* config file support arrives with the daemon; accept and ignore it for now */
	}
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
		const char *ep[] = { "http://127.0.0.1:8080/" };
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
