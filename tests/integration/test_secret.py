"""qqnotify-secret: the credential helper, against the real backends.

- libsecret: a private session bus (dbus-run-session with a config that
  can auto-start nothing) and a real gnome-keyring-daemon started headless
  (--unlock, password on stdin, --components=secrets), with a throw-away
  HOME / XDG_RUNTIME_DIR / XDG_DATA_HOME.  Interop both ways with
  secret-tool; locked collection; no daemon; no bus at all.
- systemd-creds (root only: as another user these tests are not run, and
  tests/run.sh says so): set, get, erase, file mode and owner, the file read
  the way PID 1 does for LoadCredentialEncrypted=, errors (not root, tool
  missing, bad file).
- Hygiene: the secret never appears in any output, in the keyring's logs,
  or in /proc/PID/cmdline or /proc/PID/environ of any process while the
  operations run (a scanner thread reads every process, and a wrapper
  records what systemd-creds is started with); core dumps are off and the
  buffer is locked while `set` holds it.
- End to end: `qqnotify check` and `qqnotify send` get the secret from the
  helper (credential_helper = qqnotify-secret ...) and authenticate to a
  local SMTP server.

Every wait is bounded; every process started here is killed on cleanup.
"""

import os
import pty
import select
import shutil
import signal
import stat
import subprocess
import threading
import time
import unittest

from harness import (EX_CONFIG, EX_DATAERR, EX_NOPERM, EX_OK, EX_TEMPFAIL, EX_UNAVAILABLE,
                     EX_USAGE, USER, QNTestCase, Result, build_dir, new_secret, needs_root)

EXIT_NOT_FOUND = 1
HOST = "smtp.qq.com"
SYSTEMD_CREDS = shutil.which("systemd-creds", path="/usr/bin:/bin") or "/usr/bin/systemd-creds"
CREDS_NEED_ROOT = "systemd-creds (its host key is root's)"
BASE_PATH = "/usr/local/bin:/usr/bin:/bin"
NOBODY = 65534
PROMPT = "(input hidden): "
REPEAT = "Repeat it: "

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=%s</listen>
  <auth>EXTERNAL</auth>
  <!-- no <servicedir>: nothing can be auto-started, so "no daemon" is real -->
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


def read_line_within(fileobj, timeout):
    """One line from a pipe within TIMEOUT seconds, or None."""
    fd = fileobj.fileno()
    deadline = time.monotonic() + timeout
    data = b""
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            return None
        chunk = os.read(fd, 1)
        if not chunk:
            return None
        data += chunk
    return data.decode("utf-8", "replace").strip()


def stop_process(p, timeout=5):
    """Terminate P and its process group (started with start_new_session)."""
    if p is None:
        return
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except OSError:
            pass
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(p.pid, signal.SIGKILL)  # whatever is left in its group
    except OSError:
        pass
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    for f in (p.stdin, p.stdout, p.stderr):
        if f is not None:
            f.close()


def proc_read(pid, name):
    try:
        with open("/proc/%d/%s" % (pid, name), "rb") as f:
            return f.read()
    except OSError:
        return b""


class ProcScanner(threading.Thread):
    """Reads /proc/*/cmdline and /proc/*/environ of every process, round after
    round, until stopped; records every process that holds a needle there."""

    def __init__(self, needles):
        super().__init__(daemon=True)
        self.needles = [n.encode() for n in needles]
        self.hits = []
        self.comms = set()
        self.rounds = 0
        self._stop_event = threading.Event()

    def run(self):
        me = os.getpid()
        while not self._stop_event.is_set():
            for entry in os.listdir("/proc"):
                if not entry.isdigit() or int(entry) == me:
                    continue
                pid = int(entry)
                comm = proc_read(pid, "comm").strip().decode("utf-8", "replace")
                if comm:
                    self.comms.add(comm)
                for name in ("cmdline", "environ"):
                    data = proc_read(pid, name)
                    if any(n in data for n in self.needles):
                        self.hits.append((pid, comm, name))
            self.rounds += 1
            time.sleep(0.002)

    def stop(self):
        self._stop_event.set()
        self.join(10)


class Keyring:
    """A private session bus and, on demand, a gnome-keyring-daemon on it."""

    def __init__(self, root):
        self.root = root
        self.daemon = None
        self.bus = None
        for d in ("home", "run", "data", "config", "bus"):
            os.makedirs(os.path.join(root, d), mode=0o700, exist_ok=True)
        conf = os.path.join(root, "bus.conf")
        with open(conf, "w") as f:
            f.write(BUS_CONFIG % os.path.join(root, "bus"))
        self.bus_log = os.path.join(root, "bus.log")
        self.daemon_log = os.path.join(root, "daemon.log")
        base = {"PATH": BASE_PATH, "HOME": os.path.join(root, "home"),
                "XDG_RUNTIME_DIR": os.path.join(root, "run"), "LANG": "C.UTF-8"}
        with open(self.bus_log, "wb") as log:
            # The shell prints the bus address and lives as long as its stdin
            # is open: closing it ends the session and the bus.
            self.bus = subprocess.Popen(
                ["dbus-run-session", "--config-file", conf, "--", "/bin/sh", "-c",
                 'printf "%s\\n" "$DBUS_SESSION_BUS_ADDRESS"; exec cat >/dev/null'],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=base,
                start_new_session=True)
        addr = read_line_within(self.bus.stdout, 10)
        if not addr or not addr.startswith("unix:"):
            self.stop()
            raise RuntimeError("dbus-run-session gave no bus address (%r)" % addr)
        self.env = dict(base)
        self.env.update({"DBUS_SESSION_BUS_ADDRESS": addr,
                         "XDG_DATA_HOME": os.path.join(root, "data"),
                         "XDG_CONFIG_HOME": os.path.join(root, "config")})

    def dbus_send(self, *args, timeout=10):
        return subprocess.run(["dbus-send", "--session", "--print-reply"] + list(args),
                              env=self.env, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout)

    def service_running(self):
        r = self.dbus_send("--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
                           "org.freedesktop.DBus.NameHasOwner", "string:org.freedesktop.secrets")
        return r.returncode == 0 and b"boolean true" in r.stdout

    def start_daemon(self, password):
        with open(self.daemon_log, "ab") as log:
            self.daemon = subprocess.Popen(
                ["gnome-keyring-daemon", "--unlock", "--components=secrets", "--foreground"],
                stdin=subprocess.PIPE, stdout=log, stderr=log, env=self.env,
                start_new_session=True)
        # --unlock reads the login keyring's password until end of input.
        self.daemon.stdin.write(password.encode())
        self.daemon.stdin.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.service_running():
                return
            if self.daemon.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("gnome-keyring-daemon did not come up on the bus; its log:\n"
                           + self.read_log(self.daemon_log))

    def lock_login(self):
        r = self.dbus_send("--dest=org.freedesktop.secrets", "/org/freedesktop/secrets",
                           "org.freedesktop.Secret.Service.Lock",
                           "array:objpath:/org/freedesktop/secrets/collection/login")
        if r.returncode != 0:
            raise RuntimeError("cannot lock the login collection: %r" % r.stderr)

    @staticmethod
    def read_log(path):
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def secret_tool(self, args, stdin=b"", timeout=20):
        return subprocess.run(["secret-tool"] + list(args), input=stdin, env=self.env,
                              capture_output=True, timeout=timeout)

    def stop(self):
        stop_process(self.daemon)
        self.daemon = None
        if self.bus is not None:
            try:
                self.bus.stdin.close()  # the shell's cat ends, then the session
                self.bus.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
            stop_process(self.bus)
            self.bus = None


class SecretCase(QNTestCase):
    """Runs $QN_BUILD/qqnotify-secret; qqnotify itself only where said."""

    needs_binary = False

    def setUp(self):
        super().setUp()
        os.chmod(self.tmp, 0o755)  # the not-root tests run a copy of the binary from here
        self.sbin = os.path.join(build_dir(), "qqnotify-secret")
        if not (os.path.isfile(self.sbin) and os.access(self.sbin, os.X_OK)):
            self.fail("the binary under test does not exist: %s (make %s)"
                      % (self.sbin, self.sbin))
        self.credstore = os.path.join(self.tmp, "credstore")  # the helper creates it
        self.credfile = os.path.join(self.credstore, "qqnotify.smtp")
        self.no_bus_dir = os.path.join(self.tmp, "run-without-bus")
        os.makedirs(self.no_bus_dir, mode=0o700)
        # A session without any bus: XDG_RUNTIME_DIR has no "bus" socket and
        # DBUS_SESSION_BUS_ADDRESS is not set.
        self.env = {"PATH": BASE_PATH, "HOME": self.tmp, "LANG": "C.UTF-8",
                    "LC_ALL": "C.UTF-8", "XDG_RUNTIME_DIR": self.no_bus_dir}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                self.env[k] = os.environ[k]

    def run_secret(self, args, stdin=b"", env=None, timeout=30, binary=None, prefix=()):
        """Run qqnotify-secret --lang en --credstore DIR ARGS, bounded by TIMEOUT."""
        if isinstance(stdin, str):
            stdin = stdin.encode("utf-8")
        argv = list(prefix) + [binary or self.sbin, "--lang", "en",
                               "--credstore", self.credstore] + list(args)
        e = dict(self.env)
        e.update(env or {})
        t0 = time.monotonic()
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=e, cwd=self.tmp, start_new_session=True)
        timed_out = False
        try:
            out, err = p.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            stop_process(p)
            out, err = b"", b""
        return Result(argv, p.returncode, out, err, time.monotonic() - t0, timed_out)

    def request(self, user=USER, host=HOST, extra=""):
        return "protocol=smtp\nhost=%s\nusername=%s\n%s\n" % (host, user, extra)

    def get(self, user=USER, args=(), env=None):
        return self.run_secret(list(args) + ["get"], stdin=self.request(user), env=env)

    def set_secret(self, secret=None, user=USER, args=(), env=None):
        s = self.secret if secret is None else secret
        return self.run_secret(list(args) + ["--user", user, "set"], stdin=s + "\n", env=env)

    def assertAnswer(self, res, secret=None):
        """`get` answered exactly password=SECRET and said nothing else."""
        s = self.secret if secret is None else secret
        self.assertExit(res, EX_OK)
        self.assertEqual(res.stdout_b, b"password=" + s.encode() + b"\n", res.dump())
        self.assertNotIn(s, res.stderr, "the secret leaked to stderr" + res.dump())

    def assertExplained(self, res, code, *phrases):
        """Exit CODE, each phrase on stderr, a fix line, and no secret anywhere."""
        self.assertExit(res, code)
        self.assertNoSecret(res)
        for phrase in phrases:
            self.assertIn(phrase, res.stderr, res.dump())
        self.assertRegex(res.stderr, r"(?m)^  fix: \S", "no fix line" + res.dump())

    def start_set_on_pipe(self, args, env, first_part):
        """Start `set` reading from a pipe we hold open, and give it FIRST_PART
        once it said which backend it uses (the line before it reads).  Returns
        the process and that line."""
        argv = [self.sbin, "--lang", "en", "--credstore", self.credstore] + list(args) + ["set"]
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env, cwd=self.tmp,
                             start_new_session=True)
        self.addCleanup(stop_process, p)
        line = read_line_within(p.stderr, 10)
        self.assertIsNotNone(line, "qqnotify-secret set said nothing within 10 s")
        self.assertIn("using ", line)
        p.stdin.write(first_part.encode())
        p.stdin.flush()
        return p, line

    def assertSecretLocked(self, pid):
        """While it waits for the rest, the buffer holding the first part is locked
        (ASan turns mlock into a no-op: nothing to see in such a build)."""
        with open(self.sbin, "rb") as f:
            if b"AddressSanitizer" in f.read():
                return
        deadline = time.monotonic() + 10
        status = ""
        while time.monotonic() < deadline:
            status = proc_read(pid, "status").decode()
            lck = [l for l in status.splitlines() if l.startswith("VmLck:")]
            if lck and int(lck[0].split()[1]) > 0:
                return
            time.sleep(0.01)
        self.fail("no locked memory while the secret is being read:\n" + status)

    def assertProcClean(self, pid, secret_parts):
        for name in ("cmdline", "environ"):
            data = proc_read(pid, name)
            self.assertTrue(data, "/proc/%d/%s could not be read" % (pid, name))
            for part in secret_parts:
                self.assertNotIn(part.encode(), data,
                                 "the secret is in /proc/%d/%s" % (pid, name))
        limits = proc_read(pid, "limits").decode()
        self.assertRegex(limits, r"(?m)^Max core file size\s+0\s+0\s",
                         "core dumps are not disabled while the secret is held:\n" + limits)

    def finish_set(self, p, rest):
        p.stdin.write(rest.encode())
        p.stdin.flush()
        try:  # communicate() closes stdin: end of input
            out, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            stop_process(p)
            self.fail("qqnotify-secret set did not finish")
        return Result([self.sbin, "set"], p.returncode, out, err, 0.0)


class LibsecretTest(SecretCase):
    """The Secret Service backend against a real gnome-keyring-daemon."""

    def setUp(self):
        super().setUp()
        self.kr = Keyring(os.path.join(self.tmp, "keyring"))
        self.addCleanup(self.assertKeyringLogsClean)  # cleanups run last-in first-out:
        self.addCleanup(self.kr.stop)                 # the logs are read once all stopped
        self.kr_env = dict(self.env)  # sanitizer options, locale
        self.kr_env.update(self.kr.env)  # the bus and the keyring's directories
        self.login_password = new_secret()

    def assertKeyringLogsClean(self):
        for log in (self.kr.bus_log, self.kr.daemon_log):
            self.assertNotIn(self.secret, Keyring.read_log(log), "the secret is in " + log)

    def test_set_get_status_erase_round_trip(self):
        self.kr.start_daemon(self.login_password)
        res = self.set_secret(env=self.kr_env)
        self.assertExit(res, EX_OK)
        self.assertNoSecret(res)
        # a bus that has a Secret Service: the keyring, and it says why
        if os.geteuid() == 0:
            self.assertIn("using libsecret: running as root in a session whose bus has a "
                          "Secret Service", res.stderr, res.dump())
        else:
            self.assertIn("using libsecret: a D-Bus session bus is available (a desktop "
                          "session)", res.stderr, res.dump())
        self.assertAnswer(self.get(env=self.kr_env))

        res = self.run_secret(["--user", USER, "status"], env=self.kr_env)
        self.assertExit(res, EX_OK)
        self.assertNoSecret(res)
        self.assertIn("account: %s on %s" % (USER, HOST), res.stdout, res.dump())
        self.assertIn("libsecret (Secret Service): a secret is stored", res.stdout, res.dump())
        if os.geteuid() == 0:  # only root's status looks at systemd-creds
            self.assertIn("systemd-creds (%s): no secret stored" % self.credfile, res.stdout,
                          res.dump())

        res = self.run_secret(["--user", USER, "erase"], stdin=b"", env=self.kr_env)
        self.assertExit(res, EX_OK)
        self.assertNoSecret(res)
        res = self.get(env=self.kr_env)
        self.assertExplained(res, EXIT_NOT_FOUND,
                             "no secret stored in the Secret Service for %s on %s" % (USER, HOST))
        self.assertEqual(res.stdout_b, b"")
        res = self.run_secret(["--user", USER, "status"], env=self.kr_env)
        self.assertExit(res, EXIT_NOT_FOUND)
        self.assertIn("libsecret (Secret Service): no secret stored", res.stdout, res.dump())
        # and the keyring itself agrees
        r = self.kr.secret_tool(["lookup", "service", "smtp", "host", HOST, "user", USER])
        self.assertEqual(r.stdout, b"")

    def test_secret_tool_item_is_found_by_get(self):
        self.kr.start_daemon(self.login_password)
        r = self.kr.secret_tool(["store", "--label=made by secret-tool", "service", "smtp",
                                 "host", HOST, "user", USER], stdin=self.secret.encode())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertAnswer(self.get(env=self.kr_env))

    def test_item_we_store_is_found_by_secret_tool(self):
        self.kr.start_daemon(self.login_password)
        self.assertExit(self.set_secret(env=self.kr_env), EX_OK)
        r = self.kr.secret_tool(["lookup", "service", "smtp", "host", HOST, "user", USER])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, self.secret.encode())

    def test_set_replaces_an_older_secret_tool_item(self):
        self.kr.start_daemon(self.login_password)
        old = new_secret()
        r = self.kr.secret_tool(["store", "--label=old", "service", "smtp", "host", HOST,
                                 "user", USER], stdin=old.encode())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertExit(self.set_secret(env=self.kr_env), EX_OK)
        self.assertAnswer(self.get(env=self.kr_env))
        r = self.kr.secret_tool(["search", "--all", "service", "smtp", "host", HOST, "user", USER])
        listing = r.stdout.decode() + r.stderr.decode()
        self.assertEqual(listing.count("[/"), 1, "exactly one item must remain:\n" + listing)

    def test_accounts_are_kept_apart(self):
        self.kr.start_daemon(self.login_password)
        other = new_secret()
        self.assertExit(self.set_secret(env=self.kr_env), EX_OK)
        self.assertExit(self.set_secret(other, user="other@qq.com", env=self.kr_env), EX_OK)
        self.assertAnswer(self.get(env=self.kr_env))
        self.assertAnswer(self.get(user="other@qq.com", env=self.kr_env), other)
        res = self.get(user="third@qq.com", env=self.kr_env)
        self.assertExplained(res, EXIT_NOT_FOUND, "no secret stored in the Secret Service for "
                             "third@qq.com on %s" % HOST)

    def test_git_protocol_store_and_erase(self):
        self.kr.start_daemon(self.login_password)
        res = self.run_secret(["store"], stdin=self.request(extra="password=%s\n" % self.secret),
                              env=self.kr_env)
        self.assertExit(res, EX_OK)
        self.assertNoSecret(res)
        self.assertEqual(res.stdout_b, b"")
        r = self.kr.secret_tool(["lookup", "service", "smtp", "host", HOST, "user", USER])
        self.assertEqual(r.stdout, self.secret.encode())
        res = self.run_secret(["erase"], stdin=self.request(), env=self.kr_env)
        self.assertExit(res, EX_OK)
        r = self.kr.secret_tool(["lookup", "service", "smtp", "host", HOST, "user", USER])
        self.assertEqual(r.stdout, b"")

    def test_locked_collection_is_explained(self):
        self.kr.start_daemon(self.login_password)
        self.assertExit(self.set_secret(env=self.kr_env), EX_OK)
        self.kr.lock_login()
        res = self.get(env=self.kr_env)
        self.assertExplained(res, EX_TEMPFAIL, "the keyring is locked", "unlock it")
        self.assertEqual(res.stdout_b, b"")
        res = self.set_secret(new_secret(), user="new@qq.com", args=["--backend", "libsecret"],
                              env=self.kr_env)
        self.assertExplained(res, EX_TEMPFAIL, "the keyring is locked")
        res = self.run_secret(["--user", USER, "--backend", "libsecret", "erase"],
                              env=self.kr_env)
        self.assertExplained(res, EX_TEMPFAIL, "the keyring is locked")

    def test_no_keyring_daemon_is_explained(self):
        # the bus runs, nothing provides org.freedesktop.secrets
        res = self.get(args=["--backend", "libsecret"], env=self.kr_env)
        self.assertExplained(res, EX_UNAVAILABLE, "no Secret Service on the session bus",
                             "gnome-keyring")
        res = self.set_secret(args=["--backend", "libsecret"], env=self.kr_env)
        self.assertExplained(res, EX_UNAVAILABLE, "no Secret Service on the session bus")
        if os.geteuid() != 0:
            # left to choose, another user has the keyring only: the same explanation
            res = self.set_secret(env=self.kr_env)
            self.assertExplained(res, EX_UNAVAILABLE, "no Secret Service on the session bus")
            return
        # left to choose, root falls back to systemd-creds and says why
        res = self.set_secret(env=self.kr_env)
        self.assertExit(res, EX_OK)
        self.assertIn("using systemd-creds: running as root; no Secret Service answers on the "
                      "session bus", res.stderr, res.dump())
        self.assertTrue(os.path.isfile(self.credfile))

    def test_unresponsive_keyring_is_bounded_by_timeout(self):
        self.kr.start_daemon(self.login_password)
        self.assertExit(self.set_secret(env=self.kr_env), EX_OK)
        os.kill(self.kr.daemon.pid, signal.SIGSTOP)  # on the bus, never answering
        self.addCleanup(os.kill, self.kr.daemon.pid, signal.SIGCONT)
        t0 = time.monotonic()
        res = self.get(args=["--backend", "libsecret", "--timeout", "2"], env=self.kr_env)
        self.assertLess(time.monotonic() - t0, 10, res.dump())
        self.assertExplained(res, EX_TEMPFAIL, "libsecret did not answer within 2 seconds")
        self.assertEqual(res.stdout_b, b"")

    def test_no_session_bus_is_explained_before_dbus(self):
        res = self.get(args=["--backend", "libsecret"])  # self.env: no bus at all
        self.assertExplained(res, EX_UNAVAILABLE, "there is no D-Bus session bus",
                             "DBUS_SESSION_BUS_ADDRESS is not set")
        res = self.run_secret(["--user", USER, "--backend", "libsecret", "status"])
        self.assertExit(res, EXIT_NOT_FOUND)
        self.assertIn("there is no D-Bus session bus", res.stderr, res.dump())

    def test_stale_bus_address_is_explained(self):
        res = self.get(args=["--backend", "libsecret"],
                       env={"DBUS_SESSION_BUS_ADDRESS":
                            "unix:path=" + os.path.join(self.tmp, "no-such-socket")})
        self.assertExplained(res, EX_UNAVAILABLE, "cannot connect to the D-Bus session bus")

    def test_bus_found_through_xdg_runtime_dir(self):
        # systemd's user bus lives at $XDG_RUNTIME_DIR/bus, often without the
        # address being exported: the helper must find it there.
        self.kr.start_daemon(self.login_password)
        self.assertExit(self.set_secret(env=self.kr_env), EX_OK)
        sock = self.kr.env["DBUS_SESSION_BUS_ADDRESS"].split("path=", 1)[1].split(",")[0]
        run = os.path.join(self.tmp, "runtime")
        os.makedirs(run, mode=0o700)
        os.symlink(sock, os.path.join(run, "bus"))
        env = dict(self.kr_env)
        del env["DBUS_SESSION_BUS_ADDRESS"]
        env["XDG_RUNTIME_DIR"] = run
        self.assertAnswer(self.get(args=["--backend", "libsecret"], env=env))

    def test_secret_never_in_proc_or_logs_during_keyring_operations(self):
        needs_root("/proc of a non-dumpable process")
        self.kr.start_daemon(self.login_password)
        half = len(self.secret) // 2
        scanner = ProcScanner([self.secret, self.secret[:half], self.secret[half:]])
        scanner.start()
        self.addCleanup(scanner.stop)
        try:
            p, line = self.start_set_on_pipe(["--user", USER], self.kr_env, self.secret[:half])
            self.assertNotIn(self.secret[:half], line)
            self.assertSecretLocked(p.pid)
            self.assertProcClean(p.pid, [self.secret, self.secret[:half]])
            res = self.finish_set(p, self.secret[half:] + "\n")
            self.assertExit(res, EX_OK)
            self.assertNoSecret(res)
            self.assertAnswer(self.get(env=self.kr_env))
            res = self.run_secret(["--user", USER, "status"], env=self.kr_env)
            self.assertNoSecret(res)
            r = self.kr.secret_tool(["lookup", "service", "smtp", "host", HOST, "user", USER])
            self.assertEqual(r.stdout, self.secret.encode())
            res = self.run_secret(["--user", USER, "erase"], env=self.kr_env)
            self.assertNoSecret(res)
        finally:
            scanner.stop()
        self.assertGreater(scanner.rounds, 3)
        self.assertIn("qqnotify-secret", scanner.comms, "the scanner never saw the helper")
        self.assertIn("gnome-keyring-d", scanner.comms, "the scanner never saw the daemon")
        self.assertEqual(scanner.hits, [], "the secret was in /proc/PID/{cmdline,environ}")


class CredsTest(SecretCase):
    """The systemd-creds backend (root)."""

    def setUp(self):
        super().setUp()
        needs_root(CREDS_NEED_ROOT)
        if not os.access(SYSTEMD_CREDS, os.X_OK):
            self.fail("systemd-creds is missing: apt install systemd / dnf install systemd")

    def creds(self, *args, stdin=None):
        return subprocess.run([SYSTEMD_CREDS] + list(args), input=stdin, capture_output=True,
                              timeout=30)

    def test_set_get_erase_file_mode_and_owner(self):
        res = self.set_secret(args=["--backend", "systemd-creds"])
        self.assertExit(res, EX_OK)
        self.assertNoSecret(res)
        self.assertIn("LoadCredentialEncrypted=qqnotify.smtp:%s" % self.credfile, res.stderr,
                      res.dump())
        st = os.stat(self.credfile)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual((st.st_uid, st.st_gid), (0, 0))
        self.assertTrue(stat.S_ISREG(st.st_mode))
        self.assertEqual(stat.S_IMODE(os.stat(self.credstore).st_mode), 0o700)
        with open(self.credfile, "rb") as f:
            self.assertNotIn(self.secret.encode(), f.read(), "the file is not encrypted")
        self.assertEqual(os.listdir(self.credstore), ["qqnotify.smtp"], "temporary file left")
        # systemd's own tool reads it: it is a real credential named qqnotify.smtp
        r = self.creds("decrypt", "--name=qqnotify.smtp", self.credfile, "-")
        self.assertEqual((r.returncode, r.stdout), (0, self.secret.encode()), r.stderr)

        self.assertAnswer(self.get())
        res = self.run_secret(["--user", USER, "status"])
        self.assertExit(res, EX_OK)
        self.assertIn("systemd-creds (%s): a secret is stored" % self.credfile, res.stdout,
                      res.dump())
        self.assertIn("`set` would use systemd-creds: running as root without a D-Bus session "
                      "bus", res.stdout, res.dump())
        self.assertNoSecret(res)

        res = self.run_secret(["--user", USER, "erase"])
        self.assertExit(res, EX_OK)
        self.assertFalse(os.path.exists(self.credfile))
        res = self.get()
        self.assertExplained(res, EXIT_NOT_FOUND, "no secret stored with systemd-creds")
        self.assertEqual(res.stdout_b, b"")

    def test_set_replaces_the_file_and_keeps_its_mode(self):
        self.assertExit(self.set_secret(args=["--backend", "systemd-creds"]), EX_OK)
        os.chmod(self.credfile, 0o644)
        newer = new_secret()
        self.assertExit(self.set_secret(newer, args=["--backend", "systemd-creds"]), EX_OK)
        self.assertEqual(stat.S_IMODE(os.stat(self.credfile).st_mode), 0o600)
        self.assertAnswer(self.get(), newer)

    def test_root_without_bus_chooses_systemd_creds(self):
        res = self.set_secret()
        self.assertExit(res, EX_OK)
        self.assertIn("using systemd-creds: running as root without a D-Bus session bus",
                      res.stderr, res.dump())
        self.assertTrue(os.path.isfile(self.credfile))

    def test_service_reads_it_through_credentials_directory(self):
        # What PID 1 does for LoadCredentialEncrypted=qqnotify.smtp:FILE: decrypt
        # into the unit's $CREDENTIALS_DIRECTORY, where the service reads it.
        self.assertExit(self.set_secret(args=["--backend", "systemd-creds"]), EX_OK)
        creds_dir = os.path.join(self.tmp, "run-credentials")
        os.makedirs(creds_dir, mode=0o700)
        r = self.creds("decrypt", "--name=qqnotify.smtp", self.credfile,
                       os.path.join(creds_dir, "qqnotify.smtp"))
        self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run([SYSTEMD_CREDS, "cat", "qqnotify.smtp"], capture_output=True,
                           timeout=30, env={"PATH": BASE_PATH, "CREDENTIALS_DIRECTORY": creds_dir})
        self.assertEqual((r.returncode, r.stdout.strip()), (0, self.secret.encode()), r.stderr)

    def test_git_protocol_store(self):
        res = self.run_secret(["--backend", "systemd-creds", "store"],
                              stdin=self.request(extra="password=%s\n" % self.secret))
        self.assertExit(res, EX_OK)
        self.assertNoSecret(res)
        self.assertAnswer(self.get())

    def test_store_without_password_is_refused(self):
        res = self.run_secret(["--backend", "systemd-creds", "store"], stdin=self.request())
        self.assertExit(res, EX_DATAERR)
        self.assertIn("no password= line", res.stderr)
        self.assertFalse(os.path.exists(self.credfile))

    def test_request_for_another_protocol_is_not_answered(self):
        self.assertExit(self.set_secret(args=["--backend", "systemd-creds"]), EX_OK)
        res = self.run_secret(["get"], stdin="protocol=https\nhost=%s\nusername=%s\n\n"
                              % (HOST, USER))
        self.assertExit(res, EX_OK)
        self.assertEqual((res.stdout_b, res.stderr_b), (b"", b""))

    def test_unknown_git_operation_is_ignored(self):
        res = self.run_secret(["capability"], stdin=self.request())
        self.assertExit(res, EX_OK)
        self.assertEqual(res.stdout_b, b"")

    def test_request_host_with_port_and_cr_lf(self):
        self.assertExit(self.set_secret(args=["--backend", "systemd-creds"]), EX_OK)
        res = self.run_secret(["get"], stdin="protocol=smtp\r\nhost=%s:465\r\nusername=%s\r\n"
                              "\r\n" % (HOST, USER))
        self.assertAnswer(res)

    def test_request_with_control_character_is_refused(self):
        res = self.run_secret(["get"], stdin="protocol=smtp\nhost=a\x01b\nusername=x\n\n")
        self.assertExit(res, EX_DATAERR)
        self.assertIn('bad credential line for "host"', res.stderr, res.dump())

    def test_bad_secrets_are_refused(self):
        for bad, phrase in (("", "the secret is empty"),
                            ("abc\x01def", "control character"),
                            ("x" * 1100, "too long")):
            with self.subTest(bad=bad[:10]):
                res = self.set_secret(bad, args=["--backend", "systemd-creds"])
                self.assertExit(res, EX_DATAERR)
                self.assertIn(phrase, res.stderr, res.dump())
                self.assertFalse(os.path.exists(self.credfile))

    def test_hanging_systemd_creds_is_killed_at_the_timeout(self):
        fake = os.path.join(self.tmp, "fake-bin")
        os.makedirs(fake)
        with open(os.path.join(fake, "systemd-creds"), "w") as f:
            f.write("#!/bin/sh\nexec sleep 60\n")
        os.chmod(os.path.join(fake, "systemd-creds"), 0o755)
        t0 = time.monotonic()
        res = self.set_secret(args=["--backend", "systemd-creds", "--timeout", "1"],
                              env={"PATH": fake + ":" + BASE_PATH})
        self.assertLess(time.monotonic() - t0, 10, res.dump())
        self.assertExplained(res, EX_TEMPFAIL, "did not finish within 1 s")
        self.assertFalse(os.path.exists(self.credfile))
        self.assertEqual(os.listdir(self.credstore), [], "temporary file left behind")

    def test_missing_systemd_creds_is_explained(self):
        empty = os.path.join(self.tmp, "empty-bin")
        os.makedirs(empty)
        res = self.set_secret(args=["--backend", "systemd-creds"], env={"PATH": empty})
        self.assertExplained(res, EX_UNAVAILABLE, "systemd-creds is not installed",
                             "apt install systemd", "dnf install systemd")
        self.assertFalse(os.path.exists(self.credfile))

    def test_not_root_is_explained(self):
        self.assertExit(self.set_secret(args=["--backend", "systemd-creds"]), EX_OK)
        os.chmod(self.credstore, 0o700)
        bindir = os.path.join(self.tmp, "bin")
        os.makedirs(bindir)
        os.chmod(bindir, 0o755)
        copy = os.path.join(bindir, "qqnotify-secret")
        shutil.copy(self.sbin, copy)
        os.chmod(copy, 0o755)
        setpriv = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups",
                   "--"]
        res = self.run_secret(["--backend", "systemd-creds", "get"], stdin=self.request(),
                              binary=copy, prefix=setpriv)
        self.assertExplained(res, EX_NOPERM, "systemd-creds needs root", "sudo")
        self.assertEqual(res.stdout_b, b"")
        res = self.run_secret(["--backend", "systemd-creds", "--user", USER, "set"],
                              stdin=new_secret() + "\n", binary=copy, prefix=setpriv)
        self.assertExplained(res, EX_NOPERM, "systemd-creds needs root")
        # not root, no bus: nothing to choose from, and it says what to do
        res = self.run_secret(["get"], stdin=self.request(), binary=copy, prefix=setpriv)
        self.assertExplained(res, EX_UNAVAILABLE, "there is no D-Bus session bus")

    def test_damaged_or_foreign_credential_is_explained(self):
        os.makedirs(self.credstore, mode=0o700)
        # a credential encrypted for another name, renamed into place
        r = self.creds("encrypt", "--name=other", "--with-key=host", "-", self.credfile,
                       stdin=self.secret.encode())
        self.assertEqual(r.returncode, 0, r.stderr)
        res = self.get()
        self.assertExplained(res, EX_UNAVAILABLE, "systemd-creds failed",
                             "does not match filename")
        self.assertEqual(res.stdout_b, b"")

    def test_get_refuses_a_terminal_unless_forced(self):
        self.assertExit(self.set_secret(args=["--backend", "systemd-creds"]), EX_OK)
        rc, output = self.run_on_pty(["--user", USER, "get"], stdin_tty=False)
        self.assertEqual(rc, EX_USAGE, output)
        self.assertIn("refusing to print the secret on a terminal", output)
        self.assertNotIn(self.secret, output)
        rc, output = self.run_on_pty(["--user", USER, "--force", "get"], stdin_tty=False)
        self.assertEqual(rc, EX_OK, output)
        self.assertIn("password=" + self.secret, output)

    def test_interactive_set_prompts_twice_without_echo(self):
        rc, output = self.run_on_pty(["--backend", "systemd-creds", "--user", USER, "set"],
                                     answers=[(PROMPT, self.secret), (REPEAT, self.secret)])
        self.assertEqual(rc, EX_OK, output)
        self.assertIn("Authorization code for %s on %s (input hidden): " % (USER, HOST), output)
        self.assertIn("Repeat it: ", output)
        self.assertNotIn(self.secret, output, "the typed secret was echoed")
        self.assertAnswer(self.get())

    def test_interactive_set_refuses_two_different_entries(self):
        rc, output = self.run_on_pty(["--backend", "systemd-creds", "--user", USER, "set"],
                                     answers=[(PROMPT, self.secret), (REPEAT, new_secret())])
        self.assertEqual(rc, EX_DATAERR, output)
        self.assertIn("the two entries differ; nothing was stored", output)
        self.assertFalse(os.path.exists(self.credfile))

    def test_interactive_erase_says_what_it_did(self):
        self.assertExit(self.set_secret(args=["--backend", "systemd-creds"]), EX_OK)
        rc, output = self.run_on_pty(["--user", USER, "erase"])
        self.assertEqual(rc, EX_OK, output)
        self.assertIn("erased the secret for %s on %s from systemd-creds" % (USER, HOST), output)
        self.assertFalse(os.path.exists(self.credfile))
        rc, output = self.run_on_pty(["--user", USER, "erase"])
        self.assertEqual(rc, EXIT_NOT_FOUND, output)
        self.assertIn("nothing to erase", output)

    def run_on_pty(self, args, answers=(), stdin_tty=True, timeout=20):
        """Run with stdout/stderr (and stdin) on a pseudo-terminal; ANSWERS are
        (prompt, text) pairs: TEXT is typed once PROMPT has been shown.  Returns
        (exit code, everything the terminal showed)."""
        master, slave = pty.openpty()
        argv = [self.sbin, "--lang", "en", "--credstore", self.credstore] + list(args)
        p = subprocess.Popen(argv, stdin=slave if stdin_tty else subprocess.DEVNULL,
                             stdout=slave, stderr=slave, env=self.env, cwd=self.tmp,
                             start_new_session=True)
        os.close(slave)
        self.addCleanup(stop_process, p)
        shown = b""
        pending = list(answers)
        prompted = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                r, _, _ = select.select([master], [], [], 0.1)
                if r:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:  # EIO: the program closed the terminal
                        break
                    if not chunk:
                        break
                    shown += chunk
                    # type only after the prompt, which comes after echo is off
                    while pending and shown.count(pending[0][0].encode()) > prompted.count(
                            pending[0][0]):
                        prompt, text = pending.pop(0)
                        prompted.append(prompt)
                        os.write(master, text.encode() + b"\n")
                elif p.poll() is not None:
                    break
        finally:
            os.close(master)
        try:
            rc = p.wait(5)
        except subprocess.TimeoutExpired:
            stop_process(p)
            self.fail("qqnotify-secret did not finish on the terminal:\n%r" % shown)
        return rc, shown.decode("utf-8", "replace")

    def test_secret_never_in_proc_of_helper_or_systemd_creds(self):
        # A systemd-creds in front of the real one records how it is started.
        wrap = os.path.join(self.tmp, "wrap")
        os.makedirs(wrap)
        log = os.path.join(self.tmp, "systemd-creds.log")
        with open(os.path.join(wrap, "systemd-creds"), "w") as f:
            f.write("#!/bin/sh\n"
                    "{ printf 'argv:'; printf ' %%s' \"$@\"; printf '\\n';"
                    " tr '\\0' '\\n' < /proc/$$/environ; } >> %s\n"
                    "exec %s \"$@\"\n" % (log, SYSTEMD_CREDS))
        os.chmod(os.path.join(wrap, "systemd-creds"), 0o755)
        env = dict(self.env)
        env["PATH"] = wrap + ":" + BASE_PATH

        half = len(self.secret) // 2
        scanner = ProcScanner([self.secret, self.secret[:half], self.secret[half:]])
        scanner.start()
        self.addCleanup(scanner.stop)
        try:
            p, line = self.start_set_on_pipe(["--backend", "systemd-creds", "--user", USER],
                                             env, self.secret[:half])
            self.assertNotIn(self.secret[:half], line)
            self.assertSecretLocked(p.pid)
            self.assertProcClean(p.pid, [self.secret, self.secret[:half]])
            res = self.finish_set(p, self.secret[half:] + "\n")
            self.assertExit(res, EX_OK)
            self.assertNoSecret(res)
            self.assertAnswer(self.get(env=env))
            res = self.run_secret(["--user", USER, "status"], env=env)
            self.assertNoSecret(res)
        finally:
            scanner.stop()
        with open(log) as f:
            recorded = f.read()
        self.assertIn("argv: encrypt --name=qqnotify.smtp --with-key=host - ", recorded)
        self.assertIn("argv: decrypt --name=qqnotify.smtp %s -" % self.credfile, recorded)
        for part in (self.secret, self.secret[:half], self.secret[half:]):
            self.assertNotIn(part, recorded, "systemd-creds got the secret in argv or environ")
        self.assertGreater(scanner.rounds, 3)
        self.assertIn("qqnotify-secret", scanner.comms, "the scanner never saw the helper")
        self.assertEqual(scanner.hits, [], "the secret was in /proc/PID/{cmdline,environ}")


class EndToEndTest(SecretCase):
    """qqnotify (the core's cred module) gets the secret from qqnotify-secret."""

    def setUp(self):
        super().setUp()
        if not (os.path.isfile(self.bin) and os.access(self.bin, os.X_OK)):
            self.fail("qqnotify is missing: %s (make all)" % self.bin)
        self.srv = self.smtp_server("implicit")

    def helper_config(self, helper_args):
        return self.write_config(port=self.srv.port, tls="implicit", extra_smtp={
            "credential_helper": "%s %s" % (self.sbin, helper_args)})

    def helper_config_raw(self, command):
        return self.write_config(port=self.srv.port, tls="implicit",
                                 extra_smtp={"credential_helper": command})

    def test_send_with_secret_from_systemd_creds_helper(self):
        needs_root(CREDS_NEED_ROOT)
        self.assertExit(self.set_secret(args=["--backend", "systemd-creds"]), EX_OK)
        conf = self.helper_config("--backend systemd-creds --credstore %s" % self.credstore)
        res = self.run_qn(["check"], config=conf, creds=False)
        self.assertExit(res, EX_OK)
        self.assertNoSecret(res)
        self.assertIn("credential helper `%s" % self.sbin, res.stdout, res.dump())
        res = self.run_qn(["send", "--to", "ops@example.com", "--subject", "helper test"],
                          stdin="body\n", config=conf, creds=False)
        self.assertExit(res, EX_OK)
        self.assertNoSecret(res)
        self.assertEqual(self.srv.wait_messages(1, timeout=10), 1)
        # one AUTH for check, one for send
        self.assertEqual((self.srv.auth_successes, self.srv.auth_failures), (2, 0))

    def test_send_with_secret_from_libsecret_helper(self):
        kr = Keyring(os.path.join(self.tmp, "keyring"))
        self.addCleanup(kr.stop)
        kr.start_daemon(new_secret())
        # the config names the server 127.0.0.1: the item must be for that host
        self.assertExit(self.set_secret(args=["--backend", "libsecret", "--host", "127.0.0.1"],
                                        env=kr.env), EX_OK)
        conf = self.helper_config("--backend libsecret")
        env = {k: kr.env[k] for k in ("DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR")}
        res = self.run_qn(["send", "--to", "ops@example.com", "--subject", "keyring test"],
                          stdin="body\n", config=conf, creds=False, env=env)
        self.assertExit(res, EX_OK)
        self.assertNoSecret(res)
        self.assertEqual(self.srv.wait_messages(1, timeout=10), 1)

    def test_git_credential_uses_the_helper(self):
        # git itself as the client: fill (get), approve (store), reject (erase)
        needs_root(CREDS_NEED_ROOT)
        helper = "%s --backend systemd-creds --credstore %s" % (self.sbin, self.credstore)
        git = ["git", "-c", "credential.helper=", "-c", "credential.helper=" + helper,
               "credential"]
        env = dict(self.env)
        env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"})
        req = self.request().encode()
        r = subprocess.run(git + ["approve"], input=self.request(
            extra="password=%s\n" % self.secret).encode(), env=env, capture_output=True,
            timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.isfile(self.credfile))
        r = subprocess.run(git + ["fill"], input=req, env=env, capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"password=" + self.secret.encode() + b"\n", r.stdout)
        r = subprocess.run(git + ["reject"], input=req, env=env, capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(self.credfile))

    def test_config_may_name_a_git_credential_helper(self):
        # the other way round: qqnotify's credential_helper is any git helper
        store = self.write("git-credentials", "smtp://%s:%s@127.0.0.1\n"
                           % (USER.replace("@", "%40"), self.secret), mode=0o600)
        conf = self.helper_config_raw("git credential-store --file %s" % store)
        res = self.run_qn(["send", "--to", "ops@example.com", "--subject", "git helper"],
                          stdin="body\n", config=conf, creds=False,
                          env={"GIT_CONFIG_NOSYSTEM": "1"})
        self.assertExit(res, EX_OK)
        self.assertNoSecret(res)
        self.assertEqual(self.srv.wait_messages(1, timeout=10), 1)

    def test_check_names_the_systemd_credential_loaded_by_pid1(self):
        needs_root(CREDS_NEED_ROOT)
        self.assertExit(self.set_secret(args=["--backend", "systemd-creds"]), EX_OK)
        creds_dir = os.path.join(self.tmp, "run-credentials")
        os.makedirs(creds_dir, mode=0o700)
        loaded = os.path.join(creds_dir, "qqnotify.smtp")
        r = subprocess.run([SYSTEMD_CREDS, "decrypt", "--name=qqnotify.smtp", self.credfile,
                            loaded], capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        os.chmod(loaded, 0o400)  # as PID 1 leaves it
        self.creds_dir = creds_dir
        conf = self.write_config(port=self.srv.port, tls="implicit")
        res = self.run_qn(["check"], config=conf)
        self.assertExit(res, EX_OK)
        self.assertNoSecret(res)
        self.assertIn(os.path.join(creds_dir, "qqnotify.smtp"), res.stdout, res.dump())

    def test_helper_failure_reaches_qqnotify_check(self):
        # nothing stored: check fails at the credential stage and shows our fix
        conf = self.helper_config("--backend systemd-creds --credstore %s" % self.credstore)
        res = self.run_qn(["check"], config=conf, creds=False)
        self.assertNotEqual(res.rc, EX_OK, res.dump())
        self.assertIn("no secret stored with systemd-creds", res.stderr, res.dump())


class ConfigTest(SecretCase):
    """The account comes from the configuration when not given."""

    def test_account_from_config_file(self):
        needs_root(CREDS_NEED_ROOT)
        conf = self.write_config(host="mail.example.com", provider="custom", port=465,
                                 user="cfg@example.com")
        res = self.run_secret(["-c", conf, "--backend", "systemd-creds", "set"],
                              stdin=self.secret + "\n")
        self.assertExit(res, EX_OK)
        res = self.run_secret(["-c", conf, "status"])
        self.assertIn("account: cfg@example.com on mail.example.com", res.stdout, res.dump())
        self.assertExit(res, EX_OK)

    def test_missing_config_without_user_is_explained(self):
        res = self.run_secret(["-c", os.path.join(self.tmp, "none.conf"), "status"])
        self.assertExplained(res, EX_CONFIG, "the configuration file does not exist")
        # --user alone is enough: the host is then QQ's
        res = self.run_secret(["-c", os.path.join(self.tmp, "none.conf"), "--user", USER,
                               "status"])
        self.assertExplained(res, EX_CONFIG, "the configuration file does not exist")

    def test_password_in_config_is_refused(self):
        conf = self.write_config(extra_smtp={"password": self.secret})
        res = self.run_secret(["-c", conf, "status"])
        self.assertExplained(res, EX_CONFIG, "must not hold the password",
                             "store the authorization code with `qqnotify-secret set`")
        self.assertRegex(res.stderr, r"qqnotify\.conf:\d+: ", "no file:line" + res.dump())


if __name__ == "__main__":
    unittest.main()


class RouteSecretTest(SecretCase):
    """`qqnotify-secret --route NAME`: a chat robot route's secret, in both
    backends, read back by qqnotify through its credential path."""

    def setUp(self):
        super().setUp()
        self.token = new_secret()
        self.sign = "SEC" + new_secret() + new_secret()
        self.conf = self.write("routes.conf",
                               "[notify]\nroutes = ops\n[route ops]\ntype = dingtalk\n"
                               "[route wx]\ntype = wecom\n")
        self.routefile = os.path.join(self.credstore, "qqnotify.route.ops")

    def route_request(self, name="ops"):
        return "protocol=qqnotify-route\nhost=%s\nusername=\n\n" % name

    def assertNoRouteSecret(self, res):
        for part in (self.token, self.sign):
            self.assertNotIn(part, res.stdout + res.stderr, "the secret leaked" + res.dump())

    def need_root(self):
        if os.geteuid() != 0:
            self.fail("the systemd-creds tests need root (make check runs as root)")

    def test_set_get_status_erase_with_systemd_creds(self):
        self.need_root()
        res = self.run_secret(["-c", self.conf, "--backend", "systemd-creds", "--route", "ops",
                               "set"], stdin="%s\n%s\n" % (self.token, self.sign))
        self.assertExit(res, EX_OK)
        self.assertNoRouteSecret(res)
        self.assertIn("LoadCredentialEncrypted=qqnotify.route.ops:%s" % self.routefile,
                      res.stderr, res.dump())
        self.assertEqual(stat.S_IMODE(os.stat(self.routefile).st_mode), 0o600)
        r = subprocess.run([SYSTEMD_CREDS, "decrypt", "--name=qqnotify.route.ops", self.routefile,
                            "-"], capture_output=True, timeout=30)
        self.assertEqual((r.returncode, r.stdout), (0, ("%s\n%s" % (self.token, self.sign))
                                                    .encode()), r.stderr)
        # A program asks by the route's name; the signing secret has a key of its own.
        res = self.run_secret(["--backend", "systemd-creds", "get"], stdin=self.route_request())
        self.assertExit(res, EX_OK)
        self.assertEqual(res.stdout_b, ("password=%s\nqqnotify_signing_secret=%s\n"
                                        % (self.token, self.sign)).encode())
        res = self.run_secret(["--backend", "systemd-creds", "--route", "ops", "status"])
        self.assertExit(res, EX_OK)
        self.assertIn("route: ops", res.stdout)
        self.assertIn("systemd-creds (%s): a secret is stored" % self.routefile, res.stdout)
        self.assertNoRouteSecret(res)
        # The SMTP account's credential is another file, untouched.
        self.assertFalse(os.path.exists(self.credfile))
        res = self.run_secret(["--backend", "systemd-creds", "--route", "ops", "erase"])
        self.assertExit(res, EX_OK)
        self.assertFalse(os.path.exists(self.routefile))

    def test_a_secret_of_the_wrong_form_is_not_stored(self):
        self.need_root()
        for route, text, why in (
                ("wx", "%s\n%s\n" % (self.token, self.sign), "more lines than the secret of a "
                 "wecom robot has"),
                ("ops", "%s\nnot-a-signing-secret\n" % self.token, "starts with SEC"),
                ("ops", "https://oapi.dingtalk.com/robot/send?access_token=%s\n" % self.token,
                 "not the whole address")):
            with self.subTest(route=route, why=why):
                res = self.run_secret(["-c", self.conf, "--backend", "systemd-creds", "--route",
                                       route, "set"], stdin=text)
                self.assertExit(res, EX_DATAERR)
                self.assertIn(why, res.stderr, res.dump())
                self.assertNoRouteSecret(res)
                self.assertFalse(os.path.exists(os.path.join(self.credstore,
                                                             "qqnotify.route." + route)))

    def test_a_route_the_configuration_lacks_is_explained(self):
        self.need_root()
        res = self.run_secret(["-c", self.conf, "--backend", "systemd-creds", "--route", "nope",
                               "set"], stdin="%s\n" % self.token)
        self.assertExplained(res, EX_CONFIG, "declares no [route nope]")
        res = self.run_secret(["--route", "Bad.Name", "status"])
        self.assertExit(res, EX_USAGE)

    def test_keyring_keeps_routes_apart_from_the_account(self):
        kr = Keyring(os.path.join(self.tmp, "keyring"))
        self.addCleanup(kr.stop)
        kr.start_daemon(new_secret())
        env = dict(self.env)
        env.update(kr.env)
        res = self.run_secret(["-c", self.conf, "--backend", "libsecret", "--route", "wx", "set"],
                              stdin="%s\n" % self.token, env=env)
        self.assertExit(res, EX_OK)
        self.assertIn("stored the secret for route wx in the Secret Service", res.stderr)
        r = kr.secret_tool(["lookup", "service", "qqnotify-route", "host", "wx", "user", ""])
        self.assertEqual(r.stdout, self.token.encode())
        res = self.run_secret(["--backend", "libsecret", "get"], stdin=self.route_request("wx"),
                              env=env)
        self.assertExit(res, EX_OK)
        self.assertEqual(res.stdout_b, ("password=%s\n" % self.token).encode())
        res = self.run_secret(["--backend", "libsecret", "--user", USER, "get"],
                              stdin=self.request(), env=env)
        self.assertExit(res, EXIT_NOT_FOUND)


class RouteEndToEndTest(SecretCase):
    """qqnotify flush sends through a DingTalk simulator with the route's secret
    from qqnotify-secret (the helper) or from the systemd credential PID 1 loads."""

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.fail("the systemd-creds tests need root (make check runs as root)")
        import robotsim
        self.token = new_secret()
        self.sign = "SEC" + new_secret() + new_secret()
        c, k = self.ca.pair("server")
        self.sim = robotsim.RobotSim("dingtalk", c, k, self.token, sign_secret=self.sign)
        self.sim.start()
        self.addCleanup(self.sim.stop)
        self.spool = self.make_spool()

    def config(self, helper=None):
        text = ("[smtp]\nuser = %s\n%s[notify]\nroutes = ops\nlanguage = en\n%s"
                "[route ops]\ntype = dingtalk\nurl = %s\nca_file = %s\n"
                % (USER, "credential_helper = %s\n" % helper if helper else "",
                   self.spool_section(self.spool), self.sim.url, self.ca.ca_cert))
        return self.write("qqnotify.conf", text)

    def store(self, conf):
        res = self.run_secret(["-c", conf, "--backend", "systemd-creds", "--route", "ops", "set"],
                              stdin="%s\n%s\n" % (self.token, self.sign))
        self.assertExit(res, EX_OK)

    def flush_one(self, conf, **kw):
        res = self.run_qn(["notify", "--no-flush", "route test"], config=conf, creds=False)
        self.assertExit(res, EX_OK)
        res = self.run_qn(["flush"], config=conf, **kw)
        self.assertExit(res, EX_OK)
        for part in (self.token, self.sign):
            self.assertNotIn(part, res.stdout + res.stderr)
        self.assertEqual(len(self.sim.accepted()), 1, [r["answer"] for r in self.sim.requests])

    def test_flush_gets_the_route_secret_from_the_helper(self):
        conf = self.config("%s --backend systemd-creds --credstore %s"
                           % (self.sbin, self.credstore))
        self.store(conf)
        self.flush_one(conf, creds=False)

    def test_flush_reads_the_credential_pid1_decrypted(self):
        conf = self.config()
        self.store(conf)
        creds_dir = os.path.join(self.tmp, "run-credentials")
        os.makedirs(creds_dir, mode=0o700)
        loaded = os.path.join(creds_dir, "qqnotify.route.ops")
        r = subprocess.run([SYSTEMD_CREDS, "decrypt", "--name=qqnotify.route.ops",
                            os.path.join(self.credstore, "qqnotify.route.ops"), loaded],
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        os.chmod(loaded, 0o400)
        self.creds_dir = creds_dir
        self.flush_one(conf)
