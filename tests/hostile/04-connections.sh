#!/usr/bin/env bash
# Many idle WebSockets. 300 are opened and left idle ([ws] idle_timeout 2s):
#  - a valid POST made while they are open gets 202 within 2 s;
#  - over a 5 s watch the daemon does not spin (< 30% of a core) nor flood its log (< 100 lines);
#  - the idle WebSockets are closed by the gateway after idle_timeout (waited for with a 60 s
#    deadline: the event is "all 300 closed", not a fixed time).
# Today's code (observed): "unknown key per_peer", "unknown section [ws]" (no idle_timeout); the 300 connections are
# accepted, the POST gets 202 fast, CPU and log stay quiet, but no idle WebSocket is ever
# closed (0 of 300 after 60 s). Fails.
set -u
cd "$(dirname "$0")/../.."
. tests/hostile/common.inc
DEADPORT=$(free_port)
# every peer here is 127.0.0.1: per_peer is raised above the 300 (the per-address cap is not
# what this checks)
printf 'state_dir %s/gw\n[http]\nlisten 127.0.0.1:%s\nper_peer 400\n[ws]\nidle_timeout 2s\n' "$T" "$GPORT" > "$T/gw.conf"
fit_conf "$T/gw.conf"
identity "$T/gw.conf"
$TOOL did new --method peer2 --endpoint "http://127.0.0.1:$DEADPORT/" --secrets "$T/bob.json" > "$T/bob"
fwd_to_gw "$(cat "$T/bob")" valid1 "$T/valid"
start_gw "$T/gw.conf" && ok "gateway up" || bad "gateway up" "$(tail -3 "$T/gw.log")"
lines0=$(wc -l < "$T/gw.log")
$HX wsidle "$GPORT" 300 60 > "$T/idle" 2>&1 & IPID=$!; PIDS="$PIDS $IPID"
wait_until 60 grep -q "^open" "$T/idle"
open=$(grep "^open" "$T/idle" | grep -oE '[0-9]+')
[ "${open:-0}" -eq 300 ] && ok "300 idle WebSockets open" || bad "300 idle WebSockets open" "${open:-0} opened"
r=$($HX post "$GPORT" "$T/valid" 30)
echo "# a valid POST with ${open:-0} idle WebSockets: $r"
[ "${r%% *}" = 202 ] && awk -v t="${r#* }" 'BEGIN { exit !(t < 2) }' && ok "a valid POST: 202 within 2 s (${r#* } s)" || bad "a valid POST: 202 within 2 s" "$r"
t0=$(awk '{ print $14 + $15 }' "/proc/$GPID/stat"); sleep 5; t1=$(awk '{ print $14 + $15 }' "/proc/$GPID/stat")
echo "# 5 s watch: $((t1 - t0)) clock ticks of CPU, $(($(wc -l < "$T/gw.log") - lines0)) log lines"
[ $((t1 - t0)) -lt 150 ] && ok "does not spin ($((t1 - t0)) ticks in 5 s)" || bad "does not spin" "$((t1 - t0)) ticks in 5 s"
[ $(($(wc -l < "$T/gw.log") - lines0)) -lt 100 ] && ok "does not flood its log" || bad "does not flood its log" "$(($(wc -l < "$T/gw.log") - lines0)) lines"
# idle_timeout 2s: every idle one is closed (wsidle ends when all are closed, or after 60 s)
wait "$IPID"
closed=$(tail -1 "$T/idle" | grep -oE '[0-9]+')
[ "${closed:-0}" -eq "${open:-0}" ] && [ "${open:-0}" -gt 0 ] && ok "idle WebSockets closed after idle_timeout ($closed)" || bad "idle WebSockets closed" "${closed:-0} of ${open:-0} after 60 s"
stop_gw
[ "$GRC" -eq 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM" "exit $GRC"
summary hostile-connections
