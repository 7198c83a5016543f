/* Every compiled-in adapter, by name and by endpoint URI scheme. */
#include <stddef.h>
#include <strings.h>

#include "adapter.h"

extern const struct gw_adapter_ops gw_ad_http, gw_ad_ws;

const struct gw_adapter_ops *const gw_adapters[] = { &gw_ad_http, &gw_ad_ws, NULL };

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
