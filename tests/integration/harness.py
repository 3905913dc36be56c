"""harness — shared helpers for the integration tests.

The binary under test is $QN_BUILD/qqnotify (run.py sets QN_BUILD from
--build; default: <repo>/build).  A test that needs it FAILS (never skips)
when it is missing.

QNTestCase gives every test a private temp dir, the per-run CA (tlsca),
config/secret writers, server starters that are stopped on cleanup, and
run_qn(), which runs the binary with a bounded time and returns a Result.
"""

import os
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


def build_dir():
    d = os.environ.get("QN_BUILD") or os.path.join(REPO, "build")
    return os.path.abspath(d)


def qqnotify_path():
    return os.path.join(build_dir(), "qqnotify")


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
               env=None):
        """Run qqnotify [-c CONFIG] [--lang LANG] ARGS with STDIN; never longer
        than TIMEOUT seconds (killed then, and Result.timed_out is set)."""
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
        if env:
            e.update(env)
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
