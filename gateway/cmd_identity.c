/* didcomm-gateway identity [-c CONF] [--state-dir DIR]: print the gateway's DID (created on
 * first use, with its secrets 0600 in the state dir), e.g. to give to agents as a mediator. */
#include "gateway.h"
#include "state.h"

#include <getopt.h>
#include <stdio.h>

int gw_cmd_identity(int argc, char **argv)
{
	static const struct option opts[] = { { "config", required_argument, 0, 'c' },
		                              { "state-dir", required_argument, 0, 's' },
		                              { 0, 0, 0, 0 } };
	const char *conf = NULL, *state = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (c == 'c')
			conf = optarg;
		else if (c == 's')
			state = optarg;
		else
			return 2;
	}
	struct gw_state s;
	int ret = gw_state_open(&s, "identity", conf, state);
	if (ret == 0)
		printf("%s\n", s.did);
	gw_state_close(&s);
	return ret;
}
