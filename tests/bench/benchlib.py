"""Shared pieces of the SMTP benchmarks: the local TLS + AUTH server
(tests/integration/smtpserver.py run as a process) and its throw-away CA."""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION = os.path.join(HERE, "..", "integration")
sys.path.insert(0, INTEGRATION)

import tlsca  # noqa: E402,F401  (re-exported for the benchmarks)


def start_server(ca, tmp, user, secret, maildir=None, lifetime=3600, extra=()):
    """Start smtpserver.py (implicit TLS, AUTH for USER/SECRET) on 127.0.0.1, with
    smtpserver.py's EXTRA options; returns (process, port).  The caller terminates the
    process."""
    pwfile = os.path.join(tmp, "pw")
    with open(pwfile, "w") as f:
        f.write(secret)
    ready = os.path.join(tmp, "ready")
    argv = ["/usr/bin/python3", os.path.join(INTEGRATION, "smtpserver.py"),
            "--mode", "implicit", "--port", "0", "--user", user, "--password-file", pwfile,
            "--cert", ca.server_cert, "--key", ca.server_key, "--ready-file", ready,
            "--lifetime", str(lifetime)]
    if maildir is not None:
        argv += ["--maildir", maildir]
    argv += list(extra)
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if os.path.exists(ready):
            with open(ready) as f:
                text = f.read().strip()
            if text:
                return proc, int(text)
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the SMTP server did not start")


def stop_server(proc):
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
