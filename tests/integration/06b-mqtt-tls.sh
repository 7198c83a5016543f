#!/usr/bin/env bash
# The MQTT adapter over TLS, its MQTT 5 properties, its persistent session and its
# non-blocking connect, with a real mosquitto on 127.0.0.1 (a plain listener for the devices
# and a TLS one for the gateway; the CAs and the server certificate are made here by openssl):
# - mqtts with a CA that did not sign the broker's certificate: no connection, an error line
#   that says why (certificate verify failed), and the gateway tries again by itself;
# - mqtts with the right CA: HTTP -> gateway -> device and device -> gateway -> HTTP, each
#   opened by its recipient; MQTT 5 content-type = the DIDComm media type, and expires_time
#   becomes the message-expiry-interval (none without it);
# - the persistent session: what devices publish while the gateway is stopped reaches it after
#   its restart (the broker held it for the gateway's session);
# - a broker whose TCP connect never completes (a listener with a full accept queue) stalls
#   nothing: HTTP answers meanwhile, and the connect gives up with a log line and is retried.
# Everything started here is stopped by PID.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/common.inc
BIN=${BIN:-build/release/didcomm-gateway}
TOOL=build/release/didcomm-gateway; [ -x "$TOOL" ] || TOOL=$BIN
command -v mosquitto >/dev/null || { echo "integration-mqtt-tls: mosquitto not installed"; exit 1; }
command -v openssl >/dev/null || { echo "integration-mqtt-tls: openssl not installed"; exit 1; }
RPORT=$(free_port); GPORT=$(free_port); MPORT=$(free_port); TPORT=$(free_port)
mkdir -p "$T/rx" "$T/mq" "$T/pki"
GPID="" MPID="" SUBPID="" RPID="" HPID=""
stop_all() { for p in $GPID $SUBPID $MPID $RPID $HPID; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$T"; }
trap stop_all EXIT

# a CA that signs the broker's certificate (SAN IP:127.0.0.1), and another that does not
D=$T/pki
{
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca -keyout "$D/ca.key" -out "$D/ca.crt"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca -keyout "$D/other.key" -out "$D/other.crt"
	openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout "$D/server.key" -out "$D/server.csr"
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > "$D/san.ext"
	openssl x509 -req -in "$D/server.csr" -CA "$D/ca.crt" -CAkey "$D/ca.key" -CAcreateserial -days 2 \
		-extfile "$D/san.ext" -out "$D/server.crt"
} > "$T/openssl.log" 2>&1 && ok "test CA and broker certificate made" || bad "openssl" "$(tail -3 "$T/openssl.log")"

cat > "$T/mq/mosquitto.conf" <<CONF
persistence true
persistence_location $T/mq/
log_dest file $T/mq/mosquitto.log
log_type all
user root
allow_anonymous true
listener $MPORT 127.0.0.1
listener $TPORT 127.0.0.1
cafile $D/ca.crt
certfile $D/server.crt
keyfile $D/server.key
CONF
mosquitto -c "$T/mq/mosquitto.conf" >> "$T/mq/stdout" 2>&1 & MPID=$!
wait_port "$MPORT" "$MPID" && wait_port "$TPORT" "$MPID" && ok "mosquitto listens (plain and TLS)" ||
	bad "mosquitto" "$(tail -3 "$T/mq/stdout")"
python3 tests/cli/receiver.py "$RPORT" "$T/rx" & RPID=$!
wait_port "$RPORT" "$RPID"

conf() { # BROKER CA [extra [mqtt] lines]
	cat > "$T/gw.conf" <<CONF
state_dir $T/gw
rules $T/rules.conf
max_message_bytes 64k
[queue]
retry_base 200ms
retry_max 2s
[http]
listen 127.0.0.1:$GPORT
[mqtt]
broker $1
${2:+ca_file $2}
client_id gw-tls-test
subscribe didcomm/in/# tag fleet
reconnect_max 2s
${3:-}
[outbound]
allow 127.0.0.0/8
CONF
}
gw_start() { $BIN run -c "$T/gw.conf" 2>>"$T/gw.log" & GPID=$!; wait_port "$GPORT" "$GPID"; }
gw_stop() { kill -TERM "$GPID"; wait "$GPID"; local rc=$?; GPID=""; return $rc; }
log_count() { grep -c -- "$1" "$T/gw.log"; }

# 1. the wrong CA: refused with the reason, then tried again
printf 'default -> reject\n' > "$T/rules.conf"
conf "mqtts://127.0.0.1:$TPORT" "$D/other.crt"
gw_start && ok "gateway starts (broker certificate not trusted)" || bad "gateway starts" "$(tail -3 "$T/gw.log")"
tls_failed_twice() { [ "$(log_count 'mqtt.*TLS handshake failed')" -ge 2 ]; }
wait_until 60 tls_failed_twice && ok "wrong CA: the handshake fails, and is tried again" ||
	bad "wrong CA" "$(grep mqtt "$T/gw.log" | tail -3)"
grep -q "mqtt.*TLS handshake failed: .*certificate verify failed" "$T/gw.log" && ok "the log line says why" ||
	bad "TLS log line" "$(grep -m1 'mqtt.*TLS' "$T/gw.log")"
grep -q "mqtt.*connected to" "$T/gw.log" && bad "connected with the wrong CA" || ok "no connection with the wrong CA"
gw_stop && ok "SIGTERM while failing: exit 0" || bad "SIGTERM while failing"

# 2. the right CA
conf "mqtts://127.0.0.1:$TPORT" "$D/ca.crt"
: > "$T/gw.log"
gw_start || bad "gateway restarts" "$(tail -3 "$T/gw.log")"
wait_until 60 grep -q "mqtt.*connected to mqtts://" "$T/gw.log" && ok "right CA: connected over TLS" ||
	bad "TLS connect" "$(grep mqtt "$T/gw.log" | tail -3)"
GW=$(cat "$T/gw/did.txt")
GWKEY=$($BIN did resolve "$GW" | python3 -c 'import json,sys; print(json.load(sys.stdin)["keyAgreement"][0])')
$BIN did new --method peer2 --secrets "$T/alice.json" > "$T/alice"
$BIN did new --method peer2 --endpoint "http://127.0.0.1:$GPORT/" --routing-key "$GWKEY" --secrets "$T/bob.json" > "$T/bob"
$BIN did new --method peer2 --endpoint "http://127.0.0.1:$GPORT/" --routing-key "$GWKEY" --secrets "$T/dev.json" > "$T/dev"
ALICE=$(cat "$T/alice"); BOB=$(cat "$T/bob"); DEV=$(cat "$T/dev")
cat > "$T/rules.conf" <<RULES
to $DEV  -> mqtt dev/{to}/inbox qos=1
from mqtt tag fleet  -> http http://127.0.0.1:$RPORT/inbox
default -> reject
RULES
kill -HUP "$GPID"
wait_until 30 grep -q "SIGHUP: reloaded" "$T/gw.log" || bad "rules reload" "$(tail -3 "$T/gw.log")"
# the device: MQTT 5, persistent, prints content-type|expiry|payload
mosquitto_sub -h 127.0.0.1 -p "$MPORT" -V 5 -q 1 -c -x 3600 -i "dev-$$" -t "dev/$DEV/inbox" -F '%C|%E|%p' \
	>> "$T/dev.rx" 2>>"$T/sub.err" & SUBPID=$!
wait_until 30 grep -q "dev-$$" "$T/mq/mosquitto.log"
lines() { [ -f "$1" ] && wc -l < "$1" || echo 0; }
post() { curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/didcomm-encrypted+json' --data-binary @"$1" "http://127.0.0.1:$GPORT/"; }
now=$(date +%s)
printf '{"id":"exp1","type":"https://didcomm.org/basicmessage/2.0/message","from":"%s","to":["%s"],"expires_time":%s,"body":{}}' \
	"$ALICE" "$DEV" $((now + 3600)) > "$T/e1.json"
printf '{"id":"noexp","type":"https://didcomm.org/basicmessage/2.0/message","from":"%s","to":["%s"],"body":{}}' \
	"$ALICE" "$DEV" > "$T/e2.json"
$BIN pack --mode anoncrypt --to "$DEV" "$T/e1.json" > "$T/e1.f"
$BIN pack --mode anoncrypt --to "$DEV" "$T/e2.json" > "$T/e2.f"
[ "$(post "$T/e1.f")" = 202 ] && [ "$(post "$T/e2.f")" = 202 ] && ok "two POSTs for the device: 202" || bad "POST"
got2() { [ "$(lines "$T/dev.rx")" -ge 2 ]; }
wait_until 60 got2 && ok "HTTP -> MQTT over TLS: published" || bad "HTTP -> MQTT over TLS" "$(grep mqtt "$T/gw.log" | tail -3)"
for i in 1 2; do sed -n "${i}p" "$T/dev.rx" | cut -d'|' -f3- > "$T/got$i"; $BIN unpack --secrets "$T/dev.json" "$T/got$i" > "$T/open$i" 2>&1; done
l1=$(grep -l '"id":"exp1"' "$T/open1" "$T/open2" | head -1); l1=${l1##*open}
l2=$((3 - ${l1:-1}))
[ -n "$l1" ] && grep -q '"id":"noexp"' "$T/open$l2" && ok "the device opens both" || bad "device opens" "$(head -c 200 "$T/open1")"
ct=$(sed -n "${l1:-1}p" "$T/dev.rx" | cut -d'|' -f1)
[ "$ct" = "application/didcomm-encrypted+json" ] && ok "MQTT 5 content-type: $ct" || bad "content-type" "'$ct'"
ex=$(sed -n "${l1:-1}p" "$T/dev.rx" | cut -d'|' -f2)
# what is left of an hour when published (a wide margin for a busy machine)
[ -n "$ex" ] && [ "$ex" -le 3600 ] && [ "$ex" -gt 3000 ] && ok "expires_time -> message-expiry-interval $ex s" ||
	bad "message expiry" "'$ex'"
ex2=$(sed -n "${l2}p" "$T/dev.rx" | cut -d'|' -f2)
[ -z "$ex2" ] && ok "no expires_time: no expiry interval" || bad "expiry without expires_time" "'$ex2'"
# device -> gateway (TLS) -> HTTP agent
mk() { printf '{"id":"%s","type":"https://didcomm.org/basicmessage/2.0/message","from":"%s","to":["%s"],"body":{}}' "$1" "$ALICE" "$BOB" > "$2"; }
mk up1 "$T/u1.json"; $BIN pack --mode anoncrypt --to "$BOB" "$T/u1.json" > "$T/u1.f"
mosquitto_pub -h 127.0.0.1 -p "$MPORT" -q 1 -t didcomm/in/dev1 -f "$T/u1.f" || bad "mosquitto_pub"
received() { ls "$T/rx"/msg-*.json 2>/dev/null | wc -l; }
rx1() { [ "$(received)" -ge 1 ]; }
wait_until 60 rx1 && check "MQTT (TLS) -> HTTP: bob opens it" $BIN unpack --secrets "$T/bob.json" "$T/rx/msg-1.json" ||
	bad "MQTT -> HTTP over TLS" "$(grep mqtt "$T/gw.log" | tail -3)"

# 3. the persistent session: published while the gateway is stopped, delivered after its restart
gw_stop && ok "gateway stopped (SIGTERM, exit 0)" || bad "gateway stop"
: > "$T/held.acc"
for i in 1 2 3 4 5; do
	mk "s$i" "$T/s$i.json"; $BIN pack --mode anoncrypt --to "$BOB" "$T/s$i.json" > "$T/s$i.f"
	mosquitto_pub -h 127.0.0.1 -p "$MPORT" -q 1 -t didcomm/in/dev1 -f "$T/s$i.f" && echo "s$i" >> "$T/held.acc"
done
[ "$(wc -l < "$T/held.acc")" = 5 ] && ok "5 published while the gateway is away (PUBACK from the broker)" || bad "publish while away"
gw_start || bad "gateway restart" "$(tail -3 "$T/gw.log")"
python3 tests/cli/check_ids.py "$TOOL" "$T/bob.json" "$T/rx" "$T/held.acc" 90 > "$T/check" 2>&1 &&
	ok "persistent session: $(head -1 "$T/check") after the restart" || bad "persistent session" "$(cat "$T/check")"
grep -q "mqtt.*session resumed" "$T/gw.log" && ok "the broker kept the gateway's session" || bad "session resumed" "$(grep mqtt "$T/gw.log" | tail -2)"
gw_stop || bad "gateway stop 2"

# 4. a broker that never completes the TCP connect: the loop is not held by it
python3 - "$T/hang.port" <<'PY' & HPID=$!
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(0)   # never accepts: the queue fills
port = s.getsockname()[1]
fill = []
for _ in range(3):
    c = socket.socket(); c.setblocking(False)
    try:
        c.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    fill.append(c)
open(sys.argv[1] + ".tmp", "w").write(str(port))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    time.sleep(60)
PY
wait_until 30 test -s "$T/hang.port"
HP=$(cat "$T/hang.port")
# (the listening socket takes the TCP connection to the HTTP port even while the loop is held,
# and a blocking connect here lasts until the kernel gives up, ~2 min: so what shows that the
# loop is free is the order, the POST answered before the connect has given up, 20 s here)
conf "mqtt://127.0.0.1:$HP" "" "timeout 20s"
: > "$T/gw.log"
gw_start || bad "gateway starts" "$(tail -3 "$T/gw.log")"
code=$(post "$T/e2.f")
gave_up() { grep -qE 'mqtt.*(no CONNACK within timeout|connection lost)' "$T/gw.log"; }
[ "$code" = 202 ] && ! gave_up && ok "broker never answers: HTTP is served meanwhile (202 while the connect is pending)" ||
	bad "loop held by the connect" "POST $code; $(grep mqtt "$T/gw.log" | tail -2)"
wait_until 120 gave_up && grep -q "mqtt.*no CONNACK within timeout" "$T/gw.log" &&
	ok "the connect gives up after timeout with a log line (and is retried)" || bad "connect timeout" "$(grep mqtt "$T/gw.log" | tail -3)"
gw_stop && ok "SIGTERM: exit 0" || bad "SIGTERM"
summary integration-mqtt-tls
