/* Ingest (see ingest.h). */
#include "ingest.h"
#include "mediator.h"
#include "metrics.h"

#include <cjson/cJSON.h>
#include <sodium.h>
#include <pthread.h>
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
	free(res->held_for);
	memset(res, 0, sizeof *res);
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

/* refused for good: kind, problem code, the log's line and what the sender is told */
static void refuse(struct gw_ingest_result *res, enum gw_refusal kind, const char *code, const char *why,
                   const char *told)
{
	res->outcome = GW_REFUSED;
	res->refusal = kind;
	snprintf(res->problem_code, sizeof res->problem_code, "%s", code ? code : "");
	snprintf(res->why, sizeof res->why, "%s", why);
	snprintf(res->told, sizeof res->told, "%s", told ? told : why);
}

/* an error code's outcome: our fault or a full queue is "try later", the rest a refusal */
static void outcome_of(struct gw_ingest_result *res, dc_err rc, const char *why)
{
	switch (rc) {
	case DC_ERR_NOMEM:
	case DC_ERR_IO:
	case DC_ERR_AGAIN:
		res->outcome = GW_TRY_LATER;
		res->refusal = GW_REF_NONE;
		snprintf(res->why, sizeof res->why, "%s", why);
		snprintf(res->told, sizeof res->told, "%s",
		         rc != DC_ERR_AGAIN                        ? "the gateway cannot take it now: try again later"
		         : why && strncmp(why, "queue share", 11) == 0 ? "this sender's queue share is used up: try again later"
		                                                       : "the queue is full: try again later");
		break;
	case DC_ERR_TOO_BIG:
		refuse(res, GW_REF_TOO_BIG, "e.p.msg.too-big", why, NULL);
		break;
	default:
		refuse(res, GW_REF_MALFORMED, rc == DC_ERR_CRYPTO ? "e.p.trust.crypto" : "e.p.msg", why, NULL);
		break;
	}
}

#define MAX_SERVICES 8 /* DIDCommMessaging services of one DID looked at by resolve */
#define SELF_ERR DC_ERR_UNSUPPORTED /* with plan.hard unset: "the endpoint is this gateway" */

struct plan {
	struct dc_queue_new_item items[MAX_TARGETS];
	int64_t hold_ms[MAX_TARGETS];   /* holds: how long */
	char *dests[MAX_TARGETS], *datas[MAX_TARGETS];
	size_t n;
	bool hard;                      /* the failure is final: no else (the DID cannot be resolved) */
	const char *origin;
	const char *sender;             /* the authenticated sender's DID (queue shares), or NULL */
};

static void plan_clear(struct plan *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->dests[i]);
		free(p->datas[i]);
	}
	p->n = 0;
}

/* "a b" or "a b\topts" (malloc'd); opts: the action's, rendered (rule_render_opts), or NULL */
static char *dest_of(const char *prefix, const char *adapter, const char *target, const char *opts)
{
	if (!opts)
		opts = "";
	size_t n = strlen(prefix) + strlen(adapter) + strlen(target) + strlen(opts) + 4;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s%s %s%s%s", prefix, adapter, target, opts[0] ? "\t" : "", opts);
	return s;
}

/* the adapter for an endpoint URI, if this gateway has it configured */
static const struct gw_adapter_ops *adapter_here(const struct gw_ingest_cfg *g, const char *uri)
{
	const struct gw_adapter_ops *ad = gw_adapter_for_uri(uri);
	for (size_t i = 0; ad && g->adapter_on && gw_adapters[i]; i++)
		if (gw_adapters[i] == ad)
			return g->adapter_on[i] ? ad : NULL;
	return ad;
}

/* is this endpoint URI the gateway itself? (its DID, or one of its own endpoints) */
static bool is_self(const struct gw_ingest_cfg *g, const char *uri)
{
	if (g->proto.our_did && strncmp(uri, "did:", 4) == 0) {
		size_t n = strcspn(uri, "#?/");
		if (strlen(g->proto.our_did) == n && strncmp(uri, g->proto.our_did, n) == 0)
			return true;
	}
	size_t ul = strlen(uri);
	while (ul && uri[ul - 1] == '/')
		ul--;
	for (size_t i = 0; i < g->n_endpoints; i++) {
		const char *e = g->our_endpoints[i];
		size_t el = strlen(e);
		while (el && e[el - 1] == '/')
			el--;
		if (el == ul && strncasecmp(e, uri, el) == 0)
			return true;
	}
	return false;
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
	{
		char *opts = NULL;
		if ((rc = rule_render_target(a, env, &target, ei)))
			return rc;
		if ((rc = rule_render_opts(a, env, &opts, ei))) {
			free(target);
			return rc;
		}
		dest = dest_of("", a->adapter, target, opts);
		free(target);
		free(opts);
		if (!dest)
			return DC_ERR_NOMEM;
		break;
	}
	case RULE_ACT_RESOLVE: {
		/* the recipient's DIDCommMessaging endpoints in document order: the first one with an
		 * adapter here (and allowed by the rule), wrapped for the hops after us. The targets
		 * come from a DID document (anyone's): "resolved", so the outbound policy applies. */
		const char *const *skip = (const char *const *)r->rcpt_kids;
		char last[300] = "";
		bool self = false;
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
				if (k == 0 && rc != DC_ERR_NOMEM && rc != DC_ERR_AGAIN)
					p->hard = true; /* the recipient's DID itself cannot be used */
				break;
			}
			if (!target) {
				free(data);
				data = NULL;
				break;
			}
			const struct gw_adapter_ops *ad = adapter_here(g, target);
			const char *colon = strchr(target, ':');
			char scheme[16] = "";
			if (colon && (size_t)(colon - target) < sizeof scheme)
				memcpy(scheme, target, (size_t)(colon - target));
			if (is_self(g, target)) {
				/* a mediator client of ours, or a document pointing back at us: never a delivery
				 * to ourselves (the rule's else holds it for pickup) */
				self = true;
				snprintf(last, sizeof last, "the endpoint %.200s is this gateway", target);
				free(data);
				data = NULL;
			} else if (ad && rule_resolve_allows(a, scheme)) {
				if (!(dest = dest_of("resolved ", ad->name, target, NULL)))
					rc = DC_ERR_NOMEM;
			} else {
				snprintf(last, sizeof last, "endpoint %.200s: no adapter for it configured here, or not allowed", target);
				free(data);
				data = NULL;
			}
			free(target);
			target = NULL;
			if (rc)
				break;
		}
		if (rc) {
			free(data);
			free(dest);
			return rc;
		}
		if (!dest && self)
			return dc_errinfo_set(ei, SELF_ERR, "%s", last);
		if (!dest && last[0])
			return dc_errinfo_set(ei, DC_ERR_UNSUPPORTED, "%s", last);
		if (!dest)
			return dc_errinfo_set(ei, DC_ERR_NOT_FOUND, "%.200s has no DIDCommMessaging endpoint", env->to);
		break;
	}
	case RULE_ACT_HOLD: {
		if (!(dest = dest_of("", "hold", env->to ? env->to : "-", NULL)))
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
	p->dests[p->n] = dest;
	p->datas[p->n] = data;
	p->items[p->n] = (struct dc_queue_new_item){ .msg_id = env->msg_id,
		                                      .data = (const uint8_t *)(data ? data : payload),
		                                      .len = data ? len : payload_len,
		                                      .media_type = "application/didcomm-encrypted+json",
		                                      .dest = dest,
		                                      .origin = p->origin,
		                                      .sender = p->sender,
		                                      .expires_ms = exp,
		                                      .not_before_ms = not_before,
		                                      .leased_until_ms = !not_before && g->lease_ms > 0 ?
		                                                         now_ms() + g->lease_ms : 0 };
	p->n++;
	return DC_OK;
}

/* After the commit: the born-leased deliveries for the caller to send from memory. They take
 * the plan's own buffers (the wrapped envelope, the destination) rather than copies; only an
 * envelope the plan borrowed (the inbound bytes or the forward's payload) is copied. Out of
 * memory here loses nothing: their leases run out and the dispatcher claims them. */
static void take_fast(struct plan *p, const int64_t *ids, struct gw_ingest_result *res)
{
	size_t n = 0;
	for (size_t i = 0; i < p->n; i++)
		n += p->items[i].leased_until_ms > 0;
	if (!n || !(res->fast = calloc(n, sizeof *res->fast)))
		return;
	int64_t now = now_ms();
	for (size_t i = 0; i < p->n; i++) {
		const struct dc_queue_new_item *in = &p->items[i];
		if (in->leased_until_ms <= 0 || ids[i] == 0) /* 0: its key was put before */
			continue;
		struct dc_queue_item *it = &res->fast[res->n_fast];
		it->id = ids[i];
		it->msg_id = in->msg_id ? strdup(in->msg_id) : NULL;
		it->media_type = strdup(in->media_type);
		it->origin = in->origin ? strdup(in->origin) : NULL;
		it->len = in->len;
		it->created_ms = it->next_ms = now;
		it->expires_ms = in->expires_ms;
		it->dest = p->dests[i]; /* taken: the plan no longer frees them */
		p->dests[i] = NULL;
		if (p->datas[i]) {
			it->data = (uint8_t *)p->datas[i];
			p->datas[i] = NULL;
		} else if ((it->data = malloc(in->len ? in->len : 1))) {
			memcpy(it->data, in->data, in->len);
		}
		res->n_fast++;
		if (!it->media_type || !it->dest || !it->data) {
			dc_queue_items_free(res->fast, res->n_fast);
			res->fast = NULL;
			res->n_fast = 0;
			return;
		}
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
	char rule[200];   /* file:line of the rule, for the result's why */
	char origin[120]; /* "transport source" */
	struct dc_queue *q;                          /* where files[] were written */
	char files[MAX_TARGETS][DC_QUEUE_FILE_NAME]; /* big envelopes written ahead (gw_commit_write_files) */
	char keys[MAX_TARGETS][80];                  /* the items' idempotency keys (in->key) */
	char *facts[MAX_TARGETS];                    /* the items' rule inputs (make_facts) */
};

static void commit_free(struct gw_commit *c)
{
	if (!c)
		return;
	plan_clear(&c->p);
	plan_clear(&c->pf);
	dc_relay_clear(&c->r);
	for (size_t i = 0; i < MAX_TARGETS; i++)
		free(c->facts[i]);
	free(c);
}

/* The rule inputs of each planned item, stored with it (dc_queue_new_item.facts) so that the
 * rules can decide again later (gw_ingest_replan): a JSON object with what the matchers read
 * (transport, to, sender, tag, relay, size), who decided (by: "rule" or "mediator") and which
 * of the message's deliveries the item is (part of parts). Out of memory: an item without them
 * (it cannot be re-routed, nothing else changes). */
static void make_facts(struct gw_commit *c, const struct rule_env *env, const char *by)
{
	struct plan *p = &c->p;
	cJSON *o = cJSON_CreateObject();
	const char *keys[] = { "transport", "to", "sender", "tag", "relay", "by" };
	const char *vals[] = { env->transport, env->to, env->sender, env->tag, env->relay, by };
	bool ok = o != NULL;
	for (size_t i = 0; ok && i < sizeof keys / sizeof keys[0]; i++)
		if (vals[i])
			ok = cJSON_AddStringToObject(o, keys[i], vals[i]) != NULL;
	ok = ok && cJSON_AddNumberToObject(o, "size", (double)env->size) &&
	     cJSON_AddNumberToObject(o, "parts", (double)p->n);
	char *base = ok ? cJSON_PrintUnformatted(o) : NULL;
	cJSON_Delete(o);
	if (!base)
		return;
	size_t bl = strlen(base);
	for (size_t i = 0; i < p->n && bl > 2; i++) {
		size_t n = bl + 32;
		if (!(c->facts[i] = malloc(n)))
			break;
		snprintf(c->facts[i], n, "{\"part\":%zu,%s", i, base + 1);
		p->items[i].facts = c->facts[i];
	}
	cJSON_free(base);
}

/* an envelope we sent lately came back: a dead letter saying so, nothing delivered */
static void dead_loop(const struct gw_ingest_cfg *g, const struct gw_ingest_in *in, const char *origin,
                      struct gw_ingest_result *res)
{
	struct dc_queue_new_item it = { .data = in->data, .len = in->len, .media_type = "application/didcomm-encrypted+json",
		                        .dest = "hold loop", .origin = origin, .not_before_ms = now_ms() + 86400000LL };
	int64_t id = 0;
	struct dc_errinfo ei = { 0 };
	res->loop = true;
	if (dc_queue_put(g->q, &it, 1, &id, &ei) || dc_queue_fail(g->q, id, now_ms(), "loop: this envelope was sent by this gateway moments ago and came back", &ei)) {
		outcome_of(res, DC_ERR_IO, ei.msg);
		return;
	}
	res->outcome = GW_ACCEPTED;
	snprintf(res->why, sizeof res->why, "loop: an envelope this gateway sent came back; dead letter #%lld",
	         (long long)id);
}

static bool is_our_did(const struct gw_ingest_cfg *g, const char *did)
{
	return did && g->proto.our_did && strcmp(did, g->proto.our_did) == 0;
}

void gw_ingest_start(const struct gw_ingest_cfg *g, const struct gw_ingest_in *in, struct gw_ingest_result *res,
                     struct gw_commit **pc)
{
	memset(res, 0, sizeof *res);
	*pc = NULL;
	struct gw_commit *c = calloc(1, sizeof *c);
	if (!c) {
		outcome_of(res, DC_ERR_NOMEM, "out of memory");
		return;
	}
	struct dc_relay *r = &c->r;
	struct plan *p = &c->p;
	struct dc_errinfo ei = { 0 };
	char *to_did = NULL;
	dc_err rc;
	snprintf(c->origin, sizeof c->origin, "%.15s %.100s", in->transport, in->source ? in->source : "");
	p->origin = c->pf.origin = c->origin;
	if (in->len > g->max_bytes) {
		char why[120];
		snprintf(why, sizeof why, "%zu bytes is over max_receive_bytes %zu", in->len, g->max_bytes);
		refuse(res, GW_REF_TOO_BIG, "e.p.msg.too-big", why, NULL);
		goto out;
	}
	if (!didcomm_type(in->media_type)) {
		char why[200];
		snprintf(why, sizeof why, "media type %.100s is not a DIDComm type", in->media_type);
		refuse(res, GW_REF_BAD_TYPE, "e.p.msg.unsupported-media-type", why, NULL);
		goto out;
	}
	if (g->seen && gw_seen_recent(g->seen, in->data, in->len, now_ms(), g->loop_window_ms)) {
		if (in->only_ours) /* in a shared place: our own message lying there for its addressee */
			refuse(res, GW_REF_NOT_OURS, "", "sent by this gateway: left for its addressee", NULL);
		else
			dead_loop(g, in, c->origin, res);
		goto out;
	}
	if ((rc = dc_relay_inspect(g->dc, (const char *)in->data, in->len, r, &ei))) {
		gw_metrics_unpack_failed(rc);
		res->fetching = rc == DC_ERR_AGAIN;
		outcome_of(res, rc, res->fetching ? "a did:web document it needs is being fetched" : ei.msg);
		goto out;
	}
	if (in->only_ours && (r->kind == DC_RELAY_NOT_FOR_US || !r->n_rcpt_kids)) {
		refuse(res, GW_REF_NOT_OURS, "", "not encrypted to this gateway: left for its addressee", NULL);
		goto out;
	}
	/* multiplex: encrypted to keys of others too (the Filesystem Transport Extension's term) */
	for (size_t k = 0; k < r->n_rcpt_kids && g->proto.our_did && r->meta && r->meta->n_encrypted_to_kids; k++) {
		size_t dl = strcspn(r->rcpt_kids[k], "#?/");
		if (dl != strlen(g->proto.our_did) || strncmp(r->rcpt_kids[k], g->proto.our_did, dl) != 0) {
			snprintf(res->multiplex, sizeof res->multiplex, "%s", r->meta->encrypted_to_kids[0]);
			break;
		}
	}
	/* a forward to us whose next is us again: open the next layer, a bounded number of times */
	unsigned max_hops = g->max_hops ? g->max_hops : 4, hops = 1;
	while (r->kind == DC_RELAY_FORWARD && r->next && strncmp(r->next, g->proto.our_did ? g->proto.our_did : "-",
	                                                        strlen(g->proto.our_did ? g->proto.our_did : "-")) == 0 &&
	       (r->next[strlen(g->proto.our_did)] == 0 || r->next[strlen(g->proto.our_did)] == '#')) {
		if (++hops > max_hops) {
			char why[120];
			snprintf(why, sizeof why, "more than %u nested forwards to this gateway", max_hops);
			refuse(res, GW_REF_DENIED, "e.p.xfer.too-many-hops", why, NULL);
			goto out;
		}
		struct dc_relay inner;
		rc = dc_relay_inspect(g->dc, r->payload, r->payload_len, &inner, &ei);
		if (rc) {
			gw_metrics_unpack_failed(rc);
			res->fetching = rc == DC_ERR_AGAIN;
			outcome_of(res, rc, ei.msg);
			goto out;
		}
		dc_relay_clear(r);
		*r = inner;
	}
	const char *payload = (const char *)in->data;
	size_t payload_len = in->len;
	int64_t expires_ms = 0;
	if (r->msg_id)
		snprintf(res->msg_id, sizeof res->msg_id, "%s", r->msg_id);
	if (r->thid)
		snprintf(res->thid, sizeof res->thid, "%s", r->thid);
	if (r->meta) {
		/* only an authenticated sender is answered encrypted: the authcrypt skid or the signer */
		const char *from = r->meta->encrypted_from_kid ? r->meta->encrypted_from_kid : r->meta->sign_from;
		if (from)
			did_of(from, &res->reply_to);
		p->sender = res->reply_to;
	}
	if (r->kind == DC_RELAY_FOR_US) {
		res->return_route = r->return_route &&
		                    (strcmp(r->return_route, "all") == 0 || strcmp(r->return_route, "thread") == 0);
		bool handled = false;
		if (g->med) {
			/* the mediator's protocols: only an authcrypt sender is a client (its skid's DID) */
			char *client = NULL;
			if (r->meta && r->meta->encrypted_from_kid)
				did_of(r->meta->encrypted_from_kid, &client);
			struct gw_med_in mi = { .msg = r->message, .len = strlen(r->message), .client = client,
				                .on_connection = in->live && res->return_route, /* "all" (or "thread") */
				                .transport = in->transport, .conn = in->conn, .max_reply = g->max_bytes / 3,
				                .ctx = g->dc, .endpoints = g->our_endpoints, .n_endpoints = g->n_endpoints };
			struct gw_med_out mo;
			handled = gw_med_handle(g->med, &mi, &mo);
			free(client);
			if (handled) {
				if (strncmp(mo.code, "e.p.me.res", 10) == 0) {
					outcome_of(res, DC_ERR_IO, mo.why); /* the store or memory: try again later */
				} else if (mo.code[0]) {
					refuse(res, strncmp(mo.code, "e.p.trust", 9) == 0 ? GW_REF_DENIED : GW_REF_MALFORMED, mo.code,
					       mo.why, NULL);
				} else {
					res->reply = mo.reply;
					res->outcome = GW_ACCEPTED;
					snprintf(res->why, sizeof res->why, "%s", res->reply ? "answered (mediator)" : "handled (mediator)");
				}
				goto out;
			}
		}
		if ((rc = dc_protocol_handle(&g->proto, r->message, strlen(r->message), &res->reply, &handled, &ei))) {
			outcome_of(res, rc, ei.msg);
		} else if (!handled) {
			refuse(res, GW_REF_MALFORMED, "e.p.msg.unsupported",
			       "a message for the gateway of a protocol it does not speak", NULL);
		} else {
			res->outcome = GW_ACCEPTED;
			snprintf(res->why, sizeof res->why, "%s", res->reply ? "answered" : "handled, no reply asked for");
		}
		goto out;
	}
	if (r->kind == DC_RELAY_FORWARD) {
		payload = r->payload;
		payload_len = r->payload_len;
		expires_ms = r->expires_time * 1000;
		if (did_of(r->next, &to_did)) {
			char why[300];
			snprintf(why, sizeof why, "forward: next %.200s is not a DID", r->next);
			refuse(res, GW_REF_MALFORMED, "e.p.msg", why, NULL);
			goto out;
		}
	} else if (r->n_rcpt_kids && did_of(r->rcpt_kids[0], &to_did)) {
		char why[300];
		snprintf(why, sizeof why, "recipient kid %.200s is not a DID URL", r->rcpt_kids[0]);
		refuse(res, GW_REF_MALFORMED, "e.p.msg", why, NULL);
		goto out;
	}
	if (r->kind == DC_RELAY_NOT_FOR_US && is_our_did(g, to_did)) {
		/* encrypted to a key of our DID that we do not hold: not ours to relay, and relaying it
		 * to our own DID would bring it straight back */
		refuse(res, GW_REF_MALFORMED, "e.p.trust.crypto", "encrypted to a key of this gateway that it does not have",
		       NULL);
		goto out;
	}
	struct rule_env env = { .transport = in->transport, .to = to_did, .sender = p->sender,
		                .media_type = "application/didcomm-encrypted+json", .tag = in->tag, .size = payload_len,
		                .msg_id = NULL, .relay = r->kind == DC_RELAY_FORWARD ? "forward" : "other" };
	const struct rule *rule = NULL;
	if (r->kind == DC_RELAY_FORWARD && g->med && gw_med_holds(g->med, to_did)) {
		/* a recipient registered with us (coordinate-mediation): held for its pickup, before
		 * any rule */
		struct rule_action hold = { .kind = RULE_ACT_HOLD, .hold_s = gw_med_hold_ms(g->med) / 1000 };
		if ((rc = plan_action(g, &hold, &env, r, payload, payload_len, expires_ms, p, &ei))) {
			outcome_of(res, rc, ei.msg);
			goto out;
		}
		snprintf(c->rule, sizeof c->rule, "mediator: held for pickup");
		make_facts(c, &env, "mediator");
		goto planned;
	}
	if (rule_match(g->rules, &env, &rule) != DC_OK || !rule) {
		char why[300];
		snprintf(why, sizeof why, "no rule matches a message for %.200s", to_did ? to_did : "?");
		refuse(res, GW_REF_DENIED, "e.p.msg.not-relayed", why, "this gateway does not relay it");
		goto out;
	}
	rc = plan_list(g, &rule->then, &env, r, payload, payload_len, expires_ms, p, &ei);
	if (rc && rc != DC_ERR_DENIED && !p->hard && rule->fallback.n) {
		struct dc_errinfo fe = { 0 };
		rc = plan_list(g, &rule->fallback, &env, r, payload, payload_len, expires_ms, p, &fe);
		if (rc)
			ei = fe;
	}
	if (rc) {
		char why[300];
		snprintf(why, sizeof why, "rule %s:%u: %s", rule_set_name(g->rules), rule->line, ei.msg);
		if (rc == DC_ERR_DENIED) {
			const char *code = rule->then.n && rule->then.v[0].code ? rule->then.v[0].code : RULE_DEFAULT_REJECT_CODE;
			refuse(res, GW_REF_DENIED, code, why, "refused by this gateway's rules");
		} else if (rc == DC_ERR_NOMEM || rc == DC_ERR_AGAIN) {
			res->fetching = rc == DC_ERR_AGAIN;
			outcome_of(res, rc, why);
		} else if (p->hard) {
			refuse(res, GW_REF_MALFORMED, "e.p.did.unresolvable", why, "the recipient's DID cannot be used");
		} else {
			refuse(res, GW_REF_MALFORMED, "e.p.xfer.cant-use-endpoint", why, "no usable endpoint for the recipient");
		}
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
	make_facts(c, &env, "rule");
planned:
	for (size_t i = 0; i < p->n && !res->held_for; i++)
		if (strncmp(p->items[i].dest, "hold ", 5) == 0)
			res->held_for = strdup(p->items[i].dest + 5); /* for live delivery after the commit */
	/* what goes out is remembered for a while: if it comes back, it is a loop */
	for (size_t i = 0; g->seen && i < p->n; i++)
		if (strncmp(p->items[i].dest, "hold ", 5) != 0)
			gw_seen_add(g->seen, p->items[i].data, p->items[i].len, now_ms());
	if (in->key) {
		/* the key binds the transport and the bytes: the same key with other bytes is new */
		uint8_t h[32];
		char hex[65];
		crypto_generichash_state st;
		crypto_generichash_init(&st, NULL, 0, sizeof h);
		crypto_generichash_update(&st, (const uint8_t *)in->transport, strlen(in->transport) + 1);
		crypto_generichash_update(&st, (const uint8_t *)in->key, strlen(in->key) + 1);
		crypto_generichash_update(&st, in->data, in->len);
		crypto_generichash_final(&st, h, sizeof h);
		sodium_bin2hex(hex, sizeof hex, h, sizeof h);
		for (size_t i = 0; i < p->n; i++) {
			snprintf(c->keys[i], sizeof c->keys[i], "%.64s.%u", hex, (unsigned)i);
			p->items[i].key = c->keys[i];
		}
	}
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
		/* a full queue or disk, or an I/O error: the sender should try again later */
		outcome_of(res, rc == DC_ERR_AGAIN ? DC_ERR_AGAIN : DC_ERR_IO,
		           ei && ei->msg[0] ? ei->msg : dc_strerror(rc));
		for (size_t i = 0; c->q && i < c->p.n; i++)
			dc_queue_file_discard(c->q, c->files[i]); /* not taken over: the put failed */
	} else {
		take_fast(&c->p, ids, res);
		res->outcome = GW_ACCEPTED;
		res->n_queued = 0;
		for (size_t i = 0; i < c->p.n; i++)
			res->n_queued += ids[i] != 0;
		res->duplicate = res->n_queued == 0;
		if (res->duplicate)
			snprintf(res->why, sizeof res->why, "taken in before (the same key and bytes): not queued again");
		else
			snprintf(res->why, sizeof res->why, "queued for %zu destination%s (rule %s)", res->n_queued,
			         res->n_queued == 1 ? "" : "s", c->rule);
	}
	commit_free(c);
}

void gw_ingest(const struct gw_ingest_cfg *g, const struct gw_ingest_in *in, struct gw_ingest_result *res)
{
	struct gw_commit *c;
	gw_ingest_start(g, in, res, &c);
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

/* ---- deciding again (queue reroute) ------------------------------------------------------ */
static const char *fact_str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool fact_num(const cJSON *o, const char *k, double max, size_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > max || v->valuedouble != (double)(size_t)v->valuedouble)
		return false;
	*out = (size_t)v->valuedouble;
	return true;
}

void gw_replan_clear(struct gw_replan *rp)
{
	free(rp->dest);
	free(rp->data);
	commit_free(rp->c);
	memset(rp, 0, sizeof *rp);
}

dc_err gw_ingest_replan(const struct gw_ingest_cfg *g, const char *facts, const uint8_t *payload, size_t len,
                        int64_t expires_ms, struct gw_replan *out, struct dc_errinfo *ei)
{
	memset(out, 0, sizeof *out);
	if (!facts)
		return dc_errinfo_set(ei, DC_ERR_NOT_FOUND, "no rule inputs kept with it (queued before re-routing "
		                      "existed, or made by the gateway: a reply, a rule's else)");
	cJSON *o = cJSON_ParseWithLength(facts, strnlen(facts, 65536));
	size_t size = 0, part = 0, parts = 0;
	if (!o || !fact_num(o, "size", (double)SIZE_MAX / 2, &size) || !fact_num(o, "part", MAX_TARGETS, &part) ||
	    !fact_num(o, "parts", MAX_TARGETS, &parts) || part >= parts || !fact_str(o, "transport")) {
		cJSON_Delete(o);
		return dc_errinfo_set(ei, DC_ERR_MALFORMED, "its rule inputs cannot be read");
	}
	dc_err rc = DC_OK;
	const char *by = fact_str(o, "by"), *relay = fact_str(o, "relay"), *to = fact_str(o, "to");
	struct gw_commit *c = NULL;
	/* a recipient registered with the mediator: held for its pickup before any rule, as at
	 * arrival (and no longer, once it is not registered) */
	bool med = relay && strcmp(relay, "forward") == 0 && g->med && gw_med_holds(g->med, to);
	if (!med && by && strcmp(by, "mediator") == 0 && !g->med) {
		rc = dc_errinfo_set(ei, DC_ERR_UNSUPPORTED, "held for a mediation client's pickup, and its registrations "
		                    "cannot be read here");
		goto out;
	}
	if (len != size) {
		rc = dc_errinfo_set(ei, DC_ERR_UNSUPPORTED, "its envelope was wrapped for the endpoint it was resolved "
		                    "to, and the message as it arrived is not kept");
		goto out;
	}
	if (!(c = calloc(1, sizeof *c))) {
		rc = dc_errinfo_set(ei, DC_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* the recipient kids resolve skips, as at arrival */
	struct dc_errinfo ie = { 0 };
	if ((rc = dc_relay_inspect(g->dc, (const char *)payload, len, &c->r, &ie))) {
		dc_errinfo_set(ei, rc, "its envelope cannot be read again: %.200s", ie.msg);
		goto out;
	}
	struct rule_env env = { .transport = fact_str(o, "transport"), .to = to, .sender = fact_str(o, "sender"),
		                .media_type = "application/didcomm-encrypted+json", .tag = fact_str(o, "tag"), .size = size,
		                .relay = relay };
	const struct rule *rule = NULL;
	const char *payload_s = (const char *)payload;
	struct dc_errinfo pe = { 0 };
	if (med) {
		struct rule_action hold = { .kind = RULE_ACT_HOLD, .hold_s = gw_med_hold_ms(g->med) / 1000 };
		snprintf(out->rule, sizeof out->rule, "mediator: held for pickup");
		if ((rc = plan_action(g, &hold, &env, &c->r, payload_s, len, expires_ms, &c->p, &pe))) {
			dc_errinfo_set(ei, rc, "%s", pe.msg);
			goto out;
		}
		goto planned;
	}
	if (rule_match(g->rules, &env, &rule) != DC_OK || !rule) {
		rc = dc_errinfo_set(ei, DC_ERR_DENIED, "no rule matches it now (it would be refused)");
		goto out;
	}
	snprintf(out->rule, sizeof out->rule, "%.180s:%u", rule_set_name(g->rules), rule->line);
	rc = plan_list(g, &rule->then, &env, &c->r, payload_s, len, expires_ms, &c->p, &pe);
	if (rc && rc != DC_ERR_DENIED && !c->p.hard && rule->fallback.n) {
		struct dc_errinfo fe = { 0 };
		if ((rc = plan_list(g, &rule->fallback, &env, &c->r, payload_s, len, expires_ms, &c->p, &fe)))
			pe = fe;
	}
	if (rc) {
		dc_errinfo_set(ei, rc, "rule %s: %s", out->rule,
		               rc == DC_ERR_DENIED ? "rejects it (it would be refused)" : pe.msg);
		goto out;
	}
planned:
	out->parts = c->p.n;
	if (c->p.n != parts) {
		rc = dc_errinfo_set(ei, DC_ERR_UNSUPPORTED, "%s%s makes %zu deliveries of its message where it had %zu",
		                    med ? "" : "rule ", out->rule, c->p.n, parts);
		goto out;
	}
	out->dest = c->p.dests[part];
	c->p.dests[part] = NULL;
	if (c->p.datas[part]) {
		out->data = (uint8_t *)c->p.datas[part];
		out->len = c->p.items[part].len;
		c->p.datas[part] = NULL;
	}
	out->next_ms = c->p.items[part].not_before_ms ? c->p.items[part].not_before_ms : now_ms();
	if (rule && rule->fallback.n) {
		struct plan *pf = &c->pf;
		struct dc_errinfo fe = { 0 };
		if (plan_list(g, &rule->fallback, &env, &c->r, payload_s, len, expires_ms, pf, &fe) == DC_OK) {
			for (size_t k = 0; k < pf->n; k++)
				out->els[k] = (struct dc_queue_else){ .dest = pf->items[k].dest,
					                              .data = pf->datas[k] ? pf->items[k].data : NULL,
					                              .len = pf->datas[k] ? pf->items[k].len : 0,
					                              .hold_ms = pf->hold_ms[k],
					                              .expires_ms = pf->items[k].expires_ms };
			out->n_els = pf->n;
		}
	}
	out->c = c;
	c = NULL;
out:
	commit_free(c);
	cJSON_Delete(o);
	if (rc) {
		free(out->dest);
		free(out->data);
		memset(out, 0, sizeof *out);
	}
	return rc;
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
	const char *ep = pr.items[0].endpoint;
	const struct gw_adapter_ops *ad = ep && !is_self(g, ep) ? adapter_here(g, ep) : NULL;
	char *dest = ad ? dest_of("resolved ", ad->name, ep, NULL) : dest_of("", "hold", res->reply_to, NULL);
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
		if (ad && g->seen)
			gw_seen_add(g->seen, it.data, it.len, now);
		snprintf(res->why, sizeof res->why, "answered; reply queued for %.200s", ad ? ep : "pickup (no endpoint)");
	}
	free(dest);
	dc_pack_result_clear(&pr);
}

void gw_ingest_answer(const struct gw_ingest_cfg *g, bool live, struct gw_ingest_result *res)
{
	struct dc_errinfo ei = { 0 };
	struct dc_pack_result pr = { 0 };
	if (res->outcome == GW_ACCEPTED && res->reply) {
		if (!res->reply_to) {
			snprintf(res->why, sizeof res->why, "handled; no reply: the sender is anonymous");
		} else if (live && res->return_route) {
			if (pack_for(g, res->reply, res->reply_to, true, &pr, &ei) == DC_OK) {
				take_out(res, &pr, "application/didcomm-encrypted+json");
				res->outcome = GW_ANSWERED;
				snprintf(res->why, sizeof res->why, "answered on the return route");
			} else {
				snprintf(res->why, sizeof res->why, "answered, but the reply cannot be packed: %.200s", ei.msg);
			}
		} else {
			queue_reply(g, res);
		}
	} else if (res->outcome != GW_ACCEPTED && res->problem_code[0]) {
		/* about the message refused, in its thread: pthid is its thid, else its id */
		char *report = NULL;
		const char *args[] = { res->told[0] ? res->told : res->why };
		const char *about = res->msg_id[0] ? res->msg_id : NULL;
		const char *pthid = res->thid[0] ? res->thid : about;
		if (dc_problem_report(g->proto.our_did, res->reply_to, pthid, about, res->problem_code, "{1}", args, 1,
		                      &report))
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

/* ---- envelopes sent lately (loop detection) ------------------------------------------------ */
struct seen_slot {
	uint8_t h[16];
	int64_t at;
};
struct gw_seen {
	pthread_mutex_t mu;
	size_t n;               /* slots, a power of two */
	struct seen_slot *v;
};

dc_err gw_seen_new(size_t slots, struct gw_seen **out)
{
	*out = NULL;
	size_t n = 1024;
	while (n < slots && n < (1u << 24))
		n <<= 1;
	struct gw_seen *s = calloc(1, sizeof *s);
	if (!s || !(s->v = calloc(n, sizeof *s->v))) {
		free(s);
		return DC_ERR_NOMEM;
	}
	s->n = n;
	pthread_mutex_init(&s->mu, NULL);
	*out = s;
	return DC_OK;
}

void gw_seen_free(struct gw_seen *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->mu);
	free(s->v);
	free(s);
}

/* An envelope's identity for loop detection: its length, its first KiB (a JWE's protected
 * header with its fresh ephemeral key, the IV) and its last 64 bytes (the tag): as unique as
 * the whole, at a fraction of hashing kilobytes on every message. */
static void digest(const uint8_t *data, size_t len, uint8_t h[16])
{
	crypto_generichash_state st;
	uint64_t n = len;
	size_t head = len < 1024 ? len : 1024, tail = len - head < 64 ? len - head : 64;
	crypto_generichash_init(&st, NULL, 0, 16);
	crypto_generichash_update(&st, (const uint8_t *)&n, sizeof n);
	crypto_generichash_update(&st, data, head);
	crypto_generichash_update(&st, data + len - tail, tail);
	crypto_generichash_final(&st, h, 16);
}

/* a slot per digest (direct-mapped: a newer envelope takes an older one's slot) */
void gw_seen_add(struct gw_seen *s, const uint8_t *data, size_t len, int64_t now_ms_)
{
	uint8_t h[16];
	digest(data, len, h);
	size_t i = ((size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16 | (size_t)h[3] << 24) & (s->n - 1);
	pthread_mutex_lock(&s->mu);
	memcpy(s->v[i].h, h, 16);
	s->v[i].at = now_ms_;
	pthread_mutex_unlock(&s->mu);
}

bool gw_seen_recent(struct gw_seen *s, const uint8_t *data, size_t len, int64_t now_ms_, int64_t window_ms)
{
	uint8_t h[16];
	digest(data, len, h);
	size_t i = ((size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16 | (size_t)h[3] << 24) & (s->n - 1);
	pthread_mutex_lock(&s->mu);
	bool hit = s->v[i].at && memcmp(s->v[i].h, h, 16) == 0 && now_ms_ - s->v[i].at <= window_ms;
	pthread_mutex_unlock(&s->mu);
	return hit;
}
