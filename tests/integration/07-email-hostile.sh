#!/usr/bin/env bash
# Hostile mail in the gateway's IMAP mailbox (issue 11): malformed MIME (no boundary, a
# boundary that never occurs), a 20 MB attachment (over max_mail: never fetched), a 10 MB
# DIDComm part (fetched, over max_message_bytes), multiparts nested 100,000 deep (refused before
# parsing) and 40 deep, a DIDComm part in UTF-16, base64 errors, parts that claim a DIDComm
# media type and hold garbage. Each wraps a real message for bob, so only its breakage stops
# it. Each gets its own reason in the log and goes to Rejected; good mail that comes among
# them and after them is delivered and goes to Processed; the gateway keeps running and stops
# cleanly (under the sanitizer build: no report, no leak). Everything is stopped by PID.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/common.inc
. tests/integration/mail/mail.inc
BIN=${BIN:-build/release/didcomm-gateway}
TOOL=build/release/didcomm-gateway; [ -x "$TOOL" ] || TOOL=$BIN
RPORT=$(free_port); GPORT=$(free_port)
mkdir -p "$T/rx" "$T/mail" "$T/h"
GPID="" RPID=""
stop_all() { [ -n "$GPID" ] && stop_pid "$GPID"; [ -n "$RPID" ] && stop_pid "$RPID"; mail_down; rm -rf "$T"; }
trap stop_all EXIT
chmod 755 "$T" # dovecot's auth process (user dovecot) must traverse it
MAIL_USERS="gw" mail_up "$T/mail" && ok "mail servers up" || { bad "mail servers up"; summary integration-email-hostile; exit 1; }
python3 tests/cli/receiver.py "$RPORT" "$T/rx" & RPID=$!
wait_port "$RPORT" "$RPID"
printf 's3cret\n' > "$T/imap.pw"; chmod 600 "$T/imap.pw"
cat > "$T/gw.conf" <<CONF
state_dir $T/gw
rules $T/rules.conf
max_message_bytes 256k
[http]
listen 127.0.0.1:$GPORT
[imap]
url imap://127.0.0.1:$IMAP_PORT/INBOX
username gw
password_file $T/imap.pw
processed Processed
rejected Rejected
max_mail 16M
poll 1s
[outbound]
allow 127.0.0.0/8
CONF
printf 'default -> reject\n' > "$T/rules.conf"
start_gw() { $BIN run -c "$T/gw.conf" 2>>"$T/gw.log" & GPID=$!; wait_port "$GPORT" "$GPID"; }
stop_gw() { kill -TERM "$GPID"; wait "$GPID"; local rc=$?; GPID=""; return $rc; }
start_gw && ok "gateway runs" || bad "gateway start" "$(tail -3 "$T/gw.log")"
GW=$(cat "$T/gw/did.txt")
$TOOL did resolve "$GW" > "$T/gw.doc"
GWKEY=$(json "$T/gw.doc" 'd["keyAgreement"][0]')
$TOOL did new --method peer2 --endpoint "http://127.0.0.1:$GPORT/" --routing-key "$GWKEY" --secrets "$T/bob.json" > "$T/bob"
BOB=$(cat "$T/bob")
printf 'to %s -> http http://127.0.0.1:%s/inbox\ndefault -> reject\n' "$BOB" "$RPORT" > "$T/rules.conf"
kill -HUP "$GPID"
wait_until 30 grep -q "SIGHUP: reloaded" "$T/gw.log" || bad "rules reloaded"
mk() { printf '{"id":"%s","type":"https://didcomm.org/basicmessage/2.0/message","to":["%s"],"body":{}}' "$1" "$BOB" > "$T/$1.json"
	$TOOL pack --mode anoncrypt --to "$BOB" "$T/$1.json" > "$T/$1.f"; }
mk bad1; mk good1; mk good2
python3 tests/integration/mail/hostile.py "$T/h" carol@example.test gw@example.test "$T/bad1.f" > "$T/cases"
H=$(wc -l < "$T/cases")
python3 tests/integration/mail/mkmail.py didcomm carol@example.test gw@example.test "$T/good1.f" > "$T/good1.eml"
python3 tests/integration/mail/mkmail.py didcomm carol@example.test gw@example.test "$T/good2.f" > "$T/good2.eml"

# the hostile mails with a good one among them, in one delivery
files=()
i=0
while IFS=$'\t' read -r name _; do
	files+=("$T/h/$name.eml"); i=$((i + 1))
	[ $i = 5 ] && files+=("$T/good1.eml")
done < "$T/cases"
n=$(python3 tests/integration/mail/mkmail.py deliver "$LMTP_PORT" carol@example.test gw@example.test "${files[@]}")
[ "$n" = $((H + 1)) ] && ok "$H hostile mails and a good one delivered to INBOX" || bad "delivered" "$n of $((H + 1))"
# (a gateway that died ends the wait at once)
rejected_all() { [ "$(imap_count gw Rejected)" -ge "$H" ] || ! kill -0 "$GPID" 2>/dev/null; }
wait_until 300 rejected_all
kill -0 "$GPID" && ok "the gateway runs through them" || bad "the gateway died" "$(tail -3 "$T/gw.log")"
[ "$(imap_count gw Rejected)" = "$H" ] && ok "all $H in Rejected" || bad "in Rejected" "$(imap_count gw Rejected) of $H; $(tail -3 "$T/gw.log")"
# one line per mail, in uid order (the order of delivery): the mail's uid, the folder, its reason
grep -E 'uid [0-9]+ to Rejected: ' "$T/gw.log" | sed -E 's/.*uid [0-9]+ to Rejected: //' > "$T/reasons"
i=0
while IFS=$'\t' read -r name why; do
	i=$((i + 1))
	line=$(sed -n "${i}p" "$T/reasons")
	grep -qE -- "$why" <<<"$line" && ok "$name: $(cut -c1-110 <<<"$line")" || bad "$name: its reason in the log" "/$why/ is not '$line'"
done < "$T/cases"
[ "$(grep -c 'to Rejected: ' "$T/gw.log")" = "$H" ] && ok "one reason line per mail ($H)" || bad "one line per mail" "$(grep -c 'to Rejected: ' "$T/gw.log")"
python3 tests/cli/check_ids.py "$TOOL" "$T/bob.json" "$T/rx" <(echo good1) 60 > "$T/check" 2>&1 \
	&& ok "the good mail among them is delivered" || bad "good mail among them" "$(cat "$T/check")"
kill -0 "$GPID" && ok "the gateway keeps running" || bad "gateway alive"

# good mail after them
n=$(python3 tests/integration/mail/mkmail.py deliver "$LMTP_PORT" carol@example.test gw@example.test "$T/good2.eml")
python3 tests/cli/check_ids.py "$TOOL" "$T/bob.json" "$T/rx" <(printf 'good1\ngood2\n') 60 > "$T/check" 2>&1 \
	&& ok "good mail after them is delivered: $(head -1 "$T/check")" || bad "good mail after" "$(cat "$T/check")"
processed_2() { [ "$(imap_count gw Processed)" -ge 2 ] && [ "$(imap_count gw INBOX)" = 0 ]; }
wait_until 60 processed_2 && [ "$(imap_count gw Processed)" = 2 ] && [ "$(imap_count gw Rejected)" = "$H" ] &&
	ok "INBOX empty; Processed 2, Rejected $H" ||
	bad "folders" "INBOX $(imap_count gw INBOX) Processed $(imap_count gw Processed) Rejected $(imap_count gw Rejected)"
# the rejected mails are kept whole (never deleted unread): the big one is still 20 MB and more
big=$(curl -s "imap://gw:s3cret@127.0.0.1:$IMAP_PORT/Rejected" -X 'FETCH 1:* RFC822.SIZE' | tr -d '\r' |
	grep -oE 'RFC822.SIZE [0-9]+' | awk '{ if ($2 > m) m = $2 } END { print m + 0 }')
[ "$big" -gt $((20 << 20)) ] && ok "kept whole in Rejected (largest $big bytes)" || bad "kept whole" "largest $big"
grep -E 'runtime error|AddressSanitizer|LeakSanitizer' "$T/gw.log" > "$T/san" && bad "sanitizer report" "$(head -c 400 "$T/san")" || ok "no sanitizer report"
stop_gw && ok "SIGTERM: exit 0" || bad "SIGTERM" "exit $? $(grep -E 'Sanitizer|runtime error' "$T/gw.log" | head -3)"
grep -E 'runtime error|AddressSanitizer|LeakSanitizer' "$T/gw.log" > "$T/san" && bad "sanitizer report at exit" "$(head -c 400 "$T/san")" || ok "no sanitizer report at exit"
summary integration-email-hostile
