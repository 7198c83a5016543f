#!/usr/bin/env bash
# The gateway as a mediator, through the real daemon on 127.0.0.1: an agent with no endpoint
# of its own (tests/integration/medagent.py, DIDComm through libdidcomm) reads the gateway's
# out-of-band invitation, asks for mediation (coordinate-mediation 3.0 and 2.0), registers its
# DID; a sender sends it N messages through the gateway (held for pickup, no rule names
# them); the agent picks them up over HTTP in batches of 100 and acknowledges them (status 0);
# a stranger is refused and sees nothing; a restart between delivery and messages-received
# loses nothing; live mode over WebSocket pushes messages as they arrive; a socket cut in the
# middle of a push loses nothing (they come again on reconnect). Stopped by PID.
#   MED_N: messages in the HTTP pickup case (default 1000, the issue's figure)
set -u
cd "$(dirname "$0")/../.."
. tests/cli/common.inc
BIN=${BIN:-build/release/didcomm-gateway}
LIB=${LIB:-build/release/libdidcomm.so}
N=${MED_N:-1000}
GPORT=$(free_port)
GPID=""
stop_all() { [ -n "${KEEP_LOG:-}" ] && cp "$T/gw.log" "$KEEP_LOG"; [ -n "$GPID" ] && kill "$GPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap stop_all EXIT
# rules that relay nothing: what reaches the agent is held by the mediator, before any rule
printf 'default -> reject e.p.msg.not-relayed\n' > "$T/rules.conf"
printf 'state_dir %s/gw\nrules %s/rules.conf\n[http]\nlisten 127.0.0.1:%s\n[ws]\n[mediator]\npolicy open\n' "$T" "$T" "$GPORT" > "$T/gw.conf"
$BIN identity -c "$T/gw.conf" > /dev/null 2>"$T/err" || bad "identity" "$(cat "$T/err")"
GW=$(cat "$T/gw/did.txt")
start() {
	$BIN run -c "$T/gw.conf" 2>>"$T/gw.log" & GPID=$!
	wait_port "$GPORT" "$GPID"
}
stop() { kill "$GPID"; wait "$GPID"; local rc=$?; GPID=""; return $rc; }
start && ok "gateway listens" || bad "gateway listens" "$(tail -3 "$T/gw.log")"

# the agent's DID names the gateway's DID as its endpoint (the routing DID of the grant)
$BIN did new --method peer2 --endpoint "$GW" --secrets "$T/agent.json" > "$T/agent"
$BIN did new --method peer2 --secrets "$T/alice.json" > "$T/alice"
$BIN did new --method peer2 --secrets "$T/stranger.json" > "$T/stranger"
$BIN did new --method peer2 --endpoint "$GW" --secrets "$T/agent2.json" > "$T/agent2"
$BIN did new --method peer2 --secrets "$T/stranger2.json" > "$T/stranger2"
$BIN did new --method peer2 --endpoint "$GW" --secrets "$T/agent3.json" > "$T/agent3"
$BIN did new --method peer2 --endpoint "http://127.0.0.1:9/elsewhere" --secrets "$T/foreign.json" > "$T/foreign"
python3 - "$T" "$GW" "$GPORT" "$LIB" <<'PY'
import json, sys
t, gw, port, lib = sys.argv[1:]
names = ("agent", "alice", "stranger", "agent2", "stranger2", "agent3")
r = lambda n: open("%s/%s" % (t, n)).read().strip()
json.dump({"gw": gw, "port": port, "agent": r("agent"), "alice": r("alice"), "stranger": r("stranger"),
           "agent2": r("agent2"), "stranger2": r("stranger2"), "agent3": r("agent3"), "foreign": r("foreign"), "lib": lib,
           "files": {n: "%s/%s.json" % (t, n) for n in names},
           "secrets": ["%s/%s.json" % (t, n) for n in names]}, open(t + "/state.json", "w"))
PY
AG="python3 tests/integration/medagent.py $LIB $T/state.json"
run() { $AG "$@" > "$T/py.out" 2>&1; cat "$T/py.out"; PASS=$((PASS + $(grep -c '^ok ' "$T/py.out"))); FAIL=$((FAIL + $(grep -c '^FAIL ' "$T/py.out"))); grep -q Traceback "$T/py.out" && bad "$1 ran through" "$(tail -3 "$T/py.out")"; }

# 1. out-of-band invitation
if $BIN invite -c "$T/gw.conf" --json > "$T/inv" 2>"$T/err"; then
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["type"]=="https://didcomm.org/out-of-band/2.0/invitation" and d["from"]==sys.argv[2] and d["body"]["goal_code"]=="request-mediate", d' "$T/inv" "$GW" \
		&& ok "invite --json: an out-of-band 2.0 invitation from the gateway's DID, goal_code request-mediate" || bad "invite --json" "$(cat "$T/inv")"
	$BIN invite -c "$T/gw.conf" > "$T/url" 2>"$T/err"
	python3 -c 'import base64,json,sys,urllib.parse as u; q=u.parse_qs(u.urlparse(open(sys.argv[1]).read().strip()).query)["_oob"][0]; d=json.loads(base64.urlsafe_b64decode(q+"="*(-len(q)%4))); assert d["from"]==sys.argv[2]' "$T/url" "$GW" \
		&& ok "invite: the URL's _oob decodes to the invitation" || bad "invite URL" "$(cat "$T/url" "$T/err")"
else
	bad "invite" "$(cat "$T/err")"
fi
# 2. coordinate-mediation 3.0 (the agent) and 2.0 (a second agent)
run features
run mediate 3
run mediate 2 agent2
# 3. N messages held for the agent, picked up over HTTP in batches of 100
run hostile
run unregistered
run send "$N"
run status "$N"
# re-routing leaves a client's mailbox alone: its recipient is still registered, so the
# mediator, not the rules, decides again, and it decides the same
$BIN queue reroute -c "$T/gw.conf" > "$T/rr" 2>&1
grep -q "^queue: reroute: 0 moved, $N already where the rules send them, " "$T/rr" &&
	ok "queue reroute: the $N held for pickup stay in the mailbox" || bad "reroute of held items" "$(tail -3 "$T/rr")"
run status "$N"
run pickup "$N" 100
run status 0
# 4. a stranger
run send 5 s
run stranger
# 5. restart between delivery and messages-received
run pickup 5 100 noack
stop && ok "gateway stopped (SIGTERM, exit 0)" || bad "gateway stop"
# ... and started again with an allow-list (the agents only): grants made before stand
printf '# who may ask for mediation\n%s\n%s\n%s\n' "$(cat "$T/agent")" "$(cat "$T/agent2")" "$(cat "$T/agent3")" > "$T/allow"
sed -i "s|^policy open|policy allow $T/allow|" "$T/gw.conf"
start && ok "gateway started again" || bad "restart" "$(tail -3 "$T/gw.log")"
run deny
run status 5
run pickup 5 100
run status 0
# 6. live mode over WebSocket
run live "$N"
run status 0
run livecut 200
run status 0
# 7. the protocol messages packed and read by didcomm-rust (didcomm-node, installed as
# tests/interop/run.sh does: the pinned version, into tests/interop/node_modules)
if command -v node >/dev/null && command -v npm >/dev/null && [ ! -f tests/interop/node_modules/didcomm-node/package.json ]; then
	timeout 120 npm install --no-audit --no-fund --save-exact --fetch-retries=1 --prefix tests/interop \
		"didcomm-node@$(sed -n 's/.*"didcomm-node": *"\([^"]*\)".*/\1/p' tests/interop/package.json)" > "$T/npm.log" 2>&1
fi
if command -v node >/dev/null && [ -f tests/interop/node_modules/didcomm-node/package.json ]; then
	timeout 120 node --no-wasm-tier-up tests/integration/mednode.mjs "$BIN" "$T/state.json" agent3 3 > "$T/node.out" 2>&1
	cat "$T/node.out"
	PASS=$((PASS + $(grep -c '^ok ' "$T/node.out"))); FAIL=$((FAIL + $(grep -c '^FAIL ' "$T/node.out")))
	grep -q '^ok node: messages-received' "$T/node.out" || bad "didcomm-node exchange ran through" "$(tail -3 "$T/node.out")"
else
	known "didcomm-node case" "node or tests/interop/node_modules missing: make test-interop installs it"
fi
stop && ok "gateway stopped cleanly (exit 0: under ASan, no leak)" || bad "final stop" "$(tail -5 "$T/gw.log")"
summary 11-mediator
