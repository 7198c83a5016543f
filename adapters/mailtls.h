/* The mail adapters' TLS: libetpan does the handshake (GnuTLS in the Debian build) but checks
 * nothing of the certificate the server shows. So after every handshake, before a byte of the
 * session goes over it (AUTH, LOGIN, a command), the chain the server sent is verified with
 * libcrypto: up to a trust anchor of ca_file (or the system's store when ca_file is not set),
 * for the purpose "TLS server", valid now, and naming the host of the URL (a DNS name, with the
 * usual wildcard rule, or an address literal against the IP names). The handshake itself proved
 * the server holds the key of the first certificate. Anything else: no session, one line
 * saying why, and the adapter tries again later like any connection that fails.
 * (Shared by smtp.c and imap.c; like them it includes only adapter.h of the project.) */
#ifndef GW_MAILTLS_H
#define GW_MAILTLS_H
#include <libetpan/libetpan.h>
#include <openssl/x509_vfy.h>
#include <stdbool.h>
#include <stddef.h>

#include "adapter.h"

struct mail_srv {
	char host[256];
	char port[8];
	bool tls; /* implicit TLS (smtps, imaps) */
	bool ip;  /* host is an address literal: checked against the certificate's IP names, no SNI */
};

/* the handshake's callback (arg: the struct mail_srv): SNI, except for address literals */
void mail_tls_sni(struct mailstream_ssl_context *c, void *arg);
/* the server's chain on st verified for s; false: why says so ("TLS with HOST:PORT: ...") */
bool mail_tls_verified(X509_STORE *trust, mailstream *st, const struct mail_srv *s, char *why, size_t why_len);
/* the trust anchors: ca_file ("" or NULL: the system's store) */
dc_err mail_tls_trust(const char *ca_file, X509_STORE **out, struct dc_errinfo *ei);
#endif
