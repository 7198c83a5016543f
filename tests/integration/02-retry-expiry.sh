#!/usr/bin/env bash
# The recipient's endpoint is down: the message is held and retried with backoff, and
# delivered once the endpoint comes up. A message whose expires_time passes while its
# endpoint is down is dead-lettered with the reason, never delivered. With per_destination 1
# and a slow endpoint, messages that expire while waiting in memory for the one slot are
# dead-lettered too, and the rest delivered.
# Nothing here depends on how fast the machine is: the test waits on events (queue state, a
# file at the receiver) with wide deadlines, and the slow endpoint answers when the test opens
# its gate (receiver.py GATE), after the short-lived messages' expires_time has passed.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/common.inc
BIN=${BIN:-build/release/didcomm-gateway}
GPORT=$(free_port); LATE=$(free_port); NEVER=$(free_port)
GPID="" RPID=""
trap '[ -n "$GPID" ] && kill $GPID 2>/dev/null; [ -n "$RPID" ] && kill $RPID 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
cat > "$T/rules.conf" <<RULES
to did:peer:2.* -> http http://127.0.0.1:$LATE/inbox
default -> reject
RULES
# timeout 300s: the gateway waits for the gated slow endpoint instead of giving up and retrying
printf 'state_dir %s/gw\nrules %s/rules.conf\n[queue]\nretry_base 200ms\nretry_max 1s\nper_destination 1\n[http]\nlisten 127.0.0.1:%s\ntimeout 300s\n[ws]\n[outbound]\nallow 127.0.0.0/8\n' "$T" "$T" "$GPORT" > "$T/gw.conf"
$BIN run -c "$T/gw.conf" 2>>"$T/gw.log" & GPID=$!
wait_port "$GPORT" "$GPID" && ok "gateway up" || bad "gateway up" "$(tail -3 "$T/gw.log")"
GWKEY=$($BIN did resolve "$(cat "$T/gw/did.txt")" | python3 -c 'import json,sys; print(json.load(sys.stdin)["keyAgreement"][0])')
$BIN did new --method peer2 --endpoint "http://127.0.0.1:$GPORT/" --routing-key "$GWKEY" --secrets "$T/bob.json" > "$T/bob"
BOB=$(cat "$T/bob")
post() { curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/didcomm-encrypted+json' --data-binary @"$1" "http://127.0.0.1:$GPORT/"; }
now=$(date +%s)
printf '{"id":"late","type":"t/1.0/x","to":["%s"],"expires_time":%s,"body":{}}' "$BOB" $((now + 3600)) > "$T/late.json"
printf '{"id":"gone","type":"t/1.0/x","to":["%s"],"expires_time":%s,"body":{}}' "$BOB" $((now + 2)) > "$T/gone.json"
$BIN pack --mode anoncrypt --to "$BOB" "$T/late.json" > "$T/late.f"
$BIN pack --mode anoncrypt --to "$BOB" "$T/gone.json" > "$T/gone.f"
[ "$(post "$T/late.f")" = 202 ] && ok "accepted while bob is down" || bad "accepted while down"
[ "$(post "$T/gone.f")" = 202 ] && ok "the short-lived one too" || bad "short-lived accepted"
# wait (up to 120 s) until the live one has been tried and the short-lived one has expired
retried() { $BIN queue ls -c "$T/gw.conf" > "$T/ls" && grep -q "attempts=[1-9]" "$T/ls" && grep -qi "refused\|connect" "$T/ls"; }
expired() { $BIN queue ls --dead -c "$T/gw.conf" > "$T/dead" && grep -q "expire" "$T/dead"; }
wait_until 120 retried && ok "held and retried with the error recorded" || bad "retried" "$(cat "$T/ls")"
wait_until 120 expired && ok "expired one dead-lettered with the reason" || bad "expired dead-lettered" "$(cat "$T/dead")"
mkdir -p "$T/rx"
python3 tests/cli/receiver.py "$LATE" "$T/rx" "$T/gate" & RPID=$!
wait_port "$LATE" "$RPID"
nrx() { ls "$T/rx"/msg-*.json 2>/dev/null | wc -l; }
wait_until 120 test -e "$T/rx/msg-1.json"
n=$(ls "$T/rx"/msg-*.json 2>/dev/null | wc -l)
[ "$n" -eq 1 ] && ok "delivered once bob came up (and only the live one)" || bad "delivered when up" "$n files"
check "bob reads it" $BIN unpack --secrets "$T/bob.json" "$T/rx/msg-1.json"
grep -q '"id":"late"' "$T/out" && ok "it is the live one" || bad "it is the live one"
$BIN queue stats -c "$T/gw.conf" > "$T/st"
grep -qx "queued 0" "$T/st" && grep -qx "dead 1" "$T/st" && ok "queue: 0 waiting, 1 dead" || bad "queue stats" "$(cat "$T/st")"
# carol's endpoint is slow and gets one delivery at a time. The first message (no expiry) takes
# the slot and is held at the endpoint (the gate is shut); nine that expire in a few seconds
# are accepted meanwhile and wait for the slot; once their expires_time has passed the gate
# opens: the first goes through and the nine are dead-lettered as expired, none lost.
$BIN did new --method peer2 --endpoint "http://127.0.0.1:$GPORT/" --routing-key "$GWKEY" --secrets "$T/carol.json" > "$T/carol"
CAROL=$(cat "$T/carol")
printf 'to %s -> http http://127.0.0.1:%s/slow\nto did:peer:2.* -> http http://127.0.0.1:%s/inbox\ndefault -> reject\n' \
	"$CAROL" "$LATE" "$LATE" > "$T/rules.conf"
nhup=$(grep -c "SIGHUP: reloaded" "$T/gw.log")
kill -HUP "$GPID"
wait_until 60 eval '[ "$(grep -c "SIGHUP: reloaded" "$T/gw.log")" -gt "$nhup" ]' || bad "SIGHUP reload" "$(tail -2 "$T/gw.log")"
printf '{"id":"slow-1","type":"t/1.0/x","to":["%s"],"body":{}}' "$CAROL" > "$T/s1.json"
$BIN pack --mode anoncrypt --to "$CAROL" "$T/s1.json" > "$T/s1.f"
acc=0
[ "$(post "$T/s1.f")" = 202 ] && acc=1
wait_until 120 test -e "$T/rx/held-1" && ok "the first one holds carol's only slot" || bad "first one at the slow endpoint" "$(tail -3 "$T/gw.log")"
# pack the nine with an expiry a few seconds ahead; if packing took that long (a loaded
# machine), pack again with a longer one: they must be accepted before they expire
E=4
for attempt in 1 2 3 4 5; do
	exp=$(($(date +%s) + E))
	for i in $(seq 2 10); do
		printf '{"id":"slow-%s","type":"t/1.0/x","to":["%s"],"expires_time":%s,"body":{}}' $i "$CAROL" "$exp" > "$T/s$i.json"
	done
	seq 2 10 | xargs -P 2 -I{} sh -c "$BIN pack --mode anoncrypt --to '$CAROL' '$T/s{}.json' > '$T/s{}.f'"
	[ $(($(date +%s) + 2)) -lt "$exp" ] && break
	E=$((E * 2))
done
: > "$T/acc9"
python3 tests/cli/poster.py "http://127.0.0.1:$GPORT/" "$T/acc9" $(seq -f "$T/s%g.f" 2 10) 2>/dev/null
in_time=$([ "$(date +%s)" -lt "$exp" ] && echo yes || echo no)
acc=$((acc + $(wc -l < "$T/acc9")))
[ $acc -eq 10 ] && ok "ten messages for the slow endpoint accepted (nine accepted before they expire: $in_time)" || bad "slow ones accepted" "$acc of 10"
# open the gate once their expires_time has passed (the gateway compares with the wall clock)
wait_until 120 eval '[ "$(date +%s)" -gt "$exp" ]'
touch "$T/gate"
drained() { $BIN queue stats -c "$T/gw.conf" > "$T/st" && grep -qx "queued 0" "$T/st"; }
wait_until 120 drained || bad "queue drained" "$(cat "$T/st")"
got=$(($(nrx) - 1))
$BIN queue ls --dead -c "$T/gw.conf" > "$T/dead"
exp_n=$(grep -c "expire" "$T/dead")
[ $got -ge 1 ] && [ $((exp_n - 1)) -ge 1 ] && [ $((got + exp_n - 1)) -eq 10 ] &&
	ok "waiting for the slot: $got delivered, $((exp_n - 1)) expired and dead-lettered, none lost" ||
	bad "slow endpoint" "$got delivered, $((exp_n - 1)) expired; $(cat "$T/st")"
# and carol's destination still works: three more, two of which wait for the slot
before=$(nrx)
for i in 1 2 3; do
	printf '{"id":"after-%s","type":"t/1.0/x","to":["%s"],"body":{}}' $i "$CAROL" > "$T/a$i.json"
	$BIN pack --mode anoncrypt --to "$CAROL" "$T/a$i.json" > "$T/a$i.f"
	post "$T/a$i.f" > /dev/null
done
wait_until 120 eval '[ $(($(nrx) - before)) -ge 3 ]'
[ $(($(nrx) - before)) -eq 3 ] && ok "later messages for that destination delivered in turn" ||
	bad "later messages delivered" "$(($(nrx) - before)) of 3 within 120 s"
[ "$(post "$T/late.f")" = 202 ] && ok "still serving" || bad "still serving"
kill -TERM "$GPID"; wait "$GPID"; rc=$?; GPID=""
[ $rc -eq 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM" "exit $rc"
summary integration-retry-expiry
