/* The relay daemon (daemon.c). */
#ifndef GW_DAEMON_H
#define GW_DAEMON_H
#include "state.h"

/* run until SIGTERM/SIGINT; 0 after a clean stop, 1 when it could not start */
int gw_daemon_run(struct gw_state *s);
#endif
