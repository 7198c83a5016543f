#!/usr/bin/env bash
# Filling the queue with garbage. 40 JWE-shaped messages (valid JSON, plausible headers, random
# bytes) for recipients that cannot be resolved (did:example:..., a did:peer:2 that does not
# parse, a did:web with no server) are posted by an anonymous client with the built-in rules:
# each is refused (not 202), and `queue stats` stays at "queued 0".
# Today's code (observed): every one is 202 "queued for 1 destination" (the built-in
# `default -> resolve else hold 72h` holds what it cannot resolve): queued 40. Fails.
# Then the queue shares: with max_items 40 and share 25 (%), one origin (HTTP from one address)
# may have 10 live items: of 14 valid forwards to an unreachable agent 10 get 202 and 4 get 503
# "queue share"; a message from another origin (WebSocket) is still taken; the count survives a
# restart; `queue rm` of one item (another process) gives the peer room for one more. And one
# authenticated sender (authcrypt) gets one share across origins (7 by HTTP, 5 by WebSocket:
# 10 taken).
# (5882891: "unknown key share"; all 14 taken.)
set -u
cd "$(dirname "$0")/../.."
. tests/hostile/common.inc
NOPORT=$(free_port)
printf 'state_dir %s/gw\n[http]\nlisten 127.0.0.1:%s\n' "$T" "$GPORT" > "$T/gw.conf"
fit_conf "$T/gw.conf"
identity "$T/gw.conf"
mkdir -p "$T/g"
python3 - "$T/g" "$NOPORT" <<'PY'
import base64, json, os, sys
out, port = sys.argv[1], sys.argv[2]
b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
kids = ["did:example:nobody%d#key-1", "did:peer:2.Ez6LSbogus%d.Vz6Mkbogus#key-1", "did:web:127.0.0.1%%3A" + port + ":n%d#key-1",
        "did:key:z6LSnotakey%d#z6LSnotakey"]
for i in range(40):
    kid = kids[i % 4] % i if "%d" in kids[i % 4] else kids[i % 4]
    prot = {"typ": "application/didcomm-encrypted+json", "alg": "ECDH-ES+A256KW", "enc": "A256CBC-HS512",
            "epk": {"kty": "OKP", "crv": "X25519", "x": b(os.urandom(32))}, "apv": b(os.urandom(32))}
    jwe = {"protected": b(json.dumps(prot).encode()), "recipients": [{"header": {"kid": kid}, "encrypted_key": b(os.urandom(40))}],
           "iv": b(os.urandom(16)), "ciphertext": b(os.urandom(96)), "tag": b(os.urandom(32))}
    open(os.path.join(out, "g%d" % i), "w").write(json.dumps(jwe))
PY
start_gw "$T/gw.conf" && ok "gateway up" || bad "gateway up" "$(tail -3 "$T/gw.log")"
: > "$T/codes"
for i in $(seq 0 39); do echo "$(post "$T/g/g$i") $(head -c 120 "$T/body")" >> "$T/codes"; done
echo "# answers: $(cut -d' ' -f1 "$T/codes" | sort | uniq -c | tr '\n' ' ')"
n202=$(grep -c "^202" "$T/codes")
[ "$n202" -eq 0 ] && ok "JWE-shaped garbage for unresolvable DIDs refused (40 of 40)" || bad "garbage refused" "$n202 of 40 got 202: $(grep -m1 '^202' "$T/codes")"
$BIN queue stats -c "$T/gw.conf" > "$T/st"
grep -qx "queued 0" "$T/st" && ok "queue stats: queued 0" || bad "queue stats: queued 0" "$(tr '\n' ' ' < "$T/st")"
stop_gw
[ "$GRC" -eq 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM" "exit $GRC"

# queue shares
DEADPORT=$(free_port)
rm -rf "$T/gw"
printf 'state_dir %s/gw
[queue]
max_items 40
share 25
retry_base 1h
[http]
listen 127.0.0.1:%s
[ws]
[outbound]
allow 127.0.0.0/8
' \
	"$T" "$GPORT" > "$T/gw2.conf"
fit_conf "$T/gw2.conf"
identity "$T/gw2.conf"
$TOOL did new --method peer2 --endpoint "http://127.0.0.1:$DEADPORT/" --secrets "$T/bob.json" > "$T/bob"
for i in $(seq 1 17); do fwd_to_gw "$(cat "$T/bob")" "s$i" "$T/s$i"; done
start_gw "$T/gw2.conf" && ok "gateway up (shares)" || bad "gateway up (shares)" "$(tail -3 "$T/gw.log")"
live() { $BIN queue stats -c "$T/gw2.conf" | awk '$1 == "queued" { print $2 }'; }
: > "$T/codes2"
for i in $(seq 1 14); do echo "$(post "$T/s$i") $(head -c 150 "$T/body")" >> "$T/codes2"; done
echo "# answers: $(cut -d' ' -f1 "$T/codes2" | sort | uniq -c | tr '\n' ' ')"
[ "$(grep -c '^202' "$T/codes2")" -eq 10 ] && [ "$(grep -c '^503.*queue share' "$T/codes2")" -eq 4 ] &&
	ok "one origin: 10 taken (its share), 4 answered 503 queue share" || bad "one origin's share" "$(cut -c1-90 "$T/codes2" | sort | uniq -c | tr '\n' ';')"
n0=$(live)
$HX ws "$GPORT" "" "$T/s15" > /dev/null
wait_until 30 eval '[ "$(live)" -gt "$n0" ]'
[ "$(live)" -eq $((n0 + 1)) ] && ok "another origin (WebSocket) is still taken" || bad "another origin" "queued $(live), was $n0"
stop_gw
start_gw "$T/gw2.conf" && ok "gateway up again" || bad "gateway up again" "$(tail -3 "$T/gw.log")"
c=$(post "$T/s16")
[ "$c" = 503 ] && ok "after a restart the share still counts (503)" || bad "share after restart" "$c $(head -c 150 "$T/body")"
id=$($BIN queue ls -c "$T/gw2.conf" | cut -f1 | sort -n | head -1) # the first ones are the HTTP peer's
$BIN queue rm "$id" -c "$T/gw2.conf" > /dev/null
c=$(post "$T/s17")
[ "$c" = 202 ] && ok "queue rm of one of its items (another process): room for one more (202)" || bad "share after queue rm" "item '$id'; $c $(head -c 150 "$T/body")"
stop_gw
[ "$GRC" -eq 0 ] && ok "SIGTERM: exit 0 (shares)" || bad "SIGTERM (shares)" "exit $GRC"

# one authenticated sender over two origins: alice's forwards are authcrypted to the gateway,
# 7 over HTTP and 5 over WebSocket; her share (10) holds across both
rm -rf "$T/gw"
identity "$T/gw2.conf"
$TOOL did new --method peer2 --secrets "$T/alice.json" > "$T/alice"
for i in $(seq 1 12); do
	fwd_to_gw "$(cat "$T/bob")" "a$i" "$T/a$i.anon" # for its forward JSON ($T/a$i.fwd.json), from alice
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["from"]=sys.argv[2]; json.dump(d,open(sys.argv[1],"w"))' \
		"$T/a$i.fwd.json" "$(cat "$T/alice")"
	$TOOL pack --mode authcrypt --from "$(cat "$T/alice")" --secrets "$T/alice.json" --to "$GW" --no-forward \
		"$T/a$i.fwd.json" > "$T/a$i"
done
start_gw "$T/gw2.conf" && ok "gateway up (sender share)" || bad "gateway up (sender share)" "$(tail -3 "$T/gw.log")"
: > "$T/codes3"
for i in $(seq 1 7); do echo "$(post "$T/a$i") $(head -c 150 "$T/body")" >> "$T/codes3"; done
for i in $(seq 8 12); do $HX ws "$GPORT" "" "$T/a$i" > /dev/null; done
wait_until 30 eval '[ "$(live)" -ge 10 ]'
echo "# HTTP answers: $(cut -d' ' -f1 "$T/codes3" | sort | uniq -c | tr '\n' ' '); queued $(live)"
[ "$(grep -c '^202' "$T/codes3")" -eq 7 ] && [ "$(live)" -eq 10 ] &&
	ok "one sender over two origins: 10 taken (its share), 2 refused" || bad "one sender's share" "queued $(live); $(cut -c1-60 "$T/codes3" | sort | uniq -c | tr '\n' ';')"
grep -q "queue share used up: its sender" "$T/gw.log" && ok "the refusal names the sender's share (log)" ||
	bad "sender share logged" "$(grep -m2 'share' "$T/gw.log")"
stop_gw
[ "$GRC" -eq 0 ] && ok "SIGTERM: exit 0 (sender share)" || bad "SIGTERM (sender share)" "exit $GRC"
summary hostile-queue-filling
