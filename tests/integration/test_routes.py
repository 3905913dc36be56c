"""Chat robot routes end to end: `qqnotify flush` and `qqnotify check --route`
against local HTTPS simulators of WeCom, DingTalk and Feishu (robotsim.py),
which check keys, signatures, timestamps, keywords, addresses and rates as
the platforms do and answer with their own bodies.

Each error of a platform must come out as the right diagnosis id and exit
code with the alerts still queued; the route's secret must be found
nowhere: not in any output, spool or state file, nor in the command line
or environment of the running sender.
"""

import os
import re
import secrets
import string
import subprocess
import time

import robotsim
from harness import EX_CONFIG, EX_NOPERM, EX_OK, EX_PROTOCOL, EX_TEMPFAIL, QNTestCase

ID_RE = re.compile(r"^[1-9][0-9]{0,19}\.[0-9]{6}\.[1-9][0-9]{0,9}\.[0-9a-f]{16}$")

# A robot key or token shaped like the platforms' (letters, digits and '-').
def new_id():
    return "-".join("".join(secrets.choice(string.hexdigits.lower()) for _ in range(n))
                    for n in (8, 4, 4, 4, 12))


def new_sign_secret(platform):
    body = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
    return ("SEC" + body) if platform == "dingtalk" else body


class RouteCase(QNTestCase):
    """A spool, a robot route "ops" first in [notify] routes, its secret in
    $CREDENTIALS_DIRECTORY/qqnotify.route.ops."""

    def setUp(self):
        super().setUp()
        self.spool = self.make_spool()
        self.creds_dir = self.path("credentials")
        os.makedirs(self.creds_dir, mode=0o700)
        self.tag = secrets.token_hex(3)
        self.n = 0
        self.sims = []

    def sim(self, platform, signing=True, **kw):
        """A started simulator with a fresh key (and signing secret)."""
        self.robot_id = new_id()
        self.robot_sign = new_sign_secret(platform) if signing and platform != "wecom" else None
        c, k = self.ca.pair(kw.pop("cert", "server"))
        s = robotsim.RobotSim(platform, c, k, self.robot_id, sign_secret=self.robot_sign, **kw)
        s.start()
        self.addCleanup(s.stop)
        return s

    def route_secret(self, content=None, name="ops"):
        if content is None:
            content = self.robot_id + ("\n" + self.robot_sign if self.robot_sign else "")
        p = os.path.join(self.creds_dir, "qqnotify.route." + name)
        with open(p, "w", encoding="utf-8") as f:
            f.write(content + "\n")
        os.chmod(p, 0o600)
        return content

    def secret_parts(self):
        return [p for p in (self.robot_id, self.robot_sign) if p]

    def config(self, sim, platform=None, route_keys=None, limits=None, timeout=5, url=None,
               ca_file=True, language="en"):
        lines = ["[notify]", "routes = ops", "language = %s" % language, "",
                 self.spool_section(self.spool),
                 "[limits]", "retry_min = 1s", "retry_max = 2s", "digest_after = 0",
                 "user_max = 0"]
        for k, v in (limits or {}).items():
            lines.append("%s = %s" % (k, v))
        lines += ["", "[route ops]", "type = %s" % (platform or sim.platform),
                  "url = %s" % (url or sim.url), "timeout = %d" % timeout]
        if ca_file:
            lines.append("ca_file = %s" % self.ca.ca_cert)
        for k, v in (route_keys or {}).items():
            lines.append("%s = %s" % (k, v))
        return self.write("qqnotify.conf", "\n".join(lines) + "\n")

    def marker(self):
        self.n += 1
        return "QNR%s-%03d" % (self.tag, self.n)

    def notify(self, config, marker=None, subject=None, fields=(), text=None):
        marker = marker or self.marker()
        args = ["notify", "--no-flush", "--subject", subject or ("alert " + marker)]
        for f in fields:
            args += ["--field", f]
        args.append(text or ("message of " + marker))
        res = self.run_qn(args, config=config, timeout=20)
        self.assertExit(res, EX_OK, "(notify)")
        return marker

    def flush(self, config, expect, diagnosis=None, timeout=60):
        res = self.run_qn(["flush"], config=config, timeout=timeout)
        self.assertExit(res, expect, "(flush)")
        if diagnosis is not None:
            self.assertDiagnosis(res, diagnosis)
            self.assertFailureExplained(res)
        self.assertSecretNowhere(res)
        return res

    def queued(self, queue):
        d = os.path.join(self.spool, queue)
        return sorted(n for n in os.listdir(d) if ID_RE.match(n)) if os.path.isdir(d) else []

    def assertSecretNowhere(self, res=None):
        parts = self.secret_parts()
        if res is not None:
            for part in parts:
                self.assertNotIn(part, res.stdout + res.stderr, "the secret leaked" + res.dump())
        for root, _, files in os.walk(self.spool):
            for name in files:
                with open(os.path.join(root, name), "rb") as f:
                    data = f.read()
                for part in parts:
                    self.assertNotIn(part.encode(), data, "the secret is in %s" % name)


class Delivery(RouteCase):
    """A robot route alone delivers, signed as its platform wants."""

    def test_wecom_markdown_with_the_key_in_the_url(self):
        s = self.sim("wecom")
        self.route_secret()
        cfg = self.config(s)
        m = self.notify(cfg, fields=["user=deploy_bot"])
        self.flush(cfg, EX_OK)
        self.assertEqual(len(s.requests), 1)
        req = s.requests[0]
        self.assertTrue(req["accepted"])
        self.assertEqual(req["query"]["key"], [self.robot_id])
        self.assertEqual(req["json"]["msgtype"], "markdown")
        content = req["json"]["markdown"]["content"]
        self.assertIn("alert " + m, content)
        self.assertIn("message of " + m, content)
        self.assertIn("deploy＿bot", content)  # a user's "_" cannot start emphasis
        self.assertLessEqual(len(content.encode()), 4096)
        self.assertEqual(req["headers"]["Content-Type"], "application/json; charset=utf-8")
        self.assertEqual(self.queued("new") + self.queued("deferred"), [])
        self.assertTrue(os.path.exists(os.path.join(self.spool, "state", "ratelimit.ops")))
        self.assertFalse(os.path.exists(os.path.join(self.spool, "state", "ratelimit")))

    def test_dingtalk_signed_markdown_in_chinese(self):
        s = self.sim("dingtalk")
        self.route_secret()
        cfg = self.config(s, language="zh_CN")
        m = self.notify(cfg)
        self.flush(cfg, EX_OK)
        req = s.requests[0]
        self.assertTrue(req["accepted"], req["answer"])
        ts = int(req["query"]["timestamp"][0])
        self.assertEqual(req["query"]["sign"][0], robotsim.dingtalk_sign(self.robot_sign, ts))
        self.assertLess(abs(ts / 1000 - time.time()), 600)
        self.assertEqual(req["json"]["msgtype"], "markdown")
        self.assertIn(m, req["json"]["markdown"]["title"])
        self.assertIn("message of " + m, req["json"]["markdown"]["text"])
        self.assertIn("由 qqnotify", req["json"]["markdown"]["text"])

    def test_feishu_signed_post(self):
        s = self.sim("feishu")
        self.route_secret()
        cfg = self.config(s)
        m = self.notify(cfg, text="line one <at user_id=\"all\">x</at>")
        self.flush(cfg, EX_OK)
        req = s.requests[0]
        self.assertTrue(req["accepted"], req["answer"])
        self.assertEqual(req["path"], "/open-apis/bot/v2/hook/" + self.robot_id)
        body = req["json"]
        self.assertEqual(body["sign"], robotsim.feishu_sign(self.robot_sign,
                                                            int(body["timestamp"])))
        post = body["content"]["post"]["en_us"]
        self.assertIn(m, post["title"])
        texts = [e["text"] for para in post["content"] for e in para]
        self.assertIn("line one <at user_id=\"all\">x</at>", texts)
        self.assertTrue(all(e["tag"] == "text" for para in post["content"] for e in para))
        self.assertLessEqual(len(req["body"]), 20 * 1024)

    def test_feishu_text_escapes_at_tags(self):
        s = self.sim("feishu")
        self.route_secret()
        cfg = self.config(s, route_keys={"format": "text"})
        self.notify(cfg, text="<at user_id=\"all\">everyone</at>")
        self.flush(cfg, EX_OK)
        text = s.requests[0]["json"]["content"]["text"]
        self.assertIn("＜at user_id=\"all\"＞everyone＜/at＞", text)
        self.assertNotIn("<at", text)

    def test_markdown_from_a_user_stays_text(self):
        s = self.sim("dingtalk")
        self.route_secret()
        cfg = self.config(s)
        self.notify(cfg, subject="[点我](http://evil.example) <font color=\"red\">x</font>",
                    fields=["user=**root**"])
        self.flush(cfg, EX_OK)
        text = s.requests[0]["json"]["markdown"]["text"]
        self.assertIn("［点我］(http://evil.example) ＜font color=\"red\"＞x＜/font＞", text)
        self.assertIn("＊＊root＊＊", text)
        self.assertNotIn("[点我]", text)
        self.assertNotIn("<font", text)

    def test_keyword_lets_a_keyword_robot_through(self):
        for platform in ("dingtalk", "feishu"):
            with self.subTest(platform=platform):
                s = self.sim(platform, signing=False, keyword="告警")
                self.route_secret()
                cfg = self.config(s, route_keys={"keyword": "告警"})
                self.notify(cfg)
                self.flush(cfg, EX_OK)
                self.assertTrue(s.requests[-1]["accepted"], s.requests[-1]["answer"])

    def test_sendmail_message_is_shown_by_subject_and_text(self):
        s = self.sim("wecom")
        self.route_secret()
        cfg = self.config(s, route_keys={"format": "text"})
        with open(cfg, "a", encoding="utf-8") as f:
            f.write("\n[smtp]\nuser = 10001@qq.com\n")
        with open(cfg, encoding="utf-8") as f:
            text = f.read().replace("[notify]\n", "[notify]\nto = ops@example.com\n", 1)
        with open(cfg, "w", encoding="utf-8") as f:
            f.write(text)
        msg = ("To: ops@example.com\nSubject: =?UTF-8?B?5aSH5Lu95aSx6LSl?= on db1\n"
               "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
               "cnN5bmMg6YCA5Ye6IDIzCg==\n")
        res = self.run_qn(["sendmail", "--no-flush", "-t"], stdin=msg, config=cfg, timeout=20)
        self.assertExit(res, EX_OK, "(sendmail)")
        self.flush(cfg, EX_OK)
        content = s.requests[0]["json"]["text"]["content"]
        # A local user's message (root's here) says whose it is, as its mail would.
        self.assertTrue(content.startswith("from user root: 备份失败 on db1\nrsync 退出 23"),
                        content)

    def test_a_slow_answer_within_the_timeout_is_waited_for(self):
        s = self.sim("wecom", script=[("slow", 1.5)])
        self.route_secret()
        cfg = self.config(s, timeout=10)
        self.notify(cfg)
        self.flush(cfg, EX_OK)
        self.assertTrue(s.requests[0]["accepted"])

    def test_feishu_is_paced_to_five_a_second(self):
        s = self.sim("feishu")
        self.route_secret()
        cfg = self.config(s)
        for _ in range(8):
            self.notify(cfg)
        self.flush(cfg, EX_OK)
        # The platform answers 11232 past 5 a second: every one was accepted.
        self.assertEqual(len(s.accepted()), 8, [r["answer"] for r in s.requests])


class PlatformErrors(RouteCase):
    """Each refusal of a platform: its diagnosis, its exit code, the alerts kept."""

    def expect(self, sim, config, code, diagnosis, events=1):
        for _ in range(events):
            self.notify(config)
        res = self.flush(config, code, diagnosis)
        self.assertEqual(len(self.queued("deferred")), events, res.dump())
        self.assertEqual(self.queued("failed"), [])
        return res

    def test_wecom_invalid_key(self):
        s = self.sim("wecom")
        self.route_secret(new_id())
        res = self.expect(s, self.config(s), EX_NOPERM, "wecom-invalid-key")
        self.assertIn("errcode 93000", res.stderr)
        self.assertIn("invalid webhook url", res.stderr)

    def test_wecom_over_twenty_a_minute(self):
        s = self.sim("wecom")
        self.route_secret()
        cfg = self.config(s, route_keys={"max_per_minute": 0})
        for _ in range(21):
            self.notify(cfg)
        self.flush(cfg, EX_TEMPFAIL, "wecom-rate-limited")
        self.assertEqual(len(s.accepted()), 20)
        self.assertEqual(len(self.queued("deferred")), 1)
        with open(os.path.join(self.spool, "state", "ratelimit.ops"), encoding="ascii") as f:
            self.assertRegex(f.read(), r"backoff_s 60\n")

    def test_dingtalk_unknown_token(self):
        s = self.sim("dingtalk")
        self.route_secret(new_id() + "\n" + self.robot_sign)
        self.expect(s, self.config(s), EX_NOPERM, "dingtalk-invalid-token")

    def test_dingtalk_wrong_signing_secret(self):
        s = self.sim("dingtalk")
        self.route_secret(self.robot_id + "\n" + new_sign_secret("dingtalk"))
        self.expect(s, self.config(s), EX_NOPERM, "dingtalk-sign-mismatch")

    def test_dingtalk_clock_two_hours_off(self):
        s = self.sim("dingtalk", clock_offset=7200)
        self.route_secret()
        self.expect(s, self.config(s), EX_NOPERM, "dingtalk-timestamp")

    def test_dingtalk_keyword_missing(self):
        s = self.sim("dingtalk", keyword="机房告警")
        self.route_secret()
        self.expect(s, self.config(s), EX_CONFIG, "dingtalk-keyword-missing")

    def test_dingtalk_address_not_allowed(self):
        s = self.sim("dingtalk", allowed_ips=["198.51.100.7"])
        self.route_secret()
        res = self.expect(s, self.config(s), EX_NOPERM, "dingtalk-ip-not-allowed")
        self.assertIn("127.0.0.1 not in whitelist", res.stderr)

    def test_dingtalk_too_fast_blocks_for_ten_minutes(self):
        s = self.sim("dingtalk")
        self.route_secret()
        cfg = self.config(s, route_keys={"max_per_minute": 0})
        for _ in range(21):
            self.notify(cfg)
        t0 = time.time()
        self.flush(cfg, EX_TEMPFAIL, "dingtalk-too-fast")
        self.assertEqual(len(s.accepted()), 20)
        (left,) = self.queued("deferred")
        with open(os.path.join(self.spool, "deferred", left), encoding="utf-8") as f:
            next_try = int(re.search(r"^next-try (\d+)$", f.read(), re.M).group(1))
        self.assertGreaterEqual(next_try, int(t0) + 600)  # limit_block, not the 60 s backoff
        # A run during the block sends nothing and asks nothing.
        asked = len(s.requests)
        self.flush(cfg, EX_OK)
        self.assertEqual(len(s.requests), asked)

    def test_feishu_unknown_hook(self):
        s = self.sim("feishu")
        self.route_secret(new_id() + "\n" + self.robot_sign)
        self.expect(s, self.config(s), EX_NOPERM, "feishu-invalid-hook")

    def test_feishu_wrong_signing_secret(self):
        s = self.sim("feishu")
        self.route_secret(self.robot_id + "\n" + new_sign_secret("feishu"))
        self.expect(s, self.config(s), EX_NOPERM, "feishu-sign-mismatch")

    def test_feishu_clock_two_hours_off(self):
        s = self.sim("feishu", clock_offset=-7200)
        self.route_secret()
        self.expect(s, self.config(s), EX_NOPERM, "feishu-sign-mismatch")

    def test_feishu_keyword_missing(self):
        s = self.sim("feishu", keyword="告警")
        self.route_secret()
        self.expect(s, self.config(s), EX_CONFIG, "feishu-keyword-missing")

    def test_feishu_address_not_allowed(self):
        s = self.sim("feishu", allowed_ips=["198.51.100.7"])
        self.route_secret()
        self.expect(s, self.config(s), EX_NOPERM, "feishu-ip-not-allowed")

    def test_feishu_over_five_a_second_without_pacing(self):
        s = self.sim("feishu")
        self.route_secret()
        cfg = self.config(s, route_keys={"max_per_second": 0})
        for _ in range(12):
            self.notify(cfg)
        res = self.flush(cfg, EX_TEMPFAIL, "feishu-rate-limited")
        self.assertIn("code 11232", res.stderr)
        self.assertGreaterEqual(len(s.accepted()), 5)
        self.assertLess(len(s.accepted()), 12)


class TransportErrors(RouteCase):
    """The way to the platform: HTTP, TLS, network, secret."""

    def expect(self, config, code, diagnosis):
        self.notify(config)
        res = self.flush(config, code, diagnosis)
        self.assertEqual(len(self.queued("deferred")), 1, res.dump())
        return res

    def test_server_error(self):
        s = self.sim("wecom", script=["5xx"])
        self.route_secret()
        res = self.expect(self.config(s), EX_TEMPFAIL, "robot-server-error")
        self.assertIn("HTTP 502", res.stderr)

    def test_no_answer_times_out(self):
        s = self.sim("dingtalk", script=["noanswer"])
        self.route_secret()
        res = self.expect(self.config(s, timeout=2), EX_TEMPFAIL, "robot-timeout")
        self.assertLess(res.elapsed, 30)

    def test_an_answer_that_is_not_the_platforms(self):
        s = self.sim("feishu", script=[("body", 200, b"<html>Portal login</html>")])
        self.route_secret()
        self.expect(self.config(s), EX_PROTOCOL, "robot-answer-invalid")

    def test_a_redirect_is_not_followed(self):
        s = self.sim("wecom", script=[("body", 302, b"")])
        self.route_secret()
        self.expect(self.config(s), EX_CONFIG, "robot-redirected")
        self.assertEqual(len(s.requests), 1)

    def test_untrusted_certificate(self):
        s = self.sim("wecom")
        self.route_secret()
        res = self.expect(self.config(s, ca_file=False), EX_PROTOCOL, "robot-tls")
        self.assertEqual(s.requests, [])
        self.assertIn("certificate", res.stderr)

    def test_certificate_for_another_host(self):
        s = self.sim("wecom", cert="wronghost")
        self.route_secret()
        self.expect(self.config(s), EX_PROTOCOL, "robot-tls")

    def test_connection_refused(self):
        s = self.sim("wecom")
        self.route_secret()
        url = s.url
        s.stop()
        self.expect(self.config(s, url=url), EX_TEMPFAIL, "robot-connect")

    def test_no_secret(self):
        s = self.sim("feishu")
        res = self.expect(self.config(s), EX_CONFIG, "robot-secret-missing")
        self.assertIn("qqnotify.route.ops", res.stderr)
        self.assertEqual(s.requests, [])

    def test_a_whole_webhook_address_as_secret_is_refused_unquoted(self):
        s = self.sim("wecom")
        self.robot_id = "693a91f6-7e1c-4bc4-97a0-0ec2e1fa5aaa"
        whole = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + self.robot_id
        self.route_secret(whole)
        res = self.expect(self.config(s), EX_CONFIG, "robot-secret-missing")
        self.assertIn("wrong form", res.stderr)
        self.assertEqual(s.requests, [])


class SecretNowhere(RouteCase):
    """The route's secret in no output, file, command line or environment."""

    def test_not_in_the_running_sender(self):
        s = self.sim("dingtalk", script=[("slow", 3)])
        self.route_secret()
        cfg = self.config(s, timeout=20)
        self.notify(cfg)
        env = {"PATH": "/usr/bin:/bin", "HOME": self.tmp, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
               "CREDENTIALS_DIRECTORY": self.creds_dir}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        p = subprocess.Popen([self.bin, "-c", cfg, "--lang", "en", "flush"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
        try:
            for _ in range(200):  # until the request is in flight (bounded: 20 s)
                if s.requests:
                    break
                time.sleep(0.1)
            self.assertTrue(s.requests, "the request never arrived")
            with open("/proc/%d/cmdline" % p.pid, "rb") as f:
                cmdline = f.read()
            with open("/proc/%d/environ" % p.pid, "rb") as f:
                environ = f.read()
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        self.assertEqual(p.returncode, EX_OK, err)
        for part in self.secret_parts():
            for where, data in (("cmdline", cmdline), ("environ", environ), ("stdout", out),
                                ("stderr", err)):
                self.assertNotIn(part.encode(), data, "the secret is in " + where)
        self.assertSecretNowhere()

    def refused_with(self, platform, fault, diagnosis):
        """One alert flushed to a PLATFORM simulator that answers with FAULT: the run's
        result and the deferred entry's text."""
        s = self.sim(platform, script=[fault])
        self.route_secret()
        cfg = self.config(s)
        self.notify(cfg)
        res = self.flush(cfg, EX_NOPERM, diagnosis)
        (eid,) = self.queued("deferred")
        with open(os.path.join(self.spool, "deferred", eid), encoding="utf-8") as f:
            return res, f.read()

    def test_an_answer_that_quotes_the_key_is_redacted(self):
        res, entry = self.refused_with("wecom", "echo", "wecom-invalid-key")
        self.assertIn("invalid key " + "*" * len(self.robot_id), res.stderr)
        self.assertIn("*" * len(self.robot_id), entry)
        self.assertSecretNowhere(res)

    def test_an_answer_that_quotes_parts_of_the_secret_keeps_no_six_of_them(self):
        res, entry = self.refused_with("dingtalk", "echo-parts", "dingtalk-invalid-token")
        self.assertIn("bad key " + "*" * (len(self.robot_id) - 4), res.stderr)
        # Where the platform quoted the key (plain, URL-encoded) and the signing secret
        # (base64), no 6 characters in a row are left.
        for where, text in (("stderr", res.stderr), ("the spool entry", entry)):
            quotes = re.findall(r"bad key (\S+) \(url (\S+)\), secret (\S+)", text)
            self.assertTrue(quotes, "the platform's text is not in " + where)
            for quote in quotes:
                for q in quote:
                    self.assertNotRegex(q, r"[^*]{6}", "6 characters of a secret in " + where)
        self.assertSecretNowhere(res)


class CheckRoute(RouteCase):
    """`qqnotify check --route NAME [--send-test]`."""

    def test_every_stage_and_a_signed_test_message(self):
        s = self.sim("feishu")
        self.route_secret()
        cfg = self.config(s)
        res = self.run_qn(["check", "--route", "ops", "--send-test"], config=cfg, timeout=60)
        self.assertExit(res, EX_OK)
        for stage in ("config", "credential", "resolve", "tls", "send"):
            self.assertRegex(res.stdout, r"(?m)^✓ %s\b" % stage)
        self.assertIn("All checks passed.", res.stdout)
        self.assertEqual(len(s.accepted()), 1)
        self.assertEqual(s.requests[0]["json"]["content"]["post"]["en_us"]["title"],
                         "qqnotify 测试消息 / test message")
        self.assertSecretNowhere(res)

    def test_without_send_test_nothing_is_sent(self):
        s = self.sim("wecom")
        self.route_secret()
        res = self.run_qn(["check", "--route", "ops"], config=self.config(s), timeout=60)
        self.assertExit(res, EX_OK)
        self.assertIn("--send-test", res.stdout)
        self.assertEqual(s.requests, [])

    def test_a_missing_secret_is_reported_and_tls_still_checked(self):
        s = self.sim("dingtalk")
        res = self.run_qn(["check", "--route", "ops", "--send-test"], config=self.config(s),
                          timeout=60)
        self.assertExit(res, EX_CONFIG)
        self.assertRegex(res.stdout, r"(?m)^✗ credential\b")
        self.assertRegex(res.stdout, r"(?m)^✓ tls\b")
        self.assertIn("diagnosis: robot-secret-missing", res.stdout)
        self.assertEqual(s.requests, [])

    def test_a_refused_key_is_diagnosed(self):
        s = self.sim("wecom")
        self.route_secret(new_id())
        res = self.run_qn(["check", "--route", "ops", "--send-test"], config=self.config(s),
                          timeout=60)
        self.assertExit(res, EX_NOPERM)
        self.assertIn("diagnosis: wecom-invalid-key", res.stdout)

    def test_an_unknown_route(self):
        s = self.sim("wecom")
        res = self.run_qn(["check", "--route", "nope"], config=self.config(s), timeout=60)
        self.assertExit(res, EX_CONFIG)
        self.assertIn("declares no route nope", res.stdout)
