#!/usr/bin/env bash
# The recipient's endpoint is down: the message is held and retried with backoff, and
# delivered once the endpoint comes up. A message whose expires_time passes while its
# endpoint is down is dead-lettered with the reason, never delivered.
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
printf 'state_dir %s/gw\nrules %s/rules.conf\n[queue]\nretry_base 200ms\nretry_max 1s\n[http]\nlisten 127.0.0.1:%s\n' "$T" "$T" "$GPORT" > "$T/gw.conf"
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
kill -TERM "$GPID"; wait "$GPID"; rc=$?; GPID=""
[ $rc -eq 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM" "exit $rc"
summary integration-retry-expiry
