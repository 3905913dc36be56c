/*
 * Unit tests for common/lanes.c: a flood in one lane never makes another a
 * burst, the reserve of the lanes above, caps that count and summarise
 * once, the state text (round trip, clamping of what the spool's user
 * could write, refusal of damage), and the marks of the user lane's mail.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lanes.h"

#define T0 1795658400LL /* 2026-11-26 02:00:00 UTC */

static struct qn_lanes *new_lanes(void)
{
    struct qn_lanes *l = malloc(sizeof(*l));

    assert_non_null(l);
    qn_lanes_init(l);
    return l;
}

/* QQ's preset: 5 a minute, 20 an hour, 90 a day; digest after 3 in 10 minutes. */
static const struct qn_ratelimit_config qq = {5, 20, 90, 3, 600, 0};

static void test_a_flood_of_user_notifications_never_makes_a_login_a_burst(void **state)
{
    struct qn_lanes *l = new_lanes();
    struct qn_ratelimit *rl = malloc(sizeof(*rl));

    (void)state;
    assert_non_null(rl);
    qn_ratelimit_init(rl);
    qn_lanes_record(l, QN_LANE_USER, 3000, T0 - 10);
    assert_int_equal(l->n_events[QN_LANE_USER], QN_LANES_EVENTS_MAX);
    assert_true(qn_lanes_should_digest(l, QN_LANE_USER, rl, &qq, 1, T0));
    assert_false(qn_lanes_should_digest(l, QN_LANE_LOGIN, rl, &qq, 1, T0));
    assert_false(qn_lanes_should_digest(l, QN_LANE_JOURNAL, rl, &qq, 1, T0));
    /* Three logins of their own make a burst of their own lane. */
    qn_lanes_record(l, QN_LANE_LOGIN, 3, T0 - 5);
    assert_true(qn_lanes_should_digest(l, QN_LANE_LOGIN, rl, &qq, 1, T0));
    /* ... until digest_window has passed. */
    assert_false(qn_lanes_should_digest(l, QN_LANE_LOGIN, rl, &qq, 1, T0 + 600));
    free(rl);
    free(l);
}

static void test_the_lanes_above_keep_a_reserve_of_the_limits(void **state)
{
    struct qn_ratelimit *rl = malloc(sizeof(*rl));
    long long next = 0;

    (void)state;
    assert_non_null(rl);
    qn_ratelimit_init(rl);
    /* 5 a minute: logins may use 5, journal alerts 4, users 3. */
    assert_int_equal(qn_lanes_available(QN_LANE_LOGIN, rl, &qq, T0, NULL), 5);
    assert_int_equal(qn_lanes_available(QN_LANE_JOURNAL, rl, &qq, T0, NULL), 4);
    assert_int_equal(qn_lanes_available(QN_LANE_USER, rl, &qq, T0, NULL), 3);
    for (int i = 0; i < 3; i++)
        qn_ratelimit_record_sent(rl, T0);
    assert_int_equal(qn_lanes_available(QN_LANE_USER, rl, &qq, T0, &next), 0);
    assert_true(next == T0 + 60); /* only the reserve holds it back: look again later */
    assert_int_equal(qn_lanes_available(QN_LANE_JOURNAL, rl, &qq, T0, NULL), 1);
    assert_int_equal(qn_lanes_available(QN_LANE_LOGIN, rl, &qq, T0, NULL), 2);
    qn_ratelimit_record_sent(rl, T0);
    qn_ratelimit_record_sent(rl, T0);
    assert_int_equal(qn_lanes_available(QN_LANE_LOGIN, rl, &qq, T0, &next), 0);
    assert_true(next == T0 + 60); /* the minute's window */

    /* A limit of 1 or 2 leaves nothing to reserve; no limit reserves nothing. */
    {
        const struct qn_ratelimit_config one = {1, 0, 0, 0, 0, 0}, none = {0};

        qn_ratelimit_init(rl);
        assert_int_equal(qn_lanes_available(QN_LANE_USER, rl, &one, T0, NULL), 1);
        assert_int_equal(qn_lanes_available(QN_LANE_USER, rl, &none, T0, NULL),
                         QN_RATELIMIT_SENT_MAX);
    }
    free(rl);
}

static void test_a_cap_admits_its_max_then_counts_and_summarises_once(void **state)
{
    struct qn_lanes *l = new_lanes();
    struct qn_config cfg;
    struct qn_event ev;
    enum qn_lane lane = QN_LANE_LOGIN;
    char key[QN_LANES_KEY_MAX];

    (void)state;
    qn_config_defaults(&cfg);
    cfg.language = QN_LANG_EN;
    qn_lanes_uid_key(0, key);
    assert_string_equal(key, "uid:0");
    for (int i = 0; i < 20; i++)
        assert_int_equal(qn_lanes_admit(l, QN_LANE_USER, key, 20, 600, T0 + i), QN_LANES_ADMIT);
    for (int i = 0; i < 2980; i++)
        assert_int_equal(qn_lanes_admit(l, QN_LANE_USER, key, 20, 600, T0 + 30), QN_LANES_OVER);
    /* Another user has a cap of its own. */
    qn_lanes_uid_key(4242, key);
    assert_int_equal(qn_lanes_admit(l, QN_LANE_USER, key, 20, 600, T0 + 30), QN_LANES_ADMIT);
    /* No summary while the window runs. */
    assert_false(qn_lanes_take_summary(l, T0 + 599, &cfg, &ev, &lane));
    assert_true(qn_lanes_take_summary(l, T0 + 600, &cfg, &ev, &lane));
    assert_int_equal(lane, QN_LANE_USER);
    assert_string_equal(ev.kind, "notify");
    assert_string_equal(ev.subject, "user root queued 2,980 notifications in 10 minutes");
    assert_string_equal(qn_event_get(&ev, "count"), "2,980");
    assert_string_equal(qn_event_get(&ev, "key"), "uid:0");
    assert_non_null(strstr(qn_event_get(&ev, "message"), "user_max"));
    assert_non_null(strstr(qn_event_get(&ev, "message"), "the 20 within the cap"));
    /* Once only; the other user counted nothing past the cap: no summary. */
    assert_false(qn_lanes_take_summary(l, T0 + 700, &cfg, &ev, &lane));
    /* A new window starts for the first user. */
    qn_lanes_uid_key(0, key);
    assert_int_equal(qn_lanes_admit(l, QN_LANE_USER, key, 20, 600, T0 + 700), QN_LANES_ADMIT);
    /* max 0: no cap. */
    assert_int_equal(qn_lanes_admit(l, QN_LANE_USER, "uid:7", 0, 600, T0), QN_LANES_ADMIT);
    free(l);
}

static void test_a_rule_summary_in_chinese(void **state)
{
    struct qn_lanes *l = new_lanes();
    struct qn_config cfg;
    struct qn_event ev;
    enum qn_lane lane;
    char key[QN_LANES_KEY_MAX];

    (void)state;
    qn_config_defaults(&cfg);
    cfg.language = QN_LANG_ZH;
    cfg.queue.cap_window_s = 3600;
    qn_lanes_rule_key("disk full/x", key);
    assert_string_equal(key, "rule:disk_full_x");
    for (int i = 0; i < 21; i++)
        (void)qn_lanes_admit(l, QN_LANE_JOURNAL, key, 20, 3600, T0);
    assert_true(qn_lanes_take_summary(l, T0 + 3600, &cfg, &ev, &lane));
    assert_int_equal(lane, QN_LANE_JOURNAL);
    assert_string_equal(ev.subject, "规则 disk_full_x 在 1 小时内触发了 1 次告警");
    assert_string_equal(qn_event_get(&ev, "rule"), "disk_full_x");
    free(l);
}

static void test_a_full_table_shares_the_catch_all_and_loses_no_count(void **state)
{
    struct qn_lanes *l = new_lanes();
    struct qn_config cfg;
    struct qn_event ev;
    enum qn_lane lane;
    char key[QN_LANES_KEY_MAX];
    size_t summaries = 0;
    bool other = false;

    (void)state;
    qn_config_defaults(&cfg);
    cfg.language = QN_LANG_EN;
    /* Every tracked key has something to report: none can make room. */
    for (unsigned u = 0; u < QN_LANES_KEYS_MAX - QN_LANES; u++) {
        qn_lanes_uid_key(1000 + u, key);
        (void)qn_lanes_admit(l, QN_LANE_USER, key, 1, 600, T0);
        (void)qn_lanes_admit(l, QN_LANE_USER, key, 1, 600, T0);
    }
    assert_true(l->n_keys <= QN_LANES_KEYS_MAX);
    assert_int_equal(qn_lanes_admit(l, QN_LANE_USER, "uid:99999", 1, 600, T0), QN_LANES_ADMIT);
    assert_int_equal(qn_lanes_admit(l, QN_LANE_USER, "uid:99999", 1, 600, T0), QN_LANES_OVER);
    while (qn_lanes_take_summary(l, T0 + 600, &cfg, &ev, &lane)) {
        summaries++;
        if (strcmp(qn_event_get(&ev, "key"), QN_LANES_OTHER_KEY) == 0) {
            other = true;
            assert_string_equal(ev.subject, "1 more alerts over their caps in 10 minutes");
        }
    }
    assert_true(other);
    assert_int_equal(summaries, QN_LANES_KEYS_MAX - QN_LANES + 1);
    free(l);
}

static void test_state_round_trips(void **state)
{
    struct qn_lanes *a = new_lanes(), *b = new_lanes();
    struct qn_buf text;

    (void)state;
    qn_lanes_record(a, QN_LANE_LOGIN, 2, T0 - 100);
    qn_lanes_record(a, QN_LANE_USER, 1, T0 - 50);
    (void)qn_lanes_admit(a, QN_LANE_USER, "uid:1001", 1, 600, T0 - 40);
    (void)qn_lanes_admit(a, QN_LANE_USER, "uid:1001", 1, 600, T0 - 30);
    qn_buf_init(&text, 65536);
    assert_int_equal(qn_lanes_format(a, T0, &text), QN_OK);
    assert_string_equal(text.data, "lanes 1\nevent 0 1795658300\nevent 0 1795658300\n"
                                   "event 2 1795658350\nkey 2 1795658360 1 1 uid:1001\n");
    assert_int_equal(qn_lanes_parse(b, text.data, text.len, T0), QN_OK);
    assert_int_equal(b->n_events[QN_LANE_LOGIN], 2);
    assert_int_equal(b->n_keys, 1);
    assert_true(b->keys[0].over == 1);
    qn_buf_free(&text);
    free(a);
    free(b);
}

static void test_state_is_clamped_to_what_could_be_true_now(void **state)
{
    struct qn_lanes *l = new_lanes();
    static const char planted[] = "lanes 1\n"
                                  "event 2 253402300799\n" /* the year 9999: a burst for ever */
                                  "key 2 253402300799 0 999999999999999 uid:1001\n";

    (void)state;
    assert_int_equal(qn_lanes_parse(l, planted, strlen(planted), T0), QN_OK);
    assert_true(l->events[QN_LANE_USER][0] == T0);
    assert_true(l->keys[0].start == T0);
    assert_true(l->keys[0].over == QN_LANES_COUNT_MAX);
    free(l);
}

static void test_damaged_state_is_refused_whole(void **state)
{
    static const char *const bad[] = {
        "",
        "lanes 2\n",
        "lanes 1\nevent 3 1\n",                    /* no such lane */
        "lanes 1\nevent 0 -1\n",                   /* a sign */
        "lanes 1\nevent 0 01\n",                   /* a leading zero */
        "lanes 1\nkey 2 1 0 0 uid:1\nevent 0 1\n", /* events after keys */
        "lanes 1\nkey 2 1 0 0 uid 1\n",            /* a blank in the key */
        "lanes 1\nkey 2 1 0 0 \n",                 /* no key */
        "lanes 1\nevent 0 1",                      /* cut */
        "lanes 1\nwhat 0 1\n",
    };
    struct qn_lanes *l = new_lanes();

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        l->n_keys = 3;
        assert_int_equal(qn_lanes_parse(l, bad[i], strlen(bad[i]), T0), QN_EINVAL);
        assert_int_equal(l->n_keys, 0);
        assert_int_equal(l->n_events[0], 0);
    }
    free(l);
}

static void test_a_user_lane_mail_says_who_sent_it(void **state)
{
    struct qn_spool_entry *e = calloc(3, sizeof(*e));
    const struct qn_spool_entry *es[3];
    struct qn_rendered r;
    char from[QN_LANES_MARK_MAX];

    (void)state;
    assert_non_null(e);
    for (int i = 0; i < 3; i++) {
        e[i].origin = QN_ORIGIN_USER;
        e[i].uid = 0;
        es[i] = &e[i];
    }
    e[2].origin = QN_ORIGIN_SYSTEM; /* a summary of the sender's own */
    memset(&r, 0, sizeof(r));
    qn_buf_init(&r.subject, QN_RENDER_SUBJECT_MAX - 1);
    assert_int_equal(qn_buf_puts(&r.subject, "[web1] digest of 3 alerts (10:00-10:05)"), QN_OK);
    assert_int_equal(qn_lanes_mark_user_mail(QN_LANG_EN, es, 3, true, &r, from, sizeof(from)),
                     QN_OK);
    assert_string_equal(from, "from user root");
    assert_string_equal(r.subject.data, "[web1] from user root: digest of 3 alerts (10:00-10:05)");
    /* Chinese, one event: the subject already says it (pickup.h), only the name is set. */
    assert_int_equal(qn_lanes_mark_user_mail(QN_LANG_ZH, es, 1, false, &r, from, sizeof(from)),
                     QN_OK);
    assert_string_equal(from, "来自用户 root");
    /* Only the sender's own entries: nothing to say. */
    assert_int_equal(qn_lanes_mark_user_mail(QN_LANG_EN, es + 2, 1, false, &r, from, sizeof(from)),
                     QN_OK);
    assert_string_equal(from, "");
    qn_rendered_free(&r);
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_flood_of_user_notifications_never_makes_a_login_a_burst),
        cmocka_unit_test(test_the_lanes_above_keep_a_reserve_of_the_limits),
        cmocka_unit_test(test_a_cap_admits_its_max_then_counts_and_summarises_once),
        cmocka_unit_test(test_a_rule_summary_in_chinese),
        cmocka_unit_test(test_a_full_table_shares_the_catch_all_and_loses_no_count),
        cmocka_unit_test(test_state_round_trips),
        cmocka_unit_test(test_state_is_clamped_to_what_could_be_true_now),
        cmocka_unit_test(test_damaged_state_is_refused_whole),
        cmocka_unit_test(test_a_user_lane_mail_says_who_sent_it),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
