/* Keystore: every vector secrets file (spec A.1/A.2 with the "kid " quirk, didcomm-rust's
 * {"id","type","privateKeyJwk"} form) checked key by key against its DID document; the
 * 0600 file round trip; mode refusals; all-or-nothing loads; _take ownership; hostile input. */
#include "testutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VK "tests/vectors/keys/"

static struct dc_keystore *load_text_file(const char *path, struct dc_errinfo *ei)
{
	size_t n = 0;
	char *txt = tu_read_file(path, &n);
	struct dc_keystore *ks = NULL;
	if (!txt || dc_keystore_new(&ks)) {
		free(txt);
		return NULL;
	}
	if (dc_keystore_load_text(ks, txt, n, ei)) {
		dc_keystore_free(ks);
		ks = NULL;
	}
	free(txt);
	return ks;
}

static struct dc_did_doc *doc_file(const char *path)
{
	size_t n = 0;
	char *txt = tu_read_file(path, &n);
	struct dc_did_doc *d = NULL;
	if (txt && dc_did_doc_parse(txt, n, &d, NULL))
		d = NULL;
	free(txt);
	return d;
}

/* every key of the secrets file matches the public key of the same kid in the document */
static void vector_secrets(void)
{
	static const struct {
		const char *name;
		size_t count;
		const char *kid;
	} f[] = {
		{ "alice", 6, "did:example:alice#key-p521-1" },        { "bob", 9, "did:example:bob#key-p521-2" },
		{ "charlie", 2, "did:example:charlie#key-1" },          { "mediator1", 4, "did:example:mediator1#key-x25519-1" },
		{ "mediator2", 4, "did:example:mediator2#key-p384-1" }, { "mediator3", 4, "did:example:mediator3#key-p256-1" },
	};
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
		char sp[256], dp[256];
		snprintf(sp, sizeof sp, VK "%s-secrets.json", f[i].name);
		snprintf(dp, sizeof dp, VK "%s-did-doc.json", f[i].name);
		struct dc_errinfo ei = { 0 };
		struct dc_keystore *ks = load_text_file(sp, &ei);
		struct dc_did_doc *d = doc_file(dp);
		if (!ks)
			fprintf(stderr, "\n%s: %s\n", sp, ei.msg);
		CU_ASSERT_PTR_NOT_NULL_FATAL(ks);
		CU_ASSERT_PTR_NOT_NULL_FATAL(d);
		CU_ASSERT_EQUAL(dc_keystore_count(ks), f[i].count);
		const struct dc_key *k = dc_keystore_get(ks, f[i].kid);
		CU_ASSERT(k && dc_key_has_private(k) && strcmp(dc_key_kid(k), f[i].kid) == 0);
		/* every secret has its public half in the document: walk the document's methods */
		size_t matched = 0;
		for (size_t v = 0; v < d->n_vms; v++) {
			const struct dc_key *s = dc_keystore_get(ks, d->vms[v].id);
			if (!s)
				continue;
			CU_ASSERT_EQUAL(s->crv, d->vms[v].key->crv);
			CU_ASSERT(s->pub_len == d->vms[v].key->pub_len && memcmp(s->pub, d->vms[v].key->pub, s->pub_len) == 0);
			matched++;
		}
		CU_ASSERT_EQUAL(matched, f[i].count);
		dc_did_doc_free(d);
		dc_keystore_free(ks);
	}
	/* the {"id","type","privateKeyJwk"} form of didcomm-rust, from the peer vectors */
	cJSON *pv = tu_read_json("tests/unit/data/did-peer-vectors.json");
	CU_ASSERT_PTR_NOT_NULL_FATAL(pv);
	const cJSON *v;
	size_t with_jwk = 0;
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(pv, "vectors"))
	{
		const char *did = dc__json_str(v, "did");
		cJSON *arr = cJSON_CreateArray();
		const cJSON *key;
		cJSON_ArrayForEach(key, cJSON_GetObjectItemCaseSensitive(v, "keys"))
		{
			const cJSON *jwk = cJSON_GetObjectItemCaseSensitive(key, "jwk");
			if (!jwk)
				continue;
			char id[1024];
			snprintf(id, sizeof id, "%s%s", did, dc__json_str(key, "id"));
			cJSON *s = cJSON_CreateObject();
			cJSON_AddStringToObject(s, "id", id);
			cJSON_AddStringToObject(s, "type", "JsonWebKey2020");
			cJSON_AddItemToObject(s, "privateKeyJwk", cJSON_Duplicate(jwk, true));
			cJSON_AddItemToArray(arr, s);
		}
		if (cJSON_GetArraySize(arr) > 0) {
			char *txt = cJSON_PrintUnformatted(arr);
			struct dc_keystore *ks = NULL;
			struct dc_resolver *r = NULL;
			struct dc_did_doc *d = NULL;
			CU_ASSERT_EQUAL_FATAL(dc_keystore_new(&ks), DC_OK);
			CU_ASSERT_EQUAL(dc_keystore_load_text(ks, txt, strlen(txt), NULL), DC_OK);
			CU_ASSERT_EQUAL_FATAL(dc_resolver_new(2, &r), DC_OK);
			CU_ASSERT_EQUAL_FATAL(dc_resolve(r, did, &d, NULL), DC_OK);
			for (size_t i = 0; i < d->n_vms; i++) {
				const struct dc_key *s = dc_keystore_get(ks, d->vms[i].id);
				CU_ASSERT(s && s->pub_len == d->vms[i].key->pub_len &&
				          memcmp(s->pub, d->vms[i].key->pub, s->pub_len) == 0);
				with_jwk++;
			}
			dc_did_doc_free(d);
			dc_resolver_free(r);
			dc_keystore_free(ks);
			free(txt);
		}
		cJSON_Delete(arr);
	}
	CU_ASSERT_EQUAL(with_jwk, 2);
	cJSON_Delete(pv);
}


static void file_round_trip(void)
{
	char dir[] = "/tmp/dcks.XXXXXX";
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	char path[256];
	snprintf(path, sizeof path, "%s/secrets.json", dir);
	struct dc_keystore *ks = load_text_file(VK "bob-secrets.json", NULL), *back = NULL;
	CU_ASSERT_PTR_NOT_NULL_FATAL(ks);
	/* plus a generated key of every curve */
	const enum dc_crv crvs[] = { DC_CRV_ED25519, DC_CRV_X25519, DC_CRV_P256, DC_CRV_P384, DC_CRV_P521, DC_CRV_SECP256K1 };
	for (size_t i = 0; i < sizeof crvs / sizeof crvs[0]; i++) {
		struct dc_key *k = NULL;
		char kid[64];
		snprintf(kid, sizeof kid, "did:example:gen#k%zu", i);
		CU_ASSERT_EQUAL_FATAL(dc__key_generate(crvs[i], &k), DC_OK);
		CU_ASSERT_EQUAL_FATAL(dc__key_set_kid(k, kid), DC_OK);
		CU_ASSERT_EQUAL(dc_keystore_take(ks, k), DC_OK);
	}
	CU_ASSERT_EQUAL(dc_keystore_count(ks), 15);
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL(dc_keystore_save_file(ks, path, &ei), DC_OK);
	struct stat st;
	CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	CU_ASSERT_EQUAL(tu_dir_entries(dir), 1); /* no temporary left behind */
	/* saving again replaces the file (rename over it) */
	CU_ASSERT_EQUAL(dc_keystore_save_file(ks, path, &ei), DC_OK);
	CU_ASSERT_EQUAL(tu_dir_entries(dir), 1);
	CU_ASSERT_EQUAL_FATAL(dc_keystore_new(&back), DC_OK);
	CU_ASSERT_EQUAL(dc_keystore_load_file(back, path, &ei), DC_OK);
	CU_ASSERT_EQUAL(dc_keystore_count(back), 15);
	/* same kids, same public and private parts */
	const char *kids[] = { "did:example:bob#key-x25519-1", "did:example:bob#key-p384-2", "did:example:gen#k0",
		               "did:example:gen#k4", "did:example:gen#k5" };
	for (size_t i = 0; i < sizeof kids / sizeof kids[0]; i++) {
		const struct dc_key *a = dc_keystore_get(ks, kids[i]), *b = dc_keystore_get(back, kids[i]);
		CU_ASSERT_PTR_NOT_NULL_FATAL(a);
		CU_ASSERT_PTR_NOT_NULL_FATAL(b);
		uint8_t da[DC_MAX_PRIV], db[DC_MAX_PRIV];
		size_t la = 0, lb = 0;
		CU_ASSERT_EQUAL(dc__key_priv_d(a, da, sizeof da, &la), DC_OK);
		CU_ASSERT_EQUAL(dc__key_priv_d(b, db, sizeof db, &lb), DC_OK);
		CU_ASSERT(la == lb && memcmp(da, db, la) == 0);
		CU_ASSERT(a->crv == b->crv && a->pub_len == b->pub_len && memcmp(a->pub, b->pub, a->pub_len) == 0);
	}
	/* the file is a JSON array of private JWKs with kid */
	cJSON *j = tu_read_json(path);
	CU_ASSERT(cJSON_IsArray(j) && cJSON_GetArraySize(j) == 15);
	CU_ASSERT(dc__json_str(cJSON_GetArrayItem(j, 0), "kid") && dc__json_str(cJSON_GetArrayItem(j, 0), "d"));
	cJSON_Delete(j);
	/* modes: group or other access of any kind is refused; owner read-only is fine */
	const mode_t modes[] = { 0640, 0604, 0620, 0602, 0660, 0644 };
	for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		CU_ASSERT_EQUAL_FATAL(chmod(path, modes[i]), 0);
		memset(&ei, 0, sizeof ei);
		CU_ASSERT_EQUAL(dc_keystore_load_file(back, path, &ei), DC_ERR_DENIED);
		char want[16];
		snprintf(want, sizeof want, "mode %03o", (unsigned)modes[i]);
		CU_ASSERT(strstr(ei.msg, want) != NULL);
	}
	CU_ASSERT_EQUAL_FATAL(chmod(path, 0400), 0);
	CU_ASSERT_EQUAL(dc_keystore_load_file(back, path, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_keystore_count(back), 15);
	/* not a file, no file, no directory to save into */
	CU_ASSERT_EQUAL(dc_keystore_load_file(back, dir, NULL), DC_ERR_IO);
	char missing[300];
	snprintf(missing, sizeof missing, "%s/none.json", dir);
	memset(&ei, 0, sizeof ei);
	CU_ASSERT_EQUAL(dc_keystore_load_file(back, missing, &ei), DC_ERR_IO);
	CU_ASSERT(strstr(ei.msg, "No such file") != NULL);
	snprintf(missing, sizeof missing, "%s/no/such/dir/s.json", dir);
	CU_ASSERT_EQUAL(dc_keystore_save_file(ks, missing, NULL), DC_ERR_IO);
	/* an empty keystore saves as [] and loads back empty */
	struct dc_keystore *empty = NULL;
	char epath[300];
	snprintf(epath, sizeof epath, "%s/empty.json", dir);
	CU_ASSERT_EQUAL_FATAL(dc_keystore_new(&empty), DC_OK);
	CU_ASSERT_EQUAL(dc_keystore_save_file(empty, epath, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_keystore_load_file(empty, epath, NULL), DC_OK);
	CU_ASSERT_EQUAL(dc_keystore_count(empty), 0);
	dc_keystore_free(empty);
	unlink(epath);
	chmod(path, 0600);
	unlink(path);
	CU_ASSERT_EQUAL(rmdir(dir), 0);
	dc_keystore_free(ks);
	dc_keystore_free(back);
}

static const char *X1 = "{\"kid\":\"did:example:a#x1\",\"kty\":\"OKP\",\"crv\":\"X25519\","
                        "\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs\","
                        "\"d\":\"r-jK2cO3taR8LQnJB1_ikLBTAnOtShJOsHXRUWT-aZA\"}";

static dc_err load(struct dc_keystore *ks, struct dc_errinfo *ei, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static dc_err load(struct dc_keystore *ks, struct dc_errinfo *ei, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return dc_keystore_load_text(ks, buf, strlen(buf), ei);
}

static void loads_all_or_nothing(void)
{
	struct dc_keystore *ks = NULL;
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL_FATAL(dc_keystore_new(&ks), DC_OK);
	CU_ASSERT_EQUAL(load(ks, &ei, "[%s]", X1), DC_OK);
	CU_ASSERT_EQUAL(dc_keystore_count(ks), 1);
	/* one object alone is read too */
	CU_ASSERT_EQUAL(load(ks, &ei, "%s", X1), DC_OK);
	CU_ASSERT_EQUAL(dc_keystore_count(ks), 1);
	/* a good key, then a bad one: nothing is added */
	CU_ASSERT_EQUAL(load(ks, &ei,
	                     "[{\"kid\":\"did:example:a#e\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"G-boxFB6vOZBu-wXkm-"
	                     "9Lh79I8nf9Z50cILaOgKKGww\",\"d\":\"pFRUKkyzx4kHdJtFSnlPA9WzqkDT1HWV0xZ5OYZd2SY\"},%s]",
	                     "{\"kid\":\"did:example:a#bad\",\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AAAA\",\"d\":\"AAAA\"}"),
	                DC_ERR_MALFORMED);
	CU_ASSERT(strstr(ei.msg, "secrets[1]") != NULL);
	CU_ASSERT_EQUAL(dc_keystore_count(ks), 1);
	CU_ASSERT_PTR_NULL(dc_keystore_get(ks, "did:example:a#e"));
	/* one input may not give a kid twice */
	memset(&ei, 0, sizeof ei);
	CU_ASSERT_EQUAL(load(ks, &ei, "[%s,%s]", X1, X1), DC_ERR_MALFORMED);
	CU_ASSERT(strstr(ei.msg, "twice") != NULL);
	CU_ASSERT_EQUAL(dc_keystore_count(ks), 1);
	/* the {"secrets": [...]} wrapper */
	CU_ASSERT_EQUAL(load(ks, &ei, "{\"_source\":{},\"secrets\":[%s]}", X1), DC_OK);
	CU_ASSERT_EQUAL(dc_keystore_count(ks), 1);
	dc_keystore_free(ks);
}

static void hostile_secrets(void)
{
	const char *bad[] = {
		"", "   ", "\"x\"", "42", "null", "[1]", "[[]]", "[\"kid\"]", "{}", "[{}]",
		/* no kid, empty kid, kid not a string */
		"[{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs\",\"d\":\"r-jK2cO3taR8LQnJB1_ikLBTAnOtShJOsHXRUWT-aZA\"}]",
		"[{\"kid\":\"\",\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs\",\"d\":\"r-jK2cO3taR8LQnJB1_ikLBTAnOtShJOsHXRUWT-aZA\"}]",
		"[{\"kid\":7,\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs\",\"d\":\"r-jK2cO3taR8LQnJB1_ikLBTAnOtShJOsHXRUWT-aZA\"}]",
		/* a public key is not a secret */
		"[{\"kid\":\"a#1\",\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs\"}]",
		/* d of another key (bob's x25519-1 d with alice's x) */
		"[{\"kid\":\"a#1\",\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs\",\"d\":\"b9NnuOCB0hm7YGNvaE9DMhwH_wjZA1-gWD6dA0JWdL0\"}]",
		/* privateKeyJwk of the wrong type, id missing */
		"[{\"id\":\"a#1\",\"type\":\"JsonWebKey2020\",\"privateKeyJwk\":\"x\"}]",
		"[{\"type\":\"JsonWebKey2020\",\"privateKeyJwk\":{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs\",\"d\":\"r-jK2cO3taR8LQnJB1_ikLBTAnOtShJOsHXRUWT-aZA\"}}]",
		/* a secrets member that is not an array; duplicate members; too deep */
		"{\"secrets\":{}}", "[{\"kid\":\"a\",\"kid\":\"b\"}]", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
		/* unsupported key types */
		"[{\"kid\":\"a#1\",\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\",\"d\":\"AQAB\"}]",
	};
	struct dc_keystore *ks = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_keystore_new(&ks), DC_OK);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct dc_errinfo ei = { 0 };
		dc_err rc = dc_keystore_load_text(ks, bad[i], strlen(bad[i]), &ei);
		CU_ASSERT_NOT_EQUAL(rc, DC_OK);
		CU_ASSERT(ei.msg[0] != 0);
		if (rc == DC_OK)
			fprintf(stderr, "\naccepted: %s\n", bad[i]);
		/* no secret in the message */
		CU_ASSERT(strstr(ei.msg, "r-jK2cO3") == NULL && strstr(ei.msg, "b9NnuOCB") == NULL);
	}
	CU_ASSERT_EQUAL(dc_keystore_count(ks), 0);
	CU_ASSERT_EQUAL(dc_keystore_load_text(ks, NULL, 0, NULL), DC_ERR_INVAL);
	dc_keystore_free(ks);
}

static void take_and_get(void)
{
	struct dc_keystore *ks = NULL;
	CU_ASSERT_EQUAL_FATAL(dc_keystore_new(&ks), DC_OK);
	CU_ASSERT_EQUAL(dc_keystore_take(ks, NULL), DC_ERR_INVAL);
	/* consumed even when refused (ASan would report a leak otherwise) */
	struct dc_key *k = NULL, *pub = NULL;
	CU_ASSERT_EQUAL_FATAL(dc__key_generate(DC_CRV_X25519, &k), DC_OK);
	CU_ASSERT_EQUAL(dc_keystore_take(ks, k), DC_ERR_INVAL); /* no kid */
	CU_ASSERT_EQUAL_FATAL(dc__key_generate(DC_CRV_X25519, &k), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc__key_dup_public(k, &pub), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc__key_set_kid(pub, "did:example:a#1"), DC_OK);
	CU_ASSERT_EQUAL(dc_keystore_take(ks, pub), DC_ERR_INVAL); /* no private part */
	CU_ASSERT_EQUAL(dc_keystore_take(NULL, k), DC_ERR_INVAL);
	CU_ASSERT_EQUAL(dc_keystore_count(ks), 0);
	/* a second key under one kid replaces the first */
	struct dc_key *a = NULL, *b = NULL;
	CU_ASSERT_EQUAL_FATAL(dc__key_generate(DC_CRV_ED25519, &a), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc__key_generate(DC_CRV_ED25519, &b), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc__key_set_kid(a, "did:example:a#s"), DC_OK);
	CU_ASSERT_EQUAL_FATAL(dc__key_set_kid(b, "did:example:a#s"), DC_OK);
	uint8_t bpub[32];
	memcpy(bpub, b->pub, 32);
	CU_ASSERT_EQUAL(dc_keystore_take(ks, a), DC_OK);
	CU_ASSERT_EQUAL(dc_keystore_take(ks, b), DC_OK);
	CU_ASSERT_EQUAL(dc_keystore_count(ks), 1);
	const struct dc_key *g = dc_keystore_get(ks, "did:example:a#s");
	CU_ASSERT(g && memcmp(g->pub, bpub, 32) == 0);
	CU_ASSERT_PTR_NULL(dc_keystore_get(ks, "did:example:a#S")); /* kids are case-sensitive */
	CU_ASSERT_PTR_NULL(dc_keystore_get(ks, NULL));
	CU_ASSERT_PTR_NULL(dc_keystore_get(NULL, "did:example:a#s"));
	CU_ASSERT_EQUAL(dc_keystore_count(NULL), 0);
	dc_keystore_free(ks);
	dc_keystore_free(NULL);
}

void init_keystore_tests(void)
{
	CU_pSuite s = CU_add_suite("keystore", NULL, NULL);
	TU_ADD(s, vector_secrets);
	TU_ADD(s, file_round_trip);
	TU_ADD(s, loads_all_or_nothing);
	TU_ADD(s, hostile_secrets);
	TU_ADD(s, take_and_get);
}
