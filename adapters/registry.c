/* Every compiled-in adapter, by name and by endpoint URI scheme; destinations (adapter.h). */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "adapter.h"

extern const struct gw_adapter_ops gw_ad_http, gw_ad_ws, gw_ad_smtp, gw_ad_imap, gw_ad_file, gw_ad_mqtt;
#ifdef GW_TEST_ADAPTERS
extern const struct gw_adapter_ops gw_ad_pipe; /* tests/adapters/pipe.c, in test builds only */
#endif

const struct gw_adapter_ops *const gw_adapters[] = {
	&gw_ad_http,
	&gw_ad_ws,
	&gw_ad_smtp,
	&gw_ad_imap,
	&gw_ad_file,
	&gw_ad_mqtt,
#ifdef GW_TEST_ADAPTERS
	&gw_ad_pipe,
#endif
	NULL,
};

const struct gw_adapter_ops *gw_adapter_by_name(const char *name)
{
	for (size_t i = 0; gw_adapters[i]; i++)
		if (strcasecmp(gw_adapters[i]->name, name) == 0)
			return gw_adapters[i];
	return NULL;
}

const struct gw_adapter_ops *gw_adapter_by_scheme(const char *scheme)
{
	for (size_t i = 0; gw_adapters[i]; i++)
		for (const char *const *s = gw_adapters[i]->schemes; s && *s; s++)
			if (strcasecmp(*s, scheme) == 0)
				return gw_adapters[i];
	return NULL;
}

const struct gw_adapter_ops *gw_adapter_for_uri(const char *uri)
{
	char scheme[16];
	size_t n = strcspn(uri, ":");
	if (!uri[n] || n == 0 || n >= sizeof scheme)
		return NULL;
	memcpy(scheme, uri, n);
	scheme[n] = 0;
	return gw_adapter_by_scheme(scheme);
}

bool gw_dest_parse(const char *s, struct gw_dest *d)
{
	memset(d, 0, sizeof *d);
	d->opts = "";
	if (!s)
		return false;
	if (strncmp(s, "resolved ", 9) == 0) {
		d->untrusted = true;
		s += 9;
	}
	size_t n = strcspn(s, " ");
	if (!s[n] || n == 0 || n >= sizeof d->adapter)
		return false;
	memcpy(d->adapter, s, n);
	d->adapter[n] = 0;
	d->target = s + n + 1;
	d->target_len = strcspn(d->target, "\t");
	if (d->target[d->target_len] == '\t')
		d->opts = d->target + d->target_len + 1;
	if (d->target_len == 0)
		return false;
	d->hold = strcmp(d->adapter, "hold") == 0;
	return !(d->hold && d->untrusted);
}

bool gw_dest_target(const struct gw_dest *d, char *buf, size_t n)
{
	if (d->target_len >= n)
		return false;
	memcpy(buf, d->target, d->target_len);
	buf[d->target_len] = 0;
	return true;
}

bool gw_dest_opt(const struct gw_dest *d, const char *key, char *buf, size_t n)
{
	size_t kl = strlen(key);
	if (n)
		buf[0] = 0;
	for (const char *p = d->opts; p && *p;) {
		p += strspn(p, " ");
		size_t w = strcspn(p, " ");
		if (w > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
			size_t vl = w - kl - 1;
			if (vl >= n)
				return false;
			memcpy(buf, p + kl + 1, vl);
			buf[vl] = 0;
			return true;
		}
		p += w;
	}
	return false;
}
