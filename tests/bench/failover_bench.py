#!/usr/bin/python3
"""failover_bench — how fast an alert gets around a broken QQ route, and how
many alerts a rate-limited robot carries, with everything local:

  535 -> next route   [notify] routes = smtp, ops; the SMTP server
                      (tests/integration/faultserver.py) answers AUTH with
                      QQ's 535, the WeCom simulator (robotsim.py) accepts:
                      for each trial, one alert is spooled and one
                      `qqnotify flush` runs; the time from the server's 535
                      to the robot's acceptance of the alert
  rate-limited robot  routes = ops alone (WeCom, 20 a minute); ALERTS alerts
                      spooled at once, or 1 or 3 a second, with `qqnotify
                      flush` run every second for SECONDS: alerts delivered
                      (one by one or in digests), messages, and the most
                      messages the robot saw in any 60 seconds (its limit is 20)

Prints tables; it measures and never passes or fails on time.

    /usr/bin/python3 tests/bench/failover_bench.py [--build build] [--trials 20]
        [--alerts 200] [--seconds 90]
"""

import argparse
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import faultserver as fs  # noqa: E402
import harness  # noqa: E402
import robotsim  # noqa: E402
import tlsca  # noqa: E402

USER = "10001@qq.com"
QQ_535 = "Login Fail. Please enter your authorization code to login."


class Setup:
    """A spool made by `qqnotify queue init` for a throw-away spool user (the sender
    becomes it), its credentials, and the configuration of each measurement."""

    def __init__(self, qq, tmp, ca):
        self.qq, self.tmp, self.ca = qq, tmp, ca
        self.owners = harness.SpoolOwners.get()
        self.spool = os.path.join(tmp, "spool")
        self.creds = os.path.join(tmp, "credentials")
        os.makedirs(self.creds, mode=0o700)
        self.key = secrets.token_hex(16)
        for name, value in (("qqnotify.smtp", "bench-authcode"),
                            ("qqnotify.route.ops", self.key)):
            p = os.path.join(self.creds, name)
            with open(p, "w") as f:
                f.write(value + "\n")
            os.chmod(p, 0o600)

    def config(self, routes, robot, smtp_port=1):
        lines = ["[smtp]", "provider = qq", "host = 127.0.0.1", "port = %d" % smtp_port,
                 "tls = implicit", "ca_file = %s" % self.ca.ca_cert, "user = %s" % USER,
                 "timeout = 5", "", "[notify]", "to = ops@example.com", "language = en",
                 "routes = %s" % routes, "failover_after = 0", "",
                 self.owners.spool_section(self.spool), "[limits]", "retry_min = 1s",
                 "retry_max = 2s", "digest_after = 0", "digest_window = 0", "user_max = 0",
                 "", "[route ops]", "type = wecom", "url = %s" % robot.url,
                 "ca_file = %s" % self.ca.ca_cert]
        path = os.path.join(self.tmp, "qqnotify.conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        if not os.path.isdir(self.spool):
            self.run(path, "queue", "init")
        return path

    def run(self, config, *args):
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "TZ": "UTC",
               "CREDENTIALS_DIRECTORY": self.creds, "HOME": self.tmp,
               "QQNOTIFY_DROP": self.owners.drop}
        return subprocess.run([self.qq, "-c", config] + list(args), env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=120).returncode


def failover_latency(s, trials):
    stamps = []  # the time of each 535
    cert, key = s.ca.pair("server")
    srv = fs.FaultServer("implicit", {"auth": lambda conn, n: (stamps.append(time.time()),
                                                             fs.reply(535, QQ_535))[1]},
                         cert=cert, key=key)
    srv.start()
    robot = robotsim.RobotSim("wecom", *s.ca.pair("server"), s.key)
    robot.start()
    delays = []
    try:
        cfg = s.config("smtp, ops", robot, srv.port)
        for i in range(trials):
            record = os.path.join(s.spool, "state", "routes")
            if os.path.exists(record):
                os.unlink(record)  # smtp healthy again: each trial starts from its 535
            before = len(robot.accepted())
            s.run(cfg, "notify", "--no-flush", "--subject", "trial %d" % i, "alert")
            s.run(cfg, "flush", "--quiet")
            got = robot.accepted()
            if len(got) > before and stamps:
                delays.append((got[-1]["time"] - stamps[-1]) * 1000)
    finally:
        robot.stop()
        srv.stop()
    return delays


def robot_rate(s, burst, per_second, seconds):
    """BURST alerts spooled at once, then PER_SECOND more each second, with a
    flush every second for SECONDS."""
    robot = robotsim.RobotSim("wecom", *s.ca.pair("server"), s.key)
    robot.start()
    shutil.rmtree(s.spool, ignore_errors=True)  # a new spool, made by queue init
    spooled = 0
    try:
        cfg = s.config("ops", robot)
        for _ in range(burst):
            spooled += s.run(cfg, "notify", "--no-flush", "--subject", "burst", "alert") == 0
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            for _ in range(per_second):
                spooled += s.run(cfg, "notify", "--no-flush", "--subject", "steady", "a") == 0
            s.run(cfg, "flush", "--quiet")
            time.sleep(1)
        elapsed = time.monotonic() - start
    finally:
        robot.stop()
    times = sorted(r["time"] for r in robot.accepted())
    worst = max((sum(1 for u in times if t <= u < t + 60) for t in times), default=0)
    left = sum(len(os.listdir(os.path.join(s.spool, q))) for q in ("new", "deferred"))
    return spooled, len(times), worst, spooled - left, elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--alerts", type=int, default=200)
    ap.add_argument("--seconds", type=int, default=90)
    args = ap.parse_args()
    qq = os.path.abspath(os.path.join(args.build, "qqnotify"))
    if not os.access(qq, os.X_OK):
        sys.exit("build it first: %s is missing" % qq)
    if os.geteuid() != 0:
        sys.exit("failover_bench: run it as root (the spool belongs to a throw-away user)")
    tmp = tempfile.mkdtemp(prefix="qqnotify-bench-")
    os.chmod(tmp, 0o711)  # the sender reads ca.pem and the spool as the spool's user
    ca = tlsca.make(os.path.join(tmp, "ca"))
    os.chmod(os.path.join(tmp, "ca"), 0o711)
    s = None
    try:
        s = Setup(qq, tmp, ca)
        delays = failover_latency(s, args.trials)
        print("535 on smtp -> alert accepted on the next route (%d trials)" % args.trials)
        print("| trials delivered | min ms | median ms | max ms |")
        print("|---|---|---|---|")
        if delays:
            print("| %d | %.1f | %.1f | %.1f |" % (len(delays), min(delays),
                                                  statistics.median(delays), max(delays)))
        else:
            print("| 0 | - | - | - |")
        print()
        print("rate-limited robot (WeCom, 20 messages a minute), a flush every second")
        print("| arrivals | seconds | alerts | messages | most in any 60 s | alerts delivered "
              "| alerts per minute |")
        print("|---|---|---|---|---|---|---|")
        for label, burst, per_second in (("%d at once" % args.alerts, args.alerts, 0),
                                         ("1 a second", 0, 1), ("3 a second", 0, 3)):
            spooled, sent, worst, delivered, elapsed = robot_rate(s, burst, per_second,
                                                                  args.seconds)
            print("| %s | %.0f | %d | %d | %d | %d | %.1f |" % (
                label, elapsed, spooled, sent, worst, delivered, delivered * 60.0 / elapsed))
    finally:
        if s is not None:
            s.owners.remove()
        shutil.rmtree(tmp, True)


if __name__ == "__main__":
    main()
