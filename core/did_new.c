/* Creating DIDs: an Ed25519 key for authentication and an X25519 key for keyAgreement.
 *   did:key, did:peer:0: the Ed25519 key; the X25519 key is the one derived from it, as those
 *                        methods resolve it (so there is only one key to generate).
 *   did:peer:2: .E<X25519> .V<Ed25519> and one .S per endpoint,
 *               {"t":"dm","s":{"uri":..,"a":["didcomm/v2"],"r":[routing keys]}}.
 *   did:peer:4: the long form of an input document with both keys (Multikey, #key-1 X25519
 *               keyAgreement, #key-2 Ed25519 authentication) and one DIDCommMessaging
 *               service per endpoint.
 * The private keys go to the keystore under the kids that resolving the new DID yields (we
 * resolve it to learn them). For did:peer:4 also under the short form's kids, since a peer
 * that has seen the long form may address us by either. */
#include "internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENDPOINTS 16
#define MAX_ROUTING 16
#define MAX_URI 2048

/* {"t":"dm","s":{"uri":..,"a":["didcomm/v2"],"r":[..]}} as base64url */
static dc_err peer2_service(const char *uri, const char *const *rk, size_t n_rk, char **out)
{
	*out = NULL;
	cJSON *s = cJSON_CreateObject(), *ep = NULL, *a = NULL, *r = NULL;
	char *txt = NULL;
	dc_err rc = DC_ERR_NOMEM;
	if (!s || !cJSON_AddStringToObject(s, "t", "dm") || !(ep = cJSON_AddObjectToObject(s, "s")) ||
	    !cJSON_AddStringToObject(ep, "uri", uri) || !(a = cJSON_AddArrayToObject(ep, "a")) ||
	    !cJSON_AddItemToArray(a, cJSON_CreateString("didcomm/v2")) || !(r = cJSON_AddArrayToObject(ep, "r")))
		goto out;
	for (size_t i = 0; i < n_rk; i++)
		if (!cJSON_AddItemToArray(r, cJSON_CreateString(rk[i])))
			goto out;
	if (!(txt = cJSON_PrintUnformatted(s)))
		goto out;
	rc = dc__b64url_encode((const uint8_t *)txt, strlen(txt), out);
out:
	free(txt);
	cJSON_Delete(s);
	return rc;
}

struct sbuf {
	char *s;
	size_t len, cap;
};

static dc_err sb_add(struct sbuf *b, const char *a)
{
	size_t n = strlen(a);
	if (b->len + n + 1 > b->cap) {
		size_t nc = (b->len + n + 1) * 2;
		char *ns = realloc(b->s, nc);
		if (!ns)
			return DC_ERR_NOMEM;
		b->s = ns;
		b->cap = nc;
	}
	memcpy(b->s + b->len, a, n + 1);
	b->len += n;
	return DC_OK;
}

static bool add_str(cJSON *arr, const char *s)
{
	cJSON *v = cJSON_CreateString(s);
	if (v && cJSON_AddItemToArray(arr, v))
		return true;
	cJSON_Delete(v);
	return false;
}

static bool add_vm(cJSON *vms, const char *id, const char *mb)
{
	cJSON *vm = cJSON_CreateObject();
	if (vm && cJSON_AddStringToObject(vm, "id", id) && cJSON_AddStringToObject(vm, "type", "Multikey") &&
	    cJSON_AddStringToObject(vm, "publicKeyMultibase", mb) && cJSON_AddItemToArray(vms, vm))
		return true;
	cJSON_Delete(vm);
	return false;
}

/* the did:peer:4 input document: no id, relative ids, no controllers (ours) */
static cJSON *peer4_input(const char *xmb, const char *emb, const struct dc_did_new_opts *o)
{
	cJSON *d = cJSON_CreateObject(), *ctx, *vms, *ka, *auth, *svcs = NULL;
	if (!d || !(ctx = cJSON_AddArrayToObject(d, "@context")) || !add_str(ctx, "https://www.w3.org/ns/did/v1") ||
	    !add_str(ctx, "https://w3id.org/security/multikey/v1") ||
	    !(vms = cJSON_AddArrayToObject(d, "verificationMethod")) || !add_vm(vms, "#key-1", xmb) ||
	    !add_vm(vms, "#key-2", emb) || !(ka = cJSON_AddArrayToObject(d, "keyAgreement")) || !add_str(ka, "#key-1") ||
	    !(auth = cJSON_AddArrayToObject(d, "authentication")) || !add_str(auth, "#key-2"))
		goto fail;
	if (o->n_endpoints && !(svcs = cJSON_AddArrayToObject(d, "service")))
		goto fail;
	for (size_t i = 0; i < o->n_endpoints; i++) {
		char id[40];
		if (i == 0)
			snprintf(id, sizeof id, "#service");
		else
			snprintf(id, sizeof id, "#service-%zu", i);
		cJSON *s = cJSON_CreateObject(), *ep, *acc, *rk;
		if (!s || !cJSON_AddItemToArray(svcs, s)) {
			cJSON_Delete(s);
			goto fail;
		}
		if (!cJSON_AddStringToObject(s, "id", id) || !cJSON_AddStringToObject(s, "type", "DIDCommMessaging") ||
		    !(ep = cJSON_AddObjectToObject(s, "serviceEndpoint")) || !cJSON_AddStringToObject(ep, "uri", o->endpoints[i]) ||
		    !(acc = cJSON_AddArrayToObject(ep, "accept")) || !add_str(acc, "didcomm/v2") ||
		    !(rk = cJSON_AddArrayToObject(ep, "routingKeys")))
			goto fail;
		for (size_t k = 0; k < o->n_routing_keys; k++)
			if (!add_str(rk, o->routing_keys[k]))
				goto fail;
	}
	return d;
fail:
	cJSON_Delete(d);
	return NULL;
}

static dc_err check_opts(const struct dc_did_new_opts *o, struct dc_errinfo *ei)
{
	if (o->method != DC_DID_KEY && o->method != DC_DID_PEER0 && o->method != DC_DID_PEER2 && o->method != DC_DID_PEER4)
		return dc__fail(ei, DC_ERR_INVAL, "did new: unknown method %d", (int)o->method);
	if ((o->n_endpoints && !o->endpoints) || (o->n_routing_keys && !o->routing_keys))
		return dc__fail(ei, DC_ERR_INVAL, "did new: endpoint or routing key count without a list");
	if (o->n_endpoints > MAX_ENDPOINTS || o->n_routing_keys > MAX_ROUTING)
		return dc__fail(ei, DC_ERR_INVAL, "did new: at most %d endpoints and %d routing keys", MAX_ENDPOINTS,
		                MAX_ROUTING);
	if (o->n_endpoints && o->method != DC_DID_PEER2 && o->method != DC_DID_PEER4)
		return dc__fail(ei, DC_ERR_INVAL, "did new: endpoints need did:peer:2 or did:peer:4");
	if (o->n_routing_keys && !o->n_endpoints)
		return dc__fail(ei, DC_ERR_INVAL, "did new: routing keys need an endpoint");
	for (size_t i = 0; i < o->n_endpoints; i++) {
		const char *e = o->endpoints[i];
		if (!e || !e[0] || strlen(e) > MAX_URI)
			return dc__fail(ei, DC_ERR_INVAL, "did new: endpoint %zu is empty or longer than %d", i + 1, MAX_URI);
		for (const char *p = e; *p; p++)
			if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f)
				return dc__fail(ei, DC_ERR_INVAL, "did new: endpoint %zu holds a space or control character", i + 1);
	}
	for (size_t i = 0; i < o->n_routing_keys; i++) {
		const char *k = o->routing_keys[i];
		if (!k || !dc__is_did(k) || !strchr(k, '#') || strlen(k) > MAX_URI)
			return dc__fail(ei, DC_ERR_INVAL, "did new: routing key %.200s is not a DID URL with a #fragment",
			                k ? k : "(null)");
	}
	return DC_OK;
}

/* a second private key like k under another kid */
static dc_err dup_private(const struct dc_key *k, const char *kid, struct dc_key **out)
{
	*out = NULL;
	uint8_t d[DC_MAX_PRIV];
	size_t dl = 0;
	struct dc_key *c = NULL;
	dc_err rc = dc__key_priv_d(k, d, sizeof d, &dl);
	if (rc == DC_OK)
		rc = dc__key_from_pub(k->crv, k->pub, k->pub_len, &c);
	if (rc == DC_OK)
		rc = dc__key_set_priv(c, d, dl);
	if (rc == DC_OK)
		rc = dc__key_set_kid(c, kid);
	sodium_memzero(d, sizeof d);
	if (rc) {
		dc_key_free(c);
		return rc;
	}
	*out = c;
	return DC_OK;
}

/* Resolve did through r and find the kids of our two keys in it (the first keyAgreement
 * key, X25519, and the first authentication key, Ed25519, which must be ours). */
static dc_err our_kids(struct dc_resolver *r, const char *did, const struct dc_key *x, const struct dc_key *ed,
                       char **xkid, char **ekid, struct dc_errinfo *ei)
{
	*xkid = *ekid = NULL;
	struct dc_did_doc *doc = NULL;
	dc_err rc = dc_resolve(r, did, &doc, ei);
	if (rc)
		return rc;
	const struct dc_vm *kv = doc->n_ka ? dc__did_doc_vm(doc, doc->ka[0]) : NULL;
	const struct dc_vm *av = doc->n_auth ? dc__did_doc_vm(doc, doc->auth[0]) : NULL;
	if (!kv || !av || kv->key->crv != DC_CRV_X25519 || av->key->crv != DC_CRV_ED25519 ||
	    sodium_memcmp(kv->key->pub, x->pub, 32) != 0 || sodium_memcmp(av->key->pub, ed->pub, 32) != 0) {
		rc = dc__fail(ei, DC_ERR_RESOLVE, "did new: the new DID does not resolve to its keys");
	} else if (!(*xkid = strdup(kv->id)) || !(*ekid = strdup(av->id))) {
		free(*xkid);
		*xkid = NULL;
		rc = DC_ERR_NOMEM;
	}
	dc_did_doc_free(doc);
	return rc;
}

dc_err dc_did_new(const struct dc_did_new_opts *o, struct dc_keystore *ks, char **did_out, struct dc_errinfo *ei)
{
	if (!did_out)
		return DC_ERR_INVAL;
	*did_out = NULL;
	if (!o || !ks)
		return DC_ERR_INVAL;
	dc_err rc = check_opts(o, ei);
	if (rc)
		return rc;
	struct dc_key *ed = NULL, *x = NULL, *extra[2] = { NULL, NULL };
	char *emb = NULL, *xmb = NULL, *xkid = NULL, *ekid = NULL;
	struct sbuf did = { 0 };
	struct dc_resolver *r = NULL;
	if ((rc = dc__key_generate(DC_CRV_ED25519, &ed)))
		goto out;
	if (o->method == DC_DID_KEY || o->method == DC_DID_PEER0) {
		uint8_t xpub[32], xsk[32];
		if (crypto_sign_ed25519_pk_to_curve25519(xpub, ed->pub) != 0 ||
		    crypto_sign_ed25519_sk_to_curve25519(xsk, ed->priv) != 0) {
			sodium_memzero(xsk, sizeof xsk);
			rc = DC_ERR_CRYPTO;
			goto out;
		}
		rc = dc__key_from_pub(DC_CRV_X25519, xpub, 32, &x);
		if (rc == DC_OK)
			rc = dc__key_set_priv(x, xsk, 32);
		sodium_memzero(xsk, sizeof xsk);
		if (rc)
			goto out;
	} else if ((rc = dc__key_generate(DC_CRV_X25519, &x))) {
		goto out;
	}
	if ((rc = dc__multikey_encode(ed, &emb)) || (rc = dc__multikey_encode(x, &xmb)))
		goto out;
	switch (o->method) {
	case DC_DID_KEY:
	case DC_DID_PEER0:
		if ((rc = sb_add(&did, o->method == DC_DID_KEY ? "did:key:" : "did:peer:0")) || (rc = sb_add(&did, emb)))
			goto out;
		break;
	case DC_DID_PEER2:
		if ((rc = sb_add(&did, "did:peer:2.E")) || (rc = sb_add(&did, xmb)) || (rc = sb_add(&did, ".V")) ||
		    (rc = sb_add(&did, emb)))
			goto out;
		for (size_t i = 0; i < o->n_endpoints; i++) {
			char *s = NULL;
			if ((rc = peer2_service(o->endpoints[i], o->routing_keys, o->n_routing_keys, &s)))
				goto out;
			rc = sb_add(&did, ".S");
			if (rc == DC_OK)
				rc = sb_add(&did, s);
			free(s);
			if (rc)
				goto out;
		}
		break;
	case DC_DID_PEER4: {
		cJSON *in = peer4_input(xmb, emb, o);
		char *d4 = NULL;
		rc = in ? dc__did_peer4_encode(in, &d4) : DC_ERR_NOMEM;
		cJSON_Delete(in);
		if (rc == DC_OK)
			rc = sb_add(&did, d4);
		free(d4);
		if (rc)
			goto out;
		break;
	}
	}
	/* resolve ourselves to learn the kids, exactly as others will see them; the short form
	 * of a did:peer:4 resolves through the long form the resolver has just seen */
	if ((rc = dc_resolver_new(2, &r)) || (rc = our_kids(r, did.s, x, ed, &xkid, &ekid, ei)))
		goto out;
	size_t sl = dc__did_peer4_short_len(did.s);
	if (sl) {
		char *sd = strndup(did.s, sl), *sx = NULL, *se = NULL;
		rc = sd ? our_kids(r, sd, x, ed, &sx, &se, ei) : DC_ERR_NOMEM;
		if (rc == DC_OK)
			rc = dup_private(x, sx, &extra[0]);
		if (rc == DC_OK)
			rc = dup_private(ed, se, &extra[1]);
		free(sd);
		free(sx);
		free(se);
		if (rc)
			goto out;
	}
	if ((rc = dc__key_set_kid(x, xkid)) || (rc = dc__key_set_kid(ed, ekid)))
		goto out;
	rc = dc_keystore_take(ks, x);
	x = NULL;
	if (rc == DC_OK)
		rc = dc_keystore_take(ks, ed);
	ed = NULL;
	for (size_t i = 0; i < 2; i++) {
		if (rc == DC_OK && extra[i])
			rc = dc_keystore_take(ks, extra[i]);
		else
			dc_key_free(extra[i]);
		extra[i] = NULL;
	}
	if (rc)
		goto out;
	*did_out = did.s;
	did.s = NULL;
out:
	dc_resolver_free(r);
	dc_key_free(ed);
	dc_key_free(x);
	dc_key_free(extra[0]);
	dc_key_free(extra[1]);
	free(emb);
	free(xmb);
	free(xkid);
	free(ekid);
	free(did.s);
	if (rc && ei && !ei->msg[0])
		dc__fail(ei, rc, "did new: %s", dc_strerror(rc));
	return rc;
}
