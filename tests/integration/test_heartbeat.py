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
