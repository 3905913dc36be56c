#!/usr/bin/python3
"""faultserver — a scripted raw-socket SMTP server for fault tests.

It speaks just enough SMTP to carry a submission through (greeting, EHLO,
STARTTLS, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT) and lets a
test replace what happens at any stage:

    greeting  the first reply on connect (after the handshake in implicit mode)
    ehlo      the reply to EHLO/HELO (the whole multi-line reply)
    starttls  the reply to STARTTLS (the handshake follows only after a 220)
    auth      the final reply to AUTH (after the credentials were read)
    mail      the reply to MAIL FROM
    rcpt      the reply to RCPT TO
    data      the reply to DATA (message reading follows only after a 354)
    dot       the reply after the message's final "."
    quit      the reply to QUIT

A script maps a stage to an Act, to a list of Acts (one per occurrence of
that stage on a connection; None or past the end = default) or to a
callable (conn_index, occurrence) -> Act or None.  Acts:

    reply(550, "text")                  any code and text; text may be a list
                                        (multi-line reply) or bytes
    reply(550, "中文", encoding="gbk")   text encoded as GBK bytes
    raw(b"550 ...\\r\\n")                exact bytes
    drop()                              close the connection instead of replying
    drop(after_bytes=100)               at "dot": close mid-DATA once that many
                                        bytes of the message arrived
    delay(10)                           wait, then the default reply (or then=Act)
    any of them with close=True         close right after replying
    reply(...)/raw(..., trickle=1.0)    send the reply one byte at a time, TRICKLE
                                        seconds apart (slowloris)
    drop(..., reset=True)               close with a TCP reset (SO_LINGER 0)
    drop(..., tls_shutdown=True)        send TLS close_notify, then close
    stall()                             at "dot": after the 354, never read the
                                        message (the client's writes block)

TLS faults (FaultServer(tls_fault=...), at the handshake, implicit or after
STARTTLS): "close" closes before reading anything, "after_hello" closes once
the ClientHello arrived, "garbage" answers it with plain text, "stall" never
answers it.  ciphers="DEFAULT:@SECLEVEL=0" lets the server load and offer
weak certificates (RSA 1024, SHA-1 signatures), tls_versions=("TLSv1",
"TLSv1_1") limits the protocol versions it offers.

Modes: "implicit" (TLS from the first byte), "starttls" (plain greeting;
STARTTLS offered unless offer_starttls=False), "plain" (never TLS).  Every
line the client sent is recorded in .lines as ClientLine(conn, tls, raw),
message bodies (raw, still dot-stuffed) in .data as (conn, bytes, complete),
notable happenings in .events.  Everything is
bounded: each socket has an I/O timeout, delays end when the server stops.
"""

import base64
import socket
import ssl
import struct
import threading
import time

STAGES = ("greeting", "ehlo", "starttls", "auth", "mail", "rcpt", "data", "dot", "quit")
MAX_LINE = 8192
MAX_DATA = 32 * 1024 * 1024


class Act:
    def __init__(self, reply=None, delay=0.0, drop=False, after_bytes=None, close=False,
                 trickle=0.0, reset=False, tls_shutdown=False, hold=False):
        self.reply = reply          # bytes to send, or None for the default reply
        self.delay = float(delay)   # seconds to wait first
        self.drop = drop            # close instead of replying
        self.after_bytes = after_bytes  # with drop at "dot": close mid-DATA
        self.close = close          # close after replying
        self.trickle = float(trickle)  # seconds between the bytes of the reply
        self.reset = reset          # a drop or close ends with a TCP reset
        self.tls_shutdown = tls_shutdown  # a drop or close sends close_notify first
        self.hold = hold            # at "dot": never read the message

    def __repr__(self):
        return ("Act(reply=%r, delay=%r, drop=%r, after_bytes=%r, close=%r, trickle=%r, "
                "reset=%r, tls_shutdown=%r, hold=%r)" % (
                    self.reply if self.reply is None or len(self.reply) <= 200
                    else self.reply[:200] + b"...(%d bytes)" % len(self.reply),
                    self.delay, self.drop, self.after_bytes, self.close, self.trickle,
                    self.reset, self.tls_shutdown, self.hold))


def encode_reply(code, text="", encoding="utf-8"):
    """Bytes of a (multi-line when TEXT is a list) reply with CRLF ends."""
    if isinstance(text, (str, bytes)):
        text = [text]
    parts = []
    for i, t in enumerate(text):
        if isinstance(t, str):
            t = t.encode(encoding)
        sep = b" " if i == len(text) - 1 else b"-"
        parts.append(b"%d%s%s\r\n" % (code, sep, t))
    return b"".join(parts)


def reply(code, text="", encoding="utf-8", close=False, delay=0.0, trickle=0.0):
    return Act(reply=encode_reply(code, text, encoding), close=close, delay=delay,
               trickle=trickle)


def raw(data, close=False, delay=0.0, trickle=0.0):
    return Act(reply=data, close=close, delay=delay, trickle=trickle)


def drop(after_bytes=None, delay=0.0, reset=False, tls_shutdown=False):
    return Act(drop=True, after_bytes=after_bytes, delay=delay, reset=reset,
               tls_shutdown=tls_shutdown)


def stall():
    """At "dot": answer DATA with 354, then read nothing more."""
    return Act(hold=True)


def delay(seconds, then=None):
    if then is None:
        return Act(delay=seconds)
    return Act(reply=then.reply, delay=seconds, drop=then.drop,
               after_bytes=then.after_bytes, close=then.close)


class ClientLine:
    def __init__(self, conn, tls, raw_line):
        self.conn = conn
        self.tls = tls
        self.raw = raw_line  # bytes without CRLF

    @property
    def text(self):
        return self.raw.decode("utf-8", "replace")

    def __repr__(self):
        return "ClientLine(%d, %s, %r)" % (self.conn, "tls" if self.tls else "clear", self.raw)


class _Closed(Exception):
    pass


_LOOKUP = object()  # respond(): no Act given, look it up in the script


class _Conn:
    def __init__(self, server, sock, index):
        self.srv = server
        self.sock = sock
        self.index = index
        self.tls = False
        self.buf = b""
        self.count = {}

    # -- I/O -------------------------------------------------------------------
    def send(self, data):
        try:
            self.sock.sendall(data)
        except (OSError, ssl.SSLError) as e:
            self.srv._event(self.index, "send failed: %r" % (e,))
            raise _Closed()

    def _fill(self):
        try:
            chunk = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            self.srv._event(self.index, "client idle too long")
            raise _Closed()
        except (OSError, ssl.SSLError) as e:
            self.srv._event(self.index, "recv failed: %r" % (e,))
            raise _Closed()
        if not chunk:
            self.srv._event(self.index, "client closed")
            raise _Closed()
        self.buf += chunk

    def readline(self):
        while b"\n" not in self.buf:
            if len(self.buf) > MAX_LINE:
                self.srv._event(self.index, "line too long")
                raise _Closed()
            self._fill()
        line, self.buf = self.buf.split(b"\n", 1)
        if line.endswith(b"\r"):
            line = line[:-1]
        else:
            self.srv._event(self.index, "bare LF line ending from client")
        self.srv._record(ClientLine(self.index, self.tls, line))
        return line

    # -- script ------------------------------------------------------------------
    def act_for(self, stage, consume=True):
        n = self.count.get(stage, 0)
        if consume:
            self.count[stage] = n + 1
        s = self.srv.script.get(stage)
        if s is None:
            return None
        if callable(s):
            return s(self.index, n)
        if isinstance(s, (list, tuple)):
            return s[n] if n < len(s) else None
        return s

    def respond(self, stage, default, act=_LOOKUP, consume=True):
        """Do what the script says at STAGE (else send DEFAULT); ACT, when
        given (None too), was already looked up: "dot" is looked up at DATA, and
        looking it up again here would count a second occurrence.  Returns the
        bytes sent (None when the connection was dropped)."""
        if act is _LOOKUP:
            act = self.act_for(stage, consume)
        if act is None:
            self.send(default)
            return default
        self.srv._event(self.index, "%s: %r" % (stage, act))
        if act.delay > 0 and self.srv._stop.wait(act.delay):
            raise _Closed()
        if act.drop and act.after_bytes is None:
            self.abort(act)
        out = act.reply if act.reply is not None else default
        if act.trickle > 0:
            for i in range(len(out)):
                self.send(out[i:i + 1])
                if i + 1 < len(out) and self.srv._stop.wait(act.trickle):
                    raise _Closed()
        else:
            self.send(out)
        if act.close:
            self.abort(act)
        return out

    def abort(self, act):
        """End the connection as ACT says: TCP reset, close_notify, or a plain close."""
        try:
            if act is not None and act.reset:
                raw_sock = self.sock
                raw_sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    struct.pack("ii", 1, 0))
                self.srv._event(self.index, "closing with a reset")
            elif act is not None and act.tls_shutdown and self.tls:
                # SSL_shutdown sends close_notify first; waiting for the peer's
                # may then fail on data still in flight, which is fine here.
                self.srv._event(self.index, "sending close_notify")
                self.sock = self.sock.unwrap()
        except (OSError, ssl.SSLError, ValueError) as e:
            self.srv._event(self.index, "abort: %r" % (e,))
        raise _Closed()

    # -- TLS ---------------------------------------------------------------------
    def start_tls(self):
        if self.buf:
            self.srv._event(self.index, "client pipelined %d bytes before the TLS handshake"
                            % len(self.buf))
            self.buf = b""  # RFC 3207: discard what came before the handshake
        fault = self.srv.tls_fault
        if fault is not None:
            self.srv.tls_failures += 1
            self.srv._event(self.index, "tls fault: %s" % fault)
            if fault != "close":
                try:
                    hello = self.sock.recv(65536)  # the ClientHello (bounded by io_timeout)
                except OSError:
                    hello = b""
                self.srv._event(self.index, "client hello: %d bytes" % len(hello))
                if fault == "garbage":
                    self.send(b"220 this is not TLS\r\n" * 4)
                elif fault == "stall":
                    self.srv._stop.wait(self.srv.io_timeout)
            raise _Closed()
        try:
            self.sock = self.srv._ssl_ctx.wrap_socket(self.sock, server_side=True)
        except (OSError, ssl.SSLError) as e:
            self.srv._event(self.index, "tls handshake failed: %r" % (e,))
            self.srv.tls_failures += 1
            raise _Closed()
        self.tls = True
        self.srv._event(self.index, "tls ok: %s" % self.sock.version())

    # -- protocol ----------------------------------------------------------------
    def ehlo_reply(self):
        s = self.srv
        lines = [s.hostname]
        if s.mode == "starttls" and s.offer_starttls and not self.tls:
            lines.append("STARTTLS")
        if s.auth_mechs and (self.tls or s.auth_in_clear):
            lines.append("AUTH " + " ".join(s.auth_mechs))
        lines += s.extra_ehlo
        lines.append("8BITMIME")
        lines.append("ENHANCEDSTATUSCODES")
        return encode_reply(250, lines)

    def do_auth(self, arg):
        s = self.srv
        parts = arg.split()
        if not parts:
            self.send(b"501 5.5.4 Syntax: AUTH mechanism\r\n")
            return
        mech = parts[0].upper()
        user = password = None
        try:
            if mech == "PLAIN" and "PLAIN" in s.auth_mechs:
                if len(parts) > 1:
                    resp = parts[1]
                else:
                    self.send(b"334 \r\n")
                    resp = self.readline().decode("ascii", "replace")
                if resp == "*":
                    self.send(b"501 5.7.0 Authentication cancelled\r\n")
                    return
                fields = base64.b64decode(resp, validate=True).split(b"\0")
                if len(fields) == 3:
                    user, password = fields[1], fields[2]
            elif mech == "LOGIN" and "LOGIN" in s.auth_mechs:
                if len(parts) > 1:
                    user = base64.b64decode(parts[1], validate=True)
                else:
                    self.send(b"334 VXNlcm5hbWU6\r\n")
                    r = self.readline().decode("ascii", "replace")
                    if r == "*":
                        self.send(b"501 5.7.0 Authentication cancelled\r\n")
                        return
                    user = base64.b64decode(r, validate=True)
                self.send(b"334 UGFzc3dvcmQ6\r\n")
                r = self.readline().decode("ascii", "replace")
                if r == "*":
                    self.send(b"501 5.7.0 Authentication cancelled\r\n")
                    return
                password = base64.b64decode(r, validate=True)
            else:
                self.send(b"504 5.5.4 Unrecognized authentication type\r\n")
                return
        except ValueError:
            self.send(b"501 5.5.2 Cannot decode response\r\n")
            return
        with s._lock:
            s.auth_attempts += 1
            s.auth_log.append((self.index, self.tls, mech, user, password))
        ok = user is not None and (
            s.user is None or (user == s.user.encode() and password == s.password.encode()))
        default = (b"235 2.7.0 Authentication successful\r\n" if ok
                   else b"535 5.7.8 Authentication credentials invalid\r\n")
        self.respond("auth", default)

    def read_data(self, act):
        """Read the message up to CRLF.CRLF; honour drop(after_bytes) of ACT."""
        data = bytearray()
        while True:
            if act is not None and act.drop and act.after_bytes is not None \
                    and len(data) + len(self.buf) >= act.after_bytes:
                take = max(0, act.after_bytes - len(data))
                data += self.buf[:take]
                self.srv._data(self.index, bytes(data), complete=False)
                self.srv._event(self.index, "dropping mid-DATA after %d bytes" % len(data))
                self.abort(act)
            i = self.buf.find(b"\r\n.\r\n")
            if i >= 0:
                data += self.buf[:i + 2]
                self.buf = self.buf[i + 5:]
                break
            if bytes(self.buf) == b".\r\n" and (not data or data.endswith(b"\r\n")):
                self.buf = b""
                break
            if len(data) > MAX_DATA:
                self.srv._event(self.index, "message too large")
                raise _Closed()
            # keep the last 4 bytes: the terminator may straddle reads
            if len(self.buf) > 4:
                data += self.buf[:-4]
                self.buf = self.buf[-4:]
            self._fill()
        self.srv._data(self.index, bytes(data), complete=True)

    def run(self):
        s = self.srv
        try:
            self.sock.settimeout(s.io_timeout)
            if s.mode == "implicit":
                self.start_tls()
            self.respond("greeting", b"220 %s ESMTP faultserver\r\n" % s.hostname.encode())
            while not s._stop.is_set():
                line = self.readline()
                cmd, _, arg = line.decode("utf-8", "replace").partition(" ")
                cmd = cmd.upper()
                if cmd in ("EHLO", "HELO"):
                    self.respond("ehlo", self.ehlo_reply())
                elif cmd == "STARTTLS":
                    if s.mode != "starttls" or self.tls or not s.offer_starttls:
                        self.send(b"502 5.5.1 STARTTLS not available\r\n")
                        continue
                    out = self.respond("starttls", b"220 2.0.0 Ready to start TLS\r\n")
                    if out.startswith(b"220"):
                        self.start_tls()
                elif cmd == "AUTH":
                    self.do_auth(arg)
                elif cmd == "MAIL":
                    self.respond("mail", b"250 2.1.0 OK\r\n")
                elif cmd == "RCPT":
                    self.respond("rcpt", b"250 2.1.5 OK\r\n")
                elif cmd == "DATA":
                    out = self.respond("data", b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    if out.startswith(b"354"):
                        act = self.act_for("dot")
                        if act is not None and act.hold:
                            self.srv._event(self.index, "not reading the message")
                            s._stop.wait(s.io_timeout)
                            raise _Closed()
                        self.read_data(act)
                        self.respond("dot", b"250 2.0.0 OK queued\r\n", act=act)
                elif cmd == "RSET":
                    self.send(b"250 2.0.0 OK\r\n")
                elif cmd == "NOOP":
                    self.send(b"250 2.0.0 OK\r\n")
                elif cmd == "QUIT":
                    self.respond("quit", b"221 2.0.0 Bye\r\n")
                    break
                else:
                    self.send(b"502 5.5.2 Command not recognized\r\n")
        except _Closed:
            pass
        except Exception as e:  # never let a handler thread die silently
            s._event(self.index, "handler error: %r" % (e,))
        finally:
            try:
                self.sock.close()
            except OSError:
                pass
            s._event(self.index, "closed")


class FaultServer:
    def __init__(self, mode="implicit", script=None, *, cert=None, key=None, host="127.0.0.1",
                 port=0, hostname="localhost", offer_starttls=True,
                 auth_mechs=("PLAIN", "LOGIN"), auth_in_clear=True, extra_ehlo=(),
                 user=None, password=None, io_timeout=30.0, tls_fault=None, ciphers=None,
                 tls_versions=None):
        if mode not in ("implicit", "starttls", "plain"):
            raise ValueError("bad mode %r" % mode)
        if mode == "plain":
            mode, offer_starttls = "starttls", False
        self.mode = mode
        self.script = dict(script or {})
        for k in self.script:
            if k not in STAGES:
                raise ValueError("unknown stage %r (stages: %s)" % (k, ", ".join(STAGES)))
        self.cert, self.key = cert, key
        self.host, self.port = host, port
        self.hostname = hostname
        self.offer_starttls = offer_starttls
        self.auth_mechs = tuple(auth_mechs)
        self.auth_in_clear = auth_in_clear
        self.extra_ehlo = list(extra_ehlo)
        self.user, self.password = user, password
        self.io_timeout = io_timeout
        if tls_fault not in (None, "close", "after_hello", "garbage", "stall"):
            raise ValueError("bad tls_fault %r" % tls_fault)
        self.tls_fault = tls_fault
        self.lines = []
        self.data = []      # (conn, bytes, complete)
        self.events = []    # (time, conn, text)
        self.auth_attempts = 0
        self.auth_log = []  # (conn, tls, mech, user bytes, password bytes)
        self.tls_failures = 0
        self.connections = 0
        self._active = 0
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._threads = []
        self._conns = []
        self._listener = None
        self._accept_thread = None
        self._ssl_ctx = None
        needs_tls = mode == "implicit" or (mode == "starttls" and offer_starttls)
        if needs_tls:
            if not (cert and key):
                raise ValueError("mode %s needs cert and key" % mode)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            if ciphers is not None:  # before loading: the security level checks the key
                ctx.set_ciphers(ciphers)
            if tls_versions is not None:
                ctx.minimum_version = getattr(ssl.TLSVersion, tls_versions[0])
                ctx.maximum_version = getattr(ssl.TLSVersion, tls_versions[1])
            ctx.load_cert_chain(cert, key)
            self._ssl_ctx = ctx

    # -- records -------------------------------------------------------------------
    def _record(self, line):
        with self._lock:
            self.lines.append(line)

    def _data(self, conn, data, complete):
        with self._lock:
            self.data.append((conn, data, complete))

    def _event(self, conn, text):
        with self._lock:
            self.events.append((time.monotonic(), conn, text))

    def commands(self, conn=None):
        """Client lines as text (optionally of one connection)."""
        with self._lock:
            return [l.text for l in self.lines if conn is None or l.conn == conn]

    def clear_lines(self):
        """Client lines sent before TLS (in clear)."""
        with self._lock:
            return [l for l in self.lines if not l.tls]

    def transcript(self):
        """Readable dump for assertion messages."""
        with self._lock:
            out = ["C%d %s %r" % (l.conn, "tls" if l.tls else "clr", l.raw) for l in self.lines]
            out += ["E%d %s" % (c, t) for _, c, t in self.events]
        return "\n".join(out)

    def wait_idle(self, timeout=10.0):
        """Wait until no connection is being handled.  True if idle."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._active > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    # -- life cycle ------------------------------------------------------------------
    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                if self._stop.is_set():
                    break
                time.sleep(0.05)
                continue
            with self._lock:
                self.connections += 1
                index = self.connections
                self._active += 1  # counted before the thread starts: wait_idle sees it
            self._event(index, "connected")
            t = threading.Thread(target=self._serve_counted, args=(sock, index), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve_counted(self, sock, index):
        conn = _Conn(self, sock, index)
        with self._lock:
            self._conns.append(conn)
        try:
            conn.run()
        finally:
            with self._lock:
                self._active -= 1
                self._lock.notify_all()

    def start(self):
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        ls = socket.socket(family, socket.SOCK_STREAM)
        try:
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind((self.host, self.port))
            ls.listen(16)
            ls.settimeout(0.2)
        except BaseException:
            ls.close()
            raise
        self._listener = ls
        self.port = ls.getsockname()[1]
        self._accept_thread = threading.Thread(target=self._accept_loop, daemon=True,
                                               name="faultserver:%d" % self.port)
        self._accept_thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._accept_thread is not None:
            self._accept_thread.join(5)
            self._accept_thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            conns = list(self._conns)
        for c in conns:  # wake handlers blocked in recv()
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except (OSError, ValueError):
                pass
        for t in self._threads:
            t.join(5)
        self._threads = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
