/*
 * Unit tests for common/diag_robot.c: every answer of the platforms and
 * every failure of the robots' transport gets its diagnosis, through
 * qn_diag_lookup() as the queue manager and the programs ask; the catalog's
 * entries are complete and unique across both parts, and exactly the
 * frequency answers are rate_limited.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "diag.h"
#include "diag_robot.h"
#include "robot.h"

/* The diagnosis of the answer HTTP + BODY of a TYPE platform. */
static const char *answer_id(enum qn_route_type type, long http, const char *body)
{
    struct qn_error err;
    const struct qn_diagnosis *d;

    assert_int_not_equal(qn_robot_answer(type, http, body, strlen(body), &err), QN_OK);
    d = qn_diag_lookup(qn_route_type_name(type), &err);
    assert_non_null(d);
    return d->id;
}

static void test_each_platform_code_has_its_diagnosis(void **state)
{
    static const struct {
        enum qn_route_type type;
        long http;
        const char *body;
        const char *id;
    } cases[] = {
        {QN_ROUTE_TYPE_WECOM, 200, "{\"errcode\":93000,\"errmsg\":\"invalid webhook url\"}",
         "wecom-invalid-key"},
        {QN_ROUTE_TYPE_WECOM, 200, "{\"errcode\":45009,\"errmsg\":\"api freq out of limit\"}",
         "wecom-rate-limited"},
        {QN_ROUTE_TYPE_DINGTALK, 200, "{\"errcode\":300001,\"errmsg\":\"token is not exist\"}",
         "dingtalk-invalid-token"},
        {QN_ROUTE_TYPE_DINGTALK, 200, "{\"errcode\":310000,\"errmsg\":\"sign not match\"}",
         "dingtalk-sign-mismatch"},
        {QN_ROUTE_TYPE_DINGTALK, 200,
         "{\"errcode\":310000,\"errmsg\":\"description:机器人发送签名不匹配;solution:请确认签名和生"
         "成签名的时间戳必须都放在调用的网址中\"}",
         "dingtalk-sign-mismatch"},
        {QN_ROUTE_TYPE_DINGTALK, 200, "{\"errcode\":310000,\"errmsg\":\"invalid timestamp\"}",
         "dingtalk-timestamp"},
        {QN_ROUTE_TYPE_DINGTALK, 200,
         "{\"errcode\":310000,\"errmsg\":\"keywords not in content, more: [https://ding-doc."
         "dingtalk.com/doc#/serverapi2/qf2nxq]\"}",
         "dingtalk-keyword-missing"},
        {QN_ROUTE_TYPE_DINGTALK, 200,
         "{\"errcode\":310000,\"errmsg\":\"ip 203.0.113.7 not in whitelist\"}",
         "dingtalk-ip-not-allowed"},
        {QN_ROUTE_TYPE_DINGTALK, 200, "{\"errcode\":310000,\"errmsg\":\"robot security\"}",
         "dingtalk-security-refused"},
        {QN_ROUTE_TYPE_DINGTALK, 200,
         "{\"errcode\":130101,\"errmsg\":\"send too fast, exceed 20 times per minute\"}",
         "dingtalk-too-fast"},
        {QN_ROUTE_TYPE_FEISHU, 200,
         "{\"code\":19001,\"data\":{},\"msg\":\"param invalid: incoming webhook access token "
         "invalid\"}",
         "feishu-invalid-hook"},
        {QN_ROUTE_TYPE_FEISHU, 200,
         "{\"code\":19021,\"data\":{},\"msg\":\"sign match fail or timestamp is not within one "
         "hour from current time\"}",
         "feishu-sign-mismatch"},
        {QN_ROUTE_TYPE_FEISHU, 200, "{\"code\":19022,\"msg\":\"Ip Not Allowed\"}",
         "feishu-ip-not-allowed"},
        {QN_ROUTE_TYPE_FEISHU, 200, "{\"code\":19024,\"msg\":\"Key Words Not Found\"}",
         "feishu-keyword-missing"},
        {QN_ROUTE_TYPE_FEISHU, 200, "{\"code\":11232,\"data\":{},\"msg\":\"frequency limited\"}",
         "feishu-rate-limited"},
        {QN_ROUTE_TYPE_FEISHU, 200, "{\"code\":93000,\"msg\":\"?\"}", "robot-refused"},
        {QN_ROUTE_TYPE_WECOM, 200, "{\"errcode\":40008,\"errmsg\":\"invalid message type\"}",
         "robot-refused"},
        {QN_ROUTE_TYPE_WECOM, 429, "", "robot-too-many-requests"},
        {QN_ROUTE_TYPE_WECOM, 503, "Service Unavailable", "robot-server-error"},
        {QN_ROUTE_TYPE_DINGTALK, 413, "", "robot-message-too-large"},
        {QN_ROUTE_TYPE_DINGTALK, 301, "", "robot-redirected"},
        {QN_ROUTE_TYPE_FEISHU, 403, "", "robot-denied"},
        {QN_ROUTE_TYPE_FEISHU, 404, "404 page not found", "robot-bad-request"},
        {QN_ROUTE_TYPE_FEISHU, 200, "<html>captive portal</html>", "robot-answer-invalid"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *id = answer_id(cases[i].type, cases[i].http, cases[i].body);
        if (strcmp(id, cases[i].id) != 0)
            fail_msg("case %zu: %s, want %s", i, id, cases[i].id);
    }
}

/* A failure of the way there, as http.c and cred.c report it. */
static const char *failure_id(const char *provider, enum qn_status status, enum qn_stage stage,
                              int sys_errno, const char *detail)
{
    struct qn_error err;

    qn_error_clear(&err);
    qn_error_set_errno(&err, status, stage, sys_errno, "%s", detail);
    return qn_diag_lookup(provider, &err)->id;
}

static void test_the_way_there_has_robot_diagnoses(void **state)
{
    (void)state;
    assert_string_equal(failure_id("wecom", QN_ERESOLVE, QN_STAGE_RESOLVE, 0,
                                   "Could not resolve host: qyapi.weixin.qq.com"),
                        "robot-dns");
    assert_string_equal(failure_id("dingtalk", QN_ECONNECT, QN_STAGE_CONNECT, ECONNREFUSED,
                                   "Failed to connect to oapi.dingtalk.com port 443"),
                        "robot-connect");
    assert_string_equal(failure_id("feishu", QN_ETIMEOUT, QN_STAGE_CONNECT, 0, "timed out"),
                        "robot-connect");
    assert_string_equal(failure_id("wecom", QN_ETLS, QN_STAGE_TLS, 0,
                                   "SSL certificate problem: unable to get local issuer "
                                   "certificate"),
                        "robot-tls");
    assert_string_equal(failure_id("wecom", QN_ETLS, QN_STAGE_TLS, ECONNRESET,
                                   "Recv failure: Connection reset by peer"),
                        "robot-connection-lost");
    /* An expired certificate reads the same for any server: the general entry. */
    assert_string_equal(failure_id("wecom", QN_ETLS, QN_STAGE_TLS, 0,
                                   "SSL certificate problem: certificate has expired"),
                        "tls-cert-expired");
    assert_string_equal(failure_id("feishu", QN_ETIMEOUT, QN_STAGE_HTTP, 0,
                                   "Operation timed out after 5000 milliseconds"),
                        "robot-timeout");
    assert_string_equal(failure_id("feishu", QN_EEOF, QN_STAGE_HTTP, 0, "Empty reply from server"),
                        "robot-connection-lost");
    assert_string_equal(
        failure_id("dingtalk", QN_ECRED, QN_STAGE_CREDENTIAL, 0, "no secret source for route ops"),
        "robot-secret-missing");
    assert_string_equal(failure_id("wecom", QN_ECONFIG, QN_STAGE_CONFIG, 0, "x"), "config-error");
    /* The same failure from the mail route keeps the mail diagnoses. */
    assert_string_equal(failure_id("qq", QN_ETIMEOUT, QN_STAGE_CONNECT, 0, "timed out"),
                        "connect-timeout");
    assert_null(qn_diag_robot_lookup("qq", &(struct qn_error){.status = QN_EAUTH}));
    assert_null(qn_diag_robot_lookup("wecom", &(struct qn_error){.status = QN_OK}));
}

static void test_both_parts_have_complete_unique_entries(void **state)
{
    const struct qn_diagnosis *mail, *robot;
    size_t n_mail, n_robot;

    (void)state;
    mail = qn_diag_catalog(&n_mail);
    robot = qn_diag_robot_catalog(&n_robot);
    assert_true(n_robot >= 25);
    for (size_t i = 0; i < n_robot; i++) {
        const struct qn_diagnosis *d = &robot[i];

        assert_true(d->id != NULL && d->id[0] != '\0');
        assert_true(d->when != NULL && d->when[0] != '\0');
        assert_true(d->cause != NULL && d->cause[0] != '\0');
        assert_true(d->fix != NULL && d->fix[0] != '\0');
        for (const char *p = d->id; *p != '\0'; p++)
            assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-');
        for (size_t j = i + 1; j < n_robot; j++)
            assert_string_not_equal(d->id, robot[j].id);
        for (size_t j = 0; j < n_mail; j++)
            assert_string_not_equal(d->id, mail[j].id);
        assert_ptr_equal(qn_diag_find(d->id), d);
    }
    assert_ptr_equal(qn_diag_find("qq-auth-code"), &mail[0]);
    assert_null(qn_diag_find("no-such-diagnosis"));
}

static void test_only_frequency_answers_slow_a_route_down(void **state)
{
    static const char *const rate[] = {"wecom-rate-limited", "dingtalk-too-fast",
                                       "feishu-rate-limited", "robot-too-many-requests"};
    const struct qn_diagnosis *robot;
    size_t n, found = 0;

    (void)state;
    robot = qn_diag_robot_catalog(&n);
    for (size_t i = 0; i < n; i++) {
        bool want = false;

        for (size_t j = 0; j < sizeof(rate) / sizeof(rate[0]); j++)
            want = want || strcmp(robot[i].id, rate[j]) == 0;
        if (robot[i].rate_limited != want)
            fail_msg("%s: rate_limited is %d", robot[i].id, (int)robot[i].rate_limited);
        found += want;
    }
    assert_int_equal(found, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_platform_code_has_its_diagnosis),
        cmocka_unit_test(test_the_way_there_has_robot_diagnoses),
        cmocka_unit_test(test_both_parts_have_complete_unique_entries),
        cmocka_unit_test(test_only_frequency_answers_slow_a_route_down),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
