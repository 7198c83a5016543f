#!/usr/bin/env bash
# The file adapter with real folders on this machine: a message dropped into a watched folder
# reaches an HTTP receiver (file -> HTTP) and the file goes; a message POSTed over HTTP is
# written into an outbox folder (HTTP -> file) atomically, and its recipient unpacks it; a
# file copied slowly in pieces is taken once, whole; files dropped while the gateway is down
# are taken at the start; kill -9 while 300 files are being taken, restart: every one
# delivered; ordinal prefixes and modification times give the order; garbage, a symlink, a
# file over max_message_bytes, an unreadable file are refused with a .reason beside them, and
# other files are ignored; file: endpoints from DID documents are written only below
# allow_endpoint. Everything is stopped by PID.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/common.inc
BIN=${BIN:-build/release/didcomm-gateway}
TOOL=build/release/didcomm-gateway; [ -x "$TOOL" ] || TOOL=$BIN
RPORT=$(free_port); GPORT=$(free_port)
mkdir -p "$T/rx" "$T/in" "$T/outbox" "$T/drop/ok" "$T/elsewhere" "$T/nested/000.thid"
python3 tests/cli/receiver.py "$RPORT" "$T/rx" & RPID=$!
GPID=""
stop_all() { [ -n "$GPID" ] && kill "$GPID" 2>/dev/null; kill "$RPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap stop_all EXIT
wait_port "$RPORT" "$RPID"
cat > "$T/gw.conf" <<CONF
state_dir $T/gw
rules $T/rules.conf
log_level debug
max_message_bytes 64k
[queue]
retry_base 200ms
[http]
listen 127.0.0.1:$GPORT
[file]
watch $T/in tag dropped
settle 1s
rescan 2s
allow_endpoint $T/drop
[outbound]
allow 127.0.0.0/8
CONF
echo 'default -> hold 1h' > "$T/rules.conf"
# as root, the gateway runs without the capabilities that read past file modes (CAP_DAC_*), so
# that an unreadable file is unreadable to it as it would be to a daemon's own user
NODAC=""
[ "$(id -u)" = 0 ] && setpriv --bounding-set=-dac_override,-dac_read_search true 2>/dev/null &&
	NODAC="setpriv --bounding-set=-dac_override,-dac_read_search"
start_gw() { $NODAC $BIN run -c "$T/gw.conf" 2>>"$T/gw.log" & GPID=$!; wait_port "$GPORT" "$GPID"; }
stop_gw() { kill -TERM "$GPID"; wait "$GPID"; local rc=$?; GPID=""; return $rc; }
start_gw && ok "gateway with [file] starts" || bad "gateway starts" "$(tail -3 "$T/gw.log")"
GW=$(cat "$T/gw/did.txt")
$TOOL did resolve "$GW" > "$T/gw.doc"
GWKEY=$(json "$T/gw.doc" 'd["keyAgreement"][0]')
$TOOL did new --method peer2 --secrets "$T/alice.json" > "$T/alice"
$TOOL did new --method peer2 --endpoint "http://127.0.0.1:$GPORT/" --routing-key "$GWKEY" --secrets "$T/bob.json" > "$T/bob"
$TOOL did new --method peer2 --endpoint "http://127.0.0.1:$GPORT/" --routing-key "$GWKEY" --secrets "$T/carol.json" > "$T/carol"
$TOOL did new --method peer2 --secrets "$T/dan.json" > "$T/dan"; DAN=$(cat "$T/dan")
# dave's and eve's DID documents name file: endpoints (anyone's: untrusted)
$TOOL did new --method peer2 --endpoint "file://$T/drop/ok" --secrets "$T/dave.json" > "$T/dave"
$TOOL did new --method peer2 --endpoint "file://$T/elsewhere" --secrets "$T/eve.json" > "$T/eve"
ALICE=$(cat "$T/alice"); BOB=$(cat "$T/bob"); CAROL=$(cat "$T/carol"); DAVE=$(cat "$T/dave"); EVE=$(cat "$T/eve")
cat > "$T/rules.conf" <<RULES
to $CAROL -> file $T/outbox
to $DAN -> file $T/nested
to $BOB -> http http://127.0.0.1:$RPORT/inbox
default -> resolve
RULES
kill -HUP "$GPID"
wait_until 60 grep -q "SIGHUP: reloaded" "$T/gw.log"
mk() { printf '{"id":"%s","type":"https://didcomm.org/basicmessage/2.0/message","from":"%s","to":["%s"],"body":{"n":"%s"}}' "$1" "$ALICE" "$2" "$1" > "$3"; }
for_bob() { mk "$1" "$BOB" "$T/$1.json"; $TOOL pack --mode anoncrypt --to "$BOB" "$T/$1.json"; }
received() { ls "$T/rx"/msg-*.json 2>/dev/null | wc -l; }
wait_received() { wait_until 120 eval "[ \"\$(received)\" -ge $1 ]"; }
wait_gone() { wait_until 120 eval "[ ! -e '$1' ]"; }
wait_file() { wait_until 120 eval "[ -e '$1' ]"; }
ids_at_rx() { for f in "$T/rx"/msg-*.json; do $TOOL unpack --secrets "$T/bob.json" "$f" 2>/dev/null; echo; done |
	python3 -c 'import sys,json; [print(json.loads(l)["id"]) for l in sys.stdin if l.strip()]' | sort; }

# 1. file -> HTTP: written aside, renamed in (the extension's way); the file goes after the commit
for_bob one > "$T/in/.one.part"; mv "$T/in/.one.part" "$T/in/one.dcem"
wait_received 1 && ok "file -> HTTP: delivered" || bad "file -> HTTP" "$(tail -5 "$T/gw.log")"
wait_gone "$T/in/one.dcem" && ok "the file is removed after the commit" || bad "file removed" "$(ls -la "$T/in")"
[ -z "$(ls -A "$T/in")" ] && ok "nothing left in the folder (no claim, no temporary)" || bad "folder empty" "$(ls -A "$T/in")"
ids_at_rx | grep -qx one && ok "bob reads it" || bad "bob reads it"

# 2. HTTP -> file: POSTed for carol, written into the outbox folder, carol unpacks it
mk two "$CAROL" "$T/two.json"
$TOOL pack --mode anoncrypt --to "$CAROL" "$T/two.json" > "$T/two.f"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/didcomm-encrypted+json' --data-binary @"$T/two.f" "http://127.0.0.1:$GPORT/")
[ "$code" = 202 ] && ok "POST for carol: 202" || bad "POST for carol" "$code"
wait_until 120 eval '[ -n "$(ls "$T/outbox" 2>/dev/null)" ]'
f=$(ls "$T/outbox" | head -1)
case "$f" in *.dcem) ok "HTTP -> file: $f written";; *) bad "HTTP -> file" "$(ls -la "$T/outbox"; tail -5 "$T/gw.log")";; esac
[ "$(ls -A "$T/outbox" | wc -l)" = 1 ] && ok "one file, no temporary left" || bad "outbox" "$(ls -A "$T/outbox")"
[ "$(stat -c %a "$T/outbox/$f" 2>/dev/null)" = 600 ] && ok "written 0600" || bad "mode" "$(stat -c %a "$T/outbox/$f")"
$TOOL unpack --secrets "$T/carol.json" "$T/outbox/$f" 2>/dev/null | grep -q '"id":"two"' && ok "carol unpacks it" || bad "carol unpacks"
# nesting observed: an outbox folder with a .thid placeholder gets per-thread folders
mk three "$DAN" "$T/three.json"
$TOOL pack --mode anoncrypt --to "$DAN" --no-forward "$T/three.json" > "$T/three.f"
curl -s -o /dev/null -H 'Content-Type: application/didcomm-encrypted+json' --data-binary @"$T/three.f" "http://127.0.0.1:$GPORT/"
wait_until 60 sh -c "find '$T/nested' -name '*.dcem' | grep -q ."
p=$(find "$T/nested" -name '*.dcem' | head -1)
case "$p" in "$T/nested/"?*.thid/*.dcem) ok "per-thread nesting observed and used: ${p#$T/nested/}";;
	*) bad "nesting" "$p $(find "$T/nested"; tail -3 "$T/gw.log")";; esac
[ -n "$p" ] && $TOOL unpack --secrets "$T/dan.json" "$p" 2>/dev/null | grep -q '"id":"three"' && ok "dan unpacks it" || bad "dan unpacks"

# 3. a file copied slowly in pieces under its final name: taken once, whole
for_bob slow > "$T/slow.f"
sz=$(stat -c %s "$T/slow.f"); third=$((sz / 3 + 1))
before=$(received)
# (a writer's pace, not a wait: each piece well within settle, 1 s)
head -c "$third" "$T/slow.f" > "$T/in/slow.dcem"; sleep 0.3
tail -c +$((third + 1)) "$T/slow.f" | head -c "$third" >> "$T/in/slow.dcem"; sleep 0.3
tail -c +$((2 * third + 1)) "$T/slow.f" >> "$T/in/slow.dcem"
wait_received $((before + 1)) && ok "slow copy: delivered" || bad "slow copy" "$(tail -5 "$T/gw.log")"
wait_gone "$T/in/slow.dcem" # removed after its commit: nothing left to take a second time
[ "$(ls "$T/in" | grep -c refused)" = 0 ] && ok "slow copy: no half taken and refused" || bad "slow copy refused" "$(ls "$T/in"; cat "$T"/in/*.reason)"
[ "$(grep -c "taken $T/in/slow.dcem" "$T/gw.log")" = 1 ] && ok "slow copy: taken exactly once" || bad "taken once" "$(grep -c "taken $T/in/slow.dcem" "$T/gw.log")"

# 4. refusals, each with a clear reason; other files ignored
echo 'not json' > "$T/in/garbage.dcem"
# half-written under its final name by a writer that crashed (no rename, never finished): once
# it has settled it is taken, and refused as the broken message it is
for_bob half 2>/dev/null | head -c 300 > "$T/in/half.dcem"; touch -d '1 minute ago' "$T/in/half.dcem"
ln -s /etc/passwd "$T/in/link.dcem"
head -c 70000 /dev/zero | tr '\0' 'a' > "$T/in/big.dcem"
for_bob unreadable > "$T/in/unreadable.dcem"; chmod 000 "$T/in/unreadable.dcem"
truncate -s 50M "$T/in/huge.dcem"; touch -d '1 minute ago' "$T/in/huge.dcem"
echo 'hello' > "$T/in/notes.txt"
for_bob sub > "$T/in/sub.dcem.tmp"
mkfifo "$T/in/fifo.dcem" # a special file: must not hang the reader
for r in garbage half link big huge fifo; do
	wait_file "$T/in/$r.dcem.reason" && ok "$r: refused: $(head -c 100 "$T/in/$r.dcem.reason")" || bad "$r refused" "$(ls "$T/in")"
done
[ -e "$T/in/garbage.dcem.refused" ] && [ ! -e "$T/in/garbage.dcem" ] && ok "garbage renamed out of the extension set" || bad "garbage renamed"
[ -L "$T/in/link.dcem.refused" ] && ok "the symlink itself set aside (not followed)" || bad "symlink aside" "$(ls -la "$T/in")"
if [ "$(id -u)" != 0 ] || [ -n "$NODAC" ]; then
	wait_file "$T/in/unreadable.dcem.reason" && ok "unreadable: $(head -c 100 "$T/in/unreadable.dcem.reason")" || bad "unreadable"
else
	echo "SKIP unreadable: root with no way to drop CAP_DAC_OVERRIDE"
fi
[ -e "$T/in/notes.txt" ] && [ -e "$T/in/sub.dcem.tmp" ] && ok "other files ignored (sub.dcem.tmp: a writer that crashed before its rename)" || bad "other files"
kill -0 "$GPID" && ok "still running" || bad "still running"

# 5. per-thread subfolders are read; other subfolders are not
before=$(received)
mkdir -p "$T/in/abc.thid" "$T/in/4ed.threads/4edb.thid" "$T/in/archive"
for_bob inthid > "$T/in/abc.thid/x.dcem"
for_bob inthreads > "$T/in/4ed.threads/4edb.thid/y.dcem"
for_bob archived > "$T/in/archive/z.dcem"
wait_received $((before + 2)) && ok "messages in .thid and .threads/.thid folders delivered" || bad "subfolders" "$(tail -3 "$T/gw.log")"
# a marker dropped after them: once it is delivered, the folder has been read after archive/z.dcem arrived
for_bob mark5 > "$T/in/mark5.dcem"
wait_received $((before + 3))
[ -e "$T/in/archive/z.dcem" ] && [ "$(received)" = $((before + 3)) ] && ok "a subfolder of another name is ignored" || bad "archive ignored"

# 6. order: dropped while the gateway is down, taken in the extension's order at the start
stop_gw && ok "SIGTERM: exit 0" || bad "SIGTERM"
before=$(received)
for n in 10--c 2--b 1--a; do for_bob "$n" > "$T/in/$n.dcem"; done
for_bob plain1 > "$T/in/plain1.dcem"; touch -d '2 minutes ago' "$T/in/plain1.dcem"
for_bob plain2 > "$T/in/plain2.dcem"; touch -d '1 minute ago' "$T/in/plain2.dcem"
: > "$T/gw.log"
start_gw && ok "restarted" || bad "restart"
wait_received $((before + 5)) && ok "files dropped while down: all delivered" || bad "dropped while down" "$(received)"
order=$(grep -o "taken $T/in/[^ ]*" "$T/gw.log" | sed "s|taken $T/in/||; s|\.dcem$||" | tr '\n' ' ')
[ "$order" = "plain1 plain2 1--a 2--b 10--c " ] && ok "taken in order: $order" || bad "order" "$order"

# 7. kill -9 while 300 files are being taken: restart, every one delivered (at least once)
N=${FILE_N:-300}
mkdir -p "$T/k"
for i in $(seq 1 "$N"); do mk "k$i" "$BOB" "$T/k/k$i.json"; echo "k$i"; done > "$T/accepted"
seq 1 "$N" | xargs -P 4 -I{} sh -c "$TOOL pack --mode anoncrypt --to '$BOB' '$T/k/k{}.json' > '$T/k/k{}.dcem'"
mv "$T"/k/*.dcem "$T/in/"
for i in $(seq 1 300); do left=$(ls "$T/in" | grep -c '^k.*\.dcem$'); [ "$left" -lt $((N * 2 / 3)) ] && break; sleep 0.02; done
kill -9 "$GPID"; wait "$GPID" 2>/dev/null; GPID=""
left=$(ls "$T/in" | grep -c '^k.*\.dcem')
[ "$left" -gt 0 ] && ok "killed while taking ($left of $N not taken yet)" || bad "kill -9 too late" "$left left"
start_gw && ok "restarted after kill -9" || bad "restart after kill -9"
python3 tests/cli/check_ids.py "$TOOL" "$T/bob.json" "$T/rx" "$T/accepted" 90 > "$T/check" 2>&1 \
	&& ok "every file delivered after kill -9: $(head -1 "$T/check")" || bad "kill -9" "$(cat "$T/check")"
wait_until 120 eval '[ "$(ls "$T/in" | grep -c "^k")" = 0 ]'
[ "$(ls "$T/in" | grep -c '^k')" = 0 ] && ok "every file and claim removed" || bad "files left" "$(ls "$T/in" | grep '^k' | head -3)"

# 7b. kill -9 while 5,000 files are being taken in (held for xav): after the restart every
# file is in the queue exactly once and none is left behind. A file whose commit came before
# the kill but whose removal did not is taken again at the restart; the idempotency key (its
# place, size and modification time, bound to its bytes) stored with the queue items in the
# same transaction makes that second take add nothing. FILE_KILL_ROUNDS repeats it.
$TOOL did new --method peer2 --secrets "$T/xav.json" > "$T/xav"; XAV=$(cat "$T/xav")
printf 'to %s -> hold 1h\n' "$XAV" | cat - "$T/rules.conf" > "$T/rules2"; mv "$T/rules2" "$T/rules.conf"
kill -HUP "$GPID"
wait_until 60 grep -q "SIGHUP: reloaded" "$T/gw.log"
M=${FILE_KILL_N:-5000}
mk xk "$XAV" "$T/xk.json"; $TOOL pack --mode anoncrypt --to "$XAV" --no-forward "$T/xk.json" > "$T/xk.env"
# how many are held for xav: counted by an export of them (which leaves them held)
held() { mkdir -p "$T/count"; rm -f "$T/count"/*; $BIN export --to "$T/count" --for "$XAV" -c "$T/gw.conf" | sed -n 's/^export: \([0-9]*\) held.*/\1/p'; }
base=0
for round in $(seq 1 "${FILE_KILL_ROUNDS:-1}"); do
	mkdir -p "$T/stage"
	python3 - "$T/xk.env" "$T/stage" "$M" "$round" <<'PY'
import sys
env = open(sys.argv[1], "rb").read().strip()
for i in range(int(sys.argv[3])):  # distinct bytes (JSON whitespace), the same envelope
    open("%s/x%s-%05d.dcem" % (sys.argv[2], sys.argv[4], i), "wb").write(b"{" + b"".join(b" " * int(d) + b"\t" for d in sys.argv[4] + str(i)) + env[1:])
PY
	# (mv may complain it cannot stat a file the gateway has claimed the moment it arrived;
	# the count below says whether any was lost)
	find "$T/stage" -name '*.dcem' -exec mv -t "$T/in" {} + 2>/dev/null
	wait_until 120 sh -c "[ \$(ls '$T/in' | grep -c '^x.*\.dcem\$') -lt $((M * 2 / 3)) ]"
	kill -9 "$GPID"; wait "$GPID" 2>/dev/null; GPID=""
	left=$(ls "$T/in" | grep -c '^x.*\.dcem'); claims=$(ls "$T/in" | grep -c '\.taking$')
	[ "$left" -gt 0 ] && ok "round $round: killed while taking ($left of $M not taken yet, $claims claims in hand)" || bad "kill -9 too late" "$left"
	again=$(grep -c "taken in before" "$T/gw.log")
	start_gw && ok "restarted" || bad "restart"
	wait_until 300 sh -c "[ \$(ls '$T/in' | grep -c '^x') = 0 ]"
	[ "$(ls "$T/in" | grep -c '^x')" = 0 ] && ok "every file taken, no claim left" || bad "files left" "$(ls "$T/in" | grep -c '^x')"
	h=$(held)
	again=$(( $(grep -c "taken in before" "$T/gw.log") - again ))
	[ "$h" = $((base + M)) ] && ok "round $round: all $M in the queue exactly once after kill -9 ($again taken again at the restart, each recognised by its key: 0 duplicates, 0 lost)" \
		|| bad "after kill -9" "$((h - base)) of $M queued ($again recognised by their key)"
	[ "$(ls "$T/in" | grep -c '^x.*refused')" = 0 ] && ok "none refused" || bad "refused" "$(ls "$T/in" | grep '^x.*refused' | head -3)"
	base=$h
done

# 8. file: endpoints from DID documents: below allow_endpoint written, elsewhere refused
mk four "$DAVE" "$T/four.json"; $TOOL pack --mode anoncrypt --to "$DAVE" --no-forward "$T/four.json" > "$T/four.f"
mk five "$EVE" "$T/five.json"; $TOOL pack --mode anoncrypt --to "$EVE" --no-forward "$T/five.json" > "$T/five.f"
# alice's messages reach us wrapped in a forward for the gateway
wrap() { python3 - "$1" "$2" "$3" <<'PY' > "$T/$4.fwd.json"
import json,sys,uuid
print(json.dumps({"id":str(uuid.uuid4()),"type":"https://didcomm.org/routing/2.0/forward","to":[sys.argv[1]],"body":{"next":sys.argv[2]},"attachments":[{"data":{"json":json.load(open(sys.argv[3]))}}]}))
PY
	$TOOL pack --mode anoncrypt --to "$GW" --no-forward "$T/$4.fwd.json"; }
# (written beside the folder and moved in whole: a file the shell is still writing is a half
# copy, which the gateway is right to refuse once it has settled)
wrap "$GW" "$DAVE" "$T/four.f" four > "$T/four.dcem" && mv "$T/four.dcem" "$T/in/"
wrap "$GW" "$EVE" "$T/five.f" five > "$T/five.dcem" && mv "$T/five.dcem" "$T/in/"
wait_until 120 eval '[ -n "$(ls "$T/drop/ok")" ]'
f=$(ls "$T/drop/ok" | head -1)
[ -n "$f" ] && $TOOL unpack --secrets "$T/dave.json" "$T/drop/ok/$f" 2>/dev/null | grep -q '"id":"four"' \
	&& ok "file: endpoint below allow_endpoint: written, dave unpacks it" || bad "dave's endpoint" "$(ls "$T/drop/ok"; grep -i dave "$T/gw.log" | tail -3)"
wait_until 120 grep -q "not below an allow_endpoint" "$T/gw.log"
grep -q "not below an allow_endpoint" "$T/gw.log" && [ -z "$(ls "$T/elsewhere")" ] \
	&& ok "file: endpoint outside allow_endpoint: refused, nothing written" || bad "eve's endpoint" "$(ls "$T/elsewhere"; tail -5 "$T/gw.log")"

# `send` to a file: endpoint (the user's own choice: written as given)
mk six "$DAVE" "$T/six.json"
check "send to a file: endpoint" $BIN send --to "$DAVE" "$T/six.json"
[ "$(ls "$T/drop/ok" | grep -c '\.dcem$')" = 2 ] && ok "send wrote it" || bad "send wrote it" "$(ls "$T/drop/ok")"
stop_gw && ok "SIGTERM: exit 0" || bad "SIGTERM"

# 8b. an outbox that cannot be written (a file where the folder should be; a folder not there
# yet): retried with the queue's backoff, then a dead letter with the reason once the message
# is older than max_age (a gateway of its own: max_age 1s); `queue flush` until it is dead
mkdir -p "$T/ob"; : > "$T/ob/notafolder"
$TOOL did new --method peer2 --secrets "$T/fay.json" > "$T/fay"; FAY=$(cat "$T/fay")
$TOOL did new --method peer2 --secrets "$T/gus.json" > "$T/gus"; GUS=$(cat "$T/gus")
printf 'state_dir %s/ob/gw\nrules %s/ob/rules\n[queue]\nretry_base 100ms\nmax_age 1s\n[file]\n' "$T" "$T" > "$T/ob/gw.conf"
printf 'to %s -> file %s/ob/notafolder\nto %s -> file %s/ob/notyet\n' "$FAY" "$T" "$GUS" "$T" > "$T/ob/rules"
mk fay1 "$FAY" "$T/fay1.json"; $TOOL pack --mode anoncrypt --to "$FAY" --no-forward "$T/fay1.json" > "$T/ob/fay1.dcem"
mk gus1 "$GUS" "$T/gus1.json"; $TOOL pack --mode anoncrypt --to "$GUS" --no-forward "$T/gus1.json" > "$T/ob/gus1.dcem"
check "import two for unwritable outboxes" $BIN import -c "$T/ob/gw.conf" "$T/ob/fay1.dcem" "$T/ob/gus1.dcem"
$BIN queue flush -c "$T/ob/gw.conf" > "$T/ob/flush1" 2>&1
grep -q "0 sent, 2 to retry later" "$T/ob/flush1" && ok "not written: retried later ($(tail -1 "$T/ob/flush1"))" || bad "retry" "$(cat "$T/ob/flush1")"
dead2() { $BIN queue flush -c "$T/ob/gw.conf" >/dev/null 2>&1; $BIN queue ls --dead -c "$T/ob/gw.conf" > "$T/ob/dead"; [ "$(grep -c notafolder\\\|notyet "$T/ob/dead")" = 2 ]; }
wait_until 60 dead2 && ok "then dead letters with the reason: $(grep -o 'notafolder[^|]*' "$T/ob/dead" | head -1 | cut -c1-100)" || bad "dead letters" "$(cat "$T/ob/dead")"
[ ! -e "$T/ob/notyet" ] && [ -f "$T/ob/notafolder" ] && [ ! -s "$T/ob/notafolder" ] && ok "nothing written anywhere else" || bad "written" "$(ls -la "$T/ob")"

# 9. two gateways with no network path between them (neither has an outbound rule to the
# other's listener) exchange messages both ways through one shared folder only
mkdir -p "$T/shared" "$T/a2b" "$T/b2a" "$T/boxA" "$T/boxB"
two() { # NAME PORT WATCH
	cat > "$T/$1.conf" <<CONF
state_dir $T/$1
rules $T/$1.rules
[http]
listen 127.0.0.1:$2
[file]
watch $3
settle 500ms
CONF
}
APORT=$(free_port); BPORT=$(free_port)
two A "$APORT" "$T/b2a"; two B "$BPORT" "$T/a2b"
echo 'default -> hold 1h' > "$T/A.rules"; echo 'default -> hold 1h' > "$T/B.rules"
$BIN run -c "$T/A.conf" 2>>"$T/A.log" & APID=$!
$BIN run -c "$T/B.conf" 2>>"$T/B.log" & BPID=$!
wait_port "$APORT" "$APID" && wait_port "$BPORT" "$BPID" && ok "two gateways up" || bad "two gateways" "$(tail -2 "$T/A.log" "$T/B.log")"
GA=$(cat "$T/A/did.txt"); GB=$(cat "$T/B/did.txt")
# ann lives behind A, ben behind B; each gateway's rule hands the other's forwards to the folder
$TOOL did new --method peer2 --secrets "$T/ann.json" > "$T/ann"; ANN=$(cat "$T/ann")
$TOOL did new --method peer2 --secrets "$T/ben.json" > "$T/ben"; BEN=$(cat "$T/ben")
printf 'to %s -> file %s\nto %s -> file %s\ndefault -> hold 1h\n' "$GB" "$T/a2b" "$ANN" "$T/boxA" > "$T/A.rules"
printf 'to %s -> file %s\nto %s -> file %s\ndefault -> hold 1h\n' "$GA" "$T/b2a" "$BEN" "$T/boxB" > "$T/B.rules"
kill -HUP "$APID" "$BPID"
wait_until 60 eval 'grep -q "SIGHUP: reloaded" "$T/A.log" && grep -q "SIGHUP: reloaded" "$T/B.log"'
fwd() { # FOR NEXT INNERFILE -> a forward for FOR carrying INNERFILE to NEXT
	python3 - "$1" "$2" "$3" <<'PY' > "$T/fwd.json"
import json,sys,uuid
print(json.dumps({"id":str(uuid.uuid4()),"type":"https://didcomm.org/routing/2.0/forward","to":[sys.argv[1]],"body":{"next":sys.argv[2]},"attachments":[{"data":{"json":json.load(open(sys.argv[3]))}}]}))
PY
	$TOOL pack --mode anoncrypt --to "$1" --no-forward "$T/fwd.json"; }
# ann -> ben: dropped at A; A passes the forward for B to the folder; B takes it and hands ben's message on
mk a2b "$BEN" "$T/a2b.json"; $TOOL pack --mode anoncrypt --to "$BEN" --no-forward "$T/a2b.json" > "$T/a2b.inner"
fwd "$GB" "$BEN" "$T/a2b.inner" > "$T/a2b.mid"
fwd "$GA" "$GB" "$T/a2b.mid" > "$T/a2b.dcem"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/didcomm-encrypted+json' --data-binary @"$T/a2b.dcem" "http://127.0.0.1:$APORT/")
[ "$code" = 202 ] && ok "ann's message handed to A" || bad "to A" "$code"
wait_until 120 eval '[ -n "$(ls "$T/boxB")" ]'
f=$(ls "$T/boxB" | head -1)
[ -n "$f" ] && $TOOL unpack --secrets "$T/ben.json" "$T/boxB/$f" 2>/dev/null | grep -q '"id":"a2b"' \
	&& ok "A -> folder -> B: ben unpacks ann's message" || bad "A to B" "$(ls "$T/a2b" "$T/boxB"; tail -n 3 "$T/A.log" "$T/B.log")"
mk b2a "$ANN" "$T/b2a.json"; $TOOL pack --mode anoncrypt --to "$ANN" --no-forward "$T/b2a.json" > "$T/b2a.inner"
fwd "$GA" "$ANN" "$T/b2a.inner" > "$T/b2a.mid"
fwd "$GB" "$GA" "$T/b2a.mid" > "$T/b2a.dcem"
curl -s -o /dev/null -H 'Content-Type: application/didcomm-encrypted+json' --data-binary @"$T/b2a.dcem" "http://127.0.0.1:$BPORT/"
wait_until 120 eval '[ -n "$(ls "$T/boxA")" ]'
f=$(ls "$T/boxA" | head -1)
[ -n "$f" ] && $TOOL unpack --secrets "$T/ann.json" "$T/boxA/$f" 2>/dev/null | grep -q '"id":"b2a"' \
	&& ok "B -> folder -> A: ann unpacks ben's message" || bad "B to A" "$(ls "$T/b2a" "$T/boxA"; tail -n 3 "$T/A.log" "$T/B.log")"
[ -z "$(ls "$T/a2b")" ] && [ -z "$(ls "$T/b2a")" ] && ok "the shared folders are empty again" || bad "shared folders" "$(ls "$T/a2b" "$T/b2a")"
kill -TERM "$APID" "$BPID"; wait "$APID"; ra=$?; wait "$BPID"; rb=$?
[ $ra = 0 ] && [ $rb = 0 ] && ok "both stop: exit 0" || bad "both stop" "$ra $rb"

# 9b. one shared duplex folder (the extension's Duplex): both gateways watch it ("shared") and
# write into it; each takes only what is encrypted to it and removes it, and leaves the rest
# where it lies: the other's messages, its own, a stranger's, a plaintext one (indeterminate
# audience: not the gateway's to take or remove)
mkdir -p "$T/duplex" "$T/boxA2" "$T/boxB2"
APORT=$(free_port); BPORT=$(free_port)
for g in A B; do
	port=$APORT; [ $g = B ] && port=$BPORT
	printf 'state_dir %s/%s\nrules %s/%sd.rules\nlog_level debug\n[http]\nlisten 127.0.0.1:%s\n[file]\nwatch %s/duplex shared\nsettle 300ms\n' \
		"$T" $g "$T" $g "$port" "$T" > "$T/${g}d.conf"
done
printf 'to %s -> file %s\nto %s -> file %s\ndefault -> hold 1h\n' "$GB" "$T/duplex" "$ANN" "$T/boxA2" > "$T/Ad.rules"
printf 'to %s -> file %s\nto %s -> file %s\ndefault -> hold 1h\n' "$GA" "$T/duplex" "$BEN" "$T/boxB2" > "$T/Bd.rules"
mk str "$XAV" "$T/str.json"; $TOOL pack --mode anoncrypt --to "$XAV" --no-forward "$T/str.json" > "$T/duplex/stranger.dcem"
mk pl "$BEN" "$T/duplex/plain.dcpm"
touch -d '1 minute ago' "$T/duplex/stranger.dcem" "$T/duplex/plain.dcpm"
st0=$(stat -c '%i %Y %s' "$T/duplex/stranger.dcem" "$T/duplex/plain.dcpm")
: > "$T/Ad.log"; : > "$T/Bd.log"
$BIN run -c "$T/Ad.conf" 2>>"$T/Ad.log" & APID=$!
$BIN run -c "$T/Bd.conf" 2>>"$T/Bd.log" & BPID=$!
wait_port "$APORT" "$APID" && wait_port "$BPORT" "$BPID" && ok "two gateways on one shared folder" || bad "duplex gateways" "$(tail -2 "$T/Ad.log" "$T/Bd.log")"
wait_until 60 sh -c "grep -q 'duplex/stranger.dcem: not encrypted' '$T/Ad.log' && grep -q 'duplex/stranger.dcem: not encrypted' '$T/Bd.log' && grep -q 'duplex/plain.dcpm: not encrypted' '$T/Ad.log' && grep -q 'duplex/plain.dcpm: not encrypted' '$T/Bd.log'" \
	&& ok "both looked at the stranger's and the plaintext file and left them" || bad "looked at" "$(ls -la "$T/duplex"; tail -3 "$T/Ad.log")"
[ "$(stat -c '%i %Y %s' "$T/duplex/stranger.dcem" "$T/duplex/plain.dcpm")" = "$st0" ] && [ "$(ls "$T/duplex" | wc -l)" = 2 ] \
	&& ok "left as they were (same inode, mtime, size; no claim, no .refused, no .reason)" || bad "left" "$(ls -la "$T/duplex")"
fwd "$GB" "$BEN" "$T/a2b.inner" > "$T/a2b.mid"; fwd "$GA" "$GB" "$T/a2b.mid" > "$T/a2b.dcem"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/didcomm-encrypted+json' --data-binary @"$T/a2b.dcem" "http://127.0.0.1:$APORT/")
wait_until 60 sh -c "[ -n \"\$(ls '$T/boxB2')\" ]"
f=$(ls "$T/boxB2" | head -1)
[ "$code" = 202 ] && [ -n "$f" ] && $TOOL unpack --secrets "$T/ben.json" "$T/boxB2/$f" 2>/dev/null | grep -q '"id":"a2b"' \
	&& ok "A -> shared folder -> B: ben unpacks ann's message" || bad "duplex A to B" "$code $(ls "$T/duplex" "$T/boxB2"; tail -n 3 "$T/Ad.log" "$T/Bd.log")"
fwd "$GA" "$ANN" "$T/b2a.inner" > "$T/b2a.mid"; fwd "$GB" "$GA" "$T/b2a.mid" > "$T/b2a.dcem"
curl -s -o /dev/null -H 'Content-Type: application/didcomm-encrypted+json' --data-binary @"$T/b2a.dcem" "http://127.0.0.1:$BPORT/"
wait_until 60 sh -c "[ -n \"\$(ls '$T/boxA2')\" ]"
f=$(ls "$T/boxA2" | head -1)
[ -n "$f" ] && $TOOL unpack --secrets "$T/ann.json" "$T/boxA2/$f" 2>/dev/null | grep -q '"id":"b2a"' \
	&& ok "B -> shared folder -> A: ann unpacks ben's message" || bad "duplex B to A" "$(ls "$T/duplex" "$T/boxA2"; tail -n 3 "$T/Ad.log" "$T/Bd.log")"
wait_until 60 sh -c "[ \$(ls '$T/duplex' | wc -l) = 2 ]"
[ "$(ls "$T/duplex" | sort | tr '\n' ' ')" = "plain.dcpm stranger.dcem " ] \
	&& ok "each message removed by its addressee only; the stranger's and the plaintext one still there" || bad "duplex folder" "$(ls -la "$T/duplex")"
for g in A B; do
	n=$(grep -c "accepted from $T/duplex/" "$T/${g}d.log")
	[ "$n" = 1 ] && ok "$g took exactly one file from the shared folder" || bad "$g took" "$n: $(grep "from $T/duplex/" "$T/${g}d.log" | tail -4)"
done
kill -TERM "$APID" "$BPID"; wait "$APID"; ra=$?; wait "$BPID"; rb=$?
[ $ra = 0 ] && [ $rb = 0 ] && ok "both stop: exit 0" || bad "both stop" "$ra $rb"

# 10. sneakernet bundles: messages held at A for xav, exported, carried, imported at B twice
# (nothing added the second time), a damaged copy refused whole, B delivers them, and the
# receipt carried back releases A's held copies
printf 'to %s -> hold 1h\ndefault -> hold 1h\n' "$XAV" > "$T/A.rules"
printf 'to %s -> file %s\ndefault -> hold 1h\n' "$XAV" "$T/xavbox" > "$T/B.rules"
mkdir -p "$T/stick" "$T/stick2" "$T/xavbox"
for i in 1 2 3; do
	mk "x$i" "$XAV" "$T/x$i.json"; $TOOL pack --mode anoncrypt --to "$XAV" --no-forward "$T/x$i.json" > "$T/x$i.inner"
	fwd "$GA" "$XAV" "$T/x$i.inner" > "$T/x$i.dcem"
done
check "A takes three messages for xav (held)" $BIN import -c "$T/A.conf" "$T/x1.dcem" "$T/x2.dcem" "$T/x3.dcem"
[ "$($BIN queue ls -c "$T/A.conf" | grep -c "hold $XAV")" = 3 ] && ok "three held at A" || bad "held at A" "$($BIN queue ls -c "$T/A.conf")"
check "export for another DID: nothing" $BIN export --to "$T/stick" --for "$ANN" -c "$T/A.conf"
grep -q "no held messages" "$T/out" && [ -z "$(ls "$T/stick")" ] && ok "no bundle for nobody" || bad "empty export" "$(cat "$T/out")"
check "export --for xav" $BIN export --to "$T/stick" --for "$XAV" --since 1h -c "$T/A.conf"
grep -q "^export: 3 held messages" "$T/out" && ok "bundle of 3: $(cat "$T/out")" || bad "export" "$(cat "$T/out")"
B1=$(ls "$T/stick"/bundle-*.json | head -1)
[ "$(stat -c %a "$B1")" = 600 ] && ok "bundle written 0600" || bad "bundle mode"
[ "$($BIN queue ls -c "$T/A.conf" | grep -c "hold $XAV")" = 3 ] && ok "exported messages stay held at A" || bad "still held"
cp "$B1" "$T/stick2/"; B2="$T/stick2/$(basename "$B1")"
python3 - "$B2" "$T/damaged.json" <<'PY'
import json,sys
b=json.load(open(sys.argv[1])); s=b["items"][1]; b["items"][1]=s[:40]+("A" if s[40]!="A" else "B")+s[41:]
json.dump(b,open(sys.argv[2],"w"))
PY
refuse "a damaged bundle: nothing imported" "damaged bundle" $BIN import -c "$T/B.conf" "$T/damaged.json"
[ "$($BIN queue stats -c "$T/B.conf" | grep '^queued')" = "queued 0" ] && ok "B's queue untouched by it" || bad "B queue after damaged"
check "import the bundle at B" $BIN import -c "$T/B.conf" --receipt "$T/stick2" "$B2"
grep -q "3 taken in, 0 already here" "$T/out" && ok "$(head -1 "$T/out")" || bad "import" "$(cat "$T/out" "$T/err")"
check "import it again" $BIN import -c "$T/B.conf" --receipt "$T/stick2" "$B2"
grep -q "0 taken in, 3 already here" "$T/out" && ok "the second import adds nothing" || bad "import twice" "$(cat "$T/out")"
[ "$($BIN queue stats -c "$T/B.conf" | grep '^queued')" = "queued 3" ] && ok "three in B's queue, no duplicates" || bad "B queue" "$($BIN queue stats -c "$T/B.conf")"
check "B delivers (queue flush)" $BIN queue flush -c "$T/B.conf"
[ "$(ls "$T/xavbox" | wc -l)" = 3 ] && ok "three files for xav" || bad "xavbox" "$(ls "$T/xavbox")"
for f in "$T/xavbox"/*.dcem; do $TOOL unpack --secrets "$T/xav.json" "$f" 2>/dev/null; echo; done | grep -c '"id":"x' > "$T/nx"
[ "$(cat "$T/nx")" = 3 ] && ok "xav unpacks all three" || bad "xav unpacks" "$(cat "$T/nx")"
R=$(ls "$T/stick2"/receipt-*.json | head -1)
check "the receipt carried back to A" $BIN import -c "$T/A.conf" "$R"
grep -q "3 held messages released" "$T/out" && ok "$(cat "$T/out")" || bad "receipt" "$(cat "$T/out" "$T/err")"
[ "$($BIN queue ls -c "$T/A.conf" | grep -c "hold $XAV")" = 0 ] && ok "A's held copies released" || bad "released" "$($BIN queue ls -c "$T/A.conf")"
summary integration-file
