/* JWE in General JSON serialisation (flattened accepted on input) for DIDComm:
 * ECDH-ES+A256KW (anoncrypt) and ECDH-1PU+A256KW (authcrypt, tag in the KDF), one
 * ephemeral key for all recipients, apv = SHA-256 of the sorted recipient kids joined
 * with '.', apu = skid for 1PU. Secrets (Z, KEK, CEK, ephemeral key) are wiped on every
 * path; every decryption failure is the same DC_ERR_CRYPTO. */
#include "internal.h"

#include <assert.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TYP_ENC "application/didcomm-encrypted+json"
#define MAX_EK 80
#define MAX_KID 2048
#define MAX_PROT 16384 /* the protected header's base64url text */

const char *dc__kw_alg_name(enum dc_kw_alg a)
{
	return a == DC_ALG_ECDH_ES_A256KW ? "ECDH-ES+A256KW" : a == DC_ALG_ECDH_1PU_A256KW ? "ECDH-1PU+A256KW" : "none";
}

static enum dc_kw_alg kw_alg_from_name(const char *s)
{
	if (!s)
		return DC_ALG_NONE;
	if (strcmp(s, "ECDH-ES+A256KW") == 0)
		return DC_ALG_ECDH_ES_A256KW;
	if (strcmp(s, "ECDH-1PU+A256KW") == 0)
		return DC_ALG_ECDH_1PU_A256KW;
	return DC_ALG_NONE;
}

/* ---- one allocation per JWE ---------------------------------------------------------
 * A parsed JWE is one block: the struct, its recipients, its epk, then every string and
 * decoded field (the protected header's text, kept as AAD, and its decoded JSON; typ, skid,
 * apu, apv; the kids and encrypted keys; iv, tag, ciphertext), taken in turn from the rest.
 * The block is sized before anything is read, from the lengths of the texts it will hold
 * (jwe_size: upper bounds), so reading never reallocates; dc__jwe_free clears the epk and
 * frees the block. Nothing in it is secret (the CEK is wrapped). */
struct jwe_mem {
	char *p, *end;
};

/* lengths of the texts a JWE is read from; kids and eks summed over the recipients */
struct jwe_lens {
	size_t prot, n, kids, eks, iv, tag, ct;
};

/* the most bytes n characters of base64url decode to */
static size_t dec_max(size_t n)
{
	return n / 4 * 3 + 2;
}

static size_t min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

static void lens_rcpt(struct jwe_lens *l, size_t kid_n, size_t ek_n)
{
	l->kids += min_sz(kid_n, MAX_KID) + 1;
	l->eks += dec_max(min_sz(ek_n, 4 * MAX_EK)) + 1;
}

/* Each field is copied or decoded only once its length passed its bound, so a bound caps
 * its share. The protected header's decoded text takes dec_max + 1 bytes; typ and skid (or
 * skid from apu) and the decoded apu and apv are disjoint parts of it, none longer than its
 * text there (a JSON string unescaped or base64url decoded shrinks), plus a NUL each: twice
 * the decoded header and 4 more bytes hold them all; three times is the budget. */
static size_t jwe_size(const struct jwe_lens *l)
{
	size_t hdr = l->prot > MAX_PROT ? 0 : 3 * (dec_max(l->prot) + 1);
	return sizeof(struct dc_jwe) + l->n * sizeof(struct dc_jwe_rcpt) + sizeof(struct dc_key) + l->prot + 1 + hdr +
	       l->kids + l->eks + dec_max(min_sz(l->iv, 64)) + 1 + dec_max(min_sz(l->tag, 128)) + 1 +
	       dec_max(l->ct) + 1;
}

static struct dc_jwe *jwe_alloc(const struct jwe_lens *l, struct jwe_mem *m)
{
	size_t size = jwe_size(l);
	struct dc_jwe *jwe = malloc(size);
	if (!jwe)
		return NULL;
	size_t fixed = sizeof *jwe + l->n * sizeof(struct dc_jwe_rcpt) + sizeof(struct dc_key);
	memset(jwe, 0, fixed);
	jwe->rcpts = (struct dc_jwe_rcpt *)(jwe + 1); /* the epk's storage follows them */
	m->p = (char *)jwe + fixed;
	m->end = (char *)jwe + size;
	return jwe;
}

static struct dc_key *jwe_epk_storage(struct dc_jwe *jwe, size_t n)
{
	return (struct dc_key *)(jwe->rcpts + n);
}

static char *mem_take(struct jwe_mem *m, size_t n)
{
	assert(n <= (size_t)(m->end - m->p)); /* jwe_size() is an upper bound */
	char *r = m->p;
	m->p += n;
	return r;
}

static char *mem_strndup(struct jwe_mem *m, const char *s, size_t n)
{
	char *r = mem_take(m, n + 1);
	memcpy(r, s, n);
	r[n] = 0;
	return r;
}

void dc__jwe_free(struct dc_jwe *jwe)
{
	if (!jwe)
		return;
	if (jwe->epk)
		dc__key_clear(jwe->epk);
	free(jwe);
}

/* v (n characters of base64url, at most max unless 0) decoded into m, NUL-terminated */
static dc_err b64_span(struct jwe_mem *m, const char *name, const char *v, size_t n, uint8_t **out, size_t *len,
                       size_t max, struct dc_errinfo *ei)
{
	if (max && n > max)
		return dc__fail(ei, DC_ERR_MALFORMED, "encrypted message: \"%s\" too long", name);
	size_t cap = dec_max(n);
	assert(cap + 1 <= (size_t)(m->end - m->p));
	uint8_t *p = (uint8_t *)m->p;
	if (dc__b64url_decode_to(v, n, p, cap, len))
		return dc__fail(ei, DC_ERR_MALFORMED, "encrypted message: \"%s\" is not base64url", name);
	p[*len] = 0;
	*out = (uint8_t *)mem_take(m, *len + 1);
	return DC_OK;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* SHA-256 of the sorted kids joined with '.' (up to 8 kids sorted on the stack); kid i is the
 * string pointer at kids + i * stride bytes (an array of strings, or the kid members of the
 * recipients) */
static dc_err kids_digest(const void *kids, size_t stride, size_t n, uint8_t out[32])
{
	const char *few[8], **s = n <= 8 ? few : malloc(n * sizeof *s);
	if (!s)
		return DC_ERR_NOMEM;
	for (size_t i = 0; i < n; i++)
		memcpy(&s[i], (const char *)kids + i * stride, sizeof s[i]);
	if (n > 1)
		qsort(s, n, sizeof *s, cmp_str);
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	unsigned int dl = 0;
	bool ok = c && EVP_DigestInit_ex(c, dc__evp_md(DC_MD_SHA256), NULL) == 1;
	for (size_t i = 0; ok && i < n; i++)
		ok = (!i || EVP_DigestUpdate(c, ".", 1) == 1) && EVP_DigestUpdate(c, s[i], strlen(s[i])) == 1;
	ok = ok && EVP_DigestFinal_ex(c, out, &dl) == 1 && dl == 32;
	EVP_MD_CTX_free(c);
	if (s != few)
		free(s);
	return ok ? DC_OK : DC_ERR_NOMEM;
}

static dc_err rcpt_set(struct jwe_mem *m, struct dc_jwe_rcpt *r, const char *kid, size_t kid_len, const char *ek,
                       size_t ek_len, struct dc_errinfo *ei)
{
	if (!kid || kid_len == 0 || kid_len > MAX_KID)
		return dc__fail(ei, DC_ERR_MALFORMED, "encrypted message: a recipient has no kid");
	r->kid = mem_strndup(m, kid, kid_len);
	if (!ek)
		return dc__fail(ei, DC_ERR_MALFORMED, "encrypted message: \"encrypted_key\" missing or not a string");
	return b64_span(m, "encrypted_key", ek, ek_len, &r->ek, &r->ek_len, 4 * MAX_EK, ei);
}

/* a recipient's kid and encrypted_key in a JSON tree (NULL: absent or not a string) */
static void rcpt_strs(const cJSON *holder, const cJSON *hdr, const char **kid, const char **ek)
{
	const cJSON *e = dc__json_get(holder, "encrypted_key");
	*kid = dc__json_str(hdr, "kid");
	*ek = cJSON_IsString(e) ? e->valuestring : NULL;
}

static void lens_rcpt_json(struct jwe_lens *l, const cJSON *holder, const cJSON *hdr)
{
	const char *kid, *ek;
	rcpt_strs(holder, hdr, &kid, &ek);
	lens_rcpt(l, kid ? strlen(kid) : 0, ek ? strlen(ek) : 0);
}

static dc_err parse_rcpt(struct jwe_mem *m, const cJSON *holder, const cJSON *hdr, struct dc_jwe_rcpt *r,
                         struct dc_errinfo *ei)
{
	const char *kid, *ek;
	rcpt_strs(holder, hdr, &kid, &ek);
	return rcpt_set(m, r, kid, kid ? strlen(kid) : 0, ek, ek ? strlen(ek) : 0, ei);
}

/* The protected header's members, from a JSON tree or read in place (strings; NULL: absent). */
struct hdr_fields {
	const char *alg, *enc, *typ, *skid, *apu, *apv;
	bool apu_bad;           /* apu there, not null and not a string */
	bool has_epk;
	const cJSON *epk_json;  /* the tree's epk, or NULL: then the strings below */
	const char *kty, *crv, *x, *y;
};

/* ---- reading JSON in place (the envelope and its protected header) ---------------------
 * Most envelopes have one shape: {"protected":S,"recipients":[{"header":{"kid":S},
 * "encrypted_key":S},...],"iv":S,"ciphertext":S,"tag":S}, and their protected header
 * {"typ":S,"alg":S,"enc":S,"epk":{"kty":S,"crv":S,"x":S[,"y":S]}[,"skid":S,"apu":S],"apv":S};
 * members in any order, whitespace anywhere, strings without escapes. The scanner reads that
 * shape in place; anything else (another member, an escape, a control character, a duplicate,
 * a syntax error, too many recipients) is left to the JSON parser, which gives the verdict.
 * What the scanner accepts, the parser accepts as well and reads to the same strings. Its
 * steps (dc__scan_*) are in json.c. */

/* An object of string members named in names (each at most once), into v; nothing else. */
static bool scan_strs(struct dc_scan *s, const char *const *names, size_t n_names, struct dc_span *v, unsigned *seen)
{
	*seen = 0;
	if (!dc__scan_lit(s, '{'))
		return false;
	do {
		struct dc_span k;
		size_t w = 0;
		if (!dc__scan_str(s, &k) || !dc__scan_lit(s, ':'))
			return false;
		while (w < n_names && !dc__span_is(&k, names[w]))
			w++;
		if (w == n_names || (*seen & (1u << w)) || !dc__scan_str(s, &v[w]))
			return false;
		*seen |= 1u << w;
	} while (dc__scan_lit(s, ','));
	return dc__scan_lit(s, '}');
}

/* The protected header of the usual shape, read in raw (n bytes, ours: its strings are
 * NUL-terminated in place). false: another shape, raw unchanged. */
static bool scan_hdr(char *raw, size_t n, struct hdr_fields *f)
{
	enum { H_TYP, H_ALG, H_ENC, H_SKID, H_APU, H_APV, H_EPK, H_N };
	static const char *const names[H_N] = { "typ", "alg", "enc", "skid", "apu", "apv", "epk" };
	static const char *const epk_names[] = { "kty", "crv", "x", "y" };
	struct dc_span v[H_N], e[4];
	unsigned seen = 0, eseen = 0;
	struct dc_scan s = { raw, raw + n };
	if (!dc__scan_lit(&s, '{'))
		return false;
	do {
		struct dc_span k;
		size_t w = 0;
		if (!dc__scan_str(&s, &k) || !dc__scan_lit(&s, ':'))
			return false;
		while (w < H_N && !dc__span_is(&k, names[w]))
			w++;
		if (w == H_N || (seen & (1u << w)))
			return false;
		seen |= 1u << w;
		if (w == H_EPK ? !scan_strs(&s, epk_names, 4, e, &eseen) : !dc__scan_str(&s, &v[w]))
			return false;
	} while (dc__scan_lit(&s, ','));
	if (!dc__scan_lit(&s, '}'))
		return false;
	dc__scan_ws(&s);
	if (s.p != s.end)
		return false;
	/* the strings end where their closing quotes are */
	const char **out[H_N] = { &f->typ, &f->alg, &f->enc, &f->skid, &f->apu, &f->apv, NULL };
	const char **eout[4] = { &f->kty, &f->crv, &f->x, &f->y };
	memset(f, 0, sizeof *f);
	for (size_t i = 0; i < H_EPK; i++)
		if (seen & (1u << i)) {
			raw[v[i].p - raw + (ptrdiff_t)v[i].n] = 0;
			*out[i] = v[i].p;
		}
	f->has_epk = seen & (1u << H_EPK);
	for (size_t i = 0; i < 4; i++)
		if (eseen & (1u << i)) {
			raw[e[i].p - raw + (ptrdiff_t)e[i].n] = 0;
			*eout[i] = e[i].p;
		}
	return true;
}

/* The protected header (its base64url text prot, prot_len bytes): alg, enc, typ, skid, apu,
 * apv, epk (into the storage after the recipients, n_rcpts of them). */
static dc_err jwe_protected(struct dc_jwe *jwe, struct jwe_mem *m, size_t n_rcpts, const char *prot, size_t prot_len,
                            struct dc_errinfo *ei)
{
	cJSON *hdr = NULL;
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	struct hdr_fields f;
	dc_err rc;
	if (!prot || prot_len > MAX_PROT)
		return dc__fail(ei, DC_ERR_MALFORMED, "encrypted message: protected header missing or too long");
	jwe->protected_b64 = mem_strndup(m, prot, prot_len);
	if (b64_span(m, "protected", prot, prot_len, &raw, &raw_len, 0, NULL))
		return dc__fail(ei, DC_ERR_MALFORMED, "encrypted message: protected header is not base64url");
	/* the scanner's strings stay in raw (NUL-terminated there); the tree's are copied */
	if (!scan_hdr((char *)raw, raw_len, &f)) {
		if ((rc = dc__json_parse((const char *)raw, raw_len, 8, &hdr, ei)))
			goto out;
		if (!cJSON_IsObject(hdr)) {
			rc = dc__fail(ei, DC_ERR_MALFORMED, "encrypted message: protected header is not an object");
			goto out;
		}
		memset(&f, 0, sizeof f);
		f.alg = dc__json_str(hdr, "alg");
		f.enc = dc__json_str(hdr, "enc");
		f.typ = dc__json_str(hdr, "typ");
		f.skid = dc__json_str(hdr, "skid");
		f.apv = dc__json_str(hdr, "apv");
		const cJSON *apu = dc__json_get(hdr, "apu");
		if (apu && !cJSON_IsNull(apu)) {
			f.apu = cJSON_IsString(apu) ? apu->valuestring : NULL;
			f.apu_bad = !f.apu;
		}
		f.epk_json = dc__json_get(hdr, "epk");
		f.has_epk = f.epk_json != NULL;
	}
	jwe->alg = kw_alg_from_name(f.alg);
	jwe->enc = dc__enc_from_name(f.enc);
	if (!f.alg || !f.enc) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "encrypted message: alg and enc are required");
		goto out;
	}
	if (!jwe->alg || !jwe->enc) {
		rc = dc__fail(ei, DC_ERR_UNSUPPORTED, "encrypted message: alg %.40s / enc %.40s not supported", f.alg,
		              f.enc);
		goto out;
	}
	if (jwe->alg == DC_ALG_ECDH_1PU_A256KW && jwe->enc != DC_ENC_A256CBC_HS512) {
		rc = dc__fail(ei, DC_ERR_UNSUPPORTED, "encrypted message: ECDH-1PU requires A256CBC-HS512");
		goto out;
	}
	if (hdr) {
		jwe->typ = f.typ ? mem_strndup(m, f.typ, strlen(f.typ)) : NULL;
		jwe->skid = f.skid ? mem_strndup(m, f.skid, strlen(f.skid)) : NULL;
	} else {
		jwe->typ = (char *)f.typ;
		jwe->skid = (char *)f.skid;
	}
	if (f.apu_bad) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "encrypted message: \"apu\" missing or not a string");
		goto out;
	}
	if (f.apu && (rc = b64_span(m, "apu", f.apu, strlen(f.apu), &jwe->apu, &jwe->apu_len, 4096, ei)))
		goto out;
	if (!f.apv) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "encrypted message: \"apv\" missing or not a string");
		goto out;
	}
	if ((rc = b64_span(m, "apv", f.apv, strlen(f.apv), &jwe->apv, &jwe->apv_len, 64, ei)))
		goto out;
	if (jwe->alg == DC_ALG_ECDH_1PU_A256KW) {
		if (!jwe->apu) {
			rc = dc__fail(ei, DC_ERR_MALFORMED, "authcrypt: apu is required");
			goto out;
		}
		if (memchr(jwe->apu, 0, jwe->apu_len)) {
			rc = dc__fail(ei, DC_ERR_MALFORMED, "authcrypt: apu is not a key id");
			goto out;
		}
		if (!jwe->skid)
			jwe->skid = mem_strndup(m, (const char *)jwe->apu, jwe->apu_len);
		else if (strlen(jwe->skid) != jwe->apu_len || memcmp(jwe->skid, jwe->apu, jwe->apu_len) != 0) {
			rc = dc__fail(ei, DC_ERR_MALFORMED, "authcrypt: apu does not encode skid");
			goto out;
		}
	}
	if (!f.has_epk) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "encrypted message: epk is required");
		goto out;
	}
	struct dc_key *epk = jwe_epk_storage(jwe, n_rcpts);
	rc = f.epk_json ? dc__jwk_init(f.epk_json, epk, ei)
	                : dc__jwk_strs_init(f.kty, f.crv, f.x, f.y, NULL, NULL, epk, ei);
	if (rc)
		goto out;
	jwe->epk = epk;
	if (jwe->epk->priv || !dc__crv_is_key_agreement(jwe->epk->crv)) {
		rc = dc__fail(ei, DC_ERR_MALFORMED, "encrypted message: epk is not a public key-agreement key");
		goto out;
	}
	rc = DC_OK;
out:
	cJSON_Delete(hdr);
	return rc;
}

/* After the recipients: no kid twice; iv, tag and ciphertext (base64url texts). */
static dc_err jwe_finish(struct dc_jwe *jwe, struct jwe_mem *m, const char *iv, size_t iv_n, const char *tag,
                         size_t tag_n, const char *ct, size_t ct_n, struct dc_errinfo *ei)
{
	dc_err rc;
	for (size_t a = 0; a < jwe->n_rcpts; a++)
		for (size_t b = a + 1; b < jwe->n_rcpts; b++)
			if (strcmp(jwe->rcpts[a].kid, jwe->rcpts[b].kid) == 0)
				return dc__fail(ei, DC_ERR_MALFORMED, "encrypted message: recipient kid %.200s appears twice",
				                jwe->rcpts[a].kid);
	static const char *const names[] = { "iv", "tag", "ciphertext" };
	const char *v[] = { iv, tag, ct };
	for (size_t i = 0; i < 3; i++)
		if (!v[i])
			return dc__fail(ei, DC_ERR_MALFORMED, "encrypted message: \"%s\" missing or not a string", names[i]);
	if ((rc = b64_span(m, "iv", iv, iv_n, &jwe->iv, &jwe->iv_len, 64, ei)) ||
	    (rc = b64_span(m, "tag", tag, tag_n, &jwe->tag, &jwe->tag_len, 128, ei)) ||
	    (rc = b64_span(m, "ciphertext", ct, ct_n, &jwe->ct, &jwe->ct_len, 0, ei)))
		return rc;
	if (jwe->iv_len != dc__enc_iv_len(jwe->enc) || jwe->tag_len != dc__enc_tag_len(jwe->enc))
		return dc__fail(ei, DC_ERR_MALFORMED, "encrypted message: iv or tag length is wrong for %s",
		                dc__enc_name(jwe->enc));
	return DC_OK;
}

static const char *str_or_null(const cJSON *o, const char *name, size_t *n)
{
	const cJSON *v = dc__json_get(o, name);
	if (!cJSON_IsString(v))
		return NULL;
	*n = strlen(v->valuestring);
	return v->valuestring;
}

dc_err dc__jwe_parse(const cJSON *j, size_t max_rcpts, struct dc_jwe **out, struct dc_errinfo *ei)
{
	*out = NULL;
	dc_err rc;
	if (!cJSON_IsObject(j))
		return dc__fail(ei, DC_ERR_MALFORMED, "encrypted message: not an object");
	if (dc__json_get(j, "aad") || dc__json_get(j, "unprotected"))
		return dc__fail(ei, DC_ERR_UNSUPPORTED, "encrypted message: aad/unprotected members are not used by DIDComm");
	/* the lengths first (for the one allocation), then the members in order */
	struct jwe_lens l = { 0 };
	const char *prot = dc__json_str(j, "protected");
	const cJSON *rcpts = dc__json_get(j, "recipients"), *r;
	int n = rcpts ? cJSON_GetArraySize(rcpts) : 1;
	bool n_ok = !rcpts || (cJSON_IsArray(rcpts) && n >= 1 && (size_t)n <= max_rcpts);
	size_t iv_n = 0, tag_n = 0, ct_n = 0;
	const char *iv = str_or_null(j, "iv", &iv_n), *tag = str_or_null(j, "tag", &tag_n),
		   *ct = str_or_null(j, "ciphertext", &ct_n);
	l.prot = prot ? strlen(prot) : 0;
	if (n_ok) {
		l.n = (size_t)n;
		if (!rcpts) {
			lens_rcpt_json(&l, j, dc__json_obj(j, "header"));
		} else {
			cJSON_ArrayForEach(r, rcpts)
			{
				if (cJSON_IsObject(r)) /* otherwise refused before it is read */
					lens_rcpt_json(&l, r, dc__json_obj(r, "header"));
			}
		}
	}
	l.iv = iv_n;
	l.tag = tag_n;
	l.ct = ct_n;
	struct jwe_mem m;
	struct dc_jwe *jwe = jwe_alloc(&l, &m);
	if (!jwe)
		return DC_ERR_NOMEM;
	if ((rc = jwe_protected(jwe, &m, l.n, prot, l.prot, ei)))
		goto out;
	/* recipients: general, or flattened (header + encrypted_key at the top) */
	if (!n_ok) {
		rc = dc__fail(ei, n > 0 && cJSON_IsArray(rcpts) ? DC_ERR_TOO_BIG : DC_ERR_MALFORMED,
		              "encrypted message: recipients must be 1..%zu entries", max_rcpts);
		goto out;
	}
	if (rcpts) {
		cJSON_ArrayForEach(r, rcpts)
		{
			if (!cJSON_IsObject(r)) {
				rc = dc__fail(ei, DC_ERR_MALFORMED, "encrypted message: a recipient is not an object");
				goto out;
			}
			rc = parse_rcpt(&m, r, dc__json_obj(r, "header"), &jwe->rcpts[jwe->n_rcpts], ei);
			jwe->n_rcpts++;
			if (rc)
				goto out;
		}
	} else {
		jwe->n_rcpts = 1;
		if ((rc = parse_rcpt(&m, j, dc__json_obj(j, "header"), &jwe->rcpts[0], ei)))
			goto out;
	}
	if ((rc = jwe_finish(jwe, &m, iv, iv_n, tag, tag_n, ct, ct_n, ei)))
		goto out;
	*out = jwe;
	jwe = NULL;
	rc = DC_OK;
out:
	dc__jwe_free(jwe);
	return rc;
}

/* {"kid":S} */
static bool scan_header(struct dc_scan *s, struct dc_span *kid)
{
	struct dc_span k;
	return dc__scan_lit(s, '{') && dc__scan_str(s, &k) && dc__span_is(&k, "kid") && dc__scan_lit(s, ':') &&
	       dc__scan_str(s, kid) && dc__scan_lit(s, '}');
}

/* {"header":{"kid":S},"encrypted_key":S} in either order */
static bool scan_rcpt(struct dc_scan *s, struct dc_span *kid, struct dc_span *ek)
{
	bool have_h = false, have_ek = false;
	if (!dc__scan_lit(s, '{'))
		return false;
	for (int i = 0; i < 2; i++) {
		struct dc_span k;
		if ((i && !dc__scan_lit(s, ',')) || !dc__scan_str(s, &k) || !dc__scan_lit(s, ':'))
			return false;
		if (dc__span_is(&k, "header") && !have_h) {
			if (!scan_header(s, kid))
				return false;
			have_h = true;
		} else if (dc__span_is(&k, "encrypted_key") && !have_ek) {
			if (!dc__scan_str(s, ek))
				return false;
			have_ek = true;
		} else {
			return false;
		}
	}
	return dc__scan_lit(s, '}');
}

bool dc__jwe_scan_text(const char *in, size_t n, size_t max_rcpts, struct dc_jwe_text *t)
{
	enum { M_PROT, M_RCPTS, M_IV, M_CT, M_TAG, M_N };
	static const char *const names[M_N] = { "protected", "recipients", "iv", "ciphertext", "tag" };
	struct dc_span *m[M_N] = { &t->prot, NULL, &t->iv, &t->ct, &t->tag };
	unsigned seen = 0;
	struct dc_scan s = { in, in + n };
	memset(t, 0, sizeof *t);
	if (!dc__scan_lit(&s, '{'))
		return false;
	for (size_t i = 0; i < M_N; i++) {
		struct dc_span k;
		if ((i && !dc__scan_lit(&s, ',')) || !dc__scan_str(&s, &k) || !dc__scan_lit(&s, ':'))
			return false;
		size_t w = 0;
		while (w < M_N && !dc__span_is(&k, names[w]))
			w++;
		if (w == M_N || (seen & (1u << w)))
			return false;
		seen |= 1u << w;
		if (w != M_RCPTS) {
			if (!dc__scan_str(&s, m[w]))
				return false;
			continue;
		}
		if (!dc__scan_lit(&s, '['))
			return false;
		do {
			if (t->n == max_rcpts || t->n == DC_JWE_SCAN_MAX || !scan_rcpt(&s, &t->kid[t->n], &t->ek[t->n]))
				return false;
			t->n++;
		} while (dc__scan_lit(&s, ','));
		if (!dc__scan_lit(&s, ']'))
			return false;
	}
	if (!dc__scan_lit(&s, '}'))
		return false;
	dc__scan_ws(&s);
	return s.p == s.end;
}

dc_err dc__jwe_from_text(const struct dc_jwe_text *t, struct dc_jwe **out, struct dc_errinfo *ei)
{
	dc_err rc;
	*out = NULL;
	struct jwe_lens l = { .prot = t->prot.n, .n = t->n, .iv = t->iv.n, .tag = t->tag.n, .ct = t->ct.n };
	for (size_t i = 0; i < t->n; i++)
		lens_rcpt(&l, t->kid[i].n, t->ek[i].n);
	struct jwe_mem m;
	struct dc_jwe *jwe = jwe_alloc(&l, &m);
	if (!jwe)
		return DC_ERR_NOMEM;
	if ((rc = jwe_protected(jwe, &m, t->n, t->prot.p, t->prot.n, ei)))
		goto out;
	for (size_t i = 0; i < t->n; i++) {
		rc = rcpt_set(&m, &jwe->rcpts[i], t->kid[i].p, t->kid[i].n, t->ek[i].p, t->ek[i].n, ei);
		jwe->n_rcpts++;
		if (rc)
			goto out;
	}
	if ((rc = jwe_finish(jwe, &m, t->iv.p, t->iv.n, t->tag.p, t->tag.n, t->ct.p, t->ct.n, ei)))
		goto out;
	*out = jwe;
	jwe = NULL;
out:
	dc__jwe_free(jwe);
	return rc;
}

bool dc__jwe_scan(const char *in, size_t n, size_t max_rcpts, struct dc_jwe **out, dc_err *rc,
                  struct dc_errinfo *ei)
{
	struct dc_jwe_text t;
	*out = NULL;
	if (!dc__jwe_scan_text(in, n, max_rcpts, &t))
		return false;
	*rc = dc__jwe_from_text(&t, out, ei);
	return true;
}

dc_err dc__jwe_decrypt(const struct dc_jwe *jwe, size_t idx, const struct dc_key *rcpt_priv,
                       const struct dc_key *sender_pub, uint8_t **pt, size_t *pt_len, struct dc_errinfo *ei)
{
	*pt = NULL;
	*pt_len = 0;
	uint8_t z[2 * DC_MAX_Z], kek[32], cek[64], digest[32];
	size_t zl = 0, zs = 0;
	uint8_t *buf = NULL;
	dc_err rc = DC_ERR_CRYPTO;
	bool pu = jwe->alg == DC_ALG_ECDH_1PU_A256KW;
	if (idx >= jwe->n_rcpts || !rcpt_priv || !rcpt_priv->priv || rcpt_priv->crv != jwe->epk->crv)
		goto out;
	if (pu && (!sender_pub || sender_pub->crv != jwe->epk->crv))
		goto out;
	/* apv must bind the full recipient list */
	if (kids_digest(&jwe->rcpts[0].kid, sizeof jwe->rcpts[0], jwe->n_rcpts, digest) || jwe->apv_len != 32 || memcmp(digest, jwe->apv, 32) != 0)
		goto out;
	if (dc__ecdh(rcpt_priv, jwe->epk, z, &zl))
		goto out;
	if (pu) {
		if (dc__ecdh(rcpt_priv, sender_pub, z + zl, &zs))
			goto out;
		zl += zs;
	}
	if (dc__concat_kdf(z, zl, dc__kw_alg_name(jwe->alg), jwe->apu, jwe->apu_len, jwe->apv, jwe->apv_len,
	                   pu ? jwe->tag : NULL, pu ? jwe->tag_len : 0, kek))
		goto out;
	const struct dc_jwe_rcpt *r = &jwe->rcpts[idx];
	size_t cek_len = dc__enc_cek_len(jwe->enc);
	if (r->ek_len != cek_len + 8 || dc__aes_kw_unwrap(kek, r->ek, r->ek_len, cek))
		goto out;
	if (!(buf = malloc(jwe->ct_len + 1))) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	size_t n = 0;
	if (dc__aead_decrypt(jwe->enc, cek, jwe->iv, jwe->iv_len, (const uint8_t *)jwe->protected_b64,
	                     strlen(jwe->protected_b64), jwe->ct, jwe->ct_len, jwe->tag, jwe->tag_len, buf, &n))
		goto out;
	buf[n] = 0;
	*pt = buf;
	*pt_len = n;
	buf = NULL;
	rc = DC_OK;
out:
	sodium_memzero(z, sizeof z);
	sodium_memzero(kek, sizeof kek);
	sodium_memzero(cek, sizeof cek);
	free(buf);
	if (rc == DC_ERR_CRYPTO)
		dc__fail(ei, rc, "decryption failed");
	return rc;
}

static char *put(char *p, const char *s)
{
	size_t n = strlen(s);
	memcpy(p, s, n);
	return p + n;
}

/* The protected header, written directly (no JSON tree): {"typ","alg","enc","epk"{..},
 * ["skid","apu",]"apv"}. *out malloc'd. */
static dc_err protected_header(enum dc_kw_alg alg, enum dc_enc enc, const struct dc_key *eph, const char *skid,
                               const char *apv_b64, char **out, size_t *out_len)
{
	size_t f = dc__crv_field_len(eph->crv), skid_esc = skid ? dc__json_escape(skid, NULL) : 0;
	size_t skid_len = skid ? strlen(skid) : 0;
	if (skid_len > 4096)
		return DC_ERR_INVAL;
	size_t cap = 256 + 2 * dc__b64url_enc_len(f) + skid_esc + dc__b64url_enc_len(skid_len) + strlen(apv_b64);
	char *h = malloc(cap), *p = h;
	if (!h)
		return DC_ERR_NOMEM;
	p = put(p, "{\"typ\":\"" TYP_ENC "\",\"alg\":\"");
	p = put(p, dc__kw_alg_name(alg));
	p = put(p, "\",\"enc\":\"");
	p = put(p, dc__enc_name(enc));
	if (eph->crv == DC_CRV_X25519) {
		p = put(p, "\",\"epk\":{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"");
		dc__b64url_encode_to(eph->pub, 32, p);
		p += dc__b64url_enc_len(32);
	} else {
		p = put(p, "\",\"epk\":{\"kty\":\"EC\",\"crv\":\"");
		p = put(p, dc_crv_name(eph->crv));
		p = put(p, "\",\"x\":\"");
		dc__b64url_encode_to(eph->pub + 1, f, p);
		p += dc__b64url_enc_len(f);
		p = put(p, "\",\"y\":\"");
		dc__b64url_encode_to(eph->pub + 1 + f, f, p);
		p += dc__b64url_enc_len(f);
	}
	p = put(p, "\"}");
	if (skid) {
		p = put(p, ",\"skid\":\"");
		p += dc__json_escape(skid, p);
		p = put(p, "\",\"apu\":\"");
		dc__b64url_encode_to((const uint8_t *)skid, skid_len, p);
		p += dc__b64url_enc_len(skid_len);
		p = put(p, "\"");
	}
	p = put(p, ",\"apv\":\"");
	p = put(p, apv_b64);
	p = put(p, "\"}");
	*p = 0;
	*out = h;
	*out_len = (size_t)(p - h);
	return DC_OK;
}

dc_err dc__jwe_encrypt(enum dc_kw_alg alg, enum dc_enc enc, const struct dc_key *sender, const char *skid,
                       const struct dc_key *const *rcpts, size_t n, const uint8_t *pt, size_t pt_len,
                       char **out, size_t *out_len, struct dc_errinfo *ei)
{
	*out = NULL;
	*out_len = 0;
	bool pu = alg == DC_ALG_ECDH_1PU_A256KW;
	struct dc_key eph; /* the ephemeral key: on the stack, wiped at out */
	char *hdr_txt = NULL, *prot = NULL, *res = NULL;
	uint8_t *ct = NULL, (*eks)[MAX_EK] = NULL;
	uint8_t cek[64], iv[24], tag[32], kek[32], z[2 * DC_MAX_Z], digest[32];
	const char **kids = NULL;
	dc_err rc = DC_ERR_INVAL;
	size_t cek_len = dc__enc_cek_len(enc), iv_len = dc__enc_iv_len(enc), tag_len = dc__enc_tag_len(enc);

	memset(&eph, 0, sizeof eph);
	if (n == 0 || !cek_len || (alg != DC_ALG_ECDH_ES_A256KW && !pu))
		return dc__fail(ei, DC_ERR_INVAL, "encrypt: no recipients or unknown algorithm");
	if (pu && enc != DC_ENC_A256CBC_HS512)
		return dc__fail(ei, DC_ERR_UNSUPPORTED, "encrypt: ECDH-1PU requires A256CBC-HS512");
	enum dc_crv crv = rcpts[0]->crv;
	if (!dc__crv_is_key_agreement(crv))
		return dc__fail(ei, DC_ERR_INVAL, "encrypt: %s is not a key-agreement curve", dc_crv_name(crv));
	for (size_t i = 0; i < n; i++)
		if (rcpts[i]->crv != crv || !rcpts[i]->kid)
			return dc__fail(ei, DC_ERR_INVAL, "encrypt: recipients must share one curve and have kids");
	if (pu && (!sender || !sender->priv || sender->crv != crv || !skid))
		return dc__fail(ei, DC_ERR_INVAL, "encrypt: the sender key must be private, on %s, with a kid",
		                dc_crv_name(crv));
	if (!(kids = malloc(n * sizeof *kids)) || !(eks = calloc(n, sizeof *eks))) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		kids[i] = rcpts[i]->kid;
	for (size_t a = 0; a < n; a++)
		for (size_t b = a + 1; b < n; b++)
			if (strcmp(kids[a], kids[b]) == 0) {
				rc = dc__fail(ei, DC_ERR_INVAL, "encrypt: recipient %.200s given twice", kids[a]);
				goto out;
			}
	if ((rc = kids_digest(kids, sizeof *kids, n, digest)))
		goto out;
	if ((rc = dc__key_eph_generate(crv, &eph)))
		goto out;
	/* protected header */
	char apv_b64[64];
	size_t hdr_len = 0;
	dc__b64url_encode_to(digest, 32, apv_b64);
	if ((rc = protected_header(alg, enc, &eph, pu ? skid : NULL, apv_b64, &hdr_txt, &hdr_len)) ||
	    (rc = dc__b64url_encode((const uint8_t *)hdr_txt, hdr_len, &prot)))
		goto out;
	rc = DC_ERR_NOMEM;
	/* content first (1PU needs the tag in the KDF) */
	randombytes_buf(cek, cek_len);
	randombytes_buf(iv, iv_len);
	if (pt_len > SIZE_MAX - 32 || !(ct = malloc(pt_len + 16)))
		goto out;
	size_t ct_len = 0;
	if ((rc = dc__aead_encrypt(enc, cek, iv, (const uint8_t *)prot, strlen(prot), pt, pt_len, ct, &ct_len, tag))) {
		rc = dc__fail(ei, rc, "encrypt: content encryption failed");
		goto out;
	}
	/* the KDF takes the decoded apu (the skid bytes) */
	for (size_t i = 0; i < n; i++) {
		size_t zl = 0, zs = 0;
		rc = DC_ERR_CRYPTO;
		if (dc__ecdh(&eph, rcpts[i], z, &zl) || (pu && dc__ecdh(sender, rcpts[i], z + zl, &zs)))
			break;
		zl += zs;
		if (dc__concat_kdf(z, zl, dc__kw_alg_name(alg), pu ? (const uint8_t *)skid : NULL, pu ? strlen(skid) : 0,
		                   digest, 32, pu ? tag : NULL, pu ? tag_len : 0, kek) ||
		    dc__aes_kw_wrap(kek, cek, cek_len, eks[i]))
			break;
		rc = DC_OK;
	}
	if (rc) {
		rc = dc__fail(ei, rc, "encrypt: key agreement failed (invalid recipient key?)");
		goto out;
	}
	/* assemble the JSON in one buffer */
	size_t ek_b64 = dc__b64url_enc_len(cek_len + 8);
	size_t total = 64 + strlen(prot) + dc__b64url_enc_len(iv_len) + dc__b64url_enc_len(ct_len) +
	               dc__b64url_enc_len(tag_len);
	for (size_t i = 0; i < n; i++)
		total += 48 + dc__json_escape(kids[i], NULL) + ek_b64;
	if (!(res = malloc(total + 1))) {
		rc = DC_ERR_NOMEM;
		goto out;
	}
	char *p = res;
	p = put(p, "{\"protected\":\"");
	p = put(p, prot);
	p = put(p, "\",\"recipients\":[");
	for (size_t i = 0; i < n; i++) {
		p = put(p, i ? ",{\"header\":{\"kid\":\"" : "{\"header\":{\"kid\":\"");
		p += dc__json_escape(kids[i], p);
		p = put(p, "\"},\"encrypted_key\":\"");
		dc__b64url_encode_to(eks[i], cek_len + 8, p);
		p += ek_b64;
		p = put(p, "\"}");
	}
	p = put(p, "],\"iv\":\"");
	dc__b64url_encode_to(iv, iv_len, p);
	p += dc__b64url_enc_len(iv_len);
	p = put(p, "\",\"ciphertext\":\"");
	dc__b64url_encode_to(ct, ct_len, p);
	p += dc__b64url_enc_len(ct_len);
	p = put(p, "\",\"tag\":\"");
	dc__b64url_encode_to(tag, tag_len, p);
	p += dc__b64url_enc_len(tag_len);
	p = put(p, "\"}");
	*p = 0;
	*out = res;
	*out_len = (size_t)(p - res);
	res = NULL;
	rc = DC_OK;
out:
	sodium_memzero(cek, sizeof cek);
	sodium_memzero(kek, sizeof kek);
	sodium_memzero(z, sizeof z);
	dc__key_eph_clear(&eph);
	free(hdr_txt);
	free(prot);
	free(ct);
	free(eks);
	free(kids);
	free(res);
	return rc;
}
