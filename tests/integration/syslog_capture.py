"""Run a command with a private /dev/log and print what it sent to syslog.

    unshare -m /usr/bin/python3 syslog_capture.py CMD [ARG...]

Inside its own mount namespace (unshare -m, as root) this makes the mounts
private, puts an empty tmpfs on /dev and listens on /dev/log there, so the
command's syslog(3) records come here and nowhere else (the machine's /dev
and its syslog are untouched).  The command gets pipes for its standard
streams (there is no /dev/null in that /dev).  Prints one JSON object:
{"rc": N, "stdout": "...", "stderr": "...", "syslog": ["<85>...", ...]}.
Bounded: the command is killed after 60 s.
"""
import json
import os
import socket
import subprocess
import sys


def main():
    argv = sys.argv[1:]
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "qn-test-dev", "/dev"], check=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("/dev/log")
    os.chmod("/dev/log", 0o666)
    proc = subprocess.run(argv, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60, input=b"")
    records = []
    sock.settimeout(0.2)
    while len(records) < 1000:
        try:
            records.append(sock.recv(65536).decode("utf-8", "replace"))
        except socket.timeout:
            break
    print(json.dumps({"rc": proc.returncode, "stdout": proc.stdout.decode("utf-8", "replace"),
                      "stderr": proc.stderr.decode("utf-8", "replace"), "syslog": records}))


if __name__ == "__main__":
    main()
