#!/usr/bin/env bash
# The command line end to end: did new/resolve, pack/unpack in every mode, forwards through
# a mediator, the spec vectors, and refusals (one line on stderr, nothing on stdout, no crash).
set -u
cd "$(dirname "$0")/../.."
. tests/cli/common.inc
V=tests/vectors
# secrets must be 0600 (the keystore refuses others, like ssh); git checks files out 0644
for f in alice bob; do install -m 600 $V/keys/$f-secrets.json "$T/v-$f-secrets.json"; done

# --- identities ---
check "did new peer2 (alice)" $BIN did new --method peer2 --secrets "$T/alice.json"
ALICE=$(cat "$T/out")
check "did new peer2 (mediator)" $BIN did new --method peer2 --endpoint http://127.0.0.1:9/m --secrets "$T/med.json"
MED=$(cat "$T/out")
$BIN did resolve "$MED" > "$T/med.doc"
MEDKEY=$(json "$T/med.doc" 'd["keyAgreement"][0] if isinstance(d["keyAgreement"][0], str) else d["keyAgreement"][0]["id"]')
case "$MEDKEY" in \#*) MEDKEY="$MED$MEDKEY";; esac
check "did new peer2 (bob, routed)" $BIN did new --method peer2 --endpoint http://127.0.0.1:9/m --routing-key "$MEDKEY" --secrets "$T/bob.json"
BOB=$(cat "$T/out")
check "did new key" $BIN did new --method key --secrets "$T/k.json"
KEYDID=$(cat "$T/out")
check "did resolve did:key" $BIN did resolve "$KEYDID"
check "did resolve peer2 has a DIDCommMessaging service" \
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert any(s["type"]=="DIDCommMessaging" for s in d["service"])' "$T/med.doc"
mode=$(stat -c %a "$T/alice.json")
[ "$mode" = 600 ] && ok "secrets file is 0600" || bad "secrets file is 0600" "mode $mode"

cat > "$T/msg.json" <<JSON
{"id":"cli-1","type":"https://didcomm.org/basicmessage/2.0/message","from":"$ALICE","to":["$BOB"],
 "created_time":1700000000,"body":{"content":"hi \u00e9","n":12345678901234567890}}
JSON
S="--secrets $T/alice.json --secrets $T/bob.json --secrets $T/med.json"

# --- every mode through the CLI, opened as bob (with the mediator's secrets the forward opens too) ---
for mode in plaintext signed anoncrypt authcrypt; do
	for enc in "" A256GCM XC20P A256CBC-HS512; do
		[ "$mode" = authcrypt ] && [ -n "$enc" ] && [ "$enc" != A256CBC-HS512 ] && continue
		{ [ "$mode" = plaintext ] || [ "$mode" = signed ]; } && [ -n "$enc" ] && continue
		name="pack $mode ${enc:-default}"
		if $BIN pack --mode $mode --to "$BOB" ${enc:+--enc $enc} --secrets "$T/alice.json" "$T/msg.json" >"$T/p" 2>"$T/err" &&
		   $BIN unpack $S --meta "$T/p" >"$T/u" 2>>"$T/err" &&
		   python3 - "$T/u" "$T/msg.json" "$mode" <<'PY'
import json, sys
u = json.load(open(sys.argv[1])); m = json.load(open(sys.argv[2])); mode = sys.argv[3]
assert u["message"] == m, u["message"]
md = u["metadata"]
assert md["encrypted"] == (mode in ("anoncrypt", "authcrypt")), md
assert md["authenticated"] == (mode in ("authcrypt", "signed")), md
assert md["non_repudiation"] == (mode == "signed"), md
assert md["re_wrapped_in_forward"] == (mode in ("anoncrypt", "authcrypt")), md
PY
		then ok "$name"; else bad "$name" "$(head -c 300 "$T/err")"; fi
	done
done
# big numbers and member order survive byte for byte
$BIN pack --mode authcrypt --to "$BOB" --secrets "$T/alice.json" "$T/msg.json" > "$T/p"
$BIN unpack $S "$T/p" > "$T/u"
tr -d '\n' < "$T/msg.json" > "$T/msg1"; tr -d '\n' < "$T/u" > "$T/u1"
cmp -s "$T/msg1" "$T/u1" && ok "plaintext comes back byte for byte" || bad "plaintext comes back byte for byte"
# stdin
check "pack from stdin" sh -c "$BIN pack --mode anoncrypt --to '$BOB' --no-forward - < '$T/msg.json' > '$T/p2'"
check "unpack from stdin" sh -c "$BIN unpack --secrets '$T/bob.json' - < '$T/p2'"

# --- the mediator's view: the forward, with next = bob ---
$BIN pack --mode authcrypt --to "$BOB" --secrets "$T/alice.json" "$T/msg.json" > "$T/f"
check "mediator opens its forward" $BIN unpack --secrets "$T/med.json" --meta "$T/f"
cp "$T/out" "$T/fwd"
if python3 - "$T/fwd" "$BOB" "$T/inner" <<'PY'
import json, sys
u = json.load(open(sys.argv[1])); m = u["message"]
assert m["type"] == "https://didcomm.org/routing/2.0/forward", m
assert m["body"]["next"] == sys.argv[2], m["body"]
assert u["metadata"]["anonymous_sender"] and u["metadata"]["encrypted"]
json.dump(m["attachments"][0]["data"]["json"], open(sys.argv[3], "w"))
PY
then ok "forward names bob as next"; else bad "forward names bob as next"; fi
check "bob opens what the mediator passes on" $BIN unpack --secrets "$T/bob.json" "$T/inner"
refuse "bob alone cannot open the mediator's layer" "no secret for any recipient kid" $BIN unpack --secrets "$T/bob.json" "$T/f"

# --- spec vectors through the CLI ---
python3 -c 'import json,sys; print(json.dumps([json.load(open(f)) for f in sys.argv[1:]]))' \
	$V/keys/alice-did-doc.json $V/keys/bob-did-doc.json > "$T/docs.json"
for f in $V/messages/c2-*.json $V/messages/c3-*.json; do
	n=$(basename "$f" .json)
	json "$f" 'json.dumps(d["packed"])' > "$T/v"
	json "$f" 'json.dumps(d["expected_plaintext"], sort_keys=True)' > "$T/want"
	if $BIN unpack --did-docs "$T/docs.json" --secrets "$T/v-bob-secrets.json" "$T/v" > "$T/got" 2>"$T/err" &&
	   [ "$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])), sort_keys=True))' "$T/got")" = "$(cat "$T/want")" ]
	then ok "vector $n"; else bad "vector $n" "$(head -c 300 "$T/err")"; fi
done

# --- refusals ---
json $V/messages/c3-anoncrypt-x25519-xc20p.json 'json.dumps(d["packed"])' > "$T/v"
refuse "wrong secrets" "no secret for any recipient kid: did:example:bob#key-x25519-1" \
	$BIN unpack --did-docs "$T/docs.json" --secrets "$T/v-alice-secrets.json" "$T/v"
head -c 300 "$T/v" > "$T/trunc"
refuse "truncated file" "json" $BIN unpack --did-docs "$T/docs.json" --secrets "$T/v-bob-secrets.json" "$T/trunc"
: > "$T/empty"
refuse "empty file" "empty" $BIN unpack "$T/empty"
refuse "missing file" "No such file" $BIN unpack "$T/nope"
refuse "unknown DID method" "unsupported|method" $BIN pack --mode anoncrypt --to did:nope:x --no-forward "$T/msg.json"
refuse "authcrypt with A256GCM" "A256CBC-HS512" $BIN pack --mode authcrypt --enc A256GCM --to "$BOB" --secrets "$T/alice.json" "$T/msg.json"
refuse "authcrypt without the sender's secret" "no secret" $BIN pack --mode authcrypt --to "$BOB" "$T/msg.json"
printf '%*s' 200000 '' | tr ' ' '[' > "$T/deep"
refuse "deeply nested JSON" "nested deeper" $BIN unpack "$T/deep"
head -c 34000000 /dev/zero | tr '\0' ' ' > "$T/huge"
refuse "34 MB input" "too big|over the limit" $BIN unpack "$T/huge"
printf '{"id":"x","type":"t","body":{},"body":{}}' > "$T/dup"
refuse "duplicate members" "duplicate" $BIN unpack "$T/dup"
chmod 600 "$T/dup"
refuse "bad keystore" "duplicate" $BIN unpack --secrets "$T/dup" "$T/msg.json"
install -m 644 "$T/alice.json" "$T/open.json"
refuse "keystore readable by others" "mode 644" $BIN unpack --secrets "$T/open.json" "$T/msg.json"

# --- a 10 MB message: peak memory stays under 5x its size (release build: ASan inflates RSS) ---
REL=${REL_BIN:-build/release/didcomm-gateway}
python3 - "$T/big.json" "$ALICE" "$BOB" <<'PY'
import json, sys
json.dump({"id": "big", "type": "t/1.0/x", "from": sys.argv[2], "to": [sys.argv[3]],
           "body": {"data": "a" * (10 * 1024 * 1024)}}, open(sys.argv[1], "w"))
PY
size=$(stat -c %s "$T/big.json")
peak() { python3 -c '
import resource, subprocess, sys
with open(sys.argv[1], "rb") as i, open(sys.argv[2], "wb") as o:
    rc = subprocess.call(sys.argv[3:], stdin=i, stdout=o)
print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)' "$@"; }
read rc mem < <(peak "$T/big.json" "$T/big.p" $REL pack --mode authcrypt --no-forward --to "$BOB" --secrets "$T/alice.json" -)
[ "$rc" = 0 ] && [ "$mem" -lt $((5 * size)) ] && ok "10 MB pack: peak $((mem / 1048576)) MiB < 5x" || bad "10 MB pack" "rc $rc peak $mem for $size"
read rc mem < <(peak "$T/big.p" "$T/big.u" $REL unpack $S -)
[ "$rc" = 0 ] && [ "$mem" -lt $((5 * size)) ] && ok "10 MB unpack: peak $((mem / 1048576)) MiB < 5x" || bad "10 MB unpack" "rc $rc peak $mem for $size"
cmp -s <(tr -d '\n' < "$T/big.u") "$T/big.json" && ok "10 MB round trip" || bad "10 MB round trip"

summary cli-basic
