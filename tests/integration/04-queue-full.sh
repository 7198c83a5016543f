#!/usr/bin/env bash
# Back-pressure and the listener's own answers: with [queue] max_items 2 the third message is
# refused with 503 over HTTP and a problem report over WebSocket (nothing accepted is lost:
# the two held ones stay queued); a POST to another path is 404, a GET is 405. Stopped by PID.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/common.inc
BIN=${BIN:-build/release/didcomm-gateway}
GPORT=$(free_port)
GPID=""
trap '[ -n "$GPID" ] && kill "$GPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
printf 'default -> hold 1h\n' > "$T/rules.conf"
printf 'state_dir %s/gw\nrules %s/rules.conf\n[queue]\nmax_items 2\nshare 100\n[http]\nlisten 127.0.0.1:%s\npath /dc\n[ws]\n[outbound]\nallow 127.0.0.0/8\n' "$T" "$T" "$GPORT" > "$T/gw.conf"
$BIN run -c "$T/gw.conf" 2>>"$T/gw.log" & GPID=$!
wait_port "$GPORT" "$GPID" && ok "gateway up" || bad "gateway up" "$(tail -3 "$T/gw.log")"
GWKEY=$($BIN did resolve "$(cat "$T/gw/did.txt")" | python3 -c 'import json,sys; print(json.load(sys.stdin)["keyAgreement"][0])')
BOB=$($BIN did new --method peer2 --endpoint "http://127.0.0.1:$GPORT/dc" --routing-key "$GWKEY" --secrets "$T/bob.json")
for i in 1 2 3 4; do
	printf '{"id":"q%s","type":"https://didcomm.org/basicmessage/2.0/message","to":["%s"],"body":{}}' "$i" "$BOB" > "$T/m$i.json"
	$BIN pack --mode anoncrypt --to "$BOB" "$T/m$i.json" > "$T/f$i"
done
post() { curl -s -o "$T/body" -w '%{http_code}' -H 'Content-Type: application/didcomm-encrypted+json' --data-binary @"$1" "http://127.0.0.1:$GPORT${2:-/dc}"; }
[ "$(post "$T/f1")" = 202 ] && [ "$(post "$T/f2")" = 202 ] && ok "two accepted" || bad "two accepted" "$(cat "$T/body")"
[ "$(post "$T/f3")" = 503 ] && grep -q "full" "$T/body" && ok "queue full: 503" || bad "503" "$(cat "$T/body")"
python3 tests/cli/wstool.py send "ws://127.0.0.1:$GPORT/dc" --wait 60 --expect 1 --out "$T" "$T/f4" > /dev/null
grep -q 'problem-report' "$T/reply-1.json" 2>/dev/null && ok "queue full over WS: a problem report" || bad "WS full" "$(cat "$T/reply-1.json" 2>/dev/null)"
[ "$(post "$T/f1" /other)" = 404 ] && ok "another path: 404" || bad "404"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GPORT/dc")" = 405 ] && ok "GET: 405" || bad "405"
$BIN queue stats -c "$T/gw.conf" > "$T/stats" 2>&1
grep -qE "queued[^0-9]*2" "$T/stats" && ok "the two accepted are still queued" || bad "stats" "$(cat "$T/stats")"
kill -TERM "$GPID"; wait "$GPID"; rc=$?; GPID=""
[ $rc -eq 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM" "exit $rc $(tail -5 "$T/gw.log")"
summary integration-queue-full
