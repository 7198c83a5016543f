/* didcomm-gateway daemon and command line: shared declarations. */
#ifndef GW_GATEWAY_H
#define GW_GATEWAY_H
#include "didcomm.h"

/* did:web fetcher (libcurl) for dc_resolver_set_fetch. */
dc_err gw_web_fetch(void *arg, const char *url, size_t max, char **body, size_t *len);

/* Read a whole file, or stdin for "-" / NULL, at most max bytes (DC_ERR_TOO_BIG above). */
dc_err gw_read_input(const char *path, size_t max, char **out, size_t *len);

int gw_cmd_did(int argc, char **argv);
int gw_cmd_pack(int argc, char **argv);
int gw_cmd_unpack(int argc, char **argv);
int gw_cmd_run(int argc, char **argv);
int gw_cmd_rules(int argc, char **argv);
int gw_cmd_queue(int argc, char **argv); /* cmd_queue.c */
int gw_cmd_send(int argc, char **argv);  /* cmd_send.c */
int gw_cmd_import(int argc, char **argv); /* cmd_import.c */
int gw_cmd_export(int argc, char **argv); /* cmd_bundle.c */
int gw_cmd_identity(int argc, char **argv); /* cmd_identity.c */
int gw_cmd_invite(int argc, char **argv);   /* cmd_invite.c */ /* cmd_rules.c: rules check | rules explain */
#endif
