/*
 * Unit tests for common/event.c: field rules, sanitising on the way in, the
 * exact spool form (event.h), its escaping, and a reader that refuses
 * anything malformed and never returns a control character.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "event.h"
#include "text.h"

#define ELLIPSIS "\xE2\x80\xA6"

/* Byte strings may hold NUL: pass them with their length. */
#define BYTES(s) (s), (sizeof(s) - 1)

/* No byte below 0x20 and no 0x7f: what every value must satisfy. */
static void assert_clean(const char *s)
{
    for (; *s != '\0'; s++)
        assert_false((unsigned char)*s < 0x20 || *s == 0x7f);
}

static void assert_event_clean(const struct qn_event *ev)
{
    size_t i;

    assert_clean(ev->kind);
    assert_clean(ev->host);
    assert_clean(ev->subject);
    for (i = 0; i < ev->n_fields; i++) {
        assert_clean(ev->fields[i].key);
        assert_clean(ev->fields[i].value);
    }
}

static void make_login(struct qn_event *ev)
{
    qn_event_init(ev, "login");
    ev->time = 1764180000;
    qn_event_set_host(ev, "web1");
    assert_int_equal(qn_event_set(ev, "user", "root"), QN_OK);
    assert_int_equal(qn_event_set(ev, "rhost", "203.0.113.9"), QN_OK);
    assert_int_equal(qn_event_set(ev, "service", "sshd"), QN_OK);
}

static void assert_write(const struct qn_event *ev, const char *want)
{
    struct qn_buf b;

    qn_buf_init(&b, 65536);
    assert_int_equal(qn_event_write(ev, &b), QN_OK);
    assert_string_equal(b.data, want);
    qn_buf_free(&b);
}

static void assert_read_fails(const char *text, size_t len)
{
    struct qn_event ev;

    assert_int_equal(qn_event_read(&ev, text, len), QN_EINVAL);
}

static void test_init_sets_kind_time_and_this_host(void **state)
{
    char host[HOST_NAME_MAX + 2] = "", want[QN_EVENT_HOST_MAX];
    struct qn_event ev;
    time_t before = time(NULL), after;

    (void)state;
    memset(&ev, 0x5a, sizeof(ev));
    qn_event_init(&ev, "login");
    after = time(NULL);
    assert_string_equal(ev.kind, "login");
    assert_true(ev.time >= before && ev.time <= after);
    assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
    qn_text_sanitize_line(host, strlen(host), want, sizeof(want));
    assert_string_equal(ev.host, want);
    assert_string_equal(ev.subject, "");
    assert_int_equal(ev.n_fields, 0);
}

static void test_init_sanitises_kind(void **state)
{
    struct qn_event ev;

    (void)state;
    qn_event_init(&ev, "log\r\nin");
    assert_string_equal(ev.kind, "log in");
    qn_event_init(&ev, "a-very-long-kind-name-that-does-not-fit");
    assert_true(strlen(ev.kind) < QN_EVENT_KIND_MAX);
    assert_non_null(strstr(ev.kind, ELLIPSIS));
}

static void test_set_get_and_replace(void **state)
{
    struct qn_event ev;

    (void)state;
    qn_event_init(&ev, "login");
    assert_null(qn_event_get(&ev, "user"));
    assert_int_equal(qn_event_set(&ev, "user", "root"), QN_OK);
    assert_int_equal(qn_event_set(&ev, "tty", "pts/0"), QN_OK);
    assert_string_equal(qn_event_get(&ev, "user"), "root");
    assert_int_equal(qn_event_set(&ev, "user", "alice"), QN_OK);
    assert_int_equal(ev.n_fields, 2);
    assert_string_equal(qn_event_get(&ev, "user"), "alice");
    assert_string_equal(ev.fields[0].key, "user");
    assert_string_equal(qn_event_get(&ev, "tty"), "pts/0");
    assert_int_equal(qn_event_set(&ev, "sample.1", NULL), QN_OK);
    assert_string_equal(qn_event_get(&ev, "sample.1"), "");
    assert_null(qn_event_get(&ev, "USER"));
}

static void test_set_rejects_bad_keys(void **state)
{
    static const char *const bad[] = {
        "",    "User", "a b",  "a/b",
        "a=b", "ключ", "a\nb", "abcdefghijklmnopqrstuvwxyz012345", /* 32 bytes: one too many */
    };
    struct qn_event ev;
    size_t i;

    (void)state;
    qn_event_init(&ev, "login");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(qn_event_set(&ev, bad[i], "x"), QN_EINVAL);
    assert_int_equal(qn_event_set(&ev, NULL, "x"), QN_EINVAL);
    assert_int_equal(qn_event_setn(&ev, "user", NULL, 3), QN_EINVAL);
    assert_int_equal(ev.n_fields, 0);
    /* 31 bytes is the longest key. */
    assert_int_equal(qn_event_set(&ev, "abcdefghijklmnopqrstuvwxyz01234", "x"), QN_OK);
    assert_int_equal(qn_event_set(&ev, "a_b.c-9", "x"), QN_OK);
}

static void test_set_on_full_event_is_toobig_but_replace_works(void **state)
{
    struct qn_event ev;
    char key[16];
    size_t i;

    (void)state;
    qn_event_init(&ev, "journal");
    for (i = 0; i < QN_EVENT_FIELDS_MAX; i++) {
        snprintf(key, sizeof(key), "sample.%zu", i);
        assert_int_equal(qn_event_set(&ev, key, "x"), QN_OK);
    }
    assert_int_equal(qn_event_set(&ev, "one-more", "x"), QN_ETOOBIG);
    assert_int_equal(qn_event_set(&ev, "sample.3", "y"), QN_OK);
    assert_string_equal(qn_event_get(&ev, "sample.3"), "y");
    assert_int_equal(ev.n_fields, QN_EVENT_FIELDS_MAX);
}

static void test_setn_takes_unterminated_value_and_sanitises_it(void **state)
{
    struct qn_event ev;
    const char raw[] = {'r', 'o', '\r', '\n', 'o', 't', '\t', 'X'};

    (void)state;
    qn_event_init(&ev, "login");
    /* Only the first 6 bytes count; the line break becomes one space. */
    assert_int_equal(qn_event_setn(&ev, "user", raw, 6), QN_OK);
    assert_string_equal(qn_event_get(&ev, "user"), "ro ot");
    assert_int_equal(qn_event_setn(&ev, "tty", BYTES("a\0b")), QN_OK);
    assert_string_equal(qn_event_get(&ev, "tty"), "a b");
}

static void test_long_value_is_cut_to_fit(void **state)
{
    char big[2000];
    struct qn_event ev;
    const char *v;

    (void)state;
    memset(big, 'a', sizeof(big));
    qn_event_init(&ev, "journal");
    assert_int_equal(qn_event_setn(&ev, "message", big, sizeof(big)), QN_OK);
    v = qn_event_get(&ev, "message");
    assert_int_equal(strlen(v), QN_EVENT_VALUE_MAX - 1);
    assert_memory_equal(v + strlen(v) - 3, ELLIPSIS, 3);
}

static void test_host_and_subject_are_sanitised(void **state)
{
    struct qn_event ev;

    (void)state;
    qn_event_init(&ev, "notify");
    qn_event_set_host(&ev, "  web1\r\nBcc: x@y  ");
    assert_string_equal(ev.host, "web1 Bcc: x@y");
    qn_event_set_subject(&ev, "disk\x1b[31m full\x7f");
    assert_string_equal(ev.subject, "disk [31m full");
    qn_event_set_subject(&ev, NULL);
    assert_string_equal(ev.subject, "");
}

static void test_write_gives_exact_spool_form(void **state)
{
    struct qn_event ev;

    (void)state;
    make_login(&ev);
    assert_write(&ev, "kind login\n"
                      "time 1764180000\n"
                      "host web1\n"
                      "field user root\n"
                      "field rhost 203.0.113.9\n"
                      "field service sshd\n");
    qn_event_set_subject(&ev, "100% 登录");
    assert_int_equal(qn_event_set(&ev, "method", ""), QN_OK);
    ev.time = -1;
    assert_write(&ev, "kind login\n"
                      "time -1\n"
                      "host web1\n"
                      "subject 100%25 登录\n"
                      "field user root\n"
                      "field rhost 203.0.113.9\n"
                      "field service sshd\n"
                      "field method \n");
}

static void test_write_escapes_raw_bytes_of_a_hand_filled_struct(void **state)
{
    struct qn_event ev;

    (void)state;
    memset(&ev, 0, sizeof(ev));
    strcpy(ev.kind, "lo\ngin");
    ev.time = 5;
    strcpy(ev.host, "h\x7f%");
    ev.n_fields = 1;
    strcpy(ev.fields[0].key, "user");
    strcpy(ev.fields[0].value, "a\r\nfield admin yes\x01");
    assert_write(&ev, "kind lo%0Agin\n"
                      "time 5\n"
                      "host h%7F%25\n"
                      "field user a%0D%0Afield admin yes%01\n");
}

static void test_write_refuses_an_invalid_struct_and_leaves_out_unchanged(void **state)
{
    struct qn_event ev;
    struct qn_buf b;

    (void)state;
    qn_buf_init(&b, 65536);
    assert_int_equal(qn_buf_puts(&b, "keep\n"), QN_OK);

    make_login(&ev);
    ev.kind[0] = '\0';
    assert_int_equal(qn_event_write(&ev, &b), QN_EINVAL);
    make_login(&ev);
    strcpy(ev.fields[1].key, "Bad Key");
    assert_int_equal(qn_event_write(&ev, &b), QN_EINVAL);
    make_login(&ev);
    ev.n_fields = QN_EVENT_FIELDS_MAX + 1;
    assert_int_equal(qn_event_write(&ev, &b), QN_EINVAL);
    assert_string_equal(b.data, "keep\n");
    qn_buf_free(&b);

    /* Too small a buffer: nothing half-written stays behind. */
    make_login(&ev);
    qn_buf_init(&b, 30);
    assert_int_equal(qn_buf_puts(&b, "keep\n"), QN_OK);
    assert_int_equal(qn_event_write(&ev, &b), QN_ETOOBIG);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "keep\n");
    qn_buf_free(&b);
}

static void test_round_trip_keeps_everything(void **state)
{
    struct qn_event ev, back;
    struct qn_buf b;
    size_t i;

    (void)state;
    make_login(&ev);
    qn_event_set_subject(&ev, "服务器 web1: root 登录 100%");
    assert_int_equal(qn_event_set(&ev, "message", "a%41 b  c"), QN_OK);
    assert_int_equal(qn_event_set(&ev, "empty", ""), QN_OK);
    qn_buf_init(&b, 65536);
    assert_int_equal(qn_event_write(&ev, &b), QN_OK);
    memset(&back, 0x5a, sizeof(back));
    assert_int_equal(qn_event_read(&back, b.data, b.len), QN_OK);
    assert_string_equal(back.kind, ev.kind);
    assert_true(back.time == ev.time);
    assert_string_equal(back.host, ev.host);
    assert_string_equal(back.subject, ev.subject);
    assert_int_equal(back.n_fields, ev.n_fields);
    for (i = 0; i < ev.n_fields; i++) {
        assert_string_equal(back.fields[i].key, ev.fields[i].key);
        assert_string_equal(back.fields[i].value, ev.fields[i].value);
    }
    assert_string_equal(qn_event_get(&back, "message"), "a%41 b c");
    qn_buf_free(&b);
}

static void test_forged_lines_in_values_stay_inside_one_value(void **state)
{
    struct qn_event ev, back;
    struct qn_buf b;

    (void)state;
    memset(&ev, 0, sizeof(ev));
    strcpy(ev.kind, "login");
    ev.time = 7;
    strcpy(ev.host, "web1\nkind root");
    ev.n_fields = 1;
    strcpy(ev.fields[0].key, "user");
    strcpy(ev.fields[0].value, "x\nfield admin yes\nsubject pwned");
    qn_buf_init(&b, 65536);
    assert_int_equal(qn_event_write(&ev, &b), QN_OK);
    assert_int_equal(qn_event_read(&back, b.data, b.len), QN_OK);
    assert_string_equal(back.kind, "login");
    assert_string_equal(back.host, "web1 kind root");
    assert_string_equal(back.subject, "");
    assert_int_equal(back.n_fields, 1);
    assert_null(qn_event_get(&back, "admin"));
    assert_string_equal(qn_event_get(&back, "user"), "x field admin yes subject pwned");
    qn_buf_free(&b);
}

static void test_read_sanitises_decoded_values(void **state)
{
    static const char text[] = "kind login\ntime 1\nhost a%0D%0Ab\n"
                               "subject %E2%80%AEevil\nfield user r%00oot%1B[0m\n";
    struct qn_event ev;

    (void)state;
    assert_int_equal(qn_event_read(&ev, BYTES(text)), QN_OK);
    assert_string_equal(ev.host, "a b");
    assert_string_equal(ev.subject, "<U+202E>evil"); /* RIGHT-TO-LEFT OVERRIDE shown */
    assert_string_equal(qn_event_get(&ev, "user"), "r oot [0m");
    assert_event_clean(&ev);
}

static void test_read_accepts_lower_case_escapes_and_optional_lines(void **state)
{
    struct qn_event ev;

    (void)state;
    assert_int_equal(qn_event_read(&ev, BYTES("time 3\nkind a%2fb\n")), QN_OK);
    assert_string_equal(ev.kind, "a/b");
    assert_string_equal(ev.host, "");
    assert_true(ev.time == 3);
    assert_int_equal(qn_event_read(&ev, BYTES("kind a\ntime -9223372036854775808\n")), QN_OK);
    assert_true(ev.time == LLONG_MIN);
    assert_int_equal(qn_event_read(&ev, BYTES("kind a\ntime 9223372036854775807\n")), QN_OK);
    assert_true(ev.time == LLONG_MAX);
}

static void test_read_rejects_malformed_text(void **state)
{
    static const struct {
        const char *text;
        size_t len;
    } bad[] = {
        {BYTES("")},
        {BYTES("time 1\n")},                                          /* no kind */
        {BYTES("kind a\n")},                                          /* no time */
        {BYTES("kind \ntime 1\n")},                                   /* empty kind */
        {BYTES("kind %20\ntime 1\n")},                                /* blank kind */
        {BYTES("kind a\ntime 1")},                                    /* cut final line */
        {BYTES("kind a\ntime 1\n\n")},                                /* empty line */
        {BYTES("kind a\r\ntime 1\n")},                                /* CR in a line */
        {BYTES("kind a\ntime 1\nhost a\0b\n")},                       /* raw NUL */
        {BYTES("kind a\ntime 1\nhost a\tb\n")},                       /* raw TAB */
        {BYTES("kind a\ntime 1\nhost a\x7f\n")},                      /* raw DEL */
        {BYTES("kind a\ntime 1\nend\n")},                             /* unknown line */
        {BYTES("kind a\ntime 1\nKind b\n")},                          /* names are exact */
        {BYTES("kind a\ntime 1\nhost\n")},                            /* no separator */
        {BYTES("kind a\nkind b\ntime 1\n")},                          /* duplicate kind */
        {BYTES("kind a\ntime 1\ntime 2\n")},                          /* duplicate time */
        {BYTES("kind a\ntime 1\nhost x\nhost y\n")},                  /* duplicate host */
        {BYTES("kind a\ntime 1\nsubject x\nsubject y\n")},            /* duplicate subject */
        {BYTES("kind a\ntime 1\nfield u x\nfield u y\n")},            /* duplicate field */
        {BYTES("kind a\ntime 1\nfield U x\n")},                       /* bad key */
        {BYTES("kind a\ntime 1\nfield u\n")},                         /* field without value */
        {BYTES("kind a\ntime 1\nfield  x\n")},                        /* empty key */
        {BYTES("kind a\ntime 1\nhost %4\n")},                         /* short escape */
        {BYTES("kind a\ntime 1\nhost %\n")},                          /* bare % */
        {BYTES("kind a\ntime 1\nhost %G0\n")},                        /* not hex */
        {BYTES("kind a\ntime \n")},                                   /* empty time */
        {BYTES("kind a\ntime +1\n")},                                 /* sign */
        {BYTES("kind a\ntime 1 \n")},                                 /* trailing blank */
        {BYTES("kind a\ntime 0x10\n")},                               /* not decimal */
        {BYTES("kind a\ntime -\n")},                                  /* sign only */
        {BYTES("kind a\ntime 9223372036854775808\n")},                /* overflow */
        {BYTES("kind a\ntime -9223372036854775809\n")},               /* underflow */
        {BYTES("kind 0123456789012345678901234567890123\ntime 1\n")}, /* kind too long */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct qn_event ev;

        if (qn_event_read(&ev, bad[i].text, bad[i].len) != QN_EINVAL)
            fail_msg("case %zu was not refused", i);
    }
    assert_int_equal(qn_event_read(NULL, "", 0), QN_EINVAL);
    assert_int_equal(qn_event_read(&(struct qn_event){0}, NULL, 3), QN_EINVAL);
}

static void test_read_rejects_too_many_fields_and_too_long_values(void **state)
{
    struct qn_buf b;
    size_t i;

    (void)state;
    qn_buf_init(&b, 1 << 20);
    assert_int_equal(qn_buf_puts(&b, "kind a\ntime 1\n"), QN_OK);
    for (i = 0; i < QN_EVENT_FIELDS_MAX; i++)
        assert_int_equal(qn_buf_printf(&b, "field f%zu x\n", i), QN_OK);
    assert_int_equal(qn_event_read(&(struct qn_event){0}, b.data, b.len), QN_OK);
    assert_int_equal(qn_buf_puts(&b, "field one-more x\n"), QN_OK);
    assert_read_fails(b.data, b.len);

    qn_buf_reset(&b);
    assert_int_equal(qn_buf_puts(&b, "kind a\ntime 1\nfield v "), QN_OK);
    for (i = 0; i < QN_EVENT_VALUE_MAX - 1; i++)
        assert_int_equal(qn_buf_putc(&b, 'v'), QN_OK);
    assert_int_equal(qn_buf_putc(&b, '\n'), QN_OK);
    assert_int_equal(qn_event_read(&(struct qn_event){0}, b.data, b.len), QN_OK);
    b.data[b.len - 1] = 'v';
    assert_int_equal(qn_buf_putc(&b, '\n'), QN_OK);
    assert_read_fails(b.data, b.len);
    qn_buf_free(&b);
}

static void test_read_rejects_every_cut_inside_a_line(void **state)
{
    struct qn_event ev;
    struct qn_buf b;
    size_t k;

    (void)state;
    make_login(&ev);
    qn_event_set_subject(&ev, "hello");
    qn_buf_init(&b, 65536);
    assert_int_equal(qn_event_write(&ev, &b), QN_OK);
    for (k = 0; k < b.len; k++) {
        /* A cut at a line end is a shorter valid event; the spool's size line
         * catches those.  Any other cut must fail. */
        if (k > 0 && b.data[k - 1] == '\n')
            continue;
        assert_read_fails(b.data, k);
    }
    qn_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_sets_kind_time_and_this_host),
        cmocka_unit_test(test_init_sanitises_kind),
        cmocka_unit_test(test_set_get_and_replace),
        cmocka_unit_test(test_set_rejects_bad_keys),
        cmocka_unit_test(test_set_on_full_event_is_toobig_but_replace_works),
        cmocka_unit_test(test_setn_takes_unterminated_value_and_sanitises_it),
        cmocka_unit_test(test_long_value_is_cut_to_fit),
        cmocka_unit_test(test_host_and_subject_are_sanitised),
        cmocka_unit_test(test_write_gives_exact_spool_form),
        cmocka_unit_test(test_write_escapes_raw_bytes_of_a_hand_filled_struct),
        cmocka_unit_test(test_write_refuses_an_invalid_struct_and_leaves_out_unchanged),
        cmocka_unit_test(test_round_trip_keeps_everything),
        cmocka_unit_test(test_forged_lines_in_values_stay_inside_one_value),
        cmocka_unit_test(test_read_sanitises_decoded_values),
        cmocka_unit_test(test_read_accepts_lower_case_escapes_and_optional_lines),
        cmocka_unit_test(test_read_rejects_malformed_text),
        cmocka_unit_test(test_read_rejects_too_many_fields_and_too_long_values),
        cmocka_unit_test(test_read_rejects_every_cut_inside_a_line),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
