/* did:peer numalgo 0, 2 and 4 (DIF peer-did-method-spec).
 *
 *  0: one multibase key, resolved like did:key.
 *  2: ".<purpose><multibase key>" elements (E keyAgreement, V authentication, A assertionMethod,
 *     I capabilityInvocation, D capabilityDelegation) and ".S<base64url JSON service>". Keys
 *     become Multikey methods #key-1, #key-2 ... in order of appearance, whatever their
 *     purpose; services without an id get #service, #service-1, ... . Abbreviations are
 *     expanded recursively: t/type, dm/DIDCommMessaging, s/serviceEndpoint, r/routingKeys,
 *     a/accept. Both encodings found in the wild are read: {"t":"dm","s":"uri","r":[],"a":[]}
 *     (routing keys beside a string endpoint) and {"t":"dm","s":{"uri":..,"r":[],"a":[]}}.
 *     Service base64url may carry '=' padding in the wild: tolerated for S only.
 *     An E key must be able to do key agreement and a V key must not be X25519.
 *  4: long form did:peer:4<hash>:<encoded document>, where the encoded document is
 *     z base58btc(varint 0x0200 json || the input document) and the hash
 *     z base58btc(multihash sha2-256 of the encoded document's text), which is checked.
 *     The document is "contextualised": id, alsoKnownAs (+ the other form), and a controller
 *     for every method without one. A short form resolves only through a long form seen
 *     before (resolve.c remembers them). */
#include "internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PEER 8192   /* a did:peer DID */
#define MAX_ELEMS 64    /* numalgo 2 elements */
#define SVC_DEPTH 8     /* JSON nesting of one service */
#define DOC4_DEPTH 16   /* JSON nesting of a did:peer:4 input document */

/* ---- numalgo 2 ---------------------------------------------------------------------- */

static cJSON *new_doc(const char *did)
{
	cJSON *doc = cJSON_CreateObject(), *ctx = doc ? cJSON_AddArrayToObject(doc, "@context") : NULL;
	if (!ctx || !cJSON_AddItemToArray(ctx, cJSON_CreateString("https://www.w3.org/ns/did/v1")) ||
	    !cJSON_AddItemToArray(ctx, cJSON_CreateString("https://w3id.org/security/multikey/v1")) ||
	    !cJSON_AddStringToObject(doc, "id", did)) {
		cJSON_Delete(doc);
		return NULL;
	}
	return doc;
}

static bool rename_member(cJSON *m, const char *name)
{
	char *n = strdup(name);
	if (!n)
		return false;
	if (!(m->type & cJSON_StringIsConst))
		free(m->string);
	m->string = n;
	m->type &= ~cJSON_StringIsConst;
	return true;
}

/* Expand the abbreviations in the member names of o (and of objects below it) and the
 * "dm" type value. A member is only renamed when the long name is not there already. */
static bool expand(cJSON *o, int depth)
{
	static const char *const map[][2] = { { "t", "type" }, { "s", "serviceEndpoint" }, { "r", "routingKeys" },
		                               { "a", "accept" } };
	if (depth > SVC_DEPTH)
		return true;
	for (cJSON *m = o->child; m; m = m->next) {
		if (cJSON_IsObject(o) && m->string) {
			for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
				if (strcmp(m->string, map[i][0]) == 0 && !cJSON_GetObjectItemCaseSensitive(o, map[i][1])) {
					if (!rename_member(m, map[i][1]))
						return false;
					break;
				}
			if (strcmp(m->string, "type") == 0 && cJSON_IsString(m) && strcmp(m->valuestring, "dm") == 0 &&
			    !cJSON_SetValuestring(m, "DIDCommMessaging"))
				return false;
		}
		if ((cJSON_IsObject(m) || cJSON_IsArray(m)) && !expand(m, depth + 1))
			return false;
	}
	return true;
}

static cJSON *service_json(const char *b64, size_t len)
{
	while (len && b64[len - 1] == '=') /* padding seen in the wild: tolerated here only */
		len--;
	uint8_t *raw = NULL;
	size_t rl = 0;
	cJSON *s = NULL;
	if (dc__b64url_decode(b64, len, &raw, &rl) == DC_OK && dc__json_parse((const char *)raw, rl, SVC_DEPTH, &s, NULL))
		s = NULL;
	free(raw);
	return s;
}

static char *key_id(const char *did, size_t n)
{
	size_t l = strlen(did) + 32;
	char *s = malloc(l);
	if (s)
		snprintf(s, l, "%s#key-%zu", did, n);
	return s;
}

static const char *purpose_rel(char p)
{
	switch (p) {
	case 'E': return "keyAgreement";
	case 'V': return "authentication";
	case 'A': return "assertionMethod";
	case 'I': return "capabilityInvocation";
	case 'D': return "capabilityDelegation";
	default: return NULL;
	}
}

static dc_err peer2_key(cJSON *doc, cJSON *vms, const char *did, char purpose, const char *mb, size_t nth,
                        struct dc_errinfo *ei)
{
	const char *rel = purpose_rel(purpose);
	if (!rel)
		return dc__fail(ei, DC_ERR_RESOLVE, "did:peer:2: unknown element purpose '%c'", purpose);
	struct dc_key *k = NULL;
	dc_err rc = dc__multikey_decode(mb, &k);
	if (rc)
		return rc == DC_ERR_NOMEM ? rc : dc__fail(ei, DC_ERR_RESOLVE, "did:peer:2: key %zu ('%c') is not a %s key", nth,
		                                          purpose, rc == DC_ERR_UNSUPPORTED ? "supported" : "valid");
	bool fits = purpose == 'E' ? dc__crv_is_key_agreement(k->crv) : purpose == 'V' ? k->crv != DC_CRV_X25519 : true;
	enum dc_crv crv = k->crv;
	dc_key_free(k);
	if (!fits)
		return dc__fail(ei, DC_ERR_RESOLVE, "did:peer:2: key %zu is %s, which cannot serve as '%c'", nth,
		                dc_crv_name(crv), purpose);
	char *id = key_id(did, nth);
	cJSON *vm = cJSON_CreateObject(), *arr = cJSON_GetObjectItemCaseSensitive(doc, rel), *ref = NULL;
	rc = DC_ERR_NOMEM;
	if (!arr)
		arr = cJSON_AddArrayToObject(doc, rel);
	if (id && vm && arr && cJSON_AddStringToObject(vm, "id", id) && cJSON_AddStringToObject(vm, "type", "Multikey") &&
	    cJSON_AddStringToObject(vm, "controller", did) && cJSON_AddStringToObject(vm, "publicKeyMultibase", mb) &&
	    cJSON_AddItemToArray(vms, vm)) {
		vm = NULL;
		if ((ref = cJSON_CreateString(id)) && cJSON_AddItemToArray(arr, ref)) {
			ref = NULL;
			rc = DC_OK;
		}
	}
	cJSON_Delete(vm);
	cJSON_Delete(ref);
	free(id);
	return rc;
}

/* one S element: a service object (or, leniently, an array of them) */
static dc_err peer2_service(cJSON *svcs, const char *b64, size_t len, size_t *nsvc, struct dc_errinfo *ei)
{
	cJSON *s = service_json(b64, len);
	if (!s || (!cJSON_IsObject(s) && !cJSON_IsArray(s))) {
		cJSON_Delete(s);
		return dc__fail(ei, DC_ERR_RESOLVE, "did:peer:2: service %zu is not base64url JSON", *nsvc + 1);
	}
	cJSON *list = s;
	if (cJSON_IsObject(s)) {
		if (!(list = cJSON_CreateArray())) {
			cJSON_Delete(s);
			return DC_ERR_NOMEM;
		}
		cJSON_AddItemToArray(list, s);
	}
	dc_err rc = DC_OK;
	cJSON *one;
	while (rc == DC_OK && (one = cJSON_DetachItemFromArray(list, 0))) {
		if (!cJSON_IsObject(one)) {
			rc = dc__fail(ei, DC_ERR_RESOLVE, "did:peer:2: service %zu is not a JSON object", *nsvc + 1);
		} else if (!expand(one, 0)) {
			rc = DC_ERR_NOMEM;
		} else if (!cJSON_GetObjectItemCaseSensitive(one, "id")) {
			char sid[40];
			if (*nsvc == 0)
				snprintf(sid, sizeof sid, "#service");
			else
				snprintf(sid, sizeof sid, "#service-%zu", *nsvc);
			if (!cJSON_AddStringToObject(one, "id", sid))
				rc = DC_ERR_NOMEM;
		}
		if (rc == DC_OK && !cJSON_AddItemToArray(svcs, one))
			rc = DC_ERR_NOMEM;
		if (rc)
			cJSON_Delete(one);
		else
			(*nsvc)++;
	}
	cJSON_Delete(list);
	return rc;
}

static dc_err peer2(const char *did, cJSON **out, struct dc_errinfo *ei)
{
	*out = NULL;
	cJSON *doc = new_doc(did), *vms = NULL, *svcs = NULL;
	dc_err rc = DC_ERR_NOMEM;
	if (!doc || !(vms = cJSON_AddArrayToObject(doc, "verificationMethod")))
		goto out;
	const char *p = did + strlen("did:peer:2");
	size_t nkeys = 0, nsvc = 0, elems = 0;
	while (*p) {
		if (*p != '.' || !p[1] || !p[2] || p[2] == '.') {
			rc = dc__fail(ei, DC_ERR_RESOLVE, "did:peer:2: malformed element list at byte %zu", (size_t)(p - did));
			goto out;
		}
		if (++elems > MAX_ELEMS) {
			rc = dc__fail(ei, DC_ERR_RESOLVE, "did:peer:2: more than %d elements", MAX_ELEMS);
			goto out;
		}
		char purpose = p[1];
		const char *start = p + 2;
		size_t len = strcspn(start, ".");
		p = start + len;
		if (purpose == 'S') {
			if (!svcs && !(svcs = cJSON_AddArrayToObject(doc, "service")))
				goto out;
			if ((rc = peer2_service(svcs, start, len, &nsvc, ei)))
				goto out;
			continue;
		}
		char *mb = strndup(start, len);
		if (!mb) {
			rc = DC_ERR_NOMEM;
			goto out;
		}
		rc = peer2_key(doc, vms, did, purpose, mb, ++nkeys, ei);
		free(mb);
		if (rc)
			goto out;
	}
	if (nkeys == 0) {
		rc = dc__fail(ei, DC_ERR_RESOLVE, "did:peer:2: no keys");
		goto out;
	}
	*out = doc;
	doc = NULL;
	rc = DC_OK;
out:
	cJSON_Delete(doc);
	return rc;
}

/* ---- numalgo 4 ---------------------------------------------------------------------- */

/* z base58btc of the sha2-256 multihash of s */
static dc_err mh_sha256(const char *s, size_t n, char **out)
{
	uint8_t mh[34];
	mh[0] = 0x12;
	mh[1] = 0x20;
	crypto_hash_sha256(mh + 2, (const uint8_t *)s, n);
	return dc__multibase_z(mh, sizeof mh, out);
}

size_t dc__did_peer4_short_len(const char *did)
{
	if (!did || strncmp(did, "did:peer:4", 10) != 0)
		return 0;
	const char *colon = strchr(did + 10, ':');
	return colon && colon > did + 10 && colon[1] ? (size_t)(colon - did) : 0;
}

static bool set_controllers(cJSON *arr, const char *did)
{
	for (cJSON *vm = cJSON_IsArray(arr) ? arr->child : NULL; vm; vm = vm->next)
		if (cJSON_IsObject(vm) && !cJSON_GetObjectItemCaseSensitive(vm, "controller") &&
		    !cJSON_AddStringToObject(vm, "controller", did))
			return false;
	return true;
}

dc_err dc__did_peer4_doc(const char *long_did, const char *as, cJSON **out, struct dc_errinfo *ei)
{
	*out = NULL;
	size_t sl = dc__did_peer4_short_len(long_did);
	if (!sl || strlen(long_did) > MAX_PEER)
		return dc__fail(ei, DC_ERR_RESOLVE, "did:peer:4: not a long form: %.100s", long_did ? long_did : "(null)");
	bool as_long = strcmp(as, long_did) == 0;
	if (!as_long && (strlen(as) != sl || strncmp(as, long_did, sl) != 0))
		return dc__fail(ei, DC_ERR_INVAL, "did:peer:4: %.100s is not a form of %.100s", as, long_did);
	const char *hash = long_did + 10, *enc = long_did + sl + 1;
	size_t hl = sl - 10;
	char *want = NULL;
	uint8_t *raw = NULL;
	size_t rl = 0;
	cJSON *doc = NULL;
	dc_err rc;
	if (enc[0] != 'z' || hl < 2 || hash[0] != 'z') {
		rc = dc__fail(ei, DC_ERR_RESOLVE, "did:peer:4: malformed long form");
		goto out;
	}
	if ((rc = mh_sha256(enc, strlen(enc), &want)))
		goto out;
	if (strlen(want) != hl || memcmp(want, hash, hl) != 0) {
		rc = dc__fail(ei, DC_ERR_RESOLVE, "did:peer:4: the hash does not match the document");
		goto out;
	}
	size_t cap = strlen(enc); /* base58 never decodes to more bytes than characters */
	if (!(raw = malloc(cap + 1))) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	if (dc__base58_decode(enc + 1, cap - 1, raw, cap, &rl) != DC_OK || rl < 3 || raw[0] != 0x80 || raw[1] != 0x04) {
		rc = dc__fail(ei, DC_ERR_RESOLVE, "did:peer:4: the document is not multicodec JSON");
		goto out;
	}
	if (dc__json_parse((const char *)raw + 2, rl - 2, DOC4_DEPTH, &doc, NULL) || !cJSON_IsObject(doc)) {
		rc = dc__fail(ei, DC_ERR_RESOLVE, "did:peer:4: the document is not a JSON object");
		goto out;
	}
	/* contextualise: our id, the other form in alsoKnownAs, controllers default to us */
	rc = DC_ERR_NOMEM;
	cJSON_DeleteItemFromObjectCaseSensitive(doc, "id");
	if (!cJSON_AddStringToObject(doc, "id", as))
		goto out;
	cJSON *aka = cJSON_GetObjectItemCaseSensitive(doc, "alsoKnownAs");
	if (aka && !cJSON_IsArray(aka)) {
		rc = dc__fail(ei, DC_ERR_RESOLVE, "did:peer:4: alsoKnownAs is not an array");
		goto out;
	}
	if (!aka && !(aka = cJSON_AddArrayToObject(doc, "alsoKnownAs")))
		goto out;
	/* the other form: the short one is the long one cut before its second colon */
	char *form = as_long ? strndup(long_did, sl) : strdup(long_did);
	cJSON *other = form ? cJSON_CreateString(form) : NULL;
	free(form);
	if (!other || !cJSON_AddItemToArray(aka, other)) {
		cJSON_Delete(other);
		goto out;
	}
	static const char *const holders[] = { "verificationMethod", "authentication", "keyAgreement", "assertionMethod",
		                               "capabilityInvocation", "capabilityDelegation" };
	for (size_t i = 0; i < sizeof holders / sizeof holders[0]; i++)
		if (!set_controllers(cJSON_GetObjectItemCaseSensitive(doc, holders[i]), as))
			goto out;
	*out = doc;
	doc = NULL;
	rc = DC_OK;
out:
	cJSON_Delete(doc);
	free(want);
	free(raw);
	return rc;
}

dc_err dc__did_peer4_encode(const cJSON *input, char **did)
{
	*did = NULL;
	if (!cJSON_IsObject(input) || cJSON_GetObjectItemCaseSensitive(input, "id"))
		return DC_ERR_INVAL; /* the input document has no id: the DID is not known yet */
	char *txt = cJSON_PrintUnformatted(input), *enc = NULL, *hash = NULL, *d = NULL;
	uint8_t *raw = NULL;
	dc_err rc = DC_ERR_NOMEM;
	if (!txt)
		goto out;
	size_t tl = strlen(txt);
	if (!(raw = malloc(tl + 2)))
		goto out;
	raw[0] = 0x80; /* varint 0x0200: json */
	raw[1] = 0x04;
	memcpy(raw + 2, txt, tl);
	if ((rc = dc__multibase_z(raw, tl + 2, &enc)) || (rc = mh_sha256(enc, strlen(enc), &hash)))
		goto out;
	size_t n = strlen("did:peer:4") + strlen(hash) + 1 + strlen(enc) + 1;
	if (n > MAX_PEER + 1) {
		rc = DC_ERR_TOO_BIG;
		goto out;
	}
	if (!(d = malloc(n))) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	snprintf(d, n, "did:peer:4%s:%s", hash, enc);
	*did = d;
	rc = DC_OK;
out:
	free(txt);
	free(raw);
	free(enc);
	free(hash);
	return rc;
}

/* ---- entry ---------------------------------------------------------------------------- */

dc_err dc__did_peer_resolve(const char *did, cJSON **doc, struct dc_errinfo *ei)
{
	*doc = NULL;
	if (!did || strncmp(did, "did:peer:", 9) != 0)
		return dc__fail(ei, DC_ERR_RESOLVE, "not a did:peer");
	if (strnlen(did, MAX_PEER + 1) > MAX_PEER)
		return dc__fail(ei, DC_ERR_TOO_BIG, "did:peer longer than %d bytes", MAX_PEER);
	switch (did[9]) {
	case '0':
		return dc__did_key_doc(did, did + 10, doc, ei);
	case '2':
		return peer2(did, doc, ei);
	case '4':
		if (!dc__did_peer4_short_len(did))
			return dc__fail(ei, DC_ERR_RESOLVE,
			                "did:peer:4 short form %.100s: unknown here (its long form has not been seen)", did);
		return dc__did_peer4_doc(did, did, doc, ei);
	default:
		return dc__fail(ei, DC_ERR_UNSUPPORTED, "did:peer numalgo '%c' is not supported", did[9] ? did[9] : '?');
	}
}
