/* The mediator's messages (core/protocols_med.c: coordinate-mediation 3.0/2.0, messagepickup
 * 3.0, out-of-band 2.0) in the shapes the didcomm.org pages give, hostile requests refused
 * with the right error, and the queue's mailboxes (dc_queue_med_*, dc_queue_mailbox_*). */
#include "testutil.h"

#include "dc_queue.h"
#include "mediation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CM3 "https://didcomm.org/coordinate-mediation/3.0/"
#define CM2 "https://didcomm.org/coordinate-mediation/2.0/"
#define PU3 "https://didcomm.org/messagepickup/3.0/"

static dc_err parse(const char *s, struct dc_med_request *r)
{
	return dc_med_parse(s, strlen(s), r, NULL);
}

static cJSON *js(char *s)
{
	cJSON *j = s ? cJSON_Parse(s) : NULL;
	free(s);
	return j;
}

static void parse_requests(void)
{
	struct dc_med_request r;
	CU_ASSERT_EQUAL(parse("{\"id\":\"1\",\"type\":\"" CM3 "mediate-request\",\"from\":\"did:ex:a\",\"return_route\":\"all\"}", &r),
	                DC_OK);
	CU_ASSERT_EQUAL(r.kind, DC_MED_MEDIATE_REQUEST);
	CU_ASSERT_EQUAL(r.version, 3);
	CU_ASSERT_STRING_EQUAL(r.from, "did:ex:a");
	CU_ASSERT_STRING_EQUAL(r.return_route, "all");
	dc_med_request_clear(&r);
	CU_ASSERT_EQUAL(parse("{\"id\":\"2\",\"type\":\"" CM3 "recipient-update\",\"body\":{\"updates\":["
	                      "{\"recipient_did\":\"did:key:z6Mkabc\",\"action\":\"add\"},"
	                      "{\"recipient_did\":\"did:peer:2.Ez\",\"action\":\"remove\"}]}}",
	                      &r),
	                DC_OK);
	CU_ASSERT_EQUAL(r.kind, DC_MED_RECIPIENT_UPDATE);
	CU_ASSERT_EQUAL_FATAL(r.n_updates, 2);
	CU_ASSERT(r.updates[0].add && !r.updates[1].add);
	CU_ASSERT_STRING_EQUAL(r.updates[1].did, "did:peer:2.Ez");
	dc_med_request_clear(&r);
	/* 2.0: keylist-update, recipient_key accepted as well */
	CU_ASSERT_EQUAL(parse("{\"id\":\"3\",\"type\":\"" CM2 "keylist-update\",\"body\":{\"updates\":["
	                      "{\"recipient_key\":\"did:key:z6Mkabc#z6Mkabc\",\"action\":\"add\"}]}}",
	                      &r),
	                DC_OK);
	CU_ASSERT_EQUAL(r.version, 2);
	CU_ASSERT_EQUAL(r.n_updates, 1);
	dc_med_request_clear(&r);
	CU_ASSERT_EQUAL(parse("{\"id\":\"4\",\"type\":\"" PU3 "delivery-request\",\"body\":{\"limit\":5000,"
	                      "\"recipient_did\":\"did:ex:b\"}}",
	                      &r),
	                DC_OK);
	CU_ASSERT_EQUAL(r.kind, DC_MED_DELIVERY_REQUEST);
	CU_ASSERT_EQUAL(r.limit, DC_MED_MAX_LIMIT); /* clamped */
	CU_ASSERT_STRING_EQUAL(r.recipient_did, "did:ex:b");
	dc_med_request_clear(&r);
	CU_ASSERT_EQUAL(parse("{\"id\":\"5\",\"type\":\"" PU3 "messages-received\",\"body\":{\"message_id_list\":[\"1\",\"22\"]}}", &r),
	                DC_OK);
	CU_ASSERT_EQUAL(r.n_ids, 2);
	dc_med_request_clear(&r);
	CU_ASSERT_EQUAL(parse("{\"id\":\"6\",\"type\":\"" PU3 "live-delivery-change\",\"body\":{\"live_delivery\":true}}", &r),
	                DC_OK);
	CU_ASSERT(r.live);
	dc_med_request_clear(&r);
	CU_ASSERT_EQUAL(parse("{\"id\":\"7\",\"type\":\"" CM3 "recipient-query\",\"body\":{\"paginate\":{\"limit\":2,\"offset\":4}}}", &r),
	                DC_OK);
	CU_ASSERT(r.paginate && r.limit == 2 && r.offset == 4);
	dc_med_request_clear(&r);
	/* not ours, and answers that need nothing */
	CU_ASSERT_EQUAL(parse("{\"id\":\"8\",\"type\":\"https://didcomm.org/trust-ping/2.0/ping\"}", &r), DC_OK);
	CU_ASSERT_EQUAL(r.kind, DC_MED_NONE);
	CU_ASSERT_EQUAL(parse("{\"id\":\"9\",\"type\":\"" PU3 "status\",\"body\":{\"message_count\":1}}", &r), DC_OK);
	CU_ASSERT_EQUAL(r.kind, DC_MED_OTHER);
	dc_med_request_clear(&r);
}

static void parse_hostile(void)
{
	static const struct {
		const char *msg;
		dc_err rc;
	} bad[] = {
		{ "{\"id\":\"1\",\"type\":\"" CM3 "recipient-update\",\"body\":{}}", DC_ERR_MALFORMED },
		{ "{\"id\":\"1\",\"type\":\"" CM3 "recipient-update\",\"body\":{\"updates\":[{\"recipient_did\":\"did:ex:a\",\"action\":\"delete\"}]}}",
		  DC_ERR_MALFORMED },
		{ "{\"id\":\"1\",\"type\":\"" CM3 "recipient-update\",\"body\":{\"updates\":[{\"recipient_did\":\"nodid\",\"action\":\"add\"}]}}",
		  DC_ERR_MALFORMED },
		{ "{\"id\":\"1\",\"type\":\"" CM3 "recipient-update\",\"body\":{\"updates\":[{\"recipient_did\":\"did:ex:a b\",\"action\":\"add\"}]}}",
		  DC_ERR_MALFORMED },
		{ "{\"id\":\"1\",\"type\":\"" CM3 "recipient-update\",\"body\":{\"updates\":[7]}}", DC_ERR_MALFORMED },
		{ "{\"id\":\"1\",\"type\":\"" PU3 "delivery-request\",\"body\":{}}", DC_ERR_MALFORMED },
		{ "{\"id\":\"1\",\"type\":\"" PU3 "delivery-request\",\"body\":{\"limit\":0}}", DC_ERR_MALFORMED },
		{ "{\"id\":\"1\",\"type\":\"" PU3 "delivery-request\",\"body\":{\"limit\":1.5}}", DC_ERR_MALFORMED },
		{ "{\"id\":\"1\",\"type\":\"" PU3 "delivery-request\",\"body\":{\"limit\":\"10\"}}", DC_ERR_MALFORMED },
		{ "{\"id\":\"1\",\"type\":\"" PU3 "delivery-request\",\"body\":{\"limit\":1,\"recipient_did\":5}}", DC_ERR_MALFORMED },
		{ "{\"id\":\"1\",\"type\":\"" PU3 "messages-received\",\"body\":{\"message_id_list\":[1]}}", DC_ERR_MALFORMED },
		{ "{\"id\":\"1\",\"type\":\"" PU3 "messages-received\",\"body\":{}}", DC_ERR_MALFORMED },
		{ "{\"id\":\"1\",\"type\":\"" PU3 "live-delivery-change\",\"body\":{\"live_delivery\":\"yes\"}}", DC_ERR_MALFORMED },
		{ "{\"type\":\"" PU3 "status-request\",\"body\":{}}", DC_ERR_MALFORMED },
		{ "{\"id\":\"1\",\"type\":\"" PU3 "status-request\",\"body\":[]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"1\",\"type\":\"" CM3 "recipient-query\",\"body\":{\"paginate\":{\"limit\":-1,\"offset\":0}}}", DC_ERR_MALFORMED },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct dc_med_request r;
		struct dc_errinfo ei = { 0 };
		dc_err rc = dc_med_parse(bad[i].msg, strlen(bad[i].msg), &r, &ei);
		if (rc != bad[i].rc)
			fprintf(stderr, "\ncase %zu: %d %s\n", i, rc, ei.msg);
		CU_ASSERT_EQUAL(rc, bad[i].rc);
		CU_ASSERT_EQUAL(r.kind, DC_MED_NONE); /* cleared */
	}
	/* over the bounds */
	size_t cap = 64 + (DC_MED_MAX_UPDATES + 1) * 60;
	char *big = malloc(cap);
	size_t n = (size_t)snprintf(big, cap, "{\"id\":\"1\",\"type\":\"%srecipient-update\",\"body\":{\"updates\":[", CM3);
	for (int i = 0; i <= DC_MED_MAX_UPDATES; i++)
		n += (size_t)snprintf(big + n, cap - n, "%s{\"recipient_did\":\"did:ex:%d\",\"action\":\"add\"}", i ? "," : "", i);
	snprintf(big + n, cap - n, "]}}");
	struct dc_med_request r;
	CU_ASSERT_EQUAL(parse(big, &r), DC_ERR_TOO_BIG);
	free(big);
}

static void answers(void)
{
	struct dc_med_request r3, r2;
	CU_ASSERT_EQUAL_FATAL(parse("{\"id\":\"r3\",\"type\":\"" CM3 "mediate-request\",\"from\":\"did:ex:a\"}", &r3), DC_OK);
	CU_ASSERT_EQUAL_FATAL(parse("{\"id\":\"r2\",\"thid\":\"t2\",\"type\":\"" CM2 "mediate-request\",\"from\":\"did:ex:a\"}", &r2),
	                      DC_OK);
	const char *rd[] = { "did:ex:gw" };
	char *s = NULL;
	CU_ASSERT_EQUAL(dc_med_grant(&r3, "did:ex:gw", rd, 1, &s), DC_OK);
	cJSON *j = js(s);
	CU_ASSERT_STRING_EQUAL(dc__json_str(j, "type"), CM3 "mediate-grant");
	CU_ASSERT_STRING_EQUAL(dc__json_str(j, "thid"), "r3");
	CU_ASSERT_STRING_EQUAL(dc__json_str(j, "from"), "did:ex:gw");
	CU_ASSERT_STRING_EQUAL(cJSON_GetArrayItem(dc__json_arr(j, "to"), 0)->valuestring, "did:ex:a");
	const cJSON *g = dc__json_arr(dc__json_obj(j, "body"), "routing_did"); /* 3.0: an array */
	CU_ASSERT(g && cJSON_GetArraySize(g) == 1 && strcmp(cJSON_GetArrayItem(g, 0)->valuestring, "did:ex:gw") == 0);
	cJSON_Delete(j);
	CU_ASSERT_EQUAL(dc_med_grant(&r2, "did:ex:gw", rd, 1, &s), DC_OK);
	j = js(s);
	CU_ASSERT_STRING_EQUAL(dc__json_str(j, "type"), CM2 "mediate-grant");
	CU_ASSERT_STRING_EQUAL(dc__json_str(j, "thid"), "t2");
	CU_ASSERT_STRING_EQUAL(dc__json_str(dc__json_obj(j, "body"), "routing_did"), "did:ex:gw"); /* 2.0: a string */
	cJSON_Delete(j);
	CU_ASSERT_EQUAL(dc_med_deny(&r2, "did:ex:gw", &s), DC_OK);
	j = js(s);
	CU_ASSERT_STRING_EQUAL(dc__json_str(j, "type"), CM2 "mediate-deny");
	cJSON_Delete(j);
	dc_med_request_clear(&r3);
	dc_med_request_clear(&r2);

	/* update response and the recipient list, both versions */
	for (int v = 2; v <= 3; v++) {
		struct dc_med_request u, q;
		char in[300];
		snprintf(in, sizeof in, "{\"id\":\"u\",\"type\":\"%s%s\",\"body\":{\"updates\":[{\"recipient_did\":\"did:ex:r\",\"action\":\"add\"}]}}",
		         v == 3 ? CM3 : CM2, v == 3 ? "recipient-update" : "keylist-update");
		CU_ASSERT_EQUAL_FATAL(parse(in, &u), DC_OK);
		u.updates[0].result = DC_MED_CLIENT_ERROR;
		CU_ASSERT_EQUAL(dc_med_update_response(&u, "did:ex:gw", &s), DC_OK);
		j = js(s);
		CU_ASSERT_STRING_EQUAL(dc__json_str(j, "type"), v == 3 ? CM3 "recipient-update-response" : CM2 "keylist-update-response");
		const cJSON *e = cJSON_GetArrayItem(dc__json_arr(dc__json_obj(j, "body"), "updated"), 0);
		CU_ASSERT_STRING_EQUAL(dc__json_str(e, "recipient_did"), "did:ex:r");
		CU_ASSERT_STRING_EQUAL(dc__json_str(e, "action"), "add");
		CU_ASSERT_STRING_EQUAL(dc__json_str(e, "result"), "client_error");
		cJSON_Delete(j);
		snprintf(in, sizeof in, "{\"id\":\"q\",\"type\":\"%s%s\",\"body\":{\"paginate\":{\"limit\":1,\"offset\":1}}}",
		         v == 3 ? CM3 : CM2, v == 3 ? "recipient-query" : "keylist-query");
		CU_ASSERT_EQUAL_FATAL(parse(in, &q), DC_OK);
		const char *d[] = { "did:ex:r2" };
		CU_ASSERT_EQUAL(dc_med_recipients(&q, "did:ex:gw", d, 1, 1, 3, &s), DC_OK);
		j = js(s);
		CU_ASSERT_STRING_EQUAL(dc__json_str(j, "type"), v == 3 ? CM3 "recipient" : CM2 "keylist");
		const cJSON *b = dc__json_obj(j, "body");
		CU_ASSERT_STRING_EQUAL(dc__json_str(cJSON_GetArrayItem(dc__json_arr(b, v == 3 ? "dids" : "keys"), 0), "recipient_did"),
		                       "did:ex:r2");
		const cJSON *p = dc__json_obj(b, "pagination");
		CU_ASSERT(p && cJSON_GetObjectItemCaseSensitive(p, "count")->valuedouble == 1 &&
		          cJSON_GetObjectItemCaseSensitive(p, "offset")->valuedouble == 1 &&
		          cJSON_GetObjectItemCaseSensitive(p, "remaining")->valuedouble == 3);
		cJSON_Delete(j);
		dc_med_request_clear(&u);
		dc_med_request_clear(&q);
	}
}

static void pickup_answers(void)
{
	struct dc_med_request r;
	CU_ASSERT_EQUAL_FATAL(parse("{\"id\":\"d1\",\"type\":\"" PU3 "delivery-request\",\"from\":\"did:ex:a\","
	                            "\"body\":{\"limit\":10,\"recipient_did\":\"did:ex:a\"}}",
	                            &r),
	                      DC_OK);
	const char env[] = "{\"protected\":\"x\",\"ciphertext\":\"y\"}";
	struct dc_med_attachment att[] = { { .id = "17", .data = (const uint8_t *)env, .len = strlen(env) } };
	char *s = NULL;
	CU_ASSERT_EQUAL(dc_med_delivery(&r, "did:ex:gw", NULL, r.recipient_did, att, 1, &s), DC_OK);
	cJSON *j = js(s);
	CU_ASSERT_STRING_EQUAL(dc__json_str(j, "type"), PU3 "delivery");
	CU_ASSERT_STRING_EQUAL(dc__json_str(j, "thid"), "d1");
	CU_ASSERT_STRING_EQUAL(dc__json_str(dc__json_obj(j, "body"), "recipient_did"), "did:ex:a");
	const cJSON *a = cJSON_GetArrayItem(dc__json_arr(j, "attachments"), 0);
	CU_ASSERT_STRING_EQUAL(dc__json_str(a, "id"), "17");
	const char *b64 = dc__json_str(dc__json_obj(a, "data"), "base64");
	uint8_t *dec = NULL;
	size_t dl = 0;
	CU_ASSERT_EQUAL_FATAL(dc__b64url_decode(b64, strlen(b64), &dec, &dl), DC_OK);
	CU_ASSERT(dl == strlen(env) && memcmp(dec, env, dl) == 0);
	free(dec);
	cJSON_Delete(j);
	/* a live push: no thid, to the recipient */
	CU_ASSERT_EQUAL(dc_med_delivery(NULL, "did:ex:gw", "did:ex:a", NULL, att, 1, &s), DC_OK);
	j = js(s);
	CU_ASSERT_PTR_NULL(dc__json_str(j, "thid"));
	CU_ASSERT_STRING_EQUAL(cJSON_GetArrayItem(dc__json_arr(j, "to"), 0)->valuestring, "did:ex:a");
	cJSON_Delete(j);
	struct dc_med_status st = { .recipient_did = "did:ex:a", .message_count = 7, .total_bytes = 8096,
		                    .longest_waited_seconds = 3600, .newest_received_time = 1658085169,
		                    .oldest_received_time = 1658084293, .live_delivery = false };
	CU_ASSERT_EQUAL(dc_med_status(&r, "did:ex:gw", &st, &s), DC_OK);
	j = js(s);
	const cJSON *b = dc__json_obj(j, "body");
	CU_ASSERT_STRING_EQUAL(dc__json_str(j, "type"), PU3 "status");
	CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(b, "message_count")->valuedouble, 7);
	CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(b, "longest_waited_seconds")->valuedouble, 3600);
	CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(b, "newest_received_time")->valuedouble, 1658085169);
	CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(b, "oldest_received_time")->valuedouble, 1658084293);
	CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(b, "total_bytes")->valuedouble, 8096);
	CU_ASSERT(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(b, "live_delivery")));
	CU_ASSERT_STRING_EQUAL(dc__json_str(b, "recipient_did"), "did:ex:a");
	cJSON_Delete(j);
	dc_med_request_clear(&r);
}

static void oob(void)
{
	char *inv = NULL, *url = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_oob_invitation("did:ex:gw", "request-mediate", "g", &inv), DC_OK);
	cJSON *j = cJSON_Parse(inv);
	CU_ASSERT_STRING_EQUAL(dc__json_str(j, "type"), "https://didcomm.org/out-of-band/2.0/invitation");
	CU_ASSERT_STRING_EQUAL(dc__json_str(j, "from"), "did:ex:gw");
	CU_ASSERT_PTR_NOT_NULL(dc__json_str(j, "id"));
	CU_ASSERT_STRING_EQUAL(dc__json_str(dc__json_obj(j, "body"), "goal_code"), "request-mediate");
	CU_ASSERT_STRING_EQUAL(cJSON_GetArrayItem(dc__json_arr(dc__json_obj(j, "body"), "accept"), 0)->valuestring, "didcomm/v2");
	cJSON_Delete(j);
	CU_ASSERT_EQUAL_FATAL(dc_oob_url("https://gw.example/dc", inv, &url), DC_OK);
	const char *q = strstr(url, "?_oob=");
	CU_ASSERT_PTR_NOT_NULL_FATAL(q);
	uint8_t *dec = NULL;
	size_t dl = 0;
	CU_ASSERT_EQUAL(dc__b64url_decode(q + 6, strlen(q + 6), &dec, &dl), DC_OK);
	CU_ASSERT(dl == strlen(inv) && memcmp(dec, inv, dl) == 0);
	free(dec);
	free(url);
	/* the spec's vector: the encoding of its example message */
	const char *ex = "{\"type\":\"https://didcomm.org/out-of-band/2.0/invitation\",\"id\":\"69212a3a-d068-4f9d-a2dd-4741bca89af3\","
	                 "\"from\":\"did:example:alice\",\"body\":{\"goal_code\":\"\",\"goal\":\"\"},\"attachments\":[{\"id\":"
	                 "\"request-0\",\"media_type\":\"application/json\",\"data\":{\"json\":\"<json of protocol message>\"}}]}";
	CU_ASSERT_EQUAL(dc_oob_url("https://example.com/path", ex, &url), DC_OK);
	CU_ASSERT_STRING_EQUAL(url, "https://example.com/path?_oob=eyJ0eXBlIjoiaHR0cHM6Ly9kaWRjb21tLm9yZy9vdXQtb2YtYmFuZC8yLjAvaW52aXRh"
	                            "dGlvbiIsImlkIjoiNjkyMTJhM2EtZDA2OC00ZjlkLWEyZGQtNDc0MWJjYTg5YWYzIiwiZnJvbSI6ImRpZDpleGFtcGxl"
	                            "OmFsaWNlIiwiYm9keSI6eyJnb2FsX2NvZGUiOiIiLCJnb2FsIjoiIn0sImF0dGFjaG1lbnRzIjpbeyJpZCI6InJlcXVl"
	                            "c3QtMCIsIm1lZGlhX3R5cGUiOiJhcHBsaWNhdGlvbi9qc29uIiwiZGF0YSI6eyJqc29uIjoiPGpzb24gb2YgcHJvdG9j"
	                            "b2wgbWVzc2FnZT4ifX1dfQ");
	free(url);
	free(inv);
}

/* may the mediator hold for a recipient? its DID document's services decide */
static void routes_via(void)
{
	struct dc_resolver *res = NULL;
	struct dc_keystore *ks[6] = { 0 };
	static const enum dc_crv x[] = { DC_CRV_X25519 };
	const char *via[] = { "did:test:med#key-x25519-1" };
	CU_ASSERT_EQUAL_FATAL(dc_resolver_new(16, &res), DC_OK);
	CU_ASSERT_EQUAL_FATAL(tu_make_party(res, &ks[0], "did:test:med", x, 1, 1, false, "http://127.0.0.1:9/med", NULL, 0), 0);
	CU_ASSERT_EQUAL_FATAL(tu_make_party(res, &ks[1], "did:test:plain", x, 1, 1, false, NULL, NULL, 0), 0);
	CU_ASSERT_EQUAL_FATAL(tu_make_party(res, &ks[2], "did:test:bydid", x, 1, 1, false, "did:test:med", NULL, 0), 0);
	CU_ASSERT_EQUAL_FATAL(tu_make_party(res, &ks[3], "did:test:bykey", x, 1, 1, false, "https://elsewhere.example/", via, 1), 0);
	CU_ASSERT_EQUAL_FATAL(tu_make_party(res, &ks[4], "did:test:other", x, 1, 1, false, "https://elsewhere.example/", NULL, 0), 0);
	CU_ASSERT_EQUAL_FATAL(tu_make_party(res, &ks[5], "did:test:byep", x, 1, 1, false, "http://127.0.0.1:9/med", NULL, 0), 0);
	struct dc_ctx *c = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_ctx_new(res, ks[0], &c), DC_OK);
	const char *ep[] = { "http://127.0.0.1:9/med/" };
	CU_ASSERT_EQUAL(dc_med_routes_via(c, "did:test:plain", "did:test:med", ep, 1, NULL), DC_OK);       /* no service */
	CU_ASSERT_EQUAL(dc_med_routes_via(c, "did:test:bydid#key-x25519-1", "did:test:med", ep, 1, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_med_routes_via(c, "did:test:bykey", "did:test:med", ep, 1, NULL), DC_OK);       /* routing key */
	CU_ASSERT_EQUAL(dc_med_routes_via(c, "did:test:byep", "did:test:med", ep, 1, NULL), DC_OK);        /* our endpoint */
	CU_ASSERT_EQUAL(dc_med_routes_via(c, "did:test:other", "did:test:med", ep, 1, NULL), DC_ERR_DENIED);
	CU_ASSERT_EQUAL(dc_med_routes_via(c, "did:test:other", "did:test:me", ep, 0, NULL), DC_ERR_DENIED); /* a prefix is not it */
	CU_ASSERT_EQUAL(dc_med_routes_via(c, "did:test:nobody", "did:test:med", ep, 1, NULL), DC_ERR_RESOLVE);
	dc_ctx_free(c);
	for (int i = 0; i < 6; i++)
		dc_keystore_free(ks[i]);
	dc_resolver_free(res);
}

/* ---- the queue's mailboxes ---------------------------------------------------------------- */
static void mailboxes(void)
{
	char dir[] = "/tmp/dcmed.XXXXXX", path[64];
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/q.db", dir);
	struct dc_queue *q = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_queue_open_sqlite(path, NULL, &q, NULL), DC_OK);
	bool g = true;
	CU_ASSERT_EQUAL(dc_queue_med_granted(q, "did:ex:a", &g, NULL), DC_OK);
	CU_ASSERT(!g);
	CU_ASSERT_EQUAL(dc_queue_med_grant(q, "did:ex:a", 1, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_med_grant(q, "did:ex:a", 2, NULL), DC_OK); /* again: fine */
	CU_ASSERT_EQUAL(dc_queue_med_granted(q, "did:ex:a", &g, NULL), DC_OK);
	CU_ASSERT(g);
	enum dc_queue_med_change ch;
	CU_ASSERT_EQUAL(dc_queue_med_recipient(q, "did:ex:a", "did:ex:ra", "did:ex:ra", true, 1, &ch, NULL), DC_OK);
	CU_ASSERT_EQUAL(ch, DC_QUEUE_MED_DONE);
	CU_ASSERT_EQUAL(dc_queue_med_recipient(q, "did:ex:a", "did:ex:ra", "did:ex:ra", true, 1, &ch, NULL), DC_OK);
	CU_ASSERT_EQUAL(ch, DC_QUEUE_MED_SAME);
	CU_ASSERT_EQUAL(dc_queue_med_recipient(q, "did:ex:b", "did:ex:ra", "did:ex:ra", true, 1, &ch, NULL), DC_OK);
	CU_ASSERT_EQUAL(ch, DC_QUEUE_MED_OTHERS);
	/* a key of the same DID registered by someone else: the mailbox is a's */
	CU_ASSERT_EQUAL(dc_queue_med_recipient(q, "did:ex:b", "did:ex:ra#k1", "did:ex:ra", true, 1, &ch, NULL), DC_OK);
	CU_ASSERT_EQUAL(ch, DC_QUEUE_MED_OTHERS);
	CU_ASSERT_EQUAL(dc_queue_med_recipient(q, "did:ex:b", "did:ex:ra", "did:ex:ra", false, 1, &ch, NULL), DC_OK);
	CU_ASSERT_EQUAL(ch, DC_QUEUE_MED_SAME); /* not b's to remove */
	CU_ASSERT_EQUAL(dc_queue_med_recipient(q, "did:ex:b", "did:ex:rb", "did:ex:rb", true, 1, &ch, NULL), DC_OK);
	char **d = NULL;
	size_t n = 0, total = 0;
	CU_ASSERT_EQUAL(dc_queue_med_recipients(q, "did:ex:a", 0, 10, &d, &n, &total, NULL), DC_OK);
	CU_ASSERT(n == 1 && total == 1 && strcmp(d[0], "did:ex:ra") == 0);
	for (size_t i = 0; i < n; i++)
		free(d[i]);
	free(d);
	/* items: three for ra, one for rb, one relayed elsewhere */
	struct dc_queue_new_item it[5];
	const char *dest[] = { "hold did:ex:ra", "hold did:ex:rb", "hold did:ex:ra", "http https://x/", "hold did:ex:ra" };
	for (int i = 0; i < 5; i++)
		it[i] = (struct dc_queue_new_item){ .data = (const uint8_t *)"envelope", .len = 8, .media_type = "m",
			                            .dest = dest[i], .not_before_ms = INT64_C(1) << 50 };
	int64_t ids[5];
	CU_ASSERT_EQUAL_FATAL(dc_queue_put(q, it, 5, ids, NULL), DC_OK);
	struct dc_queue_mailbox_stats st;
	CU_ASSERT_EQUAL(dc_queue_mailbox_stats(q, "did:ex:a", NULL, &st, NULL), DC_OK);
	CU_ASSERT(st.count == 3 && st.bytes == 24 && st.last_id == ids[4]);
	CU_ASSERT_EQUAL(dc_queue_mailbox_stats(q, "did:ex:a", "did:ex:rb", &st, NULL), DC_OK);
	CU_ASSERT_EQUAL(st.count, 0); /* b's mailbox is not a's */
	struct dc_queue_item *items = NULL;
	CU_ASSERT_EQUAL(dc_queue_mailbox_get(q, "did:ex:a", NULL, 0, 2, 1 << 20, &items, &n, NULL), DC_OK);
	CU_ASSERT(n == 2 && items[0].id == ids[0] && items[1].id == ids[2] && items[0].len == 8 &&
	          memcmp(items[0].data, "envelope", 8) == 0);
	dc_queue_items_free(items, n);
	CU_ASSERT_EQUAL(dc_queue_mailbox_get(q, "did:ex:a", NULL, ids[2], 10, 1 << 20, &items, &n, NULL), DC_OK);
	CU_ASSERT(n == 1 && items[0].id == ids[4]);
	dc_queue_items_free(items, n);
	CU_ASSERT_EQUAL(dc_queue_mailbox_get(q, "did:ex:a", NULL, 0, 10, 1, &items, &n, NULL), DC_OK);
	CU_ASSERT_EQUAL(n, 1); /* max_bytes: the first always comes */
	dc_queue_items_free(items, n);
	/* b cannot remove a's items, nor the relayed one; a removes its own */
	size_t gone = 9;
	CU_ASSERT_EQUAL(dc_queue_mailbox_ack(q, "did:ex:b", ids, 5, &gone, NULL), DC_OK);
	CU_ASSERT_EQUAL(gone, 1); /* only its own (rb) */
	CU_ASSERT_EQUAL(dc_queue_mailbox_ack(q, "did:ex:a", ids, 5, &gone, NULL), DC_OK);
	CU_ASSERT_EQUAL(gone, 3);
	struct dc_queue_stats qs;
	CU_ASSERT_EQUAL(dc_queue_stats(q, 0, &qs, NULL), DC_OK);
	CU_ASSERT_EQUAL(qs.queued, 1); /* the relayed item stays */
	dc_queue_close(q);
	/* reopened: the registrations are still there */
	CU_ASSERT_EQUAL_FATAL(dc_queue_open_sqlite(path, NULL, &q, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_queue_med_granted(q, "did:ex:a", &g, NULL), DC_OK);
	CU_ASSERT(g);
	CU_ASSERT_EQUAL(dc_queue_med_recipient(q, "did:ex:a", "did:ex:ra", "did:ex:ra", false, 1, &ch, NULL), DC_OK);
	CU_ASSERT_EQUAL(ch, DC_QUEUE_MED_DONE);
	dc_queue_close(q);
	char cmd[96];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CU_ASSERT_EQUAL(system(cmd), 0);
}

void init_med_tests(void)
{
	CU_pSuite s = CU_add_suite("med", NULL, NULL);
	TU_ADD(s, parse_requests);
	TU_ADD(s, parse_hostile);
	TU_ADD(s, answers);
	TU_ADD(s, pickup_answers);
	TU_ADD(s, oob);
	TU_ADD(s, routes_via);
	TU_ADD(s, mailboxes);
}
