/* The plaintext scanner (dc__plain_scan) against the tree path (dc__json_parse, then
 * dc__msg_validate): it may decline anything, but what it accepts the tree path must accept,
 * with the same headers; and the usual shapes must be accepted, or unpack is slow for nothing. */
#include "testutil.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool span_is_str(const struct dc_span *v, const char *s)
{
	return s && v->p && v->n == strlen(s) && memcmp(v->p, s, v->n) == 0;
}

/* the scan of text (n bytes) with max_depth; if it accepts, the tree agrees on all it read */
static bool scan_agrees(const char *text, size_t n, size_t max_depth)
{
	struct dc_plain m;
	struct dc_limits l;
	dc_limits_default(&l);
	bool scanned = dc__plain_scan(text, n, max_depth, &m);
	if (!scanned)
		return false;
	cJSON *j = NULL;
	dc_err rc = dc__json_parse(text, n, max_depth, &j, NULL);
	CU_ASSERT_EQUAL_FATAL(rc, DC_OK);
	CU_ASSERT_EQUAL(dc__msg_validate(j, &l, NULL), DC_OK);
	CU_ASSERT_PTR_NULL(dc__json_get(j, "attachments"));
	CU_ASSERT_PTR_NULL(dc__json_get(j, "from_prior"));
	CU_ASSERT(span_is_str(&m.id, dc__json_str(j, "id")));
	CU_ASSERT(span_is_str(&m.type, dc__json_str(j, "type")));
	CU_ASSERT_EQUAL(m.has_typ, dc__json_get(j, "typ") != NULL);
	if (m.has_typ)
		CU_ASSERT(span_is_str(&m.typ, dc__json_str(j, "typ")));
	CU_ASSERT_EQUAL(m.has_from, dc__json_get(j, "from") != NULL);
	if (m.has_from)
		CU_ASSERT(span_is_str(&m.from, dc__json_str(j, "from")));
	const cJSON *to = dc__json_get(j, "to");
	CU_ASSERT_EQUAL(m.has_to, to != NULL);
	if (to) {
		CU_ASSERT_EQUAL((int)m.n_to, cJSON_GetArraySize(to));
		for (size_t i = 0; i < m.n_to; i++)
			CU_ASSERT(span_is_str(&m.to[i], cJSON_GetArrayItem(to, (int)i)->valuestring));
	}
	static const char *const tn[2] = { "created_time", "expires_time" };
	const bool has[2] = { m.has_created_time, m.has_expires_time };
	const int64_t tv[2] = { m.created_time, m.expires_time };
	for (int i = 0; i < 2; i++) {
		const cJSON *t = dc__json_get(j, tn[i]);
		CU_ASSERT_EQUAL(has[i], t != NULL);
		if (t)
			CU_ASSERT_EQUAL(tv[i], (int64_t)t->valuedouble);
	}
	cJSON_Delete(j);
	return true;
}

static bool agrees(const char *text)
{
	return scan_agrees(text, strlen(text), 64);
}

#define HDR "\"id\":\"1\",\"type\":\"t\""
#define FROM "\"from\":\"did:example:alice\""

static void plain_accepts_usual_shapes(void)
{
	static const char *const ok[] = {
		"{" HDR "}",
		"{\"id\":\"3fa85f64\",\"typ\":\"application/didcomm-plain+json\",\"type\":\"https://example.org/x/1.0/y\","
		"\"from\":\"did:example:alice\",\"to\":[\"did:example:bob\"],\"created_time\":1700000000,"
		"\"body\":{\"text\":\"hello\"}}",
		"  {  " HDR " , \"typ\" : \"didcomm-plain+json\" , \"to\" : [ ] }\n\t",
		"{" HDR ",\"body\":{\"a\":[1,-2.5e+3,0,true,false,null,{\"b\":{}},[]],\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\"}}",
		"{" HDR ",\"to\":[\"did:example:bob#key-1\",\"did:peer:2.Ez6Lsabc\"]," FROM ",\"thid\":\"t1\",\"pthid\":\"p\","
		"\"lang\":\"en\",\"expires_time\":9007199254740992,\"please_ack\":[\"a\"],\"ack\":[],\"extra\":{\"k\":1}}",
		"{" HDR ",\"created_time\":0,\"body\":{}}",
		"{" HDR ",\"thid\":\"esc\\u0041ped\"}",
		"{" HDR ",\"body\":{\"id\":1,\"type\":2}}", /* the same names one level down */
		"{" HDR "}\0",                               /* one closing NUL is allowed */
	};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		size_t n = strlen(ok[i]) + (i == sizeof ok / sizeof ok[0] - 1);
		if (!scan_agrees(ok[i], n, 64))
			CU_FAIL_FATAL(ok[i]);
	}
	struct dc_plain m;
	const char *t = "{" HDR ",\"created_time\":1700000001,\"expires_time\":17}";
	CU_ASSERT_FATAL(dc__plain_scan(t, strlen(t), 64, &m));
	CU_ASSERT(m.has_created_time && m.created_time == 1700000001 && m.has_expires_time && m.expires_time == 17);
	CU_ASSERT(!m.has_from && !m.has_to && !m.has_typ);
}

static void plain_declines_or_refuses(void)
{
	/* each: not accepted by the scan (the tree path decides, mostly refusing) */
	static const char *const no[] = {
		"",
		"{}",
		"[]",
		"{\"type\":\"t\"}",                                  /* no id */
		"{\"id\":\"1\"}",                                    /* no type */
		"{\"id\":\"\",\"type\":\"t\"}",                      /* empty id */
		"{\"id\":\"1\",\"type\":\"\"}",                      /* empty type */
		"{" HDR ",\"id\":\"2\"}",                            /* duplicate at the top */
		"{" HDR ",\"body\":{\"a\":1,\"a\":2}}",              /* duplicate below */
		"{" HDR ",\"body\":{\"a\":1,\"\\u0061\":2}}",        /* an escaped name: declined */
		"{" HDR ",\"typ\":\"application/json\"}",
		"{" HDR ",\"to\":\"did:example:bob\"}",
		"{" HDR ",\"to\":[\"bob\"]}",
		"{" HDR ",\"to\":[\"did:x\"]}",
		"{" HDR ",\"from\":\"alice\"}",
		"{" HDR ",\"from\":1}",
		"{" HDR ",\"thid\":1}",
		"{" HDR ",\"created_time\":-1}",
		"{" HDR ",\"created_time\":1.5}",
		"{" HDR ",\"created_time\":1e3}",       /* valid, but declined: the tree decides */
		"{" HDR ",\"created_time\":01}",
		"{" HDR ",\"created_time\":9007199254740993}",
		"{" HDR ",\"created_time\":\"1\"}",
		"{" HDR ",\"body\":[]}",
		"{" HDR ",\"body\":\"x\"}",
		"{" HDR ",\"please_ack\":[1]}",
		"{" HDR ",\"ack\":\"x\"}",
		"{" HDR ",\"attachments\":[]}",
		"{" HDR ",\"from_prior\":\"a.b.c\"}",
		"{" HDR "} x",
		"{" HDR "}}",
		"{" HDR ",}",
		"{" HDR ",\"a\":[1,]}",
		"{" HDR ",\"a\":[1 2]}",
		"{" HDR ",\"a\":tru}",
		"{" HDR ",\"a\":truex}",
		"{" HDR ",\"a\":-}",
		"{" HDR ",\"a\":1.}",
		"{" HDR ",\"a\":.5}",
		"{" HDR ",\"a\":1e}",
		"{" HDR ",\"a\":\"\\x\"}",
		"{" HDR ",\"a\":\"\\u12\"}",
		"{" HDR ",\"a\":\"\\ud800\"}",   /* a lone surrogate: declined */
		"{" HDR ",\"a\":\"\\u0000\"}",   /* declined */
		"{" HDR ",\"a\":\"tab\there\"}", /* a control character: declined */
		"{" HDR ",\"a\":\"unterminated}",
		"{" HDR ",\"a\":1234567890123456789012345678901234567890}", /* long number: declined */
		"{\"id\":\"1\\n\",\"type\":\"t\"}",                                 /* escaped id: declined */
		"{" HDR ",\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{\"i\":{\"j\":{\"k\":{\"l\":{\"m\":{\"n\":{\"o\":{\"p\":"
		"{}}}}}}}}}}}}}}}}}}", /* 17 deep */
	};
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		if (agrees(no[i]))
			CU_FAIL(no[i]);
	/* depth: 5 levels is fine at 64, declined at 4 */
	const char *d5 = "{" HDR ",\"body\":{\"a\":[[{\"b\":1}]]}}";
	CU_ASSERT(scan_agrees(d5, strlen(d5), 64));
	CU_ASSERT(!scan_agrees(d5, strlen(d5), 4));
	/* an embedded NUL */
	const char nul[] = "{" HDR ",\"a\":\"x\0y\"}";
	CU_ASSERT(!scan_agrees(nul, sizeof nul - 1, 64));
	/* only n bytes are read */
	const char buf[] = "{" HDR "}garbage";
	CU_ASSERT(scan_agrees(buf, strlen("{" HDR "}"), 64));
	/* 33 members: declined */
	char big[2048];
	size_t o = (size_t)snprintf(big, sizeof big, "{" HDR);
	for (int i = 0; i < 31; i++)
		o += (size_t)snprintf(big + o, sizeof big - o, ",\"k%d\":%d", i, i);
	big[o++] = '}';
	CU_ASSERT(!scan_agrees(big, o, 64));
}

/* Random edits of valid messages: whatever the scan accepts, the tree path accepts alike. */
static void plain_mutations(void)
{
	static const char *const seeds[] = {
		"{\"id\":\"3fa8\",\"typ\":\"application/didcomm-plain+json\",\"type\":\"https://example.org/y\","
		"\"from\":\"did:example:alice\",\"to\":[\"did:example:bob\",\"did:example:carol\"],\"created_time\":17,"
		"\"expires_time\":1234,\"thid\":\"a\\tb\",\"body\":{\"t\":\"h\\u00e9llo\",\"n\":[1,2.5,-3e2,{\"x\":null}]}}",
		"{ \"id\" : \"1\" , \"type\" : \"t\" , \"ack\" : [ \"a\" ] , \"please_ack\" : [ ] , \"lang\" : \"en\" }",
	};
	static const char alphabet[] = "{}[]\",:\\ 0123456789.-+eEtrufalsn\"idtypbomc\x01\x7f\xc3\xa9u";
	uint32_t accepted = 0;
	char buf[512];
	for (size_t sd = 0; sd < sizeof seeds / sizeof seeds[0]; sd++) {
		for (int round = 0; round < 20000; round++) {
			size_t n = strlen(seeds[sd]);
			memcpy(buf, seeds[sd], n);
			int edits = 1 + (int)randombytes_uniform(3);
			for (int e = 0; e < edits; e++) {
				uint32_t at = randombytes_uniform((uint32_t)n + 1), kind = randombytes_uniform(3);
				char ch = alphabet[randombytes_uniform(sizeof alphabet - 1)];
				if (kind == 0 && at < n) {
					buf[at] = ch; /* replace */
				} else if (kind == 1 && n + 1 < sizeof buf) {
					memmove(buf + at + 1, buf + at, n - at); /* insert */
					buf[at] = ch;
					n++;
				} else if (at < n) {
					memmove(buf + at, buf + at + 1, n - at - 1); /* delete */
					n--;
				}
			}
			/* an exact-size copy, so a read past the end is ASan's to see */
			char *t = malloc(n ? n : 1);
			CU_ASSERT_PTR_NOT_NULL_FATAL(t);
			memcpy(t, buf, n);
			accepted += scan_agrees(t, n, 64);
			free(t);
		}
	}
	CU_ASSERT(accepted > 100); /* the edits leave some valid messages (spaces, digits) */
}

void init_plain_tests(void)
{
	CU_pSuite s = CU_add_suite("plain", NULL, NULL);
	TU_ADD(s, plain_accepts_usual_shapes);
	TU_ADD(s, plain_declines_or_refuses);
	TU_ADD(s, plain_mutations);
}
