#!/usr/bin/env bash
# Builds tests/queue/crash.c against the queue (libgwqueue.a) and libdidcomm, and runs it in a
# scratch directory.
set -u
cd "$(dirname "$0")/../.."
LIB=${LIB:-build/release/libdidcomm.a}
QLIB=${QLIB:-build/release/libgwqueue.a}
D=$(mktemp -d /tmp/dcqcrash.XXXXXX)
trap 'rm -rf "$D"' EXIT
cc -std=c11 -D_DEFAULT_SOURCE -O2 -Icore -Igateway/queue $(pkg-config --cflags libsodium libcjson sqlite3) tests/queue/crash.c \
	"$QLIB" "$LIB" $(pkg-config --libs libsodium libcjson libcrypto sqlite3) -lpthread -lm -o "$D/crash" || { echo "queue-crash: 0 passed, 1 failed"; exit 1; }
"$D/crash" "$D"
