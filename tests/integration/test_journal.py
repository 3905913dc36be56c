"""qqnotify-journal from the outside, on real journal files written by
systemd-journal-remote from export format.

- the default rules (packaging/rules.d) fire on lines as sshd, sudo, the
  kernel and systemd print them, and stay quiet on near misses and on what
  a local user writes himself: logger -t sshd, a program named
  sshd, his own service manager, 3,000 forged UNIT= values;
- a flood of sources cannot flush a count from a rule's table, and is an
  alert of its own; a NUL in a field is shown as \\0;
- thresholds: 4 failures from one address -> nothing, the 5th -> one event,
  a second address counted on its own, the cooldown respected, counts
  surviving a restart;
- follow: a journal-remote reading a FIFO into the watched directory while
  the daemon runs; matches reach the spool within a second; journal-remote
  rotates the file twice during the run and nothing is lost; an archived
  file vacuumed under the daemon; the daemon sleeps in poll() without a
  timeout, pings the watchdog when asked, says READY and STATUS;
- restart: 50 SIGKILLs at random points -> no match lost, at most one
  duplicate per kill;
- two hosts in one directory -> events name the right host;
- SIGHUP reloads rules without losing the position; SIGTERM saves it;
- --check reports file:line, and warns about every rule a local user's own
  entries can fire; the man pages render without warnings.
"""

import base64
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

import harness

REPO = harness.REPO
JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
DEFAULT_RULES = os.path.join(REPO, "packaging", "rules.d")
MAN_PAGES = [os.path.join(REPO, "journal-watch", "qqnotify-journal.8"),
             os.path.join(REPO, "journal-watch", "qqnotify-rules.5")]
EX_CONFIG = 78


def journal_bin():
    return os.path.join(harness.build_dir(), "qqnotify-journal")


def unescape(value):
    return re.sub(rb"%([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]),
                  value).decode("utf-8")


def read_event(path):
    """One spool entry (enqueue.h) -> {"kind", "time", "host", "subject", "fields"}."""
    with open(path, "rb") as f:
        raw = f.read()
    head, sep, payload = raw.partition(b"\nend\n")
    assert sep, "no end line in %s" % path
    ev = {"kind": None, "time": None, "host": None, "subject": "", "fields": {}}
    for line in payload.split(b"\n"):
        if not line:
            continue
        name, _, value = line.partition(b" ")
        if name == b"field":
            key, _, v = value.partition(b" ")
            ev["fields"][key.decode()] = unescape(v)
        else:
            ev[name.decode()] = unescape(value)
    return ev


class Export:
    """Journal entries in export format, as journald would have stored them."""

    def __init__(self, host="web1", start=None, step=1.0):
        self.host = host
        self.boot = uuid.uuid4().hex
        self.machine = uuid.uuid4().hex
        self.t = int((start if start is not None else time.time() - 86400) * 1e6)
        self.mono = 1000000
        self.step = int(step * 1e6)

    def entry(self, message, ident="app", unit=None, transport="syslog", priority=6, extra=(),
              at=None, host=None, uid="0", comm=None, pid="4242", slice_=None):
        if at is not None:
            self.t = int(at * 1e6)
        else:
            self.t += self.step
        self.mono += self.step
        fields = [("__REALTIME_TIMESTAMP", str(self.t)), ("__MONOTONIC_TIMESTAMP", str(self.mono)),
                  ("_BOOT_ID", self.boot), ("_MACHINE_ID", self.machine),
                  ("_HOSTNAME", host or self.host), ("_TRANSPORT", transport),
                  ("PRIORITY", str(priority))]
        if transport == "kernel":
            fields += [("SYSLOG_IDENTIFIER", "kernel"), ("SYSLOG_FACILITY", "0")]
        else:
            fields += [("SYSLOG_IDENTIFIER", ident), ("SYSLOG_FACILITY", "4"), ("_PID", pid),
                       ("_UID", uid), ("_COMM", (comm or ident)[:15])]
            if unit:
                slice_ = slice_ or "system.slice"
                fields += [("_SYSTEMD_UNIT", unit), ("_SYSTEMD_SLICE", slice_),
                           ("_SYSTEMD_CGROUP", "/%s/%s" % (slice_, unit))]
        fields += list(extra)
        fields.append(("MESSAGE", message))
        out = []
        for k, v in fields:
            b = v.encode("utf-8") if isinstance(v, str) else v
            if b"\n" in b or b"\0" in b:
                out.append(k.encode() + b"\n" + len(b).to_bytes(8, "little") + b + b"\n")
            else:
                out.append(k.encode() + b"=" + b + b"\n")
        return b"".join(out) + b"\n"

    # the programs as they print
    def sshd(self, msg, **kw):
        return self.entry(msg, ident="sshd", unit="ssh.service", **kw)

    def sudo(self, msg, **kw):
        kw.setdefault("unit", "session-3.scope")
        return self.entry(msg, ident="sudo", priority=5, **kw)

    def kernel(self, msg, **kw):
        return self.entry(msg, transport="kernel", priority=3, **kw)

    def systemd(self, unit, msg, **kw):
        return self.entry(msg, ident="systemd", unit="init.scope", transport="journal",
                          priority=4, extra=[("UNIT", unit), ("CODE_FILE", "src/core/unit.c")],
                          pid="1", slice_="-.slice", **kw)

    def coredump(self, msg, **kw):
        """systemd-coredump's report of a system service's crash: from its service instance,
        in the template's own slice, with its own systemd-coredump account's uid."""
        kw.setdefault("uid", "998")
        return self.entry(msg, ident="systemd-coredump", unit="systemd-coredump@0-1-0.service",
                          slice_="system-systemd\\x2dcoredump.slice", priority=2,
                          transport="journal", **kw)

    def forged(self, msg, ident, **kw):
        """What a local user (uid 1000, in a login session) writes with `logger -t IDENT`."""
        kw.setdefault("uid", "1000")
        kw.setdefault("comm", "logger")
        kw.setdefault("pid", "31337")
        kw.setdefault("unit", "session-7.scope")
        kw.setdefault("slice_", "user-1000.slice")
        return self.entry(msg, ident=ident, **kw)


def write_journal(path, data):
    p = subprocess.run([JOURNAL_REMOTE, "-o", path, "-"], input=data, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    if p.returncode != 0:
        raise AssertionError("systemd-journal-remote failed: %s" % p.stderr.decode())


class JournalCase(unittest.TestCase):
    maxDiff = None

    def setUp(self):
        self.bin = journal_bin()
        if not os.access(self.bin, os.X_OK):
            self.fail("the binary under test does not exist: %s (make all)" % self.bin)
        if not os.access(JOURNAL_REMOTE, os.X_OK):
            self.fail("%s is missing (package systemd-journal-remote)" % JOURNAL_REMOTE)
        self.tmp = tempfile.mkdtemp(prefix="qqnotify-journal-it-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.spool = os.path.join(self.tmp, "spool")
        os.makedirs(self.spool)
        self.jdir = os.path.join(self.tmp, "journal")
        os.makedirs(self.jdir)
        self.config = os.path.join(self.tmp, "qqnotify.conf")
        with open(self.config, "w") as f:
            f.write("[smtp]\nprovider = qq\nuser = 123456789@qq.com\n[notify]\n"
                    "to = ops@example.com\nlanguage = en\n[spool]\ndir = %s\n" % self.spool)
        self.rules = DEFAULT_RULES
        self.procs = []
        self.addCleanup(self._stop_procs)

    def _stop_procs(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()

    def custom_rules(self, text, name="test.conf"):
        d = os.path.join(self.tmp, "rules")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
        self.rules = d
        return d

    def env(self, extra=None):
        e = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
             "TZ": "UTC", "HOME": self.tmp}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                e[k] = os.environ[k]
        e.update(extra or {})
        return e

    def argv(self, *args):
        return [self.bin, "-c", self.config, "--rules", self.rules, "--directory", self.jdir] + \
            list(args)

    def run_jw(self, *args, timeout=120, argv=None):
        a = argv if argv is not None else self.argv(*args)
        p = subprocess.run(a, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                           env=self.env())
        return p

    def start_jw(self, *args, env=None):
        p = subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=self.env(env))
        self.procs.append(p)
        return p

    def event_files(self):
        d = os.path.join(self.spool, "new")
        if not os.path.isdir(d):
            return []
        # ids start with seconds.microseconds: numeric order is creation order
        names = [n for n in os.listdir(d) if not n.startswith(".")]
        names.sort(key=lambda n: (int(n.split(".")[0]), n))
        return [os.path.join(d, n) for n in names]

    def events(self):
        return [read_event(p) for p in self.event_files()]

    def wait_events(self, n, timeout=10.0):
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if len(self.event_files()) >= n:
                return self.events()
            time.sleep(0.01)
        return self.events()

    def follow(self, rules_text):
        """A daemon following j.journal (one history entry) with RULES_TEXT: (daemon,
        the Export that wrote the entry, the journal's path)."""
        self.custom_rules(rules_text)
        x = Export(start=time.time() - 3600, step=0.001)
        path = os.path.join(self.jdir, "j.journal")
        write_journal(path, x.entry("start"))
        d = self.start_jw()
        time.sleep(0.3)
        return d, x, path

    def alerts_of(self, data):
        """Write DATA (export format) as the journal, read it all once: the summary of every
        event spooled."""
        write_journal(os.path.join(self.jdir, "system.journal"), data)
        self.assertRan(self.run_jw("--once", "--since", "@0"))
        return [summary(e) for e in self.events()]

    def assertRan(self, p, code=0):
        self.assertEqual(p.returncode, code, "exit %s\nstdout:\n%s\nstderr:\n%s" % (
            p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")))


def summary(ev):
    """What identifies an alert: rule, host and the captures that key it."""
    f = ev["fields"]
    keys = [k for k in ("ip", "user", "process", "device", "failed_unit", "unit", "id")
            if k in f]
    return (f.get("rule"), ev["host"]) + tuple("%s=%s" % (k, f[k]) for k in keys)


class DefaultRulesCase(JournalCase):

    def test_every_default_rule_fires_on_real_lines_and_not_on_near_misses(self):
        x = Export(host="web1")
        data = []
        # --- near misses first: none of these may fire ---
        near = [
            x.sshd("Accepted password for deploy from 203.0.113.9 port 52144 ssh2"),
            x.sshd("Accepted publickey for deploy from 203.0.113.9 port 52145 ssh2: ED25519 "
                   "SHA256:Zm9v"),
            x.sshd("Failed publickey for root from 203.0.113.9 port 52146 ssh2: RSA SHA256:YmFy"),
            x.sshd("Connection closed by invalid user oracle 203.0.113.9 port 52147 [preauth]"),
            x.sshd("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh "
                   "ruser= rhost=203.0.113.9  user=root"),
            x.entry("Failed password for root from 203.0.113.9 port 1 ssh2", ident="cron"),
            x.sudo("   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id"),
            x.sudo("pam_unix(sudo:auth): authentication failure; logname=alice uid=1000 euid=0 "
                   "tty=/dev/pts/0 ruser=alice rhost=  user=alice"),
            x.kernel("java invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|"
                     "__GFP_COMP), order=0, oom_score_adj=0"),
            x.kernel("oom_reaper: reaped process 4242 (java), now anon-rss:0kB, file-rss:0kB, "
                     "shmem-rss:0kB"),
            x.kernel("EXT4-fs (sda1): mounted filesystem with ordered data mode. Quota mode: "
                     "none."),
            x.kernel("blk_update_request: operation not supported error, dev loop0, sector 0 op "
                     "0x9:(WRITE_ZEROES) flags 0x800 phys_seg 0 prio class 0"),
            x.kernel("audit: type=1701 audit(1764180000.123:42): auid=1000 uid=1000 pid=4242 "
                     "comm=\"app\" exe=\"/usr/bin/app\" sig=11 res=1"),
            x.systemd("nginx.service", "nginx.service: Main process exited, code=exited, "
                                       "status=1/FAILURE"),
            x.systemd("nginx.service", "Failed to start nginx.service - A high performance web "
                                       "server and a reverse proxy server."),
            x.systemd("nginx.service", "nginx.service: Deactivated successfully."),
            x.coredump("Process 4242 (app) of user 33 terminated abnormally with signal "
                       "11/SEGV, processing..."),
            x.entry("checking free space: 12 GB left on /var", ident="app", unit="app.service"),
            x.entry("Out of memory: Killed process 1 (x) total-vm:1kB", ident="logger",
                    unit="x.service"),  # kernel text, not from the kernel
        ]
        data += near
        # --- the real thing ---
        for i in range(5):
            data.append(x.sshd("Failed password for %s from 198.51.100.23 port %d ssh2"
                               % ("root" if i % 2 else "invalid user admin", 40000 + i)))
        fifth_failure_time = x.t // 1000000
        for u in ("oracle", "test", "ubnt"):
            data.append(x.sshd("Invalid user %s from 192.0.2.44 port 3322" % u))
        data.append(x.sudo("   alice : 3 incorrect password attempts ; TTY=pts/0 ; "
                           "PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/su -"))
        data.append(x.sudo("mallory : user NOT in sudoers ; TTY=pts/2 ; PWD=/home/mallory ; "
                           "USER=root ; COMMAND=/usr/bin/cat /etc/shadow"))
        data.append(x.kernel("Out of memory: Killed process 4242 (java) total-vm:8123456kB, "
                             "anon-rss:4012345kB, file-rss:0kB, shmem-rss:0kB, UID:1001 "
                             "pgtables:9000kB oom_score_adj:0"))
        data.append(x.kernel("EXT4-fs error (device sda1): ext4_lookup:1855: inode #1234: comm "
                             "ls: deleted inode referenced: 5678"))
        data.append(x.kernel("I/O error, dev sdc, sector 12345 op 0x0:(READ) flags 0x0 phys_seg "
                             "1 prio class 2"))
        data.append(x.entry("PANIC:  could not write to file \"pg_wal/xlogtemp.1\": No space "
                            "left on device", ident="postgres", unit="postgresql.service",
                            priority=2))
        data.append(x.systemd("backup.service", "backup.service: Failed with result "
                                                "'exit-code'."))
        data.append(x.kernel("app[4242]: segfault at 0 ip 00007f3a1c2b3d4e sp 00007ffd5e6f7a80 "
                             "error 4 in libc.so.6[7f3a1c200000+195000] likely on CPU 1 (core "
                             "1, socket 0)"))
        data.append(x.coredump("Process 4242 (app) of user 33 dumped core.\n\nStack trace "
                               "of thread 4242:\n#0  0x00007f3a1c2b3d4e n/a (libc.so.6 + "
                               "0x9d4e)"))
        self.assertEqual(self.alerts_of(b"".join(data)), [
            ("ssh-brute-force", "web1", "ip=198.51.100.23", "user=admin", "unit=ssh.service"),
            ("ssh-invalid-user", "web1", "ip=192.0.2.44", "user=ubnt", "unit=ssh.service"),
            ("sudo-auth-failure", "web1", "user=alice", "unit=session-3.scope"),
            ("sudo-not-in-sudoers", "web1", "user=mallory", "unit=session-3.scope"),
            ("oom-kill", "web1", "process=java"),
            ("filesystem-error", "web1", "device=sda1"),
            ("disk-io-error", "web1", "device=sdc"),
            ("disk-full", "web1", "unit=postgresql.service"),
            ("unit-failed", "web1", "failed_unit=backup.service", "unit=backup.service"),
            ("segfault", "web1", "process=app"),
            ("core-dump", "web1", "process=app", "unit=systemd-coredump@0-1-0.service"),
        ])
        # one event in full: what render and flush get
        ev = self.events()[0]
        self.assertEqual(ev["kind"], "journal")
        self.assertEqual(ev["subject"],
                         "ssh brute force on web1: 5 failed passwords from 198.51.100.23")
        f = ev["fields"]
        self.assertEqual(f["count"], "5")
        self.assertEqual(f["priority"], "info")
        self.assertEqual(f["identifier"], "sshd")
        self.assertEqual(f["message"], "Failed password for invalid user admin from "
                                       "198.51.100.23 port 40004 ssh2")
        self.assertEqual([f["sample.%d" % i] for i in (1, 2, 3)],
                         ["Failed password for invalid user admin from 198.51.100.23 port 40002 "
                          "ssh2",
                          "Failed password for root from 198.51.100.23 port 40003 ssh2",
                          "Failed password for invalid user admin from 198.51.100.23 port 40004 "
                          "ssh2"])
        self.assertEqual(int(ev["time"]), fifth_failure_time)  # the entry's time, not now
        # the core dump's multi-line message arrives as one sanitised line
        core = self.events()[-1]["fields"]["message"]
        self.assertNotIn("\n", core)
        self.assertTrue(core.startswith("Process 4242 (app) of user 33 dumped core. Stack"))

    def test_first_start_begins_at_the_end_and_since_reads_history(self):
        x = Export()
        old = b"".join(x.kernel("Out of memory: Killed process %d (java) total-vm:1kB" % i)
                       for i in range(3))
        write_journal(os.path.join(self.jdir, "system.journal"), old)
        p = self.run_jw("--once")
        self.assertRan(p)
        self.assertEqual(self.events(), [], "history must not be mailed on a first start")
        # the position is saved: what comes next is read, what came before is not
        write_journal(os.path.join(self.jdir, "system.journal"),
                      x.kernel("Out of memory: Killed process 77 (node) total-vm:1kB"))
        p = self.run_jw("--once", "--since", "@0")  # a saved position wins over --since
        self.assertRan(p)
        self.assertEqual([e["fields"]["process"] for e in self.events()], ["node"])

        shutil.rmtree(self.spool)
        os.makedirs(self.spool)
        p = self.run_jw("--once", "--since", "@0")
        self.assertRan(p)
        self.assertEqual([e["fields"]["process"] for e in self.events()], ["java", "node"])

    def test_a_damaged_position_is_reported_and_replaced(self):
        x = Export()
        path = os.path.join(self.jdir, "system.journal")
        write_journal(path, x.kernel("Out of memory: Killed process 1 (old) total-vm:1kB"))
        self.assertRan(self.run_jw("--once"))  # first start: the position is written
        state_dir = os.path.join(self.spool, "state")
        names = [n for n in os.listdir(state_dir) if n.endswith(".cursor")]
        self.assertEqual(len(names), 1, names)
        with open(os.path.join(state_dir, names[0])) as f:
            self.assertTrue(f.read().startswith("qqnotify-journal-state 1\ncursor s="))
        with open(os.path.join(state_dir, names[0]), "w") as f:
            f.write("garbage\n")
        write_journal(path, x.kernel("Out of memory: Killed process 2 (new) total-vm:1kB"))
        p = self.run_jw("--once")
        self.assertRan(p)
        self.assertIn("is damaged", p.stderr.decode())
        self.assertEqual(self.events(), [])  # from the end, as on a first start
        with open(os.path.join(state_dir, names[0])) as f:
            self.assertTrue(f.read().startswith("qqnotify-journal-state 1\ncursor s="))

    def test_pushed_down_matches_give_the_same_events(self):
        # every rule has a field condition here: sd-journal does the filtering
        self.custom_rules("[rule kern]\nmatch = _TRANSPORT=kernel\nregex = ^boom (?<n>\\d+)\n"
                          "[rule crit]\npriority = ..crit\nmatch = SYSLOG_IDENTIFIER=app\n")
        x = Export()
        data = [x.kernel("boom 1"), x.entry("boom 2"), x.entry("hello", priority=2),
                x.entry("hello", ident="other", priority=2), x.kernel("boom 3"),
                x.entry("bye", priority=3)]
        write_journal(os.path.join(self.jdir, "j.journal"), b"".join(data))
        p = self.run_jw("--once", "--since", "@0", "-v")
        self.assertRan(p)
        self.assertIn("reading only entries that can match", p.stderr.decode())
        self.assertEqual([(e["fields"]["rule"], e["fields"]["message"]) for e in self.events()],
                         [("kern", "boom 1"), ("crit", "hello"), ("kern", "boom 3")])


class ForgeryCase(JournalCase):
    """What a local user writes to the journal himself (`logger -t sshd ...`, a
    program he names sshd, his own service manager, the systemd-coredump program run by
    him) must not fire the default rules; the real programs' entries still do."""

    def test_the_default_rules_fire_only_on_the_real_programs(self):
        x = Export(host="web1")
        data = []
        fail = "Failed password for root from %s port %d ssh2"
        # --- a local user's look-alikes, each enough to fire its rule on its own ---
        for i in range(6):
            data.append(x.forged(fail % ("203.0.113.66", 4000 + i), "sshd"))
            data.append(x.forged(fail % ("203.0.113.67", 4000 + i), "sshd-session"))
            # a program of his own named sshd: right name, his uid
            data.append(x.entry(fail % ("203.0.113.68", 4000 + i), ident="sshd", uid="1000",
                                unit="session-7.scope", slice_="user-1000.slice"))
            # /usr/sbin/sshd run by him (sshd logs failures even when it is not root)
            data.append(x.entry(fail % ("203.0.113.69", 4000 + i), ident="sshd", uid="1000",
                                unit="session-7.scope", slice_="user-1000.slice",
                                extra=[("_EXE", "/usr/sbin/sshd")]))
            data.append(x.forged("Invalid user u%d from 203.0.113.70 port 22" % i, "sshd"))
        data.append(x.forged("root : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/root ; "
                             "USER=root ; COMMAND=/bin/sh", "sudo"))
        data.append(x.forged("carol : user NOT in sudoers ; TTY=pts/2 ; PWD=/ ; USER=root ; "
                             "COMMAND=/bin/id", "sudo"))
        data.append(x.forged("ssh.service: Failed with result 'exit-code'.", "systemd",
                             extra=[("UNIT", "ssh.service")]))
        # his own service manager, about his own unit
        data.append(x.entry("mine.service: Failed with result 'exit-code'.", ident="systemd",
                            uid="1000", pid="2345", unit="user@1000.service",
                            slice_="user-1000.slice", transport="journal",
                            extra=[("USER_UNIT", "mine.service")]))
        data.append(x.forged("Process 1 (sshd) of user 0 dumped core.", "systemd-coredump"))
        # the systemd-coredump program run by him (its --backtrace mode logs what it is given),
        # and the real report of his own program's crash (sent with his uid)
        data.append(x.entry("Process 1 (sshd) of user 0 dumped core.", ident="systemd-coredump",
                            uid="1000", unit="session-7.scope", slice_="user-1000.slice",
                            extra=[("_EXE", "/usr/lib/systemd/systemd-coredump")]))
        data.append(x.coredump("Process 5353 (sshd) of user 1000 dumped core.", uid="1000"))
        data.append(x.forged("Out of memory: Killed process 1 (sshd) total-vm:1kB", "kernel"))
        data.append(x.forged("EXT4-fs error (device sda1): ext4_lookup:1855: inode #2", "kernel"))
        data.append(x.forged("I/O error, dev sda, sector 1 op 0x0:(READ) flags 0x0", "kernel"))
        data.append(x.forged("sshd[1]: segfault at 0 ip 0 sp 0 error 4 in libc.so.6", "kernel"))
        data.append(x.forged("traps: sshd[1] general protection fault ip:0 sp:0", "kernel"))
        data.append(x.forged("write: No space left on device", "postgres",
                             extra=[("UNIT", "postgresql.service")]))
        # his own cron job runs in cron.service, with his uid
        data.append(x.entry("cp: error writing '/home/u/x': No space left on device", ident="cp",
                            uid="1000", unit="cron.service"))
        # root services that log what he typed: sudo's command line, sshd's version string
        # (any remote client's, too), cron's command
        data.append(x.sudo("carol : user NOT in sudoers ; TTY=pts/2 ; PWD=/ ; USER=root ; "
                           "COMMAND=/bin/true No space left on device", unit="session-7.scope"))
        data.append(x.sshd("error: kex_exchange_identification: client sent invalid protocol "
                           "identifier \"No space left on device\""))
        data.append(x.entry("(carol) CMD (echo No space left on device)", ident="CRON",
                            comm="cron", unit="cron.service"))
        # --- the real programs, once each (thresholds from one address) ---
        for i in range(5):
            data.append(x.sshd(fail % ("198.51.100.23", 40000 + i),
                               comm="sshd-session" if i % 2 else "sshd"))
        for u in ("oracle", "test", "ubnt"):
            data.append(x.sshd("Invalid user %s from 192.0.2.44 port 3322" % u))
        data.append(x.sudo("   alice : 3 incorrect password attempts ; TTY=pts/0 ; "
                           "PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/su -"))
        data.append(x.sudo("mallory : user NOT in sudoers ; TTY=pts/2 ; PWD=/home/mallory ; "
                           "USER=root ; COMMAND=/usr/bin/cat /etc/shadow"))
        data.append(x.kernel("Out of memory: Killed process 4242 (java) total-vm:8123456kB"))
        data.append(x.kernel("EXT4-fs error (device sda1): ext4_lookup:1855: inode #1234"))
        data.append(x.kernel("I/O error, dev sdc, sector 12345 op 0x0:(READ) flags 0x0"))
        data.append(x.kernel("app[4242]: segfault at 0 ip 00007f3a1c2b3d4e sp 00007ffd5e6f7a80 "
                             "error 4 in libc.so.6[7f3a1c200000+195000]"))
        data.append(x.kernel("traps: app[4243] general protection fault ip:7f sp:7f error:0"))
        data.append(x.entry("PANIC:  could not write to file \"pg_wal/xlogtemp.1\": No space "
                            "left on device", ident="postgres", uid="105",
                            unit="postgresql.service", priority=2))
        data.append(x.systemd("backup.service", "backup.service: Failed with result "
                                                "'exit-code'."))
        data.append(x.coredump("Process 4242 (app) of user 33 dumped core."))
        self.assertEqual(self.alerts_of(b"".join(data)), [
            # carol's refusal is real: sudo wrote it (only its command line was hers)
            ("sudo-not-in-sudoers", "web1", "user=carol", "unit=session-7.scope"),
            ("ssh-brute-force", "web1", "ip=198.51.100.23", "user=root", "unit=ssh.service"),
            ("ssh-invalid-user", "web1", "ip=192.0.2.44", "user=ubnt", "unit=ssh.service"),
            ("sudo-auth-failure", "web1", "user=alice", "unit=session-3.scope"),
            ("sudo-not-in-sudoers", "web1", "user=mallory", "unit=session-3.scope"),
            ("oom-kill", "web1", "process=java"),
            ("filesystem-error", "web1", "device=sda1"),
            ("disk-io-error", "web1", "device=sdc"),
            ("segfault", "web1", "process=app"),
            ("cpu-trap", "web1", "process=app"),
            ("disk-full", "web1", "unit=postgresql.service"),
            ("unit-failed", "web1", "failed_unit=backup.service", "unit=backup.service"),
            ("core-dump", "web1", "process=app", "unit=systemd-coredump@0-1-0.service"),
        ])
        self.assertEqual(self.events()[-1]["subject"], "app (user 33) dumped core on web1")

    def test_3000_forged_unit_values_raise_no_alert(self):
        """Finding 2: one datagram per UNIT= value, each its own cooldown key before."""
        x = Export(host="web1", step=0.001)
        data = [x.forged("write failed: No space left on device", "app",
                         extra=[("UNIT", "fake-%d.service" % i)]) for i in range(3000)]
        # one real one among them still comes through, named by journald's unit
        data.insert(1500, x.entry("write failed: No space left on device", ident="app",
                                  uid="998", unit="app.service", extra=[("UNIT", "x.service")]))
        self.assertEqual(self.alerts_of(b"".join(data)),
                         [("disk-full", "web1", "unit=app.service")])

    def test_a_flood_of_sources_does_not_flush_a_count_and_raises_the_overflow_alert(self):
        """Finding 2: four failures from one address, 1,100 other sources (one failure each:
        addresses are cheap for an attacker), then the fifth failure."""
        x = Export(host="web1", step=0.01)
        fail = "Failed password for root from %s port 22 ssh2"
        real = "198.51.100.23"
        data = [x.sshd(fail % real) for _ in range(4)]
        data += [x.sshd(fail % ("2001:db8::%x" % i)) for i in range(1100)]
        data.append(x.sshd(fail % real))
        write_journal(os.path.join(self.jdir, "system.journal"), b"".join(data))
        self.assertRan(self.run_jw("--once", "--since", "@0"))
        ev = self.events()
        self.assertEqual([(e["fields"]["rule"], e["subject"]) for e in ev], [
            ("ssh-brute-force", "distributed brute force: more than 1024 sources in 10m "
                                "(rule ssh-brute-force)"),
            ("ssh-brute-force", "ssh brute force on web1: 5 failed passwords from %s" % real),
        ])
        self.assertEqual(ev[0]["fields"]["ip"], "2001:db8::3ff")  # the first without a place
        self.assertEqual(ev[0]["fields"]["overflow"], "10m")
        self.assertEqual(ev[1]["fields"]["count"], "5")

    def test_a_nul_in_a_journal_field_is_shown_and_hides_nothing(self):
        x = Export(host="web1")
        msg = b"write failed: No space left on device\0; also wrote /etc/shadow"
        write_journal(os.path.join(self.jdir, "system.journal"),
                      x.entry(msg, ident=b"app\0x", uid="0", unit="app.service"))
        self.assertRan(self.run_jw("--once", "--since", "@0"))
        ev = self.events()
        self.assertEqual(len(ev), 1)
        self.assertEqual(ev[0]["fields"]["message"],
                         "write failed: No space left on device\\0; also wrote /etc/shadow")
        self.assertEqual(ev[0]["fields"]["identifier"], "app\\0x")


class ThresholdCase(JournalCase):

    def fail_from(self, x, ip, t):
        return x.sshd("Failed password for root from %s port 22 ssh2" % ip, at=t)

    def test_four_nothing_five_one_second_ip_separate_cooldown_respected(self):
        x = Export()
        t0 = time.time() - 86400
        A, B = "203.0.113.9", "198.51.100.7"
        path = os.path.join(self.jdir, "system.journal")
        # four from A and four from B, interleaved, within a minute
        write_journal(path, b"".join(self.fail_from(x, ip, t0 + i)
                                     for i in range(4) for ip in (A, B)))
        self.assertRan(self.run_jw("--once", "--since", "@0"))
        self.assertEqual(self.events(), [], "four failures must not alert")
        # the fifth from A (in a later run: the counts were saved with the position)
        write_journal(path, self.fail_from(x, A, t0 + 30))
        self.assertRan(self.run_jw("--once"))
        ev = self.events()
        self.assertEqual([(e["fields"]["ip"], e["fields"]["count"]) for e in ev], [(A, "5")])
        # B's fifth: counted on its own
        write_journal(path, self.fail_from(x, B, t0 + 31))
        self.assertRan(self.run_jw("--once"))
        self.assertEqual([e["fields"]["ip"] for e in self.events()], [A, B])
        # ten more from A inside the hour of cooldown: nothing
        write_journal(path, b"".join(self.fail_from(x, A, t0 + 60 + 60 * i) for i in range(10)))
        self.assertRan(self.run_jw("--once"))
        self.assertEqual(len(self.events()), 2)
        # after the hour, five more: one alert, saying how many were held back
        write_journal(path, b"".join(self.fail_from(x, A, t0 + 3700 + i) for i in range(5)))
        self.assertRan(self.run_jw("--once"))
        ev = self.events()
        self.assertEqual(len(ev), 3)
        self.assertEqual((ev[2]["fields"]["ip"], ev[2]["fields"]["count"],
                          ev[2]["fields"]["suppressed"]), (A, "5", "10"))

    def test_failures_spread_wider_than_the_window_do_not_alert(self):
        x = Export()
        t0 = time.time() - 86400
        data = b"".join(self.fail_from(x, "192.0.2.9", t0 + i * 200) for i in range(10))
        write_journal(os.path.join(self.jdir, "system.journal"), data)
        self.assertRan(self.run_jw("--once", "--since", "@0"))
        self.assertEqual(self.events(), [])  # never 5 within 10 minutes


class FollowCase(JournalCase):

    def notify_socket(self):
        """A NOTIFY_SOCKET read all the time by a thread, as systemd does (a datagram socket
        nobody reads fills up and would block the sender)."""
        path = os.path.join(self.tmp, "notify.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        s.bind(path)
        s.settimeout(0.05)
        msgs = []
        stop = threading.Event()

        def reader():
            while not stop.is_set():
                try:
                    msgs.append(s.recv(4096).decode())
                except socket.timeout:
                    pass
                except OSError:
                    return

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        self.addCleanup(s.close)
        self.addCleanup(t.join)
        self.addCleanup(stop.set)
        return msgs, path

    @staticmethod
    def wait_notify(msgs, pattern, seconds=5.0):
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            if any(re.search(pattern, m) for m in list(msgs)):
                return True
            time.sleep(0.01)
        return False

    def start_writer(self, name):
        """systemd-journal-remote reading a FIFO into the watched directory."""
        fifo = os.path.join(self.tmp, name + ".fifo")
        if not os.path.exists(fifo):
            os.mkfifo(fifo)
        w = subprocess.Popen([JOURNAL_REMOTE, "-o", os.path.join(self.jdir, name + ".journal"),
                              fifo], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.procs.append(w)
        f = open(fifo, "wb", buffering=0)
        return w, f

    def test_follow_latency_rotation_vacuum_notify_and_idle(self):
        self.custom_rules("[rule mark]\nregex = ^MARK (?<id>\\d+)$\nsubject = mark {id}\n")
        x = Export(start=time.time() - 3600, step=0.001)
        write_journal(os.path.join(self.jdir, "live.journal"), x.entry("MARK 0"))
        msgs, sock_path = self.notify_socket()
        d = self.start_jw(env={"NOTIFY_SOCKET": sock_path})
        self.assertTrue(self.wait_notify(msgs, r"READY=1"), msgs)
        self.assertTrue(self.wait_notify(msgs, r"STATUS=.*1 rules loaded, 0 alerts sent"), msgs)
        time.sleep(0.2)

        # idle: blocked in poll() with no timeout, and no CPU used
        if platform.machine() == "x86_64":
            with open("/proc/%d/syscall" % d.pid) as f:
                sc = f.read().split()
            self.assertEqual(sc[0], "7", "expected poll(2), got %s" % sc)  # __NR_poll
            # the timeout argument is an int: -1 means none
            self.assertEqual(int(sc[3], 16) & 0xffffffff, 0xffffffff,
                             "poll() has a timeout: %s" % sc)
        with open("/proc/%d/stat" % d.pid) as f:
            before = sum(int(v) for v in f.read().rsplit(")", 1)[1].split()[11:13])
        time.sleep(1.0)
        with open("/proc/%d/stat" % d.pid) as f:
            after = sum(int(v) for v in f.read().rsplit(")", 1)[1].split()[11:13])
        self.assertLessEqual(after - before, 1, "the idle daemon used CPU")
        self.assertEqual(self.events(), [], "MARK 0 is history: not mailed on a first start")

        # a live writer: each match reaches the spool within a second
        w, f = self.start_writer("live")
        latencies = []
        for i in range(1, 11):
            t0 = time.monotonic()
            f.write(x.entry("MARK %d" % i))
            while len(self.event_files()) < i and time.monotonic() - t0 < 5:
                time.sleep(0.002)
            latencies.append(time.monotonic() - t0)
        self.assertEqual(len(self.event_files()), 10)
        self.assertLess(max(latencies), 1.0, "latencies: %s" % latencies)
        sys.stderr.write("\n    follow latency: max %.3f s, median %.3f s\n"
                         % (max(latencies), sorted(latencies)[5]))

        # journal-remote rotates the file (its header limits: many distinct data objects)
        # while we keep writing; marks go in between the filler
        mark = 10
        for i in range(16000):
            fields = [("X%d" % k, "%d-%d" % (i, k)) for k in range(25)]
            if i % 400 == 0:
                mark += 1
                f.write(x.entry("MARK %d" % mark, extra=fields))
            else:
                f.write(x.entry("filler %d" % i, extra=fields))
        f.close()
        self.assertEqual(w.wait(timeout=120), 0, w.stderr.read().decode())
        archived = [n for n in os.listdir(self.jdir) if n.startswith("live@")]
        self.assertGreaterEqual(len(archived), 2, "journal-remote did not rotate: %s"
                                % os.listdir(self.jdir))
        ev = self.wait_events(mark, timeout=30)
        self.assertEqual(sorted(int(e["fields"]["id"]) for e in ev), list(range(1, mark + 1)))

        # vacuum: the archived files go away under the daemon; it keeps following
        for n in archived:
            os.unlink(os.path.join(self.jdir, n))
        w, f = self.start_writer("live")
        f.write(x.entry("MARK %d" % (mark + 1)))
        f.close()
        w.wait(timeout=30)
        ev = self.wait_events(mark + 1)
        self.assertEqual(len(ev), mark + 1)
        self.assertEqual(ev[-1]["fields"]["id"], str(mark + 1))

        # STATUS follows the alerts; SIGTERM: saved and gone
        self.assertTrue(self.wait_notify(msgs, r"\b%d alerts sent" % (mark + 1)), msgs[-3:])
        d.send_signal(signal.SIGTERM)
        self.assertEqual(d.wait(timeout=10), 0)
        # a restart reads nothing twice
        p = self.run_jw("--once")
        self.assertRan(p)
        self.assertEqual(len(self.event_files()), mark + 1)

    def test_watchdog_is_pinged_when_systemd_asks(self):
        self.custom_rules("[rule mark]\nregex = ^MARK\n")
        write_journal(os.path.join(self.jdir, "j.journal"), Export().entry("x"))
        msgs, sock_path = self.notify_socket()
        d = self.start_jw(env={"NOTIFY_SOCKET": sock_path, "WATCHDOG_USEC": "400000"})
        time.sleep(1.5)
        pings = sum(1 for m in list(msgs) if "WATCHDOG=1" in m)
        self.assertGreaterEqual(pings, 4, msgs)
        d.send_signal(signal.SIGTERM)
        self.assertEqual(d.wait(timeout=10), 0)

    def test_sighup_reloads_rules_and_keeps_the_position(self):
        d, x, path = self.follow("[rule one]\nregex = ^ONE (?<id>\\d+)$\n")
        write_journal(path, x.entry("ONE 1") + x.entry("TWO 1"))
        self.assertEqual(len(self.wait_events(1)), 1)
        # a broken rules file: the old rules stay
        bad = os.path.join(self.rules, "zz-bad.conf")
        with open(bad, "w") as f:
            f.write("[rule broken]\nregex = (\n")
        d.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        write_journal(path, x.entry("ONE 2"))
        self.assertEqual(len(self.wait_events(2)), 2)
        os.unlink(bad)
        # a good new rule
        with open(os.path.join(self.rules, "two.conf"), "w") as f:
            f.write("[rule two]\nregex = ^TWO (?<id>\\d+)$\n")
        d.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        write_journal(path, x.entry("TWO 2") + x.entry("ONE 3"))
        ev = self.wait_events(4)
        # nothing read twice (TWO 1 came before the reload and stays unmatched)
        self.assertEqual([(e["fields"]["rule"], e["fields"]["id"]) for e in ev],
                         [("one", "1"), ("one", "2"), ("two", "2"), ("one", "3")])
        d.send_signal(signal.SIGTERM)
        self.assertEqual(d.wait(timeout=10), 0)
        err = d.stderr.read().decode()
        self.assertIn("zz-bad.conf:2:", err)
        self.assertIn("keeping the rules in use", err)


class RestartCase(JournalCase):

    KILLS = 50

    def test_sigkill_at_random_points_loses_nothing(self):
        self.custom_rules("[rule mark]\nregex = ^MARK (?<id>\\d+)$\n"
                          "[rule burst]\nregex = ^FAIL (?<ip>\\S+)$\n"
                          "threshold = 3 in 1h per ip\n")
        rnd = random.Random(20261126)
        x = Export(step=0.01)
        lines = ["noise %d" % i for i in range(30000)]
        marks = 600
        ips = ["10.9.%d.%d" % (i // 100, i % 100) for i in range(200)]
        for m in range(marks):
            lines.insert(rnd.randrange(len(lines) + 1), "MARK %d" % m)
        for ip in ips:  # three failures each, far apart: partial counts span kills
            for _ in range(3):
                lines.insert(rnd.randrange(len(lines) + 1), "FAIL " + ip)
        write_journal(os.path.join(self.jdir, "j.journal"),
                      b"".join(x.entry(m) for m in lines))

        # Kill at random points: some during start-up, most after a random number of new
        # alerts plus a random few milliseconds (between the spool write and the position
        # write, in the middle of noise, in the middle of a count...).
        kills = 0
        for i in range(self.KILLS):
            before = len(self.event_files())
            p = subprocess.Popen(self.argv("--once", "--since", "@0"), env=self.env(),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if rnd.random() < 0.2:
                time.sleep(rnd.uniform(0.0, 0.03))
            else:
                target = before + rnd.randint(1, 12)
                t0 = time.monotonic()
                while (len(self.event_files()) < target and p.poll() is None and
                       time.monotonic() - t0 < 30):
                    time.sleep(0.001)
                time.sleep(rnd.uniform(0.0, 0.004))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                kills += 1
            p.wait()
        p = self.run_jw("--once", "--since", "@0", timeout=300)
        self.assertRan(p)

        seen = {}
        for e in self.events():
            f = e["fields"]
            key = (f["rule"], f.get("id") or f.get("ip"))
            seen[key] = seen.get(key, 0) + 1
        want = {("mark", str(m)) for m in range(marks)} | {("burst", ip) for ip in ips}
        self.assertEqual(set(seen) - want, set(), "alerts that should not exist")
        self.assertEqual(want - set(seen), set(), "lost alerts")
        duplicates = sum(n - 1 for n in seen.values())
        self.assertLessEqual(duplicates, kills)
        sys.stderr.write("\n    restart: %d runs killed with SIGKILL, %d duplicates, 0 lost\n"
                         % (kills, duplicates))
        self.assertEqual(kills, self.KILLS, "every run should have been killed mid-way")


class FailingSpoolCase(JournalCase):
    """The spool writer thread (journal-watch/writer.c) against a spool that fails."""

    def break_new(self):
        new = os.path.join(self.spool, "new")
        os.rename(new, new + ".away")
        with open(new, "w") as f:  # a file where the queue should be: every put fails
            f.write("x")

    def mend_new(self):
        new = os.path.join(self.spool, "new")
        os.unlink(new)
        os.rename(new + ".away", new)

    def wait_stderr(self, p, text, timeout=10.0):
        """Read P's stderr (non-blocking) until TEXT shows; what was read."""
        os.set_blocking(p.stderr.fileno(), False)
        got = b""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout and text.encode() not in got:
            chunk = p.stderr.read()
            if chunk:
                got += chunk
            time.sleep(0.02)
        return got.decode(errors="replace")

    def follow_into_a_failing_spool(self, marks):
        """A following daemon whose spool fails once MARK 1..MARKS are written; it."""
        d, x, path = self.follow("[rule mark]\nregex = ^MARK (?<id>\\d+)$\n")
        self.break_new()
        write_journal(path, b"".join(x.entry("MARK %d" % i) for i in range(1, marks + 1)))
        err = self.wait_stderr(d, "retrying")
        self.assertIn("cannot spool the alert of rule mark", err)
        return d

    def test_retries_until_the_spool_is_back_and_loses_nothing(self):
        d = self.follow_into_a_failing_spool(3)
        self.assertIsNone(d.poll())
        self.mend_new()
        ev = self.wait_events(3, timeout=15)
        self.assertEqual([e["fields"]["id"] for e in ev], ["1", "2", "3"])
        d.send_signal(signal.SIGTERM)
        self.assertEqual(d.wait(timeout=10), 0)
        p = self.run_jw("--once")
        self.assertRan(p)
        self.assertEqual(len(self.event_files()), 3, "a restart read something twice")

    def test_sigterm_while_the_spool_fails_exits_and_the_alerts_come_at_the_next_start(self):
        # more entries with alerts than the writer's queue holds (64): the reader waits too
        d = self.follow_into_a_failing_spool(80)
        time.sleep(0.3)
        t0 = time.monotonic()
        d.send_signal(signal.SIGTERM)
        self.assertEqual(d.wait(timeout=10), 0)
        self.assertLess(time.monotonic() - t0, 5.0, "SIGTERM waited for the spool")
        err = d.stderr.read().decode(errors="replace")
        self.assertIn("not spooled: it is raised again at the next start", err)
        self.assertIn("stopped: ", err)  # the normal exit path, not a bail-out
        self.mend_new()
        self.assertEqual(self.event_files(), [])
        # the position was not saved past the alerts given up: they come now, once
        p = self.run_jw("--once")
        self.assertRan(p)
        self.assertEqual([e["fields"]["id"] for e in self.events()],
                         [str(i) for i in range(1, 81)])
        p = self.run_jw("--once")
        self.assertRan(p)
        self.assertEqual(len(self.event_files()), 80)


class MemoryCase(JournalCase):

    def test_large_entries_do_not_grow_the_resident_size(self):
        # About 120 MB of journal in 3,200 entries of 48 KB: far fewer entries than the
        # 16,384 after which pages were once given back.  The pages sd-journal maps are
        # given back by bytes (JW_MAPPED_MAX, 40 MiB), so the peak stays well under
        # the journal's size.
        self.custom_rules("[rule x]\nregex = ^NEVER\n")
        x = Export(start=time.time() - 3600, step=0.001)
        rnd = random.Random(7)
        path = os.path.join(self.jdir, "j.journal")
        data = b"".join(x.entry("big %d %s" % (i, base64.b64encode(rnd.randbytes(36000)).decode()))
                        for i in range(3200))
        write_journal(path, data)
        del data
        size = sum(os.path.getsize(os.path.join(self.jdir, n)) for n in os.listdir(self.jdir))
        self.assertGreater(size, 100 << 20, "the journal is too small to tell")
        p = subprocess.run(["/usr/bin/time", "-f", "maxrss %M"] +
                           self.argv("--once", "--since", "@0"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env(),
                           timeout=300)
        self.assertRan(p)
        self.assertIn(b"3200 entries read", p.stderr)
        kb = int(re.search(rb"maxrss (\d+)", p.stderr).group(1))
        sys.stderr.write("\n    large entries: %d MB journal, peak RSS %.1f MB\n"
                         % (size >> 20, kb / 1024.0))
        with open(self.bin, "rb") as f:
            sanitized = b"__asan_init" in f.read()
        if not sanitized:  # ASan keeps freed memory in quarantine (256 MB): no bound there
            self.assertLess(kb, 80 << 10, "peak RSS %d KB over a %d MB journal"
                            % (kb, size >> 20))


class HostsCase(JournalCase):

    def test_two_host_journals_in_one_directory_name_the_right_host(self):
        t0 = time.time() - 7200
        web, db = Export(host="web1", start=t0), Export(host="db1", start=t0 + 0.5)
        ip = "203.0.113.77"
        wdata, ddata = [], []
        for i in range(5):  # the same address against both, interleaved in time
            wdata.append(web.sshd("Failed password for root from %s port %d ssh2" % (ip, i)))
            ddata.append(db.sshd("Failed password for root from %s port %d ssh2" % (ip, i)))
        ddata.append(db.kernel("Out of memory: Killed process 99 (mysqld) total-vm:1kB"))
        write_journal(os.path.join(self.jdir, "remote-web1.journal"), b"".join(wdata))
        write_journal(os.path.join(self.jdir, "remote-db1.journal"), b"".join(ddata))
        self.assertRan(self.run_jw("--once", "--since", "@0"))
        got = [(e["fields"]["rule"], e["host"], e["subject"]) for e in self.events()]
        self.assertEqual(got, [
            ("ssh-brute-force", "web1", "ssh brute force on web1: 5 failed passwords from " + ip),
            ("ssh-brute-force", "db1", "ssh brute force on db1: 5 failed passwords from " + ip),
            ("oom-kill", "db1", "out of memory on db1: killed mysqld"),
        ])


class CheckCase(JournalCase):

    def test_check_reports_every_problem_with_file_and_line(self):
        self.custom_rules("[rule good]\nregex = fine\n", "10-good.conf")
        self.custom_rules("# comment\n[rule bad]\nregex = (\nthreshold = 5 in 10m per ip\n"
                          "[rule worse]\ncolour = red\nregex = x\n", "20-bad.conf")
        p = self.run_jw(argv=[self.bin, "-c", self.config, "--rules", self.rules, "--check"])
        self.assertEqual(p.returncode, EX_CONFIG, p.stderr)
        err = p.stderr.decode()
        path = os.path.join(self.rules, "20-bad.conf")
        self.assertIn("%s:3: [rule bad] the regular expression does not compile: missing "
                      "closing parenthesis at offset 1" % path, err)
        self.assertIn("%s:6: [rule worse] unknown key: colour" % path, err)

    def test_check_accepts_the_default_rules(self):
        p = self.run_jw(argv=[self.bin, "-c", self.config, "--rules", DEFAULT_RULES, "--check"])
        self.assertRan(p)
        self.assertRegex(p.stdout.decode(), r"rules\.d: 12 rules OK")
        self.assertEqual(p.stderr.decode(), "", "the default rules must not be forgeable")

    def test_check_warns_for_every_rule_a_local_user_can_fire(self):
        path = self.custom_rules(
            "[rule ssh]\nmatch = SYSLOG_IDENTIFIER=sshd\nregex = ^Failed password\n"
            "threshold = 5 in 10m\n"
            "\n[rule full]\nregex = No space left on device\n"
            "\n[rule root-sshd]\nmatch = _UID=0\nmatch = _COMM=sshd\nregex = ^Failed\n"
            "\n[rule named]\nmatch = _COMM=sshd\nregex = ^Failed\n")
        path = os.path.join(path, "test.conf")
        p = self.run_jw(argv=[self.bin, "-c", self.config, "--rules", self.rules, "--check"])
        self.assertRan(p)  # a warning, not an error: the rules still load
        fix = ("  fix: add one of match = _UID=0 (the sender is root); uid = ..999 (a system "
               "service); match = _PID=1 (the service manager) (see TRUSTED FIELDS in "
               "qqnotify-rules(5))")
        self.assertEqual(p.stderr.decode().splitlines(), [
            "%s:1: warning: [rule ssh] any local user can write entries that fire this rule: "
            "SYSLOG_IDENTIFIER=sshd (logger -t sshd); MESSAGE (written by the sender)" % path,
            fix,
            "%s:6: warning: [rule full] any local user can write entries that fire this rule: "
            "MESSAGE (written by the sender)" % path,
            fix,
            "%s:14: warning: [rule named] any local user can write entries that fire this "
            "rule: _COMM=sshd (a program the user names sshd); MESSAGE (written by the "
            "sender)" % path,
            fix,
        ])
        self.assertIn("3 of them can be fired by entries any local user writes",
                      p.stdout.decode())
        # the daemon says it too when it starts
        write_journal(os.path.join(self.jdir, "j.journal"), Export().entry("start"))
        p = self.run_jw("--once")
        self.assertRan(p)
        self.assertIn("%s:1: warning: [rule ssh] any local user can write entries" % path,
                      p.stderr.decode())

    def test_missing_rules_directory_and_bad_options_are_errors(self):
        p = self.run_jw(argv=[self.bin, "-c", self.config, "--rules", "/nonexistent", "--check"])
        self.assertEqual(p.returncode, EX_CONFIG)
        self.assertIn("does not exist", p.stderr.decode())
        p = self.run_jw(argv=[self.bin, "--since", "next tuesday", "--check"])
        self.assertEqual(p.returncode, 64)
        p = self.run_jw(argv=[self.bin, "--directory", "a", "--file", "b"])
        self.assertEqual(p.returncode, 64)

    def test_file_source_reads_one_file(self):
        x = Export()
        path = os.path.join(self.jdir, "one.journal")
        write_journal(path, x.kernel("Out of memory: Killed process 5 (a) total-vm:1kB"))
        p = self.run_jw(argv=[self.bin, "-c", self.config, "--rules", self.rules, "--file", path,
                              "--once", "--since", "@0"])
        self.assertRan(p)
        self.assertEqual([e["fields"]["process"] for e in self.events()], ["a"])
        states = os.listdir(os.path.join(self.spool, "state"))
        self.assertTrue(any(re.fullmatch(r"journal-file-[0-9a-f]{16}\.cursor", s)
                            for s in states), states)


class ManPageCase(unittest.TestCase):

    def test_man_pages_render_without_warnings(self):
        groff = shutil.which("groff")
        if groff is None:
            self.fail("groff is missing (groff-base)")
        for page in MAN_PAGES:
            p = subprocess.run([groff, "-k", "-man", "-Tutf8", "-ww", "-z", page],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=dict(os.environ, LC_ALL="C.UTF-8"))
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertEqual(p.stderr.decode(), "", page)

    def test_rules_page_documents_every_key(self):
        with open(os.path.join(REPO, "journal-watch", "rules_parse.c")) as f:
            src = f.read()
        keys = re.search(r"key_names\[K_COUNT\] = \{(.*?)\};", src, re.S).group(1)
        keys = re.findall(r'"(\w+)"', keys)
        self.assertEqual(len(keys), 12)
        with open(MAN_PAGES[1]) as f:
            man = f.read()
        for k in keys:
            self.assertRegex(man, r"\n\.B %s\b" % k, "%s is not documented" % k)

    def test_journal_page_documents_every_option(self):
        with open(os.path.join(REPO, "journal-watch", "main.c")) as f:
            src = f.read()
        opts = re.findall(r'\{"([a-z-]+)", (?:no|required)_argument', src)
        self.assertGreaterEqual(len(opts), 10)
        with open(MAN_PAGES[0]) as f:
            man = f.read()
        for o in opts:
            self.assertIn("\\-\\-" + o.replace("-", "\\-"), man, "--%s is not documented" % o)


if __name__ == "__main__":
    unittest.main()
