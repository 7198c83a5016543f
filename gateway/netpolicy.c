/* The outbound address policy (see netpolicy.h). */
#include "netpolicy.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ALLOW 1024
#define MAX_SELF 256
#define TOKEN_MAX 64

struct net_addr {
	int fam;            /* AF_INET or AF_INET6 */
	uint8_t a[16];      /* IPv4 in the first 4 bytes */
	uint16_t port;      /* host order */
};

struct cidr {
	int fam;
	uint8_t a[16];
	unsigned bits;
};

struct self {
	struct net_addr addr;
	bool any;           /* a wildcard listener: loopback and unspecified targets at this port */
};

struct gw_netpolicy {
	struct cidr *allow;
	size_t n_allow;
	struct self *self;
	size_t n_self;
};

dc_err gw_netpolicy_new(struct gw_netpolicy **out)
{
	if (!out)
		return DC_ERR_INVAL;
	*out = calloc(1, sizeof **out);
	return *out ? DC_OK : DC_ERR_NOMEM;
}

void gw_netpolicy_free(struct gw_netpolicy *np)
{
	if (!np)
		return;
	free(np->allow);
	free(np->self);
	free(np);
}

/* ---- addresses ----------------------------------------------------------------------------- */

static bool addr_of(const struct sockaddr *sa, socklen_t len, struct net_addr *out)
{
	memset(out, 0, sizeof *out);
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		struct sockaddr_in in;
		memcpy(&in, sa, sizeof in);
		out->fam = AF_INET;
		memcpy(out->a, &in.sin_addr, 4);
		out->port = ntohs(in.sin_port);
		return true;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 in6;
		memcpy(&in6, sa, sizeof in6);
		out->fam = AF_INET6;
		memcpy(out->a, &in6.sin6_addr, 16);
		out->port = ntohs(in6.sin6_port);
		return true;
	}
	return false;
}

static uint32_t v4_of(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static bool all_zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* Why an IPv4 address may not be reached by an untrusted target; NULL if it may. */
static const char *v4_class(uint32_t a)
{
	static const struct {
		uint32_t net, mask;
		const char *what;
	} t[] = {
		{ 0x00000000, 0xff000000, "unspecified (0.0.0.0/8)" },
		{ 0x0a000000, 0xff000000, "private (10.0.0.0/8)" },
		{ 0x64400000, 0xffc00000, "shared CGNAT space (100.64.0.0/10)" },
		{ 0x7f000000, 0xff000000, "loopback (127.0.0.0/8)" },
		{ 0xa9fe0000, 0xffff0000, "link-local (169.254.0.0/16)" },
		{ 0xac100000, 0xfff00000, "private (172.16.0.0/12)" },
		{ 0xc0000000, 0xffffff00, "special-purpose (192.0.0.0/24)" },
		{ 0xc0a80000, 0xffff0000, "private (192.168.0.0/16)" },
		{ 0xc6120000, 0xfffe0000, "benchmarking (198.18.0.0/15)" },
		{ 0xe0000000, 0xf0000000, "multicast (224.0.0.0/4)" },
		{ 0xffffffff, 0xffffffff, "broadcast" },
		{ 0xf0000000, 0xf0000000, "reserved (240.0.0.0/4)" },
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if ((a & t[i].mask) == t[i].net)
			return t[i].what;
	return NULL;
}

/* An IPv4 address carried in an IPv6 one (true, *v4 set), by the forms of netpolicy.h. */
static bool v6_embedded(const uint8_t *a, uint32_t *v4)
{
	static const uint8_t nat64[12] = { 0, 0x64, 0xff, 0x9b };
	if (all_zero(a, 10) && a[10] == 0xff && a[11] == 0xff) { /* ::ffff:a.b.c.d mapped */
		*v4 = v4_of(a + 12);
		return true;
	}
	if (all_zero(a, 8) && a[8] == 0xff && a[9] == 0xff && a[10] == 0 && a[11] == 0) { /* ::ffff:0:a.b.c.d */
		*v4 = v4_of(a + 12);
		return true;
	}
	if (all_zero(a, 12) && v4_of(a + 12) > 1) { /* ::a.b.c.d compatible (not :: and ::1) */
		*v4 = v4_of(a + 12);
		return true;
	}
	if (memcmp(a, nat64, 12) == 0) { /* 64:ff9b::/96 */
		*v4 = v4_of(a + 12);
		return true;
	}
	if (a[0] == 0x20 && a[1] == 0x02) { /* 6to4 2002:AABB:CCDD::/48 */
		*v4 = v4_of(a + 2);
		return true;
	}
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0) { /* Teredo: the client, inverted */
		*v4 = ~v4_of(a + 12);
		return true;
	}
	return false;
}

static const char *v6_class(const uint8_t *a)
{
	if (all_zero(a, 16))
		return "unspecified (::)";
	if (all_zero(a, 15) && a[15] == 1)
		return "loopback (::1)";
	if (a[0] == 0 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b && a[4] == 0 && a[5] == 1)
		return "local-use NAT64 (64:ff9b:1::/48)";
	if (a[0] == 0x01 && all_zero(a + 1, 7))
		return "discard-only (100::/64)";
	if ((a[0] & 0xfe) == 0xfc)
		return "unique local (fc00::/7)";
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
		return "link-local (fe80::/10)";
	if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)
		return "site-local (fec0::/10)";
	if (a[0] == 0xff)
		return "multicast (ff00::/8)";
	return NULL;
}

static bool cidr_has(const struct cidr *c, int fam, const uint8_t *a)
{
	if (c->fam != fam)
		return false;
	unsigned full = c->bits / 8, rest = c->bits % 8;
	if (memcmp(c->a, a, full) != 0)
		return false;
	if (rest) {
		uint8_t m = (uint8_t)(0xff << (8 - rest));
		if ((c->a[full] & m) != (a[full] & m))
			return false;
	}
	return true;
}

static bool allowed(const struct gw_netpolicy *np, const struct net_addr *x, bool has_v4, uint32_t v4)
{
	uint8_t b4[4] = { (uint8_t)(v4 >> 24), (uint8_t)(v4 >> 16), (uint8_t)(v4 >> 8), (uint8_t)v4 };
	for (size_t i = 0; np && i < np->n_allow; i++)
		if (cidr_has(&np->allow[i], x->fam, x->a) || (has_v4 && cidr_has(&np->allow[i], AF_INET, b4)))
			return true;
	return false;
}

static bool is_local_any(const struct net_addr *x)
{
	if (x->fam == AF_INET)
		return x->a[0] == 127 || x->a[0] == 0;
	return all_zero(x->a, 15) && x->a[15] <= 1;
}

static bool same_host(const struct net_addr *s, const struct net_addr *x, bool has_v4, uint32_t v4)
{
	if (s->fam == x->fam && memcmp(s->a, x->a, 16) == 0)
		return true;
	return has_v4 && s->fam == AF_INET && v4_of(s->a) == v4;
}

static bool is_self(const struct gw_netpolicy *np, const struct net_addr *x, bool has_v4, uint32_t v4)
{
	/* connecting to 0.0.0.0 or :: reaches this host */
	bool unspec = (x->fam == AF_INET && all_zero(x->a, 4)) || (x->fam == AF_INET6 && all_zero(x->a, 16)) ||
	              (has_v4 && v4 == 0);
	struct net_addr e = { .fam = AF_INET, .port = x->port };
	if (has_v4) {
		e.a[0] = (uint8_t)(v4 >> 24), e.a[1] = (uint8_t)(v4 >> 16), e.a[2] = (uint8_t)(v4 >> 8), e.a[3] = (uint8_t)v4;
	}
	for (size_t i = 0; np && i < np->n_self; i++) {
		const struct self *s = &np->self[i];
		if (s->addr.port != x->port)
			continue;
		if (unspec || same_host(&s->addr, x, has_v4, v4))
			return true;
		if (s->any && (is_local_any(x) || (has_v4 && is_local_any(&e))))
			return true;
	}
	return false;
}

static void print_addr(const struct net_addr *x, char *buf, size_t cap)
{
	char h[INET6_ADDRSTRLEN] = "?";
	inet_ntop(x->fam, x->a, h, sizeof h);
	snprintf(buf, cap, x->fam == AF_INET6 ? "[%s]:%u" : "%s:%u", h, (unsigned)x->port);
}

static void print_v4(uint32_t v4, char *buf, size_t cap)
{
	snprintf(buf, cap, "%u.%u.%u.%u", v4 >> 24, (v4 >> 16) & 0xff, (v4 >> 8) & 0xff, v4 & 0xff);
}

dc_err gw_netpolicy_check(const struct gw_netpolicy *np, const struct sockaddr *sa, socklen_t len, bool untrusted,
                          char *why, size_t why_len)
{
	if (why && why_len)
		why[0] = 0;
	struct net_addr x;
	if (!addr_of(sa, len, &x)) {
		if (!untrusted && sa && sa->sa_family != AF_INET && sa->sa_family != AF_INET6)
			return DC_OK; /* a unix socket the configuration named */
		if (why && why_len)
			snprintf(why, why_len, "outbound policy: address family %d refused", sa ? (int)sa->sa_family : -1);
		return DC_ERR_DENIED;
	}
	uint32_t v4 = 0;
	bool has_v4 = x.fam == AF_INET6 && v6_embedded(x.a, &v4);
	char at[INET6_ADDRSTRLEN + 10];
	print_addr(&x, at, sizeof at);
	if (is_self(np, &x, has_v4, v4)) {
		if (why && why_len)
			snprintf(why, why_len, "outbound policy: %s is the gateway itself", at);
		return DC_ERR_DENIED;
	}
	if (!untrusted)
		return DC_OK;
	const char *what = x.fam == AF_INET ? v4_class(v4_of(x.a)) : v6_class(x.a);
	const char *inner = has_v4 ? v4_class(v4) : NULL;
	if (!what && !inner)
		return DC_OK;
	if (allowed(np, &x, has_v4, v4))
		return DC_OK;
	if (why && why_len) {
		if (what) {
			snprintf(why, why_len, "outbound policy: %s is %s and not allowed", at, what);
		} else {
			char v4s[16];
			print_v4(v4, v4s, sizeof v4s);
			snprintf(why, why_len, "outbound policy: %s carries %s, which is %s and not allowed", at, v4s, inner);
		}
	}
	return DC_ERR_DENIED;
}

/* ---- setup --------------------------------------------------------------------------------- */

static bool parse_cidr(const char *tok, struct cidr *c)
{
	memset(c, 0, sizeof *c);
	char buf[TOKEN_MAX + 1];
	size_t n = strlen(tok);
	if (n == 0 || n > TOKEN_MAX)
		return false;
	memcpy(buf, tok, n + 1);
	char *slash = strchr(buf, '/');
	if (slash)
		*slash = 0;
	if (inet_pton(AF_INET, buf, c->a) == 1)
		c->fam = AF_INET;
	else if (inet_pton(AF_INET6, buf, c->a) == 1)
		c->fam = AF_INET6;
	else
		return false;
	unsigned max = c->fam == AF_INET ? 32 : 128;
	c->bits = max;
	if (slash) {
		const char *p = slash + 1;
		size_t d = strspn(p, "0123456789");
		if (d == 0 || d > 3 || p[d] || (d > 1 && p[0] == '0'))
			return false;
		unsigned v = 0;
		for (size_t i = 0; i < d; i++)
			v = v * 10 + (unsigned)(p[i] - '0');
		if (v > max)
			return false;
		c->bits = v;
	}
	/* host bits are cleared: 10.1.2.3/8 is 10.0.0.0/8 */
	for (unsigned i = c->bits; i < max; i++)
		c->a[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
	return true;
}

dc_err gw_netpolicy_allow(struct gw_netpolicy *np, const char *text, struct dc_errinfo *ei)
{
	if (!np || !text)
		return DC_ERR_INVAL;
	const char *sep = " \t,\r\n";
	const char *p = text + strspn(text, sep);
	if (strncmp(p, "allow", 5) == 0 && (p[5] == 0 || strchr(" \t", p[5])))
		p += 5;
	struct cidr add[64];
	size_t n = 0;
	for (;;) {
		p += strspn(p, sep);
		if (!*p)
			break;
		size_t tl = strcspn(p, sep);
		if (n == sizeof add / sizeof add[0])
			return dc_errinfo_set(ei, DC_ERR_TOO_BIG, "allow: more than %zu CIDRs on one line", n);
		char tok[TOKEN_MAX + 1] = "";
		if (tl <= TOKEN_MAX) {
			memcpy(tok, p, tl);
			tok[tl] = 0;
		}
		if (tl > TOKEN_MAX || !parse_cidr(tok, &add[n]))
			return dc_errinfo_set(ei, DC_ERR_MALFORMED, "allow: '%.*s' is not a CIDR", tl > 80 ? 80 : (int)tl, p);
		n++;
		p += tl;
	}
	if (n == 0)
		return dc_errinfo_set(ei, DC_ERR_MALFORMED, "allow: no CIDR given");
	if (np->n_allow + n > MAX_ALLOW)
		return dc_errinfo_set(ei, DC_ERR_TOO_BIG, "allow: more than %d CIDRs", MAX_ALLOW);
	struct cidr *na = realloc(np->allow, (np->n_allow + n) * sizeof *na);
	if (!na)
		return DC_ERR_NOMEM;
	np->allow = na;
	memcpy(np->allow + np->n_allow, add, n * sizeof *add);
	np->n_allow += n;
	return DC_OK;
}

static dc_err self_push(struct gw_netpolicy *np, const struct net_addr *a, bool any)
{
	for (size_t i = 0; i < np->n_self; i++)
		if (np->self[i].any == any && memcmp(&np->self[i].addr, a, sizeof *a) == 0)
			return DC_OK;
	if (np->n_self >= MAX_SELF)
		return DC_ERR_TOO_BIG;
	struct self *ns = realloc(np->self, (np->n_self + 1) * sizeof *ns);
	if (!ns)
		return DC_ERR_NOMEM;
	np->self = ns;
	np->self[np->n_self].addr = *a;
	np->self[np->n_self].any = any;
	np->n_self++;
	return DC_OK;
}

dc_err gw_netpolicy_add_self(struct gw_netpolicy *np, const struct sockaddr *sa, socklen_t len)
{
	struct net_addr x;
	if (!np || !addr_of(sa, len, &x))
		return DC_ERR_INVAL;
	bool any = (x.fam == AF_INET && all_zero(x.a, 4)) || (x.fam == AF_INET6 && all_zero(x.a, 16));
	dc_err rc = self_push(np, &x, any);
	if (rc || !any)
		return rc;
	/* every address of this host, at that port */
	struct ifaddrs *ifs = NULL;
	if (getifaddrs(&ifs) != 0)
		return DC_OK; /* loopback and unspecified are covered by `any` */
	for (struct ifaddrs *i = ifs; i && !rc; i = i->ifa_next) {
		struct net_addr y;
		if (!i->ifa_addr || !addr_of(i->ifa_addr, i->ifa_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
		                                                                               : sizeof(struct sockaddr_in), &y))
			continue;
		y.port = x.port;
		rc = self_push(np, &y, false);
	}
	freeifaddrs(ifs);
	return rc;
}

dc_err gw_netpolicy_add_self_text(struct gw_netpolicy *np, const char *hostport, struct dc_errinfo *ei)
{
	if (!np || !hostport)
		return DC_ERR_INVAL;
	char host[256], port[8];
	const char *colon;
	if (hostport[0] == '[') {
		const char *end = strchr(hostport, ']');
		if (!end || end[1] != ':' || (size_t)(end - hostport - 1) >= sizeof host)
			return dc_errinfo_set(ei, DC_ERR_MALFORMED, "'%.200s' is not [address]:port", hostport);
		memcpy(host, hostport + 1, (size_t)(end - hostport - 1));
		host[end - hostport - 1] = 0;
		colon = end + 1;
	} else {
		colon = strrchr(hostport, ':');
		if (!colon || (size_t)(colon - hostport) >= sizeof host)
			return dc_errinfo_set(ei, DC_ERR_MALFORMED, "'%.200s' is not host:port", hostport);
		memcpy(host, hostport, (size_t)(colon - hostport));
		host[colon - hostport] = 0;
	}
	size_t pl = strlen(colon + 1);
	if (pl == 0 || pl > 5 || strspn(colon + 1, "0123456789") != pl)
		return dc_errinfo_set(ei, DC_ERR_MALFORMED, "'%.200s': bad port", hostport);
	memcpy(port, colon + 1, pl + 1);
	bool wild = host[0] == 0 || strcmp(host, "*") == 0;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV | (wild ? AI_PASSIVE : 0) };
	struct addrinfo *res = NULL;
	int g = getaddrinfo(wild ? NULL : host, port, &hints, &res);
	if (g != 0)
		return dc_errinfo_set(ei, DC_ERR_RESOLVE, "'%.200s': %s", hostport, gai_strerror(g));
	dc_err rc = DC_OK;
	for (struct addrinfo *a = res; a && !rc; a = a->ai_next)
		if (a->ai_family == AF_INET || a->ai_family == AF_INET6)
			rc = gw_netpolicy_add_self(np, a->ai_addr, a->ai_addrlen);
	freeaddrinfo(res);
	return rc ? dc_errinfo_set(ei, rc, "'%.200s': %s", hostport, dc_strerror(rc)) : DC_OK;
}

/* ---- libcurl ------------------------------------------------------------------------------- */

static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct gw_netpolicy_curl *st = arg;
	if (purpose != CURLSOCKTYPE_IPCXN) {
		st->refused = true;
		snprintf(st->why, sizeof st->why, "outbound policy: only outgoing connections");
		return CURL_SOCKET_BAD;
	}
	struct sockaddr_storage ss;
	socklen_t len = a->addrlen < sizeof ss ? a->addrlen : (socklen_t)sizeof ss;
	memset(&ss, 0, sizeof ss);
	memcpy(&ss, &a->addr, len);
	if (gw_netpolicy_check(st->np, (const struct sockaddr *)&ss, len, st->untrusted, st->why, sizeof st->why)) {
		st->refused = true;
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

void gw_netpolicy_curl(CURL *e, const struct gw_netpolicy *np, bool untrusted, struct gw_netpolicy_curl *st)
{
	memset(st, 0, sizeof *st);
	st->np = np;
	st->untrusted = untrusted;
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, st);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	if (!untrusted)
		return;
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
}
