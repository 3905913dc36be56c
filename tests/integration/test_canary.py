"""The secret canary: a random authorization code goes in, and must come out
nowhere but in AUTH to the server.

Each case runs a real `qqnotify send`, `check` or `notify` + `flush` with a
fresh random canary as the secret (from $CREDENTIALS_DIRECTORY, or from a
credential helper).  The server delays its replies after AUTH so the client
stays alive for a while, and meanwhile /proc/PID/cmdline and
/proc/PID/environ of qqnotify and of every child it starts are read again
and again.  Afterwards the canary is searched, raw and in the forms AUTH
sends it (base64 of the PLAIN blob, base64 of the code for LOGIN), in:
stdout, stderr (the log), every file under the test's directory (the
process's HOME, working directory, TMPDIR and spool) except the one
credential file we wrote, and those /proc snapshots.  The server must have
received the canary (else the test proves nothing).
"""

import base64
import os
import secrets
import stat
import subprocess
import threading
import time
import unittest

import faultserver as fs
from harness import EX_OK, EX_TEMPFAIL, USER, QNTestCase

DELAY = 1.5  # seconds the server waits after AUTH: the client is alive meanwhile


def new_canary():
    # Shaped like a QQ authorization code (16 lower-case letters) plus a
    # random tail, so that no other string in a run can contain it by chance.
    return "qncanary" + "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(16))


class CanaryCase(QNTestCase):
    def setUp(self):
        super().setUp()
        self.secret = new_canary()  # harness: write_secret() and assertNoSecret() use it
        self.tmpdir = self.path("tmpdir")
        os.makedirs(self.tmpdir)
        self.snapshots = []  # (pid, what, bytes)

    def forms(self):
        s = self.secret.encode()
        return {
            "raw": s,
            "PLAIN blob (base64)": base64.b64encode(b"\0" + USER.encode() + b"\0" + s),
            "PLAIN blob, no authzid": base64.b64encode(USER.encode() + b"\0" + s),
            "LOGIN (base64)": base64.b64encode(s),
            "hex": s.hex().encode(),
        }

    def assertNowhere(self, where, data):
        for name, form in self.forms().items():
            self.assertNotIn(form, data, "the canary (%s) is in %s" % (name, where))

    # -- running with /proc watched ---------------------------------------------------
    def children_of(self, pid):
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d, "rb") as f:
                    st = f.read()
                ppid = int(st[st.rindex(b")") + 2:].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid:
                out.append(int(d))
        return out

    def snapshot(self, pid):
        for what in ("cmdline", "environ"):
            try:
                with open("/proc/%d/%s" % (pid, what), "rb") as f:
                    self.snapshots.append((pid, what, f.read()))
            except OSError:
                pass

    def run_watched(self, args, config, stdin=b"", timeout=60, env=None, watched=True):
        """Run qqnotify ARGS; while it runs, snapshot /proc of it and its children."""
        e = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": self.tmp, "TMPDIR": self.tmpdir,
             "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC"}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                e[k] = os.environ[k]
        if self.owners is not None:
            e["QQNOTIFY_DROP"] = self.owners.drop
        e.update(env or {})
        argv = [self.bin, "-c", config, "--lang", "en"] + list(args)
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=e, cwd=self.tmp, start_new_session=True)
        # stdin, stdout and stderr are served by threads while this one watches /proc.
        got = {}

        def pump(name, f):
            got[name] = f.read()
            f.close()

        def feed():
            try:
                p.stdin.write(stdin)
                p.stdin.close()
            except (BrokenPipeError, OSError):
                pass

        threads = [threading.Thread(target=pump, args=("out", p.stdout), daemon=True),
                   threading.Thread(target=pump, args=("err", p.stderr), daemon=True),
                   threading.Thread(target=feed, daemon=True)]
        for t in threads:
            t.start()
        n = 0
        while p.poll() is None and time.monotonic() - t0 < timeout:
            self.snapshot(p.pid)
            for c in self.children_of(p.pid):
                self.snapshot(c)
            n += 1
            time.sleep(0.05)
        if p.poll() is None:
            p.kill()
        p.wait(10)
        for t in threads:
            t.join(10)
        if watched:
            self.assertGreater(n, 5, "the process was not watched while it ran")
        return p.returncode, got.get("out", b""), got.get("err", b"")

    def check_everywhere(self, rc_out_err, credential_file=None):
        rc, out, err = rc_out_err
        self.assertNowhere("stdout", out)
        self.assertNowhere("stderr", err)
        pids = {pid for pid, _, _ in self.snapshots}
        self.assertTrue(self.snapshots, "no /proc snapshot")
        for pid, what, data in self.snapshots:
            self.assertNowhere("/proc/%d/%s" % (pid, what), data)
        files = 0
        for root, dirs, names in os.walk(self.tmp):
            for name in names:
                p = os.path.join(root, name)
                if credential_file is not None and os.path.samefile(p, credential_file):
                    continue
                st = os.lstat(p)
                if not stat.S_ISREG(st.st_mode):
                    continue
                with open(p, "rb") as f:
                    self.assertNowhere(p, f.read())
                files += 1
        return pids, files

    def assertServerGotCanary(self, srv):
        srv.wait_idle(10)
        self.assertTrue(srv.auth_log, "no AUTH at all: the canary was never used")
        self.assertEqual(srv.auth_log[-1][4], self.secret.encode(),
                         "the server did not receive the canary")


class Canary(CanaryCase):
    def test_send_with_systemd_credential(self):
        srv = self.fault_server("implicit", {"mail": fs.delay(DELAY)})
        cfg = self.write_config(port=srv.port, host="localhost", timeout=10)
        cred = os.path.join(self.write_secret(), "qqnotify.smtp")
        res = self.run_watched(["send", "--to", "a@example.com", "--subject", "canary"], cfg,
                               stdin="正文\n".encode(),
                               env={"CREDENTIALS_DIRECTORY": os.path.dirname(cred)})
        self.assertEqual(res[0], EX_OK, res)
        self.assertServerGotCanary(srv)
        self.check_everywhere(res, credential_file=cred)

    def test_check_with_systemd_credential(self):
        srv = self.fault_server("starttls", {"mail": fs.delay(DELAY)})
        cfg = self.write_config(port=srv.port, host="localhost", tls="starttls", timeout=10)
        cred = os.path.join(self.write_secret(), "qqnotify.smtp")
        res = self.run_watched(["check", "--send-test", "t@example.com"], cfg,
                               env={"CREDENTIALS_DIRECTORY": os.path.dirname(cred)})
        self.assertEqual(res[0], EX_OK, res)
        self.assertServerGotCanary(srv)
        self.check_everywhere(res, credential_file=cred)

    def test_send_with_credential_helper(self):
        # The helper answers after a pause, so it is seen running as qqnotify's child.
        helper = self.write("helper.sh",
                            "#!/bin/sh\nsleep 1\ncat >/dev/null\n"
                            "printf 'protocol=smtp\\nusername=%s\\npassword=%%s\\n\\n' "
                            "\"$(cat %s)\"\n" % (USER, self.path("helper-secret")), mode=0o700)
        self.write("helper-secret", self.secret, mode=0o600)
        srv = self.fault_server("implicit", {"mail": fs.delay(DELAY)})
        cfg = self.write_config(port=srv.port, host="localhost", timeout=10,
                                extra_smtp={"credential_helper": helper})
        res = self.run_watched(["send", "--to", "a@example.com", "--subject", "canary"], cfg,
                               stdin=b"body\n", env={})
        self.assertEqual(res[0], EX_OK, res)
        self.assertServerGotCanary(srv)
        pids, _ = self.check_everywhere(res, credential_file=self.path("helper-secret"))
        self.assertGreaterEqual(len(pids), 2, "the helper was never seen running")

    def test_failed_auth_and_spool(self):
        """A rejected code: the failure report, the deferred spool entry (last-error)
        and the flush's output hold no trace of it."""
        srv = self.fault_server("implicit", {"auth": fs.reply(454, "4.7.0 Temporary "
                                                                  "authentication failure",
                                                              delay=DELAY)})
        spool = self.make_spool()
        cfg = self.write_config(port=srv.port, host="localhost", timeout=10)
        with open(cfg, "a", encoding="utf-8") as f:
            f.write("\n" + self.spool_section(spool))
        cred = os.path.join(self.write_secret(), "qqnotify.smtp")
        env = {"CREDENTIALS_DIRECTORY": os.path.dirname(cred)}
        res = self.run_watched(["notify", "--no-flush", "--subject", "canary alert", "msg"], cfg,
                               env=env, watched=False)
        self.assertEqual(res[0], EX_OK, res)
        res = self.run_watched(["flush"], cfg, env=env)
        self.assertEqual(res[0], EX_TEMPFAIL, res)
        self.assertServerGotCanary(srv)
        deferred = os.listdir(os.path.join(spool, "deferred"))
        self.assertEqual(len(deferred), 1, "the alert must wait in deferred/")
        with open(os.path.join(spool, "deferred", deferred[0]), "rb") as f:
            self.assertIn(b"Temporary authentication failure", f.read(),
                          "last-error should hold the server's words")
        self.check_everywhere(res, credential_file=cred)

    # qn_smtp_auth() blanks the secret and its base64 forms out of a refusal that
    # quotes them, before the reply reaches stderr, the journal or the spool.
    def test_server_that_echoes_the_code_back(self):
        """A server (or a proxy) that quotes the credentials in its refusal: what the
        client shows and stores of that reply must not carry them."""
        blob = base64.b64encode(b"\0" + USER.encode() + b"\0" + self.secret.encode())
        srv = self.fault_server("implicit", {"auth": fs.raw(
            b"535-5.7.8 Authentication failed for " + self.secret.encode() + b"\r\n"
            b"535 5.7.8 you sent " + blob + b"\r\n", delay=DELAY)})
        cfg = self.write_config(port=srv.port, host="localhost", timeout=10)
        cred = os.path.join(self.write_secret(), "qqnotify.smtp")
        res = self.run_watched(["send", "--to", "a@example.com", "--subject", "canary"], cfg,
                               stdin=b"body\n",
                               env={"CREDENTIALS_DIRECTORY": os.path.dirname(cred)})
        self.assertEqual(res[0], 77, res)
        self.assertServerGotCanary(srv)
        self.check_everywhere(res, credential_file=cred)


if __name__ == "__main__":
    unittest.main()
