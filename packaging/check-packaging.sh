#!/usr/bin/env bash
# make check-packaging: build the packages and check them the way an administrator meets them.
#
#   1. tools      the packaging tools and the .deb's build dependencies are there
#                 (`make check-packaging` installs them first: tools/deps.sh packaging)
#   2. man        every man page renders without a groff or man warning (source and packaged)
#   3. units      systemd-analyze security --offline=yes rates each service 2.0 or lower
#   4. deb        make deb; lintian reports no error and no warning
#   5. rpm        make rpm; rpmlint (packaging/rpm/rpmlint.toml) reports nothing
#   6. install    a throw-away Debian 12 root (debootstrap, cached in $B/pkgtest): the .debs
#                 installed with apt, user, spool and units checked, the PAM profile enabled,
#                 sessions through the real PAM stack (su, pamtester) land in the spool,
#                 `qqnotify flush` run as the unit runs it mails them to a local TLS server,
#                 then purge, and nothing is left behind but what policy keeps.
#   7. systemd    (inside 6, before the purge) the same root booted with systemd-nspawn:
#                 the units enabled, the journal watcher running sandboxed (Type=notify),
#                 a journal rule and a PAM session mailed through qqnotify-flush.path and
#                 qqnotify-flush.service with its LoadCredentialEncrypted= secret.  Skipped,
#                 and said so, where systemd-nspawn cannot boot a container.
#
# Everything runs under $B/pkgtest and on 127.0.0.1 (plus a tmpfs on /run/systemd/nspawn
# while the container runs, where /run is not one); mounts, the server, the container and
# the root are removed on every exit.  Bounded: each long step has a timeout.  The last
# line is "check-packaging: N passed, N failed, N skipped"; the exit status is non-zero
# when anything failed.  About 2 minutes with the cached root, 3 without.
#
# Environment: B (build folder), VERSION, MAKE, PYTHON (with aiosmtpd, as for make check);
# QN_DEBIAN_MIRROR (default http://deb.debian.org/debian); QN_PKGTEST_KEEP=1 keeps the
# test root for inspection.
set -uo pipefail

B=${B:-build}
VERSION=${VERSION:-0.1.0}
MAKE=${MAKE:-make}
PYTHON=${PYTHON:-/usr/bin/python3}
TOP=$(pwd)
WORK=$TOP/$B/pkgtest
ROOT=$WORK/root
# The test root: debootstrap, its cache, mounts (packaging/testroot.sh).
# shellcheck source=packaging/testroot.sh
. "$TOP/packaging/testroot.sh"
SUITE=$TESTROOT_SUITE
MIRROR=$TESTROOT_MIRROR
CACHE=$WORK/$SUITE-minbase.tar
export LC_ALL=C.UTF-8

passed=0
failed=0
declare -a failures=()
server_pid=
nspawn_pid=
skipped=0

ok() {
    passed=$((passed + 1))
    printf 'ok    %s\n' "$1"
}
fail() {
    failed=$((failed + 1))
    failures+=("$1")
    printf 'FAIL  %s\n' "$1"
}
section() {
    printf '\n== %s (%ds)\n' "$1" $(($(date +%s) - T0))
}
# check NAME COMMAND...: run, count, show the output of a failure.
check() {
    local name=$1 out
    shift
    if out=$("$@" 2>&1); then
        ok "$name"
    else
        fail "$name"
        printf '%s\n' "$out" | tail -n 30 | sed 's/^/      /'
    fi
}

skip() {
    skipped=$((skipped + 1))
    printf 'skip  %s\n' "$1"
}

cleanup() {
    if declare -F ct_stop >/dev/null; then ct_stop; fi
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
        server_pid=
    fi
    testroot_umount
    rm -f "$WORK/secret"
    if [ "${QN_PKGTEST_KEEP:-0}" != 1 ]; then
        testroot_remove "$ROOT"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

T0=$(date +%s)
mkdir -p "$WORK"

# ---------------------------------------------------------------------------------------
section "1. tools"
# `make check-packaging` installed them first (tools/deps.sh packaging); run by hand, this
# says what is missing.  command:Debian package
TOOLS="dpkg-buildpackage:dpkg-dev dh:debhelper lintian:lintian rpmbuild:rpm rpmlint:rpmlint
debootstrap:debootstrap systemd-analyze:systemd groff:groff-base man:man-db gzip:gzip
$PYTHON:python3 openssl:openssl systemd-nspawn:systemd-container"
missing=""
for t in $TOOLS; do
    command -v "${t%%:*}" >/dev/null 2>&1 || missing="$missing ${t##*:}"
done
if [ -n "$missing" ]; then
    fail "tools: missing packages:$missing (make deps-packaging installs them)"
    echo "check-packaging: $passed passed, $failed failed"
    exit 1
fi
ok "tools"
# One version everywhere: the Makefile's, debian/changelog's, the spec's.
versions() {
    local deb rpmv
    deb=$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)
    rpmv=$(sed -n 's/^Version: *//p' packaging/rpm/qqnotify.spec)
    [ "$deb" = "$VERSION-1" ] && [ "$rpmv" = "$VERSION" ] ||
        { echo "Makefile $VERSION, debian/changelog $deb, qqnotify.spec $rpmv"; return 1; }
}
check "versions agree (Makefile, debian/changelog, qqnotify.spec)" versions
# The Build-Depends of packaging/debian/control (dpkg-buildpackage refuses to start
# without them; tools/deps.sh deb installs them with apt-get build-dep).
check "build dependencies of the .deb (dpkg-checkbuilddeps)" \
    dpkg-checkbuilddeps packaging/debian/control
if [ "$(id -u)" -ne 0 ]; then
    echo "check-packaging: the install test needs root (chroot, mounts)" >&2
fi

# ---------------------------------------------------------------------------------------
section "2. man pages (sources)"
MAN_SOURCES="cli/qqnotify.1 secrets/qqnotify-secret.1 packaging/qqnotify.conf.5
pam/pam_qqnotify.8 journal-watch/qqnotify-journal.8 journal-watch/qqnotify-rules.5
drop/qqnotify-drop.8"
# man_clean FILE: groff in its strictest mode and man as lintian runs it, both silent.
man_clean() {
    local f=$1 out
    out=$(zcat -f "$f" | groff -ww -man -z -K utf8 -Tutf8 2>&1) || return 1
    [ -z "$out" ] || { printf '%s\n' "$out"; return 1; }
    out=$(MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$f" 2>&1 >/dev/null) || return 1
    [ -z "$out" ] || { printf '%s\n' "$out"; return 1; }
    out=$(MANWIDTH=80 man --warnings -l "$f" 2>&1 >/dev/null) || return 1
    [ -z "$out" ] || { printf '%s\n' "$out"; return 1; }
}
man_ready=1
for f in $MAN_SOURCES; do
    if [ ! -f "$f" ]; then
        fail "man: $f does not exist"
        man_ready=0
        continue
    fi
    check "man: $f renders without warnings" man_clean "$f"
done

# ---------------------------------------------------------------------------------------
section "3. systemd units"
SECURITY_TABLE=$WORK/security.txt
: >"$SECURITY_TABLE"
for u in qqnotify-journal.service qqnotify-flush.service; do
    out=$(systemd-analyze security --offline=yes --no-pager "packaging/systemd/$u" 2>&1)
    printf '%s\n' "$out" >"$WORK/security-$u.txt"
    level=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
    printf '%-28s %s\n' "$u" "${level:-?}" >>"$SECURITY_TABLE"
    printf '%s\n' "$out" | grep '✗' | sed 's/^/    /' >>"$SECURITY_TABLE"
    if [ -n "$level" ] && awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }'; then
        ok "security: $u exposure $level <= 2.0"
    else
        fail "security: $u exposure ${level:-unknown} > 2.0"
        printf '%s\n' "$out" | tail -n 20
    fi
done
echo "systemd-analyze security --offline=yes (exposure, then what is not restricted):"
cat "$SECURITY_TABLE"

# ---------------------------------------------------------------------------------------
section "4. deb + lintian"
debs_ok=0
if [ "$man_ready" -eq 1 ] && timeout 900 $MAKE --no-print-directory deb >"$WORK/deb.log" 2>&1; then
    ok "make deb"
    debs_ok=1
else
    fail "make deb (log: $B/pkgtest/deb.log)"
    tail -n 30 "$WORK/deb.log" 2>/dev/null | sed 's/^/      /'
fi
DEBS=()
if [ "$debs_ok" -eq 1 ]; then
    DEBS=("$B/deb/qqnotify_${VERSION}-1_"*.deb "$B/deb/libpam-qqnotify_${VERSION}-1_"*.deb)
    lint=$(timeout 600 lintian --pedantic --display-info --tag-display-limit 0 \
        "$B/deb/qqnotify_${VERSION}-1_"*.changes 2>&1 | grep -v '^running with root')
    echo "lintian --pedantic --display-info:"
    printf '%s\n' "${lint:-(nothing)}" | sed 's/^/    /'
    if printf '%s\n' "$lint" | grep -q '^[EW]:'; then
        fail "lintian: errors or warnings"
    else
        ok "lintian: no error, no warning"
    fi
    # The pages as installed: compressed, from the package.
    x=$WORK/deb-contents
    rm -rf "$x"
    mkdir -p "$x"
    for d in "${DEBS[@]}"; do dpkg-deb -x "$d" "$x"; done
    for f in "$x"/usr/share/man/man*/*.gz; do
        check "man: installed ${f#"$x"/} renders without warnings" man_clean "$f"
    done
fi

# ---------------------------------------------------------------------------------------
section "5. rpm + rpmlint"
if [ "$man_ready" -eq 1 ] && timeout 900 $MAKE --no-print-directory rpm >"$WORK/rpm.log" 2>&1; then
    ok "make rpm"
    lint=$(timeout 300 rpmlint -c packaging/rpm/rpmlint.toml "$B/rpm/SPECS/qqnotify.spec" \
        "$B"/rpm/SRPMS/*.rpm "$B"/rpm/RPMS/*/*.rpm 2>&1)
    echo "rpmlint -c packaging/rpm/rpmlint.toml:"
    printf '%s\n' "$lint" | grep -v -e '^=' -e '^rpmlint:' -e '^configuration:' -e '^    ' -e '^checks:' -e '^$' |
        sed 's/^/    /'
    if printf '%s\n' "$lint" | grep -q ': [EW]: '; then
        fail "rpmlint: errors or warnings"
    else
        ok "rpmlint: no error, no warning"
    fi
else
    fail "make rpm (log: $B/pkgtest/rpm.log)"
    tail -n 30 "$WORK/rpm.log" 2>/dev/null | sed 's/^/      /'
fi

# ---------------------------------------------------------------------------------------
section "6. install test in a throw-away Debian 12 root"
if [ "$debs_ok" -ne 1 ] || [ "$(id -u)" -ne 0 ]; then
    fail "install test: not run (no .debs, or not root)"
    echo "check-packaging: $passed passed, $failed failed"
    exit 1
fi

# in_root COMMAND...: run in the test root with a clean environment, for 10 minutes at most.
in_root() { testroot_run "$ROOT" DEBIAN_FRONTEND=noninteractive "$@"; }

# The test root booted by systemd-nspawn (stage 7).  ct_init holds the container's PID 1
# as the host sees it; in_ct runs a command in all of its namespaces.
ct_init=
ct_start() {
    local p c i
    if [ "$(findmnt -n -o FSTYPE --target /run/systemd/nspawn 2>/dev/null)" != tmpfs ]; then
        # nspawn keeps per-container state there and refuses to clean it up on a /run
        # that is not tmpfs; a tmpfs of our own, removed with the rest.
        mkdir -p /run/systemd/nspawn &&
            mount -t tmpfs -o mode=0755 tmpfs /run/systemd/nspawn &&
            TESTROOT_MOUNTS+=("/run/systemd/nspawn") || return 1
    fi
    umount "$ROOT/proc" 2>/dev/null
    timeout 600 systemd-nspawn --register=no --keep-unit -q -D "$ROOT" -b \
        --console=pipe >"$WORK/nspawn.log" 2>&1 </dev/null &
    nspawn_pid=$!
    for i in $(seq 100); do
        p=$nspawn_pid
        while c=$(pgrep -P "$p" | head -n 1) && [ -n "$c" ]; do
            if [ "$(ps -o comm= -p "$c")" = systemd ]; then
                ct_init=$c
                break 2
            fi
            p=$c
        done
        kill -0 "$nspawn_pid" 2>/dev/null || return 1
        sleep 0.2
    done
    [ -n "$ct_init" ] || return 1
    # Up and settled: "running", or "degraded" when a unit unrelated to us failed.  Until
    # systemd has opened its socket, systemctl cannot ask it: try again.
    for i in $(seq 120); do
        s=$(in_ct timeout 120 systemctl is-system-running --wait 2>&1)
        case $s in running | degraded) return 0 ;; esac
        case $s in *"Failed to connect"* | "") sleep 0.5 ;; *) break ;; esac
    done
    echo "system state: $s"
    return 1
}
in_ct() { nsenter -t "$ct_init" -a -- /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 HOME=/root DEBIAN_FRONTEND=noninteractive "$@"; }
ct_stop() {
    local i
    [ -n "$nspawn_pid" ] || return 0
    # SIGRTMIN+4 asks systemd for a clean power-off.
    [ -n "$ct_init" ] && kill -s RTMIN+4 "$ct_init" 2>/dev/null
    for i in $(seq 150); do
        kill -0 "$nspawn_pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -0 "$nspawn_pid" 2>/dev/null && kill -KILL "$nspawn_pid" 2>/dev/null
    wait "$nspawn_pid" 2>/dev/null
    nspawn_pid=
    ct_init=
    [ -d "$ROOT/proc" ] && ! grep -q " $ROOT/proc " /proc/mounts &&
        mount -t proc proc "$ROOT/proc"
    return 0
}

cleanup # a root left by an interrupted run
if [ ! -s "$CACHE" ]; then
    echo "debootstrap --variant=minbase $SUITE from $MIRROR (cached in $B/pkgtest afterwards)"
    if testroot_bootstrap "$CACHE" "$WORK/debootstrap.log" pamtester; then
        ok "debootstrap $SUITE"
    else
        fail "debootstrap $SUITE (log: $B/pkgtest/debootstrap.log)"
        tail -n 20 "$WORK/debootstrap.log" | sed 's/^/      /'
        echo "check-packaging: $passed passed, $failed failed"
        exit 1
    fi
fi
testroot_unpack "$CACHE" "$ROOT"
testroot_mount "$ROOT" proc
if [ ! -c "$ROOT/dev/null" ]; then
    testroot_mount "$ROOT" dev
fi

# What the root holds before the packages: files, and who owns what.
# Left out: what apt, dpkg, caches and logs keep about every package, and mount points.
snapshot() {
    (cd "$ROOT" && find . -xdev \( -path ./proc -o -path ./dev -o -path ./sys -o \
        -path ./run -o -path ./tmp -o -path ./var/lib/apt -o -path ./var/lib/dpkg -o \
        -path ./var/cache -o -path ./var/log -o -path ./var/tmp \) -prune -o -print |
        sort)
}
mkdir -p "$ROOT/tmp/debs"
cp "${DEBS[@]}" "$ROOT/tmp/debs/"
DEB_ARGS=$(for d in "${DEBS[@]}"; do printf '/tmp/debs/%s ' "${d##*/}"; done)
# The dependencies (systemd...) and the test's own tool (pamtester) first, as on a server
# that has them: the purge at the end must then leave exactly this state.
prepare_root() {
    local deps
    in_root apt-get update -q || return 1
    deps=$(in_root apt-get install -s -q --no-install-recommends $DEB_ARGS |
        awk '/^Inst / { print $2 }' | grep -v -x -e qqnotify -e libpam-qqnotify)
    in_root apt-get install -y -q --no-install-recommends pamtester $deps || return 1
    # A local user without any group of ours: submits with `qqnotify notify` (stage 7).
    in_root useradd --no-create-home --shell /bin/sh alice
}
if prepare_root >"$WORK/apt.log" 2>&1; then
    ok "test root: dependencies and pamtester installed"
else
    fail "test root: dependencies (log: $B/pkgtest/apt.log)"
    tail -n 30 "$WORK/apt.log" | sed 's/^/      /'
    echo "check-packaging: $passed passed, $failed failed"
    exit 1
fi
# Boot the root once before the packages: what a first boot writes (random seed, machine
# state) is then part of the state the purge must return to, and stage 7 knows it can run.
ct_can_boot=0
ct_why="systemd-nspawn is not installed (package systemd-container)"
if command -v systemd-nspawn >/dev/null; then
    if ct_start >"$WORK/ct.log" 2>&1; then
        ct_can_boot=1
    else
        ct_why="systemd-nspawn cannot boot a container on this host ($B/pkgtest/nspawn.log)"
    fi
    ct_stop
fi
snapshot >"$WORK/before.txt"
if in_root apt-get install -y -q --no-install-recommends $DEB_ARGS >>"$WORK/apt.log" 2>&1; then
    ok "apt install ./qqnotify_*.deb ./libpam-qqnotify_*.deb"
else
    fail "apt install (log: $B/pkgtest/apt.log)"
    tail -n 30 "$WORK/apt.log" | sed 's/^/      /'
    echo "check-packaging: $passed passed, $failed failed"
    exit 1
fi

# -- what the packages set up -------------------------------------------------------------
check "user and group qqnotify, group qqnotify-drop exist (sysusers.d)" in_root sh -c \
    'getent passwd qqnotify | grep -q ":/usr/sbin/nologin$" && getent group qqnotify &&
     getent group qqnotify-drop'
spool_modes() {
    local d s want
    for d in "" /maildrop /tmp /new /deferred /failed /state; do
        case $d in
        "") want="711 qqnotify:qqnotify" ;;
        /maildrop) want="1730 qqnotify:qqnotify-drop" ;;
        *) want="2700 qqnotify:qqnotify" ;;
        esac
        s=$(in_root stat -c '%a %U:%G' "/var/spool/qqnotify$d") || return 1
        [ "$s" = "$want" ] || { echo "/var/spool/qqnotify$d: $s, want $want"; return 1; }
    done
}
check "spool tree qqnotify 0711, maildrop/ 1730 qqnotify-drop, queues 2700 (tmpfiles.d)" \
    spool_modes
drop_mode() {
    local s
    s=$(in_root stat -c '%a %U:%G' /usr/libexec/qqnotify/qqnotify-drop) || return 1
    [ "$s" = "2755 root:qqnotify-drop" ] || { echo "qqnotify-drop: $s"; return 1; }
    in_root dpkg-statoverride --list /usr/libexec/qqnotify/qqnotify-drop | grep -q qqnotify-drop
}
check "qqnotify-drop is set-group-ID qqnotify-drop (dpkg-statoverride)" drop_mode
conf_mode() {
    local s
    s=$(in_root stat -c '%a %U:%G' /etc/qqnotify/qqnotify.conf) || return 1
    [ "$s" = "640 root:qqnotify" ] || { echo "/etc/qqnotify/qqnotify.conf: $s"; return 1; }
}
check "qqnotify.conf readable by root and the qqnotify group only" conf_mode
check "conffiles: qqnotify.conf and rules.d" in_root sh -c \
    'dpkg-query -W -f="\${Conffiles}\n" qqnotify | grep -q "/etc/qqnotify/qqnotify.conf " &&
     dpkg-query -W -f="\${Conffiles}\n" qqnotify | grep -q "/etc/qqnotify/rules.d/"'
check "units installed and not enabled before configuration" in_root sh -c \
    'for u in qqnotify-journal.service qqnotify-flush.path qqnotify-flush.timer; do
         s=$(systemctl is-enabled $u 2>/dev/null); [ "$s" = disabled ] || { echo "$u: $s"; exit 1; }
     done'
check "systemd-analyze verify on the installed units" in_root systemd-analyze verify --man=no \
    /lib/systemd/system/qqnotify-journal.service /lib/systemd/system/qqnotify-flush.service \
    /lib/systemd/system/qqnotify-flush.path /lib/systemd/system/qqnotify-flush.timer
ldd_pam() {
    local libs
    libs=$(in_root sh -c 'ldd /lib/*/security/pam_qqnotify.so' | awk '{print $1}' |
        grep -v -e '^linux-vdso' -e '^/lib64/ld-linux' -e '^libc\.so' -e '^libpam\.so' \
            -e '^libaudit\.so' -e '^libcap-ng\.so' -e '^libcap\.so')
    [ -z "$libs" ] || { echo "unexpected: $libs"; return 1; }
}
check "pam_qqnotify.so links libc and libpam only" ldd_pam

# The shipped configuration, untouched: a clear error, exit 78.
pristine_check() {
    local out rc
    out=$(in_root qqnotify --lang en check 2>&1)
    rc=$?
    [ "$rc" -eq 78 ] && printf '%s\n' "$out" | grep -q 'user is not set' &&
        printf '%s\n' "$out" | grep -q 'fix: set user' || { echo "exit $rc: $out"; return 1; }
}
check "shipped config: qqnotify check says user is not set and how to fix it (78)" pristine_check

# -- a local TLS server, the configuration and the secret, as an administrator would ------
mkdir -p "$WORK/ca" "$WORK/maildir"
rm -f "$WORK"/maildir/* "$WORK/port"
SECRET=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
umask 077
printf '%s\n' "$SECRET" >"$WORK/secret"
umask 022
"$PYTHON" tests/integration/tlsca.py "$WORK/ca" >/dev/null
"$PYTHON" tests/integration/smtpserver.py --mode implicit --host 127.0.0.1 --port 0 \
    --user alerts@example.com --password-file "$WORK/secret" --cert "$WORK/ca/server.pem" \
    --key "$WORK/ca/server.key" --maildir "$WORK/maildir" --ready-file "$WORK/port" \
    --lifetime 900 2>"$WORK/smtpserver.log" &
server_pid=$!
for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.1; done
PORT=$(cat "$WORK/port" 2>/dev/null)
if [ -z "$PORT" ]; then
    fail "local TLS SMTP server did not start"
    cat "$WORK/smtpserver.log"
    echo "check-packaging: $passed passed, $failed failed"
    exit 1
fi
cp "$WORK/ca/ca.pem" "$ROOT/etc/qqnotify/test-ca.pem"
# Edit the shipped file the way its comments say: uncomment and fill in.
sed -i -e 's/^provider = qq$/provider = custom/' \
    -e 's/^# host = .*/host = 127.0.0.1/' -e "s/^# port = .*/port = $PORT/" \
    -e 's|^# ca_file = .*|ca_file = /etc/qqnotify/test-ca.pem|' \
    -e 's/^# user = .*/user = alerts@example.com/' -e 's/^# timeout = .*/timeout = 10/' \
    -e 's/^# to = .*/to = ops@example.com/' -e 's/^# language = .*/language = en/' \
    "$ROOT/etc/qqnotify/qqnotify.conf"
check "qqnotify-secret set (systemd-creds, as root)" in_root sh -c \
    "qqnotify-secret set && test -s /etc/credstore.encrypted/qqnotify.smtp" \
    <"$WORK/secret"
check "the default rules load (qqnotify-journal --check)" in_root qqnotify-journal --check
mails() { find "$WORK/maildir" -name '*.eml' | wc -l; }
send_test() {
    in_root qqnotify check --send-test ops@example.com || return 1
    [ "$(mails)" -eq 1 ] || { echo "the server holds $(mails) mails, expected 1"; return 1; }
}
check "edited config + stored secret: qqnotify check --send-test" send_test
# Without credential_helper in the file, root asks the installed qqnotify-secret all the same.
default_helper() {
    local conf=$ROOT/etc/qqnotify/qqnotify.conf out rc
    cp -p "$conf" "$WORK/qqnotify.conf.saved"
    sed -i 's/^credential_helper = /# credential_helper = /' "$conf"
    out=$(in_root qqnotify check 2>&1)
    rc=$?
    cp -p "$WORK/qqnotify.conf.saved" "$conf"
    [ "$rc" -eq 0 ] && printf '%s\n' "$out" | grep -q 'qqnotify-secret` (the default' ||
        { echo "exit $rc: $out"; return 1; }
}
check "no credential_helper configured: root's qqnotify check finds the stored secret" \
    default_helper
queue_init_ok() {
    local out
    out=$(in_root qqnotify --lang en queue init) || { printf '%s\n' "$out"; return 1; }
    # Everything in place already (tmpfiles.d made it): nothing to create, nothing wrong.
    printf '%s\n' "$out" | grep -q -e created -e WRONG -e missing && { printf '%s\n' "$out"; return 1; }
    return 0
}
check "qqnotify queue init finds the packaged spool as it must be" queue_init_ok

# -- sessions through the real PAM stack -----------------------------------------------
pam_enable() {
    in_root pam-auth-update --enable qqnotify || return 1
    grep -q 'pam_qqnotify.so' "$ROOT/etc/pam.d/common-session" || return 1
    # Session-Interactive-Only: not in the stack of cron and other non-interactive services.
    ! grep -q 'pam_qqnotify.so' "$ROOT/etc/pam.d/common-session-noninteractive"
}
check "pam-auth-update --enable qqnotify (common-session only)" pam_enable
spooled() { find "$ROOT/var/spool/qqnotify/new" -type f | wc -l; }
check "su: a session through the real PAM stack" in_root su -c true root
check "pamtester: an sshd session from 203.0.113.7" in_root pamtester -I rhost=203.0.113.7 \
    sshd root open_session close_session
spool_events() {
    local n
    n=$(spooled)
    [ "$n" -eq 2 ] || { echo "new/ holds $n entries, expected 2"; in_root qqnotify queue; return 1; }
    in_root qqnotify queue list | grep -q 'login.*user=root' || { in_root qqnotify queue; return 1; }
    in_root sh -c 'stat -c "%a %G" /var/spool/qqnotify/new/*' | grep -v -x '640 qqnotify' &&
        return 1
    return 0
}
check "two login events in the spool, 0640 group qqnotify" spool_events

# -- the sender, as qqnotify-flush.service runs it ----------------------------------------
# systemd decrypts LoadCredentialEncrypted= into $CREDENTIALS_DIRECTORY for the service's
# user; without a running systemd here, systemd-creds does the same by hand.
flush_as_unit() {
    in_root sh -c 'd=/run/credentials/qqnotify-flush.service &&
        install -d -m 0755 /run/credentials && install -d -m 0700 $d &&
        systemd-creds decrypt --name=qqnotify.smtp /etc/credstore.encrypted/qqnotify.smtp \
            $d/qqnotify.smtp && chmod 0400 $d/qqnotify.smtp && chmod 0500 $d &&
        chown -R qqnotify:qqnotify $d' || return 1
    in_root runuser -u qqnotify -- env \
        CREDENTIALS_DIRECTORY=/run/credentials/qqnotify-flush.service qqnotify flush || return 1
    rm -rf "$ROOT/run/credentials"
    [ "$(spooled)" -eq 0 ] || { echo "new/ still holds $(spooled) entries"; return 1; }
    [ -z "$(ls -A "$ROOT/var/spool/qqnotify/deferred")" ] || { in_root qqnotify queue; return 1; }
    [ "$(mails)" -ge 2 ] || { echo "the server holds $(mails) mails"; return 1; }
}
check "qqnotify flush as user qqnotify with the decrypted credential" flush_as_unit
mail_says() {
    "$PYTHON" - "$WORK/maildir" <<'EOF'
import email, glob, sys
from email import policy
found = {"su": False, "sshd": False}
for path in sorted(glob.glob(sys.argv[1] + "/*.eml")):
    with open(path, "rb") as f:
        msg = email.message_from_binary_file(f, policy=policy.default)
    body = msg.get_body(preferencelist=("plain",))
    text = str(msg["Subject"]) + "\n" + (body.get_content() if body else "")
    for service in found:
        if service in text and "root" in text:
            found[service] = True
    print("  mail: %s" % msg["Subject"])
sys.exit(0 if all(found.values()) else 1)
EOF
}
check "the mails tell of root's su and sshd sessions" mail_says
subjects() { # the decoded subjects of the last N mails received
    "$PYTHON" - "$WORK/maildir" "$1" <<'EOF'
import email, glob, sys
from email import policy
paths = sorted(glob.glob(sys.argv[1] + "/*.eml"))[-int(sys.argv[2]):]
for path in paths:
    with open(path, "rb") as f:
        print("      mail: %s" % email.message_from_binary_file(f, policy=policy.default)["Subject"])
EOF
}
subjects 3

# An upgrade (here: the same version again) keeps the administrator's configuration and
# the enabled PAM profile.
reinstall() {
    in_root apt-get install -y -q --reinstall --no-install-recommends $DEB_ARGS \
        >>"$WORK/apt.log" 2>&1 || { tail -n 20 "$WORK/apt.log"; return 1; }
    grep -q '^user = alerts@example.com$' "$ROOT/etc/qqnotify/qqnotify.conf" ||
        { echo "qqnotify.conf lost its changes"; return 1; }
    grep -q 'pam_qqnotify.so' "$ROOT/etc/pam.d/common-session" ||
        { echo "the PAM profile was disabled"; return 1; }
}
check "reinstall keeps the edited qqnotify.conf and the enabled PAM profile" reinstall

# -- 7. the same root under systemd --------------------------------------------------------
section "7. the units under systemd (systemd-nspawn boots the test root)"
wait_mail() { # wait_mail PATTERN: a mail whose decoded, unfolded subject matches, within 60 s
    local i
    for i in $(seq 120); do
        subjects 1000000 | grep -q -m 1 "mail: .*$1" && return 0
        sleep 0.5
    done
    echo "no mail with subject /$1/ within 60 s"
    in_ct systemctl status --no-pager qqnotify-flush.service qqnotify-journal.service
    in_ct qqnotify queue
    return 1
}
journal_running() {
    local i st
    for i in $(seq 60); do
        st="$(in_ct systemctl show -p ActiveState --value qqnotify-journal.service):"
        st="$st $(in_ct systemctl show -p StatusText --value qqnotify-journal.service)"
        case $st in "active: Following"*) break ;; esac
        sleep 0.5
    done
    case $st in "active: Following"*) ;; *) echo "$st"; return 1 ;; esac
    # As the unit says: the qqnotify user, systemd-journal as a supplementary group.
    in_ct sh -c 'pid=$(systemctl show -p MainPID --value qqnotify-journal.service) &&
        grep -q "^Uid:.*$(id -u qqnotify)" /proc/$pid/status &&
        grep -q "^Groups:.*$(getent group systemd-journal | cut -d: -f3)" /proc/$pid/status'
}
brute_force() {
    # The rule stands on journald's _UID, not on the identifier alone: `logger -t sshd` by a
    # user other than root raises nothing, the same lines from root (as sshd writes them)
    # raise the alert.
    in_ct sh -c 'lines() { for i in 1 2 3 4 5 6; do
            echo "Failed password for root from $1 port 4100$i ssh2"; done; }
        lines 198.51.100.5 | setpriv --reuid=nobody --regid=nogroup --clear-groups \
            logger -t sshd
        lines 198.51.100.4 | logger -t sshd' || return 1
    wait_mail 'ssh brute force on .*198\.51\.100\.4' || return 1
    if subjects 1000000 | grep "mail: .*198\.51\.100\.5"; then
        echo "a user's logger -t sshd raised an alert"
        return 1
    fi
}
reload_journal() {
    in_ct systemctl reload qqnotify-journal.service || return 1
    journal_running || return 1
    in_ct journalctl -q -u qqnotify-journal.service --no-pager | grep -q 'reloading the rules'
}
ssh_session() {
    in_ct pamtester -I rhost=203.0.113.9 sshd root open_session close_session >/dev/null &&
        wait_mail 'root logged in via ssh from 203\.0\.113\.9'
}
user_notify() {
    # alice is in no group of ours and cannot read the configuration: she submits through
    # qqnotify-drop, the path unit sees maildrop/, and the sender says who she is.
    in_ct runuser -u alice -- qqnotify --lang en notify --subject "backup of alice done" \
        "from alice" || return 1
    in_ct runuser -u alice -- ls /var/spool/qqnotify/maildrop >/dev/null 2>&1 &&
        { echo "alice can list maildrop/"; return 1; }
    wait_mail 'from user alice: backup of alice done'
}
user_trickle() {
    # Every submission of any user starts the sender through the path unit: a steady trickle
    # must not drive qqnotify-flush.service into its start limit, which would leave it, the
    # path unit and the timer failed (nothing sent until an administrator resets them).
    # 12 of them: with the one above, within her cap of 20 (user_max).
    local i st u
    for i in $(seq 12); do
        in_ct runuser -u alice -- qqnotify --lang en notify --subject "trickle $i" "t" ||
            return 1
        sleep 0.3
    done
    sleep 3
    for u in qqnotify-flush.path qqnotify-flush.timer qqnotify-flush.service; do
        st=$(in_ct systemctl show -p ActiveState -p Result --value "$u" | tr '\n' ' ')
        case $st in failed*|*start-limit*) echo "$u: $st"; return 1 ;; esac
    done
    in_ct journalctl -q -u qqnotify-flush.service --no-pager | grep -i 'start.*too quickly' &&
        return 1
    ssh_session_2
}
ssh_session_2() {
    in_ct pamtester -I rhost=203.0.113.10 sshd root open_session close_session >/dev/null &&
        wait_mail 'root logged in via ssh from 203\.0\.113\.10'
}
flush_unit_ok() {
    local r
    r=$(in_ct systemctl show -p Result -p ExecMainStatus -p NRestarts --value \
        qqnotify-flush.service | tr '\n' ' ')
    case $r in "success 0 "*) ;; *) echo "qqnotify-flush.service: $r"; return 1 ;; esac
    [ -z "$(find "$ROOT/var/spool/qqnotify/new" "$ROOT/var/spool/qqnotify/deferred" \
        "$ROOT/var/spool/qqnotify/maildrop" -type f)" ] ||
        { in_ct qqnotify queue; return 1; }
}
logs_clean() {
    local errs
    errs=$(in_ct journalctl -q -p err -u qqnotify-journal.service -u qqnotify-flush.service \
        --no-pager)
    [ -z "$errs" ] || { printf '%s\n' "$errs"; return 1; }
}
if [ "$ct_can_boot" -ne 1 ]; then
    skip "units under systemd: $ct_why"
elif ! ct_start >"$WORK/ct.log" 2>&1; then
    fail "units under systemd: the test root booted before the install, not now"
    tail -n 5 "$WORK/ct.log" "$WORK/nspawn.log" | sed 's/^/      /'
    ct_stop
else
    ok "systemd-nspawn boots the test root ($(in_ct systemctl --version | head -n 1))"
    check "systemctl enable --now qqnotify-flush.path qqnotify-flush.timer qqnotify-journal" \
        in_ct systemctl enable --now qqnotify-flush.path qqnotify-flush.timer \
        qqnotify-journal.service
    check "qqnotify-journal.service ready (Type=notify) as qqnotify + systemd-journal" \
        journal_running
    check "journal rule ssh-brute-force -> spool -> qqnotify-flush.path -> mail" brute_force
    check "systemctl reload qqnotify-journal (ExecReload= inside the sandbox)" reload_journal
    check "PAM sshd session -> spool -> qqnotify-flush.path -> mail" ssh_session
    check "unprivileged alice: notify -> qqnotify-drop -> maildrop/ -> flush unit -> mail" \
        user_notify
    check "qqnotify-flush.service succeeded with LoadCredentialEncrypted=, spool empty" \
        flush_unit_ok
    check "the sandboxed units log no error" logs_clean
    check "a trickle of user notifications leaves the flush units working (start limit)" \
        user_trickle
    subjects 2
    ct_stop
fi

# -- purge ----------------------------------------------------------------------------------
rm -f "$ROOT/etc/qqnotify/test-ca.pem" # the test's own file, not the package's
purge() {
    in_root apt-get purge -y -q qqnotify libpam-qqnotify >"$WORK/purge.log" 2>&1 ||
        { tail -n 20 "$WORK/purge.log"; return 1; }
}
check "apt-get purge qqnotify libpam-qqnotify" purge
check "PAM stacks no longer name pam_qqnotify" sh -c \
    "! grep -rl pam_qqnotify '$ROOT/etc/pam.d'"
snapshot >"$WORK/after.txt"
# Kept on purpose:
# - the system user and group: lines in passwd, group, shadow, gshadow (and the backups
#   the shadow tools write beside them); Debian does not remove system users on purge,
#   files may still belong to their ids;
# - /var/lib/systemd/credential.secret: systemd's host key, made by systemd-creds on first
#   use (`qqnotify-secret set`); it protects every encrypted credential of the host and
#   belongs to systemd.
leftovers() {
    local new
    new=$(comm -13 "$WORK/before.txt" "$WORK/after.txt")
    new=$(printf '%s\n' "$new" | grep -v -x -e '' -e './etc/passwd-' -e './etc/group-' \
        -e './etc/shadow-' -e './etc/gshadow-' -e './var/lib/systemd/credential.secret')
    [ -z "$new" ] || { echo "left behind:"; printf '%s\n' "$new"; return 1; }
    local named
    named=$(cd "$ROOT" && grep -rl --exclude-dir=proc --exclude-dir=dev --exclude-dir=tmp \
        --exclude-dir=apt --exclude-dir=dpkg --exclude-dir=log --exclude-dir=cache qqnotify \
        etc var usr lib 2>/dev/null | grep -v -x -e 'etc/passwd' -e 'etc/group' \
        -e 'etc/shadow' -e 'etc/gshadow' -e 'etc/passwd-' -e 'etc/group-' -e 'etc/shadow-' \
        -e 'etc/gshadow-')
    [ -z "$named" ] || { echo "files still naming qqnotify:"; printf '%s\n' "$named"; return 1; }
}
check "after purge nothing is left but the qqnotify user and group" leftovers
echo "kept by policy: $(in_root getent passwd qqnotify)"

cleanup
printf '\nsystemd-analyze security --offline=yes:\n'
cat "$SECURITY_TABLE"
if [ "$failed" -gt 0 ]; then
    printf '\nfailed:\n'
    printf '  %s\n' "${failures[@]}"
fi
printf 'time: %ds\n' $(($(date +%s) - T0))
echo "check-packaging: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
