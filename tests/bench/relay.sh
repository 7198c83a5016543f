#!/usr/bin/env bash
# Relay benchmark: the gateway (build/release/didcomm-gateway) on 127.0.0.1 with a generated
# config, and tests/bench/relay.c (linked with build/release/libdidcomm.a), which POSTs
# forward-wrapped anoncrypt messages through it to an HTTP receiver of its own, then the same
# load straight to the receiver as the ceiling. Prints delivered msgs/s, latency percentiles
# and the gateway's peak RSS, with the issue's targets (>= 5000 msgs/s, p99 < 20 ms,
# RSS < 64 MiB) marked "met" / "NOT met"; missed targets never fail this script.
#   bash tests/bench/relay.sh          (also run at the end of `make bench`)
#   RELAY_BENCH_N=20000     messages
#   RELAY_BENCH_CONC=64     transfers in flight
#   RELAY_BENCH_WAIT=60     seconds to wait for deliveries
#   RELAY_BENCH_CONF='...'  extra global lines for the gateway's config (e.g. 'workers 4')
# (the load comes from one address: the per-peer rate and connection limits are raised for it)
#   BIN=... LIB=... CC=...  the daemon, the library and the compiler to use
# Exit status: non-zero only if the benchmark cannot be built or run. Every process started
# here is stopped by its PID; the temporary directory is removed.
set -u
cd "$(dirname "$0")/../.." || exit 1
LIB=${LIB:-build/release/libdidcomm.a}
BIN=${BIN:-build/release/didcomm-gateway}
OUT=build/bench
RSS_TARGET_MIB=64
mkdir -p "$OUT"
tmp=$(mktemp -d /tmp/dcrelay.XXXXXX)
GPID=""
stop_gw() {
	[ -n "$GPID" ] || return 0
	kill -TERM "$GPID" 2>/dev/null
	wait "$GPID" 2>/dev/null
	local rc=$?
	GPID=""
	return $rc
}
trap 'stop_gw; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

[ -f "$LIB" ] || { echo "relay: $LIB missing (run make)" >&2; exit 1; }
[ -x "$BIN" ] || { echo "relay: $BIN missing (run make)" >&2; exit 1; }
PKGS=""
for p in libsodium libcjson libcrypto libcurl sqlite3; do pkg-config --exists "$p" && PKGS="$PKGS $p"; done
# shellcheck disable=SC2046,SC2086
if ! ${CC:-cc} -std=c11 -O2 -Wall -Wextra -Icore $(pkg-config --cflags $PKGS) tests/bench/relay.c "$LIB" \
	$(pkg-config --libs $PKGS) -lcurl -lpthread -lm -o "$OUT/relay" 2>"$tmp/cc.log"; then
	echo "relay: cannot build tests/bench/relay.c against $LIB:" >&2
	grep -E 'error|undefined' "$tmp/cc.log" | head -n 8 >&2
	exit 1
fi

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'; }
wait_port() { for _ in $(seq 1 100); do kill -0 "$2" 2>/dev/null || return 1; (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
if ! RPORT=$(free_port) || ! GPORT=$(free_port); then
	echo "relay: no free port (python3 needed)" >&2
	exit 1
fi
[ "$RPORT" != "$GPORT" ] || GPORT=$(free_port)
APORT=$(free_port) # the admin listener: /metrics scraped every second while the load runs

printf 'to did:peer:2.* -> http http://127.0.0.1:%s/inbox\ndefault -> reject\n' "$RPORT" >"$tmp/rules.conf"
cat >"$tmp/gw.conf" <<CONF
state_dir $tmp/gw
rules $tmp/rules.conf
log_level warn
${RELAY_BENCH_CONF:-}
[queue]
per_peer_rate 1000000
[http]
listen 127.0.0.1:$GPORT
per_peer 1024
[ws]
[outbound]
allow 127.0.0.0/8
[admin]
listen 127.0.0.1:$APORT
CONF
"$BIN" run -c "$tmp/gw.conf" >"$tmp/gw.log" 2>&1 &
GPID=$!
if ! wait_port "$GPORT" "$GPID"; then
	echo "relay: the gateway did not start listening on 127.0.0.1:$GPORT:" >&2
	tail -n 5 "$tmp/gw.log" >&2
	exit 1
fi
# bob's endpoint is the gateway, with its key as routing key: messages to bob are forwards to it
if ! GW=$(cat "$tmp/gw/did.txt") || ! "$BIN" did resolve "$GW" >"$tmp/gw.doc" ||
	! GWKEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["keyAgreement"][0])' "$tmp/gw.doc") ||
	! BOB=$("$BIN" did new --method peer2 --endpoint "http://127.0.0.1:$GPORT/" --routing-key "$GWKEY" \
		--secrets "$tmp/bob.json"); then
	echo "relay: cannot create the DIDs with $BIN" >&2
	exit 1
fi

echo "relay: $(nproc) CPUs, $(uname -m); gateway with default settings (gw.conf: log_level warn, one http rule${RELAY_BENCH_CONF:+, $RELAY_BENCH_CONF})"
# what /metrics says while the load runs: accepted and delivered, one line a second
( while kill -0 "$GPID" 2>/dev/null; do
	curl -s "http://127.0.0.1:$APORT/metrics" | awk '
		/^didcomm_gateway_messages_in_total\{transport="http",outcome="accepted"\}/ { a = $2 }
		/^didcomm_gateway_deliveries_total\{adapter="http",result="sent"\}/ { s = $2 }
		END { if (a != "") print a, s }'
	sleep 1
done ) >"$tmp/scrapes" 2>/dev/null &
SCRAPER=$!
RELAY_GW_PID=$GPID "$OUT/relay" "$BOB" "$RPORT"
rc=$?
kill "$SCRAPER" 2>/dev/null; wait "$SCRAPER" 2>/dev/null
echo "/metrics during the run ($(grep -c . "$tmp/scrapes") scrapes of 127.0.0.1:$APORT): accepted, delivered:" \
	"$(awk '{ printf "%s%s/%s", (NR > 1 ? " -> " : ""), $1, $2 }' "$tmp/scrapes" | cut -c 1-300)"
[ $rc -eq 0 ] || echo "relay: the benchmark program failed (exit $rc)" >&2

if [ -r "/proc/$GPID/status" ]; then
	awk -v t="$RSS_TARGET_MIB" '
		/^VmHWM:/ { hwm = $2 } /^VmRSS:/ { rss = $2 }
		END { printf "gateway peak RSS (VmHWM): %.1f MiB (now %.1f MiB)   target < %d MiB: %s\n",
			hwm / 1024, rss / 1024, t, (hwm / 1024 < t) ? "met" : "NOT met" }' "/proc/$GPID/status"
else
	echo "gateway peak RSS: n/a (the gateway is gone: $(tail -n 1 "$tmp/gw.log"))"
	rc=1
fi
t0=$(date +%s%N)
stop_gw
grc=$?
echo "gateway stopped $(awk -v t="$(( $(date +%s%N) - t0 ))" 'BEGIN { printf "%.1f", t / 1e9 }') s after SIGTERM, exit status $grc"
n=$(grep -c . "$tmp/gw.log")
if [ "$n" -gt 0 ]; then
	echo "gateway log: $n lines at warn or above; the last ones:"
	tail -n 3 "$tmp/gw.log" | cut -c 1-200 | sed 's/^/  /'
fi
exit $rc
