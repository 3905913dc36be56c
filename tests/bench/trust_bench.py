#!/usr/bin/python3
"""trust_bench: what a flood of forged notifications costs a real root login,
and how much memory one `qqnotify flush` takes over a spool of the largest
entries.  Needs root (it makes throw-away users, and the spool belongs to one).

    /usr/bin/python3 tests/bench/trust_bench.py [--build build] [--forged 3000]
        [--runs 5] [--no-16m]

Table 1, login latency: a root ssh session through the real pam_qqnotify.so
(pamtester under pam_wrapper) writes its login event; `qqnotify flush` is
started right after (what qqnotify-flush.path does); the time is from the
start of the session to the moment the local TLS server (aiosmtpd,
tests/integration/smtpserver.py) has the login's mail, median and worst of
--runs, with
  (a) an empty queue;
  (b) --forged notifications an unprivileged user submitted with
      qqnotify-drop, waiting in maildrop/ ([limits] user_max = 20: the
      pickup counts the rest);
  (c) --forged notifications of that user already in new/ (picked up with
      user_max = 0: every one a due entry, older than the login);
  (d) --forged journal alerts in new/, all older than the login.
Table 2, peak RSS of `qqnotify flush` (GNU time's %M, the process alone):
200 entries of [spool] max_entry_size each in new/ (1 MiB and 16 MiB, the
largest it takes: delivered; 16 MiB with the server down: every entry loaded
for its turn and deferred), and 200 entries of 16 MiB under max_entry_size =
1M (set aside unread).

It prints tables and never passes or fails on time; it exits non-zero only
when something did not work (then the numbers would measure something else).
"""

import argparse
import os
import secrets
import shutil
import socket
import statistics
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
LOGIN_SUBJECT = b"root logged in via ssh from 203.0.113.9"


def pkg_config(*args):
    p = subprocess.run(["pkg-config"] + list(args), capture_output=True)
    return p.stdout.decode().strip() if p.returncode == 0 else ""


def entry_id(t=None):
    return "%d.%06d.%d.%s" % (int(t or time.time()), secrets.randbelow(10 ** 6), os.getpid(),
                              secrets.token_hex(8))


def event_entry(kind, lane, origin, uid, subject, queued, fields=()):
    payload = "kind %s\ntime %d\nhost web1\nsubject %s\n" % (kind, queued, subject)
    payload += "".join("field %s %s\n" % kv for kv in fields)
    payload = payload.encode()
    head = ("qqnotify-spool 2\ntype event\norigin %s\nuid %d\nlane %d\nqueued %d\nattempts 0\n"
            "next-try 0\nlast-error \ndiagnosis \nsize %d\nend\n"
            % (origin, uid, lane, queued, len(payload))).encode()
    return head + payload


def message_entry(size, queued):
    body = b"x" * 76 + b"\r\n"
    msg = b"From: root@web1\r\nTo: ops@example.com\r\nSubject: big\r\n\r\n"
    msg += body * ((size - len(msg) - 400) // len(body))
    head = ("qqnotify-spool 2\ntype message\norigin system\nuid 0\nlane 2\nqueued %d\n"
            "attempts 0\nnext-try 0\nlast-error \ndiagnosis \nsender %s\nrcpt %s\nsize %d\n"
            "end\n" % (queued, USER, TO, len(msg))).encode()
    return head + msg


class Bench:
    def __init__(self, a):
        self.build = os.path.abspath(a.build)
        self.qq = os.path.join(self.build, "qqnotify")
        self.so = os.path.join(self.build, "pam_qqnotify.so")
        self.tmp = tempfile.mkdtemp(prefix="qqnotify-trustbench-")
        os.chmod(self.tmp, 0o711)
        self.ca = tlsca.make(os.path.join(self.tmp, "ca"))
        os.chmod(os.path.join(self.tmp, "ca"), 0o711)
        self.owners = harness.SpoolOwners.get()
        self.mallory = self.owners.add_user("qnt-bench-")
        self.maildir = os.path.join(self.tmp, "mail")
        os.mkdir(self.maildir)
        # Messages of 16 MiB, 200 of them: a SIZE above that, kept on disk only.
        self.server, self.port = start_server(self.ca, self.tmp, USER, SECRET, self.maildir,
                                              extra=("--size-limit", str(32 << 20),
                                                     "--maildir-only"))
        self.creds = os.path.join(self.tmp, "creds")
        os.mkdir(self.creds, 0o700)
        with open(os.path.join(self.creds, "qqnotify.smtp"), "w") as f:
            f.write(SECRET)
        os.chmod(os.path.join(self.creds, "qqnotify.smtp"), 0o600)
        self.env = {"PATH": "/usr/bin:/bin", "CREDENTIALS_DIRECTORY": self.creds,
                    "LANG": "C.UTF-8", "QQNOTIFY_DROP": self.owners.drop}
        wrapper = pkg_config("--libs", "pam_wrapper")
        if not wrapper or not shutil.which("pamtester"):
            sys.exit("trust_bench: pamtester and libpam-wrapper are needed (tools/deps.sh)")
        self.pam_wrapper = wrapper

    def close(self):
        stop_server(self.server)
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.owners.remove()

    def spool(self, name, port=None, max_entry_size="1M", **limits):
        """A fresh spool made by `qqnotify queue init`, and its configuration."""
        spool = os.path.join(self.tmp, name)
        lim = {"max_per_minute": 0, "max_per_hour": 0, "max_per_day": 0, "digest_after": 0}
        lim.update(limits)
        conf = os.path.join(self.tmp, name + ".conf")
        with open(conf, "w") as f:
            f.write("[smtp]\nprovider = custom\nhost = 127.0.0.1\nport = %d\ntls = implicit\n"
                    "ca_file = %s\nuser = %s\ntimeout = 30\n[notify]\nto = %s\nlanguage = en\n"
                    "%smax_entry_size = %s\n[limits]\n%s" % (
                        port or self.port, self.ca.ca_cert, USER, TO,
                        self.owners.spool_section(spool), max_entry_size,
                                        "".join("%s = %s\n" % kv for kv in lim.items())))
        subprocess.run([self.qq, "-c", conf, "queue", "init"], check=True,
                       stdout=subprocess.DEVNULL, env=self.env, timeout=60)
        return spool, conf

    def plant(self, spool, data, t=None):
        eid = entry_id(t)
        tmp = os.path.join(spool, "tmp", eid)
        with open(tmp, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o640)
        os.rename(tmp, os.path.join(spool, "new", eid))

    def submit_forged(self, spool, n):
        """N notifications of mallory, through qqnotify-drop as notify makes them."""
        _, uid, gid = self.mallory
        for i in range(n):
            sub = event_entry("login", 2, "user", uid, "root logged in via ssh %d" % i,
                              int(time.time()), (("user", "root"),))
            subprocess.run(["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups",
                            self.owners.drop, spool], input=sub, check=True,
                           stdout=subprocess.DEVNULL, timeout=60)

    def mails(self):
        return sorted(n for n in os.listdir(self.maildir) if n.endswith(".eml"))

    def login_mail_seen(self, before):
        for n in self.mails():
            if n in before:
                continue
            with open(os.path.join(self.maildir, n), "rb") as f:
                if LOGIN_SUBJECT in f.read(8192):
                    return True
        return False

    def login(self, spool, conf):
        """One root ssh session through pam_qqnotify.so, then flush; seconds to the mail."""
        services = os.path.join(self.tmp, "services")
        os.makedirs(services, exist_ok=True)
        with open(os.path.join(services, "sshd"), "w") as f:
            f.write("session optional %s spool=%s\nsession required pam_permit.so\n"
                    % (self.so, spool))
        with open(os.path.join(services, "other"), "w") as f:  # libpam asks for it
            f.write("session required pam_deny.so\n")
        env = dict(self.env, PAM_WRAPPER="1", PAM_WRAPPER_SERVICE_DIR=services,
                   PAM_WRAPPER_DISABLE_DEEPBIND="1", LD_PRELOAD=self.pam_wrapper)
        before = set(self.mails())
        t0 = time.monotonic()
        subprocess.run(["pamtester", "-I", "rhost=203.0.113.9", "sshd", "root", "open_session"],
                       env=env, check=True, stdout=subprocess.DEVNULL, timeout=60)
        flush = subprocess.Popen([self.qq, "-c", conf, "flush", "--quiet"], env=self.env,
                                 stderr=subprocess.PIPE)
        seen = None
        deadline = t0 + 600
        while time.monotonic() < deadline:
            if self.login_mail_seen(before):
                seen = time.monotonic() - t0
                break
            if flush.poll() is not None and not self.login_mail_seen(before):
                time.sleep(0.05)
                if self.login_mail_seen(before):
                    seen = time.monotonic() - t0
                break
            time.sleep(0.002)
        err = flush.communicate(timeout=600)[1]
        t_flush = time.monotonic() - t0
        if seen is None:
            sys.exit("trust_bench: the login's mail never came:\n" + err.decode(errors="replace"))
        return seen, t_flush

    def latency(self, forged, runs):
        rows = []
        scenarios = (
            ("(a) empty queue", None),
            ("(b) %d forged in maildrop/" % forged, "maildrop"),
            ("(c) %d forged in new/ (user lane)" % forged, "user"),
            ("(d) %d journal alerts in new/" % forged, "journal"),
        )
        for label, how in scenarios:
            seen, whole = [], []
            for r in range(runs):
                spool, conf = self.spool("lat-%s-%d" % (how or "empty", r), user_max=20,
                                         rule_max=0, digest_after=3, digest_window="10m")
                old = int(time.time()) - 60
                if how == "maildrop":
                    self.submit_forged(spool, forged)
                elif how == "user":
                    for i in range(forged):
                        self.plant(spool, event_entry("notify", 2, "user", self.mallory[1],
                                                      "from user x: forged %d" % i, old), old)
                elif how == "journal":
                    for i in range(forged):
                        self.plant(spool, event_entry("journal", 1, "system", 0,
                                                      "journal alert %d" % i, old,
                                                      (("rule", "r%d" % i),)), old)
                s, w = self.login(spool, conf)
                seen.append(s)
                whole.append(w)
                shutil.rmtree(spool, ignore_errors=True)
            rows.append((label, runs, statistics.median(seen), max(seen), statistics.median(whole)))
        print("trust_bench: root login -> its mail at a local TLS server (aiosmtpd); "
              "%d CPUs" % (os.cpu_count() or 0))
        print("| %-40s | %4s | %14s | %11s | %17s |" % (
            "queue when root logs in", "runs", "median ms", "worst ms", "flush run ms (med)"))
        print("|%s|" % "|".join("-" * w for w in (42, 6, 16, 13, 19)))
        for label, n, med, worst, whole in rows:
            print("| %-40s | %4d | %14.1f | %11.1f | %17.1f |" % (label, n, med * 1000,
                                                                   worst * 1000, whole * 1000))

    def peak_rss(self, flush_conf):
        out = os.path.join(self.tmp, "rss")
        p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out, self.qq, "-c", flush_conf,
                            "flush", "--quiet"], env=self.env, capture_output=True,
                           timeout=3600)
        with open(out) as f:
            return int(f.read().split()[-1]), p.returncode

    def memory(self, with_16m):
        rows = []
        cases = [("200 x 1 MiB messages, max_entry_size 1M, delivered", "1M", 1 << 20, None)]
        if with_16m:
            cases.append(("200 x 16 MiB messages, max_entry_size 16M, delivered", "16M",
                          16 << 20, None))
            cases.append(("200 x 16 MiB messages, max_entry_size 16M, server down", "16M",
                          16 << 20, "down"))
        cases.append(("200 x 16 MiB messages, max_entry_size 1M (unread)", "1M", 16 << 20,
                      None))
        for label, limit, size, how in cases:
            port = None
            if how == "down":
                s = socket.socket()
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
                s.close()
            spool, conf = self.spool("rss-%s-%d" % (limit, size), port=port,
                                     max_entry_size=limit)
            old = int(time.time()) - 60
            data = message_entry(size, old)
            for _ in range(200):
                self.plant(spool, data, old)
            before = len(self.mails())
            t0 = time.monotonic()
            kib, rc = self.peak_rss(conf)
            secs = time.monotonic() - t0
            rows.append((label, len(data), kib, rc, len(self.mails()) - before, secs))
            shutil.rmtree(spool, ignore_errors=True)
        print("\ntrust_bench: peak RSS of one `qqnotify flush` (GNU time %M, the process alone)")
        print("| %-54s | %11s | %12s | %6s | %6s | %8s |" % (
            "spool", "entry bytes", "peak RSS KiB", "exit", "mails", "seconds"))
        print("|%s|" % "|".join("-" * w for w in (56, 13, 14, 8, 8, 10)))
        for label, n, kib, rc, got, secs in rows:
            print("| %-54s | %11d | %12d | %6d | %6d | %8.1f |" % (label, n, kib, rc, got, secs))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--forged", type=int, default=3000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-16m", action="store_true",
                    help="skip the 200 x 16 MiB row (3.2 GB written twice)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("trust_bench: run it as root (it makes users; the spool is theirs)")
    b = Bench(a)
    try:
        b.latency(a.forged, a.runs)
        b.memory(not a.no_16m)
    finally:
        b.close()


if __name__ == "__main__":
    main()
