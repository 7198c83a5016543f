/* Rules: `rules explain` — which rule matches a message and why, in the order the gateway
 * decides: "rule #N (file:line) matched: ..." after one line per earlier rule saying why not. */
#include "rule_int.h"

#include <stdlib.h>
#include <string.h>

static bool needs_quotes(const char *s)
{
	if (!*s || s[0] == '#' || strcmp(s, "else") == 0)
		return true;
	for (const char *c = s; *c; c++)
		if (*c == ' ' || *c == '\t' || *c == '"' || *c == ',' || *c == '|' || *c == '<' || *c == '>' ||
		    *c == '\\' || (c[0] == '-' && c[1] == '>'))
			return true;
	return false;
}

static void print_value(FILE *f, const char *s)
{
	char sh[RULE_MAX_TARGET * 4 + 8];
	rule__show(sh, sizeof sh, s, strlen(s));
	if (!needs_quotes(s)) {
		fputs(sh, f);
		return;
	}
	fputc('"', f);
	for (const char *c = sh; *c; c++) {
		if (*c == '"' || *c == '\\')
			fputc('\\', f);
		fputc(*c, f);
	}
	fputc('"', f);
}

void rule_action_print(FILE *f, const struct rule_action *a)
{
	switch (a->kind) {
	case RULE_ACT_DELIVER:
		fprintf(f, "%s ", a->adapter);
		print_value(f, a->target ? a->target : "");
		for (size_t i = 0; i < a->n_opts; i++)
			fprintf(f, " %s=%s", a->opts[i].key, a->opts[i].value);
		return;
	case RULE_ACT_RESOLVE:
		fputs("resolve", f);
		for (int i = 0; rule__schemes[i]; i++)
			if (a->schemes & (1u << i))
				fprintf(f, " %s", rule__schemes[i]);
		return;
	case RULE_ACT_HOLD: {
		int64_t s = a->hold_s;
		if (s % 86400 == 0 && s > 72 * 3600) /* 24h and 72h stay in hours, 7d in days */
			fprintf(f, "hold %lldd", (long long)(s / 86400));
		else if (s % 3600 == 0)
			fprintf(f, "hold %lldh", (long long)(s / 3600));
		else if (s % 60 == 0)
			fprintf(f, "hold %lldm", (long long)(s / 60));
		else
			fprintf(f, "hold %llds", (long long)s);
		return;
	}
	case RULE_ACT_REJECT:
		fprintf(f, "reject %s", a->code ? a->code : RULE_DEFAULT_REJECT_CODE);
		return;
	}
}

static void print_list(FILE *f, const struct rule_action_list *l, const char *lead, const struct rule_env *env,
                       bool has_else)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct rule_action *a = &l->v[i];
		fprintf(f, "  %s ", i == 0 ? lead : "  ,");
		rule_action_print(f, a);
		if (a->kind == RULE_ACT_DELIVER) {
			char *t = NULL;
			struct dc_errinfo ei = { 0 };
			if (rule_render_target(a, env, &t, &ei) == DC_OK) {
				char sh[RULE_MAX_TARGET * 4 + 8];
				fprintf(f, "  => %s", rule__show(sh, sizeof sh, t, strlen(t)));
			} else {
				fprintf(f, "  => cannot render: %s%s", ei.msg, has_else ? " (the 'else' applies)" : "");
			}
			free(t);
		}
		fputc('\n', f);
	}
}

static void field(FILE *f, const char *name, const char *v)
{
	char sh[200];
	fprintf(f, " %s=%s", name, v ? rule__show(sh, sizeof sh, v, strnlen(v, RULE_MAX_VALUE)) : "(unknown)");
}

dc_err rule_explain(const struct rule_set *set, const struct rule_env *env, FILE *out)
{
	if (!set || !env || !out)
		return DC_ERR_INVAL;
	const char *name = rule_set_name(set);
	fputs("message:", out);
	field(out, "transport", env->transport);
	field(out, "to", env->to);
	field(out, "sender", env->sender);
	field(out, "type", env->type);
	field(out, "media", env->media_type);
	fprintf(out, " size=%zu", env->size);
	field(out, "tag", env->tag);
	field(out, "id", env->msg_id);
	field(out, "thid", env->thid);
	fputc('\n', out);
	dc_err rc = DC_ERR_NOT_FOUND;
	for (size_t i = 0; i < rule_set_count(set); i++) {
		const struct rule *r = rule_set_get(set, i);
		fprintf(out, "rule #%zu (%s:%u) ", r->num, name, r->line);
		if (r->is_default) {
			fputs("matched: default matches every message\n", out);
			rc = DC_OK;
		} else {
			char why[640];
			int res = 1;
			size_t k;
			for (k = 0; k < r->n_m; k++) {
				res = rule__matcher_eval(&r->m[k], env, why, sizeof why);
				if (res != 1)
					break;
			}
			if (res != 1) {
				fprintf(out, "not matched: %s\n", why);
				continue;
			}
			fputs("matched:", out);
			for (k = 0; k < r->n_m; k++) {
				(void)rule__matcher_eval(&r->m[k], env, why, sizeof why);
				fprintf(out, "%s %s", k ? ";" : "", why);
			}
			fputc('\n', out);
			rc = DC_OK;
		}
		print_list(out, &r->then, "->", env, r->fallback.n > 0);
		print_list(out, &r->fallback, "else", env, false);
		break;
	}
	if (rc == DC_ERR_NOT_FOUND)
		fprintf(out, "no rule matched: the message is rejected (%s)\n", RULE_DEFAULT_REJECT_CODE);
	if (fflush(out) || ferror(out))
		return DC_ERR_IO;
	return rc;
}
