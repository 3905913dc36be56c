"""dnsstub — a DNS server on 127.0.0.1 (UDP) for the DNS tests.

It answers every query from a fixed table: a name in ADDRESSES gets its IPv4
addresses for A and an empty answer for other types; every other name gets
NXDOMAIN, as a filtering resolver or one cut off from the Internet answers.
Each query (name, type) is recorded.  Programs reach it through
build/tests/resolvstub.so (LD_PRELOAD, QN_TEST_DNS=PORT).

    srv = DNSStub({"smtp.qq.com": ["127.0.0.1"]}); srv.start(); ... srv.stop()
"""

import socket
import struct
import threading

TYPE_A = 1
RCODE_NXDOMAIN = 3


class DNSStub:
    def __init__(self, addresses=None):
        self.addresses = {k.lower().rstrip("."): v for k, v in (addresses or {}).items()}
        self.queries = []  # (name, qtype), in arrival order
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def env(self, build):
        """The environment that points a program's resolver here."""
        return {"LD_PRELOAD": build + "/tests/resolvstub.so", "QN_TEST_DNS": str(self.port)}

    def asked(self):
        with self._lock:
            return list(self.queries)

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            reply = self.answer(data)
            if reply is not None:
                self._sock.sendto(reply, peer)

    def answer(self, data):
        """The reply to one query message, or None for a malformed one."""
        if len(data) < 12:
            return None
        qid, flags, qdcount = struct.unpack("!HHH", data[:6])
        if qdcount != 1 or flags & 0x8000:
            return None
        labels, pos = [], 12
        while pos < len(data) and data[pos] != 0:
            n = data[pos]
            if n > 63 or pos + 1 + n > len(data):
                return None
            labels.append(data[pos + 1:pos + 1 + n].decode("ascii", "replace"))
            pos += 1 + n
        if pos + 5 > len(data):
            return None
        qtype, _qclass = struct.unpack("!HH", data[pos + 1:pos + 5])
        question = data[12:pos + 5]
        name = ".".join(labels).lower()
        with self._lock:
            self.queries.append((name, qtype))
        rd = flags & 0x0100
        known = name in self.addresses
        answers = b""
        count = 0
        if known and qtype == TYPE_A:
            for addr in self.addresses[name]:
                # the name as a pointer to the question, type A, class IN, TTL 60
                answers += struct.pack("!HHHIH", 0xC00C, TYPE_A, 1, 60, 4)
                answers += socket.inet_aton(addr)
                count += 1
        rcode = 0 if known else RCODE_NXDOMAIN
        header = struct.pack("!HHHHHH", qid, 0x8000 | 0x0400 | rd | 0x0080 | rcode, 1, count,
                             0, 0)
        return header + question + answers
