"""Memory checking of the command-line paths against real local servers.

Each case runs build/qqnotify under

    valgrind --error-exitcode=99 --leak-check=full
             --errors-for-leak-kinds=definite,indirect --track-fds=yes

against the local TLS server (smtpserver.py) or the scripted one
(faultserver.py for failures), and asserts the command's own exit code, zero
valgrind errors, zero definitely or indirectly lost bytes, and no file
descriptor left open at exit beyond stdin, stdout and stderr.  Covered: send
(implicit TLS and STARTTLS), check, check --send-test, an AUTH failure (the
error paths are where leaks hide), a TLS failure, and the spool path (notify
and sendmail --no-flush, then flush).

A binary built with ASan (make check-asan runs this suite on build/asan)
cannot run under valgrind; it is checked the way ASan can: the same runs
with LeakSanitizer on, and no sanitizer report on stderr.  valgrind missing
is a failure (tools/deps.sh installs it), not a skip.
"""

import glob
import os
import re
import shutil
import time
import unittest

import faultserver as fs
from harness import EX_NOPERM, EX_OK, EX_PROTOCOL, QNTestCase, run_bounded

VALGRIND = shutil.which("valgrind") or "/usr/bin/valgrind"
VG_ARGS = ["--error-exitcode=99", "--leak-check=full",
           "--errors-for-leak-kinds=definite,indirect",
           "--show-leak-kinds=definite,indirect", "--track-fds=yes", "--num-callers=30"]
SANITIZER_RE = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|"
                          r"SUMMARY: (Address|Leak|UndefinedBehavior)Sanitizer")
BODY = "服务器告警：valgrind 测试正文\n.以点开头\n第三行\n"


def sanitized_binary(path):
    """True when PATH was built with ASan (it then links the ASan runtime symbols)."""
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


class Result:
    def __init__(self, args, rc, out, err, elapsed, timed_out, logs):
        self.args, self.rc, self.elapsed, self.timed_out = args, rc, elapsed, timed_out
        self.stdout = out.decode("utf-8", "replace")
        self.stderr = err.decode("utf-8", "replace")
        self.logs = logs  # valgrind's log text, one per process

    def dump(self):
        return ("\n--- command: %s\n--- exit: %s%s (%.1fs)\n--- stdout:\n%s\n--- stderr:\n%s\n"
                "--- valgrind:\n%s\n---" % (" ".join(self.args), self.rc,
                                            " (killed: timed out)" if self.timed_out else "",
                                            self.elapsed, self.stdout[-3000:], self.stderr[-3000:],
                                            "\n".join(l[-6000:] for l in self.logs)))


class MemcheckCase(QNTestCase):
    def setUp(self):
        super().setUp()
        self.asan = sanitized_binary(self.bin)
        if not self.asan:
            self.assertTrue(os.access(VALGRIND, os.X_OK),
                            "valgrind is not installed (tools/deps.sh installs it)")

    def env(self):
        e = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": self.tmp, "LANG": "C.UTF-8",
             "LC_ALL": "C.UTF-8", "TZ": "UTC",
             "CREDENTIALS_DIRECTORY": self.creds_dir or self.write_secret()}
        if self.asan:
            e["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=99"
            e["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"
        if self.owners is not None:
            e["QQNOTIFY_DROP"] = self.owners.drop
        return e

    def memcheck(self, args, config, stdin=b"", timeout=300):
        """Run qqnotify -c CONFIG --lang en ARGS under valgrind (or LSan)."""
        if isinstance(stdin, str):
            stdin = stdin.encode("utf-8")
        logdir = self.path("vg-%d" % int(time.monotonic() * 1000))
        os.makedirs(logdir)
        argv = [self.bin, "-c", config, "--lang", "en"] + list(args)
        if not self.asan:
            argv = [VALGRIND] + VG_ARGS + ["--log-file=" + os.path.join(logdir, "vg.%p.log")] \
                + argv
        r = run_bounded(argv, stdin, self.env(), self.tmp, timeout)
        logs = []
        for name in sorted(glob.glob(os.path.join(logdir, "vg.*.log"))):
            with open(name, encoding="utf-8", errors="replace") as f:
                logs.append(f.read())
        return Result(argv, r.rc, r.stdout_b, r.stderr_b, r.elapsed, r.timed_out, logs)

    def assertClean(self, res, code):
        """Exit CODE, and valgrind (or the sanitizers) found nothing."""
        self.assertFalse(res.timed_out, "did not finish in time" + res.dump())
        self.assertNotEqual(res.rc, 99, "memory errors or leaks" + res.dump())
        self.assertEqual(res.rc, code, "unexpected exit code" + res.dump())
        self.assertNotIn(self.secret, res.stdout + res.stderr, "the secret leaked" + res.dump())
        if self.asan:
            self.assertIsNone(SANITIZER_RE.search(res.stderr), "sanitizer report" + res.dump())
            return
        # A child forked to run another program (qqnotify-drop for notify and sendmail) has a
        # log of its own that ends at the exec: no heap summary, nothing to judge.
        logs = [l for l in res.logs if "HEAP SUMMARY" in l or "ERROR SUMMARY" in l]
        for l in res.logs:
            if l not in logs:
                self.assertNotRegex(l, r"Invalid (read|write|free)|uninitialised", res.dump())
        self.assertEqual(len(logs), 1, "expected one valgrind log (one process)" + res.dump())
        log = logs[0]
        self.assertRegex(log, r"ERROR SUMMARY: 0 errors from 0 contexts", res.dump())
        for kind in ("definitely lost", "indirectly lost"):
            m = re.search(kind + r": ([\d,]+) bytes", log)
            self.assertTrue(m is None or m.group(1) == "0", kind + res.dump())
        self.assertNotRegex(log, r"Invalid (read|write|free)|uninitialised|Mismatched free",
                            res.dump())
        # --track-fds: at exit only 0, 1 and 2, and valgrind's own log (inherited).
        self.assertRegex(log, r"FILE DESCRIPTORS: \d+ open \(\d+ std\) at exit",
                         "no descriptor report" + res.dump())
        for fd, what in re.findall(r"Open (?:file descriptor|AF_\w+ socket) (\d+): ?(.*)", log):
            if int(fd) > 2 and not re.search(r"/vg\.\d+\.log$", what):
                self.fail("descriptor %s (%s) left open at exit" % (fd, what) + res.dump())

    def config(self, port, tls="implicit", host="localhost", extra=""):
        p = self.write_config(port=port, host=host, tls=tls, timeout=60)
        if extra:
            with open(p, "a", encoding="utf-8") as f:
                f.write(extra)
        return p


class ValgrindSend(MemcheckCase):
    def test_send_implicit_tls(self):
        srv = self.smtp_server("implicit")
        res = self.memcheck(["send", "--to", "a@example.com,b@example.org", "--subject",
                             "【告警】valgrind 发送", "--html", self.write("a.html", "<p>告警</p>")],
                            self.config(srv.port), stdin=BODY)
        self.assertClean(res, EX_OK)
        self.assertEqual(srv.wait_messages(1, 10), 1)

    def test_send_starttls(self):
        srv = self.smtp_server("starttls")
        res = self.memcheck(["send", "--to", "a@example.com", "--subject", "starttls"],
                            self.config(srv.port, tls="starttls"), stdin=BODY)
        self.assertClean(res, EX_OK)
        self.assertEqual(srv.wait_messages(1, 10), 1)

    def test_send_auth_failure(self):
        srv = self.smtp_server("implicit", password="not-the-secret")
        res = self.memcheck(["send", "--to", "a@example.com", "--subject", "s"],
                            self.config(srv.port), stdin=BODY)
        self.assertClean(res, EX_NOPERM)
        self.assertIn("diagnosis:", res.stderr, res.dump())

    def test_send_tls_failure(self):
        srv = self.fault_server("implicit", cert="wronghost")
        res = self.memcheck(["send", "--to", "a@example.com", "--subject", "s"],
                            self.config(srv.port), stdin=BODY)
        self.assertClean(res, EX_PROTOCOL)

    def test_send_reply_failure_mid_session(self):
        srv = self.fault_server("implicit", {"rcpt": fs.reply(550, "Mailbox not found"),
                                             "dot": fs.drop(after_bytes=10)})
        res = self.memcheck(["send", "--to", "a@example.com", "--subject", "s"],
                            self.config(srv.port), stdin=BODY)
        self.assertNotEqual(res.rc, EX_OK, res.dump())
        self.assertClean(res, res.rc)


class ValgrindCheck(MemcheckCase):
    def test_check(self):
        srv = self.smtp_server("implicit")
        res = self.memcheck(["check"], self.config(srv.port))
        self.assertClean(res, EX_OK)
        self.assertEqual(srv.auth_successes, 1)

    def test_check_send_test_starttls(self):
        srv = self.smtp_server("starttls")
        res = self.memcheck(["check", "--send-test", "t@example.com"],
                            self.config(srv.port, tls="starttls"))
        self.assertClean(res, EX_OK)
        self.assertEqual(srv.wait_messages(1, 10), 1)

    def test_check_auth_failure(self):
        srv = self.smtp_server("implicit", password="not-the-secret")
        res = self.memcheck(["check"], self.config(srv.port))
        self.assertClean(res, EX_NOPERM)


class ValgrindSpool(MemcheckCase):
    """The producer and sender paths: notify and sendmail into a spool, then flush."""

    def spool_config(self, port):
        spool = self.make_spool()
        return self.config(port, extra="\n%s\n[limits]\nmax_per_minute = 0\n"
                                       "max_per_hour = 0\nmax_per_day = 0\ndigest_after = 0\n"
                                       % self.spool_section(spool))

    def test_notify_sendmail_flush(self):
        srv = self.smtp_server("implicit")
        cfg = self.spool_config(srv.port)
        res = self.memcheck(["notify", "--no-flush", "--subject", "valgrind alert",
                             "message body"], cfg)
        self.assertClean(res, EX_OK)
        mail = ("From: root (Cron Daemon)\nTo: root, ops@example.com\nSubject: Cron <root@web1>"
                " backup\nContent-Type: text/plain; charset=UTF-8\n\n备份完成\n.\nend\n")
        res = self.memcheck(["sendmail", "--no-flush", "-t", "-i"], cfg, stdin=mail)
        self.assertClean(res, EX_OK)
        res = self.memcheck(["flush"], cfg)
        self.assertClean(res, EX_OK)
        self.assertEqual(srv.wait_messages(2, 10), 2, res.dump())


if __name__ == "__main__":
    unittest.main()
