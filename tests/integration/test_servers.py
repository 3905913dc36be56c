"""Self-tests of the test infrastructure (CA, smtpserver, faultserver), with
Python's own smtplib as the client.  They need no qqnotify binary: when a
qqnotify test fails, these show whether the servers themselves are sound."""

import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

import faultserver
import harness
import smtpserver
import tlsca

USER = "u@qq.com"
PW = "abcdefghijklmnop"


def client_ctx(ca):
    return ssl.create_default_context(cafile=ca.ca_cert)


class CATests(unittest.TestCase):
    def test_certificates_verify_as_designed(self):
        ca = tlsca.get()
        self.assertIs(ca, tlsca.get(), "the CA is made once per run")

        def verify(name, host="localhost"):
            p = subprocess.run(["openssl", "verify", "-CAfile", ca.ca_cert,
                                "-verify_hostname", host, ca.pair(name)[0]],
                               capture_output=True, text=True, timeout=30)
            return p.returncode == 0, p.stdout + p.stderr

        ok, out = verify("server")
        self.assertTrue(ok, out)
        for ip in ("127.0.0.1", "::1"):
            p = subprocess.run(["openssl", "verify", "-CAfile", ca.ca_cert, "-verify_ip", ip,
                                ca.server_cert], capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        ok, out = verify("wronghost")
        self.assertFalse(ok, "wronghost must not match localhost: " + out)
        ok, out = verify("wronghost", "wronghost.example")
        self.assertTrue(ok, out)
        ok, out = verify("expired")
        self.assertFalse(ok)
        self.assertIn("expired", out)
        ok, out = verify("selfsigned")
        self.assertFalse(ok)
        self.assertIn("self-signed", out)


class SMTPServerTests(unittest.TestCase):
    def setUp(self):
        self.ca = tlsca.get()

    def test_implicit_auth_and_record(self):
        with smtpserver.SMTPServer("implicit", user=USER, password=PW, cert=self.ca.server_cert,
                                   key=self.ca.server_key) as srv:
            c = smtplib.SMTP_SSL("localhost", srv.port, timeout=10, context=client_ctx(self.ca))
            with self.assertRaises(smtplib.SMTPAuthenticationError):
                c.login(USER, "wrong")
            c.login(USER, PW)
            c.sendmail(USER, ["a@example.com", "b@example.com"],
                       b"Subject: t\r\n\r\nline\r\n.dot\r\n")
            c.quit()
            self.assertEqual(srv.wait_messages(1), 1)
            m = srv.messages[0]
            self.assertEqual(m.mail_from, USER)
            self.assertEqual(m.rcpt_tos, ["a@example.com", "b@example.com"])
            self.assertEqual(m.content, b"Subject: t\r\n\r\nline\r\n.dot\r\n")
            self.assertTrue(m.tls)
            self.assertGreaterEqual(srv.auth_failures, 1)
            self.assertEqual(srv.auth_successes, 1)

    def test_starttls_required_before_auth(self):
        with smtpserver.SMTPServer("starttls", user=USER, password=PW, cert=self.ca.server_cert,
                                   key=self.ca.server_key) as srv:
            c = smtplib.SMTP("127.0.0.1", srv.port, timeout=10)
            c.ehlo()
            self.assertTrue(c.has_extn("starttls"))
            self.assertFalse(c.has_extn("auth"), "AUTH must not be offered in clear")
            code, _ = c.docmd("AUTH", "PLAIN AHVAcXEuY29tAGFiY2RlZmdoaWprbG1ub3A=")
            self.assertNotEqual(code, 235)
            code, _ = c.docmd("MAIL", "FROM:<%s>" % USER)
            self.assertGreaterEqual(code, 500)
            c.starttls(context=client_ctx(self.ca))
            c.ehlo()
            self.assertTrue(c.has_extn("auth"))
            c.login(USER, PW)
            c.sendmail(USER, ["x@example.com"], b"Subject: s\r\n\r\nb\r\n")
            c.quit()
            self.assertEqual(srv.wait_messages(1), 1)
            self.assertEqual(srv.auth_attempts, 1)
            self.assertEqual(srv.auth_successes, 1)

    def test_mail_requires_auth(self):
        with smtpserver.SMTPServer("implicit", user=USER, password=PW, cert=self.ca.server_cert,
                                   key=self.ca.server_key) as srv:
            c = smtplib.SMTP_SSL("127.0.0.1", srv.port, timeout=10, context=client_ctx(self.ca))
            c.ehlo()
            code, _ = c.docmd("MAIL", "FROM:<%s>" % USER)
            self.assertEqual(code, 530)
            c.quit()
            self.assertEqual(srv.messages, [])

    def test_login_only_mechanism(self):
        with smtpserver.SMTPServer("implicit", user=USER, password=PW, cert=self.ca.server_cert,
                                   key=self.ca.server_key, auth_mechanisms=["LOGIN"]) as srv:
            c = smtplib.SMTP_SSL("localhost", srv.port, timeout=10, context=client_ctx(self.ca))
            c.ehlo()
            self.assertEqual(c.esmtp_features["auth"].split(), ["LOGIN"])
            c.login(USER, PW)
            c.quit()

    def test_standalone_process(self):
        d = tempfile.mkdtemp(prefix="qqnotify-ss-")
        self.addCleanup(shutil.rmtree, d, True)
        pwf = os.path.join(d, "pw")
        with open(pwf, "w") as f:
            f.write(PW + "\n")
        ready = os.path.join(d, "ready")
        md = os.path.join(d, "maildir")
        p = subprocess.Popen([sys.executable, os.path.join(harness.HERE, "smtpserver.py"),
                              "--mode", "implicit", "--port", "0", "--user", USER,
                              "--password-file", pwf, "--cert", self.ca.server_cert, "--key",
                              self.ca.server_key, "--maildir", md, "--ready-file", ready,
                              "--lifetime", "60"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 15
            while not os.path.exists(ready) and time.monotonic() < deadline and p.poll() is None:
                time.sleep(0.05)
            self.assertTrue(os.path.exists(ready), "no ready file")
            port = int(open(ready).read())
            c = smtplib.SMTP_SSL("localhost", port, timeout=10, context=client_ctx(self.ca))
            c.login(USER, PW)
            c.sendmail(USER, ["a@example.com"], b"Subject: p\r\n\r\nbody\r\n")
            c.quit()
            deadline = time.monotonic() + 10
            while not os.path.exists(os.path.join(md, "0001.json")) and time.monotonic() < deadline:
                time.sleep(0.05)
            with open(os.path.join(md, "0001.eml"), "rb") as f:
                self.assertEqual(f.read(), b"Subject: p\r\n\r\nbody\r\n")
        finally:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, p.stderr.read().decode("utf-8", "replace"))


class FaultServerTests(unittest.TestCase):
    def setUp(self):
        self.ca = tlsca.get()

    def fs(self, mode="implicit", script=None, cert="server", **kw):
        c, k = self.ca.pair(cert)
        s = faultserver.FaultServer(mode, script, cert=c, key=k, **kw).start()
        self.addCleanup(s.stop)
        return s

    def test_default_flow_and_recording(self):
        s = self.fs()
        c = smtplib.SMTP_SSL("localhost", s.port, timeout=10, context=client_ctx(self.ca))
        c.login("u", "p")
        c.sendmail("u@qq.com", ["a@b.example"], b"Subject: x\r\n\r\nl1\r\n.\r\n")
        c.quit()
        self.assertTrue(s.wait_idle())
        cmds = [l.split(" ")[0].upper() for l in s.commands()]
        self.assertEqual(cmds, ["EHLO", "AUTH", "MAIL", "RCPT", "DATA", "QUIT"])
        self.assertEqual(s.data, [(1, b"Subject: x\r\n\r\nl1\r\n..\r\n", True)])
        self.assertEqual(s.auth_log[0][2:], ("PLAIN", b"u", b"p"))

    def test_gbk_reply_and_multiline(self):
        s = self.fs(script={"mail": faultserver.reply(550, ["第一行", "发信人必须与认证用户一致"],
                                                       encoding="gbk")})
        c = smtplib.SMTP_SSL("localhost", s.port, timeout=10, context=client_ctx(self.ca))
        c.login("u", "p")
        code, text = c.docmd("MAIL", "FROM:<u@qq.com>")
        self.assertEqual(code, 550)
        self.assertEqual(text.decode("gbk"), "第一行\n发信人必须与认证用户一致")
        c.close()

    def test_starttls_not_offered_records_clear_lines(self):
        s = faultserver.FaultServer("plain").start()
        self.addCleanup(s.stop)
        c = smtplib.SMTP("127.0.0.1", s.port, timeout=10)
        c.ehlo()
        self.assertFalse(c.has_extn("starttls"))
        self.assertTrue(c.has_extn("auth"))
        c.docmd("AUTH", "PLAIN AHUAcA==")
        c.quit()
        self.assertTrue(s.wait_idle())
        self.assertTrue(any(l.raw.startswith(b"AUTH") and not l.tls for l in s.lines))

    def test_drop_mid_data(self):
        s = self.fs(script={"dot": faultserver.drop(after_bytes=100)})
        c = smtplib.SMTP_SSL("localhost", s.port, timeout=10, context=client_ctx(self.ca))
        c.login("u", "p")
        with self.assertRaises(smtplib.SMTPServerDisconnected):
            c.sendmail("u@qq.com", ["a@b.example"], b"Subject: x\r\n\r\n" + b"y" * 1000 + b"\r\n")
        self.assertTrue(s.wait_idle())
        self.assertEqual(len(s.data), 1)
        self.assertEqual(len(s.data[0][1]), 100)
        self.assertFalse(s.data[0][2])

    def test_delay_and_prompt_stop(self):
        s = self.fs(script={"greeting": faultserver.delay(30)})
        t0 = time.monotonic()
        with self.assertRaises((socket.timeout, TimeoutError, smtplib.SMTPServerDisconnected)):
            smtplib.SMTP_SSL("localhost", s.port, timeout=1, context=client_ctx(self.ca))
        self.assertLess(time.monotonic() - t0, 5)
        t0 = time.monotonic()
        s.stop()
        self.assertLess(time.monotonic() - t0, 5)

    def test_wrong_host_certificate_fails_handshake(self):
        s = self.fs(cert="wronghost")
        with self.assertRaises(ssl.SSLCertVerificationError):
            smtplib.SMTP_SSL("localhost", s.port, timeout=10, context=client_ctx(self.ca))
        self.assertTrue(s.wait_idle())
        self.assertEqual(s.lines, [])
        self.assertEqual(s.tls_failures, 1)

    def test_per_occurrence_script(self):
        s = self.fs(script={"rcpt": [None, faultserver.reply(550, "no such user")]})
        c = smtplib.SMTP_SSL("localhost", s.port, timeout=10, context=client_ctx(self.ca))
        c.ehlo()
        c.docmd("MAIL", "FROM:<u@qq.com>")
        self.assertEqual(c.docmd("RCPT", "TO:<a@b.example>")[0], 250)
        self.assertEqual(c.docmd("RCPT", "TO:<c@d.example>")[0], 550)
        c.close()


if __name__ == "__main__":
    unittest.main()
