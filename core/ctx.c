/* The context: limits plus borrowed resolver and keystore. */
#include "internal.h"

#include <stdlib.h>

void dc_limits_default(struct dc_limits *l)
{
	l->max_message_bytes = 32u << 20; /* a 10 MB message wrapped in forwards stays under it */
	l->max_json_depth = 64;
	l->max_recipients = 64;
	l->max_forward_depth = 8;
	l->max_attachments = 256;
	l->max_resolutions = 32;
}

dc_err dc_ctx_new(struct dc_resolver *r, struct dc_keystore *ks, struct dc_ctx **out)
{
	*out = NULL;
	if (!r || !ks)
		return DC_ERR_INVAL;
	struct dc_ctx *c = calloc(1, sizeof *c);
	if (!c)
		return DC_ERR_NOMEM;
	c->res = r;
	c->ks = ks;
	dc_limits_default(&c->lim);
	*out = c;
	return DC_OK;
}

void dc_ctx_free(struct dc_ctx *c)
{
	if (!c)
		return;
	free(c);
}

void dc_ctx_set_limits(struct dc_ctx *c, const struct dc_limits *l)
{
	struct dc_limits d;
	dc_limits_default(&d);
	c->lim.max_message_bytes = l->max_message_bytes ? l->max_message_bytes : d.max_message_bytes;
	c->lim.max_json_depth = l->max_json_depth ? l->max_json_depth : d.max_json_depth;
	c->lim.max_recipients = l->max_recipients ? l->max_recipients : d.max_recipients;
	c->lim.max_forward_depth = l->max_forward_depth ? l->max_forward_depth : d.max_forward_depth;
	c->lim.max_attachments = l->max_attachments ? l->max_attachments : d.max_attachments;
	c->lim.max_resolutions = l->max_resolutions ? l->max_resolutions : d.max_resolutions;
}

void dc_ctx_get_limits(const struct dc_ctx *c, struct dc_limits *out)
{
	*out = c->lim;
}
