/* Adapters against a fake host: each adapter sees only adapter.h, so a test can stand in for
 * the gateway (log, submit, post, fd watches, the outbound policy) and drive it directly. */
#include "testutil.h"

#include "door.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "adapter.h"

extern const struct gw_adapter_ops gw_ad_http, gw_ad_ws, gw_ad_pipe;

/* ---- the fake host ---- */
struct post {
	struct post *next;
	gw_host_fn *fn;
	void *arg;
};

struct fake {
	struct gw_host h;
	struct gw_limits lim;
	pthread_mutex_t mu;
	struct post *posts;
	unsigned n_log, n_submit, n_check;
	bool deny_loopback;
	uint8_t *last_data;
	size_t last_len;
	char last_tag[64];
	gw_fd_fn *watch_fn;
	void *watch_arg;
	int watch_fd;
	/* the outcome of one send */
	bool done;
	enum gw_send_result r;
	char why[300];
};

static struct fake *F(struct gw_host *h)
{
	return (struct fake *)h;
}

static void f_log(struct gw_host *h, enum gw_log_level lvl, const char *fmt, ...)
{
	(void)lvl;
	(void)fmt;
	F(h)->n_log++;
}

static dc_err f_submit(struct gw_host *h, struct gw_inbound *m, gw_ack_fn *ack, void *arg)
{
	struct fake *f = F(h);
	free(f->last_data);
	f->last_data = m->data; /* taken, as the contract says */
	f->last_len = m->len;
	m->data = NULL;
	snprintf(f->last_tag, sizeof f->last_tag, "%s", m->tag ? m->tag : "");
	f->n_submit++;
	struct gw_reply r = { .outcome = GW_ACCEPTED, .code = "", .why = "queued" };
	ack(arg, &r);
	return DC_OK;
}

static dc_err f_post(struct gw_host *h, gw_host_fn *fn, void *arg)
{
	struct fake *f = F(h);
	struct post *p = malloc(sizeof *p);
	if (!p)
		return DC_ERR_NOMEM;
	*p = (struct post){ .fn = fn, .arg = arg };
	pthread_mutex_lock(&f->mu);
	p->next = f->posts;
	f->posts = p;
	pthread_mutex_unlock(&f->mu);
	return DC_OK;
}

static dc_err f_watch(struct gw_host *h, int fd, unsigned ev, gw_fd_fn *fn, void *arg, struct gw_watch **out)
{
	(void)ev;
	F(h)->watch_fn = fn;
	F(h)->watch_arg = arg;
	F(h)->watch_fd = fd;
	*out = (struct gw_watch *)h; /* a token */
	return DC_OK;
}

static void f_watch_close(struct gw_host *h, struct gw_watch *w)
{
	(void)w;
	F(h)->watch_fn = NULL;
}

static bool f_draining(struct gw_host *h)
{
	(void)h;
	return false;
}

static dc_err f_check(struct gw_host *h, const struct sockaddr *sa, socklen_t len, bool untrusted, char *why,
                      size_t n)
{
	(void)len;
	struct fake *f = F(h);
	pthread_mutex_lock(&f->mu);
	f->n_check++;
	pthread_mutex_unlock(&f->mu);
	bool lo = sa->sa_family == AF_INET &&
	          (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (untrusted && lo && f->deny_loopback) {
		snprintf(why, n, "outbound policy: loopback (fake host)");
		return DC_ERR_DENIED;
	}
	return DC_OK;
}

static struct lws_context *f_lws(struct gw_host *h)
{
	(void)h;
	return NULL;
}

static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof *f);
	f->lim = (struct gw_limits){ .max_message_bytes = 1 << 20, .per_destination = 4, .concurrency = 16 };
	f->h = (struct gw_host){ .impl = f, .limits = &f->lim, .our_did = "did:test:gw", .log = f_log,
		                 .submit = f_submit, .post = f_post, .watch_fd = f_watch, .watch_close = f_watch_close,
		                 .draining = f_draining, .outbound_check = f_check, .lws = f_lws };
	pthread_mutex_init(&f->mu, NULL);
}

static void fake_clear(struct fake *f)
{
	for (struct post *p = f->posts, *n; p; p = n) {
		n = p->next;
		free(p);
	}
	free(f->last_data);
	pthread_mutex_destroy(&f->mu);
}

static void on_done(void *arg, enum gw_send_result r, const char *why)
{
	struct fake *f = arg;
	pthread_mutex_lock(&f->mu);
	f->r = r;
	snprintf(f->why, sizeof f->why, "%s", why ? why : "");
	f->done = true;
	pthread_mutex_unlock(&f->mu);
}

/* the loop's part: run what adapters posted until the send is done (bounded: 30 s) */
static bool wait_done(struct fake *f)
{
	for (int i = 0; i < 30000; i++) {
		pthread_mutex_lock(&f->mu);
		struct post *p = f->posts;
		f->posts = NULL;
		bool d = f->done;
		pthread_mutex_unlock(&f->mu);
		while (p) {
			struct post *n = p->next;
			p->fn(p->arg);
			free(p);
			p = n;
		}
		if (d)
			return true;
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	return false;
}

/* a section struct with its defaults, the way the gateway's parser makes it (strings too) */
static void *section(const struct gw_adapter_ops *ops, const char *const *kv)
{
	char *c = calloc(1, ops->conf_size);
	for (size_t i = 0; c && i < ops->n_keys; i++) {
		const struct gw_conf_key *k = &ops->keys[i];
		const char *v = k->def;
		for (size_t j = 0; kv && kv[j]; j += 2)
			if (strcmp(kv[j], k->key) == 0)
				v = kv[j + 1];
		if (!v)
			continue;
		switch (k->type) {
		case GW_CONF_STR:
		case GW_CONF_HOSTPORT: *(char **)(c + k->off) = strdup(v); break;
		case GW_CONF_MS: *(int64_t *)(c + k->off) = (int64_t)strtoll(v, NULL, 10) * 1000; break;
		case GW_CONF_UINT: *(unsigned *)(c + k->off) = (unsigned)strtoul(v, NULL, 10); break;
		case GW_CONF_SIZE: *(size_t *)(c + k->off) = (size_t)strtoull(v, NULL, 10) << 20; break;
		case GW_CONF_BOOL: *(bool *)(c + k->off) = strcmp(v, "yes") == 0; break;
		case GW_CONF_LIST: break;
		}
	}
	return c;
}

static void section_free(const struct gw_adapter_ops *ops, void *c)
{
	for (size_t i = 0; c && i < ops->n_keys; i++)
		if (ops->keys[i].type == GW_CONF_STR || ops->keys[i].type == GW_CONF_HOSTPORT)
			free(*(char **)((char *)c + ops->keys[i].off));
	free(c);
}

static const struct gw_envelope ENV = { .media_type = "application/didcomm-encrypted+json",
	                                .data = (const uint8_t *)"{\"ciphertext\":\"x\"}", .len = 18 };

/* ---- http ---- */
static void http_send_policy(void)
{
	struct fake f;
	fake_init(&f);
	struct dc_errinfo ei = { 0 };
	struct gw_adapter *ad = NULL;
	/* a section the adapter refuses: its reason, for the gateway's file:line */
	const char *bad[] = { "path", "inbox", NULL };
	void *cb = section(&gw_ad_http, bad);
	CU_ASSERT_EQUAL(gw_ad_http.create(cb, &f.lim, &ad, &ei), DC_ERR_INVAL);
	CU_ASSERT(strstr(ei.msg, "path") != NULL);
	section_free(&gw_ad_http, cb);
	void *c = section(&gw_ad_http, NULL);
	CU_ASSERT_EQUAL_FATAL(gw_ad_http.create(c, &f.lim, &ad, &ei), DC_OK);
	CU_ASSERT_EQUAL_FATAL(gw_ad_http.start(ad, &f.h, &ei), DC_OK);
	/* a target from a DID document at a loopback address: refused before connecting, for good */
	f.deny_loopback = true;
	struct gw_dest d;
	CU_ASSERT_FATAL(gw_dest_parse("resolved http http://127.0.0.1:9/inbox", &d));
	CU_ASSERT(d.untrusted);
	CU_ASSERT_EQUAL_FATAL(gw_ad_http.send(ad, &d, &ENV, on_done, &f), DC_OK);
	CU_ASSERT_FATAL(wait_done(&f));
	CU_ASSERT_EQUAL(f.r, GW_FAILED);
	CU_ASSERT(strstr(f.why, "outbound policy") != NULL);
	/* the operator's own target: checked (never ourselves), allowed, and port 9 refuses: retry */
	f.done = false;
	unsigned checks = f.n_check;
	CU_ASSERT_FATAL(gw_dest_parse("http http://127.0.0.1:9/inbox", &d));
	CU_ASSERT(!d.untrusted);
	CU_ASSERT_EQUAL_FATAL(gw_ad_http.send(ad, &d, &ENV, on_done, &f), DC_OK);
	CU_ASSERT_FATAL(wait_done(&f));
	CU_ASSERT_EQUAL(f.r, GW_RETRY);
	CU_ASSERT(f.n_check > checks);
	gw_ad_http.stop(ad);
	gw_ad_http.free(ad);
	section_free(&gw_ad_http, c);
	fake_clear(&f);
}

/* ---- ws ---- */
static void ws_send_policy(void)
{
	struct fake f;
	fake_init(&f);
	struct dc_errinfo ei = { 0 };
	struct gw_adapter *ad = NULL;
	void *c = section(&gw_ad_ws, NULL);
	CU_ASSERT_EQUAL_FATAL(gw_ad_ws.create(c, &f.lim, &ad, &ei), DC_OK);
	CU_ASSERT_EQUAL_FATAL(gw_ad_ws.start(ad, &f.h, &ei), DC_OK);
	f.deny_loopback = true;
	struct gw_dest d;
	CU_ASSERT_FATAL(gw_dest_parse("resolved ws ws://127.0.0.1:9/", &d));
	CU_ASSERT_EQUAL_FATAL(gw_ad_ws.send(ad, &d, &ENV, on_done, &f), DC_OK);
	CU_ASSERT_FATAL(wait_done(&f));
	CU_ASSERT_EQUAL(f.r, GW_FAILED);
	CU_ASSERT(strstr(f.why, "outbound policy") != NULL);
	gw_ad_ws.stop(ad);
	gw_ad_ws.free(ad);
	section_free(&gw_ad_ws, c);
	fake_clear(&f);
}

/* ---- pipe (tests/adapters/pipe.c) ---- */
static void pipe_in_out(void)
{
	char dir[] = "/tmp/dcpipe.XXXXXX", in[64], out[64], acks[64];
	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(in, sizeof in, "%s/in", dir);
	snprintf(out, sizeof out, "%s/out", dir);
	snprintf(acks, sizeof acks, "%s/acks", dir);
	CU_ASSERT_EQUAL_FATAL(mkfifo(in, 0600), 0);
	struct fake f;
	fake_init(&f);
	struct dc_errinfo ei = { 0 };
	struct gw_adapter *ad = NULL;
	const char *kv[] = { "in", in, "out", out, "acks", acks, "tag", "lab", NULL };
	void *c = section(&gw_ad_pipe, kv);
	CU_ASSERT_EQUAL_FATAL(gw_ad_pipe.create(c, &f.lim, &ad, &ei), DC_OK);
	CU_ASSERT_EQUAL_FATAL(gw_ad_pipe.start(ad, &f.h, &ei), DC_OK);
	CU_ASSERT_FATAL(f.watch_fn != NULL);
	/* two lines through the fifo: the watch fires, each is submitted with the tag */
	int w = open(in, O_WRONLY | O_NONBLOCK);
	CU_ASSERT_FATAL(w >= 0);
	CU_ASSERT_EQUAL(write(w, "{\"a\":1}\n{\"b\":2}\n", 16), 16);
	close(w);
	f.watch_fn(f.watch_arg, f.watch_fd, GW_FD_READ);
	CU_ASSERT_EQUAL(f.n_submit, 2);
	CU_ASSERT(f.last_len == 7 && memcmp(f.last_data, "{\"b\":2}", 7) == 0);
	CU_ASSERT_STRING_EQUAL(f.last_tag, "lab");
	FILE *a = fopen(acks, "r");
	char line[64] = "";
	CU_ASSERT_FATAL(a != NULL);
	CU_ASSERT(fgets(line, sizeof line, a) && strncmp(line, "accepted", 8) == 0);
	fclose(a);
	/* send: done() comes through the loop (a post), never from inside send() */
	struct gw_dest d;
	CU_ASSERT_FATAL(gw_dest_parse("pipe pipe:bob", &d));
	CU_ASSERT_EQUAL_FATAL(gw_ad_pipe.send(ad, &d, &ENV, on_done, &f), DC_OK);
	CU_ASSERT(!f.done);
	CU_ASSERT_FATAL(wait_done(&f));
	CU_ASSERT_EQUAL(f.r, GW_SENT);
	FILE *o = fopen(out, "r");
	char got[128] = "";
	CU_ASSERT_FATAL(o != NULL);
	CU_ASSERT(fgets(got, sizeof got, o) && strcmp(got, "pipe:bob\t{\"ciphertext\":\"x\"}\n") == 0);
	fclose(o);
	gw_ad_pipe.stop(ad);
	CU_ASSERT(f.watch_fn == NULL);
	gw_ad_pipe.free(ad);
	section_free(&gw_ad_pipe, c);
	fake_clear(&f);
	unlink(in), unlink(out), unlink(acks), rmdir(dir);
}

/* ---- destinations ---- */
static void dest_forms(void)
{
	struct gw_dest d;
	char buf[64];
	CU_ASSERT(gw_dest_parse("mqtt dev/x/inbox\tqos=1 retain=no", &d));
	CU_ASSERT_STRING_EQUAL(d.adapter, "mqtt");
	CU_ASSERT(gw_dest_target(&d, buf, sizeof buf) && strcmp(buf, "dev/x/inbox") == 0);
	CU_ASSERT(gw_dest_opt(&d, "qos", buf, sizeof buf) && strcmp(buf, "1") == 0);
	CU_ASSERT(gw_dest_opt(&d, "retain", buf, sizeof buf) && strcmp(buf, "no") == 0);
	CU_ASSERT(!gw_dest_opt(&d, "presence", buf, sizeof buf));
	CU_ASSERT(gw_dest_parse("hold did:example:bob", &d) && d.hold && !d.untrusted);
	CU_ASSERT(gw_dest_parse("resolved http https://x/", &d) && d.untrusted && !d.hold);
	CU_ASSERT(!gw_dest_parse("resolved hold did:x:y", &d)); /* a hold never comes from a document */
	CU_ASSERT(!gw_dest_parse("http", &d));
	CU_ASSERT(!gw_dest_parse("averyveryverylongadaptername x", &d));
	CU_ASSERT(gw_adapter_for_uri("HTTPS://x/") == &gw_ad_http);
	CU_ASSERT(gw_adapter_for_uri("wss://x/") == &gw_ad_ws);
	CU_ASSERT(gw_adapter_for_uri("gopher://x/") == NULL);
}

/* the listener's door: what it answers itself from the first bytes of a connection */
static void door_judge(void)
{
	bool more = false;
	const char ok[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}";
	CU_ASSERT_EQUAL(gw_door_judge(ok, sizeof ok - 1, &more), 0);
	CU_ASSERT_FALSE(more);
	CU_ASSERT_EQUAL(gw_door_judge(ok, 20, &more), 0); /* cut in a header line */
	CU_ASSERT_TRUE(more);
	CU_ASSERT_EQUAL(gw_door_judge("POST /", 6, &more), 0); /* cut in the request line */
	CU_ASSERT_TRUE(more);
	CU_ASSERT_EQUAL(gw_door_judge("GET /\n\n", 8, &more), 0); /* bare LF ends it too */
	CU_ASSERT_FALSE(more);
	static char buf[GW_DOOR_MAX_HEAD + 64];
	/* a request line over the limit, whole or still arriving */
	memset(buf, 'a', sizeof buf);
	memcpy(buf, "GET /", 5);
	CU_ASSERT_EQUAL(gw_door_judge(buf, GW_DOOR_MAX_LINE + 2, &more), 414);
	CU_ASSERT_EQUAL(gw_door_judge(buf, GW_DOOR_MAX_LINE, &more), 0);
	CU_ASSERT_TRUE(more);
	buf[GW_DOOR_MAX_LINE + 10] = '\n';
	CU_ASSERT_EQUAL(gw_door_judge(buf, GW_DOOR_MAX_LINE + 20, &more), 414);
	/* header lines: the limit, one over (before the head ends), and a head too big */
	size_t n = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < GW_DOOR_MAX_HEADERS; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "X-%d: v\r\n", i);
	CU_ASSERT_EQUAL(gw_door_judge(buf, n, &more), 0);
	CU_ASSERT_TRUE(more);
	memcpy(buf + n, "\r\n", 2);
	CU_ASSERT_EQUAL(gw_door_judge(buf, n + 2, &more), 0);
	CU_ASSERT_FALSE(more);
	memcpy(buf + n, "X-more: v\r\n", 11);
	CU_ASSERT_EQUAL(gw_door_judge(buf, n + 11, &more), 431);
	n = (size_t)snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nX-Big: ");
	memset(buf + n, 'v', sizeof buf - n);
	CU_ASSERT_EQUAL(gw_door_judge(buf, GW_DOOR_MAX_HEAD + 1, &more), 431);
	CU_ASSERT_EQUAL(gw_door_judge(buf, GW_DOOR_MAX_HEAD, &more), 0);
	CU_ASSERT_TRUE(more);
}

void init_adapters_tests(void)
{
	CU_pSuite s = CU_add_suite("adapters", NULL, NULL);
	CU_add_test(s, "http_send_policy", http_send_policy);
	CU_add_test(s, "ws_send_policy", ws_send_policy);
	CU_add_test(s, "pipe_in_out", pipe_in_out);
	CU_add_test(s, "dest_forms", dest_forms);
	CU_add_test(s, "door_judge", door_judge);
}
