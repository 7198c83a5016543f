/* Error codes and their text. */
#include "internal.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>

const char *dc_strerror(dc_err rc)
{
	switch (rc) {
	case DC_OK: return "ok";
	case DC_ERR_NOMEM: return "out of memory";
	case DC_ERR_INVAL: return "invalid argument";
	case DC_ERR_MALFORMED: return "malformed input";
	case DC_ERR_TOO_BIG: return "input too big";
	case DC_ERR_UNSUPPORTED: return "unsupported";
	case DC_ERR_CRYPTO: return "decryption or verification failed";
	case DC_ERR_NOT_FOUND: return "not found";
	case DC_ERR_RESOLVE: return "DID resolution failed";
	case DC_ERR_EXPIRED: return "expired";
	case DC_ERR_DENIED: return "denied";
	case DC_ERR_IO: return "I/O error";
	case DC_ERR_AGAIN: return "try again later";
	}
	return "unknown error";
}

dc_err dc_errinfo_set(struct dc_errinfo *ei, dc_err code, const char *fmt, ...)
{
	if (ei) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(ei->msg, sizeof ei->msg, fmt, ap);
		va_end(ap);
		ei->code = code;
	}
	return code;
}

dc_err dc_init(void)
{
	return sodium_init() < 0 ? DC_ERR_CRYPTO : DC_OK;
}
