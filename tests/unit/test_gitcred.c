/*
 * Unit tests for common/gitcred.c, git's credential helper protocol: the
 * request qqnotify writes and qqnotify-secret parses, the reply
 * qqnotify-secret writes and qqnotify parses.  Exact bytes both ways.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gitcred.h"

#define REPLY(s) (s), (sizeof(s) - 1)

struct fixture {
    struct qn_secret secret;
    struct qn_gitcred_request req;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    qn_secret_wipe(&f->secret);
    qn_gitcred_request_wipe(&f->req);
    free(f);
    return 0;
}

static void assert_secret(struct fixture *f, const char *want)
{
    assert_non_null(f->secret.data);
    assert_int_equal(f->secret.len, strlen(want));
    assert_string_equal(f->secret.data, want);
}

/* ---- requests: write ------------------------------------------------------------------- */

static void test_request_is_written_as_git_writes_it(void **state)
{
    char out[128];
    size_t len = 0;

    (void)state;
    assert_int_equal(
        qn_gitcred_write_request("smtp", "smtp.qq.com", "alice@qq.com", out, sizeof(out), &len),
        QN_OK);
    assert_string_equal(out, "protocol=smtp\nhost=smtp.qq.com\nusername=alice@qq.com\n\n");
    assert_int_equal(len, strlen(out));
}

static void test_request_with_a_line_break_in_a_value_is_refused(void **state)
{
    char out[128];
    size_t len = 0;

    (void)state;
    assert_int_equal(qn_gitcred_write_request("smtp", "smtp.qq.com", "a\npassword=forged", out,
                                              sizeof(out), &len),
                     QN_EINVAL);
    assert_int_equal(qn_gitcred_write_request("smtp", "smtp.qq.com\r", "a", out, sizeof(out), &len),
                     QN_EINVAL);
    assert_int_equal(len, 0);
}

static void test_request_that_does_not_fit_is_too_big(void **state)
{
    /* 54 bytes and the NUL: one byte less does not do */
    char out[55];
    size_t len = 0;

    (void)state;
    assert_int_equal(
        qn_gitcred_write_request("smtp", "smtp.qq.com", "alice@qq.com", out, sizeof(out) - 1, &len),
        QN_ETOOBIG);
    assert_int_equal(
        qn_gitcred_write_request("smtp", "smtp.qq.com", "alice@qq.com", out, sizeof(out), &len),
        QN_OK);
    assert_int_equal(len, 54);
}

/* ---- requests: parse ------------------------------------------------------------------- */

static enum qn_status parse_request(struct fixture *f, const char *text, size_t len)
{
    qn_gitcred_request_wipe(&f->req);
    return qn_gitcred_parse_request(text, len, &f->req);
}

static void test_request_fields_are_parsed(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse_request(f, REPLY("protocol=smtp\nhost=smtp.qq.com\nusername=alice@qq."
                                            "com\npassword=abc def\n\n")),
                     QN_OK);
    assert_string_equal(f->req.protocol, "smtp");
    assert_string_equal(f->req.host, "smtp.qq.com");
    assert_string_equal(f->req.username, "alice@qq.com");
    assert_int_equal(f->req.password.len, 7);
    assert_string_equal(f->req.password.data, "abc def");
    assert_string_equal(f->req.bad_key, "");
}

static void test_request_without_password_has_an_empty_one(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse_request(f, REPLY("protocol=smtp\nhost=h\n")), QN_OK);
    assert_int_equal(f->req.password.len, 0);
    assert_string_equal(f->req.username, "");
    assert_int_equal(parse_request(f, REPLY("")), QN_OK);
    assert_string_equal(f->req.protocol, "");
}

static void test_request_host_loses_its_port(void **state)
{
    static const struct {
        const char *line;
        const char *host;
    } cases[] = {
        {"host=smtp.qq.com:465\n", "smtp.qq.com"},
        {"host=[::1]:465\n", "[::1]"},
        {"host=::1\n", "::1"},
        {"host=fe80::1:25\n", "fe80::1:25"}, /* a bare IPv6 address keeps its colons */
        {"host=smtp.qq.com:\n", "smtp.qq.com:"},
        {"host=smtp.qq.com:smtps\n", "smtp.qq.com:smtps"},
    };
    struct fixture *f = *state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(parse_request(f, cases[i].line, strlen(cases[i].line)), QN_OK);
        assert_string_equal(f->req.host, cases[i].host);
    }
}

static void test_request_crlf_last_wins_unknown_keys_and_the_end(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse_request(f, REPLY("username=first\r\nwwwauth[]=Basic\r\n=odd\r\n"
                                            "username=second\r\npassword=one\r\npassword=two\r\n"
                                            "\r\nusername=after the end\n")),
                     QN_OK);
    assert_string_equal(f->req.username, "second");
    assert_string_equal(f->req.password.data, "two");
    assert_int_equal(f->req.password.len, 3);
}

static void test_request_with_a_bad_line_names_its_key(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse_request(f, REPLY("protocol=smtp\nhost=a\001b\n\n")), QN_EINVAL);
    assert_string_equal(f->req.bad_key, "host");
    assert_int_equal(parse_request(f, REPLY("password=x\nEnter password\n")), QN_EINVAL);
    assert_string_equal(f->req.bad_key, "Enter?password");
    assert_null(f->req.password.data); /* wiped on failure */
    assert_int_equal(parse_request(f, REPLY("whatever=tab\there\n")), QN_EINVAL);
    assert_string_equal(f->req.bad_key, "whatever");
    assert_int_equal(parse_request(f, REPLY("a\377b=1\n")), QN_OK); /* unknown key: ignored */
}

static void test_request_values_are_bounded(void **state)
{
    struct fixture *f = *state;
    char text[QN_SECRET_MAX + 64];
    int n;

    n = snprintf(text, sizeof(text), "host=%0*d\n", QN_GITCRED_FIELD_MAX, 0);
    assert_int_equal(parse_request(f, text, (size_t)n), QN_OK);
    assert_int_equal(strlen(f->req.host), QN_GITCRED_FIELD_MAX);
    n = snprintf(text, sizeof(text), "username=%0*d\n", QN_GITCRED_FIELD_MAX + 1, 0);
    assert_int_equal(parse_request(f, text, (size_t)n), QN_ETOOBIG);
    assert_string_equal(f->req.bad_key, "username");
    n = snprintf(text, sizeof(text), "protocol=%0*d\n", QN_GITCRED_PROTOCOL_MAX + 1, 0);
    assert_int_equal(parse_request(f, text, (size_t)n), QN_ETOOBIG);
    assert_string_equal(f->req.bad_key, "protocol");

    memcpy(text, "password=", 9);
    memset(text + 9, 'p', QN_SECRET_MAX + 1);
    assert_int_equal(parse_request(f, text, 9 + QN_SECRET_MAX), QN_OK);
    assert_int_equal(f->req.password.len, QN_SECRET_MAX);
    assert_int_equal(parse_request(f, text, 9 + QN_SECRET_MAX + 1), QN_ETOOBIG);
    assert_string_equal(f->req.bad_key, "password");
    assert_null(f->req.password.data);
}

/* ---- replies: write -------------------------------------------------------------------- */

static void test_reply_is_one_password_line(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(qn_gitcred_write_reply("abc def", 7, &f->secret), QN_OK);
    assert_secret(f, "password=abc def\n");
}

static void test_reply_refuses_what_would_add_lines(void **state)
{
    struct fixture *f = *state;
    char big[QN_SECRET_MAX + 1];

    assert_int_equal(qn_gitcred_write_reply("abc\npassword=forged", 19, &f->secret), QN_EINVAL);
    assert_int_equal(qn_gitcred_write_reply("abc\r", 4, &f->secret), QN_EINVAL);
    assert_int_equal(qn_gitcred_write_reply("", 0, &f->secret), QN_EINVAL);
    memset(big, 'x', sizeof(big));
    assert_int_equal(qn_gitcred_write_reply(big, sizeof(big), &f->secret), QN_ETOOBIG);
    assert_null(f->secret.data);
    assert_int_equal(qn_gitcred_write_reply(big, QN_SECRET_MAX, &f->secret), QN_OK);
    assert_int_equal(f->secret.len, QN_SECRET_MAX + 10);
}

static void test_reply_written_is_the_reply_parsed(void **state)
{
    struct fixture *f = *state;
    struct qn_secret back = {0};

    assert_int_equal(qn_gitcred_write_reply("ab=cd", 5, &f->secret), QN_OK);
    assert_int_equal(qn_gitcred_parse_reply(f->secret.data, f->secret.len, &back), QN_OK);
    assert_int_equal(back.len, 5);
    assert_string_equal(back.data, "ab=cd");
    qn_secret_wipe(&back);
}

/* ---- replies: parse --------------------------------------------------------------------- */

static enum qn_status parse_reply(struct fixture *f, const char *text, size_t len)
{
    qn_secret_wipe(&f->secret);
    return qn_gitcred_parse_reply(text, len, &f->secret);
}

static void test_parse_reply_takes_the_password(void **state)
{
    static const struct {
        const char *text;
        const char *password;
    } good[] = {
        {"password=abc\n", "abc"},
        {"password=abc", "abc"},
        {"protocol=smtp\r\nusername=a\r\npassword=abc\r\n\r\n", "abc"},
        {"password=first\npassword=second\n", "second"},
        {"password=a=b==\n", "a=b=="},
        {"password= with blanks \n", " with blanks "},
        {"password=abc\n\npassword=ignored after the end\n", "abc"},
        {"quit=1\npassword=abc\nwwwauth[]=x\n", "abc"},
    };
    struct fixture *f = *state;
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(parse_reply(f, good[i].text, strlen(good[i].text)), QN_OK);
        assert_secret(f, good[i].password);
    }
}

static void test_parse_reply_without_password_is_not_found(void **state)
{
    static const char *const none[] = {
        "",
        "\n",
        "username=alice\n",
        "password=\n",
        "passwords=abc\n",
        "PASSWORD=abc\n",
        "\npassword=abc\n",
        "username=a\n\npassword=abc",
    };
    struct fixture *f = *state;
    size_t i;

    for (i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
        assert_int_equal(parse_reply(f, none[i], strlen(none[i])), QN_ENOTFOUND);
        assert_null(f->secret.data);
    }
}

static void test_parse_reply_refuses_malformed_text(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(parse_reply(f, REPLY("password=abc\ngarbage\n")), QN_EINVAL);
    assert_int_equal(parse_reply(f, REPLY("=abc\npassword=abc\n")), QN_EINVAL);
    assert_int_equal(parse_reply(f, REPLY("password=a\0bc\n")), QN_EINVAL);
    assert_null(f->secret.data);
}

static void test_parse_reply_bounds(void **state)
{
    struct fixture *f = *state;
    char text[QN_SECRET_MAX + 16];

    /* Only LEN bytes count: the text need not end in NUL. */
    assert_int_equal(parse_reply(f, "password=abcXYZ", 12), QN_OK);
    assert_secret(f, "abc");

    memcpy(text, "password=", 9);
    memset(text + 9, 'p', QN_SECRET_MAX + 1);
    assert_int_equal(parse_reply(f, text, 9 + QN_SECRET_MAX), QN_OK);
    assert_int_equal(f->secret.len, QN_SECRET_MAX);
    assert_int_equal(parse_reply(f, text, 9 + QN_SECRET_MAX + 1), QN_ETOOBIG);
    assert_null(f->secret.data);
}

/* ---- a route's secret: two keys -------------------------------------------------------- */

static void test_route_reply_carries_the_signing_secret_in_its_own_key(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(qn_gitcred_write_route_reply(REPLY("0c23ab\nSECfeed"), &f->secret), QN_OK);
    assert_secret(f, "password=0c23ab\nqqnotify_signing_secret=SECfeed\n");
    qn_secret_wipe(&f->secret);
    assert_int_equal(qn_gitcred_write_route_reply(REPLY("693a91f6-77\r\n"), &f->secret), QN_EINVAL);
    assert_int_equal(qn_gitcred_write_route_reply(REPLY("693a91f6-77"), &f->secret), QN_OK);
    assert_secret(f, "password=693a91f6-77\n");
}

static void test_route_reply_refuses_what_would_add_lines(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(qn_gitcred_write_route_reply(REPLY("a\nb\npassword=forged"), &f->secret),
                     QN_EINVAL);
    assert_int_equal(qn_gitcred_write_route_reply(REPLY("\nSECx"), &f->secret), QN_EINVAL);
    assert_int_equal(qn_gitcred_write_route_reply(REPLY("a\tb"), &f->secret), QN_EINVAL);
    assert_null(f->secret.data);
}

static void test_route_reply_parsed_is_the_secret_written(void **state)
{
    struct fixture *f = *state;
    struct qn_secret back = {0};

    assert_int_equal(qn_gitcred_write_route_reply(REPLY("tok\r\nSECfeed"), &f->secret), QN_OK);
    assert_int_equal(qn_gitcred_parse_route_reply(f->secret.data, f->secret.len, &back), QN_OK);
    assert_string_equal(back.data, "tok\nSECfeed");
    qn_secret_wipe(&back);
    /* The mail reply ignores the robot's key; a route's reply without it is one line. */
    assert_int_equal(qn_gitcred_parse_reply(f->secret.data, f->secret.len, &back), QN_OK);
    assert_string_equal(back.data, "tok");
    qn_secret_wipe(&back);
    assert_int_equal(
        qn_gitcred_parse_route_reply(REPLY("password=k\nqqnotify_signing_secret=\n"), &back),
        QN_OK);
    assert_string_equal(back.data, "k");
    qn_secret_wipe(&back);
    assert_int_equal(qn_gitcred_parse_route_reply(REPLY("qqnotify_signing_secret=SECx\n"), &back),
                     QN_ENOTFOUND);
    assert_null(back.data);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_request_is_written_as_git_writes_it),
        T(test_request_with_a_line_break_in_a_value_is_refused),
        T(test_request_that_does_not_fit_is_too_big),
        T(test_request_fields_are_parsed),
        T(test_request_without_password_has_an_empty_one),
        T(test_request_host_loses_its_port),
        T(test_request_crlf_last_wins_unknown_keys_and_the_end),
        T(test_request_with_a_bad_line_names_its_key),
        T(test_request_values_are_bounded),
        T(test_reply_is_one_password_line),
        T(test_reply_refuses_what_would_add_lines),
        T(test_reply_written_is_the_reply_parsed),
        T(test_parse_reply_takes_the_password),
        T(test_parse_reply_without_password_is_not_found),
        T(test_parse_reply_refuses_malformed_text),
        T(test_route_reply_carries_the_signing_secret_in_its_own_key),
        T(test_route_reply_refuses_what_would_add_lines),
        T(test_route_reply_parsed_is_the_secret_written),
        T(test_parse_reply_bounds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
