#!/usr/bin/python3
"""robotsim — a local HTTPS stand-in for the chat robots of WeCom, DingTalk
and Feishu, for the integration tests.

One platform per server, on 127.0.0.1 with a certificate of the test CA
(tlsca.py), in a background thread.  It checks each request the way the
platform does and answers with the platform's own bodies:

    wecom     POST /cgi-bin/webhook/send?key=KEY
              wrong key: {"errcode":93000,"errmsg":"invalid webhook url, hint: ..."}
              over 20 a minute: {"errcode":45009,"errmsg":"api freq out of limit, ..."}
    dingtalk  POST /robot/send?access_token=TOKEN[&timestamp=MS&sign=S]
              wrong token: 300001 "token is not exist"
              signing on: timestamp within an hour, else 310000 "invalid timestamp";
                sign = base64(HMAC-SHA256(secret, "MS\\nsecret")), else 310000 "sign not match"
              keyword on: 310000 "keywords not in content"; IP list: 310000 "ip X not in whitelist"
              over 20 a minute: 130101 "send too fast, exceed 20 times per minute", and
                every request is refused so for the next 10 minutes
    feishu    POST /open-apis/bot/v2/hook/HOOK_ID, signed in the body
              wrong hook: 19001 "param invalid: incoming webhook access token invalid"
              signing on: "timestamp" (seconds) within an hour and sign =
                base64(HMAC-SHA256(key = "TS\\nsecret", message = "")), else 19021
              keyword: 19024 "Key Words Not Found"; IP list: 19022 "Ip Not Allowed"
              over 100 a minute or 5 a second: 11232 "frequency limited ..."

The signatures are computed here with Python's hmac, apart from the C code.
`clock_offset` (seconds) moves the platform's clock, to provoke the time
checks.  `script` lists, per request in arrival order, a fault to play
instead of the normal check: "5xx" (HTTP 502 with an HTML page), "noanswer"
(the request is read and never answered until the server stops), ("slow", S)
(answer normally after S seconds), "echo" (an error whose text quotes the
key, as a careless platform might), "echo-parts" (one that quotes most of
the key, plain and URL-encoded, and a slice of the signing secret in
base64), ("body", HTTP, BYTES) (exactly that).

Every request is recorded in .requests (dict: path, query, headers, body,
json, time, accepted, answer) for the tests to check byte for byte.
"""

import base64
import hashlib
import hmac
import json
import time
import urllib.parse

import httpsd

PLATFORMS = ("wecom", "dingtalk", "feishu")

OK = {
    "wecom": b'{"errcode":0,"errmsg":"ok"}',
    "dingtalk": b'{"errcode":0,"errmsg":"ok"}',
    "feishu": (b'{"StatusCode":0,"StatusMessage":"success","code":0,"data":{},'
               b'"msg":"success"}'),
}

DING_MORE = "more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"


def dingtalk_sign(secret, ts_ms):
    mac = hmac.new(secret.encode(), ("%d\n%s" % (ts_ms, secret)).encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def feishu_sign(secret, ts_s):
    mac = hmac.new(("%d\n%s" % (ts_s, secret)).encode(), b"", hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def message_text(platform, body):
    """Everything of the message a keyword check reads."""
    if platform == "feishu":
        content = body.get("content", {})
        if "text" in content:
            return content["text"]
        out = []
        for lang in content.get("post", {}).values():
            out.append(lang.get("title", ""))
            for para in lang.get("content", []):
                out += [e.get("text", "") for e in para]
        return "\n".join(out)
    kind = body.get("msgtype", "")
    part = body.get(kind, {})
    return (part.get("title", "") + "\n" + part.get("text", "") + part.get("content", ""))


class RobotSim(httpsd.Simulator):
    def __init__(self, platform, cert, key, secret_id, sign_secret=None, keyword=None,
                 allowed_ips=None, clock_offset=0, script=None):
        assert platform in PLATFORMS
        self.platform = platform
        super().__init__(cert, key, script)
        self.secret_id = secret_id
        self.sign_secret = sign_secret
        self.keyword = keyword
        self.allowed_ips = allowed_ips
        self.clock_offset = clock_offset
        self.blocked_until = 0.0

    def _on_get(self, h):
        httpsd.send(h, 405, b"method not allowed", "application/json")

    def _on_post(self, h):
        self._handle(h)

    @property
    def url(self):
        path = {"wecom": "/cgi-bin/webhook/send", "dingtalk": "/robot/send",
                "feishu": "/open-apis/bot/v2/hook"}[self.platform]
        return "https://127.0.0.1:%d%s" % (self.port, path)

    def accepted(self):
        with self.lock:
            return [r for r in self.requests if r["accepted"]]

    # -- one request -----------------------------------------------------------
    def _handle(self, h):
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if 0 < length <= 1 << 20 else b""
        url = urllib.parse.urlsplit(h.path)
        rec = {"path": url.path, "query": urllib.parse.parse_qs(url.query),
               "raw_query": url.query, "headers": dict(h.headers.items()), "body": raw,
               "json": None, "time": time.time(), "accepted": False, "answer": None,
               "client": h.client_address[0]}
        try:
            rec["json"] = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            pass
        fault = self.record(rec)
        if fault == "noanswer":
            return
        if isinstance(fault, tuple) and fault[0] == "slow":
            time.sleep(fault[1])
            fault = None
        if fault == "5xx":
            page = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
            rec["answer"] = (502, page)
            httpsd.send(h, 502, page, "text/html")
            return
        if isinstance(fault, tuple) and fault[0] == "body":
            rec["answer"] = (fault[1], fault[2])
            httpsd.send(h, fault[1], fault[2], "application/json")
            return
        if fault == "echo":
            answer = self._error(rec, 93000 if self.platform == "wecom" else 300001
                                 if self.platform == "dingtalk" else 19001,
                                 "invalid key %s given" % self.secret_id)
        elif fault == "echo-parts":
            # What a careless endpoint might say: most of the key, URL-encoded, and a slice of
            # the signing secret in base64.
            sign = self.sign_secret or ""
            answer = self._error(rec, 93000 if self.platform == "wecom" else 300001
                                 if self.platform == "dingtalk" else 19001,
                                 "bad key %s (url %s), secret %s" % (
                                     self.secret_id[:-4],
                                     urllib.parse.quote(self.secret_id[2:], safe=""),
                                     base64.b64encode(sign[1:-1].encode()).decode()))
        else:
            answer = getattr(self, "_" + self.platform)(rec)
        if answer is None:
            rec["accepted"] = True
            answer = OK[self.platform]
        rec["answer"] = (200, answer)
        httpsd.send(h, 200, answer, "application/json")

    def _error(self, rec, code, msg):
        if self.platform == "feishu":
            return json.dumps({"code": code, "data": {}, "msg": msg}).encode()
        return json.dumps({"errcode": code, "errmsg": msg}).encode()

    def _now(self):
        return time.time() + self.clock_offset

    def _recent(self, seconds):
        """Accepted requests within the last SECONDS (the lock is held by nobody)."""
        now = time.time()
        with self.lock:
            return sum(1 for r in self.requests if r["accepted"] and now - r["time"] < seconds)

    def _keyword_and_ip(self, rec, keyword_error, ip_error):
        if self.keyword is not None and (rec["json"] is None or self.keyword
                                         not in message_text(self.platform, rec["json"])):
            return keyword_error
        if self.allowed_ips is not None and rec["client"] not in self.allowed_ips:
            return ip_error
        return None

    def _wecom(self, rec):
        key = rec["query"].get("key", [""])[0]
        if rec["path"] != "/cgi-bin/webhook/send" or key != self.secret_id:
            return self._error(rec, 93000,
                               "invalid webhook url, hint: [1755605200056773468916791], from "
                               "ip: %s, more info at https://open.work.weixin.qq.com/devtool/"
                               "query?e=93000" % rec["client"])
        if rec["json"] is None or rec["json"].get("msgtype") not in ("markdown", "text"):
            return self._error(rec, 40008, "invalid message type")
        if self._recent(60) >= 20:
            return self._error(rec, 45009, "api freq out of limit, hint: "
                               "[1773643642077182456917975], from ip: %s" % rec["client"])
        return None

    def _dingtalk(self, rec):
        q = rec["query"]
        if rec["path"] != "/robot/send" or q.get("access_token", [""])[0] != self.secret_id:
            return self._error(rec, 300001, "token is not exist")
        if time.time() < self.blocked_until:
            return self._error(rec, 130101, "send too fast, exceed 20 times per minute")
        if self.sign_secret is not None:
            try:
                ts = int(q.get("timestamp", [""])[0])
            except ValueError:
                return self._error(rec, 310000, "invalid timestamp, " + DING_MORE)
            if abs(self._now() * 1000 - ts) > 3600 * 1000:
                return self._error(rec, 310000, "invalid timestamp, " + DING_MORE)
            if q.get("sign", [""])[0] != dingtalk_sign(self.sign_secret, ts):
                return self._error(rec, 310000, "sign not match, " + DING_MORE)
        err = self._keyword_and_ip(
            rec, self._error(rec, 310000, "keywords not in content, " + DING_MORE),
            self._error(rec, 310000, "ip %s not in whitelist, %s" % (rec["client"], DING_MORE)))
        if err is not None:
            return err
        if self._recent(60) >= 20:
            self.blocked_until = time.time() + 600
            return self._error(rec, 130101, "send too fast, exceed 20 times per minute")
        return None

    def _feishu(self, rec):
        hook = rec["path"].rsplit("/", 1)[-1]
        if not rec["path"].startswith("/open-apis/bot/v2/hook/") or hook != self.secret_id:
            return self._error(rec, 19001, "param invalid: incoming webhook access token invalid")
        body = rec["json"] or {}
        if self.sign_secret is not None:
            try:
                ts = int(body.get("timestamp", ""))
            except ValueError:
                ts = 0
            if abs(self._now() - ts) > 3600 or body.get("sign") != feishu_sign(self.sign_secret,
                                                                                ts):
                return self._error(rec, 19021, "sign match fail or timestamp is not within one "
                                   "hour from current time")
        err = self._keyword_and_ip(rec, self._error(rec, 19024, "Key Words Not Found"),
                                   self._error(rec, 19022, "Ip Not Allowed"))
        if err is not None:
            return err
        if self._recent(1) >= 5 or self._recent(60) >= 100:
            return self._error(rec, 11232, "frequency limited psm[lark.oapi.app_platform_"
                               "runtime]appID[1500]")
        return None
