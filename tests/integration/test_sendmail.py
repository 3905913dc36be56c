"""`qqnotify sendmail`: messages as cron and mailx hand them over, submitted
through qqnotify-drop into a temporary spool made by `qqnotify queue init`,
rewritten by the sender when it picks them up (the entry is read back per
enqueue.h's format, version 2, after a flush that could not connect) and,
through the `qqnotify flush` that root's sendmail starts, delivered to a real
local TLS server.  Every message says which user sent it ("from user root", or
whoever runs the tests).
Also the sendmail command-line conventions (-t, -i, the "." line, -C when
installed as "sendmail") and the failures (too large, no spool, local
recipients without [notify] to)."""

import os
import pwd
import time
from email import policy
from email.parser import BytesParser

from harness import EX_CONFIG, EX_DATAERR, EX_OK, EX_USAGE, USER, QNTestCase

EX_CANTCREAT = 73
# Who submits: the sender marks every message with the submitter's name.
FROM_ME = "from user " + pwd.getpwuid(os.geteuid()).pw_name

ALERT_TO = ["ops@example.com", "987654321@qq.com"]
SUBDIRS = ("tmp", "new", "deferred", "failed", "state")

CRON_BODY = "备份失败：磁盘已满\n/dev/sda1 100% /\n"
CRON_MESSAGE = ("From: root (Cron Daemon)\n"
                "To: root\n"
                "Subject: Cron <root@web1> /usr/local/bin/backup\n"
                "X-Cron-Env: <SHELL=/bin/sh>\n"
                "X-Cron-Env: <HOME=/root>\n"
                "X-Cron-Env: <PATH=/usr/bin:/bin>\n"
                "X-Cron-Env: <LOGNAME=root>\n"
                "\n" + CRON_BODY)

MAILX_SUBJECT = "【告警】web1 磁盘 /var 已用 95%"
MAILX_BODY = "服务器 web1 的 /var 已用 95%。\n请清理日志。\n"
MAILX_MESSAGE = ("Date: Mon, 13 Nov 2023 08:00:00 +0800\n"
                 "To: dev@example.org\n"
                 "Cc: root\n"
                 "Bcc: hidden@example.net\n"
                 "Subject: " + MAILX_SUBJECT + "\n"
                 "User-Agent: mail (GNU Mailutils 3.15)\n"
                 "Message-Id: <20231113000000.4242@web1>\n"
                 "MIME-Version: 1.0\n"
                 "Content-Type: text/plain; charset=utf-8\n"
                 "Content-Transfer-Encoding: 8bit\n"
                 "\n" + MAILX_BODY)


def parse_entry(data):
    """(envelope dict, payload) of a spool entry, checked against enqueue.h's
    version 1 format; raises ValueError when it does not hold."""
    order = ["qqnotify-spool", "type", "origin", "uid", "lane", "queued", "attempts", "next-try",
             "last-error", "diagnosis", "sender"]
    head, pos = {"rcpt": []}, 0
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            raise ValueError("cut inside the header")
        line = data[pos:nl].decode("ascii")
        pos = nl + 1
        if line == "end":
            break
        name, _, value = line.partition(" ")
        if order:
            if name != order[0]:
                raise ValueError("line %r where %s was expected" % (line, order[0]))
            order.pop(0)
            head[name] = value
        elif name == "rcpt":
            head["rcpt"].append(value)
        elif name == "size" and "size" not in head:
            head["size"] = int(value)
        else:
            raise ValueError("unexpected line %r" % line)
    if order or "size" not in head or head["qqnotify-spool"] != "2":
        raise ValueError("incomplete header %r" % head)
    payload = data[pos:]
    if len(payload) != head["size"]:
        raise ValueError("payload %d bytes, size says %d" % (len(payload), head["size"]))
    return head, payload


def parse_message(raw):
    return BytesParser(policy=policy.default).parsebytes(raw)


def body_text(msg):
    part = msg.get_body(preferencelist=("plain",))
    if part is None:
        raise AssertionError("no text/plain part")
    return part.get_content().replace("\r\n", "\n")


class SendmailCase(QNTestCase):
    """A spool made by `qqnotify queue init` in the test's temp dir and a config
    pointing at it."""

    def setUp(self):
        super().setUp()
        self.spool = self.make_spool()

    def config(self, port=1, to=", ".join(ALERT_TO), spool=None, extra=""):
        p = self.write_config(port=port, to=to)
        with open(p, "a", encoding="utf-8") as f:
            f.write("\n%s%s\n" % (self.spool_section(spool or self.spool), extra))
        return p

    def sendmail(self, args, stdin, config=None, **kw):
        return self.run_qn(["sendmail"] + list(args), stdin=stdin,
                           config=config or self.config(), timeout=30, **kw)

    def entries(self, queue="new"):
        d = os.path.join(self.spool, queue)
        return sorted(os.listdir(d))

    def only_entry(self, res):
        """The one message entry as the sender queued it: after a flush that picks the
        submission up and cannot connect (port 1), it waits in deferred/."""
        self.assertExit(res, EX_OK)
        self.assertEqual(len(self.entries("maildrop")), 1,
                         "exactly one submission in maildrop/" + res.dump())
        flush = self.run_qn(["flush"], config=self.config(), timeout=30)
        self.assertExit(flush, 75, "(flush, no server)")
        names = self.entries("deferred")
        self.assertEqual(len(names), 1, "exactly one entry in deferred/" + flush.dump())
        with open(os.path.join(self.spool, "deferred", names[0]), "rb") as f:
            head, payload = parse_entry(f.read())
        self.assertEqual(head["type"], "message")
        self.assertEqual(head["origin"], "user")
        self.assertEqual(head["uid"], str(os.geteuid()), "the kernel's word for the submitter")
        self.assertEqual(head["lane"], "2")
        return head, payload

    def check_wire(self, raw):
        """CRLF only, no line over 998, ASCII header block, no Bcc field."""
        self.assertNotIn(b"\n", raw.replace(b"\r\n", b""), "bare LF")
        self.assertNotIn(b"\r", raw.replace(b"\r\n", b""), "bare CR")
        head = raw.split(b"\r\n\r\n", 1)[0]
        for line in raw.split(b"\r\n"):
            self.assertLessEqual(len(line), 998)
        for line in head.split(b"\r\n"):
            self.assertTrue(all(32 <= b < 127 or b == 9 for b in line), line)
            self.assertFalse(line.lower().startswith((b"bcc:", b"resent-bcc:")),
                             "Bcc or Resent-Bcc reached the message")
        return head.decode("ascii")

    def check_cron(self, raw):
        head = self.check_wire(raw)
        msg = parse_message(raw)
        self.assertEqual(msg.defects, [])
        frm = msg["From"].addresses
        self.assertEqual(len(frm), 1)
        self.assertEqual(frm[0].addr_spec, USER, "From must be the account" + head)
        # who really sent it is what the kernel said: the local user root, never what the
        # message claims (the sender writes this, not the user's own process)
        self.assertEqual(frm[0].display_name, FROM_ME)
        self.assertIsNone(msg["Reply-To"], "root@host cannot be answered: no Reply-To")
        self.assertEqual(sorted(a.addr_spec for a in msg["To"].addresses), sorted(ALERT_TO),
                         "To: root is replaced by [notify] to" + head)
        self.assertEqual(str(msg["Subject"]),
                         FROM_ME + ": Cron <root@web1> /usr/local/bin/backup")
        self.assertEqual(msg.get_all("X-Cron-Env"), ["<SHELL=/bin/sh>", "<HOME=/root>",
                                                     "<PATH=/usr/bin:/bin>", "<LOGNAME=root>"])
        self.assertIsNotNone(msg["Date"].datetime)
        self.assertRegex(str(msg["Message-ID"]), r"^<[0-9a-f]{32}@qq\.com>$")
        self.assertEqual(msg.get("Content-Transfer-Encoding"), "base64")
        self.assertEqual(msg.get_content_charset(), "utf-8")
        self.assertEqual(body_text(msg), CRON_BODY)

    def check_mailx(self, raw):
        head = self.check_wire(raw)
        msg = parse_message(raw)
        self.assertEqual(msg.defects, [])
        frm = msg["From"].addresses
        self.assertEqual(frm[0].addr_spec, USER)
        self.assertEqual(frm[0].display_name, FROM_ME, head)
        self.assertEqual(str(msg["Subject"]), FROM_ME + ": " + MAILX_SUBJECT, head)
        self.assertEqual([a.addr_spec for a in msg["To"].addresses], ["dev@example.org"])
        self.assertEqual([a.addr_spec for a in msg["Cc"].addresses], ALERT_TO)
        self.assertNotIn("hidden@example.net", head)
        self.assertEqual(str(msg["Message-Id"]), "<20231113000000.4242@web1>")
        self.assertEqual(str(msg["Date"]), "Mon, 13 Nov 2023 08:00:00 +0800")
        self.assertEqual(msg.get("Content-Transfer-Encoding"), "base64")
        self.assertEqual(body_text(msg), MAILX_BODY)


class SendmailSpool(SendmailCase):
    """sendmail --no-flush: exit 0 once the submission is in maildrop/; the sender
    queues it with the account's envelope and the rewritten message."""

    def test_cron_message_is_queued_rewritten(self):
        res = self.sendmail(["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "-odi", "-t",
                             "--no-flush"], CRON_MESSAGE)
        head, payload = self.only_entry(res)
        self.assertEqual(head["sender"], USER, "the envelope sender is the account")
        self.assertEqual(head["rcpt"], ALERT_TO, "root goes to [notify] to")
        self.check_cron(payload)
        self.assertEqual(res.stdout, "")

    def test_mailx_message_is_queued_with_bcc_recipient_and_without_bcc(self):
        res = self.sendmail(["-t", "-i", "--no-flush"], MAILX_MESSAGE)
        head, payload = self.only_entry(res)
        self.assertEqual(head["rcpt"], ["dev@example.org"] + ALERT_TO + ["hidden@example.net"])
        self.check_mailx(payload)

    def test_resent_bcc_never_reaches_the_message(self):
        """A resent message's blind recipients stay blind (-t or not)."""
        for opts in (["-t"], []):
            res = self.sendmail(opts + ["-i", "--no-flush", "next@example.org"],
                                "Resent-From: dev@example.org\nResent-To: next@example.org\n"
                                "Resent-Bcc: boss@example.net\nTo: dev@example.org\n"
                                "Subject: fwd\n\nbody\n")
            head, payload = self.only_entry(res)
            self.check_wire(payload)
            self.assertNotIn(b"boss@example.net", payload)
            self.assertIn(b"\r\nResent-To: next@example.org\r\n", payload)
            os.unlink(os.path.join(self.spool, "deferred", self.entries("deferred")[0]))

    def test_recipients_from_arguments_without_t(self):
        res = self.sendmail(["-oi", "--no-flush", "a@example.com", "root"],
                            "Subject: hi\nTo: a@example.com\n\nbody\n")
        head, payload = self.only_entry(res)
        self.assertEqual(head["rcpt"], ["a@example.com"] + ALERT_TO)
        self.assertIn(b"\r\nSubject: %s: hi\r\n" % FROM_ME.encode(), payload)

    def test_dot_line_ends_the_message_unless_i(self):
        text = "Subject: dots\n\nfirst\n..two dots stay\n.\nafter the dot\n"
        res = self.sendmail(["--no-flush", "a@example.com"], text)
        _, payload = self.only_entry(res)
        self.assertTrue(payload.endswith(b"\r\n\r\nfirst\r\n..two dots stay\r\n"), payload)
        os.unlink(os.path.join(self.spool, "deferred", self.entries("deferred")[0]))

        res = self.sendmail(["-i", "--no-flush", "a@example.com"], text)
        _, payload = self.only_entry(res)
        self.assertTrue(payload.endswith(b"first\r\n..two dots stay\r\n.\r\nafter the dot\r\n"))

    def test_verbose_prints_the_queue_id(self):
        res = self.sendmail(["-v", "--no-flush", "a@example.com"], "Subject: v\n\nx\n")
        self.assertExit(res, EX_OK)
        self.assertEqual(res.stdout.strip(),
                         "queued as %s for 1 recipient(s)" % self.entries("maildrop")[0])

    def test_installed_as_sendmail_takes_C_for_the_config(self):
        link, real = self.path("sendmail"), self.bin
        os.symlink(self.bin, link)
        self.bin = link  # run_qn runs self.bin: argv[0] is now ".../sendmail"
        res = self.run_qn(["-C", self.config(), "-t", "-i", "--no-flush"], stdin=CRON_MESSAGE,
                          config=None, lang=None, timeout=30)
        self.bin = real
        _, payload = self.only_entry(res)
        self.check_cron(payload)

    def test_bi_is_accepted_and_bs_refused(self):
        res = self.sendmail(["-bi"], "")
        self.assertExit(res, EX_OK)
        res = self.sendmail(["-bs"], "")
        self.assertExit(res, EX_USAGE)
        self.assertEqual(self.entries("maildrop"), [])


class SendmailRefusals(SendmailCase):
    """Failures say why, exit with the sysexits code, and queue nothing."""

    def test_no_recipient_is_a_usage_error(self):
        res = self.sendmail(["--no-flush"], "Subject: x\n\nx\n")
        self.assertExit(res, EX_USAGE)
        self.assertIn("recipient", res.stderr)
        self.assertEqual(self.entries("maildrop"), [])

    def test_message_over_max_entry_size_is_refused(self):
        cfg = self.config(extra="max_entry_size = 4K")
        res = self.sendmail(["-t", "-i", "--no-flush"],
                            "To: a@example.com\n\n" + ("x" * 70 + "\n") * 100, config=cfg)
        self.assertExit(res, EX_DATAERR)
        self.assertIn("max_entry_size", res.stderr)
        self.assertEqual(self.entries("maildrop"), [])

    def test_missing_spool_is_explained(self):
        missing = self.path("no-such-spool")
        res = self.sendmail(["-t", "-i", "--no-flush"], CRON_MESSAGE,
                            config=self.config(spool=missing))
        self.assertExit(res, EX_CANTCREAT)
        self.assertIn(missing, res.stderr)
        self.assertIn("qqnotify queue init", res.stderr)
        self.assertIn("nothing was queued", res.stderr)

    def test_local_recipient_without_notify_to_is_a_config_error(self):
        res = self.sendmail(["-t", "-i", "--no-flush"], CRON_MESSAGE,
                            config=self.config(to=None))
        self.assertExit(res, EX_CONFIG)
        self.assertIn("[notify] to", res.stderr)
        self.assertEqual(self.entries("maildrop"), [])


class SendmailDelivery(SendmailCase):
    """The whole way: sendmail queues and starts `qqnotify flush` (root's does; another
    user's starts nothing, and the test runs the flush as the path unit would), which
    sends to a local TLS server with AUTH; the message the server accepted is
    checked."""

    def deliver(self, args, stdin, n_rcpt):
        srv = self.smtp_server()
        res = self.sendmail(args, stdin, config=self.config(port=srv.port))
        self.assertExit(res, EX_OK)
        # sendmail did not wait for the network: the detached flush sends it
        self.assertLess(res.elapsed, 10.0, res.dump())
        if os.geteuid() != 0:
            self.assertEqual(len(self.entries("maildrop")), 1, "submitted, nothing started")
            self.assertExit(self.run_qn(["flush"], config=self.config(port=srv.port),
                                        timeout=30), EX_OK)
        srv.wait_messages(1, timeout=30)
        self.assertEqual(len(srv.messages), 1,
                         "the flush started by sendmail must deliver the message; spool: "
                         "maildrop=%s new=%s deferred=%s failed=%s" % (self.entries("maildrop"),
                                                                       self.entries("new"),
                                                            self.entries("deferred"),
                                                            self.entries("failed")))
        m = srv.messages[0]
        self.assertEqual(m.mail_from, USER)
        self.assertTrue(m.tls)
        deadline = time.monotonic() + 10
        while self.entries("new") and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.entries("new"), [], "delivered entries leave the spool")
        self.assertEqual(len(m.rcpt_tos), n_rcpt)
        return m

    def test_cron_message_delivered_after_flush(self):
        m = self.deliver(["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "-t"], CRON_MESSAGE, 2)
        self.assertEqual(m.rcpt_tos, ALERT_TO)
        self.check_cron(m.content)

    def test_mailx_message_delivered_after_flush(self):
        m = self.deliver(["-t", "-i"], MAILX_MESSAGE, 4)
        self.assertEqual(m.rcpt_tos, ["dev@example.org"] + ALERT_TO + ["hidden@example.net"])
        self.check_mailx(m.content)
