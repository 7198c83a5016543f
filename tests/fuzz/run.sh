#!/usr/bin/env bash
# make fuzz: build each target with clang + libFuzzer + ASan/UBSan against core/*.c and run it
# for SECONDS (default 60) on its seed corpus. New inputs go to a scratch dir, not into the
# committed corpus; a crash fails the run and leaves its reproducer in build/fuzz/.
set -u
cd "$(dirname "$0")/../.."
SECONDS_EACH=${1:-60}
OUT=build/fuzz
mkdir -p "$OUT"
CFLAGS="-std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L -g -O1 -Icore -Irules $(pkg-config --cflags libsodium libcjson libcrypto)"
LIBS="$(pkg-config --libs libsodium libcjson libcrypto sqlite3) -lm"
pass=0 fail=0
for src in tests/fuzz/fuzz_*.c; do
	t=$(basename "$src" .c); t=${t#fuzz_}
	if ! clang $CFLAGS -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all "$src" core/*.c rules/*.c $LIBS \
		-o "$OUT/fuzz_$t" 2>"$OUT/$t.build.log"; then
		echo "FAIL $t: build (see $OUT/$t.build.log)"; fail=$((fail + 1)); continue
	fi
	scratch=$(mktemp -d /tmp/dcfuzz.XXXXXX)
	dict=""; [ -f "tests/fuzz/$t.dict" ] && dict="-dict=tests/fuzz/$t.dict"
	if (cd "$OUT" && true) && "$OUT/fuzz_$t" -max_total_time="$SECONDS_EACH" -max_len=65536 -rss_limit_mb=2048 \
		-artifact_prefix="$OUT/$t-" $dict "$scratch" "tests/fuzz/corpus/$t" >"$OUT/$t.log" 2>&1; then
		echo "ok $t: $(grep -oE 'Done [0-9]+ runs' "$OUT/$t.log" | tail -1)"; pass=$((pass + 1))
	else
		echo "FAIL $t: $(grep -E 'ERROR|SUMMARY' "$OUT/$t.log" | head -2 | tr '\n' ' ')"; fail=$((fail + 1))
	fi
	rm -rf "$scratch"
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
