/* gateway/netpolicy.c: CIDR parsing, the address classes (IPv4, IPv6 and IPv6 forms that
 * carry IPv4), allow, self, and the libcurl hook against a real server on 127.0.0.1. */
#include <CUnit/CUnit.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "netpolicy.h"
#include "testutil.h"
#include "tsrv.h"

static socklen_t sa_of(const char *addr, unsigned port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		return sizeof *in;
	}
	CU_ASSERT_FATAL(inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1);
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons((uint16_t)port);
	return sizeof *in6;
}

static dc_err check(const struct gw_netpolicy *np, const char *addr, unsigned port, bool untrusted, char *why,
                    size_t cap)
{
	struct sockaddr_storage ss;
	socklen_t len = sa_of(addr, port, &ss);
	return gw_netpolicy_check(np, (struct sockaddr *)&ss, len, untrusted, why, cap);
}

static void classes(void)
{
	static const struct {
		const char *addr;
		bool denied;      /* untrusted, no allow */
		const char *what; /* in the reason */
	} t[] = {
		{ "127.0.0.1", true, "loopback" },
		{ "127.255.1.2", true, "loopback" },
		{ "10.1.2.3", true, "private" },
		{ "172.16.0.1", true, "private" },
		{ "172.31.255.255", true, "private" },
		{ "172.32.0.1", false, NULL },
		{ "192.168.1.1", true, "private" },
		{ "100.64.0.1", true, "CGNAT" },
		{ "100.127.255.255", true, "CGNAT" },
		{ "100.128.0.1", false, NULL },
		{ "169.254.169.254", true, "link-local" },
		{ "224.0.0.1", true, "multicast" },
		{ "239.255.255.250", true, "multicast" },
		{ "0.0.0.0", true, "unspecified" },
		{ "0.1.2.3", true, "unspecified" },
		{ "255.255.255.255", true, "broadcast" },
		{ "240.0.0.1", true, "reserved" },
		{ "8.8.8.8", false, NULL },
		{ "93.184.216.34", false, NULL },
		{ "::", true, "unspecified" },
		{ "::1", true, "loopback" },
		{ "fc00::1", true, "unique local" },
		{ "fd12:3456::1", true, "unique local" },
		{ "fe80::1", true, "link-local" },
		{ "febf::1", true, "link-local" },
		{ "fec0::1", true, "site-local" },
		{ "ff02::1", true, "multicast" },
		{ "2606:4700::1111", false, NULL },
		/* IPv6 forms that carry IPv4 */
		{ "::ffff:127.0.0.1", true, "carries 127.0.0.1" },
		{ "::ffff:10.0.0.1", true, "private" },
		{ "::ffff:8.8.8.8", false, NULL },
		{ "::127.0.0.1", true, "loopback" },
		{ "::ffff:0:127.0.0.1", true, "loopback" },
		{ "64:ff9b::7f00:1", true, "carries 127.0.0.1" },
		{ "64:ff9b::a9fe:a9fe", true, "link-local" },
		{ "64:ff9b::808:808", false, NULL },
		{ "64:ff9b:1::1", true, "NAT64" },
		{ "2002:7f00:1::1", true, "loopback" },
		{ "2002:c0a8:101::", true, "private" },
		{ "2002:808:808::1", false, NULL },
		{ "2001:0:4136:e378:8000:63bf:80ff:fffe", true, "loopback" }, /* Teredo client ~80ff:fffe */
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		char why[200];
		dc_err rc = check(NULL, t[i].addr, 443, true, why, sizeof why);
		CU_ASSERT_EQUAL(rc, t[i].denied ? DC_ERR_DENIED : DC_OK);
		if (rc != (t[i].denied ? DC_ERR_DENIED : DC_OK))
			fprintf(stderr, "\n%s: %d %s\n", t[i].addr, rc, why);
		if (t[i].denied) {
			CU_ASSERT(strstr(why, "outbound policy") != NULL);
			CU_ASSERT(strstr(why, t[i].what) != NULL);
		}
		/* trusted targets: classes do not matter */
		CU_ASSERT_EQUAL(check(NULL, t[i].addr, 443, false, why, sizeof why), DC_OK);
	}
	/* other families */
	struct sockaddr sa = { .sa_family = AF_UNIX };
	char why[200];
	CU_ASSERT_EQUAL(gw_netpolicy_check(NULL, &sa, sizeof sa, true, why, sizeof why), DC_ERR_DENIED);
	CU_ASSERT_EQUAL(gw_netpolicy_check(NULL, &sa, sizeof sa, false, why, sizeof why), DC_OK);
	CU_ASSERT_EQUAL(gw_netpolicy_check(NULL, NULL, 0, true, NULL, 0), DC_ERR_DENIED);
	struct sockaddr_in short_in = { .sin_family = AF_INET };
	CU_ASSERT_EQUAL(gw_netpolicy_check(NULL, (struct sockaddr *)&short_in, 4, true, why, sizeof why), DC_ERR_DENIED);
}

static void allow_lines(void)
{
	struct gw_netpolicy *np = NULL;
	CU_ASSERT_EQUAL_FATAL(gw_netpolicy_new(&np), DC_OK);
	struct dc_errinfo ei = { 0 };
	static const struct {
		const char *text;
		const char *err; /* NULL: accepted */
	} t[] = {
		{ "10.0.0.0/33", "allow: '10.0.0.0/33' is not a CIDR" },
		{ "10.0.0.0/", "'10.0.0.0/' is not a CIDR" },
		{ "10.0.0/8", "is not a CIDR" },
		{ "10.0.0.0/08", "is not a CIDR" },
		{ "10.0.0.0/8x", "is not a CIDR" },
		{ "::1/129", "'::1/129' is not a CIDR" },
		{ "fe80::1%eth0/128", "is not a CIDR" },
		{ "example.com", "is not a CIDR" },
		{ "127.0.0.0/8 bogus", "'bogus' is not a CIDR" },
		{ "", "no CIDR" },
		{ "allow", "no CIDR" },
		{ "allow 127.0.0.0/8 ::1/128", NULL },
		{ "10.9.8.7/16, 192.168.5.5", NULL }, /* host bits cleared; a bare address is one host */
		{ "fd00::/8", NULL },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		memset(&ei, 0, sizeof ei);
		dc_err rc = gw_netpolicy_allow(np, t[i].text, &ei);
		if (t[i].err) {
			CU_ASSERT_NOT_EQUAL(rc, DC_OK);
			CU_ASSERT(strstr(ei.msg, t[i].err) != NULL);
		} else {
			CU_ASSERT_EQUAL(rc, DC_OK);
		}
	}
	char why[200];
	CU_ASSERT_EQUAL(check(np, "127.0.0.1", 80, true, why, sizeof why), DC_OK);
	CU_ASSERT_EQUAL(check(np, "127.9.9.9", 80, true, why, sizeof why), DC_OK);
	CU_ASSERT_EQUAL(check(np, "::1", 80, true, why, sizeof why), DC_OK);
	CU_ASSERT_EQUAL(check(np, "::ffff:127.0.0.1", 80, true, why, sizeof why), DC_OK); /* the same host */
	CU_ASSERT_EQUAL(check(np, "10.9.1.1", 80, true, why, sizeof why), DC_OK);
	CU_ASSERT_EQUAL(check(np, "10.8.1.1", 80, true, why, sizeof why), DC_ERR_DENIED);
	CU_ASSERT_EQUAL(check(np, "192.168.5.5", 80, true, why, sizeof why), DC_OK);
	CU_ASSERT_EQUAL(check(np, "192.168.5.6", 80, true, why, sizeof why), DC_ERR_DENIED);
	CU_ASSERT_EQUAL(check(np, "fd01::1", 80, true, why, sizeof why), DC_OK);
	CU_ASSERT_EQUAL(check(np, "fe80::1", 80, true, why, sizeof why), DC_ERR_DENIED);
	CU_ASSERT(strstr(why, "[fe80::1]:80 is link-local") != NULL);
	gw_netpolicy_free(np);
	gw_netpolicy_free(NULL);
}

static void self_addresses(void)
{
	struct gw_netpolicy *np = NULL;
	CU_ASSERT_EQUAL_FATAL(gw_netpolicy_new(&np), DC_OK);
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL(gw_netpolicy_allow(np, "0.0.0.0/0 ::/0", &ei), DC_OK); /* allow cannot open self */
	CU_ASSERT_EQUAL(gw_netpolicy_add_self_text(np, "127.0.0.1:8080", &ei), DC_OK);
	CU_ASSERT_EQUAL(gw_netpolicy_add_self_text(np, "[::1]:8443", &ei), DC_OK);
	CU_ASSERT_NOT_EQUAL(gw_netpolicy_add_self_text(np, "127.0.0.1", &ei), DC_OK);
	CU_ASSERT_NOT_EQUAL(gw_netpolicy_add_self_text(np, "127.0.0.1:http", &ei), DC_OK);
	CU_ASSERT_NOT_EQUAL(gw_netpolicy_add_self_text(np, "[::1:80", &ei), DC_OK);
	char why[200];
	for (int untrusted = 0; untrusted < 2; untrusted++) {
		CU_ASSERT_EQUAL(check(np, "127.0.0.1", 8080, untrusted, why, sizeof why), DC_ERR_DENIED);
		CU_ASSERT(strstr(why, "outbound policy: 127.0.0.1:8080 is the gateway itself") != NULL);
		CU_ASSERT_EQUAL(check(np, "::ffff:127.0.0.1", 8080, untrusted, why, sizeof why), DC_ERR_DENIED);
		CU_ASSERT_EQUAL(check(np, "0.0.0.0", 8080, untrusted, why, sizeof why), DC_ERR_DENIED);
		CU_ASSERT_EQUAL(check(np, "::1", 8443, untrusted, why, sizeof why), DC_ERR_DENIED);
		CU_ASSERT_EQUAL(check(np, "127.0.0.1", 8081, untrusted, why, sizeof why), DC_OK);
		CU_ASSERT_EQUAL(check(np, "127.0.0.2", 8080, untrusted, why, sizeof why), DC_OK);
		CU_ASSERT_EQUAL(check(np, "::1", 8080, untrusted, why, sizeof why), DC_OK);
	}
	gw_netpolicy_free(np);
	/* a wildcard listener: every local address at that port */
	CU_ASSERT_EQUAL_FATAL(gw_netpolicy_new(&np), DC_OK);
	CU_ASSERT_EQUAL(gw_netpolicy_add_self_text(np, "*:9000", &ei), DC_OK);
	CU_ASSERT_EQUAL(check(np, "127.0.0.1", 9000, false, why, sizeof why), DC_ERR_DENIED);
	CU_ASSERT_EQUAL(check(np, "127.3.2.1", 9000, false, why, sizeof why), DC_ERR_DENIED);
	CU_ASSERT_EQUAL(check(np, "::1", 9000, false, why, sizeof why), DC_ERR_DENIED);
	CU_ASSERT_EQUAL(check(np, "127.0.0.1", 9001, false, why, sizeof why), DC_OK);
	CU_ASSERT_EQUAL(check(np, "8.8.8.8", 9000, false, why, sizeof why), DC_OK);
	gw_netpolicy_free(np);
}

/* ---- libcurl, for real ------------------------------------------------------------------- */

static size_t sink(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	*(size_t *)arg += size * n;
	return size * n;
}

static CURLcode get(const char *url, const struct gw_netpolicy *np, bool untrusted, struct gw_netpolicy_curl *st,
                    long *status)
{
	CURL *e = curl_easy_init();
	size_t got = 0;
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &got);
	gw_netpolicy_curl(e, np, untrusted, st);
	CURLcode cr = curl_easy_perform(e);
	*status = 0;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(e);
	return cr;
}

static void curl_hook(void)
{
	struct tsrv srv = { 0 };
	CU_ASSERT_EQUAL_FATAL(tsrv_start(&srv, TSRV_HTTP, "{}"), 0);
	char url[128], self[64];
	snprintf(url, sizeof url, "http://127.0.0.1:%u/x", (unsigned)srv.port);
	snprintf(self, sizeof self, "127.0.0.1:%u", (unsigned)srv.port);
	/* a proxy from the environment must not hide the real target */
	setenv("http_proxy", "http://127.0.0.1:9", 1);
	setenv("ALL_PROXY", "http://127.0.0.1:9", 1);
	struct gw_netpolicy *open = NULL, *self_np = NULL;
	struct dc_errinfo ei = { 0 };
	CU_ASSERT_EQUAL_FATAL(gw_netpolicy_new(&open), DC_OK);
	CU_ASSERT_EQUAL(gw_netpolicy_allow(open, "127.0.0.0/8", &ei), DC_OK);
	CU_ASSERT_EQUAL_FATAL(gw_netpolicy_new(&self_np), DC_OK);
	CU_ASSERT_EQUAL(gw_netpolicy_allow(self_np, "127.0.0.0/8", &ei), DC_OK);
	CU_ASSERT_EQUAL(gw_netpolicy_add_self_text(self_np, self, &ei), DC_OK);

	struct gw_netpolicy_curl st;
	long status;
	/* untrusted, nothing allowed: refused before connecting */
	CU_ASSERT_EQUAL(get(url, NULL, true, &st, &status), CURLE_COULDNT_CONNECT);
	CU_ASSERT(st.refused);
	CU_ASSERT(strstr(st.why, "outbound policy") != NULL && strstr(st.why, "loopback") != NULL);
	CU_ASSERT_EQUAL(atomic_load(&srv.accepted), 0);
	/* untrusted, allowed: through (and not through the proxy) */
	CU_ASSERT_EQUAL(get(url, open, true, &st, &status), CURLE_OK);
	CU_ASSERT_FALSE(st.refused);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_EQUAL(atomic_load(&srv.requests), 1);
	/* trusted: through */
	CU_ASSERT_EQUAL(get(url, NULL, false, &st, &status), CURLE_OK);
	CU_ASSERT_EQUAL(status, 200);
	/* the gateway itself: refused, trusted or not, allowed or not */
	CU_ASSERT_EQUAL(get(url, self_np, false, &st, &status), CURLE_COULDNT_CONNECT);
	CU_ASSERT(st.refused && strstr(st.why, "gateway itself") != NULL);
	CU_ASSERT_EQUAL(get(url, self_np, true, &st, &status), CURLE_COULDNT_CONNECT);
	CU_ASSERT(st.refused && strstr(st.why, "gateway itself") != NULL);
	/* a name that resolves to loopback is refused the same way */
	snprintf(url, sizeof url, "http://localhost:%u/x", (unsigned)srv.port);
	CU_ASSERT_EQUAL(get(url, NULL, true, &st, &status), CURLE_COULDNT_CONNECT);
	CU_ASSERT(st.refused);
	/* untrusted: http and https only */
	CU_ASSERT_EQUAL(get("file:///etc/hostname", open, true, &st, &status), CURLE_UNSUPPORTED_PROTOCOL);
	CU_ASSERT_EQUAL(atomic_load(&srv.requests), 2);
	unsetenv("http_proxy");
	unsetenv("ALL_PROXY");
	gw_netpolicy_free(open);
	gw_netpolicy_free(self_np);
	tsrv_stop(&srv);
}

void init_netpolicy_tests(void)
{
	CU_pSuite s = CU_add_suite("netpolicy", NULL, NULL);
	TU_ADD(s, classes);
	TU_ADD(s, allow_lines);
	TU_ADD(s, self_addresses);
	TU_ADD(s, curl_hook);
}
