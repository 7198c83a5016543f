#!/usr/bin/env bash
# Regenerates the seed corpora under tests/fuzz/corpus/ from the test vectors and from
# messages and DIDs made by our own CLI (build first). The committed corpus came from this.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-build/release/didcomm-gateway}
C=tests/fuzz/corpus
V=tests/vectors
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
rm -rf "$C"; mkdir -p $C/{unpack,jwk,diddoc,did_peer,msg,b64url,rules}
cp conf/rules.conf $C/rules/example.rules; cp tests/rules/*.rules $C/rules/
python3 - "$C" "$V" <<'PY'
import json, glob, os, sys
C, V = sys.argv[1:3]
def w(d, name, data):
    open(os.path.join(C, d, name), "wb").write(data if isinstance(data, bytes) else data.encode())
for f in sorted(glob.glob(V + "/messages/*.json")):
    v = json.load(open(f)); n = os.path.basename(f)[:-5]
    for key in ("packed", "bad"):
        if key in v:
            s = json.dumps(v[key], separators=(",", ":"))
            w("unpack", n + ".json", s)
            w("unpack", n + ".trunc", s[: len(s) // 2])
    if "raw" in v:
        w("unpack", n + ".raw", v["raw"]); w("msg", n + ".json", v["raw"])
    if "plaintext" in v and isinstance(v["plaintext"], dict):
        w("msg", n + ".plain", json.dumps(v["plaintext"]))
    if "jwt" in v:
        w("b64url", n + ".hdr", v["jwt"].split(".")[0])
for f in sorted(glob.glob(V + "/keys/*.json")):
    d = json.load(open(f)); n = os.path.basename(f)[:-5]
    if isinstance(d, list):
        for i, k in enumerate(d):
            k = dict(k); k.pop("kid ", None)
            w("jwk", "%s-%d.json" % (n, i), json.dumps(k))
            pub = {a: b for a, b in k.items() if a != "d"}
            w("jwk", "%s-%d.pub" % (n, i), json.dumps(pub))
            bad = dict(pub); bad["x"] = bad["x"][:-2] + "AA"
            w("jwk", "%s-%d.bad" % (n, i), json.dumps(bad))
    elif isinstance(d, dict):
        w("diddoc", n + ".json", json.dumps(d))
        d2 = dict(d); d2["service"] = [{"id": "#s", "type": "DIDCommMessaging", "serviceEndpoint": "http://x/"}]
        w("diddoc", n + ".svc", json.dumps(d2))
w("unpack", "deep.json", "[" * 5000)
w("unpack", "dup.json", '{"protected":"e30","protected":"e30"}')
w("msg", "empty-attachments.json", '{"id":"1","type":"t","body":{},"attachments":[]}')
for s in ["", "Zg", "Zm8", "Zm9v", "-_8", "Zg==", "Zh"]:
    w("b64url", "s%d" % len(os.listdir(os.path.join(C, "b64url"))), s)
PY
for f in alice bob; do install -m 600 $V/keys/$f-secrets.json "$T/$f.json"; done
python3 -c 'import json,sys; print(json.dumps([json.load(open(f)) for f in sys.argv[1:]]))' \
	$V/keys/alice-did-doc.json $V/keys/bob-did-doc.json > "$T/docs.json"
M='{"id":"c1","type":"https://example.org/t/1.0/x","from":"did:example:alice","to":["did:example:bob"],"body":{"a":[1,2,{"b":null}]},"attachments":[{"id":"x","data":{"json":{"k":"v"}}}]}'
echo "$M" > "$T/m.json"
i=0
for args in "--mode plaintext" "--mode signed --sign-from did:example:alice#key-1" "--mode signed --sign-from did:example:alice#key-2" \
	"--mode anoncrypt --curve X25519" "--mode anoncrypt --curve P-256 --enc A256GCM" "--mode anoncrypt --curve P-521 --enc A256CBC-HS512" \
	"--mode authcrypt" "--mode authcrypt --curve P-256 --sign-from did:example:alice#key-1" "--mode authcrypt --protect-sender"; do
	$BIN pack $args --to did:example:bob --did-docs "$T/docs.json" --secrets "$T/alice.json" "$T/m.json" > $C/unpack/ours-$i.json
	i=$((i + 1))
done
for m in peer2 peer4 peer0 key; do
	$BIN did new --method $m ${m/peer[24]/--endpoint http://127.0.0.1:8080/} --secrets "$T/s-$m.json" 2>/dev/null > $C/did_peer/$m.txt ||
		$BIN did new --method $m --secrets "$T/s-$m.json" > $C/did_peer/$m.txt
	tr -d '\n' < $C/did_peer/$m.txt > $C/did_peer/$m; rm $C/did_peer/$m.txt
	$BIN did resolve "$(cat $C/did_peer/$m)" > $C/diddoc/$m.json
done
printf 'did:peer:2.Ez6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc.Vz6MkqRYqQiSgvZQdnBytw86Qbs2ZWUkGv22od935YF4s8M7V.SeyJ0IjoiZG0iLCJzIjoiaHR0cHM6Ly9leGFtcGxlLmNvbS9lbmRwb2ludCIsInIiOlsiZGlkOmV4YW1wbGU6c29tZW1lZGlhdG9yI3NvbWVrZXkiXSwiYSI6WyJkaWRjb21tL3YyIiwiZGlkY29tbS9haXAyO2Vudj1yZmM1ODciXX0' > $C/did_peer/spec-old-service
printf 'did:peer:2.Ez6LS.V' > $C/did_peer/bad
echo "corpus: $(find $C -type f | wc -l) files"
