/* plaintext message validation and the JSON guard under it */
#include "fuzz.h"

FUZZ_ENTRY(msg)
{
	cJSON *j = NULL;
	struct dc_limits l;
	dc_limits_default(&l);
	if (dc__json_parse((const char *)data, size, 64, &j, NULL) == DC_OK) {
		static volatile unsigned rejected; /* the common case; counted so the call stays */
		if (dc__msg_validate(j, &l, NULL) != DC_OK)
			rejected++;
		cJSON_Delete(j);
	}
	return 0;
}
