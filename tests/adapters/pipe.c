/* A test-only adapter, built into test builds of the daemon (make test-daemon: registry.c with
 * GW_TEST_ADAPTERS): it proves that an adapter is one file plus a registry line, using only
 * adapters/adapter.h. Messages come in through a named pipe, one envelope per line; what the
 * gateway sends goes out as one line each, appended to a file.
 *
 *   [pipe]
 *   in /path/to/fifo        # read with the host's fd watch; each line is one message
 *   out /path/to/out.jsonl  # `pipe NAME` targets and pipe:NAME endpoints append here, one line each
 *   acks /path/to/acks.log  # one line per inbound message once the gateway has answered
 *   tag NAME                # for the rules' `tag`
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapter.h"

#define MAX_LINE (1u << 20)

struct pipe_conf {
	char *in, *out, *acks, *tag;
};

#define O(f) offsetof(struct pipe_conf, f)
static const struct gw_conf_key pipe_keys[] = {
	{ "in", GW_CONF_STR, O(in), 0, 4096, "", NULL },
	{ "out", GW_CONF_STR, O(out), 0, 4096, "", NULL },
	{ "acks", GW_CONF_STR, O(acks), 0, 4096, "", NULL },
	{ "tag", GW_CONF_STR, O(tag), 0, 64, "", NULL },
};
#undef O

struct gw_adapter {
	const struct pipe_conf *conf;
	struct gw_host *host;
	int in_fd;
	struct gw_watch *watch;
	char *buf;
	size_t len;
	pthread_mutex_t out_mu; /* send() comes from the dispatcher's threads */
	unsigned long n_in, n_acked;
	bool stopped;
};

static const char *outcome_name(enum gw_outcome o)
{
	switch (o) {
	case GW_ACCEPTED: return "accepted";
	case GW_ANSWERED: return "answered";
	case GW_REFUSED: return "refused";
	case GW_TRY_LATER: return "try-later";
	}
	return "?";
}

/* loop thread: the gateway's answer to one line */
static void pipe_ack(void *arg, const struct gw_reply *r)
{
	struct gw_adapter *ad = arg;
	ad->n_acked++;
	if (!ad->conf->acks[0])
		return;
	FILE *f = fopen(ad->conf->acks, "a");
	if (!f)
		return;
	fprintf(f, "%s %s\n", outcome_name(r->outcome), r->code && r->code[0] ? r->code : "-");
	fclose(f);
}

static void take_line(struct gw_adapter *ad, const char *line, size_t n)
{
	while (n && (line[n - 1] == '\r' || line[n - 1] == ' '))
		n--;
	if (!n)
		return;
	uint8_t *data = malloc(n);
	if (!data)
		return;
	memcpy(data, line, n);
	struct gw_inbound m = { .source = ad->conf->in, .tag = ad->conf->tag[0] ? ad->conf->tag : NULL, .data = data,
		                .len = n, .live = false };
	ad->n_in++;
	if (ad->host->submit(ad->host, &m, pipe_ack, ad) != DC_OK) {
		struct gw_reply r = { .outcome = GW_TRY_LATER, .code = "", .why = "busy" };
		pipe_ack(ad, &r);
	}
}

/* loop thread: the fifo is readable */
static void on_readable(void *arg, int fd, unsigned events)
{
	struct gw_adapter *ad = arg;
	(void)events;
	char chunk[65536];
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof chunk);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* EAGAIN, or every writer closed (the fifo stays open for the next one) */
		for (ssize_t i = 0; i < r; i++) {
			if (chunk[i] == '\n') {
				take_line(ad, ad->buf, ad->len);
				ad->len = 0;
			} else if (ad->len < MAX_LINE) {
				ad->buf[ad->len++] = chunk[i];
			}
		}
	}
}

static dc_err pipe_create(const void *conf_, const struct gw_limits *lim, struct gw_adapter **out,
                          struct dc_errinfo *ei)
{
	const struct pipe_conf *conf = conf_;
	(void)lim;
	*out = NULL;
	if (!conf->in[0] && !conf->out[0])
		return dc_errinfo_set(ei, DC_ERR_INVAL, "in or out: at least one of them");
	struct gw_adapter *ad = calloc(1, sizeof *ad);
	if (!ad || !(ad->buf = malloc(MAX_LINE))) {
		free(ad);
		return DC_ERR_NOMEM;
	}
	ad->conf = conf;
	ad->in_fd = -1;
	pthread_mutex_init(&ad->out_mu, NULL);
	*out = ad;
	return DC_OK;
}

static dc_err pipe_start(struct gw_adapter *ad, struct gw_host *host, struct dc_errinfo *ei)
{
	ad->host = host;
	if (!ad->conf->in[0])
		return DC_OK;
	/* O_RDWR: the fifo never reports EOF when a writer goes away */
	if ((ad->in_fd = open(ad->conf->in, O_RDWR | O_NONBLOCK | O_CLOEXEC)) < 0)
		return dc_errinfo_set(ei, DC_ERR_IO, "in %s: %s", ad->conf->in, strerror(errno));
	dc_err rc = host->watch_fd(host, ad->in_fd, GW_FD_READ, on_readable, ad, &ad->watch);
	if (rc)
		return dc_errinfo_set(ei, rc, "in %s: cannot watch it", ad->conf->in);
	gw_host_log(host, GW_LOG_INFO, "reading %s", ad->conf->in);
	return DC_OK;
}

/* done() goes through the loop: never from inside send() (the contract in adapter.h) */
struct sent {
	gw_send_done_fn *done;
	void *arg;
	enum gw_send_result r;
	char why[120];
};

static void sent_on_loop(void *arg)
{
	struct sent *s = arg;
	s->done(s->arg, s->r, s->why);
	free(s);
}

static dc_err pipe_send(struct gw_adapter *ad, const struct gw_dest *dest, const struct gw_envelope *env,
                        gw_send_done_fn *done, void *arg)
{
	if (!ad->conf->out[0])
		return DC_ERR_UNSUPPORTED;
	struct sent *s = calloc(1, sizeof *s);
	if (!s)
		return DC_ERR_NOMEM;
	*s = (struct sent){ .done = done, .arg = arg, .r = GW_SENT };
	if (memchr(env->data, '\n', env->len)) {
		s->r = GW_FAILED;
		snprintf(s->why, sizeof s->why, "the envelope holds a newline: not one line");
	} else {
		pthread_mutex_lock(&ad->out_mu);
		FILE *f = fopen(ad->conf->out, "a");
		bool ok = f && fprintf(f, "%.*s\t", (int)dest->target_len, dest->target) > 0 &&
		          fwrite(env->data, 1, env->len, f) == env->len && fputc('\n', f) != EOF;
		if (f && fclose(f) != 0)
			ok = false;
		pthread_mutex_unlock(&ad->out_mu);
		s->r = ok ? GW_SENT : GW_RETRY;
		snprintf(s->why, sizeof s->why, "%s", ok ? "appended" : "cannot append to the out file");
	}
	if (ad->host->post(ad->host, sent_on_loop, s) != DC_OK) {
		free(s);
		return DC_ERR_NOMEM;
	}
	return DC_OK;
}

static void pipe_stop(struct gw_adapter *ad)
{
	if (ad->stopped)
		return;
	ad->stopped = true;
	if (ad->watch)
		ad->host->watch_close(ad->host, ad->watch);
	ad->watch = NULL;
}

static void pipe_free(struct gw_adapter *ad)
{
	if (!ad)
		return;
	if (ad->in_fd >= 0)
		close(ad->in_fd);
	pthread_mutex_destroy(&ad->out_mu);
	free(ad->buf);
	free(ad);
}

static bool pipe_endpoint(const void *conf_, char *buf, size_t n)
{
	(void)conf_;
	(void)buf;
	(void)n;
	return false;
}

static const char *const pipe_schemes[] = { "pipe", NULL };
const struct gw_adapter_ops gw_ad_pipe = {
	.name = "pipe",
	.schemes = pipe_schemes,
	.flags = GW_AD_IN | GW_AD_OUT,
	.keys = pipe_keys,
	.n_keys = sizeof pipe_keys / sizeof pipe_keys[0],
	.conf_size = sizeof(struct pipe_conf),
	.create = pipe_create,
	.start = pipe_start,
	.send = pipe_send,
	.stop = pipe_stop,
	.free = pipe_free,
	.endpoint = pipe_endpoint,
};
