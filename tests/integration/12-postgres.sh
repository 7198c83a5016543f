#!/usr/bin/env bash
# Three gateways on 127.0.0.1 share one PostgreSQL queue (a throwaway server of this test's,
# tests/cli/pg.inc). Gateway 1 makes the identity; 2 and 3 get copies of its state_dir's
# did.txt and secrets.json; a gateway with another identity is refused at start-up. PG_N
# messages (3,000) are posted round-robin to the three, and gateway 2 is killed with -9 in the
# middle: every accepted (202) message reaches the receiver (ids checked, at least once), no
# item stays leased, `queue stats` is empty at the end. Then PostgreSQL is restarted
# (immediate: a crash and recovery) in the middle of a second stream to the two left: they
# answer 503 meanwhile, come back by themselves, and every accepted message is delivered.
# Then shared sources: MQTT with share_group (each publish to one gateway) and one watched
# folder read by one gateway at a time (its reader killed -9: the other takes over).
# `queue` commands run on the shared queue while the gateways run. Everything stopped by PID.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/common.inc
. tests/cli/pg.inc
BIN=${BIN:-build/release/didcomm-gateway}
TOOL=build/release/didcomm-gateway; [ -x "$TOOL" ] || TOOL=$BIN
N=${PG_N:-3000}
PGD=$(mktemp -d /tmp/dcpg.XXXXXX)
RPORT=$(free_port)
mkdir -p "$T/rx"
python3 tests/cli/receiver.py "$RPORT" "$T/rx" & RPID=$!
declare -A GPID=()
POSTERS=""
stop_all() {
	for p in $POSTERS; do kill "$p" 2>/dev/null; done
	for i in "${!GPID[@]}"; do kill "${GPID[$i]}" 2>/dev/null; done
	kill "$RPID" 2>/dev/null
	wait 2>/dev/null
	pg_stop
	rm -rf "$T" "$PGD"
}
trap stop_all EXIT
pg_start "$PGD" && ok "a throwaway PostgreSQL on port $PG_PORT" || { bad "PostgreSQL starts"; summary integration-postgres; exit 1; }
wait_port "$RPORT" "$RPID"
printf 'to did:peer:2.* -> http http://127.0.0.1:%s/inbox\ndefault -> reject\n' "$RPORT" > "$T/rules.conf"
declare -A GPORT=()
conf() { # conf I: gateway I's configuration
	GPORT[$1]=${GPORT[$1]:-$(free_port)}
	cat > "$T/gw$1.conf" <<CONF
state_dir $T/gw$1
rules $T/rules.conf
[queue]
backend postgres
url $PG_URL
lease 5s
retry_base 200ms
retry_max 2s
[http]
listen 127.0.0.1:${GPORT[$1]}
[outbound]
allow 127.0.0.0/8
CONF
}
start_gw() { $BIN run -c "$T/gw$1.conf" 2>>"$T/gw$1.log" & GPID[$1]=$!; wait_port "${GPORT[$1]}" "${GPID[$1]}"; }
stop_gw() { kill -TERM "${GPID[$1]}"; wait "${GPID[$1]}"; local rc=$?; unset "GPID[$1]"; return $rc; }

# identity: gateway 1 makes it; a copy of its state_dir's identity serves 2 and 3
conf 1 && start_gw 1 && ok "gateway 1 on the shared queue" || bad "gateway 1 starts" "$(tail -3 "$T/gw1.log")"
for i in 2 3; do
	mkdir -p "$T/gw$i" && chmod 700 "$T/gw$i" && cp -p "$T/gw1/did.txt" "$T/gw1/secrets.json" "$T/gw$i/"
	conf "$i" && start_gw "$i" && ok "gateway $i (a copy of the identity) on the shared queue" ||
		bad "gateway $i starts" "$(tail -3 "$T/gw$i.log")"
done
GW=$(cat "$T/gw1/did.txt")
grep -q "queue: postgres" "$T/gw1.log" && ok "the log names the backend" || bad "backend in the log" "$(grep identity "$T/gw1.log")"
# another identity on the same database: refused at start-up, saying why
conf 4
$BIN run -c "$T/gw4.conf" > /dev/null 2> "$T/gw4.log"; rc=$?
[ $rc -ne 0 ] && grep -q "same identity" "$T/gw4.log" && ok "another identity refused at start-up (exit $rc)" ||
	bad "another identity refused" "exit $rc: $(tail -2 "$T/gw4.log")"

# bob's endpoint is the gateways' (one DID, one key): senders wrap for it
$BIN did resolve "$GW" > "$T/gw.doc"
GWKEY=$(json "$T/gw.doc" 'd["keyAgreement"][0]')
$BIN did new --method peer2 --endpoint "http://127.0.0.1:${GPORT[1]}/" --routing-key "$GWKEY" --secrets "$T/bob.json" > "$T/bob"
BOB=$(cat "$T/bob")
mk() { printf '{"id":"%s","type":"https://didcomm.org/basicmessage/2.0/message","to":["%s"],"body":{"n":%s}}' "$1" "$BOB" "$2" > "$3"; }
mkdir -p "$T/k"
for i in $(seq 1 "$N"); do mk "k$i" "$i" "$T/k/k$i.json"; done
seq 1 "$N" | xargs -P 4 -I{} sh -c "$TOOL pack --mode anoncrypt --to '$BOB' '$T/k/k{}.json' > '$T/k/k{}.f'"
[ -s "$T/k/k$N.f" ] && ok "$N forwards packed" || bad "packing"

# post FILES round-robin to the gateways given (one keep-alive poster each): post PREFIX ACCEPTED I...
post() {
	local pre=$1 acc=$2; shift 2
	local gws=("$@") k=${#@} j
	POSTERS=""
	for j in $(seq 0 $((k - 1))); do
		: > "$acc.$j"
		python3 tests/cli/poster.py "http://127.0.0.1:${GPORT[${gws[$j]}]}/" "$acc.$j" \
			$(seq -f "$T/k/$pre%g.f" $((j + 1)) "$k" "$N2") 2>"$T/poster$j.err" &
		POSTERS="$POSTERS $!"
	done
}
accepted() { cat "$1".* 2>/dev/null | wc -l; }
queue_empty() { $BIN queue stats -c "$T/gw1.conf" > "$T/st" 2>&1 && grep -qx "queued 0" "$T/st" && grep -qx "in_flight 0" "$T/st"; }

# 1. 3,000 messages round-robin to three gateways; gateway 2 killed -9 in the middle
N2=$N
post k "$T/acc1" 1 2 3
end=$((SECONDS + 180))
while [ "$(accepted "$T/acc1")" -lt $((N / 3)) ] && [ $SECONDS -lt $end ]; do sleep 0.01; done
kill -9 "${GPID[2]}"; wait "${GPID[2]}" 2>/dev/null; unset "GPID[2]"
at_kill=$(accepted "$T/acc1")
$BIN queue stats -c "$T/gw3.conf" > "$T/st.mid" 2>&1 && grep -q "^queued " "$T/st.mid" &&
	ok "queue stats on the shared queue while gateways run" || bad "queue stats while running" "$(cat "$T/st.mid")"
for p in $POSTERS; do wait "$p"; done; POSTERS=""
acc=$(accepted "$T/acc1")
[ "$at_kill" -gt 0 ] && [ "$acc" -lt "$N" ] && ok "gateway 2 killed mid-stream ($at_kill accepted then, $acc of $N in all)" ||
	bad "kill -9 mid-stream" "$at_kill at the kill, $acc of $N"
cat "$T/acc1".* > "$T/acc1"
python3 tests/cli/check_ids.py "$TOOL" "$T/bob.json" "$T/rx" "$T/acc1" 240 > "$T/check" 2>&1 &&
	ok "every accepted message delivered, gateway 2's too: $(head -1 "$T/check")" || bad "delivered after kill -9" "$(cat "$T/check")"
wait_until 120 queue_empty && ok "queue stats empty at the end: nothing left leased" || bad "queue empty" "$(cat "$T/st")"
for i in 1 3; do kill -0 "${GPID[$i]}" && ok "gateway $i still serving" || bad "gateway $i alive"; done

# 2. PostgreSQL restarted (a crash: immediate stop, recovery at start) in the middle of a stream
N2=$((N / 3))
for i in $(seq 1 "$N2"); do mk "r$i" "$i" "$T/k/r$i.json"; done
seq 1 "$N2" | xargs -P 4 -I{} sh -c "$TOOL pack --mode anoncrypt --to '$BOB' '$T/k/r{}.json' > '$T/k/r{}.f'"
: > "$T/before"; ls "$T/rx" > "$T/before"
export POSTER_RETRY_S=120 # the senders go on through the outage: a 503 is posted again
post r "$T/acc2" 1 3
unset POSTER_RETRY_S
end=$((SECONDS + 180))
while [ "$(accepted "$T/acc2")" -lt $((N2 / 3)) ] && [ $SECONDS -lt $end ]; do sleep 0.01; done
pg_restart && ok "PostgreSQL restarted mid-stream ($(accepted "$T/acc2") accepted then)" || bad "PostgreSQL restart" "$(tail -3 "$PGD/log")"
for p in $POSTERS; do wait "$p"; done; POSTERS=""
acc=$(accepted "$T/acc2")
n503=$(cat "$T"/poster*.err | sed -nE 's/.* ([0-9]+) answered 503/\1/p' | awk '{s+=$1} END {print s+0}')
[ "$acc" -eq "$N2" ] && [ "${n503:-0}" -gt 0 ] && ok "503 while PostgreSQL was away ($n503 times), then every one accepted ($acc of $N2)" ||
	bad "accepting after the restart" "$acc of $N2 accepted, ${n503:-0} answered 503"
cat "$T/acc2".* > "$T/acc2"
python3 tests/cli/check_ids.py "$TOOL" "$T/bob.json" "$T/rx" "$T/acc2" 240 > "$T/check" 2>&1 &&
	ok "every accepted message delivered across the restart: $(head -1 "$T/check")" || bad "delivered across restart" "$(cat "$T/check")"
grep -qh "deliveries paused\|try again later\|PostgreSQL" "$T/gw1.log" "$T/gw3.log" && ok "the outage is in the logs" ||
	bad "outage logged" "$(tail -3 "$T/gw1.log")"
echo "# claims that failed during the restart and recovered: $(cat "$T/gw1.log" "$T/gw3.log" | grep -c "queue answers again")"
wait_until 120 queue_empty && ok "queue stats empty after the restart" || bad "queue empty after restart" "$(cat "$T/st")"
for i in 1 3; do stop_gw "$i" && ok "gateway $i: SIGTERM, exit 0" || bad "gateway $i SIGTERM"; done

# 3. shared sources: both gateways subscribe with share_group (the broker hands each publish to
# one of them) and watch one folder (one reads it at a time: an advisory lock in the database;
# the reader killed with -9, the other takes over and nothing dropped is lost)
command -v mosquitto >/dev/null || { bad "mosquitto not installed"; summary integration-postgres; exit 1; }
M=$((N / 15)) F=$((N / 10))
MPORT=$(free_port)
mkdir -p "$T/mq" "$T/drop" "$T/stage"
printf 'persistence false\nlog_dest file %s/mq/mosquitto.log\nlog_type all\nuser root\nallow_anonymous true\nlistener %s 127.0.0.1\n' \
	"$T" "$MPORT" > "$T/mq/mosquitto.conf"
mosquitto -c "$T/mq/mosquitto.conf" >> "$T/mq/stdout" 2>&1 & MPID=$!
POSTERS="$MPID" # stopped with the rest
wait_port "$MPORT" "$MPID" && ok "mosquitto listens" || bad "mosquitto" "$(tail -3 "$T/mq/stdout")"
for i in 1 3; do
	printf '[mqtt]\nbroker mqtt://127.0.0.1:%s\nclient_id gw%s\nshare_group didcomm\nsubscribe didcomm/in/#\nreconnect_max 2s\n[file]\nwatch %s\nsettle 0\nrescan 1s\n' \
		"$MPORT" "$i" "$T/drop" >> "$T/gw$i.conf"
done
# the session holding the folder's lock (the gateways' only advisory lock of the kind)
holder() { psql -h 127.0.0.1 -p "$PG_PORT" -U gw -d didcomm -Atc "select string_agg(pid::text,' ') from pg_locks where locktype='advisory' and classid=1684229195 and granted" 2>/dev/null; }
start_gw 1 && wait_until 60 eval '[ -n "$(holder)" ]' && ok "gateway 1 reads the folder (its lock is in the database)" ||
	bad "gateway 1 takes the folder" "$(tail -3 "$T/gw1.log")"
first=$(holder)
start_gw 3 && ok "gateway 3 joins" || bad "gateway 3 restarts" "$(tail -3 "$T/gw3.log")"
wait_until 60 eval '[ "$(grep -c "Received SUBSCRIBE from gw" "$T/mq/mosquitto.log")" -ge 2 ]' || bad "both subscribed"
for i in $(seq 1 "$M"); do mk "s$i" "$i" "$T/k/s$i.json"; done
for i in $(seq 1 "$F"); do mk "d$i" "$i" "$T/k/d$i.json"; done
seq 1 "$M" | xargs -P 4 -I{} sh -c "$TOOL pack --mode anoncrypt --to '$BOB' '$T/k/s{}.json' > '$T/k/s{}.f'"
seq 1 "$F" | xargs -P 4 -I{} sh -c "$TOOL pack --mode anoncrypt --to '$BOB' '$T/k/d{}.json' > '$T/k/d{}.f'"
for i in $(seq 1 "$M"); do mosquitto_pub -h 127.0.0.1 -p "$MPORT" -q 1 -t "didcomm/in/dev$i" -f "$T/k/s$i.f" || bad "publish s$i"; done
seq -f "s%g" 1 "$M" > "$T/acc3"
python3 tests/cli/check_ids.py "$TOOL" "$T/bob.json" "$T/rx" "$T/acc3" 240 > "$T/check" 2>&1 &&
	ok "every MQTT publish delivered: $(head -1 "$T/check")" || bad "MQTT publishes delivered" "$(cat "$T/check")"
g1=$(grep -c "Sending PUBLISH to gw1 .*didcomm/in/" "$T/mq/mosquitto.log"); g3=$(grep -c "Sending PUBLISH to gw3 .*didcomm/in/" "$T/mq/mosquitto.log")
[ $((g1 + g3)) -eq "$M" ] && ok "the shared subscription: each publish to one gateway ($g1 to gateway 1, $g3 to gateway 3)" ||
	bad "shared subscription" "$g1 + $g3 sent for $M publishes"
# files dropped (written aside, renamed in); the reader killed a third of the way
base=$(ls "$T/rx" | wc -l)
( for i in $(seq 1 "$F"); do cp "$T/k/d$i.f" "$T/stage/d$i.dcem" && mv "$T/stage/d$i.dcem" "$T/drop/"; sleep 0.02; done ) & DROPPER=$!
wait_until 120 eval '[ "$(ls "$T/rx" | wc -l)" -ge $((base + F / 3)) ]' || bad "files taken before the kill"
kill -9 "${GPID[1]}"; wait "${GPID[1]}" 2>/dev/null; unset "GPID[1]"
wait "$DROPPER"
wait_until 60 eval 'h=$(holder); [ -n "$h" ] && [ "$h" != "$first" ]' &&
	ok "gateway 1 killed: gateway 3 took the folder over (session $first, then $(holder))" || bad "folder taken over" "$first, then $(holder)"
seq -f "d%g" 1 "$F" > "$T/acc4"
python3 tests/cli/check_ids.py "$TOOL" "$T/bob.json" "$T/rx" "$T/acc4" 240 > "$T/check" 2>&1 &&
	ok "every dropped file delivered across the kill: $(head -1 "$T/check")" || bad "files delivered" "$(cat "$T/check")"
wait_until 60 eval '[ -z "$(ls "$T/drop")" ]' && ok "the folder emptied" || bad "folder left" "$(ls "$T/drop" | head -3)"
wait_until 120 queue_empty && ok "queue stats empty" || bad "queue empty (shared sources)" "$(cat "$T/st")"
stop_gw 3 && ok "gateway 3: SIGTERM, exit 0" || bad "gateway 3 SIGTERM"
summary integration-postgres
