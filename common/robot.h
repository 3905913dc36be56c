/*
 * robot — what the chat robots' platforms define, as pure functions: the
 * parts of a route's secret, the signatures, the request URL and JSON body
 * rendered from an alert, and what an answer means.  No I/O, no clock, no
 * global state: the transport (webhook.h) brings the time and the network
 * (http.h), the tests bring fixed times and answers.
 *
 * The platforms (their documentation for "custom robots" / group robots):
 *   WeCom     POST URL?key=KEY, {"msgtype":"markdown","markdown":{"content":C}}
 *             (C at most 4096 bytes) or {"msgtype":"text","text":{"content":C}}
 *             (2048 bytes); answers {"errcode":0,"errmsg":"ok"}.
 *   DingTalk  POST URL?access_token=TOKEN[&timestamp=T&sign=S],
 *             {"msgtype":"markdown","markdown":{"title":T,"text":X}} or
 *             {"msgtype":"text","text":{"content":C}}; T is the time in
 *             milliseconds and S = urlencode(base64(HMAC-SHA256(key = secret,
 *             message = T + "\n" + secret))); answers {"errcode":0,...}.
 *   Feishu    POST URL/HOOK_ID, {"timestamp":"T","sign":S,"msg_type":"text",
 *             "content":{"text":C}} or "msg_type":"post" with
 *             {"post":{"zh_cn"|"en_us":{"title":T,"content":[[{"tag":"text",
 *             "text":LINE}],...]}}}; T in seconds, S = base64(HMAC-SHA256(
 *             key = T + "\n" + secret, message = "")); the whole body at most
 *             20 KB; answers {"code":0,...} (older: {"StatusCode":0,...}).
 * Both platforms that sign accept a timestamp within an hour of theirs.
 *
 * The secret of a route (route.h, cred.h) is one line for WeCom (the robot
 * key) and one or two lines for DingTalk (the access token, then the
 * signing secret "SEC…" when the robot signs) and Feishu (the hook id, then
 * the signing secret when it signs).  It is never copied out of its
 * struct qn_secret except into another one (the URL, the string to sign):
 * struct qn_route_secret only points into it.
 *
 * Rendering.  A message is a title (the alert's subject, with the route's
 * keyword in front when the title lacks it) and lines of text.  User text
 * (names, journal lines, subjects) cannot become markup: in markdown every
 * character that means something (\ * _ ` ~ # [ ] < > | &) is replaced by
 * its full-width look-alike (U+FF3C, U+FF0A, ...), which no renderer reads
 * as markup and every reader recognises; Feishu text has only its <at>
 * tags, so < and > are replaced there; text messages and Feishu posts
 * (structured JSON) are literal.  Look-alikes rather than backslashes:
 * the platforms document no escape character for their markdown, and a
 * backslash that one of them does not honour would let "<@all>" or
 * "[text](url)" through.  Content over the platform's bound is cut on a
 * UTF-8 character boundary and ends with a marker in the configured
 * language ("…（内容过长，已截断）" / "… (cut: too long)").
 *
 * JSON is built and read with json-c (bounded: the body, the answer at
 * QN_ROBOT_ANSWER_MAX, nesting at QN_ROBOT_JSON_DEPTH).
 *
 * Errors: QN_EINVAL (bad arguments, a malformed secret), QN_ETOOBIG,
 * QN_ENOMEM; qn_robot_answer() fills struct qn_error as described there.
 * Thread-safe.
 */
#ifndef QN_ROBOT_H
#define QN_ROBOT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "diag.h"
#include "route.h"
#include "secret.h"
#include "status.h"

#define QN_ROBOT_WECOM_MARKDOWN_MAX 4096  /* bytes of a WeCom markdown content */
#define QN_ROBOT_WECOM_TEXT_MAX     2048  /* bytes of a WeCom text content */
#define QN_ROBOT_DINGTALK_MAX       20000 /* bytes of a DingTalk text or markdown text (ours) */
#define QN_ROBOT_DINGTALK_TITLE_MAX 256   /* bytes of a DingTalk markdown title (ours) */
#define QN_ROBOT_FEISHU_BODY_MAX    (20 * 1024) /* bytes of a whole Feishu request body */
#define QN_ROBOT_BODY_MAX           (64 * 1024) /* bytes of any request body */
#define QN_ROBOT_ANSWER_MAX         (64 * 1024) /* bytes of an answer read */
#define QN_ROBOT_JSON_DEPTH         16          /* nesting of an answer parsed */
#define QN_ROBOT_SIGN_MAX           64 /* bytes of a signature (base64 of 32 bytes) + NUL */
#define QN_ROBOT_URL_MAX            (QN_ROUTE_URL_MAX + QN_ROUTE_SECRET_PART_MAX + 256)

/* DingTalk's signature of TS_MS (milliseconds) with SECRET (LEN bytes):
 * base64, not URL-encoded, into OUT (QN_ROBOT_SIGN_MAX bytes).  QN_OK,
 * QN_ENOMEM. */
enum qn_status qn_robot_sign_dingtalk(const char *secret, size_t len, long long ts_ms,
                                      char out[QN_ROBOT_SIGN_MAX]);

/* Feishu's signature of TS_S (seconds) with SECRET: base64 into OUT. */
enum qn_status qn_robot_sign_feishu(const char *secret, size_t len, long long ts_s,
                                    char out[QN_ROBOT_SIGN_MAX]);

/*
 * The request URL for a TYPE route at BASE (route.h url) into *RET, a
 * secret set up here (it holds the key or token; pass it not set up, and
 * wipe it).  WeCom BASE?key=ID; DingTalk BASE?access_token=ID, and when
 * the robot signs &timestamp=NOW_MS&sign=S URL-encoded; Feishu BASE/ID.
 * QN_EINVAL, QN_ETOOBIG, QN_ENOMEM.
 */
enum qn_status qn_robot_url(enum qn_route_type type, const char *base,
                            const struct qn_route_secret *s, long long now_ms,
                            struct qn_secret *ret);

/* What a message says. */
struct qn_robot_message {
    const char *title;   /* one line: the alert's subject */
    const char *text;    /* lines ending in '\n': the alert's text */
    const char *keyword; /* the route's keyword, or NULL/"" */
    enum qn_lang lang;   /* of the cut marker and a Feishu post (AUTO: Chinese) */
};

/*
 * The JSON request body of a TYPE route in FORMAT for M into OUT (reset
 * first; its max bounds it: QN_ROBOT_BODY_MAX is enough).  A Feishu route
 * whose secret S signs gets "timestamp" NOW_S and "sign".
 * QN_EINVAL (a format the type does not have), QN_ETOOBIG, QN_ENOMEM.
 */
enum qn_status qn_robot_body(enum qn_route_type type, enum qn_route_format format,
                             const struct qn_robot_message *m, const struct qn_route_secret *s,
                             long long now_s, struct qn_buf *out);

/* The markup an escape is for. */
enum qn_robot_markup {
    QN_ROBOT_PLAIN = 0, /* nothing is markup (text messages, Feishu posts) */
    QN_ROBOT_MARKDOWN,  /* WeCom and DingTalk markdown */
    QN_ROBOT_AT_TAGS,   /* Feishu text: <at> tags */
};

/* Append the N bytes at S to OUT for MARKUP (see above): invalid UTF-8 is
 * repaired, control characters but '\n' become blanks.  QN_ETOOBIG, QN_ENOMEM
 * (OUT is then as it was). */
enum qn_status qn_robot_escape(enum qn_robot_markup markup, const char *s, size_t n,
                               struct qn_buf *out);

/*
 * Judge the answer of a TYPE platform: HTTP_STATUS and BODY (LEN bytes, any
 * bytes; NULL when LEN is 0).  QN_OK when it accepted the message (2xx and
 * its code 0).  Otherwise ERR (cleared first) gets http_status, api_code,
 * the platform's words in server_text (sanitised), a detail, and:
 *   QN_EAUTH    (CONFIG)  the key, token, hook, signature, time or address
 *                         was refused (WeCom 93000; DingTalk 300001 and
 *                         310000 but for keywords; Feishu 19001, 19021,
 *                         19022), HTTP 401, 403;
 *   QN_ECONFIG  (CONFIG)  the robot wants a keyword (DingTalk 310000
 *                         "keywords", Feishu 19024), a redirect, another 4xx;
 *   QN_ETEMPFAIL (RETRY)  a frequency answer (WeCom 45009, DingTalk 130101,
 *                         Feishu 11232, HTTP 429), HTTP 5xx;
 *   QN_EREJECT  (PERMANENT) a code not known here; at QN_STAGE_DATA, HTTP
 *                         413 (this message only);
 *   QN_EPROTO   (RETRY)   2xx without the platform's JSON or code.
 * The stage is QN_STAGE_HTTP but for 413.  Returns the status.
 */
enum qn_status qn_robot_answer(enum qn_route_type type, long http_status, const char *body,
                               size_t len, struct qn_error *err);

#endif
