/* didcomm-gateway identity [-c CONF] [--state-dir DIR]: print the gateway's DID (created on
 * first use, with its secrets 0600 in the state dir), e.g. to give to agents as a mediator. */
#include "gateway.h"
#include "state.h"

#include <stdio.h>

int gw_cmd_identity(int argc, char **argv)
{
	const char *conf = NULL, *state = NULL;
	if (gw_state_args(argc, argv, &conf, &state) < 0)
		return 2;
	struct gw_state s;
	int ret = gw_state_open_cmd(&s, "identity", conf, state);
	if (ret == 0)
		printf("%s\n", s.did);
	gw_state_close(&s);
	return ret;
}
