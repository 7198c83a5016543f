/* DIDs: did:key and did:peer known answers, both did:peer:2 service encodings, did:peer:4
 * create/resolve/tamper, did:web URLs, every vector DID document, keystore files, hostile
 * documents. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct dc_did_doc *resolve(struct dc_resolver *r, const char *did)
{
	struct dc_did_doc *d = NULL;
	struct dc_errinfo ei = { 0 };
	dc_err rc = dc_resolve(r, did, &d, &ei);
	if (rc)
		fprintf(stderr, "\nresolve %.80s: %s\n", did, ei.msg);
	return d;
}

static void did_key_known(void)
{
	struct dc_resolver *r = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_resolver_new(4, &r), DC_OK);
	/* the did:key spec's Ed25519 example and the X25519 key it derives */
	const char *did = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";
	struct dc_did_doc *d = resolve(r, did);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_EQUAL(d->n_ka, 1);
	CU_ASSERT_STRING_EQUAL(d->ka[0], "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
	                                 "#z6LSj72tK8brWgZja8NLRwPigth2T9QRiG1uH9oKZuKjdh9p");
	CU_ASSERT_EQUAL(d->n_auth, 1);
	CU_ASSERT_EQUAL(dc__did_doc_vm(d, d->auth[0])->key->crv, DC_CRV_ED25519);
	dc_did_doc_free(d);
	/* hostile: garbage keys, wrong codec, truncations */
	const char *bad[] = { "did:key:", "did:key:z", "did:key:zzzz", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2do",
	                      "did:key:m6MkhaXg", "did:nope:x", "did:", "did:key", "" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct dc_did_doc *x = NULL;
		CU_ASSERT_NOT_EQUAL(dc_resolve(r, bad[i], &x, NULL), DC_OK);
		CU_ASSERT_PTR_NULL(x);
	}
	dc_resolver_free(r);
}

static void did_peer2_encodings(void)
{
	struct dc_resolver *r = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_resolver_new(4, &r), DC_OK);
	/* the older abbreviation: "s" is the URI, "r"/"a" at service level (the peer DID spec's example) */
	const char *old = "did:peer:2.Ez6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc.Vz6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V."
	                  "SeyJ0IjoiZG0iLCJzIjoiaHR0cHM6Ly9leGFtcGxlLmNvbS9lbmRwb2ludCIsInIiOlsiZGlkOmV4YW1wbGU6c29tZW1lZGlhdG9yI3NvbWVrZXkiXSwiYSI6WyJkaWRjb21tL3YyIiwiZGlkY29tbS9haXAyO2Vudj1yZmM1ODciXX0";
	struct dc_did_doc *d = resolve(r, old);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_EQUAL(d->n_ka, 1);
	CU_ASSERT_EQUAL(d->n_auth, 1);
	CU_ASSERT(strstr(d->ka[0], "#key-1") != NULL);
	CU_ASSERT(strstr(d->auth[0], "#key-2") != NULL);
	CU_ASSERT_EQUAL_FATAL(d->n_svcs, 1);
	CU_ASSERT_STRING_EQUAL(d->svcs[0].uri, "https://example.com/endpoint");
	CU_ASSERT_EQUAL(d->svcs[0].n_routing_keys, 1);
	CU_ASSERT_STRING_EQUAL(d->svcs[0].routing_keys[0], "did:example:somemediator#somekey");
	CU_ASSERT_EQUAL(d->svcs[0].n_accept, 2);
	dc_did_doc_free(d);
	/* the current one, as we write it: "s" is an object */
	struct dc_keystore *ks = NULL;
	char *did = NULL;
	const char *ep[] = { "http://127.0.0.1:1/a", "ws://127.0.0.1:1/b" }, *rk[] = { "did:example:med#key-1" };
	struct dc_did_new_opts o = { .method = DC_DID_PEER2, .endpoints = ep, .n_endpoints = 2, .routing_keys = rk,
	                             .n_routing_keys = 1 };
	CU_ASSERT_EQUAL_FATAL(dc_keystore_new(&ks), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_did_new(&o, ks, &did, NULL), DC_OK);
	d = resolve(r, did);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_EQUAL_FATAL(d->n_svcs, 2);
	CU_ASSERT_STRING_EQUAL(d->svcs[0].uri, ep[0]);
	CU_ASSERT_STRING_EQUAL(d->svcs[1].uri, ep[1]);
	CU_ASSERT_STRING_EQUAL(d->svcs[1].routing_keys[0], rk[0]);
	CU_ASSERT_PTR_NOT_NULL(dc_keystore_get(ks, d->ka[0]));
	CU_ASSERT_PTR_NOT_NULL(dc_keystore_get(ks, d->auth[0]));
	CU_ASSERT_EQUAL(dc_keystore_count(ks), 2);
	dc_did_doc_free(d);
	free(did);
	/* padded service base64 is accepted (seen in the wild), a broken one is not */
	char padded[1024];
	snprintf(padded, sizeof padded, "%s==", old);
	d = resolve(r, padded);
	CU_ASSERT_PTR_NOT_NULL(d);
	dc_did_doc_free(d);
	struct dc_did_doc *x = NULL;
	CU_ASSERT_NOT_EQUAL(dc_resolve(r, "did:peer:2.Ez6LS.V", &x, NULL), DC_OK);
	CU_ASSERT_NOT_EQUAL(dc_resolve(r, "did:peer:2.Sbm90LWpzb24", &x, NULL), DC_OK);
	CU_ASSERT_NOT_EQUAL(dc_resolve(r, "did:peer:3zQmX", &x, NULL), DC_OK);
	dc_keystore_free(ks);
	dc_resolver_free(r);
}

static void did_peer4_and_0(void)
{
	struct dc_resolver *r = NULL;
	struct dc_keystore *ks = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_resolver_new(4, &r), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_keystore_new(&ks), DC_OK);
	enum dc_did_method methods[] = { DC_DID_PEER4, DC_DID_PEER0, DC_DID_KEY };
	for (size_t i = 0; i < 3; i++) {
		char *did = NULL;
		const char *ep[] = { "https://example.org/dc" };
		struct dc_did_new_opts o = { .method = methods[i], .endpoints = ep, .n_endpoints = i == 0 ? 1 : 0 };
		CU_ASSERT_EQUAL_FATAL(dc_did_new(&o, ks, &did, NULL), DC_OK);
		struct dc_did_doc *d = resolve(r, did);
		CU_ASSERT_PTR_NOT_NULL_FATAL(d);
		CU_ASSERT_STRING_EQUAL(d->id, did);
		CU_ASSERT_PTR_NOT_NULL(dc_keystore_get(ks, d->ka[0]));
		if (i == 0) {
			CU_ASSERT_EQUAL(d->n_svcs, 1);
			/* a changed document no longer matches the hash */
			char *t = strdup(did);
			size_t n = strlen(t);
			t[n - 3] = t[n - 3] == 'a' ? 'b' : 'a';
			struct dc_did_doc *x = NULL;
			CU_ASSERT_NOT_EQUAL(dc_resolve(r, t, &x, NULL), DC_OK);
			free(t);
		}
		dc_did_doc_free(d);
		free(did);
	}
	dc_keystore_free(ks);
	dc_resolver_free(r);
}

static void did_web_urls(void)
{
	const char *cases[][3] = {
		{ "did:web:example.com", "https://example.com/.well-known/did.json", "0" },
		{ "did:web:example.com:user:alice", "https://example.com/user/alice/did.json", "0" },
		{ "did:web:example.com%3A8443", "https://example.com:8443/.well-known/did.json", "0" },
		{ "did:web:127.0.0.1%3A8080:a", "http://127.0.0.1:8080/a/did.json", "1" },
		{ "did:web:127.0.0.1%3A8080:a", "https://127.0.0.1:8080/a/did.json", "0" },
		{ "did:web:example.com", "https://example.com/.well-known/did.json", "1" }, /* http only for loopback */
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *url = NULL;
		CU_ASSERT_EQUAL(dc__did_web_url(cases[i][0], cases[i][2][0] == '1', &url, NULL), DC_OK);
		CU_ASSERT(url && strcmp(url, cases[i][1]) == 0);
		free(url);
	}
	const char *bad[] = { "did:web:", "did:web:exa mple.com", "did:web:example.com:..:x", "did:web:a%3A", "did:web:a%3Ax",
	                      "did:web:a::b" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *url = NULL;
		CU_ASSERT_NOT_EQUAL(dc__did_web_url(bad[i], false, &url, NULL), DC_OK);
		CU_ASSERT_PTR_NULL(url);
	}
}

static void vector_docs(void)
{
	const char *files[] = { "alice-did-doc", "bob-did-doc", "charlie-did-doc", "mediator1-did-doc", "mediator2-did-doc",
	                        "mediator3-did-doc", "v2.0-snapshot/alice-did-doc", "v2.0-snapshot/bob-did-doc" };
	size_t want_ka[] = { 3, 9, 1, 4, 4, 4, 3, 9 };
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		char path[256];
		snprintf(path, sizeof path, "tests/vectors/keys/%s.json", files[i]);
		size_t n = 0;
		char *txt = tu_read_file(path, &n);
		CU_ASSERT_PTR_NOT_NULL_FATAL(txt);
		struct dc_did_doc *d = NULL;
		struct dc_errinfo ei = { 0 };
		dc_err rc = dc_did_doc_parse(txt, n, &d, &ei);
		if (rc)
			fprintf(stderr, "\n%s: %s\n", files[i], ei.msg);
		CU_ASSERT_EQUAL(rc, DC_OK);
		if (d) {
			CU_ASSERT_EQUAL(d->n_ka, want_ka[i]);
			for (size_t k = 0; k < d->n_ka; k++)
				CU_ASSERT_PTR_NOT_NULL(dc__did_doc_vm(d, d->ka[k]));
		}
		if (d && strstr(files[i], "charlie")) {
			CU_ASSERT_EQUAL_FATAL(d->n_svcs, 1);
			CU_ASSERT_STRING_EQUAL(d->svcs[0].uri, "did:example:mediator3");
			CU_ASSERT_EQUAL(d->svcs[0].n_routing_keys, 2);
		}
		dc_did_doc_free(d);
		free(txt);
	}
}

static void hostile_docs(void)
{
	const char *bad[] = {
		"{}", "[]", "{\"id\":\"notadid\"}", "{\"id\":\"did:x:y\",\"verificationMethod\":{}}",
		"{\"id\":\"did:x:y\",\"verificationMethod\":[{\"id\":\"#k\",\"type\":\"JsonWebKey2020\",\"publicKeyJwk\":{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AAAA\"}}]}",
		"{\"id\":\"did:x:y\",\"keyAgreement\":[1]}",
		"{\"id\":\"did:x:y\",\"service\":[{\"type\":\"DIDCommMessaging\",\"serviceEndpoint\":{}}]}",
		"{\"id\":\"did:x:y\",\"service\":[{\"type\":\"DIDCommMessaging\",\"serviceEndpoint\":{\"uri\":\"x\",\"routingKeys\":\"k\"}}]}",
		"{\"id\":\"did:x:y\",\"verificationMethod\":[{\"id\":\"#k\",\"type\":\"Multikey\",\"publicKeyMultibase\":\"z6Mk\"}]}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct dc_did_doc *d = NULL;
		struct dc_errinfo ei = { 0 };
		CU_ASSERT_NOT_EQUAL(dc_did_doc_parse(bad[i], strlen(bad[i]), &d, &ei), DC_OK);
		CU_ASSERT(ei.msg[0] != 0);
		CU_ASSERT_PTR_NULL(d);
	}
	/* too many methods */
	char *big = malloc(200000);
	size_t o = (size_t)snprintf(big, 200000, "{\"id\":\"did:x:y\",\"keyAgreement\":[");
	for (int i = 0; i < 100; i++)
		o += (size_t)snprintf(big + o, 200000 - o, "%s\"#k%d\"", i ? "," : "", i);
	o += (size_t)snprintf(big + o, 200000 - o, "]}");
	struct dc_did_doc *d = NULL;
	CU_ASSERT_EQUAL(dc_did_doc_parse(big, o, &d, NULL), DC_ERR_TOO_BIG);
	free(big);
}

static void keystore_files(void)
{
	char dir[] = "/tmp/dcks.XXXXXX";
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof path, "%s/secrets.json", dir);
	struct dc_keystore *ks = NULL, *back = NULL;
	char *did = NULL;
	struct dc_did_new_opts o = { .method = DC_DID_PEER2 };
	CU_ASSERT_EQUAL_FATAL(dc_keystore_new(&ks), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc_did_new(&o, ks, &did, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_keystore_save_file(ks, path, NULL), DC_OK);
	struct stat st;
	CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	CU_ASSERT_EQUAL_FATAL(dc_keystore_new(&back), DC_OK);
	CU_ASSERT_EQUAL(dc_keystore_load_file(back, path, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_keystore_count(back), 2);
	/* group-readable: refused */
	chmod(path, 0640);
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL(dc_keystore_load_file(back, path, &ei), DC_ERR_DENIED);
	CU_ASSERT(strstr(ei.msg, "600") != NULL);
	unlink(path);
	rmdir(dir);
	/* the spec's A.2 quirk: "kid " */
	size_t n = 0;
	char *txt = tu_read_file("tests/vectors/keys/bob-secrets.json", &n);
	struct dc_keystore *bob = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_keystore_new(&bob), DC_OK);
	CU_ASSERT_EQUAL(dc_keystore_load_text(bob, txt, n, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_keystore_count(bob), 9);
	CU_ASSERT_PTR_NOT_NULL(dc_keystore_get(bob, "did:example:bob#key-p521-2"));
	free(txt);
	/* a public key is not a secret */
	const char *pub = "[{\"kid\":\"a#1\",\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs\"}]";
	CU_ASSERT_NOT_EQUAL(dc_keystore_load_text(bob, pub, strlen(pub), NULL), DC_OK);
	dc_keystore_free(bob);
	free(did);
	dc_keystore_free(ks);
	dc_keystore_free(back);
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
	TU_ADD(s, did_key_known);
	TU_ADD(s, did_peer2_encodings);
	TU_ADD(s, did_peer4_and_0);
	TU_ADD(s, did_web_urls);
	TU_ADD(s, vector_docs);
	TU_ADD(s, hostile_docs);
	TU_ADD(s, keystore_files);
	TU_ADD(s, legacy_forms);
}
