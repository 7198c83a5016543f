/* Ingest (see ingest.h). */
#include "ingest.h"

#include "adapter.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_TARGETS GW_INGEST_MAX_TARGETS
#define MT_PREFIX "application/"

/* the DID of a DID or DID URL (malloc'd); non-zero when it is not one */
static int did_of(const char *url, char **out)
{
	*out = NULL;
	if (!url || strncmp(url, "did:", 4) != 0)
		return -1;
	size_t n = strcspn(url, "#?/");
	*out = strndup(url, n);
	return *out ? 0 : -1;
}

static char *join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s %s", a, b);
	return s;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void gw_ingest_result_clear(struct gw_ingest_result *res)
{
	dc_queue_items_free(res->fast, res->n_fast);
	free(res->reply);
	free(res->reply_to);
	free(res->out);
	memset(res, 0, sizeof *res);
}

const char *gw_adapter_for_uri(const char *uri)
{
	static const struct {
		const char *scheme, *adapter;
	} map[] = { { "https:", "http" }, { "http:", "http" }, { "wss:", "ws" },     { "ws:", "ws" },
		    { "mqtts:", "mqtt" }, { "mqtt:", "mqtt" }, { "mailto:", "smtp" }, { "file:", "file" } };
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (strncasecmp(uri, map[i].scheme, strlen(map[i].scheme)) == 0)
			return map[i].adapter;
	return NULL;
}

static bool didcomm_type(const char *mt)
{
	if (!mt)
		return true; /* transports without media types (files, MQTT payloads): classify by content */
	size_t n = strcspn(mt, ";");
	while (n && (mt[n - 1] == ' ' || mt[n - 1] == '\t'))
		n--;
	if (n > strlen(MT_PREFIX) && strncasecmp(mt, MT_PREFIX, strlen(MT_PREFIX)) == 0) {
		mt += strlen(MT_PREFIX);
		n -= strlen(MT_PREFIX);
	}
	static const char *ok[] = { "didcomm-encrypted+json", "didcomm-signed+json", "didcomm-plain+json" };
	for (size_t i = 0; i < 3; i++)
		if (n == strlen(ok[i]) && strncasecmp(mt, ok[i], n) == 0)
			return true;
	return false;
}

static enum gw_in_status status_of(dc_err rc)
{
	switch (rc) {
	case DC_ERR_TOO_BIG: return GW_IN_TOO_BIG;
	case DC_ERR_NOMEM:
	case DC_ERR_IO: return GW_IN_ERROR;
	case DC_ERR_AGAIN: return GW_IN_FULL;
	default: return GW_IN_BAD;
	}
}

#define MAX_SERVICES 8 /* DIDCommMessaging services of one DID looked at by resolve */

struct plan {
	struct dc_queue_new_item items[MAX_TARGETS];
	int64_t hold_ms[MAX_TARGETS];   /* holds: how long */
	char *dests[MAX_TARGETS], *datas[MAX_TARGETS];
	size_t n;
};

static void plan_clear(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->dests[i]);
		free(p->datas[i]);
	}
	p->n = 0;
}

/* One action to zero or one queue item. */
static dc_err plan_action(const struct gw_ingest_cfg *g, const struct rule_action *a, const struct rule_env *env,
                          const struct dc_relay *r, const char *payload, size_t payload_len, int64_t expires_ms,
                          struct plan *p, struct dc_errinfo *ei)
{
	if (p->n >= MAX_TARGETS)
		return dc_errinfo_set(ei, DC_ERR_TOO_BIG, "more than %d deliveries for one message", MAX_TARGETS);
	char *dest = NULL, *data = NULL, *target = NULL;
	size_t len = payload_len;
	int64_t exp = expires_ms, not_before = 0;
	dc_err rc = DC_OK;
	switch (a->kind) {
	case RULE_ACT_DELIVER:
		if ((rc = rule_render_target(a, env, &target, ei)))
			return rc;
		break;
	case RULE_ACT_RESOLVE: {
		/* the recipient's DIDCommMessaging endpoints in document order: the first one with an
		 * adapter here (and allowed by the rule), wrapped for the hops after us */
		const char *const *skip = (const char *const *)r->rcpt_kids;
		char last[300] = "";
		/* an endpoint whose adapter this build lacks is kept only if no other one will do:
		 * queued, it waits for a gateway that has the adapter */
		char *later_dest = NULL, *later_data = NULL;
		size_t later_len = 0;
		for (size_t k = 0; k < MAX_SERVICES && !dest; k++) {
			if (!(data = malloc(payload_len + 1))) {
				rc = DC_ERR_NOMEM;
				break;
			}
			memcpy(data, payload, payload_len);
			data[payload_len] = 0;
			len = payload_len;
			if ((rc = dc_relay_wrap(g->dc, env->to, k, skip, r->n_rcpt_kids, expires_ms / 1000, &data, &len, &target,
			                        ei))) {
				free(data);
				data = NULL;
				break;
			}
			if (!target) {
				free(data);
				data = NULL;
				break;
			}
			const char *ad = gw_adapter_for_uri(target);
			const char *colon = strchr(target, ':');
			char scheme[16] = "";
			if (colon && (size_t)(colon - target) < sizeof scheme)
				memcpy(scheme, target, (size_t)(colon - target));
			if (ad && rule_resolve_allows(a, scheme) && gw_adapter_by_name(ad)) {
				if (!(dest = join(ad, target)))
					rc = DC_ERR_NOMEM;
			} else if (ad && rule_resolve_allows(a, scheme) && !later_dest) {
				later_dest = join(ad, target);
				later_data = data;
				later_len = len;
				data = NULL;
				rc = later_dest ? DC_OK : DC_ERR_NOMEM;
			} else {
				snprintf(last, sizeof last, "endpoint %.200s: no adapter for it or not allowed here", target);
				free(data);
				data = NULL;
			}
			free(target);
			target = NULL;
			if (rc)
				break;
		}
		if (!rc && !dest && later_dest) {
			dest = later_dest;
			data = later_data;
			len = later_len;
		} else {
			free(later_dest);
			free(later_data);
		}
		if (rc) {
			free(data);
			free(dest);
			return rc;
		}
		if (!dest && last[0])
			return dc_errinfo_set(ei, DC_ERR_UNSUPPORTED, "%s", last);
		if (!dest)
			return dc_errinfo_set(ei, DC_ERR_NOT_FOUND, "%.200s has no DIDCommMessaging endpoint", env->to);
		break;
	}
	case RULE_ACT_HOLD: {
		if (!(target = strdup(env->to ? env->to : "-")))
			return DC_ERR_NOMEM;
		/* held items wait for pickup; when the hold runs out the dispatcher fails them for good
		 * (GW_HOLD_RAN_OUT) and the rule's else, if any, takes over. They still expire with
		 * the message (then nothing takes over). */
		p->hold_ms[p->n] = a->hold_s * 1000;
		not_before = now_ms() + a->hold_s * 1000;
		break;
	}
	case RULE_ACT_REJECT:
		return dc_errinfo_set(ei, DC_ERR_DENIED, "rejected by rule (%s)", a->code ? a->code : RULE_DEFAULT_REJECT_CODE);
	}
	if (target) {
		dest = join(a->kind == RULE_ACT_HOLD ? "hold" : a->adapter, target);
		free(target);
	}
	if (!dest) {
		free(data);
		return DC_ERR_NOMEM;
	}
	p->dests[p->n] = dest;
	p->datas[p->n] = data;
	p->items[p->n] = (struct dc_queue_new_item){ .msg_id = env->msg_id,
		                                      .data = (const uint8_t *)(data ? data : payload),
		                                      .len = data ? len : payload_len,
		                                      .media_type = "application/didcomm-encrypted+json",
		                                      .dest = dest,
		                                      .expires_ms = exp,
		                                      .not_before_ms = not_before,
		                                      .leased_until_ms = !not_before && g->lease_ms > 0 ?
		                                                         now_ms() + g->lease_ms : 0 };
	p->n++;
	return DC_OK;
}

/* After the commit: copies of the born-leased deliveries for the caller to send from memory.
 * Out of memory here loses nothing: their leases run out and the dispatcher claims them. */
static void take_fast(const struct plan *p, const int64_t *ids, struct gw_ingest_result *res)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++)
		n += p->items[i].leased_until_ms > 0;
	if (!n || !(res->fast = calloc(n, sizeof *res->fast)))
		return;
	int64_t now = now_ms();
	for (size_t i = 0; i < p->n; i++) {
		const struct dc_queue_new_item *in = &p->items[i];
		if (in->leased_until_ms <= 0)
			continue;
		struct dc_queue_item *it = &res->fast[res->n_fast];
		it->id = ids[i];
		it->msg_id = in->msg_id ? strdup(in->msg_id) : NULL;
		it->media_type = strdup(in->media_type);
		it->dest = strdup(in->dest);
		it->data = malloc(in->len ? in->len : 1);
		it->len = in->len;
		it->created_ms = it->next_ms = now;
		it->expires_ms = in->expires_ms;
		res->n_fast++;
		if (!it->media_type || !it->dest || !it->data) {
			dc_queue_items_free(res->fast, res->n_fast);
			res->fast = NULL;
			res->n_fast = 0;
			return;
		}
		memcpy(it->data, in->data, in->len);
	}
}

/* The actions of a list; an action that cannot yield a target makes the whole list fail. */
static dc_err plan_list(const struct gw_ingest_cfg *g, const struct rule_action_list *l, const struct rule_env *env,
                        const struct dc_relay *r, const char *payload, size_t len, int64_t expires_ms, struct plan *p,
                        struct dc_errinfo *ei)
{
	for (size_t i = 0; i < l->n; i++) {
		dc_err rc = plan_action(g, &l->v[i], env, r, payload, len, expires_ms, p, ei);
		if (rc) {
			plan_clear(p);
			return rc;
		}
	}
	return DC_OK;
}

/* a message's deliveries between gw_ingest_start and gw_ingest_finish: what the queue items
 * point into (the opened relay, the rendered targets, the else) stays here until the commit */
struct gw_commit {
	struct dc_relay r;
	struct plan p, pf;
	struct dc_queue_else els[MAX_TARGETS];
	char rule[200]; /* file:line of the rule, for the result's why */
	struct dc_queue *q;                          /* where files[] were written */
	char files[MAX_TARGETS][DC_QUEUE_FILE_NAME]; /* big envelopes written ahead (gw_commit_write_files) */
};

static void commit_free(struct gw_commit *c)
{
	if (!c)
		return;
	plan_clear(&c->p);
	plan_clear(&c->pf);
	dc_relay_clear(&c->r);
	free(c);
}

void gw_ingest_start(const struct gw_ingest_cfg *g, const char *transport, const char *source, const char *media_type,
                     const uint8_t *data, size_t len, struct gw_ingest_result *res, struct gw_commit **pc)
{
	memset(res, 0, sizeof *res);
	*pc = NULL;
	struct gw_commit *c = calloc(1, sizeof *c);
	if (!c) {
		res->status = GW_IN_ERROR;
		snprintf(res->why, sizeof res->why, "out of memory");
		return;
	}
	struct dc_relay *r = &c->r;
	struct plan *p = &c->p;
	struct dc_errinfo ei = { 0 };
	char *to_did = NULL;
	dc_err rc;
	if (len > g->max_bytes) {
		res->status = GW_IN_TOO_BIG;
		snprintf(res->problem_code, sizeof res->problem_code, "%s", "e.m.me.res.storage.message_too_big");
		snprintf(res->why, sizeof res->why, "%zu bytes is over max_receive_bytes %zu", len, g->max_bytes);
		goto out;
	}
	if (!didcomm_type(media_type)) {
		res->status = GW_IN_BAD_TYPE;
		snprintf(res->why, sizeof res->why, "media type %.100s is not a DIDComm type", media_type);
		goto out;
	}
	if ((rc = dc_relay_inspect(g->dc, (const char *)data, len, r, &ei))) {
		res->status = status_of(rc);
		snprintf(res->problem_code, sizeof res->problem_code, "%s", rc == DC_ERR_CRYPTO ? "e.m.trust.crypto" : "e.m.msg");
		snprintf(res->why, sizeof res->why, "%s", ei.msg);
		goto out;
	}
	const char *payload = (const char *)data;
	size_t payload_len = len;
	int64_t expires_ms = 0;
	if (r->msg_id)
		snprintf(res->msg_id, sizeof res->msg_id, "%s", r->msg_id);
	if (r->meta) {
		/* only an authenticated sender is answered encrypted: the authcrypt skid or the signer */
		const char *from = r->meta->encrypted_from_kid ? r->meta->encrypted_from_kid : r->meta->sign_from;
		if (from)
			did_of(from, &res->reply_to);
	}
	if (r->kind == DC_RELAY_FOR_US) {
		cJSON *m = cJSON_ParseWithLength(r->message, strlen(r->message));
		const cJSON *rr = m ? cJSON_GetObjectItemCaseSensitive(m, "return_route") : NULL;
		res->return_route = cJSON_IsString(rr) && (strcmp(rr->valuestring, "all") == 0 ||
		                                           strcmp(rr->valuestring, "thread") == 0);
		const cJSON *id = m ? cJSON_GetObjectItemCaseSensitive(m, "id") : NULL;
		if (cJSON_IsString(id))
			snprintf(res->msg_id, sizeof res->msg_id, "%s", id->valuestring);
		cJSON_Delete(m);
		bool handled = false;
		if ((rc = dc_protocol_handle(&g->proto, r->message, strlen(r->message), &res->reply, &handled, &ei))) {
			res->status = status_of(rc);
			snprintf(res->why, sizeof res->why, "%s", ei.msg);
		} else {
			res->status = handled ? GW_IN_ACCEPTED : GW_IN_BAD;
			if (!handled) {
				snprintf(res->problem_code, sizeof res->problem_code, "%s", "e.m.msg.unsupported");
				snprintf(res->why, sizeof res->why, "a message for the gateway of a protocol it does not speak");
			} else if (res->reply) {
				snprintf(res->why, sizeof res->why, "answered");
			} else {
				snprintf(res->why, sizeof res->why, "handled, no reply asked for");
			}
		}
		goto out;
	}
	if (r->kind == DC_RELAY_FORWARD) {
		payload = r->payload;
		payload_len = r->payload_len;
		expires_ms = r->expires_time * 1000;
		if (did_of(r->next, &to_did)) {
			res->status = GW_IN_BAD;
			snprintf(res->why, sizeof res->why, "forward: next %.200s is not a DID", r->next);
			goto out;
		}
	} else if (r->n_rcpt_kids && did_of(r->rcpt_kids[0], &to_did)) {
		res->status = GW_IN_BAD;
		snprintf(res->why, sizeof res->why, "recipient kid %.200s is not a DID URL", r->rcpt_kids[0]);
		goto out;
	}
	struct rule_env env = { .transport = transport, .to = to_did, .media_type = "application/didcomm-encrypted+json",
		                .tag = g->tag, .size = payload_len, .msg_id = NULL };
	(void)source;
	const struct rule *rule = NULL;
	if (rule_match(g->rules, &env, &rule) != DC_OK || !rule) {
		res->status = GW_IN_REJECTED;
		snprintf(res->problem_code, sizeof res->problem_code, "%s", RULE_DEFAULT_REJECT_CODE);
		snprintf(res->why, sizeof res->why, "no rule matches a message for %.200s", to_did ? to_did : "?");
		goto out;
	}
	rc = plan_list(g, &rule->then, &env, r, payload, payload_len, expires_ms, p, &ei);
	if (rc && rc != DC_ERR_DENIED && rule->fallback.n) {
		struct dc_errinfo fe = { 0 };
		rc = plan_list(g, &rule->fallback, &env, r, payload, payload_len, expires_ms, p, &fe);
		if (rc)
			ei = fe;
	}
	if (rc) {
		res->status = rc == DC_ERR_DENIED ? GW_IN_REJECTED : rc == DC_ERR_NOMEM ? GW_IN_ERROR : GW_IN_BAD;
		snprintf(res->problem_code, sizeof res->problem_code, "%s", rc == DC_ERR_DENIED ? (rule->then.n && rule->then.v[0].code ? rule->then.v[0].code :
		                                          RULE_DEFAULT_REJECT_CODE) :
		                                          "e.p->xfer.cant-use-endpoint");
		snprintf(res->why, sizeof res->why, "rule %s:%u: %s", rule_set_name(g->rules), rule->line, ei.msg);
		goto out;
	}
	/* the rule's else, for deliveries that later fail for good: planned now, stored with them */
	if (rule->fallback.n) {
		struct dc_errinfo fe = { 0 };
		struct plan *pf = &c->pf;
		if (plan_list(g, &rule->fallback, &env, r, payload, payload_len, expires_ms, pf, &fe) == DC_OK) {
			for (size_t k = 0; k < pf->n; k++)
				c->els[k] = (struct dc_queue_else){ .dest = pf->items[k].dest,
					                            .data = pf->datas[k] ? pf->items[k].data : NULL,
					                            .len = pf->datas[k] ? pf->items[k].len : 0,
					                            .hold_ms = pf->hold_ms[k],
					                            .expires_ms = pf->items[k].expires_ms };
			for (size_t i = 0; i < p->n; i++) {
				p->items[i].els = c->els;
				p->items[i].n_els = pf->n;
			}
		}
	}
	snprintf(c->rule, sizeof c->rule, "%.180s:%u", rule_set_name(g->rules), rule->line);
	free(to_did);
	*pc = c; /* to be committed */
	return;
out:
	free(to_did);
	commit_free(c);
}

void gw_commit_write_files(struct gw_commit *c, struct dc_queue *q)
{
	size_t min = dc_queue_file_min(q);
	for (size_t i = 0; min && i < c->p.n; i++) {
		struct dc_queue_new_item *it = &c->p.items[i];
		if (it->len < min || it->file)
			continue;
		if (dc_queue_file_write(q, it->data, it->len, c->files[i], NULL) == DC_OK) {
			c->q = q;
			it->file = c->files[i];
		} /* else the put writes it (and says what went wrong) */
	}
}

void gw_commit_items(const struct gw_commit *c, const struct dc_queue_new_item **items, size_t *n)
{
	*items = c->p.items;
	*n = c->p.n;
}

void gw_ingest_finish(struct gw_commit *c, dc_err rc, const int64_t *ids, const struct dc_errinfo *ei,
                      struct gw_ingest_result *res)
{
	if (rc) {
		res->status = status_of(rc);
		snprintf(res->why, sizeof res->why, "%s", ei && ei->msg[0] ? ei->msg : dc_strerror(rc));
		for (size_t i = 0; c->q && i < c->p.n; i++)
			dc_queue_file_discard(c->q, c->files[i]); /* not taken over: the put failed */
	} else {
		take_fast(&c->p, ids, res);
		res->status = GW_IN_ACCEPTED;
		res->n_queued = c->p.n;
		snprintf(res->why, sizeof res->why, "queued for %zu destination%s (rule %s)", c->p.n, c->p.n == 1 ? "" : "s",
		         c->rule);
	}
	commit_free(c);
}

void gw_ingest(const struct gw_ingest_cfg *g, const char *transport, const char *source, const char *media_type,
               const uint8_t *data, size_t len, struct gw_ingest_result *res)
{
	struct gw_commit *c;
	gw_ingest_start(g, transport, source, media_type, data, len, res, &c);
	if (!c)
		return;
	const struct dc_queue_new_item *items;
	size_t n;
	int64_t ids[MAX_TARGETS];
	struct dc_errinfo ei = { 0 };
	gw_commit_items(c, &items, &n);
	dc_err rc = dc_queue_put(g->q, items, n, ids, &ei);
	gw_ingest_finish(c, rc, ids, &ei, res);
}

/* our reply (plaintext) packed authcrypt for the sender: for the return route (no forwards),
 * or for the sender's endpoint (wrapped for its mediators) */
static dc_err pack_for(const struct gw_ingest_cfg *g, const char *msg, const char *to, bool direct,
                       struct dc_pack_result *pr, struct dc_errinfo *ei)
{
	const char *tl[] = { to };
	struct dc_pack_opts po = { .mode = DC_PACK_AUTHCRYPT, .to = tl, .n_to = 1, .from = g->proto.our_did,
		                   .no_forward = direct };
	dc_err rc = dc_pack(g->dc, msg, strlen(msg), &po, pr, ei);
	if (rc == DC_OK && pr->n != 1) {
		dc_pack_result_clear(pr);
		rc = dc_errinfo_set(ei, DC_ERR_INVAL, "packing a reply gave %zu envelopes", pr->n);
	}
	return rc;
}

static void take_out(struct gw_ingest_result *res, struct dc_pack_result *pr, const char *type)
{
	res->out = pr->items[0].msg;
	res->out_len = pr->items[0].len;
	res->out_type = type;
	pr->items[0].msg = NULL;
}

/* no return route: the reply is a new outbound message for the sender's endpoint */
static void queue_reply(const struct gw_ingest_cfg *g, struct gw_ingest_result *res)
{
	struct dc_errinfo ei = { 0 };
	struct dc_pack_result pr = { 0 };
	if (pack_for(g, res->reply, res->reply_to, false, &pr, &ei)) {
		snprintf(res->why, sizeof res->why, "answered, but the reply cannot be packed: %.200s", ei.msg);
		return;
	}
	const char *ep = pr.items[0].endpoint, *ad = ep ? gw_adapter_for_uri(ep) : NULL;
	char *dest = ad ? join(ad, ep) : join("hold", res->reply_to);
	int64_t now = now_ms(), hold_ms = 72 * 3600 * 1000LL;
	struct dc_queue_new_item it = { .msg_id = NULL,
		                        .data = (const uint8_t *)pr.items[0].msg,
		                        .len = pr.items[0].len,
		                        .media_type = "application/didcomm-encrypted+json",
		                        .dest = dest,
		                        .origin = "reply",
		                        .expires_ms = ad ? 0 : now + hold_ms,
		                        .not_before_ms = ad ? 0 : now + hold_ms };
	if (!dest)
		snprintf(res->why, sizeof res->why, "answered, but out of memory queueing the reply");
	else if (dc_queue_put(g->q, &it, 1, NULL, &ei))
		snprintf(res->why, sizeof res->why, "answered, but the reply cannot be queued: %.200s", ei.msg);
	else {
		res->reply_queued = true;
		res->n_queued++;
		snprintf(res->why, sizeof res->why, "answered; reply queued for %.200s", ad ? ep : "pickup (no endpoint)");
	}
	free(dest);
	dc_pack_result_clear(&pr);
}

void gw_ingest_answer(const struct gw_ingest_cfg *g, bool live, struct gw_ingest_result *res)
{
	struct dc_errinfo ei = { 0 };
	struct dc_pack_result pr = { 0 };
	if (res->status == GW_IN_ACCEPTED && res->reply) {
		if (!res->reply_to) {
			snprintf(res->why, sizeof res->why, "handled; no reply: the sender is anonymous");
		} else if (live && res->return_route) {
			if (pack_for(g, res->reply, res->reply_to, true, &pr, &ei) == DC_OK) {
				take_out(res, &pr, "application/didcomm-encrypted+json");
				res->status = 200;
				snprintf(res->why, sizeof res->why, "answered on the return route");
			} else {
				snprintf(res->why, sizeof res->why, "answered, but the reply cannot be packed: %.200s", ei.msg);
			}
		} else {
			queue_reply(g, res);
		}
	} else if (res->status != GW_IN_ACCEPTED && res->problem_code[0]) {
		char *report = NULL;
		const char *args[] = { res->why };
		if (dc_problem_report(g->proto.our_did, res->reply_to, res->msg_id[0] ? res->msg_id : NULL,
		                      res->msg_id[0] ? res->msg_id : NULL, res->problem_code, "{1}", args, 1, &report))
			goto out;
		if (res->reply_to && pack_for(g, report, res->reply_to, true, &pr, &ei) == DC_OK) {
			take_out(res, &pr, "application/didcomm-encrypted+json");
			free(report);
		} else {
			res->out = report;
			res->out_len = strlen(report);
			res->out_type = "application/didcomm-plain+json";
		}
	}
out:
	dc_pack_result_clear(&pr);
}
