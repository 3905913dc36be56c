"""`qqnotify notify`, `flush` and `queue` against real local servers: the
spool keeps every alert through crashes of producers and of the sender,
outages, limits, frequency replies, permanent failures, corrupt entries and a
full disk (docs/architecture.md section 4).  The spool is made by `qqnotify
queue init` for the run's throw-away spool user (harness.make_spool); notify
submits through the test copy of qqnotify-drop into maildrop/, and flush,
started as root, becomes the spool user and picks the submissions up.

Every event carries a unique marker ("QNM<run>-<n>"); the tests search all
received mails (digests included) for them, so "delivered" means "named in a
mail the server accepted".  Durations are kept short with [limits] retry_min
= 1s and a digest_window of a few seconds; every wait and loop is bounded.
"""

import grp
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import unittest
from email import policy
from email.parser import BytesParser

import faultserver as fs
from harness import (EX_CONFIG, EX_DATAERR, EX_OK, EX_TEMPFAIL, EX_UNAVAILABLE, QNTestCase,
                     needs_root)

EX_IOERR = 74
EX_CANTCREAT = 73

ID_RE = re.compile(r"^[1-9][0-9]{0,19}\.[0-9]{6}\.[1-9][0-9]{0,9}\.[0-9a-f]{16}$")
QUEUES = ("new", "deferred", "failed")
ENTRY_LINES = ("qqnotify-spool", "type", "origin", "uid", "lane", "queued", "attempts",
               "next-try", "last-error", "diagnosis")

# High limits, one mail per event: per-event accounting (no cap on one user's notifications:
# these tests use notify as their producer).
NO_LIMITS = {"max_per_minute": 0, "max_per_hour": 0, "max_per_day": 0, "digest_after": 0,
             "retry_min": "1s", "retry_max": "2s", "user_max": 0}


def log(fmt, *args):
    """A line for the lead's report, kept apart from run.py's result lines."""
    sys.stdout.write("    [test_flush] " + (fmt % args if args else fmt) + "\n")
    sys.stdout.flush()


def free_port():
    """A loopback port nobody listens on (connection refused)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def parse_entry(data):
    """Check DATA against enqueue.h's entry format, version 2; returns
    (header dict, payload bytes).  Raises ValueError when it does not hold."""
    pos, head = 0, {}
    names = list(ENTRY_LINES)
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            raise ValueError("cut inside the header")
        line = data[pos:nl].decode("ascii", "strict")
        pos = nl + 1
        if line == "end":
            break
        name, _, value = line.partition(" ")
        if names:
            if name != names[0]:
                raise ValueError("line %r out of order (expected %s)" % (line, names[0]))
            names.pop(0)
        elif name not in ("sender", "rcpt", "size"):
            raise ValueError("unknown line %r" % line)
        head.setdefault(name, []).append(value)
    if names or "size" not in head or head["qqnotify-spool"] != ["2"]:
        raise ValueError("header incomplete: %r" % head)
    size = int(head["size"][0])
    payload = data[pos:]
    if len(payload) != size:
        raise ValueError("payload is %d bytes, size says %d" % (len(payload), size))
    return {k: v[0] if len(v) == 1 else v for k, v in head.items()}, payload


def event_entry(marker, queued=None, attempts=0, last_error="", lane=1):
    """A system event entry (version 2) as the journal watcher writes one: kind notify,
    subject "alert MARKER", text "message of MARKER"."""
    queued = int(time.time()) if queued is None else queued
    payload = ("kind notify\ntime %d\nhost web1\nsubject alert %s\nfield message message of %s\n"
               % (queued, marker, marker)).encode()
    head = ("qqnotify-spool 2\ntype event\norigin system\nuid 0\nlane %d\nqueued %d\n"
            "attempts %d\nnext-try 0\nlast-error %s\ndiagnosis \nsize %d\nend\n"
            % (lane, queued, attempts, last_error.replace("%", "%25"), len(payload))).encode()
    return head + payload


def unescape(v):
    return re.sub(r"%([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), v)


def event_fields(payload):
    """The spool form of an event (event.h) as a dict; fields under 'field'."""
    ev = {"field": {}}
    for line in payload.decode("utf-8").split("\n"):
        if not line:
            continue
        name, _, value = line.partition(" ")
        if name == "field":
            k, _, v = value.partition(" ")
            ev["field"][k] = unescape(v)
        else:
            ev[name] = unescape(value)
    return ev


def text_body(raw):
    """The decoded text/plain part of a received message."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    part = msg.get_body(preferencelist=("plain",))
    if part is None:
        raise AssertionError("no text/plain part in:\n%r" % raw[:2000])
    return str(msg["Subject"]), part.get_content().replace("\r\n", "\n")


def unstuff(data):
    """faultserver keeps DATA still dot-stuffed."""
    return b"\r\n".join(l[1:] if l.startswith(b".") else l for l in data.split(b"\r\n"))


class FlushCase(QNTestCase):
    """A spool in the test's temp dir, configs pointing at it, helpers."""

    def setUp(self):
        super().setUp()
        self.spool = self.make_spool()
        self.tag = secrets.token_hex(3)
        self.n_markers = 0
        self.procs = []
        self.addCleanup(self._kill_procs)

    def _kill_procs(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            try:
                p.communicate(timeout=10)
            except (subprocess.TimeoutExpired, ValueError):
                pass

    def marker(self):
        self.n_markers += 1
        return "QNM%s-%05d" % (self.tag, self.n_markers)

    def marker_re(self):
        return re.compile(r"QNM%s-\d{5}" % self.tag)

    # -- configuration -------------------------------------------------------
    def flush_config(self, port, name="qqnotify.conf", limits=None, spool=None, timeout=5,
                     provider="custom", tls="implicit"):
        lim = dict(NO_LIMITS)
        lim.update(limits or {})
        p = self.write_config(port=port, name=name, timeout=timeout, provider=provider,
                              tls=tls)
        with open(p, "a", encoding="utf-8") as f:
            f.write("\n%s\n[limits]\n" % self.spool_section(spool or self.spool))
            for k, v in lim.items():
                if v is not None:
                    f.write("%s = %s\n" % (k, v))
        return p

    # -- running -------------------------------------------------------------
    def env(self):
        e = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": self.tmp, "LANG": "C.UTF-8",
             "LC_ALL": "C.UTF-8", "TZ": "UTC",
             "CREDENTIALS_DIRECTORY": self.creds_dir or self.write_secret()}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                e[k] = os.environ[k]
        if self.owners is not None:
            e["QQNOTIFY_DROP"] = self.owners.drop
        return e

    def spawn(self, args, config, preexec_fn=None):
        """Start qqnotify without waiting (killed on cleanup)."""
        p = subprocess.Popen([self.bin, "-c", config, "--lang", "en"] + list(args),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=self.env(), cwd=self.tmp,
                             start_new_session=True, preexec_fn=preexec_fn)
        self.procs.append(p)
        return p

    def notify(self, config, marker, extra=(), check=True):
        res = self.run_qn(["notify", "--no-flush", "--subject", "alert " + marker]
                          + list(extra) + ["message of " + marker], config=config, timeout=20)
        if check:
            self.assertExit(res, EX_OK, "(notify)")
        return res

    def flush(self, config, timeout=60, expect=None):
        res = self.run_qn(["flush"], config=config, timeout=timeout)
        self.assertFalse(res.timed_out, "flush did not finish" + res.dump())
        self.assertGreaterEqual(res.rc, 0, "flush died of a signal" + res.dump())
        if expect is not None:
            self.assertExit(res, expect, "(flush)")
        return res

    def queue(self, config, *args, expect=EX_OK):
        res = self.run_qn(["queue"] + list(args), config=config, timeout=30)
        if expect is not None:
            self.assertExit(res, expect, "(queue %s)" % " ".join(args))
        return res

    # -- the spool -----------------------------------------------------------
    def ids(self, queue, spool=None):
        d = os.path.join(spool or self.spool, queue)
        return sorted(n for n in os.listdir(d) if ID_RE.match(n))

    def entry(self, queue, eid, spool=None):
        with open(os.path.join(spool or self.spool, queue, eid), "rb") as f:
            return parse_entry(f.read())

    def plant(self, queue, data, eid=None, spool=None):
        """Write DATA as entry EID (a fresh id by default) of QUEUE as root writes one
        (tmp/, then rename); returns the id."""
        eid = eid or "%d.%06d.%d.%s" % (int(time.time()), random.randrange(10 ** 6),
                                        os.getpid(), secrets.token_hex(8))
        tmp = os.path.join(spool or self.spool, "tmp", eid)
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o640)
        os.rename(tmp, os.path.join(spool or self.spool, queue, eid))
        return eid

    def spool_markers(self, spool=None):
        """Markers of every loadable entry in maildrop/ (submissions), new/ and deferred/."""
        out = {}
        for q in ("maildrop", "new", "deferred"):
            for eid in self.ids(q, spool):
                head, payload = self.entry(q, eid, spool)
                ev = event_fields(payload)
                m = self.marker_re().search(ev.get("subject", ""))
                if m:
                    out[m.group(0)] = (q, eid)
        return out

    def wait_due(self, bound=6.0, spool=None):
        """Wait until every deferred entry's next try has come."""
        due = 0
        for eid in self.ids("deferred", spool):
            due = max(due, int(self.entry("deferred", eid, spool)[0]["next-try"]))
        left = due - time.time()
        self.assertLess(left, bound, "next try unexpectedly far away")
        if left > -0.1:
            time.sleep(left + 0.1)  # flush compares whole seconds: due when time() >= next-try

    # -- mails ---------------------------------------------------------------
    def named(self, raws):
        """The events the messages RAWS name, in order: a mail of its own names
        its event in the subject; a digest has one line "... alert <marker> —
        message of <marker>" per event."""
        out = []
        for subject, text, _ in self.mail_markers(raws):
            out += self.marker_re().findall(subject) or \
                re.findall(r"alert (%s)\b" % self.marker_re().pattern, text)
        return out

    def mail_markers(self, raws):
        """For each message (bytes): (subject, text, [markers in the text body])."""
        out = []
        for raw in raws:
            subject, text = text_body(raw)
            out.append((subject, text, self.marker_re().findall(text)))
        return out


class ProducerCrash(FlushCase):
    """kill -9 of `notify --no-flush` at random moments: maildrop/ holds only
    complete submissions under an entry's name (qqnotify-drop writes "<id>.part"
    and renames it), and only complete events are ever mailed."""

    RUNS = 200
    FIELDS = 23  # QN_EVENT_FIELDS_MAX - 1 (the text takes the last one)

    def fields_for(self, marker):
        # ~450 bytes each, ~10 KiB in all: writing and fsync take measurable time
        return ["f%02d=%s:%02d:%s:END-%s" % (i, marker, i, "x%02d" % i * 100, marker)
                for i in range(self.FIELDS)]

    def field_args(self, marker):
        out = []
        for f in self.fields_for(marker):
            out += ["--field", f]
        return out

    def test_kill_notify_at_random_moments(self):
        srv = self.smtp_server()
        cfg = self.flush_config(srv.port)
        maildrop = os.path.join(self.spool, "maildrop")
        # How long does a whole notify take here?  Kills are spread over that.
        t = []
        for _ in range(5):
            m = self.marker()
            t0 = time.monotonic()
            p = self.spawn(["notify", "--no-flush", "--subject", "alert " + m]
                           + self.field_args(m) + ["message of " + m], cfg)
            p.communicate(timeout=20)
            t.append(time.monotonic() - t0)
            self.assertEqual(p.returncode, 0, p.stderr)
        span = max(0.003, sorted(t)[len(t) // 2] * 1.2)
        outcome = {"killed, nothing left": 0, "killed, .part file left": 0,
                   "killed, submission complete in maildrop/": 0, "finished": 0}
        finished = set()
        rnd = random.Random()
        for _ in range(self.RUNS):
            m = self.marker()
            before = set(os.listdir(maildrop))
            p = self.spawn(["notify", "--no-flush", "--subject", "alert " + m]
                           + self.field_args(m) + ["message of " + m], cfg)
            time.sleep(rnd.uniform(0, span))
            p.send_signal(signal.SIGKILL)
            p.communicate(timeout=20)
            time.sleep(0.01)  # qqnotify-drop, if it had started, finishes on its own
            added = set(os.listdir(maildrop)) - before
            if p.returncode == 0:
                finished.add(m)
                outcome["finished"] += 1
            elif any(ID_RE.match(n) for n in added):
                outcome["killed, submission complete in maildrop/"] += 1
            elif added:
                outcome["killed, .part file left"] += 1
            else:
                outcome["killed, nothing left"] += 1
        log("producer kills over 0-%.1f ms: %s", span * 1000,
            ", ".join("%s %d" % kv for kv in outcome.items()))

        # Every submission under an entry's name is complete, and every finished notify
        # is there.
        in_drop = {}
        for name in os.listdir(maildrop):
            if name.endswith(".part"):
                continue
            self.assertRegex(name, ID_RE, "a file in maildrop/ that is not a submission")
            try:
                head, payload = self.entry("maildrop", name)
            except ValueError as e:
                self.fail("maildrop/%s is not a complete submission: %s" % (name, e))
            self.assertEqual(head["origin"], "user")
            ev = event_fields(payload)
            m = self.marker_re().search(ev["subject"]).group(0)
            self.assertEqual(ev["field"].get("message"), "message of " + m)
            self.assertEqual(len(ev["field"]), self.FIELDS + 1, "fields lost in " + name)
            in_drop[m] = name
        self.assertLessEqual(finished, set(in_drop), "a notify that exited 0 lost its entry")
        lst = self.queue(cfg, "list")
        self.assertIn("%d submission(s) of local users wait in maildrop/" % len(in_drop),
                      lst.stdout, lst.dump())

        res = self.flush(cfg, expect=EX_OK)
        self.assertIn("corrupt 0", res.stderr, res.dump())
        srv.wait_messages(len(in_drop), timeout=10)
        self.assertEqual(len(srv.messages), len(in_drop), res.dump())
        delivered = set()
        for subject, text, found in self.mail_markers(m.content for m in srv.messages):
            self.assertEqual(len(set(found)), 1, "one event per mail expected:\n" + text)
            m = found[0]
            self.assertIn(m, subject)
            # the whole event: its text and every long field, in full
            self.assertIn("message of " + m, text)
            for f in self.fields_for(m):
                self.assertIn(f.split("=", 1)[1], text, "a field arrived incomplete")
            delivered.add(m)
        self.assertEqual(delivered, set(in_drop))
        self.assertEqual(self.ids("maildrop") + self.ids("new") + self.ids("deferred")
                         + self.ids("failed"), [])


STAGES = ("greeting", "ehlo", "auth", "mail", "rcpt", "data", "dot", "quit")
PER_MESSAGE = ("mail", "rcpt", "data", "dot")


class SenderCrash(FlushCase):
    """kill -9 of `flush` while the server holds the dialogue at each SMTP
    stage; events keep arriving; a last normal flush delivers everything."""

    ROUNDS = 7  # x 8 stages = 56 kills

    def test_kill_flush_at_every_smtp_stage(self):
        plan = {}  # what the fault server holds: stage, occurrence, first connection

        def hold(stage):
            def act(conn, n):
                if plan and plan["stage"] == stage and conn >= plan["conn"] \
                        and n == plan["occurrence"]:
                    return fs.delay(600)  # until we kill the client (or the server stops)
                return None
            return act

        fault = self.fault_server("implicit", {s: hold(s) for s in STAGES})
        cfg_fault = self.flush_config(fault.port, name="fault.conf", timeout=30)
        queued = []
        runs = []  # (stage, first conn, occurrence)
        rnd = random.Random()
        for _ in range(self.ROUNDS):
            for stage in STAGES:
                for _ in range(rnd.randint(1, 3)):
                    m = self.marker()
                    self.notify(cfg_fault, m)
                    queued.append(m)
                pending = len(self.ids("new")) + len(self.ids("maildrop"))
                occ = rnd.randrange(min(pending, 3)) if stage in PER_MESSAGE else 0
                plan.update(stage=stage, conn=fault.connections + 1, occurrence=occ)
                runs.append((stage, plan["conn"], occ))
                p = self.spawn(["flush"], cfg_fault)
                deadline = time.monotonic() + 15
                reached = False
                while time.monotonic() < deadline and p.poll() is None:
                    with fault._lock:
                        reached = any(c >= plan["conn"] and t.startswith(stage + ": ")
                                      for _, c, t in fault.events)
                    if reached:
                        break
                    time.sleep(0.003)
                if not reached:
                    p.kill()
                    out, err = p.communicate(timeout=10)
                    self.fail("flush never reached stage %s (occurrence %d; exit %s):\n%s\n%s"
                              % (stage, occ, p.returncode, err.decode(errors="replace"),
                                 fault.transcript()[-3000:]))
                p.send_signal(signal.SIGKILL)
                p.communicate(timeout=10)
                self.assertEqual(p.returncode, -signal.SIGKILL)
                plan.clear()
                # nothing is deferred or failed by a crash
                self.assertEqual(self.ids("deferred") + self.ids("failed"), [])

        good = self.smtp_server()
        cfg_good = self.flush_config(good.port, name="good.conf")
        for _ in range(3):  # and a few more after the last crash
            m = self.marker()
            self.notify(cfg_good, m)
            queued.append(m)
        res = self.flush(cfg_good, expect=EX_OK)
        self.assertEqual(self.ids("new") + self.ids("deferred") + self.ids("failed"), [],
                         res.dump())

        # Receipts: (marker, run index or None for the good server, acknowledged?)
        conn_run = {}
        for i, (_, first, _) in enumerate(runs):
            last = runs[i + 1][1] if i + 1 < len(runs) else fault.connections + 1
            for c in range(first, last):
                conn_run[c] = i
        receipts = {m: [] for m in queued}
        per_conn = {}
        with fault._lock:  # the held handlers never end on their own: a snapshot
            data = list(fault.data)
        for conn, raw, complete in data:
            k = per_conn.get(conn, 0)
            per_conn[conn] = k + 1
            if not complete:
                continue
            run = conn_run[conn]
            stage, _, occ = runs[run]
            acked = not (stage == "dot" and k == occ)
            for _, text, found in self.mail_markers([unstuff(raw)]):
                for m in set(found):
                    receipts.setdefault(m, []).append((run, acked))
        for _, text, found in self.mail_markers(m.content for m in good.messages):
            for m in set(found):
                receipts.setdefault(m, []).append((None, True))

        self.assertEqual(set(receipts), set(queued), "a mail named an event never queued")
        lost = [m for m in queued if not any(a for _, a in receipts[m])]
        self.assertEqual(lost, [], "events never delivered (server never said 250)")

        dups = {s: 0 for s in STAGES}
        unacked = {s: 0 for s in STAGES}
        resent = []
        for m in queued:
            r = receipts[m]
            for run, acked in r[:-1]:  # every copy but the last is one a later one repeats
                dups[runs[run][0]] += 1
                if acked:
                    resent.append((m, runs[run]))
            for run, acked in r:
                if not acked:
                    unacked[runs[run][0]] += 1
        # No kill here falls between a 250 and the entry's removal (the client
        # had sent its next command): a mail the server accepted is never sent again.
        self.assertEqual(resent, [], "accepted (250) and still sent again")
        log("sender kills: %d runs (%d per stage), %d events, %d mails from the fault server, "
            "%d in the final flush", len(runs), self.ROUNDS, len(queued),
            sum(1 for _, _, c in data if c), len(good.messages))
        log("duplicates per stage (copies a later flush sent again): %s",
            ", ".join("%s %d" % (s, dups[s]) for s in STAGES))
        log("of them received in full but killed before the 250: %s",
            ", ".join("%s %d" % (s, unacked[s]) for s in STAGES if unacked[s]) or "none")


class Outage(FlushCase):
    """Refused, silent, 421: entries wait in deferred/ with their story,
    and go out in order when the server is back."""

    # during the outage: every flush tries the server at once
    DOWN = {"max_per_minute": 20, "max_per_hour": 40, "max_per_day": 100, "digest_after": 0,
            "retry_min": "1s", "retry_max": "2s"}
    # then 12 events wait for a server that allows 5 mails a minute
    LIMITS = dict(DOWN, max_per_minute=5, digest_window="2s")

    def check_deferred(self, cfg, attempts, diag):
        """Every entry is in deferred/ with ATTEMPTS (marker -> n), a next try
        and DIAG; `queue list` and `queue show` say so."""
        self.assertEqual(self.ids("new") + self.ids("failed"), [])
        found = self.spool_markers()
        self.assertEqual(set(found), set(attempts))
        lst = self.queue(cfg, "list")
        for m, n in attempts.items():
            q, eid = found[m]
            self.assertEqual(q, "deferred")
            head, _ = self.entry(q, eid)
            self.assertEqual(int(head["attempts"]), n, "attempts of %s" % m)
            self.assertGreater(int(head["next-try"]), 0)
            self.assertEqual(head["diagnosis"], diag)
            self.assertNotEqual(head["last-error"], "")
            line = [l for l in lst.stdout.splitlines() if l.startswith(eid)]
            self.assertEqual(len(line), 1, lst.dump())
            self.assertRegex(line[0], r"\sdeferred\s+\S+ \S+\s+%d \d\d-\d\d \d\d:\d\d:\d\d " % n,
                             "queue list: attempts and next try" + lst.dump())
            after = lst.stdout.split(line[0], 1)[1].splitlines()[1]
            self.assertIn("last error: ", after, lst.dump())
            self.assertIn("diagnosis: " + diag, after, lst.dump())
        eid = found[sorted(attempts)[0]][1]
        show = self.queue(cfg, "show", eid)
        for want in ("queue:      deferred", "attempts:   %d" % attempts[sorted(attempts)[0]],
                     "next try:", "last error:", "diagnosis:  " + diag, "cause:", "fix:"):
            self.assertIn(want, show.stdout, show.dump())

    def test_refused_then_silent_then_421_then_back(self):
        order, attempts = [], {}

        def arrive(cfg, n):
            for _ in range(n):
                m = self.marker()
                self.notify(cfg, m)
                order.append(m)
                attempts[m] = 0

        def failed_once():
            for m in attempts:
                attempts[m] += 1

        # 1. connection refused
        cfg = self.flush_config(free_port(), name="refused.conf", limits=self.DOWN, timeout=2)
        arrive(cfg, 3)
        res = self.flush(cfg, expect=EX_TEMPFAIL)
        self.assertDiagnosis(res, "connect-refused")
        failed_once()
        self.check_deferred(cfg, attempts, "connect-refused")

        # 2. a listener that never answers (timeout = 2)
        silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(silent.close)
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        cfg = self.flush_config(silent.getsockname()[1], name="silent.conf", limits=self.DOWN,
                                timeout=2)
        arrive(cfg, 3)
        self.wait_due()
        res = self.flush(cfg, expect=EX_TEMPFAIL)
        self.assertLess(res.elapsed, 2 * 2 + 3, "one timeout stops the run" + res.dump())
        self.assertDiagnosis(res, "reply-timeout")
        failed_once()
        self.check_deferred(cfg, attempts, "reply-timeout")

        # 3. 421 at the greeting
        f = self.fault_server("implicit", {
            "greeting": fs.reply(421, "Service not available, closing channel", close=True)})
        cfg = self.flush_config(f.port, name="421.conf", limits=self.DOWN, timeout=2)
        arrive(cfg, 3)
        self.wait_due()
        res = self.flush(cfg, expect=EX_TEMPFAIL)
        self.assertDiagnosis(res, "service-unavailable")
        failed_once()
        self.check_deferred(cfg, attempts, "service-unavailable")
        self.assertEqual(f.auth_attempts, 0)

        # 4. the real server is back
        good = self.smtp_server()
        cfg = self.flush_config(good.port, name="good.conf", limits=self.LIMITS)
        arrive(cfg, 3)
        self.wait_due()
        res = self.flush(cfg, expect=EX_OK)
        self.assertEqual(self.ids("new") + self.ids("deferred") + self.ids("failed"), [],
                         res.dump())
        self.assertEqual(self.named(m.content for m in good.messages), order,
                         "all delivered, once each, oldest first" + res.dump())
        self.assertGreaterEqual(len(good.messages), 1)
        self.assertLessEqual(len(good.messages), self.LIMITS["max_per_minute"], res.dump())
        self.assertEqual(good.auth_successes, 1, "one session for the whole queue")


class Limits(FlushCase):
    """A burst of 200 users' notifications with max_per_hour = 5: at most 3
    mails (2 of the 5 are kept for logins and journal alerts), and the digests
    name every event exactly once; once the 3 are used up, the next one waits
    in deferred/ for the limit instead of going out."""

    N = 200
    LIMITS = {"max_per_minute": 5, "max_per_hour": 5, "max_per_day": 5, "digest_after": 3,
              "digest_window": "2s", "retry_min": "1s", "retry_max": "2s"}

    def test_burst_of_200_within_max_per_hour_5(self):
        good = self.smtp_server()
        cfg = self.flush_config(good.port, limits=self.LIMITS)
        queued = []
        flushes = []
        for i in range(self.N):
            m = self.marker()
            self.notify(cfg, m)
            queued.append(m)
            # The sender runs while the burst goes on, twice: users' notifications
            # have 5 - 2 mails in the hour (lanes.h), and each of these runs may
            # spend one on a digest; the third takes whatever is left.
            if i % 100 == 99:
                flushes.append(self.flush(cfg))
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline:
            flushes.append(self.flush(cfg))
            if not self.ids("new") + self.ids("deferred"):
                break
            time.sleep(0.5)
        for r in flushes:
            self.assertIn(r.rc, (EX_OK, EX_TEMPFAIL), r.dump())
        self.assertLessEqual(len(good.messages), 3, "max_per_hour = 5, 2 of them reserved")
        self.assertEqual(self.ids("new") + self.ids("deferred") + self.ids("failed"), [],
                         "the spool did not empty in time" + flushes[-1].dump())
        count = {m: 0 for m in queued}
        for m in self.named(m.content for m in good.messages):
            self.assertIn(m, count, "a mail names an event never queued")
            count[m] += 1
        self.assertEqual([m for m, n in count.items() if n == 0], [], "events not in any mail")
        self.assertEqual({m: n for m, n in count.items() if n > 1}, {},
                         "events named more than once")
        log("limits: %d events -> %d mail(s) in %d flush runs", self.N, len(good.messages),
            len(flushes))

        # Use up the hour one event at a time (no digests by count now): the
        # limiter's state in state/ carries over from the runs above.  Users'
        # notifications (lane 2) leave two of the 5 to logins and journal alerts
        # (lanes.h: one mail per lane above, at most half of the smallest limit).
        cfg1 = self.flush_config(good.port, name="single.conf",
                                 limits=dict(self.LIMITS, digest_after=0))
        held = None
        for _ in range(6):
            m = self.marker()
            self.notify(cfg1, m)
            before = len(good.messages)
            res = self.flush(cfg1)
            self.assertIn(res.rc, (EX_OK, EX_TEMPFAIL), res.dump())
            if len(good.messages) == before:
                held = m
                break
            self.assertEqual(self.named(m.content for m in good.messages[before:]), [m])
        self.assertIsNotNone(held, "a fourth user mail went out within the hour")
        self.assertEqual(len(good.messages), 3, "the user lane may use 5 - 2, not fewer")
        (eid,) = self.ids("deferred")
        self.assertEqual(self.ids("new") + self.ids("failed"), [])
        head, _ = self.entry("deferred", eid)
        self.assertIn("waiting for the sending limits", head["last-error"], res.dump())
        self.assertGreater(int(head["next-try"]), time.time(), "held, not due")
        lst = self.queue(cfg1, "list")
        self.assertIn("waiting for the sending limits", lst.stdout, lst.dump())
        # The reserve is there for a login: a system alert still goes out at once.
        login = self.marker()
        self.plant("new", event_entry(login, lane=0))
        res = self.flush(cfg1)
        self.assertEqual(self.named(m.content for m in good.messages[3:]), [login], res.dump())
        self.assertEqual(len(good.messages), 4)


class FrequencyLimit(FlushCase):
    def test_550_frequency_limited_defers_and_backs_off(self):
        f = self.fault_server("implicit", {"mail": fs.reply(
            550, "Connection frequency limited. http://service.mail.qq.com/cgi-bin/help?"
                 "subtype=1&&id=20022&&no=1000722")})
        cfg = self.flush_config(f.port, provider="qq")
        markers = [self.marker() for _ in range(3)]
        for m in markers:
            self.notify(cfg, m)
        t0 = int(time.time())
        res = self.flush(cfg, expect=EX_TEMPFAIL)
        self.assertDiagnosis(res, "frequency-limited")
        self.assertEqual(self.ids("failed"), [], "a frequency limit is not permanent")
        self.assertEqual(self.ids("new"), [])
        self.assertEqual(len(self.ids("deferred")), 3)
        mails = sum(1 for c in f.commands() if c.upper().startswith("MAIL"))
        self.assertEqual(mails, 1, "stop at the first frequency reply\n" + f.transcript())
        for eid in self.ids("deferred"):
            head, _ = self.entry("deferred", eid)
            self.assertEqual(head["diagnosis"], "frequency-limited")
            self.assertGreaterEqual(int(head["next-try"]), t0 + 60,
                                    "retry only after the limiter's backoff")
        with open(os.path.join(self.spool, "state", "ratelimit")) as fh:
            state = dict(l.split(" ", 1) for l in fh.read().splitlines() if " " in l)
        self.assertGreaterEqual(int(state["backoff_s"]), 60, state)
        self.assertGreaterEqual(int(state["backoff_until"]), t0 + 60, state)
        self.assertGreater(int(state["slow_until"]), t0, state)
        lst = self.queue(cfg, "list")
        self.assertEqual(lst.stdout.count("diagnosis: frequency-limited"), 3, lst.dump())

        # Even entries moved back by hand wait for the backoff: no connection.
        self.queue(cfg, "retry", "all")
        conns = f.connections
        res = self.flush(cfg)
        self.assertIn(res.rc, (EX_OK, EX_TEMPFAIL), res.dump())
        self.assertEqual(f.connections, conns, "connected during the backoff" + res.dump())
        self.assertEqual(len(self.ids("deferred")), 3, res.dump())
        self.assertEqual(self.ids("failed"), [])


class PermanentFailure(FlushCase):
    def test_550_at_rcpt_then_show_retry_drop(self):
        f = self.fault_server("implicit", {"rcpt": fs.reply(550, "Mailbox not found")})
        cfg = self.flush_config(f.port)
        m = self.marker()
        self.notify(cfg, m)
        res = self.flush(cfg)
        self.assertDiagnosis(res, "recipient-unknown")
        self.assertEqual(res.rc, EX_UNAVAILABLE, "a failed alert must not exit 0" + res.dump())
        self.assertEqual(self.ids("new") + self.ids("deferred"), [])
        (eid,) = self.ids("failed")
        head, payload = self.entry("failed", eid)
        self.assertEqual(head["diagnosis"], "recipient-unknown")
        self.assertIn("Mailbox not found", head["last-error"])
        self.assertIn(m, event_fields(payload)["subject"], "the event itself is kept")

        show = self.queue(cfg, "show", eid)
        for want in ("queue:      failed", "diagnosis:  recipient-unknown", "cause:", "fix:",
                     "Mailbox not found", m):
            self.assertIn(want, show.stdout, show.dump())
        lst = self.queue(cfg, "list")
        self.assertIn("diagnosis: recipient-unknown", lst.stdout, lst.dump())

        self.queue(cfg, "retry", eid)
        self.assertEqual(self.ids("new"), [eid])
        self.assertEqual(self.ids("failed"), [])
        self.queue(cfg, "drop", eid)
        self.assertEqual(self.ids("new") + self.ids("deferred") + self.ids("failed"), [])
        self.assertEqual(sorted(os.listdir(os.path.join(self.spool, "failed"))), [])
        res = self.queue(cfg, "show", eid, expect=EX_DATAERR)
        self.assertIn("no entry", res.stderr)
        self.queue(cfg, "drop", eid, expect=EX_DATAERR)

    def craft_old(self, queue, age, attempts=0, last_error=""):
        """A system entry queued AGE seconds ago, planted in QUEUE as root writes one."""
        m = self.marker()
        old = int(time.time()) - age
        data = event_entry(m, queued=old, attempts=attempts, last_error=last_error)
        parse_entry(data)  # well-formed
        eid = "%d.%06d.%d.%s" % (old, random.randrange(10 ** 6), os.getpid(),
                                 secrets.token_hex(8))
        return m, self.plant(queue, data, eid)

    def test_max_age_moves_old_entries_to_failed(self):
        good = self.smtp_server()
        cfg = self.flush_config(good.port, limits={"max_age": "1h"})
        old_new, id_new = self.craft_old("new", 2 * 3600)
        old_def, id_def = self.craft_old("deferred", 3 * 3600, attempts=7,
                                         last_error="connect: connection refused")
        fresh = self.marker()
        self.notify(cfg, fresh)
        res = self.flush(cfg)
        self.assertIn("expired 2", res.stderr, res.dump())
        self.assertIn(id_new, res.stderr, "each expired entry is reported" + res.dump())
        self.assertIn(id_def, res.stderr, res.dump())
        self.assertExit(res, EX_UNAVAILABLE, "(expired alerts are not a success)")
        self.assertEqual(sorted(self.ids("failed")), sorted([id_new, id_def]))
        self.assertEqual(self.ids("new") + self.ids("deferred"), [])
        head, _ = self.entry("failed", id_def)
        self.assertIn("max_age", head["last-error"])
        self.assertIn("connection refused", head["last-error"], "the last error is kept")
        show = self.queue(cfg, "show", id_new)
        self.assertIn("max_age", show.stdout, show.dump())
        got = [f for _, _, found in self.mail_markers(m.content for m in good.messages)
               for f in found]
        self.assertEqual(set(got), {fresh}, "only the fresh event is mailed")


class Corruption(FlushCase):
    def craft_id(self):
        return "%d.%06d.%d.%s" % (int(time.time()), random.randrange(10 ** 6), os.getpid(),
                                  secrets.token_hex(8))

    def test_corrupt_entries_are_quarantined(self):
        good = self.smtp_server()
        cfg = self.flush_config(good.port)
        ok = [self.marker() for _ in range(2)]
        for m in ok:
            self.plant("new", event_entry(m))
        whole = event_entry(ok[0])
        bad_m = self.marker()
        whole_bad = whole.replace(ok[0].encode(), bad_m.encode())
        truncated, garbage, link = self.craft_id(), self.craft_id(), self.craft_id()
        with open(os.path.join(self.spool, "new", truncated), "wb") as fh:
            fh.write(whole_bad[:len(whole_bad) - 7])
        with open(os.path.join(self.spool, "new", garbage), "wb") as fh:
            fh.write(os.urandom(3000))
        outside = self.path("outside-entry")
        with open(outside, "wb") as fh:
            fh.write(whole_bad)
        os.symlink(outside, os.path.join(self.spool, "new", link))

        lst = self.queue(cfg, "list")
        self.assertEqual(lst.stdout.count("unreadable"), 3, lst.dump())
        res = self.flush(cfg)
        self.assertExit(res, EX_DATAERR, "(quarantined entries are not a success)")
        self.assertIn("corrupt 3", res.stderr, res.dump())
        self.assertEqual(self.ids("new") + self.ids("deferred"), [], res.dump())
        self.assertEqual(sorted(self.ids("failed")), sorted([truncated, garbage, link]))
        self.assertTrue(os.path.islink(os.path.join(self.spool, "failed", link)),
                        "the symlink is moved, not followed")
        with open(outside, "rb") as fh:
            self.assertEqual(fh.read(), whole_bad, "the symlink's target was changed")
        for eid in (truncated, garbage, link):
            show = self.queue(cfg, "show", eid)
            self.assertIn("unreadable", show.stdout, show.dump())
            self.assertIn("reason:     corrupt spool entry", show.stdout, show.dump())
        got = [f for _, _, found in self.mail_markers(m.content for m in good.messages)
               for f in found]
        self.assertEqual(sorted(set(got)), sorted(ok), "only complete entries are mailed")
        self.assertNotIn(bad_m, got)
        # dropping a quarantined entry takes its reason with it
        self.assertTrue(os.path.exists(os.path.join(self.spool, "failed", garbage + ".reason")))
        self.queue(cfg, "drop", garbage)
        self.assertEqual([n for n in os.listdir(os.path.join(self.spool, "failed"))
                          if n.startswith(garbage)], [])

    def test_symlinks_planted_as_tmp_and_maildrop(self):
        good = self.smtp_server()
        cfg = self.flush_config(good.port)
        m = self.marker()
        self.notify(cfg, m)
        elsewhere = self.path("elsewhere")
        os.mkdir(elsewhere)
        os.rmdir(os.path.join(self.spool, "tmp"))
        os.symlink(elsewhere, os.path.join(self.spool, "tmp"))
        res = self.flush(cfg)
        self.assertExit(res, EX_IOERR)
        self.assertIn("cannot open the spool", res.stderr, res.dump())
        self.assertIn("symbolic links", res.stderr, res.dump())
        self.assertEqual(os.listdir(elsewhere), [], "written through the planted symlink")
        self.assertEqual(good.messages, [])
        self.assertEqual(len(self.ids("maildrop")), 1, "the submission stays")
        os.unlink(os.path.join(self.spool, "tmp"))
        # A symlink where maildrop/ should be: qqnotify-drop refuses it.
        drop = os.path.join(self.spool, "maildrop")
        os.rename(drop, drop + ".real")
        os.symlink(elsewhere, drop)
        res = self.notify(cfg, self.marker(), check=False)
        self.assertExit(res, EX_CANTCREAT)
        self.assertIn("has no maildrop/ that accepts submissions", res.stderr, res.dump())
        self.assertEqual(os.listdir(elsewhere), [], "written through the planted symlink")
        os.unlink(drop)
        os.rename(drop + ".real", drop)
        res = self.flush(cfg, expect=EX_OK)
        self.assertEqual(len(good.messages), 1, res.dump())

    def test_unsafe_spool_is_refused(self):
        needs_root("chown to another user")
        good = self.smtp_server()
        cfg = self.flush_config(good.port)
        m = self.marker()
        self.notify(cfg, m)
        for how in ("owner nobody", "mode 0777", "queue writable by its group"):
            if how == "owner nobody":
                os.chown(self.spool, 65534, -1)
            elif how == "mode 0777":
                os.chown(self.spool, 0, -1)
                os.chmod(self.spool, 0o777)
            else:
                os.chown(self.spool, self.owners.uid, -1)
                os.chmod(self.spool, 0o711)
                os.chmod(os.path.join(self.spool, "new"), 0o2770)
            res = self.flush(cfg)
            self.assertExit(res, EX_CONFIG, how)
            self.assertIn("refusing to use the spool", res.stderr, res.dump())
            self.assertIn("qqnotify queue init", res.stderr, res.dump())
            self.assertEqual(good.messages, [], how)
            self.assertEqual(len(self.ids("maildrop")), 1, how)
        # queue init names the exact fix, and refuses to change anything itself.
        init = self.run_qn(["queue", "init"], config=cfg, timeout=30)
        self.assertExit(init, EX_CONFIG)
        new = os.path.join(self.spool, "new")
        self.assertIn("fix: chown %s:%s %s && chmod 2700 %s" % (self.owners.user, self.owners.user,
                                                               new, new), init.stdout, init.dump())
        os.chmod(new, 0o2700)
        self.flush(cfg, expect=EX_OK)
        self.assertEqual(len(good.messages), 1)

    def test_full_disk(self):
        mnt = self.path("small")
        os.mkdir(mnt)
        # qqnotify-drop leaves 32 MiB free (qqnotify-drop(8)): 64 KiB more fill up.
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32832k,mode=0711", "tmpfs",
                            mnt], capture_output=True, timeout=30)
        preexec = None
        if r.returncode == 0:
            self.addCleanup(lambda: subprocess.run(["umount", "-l", mnt], timeout=30))
            spool = self.make_spool(os.path.join(mnt, "spool"))
            how = "tmpfs of 32 MiB + 64 KiB"
        else:
            # No mount here: a file size limit makes writes fail (EFBIG) instead;
            # small entries fit under it, the big ones (~11 KiB) do not.
            def preexec():
                import resource
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (8192, 8192))
            spool = self.make_spool(self.path("spool-fsize"))
            how = "RLIMIT_FSIZE (mount failed: %s)" % r.stderr.decode(errors="replace").strip()
        log("full disk: %s", how)
        good = self.smtp_server()
        cfg_good = self.flush_config(good.port, name="good.conf", spool=spool)
        cfg_down = self.flush_config(free_port(), name="down.conf", spool=spool)
        big = []
        for i in range(20):
            big += ["--field", "f%02d=%s" % (i, "y" * 500)]
        queued, failure = [], None
        for _ in range(100):
            m = self.marker()
            if preexec is None:
                res = self.notify(cfg_good, m, extra=big, check=False)
            else:
                p = self.spawn(["notify", "--no-flush", "--subject", "alert " + m]
                               + (big if len(queued) >= 3 else []) + ["message of " + m],
                               cfg_good, preexec_fn=preexec)
                out, err = p.communicate(timeout=20)
                res = type("R", (), {"rc": p.returncode, "stderr": err.decode(),
                                     "dump": lambda self=None: err.decode()})()
            if res.rc == EX_OK:
                queued.append(m)
                continue
            failure = res
            break
        self.assertIsNotNone(failure, "the disk never filled up")
        self.assertEqual(failure.rc, EX_TEMPFAIL, failure.dump())  # like sendmail: retry later
        self.assertRegex(failure.stderr, r"No space left on device|File too large",
                         failure.dump())
        if preexec is None:
            self.assertIn("fix: free disk space", failure.stderr, failure.dump())
        self.assertGreater(len(queued), 0)
        self.assertEqual([n for n in os.listdir(os.path.join(spool, "maildrop"))
                          if not ID_RE.match(n)], [],
                         "the failed write left its temporary file")
        self.assertEqual(set(self.spool_markers(spool)), set(queued), "spooled entries stay")

        # The sender with a full disk and the server down: no crash, nothing lost.
        res = self.flush(cfg_down)
        self.assertIn(res.rc, (EX_TEMPFAIL, EX_IOERR), res.dump())
        self.assertEqual(set(self.spool_markers(spool)), set(queued), res.dump())
        # qqnotify-drop left room for the sender to copy each submission into new/.
        self.assertIn("picked up %d submission(s)" % len(queued), res.stderr, res.dump())
        self.assertNotIn("nothing to send", res.stderr, res.dump())
        # Server back: everything goes out, and space comes back.
        self.wait_due(spool=spool)
        res = self.flush(cfg_good, expect=EX_OK)
        got = [f for _, _, found in self.mail_markers(m.content for m in good.messages)
               for f in found]
        self.assertEqual(sorted(set(got)), sorted(queued), res.dump())
        self.assertEqual(self.ids("new", spool) + self.ids("deferred", spool)
                         + self.ids("failed", spool), [])
        self.notify(cfg_good, self.marker())


class SharedLimits(FlushCase):
    """`qqnotify send` counts its mails in the spool's state/ratelimit, the
    state flush keeps: one account, one quota, whoever sends."""

    def sent_times(self, spool=None):
        with open(os.path.join(spool or self.spool, "state", "ratelimit")) as fh:
            return [l for l in fh.read().splitlines() if l.startswith("sent ")]

    def send(self, cfg, subject, extra=()):
        return self.run_qn(["send", "--subject", subject] + list(extra), stdin="body\n",
                           config=cfg, timeout=30)

    def test_spent_quota_stops_send_until_forced_and_holds_flush(self):
        good = self.smtp_server()
        cfg = self.flush_config(good.port, limits={"max_per_minute": 2})
        for i in range(2):
            self.assertExit(self.send(cfg, "s%d" % i), EX_OK)
        self.assertEqual(len(self.sent_times()), 2)

        res = self.send(cfg, "third")
        self.assertExit(res, EX_TEMPFAIL)
        self.assertEqual(len(good.messages), 2, "nothing sent when the quota is spent")
        self.assertIn("max_per_minute = 2 in [limits] of %s is used up" % cfg, res.stderr,
                      res.dump())
        self.assertRegex(res.stderr, r"the next mail may go at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d",
                         res.dump())
        self.assertIn("--force", res.stderr, res.dump())

        res = self.send(cfg, "forced", extra=["--force"])
        self.assertExit(res, EX_OK)
        self.assertEqual(len(good.messages), 3)
        self.assertEqual(len(self.sent_times()), 3, "a forced mail counts too")

        # flush sees the mails send made: its event waits for the limits.
        m = self.marker()
        self.notify(cfg, m)
        res = self.flush(cfg, expect=EX_OK)
        self.assertEqual(len(good.messages), 3, res.dump())
        (eid,) = self.ids("deferred")
        head, _ = self.entry("deferred", eid)
        self.assertIn("waiting for the sending limits", head["last-error"])
        self.assertEqual(head["attempts"], "0")

    def test_send_without_a_usable_spool_sends_and_says_so(self):
        good = self.smtp_server()
        missing = self.path("no-such-spool")
        cfg = self.flush_config(good.port, spool=missing, limits={"max_per_minute": 1})
        for i in range(2):  # unchecked: the limit of 1 is not known
            res = self.send(cfg, "s%d" % i)
            self.assertExit(res, EX_OK)
            lines = [l for l in res.stderr.splitlines() if "not counted" in l]
            self.assertEqual(len(lines), 1, res.dump())
            self.assertIn("cannot open the spool %s: No such file or directory" % missing,
                          lines[0], res.dump())
        self.assertEqual(len(good.messages), 2)
        self.assertFalse(os.path.exists(missing))

    def test_concurrent_send_and_flush_lose_no_count(self):
        good = self.smtp_server()
        cfg = self.flush_config(good.port)
        n_events, n_sends = 6, 6
        for _ in range(n_events):
            self.notify(cfg, self.marker())
        procs = [self.spawn(["flush"], cfg)]
        procs += [self.spawn(["send", "--subject", "s%d" % i], cfg) for i in range(n_sends)]
        for p in procs:
            out, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, EX_OK, err.decode(errors="replace"))
        self.assertEqual(self.ids("new") + self.ids("deferred"), [])
        self.assertEqual(len(good.messages), n_events + n_sends)
        self.assertEqual(len(self.sent_times()), n_events + n_sends,
                         "every mail counted once in the shared state")


class InvisibleCharacters(FlushCase):
    """Unicode format characters (category Cf) and bidi controls in what a user gives are
    shown as <U+XXXX> in the mail: "ro\u200bot" never passes for "root".  (The submitter
    here is root, named by the sender as "from user root": that is the one "root" allowed.)"""

    def test_zero_width_and_bidi_characters_are_shown_in_subject_body_and_html(self):
        good = self.smtp_server()
        cfg = self.flush_config(good.port)
        res = self.run_qn(["notify", "--no-flush", "--kind", "backup", "--subject",
                           "ro\u200bot did it", "--field", "user=ro\u200bot",
                           "--field", "file=\u202etxt.exe", "ro\ufeffot was here"],
                          config=cfg, timeout=20)
        self.assertExit(res, EX_OK, "(notify)")
        self.flush(cfg, expect=EX_OK)
        self.assertEqual(len(good.messages), 1)
        msg = BytesParser(policy=policy.default).parsebytes(good.messages[0].content)
        subject = str(msg["Subject"])
        text = msg.get_body(preferencelist=("plain",)).get_content()
        html = msg.get_body(preferencelist=("html",)).get_content()
        for where, got in (("subject", subject), ("text", text), ("html", html)):
            for ch in ("\u200b", "\u202e", "\ufeff"):
                self.assertNotIn(ch, got, "%r in the %s" % (ch, where))
            self.assertNotIn("root", got.replace("from user root", ""), where)
        self.assertIn("ro<U+200B>ot did it", subject)
        self.assertIn("ro<U+200B>ot", text)
        self.assertIn("<U+202E>txt.exe", text)
        self.assertIn("ro<U+FEFF>ot was here", text)
        self.assertIn("ro&lt;U+200B&gt;ot", html)
        self.assertIn("&lt;U+202E&gt;txt.exe", html)


if __name__ == "__main__":
    unittest.main()
