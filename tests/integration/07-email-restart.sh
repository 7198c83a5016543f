#!/usr/bin/env bash
# The IMAP side when the server goes away mid-batch (issue 11): 200 mails, each holding a
# DIDComm message for an HTTP agent (bob), wait in the gateway's INBOX; the gateway takes them
# in batches and dovecot is restarted while it is in the middle of them. Afterwards every
# message has reached bob (ids checked by unpacking at the receiver), none twice; INBOX is
# empty and Processed holds all 200 (none lost, none stuck, none rejected).
# Then the window between a mail's commit and its move, made to last: the Processed folder
# refuses new mail, so the mails' messages are committed but the mails stay in INBOX and are
# read again round after round; each is queued once all the same (the idempotency key: the
# mailbox, its UIDVALIDITY, the mail's UID, the part), and once the folder takes mail again
# they all move there. Everything is stopped by PID.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/common.inc
. tests/integration/mail/mail.inc
BIN=${BIN:-build/release/didcomm-gateway}
TOOL=build/release/didcomm-gateway; [ -x "$TOOL" ] || TOOL=$BIN
N=${MAIL_RESTART_N:-200}
STUCK_N=5
RPORT=$(free_port); GPORT=$(free_port)
mkdir -p "$T/rx" "$T/mail" "$T/m"
GPID="" RPID=""
stop_all() { [ -n "$GPID" ] && stop_pid "$GPID"; [ -n "$RPID" ] && stop_pid "$RPID"; mail_down; rm -rf "$T"; }
trap stop_all EXIT
chmod 755 "$T" # dovecot's auth process (user dovecot) must traverse it
MAIL_USERS="gw" mail_up "$T/mail" && ok "mail servers up" || { bad "mail servers up"; summary integration-email-restart; exit 1; }
python3 tests/cli/receiver.py "$RPORT" "$T/rx" & RPID=$!
wait_port "$RPORT" "$RPID"
printf 's3cret\n' > "$T/imap.pw"; chmod 600 "$T/imap.pw"
# batch 10: the 200 mails take twenty rounds, so that the restart lands among them
cat > "$T/gw.conf" <<CONF
state_dir $T/gw
rules $T/rules.conf
[queue]
retry_base 200ms
retry_max 2s
[http]
listen 127.0.0.1:$GPORT
[imap]
url imap://127.0.0.1:$IMAP_PORT/INBOX
username gw
password_file $T/imap.pw
processed Processed
rejected Rejected
batch 10
poll 1s
[outbound]
allow 127.0.0.0/8
CONF
printf 'default -> reject\n' > "$T/rules.conf"
start_gw() { $BIN run -c "$T/gw.conf" 2>>"$T/gw.log" & GPID=$!; wait_port "$GPORT" "$GPID"; }
stop_gw() { kill -TERM "$GPID"; wait "$GPID"; local rc=$?; GPID=""; return $rc; }
# a first start makes the gateway's DID; bob names the gateway as his mediator
start_gw && ok "gateway runs" || bad "gateway start" "$(tail -3 "$T/gw.log")"
GW=$(cat "$T/gw/did.txt")
$TOOL did resolve "$GW" > "$T/gw.doc"
GWKEY=$(json "$T/gw.doc" 'd["keyAgreement"][0]')
$TOOL did new --method peer2 --endpoint "http://127.0.0.1:$GPORT/" --routing-key "$GWKEY" --secrets "$T/bob.json" > "$T/bob"
BOB=$(cat "$T/bob")
printf 'to %s -> http http://127.0.0.1:%s/inbox\ndefault -> reject\n' "$BOB" "$RPORT" > "$T/rules.conf"
stop_gw && ok "stopped to fill the mailbox" || bad "stop" "exit $?"

mk() { printf '{"id":"%s","type":"https://didcomm.org/basicmessage/2.0/message","to":["%s"],"body":{"n":"%s"}}' "$1" "$2" "$1" > "$3"; }
for i in $(seq 1 "$N"); do mk "r$i" "$BOB" "$T/m/r$i.json"; echo "r$i"; done > "$T/accepted"
seq 1 "$N" | xargs -P 2 -I{} sh -c "$TOOL pack --mode anoncrypt --to '$BOB' '$T/m/r{}.json' > '$T/m/r{}.f'"
sent=$(python3 tests/integration/mail/mkmail.py lmtp "$LMTP_PORT" carol@example.test gw@example.test \
	$(seq -f "$T/m/r%g.f" 1 "$N"))
[ "$sent" = "$N" ] && [ "$(imap_count gw INBOX)" = "$N" ] && ok "$N mails wait in INBOX" || bad "mails in INBOX" "sent $sent, INBOX $(imap_count gw INBOX)"

# 1. dovecot restarted while the gateway is in the middle of the mails. Where a restart lands
# would otherwise depend on the machine's speed (all 200 can be through in well under a
# second), so the gateway is frozen (SIGSTOP) as soon as the first mails reach Processed, the
# server is restarted under it, and the gateway goes on (SIGCONT) with a session that is gone.
start_gw && ok "gateway started on the full mailbox" || bad "gateway start" "$(tail -3 "$T/gw.log")"
MBOX="$T/mail/mail/gw/Maildir"
in_processed() { find "$MBOX/.Processed/cur" "$MBOX/.Processed/new" -type f 2>/dev/null | wc -l; }
end=$((SECONDS + 120))
while [ "$(in_processed)" -lt 1 ] && [ $SECONDS -lt $end ] && kill -0 "$GPID"; do sleep 0.01; done
kill -STOP "$GPID"
left=$(imap_count gw INBOX)
done_then=$(imap_count gw Processed)
dovecot_restart && ok "dovecot restarted with $left of $N mails still in INBOX ($done_then in Processed)" \
	|| bad "dovecot restart" "$(tail -3 "$T/mail/dovecot.log")"
kill -CONT "$GPID"
[ "$left" -gt 0 ] && [ "$left" -lt "$N" ] && [ "$done_then" -gt 0 ] && ok "the restart came in the middle of the mails" \
	|| bad "mid-batch" "INBOX held $left of $N at the restart, Processed $done_then"
wait_until 120 grep -q 'reconnecting\|again in' "$T/gw.log" && ok "the adapter saw the session break" \
	|| bad "session break seen" "$(tail -3 "$T/gw.log")"
python3 tests/cli/check_ids.py "$TOOL" "$T/bob.json" "$T/rx" "$T/accepted" 180 > "$T/check" 2>&1 \
	&& ok "every message delivered: $(head -1 "$T/check")" || bad "every message delivered" "$(cat "$T/check")"
grep -q '; 0 duplicate deliveries$' "$T/check" && ok "none delivered twice" || bad "no duplicates" "$(head -1 "$T/check")"
wait_until 60 sh -c "[ \"\$(curl -s 'imap://gw:s3cret@127.0.0.1:$IMAP_PORT/Processed' -X 'SEARCH ALL' | tr -d '\r' | awk '/^\* SEARCH/ { print NF - 2 }')\" = $N ]"
[ "$(imap_count gw INBOX)" = 0 ] && [ "$(imap_count gw Processed)" = "$N" ] && [ "$(imap_count gw Rejected)" = 0 ] &&
	ok "INBOX empty, all $N in Processed, none rejected" ||
	bad "folders" "INBOX $(imap_count gw INBOX) Processed $(imap_count gw Processed) Rejected $(imap_count gw Rejected)"
[ "$(grep -c 'INBOX: logged in' "$T/gw.log")" -ge 3 ] && ok "logged in again after the restart" \
	|| bad "logged in again" "$(grep -c 'INBOX: logged in' "$T/gw.log") logins"
kill -0 "$GPID" && ok "the gateway kept running" || bad "gateway alive"

# 2. committed but not moved: the Processed folder (dovecot works as nobody) refuses new mail
PROC="$T/mail/mail/gw/Maildir/.Processed"
[ -d "$PROC/tmp" ] && chmod 0500 "$PROC" "$PROC/tmp" "$PROC/new" "$PROC/cur" && ok "Processed made read-only" \
	|| bad "Processed read-only" "$(ls -la "$T/mail/mail/gw/Maildir")"
rx0=$(ls "$T/rx" | grep -c '^msg-[0-9]*\.json$')
for i in $(seq 1 "$STUCK_N"); do mk "s$i" "$BOB" "$T/m/s$i.json"; echo "s$i"; done > "$T/stuck"
for i in $(seq 1 "$STUCK_N"); do $TOOL pack --mode anoncrypt --to "$BOB" "$T/m/s$i.json" > "$T/m/s$i.f"; done
sent=$(python3 tests/integration/mail/mkmail.py lmtp "$LMTP_PORT" carol@example.test gw@example.test \
	$(seq -f "$T/m/s%g.f" 1 "$STUCK_N"))
[ "$sent" = "$STUCK_N" ] && ok "$STUCK_N more mails" || bad "more mails" "$sent"
moves_failed() { [ "$(grep -c 'moving mails: error' "$T/gw.log")" -ge "$1" ]; }
wait_until 120 moves_failed 1 && ok "the move to Processed fails: $(grep -m1 'moving mails: error' "$T/gw.log" | cut -c1-160)" \
	|| bad "move fails" "$(tail -3 "$T/gw.log")"
# the mails are read again (two more failed moves: two more rounds over the same, committed mails)
wait_until 120 moves_failed 3 && ok "the same mails taken again, round after round" || bad "rounds" "$(tail -3 "$T/gw.log")"
grep -q 'taken in before (the same key and bytes)' "$T/gw.log" && ok "taken again: not queued again (the key)" \
	|| bad "the key" "$(grep 'accepted from' "$T/gw.log" | tail -2)"
[ "$(imap_count gw INBOX)" = "$STUCK_N" ] && ok "they stay in INBOX meanwhile" || bad "stay in INBOX" "$(imap_count gw INBOX)"
chmod 0700 "$PROC" "$PROC/tmp" "$PROC/new" "$PROC/cur"
wait_until 120 sh -c "[ \"\$(curl -s 'imap://gw:s3cret@127.0.0.1:$IMAP_PORT/INBOX' -X 'SEARCH ALL' | tr -d '\r' | awk '/^\* SEARCH/ { print NF - 2 }')\" = 0 ]"
[ "$(imap_count gw INBOX)" = 0 ] && [ "$(imap_count gw Processed)" = $((N + STUCK_N)) ] &&
	ok "once Processed takes mail again, all moved there" ||
	bad "moved at last" "INBOX $(imap_count gw INBOX) Processed $(imap_count gw Processed)"
python3 tests/cli/check_ids.py "$TOOL" "$T/bob.json" "$T/rx" "$T/stuck" 60 > "$T/check2" 2>&1 \
	&& ok "their messages delivered: $(head -1 "$T/check2")" || bad "delivered" "$(cat "$T/check2")"
rx1=$(ls "$T/rx" | grep -c '^msg-[0-9]*\.json$')
[ $((rx1 - rx0)) = "$STUCK_N" ] && ok "each exactly once at bob ($((rx1 - rx0)) deliveries for $STUCK_N mails)" \
	|| bad "exactly once" "$((rx1 - rx0)) deliveries for $STUCK_N mails"
stop_gw && ok "SIGTERM: exit 0" || bad "SIGTERM" "exit $?"
summary integration-email-restart
