/*
 * Unit tests for common/quota.c: two views of one spool's state/ratelimit
 * stand for two senders (flush and send); every commit is checked against
 * the exact state text on disk.  A lock is an open file description, so a
 * second one taken by the test itself stands for another process.
 */
#include <errno.h>
#include <fcntl.h>
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

#include "quota.h"
#include "spool.h"
#include "tmpdir.h"

#define T0 1795658400LL /* 2026-11-26 02:00:00 UTC */

struct fixture {
    char dir[64];
    struct qn_spool *sp;
    struct qn_quota *a, *b; /* two senders */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    f->a = malloc(sizeof(*f->a));
    f->b = malloc(sizeof(*f->b));
    if (tmpdir_make(f->dir, sizeof(f->dir), "quota") != 0 || f->a == NULL || f->b == NULL ||
        qn_spool_open(f->dir, QN_SPOOL_CREATE, 0, &f->sp) != QN_OK)
        return -1;
    qn_quota_init(f->a);
    qn_quota_init(f->b);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc;

    qn_spool_close(f->sp);
    rc = tmpdir_remove(f->dir);
    free(f->a);
    free(f->b);
    free(f);
    return rc;
}

/* The state file as text ("" when there is none). */
static const char *state_text(struct fixture *f)
{
    static char buf[4096];
    char path[128];
    FILE *fp;
    size_t n;

    snprintf(path, sizeof(path), "%s/state/ratelimit", f->dir);
    fp = fopen(path, "re");
    if (fp == NULL) {
        assert_int_equal(errno, ENOENT);
        return "";
    }
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = '\0';
    assert_int_equal(fclose(fp), 0);
    return buf;
}

static void write_state(struct fixture *f, const char *text)
{
    assert_int_equal(qn_spool_state_write(f->sp, QN_QUOTA_STATE_NAME, text, strlen(text)), QN_OK);
}

static void test_no_state_yet_is_an_empty_view(void **state)
{
    struct fixture *f = *state;

    qn_quota_record_sent(f->a, T0); /* forgotten by the load */
    assert_int_equal(qn_quota_load(f->a, f->sp, T0), QN_ENOTFOUND);
    assert_int_equal(f->a->view.n_sent, 0);
    assert_int_equal(f->a->n_changes, 0);
    assert_int_equal(qn_quota_commit(f->a, f->sp, T0), QN_OK);
    assert_string_equal(state_text(f), "ratelimit 1\nbackoff_until 0\nbackoff_s 0\nslow_until 0\n");
}

static void test_two_senders_committing_keep_both_mails(void **state)
{
    struct fixture *f = *state;

    write_state(f, "ratelimit 1\nbackoff_until 0\nbackoff_s 0\nslow_until 0\nsent 1795658000\n");
    assert_int_equal(qn_quota_load(f->a, f->sp, T0), QN_OK);
    assert_int_equal(qn_quota_load(f->b, f->sp, T0), QN_OK);

    /* flush sends two mails and an event batch, send one mail, at the same time */
    qn_quota_record_sent(f->a, T0);
    qn_quota_record_events(f->a, 2, T0);
    qn_quota_record_sent(f->a, T0 + 1);
    qn_quota_record_sent(f->b, T0 + 2);
    assert_int_equal(f->a->view.n_sent, 3); /* decisions see a sender's own mails at once */
    assert_int_equal(f->b->view.n_sent, 2);

    assert_int_equal(qn_quota_commit(f->a, f->sp, T0 + 3), QN_OK);
    assert_int_equal(qn_quota_commit(f->b, f->sp, T0 + 3), QN_OK);
    assert_string_equal(state_text(f), "ratelimit 1\nbackoff_until 0\nbackoff_s 0\nslow_until 0\n"
                                       "sent 1795658000\nsent 1795658400\nsent 1795658401\n"
                                       "sent 1795658402\nevent 1795658400\nevent 1795658400\n");
    /* b adopted the merge; a sees b's mail after its next commit */
    assert_int_equal(f->b->view.n_sent, 4);
    assert_int_equal(f->b->n_changes, 0);
    assert_int_equal(f->a->view.n_sent, 3);
    assert_int_equal(qn_quota_commit(f->a, f->sp, T0 + 4), QN_OK);
    assert_int_equal(f->a->view.n_sent, 4);
}

static void test_penalty_and_success_merge_in_order(void **state)
{
    struct fixture *f = *state;

    /* a: frequency-limit reply at T0; b: a success at T0 + 10, committed after */
    qn_quota_penalize(f->a, T0);
    assert_int_equal(qn_quota_commit(f->a, f->sp, T0), QN_OK);
    assert_string_equal(state_text(f), "ratelimit 1\nbackoff_until 1795658460\nbackoff_s 60\n"
                                       "slow_until 1795744800\n");
    qn_quota_record_sent(f->b, T0 + 10);
    assert_int_equal(qn_quota_commit(f->b, f->sp, T0 + 10), QN_OK);
    /* the success ends the backoff, the slow mode stays a day */
    assert_string_equal(state_text(f), "ratelimit 1\nbackoff_until 0\nbackoff_s 0\n"
                                       "slow_until 1795744800\nsent 1795658410\n");
    /* a second reply now starts from no backoff again */
    qn_quota_penalize(f->a, T0 + 20);
    assert_int_equal(qn_quota_commit(f->a, f->sp, T0 + 20), QN_OK);
    assert_int_equal(f->a->view.backoff_s, 60);
    assert_int_equal(f->a->view.backoff_until, T0 + 80);
}

static void test_damaged_state_is_replaced_by_the_view(void **state)
{
    struct fixture *f = *state;

    write_state(f, "ratelimit 1\nbackoff_until 0\ngarbage\n");
    assert_int_equal(qn_quota_load(f->a, f->sp, T0), QN_EINVAL);
    assert_int_equal(f->a->view.n_sent, 0);
    qn_quota_record_sent(f->a, T0);
    assert_int_equal(qn_quota_commit(f->a, f->sp, T0), QN_OK);
    assert_string_equal(state_text(f), "ratelimit 1\nbackoff_until 0\nbackoff_s 0\nslow_until 0\n"
                                       "sent 1795658400\n");
}

static void test_a_held_lock_times_out_and_the_changes_wait(void **state)
{
    struct fixture *f = *state;
    int other;

    qn_quota_record_sent(f->a, T0);
    assert_int_equal(qn_spool_state_lock(f->sp, QN_QUOTA_STATE_NAME, 0, &other), QN_OK);
    f->a->lock_timeout_ms = 30;
    assert_int_equal(qn_quota_commit(f->a, f->sp, T0), QN_ETIMEOUT);
    assert_string_equal(state_text(f), "");
    assert_int_equal(f->a->n_changes, 1);
    assert_int_equal(f->a->view.n_sent, 1);
    qn_spool_state_unlock(other);
    assert_int_equal(qn_quota_commit(f->a, f->sp, T0), QN_OK);
    assert_string_equal(state_text(f), "ratelimit 1\nbackoff_until 0\nbackoff_s 0\nslow_until 0\n"
                                       "sent 1795658400\n");
}

static void test_more_changes_than_remembered_write_the_view(void **state)
{
    struct fixture *f = *state;
    size_t i;

    for (i = 0; i <= QN_QUOTA_CHANGES_MAX; i++)
        qn_quota_record_events(f->a, 1, T0);
    assert_true(f->a->overflow);
    /* another sender's mail since: forgotten, as documented */
    qn_quota_record_sent(f->b, T0);
    assert_int_equal(qn_quota_commit(f->b, f->sp, T0), QN_OK);
    assert_int_equal(qn_quota_commit(f->a, f->sp, T0), QN_OK);
    assert_false(f->a->overflow);
    assert_int_equal(f->a->view.n_sent, 0);
    assert_int_equal(f->a->view.n_events, QN_QUOTA_CHANGES_MAX + 1);
    assert_null(strstr(state_text(f), "sent "));
}

static void test_state_lock_refuses_the_senders_lock_name(void **state)
{
    struct fixture *f = *state;
    int fd = -1;

    assert_int_equal(qn_spool_state_lock(f->sp, "flush", 0, &fd), QN_EINVAL);
    assert_int_equal(qn_spool_state_lock(f->sp, "../x", 0, &fd), QN_EINVAL);
    assert_int_equal(fd, -1);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

static void test_load_and_commit_clamp_what_the_file_claims(void **state)
{
    struct fixture *f = *state;

    write_state(f, "ratelimit 1\nbackoff_until 253402300799\nbackoff_s 60\nslow_until 0\n"
                   "sent 253402300799\n");
    assert_int_equal(qn_quota_load(f->a, f->sp, T0), QN_OK);
    assert_true(f->a->view.backoff_until == T0 + 60);
    assert_true(f->a->view.sent[0] == T0);
    /* The merge reads the file again: clamped there too, and written back clamped. */
    assert_int_equal(qn_quota_commit(f->a, f->sp, T0), QN_OK);
    assert_string_equal(state_text(f), "ratelimit 1\nbackoff_until 1795658460\nbackoff_s 60\n"
                                       "slow_until 0\nsent 1795658400\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_load_and_commit_clamp_what_the_file_claims),
        T(test_no_state_yet_is_an_empty_view),
        T(test_two_senders_committing_keep_both_mails),
        T(test_penalty_and_success_merge_in_order),
        T(test_damaged_state_is_replaced_by_the_view),
        T(test_a_held_lock_times_out_and_the_changes_wait),
        T(test_more_changes_than_remembered_write_the_view),
        T(test_state_lock_refuses_the_senders_lock_name),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
