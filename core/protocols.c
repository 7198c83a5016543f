/* The gateway's own protocols: trust-ping 2.0 (ping-response when asked), discover-features 2.0
 * (disclose what matches the queries, `*` as a wildcard; constraint max_receive_bytes), and
 * report-problem 2.0 messages. Replies are plaintext; the caller packs them for the sender. */
#include "internal.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PING "https://didcomm.org/trust-ping/2.0/ping"
#define PING_RESPONSE "https://didcomm.org/trust-ping/2.0/ping-response"
#define QUERIES "https://didcomm.org/discover-features/2.0/queries"
#define DISCLOSE "https://didcomm.org/discover-features/2.0/disclose"
#define PROBLEM "https://didcomm.org/report-problem/2.0/problem-report"
#define MAX_QUERIES 32

static const char *const builtin[] = {
	"https://didcomm.org/trust-ping/2.0",     "https://didcomm.org/discover-features/2.0",
	"https://didcomm.org/report-problem/2.0", "https://didcomm.org/routing/2.0",
	NULL,
};

/* a new reply with id, type, thid and our from; to = [sender] when known */
static cJSON *reply_base(const struct dc_proto_info *pi, const char *type, const cJSON *msg)
{
	char id[37];
	dc__uuid4(id);
	cJSON *r = cJSON_CreateObject();
	const char *thid = dc__json_str(msg, "thid"), *mid = dc__json_str(msg, "id"), *from = dc__json_str(msg, "from");
	if (!r || !cJSON_AddStringToObject(r, "id", id) || !cJSON_AddStringToObject(r, "type", type) ||
	    !cJSON_AddStringToObject(r, "thid", thid ? thid : mid) ||
	    (pi->our_did && !cJSON_AddStringToObject(r, "from", pi->our_did))) {
		cJSON_Delete(r);
		return NULL;
	}
	if (from) {
		cJSON *to = cJSON_AddArrayToObject(r, "to");
		if (!to || !cJSON_AddItemToArray(to, cJSON_CreateString(from))) {
			cJSON_Delete(r);
			return NULL;
		}
	}
	return r;
}

/* discover-features: the PIURI (or a protocol's message type URI) matches the query */
static bool matches(const char *pattern, const char *id)
{
	/* a hostile pattern full of stars makes glob matching backtrack: allow a few */
	size_t stars = 0;
	for (const char *p = pattern; *p; p++)
		stars += *p == '*';
	return stars <= 4 && fnmatch(pattern, id, 0) == 0;
}

static dc_err disclose(const struct dc_proto_info *pi, const cJSON *msg, cJSON **out, struct dc_errinfo *ei)
{
	const cJSON *queries = dc__json_arr(dc__json_obj(msg, "body"), "queries"), *q;
	if (!queries)
		return dc__fail(ei, DC_ERR_MALFORMED, "discover-features: body.queries is missing");
	if (cJSON_GetArraySize(queries) > MAX_QUERIES)
		return dc__fail(ei, DC_ERR_TOO_BIG, "discover-features: more than %d queries", MAX_QUERIES);
	cJSON *r = reply_base(pi, DISCLOSE, msg), *body = NULL, *list = NULL;
	if (!r || !(body = cJSON_AddObjectToObject(r, "body")) || !(list = cJSON_AddArrayToObject(body, "disclosures"))) {
		cJSON_Delete(r);
		return DC_ERR_NOMEM;
	}
	cJSON_ArrayForEach(q, queries)
	{
		const char *ft = dc__json_str(q, "feature-type"), *m = dc__json_str(q, "match");
		if (!ft || !m || strlen(m) > 512)
			continue; /* unknown or malformed queries are ignored, as the protocol says */
		if (strcmp(ft, "protocol") == 0) {
			for (int pass = 0; pass < 2; pass++) {
				const char *const *l = pass ? pi->protocols : builtin;
				for (size_t i = 0; l && l[i]; i++) {
					if (!matches(m, l[i]))
						continue;
					cJSON *d = cJSON_CreateObject();
					cJSON_AddStringToObject(d, "feature-type", "protocol");
					cJSON_AddStringToObject(d, "id", l[i]);
					if (strstr(l[i], "/routing/") || strstr(l[i], "/coordinate-mediation/") ||
					    strstr(l[i], "/messagepickup/")) {
						cJSON *roles = cJSON_AddArrayToObject(d, "roles");
						cJSON_AddItemToArray(roles, cJSON_CreateString("mediator"));
					}
					cJSON_AddItemToArray(list, d);
				}
			}
		} else if (strcmp(ft, "constraint") == 0 && pi->max_receive_bytes && matches(m, "max_receive_bytes")) {
			cJSON *d = cJSON_CreateObject();
			cJSON_AddStringToObject(d, "feature-type", "constraint");
			cJSON_AddStringToObject(d, "id", "max_receive_bytes");
			cJSON_AddNumberToObject(d, "value", (double)pi->max_receive_bytes);
			cJSON_AddItemToArray(list, d);
		}
		/* goal-code and header: we disclose none (an empty answer means "not disclosing") */
	}
	*out = r;
	return DC_OK;
}

dc_err dc_protocol_handle(const struct dc_proto_info *pi, const char *msg_json, size_t len, char **reply,
                          bool *handled, struct dc_errinfo *ei)
{
	*reply = NULL;
	*handled = false;
	cJSON *msg = NULL, *r = NULL;
	dc_err rc = dc__json_parse(msg_json, len, 64, &msg, ei);
	if (rc)
		return rc;
	const char *type = dc__json_str(msg, "type");
	if (!type) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "message: no type");
		goto out;
	}
	if (strcmp(type, PING) == 0) {
		*handled = true;
		const cJSON *rr = dc__json_get(dc__json_obj(msg, "body"), "response_requested");
		if (cJSON_IsFalse(rr))
			goto out; /* default is true */
		if (!(r = reply_base(pi, PING_RESPONSE, msg)) || !cJSON_AddObjectToObject(r, "body")) {
			rc = DC_ERR_NOMEM;
			goto out;
		}
	} else if (strcmp(type, QUERIES) == 0) {
		*handled = true;
		if ((rc = disclose(pi, msg, &r, ei)))
			goto out;
	} else if (strcmp(type, PING_RESPONSE) == 0 || strcmp(type, DISCLOSE) == 0 || strcmp(type, PROBLEM) == 0) {
		*handled = true; /* answers and reports to us need no reply */
		goto out;
	} else {
		goto out;
	}
	rc = dc__json_print(r, reply, NULL);
out:
	cJSON_Delete(msg);
	cJSON_Delete(r);
	return rc;
}

dc_err dc_problem_report(const char *from, const char *to, const char *pthid, const char *about_id,
                         const char *code, const char *comment, const char *const *args, size_t n_args, char **out)
{
	*out = NULL;
	char id[37];
	dc__uuid4(id);
	if (!code || !*code)
		return DC_ERR_INVAL;
	cJSON *r = cJSON_CreateObject(), *body = NULL;
	dc_err rc = DC_ERR_NOMEM;
	if (!r || !cJSON_AddStringToObject(r, "id", id) || !cJSON_AddStringToObject(r, "type", PROBLEM) ||
	    !(body = cJSON_AddObjectToObject(r, "body")) || !cJSON_AddStringToObject(body, "code", code))
		goto out;
	/* pthid REQUIRED: the thread of the problem; without one, the report starts its own */
	if (!cJSON_AddStringToObject(r, "pthid", pthid ? pthid : (about_id ? about_id : id)))
		goto out;
	if (from && !cJSON_AddStringToObject(r, "from", from))
		goto out;
	if (to) {
		cJSON *t = cJSON_AddArrayToObject(r, "to");
		if (!t || !cJSON_AddItemToArray(t, cJSON_CreateString(to)))
			goto out;
	}
	if (about_id) {
		cJSON *ack = cJSON_AddArrayToObject(r, "ack");
		if (!ack || !cJSON_AddItemToArray(ack, cJSON_CreateString(about_id)))
			goto out;
	}
	if (comment && !cJSON_AddStringToObject(body, "comment", comment))
		goto out;
	if (n_args) {
		cJSON *a = cJSON_AddArrayToObject(body, "args");
		for (size_t i = 0; a && i < n_args; i++)
			cJSON_AddItemToArray(a, args[i] ? cJSON_CreateString(args[i]) : cJSON_CreateNull());
	}
	rc = dc__json_print(r, out, NULL);
out:
	cJSON_Delete(r);
	return rc;
}
