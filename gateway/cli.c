/* didcomm-gateway: the one command-line program.
 *   did new | did resolve | pack | unpack | run
 * Errors: one line on stderr "<command>: <what>", exit 1 (2 for usage). */
#include "gateway.h"
#include "metrics.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>
#include <sqlite3.h>

#define MAX_LIST 64

static const char *prog = "didcomm-gateway";

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: %s COMMAND [options]\n"
	        "  did new --method peer2|peer4|peer0|key [--endpoint URI]... [--routing-key DIDURL]... --secrets FILE\n"
	        "  did resolve DID [--did-docs FILE]\n"
	        "  pack --mode plaintext|signed|anoncrypt|authcrypt --to DID[,DID...] [--from DID] [--sign-from KID]\n"
	        "       [--enc A256CBC-HS512|A256GCM|XC20P] [--curve X25519|P-256|P-384|P-521] [--no-forward]\n"
	        "       [--protect-sender] [--from-prior-issuer KID|DID [--rotated-at UNIX_SECONDS]]\n"
	        "       [--did-docs FILE] [--secrets FILE] [IN|-]\n"
	        "  unpack [--did-docs FILE] [--secrets FILE] [--meta] [--no-unwrap-forward] [IN|-]\n"
	        "  send --to DID [--from DID] [--sign-from KID] [--secrets FILE] [--did-docs FILE] MSG.json\n"
	        "  rules check FILE...\n"
	        "  rules explain FILE --to DID [--from-transport T] [--sender DID] [--type T] [--media M] [--size N]\n"
	        "  import [-c CONFIG] [--state-dir DIR] [--receipt DIR] FILE...   (messages, bundles, receipts)\n"
	        "  export --to DIR [--for DID]... [--since TIME] [-c CONFIG] [--state-dir DIR]\n"
	        "  identity [-c CONFIG] [--state-dir DIR]\n"
	        "  invite [-c CONFIG] [--state-dir DIR] [--qr] [--json]   (out-of-band invitation: request mediation)\n"
	        "  queue stats|ls [--dead]|show ID|retry ID|ack ID|flush|purge --dead [-c CONFIG|--state-dir DIR]\n"
	        "  run [-c CONFIG] [-t]\n"
	        "  --version | COMMAND -h\n",
	        prog);
}

/* `COMMAND -h`: that command's synopsis and what it does */
static const struct {
	const char *cmd, *text;
} helps[] = {
	{ "did", "usage: didcomm-gateway did new --method peer2|peer4|peer0|key [--endpoint URI]... [--routing-key DIDURL]...\n"
	         "           --secrets FILE\n"
	         "       didcomm-gateway did resolve DID [--did-docs FILE]\n"
	         "did new makes a DID and adds its private keys to FILE (0600; created if missing); did resolve\n"
	         "prints a DID's document (did:key, did:peer, did:web, or from --did-docs).\n" },
	{ "pack", "usage: didcomm-gateway pack --mode plaintext|signed|anoncrypt|authcrypt --to DID[,DID...] [--from DID]\n"
	          "       [--sign-from KID] [--enc A256CBC-HS512|A256GCM|XC20P] [--curve X25519|P-256|P-384|P-521]\n"
	          "       [--no-forward] [--protect-sender] [--from-prior-issuer KID|DID [--rotated-at UNIX_SECONDS]]\n"
	          "       [--did-docs FILE] [--secrets FILE] [IN|-]\n"
	          "Packs a plaintext message, one envelope per recipient DID and line, wrapped in forwards for the\n"
	          "recipient's mediators unless --no-forward.\n" },
	{ "unpack", "usage: didcomm-gateway unpack [--did-docs FILE] [--secrets FILE] [--meta] [--no-unwrap-forward] [IN|-]\n"
	            "Opens an envelope and prints the plaintext message (--meta: with what unpacking learnt).\n" },
	{ "send", "usage: didcomm-gateway send --to DID [--from DID] [--sign-from KID] [--secrets FILE] [--did-docs FILE]\n"
	          "       [-c CONFIG] MSG.json\n"
	          "Packs and delivers one message to the recipient's first DIDCommMessaging endpoint. Exit 0\n"
	          "delivered, 3 try again later, 1 refused.\n" },
	{ "rules", "usage: didcomm-gateway rules check FILE...\n"
	           "       didcomm-gateway rules explain FILE --to DID [--from-transport T] [--sender DID] [--type T] [--media M]\n"
	           "           [--size N]\n"
	           "check reports every error as file:line:col; explain says which rule matches and what it does.\n" },
	{ "import", "usage: didcomm-gateway import [-c CONFIG] [--state-dir DIR] [--receipt DIR] FILE...\n"
	            "Takes in packed messages, bundles (verified whole first) and receipts.\n" },
	{ "export", "usage: didcomm-gateway export --to DIR [--for DID]... [--since TIME] [-c CONFIG] [--state-dir DIR]\n"
	            "Writes the messages held for pickup as one bundle in DIR; they stay held.\n" },
	{ "identity", "usage: didcomm-gateway identity [-c CONFIG] [--state-dir DIR]\n"
	              "Prints the gateway's DID (made on first use).\n" },
	{ "queue", "usage: didcomm-gateway queue stats|ls [--dead]|show ID|retry ID|ack ID|rm ID|flush|purge --dead\n"
	           "       |purge --dest GLOB [--dead]|reroute [--dest GLOB]  [-c CONFIG | --state-dir DIR]\n"
	           "Looks at and changes the queue, the daemon running or not; flush delivers what is due now;\n"
	           "reroute lets the rules in force decide again where each waiting item goes.\n" },
	{ "run", "usage: didcomm-gateway run [-c CONFIG] [-t]\n"
	         "Runs the gateway until SIGTERM (SIGHUP reloads the rules). -t checks CONFIG and prints it.\n"
	         "Under systemd (Type=notify) it says READY=1 when serving, and WATCHDOG=1 when asked.\n" },
};

/* 0 after printing cmd's help, -1 when cmd has none */
static int command_help(const char *cmd)
{
	for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++)
		if (strcmp(helps[i].cmd, cmd) == 0) {
			fputs(helps[i].text, stdout);
			printf("See didcomm-gateway(1).\n");
			return 0;
		}
	return -1;
}

static void version(void)
{
	printf("%s %s\nDIDComm Messaging v2; libsodium %s, SQLite %s, libcurl %s\n", prog, gw_version(),
	       sodium_version_string(), sqlite3_libversion(), curl_version_info(CURLVERSION_NOW)->version);
}

/* split "a,b,c" into list (pointers into s, which is modified) */
static size_t split_list(char *s, const char **list, size_t cap, size_t n)
{
	for (char *p = s; p && *p && n < cap;) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = 0;
		if (*p)
			list[n++] = p;
		p = comma ? comma + 1 : NULL;
	}
	return n;
}

struct env {
	struct dc_resolver *res;
	struct dc_keystore *ks;
	struct dc_ctx *ctx;
};

static void env_free(struct env *e)
{
	dc_ctx_free(e->ctx);
	dc_keystore_free(e->ks);
	dc_resolver_free(e->res);
}

static int env_init(struct env *e, const char *cmd, const char **docs, size_t n_docs, const char **secrets,
                    size_t n_secrets)
{
	struct dc_errinfo ei = { 0 };
	memset(e, 0, sizeof *e);
	if (dc_resolver_new(256, &e->res) || dc_keystore_new(&e->ks)) {
		fprintf(stderr, "%s: out of memory\n", cmd);
		return 1;
	}
	dc_resolver_set_fetch(e->res, gw_web_fetch, NULL);
	const char *lo = getenv("DIDCOMM_WEB_HTTP_LOOPBACK");
	dc_resolver_allow_http_loopback(e->res, lo && strcmp(lo, "1") == 0);
	for (size_t i = 0; i < n_docs; i++) {
		if (dc_resolver_add_docs_file(e->res, docs[i], &ei)) {
			fprintf(stderr, "%s: %s: %s\n", cmd, docs[i], ei.msg);
			return 1;
		}
	}
	for (size_t i = 0; i < n_secrets; i++) {
		if (dc_keystore_load_file(e->ks, secrets[i], &ei)) {
			fprintf(stderr, "%s: %s: %s\n", cmd, secrets[i], ei.msg);
			return 1;
		}
	}
	if (dc_ctx_new(e->res, e->ks, &e->ctx)) {
		fprintf(stderr, "%s: out of memory\n", cmd);
		return 1;
	}
	return 0;
}

static size_t max_input(const struct env *e)
{
	struct dc_limits l;
	dc_ctx_get_limits(e->ctx, &l);
	return l.max_message_bytes;
}

enum { O_DOCS = 256, O_SECRETS, O_MODE, O_TO, O_FROM, O_SIGN_FROM, O_ENC, O_CURVE, O_NO_FWD, O_PROTECT, O_META,
       O_METHOD, O_ENDPOINT, O_ROUTING_KEY, O_NO_UNWRAP, O_HELP, O_FROM_PRIOR, O_ROTATED_AT };

int gw_cmd_pack(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, 0, O_MODE },         { "to", required_argument, 0, O_TO },
		{ "from", required_argument, 0, O_FROM },         { "sign-from", required_argument, 0, O_SIGN_FROM },
		{ "enc", required_argument, 0, O_ENC },           { "curve", required_argument, 0, O_CURVE },
		{ "no-forward", no_argument, 0, O_NO_FWD },       { "protect-sender", no_argument, 0, O_PROTECT },
		{ "did-docs", required_argument, 0, O_DOCS },     { "secrets", required_argument, 0, O_SECRETS },
		{ "from-prior-issuer", required_argument, 0, O_FROM_PRIOR },
		{ "rotated-at", required_argument, 0, O_ROTATED_AT },
		{ "help", no_argument, 0, O_HELP },               { 0, 0, 0, 0 },
	};
	const char *docs[MAX_LIST], *secrets[MAX_LIST], *to[MAX_LIST];
	char *end = NULL;
	long long at = 0;
	size_t n_docs = 0, n_secrets = 0, n_to = 0;
	struct dc_pack_opts po = { 0 };
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_MODE:
			if (strcmp(optarg, "plaintext") == 0) po.mode = DC_PACK_PLAINTEXT;
			else if (strcmp(optarg, "signed") == 0) po.mode = DC_PACK_SIGNED;
			else if (strcmp(optarg, "anoncrypt") == 0) po.mode = DC_PACK_ANONCRYPT;
			else if (strcmp(optarg, "authcrypt") == 0) po.mode = DC_PACK_AUTHCRYPT;
			else { fprintf(stderr, "pack: unknown mode %s\n", optarg); return 2; }
			break;
		case O_TO: n_to = split_list(optarg, to, MAX_LIST, n_to); break;
		case O_FROM: po.from = optarg; break;
		case O_SIGN_FROM: po.sign_from = optarg; break;
		case O_ENC:
			if (strcmp(optarg, "A256CBC-HS512") == 0) po.enc = DC_ENC_A256CBC_HS512;
			else if (strcmp(optarg, "A256GCM") == 0) po.enc = DC_ENC_A256GCM;
			else if (strcmp(optarg, "XC20P") == 0) po.enc = DC_ENC_XC20P;
			else { fprintf(stderr, "pack: unknown enc %s\n", optarg); return 2; }
			break;
		case O_CURVE:
			po.curve = dc_crv_from_name(optarg);
			if (!po.curve || po.curve == DC_CRV_ED25519 || po.curve == DC_CRV_SECP256K1) {
				fprintf(stderr, "pack: %s is not a key-agreement curve\n", optarg);
				return 2;
			}
			break;
		case O_NO_FWD: po.no_forward = true; break;
		case O_PROTECT: po.protect_sender = true; break;
		case O_FROM_PRIOR: po.from_prior_issuer = optarg; break;
		case O_ROTATED_AT:
			errno = 0;
			at = strtoll(optarg, &end, 10);
			/* seconds since the epoch, up to the year 9999 */
			if (errno || end == optarg || *end || at <= 0 || at > 253402300799LL) {
				fprintf(stderr, "pack: --rotated-at wants seconds since the epoch, not %s\n", optarg);
				return 2;
			}
			po.rotated_at = (int64_t)at;
			break;
		case O_DOCS: if (n_docs < MAX_LIST) docs[n_docs++] = optarg; break;
		case O_SECRETS: if (n_secrets < MAX_LIST) secrets[n_secrets++] = optarg; break;
		case O_HELP: usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!po.mode) {
		fprintf(stderr, "pack: --mode is required\n");
		return 2;
	}
	if (argc - optind > 1) {
		fprintf(stderr, "pack: one input at most\n");
		return 2;
	}
	if (po.rotated_at && !po.from_prior_issuer) {
		fprintf(stderr, "pack: --rotated-at goes with --from-prior-issuer\n");
		return 2;
	}
	po.to = to;
	po.n_to = n_to;
	struct env e;
	int ret = env_init(&e, "pack", docs, n_docs, secrets, n_secrets);
	if (ret) {
		env_free(&e);
		return ret;
	}
	char *in = NULL;
	size_t len = 0;
	struct dc_errinfo ei = { 0 };
	struct dc_pack_result res = { 0 };
	const char *path = optind < argc ? argv[optind] : "-";
	dc_err rc = gw_read_input(path, max_input(&e), &in, &len);
	if (rc) {
		fprintf(stderr, "pack: %s: %s\n", path, rc == DC_ERR_IO ? strerror(errno) : dc_strerror(rc));
		ret = 1;
	} else if ((rc = dc_pack(e.ctx, in, len, &po, &res, &ei))) {
		fprintf(stderr, "pack: %s\n", ei.msg[0] ? ei.msg : dc_strerror(rc));
		ret = 1;
	} else {
		for (size_t i = 0; i < res.n; i++) {
			fwrite(res.items[i].msg, 1, res.items[i].len, stdout);
			fputc('\n', stdout);
		}
		if (fflush(stdout) != 0) {
			fprintf(stderr, "pack: writing output: %s\n", strerror(errno));
			ret = 1;
		}
	}
	dc_pack_result_clear(&res);
	free(in);
	env_free(&e);
	return ret;
}

int gw_cmd_unpack(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "did-docs", required_argument, 0, O_DOCS }, { "secrets", required_argument, 0, O_SECRETS },
		{ "meta", no_argument, 0, O_META },           { "no-unwrap-forward", no_argument, 0, O_NO_UNWRAP },
		{ "help", no_argument, 0, O_HELP },           { 0, 0, 0, 0 },
	};
	const char *docs[MAX_LIST], *secrets[MAX_LIST];
	size_t n_docs = 0, n_secrets = 0;
	bool meta = false;
	struct dc_unpack_opts uo = { .unwrap_forwards = true };
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_DOCS: if (n_docs < MAX_LIST) docs[n_docs++] = optarg; break;
		case O_SECRETS: if (n_secrets < MAX_LIST) secrets[n_secrets++] = optarg; break;
		case O_META: meta = true; break;
		case O_NO_UNWRAP: uo.unwrap_forwards = false; break;
		case O_HELP: usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "unpack: one input at most\n");
		return 2;
	}
	struct env e;
	int ret = env_init(&e, "unpack", docs, n_docs, secrets, n_secrets);
	if (ret) {
		env_free(&e);
		return ret;
	}
	char *in = NULL, *msg = NULL, *mtxt = NULL;
	size_t len = 0;
	struct dc_errinfo ei = { 0 };
	struct dc_unpack_meta *m = NULL;
	const char *path = optind < argc ? argv[optind] : "-";
	dc_err rc = gw_read_input(path, max_input(&e), &in, &len);
	if (rc) {
		fprintf(stderr, "unpack: %s: %s\n", path, rc == DC_ERR_IO ? strerror(errno) : dc_strerror(rc));
		ret = 1;
	} else if ((rc = dc_unpack(e.ctx, in, len, &uo, &msg, &m, &ei))) {
		fprintf(stderr, "unpack: %s\n", ei.msg[0] ? ei.msg : dc_strerror(rc));
		ret = 1;
	} else if (meta && dc_unpack_meta_print(m, &mtxt)) {
		fprintf(stderr, "unpack: out of memory\n");
		ret = 1;
	} else {
		free(in);
		in = NULL;
		if (meta)
			printf("{\"message\":%s,\"metadata\":%s}\n", msg, mtxt);
		else
			printf("%s\n", msg);
		if (fflush(stdout) != 0) {
			fprintf(stderr, "unpack: writing output: %s\n", strerror(errno));
			ret = 1;
		}
	}
	free(mtxt);
	free(msg);
	dc_unpack_meta_free(m);
	free(in);
	env_free(&e);
	return ret;
}

static int did_new(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "method", required_argument, 0, O_METHOD },         { "endpoint", required_argument, 0, O_ENDPOINT },
		{ "routing-key", required_argument, 0, O_ROUTING_KEY }, { "secrets", required_argument, 0, O_SECRETS },
		{ "help", no_argument, 0, O_HELP },                   { 0, 0, 0, 0 },
	};
	const char *eps[MAX_LIST], *rks[MAX_LIST], *secrets = NULL;
	struct dc_did_new_opts o = { 0 };
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_METHOD:
			if (strcmp(optarg, "peer2") == 0) o.method = DC_DID_PEER2;
			else if (strcmp(optarg, "peer4") == 0) o.method = DC_DID_PEER4;
			else if (strcmp(optarg, "peer0") == 0) o.method = DC_DID_PEER0;
			else if (strcmp(optarg, "key") == 0) o.method = DC_DID_KEY;
			else { fprintf(stderr, "did new: unknown method %s\n", optarg); return 2; }
			break;
		case O_ENDPOINT: if (o.n_endpoints < MAX_LIST) eps[o.n_endpoints++] = optarg; break;
		case O_ROUTING_KEY: if (o.n_routing_keys < MAX_LIST) rks[o.n_routing_keys++] = optarg; break;
		case O_SECRETS: secrets = optarg; break;
		case O_HELP: usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!o.method || !secrets) {
		fprintf(stderr, "did new: --method and --secrets are required\n");
		return 2;
	}
	o.endpoints = eps;
	o.routing_keys = rks;
	struct dc_keystore *ks = NULL;
	struct dc_errinfo ei = { 0 };
	char *did = NULL;
	int ret = 1;
	if (dc_keystore_new(&ks)) {
		fprintf(stderr, "did new: out of memory\n");
		return 1;
	}
	if (access(secrets, F_OK) == 0 && dc_keystore_load_file(ks, secrets, &ei)) {
		fprintf(stderr, "did new: %s: %s\n", secrets, ei.msg);
		goto out;
	}
	if (dc_did_new(&o, ks, &did, &ei)) {
		fprintf(stderr, "did new: %s\n", ei.msg[0] ? ei.msg : "failed");
		goto out;
	}
	if (dc_keystore_save_file(ks, secrets, &ei)) {
		fprintf(stderr, "did new: %s: %s\n", secrets, ei.msg);
		goto out;
	}
	printf("%s\n", did);
	ret = fflush(stdout) ? 1 : 0;
out:
	free(did);
	dc_keystore_free(ks);
	return ret;
}

static int did_resolve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "did-docs", required_argument, 0, O_DOCS }, { "help", no_argument, 0, O_HELP }, { 0, 0, 0, 0 },
	};
	const char *docs[MAX_LIST];
	size_t n_docs = 0;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_DOCS: if (n_docs < MAX_LIST) docs[n_docs++] = optarg; break;
		case O_HELP: usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "did resolve: give one DID\n");
		return 2;
	}
	struct env e;
	int ret = env_init(&e, "did resolve", docs, n_docs, NULL, 0);
	struct dc_did_doc *doc = NULL;
	struct dc_errinfo ei = { 0 };
	char *txt = NULL;
	if (ret == 0) {
		if (dc_resolve(e.res, argv[optind], &doc, &ei)) {
			fprintf(stderr, "did resolve: %s\n", ei.msg[0] ? ei.msg : "failed");
			ret = 1;
		} else if (dc_did_doc_print(doc, &txt)) {
			fprintf(stderr, "did resolve: out of memory\n");
			ret = 1;
		} else {
			printf("%s\n", txt);
		}
	}
	free(txt);
	dc_did_doc_free(doc);
	env_free(&e);
	return ret;
}

int gw_cmd_did(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "new") == 0)
		return did_new(argc - 1, argv + 1);
	if (strcmp(argv[1], "resolve") == 0)
		return did_resolve(argc - 1, argv + 1);
	fprintf(stderr, "did: unknown subcommand %s\n", argv[1]);
	return 2;
}

int main(int argc, char **argv)
{
	if (dc_init() != DC_OK) {
		fprintf(stderr, "%s: libsodium initialisation failed\n", prog);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	/* A fixed mmap threshold: big message buffers go back to the system when freed instead of
	 * staying in the heap (glibc raises the threshold after each large free otherwise). */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	/* ...and a heap that keeps up to 1 MiB free at its top. With glibc's 128 KiB the threads'
	 * heaps shrank and grew again for each message (SQLite's statement journals): an madvise
	 * per message and a TLB shootdown on every CPU (`make bench`: 2,000 a second). */
	mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0 || strcmp(cmd, "version") == 0) {
		version();
		return fflush(stdout) ? 1 : 0;
	}
	/* COMMAND ... -h | --help (before any "--"): that command's help */
	for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++)
		if ((strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) && command_help(cmd) == 0)
			return fflush(stdout) ? 1 : 0;
	if (strcmp(cmd, "did") == 0)
		return gw_cmd_did(argc - 1, argv + 1);
	if (strcmp(cmd, "pack") == 0)
		return gw_cmd_pack(argc - 1, argv + 1);
	if (strcmp(cmd, "unpack") == 0)
		return gw_cmd_unpack(argc - 1, argv + 1);
	if (strcmp(cmd, "run") == 0)
		return gw_cmd_run(argc - 1, argv + 1);
	if (strcmp(cmd, "rules") == 0)
		return gw_cmd_rules(argc - 1, argv + 1);
	if (strcmp(cmd, "queue") == 0)
		return gw_cmd_queue(argc - 1, argv + 1);
	if (strcmp(cmd, "send") == 0)
		return gw_cmd_send(argc - 1, argv + 1);
	if (strcmp(cmd, "import") == 0)
		return gw_cmd_import(argc - 1, argv + 1);
	if (strcmp(cmd, "export") == 0)
		return gw_cmd_export(argc - 1, argv + 1);
	if (strcmp(cmd, "identity") == 0)
		return gw_cmd_identity(argc - 1, argv + 1);
	if (strcmp(cmd, "invite") == 0)
		return gw_cmd_invite(argc - 1, argv + 1);
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "%s: unknown command %s\n", prog, cmd);
	usage(stderr);
	return 2;
}
