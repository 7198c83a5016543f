/* the mediator's requests (coordinate-mediation 3.0/2.0, messagepickup 3.0): parsed, and every
 * answer built from what was parsed */
#include "fuzz.h"
#include "mediation.h"

#include <stdlib.h>

FUZZ_ENTRY(med)
{
	struct dc_med_request r;
	if (dc_med_parse((const char *)data, size, &r, NULL) != DC_OK)
		return 0;
	char *out = NULL;
	const char *rd[] = { "did:example:gw" };
	struct dc_med_status st = { .recipient_did = r.recipient_did, .message_count = 1 };
	struct dc_med_attachment att = { .id = "1", .data = data, .len = size };
	if (r.kind != DC_MED_NONE) {
		if (dc_med_grant(&r, "did:example:gw", rd, 1, &out) == DC_OK)
			free(out);
		if (dc_med_update_response(&r, "did:example:gw", &out) == DC_OK)
			free(out);
		if (dc_med_recipients(&r, "did:example:gw", rd, 1, r.offset, 0, &out) == DC_OK)
			free(out);
		if (dc_med_status(&r, "did:example:gw", &st, &out) == DC_OK)
			free(out);
		if (dc_med_delivery(&r, "did:example:gw", NULL, r.recipient_did, &att, 1, &out) == DC_OK)
			free(out);
	}
	dc_med_request_clear(&r);
	return 0;
}
