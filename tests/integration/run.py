#!/usr/bin/python3
"""Run the integration tests (tests/integration/test_*.py, unittest).

    /usr/bin/python3 tests/integration/run.py --build build [-k PATTERN] [--timeout S]

Prints one line per test ("ok" or "FAIL" with its name and time), then the
details of every failure, and ends with exactly

    integration: N passed, N failed

or, run by a user other than root when tests that need root ended without
running (harness.needs_root), with ", N not run (need root: WHY, ...)" after it.

Exit status 1 when anything failed (errors, unexpected skips and tests that
could not be imported count as failures), else 0.  The whole run is bounded
by --timeout (default 900 s): past it, stacks are dumped and the process
exits 1 without a summary (tests/run.sh reports that as a failure).
"""

import argparse
import atexit
import faulthandler
import os
import signal
import socket
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep the source tree clean


class LineResult(unittest.TestResult):
    def __init__(self, stream):
        super().__init__()
        self.stream = stream
        self.passed = 0
        self.failed = 0
        self.details = []
        self.not_run = {}  # why -> count: tests that need root, run by another user
        self.not_run_ns = {}  # why -> count: tests that need mount namespaces, where there are none
        self._t0 = 0.0
        self._subtest_failed = set()

    def _line(self, status, test, extra=""):
        self.stream.write("%-4s %s (%.2fs)%s\n" % (status, test.id(), time.monotonic() - self._t0,
                                                   extra))
        self.stream.flush()

    def startTest(self, test):
        super().startTest(test)
        self._t0 = time.monotonic()

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1
        self._line("ok", test)

    def _fail(self, test, kind, text):
        self._subtest_failed.discard(test.id())
        self.failed += 1
        self.details.append((test.id(), kind, text))
        self._line("FAIL", test, "  [%s]" % kind if kind != "failure" else "")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._fail(test, "failure", self._exc_info_to_string(err, test))

    def addError(self, test, err):
        super().addError(test, err)
        self._fail(test, "error", self._exc_info_to_string(err, test))

    def addSkip(self, test, reason):
        # No test here may skip: a skipped check is a check that cannot fail.  Except a
        # test that needs root, run by another user: not run, and said so at the end.
        super().addSkip(test, reason)
        harness = sys.modules.get("harness")  # imported by the test that raised needs_root
        if harness is not None and reason.startswith(harness.NEEDS_ROOT) and os.geteuid() != 0:
            why = reason[len(harness.NEEDS_ROOT):]
            self.not_run[why] = self.not_run.get(why, 0) + 1
            self._line("root", test, "  (not run: %s)" % reason)
            return
        if harness is not None and reason.startswith(harness.NEEDS_NS):
            why = reason[len(harness.NEEDS_NS):]
            self.not_run_ns[why] = self.not_run_ns.get(why, 0) + 1
            self._line("ns", test, "  (not run: %s)" % reason)
            return
        self._fail(test, "skipped", "skipped: %s\n" % reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.passed += 1
        self._line("ok", test, "  (expected failure)")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._fail(test, "unexpected success", "marked expectedFailure but passed\n")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            kind = "failure" if issubclass(err[0], test.failureException) else "error"
            self.details.append((subtest.id(), kind, self._exc_info_to_string(err, test)))
            self._subtest_failed.add(test.id())

    def stopTest(self, test):
        # a test whose subtests failed gets no addSuccess/addFailure of its own
        if test.id() in self._subtest_failed:
            self._subtest_failed.discard(test.id())
            self.failed += 1
            self._line("FAIL", test, "  [subtest]")
        super().stopTest(test)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(os.path.dirname(os.path.dirname(HERE)),
                                                    "build"),
                    help="build directory holding qqnotify (default: <repo>/build)")
    ap.add_argument("-k", action="append", dest="patterns", default=None,
                    help="only tests whose name matches this pattern (fnmatch, repeatable)")
    ap.add_argument("--timeout", type=float, default=900.0,
                    help="bound on the whole run in seconds")
    a = ap.parse_args()

    os.environ["QN_BUILD"] = os.path.abspath(a.build)
    sys.path.insert(0, HERE)
    faulthandler.dump_traceback_later(a.timeout, exit=True)
    # SIGTERM/SIGINT: run cleanups (atexit: CA dir, helper processes) before dying.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    loader = unittest.TestLoader()
    if a.patterns:
        loader.testNamePatterns = [p if "*" in p else "*%s*" % p for p in a.patterns]
    suite = loader.discover(start_dir=HERE, pattern="test_*.py", top_level_dir=HERE)

    # Every server of these tests listens on loopback, and TLS names it localhost.
    try:
        local = {ai[4][0] for ai in socket.getaddrinfo("localhost", None, socket.AF_INET)}
    except OSError:
        local = set()
    if "127.0.0.1" not in local:
        print("integration: localhost does not resolve to 127.0.0.1 here, and every test talks "
              "to servers on localhost: give /etc/hosts the line `127.0.0.1 localhost` (as every "
              "installed system has; debootstrap does not write it)")
        print("integration: 0 passed, 1 failed", flush=True)
        return 1

    print("binary under test: %s/qqnotify%s" % (
        os.environ["QN_BUILD"],
        "" if os.path.exists(os.path.join(a.build, "qqnotify")) else " (MISSING)"), flush=True)
    result = LineResult(sys.stdout)
    t0 = time.monotonic()
    try:
        suite.run(result)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        result.failed += 1
    faulthandler.cancel_dump_traceback_later()

    if result.details:
        print("\n" + "=" * 70)
        for name, kind, text in result.details:
            print("%s: %s\n%s%s" % (kind.upper(), name, "-" * 70 + "\n", text))
            print("=" * 70)
    if result.passed + result.failed == 0:
        print("no tests were found")
        result.failed = 1
    print("(%.1fs)" % (time.monotonic() - t0))
    not_run = ""
    if result.not_run:
        not_run = ", %d not run (need root: %s)" % (
            sum(result.not_run.values()),
            ", ".join("%s %d" % (why, n) for why, n in sorted(result.not_run.items())))
    if result.not_run_ns:
        not_run += ", %d not run (need namespaces: %s)" % (
            sum(result.not_run_ns.values()),
            ", ".join("%s %d" % (why, n) for why, n in sorted(result.not_run_ns.items())))
    print("integration: %d passed, %d failed%s" % (result.passed, result.failed, not_run),
          flush=True)
    return 1 if result.failed else 0


if __name__ == "__main__":
    atexit.register(sys.stdout.flush)
    sys.exit(main())
