#!/usr/bin/env bash
# Event-loop stall benchmark: crypto runs on the ingest workers, never on the loop, so the
# loop keeps answering other connections while big envelopes are being opened. The gateway
# (build/release/didcomm-gateway) runs on 127.0.0.1 with a rule that holds everything; 4
# senders post ~5 MiB forwards while a probe measures GET / (answered on the loop) and small
# forwards (worker + commit). Prints probe latency idle vs loaded. Informational only.
#   bash tests/bench/stall.sh        (also at the end of `make bench`)
#   STALL_SECONDS=5 STALL_THREADS=4 STALL_MIB=2 (payload before base64)
set -u
cd "$(dirname "$0")/../.." || exit 1
BIN=${BIN:-build/release/didcomm-gateway}
SECS=${STALL_SECONDS:-5}
THREADS=${STALL_THREADS:-4}
MIB=${STALL_MIB:-2}
tmp=$(mktemp -d /tmp/dcstall.XXXXXX)
GPID=""
trap '[ -n "$GPID" ] && kill "$GPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()'; }
wait_port() { for _ in $(seq 1 100); do kill -0 "$2" 2>/dev/null || return 1; (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
[ -x "$BIN" ] || { echo "stall: $BIN missing (make build)" >&2; exit 1; }
GPORT=$(free_port)
printf 'default -> hold 1h\n' > "$tmp/rules.conf"
printf 'state_dir %s/gw\nrules %s/rules.conf\nlog_level warn\n[http]\nlisten 127.0.0.1:%s\n[ws]\n[outbound]\nallow 127.0.0.0/8\n' "$tmp" "$tmp" "$GPORT" > "$tmp/gw.conf"
"$BIN" run -c "$tmp/gw.conf" 2>"$tmp/gw.log" & GPID=$!
wait_port "$GPORT" "$GPID" || { echo "stall: the gateway did not start: $(tail -2 "$tmp/gw.log")" >&2; exit 1; }
GWKEY=$("$BIN" did resolve "$(cat "$tmp/gw/did.txt")" | python3 -c 'import json,sys; print(json.load(sys.stdin)["keyAgreement"][0])')
BOB=$("$BIN" did new --method peer2 --endpoint "http://127.0.0.1:$GPORT/" --routing-key "$GWKEY" --secrets "$tmp/bob.json")
python3 -c 'import base64,json,os,sys; print(json.dumps({"id":"big","type":"https://didcomm.org/basicmessage/2.0/message","to":[sys.argv[1]],"body":{"blob":base64.b64encode(os.urandom(int(sys.argv[2])*1048576)).decode()}}))' "$BOB" "$MIB" > "$tmp/big.json"
printf '{"id":"small","type":"https://didcomm.org/basicmessage/2.0/message","to":["%s"],"body":{"n":1}}' "$BOB" > "$tmp/small.json"
"$BIN" pack --mode anoncrypt --to "$BOB" "$tmp/big.json" > "$tmp/big.f" || exit 1
"$BIN" pack --mode anoncrypt --to "$BOB" "$tmp/small.json" > "$tmp/small.f" || exit 1
python3 tests/bench/stall.py "$GPORT" "$tmp/big.f" "$tmp/small.f" "$SECS" "$THREADS"
rc=$?
kill -TERM "$GPID"; wait "$GPID"; GPID=""
exit $rc
