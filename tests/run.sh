#!/bin/sh
# Run every unit test program and the integration suite; end with one line
# "check: N passed, N failed" and exit non-zero when anything failed.
#
# As root everything runs, and a skipped test is a failed one.  As another user the tests
# that need root (systemd-creds, chown to another user...) end without running: a C test
# prints "needs root: WHY" and skips, an integration test calls harness.needs_root(WHY).
# They are counted apart, and one more line names them: "check: N not run: ...".
# Tests that need mount namespaces (a private /etc/hosts, a /dev/log of their own) end the
# same way, for any user, where there are none (a chroot, some containers): a C test
# prints "needs namespaces: WHY", an integration test calls harness.needs_namespaces(WHY).
set -u
B=${B:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
passed=0
failed=0
not_run=0
why=$(mktemp)   # one line per test not run: what it needs root for
whyns=$(mktemp) # and per test not run for want of mount namespaces
not_run_ns=0
root=0
[ "$(id -u)" -eq 0 ] && root=1
log=$(mktemp)
trap 'rm -f "$log" "$why" "$whyns"' EXIT

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
    # ...unless it needs root and this is another user: not run.
    r=0
    if [ "$root" -eq 0 ]; then
        r=$(grep -c '^needs root: ' "$log")
        [ "$r" -gt "$s" ] && r=$s
        sed -n 's/^needs root: //p' "$log" | head -n "$r" >>"$why"
        s=$((s - r))
        not_run=$((not_run + r))
    fi
    n=$(grep -c '^needs namespaces: ' "$log")
    [ "$n" -gt "$s" ] && n=$s
    sed -n 's/^needs namespaces: //p' "$log" | head -n "$n" >>"$whyns"
    s=$((s - n))
    not_run_ns=$((not_run_ns + n))
    r=$((r + n))
    f=$((f + s))
    p=${p:-0}
    f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1 # crashed or failed before cmocka could count
    fi
    if [ "$f" -ne 0 ]; then
        cat "$log"
        echo "unit $name: $p passed, $f failed (exit $rc)"
    elif [ "$r" -ne 0 ]; then
        echo "unit $name: $p passed, $r not run (needs root or namespaces)"
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
r=$(sed -n 's/^integration: .* failed, \([0-9]*\) not run (need root: .*)$/\1/p' "$log" |
    tail -n 1)
if [ -n "$r" ]; then
    not_run=$((not_run + r))
    # "WHY N, WHY N" -> N lines WHY
    sed -n 's/^integration: .* not run (need root: \(.*\))$/\1/p' "$log" | tail -n 1 |
        tr ',' '\n' | awk 'NF { n = $NF; $NF = ""; sub(/^ +/, ""); sub(/ +$/, "");
            for (i = 0; i < n && i < 10000; i++) print }' >>"$why"
fi
r=$(sed -n 's/^integration: .* not run (need namespaces: .*)$/x/p' "$log" | tail -n 1)
if [ -n "$r" ]; then
    sed -n 's/^integration: .* not run (need namespaces: \(.*\))$/\1/p' "$log" | tail -n 1 |
        tr ',' '\n' | awk 'NF { n = $NF; $NF = ""; sub(/^ +/, ""); sub(/ +$/, "");
            for (i = 0; i < n && i < 10000; i++) print }' >>"$whyns"
    not_run_ns=$(wc -l <"$whyns")
fi
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
if [ "$not_run" -gt 0 ]; then
    echo "check: $not_run not run as $(id -un), they need root ($(sort "$why" | uniq -c |
        sort -rn | awk '{n = $1; $1 = ""; printf "%s%s: %d", sep, substr($0, 2), n;
            sep = "; "}')): sudo make check runs them too"
fi
if [ "$not_run_ns" -gt 0 ]; then
    echo "check: $not_run_ns not run, there are no mount namespaces here (a chroot, or a container without them) ($(sort "$whyns" | uniq -c |
        sort -rn | awk '{n = $1; $1 = ""; printf "%s%s: %d", sep, substr($0, 2), n;
            sep = "; "}')): run make check on the host or in a container with them"
fi
[ "$failed" -eq 0 ]
