#!/usr/bin/env bash
# The mail adapters against real servers on 127.0.0.1 (dovecot IMAP+LMTP, an aiosmtpd SMTP
# server delivering to it): a mail-only agent (carol) mails a message to the gateway, which
# takes it from its IMAP mailbox and delivers it to an HTTP agent (bob); bob's answer goes
# HTTP -> gateway -> SMTP and is read back from carol's mailbox over IMAP and unpacked; a mail
# without a DIDComm part goes to Rejected; SMTP 5xx is a dead letter, 4xx and a dead server
# are retried; mails that come while the gateway is down, or while it is killed mid-batch,
# are all delivered once it is back. Everything is stopped by PID.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/common.inc
. tests/integration/mail/mail.inc
BIN=${BIN:-build/release/didcomm-gateway}
TOOL=build/release/didcomm-gateway; [ -x "$TOOL" ] || TOOL=$BIN
RPORT=$(free_port); GPORT=$(free_port)
mkdir -p "$T/rx" "$T/mail"
GPID="" RPID=""
stop_all() { [ -n "$GPID" ] && stop_pid "$GPID"; [ -n "$RPID" ] && stop_pid "$RPID"; mail_down; rm -rf "$T"; }
trap stop_all EXIT
chmod 755 "$T" # dovecot's auth process (user dovecot) must traverse it
MAIL_USERS="gw carol" mail_up "$T/mail" && ok "mail servers up" || { bad "mail servers up"; summary integration-email; exit 1; }
python3 tests/cli/receiver.py "$RPORT" "$T/rx" & RPID=$!
wait_port "$RPORT" "$RPID"
printf 's3cret\n' > "$T/imap.pw"; chmod 600 "$T/imap.pw"
cat > "$T/gw.conf" <<CONF
state_dir $T/gw
rules $T/rules.conf
max_message_bytes 256k
[queue]
retry_base 200ms
retry_max 2s
[http]
listen 127.0.0.1:$GPORT
[smtp]
url smtp://127.0.0.1:$SMTP_PORT
from gw@example.test
starttls if-offered
[imap]
url imap://127.0.0.1:$IMAP_PORT/INBOX
username gw
password_file $T/imap.pw
processed Processed
rejected Rejected
poll 2s
[outbound]
allow 127.0.0.0/8
CONF
printf 'default -> reject\n' > "$T/rules.conf"
start_gw() { $BIN run -c "$T/gw.conf" 2>>"$T/gw.log" & GPID=$!; wait_port "$GPORT" "$GPID"; }
stop_gw() { kill -TERM "$GPID"; wait "$GPID"; local rc=$?; GPID=""; return $rc; }
start_gw && ok "gateway runs with [smtp] and [imap]" || bad "gateway start" "$(tail -3 "$T/gw.log")"
GW=$(cat "$T/gw/did.txt")
$TOOL did resolve "$GW" > "$T/gw.doc"
GWKEY=$(json "$T/gw.doc" 'd["keyAgreement"][0]')
# bob (HTTP agent) and carol (mail-only) both name the gateway as their mediator
$TOOL did new --method peer2 --endpoint "http://127.0.0.1:$GPORT/" --routing-key "$GWKEY" --secrets "$T/bob.json" > "$T/bob"
$TOOL did new --method peer2 --endpoint "mailto:gw@example.test" --routing-key "$GWKEY" --secrets "$T/carol.json" > "$T/carol"
for p in erin frank grace; do
	$TOOL did new --method peer2 --endpoint "http://127.0.0.1:$GPORT/" --routing-key "$GWKEY" --secrets "$T/$p.json" > "$T/$p"
done
BOB=$(cat "$T/bob"); CAROL=$(cat "$T/carol"); ERIN=$(cat "$T/erin"); FRANK=$(cat "$T/frank"); GRACE=$(cat "$T/grace")
# erin's mail is refused for good (554 after DATA), frank's only for now (451), grace's
# address does not exist (550 at RCPT TO)
printf 'to %s -> smtp carol@example.test\nto %s -> http http://127.0.0.1:%s/inbox\nto %s -> smtp refuse@example.test\nto %s -> smtp later@example.test\nto %s -> smtp nosuchuser@example.test\ndefault -> reject\n' \
	"$CAROL" "$BOB" "$RPORT" "$ERIN" "$FRANK" "$GRACE" > "$T/rules.conf"
kill -HUP "$GPID"
for i in $(seq 1 100); do grep -q "SIGHUP: reloaded" "$T/gw.log" && break; sleep 0.1; done
mk() { printf '{"id":"%s","type":"https://didcomm.org/basicmessage/2.0/message","from":"%s","to":["%s"],"body":{"n":"%s"}}' "$1" "$2" "$3" "$1" > "$4"; }
received() { ls "$T/rx"/msg-*.json 2>/dev/null | wc -l; }
wait_received() { for i in $(seq 1 300); do [ "$(received)" -ge "$1" ] && return 0; sleep 0.1; done; return 1; }
mail_to_gw() { curl -sS "smtp://127.0.0.1:$SMTP_PORT" --mail-from carol@example.test --mail-rcpt gw@example.test -T "$1"; }

# 1. mail -> HTTP: carol mails a message for bob to the gateway's address
mk m1 "$CAROL" "$BOB" "$T/m1.json"
$TOOL pack --mode authcrypt --from "$CAROL" --to "$BOB" --secrets "$T/carol.json" "$T/m1.json" > "$T/m1.f"
python3 tests/integration/mail/mkmail.py didcomm carol@example.test gw@example.test "$T/m1.f" > "$T/m1.eml"
check "carol mails it (curl smtp://)" mail_to_gw "$T/m1.eml"
wait_received 1 && ok "mail -> gateway -> bob's HTTP endpoint" || bad "mail -> HTTP" "$(tail -5 "$T/gw.log")"
check "bob unpacks it" $TOOL unpack --secrets "$T/bob.json" "$T/rx/msg-1.json"
grep -q '"id":"m1"' "$T/out" && ok "the right message, from carol" || bad "the right message" "$(head -c 200 "$T/out")"
wait_count gw Processed 1 && [ "$(imap_count gw INBOX)" = 0 ] && ok "the mail moved to Processed after the commit" \
	|| bad "moved to Processed" "INBOX $(imap_count gw INBOX) Processed $(imap_count gw Processed)"

# 2. HTTP -> mail: bob answers carol through the gateway (send posts to carol's mediator... the
# gateway's HTTP listener, since bob's own side speaks HTTP); read back from carol's mailbox
mk r1 "$BOB" "$CAROL" "$T/r1.json"
$TOOL pack --mode authcrypt --from "$BOB" --to "$CAROL" --secrets "$T/bob.json" "$T/r1.json" > "$T/r1.f"
code=$(curl -s -o "$T/body" -w '%{http_code}' -H 'Content-Type: application/didcomm-encrypted+json' --data-binary @"$T/r1.f" "http://127.0.0.1:$GPORT/")
[ "$code" = 202 ] && ok "bob POSTs his answer: 202" || bad "bob POSTs" "$code $(cat "$T/body")"
wait_count carol INBOX 1 && ok "the answer is in carol's mailbox" || bad "answer mailed" "$(tail -5 "$T/gw.log")"
uid=$(imap_uids carol INBOX | head -1)
curl -s "imap://carol:s3cret@127.0.0.1:$IMAP_PORT/INBOX;UID=$uid" > "$T/r1.eml"
mkdir -p "$T/x1"; python3 tests/integration/mail/mkmail.py extract "$T/r1.eml" "$T/x1" > "$T/x1.txt"
grep -q '^part 0 application/didcomm-encrypted+json message.dcem$' "$T/x1.txt" && grep -q '^keywords didcomm$' "$T/x1.txt" &&
	grep -q '^from <\?gw@example.test>\?$' "$T/x1.txt" && grep -q '^message-id <dc\.[0-9a-f]\{32\}@example.test>$' "$T/x1.txt" &&
	ok "one DIDComm attachment with its media type, Keywords: didcomm, From and Message-ID" || bad "mail shape" "$(cat "$T/x1.txt")"
grep -qi 'attach\|open' "$T/x1.txt" && bad "the human text mentions the attachment" "$(grep '^text' "$T/x1.txt")" || ok "the human text does not ask to open the attachment"
check "carol unpacks the answer" $TOOL unpack --secrets "$T/carol.json" "$T/x1/part-0"
grep -q '"id":"r1"' "$T/out" && ok "the right answer, from bob" || bad "the right answer" "$(head -c 200 "$T/out")"

# 3. a mail with no DIDComm part goes to Rejected, with the reason in the log; a .dcem added by a person is taken
python3 tests/integration/mail/mkmail.py plain carol@example.test gw@example.test "hello, is anyone there?" > "$T/plain.eml"
check "a plain mail sent" mail_to_gw "$T/plain.eml"
wait_count gw Rejected 1 && ok "no DIDComm part: moved to Rejected" || bad "Rejected" "$(tail -3 "$T/gw.log")"
grep -q 'to Rejected: no DIDComm part' "$T/gw.log" && ok "the reason is logged" || bad "reason logged" "$(tail -3 "$T/gw.log")"
mk m2 "$CAROL" "$BOB" "$T/m2.json"
$TOOL pack --mode authcrypt --from "$CAROL" --to "$BOB" --secrets "$T/carol.json" "$T/m2.json" > "$T/m2.f"
python3 tests/integration/mail/mkmail.py dcem carol@example.test gw@example.test "$T/m2.f" > "$T/m2.eml"
check "a .dcem attached as octet-stream sent" mail_to_gw "$T/m2.eml"
wait_received 2 && ok "the .dcem attachment is sniffed and delivered" || bad ".dcem sniffed" "$(tail -3 "$T/gw.log")"
kill -0 "$GPID" && ok "still running" || bad "still running"

# 4. SMTP refusals: 5xx is a dead letter, 4xx is retried, a dead server is retried until it is back
post() { curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/didcomm-encrypted+json' --data-binary @"$1" "http://127.0.0.1:$GPORT/"; }
mk e1 "$BOB" "$ERIN" "$T/e1.json"; $TOOL pack --mode anoncrypt --to "$ERIN" "$T/e1.json" > "$T/e1.f"
mk f1 "$BOB" "$FRANK" "$T/f1.json"; $TOOL pack --mode anoncrypt --to "$FRANK" "$T/f1.json" > "$T/f1.f"
[ "$(post "$T/e1.f")" = 202 ] && [ "$(post "$T/f1.f")" = 202 ] && ok "two more accepted" || bad "post e1/f1"
for i in $(seq 1 300); do grep -q 'refuse@example.test: refused: end of DATA: SMTP 554' "$T/gw.log" && break; sleep 0.1; done
grep -q 'refuse@example.test: refused: end of DATA: SMTP 554' "$T/gw.log" && ok "554 after DATA: refused for good, with the server's reply" || bad "554" "$(grep -i smtp "$T/gw.log" | tail -3)"
# a dead letter in the queue, its reason the server's own words
dead_554() { $TOOL queue ls --dead -c "$T/gw.conf" > "$T/dead" 2>&1 && grep -q '554 5.7.1 refused by policy' "$T/dead"; }
wait_until 30 dead_554 && [ "$(grep -c 'refuse@example.test' "$T/dead")" = 1 ] && ok "one dead letter, with the server's reply: $(grep -m1 -o 'SMTP 554.*' "$T/dead" | cut -c1-60)" \
	|| bad "dead letter" "$(cat "$T/dead")"
mk g1 "$BOB" "$GRACE" "$T/g1.json"; $TOOL pack --mode anoncrypt --to "$GRACE" "$T/g1.json" > "$T/g1.f"
[ "$(post "$T/g1.f")" = 202 ] && ok "one for an address that does not exist accepted" || bad "post g1"
dead_550() { $TOOL queue ls --dead -c "$T/gw.conf" > "$T/dead" 2>&1 && grep -q 'nosuchuser@example.test.*RCPT TO: SMTP 550' "$T/dead"; }
wait_until 30 dead_550 && ok "550 at RCPT TO: a dead letter with the server's reply: $(grep -o 'RCPT TO: SMTP 550.*' "$T/dead" | cut -c1-70)" \
	|| bad "550 dead letter" "$(cat "$T/dead"; grep nosuchuser "$T/gw.log" | tail -2)"
for i in $(seq 1 300); do [ "$(grep -c 'later@example.test: end of DATA: SMTP 451.*will retry' "$T/gw.log")" -ge 2 ] && break; sleep 0.1; done
[ "$(grep -c 'later@example.test: end of DATA: SMTP 451.*will retry' "$T/gw.log")" -ge 2 ] && ok "451 after DATA: retried" || bad "451 retried" "$(grep -i later "$T/gw.log" | tail -3)"
stop_pid "$SMTPD_PID"
mk r2 "$BOB" "$CAROL" "$T/r2.json"; $TOOL pack --mode anoncrypt --to "$CAROL" "$T/r2.json" > "$T/r2.f"
[ "$(post "$T/r2.f")" = 202 ] && ok "accepted while the SMTP server is down" || bad "post r2"
for i in $(seq 1 300); do grep -q 'carol@example.test: connect .*(will retry)' "$T/gw.log" && break; sleep 0.1; done
grep -q 'carol@example.test: connect .*(will retry)' "$T/gw.log" && ok "SMTP server down: retried" || bad "down: retried" "$(tail -3 "$T/gw.log")"
smtpd_start
wait_port "$SMTP_PORT" "$SMTPD_PID"
wait_count carol INBOX 2 && ok "delivered once the SMTP server is back" || bad "delivered after restart" "$(tail -3 "$T/gw.log")"
uid=$(imap_uids carol INBOX | tail -1)
curl -s "imap://carol:s3cret@127.0.0.1:$IMAP_PORT/INBOX;UID=$uid" > "$T/r2.eml"
mkdir -p "$T/x2"; python3 tests/integration/mail/mkmail.py extract "$T/r2.eml" "$T/x2" > "$T/x2.txt"
$TOOL unpack --secrets "$T/carol.json" "$T/x2/part-0" > "$T/out" 2>&1 && grep -q '"id":"r2"' "$T/out" &&
	ok "it is the message sent while the server was down" || bad "r2 read back" "$(head -c 200 "$T/out")"

# 5. restart loses nothing: mails that come while the gateway is down, and a kill -9 mid-batch
stop_gw && ok "SIGTERM: exit 0" || bad "SIGTERM" "exit $?"
N=${MAIL_N:-30}
: > "$T/accepted"
for i in $(seq 1 "$N"); do
	mk "k$i" "$CAROL" "$BOB" "$T/k$i.json"
	$TOOL pack --mode anoncrypt --to "$BOB" "$T/k$i.json" > "$T/k$i.f"
	python3 tests/integration/mail/mkmail.py didcomm carol@example.test gw@example.test "$T/k$i.f" > "$T/k$i.eml"
	mail_to_gw "$T/k$i.eml" && echo "k$i" >> "$T/accepted"
done
[ "$(wc -l < "$T/accepted")" = "$N" ] && ok "$N mails sent while the gateway is down" || bad "mails sent" "$(wc -l < "$T/accepted")"
before=$(received)
start_gw && ok "restarted" || bad "restart" "$(tail -3 "$T/gw.log")"
for i in $(seq 1 300); do [ "$(received)" -gt "$before" ] && break; sleep 0.02; done
kill -9 "$GPID"; wait "$GPID" 2>/dev/null; GPID=""
ok "killed -9 after $(( $(received) - before )) of $N delivered"
start_gw && ok "restarted after kill -9" || bad "restart after kill -9" "$(tail -3 "$T/gw.log")"
python3 tests/cli/check_ids.py "$TOOL" "$T/bob.json" "$T/rx" "$T/accepted" 90 > "$T/check" 2>&1 \
	&& ok "every mail delivered: $(head -1 "$T/check")" || bad "every mail delivered" "$(cat "$T/check")"
for i in $(seq 1 100); do [ "$(imap_count gw INBOX)" = 0 ] && break; sleep 0.1; done
[ "$(imap_count gw INBOX)" = 0 ] && ok "INBOX empty, Processed holds $(imap_count gw Processed)" || bad "INBOX empty" "$(imap_count gw INBOX) left"
stop_gw && ok "SIGTERM: exit 0" || bad "SIGTERM" "exit $?"
summary integration-email
