#!/bin/sh
# Run every unit test program and the integration suite; end with one line
# "check: N passed, N failed" and exit non-zero when anything failed.
set -u
B=${B:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

for t in "$B"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    if "$t" >"$log" 2>&1; then rc=0; else rc=$?; fi
    # cmocka: "[  PASSED  ] N test(s)." and "[  FAILED  ] N test(s), listed below:",
    # once per group: a program may run several groups, so add them up.
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s += $1} END {print s + 0}')
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s += $1} END {print s + 0}')
    # A skipped test did not run: it counts as failed, as in the integration runner.
    s=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$log" | awk '{s += $1} END {print s + 0}')
    f=$((f + s))
    p=${p:-0}
    f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1 # crashed or failed before cmocka could count
    fi
    if [ "$f" -ne 0 ]; then
        cat "$log"
        echo "unit $name: $p passed, $f failed (exit $rc)"
    else
        echo "unit $name: $p passed"
    fi
    passed=$((passed + p))
    failed=$((failed + f))
done

if "$PYTHON" tests/integration/run.py --build "$B" >"$log" 2>&1; then rc=0; else rc=$?; fi
cat "$log"
p=$(sed -n 's/^integration: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p' "$log" | tail -n 1)
f=$(sed -n 's/^integration: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p' "$log" | tail -n 1)
if [ -z "$p" ]; then
    p=0
    f=1
    echo "integration: the runner ended without a summary (exit $rc)"
elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    f=1
fi
passed=$((passed + p))
failed=$((failed + f))

echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
