/* `run`: open the gateway's state (configuration, identity created on first start, queue,
 * rules: any error stops here with file:line), take state_dir's lock (one daemon per state
 * directory), check the queue, and run the daemon. `-t` checks the
 * configuration and prints it. */
#include "admin.h"
#include "conf.h"
#include "gateway.h"
#include "mediator.h"
#include "state.h"
#include "daemon.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gw_cmd_run(int argc, char **argv)
{
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
	if (test_only) {
		struct gw_conf conf;
		struct dc_errinfo ce = { 0 };
		gw_conf_defaults(&conf);
		int ret = 0;
		if (path ? gw_conf_load(&conf, path, &ce) :
		           gw_conf_load_text(&conf, "(built-in)", GW_CONF_BUILTIN, strlen(GW_CONF_BUILTIN), &ce)) {
			fprintf(stderr, "run: %s\n", ce.msg);
			ret = 1;
		}
		struct dc_errinfo ae = { 0 };
		if (ret == 0 && gw_admin_check(&conf, &ae)) {
			fprintf(stderr, "run: %s: %s\n", conf.name, ae.msg);
			ret = 1;
		}
		/* each adapter's own checks, as at start-up */
		struct gw_limits lim;
		gw_conf_limits(&conf, &lim);
		for (size_t i = 0; ret == 0 && gw_adapters[i] && i < GW_MAX_ADAPTERS; i++) {
			struct gw_adapter *ad = NULL;
			struct dc_errinfo ei = { 0 };
			if (!conf.ad_conf[i])
				continue;
			if (gw_adapters[i]->create(conf.ad_conf[i], &lim, &ad, &ei)) {
				fprintf(stderr, "run: %s:%u: [%s]: %s\n", conf.name, conf.ad_line[i], gw_adapters[i]->name, ei.msg);
				ret = 1;
			}
			gw_adapters[i]->free(ad);
		}
		char why[200];
		if (ret == 0 && !gw_med_policy_ok(conf.med_policy, why, sizeof why)) {
			fprintf(stderr, "run: %s: [mediator] %s\n", conf.name ? conf.name : "config", why);
			ret = 1;
		}
		if (ret == 0) {
			printf("run: configuration %s ok\n", path ? path : "(built-in defaults)");
			gw_conf_print(&conf, stdout);
		}
		gw_conf_clear(&conf);
		return ret;
	}
	struct gw_state s;
	int ret = gw_state_open_cmd(&s, "run", path, NULL);
	/* one daemon per state directory, before it touches anything in it as the only one (the
	 * queue's start-up sweep removes envelope files no item names yet); then the queue's check */
	struct dc_errinfo ei = { 0 };
	if (ret == 0 && (gw_state_lock(&s, &ei) || gw_state_check_queue(&s, &ei))) {
		fprintf(stderr, "run: %s\n", ei.msg);
		ret = 1;
	}
	if (ret == 0)
		ret = gw_daemon_run(&s);
	gw_state_close(&s);
	return ret;
}
