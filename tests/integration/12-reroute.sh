#!/usr/bin/env bash
# Re-routing what is queued: messages for bob and carol wait on a port where nothing listens
# (their rule's target). The rules change to live endpoints and the gateway reloads them
# (SIGHUP): what is queued keeps its old target. `queue reroute --dest GLOB`, run beside the
# daemon, lets the current rules decide again for bob's items only; they are delivered at the
# new endpoint while carol's still wait on the dead port. `queue reroute` then moves carol's;
# a second run moves nothing. Waits on events (queue state, files at the receivers).
# The same scenario runs on the SQLite store, then on a PostgreSQL queue (a throwaway server,
# tests/cli/pg.inc) with `queue` commands on the shared store beside the daemon.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/common.inc
. tests/cli/pg.inc
BIN=${BIN:-build/release/didcomm-gateway}
T0=$T PGD=""
GPID="" RB="" RC=""
trap '[ -n "$GPID" ] && kill $GPID 2>/dev/null; [ -n "$RB" ] && kill $RB 2>/dev/null; [ -n "$RC" ] && kill $RC 2>/dev/null; wait 2>/dev/null; pg_stop; rm -rf "$T0" ${PGD:+"$PGD"}' EXIT
scenario() { # BACKEND: sqlite or postgres; its files in $T0/BACKEND
	BACKEND=$1 T=$T0/$1 QCONF=""
	mkdir -p "$T"
	GPORT=$(free_port); DEAD=$(free_port); LB=$(free_port); LC=$(free_port)
	GPID="" RB="" RC=""
	if [ "$BACKEND" = postgres ]; then
		PGD=$(mktemp -d /tmp/dcpg.XXXXXX)
		pg_start "$PGD" && ok "a throwaway PostgreSQL on port $PG_PORT" || { bad "PostgreSQL starts"; return 1; }
		QCONF="backend postgres\nurl $PG_URL\n"
	fi
	echo "== on $BACKEND"
	printf 'state_dir %s/gw\nrules %s/rules.conf\n[queue]\n%bretry_base 300ms\nretry_max 2s\n[http]\nlisten 127.0.0.1:%s\n[ws]\n[outbound]\nallow 127.0.0.0/8\n' "$T" "$T" "$QCONF" "$GPORT" > "$T/gw.conf"
	echo 'default -> reject' > "$T/rules.conf"
	$BIN run -c "$T/gw.conf" 2>>"$T/gw.log" & GPID=$!
	wait_port "$GPORT" "$GPID" && ok "gateway up" || bad "gateway up" "$(tail -3 "$T/gw.log")"
	GWKEY=$($BIN did resolve "$(cat "$T/gw/did.txt")" | python3 -c 'import json,sys; print(json.load(sys.stdin)["keyAgreement"][0])')
	for who in bob carol; do
		$BIN did new --method peer2 --endpoint "http://127.0.0.1:$GPORT/" --routing-key "$GWKEY" --secrets "$T/$who.json" > "$T/$who"
	done
	BOB=$(cat "$T/bob") CAROL=$(cat "$T/carol")
	hup() { # reload the rules and wait for the daemon to say so
		local n
		n=$(grep -c "SIGHUP: reloaded" "$T/gw.log")
		kill -HUP "$GPID"
		wait_until 60 eval '[ "$(grep -c "SIGHUP: reloaded" "$T/gw.log")" -gt "$n" ]'
	}
	printf 'to %s -> http http://127.0.0.1:%s/bob  else hold 1h\nto %s -> http http://127.0.0.1:%s/carol\ndefault -> reject\n' \
		"$BOB" "$DEAD" "$CAROL" "$DEAD" > "$T/rules.conf"
	hup && ok "rules for the dead port loaded" || bad "SIGHUP reload" "$(tail -2 "$T/gw.log")"
	post() { curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/didcomm-encrypted+json' --data-binary @"$1" "http://127.0.0.1:$GPORT/"; }
	acc=0
	for i in 1 2 3; do
		printf '{"id":"b%s","type":"t/1.0/x","to":["%s"],"body":{}}' $i "$BOB" > "$T/b$i.json"
		$BIN pack --mode anoncrypt --to "$BOB" "$T/b$i.json" > "$T/b$i.f"
		[ "$(post "$T/b$i.f")" = 202 ] && acc=$((acc + 1))
	done
	for i in 1 2; do
		printf '{"id":"c%s","type":"t/1.0/x","to":["%s"],"body":{}}' $i "$CAROL" > "$T/c$i.json"
		$BIN pack --mode anoncrypt --to "$CAROL" "$T/c$i.json" > "$T/c$i.f"
		[ "$(post "$T/c$i.f")" = 202 ] && acc=$((acc + 1))
	done
	[ "$acc" -eq 5 ] && ok "5 accepted while their endpoint is dead" || bad "accepted" "$acc of 5"
	# every one tried at the dead port at least once
	tried() { $BIN queue ls -c "$T/gw.conf" > "$T/ls" && [ "$(grep -c "attempts=[1-9].*127.0.0.1:$DEAD/" "$T/ls")" -eq 5 ]; }
	wait_until 120 tried && ok "all 5 retried at the dead port" || bad "retried" "$(cat "$T/ls")"
	nrx() { ls "$1"/msg-*.json 2>/dev/null | wc -l; }
	# the live endpoints come up and the rules name them; a reload alone moves nothing queued
	mkdir -p "$T/rxb" "$T/rxc"
	python3 tests/cli/receiver.py "$LB" "$T/rxb" & RB=$!
	python3 tests/cli/receiver.py "$LC" "$T/rxc" & RC=$!
	wait_port "$LB" "$RB" && wait_port "$LC" "$RC" || bad "receivers up"
	printf 'to %s -> http http://127.0.0.1:%s/inbox  else hold 2h\nto %s -> http http://127.0.0.1:%s/inbox\ndefault -> reject\n' \
		"$BOB" "$LB" "$CAROL" "$LC" > "$T/rules.conf"
	hup && ok "new rules loaded" || bad "SIGHUP reload" "$(tail -2 "$T/gw.log")"
	# the next retries after the reload still go to the dead port
	n0=$(grep -o "attempts=[0-9]*" "$T/ls" | cut -d= -f2 | paste -sd+ | bc)
	more() { $BIN queue ls -c "$T/gw.conf" > "$T/ls2" && [ "$(grep -o "attempts=[0-9]*" "$T/ls2" | cut -d= -f2 | paste -sd+ | bc)" -gt "$n0" ]; }
	wait_until 60 more && [ "$(grep -c "127.0.0.1:$DEAD/" "$T/ls2")" -eq 5 ] && [ "$(nrx "$T/rxb")" -eq 0 ] && [ "$(nrx "$T/rxc")" -eq 0 ] &&
		ok "after the reload the queued ones are still retried at the old target" || bad "old target kept" "$(cat "$T/ls2")"
	# reroute_settled OUT ARGS...: `queue reroute ARGS`, run again while it leaves an item in flight
	# (a retry at the dead port under way at that moment: the next run finds it waiting again);
	# every run's output goes to OUT
	reroute_settled() {
		local out=$1 i; shift; : > "$out"
		for i in $(seq 1 50); do
			$BIN queue reroute "$@" -c "$T/gw.conf" > "$T/rr.one" 2> "$T/rr.err" || return 1
			cat "$T/rr.one" >> "$out"
			grep -q ": left: .*in flight" "$T/rr.one" || return 0
		done
		return 1
	}
	moved() { grep -o "^queue: reroute: [0-9]* moved" "$1" | awk '{ s += $3 } END { print s + 0 }'; }
	# reroute bob's only, while the daemon runs
	reroute_settled "$T/rr1" --dest "http http://127.0.0.1:$DEAD/bob*" && ok "queue reroute --dest (bob's)" || bad "reroute --dest" "$(cat "$T/rr1" "$T/rr.err")"
	[ "$(grep -c "^queue: #[0-9]* http http://127.0.0.1:$DEAD/bob -> http http://127.0.0.1:$LB/inbox (rule .*rules.conf:1)$" "$T/rr1")" -eq 3 ] &&
		ok "one line per moved item, old -> new, with the rule" || bad "reroute lines" "$(cat "$T/rr1")"
	[ "$(moved "$T/rr1")" -eq 3 ] && grep -q "^queue: reroute: [0-9]* moved, 0 already where the rules send them, [0-9]* left where they were (of [0-9]* waiting for http http://127.0.0.1:$DEAD/bob\*)$" "$T/rr1" &&
		ok "and a total" || bad "reroute total" "$(cat "$T/rr1")"
	wait_until 120 eval '[ "$(nrx "$T/rxb")" -eq 3 ]' && ok "bob's 3 delivered at the new endpoint" || bad "bob's delivered" "$(nrx "$T/rxb") files; $(tail -3 "$T/gw.log")"
	good=0
	for f in "$T"/rxb/msg-*.json; do $BIN unpack --secrets "$T/bob.json" "$f" > /dev/null 2>&1 && good=$((good + 1)); done
	[ "$good" -eq 3 ] && ok "bob reads all 3" || bad "bob reads them" "$good of 3"
	$BIN queue ls -c "$T/gw.conf" > "$T/ls3"
	[ "$(grep -c "127.0.0.1:$DEAD/carol" "$T/ls3")" -eq 2 ] && [ "$(wc -l < "$T/ls3")" -eq 2 ] && [ "$(nrx "$T/rxc")" -eq 0 ] &&
		ok "--dest left carol's on the dead port" || bad "carol's untouched" "$(cat "$T/ls3")"
	# then everything
	reroute_settled "$T/rr2" && ok "queue reroute (all)" || bad "reroute (all)" "$(cat "$T/rr2" "$T/rr.err")"
	[ "$(grep -c " -> http http://127.0.0.1:$LC/inbox " "$T/rr2")" -eq 2 ] && [ "$(moved "$T/rr2")" -eq 2 ] &&
		ok "carol's 2 moved" || bad "carol's moved" "$(cat "$T/rr2")"
	wait_until 120 eval '[ "$(nrx "$T/rxc")" -eq 2 ]' && ok "carol's 2 delivered at the new endpoint" || bad "carol's delivered" "$(nrx "$T/rxc") files"
	good=0
	for f in "$T"/rxc/msg-*.json; do $BIN unpack --secrets "$T/carol.json" "$f" > /dev/null 2>&1 && good=$((good + 1)); done
	[ "$good" -eq 2 ] && ok "carol reads both" || bad "carol reads them" "$good of 2"
	emptyq() { $BIN queue stats -c "$T/gw.conf" | grep -qx "queued 0"; }
	wait_until 60 emptyq && ok "queue empty, nothing dead" || bad "queue empty" "$($BIN queue stats -c "$T/gw.conf")"
	$BIN queue stats -c "$T/gw.conf" | grep -qx "dead 0" || bad "no dead letters" "$($BIN queue ls --dead -c "$T/gw.conf")"
	check "a second reroute" $BIN queue reroute -c "$T/gw.conf"
	grep -qx "queue: reroute: 0 moved, 0 already where the rules send them, 0 left where they were (of 0 waiting)" "$T/out" &&
		ok "moves nothing" || bad "second reroute" "$(cat "$T/out")"
	refuse "reroute refuses --dead" "dead letters are not re-routed" $BIN queue reroute --dead -c "$T/gw.conf"
	kill -TERM "$GPID"; wait "$GPID"; rc=$?; GPID=""
	[ "$rc" -eq 0 ] && ok "gateway stops cleanly" || bad "gateway exit" "$rc"
	# a store from before the rule inputs were kept: the column comes back empty when a command
	# opens it, and such items are left where they are, saying why
	printf 'to %s -> http http://127.0.0.1:%s/bob\ndefault -> reject\n' "$BOB" "$DEAD" > "$T/rules.conf"
	check "offline import for the dead port" $BIN import -c "$T/gw.conf" "$T/b1.f"
	if [ "$BACKEND" = sqlite ]; then
		python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("ALTER TABLE queue DROP COLUMN facts"); c.commit()' "$T/gw/queue.db"
	else # the items of a version 1 schema, migrated: the column is there, empty
		psql -q -X "$PG_URL" -c 'UPDATE queue SET facts=NULL' > /dev/null
	fi && ok "made an old store" || bad "old store"
	printf 'to %s -> http http://127.0.0.1:%s/inbox\ndefault -> reject\n' "$BOB" "$LB" > "$T/rules.conf"
	check "reroute on the old store" $BIN queue reroute -c "$T/gw.conf"
	grep -q "^queue: #[0-9]* http http://127.0.0.1:$DEAD/bob: left: no rule inputs kept with it" "$T/out" &&
		grep -q "^queue: reroute: 0 moved, 0 already where the rules send them, 1 left where they were (of 1 waiting)" "$T/out" &&
		ok "its item is left, saying why" || bad "old store's item" "$(cat "$T/out")"
	# the receivers
	kill "$RB" "$RC" 2>/dev/null; wait "$RB" "$RC" 2>/dev/null; RB="" RC=""
}
scenario sqlite
scenario postgres
summary 12-reroute
