#!/usr/bin/env bash
# Runs every test suite and prints one summary line last: "tests: N passed, M failed, K skipped".
# Each suite prints its own "<name>: N passed, M failed[, K skipped]" line; this script sums them.
set -u
cd "$(dirname "$0")/.."
REL=build/release
ASAN=build/asan
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
passed=0 failed=0 skipped=0 broken=""
log=$(mktemp -d /tmp/dctest.XXXXXX)
pgdir=""
trap 'declare -F pg_stop >/dev/null && pg_stop; rm -rf "$log" ${pgdir:+"$pgdir"}' EXIT

suite() { # name command...
	local name=$1; shift
	echo "== $name"
	# a suite that hangs is a failure, never a stuck CI run
	timeout --kill-after=10 "${SUITE_TIMEOUT:-600}" "$@" 2>&1 | tee "$log/$name.out"
	local rc=${PIPESTATUS[0]}
	local line
	line=$(grep -E '^[A-Za-z0-9_-]+: [0-9]+ passed, [0-9]+ failed' "$log/$name.out" | tail -n 1)
	if [ -z "$line" ]; then
		echo "$name: no summary line (exit $rc)"
		failed=$((failed + 1)); broken="$broken $name"; return
	fi
	local p f s
	p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
	f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
	s=$(grep -oE '[0-9]+ skipped' <<<"$line" | grep -oE '[0-9]+' || echo 0)
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + ${s:-0}))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "$name: exited $rc"; failed=$((failed + 1)); broken="$broken $name"
	fi
}

# the queue's unit tests run on PostgreSQL too (suite queue_pg): a throwaway server for them
. tests/cli/pg.inc
pgdir=$(mktemp -d /tmp/dcpg.XXXXXX) # not under $log: the server's user must reach it
if pg_start "$pgdir"; then
	export DC_TEST_PG_URL=$PG_URL
else
	echo "pg: the throwaway PostgreSQL did not start: the queue_pg suite cannot run"
	failed=$((failed + 1)); broken="$broken pg"
fi
suite unit "$REL/test_unit"
suite unit-asan "$ASAN/test_unit"
pg_stop
rm -rf "$pgdir"
unset DC_TEST_PG_URL
[ -x "$ASAN/fuzz_replay" ] && suite replay "$ASAN/fuzz_replay" tests/fuzz/corpus
for t in tests/cli/*.sh; do
	[ -f "$t" ] || continue
	n=$(basename "$t" .sh)
	suite "cli-$n" env BIN="$ASAN/didcomm-gateway" bash "$t"
done
for t in tests/integration/[0-9]*.sh; do
	[ -f "$t" ] || continue
	suite "integration-$(basename "$t" .sh)" env BIN="$REL/didcomm-gateway" bash "$t"
	# the sanitizer build of the daemon runs the same test (a leak makes its exit status fail),
	# with the big loads smaller: the release run above carries the issues' full figures (2,000
	# messages across a broker restart, 5,000 files killed mid-way, ...), this one the memory
	# checks on the same paths
	suite "integration-asan-$(basename "$t" .sh)" env BIN="$ASAN/didcomm-gateway" RELAY_N=500 MQTT_HELD_N=200 \
		MQTT_RESTART_N=500 FILE_N=100 FILE_KILL_N=1000 MED_N=300 PG_N=600 bash "$t"
done
# hostile peers (tests/hostile): written to the hardening contract; the release daemon and the
# sanitizer one, except the memory suite (release only: its RSS bound is no bound for ASan's shadow)
for t in tests/hostile/[0-9]*.sh; do
	[ -f "$t" ] || continue
	n=$(basename "$t" .sh)
	suite "hostile-$n" env BIN="$REL/didcomm-gateway" bash "$t"
	case $n in *memory*) continue ;; esac
	suite "hostile-asan-$n" env BIN="$ASAN/didcomm-gateway" bash "$t"
done
[ -f tests/queue/crash.sh ] && suite queue-crash bash tests/queue/crash.sh
[ -f tests/interop/run.sh ] && suite interop env BIN="$REL/didcomm-gateway" bash tests/interop/run.sh

echo
[ -n "$broken" ] && echo "suites with problems:$broken"
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
