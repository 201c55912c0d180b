#!/bin/sh
# SPDX-License-Identifier: MIT
# replay.sh - every seed corpus through its fuzz target's entry point
# (tests/fuzz/replay_NAME, built without libFuzzer by `make check`). One
# line per target; the last line counts them. A target whose replay
# program or corpus is missing is a failure: both are part of the tree.
top=${MQ_SRCDIR:-$(dirname "$0")/../..}
build=${MQ_BUILDDIR:-.}
passed=0
failed=0
for src in "$top"/tests/fuzz/fuzz_*.c; do
	t=$(basename "$src" .c)
	t=${t#fuzz_}
	if [ -z "$(ls -A "$top/tests/fuzz/corpus/$t" 2>/dev/null)" ]; then
		echo "FAIL: $t: no seed corpus in tests/fuzz/corpus/$t/"
		failed=$((failed + 1))
	fi
done
for dir in "$top"/tests/fuzz/corpus/*/; do
	t=$(basename "$dir")
	prog="$build/tests/fuzz/replay_$t"
	if [ ! -x "$prog" ]; then
		[ -f "$top/tests/fuzz/fuzz_$t.c" ] || continue
		echo "FAIL: $t: $prog is not built"
		failed=$((failed + 1))
		continue
	fi
	log="$build/tests/fuzz/replay_$t.out"
	if "$prog" "$dir" >"$log" 2>&1; then
		echo "PASS: $t: $(tail -n 1 "$log")"
		passed=$((passed + 1))
	else
		echo "FAIL: $t: $(tail -n 1 "$log")"
		tail -n 20 "$log"
		failed=$((failed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
