/* JWK parse and print: the spec's Alice and Bob secrets (appendix A.1, A.2) and RFC 8037 A.1
 * as known answers, round trips, the printed member order, and a table of hostile variants
 * applied to every spec key. */
#include "testutil.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const spec_files[] = {
	"tests/vectors/keys/alice-secrets.json",
	"tests/vectors/keys/bob-secrets.json",
};

static bool is_okp(const cJSON *jwk)
{
	const char *kty = dc__json_str(jwk, "kty");
	return kty && strcmp(kty, "OKP") == 0;
}

/* Every JWK of the spec secrets (Alice then Bob) as one new array. */
static cJSON *load_spec_keys(void)
{
	cJSON *all = cJSON_CreateArray();
	for (size_t f = 0; all && f < sizeof spec_files / sizeof spec_files[0]; f++) {
		cJSON *a = tu_read_json(spec_files[f]);
		CU_ASSERT_PTR_NOT_NULL_FATAL(a);
		const cJSON *e;
		cJSON_ArrayForEach(e, a) cJSON_AddItemToArray(all, cJSON_Duplicate(e, true));
		cJSON_Delete(a);
	}
	CU_ASSERT_EQUAL_FATAL(cJSON_GetArraySize(all), 15); /* Alice 6, Bob 9 */
	return all;
}

static void spec_keys_parse_and_round_trip(void)
{
	static const char *const order_priv[] = { "kty", "crv", "x", "y", "d", "kid" };
	cJSON *all = load_spec_keys();
	const cJSON *jwk;
	size_t n = 0;
	cJSON_ArrayForEach(jwk, all) {
		struct dc_errinfo ei = { 0 };
		struct dc_key *k = NULL, *back = NULL, *pubk = NULL;
		const char *crv = dc__json_str(jwk, "crv"), *kid = dc__json_str(jwk, "kid");
		CU_ASSERT_EQUAL_FATAL(dc__jwk_parse(jwk, &k, &ei), DC_OK);
		n++;
		CU_ASSERT_EQUAL(dc_key_crv(k), dc_crv_from_name(crv));
		CU_ASSERT(dc_key_has_private(k)); /* parsing checked that d gives x (and y) */
		if (kid) {
			CU_ASSERT(dc_key_kid(k) && strcmp(dc_key_kid(k), kid) == 0);
		} else { /* Bob's "kid " (trailing space) is not "kid" */
			CU_ASSERT_PTR_NULL(dc_key_kid(k));
		}
		size_t f = dc__crv_field_len(k->crv);
		CU_ASSERT_EQUAL(k->pub_len, is_okp(jwk) ? 32 : 1 + 2 * f);
		CU_ASSERT_EQUAL(k->priv_len, k->crv == DC_CRV_ED25519 ? 64 : is_okp(jwk) ? 32 : f);

		/* printing gives back the very strings of the vector, in our member order */
		cJSON *o = NULL;
		CU_ASSERT_EQUAL_FATAL(dc__jwk_to_json(k, true, true, &o), DC_OK);
		const char *mem[] = { "kty", "crv", "x", "y", "d" };
		for (size_t i = 0; i < 5; i++) {
			const char *want = dc__json_str(jwk, mem[i]), *got = dc__json_str(o, mem[i]);
			CU_ASSERT((!want && !got) || (want && got && strcmp(want, got) == 0));
		}
		size_t at = 0;
		for (const cJSON *c = o->child; c; c = c->next) {
			while (at < 6 && strcmp(order_priv[at], c->string) != 0)
				at++;
			CU_ASSERT(at < 6); /* every member is known and comes after the previous one */
		}
		dc__json_delete_secret(o);

		/* text round trip, with and without the private part */
		char *t = NULL;
		CU_ASSERT_EQUAL_FATAL(dc_jwk_print(k, true, &t), DC_OK);
		CU_ASSERT_EQUAL_FATAL(dc_jwk_parse_text(t, strlen(t), &back), DC_OK);
		CU_ASSERT(back->crv == k->crv && back->pub_len == k->pub_len &&
		          memcmp(back->pub, k->pub, k->pub_len) == 0);
		CU_ASSERT(back->priv_len == k->priv_len && memcmp(back->priv, k->priv, k->priv_len) == 0);
		CU_ASSERT((!kid && !dc_key_kid(back)) || (kid && dc_key_kid(back) && strcmp(kid, dc_key_kid(back)) == 0));
		sodium_memzero(t, strlen(t));
		free(t);
		CU_ASSERT_EQUAL_FATAL(dc_jwk_print(k, false, &t), DC_OK);
		CU_ASSERT_PTR_NULL(strstr(t, "\"d\""));
		CU_ASSERT_EQUAL_FATAL(dc_jwk_parse_text(t, strlen(t), &pubk), DC_OK);
		CU_ASSERT(!dc_key_has_private(pubk) && pubk->pub_len == k->pub_len &&
		          memcmp(pubk->pub, k->pub, k->pub_len) == 0);
		free(t);
		dc_key_free(pubk);
		dc_key_free(back);
		dc_key_free(k);
	}
	CU_ASSERT_EQUAL(n, 15);
	cJSON_Delete(all);
}

/* ---- hostile variants ------------------------------------------------------------------ */
enum scope { ALL, OKP_ONLY, EC_ONLY };
enum op {
	DEL,         /* remove the member */
	SET_STR,     /* set it to arg */
	SET_NUM,     /* set it to the number 1 */
	FLIP,        /* decode, flip the last byte, encode */
	FLIP_FIRST,  /* decode, flip the first byte, encode */
	SHORTER,     /* drop the last byte */
	LONGER,      /* append a zero byte */
	LEFT_ZERO,   /* prepend a zero byte */
	PAD,         /* append '=' to the text */
	STD_ALPHA,   /* first character '+' (standard base64) */
	SPACE,       /* a space in the middle */
	TRAIL_BITS,  /* non-zero unused trailing bits */
	ZERO,        /* all-zero bytes of the same length */
	ORDER,       /* the group order n (EC d) */
	OTHER_D,     /* d of the next key on the same curve */
	CRV_FAMILY,  /* crv of the other kty */
	CRV_SIBLING, /* another crv of the same kty */
	XY_ZERO,     /* x and y all zero: the point at infinity in affine form */
};
struct hostile {
	const char *what;
	enum scope scope;
	const char *member;
	enum op op;
	const char *arg;
	dc_err want;
	const char *msg_has; /* the message names this (NULL: no check) */
};
static const struct hostile hostile[] = {
	{ "x missing", ALL, "x", DEL, NULL, DC_ERR_MALFORMED, "\"x\"" },
	{ "y missing", EC_ONLY, "y", DEL, NULL, DC_ERR_MALFORMED, "\"y\"" },
	{ "kty missing", ALL, "kty", DEL, NULL, DC_ERR_MALFORMED, "kty" },
	{ "crv missing", ALL, "crv", DEL, NULL, DC_ERR_MALFORMED, "crv" },
	{ "kty number", ALL, "kty", SET_NUM, NULL, DC_ERR_MALFORMED, "kty" },
	{ "crv number", ALL, "crv", SET_NUM, NULL, DC_ERR_MALFORMED, "crv" },
	{ "x number", ALL, "x", SET_NUM, NULL, DC_ERR_MALFORMED, "\"x\"" },
	{ "y number", EC_ONLY, "y", SET_NUM, NULL, DC_ERR_MALFORMED, "\"y\"" },
	{ "d number", ALL, "d", SET_NUM, NULL, DC_ERR_MALFORMED, "\"d\"" },
	{ "kty RSA", ALL, "kty", SET_STR, "RSA", DC_ERR_UNSUPPORTED, "kty" },
	{ "kty oct", ALL, "kty", SET_STR, "oct", DC_ERR_UNSUPPORTED, "kty" },
	{ "kty lower case", ALL, "kty", SET_STR, "ec", DC_ERR_UNSUPPORTED, "kty" },
	{ "kty empty", ALL, "kty", SET_STR, "", DC_ERR_UNSUPPORTED, "kty" },
	{ "crv Ed448", ALL, "crv", SET_STR, "Ed448", DC_ERR_UNSUPPORTED, "crv" },
	{ "crv X448", ALL, "crv", SET_STR, "X448", DC_ERR_UNSUPPORTED, "crv" },
	{ "crv P-192", ALL, "crv", SET_STR, "P-192", DC_ERR_UNSUPPORTED, "crv" },
	{ "crv p-256", ALL, "crv", SET_STR, "p-256", DC_ERR_UNSUPPORTED, "crv" },
	{ "crv P256", ALL, "crv", SET_STR, "P256", DC_ERR_UNSUPPORTED, "crv" },
	{ "crv secp256r1", ALL, "crv", SET_STR, "secp256r1", DC_ERR_UNSUPPORTED, "crv" },
	{ "crv ed25519", ALL, "crv", SET_STR, "ed25519", DC_ERR_UNSUPPORTED, "crv" },
	{ "crv of the other kty", ALL, "crv", CRV_FAMILY, NULL, DC_ERR_MALFORMED, "crv" },
	{ "crv of a sibling curve", ALL, "crv", CRV_SIBLING, NULL, DC_ERR_MALFORMED, NULL },
	{ "x last byte flipped", ALL, "x", FLIP, NULL, DC_ERR_MALFORMED, NULL },
	{ "x first byte flipped", ALL, "x", FLIP_FIRST, NULL, DC_ERR_MALFORMED, NULL },
	{ "y flipped: off the curve", EC_ONLY, "y", FLIP, NULL, DC_ERR_MALFORMED, "\"y\"" },
	{ "d flipped: not x's", ALL, "d", FLIP, NULL, DC_ERR_MALFORMED, "\"d\"" },
	{ "d of another key", ALL, "d", OTHER_D, NULL, DC_ERR_MALFORMED, "\"d\"" },
	{ "x a byte short", ALL, "x", SHORTER, NULL, DC_ERR_MALFORMED, "\"x\"" },
	{ "y a byte short", EC_ONLY, "y", SHORTER, NULL, DC_ERR_MALFORMED, "\"y\"" },
	{ "d a byte short", ALL, "d", SHORTER, NULL, DC_ERR_MALFORMED, "\"d\"" },
	{ "x a byte long", ALL, "x", LONGER, NULL, DC_ERR_MALFORMED, "\"x\"" },
	{ "y a byte long", EC_ONLY, "y", LONGER, NULL, DC_ERR_MALFORMED, "\"y\"" },
	{ "d a byte long", ALL, "d", LONGER, NULL, DC_ERR_MALFORMED, "\"d\"" },
	{ "x with a leading zero", ALL, "x", LEFT_ZERO, NULL, DC_ERR_MALFORMED, "\"x\"" },
	{ "d with a leading zero", ALL, "d", LEFT_ZERO, NULL, DC_ERR_MALFORMED, "\"d\"" },
	{ "x padded", ALL, "x", PAD, NULL, DC_ERR_MALFORMED, "\"x\"" },
	{ "y padded", EC_ONLY, "y", PAD, NULL, DC_ERR_MALFORMED, "\"y\"" },
	{ "d padded", ALL, "d", PAD, NULL, DC_ERR_MALFORMED, "\"d\"" },
	{ "x standard alphabet", ALL, "x", STD_ALPHA, NULL, DC_ERR_MALFORMED, "\"x\"" },
	{ "d standard alphabet", ALL, "d", STD_ALPHA, NULL, DC_ERR_MALFORMED, "\"d\"" },
	{ "x with a space", ALL, "x", SPACE, NULL, DC_ERR_MALFORMED, "\"x\"" },
	{ "d with a space", ALL, "d", SPACE, NULL, DC_ERR_MALFORMED, "\"d\"" },
	{ "x non-canonical tail", ALL, "x", TRAIL_BITS, NULL, DC_ERR_MALFORMED, "\"x\"" },
	{ "d non-canonical tail", ALL, "d", TRAIL_BITS, NULL, DC_ERR_MALFORMED, "\"d\"" },
	{ "x empty", ALL, "x", SET_STR, "", DC_ERR_MALFORMED, "\"x\"" },
	{ "d empty", ALL, "d", SET_STR, "", DC_ERR_MALFORMED, "\"d\"" },
	{ "d zero", ALL, "d", ZERO, NULL, DC_ERR_MALFORMED, "\"d\"" },
	{ "d == n", EC_ONLY, "d", ORDER, NULL, DC_ERR_MALFORMED, "\"d\"" },
	{ "x, y at infinity", EC_ONLY, "x", XY_ZERO, NULL, DC_ERR_MALFORMED, "\"y\"" },
};

static int crv_nid(enum dc_crv c)
{
	return c == DC_CRV_P256 ? NID_X9_62_prime256v1 : c == DC_CRV_P384 ? NID_secp384r1
	       : c == DC_CRV_P521 ? NID_secp521r1 : NID_secp256k1;
}

static void set_b64(cJSON *o, const char *member, const uint8_t *b, size_t n)
{
	char t[256];
	CU_ASSERT_FATAL(dc__b64url_enc_len(n) < sizeof t);
	dc__b64url_encode_to(b, n, t);
	cJSON_ReplaceItemInObjectCaseSensitive(o, member, cJSON_CreateString(t));
}

static void set_str(cJSON *o, const char *member, const char *s)
{
	cJSON_ReplaceItemInObjectCaseSensitive(o, member, cJSON_CreateString(s));
}

/* The next key after idx on the same curve (wrapping), or -1. */
static int same_curve(const cJSON *all, int idx)
{
	int n = cJSON_GetArraySize(all);
	const char *crv = dc__json_str(cJSON_GetArrayItem(all, idx), "crv");
	for (int i = 1; i < n; i++) {
		int j = (idx + i) % n;
		if (strcmp(dc__json_str(cJSON_GetArrayItem(all, j), "crv"), crv) == 0)
			return j;
	}
	return -1;
}

/* Apply h to a copy of all[idx]; false when it does not apply to this key. */
static bool mutate(const cJSON *all, int idx, const struct hostile *h, cJSON **out)
{
	const cJSON *src = cJSON_GetArrayItem(all, idx);
	enum dc_crv crv = dc_crv_from_name(dc__json_str(src, "crv"));
	bool okp = is_okp(src);
	if ((h->scope == OKP_ONLY && !okp) || (h->scope == EC_ONLY && okp))
		return false;
	cJSON *o = cJSON_Duplicate(src, true);
	uint8_t b[200];
	size_t n = 0;
	const char *v = dc__json_str(o, h->member);
	if (v && dc__b64url_decode_to(v, strlen(v), b + 1, sizeof b - 2, &n) != DC_OK)
		n = 0;
	char t[300];
	switch (h->op) {
	case DEL: cJSON_DeleteItemFromObjectCaseSensitive(o, h->member); break;
	case SET_STR: set_str(o, h->member, h->arg); break;
	case SET_NUM: cJSON_ReplaceItemInObjectCaseSensitive(o, h->member, cJSON_CreateNumber(1)); break;
	case FLIP: b[n] ^= 0x01; set_b64(o, h->member, b + 1, n); break;
	case FLIP_FIRST: b[1] ^= 0x80; set_b64(o, h->member, b + 1, n); break;
	case SHORTER: set_b64(o, h->member, b + 1, n - 1); break;
	case LONGER: b[n + 1] = 0; set_b64(o, h->member, b + 1, n + 1); break;
	case LEFT_ZERO: b[0] = 0; set_b64(o, h->member, b, n + 1); break;
	case PAD: snprintf(t, sizeof t, "%s=", v); set_str(o, h->member, t); break;
	case STD_ALPHA: snprintf(t, sizeof t, "+%s", v + 1); set_str(o, h->member, t); break;
	case SPACE: snprintf(t, sizeof t, "%.10s %s", v, v + 10); set_str(o, h->member, t); break;
	case TRAIL_BITS: {
		size_t l = strlen(v);
		if (n % 3 == 0) { /* no unused bits in this length */
			cJSON_Delete(o);
			return false;
		}
		static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
		snprintf(t, sizeof t, "%s", v);
		t[l - 1] = alpha[(strchr(alpha, v[l - 1]) - alpha) | 1];
		set_str(o, h->member, t);
		break;
	}
	case ZERO: memset(b, 0, sizeof b); set_b64(o, h->member, b, n); break;
	case ORDER: {
		EC_GROUP *g = EC_GROUP_new_by_curve_name(crv_nid(crv));
		CU_ASSERT_EQUAL_FATAL(BN_bn2binpad(EC_GROUP_get0_order(g), b, (int)n), (int)n);
		EC_GROUP_free(g);
		set_b64(o, h->member, b, n);
		break;
	}
	case OTHER_D: {
		int j = same_curve(all, idx);
		if (j < 0) {
			cJSON_Delete(o);
			return false;
		}
		set_str(o, "d", dc__json_str(cJSON_GetArrayItem(all, j), "d"));
		break;
	}
	case CRV_FAMILY: set_str(o, "crv", okp ? "P-256" : "X25519"); break;
	case CRV_SIBLING: {
		static const enum dc_crv sib[][2] = {
			{ DC_CRV_X25519, DC_CRV_ED25519 }, { DC_CRV_ED25519, DC_CRV_X25519 },
			{ DC_CRV_P256, DC_CRV_SECP256K1 }, { DC_CRV_SECP256K1, DC_CRV_P256 },
			{ DC_CRV_P384, DC_CRV_P256 },      { DC_CRV_P521, DC_CRV_P384 },
		};
		for (size_t i = 0; i < 6; i++)
			if (sib[i][0] == crv)
				set_str(o, "crv", dc_crv_name(sib[i][1]));
		break;
	}
	case XY_ZERO:
		memset(b, 0, sizeof b);
		set_b64(o, "x", b, dc__crv_field_len(crv));
		set_b64(o, "y", b, dc__crv_field_len(crv));
		break;
	}
	sodium_memzero(b, sizeof b);
	sodium_memzero(t, sizeof t);
	*out = o;
	return true;
}

static void spec_keys_hostile_variants(void)
{
	cJSON *all = load_spec_keys();
	int nk = cJSON_GetArraySize(all);
	size_t tried = 0;
	for (size_t h = 0; h < sizeof hostile / sizeof hostile[0]; h++) {
		for (int i = 0; i < nk; i++) {
			cJSON *o = NULL;
			if (!mutate(all, i, &hostile[h], &o))
				continue;
			tried++;
			struct dc_errinfo ei = { 0 };
			struct dc_key *k = (struct dc_key *)1;
			dc_err rc = dc__jwk_parse(o, &k, &ei);
			if (rc != hostile[h].want)
				fprintf(stderr, "\n  jwk hostile \"%s\" on key %d: got %s (%s)\n", hostile[h].what, i,
				        dc_strerror(rc), ei.msg);
			CU_ASSERT_EQUAL(rc, hostile[h].want);
			CU_ASSERT_EQUAL(ei.code, hostile[h].want);
			CU_ASSERT_PTR_NULL(k);
			if (hostile[h].msg_has) {
				CU_ASSERT_PTR_NOT_NULL(strstr(ei.msg, hostile[h].msg_has));
			}
			/* never key material in the message */
			const char *d = dc__json_str(cJSON_GetArrayItem(all, i), "d");
			char head[9];
			snprintf(head, sizeof head, "%s", d);
			CU_ASSERT_PTR_NULL(strstr(ei.msg, head));
			dc_key_free(k);
			dc__json_delete_secret(o);
		}
	}
	CU_ASSERT(tried > 500);
	cJSON_Delete(all);
}

/* Members we do not know are ignored; a non-string kid is no kid. */
static void unknown_members_and_kid(void)
{
	static const struct {
		const char *json;
		const char *kid; /* expected kid, NULL for none */
	} t[] = {
		{ "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs\"}", NULL },
		{ "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs\",\"kid\":7}", NULL },
		{ "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs\",\"kid \":\"a\"}",
		  NULL },
		{ "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs\",\"KID\":\"a\"}",
		  NULL },
		{ "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs\",\"kid\":\"\"}", "" },
		{ "{\"use\":\"enc\",\"key_ops\":[\"deriveKey\"],\"alg\":\"ECDH-ES\",\"kid\":\"k#1\",\"kty\":\"OKP\","
		  "\"crv\":\"X25519\",\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs\",\"y\":\"AA\"}",
		  "k#1" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct dc_key *k = NULL;
		CU_ASSERT_EQUAL_FATAL(dc_jwk_parse_text(t[i].json, strlen(t[i].json), &k), DC_OK);
		CU_ASSERT(!dc_key_has_private(k) && dc_key_crv(k) == DC_CRV_X25519);
		if (t[i].kid) {
			CU_ASSERT(dc_key_kid(k) && strcmp(dc_key_kid(k), t[i].kid) == 0);
		} else {
			CU_ASSERT_PTR_NULL(dc_key_kid(k));
		}
		dc_key_free(k);
	}
}

/* Text-level input: not JSON, not an object, duplicates, length-bounded buffers. */
static void parse_text_edges(void)
{
	static const char *const bad[] = {
		"",
		"[]",
		"\"jwk\"",
		"null",
		"{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs\"",
		"{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs\"} x",
		("{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs\","
		 "\"x\":\"GDTrI66K0pFfO54tlCSvfjjNapIs44dzpneBgyx0S3E\"}"), /* duplicate member */
		"{\"kty\":\"OKP\",\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs\"}",
		"{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs\",\"d\":null}",
		"{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":[\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs\"]}",
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"2syLh57B-dGpa0F8p1JrO6JU7UUSF6j7qL-vfk1eOoY\"}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct dc_key *k = (struct dc_key *)1;
		CU_ASSERT_NOT_EQUAL(dc_jwk_parse_text(bad[i], strlen(bad[i]), &k), DC_OK);
		CU_ASSERT_PTR_NULL(k);
	}
	/* only len bytes are read: what follows the object in the buffer does not count */
	const char buf[] = "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"avH0O2Y4tqLAq8y9zpianr8ajii5m4F_mICrzNlatXs\"}garbage";
	struct dc_key *k = NULL;
	CU_ASSERT_EQUAL(dc_jwk_parse_text(buf, sizeof buf - 1 - strlen("garbage"), &k), DC_OK);
	dc_key_free(k);
	k = (struct dc_key *)1;
	CU_ASSERT_NOT_EQUAL(dc_jwk_parse_text(buf, 20, &k), DC_OK);
	CU_ASSERT_PTR_NULL(k);
	/* dc__jwk_parse on something that is not an object */
	cJSON *arr = cJSON_CreateArray();
	struct dc_errinfo ei = { 0 };
	k = (struct dc_key *)1;
	CU_ASSERT_EQUAL(dc__jwk_parse(arr, &k, &ei), DC_ERR_MALFORMED);
	CU_ASSERT_PTR_NULL(k);
	cJSON_Delete(arr);
}

/* Exact text of dc_jwk_print: member order kty, crv, x, y, d, kid. */
static void print_exact_text(void)
{
	static const struct {
		const char *in;
		bool with_private;
		const char *out;
	} t[] = {
		{ "{\"kid\":\"did:example:alice#key-2\",\"kty\":\"EC\",\"d\":\"7TCIdt1rhThFtWcEiLnk_COEjh1ZfQhM4bW2wz-dp4A\","
		  "\"crv\":\"P-256\",\"x\":\"2syLh57B-dGpa0F8p1JrO6JU7UUSF6j7qL-vfk1eOoY\","
		  "\"y\":\"BgsGtI7UPsObMRjdElxLOrgAO9JggNMjOcfzEPox18w\"}",
		  true,
		  "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"2syLh57B-dGpa0F8p1JrO6JU7UUSF6j7qL-vfk1eOoY\","
		  "\"y\":\"BgsGtI7UPsObMRjdElxLOrgAO9JggNMjOcfzEPox18w\",\"d\":\"7TCIdt1rhThFtWcEiLnk_COEjh1ZfQhM4bW2wz-dp4A\","
		  "\"kid\":\"did:example:alice#key-2\"}" },
		{ "{\"kid\":\"did:example:alice#key-2\",\"kty\":\"EC\",\"d\":\"7TCIdt1rhThFtWcEiLnk_COEjh1ZfQhM4bW2wz-dp4A\","
		  "\"crv\":\"P-256\",\"x\":\"2syLh57B-dGpa0F8p1JrO6JU7UUSF6j7qL-vfk1eOoY\","
		  "\"y\":\"BgsGtI7UPsObMRjdElxLOrgAO9JggNMjOcfzEPox18w\"}",
		  false,
		  "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"2syLh57B-dGpa0F8p1JrO6JU7UUSF6j7qL-vfk1eOoY\","
		  "\"y\":\"BgsGtI7UPsObMRjdElxLOrgAO9JggNMjOcfzEPox18w\",\"kid\":\"did:example:alice#key-2\"}" },
		/* RFC 8037 A.1 (private) and A.2 (public) */
		{ "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\","
		  "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
		  true,
		  "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\","
		  "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\"}" },
		{ "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\","
		  "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}",
		  false, "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}" },
		{ "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}", true,
		  "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		struct dc_key *k = NULL;
		char *out = NULL;
		CU_ASSERT_EQUAL_FATAL(dc_jwk_parse_text(t[i].in, strlen(t[i].in), &k), DC_OK);
		CU_ASSERT_EQUAL_FATAL(dc_jwk_print(k, t[i].with_private, &out), DC_OK);
		CU_ASSERT_STRING_EQUAL(out, t[i].out);
		sodium_memzero(out, strlen(out));
		free(out);
		/* without kid */
		cJSON *o = NULL;
		CU_ASSERT_EQUAL_FATAL(dc__jwk_to_json(k, false, false, &o), DC_OK);
		CU_ASSERT_PTR_NULL(cJSON_GetObjectItemCaseSensitive(o, "kid"));
		CU_ASSERT_PTR_NULL(cJSON_GetObjectItemCaseSensitive(o, "d"));
		cJSON_Delete(o);
		dc_key_free(k);
	}
}

/* Generated keys of every curve survive print + parse with their kid. */
static void generated_round_trip(void)
{
	enum dc_crv c[] = { DC_CRV_X25519, DC_CRV_ED25519, DC_CRV_P256, DC_CRV_P384, DC_CRV_P521, DC_CRV_SECP256K1 };
	for (size_t i = 0; i < 6; i++) {
		for (int round = 0; round < 8; round++) {
			struct dc_key *k = NULL, *back = NULL;
			char *t = NULL;
			CU_ASSERT_EQUAL_FATAL(dc__key_generate(c[i], &k), DC_OK);
			CU_ASSERT_EQUAL(dc__key_set_kid(k, "did:x:y#k"), DC_OK);
			CU_ASSERT_EQUAL_FATAL(dc_jwk_print(k, true, &t), DC_OK);
			CU_ASSERT_EQUAL_FATAL(dc_jwk_parse_text(t, strlen(t), &back), DC_OK);
			CU_ASSERT(back->crv == k->crv && back->pub_len == k->pub_len &&
			          memcmp(back->pub, k->pub, k->pub_len) == 0);
			CU_ASSERT(back->priv_len == k->priv_len && memcmp(back->priv, k->priv, k->priv_len) == 0);
			CU_ASSERT_STRING_EQUAL(dc_key_kid(back), "did:x:y#k");
			sodium_memzero(t, strlen(t));
			free(t);
			dc_key_free(back);
			dc_key_free(k);
		}
	}
}

void init_jwk_tests(void)
{
	CU_pSuite s = CU_add_suite("jwk", NULL, NULL);
	TU_ADD(s, spec_keys_parse_and_round_trip);
	TU_ADD(s, spec_keys_hostile_variants);
	TU_ADD(s, unknown_members_and_kid);
	TU_ADD(s, parse_text_edges);
	TU_ADD(s, print_exact_text);
	TU_ADD(s, generated_round_trip);
}
