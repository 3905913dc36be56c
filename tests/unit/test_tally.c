/*
 * Unit tests for common/tally.c: counting what was not mailed, the state
 * text (exact bytes, strict parsing, clamping), and the file's commit and
 * take under its lock on a temporary spool.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tally.h"
#include "tmpdir.h"

static const char *save(const struct qn_tally *t)
{
    static char out[4096];
    struct qn_buf b;

    qn_buf_init(&b, 4096);
    assert_int_equal(qn_tally_save(t, &b), QN_OK);
    snprintf(out, sizeof(out), "%.*s", (int)b.len, b.data);
    qn_buf_free(&b);
    return out;
}

static enum qn_status load(struct qn_tally *t, const char *text, long long now)
{
    return qn_tally_load(t, text, strlen(text), now);
}

static void test_counts_per_silence_and_known_logins_in_the_state_text(void **state)
{
    struct qn_tally t;

    (void)state;
    qn_tally_init(&t, 1000);
    assert_true(qn_tally_empty(&t));
    qn_tally_silenced(&t, "0123456789ab", 1500);
    qn_tally_silenced(&t, "ba9876543210", 1400);
    qn_tally_silenced(&t, "0123456789ab", 1200);
    qn_tally_known(&t, 1300);
    qn_tally_known(&t, 1350);
    assert_false(qn_tally_empty(&t));
    assert_int_equal(qn_tally_silenced_total(&t), 3);
    assert_int_equal(qn_tally_get(&t, "0123456789ab")->count, 2);
    assert_int_equal(qn_tally_get(&t, "ba9876543210")->first, 1400);
    assert_null(qn_tally_get(&t, "000000000000"));
    assert_string_equal(save(&t), "qqnotify-tally 1\n"
                                  "since 1000\n"
                                  "silenced 0123456789ab 2 1200 1500\n"
                                  "silenced ba9876543210 1 1400 1400\n"
                                  "known 2 1300 1350\n");
}

static void test_mailed_events_per_class_read_back_strictly(void **state)
{
    struct qn_tally t, back;

    (void)state;
    qn_tally_init(&t, 1000);
    qn_tally_mailed(&t, QN_SEVCLASS_LOGIN);
    qn_tally_mailed(&t, QN_SEVCLASS_ROOT_LOGIN);
    qn_tally_mailed(&t, QN_SEVCLASS_LOGIN);
    qn_tally_mailed(&t, (enum qn_severity_class)99); /* not a class: nothing */
    assert_false(qn_tally_empty(&t));
    assert_string_equal(save(&t), "qqnotify-tally 1\n"
                                  "since 1000\n"
                                  "mailed root_login 1\n"
                                  "mailed login 2\n");
    assert_int_equal(load(&back, save(&t), 2000), QN_OK);
    assert_int_equal(back.mailed[QN_SEVCLASS_LOGIN], 2);
    assert_int_equal(back.mailed[QN_SEVCLASS_ROOT_LOGIN], 1);
    qn_tally_merge(&back, &t);
    assert_int_equal(back.mailed[QN_SEVCLASS_LOGIN], 4);
    /* A class twice, out of order, unknown, or with a zero count: the whole file. */
    assert_int_equal(
        load(&back, "qqnotify-tally 1\nsince 1\nmailed login 1\nmailed login 1\n", 2000),
        QN_EINVAL);
    assert_int_equal(
        load(&back, "qqnotify-tally 1\nsince 1\nmailed login 1\nmailed sudo 1\n", 2000), QN_EINVAL);
    assert_int_equal(load(&back, "qqnotify-tally 1\nsince 1\nmailed backup 1\n", 2000), QN_EINVAL);
    assert_int_equal(load(&back, "qqnotify-tally 1\nsince 1\nmailed login 0\n", 2000), QN_EINVAL);
    assert_int_equal(load(&back, "qqnotify-tally 1\nsince 1\nmailed login\n", 2000), QN_EINVAL);
    assert_int_equal(load(&back, "qqnotify-tally 1\nsince 1\nmailed login 1\nknown 1 1 1\n", 2000),
                     QN_EINVAL);
}

static void test_ids_past_the_bound_are_still_counted(void **state)
{
    struct qn_tally *t = malloc(sizeof(*t));
    char id[16];

    (void)state;
    assert_non_null(t);
    qn_tally_init(t, 0);
    for (int i = 0; i < QN_TALLY_SILENCES_MAX + 3; i++) {
        snprintf(id, sizeof(id), "%012x", i);
        qn_tally_silenced(t, id, 10);
    }
    qn_tally_silenced(t, "not-an-id", 10);
    assert_int_equal(t->n, QN_TALLY_SILENCES_MAX);
    assert_int_equal(t->silenced_other, 4);
    assert_int_equal(qn_tally_silenced_total(t), QN_TALLY_SILENCES_MAX + 4);
    assert_non_null(strstr(save(t), "\nsilenced-other 4\n"));
    free(t);
}

static void test_the_text_reads_back_and_merges(void **state)
{
    struct qn_tally a, b;

    (void)state;
    assert_int_equal(load(&a,
                          "qqnotify-tally 1\nsince 5\nsilenced 0123456789ab 2 10 20\n"
                          "silenced-other 1\nknown 3 7 9\n",
                          100),
                     QN_OK);
    assert_int_equal(load(&b, "qqnotify-tally 1\nsince 50\nsilenced 0123456789ab 1 30 30\n", 100),
                     QN_OK);
    qn_tally_merge(&a, &b);
    assert_string_equal(save(&a), "qqnotify-tally 1\nsince 5\nsilenced 0123456789ab 3 10 30\n"
                                  "silenced-other 1\nknown 3 7 9\n");
}

static void test_times_are_clamped_to_now_and_first_to_last(void **state)
{
    struct qn_tally t;

    (void)state;
    assert_int_equal(load(&t,
                          "qqnotify-tally 1\nsince 99999\nsilenced 0123456789ab 1 90 80\n"
                          "known 1 99999 99999\n",
                          100),
                     QN_OK);
    assert_string_equal(save(&t), "qqnotify-tally 1\nsince 100\nsilenced 0123456789ab 1 80 80\n"
                                  "known 1 100 100\n");
}

static void test_a_bad_file_is_refused_whole(void **state)
{
    static const char *const bad[] = {
        "",
        "qqnotify-tally 2\nsince 1\n",
        "qqnotify-tally 1\n",
        "qqnotify-tally 1\nsince 1",
        "qqnotify-tally 1\nsince x\n",
        "qqnotify-tally 1\nsince 1\nsince 1\n",
        "qqnotify-tally 1\nsince 1\nsilenced 0123456789AB 1 1 1\n",
        "qqnotify-tally 1\nsince 1\nsilenced 0123456789ab 0 1 1\n",
        "qqnotify-tally 1\nsince 1\nsilenced 0123456789ab 1 1\n",
        "qqnotify-tally 1\nsince 1\nsilenced 0123456789ab 1 1 1 1\n",
        "qqnotify-tally 1\nsince 1\nsilenced 0123456789ab 1 1 1\nsilenced 0123456789ab 1 1 1\n",
        "qqnotify-tally 1\nsince 1\nknown 1 1 1\nsilenced 0123456789ab 1 1 1\n",
        "qqnotify-tally 1\nsince 1\nknown 1 1 1\nsilenced-other 2\n",
        "qqnotify-tally 1\nsince 1\nextra 1\n",
        "qqnotify-tally 1\nsince  1\n",
    };
    struct qn_tally t;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (load(&t, bad[i], 100) != QN_EINVAL)
            fail_msg("accepted: %s", bad[i]);
        assert_true(qn_tally_empty(&t));
    }
}

static void test_commit_adds_and_take_empties_the_file(void **state)
{
    char dir[64];
    struct qn_spool *sp;
    struct qn_tally add, got;

    (void)state;
    assert_int_equal(tmpdir_make(dir, sizeof(dir), "tally"), 0);
    assert_int_equal(qn_spool_open(dir, QN_SPOOL_CREATE, 0, &sp), QN_OK);
    assert_int_equal(qn_tally_read(sp, &got, 1000), QN_ENOTFOUND);
    qn_tally_init(&add, 0);
    qn_tally_silenced(&add, "0123456789ab", 900);
    assert_int_equal(qn_tally_commit(sp, &add, 1000), QN_OK);
    assert_int_equal(qn_tally_commit(sp, &add, 1001), QN_OK);
    assert_int_equal(qn_tally_read(sp, &got, 1002), QN_OK);
    assert_string_equal(save(&got), "qqnotify-tally 1\nsince 1000\n"
                                    "silenced 0123456789ab 2 900 900\n");
    /* the daily summary takes the counts; the file starts again */
    assert_int_equal(qn_tally_take(sp, &got, 2000), QN_OK);
    assert_int_equal(qn_tally_silenced_total(&got), 2);
    assert_int_equal(got.since, 1000);
    assert_int_equal(qn_tally_read(sp, &got, 2001), QN_OK);
    assert_true(qn_tally_empty(&got));
    assert_int_equal(got.since, 2000);
    /* an unreadable file gives way to the sender's counts */
    assert_int_equal(qn_spool_state_write(sp, QN_TALLY_STATE_NAME, "junk\n", 5), QN_OK);
    assert_int_equal(qn_tally_commit(sp, &add, 3000), QN_OK);
    assert_int_equal(qn_tally_read(sp, &got, 3001), QN_OK);
    assert_string_equal(save(&got), "qqnotify-tally 1\nsince 3000\n"
                                    "silenced 0123456789ab 1 900 900\n");
    qn_spool_close(sp);
    assert_int_equal(tmpdir_remove(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_per_silence_and_known_logins_in_the_state_text),
        cmocka_unit_test(test_mailed_events_per_class_read_back_strictly),
        cmocka_unit_test(test_ids_past_the_bound_are_still_counted),
        cmocka_unit_test(test_the_text_reads_back_and_merges),
        cmocka_unit_test(test_times_are_clamped_to_now_and_first_to_last),
        cmocka_unit_test(test_a_bad_file_is_refused_whole),
        cmocka_unit_test(test_commit_adds_and_take_empties_the_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
