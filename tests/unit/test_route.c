/*
 * Unit tests for common/route.c: [route NAME] sections and the [notify]
 * route keys, read through qn_config_parse() as the programs read them
 * (exact line, key, value and msgid of every error), the platforms' default
 * limits, and what the queue manager gets from a route.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "route.h"

#define NAME     "test.conf"
#define BYTES(s) (s), (sizeof(s) - 1)

/* A file with a valid [smtp] account, so only the routes can be wrong. */
#define SMTP "[smtp]\nuser = 10001@qq.com\n[notify]\nto = ops@example.com\n"

struct fixture {
    struct qn_config cfg;
    struct qn_config_error err;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    *state = f;
    return f == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

static enum qn_status parse(struct fixture *f, const char *text)
{
    return qn_config_parse(&f->cfg, NAME, text, strlen(text), &f->err);
}

static void assert_error(struct fixture *f, const char *text, unsigned line, const char *key,
                         const char *what)
{
    assert_int_equal(parse(f, text), QN_ECONFIG);
    assert_int_equal(f->err.line, line);
    assert_string_equal(f->err.key, key);
    assert_non_null(f->err.what);
    assert_string_equal(f->err.what, what);
    assert_non_null(f->err.fix);
}

static const struct qn_route *route(const struct fixture *f, const char *name)
{
    const struct qn_route *r = qn_routes_find(&f->cfg.routes, name);

    assert_non_null(r);
    return r;
}

/* ---- defaults and a full file --------------------------------------------------------- */

static void test_without_routes_smtp_is_the_only_route(void **state)
{
    struct fixture *f = *state;
    const struct qn_routes *rs = &f->cfg.routes;

    assert_int_equal(parse(f, SMTP), QN_OK);
    assert_int_equal(rs->n, 1);
    assert_int_equal(rs->n_order, 1);
    assert_string_equal(qn_routes_first(rs)->name, "smtp");
    assert_int_equal(qn_routes_first(rs)->type, QN_ROUTE_TYPE_SMTP);
    assert_false(rs->critical_all);
    assert_int_equal(rs->n_critical, 0);
    assert_int_equal(rs->failover_after_s, 600);
    assert_true(qn_routes_use_smtp(rs));
}

static void test_each_type_gets_its_platform_defaults(void **state)
{
    struct fixture *f = *state;
    const struct qn_route *w, *d, *l;

    assert_int_equal(parse(f, SMTP "routes = smtp, wx, ding, lark\n"
                                   "[route wx]\ntype = wecom\n"
                                   "[route ding]\ntype = dingtalk\n"
                                   "[route lark]\ntype = feishu\n"),
                     QN_OK);
    w = route(f, "wx");
    assert_int_equal(w->type, QN_ROUTE_TYPE_WECOM);
    assert_string_equal(w->url, "https://qyapi.weixin.qq.com/cgi-bin/webhook/send");
    assert_int_equal(w->format, QN_ROUTE_FORMAT_MARKDOWN);
    assert_int_equal(w->timeout_s, 30);
    assert_int_equal(w->limits.max_per_second, 0);
    assert_int_equal(w->limits.max_per_minute, 20);
    assert_int_equal(w->limits.block_s, 0);
    assert_int_equal(w->line, 6);

    d = route(f, "ding");
    assert_int_equal(d->type, QN_ROUTE_TYPE_DINGTALK);
    assert_string_equal(d->url, "https://oapi.dingtalk.com/robot/send");
    assert_int_equal(d->format, QN_ROUTE_FORMAT_MARKDOWN);
    assert_int_equal(d->limits.max_per_minute, 20);
    assert_int_equal(d->limits.block_s, 600);

    l = route(f, "lark");
    assert_int_equal(l->type, QN_ROUTE_TYPE_FEISHU);
    assert_string_equal(l->url, "https://open.feishu.cn/open-apis/bot/v2/hook");
    assert_int_equal(l->format, QN_ROUTE_FORMAT_POST);
    assert_int_equal(l->limits.max_per_second, 5);
    assert_int_equal(l->limits.max_per_minute, 100);
    assert_int_equal(l->limits.max_per_hour, 0);
    assert_int_equal(l->limits.max_per_day, 0);
    assert_int_equal(f->cfg.routes.n_order, 4);
    assert_string_equal(f->cfg.routes.route[f->cfg.routes.order[3]].name, "lark");
}

static void test_every_route_key_is_read(void **state)
{
    struct fixture *f = *state;
    const struct qn_route *r;

    assert_int_equal(parse(f, SMTP "routes = ops, smtp\n"
                                   "critical_routes = ops\n"
                                   "failover_after = 0\n"
                                   "[route ops]\n"
                                   "type = DingTalk\n"
                                   "url = https://127.0.0.1:8443/robot/send\n"
                                   "format = text\n"
                                   "keyword = 告警\n"
                                   "ca_file = /etc/ssl/test-ca.pem\n"
                                   "proxy = socks5h://10.0.0.1:1080\n"
                                   "timeout = 12s\n"
                                   "max_per_second = 2\n"
                                   "max_per_minute = 10\n"
                                   "max_per_hour = 100\n"
                                   "max_per_day = 1000\n"
                                   "limit_block = 15m\n"),
                     QN_OK);
    r = route(f, "ops");
    assert_string_equal(r->url, "https://127.0.0.1:8443/robot/send");
    assert_int_equal(r->format, QN_ROUTE_FORMAT_TEXT);
    assert_string_equal(r->keyword, "告警");
    assert_string_equal(r->ca_file, "/etc/ssl/test-ca.pem");
    assert_string_equal(r->proxy, "socks5h://10.0.0.1:1080");
    assert_int_equal(r->timeout_s, 12);
    assert_int_equal(r->limits.max_per_second, 2);
    assert_int_equal(r->limits.max_per_minute, 10);
    assert_int_equal(r->limits.max_per_hour, 100);
    assert_int_equal(r->limits.max_per_day, 1000);
    assert_int_equal(r->limits.block_s, 900);
    assert_string_equal(qn_routes_first(&f->cfg.routes)->name, "ops");
    assert_int_equal(f->cfg.routes.n_critical, 1);
    assert_int_equal(f->cfg.routes.failover_after_s, 0);
}

static void test_routes_may_be_listed_before_they_are_declared(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse(f, SMTP "routes = ops\ncritical_routes = all\n"
                                   "failover_after = 30m\n"
                                   "[route ops]\ntype = wecom\n"),
                     QN_OK);
    assert_true(f->cfg.routes.critical_all);
    assert_int_equal(f->cfg.routes.failover_after_s, 1800);
    assert_string_equal(qn_routes_first(&f->cfg.routes)->name, "ops");
    /* critical_routes = all includes the smtp route, which then needs its account. */
    assert_true(qn_routes_use_smtp(&f->cfg.routes));
    assert_error(f, "[notify]\nroutes = ops\ncritical_routes = all\n[route ops]\ntype = wecom\n", 0,
                 "user", "[smtp] user is not set");
}

static void test_a_robot_alone_needs_no_smtp_account(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse(f, "[notify]\nroutes = ops\n[route ops]\ntype = feishu\n"), QN_OK);
    assert_false(qn_routes_use_smtp(&f->cfg.routes));
    assert_int_equal(qn_routes_first(&f->cfg.routes)->type, QN_ROUTE_TYPE_FEISHU);
    /* With smtp listed, the account is needed again. */
    assert_error(f, "[notify]\nroutes = ops, smtp\n[route ops]\ntype = feishu\n", 0, "user",
                 "[smtp] user is not set");
}

static void test_route_smtp_may_be_declared_with_its_type_only(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse(f, SMTP "[route smtp]\ntype = smtp\n"), QN_OK);
    assert_int_equal(f->cfg.routes.n, 1);
    assert_error(f, SMTP "[route smtp]\ntype = smtp\ntimeout = 5\n", 7, "timeout",
                 "the route smtp takes no keys but type");
    assert_error(f, SMTP "[route mail]\ntype = smtp\n", 6, "type",
                 "a second SMTP route is not supported");
    assert_error(f, SMTP "[route smtp]\ntype = wecom\n", 6, "type",
                 "the route smtp is the [smtp] section");
}

/* ---- errors ---------------------------------------------------------------------------- */

static void test_type_must_come_first_and_be_known(void **state)
{
    struct fixture *f = *state;

    assert_error(f, SMTP "[route ops]\ntimeout = 5\ntype = wecom\n", 6, "timeout",
                 "type must come first in a [route] section");
    assert_error(f, SMTP "[route ops]\ntype = slack\n", 6, "type", "unknown route type");
    assert_string_equal(f->err.value, "slack");
    /* A section without type is named on its header's line. */
    assert_error(f, SMTP "[route ops]\n# nothing\n", 5, "type", "the route has no type");
}

static void test_unknown_and_repeated_keys_are_refused(void **state)
{
    struct fixture *f = *state;

    assert_error(f, SMTP "[route ops]\ntype = wecom\nchannel = x\n", 7, "channel", "unknown key");
    assert_non_null(strstr(f->err.fix, "keys of [route NAME] are type, url, format"));
    assert_error(f, SMTP "[route ops]\ntype = wecom\ntimeout = 5\ntimeout = 6\n", 8, "timeout",
                 "the key is set twice");
    assert_error(f, SMTP "[route ops]\ntype = wecom\ntype = feishu\n", 7, "type",
                 "the key is set twice");
}

static void test_every_key_named_in_the_fix_is_accepted(void **state)
{
    struct fixture *f = *state;
    char text[512], list[512], *name, *save = NULL;
    const char *are;
    size_t checked = 0;

    assert_int_equal(parse(f, SMTP "[route ops]\ntype = wecom\nno_such_key = 1\n"), QN_ECONFIG);
    are = strstr(f->err.fix, " are ");
    assert_non_null(are);
    snprintf(list, sizeof(list), "%s", are + 5);
    for (name = strtok_r(list, ", ", &save); name != NULL; name = strtok_r(NULL, ", ", &save)) {
        if (strcmp(name, "and") == 0 || strcmp(name, "type") == 0)
            continue;
        snprintf(text, sizeof(text), SMTP "[route ops]\ntype = wecom\n%s = ?\n", name);
        if (parse(f, text) != QN_OK)
            assert_string_not_equal(f->err.what, "unknown key");
        checked++;
    }
    assert_int_equal(checked, 11);
}

static void test_bad_names_and_repeated_sections_are_refused(void **state)
{
    struct fixture *f = *state;

    assert_error(f, SMTP "[route Ops]\ntype = wecom\n", 5, "route", "the route name is not valid");
    assert_error(f, SMTP "[route 1st]\ntype = wecom\n", 5, "route", "the route name is not valid");
    assert_error(f, SMTP "[route a.b]\ntype = wecom\n", 5, "route", "the route name is not valid");
    assert_error(f, SMTP "[route ops]\ntype = wecom\n[route ops]\ntype = feishu\n", 7, "route",
                 "the route is declared twice");
    assert_error(f,
                 SMTP "[route r1]\ntype = wecom\n[route r2]\ntype = wecom\n[route r3]\ntype = "
                      "wecom\n[route r4]\ntype = wecom\n[route r5]\ntype = wecom\n[route r6]\n"
                      "type = wecom\n[route r7]\ntype = wecom\n[route r8]\ntype = wecom\n",
                 19, "route", "too many routes");
}

static void test_lists_name_declared_routes_once(void **state)
{
    struct fixture *f = *state;

    assert_error(f, SMTP "routes = smtp, opz\n[route ops]\ntype = wecom\n", 5, "routes",
                 "the list names a route that is not declared");
    assert_string_equal(f->err.value, "opz");
    assert_error(f, SMTP "critical_routes = smtp, nope\n", 5, "critical_routes",
                 "the list names a route that is not declared");
    assert_error(f, SMTP "routes = smtp, smtp\n", 5, "routes", "a route is listed twice");
    assert_error(f, SMTP "routes = smtp,, ops\n", 5, "routes",
                 "a route name in the list is not valid");
    assert_error(f, SMTP "failover_after = 2d\n", 5, "failover_after",
                 "the duration is not between 0 and 24 hours");
}

static void test_limits_are_bounded_and_consistent(void **state)
{
    struct fixture *f = *state;

    assert_error(f, SMTP "[route ops]\ntype = wecom\nmax_per_second = 101\n", 7, "max_per_second",
                 "the value is not a whole number from 0 to 100");
    assert_error(f, SMTP "[route ops]\ntype = wecom\nmax_per_day = 2001\n", 7, "max_per_day",
                 "the value is not a whole number from 0 to 2000");
    assert_error(f, SMTP "[route ops]\ntype = wecom\nmax_per_hour = 10\n", 5, "max_per_minute",
                 "the route's limits contradict each other");
    assert_error(f, SMTP "[route ops]\ntype = wecom\nlimit_block = 2d\n", 7, "limit_block",
                 "the duration is not between 0 and 24 hours");
    assert_error(f, SMTP "[route ops]\ntype = feishu\nformat = markdown\n", 7, "format",
                 "unknown format for this robot");
    assert_error(f, SMTP "[route ops]\ntype = wecom\nformat = post\n", 7, "format",
                 "unknown format for this robot");
    assert_error(f, SMTP "[route ops]\ntype = wecom\ntimeout = 601\n", 7, "timeout",
                 "the timeout is not between 1 and 600 seconds");
}

/* ---- the secret stays out of the file --------------------------------------------------- */

static void test_a_url_with_the_key_is_refused_and_not_echoed(void **state)
{
    struct fixture *f = *state;

    assert_error(f,
                 SMTP "[route ops]\ntype = wecom\n"
                      "url = https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx\n",
                 7, "url", "the url must not hold the robot's key or token");
    assert_true(f->err.secret_key);
    assert_string_equal(f->err.value, "");
    assert_error(f,
                 SMTP "[route ops]\ntype = feishu\nurl = https://open.feishu.cn/open-apis/bot/v2/"
                      "hook/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d\n",
                 7, "url", "the url must not hold the robot's key or token");
    assert_true(f->err.secret_key);
    assert_string_equal(f->err.value, "");
    /* Any other mistake in a url is not echoed either. */
    assert_error(f, SMTP "[route ops]\ntype = dingtalk\nurl = http://oapi.dingtalk.com/robot/x\n",
                 7, "url", "the url is not an https:// address");
    assert_false(f->err.secret_key);
    assert_string_equal(f->err.value, "");
}

static void test_a_proxy_with_a_password_is_refused(void **state)
{
    struct fixture *f = *state;

    assert_error(f, SMTP "[route ops]\ntype = wecom\nproxy = http://bob:hunter2@proxy:3128\n", 7,
                 "proxy", "the proxy address must not hold a password");
    assert_true(f->err.secret_key);
    assert_string_equal(f->err.value, "");
    assert_error(f, SMTP "[route ops]\ntype = wecom\nproxy = ftp://proxy:21\n", 7, "proxy",
                 "the proxy is not a proxy address");
}

static void test_secret_keys_are_refused_in_a_route_and_elsewhere(void **state)
{
    static const char *const names[] = {
        "key",  "token",     "access_token",   "webhook", "webhook_url",  "hook_id",
        "sign", "Robot-Key", "signing_secret", "secret",  "feishu_token",
    };
    struct fixture *f = *state;
    char text[256];

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(text, sizeof(text), SMTP "[route ops]\ntype = wecom\n%s = 693a91f6\n", names[i]);
        assert_int_equal(parse(f, text), QN_ECONFIG);
        assert_true(f->err.secret_key);
        assert_int_equal(f->err.line, 7);
        assert_string_equal(f->err.value, "");
        snprintf(text, sizeof(text), SMTP "%s = 693a91f6\n", names[i]);
        assert_int_equal(parse(f, text), QN_ECONFIG);
        assert_true(f->err.secret_key);
    }
    /* keyword is a word the robot wants to see, not a secret. */
    assert_int_equal(parse(f, SMTP "[route ops]\ntype = wecom\nkeyword = alert\n"), QN_OK);
}

/* ---- what the queue manager gets -------------------------------------------------------- */

static void test_ratelimit_takes_the_route_limits_and_the_file_digest(void **state)
{
    struct fixture *f = *state;
    struct qn_ratelimit_config rc;

    assert_int_equal(parse(f, SMTP "[limits]\ndigest_after = 7\ndigest_window = 5m\n"
                                   "[route ops]\ntype = dingtalk\nmax_per_hour = 300\n"),
                     QN_OK);
    qn_route_ratelimit(route(f, "ops"), &f->cfg.limits, &rc);
    assert_int_equal(rc.max_per_minute, 20);
    assert_int_equal(rc.max_per_hour, 300);
    assert_int_equal(rc.max_per_day, 0);
    assert_int_equal(rc.block_s, 600);
    assert_int_equal(rc.digest_after, 7);
    assert_int_equal(rc.digest_window_s, 300);
    /* smtp: [limits] as they are. */
    qn_route_ratelimit(route(f, "smtp"), &f->cfg.limits, &rc);
    assert_memory_equal(&rc, &f->cfg.limits, sizeof(rc));
}

static void test_each_route_has_its_own_state_file(void **state)
{
    struct fixture *f = *state;
    char name[64];

    assert_int_equal(parse(f, SMTP "[route ops-2]\ntype = feishu\n"), QN_OK);
    assert_true(qn_route_state_name(route(f, "smtp"), name, sizeof(name)));
    assert_string_equal(name, "ratelimit");
    assert_true(qn_route_state_name(route(f, "ops-2"), name, sizeof(name)));
    assert_string_equal(name, "ratelimit.ops-2");
    assert_false(qn_route_state_name(route(f, "ops-2"), name, 10));
    assert_string_equal(qn_route_type_name(QN_ROUTE_TYPE_DINGTALK), "dingtalk");
}

/* ---- a route's secret ---------------------------------------------------------------------------
 */

static void test_secret_parts_are_split_per_type(void **state)
{
    static const char wecom[] = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa";
    static const char ding[] = "0c23abcd\r\nSECfeedbeef";
    static const char lark[] = "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d";
    struct qn_route_secret s;
    const char *why;

    (void)state;
    assert_int_equal(qn_route_secret_parse(QN_ROUTE_TYPE_WECOM, BYTES(wecom), &s, &why), QN_OK);
    assert_ptr_equal(s.id, wecom);
    assert_int_equal(s.id_len, strlen(wecom));
    assert_null(s.sign);
    assert_int_equal(qn_route_secret_parse(QN_ROUTE_TYPE_DINGTALK, BYTES(ding), &s, &why), QN_OK);
    assert_int_equal(s.id_len, 8);
    assert_memory_equal(s.id, "0c23abcd", 8);
    assert_int_equal(s.sign_len, 11);
    assert_memory_equal(s.sign, "SECfeedbeef", 11);
    /* A robot that does not sign (keyword or IP security) has one line. */
    assert_int_equal(qn_route_secret_parse(QN_ROUTE_TYPE_FEISHU, BYTES(lark), &s, &why), QN_OK);
    assert_null(s.sign);
}

static void test_malformed_secrets_are_refused_without_quoting_them(void **state)
{
    static const struct {
        enum qn_route_type type;
        const char *secret;
    } bad[] = {
        {QN_ROUTE_TYPE_WECOM, ""},
        {QN_ROUTE_TYPE_WECOM, "key\nSECsecond-line"},
        {QN_ROUTE_TYPE_WECOM, "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc"},
        {QN_ROUTE_TYPE_DINGTALK, "token\nnot-a-dingtalk-secret"},
        {QN_ROUTE_TYPE_DINGTALK, "token\n"},
        {QN_ROUTE_TYPE_DINGTALK, "token\nSEC one"},
        {QN_ROUTE_TYPE_DINGTALK, "token\nSECa\nthird"},
        {QN_ROUTE_TYPE_FEISHU, "\nsecret"},
        {QN_ROUTE_TYPE_FEISHU, "hook id"},
    };
    struct qn_route_secret s;
    const char *why;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(
            qn_route_secret_parse(bad[i].type, bad[i].secret, strlen(bad[i].secret), &s, &why),
            QN_EINVAL);
        assert_non_null(why);
        assert_null(strstr(why, "SEC"
                                "a"));
        assert_null(strstr(why, "token\n"));
    }
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_without_routes_smtp_is_the_only_route),
        T(test_each_type_gets_its_platform_defaults),
        T(test_every_route_key_is_read),
        T(test_routes_may_be_listed_before_they_are_declared),
        T(test_a_robot_alone_needs_no_smtp_account),
        T(test_route_smtp_may_be_declared_with_its_type_only),
        T(test_type_must_come_first_and_be_known),
        T(test_unknown_and_repeated_keys_are_refused),
        T(test_every_key_named_in_the_fix_is_accepted),
        T(test_bad_names_and_repeated_sections_are_refused),
        T(test_lists_name_declared_routes_once),
        T(test_limits_are_bounded_and_consistent),
        T(test_a_url_with_the_key_is_refused_and_not_echoed),
        T(test_a_proxy_with_a_password_is_refused),
        T(test_secret_keys_are_refused_in_a_route_and_elsewhere),
        T(test_ratelimit_takes_the_route_limits_and_the_file_digest),
        T(test_each_route_has_its_own_state_file),
        cmocka_unit_test(test_secret_parts_are_split_per_type),
        cmocka_unit_test(test_malformed_secrets_are_refused_without_quoting_them),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
