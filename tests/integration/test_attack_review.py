"""Attacks on the privilege-separated submission (qqnotify-drop, maildrop/, the pickup,
the sender as the spool's user), made as a real local user (useradd; setpriv --reuid
--regid --clear-groups) and, where said, as a compromised spool user.  Each test states
the safe behaviour; see test_trust.py for the spool, the users and the server."""

import os
import re
import subprocess
import tempfile
import time
import unittest

from harness import EX_OK, build_dir, run_bounded
from test_trust import TrustCase


def submission(uid, payload=b"kind notify\ntime 1\nhost h\nsubject s\n"):
    """A user entry as `qqnotify notify` hands it to qqnotify-drop."""
    return ("qqnotify-spool 2\ntype event\norigin user\nuid %d\nlane 2\nqueued 1\n"
            "attempts 0\nnext-try 0\nlast-error \ndiagnosis \nsize %d\nend\n"
            % (uid, len(payload))).encode() + payload


def big_submission(uid, n):
    body = b"x" * n
    return ("qqnotify-spool 2\ntype message\norigin user\nuid %d\nlane 2\nqueued 1\n"
            "attempts 0\nnext-try 0\nlast-error \ndiagnosis \nsender \nrcpt a@example.com\n"
            "size %d\nend\n" % (uid, len(body))).encode() + body


class SmallFileSystemCase(TrustCase):
    """The spool on a file system of its own (a tmpfs mounted for the test), so that
    filling it is cheap and harms nothing else."""

    def mount_tmpfs(self, **opts):
        mnt = tempfile.mkdtemp(prefix="qqnotify-fs-")
        o = ",".join("%s=%s" % kv for kv in opts.items())
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", o + ",mode=0711", "qnt", mnt],
                           capture_output=True, timeout=60)
        if p.returncode != 0:
            os.rmdir(mnt)
            self.skipTest("cannot mount a tmpfs: %s" % p.stderr.decode(errors="replace"))
        self.addCleanup(os.rmdir, mnt)
        self.addCleanup(subprocess.run, ["umount", "-l", mnt], capture_output=True, timeout=60)
        return mnt

    def drop_as_mallory(self):
        """qqnotify-drop run by mallory, its stdin a pipe to write the entry into."""
        name, uid, gid = self.mallory
        return subprocess.Popen(["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid,
                                 "--clear-groups", self.owners.drop, self.spool],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)


class InodesAreKeptForAlerts(SmallFileSystemCase):
    """qqnotify-drop keeps 32 MiB free for the PAM module and the sender, but each
    submission (and each `.part` a killed run leaves for a day) also takes an inode."""

    def setUp(self):
        super().setUp()
        mnt = self.mount_tmpfs(size="256m", nr_inodes="1500")
        self.spool = self.make_spool(os.path.join(mnt, "spool"))
        self.cfg = self.config(name="small.conf")

    def test_a_user_cannot_take_the_last_inodes_of_the_spool(self):
        name, uid, gid = self.mallory
        sub = submission(uid)
        refused = None
        for i in range(1600):  # more than the file system has inodes: bounded
            p = self.drop_as_mallory()
            out, err = p.communicate(sub, timeout=60)
            if p.returncode != 0:
                refused = (i, p.returncode, err)
                break
        self.assertIsNotNone(refused, "1600 submissions on a file system of 1500 inodes")
        self.assertGreater(refused[0], 0, "the first ones fit: %r" % (refused,))
        self.assertEqual(refused[1], 75, refused)  # EX_TEMPFAIL: try again later
        self.assertIn(b"not enough free inodes in the spool's file system", refused[2])
        self.assertEqual(len(self.ids("maildrop")), refused[0])
        self.assertGreaterEqual(os.statvfs(self.spool).f_favail, 1024)
        # The PAM module's login entry still finds an inode: written as root into tmp/.
        try:
            eid = self.plant_login()
        except OSError as e:
            self.fail("after %d submissions the login alert cannot be written: %s"
                      % (refused[0], e))
        self.assertIn(eid, self.ids("new"))
        # and the sender mails it first, then takes in the flood (capped).
        res = self.flush()
        self.assertExit(res, 0)
        self.assertEqual(str(self.mails()[0]["Subject"]),
                         "[web1] [critical] root logged in via ssh from 10.0.0.5")
        self.assertEqual(self.ids("maildrop"), [])


class TheSpaceReserveHoldsForConcurrentDrops(SmallFileSystemCase):
    """Each run looks at the free space before it writes: several at once all passed that
    look and together took the reserve (11 MiB of 32 left).  A run now looks again once its
    file is written, and takes it back when the reserve is gone."""

    def setUp(self):
        super().setUp()
        mnt = self.mount_tmpfs(size="96m")
        self.spool = self.make_spool(os.path.join(mnt, "spool"))

    def test_twelve_concurrent_drops_leave_the_reserve(self):
        name, uid, gid = self.mallory
        sub = big_submission(uid, 12 * 1024 * 1024)  # each: 2 * 12 + 32 = 56 MiB needed
        procs = [self.drop_as_mallory() for _ in range(12)]
        # Everything but EOF first, then EOF for all: the checks happen together.
        for p in procs:
            p.stdin.write(sub)
            p.stdin.flush()
        for p in procs:
            p.stdin.close()
        codes = []
        for p in procs:
            p.wait(timeout=120)
            codes.append(p.returncode)
        st = os.statvfs(self.spool)
        free = st.f_bavail * st.f_frsize
        self.assertGreaterEqual(free, 32 * 1024 * 1024,
                                "exits %s: %d MiB left" % (codes, free // (1024 * 1024)))
        # Those that find the reserve taken (all of them, when they look at once) take
        # their file back and say so: no space, try again later.
        self.assertLessEqual(set(codes), {0, 75}, codes)
        self.assertEqual(len(self.ids("maildrop")), codes.count(0))
        self.assertEqual([n for n in os.listdir(os.path.join(self.spool, "maildrop"))
                          if n.endswith(".part")], [], "a refused run leaves nothing")


class ASetUserIDCallersEnvironment(TrustCase):
    """A set-user-ID root program that runs sendmail (real uid the user's, effective uid 0)
    hands it the user's environment: QQNOTIFY_DROP, the tests' hook, must not choose a
    program for root to run."""

    def test_qqnotify_drop_is_not_taken_from_a_secure_execution_environment(self):
        name, uid, gid = self.mallory
        marker = self.path("ran")
        evil = self.write("evil-drop", "#!/usr/bin/python3\nimport os\n"
                          "open(%r, 'w').write('%%d %%d' %% (os.getuid(), os.geteuid()))\n"
                          % marker, mode=0o755)
        # `setpriv --ruid` changes the real uid only: the ids a set-user-ID root program
        # runs with, and the loader's secure mode (AT_SECURE) for what it executes.
        r = run_bounded(["setpriv", "--ruid=%d" % uid, self.bin, "-c", self.cfg, "--lang", "en",
                         "sendmail", "-t", "-i"], b"To: a@example.com\nSubject: x\n\nx\n",
                        {"PATH": "/usr/bin:/bin", "QQNOTIFY_DROP": evil}, self.tmp, 60)
        ran = open(marker).read() if os.path.exists(marker) else None
        self.assertIsNone(ran, "her program ran with real and effective uid %s" % ran)
        self.assertNotEqual(r.rc, 0, r.stderr)
        self.assertIn("cannot run the drop program /", r.stderr)
        self.assertNotIn(evil, r.stderr)


class TheDropProgramTakesNothingFromItsCaller(TrustCase):
    """What a local user controls around the set-group-ID program: the loader's
    environment, her limits, her signals and /proc."""

    def drop(self, data, prefix=(), env=None):
        name, uid, gid = self.mallory
        return subprocess.run(["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid,
                               "--clear-groups"] + list(prefix) + [self.owners.drop, self.spool],
                              input=data, capture_output=True, timeout=60,
                              env=env or {"PATH": "/usr/bin:/bin"})

    def test_ld_preload_does_not_reach_it(self):
        """The free-space stub (test_trust) preloaded would say 0 bytes free: ignored."""
        stub = os.path.join(build_dir(), "tests", "statvfsstub.so")
        self.assertTrue(os.path.exists(stub), "%s: run `make tests`" % stub)
        p = self.drop(submission(self.mallory[1]),
                      env={"PATH": "/usr/bin:/bin", "LD_PRELOAD": stub, "QN_TEST_FREE": "0"})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(len(self.ids("maildrop")), 1)

    def test_a_file_size_limit_leaves_no_part_behind(self):
        p = self.drop(big_submission(self.mallory[1], 256 * 1024), prefix=["prlimit",
                                                                           "--fsize=4096"])
        self.assertEqual(p.returncode, 75, p.stderr)  # EFBIG, not killed by SIGXFSZ
        self.assertIn(b"File too large", p.stderr)
        self.assertEqual(os.listdir(os.path.join(self.spool, "maildrop")), [])

    def test_its_fds_and_memory_are_out_of_her_reach_while_it_runs(self):
        """While it waits for the entry on her pipe, it holds maildrop/ open: neither /proc
        nor ptrace give it to her."""
        name, uid, gid = self.mallory
        p = subprocess.Popen(["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid,
                              "--clear-groups", self.owners.drop, self.spool],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        deadline = time.time() + 30
        while time.time() < deadline:  # bounded: until it has opened maildrop/
            try:
                if len(os.listdir("/proc/%d/fd" % p.pid)) >= 5:
                    break
            except FileNotFoundError:
                break
            time.sleep(0.01)
        for script in ("ls /proc/%d/fd" % p.pid, "cat /proc/%d/environ" % p.pid,
                       "head -c 1 /proc/%d/mem" % p.pid, "ls /proc/%d/fd/4/" % p.pid,
                       "cat /proc/%d/maps" % p.pid):
            rc, out = self.sh_as_mallory(script)
            self.assertNotEqual(rc, 0, script + ": " + out)
            self.assertIn("Permission denied", out, script)
        # nor ptrace(PTRACE_ATTACH): -1, EPERM
        rc, out = self.sh_as_mallory(
            "python3 -c 'import ctypes; l = ctypes.CDLL(None, use_errno=True); "
            "print(l.ptrace(16, %d, 0, 0), ctypes.get_errno())'" % p.pid)
        self.assertEqual(out.strip(), "-1 1", out)
        out_s, err = p.communicate(submission(uid), timeout=60)
        self.assertEqual(p.returncode, 0, err)


class OddFilesInMaildrop(TrustCase):
    """What only root or the spool's user can put into maildrop/ (a compromised spool
    account, a mistaken admin): a FIFO, a symlink to a secret, a hard link, a socket, odd
    names.  The sender neither hangs nor follows nor stops: the login goes out first, the
    odd entries are refused and removed, and names that are no entry id are left alone."""

    def test_the_sender_refuses_them_and_goes_on(self):
        import socket
        name, uid, gid = self.mallory
        md = os.path.join(self.spool, "maildrop")

        def ident(i):
            return "1%09d.%06d.1.%016x" % (int(time.time()) % 10 ** 9, i, i)
        os.mkfifo(os.path.join(md, ident(2)))
        os.symlink("/etc/shadow", os.path.join(md, ident(3)))
        hard = self.write("sub", submission(uid))
        os.chown(hard, uid, gid)
        os.link(hard, os.path.join(md, ident(4)))
        s = socket.socket(socket.AF_UNIX)
        s.bind(os.path.join(md, ident(5)))
        self.addCleanup(s.close)
        odd = ["name\nwith newline", ident(6) + ".part", "../x"[3:]]
        for n in odd:
            with open(os.path.join(md, n), "wb") as f:
                f.write(submission(uid))
        self.plant_login()
        res = self.flush()
        self.assertExit(res, EX_OK)
        self.assertEqual(res.stderr.count("refused: not a valid entry"), 4, res.dump())
        self.assertIn("(uid %d) refused" % uid, res.stderr)  # the hard link: hers, refused
        self.assertEqual(len(self.srv.messages), 1, "the login only")
        self.assertEqual(str(self.mails()[0]["Subject"]),
                         "[web1] [critical] root logged in via ssh from 10.0.0.5")
        self.assertEqual(sorted(os.listdir(md)), sorted(odd))
        self.assertEqual(os.stat(hard).st_nlink, 1)


class ADirectoryInMaildrop(TrustCase):
    """A directory named like a submission (only root or the spool's user can make one):
    the sender cannot remove it and does not take it for progress, which made it run pass
    after pass, a line each, up to the pass limit (1,000 in a round, rounds while
    maildrop/ is not empty: about 3,000 lines in one run).  It is named once per pickup
    (a few in a run), and the run ends."""

    def test_it_is_reported_once_and_the_run_ends(self):
        md = os.path.join(self.spool, "maildrop")
        ident = "1%09d.%06d.1.%016x" % (int(time.time()) % 10 ** 9, 7, 7)
        os.mkdir(os.path.join(md, ident))
        self.plant_login()
        res = self.flush()
        self.assertEqual(len(self.srv.messages), 1, "the login" + res.dump())
        self.assertLessEqual(res.stderr.count(ident), 5, res.dump())
        self.assertGreaterEqual(res.stderr.count(ident), 1, res.dump())
        self.assertTrue(os.path.isdir(os.path.join(md, ident)))


class QueueInitsFixCannotBeTurnedAgainstRoot(TrustCase):
    """`qqnotify queue init` refuses a spool whose directories are wrong and prints the fix
    for root to run.  The spool's user (a compromised qqnotify account) owns the spool
    directory: she makes new/ wrong, and once root has read the fix, swaps new/ for a
    symlink to a directory of root's (here a stand-in for /etc/sudoers.d).  The fix used to
    be `chown qqnotify:qqnotify PATH && chmod 2700 PATH`, which follows the symlink and gave
    her root's directory."""

    def init(self):
        cfg = self.write("init.conf", "[smtp]\nuser = a@example.com\n"
                         + self.owners.spool_section(self.spool))
        return self.run_qn(["queue", "init"], config=cfg, creds=False)

    def spool_user(self, script):
        o = self.owners
        subprocess.run(["setpriv", "--reuid=%d" % o.uid, "--regid=%d" % o.gid, "--clear-groups",
                        "sh", "-c", script], check=True, timeout=60)

    def fix_line(self):
        res = self.init()
        self.assertExit(res, 78)  # EX_CONFIG: nothing changed
        (fix,) = re.findall(r"^ +fix: (.*)$", res.stdout, re.M)
        return fix

    def test_the_fix_changes_only_the_directory_it_was_written_for(self):
        victim = self.path("victim")
        os.mkdir(victim, 0o755)
        new = os.path.join(self.spool, "new")
        self.spool_user("chmod 2755 %s" % new)
        fix = self.fix_line()
        self.spool_user("mv %s %s.x && ln -s %s %s" % (new, new, victim, new))
        subprocess.run(["sh", "-c", fix], capture_output=True, timeout=60)  # root follows it
        st = os.stat(victim)
        self.assertEqual((st.st_uid, st.st_gid, st.st_mode & 0o7777), (0, 0, 0o755),
                         "root's directory was changed by: " + fix)

    def test_the_fix_fixes_the_directory_it_was_written_for(self):
        new = os.path.join(self.spool, "new")
        self.spool_user("chmod 2755 %s" % new)
        p = subprocess.run(["sh", "-c", self.fix_line()], capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(os.stat(new).st_mode & 0o7777, 0o2700)
        self.assertExit(self.init(), EX_OK)


class TheSenderHoldsNoRootIds(TrustCase):
    """`qqnotify flush` started as root fetches the secret, then is the spool's user:
    while it talks to the server, /proc says no id, group, capability or open file of
    root's, and the spool's user cannot look inside it."""

    def test_flush_started_as_root_is_the_spool_user_only(self):
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        self.addCleanup(s.close)
        cfg = self.config(name="stall.conf", port=s.getsockname()[1])
        self.plant_login()
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "QQNOTIFY_DROP": self.owners.drop,
               "CREDENTIALS_DIRECTORY": self.creds_dir or self.write_secret()}
        p = subprocess.Popen([self.bin, "-c", cfg, "--lang", "en", "flush"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.tmp)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        conn, _ = s.accept()  # the sender waits for the greeting: look at it now
        self.addCleanup(conn.close)
        with open("/proc/%d/status" % p.pid) as f:
            status = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
        u, g = self.owners.uid, self.owners.gid
        self.assertEqual(status["Uid"].split(), [str(u)] * 4)
        self.assertEqual(status["Gid"].split(), [str(g)] * 4)
        self.assertEqual(status["Groups"].split(), [])
        for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
            self.assertEqual(int(status[cap], 16), 0, cap)
        # Nothing root opened is still open (the configuration, the credential): the spool,
        # its server, its pipes.
        fdd = "/proc/%d/fd" % p.pid
        for target in (os.readlink(os.path.join(fdd, n)) for n in os.listdir(fdd)):
            self.assertTrue(target == "/dev/null" or target.startswith(("pipe:", "socket:"))
                            or target == self.spool or target.startswith(self.spool + "/"),
                            target)
        # A compromised spool account cannot read the secret out of it either.
        for what in ("environ", "maps", "mem"):
            r = subprocess.run(["setpriv", "--reuid=%d" % u, "--regid=%d" % g, "--clear-groups",
                                "head", "-c", "1", "/proc/%d/%s" % (p.pid, what)],
                               capture_output=True, timeout=60)
            self.assertNotEqual(r.returncode, 0, what)
            self.assertIn(b"Permission denied", r.stderr, what)
        conn.close()
        p.kill()
        p.wait(timeout=60)


class NoSeverityFromUsers(TrustCase):
    """The renderer puts an event's "severity" field into the subject ("[critical]",
    "【严重】"); a user's `--field severity=critical` made her notification look more
    urgent than a real root login.  Only the sender says how urgent an alert is."""

    def test_a_users_severity_field_is_not_shown_in_the_subject(self):
        name = self.mallory[0]
        res = self.as_mallory(["notify", "--kind", "login", "--field", "severity=critical",
                               "--field", "user=root", "--subject", "root logged in"])
        self.assertExit(res, EX_OK)
        self.assertExit(self.flush(), EX_OK)
        (m,) = self.mails()
        self.assertRegex(str(m["Subject"]), r"^\[\S+\] \[info\] from user %s: root logged in$"
                         % re.escape(name))
        text = m.get_body(preferencelist=("plain",)).get_content()
        self.assertNotIn("critical", text)
        self.assertIn("kind: login", text)



def authfail_entry(i, queued):
    """A refused `su root` of mallory's, as pam_qqnotify writes it (system, lane 0)."""
    payload = ("kind authfail\ntime %d\nhost web1\nfield service su\nfield user root\n"
               "field ruser mallory\nfield tty pts/%d\n" % (queued, i)).encode()
    return ("qqnotify-spool 2\ntype event\norigin system\nuid 0\nlane 0\nqueued %d\n"
            "attempts 0\nnext-try 0\nlast-error \ndiagnosis \nsize %d\nend\n"
            % (queued, len(payload))).encode() + payload


class ALoginsLaneFlood(TrustCase):
    """The logins' lane also carries what any local user can cause: a refused `su root`
    (authfail), `su` to herself.  Six of them in digest_window made the lane a burst, and a
    real root login then waited the whole window to go out as one line of a digest.  A
    login as root is never held for a burst nor folded into a digest."""

    def plant(self, data, i):
        eid = "%d.%06d.%d.%016x" % (int(time.time()), i, os.getpid(), i)
        tmp = os.path.join(self.spool, "tmp", eid)
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, os.path.join(self.spool, "new", eid))

    def test_a_root_login_during_an_authfail_flood_is_mailed_alone_and_now(self):
        for i in range(10):
            self.plant(authfail_entry(i, int(time.time())), i + 1)
        self.plant_login()
        res = self.flush()
        self.assertExit(res, EX_OK)
        subjects = [str(m["Subject"]) for m in self.mails()]
        self.assertIn("[web1] [critical] root logged in via ssh from 10.0.0.5", subjects, res.dump())


if __name__ == "__main__":
    unittest.main()
