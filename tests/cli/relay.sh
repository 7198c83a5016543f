#!/usr/bin/env bash
# The relay path end to end without the event loop: alice packs for carol, who is reached
# through the gateway (her routingKeys name the gateway's key); the envelope arrives as a file
# (import), the gateway opens its forward, the rules resolve carol's endpoint, the queue holds
# it, a flush POSTs it to a real HTTP receiver, and carol reads it. Then a 503 endpoint.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/common.inc

PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()')
mkdir -p "$T/rx"
python3 tests/cli/receiver.py "$PORT" "$T/rx" & RPID=$!
trap 'kill $RPID 2>/dev/null; rm -rf "$T"' EXIT
wait_port "$PORT" "$RPID" || bad "test server up"
printf 'state_dir %s/gw\n[queue]\nretry_base 1s\n[http]\n[ws]\n[outbound]\nallow 127.0.0.0/8\n' "$T" > "$T/gw.conf"

check "identity creates the gateway identity" $BIN identity -c "$T/gw.conf"
GW=$(cat "$T/gw/did.txt")
[ "$(cat "$T/out")" = "$GW" ] && ok "identity prints the DID" || bad "identity prints the DID"
[ "$(stat -c %a "$T/gw/secrets.json")" = 600 ] && ok "gateway secrets 0600" || bad "gateway secrets 0600"
$BIN did resolve "$GW" > "$T/gw.doc"
GWKEY=$(json "$T/gw.doc" 'd["keyAgreement"][0]')
$BIN did new --method peer2 --secrets "$T/alice.json" > "$T/alice"
$BIN did new --method peer2 --endpoint "http://127.0.0.1:$PORT/inbox" --routing-key "$GWKEY" --secrets "$T/carol.json" > "$T/carol"
$BIN did new --method peer2 --endpoint "http://127.0.0.1:$PORT/down" --routing-key "$GWKEY" --secrets "$T/dave.json" > "$T/dave"
for who in carol dave; do
	printf '{"id":"r-%s","type":"https://didcomm.org/basicmessage/2.0/message","from":"%s","to":["%s"],"body":{"content":"via the gateway"}}' \
		"$who" "$(cat "$T/alice")" "$(cat "$T/$who")" > "$T/m-$who.json"
	$BIN pack --mode authcrypt --to "$(cat "$T/$who")" --secrets "$T/alice.json" "$T/m-$who.json" > "$T/$who.dcem"
done

check "import the forward" $BIN import -c "$T/gw.conf" "$T/carol.dcem"
grep -q "queued for 1 destination" "$T/out" && ok "one delivery queued" || bad "one delivery queued" "$(cat "$T/out")"
$BIN queue stats -c "$T/gw.conf" > "$T/st"; grep -qx "queued 1" "$T/st" && ok "queue holds it" || bad "queue holds it" "$(cat "$T/st")"
check "flush" $BIN queue flush -c "$T/gw.conf"
grep -q "1 sent" "$T/out" && ok "flush sent it" || bad "flush sent it" "$(cat "$T/out")"
check "carol reads what the gateway delivered" $BIN unpack --secrets "$T/carol.json" "$T/rx/msg-1.json"
tr -d '\n' < "$T/m-carol.json" > "$T/want"; tr -d '\n' < "$T/out" > "$T/got"
cmp -s "$T/want" "$T/got" && ok "byte for byte" || bad "byte for byte"
refuse "the gateway cannot read carol's message" "no secret" $BIN unpack --secrets "$T/gw/secrets.json" "$T/rx/msg-1.json"
$BIN queue stats -c "$T/gw.conf" > "$T/st"; grep -qx "queued 0" "$T/st" && ok "acked: gone from the queue" || bad "acked" "$(cat "$T/st")"

check "import for an endpoint that answers 503" $BIN import -c "$T/gw.conf" "$T/dave.dcem"
check "flush" $BIN queue flush -c "$T/gw.conf"
grep -q "1 to retry later" "$T/out" && ok "503 is retried later" || bad "503 retry" "$(cat "$T/out")"
$BIN queue ls -c "$T/gw.conf" > "$T/ls"
grep -q "attempts=1" "$T/ls" && grep -q "HTTP 503" "$T/ls" && ok "attempt and error recorded" || bad "attempt recorded" "$(cat "$T/ls")"

# the same path to a ws:// endpoint: queue flush goes through the WebSocket adapter
WSPORT=$(free_port); mkdir -p "$T/wrx"
python3 tests/cli/wstool.py serve "$WSPORT" "$T/wrx" & WSPID=$!
wait_port "$WSPORT" "$WSPID" || bad "ws server up"
$BIN did new --method peer2 --endpoint "ws://127.0.0.1:$WSPORT/" --routing-key "$GWKEY" --secrets "$T/erin.json" > "$T/erin"
printf '{"id":"r-erin","type":"https://didcomm.org/basicmessage/2.0/message","to":["%s"],"body":{}}' "$(cat "$T/erin")" > "$T/m-erin.json"
$BIN pack --mode anoncrypt --to "$(cat "$T/erin")" "$T/m-erin.json" > "$T/erin.dcem"
$BIN queue purge --dest 'resolved http http://127.0.0.1:*/down' -c "$T/gw.conf" > /dev/null
check "import a forward for a ws:// endpoint" $BIN import -c "$T/gw.conf" "$T/erin.dcem"
check "flush to ws://" $BIN queue flush -c "$T/gw.conf"
grep -q "1 sent" "$T/out" && ok "flush sent it over WebSocket" || bad "flush over WebSocket" "$(cat "$T/out")"
wait_until 60 test -f "$T/wrx/msg-1.json" && check "erin reads what came over the WebSocket" $BIN unpack --secrets "$T/erin.json" "$T/wrx/msg-1.json" ||
	bad "ws server got it"
kill "$WSPID" 2>/dev/null

printf 'not json' > "$T/junk.dcem"
refuse "import of garbage" "refused" $BIN import -c "$T/gw.conf" "$T/junk.dcem"
printf 'default -> htp x\n' > "$T/bad.rules"; printf 'state_dir %s/gw\nrules %s/bad.rules\n[ws]\n[outbound]\nallow 127.0.0.0/8\n' "$T" "$T" > "$T/bad.conf"
timeout 20 $BIN run -c "$T/bad.conf" > "$T/out" 2> "$T/err"; rc=$?
[ $rc -ne 0 ] && grep -q "bad.rules:1:" "$T/err" && ok "rules with errors stop start-up with file:line" || bad "bad rules at start" "$(cat "$T/err")"
summary cli-relay
