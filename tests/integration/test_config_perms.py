"""A configuration that names where the secret comes from (credential_helper,
credential_file) is warned about when users other than root and the qqnotify
group can read it; the warning names the fix."""

import grp
import os
import unittest

from harness import QNTestCase, needs_root

WARNING = "names where the secret comes from"


class ConfigPermissions(QNTestCase):
    def config(self, mode, helper=True):
        extra = {"credential_file": self.path("credentials/qqnotify.smtp")} if helper else None
        self.write_secret()
        p = self.write_config(port=1, extra_smtp=extra)
        os.chmod(p, mode)
        return p

    def run_check(self, conf):
        # `check` loads the configuration first; the network stages fail on port 1,
        # which does not matter here: the warning comes with the configuration.
        return self.run_qn(["check"], config=conf)

    def test_world_readable_config_naming_a_credential_file_is_warned_about(self):
        conf = self.config(0o644)
        res = self.run_check(conf)
        self.assertIn(WARNING, res.stderr, res.dump())
        self.assertIn("every user", res.stderr, res.dump())
        # The group qqnotify is named only where it exists (a source build may lack it).
        try:
            grp.getgrnam("qqnotify")
            fix = "chown root:qqnotify %s && chmod 0640 %s" % (conf, conf)
        except KeyError:
            fix = "chown root:root %s && chmod 0600 %s" % (conf, conf)
        self.assertIn(fix, res.stderr, res.dump())

    def test_config_readable_by_owner_only_is_not_warned_about(self):
        res = self.run_check(self.config(0o600))
        self.assertNotIn(WARNING, res.stderr, res.dump())

    def test_group_readable_by_root_group_is_not_warned_about(self):
        # Owned by root:root here (the tests run as root): the group is root's.
        needs_root("a file of group root")
        res = self.run_check(self.config(0o640))
        self.assertNotIn(WARNING, res.stderr, res.dump())

    def test_world_readable_config_without_secret_source_is_not_warned_about(self):
        res = self.run_check(self.config(0o644, helper=False))
        self.assertNotIn(WARNING, res.stderr, res.dump())


if __name__ == "__main__":
    unittest.main()
