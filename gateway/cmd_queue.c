/* didcomm-gateway queue stats | ls [--dead] | show ID | retry ID | ack ID | purge --dead | reroute [--dest GLOB]
 * Works on a running or a stopped gateway: SQLite's WAL lets a second connection read and
 * make small changes while the daemon writes (busy_timeout covers the overlap). */
#include "conf.h"
#include "dc_queue.h"
#include "gateway.h"
#include "ingest.h"
#include "mediator.h"
#include "oneshot.h"
#include "state.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void iso(int64_t ms, char *buf, size_t n)
{
	if (ms <= 0) {
		snprintf(buf, n, "-");
		return;
	}
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* `queue flush`: one delivery pass over what is due now, through the configured adapters
 * (the daemon's delivery path, one item at a time), recording each outcome */
static int flush(struct dc_queue *q, const struct gw_conf *conf, size_t max)
{
	struct dc_errinfo ei = { 0 };
	struct gw_oneshot *os = NULL;
	if (gw_oneshot_new(conf, NULL, &os, &ei)) {
		fprintf(stderr, "queue: %s\n", ei.msg);
		return 1;
	}
	struct dc_queue_item *items = NULL;
	size_t n = 0, sent = 0, retried = 0, failed = 0;
	long timeout_ms = 10000;
	dc_err rc = dc_queue_claim(q, now_ms(), max, conf->per_dest_limit, timeout_ms * 2 + 5000, &items, &n, &ei);
	for (size_t i = 0; i < n && rc == DC_OK; i++) {
		const struct dc_queue_item *it = &items[i];
		struct gw_dest d;
		char why[300] = "";
		enum gw_send_result r;
		if (!gw_dest_parse(it->dest, &d)) {
			r = GW_FAILED;
			snprintf(why, sizeof why, "bad destination %.100s", it->dest ? it->dest : "(none)");
		} else if (d.hold) {
			r = GW_FAILED;
			snprintf(why, sizeof why, "%s", GW_HOLD_RAN_OUT);
		} else if (it->expires_ms && it->expires_ms <= now_ms()) {
			r = GW_FAILED;
			snprintf(why, sizeof why, "expired (expires_time passed)");
		} else {
			struct gw_envelope env = { .queue_id = it->id, .msg_id = it->msg_id, .media_type = it->media_type,
				                   .data = it->data, .len = it->len, .expires_ms = it->expires_ms };
			r = gw_oneshot_send(os, &d, &env, timeout_ms, why, sizeof why);
		}
		if (r == GW_SENT) {
			rc = dc_queue_ack(q, it->id, &ei);
			sent++;
		} else if (r == GW_RETRY) {
			rc = dc_queue_retry_later(q, it->id, now_ms(), why, &ei);
			retried++;
		} else if (r == GW_HELD) { /* not from a one-shot host (no release), but kept if it comes */
			rc = dc_queue_hold(q, it->id, why, &ei);
			retried++;
		} else {
			rc = dc_queue_fail(q, it->id, now_ms(), why, &ei);
			failed++;
		}
	}
	dc_queue_items_free(items, n);
	gw_oneshot_free(os);
	if (rc) {
		fprintf(stderr, "queue: %s\n", ei.msg);
		return 1;
	}
	printf("queue: flush: %zu sent, %zu to retry later, %zu failed\n", sent, retried, failed);
	return 0;
}

/* a destination for one line: "adapter target" and its options after a blank, not a tab */
static void show_dest(const char *d, char *buf, size_t n)
{
	snprintf(buf, n, "%s", d ? d : "-");
	for (char *p = buf; *p; p++)
		if (*p == '\t')
			*p = ' ';
}

/* `queue reroute`: the current rules (the rules file the configuration names, the one SIGHUP
 * reloads) decide again for every waiting item (whose destination matches glob), as if its
 * message had just arrived; each move is one transaction of its own (dc_queue_redest), made
 * only if the item is still waiting with the destination it was read with, so the daemon may
 * run meanwhile. In flight and dead items are not touched. */
static int reroute(const char *conf_path, const char *state, const char *glob)
{
	struct gw_state s;
	if (gw_state_open_cmd(&s, "queue", conf_path, state)) {
		gw_state_close(&s);
		return 1;
	}
	/* the mediator's registrations (as the daemon reads them at start): a recipient registered
	 * now is held for its client's pickup, before any rule */
	struct dc_errinfo me = { 0 };
	if (gw_med_new(s.q, s.did, s.conf.med_policy, s.conf.med_hold_ms, &s.med, &me) != DC_OK) {
		fprintf(stderr, "queue: reroute: the mediator's registrations: %s (items for them are left where they are)\n",
		        me.msg[0] ? me.msg : "cannot be read");
		s.med = NULL;
	}
	struct gw_ingest_cfg g;
	gw_state_ingest_cfg(&s, &g);
	size_t moved = 0, same = 0, left = 0, seen = 0;
	int64_t after = 0;
	int ret = 0;
	struct dc_errinfo ei = { 0 };
	for (;;) {
		struct dc_queue_item *items = NULL;
		size_t n = 0;
		if (dc_queue_list(s.q, false, after, 256, &items, &n, &ei)) {
			fprintf(stderr, "queue: %s\n", ei.msg);
			ret = 1;
			break;
		}
		if (n == 0) {
			dc_queue_items_free(items, n);
			break;
		}
		after = items[n - 1].id;
		for (size_t i = 0; i < n; i++) {
			if (glob && !rule_glob(glob, items[i].dest ? items[i].dest : ""))
				continue;
			seen++;
			struct dc_queue_item it;
			struct dc_errinfo ie = { 0 };
			char from[600], to[600];
			dc_err grc = dc_queue_get(s.q, items[i].id, &it, &ie);
			if (grc) {
				if (grc == DC_ERR_NOT_FOUND) /* delivered meanwhile */
					continue;
				printf("queue: #%" PRId64 " left: %s\n", items[i].id, ie.msg);
				left++;
				continue;
			}
			if (it.dead) { /* died meanwhile */
				dc_queue_item_clear(&it);
				continue;
			}
			show_dest(it.dest, from, sizeof from);
			struct gw_replan rp;
			if (gw_ingest_replan(&g, it.facts, it.data, it.len, it.expires_ms, &rp, &ie)) {
				printf("queue: #%" PRId64 " %s: left: %s\n", it.id, from, ie.msg);
				left++;
			} else if (it.dest && strcmp(rp.dest, it.dest) == 0) {
				same++; /* the current rules send it where it goes already */
			} else {
				char why[700];
				show_dest(rp.dest, to, sizeof to);
				snprintf(why, sizeof why, "rerouted from %.600s", from);
				struct dc_queue_redest r = { .from = it.dest ? it.dest : "", .dest = rp.dest, .data = rp.data,
					                     .len = rp.len, .now_ms = now_ms(), .next_ms = rp.next_ms, .why = why,
					                     .els = rp.els, .n_els = rp.n_els };
				dc_err rc = dc_queue_redest(s.q, it.id, &r, &ie);
				if (rc == DC_OK) {
					printf("queue: #%" PRId64 " %s -> %s (rule %s)%s\n", it.id, from, to, rp.rule,
					       it.held ? " (was held for presence)" : "");
					moved++;
				} else if (rc == DC_ERR_NOT_FOUND) {
					/* delivered or dead meanwhile: nothing to move */
				} else {
					printf("queue: #%" PRId64 " %s: left: %s\n", it.id, from, ie.msg);
					left++;
					if (rc != DC_ERR_AGAIN)
						ret = 1;
				}
			}
			gw_replan_clear(&rp);
			dc_queue_item_clear(&it);
		}
		dc_queue_items_free(items, n);
	}
	printf("queue: reroute: %zu moved, %zu already where the rules send them, %zu left where they were "
	       "(of %zu waiting%s%s)\n", moved, same, left, seen, glob ? " for " : "", glob ? glob : "");
	gw_med_free(s.med);
	s.med = NULL;
	gw_state_close(&s);
	return ret;
}

static bool parse_id(const char *s, int64_t *id)
{
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || !end || *end || v <= 0)
		return false;
	*id = v;
	return true;
}

int gw_cmd_queue(int argc, char **argv)
{
	static const struct option opts[] = { { "config", required_argument, 0, 'c' },
		                              { "state-dir", required_argument, 0, 's' },
		                              { "dead", no_argument, 0, 'd' },
		                              { "dest", required_argument, 0, 'D' },
		                              { "limit", required_argument, 0, 'n' },
		                              { 0, 0, 0, 0 } };
	const char *conf_path = NULL, *state = NULL;
	bool dead = false;
	const char *dest_glob = NULL;
	long limit = 50;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (c) {
		case 'c': conf_path = optarg; break;
		case 's': state = optarg; break;
		case 'd': dead = true; break;
		case 'D': dest_glob = optarg; break;
		case 'n':
			limit = strtol(optarg, NULL, 10);
			if (limit < 1 || limit > 1000) {
				fprintf(stderr, "queue: --limit is 1..1000\n");
				return 2;
			}
			break;
		default: return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: queue stats|ls [--dead]|show ID|retry ID|ack ID|rm ID|flush|purge --dead|purge --dest GLOB [--dead]"
		                "|reroute [--dest GLOB] "
		                "[-c CONF|--state-dir DIR]\n");
		return 2;
	}
	const char *sub = argv[optind];
	if (strcmp(sub, "reroute") == 0 && dead) {
		fprintf(stderr, "queue: reroute: dead letters are not re-routed (queue retry ID brings one back first)\n");
		return 2;
	}
	struct gw_conf conf;
	struct dc_errinfo ce = { 0 };
	gw_conf_defaults(&conf);
	if (conf_path ? gw_conf_load(&conf, conf_path, &ce) :
	                gw_conf_load_text(&conf, "(built-in)", GW_CONF_BUILTIN, strlen(GW_CONF_BUILTIN), &ce)) {
		fprintf(stderr, "queue: %s\n", ce.msg);
		gw_conf_clear(&conf);
		return 1;
	}
	const char *sdir = state ? state : conf.state_dir;
	if (strcmp(conf.queue_backend, "sqlite") == 0) { /* a queue to look at, not a new one made */
		char path[4200];
		snprintf(path, sizeof path, "%s/queue.db", sdir);
		FILE *probe = fopen(path, "rb");
		if (!probe) {
			fprintf(stderr, "queue: %s: %s\n", path, strerror(errno));
			gw_conf_clear(&conf);
			return 1;
		}
		fclose(probe);
	}
	if (strcmp(sub, "reroute") == 0) { /* with the gateway's state: identity, rules, mediator */
		gw_conf_clear(&conf);
		return reroute(conf_path, state, dest_glob);
	}
	struct dc_queue *q = NULL;
	struct dc_errinfo ei = { 0 };
	/* the configured [queue] (flush and retry back off and give up as the daemon does); on
	 * PostgreSQL the gateways sharing it go on meanwhile */
	if (gw_queue_open(&conf, sdir, &q, &ei)) {
		fprintf(stderr, "queue: %s\n", ei.msg);
		gw_conf_clear(&conf);
		return 1;
	}
	int ret = 0;
	int64_t id = 0;
	char t1[32], t2[32];
	if (strcmp(sub, "stats") == 0) {
		struct dc_queue_stats st;
		if (dc_queue_stats(q, now_ms(), &st, &ei)) {
			fprintf(stderr, "queue: %s\n", ei.msg);
			ret = 1;
		} else {
			iso(st.oldest_created_ms, t1, sizeof t1);
			printf("queued %" PRIu64 "\nin_flight %" PRIu64 "\ndead %" PRIu64 "\nbytes %" PRIu64 "\noldest %s\n"
			       "presence %" PRIu64 "\n",
			       st.queued, st.leased, st.dead, st.bytes, t1, st.presence);
		}
	} else if (strcmp(sub, "ls") == 0) {
		struct dc_queue_item *items = NULL;
		size_t n = 0;
		if (dc_queue_list(q, dead, 0, (size_t)limit, &items, &n, &ei)) {
			fprintf(stderr, "queue: %s\n", ei.msg);
			ret = 1;
		}
		for (size_t i = 0; i < n; i++) {
			iso(items[i].created_ms, t1, sizeof t1);
			iso(items[i].next_ms, t2, sizeof t2);
			if (items[i].held) /* waiting for its device: "presence TOPIC" instead of a time */
				printf("%" PRId64 "\t%s\tpresence %s\tattempts=%u\t%s\t%s\n", items[i].id, t1, items[i].held,
				       items[i].attempts, items[i].dest ? items[i].dest : "-",
				       items[i].last_error ? items[i].last_error : "");
			else
				printf("%" PRId64 "\t%s\t%s %s\tattempts=%u\t%s\t%s\n", items[i].id, t1, dead ? "died" : "next", t2,
				       items[i].attempts, items[i].dest ? items[i].dest : "-",
				       items[i].last_error ? items[i].last_error : "");
		}
		dc_queue_items_free(items, n);
	} else if ((strcmp(sub, "show") == 0 || strcmp(sub, "retry") == 0 || strcmp(sub, "ack") == 0) &&
	           optind + 1 < argc) {
		if (!parse_id(argv[optind + 1], &id)) {
			fprintf(stderr, "queue: %s is not an item id\n", argv[optind + 1]);
			ret = 2;
		} else if (strcmp(sub, "ack") == 0) {
			/* done with it by other means (an exported bundle confirmed by hand): gone */
			if (dc_queue_ack(q, id, &ei)) {
				fprintf(stderr, "queue: %s\n", ei.msg);
				ret = 1;
			} else {
				printf("queue: item %" PRId64 " acknowledged and removed\n", id);
			}
		} else if (strcmp(sub, "retry") == 0) {
			if (dc_queue_requeue(q, id, now_ms(), &ei)) {
				fprintf(stderr, "queue: %s\n", ei.msg);
				ret = 1;
			} else {
				printf("queue: item %" PRId64 " is due now\n", id);
			}
		} else {
			struct dc_queue_item it;
			if (dc_queue_get(q, id, &it, &ei)) {
				fprintf(stderr, "queue: %s\n", ei.msg);
				ret = 1;
			} else {
				iso(it.created_ms, t1, sizeof t1);
				iso(it.next_ms, t2, sizeof t2);
				printf("id %" PRId64 "\nstate %s%s%s\nmsg_id %s\nmedia_type %s\ndest %s\norigin %s\ncreated %s\n%s %s\n"
				       "attempts %u\nlast_error %s\nbytes %zu\nrule_inputs %s\n",
				       it.id, it.dead ? "dead" : "queued", it.held ? ", held for presence " : "", it.held ? it.held : "",
				       it.msg_id ? it.msg_id : "-",
				       it.media_type ? it.media_type : "-", it.dest ? it.dest : "-", it.origin ? it.origin : "-", t1,
				       it.dead ? "died" : "next_attempt", t2, it.attempts, it.last_error ? it.last_error : "-",
				       it.len, it.facts ? it.facts : "-");
				dc_queue_item_clear(&it);
			}
		}
	} else if (strcmp(sub, "flush") == 0) {
		ret = flush(q, &conf, (size_t)limit);
	} else if (strcmp(sub, "rm") == 0 && optind + 1 < argc) {
		uint64_t n = 0;
		if (!parse_id(argv[optind + 1], &id)) {
			fprintf(stderr, "queue: %s is not an item id\n", argv[optind + 1]);
			ret = 2;
		} else if (dc_queue_remove(q, id, &n, &ei)) {
			fprintf(stderr, "queue: %s\n", ei.msg);
			ret = 1;
		} else {
			printf("queue: item %" PRId64 " removed\n", id);
		}
	} else if (strcmp(sub, "purge") == 0 && dest_glob) {
		uint64_t n = 0;
		if (dc_queue_purge_dest(q, dest_glob, dead, &n, &ei)) {
			fprintf(stderr, "queue: %s\n", ei.msg);
			ret = 1;
		} else {
			printf("queue: purged %" PRIu64 " %sitems for %s\n", n, dead ? "dead " : "", dest_glob);
		}
	} else if (strcmp(sub, "purge") == 0 && dead) {
		uint64_t purged = 0;
		if (dc_queue_purge_dead(q, &purged, &ei)) {
			fprintf(stderr, "queue: %s\n", ei.msg);
			ret = 1;
		} else {
			printf("queue: purged %" PRIu64 " dead items\n", purged);
		}
	} else {
		fprintf(stderr, "queue: unknown or incomplete command '%s' (purge needs --dead or --dest GLOB; rm needs an id)\n", sub);
		ret = 2;
	}
	dc_queue_close(q);
	gw_conf_clear(&conf);
	return ret;
}
