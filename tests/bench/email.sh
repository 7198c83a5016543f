#!/usr/bin/env bash
# Email benchmark (issue 11): EMAIL_BENCH_N (1,000) mails, each holding a forward-wrapped
# anoncrypt DIDComm message for an HTTP agent, wait in the gateway's INBOX on a real dovecot
# (tests/integration/mail/mail.inc). In the same run:
#   ceiling  curl fetches the same mails over plain IMAP, one UID FETCH per mail on one
#            connection. The adapter fetches a batch's bodies in one command (at most max_mail
#            bytes each), so it can beat this "ceiling"; curl cannot fetch that way (see below)
#   gateway  build/release/didcomm-gateway takes them (IMAP -> queue -> HTTP POST to a local
#            receiver), from its IMAP login to the last message at the receiver, to the last
#            mail out of INBOX (moved to Processed after its commit), and to both
# Prints mails/s for each and the gateway's rate (both done) as a share of curl's.
#   bash tests/bench/email.sh         (also run by `make bench`)
#   EMAIL_BENCH_N=1000  EMAIL_BENCH_BATCH=50 ([imap] batch)  EMAIL_BENCH_WAIT=300 (seconds)
#   BIN=...             the daemon
# Exit status: non-zero only if the benchmark cannot be set up or the mails do not all arrive.
# Every process started here is stopped by its PID; the temporary directory is removed.
set -u
cd "$(dirname "$0")/../.." || exit 1
BIN=${BIN:-build/release/didcomm-gateway}
N=${EMAIL_BENCH_N:-1000}
BATCH=${EMAIL_BENCH_BATCH:-50}
WAIT=${EMAIL_BENCH_WAIT:-300}
[ -x "$BIN" ] || { echo "email bench: $BIN missing (run make)" >&2; exit 1; }
command -v dovecot >/dev/null || { echo "email bench: dovecot not installed" >&2; exit 1; }
# the tests' helpers (free_port, wait_port, wait_until) and mail servers; T is the temporary dir
. tests/cli/common.inc
. tests/integration/mail/mail.inc
GPID="" RPID=""
cleanup() { [ -n "$GPID" ] && stop_pid "$GPID"; [ -n "$RPID" ] && stop_pid "$RPID"; mail_down; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
fail() { echo "email bench: $*" >&2; exit 1; }
chmod 755 "$T"
mkdir -p "$T/mail" "$T/m" "$T/curl"
MAIL_USERS="gw" mail_up "$T/mail" >/dev/null 2>&1 || fail "mail servers did not start"
# the HTTP agent: counts POSTs (keep-alive), writes the time of the first and of the Nth
RPORT=$(free_port); GPORT=$(free_port)
cat > "$T/sink.py" <<'PY'
import http.server, sys, threading, time
port, n, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
count, lock = 0, threading.Lock()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_POST(self):
        global count
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(202); self.send_header("Content-Length", "0"); self.end_headers()
        with lock:
            count += 1
            if count == 1 or count == n:
                with open(out, "a") as f:
                    f.write("%d %.6f\n" % (count, time.time()))
class S(http.server.ThreadingHTTPServer):
    request_queue_size = 256  # (the default 5 drops the SYNs of the gateway's parallel connections: 1 s each)
S(("127.0.0.1", port), H).serve_forever()
PY
python3 "$T/sink.py" "$RPORT" "$N" "$T/sink.times" & RPID=$!
wait_port "$RPORT" "$RPID" || fail "the receiver did not start"
printf 's3cret\n' > "$T/imap.pw"; chmod 600 "$T/imap.pw"
cat > "$T/gw.conf" <<CONF
state_dir $T/gw
rules $T/rules.conf
log_level info
[queue]
per_peer_rate 1000000
[http]
listen 127.0.0.1:$GPORT
[imap]
url imap://127.0.0.1:$IMAP_PORT/INBOX
username gw
password_file $T/imap.pw
processed Processed
rejected Rejected
batch $BATCH
[outbound]
allow 127.0.0.0/8
CONF
printf 'default -> reject\n' > "$T/rules.conf"
# a first run makes the gateway's DID (and logs in on an empty INBOX); bob names it his mediator
"$BIN" run -c "$T/gw.conf" 2>>"$T/gw.log" & GPID=$!
wait_port "$GPORT" "$GPID" || fail "the gateway did not start: $(tail -2 "$T/gw.log")"
GW=$(cat "$T/gw/did.txt") && "$BIN" did resolve "$GW" > "$T/gw.doc" &&
	GWKEY=$(json "$T/gw.doc" 'd["keyAgreement"][0]') || fail "no gateway DID"
"$BIN" did new --method peer2 --endpoint "http://127.0.0.1:$GPORT/" --routing-key "$GWKEY" --secrets "$T/bob.json" > "$T/bob"
BOB=$(cat "$T/bob")
printf 'to %s -> http http://127.0.0.1:%s/inbox\ndefault -> reject\n' "$BOB" "$RPORT" > "$T/rules.conf"
stop_pid "$GPID"; GPID=""
# the mails
for i in $(seq 1 "$N"); do
	printf '{"id":"b%d","type":"https://didcomm.org/basicmessage/2.0/message","to":["%s"],"body":{"content":"message %d"}}' \
		"$i" "$BOB" "$i" > "$T/m/b$i.json"
done
seq 1 "$N" | xargs -P 2 -I{} sh -c "'$BIN' pack --mode anoncrypt --to '$BOB' '$T/m/b{}.json' > '$T/m/b{}.f'" ||
	fail "packing failed"
sent=$(python3 tests/integration/mail/mkmail.py lmtp "$LMTP_PORT" carol@example.test gw@example.test \
	$(seq -f "$T/m/b%g.f" 1 "$N")) && [ "$sent" = "$N" ] || fail "only $sent of $N mails delivered to INBOX"
[ "$(imap_count gw INBOX)" = "$N" ] || fail "INBOX holds $(imap_count gw INBOX), not $N"
bytes=$(du -sb "$T/mail/mail/gw/Maildir/new" "$T/mail/mail/gw/Maildir/cur" | awk '{ s += $1 } END { print s }')
now() { date +%s.%N; }
rate() { python3 -c 'import sys; n, t = float(sys.argv[1]), float(sys.argv[2]); print("%.0f" % (n / t) if t > 0 else "inf")' "$1" "$2"; }
dt() { python3 -c 'import sys; print("%.3f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$1" "$2"; }

# ceiling: curl, one UID FETCH per mail on one connection. (A fetch of many mails in one
# command is beyond the curl tool: it reads a custom command's answer as headers and gives up
# at 300 kB on a connection, and writes only some of the answer's lines.)
U="imap://gw:s3cret@127.0.0.1:$IMAP_PORT/INBOX"
uids=$(imap_uids gw INBOX | tr '\n' ',' | sed 's/,$//')
t0=$(now)
curl -s "$U;UID={$uids}" -o "$T/curl/#1.eml" || fail "curl fetch failed"
t1=$(now)
got=$(ls "$T/curl" | wc -l)
[ "$got" = "$N" ] || fail "curl fetched $got of $N"
curl_s=$(dt "$t0" "$t1")
rm -rf "$T/curl"

# the gateway: from its IMAP login to the Nth message at the receiver, and to an empty INBOX
: > "$T/gw.log"
"$BIN" run -c "$T/gw.conf" 2>>"$T/gw.log" & GPID=$!
wait_port "$GPORT" "$GPID" || fail "the gateway did not start again: $(tail -2 "$T/gw.log")"
in_inbox() { find "$T/mail/mail/gw/Maildir/new" "$T/mail/mail/gw/Maildir/cur" -type f | wc -l; }
end=$((SECONDS + WAIT))
t_inbox=""
while [ $SECONDS -lt "$end" ]; do
	kill -0 "$GPID" 2>/dev/null || fail "the gateway died: $(tail -3 "$T/gw.log")"
	[ -z "$t_inbox" ] && [ "$(in_inbox)" = 0 ] && t_inbox=$(now)
	[ -n "$t_inbox" ] && grep -q "^$N " "$T/sink.times" 2>/dev/null && break
	sleep 0.02
done
grep -q "^$N " "$T/sink.times" 2>/dev/null || fail "only part of the $N messages reached the receiver in ${WAIT}s"
# the login's time, from the log line's own timestamp (UTC, ms)
t_login=$(grep -m1 'INBOX: logged in' "$T/gw.log" | python3 -c '
import datetime, sys
ts = sys.stdin.read().split()[0].rstrip("Z")
print(datetime.datetime.fromisoformat(ts).replace(tzinfo=datetime.timezone.utc).timestamp())')
t_last=$(awk -v n="$N" '$1 == n { print $2 }' "$T/sink.times")
gw_s=$(dt "$t_login" "$t_last"); in_s=$(dt "$t_login" "$t_inbox")
all_s=$(python3 -c 'import sys; print("%.3f" % max(map(float, sys.argv[1:])))' "$gw_s" "$in_s")
processed=$(imap_count gw Processed); rejected=$(imap_count gw Rejected)
stop_pid "$GPID"; GPID=""

load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "email bench: $N mails ($((bytes / N)) bytes each on average), dovecot on 127.0.0.1, $(nproc) cores, load average $load"
printf '  %-58s %8s s %8s mails/s\n' "curl: one UID FETCH per mail, one connection (ceiling)" "$curl_s" "$(rate "$N" "$curl_s")"
printf '  %-58s %8s s %8s mails/s\n' "gateway: IMAP -> queue, INBOX empty (batch $BATCH)" "$in_s" "$(rate "$N" "$in_s")"
printf '  %-58s %8s s %8s mails/s\n' "gateway: IMAP -> queue -> HTTP receiver, last delivery" "$gw_s" "$(rate "$N" "$gw_s")"
printf '  %-58s %8s s %8s mails/s\n' "gateway: both done (delivered, INBOX empty)" "$all_s" "$(rate "$N" "$all_s")"
python3 -c 'import sys; print("  gateway (both done) / curl: %.0f %%" % (100 * float(sys.argv[1]) / float(sys.argv[2])))' "$curl_s" "$all_s"
echo "  folders afterwards: Processed $processed, Rejected $rejected, INBOX $(imap_count gw INBOX)"
[ "$processed" = "$N" ] || fail "Processed holds $processed, not $N"
