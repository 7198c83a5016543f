/* DID documents: verification methods (JsonWebKey2020, Multikey, X25519KeyAgreementKey2019/
 * 2020, Ed25519VerificationKey2018/2020 with publicKeyJwk, publicKeyMultibase or
 * publicKeyBase58), referenced by id (absolute or relative) or embedded under keyAgreement /
 * authentication, and DIDCommMessaging services (serviceEndpoint object, array of objects,
 * or a string; routingKeys or the older routing_keys). Counts are bounded. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VMS 64
#define MAX_SVCS 64
#define MAX_LIST 64
#define MAX_ID 2048

static void vm_clear(struct dc_vm *vm)
{
	free(vm->id);
	free(vm->type);
	free(vm->controller);
	dc_key_free(vm->key);
}

static void svc_clear(struct dc_service *s)
{
	free(s->id);
	free(s->type);
	free(s->uri);
	for (size_t i = 0; i < s->n_accept; i++)
		free(s->accept[i]);
	free(s->accept);
	for (size_t i = 0; i < s->n_routing_keys; i++)
		free(s->routing_keys[i]);
	free(s->routing_keys);
}

void dc_did_doc_free(struct dc_did_doc *d)
{
	if (!d || --d->refs > 0)
		return;
	free(d->id);
	for (size_t i = 0; i < d->n_vms; i++)
		vm_clear(&d->vms[i]);
	free(d->vms);
	for (size_t i = 0; i < d->n_auth; i++)
		free(d->auth[i]);
	free(d->auth);
	for (size_t i = 0; i < d->n_ka; i++)
		free(d->ka[i]);
	free(d->ka);
	for (size_t i = 0; i < d->n_svcs; i++)
		svc_clear(&d->svcs[i]);
	free(d->svcs);
	cJSON_Delete(d->json);
	free(d);
}

struct dc_did_doc *dc__did_doc_ref(struct dc_did_doc *d)
{
	if (d)
		d->refs++;
	return d;
}

const char *dc_did_doc_id(const struct dc_did_doc *d)
{
	return d->id;
}

/* "#frag" or "frag"-less relative ids become "did#frag" */
static char *abs_id(const char *did, const char *id)
{
	if (!id || !*id || strlen(id) > MAX_ID)
		return NULL;
	if (id[0] == '#') {
		size_t a = strlen(did), b = strlen(id);
		char *s = malloc(a + b + 1);
		if (s) {
			memcpy(s, did, a);
			memcpy(s + a, id, b + 1);
		}
		return s;
	}
	return strdup(id);
}

const struct dc_vm *dc__did_doc_vm(const struct dc_did_doc *d, const char *id)
{
	for (size_t i = 0; i < d->n_vms; i++)
		if (strcmp(d->vms[i].id, id) == 0)
			return &d->vms[i];
	return NULL;
}

static bool in_list(char **l, size_t n, const char *id)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(l[i], id) == 0)
			return true;
	return false;
}

bool dc__did_doc_in_ka(const struct dc_did_doc *d, const char *id)
{
	return in_list(d->ka, d->n_ka, id);
}

bool dc__did_doc_in_auth(const struct dc_did_doc *d, const char *id)
{
	return in_list(d->auth, d->n_auth, id);
}

static enum dc_crv crv_for_type(const char *type)
{
	if (!strcmp(type, "X25519KeyAgreementKey2019") || !strcmp(type, "X25519KeyAgreementKey2020"))
		return DC_CRV_X25519;
	if (!strcmp(type, "Ed25519VerificationKey2018") || !strcmp(type, "Ed25519VerificationKey2020"))
		return DC_CRV_ED25519;
	return DC_CRV_NONE;
}

/* raw 32 bytes, or multicodec-prefixed (…2020 types use the prefixed form) */
static dc_err raw_or_multicodec(enum dc_crv crv, const uint8_t *b, size_t n, struct dc_key **out)
{
	if (n == 32)
		return dc__key_from_pub(crv, b, n, out);
	if (n == 34 && ((crv == DC_CRV_ED25519 && b[0] == 0xed) || (crv == DC_CRV_X25519 && b[0] == 0xec)) && b[1] == 0x01)
		return dc__key_from_pub(crv, b + 2, 32, out);
	return DC_ERR_MALFORMED;
}

/* Parse one verification method; *skip when its type is unknown (extensibility). */
static dc_err parse_vm(const char *did, const cJSON *o, struct dc_vm *vm, bool *skip, struct dc_errinfo *ei)
{
	*skip = false;
	memset(vm, 0, sizeof *vm);
	const char *id = dc__json_str(o, "id"), *type = dc__json_str(o, "type"), *ctl = dc__json_str(o, "controller");
	if (!id || !type)
		return dc__fail(ei, DC_ERR_MALFORMED, "DID document %.200s: a verification method lacks id or type", did);
	const cJSON *jwk = dc__json_obj(o, "publicKeyJwk");
	const char *mb = dc__json_str(o, "publicKeyMultibase"), *b58 = dc__json_str(o, "publicKeyBase58");
	enum dc_crv crv = crv_for_type(type);
	bool known = !strcmp(type, "JsonWebKey2020") || !strcmp(type, "JsonWebKey") || !strcmp(type, "Multikey") ||
	             crv != DC_CRV_NONE;
	if (!known) {
		*skip = true;
		return DC_OK;
	}
	dc_err rc = DC_ERR_MALFORMED;
	struct dc_key *k = NULL;
	if (jwk) {
		rc = dc__jwk_parse(jwk, &k, NULL);
		if (rc == DC_OK && k->priv)
			rc = DC_ERR_MALFORMED; /* a private key in a DID document is a leak, not a key */
		if (rc == DC_OK && crv && k->crv != crv)
			rc = DC_ERR_MALFORMED;
	} else if (mb) {
		if (crv == DC_CRV_NONE || mb[0] != 'z') {
			rc = dc__multikey_decode(mb, &k);
		} else {
			uint8_t b[64];
			size_t n = 0;
			rc = dc__base58_decode(mb + 1, strlen(mb + 1), b, sizeof b, &n);
			if (rc == DC_OK)
				rc = raw_or_multicodec(crv, b, n, &k);
		}
	} else if (b58 && crv) {
		uint8_t b[64];
		size_t n = 0;
		rc = dc__base58_decode(b58, strlen(b58), b, sizeof b, &n);
		if (rc == DC_OK)
			rc = raw_or_multicodec(crv, b, n, &k);
	}
	if (rc) {
		dc_key_free(k);
		return dc__fail(ei, rc == DC_ERR_UNSUPPORTED ? DC_ERR_UNSUPPORTED : DC_ERR_MALFORMED,
		                "DID document %.200s: key of %.200s is missing or invalid", did, id);
	}
	vm->key = k;
	vm->id = abs_id(did, id);
	vm->type = strdup(type);
	vm->controller = strdup(ctl ? ctl : did);
	if (!vm->id || !vm->type || !vm->controller || dc__key_set_kid(k, vm->id)) {
		vm_clear(vm);
		memset(vm, 0, sizeof *vm);
		return DC_ERR_NOMEM;
	}
	return DC_OK;
}

static dc_err add_vm(struct dc_did_doc *d, const cJSON *o, char **id_out, struct dc_errinfo *ei)
{
	if (id_out)
		*id_out = NULL;
	if (d->n_vms >= MAX_VMS)
		return dc__fail(ei, DC_ERR_TOO_BIG, "DID document %.200s: more than %d verification methods", d->id, MAX_VMS);
	struct dc_vm vm;
	bool skip;
	dc_err rc = parse_vm(d->id, o, &vm, &skip, ei);
	if (rc || skip)
		return rc;
	if (dc__did_doc_vm(d, vm.id)) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "DID document %.200s: verification method %.200s twice", d->id, vm.id);
		vm_clear(&vm);
		return rc;
	}
	if (id_out && !(*id_out = strdup(vm.id))) {
		vm_clear(&vm);
		return DC_ERR_NOMEM;
	}
	d->vms[d->n_vms++] = vm;
	return DC_OK;
}

static dc_err parse_rel(struct dc_did_doc *d, const cJSON *arr, char ***list, size_t *n, const char *name,
                        struct dc_errinfo *ei)
{
	if (!arr)
		return DC_OK;
	if (!cJSON_IsArray(arr))
		return dc__fail(ei, DC_ERR_MALFORMED, "DID document %.200s: %s is not an array", d->id, name);
	int cnt = cJSON_GetArraySize(arr);
	if (cnt > MAX_LIST)
		return dc__fail(ei, DC_ERR_TOO_BIG, "DID document %.200s: %s has more than %d entries", d->id, name, MAX_LIST);
	if (!(*list = calloc((size_t)cnt + 1, sizeof **list)))
		return DC_ERR_NOMEM;
	const cJSON *e;
	cJSON_ArrayForEach(e, arr)
	{
		char *id = NULL;
		if (cJSON_IsString(e)) {
			if (!(id = abs_id(d->id, e->valuestring)))
				return dc__fail(ei, DC_ERR_MALFORMED, "DID document %.200s: bad %s reference", d->id, name);
		} else if (cJSON_IsObject(e)) {
			dc_err rc = add_vm(d, e, &id, ei);
			if (rc)
				return rc;
			if (!id)
				continue; /* unknown type */
		} else {
			return dc__fail(ei, DC_ERR_MALFORMED, "DID document %.200s: %s entry is not a string or object", d->id,
			                name);
		}
		(*list)[(*n)++] = id;
	}
	return DC_OK;
}

static dc_err str_list(const cJSON *arr, char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!arr)
		return DC_OK;
	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > MAX_LIST)
		return DC_ERR_MALFORMED;
	if (!(*out = calloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof **out)))
		return DC_ERR_NOMEM;
	const cJSON *e;
	cJSON_ArrayForEach(e, arr)
	{
		if (!cJSON_IsString(e) || strlen(e->valuestring) > MAX_ID)
			return DC_ERR_MALFORMED;
		if (!((*out)[*n] = strdup(e->valuestring)))
			return DC_ERR_NOMEM;
		(*n)++;
	}
	return DC_OK;
}

static bool is_didcomm_type(const cJSON *t)
{
	if (cJSON_IsString(t))
		return strcmp(t->valuestring, "DIDCommMessaging") == 0;
	const cJSON *e;
	if (cJSON_IsArray(t))
		cJSON_ArrayForEach(e, t) if (cJSON_IsString(e) && strcmp(e->valuestring, "DIDCommMessaging") == 0) return true;
	return false;
}

/* one endpoint: an object {uri, accept, routingKeys}, or a string with service-level lists */
static dc_err add_endpoint(struct dc_did_doc *d, const char *sid, const cJSON *svc, const cJSON *ep,
                           struct dc_errinfo *ei)
{
	if (d->n_svcs >= MAX_SVCS)
		return dc__fail(ei, DC_ERR_TOO_BIG, "DID document %.200s: more than %d service endpoints", d->id, MAX_SVCS);
	struct dc_service *s = &d->svcs[d->n_svcs];
	memset(s, 0, sizeof *s);
	const char *uri = NULL;
	const cJSON *holder = svc;
	if (cJSON_IsString(ep)) {
		uri = ep->valuestring;
	} else if (cJSON_IsObject(ep)) {
		uri = dc__json_str(ep, "uri");
		holder = ep;
	}
	if (!uri || !*uri || strlen(uri) > MAX_ID)
		return dc__fail(ei, DC_ERR_MALFORMED, "DID document %.200s: service %.200s has no uri", d->id, sid);
	const cJSON *rk = cJSON_GetObjectItemCaseSensitive(holder, "routingKeys");
	if (!rk)
		rk = cJSON_GetObjectItemCaseSensitive(holder, "routing_keys");
	s->id = abs_id(d->id, sid);
	s->type = strdup("DIDCommMessaging");
	s->uri = strdup(uri);
	d->n_svcs++; /* counted now so that a failure below still frees it */
	if (!s->id || !s->type || !s->uri)
		return DC_ERR_NOMEM;
	if (str_list(cJSON_GetObjectItemCaseSensitive(holder, "accept"), &s->accept, &s->n_accept) ||
	    str_list(rk, &s->routing_keys, &s->n_routing_keys))
		return dc__fail(ei, DC_ERR_MALFORMED, "DID document %.200s: service %.200s: bad accept or routingKeys", d->id,
		                sid);
	/* relative routing keys refer to this document */
	for (size_t i = 0; i < s->n_routing_keys; i++)
		if (s->routing_keys[i][0] == '#') {
			char *a = abs_id(d->id, s->routing_keys[i]);
			if (!a)
				return DC_ERR_NOMEM;
			free(s->routing_keys[i]);
			s->routing_keys[i] = a;
		}
	return DC_OK;
}

static dc_err parse_services(struct dc_did_doc *d, const cJSON *svcs, struct dc_errinfo *ei)
{
	if (!svcs)
		return DC_OK;
	if (cJSON_IsObject(svcs)) {
		/* a single service object: treat as a one-element list */
	} else if (!cJSON_IsArray(svcs)) {
		return dc__fail(ei, DC_ERR_MALFORMED, "DID document %.200s: service is not an array", d->id);
	}
	if (!(d->svcs = calloc(MAX_SVCS, sizeof *d->svcs)))
		return DC_ERR_NOMEM;
	const cJSON *s = cJSON_IsObject(svcs) ? svcs : svcs->child;
	for (; s; s = cJSON_IsObject(svcs) ? NULL : s->next) {
		if (!cJSON_IsObject(s))
			return dc__fail(ei, DC_ERR_MALFORMED, "DID document %.200s: a service is not an object", d->id);
		if (!is_didcomm_type(cJSON_GetObjectItemCaseSensitive(s, "type")))
			continue;
		const char *sid = dc__json_str(s, "id");
		if (!sid)
			sid = "#service";
		const cJSON *ep = cJSON_GetObjectItemCaseSensitive(s, "serviceEndpoint");
		if (cJSON_IsArray(ep)) {
			const cJSON *e;
			cJSON_ArrayForEach(e, ep)
			{
				dc_err rc = add_endpoint(d, sid, s, e, ei);
				if (rc)
					return rc;
			}
		} else {
			dc_err rc = add_endpoint(d, sid, s, ep, ei);
			if (rc)
				return rc;
		}
	}
	return DC_OK;
}

dc_err dc__did_doc_from_json(cJSON *j, struct dc_did_doc **out, struct dc_errinfo *ei)
{
	*out = NULL;
	dc_err rc;
	struct dc_did_doc *d = calloc(1, sizeof *d);
	if (!d) {
		cJSON_Delete(j);
		return DC_ERR_NOMEM;
	}
	d->refs = 1;
	d->json = j;
	const char *id = dc__json_str(j, "id");
	if (!cJSON_IsObject(j) || !id || !dc__is_did(id)) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "DID document: id is missing or not a DID");
		goto out;
	}
	if (!(d->id = strdup(id)) || !(d->vms = calloc(MAX_VMS, sizeof *d->vms))) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	const cJSON *vms = cJSON_GetObjectItemCaseSensitive(j, "verificationMethod"), *v;
	if (vms && !cJSON_IsArray(vms)) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "DID document %.200s: verificationMethod is not an array", id);
		goto out;
	}
	cJSON_ArrayForEach(v, vms)
	{
		if (!cJSON_IsObject(v)) {
			rc = dc__fail(ei, DC_ERR_MALFORMED, "DID document %.200s: a verification method is not an object", id);
			goto out;
		}
		if ((rc = add_vm(d, v, NULL, ei)))
			goto out;
	}
	if ((rc = parse_rel(d, cJSON_GetObjectItemCaseSensitive(j, "keyAgreement"), &d->ka, &d->n_ka, "keyAgreement", ei)) ||
	    (rc = parse_rel(d, cJSON_GetObjectItemCaseSensitive(j, "authentication"), &d->auth, &d->n_auth,
	                    "authentication", ei)) ||
	    (rc = parse_services(d, cJSON_GetObjectItemCaseSensitive(j, "service"), ei)))
		goto out;
	*out = d;
	return DC_OK;
out:
	dc_did_doc_free(d);
	return rc;
}

dc_err dc_did_doc_parse(const char *json, size_t len, struct dc_did_doc **out, struct dc_errinfo *ei)
{
	*out = NULL;
	cJSON *j = NULL;
	dc_err rc = dc__json_parse(json, len, 32, &j, ei);
	if (rc)
		return rc;
	return dc__did_doc_from_json(j, out, ei);
}

dc_err dc_did_doc_print(const struct dc_did_doc *d, char **out)
{
	*out = cJSON_PrintUnformatted(d->json);
	return *out ? DC_OK : DC_ERR_NOMEM;
}

bool dc__is_did(const char *s)
{
	/* did:method:specific, method = [a-z0-9]+, specific non-empty */
	if (strncmp(s, "did:", 4) != 0)
		return false;
	const char *p = s + 4;
	size_t m = 0;
	while ((p[m] >= 'a' && p[m] <= 'z') || (p[m] >= '0' && p[m] <= '9'))
		m++;
	return m > 0 && p[m] == ':' && p[m + 1] != 0 && p[m + 1] != '#';
}

dc_err dc__did_of(const char *url, char **did)
{
	*did = NULL;
	if (!url || !dc__is_did(url))
		return DC_ERR_MALFORMED;
	size_t n = strcspn(url, "#?/");
	if (n > MAX_ID)
		return DC_ERR_MALFORMED;
	*did = strndup(url, n);
	return *did ? DC_OK : DC_ERR_NOMEM;
}
