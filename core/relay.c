/* The gateway as a mediator (routing/2.0): classify what arrives, open forwards addressed to
 * our keys (the attachment stays sealed: it is for someone else), and wrap an envelope for its
 * next hop's own routing keys. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#define MT_ENC "application/didcomm-encrypted+json"
#define MT_SIGNED "application/didcomm-signed+json"
#define MT_PLAIN "application/didcomm-plain+json"

void dc_relay_clear(struct dc_relay *r)
{
	if (!r)
		return;
	free(r->media_type);
	for (size_t i = 0; i < r->n_rcpt_kids; i++)
		free(r->rcpt_kids[i]);
	free(r->rcpt_kids);
	free(r->msg_id);
	free(r->next);
	free(r->payload);
	free(r->message);
	free(r->thid);
	free(r->return_route);
	dc_unpack_meta_free(r->meta);
	memset(r, 0, sizeof *r);
}

/* ---- the raw bytes of a value in JSON text already validated by the parser ---- */
static size_t ws(const char *t, size_t n, size_t i)
{
	while (i < n && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r'))
		i++;
	return i;
}

/* the end of the string starting at i (t[i] is its quote): memchr to each quote, kept if
 * an even run of backslashes stands before it */
static size_t str_end(const char *t, size_t n, size_t i)
{
	size_t first = i + 1;
	for (i = first; i < n;) {
		const char *q = memchr(t + i, '"', n - i);
		if (!q)
			return n;
		size_t k = (size_t)(q - t), bs = 0;
		while (k - bs > first && t[k - bs - 1] == '\\')
			bs++;
		if (bs % 2 == 0)
			return k + 1;
		i = k + 1;
	}
	return n;
}

/* the end of the value starting at i (a string, a number, a literal, an object, an array),
 * or n when it does not end in range */
static size_t value_end(const char *t, size_t n, size_t i)
{
	if (i >= n)
		return n;
	if (t[i] == '"')
		return str_end(t, n, i);
	if (t[i] == '{' || t[i] == '[') {
		size_t depth = 0;
		while (i < n) {
			char c = t[i];
			if (c == '"') {
				i = str_end(t, n, i);
				continue;
			}
			if (c == '{' || c == '[') {
				depth++;
			} else if (c == '}' || c == ']') {
				if (--depth == 0)
					return i + 1;
			}
			i++;
		}
		return n;
	}
	while (i < n && t[i] != ',' && t[i] != '}' && t[i] != ']' && t[i] != ' ' && t[i] != '\t' && t[i] != '\n' &&
	       t[i] != '\r')
		i++;
	return i;
}

/* in the object starting at i: the start of member key's value (keys compared as written:
 * the parser refused duplicates, and an escaped key simply does not match), or n */
static size_t member(const char *t, size_t n, size_t i, const char *key)
{
	size_t kl = strlen(key);
	i = ws(t, n, i);
	if (i >= n || t[i] != '{')
		return n;
	i = ws(t, n, i + 1);
	while (i < n && t[i] == '"') {
		size_t ke = value_end(t, n, i);
		if (ke >= n)
			return n;
		bool hit = ke - i - 2 == kl && memcmp(t + i + 1, key, kl) == 0;
		i = ws(t, n, ke);
		if (i >= n || t[i] != ':')
			return n;
		i = ws(t, n, i + 1);
		if (hit)
			return i;
		i = ws(t, n, value_end(t, n, i));
		if (i >= n || t[i] != ',')
			return n;
		i = ws(t, n, i + 1);
	}
	return n;
}

/* the bytes of attachments[0].data.json as the sender wrote them, when the message text
 * has them: the envelope goes on unchanged (and is not printed again from a parsed tree) */
static bool raw_attachment(const char *t, size_t n, size_t *start, size_t *end)
{
	size_t i = member(t, n, 0, "attachments");
	if (i >= n || t[i] != '[')
		return false;
	i = ws(t, n, i + 1);
	i = member(t, n, i, "data");
	if (i >= n)
		return false;
	i = member(t, n, i, "json");
	if (i >= n || t[i] != '{')
		return false;
	size_t e = value_end(t, n, i);
	if (e > n || e <= i)
		return false;
	*start = i;
	*end = e;
	return true;
}

/* the attachment of a forward: data.json (an object) or data.base64 (of JSON text) */
static dc_err forward_payload(const cJSON *msg, const char *text, char **out, size_t *len, struct dc_errinfo *ei)
{
	const cJSON *atts = dc__json_arr(msg, "attachments");
	if (cJSON_GetArraySize(atts) != 1)
		return dc__fail(ei, DC_ERR_MALFORMED, "forward: want exactly one attachment");
	const cJSON *data = dc__json_obj(cJSON_GetArrayItem(atts, 0), "data");
	const cJSON *json = dc__json_obj(data, "json");
	const char *b64 = dc__json_str(data, "base64");
	size_t rs = 0, re = 0;
	if (json && text && raw_attachment(text, strlen(text), &rs, &re)) {
		if (!(*out = malloc(re - rs + 1)))
			return DC_ERR_NOMEM;
		memcpy(*out, text + rs, re - rs);
		(*out)[re - rs] = 0;
		*len = re - rs;
		return DC_OK;
	}
	if (json) {
		if (dc__json_print(json, out, len))
			return DC_ERR_NOMEM;
		return DC_OK;
	}
	if (b64) {
		/* base64url, with or without padding (attachments in the wild carry both) */
		size_t n = strlen(b64);
		while (n && b64[n - 1] == '=')
			n--;
		uint8_t *raw = NULL;
		size_t rl = 0;
		if (dc__b64url_decode(b64, n, &raw, &rl))
			return dc__fail(ei, DC_ERR_MALFORMED, "forward: attachment base64 is not base64url");
		*out = (char *)raw;
		*len = rl;
		return DC_OK;
	}
	return dc__fail(ei, DC_ERR_MALFORMED, "forward: the attachment carries no json or base64 envelope");
}

dc_err dc_relay_inspect(struct dc_ctx *c, const char *in, size_t len, struct dc_relay *out, struct dc_errinfo *ei)
{
	memset(out, 0, sizeof *out);
	cJSON *j = NULL, *msg = NULL;
	dc_err rc;
	if (!c || !in)
		return DC_ERR_INVAL;
	if (len > c->lim.max_message_bytes)
		return dc__fail(ei, DC_ERR_TOO_BIG, "message of %zu bytes is over the limit of %zu", len,
		                c->lim.max_message_bytes);
	/* an envelope of the usual shape is read in place, without a JSON tree (as dc_unpack does) */
	struct dc_jwe_text t;
	struct dc_jwe *jwe = NULL;
	bool scanned = (c->lim.max_json_depth == 0 || c->lim.max_json_depth >= 4) &&
	               dc__jwe_scan_text(in, len, c->lim.max_recipients, &t);
	if (!scanned && (rc = dc__json_parse(in, len, c->lim.max_json_depth, &j, ei)))
		return rc;
	if (!scanned && !cJSON_IsObject(j)) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "message: not a JSON object");
		goto out;
	}
	bool enc = scanned || dc__json_get(j, "ciphertext") != NULL;
	bool sig = !enc && dc__json_get(j, "payload") != NULL;
	if (!(out->media_type = strdup(enc ? MT_ENC : sig ? MT_SIGNED : MT_PLAIN))) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	if (scanned) {
		/* the recipient kids, read without decrypting */
		if (!(out->rcpt_kids = calloc(t.n, sizeof *out->rcpt_kids))) {
			rc = DC_ERR_NOMEM;
			goto out;
		}
		bool ours = false;
		for (size_t i = 0; i < t.n; i++) {
			if (!(out->rcpt_kids[out->n_rcpt_kids++] = strndup(t.kid[i].p, t.kid[i].n))) {
				rc = DC_ERR_NOMEM;
				goto out;
			}
			ours |= dc_keystore_get(c->ks, out->rcpt_kids[i]) != NULL;
		}
		if (!ours) {
			out->kind = DC_RELAY_NOT_FOR_US;
			rc = DC_OK;
			goto out;
		}
		if ((rc = dc__jwe_from_text(&t, &jwe, ei)))
			goto out;
	} else if (enc) {
		/* the recipient kids, read without decrypting */
		const cJSON *rcpts = dc__json_arr(j, "recipients"), *r;
		size_t n = (size_t)cJSON_GetArraySize(rcpts);
		if (n == 0 || n > c->lim.max_recipients) {
			rc = dc__fail(ei, n ? DC_ERR_TOO_BIG : DC_ERR_MALFORMED, "encrypted message: %zu recipients", n);
			goto out;
		}
		if (!(out->rcpt_kids = calloc(n, sizeof *out->rcpt_kids))) {
			rc = DC_ERR_NOMEM;
			goto out;
		}
		bool ours = false;
		cJSON_ArrayForEach(r, rcpts)
		{
			const char *kid = dc__json_str(dc__json_obj(r, "header"), "kid");
			if (!kid) {
				rc = dc__fail(ei, DC_ERR_MALFORMED, "encrypted message: a recipient has no kid");
				goto out;
			}
			if (!(out->rcpt_kids[out->n_rcpt_kids++] = strdup(kid))) {
				rc = DC_ERR_NOMEM;
				goto out;
			}
			ours |= dc_keystore_get(c->ks, kid) != NULL;
		}
		if (!ours) {
			out->kind = DC_RELAY_NOT_FOR_US;
			rc = DC_OK;
			goto out;
		}
	}
	struct dc_unpack_opts o = { .unwrap_forwards = false };
	cJSON *parsed = j; /* parsed once: unpack takes it (or the JWE) */
	j = NULL;
	if ((rc = dc__unpack_j(c, parsed, jwe, in, len, &o, &out->message, &msg, &out->meta, ei)))
		goto out;
	if (!msg && (rc = dc__json_parse(out->message, strlen(out->message), c->lim.max_json_depth, &msg, ei)))
		goto out;
	const char *id = dc__json_str(msg, "id"), *type = dc__json_str(msg, "type");
	if (id && !(out->msg_id = strdup(id))) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	if (!type || strcmp(type, DC_TYPE_FORWARD) != 0) {
		const char *thid = dc__json_str(msg, "thid"), *rr = dc__json_str(msg, "return_route");
		if ((thid && !(out->thid = strdup(thid))) || (rr && !(out->return_route = strdup(rr)))) {
			rc = DC_ERR_NOMEM;
			goto out;
		}
		out->kind = DC_RELAY_FOR_US;
		rc = DC_OK;
		goto out;
	}
	/* a forward: we relay only what was encrypted to us (anyone could send a plaintext one) */
	const char *fthid = dc__json_str(msg, "thid");
	if (fthid && !(out->thid = strdup(fthid))) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	const char *next = dc__json_str(dc__json_obj(msg, "body"), "next");
	if (!out->meta->encrypted) {
		rc = dc__fail(ei, DC_ERR_DENIED, "forward: not encrypted to this mediator");
		goto out;
	}
	if (!next || !dc__is_did(next)) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "forward: body.next is missing or not a DID");
		goto out;
	}
	if ((rc = forward_payload(msg, out->message, &out->payload, &out->payload_len, ei)))
		goto out;
	if (!(out->next = strdup(next))) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	const cJSON *exp = dc__json_get(msg, "expires_time");
	out->expires_time = cJSON_IsNumber(exp) && exp->valuedouble > 0 ? (int64_t)exp->valuedouble : 0;
	out->kind = DC_RELAY_FORWARD;
	free(out->message); /* the forward itself is of no further use */
	out->message = NULL;
	rc = DC_OK;
out:
	cJSON_Delete(j);
	cJSON_Delete(msg);
	if (rc)
		dc_relay_clear(out);
	return rc;
}

static bool ref_covers(const char *ref, const char *kid)
{
	if (strcmp(ref, kid) == 0)
		return true;
	/* a bare DID in a route stands for all of its keys */
	size_t n = strlen(ref);
	return !strchr(ref, '#') && strncmp(ref, kid, n) == 0 && kid[n] == '#';
}

dc_err dc_relay_wrap(struct dc_ctx *c, const char *to, size_t service, const char *const *skip_kids, size_t n_skip,
                     int64_t expires_time, char **env, size_t *env_len, char **endpoint, struct dc_errinfo *ei)
{
	*endpoint = NULL;
	struct dc_op op;
	const struct dc_did_doc *doc = NULL;
	const char *refs[DC_MAX_ROUTE], *uri = NULL;
	size_t n = 0;
	dc__op_init(&op, c, ei);
	dc_err rc = dc__op_resolve(&op, to, &doc);
	if (rc == DC_OK)
		rc = dc__route_of(&op, doc, service, &uri, refs, DC_MAX_ROUTE, &n);
	if (rc || !uri)
		goto out;
	/* the route after the last hop that is us */
	size_t from = 0;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < n_skip; k++)
			if (ref_covers(refs[i], skip_kids[k]))
				from = i + 1;
	if ((rc = dc__wrap_refs(&op, refs + from, n - from, doc->id, expires_time, DC_ENC_XC20P, env, env_len)))
		goto out;
	if (!(*endpoint = strdup(uri)))
		rc = DC_ERR_NOMEM;
out:
	dc__op_clear(&op);
	return rc;
}
