#!/usr/bin/env bash
# The daemon over HTTP on 127.0.0.1: a forward POSTed to the gateway reaches the recipient's
# endpoint (a real HTTP receiver); `send` through the gateway with a rule; 411/413/415;
# SIGHUP reload (a broken file is refused); kill -9 while messages are being posted, restart,
# and every message that got a 202 is delivered. Everything is stopped by PID.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/common.inc
BIN=${BIN:-build/release/didcomm-gateway}
RPORT=$(free_port); GPORT=$(free_port)
mkdir -p "$T/rx"
python3 tests/cli/receiver.py "$RPORT" "$T/rx" & RPID=$!
GPID=""
stop_all() { [ -n "$GPID" ] && kill "$GPID" 2>/dev/null; kill "$RPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap stop_all EXIT
wait_port "$RPORT" "$RPID"
printf 'to did:peer:2.* -> http http://127.0.0.1:%s/inbox\ndefault -> resolve else hold 1h\n' "$RPORT" > "$T/rules.conf"
cat > "$T/gw.conf" <<CONF
state_dir $T/gw
rules $T/rules.conf
max_message_bytes 64k
[queue]
retry_base 200ms
[http]
listen 127.0.0.1:$GPORT
[ws]
[outbound]
allow 127.0.0.0/8
CONF
start_gw() { $BIN run -c "$T/gw.conf" 2>>"$T/gw.log" & GPID=$!; wait_port "$GPORT" "$GPID"; }
start_gw && ok "gateway listens" || bad "gateway listens" "$(tail -3 "$T/gw.log")"
GW=$(cat "$T/gw/did.txt")
$BIN did resolve "$GW" > "$T/gw.doc"
GWKEY=$(json "$T/gw.doc" 'd["keyAgreement"][0]')
$BIN did new --method peer2 --secrets "$T/alice.json" > "$T/alice"
# bob's endpoint is the gateway: senders wrap for its key and post there; the rule knows where bob is
$BIN did new --method peer2 --endpoint "http://127.0.0.1:$GPORT/" --routing-key "$GWKEY" --secrets "$T/bob.json" > "$T/bob"
ALICE=$(cat "$T/alice"); BOB=$(cat "$T/bob")
mk() { printf '{"id":"%s","type":"https://didcomm.org/basicmessage/2.0/message","from":"%s","to":["%s"],"body":{"n":%s}}' "$1" "$ALICE" "$BOB" "$2" > "$3"; }
received() { ls "$T/rx"/msg-*.json 2>/dev/null | wc -l; }
wait_received() { wait_until 120 eval "[ \"\$(received)\" -ge $1 ]"; }

# 1. a forward POSTed to the gateway
mk one 1 "$T/m1.json"
$BIN pack --mode authcrypt --to "$BOB" --secrets "$T/alice.json" "$T/m1.json" > "$T/f1"
code=$(curl -s -o "$T/body" -w '%{http_code}' -H 'Content-Type: application/didcomm-encrypted+json' --data-binary @"$T/f1" "http://127.0.0.1:$GPORT/")
[ "$code" = 202 ] && ok "POST a forward: 202" || bad "POST a forward" "$code $(cat "$T/body")"
wait_received 1 && ok "delivered to bob's endpoint" || bad "delivered" "$(tail -3 "$T/gw.log")"
check "bob reads it" $BIN unpack --secrets "$T/bob.json" "$T/rx/msg-1.json"
grep -q '"id":"one"' "$T/out" && ok "the right message" || bad "the right message"
# 2. send: packs, wraps for the gateway, posts to bob's endpoint (the gateway)
mk two 2 "$T/m2.json"
check "send through the gateway" $BIN send --to "$BOB" --from "$ALICE" --secrets "$T/alice.json" "$T/m2.json"
wait_received 2 && ok "send delivered" || bad "send delivered"
# 3. refusals
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/didcomm-encrypted+json' -H 'Transfer-Encoding: chunked' --data-binary @"$T/f1" "http://127.0.0.1:$GPORT/")
[ "$code" = 411 ] && ok "chunked: 411" || bad "chunked: 411" "$code"
head -c 70000 /dev/zero | tr '\0' 'a' > "$T/big"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/didcomm-encrypted+json' --data-binary @"$T/big" "http://127.0.0.1:$GPORT/")
[ "$code" = 413 ] && ok "over max_message_bytes: 413" || bad "413" "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: text/plain' --data-binary @"$T/f1" "http://127.0.0.1:$GPORT/")
[ "$code" = 415 ] && ok "wrong type: 415" || bad "415" "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/didcomm-encrypted+json' --data-binary '{"protected":' "http://127.0.0.1:$GPORT/")
[ "$code" = 400 ] && ok "truncated JSON: 400" || bad "400" "$code"
kill -0 "$GPID" && ok "still serving" || bad "still serving"
# 4. SIGHUP: a broken file is refused, a good one replaces the rules
printf 'default -> htp x\n' > "$T/rules.conf"
kill -HUP "$GPID"
wait_until 60 grep -q "keeping the rules in force" "$T/gw.log" && ok "SIGHUP with errors: old rules stay" || bad "SIGHUP bad" "$(tail -2 "$T/gw.log")"
printf 'to did:peer:2.* -> http http://127.0.0.1:%s/inbox\ndefault -> reject\n' "$RPORT" > "$T/rules.conf"
kill -HUP "$GPID"
wait_until 60 grep -q "SIGHUP: reloaded" "$T/gw.log" && ok "SIGHUP reloads" || bad "SIGHUP reload" "$(tail -2 "$T/gw.log")"
# 5. kill -9 while 2,000 messages are being posted: every 202 is delivered after a restart.
# Packing and unpacking use the release CLI (TOOL) so that the sanitizer run spends its time
# on the daemon; the poster keeps one keep-alive connection busy and records each 202.
TOOL=build/release/didcomm-gateway; [ -x "$TOOL" ] || TOOL=$BIN
N=${RELAY_N:-2000}
mkdir -p "$T/k"
for i in $(seq 1 "$N"); do mk "k$i" "$i" "$T/k/k$i.json"; done
seq 1 "$N" | xargs -P 4 -I{} sh -c "$TOOL pack --mode anoncrypt --to '$BOB' '$T/k/k{}.json' > '$T/k/k{}.f'"
before=$(received)
: > "$T/accepted"
python3 tests/cli/poster.py "http://127.0.0.1:$GPORT/" "$T/accepted" $(seq -f "$T/k/k%g.f" 1 "$N") 2>"$T/poster.err" & POSTER=$!
# kill once about a third has been accepted, so that the kill lands mid-stream
end=$((SECONDS + 120))
while [ "$(wc -l < "$T/accepted")" -lt $((N / 3)) ] && kill -0 "$POSTER" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.01; done
kill -9 "$GPID"; wait "$GPID" 2>/dev/null; wait "$POSTER"
acc=$(wc -l < "$T/accepted")
[ "$acc" -gt 0 ] && [ "$acc" -lt "$N" ] && ok "killed mid-stream ($acc of $N accepted)" || bad "kill -9 did not land mid-stream" "$acc of $N accepted"
start_gw && ok "restarted" || bad "restart" "$(tail -3 "$T/gw.log")"
# every accepted id reaches the receiver (duplicates allowed: delivery is at least once)
python3 tests/cli/check_ids.py "$TOOL" "$T/bob.json" "$T/rx" "$T/accepted" 120 > "$T/check" 2>&1 \
	&& ok "every accepted message delivered after kill -9, ids checked at the receiver: $(head -1 "$T/check")" \
	|| bad "kill -9" "$(cat "$T/check")"
kill -TERM "$GPID"; wait "$GPID"; rc=$?
[ $rc -eq 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM" "exit $rc"
GPID=""
# 6. the same with every envelope in a file of its own (files_from 1K): kill -9 mid-stream,
# restart, every 202 delivered; the files go with their deliveries
sed -i 's/^\[queue\]$/[queue]\nfiles_from 1K/; s/^max_message_bytes 64k$/max_message_bytes 1M/' "$T/gw.conf"
start_gw && ok "restarted with envelopes in files" || bad "restart (files)" "$(tail -3 "$T/gw.log")"
N2=$((N / 3))
for i in $(seq 1 "$N2"); do mk "f$i" "$i" "$T/k/f$i.json"; done
seq 1 "$N2" | xargs -P 4 -I{} sh -c "$TOOL pack --mode anoncrypt --to '$BOB' '$T/k/f{}.json' > '$T/k/f{}.f'"
: > "$T/accepted2"
python3 tests/cli/poster.py "http://127.0.0.1:$GPORT/" "$T/accepted2" $(seq -f "$T/k/f%g.f" 1 "$N2") 2>"$T/poster.err" & POSTER=$!
end=$((SECONDS + 120))
while [ "$(wc -l < "$T/accepted2")" -lt $((N2 / 3)) ] && kill -0 "$POSTER" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.01; done
nf=$(ls "$T/gw/queue.db-blobs" 2>/dev/null | wc -l)
kill -9 "$GPID"; wait "$GPID" 2>/dev/null; wait "$POSTER"
acc=$(wc -l < "$T/accepted2")
[ "$acc" -gt 0 ] && [ "$acc" -lt "$N2" ] && ok "files: killed mid-stream ($acc of $N2 accepted, $nf files at the kill)" ||
	bad "files: kill -9 did not land mid-stream" "$acc of $N2 accepted"
start_gw && ok "restarted" || bad "restart" "$(tail -3 "$T/gw.log")"
python3 tests/cli/check_ids.py "$TOOL" "$T/bob.json" "$T/rx" "$T/accepted2" 120 > "$T/check" 2>&1 \
	&& ok "files: every accepted message delivered after kill -9: $(head -1 "$T/check")" \
	|| bad "files: kill -9" "$(cat "$T/check")"
# a big one (over 64 KiB: its worker writes the file before the commit)
mk big "\"$(head -c 300000 /dev/zero | tr '\0' 'x')\"" "$T/mbig.json"
$BIN pack --mode anoncrypt --to "$BOB" "$T/mbig.json" > "$T/fbig"
before=$(received)
code=$(curl -s -o "$T/body" -w '%{http_code}' -H 'Content-Type: application/didcomm-encrypted+json' --data-binary @"$T/fbig" "http://127.0.0.1:$GPORT/")
[ "$code" = 202 ] && ok "files: a 400 KB forward accepted" || bad "files: big forward" "$code $(cat "$T/body")"
wait_received $((before + 1)) || bad "files: big one delivered"
found=0 # the newest files (a late duplicate of the kill -9 run may come too)
for i in $(seq $((before + 1)) "$(received)"); do
	$BIN unpack --secrets "$T/bob.json" "$T/rx/msg-$i.json" > "$T/out" 2>/dev/null && grep -q '"id":"big"' "$T/out" && found=1
done
[ $found = 1 ] && ok "files: the big one delivered, and bob reads it" || bad "files: the big one intact"
wait_until 120 eval '$BIN queue stats -c "$T/gw.conf" > "$T/st" && grep -qx "queued 0" "$T/st"'
left=$(ls "$T/gw/queue.db-blobs" | wc -l)
# what is left can only be files of puts that the kill cut short (swept at a later start)
[ "$left" -le 64 ] && ok "files: delivered ones removed ($left left by cut-short puts)" || bad "files left" "$left"
kill -TERM "$GPID"; wait "$GPID"; rc=$?
[ $rc -eq 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM" "exit $rc"
GPID=""
summary integration-http-relay
