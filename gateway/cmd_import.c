/* didcomm-gateway import [-c CONF] [--state-dir DIR] [--receipt DIR] FILE...
 * The offline exchange: packed messages carried as files (USB stick, drop folder) enter the
 * gateway exactly as if they had arrived over a transport ("file"): forwards for us are
 * opened, the rules decide, and the deliveries are committed to the queue. The file is not
 * removed here (the file adapter removes what it takes, after the commit). A bundle written
 * by `export`, or a receipt, goes to cmd_bundle.c. */
#include "bundle.h"
#include "gateway.h"
#include "state.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *media_of(const char *path)
{
	const char *dot = strrchr(path, '.');
	if (!dot)
		return NULL;
	if (strcmp(dot, ".dcem") == 0)
		return "application/didcomm-encrypted+json";
	if (strcmp(dot, ".dcsm") == 0)
		return "application/didcomm-signed+json";
	if (strcmp(dot, ".dcpm") == 0)
		return "application/didcomm-plain+json";
	return NULL; /* classified by content */
}

int gw_cmd_import(int argc, char **argv)
{
	static const struct option opts[] = { { "config", required_argument, 0, 'c' },
		                              { "state-dir", required_argument, 0, 's' },
		                              { "receipt", required_argument, 0, 'r' },
		                              { 0, 0, 0, 0 } };
	const char *conf = NULL, *state = NULL, *receipt = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (c == 'c')
			conf = optarg;
		else if (c == 's')
			state = optarg;
		else if (c == 'r')
			receipt = optarg;
		else
			return 2;
	}
	int first = optind;
	if (first >= argc) {
		fprintf(stderr, "usage: import [-c CONF] [--state-dir DIR] [--receipt DIR] FILE...\n");
		return 2;
	}
	struct gw_state s;
	if (gw_state_open_cmd(&s, "import", conf, state)) {
		gw_state_close(&s);
		return 1;
	}
	struct gw_ingest_cfg g;
	gw_state_ingest_cfg(&s, &g);
	int ret = 0;
	for (int i = first; i < argc; i++) {
		char *data = NULL;
		size_t len = 0;
		dc_err rc = gw_read_input(argv[i], GW_BUNDLE_MAX_BYTES, &data, &len);
		if (rc) {
			fprintf(stderr, "import: %s: %s\n", argv[i], rc == DC_ERR_IO ? strerror(errno) : dc_strerror(rc));
			ret = 1;
			continue;
		}
		if (gw_bundle_is(data, len)) {
			ret |= gw_bundle_import(&s, argv[i], data, len, receipt);
			free(data);
			continue;
		}
		if (len > s.conf.max_message_bytes) {
			fprintf(stderr, "import: %s: %zu bytes, over max_message_bytes %zu\n", argv[i], len,
			        s.conf.max_message_bytes);
			free(data);
			ret = 1;
			continue;
		}
		struct gw_ingest_result r;
		struct gw_ingest_in m = { .transport = "file", .source = argv[i], .media_type = media_of(argv[i]),
			                  .data = (const uint8_t *)data, .len = len };
		gw_ingest(&g, &m, &r);
		if (r.outcome == GW_ACCEPTED) {
			printf("import: %s: %s%s\n", argv[i], r.why, r.reply ? " (a reply was made; offline import drops it)" : "");
		} else {
			fprintf(stderr, "import: %s: %s %s%s%s\n", argv[i], r.outcome == GW_TRY_LATER ? "try later:" : "refused:",
			        r.why, r.problem_code[0] ? " " : "",
			        r.problem_code);
			ret = 1;
		}
		gw_ingest_result_clear(&r);
		free(data);
	}
	gw_state_close(&s);
	return ret;
}
