/* did:key (and did:peer:0, which is the same document under another DID): a Multikey
 * verification method per key. Ed25519 keys also yield the X25519 keyAgreement key derived
 * from them, as the did:key method does. */
#include "internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cJSON *vm_json(const char *did, const char *mb)
{
	char id[2048];
	snprintf(id, sizeof id, "%s#%s", did, mb);
	cJSON *vm = cJSON_CreateObject();
	if (!vm || !cJSON_AddStringToObject(vm, "id", id) || !cJSON_AddStringToObject(vm, "type", "Multikey") ||
	    !cJSON_AddStringToObject(vm, "controller", did) || !cJSON_AddStringToObject(vm, "publicKeyMultibase", mb)) {
		cJSON_Delete(vm);
		return NULL;
	}
	return vm;
}

static bool add_ref(cJSON *doc, const char *rel, const char *did, const char *mb)
{
	char id[2048];
	snprintf(id, sizeof id, "%s#%s", did, mb);
	cJSON *arr = cJSON_GetObjectItemCaseSensitive(doc, rel);
	if (!arr)
		arr = cJSON_AddArrayToObject(doc, rel);
	return arr && cJSON_AddItemToArray(arr, cJSON_CreateString(id));
}

/* did is the full DID; mb the multibase key after the method prefix */
static dc_err key_doc(const char *did, const char *mb, cJSON **out, struct dc_errinfo *ei)
{
	*out = NULL;
	struct dc_key *k = NULL, *x = NULL;
	char *xmb = NULL;
	dc_err rc = dc__multikey_decode(mb, &k);
	if (rc)
		return dc__fail(ei, DC_ERR_RESOLVE, "%.200s: not a valid multibase key", did);
	rc = DC_ERR_NOMEM;
	cJSON *doc = cJSON_CreateObject(), *ctx = cJSON_CreateArray(), *vms = NULL;
	if (!doc || !ctx)
		goto out;
	cJSON_AddItemToArray(ctx, cJSON_CreateString("https://www.w3.org/ns/did/v1"));
	cJSON_AddItemToArray(ctx, cJSON_CreateString("https://w3id.org/security/multikey/v1"));
	cJSON_AddItemToObject(doc, "@context", ctx);
	ctx = NULL;
	if (!cJSON_AddStringToObject(doc, "id", did) || !(vms = cJSON_AddArrayToObject(doc, "verificationMethod")))
		goto out;
	cJSON_AddItemToArray(vms, vm_json(did, mb));
	if (dc__sig_alg_for_crv(k->crv) != DC_SIG_NONE) {
		if (!add_ref(doc, "authentication", did, mb) || !add_ref(doc, "assertionMethod", did, mb))
			goto out;
	}
	if (dc__crv_is_key_agreement(k->crv) && !add_ref(doc, "keyAgreement", did, mb))
		goto out;
	if (k->crv == DC_CRV_ED25519) {
		uint8_t xpub[32];
		if (crypto_sign_ed25519_pk_to_curve25519(xpub, k->pub) != 0) {
			rc = dc__fail(ei, DC_ERR_RESOLVE, "%.200s: Ed25519 key has no X25519 form", did);
			goto out;
		}
		if (dc__key_from_pub(DC_CRV_X25519, xpub, 32, &x) || dc__multikey_encode(x, &xmb))
			goto out;
		cJSON_AddItemToArray(vms, vm_json(did, xmb));
		if (!add_ref(doc, "keyAgreement", did, xmb))
			goto out;
	}
	*out = doc;
	doc = NULL;
	rc = DC_OK;
out:
	cJSON_Delete(doc);
	cJSON_Delete(ctx);
	dc_key_free(k);
	dc_key_free(x);
	free(xmb);
	return rc;
}

dc_err dc__did_key_resolve(const char *did, cJSON **doc, struct dc_errinfo *ei)
{
	*doc = NULL;
	if (strncmp(did, "did:key:", 8) != 0 || strlen(did) > 512)
		return dc__fail(ei, DC_ERR_RESOLVE, "not a did:key: %.200s", did);
	return key_doc(did, did + 8, doc, ei);
}

/* exposed to did_peer.c for numalgo 0 */
dc_err dc__did_key_doc(const char *did, const char *mb, cJSON **doc, struct dc_errinfo *ei);
dc_err dc__did_key_doc(const char *did, const char *mb, cJSON **doc, struct dc_errinfo *ei)
{
	return key_doc(did, mb, doc, ei);
}
