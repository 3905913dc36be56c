/*
 * Unit tests for common/noise.c through qn_config_parse: the defaults of
 * [login], [quiet], [severity] and [enrich], every key set, and each bad
 * value, unknown key and repeated key refused with its line and fix.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

#define BASE "[smtp]\nprovider = qq\nuser = 123456@qq.com\n[notify]\nto = a@example.com\n"

struct fixture {
    struct qn_config cfg;
    struct qn_config_error err;
};

static int setup(void **state)
{
    *state = calloc(1, sizeof(struct fixture));
    return *state == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

static enum qn_status parse(struct fixture *f, const char *tail)
{
    char text[4096];

    snprintf(text, sizeof(text), "%s%s", BASE, tail);
    return qn_config_parse(&f->cfg, "t.conf", text, strlen(text), &f->err);
}

static void test_defaults(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse(f, ""), QN_OK);
    assert_int_equal(f->cfg.noise.login_notify, QN_LOGIN_NOTIFY_ALWAYS);
    assert_int_equal(f->cfg.noise.remember_s, 90 * 86400);
    assert_false(f->cfg.noise.quiet.set);
    assert_true(f->cfg.noise.rdns);
    assert_int_equal(f->cfg.noise.n_geoip, 0);
    assert_int_equal(f->cfg.noise.severity.of[QN_SEVCLASS_ROOT_LOGIN], QN_SEVERITY_CRITICAL);
    assert_int_equal(f->cfg.noise.severity.of[QN_SEVCLASS_NOTIFY], QN_SEVERITY_INFO);
}

static void test_every_key(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse(f, "[login]\nnotify = new\nremember = 30d\n"
                              "[Quiet]\nhours = 23:00-07:00\n"
                              "[severity]\nlogin = info\nJOURNAL = critical\nother = info\n"
                              "[enrich]\nrdns = no\n"
                              "geoip = /var/lib/GeoIP/City.mmdb , /var/lib/GeoIP/ASN.mmdb\n"),
                     QN_OK);
    assert_int_equal(f->cfg.noise.login_notify, QN_LOGIN_NOTIFY_NEW);
    assert_int_equal(f->cfg.noise.remember_s, 30 * 86400);
    assert_true(f->cfg.noise.quiet.set);
    assert_int_equal(f->cfg.noise.quiet.start_min, 23 * 60);
    assert_int_equal(f->cfg.noise.severity.of[QN_SEVCLASS_LOGIN], QN_SEVERITY_INFO);
    assert_int_equal(f->cfg.noise.severity.of[QN_SEVCLASS_JOURNAL], QN_SEVERITY_CRITICAL);
    assert_int_equal(f->cfg.noise.severity.of[QN_SEVCLASS_SUDO], QN_SEVERITY_CRITICAL);
    assert_false(f->cfg.noise.rdns);
    assert_int_equal(f->cfg.noise.n_geoip, 2);
    assert_string_equal(f->cfg.noise.geoip[0], "/var/lib/GeoIP/City.mmdb");
    assert_string_equal(f->cfg.noise.geoip[1], "/var/lib/GeoIP/ASN.mmdb");
}

static void test_errors_name_the_line_key_and_fix(void **state)
{
    struct fixture *f = *state;
    struct {
        const char *tail;
        unsigned line;
        const char *key, *what;
    } cases[] = {
        {"[login]\nnotify = sometimes\n", 7, "notify", "notify is not always or new"},
        {"[login]\nremember = 12h\n", 7, "remember",
         "the duration is not between 1 day and 3650 days"},
        {"[quiet]\nhours = 23-7\n", 7, "hours", "the quiet hours are not HH:MM-HH:MM"},
        {"[severity]\nlogin = high\n", 7, "login", "the severity is not critical, warning or info"},
        {"[severity]\nlogins = info\n", 7, "logins", "unknown key"},
        {"[enrich]\ngeoip = GeoLite2-City.mmdb\n", 7, "geoip",
         "geoip is not a list of absolute paths"},
        {"[enrich]\ngeoip = /a,/b,/c,/d,/e\n", 7, "geoip", "geoip is not a list of absolute paths"},
        {"[enrich]\nrdns = maybe\n", 7, "rdns", "the value is not yes or no"},
        {"[login]\nnotify = new\nnotify = always\n", 8, "notify", "the key is set twice"},
        {"[quiet]\ndays = mon\n", 7, "days", "unknown key"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(parse(f, cases[i].tail), QN_ECONFIG);
        assert_int_equal(f->err.line, cases[i].line);
        assert_string_equal(f->err.key, cases[i].key);
        assert_string_equal(f->err.what, cases[i].what);
        assert_non_null(f->err.fix);
    }
    assert_int_equal(parse(f, "[severity]\nlogins = info\n"), QN_ECONFIG);
    assert_string_equal(f->err.fix, "remove it or correct its spelling; keys of [severity] are "
                                    "root_login, sudo, login, logout, authfail, journal, notify "
                                    "and other");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_every_key),
        T(test_errors_name_the_line_key_and_fix),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
