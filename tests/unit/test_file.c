/* The file adapter against a fake host: its [file] section checked, the extension's order,
 * claims, the ack's three outcomes, settling, in_flight, refusals (symlink, too big, empty),
 * a crash's claims taken again, inotify; outbound writes (mode, nesting, file: URIs), and the
 * trust rules for file: endpoints from DID documents. */
#include "testutil.h"

#include "adapter.h"
#include "conf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- the fake host ---------------------------------------------------------------------------- */
#define MAX_SUB 32
#define MAX_TIMERS 256
struct fsub {
	char source[512], media[64], tag[32], key[600];
	bool only_ours;
	size_t len;
	gw_ack_fn *ack;
	void *arg;
};
struct gw_timer {
	gw_host_fn *fn;
	void *arg;
	uint64_t repeat;
	bool live;
};
struct gw_watch {
	int fd;
	gw_fd_fn *fn;
	void *arg;
	bool live;
};
static struct fsub subs[MAX_SUB];
static size_t n_subs;
static struct gw_timer timers[MAX_TIMERS];
static size_t n_timers;
static struct gw_watch watch;
static dc_err submit_rc;

static void f_log(struct gw_host *h, enum gw_log_level lvl, const char *fmt, ...)
{
	(void)h;
	(void)lvl;
	(void)fmt;
}

static dc_err f_submit(struct gw_host *h, struct gw_inbound *m, gw_ack_fn *ack, void *arg)
{
	(void)h;
	free(m->data);
	if (submit_rc)
		return submit_rc;
	if (n_subs >= MAX_SUB)
		return DC_ERR_AGAIN;
	struct fsub *s = &subs[n_subs++];
	snprintf(s->source, sizeof s->source, "%s", m->source);
	snprintf(s->media, sizeof s->media, "%s", m->media_type ? m->media_type : "");
	snprintf(s->tag, sizeof s->tag, "%s", m->tag ? m->tag : "");
	snprintf(s->key, sizeof s->key, "%s", m->key ? m->key : "");
	s->only_ours = m->only_ours;
	s->len = m->len;
	s->ack = ack;
	s->arg = arg;
	return DC_OK;
}

static dc_err f_post(struct gw_host *h, gw_host_fn *fn, void *arg)
{
	(void)h;
	fn(arg);
	return DC_OK;
}

static dc_err f_watch_fd(struct gw_host *h, int fd, unsigned ev, gw_fd_fn *fn, void *arg, struct gw_watch **out)
{
	(void)h;
	(void)ev;
	watch = (struct gw_watch){ .fd = fd, .fn = fn, .arg = arg, .live = true };
	*out = &watch;
	return DC_OK;
}

static void f_watch_set(struct gw_host *h, struct gw_watch *w, unsigned ev)
{
	(void)h;
	(void)w;
	(void)ev;
}

static void f_watch_close(struct gw_host *h, struct gw_watch *w)
{
	(void)h;
	w->live = false;
}

static dc_err f_timer_start(struct gw_host *h, uint64_t after, uint64_t repeat, gw_host_fn *fn, void *arg,
                            struct gw_timer **out)
{
	(void)h;
	(void)after;
	if (n_timers >= MAX_TIMERS)
		return DC_ERR_NOMEM;
	timers[n_timers] = (struct gw_timer){ .fn = fn, .arg = arg, .repeat = repeat, .live = true };
	*out = &timers[n_timers++];
	return DC_OK;
}

static void f_timer_stop(struct gw_host *h, struct gw_timer *t)
{
	(void)h;
	t->live = false;
}

static bool f_draining(struct gw_host *h)
{
	(void)h;
	return false;
}

static struct gw_limits lim = { .max_message_bytes = 1000, .per_destination = 4, .concurrency = 16 };
static struct gw_host host = { .limits = &lim, .our_did = "did:test:gw", .log = f_log, .submit = f_submit,
	                       .post = f_post, .watch_fd = f_watch_fd, .watch_set = f_watch_set,
	                       .watch_close = f_watch_close, .timer_start = f_timer_start,
	                       .timer_stop = f_timer_stop, .draining = f_draining };

/* the one-shot timers that are due (all of them: the fake has no clock) */
static void fire_once(void)
{
	size_t n = n_timers;
	for (size_t i = 0; i < n; i++)
		if (timers[i].live && !timers[i].repeat)
			timers[i].fn(timers[i].arg);
}

static void fire_rescan(void)
{
	size_t n = n_timers;
	for (size_t i = 0; i < n; i++)
		if (timers[i].live && timers[i].repeat)
			timers[i].fn(timers[i].arg);
	fire_once();
}

static bool any_once(void)
{
	for (size_t i = 0; i < n_timers; i++)
		if (timers[i].live && !timers[i].repeat)
			return true;
	return false;
}

/* ---- helpers -------------------------------------------------------------------------------- */
static char dir[32];
static struct gw_conf conf;
static const struct gw_adapter_ops *ops;
static size_t ops_i;

static void reset(void)
{
	n_subs = 0;
	n_timers = 0;
	submit_rc = DC_OK;
	memset(&watch, 0, sizeof watch);
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s/in %s/out %s/done", dir, dir, dir, dir);
	CU_ASSERT_EQUAL(system(cmd), 0);
}

static void put(const char *rel, const char *text, int age_s)
{
	char p[256];
	snprintf(p, sizeof p, "%s/%s", dir, rel);
	FILE *f = fopen(p, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(text, f);
	CU_ASSERT_EQUAL(fclose(f), 0);
	if (age_s) {
		struct timespec ts[2];
		clock_gettime(CLOCK_REALTIME, &ts[0]);
		ts[0].tv_sec -= age_s;
		ts[1] = ts[0];
		CU_ASSERT_EQUAL(utimensat(AT_FDCWD, p, ts, 0), 0);
	}
}

static bool exists(const char *rel)
{
	char p[256];
	struct stat st;
	snprintf(p, sizeof p, "%s/%s", dir, rel);
	return lstat(p, &st) == 0;
}

/* the adapter for a [file] section; NULL with why when create refuses it */
static struct gw_adapter *make(const char *section, char *why, size_t wn)
{
	struct dc_errinfo ce = { 0 };
	char text[2048];
	snprintf(text, sizeof text, "[file]\n%s", section);
	gw_conf_clear(&conf);
	gw_conf_defaults(&conf);
	if (gw_conf_load_text(&conf, "t", text, strlen(text), &ce)) {
		snprintf(why, wn, "%s", ce.msg);
		return NULL;
	}
	struct gw_adapter *ad = NULL;
	struct dc_errinfo ei = { 0 };
	if (ops->create(conf.ad_conf[ops_i], &lim, &ad, &ei)) {
		snprintf(why, wn, "%s", ei.msg);
		return NULL;
	}
	return ad;
}

static struct gw_adapter *started(const char *section)
{
	char why[300] = "";
	struct gw_adapter *ad = make(section, why, sizeof why);
	if (!ad)
		fprintf(stderr, "\n%s\n", why);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ad);
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL_FATAL(ops->start(ad, &host, &ei), DC_OK);
	return ad;
}

static void done_(struct gw_adapter *ad)
{
	ops->stop(ad);
	ops->free(ad);
}

static const char *base(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static void ack(size_t i, enum gw_outcome o, const char *why)
{
	struct gw_reply r = { .outcome = o, .refusal = o == GW_REFUSED ? GW_REF_MALFORMED : GW_REF_NONE, .code = "e.p.x",
		              .why = why };
	subs[i].ack(subs[i].arg, &r);
}

/* ---- tests ------------------------------------------------------------------------------------ */
static void test_file_conf(void)
{
	char why[300], sec[600];
	static const struct {
		const char *sec, *want; /* want: part of the error, NULL = accepted */
	} cases[] = {
		{ "watch in\n", "absolute folder" },
		{ "watch /tmp/../etc\n", "absolute folder" },
		{ "watch /tmp/x tag\n", "DIR [tag NAME]" },
		{ "watch /tmp/x label y\n", "DIR [tag NAME]" },
		{ "watch /tmp/x tag a/b\n", "a tag is" },
		{ "watch /tmp/x\nwatch /tmp/x\n", "twice" },
		{ "after move rel\n", "absolute folder" },
		{ "after keep\n", "'delete' or 'move DIR'" },
		{ "allow_endpoint /srv/./x\n", "allow_endpoint" },
		{ "watch /tmp/x tag fleet-1\nafter move /tmp/done\nallow_endpoint /srv/drop\n", NULL },
		{ "watch /tmp/x shared tag a\nwatch /tmp/y tag b shared\nprocessed_threshold 2\n", NULL },
		{ "watch /tmp/x shared shared\n", "DIR [tag NAME] [shared]" },
		{ "watch /tmp/x tag a tag b\n", "DIR [tag NAME] [shared]" },
		{ "", NULL },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		snprintf(sec, sizeof sec, "%s", cases[i].sec);
		why[0] = 0;
		struct gw_adapter *ad = make(sec, why, sizeof why);
		if (!cases[i].want) {
			CU_ASSERT_PTR_NOT_NULL(ad);
		} else {
			CU_ASSERT_PTR_NULL(ad);
			if (!strstr(why, cases[i].want))
				fprintf(stderr, "\n%s: got '%s'\n", cases[i].sec, why);
			CU_ASSERT_PTR_NOT_NULL(strstr(why, cases[i].want));
		}
		ops->free(ad);
	}
}

static void test_file_order_and_acks(void)
{
	reset();
	put("in/b.dcem", "{\"b\":1}", 100);
	put("in/a.dcsm", "{\"a\":1}", 200);
	put("in/10--c.dcem", "{}", 300);
	put("in/2--d.dcpm", "{}", 300);
	put("in/notes.txt", "x", 300);
	put("in/x.dcem.tmp", "x", 300);
	char sec[300];
	snprintf(sec, sizeof sec, "watch %s/in tag t1\nsettle 1s\n", dir);
	struct gw_adapter *ad = started(sec);
	fire_once();
	CU_ASSERT_EQUAL_FATAL(n_subs, 4);
	CU_ASSERT_STRING_EQUAL(base(subs[0].source), "a.dcsm");
	CU_ASSERT_STRING_EQUAL(base(subs[1].source), "b.dcem");
	CU_ASSERT_STRING_EQUAL(base(subs[2].source), "2--d.dcpm");
	CU_ASSERT_STRING_EQUAL(base(subs[3].source), "10--c.dcem");
	CU_ASSERT_STRING_EQUAL(subs[0].media, "application/didcomm-signed+json");
	CU_ASSERT_STRING_EQUAL(subs[2].media, "application/didcomm-plain+json");
	CU_ASSERT_STRING_EQUAL(subs[0].tag, "t1");
	CU_ASSERT_EQUAL(subs[1].len, 7);
	/* claimed: out of the extension set while the gateway has them */
	CU_ASSERT_FALSE(exists("in/a.dcsm"));
	CU_ASSERT_FALSE(exists("in/b.dcem"));
	CU_ASSERT_TRUE(exists("in/notes.txt"));
	CU_ASSERT_TRUE(exists("in/x.dcem.tmp"));
	/* a rescan while they are in flight takes nothing twice */
	fire_rescan();
	CU_ASSERT_EQUAL(n_subs, 4);
	ack(0, GW_ACCEPTED, "queued");
	ack(1, GW_TRY_LATER, "busy");
	ack(2, GW_REFUSED, "not a DIDComm message");
	ack(3, GW_ANSWERED, "answered");
	CU_ASSERT_EQUAL(tu_dir_entries(dir), 3);
	CU_ASSERT_TRUE(exists("in/b.dcem")); /* put back for later */
	CU_ASSERT_TRUE(exists("in/2--d.dcpm.refused"));
	CU_ASSERT_TRUE(exists("in/2--d.dcpm.reason"));
	CU_ASSERT_FALSE(exists("in/10--c.dcem"));
	char p[256];
	snprintf(p, sizeof p, "%s/in/2--d.dcpm.reason", dir);
	char *reason = tu_read_file(p, NULL);
	CU_ASSERT_TRUE(reason && strstr(reason, "not a DIDComm message") != NULL);
	free(reason);
	/* left in the folder: notes.txt, x.dcem.tmp, b.dcem, and the refused pair */
	snprintf(p, sizeof p, "%s/in", dir);
	CU_ASSERT_EQUAL(tu_dir_entries(p), 5);
	done_(ad);
}

static void test_file_refusals(void)
{
	reset();
	char p[256], big[1200];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = 0;
	put("in/big.dcem", big, 100);
	put("in/empty.dcem", "", 100);
	snprintf(p, sizeof p, "%s/in/link.dcem", dir);
	CU_ASSERT_EQUAL(symlink("/etc/hostname", p), 0);
	snprintf(p, sizeof p, "%s/in/fifo.dcem", dir);
	CU_ASSERT_EQUAL(mkfifo(p, 0600), 0);
	char sec[300];
	snprintf(sec, sizeof sec, "watch %s/in\nsettle 0\n", dir);
	struct gw_adapter *ad = started(sec);
	fire_once();
	CU_ASSERT_EQUAL(n_subs, 0);
	static const char *const names[] = { "big", "empty", "link", "fifo" };
	for (size_t i = 0; i < 4; i++) {
		char r[64];
		snprintf(r, sizeof r, "in/%s.dcem.refused", names[i]);
		CU_ASSERT_TRUE(exists(r));
		snprintf(r, sizeof r, "in/%s.dcem.reason", names[i]);
		CU_ASSERT_TRUE(exists(r));
	}
	snprintf(p, sizeof p, "%s/in/big.dcem.reason", dir);
	char *reason = tu_read_file(p, NULL);
	CU_ASSERT_TRUE(reason && strstr(reason, "over max_message_bytes") != NULL);
	free(reason);
	struct stat st;
	snprintf(p, sizeof p, "%s/in/link.dcem.refused", dir);
	CU_ASSERT_TRUE(lstat(p, &st) == 0 && S_ISLNK(st.st_mode)); /* the link itself, not its target */
	done_(ad);
}

static void test_file_settle_and_window(void)
{
	reset();
	put("in/fresh.dcem", "{}", 0);
	put("in/o1.dcem", "{}", 30);
	put("in/o2.dcem", "{}", 20);
	char sec[300];
	snprintf(sec, sizeof sec, "watch %s/in\nsettle 10s\nin_flight 1\n", dir);
	struct gw_adapter *ad = started(sec);
	fire_once();
	CU_ASSERT_EQUAL_FATAL(n_subs, 1); /* in_flight 1 */
	CU_ASSERT_STRING_EQUAL(base(subs[0].source), "o1.dcem");
	fire_rescan();
	CU_ASSERT_EQUAL(n_subs, 1);
	ack(0, GW_ACCEPTED, "");
	fire_once();
	CU_ASSERT_EQUAL_FATAL(n_subs, 2);
	CU_ASSERT_STRING_EQUAL(base(subs[1].source), "o2.dcem");
	ack(1, GW_ACCEPTED, "");
	fire_once();
	CU_ASSERT_EQUAL(n_subs, 2); /* written just now: waits to settle */
	CU_ASSERT_TRUE(exists("in/fresh.dcem"));
	CU_ASSERT_TRUE(any_once()); /* and a timer is set for when it will have */
	done_(ad);
}

static void test_file_busy_and_move(void)
{
	reset();
	put("in/a.dcem", "{}", 50);
	put("in/b.dcem", "{}", 40);
	put("done/b.dcem", "{\"earlier\":1}", 40); /* an earlier one of the same name stays */
	char sec[300];
	snprintf(sec, sizeof sec, "watch %s/in\nsettle 0\nafter move %s/done\n", dir, dir);
	struct gw_adapter *ad = started(sec);
	submit_rc = DC_ERR_AGAIN; /* the gateway is full */
	fire_once();
	CU_ASSERT_EQUAL(n_subs, 0);
	CU_ASSERT_TRUE(exists("in/a.dcem")); /* put back as it was */
	CU_ASSERT_TRUE(exists("in/b.dcem"));
	submit_rc = DC_OK;
	fire_rescan();
	/* retried no sooner than a second later */
	for (int i = 0; i < 40 && n_subs < 2; i++) {
		usleep(50000);
		fire_once();
	}
	CU_ASSERT_EQUAL_FATAL(n_subs, 2);
	ack(0, GW_ACCEPTED, "");
	ack(1, GW_ACCEPTED, "");
	CU_ASSERT_TRUE(exists("done/a.dcem"));
	CU_ASSERT_TRUE(exists("done/b.dcem"));
	CU_ASSERT_TRUE(exists("done/b~1.dcem"));
	CU_ASSERT_FALSE(exists("in/a.dcem"));
	done_(ad);
}

static void test_file_nesting_and_claims(void)
{
	reset();
	char p[512];
	snprintf(p, sizeof p, "mkdir -p %s/in/t1.thid %s/in/abc.threads/abcd.thid %s/in/keep %s/in/abc.threads/other", dir,
	         dir, dir, dir);
	CU_ASSERT_EQUAL(system(p), 0);
	put("in/t1.thid/m.dcem", "{}", 50);
	put("in/abc.threads/abcd.thid/n.dcem", "{}", 40);
	put("in/keep/o.dcem", "{}", 30);
	put("in/abc.threads/other/q.dcem", "{}", 30);
	char sec[300];
	snprintf(sec, sizeof sec, "watch %s/in\nsettle 0\n", dir);
	struct gw_adapter *ad = started(sec);
	fire_once();
	CU_ASSERT_EQUAL_FATAL(n_subs, 2);
	CU_ASSERT_STRING_EQUAL(base(subs[0].source), "m.dcem");
	CU_ASSERT_STRING_EQUAL(base(subs[1].source), "n.dcem");
	char key0[600];
	snprintf(key0, sizeof key0, "%s", subs[0].key);
	CU_ASSERT(key0[0] && strstr(key0, "/in/t1.thid/m.dcem\n") && !subs[0].only_ours);
	CU_ASSERT_STRING_NOT_EQUAL(subs[0].key, subs[1].key);
	CU_ASSERT_TRUE(exists("in/keep/o.dcem"));
	CU_ASSERT_TRUE(exists("in/abc.threads/other/q.dcem"));
	/* the gateway dies with both in flight: the claims stay on disk */
	done_(ad);
	CU_ASSERT_FALSE(exists("in/t1.thid/m.dcem"));
	n_subs = 0;
	n_timers = 0;
	ad = started(sec);
	submit_rc = DC_ERR_AGAIN; /* busy at first: the claims stay claims, taken a little later */
	fire_once();
	CU_ASSERT_EQUAL(n_subs, 0);
	CU_ASSERT_FALSE(exists("in/t1.thid/m.dcem"));
	submit_rc = DC_OK;
	for (int i = 0; i < 60 && n_subs < 2; i++) {
		usleep(50000);
		fire_rescan();
	}
	CU_ASSERT_EQUAL_FATAL(n_subs, 2);
	/* taken again with the same idempotency key: the gateway acks it without a second item */
	CU_ASSERT(strcmp(subs[0].key, key0) == 0 || strcmp(subs[1].key, key0) == 0);
	ack(0, GW_ACCEPTED, "");
	ack(1, GW_ACCEPTED, "");
	snprintf(p, sizeof p, "%s/in/t1.thid", dir);
	CU_ASSERT_EQUAL(tu_dir_entries(p), 0);
	snprintf(p, sizeof p, "%s/in/abc.threads/abcd.thid", dir);
	CU_ASSERT_EQUAL(tu_dir_entries(p), 0);
	/* a later rescan does not take claims of ours that are in flight */
	put("in/r.dcem", "{}", 20);
	fire_rescan();
	CU_ASSERT_EQUAL_FATAL(n_subs, 3);
	fire_rescan();
	CU_ASSERT_EQUAL(n_subs, 3);
	ack(2, GW_ACCEPTED, "");
	done_(ad);
}

static size_t sub_of(const char *name)
{
	for (size_t i = 0; i < n_subs; i++)
		if (strcmp(base(subs[i].source), name) == 0)
			return i;
	CU_FAIL("no such submit");
	return 0;
}

static void ack_r(size_t i, enum gw_outcome o, enum gw_refusal ref, const char *multiplex)
{
	struct gw_reply r = { .outcome = o, .refusal = ref, .code = "", .why = "t", .multiplex = multiplex };
	subs[i].ack(subs[i].arg, &r);
}

static int lines_of(const char *rel)
{
	char p[256], buf[4096];
	snprintf(p, sizeof p, "%s/%s", dir, rel);
	FILE *f = fopen(p, "r");
	if (!f)
		return -1;
	int n = 0;
	while (fgets(buf, sizeof buf, f))
		n++;
	fclose(f);
	return n;
}

/* A shared duplex folder: submitted with only_ours; what is not ours is put back as it was
 * and not looked at again while unchanged; what is uniquely ours goes; a multiplex file is
 * recorded in its -processed.txt and left, and goes with its sidecar when our line reaches
 * processed_threshold; a file whose sidecar names us already is not taken; a claim left by a
 * crash after our line was written goes back without a submit */
static void test_file_shared(void)
{
	reset();
	put("in/mine.dcem", "{\"m\":1}", 60);
	put("in/theirs.dcem", "{\"t\":1}", 50);
	put("in/multi.dcem", "{\"x\":1}", 40);
	put("in/multi2.dcem", "{\"y\":1}", 30);
	put("in/multi2.dcem-processed.txt", "did:other:one#key-1\n", 30);
	put("in/done.dcem", "{\"d\":1}", 20);
	put("in/done.dcem-processed.txt", "did:other:one#key-1\ndid:test:gw#key-2\n", 20);
	char sec[300];
	snprintf(sec, sizeof sec, "watch %s/in shared\nsettle 0\nprocessed_threshold 2\n", dir);
	struct gw_adapter *ad = started(sec);
	fire_once();
	CU_ASSERT_EQUAL_FATAL(n_subs, 4); /* not done.dcem: our key is in its sidecar */
	for (size_t i = 0; i < n_subs; i++)
		CU_ASSERT_TRUE(subs[i].only_ours);
	struct stat st0, st1;
	char p[256];
	snprintf(p, sizeof p, "%s/in/theirs.dcem", dir);
	CU_ASSERT_FALSE(exists("in/theirs.dcem")); /* claimed meanwhile */
	ack_r(sub_of("theirs.dcem"), GW_REFUSED, GW_REF_NOT_OURS, NULL);
	CU_ASSERT_EQUAL_FATAL(lstat(p, &st0), 0);
	CU_ASSERT_FALSE(exists("in/theirs.dcem.refused") || exists("in/theirs.dcem.reason"));
	ack_r(sub_of("mine.dcem"), GW_ACCEPTED, GW_REF_NONE, NULL);
	CU_ASSERT_FALSE(exists("in/mine.dcem"));
	ack_r(sub_of("multi.dcem"), GW_ACCEPTED, GW_REF_NONE, "did:test:gw#key-2");
	CU_ASSERT_TRUE(exists("in/multi.dcem"));
	CU_ASSERT_EQUAL(lines_of("in/multi.dcem-processed.txt"), 1);
	ack_r(sub_of("multi2.dcem"), GW_ACCEPTED, GW_REF_NONE, "did:test:gw#key-2");
	CU_ASSERT_FALSE(exists("in/multi2.dcem")); /* our line made two: both go */
	CU_ASSERT_FALSE(exists("in/multi2.dcem-processed.txt"));
	/* looked at: not taken again while unchanged */
	fire_rescan();
	CU_ASSERT_EQUAL(n_subs, 4);
	CU_ASSERT_EQUAL(lstat(p, &st1), 0);
	CU_ASSERT(st0.st_ino == st1.st_ino && st0.st_mtim.tv_sec == st1.st_mtim.tv_sec && st0.st_size == st1.st_size);
	CU_ASSERT_TRUE(exists("in/done.dcem"));
	/* changed: looked at again */
	put("in/theirs.dcem", "{\"t\":2}", 10);
	fire_rescan();
	CU_ASSERT_EQUAL_FATAL(n_subs, 5);
	CU_ASSERT_STRING_EQUAL(base(subs[4].source), "theirs.dcem");
	ack_r(4, GW_REFUSED, GW_REF_NOT_OURS, NULL);
	done_(ad);
	/* restarted: theirs.dcem (unchanged) is looked at once more, multi.dcem is not (our line) */
	n_subs = 0;
	n_timers = 0;
	ad = started(sec);
	fire_once();
	CU_ASSERT_EQUAL_FATAL(n_subs, 1); /* theirs.dcem, looked at anew after the restart */
	ack_r(0, GW_REFUSED, GW_REF_NOT_OURS, NULL);
	done_(ad);
	/* a crash after our line, before the claim went back: at the start it goes back untaken */
	put("in/late.dcem", "{\"l\":1}", 5);
	n_subs = 0;
	n_timers = 0;
	ad = started(sec);
	fire_once();
	CU_ASSERT_EQUAL_FATAL(n_subs, 2); /* theirs.dcem again, and late.dcem */
	CU_ASSERT_STRING_EQUAL(subs[sub_of("late.dcem")].source + strlen(dir), "/in/late.dcem");
	put("in/late.dcem-processed.txt", "did:test:gw#key-2\n", 5);
	done_(ad); /* both claims stay on disk */
	CU_ASSERT_FALSE(exists("in/late.dcem"));
	n_subs = 0;
	n_timers = 0;
	ad = started(sec);
	fire_once();
	CU_ASSERT_EQUAL(n_subs, 1); /* theirs.dcem's claim is taken again; late.dcem's goes back untaken */
	CU_ASSERT_TRUE(exists("in/late.dcem"));
	if (n_subs)
		ack_r(0, GW_REFUSED, GW_REF_NOT_OURS, NULL);
	CU_ASSERT_TRUE(exists("in/theirs.dcem"));
	done_(ad);
}

/* a subfolder swapped for a symlink between the scan and the take leads nowhere */
static void test_file_swapped_folder(void)
{
	reset();
	char p[512], q[256];
	snprintf(p, sizeof p, "mkdir -p %s/in/abc.thid %s/done/abc.thid", dir, dir);
	CU_ASSERT_EQUAL(system(p), 0);
	put("in/first.dcem", "{}", 50);
	put("in/abc.thid/x.dcem", "{}", 40);
	put("done/abc.thid/x.dcem", "{\"outside\":1}", 40);
	char sec[300];
	snprintf(sec, sizeof sec, "watch %s/in\nsettle 0\nin_flight 1\n", dir);
	struct gw_adapter *ad = started(sec);
	fire_once();
	CU_ASSERT_EQUAL_FATAL(n_subs, 1); /* first.dcem; abc.thid/x.dcem listed, waiting its turn */
	snprintf(p, sizeof p, "rm -rf %s/in/abc.thid", dir);
	CU_ASSERT_EQUAL(system(p), 0);
	snprintf(p, sizeof p, "%s/in/abc.thid", dir);
	snprintf(q, sizeof q, "%s/done/abc.thid", dir);
	CU_ASSERT_EQUAL(symlink(q, p), 0);
	ack(0, GW_ACCEPTED, "");
	fire_once();
	CU_ASSERT_EQUAL(n_subs, 1);
	CU_ASSERT_TRUE(exists("done/abc.thid/x.dcem")); /* not taken, not renamed, not removed */
	snprintf(p, sizeof p, "%s/done/abc.thid", dir);
	CU_ASSERT_EQUAL(tu_dir_entries(p), 1);
	fire_rescan(); /* and a scan does not follow it */
	CU_ASSERT_EQUAL(n_subs, 1);
	done_(ad);
}

static void test_file_inotify(void)
{
	reset();
	char sec[300];
	snprintf(sec, sizeof sec, "watch %s/in\nsettle 0\n", dir);
	struct gw_adapter *ad = started(sec);
	fire_once();
	CU_ASSERT_EQUAL(n_subs, 0);
	CU_ASSERT_TRUE_FATAL(watch.live);
	put("in/new.dcem", "{}", 0);
	struct pollfd pf = { .fd = watch.fd, .events = POLLIN };
	CU_ASSERT_EQUAL_FATAL(poll(&pf, 1, 5000), 1);
	watch.fn(watch.arg, watch.fd, GW_FD_READ);
	CU_ASSERT_TRUE(any_once());
	fire_once();
	CU_ASSERT_EQUAL_FATAL(n_subs, 1);
	CU_ASSERT_STRING_EQUAL(base(subs[0].source), "new.dcem");
	ack(0, GW_ACCEPTED, "");
	done_(ad);
}

/* ---- outbound -------------------------------------------------------------------------------- */
struct wait {
	int done;
	enum gw_send_result r;
	char why[300];
};

static void on_done(void *arg, enum gw_send_result r, const char *why)
{
	struct wait *w = arg;
	w->r = r;
	snprintf(w->why, sizeof w->why, "%s", why ? why : "");
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
}

static enum gw_send_result send_to(struct gw_adapter *ad, const char *dest, const char *msg_id, int64_t qid,
                                   char *why, size_t wn)
{
	struct gw_dest d;
	CU_ASSERT_TRUE_FATAL(gw_dest_parse(dest, &d));
	static const uint8_t data[] = "{\"protected\":\"x\"}";
	struct gw_envelope env = { .queue_id = qid, .msg_id = msg_id, .media_type = "application/didcomm-encrypted+json",
		                   .data = data, .len = sizeof data - 1 };
	struct wait w = { 0 };
	CU_ASSERT_EQUAL_FATAL(ops->send(ad, &d, &env, on_done, &w), DC_OK);
	for (int i = 0; i < 1000 && !__atomic_load_n(&w.done, __ATOMIC_ACQUIRE); i++)
		usleep(10000);
	CU_ASSERT_TRUE_FATAL(__atomic_load_n(&w.done, __ATOMIC_ACQUIRE));
	snprintf(why, wn, "%s", w.why);
	return w.r;
}

static void test_file_send(void)
{
	reset();
	char sec[300], d[400], why[300], p[300];
	snprintf(sec, sizeof sec, "allow_endpoint %s/out\n", dir);
	struct gw_adapter *ad = started(sec);
	/* the rules' target: written, named by id and queue item, 0600, no temporary left */
	snprintf(d, sizeof d, "file %s/out", dir);
	CU_ASSERT_EQUAL(send_to(ad, d, "abc-1", 7, why, sizeof why), GW_SENT);
	snprintf(p, sizeof p, "%s/out/abc-1-q7.dcem", dir);
	struct stat st;
	CU_ASSERT_TRUE_FATAL(stat(p, &st) == 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	CU_ASSERT_EQUAL(st.st_size, 17);
	snprintf(p, sizeof p, "%s/out", dir);
	CU_ASSERT_EQUAL(tu_dir_entries(p), 1);
	/* the same item again (a retry): the same name, still one file */
	CU_ASSERT_EQUAL(send_to(ad, d, "abc-1", 7, why, sizeof why), GW_SENT);
	CU_ASSERT_EQUAL(tu_dir_entries(p), 1);
	/* an id that would be a path: made harmless */
	CU_ASSERT_EQUAL(send_to(ad, d, "../../x", 8, why, sizeof why), GW_SENT);
	snprintf(p, sizeof p, "%s/out/m.._.._x-q8.dcem", dir);
	CU_ASSERT_TRUE(stat(p, &st) == 0);
	/* a file: URI with a percent-escape, from a DID document, below the root */
	snprintf(p, sizeof p, "mkdir -p '%s/out/a b' %s/out/t/x.threads/y.thid", dir, dir);
	CU_ASSERT_EQUAL(system(p), 0);
	snprintf(d, sizeof d, "resolved file file://%s/out/a%%20b", dir);
	CU_ASSERT_EQUAL(send_to(ad, d, "m1", 9, why, sizeof why), GW_SENT);
	snprintf(p, sizeof p, "%s/out/a b/m1-q9.dcem", dir);
	CU_ASSERT_TRUE(stat(p, &st) == 0);
	/* a folder with .threads and .thid in it: both used */
	snprintf(d, sizeof d, "file %s/out/t", dir);
	CU_ASSERT_EQUAL(send_to(ad, d, "4edb801f", 10, why, sizeof why), GW_SENT);
	snprintf(p, sizeof p, "%s/out/t/4ed.threads/4edb801f.thid/4edb801f-q10.dcem", dir);
	CU_ASSERT_TRUE(stat(p, &st) == 0);
	/* missing folder: retry later */
	snprintf(d, sizeof d, "file %s/nope", dir);
	CU_ASSERT_EQUAL(send_to(ad, d, "m2", 11, why, sizeof why), GW_RETRY);
	/* untrusted: outside the roots, .., a symlink below the root, another host: refused for good */
	snprintf(d, sizeof d, "resolved file file://%s/done", dir);
	CU_ASSERT_EQUAL(send_to(ad, d, "m3", 12, why, sizeof why), GW_FAILED);
	CU_ASSERT_PTR_NOT_NULL(strstr(why, "allow_endpoint"));
	snprintf(d, sizeof d, "resolved file file://%s/out/../done", dir);
	CU_ASSERT_EQUAL(send_to(ad, d, "m4", 13, why, sizeof why), GW_FAILED);
	snprintf(p, sizeof p, "%s/out/esc", dir);
	snprintf(d, sizeof d, "%s/done", dir);
	CU_ASSERT_EQUAL(symlink(d, p), 0);
	snprintf(d, sizeof d, "resolved file file://%s/out/esc", dir);
	CU_ASSERT_EQUAL(send_to(ad, d, "m5", 14, why, sizeof why), GW_FAILED);
	snprintf(d, sizeof d, "resolved file file://%s/outside", dir); /* a prefix, not a folder below */
	CU_ASSERT_EQUAL(send_to(ad, d, "m6", 15, why, sizeof why), GW_FAILED);
	CU_ASSERT_EQUAL(send_to(ad, "resolved file file://host.example/srv", "m7", 16, why, sizeof why), GW_FAILED);
	snprintf(p, sizeof p, "%s/done", dir);
	CU_ASSERT_EQUAL(tu_dir_entries(p), 0);
	done_(ad);
}

static void test_file_send_no_roots(void)
{
	reset();
	char d[300], why[300];
	struct gw_adapter *ad = started("");
	snprintf(d, sizeof d, "resolved file file://%s/out", dir);
	CU_ASSERT_EQUAL(send_to(ad, d, "m", 1, why, sizeof why), GW_FAILED);
	CU_ASSERT_EQUAL(send_to(ad, "file relative/dir", "m", 2, why, sizeof why), GW_FAILED);
	snprintf(d, sizeof d, "file %s/out", dir);
	CU_ASSERT_EQUAL(send_to(ad, d, NULL, 3, why, sizeof why), GW_SENT);
	char p[300];
	struct stat st;
	snprintf(p, sizeof p, "%s/out/q3.dcem", dir);
	CU_ASSERT_TRUE(stat(p, &st) == 0);
	ops->stop(ad);
	struct gw_dest dd;
	CU_ASSERT_TRUE(gw_dest_parse(d, &dd));
	struct gw_envelope env = { .data = (const uint8_t *)"x", .len = 1 };
	CU_ASSERT_EQUAL(ops->send(ad, &dd, &env, on_done, NULL), DC_ERR_AGAIN);
	ops->free(ad);
}

static int file_init(void)
{
	snprintf(dir, sizeof dir, "/tmp/dcfile.XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	for (ops_i = 0; gw_adapters[ops_i] && strcmp(gw_adapters[ops_i]->name, "file"); ops_i++)
		;
	ops = gw_adapters[ops_i];
	gw_conf_defaults(&conf);
	return ops ? 0 : 1;
}

static int file_clear(void)
{
	gw_conf_clear(&conf);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}

void init_file_tests(void)
{
	CU_pSuite s = CU_add_suite("file", file_init, file_clear);
	TU_ADD(s, test_file_conf);
	TU_ADD(s, test_file_order_and_acks);
	TU_ADD(s, test_file_refusals);
	TU_ADD(s, test_file_settle_and_window);
	TU_ADD(s, test_file_busy_and_move);
	TU_ADD(s, test_file_nesting_and_claims);
	TU_ADD(s, test_file_swapped_folder);
	TU_ADD(s, test_file_inotify);
	TU_ADD(s, test_file_shared);
	TU_ADD(s, test_file_send);
	TU_ADD(s, test_file_send_no_roots);
}
