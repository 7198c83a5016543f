#!/usr/bin/env bash
# The mediator under load (tests/bench/medbench.py): MED_BENCH_M held messages (default
# 100,000) for MED_BENCH_R recipients (default 1,000) registered by one client, sent through
# the daemon over HTTP; the queue's storage per held message; then pickup per recipient in
# batches of MED_BENCH_B (default 100), each acknowledged: msgs/s. Prints the figures; exit 1
# only when the run itself fails.
set -u
cd "$(dirname "$0")/../.."
BIN=${BIN:-build/release/didcomm-gateway}
LIB=${LIB:-build/release/libdidcomm.so}
R=${MED_BENCH_R:-1000}
M=${MED_BENCH_M:-100000}
B=${MED_BENCH_B:-100}
T=$(mktemp -d /tmp/dcmedbench.XXXXXX)
PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()')
GPID=""
trap '[ -n "$GPID" ] && kill "$GPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
# queue shares and the per-peer rate off: one sender on one address is the whole load here
printf 'state_dir %s/gw\nlog_level warn\n[queue]\nshare 100\nper_peer_rate 10000000\n[http]\nlisten 127.0.0.1:%s\n[mediator]\npolicy open\n' \
	"$T" "$PORT" > "$T/gw.conf"
$BIN identity -c "$T/gw.conf" > /dev/null || exit 1
GW=$(cat "$T/gw/did.txt")
$BIN run -c "$T/gw.conf" 2>"$T/gw.log" & GPID=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
echo "mediator: $M messages for $R recipients, pickup in batches of $B"
python3 tests/bench/medbench.py "$LIB" "$GW" "$PORT" "$T" "$R" "$M" "$B" > "$T/out" 2>&1 &
PY=$!
# the store's size at its fullest: after the load, before the pickup
while kill -0 $PY 2>/dev/null && ! grep -q '^status' "$T/out"; do sleep 0.2; done
bytes=$(du -cb "$T/gw/queue.db"* 2>/dev/null | tail -1 | cut -f1)
db=$(stat -c %s "$T/gw/queue.db" 2>/dev/null || echo 0); wal=$(stat -c %s "$T/gw/queue.db-wal" 2>/dev/null || echo 0)
wait $PY; rc=$?
sed 's/^/  /' "$T/out"
env_bytes=$(sed -n 's/^status message_count [0-9]* total_bytes \([0-9]*\).*/\1/p' "$T/out")
[ -n "$env_bytes" ] && [ "$M" -gt 0 ] && echo "  queue storage: $bytes bytes for $M held messages (queue.db $db, its -wal $wal, files): $((bytes / M)) bytes a message, $((db / M)) in queue.db alone (envelopes: $((env_bytes / M)))"
[ $rc -eq 0 ] || { echo "mediator bench failed: $(tail -3 "$T/out")"; exit 1; }
