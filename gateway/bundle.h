/* Bundles and receipts for sneakernet (cmd_bundle.c): `export` writes them, `import` takes
 * them (cmd_import.c hands over every file that is one). */
#ifndef GW_BUNDLE_H
#define GW_BUNDLE_H
#include <stdbool.h>
#include <stddef.h>

struct gw_state;

#define GW_BUNDLE_MAX_BYTES ((size_t)1 << 30)
/* data looks like a bundle or a receipt (its type near the start) */
bool gw_bundle_is(const char *data, size_t len);
/* A bundle: verified whole, then each message taken in (once: state_dir/imported/); a receipt
 * into receipt_dir when not NULL. A receipt: the held messages it names released. 0 when all
 * went well, 1 otherwise (messages on stderr). */
int gw_bundle_import(struct gw_state *s, const char *path, const char *data, size_t len, const char *receipt_dir);
#endif
