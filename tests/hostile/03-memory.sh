#!/usr/bin/env bash
# Memory held for hostile peers. Peak RSS (VmHWM from /proc/PID/status) is printed for each part.
#  1. 100 connections announce a 10 MiB body (Content-Length: 10485760) and send one byte every
#     2 s for 20 s: the daemon's peak RSS stays below 256 MiB, and a valid POST made meanwhile
#     gets 202;
#  2. one WebSocket client sends up to 500,000 garbage frames (20 s at most; each draws a
#     problem report) and never reads: peak RSS stays below 256 MiB and the gateway closes the
#     connection (1008).
# Today's code (observed): "unknown key per_peer / receive_total", "unknown section [ws]";
# part 1 passes (peak RSS 16 MiB, no body space reserved up front; all 100 connections kept open
# for the 20 s; 202 for the valid POST in a few ms); part 2 fails: all 500,000 frames are read
# and every problem report is queued for the peer that never reads: peak RSS 273 MiB (VmHWM
# 279676 kB, about 0.55 kB a frame, growing without bound), the connection is never closed.
# About 40 s. Release binary only in tests/run.sh (under ASan the RSS bound is no bound).
set -u
cd "$(dirname "$0")/../.."
. tests/hostile/common.inc
LIMIT_KB=$((256 * 1024))
DEADPORT=$(free_port)
# every peer here is 127.0.0.1: per_peer is raised above the 100 so that what is measured is
# the memory bound (receive_total), not the per-address connection cap
printf 'state_dir %s/gw\n[http]\nlisten 127.0.0.1:%s\nper_peer 200\nreceive_total 256M\n[ws]\nmax_out_frames 64\n' "$T" "$GPORT" > "$T/gw.conf"
fit_conf "$T/gw.conf"
identity "$T/gw.conf"
$TOOL did new --method peer2 --endpoint "http://127.0.0.1:$DEADPORT/" --secrets "$T/bob.json" > "$T/bob"
fwd_to_gw "$(cat "$T/bob")" valid1 "$T/valid"

# 1. slow bodies
start_gw "$T/gw.conf" && ok "gateway up" || bad "gateway up" "$(tail -3 "$T/gw.log")"
rss0=$(rss_kb "$GPID")
$HX trickle "$GPORT" 100 20 > "$T/trickle" & TPID=$!; PIDS="$PIDS $TPID"
wait_until 60 grep -q opened "$T/trickle"
echo "# trickle: $(head -1 "$T/trickle")"
r=$($HX post "$GPORT" "$T/valid" 30)
[ "${r%% *}" = 202 ] && ok "a valid POST during the trickle: 202 (${r#* } s)" || bad "a valid POST during the trickle" "$r"
wait "$TPID"
hwm=$(rss_kb "$GPID" VmHWM)
echo "# trickle: $(tail -1 "$T/trickle") by the gateway; RSS at start ${rss0} kB, peak (VmHWM) ${hwm} kB"
[ -n "$hwm" ] && [ "$hwm" -lt "$LIMIT_KB" ] && ok "100 slow 10 MiB bodies: peak RSS $((hwm / 1024)) MiB < 256 MiB" || bad "slow bodies: peak RSS" "${hwm:-?} kB"
kill -0 "$GPID" 2>/dev/null && ok "still running" || bad "still running" "$(tail -3 "$T/gw.log")"
stop_gw

# 2. a WebSocket client that never reads its problem reports
start_gw "$T/gw.conf" || bad "restart" "$(tail -3 "$T/gw.log")"
printf 'not json at all' > "$T/garbage"
$HX wsflood "$GPORT" "$T/garbage" 500000 20 > "$T/flood" 2>&1 & FPID=$!; PIDS="$PIDS $FPID"
peak=0
while kill -0 "$FPID" 2>/dev/null; do
	r=$(rss_kb "$GPID"); [ -n "$r" ] && [ "$r" -gt "$peak" ] && peak=$r
	sleep 0.2
done
hwm=$(rss_kb "$GPID" VmHWM)
echo "# wsflood: $(cat "$T/flood"); RSS sampled peak ${peak} kB, VmHWM ${hwm:-?} kB"
[ -n "$hwm" ] && [ "$hwm" -lt "$LIMIT_KB" ] && ok "a WebSocket that never reads: peak RSS $((hwm / 1024)) MiB < 256 MiB" || bad "never-reading WS: peak RSS" "${hwm:-?} kB"
# closed with 1008 where the close frame can still get through; a peer that reads nothing has
# a partly written frame ahead of it, and lws then drops the connection without a close frame
grep -qE "closed yes code (1008|none)" "$T/flood" && grep -q "over max_out_frames" "$T/gw.log" &&
	ok "the never-reading WebSocket is closed (over max_out_frames)" || bad "closed over max_out_frames" "$(cat "$T/flood")"
r=$($HX post "$GPORT" "$T/valid" 30)
[ "${r%% *}" = 202 ] && ok "a valid POST afterwards: 202" || bad "a valid POST afterwards" "$r"
stop_gw
[ "$GRC" -eq 0 ] && ok "SIGTERM: exit 0" || bad "SIGTERM" "exit $GRC"
summary hostile-memory
