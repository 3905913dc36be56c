"""`qqnotify send` end to end against a real SMTP server (aiosmtpd) with TLS
and AUTH: the message that arrives is parsed back with Python's email
package and compared with what was given."""

import datetime
import re
import unittest
from email import policy
from email.parser import BytesParser

from harness import EX_DATAERR, EX_OK, EX_USAGE, FROM_NAME, USER, QNTestCase

SUBJECT_SHORT = "【告警】web-01 登录成功"
SUBJECT_LONG = ("【qqnotify 告警】服务器 web-01.prod.example.com 检测到来自 203.0.113.45 的 SSH 登录："
                "用户 root 于 2024-05-01 03:14:15 登录成功，不在维护窗口内，请立即确认是否为本人操作；"
                "如非本人操作，请封禁该地址、更换密钥并检查 /var/log/auth.log。")
BODY = ("服务器告警：检测到新的登录。\n"
        "主机：web-01\n"
        ".以点开头的一行\n"
        ".\n"
        "..两个点开头\n"
        "\n"
        "  缩进的一行，末尾有空格  \n"
        "From 开头的一行 (mbox 会转义)\n"
        "最后一行 with ASCII text\n")
HTML = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n"
        "<h1>服务器告警</h1>\n<p>检测到新的登录。</p>\n.\n"
        "<table><tr><th>主机</th><td>web-01</td></tr>"
        "<tr><th>来源</th><td>203.0.113.45</td></tr></table>\n</body></html>\n")
RCPTS = ["a@example.com", "ops@example.org", "987654321@qq.com"]

MSGID_RE = re.compile(r"^<[^<>@\s]+@[^<>@\s]+>$")


def norm(s):
    return s.replace("\r\n", "\n")


class SendCase(QNTestCase):
    mode = "implicit"
    host = "127.0.0.1"
    server_host = "127.0.0.1"

    def setUp(self):
        super().setUp()
        self.srv = self.smtp_server(self.mode, host=self.server_host)

    def config(self, **kw):
        kw.setdefault("port", self.srv.port)
        kw.setdefault("host", self.host)
        kw.setdefault("tls", self.mode)
        return self.write_config(**kw)

    def send(self, subject, body=BODY, html=None, to=RCPTS, config=None, extra_args=()):
        args = ["send"]
        if to is not None:
            args += ["--to", ",".join(to)]
        args += ["--subject", subject]
        if html is not None:
            args += ["--html", self.write("alert.html", html)]
        args += list(extra_args)
        return self.run_qn(args, stdin=body, config=config or self.config())

    def one_message(self, res):
        """The single message the server received (asserting there is exactly one)."""
        self.assertExit(res, EX_OK)
        self.assertNoSecret(res)
        self.srv.wait_messages(1, timeout=5)
        self.assertEqual(len(self.srv.messages), 1,
                         "the server must have received exactly one message" + res.dump())
        self.assertEqual(self.srv.auth_failures, 0)
        self.assertEqual(self.srv.auth_successes, 1)
        return self.srv.messages[0]

    def check_raw(self, raw):
        """Wire-level rules: CRLF only, header lines ASCII and <= 998 octets."""
        self.assertNotIn(b"\x00", raw)
        stripped = raw.replace(b"\r\n", b"")
        self.assertNotIn(b"\n", stripped, "bare LF in the message")
        self.assertNotIn(b"\r", stripped, "bare CR in the message")
        self.assertIn(b"\r\n\r\n", raw, "no blank line between header and body")
        head = raw.split(b"\r\n\r\n", 1)[0]
        for line in raw.split(b"\r\n"):
            self.assertLessEqual(len(line), 998, "line longer than 998 octets: %r" % line[:80])
        for line in head.split(b"\r\n"):
            self.assertTrue(all(b < 0x80 for b in line), "raw non-ASCII in header: %r" % line)
        return head

    def parse(self, raw):
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        self.assertEqual(msg.defects, [], "message defects")
        return msg

    def check_message(self, m, subject, body=BODY, html=None, rcpts=RCPTS):
        self.assertEqual(m.mail_from, USER, "envelope sender")
        self.assertEqual(m.rcpt_tos, rcpts, "envelope recipients")
        self.assertTrue(m.tls)
        head = self.check_raw(m.content)
        msg = self.parse(m.content)
        dump = "\n--- headers:\n" + head.decode("ascii", "replace")

        for name in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version"):
            self.assertEqual(len(msg.get_all(name, [])), 1, "exactly one %s header%s" % (name, dump))

        frm = msg["From"]
        self.assertEqual(frm.defects, (), dump)
        self.assertEqual(len(frm.addresses), 1, dump)
        self.assertEqual(frm.addresses[0].display_name, FROM_NAME, dump)
        self.assertEqual(frm.addresses[0].addr_spec, USER, dump)

        to = msg["To"]
        self.assertEqual(to.defects, (), dump)
        self.assertEqual(sorted(a.addr_spec for a in to.addresses), sorted(rcpts), dump)

        subj = msg["Subject"]
        self.assertEqual(subj.defects, (), dump)
        self.assertEqual(str(subj), subject, "Subject must decode to the input exactly" + dump)

        date = msg["Date"].datetime
        self.assertIsNotNone(date, dump)
        self.assertIsNotNone(date.tzinfo, "Date without a zone" + dump)
        now = datetime.datetime.now(datetime.timezone.utc)
        self.assertLess(abs((now - date).total_seconds()), 3600, "Date is not now" + dump)

        self.assertRegex(str(msg["Message-ID"]).strip(), MSGID_RE, dump)
        self.assertEqual(str(msg["MIME-Version"]).strip(), "1.0", dump)

        if html is not None:
            self.assertEqual(msg.get_content_type(), "multipart/alternative", dump)
            parts = list(msg.iter_parts())
            self.assertEqual([p.get_content_type() for p in parts], ["text/plain", "text/html"],
                             "plain first, then HTML (RFC 2046: preferred last)" + dump)
            want = [body, html]
        else:
            plain = msg.get_body(preferencelist=("plain",))
            self.assertIsNotNone(plain, "no text/plain body" + dump)
            self.assertNotEqual(msg.get_content_type(), "text/html")
            parts = [plain]
            want = [body]
        for part, expected in zip(parts, want):
            self.assertEqual(part.defects, [], "part defects")
            self.assertEqual(part.get_content_charset(), "utf-8", "charset of %s"
                             % part.get_content_type())
            self.assertEqual(part.get("Content-Transfer-Encoding", "").lower(), "base64",
                             "bodies are base64 (DESIGN section 6)")
            self.assertEqual(norm(part.get_content()), norm(expected),
                             "%s body must decode to the input" % part.get_content_type())
        return msg


class SendImplicitTLS(SendCase):
    """provider=custom, tls=implicit, host=127.0.0.1 (certificate IP SAN)."""

    def test_chinese_subject_html_and_recipients(self):
        res = self.send(SUBJECT_SHORT, html=HTML)
        self.check_message(self.one_message(res), SUBJECT_SHORT, html=HTML)

    def test_long_chinese_subject_is_folded_and_exact(self):
        self.assertGreater(len(SUBJECT_LONG), 100)
        res = self.send(SUBJECT_LONG, html=HTML)
        m = self.one_message(res)
        msg = self.check_message(m, SUBJECT_LONG, html=HTML)
        # mime.h: encoded-words folded so no header line exceeds 78 octets
        head = m.content.split(b"\r\n\r\n", 1)[0].decode("ascii")
        subj_lines = re.search(r"^Subject:.*?(?=^\S)", head + "\r\nX", re.M | re.S).group(0)
        for line in subj_lines.split("\r\n"):
            self.assertLessEqual(len(line), 78, "Subject line over 78 octets: %r" % line)
        for word in re.findall(r"=\?[^?]+\?[bBqQ]\?[^?]*\?=", subj_lines):
            self.assertLessEqual(len(word), 75, "encoded-word over 75 characters: %r" % word)
        self.assertEqual(str(msg["Subject"]), SUBJECT_LONG)

    def test_plain_text_only(self):
        res = self.send(SUBJECT_SHORT, html=None, to=["a@example.com"])
        self.check_message(self.one_message(res), SUBJECT_SHORT, html=None,
                           rcpts=["a@example.com"])

    def test_long_lines_and_large_body(self):
        # one 6000-character line and ~300 KB in all: lines on the wire stay
        # <= 998 octets and every byte arrives
        body = ("超长的一行：" + "告警数据" * 1500 + "\n" +
                "".join("第 %05d 行：服务器告警 .以点开头 web-01\n" % i for i in range(8000)))
        self.assertGreater(len(body.encode("utf-8")), 300000)
        res = self.send(SUBJECT_SHORT, body=body, html=HTML, to=["a@example.com"])
        self.check_message(self.one_message(res), SUBJECT_SHORT, body=body, html=HTML,
                           rcpts=["a@example.com"])

    def test_recipients_from_config_when_no_to(self):
        cfg = self.config(to="a@example.com, 987654321@qq.com")
        res = self.send(SUBJECT_SHORT, to=None, config=cfg)
        self.check_message(self.one_message(res), SUBJECT_SHORT,
                           rcpts=["a@example.com", "987654321@qq.com"])

    def test_ascii_only_subject_unchanged(self):
        subject = "[alert] disk /var 95% full on db-02 (threshold 90%)"
        res = self.send(subject, body="disk almost full\n", to=["a@example.com"])
        self.check_message(self.one_message(res), subject, body="disk almost full\n",
                           rcpts=["a@example.com"])

    def test_header_injection_in_subject_is_neutralised(self):
        evil = "告警\r\nBcc: evil@example.net\r\nX-Injected: 1"
        res = self.send(evil, to=["a@example.com"])
        if res.rc == EX_OK:
            m = self.one_message(res)
            self.assertEqual(m.rcpt_tos, ["a@example.com"])
            self.check_raw(m.content)
            msg = self.parse(m.content)
            self.assertIsNone(msg["Bcc"], "CR/LF from the subject reached the header")
            self.assertIsNone(msg["X-Injected"], "CR/LF from the subject reached the header")
            self.assertNotIn("\n", str(msg["Subject"]))
        else:
            self.assertIn(res.rc, (EX_USAGE, EX_DATAERR), "refuse as bad input" + res.dump())
            self.assertEqual(self.srv.messages, [])

    def test_auth_login_only_server(self):
        self.srv.stop()
        self.srv = self.smtp_server(self.mode, host=self.server_host, auth_mechanisms=("LOGIN",))
        res = self.send(SUBJECT_SHORT, to=["a@example.com"])
        self.check_message(self.one_message(res), SUBJECT_SHORT, rcpts=["a@example.com"])

    def test_auth_plain_only_server(self):
        self.srv.stop()
        self.srv = self.smtp_server(self.mode, host=self.server_host, auth_mechanisms=("PLAIN",))
        res = self.send(SUBJECT_SHORT, to=["a@example.com"])
        self.check_message(self.one_message(res), SUBJECT_SHORT, rcpts=["a@example.com"])

    def test_secret_file_with_trailing_newline(self):
        # `echo CODE > file` and systemd-creds both leave a newline; the
        # server must still get exactly the code
        self.write_secret(newline=True)
        res = self.send(SUBJECT_SHORT, to=["a@example.com"])
        self.check_message(self.one_message(res), SUBJECT_SHORT, rcpts=["a@example.com"])


class SendLocalhostName(SendCase):
    """tls=implicit through host=localhost (certificate DNS SAN)."""
    host = "localhost"

    def test_chinese_subject_html_and_recipients(self):
        res = self.send(SUBJECT_SHORT, html=HTML)
        self.check_message(self.one_message(res), SUBJECT_SHORT, html=HTML)


class SendStartTLS(SendCase):
    """tls=starttls: AUTH only after STARTTLS (the server refuses it before)."""
    mode = "starttls"
    host = "localhost"

    def test_chinese_subject_html_and_recipients(self):
        res = self.send(SUBJECT_SHORT, html=HTML)
        self.check_message(self.one_message(res), SUBJECT_SHORT, html=HTML)

    def test_long_chinese_subject(self):
        res = self.send(SUBJECT_LONG, html=HTML)
        self.check_message(self.one_message(res), SUBJECT_LONG, html=HTML)


class SendIPv6(SendCase):
    """Server on ::1 only, host=::1 (certificate IP SAN ::1)."""
    host = "::1"
    server_host = "::1"

    def test_send_over_ipv6(self):
        res = self.send(SUBJECT_SHORT, html=HTML, to=["a@example.com"])
        self.check_message(self.one_message(res), SUBJECT_SHORT, html=HTML,
                           rcpts=["a@example.com"])


class SendUsage(QNTestCase):
    """Command-line misuse ends with 64 before any network traffic."""

    def test_missing_subject(self):
        srv = self.smtp_server()
        cfg = self.write_config(port=srv.port)
        res = self.run_qn(["send", "--to", "a@example.com"], stdin="x\n", config=cfg)
        self.assertExit(res, EX_USAGE)
        self.assertEqual(srv.connections, 0)

    def test_unknown_command(self):
        res = self.run_qn(["frobnicate"], config=self.write_config(port=1))
        self.assertExit(res, EX_USAGE)

    def test_invalid_recipient(self):
        srv = self.smtp_server()
        cfg = self.write_config(port=srv.port)
        res = self.run_qn(["send", "--to", "not an address", "--subject", "s"], stdin="x\n",
                          config=cfg)
        self.assertIn(res.rc, (EX_USAGE, EX_DATAERR), res.dump())
        self.assertEqual(srv.connections, 0)
        self.assertEqual(srv.messages, [])


if __name__ == "__main__":
    unittest.main()
