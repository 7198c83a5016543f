#!/usr/bin/env bash
# File benchmark: FILE_BENCH_N (10,000) envelopes dropped at once into a watched folder of the
# gateway (build/release/didcomm-gateway on 127.0.0.1, generated config), taken in, committed
# and written into an outbox folder by the rule `to X -> file OUT`: files/s from the drop to
# the last file written. In the same run, a plain copy of the same files (cp, no fsync) as
# the ceiling. The gateway fsyncs every file it writes and its folder, and commits each
# message to its queue before the inbound file is removed: the ratio is the price of that.
# The envelopes are one anoncrypt envelope for X, made distinct by JSON whitespace (the
# gateway looks at the outer header only; its loop detection sees different bytes).
#   FILE_BENCH_N=10000   files
#   FILE_BENCH_WAIT=300  seconds to wait for the outbox
# Exit status: non-zero only if the benchmark cannot run. The gateway is stopped by its PID.
set -u
cd "$(dirname "$0")/../.." || exit 1
BIN=${BIN:-build/release/didcomm-gateway}
N=${FILE_BENCH_N:-10000}
WAIT=${FILE_BENCH_WAIT:-300}
tmp=$(mktemp -d /tmp/dcfilebench.XXXXXX)
GPID=""
trap '[ -n "$GPID" ] && kill "$GPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
[ -x "$BIN" ] || { echo "file bench: $BIN missing (run make)" >&2; exit 1; }
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()')
mkdir -p "$tmp/in" "$tmp/out" "$tmp/stage" "$tmp/cp"
"$BIN" did new --method peer2 --secrets "$tmp/x.json" > "$tmp/x" || exit 1
X=$(cat "$tmp/x")
printf '{"id":"b","type":"https://didcomm.org/basicmessage/2.0/message","to":["%s"],"body":{"content":"%s"}}' \
	"$X" "$(head -c 300 /dev/zero | tr '\0' 'x')" > "$tmp/m.json"
"$BIN" pack --mode anoncrypt --to "$X" --no-forward "$tmp/m.json" > "$tmp/env" || exit 1
python3 - "$tmp/env" "$tmp/stage" "$N" <<'PY' || exit 1
import sys
env = open(sys.argv[1], "rb").read().strip()
assert env.startswith(b"{")
for i in range(int(sys.argv[3])):
    ws = b"".join(b" " * int(d) + b"\t" for d in str(i))  # distinct bytes, the same JSON
    with open("%s/m%05d.dcem" % (sys.argv[2], i), "wb") as f:
        f.write(b"{" + ws + env[1:])
PY
printf 'to %s -> file %s/out\ndefault -> reject\n' "$X" "$tmp" > "$tmp/rules"
cat > "$tmp/gw.conf" <<CONF
state_dir $tmp/gw
rules $tmp/rules
log_level warn
[http]
listen 127.0.0.1:$port
[file]
watch $tmp/in
settle 0
in_flight 256
CONF
"$BIN" run -c "$tmp/gw.conf" 2>"$tmp/gw.log" & GPID=$!
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done
kill -0 "$GPID" 2>/dev/null || { echo "file bench: the gateway did not start: $(tail -2 "$tmp/gw.log")" >&2; exit 1; }
now() { date +%s.%N; }
sync
t0=$(now); cp "$tmp"/stage/*.dcem "$tmp/cp/"; t1=$(now)
cp_s=$(awk "BEGIN{print $t1 - $t0}")
t0=$(now)
find "$tmp/stage" -name '*.dcem' -exec mv -t "$tmp/in" {} +
got=0
deadline=$((SECONDS + WAIT))
while [ $SECONDS -lt $deadline ]; do
	got=$(find "$tmp/out" -name '*.dcem' | wc -l)
	[ "$got" -ge "$N" ] && break
	sleep 0.2
done
t1=$(now)
left=$(find "$tmp/in" -type f | wc -l)
gw_s=$(awk "BEGIN{print $t1 - $t0}")
kill -TERM "$GPID"; wait "$GPID"; GPID=""
if [ "$got" -lt "$N" ]; then
	echo "file bench: only $got of $N written within ${WAIT}s ($left left in the inbox)" >&2
	exit 1
fi
printf 'file bench: %d files dropped at once: taken in, queued and written to the outbox in %.2f s = %.0f files/s (%d left in the inbox); cp of the same files: %.3f s = %.0f files/s (ceiling)\n' \
	"$N" "$gw_s" "$(awk "BEGIN{print $N / $gw_s}")" "$left" "$cp_s" "$(awk "BEGIN{print $N / $cp_s}")"
