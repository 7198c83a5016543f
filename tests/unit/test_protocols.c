/* trust-ping, discover-features and problem reports */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static const struct dc_proto_info PI = { .our_did = "did:test:gw", .max_receive_bytes = 10485760 };

static cJSON *handle(const char *in, bool want_handled)
{
	char *reply = NULL;
	bool handled = false;
	CU_ASSERT_EQUAL(dc_protocol_handle(&PI, in, strlen(in), &reply, &handled, NULL), DC_OK);
	CU_ASSERT_EQUAL(handled, want_handled);
	cJSON *j = reply ? cJSON_Parse(reply) : NULL;
	free(reply);
	return j;
}

static void trust_ping(void)
{
	cJSON *r = handle("{\"id\":\"p1\",\"type\":\"https://didcomm.org/trust-ping/2.0/ping\",\"from\":\"did:test:a\","
	                  "\"body\":{\"response_requested\":true}}",
	                  true);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_STRING_EQUAL(dc__json_str(r, "type"), "https://didcomm.org/trust-ping/2.0/ping-response");
	CU_ASSERT_STRING_EQUAL(dc__json_str(r, "thid"), "p1");
	CU_ASSERT_STRING_EQUAL(dc__json_str(r, "from"), "did:test:gw");
	CU_ASSERT_STRING_EQUAL(cJSON_GetArrayItem(dc__json_arr(r, "to"), 0)->valuestring, "did:test:a");
	cJSON_Delete(r);
	/* response_requested defaults to true */
	r = handle("{\"id\":\"p2\",\"type\":\"https://didcomm.org/trust-ping/2.0/ping\",\"body\":{}}", true);
	CU_ASSERT_PTR_NOT_NULL(r);
	cJSON_Delete(r);
	r = handle("{\"id\":\"p3\",\"type\":\"https://didcomm.org/trust-ping/2.0/ping\",\"body\":{\"response_requested\":false}}",
	           true);
	CU_ASSERT_PTR_NULL(r);
	/* not ours */
	r = handle("{\"id\":\"b\",\"type\":\"https://didcomm.org/basicmessage/2.0/message\",\"body\":{}}", false);
	CU_ASSERT_PTR_NULL(r);
}

static void discover_features(void)
{
	cJSON *r = handle("{\"id\":\"q1\",\"type\":\"https://didcomm.org/discover-features/2.0/queries\",\"from\":\"did:test:a\","
	                  "\"body\":{\"queries\":[{\"feature-type\":\"protocol\",\"match\":\"https://didcomm.org/trust-ping/*\"},"
	                  "{\"feature-type\":\"constraint\",\"match\":\"max_receive_bytes\"},"
	                  "{\"feature-type\":\"mystery\",\"match\":\"*\"}]}}",
	                  true);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_STRING_EQUAL(dc__json_str(r, "type"), "https://didcomm.org/discover-features/2.0/disclose");
	CU_ASSERT_STRING_EQUAL(dc__json_str(r, "thid"), "q1");
	const cJSON *d = dc__json_arr(dc__json_obj(r, "body"), "disclosures");
	CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(d), 2);
	CU_ASSERT_STRING_EQUAL(dc__json_str(cJSON_GetArrayItem(d, 0), "id"), "https://didcomm.org/trust-ping/2.0");
	CU_ASSERT_STRING_EQUAL(dc__json_str(cJSON_GetArrayItem(d, 1), "id"), "max_receive_bytes");
	CU_ASSERT_EQUAL(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(d, 1), "value")->valuedouble, 10485760.0);
	cJSON_Delete(r);
	r = handle("{\"id\":\"q2\",\"type\":\"https://didcomm.org/discover-features/2.0/queries\",\"body\":{\"queries\":"
	           "[{\"feature-type\":\"protocol\",\"match\":\"*\"}]}}",
	           true);
	CU_ASSERT_EQUAL(cJSON_GetArraySize(dc__json_arr(dc__json_obj(r, "body"), "disclosures")), 4);
	cJSON_Delete(r);
	char *reply = NULL;
	bool handled = false;
	const char *bad = "{\"id\":\"q3\",\"type\":\"https://didcomm.org/discover-features/2.0/queries\",\"body\":{}}";
	CU_ASSERT_EQUAL(dc_protocol_handle(&PI, bad, strlen(bad), &reply, &handled, NULL), DC_ERR_MALFORMED);
	CU_ASSERT_PTR_NULL(reply);
}

static void problem_report(void)
{
	char *out = NULL;
	const char *args[] = { "https://x/inbox", NULL };
	CU_ASSERT_EQUAL_FATAL(dc_problem_report("did:test:gw", "did:test:a", "t1", "m1", "e.p.xfer.cant-use-endpoint",
	                                        "Unable to use the {1} endpoint for {2}.", args, 2, &out),
	                      DC_OK);
	cJSON *r = cJSON_Parse(out);
	CU_ASSERT_STRING_EQUAL(dc__json_str(r, "type"), "https://didcomm.org/report-problem/2.0/problem-report");
	CU_ASSERT_STRING_EQUAL(dc__json_str(r, "pthid"), "t1");
	CU_ASSERT_STRING_EQUAL(cJSON_GetArrayItem(dc__json_arr(r, "ack"), 0)->valuestring, "m1");
	const cJSON *b = dc__json_obj(r, "body");
	CU_ASSERT_STRING_EQUAL(dc__json_str(b, "code"), "e.p.xfer.cant-use-endpoint");
	CU_ASSERT(cJSON_IsNull(cJSON_GetArrayItem(dc__json_arr(b, "args"), 1)));
	struct dc_limits l;
	dc_limits_default(&l);
	CU_ASSERT_EQUAL(dc__msg_validate(r, &l, NULL), DC_OK); /* a valid DIDComm message itself */
	cJSON_Delete(r);
	free(out);
}

void init_protocols_tests(void)
{
	CU_pSuite s = CU_add_suite("protocols", NULL, NULL);
	TU_ADD(s, trust_ping);
	TU_ADD(s, discover_features);
	TU_ADD(s, problem_report);
}
