/* placeholder entry so the tree links while the CLI is written (gateway/cli.c replaces it) */
#include "didcomm.h"
#include <stdio.h>
int main(void) { if (dc_init()) return 1; fputs("didcomm-gateway: not yet\n", stderr); return 1; }
