#!/usr/bin/python3
"""httpsd — the life of a local HTTPS test server: a ThreadingHTTPServer on
127.0.0.1 (a free port), TLS 1.2+ with a certificate of the test CA
(tlsca.py), served in a daemon thread, stopped within 10 seconds.  The
simulators (robotsim.py, pingserver.py) bring their request handlers."""

import http.server
import ssl
import threading


def handler(on_get, on_post):
    """A request handler class (HTTP/1.1, quiet) calling ON_GET(h) and ON_POST(h)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def do_GET(self):
            on_get(self)

        def do_POST(self):
            on_post(self)

    return Handler


class HTTPSServer:
    def __init__(self, handler, cert, key):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


def send(handler, code, body, ctype):
    """One whole answer on HANDLER, closing the connection after it."""
    handler.send_response(code)
    handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(body)


class Simulator:
    """A server's life for a simulator: start() serves _on_get and _on_post
    (methods of the subclass, called with the handler), stop() sets
    .stopping (faults that hold a request wait on it) and ends it; the
    requests and the script of faults, one per request in arrival order."""

    def __init__(self, cert, key, script=None):
        self.cert, self.key = cert, key
        self.script = list(script or [])
        self.requests = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.server = None
        self.port = None

    def record(self, rec):
        """Keep REC in .requests; the script's fault for it (None: none).  A
        "noanswer" fault is played here: None is returned at the stop."""
        with self.lock:
            self.requests.append(rec)
            fault = self.script.pop(0) if self.script else None
        if fault == "noanswer":
            self.stopping.wait(60)
            return "noanswer"
        return fault

    def start(self):
        self.server = HTTPSServer(handler(self._on_get, self._on_post), self.cert, self.key)
        self.port = self.server.port
        return self

    def stop(self):
        self.stopping.set()
        if self.server is not None:
            self.server.stop()
            self.server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
