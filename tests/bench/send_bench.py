#!/usr/bin/python3
"""send_bench — `qqnotify send` against `msmtp`, one message each, to the same
local TLS + AUTH server (python3-aiosmtpd on 127.0.0.1, implicit TLS), in
one run, alternating the two so that both see the same machine state.

Prints a table: median / p90 / max wall time and median / max peak RSS of
the sending process (from wait4's ru_maxrss) over N runs each.  It measures;
it never passes or fails on time.

    /usr/bin/python3 tests/bench/send_bench.py [--build build] [--runs 20]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import start_server, stop_server, tlsca

USER = "10001@qq.com"
SECRET = "bench-authcode-1234"
TO = "ops@example.com"
SUBJECT = "【告警】web1 磁盘空间不足"
BODY = ("服务器 web1 的 /var 分区使用率达到 95%。\n" * 20).encode()


def run_once(argv, env, stdin_bytes, tmp):
    """Run ARGV with STDIN_BYTES; return (seconds, peak RSS KiB, exit code).

    The peak RSS comes from GNU time (-f %M), not from our own wait4: Linux
    keeps a process's RSS high-water mark across execve, so a child forked
    from this Python process would report Python's size, not the sender's.
    GNU time is small and forks the sender itself."""
    rss_file = os.path.join(tmp, "rss")
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss_file] + argv, input=stdin_bytes,
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=60)
    elapsed = time.monotonic() - t0
    with open(rss_file) as f:
        rss = int(f.read().split()[-1])
    return elapsed, rss, p.returncode


def summary(name, samples):
    times = sorted(s[0] * 1000 for s in samples)
    rss = [s[1] for s in samples]
    p90 = times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))]
    return "| %-16s | %5d | %8.1f | %8.1f | %8.1f | %9d | %9d |" % (
        name, len(samples), statistics.median(times), p90, times[-1],
        statistics.median(rss), max(rss))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    qq = os.path.abspath(os.path.join(args.build, "qqnotify"))
    msmtp = shutil.which("msmtp") or "/usr/bin/msmtp"
    for exe in (qq, msmtp):
        if not os.access(exe, os.X_OK) or not os.access("/usr/bin/time", os.X_OK):
            sys.exit("send_bench: %s or /usr/bin/time is missing (run `make` / `make deps`)"
                     % exe)

    tmp = tempfile.mkdtemp(prefix="qqnotify-bench-")
    ca = tlsca.make(os.path.join(tmp, "ca"))
    server = None
    try:
        server, port = start_server(ca, tmp, USER, SECRET, lifetime=600)
        creds = os.path.join(tmp, "creds")
        os.mkdir(creds, 0o700)
        with open(os.path.join(creds, "qqnotify.smtp"), "w") as f:
            f.write(SECRET)
        os.chmod(os.path.join(creds, "qqnotify.smtp"), 0o600)
        conf = os.path.join(tmp, "qqnotify.conf")
        with open(conf, "w") as f:
            f.write("[smtp]\nprovider = custom\nhost = 127.0.0.1\nport = %d\ntls = implicit\n"
                    "ca_file = %s\nuser = %s\nfrom_name = 服务器告警\ntimeout = 10\n"
                    "[notify]\nto = %s\nlanguage = zh_CN\n" % (port, ca.ca_cert, USER, TO))
        msmtprc = os.path.join(tmp, "msmtprc")
        with open(msmtprc, "w") as f:
            f.write("defaults\ntls on\ntls_starttls off\ntls_trust_file %s\n"
                    "account bench\nhost 127.0.0.1\nport %d\nauth plain\nuser %s\n"
                    "password %s\nfrom %s\naccount default : bench\n"
                    % (ca.ca_cert, port, USER, SECRET, USER))
        os.chmod(msmtprc, 0o600)
        # The same message for msmtp, built as a user's script would.
        msg = ("From: =?UTF-8?B?5pyN5Yqh5Zmo5ZGK6K2m?= <%s>\r\nTo: %s\r\n"
               "Subject: =?UTF-8?B?44CQ5ZGK6K2m44CRd2ViMSDno4Hnm5jnqbrpl7TkuI3otrM=?=\r\n"
               "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
               "Content-Transfer-Encoding: 8bit\r\n\r\n" % (USER, TO)).encode() + BODY

        env = {"PATH": "/usr/bin:/bin", "CREDENTIALS_DIRECTORY": creds, "LANG": "C.UTF-8"}
        qq_argv = [qq, "-c", conf, "send", "--to", TO, "--subject", SUBJECT]
        ms_argv = [msmtp, "-C", msmtprc, "-a", "bench", TO]
        results = {"qqnotify send": [], "msmtp": []}
        for i in range(args.runs + 1):
            for name, argv, data in (("qqnotify send", qq_argv, BODY), ("msmtp", ms_argv, msg)):
                sample = run_once(argv, env, data, tmp)
                if sample[2] != 0:
                    sys.exit("send_bench: %s exited %d" % (name, sample[2]))
                if i > 0:  # the first round warms caches
                    results[name].append(sample)
        print("send_bench: one message (%d bytes of body) to a local implicit-TLS server, "
              "%d runs each, alternating" % (len(BODY), args.runs))
        print("| %-16s | %5s | %8s | %8s | %8s | %9s | %9s |" % (
            "sender", "runs", "median", "p90", "max", "RSS med", "RSS max"))
        print("| %-16s | %5s | %8s | %8s | %8s | %9s | %9s |" % (
            "", "", "ms", "ms", "ms", "KiB", "KiB"))
        print("|%s|" % "|".join("-" * w for w in (18, 7, 10, 10, 10, 11, 11)))
        for name, samples in results.items():
            print(summary(name, samples))
    finally:
        stop_server(server)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
