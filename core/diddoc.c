/* DID documents.
 *
 * Verification methods: JsonWebKey2020 / JsonWebKey (publicKeyJwk), Multikey
 * (publicKeyMultibase), X25519KeyAgreementKey2019/2020 and Ed25519VerificationKey2018/2020
 * (publicKeyJwk, publicKeyMultibase raw or multicodec, publicKeyBase58), and
 * EcdsaSecp256k1VerificationKey2019 (publicKeyJwk, publicKeyBase58). They are declared under
 * verificationMethod or embedded in keyAgreement / authentication; relationship entries may
 * also be references, absolute ("did:..#x") or relative ("#x", against the document id).
 * A method's id must belong to the document ("#x" or "<id>#x"): a document cannot speak for
 * another DID's keys. Every key gets kid = the method's absolute id.
 *
 * Methods of a type we do not know, or whose key is of a kind we do not support (RSA, BLS,
 * Ed448 ...), are skipped, so that one exotic key does not make a whole document unusable;
 * references to them then find nothing. A method of a known type with a broken key fails
 * the document.
 *
 * Services: type "DIDCommMessaging" (a string, or an array holding it); serviceEndpoint an
 * object {uri, accept, routingKeys} or an array of them (v2.1), or a URI string with accept
 * and routingKeys beside it (older documents); the older spelling routing_keys is read too.
 * Each endpoint becomes one dc_service, in order. Other service types are ignored.
 *
 * Everything is type-checked and bounded; errors name the document and the field.
 * Documents are reference counted but not thread-safe: one thread owns a resolver and its
 * documents (the gateway resolves on its loop thread only). */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VMS 64    /* verification methods kept per document */
#define MAX_SVCS 64   /* DIDComm endpoints kept per document */
#define MAX_LIST 64   /* entries of one relationship, accept or routingKeys list */
#define MAX_ID 10240  /* a DID URL (did:peer:4 long forms run to 8 KiB) */
#define MAX_URI 4096  /* a service URI */
#define DOC_DEPTH 32  /* JSON nesting of a document */

static void vm_clear(struct dc_vm *vm)
{
	free(vm->id);
	free(vm->type);
	free(vm->controller);
	dc_key_free(vm->key);
	memset(vm, 0, sizeof *vm);
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void svc_clear(struct dc_service *s)
{
	free(s->id);
	free(s->type);
	free(s->uri);
	strv_free(s->accept, s->n_accept);
	strv_free(s->routing_keys, s->n_routing_keys);
	memset(s, 0, sizeof *s);
}

void dc_did_doc_free(struct dc_did_doc *d)
{
	if (!d || --d->refs > 0)
		return;
	free(d->id);
	for (size_t i = 0; i < d->n_vms; i++)
		vm_clear(&d->vms[i]);
	free(d->vms);
	strv_free(d->auth, d->n_auth);
	strv_free(d->ka, d->n_ka);
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
	return d ? d->id : NULL;
}

const struct dc_vm *dc__did_doc_vm(const struct dc_did_doc *d, const char *id)
{
	if (!d || !id)
		return NULL;
	for (size_t i = 0; i < d->n_vms; i++)
		if (strcmp(d->vms[i].id, id) == 0)
			return &d->vms[i];
	return NULL;
}

static bool in_list(char *const *l, size_t n, const char *id)
{
	for (size_t i = 0; id && i < n; i++)
		if (strcmp(l[i], id) == 0)
			return true;
	return false;
}

bool dc__did_doc_in_ka(const struct dc_did_doc *d, const char *id)
{
	return d && in_list(d->ka, d->n_ka, id);
}

bool dc__did_doc_in_auth(const struct dc_did_doc *d, const char *id)
{
	return d && in_list(d->auth, d->n_auth, id);
}

/* ---- DID syntax ---------------------------------------------------------------------- */

bool dc__is_did(const char *s)
{
	/* "did:" method ":" specific..., method = [a-z0-9]+, specific non-empty; anything may
	 * follow (this also accepts DID URLs) */
	if (!s || strncmp(s, "did:", 4) != 0)
		return false;
	const char *p = s + 4;
	size_t m = 0;
	while ((p[m] >= 'a' && p[m] <= 'z') || (p[m] >= '0' && p[m] <= '9'))
		m++;
	return m > 0 && p[m] == ':' && p[m + 1] != 0 && !strchr("#?/", p[m + 1]);
}

/* a DID with nothing after it, printable ASCII without spaces */
static bool is_plain_did(const char *s)
{
	if (!dc__is_did(s) || strcspn(s, "#?/") != strlen(s))
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return false;
	return strlen(s) <= MAX_ID;
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

/* "#frag" -> "<did>#frag"; a DID URL stays as it is; anything else is refused (NULL with
 * *bad set). */
static char *abs_ref(const char *did, const char *ref, bool *bad)
{
	*bad = true;
	size_t rl = ref ? strlen(ref) : 0;
	if (rl < 2 || rl > MAX_ID)
		return NULL;
	if (ref[0] == '#') {
		size_t dl = strlen(did);
		char *s = malloc(dl + rl + 1);
		*bad = false;
		if (s) {
			memcpy(s, did, dl);
			memcpy(s + dl, ref, rl + 1);
		}
		return s;
	}
	if (!dc__is_did(ref))
		return NULL;
	*bad = false;
	return strdup(ref);
}

/* a verification method id of document `did`: "#x" or "<did>#x" */
static bool own_id(const char *did, const char *id)
{
	if (id[0] == '#')
		return id[1] != 0;
	size_t dl = strlen(did);
	return strncmp(id, did, dl) == 0 && id[dl] == '#' && id[dl + 1] != 0;
}

/* ---- verification methods ------------------------------------------------------------ */

enum vm_kind { VM_UNKNOWN, VM_JWK, VM_MULTIKEY, VM_LEGACY };

static enum vm_kind vm_kind_of(const char *type, enum dc_crv *crv)
{
	*crv = DC_CRV_NONE;
	if (!strcmp(type, "JsonWebKey2020") || !strcmp(type, "JsonWebKey"))
		return VM_JWK;
	if (!strcmp(type, "Multikey"))
		return VM_MULTIKEY;
	if (!strcmp(type, "X25519KeyAgreementKey2019") || !strcmp(type, "X25519KeyAgreementKey2020"))
		*crv = DC_CRV_X25519;
	else if (!strcmp(type, "Ed25519VerificationKey2018") || !strcmp(type, "Ed25519VerificationKey2020"))
		*crv = DC_CRV_ED25519;
	else if (!strcmp(type, "EcdsaSecp256k1VerificationKey2019"))
		*crv = DC_CRV_SECP256K1;
	return *crv ? VM_LEGACY : VM_UNKNOWN;
}

/* Raw key bytes of a legacy type: OKP 32 bytes or an EC point, optionally behind the
 * multicodec prefix the …2020 types use in publicKeyMultibase. */
static dc_err legacy_key(enum dc_crv crv, const char *b58, struct dc_key **out)
{
	uint8_t b[8 + DC_MAX_PUB];
	size_t n = 0;
	dc_err rc = dc__base58_decode(b58, strlen(b58), b, sizeof b, &n);
	if (rc)
		return rc == DC_ERR_NOMEM ? rc : DC_ERR_MALFORMED;
	if (crv == DC_CRV_ED25519 && n == 34 && b[0] == 0xed && b[1] == 0x01)
		return dc__key_from_pub(crv, b + 2, 32, out);
	if (crv == DC_CRV_X25519 && n == 34 && b[0] == 0xec && b[1] == 0x01)
		return dc__key_from_pub(crv, b + 2, 32, out);
	if (crv == DC_CRV_SECP256K1 && (n == 35 || n == 67) && b[0] == 0xe7 && b[1] == 0x01)
		return dc__key_from_pub(crv, b + 2, n - 2, out);
	return dc__key_from_pub(crv, b, n, out);
}

/* Parse one verification method object. *skip when its type or key kind is unknown. */
static dc_err parse_vm(const char *did, const cJSON *o, struct dc_vm *vm, bool *skip, struct dc_errinfo *ei)
{
	*skip = false;
	memset(vm, 0, sizeof *vm);
	const cJSON *jid = cJSON_GetObjectItemCaseSensitive(o, "id"), *jtype = cJSON_GetObjectItemCaseSensitive(o, "type"),
		    *jctl = cJSON_GetObjectItemCaseSensitive(o, "controller");
	if (!cJSON_IsString(jid) || !own_id(did, jid->valuestring) || strlen(jid->valuestring) > MAX_ID)
		return dc__fail(ei, DC_ERR_MALFORMED,
		                "DID document %.100s: verification method id is missing, not a string or not in this document",
		                did);
	const char *id = jid->valuestring;
	if (!cJSON_IsString(jtype))
		return dc__fail(ei, DC_ERR_MALFORMED, "DID document %.100s: verification method %.100s: type is not a string",
		                did, id);
	if (jctl && !(cJSON_IsString(jctl) && strlen(jctl->valuestring) <= MAX_ID))
		return dc__fail(ei, DC_ERR_MALFORMED,
		                "DID document %.100s: verification method %.100s: controller is not a string", did, id);
	const char *type = jtype->valuestring;
	enum dc_crv crv;
	enum vm_kind kind = vm_kind_of(type, &crv);
	if (kind == VM_UNKNOWN) {
		*skip = true;
		return DC_OK;
	}
	static const char *const fields[] = { "publicKeyJwk", "publicKeyMultibase", "publicKeyBase58" };
	const cJSON *f[3];
	size_t nf = 0;
	for (size_t i = 0; i < 3; i++) {
		f[i] = cJSON_GetObjectItemCaseSensitive(o, fields[i]);
		if (f[i] && (i == 0 ? !cJSON_IsObject(f[i]) : !cJSON_IsString(f[i])))
			return dc__fail(ei, DC_ERR_MALFORMED, "DID document %.100s: verification method %.100s: %s is not %s",
			                did, id, fields[i], i == 0 ? "an object" : "a string");
		nf += f[i] != NULL;
	}
	if (nf != 1)
		return dc__fail(ei, DC_ERR_MALFORMED,
		                "DID document %.100s: verification method %.100s: want exactly one of publicKeyJwk, "
		                "publicKeyMultibase, publicKeyBase58 (%zu given)",
		                did, id, nf);
	struct dc_key *k = NULL;
	struct dc_errinfo inner = { 0 };
	dc_err rc;
	const char *which;
	if (f[0]) {
		which = fields[0];
		rc = dc__jwk_parse(f[0], &k, &inner);
		if (rc == DC_OK && k->priv) {
			dc_key_free(k);
			k = NULL;
			return dc__fail(ei, DC_ERR_MALFORMED,
			                "DID document %.100s: verification method %.100s: publicKeyJwk holds a private key", did, id);
		}
	} else if (f[1]) {
		which = fields[1];
		const char *mb = f[1]->valuestring;
		if (kind == VM_LEGACY && mb[0] == 'z')
			rc = legacy_key(crv, mb + 1, &k);
		else
			rc = dc__multikey_decode(mb, &k);
	} else {
		which = fields[2];
		rc = kind == VM_LEGACY ? legacy_key(crv, f[2]->valuestring, &k) : DC_ERR_MALFORMED;
	}
	if (rc == DC_ERR_UNSUPPORTED) {
		*skip = true; /* RSA, BLS, another curve: not ours, not broken */
		return DC_OK;
	}
	if (rc == DC_ERR_NOMEM)
		return rc;
	if (rc == DC_OK && kind == VM_LEGACY && k->crv != crv) {
		dc_key_free(k);
		k = NULL;
		rc = DC_ERR_MALFORMED;
	}
	if (rc)
		return dc__fail(ei, DC_ERR_MALFORMED, "DID document %.100s: verification method %.100s: bad %s%s%s", did,
		                id, which, inner.msg[0] ? ": " : "", inner.msg);
	bool bad;
	vm->key = k;
	vm->id = abs_ref(did, id, &bad);
	vm->type = strdup(type);
	vm->controller = strdup(jctl ? jctl->valuestring : did);
	if (!vm->id || !vm->type || !vm->controller || dc__key_set_kid(k, vm->id)) {
		vm_clear(vm);
		return DC_ERR_NOMEM;
	}
	return DC_OK;
}

static dc_err add_vm(struct dc_did_doc *d, const cJSON *o, const char **id_out, struct dc_errinfo *ei)
{
	if (id_out)
		*id_out = NULL;
	struct dc_vm vm;
	bool skip;
	dc_err rc = parse_vm(d->id, o, &vm, &skip, ei);
	if (rc || skip)
		return rc;
	if (dc__did_doc_vm(d, vm.id)) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "DID document %.100s: verification method %.100s declared twice", d->id,
		              vm.id);
		vm_clear(&vm);
		return rc;
	}
	if (d->n_vms >= MAX_VMS) {
		vm_clear(&vm);
		return dc__fail(ei, DC_ERR_TOO_BIG, "DID document %.100s: more than %d verification methods", d->id,
		                MAX_VMS);
	}
	d->vms[d->n_vms] = vm;
	if (id_out)
		*id_out = d->vms[d->n_vms].id;
	d->n_vms++;
	return DC_OK;
}

/* keyAgreement / authentication: references and embedded methods */
static dc_err parse_rel(struct dc_did_doc *d, const char *name, char ***list, size_t *n, struct dc_errinfo *ei)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(d->json, name);
	if (!arr)
		return DC_OK;
	if (!cJSON_IsArray(arr))
		return dc__fail(ei, DC_ERR_MALFORMED, "DID document %.100s: %s is not an array", d->id, name);
	int cnt = cJSON_GetArraySize(arr);
	if (cnt > MAX_LIST)
		return dc__fail(ei, DC_ERR_TOO_BIG, "DID document %.100s: %s has more than %d entries", d->id, name,
		                MAX_LIST);
	if (!(*list = calloc((size_t)cnt + 1, sizeof **list)))
		return DC_ERR_NOMEM;
	size_t i = 0;
	for (const cJSON *e = arr->child; e; e = e->next, i++) {
		char *id = NULL;
		if (cJSON_IsString(e)) {
			bool bad;
			if (!(id = abs_ref(d->id, e->valuestring, &bad)))
				return bad ? dc__fail(ei, DC_ERR_MALFORMED,
				                      "DID document %.100s: %s[%zu] is not a DID URL or a #fragment", d->id, name, i)
				           : DC_ERR_NOMEM;
		} else if (cJSON_IsObject(e)) {
			const char *vid = NULL;
			dc_err rc = add_vm(d, e, &vid, ei);
			if (rc)
				return rc;
			if (!vid)
				continue; /* a method we skip */
			if (!(id = strdup(vid)))
				return DC_ERR_NOMEM;
		} else {
			return dc__fail(ei, DC_ERR_MALFORMED, "DID document %.100s: %s[%zu] is not a string or an object", d->id,
			                name, i);
		}
		(*list)[(*n)++] = id;
	}
	return DC_OK;
}

/* accept / routingKeys: an array of strings, bounded */
static dc_err str_list(struct dc_did_doc *d, const char *sid, const char *name, const cJSON *arr, bool refs,
                       char ***out, size_t *n, struct dc_errinfo *ei)
{
	*out = NULL;
	*n = 0;
	if (!arr)
		return DC_OK;
	if (!cJSON_IsArray(arr))
		return dc__fail(ei, DC_ERR_MALFORMED, "DID document %.100s: service %.100s: %s is not an array", d->id, sid,
		                name);
	int cnt = cJSON_GetArraySize(arr);
	if (cnt > MAX_LIST)
		return dc__fail(ei, DC_ERR_TOO_BIG, "DID document %.100s: service %.100s: %s has more than %d entries",
		                d->id, sid, name, MAX_LIST);
	if (!(*out = calloc((size_t)cnt + 1, sizeof **out)))
		return DC_ERR_NOMEM;
	for (const cJSON *e = arr->child; e; e = e->next) {
		if (!cJSON_IsString(e) || !e->valuestring[0] || strlen(e->valuestring) > MAX_ID)
			return dc__fail(ei, DC_ERR_MALFORMED, "DID document %.100s: service %.100s: %s[%zu] is not a string",
			                d->id, sid, name, *n);
		char *v;
		if (refs) { /* routing keys: DID URLs, relative ones against this document */
			bool bad;
			if (!(v = abs_ref(d->id, e->valuestring, &bad)))
				return bad ? dc__fail(ei, DC_ERR_MALFORMED,
				                      "DID document %.100s: service %.100s: %s[%zu] is not a DID URL", d->id, sid,
				                      name, *n)
				           : DC_ERR_NOMEM;
		} else if (!(v = strdup(e->valuestring))) {
			return DC_ERR_NOMEM;
		}
		(*out)[(*n)++] = v;
	}
	return DC_OK;
}

static bool is_didcomm_type(const cJSON *t)
{
	if (cJSON_IsString(t))
		return strcmp(t->valuestring, "DIDCommMessaging") == 0;
	if (cJSON_IsArray(t))
		for (const cJSON *e = t->child; e; e = e->next)
			if (cJSON_IsString(e) && strcmp(e->valuestring, "DIDCommMessaging") == 0)
				return true;
	return false;
}

static const cJSON *member2(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);
	return v ? v : cJSON_GetObjectItemCaseSensitive(o, b);
}

/* one endpoint: an object {uri, accept, routingKeys}, or a URI string with the service's
 * own accept / routingKeys */
static dc_err add_endpoint(struct dc_did_doc *d, const char *sid, const cJSON *svc, const cJSON *ep,
                           struct dc_errinfo *ei)
{
	if (d->n_svcs >= MAX_SVCS)
		return dc__fail(ei, DC_ERR_TOO_BIG, "DID document %.100s: more than %d DIDComm service endpoints", d->id,
		                MAX_SVCS);
	const char *uri = NULL;
	const cJSON *acc = NULL, *rk = NULL;
	if (cJSON_IsString(ep)) {
		uri = ep->valuestring;
	} else if (cJSON_IsObject(ep)) {
		const cJSON *u = cJSON_GetObjectItemCaseSensitive(ep, "uri");
		uri = cJSON_IsString(u) ? u->valuestring : NULL;
		acc = cJSON_GetObjectItemCaseSensitive(ep, "accept");
		rk = member2(ep, "routingKeys", "routing_keys");
	} else {
		return dc__fail(ei, DC_ERR_MALFORMED,
		                "DID document %.100s: service %.100s: serviceEndpoint is not a URI, an object or an array of them",
		                d->id, sid);
	}
	/* lists beside a string endpoint (v2.0 style), or missing from the object */
	if (!acc)
		acc = cJSON_GetObjectItemCaseSensitive(svc, "accept");
	if (!rk)
		rk = member2(svc, "routingKeys", "routing_keys");
	if (!uri || !uri[0] || strlen(uri) > MAX_URI)
		return dc__fail(ei, DC_ERR_MALFORMED, "DID document %.100s: service %.100s: uri is missing, empty or too long",
		                d->id, sid);
	struct dc_service *s = &d->svcs[d->n_svcs++]; /* counted now: a failure below still frees it */
	bool bad;
	/* a service id is only a label for us: "#x" is made absolute, anything else kept */
	s->id = sid[0] == '#' ? abs_ref(d->id, sid, &bad) : strdup(sid);
	s->type = strdup("DIDCommMessaging");
	s->uri = strdup(uri);
	if (!s->id || !s->type || !s->uri)
		return DC_ERR_NOMEM;
	dc_err rc = str_list(d, sid, "accept", acc, false, &s->accept, &s->n_accept, ei);
	if (rc == DC_OK)
		rc = str_list(d, sid, "routingKeys", rk, true, &s->routing_keys, &s->n_routing_keys, ei);
	return rc;
}

static dc_err parse_services(struct dc_did_doc *d, struct dc_errinfo *ei)
{
	const cJSON *svcs = cJSON_GetObjectItemCaseSensitive(d->json, "service");
	if (!svcs)
		return DC_OK;
	if (!cJSON_IsArray(svcs) && !cJSON_IsObject(svcs)) /* a lone object: a one-element list */
		return dc__fail(ei, DC_ERR_MALFORMED, "DID document %.100s: service is not an array", d->id);
	if (!(d->svcs = calloc(MAX_SVCS, sizeof *d->svcs)))
		return DC_ERR_NOMEM;
	size_t i = 0;
	for (const cJSON *s = cJSON_IsObject(svcs) ? svcs : svcs->child; s; s = cJSON_IsObject(svcs) ? NULL : s->next, i++) {
		if (!cJSON_IsObject(s))
			return dc__fail(ei, DC_ERR_MALFORMED, "DID document %.100s: service[%zu] is not an object", d->id, i);
		if (!is_didcomm_type(cJSON_GetObjectItemCaseSensitive(s, "type")))
			continue;
		const cJSON *jid = cJSON_GetObjectItemCaseSensitive(s, "id");
		if (jid && !cJSON_IsString(jid))
			return dc__fail(ei, DC_ERR_MALFORMED, "DID document %.100s: service[%zu]: id is not a string", d->id, i);
		if (jid && (!jid->valuestring[0] || strlen(jid->valuestring) > MAX_ID))
			return dc__fail(ei, DC_ERR_MALFORMED, "DID document %.100s: service[%zu]: id is empty or too long", d->id,
			                i);
		const char *sid = jid ? jid->valuestring : "#service";
		const cJSON *ep = cJSON_GetObjectItemCaseSensitive(s, "serviceEndpoint");
		if (!ep)
			return dc__fail(ei, DC_ERR_MALFORMED, "DID document %.100s: service %.100s has no serviceEndpoint", d->id,
			                sid);
		if (cJSON_IsArray(ep)) {
			for (const cJSON *e = ep->child; e; e = e->next) {
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

/* ---- documents ----------------------------------------------------------------------- */

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
	if (!cJSON_IsObject(j)) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "DID document: not a JSON object");
		goto out;
	}
	const cJSON *jid = cJSON_GetObjectItemCaseSensitive(j, "id");
	if (!cJSON_IsString(jid) || !is_plain_did(jid->valuestring)) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "DID document: id is missing or not a DID");
		goto out;
	}
	if (!(d->id = strdup(jid->valuestring)) || !(d->vms = calloc(MAX_VMS, sizeof *d->vms))) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	const cJSON *vms = cJSON_GetObjectItemCaseSensitive(j, "verificationMethod");
	if (vms && !cJSON_IsArray(vms)) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "DID document %.100s: verificationMethod is not an array", d->id);
		goto out;
	}
	size_t i = 0;
	for (const cJSON *v = vms ? vms->child : NULL; v; v = v->next, i++) {
		if (!cJSON_IsObject(v)) {
			rc = dc__fail(ei, DC_ERR_MALFORMED, "DID document %.100s: verificationMethod[%zu] is not an object", d->id,
			              i);
			goto out;
		}
		if ((rc = add_vm(d, v, NULL, ei)))
			goto out;
	}
	if ((rc = parse_rel(d, "keyAgreement", &d->ka, &d->n_ka, ei)) ||
	    (rc = parse_rel(d, "authentication", &d->auth, &d->n_auth, ei)) || (rc = parse_services(d, ei)))
		goto out;
	*out = d;
	return DC_OK;
out:
	if (rc == DC_ERR_NOMEM && ei && !ei->msg[0])
		dc__fail(ei, rc, "DID document: out of memory");
	dc_did_doc_free(d);
	return rc;
}

dc_err dc_did_doc_parse(const char *json, size_t len, struct dc_did_doc **out, struct dc_errinfo *ei)
{
	if (!out)
		return DC_ERR_INVAL;
	*out = NULL;
	cJSON *j = NULL;
	dc_err rc = dc__json_parse(json, len, DOC_DEPTH, &j, ei);
	if (rc)
		return rc;
	return dc__did_doc_from_json(j, out, ei);
}

dc_err dc_did_doc_print(const struct dc_did_doc *d, char **out)
{
	*out = NULL;
	if (!d)
		return DC_ERR_INVAL;
	*out = cJSON_PrintUnformatted(d->json);
	return *out ? DC_OK : DC_ERR_NOMEM;
}
