/* The listener's front door (loop thread). The door owns the listening socket: it accepts,
 * counts connections in total and per peer address, and looks at each connection's first
 * request head (peeked, not read) before libwebsockets reads it: libwebsockets 4.1 keeps no
 * count of headers and needs a header table as big as the longest request line it must
 * answer. The door answers 414 (request line over GW_DOOR_MAX_LINE) and 431 (more than
 * GW_DOOR_MAX_HEADERS header lines, or a head over GW_DOOR_MAX_HEAD) itself and closes; any
 * other connection goes to the adopt callback with its bytes still in the socket. */
#ifndef GW_DOOR_H
#define GW_DOOR_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "didcomm.h"

#define GW_DOOR_MAX_LINE 8300   /* request line: 8 KiB of URI and the rest (414 beyond) */
#define GW_DOOR_MAX_HEAD 16384  /* a whole head (431 beyond) */
#define GW_DOOR_MAX_HEADERS 100 /* header lines (431 beyond) */

struct gw_door;

/* the socket, its head not read yet; it is the callback's from then on */
typedef void gw_door_adopt_fn(void *arg, int fd);

/* bind host:port (port 0: any) and listen; *bound gets the port bound. Fails with the reason
 * when the address cannot be bound. max_conns in all, per_peer from one address; a connection
 * that has not sent its head within head_timeout_s is closed (408 if it sent part of it). */
dc_err gw_door_open(uv_loop_t *uv, const char *host, int port, unsigned max_conns, unsigned per_peer,
                    unsigned head_timeout_s, gw_door_adopt_fn *adopt, void *arg, struct gw_door **out, int *bound,
                    struct dc_errinfo *ei) DC_WUR;
/* stop listening and drop every connection not handed on yet; the door is freed when libuv
 * has closed its handles (the loop must turn) */
void gw_door_close(struct gw_door *d);

/* An adopted connection's count goes over to its wsi: claim returns the peer bucket + 1
 * counted at fd's accept (0: none) and forgets it there; release gives that count back when
 * the connection ends. */
unsigned gw_door_claim(struct gw_door *d, int fd);
void gw_door_release(struct gw_door *d, unsigned bucket1);

/* pure: what the door does with the first len bytes of a connection. 0: hand it on (the head
 * is whole and within bounds, or it cannot be judged from these bytes: more is needed, see
 * *more); 414 or 431: answer that and close. */
int gw_door_judge(const char *buf, size_t len, bool *more);
#endif
