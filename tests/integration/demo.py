#!/usr/bin/python3
"""make demo: send a Chinese alert through qqnotify to a throw-away local
SMTP server (implicit TLS + AUTH, certificates from a throw-away CA) and show
the message as it arrived, raw and decoded.

    /usr/bin/python3 tests/integration/demo.py --qqnotify build/qqnotify

Everything lives in one temporary directory and on 127.0.0.1; the server
and the directory are gone when the demo ends, also on failure or Ctrl-C.
Exit status: 0 when the mail was accepted and reads back as sent.
"""

import argparse
import os
import secrets
import shlex
import shutil
import signal
import string
import subprocess
import sys
import tempfile
from email import policy
from email.parser import BytesParser

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, HERE)

import smtpserver  # noqa: E402
import tlsca  # noqa: E402

USER = "10001@qq.com"
FROM_NAME = "服务器告警"
TO = "ops@example.com"
SUBJECT = "【qqnotify 演示】服务器登录告警"
BODY = ("服务器 web-01 上有新的 SSH 登录：\n"
        "\n"
        "  用户：root\n"
        "  来源：203.0.113.45（端口 52044）\n"
        "  时间：2024-05-01 03:14:15 CST\n"
        "  方式：publickey\n"
        "\n"
        "如果这不是你本人的操作，请立即检查 /var/log/auth.log 并更换密钥。\n"
        "-- \n"
        "qqnotify 演示邮件：由 make demo 发送到本机的临时 SMTP 服务器，不会离开这台机器。\n")
HTML = ("<html><body><h2>服务器登录告警</h2><table>"
        "<tr><th>主机</th><td>web-01</td></tr><tr><th>用户</th><td>root</td></tr>"
        "<tr><th>来源</th><td>203.0.113.45</td></tr></table></body></html>\n")


def section(title):
    print("\n" + "=" * 72 + "\n" + title + "\n" + "=" * 72)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--qqnotify", required=True, help="path of the qqnotify binary")
    ap.add_argument("--timeout", type=float, default=60, help="bound for the qqnotify run")
    a = ap.parse_args()

    qqnotify = os.path.abspath(a.qqnotify)
    if not os.access(qqnotify, os.X_OK):
        print("demo: %s does not exist or is not executable (run `make all`)" % qqnotify,
              file=sys.stderr)
        return 1

    # Ctrl-C and SIGTERM unwind through the finally blocks below.
    def _terminate(signum, frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, _terminate)

    tmp = tempfile.mkdtemp(prefix="qqnotify-demo-")
    srv = None
    try:
        cadir = os.path.join(tmp, "ca")
        os.mkdir(cadir)
        ca = tlsca.make(cadir)
        os.mkdir(os.path.join(tmp, "maildir"))
        secret = "".join(secrets.choice(string.ascii_lowercase) for _ in range(16))
        srv = smtpserver.SMTPServer("implicit", user=USER, password=secret, cert=ca.server_cert,
                                    key=ca.server_key, host="127.0.0.1",
                                    maildir=os.path.join(tmp, "maildir"))
        srv.start()

        creds = os.path.join(tmp, "credentials")
        os.mkdir(creds, 0o700)
        with open(os.path.join(creds, "qqnotify.smtp"), "w") as f:
            f.write(secret + "\n")
        os.chmod(os.path.join(creds, "qqnotify.smtp"), 0o600)
        cfg = os.path.join(tmp, "qqnotify.conf")
        with open(cfg, "w", encoding="utf-8") as f:
            f.write("# make demo: a throw-away server on this machine\n"
                    "[smtp]\nprovider = custom\nhost = 127.0.0.1\nport = %d\ntls = implicit\n"
                    "ca_file = %s\nuser = %s\nfrom_name = %s\ntimeout = 10\n\n"
                    "[notify]\nto = %s\nlanguage = zh_CN\n"
                    % (srv.port, ca.ca_cert, USER, FROM_NAME, TO))
        html = os.path.join(tmp, "alert.html")
        with open(html, "w", encoding="utf-8") as f:
            f.write(HTML)

        section("qqnotify 演示 / demo")
        print("本机临时 SMTP 服务器 / throw-away server: 127.0.0.1:%d (implicit TLS, AUTH)"
              % srv.port)
        print("配置 / config: %s" % cfg)
        with open(cfg, encoding="utf-8") as f:
            print("".join("    " + l for l in f))
        argv = [qqnotify, "-c", cfg, "send", "--to", TO, "--subject", SUBJECT, "--html", html]
        print("$ %s < body.txt" % shlex.join(argv))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp,
               "LANG": os.environ.get("LANG", "C.UTF-8"), "CREDENTIALS_DIRECTORY": creds}
        for k in ("LC_ALL", "LANGUAGE", "ASAN_OPTIONS", "UBSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        try:
            p = subprocess.run(argv, input=BODY.encode("utf-8"), capture_output=True, env=env,
                               timeout=a.timeout)
        except subprocess.TimeoutExpired:
            print("demo: qqnotify did not finish within %.0f s" % a.timeout, file=sys.stderr)
            return 1
        sys.stdout.write(p.stdout.decode("utf-8", "replace"))
        sys.stdout.write(p.stderr.decode("utf-8", "replace"))
        print("qqnotify exit status: %d" % p.returncode)
        if p.returncode != 0:
            print("demo: qqnotify failed (see its diagnosis above)", file=sys.stderr)
            return 1
        if srv.wait_messages(1, timeout=10) != 1:
            print("demo: the server received no message", file=sys.stderr)
            return 1
        m = srv.messages[0]
        raw = m.content
        head, _, body = raw.partition(b"\r\n\r\n")

        section("服务器收到的信封 / envelope as received")
        print("MAIL FROM: <%s>" % m.mail_from)
        for r in m.rcpt_tos:
            print("RCPT TO:   <%s>" % r)
        print("TLS: %s, AUTH user: %s, %d bytes" % (m.tls, m.auth_user, len(raw)))

        section("原始邮件头 / raw headers as received")
        print(head.decode("ascii", "backslashreplace"))
        body_lines = body.split(b"\r\n")
        print("\n(正文前 8 行，原样 / first 8 body lines, raw)")
        for line in body_lines[:8]:
            print(line.decode("ascii", "backslashreplace"))
        if len(body_lines) > 8:
            print("... (%d more lines)" % (len(body_lines) - 8))

        section("解码后 / decoded")
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        frm = msg["From"].addresses[0] if msg["From"] is not None else None
        print("主题 / Subject: %s" % msg["Subject"])
        if frm is not None:
            print("发件人 / From:  %s <%s>" % (frm.display_name, frm.addr_spec))
        print("收件人 / To:    %s" % msg["To"])
        print("日期 / Date:    %s" % msg["Date"])
        print("类型 / Type:    %s" % msg.get_content_type())
        plain = msg.get_body(preferencelist=("plain",))
        html_part = msg.get_body(preferencelist=("html",))
        if plain is not None:
            print("\n--- text/plain ---")
            print(plain.get_content().replace("\r\n", "\n").rstrip("\n"))
        if html_part is not None and html_part is not plain:
            print("\n--- text/html ---")
            print(html_part.get_content().replace("\r\n", "\n").rstrip("\n"))

        problems = []
        if str(msg["Subject"]) != SUBJECT:
            problems.append("Subject reads back as %r" % str(msg["Subject"]))
        if frm is None or frm.display_name != FROM_NAME or frm.addr_spec != USER:
            problems.append("From reads back as %r" % str(msg["From"]))
        if plain is None or plain.get_content().replace("\r\n", "\n") != BODY:
            problems.append("the text body does not read back as sent")
        if problems:
            section("不一致 / MISMATCH")
            for pr in problems:
                print("  - " + pr)
            return 1
        section("演示成功 / demo OK: 邮件已被服务器接受，主题、发件人和正文与发送的一致。")
        return 0
    finally:
        if srv is not None:
            srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ndemo: interrupted", file=sys.stderr)
        sys.exit(130)
