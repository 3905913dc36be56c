#!/usr/bin/env bash
# make check-fresh: a newcomer's first hour, on a fresh Debian 12.
#
#   1. debootstrap --variant=minbase bookworm (cached in $B/fresh as a tarball)
#   2. apt-get install git make ca-certificates: all the README asks for first
#   3. git clone of this tree (its committed HEAD, through a bundle the root's git clones)
#   4. make demo, as the README says, as root
#   5. make check, as root
#   6. the README's way from source to an alert: systemd-sysusers, make install,
#      the smallest configuration, qqnotify queue init, qqnotify-secret set and
#      qqnotify check --send-test, against a local TLS server standing in for smtp.qq.com
#      (the configuration names no credential_helper: root's default finds the secret)
# The root gets /proc, /sys, /dev and /dev/pts, mounted as one prepares a chroot by hand
# (packaging/testroot.sh), all unmounted on every exit.  Each step's output is shown and
# kept in $B/fresh/STEP.log.  At the end: a table of each step's time and the packages
# installed before and after it, and the summary lines of `make demo` and `make check`.
# Exit status 0 when every step succeeded.
#
# Environment: B (build folder), QN_DEBIAN_MIRROR, QN_FRESH_KEEP=1 keeps the root.
# Root only; about 15 minutes on a 2-core machine, most of it `make check`.
set -uo pipefail

B=${B:-build}
TOP=$(pwd)
WORK=$TOP/$B/fresh
ROOT=$WORK/root
# shellcheck source=packaging/testroot.sh
. "$TOP/packaging/testroot.sh"
CACHE=$WORK/$TESTROOT_SUITE-minbase.tar
TESTROOT_TIMEOUT=3600
export LC_ALL=C.UTF-8

if [ "$(id -u)" -ne 0 ]; then
    echo "check-fresh: needs root (debootstrap, chroot, mount); run it as root" >&2
    exit 77
fi

cleanup() {
    testroot_umount
    if [ "${QN_FRESH_KEEP:-0}" != 1 ]; then
        testroot_remove "$ROOT"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

declare -a rows=()
failed=0
packages() { testroot_run "$ROOT" dpkg-query -W -f='${db:Status-Status}\n' | grep -c '^installed$'; }

# step NAME COMMAND...: run it (output shown and kept in $WORK/NAME.log) and add a row with
# its time and the package count after it.
step() {
    local name=$1 t0 rc before after
    shift
    before=$(packages)
    printf '\n== %s\n' "$name"
    t0=$(date +%s)
    "$@" 2>&1 | tee "$WORK/$name.log"
    rc=${PIPESTATUS[0]}
    after=$(packages)
    rows+=("$(printf '%-12s %6ss %6s %6s %+6d   %s' "$name" $(($(date +%s) - t0)) "$before" \
        "$after" $((after - before)) "$([ "$rc" -eq 0 ] && echo ok || echo "FAILED ($rc)")")")
    [ "$rc" -eq 0 ] || failed=$((failed + 1))
    return "$rc"
}

mkdir -p "$WORK"
testroot_remove "$ROOT" || exit 1 # left by an interrupted run

printf '== debootstrap --variant=minbase %s from %s\n' "$TESTROOT_SUITE" "$TESTROOT_MIRROR"
t0=$(date +%s)
if [ -s "$CACHE" ]; then
    boot_note="cached tarball ($B/fresh); remove it to measure debootstrap again"
elif testroot_bootstrap "$CACHE" "$WORK/debootstrap.log"; then
    boot_note="debootstrap $(($(date +%s) - t0)) s"
else
    tail -n 20 "$WORK/debootstrap.log"
    echo "check-fresh: debootstrap failed (log: $B/fresh/debootstrap.log)"
    exit 1
fi
testroot_unpack "$CACHE" "$ROOT" && testroot_mount "$ROOT" proc sys dev pts || exit 1
rows+=("$(printf '%-12s %6ss %6s %6s %6s   %s' minbase $(($(date +%s) - t0)) - "$(packages)" - \
    "$boot_note")")

newcomer() { testroot_run "$ROOT" bash -c "$1"; }
step prerequisites newcomer 'export DEBIAN_FRONTEND=noninteractive &&
    apt-get update && apt-get install -y --no-install-recommends git make ca-certificates'
# The committed tree, its branch checked out as a clone would (HEAD alone when detached).
branch=$(git -C "$TOP" symbolic-ref -q --short HEAD)
tested=$(git -C "$TOP" log --oneline -1)
git -C "$TOP" bundle create "$ROOT/root/qqnotify.bundle" HEAD $branch >/dev/null 2>&1 ||
    { echo "check-fresh: git bundle of $TOP failed"; exit 1; }
step clone newcomer 'git clone -q /root/qqnotify.bundle /root/qqnotify &&
    git -C /root/qqnotify log --oneline -1'
step demo newcomer 'cd /root/qqnotify && make demo'
step check newcomer 'cd /root/qqnotify && make check'
step install newcomer 'cd /root/qqnotify &&
    systemd-sysusers "$PWD/packaging/sysusers.d/qqnotify.conf" && make install &&
    ls -ld /usr/local/libexec/qqnotify/qqnotify-drop'
# The local server stands in for smtp.qq.com: host, port and ca_file are the only lines
# the README's configuration does not have.
step alert newcomer 'set -eo pipefail
    cd /root/qqnotify
    d=$(mktemp -d)
    trap "kill \$server 2>/dev/null; rm -rf $d" EXIT
    /usr/bin/python3 tests/integration/tlsca.py $d/ca >/dev/null
    head -c 12 /dev/urandom | od -An -tx1 | tr -d " \n" >$d/secret
    /usr/bin/python3 tests/integration/smtpserver.py --mode implicit --host 127.0.0.1 \
        --port 0 --user 123456789@qq.com --password-file $d/secret --cert $d/ca/server.pem \
        --key $d/ca/server.key --maildir $d/mail --ready-file $d/port --lifetime 300 &
    server=$!
    for i in $(seq 100); do [ -s $d/port ] && break; sleep 0.1; done
    printf "[smtp]\nprovider = qq\nuser = 123456789@qq.com\nhost = 127.0.0.1\nport = %s\n" \
        "$(cat $d/port)" >/etc/qqnotify/qqnotify.conf
    printf "ca_file = %s\n[notify]\nto = you@example.com\n" $d/ca/ca.pem \
        >>/etc/qqnotify/qqnotify.conf
    cat /etc/qqnotify/qqnotify.conf
    qqnotify queue init
    ls -ld /var/spool/qqnotify /var/spool/qqnotify/*
    qqnotify-secret set <$d/secret
    qqnotify check --send-test you@example.com | tee $d/check.out
    grep -q "(the default: no source configured)" $d/check.out
    echo "the server received $(ls $d/mail/*.eml | wc -l) mail(s)"
    [ "$(ls $d/mail/*.eml | wc -l)" -eq 1 ]'

printf '\n== summary (%s, %s)\n' "Debian $(cat "$ROOT/etc/debian_version")" "$tested"
printf '%-12s %7s %6s %6s %6s   %s\n' step time before after added result
printf '%s\n' "${rows[@]}"
printf 'make demo:  %s\n' "$(grep -a 'demo OK\|^demo: ' "$WORK/demo.log" | tail -n 1)"
printf 'make check: %s\n' "$(grep -a '^check: ' "$WORK/check.log" | tail -n 2 | tr '\n' ' ')"
printf 'source install and alert: %s\n' "$(grep -a 'All checks passed\|received' \
    "$WORK/alert.log" | tr '\n' ' ')"
printf 'apt for make demo: %s\n' "$(grep -a 'newly installed\|Need to get\|After this' \
    "$WORK/demo.log" | tr '\n' ' ')"
printf 'apt for make check: %s\n' "$(grep -a 'newly installed\|Need to get\|After this' \
    "$WORK/check.log" | tr '\n' ' ')"
echo "check-fresh: $([ "$failed" -eq 0 ] && echo passed || echo "$failed step(s) failed")"
[ "$failed" -eq 0 ]
