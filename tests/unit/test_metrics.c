/*
 * Unit tests for common/metrics.c: the exact exposition text for a known
 * state, the queues' figures read from a spool, and the atomic replacement
 * of the file (no temporary left, never through a symbolic link).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"
#include "tmpdir.h"

#define T0 1795658400LL /* 2026-11-26 02:00:00 UTC */

struct fixture {
    char dir[64];
    struct qn_health h;
    struct qn_buf out;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL || tmpdir_make(f->dir, sizeof(f->dir), "metrics") != 0)
        return -1;
    qn_health_init(&f->h);
    qn_buf_init(&f->out, QN_METRICS_MAX);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc = tmpdir_remove(f->dir);

    qn_buf_free(&f->out);
    free(f);
    return rc;
}

static void test_the_text_is_exact(void **state)
{
    struct fixture *f = *state;
    const struct qn_queue_stat q[QN_METRICS_QUEUES] = {
        {"new", 0, 0}, {"deferred", 2, T0 - 300}, {"failed", 1, T0 - 86400}};
    const struct qn_metrics_run run = {.end = T0, .ok = false};

    qn_health_ok(&f->h, "smtp", 5, T0 - 600);
    qn_health_fail(&f->h, "smtp", QN_HEALTH_BLOCKING, "qq-auth-code", "535", 0, T0 + 60, T0 - 10);
    qn_health_ok(&f->h, "ops", 1, T0 - 5);
    assert_int_equal(qn_metrics_format(&f->h, q, &run, T0, &f->out), QN_OK);
    assert_string_equal(
        f->out.data,
        "# HELP qqnotify_queue_entries Entries in each spool queue.\n"
        "# TYPE qqnotify_queue_entries gauge\n"
        "qqnotify_queue_entries{queue=\"new\"} 0\n"
        "qqnotify_queue_entries{queue=\"deferred\"} 2\n"
        "qqnotify_queue_entries{queue=\"failed\"} 1\n"
        "# HELP qqnotify_queue_oldest_age_seconds Age of the oldest entry of each spool queue (0 "
        "when empty).\n"
        "# TYPE qqnotify_queue_oldest_age_seconds gauge\n"
        "qqnotify_queue_oldest_age_seconds{queue=\"new\"} 0\n"
        "qqnotify_queue_oldest_age_seconds{queue=\"deferred\"} 300\n"
        "qqnotify_queue_oldest_age_seconds{queue=\"failed\"} 86400\n"
        "# HELP qqnotify_route_sent_total Messages each route accepted.\n"
        "# TYPE qqnotify_route_sent_total counter\n"
        "qqnotify_route_sent_total{route=\"smtp\"} 5\n"
        "qqnotify_route_sent_total{route=\"ops\"} 1\n"
        "# HELP qqnotify_route_failures_total Failed attempts of each route, by diagnosis id "
        "(qqnotify catalog).\n"
        "# TYPE qqnotify_route_failures_total counter\n"
        "qqnotify_route_failures_total{route=\"smtp\",diagnosis=\"qq-auth-code\"} 1\n"
        "# HELP qqnotify_route_last_success_timestamp_seconds When each route last accepted a "
        "message (0: never).\n"
        "# TYPE qqnotify_route_last_success_timestamp_seconds gauge\n"
        "qqnotify_route_last_success_timestamp_seconds{route=\"smtp\"} 1795657800\n"
        "qqnotify_route_last_success_timestamp_seconds{route=\"ops\"} 1795658395\n"
        "# HELP qqnotify_route_last_failure_timestamp_seconds When each route last failed (0: "
        "never).\n"
        "# TYPE qqnotify_route_last_failure_timestamp_seconds gauge\n"
        "qqnotify_route_last_failure_timestamp_seconds{route=\"smtp\"} 1795658390\n"
        "qqnotify_route_last_failure_timestamp_seconds{route=\"ops\"} 0\n"
        "# HELP qqnotify_route_healthy 1 while a route is healthy, 0 while alerts fail over from "
        "it.\n"
        "# TYPE qqnotify_route_healthy gauge\n"
        "qqnotify_route_healthy{route=\"smtp\"} 0\n"
        "qqnotify_route_healthy{route=\"ops\"} 1\n"
        "# HELP qqnotify_run_timestamp_seconds When the last flush run ended.\n"
        "# TYPE qqnotify_run_timestamp_seconds gauge\n"
        "qqnotify_run_timestamp_seconds 1795658400\n"
        "# HELP qqnotify_run_ok 1 when the last flush run ended with nothing failing.\n"
        "# TYPE qqnotify_run_ok gauge\n"
        "qqnotify_run_ok 0\n");
}

static void test_a_full_buffer_leaves_it_as_it_was(void **state)
{
    struct fixture *f = *state;
    const struct qn_queue_stat q[QN_METRICS_QUEUES] = {
        {"new", 0, 0}, {"deferred", 0, 0}, {"failed", 0, 0}};
    const struct qn_metrics_run run = {.end = T0, .ok = true};
    struct qn_buf small;

    qn_buf_init(&small, 100);
    assert_int_equal(qn_buf_puts(&small, "x"), QN_OK);
    assert_int_equal(qn_metrics_format(&f->h, q, &run, T0, &small), QN_ETOOBIG);
    assert_string_equal(small.data, "x");
    qn_buf_free(&small);
}

static void test_queue_figures_come_from_the_spool(void **state)
{
    struct fixture *f = *state;
    struct qn_spool *sp;
    struct qn_queue_stat q[QN_METRICS_QUEUES];
    char path[128];
    FILE *fp;

    assert_int_equal(qn_spool_open(f->dir, QN_SPOOL_CREATE, 0, &sp), QN_OK);
    /* Two ids in deferred/ (the older one first whatever the names' order). */
    snprintf(path, sizeof(path), "%s/deferred/1795658100.000001.42.0123456789abcdef", f->dir);
    assert_non_null(fp = fopen(path, "we"));
    fclose(fp);
    snprintf(path, sizeof(path), "%s/deferred/999999999.000001.42.0123456789abcdef", f->dir);
    assert_non_null(fp = fopen(path, "we"));
    fclose(fp);
    assert_int_equal(qn_queue_stats_read(sp, q), QN_OK);
    assert_string_equal(q[0].queue, "new");
    assert_int_equal(q[0].entries, 0);
    assert_string_equal(q[1].queue, "deferred");
    assert_int_equal(q[1].entries, 2);
    assert_int_equal(q[1].oldest, 999999999);
    assert_int_equal(q[2].entries, 0);
    qn_spool_close(sp);
}

static void test_the_file_is_replaced_whole(void **state)
{
    struct fixture *f = *state;
    char path[128], buf[64];
    struct stat st;
    FILE *fp;
    size_t n;

    snprintf(path, sizeof(path), "%s/qqnotify.prom", f->dir);
    assert_int_equal(qn_metrics_write(path, "a 1\n", 4), QN_OK);
    assert_int_equal(qn_metrics_write(path, "b 2\n", 4), QN_OK);
    assert_non_null(fp = fopen(path, "re"));
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    assert_string_equal(buf, "b 2\n");
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    snprintf(path, sizeof(path), "%s/qqnotify.prom.tmp.%ld", f->dir, (long)getpid());
    assert_int_equal(stat(path, &st), -1);
    assert_int_equal(errno, ENOENT);
}

static void test_a_relative_or_missing_directory_is_refused(void **state)
{
    struct fixture *f = *state;
    char path[128];

    assert_int_equal(qn_metrics_write("qqnotify.prom", "", 0), QN_EINVAL);
    snprintf(path, sizeof(path), "%s/none/qqnotify.prom", f->dir);
    assert_int_equal(qn_metrics_write(path, "", 0), QN_EIO);
    assert_int_equal(errno, ENOENT);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_the_text_is_exact),
        T(test_a_full_buffer_leaves_it_as_it_was),
        T(test_queue_figures_come_from_the_spool),
        T(test_the_file_is_replaced_whole),
        T(test_a_relative_or_missing_directory_is_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
