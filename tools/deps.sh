#!/bin/sh
# Install every missing build and test dependency of qqnotify.
# Debian/Ubuntu: apt-get; Fedora/RHEL: dnf.  As root it installs what is
# missing; otherwise it prints the exact command to run.
set -eu

# build: compilers, OpenSSL, libsecret/glib (qqnotify-secret), PAM headers,
#        libsystemd + PCRE2 (qqnotify-journal)
# test:  cmocka, aiosmtpd (local SMTP server), msmtp (benchmark peer), gnome-keyring +
#        dbus + secret-tool (keyring tests), systemd-creds, pam_wrapper + pamtester,
#        git (credential-helper interop), GNU time (benchmark RSS),
#        systemd-journal-remote (journal files for the journal tests)
# packaging: dpkg-dev debhelper lintian rpm rpmlint debootstrap systemd-container man-db
APT_PKGS="build-essential clang clang-format libclang-rt-14-dev pkg-config gettext libssl-dev libcmocka-dev
libsecret-1-dev libglib2.0-dev libpam0g-dev libsystemd-dev libpcre2-dev
openssl python3 python3-aiosmtpd msmtp swaks valgrind time git util-linux systemd
gnome-keyring dbus libsecret-tools libpam-wrapper pamtester groff-base systemd-journal-remote
dpkg-dev debhelper lintian rpm rpmlint debootstrap systemd-container man-db"
DNF_PKGS="gcc clang clang-tools-extra compiler-rt make pkgconf-pkg-config gettext openssl-devel libcmocka-devel
libsecret-devel glib2-devel pam-devel systemd-devel pcre2-devel
openssl python3 python3-aiosmtpd msmtp swaks valgrind time git util-linux systemd
gnome-keyring dbus-daemon dbus-tools libsecret pam_wrapper pamtester groff-base
systemd-journal-remote rpm-build rpmlint systemd-rpm-macros"

if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    missing=""
    for p in $APT_PKGS; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing="$missing $p"
        fi
    done
    [ -z "$missing" ] && exit 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "qqnotify: missing build/test packages:$missing" >&2
        echo "qqnotify: run as root:  apt-get update && apt-get install -y$missing" >&2
        exit 1
    fi
    echo "deps: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    # A stale or empty package list is the common cause of "Unable to locate package".
    if ! apt-get install -y --no-install-recommends $missing >/dev/null 2>&1; then
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends $missing
    fi
elif command -v rpm >/dev/null 2>&1 && command -v dnf >/dev/null 2>&1; then
    missing=""
    for p in $DNF_PKGS; do
        rpm -q "$p" >/dev/null 2>&1 || missing="$missing $p"
    done
    [ -z "$missing" ] && exit 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "qqnotify: missing build/test packages:$missing" >&2
        echo "qqnotify: run as root:  dnf install -y$missing" >&2
        exit 1
    fi
    dnf install -y $missing
else
    echo "qqnotify: neither apt-get nor dnf found; install by hand: a C11 compiler, pkg-config," >&2
    echo "  gettext, OpenSSL headers, cmocka, python3 with aiosmtpd, msmtp, swaks, valgrind" >&2
fi
