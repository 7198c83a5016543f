/* The host interface for adapters (see host.h). */
#include "host.h"

#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "metrics.h"
#include "loop.h"
#include "netpolicy.h"
#include "pool.h"
#include "dispatcher.h"
#include "dc_queue.h"

static struct gw_hostimpl *impl(struct gw_host *h)
{
	return (struct gw_hostimpl *)h; /* h is the first member */
}

static void h_log(struct gw_host *h, enum gw_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void h_log(struct gw_host *h, enum gw_log_level lvl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	gw_logv(lvl, impl(h)->name, fmt, ap);
	va_end(ap);
}

static dc_err h_submit(struct gw_host *h, struct gw_inbound *m, gw_ack_fn *ack, void *arg)
{
	struct gw_hostimpl *hi = impl(h);
	if (!hi->pool) {
		free(m->data);
		m->data = NULL;
		return DC_ERR_UNSUPPORTED;
	}
	return gw_pool_submit(hi->pool, hi->name, m, ack, arg);
}

static dc_err h_post(struct gw_host *h, gw_host_fn *fn, void *arg)
{
	return gw_loop_post(impl(h)->loop, fn, arg);
}

static dc_err h_watch_fd(struct gw_host *h, int fd, unsigned events, gw_fd_fn *fn, void *arg, struct gw_watch **out)
{
	return gw_loop_watch(impl(h)->loop, fd, events, fn, arg, out);
}

static void h_watch_set(struct gw_host *h, struct gw_watch *w, unsigned events)
{
	(void)h;
	gw_loop_watch_set(w, events);
}

static void h_watch_close(struct gw_host *h, struct gw_watch *w)
{
	(void)h;
	gw_loop_watch_close(w);
}

static dc_err h_timer_start(struct gw_host *h, uint64_t after_ms, uint64_t repeat_ms, gw_host_fn *fn, void *arg,
                            struct gw_timer **out)
{
	return gw_loop_timer(impl(h)->loop, after_ms, repeat_ms, fn, arg, out);
}

static void h_timer_stop(struct gw_host *h, struct gw_timer *t)
{
	(void)h;
	gw_loop_timer_stop(t);
}

static bool h_draining(struct gw_host *h)
{
	return gw_loop_draining(impl(h)->loop);
}

static dc_err h_outbound_check(struct gw_host *h, const struct sockaddr *sa, socklen_t len, bool untrusted, char *why,
                               size_t why_len)
{
	struct gw_hostimpl *hi = impl(h);
	if (!hi->np) {
		snprintf(why, why_len, "outbound policy: no policy configured");
		return untrusted ? DC_ERR_DENIED : DC_OK;
	}
	return gw_netpolicy_check(hi->np, sa, len, untrusted, why, why_len);
}

static void h_release(struct gw_host *h, const char *key)
{
	gw_dispatcher_release(gw_pool_dispatcher(impl(h)->pool), key);
}

static bool h_exclusive(struct gw_host *h, const char *name)
{
	bool mine = false;
	struct dc_errinfo ei = { 0 };
	if (dc_queue_exclusive(gw_pool_queue(impl(h)->pool), name, &mine, &ei) != DC_OK)
		return false; /* the store cannot say: nothing could be queued either */
	return mine;
}

static dc_err h_read_secret(struct gw_host *h, const char *path, char **out, struct dc_errinfo *ei)
{
	(void)h;
	*out = NULL;
	FILE *f = fopen(path, "re");
	if (!f)
		return dc_errinfo_set(ei, DC_ERR_IO, "password_file %.200s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || (st.st_mode & 077)) {
		fclose(f);
		return dc_errinfo_set(ei, DC_ERR_DENIED, "password_file %.200s: readable by others (chmod 600)", path);
	}
	char buf[1025];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	buf[strcspn(buf, "\r\n")] = 0;
	*out = strdup(buf);
	sodium_memzero(buf, sizeof buf);
	return *out ? DC_OK : DC_ERR_NOMEM;
}

static void h_conn_state(struct gw_host *h, const char *target, enum gw_conn_state st, const char *why)
{
	gw_metrics_conn(impl(h)->name, target, st, why);
}

static struct lws_context *h_lws(struct gw_host *h)
{
	return gw_loop_lws(impl(h)->loop);
}

void gw_host_init(struct gw_hostimpl *hi, const char *name, struct gw_loop *loop, struct gw_pool *pool,
                  const struct gw_netpolicy *np, const struct gw_limits *lim, const char *our_did)
{
	*hi = (struct gw_hostimpl){ .h = { .impl = hi,
		                           .limits = lim,
		                           .our_did = our_did,
		                           .log = h_log,
		                           .submit = h_submit,
		                           .post = h_post,
		                           .watch_fd = h_watch_fd,
		                           .watch_set = h_watch_set,
		                           .watch_close = h_watch_close,
		                           .timer_start = h_timer_start,
		                           .timer_stop = h_timer_stop,
		                           .draining = h_draining,
		                           .outbound_check = h_outbound_check,
		                           .read_secret = h_read_secret,
		                           .lws = h_lws,
		                           .conn_state = h_conn_state,
		                           .release = pool && gw_pool_dispatcher(pool) ? h_release : NULL,
		                           .exclusive = pool ? h_exclusive : NULL },
		                    .name = name,
		                    .loop = loop,
		                    .pool = pool,
		                    .np = np };
}
