#!/usr/bin/env bash
# The listener. Its port is taken by another process (a listening socket held here): the daemon
# exits non-zero with "cannot listen on 127.0.0.1:PORT: ..." and never logs "listening on ...:0".
# Today's code (observed): libwebsockets logs "ERROR on binding fd N to port PORT (-1 98)",
# "Failed to create default vhost", and then the daemon logs "listening on 127.0.0.1:0 (HTTP and
# WebSocket)" and keeps running, serving nothing. Fails (3 checks).
set -u
cd "$(dirname "$0")/../.."
. tests/hostile/common.inc
# hold the port: a listening socket in a helper process
python3 -c 'import socket,sys,time
s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(1); print("held", flush=True); time.sleep(120)' "$GPORT" > "$T/holder" & PIDS="$PIDS $!"
wait_until 30 grep -q held "$T/holder" || bad "port held"
printf 'state_dir %s/gw\n[http]\nlisten 127.0.0.1:%s\n' "$T" "$GPORT" > "$T/gw.conf"
fit_conf "$T/gw.conf"
$BIN run -c "$T/gw.conf" > /dev/null 2> "$T/gw.log" & GPID=$!
# the event: it exits, or it says it is listening
wait_until 30 eval "! kill -0 $GPID 2>/dev/null || grep -q 'listening on' '$T/gw.log'"
if kill -0 "$GPID" 2>/dev/null; then rc=running; else wait "$GPID"; rc=$?; GPID=""; fi
echo "# port in use: exit $rc; log: $(tr '\n' ' ' < "$T/gw.log" | cut -c1-400)"
[ "$rc" != running ] && [ "$rc" -ne 0 ] && ok "port in use: exits non-zero ($rc)" || bad "port in use: exits non-zero" "$rc"
grep -q "cannot listen on 127.0.0.1:$GPORT" "$T/gw.log" && ok "says why: cannot listen on 127.0.0.1:$GPORT" || bad "says 'cannot listen on 127.0.0.1:$GPORT'" "$(grep -m1 -E 'listen|bind|error' "$T/gw.log")"
grep -q "listening on .*:0\b" "$T/gw.log" && bad "never 'listening on ...:0'" "$(grep -m1 'listening on' "$T/gw.log")" || ok "never 'listening on ...:0'"
summary hostile-listener
