#!/usr/bin/python3
"""smtpserver — a real SMTP submission server for the integration tests.

Built on python3-aiosmtpd, listening on loopback in a background thread with
its own asyncio loop.  Modes:

    implicit   TLS from the first byte (like smtp.qq.com:465)
    starttls   plain greeting, STARTTLS offered and required before anything
               else (like port 587)

AUTH PLAIN and LOGIN are offered only under TLS and required before MAIL;
exactly one user/password pair is accepted.  Every accepted message is
recorded (envelope sender, recipients, raw content bytes as received after
dot-unstuffing) in .messages and, when maildir is given, written to
maildir/NNNN.eml plus maildir/NNNN.json (envelope).  AUTH attempts are
counted.

As a context manager:

    with SMTPServer("implicit", user="a@qq.com", password="s3cret",
                    cert=ca.server_cert, key=ca.server_key) as srv:
        ... srv.port ...
        srv.wait_messages(1)

As a process (for `make demo` and the benchmarks):

    /usr/bin/python3 smtpserver.py --mode implicit --port 0 --user U \
        --password-file F --cert C --key K --maildir DIR --ready-file R

writes the bound port to R (atomically) once it accepts connections, and
runs until SIGTERM/SIGINT (or --lifetime seconds, default 3600).
"""

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import ssl
import sys
import threading
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

logging.getLogger("mail.log").setLevel(logging.ERROR)

MODES = ("implicit", "starttls")


class Message:
    """One accepted message."""

    def __init__(self, mail_from, rcpt_tos, content, peer, tls, auth_user):
        self.mail_from = mail_from
        self.rcpt_tos = list(rcpt_tos)
        self.content = content  # bytes, CRLF line ends as sent, dots unstuffed
        self.peer = peer
        self.tls = tls  # the session was encrypted when DATA was accepted
        self.auth_user = auth_user

    def __repr__(self):
        return "Message(from=%r, to=%r, %d bytes)" % (
            self.mail_from, self.rcpt_tos, len(self.content))


class _SMTP(SMTP):
    """aiosmtpd treats only STARTTLS as "TLS" for auth_require_tls; on an
    implicit-TLS listener the transport is encrypted from the start, so mark
    it so AUTH is offered and accepted there too."""

    def connection_made(self, transport):
        super().connection_made(transport)
        if self._tls_protocol is None and transport.get_extra_info("ssl_object") is not None:
            self._tls_protocol = transport  # truthy: "this session is TLS"
            self.session.ssl = transport.get_extra_info("ssl_object")


class _Handler:
    def __init__(self, owner):
        self.owner = owner

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content
        if content is None:
            content = envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        user = None
        if session.auth_data is not None and isinstance(session.auth_data, LoginPassword):
            user = session.auth_data.login.decode("utf-8", "replace")
        msg = Message(envelope.mail_from, envelope.rcpt_tos, content, session.peer,
                      session.ssl is not None, user)
        self.owner._record(msg)
        return "250 2.0.0 OK queued"


class SMTPServer:
    """See the module docstring.  Attributes once started: host, port,
    messages (list of Message), auth_attempts, auth_failures, auth_successes,
    connections."""

    def __init__(self, mode="implicit", *, user, password, cert, key, host="127.0.0.1",
                 port=0, maildir=None, hostname="localhost", auth_mechanisms=("PLAIN", "LOGIN"),
                 data_size_limit=10 * 1024 * 1024, session_timeout=60, keep_content=True):
        if mode not in MODES:
            raise ValueError("mode must be one of %s" % (MODES,))
        self.mode = mode
        self.user = user
        self.password = password.encode("utf-8") if isinstance(password, str) else password
        self.cert = cert
        self.key = key
        self.host = host
        self.port = port
        self.maildir = maildir
        self.hostname = hostname
        self.auth_mechanisms = tuple(m.upper() for m in auth_mechanisms)
        self.data_size_limit = data_size_limit
        self.session_timeout = session_timeout
        self.keep_content = keep_content  # False: in maildir only (large benchmarks)
        self.messages = []
        self.auth_attempts = 0
        self.auth_failures = 0
        self.auth_successes = 0
        self.connections = 0
        self._cond = threading.Condition()
        self._loop = None
        self._thread = None
        self._server = None
        self._ready = threading.Event()
        self._error = None

    # -- recording ---------------------------------------------------------
    def _record(self, msg):
        with self._cond:
            self.messages.append(msg)
            n = len(self.messages)
            self._cond.notify_all()
        if self.maildir:
            base = os.path.join(self.maildir, "%04d" % n)
            with open(base + ".eml.tmp", "wb") as f:
                f.write(msg.content)
            os.rename(base + ".eml.tmp", base + ".eml")
            with open(base + ".json", "w", encoding="utf-8") as f:
                json.dump({"mail_from": msg.mail_from, "rcpt_tos": msg.rcpt_tos,
                           "tls": msg.tls, "auth_user": msg.auth_user,
                           "size": len(msg.content)}, f, ensure_ascii=False)
            if not self.keep_content:
                msg.content = b""

    def _authenticator(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == self.user.encode("utf-8")
              and auth_data.password == self.password)
        with self._cond:
            self.auth_attempts += 1
            if ok:
                self.auth_successes += 1
            else:
                self.auth_failures += 1
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def wait_messages(self, n, timeout=10.0):
        """Wait until at least N messages arrived; returns the count seen."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return len(self.messages)

    # -- life cycle ----------------------------------------------------------
    def _ssl_context(self):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    def _factory(self):
        self.connections += 1
        exclude = [m for m in ("PLAIN", "LOGIN") if m not in self.auth_mechanisms]
        kwargs = dict(
            hostname=self.hostname,
            data_size_limit=self.data_size_limit,
            enable_SMTPUTF8=False,
            decode_data=False,
            auth_required=True,
            auth_require_tls=True,
            authenticator=self._authenticator,
            auth_exclude_mechanism=exclude,
            timeout=self.session_timeout,
            loop=self._loop,
        )
        if self.mode == "starttls":
            kwargs["tls_context"] = self._ssl_context()
            kwargs["require_starttls"] = True
        return _SMTP(_Handler(self), **kwargs)

    def _run(self, sock):
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            ssl_ctx = self._ssl_context() if self.mode == "implicit" else None
            self._server = loop.run_until_complete(
                loop.create_server(self._factory, sock=sock, ssl=ssl_ctx))
        except BaseException as e:  # report to start()
            self._error = e
            self._ready.set()
            sock.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            try:
                loop.run_until_complete(asyncio.wait_for(self._server.wait_closed(), 5))
            except Exception:
                pass
            tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in tasks:
                t.cancel()
            if tasks:
                try:
                    loop.run_until_complete(asyncio.wait(tasks, timeout=5))
                except Exception:
                    pass
            loop.close()

    def start(self, timeout=10.0):
        if self._thread is not None:
            raise RuntimeError("already started")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(64)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(sock,), daemon=True,
                                        name="smtpserver:%d" % self.port)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            err = self._error
            self.stop()
            raise RuntimeError("smtpserver did not start: %r" % (err,))
        return self

    def stop(self, timeout=10.0):
        t, self._thread = self._thread, None
        if t is None:
            return
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(loop.stop)
            except RuntimeError:
                pass
        t.join(timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def main(argv=None):
    ap = argparse.ArgumentParser(description="loopback SMTP server with TLS and AUTH (tests)")
    ap.add_argument("--mode", choices=MODES, default="implicit")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-file", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--maildir")
    ap.add_argument("--ready-file")
    ap.add_argument("--auth", default="PLAIN,LOGIN", help="mechanisms offered")
    ap.add_argument("--lifetime", type=float, default=3600.0,
                    help="exit after this many seconds at the latest")
    ap.add_argument("--size-limit", type=int, default=10 * 1024 * 1024,
                    help="the SIZE it announces and enforces, in bytes")
    ap.add_argument("--maildir-only", action="store_true",
                    help="keep messages in --maildir only, not in memory")
    a = ap.parse_args(argv)

    with open(a.password_file, "rb") as f:
        password = f.read().rstrip(b"\r\n")
    if a.maildir:
        os.makedirs(a.maildir, exist_ok=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    srv = SMTPServer(a.mode, user=a.user, password=password, cert=a.cert, key=a.key,
                     host=a.host, port=a.port, maildir=a.maildir,
                     auth_mechanisms=a.auth.split(","), data_size_limit=a.size_limit,
                     keep_content=not (a.maildir_only and a.maildir))
    srv.start()
    try:
        if a.ready_file:
            tmp = a.ready_file + ".tmp"
            with open(tmp, "w") as f:
                f.write("%d\n" % srv.port)
            os.rename(tmp, a.ready_file)
        print("smtpserver: %s on %s port %d" % (a.mode, a.host, srv.port), file=sys.stderr,
              flush=True)
        stop.wait(a.lifetime)
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
