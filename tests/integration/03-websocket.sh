#!/usr/bin/env bash
# WebSocket in and out, and across transports, through the real daemon on 127.0.0.1:
# WS in -> WS out, WS in -> HTTP out, HTTP in -> WS out, `send` to a ws:// endpoint; our own
# protocols (trust-ping, discover-features) answered on the return route over HTTP (200 +
# encrypted body) and over WS (a frame on the same socket); bad input over HTTP and WS
# (garbage, huge, wrong type, truncated JSON, a forward whose next cannot be resolved) gets
# the right status or problem report while the gateway keeps serving. Stopped by PID.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/common.inc
BIN=${BIN:-build/release/didcomm-gateway}
RPORT=$(free_port); WPORT=$(free_port); GPORT=$(free_port)
mkdir -p "$T/rx" "$T/wrx" "$T/rep"
python3 tests/cli/receiver.py "$RPORT" "$T/rx" & RPID=$!
python3 tests/cli/wstool.py serve "$WPORT" "$T/wrx" & WPID=$!
GPID=""
stop_all() { [ -n "${KEEP_LOG:-}" ] && cp "$T/gw.log" "$KEEP_LOG"; [ -n "$GPID" ] && kill "$GPID" 2>/dev/null; kill "$RPID" "$WPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap stop_all EXIT
wait_port "$RPORT" "$RPID" && wait_port "$WPORT" "$WPID" || bad "test receivers up"
WS="python3 tests/cli/wstool.py send ws://127.0.0.1:$GPORT/ --wait 60"

# identities first (the rules name them): the gateway's, then bob-http and bob-ws behind it
printf 'state_dir %s/gw\nmax_message_bytes 64k\n[http]\nlisten 127.0.0.1:%s\n[ws]\n[outbound]\nallow 127.0.0.0/8\n' "$T" "$GPORT" > "$T/gw.conf"
$BIN identity -c "$T/gw.conf" > "$T/gw.did" 2>"$T/err" || bad "identity" "$(cat "$T/err")"
GW=$(cat "$T/gw/did.txt")
GWKEY=$($BIN did resolve "$GW" | python3 -c 'import json,sys; print(json.load(sys.stdin)["keyAgreement"][0])')
$BIN did new --method peer2 --secrets "$T/alice.json" > "$T/alice"
$BIN did new --method peer2 --endpoint "http://127.0.0.1:$GPORT/" --routing-key "$GWKEY" --secrets "$T/bobh.json" > "$T/bobh"
$BIN did new --method peer2 --endpoint "ws://127.0.0.1:$GPORT/" --routing-key "$GWKEY" --secrets "$T/bobw.json" > "$T/bobw"
$BIN did new --method peer2 --secrets "$T/carol.json" > "$T/carol"   # no endpoint: cannot be resolved to one
ALICE=$(cat "$T/alice"); BOBH=$(cat "$T/bobh"); BOBW=$(cat "$T/bobw"); CAROL=$(cat "$T/carol")
cat > "$T/rules.conf" <<RULES
to $BOBH -> http http://127.0.0.1:$RPORT/inbox
to $BOBW -> ws ws://127.0.0.1:$WPORT/
default -> resolve
RULES
printf 'state_dir %s/gw\nrules %s/rules.conf\nmax_message_bytes 64k\n[http]\nlisten 127.0.0.1:%s\n[ws]\n[outbound]\nallow 127.0.0.0/8\n' "$T" "$T" "$GPORT" > "$T/gw.conf"
$BIN run -c "$T/gw.conf" 2>>"$T/gw.log" & GPID=$!
wait_port "$GPORT" "$GPID" && ok "gateway listens (HTTP and WebSocket)" || bad "gateway listens" "$(tail -3 "$T/gw.log")"

mk() { printf '{"id":"%s","type":"https://didcomm.org/basicmessage/2.0/message","from":"%s","to":["%s"],"body":{"content":"hi"}}' "$1" "$ALICE" "$2" > "$3"; }
post() { curl -s -o "$T/body" -D "$T/hdr" -w '%{http_code}' -H "Content-Type: ${2:-application/didcomm-encrypted+json}" --data-binary @"$1" "http://127.0.0.1:$GPORT/"; }
count() { ls "$1"/msg-*.json 2>/dev/null | wc -l; }
wait_count() { wait_until 120 eval "[ \"\$(count '$1')\" -ge $2 ]"; }
# got_id DIR SECRETS ID: some message in DIR unpacks with SECRETS to a message with this id
got_id() { for f in "$1"/msg-*.json; do $BIN unpack --secrets "$2" "$f" 2>/dev/null; done | grep -q "\"id\":\"$3\""; }

# 1. WS in -> WS out
mk ww "$BOBW" "$T/ww.json"; $BIN pack --mode authcrypt --to "$BOBW" --secrets "$T/alice.json" "$T/ww.json" > "$T/ww.f"
$WS "$T/ww.f" > /dev/null && ok "WS in: a forward sent as one frame" || bad "WS in"
wait_count "$T/wrx" 1 && got_id "$T/wrx" "$T/bobw.json" ww && ok "WS in -> WS out: bob-ws unpacks it" || bad "WS -> WS" "$(tail -3 "$T/gw.log")"
# 2. WS in -> HTTP out
mk wh "$BOBH" "$T/wh.json"; $BIN pack --mode anoncrypt --to "$BOBH" "$T/wh.json" > "$T/wh.f"
$WS "$T/wh.f" > /dev/null
wait_count "$T/rx" 1 && got_id "$T/rx" "$T/bobh.json" wh && ok "WS in -> HTTP out: bob-http unpacks it" || bad "WS -> HTTP" "$(tail -3 "$T/gw.log")"
# 3. HTTP in -> WS out (the gateway reuses its open connection to bob-ws)
mk hw "$BOBW" "$T/hw.json"; $BIN pack --mode anoncrypt --to "$BOBW" "$T/hw.json" > "$T/hw.f"
[ "$(post "$T/hw.f")" = 202 ] && ok "HTTP in: 202" || bad "HTTP in" "$(cat "$T/body")"
wait_count "$T/wrx" 2 && got_id "$T/wrx" "$T/bobw.json" hw && ok "HTTP in -> WS out: bob-ws unpacks it" || bad "HTTP -> WS" "$(tail -3 "$T/gw.log")"
# 4. several frames on one connection, and `send` to a ws:// endpoint (bob-ws's is the gateway)
for i in 1 2 3; do mk "m$i" "$BOBW" "$T/m$i.json"; $BIN pack --mode anoncrypt --to "$BOBW" "$T/m$i.json" > "$T/m$i.f"; done
$WS "$T/m1.f" "$T/m2.f" "$T/m3.f" > /dev/null
mk sw "$BOBW" "$T/sw.json"
check "send --to a DID whose endpoint is ws://" $BIN send --to "$BOBW" --from "$ALICE" --secrets "$T/alice.json" "$T/sw.json"
grep -q "ws://127.0.0.1:$GPORT/" "$T/out" && ok "send said where" || bad "send output" "$(cat "$T/out")"
wait_count "$T/wrx" 6 && got_id "$T/wrx" "$T/bobw.json" m3 && got_id "$T/wrx" "$T/bobw.json" sw && ok "each frame one message; send over ws delivered" || bad "frames/send" "$(count "$T/wrx") at bob-ws"

# 5. trust-ping and discover-features on the return route, over HTTP and WS
printf '{"id":"p1","type":"https://didcomm.org/trust-ping/2.0/ping","from":"%s","to":["%s"],"return_route":"all","body":{"response_requested":true}}' "$ALICE" "$GW" > "$T/ping.json"
printf '{"id":"q1","type":"https://didcomm.org/discover-features/2.0/queries","from":"%s","to":["%s"],"return_route":"all","body":{"queries":[{"feature-type":"protocol","match":"https://didcomm.org/*"}]}}' "$ALICE" "$GW" > "$T/q.json"
$BIN pack --mode authcrypt --to "$GW" --secrets "$T/alice.json" "$T/ping.json" > "$T/ping.f"
$BIN pack --mode authcrypt --to "$GW" --secrets "$T/alice.json" "$T/q.json" > "$T/q.f"
code=$(post "$T/ping.f")
[ "$code" = 200 ] && grep -qi "content-type: application/didcomm-encrypted+json" "$T/hdr" && ok "trust-ping over HTTP: 200 with an encrypted body" || bad "ping HTTP" "$code $(head -c 200 "$T/body")"
$BIN unpack --secrets "$T/alice.json" "$T/body" > "$T/pr" 2>"$T/err"
grep -q '"type":"https://didcomm.org/trust-ping/2.0/ping-response"' "$T/pr" && grep -q '"thid":"p1"' "$T/pr" && ok "alice reads the ping-response (thid p1)" || bad "ping-response" "$(cat "$T/pr" "$T/err")"
code=$(post "$T/q.f")
$BIN unpack --secrets "$T/alice.json" "$T/body" > "$T/dr" 2>"$T/err"
[ "$code" = 200 ] && grep -q 'discover-features/2.0/disclose' "$T/dr" && grep -q 'trust-ping/2.0' "$T/dr" && grep -q '"thid":"q1"' "$T/dr" && ok "discover-features over HTTP: disclose lists trust-ping" || bad "disclose HTTP" "$code $(cat "$T/dr" "$T/err")"
$WS --expect 2 --out "$T/rep" "$T/ping.f" "$T/q.f" > /dev/null && ok "WS: two replies on the same socket" || bad "WS replies" "$(tail -3 "$T/gw.log")"
for f in "$T/rep"/reply-*.json; do $BIN unpack --secrets "$T/alice.json" "$f" 2>/dev/null; echo; done > "$T/wsr"
grep -q 'ping-response' "$T/wsr" && grep -q 'disclose' "$T/wsr" && ok "trust-ping and discover-features over WS" || bad "WS protocols" "$(head -c 400 "$T/wsr")"
# without return_route the ping-response is not sent back on the socket (alice has no endpoint: held)
sed 's/"return_route":"all",//' "$T/ping.json" > "$T/ping2.json"; $BIN pack --mode authcrypt --to "$GW" --secrets "$T/alice.json" "$T/ping2.json" > "$T/ping2.f"
[ "$(post "$T/ping2.f")" = 202 ] && ok "ping without return_route: 202, no body on the route" || bad "ping no rr" "$(cat "$T/body")"

# 6. bad input over HTTP
printf 'not json at all' > "$T/garbage"
[ "$(post "$T/garbage")" = 400 ] && grep -q 'problem-report' "$T/body" && ok "HTTP garbage: 400 with a problem report" || bad "HTTP garbage" "$(cat "$T/body")"
printf '{"protected":"eyJ' > "$T/trunc"
[ "$(post "$T/trunc")" = 400 ] && ok "HTTP truncated JSON: 400" || bad "HTTP truncated"
[ "$(post "$T/ww.f" text/plain)" = 415 ] && ok "HTTP wrong type: 415" || bad "HTTP 415"
head -c 70000 /dev/zero | tr '\0' 'a' > "$T/big"
[ "$(post "$T/big")" = 413 ] && ok "HTTP huge: 413" || bad "HTTP 413"
# a forward to the gateway whose next (carol) has no endpoint; the rule `default -> resolve` has no else
mk c1 "$CAROL" "$T/c1.json"; $BIN pack --mode anoncrypt --to "$CAROL" "$T/c1.json" > "$T/c1.inner"
python3 -c 'import json,sys; print(json.dumps({"id":"fwd-carol","type":"https://didcomm.org/routing/2.0/forward","to":[sys.argv[1]],"body":{"next":sys.argv[2]},"attachments":[{"data":{"json":json.load(open(sys.argv[3]))}}]}))' "$GW" "$CAROL" "$T/c1.inner" > "$T/cf.json"
$BIN pack --mode anoncrypt --to "$GW" --no-forward "$T/cf.json" > "$T/cf.f"
code=$(post "$T/cf.f")
[ "$code" = 400 ] && grep -q 'problem-report' "$T/body" && grep -q 'cant-use-endpoint' "$T/body" && grep -q 'fwd-carol' "$T/body" && ok "HTTP forward to an unresolvable next: 400 + problem report (pthid fwd-carol)" || bad "HTTP unresolvable" "$code $(cat "$T/body")"
# an authenticated sender gets the report encrypted to it
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["id"]="fwd-carol-2"; d["from"]=sys.argv[2]; print(json.dumps(d))' "$T/cf.json" "$ALICE" > "$T/cf2.json"
$BIN pack --mode authcrypt --to "$GW" --secrets "$T/alice.json" --no-forward "$T/cf2.json" > "$T/cf2.f"
code=$(post "$T/cf2.f")
$BIN unpack --secrets "$T/alice.json" "$T/body" > "$T/rep2" 2>/dev/null
[ "$code" = 400 ] && grep -q 'report-problem/2.0/problem-report' "$T/rep2" && grep -q 'cant-use-endpoint' "$T/rep2" && ok "authcrypt sender: the problem report is encrypted to alice" || bad "encrypted report" "$code $(head -c 300 "$T/body")"

# a forward for dave, whose first endpoint has no adapter here (mqtt): `resolve` takes the next one
$BIN did new --method peer2 --endpoint "mqtt://127.0.0.1:1/dave" --endpoint "http://127.0.0.1:$RPORT/inbox" --secrets "$T/dave.json" > "$T/dave"
DAVE=$(cat "$T/dave")
mk d1 "$DAVE" "$T/d1.json"; $BIN pack --mode anoncrypt --to "$DAVE" --no-forward "$T/d1.json" > "$T/d1.inner"
python3 -c 'import json,sys; print(json.dumps({"id":"fwd-dave","type":"https://didcomm.org/routing/2.0/forward","to":[sys.argv[1]],"body":{"next":sys.argv[2]},"attachments":[{"data":{"json":json.load(open(sys.argv[3]))}}]}))' "$GW" "$DAVE" "$T/d1.inner" > "$T/df.json"
$BIN pack --mode anoncrypt --to "$GW" --no-forward "$T/df.json" > "$T/df.f"
nrx=$(count "$T/rx")
[ "$(post "$T/df.f")" = 202 ] && wait_count "$T/rx" $((nrx + 1)) && got_id "$T/rx" "$T/dave.json" d1 && ok "resolve: the first endpoint with an adapter here (document order)" || bad "resolve order" "$(cat "$T/body") $(tail -2 "$T/gw.log")"

# 7. bad input over WS: each gets a problem report frame on the socket
$WS --expect 1 --out "$T/rep" "$T/garbage" > /dev/null; grep -q 'problem-report' "$T/rep/reply-1.json" && ok "WS garbage: problem report" || bad "WS garbage"
$WS --expect 1 --out "$T/rep" "$T/trunc" > /dev/null; grep -q 'problem-report' "$T/rep/reply-1.json" && ok "WS truncated JSON: problem report" || bad "WS truncated"
$WS --expect 1 --out "$T/rep" "$T/big" > /dev/null; grep -q 'message_too_big\|too_big\|max_receive_bytes' "$T/rep/reply-1.json" && ok "WS huge frame: problem report (too big)" || bad "WS huge" "$(cat "$T/rep/reply-1.json" 2>/dev/null)"
$WS --expect 1 --out "$T/rep" "$T/cf.f" > /dev/null; grep -q 'cant-use-endpoint' "$T/rep/reply-1.json" && ok "WS forward to an unresolvable next: problem report" || bad "WS unresolvable"
# after all that, on one connection: garbage then a good forward; the good one still goes through
mk after "$BOBW" "$T/after.json"; $BIN pack --mode anoncrypt --to "$BOBW" "$T/after.json" > "$T/after.f"
$WS --expect 1 --out "$T/rep" "$T/garbage" "$T/after.f" > /dev/null
wait_count "$T/wrx" 7 && got_id "$T/wrx" "$T/bobw.json" after && ok "still serving: a good frame after a bad one is delivered" || bad "after bad" "$(tail -3 "$T/gw.log")"
kill -0 "$GPID" && ok "gateway still up" || bad "gateway died"

# 8. SIGTERM: exit 0 (the sanitizer build also checks for leaks here)
kill -TERM "$GPID"; wait "$GPID"; rc=$?
[ $rc -eq 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM" "exit $rc $(tail -5 "$T/gw.log")"
GPID=""
summary integration-websocket
