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

CoreDumpCase: another process of the same unprivileged user can neither read
qqnotify's memory while it holds the code nor make it dump core (SIGQUIT).
"""

import base64
import errno
import json
import os
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import unittest

import faultserver as fs
from harness import EX_OK, EX_TEMPFAIL, USER, QNTestCase, needs_root

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

    def one_queued_alert(self, srv, subject):
        """A spool holding one alert (SUBJECT) for SRV: (spool, config, env, credential)."""
        spool = self.make_spool()
        cfg = self.write_config(port=srv.port, host="localhost", timeout=10)
        with open(cfg, "a", encoding="utf-8") as f:
            f.write("\n" + self.spool_section(spool))
        cred = os.path.join(self.write_secret(), "qqnotify.smtp")
        env = {"CREDENTIALS_DIRECTORY": os.path.dirname(cred)}
        res = self.run_watched(["notify", "--no-flush", "--subject", subject, "msg"], cfg,
                               env=env, watched=False)
        self.assertEqual(res[0], EX_OK, res)
        return spool, cfg, env, cred

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
        spool, cfg, env, cred = self.one_queued_alert(srv, "canary alert")
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


# Run as the throw-away user: start qqnotify (its core limit raised as far as this user may,
# in a directory where a core file would land), wait for "go", then do what any other
# process of that user can do to it: read its memory through /proc, and send it SIGQUIT.
# Prints one JSON line with what happened.
SNOOP = r"""
import json, os, resource, signal, subprocess, sys
argv, forms = json.loads(sys.argv[1]), [f.encode("latin-1") for f in json.loads(sys.argv[2])]
def core_unlimited():
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.PIPE, preexec_fn=core_unlimited)
print(p.pid, flush=True)
sys.stdin.readline()
out = {"core_limit": resource.getrlimit(resource.RLIMIT_CORE)[1]}
try:
    found = set()
    with open("/proc/%d/maps" % p.pid) as maps, open("/proc/%d/mem" % p.pid, "rb", 0) as mem:
        out["mem"] = "opened"
        for line in maps:
            addr, perms = line.split()[:2]
            if not perms.startswith("r"):
                continue
            a, b = (int(x, 16) for x in addr.split("-"))
            if b - a > 64 << 20:
                continue
            try:
                mem.seek(a)
                chunk = mem.read(b - a)
            except OSError:
                continue
            found.update(i for i, f in enumerate(forms) if f in chunk)
    out["found_in_memory"] = sorted(found)
except OSError as e:
    out["mem"] = "errno %d" % e.errno
os.kill(p.pid, signal.SIGQUIT)
_, status = os.waitpid(p.pid, 0)
p.returncode = 0
out["signal"] = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
out["core_dumped"] = os.WIFSIGNALED(status) and os.WCOREDUMP(status)
out["core_files"] = sorted(n for n in os.listdir(".") if n.startswith("core"))
found = set()
for n in out["core_files"]:
    with open(n, "rb") as f:
        data = f.read()
    found.update(i for i, f in enumerate(forms) if f in data)
out["found_in_core"] = sorted(found)
print(json.dumps(out), flush=True)
"""


class PartialEchoCase(CanaryCase):
    """A refusal quoting the AUTH PLAIN argument minus its last 4
    characters (and pieces of the code in other encodings) leaves no run of 6 characters
    of any form of the code in stderr, the spool's last-error or `queue list`.  (No
    subject or body holds "canary": every code starts "qncanary".)"""

    def assertNoRun(self, where, data, run=6):
        data = data.lower()
        for name, form in self.forms().items():
            form = form.lower()
            for i in range(len(form) - run + 1):
                self.assertNotIn(form[i:i + run], data,
                                 "%d characters of the canary (%s) are in %s" % (run, name, where))

    def echo(self):
        s = self.secret.encode()
        blob = base64.b64encode(b"\0" + USER.encode() + b"\0" + s)
        return fs.raw(b"535-5.7.8 Error: authentication failed: " + blob[:-4] + b"\r\n"
                      b"535-5.7.8 LOGIN was " + base64.urlsafe_b64encode(b"x" + s)[:-3] + b"\r\n"
                      b"535 5.7.8 code " + s[1:-1].upper() + b"\r\n")

    def test_send_shows_no_run_of_the_code(self):
        srv = self.fault_server("implicit", {"auth": self.echo()})
        cfg = self.write_config(port=srv.port, host="localhost", timeout=10)
        cred = os.path.join(self.write_secret(), "qqnotify.smtp")
        res = self.run_watched(["send", "--to", "a@example.com", "--subject", "an alert"], cfg,
                               stdin=b"body\n", watched=False,
                               env={"CREDENTIALS_DIRECTORY": os.path.dirname(cred)})
        self.assertEqual(res[0], 77, res)
        self.assertServerGotCanary(srv)
        self.assertIn(b"authentication failed", res[2])  # the reply is shown, without the code
        self.assertNoRun("stderr", res[2])

    def test_flush_keeps_no_run_of_the_code_in_the_spool_or_queue_list(self):
        srv = self.fault_server("implicit", {"auth": self.echo()})
        spool, cfg, env, _ = self.one_queued_alert(srv, "an alert")
        res = self.run_watched(["flush"], cfg, env=env, watched=False)
        self.assertServerGotCanary(srv)
        self.assertNoRun("flush's stderr", res[2])
        listed = self.run_watched(["queue", "list"], cfg, env=env, watched=False)
        self.assertIn(b"authentication failed", listed[1] + listed[2])
        self.assertNoRun("queue list", listed[1] + listed[2])
        entries = 0
        for root, dirs, names in os.walk(spool):
            for name in names:
                with open(os.path.join(root, name), "rb") as f:
                    self.assertNoRun(os.path.join(root, name), f.read())
                entries += 1
        self.assertGreater(entries, 0)


class CoreDumpCase(CanaryCase):
    """qqnotify holding the code, waiting for the reply to AUTH, is
    looked at by another process of the same (unprivileged) user: its memory cannot be
    read, and SIGQUIT leaves no core file.  A user created for the test runs both (no
    system-wide setting is changed: the core limit is raised for qqnotify alone, and the
    kernel's core_pattern, whatever it is, is left as it is)."""

    def make_user(self):
        name = "qnt%s" % secrets.token_hex(4)
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(subprocess.run, ["userdel", name], stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL)
        pw = subprocess.run(["getent", "passwd", name], check=True, stdout=subprocess.PIPE)
        uid, gid = (int(x) for x in pw.stdout.decode().split(":")[2:4])
        return name, uid, gid

    def test_sigquit_while_waiting_for_the_auth_reply_leaves_no_core_and_no_readable_memory(
            self):
        needs_root("creating a user, and running as it")
        # The kernel says whether it dumped (WCOREDUMP), whatever core_pattern is; where the
        # pattern names a file in the working directory, the file is looked for too.
        with open("/proc/sys/kernel/core_pattern") as f:
            pattern = f.read().strip()
        core_file_here = not pattern.startswith("|") and "/" not in pattern
        name, uid, gid = self.make_user()
        home = self.path("home")
        os.makedirs(home)
        os.chmod(self.tmp, 0o711)
        ca = os.path.join(home, "ca.pem")
        shutil.copy(self.ca.ca_cert, ca)
        srv = self.fault_server("implicit", {"auth": fs.delay(30)})
        cfg = self.write_config(port=srv.port, host="localhost", timeout=20, ca_file=ca)
        shutil.move(cfg, os.path.join(home, "qqnotify.conf"))
        cfg = os.path.join(home, "qqnotify.conf")
        creds = os.path.join(home, "creds")
        os.makedirs(creds)
        with open(os.path.join(creds, "qqnotify.smtp"), "w") as f:
            f.write(self.secret)
        os.chmod(os.path.join(creds, "qqnotify.smtp"), 0o600)
        for root, dirs, files in os.walk(home):
            for n in dirs + files + ["."]:
                os.chown(os.path.join(root, n), uid, gid)
        # A copy of the program she can run: the tree may be under /root.
        prog = os.path.join(self.tmp, "qqnotify")
        shutil.copyfile(self.bin, prog)
        os.chmod(prog, 0o755)
        argv = [prog, "-c", cfg, "--lang", "en", "send", "--to", "a@example.com",
                "--subject", "canary"]
        forms = [v.decode("latin-1") for v in self.forms().values()]
        env = {"PATH": "/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8",
               "CREDENTIALS_DIRECTORY": creds}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        snoop = subprocess.Popen(
            ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups",
             sys.executable, "-c", SNOOP, json.dumps(argv), json.dumps(forms)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            cwd=home, start_new_session=True)
        self.addCleanup(lambda: snoop.poll() is None and snoop.kill())
        pid = int(snoop.stdout.readline())
        deadline = time.monotonic() + 20
        while not srv.auth_log and time.monotonic() < deadline:
            time.sleep(0.05)
        # qqnotify sent the code and now waits for the reply, holding it
        self.assertTrue(srv.auth_log, "qqnotify never reached AUTH")
        self.assertEqual(srv.auth_log[-1][4], self.secret.encode())
        snoop.stdin.write(b"go\n")
        snoop.stdin.flush()
        out, err = snoop.communicate(timeout=60)
        self.assertEqual(snoop.returncode, 0, err.decode())
        got = json.loads(out.decode().strip().splitlines()[-1])
        self.assertNotEqual(pid, 0)
        self.assertEqual(got["signal"], signal.SIGQUIT, got)
        self.assertTrue(got["core_limit"] != 0, "the test could not allow a core file: %s" % got)
        self.assertEqual(got["mem"], "errno %d" % errno.EACCES,
                         "another process of the user read qqnotify's memory: %s" % got)
        self.assertFalse(got["core_dumped"], got)
        if core_file_here:
            self.assertEqual(got["core_files"], [], got)
        self.assertEqual(got["found_in_core"], [], got)


if __name__ == "__main__":
    unittest.main()
