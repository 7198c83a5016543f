/* Creating DIDs: an Ed25519 key for authentication and an X25519 key for keyAgreement (for
 * did:key and did:peer:0 the X25519 key is the one derived from the Ed25519 key, as those
 * methods resolve it). Private keys go to the keystore under the kids the new DID resolves to. */
#include "internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

dc_err dc__did_peer4_encode(const cJSON *input, char **did);

/* {"t":"dm","s":{"uri":..,"a":["didcomm/v2"],"r":[..]}} as base64url */
static dc_err peer2_service(const char *uri, const char *const *rk, size_t n_rk, char **out)
{
	*out = NULL;
	cJSON *s = cJSON_CreateObject(), *ep = NULL, *a = NULL, *r = NULL;
	char *txt = NULL;
	dc_err rc = DC_ERR_NOMEM;
	if (!s || !cJSON_AddStringToObject(s, "t", "dm") || !(ep = cJSON_AddObjectToObject(s, "s")) ||
	    !cJSON_AddStringToObject(ep, "uri", uri) || !(a = cJSON_AddArrayToObject(ep, "a")) ||
	    !(r = cJSON_AddArrayToObject(ep, "r")))
		goto out;
	cJSON_AddItemToArray(a, cJSON_CreateString("didcomm/v2"));
	for (size_t i = 0; i < n_rk; i++)
		cJSON_AddItemToArray(r, cJSON_CreateString(rk[i]));
	if (!(txt = cJSON_PrintUnformatted(s)))
		goto out;
	rc = dc__b64url_encode((const uint8_t *)txt, strlen(txt), out);
out:
	free(txt);
	cJSON_Delete(s);
	return rc;
}

static dc_err append(char **s, size_t *len, size_t *cap, const char *a)
{
	size_t n = strlen(a);
	if (*len + n + 1 > *cap) {
		size_t nc = (*len + n + 1) * 2;
		char *ns = realloc(*s, nc);
		if (!ns)
			return DC_ERR_NOMEM;
		*s = ns;
		*cap = nc;
	}
	memcpy(*s + *len, a, n + 1);
	*len += n;
	return DC_OK;
}

static cJSON *peer4_input(const char *xmb, const char *emb, const struct dc_did_new_opts *o)
{
	cJSON *d = cJSON_CreateObject(), *vms = cJSON_AddArrayToObject(d, "verificationMethod");
	const char *mbs[2] = { xmb, emb }, *ids[2] = { "#key-1", "#key-2" };
	for (int i = 0; i < 2; i++) {
		cJSON *vm = cJSON_CreateObject();
		cJSON_AddStringToObject(vm, "id", ids[i]);
		cJSON_AddStringToObject(vm, "type", "Multikey");
		cJSON_AddStringToObject(vm, "publicKeyMultibase", mbs[i]);
		cJSON_AddItemToArray(vms, vm);
	}
	cJSON_AddItemToArray(cJSON_AddArrayToObject(d, "keyAgreement"), cJSON_CreateString("#key-1"));
	cJSON_AddItemToArray(cJSON_AddArrayToObject(d, "authentication"), cJSON_CreateString("#key-2"));
	if (o->n_endpoints) {
		cJSON *svcs = cJSON_AddArrayToObject(d, "service");
		for (size_t i = 0; i < o->n_endpoints; i++) {
			char id[32];
			snprintf(id, sizeof id, "#didcomm-%zu", i + 1);
			cJSON *s = cJSON_CreateObject(), *ep;
			cJSON_AddStringToObject(s, "id", id);
			cJSON_AddStringToObject(s, "type", "DIDCommMessaging");
			ep = cJSON_AddObjectToObject(s, "serviceEndpoint");
			cJSON_AddStringToObject(ep, "uri", o->endpoints[i]);
			cJSON_AddItemToArray(cJSON_AddArrayToObject(ep, "accept"), cJSON_CreateString("didcomm/v2"));
			cJSON *rk = cJSON_AddArrayToObject(ep, "routingKeys");
			for (size_t k = 0; k < o->n_routing_keys; k++)
				cJSON_AddItemToArray(rk, cJSON_CreateString(o->routing_keys[k]));
			cJSON_AddItemToArray(svcs, s);
		}
	}
	return d;
}

dc_err dc_did_new(const struct dc_did_new_opts *o, struct dc_keystore *ks, char **did_out, struct dc_errinfo *ei)
{
	*did_out = NULL;
	struct dc_key *ed = NULL, *x = NULL;
	char *emb = NULL, *xmb = NULL, *did = NULL;
	struct dc_did_doc *doc = NULL;
	struct dc_resolver *r = NULL;
	dc_err rc;
	if (!o || !ks)
		return DC_ERR_INVAL;
	for (size_t i = 0; i < o->n_endpoints; i++)
		if (!o->endpoints[i] || !*o->endpoints[i] || strlen(o->endpoints[i]) > 2048)
			return dc__fail(ei, DC_ERR_INVAL, "did new: empty or over-long endpoint");
	for (size_t i = 0; i < o->n_routing_keys; i++)
		if (!o->routing_keys[i] || !dc__is_did(o->routing_keys[i]))
			return dc__fail(ei, DC_ERR_INVAL, "did new: routing key %.200s is not a DID URL",
			                o->routing_keys[i] ? o->routing_keys[i] : "(null)");
	if ((rc = dc__key_generate(DC_CRV_ED25519, &ed)))
		goto out;
	bool derived = o->method == DC_DID_KEY || o->method == DC_DID_PEER0;
	if (derived) {
		uint8_t xpub[32], xsk[32];
		if (crypto_sign_ed25519_pk_to_curve25519(xpub, ed->pub) != 0 ||
		    crypto_sign_ed25519_sk_to_curve25519(xsk, ed->priv) != 0) {
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
	size_t len = 0, cap = 0;
	switch (o->method) {
	case DC_DID_KEY:
	case DC_DID_PEER0:
		if ((rc = append(&did, &len, &cap, o->method == DC_DID_KEY ? "did:key:" : "did:peer:0")) ||
		    (rc = append(&did, &len, &cap, emb)))
			goto out;
		break;
	case DC_DID_PEER2:
		if ((rc = append(&did, &len, &cap, "did:peer:2.E")) || (rc = append(&did, &len, &cap, xmb)) ||
		    (rc = append(&did, &len, &cap, ".V")) || (rc = append(&did, &len, &cap, emb)))
			goto out;
		for (size_t i = 0; i < o->n_endpoints; i++) {
			char *s = NULL;
			if ((rc = peer2_service(o->endpoints[i], o->routing_keys, o->n_routing_keys, &s)))
				goto out;
			rc = append(&did, &len, &cap, ".S");
			if (rc == DC_OK)
				rc = append(&did, &len, &cap, s);
			free(s);
			if (rc)
				goto out;
		}
		break;
	case DC_DID_PEER4: {
		cJSON *in = peer4_input(xmb, emb, o);
		rc = in ? dc__did_peer4_encode(in, &did) : DC_ERR_NOMEM;
		cJSON_Delete(in);
		if (rc)
			goto out;
		break;
	}
	default:
		rc = dc__fail(ei, DC_ERR_INVAL, "did new: unknown method");
		goto out;
	}
	if (o->method != DC_DID_PEER2 && o->method != DC_DID_PEER4 && o->n_endpoints) {
		rc = dc__fail(ei, DC_ERR_INVAL, "did new: endpoints need did:peer:2 or did:peer:4");
		goto out;
	}
	/* resolve ourselves to learn the kids, exactly as others will see them */
	if ((rc = dc_resolver_new(1, &r)) || (rc = dc_resolve(r, did, &doc, ei)))
		goto out;
	if (doc->n_ka < 1 || doc->n_auth < 1) {
		rc = dc__fail(ei, DC_ERR_RESOLVE, "did new: the new DID does not resolve to its keys");
		goto out;
	}
	const struct dc_vm *kv = dc__did_doc_vm(doc, doc->ka[0]), *av = dc__did_doc_vm(doc, doc->auth[0]);
	if (!kv || !av || kv->key->crv != DC_CRV_X25519 || av->key->crv != DC_CRV_ED25519) {
		rc = dc__fail(ei, DC_ERR_RESOLVE, "did new: unexpected keys in the new DID document");
		goto out;
	}
	if ((rc = dc__key_set_kid(x, kv->id)) || (rc = dc__key_set_kid(ed, av->id)))
		goto out;
	rc = dc_keystore_take(ks, x);
	x = NULL;
	if (rc)
		goto out;
	rc = dc_keystore_take(ks, ed);
	ed = NULL;
	if (rc)
		goto out;
	*did_out = did;
	did = NULL;
out:
	dc_did_doc_free(doc);
	dc_resolver_free(r);
	dc_key_free(ed);
	dc_key_free(x);
	free(emb);
	free(xmb);
	free(did);
	if (rc && ei && !ei->msg[0])
		dc__fail(ei, rc, "did new: %s", dc_strerror(rc));
	return rc;
}
