#!/usr/bin/python3
"""flush_bench — deliver N queued messages to the same local TLS + AUTH server
(python3-aiosmtpd on 127.0.0.1, implicit TLS), side by side in one run:

  qqnotify flush      N messages queued with `qqnotify sendmail` (through
                      qqnotify-drop, into a spool made by `qqnotify queue init`
                      for a throw-away user: run it as root), then one
                      `qqnotify flush`: one process, one SMTP session
  msmtp per message   one `msmtp` process (and TLS session) per message, the
                      way msmtpq empties its queue

msmtp has no mode that sends several messages in one process or one SMTP
session (each run delivers exactly one message), so "msmtp with one process"
cannot be measured as such: its nearest form is the per-message loop above
without msmtpq's shell wrapper, which is what this runs.

Prints a table of wall time, messages per second and the server's count.
It measures; it never passes or fails on time.

    /usr/bin/python3 tests/bench/flush_bench.py [--build build] [--messages 1000]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

from benchlib import INTEGRATION, start_server, stop_server, tlsca

sys.path.insert(0, INTEGRATION)
import harness  # noqa: E402

USER = "10001@qq.com"
SECRET = "bench-authcode-5678"
TO = "ops@example.com"


def count_mail(maildir):
    return sum(1 for n in os.listdir(maildir) if n.endswith(".eml"))


def wait_count(maildir, want, limit=60):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and count_mail(maildir) < want:
        time.sleep(0.05)
    return count_mail(maildir)


def message(i):
    return ("From: root@web1\nTo: %s\nSubject: backup report %d\n\n"
            "备份完成 / backup finished: job %d\n" % (TO, i, i)).encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--messages", type=int, default=1000)
    args = ap.parse_args()
    n = args.messages
    qq = os.path.abspath(os.path.join(args.build, "qqnotify"))
    msmtp = shutil.which("msmtp") or "/usr/bin/msmtp"
    for exe in (qq, msmtp):
        if not os.access(exe, os.X_OK):
            sys.exit("flush_bench: %s is missing (run `make` / `make deps`)" % exe)

    if os.geteuid() != 0:
        sys.exit("flush_bench: run it as root (the spool belongs to a throw-away user)")
    tmp = tempfile.mkdtemp(prefix="qqnotify-flushbench-")
    os.chmod(tmp, 0o711)  # the sender reads ca.pem and the spool as the spool's user
    ca = tlsca.make(os.path.join(tmp, "ca"))
    os.chmod(os.path.join(tmp, "ca"), 0o711)
    owners = harness.SpoolOwners.get()
    server = None
    rows = []
    try:
        maildir = os.path.join(tmp, "mail")
        os.mkdir(maildir)
        server, port = start_server(ca, tmp, USER, SECRET, maildir)
        creds = os.path.join(tmp, "creds")
        os.mkdir(creds, 0o700)
        with open(os.path.join(creds, "qqnotify.smtp"), "w") as f:
            f.write(SECRET)
        os.chmod(os.path.join(creds, "qqnotify.smtp"), 0o600)
        spool = os.path.join(tmp, "spool")
        conf = os.path.join(tmp, "qqnotify.conf")
        # One user's N messages: no cap on how many one user may queue.
        with open(conf, "w") as f:
            f.write("[smtp]\nprovider = custom\nhost = 127.0.0.1\nport = %d\ntls = implicit\n"
                    "ca_file = %s\nuser = %s\ntimeout = 30\n[notify]\nto = %s\n"
                    "%s[limits]\nmax_per_minute = 0\nmax_per_hour = 0\n"
                    "max_per_day = 0\nuser_max = 0\n"
                    % (port, ca.ca_cert, USER, TO, owners.spool_section(spool)))
        env = {"PATH": "/usr/bin:/bin", "CREDENTIALS_DIRECTORY": creds, "LANG": "C.UTF-8",
               "QQNOTIFY_DROP": owners.drop}
        subprocess.run([qq, "-c", conf, "queue", "init"], env=env, check=True,
                       stdout=subprocess.DEVNULL, timeout=60)

        # qqnotify: queue, then one flush.
        t0 = time.monotonic()
        for i in range(n):
            subprocess.run([qq, "-c", conf, "sendmail", "--no-flush", "-t"], input=message(i),
                           env=env, check=True, stdout=subprocess.DEVNULL, timeout=30)
        t_queue = time.monotonic() - t0
        t0 = time.monotonic()
        subprocess.run([qq, "-c", conf, "flush", "--quiet"], env=env, check=True, timeout=600)
        t_flush = time.monotonic() - t0
        got = wait_count(maildir, n)
        rows.append(("qqnotify flush (1 process)", t_flush, got))
        rows.append(("  queueing with sendmail", t_queue, n))

        # msmtp: one process per message.
        msmtprc = os.path.join(tmp, "msmtprc")
        with open(msmtprc, "w") as f:
            f.write("defaults\ntls on\ntls_starttls off\ntls_trust_file %s\n"
                    "account bench\nhost 127.0.0.1\nport %d\nauth plain\nuser %s\n"
                    "password %s\nfrom %s\naccount default : bench\n"
                    % (ca.ca_cert, port, USER, SECRET, USER))
        os.chmod(msmtprc, 0o600)
        before = count_mail(maildir)
        t0 = time.monotonic()
        for i in range(n):
            subprocess.run([msmtp, "-C", msmtprc, "-a", "bench", TO], input=message(i), env=env,
                           check=True, timeout=60)
        t_msmtp = time.monotonic() - t0
        got = wait_count(maildir, before + n) - before
        rows.append(("msmtp, 1 process per message", t_msmtp, got))

        print("flush_bench: %d messages to a local implicit-TLS server (aiosmtpd)" % n)
        print("| %-30s | %9s | %9s | %9s |" % ("sender", "seconds", "msg/s", "received"))
        print("|%s|" % "|".join("-" * w for w in (32, 11, 11, 11)))
        for name, secs, got in rows:
            if got != n:
                sys.exit("flush_bench: %s: the server received %d of %d messages" % (name, got, n))
        for name, secs, got in rows:
            print("| %-30s | %9.2f | %9.1f | %9d |" % (name, secs, n / secs if secs else 0, got))
    finally:
        stop_server(server)
        shutil.rmtree(tmp, ignore_errors=True)
        owners.remove()


if __name__ == "__main__":
    main()
