#!/usr/bin/env bash
# The state directory.
#  - a second daemon on the same state_dir (another port) exits non-zero, naming the lock
#    holder's pid;
#  - a missing did.txt (secrets.json present): after a restart the DID is the same;
#  - every file in state_dir is 0600 (after some traffic, with the daemon running);
#  - a garbage queue.db: the daemon refuses to start, exit non-zero, with a message naming
#    queue.db and "corrupt" (or the quick_check result).
# Today's code (observed): the second daemon starts and listens next to the first (no lock);
# queue.db, its -wal/-shm and did.txt are 0644 (secrets.json is 0600); without did.txt the
# daemon makes a NEW identity (another DID: the old secrets are replaced); a corrupted or
# garbage queue.db does refuse to start, exit 1, "queue.db: database disk image is malformed" /
# "file is not a database" (passes). Fails (4 checks).
set -u
cd "$(dirname "$0")/../.."
. tests/hostile/common.inc
DEADPORT=$(free_port); P2=$(free_port)
printf 'state_dir %s/gw\n[http]\nlisten 127.0.0.1:%s\n' "$T" "$GPORT" > "$T/gw.conf"
printf 'state_dir %s/gw\n[http]\nlisten 127.0.0.1:%s\n' "$T" "$P2" > "$T/gw2.conf"
fit_conf "$T/gw.conf"
identity "$T/gw.conf"
$TOOL did new --method peer2 --endpoint "http://127.0.0.1:$DEADPORT/" --secrets "$T/bob.json" > "$T/bob"
fwd_to_gw "$(cat "$T/bob")" valid1 "$T/valid"
start_gw "$T/gw.conf" && ok "gateway up" || bad "gateway up" "$(tail -3 "$T/gw.log")"
[ "$(post "$T/valid")" = 202 ] || bad "a message accepted" "$(cat "$T/body")"
# run_expect_exit CONF: start a daemon that must exit; its status in $XRC, stderr in $T/x.err
# (running: still up after 30 s, or listening on PORT)
run_expect_exit() {
	$BIN run -c "$1" > /dev/null 2> "$T/x.err" & local p=$!
	PIDS="$PIDS $p"
	wait_until 30 eval "! kill -0 $p 2>/dev/null || (exec 3<>/dev/tcp/127.0.0.1/$2) 2>/dev/null"
	if ! kill -0 "$p" 2>/dev/null; then wait "$p"; XRC=$?
	else XRC=running; kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; fi
}
# a second daemon on the same state_dir
run_expect_exit "$T/gw2.conf" "$P2"
echo "# second daemon: exit $XRC: $(head -c 300 "$T/x.err" | tr '\n' ' ')"
[ "$XRC" != running ] && [ "$XRC" -ne 0 ] && ok "a second daemon on the same state_dir exits non-zero" || bad "second daemon exits non-zero" "exit $XRC"
grep -q "$GPID" "$T/x.err" && ok "it names the lock holder's pid ($GPID)" || bad "names the lock holder's pid" "$(head -c 300 "$T/x.err")"
# every file 0600, daemon running after traffic
find "$T/gw" -type f -printf '%m %p\n' > "$T/modes"
echo "# state files: $(tr '\n' ' ' < "$T/modes" | sed "s|$T/gw/||g")"
[ -s "$T/modes" ] && ! grep -qv '^600 ' "$T/modes" && ok "every file in state_dir is 0600" || bad "every file 0600" "$(grep -v '^600 ' "$T/modes" | sed "s|$T/gw/||g" | tr '\n' ' ')"
stop_gw
# a missing did.txt: same identity after a restart
DID1=$(cat "$T/gw/did.txt")
rm -f "$T/gw/did.txt"
start_gw "$T/gw.conf" && ok "starts without did.txt" || bad "starts without did.txt" "$(tail -3 "$T/gw.log")"
DID2=$(cat "$T/gw/did.txt" 2>/dev/null)
[ -n "$DID2" ] && [ "$DID2" = "$DID1" ] && ok "identity unchanged without did.txt" || bad "identity unchanged without did.txt" "was ${DID1:0:40}..., now ${DID2:0:40}..."
stop_gw
# a queue.db whose header is intact and whose pages are not
cp "$T/gw/queue.db" "$T/good.db"
python3 - "$T/gw/queue.db" <<'PY'
import os, sys
p = sys.argv[1]
n = os.path.getsize(p)
with open(p, "r+b") as f:
    f.seek(100)
    f.write(os.urandom(max(0, n - 100)))
PY
run_expect_exit "$T/gw.conf" "$GPORT"
echo "# queue.db with its pages overwritten: exit $XRC: $(head -c 300 "$T/x.err" | tr '\n' ' ')"
[ "$XRC" != running ] && [ "$XRC" -ne 0 ] && ok "a corrupted queue.db: refuses to start" || bad "corrupted queue.db refuses to start" "exit $XRC"
grep -q "queue.db" "$T/x.err" && grep -qiE "corrupt|quick_check|malformed" "$T/x.err" && ok "with a clear message (corrupt)" || bad "a clear message about the corrupt queue.db" "$(head -c 300 "$T/x.err")"
# a garbage queue.db
rm -f "$T/gw/queue.db-wal" "$T/gw/queue.db-shm"
head -c 65536 /dev/urandom > "$T/gw/queue.db"
run_expect_exit "$T/gw.conf" "$GPORT"
echo "# garbage queue.db: exit $XRC: $(head -c 300 "$T/x.err" | tr '\n' ' ')"
[ "$XRC" != running ] && [ "$XRC" -ne 0 ] && ok "a garbage queue.db: refuses to start" || bad "garbage queue.db refuses to start" "exit $XRC"
grep -q "queue.db" "$T/x.err" && grep -qiE "corrupt|quick_check|not a database" "$T/x.err" && ok "with a clear message" || bad "a clear message about queue.db" "$(head -c 300 "$T/x.err")"
summary hostile-state
