"""Less noise, end to end: logins written by the real PAM module (pamtester under
pam_wrapper), `qqnotify flush` to the local SMTP server, and what arrives.

Silences (a silenced user's logins are counted, not mailed; other users' are; `silence
expire` ends it), `[login] notify = new` (a (user, network) mailed once, a new network
again, root always), the enrichment of a single mail (reverse DNS of 127.0.0.1, GeoIP
from the database tests/unit/write-mmdb.pl writes, in English and Chinese), the session
end with its length, and quiet hours with the run's clock set by `flush --test-time`.
"""

import calendar
import email
import email.policy
import os
import re
import shutil
import subprocess
import time

from harness import EX_OK, QNTestCase, build_dir, needs_root, run_bounded


def pkg_config(*args):
    p = subprocess.run(["pkg-config"] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    return p.stdout.decode().strip() if p.returncode == 0 else ""


def sanitized(path):
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


def asan_runtime():
    p = subprocess.run(["clang", "-print-file-name=libclang_rt.asan-x86_64.so"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=60)
    path = p.stdout.decode().strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


class Mail:
    def __init__(self, raw):
        self.msg = email.message_from_bytes(raw, policy=email.policy.default)
        self.subject = str(self.msg["subject"])
        self.text = self.msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
        self.html = self.msg.get_body(("html",)).get_content()


class NoiseCase(QNTestCase):
    """A spool, the module on an sshd stack that writes both ends of sessions, and a
    local SMTP server."""

    def setUp(self):
        super().setUp()
        needs_root("the spool belongs to its own user and silences are root's")
        self.so = os.path.join(build_dir(), "pam_qqnotify.so")
        self.pamtester_bin = shutil.which("pamtester")
        wrapper = pkg_config("--libs", "pam_wrapper")
        modules = pkg_config("--variable=modules", "pam_wrapper")
        if not os.path.isfile(self.so) or not self.pamtester_bin or not wrapper or not modules:
            self.fail("pam_qqnotify.so (make all), pamtester and libpam-wrapper are needed")
        self.spool = self.make_spool()
        services = self.path("services")
        os.mkdir(services)
        passdb = self.write("passdb", "alice:wonderland:sshd\nbob:builder:sshd\n")
        with open(os.path.join(services, "sshd"), "w") as f:
            f.write("auth [success=1 default=ignore] %s passdb=%s\n"
                    "auth requisite pam_deny.so\n"
                    "auth required pam_permit.so\n"
                    "session optional %s event=open,close spool=%s\n"
                    "session required pam_permit.so\n"
                    % (os.path.join(modules, "pam_matrix.so"), passdb, self.so, self.spool))
        preload = wrapper
        if sanitized(self.so):
            runtime = asan_runtime()
            if runtime is None:
                self.fail("the module is built with ASan but clang's ASan runtime is missing")
            preload = runtime + " " + preload
        self.pam_env = dict(os.environ, PAM_WRAPPER="1", PAM_WRAPPER_SERVICE_DIR=services,
                            PAM_WRAPPER_DISABLE_DEEPBIND="1", UID_WRAPPER_DISABLE_DEEPBIND="1",
                            LD_PRELOAD=preload, ASAN_OPTIONS="detect_leaks=0")
        self.srv = self.smtp_server()
        self.seen_mails = 0

    def config(self, extra="", language="en"):
        conf = self.write_config(port=self.srv.port, language=language)
        with open(conf, "a") as f:
            f.write(self.spool_section(self.spool) + extra)
        self.conf = conf
        return conf

    def login(self, user, rhost, *ops):
        """USER opens a session from RHOST (and whatever OPS say) through the real module."""
        ops = ops or ("open_session",)
        p = run_bounded([self.pamtester_bin, "-I", "rhost=" + rhost, "-I", "tty=/dev/pts/3",
                         "sshd", user] + list(ops), b"", self.pam_env, self.tmp, 60)
        self.assertEqual(p.rc, 0, p.dump())

    def qn(self, *args, **kw):
        return self.run_qn(list(args), config=self.conf, **kw)

    def flush(self, *args):
        """Flush; the mails that arrived since the last flush."""
        res = self.qn("flush", *args)
        self.assertExit(res, EX_OK)
        self.res = res
        # the server has them before flush exits (250 after DATA)
        new = [Mail(m.content) for m in self.srv.messages[self.seen_mails:]]
        self.seen_mails = len(self.srv.messages)
        return new

    def state(self, name):
        path = os.path.join(self.spool, "state", name)
        if not os.path.exists(path):
            return ""
        with open(path, encoding="utf-8") as f:
            return f.read()


class SilenceTest(NoiseCase):

    def test_a_silenced_users_logins_are_counted_not_mailed_until_it_is_expired(self):
        self.config()
        res = self.qn("silence", "add", "--match", "user=bob", "--for", "1h",
                      "--comment", "deploy", creds=False)
        self.assertExit(res, EX_OK)
        sid = res.stdout.strip()
        self.login("bob", "203.0.113.9")
        self.login("alice", "203.0.113.9")
        self.login("bob", "203.0.113.10")
        mails = self.flush()
        self.assertEqual(len(mails), 1, [m.subject for m in mails])
        self.assertIn("alice", mails[0].subject)
        self.assertNotIn("bob", mails[0].subject)
        self.assertRegex(self.state("tally"), r"\nsilenced %s 2 \d+ \d+\n" % sid)
        res = self.qn("queue", "list", creds=False)
        self.assertExit(res, EX_OK)
        self.assertIn("silence %s: 2 event(s)" % sid, res.stdout)
        res = self.qn("silence", "list", creds=False)
        self.assertRegex(res.stdout, r"\n    not mailed since [-0-9: ]+: 2 event\(s\)\n")
        self.assertIn("not mailed: 2 event(s) under a silence", self.res.stderr)

        res = self.qn("silence", "expire", sid, creds=False)
        self.assertExit(res, EX_OK)
        self.login("bob", "203.0.113.9")
        mails = self.flush()
        self.assertEqual(len(mails), 1)
        self.assertIn("bob logged in", mails[0].subject)
        # the count stays for the daily summary
        self.assertRegex(self.state("tally"), r"\nsilenced %s 2 \d+ \d+\n" % sid)

    def test_the_daily_summary_names_what_silences_kept_from_the_mail(self):
        self.config()
        res = self.qn("silence", "add", "--match", "user=bob", "--for", "1h", creds=False)
        self.assertExit(res, EX_OK)
        sid = res.stdout.strip()
        self.login("bob", "203.0.113.9")
        self.login("bob", "203.0.113.10")
        self.login("alice", "203.0.113.9")
        self.assertEqual(len(self.flush()), 1)
        self.config(extra="\n[heartbeat]\ndaily = 00:00\n")
        mails = self.flush()
        summary = [m for m in mails if "daily report" in m.subject]
        self.assertEqual(len(summary), 1, [m.subject for m in mails])
        self.assertRegex(summary[0].text, r"(?m)^\s*silenced: 2$")
        self.assertRegex(summary[0].text, r"(?m)^\s*silence\.%s: 2$" % sid)
        self.assertRegex(summary[0].text, r"(?m)^\s*mailed\.login: 1$")
        # taken: the next summary counts from here
        self.assertNotIn("\nsilenced ", self.state("tally"))

    def test_a_silence_on_another_key_leaves_logins_alone(self):
        self.config()
        res = self.qn("silence", "add", "--match", "rhost=198.51.100.*", "--for", "1h",
                      creds=False)
        self.assertExit(res, EX_OK)
        self.login("bob", "198.51.100.4")
        self.login("bob", "203.0.113.9")
        mails = self.flush()
        self.assertEqual(len(mails), 1)
        self.assertIn("from 203.0.113.9", mails[0].subject)


class FirstSeenTest(NoiseCase):

    def test_notify_new_mails_a_user_and_network_once_and_a_new_network_again(self):
        self.config("[login]\nnotify = new\n")
        self.login("alice", "203.0.113.9")
        mails = self.flush()
        self.assertEqual(len(mails), 1)
        self.assertIn("alice logged in", mails[0].subject)
        # the same /24: known, not mailed, counted
        self.login("alice", "203.0.113.77")
        self.assertEqual(self.flush(), [])
        self.assertRegex(self.state("tally"), r"\nknown 1 \d+ \d+\n")
        self.assertIn("known logins ([login] notify = new): 1",
                      self.qn("queue", "list", creds=False).stdout)
        # a new network, and a user never seen from there
        self.login("alice", "198.51.100.7")
        self.login("bob", "203.0.113.9")
        mails = self.flush()
        self.assertEqual(sorted(m.subject.split(" logged in")[0].rsplit(" ", 1)[1]
                                for m in mails), ["alice", "bob"])
        self.assertIn("alice 203.0.113.0/24", self.state("seen"))
        self.assertIn("alice 198.51.100.0/24", self.state("seen"))
        # forgotten: new again
        res = self.qn("seen", "forget", "alice@203.0.113.0/24", creds=False)
        self.assertExit(res, EX_OK)
        self.login("alice", "203.0.113.9")
        self.assertEqual(len(self.flush()), 1)

    def test_root_logins_are_always_mailed(self):
        self.config("[login]\nnotify = new\n")
        with open(self.path("passdb"), "a") as f:
            f.write("root:secret:sshd\n")
        for _ in range(2):
            self.login("root", "203.0.113.9")
            mails = self.flush()
            self.assertEqual(len(mails), 1)
            self.assertIn("[critical] root logged in", mails[0].subject)

    def test_the_previous_login_is_in_the_next_mail(self):
        self.config("[login]\nnotify = new\n")
        self.login("alice", "203.0.113.9")
        self.flush()
        self.login("alice", "198.51.100.7")
        mail, = self.flush()
        self.assertIn("user's previous login: ", mail.text)
        self.assertIn("previous login from: 203.0.113.0/24", mail.text)


class EnrichTest(NoiseCase):

    def geoip(self):
        db = os.path.join(build_dir(), "tests", "data", "test-geo.mmdb")
        if not os.path.isfile(db):
            self.fail("%s is missing (make tests writes it)" % db)
        copy = self.path("geo.mmdb")
        shutil.copy(db, copy)
        os.chmod(copy, 0o644)
        return "[enrich]\ngeoip = %s\n" % copy

    def test_reverse_dns_of_127_0_0_1_is_in_the_mail(self):
        self.config()
        self.login("alice", "127.0.0.1")
        mail, = self.flush()
        self.assertIn("source name: localhost\n", mail.text)
        self.assertIn("user's open sessions: 1\n", mail.text)

    def test_reverse_dns_can_be_turned_off(self):
        self.config("[enrich]\nrdns = no\n")
        self.login("alice", "127.0.0.1")
        mail, = self.flush()
        self.assertNotIn("source name", mail.text)

    def test_geoip_fields_come_from_the_database_in_english(self):
        self.config(self.geoip())
        self.login("alice", "203.0.113.9")
        mail, = self.flush()
        self.assertIn("country: China (CN)\n", mail.text)
        self.assertIn("city: Shanghai\n", mail.text)
        self.assertIn("AS64500 Example Transit", mail.text)

    def test_geoip_fields_come_from_the_database_in_chinese(self):
        self.config(self.geoip(), language="zh_CN")
        self.login("alice", "203.0.113.9")
        mail, = self.flush()
        self.assertIn("国家/地区：中国 (CN)", mail.text.replace(": ", "："))
        self.assertIn("上海", mail.text)
        self.assertIn("【警告】", mail.subject)

    def test_a_database_that_cannot_be_opened_is_reported_and_mail_still_goes(self):
        self.config("[enrich]\ngeoip = %s\n" % self.path("missing.mmdb"))
        self.login("alice", "127.0.0.1")
        mail, = self.flush()
        self.assertIn("cannot open the GeoIP database", self.res.stderr)
        self.assertIn("source name: localhost\n", mail.text)


class SessionEndTest(NoiseCase):

    def start(self):
        """alice opens a session from 203.0.113.9; pamtester then waits for the password
        that authenticate asks before it closes the session."""
        return subprocess.Popen([self.pamtester_bin, "-I", "rhost=203.0.113.9", "sshd",
                                 "alice", "open_session", "authenticate", "close_session"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=self.pam_env)

    def end(self, p, after):
        """The session of P ends AFTER seconds (at least)."""
        time.sleep(after)
        _, err = p.communicate(b"wonderland\n", timeout=60)
        self.assertEqual(p.returncode, 0, err)

    def test_the_end_of_a_session_says_how_long_it_lasted(self):
        """The logout mail has the length from state/sessions: at least the 2.5 s the
        session was open."""
        self.config()
        self.end(self.start(), 2.5)
        mails = self.flush()
        self.assertEqual(len(mails), 2, [m.subject for m in mails])
        login, logout = sorted(mails, key=lambda m: "ended" in m.subject)
        m = re.search(r"\] \[info\] alice's ssh session from 203\.0\.113\.9 ended after (\d+)s$",
                      logout.subject)
        self.assertIsNotNone(m, logout.subject)
        self.assertGreaterEqual(int(m.group(1)), 2)
        self.assertIn("session length: %ss\n" % m.group(1), logout.text)
        self.assertEqual(self.state("sessions"), "qqnotify-sessions 1\n")

    def test_the_end_of_a_session_in_chinese(self):
        self.config(language="zh_CN")
        self.end(self.start(), 1.5)
        mails = self.flush()
        logout = [m for m in mails if "结束" in m.subject]
        self.assertEqual(len(logout), 1, [m.subject for m in mails])
        self.assertRegex(logout[0].subject, r"来自 203\.0\.113\.9.*持续 \d+ 秒")

    def test_a_session_opened_before_is_tracked_across_runs(self):
        self.config()
        p = self.start()
        # the login alone is flushed first: its session is kept in state/sessions
        for _ in range(200):
            if os.listdir(os.path.join(self.spool, "new")):
                break
            time.sleep(0.05)
        time.sleep(0.2)
        mails = self.flush()
        self.assertEqual(len(mails), 1)
        self.assertRegex(self.state("sessions"), r"\nsession [0-9a-f]{32}:\d+:\d+ alice \d+\n")
        self.end(p, 1.2)
        mail, = self.flush()
        self.assertRegex(mail.subject, r"ended after \d+s$")


class QuietHoursTest(NoiseCase):

    def at(self, hh, mm):
        """Today at HH:MM UTC (the tests run with TZ=UTC), seconds since the epoch."""
        t = time.gmtime()
        return calendar.timegm((t.tm_year, t.tm_mon, t.tm_mday, hh, mm, 0))

    def test_quiet_hours_hold_all_but_critical_and_send_one_digest_when_they_end(self):
        self.config("[quiet]\nhours = 02:00-03:00\n")
        with open(self.path("passdb"), "a") as f:
            f.write("root:secret:sshd\n")
        self.login("alice", "203.0.113.9")
        self.login("bob", "198.51.100.7")
        self.login("root", "203.0.113.9")
        mails = self.flush("--test-time", str(self.at(2, 30)))
        # root's login is critical: at once; the others wait
        self.assertEqual([m.subject for m in mails if "root" in m.subject],
                         [m.subject for m in mails])
        self.assertEqual(len(mails), 1)
        self.assertIn("[critical] root logged in", mails[0].subject)
        res = self.qn("queue", "list", creds=False)
        self.assertEqual(res.stdout.count("quiet hours ([quiet] hours): held until"), 2,
                         res.stdout)
        # still inside: nothing
        self.assertEqual(self.flush("--test-time", str(self.at(2, 50))), [])
        # the hours ended: one digest of both
        mails = self.flush("--test-time", str(self.at(3, 1)))
        self.assertEqual(len(mails), 1, [m.subject for m in mails])
        self.assertRegex(mails[0].subject, r"\[warning\] digest of 2 alerts")
        self.assertIn("alice", mails[0].text)
        self.assertIn("bob", mails[0].text)

    def test_outside_the_quiet_hours_each_login_has_its_mail(self):
        self.config("[quiet]\nhours = 02:00-03:00\n")
        self.login("alice", "203.0.113.9")
        self.login("bob", "198.51.100.7")
        self.assertEqual(len(self.flush("--test-time", str(self.at(12, 0)))), 2)

    def test_test_time_must_be_seconds(self):
        self.config()
        res = self.qn("flush", "--test-time", "tomorrow")
        self.assertExit(res, 64)
        self.assertIn("--test-time wants seconds since the epoch", res.stderr)
