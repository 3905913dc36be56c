#!/usr/bin/python3
"""tlsca — a throw-away certificate authority for the integration tests.

Everything is made with the `openssl` command into one temporary directory,
once per process (the first call to get() creates it, later calls return
the same paths; the directory is removed when the process exits):

    ca          CA certificate and key (the `ca_file` the client trusts)
    server      leaf for localhost + IP 127.0.0.1 + IP ::1, signed by the CA
    wronghost   leaf for wronghost.example only, signed by the CA
    expired     leaf for localhost/127.0.0.1/::1, signed by the CA, valid
                only in 2020
    selfsigned  self-signed leaf for localhost/127.0.0.1/::1, not from the CA

Keys are EC P-256 (fast to make); leaves carry serverAuth EKU and SANs.

Standalone: `/usr/bin/python3 tlsca.py DIR` writes the same files into DIR
(kept) and prints their paths, for `make demo`-like manual use.
"""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import threading

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
_TIMEOUT = 60  # seconds for any single openssl run

LOCAL_SAN = "DNS:localhost,IP:127.0.0.1,IP:::1"


class CA:
    """Paths of the generated PEM files (attributes are absolute paths)."""

    def __init__(self, d):
        self.dir = d
        self.ca_cert = os.path.join(d, "ca.pem")
        self.ca_key = os.path.join(d, "ca.key")
        for name in ("server", "wronghost", "expired", "selfsigned"):
            setattr(self, name + "_cert", os.path.join(d, name + ".pem"))
            setattr(self, name + "_key", os.path.join(d, name + ".key"))

    def pair(self, name):
        """(cert, key) for 'server', 'wronghost', 'expired' or 'selfsigned'."""
        return getattr(self, name + "_cert"), getattr(self, name + "_key")

    def __repr__(self):
        return "CA(%r)" % self.dir


def _run(args, cwd):
    p = subprocess.run([OPENSSL] + args, cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=_TIMEOUT)
    if p.returncode != 0:
        raise RuntimeError("openssl %s failed (exit %d):\n%s" % (
            " ".join(args), p.returncode, p.stderr.decode("utf-8", "replace")))
    return p


_CA_CNF = """\
[ ca ]
default_ca = testca

[ testca ]
dir = {d}
database = {d}/db/index.txt
serial = {d}/db/serial
new_certs_dir = {d}/db/new
certificate = {d}/ca.pem
private_key = {d}/ca.key
default_md = sha256
default_days = 30
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no

[ policy_any ]
commonName = supplied

[ req ]
distinguished_name = req_dn
prompt = no

[ req_dn ]
CN = unused

[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[ v3_local ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = {local_san}

[ v3_wronghost ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:wronghost.example

[ v3_self ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
subjectAltName = {local_san}
"""


def _genkey(d, name):
    _run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
          "-out", name + ".key"], d)
    os.chmod(os.path.join(d, name + ".key"), 0o600)


def _sign(d, name, cn, ext, start=None, end=None, days=30):
    _genkey(d, name)
    _run(["req", "-new", "-config", "ca.cnf", "-key", name + ".key",
          "-subj", "/CN=" + cn, "-out", name + ".csr"], d)
    args = ["ca", "-batch", "-notext", "-config", "ca.cnf", "-extensions", ext,
            "-in", name + ".csr", "-out", name + ".pem"]
    if start:
        args += ["-startdate", start, "-enddate", end]
    else:
        args += ["-days", str(days)]
    _run(args, d)


def make(d):
    """Create every file in directory D (which must exist). Returns a CA."""
    os.makedirs(os.path.join(d, "db", "new"), exist_ok=True)
    with open(os.path.join(d, "db", "index.txt"), "w"):
        pass
    with open(os.path.join(d, "db", "serial"), "w") as f:
        f.write("1000\n")
    with open(os.path.join(d, "ca.cnf"), "w") as f:
        f.write(_CA_CNF.format(d=d, local_san=LOCAL_SAN))

    _genkey(d, "ca")
    _run(["req", "-new", "-x509", "-config", "ca.cnf", "-extensions", "v3_ca",
          "-key", "ca.key", "-subj", "/CN=qqnotify test CA", "-days", "30",
          "-out", "ca.pem"], d)
    _sign(d, "server", "localhost", "v3_local")
    _sign(d, "wronghost", "wronghost.example", "v3_wronghost")
    _sign(d, "expired", "localhost", "v3_local",
          start="20200101000000Z", end="20200201000000Z")
    _genkey(d, "selfsigned")
    _run(["req", "-new", "-x509", "-config", "ca.cnf", "-extensions", "v3_self",
          "-key", "selfsigned.key", "-subj", "/CN=localhost", "-days", "30",
          "-out", "selfsigned.pem"], d)
    return CA(d)


_lock = threading.Lock()
_cached = None


def get():
    """The CA of this process (made on first use, removed at exit)."""
    global _cached
    with _lock:
        if _cached is None:
            d = tempfile.mkdtemp(prefix="qqnotify-ca-")
            # The sender reads ca.pem as the spool's user after giving up root: others
            # may pass through (the keys stay 0600).
            os.chmod(d, 0o711)
            atexit.register(shutil.rmtree, d, True)
            try:
                _cached = make(d)
            except BaseException:
                shutil.rmtree(d, True)
                raise
        return _cached


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: tlsca.py DIR")
    out = os.path.abspath(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    ca = make(out)
    for n in ("ca", "server", "wronghost", "expired", "selfsigned"):
        print(n, getattr(ca, n + "_cert"))
