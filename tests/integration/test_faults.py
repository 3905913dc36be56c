"""Failures on the way to the mail server: each must end with the right
sysexits code and the right `diagnosis: <id>` from the catalog
(common/diag.c), say cause and fix, and never show the secret."""

import os
import re
import socket
import unittest

import faultserver as fs
from harness import (EX_CONFIG, EX_NOPERM, EX_OK, EX_PROTOCOL, EX_TEMPFAIL, EX_UNAVAILABLE, USER,
                     QNTestCase)

# Diagnosis ids, as defined in common/diag.c's catalog.
ID = {
    "qq_auth": "qq-auth-code",
    "auth": "auth-failed",
    "from_mismatch": "sender-not-account",
    "frequency": "frequency-limited",
    "greeting_4xx": "service-unavailable",
    "spam": "content-spam",
    "rcpt": "recipient-unknown",
    "dropped": "data-connection-lost",
    "timeout": "reply-timeout",
    "starttls_missing": "starttls-missing",
    "cert_hostname": "tls-hostname-mismatch",
    "cert_expired": "tls-cert-expired",
    "cert_untrusted": "tls-unknown-ca",
    "refused": "connect-refused",
    "credential": "credential-missing",
    "tls_wrong_port": "tls-wrong-port",
    "protocol": "smtp-protocol-error",
}

QQ_535 = ("Login Fail. Please enter your authorization code to login. More information in "
          "https://service.mail.qq.com/detail/0/53")
BODY = "服务器告警：测试正文\n.以点开头\n第三行\n"


class FaultCase(QNTestCase):
    def fault(self, script=None, mode="implicit", cert="server", **kw):
        self.srv = self.fault_server(mode, script, cert=cert, **kw)
        return self.srv

    def send(self, provider="custom", tls="implicit", host="localhost", timeout=5, port=None,
             lang="en", **cfg):
        cfg_path = self.write_config(port=port or self.srv.port, host=host, tls=tls,
                                     provider=provider, timeout=timeout, **cfg)
        return self.run_qn(["send", "--to", "a@example.com", "--subject", "【测试】告警"],
                           stdin=BODY, config=cfg_path, lang=lang)

    def expect(self, res, code, diag_key):
        self.assertExit(res, code)
        self.assertDiagnosis(res, ID[diag_key])
        self.assertFailureExplained(res)
        self.assertNoSecret(res)


class SMTPReplies(FaultCase):
    """Scripted server replies at each stage."""

    def test_535_on_qq_means_authorization_code(self):
        self.fault({"auth": fs.reply(535, QQ_535)})
        res = self.send(provider="qq")
        self.expect(res, EX_NOPERM, "qq_auth")
        self.assertGreaterEqual(self.srv.auth_attempts, 1)
        self.assertNotIn("MAIL", " ".join(c.upper()[:4] for c in self.srv.commands()))

    def test_535_on_qq_in_chinese(self):
        self.fault({"auth": fs.reply(535, QQ_535)})
        res = self.send(provider="qq", lang="zh_CN")
        self.assertExit(res, EX_NOPERM)
        # the diagnosis line is for scripts: never translated
        self.assertDiagnosis(res, ID["qq_auth"])
        other = re.sub(r"(?m)^.*(diagnosis:|server said|" + re.escape(QQ_535[:10]) + r").*$",
                       "", res.stderr)
        self.assertRegex(other, r"[\u4e00-\u9fff]",
                         "--lang zh_CN: cause and fix in Chinese" + res.dump())

    def test_535_on_custom_is_generic(self):
        self.fault({"auth": fs.reply(535, "5.7.8 Authentication credentials invalid")})
        res = self.send(provider="custom")
        self.expect(res, EX_NOPERM, "auth")
        self.assertNotEqual(res.diagnosis, ID["qq_auth"])

    def test_550_mail_from_must_equal_user(self):
        self.fault({"mail": fs.reply(550, "Mail from must equal authorized user")})
        res = self.send(provider="qq")
        self.expect(res, EX_UNAVAILABLE, "from_mismatch")

    def test_550_connection_frequency_limited_is_temporary(self):
        self.fault({"mail": fs.reply(550, "Connection frequency limited. http://service.mail.qq.com"
                                          "/cgi-bin/help?subtype=1&&id=20022&&no=1000722")})
        res = self.send(provider="qq")
        self.expect(res, EX_TEMPFAIL, "frequency")

    def test_421_at_greeting(self):
        self.fault({"greeting": fs.reply(421, "Service not available, closing channel",
                                         close=True)})
        res = self.send()
        self.expect(res, EX_TEMPFAIL, "greeting_4xx")
        self.assertEqual(self.srv.auth_attempts, 0)

    def test_554_dt_spm_after_data(self):
        self.fault({"dot": fs.reply(554, "DT:SPM 163 smtp3,G9xpCgDnb1uE Mail rejected as spam")})
        res = self.send(provider="qq")
        self.expect(res, EX_UNAVAILABLE, "spam")
        self.srv.wait_idle(5)
        self.assertEqual(len(self.srv.data), 1, "the message was sent before the 554")

    def test_550_at_rcpt(self):
        self.fault({"rcpt": fs.reply(550, "Mailbox not found")})
        res = self.send()
        self.expect(res, EX_UNAVAILABLE, "rcpt")
        self.srv.wait_idle(5)
        self.assertEqual(self.srv.data, [], "no DATA after a refused recipient")

    def test_second_recipient_refused_fails_whole_message(self):
        self.fault({"rcpt": [None, fs.reply(550, "Mailbox not found")]})
        cfg = self.write_config(port=self.srv.port, host="localhost")
        res = self.run_qn(["send", "--to", "a@example.com,b@example.com", "--subject", "s"],
                          stdin=BODY, config=cfg)
        self.expect(res, EX_UNAVAILABLE, "rcpt")
        self.srv.wait_idle(5)
        cmds = [c.upper() for c in self.srv.commands()]
        self.assertEqual(sum(c.startswith("RCPT") for c in cmds), 2, self.srv.transcript())
        self.assertFalse(any(c.startswith("DATA") for c in cmds),
                         "DATA after a refused recipient:\n" + self.srv.transcript())

    def test_gbk_reply_text_is_decoded(self):
        text = "发信人必须与认证用户一致，请检查发件地址"
        self.fault({"mail": fs.reply(550, text, encoding="gbk")})
        res = self.send(provider="qq")
        self.assertExit(res, EX_UNAVAILABLE)
        self.assertIsNotNone(res.diagnosis, res.dump())
        self.assertIn(text, res.stderr, "GBK server text must be shown decoded" + res.dump())

    def test_multiline_reply_text_is_shown(self):
        self.fault({"mail": fs.reply(550, ["first line of the refusal",
                                           "Mail from must equal authorized user"])})
        res = self.send(provider="qq")
        self.assertExit(res, EX_UNAVAILABLE)
        self.assertIn("first line of the refusal", res.stderr, res.dump())
        self.assertIn("Mail from must equal authorized user", res.stderr, res.dump())


class Network(FaultCase):
    """Dropped connections, silence, refused ports."""

    def test_connection_dropped_mid_data(self):
        self.fault({"dot": fs.drop(after_bytes=64)})
        res = self.send()
        self.expect(res, EX_TEMPFAIL, "dropped")
        self.srv.wait_idle(5)
        self.assertEqual(len(self.srv.data), 1)
        self.assertFalse(self.srv.data[0][2], "the server must have dropped before the end")

    def test_slow_greeting_times_out(self):
        self.fault({"greeting": fs.delay(60)})
        res = self.send(timeout=2)
        self.expect(res, EX_TEMPFAIL, "timeout")
        self.assertLess(res.elapsed, 2 + 3, "timeout = 2 must end the run in about 2 s")
        self.assertGreaterEqual(res.elapsed, 1.5, "gave up before the timeout")

    def test_slow_reply_after_data_times_out(self):
        self.fault({"dot": fs.delay(60)})
        res = self.send(timeout=2)
        self.expect(res, EX_TEMPFAIL, "timeout")
        self.assertLess(res.elapsed, 2 + 3, "timeout = 2 must end the run in about 2 s")

    def test_refused_port(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        self.srv = None
        res = self.send(port=port, host="127.0.0.1")
        self.expect(res, EX_TEMPFAIL, "refused")
        self.assertLess(res.elapsed, 10)


class TLS(FaultCase):
    """STARTTLS missing and certificate failures: 76, nothing sent."""

    def test_starttls_not_offered_never_auth_in_clear(self):
        self.fault(mode="plain", cert=None, auth_in_clear=True)
        res = self.send(tls="starttls", provider="qq")
        self.expect(res, EX_PROTOCOL, "starttls_missing")
        self.srv.wait_idle(5)
        cmds = [c.upper() for c in self.srv.commands()]
        self.assertTrue(cmds and cmds[0].startswith(("EHLO", "HELO")),
                        "the client should have talked to the server:\n" + self.srv.transcript())
        for c in cmds:
            self.assertFalse(c.startswith(("AUTH", "MAIL", "RCPT", "DATA")),
                             "sent in clear without STARTTLS: %r\n%s" % (c, self.srv.transcript()))
        self.assertEqual(self.srv.auth_attempts, 0)

    def test_starttls_refused_454(self):
        self.fault({"starttls": fs.reply(454, "4.7.0 TLS not available due to local problem")},
                   mode="starttls")
        res = self.send(tls="starttls")
        self.assertExit(res, EX_PROTOCOL)
        self.assertIsNotNone(res.diagnosis, res.dump())
        self.srv.wait_idle(5)
        for line in self.srv.lines:
            self.assertFalse(line.raw.upper().startswith(b"AUTH"), self.srv.transcript())

    def test_starttls_dialogue(self):
        """RFC 3207: EHLO, STARTTLS in clear; nothing else until the handshake;
        EHLO again under TLS; AUTH only under TLS."""
        self.fault(mode="starttls", auth_in_clear=True)
        res = self.send(tls="starttls")
        self.assertExit(res, EX_OK)
        self.srv.wait_idle(5)
        t = self.srv.transcript()
        clear = [l.raw.split(b" ")[0].upper() for l in self.srv.lines if not l.tls]
        secured = [l.raw.split(b" ")[0].upper() for l in self.srv.lines if l.tls]
        self.assertEqual(clear, [b"EHLO", b"STARTTLS"], t)
        self.assertTrue(secured and secured[0] == b"EHLO", "EHLO again after STARTTLS:\n" + t)
        self.assertIn(b"AUTH", secured, t)
        self.assertFalse(any("pipelined" in e for _, _, e in self.srv.events),
                         "the client sent data before the TLS handshake:\n" + t)
        self.assertEqual([d for _, d, complete in self.srv.data if complete].__len__(), 1, t)

    def test_starttls_reply_injection_is_discarded(self):
        """Plain-text bytes after the STARTTLS 220 (response injection) must not be
        read as replies inside TLS: either they are discarded or the handshake fails."""
        injected = b"250-injected\r\n535 5.7.8 INJECTED-BEFORE-TLS\r\n"
        self.fault({"starttls": fs.raw(b"220 2.0.0 Ready to start TLS\r\n" + injected)},
                   mode="starttls")
        res = self.send(tls="starttls")
        self.assertIn(res.rc, (EX_OK, EX_PROTOCOL), res.dump())
        self.assertNotIn("INJECTED", res.stdout + res.stderr, res.dump())
        if res.rc == EX_OK:
            self.srv.wait_idle(5)
            self.assertEqual(sum(1 for _, _, c in self.srv.data if c), 1)

    def test_implicit_tls_to_plain_port(self):
        """tls = implicit against a port that speaks plain SMTP (587/25)."""
        self.fault(mode="plain", cert=None)
        res = self.send(tls="implicit")
        self.expect(res, EX_PROTOCOL, "tls_wrong_port")
        self.srv.wait_idle(5)
        self.assertEqual(self.srv.auth_attempts, 0)

    def _cert_failure(self, cert, key, tls="implicit"):
        self.fault(mode=tls, cert=cert)
        res = self.send(tls=tls)
        self.expect(res, EX_PROTOCOL, key)
        self.srv.wait_idle(5)
        secured = [l for l in self.srv.lines if l.tls]
        self.assertEqual(secured, [], "nothing may be sent over a rejected TLS session")
        self.assertEqual(self.srv.auth_attempts, 0)
        return res

    def test_certificate_for_another_host(self):
        self._cert_failure("wronghost", "cert_hostname")

    def test_certificate_for_another_host_starttls(self):
        self._cert_failure("wronghost", "cert_hostname", tls="starttls")

    def test_expired_certificate(self):
        self._cert_failure("expired", "cert_expired")

    def test_self_signed_certificate_not_in_ca_file(self):
        self._cert_failure("selfsigned", "cert_untrusted")


class HostileServer(FaultCase):
    """Replies that break the protocol or its bounds: a clean failure, no hang."""

    def assertCleanFailure(self, res):
        self.assertFalse(res.timed_out, res.dump())
        self.assertIn(res.rc, (EX_TEMPFAIL, EX_PROTOCOL), "a clean failure, not a crash" + res.dump())
        self.assertIsNotNone(res.diagnosis, res.dump())
        self.assertNoSecret(res)

    def test_http_server_instead_of_smtp(self):
        self.fault({"greeting": fs.raw(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
                                       close=True)})
        res = self.send()
        self.assertCleanFailure(res)
        self.assertEqual(res.rc, EX_PROTOCOL, res.dump())
        self.assertDiagnosis(res, ID["protocol"])

    def test_overlong_reply_line(self):
        self.fault({"greeting": fs.raw(b"220 " + b"x" * 20000 + b"\r\n")})
        res = self.send(timeout=3)
        self.assertCleanFailure(res)
        self.assertLess(res.elapsed, 10)

    def test_endless_multiline_reply(self):
        self.fault({"ehlo": fs.raw(b"250-localhost\r\n" + b"250-FILLER\r\n" * 5000
                                   + b"250 OK\r\n")})
        res = self.send(timeout=3)
        self.assertCleanFailure(res)
        self.assertLess(res.elapsed, 10)

    def test_reply_code_changes_between_lines(self):
        self.fault({"ehlo": fs.raw(b"250-localhost\r\n354-odd\r\n250 AUTH PLAIN\r\n")})
        res = self.send(timeout=3)
        self.assertCleanFailure(res)
        self.assertEqual(self.srv.auth_attempts, 0)


class Configuration(FaultCase):
    """Configuration and secret problems: 78 before any network traffic."""

    def setUp(self):
        super().setUp()
        self.smtp = self.smtp_server()

    def test_password_key_in_config_is_refused(self):
        for key, section in (("password", "smtp"), ("Auth-Code", "smtp"),
                             ("smtp_password", "smtp"), ("授权码", "smtp"),
                             ("password", "notify")):
            with self.subTest(key=key, section=section):
                cfg = self.write_config(port=self.smtp.port, name="pw.conf")
                text = open(cfg, encoding="utf-8").read()
                marker = "[%s]\n" % section
                text = text.replace(marker, marker + "%s = %s\n" % (key, self.secret))
                self.write("pw.conf", text)
                res = self.run_qn(["send", "--to", "a@example.com", "--subject", "s"],
                                  stdin="x\n", config=cfg)
                self.assertExit(res, EX_CONFIG)
                self.assertIn("qqnotify-secret", res.stderr,
                              "point to qqnotify-secret set" + res.dump())
                self.assertRegex(res.stderr, r"pw\.conf:\d+", "file:line" + res.dump())
                self.assertNoSecret(res)
                self.assertEqual(self.smtp.connections, 0)

    def test_missing_secret_file(self):
        empty = os.path.join(self.tmp, "empty-creds")
        os.mkdir(empty, 0o700)
        cfg = self.write_config(port=self.smtp.port)
        res = self.run_qn(["send", "--to", "a@example.com", "--subject", "s"], stdin="x\n",
                          config=cfg, env={"CREDENTIALS_DIRECTORY": empty})
        self.expect(res, EX_CONFIG, "credential")
        self.assertEqual(self.smtp.auth_attempts, 0)
        self.assertEqual(self.smtp.messages, [])

    def test_no_credentials_directory(self):
        cfg = self.write_config(port=self.smtp.port)
        res = self.run_qn(["send", "--to", "a@example.com", "--subject", "s"], stdin="x\n",
                          config=cfg, creds=False)
        self.expect(res, EX_CONFIG, "credential")
        self.assertEqual(self.smtp.messages, [])

    def test_missing_config_file(self):
        res = self.run_qn(["send", "--to", "a@example.com", "--subject", "s"], stdin="x\n",
                          config=os.path.join(self.tmp, "nonexistent.conf"))
        self.assertExit(res, EX_CONFIG)
        self.assertIn("nonexistent.conf", res.stderr)


# every stage name `check` may print, in the order a session goes through them
STAGE_ORDER = ["config", "credential", "resolve", "connect", "tls", "greeting", "ehlo",
               "starttls", "auth", "mail", "rcpt", "data", "send", "quit"]
_STAGE_LINE = re.compile(r"^\s*([✓✗])\s+(\S+)")


def stage_lines(text):
    return [(m.group(1), m.group(2)) for m in map(_STAGE_LINE.match, text.splitlines()) if m]


class Check(FaultCase):
    """`qqnotify check`: one ✓/✗ line per stage."""

    def assertStagesInOrder(self, lines, res):
        names = [n for _, n in lines]
        for n in names:
            self.assertIn(n, STAGE_ORDER, "unknown stage name %r" % n + res.dump())
        idx = [STAGE_ORDER.index(n) for n in names]
        self.assertEqual(idx, sorted(idx), "stages out of order" + res.dump())

    def test_check_success_implicit(self):
        srv = self.smtp_server()
        cfg = self.write_config(port=srv.port, host="localhost")
        res = self.run_qn(["check"], config=cfg)
        self.assertExit(res, EX_OK)
        lines = stage_lines(res.stdout)
        self.assertTrue(lines, "no stage lines" + res.dump())
        self.assertTrue(all(mark == "✓" for mark, _ in lines), res.dump())
        names = [n for _, n in lines]
        for must in ("config", "credential", "connect", "tls", "greeting", "ehlo", "auth",
                     "mail"):
            self.assertIn(must, names, "stage %s missing" % must + res.dump())
        self.assertNotIn("starttls", names)
        self.assertStagesInOrder(lines, res)
        self.assertEqual(srv.messages, [], "check without --send-test sends nothing")
        self.assertEqual(srv.auth_successes, 1)
        self.assertNoSecret(res)

    def test_check_success_starttls_with_send_test(self):
        srv = self.smtp_server("starttls")
        cfg = self.write_config(port=srv.port, host="localhost", tls="starttls")
        res = self.run_qn(["check", "--send-test", "test@example.com"], config=cfg)
        self.assertExit(res, EX_OK)
        lines = stage_lines(res.stdout)
        self.assertTrue(all(mark == "✓" for mark, _ in lines), res.dump())
        names = [n for _, n in lines]
        for must in ("config", "credential", "connect", "greeting", "ehlo", "starttls", "auth",
                     "mail", "send"):
            self.assertIn(must, names, "stage %s missing" % must + res.dump())
        # ehlo (twice) and tls come around starttls: leave them out of the order check
        self.assertStagesInOrder([l for l in lines if l[1] not in ("ehlo", "tls")], res)
        self.assertEqual(srv.wait_messages(1, 5), 1)
        self.assertEqual(srv.messages[0].rcpt_tos, ["test@example.com"])
        self.assertEqual(srv.messages[0].mail_from, USER)

    def test_check_auth_failure(self):
        srv = self.smtp_server(password="not-the-secret")
        cfg = self.write_config(port=srv.port, host="localhost")
        res = self.run_qn(["check"], config=cfg)
        self.assertExit(res, EX_NOPERM)
        out = res.stdout + res.stderr
        lines = stage_lines(out)
        self.assertIn(("✗", "auth"), lines, res.dump())
        failed_at = lines.index(("✗", "auth"))
        self.assertTrue(all(m == "✓" for m, _ in lines[:failed_at]), res.dump())
        for must in ("config", "connect", "tls", "greeting", "ehlo"):
            self.assertIn(("✓", must), lines[:failed_at], res.dump())
        self.assertRegex(out, r"(?im)^\s*fix\b.*\S", "a fix line" + res.dump())
        self.assertRegex(out, r"(?m)^\s*diagnosis:\s*" + re.escape(ID["auth"]) + r"\s*$",
                         res.dump())
        self.assertEqual(srv.auth_attempts, 1)
        self.assertNoSecret(res)

    def test_check_missing_secret(self):
        srv = self.smtp_server()
        cfg = self.write_config(port=srv.port, host="localhost")
        empty = os.path.join(self.tmp, "empty-creds")
        os.mkdir(empty, 0o700)
        res = self.run_qn(["check"], config=cfg, env={"CREDENTIALS_DIRECTORY": empty})
        self.assertExit(res, EX_CONFIG)
        lines = stage_lines(res.stdout + res.stderr)
        self.assertIn(("✓", "config"), lines, res.dump())
        self.assertIn(("✗", "credential"), lines, res.dump())
        self.assertNotIn(("✓", "auth"), lines, res.dump())
        self.assertIn(ID["credential"], res.stdout + res.stderr, res.dump())
        self.assertEqual(srv.auth_attempts, 0)

    def test_check_starttls_missing(self):
        self.fault(mode="plain", cert=None)
        cfg = self.write_config(port=self.srv.port, host="localhost", tls="starttls")
        res = self.run_qn(["check"], config=cfg)
        self.assertExit(res, EX_PROTOCOL)
        lines = stage_lines(res.stdout + res.stderr)
        self.assertIn(("✗", "starttls"), lines, res.dump())
        self.srv.wait_idle(5)
        self.assertEqual(self.srv.auth_attempts, 0)


if __name__ == "__main__":
    unittest.main()
