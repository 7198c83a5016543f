/* JWS in JSON serialisation (general written; general and flattened read) for DIDComm signed
 * messages, and compact JWTs for from_prior. kid is read from the unprotected header, else
 * from the protected one (implementations differ). */
#include "internal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define TYP_SIGNED "application/didcomm-signed+json"

void dc__jws_free(struct dc_jws *jws)
{
	if (!jws)
		return;
	free(jws->payload_b64);
	free(jws->payload);
	for (size_t i = 0; i < jws->n_sigs; i++) {
		free(jws->sigs[i].protected_b64);
		free(jws->sigs[i].kid);
		free(jws->sigs[i].typ);
		free(jws->sigs[i].sig);
	}
	free(jws->sigs);
	free(jws);
}

/* One signature from its protected header and signature (base64url texts) and the kid of its
 * unprotected header (NULL: none; then the protected header's). */
static dc_err sig_set(struct dc_jws_sig *out, const char *prot, size_t prot_len, const char *sig, size_t sig_len,
                      const char *hdr_kid, size_t hdr_kid_len, struct dc_errinfo *ei)
{
	cJSON *ph = NULL;
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	dc_err rc;
	if (!prot || !sig || prot_len > 16384 || sig_len > 1024)
		return dc__fail(ei, DC_ERR_MALFORMED, "signed message: protected and signature are required");
	if (!(out->protected_b64 = strndup(prot, prot_len)))
		return DC_ERR_NOMEM;
	if (dc__b64url_decode(prot, prot_len, &raw, &raw_len) || dc__b64url_decode(sig, sig_len, &out->sig, &out->sig_len)) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "signed message: protected header or signature is not base64url");
		goto out;
	}
	if ((rc = dc__json_parse((const char *)raw, raw_len, 8, &ph, ei)))
		goto out;
	if (!cJSON_IsObject(ph)) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "signed message: protected header is not an object");
		goto out;
	}
	const char *alg = dc__json_str(ph, "alg");
	out->alg = dc__sig_alg_from_name(alg);
	if (!out->alg) {
		rc = dc__fail(ei, alg ? DC_ERR_UNSUPPORTED : DC_ERR_MALFORMED, "signed message: alg %.40s not supported",
		              alg ? alg : "(missing)");
		goto out;
	}
	const char *typ = dc__json_str(ph, "typ");
	if (!hdr_kid && (hdr_kid = dc__json_str(ph, "kid")))
		hdr_kid_len = strlen(hdr_kid);
	if ((typ && !(out->typ = strdup(typ))) || (hdr_kid && !(out->kid = strndup(hdr_kid, hdr_kid_len)))) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	rc = DC_OK;
out:
	cJSON_Delete(ph);
	free(raw);
	return rc;
}

static dc_err parse_sig(const cJSON *s, struct dc_jws_sig *out, struct dc_errinfo *ei)
{
	const char *prot = dc__json_str(s, "protected"), *sig = dc__json_str(s, "signature");
	const char *kid = dc__json_str(dc__json_obj(s, "header"), "kid");
	return sig_set(out, prot, prot ? strlen(prot) : 0, sig, sig ? strlen(sig) : 0, kid, kid ? strlen(kid) : 0, ei);
}

/* The payload (base64url text): kept and decoded. */
static dc_err payload_set(struct dc_jws *jws, const char *payload, size_t n, struct dc_errinfo *ei)
{
	if (!(jws->payload_b64 = strndup(payload, n)))
		return DC_ERR_NOMEM;
	if (dc__b64url_decode(payload, n, &jws->payload, &jws->payload_len))
		return dc__fail(ei, DC_ERR_MALFORMED, "signed message: payload is not base64url");
	return DC_OK;
}

dc_err dc__jws_parse(const cJSON *j, struct dc_jws **out, struct dc_errinfo *ei)
{
	*out = NULL;
	dc_err rc;
	struct dc_jws *jws = calloc(1, sizeof *jws);
	if (!jws)
		return DC_ERR_NOMEM;
	const char *payload = dc__json_str(j, "payload");
	if (!payload) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "signed message: payload missing");
		goto out;
	}
	if ((rc = payload_set(jws, payload, strlen(payload), ei)))
		goto out;
	const cJSON *sigs = dc__json_get(j, "signatures");
	if (sigs) {
		int n = cJSON_GetArraySize(sigs);
		if (!cJSON_IsArray(sigs) || n < 1 || n > 16) {
			rc = dc__fail(ei, DC_ERR_MALFORMED, "signed message: signatures must be 1..16 entries");
			goto out;
		}
		if (!(jws->sigs = calloc((size_t)n, sizeof *jws->sigs))) {
			rc = DC_ERR_NOMEM;
			goto out;
		}
		const cJSON *s;
		cJSON_ArrayForEach(s, sigs)
		{
			rc = parse_sig(s, &jws->sigs[jws->n_sigs], ei);
			jws->n_sigs++;
			if (rc)
				goto out;
		}
	} else {
		if (!(jws->sigs = calloc(1, sizeof *jws->sigs))) {
			rc = DC_ERR_NOMEM;
			goto out;
		}
		jws->n_sigs = 1;
		if ((rc = parse_sig(j, &jws->sigs[0], ei)))
			goto out;
	}
	*out = jws;
	jws = NULL;
	rc = DC_OK;
out:
	dc__jws_free(jws);
	return rc;
}

/* ---- the usual shape read in place ------------------------------------------------------
 * {"payload":S,"signatures":[{"protected":S,"signature":S,"header":{"kid":S}},...]}, members
 * in any order, whitespace anywhere, strings without escapes, at most 16 signatures: read
 * without a JSON tree (a signed message's payload is most of it). Anything else is left to
 * the JSON parser, which gives the verdict; what the scanner accepts, the parser accepts as
 * well and dc__jws_parse reads to the same JWS. */
#define SCAN_SIGS 16
struct sig_text {
	struct dc_span prot, sig, kid;
};

/* {"protected":S,"signature":S,"header":{"kid":S}} in any order */
static bool scan_sig(struct dc_scan *s, struct sig_text *t)
{
	enum { S_PROT, S_SIG, S_HDR, S_N };
	static const char *const names[S_N] = { "protected", "signature", "header" };
	struct dc_span *v[S_N] = { &t->prot, &t->sig, NULL };
	unsigned seen = 0;
	if (!dc__scan_lit(s, '{'))
		return false;
	for (size_t i = 0; i < S_N; i++) {
		struct dc_span k;
		size_t w = 0;
		if ((i && !dc__scan_lit(s, ',')) || !dc__scan_str(s, &k) || !dc__scan_lit(s, ':'))
			return false;
		while (w < S_N && !dc__span_is(&k, names[w]))
			w++;
		if (w == S_N || (seen & (1u << w)))
			return false;
		seen |= 1u << w;
		if (w != S_HDR ? !dc__scan_str(s, v[w])
		               : !(dc__scan_lit(s, '{') && dc__scan_str(s, &k) && dc__span_is(&k, "kid") &&
		                   dc__scan_lit(s, ':') && dc__scan_str(s, &t->kid) && dc__scan_lit(s, '}')))
			return false;
	}
	return dc__scan_lit(s, '}');
}

bool dc__jws_scan(const char *in, size_t n, struct dc_jws **out, dc_err *rc, struct dc_errinfo *ei)
{
	struct sig_text st[SCAN_SIGS];
	struct dc_span payload = { 0 };
	size_t n_sigs = 0;
	bool have_payload = false, have_sigs = false;
	struct dc_scan s = { in, in + n };
	*out = NULL;
	if (!dc__scan_lit(&s, '{'))
		return false;
	for (int i = 0; i < 2; i++) {
		struct dc_span k;
		if ((i && !dc__scan_lit(&s, ',')) || !dc__scan_str(&s, &k) || !dc__scan_lit(&s, ':'))
			return false;
		if (dc__span_is(&k, "payload") && !have_payload) {
			if (!dc__scan_str(&s, &payload))
				return false;
			have_payload = true;
		} else if (dc__span_is(&k, "signatures") && !have_sigs) {
			if (!dc__scan_lit(&s, '['))
				return false;
			do {
				if (n_sigs == SCAN_SIGS || !scan_sig(&s, &st[n_sigs]))
					return false;
				n_sigs++;
			} while (dc__scan_lit(&s, ','));
			if (!dc__scan_lit(&s, ']'))
				return false;
			have_sigs = true;
		} else {
			return false;
		}
	}
	if (!dc__scan_lit(&s, '}'))
		return false;
	dc__scan_ws(&s);
	if (s.p != s.end)
		return false;
	/* the shape is right: from here on, the verdict is ours */
	struct dc_jws *jws = calloc(1, sizeof *jws);
	if (!jws || !(jws->sigs = calloc(n_sigs, sizeof *jws->sigs))) {
		*rc = DC_ERR_NOMEM;
		goto out;
	}
	if ((*rc = payload_set(jws, payload.p, payload.n, ei)))
		goto out;
	for (size_t i = 0; i < n_sigs; i++) {
		*rc = sig_set(&jws->sigs[i], st[i].prot.p, st[i].prot.n, st[i].sig.p, st[i].sig.n, st[i].kid.p,
		              st[i].kid.n, ei);
		jws->n_sigs++;
		if (*rc)
			goto out;
	}
	*out = jws;
	jws = NULL;
out:
	dc__jws_free(jws);
	return true;
}

/* "protected.payload" */
static char *signing_input(const char *prot, const char *payload)
{
	size_t a = strlen(prot), b = strlen(payload);
	char *s = malloc(a + b + 2);
	if (!s)
		return NULL;
	memcpy(s, prot, a);
	s[a] = '.';
	memcpy(s + a + 1, payload, b + 1);
	return s;
}

dc_err dc__jws_verify(const struct dc_jws *jws, size_t idx, const struct dc_key *pub)
{
	if (idx >= jws->n_sigs)
		return DC_ERR_INVAL;
	const struct dc_jws_sig *s = &jws->sigs[idx];
	char *in = signing_input(s->protected_b64, jws->payload_b64);
	if (!in)
		return DC_ERR_NOMEM;
	dc_err rc = dc__verify(pub, s->alg, (const uint8_t *)in, strlen(in), s->sig, s->sig_len);
	free(in);
	return rc;
}

static const char *esc_dup_kid(const char *kid, char *buf, size_t cap)
{
	/* kids come from DID documents: keep only what needs no JSON escaping */
	size_t n = strlen(kid);
	if (n >= cap)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (kid[i] == '"' || kid[i] == '\\' || (unsigned char)kid[i] < 0x20)
			return NULL;
	memcpy(buf, kid, n + 1);
	return buf;
}

dc_err dc__jws_sign(const struct dc_key *priv, const char *kid, const uint8_t *payload, size_t len, char **out,
                    size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	enum dc_sig_alg alg = dc__sig_alg_for_crv(priv->crv);
	char kbuf[2048], hdr[128], *prot = NULL, *pl = NULL, *in = NULL, *res = NULL;
	uint8_t sig[64];
	size_t sig_len = 0;
	dc_err rc = DC_ERR_NOMEM;
	if (!alg)
		return DC_ERR_UNSUPPORTED;
	if (!kid || !esc_dup_kid(kid, kbuf, sizeof kbuf))
		return DC_ERR_INVAL;
	int hn = snprintf(hdr, sizeof hdr, "{\"typ\":\"%s\",\"alg\":\"%s\"}", TYP_SIGNED, dc__sig_alg_name(alg));
	if (dc__b64url_encode((const uint8_t *)hdr, (size_t)hn, &prot) || dc__b64url_encode(payload, len, &pl) ||
	    !(in = signing_input(prot, pl)))
		goto out;
	if ((rc = dc__sign(priv, (const uint8_t *)in, strlen(in), sig, sizeof sig, &sig_len)))
		goto out;
	char sig_b64[128];
	dc__b64url_encode_to(sig, sig_len, sig_b64);
	size_t total = strlen(pl) + strlen(prot) + strlen(kbuf) + strlen(sig_b64) + 96;
	if (!(res = malloc(total))) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	int w = snprintf(res, total, "{\"payload\":\"%s\",\"signatures\":[{\"protected\":\"%s\",\"signature\":\"%s\","
	                             "\"header\":{\"kid\":\"%s\"}}]}",
	                 pl, prot, sig_b64, kbuf);
	if (w < 0 || (size_t)w >= total) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	*out = res;
	*out_len = (size_t)w;
	res = NULL;
	rc = DC_OK;
out:
	free(prot);
	free(pl);
	free(in);
	free(res);
	return rc;
}

void dc__jwt_free(struct dc_jwt *jwt)
{
	if (!jwt)
		return;
	cJSON_Delete(jwt->header);
	cJSON_Delete(jwt->payload);
	free(jwt->kid);
	free(jwt->signing_input);
	free(jwt->sig);
	free(jwt);
}

static dc_err b64_json(const char *s, size_t n, cJSON **out, struct dc_errinfo *ei)
{
	uint8_t *raw = NULL;
	size_t len = 0;
	*out = NULL;
	if (dc__b64url_decode(s, n, &raw, &len))
		return dc__fail(ei, DC_ERR_MALFORMED, "JWT: part is not base64url");
	dc_err rc = dc__json_parse((const char *)raw, len, 16, out, ei);
	free(raw);
	if (rc == DC_OK && !cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		return dc__fail(ei, DC_ERR_MALFORMED, "JWT: part is not a JSON object");
	}
	return rc;
}

dc_err dc__jwt_parse(const char *compact, size_t len, struct dc_jwt **out, struct dc_errinfo *ei)
{
	*out = NULL;
	if (len > 65536)
		return dc__fail(ei, DC_ERR_TOO_BIG, "JWT: too long");
	const char *d1 = memchr(compact, '.', len);
	const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - compact)) : NULL;
	if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - compact)))
		return dc__fail(ei, DC_ERR_MALFORMED, "JWT: not three parts");
	struct dc_jwt *jwt = calloc(1, sizeof *jwt);
	dc_err rc;
	if (!jwt)
		return DC_ERR_NOMEM;
	if ((rc = b64_json(compact, (size_t)(d1 - compact), &jwt->header, ei)) ||
	    (rc = b64_json(d1 + 1, (size_t)(d2 - d1 - 1), &jwt->payload, ei)))
		goto out;
	if (dc__b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - compact), &jwt->sig, &jwt->sig_len)) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "JWT: signature is not base64url");
		goto out;
	}
	const char *alg = dc__json_str(jwt->header, "alg"), *kid = dc__json_str(jwt->header, "kid");
	jwt->alg = dc__sig_alg_from_name(alg);
	if (!jwt->alg) {
		rc = dc__fail(ei, DC_ERR_UNSUPPORTED, "JWT: alg %.40s not supported", alg ? alg : "(missing)");
		goto out;
	}
	if ((kid && !(jwt->kid = strdup(kid))) || !(jwt->signing_input = strndup(compact, (size_t)(d2 - compact)))) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	*out = jwt;
	jwt = NULL;
	rc = DC_OK;
out:
	dc__jwt_free(jwt);
	return rc;
}

dc_err dc__jwt_sign(const struct dc_key *priv, const char *kid, const cJSON *payload, char **out)
{
	*out = NULL;
	enum dc_sig_alg alg = dc__sig_alg_for_crv(priv->crv);
	if (!alg || !kid)
		return DC_ERR_INVAL;
	cJSON *h = cJSON_CreateObject();
	char *ht = NULL, *pt = NULL, *hb = NULL, *pb = NULL, *in = NULL, *res = NULL;
	uint8_t sig[64];
	size_t sl = 0;
	dc_err rc = DC_ERR_NOMEM;
	if (!h || !cJSON_AddStringToObject(h, "typ", "JWT") || !cJSON_AddStringToObject(h, "alg", dc__sig_alg_name(alg)) ||
	    !cJSON_AddStringToObject(h, "kid", kid) || !(ht = cJSON_PrintUnformatted(h)) ||
	    !(pt = cJSON_PrintUnformatted(payload)) || dc__b64url_encode((const uint8_t *)ht, strlen(ht), &hb) ||
	    dc__b64url_encode((const uint8_t *)pt, strlen(pt), &pb) || !(in = signing_input(hb, pb)))
		goto out;
	if ((rc = dc__sign(priv, (const uint8_t *)in, strlen(in), sig, sizeof sig, &sl)))
		goto out;
	size_t n = strlen(in);
	if (!(res = malloc(n + 1 + dc__b64url_enc_len(sl) + 1))) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	memcpy(res, in, n);
	res[n] = '.';
	dc__b64url_encode_to(sig, sl, res + n + 1);
	*out = res;
	res = NULL;
	rc = DC_OK;
out:
	cJSON_Delete(h);
	free(ht);
	free(pt);
	free(hb);
	free(pb);
	free(in);
	free(res);
	return rc;
}
