/* JWK (RFC 7517/7518/8037): OKP X25519/Ed25519 and EC P-256/P-384/P-521/secp256k1, strict. */
#include "internal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* a member that is there but not a string (dc__jwk_parse) */
static const char not_a_string[] = "";

/* v (a string, NULL: absent) decoded to exactly want bytes */
static dc_err b64_field(const char *v, const char *name, uint8_t *out, size_t want, bool required, bool *present,
                        struct dc_errinfo *ei)
{
	*present = false;
	if (!v) {
		if (required)
			return dc__fail(ei, DC_ERR_MALFORMED, "jwk: missing \"%s\"", name);
		return DC_OK;
	}
	if (v == not_a_string)
		return dc__fail(ei, DC_ERR_MALFORMED, "jwk: \"%s\" is not a string", name);
	size_t n = 0;
	dc_err rc = dc__b64url_decode_to(v, strlen(v), out, want, &n);
	if (rc || n != want) {
		sodium_memzero(out, want);
		return dc__fail(ei, DC_ERR_MALFORMED, "jwk: \"%s\" is not %zu bytes of base64url", name, want);
	}
	*present = true;
	return DC_OK;
}

dc_err dc__jwk_strs_init(const char *kty, const char *crv_s, const char *x, const char *y, const char *d_s,
                         const char *kid, struct dc_key *k, struct dc_errinfo *ei)
{
	memset(k, 0, sizeof *k);
	if (!kty)
		return dc__fail(ei, DC_ERR_MALFORMED, "jwk: \"kty\" is missing or not a string");
	bool okp = strcmp(kty, "OKP") == 0, ec = strcmp(kty, "EC") == 0;
	if (!okp && !ec) /* RSA, oct, ...: they have no crv */
		return dc__fail(ei, DC_ERR_UNSUPPORTED, "jwk: kty %.40s is not supported", kty);
	if (!crv_s)
		return dc__fail(ei, DC_ERR_MALFORMED, "jwk: \"crv\" is missing or not a string");
	enum dc_crv crv = dc_crv_from_name(crv_s);
	if (crv == DC_CRV_NONE)
		return dc__fail(ei, DC_ERR_UNSUPPORTED, "jwk: crv %.40s is not supported", crv_s);
	if (okp != (crv == DC_CRV_X25519 || crv == DC_CRV_ED25519))
		return dc__fail(ei, DC_ERR_MALFORMED, "jwk: crv %s does not go with kty %s", crv_s, kty);
	size_t f = dc__crv_field_len(crv);
	uint8_t pub[DC_MAX_PUB], d[DC_MAX_PRIV];
	bool has, has_d = false;
	dc_err rc;
	size_t pub_len;
	if (okp) {
		if ((rc = b64_field(x, "x", pub, 32, true, &has, ei)))
			goto out;
		pub_len = 32;
	} else {
		pub[0] = 0x04;
		if ((rc = b64_field(x, "x", pub + 1, f, true, &has, ei)) ||
		    (rc = b64_field(y, "y", pub + 1 + f, f, true, &has, ei)))
			goto out;
		pub_len = 1 + 2 * f;
	}
	if ((rc = b64_field(d_s, "d", d, okp ? 32 : f, false, &has_d, ei)))
		goto out;
	if ((rc = dc__key_pub_init(k, crv, pub, pub_len))) {
		if (rc == DC_ERR_MALFORMED)
			dc__fail(ei, rc, "jwk: \"x\"%s is not a valid %s public key", okp ? "" : "/\"y\"",
			         dc_crv_name(crv));
		else
			dc__fail(ei, rc, "jwk: %s public key", dc_crv_name(crv));
		goto out;
	}
	if (has_d && (rc = dc__key_set_priv(k, d, okp ? 32 : f))) {
		if (rc == DC_ERR_MALFORMED)
			dc__fail(ei, rc, "jwk: \"d\" does not match the public key");
		else
			dc__fail(ei, rc, "jwk: %s private key", dc_crv_name(crv));
		goto out;
	}
	if (kid && (rc = dc__key_set_kid(k, kid))) {
		dc__fail(ei, rc, "jwk: kid");
		goto out;
	}
out:
	sodium_memzero(d, sizeof d);
	if (rc)
		dc__key_clear(k);
	return rc;
}

dc_err dc__jwk_parse_strs(const char *kty, const char *crv, const char *x, const char *y, const char *d,
                          const char *kid, struct dc_key **out, struct dc_errinfo *ei)
{
	*out = NULL;
	struct dc_key *k = malloc(sizeof *k);
	if (!k)
		return DC_ERR_NOMEM;
	dc_err rc = dc__jwk_strs_init(kty, crv, x, y, d, kid, k, ei);
	if (rc)
		free(k);
	else
		*out = k;
	return rc;
}

/* the members of an object: strings, NULL (absent) or not_a_string */
static dc_err jwk_members(const cJSON *jwk, const char *v[3], struct dc_errinfo *ei)
{
	if (!cJSON_IsObject(jwk))
		return dc__fail(ei, DC_ERR_MALFORMED, "jwk: not an object");
	static const char *const b64[] = { "x", "y", "d" };
	for (size_t i = 0; i < 3; i++) {
		const cJSON *m = dc__json_get(jwk, b64[i]);
		v[i] = !m ? NULL : cJSON_IsString(m) ? m->valuestring : not_a_string;
	}
	return DC_OK;
}

dc_err dc__jwk_parse(const cJSON *jwk, struct dc_key **out, struct dc_errinfo *ei)
{
	const char *v[3];
	dc_err rc;
	*out = NULL;
	if ((rc = jwk_members(jwk, v, ei)))
		return rc;
	return dc__jwk_parse_strs(dc__json_str(jwk, "kty"), dc__json_str(jwk, "crv"), v[0], v[1], v[2],
	                          dc__json_str(jwk, "kid"), out, ei);
}

dc_err dc__jwk_init(const cJSON *jwk, struct dc_key *k, struct dc_errinfo *ei)
{
	const char *v[3];
	dc_err rc;
	memset(k, 0, sizeof *k);
	if ((rc = jwk_members(jwk, v, ei)))
		return rc;
	return dc__jwk_strs_init(dc__json_str(jwk, "kty"), dc__json_str(jwk, "crv"), v[0], v[1], v[2],
	                         dc__json_str(jwk, "kid"), k, ei);
}

static dc_err add_b64(cJSON *o, const char *name, const uint8_t *b, size_t n)
{
	char buf[DC_MAX_PUB * 2];
	dc__b64url_encode_to(b, n, buf);
	cJSON *s = cJSON_CreateString(buf);
	sodium_memzero(buf, sizeof buf);
	if (!s || !cJSON_AddItemToObject(o, name, s)) {
		cJSON_Delete(s);
		return DC_ERR_NOMEM;
	}
	return DC_OK;
}

dc_err dc__jwk_to_json(const struct dc_key *k, bool with_private, bool with_kid, cJSON **out)
{
	*out = NULL;
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return DC_ERR_NOMEM;
	bool okp = k->crv == DC_CRV_X25519 || k->crv == DC_CRV_ED25519;
	size_t f = dc__crv_field_len(k->crv);
	dc_err rc = DC_ERR_NOMEM;
	if (!cJSON_AddStringToObject(o, "kty", okp ? "OKP" : "EC") ||
	    !cJSON_AddStringToObject(o, "crv", dc_crv_name(k->crv)))
		goto out;
	if (okp) {
		if ((rc = add_b64(o, "x", k->pub, 32)))
			goto out;
	} else if ((rc = add_b64(o, "x", k->pub + 1, f)) || (rc = add_b64(o, "y", k->pub + 1 + f, f))) {
		goto out;
	}
	if (with_private && k->priv) {
		uint8_t d[DC_MAX_PRIV];
		size_t n = 0;
		rc = dc__key_priv_d(k, d, sizeof d, &n);
		if (rc == DC_OK)
			rc = add_b64(o, "d", d, n);
		sodium_memzero(d, sizeof d);
		if (rc)
			goto out;
	}
	if (with_kid && k->kid && !cJSON_AddStringToObject(o, "kid", k->kid)) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	*out = o;
	return DC_OK;
out:
	dc__json_delete_secret(o);
	return rc;
}

dc_err dc_jwk_parse_text(const char *json, size_t len, struct dc_key **out)
{
	*out = NULL;
	cJSON *j = NULL;
	dc_err rc = dc__json_parse(json, len, 8, &j, NULL);
	if (rc)
		return rc;
	rc = dc__jwk_parse(j, out, NULL);
	dc__json_delete_secret(j);
	return rc;
}

dc_err dc_jwk_print(const struct dc_key *k, bool with_private, char **out)
{
	*out = NULL;
	cJSON *j = NULL;
	dc_err rc = dc__jwk_to_json(k, with_private, true, &j);
	if (rc)
		return rc;
	*out = cJSON_PrintUnformatted(j);
	dc__json_delete_secret(j);
	return *out ? DC_OK : DC_ERR_NOMEM;
}
