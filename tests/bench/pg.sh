#!/usr/bin/env bash
# The cost of the shared PostgreSQL queue (issue 14), in one run on this machine:
#   1. relay msgs/s and p99 (accept -> delivery) through one gateway on SQLite, one on
#      PostgreSQL, and three on PostgreSQL (the load spread round-robin over them), with
#      tests/bench/relay.c (forward-wrapped anoncrypt messages, an HTTP receiver of its own);
#   2. PG_BENCH_HELD (1,000,000) messages in PostgreSQL: put rate, storage per message,
#      dc_queue_stats and `didcomm-gateway queue stats` time, claim rate (tests/bench/pgq.c).
# A throwaway PostgreSQL (tests/cli/pg.inc, default settings, fsync on) in a temp dir.
#   PG_BENCH_N=10000       messages per relay run
#   PG_BENCH_CONC=64       transfers in flight
#   PG_BENCH_HELD=1000000  messages for part 2 (0: skip it)
# Exit status non-zero only when the benchmark cannot run. Every process is stopped by PID.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/cli/pg.inc
LIB=${LIB:-build/release/libdidcomm.a}
GWQ=${GWQ:-build/release/libgwqueue.a}
BIN=${BIN:-build/release/didcomm-gateway}
OUT=build/bench
N=${PG_BENCH_N:-10000}
CONC=${PG_BENCH_CONC:-64}
HELD=${PG_BENCH_HELD:-1000000}
mkdir -p "$OUT"
tmp=$(mktemp -d /tmp/dcpgbench.XXXXXX)
PGD=$(mktemp -d /tmp/dcpg.XXXXXX)
declare -A GPID=()
stop_gws() { for i in "${!GPID[@]}"; do kill -TERM "${GPID[$i]}" 2>/dev/null; wait "${GPID[$i]}" 2>/dev/null; unset "GPID[$i]"; done; }
trap 'stop_gws; pg_stop; rm -rf "$tmp" "$PGD"' EXIT
trap 'exit 130' INT TERM

for f in "$LIB" "$GWQ" "$BIN"; do [ -e "$f" ] || { echo "pg bench: $f missing (run make)" >&2; exit 1; }; done
PKGS=""
for p in libsodium libcjson libcrypto libcurl sqlite3 libpq; do pkg-config --exists "$p" && PKGS="$PKGS $p"; done
# shellcheck disable=SC2046,SC2086
if ! ${CC:-cc} -std=c11 -O2 -Wall -Wextra -Icore $(pkg-config --cflags $PKGS) tests/bench/relay.c "$LIB" \
	$(pkg-config --libs $PKGS) -lcurl -lpthread -lm -o "$OUT/relay" 2>"$tmp/cc.log" ||
	! ${CC:-cc} -std=c11 -O2 -Wall -Wextra -Icore -Igateway/queue $(pkg-config --cflags $PKGS) tests/bench/pgq.c "$GWQ" \
	"$LIB" $(pkg-config --libs $PKGS) -lpthread -lm -o "$OUT/pgq" 2>>"$tmp/cc.log"; then
	echo "pg bench: cannot build the bench programs:" >&2
	grep -E 'error|undefined' "$tmp/cc.log" | head -n 8 >&2
	exit 1
fi
pg_start "$PGD" || { echo "pg bench: PostgreSQL does not start" >&2; exit 1; }
psql -q -h 127.0.0.1 -p "$PG_PORT" -U gw -d postgres -c 'create database held' >/dev/null || exit 1

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'; }
wait_port() { for _ in $(seq 1 300); do kill -0 "$2" 2>/dev/null || return 1; (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
RPORT=$(free_port)
printf 'to did:peer:2.* -> http http://127.0.0.1:%s/inbox\ndefault -> reject\n' "$RPORT" >"$tmp/rules.conf"
declare -A GPORT=()
# gw I BACKEND: gateway I on BACKEND (sqlite | postgres), its state_dir a copy of gateway 1's identity
gw() {
	local i=$1 be=$2
	GPORT[$i]=${GPORT[$i]:-$(free_port)} # gateway 1 keeps its port: bob's endpoint names it
	mkdir -p "$tmp/gw$i" && chmod 700 "$tmp/gw$i"
	[ "$i" != 1 ] && cp -p "$tmp/gw1/did.txt" "$tmp/gw1/secrets.json" "$tmp/gw$i/"
	cat >"$tmp/gw$i.conf" <<CONF
state_dir $tmp/gw$i
rules $tmp/rules.conf
log_level warn
[queue]
backend $be
$([ "$be" = postgres ] && echo "url $PG_URL")
per_peer_rate 1000000
[http]
listen 127.0.0.1:${GPORT[$i]}
per_peer 1024
[ws]
[outbound]
allow 127.0.0.0/8
CONF
	"$BIN" run -c "$tmp/gw$i.conf" >"$tmp/gw$i.log" 2>&1 &
	GPID[$i]=$!
	wait_port "${GPORT[$i]}" "${GPID[$i]}" || { echo "pg bench: gateway $i did not start: $(tail -n 3 "$tmp/gw$i.log")" >&2; exit 1; }
}
BOB=""
bob() { # bob's DID: endpoint gateway 1, the gateways' key as routing key
	local GW GWKEY
	GW=$(cat "$tmp/gw1/did.txt") && "$BIN" did resolve "$GW" >"$tmp/gw.doc" &&
		GWKEY=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["keyAgreement"][0])' "$tmp/gw.doc") &&
		rm -f "$tmp/bob.json" &&
		BOB=$("$BIN" did new --method peer2 --endpoint "http://127.0.0.1:${GPORT[1]}/" --routing-key "$GWKEY" --secrets "$tmp/bob.json")
}
declare -A RATE=() P99=()
# relay LABEL [URLS]: the relay bench through the running gateways
relay() {
	local label=$1 urls=${2:-}
	RELAY_BENCH_N=$N RELAY_BENCH_CONC=$CONC RELAY_GW_PID=${GPID[1]} RELAY_GW_URLS=$urls "$OUT/relay" "$BOB" "$RPORT" >"$tmp/$label.out" 2>&1
	RATE[$label]=$(awk '/^  delivered msgs\/s/ { print $3 }' "$tmp/$label.out")
	P99[$label]=$(awk '/^  accept->delivery p99 ms/ { print $4 }' "$tmp/$label.out")
	echo "  $label: $(grep -E '^  (accepted \(2xx\)|delivered \(unique\)|missing|delivered msgs/s|accept->delivery p99)' "$tmp/$label.out" | awk '{$1=$1; print}' | paste -sd ';' -)"
}
echo "pg bench: $(nproc) CPUs, $(uname -m), load average $(cut -d' ' -f1-3 /proc/loadavg); $N messages a run, $CONC in flight; PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') with default settings"
gw 1 sqlite && bob && relay sqlite-1 || exit 1
stop_gws
rm -rf "$tmp/gw1/queue.db"*
gw 1 postgres && relay postgres-1 || exit 1
stop_gws
psql -q -h 127.0.0.1 -p "$PG_PORT" -U gw -d didcomm -c 'drop schema public cascade; create schema public' >/dev/null 2>&1
gw 1 postgres && gw 2 postgres && gw 3 postgres &&
	relay postgres-3 "http://127.0.0.1:${GPORT[1]}/ http://127.0.0.1:${GPORT[2]}/ http://127.0.0.1:${GPORT[3]}/" || exit 1
stop_gws
printf '\n  %-36s %12s %14s\n' "" "delivered/s" "p99 acc->del"
printf '  %-36s %12s %14s\n' "one gateway, SQLite" "${RATE[sqlite-1]:-?}" "${P99[sqlite-1]:-?} ms"
printf '  %-36s %12s %14s\n' "one gateway, PostgreSQL" "${RATE[postgres-1]:-?}" "${P99[postgres-1]:-?} ms"
printf '  %-36s %12s %14s\n' "three gateways, one PostgreSQL" "${RATE[postgres-3]:-?}" "${P99[postgres-3]:-?} ms"
echo "  (the sender, the receiver, the gateways and PostgreSQL share these $(nproc) CPUs)"

if [ "$HELD" -gt 0 ]; then
	echo
	HURL="postgresql://gw@127.0.0.1:$PG_PORT/held"
	"$OUT/pgq" "$HURL" "$HELD" || exit 1
	cat >"$tmp/held.conf" <<CONF
state_dir $tmp/gw1
[queue]
backend postgres
url $HURL
max_items 100000000
CONF
	t0=$(date +%s%N)
	"$BIN" queue stats -c "$tmp/held.conf" >"$tmp/held.stats" || exit 1
	echo "pg bench: \`didcomm-gateway queue stats\` with $(awk '/^queued/ {print $2}' "$tmp/held.stats") queued:" \
		"$(( ($(date +%s%N) - t0) / 1000000 )) ms (the whole command: start, connect, the counts)"
	echo "pg bench: database size $(psql -h 127.0.0.1 -p "$PG_PORT" -U gw -d held -Atc "select pg_size_pretty(pg_database_size('held'))")"
fi
