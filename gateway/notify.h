/* Telling systemd how the daemon is (Type=notify): READY=1 once it serves, STATUS= lines with
 * what it has relayed, WATCHDOG=1 from the event loop when the unit sets WatchdogSec (a loop
 * that stops turning stops the pings, and systemd restarts the gateway), STOPPING=1 when it
 * drains. Nothing at all when it was not started by systemd (no NOTIFY_SOCKET). */
#ifndef GW_NOTIFY_H
#define GW_NOTIFY_H
#include "didcomm.h"

struct gw_loop;
struct gw_notify;

/* loop thread, once the daemon serves: READY=1 and the timers; NULL (nothing to do) or an
 * error are both fine for the caller to ignore */
dc_err gw_notify_ready(struct gw_loop *loop, const char *status, struct gw_notify **out) DC_WUR;
void gw_notify_stopping(struct gw_notify *n);
/* loop thread, before the loop is freed (NULL-safe) */
void gw_notify_free(struct gw_notify *n);
#endif
