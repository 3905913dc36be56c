"""The resolve stage against a stub DNS server on 127.0.0.1 (dnsstub.py), which the
program under test asks through build/tests/resolvstub.so: no real DNS, no change to
/etc, no mount namespace (the same on a host, in a chroot and in a container).

NXDOMAIN for a provider preset's own server name (smtp.qq.com...) means a filtering or
cut-off resolver, said in English and Chinese with how to ask another resolver; for
any other name, the name is to be checked.  An address the stub gives is the one
qqnotify connects to."""

import os
import socket
import unittest

import dnsstub
from harness import EX_TEMPFAIL, QNTestCase, build_dir

PRESETS = {
    "qq": "smtp.qq.com",
    "exmail": "smtp.exmail.qq.com",
    "163": "smtp.163.com",
    "gmail": "smtp.gmail.com",
    "outlook": "smtp-mail.outlook.com",
}


def closed_port():
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class ResolveStage(QNTestCase):
    def setUp(self):
        super().setUp()
        lib = os.path.join(build_dir(), "tests", "resolvstub.so")
        if not os.path.isfile(lib):
            self.fail("%s does not exist (make tests)" % lib)
        self.dns = dnsstub.DNSStub({"smtp.qq.com": ["127.0.0.1"]}).start()
        self.addCleanup(self.dns.stop)

    def send(self, provider, host=None, lang="en", port=None):
        cfg = self.write_config(provider=provider, host=host, port=port, ca_file=None)
        return self.run_qn(["send", "--to", "a@example.com", "--subject", "dns"], stdin="body\n",
                           config=cfg, lang=lang, env=self.dns.env(build_dir()))

    def assertAsked(self, name):
        self.assertIn((name, 1), self.dns.asked(), "the stub was not asked for %s" % name)

    def test_nxdomain_for_a_preset_host_blames_the_resolver(self):
        # the stub knows smtp.qq.com: give it nothing for this test
        self.dns.addresses.clear()
        for provider, host in PRESETS.items():
            with self.subTest(provider=provider):
                res = self.send(provider)
                self.assertExit(res, EX_TEMPFAIL)
                self.assertDiagnosis(res, "dns-resolver-filtered")
                self.assertFailureExplained(res)
                self.assertIn("cannot resolve %s: Name or service not known" % host, res.stderr,
                              res.dump())
                self.assertIn("filters them, or it is cut off from the Internet", res.stderr,
                              res.dump())
                self.assertIn("host in [smtp] is not misspelt", res.stderr, res.dump())
                self.assertIn("`dig @223.5.5.5 smtp.qq.com`", res.stderr, res.dump())
                self.assertNotIn("is misspelt,", res.stderr, res.dump())
                self.assertAsked(host)

    def test_nxdomain_for_a_preset_host_is_explained_in_chinese(self):
        self.dns.addresses.clear()
        res = self.send("qq", lang="zh_CN")
        self.assertExit(res, EX_TEMPFAIL)
        self.assertDiagnosis(res, "dns-resolver-filtered")
        self.assertIn("要么解析器过滤了它们，要么解析器无法访问外网", res.stderr, res.dump())
        self.assertIn("[smtp] 中的 host 并没有拼错", res.stderr, res.dump())
        self.assertIn("`getent hosts smtp.qq.com` 询问本机所用的解析器", res.stderr, res.dump())

    def test_nxdomain_for_a_custom_host_says_to_check_the_name(self):
        for host in ("smtp.qq.con", "smtp.qq.com.example.net"):
            with self.subTest(host=host):
                res = self.send("custom", host=host)
                self.assertExit(res, EX_TEMPFAIL)
                self.assertDiagnosis(res, "dns-unknown-host")
                self.assertFailureExplained(res)
                self.assertIn("host in [smtp] is misspelt", res.stderr, res.dump())
                self.assertAsked(host)

    def test_the_address_the_resolver_gives_is_the_one_connected_to(self):
        port = closed_port()
        cfg = self.write_config(provider="qq", host=None, port=port, ca_file=None)
        res = self.run_qn(["check"], config=cfg, env=self.dns.env(build_dir()))
        self.assertIn("✓ resolve      smtp.qq.com → 1 address: 127.0.0.1", res.stdout, res.dump())
        self.assertIn("connect to 127.0.0.1:%d: Connection refused" % port, res.stdout,
                      res.dump())
        self.assertIn("diagnosis: connect-refused", res.stdout, res.dump())
        self.assertAsked("smtp.qq.com")


if __name__ == "__main__":
    unittest.main()
