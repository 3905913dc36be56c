#!/usr/bin/python3
"""pingserver — a local HTTPS stand-in for a push monitor (healthchecks.io,
Uptime Kuma) for the heartbeat tests.

On 127.0.0.1 with a certificate of the test CA (tlsca.py), in a background
thread.  Every request is recorded in .requests (method, path, headers,
time) and answered "OK" with 200, as healthchecks.io answers a ping.
`script` lists, per request in arrival order, a fault to play instead:
("status", CODE) (answer CODE with a short body), "noanswer" (read the
request and never answer until the server stops).
"""

import time

import httpsd


class PingServer(httpsd.Simulator):
    def __init__(self, cert, key, script=None):
        super().__init__(cert, key, script)

    def _on_get(self, h):
        self._handle(h, "GET")

    def _on_post(self, h):
        self._handle(h, "POST")

    def url(self, path):
        return "https://127.0.0.1:%d%s" % (self.port, path)

    def paths(self):
        with self.lock:
            return [(r["method"], r["path"]) for r in self.requests]

    def _handle(self, h, method):
        rec = {"method": method, "path": h.path, "headers": dict(h.headers.items()),
               "time": time.time()}
        fault = self.record(rec)
        if fault == "noanswer":
            return
        code, body = (fault[1], b"error") if isinstance(fault, tuple) else (200, b"OK")
        httpsd.send(h, code, body, "text/plain")
