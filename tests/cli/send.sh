#!/usr/bin/env bash
# `send` against a real HTTP receiver on 127.0.0.1: delivered, retry-later and refused outcomes.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/common.inc

PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()')
DEAD=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()')
mkdir -p "$T/rx"
python3 tests/cli/receiver.py "$PORT" "$T/rx" & RPID=$!
trap 'kill $RPID 2>/dev/null; rm -rf "$T"' EXIT
wait_port "$PORT" "$RPID" || bad "test server up"

$BIN did new --method peer2 --secrets "$T/alice.json" > "$T/alice"
for p in inbox down gone old; do
	$BIN did new --method peer2 --endpoint "http://127.0.0.1:$PORT/$p" --secrets "$T/$p.json" > "$T/$p"
done
$BIN did new --method peer2 --endpoint "http://127.0.0.1:$DEAD/inbox" --secrets "$T/refused.json" > "$T/refused"
$BIN did new --method peer2 --endpoint "ws://127.0.0.1:$PORT/" --secrets "$T/ws.json" > "$T/ws"
# two endpoints: the first one is down, the second takes it
$BIN did new --method peer2 --endpoint "http://127.0.0.1:$DEAD/inbox" --endpoint "http://127.0.0.1:$PORT/inbox" --secrets "$T/two.json" > "$T/two"
msg() { printf '{"id":"s-%s","type":"https://didcomm.org/basicmessage/2.0/message","from":"%s","to":["%s"],"body":{"content":"hello"}}' "$1" "$(cat "$T/alice")" "$(cat "$T/$1")" > "$T/m-$1.json"; }
for p in inbox down gone old refused ws two; do msg $p; done

check "send authcrypt over http" $BIN send --to "$(cat "$T/inbox")" --from "$(cat "$T/alice")" --secrets "$T/alice.json" "$T/m-inbox.json"
[ -f "$T/rx/msg-1.json" ] && ok "the receiver got it" || bad "the receiver got it"
[ "$(cat "$T/rx/msg-1.type" 2>/dev/null)" = "application/didcomm-encrypted+json" ] && ok "content type" || bad "content type" "$(cat "$T/rx/msg-1.type" 2>/dev/null)"
check "the recipient unpacks it" $BIN unpack --secrets "$T/inbox.json" "$T/rx/msg-1.json"
grep -q '"content":"hello"' "$T/out" && ok "message intact" || bad "message intact"
check "send anoncrypt follows a 307" $BIN send --to "$(cat "$T/old")" "$T/m-old.json"
[ -f "$T/rx/msg-2.json" ] && ok "redirected POST arrived" || bad "redirected POST arrived"
$BIN send --to "$(cat "$T/down")" "$T/m-down.json" > "$T/out" 2> "$T/err"; rc=$?
[ $rc -eq 3 ] && grep -q "HTTP 503 (try again later)" "$T/err" && ok "503: try again later (exit 3)" || bad "503" "exit $rc $(cat "$T/err")"
$BIN send --to "$(cat "$T/gone")" "$T/m-gone.json" > "$T/out" 2> "$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "HTTP 404 (refused)" "$T/err" && ok "404: refused (exit 1)" || bad "404" "exit $rc $(cat "$T/err")"
$BIN send --to "$(cat "$T/refused")" --timeout 30000 "$T/m-refused.json" > "$T/out" 2> "$T/err"; rc=$?
[ $rc -eq 3 ] && ok "connection refused: try again later (exit 3)" || bad "connection refused" "exit $rc $(cat "$T/err")"
# a ws:// endpoint that is no WebSocket server (the plain HTTP receiver): try again later
$BIN send --to "$(cat "$T/ws")" --timeout 30000 "$T/m-ws.json" > "$T/out" 2> "$T/err"; rc=$?
[ $rc -eq 3 ] && grep -q "ws://127.0.0.1:$PORT/" "$T/err" && [ "$(wc -l < "$T/err")" -eq 1 ] && ok "ws endpoint without WebSocket: try again later (exit 3)" || bad "ws endpoint" "exit $rc $(cat "$T/err")"
n_before=$(ls "$T/rx"/msg-*.json | wc -l)
check "two endpoints, the first unreachable: the second one gets it" $BIN send --to "$(cat "$T/two")" --timeout 30000 "$T/m-two.json"
grep -q "127.0.0.1:$DEAD" "$T/err" && grep -q "delivered to http://127.0.0.1:$PORT/inbox" "$T/out" && [ "$(ls "$T/rx"/msg-*.json | wc -l)" -eq $((n_before + 1)) ] && ok "tried in document order" || bad "order" "$(cat "$T/out" "$T/err")"
summary cli-send
