/* did:web fetcher for the core's dc_fetch_fn: libcurl GET with a size cap, timeouts,
 * TLS verification on, no redirects to other schemes. */
#include "gateway.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

struct sink {
	char *buf;
	size_t len, max;
	bool too_big;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;
	if (n > s->max - s->len) {
		s->too_big = true;
		return 0;
	}
	char *nb = realloc(s->buf, s->len + n + 1);
	if (!nb)
		return 0;
	s->buf = nb;
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->buf[s->len] = 0;
	return n;
}

dc_err gw_web_fetch(void *arg, const char *url, size_t max, char **body, size_t *len)
{
	(void)arg;
	*body = NULL;
	*len = 0;
	CURL *c = curl_easy_init();
	if (!c)
		return DC_ERR_NOMEM;
	struct sink s = { .max = max };
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 15L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
#endif
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "didcomm-gateway");
	CURLcode cr = curl_easy_perform(c);
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (s.too_big) {
		free(s.buf);
		return DC_ERR_TOO_BIG;
	}
	if (cr != CURLE_OK || status != 200 || !s.buf) {
		free(s.buf);
		return DC_ERR_RESOLVE;
	}
	*body = s.buf;
	*len = s.len;
	return DC_OK;
}
