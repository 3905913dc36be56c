"""The heartbeat: `qqnotify flush` pings [heartbeat] ping_url after a run
that ended with nothing failing (also when there was nothing to send) and
ping_url/fail after one that failed, against a local HTTPS push monitor
(pingserver.py); a monitor that is down, slow or untrusted changes neither
the delivery nor the exit status.
"""

import os
import time

import pingserver
from harness import EX_OK, EX_TEMPFAIL
from test_routes import RouteCase

CHECK = "/ping/0d2f5c8e-6a1b-4c1e-9d7b-3f1e2a4b5c6d"


class Heartbeat(RouteCase):
    def pinger(self, script=None, cert="server"):
        c, k = self.ca.pair(cert)
        p = pingserver.PingServer(c, k, script=script)
        p.start()
        self.addCleanup(p.stop)
        return p

    def hb_config(self, sim, ping, ca_file=True, timeout=None, url=None):
        cfg = self.config(sim)
        lines = ["", "[heartbeat]", "ping_url = %s" % (url or ping.url(CHECK))]
        if ca_file:
            lines.append("ca_file = %s" % self.ca.ca_cert)
        if timeout is not None:
            lines.append("timeout = %s" % timeout)
        with open(cfg, "a", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        return cfg

    def test_a_run_with_nothing_to_send_pings_the_url(self):
        s = self.sim("wecom")
        self.route_secret()
        p = self.pinger()
        cfg = self.hb_config(s, p)
        self.flush(cfg, EX_OK)
        self.assertEqual(p.paths(), [("GET", CHECK)])
        self.assertEqual(s.requests, [])

    def test_a_delivered_alert_is_followed_by_one_ping(self):
        s = self.sim("wecom")
        self.route_secret()
        p = self.pinger()
        cfg = self.hb_config(s, p)
        self.notify(cfg)
        self.flush(cfg, EX_OK)
        self.assertEqual(len(s.accepted()), 1)
        self.assertEqual(p.paths(), [("GET", CHECK)])
        self.assertGreaterEqual(p.requests[0]["time"], s.requests[0]["time"])
        self.assertTrue(p.requests[0]["headers"]["User-Agent"].startswith("qqnotify/"))

    def test_a_failed_run_pings_the_fail_url(self):
        s = self.sim("wecom", script=["5xx"])
        self.route_secret()
        p = self.pinger()
        cfg = self.hb_config(s, p)
        self.notify(cfg)
        self.flush(cfg, EX_TEMPFAIL)
        self.assertEqual(p.paths(), [("GET", CHECK + "/fail")])
        self.assertEqual(len(self.queued("deferred")), 1)

    def test_a_trailing_slash_gets_no_second_one(self):
        s = self.sim("wecom", script=["5xx"])
        self.route_secret()
        p = self.pinger()
        cfg = self.hb_config(s, p, url=p.url(CHECK + "/"))
        self.notify(cfg)
        self.flush(cfg, EX_TEMPFAIL)
        self.assertEqual(p.paths(), [("GET", CHECK + "/fail")])

    def test_a_monitor_answering_500_is_logged_and_changes_nothing(self):
        s = self.sim("wecom")
        self.route_secret()
        p = self.pinger(script=[("status", 500)])
        cfg = self.hb_config(s, p)
        self.notify(cfg)
        res = self.flush(cfg, EX_OK)
        self.assertEqual(len(s.accepted()), 1)
        self.assertIn("heartbeat: the ping to [heartbeat] ping_url failed", res.stderr)
        self.assertIn("HTTP 500", res.stderr)
        self.assertNotIn(CHECK, res.stderr, "the check's key is not shown")
        self.assertEqual(self.queued("new") + self.queued("deferred"), [])

    def test_a_monitor_that_never_answers_costs_the_timeout_only(self):
        s = self.sim("wecom")
        self.route_secret()
        p = self.pinger(script=["noanswer"])
        cfg = self.hb_config(s, p, timeout=1)
        self.notify(cfg)
        res = self.flush(cfg, EX_OK, timeout=30)
        self.assertEqual(len(s.accepted()), 1)
        self.assertIn("heartbeat: the ping to [heartbeat] ping_url failed", res.stderr)
        self.assertEqual(p.paths(), [("GET", CHECK)])

    def test_an_untrusted_monitor_gets_no_ping(self):
        s = self.sim("wecom")
        self.route_secret()
        p = self.pinger()
        cfg = self.hb_config(s, p, ca_file=False)
        self.notify(cfg)
        res = self.flush(cfg, EX_OK)
        self.assertEqual(len(s.accepted()), 1)
        self.assertEqual(p.paths(), [], "no request after a failed verification")
        self.assertIn("heartbeat: the ping to [heartbeat] ping_url failed", res.stderr)

    def test_ping_url_must_be_https(self):
        s = self.sim("wecom")
        self.route_secret()
        cfg = self.config(s)
        with open(cfg, "a", encoding="utf-8") as f:
            f.write("\n[heartbeat]\nping_url = http://127.0.0.1:1/ping\n")
        res = self.run_qn(["flush"], config=cfg, timeout=20)
        self.assertExit(res, 78)
        self.assertIn("ping_url is not an https:// URL", res.stderr)
        self.assertTrue(os.path.isdir(self.spool))


class DailySummary(RouteCase):
    """[heartbeat] daily: one all-clear alert a day, at the first run after its time."""

    def daily_config(self, sim, at="00:00"):
        cfg = self.config(sim)
        with open(cfg, "a", encoding="utf-8") as f:
            f.write("\n[heartbeat]\ndaily = %s\n" % at)
        return cfg

    def test_the_first_run_after_the_time_sends_one_all_clear(self):
        s = self.sim("wecom")
        self.route_secret()
        cfg = self.daily_config(s)
        self.flush(cfg, EX_OK)
        [req] = s.accepted()
        text = req["json"]["markdown"]["content"]
        self.assertIn("daily report: all clear, every route healthy and nothing waiting", text)
        self.assertRegex(text, r"route\.ops: healthy; sent 0, 24h 0")
        self.assertIn("queue.deferred: 0", text)
        self.assertIn("\nsilenced: 0\n", text)
        self.flush(cfg, EX_OK)
        self.assertEqual(len(s.accepted()), 1, "once a day")

    def test_a_waiting_alert_makes_it_say_attention(self):
        s = self.sim("wecom", script=["5xx"])
        self.route_secret()
        cfg = self.config(s)
        self.notify(cfg)
        self.flush(cfg, EX_TEMPFAIL)
        with open(cfg, "a", encoding="utf-8") as f:
            f.write("\n[heartbeat]\ndaily = 00:00\n")
        time.sleep(1.1)  # retry_min = 1s: the deferred alert goes too
        self.flush(cfg, EX_OK)
        texts = [r["json"]["markdown"]["content"] for r in s.accepted()]
        summary = [t for t in texts if "daily report" in t]
        self.assertEqual(len(summary), 1, texts)
        self.assertIn("daily report: delivery needs attention", summary[0])
        self.assertRegex(summary[0], r"queue\.deferred: 1, oldest \d+s")
        self.assertIn("robot-server-error 1", summary[0])

    def test_before_its_time_nothing_is_sent(self):
        s = self.sim("wecom")
        self.route_secret()
        now = time.gmtime()
        if now.tm_hour == 23 and now.tm_min == 59:
            self.skipTest("the minute before midnight")
        cfg = self.daily_config(s, at="23:59")
        self.flush(cfg, EX_OK)
        self.assertEqual(s.requests, [])
