"""Trust boundaries of the spool, attacked as the local users qqnotify watches.

Every test makes real users (useradd, removed at the end of the run) and runs
the attacker's commands with their ids only (setpriv --reuid --regid
--clear-groups); root plays the trusted side: the PAM module's login entry
(written into new/ as the module writes it), root's `qqnotify flush` (which
becomes the throw-away spool user), the local TLS server.  The findings
reproduced here: a member of the spool's group removing a root
login alert, `notify --kind login` forging one, a state file stalling every
alert while `flush --quiet` stays silent, a flood of submissions burying a
login, entries far over max_entry_size blowing up the sender's memory, and
`sendmail -C` handing the attacker's configuration to the sender.
"""

import os
import re
import secrets
import shutil
import subprocess
import time
import unittest
from email import policy
from email.parser import BytesParser

from harness import EX_OK, QNTestCase, SpoolOwners, build_dir, needs_root, run_bounded

EX_UNAVAILABLE = 69
EX_CANTCREAT = 73
EX_NOPERM = 77
ID_RE = re.compile(r"^[1-9][0-9]{0,19}\.[0-9]{6}\.[1-9][0-9]{0,9}\.[0-9a-f]{16}$")


def login_entry(user="root", rhost="10.0.0.5", queued=None):
    """A login event as pam_qqnotify writes it (enqueue.h version 2, a system entry of the
    login lane)."""
    queued = int(time.time()) if queued is None else queued
    payload = ("kind login\ntime %d\nhost web1\nfield service sshd\nfield user %s\n"
               "field rhost %s\nfield ip %s\n" % (queued, user, rhost, rhost)).encode()
    head = ("qqnotify-spool 2\ntype event\norigin system\nuid 0\nlane 0\nqueued %d\n"
            "attempts 0\nnext-try 0\nlast-error \ndiagnosis \nsize %d\nend\n"
            % (queued, len(payload))).encode()
    return head + payload


def parse(raw):
    return BytesParser(policy=policy.default).parsebytes(raw)


class TrustCase(QNTestCase):
    """A spool made by `qqnotify queue init`, a server, and an attacker: a local user who
    belongs to no group of ours (and, where said, one who belongs to every one)."""

    def setUp(self):
        super().setUp()
        needs_root("making users and dropping privileges")
        self.spool = self.make_spool()
        self.srv = self.smtp_server()
        self.cfg = self.config()
        self.owners = SpoolOwners.get()
        self.mallory = self.owners.add_user("qnt-mallory-")

    def config(self, name="qqnotify.conf", host="127.0.0.1", port=None, extra_smtp=None,
               **limits):
        lim = {"max_per_minute": 0, "max_per_hour": 0, "max_per_day": 0}
        lim.update(limits)
        p = self.write_config(port=port or self.srv.port, host=host, name=name,
                              extra_smtp=extra_smtp)
        with open(p, "a", encoding="utf-8") as f:
            f.write("\n%s\n[limits]\n%s" % (self.spool_section(self.spool), "".join(
                "%s = %s\n" % kv for kv in lim.items())))
        return p

    def as_mallory(self, args, stdin=b"", config=None, timeout=60, groups=None):
        """qqnotify ARGS as mallory (no group but her own, or GROUPS)."""
        name, uid, gid = self.mallory
        prefix = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid]
        prefix += ["--groups=" + ",".join(str(g) for g in groups)] if groups else \
            ["--clear-groups"]
        return self.run_qn(args, stdin=stdin, config=config or self.cfg, creds=False,
                           timeout=timeout, prefix=prefix)

    def sh_as_mallory(self, script, groups=None):
        """A shell command as mallory: (exit status, output)."""
        name, uid, gid = self.mallory
        argv = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid]
        argv += ["--groups=" + ",".join(str(g) for g in groups)] if groups else ["--clear-groups"]
        p = subprocess.run(argv + ["sh", "-c", script], capture_output=True, timeout=60,
                           cwd="/", env={"PATH": "/usr/bin:/bin"})
        return p.returncode, (p.stdout + p.stderr).decode(errors="replace")

    def plant_login(self, **kw):
        """The PAM module's entry for a root login, written into new/ as root."""
        eid = "%d.%06d.%d.%s" % (int(time.time()), 0, os.getpid(), secrets.token_hex(8))
        tmp = os.path.join(self.spool, "tmp", eid)
        with open(tmp, "wb") as f:
            f.write(login_entry(**kw))
        os.chmod(tmp, 0o640)
        os.rename(tmp, os.path.join(self.spool, "new", eid))
        return eid

    def flush(self, *args, config=None):
        return self.run_qn(["flush"] + list(args), config=config or self.cfg, timeout=120)

    def ids(self, queue):
        return sorted(n for n in os.listdir(os.path.join(self.spool, queue)) if ID_RE.match(n))

    def mails(self):
        return [parse(m.content) for m in self.srv.messages]


class GroupMemberCannotTouchTheQueue(TrustCase):
    """Finding 3: a member of the spool's group (the README used to hand that group to
    whoever wanted `notify`) could `rm` a root login alert from new/."""

    def test_a_member_of_every_group_can_neither_list_read_move_nor_remove_an_alert(self):
        eid = self.plant_login()
        groups = [self.owners.gid, self.owners.drop_gid]
        new = os.path.join(self.spool, "new")
        for what, script in (
                ("remove", "rm -f %s/%s" % (new, eid)),
                ("list", "ls %s" % new),
                ("read", "cat %s/%s" % (new, eid)),
                ("move", "mv %s/%s %s/x" % (new, eid, new)),
                ("list maildrop/", "ls %s/maildrop" % self.spool),
                ("write state/", "echo 'ratelimit 1' > %s/state/ratelimit" % self.spool),
                ("read state/", "cat %s/state/lanes" % self.spool)):
            rc, out = self.sh_as_mallory(script, groups=groups)
            self.assertNotEqual(rc, 0, "mallory could %s: %s" % (what, out))
            self.assertIn("Permission denied", out, what)
        # Nor through qqnotify: the commands that read the queue are root's and the sender's.
        for args in (["queue", "list"], ["queue", "drop", eid], ["flush"]):
            res = self.as_mallory(args, groups=groups)
            self.assertExit(res, EX_NOPERM, " ".join(args))
            self.assertIn("only root and the spool's user (%s) may read the queue"
                          % self.owners.user, res.stderr, res.dump())
        self.assertEqual(self.ids("new"), [eid], "the alert is still there")
        res = self.flush()
        self.assertExit(res, EX_OK)
        self.assertEqual(len(self.srv.messages), 1)
        self.assertEqual(str(self.mails()[0]["Subject"]),
                         "[web1] [critical] root logged in via ssh from 10.0.0.5")


class NoForgedSystemAlerts(TrustCase):
    """Finding 3: `qqnotify notify --kind login --field user=root ...` made a mail
    identical to a real login alert."""

    def test_a_forged_login_says_which_user_sent_it(self):
        name = self.mallory[0]
        res = self.as_mallory(["notify", "--kind", "login", "--field", "user=root", "--field",
                               "rhost=10.0.0.5", "--field", "service=sshd", "--subject",
                               "root logged in via ssh from 10.0.0.5"])
        self.assertExit(res, EX_OK)
        self.plant_login()  # the real one, from the PAM module
        res = self.flush()
        self.assertExit(res, EX_OK)
        self.srv.wait_messages(2, 10)
        real, forged = self.mails()  # the login lane goes first
        self.assertEqual(str(real["Subject"]),
                         "[web1] [critical] root logged in via ssh from 10.0.0.5")
        self.assertNotIn("from user", str(real["From"]))
        self.assertRegex(str(forged["Subject"]),
                         r"^\[\S+\] \[info\] from user %s: root logged in via ssh" % re.escape(name))
        self.assertEqual(forged["From"].addresses[0].display_name, "from user %s" % name)
        text = forged.get_body(preferencelist=("plain",)).get_content()
        self.assertNotIn("root logged in to", text, "the login sentence must not be rendered")
        self.assertIn("kind: login", text, "the claimed kind is only a field")

    def test_a_forged_mail_through_sendmail_says_which_user_sent_it(self):
        name = self.mallory[0]
        msg = (b"From: root@web1 (Cron Daemon)\nSender: pam@web1\nTo: root\n"
               b"Subject: [web1] root logged in via ssh from 10.0.0.5\n\nroot logged in\n")
        res = self.as_mallory(["sendmail", "-t", "-i", "-F", "PAM alerts"], stdin=msg)
        self.assertExit(res, EX_OK)
        res = self.flush()
        self.assertExit(res, EX_OK)
        self.srv.wait_messages(1, 10)
        (m,) = self.mails()
        self.assertEqual(m["From"].addresses[0].display_name, "from user %s" % name)
        self.assertEqual(str(m["Subject"]),
                         "from user %s: [web1] root logged in via ssh from 10.0.0.5" % name)
        self.assertIsNone(m["Sender"])

    def test_a_user_cannot_queue_a_system_entry_through_the_drop_program(self):
        """qqnotify-drop itself, fed a system entry by hand: refused; and the pickup would
        not believe it either (test_pickup)."""
        name, uid, gid = self.mallory
        p = subprocess.run(["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups",
                            self.owners.drop, self.spool], input=login_entry(),
                           capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 65, p.stderr)
        self.assertIn(b"its origin must be user", p.stderr)
        self.assertEqual(os.listdir(os.path.join(self.spool, "maildrop")), [])

    def test_a_maildrop_of_the_users_own_is_refused(self):
        """Pointing qqnotify-drop at a directory mallory made gains her nothing."""
        name, uid, gid = self.mallory
        fake = self.path("fake-spool")
        os.makedirs(os.path.join(fake, "maildrop"))
        os.chown(fake, uid, gid)
        os.chown(os.path.join(fake, "maildrop"), uid, gid)
        os.chmod(fake, 0o711)
        os.chmod(os.path.join(fake, "maildrop"), 0o1730)
        res = self.as_mallory(["notify", "x"], config=self.write(
            "fake.conf", "[smtp]\nuser = a@example.com\n[spool]\ndir = %s\n" % fake))
        self.assertExit(res, EX_CANTCREAT)
        self.assertEqual(os.listdir(os.path.join(fake, "maildrop")), [])


class NoStall(TrustCase):
    """Finding 3: `backoff_until 253402300799` in state/ratelimit held every alert until
    the year 9999 while `flush --quiet` exited 0 and said nothing."""

    def test_a_backoff_in_the_year_9999_holds_an_hour_at_most_and_is_told(self):
        # mallory cannot write the state at all any more ...
        rc, out = self.sh_as_mallory("echo x > %s/state/ratelimit" % self.spool,
                                     groups=[self.owners.gid, self.owners.drop_gid])
        self.assertNotEqual(rc, 0, out)
        # ... and what the spool's user (or a restored backup) could write is clamped.
        with open(os.path.join(self.spool, "state", "ratelimit"), "w") as f:
            f.write("ratelimit 1\nbackoff_until 253402300799\nbackoff_s 3600\n"
                    "slow_until 253402300799\n")
        cfg = self.config(name="limits.conf", max_per_minute=5, max_age="1h")
        eid = self.plant_login(queued=int(time.time()) - 40 * 60)  # older than max_age / 2
        t0 = time.time()
        res = self.flush("--quiet", config=cfg)
        self.assertEqual(self.srv.messages, [])
        self.assertExit(res, EX_UNAVAILABLE, "(an alert older than max_age / 2 still waits)")
        lines = [l for l in res.stderr.splitlines() if l.strip()]
        self.assertTrue(any("held back 1" in l for l in lines), res.dump())
        self.assertTrue(any("still wait in the spool" in l and "half of max_age" in l
                            for l in lines), res.dump())
        self.assertEqual(self.ids("deferred"), [eid])
        with open(os.path.join(self.spool, "deferred", eid), "rb") as f:
            next_try = int(re.search(rb"\nnext-try (\d+)\n", f.read()).group(1))
        self.assertLessEqual(next_try, t0 + 3600 + 5, "held until the year 9999")


class FloodsAreCapped(TrustCase):
    """Finding 2, for local users: a flood of submissions cannot delay a root login past
    the next pass, nor fold it into a digest; past [limits] user_max the flood is one
    summary."""

    N = 300

    def test_a_flood_of_notifications_is_capped_and_the_login_goes_first(self):
        name, uid, gid = self.mallory
        entry = None
        # Submissions as `notify` makes them, through the drop program straight away.
        for i in range(self.N):
            res = self.as_mallory(["notify", "--no-flush", "--subject", "flood %d" % i,
                                   "--kind", "login", "--field", "user=root"])
            self.assertExit(res, EX_OK)
        self.assertEqual(self.ids("new"), [])
        eid = self.plant_login()
        cfg = self.config(name="caps.conf", user_max=20, digest_after=3, digest_window="10m",
                          cap_window="10m")
        res = self.flush(config=cfg)
        self.assertExit(res, EX_OK)
        self.assertIn("picked up 20 submission(s)", res.stderr, res.dump())
        self.assertIn("%d submission(s) of local users were over their cap" % (self.N - 20),
                      res.stderr, res.dump())
        self.assertEqual(self.ids("maildrop"), [])
        mails = self.mails()
        self.assertGreaterEqual(len(mails), 1)
        self.assertEqual(str(mails[0]["Subject"]),
                         "[web1] [critical] root logged in via ssh from 10.0.0.5",
                         "the login is the first mail, alone")
        self.assertEqual(len(mails), 1, "the flood waits as one burst: no mail of it yet")
        # Its 20 entries wait in deferred/ for the end of the burst; the rest is counted.
        self.assertEqual(len(self.ids("deferred")), 20)
        with open(os.path.join(self.spool, "state", "lanes")) as f:
            self.assertIn("key 2 ", f.read())


class MemoryStaysBounded(TrustCase):
    """Finding 6: flush loaded entries up to 16 MiB whatever max_entry_size said, 200
    per pass (40 planted entries: 664 MB)."""

    def assertPeakUnder32MB(self, peak_kib):
        with open(self.bin, "rb") as f:
            sanitized = b"__asan_init" in f.read()
        if not sanitized:  # ASan keeps freed memory in quarantine (256 MB): no bound there
            self.assertLess(peak_kib, 32 * 1024, "the sender's peak RSS (KiB): %d" % peak_kib)

    def peak_rss_kib(self, args):
        """Run qqnotify ARGS as root under GNU time: (exit status, stderr, its peak RSS in
        KiB).  time(1) forks it itself: this process's memory is not counted in."""
        out = self.path("rss")
        r = run_bounded(["/usr/bin/time", "-f", "%M", "-o", out, self.bin, "-c", self.cfg,
                         "--lang", "en"] + list(args), b"",
                        {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                         "QQNOTIFY_DROP": self.owners.drop,
                         "CREDENTIALS_DIRECTORY": self.creds_dir or self.write_secret()},
                        self.tmp, 300)
        with open(out) as f:
            return r.rc, r.stderr, int(f.read().split()[-1])

    def test_forty_submissions_of_16_mib_cost_the_sender_no_memory(self):
        name, uid, gid = self.mallory
        big = b"x" * (16 * 1024 * 1024 - 400)
        sub = ("qqnotify-spool 2\ntype message\norigin user\nuid %d\nlane 2\nqueued 1\n"
               "attempts 0\nnext-try 0\nlast-error \ndiagnosis \nsender \nrcpt a@example.com\n"
               "size %d\nend\n" % (uid, len(big))).encode() + big
        for _ in range(40):
            p = subprocess.run(["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid,
                                "--clear-groups", self.owners.drop, self.spool], input=sub,
                               capture_output=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(self.ids("maildrop")), 40)
        self.plant_login()
        rc, err, peak_kib = self.peak_rss_kib(["flush"])
        self.assertEqual(rc, EX_OK, err)
        # 20 refused (user_max, the default, of them are looked at), the rest counted.
        self.assertEqual(err.count("refused: larger than [spool] max_entry_size"), 20, err)
        self.assertIn("20 submission(s) of local users were over their cap", err)
        self.assertEqual(self.ids("maildrop"), [])
        self.assertEqual(len(self.srv.messages), 1)  # the login
        self.assertPeakUnder32MB(peak_kib)
        print("    [test_trust] flush over 40 submissions of 16 MiB: peak RSS %d KiB" % peak_kib)


    def test_forty_entries_of_16_mib_allowed_by_max_entry_size_stay_under_32_mb(self):
        # The administrator allows the largest entries: each is loaded for its turn only
        # (deferred here: the server is down), and given back when done.
        body = b"x" * 76 + b"\r\n"
        msg = b"Subject: big\r\n\r\n" + body * ((16 * 1024 * 1024 - 400) // len(body))
        data = ("qqnotify-spool 2\ntype message\norigin system\nuid 0\nlane 2\nqueued %d\n"
                "attempts 0\nnext-try 0\nlast-error \ndiagnosis \nsender \n"
                "rcpt a@example.com\nsize %d\nend\n" % (int(time.time()), len(msg))).encode() + msg
        for i in range(40):
            eid = "%d.%06d.%d.%s" % (int(time.time()), i, os.getpid(), secrets.token_hex(8))
            with open(os.path.join(self.spool, "tmp", eid), "wb") as f:
                f.write(data)
            os.rename(os.path.join(self.spool, "tmp", eid), os.path.join(self.spool, "new", eid))
        self.cfg = self.config(name="big.conf", port=1)
        with open(self.cfg, encoding="utf-8") as f:
            text = f.read().replace("\n[limits]\n", "max_entry_size = 16M\n[limits]\n", 1)
        with open(self.cfg, "w", encoding="utf-8") as f:
            f.write(text)
        rc, err, peak_kib = self.peak_rss_kib(["flush"])
        self.assertEqual(rc, 75, err)  # connection refused: every entry deferred
        self.assertEqual(len(self.ids("deferred")), 40, err)
        self.assertPeakUnder32MB(peak_kib)
        print("    [test_trust] flush over 40 entries of 16 MiB, server down: peak RSS %d KiB"
              % peak_kib)


class FillingTheDiskLeavesRoomForAlerts(TrustCase):
    """Every local user may now submit: what she writes through the drop program must
    leave the PAM module, the journal watcher and the sender room on the spool's file
    system (qqnotify-drop(8): its own size twice, and 32 MiB)."""

    def test_the_drop_program_keeps_32_mib_free(self):
        name, uid, gid = self.mallory
        # The free space is what build/tests/statvfsstub.so says (no mount, no full disk):
        # preloaded into a copy of the program without its set-group-ID bit, run with the
        # drop group as real and effective group, as the installed one runs.
        built = os.path.join(build_dir(), "tests", "statvfsstub.so")
        self.assertTrue(os.path.exists(built), "%s: run `make tests`" % built)
        # A copy she can read: the tree may be under a directory only root enters (/root).
        stub = self.path("statvfsstub.so")
        shutil.copyfile(built, stub)
        os.chmod(stub, 0o644)
        plain = self.path("qqnotify-drop-plain")
        shutil.copyfile(self.owners.drop, plain)
        os.chmod(plain, 0o755)
        half = b"y" * (512 * 1024)
        sub = ("qqnotify-spool 2\ntype message\norigin user\nuid %d\nlane 2\nqueued 1\n"
               "attempts 0\nnext-try 0\nlast-error \ndiagnosis \nsender \nrcpt a@example.com\n"
               "size %d\nend\n" % (uid, len(half))).encode() + half
        need = 2 * len(sub) + 32 * 1024 * 1024

        def drop(free):
            return subprocess.run(
                ["setpriv", "--reuid=%d" % uid, "--regid=%d" % self.owners.drop_gid,
                 "--clear-groups", "env", "LD_PRELOAD=" + stub, "QN_TEST_FREE=%d" % free,
                 plain, self.spool], input=sub, capture_output=True, timeout=60)

        for free in (need - 1, 33 * 1024 * 1024, 0):
            p = drop(free)
            self.assertEqual(p.returncode, 75, "EX_TEMPFAIL with %d bytes free: %r"
                             % (free, p.stderr))
            self.assertIn(b"not enough free space in the spool's file system", p.stderr)
        self.assertEqual(self.ids("maildrop"), [])
        block = os.statvfs(self.spool).f_frsize  # the stub counts whole blocks
        p = drop((need + block - 1) // block * block)
        self.assertEqual(p.returncode, 0, p.stderr)
        (sid,) = self.ids("maildrop")
        st = os.stat(os.path.join(self.spool, "maildrop", sid))
        self.assertEqual((st.st_uid, st.st_gid), (uid, self.owners.drop_gid))
        # Her submission is taken like any other; the login alert goes first.
        self.plant_login()
        res = self.flush()
        self.assertExit(res, EX_OK)
        self.assertEqual(self.ids("maildrop"), [])
        self.assertEqual(len(self.srv.messages), 2)


class NoConfigOfTheCallersReachesTheSender(TrustCase):
    """Finding 7: `sendmail -C FILE` from any caller handed FILE (its server, its
    credential_helper) to the detached flush: a member of the group could have every
    alert mailed to a server of hers, and gone from the spool."""

    def test_sendmail_C_starts_nothing_and_reaches_nothing(self):
        name, uid, gid = self.mallory
        eid = self.plant_login()
        evil_srv = self.smtp_server(user="mallory@example.com")
        marker = self.path("helper-ran")
        helper = self.write("helper.sh", "#!/bin/sh\nid -u > %s\necho password=x\n" % marker,
                            mode=0o755)
        evil = self.config(name="evil.conf", port=evil_srv.port,
                           extra_smtp={"credential_helper": helper})
        os.chmod(evil, 0o644)
        link = self.path("sendmail")
        os.symlink(self.bin, link)
        argv = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--groups=%d,%d" % (
            self.owners.gid, self.owners.drop_gid), link, "-C", evil, "-t", "-i"]
        r = run_bounded(argv, b"To: a@example.com\nSubject: hi\n\nhi\n",
                        {"PATH": "/usr/bin:/bin", "QQNOTIFY_DROP": self.owners.drop}, self.tmp,
                        60)
        self.assertEqual(r.rc, EX_OK, r.stderr)
        # and the sender run by hand with her configuration refuses her
        res = self.as_mallory(["flush"], config=evil, groups=[self.owners.gid,
                                                               self.owners.drop_gid])
        self.assertExit(res, EX_NOPERM)
        self.assertIn("only root and the spool's user", res.stderr, res.dump())
        time.sleep(1.0)  # a detached sender, had one been started, would have run by now
        self.assertFalse(os.path.exists(marker), "her credential_helper ran")
        self.assertEqual(evil_srv.messages, [], "her server got mail")
        self.assertEqual(self.ids("new"), [eid], "the alert is still waiting")
        self.assertEqual(len(self.ids("maildrop")), 1, "her message waits for the sender")
        res = self.flush()
        self.assertExit(res, EX_OK)
        self.srv.wait_messages(2, 10)
        self.assertEqual(len(self.srv.messages), 2)
        self.assertFalse(os.path.exists(marker))


class SubmissionsAreNoLongerTheSubmitters(TrustCase):
    """Once submitted, even her own entry is out of mallory's reach; a member of the drop
    group gains nothing either."""

    def test_her_own_submission_cannot_be_listed_read_or_removed(self):
        name, uid, gid = self.mallory
        res = self.as_mallory(["sendmail", "-v", "a@example.com"], stdin=b"Subject: x\n\nx\n")
        self.assertExit(res, EX_OK)
        sid = re.search(r"queued as (\S+)", res.stdout).group(1)
        md = os.path.join(self.spool, "maildrop")
        for script in ("ls %s" % md, "rm -f %s/%s" % (md, sid), "cat %s/%s" % (md, sid),
                       "echo y >> %s/%s" % (md, sid)):
            rc, out = self.sh_as_mallory(script)
            self.assertNotEqual(rc, 0, script + ": " + out)
        self.assertEqual(self.ids("maildrop"), [sid])

    def test_a_member_of_the_drop_group_writes_as_herself_and_cannot_remove_others(self):
        name, uid, gid = self.mallory
        md = os.path.join(self.spool, "maildrop")
        res = self.run_qn(["notify", "--no-flush", "from root"], config=self.cfg)  # root's own
        self.assertExit(res, EX_OK)
        (root_sid,) = self.ids("maildrop")
        drop = [self.owners.drop_gid]
        rc, out = self.sh_as_mallory("rm -f %s/%s" % (md, root_sid), groups=drop)
        self.assertNotEqual(rc, 0, out)  # sticky: only the owner's
        rc, out = self.sh_as_mallory("ls %s" % md, groups=drop)
        self.assertNotEqual(rc, 0, out)  # -wx: no listing
        # A file she writes there by hand is hers: picked up as from her, never as root.
        payload = b"kind login\ntime 1\nhost h\nsubject s\n"
        sub = b"qqnotify-spool 2\ntype event\norigin system\nuid 0\nlane 0\nqueued 1\n" \
              b"attempts 0\nnext-try 0\nlast-error \ndiagnosis \nsize %d\nend\n" \
              % len(payload) + payload
        hand = "1%09d.000000.1.%s" % (int(time.time()) % 10 ** 9, secrets.token_hex(8))
        with open(self.path("hand"), "wb") as f:
            f.write(sub)
        os.chmod(self.path("hand"), 0o644)
        rc, out = self.sh_as_mallory("cat %s > %s/%s" % (self.path("hand"), md, hand),
                                     groups=drop)
        self.assertEqual(rc, 0, out)
        res = self.flush()
        self.assertExit(res, EX_OK)
        self.srv.wait_messages(2, 10)
        subjects = sorted(str(m["Subject"]) for m in self.mails())
        self.assertEqual(len(subjects), 2)
        self.assertTrue(any(s.endswith("from user %s: s" % name) for s in subjects), subjects)
        self.assertTrue(any("from user root: from root" in s or s.endswith("from user root")
                            for s in subjects), subjects)


if __name__ == "__main__":
    unittest.main()
