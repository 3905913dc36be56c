#!/usr/bin/python3
"""pam_bench: the latency pam_qqnotify adds to pam_open_session, next to
the usual alternative (pam_exec running a notify script that sends the mail
with msmtp inside the login).

    /usr/bin/python3 tests/bench/pam_bench.py [--build build] [--sessions 1000]
        [--hang-sessions 3] [--hang-bound 30] [--work DIR]

Rows (each a PAM session stack run by build/tests/pam/pam_bench_host under
pam_wrapper; only pam_open_session is timed):
  (a) no notifier: pam_permit only
  (b) pam_qqnotify as installed: one spool entry (write, start the
      writeback, rename), no flush
  (b2) pam_qqnotify sync: the entry is fsync'd, renamed, and new/ fsync'd
      before the module returns
  (c) pam_exec + a shell script piping the alert into msmtp, against the
      local TLS SMTP server of the integration tests (aiosmtpd, AUTH PLAIN)
  (d) the same script against a server that accepts the connection and
      never answers: each session is bounded at --hang-bound seconds (the
      session's process group is killed there) and the table says how long
      it hung

The spools of (b) and (b2) are on the file system of --work (default
/var/tmp, the disk a real spool lives on): the difference between them is
the price of waiting for the disk (two fsyncs per login).  Prints a table;
never passes or fails on time.  Exit status
non-zero only when a stack did not work (e.g. (b) wrote fewer entries than
sessions, or (c) delivered fewer mails), because then the numbers would
measure something else.
"""

import argparse
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))

import tlsca  # noqa: E402

USER = "bench@example.com"

NOTIFY_SCRIPT = """#!/bin/sh
# The usual pam_exec recipe: mail every login from inside the login.
[ "$PAM_TYPE" = "open_session" ] || exit 0
{{
    printf 'From: %s\\nTo: ops@example.com\\nSubject: login: %s from %s\\n\\n' \\
        "{user}" "$PAM_USER" "$PAM_RHOST"
    printf '%s logged in to %s via %s from %s at %s\\n' \\
        "$PAM_USER" "$(hostname)" "$PAM_SERVICE" "$PAM_RHOST" "$(date)"
}} | {msmtp} -C {conf} -t
"""

MSMTP_CONF = """defaults
tls on
tls_starttls off
tls_trust_file {ca}
account bench
host 127.0.0.1
port {port}
auth plain
user {user}
passwordeval "cat {pwfile}"
from {user}
account default : bench
"""


def percentile(values, p):
    """Nearest-rank percentile of a sorted list."""
    k = max(0, min(len(values) - 1, math.ceil(p / 100.0 * len(values)) - 1))
    return values[k]


def summary(values_us):
    v = sorted(values_us)
    return statistics.median(v) / 1000.0, percentile(v, 99) / 1000.0, v[-1] / 1000.0


class BlackHole:
    """Accepts TCP connections on loopback and never sends a byte."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
                self.conns.append(c)
            except OSError:
                continue

    def close(self):
        self.stop = True
        self.thread.join(2)
        for c in self.conns:
            c.close()
        self.sock.close()


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def run_host(host, service, count, env):
    """COUNT sessions in one process; the open_session times in microseconds."""
    p = subprocess.run([host, service, str(count)], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=3600)
    if p.returncode != 0:
        sys.exit("pam_bench: %s failed (exit %d): %s" % (service, p.returncode,
                                                         p.stderr.decode(errors="replace")))
    return [float(x) for x in p.stdout.split()]


def run_hanging(host, service, bound, env):
    """One session in its own process group, killed at BOUND s: (seconds, killed)."""
    t0 = time.monotonic()
    p = subprocess.Popen([host, service, "1"], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        p.wait(bound)
        return time.monotonic() - t0, False
    except subprocess.TimeoutExpired:
        elapsed = time.monotonic() - t0
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        return elapsed, True


def fs_type(path):
    p = subprocess.run(["stat", "-f", "-c", "%T", path], stdout=subprocess.PIPE, text=True)
    return p.stdout.strip() or "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--hang-sessions", type=int, default=3)
    ap.add_argument("--hang-bound", type=float, default=30.0)
    ap.add_argument("--work", default="/var/tmp")
    a = ap.parse_args()
    # SIGTERM/SIGINT: leave through the finally below (stop the servers, remove the files)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    build = os.path.abspath(a.build)
    module = os.path.join(build, "pam_qqnotify.so")
    host = os.path.join(build, "tests", "pam", "pam_bench_host")
    for f in (module, host):
        if not os.path.exists(f):
            sys.exit("pam_bench: %s is missing: run `make bench-pam` (or make %s)" % (f, f))
    wrapper = subprocess.run(["pkg-config", "--libs", "pam_wrapper"], stdout=subprocess.PIPE,
                             text=True).stdout.strip()
    msmtp = shutil.which("msmtp")
    if not wrapper or not msmtp:
        sys.exit("pam_bench: needs libpam-wrapper and msmtp (tools/deps.sh)")

    work = tempfile.mkdtemp(prefix="qqnotify-pam-bench-", dir=a.work)
    server = None
    hole = None
    try:
        spool = os.path.join(work, "spool")
        for d in ("", "tmp", "new", "deferred", "failed", "state"):
            os.mkdir(os.path.join(spool, d))
        ca = tlsca.get()
        pwfile = write(os.path.join(work, "password"), "bench-secret\n", 0o600)
        maildir = os.path.join(work, "maildir")
        ready = os.path.join(work, "ready")
        server = subprocess.Popen(
            [sys.executable, os.path.join(REPO, "tests", "integration", "smtpserver.py"),
             "--mode", "implicit", "--port", "0", "--user", USER, "--password-file", pwfile,
             "--cert", ca.server_cert, "--key", ca.server_key, "--maildir", maildir,
             "--ready-file", ready, "--lifetime", "7200"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            if os.path.exists(ready) or server.poll() is not None:
                break
            time.sleep(0.1)
        if not os.path.exists(ready):
            sys.exit("pam_bench: the SMTP server did not start")
        with open(ready) as f:
            port = int(f.read())
        hole = BlackHole()

        svc = os.path.join(work, "services")
        os.mkdir(svc)
        for name, port_ in (("ok", port), ("hang", hole.port)):
            conf = write(os.path.join(work, "msmtp-%s.conf" % name),
                         MSMTP_CONF.format(ca=ca.ca_cert, port=port_, user=USER, pwfile=pwfile),
                         0o600)
            script = write(os.path.join(work, "notify-%s.sh" % name),
                           NOTIFY_SCRIPT.format(user=USER, msmtp=msmtp, conf=conf), 0o755)
            write(os.path.join(svc, "bench-exec-" + name),
                  "session optional pam_exec.so quiet %s\nsession required pam_permit.so\n"
                  % script)
        write(os.path.join(svc, "bench-none"), "session required pam_permit.so\n")
        write(os.path.join(svc, "bench-qqnotify"),
              "session optional %s services=bench-qqnotify spool=%s\n"
              "session required pam_permit.so\n" % (module, spool))
        sync_spool = os.path.join(work, "spool-sync")
        for d in ("", "tmp", "new", "deferred", "failed", "state"):
            os.mkdir(os.path.join(sync_spool, d))
        write(os.path.join(svc, "bench-qqnotify-sync"),
              "session optional %s services=bench-qqnotify-sync spool=%s sync\n"
              "session required pam_permit.so\n" % (module, sync_spool))
        write(os.path.join(svc, "other"), "session required pam_deny.so\n")
        env = dict(os.environ, LD_PRELOAD=wrapper, PAM_WRAPPER="1", PAM_WRAPPER_SERVICE_DIR=svc)

        n = a.sessions
        print("pam_bench: %d sessions per row; spool on %s (%s); %d CPUs" % (
            n, a.work, fs_type(work), os.cpu_count() or 0), flush=True)
        # (a), (b) and (b2) alternate in blocks so that drift of the machine hits all alike
        rows = {"a": [], "b": [], "b2": []}
        block = max(1, n // 4)
        done = 0
        while done < n:
            k = min(block, n - done)
            rows["a"] += run_host(host, "bench-none", k, env)
            rows["b"] += run_host(host, "bench-qqnotify", k, env)
            rows["b2"] += run_host(host, "bench-qqnotify-sync", k, env)
            done += k
        for label, d in (("(b)", spool), ("(b2)", sync_spool)):
            written = len(os.listdir(os.path.join(d, "new")))
            if written != n:
                sys.exit("pam_bench: %s wrote %d spool entries for %d sessions" % (label, written, n))
        t0 = time.monotonic()
        rows["c"] = run_host(host, "bench-exec-ok", n, env)
        c_wall = time.monotonic() - t0
        mails = len([f for f in os.listdir(maildir) if f.endswith(".eml")])
        if mails != n:
            sys.exit("pam_bench: (c) delivered %d mails for %d sessions" % (mails, n))
        hangs = [run_hanging(host, "bench-exec-hang", a.hang_bound, env)
                 for _ in range(a.hang_sessions)]
    finally:
        if hole is not None:
            hole.close()
        if server is not None:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(work, ignore_errors=True)

    sa, sb, sc = summary(rows["a"]), summary(rows["b"]), summary(rows["c"])
    hang_s = sorted(h[0] for h in hangs)
    killed = sum(1 for h in hangs if h[1])
    print()
    print("added latency of pam_open_session, milliseconds (median / p99 / max)")
    print("%-52s %10s %10s %10s" % ("", "median", "p99", "max"))

    def line(label, s, extra=""):
        print("%-52s %10.3f %10.3f %10.3f%s" % (label, s[0], s[1], s[2], extra))

    line("(a) no notifier (pam_permit)", sa)
    sb2 = summary(rows["b2"])
    line("(b) pam_qqnotify (spool entry, no flush)", sb)
    line("(b2) pam_qqnotify sync (waits for two fsyncs)", sb2)
    line("(c) pam_exec + msmtp, local TLS server", sc)
    if hangs:
        med = statistics.median(hang_s) * 1000.0
        line("(d) pam_exec + msmtp, server never answers", (med, percentile(hang_s, 99) * 1000.0,
                                                            hang_s[-1] * 1000.0),
             "   %d/%d sessions hung until killed at %.0f s" % (killed, len(hangs),
                                                                 a.hang_bound))
    print()
    print("(b) - (a): median %+.3f ms, p99 %+.3f ms   (goal: p99 within 1 ms)" % (
        sb[0] - sa[0], sb[1] - sa[1]))
    print("(b2) - (a): median %+.3f ms, p99 %+.3f ms   (the price of waiting for the disk)" % (
        sb2[0] - sa[0], sb2[1] - sa[1]))
    print("(c) / (b): median %.0fx, p99 %.0fx slower   (goal: > 100x)" % (
        sc[0] / sb[0] if sb[0] > 0 else float("inf"), sc[1] / sb[1] if sb[1] > 0 else float("inf")))
    print("(c) whole run: %.1f s for %d sessions" % (c_wall, n))
    if hangs:
        print("(d) each session: %s s" % ", ".join("%.1f%s" % (s, " (killed)" if k else "")
                                                   for s, k in hangs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
