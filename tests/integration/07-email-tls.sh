#!/usr/bin/env bash
# The mail adapters over TLS and with AUTH, against real servers on 127.0.0.1: dovecot (IMAPS,
# IMAP STARTTLS, LMTP) and the tests' SMTP server (STARTTLS, implicit TLS, AUTH required after
# STARTTLS), with a test CA made here by openssl. The gateway must take mail over IMAPS and
# IMAP+STARTTLS and send it over SMTP+STARTTLS and SMTPS, logging in with username +
# password_file; with the wrong CA, or a host name the certificate does not name, it must
# refuse the server (one log line), lose nothing, and deliver once it is set right; a wrong
# password is an AUTH failure that is retried. Everything is stopped by PID.
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
MAIL_TLS=1 SMTP_AUTH=1 MAIL_USERS="gw carol" mail_up "$T/mail" && ok "mail servers up (TLS, SMTP AUTH)" ||
	{ bad "mail servers up"; summary integration-email-tls; exit 1; }
python3 tests/cli/receiver.py "$RPORT" "$T/rx" & RPID=$!
wait_port "$RPORT" "$RPID"
printf 's3cret\n' > "$T/gw.pw"; chmod 600 "$T/gw.pw"
printf 'n0t-the-pa55\n' > "$T/bad.pw"; chmod 600 "$T/bad.pw"
CA=$T/mail/ca.crt OTHER=$T/mail/other-ca.crt

# gwconf SMTP_URL SMTP_STARTTLS SMTP_CA SMTP_PW IMAP_URL IMAP_STARTTLS IMAP_CA IMAP_PW
gwconf() {
	cat > "$T/gw.conf" <<CONF
state_dir $T/gw
rules $T/rules.conf
[queue]
retry_base 200ms
retry_max 2s
[http]
listen 127.0.0.1:$GPORT
[smtp]
url $1
starttls $2
ca_file $3
from gw@example.test
username gw
password_file $4
timeout 20s
[imap]
url $5
starttls $6
ca_file $7
username gw
password_file $8
poll 2s
timeout 20s
[outbound]
allow 127.0.0.0/8
CONF
}
start_gw() { [ -f "$T/gw.log" ] && cat "$T/gw.log" >> "$T/gw.all"; : > "$T/gw.log"; $BIN run -c "$T/gw.conf" 2>"$T/gw.log" & GPID=$!; wait_port "$GPORT" "$GPID"; }
stop_gw() { kill -TERM "$GPID"; wait "$GPID"; local rc=$?; GPID=""; return $rc; }
logins() { grep -c 'imap-login: Info: Login: user=<gw>' "$T/mail/dovecot.log"; }
logged() { grep -q -- "$1" "$T/gw.log"; }
received() { ls "$T/rx"/msg-*.json 2>/dev/null | wc -l; }
has_received() { [ "$(received)" -ge "$1" ]; }
has_count() { [ "$(imap_count "$1" "$2")" -ge "$3" ]; }
mk() { printf '{"id":"%s","type":"https://didcomm.org/basicmessage/2.0/message","from":"%s","to":["%s"],"body":{"n":"%s"}}' "$1" "$2" "$3" "$1" > "$4"; }
post() { curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/didcomm-encrypted+json' --data-binary @"$1" "http://127.0.0.1:$GPORT/"; }
# a message for bob, as a mail put straight into the gateway's mailbox (IMAP APPEND over IMAPS)
append_for_bob() {
	mk "$1" "$CAROL" "$BOB" "$T/$1.json"
	$TOOL pack --mode anoncrypt --to "$BOB" "$T/$1.json" > "$T/$1.f"
	python3 tests/integration/mail/mkmail.py didcomm carol@example.test gw@example.test "$T/$1.f" > "$T/$1.eml"
	curl -sS --cacert "$CA" -T "$T/$1.eml" "imaps://gw:s3cret@127.0.0.1:$IMAPS_PORT/INBOX"
}
# a message for carol, posted to the gateway (it goes out by SMTP)
post_for_carol() {
	mk "$1" "$BOB" "$CAROL" "$T/$1.json"
	$TOOL pack --mode anoncrypt --to "$CAROL" "$T/$1.json" > "$T/$1.f"
	[ "$(post "$T/$1.f")" = 202 ]
}

# identities (the gateway's DID does not matter here: rules name the targets)
gwconf "smtp://127.0.0.1:$SMTP_PORT" required "$CA" "$T/gw.pw" "imaps://127.0.0.1:$IMAPS_PORT/INBOX" if-offered "$CA" "$T/gw.pw"
$TOOL did new --method peer2 --endpoint "http://127.0.0.1:$RPORT/inbox" --secrets "$T/bob.json" > "$T/bob"
$TOOL did new --method peer2 --endpoint "mailto:carol@example.test" --secrets "$T/carol.json" > "$T/carol"
BOB=$(cat "$T/bob"); CAROL=$(cat "$T/carol")
printf 'to %s -> smtp carol@example.test\nto %s -> http http://127.0.0.1:%s/inbox\ndefault -> reject\n' \
	"$CAROL" "$BOB" "$RPORT" > "$T/rules.conf"

# 1. the right CA: SMTP with STARTTLS (required) and AUTH; IMAPS
start_gw && ok "gateway runs: smtp+STARTTLS, imaps, ca_file" || bad "gateway start" "$(tail -3 "$T/gw.log")"
post_for_carol r1 && ok "r1 accepted" || bad "r1 accepted"
wait_until 60 has_count carol INBOX 1 && ok "SMTP STARTTLS + AUTH: mailed" || bad "STARTTLS mailed" "$(tail -3 "$T/gw.log")"
grep -q 'AUTH PLAIN ok' "$T/mail/smtpd.log" && grep -q 'delivered from gw@example.test auth True tls True' "$T/mail/smtpd.log" &&
	ok "the SMTP server saw AUTH after STARTTLS" || bad "AUTH after STARTTLS" "$(tail -3 "$T/mail/smtpd.log")"
check "m1 appended to gw's INBOX" append_for_bob m1
wait_until 60 has_received 1 && ok "IMAPS: taken and delivered to bob" || bad "IMAPS taken" "$(tail -3 "$T/gw.log")"
logged 'imap.*127.0.0.1:'"$IMAPS_PORT"'/INBOX: logged in' && ok "IMAPS: logged in" || bad "IMAPS logged in" "$(tail -3 "$T/gw.log")"
stop_gw && ok "SIGTERM: exit 0" || bad "SIGTERM" "exit $?"

# 2. SMTPS (implicit TLS) and IMAP with STARTTLS (required)
gwconf "smtps://127.0.0.1:$SMTPS_PORT" required "$CA" "$T/gw.pw" "imap://127.0.0.1:$IMAP_PORT/INBOX" required "$CA" "$T/gw.pw"
start_gw && ok "gateway runs: smtps, imap+STARTTLS" || bad "gateway start" "$(tail -3 "$T/gw.log")"
post_for_carol r2 && ok "r2 accepted" || bad "r2 accepted"
wait_until 60 has_count carol INBOX 2 && ok "SMTPS + AUTH: mailed" || bad "SMTPS mailed" "$(tail -3 "$T/gw.log")"
check "m2 appended" append_for_bob m2
wait_until 60 has_received 2 && ok "IMAP STARTTLS: taken and delivered to bob" || bad "IMAP STARTTLS taken" "$(tail -3 "$T/gw.log")"
stop_gw && ok "SIGTERM: exit 0" || bad "SIGTERM" "exit $?"

# 3. the wrong CA: both servers refused, with the reason; nothing lost
gwconf "smtps://127.0.0.1:$SMTPS_PORT" required "$OTHER" "$T/gw.pw" "imaps://127.0.0.1:$IMAPS_PORT/INBOX" required "$OTHER" "$T/gw.pw"
auth0=$(grep -c '^AUTH' "$T/mail/smtpd.log")
start_gw && ok "gateway runs with a CA that signed neither server" || bad "gateway start" "$(tail -3 "$T/gw.log")"
post_for_carol r3 && ok "r3 accepted" || bad "r3 accepted"
check "m3 appended" append_for_bob m3
pat_smtp="carol@example.test: TLS with 127.0.0.1:$SMTPS_PORT: server certificate not trusted: .*(will retry)"
wait_until 60 logged "$pat_smtp" && ok "SMTPS, wrong CA: refused, will retry" || bad "SMTPS wrong CA" "$(tail -3 "$T/gw.log")"
pat_imap="127.0.0.1:$IMAPS_PORT/INBOX: TLS with 127.0.0.1:$IMAPS_PORT: server certificate not trusted: .*(again in"
wait_until 60 logged "$pat_imap" && ok "IMAPS, wrong CA: refused, tried again later" || bad "IMAPS wrong CA" "$(tail -3 "$T/gw.log")"
wait_until 60 eval '[ "$(grep -c "$pat_smtp" "$T/gw.log")" -ge 2 ]' && ok "SMTPS, wrong CA: retried again" || bad "retried again"
[ "$(imap_count carol INBOX)" = 2 ] && [ "$(received)" = 2 ] && [ "$(imap_count gw INBOX)" = 1 ] &&
	ok "nothing went through: r3 in the queue, m3 in the mailbox" || bad "nothing through" "carol $(imap_count carol INBOX) rx $(received) gw $(imap_count gw INBOX)"
# (dovecot's log cannot tell the gateway's logins from this script's own curl ones: a LOGIN
# with the right password would have succeeded and said "logged in")
[ "$(grep -c '^AUTH' "$T/mail/smtpd.log")" = "$auth0" ] && ! logged 'logged in' &&
	ok "no AUTH or LOGIN tried with an untrusted server" || bad "credentials offered to an untrusted server"
stop_gw && ok "SIGTERM: exit 0" || bad "SIGTERM" "exit $?"

# 4. STARTTLS, wrong CA; then the right CA but a host name the certificate does not name
gwconf "smtp://127.0.0.1:$SMTP_PORT" if-offered "$OTHER" "$T/gw.pw" "imap://127.0.0.1:$IMAP_PORT/INBOX" if-offered "$OTHER" "$T/gw.pw"
start_gw && ok "gateway runs: STARTTLS if offered, wrong CA" || bad "gateway start" "$(tail -3 "$T/gw.log")"
wait_until 60 logged "carol@example.test: TLS with 127.0.0.1:$SMTP_PORT: server certificate not trusted: .*(will retry)" &&
	ok "SMTP STARTTLS, wrong CA: refused" || bad "STARTTLS wrong CA" "$(tail -3 "$T/gw.log")"
wait_until 60 logged "TLS with 127.0.0.1:$IMAP_PORT: server certificate not trusted" &&
	ok "IMAP STARTTLS, wrong CA: refused" || bad "IMAP STARTTLS wrong CA" "$(tail -3 "$T/gw.log")"
stop_gw && ok "SIGTERM: exit 0" || bad "SIGTERM" "exit $?"
gwconf "smtps://localhost:$SMTPS_PORT" required "$CA" "$T/gw.pw" "imaps://localhost:$IMAPS_PORT/INBOX" required "$CA" "$T/gw.pw"
start_gw && ok "gateway runs: servers named localhost (the certificate names 127.0.0.1 and mail.example.test)" || bad "gateway start" "$(tail -3 "$T/gw.log")"
wait_until 60 logged "TLS with localhost:$SMTPS_PORT: server certificate not trusted: [Hh]ostname mismatch" &&
	ok "SMTPS, wrong host name: refused" || bad "SMTPS host name" "$(tail -3 "$T/gw.log")"
wait_until 60 logged "TLS with localhost:$IMAPS_PORT: server certificate not trusted: [Hh]ostname mismatch" &&
	ok "IMAPS, wrong host name: refused" || bad "IMAPS host name" "$(tail -3 "$T/gw.log")"
stop_gw && ok "SIGTERM: exit 0" || bad "SIGTERM" "exit $?"

# 5. a wrong password: AUTH and LOGIN fail, retried; then set right: everything held comes through
gwconf "smtps://127.0.0.1:$SMTPS_PORT" required "$CA" "$T/bad.pw" "imaps://127.0.0.1:$IMAPS_PORT/INBOX" required "$CA" "$T/bad.pw"
start_gw && ok "gateway runs with a wrong password" || bad "gateway start" "$(tail -3 "$T/gw.log")"
wait_until 60 logged "carol@example.test: AUTH: .*(will retry)" && ok "SMTP AUTH refused: will retry" || bad "AUTH refused" "$(tail -3 "$T/gw.log")"
wait_until 60 logged "127.0.0.1:$IMAPS_PORT/INBOX: LOGIN: .*(again in" && ok "IMAP LOGIN refused: tried again later" || bad "LOGIN refused" "$(tail -3 "$T/gw.log")"
stop_gw && ok "SIGTERM: exit 0" || bad "SIGTERM" "exit $?"
gwconf "smtps://127.0.0.1:$SMTPS_PORT" required "$CA" "$T/gw.pw" "imaps://127.0.0.1:$IMAPS_PORT/INBOX" required "$CA" "$T/gw.pw"
start_gw && ok "gateway runs, set right" || bad "gateway start" "$(tail -3 "$T/gw.log")"
wait_until 60 has_count carol INBOX 3 && ok "r3 mailed at last" || bad "r3 mailed" "$(tail -3 "$T/gw.log")"
wait_until 60 has_received 3 && ok "m3 taken at last" || bad "m3 taken" "$(tail -3 "$T/gw.log")"
wait_until 60 eval '[ "$(imap_count gw INBOX)" = 0 ]' && ok "gw's INBOX empty" || bad "gw INBOX empty" "$(imap_count gw INBOX)"
python3 tests/cli/check_ids.py "$TOOL" "$T/bob.json" "$T/rx" <(printf 'm1\nm2\nm3\n') 90 > "$T/check" 2>&1 &&
	ok "bob has m1 m2 m3: $(head -1 "$T/check")" || bad "bob's messages" "$(cat "$T/check")"
stop_gw && ok "SIGTERM: exit 0" || bad "SIGTERM" "exit $?"
[ "$(imap_count carol INBOX)" = 3 ] && ok "carol has exactly 3 mails" || bad "carol's mails" "$(imap_count carol INBOX)"

# 6. the one-shot delivery (queue flush) reads [smtp] as the daemon does: ca_file, TLS, AUTH
mk r4 "$BOB" "$CAROL" "$T/r4.json"; $TOOL pack --mode anoncrypt --to "$CAROL" "$T/r4.json" > "$T/r4.dcem"
check "r4 imported into the queue" $BIN import -c "$T/gw.conf" "$T/r4.dcem"
gwconf "smtps://127.0.0.1:$SMTPS_PORT" required "$OTHER" "$T/gw.pw" "imaps://127.0.0.1:$IMAPS_PORT/INBOX" required "$CA" "$T/gw.pw"
loginf=$(logins)
flush() { $BIN queue flush -c "$T/gw.conf" > "$T/flush" 2>&1; }
flush_sent() { flush && grep -q 'flush: 1 sent' "$T/flush"; }
flush && grep -q 'flush: 0 sent, 1 to retry later' "$T/flush" && ok "queue flush, wrong CA: to retry later" || bad "flush wrong CA" "$(cat "$T/flush")"
[ "$(imap_count carol INBOX)" = 3 ] && ok "nothing mailed" || bad "nothing mailed" "$(imap_count carol INBOX)"
gwconf "smtps://127.0.0.1:$SMTPS_PORT" required "$CA" "$T/gw.pw" "imaps://127.0.0.1:$IMAPS_PORT/INBOX" required "$CA" "$T/gw.pw"
wait_until 60 flush_sent && ok "queue flush, right CA + AUTH: sent" || bad "flush right CA" "$(cat "$T/flush")"
[ "$(imap_count carol INBOX)" = 4 ] && ok "r4 in carol's mailbox" || bad "r4 mailed" "$(imap_count carol INBOX)"
# (no curl logs in as gw since loginf; dovecot logs a login before it answers the client)
[ "$(logins)" = "$loginf" ] && ! grep -q 'imap' "$T/flush" && ok "queue flush started no IMAP session" ||
	bad "flush and imap" "logins $loginf -> $(logins); $(cat "$T/flush")"
# 7. send -c CONFIG: a mailto: endpoint through the config's [smtp] (TLS, AUTH)
mk r5 "$BOB" "$CAROL" "$T/r5.json"
$BIN send -c "$T/gw.conf" --to "$CAROL" "$T/r5.json" > "$T/send.out" 2>&1 && ok "send -c: delivered to carol's mailto: endpoint" ||
	bad "send -c" "$(cat "$T/send.out")"
[ "$(imap_count carol INBOX)" = 5 ] && ok "r5 in carol's mailbox" || bad "r5 mailed" "$(imap_count carol INBOX)"
cat "$T/gw.log" >> "$T/gw.all"
grep -q 's3cret\|n0t-the-pa55' "$T/gw.all" && bad "a password in the log" || ok "no password in the log"
summary integration-email-tls
