/* plaintext message validation and the JSON guard under it; and the in-place scan of a
 * plaintext (dc__plain_scan), which must never accept what they refuse */
#include "fuzz.h"

#include <stdlib.h>

FUZZ_ENTRY(msg)
{
	cJSON *j = NULL;
	struct dc_limits l;
	struct dc_plain m;
	dc_limits_default(&l);
	bool scanned = dc__plain_scan((const char *)data, size, 64, &m);
	if (dc__json_parse((const char *)data, size, 64, &j, NULL) == DC_OK) {
		static volatile unsigned rejected; /* the common case; counted so the call stays */
		if (dc__msg_validate(j, &l, NULL) != DC_OK) {
			rejected++;
			if (scanned)
				abort(); /* the scan accepted an invalid message */
		}
		cJSON_Delete(j);
	} else if (scanned) {
		abort(); /* the scan accepted what is not JSON */
	}
	return 0;
}
