#!/usr/bin/env bash
# The admin listener ([admin]) on 127.0.0.1: /healthz, /readyz, /metrics parsed by Prometheus's
# own parser (python3-prometheus-client) with the counters moving as messages are relayed,
# delivered and dead-lettered; the status page in headless Chromium (a screenshot that is not
# empty, the DOM it rendered shows the identity, adapters, queue and the dead letter) and no
# script or asset from elsewhere in it; a bearer token (required off loopback); hostile
# requests (huge, slow, garbage) answered or cut within bounds; an unwritable queue: /readyz
# 503 with the reason; systemd's READY=1 and WATCHDOG=1; adapters' connections (a mosquitto,
# dovecot and the SMTP server stopped and started again, a watched folder moved away) in the
# gauges and on the page. Loopback only; stopped by PID.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/common.inc
BIN=${BIN:-build/release/didcomm-gateway}
PY=/usr/bin/python3
TOOL="$PY tests/cli/admintool.py"
RPORT=$(free_port); GPORT=$(free_port); APORT=$(free_port); DEADPORT=$(free_port)
mkdir -p "$T/rx"
python3 tests/cli/receiver.py "$RPORT" "$T/rx" & RPID=$!
GPID="" NPID=""
stop_all() {
	[ -n "$GPID" ] && kill "$GPID" 2>/dev/null
	[ -n "$NPID" ] && kill "$NPID" 2>/dev/null
	[ -n "${MPID:-}" ] && kill "$MPID" 2>/dev/null
	declare -F mail_down > /dev/null && mail_down
	kill "$RPID" 2>/dev/null
	wait 2>/dev/null
	chattr -i "$T/gw/queue.db" 2>/dev/null
	rm -rf "$T"
}
trap stop_all EXIT
wait_port "$RPORT" "$RPID"
if ! $PY -c 'import prometheus_client' 2>/dev/null; then
	echo "FAIL python3-prometheus-client is not installed (make deps)"; FAIL=1; summary integration-admin; exit 1
fi

conf() { # conf ADMIN_LINES...
	printf 'state_dir %s/gw\nrules %s/rules.conf\n[queue]\nretry_base 200ms\n[http]\nlisten 127.0.0.1:%s\n' \
		"$T" "$T" "$GPORT"
	printf '[outbound]\nallow 127.0.0.0/8\n[admin]\n'
	printf '%s\n' "$@"
}
A="http://127.0.0.1:$APORT"
start_gw() { # start_gw [env...]: the gateway on $T/gw.conf, up when its admin port answers
	env "$@" $BIN run -c "$T/gw.conf" 2>>"$T/gw.log" & GPID=$!
	wait_port "$APORT" "$GPID" && wait_port "$GPORT" "$GPID"
}
stop_gw() { kill -TERM "$GPID" 2>/dev/null; wait "$GPID"; local rc=$?; GPID=""; return $rc; }
code() { curl -s -o "$T/body" -w '%{http_code}' "$@"; }
scrape() { $TOOL metrics "$A/metrics" ${TOKEN:+"$TOKEN"} > "$T/m" 2>"$T/m.err"; }
val() { $TOOL value "$T/m" "$@"; }
# refused NAME PATTERN CMD...: fails (not a crash) and says PATTERN on stderr
refused() {
	local n=$1 pat=$2; shift 2
	"$@" > "$T/out" 2> "$T/err"; local rc=$?
	[ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q -- "$pat" "$T/err" && ok "$n" || bad "$n" "exit $rc $(head -c 300 "$T/err")"
}
# metric_at_least N NAME LABELS...: a fresh scrape shows it at N or more
metric_at_least() { local n=$1; shift; scrape && [ "$(val "$@")" -ge "$n" ]; }

printf 'default -> hold 1h\n' > "$T/rules.conf"
conf "listen 127.0.0.1:$APORT" > "$T/gw.conf"
GW=$($BIN identity -c "$T/gw.conf" 2>/dev/null | head -1) # the identity first: the rules name DIDs that route through it
GWKEY=$($BIN did resolve "$GW" | python3 -c 'import json,sys; print(json.load(sys.stdin)["keyAgreement"][0])')
BOB=$($BIN did new --method peer2 --endpoint "http://127.0.0.1:$GPORT/" --routing-key "$GWKEY" --secrets "$T/bob.json")
CAROL=$($BIN did new --method peer2 --endpoint "http://127.0.0.1:$GPORT/" --routing-key "$GWKEY" --secrets "$T/carol.json")
DAVE=$($BIN did new --method peer2 --endpoint "http://127.0.0.1:$GPORT/" --routing-key "$GWKEY" --secrets "$T/dave.json")
printf 'to %s -> http http://127.0.0.1:%s/gone\nto %s -> http http://127.0.0.1:%s/dead\nto did:peer:2.* -> http http://127.0.0.1:%s/inbox\ndefault -> hold 1h\n' \
	"$CAROL" "$RPORT" "$DAVE" "$DEADPORT" "$RPORT" > "$T/rules.conf"
conf "listen 127.0.0.1:$APORT" > "$T/gw.conf"

# systemd's side: a notify socket that records what the gateway says
$PY tests/cli/admintool.py notify "$T/notify.sock" "$T/notify" & NPID=$!
wait_until 20 test -S "$T/notify.sock"
start_gw NOTIFY_SOCKET="$T/notify.sock" WATCHDOG_USEC=400000 && ok "gateway and admin listener up" ||
	bad "gateway up" "$(tail -3 "$T/gw.log")"
grep -q "admin: listening on 127.0.0.1:$APORT" "$T/gw.log" && ok "the log names the admin address" || bad "admin log line"
wait_until 30 grep -q "READY=1" "$T/notify" && ok "sd_notify READY=1 (with STATUS=)" || bad "READY=1" "$(cat "$T/notify")"
wait_until 30 grep -q "WATCHDOG=1" "$T/notify" && ok "sd_notify WATCHDOG=1 when WATCHDOG_USEC is set" ||
	bad "WATCHDOG=1" "$(cat "$T/notify")"
kill "$NPID" 2>/dev/null; wait "$NPID" 2>/dev/null; NPID=""

# 1. health and readiness
printf 'state_dir %s/gw2\n[http]\nlisten 127.0.0.1:0\n[admin]\nlisten 127.0.0.1:%s\n' "$T" "$APORT" > "$T/gw2.conf"
refused "the admin port in use: start-up stops" "cannot listen on 127.0.0.1:$APORT" $BIN run -c "$T/gw2.conf"
[ "$(code "$A/healthz")" = 200 ] && grep -qx ok "$T/body" && ok "/healthz: 200 ok" || bad "/healthz" "$(cat "$T/body")"
[ "$(code "$A/readyz")" = 200 ] && grep -qx ready "$T/body" && ok "/readyz: 200 ready" || bad "/readyz" "$(cat "$T/body")"

# 2. /metrics through Prometheus's parser, and the counters moving
scrape && ok "/metrics parses (text format 0.0.4, HELP and TYPE on every family)" || bad "/metrics parse" "$(cat "$T/m.err")"
curl -s -D "$T/h" -o /dev/null "$A/metrics"
grep -qi '^content-type: text/plain; version=0.0.4' "$T/h" && ok "/metrics content type 0.0.4" || bad "content type" "$(cat "$T/h")"
grep -q 'didcomm_gateway_build_info{didcomm="v2",version="' "$T/m" && ok "build info" || bad "build info"
for s in due waiting leased held dead; do grep -q "didcomm_gateway_queue_items{state=\"$s\"}" "$T/m" || bad "queue state $s"; done
ok "queue depth by state (due, waiting, leased, held, dead)"
N=5
for i in $(seq 1 $N); do
	printf '{"id":"a%s","type":"https://didcomm.org/basicmessage/2.0/message","to":["%s"],"body":{}}' "$i" "$BOB" > "$T/m$i.json"
	$BIN pack --mode anoncrypt --to "$BOB" "$T/m$i.json" > "$T/f$i"
	code -H 'Content-Type: application/didcomm-encrypted+json' --data-binary @"$T/f$i" "http://127.0.0.1:$GPORT/" > /dev/null
done
wait_until 60 eval '[ "$(ls "$T/rx"/msg-*.json 2>/dev/null | wc -l)" -ge $N ]' && ok "$N relayed" || bad "relayed"
wait_until 30 metric_at_least $N didcomm_gateway_deliveries_total adapter=http result=sent &&
	ok "deliveries_total{http,sent} moved to $N" || bad "deliveries sent" "$(grep deliveries_total "$T/m" | head -5)"
[ "$(val didcomm_gateway_messages_in_total transport=http outcome=accepted)" -ge $N ] &&
	ok "messages_in_total{http,accepted} moved to $N" || bad "messages in" "$(grep messages_in "$T/m" | head -3)"
[ "$(val didcomm_gateway_delivery_latency_seconds_count)" -ge $N ] && [ "$(val didcomm_gateway_ingest_latency_seconds_count)" -ge $N ] &&
	[ "$(val didcomm_gateway_envelope_bytes_count)" -ge $N ] && ok "latency and size histograms counted" ||
	bad "histograms" "$(grep _count "$T/m")"
[ "$(val didcomm_gateway_envelope_bytes_bucket le=+Inf)" -ge $N ] && ok "histogram buckets" || bad "buckets"
# an envelope that does not open: unpack failure by reason
code -H 'Content-Type: application/didcomm-encrypted+json' --data-binary '{"protected":"e30","recipients":[],"iv":"","ciphertext":"","tag":""}' \
	"http://127.0.0.1:$GPORT/" > /dev/null
scrape; fails=$(grep '^didcomm_gateway_unpack_failures_total' "$T/m" | awk '{s+=$2} END {print s+0}')
[ "${fails%.*}" -ge 1 ] && ok "unpack_failures_total by reason moved" || bad "unpack failures" "$(grep unpack "$T/m")"
# a delivery that fails for good: a dead letter, with its reason on the status page
printf '{"id":"lost-1","type":"https://didcomm.org/basicmessage/2.0/message","to":["%s"],"body":{}}' "$CAROL" > "$T/c.json"
$BIN pack --mode anoncrypt --to "$CAROL" "$T/c.json" > "$T/fc"
code -H 'Content-Type: application/didcomm-encrypted+json' --data-binary @"$T/fc" "http://127.0.0.1:$GPORT/" > /dev/null
wait_until 30 metric_at_least 1 didcomm_gateway_queue_items state=dead && ok "queue_items{dead} = 1 after a 404" ||
	bad "dead" "$(grep queue_items "$T/m")"
[ "$(val didcomm_gateway_deliveries_total adapter=http result=failed)" -ge 1 ] && ok "deliveries_total{http,failed}" || bad "failed"

# log volume: one info line per message outcome (accepted, delivered); failed attempts to one
# destination (a dead port) summed up, one line a minute, however many messages wait for it
grep -c "accepted from 127.0.0.1: queued" "$T/gw.log" > "$T/n"; [ "$(cat "$T/n")" -ge $N ] &&
	[ "$(grep -c "delivered to http http://127.0.0.1:$RPORT/inbox" "$T/gw.log")" -ge $N ] &&
	ok "one info line per message accepted and per delivery" || bad "outcome lines" "$(grep -c accepted "$T/gw.log")"
for i in $(seq 1 10); do
	printf '{"id":"d%s","type":"https://didcomm.org/basicmessage/2.0/message","to":["%s"],"body":{}}' "$i" "$DAVE" > "$T/d$i.json"
	$BIN pack --mode anoncrypt --to "$DAVE" "$T/d$i.json" > "$T/fd$i"
	code -H 'Content-Type: application/didcomm-encrypted+json' --data-binary @"$T/fd$i" "http://127.0.0.1:$GPORT/" > /dev/null
done
wait_until 60 metric_at_least 30 didcomm_gateway_deliveries_total adapter=http result=retry &&
	ok "30 failed attempts to a dead port ($(val didcomm_gateway_deliveries_total adapter=http result=retry) counted)" ||
	bad "retries" "$(grep 'result="retry"' "$T/m")"
n=$(grep -v ' debug ' "$T/gw.log" | grep -c "127.0.0.1:$DEADPORT")
[ "$n" -le 2 ] && ok "those failures in the log: $n line(s), summed up per destination" || bad "log volume" "$n lines: $(grep "$DEADPORT" "$T/gw.log" | tail -3)"
# a message that expires while its endpoint is dead: the store dead-letters it (at a retry or a
# claim, not through the dispatcher), and that outcome is one line too
printf '{"id":"x1","type":"https://didcomm.org/basicmessage/2.0/message","to":["%s"],"expires_time":%s,"body":{}}' \
	"$DAVE" $(($(date +%s) + 3)) > "$T/x1.json"
$BIN pack --mode anoncrypt --to "$DAVE" "$T/x1.json" > "$T/fx1"
code -H 'Content-Type: application/didcomm-encrypted+json' --data-binary @"$T/fx1" "http://127.0.0.1:$GPORT/" > /dev/null
wait_until 60 grep -q "to http http://127.0.0.1:$DEADPORT/dead: expired.*(dead letter)" "$T/gw.log" &&
	[ "$(grep -c "127.0.0.1:$DEADPORT/dead: .*(dead letter)" "$T/gw.log")" -eq 1 ] &&
	ok "an expiry while retrying: one dead-letter line ($(grep -o "expired[^(]*(dead letter)" "$T/gw.log" | head -1))" ||
	bad "expiry line" "$(grep "dead letter" "$T/gw.log" | tail -3)"

# 3. the status page: plain HTML + CSS, nothing from elsewhere, in a real browser
[ "$(code "$A/")" = 200 ] && ok "GET /: 200" || bad "GET /"
cp "$T/body" "$T/page.html"
grep -q "$GW" "$T/page.html" && grep -q 'id="adapters"' "$T/page.html" && grep -q 'id="queue"' "$T/page.html" &&
	grep -q "$T/rules.conf" "$T/page.html" && grep -q "id=\"dead\"" "$T/page.html" && grep -q "404" "$T/page.html" &&
	ok "the page names the DID, adapters, queue, rules file and the dead letter with its reason" ||
	bad "page content" "$(grep -o "<table id=.dead.*" "$T/page.html" | head -c 600)"
grep -q 'http-equiv="refresh"' "$T/page.html" && ok "the page refreshes itself" || bad "refresh"
oob_ok() { python3 - "$T/page.html" "$GW" <<'PY'
import base64, json, re, sys
page, gw = open(sys.argv[1]).read(), sys.argv[2]
url = re.search(r'<code id="invitation">([^<]*)</code>', page).group(1)
b = url.split("?_oob=", 1)[1]
inv = json.loads(base64.urlsafe_b64decode(b + "=" * (-len(b) % 4)))
assert inv["type"] == "https://didcomm.org/out-of-band/2.0/invitation" and inv["from"] == gw, inv
assert inv["body"]["goal_code"] == "request-mediate", inv
assert re.search(r'<svg id="qr"[^>]*>.*<path fill="#000" d="M[0-9]', page)
PY
}
oob_ok > "$T/oob" 2>&1 && ok "the page shows the out-of-band invitation (from the gateway's DID, request-mediate) and its QR code as inline SVG" ||
	bad "invitation on the page" "$(tail -2 "$T/oob")"
if grep -Eiq '<script|javascript:|\bon[a-z]+=|<link|<img|<iframe|<object|<embed|@import|url\(|(src|href)=' "$T/page.html"; then
	bad "no script or external asset" "$(grep -Eio '<script|javascript:|\bon[a-z]+=|<link|<img|<iframe|@import|url\(|(src|href)=[^ >]*' "$T/page.html" | head -3)"
else
	ok "no script, no external asset (no src/href/link/import/url)"
fi
curl -s -D "$T/h" -o /dev/null "$A/"
grep -qi "^content-security-policy: default-src 'none'" "$T/h" && ok "CSP forbids scripts and remote assets" || bad "CSP"
CHROME=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$CHROME" ]; then
	bad "chromium is not installed (make deps)"
else
	chrome() { timeout 60 "$CHROME" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$T/chrome" "$@" 2>>"$T/chrome.log"; }
	chrome --window-size=1280,900 --screenshot="$T/status.png" "$A/" > /dev/null
	if [ -s "$T/status.png" ] && $TOOL png "$T/status.png" > "$T/png" 2>&1; then
		ok "status page screenshot in headless Chromium ($(cat "$T/png"))"
	else
		bad "screenshot" "$(cat "$T/png" 2>/dev/null) $(tail -3 "$T/chrome.log")"
	fi
	chrome --dump-dom "$A/" > "$T/dom.html"
	grep -q "$GW" "$T/dom.html" && grep -q 'id="adapters"' "$T/dom.html" && grep -q '<td>http</td>' "$T/dom.html" &&
		grep -q 'id="queue"' "$T/dom.html" && ok "Chromium's DOM shows the identity, the http adapter and the queue" ||
		bad "DOM" "$(head -c 300 "$T/dom.html")"
fi

# 4. hostile requests: bounded, answered or cut, the listener keeps serving
head -c 100000 /dev/zero | tr '\0' 'a' | sed 's/^/GET \//' > "$T/huge"
r=$($TOOL raw "$APORT" "$T/huge"); [ "${r% *}" = 431 ] && ok "a 100 kB request head: 431" || bad "huge" "$r"
printf 'GET /%s HTTP/1.1\r\n\r\n' "$(head -c 6000 /dev/zero | tr '\0' 'x')" > "$T/longpath"
r=$($TOOL raw "$APORT" "$T/longpath"); [ "${r% *}" = 404 ] && ok "a long path: 404" || bad "long path" "$r"
head -c 3000 /dev/urandom > "$T/garbage"; printf '\r\n\r\n' >> "$T/garbage"
r=$($TOOL raw "$APORT" "$T/garbage"); case ${r% *} in 400|431|closed) ok "random bytes: ${r% *}" ;; *) bad "garbage" "$r" ;; esac
printf 'GET / HTTP/1.1\0\r\nHost: x\r\n\r\n' > "$T/nul"
r=$($TOOL raw "$APORT" "$T/nul"); [ "${r% *}" = 400 ] && ok "a NUL in the request line: 400" || bad "NUL" "$r"
printf 'POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc' > "$T/post"
r=$($TOOL raw "$APORT" "$T/post"); [ "${r% *}" = 405 ] && ok "POST: 405" || bad "POST" "$r"
printf 'GET /\r\n\r\n' > "$T/h09"
r=$($TOOL raw "$APORT" "$T/h09"); [ "${r% *}" = 400 ] && ok "HTTP/0.9: 400" || bad "0.9" "$r"
printf 'GET /../../etc/passwd HTTP/1.1\r\n\r\n' > "$T/trav"
r=$($TOOL raw "$APORT" "$T/trav"); [ "${r% *}" = 404 ] && ok "/../..: 404" || bad "traversal" "$r"
# slow: 20 connections that never finish their heads; 16 held (max_connections) until the
# per-connection deadline (5 s), the rest closed at once
r=$($TOOL slow "$APORT" 20)
quick=${r% *}; last=${r#* }
[ "$quick" -ge 4 ] && ok "over max_connections: closed at once ($quick of 20)" || bad "max_connections" "$r"
awk -v l="$last" 'BEGIN { exit !(l >= 4 && l < 15) }' && ok "slow heads cut at the deadline (${last}s)" || bad "deadline" "$r"
[ "$(code "$A/healthz")" = 200 ] && ok "still serving after hostile requests" || bad "still serving"
scrape && [ "$(val didcomm_gateway_admin_refused_connections_total)" -ge 4 ] && ok "refused admin connections counted" ||
	bad "refused count" "$(grep refused_conn "$T/m")"
stop_gw && ok "SIGTERM: exit 0 (no leak under ASan)" || bad "stop" "$(tail -5 "$T/gw.log")"

# 5. the token: required off loopback; with one, every path but /healthz wants it
conf "listen 0.0.0.0:$APORT" > "$T/gw.conf"
refused "a non-loopback admin address without a token: refused" "not a loopback address" $BIN run -c "$T/gw.conf"
refused "run -t says so too" "not a loopback address" $BIN run -t -c "$T/gw.conf"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$T/token"; chmod 644 "$T/token"
conf "listen 127.0.0.1:$APORT" "token_file $T/token" > "$T/gw.conf"
refused "a token file others can read: refused" "chmod 600" $BIN run -c "$T/gw.conf"
chmod 600 "$T/token"; TOKEN=$(cat "$T/token")
{ echo "log_format json"; conf "listen 127.0.0.1:$APORT" "token_file $T/token"; } > "$T/gw.conf" # (and JSON logs)
from=$(($(wc -l < "$T/gw.log") + 1))
start_gw && ok "gateway up with a token" || bad "up with token" "$(tail -3 "$T/gw.log")"
[ "$(code "$A/metrics")" = 401 ] && ok "no token: 401" || bad "no token" "$(cat "$T/body")"
[ "$(code -H "Authorization: Bearer wrong-token-of-some-length" "$A/readyz")" = 401 ] && ok "a wrong token: 401" || bad "wrong token"
[ "$(code -H "Authorization: Bearer $TOKEN" "$A/readyz")" = 200 ] && ok "the token: 200" || bad "token" "$(cat "$T/body")"
scrape && ok "/metrics with the token parses" || bad "metrics with token" "$(cat "$T/m.err")"
[ "$(code "$A/healthz")" = 200 ] && ok "/healthz needs no token" || bad "healthz open"
# a refusal whose logged reason quotes bytes that are not UTF-8, a quote and a backslash
code -H "$(printf 'Content-Type: text/\xff\xfe"x\\y')" --data-binary '{}' "http://127.0.0.1:$GPORT/" > /dev/null
wait_until 20 grep -q 'not a DIDComm type' "$T/gw.log" || bad "refusal logged"
stop_gw || bad "stop (token)" "$(tail -5 "$T/gw.log")"
TOKEN=""
tail -n +$from "$T/gw.log" > "$T/json.log"
python3 -c '
import json, sys
n = 0
for line in open(sys.argv[1]):
    d = json.loads(line)
    assert {"time", "level", "component", "msg"} <= set(d), d
    n += 1
assert n >= 3, n
print(n)' "$T/json.log" > "$T/json.n" 2>&1 && grep -q '"component":"admin"' "$T/json.log" &&
	ok "log_format json: every line a JSON object, bad UTF-8 and quotes too ($(cat "$T/json.n") lines)" || bad "json log" "$(head -c 300 "$T/json.n")"

# 6. a queue the gateway cannot write: not ready, and why
conf "listen 127.0.0.1:$APORT" > "$T/gw.conf"
if chattr +i "$T/gw/queue.db" 2>/dev/null; then
	start_gw && ok "gateway starts on an unwritable queue" || bad "start unwritable" "$(tail -3 "$T/gw.log")"
	[ "$(code "$A/readyz")" = 503 ] && grep -q "queue not writable" "$T/body" && grep -q "queue.db" "$T/body" &&
		ok "/readyz: 503 $(cat "$T/body")" || bad "readyz unwritable" "$(cat "$T/body")"
	scrape && [ "$(val didcomm_gateway_ready)" = 0 ] && ok "ready gauge 0" || bad "ready gauge"
	code "$A/" > /dev/null; grep -q "not ready" "$T/body" && ok "the status page says not ready" || bad "page not ready"
	stop_gw || bad "stop (unwritable)" "$(tail -5 "$T/gw.log")"
	chattr -i "$T/gw/queue.db"
else
	known "unwritable queue" "chattr +i is not supported on this file system"
fi
# 7. adapters' connections: a real broker stopped and started again, a watched folder moved
# away and back; the gauges (through the parser) and the status page follow
MPID=""
conn_is() { # conn_is 0|1 LABELS...: a fresh scrape shows connection_up{LABELS} at that value
	local v=$1; shift
	scrape && grep -q "^didcomm_gateway_adapter_connection_up{" "$T/m" && [ "$(val didcomm_gateway_adapter_connection_up "$@")" = "$v" ]
}
if command -v mosquitto > /dev/null; then
	MPORT=$(free_port)
	mkdir -p "$T/mq" "$T/drop"
	printf 'log_dest file %s/mq/mosquitto.log
user root
allow_anonymous true
listener %s 127.0.0.1
' "$T" "$MPORT" > "$T/mq/mosquitto.conf"
	mq_start() { mosquitto -c "$T/mq/mosquitto.conf" >> "$T/mq/stdout" 2>&1 & MPID=$!; wait_port "$MPORT" "$MPID"; }
	mq_stop() { kill "$MPID" 2>/dev/null; wait "$MPID" 2>/dev/null; MPID=""; }
	mq_start || bad "mosquitto starts" "$(tail -3 "$T/mq/stdout")"
	{ conf "listen 127.0.0.1:$APORT"
	  printf '[mqtt]\nbroker mqtt://127.0.0.1:%s\nsubscribe didcomm/in/#\nreconnect_max 1s\n[file]\nwatch %s/drop\nrescan 200ms\n' "$MPORT" "$T"; } > "$T/gw.conf"
	start_gw && ok "gateway with [mqtt] and [file] up" || bad "gateway with mqtt up" "$(tail -3 "$T/gw.log")"
	MQ=(adapter=mqtt "target=mqtt://127.0.0.1:$MPORT")
	FD=(adapter=file "target=$T/drop")
	wait_until 30 conn_is 1 "${MQ[@]}" && [ "$(val didcomm_gateway_adapter_connection_state "${MQ[@]}" state=up)" = 1 ] &&
		ok "connection_up{mqtt, the broker} = 1, state{up} = 1" || bad "mqtt up" "$(grep connection "$T/m")"
	wait_until 30 conn_is 1 "${FD[@]}" && ok "connection_up{file, the watched folder} = 1" || bad "folder up" "$(grep connection "$T/m")"
	code "$A/" > /dev/null
	grep -q "<span class=\"ok conn\" data-target=\"mqtt://127.0.0.1:$MPORT\">up</span>" "$T/body" &&
		ok "the status page: the broker up" || bad "page: broker up" "$(grep -o '<td><code>mqtt[^/]*//[^<]*</code>[^<]*<span[^>]*>[a-z]*' "$T/body")"
	mq_stop
	wait_until 30 conn_is 0 "${MQ[@]}" && [ "$(val didcomm_gateway_adapter_connection_state "${MQ[@]}" state=down)" = 1 ] &&
		ok "broker stopped: connection_up = 0, state{down} = 1" || bad "mqtt down" "$(grep connection "$T/m")"
	code "$A/" > /dev/null
	grep -q "<span class=\"bad conn\" data-target=\"mqtt://127.0.0.1:$MPORT\">down</span> for [0-9]*s: ." "$T/body" &&
		ok "the status page: the broker down, with the reason" || bad "page: broker down" "$(grep -o 'data-target="mqtt[^<]*<[^<]*' "$T/body")"
	mq_start || bad "mosquitto starts again"
	wait_until 30 conn_is 1 "${MQ[@]}" && ok "broker back: connection_up = 1 again" || bad "mqtt up again" "$(grep connection "$T/m")"
	[ "$(val didcomm_gateway_adapter_connection_changes_total "${MQ[@]}")" -ge 2 ] && ok "changes_total counted the outage" ||
		bad "changes_total" "$(grep changes "$T/m")"
	mv "$T/drop" "$T/drop.away"
	wait_until 30 conn_is 0 "${FD[@]}" && ok "watched folder gone: connection_up{file} = 0" || bad "folder down" "$(grep connection "$T/m")"
	mv "$T/drop.away" "$T/drop"
	wait_until 30 conn_is 1 "${FD[@]}" && ok "and 1 once it is back" || bad "folder up again" "$(grep connection "$T/m")"
	stop_gw || bad "stop (mqtt)" "$(tail -5 "$T/gw.log")"
	mq_stop
else
	known "adapter connections" "mosquitto is not installed"
fi
# 8. the mail adapters' connections: dovecot (IMAP) stopped and started again; the SMTP relay
# up after a mail went through it, down when the next one finds it gone
if command -v dovecot > /dev/null; then
	. tests/integration/mail/mail.inc
	chmod 755 "$T" # dovecot's auth process must traverse it
	MAIL_USERS="gw carol" mail_up "$T/mail" && ok "mail servers up" || bad "mail servers up"
	printf 's3cret\n' > "$T/imap.pw"; chmod 600 "$T/imap.pw"
	ERIN=$($BIN did new --method peer2 --endpoint "http://127.0.0.1:$GPORT/" --routing-key "$GWKEY" --secrets "$T/erin.json")
	printf 'to %s -> smtp carol@example.test\ndefault -> hold 1h\n' "$ERIN" > "$T/rules.conf"
	{ conf "listen 127.0.0.1:$APORT"
	  printf '[smtp]\nurl smtp://127.0.0.1:%s\nfrom gw@example.test\n[imap]\nurl imap://127.0.0.1:%s/INBOX\n' "$SMTP_PORT" "$IMAP_PORT"
	  printf 'username gw\npassword_file %s/imap.pw\npoll 1s\n' "$T"; } > "$T/gw.conf"
	start_gw && ok "gateway with [imap] and [smtp] up" || bad "gateway with mail up" "$(tail -3 "$T/gw.log")"
	IM=(adapter=imap "target=127.0.0.1:$IMAP_PORT/INBOX")
	SM=(adapter=smtp "target=127.0.0.1:$SMTP_PORT")
	wait_until 30 conn_is 1 "${IM[@]}" && ok "connection_up{imap, the mailbox} = 1" || bad "imap up" "$(grep connection_up "$T/m")"
	stop_pid "$DOVECOT_PID"
	wait_until 60 conn_is 0 "${IM[@]}" && ok "dovecot stopped: connection_up{imap} = 0" || bad "imap down" "$(grep connection_up "$T/m")"
	dovecot_start || bad "dovecot starts again"
	wait_until 120 conn_is 1 "${IM[@]}" && ok "dovecot back: connection_up{imap} = 1" || bad "imap up again" "$(grep connection_up "$T/m")"
	mail_to_erin() {
		printf '{"id":"%s","type":"https://didcomm.org/basicmessage/2.0/message","to":["%s"],"body":{}}' "$1" "$ERIN" > "$T/$1.json"
		$BIN pack --mode anoncrypt --to "$ERIN" "$T/$1.json" > "$T/$1.f"
		code -H 'Content-Type: application/didcomm-encrypted+json' --data-binary @"$T/$1.f" "http://127.0.0.1:$GPORT/" > /dev/null
	}
	mail_to_erin e1
	wait_until 60 conn_is 1 "${SM[@]}" && ok "a mail through the relay: connection_up{smtp} = 1" || bad "smtp up" "$(grep connection_up "$T/m")"
	stop_pid "$SMTPD_PID"; SMTPD_PID=
	mail_to_erin e2
	wait_until 60 conn_is 0 "${SM[@]}" && ok "the relay gone at the next mail: connection_up{smtp} = 0" || bad "smtp down" "$(grep connection_up "$T/m")"
	stop_gw || bad "stop (mail)" "$(tail -5 "$T/gw.log")"
	mail_down
else
	known "mail connections" "dovecot is not installed"
fi
[ -n "${KEEP_LOG:-}" ] && cp "$T/gw.log" "$KEEP_LOG" && cp "$T/status.png" "$KEEP_LOG.png"
summary integration-admin
