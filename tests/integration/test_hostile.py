"""Hostile peers: a server (or something in the path) that sends too much,
too slowly, malformed or out of step, breaks TLS, presents bad
certificates, or a message body built to smuggle a second message through
DATA.  Every case asserts the exit code (and the diagnosis where one is
meaningful), that nothing is authenticated or sent that should not be, and
that the client ends within a bounded time: the client timeout is 3 s and
every run is killed after 60 s at the latest."""

import os
import re
import subprocess
import time
import unittest
from email import policy
from email.parser import BytesParser

import faultserver as fs
import tlsca
from harness import (EX_OK, EX_PROTOCOL, EX_TEMPFAIL, EX_UNAVAILABLE, QNTestCase)

TIMEOUT = 3          # [smtp] timeout of every run here
BOUND = TIMEOUT + 4  # no run may take longer than this (slack for a loaded machine)
BODY = "服务器告警：测试正文\n第二行\n"
SMTP_PROTOCOL = "smtp-protocol-error"
REPLY_TIMEOUT = "reply-timeout"
DATA_LOST = "data-connection-lost"


class HostileCase(QNTestCase):
    def fault(self, script=None, mode="implicit", cert="server", **kw):
        kw.setdefault("io_timeout", 20.0)
        self.srv = self.fault_server(mode, script, cert=cert, **kw)
        return self.srv

    def send(self, tls="implicit", body=BODY, timeout=TIMEOUT, subject="【测试】告警"):
        cfg = self.write_config(port=self.srv.port, host="localhost", tls=tls, timeout=timeout)
        return self.run_qn(["send", "--to", "a@example.com", "--subject", subject], stdin=body,
                           config=cfg, timeout=60)

    def assertBounded(self, res, limit=BOUND):
        self.assertFalse(res.timed_out, "the client hung" + res.dump())
        self.assertLess(res.elapsed, limit, "the client took too long" + res.dump())
        self.assertGreaterEqual(res.rc, 0, "killed by a signal" + res.dump())

    def assertFails(self, res, code, diagnosis=None):
        self.assertBounded(res)
        self.assertExit(res, code)
        if diagnosis is not None:
            self.assertDiagnosis(res, diagnosis)
        else:
            self.assertIsNotNone(res.diagnosis, "a failure without diagnosis" + res.dump())
        self.assertNoSecret(res)
        self.assertCleanOutput(res)

    def assertCleanOutput(self, res):
        """Server bytes reach the terminal only sanitised: no NUL, ESC, BEL, C1 CSI."""
        for name, b in (("stdout", res.stdout_b), ("stderr", res.stderr_b)):
            for bad in (b"\x00", b"\x1b", b"\x07", b"\xc2\x9b", b"\r"):
                self.assertNotIn(bad, b, "%r reached %s" % (bad, name) + res.dump())
            b.decode("utf-8")  # raises when not UTF-8

    def assertNothingSent(self):
        self.srv.wait_idle(5)
        cmds = [c.upper() for c in self.srv.commands()]
        for c in cmds:
            self.assertFalse(c.startswith(("AUTH", "MAIL", "RCPT", "DATA")),
                             "sent %r to a hostile server:\n%s" % (c, self.srv.transcript()))
        self.assertEqual(self.srv.auth_attempts, 0, self.srv.transcript())


class OversizedReplies(HostileCase):
    def test_reply_line_of_one_megabyte(self):
        self.fault({"greeting": fs.raw(b"220 " + b"x" * (1024 * 1024) + b"\r\n")})
        res = self.send()
        self.assertFails(res, EX_PROTOCOL)
        self.assertNothingSent()

    def test_one_megabyte_reply_in_short_lines(self):
        line = b"250-" + b"y" * 996 + b"\r\n"
        self.fault({"ehlo": fs.raw(line * 1024 + b"250 OK\r\n")})
        res = self.send()
        self.assertFails(res, EX_PROTOCOL)
        self.assertNothingSent()

    def test_one_hundred_thousand_continuation_lines(self):
        self.fault({"ehlo": fs.raw(b"250-localhost\r\n" + b"250-X\r\n" * 100000 + b"250 OK\r\n")})
        res = self.send()
        self.assertFails(res, EX_PROTOCOL)
        self.assertNothingSent()

    def test_endless_greeting_without_line_end(self):
        # 4 MiB without a line end, then silence: the line bound ends it, not the timeout
        self.fault({"greeting": fs.raw(b"220 " + b"z" * (4 * 1024 * 1024))})
        res = self.send()
        self.assertFails(res, EX_PROTOCOL)
        self.assertLess(res.elapsed, TIMEOUT, "the line bound should stop it before the timeout"
                        + res.dump())


class SlowPeers(HostileCase):
    """A byte per second: each reply has a deadline, not each read."""

    def test_slowloris_greeting(self):
        self.fault({"greeting": fs.raw(b"220 localhost ESMTP slow server\r\n", trickle=1.0)})
        res = self.send()
        self.assertFails(res, EX_TEMPFAIL, REPLY_TIMEOUT)
        self.assertGreaterEqual(res.elapsed, TIMEOUT - 0.5, "gave up before the timeout")
        self.assertNothingSent()

    def test_slowloris_multiline_ehlo(self):
        self.fault({"ehlo": fs.raw(b"250-localhost\r\n" * 40 + b"250 AUTH PLAIN\r\n",
                                   trickle=0.2)})
        res = self.send()
        self.assertFails(res, EX_TEMPFAIL, REPLY_TIMEOUT)
        self.assertNothingSent()

    def test_slowloris_after_data(self):
        self.fault({"dot": fs.raw(b"250 2.0.0 queued as slow\r\n", trickle=1.0)})
        res = self.send()
        self.assertFails(res, EX_TEMPFAIL, REPLY_TIMEOUT)

    def test_server_that_stops_reading_the_message(self):
        # ~11 MB in base64: more than the loopback socket buffers, so the writes block
        # (a write deadline, not only a reply deadline, must end it)
        self.fault({"dot": fs.stall()})
        body = ("告警数据 " * 60 + "\n") * 10500  # 8.2 MB: just below the 8 MiB bound
        res = self.send(body=body)
        self.assertFails(res, EX_TEMPFAIL)
        self.assertIn("accepted no data", res.stderr, "the write deadline ended it" + res.dump())

    def test_reply_without_line_end_then_silence(self):
        self.fault({"greeting": fs.raw(b"220 localhost ESMTP")})
        res = self.send()
        self.assertFails(res, EX_TEMPFAIL, REPLY_TIMEOUT)

    def test_reply_without_line_end_then_close(self):
        self.fault({"greeting": fs.raw(b"220 localhost ESMTP", close=True)})
        res = self.send()
        self.assertFails(res, EX_TEMPFAIL)
        self.assertLess(res.elapsed, TIMEOUT, "a close is not a timeout" + res.dump())


class MalformedReplies(HostileCase):
    INVALID = [b"999 too high", b"199 too low", b"abc not a code", b"2500 four digits",
               b"25 two digits", b"-220 sign", b"220\tTAB separator", b"220_underscore",
               b" 220 leading blank", b"", b"\xff\xfe220 bytes first", b"\x00220 NUL first"]

    def test_invalid_reply_codes(self):
        for line in self.INVALID:
            with self.subTest(line=line):
                self.fault({"greeting": fs.raw(line + b"\r\n")})
                res = self.send()
                self.assertFails(res, EX_PROTOCOL, SMTP_PROTOCOL)
                self.assertNothingSent()
                self.srv.stop()

    def test_invalid_code_in_the_middle_of_a_session(self):
        self.fault({"rcpt": fs.raw(b"2x0 what\r\n")})
        res = self.send()
        self.assertFails(res, EX_PROTOCOL, SMTP_PROTOCOL)
        self.srv.wait_idle(5)
        self.assertEqual(self.srv.data, [], "DATA after a malformed RCPT reply")

    def test_nul_bytes_in_greeting_text(self):
        self.fault({"greeting": fs.raw(b"220 local\x00host ESMTP \x00\x00\r\n")})
        res = self.send()
        self.assertBounded(res)
        self.assertExit(res, EX_OK)
        self.assertCleanOutput(res)

    def test_nul_and_terminal_escapes_in_a_refusal(self):
        self.fault({"mail": fs.raw(b"550 5.7.1 bad\x00sender \x1b[2J\x1b]0;owned\x07 "
                                   b"\xc2\x9b31m \xe2\x80\xae\xd0\x90dmin\r\n")})
        res = self.send()
        self.assertFails(res, EX_UNAVAILABLE)
        self.assertIn("bad", res.stderr, "the server's words are shown" + res.dump())
        self.assertNotIn("\u202e", res.stderr, "bidi override shown" + res.dump())

    def test_bare_lf_line_ends_are_accepted(self):
        self.fault({"greeting": fs.raw(b"220 localhost ESMTP\n"),
                    "ehlo": fs.raw(b"250-localhost\n250-AUTH PLAIN LOGIN\n250 8BITMIME\n")})
        res = self.send()
        self.assertBounded(res)
        self.assertExit(res, EX_OK)

    def test_replies_out_of_step(self):
        # an unsolicited extra reply after the greeting shifts every later reply by one
        self.fault({"greeting": fs.raw(b"220 localhost ESMTP\r\n250 unsolicited\r\n")})
        res = self.send()
        self.assertBounded(res)
        self.assertNotEqual(res.rc, EX_OK, "a desynchronised session must not succeed"
                            + res.dump())
        self.assertIsNotNone(res.diagnosis, res.dump())
        self.srv.wait_idle(5)
        self.assertEqual([d for d in self.srv.data if d[2]], [], "a message was sent anyway")


class StartTLSInjection(HostileCase):
    """RFC 3207 section 5: what arrived before the handshake is discarded."""

    def test_pipelined_replies_after_the_220_are_discarded(self):
        injected = (b"250-smtp.injected\r\n250 AUTH PLAIN\r\n235 2.7.0 INJECTED-ok\r\n"
                    b"250 2.1.0 INJECTED-mail\r\n")
        self.fault({"starttls": fs.raw(b"220 2.0.0 Ready to start TLS\r\n" + injected)},
                   mode="starttls")
        res = self.send(tls="starttls")
        self.assertBounded(res)
        self.assertExit(res, EX_OK)
        self.assertNotIn("INJECTED", res.stdout + res.stderr, res.dump())
        self.srv.wait_idle(5)
        t = self.srv.transcript()
        clear = [l.raw.split(b" ")[0].upper() for l in self.srv.lines if not l.tls]
        secured = [l.raw.split(b" ")[0].upper() for l in self.srv.lines if l.tls]
        self.assertEqual(clear, [b"EHLO", b"STARTTLS"], t)
        self.assertEqual(secured[:2], [b"EHLO", b"AUTH"], "EHLO again, then AUTH, under TLS:\n"
                         + t)
        self.assertEqual(self.srv.auth_attempts, 1, t)
        self.assertEqual(sum(1 for d in self.srv.data if d[2]), 1, t)

    def test_starttls_refused_after_unsolicited_lines(self):
        # replies queued before STARTTLS is even sent: its reply is not a 220 -> stop
        self.fault({"ehlo": fs.raw(b"250-localhost\r\n250 STARTTLS\r\n454 4.7.0 early\r\n")},
                   mode="starttls")
        res = self.send(tls="starttls")
        self.assertFails(res, EX_PROTOCOL)
        self.assertNothingSent()


class BrokenTLS(HostileCase):
    def _fault(self, fault, mode):
        self.fault(mode=mode, tls_fault=fault)
        res = self.send(tls=mode)
        self.assertBounded(res)
        self.assertIn(res.rc, (EX_PROTOCOL, EX_TEMPFAIL), res.dump())
        self.assertIsNotNone(res.diagnosis, res.dump())
        self.assertNoSecret(res)
        self.assertCleanOutput(res)
        self.assertNothingSent()
        return res

    def test_handshake_aborted_at_once(self):
        for mode in ("implicit", "starttls"):
            with self.subTest(mode=mode):
                self._fault("close", mode)
                self.srv.stop()

    def test_handshake_aborted_after_client_hello(self):
        for mode in ("implicit", "starttls"):
            with self.subTest(mode=mode):
                self._fault("after_hello", mode)
                self.srv.stop()

    def test_plain_text_instead_of_server_hello(self):
        for mode in ("implicit", "starttls"):
            with self.subTest(mode=mode):
                res = self._fault("garbage", mode)
                self.assertEqual(res.rc, EX_PROTOCOL, res.dump())
                self.srv.stop()

    def test_handshake_never_answered(self):
        for mode in ("implicit", "starttls"):
            with self.subTest(mode=mode):
                res = self._fault("stall", mode)
                self.assertGreaterEqual(res.elapsed, TIMEOUT - 0.5, res.dump())
                self.srv.stop()


class DataPhaseClose(HostileCase):
    """The connection ends while the message is being sent: a retry, never a success."""

    def _drop(self, mode, **kw):
        self.fault({"dot": fs.drop(after_bytes=200, **kw)}, mode=mode)
        res = self.send(tls=mode, body=BODY * 200)
        self.assertFails(res, EX_TEMPFAIL)
        self.srv.wait_idle(5)
        self.assertEqual([d[2] for d in self.srv.data], [False], self.srv.transcript())
        events = [e for _, _, e in self.srv.events]
        if kw.get("reset"):
            self.assertIn("closing with a reset", events, self.srv.transcript())
        if kw.get("tls_shutdown"):
            self.assertIn("sending close_notify", events, self.srv.transcript())
        return res

    def test_close_without_close_notify_implicit(self):
        self.assertDiagnosis(self._drop("implicit"), DATA_LOST)

    def test_close_without_close_notify_starttls(self):
        self.assertDiagnosis(self._drop("starttls"), DATA_LOST)

    def test_tcp_reset_during_data(self):
        self._drop("implicit", reset=True)

    def test_close_notify_during_data(self):
        self._drop("implicit", tls_shutdown=True)


class Certificates(HostileCase):
    """Certificates the client must refuse: nothing is sent over such a session."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.weak = _make_weak_certs(tlsca.get())

    def _refused(self, cert, key, mode="implicit", **kw):
        srv = fs.FaultServer(mode, None, cert=cert, key=key, io_timeout=20.0, **kw)
        srv.start()
        self.addCleanup(srv.stop)
        self.srv = srv
        res = self.send(tls=mode)
        self.assertFails(res, EX_PROTOCOL)
        self.assertTrue(res.diagnosis.startswith("tls-"), "a TLS diagnosis" + res.dump())
        srv.wait_idle(5)
        self.assertEqual([l for l in srv.lines if l.tls], [],
                         "something was sent over a refused session:\n" + srv.transcript())
        self.assertEqual(srv.auth_attempts, 0)
        return res

    def test_expired_starttls(self):
        self._refused(*self.ca.pair("expired"), mode="starttls")

    def test_self_signed_starttls(self):
        self._refused(*self.ca.pair("selfsigned"), mode="starttls")

    def test_wrong_host_implicit(self):
        res = self._refused(*self.ca.pair("wronghost"))
        self.assertDiagnosis(res, "tls-hostname-mismatch")

    def test_rsa_1024_key_is_refused(self):
        res = self._refused(self.weak["rsa1024"][0], self.weak["rsa1024"][1],
                            ciphers="DEFAULT:@SECLEVEL=0")
        self.assertRegex(res.stderr, r"(?i)too (weak|small)", res.dump())

    def test_sha1_signed_certificate_is_refused(self):
        res = self._refused(self.weak["sha1"][0], self.weak["sha1"][1],
                            ciphers="DEFAULT:@SECLEVEL=0")
        self.assertRegex(res.stderr, r"(?i)too weak", res.dump())

    def test_tls_1_1_only_server_is_refused(self):
        self._refused(*self.ca.pair("server"), ciphers="DEFAULT:@SECLEVEL=0",
                      tls_versions=("TLSv1", "TLSv1_1"))


def _make_weak_certs(ca):
    """An RSA-1024 leaf and a SHA-1-signed EC leaf for localhost, signed by the test CA."""
    d = os.path.join(ca.dir, "weak")
    out = {"rsa1024": (os.path.join(d, "rsa1024.pem"), os.path.join(d, "rsa1024.key")),
           "sha1": (os.path.join(d, "sha1.pem"), os.path.join(d, "sha1.key"))}
    if all(os.path.exists(p) for pair in out.values() for p in pair):
        return out
    os.makedirs(d, exist_ok=True)
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("basicConstraints = critical, CA:FALSE\nextendedKeyUsage = serverAuth\n"
                "subjectAltName = %s\n" % tlsca.LOCAL_SAN)

    def run(args):
        p = subprocess.run([tlsca.OPENSSL] + args, cwd=d, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        if p.returncode != 0:
            raise RuntimeError("openssl %s: %s" % (" ".join(args), p.stderr.decode()))

    for name, keyopt, md in (("rsa1024", ["-newkey", "rsa:1024"], "-sha256"),
                             ("sha1", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
                              "-sha1")):
        run(["req", "-new", "-nodes"] + keyopt + ["-keyout", name + ".key", "-subj",
                                                  "/CN=localhost", "-out", name + ".csr"])
        run(["x509", "-req", "-in", name + ".csr", "-CA", ca.ca_cert, "-CAkey", ca.ca_key,
             "-set_serial", "0x%x" % (0x5000 + len(name)), "-days", "30", md, "-extfile", ext,
             "-out", name + ".pem"])
    return out


def crlf(b):
    """Every line break (CRLF, lone CR, lone LF) as CRLF."""
    return re.sub(rb"\r\n|\r|\n", b"\r\n", b)


SMUGGLE = b"MAIL FROM:<evil@example.net>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\n" \
          b"From: evil@example.net\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n"
SMUGGLING_BODIES = {
    "lf-dot-crlf": b"first line\n.\r\n" + SMUGGLE + b".\r\nlast line\n",
    "cr-dot-crlf": b"first line\r.\r\n" + SMUGGLE + b".\r\nlast line\n",
    "lf-dot-lf": b"first line\n.\n" + SMUGGLE + b".\nlast line\n",
    "cr-dot-cr": b"first line\r.\r" + SMUGGLE + b".\rlast line",
    "crlf-dot-crlf": b"first line\r\n.\r\n" + SMUGGLE + b"..\r\n.x\r\nlast\r\n",
    "dot-first-line": b".\r\n" + SMUGGLE,
    "cr-cr-lf": b"a\r\r\n.\r\r\nb\n\r.\n\rc",
    "dots-only": b".\n..\n...\n.\r\n.",
}


class Smuggling(HostileCase):
    """Bodies built to end DATA early and start a second message: the real
    server (aiosmtpd) must receive exactly one message whose body is the
    input with every line break made CRLF."""

    def spool_config(self, srv):
        spool = self.path("spool")
        if not os.path.isdir(spool):
            self.make_spool(spool)
        cfg = self.write_config(port=srv.port, host="localhost", timeout=10)
        with open(cfg, "a", encoding="utf-8") as f:
            f.write("\n%s\n[limits]\nmax_per_minute = 0\nmax_per_hour = 0\n"
                    "max_per_day = 0\ndigest_after = 0\n" % self.spool_section(spool))
        return cfg

    def one_message(self, srv, res):
        self.assertBounded(res, 60)
        srv.wait_messages(1, 5)
        time.sleep(0.3)  # a smuggled second message would arrive right after the first
        self.assertEqual(len(srv.messages), 1, "exactly one message" + res.dump())
        m = srv.messages[0]
        self.assertEqual(m.mail_from, "sender@qq.com")
        self.assertEqual(m.rcpt_tos, ["a@example.com"])
        return m

    def test_sendmail_passes_the_body_through_intact(self):
        """sendmail keeps an ASCII body as it is (no base64): dot-stuffing and CRLF
        normalisation are all that stand between the body and the SMTP dialogue."""
        for name, body in SMUGGLING_BODIES.items():
            with self.subTest(body=name):
                srv = self.smtp_server("implicit")
                cfg = self.spool_config(srv)
                msg = b"From: root\nTo: a@example.com\nSubject: smuggling " + name.encode() \
                    + b"\n\n" + body
                res = self.run_qn(["sendmail", "--no-flush", "-t", "-i"], stdin=msg, config=cfg,
                                  timeout=30)
                self.assertExit(res, EX_OK, "(sendmail)")
                res = self.run_qn(["flush"], config=cfg, timeout=60)
                self.assertExit(res, EX_OK, "(flush)")
                m = self.one_message(srv, res)
                got = m.content.split(b"\r\n\r\n", 1)[1]
                want = crlf(body)
                if not want.endswith(b"\r\n"):
                    want += b"\r\n"
                self.assertEqual(got.rstrip(b"\r\n"), want.rstrip(b"\r\n"),
                                 "the body arrived changed")
                self.assertNotIn(b"Subject: smuggled", m.content.split(b"\r\n\r\n", 1)[0])
                srv.stop()

    def test_send_body_arrives_exactly(self):
        for name, body in SMUGGLING_BODIES.items():
            with self.subTest(body=name):
                srv = self.smtp_server("implicit")
                cfg = self.write_config(port=srv.port, host="localhost", timeout=10)
                res = self.run_qn(["send", "--to", "a@example.com", "--subject", name],
                                  stdin=body, config=cfg, timeout=30)
                self.assertExit(res, EX_OK)
                m = self.one_message(srv, res)
                msg = BytesParser(policy=policy.default).parsebytes(m.content)
                text = msg.get_body(preferencelist=("plain",)).get_content()
                self.assertEqual(crlf(text.encode("utf-8")), crlf(body))
                srv.stop()

    def test_wire_has_one_terminator(self):
        """On the wire (faultserver keeps DATA raw, still dot-stuffed): CRLF only, and
        no line holding a lone dot before the end."""
        for name, body in SMUGGLING_BODIES.items():
            with self.subTest(body=name):
                srv = self.fault()
                spool_cfg = self.spool_config(srv)
                msg = b"From: root\nTo: a@example.com\nSubject: wire\n\n" + body
                res = self.run_qn(["sendmail", "--no-flush", "-t", "-i"], stdin=msg,
                                  config=spool_cfg, timeout=30)
                self.assertExit(res, EX_OK, "(sendmail)")
                res = self.run_qn(["flush"], config=spool_cfg, timeout=60)
                self.assertExit(res, EX_OK, "(flush)")
                srv.wait_idle(5)
                datas = [d for _, d, complete in srv.data if complete]
                self.assertEqual(len(datas), 1, srv.transcript())
                wire = datas[0]
                self.assertNotRegex(wire, rb"\r(?!\n)|(?<!\r)\n", "bare CR or LF on the wire")
                lines = wire.split(b"\r\n")
                self.assertNotIn(b".", lines, "a lone dot inside DATA")
                cmds = [c.upper().split(" ")[0] for c in srv.commands()]
                self.assertEqual(cmds.count("MAIL"), 1, srv.transcript())
                self.assertEqual(cmds.count("DATA"), 1, srv.transcript())
                srv.stop()


if __name__ == "__main__":
    unittest.main()
