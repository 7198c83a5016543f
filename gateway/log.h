/* The daemon's log: one line per event on stderr,
 *   "2026-11-25T03:14:15.123Z level context: message"
 * whatever the message holds (CR/LF become blanks). Repeated events are rate-limited per call
 * site: at most LOG_BURST lines per LOG_WINDOW_S seconds each, then one line says how many
 * were left out ("N more like this"). Any thread. */
#ifndef GW_LOG_H
#define GW_LOG_H
#include <stdarg.h>

#include "adapter.h" /* enum gw_log_level */

void gw_log(enum gw_log_level lvl, const char *ctx, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void gw_logv(enum gw_log_level lvl, const char *ctx, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
/* "debug" | "info" | "warn" | "error": lower levels are not written */
void gw_log_set_level(const char *level);
/* "json": one JSON object a line, {"time","level","component","msg"} (plus "dropped_before": N
 * after a rate-limited burst, "rate_limited": seconds when the next ones are counted, not
 * written); anything else: the text form above */
void gw_log_set_format(const char *format);
/* A delivery attempt to dest failed and will be retried: one info line per destination per
 * minute, the next one saying how many more failed in between (each attempt is a debug line
 * of the caller's). Any thread. */
void gw_log_attempt_failed(const char *ctx, const char *dest, const char *why, unsigned attempt);
#endif
