/* Outbound HTTP delivery with libcurl: TLS verification on, timeouts, only http(s), temporary
 * redirects followed (the spec: permanent moves go through a DID document update), no
 * "Expect: 100-continue" (libwebsockets servers never answer it), keep-alive through a
 * per-thread reused handle. */
#include "http_client.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>

static size_t sink(char *p, size_t size, size_t nmemb, void *arg)
{
	(void)p;
	(void)arg;
	return size * nmemb; /* the response body carries nothing for us (one-way transport) */
}

static _Thread_local CURL *handle;

enum gw_send_result gw_http_post_sync(const struct gw_http_post *p, long *status, char *why, size_t why_len)
{
	*status = 0;
	if (!handle && !(handle = curl_easy_init())) {
		snprintf(why, why_len, "out of memory");
		return GW_RETRY;
	}
	CURL *c = handle;
	curl_easy_reset(c);
	char ct[160];
	snprintf(ct, sizeof ct, "Content-Type: %s", p->media_type ? p->media_type : "application/didcomm-encrypted+json");
	struct curl_slist *h = curl_slist_append(NULL, ct);
	struct curl_slist *h2 = h ? curl_slist_append(h, "Expect:") : NULL;
	if (!h2) {
		curl_slist_free_all(h);
		snprintf(why, why_len, "out of memory");
		return GW_RETRY;
	}
	h = h2;
	char err[CURL_ERROR_SIZE] = "";
	curl_easy_setopt(c, CURLOPT_URL, p->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, (const char *)p->data);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)p->len);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, p->timeout_ms > 0 ? p->timeout_ms : 10000L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, p->timeout_ms > 0 && p->timeout_ms < 5000 ? p->timeout_ms : 5000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, err);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "didcomm-gateway");
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L); /* 307/308 handled below */
	if (p->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, p->ca_file);
	enum gw_send_result r = GW_RETRY;
	for (int hop = 0; hop < 4; hop++) {
		CURLcode cr = curl_easy_perform(c);
		if (cr != CURLE_OK) {
			snprintf(why, why_len, "%s", err[0] ? err : curl_easy_strerror(cr));
			/* TLS verification failures will not fix themselves: permanent */
			r = (cr == CURLE_PEER_FAILED_VERIFICATION || cr == CURLE_SSL_CACERT_BADFILE ||
			     cr == CURLE_UNSUPPORTED_PROTOCOL || cr == CURLE_URL_MALFORMAT) ?
			        GW_FAILED :
			        GW_RETRY;
			break;
		}
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
		char *loc = NULL;
		if ((*status == 307 || *status == 308) && curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK &&
		    loc) {
			curl_easy_setopt(c, CURLOPT_URL, loc); /* same method and body, as 307/308 require */
			continue;
		}
		snprintf(why, why_len, "HTTP %ld", *status);
		if (*status >= 200 && *status < 300)
			r = GW_SENT;
		else if (*status == 408 || *status == 429 || *status >= 500)
			r = GW_RETRY;
		else
			r = GW_FAILED;
		break;
	}
	curl_slist_free_all(h);
	return r;
}

void gw_http_client_cleanup(void)
{
	if (handle)
		curl_easy_cleanup(handle);
	handle = NULL;
}
