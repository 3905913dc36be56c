/*
 * Unit tests for common/robot.c: the platforms' signatures (known answers computed apart, with
 * Python's hmac, as the comment above each vector shows), the request URLs and JSON bodies byte for
 * byte, markup escaping, cutting on a character boundary, and what each real answer of the
 * platforms means.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "robot.h"
#include "text.h"

#define BYTES(s) (s), (sizeof(s) - 1)

/* ---- signatures -------------------------------------------------------------------------- */

/* python3: base64.b64encode(hmac.new(sec, b"1700000000123\n" + sec, sha256).digest()) */
static const char ding_secret[] =
    "SEC3d2f0e8a1b9c4d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1";

static void test_dingtalk_signature_is_hmac_of_time_and_secret(void **state)
{
    char sign[QN_ROBOT_SIGN_MAX];

    (void)state;
    assert_int_equal(qn_robot_sign_dingtalk(BYTES(ding_secret), 1700000000123LL, sign), QN_OK);
    assert_string_equal(sign, "iJ+IP/rs34+yoWlPwFQbk76FQFTHi7lav0vHPpauet4=");
    /* DingTalk's own example: "this is secret" at 1599360473000. */
    assert_int_equal(qn_robot_sign_dingtalk(BYTES("this is secret"), 1599360473000LL, sign), QN_OK);
    assert_string_equal(sign, "hXZTWifRGHclNuZSKxoXc//sh51SWfVfRIhcdeKs63I=");
}

/* python3: base64.b64encode(hmac.new(b"1700000000\n" + sec, b"", sha256).digest()) */
static void test_feishu_signature_keys_hmac_with_time_and_secret(void **state)
{
    char sign[QN_ROBOT_SIGN_MAX];

    (void)state;
    assert_int_equal(qn_robot_sign_feishu(BYTES("qV3wKx9mZt2PbR7cLn4s"), 1700000000LL, sign),
                     QN_OK);
    assert_string_equal(sign, "b09CzeEwOxsDp+SQS/Y9XIo4p5ab2YAOC65PaVhJfl0=");
}

/* ---- URLs ---------------------------------------------------------------------------------- */

static void assert_url(enum qn_route_type type, const char *base, const char *secret,
                       long long now_ms, const char *want)
{
    struct qn_route_secret s;
    struct qn_secret url = {0};
    const char *why;

    assert_int_equal(qn_route_secret_parse(type, secret, strlen(secret), &s, &why), QN_OK);
    assert_int_equal(qn_robot_url(type, base, &s, now_ms, &url), QN_OK);
    assert_string_equal(url.data, want);
    qn_secret_wipe(&url);
}

static void test_urls_carry_the_secret_where_each_platform_wants_it(void **state)
{
    char ding[sizeof(ding_secret) + 16];

    (void)state;
    assert_url(QN_ROUTE_TYPE_WECOM, QN_ROUTE_WECOM_URL, "693a91f6-77", 0,
               "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-77");
    assert_url(QN_ROUTE_TYPE_DINGTALK, QN_ROUTE_DINGTALK_URL, "0c23ab", 1700000000123LL,
               "https://oapi.dingtalk.com/robot/send?access_token=0c23ab");
    snprintf(ding, sizeof(ding), "0c23ab\n%s", ding_secret);
    /* The signature URL-encoded: + / = become %2B %2F %3D. */
    assert_url(QN_ROUTE_TYPE_DINGTALK, QN_ROUTE_DINGTALK_URL, ding, 1700000000123LL,
               "https://oapi.dingtalk.com/robot/send?access_token=0c23ab&timestamp=1700000000123"
               "&sign=iJ%2BIP%2Frs34%2ByoWlPwFQbk76FQFTHi7lav0vHPpauet4%3D");
    assert_url(QN_ROUTE_TYPE_FEISHU, QN_ROUTE_FEISHU_URL, "0a1b-2c\nsecret", 0,
               "https://open.feishu.cn/open-apis/bot/v2/hook/0a1b-2c");
    assert_url(QN_ROUTE_TYPE_FEISHU, "https://127.0.0.1:8443/hook/", "h1", 0,
               "https://127.0.0.1:8443/hook/h1");
}

/* ---- escaping --------------------------------------------------------------------------- */

static void assert_escaped(enum qn_robot_markup markup, const char *in, size_t n, const char *want)
{
    struct qn_buf out;

    qn_buf_init(&out, 4096);
    assert_int_equal(qn_robot_escape(markup, in, n, &out), QN_OK);
    assert_string_equal(out.data != NULL ? out.data : "", want);
    qn_buf_free(&out);
}

static void test_markdown_markup_from_users_becomes_look_alikes(void **state)
{
    static const char hostile[] = "[点我](http://evil.example) **x** <@all> `c` #h _u_ ~s~ |t| "
                                  "&lt; \\";

    (void)state;
    assert_escaped(QN_ROBOT_MARKDOWN, BYTES(hostile),
                   "［点我］(http://evil.example) ＊＊x＊＊ ＜@all＞ ｀c｀ ＃h ＿u＿ ～s～ ｜t｜ "
                   "＆lt; ＼");
    /* Feishu text: only its <at> tags are markup. */
    assert_escaped(QN_ROBOT_AT_TAGS, BYTES("<at user_id=\"all\">all</at> **b**"),
                   "＜at user_id=\"all\"＞all＜/at＞ **b**");
    assert_escaped(QN_ROBOT_PLAIN, BYTES("[a](b) <c>"), "[a](b) <c>");
}

static void test_escape_repairs_bytes_and_blanks_controls(void **state)
{
    (void)state;
    assert_escaped(QN_ROBOT_PLAIN,
                   BYTES("a\tb\rc\x1b[31md\ne\xff"
                         "f"),
                   "a b c [31md\ne\xEF\xBF\xBD"
                   "f");
    /* U+2028 and C1 controls are line breaks or controls to some clients. */
    assert_escaped(QN_ROBOT_PLAIN, BYTES("x\xE2\x80\xA8y\xC2\x85z"), "x y z");
}

/* ---- bodies ------------------------------------------------------------------------------- */

static const struct qn_robot_message small = {
    .title = "[web1] root 登录 web1",
    .text = "root 于 14:03 从 203.0.113.9 登录\n用户: root_x\n\n",
    .keyword = NULL,
    .lang = QN_LANG_ZH,
};

static void assert_body(enum qn_route_type type, enum qn_route_format format,
                        const struct qn_robot_message *m, const char *secret, const char *want)
{
    struct qn_route_secret s = {0};
    struct qn_buf out;
    const char *why;

    if (secret != NULL)
        assert_int_equal(qn_route_secret_parse(type, secret, strlen(secret), &s, &why), QN_OK);
    qn_buf_init(&out, QN_ROBOT_BODY_MAX);
    assert_int_equal(qn_robot_body(type, format, m, &s, 1700000000LL, &out), QN_OK);
    assert_string_equal(out.data, want);
    qn_buf_free(&out);
}

static void test_wecom_bodies(void **state)
{
    (void)state;
    assert_body(QN_ROUTE_TYPE_WECOM, QN_ROUTE_FORMAT_MARKDOWN, &small, NULL,
                "{\"msgtype\":\"markdown\",\"markdown\":{\"content\":\"**［web1］ root 登录 "
                "web1**\\nroot 于 14:03 从 203.0.113.9 登录\\n用户: root＿x\"}}");
    assert_body(QN_ROUTE_TYPE_WECOM, QN_ROUTE_FORMAT_TEXT, &small, NULL,
                "{\"msgtype\":\"text\",\"text\":{\"content\":\"[web1] root 登录 web1\\nroot 于 "
                "14:03 从 203.0.113.9 登录\\n用户: root_x\"}}");
}

static void test_dingtalk_bodies(void **state)
{
    (void)state;
    assert_body(QN_ROUTE_TYPE_DINGTALK, QN_ROUTE_FORMAT_MARKDOWN, &small, NULL,
                "{\"msgtype\":\"markdown\",\"markdown\":{\"title\":\"[web1] root 登录 web1\","
                "\"text\":\"#### ［web1］ root 登录 web1\\n\\nroot 于 14:03 从 203.0.113.9 "
                "登录  \\n用户: root＿x\"}}");
    assert_body(QN_ROUTE_TYPE_DINGTALK, QN_ROUTE_FORMAT_TEXT, &small, NULL,
                "{\"msgtype\":\"text\",\"text\":{\"content\":\"[web1] root 登录 web1\\nroot 于 "
                "14:03 从 203.0.113.9 登录\\n用户: root_x\"}}");
}

static void test_feishu_bodies_are_signed_in_the_body(void **state)
{
    struct qn_robot_message en = small;

    (void)state;
    assert_body(QN_ROUTE_TYPE_FEISHU, QN_ROUTE_FORMAT_POST, &small, NULL,
                "{\"msg_type\":\"post\",\"content\":{\"post\":{\"zh_cn\":{\"title\":\"[web1] root "
                "登录 web1\",\"content\":[[{\"tag\":\"text\",\"text\":\"root 于 14:03 从 "
                "203.0.113.9 登录\"}],[{\"tag\":\"text\",\"text\":\"用户: root_x\"}]]}}}}");
    en.lang = QN_LANG_EN;
    en.text = "<at user_id=\"all\">x</at>";
    assert_body(QN_ROUTE_TYPE_FEISHU, QN_ROUTE_FORMAT_TEXT, &en, "h1\nqV3wKx9mZt2PbR7cLn4s",
                "{\"msg_type\":\"text\",\"content\":{\"text\":\"[web1] root 登录 web1\\n＜at "
                "user_id=\\\"all\\\"＞x＜/at＞\"},\"timestamp\":\"1700000000\","
                "\"sign\":\"b09CzeEwOxsDp+SQS/Y9XIo4p5ab2YAOC65PaVhJfl0=\"}");
    assert_body(QN_ROUTE_TYPE_FEISHU, QN_ROUTE_FORMAT_POST, &en, NULL,
                "{\"msg_type\":\"post\",\"content\":{\"post\":{\"en_us\":{\"title\":\"[web1] root "
                "登录 web1\",\"content\":[[{\"tag\":\"text\",\"text\":\"<at "
                "user_id=\\\"all\\\">x</at>\"}]]}}}}");
}

static void test_keyword_goes_in_front_of_the_title_once(void **state)
{
    struct qn_robot_message m = small;

    (void)state;
    m.keyword = "告警";
    assert_body(
        QN_ROUTE_TYPE_WECOM, QN_ROUTE_FORMAT_TEXT, &m, NULL,
        "{\"msgtype\":\"text\",\"text\":{\"content\":\"告警 [web1] root 登录 web1\\nroot 于 "
        "14:03 从 203.0.113.9 登录\\n用户: root_x\"}}");
    m.keyword = "root";
    assert_body(QN_ROUTE_TYPE_WECOM, QN_ROUTE_FORMAT_TEXT, &m, NULL,
                "{\"msgtype\":\"text\",\"text\":{\"content\":\"[web1] root 登录 web1\\nroot 于 "
                "14:03 从 203.0.113.9 登录\\n用户: root_x\"}}");
}

static void test_a_format_the_type_lacks_is_refused(void **state)
{
    struct qn_buf out;
    struct qn_route_secret s = {0};

    (void)state;
    qn_buf_init(&out, QN_ROBOT_BODY_MAX);
    assert_int_equal(qn_robot_body(QN_ROUTE_TYPE_WECOM, QN_ROUTE_FORMAT_POST, &small, &s, 0, &out),
                     QN_EINVAL);
    assert_int_equal(
        qn_robot_body(QN_ROUTE_TYPE_FEISHU, QN_ROUTE_FORMAT_MARKDOWN, &small, &s, 0, &out),
        QN_EINVAL);
    assert_int_equal(qn_robot_body(QN_ROUTE_TYPE_SMTP, QN_ROUTE_FORMAT_TEXT, &small, &s, 0, &out),
                     QN_EINVAL);
    qn_buf_free(&out);
}

/* ---- cutting ------------------------------------------------------------------------------ */

/* CHARS times "告" (3 bytes: a bound can fall inside one), a line end after every 40. */
static char *long_text(size_t chars)
{
    char *t = malloc(chars * 4 + 1), *p = t;

    assert_non_null(t);
    for (size_t i = 0; i < chars; i++) {
        memcpy(p, "告", 3);
        p += 3;
        if (i % 40 == 39)
            *p++ = '\n';
    }
    *p = '\0';
    return t;
}

/* The content string FIELD of the body in OUT, un-escaped just enough for the test (no
 * quotes or backslashes other than \n in it). */
static size_t content_len(const char *body, const char *field, const char *marker)
{
    const char *start = strstr(body, field), *end;
    size_t n = 0;

    assert_non_null(start);
    start += strlen(field);
    end = strstr(start, "\"}");
    assert_non_null(end);
    for (const char *p = start; p < end; p++, n++) {
        if (p[0] == '\\' && p[1] == 'n')
            p++;
    }
    /* It ends with the marker, right after a whole character. */
    assert_true((size_t)(end - start) >= strlen(marker));
    assert_memory_equal(end - strlen(marker), marker, strlen(marker));
    assert_true(qn_text_utf8_valid(start, (size_t)(end - start)));
    return n;
}

static void test_long_messages_are_cut_to_each_platform_bound(void **state)
{
    static const char zh_marker[] = "…（内容过长，已截断）";
    struct qn_robot_message m = small;
    struct qn_route_secret s = {0};
    struct qn_buf out;
    size_t n;

    (void)state;
    m.text = long_text(20000);
    qn_buf_init(&out, QN_ROBOT_BODY_MAX);

    assert_int_equal(qn_robot_body(QN_ROUTE_TYPE_WECOM, QN_ROUTE_FORMAT_MARKDOWN, &m, &s, 0, &out),
                     QN_OK);
    n = content_len(out.data, "\"content\":\"", zh_marker);
    assert_true(n <= QN_ROBOT_WECOM_MARKDOWN_MAX && n > QN_ROBOT_WECOM_MARKDOWN_MAX - 40);
    assert_int_equal(qn_robot_body(QN_ROUTE_TYPE_WECOM, QN_ROUTE_FORMAT_TEXT, &m, &s, 0, &out),
                     QN_OK);
    n = content_len(out.data, "\"content\":\"", zh_marker);
    assert_true(n <= QN_ROBOT_WECOM_TEXT_MAX && n > QN_ROBOT_WECOM_TEXT_MAX - 40);
    assert_int_equal(
        qn_robot_body(QN_ROUTE_TYPE_DINGTALK, QN_ROUTE_FORMAT_MARKDOWN, &m, &s, 0, &out), QN_OK);
    n = content_len(out.data, "\"text\":\"", zh_marker);
    assert_true(n <= QN_ROBOT_DINGTALK_MAX && n > QN_ROBOT_DINGTALK_MAX - 40);

    m.lang = QN_LANG_EN;
    assert_int_equal(qn_robot_body(QN_ROUTE_TYPE_FEISHU, QN_ROUTE_FORMAT_POST, &m, &s, 0, &out),
                     QN_OK);
    assert_true(out.len <= QN_ROBOT_FEISHU_BODY_MAX && out.len > QN_ROBOT_FEISHU_BODY_MAX - 600);
    assert_non_null(strstr(out.data, "\"text\":\"… (cut: too long)\"}]]"));
    assert_int_equal(qn_robot_body(QN_ROUTE_TYPE_FEISHU, QN_ROUTE_FORMAT_TEXT, &m, &s, 0, &out),
                     QN_OK);
    assert_true(out.len <= QN_ROBOT_FEISHU_BODY_MAX && out.len > QN_ROBOT_FEISHU_BODY_MAX - 600);
    assert_true(qn_text_utf8_valid(out.data, out.len));
    qn_buf_free(&out);
    free((char *)m.text);
}

static void test_a_message_that_fits_is_not_cut(void **state)
{
    struct qn_robot_message m = small;
    struct qn_route_secret s = {0};
    struct qn_buf out;
    char *text = long_text(600); /* 1815 bytes: under WeCom's 2048 with the title */

    (void)state;
    m.text = text;
    qn_buf_init(&out, QN_ROBOT_BODY_MAX);
    assert_int_equal(qn_robot_body(QN_ROUTE_TYPE_WECOM, QN_ROUTE_FORMAT_TEXT, &m, &s, 0, &out),
                     QN_OK);
    assert_null(strstr(out.data, "已截断"));
    qn_buf_free(&out);
    free(text);
}

/* ---- answers -------------------------------------------------------------------------------- */

struct answer_case {
    enum qn_route_type type;
    long http;
    const char *body;
    enum qn_status status;
    enum qn_stage stage;
    enum qn_verdict verdict;
    long long code;
    const char *words; /* server_text starts with */
};

/* The platforms' real answers (their documentation and what they sent in the wild). */
static const struct answer_case answers[] = {
    {QN_ROUTE_TYPE_WECOM, 200,
     "{\"errcode\":93000,\"errmsg\":\"invalid webhook url, hint: [1755605200056773468916791], "
     "from ip: 172.212.167.87, more info at https://open.work.weixin.qq.com/devtool/"
     "query?e=93000\"}",
     QN_EAUTH, QN_STAGE_HTTP, QN_VERDICT_CONFIG, 93000, "invalid webhook url, hint:"},
    {QN_ROUTE_TYPE_WECOM, 200,
     "{\"errcode\":45009,\"errmsg\":\"api freq out of limit, hint: [1773643642077182456917975]\"}",
     QN_ETEMPFAIL, QN_STAGE_HTTP, QN_VERDICT_RETRY, 45009, "api freq out of limit"},
    {QN_ROUTE_TYPE_DINGTALK, 200, "{\"errcode\":300001,\"errmsg\":\"token is not exist\"}",
     QN_EAUTH, QN_STAGE_HTTP, QN_VERDICT_CONFIG, 300001, "token is not exist"},
    {QN_ROUTE_TYPE_DINGTALK, 200,
     "{\"errcode\":310000,\"errmsg\":\"sign not match, more: "
     "[https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]\"}",
     QN_EAUTH, QN_STAGE_HTTP, QN_VERDICT_CONFIG, 310000, "sign not match"},
    {QN_ROUTE_TYPE_DINGTALK, 200,
     "{\"errcode\":310000,\"errmsg\":\"keywords not in content, more: "
     "[https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]\"}",
     QN_ECONFIG, QN_STAGE_HTTP, QN_VERDICT_CONFIG, 310000, "keywords not in content"},
    {QN_ROUTE_TYPE_DINGTALK, 200,
     "{\"errcode\":130101,\"errmsg\":\"send too fast, exceed 20 times per minute\"}", QN_ETEMPFAIL,
     QN_STAGE_HTTP, QN_VERDICT_RETRY, 130101, "send too fast"},
    {QN_ROUTE_TYPE_FEISHU, 200,
     "{\"code\":19021,\"data\":{},\"msg\":\"sign match fail or timestamp is not within one hour "
     "from current time\"}",
     QN_EAUTH, QN_STAGE_HTTP, QN_VERDICT_CONFIG, 19021, "sign match fail"},
    {QN_ROUTE_TYPE_FEISHU, 200, "{\"code\":19024,\"msg\":\"Key Words Not Found\"}", QN_ECONFIG,
     QN_STAGE_HTTP, QN_VERDICT_CONFIG, 19024, "Key Words Not Found"},
    {QN_ROUTE_TYPE_FEISHU, 200,
     "{\"code\":11232,\"data\":{},\"msg\":\"frequency limited "
     "psm[lark.oapi.app_platform_runtime]appID[1500]\"}",
     QN_ETEMPFAIL, QN_STAGE_HTTP, QN_VERDICT_RETRY, 11232, "frequency limited"},
    /* An unknown code stops nothing for good by itself: PERMANENT at the http stage. */
    {QN_ROUTE_TYPE_FEISHU, 400, "{\"code\":9499,\"msg\":\"Bad Request\",\"data\":{}}", QN_EREJECT,
     QN_STAGE_HTTP, QN_VERDICT_PERMANENT, 9499, "Bad Request"},
    /* HTTP without the platform's code. */
    {QN_ROUTE_TYPE_WECOM, 502, "<html><head><title>502 Bad Gateway</title></head></html>",
     QN_ETEMPFAIL, QN_STAGE_HTTP, QN_VERDICT_RETRY, 0, "<html><head><title>502 Bad Gateway"},
    {QN_ROUTE_TYPE_DINGTALK, 429, "", QN_ETEMPFAIL, QN_STAGE_HTTP, QN_VERDICT_RETRY, 0, ""},
    {QN_ROUTE_TYPE_WECOM, 413, "", QN_EREJECT, QN_STAGE_DATA, QN_VERDICT_PERMANENT, 0, ""},
    {QN_ROUTE_TYPE_FEISHU, 404, "404 page not found", QN_ECONFIG, QN_STAGE_HTTP, QN_VERDICT_CONFIG,
     0, "404 page not found"},
    {QN_ROUTE_TYPE_FEISHU, 302, "", QN_ECONFIG, QN_STAGE_HTTP, QN_VERDICT_CONFIG, 0, ""},
    {QN_ROUTE_TYPE_WECOM, 403, "forbidden", QN_EAUTH, QN_STAGE_HTTP, QN_VERDICT_CONFIG, 0,
     "forbidden"},
    /* 200 from something that is not the platform. */
    {QN_ROUTE_TYPE_WECOM, 200, "<html>Portal login</html>", QN_EPROTO, QN_STAGE_HTTP,
     QN_VERDICT_RETRY, 0, "<html>Portal login"},
    {QN_ROUTE_TYPE_DINGTALK, 200, "{\"ok\":true}", QN_EPROTO, QN_STAGE_HTTP, QN_VERDICT_RETRY, 0,
     ""},
    {QN_ROUTE_TYPE_DINGTALK, 200, "{\"errcode\":0,\"errmsg\":\"ok\"} trailing", QN_EPROTO,
     QN_STAGE_HTTP, QN_VERDICT_RETRY, 0, "{\"errcode\":0"},
    {QN_ROUTE_TYPE_WECOM, 200, "{\"errcode\":\"0\"}", QN_EPROTO, QN_STAGE_HTTP, QN_VERDICT_RETRY, 0,
     ""},
    {QN_ROUTE_TYPE_WECOM, 200,
     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", QN_EPROTO,
     QN_STAGE_HTTP, QN_VERDICT_RETRY, 0, "[[[["},
};

static void test_each_real_answer_gets_its_status_stage_and_verdict(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
        const struct answer_case *c = &answers[i];
        struct qn_error err;

        memset(&err, 0x5a, sizeof(err));
        assert_int_equal(qn_robot_answer(c->type, c->http, c->body, strlen(c->body), &err),
                         c->status);
        assert_int_equal(err.status, c->status);
        assert_int_equal(err.stage, c->stage);
        assert_int_equal(err.verdict, c->verdict);
        assert_int_equal(err.http_status, c->http);
        assert_true(err.api_code == c->code);
        assert_int_equal(err.smtp_code, 0);
        if (strncmp(err.server_text, c->words, strlen(c->words)) != 0)
            fail_msg("case %zu: server_text \"%s\"", i, err.server_text);
        assert_true(err.detail[0] != '\0');
    }
}

static void test_acceptances_of_each_platform(void **state)
{
    struct qn_error err;

    (void)state;
    assert_int_equal(
        qn_robot_answer(QN_ROUTE_TYPE_WECOM, 200, BYTES("{\"errcode\":0,\"errmsg\":\"ok\"}"), &err),
        QN_OK);
    assert_int_equal(qn_robot_answer(QN_ROUTE_TYPE_DINGTALK, 200,
                                     BYTES("{\"errcode\":0,\"errmsg\":\"ok\"}\n"), &err),
                     QN_OK);
    assert_int_equal(qn_robot_answer(QN_ROUTE_TYPE_FEISHU, 200,
                                     BYTES("{\"StatusCode\":0,\"StatusMessage\":\"success\","
                                           "\"code\":0,\"data\":{},\"msg\":\"success\"}"),
                                     &err),
                     QN_OK);
    assert_int_equal(qn_robot_answer(QN_ROUTE_TYPE_FEISHU, 200,
                                     BYTES("{\"StatusCode\":0,\"StatusMessage\":\"success\"}"),
                                     &err),
                     QN_OK);
    /* Code 0 with an HTTP error is not an acceptance. */
    assert_int_equal(
        qn_robot_answer(QN_ROUTE_TYPE_WECOM, 500, BYTES("{\"errcode\":0,\"errmsg\":\"ok\"}"), &err),
        QN_ETEMPFAIL);
    assert_int_equal(qn_robot_answer(QN_ROUTE_TYPE_WECOM, 200, NULL, 0, &err), QN_EPROTO);
}

#define T(fn) cmocka_unit_test(fn)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_dingtalk_signature_is_hmac_of_time_and_secret),
        T(test_feishu_signature_keys_hmac_with_time_and_secret),
        T(test_urls_carry_the_secret_where_each_platform_wants_it),
        T(test_markdown_markup_from_users_becomes_look_alikes),
        T(test_escape_repairs_bytes_and_blanks_controls),
        T(test_wecom_bodies),
        T(test_dingtalk_bodies),
        T(test_feishu_bodies_are_signed_in_the_body),
        T(test_keyword_goes_in_front_of_the_title_once),
        T(test_a_format_the_type_lacks_is_refused),
        T(test_long_messages_are_cut_to_each_platform_bound),
        T(test_a_message_that_fits_is_not_cut),
        T(test_each_real_answer_gets_its_status_stage_and_verdict),
        T(test_acceptances_of_each_platform),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
