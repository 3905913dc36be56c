# testroot.sh — a throw-away Debian 12 root for the tests that need one.  Sourced by bash
# scripts: packaging/check-packaging.sh (the packages' install test) and
# tests/fresh/first-hour.sh (a newcomer's first hour).  Root only (debootstrap, chroot,
# mount).
#
#   testroot_bootstrap CACHE LOG [PACKAGE,...]
#       debootstrap --variant=minbase bookworm (plus PACKAGEs) from TESTROOT_MIRROR into
#       the tarball CACHE, once; an existing CACHE is kept.  debootstrap's output goes to
#       LOG.  Status 0 when CACHE is there afterwards.
#   testroot_unpack CACHE ROOT
#       a fresh ROOT from CACHE, with apt's sources (the mirror, -updates and -security),
#       this host's resolv.conf, and the /etc/hosts of an installed Debian (localhost),
#       which debootstrap does not write
#   testroot_mount ROOT WHAT...
#       what a chroot needs, mounted the way one prepares it by hand: proc (mount -t proc),
#       sys (mount -t sysfs), dev (mount --bind /dev), pts (mount --bind /dev/pts), run (a
#       tmpfs); each is remembered in TESTROOT_MOUNTS
#   testroot_umount
#       every mount of TESTROOT_MOUNTS, the last first (lazily when still busy)
#   testroot_remove ROOT
#       rm -rf ROOT, unless something is still mounted below it
#   testroot_run ROOT COMMAND...
#       COMMAND in ROOT with a clean environment (PATH, LANG=C.UTF-8, HOME=/root), killed
#       after TESTROOT_TIMEOUT seconds (default 600)
#
# Environment: QN_DEBIAN_MIRROR (default http://deb.debian.org/debian).

TESTROOT_SUITE=bookworm
TESTROOT_MIRROR=${QN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
TESTROOT_TIMEOUT=${TESTROOT_TIMEOUT:-600}
TESTROOT_MOUNTS=()

testroot_bootstrap() {
    local cache=$1 log=$2 include=${3:-} dir
    [ -s "$cache" ] && return 0
    dir=$cache.bootstrap
    rm -rf "$dir" "$cache.tmp"
    if timeout 900 debootstrap --variant=minbase ${include:+--include="$include"} \
        "$TESTROOT_SUITE" "$dir" "$TESTROOT_MIRROR" >"$log" 2>&1 &&
        tar -C "$dir" --numeric-owner -cf "$cache.tmp" . && mv "$cache.tmp" "$cache"; then
        rm -rf "$dir"
        return 0
    fi
    rm -rf "$dir" "$cache.tmp"
    return 1
}

testroot_unpack() {
    local cache=$1 root=$2 mirror=$TESTROOT_MIRROR suite=$TESTROOT_SUITE
    mkdir -p "$root" && tar -C "$root" --numeric-owner -xf "$cache" || return 1
    cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    if [ ! -e "$root/etc/hosts" ]; then
        printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
            >"$root/etc/hosts"
    fi
    cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb ${mirror%/debian}/debian-security $suite-security main
EOF
}

testroot_mount() {
    local root=$1 what
    shift
    for what in "$@"; do
        case $what in
        proc) mount -t proc proc "$root/proc" || return 1 ;;
        sys) mount -t sysfs sysfs "$root/sys" || return 1 ;;
        dev) mount --bind /dev "$root/dev" || return 1 ;;
        pts) mkdir -p "$root/dev/pts" && mount --bind /dev/pts "$root/dev/pts" || return 1 ;;
        run) mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$root/run" || return 1 ;;
        *)
            echo "testroot_mount: unknown mount $what" >&2
            return 1
            ;;
        esac
        case $what in
        pts) TESTROOT_MOUNTS+=("$root/dev/pts") ;;
        *) TESTROOT_MOUNTS+=("$root/$what") ;;
        esac
    done
}

testroot_umount() {
    local i
    for ((i = ${#TESTROOT_MOUNTS[@]} - 1; i >= 0; i--)); do
        umount "${TESTROOT_MOUNTS[$i]}" 2>/dev/null || umount -l "${TESTROOT_MOUNTS[$i]}" 2>/dev/null
    done
    TESTROOT_MOUNTS=()
}

testroot_remove() {
    local root=$1
    [ -d "$root" ] || return 0
    # Never remove through a mount that is still there (/dev bound into the root...).
    if grep -q " $root/" /proc/mounts; then
        echo "testroot_remove: $root still has mounts; left in place" >&2
        return 1
    fi
    rm -rf "$root"
}

testroot_run() {
    local root=$1
    shift
    timeout "$TESTROOT_TIMEOUT" chroot "$root" /usr/bin/env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root \
        "$@"
}
