/* Generated parties for the round-trip and hostile-input suites. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* suite-init code: no CUnit FATAL asserts (they longjmp out of a test that is not running) */
#define TRY(x)                                                                   \
	do {                                                                     \
		if ((x) != DC_OK) {                                              \
			fprintf(stderr, "tu_make_party %s: %s failed\n", did, #x); \
			cJSON_Delete(doc);                                       \
			return -1;                                               \
		}                                                                \
	} while (0)

static const char *crv_tag(enum dc_crv c)
{
	switch (c) {
	case DC_CRV_X25519: return "x25519";
	case DC_CRV_P256: return "p256";
	case DC_CRV_P384: return "p384";
	case DC_CRV_P521: return "p521";
	case DC_CRV_ED25519: return "ed25519";
	case DC_CRV_SECP256K1: return "k256";
	default: return "none";
	}
}

int tu_make_party(struct dc_resolver *res, struct dc_keystore **ks, const char *did, const enum dc_crv *curves,
                   size_t n_curves, size_t per_curve, bool signers, const char *svc_uri,
                   const char *const *routing, size_t n_routing)
{
	cJSON *doc = cJSON_CreateObject();
	cJSON_AddStringToObject(doc, "id", did);
	cJSON *vms = cJSON_AddArrayToObject(doc, "verificationMethod");
	cJSON *ka = cJSON_AddArrayToObject(doc, "keyAgreement");
	cJSON *auth = cJSON_AddArrayToObject(doc, "authentication");
	TRY(dc_keystore_new(ks));
	const enum dc_crv sig_curves[] = { DC_CRV_ED25519, DC_CRV_P256, DC_CRV_SECP256K1 };
	size_t n_ka = n_curves * per_curve, total = n_ka + (signers ? 3 : 0);
	for (size_t i = 0; i < total; i++) {
		bool is_sig = i >= n_ka;
		enum dc_crv crv = is_sig ? sig_curves[i - n_ka] : curves[i / per_curve];
		char kid[256];
		if (is_sig)
			snprintf(kid, sizeof kid, "%s#sig-%s", did, crv_tag(crv));
		else
			snprintf(kid, sizeof kid, "%s#key-%s-%zu", did, crv_tag(crv), i % per_curve + 1);
		struct dc_key *k = NULL;
		TRY(dc__key_generate(crv, &k));
		TRY(dc__key_set_kid(k, kid));
		cJSON *jwk = NULL;
		TRY(dc__jwk_to_json(k, false, false, &jwk));
		cJSON *vm = cJSON_CreateObject();
		cJSON_AddStringToObject(vm, "id", kid);
		cJSON_AddStringToObject(vm, "type", "JsonWebKey2020");
		cJSON_AddStringToObject(vm, "controller", did);
		cJSON_AddItemToObject(vm, "publicKeyJwk", jwk);
		cJSON_AddItemToArray(vms, vm);
		cJSON_AddItemToArray(is_sig ? auth : ka, cJSON_CreateString(kid));
		TRY(dc_keystore_take(*ks, k));
	}
	if (svc_uri) {
		cJSON *svcs = cJSON_AddArrayToObject(doc, "service");
		cJSON *s = cJSON_CreateObject();
		char id[300];
		snprintf(id, sizeof id, "%s#didcomm-1", did);
		cJSON_AddStringToObject(s, "id", id);
		cJSON_AddStringToObject(s, "type", "DIDCommMessaging");
		cJSON *ep = cJSON_AddObjectToObject(s, "serviceEndpoint");
		cJSON_AddStringToObject(ep, "uri", svc_uri);
		cJSON *acc = cJSON_AddArrayToObject(ep, "accept");
		cJSON_AddItemToArray(acc, cJSON_CreateString("didcomm/v2"));
		cJSON *rk = cJSON_AddArrayToObject(ep, "routingKeys");
		for (size_t i = 0; i < n_routing; i++)
			cJSON_AddItemToArray(rk, cJSON_CreateString(routing[i]));
		cJSON_AddItemToArray(svcs, s);
	}
	char *txt = cJSON_PrintUnformatted(doc);
	struct dc_errinfo ei = { 0 };
	dc_err rc = dc_resolver_add_docs_text(res, txt, strlen(txt), &ei);
	if (rc)
		fprintf(stderr, "doc %s: %s\n", did, ei.msg);
	free(txt);
	cJSON_Delete(doc);
	return rc ? -1 : 0;
}
