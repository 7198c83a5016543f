/* Ingest: what happens to inbound bytes, independent of the transport. Size and media-type
 * checks, then the relay step (open forwards to us), then the rules (first match wins), then
 * one queue transaction for every resulting delivery. Only after that commit is the inbound
 * side told "accepted" (HTTP 202, PUBACK, mail deleted, file removed). */
#ifndef GW_INGEST_H
#define GW_INGEST_H
#include "dc_queue.h"
#include "didcomm.h"
#include "rules.h"

#include <string.h>

struct gw_ingest_cfg {
	struct dc_ctx *dc;
	struct dc_queue *q;
	const struct rule_set *rules;
	struct dc_proto_info proto;  /* our DID, max_receive_bytes, ... */
	size_t max_bytes;            /* inbound limit (413 above) */
	const char *tag;             /* the inbound adapter's tag for rules, may be NULL */
	int64_t lease_ms;            /* > 0: deliveries due now are born leased and returned in
	                              * res->fast for the caller to deliver from memory */
};

enum gw_in_status {
	GW_IN_ACCEPTED = 202,  /* durable in the queue (or answered, for our own protocols) */
	GW_IN_BAD = 400,       /* malformed, undecryptable, not ours to relay */
	GW_IN_REJECTED = 403,  /* a rule said reject (problem_code says why) */
	GW_IN_TOO_BIG = 413,
	GW_IN_BAD_TYPE = 415,
	GW_IN_ERROR = 500,     /* our fault (I/O, memory) */
	GW_IN_FULL = 503,      /* queue full: try later */
};

struct gw_ingest_result {
	enum gw_in_status status;
	char why[300];           /* one line for the log / the HTTP body; never key material */
	char problem_code[80];   /* for a problem report when the sender can be told, else "" */
	char *reply;             /* our protocols: the plaintext reply (caller packs it), or NULL */
	char *reply_to;          /* the authenticated sender's DID (authcrypt skid or signer), or NULL */
	size_t n_queued;         /* deliveries committed */
	char msg_id[128];        /* the inbound message (or forward) id when visible, else "" */
	bool return_route;       /* a message for us asked for replies on this connection ("all"/"thread") */
	bool reply_queued;       /* the reply went to the queue (no return route) */
	struct dc_queue_item *fast; /* with cfg lease_ms: the committed deliveries due now (ids, data) */
	size_t n_fast;
	/* gw_ingest_answer: what goes back on the inbound connection (a reply or a problem report) */
	char *out;
	size_t out_len;
	const char *out_type;
};

/* transport: "http" "ws" ...; source: peer address/topic/...; media_type as received (may be NULL) */
void gw_ingest(const struct gw_ingest_cfg *g, const char *transport, const char *source, const char *media_type,
               const uint8_t *data, size_t len, struct gw_ingest_result *res);
void gw_ingest_result_clear(struct gw_ingest_result *res);

/* gw_ingest in two steps, for a caller that commits many messages in one transaction (the
 * daemon's committer). gw_ingest_start does everything up to the commit. When the message has
 * deliveries to commit, *pc is set and res is not final yet: the caller commits the items that
 * gw_commit_items gives (they stay valid until gw_ingest_finish, and so must data), then calls
 * gw_ingest_finish with the commit's outcome and ids, which completes res and frees *pc.
 * Otherwise *pc is NULL and res is final. */
#define GW_INGEST_MAX_TARGETS 16 /* deliveries of one message, at most */
struct gw_commit;
void gw_ingest_start(const struct gw_ingest_cfg *g, const char *transport, const char *source, const char *media_type,
                     const uint8_t *data, size_t len, struct gw_ingest_result *res, struct gw_commit **pc);
/* optional, before the commit and without the queue's turn: the big envelopes (from
 * dc_queue_file_min on) go to their files now, so that the commit itself only names them */
void gw_commit_write_files(struct gw_commit *c, struct dc_queue *q);
void gw_commit_items(const struct gw_commit *c, const struct dc_queue_new_item **items, size_t *n);
void gw_ingest_finish(struct gw_commit *c, dc_err rc, const int64_t *ids, const struct dc_errinfo *ei,
                      struct gw_ingest_result *res);
/* After gw_ingest: pack our protocol reply for the sender (authcrypt from our DID). When live
 * (the inbound connection can carry it) and the message asked for return_route, it goes in
 * res->out (status becomes 200); otherwise it is queued for the sender's endpoint (held when
 * the sender has none). A refusal with a problem code gets a report-problem 2.0 message in
 * res->out: encrypted for an authenticated sender, plaintext otherwise. */
void gw_ingest_answer(const struct gw_ingest_cfg *g, bool live, struct gw_ingest_result *res);
/* A held delivery ("hold DID") that comes due: its hold ran out and nobody picked it up. The
 * dispatchers fail it for good with this reason, so that the rule's else, if any, takes it. */
#define GW_HOLD_RAN_OUT "held until the hold ran out; nobody picked it up"
static inline bool gw_dest_is_hold(const char *dest)
{
	return dest && strncmp(dest, "hold ", 5) == 0;
}

/* the adapter name for an endpoint URI scheme (http(s) -> http, ws(s) -> ws, mqtt(s), mailto -> smtp,
 * file), or NULL */
const char *gw_adapter_for_uri(const char *uri);
#endif
