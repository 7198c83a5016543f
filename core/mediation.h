/* libdidcomm: the mediator's protocol messages (public API, beside didcomm.h).
 *
 * coordinate-mediation 3.0 and 2.0, messagepickup 3.0 and out-of-band 2.0 invitations, as
 * the didcomm.org protocol pages write them: requests are parsed into a struct (bounded,
 * every field checked), answers built from plain values. Storage, authorization and
 * transports are the caller's (the gateway's); nothing here keeps state.
 *
 * Shapes (the differences between the versions that clients depend on):
 *   3.0 mediate-grant   body.routing_did = [DID, ...]          (an array)
 *   2.0 mediate-grant   body.routing_did = "DID"               (a string)
 *   3.0 recipient-update / recipient-update-response / recipient-query / recipient {dids}
 *   2.0 keylist-update  / keylist-update-response  / keylist-query  / keylist   {keys}
 *   both: updates[{recipient_did, action}] -> updated[{recipient_did, action, result}]
 *   pickup delivery     attachments[{id, data.base64 (base64url of the envelope)}] */
#ifndef DIDCOMM_MEDIATION_H
#define DIDCOMM_MEDIATION_H

#include "didcomm.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility push(default)
#endif

#define DC_MED_PIURI_CM2 "https://didcomm.org/coordinate-mediation/2.0"
#define DC_MED_PIURI_CM3 "https://didcomm.org/coordinate-mediation/3.0"
#define DC_MED_PIURI_PICKUP3 "https://didcomm.org/messagepickup/3.0"
#define DC_OOB_INVITATION "https://didcomm.org/out-of-band/2.0/invitation"

/* bounds on what one request may ask for */
#define DC_MED_MAX_UPDATES 256     /* recipient-update / keylist-update entries */
#define DC_MED_MAX_IDS 1000        /* messages-received ids */
#define DC_MED_MAX_LIMIT 1000      /* delivery-request limit, recipient-query limit */
#define DC_MED_MAX_DID 4096        /* a recipient DID or key, in bytes */

enum dc_med_kind {
	DC_MED_NONE = 0,            /* not one of these protocols */
	DC_MED_MEDIATE_REQUEST,
	DC_MED_RECIPIENT_UPDATE,    /* 3.0 recipient-update, 2.0 keylist-update */
	DC_MED_RECIPIENT_QUERY,     /* 3.0 recipient-query, 2.0 keylist-query */
	DC_MED_STATUS_REQUEST,      /* pickup 3.0 */
	DC_MED_DELIVERY_REQUEST,
	DC_MED_MESSAGES_RECEIVED,
	DC_MED_LIVE_CHANGE,
	DC_MED_OTHER,               /* a message of these protocols that is an answer, not a request
	                             * (grant, status, delivery ...): nothing to do */
};

enum dc_med_result { DC_MED_SUCCESS = 0, DC_MED_NO_CHANGE, DC_MED_CLIENT_ERROR, DC_MED_SERVER_ERROR };

struct dc_med_update {
	char *did;                  /* recipient_did (2.0: recipient_key accepted too) */
	bool add;                   /* action "add", else "remove" */
	enum dc_med_result result;  /* for the answer: the caller fills it in */
};

struct dc_med_request {
	enum dc_med_kind kind;
	int version;                /* coordinate-mediation 2 or 3; pickup 3 */
	char *id, *thid;            /* the request's id and thid (thid NULL when absent) */
	char *from;                 /* its from header, or NULL */
	char *return_route;         /* its return_route header, or NULL */
	char *recipient_did;        /* pickup: the optional recipient_did filter, or NULL */
	size_t limit;               /* delivery-request limit (1..DC_MED_MAX_LIMIT); query page size */
	size_t offset;              /* query: paginate.offset */
	bool paginate;              /* query: paginate was given */
	bool live;                  /* live-delivery-change: live_delivery */
	struct dc_med_update *updates;
	size_t n_updates;
	char **ids;                 /* messages-received: message_id_list */
	size_t n_ids;
};

/* Parse a plaintext message. A message of another protocol gives DC_OK with kind NONE; a
 * request of these protocols that breaks their rules (a required field missing, of the wrong
 * type, over a bound) gives DC_ERR_MALFORMED or DC_ERR_TOO_BIG with ei saying what. */
dc_err dc_med_parse(const char *msg_json, size_t len, struct dc_med_request *out, struct dc_errinfo *ei) DC_WUR;
void dc_med_request_clear(struct dc_med_request *r);

/* Answers. Each is a plaintext message (malloc'd JSON) from our_did to the request's from,
 * with thid = the request's thid, else its id. */
dc_err dc_med_grant(const struct dc_med_request *rq, const char *our_did, const char *const *routing_dids, size_t n,
                    char **out) DC_WUR;
dc_err dc_med_deny(const struct dc_med_request *rq, const char *our_did, char **out) DC_WUR;
/* rq->updates with their result filled in */
dc_err dc_med_update_response(const struct dc_med_request *rq, const char *our_did, char **out) DC_WUR;
/* the page of recipients (DIDs or keys) and, when the query paginated, {count, offset, remaining} */
dc_err dc_med_recipients(const struct dc_med_request *rq, const char *our_did, const char *const *dids, size_t n,
                         size_t offset, size_t remaining, char **out) DC_WUR;

struct dc_med_status {
	const char *recipient_did;  /* echoed when the request named one, else NULL */
	uint64_t message_count, total_bytes;
	int64_t longest_waited_seconds;
	int64_t newest_received_time, oldest_received_time; /* epoch seconds; 0: none (not written) */
	bool live_delivery;
};
/* rq: the status-request, delivery-request, messages-received or live-delivery-change answered */
dc_err dc_med_status(const struct dc_med_request *rq, const char *our_did, const struct dc_med_status *st,
                     char **out) DC_WUR;

struct dc_med_attachment {
	const char *id;             /* opaque, unique at the mediator: what messages-received names */
	const uint8_t *data;        /* the envelope as stored */
	size_t len;
};
/* A delivery. rq: the delivery-request answered, or NULL for a live push (no thid); to: the
 * recipient (rq's from when rq is given); recipient_did: echoed when the request named one. */
dc_err dc_med_delivery(const struct dc_med_request *rq, const char *our_did, const char *to, const char *recipient_did,
                       const struct dc_med_attachment *att, size_t n, char **out) DC_WUR;

/* May a mediator hold messages for this recipient (a DID, or a DID URL: its DID counts)?
 * DC_OK when its DID document has no DIDCommMessaging service (a DID for one relationship,
 * a did:key), or one of them routes through the mediator: its uri is mediator_did (or a DID
 * URL of it) or one of its endpoints, or a routing key is a key of mediator_did. DC_ERR_DENIED
 * when its services all go elsewhere (someone else's DID: registering it would divert its
 * mail); DC_ERR_RESOLVE when it cannot be resolved; DC_ERR_AGAIN when a did:web document is
 * being fetched. */
dc_err dc_med_routes_via(struct dc_ctx *c, const char *recipient, const char *mediator_did,
                         const char *const *endpoints, size_t n_endpoints, struct dc_errinfo *ei) DC_WUR;

/* out-of-band 2.0: the invitation (plaintext JSON, from our_did, body goal_code/goal and
 * accept ["didcomm/v2"]) and its URL base?_oob=base64url(the minified JSON). */
dc_err dc_oob_invitation(const char *our_did, const char *goal_code, const char *goal, char **json) DC_WUR;
dc_err dc_oob_url(const char *base, const char *json, char **url) DC_WUR;

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif
