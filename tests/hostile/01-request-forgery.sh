#!/usr/bin/env bash
# Request forgery through DID documents. An anonymous client posts a forward to the gateway whose
# next is a did:peer:2 with the endpoint http://127.0.0.1:RPORT/inbox (a receiver run here):
#  - no [outbound] allow: loopback is refused: the message reaches nothing; it is refused at
#    the POST or dead-lettered with "outbound policy" (`queue ls --dead`);
#  - [outbound] allow 127.0.0.0/8: the same is delivered (the test can pass);
#  - an endpoint that answers 307 to the receiver: the redirect is not followed for a
#    DID-derived target (the receiver gets nothing).
# Today's code (observed): "unknown section [outbound]" in the config; without the policy the
# forged message IS delivered to the loopback receiver (202, then POSTed to 127.0.0.1:RPORT), and
# the 307 is followed to the receiver. Fails.
set -u
cd "$(dirname "$0")/../.."
. tests/hostile/common.inc
RPORT=$(free_port); REDIR=$(free_port)
mkdir -p "$T/rx" "$T/redir"
spawn python3 tests/cli/receiver.py "$RPORT" "$T/rx"; RPID=$LAST
spawn $HX redirect "$REDIR" "http://127.0.0.1:$RPORT/inbox" "$T/redir"; DPID=$LAST
wait_port "$RPORT" "$RPID" && wait_port "$REDIR" "$DPID" || bad "test servers up"
got_id() { for f in "$T/rx"/msg-*.json; do [ -e "$f" ] && $TOOL unpack --secrets "$T/$1.json" "$f" 2>/dev/null; done | grep -q "\"id\":\"$2\""; }
printf 'state_dir %s/gw\n[http]\nlisten 127.0.0.1:%s\n' "$T" "$GPORT" > "$T/a.conf"
fit_conf "$T/a.conf"
identity "$T/a.conf"
$TOOL did new --method peer2 --endpoint "http://127.0.0.1:$RPORT/inbox" --secrets "$T/victim.json" > "$T/victim"
$TOOL did new --method peer2 --endpoint "http://127.0.0.1:$REDIR/" --secrets "$T/bouncer.json" > "$T/bouncer"
VICTIM=$(cat "$T/victim"); BOUNCER=$(cat "$T/bouncer")

# A: the default config, no [outbound]
start_gw "$T/a.conf" && ok "gateway up (no [outbound])" || bad "gateway up" "$(tail -3 "$T/gw.log")"
fwd_to_gw "$VICTIM" forged1 "$T/f1"
code=$(post "$T/f1")
outcome() { # prints delivered|policy|refused|pending
	if got_id victim forged1; then echo delivered
	elif [ "$code" != 202 ]; then echo refused
	elif $BIN queue ls --dead -c "$T/a.conf" 2>/dev/null | grep -q "outbound policy"; then echo policy
	else echo pending; fi
}
wait_until 60 eval '[ "$(outcome)" != pending ]'
o=$(outcome)
case $o in
policy|refused) ok "no [outbound]: the loopback endpoint is not reached ($o, HTTP $code)" ;;
*) bad "no [outbound]: the loopback endpoint is not reached" "$o (HTTP $code); dead: $($BIN queue ls --dead -c "$T/a.conf" | head -3)" ;;
esac
[ "$(ls "$T/rx" | grep -c 'msg-.*json')" -eq 0 ] && ok "the receiver got no request" || bad "the receiver got no request" "$(ls "$T/rx" | grep -c 'msg-.*json') requests"
stop_gw

# B: [outbound] allow 127.0.0.0/8: delivered; a 307 is not followed
printf 'state_dir %s/gw\n[http]\nlisten 127.0.0.1:%s\n[outbound]\nallow 127.0.0.0/8\n' "$T" "$GPORT" > "$T/b.conf"
fit_conf "$T/b.conf"
start_gw "$T/b.conf" && ok "gateway up (allow 127.0.0.0/8)" || bad "gateway up (allow)" "$(tail -3 "$T/gw.log")"
fwd_to_gw "$VICTIM" allowed1 "$T/f2"
code=$(post "$T/f2")
[ "$code" = 202 ] && wait_until 60 got_id victim allowed1 && ok "allowed by [outbound]: delivered" || bad "allowed: delivered" "HTTP $code $(tail -3 "$T/gw.log")"
before=$(ls "$T/rx" | grep -c 'msg-.*json')
fwd_to_gw "$BOUNCER" bounced1 "$T/f3"
code=$(post "$T/f3")
# the redirecting endpoint was asked; then give the gateway time to (not) follow it: until the
# item shows an attempt or a dead letter, or the receiver got it
tried() { $BIN queue ls -c "$T/b.conf" 2>/dev/null | grep -q "attempts=[1-9]" || $BIN queue ls --dead -c "$T/b.conf" 2>/dev/null | grep -q "$REDIR" || got_id bouncer bounced1; }
wait_until 60 test -e "$T/redir/hit-1" && ok "the redirecting endpoint was asked (HTTP $code)" || bad "redirecting endpoint asked" "HTTP $code"
wait_until 60 tried
got_id bouncer bounced1 && bad "no redirect followed for a DID-derived target" "the receiver got it via the 307" || ok "no redirect followed for a DID-derived target"
stop_gw
[ "$GRC" -eq 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM" "exit $GRC"
summary hostile-request-forgery
