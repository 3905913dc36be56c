"""Failover between routes end to end: `qqnotify flush` with [notify]
routes = smtp, ops against a scripted SMTP server (faultserver.py) that
answers as QQ Mail does when it fails, and a local WeCom robot
(robotsim.py).  Each of QQ's lasting failures — a revoked authorization
code (535), "550 Connection frequency limited", a content refusal, an
outage — must put the alert in front of a person through the robot, with
a note naming the failed route and its diagnosis, once per incident."""

import email
import email.policy
import json
import os
import secrets
import time

import faultserver as fs
from harness import EX_OK, EX_TEMPFAIL, USER
from test_dns import closed_port
from test_routes import RouteCase
from test_trust import login_entry

QQ_535 = ("Login Fail. Please enter your authorization code to login. More information in "
          "https://service.mail.qq.com/detail/0/53")
QQ_FREQ = ("Connection frequency limited. http://service.mail.qq.com/cgi-bin/help?subtype=1&&"
           "id=20022&&no=1000722")
QQ_CONTENT = "The mail may contain inappropriate words or content."


class Failover(RouteCase):
    def setUp(self):
        super().setUp()
        self.srv = None

    def smtp(self, script=None):
        self.srv = self.fault_server("implicit", script)
        return self.srv

    def two_routes(self, sim, port=None, failover_after="0", critical=None, retry_min="30s"):
        """[notify] routes = smtp, ops; the SMTP secret beside the robot's."""
        p = os.path.join(self.creds_dir, "qqnotify.smtp")
        with open(p, "w", encoding="utf-8") as f:
            f.write(self.secret)
        os.chmod(p, 0o600)
        lines = ["[smtp]", "provider = qq", "host = 127.0.0.1",
                 "port = %d" % (port or self.srv.port), "tls = implicit",
                 "ca_file = %s" % self.ca.ca_cert, "user = %s" % USER, "timeout = 5", "",
                 "[notify]", "to = a@example.com", "language = en", "routes = smtp, ops",
                 "failover_after = %s" % failover_after]
        if critical:
            lines.append("critical_routes = %s" % critical)
        lines += ["", self.spool_section(self.spool),
                  "[limits]", "retry_min = %s" % retry_min, "retry_max = 1h", "digest_after = 0",
                  "user_max = 0", "", "[route ops]", "type = wecom", "url = %s" % sim.url, "timeout = 5",
                  "ca_file = %s" % self.ca.ca_cert]
        return self.write("qqnotify.conf", "\n".join(lines) + "\n")

    def one_route(self, sim):
        """The same with [notify] routes = smtp alone."""
        cfg = self.two_routes(sim)
        with open(cfg, encoding="utf-8") as f:
            text = f.read().replace("routes = smtp, ops", "routes = smtp")
        with open(cfg, "w", encoding="utf-8") as f:
            f.write(text)
        return cfg

    def robot_texts(self, sim):
        return [r["json"]["markdown"]["content"] for r in sim.accepted()]

    def routes_state(self, config):
        res = self.run_qn(["status", "--json"], config=config, timeout=20)
        self.assertExit(res, EX_OK, "(status)")
        return {r["name"]: r for r in json.loads(res.stdout)["routes"]}

    def test_535_fails_over_with_a_note_once_per_incident(self):
        self.smtp({"auth": fs.reply(535, QQ_535)})
        s = self.sim("wecom")
        self.route_secret()
        cfg = self.two_routes(s)
        first = self.notify(cfg)
        res = self.flush(cfg, EX_OK)
        self.assertIn("diagnosis: qq-auth-code", res.stderr)
        self.assertIn("route smtp is unhealthy", res.stderr)
        [text] = self.robot_texts(s)
        self.assertIn(first, text)
        self.assertRegex(text, r"Route smtp has been failing since \d{4}-\d\d-\d\d "
                               r"\d\d:\d\d:\d\d; alerts go through other routes until it answers "
                               r"again: auth: authentication failed \(server said: 535 Login Fail\. .*\) "
                               r"\(diagnosis: qq-auth-code\)")
        self.assertEqual(self.queued("new") + self.queued("deferred"), [])
        st = self.routes_state(cfg)
        self.assertEqual((st["smtp"]["health"], st["smtp"]["diagnosis"]),
                         ("unhealthy", "qq-auth-code"))
        self.assertEqual((st["ops"]["health"], st["ops"]["sent"]), ("healthy", 1))
        # Before smtp's next try: straight to the robot, and no second note.
        second = self.notify(cfg)
        self.flush(cfg, EX_OK)
        self.assertEqual(self.srv.auth_attempts, 1)
        texts = self.robot_texts(s)
        self.assertEqual(len(texts), 2)
        self.assertIn(second, texts[1])
        self.assertNotIn("Route smtp", texts[1])

    def test_frequency_550_fails_over_and_backs_smtp_off(self):
        self.smtp({"mail": fs.reply(550, QQ_FREQ)})
        s = self.sim("wecom")
        self.route_secret()
        cfg = self.two_routes(s)
        m = self.notify(cfg)
        res = self.flush(cfg, EX_OK)
        self.assertIn("diagnosis: frequency-limited", res.stderr)
        [text] = self.robot_texts(s)
        self.assertIn(m, text)
        self.assertIn("(diagnosis: frequency-limited)", text)
        with open(os.path.join(self.spool, "state", "ratelimit"), encoding="ascii") as f:
            self.assertRegex(f.read(), r"backoff_s 60\n")

    def test_content_550_is_resent_once_as_a_minimal_mail(self):
        self.smtp({"dot": [fs.reply(550, QQ_CONTENT)]})
        s = self.sim("wecom")
        self.route_secret()
        cfg = self.two_routes(s)
        m = self.notify(cfg, fields=["user=root", "ip=203.0.113.9", "service=sshd"])
        res = self.flush(cfg, EX_OK)
        self.assertIn("refused the alert's content; a minimal alert", res.stderr)
        self.srv.wait_idle(5)
        self.assertEqual(len(self.srv.data), 2)
        full, minimal = (email.message_from_bytes(d[1], policy=email.policy.default)
                         for d in self.srv.data)
        self.assertEqual(full.get_content_type(), "multipart/alternative")
        self.assertIn("203.0.113.9", full.get_body(("plain",)).get_content())
        self.assertEqual(minimal.get_content_type(), "text/plain", "no HTML part")
        text = minimal.get_content()
        self.assertIn(m, text)
        self.assertIn("source IP: 203.0.113.x\r\n", text)
        self.assertNotIn("203.0.113.9", text)
        self.assertNotRegex(text, r"https?://")
        self.assertEqual(s.requests, [], "the minimal mail was accepted: no failover")
        self.assertEqual(self.queued("failed"), [])

    def test_with_one_route_content_550_is_resent_once_as_a_minimal_mail(self):
        """The one-route case (QQ Mail alone, the common one): no failover transport, the
        queue manager resends it itself."""
        self.smtp({"dot": [fs.reply(550, QQ_CONTENT)]})
        s = self.sim("wecom")
        cfg = self.one_route(s)
        m = self.notify(cfg, fields=["user=root", "ip=203.0.113.9", "service=sshd"])
        res = self.flush(cfg, EX_OK)
        self.assertIn("route smtp refused the alert's content; a minimal alert", res.stderr)
        self.srv.wait_idle(5)
        self.assertEqual(len(self.srv.data), 2)
        minimal = email.message_from_bytes(self.srv.data[1][1], policy=email.policy.default)
        self.assertEqual(minimal.get_content_type(), "text/plain", "no HTML part")
        body = minimal.get_content()
        self.assertIn(m, body)
        self.assertIn("source IP: 203.0.113.x\r\n", body)
        self.assertNotIn("203.0.113.9", body)
        self.assertEqual(self.queued("failed") + self.queued("deferred"), [])

    def test_with_one_route_content_refused_twice_fails_once(self):
        self.smtp({"dot": [fs.reply(550, QQ_CONTENT), fs.reply(550, QQ_CONTENT)]})
        s = self.sim("wecom")
        cfg = self.one_route(s)
        self.notify(cfg, fields=["user=root", "ip=203.0.113.9"])
        res = self.flush(cfg, 69)
        self.assertIn("refused the alert's content, also as a minimal alert", res.stderr)
        self.srv.wait_idle(5)
        self.assertEqual(len(self.srv.data), 2, "the alert, then its minimal form: no more")
        self.assertEqual(len(self.queued("failed")), 1)

    def test_content_refused_twice_goes_to_the_robot(self):
        self.smtp({"dot": fs.reply(550, QQ_CONTENT)})
        s = self.sim("wecom")
        self.route_secret()
        cfg = self.two_routes(s)
        m = self.notify(cfg, fields=["ip=203.0.113.9"])
        res = self.flush(cfg, EX_OK)
        self.assertIn("also as a minimal alert", res.stderr)
        [text] = self.robot_texts(s)
        self.assertIn(m, text)
        self.assertIn("203.0.113.9", text, "the robot gets the full alert")
        self.assertIn("(diagnosis: content-spam)", text)
        self.assertEqual(self.queued("failed"), [])

    def test_outage_fails_over_at_once_with_failover_after_0(self):
        s = self.sim("wecom")
        self.route_secret()
        cfg = self.two_routes(s, port=closed_port())
        m = self.notify(cfg)
        res = self.flush(cfg, EX_OK)
        self.assertIn("diagnosis: connect-refused", res.stderr)
        [text] = self.robot_texts(s)
        self.assertIn(m, text)

    def test_outage_shorter_than_failover_after_waits_for_smtp(self):
        s = self.sim("wecom")
        self.route_secret()
        cfg = self.two_routes(s, port=closed_port(), failover_after="10m")
        self.notify(cfg)
        self.flush(cfg, EX_TEMPFAIL)
        self.assertEqual(s.requests, [])
        self.assertEqual(len(self.queued("deferred")), 1)
        self.assertEqual(self.routes_state(cfg)["smtp"]["health"], "failing")

    def test_smtp_takes_over_again_when_it_answers(self):
        self.smtp({"auth": lambda conn, n: fs.reply(535, QQ_535) if conn == 1 else None})
        s = self.sim("wecom")
        self.route_secret()
        cfg = self.two_routes(s, retry_min="1s")
        self.notify(cfg)
        self.flush(cfg, EX_OK)
        self.assertEqual(len(s.accepted()), 1)
        # Its backoff is over once the retry time has come; wait for it without sleeping long.
        st = self.routes_state(cfg)["smtp"]
        time.sleep(max(0, st["retry_at"] - time.time()) + 0.2)
        m = self.notify(cfg)
        res = self.flush(cfg, EX_OK)
        self.assertIn("route smtp answers again", res.stderr)
        self.srv.wait_idle(5)
        self.assertEqual(len(self.srv.data), 1)
        self.assertIn(m, self.srv.data[0][1].decode("utf-8", "replace"))
        self.assertEqual(len(s.accepted()), 1)
        self.assertEqual(self.routes_state(cfg)["smtp"]["health"], "healthy")

    def test_a_login_goes_to_every_critical_route_at_once(self):
        self.smtp()
        s = self.sim("wecom")
        self.route_secret()
        cfg = self.two_routes(s, critical="all")
        # The PAM module's entry for a root login (only it writes logins, into new/).
        eid = "%d.%06d.%d.%s" % (int(time.time()), 0, os.getpid(), secrets.token_hex(8))
        with open(os.path.join(self.spool, "tmp", eid), "wb") as f:
            f.write(login_entry(user="root", rhost="203.0.113.9"))
        os.chmod(os.path.join(self.spool, "tmp", eid), 0o640)
        os.rename(os.path.join(self.spool, "tmp", eid), os.path.join(self.spool, "new", eid))
        self.notify(cfg)  # not a login: the first route only
        self.flush(cfg, EX_OK)
        self.srv.wait_idle(5)
        self.assertEqual(len(self.srv.data), 2)
        self.assertEqual(len(s.accepted()), 1)
        self.assertIn("203.0.113.9", self.robot_texts(s)[0])
