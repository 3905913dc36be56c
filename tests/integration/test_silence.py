"""qqnotify silence and qqnotify seen, end to end: the state files they
write, root-only changes (refused for a real unprivileged user), the
--force rule for silences that match every login, the audit record in
syslog with who made the change, and forgetting first-seen entries."""
import json
import os
import re
import secrets
import subprocess

from harness import (EX_NOPERM, EX_OK, EX_USAGE, HERE, QNTestCase, needs_namespaces, needs_root,
                     run_bounded)

ID_RE = re.compile(r"^[0-9a-f]{12}\n\Z")


class SilenceTest(QNTestCase):
    def setUp(self):
        super().setUp()
        self.spool = self.path("spool")
        for d in ("", "tmp", "new", "deferred", "failed", "state"):
            os.makedirs(os.path.join(self.spool, d), exist_ok=True)
        self.conf = self.write_config()
        with open(self.conf, "a", encoding="utf-8") as f:
            f.write("\n[spool]\ndir = %s\n" % self.spool)

    def qn(self, *args, **kw):
        return self.run_qn(list(args), config=self.conf, creds=False, **kw)

    def state(self, name):
        with open(os.path.join(self.spool, "state", name), encoding="utf-8") as f:
            return f.read()

    def test_add_prints_the_id_and_list_and_expire_use_it(self):
        needs_root("only root adds silences")
        res = self.qn("silence", "add", "--match", "user=deploy", "--match", "rhost=10.0.*",
                      "--for", "2h", "--comment", "发布 release 42")
        self.assertExit(res, EX_OK)
        self.assertRegex(res.stdout, ID_RE)
        sid = res.stdout.strip()
        text = self.state("silences")
        self.assertIn("silence %s\n" % sid, text)
        self.assertIn("match user deploy\nmatch rhost 10.0.*\n", text)
        self.assertIn("comment 发布 release 42\n", text)
        self.assertRegex(text, r"\nby root \(uid 0[,)]")
        res = self.qn("silence", "list")
        self.assertExit(res, EX_OK)
        self.assertIn("%s  active" % sid, res.stdout)
        self.assertIn("    user=deploy\n    rhost=10.0.*\n", res.stdout)
        res = self.qn("silence", "expire", sid)
        self.assertExit(res, EX_OK)
        self.assertRegex(self.state("silences"), r"\nexpired \d+ root \(uid 0")
        res = self.qn("silence", "list")
        self.assertIn("No active or pending silences.", res.stdout)
        res = self.qn("silence", "list", "--all")
        self.assertIn("%s  expired" % sid, res.stdout)
        res = self.qn("silence", "expire", sid)
        self.assertExit(res, 65)
        self.assertIn("has already ended", res.stderr)

    def test_a_silence_matching_every_login_needs_force(self):
        needs_root("only root adds silences")
        for match in (["user=*"], ["kind=login"], ["kind=login", "user=[a-z]*"]):
            args = ["silence", "add", "--for", "1h"]
            for m in match:
                args += ["--match", m]
            res = self.qn(*args)
            self.assertExit(res, EX_USAGE, str(match))
            self.assertIn("would match every login", res.stderr)
            res = self.qn(*(args + ["--force"]))
            self.assertExit(res, EX_OK, str(match))
        # narrower ones need no --force
        res = self.qn("silence", "add", "--match", "kind=login", "--match", "user=deploy",
                      "--until", "@%d" % (int(__import__("time").time()) + 600))
        self.assertExit(res, EX_OK)

    def test_bad_arguments_are_explained(self):
        needs_root("only root gets past the check to the arguments")
        res = self.qn("silence", "add", "--match", "user", "--for", "1h")
        self.assertExit(res, EX_USAGE)
        self.assertIn("is not KEY=VALUE", res.stderr)
        res = self.qn("silence", "add", "--match", "user=x", "--for", "2 weeks")
        self.assertExit(res, EX_USAGE)
        self.assertIn("is not a duration", res.stderr)
        res = self.qn("silence", "add", "--match", "user=x")
        self.assertExit(res, EX_USAGE)
        res = self.qn("silence", "add", "--match", "user=x", "--for", "1h", "--until", "18:00")
        self.assertExit(res, EX_USAGE)
        self.assertFalse(os.path.exists(os.path.join(self.spool, "state", "silences")))

    def test_only_root_adds_or_expires(self):
        needs_root("useradd")
        name = "qnsil%s" % secrets.token_hex(3)
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                       check=True)
        self.addCleanup(subprocess.run, ["userdel", name], check=False)
        uid = int(subprocess.run(["id", "-u", name], capture_output=True, check=True,
                                 text=True).stdout)
        os.chmod(self.tmp, 0o755)
        os.chmod(self.conf, 0o644)
        prefix = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups"]
        for args in (["silence", "add", "--match", "user=x", "--for", "1h"],
                     ["silence", "expire", "0123456789ab"]):
            res = run_bounded(prefix + [self.bin, "-c", self.conf, "--lang", "en"] + args, b"",
                              {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, self.tmp, 30)
            self.assertExit(res, EX_NOPERM)
            self.assertIn("only root may add or expire silences (you are uid %d)" % uid,
                          res.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.spool, "state", "silences")))

    def test_changes_are_audited_in_syslog_with_the_login_uid_and_sudo_user(self):
        """syslog(3) goes to a /dev/log of the test's own (syslog_capture.py)."""
        needs_root("a mount namespace and the login uid")
        needs_namespaces("a /dev/log of the test's own")
        def captured(args, login_uid):
            cmd = "echo %d > /proc/self/loginuid && exec \"$@\"" % login_uid
            argv = ["unshare", "-m", "/usr/bin/python3", os.path.join(HERE, "syslog_capture.py"),
                    "env", "SUDO_USER=mallory", "sh", "-c", cmd, "sh", self.bin, "-c",
                    self.conf, "--lang", "en"] + args
            res = run_bounded(argv, b"", {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, self.tmp, 90)
            self.assertExit(res, EX_OK)
            return json.loads(res.stdout)

        out = captured(["silence", "add", "--match", "user=deploy", "--for", "30m"], 65534)
        self.assertEqual(out["rc"], 0, out)
        sid = out["stdout"].strip()
        self.assertEqual(len(out["syslog"]), 1, out)
        rec = out["syslog"][0]
        # authpriv (10) * 8 + notice (5)
        self.assertTrue(rec.startswith("<85>"), rec)
        self.assertRegex(rec, r"qqnotify: silence %s added by root \(uid 0, login \S+ uid 65534, "
                              r"SUDO_USER=mallory\): user=deploy from " % sid)
        out = captured(["silence", "expire", sid], 65534)
        self.assertEqual(out["rc"], 0, out)
        self.assertEqual(len(out["syslog"]), 1, out)
        self.assertRegex(out["syslog"][0], r"^<85>.*qqnotify: silence %s expired by root \(uid 0, "
                                           r"login \S+ uid 65534, SUDO_USER=mallory\)$" % sid)

    def test_seen_lists_and_forgets_entries(self):
        with open(os.path.join(self.spool, "state", "seen"), "w", encoding="utf-8") as f:
            f.write("qqnotify-seen 1\n"
                    "seen deploy 203.0.113.0/24 1795658400 1795744800 2\n"
                    "seen deploy SHA256:JzN09GGCq0ZyXh1hBYuPvmJZ0Nv1S8sSo 1795658400 1795658400 1\n"
                    "seen alice local 1795658400 1795658400 1\n")
        res = self.qn("seen")
        self.assertExit(res, EX_OK)
        self.assertRegex(res.stdout, r"deploy +203\.0\.113\.0/24 +2026-11-26 02:00 +"
                                     r"2026-11-27 02:00 +2\n")
        self.assertIn("alice", res.stdout)
        res = self.qn("seen", "forget", "deploy@203.0.113.77")  # an address: its network
        self.assertExit(res, EX_OK)
        self.assertIn("Forgot 1 entries", res.stdout)
        self.assertNotIn("203.0.113.0/24", self.state("seen"))
        self.assertIn("seen deploy SHA256:", self.state("seen"))
        res = self.qn("seen", "forget", "alice")
        self.assertExit(res, EX_OK)
        self.assertNotIn("alice", self.state("seen"))
        res = self.qn("seen", "forget", "nobody@local")
        self.assertExit(res, 66)
