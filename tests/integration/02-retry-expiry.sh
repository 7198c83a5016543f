#!/usr/bin/env bash
# The recipient's endpoint is down: the message is held and retried with backoff, and
# delivered once the endpoint comes up. A message whose expires_time passes while its
# endpoint is down is dead-lettered with the reason, never delivered. With per_destination 1
# and a slow endpoint, messages that expire while waiting in memory for the one slot are
# dead-lettered too, and the rest delivered.
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
printf 'state_dir %s/gw\nrules %s/rules.conf\n[queue]\nretry_base 200ms\nretry_max 1s\nper_destination 1\n[http]\nlisten 127.0.0.1:%s\n[ws]\n[outbound]\nallow 127.0.0.0/8\n' "$T" "$T" "$GPORT" > "$T/gw.conf"
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
sleep 3.5
$BIN queue ls -c "$T/gw.conf" > "$T/ls"
grep -q "attempts=[1-9]" "$T/ls" && grep -qi "refused\|connect" "$T/ls" && ok "held and retried with the error recorded" || bad "retried" "$(cat "$T/ls")"
$BIN queue ls --dead -c "$T/gw.conf" > "$T/dead"
grep -q "expire" "$T/dead" && ok "expired one dead-lettered with the reason" || bad "expired dead-lettered" "$(cat "$T/dead")"
mkdir -p "$T/rx"
python3 tests/cli/receiver.py "$LATE" "$T/rx" & RPID=$!
wait_port "$LATE" "$RPID"
for i in $(seq 1 100); do ls "$T/rx"/msg-*.json >/dev/null 2>&1 && break; sleep 0.1; done
n=$(ls "$T/rx"/msg-*.json 2>/dev/null | wc -l)
[ "$n" -eq 1 ] && ok "delivered once bob came up (and only the live one)" || bad "delivered when up" "$n files"
check "bob reads it" $BIN unpack --secrets "$T/bob.json" "$T/rx/msg-1.json"
grep -q '"id":"late"' "$T/out" && ok "it is the live one" || bad "it is the live one"
$BIN queue stats -c "$T/gw.conf" > "$T/st"
grep -qx "queued 0" "$T/st" && grep -qx "dead 1" "$T/st" && ok "queue: 0 waiting, 1 dead" || bad "queue stats" "$(cat "$T/st")"
# carol's endpoint takes 0.4 s a message and gets one delivery at a time: of ten that expire
# in about two seconds, the first go through and the last expire while they wait their turn
$BIN did new --method peer2 --endpoint "http://127.0.0.1:$GPORT/" --routing-key "$GWKEY" --secrets "$T/carol.json" > "$T/carol"
CAROL=$(cat "$T/carol")
printf 'to %s -> http http://127.0.0.1:%s/slow\nto did:peer:2.* -> http http://127.0.0.1:%s/inbox\ndefault -> reject\n' \
	"$CAROL" "$LATE" "$LATE" > "$T/rules.conf"
kill -HUP "$GPID"
sleep 0.5
now=$(date +%s)
for i in $(seq 1 10); do
	printf '{"id":"slow-%s","type":"t/1.0/x","to":["%s"],"expires_time":%s,"body":{}}' $i "$CAROL" $((now + 2)) > "$T/s$i.json"
	$BIN pack --mode anoncrypt --to "$CAROL" "$T/s$i.json" > "$T/s$i.f"
done
acc=0
for i in $(seq 1 10); do [ "$(post "$T/s$i.f")" = 202 ] && acc=$((acc + 1)); done
[ $acc -eq 10 ] && ok "ten short-lived messages for the slow endpoint accepted" || bad "slow ones accepted" "$acc of 10"
for i in $(seq 1 60); do
	$BIN queue stats -c "$T/gw.conf" > "$T/st"
	grep -qx "queued 0" "$T/st" && break
	sleep 0.1
done
got=$(($(ls "$T/rx"/msg-*.json | wc -l) - 1))
$BIN queue ls --dead -c "$T/gw.conf" > "$T/dead"
exp=$(grep -c "expire" "$T/dead")
[ $got -ge 1 ] && [ $((exp - 1)) -ge 1 ] && [ $((got + exp - 1)) -eq 10 ] &&
	ok "waiting for the slot: $got delivered, $((exp - 1)) expired and dead-lettered, none lost" ||
	bad "slow endpoint" "$got delivered, $((exp - 1)) expired; $(cat "$T/st")"
# and carol's destination still works: three more, two of which wait for the slot
before=$(ls "$T/rx"/msg-*.json | wc -l)
for i in 1 2 3; do
	printf '{"id":"after-%s","type":"t/1.0/x","to":["%s"],"body":{}}' $i "$CAROL" > "$T/a$i.json"
	$BIN pack --mode anoncrypt --to "$CAROL" "$T/a$i.json" > "$T/a$i.f"
	post "$T/a$i.f" > /dev/null
done
for i in $(seq 1 100); do [ $(($(ls "$T/rx"/msg-*.json | wc -l) - before)) -ge 3 ] && break; sleep 0.1; done
[ $(($(ls "$T/rx"/msg-*.json | wc -l) - before)) -eq 3 ] && ok "later messages for that destination delivered in turn" ||
	bad "later messages delivered" "$(($(ls "$T/rx"/msg-*.json | wc -l) - before)) of 3 within 10 s"
[ "$(post "$T/late.f")" = 202 ] && ok "still serving" || bad "still serving"
kill -TERM "$GPID"; wait "$GPID"; rc=$?; GPID=""
[ $rc -eq 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM" "exit $rc"
summary integration-retry-expiry
