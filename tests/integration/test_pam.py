"""pam_qqnotify.so from the outside: what it links and exports, the C tests
(build/tests/test_pam) under valgrind memcheck, an independent PAM
application (pamtester under pam_wrapper) writing real spool entries, and
the man page.

The C program tests/pam/test_pam.c holds the behaviour tests (fields,
filters, authfail stacks, hostile values, broken spools, flush=spawn); it
runs on its own in `make check` and once more here under valgrind.
"""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import email
import email.policy

import harness
import smtpserver
import tlsca

REPO = harness.REPO
MODULE_SRC = os.path.join(REPO, "pam", "pam_qqnotify.c")
MAN_PAGE = os.path.join(REPO, "pam", "pam_qqnotify.8")
SUPPRESSIONS = os.path.join(REPO, "tests", "pam", "valgrind.supp")
PAM_SM = {"pam_sm_authenticate", "pam_sm_setcred", "pam_sm_acct_mgmt", "pam_sm_open_session",
          "pam_sm_close_session", "pam_sm_chauthtok"}


def module_path():
    return os.path.join(harness.build_dir(), "pam_qqnotify.so")


def run(args, timeout=60, **kw):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                          **kw)


def pkg_config(*args):
    p = run(["pkg-config"] + list(args))
    return p.stdout.decode().strip() if p.returncode == 0 else ""


def unescape(value):
    """A spool value: %XX escapes back to bytes, then UTF-8."""
    return re.sub(rb"%([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]),
                  value).decode("utf-8")


def read_entry(path):
    """One spool entry (enqueue.h, version 2) -> (kind, {field: value}, raw bytes).  The PAM
    module writes system entries of the login lane with its writer's uid (root's in sshd;
    here, under pam_wrapper, whoever runs the tests)."""
    with open(path, "rb") as f:
        raw = f.read()
    head, sep, payload = raw.partition(b"\nend\n")
    assert sep, "no end line in %s" % path
    lines = head.split(b"\n")
    assert lines[:5] == [b"qqnotify-spool 2", b"type event", b"origin system",
                         b"uid %d" % os.geteuid(), b"lane 0"], lines[:5]
    size = int([ln for ln in lines if ln.startswith(b"size ")][0][5:])
    assert len(payload) == size, (len(payload), size)
    kind, fields = None, {}
    for line in payload.split(b"\n"):
        if not line:
            continue
        name, _, value = line.partition(b" ")
        if name == b"kind":
            kind = unescape(value)
        elif name == b"field":
            key, _, v = value.partition(b" ")
            fields[key.decode()] = unescape(v)
    return kind, fields, raw


class ModuleBinaryCase(unittest.TestCase):
    """What the built shared object links, exports and how it is hardened."""

    def setUp(self):
        self.so = module_path()
        if not os.path.isfile(self.so):
            self.fail("%s does not exist (make all)" % self.so)

    def test_module_needs_only_libc_and_libpam(self):
        p = run(["readelf", "-dW", self.so])
        self.assertEqual(p.returncode, 0, p.stderr)
        needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", p.stdout.decode()))
        self.assertEqual(needed, {"libc.so.6", "libpam.so.0"})

    def test_ldd_lists_libc_libpam_and_nothing_of_its_own(self):
        """ldd also shows libpam's own dependencies (libaudit on Debian): those are not the
        module's, so they are taken from ldd of libpam itself."""
        def libs(path):
            out = run(["ldd", path]).stdout.decode()
            return {ln.split()[0] for ln in out.splitlines() if ln.strip()}, out

        mine, text = libs(self.so)
        libpam = re.search(r"libpam\.so\.0 => (\S+)", text)
        self.assertIsNotNone(libpam, text)
        theirs, _ = libs(libpam.group(1))
        own = {"libc.so.6", "libpam.so.0"}
        self.assertLessEqual(own, mine, text)
        extra = {n for n in mine - own - theirs
                 if not n.startswith(("linux-vdso", "linux-gate")) and "ld-linux" not in n}
        self.assertEqual(extra, set(), text)
        self.assertNotRegex(text, r"libssl|libcrypto|libresolv|libsystemd|libpcre")

    def test_only_pam_sm_symbols_are_exported(self):
        p = run(["nm", "-D", "--defined-only", self.so])
        self.assertEqual(p.returncode, 0, p.stderr)
        names = {ln.split()[-1] for ln in p.stdout.decode().splitlines() if ln.strip()}
        self.assertEqual(names, PAM_SM)

    def test_module_is_linked_with_full_relro(self):
        dyn = run(["readelf", "-dW", self.so]).stdout.decode()
        self.assertRegex(dyn, r"\(FLAGS\)\s+.*BIND_NOW")
        self.assertIn("GNU_RELRO", run(["readelf", "-lW", self.so]).stdout.decode())

    def test_module_sources_compile_with_clang(self):
        clang = shutil.which("clang")
        if clang is None:
            self.fail("clang is missing (tools/deps.sh installs it)")
        for src in ("pam/pam_qqnotify.c", "pam/sshkey.c"):
            p = run([clang, "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror",
                     "-Wformat=2", "-Wshadow", "-Wstrict-prototypes", "-fPIC",
                     "-fvisibility=hidden", "-Icommon", "-fsyntax-only", src], cwd=REPO)
            self.assertEqual(p.returncode, 0, p.stderr.decode())


def sanitized(path):
    """True when PATH was built with ASan (make check-asan's build/asan)."""
    with open(path, "rb") as f:
        return b"__asan_init" in f.read()


def asan_runtime():
    """clang's shared ASan runtime: a program that is not instrumented (pamtester)
    needs it preloaded to load an instrumented module."""
    p = subprocess.run(["clang", "-print-file-name=libclang_rt.asan-x86_64.so"],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=60)
    path = p.stdout.decode().strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


class ValgrindCase(unittest.TestCase):
    """Every C test (open, close, authfail, hostile values, broken spools, spawn) under
    memcheck: no error, no leak of the module's.  In an ASan build valgrind cannot
    run; the same program then runs with AddressSanitizer and LeakSanitizer on."""

    def test_c_tests_are_clean_under_memcheck(self):
        prog = os.path.join(harness.build_dir(), "tests", "test_pam")
        if not os.access(prog, os.X_OK):
            self.fail("%s does not exist (make tests)" % prog)
        if sanitized(prog):
            env = dict(os.environ,
                       ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=99")
            p = run([prog], timeout=600, env=env)
            out = p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")
            self.assertEqual(p.returncode, 0, out)
            self.assertNotRegex(out, r"ERROR: (Address|Leak)Sanitizer|runtime error:")
            return
        valgrind = shutil.which("valgrind")
        if valgrind is None:
            self.fail("valgrind is missing (tools/deps.sh installs it)")
        env = dict(os.environ)
        p = run([valgrind, "-q", "--error-exitcode=99", "--leak-check=full",
                 "--show-leak-kinds=definite,indirect", "--errors-for-leak-kinds=definite,indirect",
                 "--suppressions=" + SUPPRESSIONS, "--trace-children=yes",
                 "--trace-children-skip=*/qqnotify-probe,*/probe/qqnotify", prog],
                timeout=600, env=env)
        out = p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, out)
        self.assertNotIn("FAILED", out)
        self.assertRegex(out, r"\[  PASSED  \] \d+ test")
        # the suppressions are for pam_wrapper only: nothing of ours may be hidden by them
        self.assertNotIn("==", out.replace("[==========]", ""))


class PamtesterCase(unittest.TestCase):
    """pamtester (a PAM application we did not write) with pam_wrapper and the module."""

    def setUp(self):
        self.so = module_path()
        if not os.path.isfile(self.so):
            self.fail("%s does not exist (make all)" % self.so)
        self.pamtester_bin = shutil.which("pamtester")
        self.wrapper = pkg_config("--libs", "pam_wrapper")
        modules = pkg_config("--variable=modules", "pam_wrapper")
        if not self.pamtester_bin or not self.wrapper or not modules:
            self.fail("pamtester and libpam-wrapper are needed (tools/deps.sh installs them)")
        self.tmp = tempfile.mkdtemp(prefix="qqnotify-pam-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        os.chmod(self.tmp, 0o711)
        self.spool = os.path.join(self.tmp, "spool")
        self.owners = harness.SpoolOwners.get()
        init = os.path.join(self.tmp, "init.conf")
        with open(init, "w") as f:
            f.write("[smtp]\nuser = init@example.com\n" + self.owners.spool_section(self.spool))
        r = run([harness.qqnotify_path(), "-c", init, "queue", "init"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        services = os.path.join(self.tmp, "services")
        os.mkdir(services)
        passdb = os.path.join(self.tmp, "passdb")
        with open(passdb, "w") as f:
            f.write("alice:wonderland:sshd\n")
        matrix = os.path.join(modules, "pam_matrix.so")
        with open(os.path.join(services, "sshd"), "w") as f:
            f.write("auth [success=2 default=ignore] %s passdb=%s\n"
                    "auth optional %s event=authfail spool=%s\n"
                    "auth requisite pam_deny.so\n"
                    "auth required pam_permit.so\n"
                    "session optional %s event=open,close spool=%s\n"
                    "session required pam_permit.so\n"
                    % (matrix, passdb, self.so, self.spool, self.so, self.spool))
        with open(os.path.join(services, "other"), "w") as f:
            f.write("auth required pam_deny.so\nsession required pam_deny.so\n")
        preload = self.wrapper
        if sanitized(self.so):
            runtime = asan_runtime()
            if runtime is None:
                self.fail("the module is built with ASan but clang's shared ASan runtime "
                          "is missing (libclang-rt-14-dev)")
            preload = runtime + " " + preload
        self.env = dict(os.environ, PAM_WRAPPER="1", PAM_WRAPPER_SERVICE_DIR=services,
                        PAM_WRAPPER_DISABLE_DEEPBIND="1", UID_WRAPPER_DISABLE_DEEPBIND="1",
                        LD_PRELOAD=preload, ASAN_OPTIONS="detect_leaks=0")

    def pamtester(self, password, *ops):
        return run([self.pamtester_bin, "-I", "rhost=203.0.113.9", "-I", "tty=/dev/pts/5",
                    "-I", "ruser=ruser\r\nBcc: x@example.com", "sshd", "alice"] + list(ops),
                   input=(password + "\n").encode(), env=self.env)

    def entries(self):
        new = os.path.join(self.spool, "new")
        names = sorted(os.listdir(new), key=lambda n: (len(n.split(".")[0]), n))
        out = [read_entry(os.path.join(new, n)) for n in names]
        for n in names:
            os.unlink(os.path.join(new, n))
        self.assertEqual(os.listdir(os.path.join(self.spool, "tmp")), [])
        return out

    def test_wrong_password_is_one_authfail_event_and_still_refused(self):
        p = self.pamtester("guess", "authenticate")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"Authentication failure", p.stderr)
        (kind, fields, raw), = self.entries()
        self.assertEqual(kind, "authfail")
        self.assertEqual(fields["user"], "alice")
        self.assertEqual(fields["rhost"], "203.0.113.9")
        self.assertEqual(fields["ip"], "203.0.113.9")
        self.assertEqual(fields["ruser"], "ruser Bcc: x@example.com")
        self.assertNotIn(b"\nBcc", raw)

    def test_right_password_then_session_is_login_and_logout_only(self):
        p = self.pamtester("wonderland", "authenticate", "open_session", "close_session")
        self.assertEqual(p.returncode, 0, p.stderr)
        got = self.entries()
        self.assertEqual([k for k, _, _ in got], ["login", "logout"])
        for _, fields, _ in got:
            self.assertEqual(fields["service"], "sshd")
            self.assertEqual(fields["tty"], "/dev/pts/5")
            self.assertGreater(int(fields["pid"]), 0)

    def test_both_ends_of_a_session_carry_pamtesters_session_key(self):
        """The key is the boot id and the pid and start time of the process holding the
        handle (pamtester here, sshd's monitor in real life), read from /proc by the test."""
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip().replace("-", "")
        p = subprocess.Popen([self.pamtester_bin, "-I", "rhost=203.0.113.9", "sshd", "alice",
                              "authenticate", "open_session", "close_session"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=self.env)
        with open("/proc/%d/stat" % p.pid) as f:
            start = f.read().rsplit(")", 1)[1].split()[19]
        out, err = p.communicate(b"wonderland\n", timeout=60)
        self.assertEqual(p.returncode, 0, err)
        got = self.entries()
        self.assertEqual([k for k, _, _ in got], ["login", "logout"])
        want = "%s:%d:%s" % (boot, p.pid, start)
        self.assertEqual(got[0][1]["session"], want)
        self.assertEqual(got[1][1]["session"], want)


    def test_hostile_items_reach_the_mail_only_sanitised(self):
        """An attacker-chosen user name and remote host with CR/LF and a Bcc: line, a
        10 KB ruser: after `qqnotify flush` to a real local server the mail has exactly
        the headers qqnotify writes, and the text shows the values on one line each."""
        p = run([self.pamtester_bin, "-I", "rhost=evil.example\r\nBcc: y@example.com",
                 "-I", "tty=/dev/pts/5\rX-Injected: 1", "-I", "ruser=" + "A" * 10000,
                 "sshd", "root\r\nBcc: z@example.com", "authenticate"],
                input=b"guess\n", env=self.env)
        self.assertEqual(p.returncode, 1, p.stderr)  # still refused

        ca = tlsca.get()
        secret = harness.new_secret()
        creds = os.path.join(self.tmp, "creds")
        os.mkdir(creds, 0o700)
        with open(os.path.join(creds, "qqnotify.smtp"), "w") as f:
            f.write(secret)
        os.chmod(os.path.join(creds, "qqnotify.smtp"), 0o600)
        with smtpserver.SMTPServer("implicit", user=harness.USER, password=secret,
                                   cert=ca.server_cert, key=ca.server_key) as srv:
            conf = os.path.join(self.tmp, "qqnotify.conf")
            with open(conf, "w") as f:
                f.write("[smtp]\nprovider = custom\nhost = 127.0.0.1\nport = %d\n"
                        "tls = implicit\nca_file = %s\nuser = %s\ntimeout = 10\n"
                        "[notify]\nto = ops@example.com\nlanguage = en\n%s"
                        % (srv.port, ca.ca_cert, harness.USER,
                           self.owners.spool_section(self.spool)))
            r = run([harness.qqnotify_path(), "-c", conf, "flush"],
                    env={"PATH": "/usr/bin:/bin", "CREDENTIALS_DIRECTORY": creds,
                         "LANG": "C.UTF-8"})
            self.assertEqual(r.returncode, 0, r.stderr)
            srv.wait_messages(1)
            self.assertEqual(len(srv.messages), 1)
            got = srv.messages[0]
        self.assertEqual(got.rcpt_tos, ["ops@example.com"])
        raw_head = got.content.split(b"\r\n\r\n", 1)[0]
        for line in raw_head.split(b"\r\n"):
            self.assertLessEqual(len(line), 998)
            self.assertNotIn(b"\r", line)
            self.assertNotIn(b"\n", line)
        msg = email.message_from_bytes(got.content, policy=email.policy.default)
        self.assertEqual(sorted(k.lower() for k in msg.keys()),
                         sorted(["date", "from", "to", "subject", "message-id", "mime-version",
                                 "content-type"]))
        text = msg.get_body(("plain",)).get_content()
        self.assertIn("root Bcc: z@example.com", text)
        self.assertIn("evil.example Bcc: y@example.com", text)
        self.assertNotIn("\nBcc:", text)
        self.assertNotIn("X-Injected", "".join(msg.keys()))


class ManPageCase(unittest.TestCase):

    def test_man_page_renders_without_warnings(self):
        groff = shutil.which("groff")
        if groff is None:
            self.fail("groff is missing (groff-base)")
        p = run([groff, "-k", "-man", "-Tutf8", "-ww", "-z", MAN_PAGE],
                env=dict(os.environ, LC_ALL="C.UTF-8"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stderr.decode(), "")

    def test_man_page_documents_every_argument_the_module_parses(self):
        with open(MODULE_SRC) as f:
            src = f.read()
        args = set(re.findall(r'arg_value\(a, "(\w+)"\)', src))
        args |= set(re.findall(r'strcmp\(a, "(\w+)"\)', src))
        self.assertGreaterEqual(args, {"services", "skip_users", "only_users", "event", "spool",
                                       "flush", "flush_cmd", "debug", "only_remote"})
        with open(MAN_PAGE) as f:
            man = f.read()
        options = man.split(".SH OPTIONS", 1)[1].split(".SH ", 1)[0]
        for a in sorted(args):
            self.assertRegex(options, r"\n\.B[I]? %s(=|\n)" % re.escape(a),
                             "%s is not documented under OPTIONS" % a)


if __name__ == "__main__":
    unittest.main()
