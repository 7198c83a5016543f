/* did:web -> URL (did:web spec §3.2): did:web:host[%3Aport][:path...] becomes
 * https://host[:port]/path.../did.json, or /.well-known/did.json without a path. http:// is
 * used only for 127.0.0.1/localhost and only when the caller allows it (tests). */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static bool path_char(char c)
{
	return host_char(c) || c == '_' || c == '~' || c == '%';
}

dc_err dc__did_web_url(const char *did, bool allow_http_loopback, char **url, struct dc_errinfo *ei)
{
	*url = NULL;
	if (strncmp(did, "did:web:", 8) != 0 || strlen(did) > 1024)
		return dc__fail(ei, DC_ERR_RESOLVE, "not a did:web: %.200s", did);
	const char *p = did + 8;
	char host[300];
	size_t h = 0;
	/* host, with an optional %3A port */
	while (*p && *p != ':' && h < sizeof host - 1) {
		if (p[0] == '%' && p[1] == '3' && (p[2] == 'A' || p[2] == 'a')) {
			host[h++] = ':';
			p += 3;
			continue;
		}
		if (!host_char(*p))
			return dc__fail(ei, DC_ERR_RESOLVE, "did:web: bad host in %.200s", did);
		host[h++] = *p++;
	}
	host[h] = 0;
	if (h == 0 || (*p && *p != ':'))
		return dc__fail(ei, DC_ERR_RESOLVE, "did:web: bad host in %.200s", did);
	const char *colon = strchr(host, ':');
	if (colon) {
		const char *q = colon + 1;
		if (!*q || strlen(q) > 5 || strspn(q, "0123456789") != strlen(q))
			return dc__fail(ei, DC_ERR_RESOLVE, "did:web: bad port in %.200s", did);
	}
	size_t hn = colon ? (size_t)(colon - host) : h;
	bool loopback = (hn == 9 && strncmp(host, "127.0.0.1", 9) == 0) || (hn == 9 && strncmp(host, "localhost", 9) == 0);
	char path[1024];
	size_t o = 0;
	while (*p == ':') {
		p++;
		if (!*p || *p == ':' || o + 2 >= sizeof path)
			return dc__fail(ei, DC_ERR_RESOLVE, "did:web: bad path in %.200s", did);
		path[o++] = '/';
		while (*p && *p != ':' && o + 1 < sizeof path) {
			if (!path_char(*p) || (p[0] == '.' && p[1] == '.'))
				return dc__fail(ei, DC_ERR_RESOLVE, "did:web: bad path in %.200s", did);
			path[o++] = *p++;
		}
	}
	path[o] = 0;
	const char *scheme = allow_http_loopback && loopback ? "http" : "https";
	size_t n = strlen(scheme) + 3 + h + o + 32;
	char *u = malloc(n);
	if (!u)
		return DC_ERR_NOMEM;
	snprintf(u, n, "%s://%s%s%s", scheme, host, o ? path : "/.well-known", "/did.json");
	*url = u;
	return DC_OK;
}
