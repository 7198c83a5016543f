/* The relay daemon (daemon.c) and the one-line log it writes. */
#ifndef GW_DAEMON_H
#define GW_DAEMON_H
#include "state.h"

int gw_daemon_run(struct gw_state *s);
/* "2026-11-25T03:14:15.123Z level context: message" on stderr, one line whatever the text */
void gw_log(const char *level, const char *ctx, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* debug|info|warn|error: lower levels are not written */
void gw_log_set_level(const char *level);
#endif
