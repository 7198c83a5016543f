/* base58btc, multibase 'z' and multicodec keys: known answers (draft-msporny-base58 and the
 * did:key spec's vectors in tests/unit/data/did-key-vectors.json), random round trips
 * against a slow reference, and hostile input. */
#include "testutil.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char B58[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/* the textbook quadratic encoder, byte by byte, as the reference */
static char *ref_encode(const uint8_t *in, size_t n)
{
	size_t zeros = 0, size = n * 2 + 1;
	while (zeros < n && in[zeros] == 0)
		zeros++;
	uint8_t *b = calloc(size, 1);
	char *s = malloc(zeros + size + 1);
	for (size_t i = zeros; i < n; i++) {
		unsigned carry = in[i];
		for (size_t j = size; j-- > 0;) {
			carry += 256u * b[j];
			b[j] = (uint8_t)(carry % 58);
			carry /= 58;
		}
	}
	size_t skip = 0, o = 0;
	while (skip < size && b[skip] == 0)
		skip++;
	for (size_t i = 0; i < zeros; i++)
		s[o++] = '1';
	for (size_t i = skip; i < size; i++)
		s[o++] = B58[b[i]];
	s[o] = 0;
	free(b);
	return s;
}

static size_t unhex(const char *h, uint8_t *out, size_t cap)
{
	size_t n = strlen(h) / 2;
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

static void base58_known(void)
{
	static const struct {
		const char *hex, *b58;
	} kat[] = {
		{ "", "" },
		{ "00", "1" },
		{ "0000", "11" },
		{ "48656c6c6f20576f726c6421", "2NEpo7TZRRrLZSi2U" }, /* "Hello World!" */
		{ "54686520717569636b2062726f776e20666f78206a756d7073206f76657220746865206c617a7920646f672e",
		  "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z" },
		{ "0000287fb4cd", "11233QC4" },
		{ "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "JEKNVnkbo3jma5nREBBJCDoXFVeKkD56V3xKrvRmWxFG" },
		{ "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021222324252627",
		  "1fAhYWqs6ctsWHNZtpYJNB9BxxQPq4Pa5LkbLC3wpAHLipXE7tXVY" },
	};
	for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
		uint8_t raw[64], back[64];
		size_t n = unhex(kat[i].hex, raw, sizeof raw), m = 99;
		char *s = NULL;
		CU_ASSERT_EQUAL(dc__base58_encode(raw, n, &s), DC_OK);
		CU_ASSERT(s && strcmp(s, kat[i].b58) == 0);
		free(s);
		CU_ASSERT_EQUAL(dc__base58_decode(kat[i].b58, strlen(kat[i].b58), back, sizeof back, &m), DC_OK);
		CU_ASSERT_EQUAL(m, n);
		CU_ASSERT(m == n && memcmp(back, raw, n) == 0);
	}
	/* multibase 'z' */
	char *z = NULL;
	CU_ASSERT_EQUAL(dc__multibase_z((const uint8_t *)"Hello World!", 12, &z), DC_OK);
	CU_ASSERT(z && strcmp(z, "z2NEpo7TZRRrLZSi2U") == 0);
	free(z);
}

static void base58_random(void)
{
	uint8_t in[700], out[700];
	for (size_t len = 0; len < sizeof in; len += 1 + len / 8) {
		for (int rep = 0; rep < 4; rep++) {
			randombytes_buf(in, len);
			size_t lead = rep < (int)len ? (size_t)rep : 0; /* some leading zero bytes */
			memset(in, 0, lead);
			if (rep == 3 && len)
				in[len - 1] = 0; /* trailing zeros matter too */
			char *s = NULL, *r = ref_encode(in, len);
			CU_ASSERT_EQUAL_FATAL(dc__base58_encode(in, len, &s), DC_OK);
			CU_ASSERT(strcmp(s, r) == 0);
			size_t m = 0;
			CU_ASSERT_EQUAL(dc__base58_decode(s, strlen(s), out, sizeof out, &m), DC_OK);
			CU_ASSERT(m == len && memcmp(in, out, len) == 0);
			/* exactly enough room works, one byte less does not */
			if (len) {
				CU_ASSERT_EQUAL(dc__base58_decode(s, strlen(s), out, len, &m), DC_OK);
				CU_ASSERT_EQUAL(dc__base58_decode(s, strlen(s), out, len - 1, &m), DC_ERR_TOO_BIG);
				CU_ASSERT_EQUAL(m, 0);
			}
			free(s);
			free(r);
		}
	}
}

static void base58_hostile(void)
{
	uint8_t out[64];
	size_t m = 7;
	const char *bad[] = { "0", "O", "I", "l", "+", " 2NEpo", "2NEpo ", "2N/Epo", "\xff", "2NE\xc3\xa9po" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CU_ASSERT_EQUAL(dc__base58_decode(bad[i], strlen(bad[i]), out, sizeof out, &m), DC_ERR_MALFORMED);
		CU_ASSERT_EQUAL(m, 0);
	}
	/* an embedded NUL counts as a character, and a bad one */
	CU_ASSERT_EQUAL(dc__base58_decode("2N\0Epo", 6, out, sizeof out, &m), DC_ERR_MALFORMED);
	/* size bounds, both ways */
	size_t big = 20000;
	char *s = malloc(big + 1);
	memset(s, 'z', big);
	s[big] = 0;
	uint8_t *huge = malloc(big);
	CU_ASSERT_EQUAL(dc__base58_decode(s, big, huge, big, &m), DC_ERR_TOO_BIG);
	/* 12000 characters: within the bound, and quick */
	CU_ASSERT_EQUAL(dc__base58_decode(s, 12000, huge, big, &m), DC_OK);
	CU_ASSERT(m > 8000 && m < 9000);
	char *e = NULL;
	memset(huge, 0xa5, big);
	CU_ASSERT_EQUAL(dc__base58_encode(huge, big, &e), DC_ERR_TOO_BIG);
	CU_ASSERT_PTR_NULL(e);
	CU_ASSERT_EQUAL(dc__base58_encode(huge, 8000, &e), DC_OK);
	free(e);
	/* all '1's: only zero bytes */
	memset(s, '1', 100);
	CU_ASSERT_EQUAL(dc__base58_decode(s, 100, huge, big, &m), DC_OK);
	CU_ASSERT_EQUAL(m, 100);
	CU_ASSERT_EQUAL(dc__base58_decode(s, 100, huge, 99, &m), DC_ERR_TOO_BIG);
	free(s);
	free(huge);
}

static void multikey_vectors(void)
{
	cJSON *j = tu_read_json("tests/unit/data/did-key-vectors.json");
	CU_ASSERT_PTR_NOT_NULL_FATAL(j);
	size_t seen = 0, parity[2] = { 0, 0 };
	const cJSON *v;
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(j, "vectors"))
	{
		const char *did = dc__json_str(v, "did"), *crv = dc__json_str(v, "crv"), *pub = dc__json_str(v, "pub");
		const char *mb = did + strlen("did:key:");
		struct dc_key *k = NULL;
		dc_err rc = dc__multikey_decode(mb, &k);
		CU_ASSERT_EQUAL(rc, DC_OK);
		if (rc) {
			fprintf(stderr, "\n%s: %s\n", did, dc_strerror(rc));
			continue;
		}
		CU_ASSERT_EQUAL(k->crv, dc_crv_from_name(crv));
		uint8_t want[DC_MAX_PUB];
		size_t wn = unhex(pub, want, sizeof want);
		CU_ASSERT(wn == k->pub_len && memcmp(want, k->pub, wn) == 0);
		if (dc__crv_is_ec(k->crv))
			parity[k->pub[k->pub_len - 1] & 1]++;
		char *back = NULL;
		CU_ASSERT_EQUAL(dc__multikey_encode(k, &back), DC_OK);
		CU_ASSERT(back && strcmp(back, mb) == 0);
		free(back);
		/* the derived X25519 key of an Ed25519 did:key */
		const char *ka = dc__json_str(v, "ka"), *ka_pub = dc__json_str(v, "ka_pub");
		if (ka) {
			struct dc_key *x = NULL;
			CU_ASSERT_EQUAL(dc__multikey_decode(strrchr(ka, '#') + 1, &x), DC_OK);
			wn = unhex(ka_pub, want, sizeof want);
			CU_ASSERT(x && x->crv == DC_CRV_X25519 && wn == 32 && memcmp(x->pub, want, 32) == 0);
			dc_key_free(x);
		}
		dc_key_free(k);
		seen++;
	}
	CU_ASSERT(seen >= 20);
	CU_ASSERT(parity[0] > 0 && parity[1] > 0); /* both compressed prefixes 02 and 03 were read */
	/* RSA and BLS did:keys are valid multikeys of codecs we do not take */
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(j, "unsupported"))
	{
		struct dc_key *k = NULL;
		CU_ASSERT_EQUAL(dc__multikey_decode(v->valuestring + strlen("did:key:"), &k), DC_ERR_UNSUPPORTED);
		CU_ASSERT_PTR_NULL(k);
	}
	cJSON_Delete(j);
}

static dc_err decode_bytes(const uint8_t *b, size_t n)
{
	char *mb = NULL;
	dc_err rc = dc__multibase_z(b, n, &mb);
	if (rc)
		return rc;
	struct dc_key *k = NULL;
	rc = dc__multikey_decode(mb, &k);
	dc_key_free(k);
	free(mb);
	return rc;
}

static void multikey_hostile(void)
{
	struct dc_key *k = NULL;
	/* not base58btc multibase */
	CU_ASSERT_EQUAL(dc__multikey_decode("m7QEJ", &k), DC_ERR_UNSUPPORTED);
	CU_ASSERT_EQUAL(dc__multikey_decode("", &k), DC_ERR_UNSUPPORTED);
	CU_ASSERT_EQUAL(dc__multikey_decode("z", &k), DC_ERR_MALFORMED);
	CU_ASSERT_EQUAL(dc__multikey_decode("z0OIl", &k), DC_ERR_MALFORMED);
	/* a real Ed25519 key, one character short or long */
	CU_ASSERT_NOT_EQUAL(dc__multikey_decode("z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2do", &k), DC_OK);
	CU_ASSERT_NOT_EQUAL(dc__multikey_decode("z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doKK", &k), DC_OK);
	CU_ASSERT_PTR_NULL(k);
	uint8_t b[80];
	memset(b, 0x42, sizeof b);
	/* prefix only, prefix + short key, prefix + long key */
	b[0] = 0xed;
	b[1] = 0x01;
	CU_ASSERT_NOT_EQUAL(decode_bytes(b, 2), DC_OK);
	CU_ASSERT_NOT_EQUAL(decode_bytes(b, 2 + 31), DC_OK);
	CU_ASSERT_NOT_EQUAL(decode_bytes(b, 2 + 33), DC_OK);
	/* the same codec written with a redundant varint group: not minimal */
	uint8_t nm[3 + 32];
	nm[0] = 0xed;
	nm[1] = 0x81;
	nm[2] = 0x00;
	memset(nm + 3, 0x42, 32);
	CU_ASSERT_EQUAL(decode_bytes(nm, sizeof nm), DC_ERR_MALFORMED);
	/* an unterminated varint */
	memset(b, 0xff, 12);
	CU_ASSERT_EQUAL(decode_bytes(b, 12), DC_ERR_MALFORMED);
	/* unknown codec (bls12_381-g2-pub 0xeb) */
	memset(b, 0x42, sizeof b);
	b[0] = 0xeb;
	b[1] = 0x01;
	CU_ASSERT_EQUAL(decode_bytes(b, 2 + 48), DC_ERR_UNSUPPORTED);
	/* P-256 (0x1200 = 80 24): a compressed x that is not on the curve, a bad prefix byte,
	 * the identity */
	b[0] = 0x80;
	b[1] = 0x24;
	b[2] = 0x02;
	memset(b + 3, 0, 32); /* x = 1: 1 - 3 + b is not a square mod p for P-256 */
	b[3 + 31] = 1;
	CU_ASSERT_NOT_EQUAL(decode_bytes(b, 35), DC_OK);
	b[2] = 0x05;
	CU_ASSERT_NOT_EQUAL(decode_bytes(b, 35), DC_OK);
	b[2] = 0x00;
	CU_ASSERT_NOT_EQUAL(decode_bytes(b, 3), DC_OK);
	/* over-long input is refused before any work */
	char *s = malloc(20002);
	s[0] = 'z';
	memset(s + 1, '2', 20000);
	s[20001] = 0;
	CU_ASSERT_EQUAL(dc__multikey_decode(s, &k), DC_ERR_MALFORMED);
	free(s);
	/* encode refuses what it cannot represent */
	struct dc_key fake = { .crv = DC_CRV_NONE };
	char *out = NULL;
	CU_ASSERT_EQUAL(dc__multikey_encode(&fake, &out), DC_ERR_UNSUPPORTED);
	CU_ASSERT_PTR_NULL(out);
}

/* every generated key survives encode -> decode */
static void multikey_generated(void)
{
	const enum dc_crv crvs[] = { DC_CRV_ED25519, DC_CRV_X25519, DC_CRV_P256, DC_CRV_P384, DC_CRV_P521, DC_CRV_SECP256K1 };
	const char *prefix[] = { "z6Mk", "z6LS", "zDna", "z82L", "z2J9", "zQ3s" };
	for (size_t i = 0; i < sizeof crvs / sizeof crvs[0]; i++)
		for (int rep = 0; rep < 8; rep++) {
			struct dc_key *k = NULL, *back = NULL;
			char *mb = NULL;
			CU_ASSERT_EQUAL_FATAL(dc__key_generate(crvs[i], &k), DC_OK);
			CU_ASSERT_EQUAL(dc__multikey_encode(k, &mb), DC_OK);
			CU_ASSERT(mb && strncmp(mb, prefix[i], 4) == 0);
			CU_ASSERT_EQUAL(dc__multikey_decode(mb, &back), DC_OK);
			CU_ASSERT(back && back->crv == k->crv && back->pub_len == k->pub_len &&
			          memcmp(back->pub, k->pub, k->pub_len) == 0 && !back->priv);
			dc_key_free(k);
			dc_key_free(back);
			free(mb);
		}
}

void init_multibase_tests(void)
{
	CU_pSuite s = CU_add_suite("multibase", NULL, NULL);
	TU_ADD(s, base58_known);
	TU_ADD(s, base58_random);
	TU_ADD(s, base58_hostile);
	TU_ADD(s, multikey_vectors);
	TU_ADD(s, multikey_hostile);
	TU_ADD(s, multikey_generated);
}
