/*
 * Unit tests for common/severity.c: the class of each kind of event, the
 * defaults (root login and sudo critical, logins warning, notes info), a
 * journal rule's own severity believed only from a trusted producer, and
 * the names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "severity.h"

static struct qn_event ev(const char *kind, const char *service, const char *user)
{
    struct qn_event e;

    qn_event_init(&e, kind);
    if (service != NULL)
        assert_int_equal(qn_event_set(&e, "service", service), QN_OK);
    if (user != NULL)
        assert_int_equal(qn_event_set(&e, "user", user), QN_OK);
    return e;
}

static void test_defaults_by_class(void **state)
{
    struct qn_severity_config c;
    struct {
        struct qn_event e;
        enum qn_severity_class cls;
        enum qn_severity sev;
    } cases[] = {
        {ev("login", "sshd", "root"), QN_SEVCLASS_ROOT_LOGIN, QN_SEVERITY_CRITICAL},
        {ev("login", "su", "root"), QN_SEVCLASS_ROOT_LOGIN, QN_SEVERITY_CRITICAL},
        {ev("login", "sudo", "postgres"), QN_SEVCLASS_SUDO, QN_SEVERITY_CRITICAL},
        {ev("login", "sudo-i", "deploy"), QN_SEVCLASS_SUDO, QN_SEVERITY_CRITICAL},
        {ev("login", "sshd", "deploy"), QN_SEVCLASS_LOGIN, QN_SEVERITY_WARNING},
        {ev("login", "su", "deploy"), QN_SEVCLASS_LOGIN, QN_SEVERITY_WARNING},
        {ev("logout", "sshd", "root"), QN_SEVCLASS_LOGOUT, QN_SEVERITY_INFO},
        {ev("authfail", "sshd", "root"), QN_SEVCLASS_AUTHFAIL, QN_SEVERITY_WARNING},
        {ev("journal", NULL, NULL), QN_SEVCLASS_JOURNAL, QN_SEVERITY_WARNING},
        {ev("notify", NULL, NULL), QN_SEVCLASS_NOTIFY, QN_SEVERITY_INFO},
        {ev("backup", NULL, NULL), QN_SEVCLASS_OTHER, QN_SEVERITY_WARNING},
    };

    (void)state;
    qn_severity_defaults(&c);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(qn_severity_class_of(&cases[i].e), cases[i].cls);
        assert_int_equal(qn_severity_of(&c, &cases[i].e, true), cases[i].sev);
    }
}

static void test_a_rules_severity_counts_only_from_a_trusted_producer(void **state)
{
    struct qn_severity_config c;
    struct qn_event j = ev("journal", NULL, NULL), n = ev("notify", NULL, NULL);

    (void)state;
    qn_severity_defaults(&c);
    assert_int_equal(qn_event_set(&j, "severity", "critical"), QN_OK);
    assert_int_equal(qn_severity_of(&c, &j, true), QN_SEVERITY_CRITICAL);
    assert_int_equal(qn_severity_of(&c, &j, false), QN_SEVERITY_WARNING);
    assert_int_equal(qn_event_set(&j, "severity", "urgent!!"), QN_OK);
    assert_int_equal(qn_severity_of(&c, &j, true), QN_SEVERITY_WARNING);
    /* other kinds never take it from the event */
    assert_int_equal(qn_event_set(&n, "severity", "critical"), QN_OK);
    assert_int_equal(qn_severity_of(&c, &n, true), QN_SEVERITY_INFO);
}

static void test_configured_levels_win_and_names_round_trip(void **state)
{
    struct qn_severity_config c;
    struct qn_event e = ev("login", "sshd", "deploy");
    enum qn_severity_class k;
    enum qn_severity s;

    (void)state;
    qn_severity_defaults(&c);
    assert_true(qn_severity_class_parse("login", &k));
    assert_int_equal(k, QN_SEVCLASS_LOGIN);
    c.of[k] = QN_SEVERITY_INFO;
    assert_int_equal(qn_severity_of(&c, &e, true), QN_SEVERITY_INFO);
    assert_false(qn_severity_class_parse("logins", &k));
    for (int l = QN_SEVERITY_INFO; l <= QN_SEVERITY_CRITICAL; l++) {
        assert_true(qn_severity_parse(qn_severity_name((enum qn_severity)l), &s));
        assert_int_equal(s, l);
    }
    assert_true(qn_severity_parse("CRITICAL", &s));
    assert_false(qn_severity_parse("high", &s));
    assert_false(qn_severity_parse(NULL, &s));
    assert_string_equal(qn_severity_name((enum qn_severity)9), "warning");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_by_class),
        cmocka_unit_test(test_a_rules_severity_counts_only_from_a_trusted_producer),
        cmocka_unit_test(test_configured_levels_win_and_names_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
