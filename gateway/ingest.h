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

#include "adapter.h"

struct gw_seen;

struct gw_ingest_cfg {
	struct dc_ctx *dc;
	struct dc_queue *q;
	const struct rule_set *rules;
	struct dc_proto_info proto;  /* our DID, max_receive_bytes, ... */
	size_t max_bytes;            /* inbound limit (too big above) */
	int64_t lease_ms;            /* > 0: deliveries due now are born leased and returned in
	                              * res->fast for the caller to deliver from memory */
	const char *const *our_endpoints; /* the gateway's own endpoint URIs: never a target */
	size_t n_endpoints;
	unsigned max_hops;           /* nested forwards addressed to us (0 = 4) */
	struct gw_seen *seen;        /* envelopes sent lately (loop detection), or NULL */
	const bool *adapter_on;      /* by index in gw_adapters[]: configured here (NULL: all of them) */
	int64_t loop_window_ms;
	struct gw_med *med;          /* the mediator (mediator.h), or NULL: none */
};

struct gw_ingest_result {
	enum gw_outcome outcome;     /* 0 until final */
	enum gw_refusal refusal;     /* GW_REFUSED: what kind */
	char why[300];           /* one line for the log (may name the rule file); never key material */
	char told[300];          /* what the sender is told (problem report comment): no paths */
	char problem_code[80];   /* for a problem report when the sender can be told, else "" */
	char *reply;             /* our protocols: the plaintext reply (caller packs it), or NULL */
	char *reply_to;          /* the authenticated sender's DID (authcrypt skid or signer), or NULL */
	size_t n_queued;         /* deliveries committed */
	char msg_id[128];        /* the inbound message (or forward) id when visible, else "" */
	char thid[128];          /* its thid when visible, else "" */
	bool return_route;       /* a message for us asked for replies on this connection ("all"/"thread") */
	bool reply_queued;       /* the reply went to the queue (no return route) */
	bool loop;               /* an envelope we sent lately came back: dead-lettered, not relayed */
	bool fetching;           /* a did:web document it needs is being fetched (DC_ERR_AGAIN from the
	                          * resolver): open it again once the fetch ends */
	bool duplicate;          /* its key was committed before: accepted, nothing queued again */
	char multiplex[200];     /* encrypted to us and to keys of others: the kid of ours that opened
	                          * it (gw_reply.multiplex); "" when it was for us alone */
	struct dc_queue_item *fast; /* with cfg lease_ms: the committed deliveries due now (ids, data) */
	size_t n_fast;
	/* gw_ingest_answer: what goes back on the inbound connection (a reply or a problem report) */
	char *out;
	size_t out_len;
	const char *out_type;
	char *held_for;              /* a DID whose mailbox got a held item (live delivery), or NULL */
};

/* What one inbound message came with. transport: the adapter's name; source: peer address,
 * topic, mailbox, path; tag: for the rules, may be NULL; media_type as received, may be NULL;
 * key and only_ours: as in struct gw_inbound (adapter.h). */
struct gw_ingest_in {
	const char *transport, *source, *tag, *media_type;
	const uint8_t *data;
	size_t len;
	const char *key;
	bool only_ours;
	bool live;                   /* the connection can carry an answer (struct gw_inbound.live) */
	uint64_t conn;               /* as in struct gw_inbound: the connection, for live delivery */
};
void gw_ingest(const struct gw_ingest_cfg *g, const struct gw_ingest_in *in, struct gw_ingest_result *res);
void gw_ingest_result_clear(struct gw_ingest_result *res);

/* gw_ingest in two steps, for a caller that commits many messages in one transaction (the
 * daemon's committer). gw_ingest_start does everything up to the commit. When the message has
 * deliveries to commit, *pc is set and res is not final yet: the caller commits the items that
 * gw_commit_items gives (they stay valid until gw_ingest_finish, and so must data), then calls
 * gw_ingest_finish with the commit's outcome and ids, which completes res and frees *pc.
 * Otherwise *pc is NULL and res is final. */
#define GW_INGEST_MAX_TARGETS 16 /* deliveries of one message, at most */
struct gw_commit;
void gw_ingest_start(const struct gw_ingest_cfg *g, const struct gw_ingest_in *in, struct gw_ingest_result *res,
                     struct gw_commit **pc);
/* optional, before the commit and without the queue's turn: the big envelopes (from
 * dc_queue_file_min on) go to their files now, so that the commit itself only names them */
void gw_commit_write_files(struct gw_commit *c, struct dc_queue *q);
void gw_commit_items(const struct gw_commit *c, const struct dc_queue_new_item **items, size_t *n);
void gw_ingest_finish(struct gw_commit *c, dc_err rc, const int64_t *ids, const struct dc_errinfo *ei,
                      struct gw_ingest_result *res);
/* Deciding again (queue reroute): the current rules, for a queued delivery, as if its message had
 * just arrived with the rule inputs stored with it (dc_queue_item.facts: transport, recipient,
 * sender, tag, relay, size; which of the message's deliveries it is). payload: the item's
 * envelope (the message as it arrived, or the forward's payload). The result is the same
 * delivery of the message under the current rules: its destination, a new envelope when resolve
 * wraps it, its first attempt (a hold's end) and the rule's else. Not re-decided (an error, ei
 * says why): no rule inputs (items from before they were kept, replies, a rule's else, loop
 * dead letters), a mediation client's pickup, an envelope that resolve already wrapped for an
 * endpoint (the message as it arrived is not kept), rules that now reject it or match
 * nothing (DC_ERR_DENIED), or make another number of deliveries of the message
 * (DC_ERR_UNSUPPORTED: one item cannot become several, or none, one by one). */
struct gw_replan {
	char *dest;                  /* the new destination */
	uint8_t *data;               /* a new envelope (resolve wrapped it), or NULL: the item's own */
	size_t len;
	int64_t next_ms;             /* first attempt (now, or when a hold runs out) */
	struct dc_queue_else els[GW_INGEST_MAX_TARGETS]; /* the rule's else (pointing into c) */
	size_t n_els;
	size_t parts;                /* deliveries the current rules make of the message */
	char rule[200];              /* file:line of the rule that decided */
	struct gw_commit *c;         /* what els point into */
};
dc_err gw_ingest_replan(const struct gw_ingest_cfg *g, const char *facts, const uint8_t *payload, size_t len,
                        int64_t expires_ms, struct gw_replan *out, struct dc_errinfo *ei) DC_WUR;
void gw_replan_clear(struct gw_replan *rp);

/* After gw_ingest: pack our protocol reply for the sender (authcrypt from our DID). When live
 * (the inbound connection can carry it) and the message asked for return_route, it goes in
 * res->out (outcome GW_ANSWERED); otherwise it is queued for the sender's endpoint (held when
 * the sender has none). A refusal with a problem code gets a report-problem 2.0 message in
 * res->out: encrypted for an authenticated sender, plaintext otherwise. */
void gw_ingest_answer(const struct gw_ingest_cfg *g, bool live, struct gw_ingest_result *res);
/* A held delivery ("hold DID") that comes due: its hold ran out and nobody picked it up. The
 * dispatchers fail it for good with this reason, so that the rule's else, if any, takes it. */
#define GW_HOLD_RAN_OUT "held until the hold ran out; nobody picked it up"

/* Envelopes the gateway sent lately, by digest: one that comes back within the window is a
 * delivery loop. Bounded (oldest forgotten first); any thread. */
dc_err gw_seen_new(size_t slots, struct gw_seen **out) DC_WUR;
void gw_seen_free(struct gw_seen *s);
void gw_seen_add(struct gw_seen *s, const uint8_t *data, size_t len, int64_t now_ms);
bool gw_seen_recent(struct gw_seen *s, const uint8_t *data, size_t len, int64_t now_ms, int64_t window_ms);
#endif
