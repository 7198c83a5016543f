#!/usr/bin/env bash
# `queue stats|ls|show|retry|purge --dead` on a queue file (the on-disk format is pinned here).
set -u
cd "$(dirname "$0")/../.."
. tests/cli/common.inc

python3 - "$T/queue.db" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
db.executescript("""
CREATE TABLE queue(id INTEGER PRIMARY KEY AUTOINCREMENT, msg_id TEXT, data BLOB NOT NULL, media_type TEXT,
 dest TEXT NOT NULL, origin TEXT, created_ms INTEGER NOT NULL, next_ms INTEGER NOT NULL,
 expires_ms INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0, lease_until INTEGER NOT NULL DEFAULT 0,
 last_error TEXT);
CREATE TABLE dead(id INTEGER PRIMARY KEY, msg_id TEXT, data BLOB, media_type TEXT, dest TEXT, origin TEXT,
 created_ms INTEGER, died_ms INTEGER, attempts INTEGER, reason TEXT);""")
now = int(time.time() * 1000)
db.execute("INSERT INTO queue(msg_id,data,media_type,dest,origin,created_ms,next_ms,attempts,last_error) VALUES"
           "('m1',x'7b7d','application/didcomm-encrypted+json','http http://127.0.0.1:9/','http 127.0.0.1',?,?,2,'connection refused')", (now, now + 60000))
db.execute("INSERT INTO dead VALUES(7,'m7',x'7b7d','application/didcomm-encrypted+json','http http://x/','http',?,?,5,'HTTP 404')", (now, now))
db.commit()
PY
check "queue stats" $BIN queue stats --state-dir "$T"
grep -qx "queued 1" "$T/out" && grep -qx "dead 1" "$T/out" && ok "stats counts" || bad "stats counts" "$(cat "$T/out")"
check "queue ls" $BIN queue ls --state-dir "$T"
grep -q "connection refused" "$T/out" && ok "ls shows the last error" || bad "ls shows the last error" "$(cat "$T/out")"
check "queue ls --dead" $BIN queue ls --dead --state-dir "$T"
grep -q "HTTP 404" "$T/out" && ok "dead letters keep their reason" || bad "dead reason" "$(cat "$T/out")"
check "queue show" $BIN queue show 1 --state-dir "$T"
grep -qx "attempts 2" "$T/out" && ok "show details" || bad "show details" "$(cat "$T/out")"
check "queue retry a dead item" $BIN queue retry 7 --state-dir "$T"
$BIN queue stats --state-dir "$T" > "$T/s2"
grep -qx "queued 2" "$T/s2" && grep -qx "dead 0" "$T/s2" && ok "retry moved it back" || bad "retry moved it back" "$(cat "$T/s2")"
refuse "show of an unknown id" "no item" $BIN queue show 999 --state-dir "$T"
refuse "show of a bad id" "not an item id" $BIN queue show abc --state-dir "$T"
refuse "purge without --dead" "purge needs --dead" $BIN queue purge --state-dir "$T"
check "purge --dead" $BIN queue purge --dead --state-dir "$T"
refuse "no queue in the state dir" "queue.db" $BIN queue stats --state-dir "$T/nowhere"
summary cli-queue
