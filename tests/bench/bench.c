/* libdidcomm benchmark: pack/unpack operations per second on one thread.
 *
 *   bench [SECONDS]            time every operation for SECONDS (default 1.0) after a warm-up;
 *                              prints one line per operation:
 *                              "row<TAB>did-kind<TAB>op<TAB>mode<TAB>ops_per_sec<TAB>iterations"
 *   bench rss-prepare DIR MB   writes DIR/did-docs.json, DIR/secrets.json (bob) and
 *                              DIR/big.json: an anoncrypt (XC20P) envelope of an MB-MiB message
 *   bench rss-unpack DIR       unpacks DIR/big.json once; prints
 *                              "rss<TAB>message_bytes<TAB>envelope_bytes<TAB>base_kb<TAB>read_kb<TAB>peak_kb"
 *                              (ru_maxrss before reading, after reading, after unpacking)
 *
 * Messages: 300-byte body, one recipient DID. DIDs: did:example (documents built here from
 * fresh random keys, handed to the resolver as JSON text) and did:peer:2 (dc_did_new).
 * Only the public API (didcomm.h) is used, plus libsodium for key generation. */
#define _POSIX_C_SOURCE 200809L
#include "didcomm.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define BODY_BYTES 300

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
/* Appends the DID document to docs and the private JWKs to secrets (JSON array members). */
static void example_party(const char *name, struct buf *docs, struct buf *secrets)
{
	unsigned char seed[32], edpk[32], edsk[64], xsk[32], xpk[32];
	char s_seed[64], s_edpk[64], s_xsk[64], s_xpk[64];
	randombytes_buf(seed, sizeof seed);
	crypto_sign_seed_keypair(edpk, edsk, seed);
	randombytes_buf(xsk, sizeof xsk);
	crypto_scalarmult_base(xpk, xsk);
	b64url(seed, 32, s_seed, sizeof s_seed);
	b64url(edpk, 32, s_edpk, sizeof s_edpk);
	b64url(xsk, 32, s_xsk, sizeof s_xsk);
	b64url(xpk, 32, s_xpk, sizeof s_xpk);
	bprintf(docs,
	        "%s{\"id\":\"did:example:%s\","
	        "\"verificationMethod\":["
	        "{\"id\":\"did:example:%s#key-1\",\"type\":\"JsonWebKey2020\",\"controller\":\"did:example:%s\","
	        "\"publicKeyJwk\":{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}},"
	        "{\"id\":\"did:example:%s#key-x25519-1\",\"type\":\"JsonWebKey2020\",\"controller\":\"did:example:%s\","
	        "\"publicKeyJwk\":{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"%s\"}}],"
	        "\"authentication\":[\"did:example:%s#key-1\"],"
	        "\"keyAgreement\":[\"did:example:%s#key-x25519-1\"],\"service\":[]}",
	        docs->n > 1 ? "," : "", name, name, name, s_edpk, name, name, s_xpk, name, name);
	bprintf(secrets,
	        "%s{\"kid\":\"did:example:%s#key-1\",\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"d\":\"%s\"},"
	        "{\"kid\":\"did:example:%s#key-x25519-1\",\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"%s\",\"d\":\"%s\"}",
	        secrets->n > 1 ? "," : "", name, s_edpk, s_seed, name, s_xpk, s_xsk);
	sodium_memzero(seed, sizeof seed);
	sodium_memzero(edsk, sizeof edsk);
	sodium_memzero(xsk, sizeof xsk);
	sodium_memzero(s_seed, sizeof s_seed);
	sodium_memzero(s_xsk, sizeof s_xsk);
}

struct world {
	const char *kind;
	struct dc_resolver *res;
	struct dc_keystore *ks;
	struct dc_ctx *ctx;
	char *alice, *bob;
	char *msg;
	size_t msg_len;
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

static void world_example(struct world *w, size_t body_bytes)
{
	struct buf docs = { 0 }, sec = { 0 };
	struct dc_errinfo ei = { 0 };
	dc_err rc;
	memset(w, 0, sizeof *w);
	w->kind = "did:example";
	world_common(w);
	bprintf(&docs, "[");
	bprintf(&sec, "[");
	example_party("alice", &docs, &sec);
	example_party("bob", &docs, &sec);
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

/* ---- operations ---------------------------------------------------------------------- */
struct mode {
	const char *name;
	enum dc_pack_mode mode;
	enum dc_enc enc;
};

static const struct mode modes[] = {
	{ "plaintext", DC_PACK_PLAINTEXT, DC_ENC_NONE },
	{ "signed-EdDSA", DC_PACK_SIGNED, DC_ENC_NONE },
	{ "anoncrypt-X25519-XC20P", DC_PACK_ANONCRYPT, DC_ENC_XC20P },
	{ "anoncrypt-X25519-A256CBC-HS512", DC_PACK_ANONCRYPT, DC_ENC_A256CBC_HS512 },
	{ "authcrypt-X25519-A256CBC-HS512", DC_PACK_AUTHCRYPT, DC_ENC_A256CBC_HS512 },
};

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
	j->po.curve = m->mode == DC_PACK_ANONCRYPT || m->mode == DC_PACK_AUTHCRYPT ? DC_CRV_X25519 : DC_CRV_NONE;
	j->po.no_forward = true;
	if (m->mode == DC_PACK_AUTHCRYPT)
		j->po.from = w->alice;
	if (m->mode == DC_PACK_SIGNED)
		j->po.sign_from = w->alice;
}

static void op_pack(struct job *j)
{
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

static void op_unpack(struct job *j)
{
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

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Runs fn for `secs` seconds (after a warm-up of a fifth of that); returns ops/s. */
static double timed(void (*fn)(struct job *), struct job *j, double secs, unsigned long *iters)
{
	double t0 = now();
	while (now() - t0 < secs / 5)
		fn(j);
	unsigned long n = 0;
	t0 = now();
	double t;
	do {
		for (int k = 0; k < 8; k++) /* amortise the clock read */
			fn(j);
		n += 8;
		t = now() - t0;
	} while (t < secs);
	*iters = n;
	return (double)n / t;
}

static int run_bench(double secs)
{
	struct world worlds[2];
	world_example(&worlds[0], BODY_BYTES);
	world_peer2(&worlds[1], BODY_BYTES);
	for (size_t wi = 0; wi < 2; wi++) {
		for (size_t mi = 0; mi < sizeof modes / sizeof modes[0]; mi++) {
			struct job j;
			unsigned long n;
			job_init(&j, &worlds[wi], &modes[mi]);
			double p = timed(op_pack, &j, secs, &n);
			printf("row\t%s\tpack\t%s\t%.1f\t%lu\n", worlds[wi].kind, modes[mi].name, p, n);
			fflush(stdout);
			double u = timed(op_unpack, &j, secs, &n);
			printf("row\t%s\tunpack\t%s\t%.1f\t%lu\n", worlds[wi].kind, modes[mi].name, u, n);
			fflush(stdout);
			free(j.env);
		}
	}
	world_free(&worlds[0]);
	world_free(&worlds[1]);
	return 0;
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
	const struct mode anon = { "anoncrypt", DC_PACK_ANONCRYPT, DC_ENC_XC20P };
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
	double secs = argc >= 2 ? strtod(argv[1], NULL) : 1.0;
	if (!(secs > 0.01 && secs < 600)) {
		fprintf(stderr, "usage: bench [SECONDS] | rss-prepare DIR MIB | rss-unpack DIR\n");
		return 2;
	}
	return run_bench(secs);
}
