/* did:web -> URL (did:web spec §3.2): did:web:host[%3Aport][:path...] becomes
 * https://host[:port]/path.../did.json, or https://host[:port]/.well-known/did.json without a
 * path. http:// is used only for 127.0.0.1 / localhost, and only when the caller allows it
 * (tests). The host is letters, digits, '-' and '.', the port 1..65535, path segments are
 * unreserved characters or %-escapes and never "." or "..": nothing in the DID can steer the
 * request elsewhere. (resolve.c checks that the fetched document's id is the DID.) */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WEB_DID 1024
#define MAX_HOST 253

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static bool hex_digit(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static dc_err bad(struct dc_errinfo *ei, const char *what, const char *did)
{
	return dc__fail(ei, DC_ERR_RESOLVE, "did:web: bad %s in %.200s", what, did);
}

dc_err dc__did_web_url(const char *did, bool allow_http_loopback, char **url, struct dc_errinfo *ei)
{
	*url = NULL;
	if (!did || strncmp(did, "did:web:", 8) != 0 || strnlen(did, MAX_WEB_DID + 1) > MAX_WEB_DID)
		return dc__fail(ei, DC_ERR_RESOLVE, "not a did:web (or longer than %d): %.200s", MAX_WEB_DID,
		                did ? did : "(null)");
	const char *p = did + 8;
	/* host, then an optional %3A port */
	size_t hl = 0;
	while (host_char(p[hl]))
		hl++;
	if (hl == 0 || hl > MAX_HOST || p[0] == '.' || p[0] == '-' || p[hl - 1] == '.' || p[hl - 1] == '-')
		return bad(ei, "host", did);
	for (size_t i = 0; i + 1 < hl; i++)
		if (p[i] == '.' && p[i + 1] == '.')
			return bad(ei, "host", did);
	const char *host = p;
	p += hl;
	unsigned long port = 0;
	if (p[0] == '%') {
		if (p[1] != '3' || (p[2] != 'A' && p[2] != 'a'))
			return bad(ei, "host", did);
		p += 3;
		size_t pl = strspn(p, "0123456789");
		if (pl == 0 || pl > 5 || p[0] == '0')
			return bad(ei, "port", did);
		for (size_t i = 0; i < pl; i++)
			port = port * 10 + (unsigned long)(p[i] - '0');
		if (port > 65535)
			return bad(ei, "port", did);
		p += pl;
	}
	if (*p && *p != ':')
		return bad(ei, "host", did);
	bool loopback = (hl == 9 && strncmp(host, "127.0.0.1", 9) == 0) || (hl == 9 && strncmp(host, "localhost", 9) == 0);
	/* path: each ":" becomes "/" */
	const char *path = p;
	size_t path_len = strlen(path);
	for (const char *s = path; *s;) {
		s++; /* the ':' */
		size_t n = strcspn(s, ":");
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return bad(ei, "path", did);
		for (size_t i = 0; i < n; i++) {
			char c = s[i];
			if (c == '%') {
				if (i + 2 >= n || !hex_digit(s[i + 1]) || !hex_digit(s[i + 2]))
					return bad(ei, "path", did);
				i += 2;
			} else if (!host_char(c) && c != '_' && c != '~') {
				return bad(ei, "path", did);
			}
		}
		s += n;
	}
	const char *scheme = allow_http_loopback && loopback ? "http" : "https";
	size_t cap = strlen(scheme) + 3 + hl + 8 + path_len + sizeof "/.well-known/did.json";
	char *u = malloc(cap);
	if (!u)
		return DC_ERR_NOMEM;
	int o = snprintf(u, cap, "%s://%.*s", scheme, (int)hl, host);
	if (port)
		o += snprintf(u + o, cap - (size_t)o, ":%lu", port);
	for (size_t i = 0; i < path_len; i++)
		u[o++] = path[i] == ':' ? '/' : path[i];
	snprintf(u + o, cap - (size_t)o, "%s", path_len ? "/did.json" : "/.well-known/did.json");
	*url = u;
	return DC_OK;
}
