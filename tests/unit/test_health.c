/*
 * Unit tests for common/health.c: the failover decisions of a route's
 * record, the exact state text, its clamped reading, and the merge of two
 * senders' commits into one state/routes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "health.h"
#include "spool.h"
#include "tmpdir.h"

#define T0 1795658400LL /* 2026-11-26 02:00:00 UTC */

struct fixture {
    char dir[64];
    struct qn_spool *sp;
    struct qn_health a, b; /* two senders' views */
    struct qn_buf out;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL || tmpdir_make(f->dir, sizeof(f->dir), "health") != 0 ||
        qn_spool_open(f->dir, QN_SPOOL_CREATE, 0, &f->sp) != QN_OK)
        return -1;
    qn_health_init(&f->a);
    qn_health_init(&f->b);
    qn_buf_init(&f->out, QN_SPOOL_STATE_MAX);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc;

    qn_spool_close(f->sp);
    rc = tmpdir_remove(f->dir);
    qn_buf_free(&f->out);
    free(f);
    return rc;
}

static const char *text_of(struct fixture *f, const struct qn_health *h)
{
    qn_buf_reset(&f->out);
    assert_int_equal(qn_health_format(h, &f->out), QN_OK);
    return f->out.data;
}

static void test_an_authentication_failure_makes_the_route_unhealthy_at_once(void **state)
{
    struct fixture *f = *state;
    const struct qn_route_health *r;

    assert_true(qn_health_fail(&f->a, "smtp", QN_HEALTH_BLOCKING, "qq.auth.535",
                               "AUTH: 535 Login fail", 600, T0 + 60, T0));
    r = qn_health_find(&f->a, "smtp");
    assert_non_null(r);
    assert_int_equal(r->down_since, T0);
    assert_int_equal(r->retry_at, T0 + 60);
    assert_false(qn_health_usable(&f->a, "smtp", T0 + 59));
    assert_true(qn_health_usable(&f->a, "smtp", T0 + 60));
    assert_true(qn_health_usable(&f->a, "ops", T0)); /* a route never seen is healthy */
}

static void test_temporary_failures_count_for_failover_after(void **state)
{
    struct fixture *f = *state;

    assert_false(qn_health_fail(&f->a, "smtp", QN_HEALTH_TEMPORARY, "net.connect", "refused", 600,
                                T0 + 60, T0));
    assert_true(qn_health_usable(&f->a, "smtp", T0 + 1));
    assert_false(qn_health_fail(&f->a, "smtp", QN_HEALTH_TEMPORARY, "net.connect", "refused", 600,
                                T0 + 660, T0 + 599));
    assert_true(qn_health_fail(&f->a, "smtp", QN_HEALTH_TEMPORARY, "net.timeout", "timed out", 600,
                               T0 + 700, T0 + 600));
    assert_int_equal(qn_health_find(&f->a, "smtp")->failing_since, T0);
    assert_int_equal(qn_health_find(&f->a, "smtp")->down_since, T0 + 600);
    assert_false(qn_health_usable(&f->a, "smtp", T0 + 699));
}

static void test_failover_after_zero_is_the_first_failure(void **state)
{
    struct fixture *f = *state;

    assert_true(qn_health_fail(&f->a, "smtp", QN_HEALTH_TEMPORARY, "net.connect", "refused", 0,
                               T0 + 60, T0));
}

static void test_a_success_ends_the_incident_once(void **state)
{
    struct fixture *f = *state;
    struct qn_route_health *r;

    qn_health_fail(&f->a, "smtp", QN_HEALTH_BLOCKING, "qq.auth.535", "535", 0, T0 + 60, T0);
    r = qn_health_route(&f->a, "smtp");
    r->told = true;
    assert_false(qn_health_fail(&f->a, "smtp", QN_HEALTH_BLOCKING, "qq.auth.535", "535", 0,
                                T0 + 180, T0 + 60)); /* still the same incident */
    assert_int_equal(r->retry_at, T0 + 180);
    assert_true(r->told);
    assert_true(qn_health_ok(&f->a, "smtp", 1, T0 + 200));
    assert_false(qn_health_ok(&f->a, "smtp", 1, T0 + 201));
    assert_int_equal(r->down_since, 0);
    assert_int_equal(r->failing_since, 0);
    assert_false(r->told);
    assert_int_equal(r->sent, 2);
    assert_int_equal(r->last_ok, T0 + 201);
}

static void test_the_state_text_is_exact(void **state)
{
    struct fixture *f = *state;

    qn_health_ok(&f->a, "smtp", 3, T0);
    qn_health_fail(&f->a, "smtp", QN_HEALTH_BLOCKING, "qq.auth.535", "AUTH: 535 Login fail", 600,
                   T0 + 120, T0 + 60);
    qn_health_fail(&f->a, "ops", QN_HEALTH_TEMPORARY, "wecom.http.5xx", "HTTP 502", 600, T0 + 70,
                   T0 + 10);
    assert_string_equal(text_of(f, &f->a),
                        "qqnotify-routes 1\n"
                        "summary 0\n"
                        "route smtp 3 1795658400 1795658460 1795658460 1795658460 1795658520 0 "
                        "qq.auth.535\n"
                        "reason smtp AUTH: 535 Login fail\n"
                        "failed smtp qq.auth.535 1\n"
                        "route ops 0 0 1795658410 1795658410 0 0 0 wecom.http.5xx\n"
                        "reason ops HTTP 502\n"
                        "failed ops wecom.http.5xx 1\n");
}

static void test_the_text_reads_back_the_same(void **state)
{
    struct fixture *f = *state;
    char copy[4096];

    qn_health_ok(&f->a, "smtp", 3, T0);
    qn_health_fail(&f->a, "ops", QN_HEALTH_BLOCKING, "wecom.93000", "bad key", 0, T0 + 70, T0);
    snprintf(copy, sizeof(copy), "%s", text_of(f, &f->a));
    qn_health_parse(&f->b, copy, strlen(copy), T0 + 1);
    assert_string_equal(text_of(f, &f->b), copy);
}

static void test_reading_clamps_what_a_damaged_file_says(void **state)
{
    struct fixture *f = *state;
    static const char text[] = "qqnotify-routes 1\n"
                               "summary 99999999999\n"
                               "route smtp 99999999999999999 9999999999 0 0 9999999999 9999999999 "
                               "1 qq.auth.535\n"
                               "route BAD 1 1 1 1 1 1 1 x\n"
                               "route ops 1 2 3\n"
                               "reason smtp a\x01"
                               "b\n"
                               "failed smtp Bad/Id 5\n"
                               "failed smtp qq.auth.535 7\n"
                               "what is this\n";
    const struct qn_route_health *r;

    qn_health_parse(&f->a, text, sizeof(text) - 1, T0);
    assert_int_equal(f->a.summary_day, T0 / 86400 + 1);
    r = qn_health_find(&f->a, "smtp");
    assert_non_null(r);
    assert_int_equal(r->sent, QN_HEALTH_COUNT_MAX);
    assert_int_equal(r->last_ok, T0);
    assert_int_equal(r->down_since, T0);
    assert_int_equal(r->retry_at, T0 + 86400);
    assert_true(r->told);
    assert_string_equal(r->reason, "a b"); /* a control character is a blank */
    assert_int_equal(r->n_failed, 1);
    assert_int_equal(r->failed[0].n, 7);
    assert_null(qn_health_find(&f->a, "BAD"));
    /* "route ops 1 2 3" is cut short: its record exists and holds nothing read. */
    assert_int_equal(qn_health_find(&f->a, "ops")->sent, 0);
}

static void test_a_file_without_the_version_line_is_empty(void **state)
{
    struct fixture *f = *state;
    static const char text[] = "route smtp 5 1 0 0 0 0 0 -\n";

    qn_health_parse(&f->a, text, sizeof(text) - 1, T0);
    assert_int_equal(f->a.n, 0);
}

static void test_diagnoses_past_the_table_count_as_other(void **state)
{
    struct fixture *f = *state;
    char id[32];
    const struct qn_route_health *r;

    for (int i = 0; i < QN_HEALTH_DIAGS_MAX + 3; i++) {
        snprintf(id, sizeof(id), "d%d", i);
        qn_health_fail(&f->a, "smtp", QN_HEALTH_TEMPORARY, id, "", 600, T0, T0);
    }
    r = qn_health_find(&f->a, "smtp");
    assert_int_equal(r->n_failed, QN_HEALTH_DIAGS_MAX);
    assert_string_equal(r->failed[QN_HEALTH_DIAGS_MAX - 1].diagnosis, QN_HEALTH_OTHER);
    assert_int_equal(r->failed[QN_HEALTH_DIAGS_MAX - 1].n, 4);
}

static void test_two_senders_commits_add_their_counts(void **state)
{
    struct fixture *f = *state;
    const struct qn_route_health *r;

    assert_int_equal(qn_health_load(&f->a, f->sp, T0), QN_ENOTFOUND);
    assert_int_equal(qn_health_load(&f->b, f->sp, T0), QN_ENOTFOUND);
    qn_health_ok(&f->a, "smtp", 2, T0 + 1);
    qn_health_fail(&f->b, "smtp", QN_HEALTH_BLOCKING, "qq.auth.535", "535", 0, T0 + 70, T0 + 10);
    qn_health_ok(&f->b, "ops", 1, T0 + 10);
    assert_int_equal(qn_health_commit(&f->a, f->sp, T0 + 20), QN_OK);
    assert_int_equal(qn_health_commit(&f->b, f->sp, T0 + 20), QN_OK);
    assert_int_equal(qn_health_load(&f->a, f->sp, T0 + 20), QN_OK);
    r = qn_health_find(&f->a, "smtp");
    assert_int_equal(r->sent, 2);
    assert_int_equal(r->failed[0].n, 1);
    assert_int_equal(r->down_since, T0 + 10); /* the later story wins */
    assert_int_equal(qn_health_find(&f->a, "ops")->sent, 1);
    /* A second commit of the same view adds nothing more. */
    assert_int_equal(qn_health_commit(&f->b, f->sp, T0 + 30), QN_OK);
    assert_int_equal(qn_health_load(&f->a, f->sp, T0 + 30), QN_OK);
    assert_int_equal(qn_health_find(&f->a, "smtp")->sent, 2);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_an_authentication_failure_makes_the_route_unhealthy_at_once),
        T(test_temporary_failures_count_for_failover_after),
        T(test_failover_after_zero_is_the_first_failure),
        T(test_a_success_ends_the_incident_once),
        T(test_the_state_text_is_exact),
        T(test_the_text_reads_back_the_same),
        T(test_reading_clamps_what_a_damaged_file_says),
        T(test_a_file_without_the_version_line_is_empty),
        T(test_diagnoses_past_the_table_count_as_other),
        T(test_two_senders_commits_add_their_counts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
