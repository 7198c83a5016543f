/* pack: plaintext, signed, anoncrypt, authcrypt, sign-then-encrypt, anoncrypt(authcrypt),
 * and wrapping in routing/2.0 forwards for each of the recipient's routingKeys.
 * The message text is packed byte for byte as given (after validation): no re-serialisation,
 * so numbers and member order survive exactly. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TYPE_FORWARD DC_TYPE_FORWARD

struct group {
	char *did;
	const char **kids; /* borrowed from the caller's opts; NULL when all keys are wanted */
	size_t n_kids;
	bool all;
};

static void groups_free(struct group *g, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(g[i].did);
		free(g[i].kids);
	}
	free(g);
}

/* Group "to" entries by DID: a bare DID asks for all of its keys, a DID URL for that key. */
static dc_err group_to(struct dc_op *op, const char *const *to, size_t n, struct group **out, size_t *n_out)
{
	*out = NULL;
	*n_out = 0;
	struct group *g = calloc(n ? n : 1, sizeof *g);
	size_t ng = 0;
	dc_err rc = DC_OK;
	if (!g)
		return DC_ERR_NOMEM;
	for (size_t i = 0; i < n; i++) {
		char *did = NULL;
		if ((rc = dc__did_of(to[i], &did))) {
			rc = dc__fail(op->ei, DC_ERR_INVAL, "recipient is not a DID or key id: %.200s", to[i]);
			goto out;
		}
		size_t k = 0;
		while (k < ng && strcmp(g[k].did, did) != 0)
			k++;
		if (k == ng) {
			g[ng].did = did;
			g[ng].kids = calloc(n, sizeof *g[ng].kids);
			if (!g[ng].kids) {
				rc = DC_ERR_NOMEM;
				ng++;
				goto out;
			}
			ng++;
		} else {
			free(did);
		}
		if (strchr(to[i], '#'))
			g[k].kids[g[k].n_kids++] = to[i];
		else
			g[k].all = true;
	}
out:
	if (rc) {
		groups_free(g, ng);
		return rc;
	}
	*out = g;
	*n_out = ng;
	return DC_OK;
}

/* Keys of doc to encrypt to: the named ones, or every keyAgreement key on crv (crv NONE:
 * the curve of the first keyAgreement key). */
static dc_err pick_rcpt_keys(struct dc_op *op, const struct dc_did_doc *doc, const struct group *g,
                             enum dc_crv crv, const struct dc_key **keys, size_t cap, size_t *n)
{
	*n = 0;
	if (!g->all && g->n_kids) {
		for (size_t i = 0; i < g->n_kids; i++) {
			const struct dc_key *k = NULL;
			dc_err rc = dc__op_key(op, g->kids[i], DC_REL_KA, &k);
			if (rc)
				return rc;
			if (crv != DC_CRV_NONE && k->crv != crv)
				return dc__fail(op->ei, DC_ERR_INVAL, "key %.200s is %s, not %s", g->kids[i],
				                dc_crv_name(k->crv), dc_crv_name(crv));
			crv = k->crv;
			for (size_t j = 0; j < *n; j++)
				if (strcmp(dc_key_kid(keys[j]), dc_key_kid(k)) == 0)
					goto dup;
			if (*n >= cap)
				return dc__fail(op->ei, DC_ERR_TOO_BIG, "too many recipient keys (limit %zu)", cap);
			keys[(*n)++] = k;
dup:;
		}
		return DC_OK;
	}
	for (size_t i = 0; i < doc->n_ka; i++) {
		const struct dc_vm *vm = dc__did_doc_vm(doc, doc->ka[i]);
		if (!vm || !dc__crv_is_key_agreement(vm->key->crv))
			continue;
		if (crv == DC_CRV_NONE)
			crv = vm->key->crv;
		if (vm->key->crv != crv)
			continue;
		if (*n >= cap)
			return dc__fail(op->ei, DC_ERR_TOO_BIG, "too many recipient keys (limit %zu)", cap);
		keys[(*n)++] = vm->key;
	}
	if (*n == 0)
		return dc__fail(op->ei, DC_ERR_NOT_FOUND, "%.200s has no keyAgreement key%s%s", doc->id,
		                crv ? " on " : "", crv ? dc_crv_name(crv) : "");
	return DC_OK;
}

/* Signing key: a kid, or the first authentication key of a DID we hold a secret for. */
static dc_err pick_signer(struct dc_op *op, const char *who, const struct dc_key **priv, const char **kid)
{
	*priv = NULL;
	*kid = NULL;
	const struct dc_keystore *ks = op->c->ks;
	if (strchr(who, '#')) {
		const struct dc_key *pub = NULL;
		dc_err rc = dc__op_key(op, who, DC_REL_AUTH, &pub);
		if (rc)
			return rc;
		const struct dc_key *k = dc_keystore_get(ks, who);
		if (!k || !dc_key_has_private(k))
			return dc__fail(op->ei, DC_ERR_NOT_FOUND, "no secret for signing key %.200s", who);
		if (dc__sig_alg_for_crv(k->crv) == DC_SIG_NONE)
			return dc__fail(op->ei, DC_ERR_UNSUPPORTED, "key %.200s (%s) cannot sign", who, dc_crv_name(k->crv));
		*priv = k;
		*kid = who;
		return DC_OK;
	}
	const struct dc_did_doc *doc = NULL;
	dc_err rc = dc__op_resolve(op, who, &doc);
	if (rc)
		return rc;
	for (size_t i = 0; i < doc->n_auth; i++) {
		const struct dc_key *k = dc_keystore_get(ks, doc->auth[i]);
		if (k && dc_key_has_private(k) && dc__sig_alg_for_crv(k->crv) != DC_SIG_NONE) {
			*priv = k;
			*kid = doc->auth[i];
			return DC_OK;
		}
	}
	return dc__fail(op->ei, DC_ERR_NOT_FOUND, "no secret for any authentication key of %.200s", who);
}

/* Sender key for authcrypt and the recipient keys on its curve. */
static dc_err pick_sender(struct dc_op *op, const char *who, const struct dc_did_doc *rdoc, const struct group *g,
                          enum dc_crv want, const struct dc_key **skey, const struct dc_key **keys, size_t cap,
                          size_t *n)
{
	*skey = NULL;
	*n = 0;
	const struct dc_keystore *ks = op->c->ks;
	dc_err rc;
	if (strchr(who, '#')) {
		const struct dc_key *pub = NULL;
		if ((rc = dc__op_key(op, who, DC_REL_KA, &pub)))
			return rc;
		const struct dc_key *k = dc_keystore_get(ks, who);
		if (!k || !dc_key_has_private(k))
			return dc__fail(op->ei, DC_ERR_NOT_FOUND, "no secret for sender key %.200s", who);
		if (want && k->crv != want)
			return dc__fail(op->ei, DC_ERR_INVAL, "sender key %.200s is %s, not %s", who,
			                dc_crv_name(k->crv), dc_crv_name(want));
		if ((rc = pick_rcpt_keys(op, rdoc, g, k->crv, keys, cap, n)))
			return rc;
		*skey = k;
		return DC_OK;
	}
	const struct dc_did_doc *sdoc = NULL;
	if ((rc = dc__op_resolve(op, who, &sdoc)))
		return rc;
	bool any_secret = false;
	for (size_t i = 0; i < sdoc->n_ka; i++) {
		const struct dc_key *k = dc_keystore_get(ks, sdoc->ka[i]);
		if (!k || !dc_key_has_private(k) || !dc__crv_is_key_agreement(k->crv))
			continue;
		any_secret = true;
		if (want && k->crv != want)
			continue;
		struct dc_errinfo scratch;
		struct dc_errinfo *keep = op->ei;
		op->ei = &scratch;
		rc = pick_rcpt_keys(op, rdoc, g, k->crv, keys, cap, n);
		op->ei = keep;
		if (rc == DC_OK && *n) {
			*skey = k;
			return DC_OK;
		}
	}
	if (!any_secret)
		return dc__fail(op->ei, DC_ERR_NOT_FOUND, "no secret for any keyAgreement key of %.200s", who);
	return dc__fail(op->ei, DC_ERR_NOT_FOUND, "%.200s and %.200s share no key-agreement curve%s%s", who, rdoc->id,
	                want ? " " : "", want ? dc_crv_name(want) : "");
}

static bool did_eq(const char *a_url, const char *b_url);

/* DID rotation: the from_prior JWT signed by the prior DID's key `issuer` (a kid, or a DID:
 * its first authentication key) for the new DID `from`. *jwt malloc'd. */
static dc_err from_prior_jwt(struct dc_op *op, const char *issuer, const char *from, int64_t iat, char **jwt)
{
	*jwt = NULL;
	const struct dc_did_doc *doc = NULL;
	const struct dc_key *pub = NULL;
	const char *kid = issuer;
	char *iss = NULL;
	cJSON *claims = NULL;
	dc_err rc;
	if (!from)
		return dc__fail(op->ei, DC_ERR_INVAL, "from_prior: the message has no from (the new DID)");
	if ((rc = dc__did_of(issuer, &iss)))
		return dc__fail(op->ei, DC_ERR_INVAL, "from_prior: issuer %.200s is not a DID or key id", issuer);
	if (did_eq(iss, from)) {
		rc = dc__fail(op->ei, DC_ERR_INVAL, "from_prior: the prior DID %.200s is the message's from", iss);
		goto out;
	}
	if ((rc = dc__op_resolve(op, iss, &doc)))
		goto out;
	if (!strchr(issuer, '#')) {
		if (doc->n_auth == 0) {
			rc = dc__fail(op->ei, DC_ERR_NOT_FOUND, "from_prior: %.200s has no authentication key", iss);
			goto out;
		}
		kid = doc->auth[0];
	}
	if ((rc = dc__op_key(op, kid, DC_REL_AUTH, &pub))) {
		if (rc == DC_ERR_DENIED || rc == DC_ERR_NOT_FOUND)
			rc = dc__fail(op->ei, DC_ERR_DENIED, "from_prior: %.200s is not an authentication key of %.200s",
			              kid, iss);
		goto out;
	}
	const struct dc_key *k = dc_keystore_get(op->c->ks, kid);
	if (!k || !dc_key_has_private(k)) {
		rc = dc__fail(op->ei, DC_ERR_NOT_FOUND, "from_prior: no secret for %.200s", kid);
		goto out;
	}
	if (k->crv != pub->crv || k->pub_len != pub->pub_len || memcmp(k->pub, pub->pub, k->pub_len) != 0) {
		rc = dc__fail(op->ei, DC_ERR_DENIED, "from_prior: the secret of %.200s does not match its DID document", kid);
		goto out;
	}
	if (dc__sig_alg_for_crv(k->crv) == DC_SIG_NONE) {
		rc = dc__fail(op->ei, DC_ERR_UNSUPPORTED, "from_prior: key %.200s (%s) cannot sign", kid,
		              dc_crv_name(k->crv));
		goto out;
	}
	rc = DC_ERR_NOMEM;
	if (!(claims = cJSON_CreateObject()) || !cJSON_AddStringToObject(claims, "iss", iss) ||
	    !cJSON_AddStringToObject(claims, "sub", from) || !cJSON_AddNumberToObject(claims, "iat", (double)iat))
		goto out;
	if ((rc = dc__jwt_sign(k, kid, claims, jwt)))
		dc__fail(op->ei, rc, "from_prior: signing with %.200s failed", kid);
out:
	cJSON_Delete(claims);
	free(iss);
	return rc;
}

/* msg (trimmed, an object) with "from_prior":"jwt" as its first member; malloc'd. */
static dc_err add_from_prior(const char *msg, size_t len, const char *jwt, char **out, size_t *out_len)
{
	size_t jl = strlen(jwt), n = len + jl + 16;
	char *s = malloc(n + 1);
	*out = NULL;
	if (!s)
		return DC_ERR_NOMEM;
	int w = snprintf(s, n + 1, "{\"from_prior\":\"%s\",", jwt);
	if (w < 0 || (size_t)w + len - 1 > n) {
		free(s);
		return DC_ERR_INVAL;
	}
	memcpy(s + w, msg + 1, len - 1); /* after the opening brace */
	*out_len = (size_t)w + len - 1;
	s[*out_len] = 0;
	*out = s;
	return DC_OK;
}

static bool is_v2(const struct dc_service *s)
{
	if (!s->uri)
		return false;
	if (s->n_accept == 0)
		return true;
	for (size_t j = 0; j < s->n_accept; j++)
		if (strcmp(s->accept[j], "didcomm/v2") == 0)
			return true;
	return false;
}

/* the nth (from 0) DIDComm v2 service of doc, in document order */
static const struct dc_service *pick_service(const struct dc_did_doc *doc, size_t nth)
{
	for (size_t i = 0; i < doc->n_svcs; i++)
		if (is_v2(&doc->svcs[i]) && nth-- == 0)
			return &doc->svcs[i];
	return NULL;
}

/* Anoncrypt env to the keys named by ref (a DID URL: that key; a DID: its keyAgreement keys
 * of the first curve). Replaces *env. */
static dc_err anon_to_ref(struct dc_op *op, const char *ref, enum dc_enc enc, char **env, size_t *env_len)
{
	const struct dc_key *keys[64];
	size_t n = 0;
	dc_err rc;
	if (strchr(ref, '#')) {
		if ((rc = dc__op_key(op, ref, DC_REL_KA, &keys[0])))
			return rc;
		n = 1;
	} else {
		const struct dc_did_doc *doc = NULL;
		struct group g = { .all = true };
		if ((rc = dc__op_resolve(op, ref, &doc)))
			return rc;
		if ((rc = pick_rcpt_keys(op, doc, &g, DC_CRV_NONE, keys, 64, &n)))
			return rc;
	}
	char *out = NULL;
	size_t out_len = 0;
	rc = dc__jwe_encrypt(DC_ALG_ECDH_ES_A256KW, enc, NULL, NULL, keys, n, (const uint8_t *)*env, *env_len,
	                     &out, &out_len, op->ei);
	if (rc)
		return rc;
	free(*env);
	*env = out;
	*env_len = out_len;
	return DC_OK;
}

/* The recipient's route: the refs to wrap for, in order (a mediator DID used as the service
 * uri comes first, as the spec's "DID as endpoint" says), and the URI to send to. refs
 * borrow from the documents held by op. *uri is NULL when the DID has no usable service. */
dc_err dc__route_of(struct dc_op *op, const struct dc_did_doc *rdoc, size_t service, const char **uri,
                    const char **refs, size_t cap, size_t *n)
{
	*uri = NULL;
	*n = 0;
	const struct dc_service *svc = pick_service(rdoc, service);
	if (!svc)
		return DC_OK;
	const char *u = svc->uri;
	if (strncmp(u, "did:", 4) == 0) {
		const struct dc_did_doc *mdoc = NULL;
		dc_err rc = dc__op_resolve(op, u, &mdoc);
		if (rc)
			return rc;
		const struct dc_service *msvc = pick_service(mdoc, 0);
		if (!msvc)
			return dc__fail(op->ei, DC_ERR_RESOLVE, "mediator %.200s has no DIDCommMessaging service", u);
		if (strncmp(msvc->uri, "did:", 4) == 0)
			return dc__fail(op->ei, DC_ERR_RESOLVE, "mediator %.200s points to another DID (%.200s)", u,
			                msvc->uri);
		refs[(*n)++] = mdoc->id;
		u = msvc->uri;
	}
	if (svc->n_routing_keys + *n > cap)
		return dc__fail(op->ei, DC_ERR_TOO_BIG, "%zu routing keys for %.200s (limit %zu)",
		                svc->n_routing_keys + *n, rdoc->id, cap);
	for (size_t i = 0; i < svc->n_routing_keys; i++)
		refs[(*n)++] = svc->routing_keys[i];
	*uri = u;
	return DC_OK;
}

/* Wrap env in forwards for refs[0..n), last first: the forward anoncrypted to refs[i] names
 * refs[i+1] (or final_next after the last) as next. */
dc_err dc__wrap_refs(struct dc_op *op, const char *const *refs, size_t n, const char *final_next, int64_t expires,
                     enum dc_enc enc, char **env, size_t *env_len)
{
	for (size_t i = n; i-- > 0;) {
		const char *next = i + 1 < n ? refs[i + 1] : final_next;
		char *fwd = NULL;
		size_t fwd_len = 0;
		dc_err rc = dc__forward_build(next, *env, *env_len, expires, &fwd, &fwd_len);
		if (rc)
			return dc__fail(op->ei, rc, "building the forward for %.200s failed", next);
		free(*env);
		*env = fwd;
		*env_len = fwd_len;
		if ((rc = anon_to_ref(op, refs[i], enc, env, env_len)))
			return rc;
	}
	return DC_OK;
}

static dc_err wrap_forwards(struct dc_op *op, const struct dc_did_doc *rdoc, size_t service, bool no_forward, int64_t expires,
                            enum dc_enc enc, char **env, size_t *env_len, char **endpoint)
{
	const char *refs[DC_MAX_ROUTE], *uri = NULL;
	size_t n = 0;
	*endpoint = NULL;
	size_t cap = op->c->lim.max_forward_depth < DC_MAX_ROUTE ? op->c->lim.max_forward_depth : DC_MAX_ROUTE;
	dc_err rc = dc__route_of(op, rdoc, service, &uri, refs, cap, &n);
	if (rc || !uri)
		return rc;
	if (!(*endpoint = strdup(uri)))
		return DC_ERR_NOMEM;
	if (no_forward)
		return DC_OK;
	return dc__wrap_refs(op, refs, n, rdoc->id, expires, enc, env, env_len);
}

static bool did_eq(const char *a_url, const char *b_url)
{
	size_t la = strcspn(a_url, "#?/"), lb = strcspn(b_url, "#?/");
	/* did:web paths use ':' so '/' cannot appear before the method-specific id ends */
	return la == lb && strncmp(a_url, b_url, la) == 0;
}

/* hdr_to: the message's "to" (NULL when it has none: each recipient is the only one) */
static bool in_to(char *const *hdr_to, size_t n, bool has_to, const char *did)
{
	if (!has_to)
		return true;
	for (size_t i = 0; i < n; i++)
		if (did_eq(hdr_to[i], did))
			return true;
	return false;
}

void dc_pack_result_clear(struct dc_pack_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->items[i].to);
		free(r->items[i].endpoint);
		free(r->items[i].msg);
	}
	free(r->items);
	r->items = NULL;
	r->n = 0;
}

static dc_err push_item(struct dc_pack_result *r, const char *to, char *endpoint, char *msg, size_t len)
{
	struct dc_packed *items = realloc(r->items, (r->n + 1) * sizeof *items);
	if (!items)
		return DC_ERR_NOMEM;
	r->items = items;
	struct dc_packed *p = &items[r->n];
	p->to = to ? strdup(to) : NULL;
	if (to && !p->to)
		return DC_ERR_NOMEM;
	p->endpoint = endpoint;
	p->msg = msg;
	p->len = len;
	r->n++;
	return DC_OK;
}

dc_err dc_pack(struct dc_ctx *c, const char *msg_json, size_t len, const struct dc_pack_opts *o,
               struct dc_pack_result *out, struct dc_errinfo *ei)
{
	struct dc_op op;
	cJSON *msg = NULL;
	struct group *groups = NULL;
	size_t n_groups = 0;
	const char *payload = NULL; /* what gets encrypted: the plaintext (caller's bytes) or the JWS */
	char *owned = NULL;         /* the JWS, when signing */
	char *rotated = NULL;       /* the message with from_prior added (DID rotation) */
	size_t payload_len = 0;
	char **hdr_to = NULL, *from = NULL;
	size_t n_hdr_to = 0;
	bool has_to = false;
	const struct dc_key **keys = NULL;
	dc_err rc;

	if (!c || !msg_json || !o || !out)
		return DC_ERR_INVAL;
	memset(out, 0, sizeof *out);
	dc__op_init(&op, c, ei);
	if (len > c->lim.max_message_bytes)
		return dc__fail(ei, DC_ERR_TOO_BIG, "message of %zu bytes is over the limit of %zu", len,
		                c->lim.max_message_bytes);
	while (len && (msg_json[0] == ' ' || msg_json[0] == '\n' || msg_json[0] == '\r' || msg_json[0] == '\t')) {
		msg_json++;
		len--;
	}
	while (len && (msg_json[len - 1] == ' ' || msg_json[len - 1] == '\n' || msg_json[len - 1] == '\r' ||
	               msg_json[len - 1] == '\t' || msg_json[len - 1] == '\0'))
		len--;
	if ((rc = dc__json_parse(msg_json, len, c->lim.max_json_depth, &msg, ei)))
		goto out;
	if (!cJSON_IsObject(msg)) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "message: not a JSON object");
		goto out;
	}
	if ((rc = dc__msg_validate(msg, &c->lim, ei)))
		goto out;
	/* keep what we need of the headers and drop the parsed tree before the crypto: a 10 MB
	 * message must not be held twice */
	const cJSON *exp = dc__json_get(msg, "expires_time");
	int64_t expires = cJSON_IsNumber(exp) ? (int64_t)exp->valuedouble : 0;
	const char *from_s = dc__json_str(msg, "from");
	if (from_s && !(from = strdup(from_s))) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	const cJSON *to_arr = dc__json_arr(msg, "to"), *t;
	has_to = to_arr != NULL;
	if (has_to) {
		if (!(hdr_to = calloc((size_t)cJSON_GetArraySize(to_arr) + 1, sizeof *hdr_to))) {
			rc = DC_ERR_NOMEM;
			goto out;
		}
		cJSON_ArrayForEach(t, to_arr)
		{
			if (!(hdr_to[n_hdr_to] = strdup(t->valuestring))) {
				rc = DC_ERR_NOMEM;
				goto out;
			}
			n_hdr_to++;
		}
	}
	bool had_from_prior = dc__json_get(msg, "from_prior") != NULL;
	cJSON_Delete(msg);
	msg = NULL;
	payload = msg_json;
	payload_len = len;

	if (o->from_prior_issuer) {
		char *jwt = NULL;
		int64_t iat = o->rotated_at ? o->rotated_at : (int64_t)time(NULL);
		if (had_from_prior) {
			rc = dc__fail(ei, DC_ERR_INVAL, "from_prior: the message has one already");
			goto out;
		}
		if ((rc = from_prior_jwt(&op, o->from_prior_issuer, from, iat, &jwt)))
			goto out;
		rc = add_from_prior(msg_json, len, jwt, &rotated, &len);
		free(jwt);
		if (rc)
			goto out;
		msg_json = rotated;
		payload = rotated;
		payload_len = len;
	}

	if (o->mode == DC_PACK_PLAINTEXT) {
		char *copy = malloc(len + 1);
		if (!copy) {
			rc = DC_ERR_NOMEM;
			goto out;
		}
		memcpy(copy, msg_json, len);
		copy[len] = 0;
		rc = push_item(out, NULL, NULL, copy, len);
		if (rc)
			free(copy);
		goto out;
	}

	/* sign first (signed mode, or sign-then-encrypt) */
	const char *signer = o->sign_from;
	if (o->mode == DC_PACK_SIGNED && !signer)
		signer = from;
	if (o->mode == DC_PACK_SIGNED && !signer) {
		rc = dc__fail(ei, DC_ERR_INVAL, "signed: no --sign-from and no from header");
		goto out;
	}
	if (signer) {
		const struct dc_key *sk = NULL;
		const char *kid = NULL;
		if ((rc = pick_signer(&op, signer, &sk, &kid)))
			goto out;
		if (from && !did_eq(from, kid)) {
			rc = dc__fail(ei, DC_ERR_DENIED, "signer %.200s is not the message's from (%.200s)", kid, from);
			goto out;
		}
		char *jws = NULL;
		size_t jws_len = 0;
		if ((rc = dc__jws_sign(sk, kid, (const uint8_t *)payload, payload_len, &jws, &jws_len))) {
			dc__fail(ei, rc, "signing with %.200s failed", kid);
			goto out;
		}
		owned = jws;
		payload = jws;
		payload_len = jws_len;
	}
	if (o->mode == DC_PACK_SIGNED) {
		rc = push_item(out, NULL, NULL, owned, payload_len);
		if (rc == DC_OK)
			owned = NULL;
		goto out;
	}
	if (o->mode != DC_PACK_ANONCRYPT && o->mode != DC_PACK_AUTHCRYPT) {
		rc = dc__fail(ei, DC_ERR_INVAL, "unknown pack mode %d", (int)o->mode);
		goto out;
	}

	/* recipients: --to, else the message's "to" */
	size_t n_to = o->n_to;
	const char *const *to = o->to;
	if (n_to == 0) {
		to = (const char *const *)hdr_to;
		n_to = n_hdr_to;
	}
	if (n_to == 0) {
		rc = dc__fail(ei, DC_ERR_INVAL, "no recipient: give --to or a to header");
		goto out;
	}
	if ((rc = group_to(&op, to, n_to, &groups, &n_groups)))
		goto out;

	enum dc_enc anon_enc = o->enc ? o->enc : DC_ENC_XC20P;
	const char *sender = NULL;
	if (o->mode == DC_PACK_AUTHCRYPT) {
		if (o->enc && o->enc != DC_ENC_A256CBC_HS512 && !o->protect_sender) {
			rc = dc__fail(ei, DC_ERR_UNSUPPORTED, "authcrypt (ECDH-1PU) works only with A256CBC-HS512");
			goto out;
		}
		sender = o->from ? o->from : from;
		if (!sender) {
			rc = dc__fail(ei, DC_ERR_INVAL, "authcrypt: the message has no from header");
			goto out;
		}
		if (!from || !did_eq(from, sender)) {
			rc = dc__fail(ei, DC_ERR_DENIED, "authcrypt sender %.200s does not match the from header (%.200s)",
			              sender, from ? from : "none");
			goto out;
		}
	} else if (o->protect_sender) {
		rc = dc__fail(ei, DC_ERR_INVAL, "--protect-sender goes with authcrypt");
		goto out;
	}
	size_t cap = c->lim.max_recipients;
	keys = calloc(cap, sizeof *keys);
	if (!keys) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	for (size_t gi = 0; gi < n_groups; gi++) {
		const struct group *g = &groups[gi];
		const struct dc_did_doc *rdoc = NULL;
		size_t n = 0;
		if ((rc = dc__op_resolve(&op, g->did, &rdoc)))
			goto out;
		if (!in_to(hdr_to, n_hdr_to, has_to, g->did)) {
			rc = dc__fail(ei, DC_ERR_DENIED, "recipient %.200s is not in the message's to header", g->did);
			goto out;
		}
		char *env = NULL, *endpoint = NULL;
		size_t env_len = 0;
		if (o->mode == DC_PACK_AUTHCRYPT) {
			const struct dc_key *skey = NULL;
			if ((rc = pick_sender(&op, sender, rdoc, g, o->curve, &skey, keys, cap, &n)))
				goto out;
			rc = dc__jwe_encrypt(DC_ALG_ECDH_1PU_A256KW, DC_ENC_A256CBC_HS512, skey, dc_key_kid(skey), keys, n,
			                     (const uint8_t *)payload, payload_len, &env, &env_len, ei);
			if (rc == DC_OK && o->protect_sender) {
				char *outer = NULL;
				size_t outer_len = 0;
				rc = dc__jwe_encrypt(DC_ALG_ECDH_ES_A256KW, anon_enc, NULL, NULL, keys, n,
				                     (const uint8_t *)env, env_len, &outer, &outer_len, ei);
				free(env);
				env = outer;
				env_len = outer_len;
			}
		} else {
			if ((rc = pick_rcpt_keys(&op, rdoc, g, o->curve, keys, cap, &n)))
				goto out;
			rc = dc__jwe_encrypt(DC_ALG_ECDH_ES_A256KW, anon_enc, NULL, NULL, keys, n, (const uint8_t *)payload,
			                     payload_len, &env, &env_len, ei);
		}
		if (rc == DC_OK)
			rc = wrap_forwards(&op, rdoc, o->service, o->no_forward, expires, anon_enc, &env, &env_len, &endpoint);
		if (rc == DC_OK)
			rc = push_item(out, g->did, endpoint, env, env_len);
		if (rc) {
			free(env);
			free(endpoint);
			goto out;
		}
	}
out:
	if (rc)
		dc_pack_result_clear(out);
	if (rc && ei && ei->msg[0] == 0)
		dc__fail(ei, rc, "pack: %s", dc_strerror(rc));
	free(keys);
	for (size_t i = 0; i < n_hdr_to; i++)
		free(hdr_to[i]);
	free(hdr_to);
	free(from);
	free(owned);
	free(rotated);
	groups_free(groups, n_groups);
	cJSON_Delete(msg);
	dc__op_clear(&op);
	return rc;
}
