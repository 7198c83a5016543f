/* didcomm-gateway rules check FILE...
 * didcomm-gateway rules explain FILE --to DID [--from-transport T] [--sender DID] [--type T]
 *                                [--media M] [--size N] [--tag NAME] [--id ID] [--thid ID]
 * check: every error and warning as "file:line:col: error|warning: what" on stderr, then
 *        "file: ok, N rules[, W warnings]" on stdout for each good file; exit 1 if any file has
 *        an error, 2 for usage.
 * explain: the rule file must check clean (else as check, exit 1); prints rule_explain()'s
 *        account on stdout; exit 0 when a rule matches, 1 when none does. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules.h"

int gw_cmd_rules(int argc, char **argv);

static void rules_usage(FILE *f)
{
	fputs("usage: didcomm-gateway rules check FILE...\n"
	      "       didcomm-gateway rules explain FILE --to DID [--from-transport T] [--sender DID] [--type TYPE]\n"
	      "                                 [--media plain|signed|encrypted|TYPE] [--size N[k|M|G]] [--tag NAME]\n"
	      "                                 [--id ID] [--thid ID]\n",
	      f);
}

/* Parse and print the diagnostics; *set on success (may be NULL if not wanted). 0 ok, 1 errors. */
static int load(const char *path, struct rule_set **set, bool quiet_ok)
{
	struct rule_set *s = NULL;
	struct rule_diag *d = NULL;
	size_t nd = 0, warnings = 0;
	dc_err rc = rule_set_parse_file(path, &s, &d, &nd);
	for (size_t i = 0; i < nd; i++) {
		rule_diag_print(stderr, path, &d[i]);
		warnings += d[i].sev == RULE_WARNING;
	}
	free(d);
	if (rc == DC_ERR_NOMEM)
		fprintf(stderr, "%s: out of memory\n", path);
	if (rc != DC_OK) {
		if (nd == 0 && rc != DC_ERR_NOMEM)
			fprintf(stderr, "%s: %s\n", path, dc_strerror(rc));
		return 1;
	}
	if (!quiet_ok) {
		size_t n = rule_set_count(s);
		printf("%s: ok, %zu rule%s", path, n, n == 1 ? "" : "s");
		if (warnings)
			printf(", %zu warning%s", warnings, warnings == 1 ? "" : "s");
		putchar('\n');
	}
	if (set)
		*set = s;
	else
		rule_set_free(s);
	return 0;
}

static int cmd_check(int argc, char **argv)
{
	if (argc < 2) {
		rules_usage(stderr);
		return 2;
	}
	int ret = 0;
	for (int i = 1; i < argc; i++)
		if (load(argv[i], NULL, false))
			ret = 1;
	if (fflush(stdout))
		ret = 1;
	return ret;
}

enum { O_TO = 1, O_TRANSPORT, O_SENDER, O_TYPE, O_MEDIA, O_SIZE, O_TAG, O_ID, O_THID, O_HELP };

static int cmd_explain(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, 0, O_TO },       { "from-transport", required_argument, 0, O_TRANSPORT },
		{ "via", required_argument, 0, O_TRANSPORT }, { "sender", required_argument, 0, O_SENDER },
		{ "type", required_argument, 0, O_TYPE },   { "media", required_argument, 0, O_MEDIA },
		{ "size", required_argument, 0, O_SIZE },   { "tag", required_argument, 0, O_TAG },
		{ "id", required_argument, 0, O_ID },       { "thid", required_argument, 0, O_THID },
		{ "help", no_argument, 0, O_HELP },         { 0, 0, 0, 0 },
	};
	struct rule_env env = { 0 };
	uint64_t size = 0;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_TO: env.to = optarg; break;
		case O_TRANSPORT: env.transport = optarg; break;
		case O_SENDER: env.sender = optarg; break;
		case O_TYPE: env.type = optarg; break;
		case O_MEDIA: env.media_type = rule_media_type(optarg); break;
		case O_TAG: env.tag = optarg; break;
		case O_ID: env.msg_id = optarg; break;
		case O_THID: env.thid = optarg; break;
		case O_SIZE:
			if (rule_parse_size(optarg, strlen(optarg), &size)) {
				fprintf(stderr, "rules explain: --size %s: want N, Nk, NM or NG, at most 1G\n", optarg);
				return 2;
			}
			env.size = (size_t)size;
			break;
		case O_HELP: rules_usage(stdout); return 0;
		default: rules_usage(stderr); return 2;
		}
	}
	if (argc - optind != 1 || !env.to) {
		fprintf(stderr, "rules explain: give one rule FILE and --to DID\n");
		rules_usage(stderr);
		return 2;
	}
	struct rule_set *set = NULL;
	if (load(argv[optind], &set, true))
		return 1;
	dc_err rc = rule_explain(set, &env, stdout);
	rule_set_free(set);
	if (rc == DC_ERR_IO) {
		fprintf(stderr, "rules explain: cannot write the output\n");
		return 1;
	}
	return rc == DC_OK ? 0 : 1;
}

int gw_cmd_rules(int argc, char **argv)
{
	if (argc < 2) {
		rules_usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(argv[1], "explain") == 0)
		return cmd_explain(argc - 1, argv + 1);
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		rules_usage(stdout);
		return 0;
	}
	fprintf(stderr, "rules: unknown subcommand %s\n", argv[1]);
	rules_usage(stderr);
	return 2;
}
