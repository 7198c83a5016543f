/* libdidcomm cross-file internals (dc__ prefix). Not installed. */
#ifndef DC_INTERNAL_H
#define DC_INTERNAL_H

#include "didcomm.h"
#include <cjson/cJSON.h>
#include <string.h>

/* ---- errors: err.c ------------------------------------------------------------------ */
/* Set ei (if not NULL) to code + formatted text, return code. Never pass secrets. */
#define dc__fail dc_errinfo_set

/* write all len bytes (EINTR retried): 0, or the errno of the failure (io.c) */
int dc__write_all(int fd, const void *p, size_t len);

/* ---- base64url: b64url.c ------------------------------------------------------------ */
/* Strict RFC 7515 base64url: no padding, no whitespace, canonical trailing bits. */
size_t dc__b64url_enc_len(size_t n);                /* without NUL */
/* out must hold dc__b64url_enc_len(n)+1 bytes; NUL-terminated. */
void dc__b64url_encode_to(const uint8_t *in, size_t n, char *out);
dc_err dc__b64url_encode(const uint8_t *in, size_t n, char **out) DC_WUR; /* malloc'd, NUL-term */
/* *out malloc'd (one extra NUL byte appended, not counted in *outlen). */
dc_err dc__b64url_decode(const char *in, size_t n, uint8_t **out, size_t *outlen) DC_WUR;
/* Decode into a caller buffer of cap bytes (DC_ERR_TOO_BIG if it doesn't fit). */
dc_err dc__b64url_decode_to(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen) DC_WUR;
/* Lenient standard base64 / base64url with optional padding (attachments "base64"). */
dc_err dc__b64any_check(const char *in, size_t n) DC_WUR;

/* ---- JSON: json.c ------------------------------------------------------------------- */
/* Parse with a length (input need not be NUL-terminated). Rejects nesting deeper than
 * max_depth (checked before cJSON runs), duplicate member names at any level, and
 * trailing garbage. */
dc_err dc__json_parse(const char *in, size_t n, size_t max_depth, cJSON **out, struct dc_errinfo *ei) DC_WUR;
/* Case-sensitive lookup (cJSON_GetObjectItemCaseSensitive, faster): the first member of that
 * name, or NULL. */
cJSON *dc__json_get(const cJSON *obj, const char *name);
/* Case-sensitive lookups. Return NULL when absent or of another type. */
const char *dc__json_str(const cJSON *obj, const char *name);
const cJSON *dc__json_obj(const cJSON *obj, const char *name);
const cJSON *dc__json_arr(const cJSON *obj, const char *name);
/* JSON string escaping of s into out (without quotes); out NULL: only the length. */
size_t dc__json_escape(const char *s, char *out);
/* Compact print, malloc'd. */
dc_err dc__json_print(const cJSON *j, char **out, size_t *len) DC_WUR;
/* Zero every string value under j, then cJSON_Delete (for JSON that held secrets). */
void dc__json_delete_secret(cJSON *j);
/* Reading JSON of a known shape in place, without a tree (the envelope scanners of jwe.c and
 * jws.c): each step returns false when the text is not what it expects, and the JSON parser
 * then gives the verdict. */
struct dc_span {
	const char *p;
	size_t n;
};
struct dc_scan {
	const char *p, *end;
};
void dc__scan_ws(struct dc_scan *s);
bool dc__scan_lit(struct dc_scan *s, char c);  /* whitespace, then c */
/* whitespace, then a string without escapes or control characters; v points into the text */
bool dc__scan_str(struct dc_scan *s, struct dc_span *v);
/* inline: the names are mostly constants, so strlen and memcmp fold into a few compares */
static inline bool dc__span_is(const struct dc_span *v, const char *name)
{
	size_t n = strlen(name);
	return v->n == n && memcmp(v->p, name, n) == 0;
}

/* ---- a plaintext message read in place: plain.c -------------------------------------- */
#define DC_PLAIN_MAX_TO 16
struct dc_plain {
	struct dc_span id, type, typ, from; /* spans into the text, without escapes */
	struct dc_span to[DC_PLAIN_MAX_TO];
	size_t n_to;
	bool has_typ, has_to, has_from, has_created_time, has_expires_time;
	int64_t created_time, expires_time;
};
/* true: in[0..n) is a valid plaintext message (as dc__json_parse with max_depth and then
 * dc__msg_validate would find) without attachments or from_prior, and m holds its headers;
 * false: not known, the tree path decides (see plain.c for what is declined). */
bool dc__plain_scan(const char *in, size_t n, size_t max_depth, struct dc_plain *m);

/* ---- keys: key.c -------------------------------------------------------------------- */
#define DC_MAX_PUB 133  /* P-521 uncompressed: 1 + 2*66 */
#define DC_MAX_PRIV 66  /* P-521 scalar; Ed25519 keeps seed||pk (64) */
#define DC_MAX_Z 66     /* one ECDH output */

struct dc_key {
	enum dc_crv crv;
	char *kid;                 /* malloc'd, may be NULL */
	uint8_t pub[DC_MAX_PUB];   /* OKP: 32 raw bytes; EC: 0x04 || X || Y */
	size_t pub_len;
	uint8_t *priv;             /* sodium_malloc'd; NULL for a public key. X25519: 32-byte
	                              scalar; Ed25519: 64-byte libsodium sk (seed||pk);
	                              EC: big-endian scalar of field length */
	size_t priv_len;
	void *evp;                 /* EVP_PKEY* cache for EC curves (lazy, owned), or NULL: signing */
	void *ecpt;                /* EC_POINT* of pub for EC curves (owned), or NULL: ECDH */
	void *ecd;                 /* BIGNUM* (secure heap, constant-time flag) of an EC private
	                              scalar (owned), or NULL: ECDH */
	uint8_t eph[DC_MAX_PRIV];  /* an ephemeral key's private part (priv points here): it lives for
	                              one pack on the caller's stack, so no guarded page per message */
};

bool dc__crv_is_ec(enum dc_crv crv);                  /* P-256/384/521, secp256k1 */
bool dc__crv_is_key_agreement(enum dc_crv crv);       /* X25519, P-256/384/521 */
size_t dc__crv_field_len(enum dc_crv crv);            /* 32, 32, 32, 48, 66, 32 */

/* New key with public part from raw bytes. OKP: 32 bytes. EC: uncompressed (0x04||X||Y)
 * or compressed (0x02/0x03||X). Rejects points not on the curve, identity, wrong length. */
dc_err dc__key_from_pub(enum dc_crv crv, const uint8_t *pub, size_t len, struct dc_key **out) DC_WUR;
/* The same in the caller's storage (zeroed first; cleared again on failure). */
dc_err dc__key_pub_init(struct dc_key *k, enum dc_crv crv, const uint8_t *pub, size_t len) DC_WUR;
/* Frees what a key in the caller's storage owns (private part zeroed) and zeroes it. */
void dc__key_clear(struct dc_key *k);
/* Attach a private part (X25519/Ed25519: 32-byte seed/scalar; EC: scalar, left-padded to
 * field length allowed). Fails with DC_ERR_MALFORMED if it does not match the public key. */
dc_err dc__key_set_priv(struct dc_key *k, const uint8_t *d, size_t len) DC_WUR;
/* Private scalar/seed as it goes into a JWK "d" (Ed25519: the 32-byte seed). */
dc_err dc__key_priv_d(const struct dc_key *k, uint8_t *d, size_t cap, size_t *len) DC_WUR;
dc_err dc__key_generate(enum dc_crv crv, struct dc_key **out) DC_WUR;
/* A fresh key-agreement key in the caller's storage (the ephemeral key of a JWE): no kid, the
 * private part inside k itself. Always pair with dc__key_eph_clear (wipes it), even on failure. */
/* An EC ephemeral key keeps its scalar in k->ecd only (eph stays zero). */
dc_err dc__key_eph_generate(enum dc_crv crv, struct dc_key *k) DC_WUR;
void dc__key_eph_clear(struct dc_key *k);
dc_err dc__key_set_kid(struct dc_key *k, const char *kid) DC_WUR;
dc_err dc__key_dup_public(const struct dc_key *k, struct dc_key **out) DC_WUR;
/* EC x and y coordinates (each field length) from pub. */
void dc__key_ec_xy(const struct dc_key *k, const uint8_t **x, const uint8_t **y);

/* ECDH between our private key and their public key (same curve). z holds DC_MAX_Z bytes.
 * X25519 refuses an all-zero result. Any failure is DC_ERR_CRYPTO. */
dc_err dc__ecdh(const struct dc_key *priv, const struct dc_key *pub, uint8_t *z, size_t *zlen) DC_WUR;

/* Signatures: Ed25519 -> EdDSA (64 bytes); P-256 -> ES256 and secp256k1 -> ES256K
 * (raw r||s, 64 bytes, low-S not required on verify). */
enum dc_sig_alg { DC_SIG_NONE = 0, DC_SIG_EDDSA, DC_SIG_ES256, DC_SIG_ES256K };
const char *dc__sig_alg_name(enum dc_sig_alg a);
enum dc_sig_alg dc__sig_alg_from_name(const char *s);
enum dc_sig_alg dc__sig_alg_for_crv(enum dc_crv crv);  /* DC_SIG_NONE if not a signing curve */
dc_err dc__sign(const struct dc_key *priv, const uint8_t *m, size_t n, uint8_t *sig, size_t cap,
                size_t *siglen) DC_WUR;
/* DC_ERR_CRYPTO on any mismatch. */
dc_err dc__verify(const struct dc_key *pub, enum dc_sig_alg alg, const uint8_t *m, size_t n,
                  const uint8_t *sig, size_t siglen) DC_WUR;

/* ---- JWK: jwk.c --------------------------------------------------------------------- */
/* OKP (X25519, Ed25519) and EC (P-256/384/521, secp256k1). Takes "kid" if present.
 * Strict: wrong lengths, bad base64url, off-curve points, d not matching x/y all fail. */
dc_err dc__jwk_parse(const cJSON *jwk, struct dc_key **out, struct dc_errinfo *ei) DC_WUR;
/* The same from the members as strings (NULL: absent). */
dc_err dc__jwk_parse_strs(const char *kty, const char *crv, const char *x, const char *y, const char *d,
                          const char *kid, struct dc_key **out, struct dc_errinfo *ei) DC_WUR;
/* Both into the caller's storage (cleared with dc__key_clear; cleared already on failure). */
dc_err dc__jwk_init(const cJSON *jwk, struct dc_key *k, struct dc_errinfo *ei) DC_WUR;
dc_err dc__jwk_strs_init(const char *kty, const char *crv, const char *x, const char *y, const char *d,
                         const char *kid, struct dc_key *k, struct dc_errinfo *ei) DC_WUR;
/* Adds kty/crv/x(/y)(/d)(/kid) members to a new object. */
dc_err dc__jwk_to_json(const struct dc_key *k, bool with_private, bool with_kid, cJSON **out) DC_WUR;

/* ---- content encryption and key wrap: aead.c kw.c kdf.c ----------------------------- */
size_t dc__enc_cek_len(enum dc_enc e);  /* 64, 32, 32 */
size_t dc__enc_iv_len(enum dc_enc e);   /* 16, 12, 24 */
size_t dc__enc_tag_len(enum dc_enc e);  /* 32, 16, 16 */
const char *dc__enc_name(enum dc_enc e);
enum dc_enc dc__enc_from_name(const char *s);
/* ct has pt_len bytes of room for GCM/XC20P and pt_len+16 for CBC; *ct_len is set. */
dc_err dc__aead_encrypt(enum dc_enc e, const uint8_t *cek, const uint8_t *iv, const uint8_t *aad,
                        size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t *ct, size_t *ct_len,
                        uint8_t *tag) DC_WUR;
/* Verifies the tag in constant time before any decryption (CBC: MAC first). pt needs ct_len
 * bytes. Every failure is DC_ERR_CRYPTO. */
dc_err dc__aead_decrypt(enum dc_enc e, const uint8_t *cek, const uint8_t *iv, size_t iv_len,
                        const uint8_t *aad, size_t aad_len, const uint8_t *ct, size_t ct_len,
                        const uint8_t *tag, size_t tag_len, uint8_t *pt, size_t *pt_len) DC_WUR;
/* RFC 3394 AES-256 key wrap. out holds in_len+8 (wrap) / in_len-8 (unwrap) bytes. */
dc_err dc__aes_kw_wrap(const uint8_t kek[32], const uint8_t *in, size_t in_len, uint8_t *out) DC_WUR;
dc_err dc__aes_kw_unwrap(const uint8_t kek[32], const uint8_t *in, size_t in_len, uint8_t *out) DC_WUR;
/* Concat KDF (NIST SP 800-56A, SHA-256) for JWE: keydatalen 256 bits.
 * OtherInfo = len32(alg)||alg||len32(apu)||apu||len32(apv)||apv||be32(256)[||len32(tag)||tag]
 * (tag only for ECDH-1PU, tag may be NULL otherwise). */
dc_err dc__concat_kdf(const uint8_t *z, size_t z_len, const char *alg, const uint8_t *apu, size_t apu_len,
                      const uint8_t *apv, size_t apv_len, const uint8_t *tag, size_t tag_len,
                      uint8_t out[32]) DC_WUR;

/* ---- JWE: jwe.c --------------------------------------------------------------------- */
enum dc_kw_alg { DC_ALG_NONE = 0, DC_ALG_ECDH_ES_A256KW, DC_ALG_ECDH_1PU_A256KW };
const char *dc__kw_alg_name(enum dc_kw_alg a);

struct dc_jwe_rcpt {
	char *kid;
	uint8_t *ek;       /* encrypted_key bytes */
	size_t ek_len;
};
struct dc_jwe {
	enum dc_kw_alg alg;
	enum dc_enc enc;
	char *typ;             /* may be NULL */
	char *skid;            /* may be NULL (1PU: from apu when absent) */
	uint8_t *apu; size_t apu_len;
	uint8_t *apv; size_t apv_len;
	struct dc_key *epk;    /* validated: on curve */
	char *protected_b64;   /* AAD */
	struct dc_jwe_rcpt *rcpts;
	size_t n_rcpts;
	uint8_t *iv; size_t iv_len;
	uint8_t *ct; size_t ct_len;
	uint8_t *tag; size_t tag_len;
};
/* Parse a general-JSON JWE (flattened accepted too). Checks structure, alg/enc known,
 * epk on its curve, no duplicate kids, at most max_rcpts recipients. */
dc_err dc__jwe_parse(const cJSON *j, size_t max_rcpts, struct dc_jwe **out, struct dc_errinfo *ei) DC_WUR;
/* The usual shape of an envelope read in place (see jwe.c): spans into the text. */
#define DC_JWE_SCAN_MAX 8 /* recipients; more go to the JSON parser */
struct dc_jwe_text {
	struct dc_span prot, iv, ct, tag;
	struct dc_span kid[DC_JWE_SCAN_MAX], ek[DC_JWE_SCAN_MAX];
	size_t n;
};
/* true if in has that shape (at most max_rcpts recipients); no verdict on the contents yet */
bool dc__jwe_scan_text(const char *in, size_t n, size_t max_rcpts, struct dc_jwe_text *t) DC_WUR;
/* The JWE of a scanned text: the same checks and verdicts as dc__jwe_parse. */
dc_err dc__jwe_from_text(const struct dc_jwe_text *t, struct dc_jwe **out, struct dc_errinfo *ei) DC_WUR;
/* Both steps: the same from the JSON text when it has the usual shape (see jwe.c), without a JSON tree.
 * false: not that shape, nothing done (parse it with dc__json_parse + dc__jwe_parse, which
 * give the verdict). true: *rc is the verdict and, on DC_OK, *out the JWE. */
bool dc__jwe_scan(const char *in, size_t n, size_t max_rcpts, struct dc_jwe **out, dc_err *rc,
                  struct dc_errinfo *ei) DC_WUR;
void dc__jwe_free(struct dc_jwe *jwe);
/* Decrypt for recipient rcpts[idx] with its private key; sender_pub needed for 1PU.
 * *pt malloc'd (+1 NUL byte not counted). All failures: DC_ERR_CRYPTO. Checks apv matches
 * the recipient kids (sorted, '.'-joined, SHA-256) and for 1PU apu == skid. */
dc_err dc__jwe_decrypt(const struct dc_jwe *jwe, size_t idx, const struct dc_key *rcpt_priv,
                       const struct dc_key *sender_pub, uint8_t **pt, size_t *pt_len,
                       struct dc_errinfo *ei) DC_WUR;
/* Encrypt to n recipients (each a public key with kid, all on one curve). For 1PU sender
 * is the sender's private key-agreement key and skid its kid. *out: malloc'd JSON text. */
dc_err dc__jwe_encrypt(enum dc_kw_alg alg, enum dc_enc enc, const struct dc_key *sender, const char *skid,
                       const struct dc_key *const *rcpts, size_t n, const uint8_t *pt, size_t pt_len,
                       char **out, size_t *out_len, struct dc_errinfo *ei) DC_WUR;

/* ---- JWS: jws.c --------------------------------------------------------------------- */
struct dc_jws_sig {
	char *protected_b64;
	enum dc_sig_alg alg;
	char *kid;          /* from the unprotected header, else the protected one */
	char *typ;          /* protected typ, may be NULL */
	uint8_t *sig; size_t sig_len;
};
struct dc_jws {
	char *payload_b64;
	uint8_t *payload; size_t payload_len;  /* decoded, NUL-terminated */
	struct dc_jws_sig *sigs;
	size_t n_sigs;
};
/* General or flattened JSON serialisation. */
dc_err dc__jws_parse(const cJSON *j, struct dc_jws **out, struct dc_errinfo *ei) DC_WUR;
/* The same from the JSON text when it has the usual shape (see jws.c), without a JSON tree.
 * false: not that shape, nothing done (parse it with dc__json_parse + dc__jws_parse, which
 * give the verdict). true: *rc is the verdict and, on DC_OK, *out the JWS. */
bool dc__jws_scan(const char *in, size_t n, struct dc_jws **out, dc_err *rc, struct dc_errinfo *ei) DC_WUR;
void dc__jws_free(struct dc_jws *jws);
dc_err dc__jws_verify(const struct dc_jws *jws, size_t idx, const struct dc_key *pub) DC_WUR;
/* General JSON: protected {"typ":"application/didcomm-signed+json","alg":..}, header {"kid"}. */
dc_err dc__jws_sign(const struct dc_key *priv, const char *kid, const uint8_t *payload, size_t len,
                    char **out, size_t *out_len) DC_WUR;
/* Compact JWT (from_prior): split and decode; header and payload parsed as JSON objects. */
struct dc_jwt {
	cJSON *header, *payload;
	enum dc_sig_alg alg;
	char *kid;
	char *signing_input;  /* "b64(header).b64(payload)" */
	uint8_t *sig; size_t sig_len;
};
dc_err dc__jwt_parse(const char *compact, size_t len, struct dc_jwt **out, struct dc_errinfo *ei) DC_WUR;
void dc__jwt_free(struct dc_jwt *jwt);
dc_err dc__jwt_sign(const struct dc_key *priv, const char *kid, const cJSON *payload, char **out) DC_WUR;

/* ---- multibase / multicodec: multibase.c ------------------------------------------- */
dc_err dc__base58_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen) DC_WUR;
dc_err dc__base58_encode(const uint8_t *in, size_t n, char **out) DC_WUR;
/* "z..." multibase + multicodec key -> key (ed25519-pub 0xed, x25519-pub 0xec,
 * p256-pub 0x1200, p384-pub 0x1201, p521-pub 0x1202, secp256k1-pub 0xe7). */
dc_err dc__multikey_decode(const char *mb, struct dc_key **out) DC_WUR;
dc_err dc__multikey_encode(const struct dc_key *k, char **out) DC_WUR;
/* "z" + base58btc(b): the multibase form DID methods use. */
dc_err dc__multibase_z(const uint8_t *b, size_t n, char **out) DC_WUR;

/* ---- DID documents: diddoc.c -------------------------------------------------------- */
struct dc_vm {
	char *id;          /* absolute DID URL */
	char *type;
	char *controller;
	struct dc_key *key; /* public, kid == id */
};
struct dc_service {
	char *id;
	char *type;        /* "DIDCommMessaging" for ours */
	char *uri;
	char **accept; size_t n_accept;
	char **routing_keys; size_t n_routing_keys;
};
struct dc_did_doc {
	int refs;
	char *id;
	struct dc_vm *vms; size_t n_vms;      /* every method, referenced or embedded */
	char **auth; size_t n_auth;           /* authentication: ids into vms */
	char **ka; size_t n_ka;               /* keyAgreement: ids into vms */
	struct dc_service *svcs; size_t n_svcs; /* DIDCommMessaging services (each endpoint object) */
	cJSON *json;                          /* the document */
};
/* Build from a parsed document; takes ownership of j ALWAYS. */
dc_err dc__did_doc_from_json(cJSON *j, struct dc_did_doc **out, struct dc_errinfo *ei) DC_WUR;
const struct dc_vm *dc__did_doc_vm(const struct dc_did_doc *d, const char *id);
bool dc__did_doc_in_ka(const struct dc_did_doc *d, const char *id);
bool dc__did_doc_in_auth(const struct dc_did_doc *d, const char *id);
struct dc_did_doc *dc__did_doc_ref(struct dc_did_doc *d);

/* did methods: did_key.c did_peer.c did_web.c; each builds a DID document as JSON */
dc_err dc__did_key_resolve(const char *did, cJSON **doc, struct dc_errinfo *ei) DC_WUR;
dc_err dc__did_peer_resolve(const char *did, cJSON **doc, struct dc_errinfo *ei) DC_WUR;
/* did:web -> URL (https://host[:port]/path/did.json or /.well-known/did.json). */
dc_err dc__did_web_url(const char *did, bool allow_http_loopback, char **url, struct dc_errinfo *ei) DC_WUR;
/* The did:key document of multibase key mb under the DID did (did:key and did:peer:0). */
dc_err dc__did_key_doc(const char *did, const char *mb, cJSON **doc, struct dc_errinfo *ei) DC_WUR;
/* did:peer:4 long form of an input document (no root id, relative ids): *did malloc'd. */
dc_err dc__did_peer4_encode(const cJSON *input, char **did) DC_WUR;
/* did:peer:4: the document of the long form long_did (hash checked), contextualised as `as`,
 * which is long_did itself or its short form. */
dc_err dc__did_peer4_doc(const char *long_did, const char *as, cJSON **doc, struct dc_errinfo *ei) DC_WUR;
/* did:peer:4: length of the short form at the start of a long form; 0 if did is not one. */
size_t dc__did_peer4_short_len(const char *did);

/* "did:method:..." without fragment/query/path: *did malloc'd. */
dc_err dc__did_of(const char *did_url, char **did) DC_WUR;
bool dc__is_did(const char *s);

/* ---- messages: msg.c ---------------------------------------------------------------- */
/* Validate a plaintext message object against the spec's MUSTs (id, type, typ, to, from,
 * thid, pthid, times, body, attachments, please_ack, ack, from_prior form). */
dc_err dc__msg_validate(const cJSON *msg, const struct dc_limits *lim, struct dc_errinfo *ei) DC_WUR;
#define DC_TYPE_FORWARD "https://didcomm.org/routing/2.0/forward"
/* A forward to `next` carrying the envelope (JSON text) as attachments[0].data.json. */
dc_err dc__forward_build(const char *next, const char *env, size_t env_len, int64_t expires_time,
                         char **out, size_t *out_len) DC_WUR;
/* New random message id (uuid v4 text, 37 bytes with NUL). */
void dc__uuid4(char out[37]);

/* ---- context: ctx.c ----------------------------------------------------------------- */
struct dc_resolver {
	size_t cache_cap;
	struct dc_did_doc **cache; size_t n_cache;  /* MRU first */
	int64_t *cache_until;                       /* per cache entry: CLOCK_MONOTONIC ms it expires, 0 never */
	int64_t web_ttl_ms;                         /* fetched (did:web) documents; 0: not cached */
	struct dc_did_doc **local; size_t n_local;  /* from --did-docs */
	dc_fetch_fn *fetch; void *fetch_arg;
	bool http_loopback;
	char **peer4_long; size_t n_peer4;          /* did:peer:4 long forms seen (MRU first): their
	                                               short forms resolve through them */
};
struct dc_ctx {
	struct dc_resolver *res;
	struct dc_keystore *ks;
	struct dc_limits lim;
};


/* ---- one pack/unpack operation: op.c ------------------------------------------------ */
#define DC_OP_MAX_DOCS 32
struct dc_op {
	struct dc_ctx *c;
	struct dc_errinfo *ei;
	size_t n_resolutions;                  /* bounded by c->lim.max_resolutions */
	struct dc_did_doc *docs[DC_OP_MAX_DOCS];  /* references held until dc__op_clear */
	size_t n_docs;
};
void dc__op_init(struct dc_op *op, struct dc_ctx *c, struct dc_errinfo *ei);
void dc__op_clear(struct dc_op *op);
/* Resolve the DID of a DID or DID URL; the document stays valid until dc__op_clear. */
dc_err dc__op_resolve(struct dc_op *op, const char *did_or_url, const struct dc_did_doc **out) DC_WUR;
enum dc_rel { DC_REL_KA = 1, DC_REL_AUTH };
/* pack.c: routing (see there) */
#define DC_MAX_ROUTE 16
dc_err dc__route_of(struct dc_op *op, const struct dc_did_doc *rdoc, size_t service, const char **uri, const char **refs,
                    size_t cap, size_t *n) DC_WUR;
dc_err dc__wrap_refs(struct dc_op *op, const char *const *refs, size_t n, const char *final_next, int64_t expires,
                     enum dc_enc enc, char **env, size_t *env_len) DC_WUR;
/* The public key of kid, which must be listed under rel in its DID's document. */
dc_err dc__op_key(struct dc_op *op, const char *kid, enum dc_rel rel, const struct dc_key **out) DC_WUR;

/* dc_unpack with the outermost layer already parsed (first, or first_jwe when it is a JWE;
 * both taken, either may be NULL) and, when
 * msg_json_out is not NULL, the plaintext handed back parsed as well */
dc_err dc__unpack_j(struct dc_ctx *c, cJSON *first, struct dc_jwe *first_jwe, const char *in, size_t len, const struct dc_unpack_opts *o,
                    char **msg_out, cJSON **msg_json_out, struct dc_unpack_meta **meta_out, struct dc_errinfo *ei);

/* evp.c: OpenSSL ciphers, digests and HMAC, fetched once per process */
enum dc_evp { DC_EVP_AES256_WRAP, DC_EVP_AES256_CBC, DC_EVP_AES256_GCM, DC_EVP_AES256_ECB, DC_EVP_N };
typedef struct evp_cipher_st EVP_CIPHER;
const EVP_CIPHER *dc__evp_cipher(enum dc_evp which);
enum dc_md { DC_MD_SHA256, DC_MD_SHA512, DC_MD_N };
typedef struct evp_md_st EVP_MD;
const EVP_MD *dc__evp_md(enum dc_md which);
/* A new HMAC-SHA-512 context keyed with key (EVP_MAC_CTX_free it), or NULL. */
typedef struct evp_mac_ctx_st EVP_MAC_CTX;
EVP_MAC_CTX *dc__hmac_sha512_new(const uint8_t *key, size_t len);

#endif
