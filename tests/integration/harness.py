"""harness — shared helpers for the integration tests.

The binary under test is $QN_BUILD/qqnotify (run.py sets QN_BUILD from
--build; default: <repo>/build).  A test that needs it FAILS (never skips)
when it is missing.

QNTestCase gives every test a private temp dir, the per-run CA (tlsca),
config/secret writers, server starters that are stopped on cleanup,
make_spool() (a spool made by `qqnotify queue init --dir` for the run's
throw-away spool user and drop group, with a set-group-ID test copy of
qqnotify-drop), and run_qn(), which runs the binary with a bounded time and
returns a Result.
"""

import atexit
import grp
import os
import pwd
import re
import secrets
import shutil
import string
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import faultserver  # noqa: E402
import smtpserver  # noqa: E402
import tlsca  # noqa: E402

USER = "sender@qq.com"
FROM_NAME = "服务器告警"

# sysexits, as the CLI contract defines them
EX_OK = 0
EX_USAGE = 64
EX_DATAERR = 65
EX_UNAVAILABLE = 69
EX_TEMPFAIL = 75
EX_PROTOCOL = 76
EX_NOPERM = 77
EX_CONFIG = 78

_DIAG_RE = re.compile(r"^\s*diagnosis:\s*(\S+)\s*$", re.M)

# The reason of a test that ends as not run because it needs root (run.py counts these
# apart from failures when the tests run as another user).
NEEDS_ROOT = "needs root: "


def needs_root(why):
    """As root, nothing.  As another user, end the test as not run, because of WHY (a few
    words: what only root may do); any other skip is a failure."""
    if os.geteuid() != 0:
        raise unittest.SkipTest(NEEDS_ROOT + why)


# And one that needs mount namespaces where there are none (a chroot, some containers):
# not run, for any user, and said so at the end.
NEEDS_NS = "needs namespaces: "
_ns_answer = []


def have_namespaces():
    """Whether `unshare -m -n true` works here (asked once)."""
    if not _ns_answer:
        try:
            p = subprocess.run(["unshare", "-m", "-n", "true"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=30)
            _ns_answer.append(p.returncode == 0)
        except (OSError, subprocess.TimeoutExpired):
            _ns_answer.append(False)
    return _ns_answer[0]


def needs_namespaces(why):
    """Where mount namespaces cannot be made, end the test as not run, because of WHY."""
    if not have_namespaces():
        raise unittest.SkipTest(NEEDS_NS + why)


def build_dir():
    d = os.environ.get("QN_BUILD") or os.path.join(REPO, "build")
    return os.path.abspath(d)


def qqnotify_path():
    return os.path.join(build_dir(), "qqnotify")


def drop_path():
    return os.path.join(build_dir(), "qqnotify-drop")


class SpoolOwners:
    """The run's throw-away spool user (with its own group) and drop group, made once
    (useradd/groupadd, unique names) and removed when the run ends; and a copy of
    qqnotify-drop in a directory every user may pass through, root:DROP_GROUP 2755,
    which `QQNOTIFY_DROP` points the CLI at.  Not as root (no users can be made): the
    current user and its primary group stand in, which is enough for the programs'
    own logic but proves nothing about privileges."""

    _the = None

    @classmethod
    def get(cls):
        if cls._the is None:
            cls._the = cls()
        return cls._the

    def __init__(self):
        tag = secrets.token_hex(3)
        self.made_users, self.made_groups = [], []
        self.dir = tempfile.mkdtemp(prefix="qqnotify-owners-")
        os.chmod(self.dir, 0o711)
        atexit.register(self.remove)
        if os.geteuid() == 0:
            self.user, self.drop_group = "qnt-spool-" + tag, "qnt-drop-" + tag
            self._run(["useradd", "--system", "--user-group", "--no-create-home",
                       "--home-dir", "/", "--shell", "/usr/sbin/nologin", self.user])
            self.made_users.append(self.user)
            self._run(["groupadd", "--system", self.drop_group])
            self.made_groups.append(self.drop_group)
        else:
            self.user = pwd.getpwuid(os.geteuid()).pw_name
            self.drop_group = grp.getgrgid(os.getegid()).gr_name
        pw = pwd.getpwnam(self.user)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        self.drop_gid = grp.getgrnam(self.drop_group).gr_gid
        self.drop = os.path.join(self.dir, "qqnotify-drop")
        if os.path.exists(drop_path()):
            shutil.copyfile(drop_path(), self.drop)
            os.chown(self.drop, 0 if os.geteuid() == 0 else -1, self.drop_gid)
            os.chmod(self.drop, 0o2755)

    @staticmethod
    def _run(argv):
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError("%s: %s" % (" ".join(argv), p.stderr.decode(errors="replace")))

    def add_user(self, prefix="qnt-user-"):
        """A throw-away login user (own group, no home), removed with the rest: the
        unprivileged attacker of the security tests.  Returns (name, uid, gid)."""
        name = prefix + secrets.token_hex(3)
        self._run(["useradd", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                   "--shell", "/bin/sh", name])
        self.made_users.append(name)
        pw = pwd.getpwnam(name)
        return name, pw.pw_uid, pw.pw_gid

    def remove(self):
        for u in reversed(self.made_users):
            subprocess.run(["userdel", u], capture_output=True, timeout=60)
        for g in self.made_groups:
            subprocess.run(["groupdel", g], capture_output=True, timeout=60)
        self.made_users, self.made_groups = [], []
        shutil.rmtree(self.dir, True)

    def spool_section(self, spool):
        return "[spool]\ndir = %s\nuser = %s\ndrop_group = %s\n" % (spool, self.user,
                                                                   self.drop_group)


def new_secret():
    """A fresh throw-away secret shaped like a QQ authorization code."""
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(16))


class Result:
    def __init__(self, args, rc, stdout, stderr, elapsed, timed_out=False):
        self.args = args
        self.rc = rc
        self.stdout_b = stdout
        self.stderr_b = stderr
        self.stdout = stdout.decode("utf-8", "replace")
        self.stderr = stderr.decode("utf-8", "replace")
        self.elapsed = elapsed
        self.timed_out = timed_out

    @property
    def diagnosis(self):
        """The id of the last `diagnosis: <id>` line on stderr, or None."""
        m = _DIAG_RE.findall(self.stderr)
        return m[-1] if m else None

    def dump(self):
        return ("\n--- command: %s\n--- exit: %s%s (%.2fs)\n--- stdout:\n%s\n--- stderr:\n%s\n---"
                % (" ".join(self.args), self.rc, " (killed: timed out)" if self.timed_out else "",
                   self.elapsed, self.stdout, self.stderr))


def run_bounded(argv, stdin, env, cwd, timeout):
    """Run ARGV in its own session with STDIN (bytes); killed after TIMEOUT seconds
    (Result.timed_out set then)."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env, cwd=cwd, start_new_session=True)
    timed_out = False
    try:
        out, err = p.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        p.kill()
        out, err = p.communicate()
    return Result(argv, p.returncode, out, err, time.monotonic() - t0, timed_out)


class QNTestCase(unittest.TestCase):
    """Base class: tests that run the binary."""

    needs_binary = True
    maxDiff = None

    def setUp(self):
        super().setUp()
        self.bin = qqnotify_path()
        if self.needs_binary and not (os.path.isfile(self.bin) and os.access(self.bin, os.X_OK)):
            self.fail("the binary under test does not exist: %s (build it with `make all`; "
                      "run.py --build DIR chooses the build directory)" % self.bin)
        self.tmp = tempfile.mkdtemp(prefix="qqnotify-it-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.ca = tlsca.get()
        self.secret = new_secret()
        self.creds_dir = None
        self.owners = None  # SpoolOwners, once make_spool() ran

    # -- the spool ---------------------------------------------------------------
    def make_spool(self, path=None):
        """A spool at PATH (default <tmp>/spool) made by `qqnotify queue init --dir` with
        the run's throw-away spool user and drop group (SpoolOwners); the temp dir and
        PATH's parent are made passable (0711) so the spool user reaches it.  Configs
        name it with self.spool_section(PATH).  Returns PATH."""
        self.owners = SpoolOwners.get()
        path = path or self.path("spool")
        os.chmod(self.tmp, 0o711)
        parent = os.path.dirname(path.rstrip("/"))
        if parent != self.tmp and os.path.isdir(parent):
            os.chmod(parent, 0o711)
        cfg = self.write("spool-init.conf", "[smtp]\nuser = init@example.com\n"
                         + self.owners.spool_section(path))
        res = self.run_qn(["queue", "init", "--dir", path], config=cfg, creds=False,
                          timeout=60)
        if res.rc != 0:
            raise AssertionError("qqnotify queue init failed" + res.dump())
        return path

    def spool_section(self, spool):
        """The [spool] lines of a config for SPOOL (made by make_spool)."""
        if self.owners is None:
            self.owners = SpoolOwners.get()
        return self.owners.spool_section(spool)

    def as_user(self, name, uid, gid):
        """setpriv's argv prefix that runs a command as that user, no other group."""
        return ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups"]

    # -- files -------------------------------------------------------------------
    def path(self, name):
        return os.path.join(self.tmp, name)

    def write(self, name, data, mode=0o644):
        p = self.path(name)
        if isinstance(data, str):
            data = data.encode("utf-8")
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, mode)
        return p

    def write_secret(self, secret=None, newline=False):
        """$CREDENTIALS_DIRECTORY with qqnotify.smtp holding the secret."""
        d = os.path.join(self.tmp, "credentials")
        os.makedirs(d, mode=0o700, exist_ok=True)
        s = self.secret if secret is None else secret
        p = os.path.join(d, "qqnotify.smtp")
        with open(p, "wb") as f:
            f.write(s.encode("utf-8") + (b"\n" if newline else b""))
        os.chmod(p, 0o600)
        self.creds_dir = d
        return d

    def write_config(self, port=None, host="127.0.0.1", tls="implicit", provider="custom",
                     ca_file=True, user=USER, from_name=FROM_NAME, timeout=5,
                     to="a@example.com", language="en", extra_smtp=None, name="qqnotify.conf",
                     raw_text=None):
        """Write an INI config; returns its path.  Keys set to None are left out."""
        if raw_text is not None:
            return self.write(name, raw_text)
        smtp = [("provider", provider), ("host", host), ("port", port), ("tls", tls),
                ("ca_file", self.ca.ca_cert if ca_file is True else (ca_file or None)),
                ("user", user), ("from_name", from_name), ("timeout", timeout)]
        lines = ["# written by the integration tests", "[smtp]"]
        lines += ["%s = %s" % (k, v) for k, v in smtp if v is not None]
        for k, v in (extra_smtp or {}).items():
            lines.append("%s = %s" % (k, v))
        lines += ["", "[notify]"]
        if to is not None:
            lines.append("to = %s" % to)
        if language is not None:
            lines.append("language = %s" % language)
        return self.write(name, "\n".join(lines) + "\n")

    # -- servers -----------------------------------------------------------------
    def smtp_server(self, mode="implicit", cert="server", **kw):
        c, k = self.ca.pair(cert)
        kw.setdefault("user", USER)
        kw.setdefault("password", self.secret)
        srv = smtpserver.SMTPServer(mode, cert=c, key=k, **kw)
        srv.start()
        self.addCleanup(srv.stop)
        return srv

    def fault_server(self, mode="implicit", script=None, cert="server", **kw):
        c, k = self.ca.pair(cert) if cert else (None, None)
        srv = faultserver.FaultServer(mode, script, cert=c, key=k, **kw)
        srv.start()
        self.addCleanup(srv.stop)
        return srv

    # -- running the binary ------------------------------------------------------
    def run_qn(self, args, stdin=b"", config=None, lang="en", creds=True, timeout=60,
               env=None, prefix=None):
        """Run qqnotify [-c CONFIG] [--lang LANG] ARGS with STDIN; never longer
        than TIMEOUT seconds (killed then, and Result.timed_out is set).  PREFIX
        (e.g. self.as_user(...)) runs it through another program."""
        if isinstance(stdin, str):
            stdin = stdin.encode("utf-8")
        argv = [self.bin]
        if config:
            argv += ["-c", config]
        if lang:
            argv += ["--lang", lang]
        argv += list(args)
        e = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": self.tmp,
             "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TZ": "UTC"}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "MSAN_OPTIONS"):
            if k in os.environ:
                e[k] = os.environ[k]
        if creds:
            e["CREDENTIALS_DIRECTORY"] = self.creds_dir or self.write_secret()
        if self.owners is not None:
            e["QQNOTIFY_DROP"] = self.owners.drop
        if env:
            e.update(env)
        if prefix:
            argv = list(prefix) + argv
        return run_bounded(argv, stdin, e, self.tmp, timeout)

    # -- assertions --------------------------------------------------------------
    def assertExit(self, res, code, msg=""):
        self.assertFalse(res.timed_out, "qqnotify did not finish in time" + res.dump())
        self.assertEqual(res.rc, code, "unexpected exit code %s %s" % (msg, res.dump()))

    def assertDiagnosis(self, res, expected):
        """EXPECTED: one id or a tuple of acceptable ids."""
        ids = (expected,) if isinstance(expected, str) else tuple(expected)
        self.assertIn(res.diagnosis, ids,
                      "expected a line `diagnosis: %s` on stderr" % " | ".join(ids) + res.dump())

    def assertFailureExplained(self, res):
        """A failure says why and what to do: the diagnosis line plus more text."""
        self.assertIsNotNone(res.diagnosis, "no `diagnosis:` line" + res.dump())
        other = [l for l in res.stderr.splitlines()
                 if l.strip() and not _DIAG_RE.match(l)]
        self.assertGreaterEqual(len(other), 2, "expected cause and fix lines" + res.dump())

    def assertNoSecret(self, res):
        for stream, text in (("stdout", res.stdout), ("stderr", res.stderr)):
            self.assertNotIn(self.secret, text, "the secret leaked to " + stream + res.dump())
