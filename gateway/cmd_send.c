/* didcomm-gateway send: the client side for users and tests. Packs MSG for the recipient
 * (authcrypt with --from, else anoncrypt), wraps it for the recipient's mediators, and
 * delivers it to the first reachable DIDCommMessaging endpoint, in the order of the DID
 * document, through the adapter for its URI scheme (the same adapters and delivery path as
 * the daemon, on a private loop: oneshot.h): http(s) (2xx = delivered), ws(s) (delivered
 * once written), file (written and renamed into the folder), and whatever else this build has. An unreachable endpoint (connection
 * refused, timeout, 5xx) moves on to the next; a refusal (4xx) ends it. The endpoint is the
 * user's own choice here: the outbound address policy's private-address rule does not apply. */
#include "conf.h"
#include "gateway.h"
#include "log.h"
#include "oneshot.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIST 64
#define MAX_SERVICES 8 /* DIDCommMessaging services tried, in document order */

int gw_cmd_send(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, 0, 't' },      { "from", required_argument, 0, 'f' },
		{ "sign-from", required_argument, 0, 'S' }, { "secrets", required_argument, 0, 's' },
		{ "did-docs", required_argument, 0, 'd' }, { "timeout", required_argument, 0, 'T' },
		{ "ca-file", required_argument, 0, 'C' },  { "config", required_argument, 0, 'c' }, { 0, 0, 0, 0 },
	};
	const char *to = NULL, *from = NULL, *sign_from = NULL, *ca = NULL, *conf_path = NULL;
	const char *secrets[MAX_LIST], *docs[MAX_LIST];
	size_t n_secrets = 0, n_docs = 0;
	long timeout_ms = 10000;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 't': to = optarg; break;
		case 'f': from = optarg; break;
		case 'S': sign_from = optarg; break;
		case 's': if (n_secrets < MAX_LIST) secrets[n_secrets++] = optarg; break;
		case 'd': if (n_docs < MAX_LIST) docs[n_docs++] = optarg; break;
		case 'C': ca = optarg; break;
		case 'c': conf_path = optarg; break;
		case 'T':
			timeout_ms = strtol(optarg, NULL, 10);
			if (timeout_ms < 100 || timeout_ms > 600000) {
				fprintf(stderr, "send: --timeout is 100..600000 ms\n");
				return 2;
			}
			break;
		default: return 2;
		}
	}
	if (!to || argc - optind != 1) {
		fprintf(stderr, "usage: send --to DID [--from DID] [--sign-from KID] [--secrets FILE] [--did-docs FILE] [-c CONFIG] MSG.json\n");
		return 2;
	}
	struct dc_resolver *res = NULL;
	struct dc_keystore *ks = NULL;
	struct gw_oneshot *os = NULL;
	struct gw_conf conf;
	struct dc_errinfo ce = { 0 };
	gw_conf_defaults(&conf);
	struct dc_ctx *ctx = NULL;
	struct dc_errinfo ei = { 0 };
	struct dc_pack_result pr = { 0 };
	char *msg = NULL;
	size_t len = 0;
	int ret = 1;
	if (dc_resolver_new(64, &res) || dc_keystore_new(&ks)) {
		fprintf(stderr, "send: out of memory\n");
		goto out;
	}
	dc_resolver_set_fetch(res, gw_web_fetch, NULL);
	for (size_t i = 0; i < n_docs; i++)
		if (dc_resolver_add_docs_file(res, docs[i], &ei)) {
			fprintf(stderr, "send: %s: %s\n", docs[i], ei.msg);
			goto out;
		}
	for (size_t i = 0; i < n_secrets; i++)
		if (dc_keystore_load_file(ks, secrets[i], &ei)) {
			fprintf(stderr, "send: %s: %s\n", secrets[i], ei.msg);
			goto out;
		}
	if (dc_ctx_new(res, ks, &ctx)) {
		fprintf(stderr, "send: out of memory\n");
		goto out;
	}
	gw_log_set_level("warn"); /* the outcome is this command's own line */
	/* the built-in adapters, with this command's timeout and trust anchor */
	char ctext[4400];
	snprintf(ctext, sizeof ctext, "[http]\ntimeout %ldms\n%s%s%s[ws]\n[file]\n", timeout_ms, ca ? "ca_file " : "",
	         ca ? ca : "", ca ? "\n" : "");
	/* -c: the adapters as the daemon configures them ([smtp] for mailto:, ca_file, AUTH ...) */
	if ((conf_path ? gw_conf_load(&conf, conf_path, &ce) : gw_conf_load_text(&conf, "send", ctext, strlen(ctext), &ce)) ||
	    gw_oneshot_new(&conf, NULL, &os, &ei)) {
		fprintf(stderr, "send: %s\n", ce.msg[0] ? ce.msg : ei.msg);
		goto out;
	}
	dc_err rc = gw_read_input(argv[optind], 32u << 20, &msg, &len);
	if (rc) {
		fprintf(stderr, "send: %s: %s\n", argv[optind], rc == DC_ERR_IO ? strerror(errno) : dc_strerror(rc));
		goto out;
	}
	/* the recipient's DIDCommMessaging services in document order: the first that takes it */
	const char *tl[] = { to };
	bool any_retry = false;
	ret = 1;
	for (size_t k = 0; k < MAX_SERVICES; k++) {
		struct dc_pack_opts po = { .mode = from ? DC_PACK_AUTHCRYPT : DC_PACK_ANONCRYPT, .to = tl, .n_to = 1,
			                   .from = from, .sign_from = sign_from, .service = k };
		dc_pack_result_clear(&pr);
		if ((rc = dc_pack(ctx, msg, len, &po, &pr, &ei))) {
			fprintf(stderr, "send: %s\n", ei.msg);
			goto out;
		}
		const char *ep = pr.n == 1 ? pr.items[0].endpoint : NULL;
		if (!ep) {
			if (k == 0)
				fprintf(stderr, "send: %s has no DIDCommMessaging endpoint\n", pr.n ? pr.items[0].to : to);
			break;
		}
		const struct gw_adapter_ops *ops = gw_adapter_for_uri(ep);
		if (!ops) {
			fprintf(stderr, "send: %s: no adapter for this transport in this build\n", ep);
			continue;
		}
		char dstr[2200], why[300];
		snprintf(dstr, sizeof dstr, "%s %s", ops->name, ep);
		struct gw_dest d;
		if (!gw_dest_parse(dstr, &d)) {
			fprintf(stderr, "send: %s: not a usable endpoint\n", ep);
			continue;
		}
		struct gw_envelope env = { .media_type = "application/didcomm-encrypted+json",
			                   .data = (const uint8_t *)pr.items[0].msg, .len = pr.items[0].len };
		enum gw_send_result r = gw_oneshot_send(os, &d, &env, timeout_ms, why, sizeof why);
		if (r == GW_SENT) {
			printf("send: delivered to %s (%s)\n", ep, why);
			ret = 0;
			break;
		}
		fprintf(stderr, "send: %s: %s (%s)\n", ep, why, r == GW_RETRY ? "try again later" : "refused");
		if (r == GW_FAILED) {
			any_retry = false; /* a refusal is an answer: no other endpoint is tried */
			break;
		}
		any_retry = true; /* unreachable: the next endpoint, if there is one */
	}
	if (ret != 0 && any_retry)
		ret = 3;
out:
	gw_oneshot_free(os);
	gw_conf_clear(&conf);
	dc_pack_result_clear(&pr);
	free(msg);
	dc_ctx_free(ctx);
	dc_keystore_free(ks);
	dc_resolver_free(res);
	return ret;
}
