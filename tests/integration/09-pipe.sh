#!/usr/bin/env bash
# An adapter is one file and a registry line: the test-only "pipe" adapter (tests/adapters/pipe.c,
# in the test build of the daemon) carries messages in through a named pipe and out to a file,
# through the same host interface as HTTP and WebSocket, with its own [pipe] section.
#   pipe -> HTTP: a forward written to the fifo reaches bob's HTTP endpoint
#   HTTP -> pipe: a forward POSTed for dave, whose endpoint is pipe:dave, lands in the out file
#   refusals come back to the pipe adapter's ack (acks file), the daemon still serves
set -u
cd "$(dirname "$0")/../.."
. tests/cli/common.inc
TBIN=${BIN%didcomm-gateway}didcomm-gateway-test
[ -x "$TBIN" ] || { echo "integration-pipe: 0 passed, 1 failed (no $TBIN: make test-daemon)"; exit 1; }
RPORT=$(free_port); GPORT=$(free_port)
mkdir -p "$T/rx"
mkfifo "$T/in"
PIDS=""
stop_all() { for p in $PIDS $GPID; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; [ -n "${KEEP:-}" ] && cp -r "$T" "$KEEP"; rm -rf "$T"; }
GPID=""
trap stop_all EXIT
python3 tests/cli/receiver.py "$RPORT" "$T/rx" & PIDS="$PIDS $!"
wait_port "$RPORT" "$!" || bad "receiver up"
cat > "$T/gw.conf" <<CONF
state_dir $T/gw
[http]
listen 127.0.0.1:$GPORT
[pipe]
in $T/in
out $T/out.jsonl
acks $T/acks.log
[outbound]
allow 127.0.0.0/8
CONF
$TBIN run -t -c "$T/gw.conf" > "$T/t.out" 2>&1 && grep -q '^\[pipe\]' "$T/t.out" && ok "run -t prints the [pipe] section" ||
	bad "run -t" "$(tail -3 "$T/t.out")"
$TBIN run -c "$T/gw.conf" 2>>"$T/gw.log" & GPID=$!
wait_port "$GPORT" "$GPID" && ok "gateway up with the pipe adapter" || bad "gateway up" "$(tail -3 "$T/gw.log")"
# (the adapter starts beside the listener: its line may come just after the port opens)
wait_until 30 grep -q "pipe: reading $T/in" "$T/gw.log" && ok "the adapter logs through its host" || bad "pipe log line" "$(tail -3 "$T/gw.log")"
GW=$(cat "$T/gw/did.txt")
GWKEY=$($BIN did resolve "$GW" | python3 -c 'import json,sys; print(json.load(sys.stdin)["keyAgreement"][0])')
$BIN did new --method peer2 --endpoint "http://127.0.0.1:$RPORT/inbox" --secrets "$T/bob.json" > "$T/bob"
$BIN did new --method peer2 --endpoint "pipe:dave" --secrets "$T/dave.json" > "$T/dave"
# a forward for X: X's message anoncrypted, wrapped for the gateway's key
fwd() { # to id out
	printf '{"id":"%s","type":"https://didcomm.org/basicmessage/2.0/message","to":["%s"],"body":{}}' "$2" "$1" > "$T/$2.json"
	$BIN pack --mode anoncrypt --to "$1" --no-forward "$T/$2.json" > "$T/$2.inner"
	python3 -c 'import json,sys; print(json.dumps({"id":"f-"+sys.argv[3],"type":"https://didcomm.org/routing/2.0/forward","to":[sys.argv[1]],"body":{"next":sys.argv[2]},"attachments":[{"data":{"json":json.load(open(sys.argv[4]))}}]}))' "$GW" "$1" "$2" "$T/$2.inner" > "$T/$2.fwd.json"
	$BIN pack --mode anoncrypt --to "$GW" --no-forward "$T/$2.fwd.json" | tr -d '\n' > "$3"
}
# 1. pipe -> HTTP
fwd "$(cat "$T/bob")" p1 "$T/p1.env"
{ cat "$T/p1.env"; echo; } > "$T/in"
wait_until 120 test -f "$T/rx/msg-1.json" && ok "pipe -> HTTP: delivered to bob" || bad "pipe -> HTTP" "$(tail -3 "$T/gw.log")"
check "bob unpacks it" $BIN unpack --secrets "$T/bob.json" "$T/rx/msg-1.json"
grep -q '"id":"p1"' "$T/out" && ok "the right message" || bad "the right message"
wait_until 60 grep -q "^accepted" "$T/acks.log" && ok "the pipe adapter got its ack (accepted)" || bad "ack" "$(cat "$T/acks.log" 2>/dev/null)"
# 2. HTTP -> pipe (dave's endpoint is pipe:dave, found by resolve through the registry)
fwd "$(cat "$T/dave")" h1 "$T/h1.env"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/didcomm-encrypted+json' --data-binary @"$T/h1.env" "http://127.0.0.1:$GPORT/")
[ "$code" = 202 ] && ok "POST for dave: 202" || bad "POST for dave" "$code"
wait_until 120 test -s "$T/out.jsonl" && ok "HTTP -> pipe: appended to the out file" || bad "HTTP -> pipe" "$(grep -a "dispatch\\|refused\\|h1" "$T/gw.log" | tail -3)"
head -n 1 "$T/out.jsonl" | cut -f1 > "$T/target"; head -n 1 "$T/out.jsonl" | cut -f2 > "$T/dave.env"
[ "$(cat "$T/target")" = "pipe:dave" ] && ok "the target is dave's endpoint" || bad "target" "$(cat "$T/target")"
check "dave unpacks it" $BIN unpack --secrets "$T/dave.json" "$T/dave.env"
grep -q '"id":"h1"' "$T/out" && ok "dave's message" || bad "dave's message"
# 3. garbage through the pipe: refused, answered to the adapter, the daemon goes on
echo '{"not":"didcomm"}' > "$T/in"
wait_until 60 grep -q "^refused" "$T/acks.log" && ok "garbage from the pipe: refused (ack)" || bad "garbage ack" "$(cat "$T/acks.log")"
kill -0 "$GPID" && ok "still running" || bad "still running"
# 4. a broken [pipe] section stops start-up with file:line
printf 'state_dir %s/gw2\n[http]\nlisten 127.0.0.1:0\n[pipe]\ntag x\n' "$T" > "$T/bad.conf"
$TBIN run -c "$T/bad.conf" > "$T/bad.out" 2>&1; rc=$?
[ $rc -ne 0 ] && grep -q "bad.conf:4: \[pipe\]: in or out" "$T/bad.out" && ok "a broken [pipe] section: file:line and exit $rc" ||
	bad "broken section" "exit $rc $(tail -2 "$T/bad.out")"
kill -TERM "$GPID"; wait "$GPID"; rc=$?; GPID=""
[ $rc -eq 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM" "exit $rc"
summary integration-pipe
