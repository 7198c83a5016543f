/* The mail adapters' (smtp.c, imap.c) check of a server's certificate: see mailtls.h. */
#include "mailtls.h"

#include <limits.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdio.h>

void mail_tls_sni(struct mailstream_ssl_context *c, void *arg)
{
	struct mail_srv *s = arg;
	if (!s->ip) /* RFC 6066: no address literals in SNI */
		(void)mailstream_ssl_set_server_name(c, s->host);
}

bool mail_tls_verified(X509_STORE *trust, mailstream *st, const struct mail_srv *s, char *why, size_t why_len)
{
	/* libetpan's GnuTLS build returns an unset pointer when the server sent no X.509 chain;
	 * a finished handshake with its default priorities always has one (no anonymous or PSK
	 * suites, no session resumption) */
	carray *chain = mailstream_get_certificate_chain(st);
	STACK_OF(X509) *rest = sk_X509_new_null();
	X509 *leaf = NULL;
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	bool ok = false;
	snprintf(why, why_len, "TLS with %s:%s: out of memory checking its certificate", s->host, s->port);
	if (!rest || !ctx)
		goto out;
	unsigned n = chain ? carray_count(chain) : 0;
	for (unsigned i = 0; i < n; i++) {
		const MMAPString *der = carray_get(chain, i);
		const unsigned char *p = (const unsigned char *)der->str;
		X509 *x = der->len <= LONG_MAX ? d2i_X509(NULL, &p, (long)der->len) : NULL;
		if (!x || p != (const unsigned char *)der->str + der->len) {
			X509_free(x);
			snprintf(why, why_len, "TLS with %s:%s: certificate %u of the server's chain is unreadable", s->host,
			         s->port, i);
			goto out;
		}
		if (!leaf)
			leaf = x;
		else if (!sk_X509_push(rest, x)) {
			X509_free(x);
			goto out;
		}
	}
	if (!leaf) {
		snprintf(why, why_len, "TLS with %s:%s: the server showed no certificate", s->host, s->port);
		goto out;
	}
	if (X509_STORE_CTX_init(ctx, trust, leaf, rest) != 1 || X509_STORE_CTX_set_default(ctx, "ssl_server") != 1)
		goto out;
	X509_VERIFY_PARAM *vp = X509_STORE_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if ((s->ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, s->host) : X509_VERIFY_PARAM_set1_host(vp, s->host, 0)) != 1)
		goto out;
	if (X509_verify_cert(ctx) == 1) {
		ok = true;
		why[0] = 0;
	} else {
		int e = X509_STORE_CTX_get_error(ctx);
		snprintf(why, why_len, "TLS with %s:%s: server certificate not trusted: %s (depth %d)", s->host, s->port,
		         X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(ctx));
	}
out:
	X509_STORE_CTX_free(ctx);
	X509_free(leaf);
	sk_X509_pop_free(rest, X509_free);
	if (chain)
		mailstream_certificate_chain_free(chain);
	ERR_clear_error(); /* this thread's queue: nothing else reads it */
	return ok;
}

/* the trust anchors for servers' certificates: ca_file, or the system's store */
dc_err mail_tls_trust(const char *ca_file, X509_STORE **out, struct dc_errinfo *ei)
{
	X509_STORE *st = X509_STORE_new();
	if (!st)
		return DC_ERR_NOMEM;
	if (!ca_file)
		ca_file = "";
	int ok = ca_file[0] ? X509_STORE_load_file(st, ca_file) : X509_STORE_set_default_paths(st);
	ERR_clear_error();
	if (ok != 1) {
		X509_STORE_free(st);
		return dc_errinfo_set(ei, DC_ERR_IO, "ca_file: no certificate could be read from %.200s", ca_file);
	}
	*out = st;
	return DC_OK;
}

