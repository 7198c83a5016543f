/* The admin listener's pieces that need no socket: which addresses are loopback, [admin]'s
 * checks (token file, loopback), the counters and their text, the bounded buffer. */
#include <CUnit/CUnit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "conf.h"
#include "metrics.h"

static void test_loopback(void)
{
	static const struct {
		const char *host;
		bool loop;
	} t[] = {
		{ "127.0.0.1", true },  { "127.8.9.10", true },  { "::1", true },        { "localhost", true },
		{ "0.0.0.0", false },   { "10.0.0.1", false },   { "::", false },        { "::ffff:127.0.0.1", false },
		{ "128.0.0.1", false }, { "127.0.0.1x", false }, { "", false },          { "example.org", false },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		CU_ASSERT_EQUAL(gw_admin_is_loopback(t[i].host), t[i].loop);
}

/* [admin] as text, then gw_admin_check's verdict */
static dc_err check(const char *admin_lines)
{
	struct gw_conf c;
	struct dc_errinfo ei = { 0 };
	char text[1024];
	snprintf(text, sizeof text, "[admin]\n%s", admin_lines);
	gw_conf_defaults(&c);
	dc_err rc = gw_conf_load_text(&c, "t.conf", text, strlen(text), &ei);
	if (rc == DC_OK)
		rc = gw_admin_check(&c, &ei);
	gw_conf_clear(&c);
	return rc;
}

static void write_token(const char *path, const char *tok, mode_t mode)
{
	FILE *f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(tok, f);
	fclose(f);
	chmod(path, mode);
}

static void test_check(void)
{
	char dir[] = "/tmp/dcadminXXXXXX", tok[64], line[200];
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(tok, sizeof tok, "%s/token", dir);
	CU_ASSERT_EQUAL(check("listen 127.0.0.1:9090\n"), DC_OK);
	CU_ASSERT_EQUAL(check("listen [::1]:9090\n"), DC_OK);
	CU_ASSERT_EQUAL(check("listen localhost:0\n"), DC_OK);
	CU_ASSERT_EQUAL(check("listen 0.0.0.0:9090\n"), DC_ERR_DENIED); /* no token off loopback */
	CU_ASSERT_EQUAL(check("listen 192.0.2.1:9090\n"), DC_ERR_DENIED);
	snprintf(line, sizeof line, "listen 0.0.0.0:9090\ntoken_file %s\n", tok);
	CU_ASSERT_EQUAL(check(line), DC_ERR_IO); /* no such file */
	write_token(tok, "0123456789abcdef0123\n", 0644);
	CU_ASSERT_EQUAL(check(line), DC_ERR_DENIED); /* others may read it */
	write_token(tok, "short\n", 0600);
	CU_ASSERT_EQUAL(check(line), DC_ERR_INVAL);
	write_token(tok, "has a blank in it 0123456789\n", 0600);
	CU_ASSERT_EQUAL(check(line), DC_ERR_INVAL);
	write_token(tok, "0123456789abcdef0123\n", 0600);
	CU_ASSERT_EQUAL(check(line), DC_OK);
	unlink(tok);
	rmdir(dir);
}

/* the value of the sample line that starts with prefix, -1 when absent */
static long long sample(const char *text, const char *prefix)
{
	size_t n = strlen(prefix);
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, prefix, n) == 0 && p[n] == ' ')
			return strtoll(p + n + 1, NULL, 10);
	return -1;
}

static char *render(void)
{
	struct gw_buf b = { .max = 1 << 20 };
	gw_metrics_render(&b);
	CU_ASSERT_FALSE(b.full);
	return b.p;
}

static void test_metrics(void)
{
	char *before = render();
	const char *in = "didcomm_gateway_messages_in_total{transport=\"http\",outcome=\"accepted\"}";
	const char *busy = "didcomm_gateway_messages_in_total{transport=\"other\",outcome=\"busy\"}";
	const char *sent = "didcomm_gateway_deliveries_total{adapter=\"http\",result=\"sent\"}";
	const char *dead = "didcomm_gateway_deliveries_total{adapter=\"hold\",result=\"failed\"}";
	const char *crypto = "didcomm_gateway_unpack_failures_total{reason=\"crypto\"}";
	const char *inf = "didcomm_gateway_envelope_bytes_bucket{le=\"+Inf\"}";
	const char *le1k = "didcomm_gateway_envelope_bytes_bucket{le=\"1024\"}";
	gw_metrics_in("http", GW_ACCEPTED, 1000, 1500);
	gw_metrics_in_busy("no-such-transport");
	gw_metrics_delivery("http", GW_SENT, 2000, NULL);
	gw_metrics_delivery("hold", GW_FAILED, 10, "nobody picked it up");
	gw_metrics_unpack_failed(DC_ERR_CRYPTO);
	gw_metrics_unpack_failed(DC_ERR_AGAIN); /* the gateway's own state: not counted */
	char *after = render();
	CU_ASSERT_EQUAL(sample(after, in), sample(before, in) + 1);
	CU_ASSERT_EQUAL(sample(after, busy), sample(before, busy) + 1);
	CU_ASSERT_EQUAL(sample(after, sent), sample(before, sent) + 1);
	CU_ASSERT_EQUAL(sample(after, dead), sample(before, dead) + 1);
	CU_ASSERT_EQUAL(sample(after, crypto), sample(before, crypto) + 1);
	CU_ASSERT_EQUAL(sample(after, inf), sample(before, inf) + 1);
	CU_ASSERT_EQUAL(sample(after, le1k), sample(before, le1k) + 1); /* 1000 bytes: in the 1024 bucket */
	CU_ASSERT_PTR_NOT_NULL(strstr(after, "# TYPE didcomm_gateway_messages_in_total counter\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(after, "# TYPE didcomm_gateway_delivery_latency_seconds histogram\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(after, "# HELP didcomm_gateway_build_info "));
	/* every sample line's family has a TYPE line before it */
	for (const char *p = after; *p; p = strchr(p, '\n') + 1) {
		if (*p != '#') {
			char name[128];
			size_t k = strcspn(p, "{ ");
			CU_ASSERT_FATAL(k < sizeof name);
			memcpy(name, p, k);
			name[k] = 0;
			char probe[160];
			snprintf(probe, sizeof probe, "# TYPE %s ", name);
			const char *type = strstr(after, probe);
			static const char *const sufs[] = { "_bucket", "_sum", "_count" };
			for (size_t i = 0; !type && i < 3; i++) {
				size_t sl = strlen(sufs[i]);
				if (k > sl && strcmp(name + k - sl, sufs[i]) == 0) {
					snprintf(probe, sizeof probe, "# TYPE %.*s histogram", (int)(k - sl), name);
					type = strstr(after, probe);
				}
			}
			CU_ASSERT_PTR_NOT_NULL(type);
		}
		if (!strchr(p, '\n'))
			break;
	}
	struct gw_metrics_adapter a;
	gw_metrics_adapter("hold", &a);
	CU_ASSERT_STRING_EQUAL(a.last_error, "nobody picked it up");
	CU_ASSERT(a.last_fail_ms > 0);
	free(before);
	free(after);
}

/* adapters' connections: the last state per (adapter, target), label values escaped */
static void test_conns(void)
{
	const char *up = "didcomm_gateway_adapter_connection_up{adapter=\"mqtt\",target=\"t-conn:1\"}";
	const char *odd = "didcomm_gateway_adapter_connection_up{adapter=\"file\",target=\"/a \\\"b\\\\c\\nd\"}";
	const char *chg = "didcomm_gateway_adapter_connection_changes_total{adapter=\"mqtt\",target=\"t-conn:1\"}";
	const char *down = "didcomm_gateway_adapter_connection_state{adapter=\"mqtt\",target=\"t-conn:1\",state=\"down\"}";
	gw_metrics_conn("mqtt", "t-conn:1", GW_CONN_CONNECTING, NULL);
	char *t = render();
	CU_ASSERT_EQUAL(sample(t, up), 0);
	CU_ASSERT_EQUAL(sample(t, chg), 0);
	free(t);
	gw_metrics_conn("mqtt", "t-conn:1", GW_CONN_UP, NULL);
	gw_metrics_conn("mqtt", "t-conn:1", GW_CONN_UP, NULL); /* said again: no change */
	gw_metrics_conn("file", "/a \"b\\c\nd", GW_CONN_UP, NULL);
	t = render();
	CU_ASSERT_EQUAL(sample(t, up), 1);
	CU_ASSERT_EQUAL(sample(t, chg), 1);
	CU_ASSERT_EQUAL(sample(t, down), 0);
	CU_ASSERT_EQUAL(sample(t, odd), 1);
	CU_ASSERT_PTR_NOT_NULL(strstr(t, "# TYPE didcomm_gateway_adapter_connection_up gauge\n"));
	free(t);
	gw_metrics_conn("mqtt", "t-conn:1", GW_CONN_DOWN, "connection refused");
	t = render();
	CU_ASSERT_EQUAL(sample(t, up), 0);
	CU_ASSERT_EQUAL(sample(t, down), 1);
	CU_ASSERT_EQUAL(sample(t, chg), 2);
	free(t);
	struct gw_metrics_conn c[4];
	size_t n = gw_metrics_conns("mqtt", c, 4);
	size_t k = 0;
	while (k < n && strcmp(c[k].target, "t-conn:1") != 0)
		k++;
	CU_ASSERT_FATAL(k < n);
	CU_ASSERT_EQUAL(c[k].st, GW_CONN_DOWN);
	CU_ASSERT_STRING_EQUAL(c[k].why, "connection refused");
	CU_ASSERT(c[k].since_ms > 0);
}

static void test_queue_write(void)
{
	char why[100];
	gw_metrics_queue_write(DC_OK, NULL);
	CU_ASSERT_FALSE(gw_metrics_queue_write_failed(why, sizeof why));
	gw_metrics_queue_write(DC_ERR_IO, "queue: commit: disk I/O error");
	CU_ASSERT_TRUE(gw_metrics_queue_write_failed(why, sizeof why));
	CU_ASSERT_STRING_EQUAL(why, "queue: commit: disk I/O error");
	gw_metrics_queue_write(DC_ERR_AGAIN, "queue full"); /* says nothing of the store */
	CU_ASSERT_TRUE(gw_metrics_queue_write_failed(why, sizeof why));
	gw_metrics_queue_write(DC_OK, NULL);
	CU_ASSERT_FALSE(gw_metrics_queue_write_failed(why, sizeof why));
}

static void test_buf(void)
{
	struct gw_buf b = { .max = 64 };
	gw_buf_printf(&b, "%s", "0123456789");
	CU_ASSERT_EQUAL(b.len, 10);
	CU_ASSERT_FALSE(b.full);
	for (int i = 0; i < 10; i++)
		gw_buf_printf(&b, "%s", "0123456789");
	CU_ASSERT_TRUE(b.full);
	CU_ASSERT(b.len < 64);
	CU_ASSERT_EQUAL(strlen(b.p), b.len);
	gw_buf_free(&b);
	struct gw_buf big = { .max = 1 << 20 };
	char s[5000];
	memset(s, 'x', sizeof s - 1);
	s[sizeof s - 1] = 0;
	gw_buf_printf(&big, "[%s]", s); /* longer than the printf's own buffer */
	CU_ASSERT_EQUAL(big.len, sizeof s + 1);
	gw_buf_free(&big);
}

void init_admin_tests(void)
{
	CU_pSuite s = CU_add_suite("admin", NULL, NULL);
	CU_add_test(s, "loopback addresses", test_loopback);
	CU_add_test(s, "[admin] checks: token file, loopback", test_check);
	CU_add_test(s, "counters and their text", test_metrics);
	CU_add_test(s, "queue writes: the last failure", test_queue_write);
	CU_add_test(s, "adapter connections: state, changes, escaped labels", test_conns);
	CU_add_test(s, "bounded buffer", test_buf);
}
