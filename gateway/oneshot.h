/* One-shot deliveries for the commands (`send`, `queue flush`): the adapters of a
 * configuration, started on a private loop with a host that takes no inbound messages, and
 * the same ops->send the daemon uses: one delivery path, one policy per transport. */
#ifndef GW_ONESHOT_H
#define GW_ONESHOT_H
#include "adapter.h"
#include "conf.h"

struct gw_oneshot;

dc_err gw_oneshot_new(const struct gw_conf *conf, const char *our_did, struct gw_oneshot **out,
                      struct dc_errinfo *ei) DC_WUR;
/* Deliver env to d and wait for the outcome (at most timeout_ms, then GW_RETRY). why gets
 * one line. GW_FAILED without trying when no configured adapter serves d. */
enum gw_send_result gw_oneshot_send(struct gw_oneshot *o, const struct gw_dest *d, const struct gw_envelope *env,
                                    long timeout_ms, char *why, size_t why_len);
void gw_oneshot_free(struct gw_oneshot *o);
#endif
