#!/usr/bin/python3
"""journal_bench: how fast qqnotify-journal reads a journal, next to the
floor and the tools an administrator would use instead.

    /usr/bin/python3 tests/bench/journal_bench.py [--build build] [--entries 1000000]
        [--big-entries 5000000] [--work DIR] [--keep]
    /usr/bin/python3 tests/bench/journal_bench.py --entries 100000 --callgrind [BUILD[:RULES]...]

One synthetic journal of --entries entries is written with
systemd-journal-remote from export format: the field set journald gives a
real entry (about 20 fields: _BOOT_ID, _MACHINE_ID, _HOSTNAME, _TRANSPORT,
PRIORITY, SYSLOG_IDENTIFIER, _PID, _UID, _COMM, _EXE, _CMDLINE,
_SYSTEMD_UNIT, _SYSTEMD_CGROUP, ... MESSAGE), with a mix of messages as a
busy server logs them (web and application lines, cron, systemd, kernel
firewall lines, sshd and sudo sessions) and, sprinkled in, what the default
rules look for: ssh password failures from a few hundred addresses, invalid
users, sudo failures, OOM kills, I/O errors, full disks, failed units,
segfaults and core dumps, plus near misses.

Rows, each one process (or pipeline) run over the same journal, in rounds
(--runs, every row once per round, after one run that warms the page
cache); "% of floor" is each row's rate over the floor's in the same round,
so that load from other programs on a shared machine cancels out, and the
table shows medians:
  floor            build/tests/bench/journal_bench_floor: sd_journal_next +
                   reading MESSAGE, nothing else
  qqnotify-journal --once with packaging/rules.d (all default rules), into a
                   spool on --work, from an empty state (--since @0)
  journalctl|grep  journalctl -o cat | grep -E with the default rules'
                   patterns (PCRE named groups rewritten for ERE) — no
                   fields, no thresholds, just the lines
  journalctl -g    journalctl --grep with the same patterns joined by |
  fail2ban-regex   fail2ban-regex with its sshd filter on the journal
                   (systemd-journal backend), when fail2ban is installed

Columns: entries per second (wall clock), peak RSS (VmHWM; for
journalctl|grep the sum of both processes), peak anonymous RSS (RssAnon:
what the program itself holds, as opposed to journal file pages mapped by
sd-journal, which the kernel can drop at any time), both sampled from
/proc every 10 ms, and the number of lines or alerts found.

Then qqnotify-journal runs again over --big-entries entries (the same
generator, five times the size, in a second directory) to show that its
memory does not grow with the input.  Last (unless --no-give-back), the
floor runs again giving the journal pages back every N entries (the
daemon's code, --release-every): what a smaller resident size costs any
sd-journal reader.  It gives them back at fixed intervals, without the
daemon's look at /proc/self/statm every 256 entries.

With --callgrind: one table of instruction counts (the whole run, and the
matcher qn_rules_feed inclusive) for this build and every other BUILD[:RULES]
given, e.g. a build of main with its own rules, over the same journal.

Prints tables; never passes or fails on time.  Exit status non-zero only
when a row did not work (a tool failed, or qqnotify-journal found fewer
alerts than the generator planted), because the numbers would then measure
something else.
"""

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"

# --- the synthetic journal ------------------------------------------------------------

NOISE_APPS = [
    # (unit, identifier, exe, message templates)
    ("nginx.service", "nginx", "/usr/sbin/nginx", [
        '{ip} - - [{date}] "GET /api/v1/items/{n} HTTP/1.1" 200 {size} "-" "Mozilla/5.0"',
        '{ip} - - [{date}] "POST /login HTTP/1.1" 302 {size} "-" "curl/7.88.1"',
        '{ip} - - [{date}] "GET /static/app.{n}.js HTTP/2.0" 304 0 "https://example.com/" '
        '"Mozilla/5.0 (X11; Linux x86_64)"',
    ]),
    ("app.service", "app", "/usr/bin/python3", [
        "INFO request id={hex} user={user} path=/orders/{n} took {ms}ms",
        "WARNING slow query took {ms}ms: SELECT * FROM orders WHERE id = {n}",
        "INFO cache hit ratio 0.{n} over the last minute",
        "ERROR upstream timeout after {ms}ms (attempt {small} of 3), retrying",
    ]),
    ("postgresql@15-main.service", "postgres", "/usr/lib/postgresql/15/bin/postgres", [
        "LOG:  checkpoint complete: wrote {n} buffers (0.{small}%); 0 WAL file(s) added",
        "LOG:  duration: {ms}.123 ms  statement: SELECT count(*) FROM events",
    ]),
    ("cron.service", "CRON", "/usr/sbin/cron", [
        "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
        "(root) CMD (command -v debian-sa1 > /dev/null && debian-sa1 1 1)",
        "pam_unix(cron:session): session closed for user root",
    ]),
    ("systemd-logind.service", "systemd-logind", "/lib/systemd/systemd-logind", [
        "New session {n} of user {user}.",
        "Session {n} logged out. Waiting for processes to exit.",
        "Removed session {n}.",
    ]),
]

SYSTEMD_NOISE = [
    "Starting {unit} - Daily apt download activities...",
    "Started {unit} - Daily apt download activities.",
    "{unit}: Deactivated successfully.",
    "{unit}: Consumed {small}.{n}s CPU time.",
    "Finished {unit} - Rotate log files.",
    "{unit}: Main process exited, code=exited, status=0/SUCCESS",
]

KERNEL_NOISE = [
    "[UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56 SRC={ip} DST=10.0.0.5 LEN=44 TOS=0x00 "
    "PREC=0x00 TTL=242 ID={n} PROTO=TCP SPT={port} DPT=23 WINDOW=1024 RES=0x00 SYN URGP=0",
    "audit: type=1400 audit({n}.123:{small}): apparmor=\"DENIED\" operation=\"open\" "
    "profile=\"snap.lxd\" name=\"/proc/{n}/mounts\"",
    "EXT4-fs (sda1): mounted filesystem with ordered data mode. Quota mode: none.",
    "TCP: request_sock_TCP: Possible SYN flooding on port 443. Sending cookies.",
]

SSHD_NOISE = [
    "Accepted publickey for {user} from {ip} port {port} ssh2: ED25519 SHA256:{hex}",
    "pam_unix(sshd:session): session opened for user {user}(uid=1000) by (uid=0)",
    "Received disconnect from {ip} port {port}:11: disconnected by user",
    "Disconnected from user {user} {ip} port {port}",
    "Connection closed by {ip} port {port} [preauth]",
    # near misses of the brute-force rules
    "Failed publickey for {user} from {ip} port {port} ssh2: RSA SHA256:{hex}",
    "Accepted password for {user} from {ip} port {port} ssh2",
]

SUDO_NOISE = [
    "    {user} : TTY=pts/0 ; PWD=/home/{user} ; USER=root ; COMMAND=/usr/bin/systemctl status",
    "pam_unix(sudo:session): session opened for user root(uid=0) by {user}(uid=1000)",
    "pam_unix(sudo:session): session closed for user root",
]

USERS = ["alice", "bob", "deploy", "carol", "www-data"]


def slice_of(unit):
    """The slice systemd puts a system unit in: instances of a template in their own
    (systemd-coredump@1-2-0.service in system-systemd\\x2dcoredump.slice)."""
    if unit == "init.scope":
        return "-.slice"
    if "@" in unit and unit.endswith(".service"):
        return "system-%s.slice" % unit.split("@")[0].replace("-", "\\x2d")
    return "system.slice"


class Gen:
    """Builds export-format entries; deterministic for a seed."""

    def __init__(self, seed, host, start_usec):
        self.rnd = random.Random(seed)
        self.host = host
        self.boot = uuid.UUID(int=self.rnd.getrandbits(128)).hex
        self.machine = uuid.UUID(int=self.rnd.getrandbits(128)).hex
        self.t = start_usec
        self.mono = 1000000
        self.planted = {}

    def ip(self):
        r = self.rnd
        return "%d.%d.%d.%d" % (r.randint(1, 223), r.randint(0, 255), r.randint(0, 255),
                                r.randint(1, 254))

    def fill(self, tpl, unit=""):
        r = self.rnd
        return tpl.format(ip=self.ip(), date="26/Nov/2026:10:00:00 +0800", n=r.randint(1, 99999),
                          size=r.randint(100, 90000), hex="%016x" % r.getrandbits(64),
                          user=r.choice(USERS), ms=r.randint(1, 5000), small=r.randint(1, 9),
                          port=r.randint(1024, 65535), unit=unit)

    def entry(self, out, ident, message, unit=None, transport="syslog", priority=6, pid=None,
              comm=None, exe=None, extra=None):
        r = self.rnd
        gap = r.randint(1000, 100000)  # 1-100 ms: a busy server's day is ~1.7 M entries
        self.t += gap
        self.mono += gap
        pid = pid if pid is not None else r.randint(300, 40000)
        fields = [
            ("__REALTIME_TIMESTAMP", str(self.t)),
            ("__MONOTONIC_TIMESTAMP", str(self.mono)),
            ("_BOOT_ID", self.boot),
            ("_MACHINE_ID", self.machine),
            ("_HOSTNAME", self.host),
            ("_TRANSPORT", transport),
            ("PRIORITY", str(priority)),
        ]
        if transport != "kernel":
            fields += [
                ("SYSLOG_FACILITY", "3"),
                ("SYSLOG_IDENTIFIER", ident),
                ("_PID", str(pid)),
                ("_UID", "0"),
                ("_GID", "0"),
                ("_COMM", comm or ident[:15]),
                ("_EXE", exe or "/usr/sbin/" + ident),
                ("_CMDLINE", (exe or "/usr/sbin/" + ident) + " -D"),
                ("_CAP_EFFECTIVE", "1ffffffffff"),
                ("_SELINUX_CONTEXT", "unconfined\n"),
                ("_SYSTEMD_CGROUP", ("/%s/%s" % (slice_of(unit or ident + ".service"),
                                                  unit or ident + ".service")).replace(
                                                      "/-.slice", "")),
                ("_SYSTEMD_UNIT", unit or ident + ".service"),
                ("_SYSTEMD_SLICE", slice_of(unit or ident + ".service")),
                ("_SYSTEMD_INVOCATION_ID", "%032x" % (hash(unit or ident) & (2**128 - 1))),
                ("_SOURCE_REALTIME_TIMESTAMP", str(self.t - r.randint(1, 40))),
            ]
        else:
            fields += [("SYSLOG_FACILITY", "0"), ("SYSLOG_IDENTIFIER", "kernel"),
                       ("_SOURCE_MONOTONIC_TIMESTAMP", str(self.mono - 7))]
        for k, v in (extra or []):
            fields.append((k, v))
        fields.append(("MESSAGE", message))
        for k, v in fields:
            b = v.encode("utf-8")
            if b"\n" in b:
                out.append(k.encode() + b"\n" + len(b).to_bytes(8, "little") + b + b"\n")
            else:
                out.append(k.encode() + b"=" + b + b"\n")
        out.append(b"\n")

    def plant(self, name):
        self.planted[name] = self.planted.get(name, 0) + 1

    def special(self, out):
        """One of the lines the default rules look for (rare), or a near miss."""
        r = self.rnd
        k = r.randint(0, 99)
        if k < 40:  # a burst of password failures from one of a few hundred addresses
            ip = "198.51.%d.%d" % (r.randint(0, 3), r.randint(1, 100))
            for _ in range(6):
                u = r.choice(["root", "admin", "invalid user oracle", "invalid user test"])
                self.entry(out, "sshd", "Failed password for %s from %s port %d ssh2"
                           % (u, ip, r.randint(1024, 65535)), unit="ssh.service",
                           priority=6, exe="/usr/sbin/sshd")
        elif k < 55:
            ip = "203.0.113.%d" % r.randint(1, 250)
            for _ in range(4):
                self.entry(out, "sshd", "Invalid user %s from %s port %d"
                           % (r.choice(["oracle", "test", "ubnt", "pi"]), ip,
                              r.randint(1024, 65535)), unit="ssh.service", exe="/usr/sbin/sshd")
        elif k < 62:
            u = r.choice(USERS)
            self.entry(out, "sudo", "    %s : 3 incorrect password attempts ; TTY=pts/1 ; "
                       "PWD=/home/%s ; USER=root ; COMMAND=/usr/bin/su" % (u, u),
                       unit="session-3.scope", priority=5, exe="/usr/bin/sudo")
        elif k < 66:
            u = r.choice(USERS)
            self.entry(out, "sudo", "    %s : user NOT in sudoers ; TTY=pts/1 ; PWD=/home/%s ; "
                       "USER=root ; COMMAND=/usr/bin/id" % (u, u), unit="session-3.scope",
                       priority=2, exe="/usr/bin/sudo")
        elif k < 70:
            self.entry(out, "kernel", "Out of memory: Killed process %d (java) total-vm:8123456kB, "
                       "anon-rss:4012345kB, file-rss:0kB, shmem-rss:0kB, UID:1001 pgtables:9000kB "
                       "oom_score_adj:0" % r.randint(300, 40000), transport="kernel", priority=3)
        elif k < 74:
            self.entry(out, "kernel", "I/O error, dev sdb, sector %d op 0x0:(READ) flags 0x0 "
                       "phys_seg 1 prio class 2" % r.randint(1, 10 ** 9), transport="kernel",
                       priority=3)
        elif k < 78:
            self.entry(out, "app", "ERROR cannot write /var/lib/app/cache.%d: No space left on "
                       "device" % r.randint(1, 999), unit="app.service", priority=3,
                       exe="/usr/bin/python3")
        elif k < 84:
            unit = r.choice(["backup.service", "app.service", "certbot.service"])
            self.entry(out, "systemd", "%s: Failed with result 'exit-code'." % unit,
                       unit="init.scope", pid=1, comm="systemd", exe="/lib/systemd/systemd",
                       priority=4, extra=[("UNIT", unit)])
        elif k < 88:
            self.entry(out, "kernel", "app[%d]: segfault at 0 ip 00007f3a1c2b3d4e sp "
                       "00007ffd5e6f7a80 error 4 in libc.so.6[7f3a1c200000+195000] likely on "
                       "CPU 1 (core 1, socket 0)" % r.randint(300, 40000), transport="kernel",
                       priority=6)
        elif k < 91:
            pid = r.randint(300, 40000)
            self.entry(out, "systemd-coredump", "Process %d (app) of user 1001 dumped core.\n\n"
                       "Stack trace of thread %d:\n#0  0x00007f3a1c2b3d4e n/a (libc.so.6 + 0x9d4e)"
                       % (pid, pid), unit="systemd-coredump@0-1234-0.service", priority=2,
                       exe="/lib/systemd/systemd-coredump")
        else:  # near misses
            self.entry(out, "sshd", r.choice([
                "Connection closed by invalid user oracle 203.0.113.7 port 40000 [preauth]",
                "Failed none for invalid user  from 203.0.113.7 port 40000 ssh2",
                "Disconnected from authenticating user root 198.51.100.7 port 5000 [preauth]",
            ]), unit="ssh.service", exe="/usr/sbin/sshd")

    def batch(self, n_entries, special_every=3000):
        """Export text of about N_ENTRIES entries (bytes)."""
        out = []
        r = self.rnd
        n = 0
        while n < n_entries:
            before = len(out)
            k = r.randint(0, special_every)
            if k == 0:
                self.special(out)
            elif k < special_every * 0.45:
                unit, ident, exe, tpls = NOISE_APPS[0]
                self.entry(out, ident, self.fill(r.choice(tpls)), unit=unit, exe=exe)
            elif k < special_every * 0.60:
                unit, ident, exe, tpls = r.choice(NOISE_APPS[1:])
                self.entry(out, ident, self.fill(r.choice(tpls)), unit=unit, exe=exe,
                           priority=r.choice([6, 6, 6, 4]))
            elif k < special_every * 0.70:
                u = r.choice(["apt-daily.service", "logrotate.service", "man-db.service",
                              "fstrim.service", "backup.service"])
                self.entry(out, "systemd", self.fill(r.choice(SYSTEMD_NOISE), unit=u),
                           unit="init.scope", pid=1, comm="systemd", exe="/lib/systemd/systemd",
                           extra=[("UNIT", u)])
            elif k < special_every * 0.85:
                self.entry(out, "kernel", self.fill(r.choice(KERNEL_NOISE)), transport="kernel",
                           priority=r.choice([4, 6]))
            elif k < special_every * 0.95:
                self.entry(out, "sshd", self.fill(r.choice(SSHD_NOISE)), unit="ssh.service",
                           exe="/usr/sbin/sshd")
            else:
                self.entry(out, "sudo", self.fill(r.choice(SUDO_NOISE)), unit="session-3.scope",
                           exe="/usr/bin/sudo")
            # each entry ends with one blank line
            n += sum(1 for x in out[before:] if x == b"\n")
        return b"".join(out), n


def make_journal(path, n_entries, seed, host="bench1"):
    """Write N_ENTRIES entries into the journal file PATH; returns the count written."""
    start = int(time.time() * 1e6) - n_entries * 51000 - 3600 * 10 ** 6
    g = Gen(seed, host, start)
    p = subprocess.Popen([JOURNAL_REMOTE, "-o", path, "-"], stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    written = 0
    while written < n_entries:
        data, n = g.batch(min(20000, n_entries - written))
        p.stdin.write(data)
        written += n
    p.stdin.close()
    err = p.stderr.read()
    if p.wait() != 0:
        raise RuntimeError("systemd-journal-remote failed: %s" % err.decode(errors="replace"))
    return written



def ensure_journal(directory, n_entries, seed, keep):
    """A directory holding the synthetic journal; reused when --keep and already made."""
    marker = os.path.join(directory, ".bench-made")
    want = "entries=%d seed=%d generator=2\n" % (n_entries, seed)
    if keep and os.path.exists(marker):
        with open(marker) as f:
            if f.read() == want:
                return
    shutil.rmtree(directory, ignore_errors=True)
    os.makedirs(directory)
    t0 = time.monotonic()
    sys.stderr.write("writing %d entries into %s ...\n" % (n_entries, directory))
    make_journal(os.path.join(directory, "bench.journal"), n_entries, seed)
    sys.stderr.write("  done in %.0f s\n" % (time.monotonic() - t0))
    with open(marker, "w") as f:
        f.write(want)


# --- the patterns of the default rules, for grep -E and journalctl --grep ---------------

def default_patterns():
    pats = []
    d = os.path.join(REPO, "packaging", "rules.d")
    for name in sorted(os.listdir(d)):
        if not name.endswith(".conf"):
            continue
        with open(os.path.join(d, name)) as f:
            for line in f:
                k, sep, v = line.partition("=")
                if sep and k.strip() == "regex":
                    pats.append(v.strip())
    return pats


def pcre_without_names(p):
    """Named groups become plain groups: joined with |, equal names would clash."""
    return re.sub(r"\(\?<[a-z_]+>", "(", p)


def pcre_to_ere(p):
    """The constructs the default patterns use, in POSIX ERE (GNU grep -E)."""
    out, i, in_bracket = [], 0, False
    classes = {"d": ("[0-9]", "0-9"), "s": ("[[:space:]]", "[:space:]"),
               "S": ("[^[:space:]]", None), "w": ("[[:alnum:]_]", "[:alnum:]_")}
    while i < len(p):
        c = p[i]
        if c == "\\" and i + 1 < len(p):
            n = p[i + 1]
            if n in classes:
                whole, inner = classes[n]
                if in_bracket:
                    if inner is None:
                        raise ValueError("\\S inside brackets: %s" % p)
                    out.append(inner)
                else:
                    out.append(whole)
            elif in_bracket:
                out.append(n)  # \[ \] \- inside brackets: the character itself
            else:
                out.append("\\" + n)
            i += 2
            continue
        if in_bracket:
            if c == "]":
                in_bracket = False
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_bracket = True
            if p[i + 1:i + 2] == "^":
                out.append("[^")
                i += 2
            else:
                out.append("[")
                i += 1
            if p[i:i + 1] == "]":  # a leading ] is literal
                out.append("]")
                i += 1
            continue
        if p.startswith("(?:", i):
            out.append("(")
            i += 3
            continue
        if p.startswith("(?<", i):
            j = p.index(">", i)
            out.append("(")
            i = j + 1
            continue
        if p.startswith("(?", i):
            raise ValueError("cannot translate %r in %s" % (p[i:i + 4], p))
        if c in "*+?}" and p[i + 1:i + 2] == "?":
            raise ValueError("lazy quantifier in %s" % p)
        out.append(c)
        i += 1
    return "".join(out)


# --- running and measuring -------------------------------------------------------------

class Sampler(threading.Thread):
    """Peak VmHWM and RssAnon of some processes, from /proc every 10 ms.

    Why not ru_maxrss from wait4(): a child forked from this (large) Python process starts
    with the parent's resident pages counted, so its ru_maxrss says more about Python than
    about the program it executes.  VmHWM belongs to the executed image's own address space
    and only grows, so the last sample before exit is its peak to within 10 ms of work."""

    def __init__(self, pids):
        super().__init__(daemon=True)
        self.pids = pids
        self.hwm = {p: 0 for p in pids}
        self.anon = {p: 0 for p in pids}
        self.stop = threading.Event()

    def sample(self):
        for pid in self.pids:
            try:
                with open("/proc/%d/status" % pid) as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            self.hwm[pid] = max(self.hwm[pid], int(line.split()[1]))
                        elif line.startswith("RssAnon:"):
                            self.anon[pid] = max(self.anon[pid], int(line.split()[1]))
            except (OSError, ValueError):
                pass

    def run(self):
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(0.01)


def run_pipeline(cmds, env=None, faults=None):
    """Run CMDS as a pipeline.  Returns (seconds, [peak RSS KiB], [peak anon KiB], stdout,
    stderr of the last, [exit codes], CPU seconds); appends the minor page faults of all
    processes to the list FAULTS when given."""
    procs = []
    prev = None
    # The last process writes into files, not pipes: a pipe nobody reads while the other is
    # drained would stop a chatty program (a log line per alert) and measure the wait.
    out_f = tempfile.TemporaryFile()
    err_f = tempfile.TemporaryFile()
    t0 = time.monotonic()
    for k, argv in enumerate(cmds):
        last = k == len(cmds) - 1
        p = subprocess.Popen(argv, stdin=prev, stdout=out_f if last else subprocess.PIPE,
                             stderr=err_f if last else subprocess.DEVNULL, env=env)
        if prev is not None:
            prev.close()
        prev = p.stdout
        procs.append(p)
    sampler = Sampler([p.pid for p in procs])
    sampler.start()
    rcs, cpu, minflt = [], 0.0, 0
    for p in procs:
        # wait without reaping, so the last /proc sample sees the process whole
        os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
        sampler.sample()
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        rcs.append(p.returncode)
        cpu += ru.ru_utime + ru.ru_stime
        minflt += ru.ru_minflt
    if faults is not None:
        faults.append(minflt)
    seconds = time.monotonic() - t0
    sampler.stop.set()
    sampler.join()
    out_f.seek(0)
    err_f.seek(0)
    data, err = out_f.read(), err_f.read()
    out_f.close()
    err_f.close()
    return (seconds, [sampler.hwm[p.pid] for p in procs], [sampler.anon[p.pid] for p in procs],
            data, err, rcs, cpu)


def mb(kib):
    return "%.1f" % (kib / 1024.0)


def callgrind_table(a):
    """Instructions of qqnotify-journal --once over one journal: the whole run and the
    matcher (qn_rules_feed, inclusive) — exact and repeatable, unlike times on a shared
    machine, so that two builds can be compared."""
    if shutil.which("valgrind") is None or shutil.which("callgrind_annotate") is None:
        sys.exit("valgrind is missing (apt-get install valgrind)")
    os.makedirs(a.work, exist_ok=True)
    d = os.path.join(a.work, "journal-%d" % a.entries)
    ensure_journal(d, a.entries, 1, a.keep)
    rows = [(a.build, os.path.join(REPO, "packaging", "rules.d"))]
    for b in a.callgrind:
        build, _, rules = b.partition(":")
        rows.append((build, rules or os.path.join(REPO, "packaging", "rules.d")))
    spool = os.path.join(a.work, "spool-callgrind")
    conf = os.path.join(a.work, "qqnotify-callgrind.conf")
    with open(conf, "w") as f:
        f.write("[smtp]\nprovider = qq\nuser = 123456789@qq.com\n[notify]\n"
                "to = ops@example.com\nlanguage = en\n[spool]\ndir = %s\n" % spool)
    print("instructions of qqnotify-journal --once over %d entries (callgrind)" % a.entries)
    print("%-40s %16s %16s %8s" % ("build (rules)", "whole run", "qn_rules_feed", "alerts"))
    for build, rules in rows:
        shutil.rmtree(spool, ignore_errors=True)
        os.makedirs(spool)
        out = os.path.join(a.work, "callgrind.out")
        p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                            os.path.join(build, "qqnotify-journal"), "-c", conf, "--rules",
                            rules, "--directory", d, "--once", "--since", "@0"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if p.returncode != 0:
            sys.exit("qqnotify-journal failed under callgrind: %s" % p.stderr.decode()[-2000:])
        ann = subprocess.run(["callgrind_annotate", "--inclusive=yes", out],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode()
        total = re.search(r"^([\d,]+) +\(100\.0+%\) +PROGRAM TOTALS", ann, re.M) or \
            re.search(r"^([\d,]+) +PROGRAM TOTALS", ann, re.M)
        feed = re.search(r"^([\d,]+) .*:qn_rules_feed ", ann, re.M)
        alerts = len(os.listdir(os.path.join(spool, "new")))
        def short(path):
            rel = os.path.relpath(path, REPO)
            return path if rel.startswith("..") else rel

        label = "%s (%s)" % (short(build), short(rules))
        print("%-40s %16s %16s %8d" % (label[-40:], total.group(1) if total else "?",
                                         feed.group(1) if feed else "?", alerts))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(REPO, "build"))
    ap.add_argument("--entries", type=int, default=1000000)
    ap.add_argument("--big-entries", type=int, default=5000000,
                    help="second journal for the memory comparison (0: skip)")
    ap.add_argument("--work", default="/var/tmp/qqnotify-journal-bench",
                    help="where the journals and the spool are written (a real disk)")
    ap.add_argument("--runs", type=int, default=5,
                    help="rounds (every row once each); medians are shown")
    ap.add_argument("--tmpfs", default="/dev/shm",
                    help="a tmpfs for the second qqnotify-journal row (skipped if not tmpfs)")
    ap.add_argument("--no-give-back", action="store_true",
                    help="skip the last table (the floor giving journal pages back)")
    ap.add_argument("--keep", action="store_true",
                    help="reuse journals written by an earlier run with the same sizes")
    ap.add_argument("--callgrind", nargs="*", metavar="BUILD[:RULES]",
                    help="instead of the tables: count instructions (valgrind --tool="
                         "callgrind) of one --once run over --entries entries, for this "
                         "build and each BUILD given (its qqnotify-journal with RULES, by "
                         "default packaging/rules.d)")
    a = ap.parse_args()
    if a.callgrind is not None:
        return callgrind_table(a)

    qj = os.path.join(a.build, "qqnotify-journal")
    floor = os.path.join(a.build, "tests", "bench", "journal_bench_floor")
    for b in (qj, floor):
        if not os.access(b, os.X_OK):
            sys.exit("missing %s: run `make bench-journal` (or make all and "
                     "make %s)" % (b, os.path.relpath(floor, REPO)))
    if not os.access(JOURNAL_REMOTE, os.X_OK):
        sys.exit("missing %s (package systemd-journal-remote)" % JOURNAL_REMOTE)
    os.makedirs(a.work, exist_ok=True)
    small = os.path.join(a.work, "journal-%d" % a.entries)
    ensure_journal(small, a.entries, 1, a.keep)
    big = None
    if a.big_entries > 0:
        big = os.path.join(a.work, "journal-%d" % a.big_entries)
        ensure_journal(big, a.big_entries, 5, a.keep)

    env = dict(os.environ, LC_ALL="C.UTF-8", LANG="C.UTF-8", SYSTEMD_PAGER="cat")
    rules = os.path.join(REPO, "packaging", "rules.d")
    spool = os.path.join(a.work, "spool")
    conf = os.path.join(a.work, "qqnotify.conf")
    with open(conf, "w") as f:
        f.write("[smtp]\nprovider = qq\nuser = 123456789@qq.com\n[notify]\nto = ops@example.com\n"
                "language = en\n[spool]\ndir = %s\n" % spool)

    def floor_run(d):
        r = run_pipeline([[floor, "--directory", d]], env)
        if r[5][0] != 0:
            raise RuntimeError("floor failed: %s" % r[4].decode())
        n = int(r[3].split()[1])
        return r + (n, "%d messages" % n)

    def qj_run(d, cfg=conf, sp=spool):
        shutil.rmtree(sp, ignore_errors=True)
        os.makedirs(sp)
        r = run_pipeline([[qj, "-c", cfg, "--rules", rules, "--directory", d, "--once",
                           "--since", "@0"]], env)
        if r[5][0] != 0:
            raise RuntimeError("qqnotify-journal failed: %s" % r[4].decode()[-2000:])
        alerts = len(os.listdir(os.path.join(sp, "new")))
        m = re.search(r"(\d+) entries read, (\d+) matched", r[4].decode())
        # A run that stopped early or found nothing would give a rate for other work.
        if m is None or int(m.group(1)) != fl_entries(d) or alerts == 0:
            raise RuntimeError("qqnotify-journal read %s of %d entries, %d alerts"
                               % (m.group(1) if m else "?", fl_entries(d), alerts))
        return r + (int(m.group(1)), "%d alerts (%s lines)" % (alerts, m.group(2)))

    # The same run with the spool on a tmpfs, where fsync costs nothing: the difference is
    # the price of durability (2 fsyncs per alert: the event file and new/; the position
    # after it is renamed into place without waiting), the rest is the reading and matching.
    tmpfs_spool = tmpfs_conf = None
    if a.tmpfs and os.path.isdir(a.tmpfs) and subprocess.run(
            ["stat", "-f", "-c", "%T", a.tmpfs], stdout=subprocess.PIPE).stdout.strip() == \
            b"tmpfs":
        tmpfs_spool = os.path.join(a.tmpfs, "qqnotify-journal-bench-spool")
        tmpfs_conf = os.path.join(a.work, "qqnotify-tmpfs.conf")
        with open(tmpfs_conf, "w") as f:
            f.write("[smtp]\nprovider = qq\nuser = 123456789@qq.com\n[notify]\n"
                    "to = ops@example.com\n[spool]\ndir = %s\n" % tmpfs_spool)

    pats = default_patterns()
    ere = [pcre_to_ere(p) for p in pats]
    grep_args = ["grep", "-E", "-c"]
    for e in ere:
        grep_args += ["-e", e]
    jgrep = "|".join("(?:%s)" % pcre_without_names(p) for p in pats)

    def grep_run(d):
        r = run_pipeline([["journalctl", "-D", d, "-o", "cat", "--no-pager"], grep_args], env)
        if r[5][0] != 0 or r[5][1] not in (0, 1):
            raise RuntimeError("journalctl | grep failed: %s" % (r[5],))
        return r + (fl_entries(d), "%s lines" % r[3].decode().strip())

    def jgrep_run(d):
        r = run_pipeline([["journalctl", "-D", d, "-o", "cat", "--no-pager", "--grep", jgrep]],
                         env)
        if r[5][0] not in (0, 1):
            raise RuntimeError("journalctl --grep failed: %s" % r[4].decode())
        return r + (fl_entries(d), "%d lines" % r[3].count(b"\n"))

    f2b = shutil.which("fail2ban-regex")
    counts = {}

    def fl_entries(d):
        """Entries in the journal of D (counted by the floor once)."""
        if d not in counts:
            counts[d] = floor_run(d)[7]
        return counts[d]

    def f2b_run(d):
        # Debian names the unit ssh.service: match sshd by _COMM only (the filter's default
        # journalmatch _SYSTEMD_UNIT=sshd.service would select nothing here).
        r = run_pipeline([[f2b, "systemd-journal[journalpath=%s]" % d,
                           "sshd[journalmatch='_COMM=sshd']"]], env)
        if r[5][0] != 0:
            raise RuntimeError("fail2ban-regex failed: %s" % (r[3] + r[4]).decode()[-2000:])
        m = re.search(rb"Lines: (\d+) lines, (\d+) ignored, (\d+) matched", r[3])
        return r + (fl_entries(d), "%s of %s sshd lines" % (m.group(3).decode(),
                                                             m.group(1).decode()) if m else "?")

    sys.stderr.write("warming the page cache ...\n")
    floor_run(small)

    # Rounds: every row once per round, in the same order; each row's ratio to the floor is
    # taken within its round, so load from other programs (this machine is shared) moves
    # both sides of a ratio alike.  Medians over the rounds are shown.
    rows = [("floor (sd_journal_next + MESSAGE)", lambda: floor_run(small)),
            ("qqnotify-journal --once, default rules", lambda: qj_run(small))]
    if tmpfs_spool:
        rows.append(("  the same, spool on tmpfs (no fsync cost)",
                     lambda: qj_run(small, tmpfs_conf, tmpfs_spool)))
    rows.append(("journalctl -o cat | grep -E (same patterns)", lambda: grep_run(small)))
    rows.append(("journalctl --grep (same patterns)", lambda: jgrep_run(small)))
    if f2b:
        rows.append(("fail2ban-regex, sshd filter", lambda: f2b_run(small)))
    results = {name: [] for name, _ in rows}
    for k in range(a.runs):
        sys.stderr.write("round %d of %d ...\n" % (k + 1, a.runs))
        base = None
        for name, fn in rows:
            r = fn()
            if base is None:
                base = r
            results[name].append((r, (r[7] / r[0]) / (base[7] / base[0]),
                                  (r[7] / r[6]) / (base[7] / base[6])))

    def median(v):
        v = sorted(v)
        return v[len(v) // 2]

    def pct(ratios):
        """The median ratio in percent, and the lowest and highest rounds when they differ."""
        lo, hi = 100.0 * min(ratios), 100.0 * max(ratios)
        if round(lo) == round(hi):
            return "%.0f %%" % (100.0 * median(ratios))
        return "%.0f %% (%.0f-%.0f)" % (100.0 * median(ratios), lo, hi)

    print()
    print("journal: %d entries, %s (%s)" % (a.entries, small, subprocess.run(
        ["du", "-sh", small], stdout=subprocess.PIPE).stdout.decode().split()[0]))
    print("medians of %d rounds; %% of floor: the ratio to the floor's run of the same round "
          "(in brackets: the lowest and highest round);" % a.runs)
    print("RSS = peak resident set (VmHWM; for a pipeline the sum of its processes); anon = "
          "peak RssAnon:\nthe program's own memory, without the journal file pages sd-journal "
          "maps")
    print()
    print("| reader | entries/s | % of floor | entries/CPU-s | % of floor | peak RSS MB | "
          "peak anon MB | found |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name, _ in rows:
        rs_ = results[name]
        wall = median([r[7] / r[0] for r, _, _ in rs_])
        cpu = median([r[7] / r[6] for r, _, _ in rs_])
        print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, "{:,}".format(int(wall)), pct([w for _, w, _ in rs_]),
            "{:,}".format(int(cpu)), pct([c for _, _, c in rs_]),
            mb(max(sum(r[1]) for r, _, _ in rs_)), mb(max(sum(r[2]) for r, _, _ in rs_)),
            rs_[-1][0][8]))
    if not f2b:
        print("| fail2ban-regex, sshd filter | not installed (apt-get install fail2ban "
              "python3-systemd) | | | | | | |")

    if big:
        print()
        print("memory as the journal grows (%d -> %d entries):" % (a.entries, a.big_entries))
        print()
        print("| reader | entries | entries/s | entries/CPU-s | peak RSS MB | peak anon MB |")
        print("|---|---:|---:|---:|---:|---:|")
        for name, fn in (("floor", floor_run), ("qqnotify-journal", qj_run)):
            for d in (small, big):
                r = fn(d)
                print("| %s | %s | %s | %s | %s | %s |" % (
                    name, "{:,}".format(r[7]), "{:,}".format(int(r[7] / r[0])),
                    "{:,}".format(int(r[7] / r[6])), mb(sum(r[1])), mb(sum(r[2]))))
    # Why not fewer pages: what a plain reader pays to keep its resident size small, with the
    # daemon's own give-back (journal-watch/pages.c).  Reading an entry touches about 20
    # data objects; the values shared by many entries (host, unit, command line, ...) are
    # scattered over the file, and each page fault maps up to 64 KiB around the page (the
    # kernel's fault-around), so the pages an entry needs come back at a price each time.
    everies = () if a.no_give_back else (0, 16384, 4096, 1024, 256, 64)
    rel = {every: [] for every in everies}
    for k in range(a.runs if everies else 0):
        sys.stderr.write("giving pages back, round %d of %d ...\n" % (k + 1, a.runs))
        first = None
        for every in everies:
            faults = []
            argv = [floor, "--directory", small]
            if every:
                argv[1:1] = ["--release-every", str(every)]
            r = run_pipeline([argv], env, faults)
            if r[5][0] != 0:
                raise RuntimeError("floor failed: %s" % r[4].decode())
            n = int(r[3].split()[1])
            cpu = max(r[6], 1e-3)  # a clock tick at least: never a division by zero
            if first is None:
                first = n / cpu
            rel[every].append((n / r[0], r[6], (n / cpu) / first, sum(r[1]), faults[0]))
    if everies:
        print()
        print("what giving journal pages back costs the floor itself (medians of %d rounds; "
              "%% of floor: rate per CPU-second over the first row's in the same round; peak "
              "RSS: the highest of the rounds):" % a.runs)
        print()
        print("| pages given back | entries/s | CPU s | % of floor | peak RSS MB | minor faults |")
        print("|---|---:|---:|---:|---:|---:|")
    for every in everies:
        v = rel[every]
        print("| %s | %s | %.2f | %.0f %% | %s | %s |" % (
            "every %s entries" % "{:,}".format(every) if every else "never",
            "{:,}".format(int(median([x[0] for x in v]))), median([x[1] for x in v]),
            100.0 * median([x[2] for x in v]), mb(max(x[3] for x in v)),
            "{:,}".format(int(median([x[4] for x in v])))))

    if not a.keep:
        for d in (small, big):
            if d:
                shutil.rmtree(d, ignore_errors=True)
    shutil.rmtree(spool, ignore_errors=True)
    if tmpfs_spool:
        shutil.rmtree(tmpfs_spool, ignore_errors=True)
    return 0


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--make-only":
    # development aid: journal_bench.py --make-only PATH N
    print(make_journal(sys.argv[2], int(sys.argv[3]), 1))
    sys.exit(0)

if __name__ == "__main__":
    sys.exit(main())
