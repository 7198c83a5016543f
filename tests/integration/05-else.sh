#!/usr/bin/env bash
# A rule's else after a delivery fails for good: a 404 hands the message to the else target
# (delivered there); running out of time (max_age) turns the else hold into a held item; an
# expired message takes no else; a delivered one leaves no else behind; a hold that runs out
# with nobody picking the message up hands it to the else, or to the dead letters when there
# is none. Real daemon and HTTP
# receiver on 127.0.0.1, stopped by PID.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/common.inc
BIN=${BIN:-build/release/didcomm-gateway}
GPORT=$(free_port); RPORT=$(free_port); DEAD=$(free_port)
mkdir -p "$T/rx"
python3 tests/cli/receiver.py "$RPORT" "$T/rx" & RPID=$!
GPID=""
trap '[ -n "$GPID" ] && kill "$GPID" 2>/dev/null; kill "$RPID" 2>/dev/null; wait 2>/dev/null; [ -n "${KEEP:-}" ] && cp -r "$T" /tmp/keep05; rm -rf "$T"' EXIT
wait_port "$RPORT" "$RPID" || bad "receiver up"
printf 'state_dir %s/gw\n[ws]\n[outbound]\nallow 127.0.0.0/8\n' "$T" > "$T/id.conf"
$BIN identity -c "$T/id.conf" > /dev/null 2>"$T/err" || bad "identity" "$(cat "$T/err")"
GWKEY=$($BIN did resolve "$(cat "$T/gw/did.txt")" | python3 -c 'import json,sys; print(json.load(sys.stdin)["keyAgreement"][0])')
for n in gone slow expiring ok held unpicked; do
	$BIN did new --method peer2 --endpoint "http://127.0.0.1:$GPORT/" --routing-key "$GWKEY" --secrets "$T/$n.json" > "$T/$n"
done
cat > "$T/rules.conf" <<RULES
to $(cat "$T/gone") -> http http://127.0.0.1:$RPORT/gone else http http://127.0.0.1:$RPORT/inbox
to $(cat "$T/slow") -> http http://127.0.0.1:$DEAD/inbox else hold 1h
to $(cat "$T/expiring") -> http http://127.0.0.1:$DEAD/inbox else http http://127.0.0.1:$RPORT/inbox
to $(cat "$T/ok") -> http http://127.0.0.1:$RPORT/inbox else hold 1h
to $(cat "$T/held") -> hold 2s else http http://127.0.0.1:$RPORT/inbox
to $(cat "$T/unpicked") -> hold 1s
default -> reject
RULES
printf 'state_dir %s/gw\nrules %s/rules.conf\n[queue]\nretry_base 200ms\nretry_max 400ms\nmax_age 3s\n[http]\nlisten 127.0.0.1:%s\n[ws]\n[outbound]\nallow 127.0.0.0/8\n' "$T" "$T" "$GPORT" > "$T/gw.conf"
$BIN run -c "$T/gw.conf" 2>>"$T/gw.log" & GPID=$!
wait_port "$GPORT" "$GPID" && ok "gateway up" || bad "gateway up" "$(tail -3 "$T/gw.log")"
now=$(date +%s)
for n in gone slow expiring ok held unpicked; do
	exp=""; [ $n = expiring ] && exp=",\"expires_time\":$((now + 2))"
	printf '{"id":"%s","type":"https://didcomm.org/basicmessage/2.0/message","to":["%s"]%s,"body":{}}' "$n" "$(cat "$T/$n")" "$exp" > "$T/m-$n.json"
	$BIN pack --mode anoncrypt --to "$(cat "$T/$n")" "$T/m-$n.json" > "$T/$n.f"
	c=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/didcomm-encrypted+json' --data-binary @"$T/$n.f" "http://127.0.0.1:$GPORT/")
	[ "$c" = 202 ] || bad "accepted $n" "$c"
done
got() { for f in "$T/rx"/msg-*.json; do $BIN unpack --secrets "$T/$1.json" "$f" 2>/dev/null; done | grep -q "\"id\":\"$1\""; }
wait_until 120 eval 'got gone && got ok'
got gone && ok "404, then the else target got it" || bad "else after 404" "$(tail -3 "$T/gw.log")"
got ok && ok "the plain one delivered" || bad "ok delivered"
# wait (at most 120 s) until max_age (slow) and expires_time (expiring) have passed and both
# holds ran out: every dead letter below is there and the held one delivered by its else
settled() {
	$BIN queue ls --dead -c "$T/gw.conf" > "$T/dead" || return 1
	grep -q "gone.*HTTP 404" "$T/dead" && grep "$DEAD" "$T/dead" | grep -q "max_age" &&
		grep "$DEAD" "$T/dead" | grep -q "expired" && grep -q "hold $(cat "$T/unpicked")" "$T/dead" &&
		grep -q "hold $(cat "$T/held")" "$T/dead" && got held
}
wait_until 120 settled || bad "settled within 120 s" "$(cat "$T/dead")"
$BIN queue ls --dead -c "$T/gw.conf" > "$T/dead"
grep -q "gone.*HTTP 404; handed to the rule's else (1 item)" "$T/dead" && ok "the failed one is a dead letter that says so" || bad "dead letter" "$(cat "$T/dead")"
grep "$DEAD" "$T/dead" | grep -q "max_age.*handed to the rule's else" && ok "out of time: handed to the else" || bad "max_age else" "$(cat "$T/dead")"
grep "$DEAD" "$T/dead" | grep "expired" | grep -vq "handed" && ok "expired: no else" || bad "expired" "$(cat "$T/dead")"
$BIN queue ls -c "$T/gw.conf" > "$T/ls"
grep -q "hold $(cat "$T/slow")" "$T/ls" && ok "the else hold is in the queue" || bad "hold queued" "$(cat "$T/ls")"
got held && ok "a hold ran out: its else delivered the message" || bad "hold else" "$(tail -3 "$T/gw.log")"
grep "hold $(cat "$T/unpicked")" "$T/dead" | grep -q "nobody picked it up" && ok "a hold without else ran out: dead letter saying so" ||
	bad "hold ran out" "$(cat "$T/dead")"
grep "hold $(cat "$T/held")" "$T/dead" | grep -q "handed to the rule's else" && ok "the held one's dead letter names the else" ||
	bad "held dead letter" "$(cat "$T/dead")"
got expiring && bad "the expired one was delivered through its else" || ok "the expired one was not delivered"
left=$(sqlite3 "$T/gw/queue.db" "SELECT COUNT(*) FROM fallback" 2>&1)
[ "$left" = 0 ] && ok "no else rows left behind (delivered, failed over or expired)" || bad "fallback rows" "$left"
kill -TERM "$GPID"; wait "$GPID"; rc=$?; GPID=""
[ $rc -eq 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM" "exit $rc"
summary integration-else
