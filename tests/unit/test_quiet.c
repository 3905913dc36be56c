/*
 * Unit tests for common/quiet.c: parsing "HH:MM-HH:MM", inside/outside at
 * the edges (start inclusive, end exclusive), windows over midnight, the
 * end of the hours in the local time zone (TZ set by the test: Asia/Shanghai,
 * UTC, and Europe/Berlin across both daylight-saving changes), and which
 * severities are held.  The clock is a parameter; nothing reads it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "quiet.h"

static void use_tz(const char *tz)
{
    assert_int_equal(setenv("TZ", tz, 1), 0);
    tzset();
}

/* Seconds since the epoch of a local wall-clock time in the current TZ. */
static long long local(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_isdst = -1};

    return (long long)mktime(&tm);
}

static struct qn_quiet parse_ok(const char *text)
{
    struct qn_quiet q;

    memset(&q, 0, sizeof(q));
    assert_int_equal(qn_quiet_parse(text, &q), QN_OK);
    assert_true(q.set);
    return q;
}

static void test_parse_accepts_clock_ranges_only(void **state)
{
    struct qn_quiet q = parse_ok("23:00-07:00");

    (void)state;
    assert_int_equal(q.start_min, 23 * 60);
    assert_int_equal(q.end_min, 7 * 60);
    q = parse_ok(" 12:30 - 13:45 ");
    assert_int_equal(q.start_min, 12 * 60 + 30);
    q = parse_ok("00:00-24:00");
    assert_int_equal(q.end_min, 1440);
    static const char *const bad[] = {"",
                                      "23:00",
                                      "23-07",
                                      "23:00-07:00x",
                                      "7:00-9:00",
                                      "24:00-07:00",
                                      "23:60-07:00",
                                      "08:00-08:00",
                                      "23:00~07:00",
                                      "00:00-00:00",
                                      "25:00-01:00",
                                      "ab:cd-ef:gh"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct qn_quiet untouched = {0};

        if (qn_quiet_parse(bad[i], &untouched) != QN_EINVAL)
            fail_msg("accepted \"%s\"", bad[i]);
        assert_false(untouched.set);
    }
}

static void test_over_midnight_in_shanghai(void **state)
{
    struct qn_quiet q = parse_ok("23:00-07:00");
    long long end = 0;

    (void)state;
    use_tz("Asia/Shanghai");
    assert_false(qn_quiet_contains(&q, local(2026, 11, 26, 22, 59), &end));
    assert_true(qn_quiet_contains(&q, local(2026, 11, 26, 23, 0), &end));
    assert_int_equal(end, local(2026, 11, 27, 7, 0));
    assert_true(qn_quiet_contains(&q, local(2026, 11, 27, 3, 15), &end));
    assert_int_equal(end, local(2026, 11, 27, 7, 0));
    assert_true(qn_quiet_contains(&q, local(2026, 11, 27, 6, 59), &end));
    assert_false(qn_quiet_contains(&q, local(2026, 11, 27, 7, 0), &end));
    /* the same instant is 15:00 UTC: outside in UTC */
    long long t = local(2026, 11, 26, 23, 0);
    use_tz("UTC");
    assert_false(qn_quiet_contains(&q, t, &end));
}

static void test_daytime_window_and_unset(void **state)
{
    struct qn_quiet q = parse_ok("12:00-13:30"), none = {0};
    long long end = 0;

    (void)state;
    use_tz("UTC");
    assert_true(qn_quiet_contains(&q, local(2026, 1, 5, 12, 0), &end));
    assert_int_equal(end, local(2026, 1, 5, 13, 30));
    assert_false(qn_quiet_contains(&q, local(2026, 1, 5, 13, 30), &end));
    assert_false(qn_quiet_contains(&q, local(2026, 1, 5, 11, 59), NULL));
    assert_false(qn_quiet_contains(&none, local(2026, 1, 5, 12, 0), NULL));
}

static void test_daylight_saving_nights_in_berlin(void **state)
{
    struct qn_quiet q = parse_ok("23:00-07:00"), gap = parse_ok("01:00-02:30");
    long long end = 0;

    (void)state;
    use_tz("Europe/Berlin");
    /* 2026-10-25: clocks go back at 03:00 -> 02:00; the night is nine hours long */
    assert_true(qn_quiet_contains(&q, local(2026, 10, 24, 23, 0), &end));
    assert_int_equal(end - local(2026, 10, 24, 23, 0), 9 * 3600);
    /* 2026-03-29: 02:00 becomes 03:00; 02:30 does not exist: the hours end right after
     * the gap, never before the time judged */
    assert_true(qn_quiet_contains(&gap, local(2026, 3, 29, 1, 30), &end));
    assert_true(end > local(2026, 3, 29, 1, 30));
    assert_true(end <= local(2026, 3, 29, 3, 30));
    assert_false(qn_quiet_contains(&gap, end, NULL));
}

static void test_only_non_critical_alerts_are_held(void **state)
{
    struct qn_quiet q = parse_ok("23:00-07:00");
    long long until = 0, t;

    (void)state;
    use_tz("Asia/Shanghai");
    t = local(2026, 11, 27, 1, 0);
    assert_true(qn_quiet_holds(&q, QN_SEVERITY_INFO, t, &until));
    assert_int_equal(until, local(2026, 11, 27, 7, 0));
    assert_true(qn_quiet_holds(&q, QN_SEVERITY_WARNING, t, &until));
    assert_false(qn_quiet_holds(&q, QN_SEVERITY_CRITICAL, t, &until));
    assert_false(qn_quiet_holds(&q, QN_SEVERITY_WARNING, local(2026, 11, 27, 12, 0), &until));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_accepts_clock_ranges_only),
        cmocka_unit_test(test_over_midnight_in_shanghai),
        cmocka_unit_test(test_daytime_window_and_unset),
        cmocka_unit_test(test_daylight_saving_nights_in_berlin),
        cmocka_unit_test(test_only_non_critical_alerts_are_held),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
