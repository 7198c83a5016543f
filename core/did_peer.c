/* did:peer numalgo 0, 2 and 4 (DIF peer-did-method-spec).
 *  0: one multibase key, resolved like did:key.
 *  2: ".<purpose><multibase key>" elements (E keyAgreement, V authentication, A assertion,
 *     I invocation, D delegation) and ".S<base64url service>" with the abbreviations
 *     t/type dm/DIDCommMessaging s/serviceEndpoint r/routingKeys a/accept; keys are #key-1..N
 *     in order, services #service, #service-1, ... . Both service encodings found in the
 *     wild are read: {"t":"dm","s":"uri","r":[],"a":[]} and {"t":"dm","s":{"uri":..}}.
 *  4: long form did:peer:4<hash>:<z base58btc(multicodec json 0x0200 || document)>, the hash
 *     being z base58btc(multihash sha2-256) of the encoded document, which is checked. */
#include "internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PEER 8192
#define MAX_ELEMS 64

dc_err dc__did_key_doc(const char *did, const char *mb, cJSON **doc, struct dc_errinfo *ei);

static cJSON *new_doc(const char *did)
{
	cJSON *doc = cJSON_CreateObject(), *ctx = cJSON_CreateArray();
	if (!doc || !ctx) {
		cJSON_Delete(doc);
		cJSON_Delete(ctx);
		return NULL;
	}
	cJSON_AddItemToArray(ctx, cJSON_CreateString("https://www.w3.org/ns/did/v1"));
	cJSON_AddItemToArray(ctx, cJSON_CreateString("https://w3id.org/security/multikey/v1"));
	cJSON_AddItemToObject(doc, "@context", ctx);
	cJSON_AddStringToObject(doc, "id", did);
	return doc;
}

static cJSON *rel_array(cJSON *doc, const char *name)
{
	cJSON *a = cJSON_GetObjectItemCaseSensitive(doc, name);
	return a ? a : cJSON_AddArrayToObject(doc, name);
}

/* rename abbreviated keys of one object, recursively into "s" */
static void expand(cJSON *o)
{
	static const char *map[][2] = { { "t", "type" }, { "s", "serviceEndpoint" }, { "r", "routingKeys" },
	                                { "a", "accept" } };
	for (cJSON *m = o ? o->child : NULL; m; m = m->next) {
		for (size_t i = 0; i < 4; i++)
			if (strcmp(m->string, map[i][0]) == 0 && !cJSON_GetObjectItemCaseSensitive(o, map[i][1])) {
				char *n = strdup(map[i][1]);
				if (n) {
					if (!(m->type & cJSON_StringIsConst))
						free(m->string);
					m->string = n;
					m->type &= ~cJSON_StringIsConst;
				}
			}
		if (cJSON_IsString(m) && strcmp(m->string, "type") == 0 && strcmp(m->valuestring, "dm") == 0)
			cJSON_SetValuestring(m, "DIDCommMessaging");
		if (cJSON_IsObject(m) && strcmp(m->string, "serviceEndpoint") == 0)
			expand(m);
	}
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
		if (*p != '.' || !p[1] || !p[2] || ++elems > MAX_ELEMS) {
			rc = dc__fail(ei, DC_ERR_RESOLVE, "did:peer:2: malformed element list");
			goto out;
		}
		char purpose = p[1];
		const char *start = p + 2;
		const char *end = strchr(start, '.');
		size_t len = end ? (size_t)(end - start) : strlen(start);
		p = start + len;
		char *val = strndup(start, len);
		if (!val)
			goto out;
		if (purpose == 'S') {
			uint8_t *raw = NULL;
			size_t rl = 0;
			/* services are sometimes written with padding: accept it here only */
			size_t vl = len;
			while (vl && val[vl - 1] == '=')
				vl--;
			cJSON *s = NULL;
			if (dc__b64url_decode(val, vl, &raw, &rl) == DC_OK && dc__json_parse((const char *)raw, rl, 8, &s, NULL))
				s = NULL;
			free(raw);
			free(val);
			if (!s || (!cJSON_IsObject(s) && !cJSON_IsArray(s))) {
				cJSON_Delete(s);
				rc = dc__fail(ei, DC_ERR_RESOLVE, "did:peer:2: service element is not base64url JSON");
				goto out;
			}
			if (!svcs && !(svcs = cJSON_AddArrayToObject(doc, "service"))) {
				cJSON_Delete(s);
				goto out;
			}
			cJSON *items = cJSON_IsArray(s) ? s : NULL, *one;
			for (one = items ? items->child : s; one; one = items ? one->next : NULL) {
				if (!cJSON_IsObject(one))
					continue;
				expand(one);
				if (!cJSON_GetObjectItemCaseSensitive(one, "id")) {
					char sid[64];
					if (nsvc == 0)
						snprintf(sid, sizeof sid, "#service");
					else
						snprintf(sid, sizeof sid, "#service-%zu", nsvc);
					cJSON_AddStringToObject(one, "id", sid);
				}
				nsvc++;
				cJSON_AddItemToArray(svcs, cJSON_Duplicate(one, true));
				if (!items)
					break;
			}
			cJSON_Delete(s);
			continue;
		}
		const char *rel = purpose == 'E' ? "keyAgreement" : purpose == 'V' ? "authentication" :
		                  purpose == 'A' ? "assertionMethod" : purpose == 'I' ? "capabilityInvocation" :
		                  purpose == 'D' ? "capabilityDelegation" : NULL;
		struct dc_key *k = NULL;
		if (!rel || dc__multikey_decode(val, &k) != DC_OK) {
			rc = dc__fail(ei, DC_ERR_RESOLVE, "did:peer:2: bad key element '%c'", purpose);
			free(val);
			goto out;
		}
		dc_key_free(k);
		char id[2048];
		snprintf(id, sizeof id, "%s#key-%zu", did, ++nkeys);
		cJSON *vm = cJSON_CreateObject();
		if (!vm) {
			free(val);
			goto out;
		}
		cJSON_AddStringToObject(vm, "id", id);
		cJSON_AddStringToObject(vm, "type", "Multikey");
		cJSON_AddStringToObject(vm, "controller", did);
		cJSON_AddStringToObject(vm, "publicKeyMultibase", val);
		cJSON_AddItemToArray(vms, vm);
		cJSON_AddItemToArray(rel_array(doc, rel), cJSON_CreateString(id));
		free(val);
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

/* z base58btc of the sha2-256 multihash of s */
static dc_err mh_sha256(const char *s, size_t n, char **out)
{
	uint8_t mh[34];
	mh[0] = 0x12;
	mh[1] = 0x20;
	crypto_hash_sha256(mh + 2, (const uint8_t *)s, n);
	return dc__multibase_z(mh, sizeof mh, out);
}

static dc_err peer4(const char *did, cJSON **out, struct dc_errinfo *ei)
{
	*out = NULL;
	const char *body = did + strlen("did:peer:4");
	const char *colon = strchr(body, ':');
	if (!colon)
		return dc__fail(ei, DC_ERR_RESOLVE, "did:peer:4 short form %.100s: resolve its long form first", did);
	char *hash = NULL;
	uint8_t *raw = NULL;
	size_t rl = 0;
	cJSON *doc = NULL;
	dc_err rc = DC_ERR_RESOLVE;
	const char *enc = colon + 1;
	if (enc[0] != 'z' || mh_sha256(enc, strlen(enc), &hash) != DC_OK ||
	    strlen(hash) != (size_t)(colon - body) || memcmp(hash, body, strlen(hash)) != 0) {
		rc = dc__fail(ei, DC_ERR_RESOLVE, "did:peer:4: hash does not match the document");
		goto out;
	}
	size_t cap = strlen(enc);
	if (!(raw = malloc(cap + 1)) || dc__base58_decode(enc + 1, strlen(enc + 1), raw, cap, &rl) != DC_OK || rl < 3 ||
	    raw[0] != 0x80 || raw[1] != 0x04) {
		rc = dc__fail(ei, DC_ERR_RESOLVE, "did:peer:4: document is not multicodec JSON");
		goto out;
	}
	if (dc__json_parse((const char *)raw + 2, rl - 2, 16, &doc, ei) || !cJSON_IsObject(doc)) {
		rc = dc__fail(ei, DC_ERR_RESOLVE, "did:peer:4: document is not a JSON object");
		goto out;
	}
	/* contextualise: our id, the short form as alsoKnownAs, controllers default to us */
	cJSON_DeleteItemFromObjectCaseSensitive(doc, "id");
	cJSON_AddStringToObject(doc, "id", did);
	cJSON *aka = cJSON_CreateArray();
	char *shortform = strndup(did, (size_t)(colon - did));
	if (aka && shortform)
		cJSON_AddItemToArray(aka, cJSON_CreateString(shortform));
	free(shortform);
	cJSON_DeleteItemFromObjectCaseSensitive(doc, "alsoKnownAs");
	cJSON_AddItemToObject(doc, "alsoKnownAs", aka);
	cJSON *vm;
	cJSON_ArrayForEach(vm, cJSON_GetObjectItemCaseSensitive(doc, "verificationMethod"))
		if (cJSON_IsObject(vm) && !cJSON_GetObjectItemCaseSensitive(vm, "controller"))
			cJSON_AddStringToObject(vm, "controller", did);
	*out = doc;
	doc = NULL;
	rc = DC_OK;
out:
	cJSON_Delete(doc);
	free(hash);
	free(raw);
	return rc;
}

dc_err dc__did_peer_resolve(const char *did, cJSON **doc, struct dc_errinfo *ei)
{
	*doc = NULL;
	size_t n = strlen(did);
	if (n > MAX_PEER)
		return dc__fail(ei, DC_ERR_TOO_BIG, "did:peer longer than %d bytes", MAX_PEER);
	if (strncmp(did, "did:peer:0", 10) == 0)
		return dc__did_key_doc(did, did + 10, doc, ei);
	if (strncmp(did, "did:peer:2", 10) == 0)
		return peer2(did, doc, ei);
	if (strncmp(did, "did:peer:4", 10) == 0)
		return peer4(did, doc, ei);
	return dc__fail(ei, DC_ERR_UNSUPPORTED, "did:peer numalgo of %.60s is not supported", did);
}

/* did:peer:4 long form from an input document (used by dc_did_new) */
dc_err dc__did_peer4_encode(const cJSON *input, char **did);
dc_err dc__did_peer4_encode(const cJSON *input, char **did)
{
	*did = NULL;
	char *txt = cJSON_PrintUnformatted(input), *hash = NULL;
	if (!txt)
		return DC_ERR_NOMEM;
	size_t tl = strlen(txt);
	uint8_t *raw = malloc(tl + 2);
	dc_err rc = DC_ERR_NOMEM;
	if (!raw)
		goto out;
	raw[0] = 0x80;
	raw[1] = 0x04;
	memcpy(raw + 2, txt, tl);
	char *enc = NULL;
	if ((rc = dc__multibase_z(raw, tl + 2, &enc)))
		goto out;
	size_t bl = strlen(enc) - 1;
	if ((rc = mh_sha256(enc, bl + 1, &hash))) {
		free(enc);
		goto out;
	}
	size_t n = strlen("did:peer:4") + strlen(hash) + 1 + bl + 2;
	char *d = malloc(n);
	if (d)
		snprintf(d, n, "did:peer:4%s:%s", hash, enc);
	free(enc);
	rc = d ? DC_OK : DC_ERR_NOMEM;
	*did = d;
out:
	free(txt);
	free(raw);
	free(hash);
	return rc;
}
