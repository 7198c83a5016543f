/* Plaintext message validation (DIDComm v2.1 §Message Headers) and forward construction. */
#include "internal.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ID_LEN 1024

static bool is_int(const cJSON *v)
{
	return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 9007199254740992.0 &&
	       floor(v->valuedouble) == v->valuedouble;
}

static bool is_str_array(const cJSON *v, bool allow_empty)
{
	if (!cJSON_IsArray(v))
		return false;
	const cJSON *e;
	size_t n = 0;
	cJSON_ArrayForEach(e, v)
	{
		if (!cJSON_IsString(e))
			return false;
		n++;
	}
	return allow_empty || n > 0;
}

static dc_err check_attachment(const cJSON *a, size_t i, struct dc_errinfo *ei)
{
	if (!cJSON_IsObject(a))
		return dc__fail(ei, DC_ERR_MALFORMED, "attachments[%zu]: not an object", i);
	const cJSON *id = dc__json_get(a, "id");
	if (id && !cJSON_IsString(id))
		return dc__fail(ei, DC_ERR_MALFORMED, "attachments[%zu].id: not a string", i);
	static const char *str_fields[] = { "description", "filename", "media_type", "format" };
	for (size_t k = 0; k < sizeof str_fields / sizeof str_fields[0]; k++) {
		const cJSON *f = dc__json_get(a, str_fields[k]);
		if (f && !cJSON_IsString(f))
			return dc__fail(ei, DC_ERR_MALFORMED, "attachments[%zu].%s: not a string", i, str_fields[k]);
	}
	static const char *int_fields[] = { "lastmod_time", "byte_count" };
	for (size_t k = 0; k < 2; k++) {
		const cJSON *f = dc__json_get(a, int_fields[k]);
		if (f && !is_int(f))
			return dc__fail(ei, DC_ERR_MALFORMED, "attachments[%zu].%s: not a non-negative integer", i,
			                int_fields[k]);
	}
	const cJSON *data = dc__json_get(a, "data");
	if (!cJSON_IsObject(data))
		return dc__fail(ei, DC_ERR_MALFORMED, "attachments[%zu].data: missing or not an object", i);
	const cJSON *jws = dc__json_get(data, "jws");
	const cJSON *hash = dc__json_get(data, "hash");
	const cJSON *links = dc__json_get(data, "links");
	const cJSON *b64 = dc__json_get(data, "base64");
	const cJSON *json = dc__json_get(data, "json");
	if (!jws && !hash && !links && !b64 && !json)
		return dc__fail(ei, DC_ERR_MALFORMED,
		                "attachments[%zu].data: needs one of jws, hash, links, base64, json", i);
	if (jws && !cJSON_IsObject(jws) && !cJSON_IsString(jws))
		return dc__fail(ei, DC_ERR_MALFORMED, "attachments[%zu].data.jws: not a JWS", i);
	if (hash && !cJSON_IsString(hash))
		return dc__fail(ei, DC_ERR_MALFORMED, "attachments[%zu].data.hash: not a string", i);
	if (links) {
		if (!is_str_array(links, false))
			return dc__fail(ei, DC_ERR_MALFORMED, "attachments[%zu].data.links: not an array of URLs", i);
		if (!hash)
			return dc__fail(ei, DC_ERR_MALFORMED, "attachments[%zu].data: links need a hash", i);
	}
	if (b64 && (!cJSON_IsString(b64) || dc__b64any_check(b64->valuestring, strlen(b64->valuestring))))
		return dc__fail(ei, DC_ERR_MALFORMED, "attachments[%zu].data.base64: not base64", i);
	if (json && cJSON_IsNull(json) && !jws && !hash && !links && !b64)
		return dc__fail(ei, DC_ERR_MALFORMED, "attachments[%zu].data.json: null", i);
	return DC_OK;
}

static bool is_did_like(const char *s)
{
	return strncmp(s, "did:", 4) == 0 && strlen(s) > 6;
}

dc_err dc__msg_validate(const cJSON *msg, const struct dc_limits *lim, struct dc_errinfo *ei)
{
	if (!cJSON_IsObject(msg))
		return dc__fail(ei, DC_ERR_MALFORMED, "message: not a JSON object");
	const cJSON *v = dc__json_get(msg, "id");
	if (!cJSON_IsString(v) || !v->valuestring[0])
		return dc__fail(ei, DC_ERR_MALFORMED, "message: id is missing or not a non-empty string");
	if (strlen(v->valuestring) > MAX_ID_LEN)
		return dc__fail(ei, DC_ERR_MALFORMED, "message: id longer than %d bytes", MAX_ID_LEN);
	v = dc__json_get(msg, "type");
	if (!cJSON_IsString(v) || !v->valuestring[0])
		return dc__fail(ei, DC_ERR_MALFORMED, "message: type is missing or not a string");
	v = dc__json_get(msg, "typ");
	if (v && (!cJSON_IsString(v) || (strcmp(v->valuestring, "application/didcomm-plain+json") != 0 &&
	                                 strcmp(v->valuestring, "didcomm-plain+json") != 0)))
		return dc__fail(ei, DC_ERR_MALFORMED, "message: typ is not application/didcomm-plain+json");
	v = dc__json_get(msg, "to");
	if (v) {
		if (!is_str_array(v, true))
			return dc__fail(ei, DC_ERR_MALFORMED, "message: to is not an array of DIDs");
		const cJSON *e;
		cJSON_ArrayForEach(e, v) if (!is_did_like(e->valuestring)) return dc__fail(
			ei, DC_ERR_MALFORMED, "message: to contains '%.100s', not a DID", e->valuestring);
	}
	v = dc__json_get(msg, "from");
	if (v && (!cJSON_IsString(v) || !is_did_like(v->valuestring)))
		return dc__fail(ei, DC_ERR_MALFORMED, "message: from is not a DID");
	static const char *strs[] = { "thid", "pthid", "lang", "from_prior" };
	for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
		v = dc__json_get(msg, strs[i]);
		if (v && !cJSON_IsString(v))
			return dc__fail(ei, DC_ERR_MALFORMED, "message: %s is not a string", strs[i]);
	}
	static const char *ints[] = { "created_time", "expires_time" };
	for (size_t i = 0; i < 2; i++) {
		v = dc__json_get(msg, ints[i]);
		if (v && !is_int(v))
			return dc__fail(ei, DC_ERR_MALFORMED, "message: %s is not a non-negative integer", ints[i]);
	}
	v = dc__json_get(msg, "body");
	if (v && !cJSON_IsObject(v))
		return dc__fail(ei, DC_ERR_MALFORMED, "message: body is not an object");
	static const char *arrs[] = { "please_ack", "ack" };
	for (size_t i = 0; i < 2; i++) {
		v = dc__json_get(msg, arrs[i]);
		if (v && !is_str_array(v, true))
			return dc__fail(ei, DC_ERR_MALFORMED, "message: %s is not an array of strings", arrs[i]);
	}
	v = dc__json_get(msg, "from_prior");
	if (v) {
		const char *s = v->valuestring;
		const char *d1 = strchr(s, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
		if (!d1 || !d2 || strchr(d2 + 1, '.') || d1 == s || d2 == d1 + 1 || !d2[1])
			return dc__fail(ei, DC_ERR_MALFORMED, "message: from_prior is not a compact JWT");
	}
	v = dc__json_get(msg, "attachments");
	if (v) {
		if (!cJSON_IsArray(v))
			return dc__fail(ei, DC_ERR_MALFORMED, "message: attachments is not an array");
		size_t n = 0;
		const cJSON *a;
		cJSON_ArrayForEach(a, v)
		{
			if (lim && n >= lim->max_attachments)
				return dc__fail(ei, DC_ERR_TOO_BIG, "message: more than %zu attachments", lim->max_attachments);
			dc_err rc = check_attachment(a, n, ei);
			if (rc)
				return rc;
			n++;
		}
		if (n == 0)
			return dc__fail(ei, DC_ERR_MALFORMED, "message: attachments is empty");
	}
	return DC_OK;
}

void dc__uuid4(char out[37])
{
	uint8_t b[16];
	randombytes_buf(b, sizeof b);
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
	         b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

dc_err dc__forward_build(const char *next, const char *env, size_t env_len, int64_t expires_time, char **out,
                         size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	size_t i = 0;
	while (i < env_len && (env[i] == ' ' || env[i] == '\n' || env[i] == '\r' || env[i] == '\t'))
		i++;
	if (i == env_len || env[i] != '{')
		return DC_ERR_INVAL; /* the attachment must be a JSON object (a JWE) */
	char id[37];
	dc__uuid4(id);
	char exp[48] = "";
	if (expires_time > 0)
		snprintf(exp, sizeof exp, ",\"expires_time\":%lld", (long long)expires_time);
	static const char p1[] = "{\"type\":\"" DC_TYPE_FORWARD "\",\"id\":\"";
	static const char p2[] = "\",\"body\":{\"next\":\"";
	static const char p3[] = "\"},\"attachments\":[{\"data\":{\"json\":";
	static const char p4[] = "}}]}";
	size_t next_len = dc__json_escape(next, NULL);
	size_t total = sizeof p1 - 1 + 36 + strlen(exp) + sizeof p2 - 1 + next_len + sizeof p3 - 1 + env_len +
	               sizeof p4 - 1;
	if (env_len > SIZE_MAX - 4096 - next_len)
		return DC_ERR_TOO_BIG;
	char *b = malloc(total + 1);
	if (!b)
		return DC_ERR_NOMEM;
	size_t o = 0;
	memcpy(b + o, p1, sizeof p1 - 1);
	o += sizeof p1 - 1;
	memcpy(b + o, id, 36);
	o += 36;
	memcpy(b + o, p2, sizeof p2 - 1);
	o += sizeof p2 - 1;
	o += dc__json_escape(next, b + o);
	b[o++] = '"';
	b[o++] = '}';
	memcpy(b + o, exp, strlen(exp));
	o += strlen(exp);
	memcpy(b + o, p3 + 2, sizeof p3 - 3);
	o += sizeof p3 - 3;
	memcpy(b + o, env, env_len);
	o += env_len;
	memcpy(b + o, p4, sizeof p4 - 1);
	o += sizeof p4 - 1;
	b[o] = 0;
	*out = b;
	*out_len = o;
	return DC_OK;
}
