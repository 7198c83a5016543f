#!/usr/bin/env bash
# did:web over libcurl against a real HTTP server on 127.0.0.1 (http is allowed only for
# loopback and only with DIDCOMM_WEB_HTTP_LOOPBACK=1), then pack/unpack to that DID.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/common.inc

PORT=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1]);s.close()')
WEB="$T/www"
mkdir -p "$WEB/.well-known" "$WEB/users/bob"
DID="did:web:127.0.0.1%3A$PORT"
BOBDID="did:web:127.0.0.1%3A$PORT:users:bob"
# bob's keys come from a did:key we create; its document is re-published under did:web ids
$BIN did new --method key --secrets "$T/k.json" > "$T/keydid"
KEYDID=$(cat "$T/keydid")
$BIN did resolve "$KEYDID" > "$T/keydoc"
python3 - "$T/keydoc" "$T/k.json" "$KEYDID" "$BOBDID" "$WEB/users/bob/did.json" "$T/bob-secrets.json" "$DID" "$WEB/.well-known/did.json" <<'PY'
import json, sys
doc, secrets, old, new, out, sout, root, rout = sys.argv[1:9]
text = open(doc).read().replace(old, new)
json.dump(json.loads(text), open(out, "w"))
s = json.loads(open(secrets).read().replace(old, new))
json.dump(s, open(sout, "w"))
d = json.loads(text); d["id"] = root
d = json.loads(json.dumps(d).replace(new, root))
json.dump(d, open(rout, "w"))
PY
chmod 600 "$T/bob-secrets.json"
/usr/bin/python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$WEB" >"$T/http.log" 2>&1 &
HPID=$!
trap 'kill "$HPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
wait_port "$PORT" "$HPID" || bad "test server up"

refuse "did:web over http refused without the loopback switch" "resolv|fetch|http" $BIN did resolve "$DID"
export DIDCOMM_WEB_HTTP_LOOPBACK=1
check "did:web root document" $BIN did resolve "$DID"
check "did:web path document" $BIN did resolve "$BOBDID"
refuse "did:web missing document" "resolv|fetch|404|not found" $BIN did resolve "did:web:127.0.0.1%3A$PORT:nobody"
cat > "$T/m.json" <<JSON
{"id":"w1","type":"https://didcomm.org/basicmessage/2.0/message","to":["$BOBDID"],"body":{"content":"web"}}
JSON
check "pack anoncrypt to a did:web" sh -c "$BIN pack --mode anoncrypt --to '$BOBDID' '$T/m.json' > '$T/p'"
check "unpack as the did:web owner" $BIN unpack --secrets "$T/bob-secrets.json" "$T/p"
kill "$HPID" 2>/dev/null; wait "$HPID" 2>/dev/null
summary cli-didweb
