/* The mediator: coordinate-mediation 3.0 and 2.0 (grants by [mediator] policy, recipients
 * registered in the queue's store), messagepickup 3.0 (the held items of a client's
 * mailboxes: status, delivery, messages-received) and live delivery over connections that
 * can carry it (WebSocket).
 *
 * Who may do what: only a sender proven by authcrypt (the skid's DID) is a client. A client
 * granted mediation registers recipients (DIDs, or 2.0 keys); a forward whose next is a
 * registered recipient is held for pickup ("hold DID", before any rule); only the client that
 * registered it sees and removes its mailbox's items. Anyone else gets a problem report and
 * learns nothing (not even counts). Items stay in the queue until messages-received names
 * them: a delivery or a live push that never arrives loses nothing.
 *
 * Threads: gw_med_holds and gw_med_handle run on the ingest workers (any number at once),
 * gw_med_notify on the committer; live pushes are packed on the mediator's own thread and
 * handed to the adapter that holds the connection (gw_adapter_ops.push). */
#ifndef GW_MEDIATOR_H
#define GW_MEDIATOR_H
#include "adapter.h"
#include "dc_queue.h"
#include "didcomm.h"

struct gw_med;

/* policy: "open", "closed" or "allow FILE" (one DID per line, # comments) */
dc_err gw_med_new(struct dc_queue *q, const char *our_did, const char *policy, int64_t hold_ms, struct gw_med **out,
                  struct dc_errinfo *ei) DC_WUR;
void gw_med_free(struct gw_med *m);
/* "open" / "closed" / "allow FILE": well formed? (for the configuration check) */
bool gw_med_policy_ok(const char *policy, char *why, size_t n);

/* Is this DID (a forward's next, cut to its DID) a registered mailbox? Any thread. */
bool gw_med_holds(struct gw_med *m, const char *did);
int64_t gw_med_hold_ms(const struct gw_med *m);

/* The PIURIs it answers, for discover-features (NULL-terminated, static). */
extern const char *const gw_med_protocols[];

struct gw_med_in {
	const char *msg;           /* the plaintext message for us */
	size_t len;
	const char *client;        /* the authcrypt sender's DID, or NULL (anonymous or only signed) */
	bool on_connection;        /* the answer can go back on this connection (live, return_route all) */
	const char *transport;     /* the adapter's name */
	uint64_t conn;             /* the connection, for live delivery (0: none) */
	size_t max_reply;          /* a delivery's envelopes together stay under this */
	struct dc_ctx *ctx;        /* the calling thread's context: resolves recipients (NULL: no check) */
	const char *const *endpoints; /* the gateway's own endpoint URIs */
	size_t n_endpoints;
};
struct gw_med_out {
	char *reply;               /* the plaintext answer (to the client), or NULL */
	char code[80];             /* refused: the problem code */
	char why[300];             /* for the log, and for the problem report's comment */
};
/* true when the message is one of the mediator's protocols (then out says what to answer:
 * reply, or a refusal with code); false: not the mediator's, out untouched */
bool gw_med_handle(struct gw_med *m, const struct gw_med_in *in, struct gw_med_out *out);

/* Live delivery. push: writes one message on an inbound connection of the named transport
 * (gw_adapter_ops.push, chosen by the daemon); done as for send(). */
typedef dc_err gw_med_push_fn(void *arg, const char *transport, uint64_t conn, const uint8_t *data, size_t len,
                              gw_send_done_fn *done, void *done_arg);
/* start the pusher thread (its own context over ks); without it live mode is refused */
dc_err gw_med_start_live(struct gw_med *m, struct dc_keystore *ks, const struct dc_limits *lim, gw_med_push_fn *push,
                         void *arg, struct dc_errinfo *ei) DC_WUR;
/* stop the pusher thread (no push after it returns); gw_med_free later (pushes still being
 * written complete into it) */
void gw_med_stop(struct gw_med *m);
/* committed: new items are held for this DID (committer thread) */
void gw_med_notify(struct gw_med *m, const char *did);
#endif
