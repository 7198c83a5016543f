/* Keys: X25519 and Ed25519 through libsodium; P-256, P-384, P-521 and secp256k1 through
 * OpenSSL 3. Public points are validated on their curve when they enter; private parts live
 * in sodium_malloc'd memory and must match their public key. EC keys cache what OpenSSL
 * needs, built once: the EVP_PKEY (signatures), the decoded point and the private scalar as
 * a constant-time BIGNUM (ECDH, done with EC_POINT_mul as OpenSSL's own ECDH does, without
 * an EVP_PKEY and a context per message: those cost some 15 us for P-256). A key pair gets
 * them when its private part is set (keystore keys are read by several threads), a public
 * key when it is decoded or on first use (documents belong to one resolver, used by one
 * thread at a time). */
#include "internal.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

bool dc__crv_is_ec(enum dc_crv crv)
{
	return crv == DC_CRV_P256 || crv == DC_CRV_P384 || crv == DC_CRV_P521 || crv == DC_CRV_SECP256K1;
}

bool dc__crv_is_key_agreement(enum dc_crv crv)
{
	return crv == DC_CRV_X25519 || crv == DC_CRV_P256 || crv == DC_CRV_P384 || crv == DC_CRV_P521;
}

size_t dc__crv_field_len(enum dc_crv crv)
{
	switch (crv) {
	case DC_CRV_X25519:
	case DC_CRV_ED25519:
	case DC_CRV_P256:
	case DC_CRV_SECP256K1: return 32;
	case DC_CRV_P384: return 48;
	case DC_CRV_P521: return 66;
	default: return 0;
	}
}

const char *dc_crv_name(enum dc_crv crv)
{
	switch (crv) {
	case DC_CRV_X25519: return "X25519";
	case DC_CRV_ED25519: return "Ed25519";
	case DC_CRV_P256: return "P-256";
	case DC_CRV_P384: return "P-384";
	case DC_CRV_P521: return "P-521";
	case DC_CRV_SECP256K1: return "secp256k1";
	default: return "none";
	}
}

enum dc_crv dc_crv_from_name(const char *name)
{
	if (!name)
		return DC_CRV_NONE;
	static const enum dc_crv all[] = { DC_CRV_X25519, DC_CRV_ED25519, DC_CRV_P256,
	                                   DC_CRV_P384,   DC_CRV_P521,    DC_CRV_SECP256K1 };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (strcmp(name, dc_crv_name(all[i])) == 0)
			return all[i];
	return DC_CRV_NONE;
}

static int crv_nid(enum dc_crv crv)
{
	switch (crv) {
	case DC_CRV_P256: return NID_X9_62_prime256v1;
	case DC_CRV_P384: return NID_secp384r1;
	case DC_CRV_P521: return NID_secp521r1;
	case DC_CRV_SECP256K1: return NID_secp256k1;
	default: return NID_undef;
	}
}

static const char *crv_group(enum dc_crv crv)
{
	switch (crv) {
	case DC_CRV_P256: return "P-256";
	case DC_CRV_P384: return "P-384";
	case DC_CRV_P521: return "P-521";
	case DC_CRV_SECP256K1: return "secp256k1";
	default: return NULL;
	}
}

void dc__key_clear(struct dc_key *k)
{
	if (k->priv == k->eph)
		sodium_memzero(k->eph, sizeof k->eph);
	else if (k->priv)
		sodium_free(k->priv); /* zeroes */
	EVP_PKEY_free(k->evp);
	EC_POINT_free(k->ecpt);
	BN_clear_free(k->ecd);
	free(k->kid);
	memset(k, 0, sizeof *k);
}

void dc_key_free(struct dc_key *k)
{
	if (!k)
		return;
	dc__key_clear(k);
	free(k);
}

const char *dc_key_kid(const struct dc_key *k)
{
	return k ? k->kid : NULL;
}

enum dc_crv dc_key_crv(const struct dc_key *k)
{
	return k ? k->crv : DC_CRV_NONE;
}

bool dc_key_has_private(const struct dc_key *k)
{
	return k && k->priv;
}

dc_err dc__key_set_kid(struct dc_key *k, const char *kid)
{
	char *s = kid ? strdup(kid) : NULL;
	if (kid && !s)
		return DC_ERR_NOMEM;
	free(k->kid);
	k->kid = s;
	return DC_OK;
}

void dc__key_ec_xy(const struct dc_key *k, const uint8_t **x, const uint8_t **y)
{
	size_t f = dc__crv_field_len(k->crv);
	*x = k->pub + 1;
	*y = k->pub + 1 + f;
}

/* Per EC curve, built once and read-only afterwards (shared by every thread): the group
 * (EC_GROUP_new_by_curve_name costs some 10 us for P-256: the Montgomery constants are
 * computed again each time) and a parameters-only EVP_PKEY, the template of generated keys
 * and of public keys (EVP_PKEY_fromdata would look the group up by name again: 20 us for a
 * P-256 public key, against 5 us for a copy of the template given the point). */
static pthread_once_t ec_once = PTHREAD_ONCE_INIT;
static EVP_PKEY *ec_tmpl[DC_CRV_SECP256K1 + 1];
static EC_GROUP *ec_grp[DC_CRV_SECP256K1 + 1];

static void ec_tmpl_build(void)
{
	static const enum dc_crv all[] = { DC_CRV_P256, DC_CRV_P384, DC_CRV_P521, DC_CRV_SECP256K1 };
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
		EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
		if (c && EVP_PKEY_paramgen_init(c) == 1 && EVP_PKEY_CTX_set_group_name(c, crv_group(all[i])) == 1 &&
		    EVP_PKEY_paramgen(c, &ec_tmpl[all[i]]) != 1)
			ec_tmpl[all[i]] = NULL;
		EVP_PKEY_CTX_free(c);
		ec_grp[all[i]] = EC_GROUP_new_by_curve_name(crv_nid(all[i]));
	}
}

/* The shared group of crv (do not free), or NULL if OpenSSL could not build it. */
static const EC_GROUP *ec_group(enum dc_crv crv)
{
	pthread_once(&ec_once, ec_tmpl_build);
	return dc__crv_is_ec(crv) ? ec_grp[crv] : NULL;
}

/* Decode and validate an EC point; write the uncompressed form to out (1 + 2f bytes) and
 * hand the point to *pt. */
static dc_err ec_point_norm(enum dc_crv crv, const uint8_t *in, size_t len, uint8_t *out, EC_POINT **pt)
{
	*pt = NULL;
	size_t f = dc__crv_field_len(crv);
	if (!((len == 1 + 2 * f && in[0] == 0x04) || (len == 1 + f && (in[0] == 0x02 || in[0] == 0x03))))
		return DC_ERR_MALFORMED;
	dc_err rc = DC_ERR_MALFORMED;
	const EC_GROUP *g = ec_group(crv);
	EC_POINT *p = g ? EC_POINT_new(g) : NULL;
	BN_CTX *bn = BN_CTX_new();
	if (!g || !p || !bn) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	/* oct2point checks that the point is on the curve; infinity is refused by length */
	if (EC_POINT_oct2point(g, p, in, len, bn) != 1 || EC_POINT_is_at_infinity(g, p) ||
	    EC_POINT_is_on_curve(g, p, bn) != 1)
		goto out;
	/* an uncompressed point is already in our form (point2oct would cost a field inversion) */
	if (in[0] == 0x04)
		memcpy(out, in, len);
	else if (EC_POINT_point2oct(g, p, POINT_CONVERSION_UNCOMPRESSED, out, 1 + 2 * f, bn) != 1 + 2 * f)
		goto out;
	*pt = p;
	p = NULL;
	rc = DC_OK;
out:
	BN_CTX_free(bn);
	EC_POINT_free(p);
	return rc;
}

dc_err dc__key_from_pub(enum dc_crv crv, const uint8_t *pub, size_t len, struct dc_key **out)
{
	*out = NULL;
	struct dc_key *k = malloc(sizeof *k);
	if (!k)
		return DC_ERR_NOMEM;
	dc_err rc = dc__key_pub_init(k, crv, pub, len);
	if (rc) {
		free(k);
		return rc;
	}
	*out = k;
	return DC_OK;
}

dc_err dc__key_pub_init(struct dc_key *k, enum dc_crv crv, const uint8_t *pub, size_t len)
{
	memset(k, 0, sizeof *k);
	k->crv = crv;
	dc_err rc = DC_OK;
	if (crv == DC_CRV_X25519 || crv == DC_CRV_ED25519) {
		if (len != 32) {
			rc = DC_ERR_MALFORMED;
		} else {
			memcpy(k->pub, pub, 32);
			k->pub_len = 32;
			/* Ed25519: refuse non-canonical or small-order encodings up front */
			if (crv == DC_CRV_ED25519 && crypto_core_ed25519_is_valid_point(pub) != 1)
				rc = DC_ERR_MALFORMED;
		}
	} else if (dc__crv_is_ec(crv)) {
		rc = ec_point_norm(crv, pub, len, k->pub, (EC_POINT **)&k->ecpt);
		k->pub_len = 1 + 2 * dc__crv_field_len(crv);
	} else {
		rc = DC_ERR_UNSUPPORTED;
	}
	if (rc)
		dc__key_clear(k);
	return rc;
}

/* Build the EVP_PKEY of an EC key (public, or full pair when priv is set). A public key is
 * a copy of the curve's template given the point (checked on the curve again by OpenSSL). */
static EVP_PKEY *ec_evp(const struct dc_key *k)
{
	if (!k->priv && ec_group(k->crv) && ec_tmpl[k->crv]) {
		EVP_PKEY *pk = EVP_PKEY_dup(ec_tmpl[k->crv]);
		if (pk && EVP_PKEY_set1_encoded_public_key(pk, k->pub, k->pub_len) != 1) {
			EVP_PKEY_free(pk);
			pk = NULL;
		}
		return pk;
	}
	OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pk = NULL;
	BIGNUM *d = NULL;
	if (!b)
		return NULL;
	if (!OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, crv_group(k->crv), 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, k->pub, k->pub_len))
		goto out;
	if (k->priv) {
		d = BN_secure_new();
		if (!d || !BN_bin2bn(k->priv, (int)k->priv_len, d) || !OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_PRIV_KEY, d))
			goto out;
	}
	params = OSSL_PARAM_BLD_to_param(b);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pk, k->priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) != 1)
		pk = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params); /* OSSL_PARAM_clear_free is not in 3.0 for BLD output; d is secure */
	OSSL_PARAM_BLD_free(b);
	BN_clear_free(d);
	return pk;
}

static EVP_PKEY *key_evp(struct dc_key *k)
{
	if (!k->evp)
		k->evp = ec_evp(k);
	return k->evp;
}

/* The decoded public point of an EC key (k->pub was validated when it entered), built on first
 * use for keys made without one; NULL on failure. */
static const EC_POINT *key_point(struct dc_key *k)
{
	const EC_GROUP *g = ec_group(k->crv);
	if (!k->ecpt && g) {
		EC_POINT *p = EC_POINT_new(g);
		if (p && EC_POINT_oct2point(g, p, k->pub, k->pub_len, NULL) != 1) {
			EC_POINT_free(p);
			p = NULL;
		}
		k->ecpt = p;
	}
	return k->ecpt;
}

/* The private scalar of an EC key pair as a constant-time BIGNUM, built on first use for keys
 * made without one; NULL on failure. */
static const BIGNUM *key_scalar(struct dc_key *k)
{
	if (!k->ecd && k->priv && k->priv != k->eph) {
		BIGNUM *d = BN_secure_new();
		if (d) {
			BN_set_flags(d, BN_FLG_CONSTTIME);
			if (!BN_bin2bn(k->priv, (int)k->priv_len, d)) {
				BN_clear_free(d);
				d = NULL;
			}
		}
		k->ecd = d;
	}
	return k->ecd;
}

dc_err dc__key_set_priv(struct dc_key *k, const uint8_t *d, size_t len)
{
	uint8_t pk[32];
	uint8_t *buf = NULL;
	dc_err rc = DC_ERR_MALFORMED;
	size_t f = dc__crv_field_len(k->crv);
	if (k->crv == DC_CRV_X25519) {
		if (len != 32)
			return DC_ERR_MALFORMED;
		if (!(buf = sodium_malloc(32)))
			return DC_ERR_NOMEM;
		memcpy(buf, d, 32);
		if (crypto_scalarmult_base(pk, buf) != 0 || sodium_memcmp(pk, k->pub, 32) != 0)
			goto out;
		k->priv_len = 32;
	} else if (k->crv == DC_CRV_ED25519) {
		if (len != 32)
			return DC_ERR_MALFORMED;
		if (!(buf = sodium_malloc(crypto_sign_SECRETKEYBYTES)))
			return DC_ERR_NOMEM;
		if (crypto_sign_seed_keypair(pk, buf, d) != 0 || sodium_memcmp(pk, k->pub, 32) != 0)
			goto out;
		k->priv_len = crypto_sign_SECRETKEYBYTES;
	} else if (dc__crv_is_ec(k->crv)) {
		if (len == 0 || len > f)
			return DC_ERR_MALFORMED;
		if (!(buf = sodium_malloc(f)))
			return DC_ERR_NOMEM;
		memset(buf, 0, f - len);
		memcpy(buf + (f - len), d, len);
		/* 1 <= d < n and d*G == pub */
		const EC_GROUP *g = ec_group(k->crv);
		EC_POINT *p = g ? EC_POINT_new(g) : NULL, *q = g ? EC_POINT_new(g) : NULL;
		BN_CTX *bn = BN_CTX_secure_new();
		BIGNUM *dn = BN_secure_new();
		if (dn)
			BN_set_flags(dn, BN_FLG_CONSTTIME);
		bool ok = g && p && q && bn && dn && BN_bin2bn(buf, (int)f, dn) && !BN_is_zero(dn) &&
		          BN_cmp(dn, EC_GROUP_get0_order(g)) < 0 && EC_POINT_mul(g, p, dn, NULL, NULL, bn) == 1 &&
		          EC_POINT_oct2point(g, q, k->pub, k->pub_len, bn) == 1 && EC_POINT_cmp(g, p, q, bn) == 0;
		BN_CTX_free(bn);
		EC_POINT_free(p);
		if (!ok) {
			BN_clear_free(dn);
			EC_POINT_free(q);
			goto out;
		}
		BN_clear_free(k->ecd);
		k->ecd = dn;
		EC_POINT_free(k->ecpt);
		k->ecpt = q;
		k->priv_len = f;
	} else {
		return DC_ERR_UNSUPPORTED;
	}
	if (k->priv)
		sodium_free(k->priv);
	k->priv = buf;
	buf = NULL;
	EVP_PKEY_free(k->evp);
	/* an EC key pair gets its EVP_PKEY now, not on first use: keystore keys are shared by the
	 * threads of a process, which then only read it (should this fail, first use retries) */
	k->evp = dc__crv_is_ec(k->crv) ? ec_evp(k) : NULL;
	rc = DC_OK;
out:
	if (buf)
		sodium_free(buf);
	sodium_memzero(pk, sizeof pk);
	return rc;
}

dc_err dc__key_priv_d(const struct dc_key *k, uint8_t *d, size_t cap, size_t *len)
{
	*len = 0;
	if (!k->priv)
		return DC_ERR_INVAL;
	size_t n = k->crv == DC_CRV_ED25519 ? 32 : k->priv_len; /* Ed25519: the seed half */
	if (n > cap)
		return DC_ERR_TOO_BIG;
	memcpy(d, k->priv, n);
	*len = n;
	return DC_OK;
}

/* A new key on crv from the curve's template. */
static EVP_PKEY *ec_keygen(enum dc_crv crv)
{
	pthread_once(&ec_once, ec_tmpl_build);
	EVP_PKEY *pk = NULL;
	if (!ec_tmpl[crv])
		return EVP_PKEY_Q_keygen(NULL, NULL, "EC", crv_group(crv));
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, ec_tmpl[crv], NULL);
	if (!c || EVP_PKEY_keygen_init(c) != 1 || EVP_PKEY_keygen(c, &pk) != 1)
		pk = NULL;
	EVP_PKEY_CTX_free(c);
	return pk;
}

dc_err dc__key_generate(enum dc_crv crv, struct dc_key **out)
{
	*out = NULL;
	struct dc_key *k = calloc(1, sizeof *k);
	if (!k)
		return DC_ERR_NOMEM;
	k->crv = crv;
	dc_err rc = DC_ERR_CRYPTO;
	if (crv == DC_CRV_X25519) {
		if (!(k->priv = sodium_malloc(32))) {
			rc = DC_ERR_NOMEM;
			goto out;
		}
		crypto_box_keypair(k->pub, k->priv);
		k->pub_len = 32;
		k->priv_len = 32;
		rc = DC_OK;
	} else if (crv == DC_CRV_ED25519) {
		if (!(k->priv = sodium_malloc(crypto_sign_SECRETKEYBYTES))) {
			rc = DC_ERR_NOMEM;
			goto out;
		}
		crypto_sign_keypair(k->pub, k->priv);
		k->pub_len = 32;
		k->priv_len = crypto_sign_SECRETKEYBYTES;
		rc = DC_OK;
	} else if (dc__crv_is_ec(crv)) {
		size_t f = dc__crv_field_len(crv);
		EVP_PKEY *pk = ec_keygen(crv);
		BIGNUM *d = NULL;
		size_t plen = 0;
		if (pk && EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1 &&
		    EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, k->pub, sizeof k->pub, &plen) == 1 &&
		    plen == 1 + 2 * f && (k->priv = sodium_malloc(f)) && BN_bn2binpad(d, k->priv, (int)f) == (int)f) {
			k->pub_len = plen;
			k->priv_len = f;
			k->evp = pk;
			pk = NULL;
			rc = DC_OK;
		}
		BN_clear_free(d);
		EVP_PKEY_free(pk);
	} else {
		rc = DC_ERR_UNSUPPORTED;
	}
out:
	if (rc) {
		dc_key_free(k);
		return rc;
	}
	*out = k;
	return DC_OK;
}

dc_err dc__key_eph_generate(enum dc_crv crv, struct dc_key *k)
{
	memset(k, 0, sizeof *k);
	k->crv = crv;
	k->priv = k->eph;
	if (crv == DC_CRV_X25519) {
		randombytes_buf(k->eph, 32);
		if (crypto_scalarmult_base(k->pub, k->eph) != 0)
			return DC_ERR_CRYPTO;
		k->pub_len = 32;
		k->priv_len = 32;
		return DC_OK;
	}
	if (!dc__crv_is_key_agreement(crv))
		return DC_ERR_UNSUPPORTED;
	/* EC: d uniform in [1, n-1] and d*G, as OpenSSL's own key generation does; the scalar
	 * stays in k->ecd (a constant-time BIGNUM, wiped by dc__key_eph_clear), eph stays zero.
	 * The BN_CTX is this call's: freeing it clears what the multiplication left in it. */
	const EC_GROUP *g = ec_group(crv);
	size_t f = dc__crv_field_len(crv);
	BN_CTX *bn = BN_CTX_secure_new();
	BIGNUM *d = BN_secure_new();
	EC_POINT *q = g ? EC_POINT_new(g) : NULL;
	dc_err rc = DC_ERR_CRYPTO;
	if (!bn || !d || !q) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	BN_set_flags(d, BN_FLG_CONSTTIME);
	do {
		if (BN_priv_rand_range_ex(d, EC_GROUP_get0_order(g), 0, bn) != 1)
			goto out;
	} while (BN_is_zero(d));
	if (EC_POINT_mul(g, q, d, NULL, NULL, bn) != 1 ||
	    EC_POINT_point2oct(g, q, POINT_CONVERSION_UNCOMPRESSED, k->pub, sizeof k->pub, bn) != 1 + 2 * f)
		goto out;
	k->pub_len = 1 + 2 * f;
	k->priv_len = f;
	k->ecd = d;
	k->ecpt = q;
	d = NULL;
	q = NULL;
	rc = DC_OK;
out:
	BN_clear_free(d);
	EC_POINT_free(q);
	BN_CTX_free(bn);
	return rc;
}

void dc__key_eph_clear(struct dc_key *k)
{
	sodium_memzero(k->eph, sizeof k->eph);
	EVP_PKEY_free(k->evp);
	EC_POINT_free(k->ecpt);
	BN_clear_free(k->ecd);
	free(k->kid);
	memset(k, 0, sizeof *k);
}

dc_err dc__key_dup_public(const struct dc_key *k, struct dc_key **out)
{
	*out = NULL;
	struct dc_key *c = calloc(1, sizeof *c);
	if (!c)
		return DC_ERR_NOMEM;
	c->crv = k->crv;
	memcpy(c->pub, k->pub, k->pub_len);
	c->pub_len = k->pub_len;
	if (dc__key_set_kid(c, k->kid)) {
		dc_key_free(c);
		return DC_ERR_NOMEM;
	}
	*out = c;
	return DC_OK;
}

dc_err dc__ecdh(const struct dc_key *priv, const struct dc_key *pub, uint8_t *z, size_t *zlen)
{
	*zlen = 0;
	if (!priv->priv || priv->crv != pub->crv || !dc__crv_is_key_agreement(priv->crv))
		goto fail;
	if (priv->crv == DC_CRV_X25519) {
		/* libsodium refuses small-order points and an all-zero result with -1 */
		if (crypto_scalarmult(z, priv->priv, pub->pub) != 0)
			goto fail;
		*zlen = 32;
		return DC_OK;
	}
	/* No second check of the peer's point: every struct dc_key public point was decoded by
	 * ec_point_norm (on the curve, not infinity; all our EC curves have cofactor 1) or
	 * generated here. EC_POINT_mul with one point and no generator scalar is OpenSSL's
	 * constant-time path (the one its ECDH takes). The x coordinate comes out padded to field
	 * length. */
	const EC_GROUP *g = ec_group(priv->crv);
	const EC_POINT *q = key_point((struct dc_key *)pub);
	const BIGNUM *d = key_scalar((struct dc_key *)priv);
	size_t f = dc__crv_field_len(priv->crv);
	BN_CTX *bn = g && q && d ? BN_CTX_secure_new() : NULL;
	EC_POINT *r = bn ? EC_POINT_new(g) : NULL;
	BIGNUM *x = NULL;
	if (r) {
		BN_CTX_start(bn);
		x = BN_CTX_get(bn);
	}
	bool ok = x && EC_POINT_mul(g, r, NULL, q, d, bn) == 1 && !EC_POINT_is_at_infinity(g, r) &&
	          EC_POINT_get_affine_coordinates(g, r, x, NULL, bn) == 1 && BN_bn2binpad(x, z, (int)f) == (int)f;
	if (r)
		BN_CTX_end(bn);
	EC_POINT_clear_free(r);
	BN_CTX_free(bn); /* clears x */
	if (!ok)
		goto fail;
	*zlen = f;
	return DC_OK;
fail:
	sodium_memzero(z, DC_MAX_Z);
	return DC_ERR_CRYPTO;
}

const char *dc__sig_alg_name(enum dc_sig_alg a)
{
	switch (a) {
	case DC_SIG_EDDSA: return "EdDSA";
	case DC_SIG_ES256: return "ES256";
	case DC_SIG_ES256K: return "ES256K";
	default: return "none";
	}
}

enum dc_sig_alg dc__sig_alg_from_name(const char *s)
{
	if (!s)
		return DC_SIG_NONE;
	if (strcmp(s, "EdDSA") == 0)
		return DC_SIG_EDDSA;
	if (strcmp(s, "ES256") == 0)
		return DC_SIG_ES256;
	if (strcmp(s, "ES256K") == 0)
		return DC_SIG_ES256K;
	return DC_SIG_NONE;
}

enum dc_sig_alg dc__sig_alg_for_crv(enum dc_crv crv)
{
	switch (crv) {
	case DC_CRV_ED25519: return DC_SIG_EDDSA;
	case DC_CRV_P256: return DC_SIG_ES256;
	case DC_CRV_SECP256K1: return DC_SIG_ES256K;
	default: return DC_SIG_NONE;
	}
}

/* Group orders of the two ECDSA curves (big-endian), for the r/s range checks and low-S. */
static const uint8_t order_p256[32] = {
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
};
static const uint8_t order_k256[32] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
	0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
};

static const uint8_t *ecdsa_order(enum dc_crv crv)
{
	return crv == DC_CRV_P256 ? order_p256 : crv == DC_CRV_SECP256K1 ? order_k256 : NULL;
}

/* 1 <= v < n for a 32-byte big-endian v (public values: plain compares are fine). */
static bool ecdsa_in_range(const uint8_t v[32], const uint8_t n[32])
{
	return !sodium_is_zero(v, 32) && memcmp(v, n, 32) < 0;
}

dc_err dc__sign(const struct dc_key *priv, const uint8_t *m, size_t n, uint8_t *sig, size_t cap, size_t *siglen)
{
	*siglen = 0;
	enum dc_sig_alg alg = dc__sig_alg_for_crv(priv->crv);
	if (alg == DC_SIG_NONE)
		return DC_ERR_UNSUPPORTED;
	if (!priv->priv || cap < 64)
		return DC_ERR_INVAL;
	if (alg == DC_SIG_EDDSA) {
		if (crypto_sign_detached(sig, NULL, m, n, priv->priv) != 0)
			return DC_ERR_CRYPTO;
		*siglen = 64;
		return DC_OK;
	}
	EVP_PKEY *pk = key_evp((struct dc_key *)priv);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t der[128]; /* an ECDSA-256 DER signature is at most 72 bytes */
	size_t der_len = sizeof der;
	dc_err rc = DC_ERR_CRYPTO;
	ECDSA_SIG *es = NULL;
	BIGNUM *order = NULL, *half = NULL, *low = NULL;
	const BIGNUM *r = NULL, *s = NULL;
	const unsigned char *p = der;
	if (!pk || !md || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pk) != 1 ||
	    EVP_DigestSign(md, der, &der_len, m, n) != 1 || !(es = d2i_ECDSA_SIG(NULL, &p, (long)der_len)))
		goto out;
	ECDSA_SIG_get0(es, &r, &s);
	/* low-S (s <= n/2): secp256k1 verifiers such as didcomm-rust's refuse high-S, and n - s
	 * is an equally valid signature for everyone else */
	if (!(order = BN_bin2bn(ecdsa_order(priv->crv), 32, NULL)) || !(half = BN_dup(order)) ||
	    !BN_rshift1(half, half))
		goto out;
	if (BN_cmp(s, half) > 0) {
		if (!(low = BN_new()) || !BN_sub(low, order, s))
			goto out;
		s = low;
	}
	if (BN_bn2binpad(r, sig, 32) != 32 || BN_bn2binpad(s, sig + 32, 32) != 32)
		goto out;
	*siglen = 64;
	rc = DC_OK;
out:
	if (rc)
		sodium_memzero(sig, 64);
	BN_free(low);
	BN_free(half);
	BN_free(order);
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(md);
	return rc;
}

dc_err dc__verify(const struct dc_key *pub, enum dc_sig_alg alg, const uint8_t *m, size_t n, const uint8_t *sig,
                  size_t siglen)
{
	if (alg == DC_SIG_NONE || dc__sig_alg_for_crv(pub->crv) != alg || siglen != 64)
		return DC_ERR_CRYPTO;
	if (alg == DC_SIG_EDDSA)
		return crypto_sign_verify_detached(sig, m, n, pub->pub) == 0 ? DC_OK : DC_ERR_CRYPTO;
	/* r and s are exactly 32 bytes each and must lie in [1, n-1] (OpenSSL checks this too,
	 * after the DER round trip; we refuse before building anything) */
	const uint8_t *order = ecdsa_order(pub->crv);
	if (!ecdsa_in_range(sig, order) || !ecdsa_in_range(sig + 32, order))
		return DC_ERR_CRYPTO;
	EVP_PKEY *pk = key_evp((struct dc_key *)pub);
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	dc_err rc = DC_ERR_CRYPTO;
	if (!pk || !es || !r || !s || !md || ECDSA_SIG_set0(es, r, s) != 1)
		goto out;
	r = s = NULL; /* owned by es now */
	int der_len = i2d_ECDSA_SIG(es, &der);
	if (der_len <= 0)
		goto out;
	if (EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pk) == 1 &&
	    EVP_DigestVerify(md, der, (size_t)der_len, m, n) == 1)
		rc = DC_OK;
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return rc;
}
