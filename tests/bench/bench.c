/* libdidcomm benchmark: each pack/unpack operation beside its floor, on one thread.
 *
 *   bench [SECONDS [FILTER]]   times every operation (SECONDS each, default 1.0; with FILTER,
 *                              only those whose "KIND OP MODE" contains it) beside the
 *                              public-key primitives it cannot avoid (the floor: for each
 *                              primitive the faster of libsodium and OpenSSL, chosen by timing
 *                              both first). Each row runs in rounds, every round timing the
 *                              operation and then its floor's primitives, so both are measured
 *                              at the same moments; the best round of each counts. Times are
 *                              the thread's CPU time (the slices other processes take on a
 *                              shared machine are not counted). Prints one line per operation:
 *                              "row<TAB>did-kind<TAB>op<TAB>mode<TAB>ours_us<TAB>floor_us<TAB>pct<TAB>iterations<TAB>sym_us"
 *                              (floor_us and pct are "-" for plaintext, which has no public-key work;
 *                              sym_us, informational, is the symmetric work an encrypted unpack
 *                              must also do with the libraries, timed alone the same way (see
 *                              sym_open), "-" for the other rows),
 *                              then "floor<TAB>primitive<TAB>us<TAB>library" per primitive (the best
 *                              seen in the run, on BODY_BYTES of input). A signed row's floor signs
 *                              or verifies an input as long as the row's own JWS signing input
 *                              (EdDSA and ECDSA hash what they sign: that hashing is part of the
 *                              primitive's unavoidable work); its length is printed first, as
 *                              "sigin<TAB>did-kind<TAB>mode<TAB>bytes".
 *   bench op KIND OP MODE N    runs one operation N times untimed (for callgrind/perf):
 *                              KIND and MODE as in the rows, OP pack or unpack
 *   bench prim NAME LIB N      runs one floor primitive N times untimed (for callgrind/perf):
 *                              NAME as in the "floor" lines, LIB libsodium or OpenSSL
 *   bench rss-prepare DIR MB   writes DIR/did-docs.json, DIR/secrets.json (bob) and
 *                              DIR/big.json: an anoncrypt (XC20P) envelope of an MB-MiB message
 *   bench rss-unpack DIR       unpacks DIR/big.json once; prints
 *                              "rss<TAB>message_bytes<TAB>envelope_bytes<TAB>base_kb<TAB>read_kb<TAB>peak_kb"
 *                              (ru_maxrss before reading, after reading, after unpacking)
 *
 * Messages: 300-byte body. Worlds: did:example with X25519 + Ed25519 keys, did:example with
 * P-256 keys (ES256, ECDH-ES and ECDH-1PU on P-256), did:example whose recipient has 5
 * keyAgreement keys (one JWE with 5 recipients), and did:peer:2 (dc_did_new). Only the public
 * API (didcomm.h) is used, plus libsodium and OpenSSL for key generation and the floor. */
#define _POSIX_C_SOURCE 200809L
#include "didcomm.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <cjson/cJSON.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#define BODY_BYTES 300
#define SIGN_MAX 8192 /* the longest signing input a signed row's floor signs */

static void die(const char *what, dc_err rc, const struct dc_errinfo *ei)
{
	fprintf(stderr, "bench: %s: %s%s%s\n", what, dc_strerror(rc), ei && ei->msg[0] ? ": " : "",
	        ei && ei->msg[0] ? ei->msg : "");
	exit(1);
}

/* ---- growable string ----------------------------------------------------------------- */
struct buf {
	char *p;
	size_t n, cap;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct buf *b, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		size_t room = b->cap - b->n;
		int w = vsnprintf(b->p ? b->p + b->n : NULL, room, fmt, ap);
		va_end(ap);
		if (w < 0)
			die("vsnprintf", DC_ERR_INVAL, NULL);
		if ((size_t)w < room) {
			b->n += (size_t)w;
			return;
		}
		size_t ncap = (b->cap + (size_t)w + 1) * 2;
		char *np = realloc(b->p, ncap);
		if (!np)
			die("realloc", DC_ERR_NOMEM, NULL);
		b->p = np;
		b->cap = ncap;
	}
}

static void b64url(const unsigned char *in, size_t n, char *out, size_t cap)
{
	sodium_bin2base64(out, cap, in, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* ---- did:example parties with fresh keys ---------------------------------------------- */
enum kt { KT_OKP, KT_P256 };

/* A fresh key as JWK members: x (and y) public, d private. */
static void fresh_jwk(enum kt t, bool sig, char *pub, size_t pcap, char *priv, size_t dcap)
{
	char x[64], y[64], d[64];
	if (t == KT_OKP) {
		unsigned char seed[32], pk[32], sk[64];
		randombytes_buf(seed, sizeof seed);
		if (sig) {
			crypto_sign_seed_keypair(pk, sk, seed);
		} else if (crypto_scalarmult_base(pk, seed) != 0) {
			die("crypto_scalarmult_base", DC_ERR_INVAL, NULL);
		}
		b64url(pk, 32, x, sizeof x);
		b64url(seed, 32, d, sizeof d);
		snprintf(pub, pcap, "\"kty\":\"OKP\",\"crv\":\"%s\",\"x\":\"%s\"", sig ? "Ed25519" : "X25519", x);
		sodium_memzero(seed, sizeof seed);
		sodium_memzero(sk, sizeof sk);
	} else {
		EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		unsigned char pt[65], sc[32];
		size_t n = 0;
		BIGNUM *bn = NULL;
		if (!pk || EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt, &n) != 1 ||
		    n != 65 || EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_PRIV_KEY, &bn) != 1 || BN_bn2binpad(bn, sc, 32) != 32)
			die("P-256 keygen", DC_ERR_INVAL, NULL);
		b64url(pt + 1, 32, x, sizeof x);
		b64url(pt + 33, 32, y, sizeof y);
		b64url(sc, 32, d, sizeof d);
		snprintf(pub, pcap, "\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"", x, y);
		BN_clear_free(bn);
		EVP_PKEY_free(pk);
		sodium_memzero(sc, sizeof sc);
	}
	snprintf(priv, dcap, "%s,\"d\":\"%s\"", pub, d);
	sodium_memzero(d, sizeof d);
}

/* Appends the DID document of did:example:NAME (one signing key, n_ka key-agreement keys) to
 * docs and the private JWKs to secrets (JSON array members). */
static void party(const char *name, enum kt t, size_t n_ka, struct buf *docs, struct buf *secrets)
{
	char pub[256], priv[320];
	fresh_jwk(t, true, pub, sizeof pub, priv, sizeof priv);
	bprintf(docs,
	        "%s{\"id\":\"did:example:%s\",\"verificationMethod\":["
	        "{\"id\":\"did:example:%s#key-1\",\"type\":\"JsonWebKey2020\",\"controller\":\"did:example:%s\","
	        "\"publicKeyJwk\":{%s}}",
	        docs->n > 1 ? "," : "", name, name, name, pub);
	bprintf(secrets, "%s{\"kid\":\"did:example:%s#key-1\",%s}", secrets->n > 1 ? "," : "", name, priv);
	for (size_t i = 1; i <= n_ka; i++) {
		fresh_jwk(t, false, pub, sizeof pub, priv, sizeof priv);
		bprintf(docs,
		        ",{\"id\":\"did:example:%s#key-ka-%zu\",\"type\":\"JsonWebKey2020\",\"controller\":"
		        "\"did:example:%s\",\"publicKeyJwk\":{%s}}",
		        name, i, name, pub);
		bprintf(secrets, ",{\"kid\":\"did:example:%s#key-ka-%zu\",%s}", name, i, priv);
	}
	bprintf(docs, "],\"authentication\":[\"did:example:%s#key-1\"],\"keyAgreement\":[", name);
	for (size_t i = 1; i <= n_ka; i++)
		bprintf(docs, "%s\"did:example:%s#key-ka-%zu\"", i > 1 ? "," : "", name, i);
	bprintf(docs, "],\"service\":[]}");
	sodium_memzero(priv, sizeof priv);
}

static void example_party(const char *name, struct buf *docs, struct buf *secrets)
{
	party(name, KT_OKP, 1, docs, secrets);
}

struct world {
	const char *kind;
	struct dc_resolver *res;
	struct dc_keystore *ks;
	struct dc_ctx *ctx;
	char *alice, *bob;
	char *msg;
	size_t msg_len;
	size_t n_rcpt_keys; /* keyAgreement keys of bob: recipients of one JWE */
};

static char *xstrdup(const char *s)
{
	char *d = strdup(s);
	if (!d)
		die("strdup", DC_ERR_NOMEM, NULL);
	return d;
}

static void world_common(struct world *w)
{
	dc_err rc;
	if ((rc = dc_resolver_new(256, &w->res)) || (rc = dc_keystore_new(&w->ks)))
		die("new", rc, NULL);
}

static void world_ctx(struct world *w, size_t body_bytes)
{
	dc_err rc = dc_ctx_new(w->res, w->ks, &w->ctx);
	if (rc)
		die("dc_ctx_new", rc, NULL);
	/* The body is {"text":"xxx..."}: 11 bytes of syntax around the string. */
	size_t pad = body_bytes > 11 ? body_bytes - 11 : 0;
	char *text = malloc(pad + 1);
	if (!text)
		die("malloc", DC_ERR_NOMEM, NULL);
	for (size_t i = 0; i < pad; i++)
		text[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[i % 36];
	text[pad] = 0;
	struct buf m = { 0 };
	bprintf(&m,
	        "{\"id\":\"3fa85f64-5717-4562-b3fc-2c963f66afa6\",\"typ\":\"application/didcomm-plain+json\","
	        "\"type\":\"https://example.org/bench/1.0/note\",\"from\":\"%s\",\"to\":[\"%s\"],"
	        "\"created_time\":1700000000,\"body\":{\"text\":\"%s\"}}",
	        w->alice, w->bob, text);
	free(text);
	w->msg = m.p;
	w->msg_len = m.n;
}

static void world_example(struct world *w, const char *kind, enum kt t, size_t n_ka, size_t body_bytes)
{
	struct buf docs = { 0 }, sec = { 0 };
	struct dc_errinfo ei = { 0 };
	dc_err rc;
	memset(w, 0, sizeof *w);
	w->kind = kind;
	w->n_rcpt_keys = n_ka;
	world_common(w);
	bprintf(&docs, "[");
	bprintf(&sec, "[");
	party("alice", t, 1, &docs, &sec);
	party("bob", t, n_ka, &docs, &sec);
	bprintf(&docs, "]");
	bprintf(&sec, "]");
	if ((rc = dc_resolver_add_docs_text(w->res, docs.p, docs.n, &ei)))
		die("dc_resolver_add_docs_text", rc, &ei);
	if ((rc = dc_keystore_load_text(w->ks, sec.p, sec.n, &ei)))
		die("dc_keystore_load_text", rc, &ei);
	sodium_memzero(sec.p, sec.n);
	free(sec.p);
	free(docs.p);
	w->alice = xstrdup("did:example:alice");
	w->bob = xstrdup("did:example:bob");
	world_ctx(w, body_bytes);
}

static void world_peer2(struct world *w, size_t body_bytes)
{
	struct dc_errinfo ei = { 0 };
	struct dc_did_new_opts o = { .method = DC_DID_PEER2 };
	dc_err rc;
	memset(w, 0, sizeof *w);
	w->kind = "did:peer:2";
	w->n_rcpt_keys = 1;
	world_common(w);
	if ((rc = dc_did_new(&o, w->ks, &w->alice, &ei)))
		die("dc_did_new", rc, &ei);
	if ((rc = dc_did_new(&o, w->ks, &w->bob, &ei)))
		die("dc_did_new", rc, &ei);
	world_ctx(w, body_bytes);
}

static void world_free(struct world *w)
{
	dc_ctx_free(w->ctx);
	dc_keystore_free(w->ks);
	dc_resolver_free(w->res);
	free(w->alice);
	free(w->bob);
	free(w->msg);
}

/* ---- the floor: public-key primitives alone, the faster library of the two ------------- */
enum prim { P_X25519_KEYGEN, P_X25519, P_ED25519_SIGN, P_ED25519_VERIFY, P_P256_KEYGEN, P_P256, P_ES256_SIGN,
	    P_ES256_VERIFY, P_N };
static const char *const prim_name[P_N] = { "X25519-keygen", "X25519",      "Ed25519-sign",  "Ed25519-verify",
	                                    "P-256-keygen",  "P-256-ECDH", "ES256-sign", "ES256-verify" };

struct prims {
	unsigned char m[SIGN_MAX]; /* the signing primitives' input: m_len bytes of it */
	size_t m_len;
	unsigned char xsk[32], xpk[32], xpk2[32], z[64];
	unsigned char esk[64], epk[32], esig[64];
	EVP_PKEY *ox, *ox2, *oe, *oe_pub, *p1, *p2, *p2_pub;
	EVP_PKEY_CTX *xgen, *pgen;
	unsigned char psig[80];
	size_t psig_len;
	double best[P_N];
	const char *lib[P_N];
};

static void chk(int ok, const char *what)
{
	if (!ok)
		die(what, DC_ERR_INVAL, NULL);
}

/* libsodium */
static void s_x25519_keygen(struct prims *p) { chk(crypto_box_keypair(p->xpk2, p->xsk) == 0, "keypair"); }
static void s_x25519(struct prims *p) { chk(crypto_scalarmult(p->z, p->xsk, p->xpk) == 0, "scalarmult"); }
static void s_ed_sign(struct prims *p) { crypto_sign_detached(p->esig, NULL, p->m, p->m_len, p->esk); }
static void s_ed_verify(struct prims *p)
{
	chk(crypto_sign_verify_detached(p->esig, p->m, p->m_len, p->epk) == 0, "verify");
}
/* OpenSSL (EVP, as an application would call it; the key objects built beforehand) */
static void o_keygen(EVP_PKEY_CTX *g)
{
	EVP_PKEY *k = NULL;
	chk(EVP_PKEY_keygen(g, &k) == 1, "EVP_PKEY_keygen");
	EVP_PKEY_free(k);
}
static void o_derive(struct prims *p, EVP_PKEY *a, EVP_PKEY *b)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(a, NULL);
	size_t n = sizeof p->z;
	chk(c && EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_derive_set_peer_ex(c, b, 0) == 1 &&
	        EVP_PKEY_derive(c, p->z, &n) == 1,
	    "EVP_PKEY_derive");
	EVP_PKEY_CTX_free(c);
}
static void o_sign(struct prims *p, EVP_PKEY *k, const EVP_MD *md, unsigned char *sig, size_t *len)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	chk(c && EVP_DigestSignInit(c, NULL, md, NULL, k) == 1 && EVP_DigestSign(c, sig, len, p->m, p->m_len) == 1,
	    "EVP_DigestSign");
	EVP_MD_CTX_free(c);
}
static void o_verify(struct prims *p, EVP_PKEY *k, const EVP_MD *md, const unsigned char *sig, size_t len)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	chk(c && EVP_DigestVerifyInit(c, NULL, md, NULL, k) == 1 && EVP_DigestVerify(c, sig, len, p->m, p->m_len) == 1,
	    "EVP_DigestVerify");
	EVP_MD_CTX_free(c);
}
static void o_x25519_keygen(struct prims *p) { o_keygen(p->xgen); }
static void o_x25519(struct prims *p) { o_derive(p, p->ox, p->ox2); }
static void o_ed_sign(struct prims *p)
{
	size_t n = 64;
	o_sign(p, p->oe, NULL, p->esig, &n);
}
static void o_ed_verify(struct prims *p) { o_verify(p, p->oe_pub, NULL, p->esig, 64); }
static void o_p256_keygen(struct prims *p) { o_keygen(p->pgen); }
static void o_p256(struct prims *p) { o_derive(p, p->p1, p->p2_pub); }
static void o_es256_sign(struct prims *p)
{
	p->psig_len = sizeof p->psig;
	o_sign(p, p->p1, EVP_sha256(), p->psig, &p->psig_len);
}
static void o_es256_verify(struct prims *p) { o_verify(p, p->p1, EVP_sha256(), p->psig, p->psig_len); }

static EVP_PKEY *pub_only(EVP_PKEY *k)
{
	unsigned char der[256], *q = der;
	int n = i2d_PUBKEY(k, &q);
	const unsigned char *r = der;
	EVP_PKEY *pub = n > 0 && n <= (int)sizeof der ? d2i_PUBKEY(NULL, &r, n) : NULL;
	chk(pub != NULL, "d2i_PUBKEY");
	return pub;
}

static void prims_init(struct prims *p)
{
	memset(p, 0, sizeof *p);
	randombytes_buf(p->m, sizeof p->m);
	p->m_len = BODY_BYTES;
	chk(crypto_box_keypair(p->xpk, p->xsk) == 0, "keypair");
	crypto_sign_keypair(p->epk, p->esk);
	chk((p->xgen = EVP_PKEY_CTX_new_from_name(NULL, "X25519", NULL)) && EVP_PKEY_keygen_init(p->xgen) == 1,
	    "X25519 keygen ctx");
	chk((p->pgen = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) && EVP_PKEY_keygen_init(p->pgen) == 1 &&
	        EVP_PKEY_CTX_set_group_name(p->pgen, "P-256") == 1,
	    "P-256 keygen ctx");
	chk(EVP_PKEY_keygen(p->xgen, &p->ox) == 1 && EVP_PKEY_keygen(p->xgen, &p->ox2) == 1, "X25519 keys");
	chk((p->oe = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, p->esk, 32)) != NULL, "Ed25519 key");
	chk((p->oe_pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, p->epk, 32)) != NULL, "Ed25519 pub");
	chk(EVP_PKEY_keygen(p->pgen, &p->p1) == 1 && EVP_PKEY_keygen(p->pgen, &p->p2) == 1, "P-256 keys");
	p->p2_pub = pub_only(p->p2);
	s_ed_sign(p);
	o_es256_sign(p);
	for (int i = 0; i < P_N; i++)
		p->best[i] = 1e9;
}

/* the signing primitives' input length (and signatures of that input for the verifications) */
static void prims_sign_len(struct prims *p, size_t len)
{
	p->m_len = len < sizeof p->m ? len : sizeof p->m;
	s_ed_sign(p);
	o_es256_sign(p);
}

static void prims_free(struct prims *p)
{
	EVP_PKEY_free(p->ox);
	EVP_PKEY_free(p->ox2);
	EVP_PKEY_free(p->oe);
	EVP_PKEY_free(p->oe_pub);
	EVP_PKEY_free(p->p1);
	EVP_PKEY_free(p->p2);
	EVP_PKEY_free(p->p2_pub);
	EVP_PKEY_CTX_free(p->xgen);
	EVP_PKEY_CTX_free(p->pgen);
	sodium_memzero(p, sizeof *p);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of this thread: time spent descheduled (the machine is shared) is not counted */
static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* 25 short rounds, not 5 long ones: on a shared virtual machine the speed drifts over
 * seconds, and short rounds alternating with the floor's let both see the same moments (the
 * ratios of three idle runs spread over 5-10 points with 5 rounds, 2-4 with 25) */
#define ROUNDS 25
/* Timing, in the thread's CPU time, not wall time: on a shared machine the wall clock counts
 * the slices other processes take from us, the CPU clock only what this thread ran (caches
 * and the other hyperthread can still disturb it: hence the best of several rounds). The
 * clock is read once per batch of calls (a batch lasts about 100 us). */
struct meter {
	void (*fn)(void *);
	void *arg;
	unsigned long batch, total;
	double best; /* seconds per call, best round so far */
};

static void meter_warm(struct meter *m, void (*fn)(void *), void *arg, double secs)
{
	m->fn = fn;
	m->arg = arg;
	m->total = 0;
	m->best = 1e30;
	double t0 = now(), c0 = cpu_now();
	unsigned long warm = 0;
	while (now() - t0 < secs) {
		fn(arg);
		warm++;
	}
	double per = (cpu_now() - c0) / (double)(warm ? warm : 1);
	m->batch = per > 0 ? (unsigned long)(100e-6 / per) : 1;
	if (m->batch < 1)
		m->batch = 1;
}

/* one round of about secs of CPU time (at most 4 x secs of wall time) */
static void meter_round(struct meter *m, double secs)
{
	unsigned long n = 0;
	double t, w0 = now(), c0 = cpu_now();
	do {
		for (unsigned long k = 0; k < m->batch; k++)
			m->fn(m->arg);
		n += m->batch;
		t = cpu_now() - c0;
	} while (t < secs && now() - w0 < 4 * secs);
	m->total += n;
	if (t / (double)n < m->best)
		m->best = t / (double)n;
}

/* fn(arg) for about secs seconds: a warm-up, then ROUNDS rounds; microseconds per call of the
 * best round */
static double timed(void (*fn)(void *), void *arg, double secs, unsigned long *iters)
{
	struct meter m;
	meter_warm(&m, fn, arg, secs / 10);
	for (int r = 0; r < ROUNDS; r++)
		meter_round(&m, secs / ROUNDS);
	if (iters)
		*iters = m.total;
	return m.best * 1e6;
}

typedef void prim_fn(struct prims *);

static prim_fn *const sodium_fn[P_N] = { s_x25519_keygen, s_x25519, s_ed_sign, s_ed_verify };
static prim_fn *const ossl_fn[P_N] = { o_x25519_keygen, o_x25519,  o_ed_sign,    o_ed_verify,
	                               o_p256_keygen,   o_p256,    o_es256_sign, o_es256_verify };

struct prim_call {
	prim_fn *fn;
	struct prims *p;
};

static void call_prim(void *arg)
{
	struct prim_call *c = arg;
	c->fn(c->p);
}

static double time_prim(prim_fn *fn, struct prims *p, double secs)
{
	struct prim_call c = { fn, p };
	return timed(call_prim, &c, secs, NULL);
}

/* each primitive in both libraries: the faster one is the floor's (and is timed again beside
 * every row) */
static void prims_measure(struct prims *p, double secs)
{
	for (int i = 0; i < P_N; i++) {
		double s = sodium_fn[i] ? time_prim(sodium_fn[i], p, secs) : 1e9;
		double o = time_prim(ossl_fn[i], p, secs);
		if (s < p->best[i]) {
			p->best[i] = s;
			p->lib[i] = "libsodium";
		}
		if (o < p->best[i]) {
			p->best[i] = o;
			p->lib[i] = "OpenSSL";
		}
	}
}

static prim_fn *prim_fastest(const struct prims *p, int i)
{
	return p->lib[i] && strcmp(p->lib[i], "libsodium") == 0 ? sodium_fn[i] : ossl_fn[i];
}

/* ---- operations ---------------------------------------------------------------------- */
struct mode {
	const char *name;
	enum dc_pack_mode mode;
	enum dc_enc enc;
	enum dc_crv crv;
};

static const struct mode modes_okp[] = {
	{ "plaintext", DC_PACK_PLAINTEXT, DC_ENC_NONE, DC_CRV_NONE },
	{ "signed-EdDSA", DC_PACK_SIGNED, DC_ENC_NONE, DC_CRV_NONE },
	{ "anoncrypt-X25519-XC20P", DC_PACK_ANONCRYPT, DC_ENC_XC20P, DC_CRV_X25519 },
	{ "anoncrypt-X25519-A256CBC-HS512", DC_PACK_ANONCRYPT, DC_ENC_A256CBC_HS512, DC_CRV_X25519 },
	{ "authcrypt-X25519-A256CBC-HS512", DC_PACK_AUTHCRYPT, DC_ENC_A256CBC_HS512, DC_CRV_X25519 },
	{ NULL, 0, 0, 0 },
};
static const struct mode modes_p256[] = {
	{ "signed-ES256", DC_PACK_SIGNED, DC_ENC_NONE, DC_CRV_NONE },
	{ "anoncrypt-P256-XC20P", DC_PACK_ANONCRYPT, DC_ENC_XC20P, DC_CRV_P256 },
	{ "anoncrypt-P256-A256GCM", DC_PACK_ANONCRYPT, DC_ENC_A256GCM, DC_CRV_P256 },
	{ "authcrypt-P256-A256CBC-HS512", DC_PACK_AUTHCRYPT, DC_ENC_A256CBC_HS512, DC_CRV_P256 },
	{ NULL, 0, 0, 0 },
};
static const struct mode modes_5[] = {
	{ "anoncrypt-X25519-XC20P-5rcpt", DC_PACK_ANONCRYPT, DC_ENC_XC20P, DC_CRV_X25519 },
	{ "authcrypt-X25519-A256CBC-HS512-5rcpt", DC_PACK_AUTHCRYPT, DC_ENC_A256CBC_HS512, DC_CRV_X25519 },
	{ NULL, 0, 0, 0 },
};

/* The floor of one row: the public-key operations the operation cannot avoid, as up to two
 * primitives (idx) with their counts; returns how many. */
static size_t row_prims(const struct mode *m, bool pack, size_t n_rcpt, int idx[2], double cnt[2])
{
	bool p256 = m->crv == DC_CRV_P256;
	int kg = p256 ? P_P256_KEYGEN : P_X25519_KEYGEN, dh = p256 ? P_P256 : P_X25519;
	switch (m->mode) {
	case DC_PACK_SIGNED:
		if (strstr(m->name, "ES256"))
			idx[0] = pack ? P_ES256_SIGN : P_ES256_VERIFY;
		else
			idx[0] = pack ? P_ED25519_SIGN : P_ED25519_VERIFY;
		cnt[0] = 1;
		return 1;
	case DC_PACK_ANONCRYPT:
	case DC_PACK_AUTHCRYPT: {
		double per = m->mode == DC_PACK_AUTHCRYPT ? 2.0 : 1.0;
		if (!pack) {
			idx[0] = dh;
			cnt[0] = per;
			return 1;
		}
		idx[0] = kg;
		cnt[0] = 1;
		idx[1] = dh;
		cnt[1] = per * (double)n_rcpt;
		return 2;
	}
	default: return 0;
	}
}

/* the length of a JWS's signing input, BASE64URL(protected) "." BASE64URL(payload), from our
 * own general JSON serialization; 0 if it is not one */
static size_t jws_signing_input_len(const char *jws)
{
	size_t n[2] = { 0, 0 };
	const char *key[2] = { "\"payload\":\"", "\"protected\":\"" };
	for (int i = 0; i < 2; i++) {
		const char *a = strstr(jws, key[i]);
		if (!a)
			return 0;
		a += strlen(key[i]);
		const char *b = strchr(a, '"');
		if (!b)
			return 0;
		n[i] = (size_t)(b - a);
	}
	return n[0] + 1 + n[1];
}

struct job {
	struct world *w;
	struct dc_pack_opts po;
	const char *to[1];
	char *env; /* packed once, for the unpack loop */
	size_t env_len;
};

static void job_init(struct job *j, struct world *w, const struct mode *m)
{
	memset(j, 0, sizeof *j);
	j->w = w;
	j->to[0] = w->bob;
	j->po.mode = m->mode;
	j->po.to = j->to;
	j->po.n_to = 1;
	j->po.enc = m->enc;
	j->po.curve = m->crv;
	j->po.no_forward = true;
	if (m->mode == DC_PACK_AUTHCRYPT)
		j->po.from = w->alice;
	if (m->mode == DC_PACK_SIGNED)
		j->po.sign_from = w->alice;
}

static void op_pack(void *arg)
{
	struct job *j = arg;
	struct dc_pack_result r = { 0 };
	struct dc_errinfo ei = { 0 };
	dc_err rc = dc_pack(j->w->ctx, j->w->msg, j->w->msg_len, &j->po, &r, &ei);
	if (rc)
		die("dc_pack", rc, &ei);
	if (r.n != 1)
		die("dc_pack: not one envelope", DC_ERR_INVAL, NULL);
	if (!j->env) {
		j->env = r.items[0].msg;
		j->env_len = r.items[0].len;
		r.items[0].msg = NULL;
	}
	dc_pack_result_clear(&r);
}

static void op_unpack(void *arg)
{
	struct job *j = arg;
	struct dc_unpack_opts uo = { .unwrap_forwards = true };
	struct dc_unpack_meta *meta = NULL;
	struct dc_errinfo ei = { 0 };
	char *out = NULL;
	dc_err rc = dc_unpack(j->w->ctx, j->env, j->env_len, &uo, &out, &meta, &ei);
	if (rc)
		die("dc_unpack", rc, &ei);
	free(out);
	dc_unpack_meta_free(meta);
}

#define N_WORLDS 4
static void worlds_new(struct world *w)
{
	world_example(&w[0], "did:example", KT_OKP, 1, BODY_BYTES);
	world_example(&w[1], "did:example", KT_P256, 1, BODY_BYTES);
	world_example(&w[2], "did:example", KT_OKP, 5, BODY_BYTES);
	world_peer2(&w[3], BODY_BYTES);
}

static const struct mode *world_modes(size_t wi)
{
	return wi == 1 ? modes_p256 : wi == 2 ? modes_5 : modes_okp;
}

/* ---- the symmetric work of an encrypted unpack row, alone -------------------------------
 * Beside the floor (public-key work only), informational: what an unpack must also do with the
 * libraries for the row's envelope, each step called the cheapest way they offer, with
 * contexts made per message as an application would: the apv check (SHA-256 of the kids),
 * the Concat KDF (one SHA-256 of its input), the key unwrap (RFC 3394: 6 AES-256 block
 * decryptions per 64-bit block of the key; OpenSSL 3.0's own AES-256-WRAP is table-driven and
 * slower, so its AES-NI ECB cipher one block per call), and the content: XChaCha20-Poly1305
 * (libsodium), AES-256-GCM (OpenSSL), or AES-256-CBC with HMAC-SHA-512 over AAD, IV,
 * ciphertext and AL (OpenSSL; the HMAC from the faster of OpenSSL and libsodium). Lengths are
 * those of the row's own envelope. */
#define SYM_MAX 8192
struct sym {
	enum dc_enc enc;
	size_t aad_len, ct_len, kdf_len, kids_len, kw_blocks;
	unsigned char aad[SYM_MAX], ct[SYM_MAX], pt[SYM_MAX + 32], kdf[1024], kids[SYM_MAX], key[64], kek[32],
		iv[24], tag[32], out[64];
	const EVP_MD *sha256, *sha512;
	const EVP_CIPHER *ecb, *cbc, *gcm;
	EVP_MAC *hmac;
	bool sodium_hmac; /* libsodium's HMAC-SHA-512 was the faster */
};

/* base64url text of n characters: its decoded length */
static size_t b64_dec_len(size_t n)
{
	return n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
}

/* base64url (no padding) into out; its length, or 0 */
static size_t b64_decode(const char *in, unsigned char *out, size_t cap)
{
	size_t n = strlen(in), m = (n + 3) / 4 * 4;
	char *t = malloc(m + 1);
	unsigned char *o = malloc(m);
	if (!t || !o)
		die("malloc", DC_ERR_NOMEM, NULL);
	for (size_t i = 0; i < m; i++)
		t[i] = i < n ? (in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i]) : '=';
	t[m] = 0;
	int r = EVP_DecodeBlock(o, (const unsigned char *)t, (int)m);
	size_t len = b64_dec_len(n);
	if (r < 0 || len > cap)
		len = 0;
	else
		memcpy(out, o, len);
	free(t);
	free(o);
	return len;
}

static const char *jstr(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void sym_kw(struct sym *y)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	unsigned char b[16] = { 0 };
	chk(c && EVP_CipherInit_ex(c, y->ecb, NULL, y->kek, NULL, 0) == 1, "ECB init");
	for (size_t k = 0; k < 6 * y->kw_blocks; k++)
		chk(EVP_Cipher(c, b, b, 16) == 16, "EVP_Cipher");
	EVP_CIPHER_CTX_free(c);
}

static void sym_sha256(struct sym *y, const unsigned char *in, size_t n)
{
	unsigned int len = 0;
	chk(EVP_Digest(in, n, y->out, &len, y->sha256, NULL) == 1, "EVP_Digest");
}

static void sym_hmac(struct sym *y)
{
	static const unsigned char al[8] = { 0 };
	if (y->sodium_hmac) {
		crypto_auth_hmacsha512_state st;
		crypto_auth_hmacsha512_init(&st, y->key, 32);
		crypto_auth_hmacsha512_update(&st, y->aad, y->aad_len);
		crypto_auth_hmacsha512_update(&st, y->iv, 16);
		crypto_auth_hmacsha512_update(&st, y->ct, y->ct_len);
		crypto_auth_hmacsha512_update(&st, al, 8);
		crypto_auth_hmacsha512_final(&st, y->out);
		return;
	}
	EVP_MAC_CTX *c = EVP_MAC_CTX_new(y->hmac);
	OSSL_PARAM prm[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA512", 0),
		             OSSL_PARAM_construct_end() };
	size_t len = 0;
	chk(c && EVP_MAC_init(c, y->key, 32, prm) == 1 && EVP_MAC_update(c, y->aad, y->aad_len) == 1 &&
	        EVP_MAC_update(c, y->iv, 16) == 1 && EVP_MAC_update(c, y->ct, y->ct_len) == 1 &&
	        EVP_MAC_update(c, al, 8) == 1 && EVP_MAC_final(c, y->out, &len, 64) == 1,
	    "HMAC");
	EVP_MAC_CTX_free(c);
}

static void sym_evp(struct sym *y, const EVP_CIPHER *ci, const unsigned char *key, bool gcm)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;
	chk(c && EVP_DecryptInit_ex(c, ci, NULL, key, y->iv) == 1, "decrypt init");
	if (gcm)
		chk(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, y->tag) == 1 &&
		        EVP_DecryptUpdate(c, NULL, &l1, y->aad, (int)y->aad_len) == 1,
		    "GCM aad");
	chk(EVP_DecryptUpdate(c, y->pt, &l1, y->ct, (int)y->ct_len) == 1 && EVP_DecryptFinal_ex(c, y->pt + l1, &l2) == 1,
	    "decrypt");
	EVP_CIPHER_CTX_free(c);
}

static void sym_open(void *arg)
{
	struct sym *y = arg;
	sym_sha256(y, y->kids, y->kids_len);
	sym_sha256(y, y->kdf, y->kdf_len);
	sym_kw(y);
	switch (y->enc) {
	case DC_ENC_XC20P:
		chk(crypto_aead_xchacha20poly1305_ietf_decrypt_detached(y->pt, NULL, y->ct, y->ct_len, y->tag, y->aad,
		                                                        y->aad_len, y->iv, y->key) == 0,
		    "XC20P");
		break;
	case DC_ENC_A256GCM: sym_evp(y, y->gcm, y->key, true); break;
	default:
		sym_hmac(y);
		sym_evp(y, y->cbc, y->key + 32, false);
		break;
	}
}

/* y for the envelope env (our own JWE JSON); false if it is not one */
static bool sym_init(struct sym *y, const char *env, enum dc_enc enc)
{
	memset(y, 0, sizeof *y);
	cJSON *j = cJSON_Parse(env);
	const char *prot = jstr(j, "protected"), *ct = jstr(j, "ciphertext");
	const cJSON *rcpts = cJSON_GetObjectItemCaseSensitive(j, "recipients"), *r;
	unsigned char hdr_raw[SYM_MAX];
	size_t hl = prot ? b64_decode(prot, hdr_raw, sizeof hdr_raw - 1) : 0;
	if (!hl || !ct || !cJSON_IsArray(rcpts) || strlen(prot) > SYM_MAX || b64_dec_len(strlen(ct)) > SYM_MAX) {
		cJSON_Delete(j);
		return false;
	}
	hdr_raw[hl] = 0;
	cJSON *h = cJSON_Parse((const char *)hdr_raw);
	const char *alg = jstr(h, "alg"), *apu = jstr(h, "apu");
	bool pu = alg && strncmp(alg, "ECDH-1PU", 8) == 0;
	y->enc = enc;
	y->aad_len = strlen(prot);
	memcpy(y->aad, prot, y->aad_len);
	y->ct_len = b64_dec_len(strlen(ct));
	/* the kids joined with '.' */
	cJSON_ArrayForEach(r, rcpts)
	{
		const char *kid = jstr(cJSON_GetObjectItemCaseSensitive(r, "header"), "kid");
		size_t kn = kid ? strlen(kid) : 0;
		if (y->kids_len + kn + 1 < sizeof y->kids) {
			memcpy(y->kids + y->kids_len, kid, kn);
			y->kids_len += kn;
			y->kids[y->kids_len++] = '.';
		}
	}
	if (y->kids_len)
		y->kids_len--;
	/* counter, Z (one or two shared secrets), AlgorithmID, PartyUInfo, PartyVInfo, SuppPubInfo,
	 * and for ECDH-1PU the tag (length-prefixed) */
	size_t z = 32; /* one X25519 or P-256 shared secret */
	y->kdf_len = 4 + (pu ? 2 * z : z) + 4 + (alg ? strlen(alg) : 0) + 4 + (apu ? b64_dec_len(strlen(apu)) : 0) + 4 +
	             32 + 4 + (pu ? 4 + (enc == DC_ENC_A256CBC_HS512 ? 32 : 16) : 0);
	size_t cek = enc == DC_ENC_A256CBC_HS512 ? 64 : 32;
	y->kw_blocks = cek / 8;
	randombytes_buf(y->key, sizeof y->key);
	randombytes_buf(y->kek, sizeof y->kek);
	randombytes_buf(y->iv, sizeof y->iv);
	randombytes_buf(y->pt, y->ct_len);
	randombytes_buf(y->kdf, sizeof y->kdf);
	y->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	y->ecb = EVP_CIPHER_fetch(NULL, "AES-256-ECB", NULL);
	y->cbc = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
	y->gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
	y->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	chk(y->sha256 && y->ecb && y->cbc && y->gcm && y->hmac, "fetch");
	/* a real ciphertext of the row's length, so decryption and its checks pass */
	if (enc == DC_ENC_XC20P) {
		crypto_aead_xchacha20poly1305_ietf_encrypt_detached(y->ct, y->tag, NULL, y->pt, y->ct_len, y->aad, y->aad_len,
		                                                    NULL, y->iv, y->key);
	} else {
		bool gcm = enc == DC_ENC_A256GCM;
		EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
		int l1 = 0, l2 = 0;
		size_t pt_len = gcm ? y->ct_len : (y->ct_len / 16 - 1) * 16 + 1; /* CBC: padded up to ct_len */
		chk(c && EVP_EncryptInit_ex(c, gcm ? y->gcm : y->cbc, NULL, gcm ? y->key : y->key + 32, y->iv) == 1, "enc");
		if (gcm)
			chk(EVP_EncryptUpdate(c, NULL, &l1, y->aad, (int)y->aad_len) == 1, "aad");
		chk(EVP_EncryptUpdate(c, y->ct, &l1, y->pt, (int)pt_len) == 1 && EVP_EncryptFinal_ex(c, y->ct + l1, &l2) == 1,
		    "encrypt");
		y->ct_len = (size_t)(l1 + l2);
		if (gcm)
			chk(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, y->tag) == 1, "tag");
		EVP_CIPHER_CTX_free(c);
	}
	cJSON_Delete(h);
	cJSON_Delete(j);
	return true;
}

static void sym_free(struct sym *y)
{
	EVP_MD_free((EVP_MD *)y->sha256);
	EVP_CIPHER_free((EVP_CIPHER *)y->ecb);
	EVP_CIPHER_free((EVP_CIPHER *)y->cbc);
	EVP_CIPHER_free((EVP_CIPHER *)y->gcm);
	EVP_MAC_free(y->hmac);
}

static void sym_hmac_only(void *arg)
{
	sym_hmac(arg);
}

struct result {
	const char *kind, *op, *mode;
	double us, floor_us, sym_us; /* sym_us: 0 when not an encrypted unpack */
	const struct mode *m;
	size_t n_rcpt;
	unsigned long iters;
};

/* One row: ROUNDS rounds, each timing the operation and then the primitives of its floor (the
 * faster library's), so that both are measured at the same moments; the best round of each
 * counts. */
static void run_row(struct result *r, struct job *j, bool pack, struct prims *p, double secs)
{
	int idx[2];
	double cnt[2];
	size_t np = row_prims(r->m, pack, r->n_rcpt, idx, cnt);
	struct meter mo, mp[2];
	struct prim_call pc[2];
	static struct sym y; /* large: not on the stack */
	struct meter ms;
	bool sym = !pack && (r->m->mode == DC_PACK_ANONCRYPT || r->m->mode == DC_PACK_AUTHCRYPT) &&
	           sym_init(&y, j->env, r->m->enc);
	if (sym && r->m->enc == DC_ENC_A256CBC_HS512) { /* the faster library's HMAC */
		double t[2];
		for (int lib = 0; lib < 2; lib++) {
			y.sodium_hmac = lib == 1;
			meter_warm(&ms, sym_hmac_only, &y, secs / 20);
			meter_round(&ms, secs / 20);
			t[lib] = ms.best;
		}
		y.sodium_hmac = t[1] < t[0];
	}
	meter_warm(&mo, pack ? op_pack : op_unpack, j, secs / 10);
	for (size_t i = 0; i < np; i++) {
		pc[i].fn = prim_fastest(p, idx[i]);
		pc[i].p = p;
		meter_warm(&mp[i], call_prim, &pc[i], secs / 20);
	}
	if (sym)
		meter_warm(&ms, sym_open, &y, secs / 20);
	for (int k = 0; k < ROUNDS; k++) {
		meter_round(&mo, secs / ROUNDS);
		for (size_t i = 0; i < np; i++)
			meter_round(&mp[i], secs / ROUNDS / 2);
		if (sym)
			meter_round(&ms, secs / ROUNDS / 4);
	}
	r->sym_us = sym ? ms.best * 1e6 : 0;
	if (sym)
		sym_free(&y);
	r->us = mo.best * 1e6;
	r->iters = mo.total;
	r->floor_us = 0;
	for (size_t i = 0; i < np; i++) {
		double us = mp[i].best * 1e6;
		r->floor_us += cnt[i] * us;
		if (us < p->best[idx[i]] && p->m_len == BODY_BYTES) /* the printed floors: BODY_BYTES */
			p->best[idx[i]] = us;
	}
}

static int run_bench(double secs, const char *filter)
{
	struct world worlds[N_WORLDS];
	struct result res[64];
	size_t nres = 0;
	struct prims p;
	prims_init(&p);
	prims_measure(&p, secs / 2); /* which library is faster, per primitive */
	worlds_new(worlds);
	for (size_t wi = 0; wi < N_WORLDS; wi++) {
		for (const struct mode *m = world_modes(wi); m->name; m++) {
			struct job j;
			job_init(&j, &worlds[wi], m);
			op_pack(&j); /* the envelope for unpack; fail early */
			/* a signature's floor signs (verifies) what the operation signs: the JWS signing
			 * input, hashed by the signature scheme itself, not a BODY_BYTES stand-in */
			size_t sig_len = m->mode == DC_PACK_SIGNED ? jws_signing_input_len(j.env) : 0;
			if (sig_len) {
				prims_sign_len(&p, sig_len);
				printf("sigin\t%s\t%s\t%zu\n", worlds[wi].kind, m->name, p.m_len);
			}
			for (int k = 0; k < 2; k++) {
				char name[160];
				snprintf(name, sizeof name, "%s %s %s", worlds[wi].kind, k ? "unpack" : "pack", m->name);
				if (filter && !strstr(name, filter))
					continue;
				struct result *r = &res[nres++];
				r->kind = worlds[wi].kind;
				r->op = k ? "unpack" : "pack";
				r->mode = m->name;
				r->m = m;
				r->n_rcpt = worlds[wi].n_rcpt_keys;
				run_row(r, &j, k == 0, &p, secs);
			}
			if (sig_len)
				prims_sign_len(&p, BODY_BYTES);
			free(j.env);
		}
	}
	for (size_t i = 0; i < nres; i++) {
		const struct result *r = &res[i];
		char sym[32] = "-";
		if (r->sym_us > 0)
			snprintf(sym, sizeof sym, "%.2f", r->sym_us);
		if (r->floor_us > 0)
			printf("row\t%s\t%s\t%s\t%.2f\t%.2f\t%.1f\t%lu\t%s\n", r->kind, r->op, r->mode, r->us, r->floor_us,
			       100.0 * r->floor_us / r->us, r->iters, sym);
		else
			printf("row\t%s\t%s\t%s\t%.2f\t-\t-\t%lu\t%s\n", r->kind, r->op, r->mode, r->us, r->iters, sym);
	}
	for (int i = 0; i < P_N; i++)
		printf("floor\t%s\t%.2f\t%s\n", prim_name[i], p.best[i], p.lib[i]);
	for (size_t wi = 0; wi < N_WORLDS; wi++)
		world_free(&worlds[wi]);
	prims_free(&p);
	return 0;
}

/* One operation n times, untimed: "bench op did:example pack authcrypt-X25519-A256CBC-HS512 1000".
 * Under callgrind, --toggle-collect=op_pack (or op_unpack) counts the operation alone. */
static int run_op(const char *kind, const char *op, const char *mode, long n)
{
	struct world worlds[N_WORLDS];
	worlds_new(worlds);
	bool pack = strcmp(op, "pack") == 0;
	int rc = 2;
	for (size_t wi = 0; wi < N_WORLDS && rc; wi++) {
		if (strcmp(worlds[wi].kind, kind) != 0)
			continue;
		for (const struct mode *m = world_modes(wi); m->name && rc; m++) {
			if (strcmp(m->name, mode) != 0)
				continue;
			struct job j;
			job_init(&j, &worlds[wi], m);
			op_pack(&j);
			for (long i = 0; i < n; i++)
				(pack ? op_pack : op_unpack)(&j);
			free(j.env);
			rc = 0;
		}
	}
	if (rc)
		fprintf(stderr, "bench: no row %s %s %s\n", kind, op, mode);
	for (size_t wi = 0; wi < N_WORLDS; wi++)
		world_free(&worlds[wi]);
	return rc;
}

/* One floor primitive n times, untimed: "bench prim X25519 libsodium 1000" (under callgrind,
 * --toggle-collect=call_prim counts the primitive alone). */
static int run_prim(const char *name, const char *lib, long n)
{
	struct prims p;
	prims_init(&p);
	int rc = 2;
	for (int i = 0; i < P_N; i++) {
		prim_fn *fn = strcmp(lib, "libsodium") == 0 ? sodium_fn[i] : strcmp(lib, "OpenSSL") == 0 ? ossl_fn[i] : NULL;
		if (strcmp(prim_name[i], name) != 0 || !fn)
			continue;
		struct prim_call c = { fn, &p };
		for (long k = 0; k < n; k++)
			call_prim(&c);
		rc = 0;
	}
	if (rc)
		fprintf(stderr, "bench: no primitive %s in %s\n", name, lib);
	prims_free(&p);
	return rc;
}

/* ---- peak RSS of one big unpack ------------------------------------------------------ */
static char *path_join(const char *dir, const char *name)
{
	struct buf b = { 0 };
	bprintf(&b, "%s/%s", dir, name);
	return b.p;
}

static void write_file(const char *dir, const char *name, const char *data, size_t n)
{
	char *p = path_join(dir, name);
	FILE *f = fopen(p, "wb");
	if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
		fprintf(stderr, "bench: cannot write %s\n", p);
		exit(1);
	}
	chmod(p, 0600); /* secrets files must be 0600 for the keystore */
	free(p);
}

static char *read_file(const char *dir, const char *name, size_t *len)
{
	char *p = path_join(dir, name);
	FILE *f = fopen(p, "rb");
	if (!f || fseek(f, 0, SEEK_END) != 0) {
		fprintf(stderr, "bench: cannot read %s\n", p);
		exit(1);
	}
	long sz = ftell(f);
	rewind(f);
	char *d = malloc((size_t)sz + 1);
	if (sz < 0 || !d || fread(d, 1, (size_t)sz, f) != (size_t)sz) {
		fprintf(stderr, "bench: cannot read %s\n", p);
		exit(1);
	}
	fclose(f);
	d[sz] = 0;
	*len = (size_t)sz;
	free(p);
	return d;
}

static int rss_prepare(const char *dir, double mib)
{
	struct buf docs = { 0 }, sec = { 0 }, bobsec = { 0 };
	struct dc_errinfo ei = { 0 };
	struct world w;
	dc_err rc;
	memset(&w, 0, sizeof w);
	world_common(&w);
	bprintf(&docs, "[");
	bprintf(&sec, "[");
	example_party("alice", &docs, &sec);
	bprintf(&bobsec, "[");
	example_party("bob", &docs, &bobsec);
	bprintf(&docs, "]");
	bprintf(&sec, "]");
	bprintf(&bobsec, "]");
	if ((rc = dc_resolver_add_docs_text(w.res, docs.p, docs.n, &ei)))
		die("dc_resolver_add_docs_text", rc, &ei);
	w.alice = xstrdup("did:example:alice");
	w.bob = xstrdup("did:example:bob");
	size_t want = (size_t)(mib * 1024 * 1024);
	world_ctx(&w, want > 300 ? want - 300 : 0); /* ~300 bytes of headers around the body */
	struct dc_limits l;
	dc_ctx_get_limits(w.ctx, &l);
	if (l.max_message_bytes < 2 * want + (1u << 20)) {
		l.max_message_bytes = 2 * want + (1u << 20);
		dc_ctx_set_limits(w.ctx, &l);
	}
	struct job j;
	const struct mode anon = { "anoncrypt", DC_PACK_ANONCRYPT, DC_ENC_XC20P, DC_CRV_X25519 };
	job_init(&j, &w, &anon);
	op_pack(&j);
	write_file(dir, "did-docs.json", docs.p, docs.n);
	write_file(dir, "secrets.json", bobsec.p, bobsec.n);
	write_file(dir, "big.json", j.env, j.env_len);
	printf("prepared\t%zu\t%zu\n", w.msg_len, j.env_len);
	free(j.env);
	free(docs.p);
	free(sec.p);
	free(bobsec.p);
	world_free(&w);
	return 0;
}

static long maxrss_kb(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static int rss_unpack(const char *dir)
{
	struct dc_errinfo ei = { 0 };
	struct world w;
	dc_err rc;
	memset(&w, 0, sizeof w);
	world_common(&w);
	char *p = path_join(dir, "did-docs.json");
	if ((rc = dc_resolver_add_docs_file(w.res, p, &ei)))
		die("dc_resolver_add_docs_file", rc, &ei);
	free(p);
	p = path_join(dir, "secrets.json");
	if ((rc = dc_keystore_load_file(w.ks, p, &ei)))
		die("dc_keystore_load_file", rc, &ei);
	free(p);
	if ((rc = dc_ctx_new(w.res, w.ks, &w.ctx)))
		die("dc_ctx_new", rc, NULL);
	long base = maxrss_kb();
	size_t len;
	char *env = read_file(dir, "big.json", &len);
	for (size_t i = 0; i < len; i += 4096) /* fault the pages in: count the input as resident */
		((volatile char *)env)[i];
	long after_read = maxrss_kb();
	struct dc_unpack_opts uo = { .unwrap_forwards = true };
	struct dc_unpack_meta *meta = NULL;
	char *out = NULL;
	if ((rc = dc_unpack(w.ctx, env, len, &uo, &out, &meta, &ei)))
		die("dc_unpack", rc, &ei);
	long peak = maxrss_kb();
	printf("rss\t%zu\t%zu\t%ld\t%ld\t%ld\n", strlen(out), len, base, after_read, peak);
	free(out);
	free(env);
	dc_unpack_meta_free(meta);
	world_free(&w);
	return 0;
}

int main(int argc, char **argv)
{
	if (dc_init() != DC_OK || sodium_init() < 0) {
		fprintf(stderr, "bench: init failed\n");
		return 1;
	}
	if (argc >= 4 && strcmp(argv[1], "rss-prepare") == 0)
		return rss_prepare(argv[2], strtod(argv[3], NULL));
	if (argc >= 3 && strcmp(argv[1], "rss-unpack") == 0)
		return rss_unpack(argv[2]);
	if (argc >= 5 && strcmp(argv[1], "prim") == 0)
		return run_prim(argv[2], argv[3], strtol(argv[4], NULL, 10));
	if (argc >= 6 && strcmp(argv[1], "op") == 0)
		return run_op(argv[2], argv[3], argv[4], strtol(argv[5], NULL, 10));
	double secs = argc >= 2 ? strtod(argv[1], NULL) : 1.0;
	if (!(secs > 0.01 && secs < 600)) {
		fprintf(stderr, "usage: bench [SECONDS [FILTER]] | op KIND OP MODE N | prim NAME LIB N | rss-prepare DIR MIB |"
		                " rss-unpack DIR\n");
		return 2;
	}
	return run_bench(secs, argc >= 3 ? argv[2] : NULL);
}
