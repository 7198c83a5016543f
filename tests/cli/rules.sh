#!/usr/bin/env bash
# `rules check` and `rules explain` from the command line.
set -u
cd "$(dirname "$0")/../.."
. tests/cli/common.inc

check "example rules check clean" $BIN rules check conf/rules.conf
grep -q "ok, " "$T/out" && ok "check says ok" || bad "check says ok" "$(cat "$T/out")"
$BIN rules check tests/rules/bad.rules >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && ok "bad rules: exit 1" || bad "bad rules: exit 1" "exit $rc"
n=$(grep -cE '^tests/rules/bad.rules:[0-9]+:[0-9]+: error:' "$T/err")
[ "$n" -ge 10 ] && ok "bad rules: every error with file:line:col ($n)" || bad "bad rules: errors" "$(head -3 "$T/err")"
printf 'to did:example:* -> http https://h/{to}\n' > "$T/one.rules"
check "explain" $BIN rules explain "$T/one.rules" --to did:example:bob
grep -q "rule #1 ($T/one.rules:1) matched" "$T/out" && ok "explain names the rule and line" || bad "explain names the rule" "$(cat "$T/out")"
grep -q "https://h/did%3Aexample%3Abob\|https://h/did:example:bob" "$T/out" && ok "explain renders the target" || bad "explain renders the target" "$(cat "$T/out")"
$BIN rules explain "$T/one.rules" --to did:other:x >"$T/out" 2>&1; rc=$?
[ $rc -eq 1 ] && ok "explain: nothing matches, exit 1" || bad "explain: nothing matches" "exit $rc"
printf 'to did:example:* -> file /spool/{to}\ndefault -> hold 24h\n' > "$T/two.rules"
check "file target with a DID is fine" $BIN rules check "$T/two.rules"
summary cli-rules
