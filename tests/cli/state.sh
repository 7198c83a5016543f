#!/usr/bin/env bash
# The state directory with the real daemon: one daemon per state_dir (a second one exits
# non-zero naming the first one's pid, offline commands still work), the identity survives a
# deleted did.txt, and a damaged or empty queue.db stops the start with a clear message.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/common.inc

PIDS=""
trap 'for p in $PIDS; do kill "$p" 2>/dev/null; done; rm -rf "$T"' EXIT
PORT=$(free_port)
printf 'state_dir %s/gw\n[http]\nlisten 127.0.0.1:%s\n' "$T" "$PORT" >"$T/gw.conf"

# start NAME: the daemon in the background, its pid in $DPID, its log in $T/NAME.log; waits for
# its "listening" line (or its end)
start() {
	"$BIN" run -c "$T/gw.conf" >"$T/$1.log" 2>&1 &
	DPID=$!
	PIDS="$PIDS $DPID"
	for _ in $(seq 1 300); do
		grep -q "listening on" "$T/$1.log" && return 0
		kill -0 "$DPID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
# stop PID: SIGTERM, then its exit status
stop() { kill "$1" 2>/dev/null; wait "$1"; }

if start first; then ok "the daemon starts"; else bad "the daemon starts" "$(tail -n 3 "$T/first.log")"; fi
FIRST=$DPID
DID=$(cat "$T/gw/did.txt")
grep -qx "$FIRST" "$T/gw/lock" && ok "state_dir/lock holds the daemon's pid" || bad "lock holds the pid" "$(cat "$T/gw/lock")"
refuse "a second daemon on the same state_dir" "in use .*pid $FIRST" timeout 20 "$BIN" run -c "$T/gw.conf"
kill -0 "$FIRST" 2>/dev/null && ok "the first one still runs" || bad "the first one still runs"
check "queue stats while the daemon runs" "$BIN" queue stats -c "$T/gw.conf"
check "identity while the daemon runs" "$BIN" identity -c "$T/gw.conf"
[ "$(cat "$T/out")" = "$DID" ] && ok "the same DID" || bad "the same DID" "$(cat "$T/out")"
stop "$FIRST" && ok "the daemon stops cleanly" || bad "the daemon stops cleanly" "$(tail -n 3 "$T/first.log")"
for f in did.txt secrets.json lock queue.db; do
	[ "$(stat -c %a "$T/gw/$f")" = 600 ] && ok "$f is 0600" || bad "$f is 0600" "$(stat -c %a "$T/gw/$f")"
done

# the identity survives a deleted did.txt
rm "$T/gw/did.txt"
cp "$T/gw/secrets.json" "$T/secrets.before"
if start again; then ok "starts without did.txt"; else bad "starts without did.txt" "$(tail -n 3 "$T/again.log")"; fi
[ "$(cat "$T/gw/did.txt" 2>/dev/null)" = "$DID" ] && ok "did.txt written again with the same DID" ||
	bad "same DID after restart" "$(cat "$T/gw/did.txt" 2>/dev/null)"
# the identity line follows the "listening" line start() waits for: wait for it too
for _ in $(seq 1 300); do grep -qF "identity $DID" "$T/again.log" && break; sleep 0.1; done
grep -qF "identity $DID" "$T/again.log" && ok "the daemon runs as that DID" ||
	bad "the daemon runs as that DID" "$(grep -F identity "$T/again.log")"
cmp -s "$T/gw/secrets.json" "$T/secrets.before" && ok "secrets.json untouched" || bad "secrets.json untouched"
stop "$DPID" || bad "the daemon stops cleanly (2)"

# a damaged queue stops the start: the root page of the queue table overwritten ...
cp "$T/gw/queue.db" "$T/queue.good"
python3 - "$T/gw/queue.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
root = db.execute("SELECT rootpage FROM sqlite_master WHERE name='queue'").fetchone()[0]
size = db.execute("PRAGMA page_size").fetchone()[0]
db.close()
with open(sys.argv[1], "r+b") as f:
    f.seek((root - 1) * size)
    f.write(b"\xff" * size)
PY
refuse "a queue.db that fails quick_check" "queue.db: damaged \(quick_check: .*not starting" timeout 20 "$BIN" run -c "$T/gw.conf"
# ... garbage from the first byte ...
head -c 20000 /dev/urandom >"$T/gw/queue.db"
rm -f "$T/gw/queue.db-wal" "$T/gw/queue.db-shm"
refuse "a queue.db of garbage" "queue.db: file is not a database" timeout 20 "$BIN" run -c "$T/gw.conf"
[ "$(stat -c %s "$T/gw/queue.db")" = 20000 ] && ok "the garbage is left as it was" || bad "the garbage is left as it was"
# ... and an empty file, which SQLite would take for a new queue
: >"$T/gw/queue.db"
refuse "a 0-byte queue.db" "queue.db is empty \(0 bytes\)" timeout 20 "$BIN" run -c "$T/gw.conf"
[ ! -s "$T/gw/queue.db" ] && ok "the empty file is left as it was" || bad "the empty file is left as it was"
cp "$T/queue.good" "$T/gw/queue.db"
if start last; then ok "starts again on the good queue"; else bad "starts again on the good queue" "$(tail -n 3 "$T/last.log")"; fi
stop "$DPID" || bad "the daemon stops cleanly (3)"
summary state
