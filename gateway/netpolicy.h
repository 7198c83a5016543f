/* The outbound address policy: where the gateway may connect.
 *
 * Targets that come from outside (endpoints in DID documents, did:web hosts named by a
 * message's kids) are "untrusted": they may not reach loopback, private (RFC 1918, fc00::/7,
 * fec0::/10), CGNAT (100.64/10), link-local (169.254/16, fe80::/10), multicast, unspecified
 * (0/8, ::), broadcast and reserved (240/4) or other special-purpose addresses, unless an
 * `allow` CIDR of [outbound] covers them. IPv6 forms that carry an IPv4 address (mapped
 * ::ffff:a.b.c.d, compatible ::a.b.c.d, translated ::ffff:0:a.b.c.d, NAT64 64:ff9b::/96,
 * 6to4 2002::/16, Teredo 2001::/32's client) are judged by that IPv4 address as well.
 * The gateway's own listener addresses ("self", address and port) are refused for every
 * target, trusted or not: a message must never be delivered to ourselves.
 *
 * The address is checked where the socket is opened (libcurl's OPENSOCKETFUNCTION), on the
 * address actually resolved, so DNS names that resolve (or rebind) to a refused address are
 * refused too, as are redirects (not followed for untrusted targets anyway).
 *
 * A policy is built once (new, allow, add_self) and is read-only afterwards: checks from many
 * threads at once need no lock. */
#ifndef GW_NETPOLICY_H
#define GW_NETPOLICY_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <curl/curl.h>

#include "didcomm.h"

struct gw_netpolicy;

dc_err gw_netpolicy_new(struct gw_netpolicy **out) DC_WUR;
void gw_netpolicy_free(struct gw_netpolicy *np);

/* The value of one `allow` line: CIDRs separated by blanks or commas ("127.0.0.0/8 ::1/128");
 * a bare address is a single host. A leading word "allow" is skipped, so the whole config
 * line may be passed too. All of the line or nothing is added. Errors (DC_ERR_MALFORMED):
 * "allow: '10.0.0.0/33' is not a CIDR". */
dc_err gw_netpolicy_allow(struct gw_netpolicy *np, const char *text, struct dc_errinfo *ei) DC_WUR;

/* The gateway's own listener (address and port). An unspecified address (0.0.0.0, ::) means
 * every address of this host: the interfaces' addresses and loopback are added. */
dc_err gw_netpolicy_add_self(struct gw_netpolicy *np, const struct sockaddr *sa, socklen_t len) DC_WUR;
/* The same from text, as in `listen`: "127.0.0.1:8080", "[::1]:8080", "localhost:8080",
 * ":8080" or "*:8080" (every address). Names are resolved now (setup time). */
dc_err gw_netpolicy_add_self_text(struct gw_netpolicy *np, const char *hostport, struct dc_errinfo *ei) DC_WUR;

/* DC_OK, or DC_ERR_DENIED with why (when not NULL) set to "outbound policy: ..." naming the
 * address and the reason. np may be NULL (no allow, no self). A family other than IPv4/IPv6
 * is refused when untrusted. Thread-safe. */
dc_err gw_netpolicy_check(const struct gw_netpolicy *np, const struct sockaddr *sa, socklen_t len, bool untrusted,
                          char *why, size_t why_len) DC_WUR;

/* ---- libcurl ----------------------------------------------------------------------------- */

/* State of one easy handle's check; lives (in the caller's storage) as long as the handle. */
struct gw_netpolicy_curl {
	const struct gw_netpolicy *np;
	bool untrusted;
	bool refused;     /* a connection was refused by the policy: why says which and why */
	char why[200];
};

/* Install the policy on e: CURLOPT_OPENSOCKETFUNCTION checks each address before its socket is
 * opened (refused: CURL_SOCKET_BAD, curl then reports CURLE_COULDNT_CONNECT and st->refused is
 * set); proxies are off (CURLOPT_PROXY "", CURLOPT_NOPROXY "*") so the check sees the real
 * target. For untrusted targets also: no redirects, protocols http and https only.
 * st is initialised here and must outlive the transfer. */
void gw_netpolicy_curl(CURL *e, const struct gw_netpolicy *np, bool untrusted, struct gw_netpolicy_curl *st);

#endif
