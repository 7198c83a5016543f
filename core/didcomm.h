/* libdidcomm: DIDComm Messaging v2 envelope engine (public API).
 *
 * Conventions: fallible functions return dc_err (DC_OK == 0) and put results in
 * trailing out-parameters, which are zeroed on failure. _new/_free pair (free(NULL)
 * is fine); _get returns borrowed data; _dup returns data the caller frees with free().
 * No function here opens a socket or writes to stdout: I/O enters as callbacks. */
#ifndef DIDCOMM_H
#define DIDCOMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* libdidcomm.so is built with -fvisibility=hidden: what this header declares is its whole
 * exported API (the dc__ internals of internal.h stay inside). */
#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility push(default)
#endif

#if defined(__GNUC__) || defined(__clang__)
#define DC_WUR __attribute__((warn_unused_result))
#else
#define DC_WUR
#endif

/* Error codes: numbers are append-only, never renumbered. */
typedef enum dc_err {
	DC_OK = 0,
	DC_ERR_NOMEM,       /* allocation failed */
	DC_ERR_INVAL,       /* caller bug: bad argument */
	DC_ERR_MALFORMED,   /* bad input from outside */
	DC_ERR_TOO_BIG,     /* input over a limit */
	DC_ERR_UNSUPPORTED, /* valid but not supported (alg, curve, method) */
	DC_ERR_CRYPTO,      /* any decrypt/verify failure; no detail on purpose */
	DC_ERR_NOT_FOUND,   /* key, secret, DID or item not found */
	DC_ERR_RESOLVE,     /* DID resolution failed */
	DC_ERR_EXPIRED,     /* expires_time passed */
	DC_ERR_DENIED,      /* a MUST of the spec was violated (from/skid mismatch ...) */
	DC_ERR_IO,          /* file or store error */
	DC_ERR_AGAIN,       /* try later */
} dc_err;

const char *dc_strerror(dc_err rc);

/* Optional detail for an error: "what and where", never key material. */
struct dc_errinfo {
	dc_err code;
	char msg[256];
};

/* Fill ei (when not NULL) with code and a formatted one-line message; returns code. For
 * callers that report their own errors in the same shape (never pass secrets). */
dc_err dc_errinfo_set(struct dc_errinfo *ei, dc_err code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Call once before anything else (initialises libsodium). Thread-safe, idempotent. */
dc_err dc_init(void) DC_WUR;

/* ---- keys ------------------------------------------------------------------------- */
enum dc_crv {
	DC_CRV_NONE = 0,
	DC_CRV_X25519,
	DC_CRV_ED25519,
	DC_CRV_P256,
	DC_CRV_P384,
	DC_CRV_P521,
	DC_CRV_SECP256K1,
};

struct dc_key; /* a public key, optionally with its private part; has a kid */

void dc_key_free(struct dc_key *k);
const char *dc_key_kid(const struct dc_key *k);      /* borrowed; may be NULL */
enum dc_crv dc_key_crv(const struct dc_key *k);
bool dc_key_has_private(const struct dc_key *k);
const char *dc_crv_name(enum dc_crv crv);            /* "X25519", "P-256", ... */
enum dc_crv dc_crv_from_name(const char *name);      /* DC_CRV_NONE if unknown */

/* JWK as JSON text (public or private, with "kid" if present). */
dc_err dc_jwk_parse_text(const char *json, size_t len, struct dc_key **out) DC_WUR;
/* Serialise: *out is a malloc'd NUL-terminated JSON object. */
dc_err dc_jwk_print(const struct dc_key *k, bool with_private, char **out) DC_WUR;

/* ---- secrets ------------------------------------------------------------------------ */
struct dc_keystore;

dc_err dc_keystore_new(struct dc_keystore **out) DC_WUR;
void dc_keystore_free(struct dc_keystore *ks);
/* Load a JSON array of private JWKs with "kid" (or {"id","type","privateKeyJwk"} objects). */
dc_err dc_keystore_load_file(struct dc_keystore *ks, const char *path, struct dc_errinfo *ei) DC_WUR;
dc_err dc_keystore_load_text(struct dc_keystore *ks, const char *json, size_t len,
                             struct dc_errinfo *ei) DC_WUR;
/* Write atomically (temp file 0600 + fsync + rename + fsync dir). */
dc_err dc_keystore_save_file(const struct dc_keystore *ks, const char *path, struct dc_errinfo *ei) DC_WUR;
/* Takes ownership of k ALWAYS (freed on failure). k must have a kid and a private part. */
dc_err dc_keystore_take(struct dc_keystore *ks, struct dc_key *k) DC_WUR;
const struct dc_key *dc_keystore_get(const struct dc_keystore *ks, const char *kid); /* borrowed */
size_t dc_keystore_count(const struct dc_keystore *ks);
/* The i-th key (0 .. count-1) in load order, borrowed; NULL past the end. */
const struct dc_key *dc_keystore_at(const struct dc_keystore *ks, size_t i);

/* ---- DID documents and resolution ---------------------------------------------------- */
struct dc_did_doc;     /* reference counted, immutable once built */
struct dc_resolver;

/* Parse a DID document (JSON). */
dc_err dc_did_doc_parse(const char *json, size_t len, struct dc_did_doc **out, struct dc_errinfo *ei) DC_WUR;
void dc_did_doc_free(struct dc_did_doc *doc);     /* drops one reference */
const char *dc_did_doc_id(const struct dc_did_doc *doc);
/* The document as JSON (malloc'd). */
dc_err dc_did_doc_print(const struct dc_did_doc *doc, char **out) DC_WUR;

/* did:web fetch callback: GET url, at most max bytes; *body malloc'd. */
typedef dc_err dc_fetch_fn(void *arg, const char *url, size_t max, char **body, size_t *len);

dc_err dc_resolver_new(size_t cache_size, struct dc_resolver **out) DC_WUR;
void dc_resolver_free(struct dc_resolver *r);
/* A JSON array of DID documents (or one document); these win over every method. */
dc_err dc_resolver_add_docs_file(struct dc_resolver *r, const char *path, struct dc_errinfo *ei) DC_WUR;
dc_err dc_resolver_add_docs_text(struct dc_resolver *r, const char *json, size_t len,
                                 struct dc_errinfo *ei) DC_WUR;
void dc_resolver_set_fetch(struct dc_resolver *r, dc_fetch_fn *fn, void *arg);
/* How long a fetched (did:web) document stays in the resolver's cache, in ms (default 5
 * minutes); 0: not cached at all (a fetcher with a cache of its own). Documents of other
 * methods never change and stay until evicted. A fetch callback that returns DC_ERR_AGAIN
 * ("not yet, being fetched") makes dc_resolve, dc_pack, dc_unpack and dc_relay_inspect
 * return DC_ERR_AGAIN too: the caller retries the whole operation later. */
void dc_resolver_set_web_ttl(struct dc_resolver *r, int64_t ms);
/* Allow http:// for did:web on 127.0.0.1 (tests only). */
void dc_resolver_allow_http_loopback(struct dc_resolver *r, bool allow);
/* Resolve a DID (a DID URL is cut at '#', '?', '/' after the method-specific id).
 * *out is a new reference: release with dc_did_doc_free(). */
dc_err dc_resolve(struct dc_resolver *r, const char *did, struct dc_did_doc **out, struct dc_errinfo *ei) DC_WUR;

/* ---- creating DIDs ----------------------------------------------------------------- */
enum dc_did_method { DC_DID_KEY = 1, DC_DID_PEER0, DC_DID_PEER2, DC_DID_PEER4 };

struct dc_did_new_opts {
	enum dc_did_method method;
	const char *const *endpoints;    /* service URIs (peer2/peer4); may be NULL */
	size_t n_endpoints;
	const char *const *routing_keys; /* DID URLs; may be NULL */
	size_t n_routing_keys;
};
/* Creates keys (Ed25519 for authentication, X25519 for keyAgreement), adds their private
 * parts to ks under their DID-URL kids, and returns the DID (malloc'd). */
dc_err dc_did_new(const struct dc_did_new_opts *o, struct dc_keystore *ks, char **did_out,
                  struct dc_errinfo *ei) DC_WUR;

/* ---- context ----------------------------------------------------------------------- */
struct dc_limits {
	size_t max_message_bytes;  /* whole packed input; default 32 MiB */
	size_t max_json_depth;     /* default 64 */
	size_t max_recipients;     /* JWE recipients; default 64 */
	size_t max_forward_depth;  /* nested forwards/envelopes; default 8 */
	size_t max_attachments;    /* per message; default 256 */
	size_t max_resolutions;    /* DID resolutions per pack/unpack; default 32 */
};

struct dc_ctx;
/* The context borrows resolver and keystore; both must outlive it. A context (like its
 * resolver, whose cache it fills) is used by one thread at a time; a keystore may be shared by
 * the contexts of several threads once loaded. */
dc_err dc_ctx_new(struct dc_resolver *r, struct dc_keystore *ks, struct dc_ctx **out) DC_WUR;
void dc_ctx_free(struct dc_ctx *c);
void dc_ctx_set_limits(struct dc_ctx *c, const struct dc_limits *l);
void dc_ctx_get_limits(const struct dc_ctx *c, struct dc_limits *out);
void dc_limits_default(struct dc_limits *l);

/* ---- pack ---------------------------------------------------------------------------- */
enum dc_pack_mode { DC_PACK_PLAINTEXT = 1, DC_PACK_SIGNED, DC_PACK_ANONCRYPT, DC_PACK_AUTHCRYPT };
enum dc_enc { DC_ENC_NONE = 0, DC_ENC_A256CBC_HS512, DC_ENC_A256GCM, DC_ENC_XC20P };

struct dc_pack_opts {
	enum dc_pack_mode mode;
	const char *const *to;   /* DIDs or key ids; all keys given for one DID go in one JWE */
	size_t n_to;
	const char *from;        /* authcrypt sender: DID or kid (default: message "from") */
	const char *sign_from;   /* sign with this DID or kid (signed mode, or sign-then-encrypt) */
	enum dc_enc enc;         /* DC_ENC_NONE: A256CBC-HS512 for authcrypt, XC20P for anoncrypt */
	enum dc_crv curve;       /* DC_CRV_NONE: first keyAgreement curve shared with the sender */
	bool protect_sender;     /* anoncrypt(authcrypt(...)) */
	bool no_forward;         /* do not wrap for the recipient's routingKeys */
	size_t service;          /* which of the recipient's DIDCommMessaging services (0: the first);
	                          * no endpoint in the result when it has fewer */
	/* DID rotation: the prior DID's signing key, a kid (listed under its DID's authentication)
	 * or a DID (its first authentication key); we must hold its secret. Pack signs the compact
	 * JWT {"typ":"JWT","alg","kid"}.{"iss": prior DID, "sub": the message's from, "iat"}
	 * (EdDSA, ES256 or ES256K as the key's type says) and adds it as the message's from_prior
	 * before signing or encrypting. Refused: no from, a from_prior already there, the prior
	 * DID equal to from. NULL: no rotation. */
	const char *from_prior_issuer;
	int64_t rotated_at;      /* the JWT's iat, in seconds since the epoch; 0: now */
};

struct dc_packed {
	char *to;         /* the recipient DID this envelope is for */
	char *endpoint;   /* the service URI to hand it to (NULL when none) */
	char *msg;        /* the envelope JSON */
	size_t len;
};
struct dc_pack_result {
	struct dc_packed *items; /* one per recipient DID (the spec encrypts each DID separately) */
	size_t n;
};
void dc_pack_result_clear(struct dc_pack_result *r);

dc_err dc_pack(struct dc_ctx *c, const char *msg_json, size_t len, const struct dc_pack_opts *o,
               struct dc_pack_result *out, struct dc_errinfo *ei) DC_WUR;

/* ---- unpack -------------------------------------------------------------------------- */
struct dc_unpack_meta {
	bool encrypted, authenticated, non_repudiation, anonymous_sender, re_wrapped_in_forward;
	bool expired;                 /* expires_time is in the past (not an error) */
	bool has_created_time, has_expires_time;
	int64_t created_time, expires_time;
	char *encrypted_from_kid;     /* authcrypt skid */
	char **encrypted_to_kids;     /* kids of the outermost JWE layer that we decrypted with */
	size_t n_encrypted_to_kids;
	char *sign_from;              /* signer kid */
	char *enc_alg_auth;           /* "ECDH-1PU+A256KW/A256CBC-HS512" style, or NULL */
	char *enc_alg_anon;           /* "ECDH-ES+A256KW/XC20P" style, or NULL */
	char *sign_alg;               /* "EdDSA" ... or NULL */
	char *from_prior_issuer_kid;  /* kid that signed from_prior, or NULL */
	char *from_prior_json;        /* the from_prior JWT payload as JSON, or NULL */
};

struct dc_unpack_opts {
	bool expect_decrypt_by_all_keys; /* reserved; false */
	bool unwrap_forwards;            /* a forward addressed to our own keys is opened (default true) */
};

void dc_unpack_meta_free(struct dc_unpack_meta *m);
/* *msg_out: the plaintext message as JSON (malloc'd). *meta_out may be NULL if not wanted. */
dc_err dc_unpack(struct dc_ctx *c, const char *in, size_t len, const struct dc_unpack_opts *o,
                 char **msg_out, struct dc_unpack_meta **meta_out, struct dc_errinfo *ei) DC_WUR;
/* Metadata as a JSON object (malloc'd). */
dc_err dc_unpack_meta_print(const struct dc_unpack_meta *m, char **out) DC_WUR;

/* ---- relaying (the gateway as a mediator) ---------------------------------------------- */
enum dc_relay_kind {
	DC_RELAY_FORWARD = 1, /* a routing/2.0 forward for us: deliver payload to next */
	DC_RELAY_FOR_US,      /* a message for us (our own protocols): message + meta */
	DC_RELAY_NOT_FOR_US,  /* encrypted to keys we do not hold: route by rcpt_kids */
};
struct dc_relay {
	enum dc_relay_kind kind;
	char *media_type;        /* of the input: application/didcomm-{encrypted,signed,plain}+json */
	char **rcpt_kids;        /* encrypted input: its recipient kids (read without decrypting) */
	size_t n_rcpt_kids;
	char *msg_id;            /* forward or message id */
	char *next;              /* forward: body.next, a DID or a key id */
	char *payload;           /* forward: the attached envelope (JSON text) */
	size_t payload_len;
	int64_t expires_time;    /* forward: 0 when absent */
	char *message;           /* for us: the plaintext */
	char *thid;              /* for us and forwards: the message's thid, NULL when absent */
	char *return_route;      /* for us: its return_route header ("all", "thread", "none"), or NULL */
	struct dc_unpack_meta *meta; /* forward and for us */
};
void dc_relay_clear(struct dc_relay *r);
/* Classify an inbound envelope and open it if it is for us. A forward's attachment is
 * returned as is (the gateway cannot and must not read it). */
dc_err dc_relay_inspect(struct dc_ctx *c, const char *in, size_t len, struct dc_relay *out,
                        struct dc_errinfo *ei) DC_WUR;
/* Wrap an envelope for delivery to `to` (a DID or key id): forwards for the routing keys of
 * its DIDCommMessaging service number `service` (0: the first, in document order) after our
 * own (those listed in `skip_kids` and everything before them are already done). *endpoint:
 * where to send it (NULL when the DID has no such service). env is replaced. */
dc_err dc_relay_wrap(struct dc_ctx *c, const char *to, size_t service, const char *const *skip_kids, size_t n_skip,
                     int64_t expires_time, char **env, size_t *env_len, char **endpoint,
                     struct dc_errinfo *ei) DC_WUR;

/* ---- our own protocols: trust-ping 2.0, discover-features 2.0, report-problem 2.0 ----------- */
struct dc_proto_info {
	const char *our_did;          /* from of our replies */
	size_t max_receive_bytes;     /* disclosed as a constraint (0: not disclosed) */
	const char *const *protocols; /* extra PIURIs to disclose (NULL-terminated, may be NULL) */
};
/* A plaintext message for us in, the reply plaintext out (*reply NULL when there is none:
 * a ping that asks for no response, or a protocol we do not answer). *handled says whether
 * the message belonged to one of our protocols. */
dc_err dc_protocol_handle(const struct dc_proto_info *pi, const char *msg_json, size_t len, char **reply,
                          bool *handled, struct dc_errinfo *ei) DC_WUR;
/* A report-problem 2.0 message about message `about_id` in thread `pthid` (either may be NULL)
 * to `to` (may be NULL). comment is static text with {1}.. placeholders filled from args. */
dc_err dc_problem_report(const char *from, const char *to, const char *pthid, const char *about_id,
                         const char *code, const char *comment, const char *const *args, size_t n_args,
                         char **out) DC_WUR;

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif
