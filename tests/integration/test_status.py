"""What a person can look at: `qqnotify status [--json]` and the metrics
file of [metrics] textfile after `qqnotify flush` runs against a local
robot simulator.  The metrics file is read with prometheus_client's own
parser (python3-prometheus-client), so it is checked as Prometheus and
node_exporter read it, not as this project writes it."""

import json
import os
import time

from prometheus_client.parser import text_string_to_metric_families

from harness import EX_NOPERM, EX_OK, EX_TEMPFAIL
from test_routes import RouteCase, new_id

FAMILIES = {
    "qqnotify_queue_entries": "gauge",
    "qqnotify_queue_oldest_age_seconds": "gauge",
    "qqnotify_route_sent": "counter",
    "qqnotify_route_failures": "counter",
    "qqnotify_route_last_success_timestamp_seconds": "gauge",
    "qqnotify_route_last_failure_timestamp_seconds": "gauge",
    "qqnotify_route_healthy": "gauge",
    "qqnotify_run_timestamp_seconds": "gauge",
    "qqnotify_run_ok": "gauge",
}


class Status(RouteCase):
    def status_config(self, sim):
        cfg = self.config(sim)
        # node_exporter's textfile directory, writable by the sender (the spool's user)
        textdir = self.path("textfile")
        os.makedirs(textdir, mode=0o755)
        os.chown(textdir, self.owners.uid, self.owners.gid)
        self.prom = os.path.join(textdir, "qqnotify.prom")
        with open(cfg, "a", encoding="utf-8") as f:
            f.write("\n[metrics]\ntextfile = %s\n" % self.prom)
        return cfg

    def status_json(self, cfg):
        res = self.run_qn(["status", "--json"], config=cfg, timeout=20)
        self.assertExit(res, EX_OK, "(status)")
        return json.loads(res.stdout)

    def metrics(self):
        with open(self.prom, encoding="utf-8") as f:
            text = f.read()
        fams = {f.name: f for f in text_string_to_metric_families(text)}
        samples = {}
        for fam in fams.values():
            for s in fam.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return text, fams, samples

    def assertEveryFamilyDocumented(self, text, fams):
        self.assertEqual({n: f.type for n, f in fams.items()}, FAMILIES)
        for name in FAMILIES:
            full = name + ("_total" if FAMILIES[name] == "counter" else "")
            self.assertIn("# HELP %s " % full, text)
            self.assertIn("# TYPE %s %s\n" % (full, FAMILIES[name]), text)

    def test_a_delivered_alert_shows_in_status_and_metrics(self):
        s = self.sim("wecom")
        self.route_secret()
        cfg = self.status_config(s)
        self.notify(cfg)
        before = int(time.time())
        self.flush(cfg, EX_OK)
        st = self.status_json(cfg)
        [r] = st["routes"]
        self.assertEqual((r["name"], r["type"], r["health"]), ("ops", "wecom", "healthy"))
        self.assertEqual((r["sent"], r["sent_24h"], r["max_per_day"]), (1, 1, 0))
        self.assertGreaterEqual(r["last_success"], before)
        self.assertIsNone(r["last_failure"])
        self.assertEqual(r["failures"], {})
        self.assertEqual([(q["queue"], q["entries"], q["oldest_age"]) for q in st["queues"]],
                         [("new", 0, None), ("deferred", 0, None), ("failed", 0, None)])
        text, fams, m = self.metrics()
        self.assertEveryFamilyDocumented(text, fams)
        self.assertEqual(m[("qqnotify_route_sent_total", (("route", "ops"),))], 1)
        self.assertEqual(m[("qqnotify_route_healthy", (("route", "ops"),))], 1)
        self.assertEqual(m[("qqnotify_route_last_success_timestamp_seconds",
                            (("route", "ops"),))], r["last_success"])
        self.assertEqual(m[("qqnotify_queue_entries", (("queue", "new"),))], 0)
        self.assertEqual(m[("qqnotify_run_ok", ())], 1)
        self.assertEqual(oct(os.stat(self.prom).st_mode & 0o777), "0o644")
        self.assertEqual(os.listdir(os.path.dirname(self.prom)), ["qqnotify.prom"])

    def test_a_refused_key_makes_the_route_unhealthy(self):
        s = self.sim("wecom")
        self.route_secret(new_id())
        cfg = self.status_config(s)
        self.notify(cfg)
        self.flush(cfg, EX_NOPERM, "wecom-invalid-key")
        st = self.status_json(cfg)
        [r] = st["routes"]
        self.assertEqual(r["health"], "unhealthy")
        self.assertEqual(r["diagnosis"], "wecom-invalid-key")
        self.assertIn("93000", r["reason"])
        self.assertEqual(r["failures"], {"wecom-invalid-key": 1})
        self.assertEqual(r["unhealthy_since"], r["last_failure"])
        self.assertGreater(r["retry_at"], r["unhealthy_since"])
        [new, deferred, failed] = st["queues"]
        self.assertEqual(deferred["entries"], 1)
        self.assertGreaterEqual(deferred["oldest_age"], 0)
        _, _, m = self.metrics()
        self.assertEqual(m[("qqnotify_route_failures_total",
                            (("diagnosis", "wecom-invalid-key"), ("route", "ops")))], 1)
        self.assertEqual(m[("qqnotify_route_healthy", (("route", "ops"),))], 0)
        self.assertEqual(m[("qqnotify_queue_entries", (("queue", "deferred"),))], 1)
        self.assertEqual(m[("qqnotify_run_ok", ())], 0)
        res = self.run_qn(["status"], config=cfg, timeout=20)
        self.assertExit(res, EX_OK)
        self.assertIn("route ops (wecom): unhealthy\n", res.stdout)
        self.assertIn("    diagnosis: wecom-invalid-key — ", res.stdout)
        self.assertIn("alerts go to the next route; this one is tried again at ", res.stdout)
        self.assertIn("queue deferred: 1 entr(ies), the oldest ", res.stdout)

    def test_one_5xx_is_a_failing_route_until_failover_after(self):
        s = self.sim("wecom", script=["5xx"])
        self.route_secret()
        cfg = self.status_config(s)
        self.notify(cfg)
        self.flush(cfg, EX_TEMPFAIL, "robot-server-error")
        [r] = self.status_json(cfg)["routes"]
        self.assertEqual(r["health"], "failing")
        self.assertIsNone(r["unhealthy_since"])
        time.sleep(1.1)  # retry_min = 1s
        self.flush(cfg, EX_OK)
        [r] = self.status_json(cfg)["routes"]
        self.assertEqual((r["health"], r["sent"], r["failures"]),
                         ("healthy", 1, {"robot-server-error": 1}))

    def test_a_spool_never_used_is_all_healthy_and_empty(self):
        s = self.sim("wecom")
        cfg = self.status_config(s)
        res = self.run_qn(["status"], config=cfg, timeout=20)
        self.assertExit(res, EX_OK)
        self.assertEqual(res.stdout,
                         "route ops (wecom): healthy\n"
                         "  sent: 0; in the last 24 hours 0 (no daily limit)\n"
                         "  last success: never\n"
                         "  last failure: never\n"
                         "queue new: empty\n"
                         "queue deferred: empty\n"
                         "queue failed: empty\n")
