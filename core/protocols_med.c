/* The mediator's protocol messages (mediation.h): coordinate-mediation 3.0 and 2.0,
 * messagepickup 3.0, out-of-band 2.0 invitations. Parsing is bounded and strict about what
 * the pages require; unknown members are ignored, as the spec says. */
#include "internal.h"
#include "mediation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CM2 DC_MED_PIURI_CM2 "/"
#define CM3 DC_MED_PIURI_CM3 "/"
#define PU3 DC_MED_PIURI_PICKUP3 "/"

static const struct {
	const char *type;
	enum dc_med_kind kind;
	int version;
} types[] = {
	{ CM3 "mediate-request", DC_MED_MEDIATE_REQUEST, 3 },
	{ CM3 "recipient-update", DC_MED_RECIPIENT_UPDATE, 3 },
	{ CM3 "recipient-query", DC_MED_RECIPIENT_QUERY, 3 },
	{ CM3 "mediate-grant", DC_MED_OTHER, 3 },
	{ CM3 "mediate-deny", DC_MED_OTHER, 3 },
	{ CM3 "recipient-update-response", DC_MED_OTHER, 3 },
	{ CM3 "recipient", DC_MED_OTHER, 3 },
	{ CM2 "mediate-request", DC_MED_MEDIATE_REQUEST, 2 },
	{ CM2 "keylist-update", DC_MED_RECIPIENT_UPDATE, 2 },
	{ CM2 "keylist-query", DC_MED_RECIPIENT_QUERY, 2 },
	{ CM2 "mediate-grant", DC_MED_OTHER, 2 },
	{ CM2 "mediate-deny", DC_MED_OTHER, 2 },
	{ CM2 "keylist-update-response", DC_MED_OTHER, 2 },
	{ CM2 "keylist", DC_MED_OTHER, 2 },
	{ PU3 "status-request", DC_MED_STATUS_REQUEST, 3 },
	{ PU3 "delivery-request", DC_MED_DELIVERY_REQUEST, 3 },
	{ PU3 "messages-received", DC_MED_MESSAGES_RECEIVED, 3 },
	{ PU3 "live-delivery-change", DC_MED_LIVE_CHANGE, 3 },
	{ PU3 "status", DC_MED_OTHER, 3 },
	{ PU3 "delivery", DC_MED_OTHER, 3 },
};

void dc_med_request_clear(struct dc_med_request *r)
{
	if (!r)
		return;
	free(r->id);
	free(r->thid);
	free(r->from);
	free(r->return_route);
	free(r->recipient_did);
	for (size_t i = 0; i < r->n_updates; i++)
		free(r->updates[i].did);
	free(r->updates);
	for (size_t i = 0; i < r->n_ids; i++)
		free(r->ids[i]);
	free(r->ids);
	memset(r, 0, sizeof *r);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* a DID or DID URL (a 2.0 key), bounded, printable without blanks */
static bool did_ok(const char *s)
{
	if (!s || strncmp(s, "did:", 4) != 0)
		return false;
	size_t n = strlen(s);
	if (n < 7 || n > DC_MED_MAX_DID)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return false;
	return strchr(s + 4, ':') != NULL;
}

/* a non-negative integer member (absent: def; wrong type or out of range: -1) */
static int64_t int_member(const cJSON *o, const char *name, int64_t def, int64_t max)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	if (!v)
		return def;
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > (double)max ||
	    v->valuedouble != (double)(int64_t)v->valuedouble)
		return -1;
	return (int64_t)v->valuedouble;
}

static dc_err parse_updates(const cJSON *body, struct dc_med_request *r, struct dc_errinfo *ei)
{
	const cJSON *ups = dc__json_arr(body, "updates"), *u;
	if (!ups)
		return dc__fail(ei, DC_ERR_MALFORMED, "recipient-update: body.updates is missing or not an array");
	int n = cJSON_GetArraySize(ups);
	if (n > DC_MED_MAX_UPDATES)
		return dc__fail(ei, DC_ERR_TOO_BIG, "recipient-update: more than %d updates", DC_MED_MAX_UPDATES);
	if (n > 0 && !(r->updates = calloc((size_t)n, sizeof *r->updates)))
		return DC_ERR_NOMEM;
	cJSON_ArrayForEach(u, ups)
	{
		const char *did = dc__json_str(u, "recipient_did"), *action = dc__json_str(u, "action");
		if (!did && r->version == 2)
			did = dc__json_str(u, "recipient_key"); /* an older spelling some 2.0 clients use */
		if (!did_ok(did))
			return dc__fail(ei, DC_ERR_MALFORMED, "recipient-update: update %zu: recipient_did is not a DID",
			                r->n_updates);
		if (!action || (strcmp(action, "add") != 0 && strcmp(action, "remove") != 0))
			return dc__fail(ei, DC_ERR_MALFORMED, "recipient-update: update %zu: action is not add or remove",
			                r->n_updates);
		if (!(r->updates[r->n_updates].did = strdup(did)))
			return DC_ERR_NOMEM;
		r->updates[r->n_updates++].add = strcmp(action, "add") == 0;
	}
	return DC_OK;
}

static dc_err parse_ids(const cJSON *body, struct dc_med_request *r, struct dc_errinfo *ei)
{
	const cJSON *l = dc__json_arr(body, "message_id_list"), *it;
	if (!l)
		return dc__fail(ei, DC_ERR_MALFORMED, "messages-received: body.message_id_list is missing or not an array");
	int n = cJSON_GetArraySize(l);
	if (n > DC_MED_MAX_IDS)
		return dc__fail(ei, DC_ERR_TOO_BIG, "messages-received: more than %d ids", DC_MED_MAX_IDS);
	if (n > 0 && !(r->ids = calloc((size_t)n, sizeof *r->ids)))
		return DC_ERR_NOMEM;
	cJSON_ArrayForEach(it, l)
	{
		if (!cJSON_IsString(it) || !it->valuestring[0] || strlen(it->valuestring) > 128)
			return dc__fail(ei, DC_ERR_MALFORMED, "messages-received: id %zu is not a short string", r->n_ids);
		if (!(r->ids[r->n_ids++] = strdup(it->valuestring)))
			return DC_ERR_NOMEM;
	}
	return DC_OK;
}

dc_err dc_med_parse(const char *msg_json, size_t len, struct dc_med_request *out, struct dc_errinfo *ei)
{
	memset(out, 0, sizeof *out);
	cJSON *m = NULL;
	dc_err rc = dc__json_parse(msg_json, len, 64, &m, ei);
	if (rc)
		return rc;
	const char *type = dc__json_str(m, "type");
	size_t k = 0;
	for (; type && k < sizeof types / sizeof types[0]; k++)
		if (strcmp(type, types[k].type) == 0)
			break;
	if (!type || k == sizeof types / sizeof types[0])
		goto out; /* another protocol's */
	struct dc_med_request *r = out;
	r->kind = types[k].kind;
	r->version = types[k].version;
	const char *id = dc__json_str(m, "id");
	if (!id || !id[0] || strlen(id) > 128) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "%s: no id, or an id over 128 bytes", type);
		goto out;
	}
	const char *thid = dc__json_str(m, "thid");
	if (thid && strlen(thid) > 128) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "%s: thid over 128 bytes", type);
		goto out;
	}
	if (!(r->id = strdup(id)) || (thid && !(r->thid = strdup(thid))) ||
	    (dc__json_str(m, "from") && !(r->from = dup_or_null(dc__json_str(m, "from")))) ||
	    (dc__json_str(m, "return_route") && !(r->return_route = dup_or_null(dc__json_str(m, "return_route"))))) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	const cJSON *body = cJSON_GetObjectItemCaseSensitive(m, "body");
	if (body && !cJSON_IsObject(body)) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "%s: body is not an object", type);
		goto out;
	}
	const char *rd = dc__json_str(body, "recipient_did");
	if (cJSON_GetObjectItemCaseSensitive(body, "recipient_did") && !rd) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "%s: recipient_did is not a string", type);
		goto out;
	}
	switch (r->kind) {
	case DC_MED_RECIPIENT_UPDATE:
		rc = parse_updates(body, r, ei);
		break;
	case DC_MED_RECIPIENT_QUERY: {
		const cJSON *pg = cJSON_GetObjectItemCaseSensitive(body, "paginate");
		r->limit = DC_MED_MAX_LIMIT;
		if (pg) {
			int64_t lim = int_member(pg, "limit", -1, DC_MED_MAX_LIMIT), off = int_member(pg, "offset", -1, INT32_MAX);
			if (!cJSON_IsObject(pg) || lim < 0 || off < 0)
				rc = dc__fail(ei, DC_ERR_MALFORMED, "%s: paginate needs limit (0..%d) and offset", type,
				              DC_MED_MAX_LIMIT);
			r->paginate = true;
			r->limit = lim < 0 ? 0 : (size_t)lim;
			r->offset = off < 0 ? 0 : (size_t)off;
		}
		break;
	}
	case DC_MED_DELIVERY_REQUEST: {
		const cJSON *l = cJSON_GetObjectItemCaseSensitive(body, "limit");
		/* the range first: a cast of a double out of int64_t's range is undefined */
		double v = l && cJSON_IsNumber(l) ? l->valuedouble : 0;
		if (!(v >= 1) || (v < DC_MED_MAX_LIMIT && v != (double)(int64_t)v)) {
			rc = dc__fail(ei, DC_ERR_MALFORMED, "delivery-request: body.limit (a positive integer) is required");
			break;
		}
		r->limit = v >= DC_MED_MAX_LIMIT ? DC_MED_MAX_LIMIT : (size_t)v;
		break;
	}
	case DC_MED_MESSAGES_RECEIVED:
		rc = parse_ids(body, r, ei);
		break;
	case DC_MED_LIVE_CHANGE: {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "live_delivery");
		if (!cJSON_IsBool(v))
			rc = dc__fail(ei, DC_ERR_MALFORMED, "live-delivery-change: body.live_delivery (true or false) is required");
		r->live = cJSON_IsTrue(v);
		break;
	}
	default:
		break;
	}
	if (rc == DC_OK && rd && (r->kind == DC_MED_STATUS_REQUEST || r->kind == DC_MED_DELIVERY_REQUEST)) {
		if (!did_ok(rd))
			rc = dc__fail(ei, DC_ERR_MALFORMED, "%s: recipient_did is not a DID", type);
		else if (!(r->recipient_did = strdup(rd)))
			rc = DC_ERR_NOMEM;
	}
out:
	cJSON_Delete(m);
	if (rc)
		dc_med_request_clear(out);
	return rc;
}

/* ---- answers ------------------------------------------------------------------------------ */
static cJSON *answer_base(const struct dc_med_request *rq, const char *our_did, const char *to, const char *type,
                          cJSON **body)
{
	char id[37];
	dc__uuid4(id);
	cJSON *r = cJSON_CreateObject();
	const char *thid = rq ? (rq->thid ? rq->thid : rq->id) : NULL;
	if (!to && rq)
		to = rq->from;
	if (!r || !cJSON_AddStringToObject(r, "id", id) || !cJSON_AddStringToObject(r, "type", type) ||
	    (thid && !cJSON_AddStringToObject(r, "thid", thid)) ||
	    (our_did && !cJSON_AddStringToObject(r, "from", our_did)) || !(*body = cJSON_AddObjectToObject(r, "body"))) {
		cJSON_Delete(r);
		return NULL;
	}
	if (to) {
		cJSON *t = cJSON_AddArrayToObject(r, "to");
		if (!t || !cJSON_AddItemToArray(t, cJSON_CreateString(to))) {
			cJSON_Delete(r);
			return NULL;
		}
	}
	return r;
}

static dc_err finish(cJSON *r, bool ok, char **out)
{
	*out = NULL;
	dc_err rc = ok && r ? dc__json_print(r, out, NULL) : DC_ERR_NOMEM;
	cJSON_Delete(r);
	return rc;
}

static const char *cm_type(const struct dc_med_request *rq, const char *v3, const char *v2, char *buf, size_t n)
{
	snprintf(buf, n, "%s%s", rq->version == 2 ? CM2 : CM3, rq->version == 2 ? v2 : v3);
	return buf;
}

dc_err dc_med_grant(const struct dc_med_request *rq, const char *our_did, const char *const *routing_dids, size_t n,
                    char **out)
{
	char t[120];
	cJSON *body = NULL, *r = answer_base(rq, our_did, NULL, cm_type(rq, "mediate-grant", "mediate-grant", t, sizeof t),
	                                    &body);
	bool ok = r != NULL && n > 0;
	if (ok && rq->version == 2) {
		ok = cJSON_AddStringToObject(body, "routing_did", routing_dids[0]) != NULL; /* 2.0: one DID, a string */
	} else if (ok) {
		cJSON *a = cJSON_AddArrayToObject(body, "routing_did"); /* 3.0: an array */
		ok = a != NULL;
		for (size_t i = 0; ok && i < n; i++)
			ok = cJSON_AddItemToArray(a, cJSON_CreateString(routing_dids[i]));
	}
	return finish(r, ok, out);
}

dc_err dc_med_deny(const struct dc_med_request *rq, const char *our_did, char **out)
{
	char t[120];
	cJSON *body = NULL, *r = answer_base(rq, our_did, NULL, cm_type(rq, "mediate-deny", "mediate-deny", t, sizeof t),
	                                    &body);
	return finish(r, r != NULL, out);
}

static const char *result_name(enum dc_med_result r)
{
	switch (r) {
	case DC_MED_SUCCESS: return "success";
	case DC_MED_NO_CHANGE: return "no_change";
	case DC_MED_CLIENT_ERROR: return "client_error";
	default: return "server_error";
	}
}

dc_err dc_med_update_response(const struct dc_med_request *rq, const char *our_did, char **out)
{
	char t[120];
	cJSON *body = NULL, *r = answer_base(rq, our_did, NULL,
	                                    cm_type(rq, "recipient-update-response", "keylist-update-response", t, sizeof t),
	                                    &body);
	cJSON *l = r ? cJSON_AddArrayToObject(body, "updated") : NULL;
	bool ok = l != NULL;
	for (size_t i = 0; ok && i < rq->n_updates; i++) {
		cJSON *u = cJSON_CreateObject();
		ok = u && cJSON_AddItemToArray(l, u) && cJSON_AddStringToObject(u, "recipient_did", rq->updates[i].did) &&
		     cJSON_AddStringToObject(u, "action", rq->updates[i].add ? "add" : "remove") &&
		     cJSON_AddStringToObject(u, "result", result_name(rq->updates[i].result));
	}
	return finish(r, ok, out);
}

dc_err dc_med_recipients(const struct dc_med_request *rq, const char *our_did, const char *const *dids, size_t n,
                         size_t offset, size_t remaining, char **out)
{
	char t[120];
	cJSON *body = NULL, *r = answer_base(rq, our_did, NULL, cm_type(rq, "recipient", "keylist", t, sizeof t), &body);
	cJSON *l = r ? cJSON_AddArrayToObject(body, rq->version == 2 ? "keys" : "dids") : NULL;
	bool ok = l != NULL;
	for (size_t i = 0; ok && i < n; i++) {
		cJSON *d = cJSON_CreateObject();
		ok = d && cJSON_AddItemToArray(l, d) && cJSON_AddStringToObject(d, "recipient_did", dids[i]);
	}
	if (ok && rq->paginate) {
		cJSON *p = cJSON_AddObjectToObject(body, "pagination");
		ok = p && cJSON_AddNumberToObject(p, "count", (double)n) &&
		     cJSON_AddNumberToObject(p, "offset", (double)offset) &&
		     cJSON_AddNumberToObject(p, "remaining", (double)remaining);
	}
	return finish(r, ok, out);
}

dc_err dc_med_status(const struct dc_med_request *rq, const char *our_did, const struct dc_med_status *st, char **out)
{
	cJSON *body = NULL, *r = answer_base(rq, our_did, NULL, PU3 "status", &body);
	bool ok = r && (!st->recipient_did || cJSON_AddStringToObject(body, "recipient_did", st->recipient_did)) &&
	          cJSON_AddNumberToObject(body, "message_count", (double)st->message_count) &&
	          cJSON_AddNumberToObject(body, "longest_waited_seconds", (double)st->longest_waited_seconds) &&
	          cJSON_AddNumberToObject(body, "total_bytes", (double)st->total_bytes) &&
	          cJSON_AddBoolToObject(body, "live_delivery", st->live_delivery);
	if (ok && st->message_count)
		ok = cJSON_AddNumberToObject(body, "newest_received_time", (double)st->newest_received_time) &&
		     cJSON_AddNumberToObject(body, "oldest_received_time", (double)st->oldest_received_time);
	return finish(r, ok, out);
}

dc_err dc_med_delivery(const struct dc_med_request *rq, const char *our_did, const char *to, const char *recipient_did,
                       const struct dc_med_attachment *att, size_t n, char **out)
{
	cJSON *body = NULL, *r = answer_base(rq, our_did, to, PU3 "delivery", &body);
	bool ok = r && (!recipient_did || cJSON_AddStringToObject(body, "recipient_did", recipient_did));
	cJSON *l = ok ? cJSON_AddArrayToObject(r, "attachments") : NULL;
	ok = l != NULL;
	for (size_t i = 0; ok && i < n; i++) {
		cJSON *a = cJSON_CreateObject(), *d = NULL;
		char *b64 = NULL;
		ok = a && cJSON_AddItemToArray(l, a) && cJSON_AddStringToObject(a, "id", att[i].id) &&
		     cJSON_AddStringToObject(a, "media_type", "application/didcomm-encrypted+json") &&
		     (d = cJSON_AddObjectToObject(a, "data")) && dc__b64url_encode(att[i].data, att[i].len, &b64) == DC_OK &&
		     cJSON_AddStringToObject(d, "base64", b64);
		free(b64);
	}
	return finish(r, ok, out);
}

/* does a (DID or DID URL) name the DID did? */
static bool names_did(const char *a, const char *did)
{
	size_t n = strlen(did);
	return a && strncmp(a, did, n) == 0 && (a[n] == 0 || a[n] == '#' || a[n] == '?' || a[n] == '/');
}

static bool same_endpoint(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	while (la && a[la - 1] == '/')
		la--;
	while (lb && b[lb - 1] == '/')
		lb--;
	return la == lb && strncmp(a, b, la) == 0;
}

dc_err dc_med_routes_via(struct dc_ctx *c, const char *recipient, const char *mediator_did,
                         const char *const *endpoints, size_t n_endpoints, struct dc_errinfo *ei)
{
	if (!c || !recipient || !mediator_did)
		return DC_ERR_INVAL;
	struct dc_did_doc *doc = NULL;
	dc_err rc = dc_resolve(c->res, recipient, &doc, ei);
	if (rc)
		return rc == DC_ERR_AGAIN || rc == DC_ERR_NOMEM ? rc : dc__fail(ei, DC_ERR_RESOLVE, "%.200s cannot be resolved", recipient);
	bool ok = doc->n_svcs == 0;
	for (size_t i = 0; !ok && i < doc->n_svcs; i++) {
		const struct dc_service *s = &doc->svcs[i];
		ok = names_did(s->uri, mediator_did);
		for (size_t k = 0; !ok && s->uri && k < n_endpoints; k++)
			ok = same_endpoint(s->uri, endpoints[k]);
		for (size_t k = 0; !ok && k < s->n_routing_keys; k++)
			ok = names_did(s->routing_keys[k], mediator_did);
	}
	dc_did_doc_free(doc);
	return ok ? DC_OK : dc__fail(ei, DC_ERR_DENIED, "its DIDCommMessaging services do not route through this mediator");
}

dc_err dc_oob_invitation(const char *our_did, const char *goal_code, const char *goal, char **json)
{
	*json = NULL;
	if (!our_did)
		return DC_ERR_INVAL;
	char id[37];
	dc__uuid4(id);
	cJSON *r = cJSON_CreateObject(), *body = NULL, *acc = NULL;
	bool ok = r && cJSON_AddStringToObject(r, "type", DC_OOB_INVITATION) && cJSON_AddStringToObject(r, "id", id) &&
	          cJSON_AddStringToObject(r, "from", our_did) && (body = cJSON_AddObjectToObject(r, "body")) &&
	          (!goal_code || cJSON_AddStringToObject(body, "goal_code", goal_code)) &&
	          (!goal || cJSON_AddStringToObject(body, "goal", goal)) && (acc = cJSON_AddArrayToObject(body, "accept")) &&
	          cJSON_AddItemToArray(acc, cJSON_CreateString("didcomm/v2"));
	return finish(r, ok, json);
}

dc_err dc_oob_url(const char *base, const char *json, char **url)
{
	*url = NULL;
	char *b64 = NULL;
	dc_err rc = dc__b64url_encode((const uint8_t *)json, strlen(json), &b64);
	if (rc)
		return rc;
	size_t n = strlen(base) + strlen(b64) + 8;
	if ((*url = malloc(n)))
		snprintf(*url, n, "%s%s_oob=%s", base, strchr(base, '?') ? "&" : "?", b64);
	free(b64);
	return *url ? DC_OK : DC_ERR_NOMEM;
}
