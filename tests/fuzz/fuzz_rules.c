/* the rule-file parser, matcher and explain on arbitrary text */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>

#include "rules.h"

FUZZ_ENTRY(rules)
{
	struct rule_set *set = NULL;
	struct rule_diag *diags = NULL;
	size_t n = 0;
	if (size > (1u << 20))
		return 0;
	dc_err rc = rule_set_parse_text("fuzz", (const char *)data, size, &set, &diags, &n);
	if (rc == DC_OK && set) {
		struct rule_env env = { .transport = "http", .to = "did:example:bob", .size = 300 };
		const struct rule *r = NULL;
		if (rule_match(set, &env, &r) == DC_OK && r) {
			FILE *devnull = fopen("/dev/null", "w");
			if (devnull) {
				if (rule_explain(set, &env, devnull) != DC_OK)
					r = NULL;
				fclose(devnull);
			}
		}
	}
	(void)rc;
	rule_set_free(set);
	free(diags);
	return 0;
}
