/* DIDs: did:key against the did:key spec's vectors (tests/unit/data/did-key-vectors.json),
 * did:peer:2 known answers in both service encodings (the peer DID spec, didcomm-rust's test
 * secrets; tests/unit/data/did-peer-vectors.json), did:peer:4 (the spec's long form, short
 * forms, encode known answer, tampering), did:peer:0, dc_did_new for every method with a
 * pack/unpack between new DIDs, did:web URLs, the resolver (local documents, cache, DID URLs,
 * the fetch callback), every vector DID document, and hostile documents. */
#include "testutil.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct dc_did_doc *resolve(struct dc_resolver *r, const char *did)
{
	struct dc_did_doc *d = NULL;
	struct dc_errinfo ei = { 0 };
	dc_err rc = dc_resolve(r, did, &d, &ei);
	if (rc)
		fprintf(stderr, "\nresolve %.80s: %s\n", did, ei.msg);
	return d;
}

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
	size_t n = h ? strlen(h) / 2 : 0;
	if (n > cap)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			return 0;
		out[i] = (uint8_t)v;
	}
	return n;
}

static char *cat(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 1);
	memcpy(s, a, la);
	memcpy(s + la, b, lb + 1);
	return s;
}

static bool same_pub(const struct dc_key *k, const char *hex)
{
	uint8_t b[DC_MAX_PUB];
	size_t n = unhex(hex, b, sizeof b);
	return k && n == k->pub_len && memcmp(b, k->pub, n) == 0;
}

/* ---- did:key ----------------------------------------------------------------------------- */

static void did_key_vectors(void)
{
	cJSON *j = tu_read_json("tests/unit/data/did-key-vectors.json");
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	struct dc_resolver *r = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_resolver_new(8, &r), DC_OK);
	size_t n = 0;
	const cJSON *v;
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(j, "vectors"))
	{
		const char *did = dc__json_str(v, "did"), *pub = dc__json_str(v, "pub");
		enum dc_crv crv = dc_crv_from_name(dc__json_str(v, "crv"));
		for (int peer0 = 0; peer0 < 2; peer0++) {
			/* did:peer:0 is the same document under another DID */
			char *d_id = peer0 ? cat("did:peer:0", did + strlen("did:key:")) : strdup(did);
			struct dc_did_doc *d = resolve(r, d_id);
			CU_ASSERT_PTR_NOT_NULL_FATAL(d);
			CU_ASSERT_STRING_EQUAL(dc_did_doc_id(d), d_id);
			char *frag = cat("#", did + strlen("did:key:"));
			char *kid = cat(d_id, frag);
			const struct dc_vm *vm = dc__did_doc_vm(d, kid);
			CU_ASSERT_PTR_NOT_NULL_FATAL(vm);
			CU_ASSERT_EQUAL(vm->key->crv, crv);
			CU_ASSERT(same_pub(vm->key, pub));
			CU_ASSERT_STRING_EQUAL(dc_key_kid(vm->key), kid);
			CU_ASSERT_STRING_EQUAL(vm->type, "Multikey");
			CU_ASSERT_STRING_EQUAL(vm->controller, d_id);
			bool signs = crv == DC_CRV_ED25519 || crv == DC_CRV_P256 || crv == DC_CRV_SECP256K1;
			bool agrees = crv == DC_CRV_X25519 || crv == DC_CRV_P256 || crv == DC_CRV_P384 || crv == DC_CRV_P521;
			CU_ASSERT_EQUAL(dc__did_doc_in_auth(d, kid), signs);
			CU_ASSERT_EQUAL(dc__did_doc_in_ka(d, kid), agrees);
			const char *ka = dc__json_str(v, "ka");
			if (ka) { /* Ed25519: the X25519 key the did:key spec derives */
				char *xkid = cat(d_id, strrchr(ka, '#'));
				const struct dc_vm *x = dc__did_doc_vm(d, xkid);
				CU_ASSERT(x && x->key->crv == DC_CRV_X25519 && same_pub(x->key, dc__json_str(v, "ka_pub")));
				CU_ASSERT(dc__did_doc_in_ka(d, xkid));
				CU_ASSERT_EQUAL(d->n_ka, 1);
				CU_ASSERT_EQUAL(d->n_vms, 2);
				free(xkid);
			} else {
				CU_ASSERT_EQUAL(d->n_vms, 1);
			}
			dc_did_doc_free(d);
			free(frag);
			free(kid);
			free(d_id);
		}
		/* the spec's own document for this DID parses, and says the same of the key */
		char *txt = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(v, "doc"));
		struct dc_did_doc *sd = NULL;
		struct dc_errinfo ei = { 0 };
		CU_ASSERT_EQUAL(dc_did_doc_parse(txt, strlen(txt), &sd, &ei), DC_OK);
		if (!sd)
			fprintf(stderr, "\n%s: %s\n", did, ei.msg);
		for (size_t i = 0; sd && i < sd->n_vms; i++)
			if (sd->vms[i].key->crv == crv)
				CU_ASSERT(same_pub(sd->vms[i].key, pub));
		dc_did_doc_free(sd);
		free(txt);
		n++;
	}
	CU_ASSERT(n >= 20);
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(j, "unsupported"))
	{
		struct dc_did_doc *d = NULL;
		struct dc_errinfo ei = { 0 };
		CU_ASSERT_EQUAL(dc_resolve(r, v->valuestring, &d, &ei), DC_ERR_RESOLVE);
		CU_ASSERT(strstr(ei.msg, "not a supported") != NULL);
		CU_ASSERT_PTR_NULL(d);
	}
	dc_resolver_free(r);
	cJSON_Delete(j);
}

static void did_key_hostile(void)
{
	struct dc_resolver *r = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_resolver_new(4, &r), DC_OK);
	const char *bad[] = { "did:key:", "did:key:z", "did:key:zzzz", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2do",
	                      "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doKK", "did:key:m6MkhaXg", "did:",
	                      "did:key", "", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK:x",
	                      "did:peer:0", "did:peer:0z6Mk", "did:peer:1zQmZMygzYqNwU6Uhmewx5Xepf2VLp5S4HLSwwgf2aiKZuwa" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct dc_did_doc *x = NULL;
		CU_ASSERT_NOT_EQUAL(dc_resolve(r, bad[i], &x, NULL), DC_OK);
		CU_ASSERT_PTR_NULL(x);
	}
	struct dc_did_doc *x = NULL;
	CU_ASSERT_EQUAL(dc_resolve(r, NULL, &x, NULL), DC_ERR_RESOLVE);
	CU_ASSERT_EQUAL(dc_resolve(r, "did:peer:1zQmZMygzYqNwU6Uhmewx5Xepf2VLp5S4HLSwwgf2aiKZuwa", &x, NULL),
	                DC_ERR_UNSUPPORTED);
	/* very long: refused without work */
	char *big = malloc(300000);
	memcpy(big, "did:key:z", 9);
	memset(big + 9, '2', 300000 - 10);
	big[300000 - 1] = 0;
	CU_ASSERT_NOT_EQUAL(dc_resolve(r, big, &x, NULL), DC_OK);
	memcpy(big, "did:peer:0z", 11);
	CU_ASSERT_NOT_EQUAL(dc_resolve(r, big, &x, NULL), DC_OK);
	free(big);
	dc_resolver_free(r);
}

/* ---- did:peer ---------------------------------------------------------------------------- */

/* check a resolved document against one entry of did-peer-vectors.json; `as` is the DID
 * the document is for (the vector's DID or its short form) */
static void check_peer_doc(const cJSON *v, const struct dc_did_doc *d, const char *as)
{
	CU_ASSERT_STRING_EQUAL(d->id, as);
	const cJSON *k;
	size_t nk = 0;
	cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(v, "keys"))
	{
		char *id = cat(as, dc__json_str(k, "id"));
		const struct dc_vm *vm = dc__did_doc_vm(d, id);
		CU_ASSERT_PTR_NOT_NULL(vm);
		if (vm) {
			struct dc_key *want = NULL;
			CU_ASSERT_EQUAL(dc__multikey_decode(dc__json_str(k, "mb"), &want), DC_OK);
			CU_ASSERT(want && want->crv == vm->key->crv && memcmp(want->pub, vm->key->pub, want->pub_len) == 0);
			CU_ASSERT_STRING_EQUAL(vm->controller, as);
			CU_ASSERT_STRING_EQUAL(dc_key_kid(vm->key), id);
			dc_key_free(want);
			const cJSON *jwk = cJSON_GetObjectItemCaseSensitive(k, "jwk");
			if (jwk) { /* the public half of didcomm-rust's secret is this key */
				struct dc_key *s = NULL;
				CU_ASSERT_EQUAL(dc__jwk_parse(jwk, &s, NULL), DC_OK);
				CU_ASSERT(s && s->pub_len == vm->key->pub_len && memcmp(s->pub, vm->key->pub, s->pub_len) == 0);
				dc_key_free(s);
			}
		}
		const char *rel = dc__json_str(k, "rel");
		if (strcmp(rel, "keyAgreement") == 0)
			CU_ASSERT(dc__did_doc_in_ka(d, id));
		if (strcmp(rel, "authentication") == 0)
			CU_ASSERT(dc__did_doc_in_auth(d, id));
		free(id);
		nk++;
	}
	CU_ASSERT_EQUAL(d->n_vms, nk);
	const cJSON *s;
	size_t ns = 0;
	cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(v, "services"))
	{
		CU_ASSERT_FATAL(ns < d->n_svcs);
		const struct dc_service *sv = &d->svcs[ns];
		char *sid = cat(as, dc__json_str(s, "id"));
		CU_ASSERT_STRING_EQUAL(sv->id, sid);
		CU_ASSERT_STRING_EQUAL(sv->uri, dc__json_str(s, "uri"));
		CU_ASSERT_STRING_EQUAL(sv->type, "DIDCommMessaging");
		const cJSON *a = cJSON_GetObjectItemCaseSensitive(s, "accept"), *rk = cJSON_GetObjectItemCaseSensitive(s, "routingKeys");
		CU_ASSERT_EQUAL(sv->n_accept, (size_t)cJSON_GetArraySize(a));
		for (size_t i = 0; i < sv->n_accept; i++)
			CU_ASSERT_STRING_EQUAL(sv->accept[i], cJSON_GetArrayItem(a, (int)i)->valuestring);
		CU_ASSERT_EQUAL(sv->n_routing_keys, (size_t)cJSON_GetArraySize(rk));
		for (size_t i = 0; i < sv->n_routing_keys; i++)
			CU_ASSERT_STRING_EQUAL(sv->routing_keys[i], cJSON_GetArrayItem(rk, (int)i)->valuestring);
		free(sid);
		ns++;
	}
	CU_ASSERT_EQUAL(d->n_svcs, ns);
}

static void did_peer_vectors(void)
{
	cJSON *j = tu_read_json("tests/unit/data/did-peer-vectors.json");
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	const cJSON *v;
	size_t n = 0;
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(j, "vectors"))
	{
		const char *did = dc__json_str(v, "did"), *sh = dc__json_str(v, "short");
		struct dc_resolver *r = NULL;
		CU_ASSERT_EQUAL_FATAL(dc_resolver_new(4, &r), DC_OK);
		struct dc_did_doc *d = NULL;
		if (sh) { /* a short form alone is unknown */
			struct dc_errinfo ei = { 0 };
			CU_ASSERT_EQUAL(dc_resolve(r, sh, &d, &ei), DC_ERR_RESOLVE);
			CU_ASSERT(strstr(ei.msg, "long form") != NULL);
		}
		d = resolve(r, did);
		CU_ASSERT_PTR_NOT_NULL_FATAL(d);
		check_peer_doc(v, d, did);
		/* a key as a DID URL finds the same document (from the cache) */
		struct dc_did_doc *again = NULL;
		char *url = cat(did, "#key-1");
		CU_ASSERT_EQUAL(dc_resolve(r, url, &again, NULL), DC_OK);
		CU_ASSERT_PTR_EQUAL(again, d);
		dc_did_doc_free(again);
		free(url);
		if (sh) {
			/* the long form names the short one in alsoKnownAs, and the other way round */
			const cJSON *aka = cJSON_GetObjectItemCaseSensitive(d->json, "alsoKnownAs");
			CU_ASSERT(cJSON_IsArray(aka) && cJSON_GetArraySize(aka) == 1 &&
			          strcmp(cJSON_GetArrayItem(aka, 0)->valuestring, sh) == 0);
			struct dc_did_doc *s = resolve(r, sh);
			CU_ASSERT_PTR_NOT_NULL_FATAL(s);
			check_peer_doc(v, s, sh);
			aka = cJSON_GetObjectItemCaseSensitive(s->json, "alsoKnownAs");
			CU_ASSERT(cJSON_IsArray(aka) && cJSON_GetArraySize(aka) == 1 &&
			          strcmp(cJSON_GetArrayItem(aka, 0)->valuestring, did) == 0);
			dc_did_doc_free(s);
		}
		dc_did_doc_free(d);
		dc_resolver_free(r);
		n++;
	}
	CU_ASSERT_EQUAL(n, 5);
	cJSON_Delete(j);
}

static void did_peer2_forms(void)
{
	struct dc_resolver *r = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_resolver_new(4, &r), DC_OK);
	const char *keys = "did:peer:2.Ez6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc.Vz6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V";
	/* the older abbreviation, "s" a string beside "r"/"a", padded as seen in the wild */
	const char *old = ".SeyJ0IjoiZG0iLCJzIjoiaHR0cHM6Ly9leGFtcGxlLmNvbS9lbmRwb2ludCIsInIiOlsiZGlkOmV4YW1wbGU6c29tZW1lZGlhdG9yI3NvbWVrZXkiXSwiYSI6WyJkaWRjb21tL3YyIiwiZGlkY29tbS9haXAyO2Vudj1yZmM1ODciXX0";
	char buf[2048];
	for (int pad = 0; pad < 3; pad++) {
		snprintf(buf, sizeof buf, "%s%s%.*s", keys, old, pad, "==");
		struct dc_did_doc *d = resolve(r, buf);
		CU_ASSERT_PTR_NOT_NULL_FATAL(d);
		CU_ASSERT_EQUAL_FATAL(d->n_svcs, 1);
		CU_ASSERT_STRING_EQUAL(d->svcs[0].uri, "https://example.com/endpoint");
		CU_ASSERT_EQUAL(d->svcs[0].n_accept, 2);
		CU_ASSERT_EQUAL(d->svcs[0].n_routing_keys, 1);
		dc_did_doc_free(d);
	}
	/* a service with its own id keeps it; services without one count #service, #service-1 */
	const char *svc_id = "eyJpZCI6IiNkaWRjb21tIiwidCI6ImRtIiwicyI6eyJ1cmkiOiJodHRwOi8vYS9iIn19"; /* {"id":"#didcomm","t":"dm","s":{"uri":"http://a/b"}} */
	const char *svc = "eyJ0IjoiZG0iLCJzIjp7InVyaSI6Imh0dHA6Ly9hL2MifX0"; /* {"t":"dm","s":{"uri":"http://a/c"}} */
	snprintf(buf, sizeof buf, "%s.S%s.S%s.S%s", keys, svc, svc_id, svc);
	struct dc_did_doc *d = resolve(r, buf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_EQUAL_FATAL(d->n_svcs, 3);
	CU_ASSERT(strstr(d->svcs[0].id, "#service") && !strstr(d->svcs[0].id, "#service-"));
	CU_ASSERT(strstr(d->svcs[1].id, "#didcomm") != NULL);
	CU_ASSERT(strstr(d->svcs[2].id, "#service-2") != NULL);
	CU_ASSERT_STRING_EQUAL(d->svcs[2].uri, "http://a/c");
	dc_did_doc_free(d);
	/* keys are numbered in order of appearance whatever their purpose; A, I, D purposes */
	snprintf(buf, sizeof buf,
	         "did:peer:2.Vz6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V.Az6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V"
	         ".Ez6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc");
	d = resolve(r, buf);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	char *k3 = cat(buf, "#key-3");
	CU_ASSERT(dc__did_doc_in_ka(d, k3));
	CU_ASSERT_EQUAL(d->n_vms, 3);
	CU_ASSERT_EQUAL(d->n_auth, 1);
	free(k3);
	dc_did_doc_free(d);
	dc_resolver_free(r);
}

static void did_peer2_hostile(void)
{
	struct dc_resolver *r = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_resolver_new(4, &r), DC_OK);
	const char *E = ".Ez6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc", *V = ".Vz6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V";
	const char *tails[] = {
		"",                                                  /* no elements */
		".",                                                 /* empty element */
		".E",                                                /* purpose without key */
		"..Ez6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc", /* empty element first */
		".Xz6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc", /* unknown purpose */
		".Ez6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V", /* Ed25519 for key agreement */
		".Vz6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc", /* X25519 for authentication */
		".Ez6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KC",  /* a truncated key */
		".Sbm90LWpzb24",                                     /* S: "not-json" */
		".SWzFd",                                            /* S: [1] */
		".S!!!",                                             /* S: not base64url */
		".SeyJ0IjoiZG0iLCJzIjp7fX0",                         /* S: {"t":"dm","s":{}}: no uri */
		".SeyJ0IjoiZG0iLCJzIjp7InVyaSI6IngiLCJyIjpbMV19fQ",  /* S: routing key 1 */
		".SeyJ0IjoiZG0iLCJzIjo1fQ",                          /* S: "s":5 */
	};
	char buf[4096];
	for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++) {
		const char *pre = i < 8 ? "" : E; /* service cases come with a good key */
		snprintf(buf, sizeof buf, "did:peer:2%s%s", pre, tails[i]);
		struct dc_did_doc *x = NULL;
		struct dc_errinfo ei = { 0 };
		dc_err rc = dc_resolve(r, buf, &x, &ei);
		CU_ASSERT_NOT_EQUAL(rc, DC_OK);
		CU_ASSERT(rc == DC_OK || ei.msg[0] != 0);
		if (rc == DC_OK)
			fprintf(stderr, "\naccepted: %s\n", buf);
		CU_ASSERT_PTR_NULL(x);
	}
	/* 65 elements, and a DID over 8 KiB */
	size_t o = (size_t)snprintf(buf, sizeof buf, "did:peer:2");
	for (int i = 0; i < 65; i++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%s", i % 2 ? E : V);
	struct dc_did_doc *x = NULL;
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL(dc_resolve(r, buf, &x, &ei), DC_ERR_RESOLVE);
	CU_ASSERT(strstr(ei.msg, "elements") != NULL);
	char *big = malloc(9000);
	o = (size_t)snprintf(big, 9000, "did:peer:2%s.S", E);
	memset(big + o, 'A', 9000 - o - 1);
	big[9000 - 1] = 0;
	CU_ASSERT_EQUAL(dc_resolve(r, big, &x, NULL), DC_ERR_TOO_BIG);
	free(big);
	/* 64 elements are fine */
	o = (size_t)snprintf(buf, sizeof buf, "did:peer:2");
	for (int i = 0; i < 64; i++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%s", i % 2 ? E : V);
	x = resolve(r, buf);
	CU_ASSERT(x && x->n_vms == 64);
	dc_did_doc_free(x);
	dc_resolver_free(r);
}

static void did_peer4(void)
{
	/* encode known answer: the did-peer-4 README's {"hello":"world"} */
	cJSON *in = cJSON_Parse("{\"hello\":\"world\"}");
	char *did = NULL;
	CU_ASSERT_EQUAL(dc__did_peer4_encode(in, &did), DC_OK);
	CU_ASSERT(did && strcmp(did, "did:peer:4zQmb7xLdVY9TXx8oov5XgpGUmGELgqiAV2699s43i6Qdm3M:zQSJgiFTYiCHjQ9MktwNThRXM7a") == 0);
	CU_ASSERT_EQUAL(dc__did_peer4_short_len(did), strlen("did:peer:4zQmb7xLdVY9TXx8oov5XgpGUmGELgqiAV2699s43i6Qdm3M"));
	free(did);
	/* an input document with an id is refused: the DID is not known yet */
	cJSON_AddStringToObject(in, "id", "did:example:x");
	CU_ASSERT_EQUAL(dc__did_peer4_encode(in, &did), DC_ERR_INVAL);
	cJSON_Delete(in);
	CU_ASSERT_EQUAL(dc__did_peer4_short_len("did:peer:4zQm"), 0);
	CU_ASSERT_EQUAL(dc__did_peer4_short_len("did:peer:4zQm:"), 0);
	CU_ASSERT_EQUAL(dc__did_peer4_short_len("did:peer:2.Ez6LS"), 0);

	struct dc_resolver *r = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_resolver_new(4, &r), DC_OK);
	/* the spec's long form, tampered: every position of the document and of the hash */
	size_t n = 0;
	char *spec = NULL;
	cJSON *pv = tu_read_json("tests/unit/data/did-peer-vectors.json");
	const cJSON *v;
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(pv, "vectors"))
	if (dc__json_str(v, "short") && strlen(dc__json_str(v, "did")) > 1000)
		spec = strdup(dc__json_str(v, "did"));
	cJSON_Delete(pv);
	CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
	n = strlen(spec);
	size_t tried = 0;
	for (size_t i = 12; i < n; i += 37) {
		if (spec[i] == ':')
			continue;
		char *t = strdup(spec);
		t[i] = t[i] == '2' ? '3' : '2';
		struct dc_did_doc *x = NULL;
		CU_ASSERT_EQUAL(dc_resolve(r, t, &x, NULL), DC_ERR_RESOLVE);
		CU_ASSERT_PTR_NULL(x);
		free(t);
		tried++;
	}
	CU_ASSERT(tried > 20);
	/* cut anywhere: never accepted */
	for (size_t cut = 11; cut < n; cut += 101) {
		char *t = strndup(spec, cut);
		struct dc_did_doc *x = NULL;
		CU_ASSERT_NOT_EQUAL(dc_resolve(r, t, &x, NULL), DC_OK);
		free(t);
	}
	free(spec);
	/* a correct hash over something that is not multicodec JSON, or not a JSON object */
	const struct {
		const uint8_t *b;
		size_t n;
	} payloads[] = {
		{ (const uint8_t *)"\x80\x04[1,2]", 7 },
		{ (const uint8_t *)"\x80\x04not json", 10 },
		{ (const uint8_t *)"\xa9\x01{\"a\":1}", 9 }, /* dag-json codec */
		{ (const uint8_t *)"\x80\x04{\"alsoKnownAs\":5}", 19 },
		{ (const uint8_t *)"\x80\x04{\"verificationMethod\":[{\"id\":\"did:example:alice#key-1\",\"type\":\"Multikey\","
		                   "\"publicKeyMultibase\":\"z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc\"}]}",
		  0 }, /* a method for another DID */
	};
	for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
		size_t len = payloads[i].n ? payloads[i].n : strlen((const char *)payloads[i].b);
		char *enc = NULL, *hash = NULL;
		CU_ASSERT_EQUAL_FATAL(dc__multibase_z(payloads[i].b, len, &enc), DC_OK);
		uint8_t mh[34] = { 0x12, 0x20 };
		crypto_hash_sha256(mh + 2, (const uint8_t *)enc, strlen(enc));
		CU_ASSERT_EQUAL_FATAL(dc__multibase_z(mh, sizeof mh, &hash), DC_OK);
		char t[2048];
		snprintf(t, sizeof t, "did:peer:4%s:%s", hash, enc);
		struct dc_did_doc *x = NULL;
		struct dc_errinfo ei = { 0 };
		CU_ASSERT_NOT_EQUAL(dc_resolve(r, t, &x, &ei), DC_OK);
		CU_ASSERT(ei.msg[0] != 0);
		CU_ASSERT_PTR_NULL(x);
		free(enc);
		free(hash);
	}
	/* the resolver remembers long forms for their short forms, MRU-bounded */
	CU_ASSERT(r->n_peer4 == 0);
	dc_resolver_free(r);
}

/* ---- dc_did_new --------------------------------------------------------------------------- */

static void did_new_methods(void)
{
	struct dc_resolver *r = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_resolver_new(16, &r), DC_OK);
	const enum dc_did_method m[] = { DC_DID_KEY, DC_DID_PEER0, DC_DID_PEER2, DC_DID_PEER4 };
	const char *prefix[] = { "did:key:z6Mk", "did:peer:0z6Mk", "did:peer:2.Ez6LS", "did:peer:4zQm" };
	const char *ep[] = { "https://example.org/dc", "ws://127.0.0.1:1/b" }, *rk[] = { "did:example:med#key-1" };
	char *dids[4] = { 0 };
	struct dc_keystore *ks[4] = { 0 };
	for (size_t i = 0; i < 4; i++) {
		bool svc = m[i] == DC_DID_PEER2 || m[i] == DC_DID_PEER4;
		struct dc_did_new_opts o = { .method = m[i], .endpoints = ep, .n_endpoints = svc ? 2 : 0, .routing_keys = rk,
			                     .n_routing_keys = svc ? 1 : 0 };
		struct dc_errinfo ei = { 0 };
		CU_ASSERT_EQUAL_FATAL(dc_keystore_new(&ks[i]), DC_OK);
		CU_ASSERT_EQUAL_FATAL(dc_did_new(&o, ks[i], &dids[i], &ei), DC_OK);
		CU_ASSERT(strncmp(dids[i], prefix[i], strlen(prefix[i])) == 0);
		struct dc_did_doc *d = resolve(r, dids[i]);
		CU_ASSERT_PTR_NOT_NULL_FATAL(d);
		CU_ASSERT_EQUAL(d->n_ka, 1);
		CU_ASSERT_EQUAL(d->n_auth, 1);
		/* the secrets sit under the kids the DID resolves to, and match its keys */
		const struct dc_key *xs = dc_keystore_get(ks[i], d->ka[0]), *es = dc_keystore_get(ks[i], d->auth[0]);
		CU_ASSERT_PTR_NOT_NULL_FATAL(xs);
		CU_ASSERT_PTR_NOT_NULL_FATAL(es);
		CU_ASSERT(xs->crv == DC_CRV_X25519 && memcmp(xs->pub, dc__did_doc_vm(d, d->ka[0])->key->pub, 32) == 0);
		CU_ASSERT(es->crv == DC_CRV_ED25519 && memcmp(es->pub, dc__did_doc_vm(d, d->auth[0])->key->pub, 32) == 0);
		CU_ASSERT_EQUAL(dc_keystore_count(ks[i]), m[i] == DC_DID_PEER4 ? 4 : 2);
		if (svc) {
			CU_ASSERT_EQUAL_FATAL(d->n_svcs, 2);
			for (size_t s = 0; s < 2; s++) {
				CU_ASSERT_STRING_EQUAL(d->svcs[s].uri, ep[s]);
				CU_ASSERT(d->svcs[s].n_accept == 1 && strcmp(d->svcs[s].accept[0], "didcomm/v2") == 0);
				CU_ASSERT(d->svcs[s].n_routing_keys == 1 && strcmp(d->svcs[s].routing_keys[0], rk[0]) == 0);
			}
		} else {
			CU_ASSERT_EQUAL(d->n_svcs, 0);
		}
		if (m[i] == DC_DID_PEER4) { /* the short form, once the long one is known, has keys too */
			char *sh = strndup(dids[i], dc__did_peer4_short_len(dids[i]));
			struct dc_did_doc *s = resolve(r, sh);
			CU_ASSERT_PTR_NOT_NULL_FATAL(s);
			CU_ASSERT_PTR_NOT_NULL(dc_keystore_get(ks[i], s->ka[0]));
			CU_ASSERT_PTR_NOT_NULL(dc_keystore_get(ks[i], s->auth[0]));
			CU_ASSERT(strncmp(s->ka[0], sh, strlen(sh)) == 0 && s->ka[0][strlen(sh)] == '#');
			dc_did_doc_free(s);
			free(sh);
		}
		dc_did_doc_free(d);
	}
	/* authcrypt from each new DID to the next one (the short did:peer:4 form included), with
	 * the kids as dc_did_new stored them */
	for (size_t i = 0; i < 4; i++) {
		size_t j = (i + 1) % 4;
		char *to = j == 3 ? strndup(dids[j], dc__did_peer4_short_len(dids[j])) : strdup(dids[j]);
		char msg[16384];
		snprintf(msg, sizeof msg, "{\"id\":\"n%zu\",\"type\":\"https://example.org/t/1.0/x\",\"from\":\"%s\",\"to\":[\"%s\"],\"body\":{}}",
		         i, dids[i], to);
		const char *tos[] = { to };
		struct dc_pack_opts po = { .mode = DC_PACK_AUTHCRYPT, .to = tos, .n_to = 1, .no_forward = true };
		struct dc_pack_result res = { 0 };
		struct dc_ctx *cs = NULL, *cr = NULL;
		struct dc_errinfo ei = { 0 };
		CU_ASSERT_EQUAL_FATAL(dc_ctx_new(r, ks[i], &cs), DC_OK);
		CU_ASSERT_EQUAL_FATAL(dc_ctx_new(r, ks[j], &cr), DC_OK);
		dc_err rc = dc_pack(cs, msg, strlen(msg), &po, &res, &ei);
		CU_ASSERT_EQUAL(rc, DC_OK);
		if (rc)
			fprintf(stderr, "\npack %zu: %s\n", i, ei.msg);
		if (rc == DC_OK) {
			char *out = NULL;
			struct dc_unpack_meta *meta = NULL;
			struct dc_unpack_opts uo = { .unwrap_forwards = true };
			rc = dc_unpack(cr, res.items[0].msg, res.items[0].len, &uo, &out, &meta, &ei);
			CU_ASSERT_EQUAL(rc, DC_OK);
			if (rc)
				fprintf(stderr, "\nunpack %zu: %s\n", i, ei.msg);
			CU_ASSERT(meta && meta->authenticated && meta->encrypted);
			free(out);
			dc_unpack_meta_free(meta);
		}
		dc_pack_result_clear(&res);
		dc_ctx_free(cs);
		dc_ctx_free(cr);
		free(to);
	}
	for (size_t i = 0; i < 4; i++) {
		free(dids[i]);
		dc_keystore_free(ks[i]);
	}
	dc_resolver_free(r);
}

static void did_new_refusals(void)
{
	struct dc_keystore *ks = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_keystore_new(&ks), DC_OK);
	const char *ep[] = { "https://example.org/dc" }, *sp[] = { "http://a b" }, *empty[] = { "" }, *none[] = { NULL };
	const char *rk_bad[] = { "mediator#key-1" }, *rk_nofrag[] = { "did:example:med" };
	const struct dc_did_new_opts bad[] = {
		{ .method = 0 },
		{ .method = 9 },
		{ .method = DC_DID_KEY, .endpoints = ep, .n_endpoints = 1 },
		{ .method = DC_DID_PEER0, .endpoints = ep, .n_endpoints = 1 },
		{ .method = DC_DID_PEER2, .endpoints = sp, .n_endpoints = 1 },
		{ .method = DC_DID_PEER2, .endpoints = empty, .n_endpoints = 1 },
		{ .method = DC_DID_PEER2, .endpoints = none, .n_endpoints = 1 },
		{ .method = DC_DID_PEER2, .endpoints = NULL, .n_endpoints = 1 },
		{ .method = DC_DID_PEER2, .endpoints = ep, .n_endpoints = 1, .routing_keys = rk_bad, .n_routing_keys = 1 },
		{ .method = DC_DID_PEER2, .endpoints = ep, .n_endpoints = 1, .routing_keys = rk_nofrag, .n_routing_keys = 1 },
		{ .method = DC_DID_PEER4, .routing_keys = rk_nofrag, .n_routing_keys = 1 },
		{ .method = DC_DID_PEER2, .endpoints = ep, .n_endpoints = 17 },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *did = (char *)"x";
		struct dc_errinfo ei = { 0 };
		CU_ASSERT_EQUAL(dc_did_new(&bad[i], ks, &did, &ei), DC_ERR_INVAL);
		CU_ASSERT_PTR_NULL(did);
		CU_ASSERT(ei.msg[0] != 0);
	}
	char *did = NULL;
	struct dc_did_new_opts ok = { .method = DC_DID_KEY };
	CU_ASSERT_EQUAL(dc_did_new(NULL, ks, &did, NULL), DC_ERR_INVAL);
	CU_ASSERT_EQUAL(dc_did_new(&ok, NULL, &did, NULL), DC_ERR_INVAL);
	CU_ASSERT_EQUAL(dc_keystore_count(ks), 0); /* nothing was added on the way */
	dc_keystore_free(ks);
}

/* ---- did:web and the resolver -------------------------------------------------------------- */

static void did_web_urls(void)
{
	const char *cases[][3] = {
		{ "did:web:example.com", "https://example.com/.well-known/did.json", "0" },
		{ "did:web:example.com:user:alice", "https://example.com/user/alice/did.json", "0" },
		{ "did:web:example.com%3A8443", "https://example.com:8443/.well-known/did.json", "0" },
		{ "did:web:example.com%3a8443:a", "https://example.com:8443/a/did.json", "0" },
		{ "did:web:w3c-ccg.github.io:user:alice", "https://w3c-ccg.github.io/user/alice/did.json", "0" },
		{ "did:web:127.0.0.1%3A8080:a", "http://127.0.0.1:8080/a/did.json", "1" },
		{ "did:web:localhost%3A8080", "http://localhost:8080/.well-known/did.json", "1" },
		{ "did:web:127.0.0.1%3A8080:a", "https://127.0.0.1:8080/a/did.json", "0" },
		{ "did:web:example.com", "https://example.com/.well-known/did.json", "1" }, /* http only for loopback */
		{ "did:web:example.com:a%20b:c_d~e", "https://example.com/a%20b/c_d~e/did.json", "0" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *url = NULL;
		CU_ASSERT_EQUAL(dc__did_web_url(cases[i][0], cases[i][2][0] == '1', &url, NULL), DC_OK);
		CU_ASSERT(url && strcmp(url, cases[i][1]) == 0);
		if (url && strcmp(url, cases[i][1]) != 0)
			fprintf(stderr, "\n%s -> %s\n", cases[i][0], url);
		free(url);
	}
	const char *bad[] = { "did:web:", "did:web:exa mple.com", "did:web:example.com:..:x", "did:web:example.com:.",
		              "did:web:a%3A", "did:web:a%3Ax", "did:web:a%3A0", "did:web:a%3A65536", "did:web:a%3A123456",
		              "did:web:a::b", "did:web:a:", "did:web:a:b/c", "did:web:a:b%2", "did:web:a:b%zz",
		              "did:web:.example.com", "did:web:example..com", "did:web:-a.com", "did:web:a@b.com",
		              "did:web:a%2Fb", "did:key:z6Mk", "did:web:a:b?c", "did:web:a:b#c" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *url = NULL;
		struct dc_errinfo ei = { 0 };
		CU_ASSERT_NOT_EQUAL(dc__did_web_url(bad[i], true, &url, &ei), DC_OK);
		CU_ASSERT_PTR_NULL(url);
		if (url)
			fprintf(stderr, "\naccepted %s -> %s\n", bad[i], url);
		free(url);
	}
	char *big = malloc(2000), *url = NULL;
	memcpy(big, "did:web:", 8);
	memset(big + 8, 'a', 2000 - 9);
	big[1999] = 0;
	CU_ASSERT_NOT_EQUAL(dc__did_web_url(big, false, &url, NULL), DC_OK);
	free(big);
}

struct fake_web {
	int calls;
	size_t max_seen;
	char url[512];
	const char *body;
	size_t len_override;
	dc_err rc;
};

static dc_err fake_fetch(void *arg, const char *url, size_t max, char **body, size_t *len)
{
	struct fake_web *f = arg;
	f->calls++;
	f->max_seen = max;
	snprintf(f->url, sizeof f->url, "%s", url);
	*body = NULL;
	*len = 0;
	if (f->rc)
		return f->rc;
	*body = strdup(f->body);
	*len = f->len_override ? f->len_override : strlen(f->body);
	return DC_OK;
}

static void resolver_web(void)
{
	struct dc_resolver *r = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_resolver_new(4, &r), DC_OK);
	struct dc_did_doc *d = NULL;
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL(dc_resolve(r, "did:web:example.com", &d, &ei), DC_ERR_RESOLVE);
	CU_ASSERT(strstr(ei.msg, "no fetcher") != NULL);
	const char *doc = "{\"id\":\"did:web:example.com\",\"verificationMethod\":[{\"id\":\"#x\",\"type\":\"JsonWebKey2020\","
	                  "\"publicKeyJwk\":{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs\"}}],"
	                  "\"keyAgreement\":[\"#x\"]}";
	struct fake_web f = { .body = doc };
	dc_resolver_set_fetch(r, fake_fetch, &f);
	d = resolve(r, "did:web:example.com#x");
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_STRING_EQUAL(f.url, "https://example.com/.well-known/did.json");
	CU_ASSERT_EQUAL(f.max_seen, 1u << 20);
	CU_ASSERT(dc__did_doc_in_ka(d, "did:web:example.com#x"));
	dc_did_doc_free(d);
	/* the second time from the cache */
	d = resolve(r, "did:web:example.com?versionId=1");
	CU_ASSERT_PTR_NOT_NULL(d);
	CU_ASSERT_EQUAL(f.calls, 1);
	dc_did_doc_free(d);
	/* a document for another DID, a failed fetch, a fetcher that overflows, not JSON, a
	 * document the parser refuses */
	const char *other = "{\"id\":\"did:web:evil.example\"}";
	struct {
		const char *body;
		size_t len;
		dc_err rc;
		const char *msg;
	} bad[] = {
		{ other, 0, DC_OK, "id is not" },
		{ doc, 0, DC_ERR_IO, "failed" },
		{ doc, (1u << 20) + 1, DC_OK, "failed" },
		{ "<html>", 0, DC_OK, "not JSON" },
		{ "{\"id\":\"did:web:b.example\",\"keyAgreement\":[5]}", 0, DC_OK, "keyAgreement" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct fake_web g = { .body = bad[i].body, .len_override = bad[i].len, .rc = bad[i].rc };
		if (bad[i].len) /* the body itself is short: only the claimed length is wrong */
			g.len_override = bad[i].len;
		dc_resolver_set_fetch(r, fake_fetch, &g);
		memset(&ei, 0, sizeof ei);
		d = NULL;
		dc_err rc = dc_resolve(r, "did:web:b.example", &d, &ei);
		CU_ASSERT_NOT_EQUAL(rc, DC_OK);
		CU_ASSERT(strstr(ei.msg, bad[i].msg) != NULL);
		CU_ASSERT_PTR_NULL(d);
		CU_ASSERT_EQUAL(g.calls, 1);
	}
	/* http only on loopback, and only when allowed */
	struct fake_web h = { .body = "{\"id\":\"did:web:127.0.0.1%3A9\"}" };
	dc_resolver_set_fetch(r, fake_fetch, &h);
	d = resolve(r, "did:web:127.0.0.1%3A9");
	CU_ASSERT_STRING_EQUAL(h.url, "https://127.0.0.1:9/.well-known/did.json");
	dc_did_doc_free(d);
	struct dc_resolver *r2 = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_resolver_new(4, &r2), DC_OK);
	dc_resolver_set_fetch(r2, fake_fetch, &h);
	dc_resolver_allow_http_loopback(r2, true);
	d = resolve(r2, "did:web:127.0.0.1%3A9");
	CU_ASSERT_STRING_EQUAL(h.url, "http://127.0.0.1:9/.well-known/did.json");
	dc_did_doc_free(d);
	dc_resolver_free(r2);
	dc_resolver_free(r);
}

static void resolver_local_and_cache(void)
{
	struct dc_resolver *r = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_resolver_new(2, &r), DC_OK);
	struct dc_errinfo ei = { 0 };
	/* vector documents from files */
	const char *files[] = { "alice", "bob", "charlie", "mediator1", "mediator2", "mediator3" };
	for (size_t i = 0; i < 6; i++) {
		char p[128];
		snprintf(p, sizeof p, "tests/vectors/keys/%s-did-doc.json", files[i]);
		CU_ASSERT_EQUAL(dc_resolver_add_docs_file(r, p, &ei), DC_OK);
	}
	CU_ASSERT_EQUAL(r->n_local, 6);
	CU_ASSERT_EQUAL(dc_resolver_add_docs_file(r, "tests/vectors/keys/none.json", &ei), DC_ERR_IO);
	/* local documents win over the method, even for a did:key */
	const char *kd = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";
	char local[512];
	snprintf(local, sizeof local, "[{\"id\":\"%s\"},{\"id\":\"did:example:x\"},{\"id\":\"did:example:x\",\"alsoKnownAs\":[]}]",
	         kd);
	CU_ASSERT_EQUAL(dc_resolver_add_docs_text(r, local, strlen(local), &ei), DC_OK);
	CU_ASSERT_EQUAL(r->n_local, 8); /* did:example:x given twice: the later wins */
	struct dc_did_doc *d = resolve(r, kd);
	CU_ASSERT(d && d->n_vms == 0);
	dc_did_doc_free(d);
	d = resolve(r, "did:example:x");
	CU_ASSERT(d && cJSON_GetObjectItemCaseSensitive(d->json, "alsoKnownAs"));
	dc_did_doc_free(d);
	/* all or nothing: a bad document in the array adds none */
	const char *mixed = "[{\"id\":\"did:example:y\"},{\"id\":\"not a did\"}]";
	memset(&ei, 0, sizeof ei);
	CU_ASSERT_EQUAL(dc_resolver_add_docs_text(r, mixed, strlen(mixed), &ei), DC_ERR_MALFORMED);
	CU_ASSERT(strstr(ei.msg, "[1]") != NULL);
	CU_ASSERT_EQUAL(r->n_local, 8);
	CU_ASSERT_EQUAL(dc_resolver_add_docs_text(r, "5", 1, NULL), DC_ERR_MALFORMED);
	CU_ASSERT_EQUAL(dc_resolver_add_docs_text(r, "[]", 2, NULL), DC_OK);
	/* DID URLs: fragment, query, path all find the same local document */
	const char *urls[] = { "did:example:alice", "did:example:alice#key-1", "did:example:alice?x=1", "did:example:alice/p" };
	struct dc_did_doc *first = resolve(r, urls[0]);
	for (size_t i = 1; i < 4; i++) {
		struct dc_did_doc *o = resolve(r, urls[i]);
		CU_ASSERT_PTR_EQUAL(o, first);
		dc_did_doc_free(o);
	}
	dc_did_doc_free(first);
	/* the MRU cache holds 2; a reference outlives eviction */
	const char *keys[] = { "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp",
		               "did:key:z6LSeu9HkTHSfLLeUs2nnzUSNedgDUevfNQgQjQC23ZCit6F",
		               "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169" };
	struct dc_did_doc *held = resolve(r, keys[0]);
	CU_ASSERT_PTR_NOT_NULL_FATAL(held);
	struct dc_did_doc *t = resolve(r, keys[1]);
	dc_did_doc_free(t);
	t = resolve(r, keys[0]); /* keys[0] to the front */
	CU_ASSERT_PTR_EQUAL(t, held);
	dc_did_doc_free(t);
	t = resolve(r, keys[2]); /* evicts keys[1], the least recently used */
	dc_did_doc_free(t);
	CU_ASSERT_EQUAL(r->n_cache, 2);
	CU_ASSERT_STRING_EQUAL(r->cache[0]->id, keys[2]);
	CU_ASSERT_STRING_EQUAL(r->cache[1]->id, keys[0]);
	t = resolve(r, keys[1]); /* evicts keys[0], still held */
	dc_did_doc_free(t);
	CU_ASSERT_STRING_EQUAL(dc_did_doc_id(held), keys[0]);
	CU_ASSERT(held->n_vms == 2);
	dc_did_doc_free(held);
	/* unknown methods, not DIDs */
	CU_ASSERT_EQUAL(dc_resolve(r, "did:nope:x", &d, NULL), DC_ERR_UNSUPPORTED);
	CU_ASSERT_EQUAL(dc_resolve(r, "nope", &d, NULL), DC_ERR_RESOLVE);
	CU_ASSERT_EQUAL(dc_resolve(r, "did:Key:x", &d, NULL), DC_ERR_RESOLVE);
	CU_ASSERT_EQUAL(dc_resolve(r, "did:key:#x", &d, NULL), DC_ERR_RESOLVE);
	CU_ASSERT_EQUAL(dc_resolve(NULL, "did:key:x", &d, NULL), DC_ERR_INVAL);
	/* printing a document gives its JSON */
	d = resolve(r, "did:example:charlie");
	char *txt = NULL;
	CU_ASSERT_EQUAL(dc_did_doc_print(d, &txt), DC_OK);
	CU_ASSERT(txt && strstr(txt, "did:example:mediator3") != NULL);
	free(txt);
	dc_did_doc_free(d);
	dc_resolver_free(r);
	dc_resolver_free(NULL);
}

/* ---- documents ------------------------------------------------------------------------------ */

static void vector_docs(void)
{
	static const struct {
		const char *file;
		size_t ka, auth, vms, svcs;
	} f[] = {
		{ "alice-did-doc", 3, 3, 6, 0 },       { "bob-did-doc", 9, 0, 9, 0 },
		{ "charlie-did-doc", 1, 1, 2, 1 },     { "mediator1-did-doc", 4, 0, 4, 0 },
		{ "mediator2-did-doc", 4, 0, 4, 0 },   { "mediator3-did-doc", 4, 0, 4, 1 },
		{ "v2.0-snapshot/alice-did-doc", 3, 3, 6, 0 }, { "v2.0-snapshot/bob-did-doc", 9, 0, 9, 0 },
	};
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		char path[256];
		snprintf(path, sizeof path, "tests/vectors/keys/%s.json", f[i].file);
		size_t n = 0;
		char *txt = tu_read_file(path, &n);
		CU_ASSERT_PTR_NOT_NULL_FATAL(txt);
		struct dc_did_doc *d = NULL;
		struct dc_errinfo ei = { 0 };
		dc_err rc = dc_did_doc_parse(txt, n, &d, &ei);
		if (rc)
			fprintf(stderr, "\n%s: %s\n", f[i].file, ei.msg);
		CU_ASSERT_EQUAL(rc, DC_OK);
		if (d) {
			CU_ASSERT_EQUAL(d->n_ka, f[i].ka);
			CU_ASSERT_EQUAL(d->n_auth, f[i].auth);
			CU_ASSERT_EQUAL(d->n_vms, f[i].vms);
			CU_ASSERT_EQUAL(d->n_svcs, f[i].svcs);
			for (size_t k = 0; k < d->n_ka; k++) {
				const struct dc_vm *vm = dc__did_doc_vm(d, d->ka[k]);
				CU_ASSERT(vm && dc__crv_is_key_agreement(vm->key->crv) && strcmp(dc_key_kid(vm->key), vm->id) == 0);
			}
			for (size_t k = 0; k < d->n_auth; k++) {
				const struct dc_vm *vm = dc__did_doc_vm(d, d->auth[k]);
				CU_ASSERT(vm && dc__sig_alg_for_crv(vm->key->crv) != DC_SIG_NONE);
			}
			for (size_t k = 0; k < d->n_vms; k++)
				CU_ASSERT(strncmp(d->vms[k].id, d->id, strlen(d->id)) == 0 && !dc_key_has_private(d->vms[k].key));
		}
		if (d && strstr(f[i].file, "charlie")) {
			CU_ASSERT_STRING_EQUAL(d->svcs[0].uri, "did:example:mediator3");
			CU_ASSERT_EQUAL(d->svcs[0].n_routing_keys, 2);
			CU_ASSERT_STRING_EQUAL(d->svcs[0].routing_keys[0], "did:example:mediator2#key-x25519-1");
			CU_ASSERT_EQUAL(d->svcs[0].n_accept, 2);
		}
		if (d && strstr(f[i].file, "mediator3"))
			CU_ASSERT_STRING_EQUAL(d->svcs[0].uri, "http://example.com/path");
		dc_did_doc_free(d);
		free(txt);
	}
}

/* service shapes: object, array of objects, string with lists beside it, routing_keys,
 * relative routing keys, type arrays, other types ignored */
static void service_shapes(void)
{
	const char *doc =
		"{\"id\":\"did:example:s\",\"service\":["
		"{\"id\":\"#a\",\"type\":\"DIDCommMessaging\",\"serviceEndpoint\":{\"uri\":\"https://a\",\"accept\":[\"didcomm/v2\"],\"routingKeys\":[\"#k\"]}},"
		"{\"id\":\"#b\",\"type\":[\"DIDCommMessaging\"],\"serviceEndpoint\":[{\"uri\":\"https://b1\"},{\"uri\":\"https://b2\",\"routing_keys\":[\"did:example:m#1\"]}]},"
		"{\"id\":\"#c\",\"type\":\"DIDCommMessaging\",\"serviceEndpoint\":\"https://c\",\"accept\":[\"didcomm/v2\"],\"routingKeys\":[\"did:example:m#2\"]},"
		"{\"id\":\"#d\",\"type\":\"LinkedDomains\",\"serviceEndpoint\":5},"
		"{\"id\":\"#e\",\"type\":\"did-communication\",\"serviceEndpoint\":\"https://e\"}]}";
	struct dc_did_doc *d = NULL;
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL_FATAL(dc_did_doc_parse(doc, strlen(doc), &d, &ei), DC_OK);
	CU_ASSERT_EQUAL_FATAL(d->n_svcs, 4);
	const char *uris[] = { "https://a", "https://b1", "https://b2", "https://c" };
	for (size_t i = 0; i < 4; i++)
		CU_ASSERT_STRING_EQUAL(d->svcs[i].uri, uris[i]);
	CU_ASSERT_STRING_EQUAL(d->svcs[0].id, "did:example:s#a");
	CU_ASSERT_STRING_EQUAL(d->svcs[0].routing_keys[0], "did:example:s#k");
	CU_ASSERT_EQUAL(d->svcs[1].n_routing_keys, 0);
	CU_ASSERT_STRING_EQUAL(d->svcs[2].routing_keys[0], "did:example:m#1");
	CU_ASSERT_STRING_EQUAL(d->svcs[2].id, "did:example:s#b");
	CU_ASSERT_STRING_EQUAL(d->svcs[3].routing_keys[0], "did:example:m#2");
	CU_ASSERT_EQUAL(d->svcs[3].n_accept, 1);
	dc_did_doc_free(d);
	/* a lone service object */
	const char *one = "{\"id\":\"did:example:s\",\"service\":{\"type\":\"DIDCommMessaging\",\"serviceEndpoint\":\"https://x\"}}";
	CU_ASSERT_EQUAL_FATAL(dc_did_doc_parse(one, strlen(one), &d, &ei), DC_OK);
	CU_ASSERT(d->n_svcs == 1 && strcmp(d->svcs[0].id, "did:example:s#service") == 0);
	dc_did_doc_free(d);
}

/* methods we do not know are skipped, not fatal */
static void skipped_methods(void)
{
	const char *doc =
		"{\"id\":\"did:example:k\",\"verificationMethod\":["
		"{\"id\":\"#rsa\",\"type\":\"JsonWebKey2020\",\"publicKeyJwk\":{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}},"
		"{\"id\":\"#bls\",\"type\":\"Bls12381G2Key2020\",\"publicKeyBase58\":\"xyz\"},"
		"{\"id\":\"#ed448\",\"type\":\"JsonWebKey2020\",\"publicKeyJwk\":{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"AAAA\"}},"
		"{\"id\":\"#mk\",\"type\":\"Multikey\",\"publicKeyMultibase\":\"zUC7K4ndUaGZgV7Cp2yJy6JtMoUHY6u7tkcSYUvPrEidqBmLCTLmi6d5WvwnUqejscAkERJ3bfjEiSYtdPkRSE8kSa11hFBr4sTgnbZ95SJj19PN2jdvJjyzpSZgxkyyxNnBNnY\"},"
		"{\"id\":\"#x\",\"type\":\"X25519KeyAgreementKey2020\",\"publicKeyMultibase\":\"z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc\"}],"
		"\"keyAgreement\":[\"#x\",\"#rsa\"],\"authentication\":[{\"id\":\"#emb\",\"type\":\"Unknown2099\"}]}";
	struct dc_did_doc *d = NULL;
	struct dc_errinfo ei = { 0 };
	dc_err rc = dc_did_doc_parse(doc, strlen(doc), &d, &ei);
	CU_ASSERT_EQUAL_FATAL(rc, DC_OK);
	CU_ASSERT_EQUAL(d->n_vms, 1);
	CU_ASSERT_EQUAL(d->n_ka, 2); /* the reference to #rsa stays, and finds nothing */
	CU_ASSERT_PTR_NULL(dc__did_doc_vm(d, "did:example:k#rsa"));
	CU_ASSERT_EQUAL(d->n_auth, 0);
	CU_ASSERT_EQUAL(dc__did_doc_vm(d, "did:example:k#x")->key->crv, DC_CRV_X25519);
	dc_did_doc_free(d);
}

static void hostile_docs(void)
{
	static const struct {
		const char *doc;
		dc_err rc;
	} bad[] = {
		{ "{}", DC_ERR_MALFORMED },
		{ "[]", DC_ERR_MALFORMED },
		{ "\"did:x:y\"", DC_ERR_MALFORMED },
		{ "{\"id\":\"notadid\"}", DC_ERR_MALFORMED },
		{ "{\"id\":5}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y#frag\"}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y z\"}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"verificationMethod\":{}}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"verificationMethod\":[5]}", DC_ERR_MALFORMED },
		/* a broken key of a known kind */
		{ "{\"id\":\"did:x:y\",\"verificationMethod\":[{\"id\":\"#k\",\"type\":\"JsonWebKey2020\",\"publicKeyJwk\":{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AAAA\"}}]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"verificationMethod\":[{\"id\":\"#k\",\"type\":\"Multikey\",\"publicKeyMultibase\":\"z2D7GfUZqymJUSuGUVkLL7afdnaGQ2TNZMW4a4LFoZzLVQM\"}]}", DC_ERR_MALFORMED }, /* x25519-pub, 31 bytes */
		{ "{\"id\":\"did:x:y\",\"verificationMethod\":[{\"id\":\"#k\",\"type\":\"Ed25519VerificationKey2018\",\"publicKeyBase58\":\"0OIl\"}]}", DC_ERR_MALFORMED },
		/* a legacy type holding a key of another curve */
		{ "{\"id\":\"did:x:y\",\"verificationMethod\":[{\"id\":\"#k\",\"type\":\"Ed25519VerificationKey2020\",\"publicKeyMultibase\":\"z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc\"}]}", DC_ERR_MALFORMED },
		/* fields of the wrong type, two key fields, none */
		{ "{\"id\":\"did:x:y\",\"verificationMethod\":[{\"id\":\"#k\",\"type\":\"JsonWebKey2020\",\"publicKeyJwk\":\"x\"}]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"verificationMethod\":[{\"id\":\"#k\",\"type\":\"Multikey\",\"publicKeyMultibase\":5}]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"verificationMethod\":[{\"id\":\"#k\",\"type\":\"Multikey\"}]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"verificationMethod\":[{\"id\":\"#k\",\"type\":\"Multikey\",\"publicKeyMultibase\":\"z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc\",\"publicKeyBase58\":\"x\"}]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"verificationMethod\":[{\"id\":\"#k\",\"type\":5,\"publicKeyMultibase\":\"z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc\"}]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"verificationMethod\":[{\"id\":\"#k\",\"type\":\"Multikey\",\"controller\":[],\"publicKeyMultibase\":\"z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc\"}]}", DC_ERR_MALFORMED },
		/* method ids: missing, bare, for another DID, declared twice */
		{ "{\"id\":\"did:x:y\",\"verificationMethod\":[{\"type\":\"Multikey\",\"publicKeyMultibase\":\"z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc\"}]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"verificationMethod\":[{\"id\":\"k\",\"type\":\"Multikey\",\"publicKeyMultibase\":\"z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc\"}]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"verificationMethod\":[{\"id\":\"#\",\"type\":\"Multikey\",\"publicKeyMultibase\":\"z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc\"}]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"verificationMethod\":[{\"id\":\"did:x:alice#k\",\"type\":\"Multikey\",\"publicKeyMultibase\":\"z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc\"}]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"verificationMethod\":[{\"id\":\"did:x:yy#k\",\"type\":\"Multikey\",\"publicKeyMultibase\":\"z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc\"}]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"verificationMethod\":[{\"id\":\"#k\",\"type\":\"Multikey\",\"publicKeyMultibase\":\"z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc\"}],"
		  "\"keyAgreement\":[{\"id\":\"did:x:y#k\",\"type\":\"Multikey\",\"publicKeyMultibase\":\"z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc\"}]}", DC_ERR_MALFORMED },
		/* a private key published */
		{ "{\"id\":\"did:x:y\",\"verificationMethod\":[{\"id\":\"#k\",\"type\":\"JsonWebKey2020\",\"publicKeyJwk\":{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs\",\"d\":\"r-jK2cO3taR8LQnJB1_ikLBTAnOtShJOsHXRUWT-aZA\"}}]}", DC_ERR_MALFORMED },
		/* relationships */
		{ "{\"id\":\"did:x:y\",\"keyAgreement\":[1]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"keyAgreement\":\"#k\"}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"keyAgreement\":[\"key-1\"]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"authentication\":[\"\"]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"authentication\":[null]}", DC_ERR_MALFORMED },
		/* services */
		{ "{\"id\":\"did:x:y\",\"service\":5}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"service\":[5]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"service\":[{\"type\":\"DIDCommMessaging\"}]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"service\":[{\"type\":\"DIDCommMessaging\",\"serviceEndpoint\":{}}]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"service\":[{\"type\":\"DIDCommMessaging\",\"serviceEndpoint\":\"\"}]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"service\":[{\"type\":\"DIDCommMessaging\",\"serviceEndpoint\":5}]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"service\":[{\"type\":\"DIDCommMessaging\",\"serviceEndpoint\":[5]}]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"service\":[{\"type\":\"DIDCommMessaging\",\"serviceEndpoint\":{\"uri\":5}}]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"service\":[{\"id\":5,\"type\":\"DIDCommMessaging\",\"serviceEndpoint\":\"https://a\"}]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"service\":[{\"type\":\"DIDCommMessaging\",\"serviceEndpoint\":{\"uri\":\"x\",\"routingKeys\":\"k\"}}]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"service\":[{\"type\":\"DIDCommMessaging\",\"serviceEndpoint\":{\"uri\":\"x\",\"routingKeys\":[\"mediator\"]}}]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"service\":[{\"type\":\"DIDCommMessaging\",\"serviceEndpoint\":{\"uri\":\"x\",\"routingKeys\":[5]}}]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"service\":[{\"type\":\"DIDCommMessaging\",\"serviceEndpoint\":{\"uri\":\"x\",\"accept\":[true]}}]}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\",\"service\":[{\"type\":\"DIDCommMessaging\",\"serviceEndpoint\":{\"uri\":\"x\",\"accept\":\"didcomm/v2\"}}]}", DC_ERR_MALFORMED },
		/* JSON itself */
		{ "{\"id\":\"did:x:y\",\"id\":\"did:x:z\"}", DC_ERR_MALFORMED },
		{ "{\"id\":\"did:x:y\"} x", DC_ERR_MALFORMED },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct dc_did_doc *d = NULL;
		struct dc_errinfo ei = { 0 };
		dc_err rc = dc_did_doc_parse(bad[i].doc, strlen(bad[i].doc), &d, &ei);
		CU_ASSERT_EQUAL(rc, bad[i].rc);
		if (rc != bad[i].rc)
			fprintf(stderr, "\nbad[%zu]: %s (%s)\n", i, dc_strerror(rc), ei.msg);
		CU_ASSERT(ei.msg[0] != 0);
		CU_ASSERT_PTR_NULL(d);
		CU_ASSERT(strstr(ei.msg, "r-jK2cO3") == NULL); /* never the private key */
	}
	/* counts: 65 references, 65 embedded methods, 65 endpoints, 65 accept entries, deep JSON */
	const char *kinds[] = { "ref", "vm", "svc", "accept", "deep" };
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		for (int count = 64; count <= 65; count++) {
			size_t cap = 400000, o;
			char *big = malloc(cap);
			o = (size_t)snprintf(big, cap, "{\"id\":\"did:x:y\",");
			if (k == 0) {
				o += (size_t)snprintf(big + o, cap - o, "\"keyAgreement\":[");
				for (int i = 0; i < count; i++)
					o += (size_t)snprintf(big + o, cap - o, "%s\"#k%d\"", i ? "," : "", i);
				o += (size_t)snprintf(big + o, cap - o, "]}");
			} else if (k == 1) {
				o += (size_t)snprintf(big + o, cap - o, "\"keyAgreement\":[");
				for (int i = 0; i < count; i++)
					o += (size_t)snprintf(big + o, cap - o,
					                      "%s{\"id\":\"#k%d\",\"type\":\"Multikey\",\"publicKeyMultibase\":"
					                      "\"z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc\"}",
					                      i ? "," : "", i);
				o += (size_t)snprintf(big + o, cap - o, "]}");
			} else if (k == 2) {
				o += (size_t)snprintf(big + o, cap - o, "\"service\":[{\"type\":\"DIDCommMessaging\",\"serviceEndpoint\":[");
				for (int i = 0; i < count; i++)
					o += (size_t)snprintf(big + o, cap - o, "%s{\"uri\":\"https://h/%d\"}", i ? "," : "", i);
				o += (size_t)snprintf(big + o, cap - o, "]}]}");
			} else if (k == 3) {
				o += (size_t)snprintf(big + o, cap - o,
				                      "\"service\":[{\"type\":\"DIDCommMessaging\",\"serviceEndpoint\":{\"uri\":\"x\",\"accept\":[");
				for (int i = 0; i < count; i++)
					o += (size_t)snprintf(big + o, cap - o, "%s\"p%d\"", i ? "," : "", i);
				o += (size_t)snprintf(big + o, cap - o, "]}}]}");
			} else {
				o += (size_t)snprintf(big + o, cap - o, "\"x\":");
				int depth = count == 64 ? 30 : 40;
				for (int i = 0; i < depth; i++)
					big[o++] = '[';
				for (int i = 0; i < depth; i++)
					big[o++] = ']';
				big[o++] = '}';
				big[o] = 0;
			}
			struct dc_did_doc *d = NULL;
			struct dc_errinfo ei = { 0 };
			dc_err rc = dc_did_doc_parse(big, o, &d, &ei);
			CU_ASSERT_EQUAL(rc, count == 64 ? DC_OK : DC_ERR_TOO_BIG);
			if (rc != (count == 64 ? DC_OK : DC_ERR_TOO_BIG))
				fprintf(stderr, "\n%s x%d: %s (%s)\n", kinds[k], count, dc_strerror(rc), ei.msg);
			dc_did_doc_free(d);
			free(big);
		}
	}
	/* NULLs */
	struct dc_did_doc *d = NULL;
	CU_ASSERT_NOT_EQUAL(dc_did_doc_parse(NULL, 0, &d, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_did_doc_parse("{}", 2, NULL, NULL), DC_ERR_INVAL);
	CU_ASSERT_PTR_NULL(dc__did_doc_vm(NULL, "x"));
	CU_ASSERT(!dc__did_doc_in_ka(NULL, "x"));
	dc_did_doc_free(NULL);
}

/* the older verification method types with base58 keys, the routing_keys spelling, and the
 * {"id","type","privateKeyJwk"} secrets form, all working together through pack/unpack */
static void legacy_forms(void)
{
	struct dc_key *x = NULL, *e = NULL;
	CU_ASSERT_EQUAL_FATAL(dc__key_generate(DC_CRV_X25519, &x), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc__key_generate(DC_CRV_ED25519, &e), DC_OK);
	char *xb = NULL, *eb = NULL, *xjwk = NULL;
	CU_ASSERT_EQUAL_FATAL(dc__base58_encode(x->pub, 32, &xb), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc__base58_encode(e->pub, 32, &eb), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc__key_set_kid(x, "did:example:legacy#x"), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_jwk_print(x, true, &xjwk), DC_OK);
	char doc[2048], sec[1024];
	snprintf(doc, sizeof doc,
	         "{\"id\":\"did:example:legacy\",\"verificationMethod\":["
	         "{\"id\":\"#x\",\"type\":\"X25519KeyAgreementKey2019\",\"controller\":\"did:example:legacy\",\"publicKeyBase58\":\"%s\"},"
	         "{\"id\":\"#e\",\"type\":\"Ed25519VerificationKey2018\",\"controller\":\"did:example:legacy\",\"publicKeyBase58\":\"%s\"}],"
	         "\"keyAgreement\":[\"#x\"],\"authentication\":[\"#e\"],"
	         "\"service\":[{\"id\":\"#s\",\"type\":\"DIDCommMessaging\",\"serviceEndpoint\":[{\"uri\":\"http://127.0.0.1:9/\","
	         "\"routing_keys\":[\"#x\"]}]}]}",
	         xb, eb);
	struct dc_did_doc *d = NULL;
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL_FATAL(dc_did_doc_parse(doc, strlen(doc), &d, &ei), DC_OK);
	CU_ASSERT_EQUAL(dc__did_doc_vm(d, "did:example:legacy#x")->key->crv, DC_CRV_X25519);
	CU_ASSERT_EQUAL(dc__did_doc_vm(d, "did:example:legacy#e")->key->crv, DC_CRV_ED25519);
	CU_ASSERT_EQUAL_FATAL(d->n_svcs, 1);
	CU_ASSERT_EQUAL_FATAL(d->svcs[0].n_routing_keys, 1);
	CU_ASSERT_STRING_EQUAL(d->svcs[0].routing_keys[0], "did:example:legacy#x");
	dc_did_doc_free(d);
	/* secrets as {"id","type","privateKeyJwk"} */
	cJSON *j = cJSON_Parse(xjwk);
	cJSON_DeleteItemFromObjectCaseSensitive(j, "kid");
	char *pk = cJSON_PrintUnformatted(j);
	snprintf(sec, sizeof sec, "[{\"id\":\"did:example:legacy#x\",\"type\":\"JsonWebKey2020\",\"privateKeyJwk\":%s}]", pk);
	struct dc_keystore *ks = NULL, *none = NULL;
	struct dc_resolver *r = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_keystore_new(&ks), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_keystore_new(&none), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_keystore_load_text(ks, sec, strlen(sec), NULL), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_resolver_new(4, &r), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_resolver_add_docs_text(r, doc, strlen(doc), NULL), DC_OK);
	/* pack to it (the routing key is its own key: one forward), unpack with the legacy secret */
	const char *m = "{\"id\":\"l1\",\"type\":\"t/1.0/x\",\"body\":{}}";
	const char *to[] = { "did:example:legacy" };
	struct dc_pack_opts o = { .mode = DC_PACK_ANONCRYPT, .to = to, .n_to = 1 };
	struct dc_pack_result res = { 0 };
	struct dc_ctx *c = NULL, *c2 = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_ctx_new(r, none, &c), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_pack(c, m, strlen(m), &o, &res, &ei), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_ctx_new(r, ks, &c2), DC_OK);
	char *out = NULL;
	struct dc_unpack_meta *meta = NULL;
	struct dc_unpack_opts uo = { .unwrap_forwards = true };
	CU_ASSERT_EQUAL(dc_unpack(c2, res.items[0].msg, res.items[0].len, &uo, &out, &meta, &ei), DC_OK);
	CU_ASSERT(out && strcmp(out, m) == 0);
	CU_ASSERT(meta && meta->re_wrapped_in_forward);
	free(out);
	dc_unpack_meta_free(meta);
	dc_pack_result_clear(&res);
	dc_ctx_free(c);
	dc_ctx_free(c2);
	dc_resolver_free(r);
	dc_keystore_free(ks);
	dc_keystore_free(none);
	cJSON_Delete(j);
	free(pk);
	free(xjwk);
	free(xb);
	free(eb);
	dc_key_free(x);
	dc_key_free(e);
}

void init_did_tests(void)
{
	CU_pSuite s = CU_add_suite("did", NULL, NULL);
	TU_ADD(s, did_key_vectors);
	TU_ADD(s, did_key_hostile);
	TU_ADD(s, did_peer_vectors);
	TU_ADD(s, did_peer2_forms);
	TU_ADD(s, did_peer2_hostile);
	TU_ADD(s, did_peer4);
	TU_ADD(s, did_new_methods);
	TU_ADD(s, did_new_refusals);
	TU_ADD(s, did_web_urls);
	TU_ADD(s, resolver_web);
	TU_ADD(s, resolver_local_and_cache);
	TU_ADD(s, vector_docs);
	TU_ADD(s, service_shapes);
	TU_ADD(s, skipped_methods);
	TU_ADD(s, hostile_docs);
	TU_ADD(s, legacy_forms);
}
