#!/bin/sh
# The packages each make goal needs: installed when missing (as root), named otherwise.
#
#   sh tools/deps.sh [--check] SET...
#
# SETs (Debian names first; the dnf lists below are the same sets on Fedora and RHEL):
#   demo       make demo: a C compiler, OpenSSL, libcurl, json-c and gettext for qqnotify,
#              python3-aiosmtpd and openssl for the local TLS server the demo mails
#   build      make: every program (also libsecret/glib, PAM, libsystemd, PCRE2, libmaxminddb)
#   check      make check: build, plus cmocka, clang, clang-format, valgrind and the servers and tools the
#              tests drive (aiosmtpd, msmtp, swaks, gnome-keyring, dbus, systemd-creds,
#              pam_wrapper, pamtester, git, GNU time, systemd-journal-remote, groff,
#              MaxMind::DB::Writer for the GeoIP test database, tzdata for quiet hours,
#              prometheus_client to parse the metrics file)
#   asan       make check-asan: check, plus clang's sanitizer runtime
#   fuzz       make fuzz: clang with libFuzzer and the headers of the fuzzed modules
#   deb        make deb: dpkg-dev and the Build-Depends of packaging/debian/control
#              (apt-get build-dep); Fedora: not offered, build the .deb on Debian
#   rpm        make rpm: rpmbuild and what the spec builds with (dnf builddep on Fedora)
#   packaging  make check-packaging: deb and rpm, lintian, rpmlint, debootstrap,
#              systemd-nspawn, man-db, and the local TLS server of the install test
#   fresh      make check-fresh: debootstrap and git (tests/fresh/first-hour.sh)
#
# As root, what is missing is installed (apt-get install --no-install-recommends, or dnf),
# with the package manager's own progress on the terminal; the package lists are
# refreshed first when they do not know a package.  Any other user gets the exact
# command to run as root, and exit status 1.  --check installs nothing and says what is
# missing (exit 1), for a plain `make`; with it, an existing $CC stands for gcc.
set -eu

APT_DEMO="gcc libc6-dev make pkg-config gettext libssl-dev libcurl4-openssl-dev libjson-c-dev
libmaxminddb-dev openssl python3 python3-aiosmtpd"
APT_BUILD="gcc libc6-dev make pkg-config gettext libssl-dev libcurl4-openssl-dev libjson-c-dev
libsecret-1-dev libglib2.0-dev libpam0g-dev libsystemd-dev libpcre2-dev libmaxminddb-dev"
APT_CHECK="$APT_BUILD clang clang-format libcmocka-dev openssl python3 python3-aiosmtpd python3-prometheus-client msmtp swaks valgrind
time git util-linux systemd gnome-keyring dbus libsecret-tools libpam-wrapper pamtester
groff-base systemd-journal-remote libmaxmind-db-writer-perl tzdata"
APT_ASAN="$APT_CHECK libclang-rt-dev"
APT_FUZZ="clang libclang-rt-dev make pkg-config libssl-dev libpcre2-dev libjson-c-dev"
APT_DEB="dpkg-dev"          # and apt-get build-dep of packaging/debian/control
APT_RPM="$APT_BUILD rpm"    # rpmbuild runs `make` here (--nodeps: no rpm database on Debian)
APT_PACKAGING="$APT_RPM dpkg-dev debhelper lintian rpmlint debootstrap systemd
systemd-container man-db groff-base gzip python3 python3-aiosmtpd openssl"
APT_FRESH="debootstrap git"

DNF_DEMO="gcc make pkgconf-pkg-config gettext openssl-devel libcurl-devel json-c-devel libmaxminddb-devel openssl
python3 python3-aiosmtpd"
DNF_BUILD="gcc make pkgconf-pkg-config gettext openssl-devel libcurl-devel json-c-devel
libsecret-devel glib2-devel pam-devel systemd-devel pcre2-devel libmaxminddb-devel"
DNF_CHECK="$DNF_BUILD clang clang-tools-extra libcmocka-devel openssl python3 python3-aiosmtpd python3-prometheus_client msmtp swaks valgrind
time git util-linux systemd gnome-keyring dbus-daemon dbus-tools libsecret pam_wrapper pamtester
groff-base systemd-journal-remote perl-MaxMind-DB-Writer tzdata"
DNF_ASAN="$DNF_CHECK compiler-rt"
DNF_FUZZ="clang compiler-rt make pkgconf-pkg-config openssl-devel pcre2-devel json-c-devel"
DNF_RPM="rpm-build"         # and dnf builddep of packaging/rpm/qqnotify.spec
DNF_PACKAGING="$DNF_RPM rpmlint"
DNF_FRESH="debootstrap git"

TOP=$(cd "$(dirname "$0")/.." && pwd)
check_only=0
if [ "${1:-}" = --check ]; then
    check_only=1
    shift
fi
[ "$#" -gt 0 ] || set -- build

# The goal a set belongs to, for the messages.
goal() {
    case $1 in
    build) echo "make" ;;
    asan) echo "make check-asan" ;;
    packaging) echo "make check-packaging" ;;
    fresh) echo "make check-fresh" ;;
    *) echo "make $1" ;;
    esac
}
goals=""
for s in "$@"; do
    case $s in
    demo | build | check | asan | fuzz | deb | rpm | packaging | fresh) ;;
    *)
        echo "deps: unknown set '$s' (demo, build, check, asan, fuzz, deb, rpm, packaging," \
            "fresh)" >&2
        exit 64
        ;;
    esac
    goals="${goals:+$goals, }$(goal "$s")"
done

# The words of several lists, each once, in order.
unique() {
    printf '%s\n' $* | awk 'NF && !seen[$0]++' | tr '\n' ' ' | sed 's/ $//'
}

# With --check, a compiler that is there (CC=clang, a cross compiler) stands for gcc.
have_cc() {
    [ "$check_only" -eq 1 ] && command -v "${CC:-cc}" >/dev/null 2>&1
}

# The package manager's part: MANAGER (apt or dnf), its package lists, and whether a
# package or the build dependencies of the package build are installed.
if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    MANAGER=apt
elif command -v rpm >/dev/null 2>&1 && command -v dnf >/dev/null 2>&1; then
    MANAGER=dnf
else
    MANAGER=none
fi

packages_of() {
    case $MANAGER:$1 in
    apt:demo) echo "$APT_DEMO" ;;
    apt:build) echo "$APT_BUILD" ;;
    apt:check) echo "$APT_CHECK" ;;
    apt:asan) echo "$APT_ASAN" ;;
    apt:fuzz) echo "$APT_FUZZ" ;;
    apt:deb) echo "$APT_DEB" ;;
    apt:rpm) echo "$APT_RPM" ;;
    apt:packaging) echo "$APT_PACKAGING" ;;
    apt:fresh) echo "$APT_FRESH" ;;
    dnf:demo) echo "$DNF_DEMO" ;;
    dnf:build) echo "$DNF_BUILD" ;;
    dnf:check) echo "$DNF_CHECK" ;;
    dnf:asan) echo "$DNF_ASAN" ;;
    dnf:fuzz) echo "$DNF_FUZZ" ;;
    dnf:rpm) echo "$DNF_RPM" ;;
    dnf:packaging) echo "$DNF_PACKAGING" ;;
    dnf:fresh) echo "$DNF_FRESH" ;;
    dnf:deb)
        echo "deps: make deb builds Debian packages: run it on Debian or Ubuntu" >&2
        exit 1
        ;;
    esac
}

# The sets whose package build has build dependencies of its own: the .deb's on Debian
# (packaging/debian/control), the .rpm's on Fedora (the spec's BuildRequires).
has_builddeps() {
    case $MANAGER:$1 in
    apt:deb | apt:packaging | dnf:rpm | dnf:packaging) return 0 ;;
    *) return 1 ;;
    esac
}

installed() {
    if [ "$MANAGER" = apt ]; then
        [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
    else
        rpm -q "$1" >/dev/null 2>&1
    fi
}

builddeps_unmet() {
    if [ "$MANAGER" = apt ]; then
        command -v dpkg-checkbuilddeps >/dev/null 2>&1 || return 0
        ! dpkg-checkbuilddeps "$TOP/packaging/debian/control" >/dev/null 2>&1
    else
        command -v rpmspec >/dev/null 2>&1 || return 0
        rpmspec -q --buildrequires "$TOP/packaging/rpm/qqnotify.spec" 2>/dev/null |
            while read -r req; do
                rpm -q --whatprovides "$req" >/dev/null 2>&1 || exit 1
            done && return 1
        return 0
    fi
}

# As root, with apt: the lists when apt does not know one of the packages yet (a fresh
# system, lists older than the release).  Its progress is shown.
apt_refresh_if_needed() {
    for p in "$@"; do
        if ! apt-cache show --no-all-versions "$p" >/dev/null 2>&1; then
            echo "deps: apt does not know $p yet: apt-get update"
            apt-get update
            return
        fi
    done
}

if [ "$MANAGER" = none ]; then
    [ "$check_only" -eq 1 ] && have_cc && exit 0
    echo "deps: neither apt-get nor dnf here; $goals needs, in your distribution's names:" >&2
    echo "  a C11 compiler, make, pkg-config, gettext, the OpenSSL, libcurl, json-c and PCRE2" >&2
    echo "  headers, and" >&2
    echo "  for every program libsecret, glib, PAM and libsystemd headers;" >&2
    echo "  for the tests cmocka, clang, valgrind, python3 with aiosmtpd, msmtp, swaks," >&2
    echo "  gnome-keyring, dbus, pam_wrapper, pamtester, groff (tools/deps.sh lists them)" >&2
    [ "$check_only" -eq 1 ] && exit 1
    exit 0
fi

pkgs=""
builddep=0
for s in "$@"; do
    list=$(packages_of "$s") || exit 1
    pkgs="$pkgs $list"
    has_builddeps "$s" && builddep=1
done
missing=""
# shellcheck disable=SC2086 # word lists
for p in $(unique $pkgs); do
    [ "$p" = gcc ] && have_cc && continue
    installed "$p" || missing="$missing $p"
done
missing=$(unique $missing)
if [ "$builddep" -eq 1 ] && ! builddeps_unmet; then
    builddep=0
fi
[ -z "$missing" ] && [ "$builddep" -eq 0 ] && exit 0

if [ "$MANAGER" = apt ]; then
    install="apt-get install -y --no-install-recommends $missing"
    build_dep="apt-get build-dep -y --no-install-recommends $TOP/packaging"
    build_deps_of="the Build-Depends of packaging/debian/control"
    refresh="apt-get update && "
else
    install="dnf install -y $missing"
    build_dep="dnf builddep -y $TOP/packaging/rpm/qqnotify.spec"
    build_deps_of="the BuildRequires of packaging/rpm/qqnotify.spec"
    refresh=""
fi
if [ -n "$missing" ]; then
    # shellcheck disable=SC2086
    n=$(printf '%s\n' $missing | wc -l)
    echo "deps: $goals needs $n package(s) that are not installed: $missing" >&2
fi
[ "$builddep" -eq 1 ] && echo "deps: $goals needs $build_deps_of" >&2
if [ "$check_only" -eq 1 ] || [ "$(id -u)" -ne 0 ]; then
    cmd=""
    [ -n "$missing" ] && cmd="$install"
    [ "$builddep" -eq 1 ] && cmd="${cmd:+$cmd && }$build_dep"
    echo "deps: install them as root:  $refresh$cmd" >&2
    [ "$check_only" -eq 1 ] && echo "deps: (or run \`make deps-$1\` as root)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if [ -n "$missing" ]; then
    # shellcheck disable=SC2086
    [ "$MANAGER" = apt ] && apt_refresh_if_needed $missing
    echo "deps: $install"
    # shellcheck disable=SC2086
    if [ "$MANAGER" = apt ]; then
        apt-get install -y --no-install-recommends $missing
    else
        dnf install -y $missing
    fi
fi
if [ "$builddep" -eq 1 ]; then
    echo "deps: $build_dep"
    if [ "$MANAGER" = apt ]; then
        apt-get build-dep -y --no-install-recommends "$TOP/packaging"
    else
        dnf builddep -y "$TOP/packaging/rpm/qqnotify.spec"
    fi
fi
