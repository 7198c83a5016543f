/* Opening the gateway's state (see state.h). */
#include "state.h"
#include "log.h"
#include "mediator.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway.h"

/* path gets data in a new file: a temporary created O_EXCL 0600 beside it, synced and renamed
 * over (so a broken file is replaced whole). errno on failure. */
static int write_private_file(const char *path, const char *data)
{
	char tmp[4300];
	snprintf(tmp, sizeof tmp, "%s.new-%ld", path, (long)getpid());
	unlink(tmp); /* ours: left by an earlier run with this pid that died half-way */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return errno;
	size_t len = strlen(data), off = 0;
	int err = fchmod(fd, 0600) != 0 ? errno : 0;
	while (!err && off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			err = w < 0 ? errno : EIO;
		else
			off += (size_t)w;
	}
	if (!err && fsync(fd) != 0)
		err = errno;
	if (close(fd) != 0 && !err)
		err = errno;
	if (!err && rename(tmp, path) != 0)
		err = errno;
	if (err)
		unlink(tmp);
	return err;
}

/* The DID whose private keys the keystore holds: every kid is a DID URL (DID#fragment) of the
 * same DID. A did:peer:4 keystore also holds its keys under the short form's kids
 * (did_new.c): the short form did:peer:4H is a prefix of the long one, did:peer:4H:DOC, and the
 * long one is the DID. 1 with a message when there is no such DID, or more than one. */
static dc_err did_of_keystore(const struct dc_keystore *ks, const char *secrets, char **out, struct dc_errinfo *ei)
{
	*out = NULL;
	const char *did = NULL, *other = NULL;
	size_t did_len = 0, other_len = 0;
	for (size_t i = 0; i < dc_keystore_count(ks); i++) {
		const char *kid = dc_key_kid(dc_keystore_at(ks, i));
		const char *hash = kid ? strchr(kid, '#') : NULL;
		if (!hash || strncmp(kid, "did:", 4) != 0 || hash == kid + 4) {
			return dc_errinfo_set(ei, DC_ERR_IO, "%s: key %zu has no DID URL for its kid (%.80s): cannot tell the gateway's DID; "
			        "restore did.txt", secrets, i + 1, kid ? kid : "none");
		}
		size_t n = (size_t)(hash - kid);
		if (!did || (n == did_len && strncmp(kid, did, n) == 0)) {
			did = kid;
			did_len = n;
		} else if (!other || (n == other_len && strncmp(kid, other, n) == 0)) {
			other = kid;
			other_len = n;
		} else {
			other_len = 0; /* a third DID */
			break;
		}
	}
	if (did && other) {
		/* the short and the long form of one did:peer:4 */
		const char *s = did_len < other_len ? did : other, *l = did_len < other_len ? other : did;
		size_t sl = did_len < other_len ? did_len : other_len, ll = did_len < other_len ? other_len : did_len;
		if (other_len && strncmp(s, "did:peer:4", 10) == 0 && ll > sl && strncmp(s, l, sl) == 0 && l[sl] == ':') {
			did = l;
			did_len = ll;
			other = NULL;
		}
	}
	if (!did || other) {
		return dc_errinfo_set(ei, DC_ERR_IO, "%s holds %s: cannot tell the gateway's DID; restore did.txt", secrets,
		        did ? "the keys of more than one DID" : "no keys");
	}
	if (!(*out = strndup(did, did_len))) {
		return dc_errinfo_set(ei, DC_ERR_NOMEM, "out of memory");
	}
	return DC_OK;
}

/* The identity: did.txt (the DID) and secrets.json (its private keys). secrets.json is never
 * replaced: a lost identity cannot be had back, and agents know this DID. Without did.txt the
 * DID is read back from the kids of the secrets; without either, a new identity is made. */
static dc_err identity(struct gw_state *s, struct dc_errinfo *ei)
{
	char secrets[4200], didfile[4200];
	struct dc_errinfo e2 = { 0 };
	snprintf(secrets, sizeof secrets, "%s/secrets.json", s->conf.state_dir);
	snprintf(didfile, sizeof didfile, "%s/did.txt", s->conf.state_dir);
	size_t len = 0;
	if (gw_read_input(didfile, 1 << 16, &s->did, &len) == DC_OK && len > 4) {
		s->did[strcspn(s->did, "\r\n")] = 0;
		if (dc_keystore_load_file(s->ks, secrets, &e2)) {
			return dc_errinfo_set(ei, DC_ERR_IO, "%s: %s", secrets, e2.msg);
		}
		return DC_OK;
	}
	free(s->did);
	s->did = NULL;
	char line[4200];
	struct stat st;
	if (lstat(secrets, &st) == 0 || errno != ENOENT) {
		if (dc_keystore_load_file(s->ks, secrets, &e2)) {
			return dc_errinfo_set(ei, DC_ERR_IO, "%s: %s (did.txt is missing; the secrets are kept as they are)", secrets,
			        e2.msg);
		}
		dc_err rc = did_of_keystore(s->ks, secrets, &s->did, ei);
		if (rc)
			return rc;
		snprintf(line, sizeof line, "%s\n", s->did);
		int err = write_private_file(didfile, line);
		if (err) {
			return dc_errinfo_set(ei, DC_ERR_IO, "%s: %s", didfile, strerror(err));
		}
		snprintf(s->notice, sizeof s->notice, "%.250s was missing: written again from the keys in %.250s", didfile, secrets);
		return DC_OK;
	}
	struct dc_did_new_opts o = { .method = DC_DID_PEER2, .endpoints = s->endpoints, .n_endpoints = s->n_endpoints };
	char tmp[4300];
	snprintf(tmp, sizeof tmp, "%s.new-%ld", secrets, (long)getpid());
	if (dc_did_new(&o, s->ks, &s->did, &e2) || dc_keystore_save_file(s->ks, tmp, &e2)) {
		return dc_errinfo_set(ei, DC_ERR_IO, "creating the gateway identity: %s", e2.msg);
	}
	/* link: the new secrets take the name only if nothing holds it (rename would replace) */
	int err = chmod(tmp, 0600) != 0 || link(tmp, secrets) != 0 ? errno : 0;
	unlink(tmp);
	if (err) {
		return dc_errinfo_set(ei, DC_ERR_IO, "%s: %s%s", secrets, strerror(err),
		                      err == EEXIST ? " (made meanwhile by another process; start again)" : "");
	}
	snprintf(line, sizeof line, "%s\n", s->did);
	if ((err = write_private_file(didfile, line))) {
		return dc_errinfo_set(ei, DC_ERR_IO, "%s: %s", didfile, strerror(err));
	}
	return DC_OK;
}

/* a dead letter the store made itself (expired, or max_age at a retry or a claim): the
 * message's outcome, one line like the dispatcher's for a delivery that failed for good */
static void dead_letter(void *arg, int64_t id, const char *msg_id, const char *dest, const char *reason)
{
	(void)arg;
	gw_log(GW_LOG_WARN, "dispatch", "#%lld %s to %s: %s (dead letter)", (long long)id, msg_id ? msg_id : "-",
	       dest ? dest : "(none)", reason ? reason : "unknown");
}

/* this gateway's name among those sharing a PostgreSQL queue: the configured one, else
 * host:state_dir (stable across restarts, so a start-up finds its own leases; two gateways
 * have two state directories) */
static void instance_name(const struct gw_conf *c, const char *state_dir, char *out, size_t n)
{
	if (c->queue_instance[0]) {
		snprintf(out, n, "%s", c->queue_instance);
		return;
	}
	char host[256] = "";
	if (gethostname(host, sizeof host - 1) != 0)
		snprintf(host, sizeof host, "localhost");
	char *real = realpath(state_dir, NULL);
	const char *dir = real ? real : state_dir;
	if (strlen(host) + 1 + strlen(dir) < 200) {
		snprintf(out, n, "%.199s:%.199s", host, dir);
	} else { /* too long to name a lease: the directory's hash stands for it */
		unsigned char h[16];
		char hex[33];
		crypto_generichash(h, sizeof h, (const unsigned char *)dir, strlen(dir), NULL, 0);
		sodium_bin2hex(hex, sizeof hex, h, sizeof h);
		snprintf(out, n, "%.150s:%s", host, hex);
	}
	free(real);
}

dc_err gw_queue_open(const struct gw_conf *c, const char *state_dir, struct dc_queue **q, struct dc_errinfo *ei)
{
	/* the daemon shares one connection between its threads: a bigger log between checkpoints
	 * means fewer fsyncs in their way */
	struct dc_queue_opts qo = { .max_items = c->queue_max_items, .max_item_bytes = c->max_message_bytes * 2,
		                    .retry_base_ms = c->retry_base_ms, .retry_max_ms = c->retry_max_ms,
		                    .max_age_ms = c->max_age_ms, .sync_full = c->queue_sync_full,
		                    .checkpoint_pages = 1000, .blob_min_bytes = c->queue_files_from,
		                    .dead_fn = dead_letter };
	if (strcmp(c->queue_backend, "postgres") == 0) {
		char inst[512];
		instance_name(c, state_dir, inst, sizeof inst);
		return dc_queue_open_pg(c->queue_url, c->queue_password_file[0] ? c->queue_password_file : NULL, &qo, inst,
		                        q, ei);
	}
	char qpath[4200];
	snprintf(qpath, sizeof qpath, "%s/queue.db", state_dir);
	/* SQLite takes an empty file for a new store: a queue.db emptied by accident would look
	 * like a queue with nothing in it, and what it held would be gone without a word */
	struct stat st;
	if (stat(qpath, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0)
		return dc_errinfo_set(ei, DC_ERR_IO,
		                      "queue: %.300s is empty (0 bytes), not a queue: restore it, or remove it "
		                      "to start with an empty queue", qpath);
	bool existed = stat(qpath, &st) == 0;
	dc_err rc = dc_queue_open_sqlite(qpath, &qo, q, ei);
	/* e.g. "file is not a database": say what to do about it */
	if (rc == DC_ERR_IO && existed && ei && strlen(ei->msg) < sizeof ei->msg - 1)
		snprintf(ei->msg + strlen(ei->msg), sizeof ei->msg - strlen(ei->msg),
		         "; not opening a damaged queue: restore it from a backup, or move it away to start with an empty one");
	return rc;
}

dc_err gw_state_lock(struct gw_state *s, struct dc_errinfo *ei)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/lock", s->conf.state_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fchmod(fd, 0600) != 0) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		return dc_errinfo_set(ei, DC_ERR_IO, "%s: %s", path, strerror(err));
	}
	int r;
	while ((r = flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR)
		;
	if (r != 0) {
		int err = errno;
		char pid[32] = "";
		ssize_t n = err == EWOULDBLOCK ? pread(fd, pid, sizeof pid - 1, 0) : -1;
		pid[n > 0 ? n : 0] = 0;
		pid[strcspn(pid, "\r\n")] = 0;
		close(fd);
		if (err == EWOULDBLOCK)
			return dc_errinfo_set(ei, DC_ERR_DENIED, "%s is in use by another gateway (pid %s, holding %s); one "
			                      "gateway per state directory", s->conf.state_dir, pid[0] ? pid : "unknown", path);
		return dc_errinfo_set(ei, DC_ERR_IO, "locking %s: %s", path, strerror(err));
	}
	char pid[32];
	int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
		int err = errno;
		close(fd);
		return dc_errinfo_set(ei, DC_ERR_IO, "%s: %s", path, strerror(err));
	}
	s->lock_fd = fd;
	s->locked = true;
	return DC_OK;
}

dc_err gw_state_check_queue(struct gw_state *s, struct dc_errinfo *ei)
{
	struct dc_errinfo e2 = { 0 };
	dc_err rc = dc_queue_check(s->q, &e2);
	if (rc)
		return dc_errinfo_set(ei, rc, "%.120s; not starting on a damaged queue: restore it from a backup, or move it "
		                      "away to start with an empty one", e2.msg);
	return DC_OK;
}

dc_err gw_state_open(struct gw_state *s, const char *conf_path, const char *state_dir, struct dc_errinfo *ei)
{
	dc_err rc;
	memset(s, 0, sizeof *s);
	gw_conf_defaults(&s->conf);
	if ((rc = conf_path ? gw_conf_load(&s->conf, conf_path, ei) :
	                      gw_conf_load_text(&s->conf, "(built-in)", GW_CONF_BUILTIN, strlen(GW_CONF_BUILTIN), ei)))
		return rc;
	s->n_endpoints = gw_conf_endpoints(&s->conf, s->endpoint_buf, GW_STATE_MAX_ENDPOINTS);
	for (size_t i = 0; i < GW_MAX_ADAPTERS && gw_adapters[i]; i++)
		s->adapter_on[i] = s->conf.ad_conf[i] != NULL;
	for (size_t i = 0; i < s->n_endpoints; i++)
		s->endpoints[i] = s->endpoint_buf[i];
	if (state_dir) {
		char *d = strdup(state_dir);
		if (!d)
			return dc_errinfo_set(ei, DC_ERR_NOMEM, "out of memory");
		free(s->conf.state_dir);
		s->conf.state_dir = d;
	}
	if (mkdir(s->conf.state_dir, 0700) != 0 && errno != EEXIST) {
		return dc_errinfo_set(ei, DC_ERR_IO, "%s: %s", s->conf.state_dir, strerror(errno));
	}
	if (dc_resolver_new(1024, &s->res) || dc_keystore_new(&s->ks)) {
		return dc_errinfo_set(ei, DC_ERR_NOMEM, "out of memory");
	}
	dc_resolver_set_fetch(s->res, gw_web_fetch, NULL);
	if ((rc = identity(s, ei)))
		return rc;
	if (dc_ctx_new(s->res, s->ks, &s->ctx))
		return dc_errinfo_set(ei, DC_ERR_NOMEM, "out of memory");
	if ((rc = gw_queue_open(&s->conf, s->conf.state_dir, &s->q, ei)))
		return rc;
	/* a shared queue serves one identity: the first gateway records it, the others must match */
	if ((rc = dc_queue_identity(s->q, s->did, ei)))
		return rc;
	struct rule_diag *d = NULL;
	size_t nd = 0;
	rc = s->conf.rules[0] ? rule_set_parse_file(s->conf.rules, &s->rules, &d, &nd) :
	                               rule_set_parse_text("(built-in rules)", RULE_BUILTIN_TEXT, strlen(RULE_BUILTIN_TEXT),
	                                                   &s->rules, &d, &nd);
	for (size_t i = 0; i < nd; i++)
		rule_diag_print(stderr, s->conf.rules[0] ? s->conf.rules : "(built-in rules)", &d[i]);
	free(d);
	if (rc)
		return dc_errinfo_set(ei, rc, "the rules have errors (above); nothing was changed");
	return DC_OK;
}

void gw_state_close(struct gw_state *s)
{
	if (s->locked)
		close(s->lock_fd); /* the lock goes with it */
	rule_set_free(s->rules);
	dc_queue_close(s->q);
	dc_ctx_free(s->ctx);
	dc_keystore_free(s->ks);
	dc_resolver_free(s->res);
	free(s->did);
	gw_conf_clear(&s->conf);
	memset(s, 0, sizeof *s);
}

void gw_state_ingest_cfg(const struct gw_state *s, struct gw_ingest_cfg *g)
{
	memset(g, 0, sizeof *g);
	g->dc = s->ctx;
	g->q = s->q;
	g->rules = s->rules;
	g->max_bytes = s->conf.max_message_bytes;
	g->proto.our_did = s->did;
	g->proto.max_receive_bytes = s->conf.max_message_bytes;
	g->our_endpoints = s->endpoints;
	g->n_endpoints = s->n_endpoints;
	g->max_hops = s->conf.max_hops;
	g->loop_window_ms = s->conf.loop_window_ms;
	g->adapter_on = s->adapter_on;
	g->med = s->med;
	if (s->med)
		g->proto.protocols = gw_med_protocols;
}

int gw_state_args(int argc, char **argv, const char **conf, const char **state_dir)
{
	static const struct option opts[] = { { "config", required_argument, 0, 'c' },
		                              { "state-dir", required_argument, 0, 's' },
		                              { 0, 0, 0, 0 } };
	int c;
	*conf = *state_dir = NULL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (c == 'c')
			*conf = optarg;
		else if (c == 's')
			*state_dir = optarg;
		else
			return -1;
	}
	return optind;
}

int gw_state_open_cmd(struct gw_state *s, const char *cmd, const char *conf_path, const char *state_dir)
{
	struct dc_errinfo ei = { 0 };
	dc_err rc = gw_state_open(s, conf_path, state_dir, &ei);
	if (s->notice[0])
		fprintf(stderr, "%s: %s\n", cmd, s->notice);
	if (rc)
		fprintf(stderr, "%s: %s\n", cmd, ei.msg[0] ? ei.msg : dc_strerror(rc));
	return rc ? 1 : 0;
}
