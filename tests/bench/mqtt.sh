#!/usr/bin/env bash
# MQTT benchmark: mosquitto and the gateway (build/release/didcomm-gateway) on 127.0.0.1 with
# generated configs, and tests/bench/mqtt_sim.c (linked with build/release/libdidcomm.a and
# libmosquitto), which simulates MQTT_BENCH_DEVICES (1,000) devices doing DIDComm round trips:
# device -> gateway -> HTTP agent (the simulator's receiver) -> gateway -> device; then, in
# the same run, the same forwards through mosquitto alone (one client answering each device)
# as the ceiling. Prints round trips/s, msgs/s and latency percentiles for both and the
# gateway's rate as a percentage of the broker's (the issue's goal: >= 70 %).
#   bash tests/bench/mqtt.sh           (also run by `make bench`)
#   MQTT_BENCH_DEVICES=1000 MQTT_BENCH_ROUNDS=5 MQTT_BENCH_WAIT=180   (see mqtt_sim.c)
#   MQTT_BENCH_PRESENCE=1   the rule watches each device's presence topic (presence=): the
#                           gateway's peak RSS then includes its per-device presence state
#   MQTT_BENCH_HEAP=1       also the gateway's heap in use at the end (glibc's malloc_stats,
#                           called through gdb): steadier than RSS for a per-device figure
#   BIN=... LIB=... CC=...  the daemon, the library and the compiler to use
# Exit status: non-zero only if the benchmark cannot be built or run. Every process started
# here is stopped by its PID; the temporary directory is removed.
set -u
cd "$(dirname "$0")/../.." || exit 1
LIB=${LIB:-build/release/libdidcomm.a}
BIN=${BIN:-build/release/didcomm-gateway}
OUT=build/bench
mkdir -p "$OUT"
tmp=$(mktemp -d /tmp/dcmqttbench.XXXXXX)
GPID="" MPID=""
trap '[ -n "$GPID" ] && kill "$GPID" 2>/dev/null; [ -n "$MPID" ] && kill "$MPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
command -v mosquitto >/dev/null || { echo "mqtt bench: mosquitto not installed" >&2; exit 1; }
[ -f "$LIB" ] || { echo "mqtt bench: $LIB missing (run make)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "mqtt bench: $BIN missing (run make)" >&2; exit 1; }
PKGS=""
for p in libsodium libcjson libcrypto libcurl sqlite3 libmosquitto; do pkg-config --exists "$p" && PKGS="$PKGS $p"; done
# shellcheck disable=SC2046,SC2086
if ! ${CC:-cc} -std=c11 -O2 -Wall -Wextra -Icore $(pkg-config --cflags $PKGS) tests/bench/mqtt_sim.c "$LIB" \
	$(pkg-config --libs $PKGS) -lcurl -lm -o "$OUT/mqtt_sim" 2>"$tmp/cc.log"; then
	echo "mqtt bench: cannot build tests/bench/mqtt_sim.c:" >&2
	grep -E 'error|undefined' "$tmp/cc.log" | head -n 8 >&2
	exit 1
fi
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'; }
wait_port() { for _ in $(seq 1 300); do kill -0 "$2" 2>/dev/null || return 1; (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
MPORT=$(free_port); GPORT=$(free_port); RPORT=$(free_port)
# 1,000 devices plus the gateway: more connections than the defaults allow (three files a
# simulated device: its socket and libmosquitto's socket pair); root may raise the hard limit
nofile=$((3 * ${MQTT_BENCH_DEVICES:-1000} + 1024)) hard=$(ulimit -Hn)
[ "$hard" = unlimited ] || [ "$nofile" -gt "$hard" ] || nofile=$hard
ulimit -n "$nofile" 2>/dev/null || ulimit -n "$hard" 2>/dev/null
cat >"$tmp/mosquitto.conf" <<CONF
persistence false
log_dest file $tmp/mosquitto.log
log_type error
log_type warning
user root
allow_anonymous true
max_queued_messages 100000
set_tcp_nodelay true
listener $MPORT 127.0.0.1
CONF
mosquitto -c "$tmp/mosquitto.conf" >"$tmp/mosquitto.out" 2>&1 & MPID=$!
wait_port "$MPORT" "$MPID" || { echo "mqtt bench: mosquitto did not start: $(tail -2 "$tmp/mosquitto.out")" >&2; exit 1; }
PRES=""; [ -n "${MQTT_BENCH_PRESENCE:-}" ] && PRES=' presence=dev/{to}/presence'
cat >"$tmp/rules.conf" <<RULES
from mqtt tag fleet -> http http://127.0.0.1:$RPORT/inbox
to did:peer:2.* -> mqtt dev/{to}/inbox qos=1$PRES
default -> reject
RULES
cat >"$tmp/gw.conf" <<CONF
state_dir $tmp/gw
rules $tmp/rules.conf
log_level warn
[queue]
per_peer_rate 1000000
[http]
listen 127.0.0.1:$GPORT
per_peer 1024
[mqtt]
broker mqtt://127.0.0.1:$MPORT
subscribe didcomm/in/# tag fleet
[outbound]
allow 127.0.0.0/8
CONF
"$BIN" run -c "$tmp/gw.conf" >"$tmp/gw.log" 2>&1 & GPID=$!
wait_port "$GPORT" "$GPID" || { echo "mqtt bench: the gateway did not start: $(tail -2 "$tmp/gw.log")" >&2; exit 1; }
if ! GW=$(cat "$tmp/gw/did.txt") || ! "$BIN" did resolve "$GW" >"$tmp/gw.doc" ||
	! GWKEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["keyAgreement"][0])' "$tmp/gw.doc") ||
	! BOB=$("$BIN" did new --method peer2 --endpoint "http://127.0.0.1:$GPORT/" --routing-key "$GWKEY" \
		--secrets "$tmp/bob.json"); then
	echo "mqtt bench: cannot create the DIDs with $BIN" >&2
	exit 1
fi
echo "mqtt bench: $(nproc) CPUs, $(uname -m); mosquitto $(mosquitto -h 2>&1 | sed -n 's/^mosquitto version //p'), gateway with default settings (log_level warn)"
cpu() { awk '{ print $14 + $15 }' "/proc/$GPID/stat" 2>/dev/null || echo 0; }   # utime + stime, ticks
c0=$(cpu)
MQTT_BENCH_BROKER_PID=$MPID MQTT_BENCH_GATEWAY_PID=$GPID "$OUT/mqtt_sim" "$MPORT" "$BOB" "$GWKEY" "$RPORT" "http://127.0.0.1:$GPORT/"
rc=$?
c1=$(cpu)
# the gateway works in the gateway phase only (it does not see the broker phase's topics)
echo "  gateway CPU: $(awk -v c=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n="$(( ${MQTT_BENCH_DEVICES:-1000} * ${MQTT_BENCH_ROUNDS:-5} * 2 ))" \
	'BEGIN { printf "%.2f s for %d messages = %.0f us a message (unwrap, queue commit, delivery)", c / hz, n, c / hz * 1e6 / n }')"
[ $rc -eq 0 ] || echo "mqtt bench: the simulator failed or did not finish (exit $rc)" >&2
if [ -r "/proc/$GPID/status" ]; then
	awk '/^VmHWM:/ { hwm = $2 } /^VmRSS:/ { rss = $2 } END { printf "  gateway RSS: peak (VmHWM) %.1f MiB, at the end %.1f MiB\n", hwm / 1024, rss / 1024 }' "/proc/$GPID/status"
fi
if [ -n "${MQTT_BENCH_HEAP:-}" ] && command -v gdb >/dev/null; then
	# malloc_stats writes to the gateway's stderr (gw.log); its lines are taken out again
	l0=$(wc -l <"$tmp/gw.log")
	gdb -p "$GPID" -batch -ex 'call (void)malloc_stats()' >/dev/null 2>&1
	tail -n +$((l0 + 1)) "$tmp/gw.log" >"$tmp/heap.txt"
	head -n "$l0" "$tmp/gw.log" >"$tmp/gw.log.1" && mv "$tmp/gw.log.1" "$tmp/gw.log"
	awk '/^Total/ { t = 1 } t && /in use bytes/ { printf "  gateway heap in use at the end (malloc_stats): %.2f MiB\n", $NF / 1048576; exit }' "$tmp/heap.txt"
fi
kill -TERM "$GPID"; wait "$GPID"; GPID=""
n=$(grep -c . "$tmp/gw.log")
[ "$n" -eq 0 ] || { echo "  gateway log: $n lines at warn or above; the last ones:"; tail -n 3 "$tmp/gw.log" | cut -c 1-200 | sed 's/^/    /'; }
exit $rc
