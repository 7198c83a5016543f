/* did:key (w3c-ccg did-method-key), and did:peer:0, which is the same document under another
 * DID. One Multikey verification method per key, id "<did>#<multibase key>":
 *   Ed25519: authentication + assertionMethod, and the X25519 key derived from it
 *            (crypto_sign_ed25519_pk_to_curve25519) as a second method under keyAgreement,
 *            as the did:key method does;
 *   X25519: keyAgreement;  P-256, P-384, P-521: keyAgreement, and authentication +
 *   assertionMethod when we can verify their signatures (P-256);  secp256k1: authentication
 *   + assertionMethod. */
#include "internal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEY_DID 512 /* the longest did:key (P-521) is under 120 characters */

static char *join3(const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
	char *s = malloc(la + lb + lc + 1);
	if (s) {
		memcpy(s, a, la);
		memcpy(s + la, b, lb);
		memcpy(s + la + lb, c, lc + 1);
	}
	return s;
}

/* add the method "<did>#<mb>" and reference it from each relationship in rels */
static bool add_method(cJSON *doc, cJSON *vms, const char *did, const char *mb, const char *const *rels, size_t n)
{
	char *id = join3(did, "#", mb);
	cJSON *vm = cJSON_CreateObject();
	bool ok = id && vm && cJSON_AddStringToObject(vm, "id", id) && cJSON_AddStringToObject(vm, "type", "Multikey") &&
	          cJSON_AddStringToObject(vm, "controller", did) && cJSON_AddStringToObject(vm, "publicKeyMultibase", mb);
	if (ok && cJSON_AddItemToArray(vms, vm))
		vm = NULL;
	else
		ok = false;
	for (size_t i = 0; ok && i < n; i++) {
		cJSON *arr = cJSON_GetObjectItemCaseSensitive(doc, rels[i]);
		if (!arr && !(arr = cJSON_AddArrayToObject(doc, rels[i])))
			ok = false;
		cJSON *ref = ok ? cJSON_CreateString(id) : NULL;
		if (!ref || !cJSON_AddItemToArray(arr, ref)) {
			cJSON_Delete(ref);
			ok = false;
		}
	}
	cJSON_Delete(vm);
	free(id);
	return ok;
}

dc_err dc__did_key_doc(const char *did, const char *mb, cJSON **out, struct dc_errinfo *ei)
{
	*out = NULL;
	struct dc_key *k = NULL, *x = NULL;
	char *xmb = NULL;
	cJSON *doc = NULL, *ctx, *vms;
	dc_err rc = dc__multikey_decode(mb, &k);
	if (rc) {
		return rc == DC_ERR_NOMEM ? rc
		                          : dc__fail(ei, DC_ERR_RESOLVE, "%.200s: %s multibase key", did,
		                                     rc == DC_ERR_UNSUPPORTED ? "not a supported" : "not a valid");
	}
	rc = DC_ERR_NOMEM;
	if (!(doc = cJSON_CreateObject()) || !(ctx = cJSON_AddArrayToObject(doc, "@context")) ||
	    !cJSON_AddItemToArray(ctx, cJSON_CreateString("https://www.w3.org/ns/did/v1")) ||
	    !cJSON_AddItemToArray(ctx, cJSON_CreateString("https://w3id.org/security/multikey/v1")) ||
	    !cJSON_AddStringToObject(doc, "id", did) || !(vms = cJSON_AddArrayToObject(doc, "verificationMethod")))
		goto out;
	const char *rels[3];
	size_t n = 0;
	if (dc__sig_alg_for_crv(k->crv) != DC_SIG_NONE) {
		rels[n++] = "authentication";
		rels[n++] = "assertionMethod";
	}
	if (dc__crv_is_key_agreement(k->crv))
		rels[n++] = "keyAgreement";
	if (!add_method(doc, vms, did, mb, rels, n))
		goto out;
	if (k->crv == DC_CRV_ED25519) {
		uint8_t xpub[32];
		if (crypto_sign_ed25519_pk_to_curve25519(xpub, k->pub) != 0) {
			rc = dc__fail(ei, DC_ERR_RESOLVE, "%.200s: the Ed25519 key has no X25519 form", did);
			goto out;
		}
		static const char *const ka[] = { "keyAgreement" };
		if ((rc = dc__key_from_pub(DC_CRV_X25519, xpub, 32, &x)) || (rc = dc__multikey_encode(x, &xmb)))
			goto out;
		rc = DC_ERR_NOMEM;
		if (!add_method(doc, vms, did, xmb, ka, 1))
			goto out;
	}
	*out = doc;
	doc = NULL;
	rc = DC_OK;
out:
	cJSON_Delete(doc);
	dc_key_free(k);
	dc_key_free(x);
	free(xmb);
	return rc;
}

dc_err dc__did_key_resolve(const char *did, cJSON **doc, struct dc_errinfo *ei)
{
	*doc = NULL;
	if (!did || strncmp(did, "did:key:", 8) != 0 || strnlen(did, MAX_KEY_DID + 1) > MAX_KEY_DID)
		return dc__fail(ei, DC_ERR_RESOLVE, "not a did:key: %.200s", did ? did : "(null)");
	return dc__did_key_doc(did, did + 8, doc, ei);
}
