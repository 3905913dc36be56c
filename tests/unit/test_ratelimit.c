/*
 * Unit tests for common/ratelimit.c: sliding windows exactly at their
 * boundaries, the time the next mail may go, halved limits and backoff
 * after a frequency-limit reply, the digest decision, and the state text
 * form (round trip, pruning, strict rejection of anything malformed).
 * All times are fixed; nothing reads the clock.
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

#include "ratelimit.h"

#define T0 1795658400LL /* 2026-11-26 02:00:00 UTC */

/* The QQ preset's limits. */
static const struct qn_ratelimit_config qq = {
    .max_per_minute = 5,
    .max_per_hour = 20,
    .max_per_day = 90,
    .digest_after = 3,
    .digest_window_s = 600,
};

/* struct qn_ratelimit is ~32 KiB: one per test, on the heap. */
static int setup(void **state)
{
    struct qn_ratelimit *rl = malloc(sizeof(*rl));

    if (rl == NULL)
        return -1;
    qn_ratelimit_init(rl);
    *state = rl;
    return 0;
}

static int teardown(void **state)
{
    free(*state);
    return 0;
}

static void send_at(struct qn_ratelimit *rl, long long t, unsigned count)
{
    while (count-- > 0)
        qn_ratelimit_record_sent(rl, t);
}

static void assert_available(const struct qn_ratelimit *rl, const struct qn_ratelimit_config *cfg,
                             long long now, unsigned want, long long want_next)
{
    long long next = -1;
    unsigned got = qn_ratelimit_available(rl, cfg, now, &next);

    if (got != want || next != want_next)
        fail_msg("at T0%+lld: available %u (want %u), next T0%+lld (want T0%+lld)", now - T0, got,
                 want, next - T0, want_next - T0);
}

/* ---- windows ---------------------------------------------------------------------------- */

static void test_fresh_state_allows_the_minute_limit(void **state)
{
    struct qn_ratelimit *rl = *state;

    assert_available(rl, &qq, T0, 5, T0);
    /* ret_next may be NULL. */
    assert_int_equal(qn_ratelimit_available(rl, &qq, T0, NULL), 5);
}

static void test_minute_window_frees_exactly_60_seconds_later(void **state)
{
    struct qn_ratelimit *rl = *state;

    send_at(rl, T0, 4);
    assert_available(rl, &qq, T0, 1, T0);
    send_at(rl, T0, 1);
    assert_available(rl, &qq, T0, 0, T0 + 60);
    assert_available(rl, &qq, T0 + 59, 0, T0 + 60);
    /* At T + 60 a mail sent at T no longer counts for the minute (15 left for the hour). */
    assert_available(rl, &qq, T0 + 60, 5, T0 + 60);
}

static void test_minute_window_slides(void **state)
{
    struct qn_ratelimit *rl = *state;
    long long i;

    for (i = 0; i < 5; i++)
        send_at(rl, T0 + 10 * i, 1); /* T0, +10, +20, +30, +40 */
    assert_available(rl, &qq, T0 + 40, 0, T0 + 60);
    assert_available(rl, &qq, T0 + 59, 0, T0 + 60);
    assert_available(rl, &qq, T0 + 60, 1, T0 + 60);
    assert_available(rl, &qq, T0 + 79, 2, T0 + 79);
    assert_available(rl, &qq, T0 + 100, 5, T0 + 100);
}

/* More in the window than the limit (the limit was lowered, or halved): free
 * only once enough of the oldest have left. */
static void test_next_when_window_holds_more_than_the_limit(void **state)
{
    struct qn_ratelimit *rl = *state;
    const struct qn_ratelimit_config two = {.max_per_minute = 2};
    long long i;

    for (i = 0; i < 5; i++)
        send_at(rl, T0 + 10 * i, 1); /* T0, +10, +20, +30, +40 */
    assert_available(rl, &two, T0 + 40, 0, T0 + 90);
    assert_available(rl, &two, T0 + 89, 0, T0 + 90);
    assert_available(rl, &two, T0 + 90, 1, T0 + 90);
}

static void test_hour_window_boundary(void **state)
{
    struct qn_ratelimit *rl = *state;
    long long i;

    for (i = 0; i < 20; i++)
        send_at(rl, T0 + 120 * i, 1); /* never 5 in a minute */
    assert_available(rl, &qq, T0 + 19 * 120 + 60, 0, T0 + 3600);
    assert_available(rl, &qq, T0 + 3599, 0, T0 + 3600);
    assert_available(rl, &qq, T0 + 3600, 1, T0 + 3600);
    assert_available(rl, &qq, T0 + 3600 + 120, 2, T0 + 3600 + 120);
}

static void test_day_window_boundary(void **state)
{
    struct qn_ratelimit *rl = *state;
    long long i;

    for (i = 0; i < 90; i++)
        send_at(rl, T0 + 900 * i, 1); /* 4 an hour */
    assert_available(rl, &qq, T0 + 89 * 900 + 1, 0, T0 + 86400);
    assert_available(rl, &qq, T0 + 86399, 0, T0 + 86400);
    assert_available(rl, &qq, T0 + 86400, 1, T0 + 86400);
}

static void test_next_is_the_latest_of_blocking_windows(void **state)
{
    struct qn_ratelimit *rl = *state;
    const struct qn_ratelimit_config cfg = {.max_per_minute = 2, .max_per_hour = 3};

    send_at(rl, T0, 1);
    send_at(rl, T0 + 30, 2);
    /* Minute: full until T0+90 (both at +30 leave); hour: full until T0+3600. */
    assert_available(rl, &cfg, T0 + 31, 0, T0 + 3600);
}

static void test_zero_means_no_limit_and_large_limits_are_capped(void **state)
{
    struct qn_ratelimit *rl = *state;
    const struct qn_ratelimit_config none = {0};
    const struct qn_ratelimit_config huge = {.max_per_day = 100000};

    assert_available(rl, &none, T0, QN_RATELIMIT_SENT_MAX, T0);
    send_at(rl, T0, QN_RATELIMIT_SENT_MAX + 5);
    assert_int_equal(rl->n_sent, QN_RATELIMIT_SENT_MAX);
    assert_available(rl, &none, T0, QN_RATELIMIT_SENT_MAX, T0);
    /* The state cannot remember more than SENT_MAX mails: that is the honoured day limit. */
    assert_available(rl, &huge, T0, 0, T0 + 86400);
}

static void test_clock_stepping_back_keeps_entries_ascending(void **state)
{
    struct qn_ratelimit *rl = *state;

    send_at(rl, T0 + 100, 1);
    send_at(rl, T0, 1);
    assert_int_equal(rl->n_sent, 2);
    assert_true(rl->sent[1] == T0 + 100);
    /* Both still count: the minute frees at T0 + 160, not earlier. */
    send_at(rl, T0, 3);
    assert_available(rl, &qq, T0 + 120, 0, T0 + 160);
}

static void test_times_out_of_range_are_clamped(void **state)
{
    struct qn_ratelimit *rl = *state;

    send_at(rl, -5, 1);
    assert_true(rl->sent[0] == 0);
    /* The entry at 0 is far more than a day older: pruned. */
    send_at(rl, (long long)9e18, 1);
    assert_int_equal(rl->n_sent, 1);
    assert_true(rl->sent[0] == QN_RATELIMIT_TIME_MAX);
    assert_int_equal(qn_ratelimit_available(rl, &qq, (long long)9e18, NULL), 4);
}

/* ---- penalties ---------------------------------------------------------------------------- */

static void test_penalize_backs_off_doubling_to_the_cap(void **state)
{
    struct qn_ratelimit *rl = *state;
    static const long long want[] = {60, 120, 240, 480, 960, 1920, 3600, 3600};
    size_t i;

    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        qn_ratelimit_penalize(rl, T0);
        assert_true(rl->backoff_s == want[i]);
        assert_true(rl->backoff_until == T0 + want[i]);
        assert_true(rl->slow_until == T0 + 86400);
    }
}

static void test_no_mail_during_backoff(void **state)
{
    struct qn_ratelimit *rl = *state;

    qn_ratelimit_penalize(rl, T0);
    assert_available(rl, &qq, T0, 0, T0 + 60);
    assert_available(rl, &qq, T0 + 59, 0, T0 + 60);
    /* Halved limits after the backoff: 5/min → 2. */
    assert_available(rl, &qq, T0 + 60, 2, T0 + 60);
}

/* DingTalk blocks a robot 10 minutes after its limit: the backoff alone (60 s) would
 * send into the block. */
static void test_a_provider_block_is_waited_out_after_its_reply(void **state)
{
    struct qn_ratelimit *rl = *state;
    struct qn_ratelimit_config ding = {.max_per_minute = 20, .block_s = 600};
    struct qn_ratelimit_block why;

    qn_ratelimit_penalize(rl, T0);
    assert_available(rl, &ding, T0 + 60, 0, T0 + 600);
    assert_available(rl, &ding, T0 + 599, 0, T0 + 600);
    assert_available(rl, &ding, T0 + 600, 10, T0 + 600);
    qn_ratelimit_explain(rl, &ding, T0 + 300, &why);
    assert_int_equal(why.limit, QN_RATELIMIT_BACKOFF);
    assert_true(why.next == T0 + 600);
    /* A backoff longer than the block wins; a success ends both. */
    ding.block_s = 30;
    assert_available(rl, &ding, T0 + 30, 0, T0 + 60);
    ding.block_s = 600;
    send_at(rl, T0 + 700, 1);
    assert_available(rl, &ding, T0 + 701, 9, T0 + 701);
}

static void test_success_resets_backoff_but_not_slow_mode(void **state)
{
    struct qn_ratelimit *rl = *state;

    qn_ratelimit_penalize(rl, T0);
    qn_ratelimit_penalize(rl, T0 + 60);
    qn_ratelimit_penalize(rl, T0 + 180);
    assert_true(rl->backoff_s == 240);
    send_at(rl, T0 + 500, 1);
    assert_true(rl->backoff_s == 0);
    assert_true(rl->backoff_until == 0);
    assert_true(rl->slow_until == T0 + 180 + 86400);
    qn_ratelimit_penalize(rl, T0 + 600);
    assert_true(rl->backoff_s == 60);
}

static void test_slow_mode_halves_minute_and_hour_for_a_day(void **state)
{
    struct qn_ratelimit *rl = *state;
    const struct qn_ratelimit_config ones = {
        .max_per_minute = 1, .max_per_hour = 3, .max_per_day = 90};
    long long i;

    qn_ratelimit_penalize(rl, T0);
    /* 20/hour → 10: ten mails, one every 2 minutes, fill the halved hour. */
    for (i = 0; i < 10; i++)
        send_at(rl, T0 + 60 + 120 * i, 1);
    assert_available(rl, &qq, T0 + 60 + 120 * 9 + 60, 0, T0 + 60 + 3600);
    /* A limit of 1 stays 1; 3 becomes 1. */
    qn_ratelimit_init(rl);
    qn_ratelimit_penalize(rl, T0);
    assert_available(rl, &ones, T0 + 60, 1, T0 + 60);
    send_at(rl, T0 + 60, 1);
    assert_available(rl, &ones, T0 + 120, 0, T0 + 60 + 3600);
    /* Halving 1 must not give 0, which would mean "no limit". */
    qn_ratelimit_init(rl);
    qn_ratelimit_penalize(rl, T0);
    send_at(rl, T0 + 60, 1);
    assert_available(rl, &(struct qn_ratelimit_config){.max_per_minute = 1}, T0 + 90, 0, T0 + 120);
    /* The day after the penalty the limits are whole again. */
    assert_available(rl, &qq, T0 + 86400, 5, T0 + 86400);
    assert_available(rl, &qq, T0 + 86399, 2, T0 + 86399);
}

static void test_next_when_slow_mode_ends_first(void **state)
{
    struct qn_ratelimit *rl = *state;
    const struct qn_ratelimit_config hourly = {.max_per_hour = 20};
    const long long s = T0 + 86000;

    qn_ratelimit_penalize(rl, T0); /* halved until T0 + 86400 */
    send_at(rl, s, 10);
    /* Halved: 10/hour is full until s + 3600, but at T0 + 86400 the limit is 20 again. */
    assert_available(rl, &hourly, s + 1, 0, T0 + 86400);
    assert_available(rl, &hourly, T0 + 86400, 10, T0 + 86400);
}

/* ---- digests ------------------------------------------------------------------------------- */

/* ---- what holds a mail back ---------------------------------------------------------- */

static void assert_block(const struct qn_ratelimit *rl, long long now,
                         enum qn_ratelimit_limit limit, unsigned allowed, bool halved,
                         long long next)
{
    struct qn_ratelimit_block b;

    memset(&b, 0x5a, sizeof(b));
    qn_ratelimit_explain(rl, &qq, now, &b);
    if (b.limit != limit || b.allowed != allowed || b.halved != halved || b.next != next)
        fail_msg("at T0%+lld: limit %d allowed %u halved %d next T0%+lld "
                 "(want %d %u %d T0%+lld)",
                 now - T0, (int)b.limit, b.allowed, (int)b.halved, b.next - T0, (int)limit, allowed,
                 (int)halved, next - T0);
}

static void test_explain_names_the_window_that_frees_last(void **state)
{
    struct qn_ratelimit *rl = *state;

    assert_block(rl, T0, QN_RATELIMIT_NONE, 0, false, T0);
    send_at(rl, T0, 5);
    /* 5 in a minute: the minute is full, free at T0 + 60. */
    assert_block(rl, T0 + 1, QN_RATELIMIT_MINUTE, 5, false, T0 + 60);
    send_at(rl, T0 + 120, 5);
    send_at(rl, T0 + 240, 5);
    send_at(rl, T0 + 360, 5);
    /* 20 in the hour and 5 in this minute: the hour frees last (T0 + 3600). */
    assert_block(rl, T0 + 361, QN_RATELIMIT_HOUR, 20, false, T0 + 3600);
    assert_block(rl, T0 + 3600, QN_RATELIMIT_NONE, 0, false, T0 + 3600);
}

static void test_explain_names_the_day_and_the_backoff(void **state)
{
    struct qn_ratelimit *rl = *state;
    long long t;

    /* 90 mails, 5 every 3600 s + 1: neither minute nor hour is full at the end. */
    for (t = T0; rl->n_sent < 90; t += 3601)
        send_at(rl, t, 5);
    assert_block(rl, t, QN_RATELIMIT_DAY, 90, false, T0 + 86400);

    qn_ratelimit_init(rl);
    qn_ratelimit_penalize(rl, T0);
    assert_block(rl, T0 + 1, QN_RATELIMIT_BACKOFF, 0, false, T0 + QN_RATELIMIT_BACKOFF_MIN);
}

static void test_explain_says_when_a_limit_is_halved(void **state)
{
    struct qn_ratelimit *rl = *state;

    qn_ratelimit_penalize(rl, T0);
    send_at(rl, T0 + 60, 2); /* the first success ends the backoff, not the slow mode */
    assert_block(rl, T0 + 61, QN_RATELIMIT_MINUTE, 2, true, T0 + 120);
}

static void test_digest_when_events_in_window_exceed_digest_after(void **state)
{
    struct qn_ratelimit *rl = *state;

    assert_false(qn_ratelimit_should_digest(rl, &qq, 0, T0));
    assert_false(qn_ratelimit_should_digest(rl, &qq, 3, T0));
    assert_true(qn_ratelimit_should_digest(rl, &qq, 4, T0));
    qn_ratelimit_record_events(rl, 2, T0);
    assert_false(qn_ratelimit_should_digest(rl, &qq, 1, T0 + 10));
    assert_true(qn_ratelimit_should_digest(rl, &qq, 2, T0 + 10));
    assert_true(qn_ratelimit_should_digest(rl, &qq, 2, T0 + 599));
    /* At T + digest_window the events recorded at T have left the window. */
    assert_false(qn_ratelimit_should_digest(rl, &qq, 3, T0 + 600));
}

static void test_digest_when_fewer_mails_may_go_than_pending(void **state)
{
    struct qn_ratelimit *rl = *state;
    const struct qn_ratelimit_config no_count = {.max_per_minute = 5,
                                                 .max_per_hour = 20,
                                                 .max_per_day = 90,
                                                 .digest_after = 0,
                                                 .digest_window_s = 600};

    qn_ratelimit_record_events(rl, 100, T0);
    assert_false(qn_ratelimit_should_digest(rl, &no_count, 5, T0));
    assert_true(qn_ratelimit_should_digest(rl, &no_count, 6, T0));
    qn_ratelimit_penalize(rl, T0);
    assert_true(qn_ratelimit_should_digest(rl, &no_count, 1, T0 + 1));
}

static void test_record_events_is_bounded(void **state)
{
    struct qn_ratelimit *rl = *state;

    qn_ratelimit_record_events(rl, 5, T0);
    qn_ratelimit_record_events(rl, QN_RATELIMIT_EVENTS_MAX - 2, T0 + 1);
    assert_int_equal(rl->n_events, QN_RATELIMIT_EVENTS_MAX);
    assert_true(rl->events[0] == T0);
    assert_true(rl->events[2] == T0 + 1);
    qn_ratelimit_record_events(rl, (size_t)-1, T0 + 2);
    assert_int_equal(rl->n_events, QN_RATELIMIT_EVENTS_MAX);
    assert_true(rl->events[0] == T0 + 2);
    /* A day later the old entries are pruned on the next record. */
    qn_ratelimit_record_events(rl, 1, T0 + 2 + 86400);
    assert_int_equal(rl->n_events, 1);
}

/* ---- state text ------------------------------------------------------------------------- */

static void test_save_writes_the_documented_form(void **state)
{
    struct qn_ratelimit *rl = *state;
    struct qn_buf b;
    char want[512];

    send_at(rl, T0, 1);
    send_at(rl, T0 + 100, 2);
    qn_ratelimit_record_events(rl, 2, T0 + 50);
    qn_ratelimit_penalize(rl, T0 + 200);
    qn_buf_init(&b, QN_RATELIMIT_STATE_MAX);
    /* A day after T0: the mail sent at T0 is dropped, the rest kept. */
    assert_int_equal(qn_ratelimit_save(rl, T0 + 86400, &b), QN_OK);
    snprintf(want, sizeof(want),
             "ratelimit 1\nbackoff_until %lld\nbackoff_s 60\nslow_until %lld\n"
             "sent %lld\nsent %lld\nevent %lld\nevent %lld\n",
             T0 + 260, T0 + 200 + 86400, T0 + 100, T0 + 100, T0 + 50, T0 + 50);
    assert_string_equal(b.data, want);
    qn_buf_free(&b);
}

static void test_save_load_round_trip(void **state)
{
    struct qn_ratelimit *rl = *state;
    struct qn_ratelimit *back = malloc(sizeof(*back));
    struct qn_buf a, b;
    long long i;

    assert_non_null(back);
    for (i = 0; i < 90; i++)
        send_at(rl, T0 + 500 * i, 1);
    qn_ratelimit_record_events(rl, 7, T0 + 44000);
    qn_ratelimit_penalize(rl, T0 + 44500);
    qn_ratelimit_penalize(rl, T0 + 44600);
    qn_buf_init(&a, QN_RATELIMIT_STATE_MAX);
    qn_buf_init(&b, QN_RATELIMIT_STATE_MAX);
    assert_int_equal(qn_ratelimit_save(rl, T0 + 44700, &a), QN_OK);
    assert_int_equal(qn_ratelimit_load(back, a.data, a.len), QN_OK);
    assert_true(back->backoff_until == rl->backoff_until);
    assert_true(back->backoff_s == 120);
    assert_true(back->slow_until == rl->slow_until);
    assert_int_equal(back->n_sent, 90);
    assert_memory_equal(back->sent, rl->sent, 90 * sizeof(rl->sent[0]));
    assert_int_equal(back->n_events, 7);
    assert_memory_equal(back->events, rl->events, 7 * sizeof(rl->events[0]));
    assert_int_equal(qn_ratelimit_available(back, &qq, T0 + 44700, NULL),
                     qn_ratelimit_available(rl, &qq, T0 + 44700, NULL));
    assert_int_equal(qn_ratelimit_save(back, T0 + 44700, &b), QN_OK);
    assert_string_equal(a.data, b.data);
    qn_buf_free(&a);
    qn_buf_free(&b);
    free(back);
}

static void test_save_is_all_or_nothing(void **state)
{
    struct qn_ratelimit *rl = *state;
    struct qn_buf b;

    send_at(rl, T0, 50);
    qn_buf_init(&b, 200);
    assert_int_equal(qn_buf_puts(&b, "keep"), QN_OK);
    assert_int_equal(qn_ratelimit_save(rl, T0, &b), QN_ETOOBIG);
    assert_string_equal(b.data, "keep");
    qn_buf_free(&b);
}

static void test_full_state_fits_the_stated_maximum(void **state)
{
    struct qn_ratelimit *rl = *state;
    struct qn_buf b;

    send_at(rl, QN_RATELIMIT_TIME_MAX, QN_RATELIMIT_SENT_MAX);
    qn_ratelimit_record_events(rl, QN_RATELIMIT_EVENTS_MAX, QN_RATELIMIT_TIME_MAX);
    qn_ratelimit_penalize(rl, QN_RATELIMIT_TIME_MAX);
    qn_buf_init(&b, QN_RATELIMIT_STATE_MAX);
    assert_int_equal(qn_ratelimit_save(rl, QN_RATELIMIT_TIME_MAX, &b), QN_OK);
    assert_int_equal(qn_ratelimit_load(rl, b.data, b.len), QN_OK);
    assert_int_equal(rl->n_sent, QN_RATELIMIT_SENT_MAX);
    assert_int_equal(rl->n_events, QN_RATELIMIT_EVENTS_MAX);
    qn_buf_free(&b);
}

#define HEAD "ratelimit 1\nbackoff_until 0\nbackoff_s 0\nslow_until 0\n"

static void test_load_accepts_minimal_and_list_only_states(void **state)
{
    struct qn_ratelimit *rl = *state;
    static const char events_only[] = HEAD "event 5\nevent 5\n";
    static const char backoff[] = "ratelimit 1\nbackoff_until 1000\nbackoff_s 3600\n"
                                  "slow_until 2000\nsent 0\n";

    assert_int_equal(qn_ratelimit_load(rl, HEAD, strlen(HEAD)), QN_OK);
    assert_int_equal(rl->n_sent, 0);
    assert_int_equal(qn_ratelimit_load(rl, events_only, strlen(events_only)), QN_OK);
    assert_int_equal(rl->n_events, 2);
    assert_int_equal(qn_ratelimit_load(rl, backoff, strlen(backoff)), QN_OK);
    assert_true(rl->backoff_s == 3600 && rl->backoff_until == 1000 && rl->slow_until == 2000);
    assert_int_equal(rl->n_sent, 1);
}

static void test_load_rejects_malformed_state(void **state)
{
    struct qn_ratelimit *rl = *state;
    static const char *const bad[] = {
        "",
        "\n",
        "ratelimit 2\nbackoff_until 0\nbackoff_s 0\nslow_until 0\n",
        "ratelimit 1\n",
        "backoff_until 0\nbackoff_s 0\nslow_until 0\n",
        "ratelimit 1\nbackoff_until 0\nbackoff_s 0\nslow_until 0",   /* cut last line */
        "ratelimit 1\nbackoff_s 0\nbackoff_until 0\nslow_until 0\n", /* reordered */
        "ratelimit 1\nbackoff_until 0\nbackoff_s 0\n",               /* missing line */
        "ratelimit 1\nratelimit 1\nbackoff_until 0\nbackoff_s 0\nslow_until 0\n",
        HEAD "slow_until 0\n",    /* duplicate */
        HEAD "foo 1\n",           /* unknown */
        HEAD "\n",                /* empty line */
        HEAD "event 1\nsent 2\n", /* sent after event */
        HEAD "sent 2\nsent 1\n",  /* descending */
        HEAD "event 9\nevent 8\n",
        HEAD "sent 01\n", /* not canonical */
        HEAD "sent -1\n",
        HEAD "sent +1\n",
        HEAD "sent \n",
        HEAD "sent 1 \n",
        HEAD "sent  1\n",
        HEAD "sent 1\r\n",
        HEAD "sent 0x10\n",
        HEAD "sent 253402300800\n", /* past TIME_MAX */
        HEAD "sent 99999999999999999999999\n",
        HEAD "sent\n",
        "ratelimit 1\nbackoff_until 100\nbackoff_s 30\nslow_until 0\n", /* below minimum */
        "ratelimit 1\nbackoff_until 100\nbackoff_s 7200\nslow_until 0\n",
        "ratelimit 1\nbackoff_until 0\nbackoff_s 60\nslow_until 0\n", /* one without other */
        "ratelimit 1\nbackoff_until 100\nbackoff_s 0\nslow_until 0\n",
        "Ratelimit 1\nbackoff_until 0\nbackoff_s 0\nslow_until 0\n",
    };
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        send_at(rl, T0, 3);
        qn_ratelimit_penalize(rl, T0);
        if (qn_ratelimit_load(rl, bad[i], strlen(bad[i])) != QN_EINVAL)
            fail_msg("accepted bad state %zu: \"%s\"", i, bad[i]);
        /* Rejected: the state is empty, not half-loaded. */
        assert_int_equal(rl->n_sent, 0);
        assert_int_equal(rl->n_events, 0);
        assert_true(rl->backoff_until == 0 && rl->backoff_s == 0 && rl->slow_until == 0);
    }
}

static void test_load_rejects_nul_and_null(void **state)
{
    struct qn_ratelimit *rl = *state;
    static const char nul[] = "ratelimit 1\nbackoff_until 0\nbackoff_s 0\nslow_until 0\nsent 1\0\n";

    assert_int_equal(qn_ratelimit_load(rl, nul, sizeof(nul) - 1), QN_EINVAL);
    assert_int_equal(qn_ratelimit_load(rl, NULL, 0), QN_EINVAL);
}

static void test_load_rejects_too_many_entries(void **state)
{
    struct qn_ratelimit *rl = *state;
    struct qn_buf b;
    size_t i;

    qn_buf_init(&b, QN_RATELIMIT_STATE_MAX + 64);
    assert_int_equal(qn_buf_puts(&b, HEAD), QN_OK);
    for (i = 0; i < QN_RATELIMIT_SENT_MAX; i++)
        assert_int_equal(qn_buf_puts(&b, "sent 7\n"), QN_OK);
    assert_int_equal(qn_ratelimit_load(rl, b.data, b.len), QN_OK);
    assert_int_equal(rl->n_sent, QN_RATELIMIT_SENT_MAX);
    assert_int_equal(qn_buf_puts(&b, "sent 7\n"), QN_OK);
    assert_int_equal(qn_ratelimit_load(rl, b.data, b.len), QN_EINVAL);
    assert_int_equal(rl->n_sent, 0);

    qn_buf_reset(&b);
    assert_int_equal(qn_buf_puts(&b, HEAD), QN_OK);
    for (i = 0; i <= QN_RATELIMIT_EVENTS_MAX; i++)
        assert_int_equal(qn_buf_puts(&b, "event 7\n"), QN_OK);
    assert_int_equal(qn_ratelimit_load(rl, b.data, b.len), QN_EINVAL);
    qn_buf_free(&b);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

/* state/ratelimit can be written by the spool's user: what a well-formed file may claim is
 * clamped to what this module could have written by now (issue: a backoff until 9999). */
static void test_clamp_keeps_a_planted_state_from_stopping_the_sender(void **state)
{
    struct qn_ratelimit *rl = *state;
    static const char planted[] = "ratelimit 1\nbackoff_until 253402300799\nbackoff_s 3600\n"
                                  "slow_until 253402300799\nsent 253402300799\n"
                                  "sent 253402300799\nevent 253402300799\n";
    long long next = 0;

    assert_int_equal(qn_ratelimit_load(rl, planted, strlen(planted)), QN_OK);
    assert_int_equal(qn_ratelimit_available(rl, &qq, T0, &next), 0);
    assert_true(next == QN_RATELIMIT_TIME_MAX); /* as loaded: held until the year 9999 */
    assert_true(qn_ratelimit_clamp(rl, T0));
    assert_true(rl->backoff_until == T0 + 3600);
    assert_true(rl->slow_until == T0 + QN_RATELIMIT_SLOW_S);
    assert_true(rl->sent[0] == T0 && rl->sent[1] == T0);
    assert_true(rl->events[0] == T0);
    assert_int_equal(qn_ratelimit_available(rl, &qq, T0, &next), 0);
    assert_true(next == T0 + 3600); /* at most the longest backoff */
    assert_int_equal(qn_ratelimit_available(rl, &qq, T0 + 3600, NULL), 2); /* halved: 5 / 2 */
    /* A true state is left as it is. */
    qn_ratelimit_init(rl);
    qn_ratelimit_penalize(rl, T0);
    send_at(rl, T0 - 10, 2);
    assert_false(qn_ratelimit_clamp(rl, T0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_clamp_keeps_a_planted_state_from_stopping_the_sender),
        T(test_fresh_state_allows_the_minute_limit),
        T(test_minute_window_frees_exactly_60_seconds_later),
        T(test_minute_window_slides),
        T(test_next_when_window_holds_more_than_the_limit),
        T(test_hour_window_boundary),
        T(test_day_window_boundary),
        T(test_next_is_the_latest_of_blocking_windows),
        T(test_zero_means_no_limit_and_large_limits_are_capped),
        T(test_clock_stepping_back_keeps_entries_ascending),
        T(test_times_out_of_range_are_clamped),
        T(test_penalize_backs_off_doubling_to_the_cap),
        T(test_no_mail_during_backoff),
        T(test_a_provider_block_is_waited_out_after_its_reply),
        T(test_success_resets_backoff_but_not_slow_mode),
        T(test_slow_mode_halves_minute_and_hour_for_a_day),
        T(test_next_when_slow_mode_ends_first),
        T(test_explain_names_the_window_that_frees_last),
        T(test_explain_names_the_day_and_the_backoff),
        T(test_explain_says_when_a_limit_is_halved),
        T(test_digest_when_events_in_window_exceed_digest_after),
        T(test_digest_when_fewer_mails_may_go_than_pending),
        T(test_record_events_is_bounded),
        T(test_save_writes_the_documented_form),
        T(test_save_load_round_trip),
        T(test_save_is_all_or_nothing),
        T(test_full_state_fits_the_stated_maximum),
        T(test_load_accepts_minimal_and_list_only_states),
        T(test_load_rejects_malformed_state),
        T(test_load_rejects_nul_and_null),
        T(test_load_rejects_too_many_entries),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
