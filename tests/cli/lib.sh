# Shared helpers for the CLI tests: counters and checks. Sourced.
BIN=${BIN:-build/release/didcomm-gateway}
PASS=0 FAIL=0
T=$(mktemp -d /tmp/dccli.XXXXXX)
trap 'rm -rf "$T"' EXIT
ok()   { PASS=$((PASS + 1)); echo "ok $1"; }
bad()  { FAIL=$((FAIL + 1)); echo "FAIL $1${2:+: $2}"; }
# check NAME CMD...: the command must succeed
check() { local n=$1; shift; if "$@" >"$T/out" 2>"$T/err"; then ok "$n"; else bad "$n" "$(head -c 300 "$T/err")"; fi; }
# refuse NAME PATTERN CMD...: must fail, print nothing on stdout, one stderr line matching PATTERN
refuse() {
	local n=$1 pat=$2; shift 2
	"$@" >"$T/out" 2>"$T/err"; local rc=$?
	if [ $rc -eq 0 ]; then bad "$n" "succeeded"; return; fi
	if [ $rc -ge 128 ]; then bad "$n" "crashed (exit $rc): $(head -c 300 "$T/err")"; return; fi
	if [ -s "$T/out" ]; then bad "$n" "partial output on stdout"; return; fi
	if [ "$(wc -l <"$T/err")" -ne 1 ]; then bad "$n" "stderr is not one line: $(head -c 300 "$T/err")"; return; fi
	if ! grep -qE -- "$pat" "$T/err"; then bad "$n" "stderr '$(cat "$T/err")' lacks /$pat/"; return; fi
	ok "$n"
}
# jq-like: json FILE EXPR (python expression over d)
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
summary() { echo "$1: $PASS passed, $FAIL failed"; [ "$FAIL" -eq 0 ]; }
