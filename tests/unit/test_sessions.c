/*
 * Unit tests for common/sessions.c: the key format, pairing an open with its
 * end into a duration, ends whose open was never seen, sessions of an
 * earlier boot, counts per user, the per-user bound an account cannot use
 * against others, and the state file (exact text, clamping, rejection).
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

#include "sessions.h"

#define T0    1795658400LL
#define BOOT1 "0123456789abcdef0123456789abcdef"
#define BOOT2 "fedcba9876543210fedcba9876543210"

static struct qn_event end_or_open(const char *kind, const char *user, const char *key, long long t)
{
    struct qn_event ev;

    qn_event_init(&ev, kind);
    ev.time = t;
    assert_int_equal(qn_event_set(&ev, "user", user), QN_OK);
    assert_int_equal(qn_event_set(&ev, "session", key), QN_OK);
    return ev;
}

static int setup(void **state)
{
    struct qn_sessions *t = malloc(sizeof(*t));

    if (t == NULL)
        return -1;
    qn_sessions_init(t);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

static void test_key_format(void **state)
{
    (void)state;
    assert_true(qn_sessions_key_valid(BOOT1 ":1234:987654"));
    assert_true(qn_sessions_key_valid(BOOT1 ":1:0"));
    assert_false(qn_sessions_key_valid(BOOT1 ":1234"));
    assert_false(qn_sessions_key_valid(BOOT1 "::5"));
    assert_false(qn_sessions_key_valid("0123456789ABCDEF0123456789abcdef:1:2"));
    assert_false(qn_sessions_key_valid("0123-4567:1:2"));
    assert_false(qn_sessions_key_valid(BOOT1 ":12345678901:2"));
    assert_false(qn_sessions_key_valid(BOOT1 ":1:2 "));
    assert_false(qn_sessions_key_valid(NULL));
}

static void test_open_then_close_gives_the_duration(void **state)
{
    struct qn_sessions *t = *state;
    struct qn_event open = end_or_open("login", "alice", BOOT1 ":100:5", T0);
    struct qn_event close = end_or_open("logout", "alice", BOOT1 ":100:5", T0 + 8040);
    long long d = -1;

    assert_int_equal(qn_sessions_open(t, &open), QN_OK);
    assert_int_equal(qn_sessions_count(t, "alice"), 1);
    assert_int_equal(qn_sessions_close(t, &close, &d), QN_OK);
    assert_int_equal(d, 2 * 3600 + 14 * 60);
    assert_int_equal(qn_sessions_count(t, "alice"), 0);
    assert_int_equal(qn_sessions_close(t, &close, &d), QN_ENOTFOUND); /* once only */
}

static void test_events_that_do_not_fit_change_nothing(void **state)
{
    struct qn_sessions *t = *state;
    struct qn_event bad_key = end_or_open("login", "alice", "not-a-key", T0);
    struct qn_event wrong_kind = end_or_open("authfail", "alice", BOOT1 ":1:1", T0);
    struct qn_event spaced = end_or_open("login", "a b", BOOT1 ":1:1", T0);
    struct qn_event close_as_open = end_or_open("logout", "alice", BOOT1 ":1:1", T0);
    long long d = 0;

    assert_int_equal(qn_sessions_open(t, &bad_key), QN_EINVAL);
    assert_int_equal(qn_sessions_open(t, &wrong_kind), QN_EINVAL);
    assert_int_equal(qn_sessions_open(t, &spaced), QN_EINVAL);
    assert_int_equal(qn_sessions_open(t, &close_as_open), QN_EINVAL);
    assert_int_equal(qn_sessions_close(t, &wrong_kind, &d), QN_EINVAL);
    assert_int_equal(t->n, 0);
}

static void test_a_clock_going_back_gives_zero_not_a_negative_duration(void **state)
{
    struct qn_sessions *t = *state;
    struct qn_event open = end_or_open("login", "alice", BOOT1 ":7:7", T0);
    struct qn_event close = end_or_open("logout", "alice", BOOT1 ":7:7", T0 - 30);
    long long d = -1;

    assert_int_equal(qn_sessions_open(t, &open), QN_OK);
    assert_int_equal(qn_sessions_close(t, &close, &d), QN_OK);
    assert_int_equal(d, 0);
}

static void test_sessions_of_an_earlier_boot_are_dropped(void **state)
{
    struct qn_sessions *t = *state;
    struct qn_event old = end_or_open("login", "alice", BOOT1 ":100:5", T0);
    struct qn_event now = end_or_open("login", "bob", BOOT2 ":100:5", T0 + 60);
    struct qn_event old_end = end_or_open("logout", "alice", BOOT1 ":100:5", T0 + 120);
    long long d;

    assert_int_equal(qn_sessions_open(t, &old), QN_OK);
    assert_int_equal(qn_sessions_open(t, &now), QN_OK);
    assert_int_equal(t->n, 1);
    assert_int_equal(qn_sessions_close(t, &old_end, &d), QN_ENOTFOUND);
}

static void test_one_account_looping_cannot_push_out_others(void **state)
{
    struct qn_sessions *t = *state;
    struct qn_event alice = end_or_open("login", "alice", BOOT1 ":1:1", T0);
    struct qn_event alice_end = end_or_open("logout", "alice", BOOT1 ":1:1", T0 + 99999);
    char key[QN_SESSIONS_KEY_MAX];
    long long d = 0;

    assert_int_equal(qn_sessions_open(t, &alice), QN_OK);
    for (int i = 0; i < 5000; i++) {
        struct qn_event ev;

        snprintf(key, sizeof(key), BOOT1 ":%d:%d", 1000 + i, i);
        ev = end_or_open("login", "intern", key, T0 + 1 + i);
        assert_int_equal(qn_sessions_open(t, &ev), QN_OK);
    }
    assert_int_equal(qn_sessions_count(t, "intern"), QN_SESSIONS_PER_USER_MAX);
    assert_int_equal(qn_sessions_close(t, &alice_end, &d), QN_OK);
    assert_int_equal(d, 99999);
}

static void test_state_text_round_trips_and_clamps(void **state)
{
    static const char want[] = "qqnotify-sessions 1\n"
                               "session " BOOT1 ":100:5 alice 1795658400\n"
                               "session " BOOT1 ":200:9 用户 1795658460\n";
    struct qn_sessions *t = *state;
    struct qn_event a = end_or_open("login", "alice", BOOT1 ":100:5", T0);
    struct qn_event b = end_or_open("login", "用户", BOOT1 ":200:9", T0 + 60);
    struct qn_buf buf;

    assert_int_equal(qn_sessions_open(t, &a), QN_OK);
    assert_int_equal(qn_sessions_open(t, &b), QN_OK);
    qn_buf_init(&buf, QN_SESSIONS_STATE_MAX);
    assert_int_equal(qn_sessions_save(t, &buf), QN_OK);
    assert_string_equal(buf.data, want);
    assert_int_equal(qn_sessions_load(t, buf.data, buf.len, T0 + 60), QN_OK);
    assert_int_equal(t->n, 2);
    /* a time in the future is clamped to now */
    assert_int_equal(qn_sessions_load(t, buf.data, buf.len, T0), QN_OK);
    assert_int_equal(t->items[1].opened, T0);
    qn_buf_free(&buf);
    static const char *const bad[] = {
        "",
        "qqnotify-sessions 1\nsession x alice 1\n",
        "qqnotify-sessions 1\nsession " BOOT1 ":1:1 alice\n",
        "qqnotify-sessions 1\nsession " BOOT1 ":1:1 alice 1\nsession " BOOT1 ":1:1 bob 2\n",
        "qqnotify-sessions 1\nsession " BOOT1 ":1:1 alice -1\n",
        "qqnotify-sessions 1\nsession " BOOT1 ":1:1 alice 1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (qn_sessions_load(t, bad[i], strlen(bad[i]), T0) != QN_EINVAL)
            fail_msg("accepted malformed state %zu", i);
        assert_int_equal(t->n, 0);
    }
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_key_format),
        T(test_open_then_close_gives_the_duration),
        T(test_events_that_do_not_fit_change_nothing),
        T(test_a_clock_going_back_gives_zero_not_a_negative_duration),
        T(test_sessions_of_an_earlier_boot_are_dropped),
        T(test_one_account_looping_cannot_push_out_others),
        T(test_state_text_round_trips_and_clamps),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
