/*
 * Unit tests for common/pickup.c: what a submission in maildrop/ becomes.
 * The submitter is the file's owner and nothing it wrote; every header
 * line is replaced; an event cannot keep a system kind; a flood is capped;
 * what is not a valid submission is removed and reported; unfinished
 * ".part" files are left to the cleaner.  The files are written here as
 * qqnotify-drop writes them (the test runs as root or as one user: owners
 * are set with chown where a test needs another).
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "enqueue.h"
#include "lanes.h"
#include "pickup.h"
#include "spool.h"
#include "tmpdir.h"

struct fixture {
    char dir[64];
    struct qn_spool *sp;
    struct qn_config cfg;
    struct qn_lanes *lanes;
    struct qn_pickup_options opt;
    struct qn_pickup_result res;
    char refused[8][160];
    size_t n_refused;
    size_t rewrites;
};

static void on_refused(void *arg, const char *id, const struct qn_pickup_submitter *who,
                       const char *why)
{
    struct fixture *f = arg;

    (void)id;
    (void)who;
    if (f->n_refused < 8)
        snprintf(f->refused[f->n_refused++], sizeof(f->refused[0]), "%s", why);
}

/* A stand-in for the CLI's rewriting: the message gets one header line more. */
static enum qn_status fake_rewrite(void *arg, const struct qn_config *cfg,
                                   const struct qn_pickup_submitter *who, struct qn_spool_entry *e,
                                   char *why, size_t why_size)
{
    struct fixture *f = arg;
    char *m;
    int n;

    (void)why;
    (void)why_size;
    f->rewrites++;
    m = malloc(e->message_len + 128);
    if (m == NULL)
        return QN_ENOMEM;
    n = snprintf(m, 128, "X-From: %s\r\n", who->prefix);
    memcpy(m + n, e->message, e->message_len);
    m[n + e->message_len] = '\0';
    free(e->message);
    e->message = m;
    e->message_len += (size_t)n;
    snprintf(e->sender, sizeof(e->sender), "%s", cfg->user);
    return QN_OK;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char path[128];

    if (f == NULL || tmpdir_make(f->dir, sizeof(f->dir), "pickup") != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/maildrop", f->dir);
    if (mkdir(path, 0700) != 0 || qn_spool_open(f->dir, QN_SPOOL_CREATE, 0, &f->sp) != QN_OK)
        return -1;
    f->lanes = malloc(sizeof(*f->lanes));
    if (f->lanes == NULL)
        return -1;
    qn_lanes_init(f->lanes);
    qn_config_defaults(&f->cfg);
    f->cfg.language = QN_LANG_EN;
    snprintf(f->cfg.user, sizeof(f->cfg.user), "alerts@example.com");
    f->opt = (struct qn_pickup_options){.cfg = &f->cfg,
                                        .spool = f->sp,
                                        .lanes = f->lanes,
                                        .now = (long long)time(NULL),
                                        .rewrite = fake_rewrite,
                                        .on_refused = on_refused,
                                        .arg = f};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc;

    qn_spool_close(f->sp);
    rc = tmpdir_remove(f->dir);
    free(f->lanes);
    free(f);
    return rc;
}

/* Write LEN bytes of DATA as maildrop/NAME, mode 0444 (qqnotify-drop's). */
static void drop_file(struct fixture *f, const char *name, const void *data, size_t len)
{
    char path[192];
    int fd;

    snprintf(path, sizeof(path), "%s/maildrop/%s", f->dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

static void new_id(char *id)
{
    assert_int_equal(qn_enqueue_new_id(id), QN_OK);
}

/* A submission of EV as `qqnotify notify` makes it; its id into ID. */
static void submit_event(struct fixture *f, const struct qn_event *ev, char *id)
{
    struct qn_buf b;

    qn_buf_init(&b, 1 << 20);
    assert_int_equal(qn_enqueue_format_event(ev, &b), QN_OK);
    new_id(id);
    drop_file(f, id, b.data, b.len);
    qn_buf_free(&b);
}

static size_t count(struct fixture *f, enum qn_spool_queue q)
{
    char ids[64][QN_SPOOL_ID_MAX];
    size_t n = 0, total = 0;

    assert_int_equal(qn_spool_list(f->sp, q, ids, 64, &n, &total), QN_OK);
    return total;
}

/* The one entry of new/, loaded. */
static struct qn_spool_entry *only_new(struct fixture *f)
{
    char ids[2][QN_SPOOL_ID_MAX];
    struct qn_spool_entry *e = calloc(1, sizeof(*e));
    size_t n = 0, total = 0;

    assert_non_null(e);
    assert_int_equal(qn_spool_list(f->sp, QN_SPOOL_NEW, ids, 2, &n, &total), QN_OK);
    assert_int_equal(total, 1);
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_NEW, ids[0], 0, e), QN_OK);
    return e;
}

static void run(struct fixture *f)
{
    assert_int_equal(qn_pickup_run(&f->opt, &f->res), QN_OK);
}

static void test_a_forged_login_becomes_a_notification_from_its_submitter(void **state)
{
    struct fixture *f = *state;
    struct qn_spool_entry *e;
    struct qn_event ev;
    char id[QN_SPOOL_ID_MAX], host[256] = "", want[300];

    qn_event_init(&ev, "login");
    qn_event_set_host(&ev, "db1.example.com");
    qn_event_set_subject(&ev, "root logged in via ssh from 10.0.0.5");
    qn_event_set(&ev, "user", "root");
    qn_event_set(&ev, "rhost", "10.0.0.5");
    qn_event_set(&ev, "kind", "journal");
    ev.time = 1;
    submit_event(f, &ev, id);
    run(f);
    assert_int_equal(f->res.accepted, 1);
    assert_int_equal(count(f, QN_SPOOL_MAILDROP), 0);
    e = only_new(f);
    assert_int_equal(e->origin, QN_ORIGIN_USER);
    assert_true(e->uid == (unsigned long long)geteuid());
    assert_int_equal(e->lane, QN_LANE_USER);
    assert_string_equal(e->event.kind, "notify");
    /* The claimed kind is only a field, first; the user's own "kind" is not kept twice. */
    assert_string_equal(e->event.fields[0].key, "kind");
    assert_string_equal(e->event.fields[0].value, "login");
    assert_int_equal(e->event.n_fields, 3);
    assert_string_equal(qn_event_get(&e->event, "user"), "root");
    /* This host, the pickup's time, and who sent it before the subject. */
    (void)gethostname(host, sizeof(host) - 1);
    assert_string_equal(e->event.host, host);
    assert_true(e->event.time == f->opt.now);
    qn_lanes_user_name((unsigned long long)geteuid(), want, 64);
    {
        char subject[400];

        snprintf(subject, sizeof(subject), "from user %s: root logged in via ssh from 10.0.0.5",
                 want);
        assert_string_equal(e->event.subject, subject);
    }
    qn_spool_entry_clear(e);
    free(e);
}

static void test_every_header_line_the_user_wrote_is_replaced(void **state)
{
    struct fixture *f = *state;
    static const char payload[] = "kind notify\ntime 1\nhost h\nsubject s\n";
    struct qn_spool_entry *e;
    char id[QN_SPOOL_ID_MAX], data[512], name[64], subject[96];
    unsigned long long uid = 4242; /* as root: a uid without a user */
    int n;

    /* What qqnotify-drop would refuse, written by hand: the pickup must not believe it. */
    n = snprintf(data, sizeof(data),
                 "qqnotify-spool 2\ntype event\norigin system\nuid 0\nlane 0\nqueued 1\n"
                 "attempts 9\nnext-try 253402300799\nlast-error forged\ndiagnosis auth-failed\n"
                 "size %zu\nend\n%s",
                 strlen(payload), payload);
    new_id(id);
    drop_file(f, id, data, (size_t)n);
    if (geteuid() == 0) {
        char path[192];

        snprintf(path, sizeof(path), "%s/maildrop/%s", f->dir, id);
        assert_int_equal(chown(path, 4242, 4242), 0); /* submitted by uid 4242 */
    } else {
        uid = (unsigned long long)geteuid(); /* another user: the file is the tester's */
    }
    qn_lanes_user_name(uid, name, sizeof(name));
    snprintf(subject, sizeof(subject), "from user %s: s", name);
    run(f);
    e = only_new(f);
    assert_int_equal(e->origin, QN_ORIGIN_USER);
    assert_true(e->uid == uid);
    assert_int_equal(e->lane, QN_LANE_USER);
    assert_true(e->queued == f->opt.now);
    assert_int_equal(e->attempts, 0);
    assert_true(e->next_try == 0);
    assert_string_equal(e->last_error, "");
    assert_string_equal(e->diagnosis, "");
    assert_string_equal(e->event.subject, subject);         /* as root: "from user uid 4242: s" */
    assert_true(e->owner == (unsigned long long)geteuid()); /* written by the sender */
    qn_spool_entry_clear(e);
    free(e);
}

static void test_a_flood_is_capped_per_user(void **state)
{
    struct fixture *f = *state;
    struct qn_event ev;
    char id[QN_SPOOL_ID_MAX];

    f->cfg.queue.user_max = 3;
    qn_event_init(&ev, "notify");
    for (int i = 0; i < 10; i++)
        submit_event(f, &ev, id);
    /* The oldest: garbage counts against the cap like anything else the user submits. */
    drop_file(f, "1700000000.000000.1.0123456789abcdef", "garbage", 7);
    run(f);
    assert_int_equal(f->res.refused, 1);
    assert_int_equal(f->res.accepted, 2);
    assert_int_equal(f->res.capped, 8);
    assert_int_equal(f->n_refused, 1); /* past the cap: counted, not reported one by one */
    assert_int_equal(count(f, QN_SPOOL_MAILDROP), 0);
    assert_int_equal(count(f, QN_SPOOL_NEW), 2);
    assert_int_equal(f->lanes->n_keys, 1);
    assert_true(f->lanes->keys[0].over == 8);
}

static void test_what_is_not_a_valid_submission_is_removed_and_reported(void **state)
{
    struct fixture *f = *state;
    char big[2048], id1[QN_SPOOL_ID_MAX], id2[QN_SPOOL_ID_MAX], id3[QN_SPOOL_ID_MAX];
    char path[192], other[192];
    struct qn_event ev;
    bool invalid = false, too_big = false;

    f->cfg.max_entry_size = 1024;
    new_id(id1);
    drop_file(f, id1, "qqnotify-spool 2\ntype event\n", 28);
    memset(big, 'x', sizeof(big));
    new_id(id2);
    drop_file(f, id2, big, sizeof(big));
    /* A second name would let the file change under the sender. */
    qn_event_init(&ev, "notify");
    submit_event(f, &ev, id3);
    snprintf(path, sizeof(path), "%s/maildrop/%s", f->dir, id3);
    snprintf(other, sizeof(other), "%s/elsewhere", f->dir);
    assert_int_equal(link(path, other), 0);
    run(f);
    assert_int_equal(f->res.accepted, 0);
    assert_int_equal(f->res.refused, 3);
    assert_int_equal(f->n_refused, 3);
    assert_int_equal(count(f, QN_SPOOL_MAILDROP), 0);
    assert_int_equal(count(f, QN_SPOOL_NEW), 0);
    for (size_t i = 0; i < f->n_refused; i++) {
        invalid |= strstr(f->refused[i], "not a valid entry") != NULL;
        too_big |= strstr(f->refused[i], "larger than [spool] max_entry_size") != NULL;
    }
    assert_true(invalid);
    assert_true(too_big);
    assert_int_equal(unlink(other), 0);
}

static void test_unfinished_submissions_are_left_to_the_cleaner(void **state)
{
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX], part[QN_SPOOL_ID_MAX + 8], path[192];
    struct timespec old[2] = {{.tv_sec = 1000}, {.tv_sec = 1000}};
    size_t removed = 0;

    new_id(id);
    snprintf(part, sizeof(part), "%s.part", id);
    drop_file(f, part, "qqnotify-spool 2\n", 17);
    run(f);
    assert_int_equal(f->res.accepted + f->res.refused + f->res.capped, 0);
    snprintf(path, sizeof(path), "%s/maildrop/%s", f->dir, part);
    assert_int_equal(access(path, F_OK), 0);
    /* A day old: a qqnotify-drop that was killed; the cleaner removes it. */
    assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
    assert_int_equal(qn_spool_clean_tmp(f->sp, 0, &removed), QN_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(access(path, F_OK), -1);
}

static void test_a_message_is_rewritten_by_the_hook_or_refused_without_one(void **state)
{
    struct fixture *f = *state;
    static const char *const rcpt[] = {"root"};
    static const char msg[] = "From: root\r\nSubject: x\r\n\r\nbody\r\n";
    struct qn_spool_entry *e;
    struct qn_buf b;
    char id[QN_SPOOL_ID_MAX];

    qn_buf_init(&b, 1 << 20);
    assert_int_equal(qn_enqueue_format_message("", rcpt, 1, msg, strlen(msg), &b), QN_OK);
    new_id(id);
    drop_file(f, id, b.data, b.len);
    f->opt.rewrite = NULL;
    run(f);
    assert_int_equal(f->res.refused, 1);
    assert_string_equal(f->refused[0], "messages cannot be taken here");

    new_id(id);
    drop_file(f, id, b.data, b.len);
    f->opt.rewrite = fake_rewrite;
    run(f);
    assert_int_equal(f->res.accepted, 1);
    assert_int_equal(f->rewrites, 1);
    e = only_new(f);
    assert_int_equal(e->type, QN_SPOOL_MESSAGE);
    assert_int_equal(e->lane, QN_LANE_USER);
    assert_string_equal(e->sender, "alerts@example.com");
    assert_non_null(strstr(e->message, "X-From: from user "));
    qn_spool_entry_clear(e);
    free(e);
    qn_buf_free(&b);
}

static void test_no_maildrop_is_nothing_to_do(void **state)
{
    struct fixture *f = *state;
    struct qn_spool *sp = NULL;
    char path[128];

    snprintf(path, sizeof(path), "%s/maildrop", f->dir);
    assert_int_equal(rmdir(path), 0);
    assert_int_equal(qn_spool_open(f->dir, 0, 0, &sp), QN_OK);
    f->opt.spool = sp;
    assert_int_equal(qn_pickup_run(&f->opt, &f->res), QN_ENOTFOUND);
    qn_spool_close(sp);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_a_forged_login_becomes_a_notification_from_its_submitter),
        T(test_every_header_line_the_user_wrote_is_replaced),
        T(test_a_flood_is_capped_per_user),
        T(test_what_is_not_a_valid_submission_is_removed_and_reported),
        T(test_unfinished_submissions_are_left_to_the_cleaner),
        T(test_a_message_is_rewritten_by_the_hook_or_refused_without_one),
        T(test_no_maildrop_is_nothing_to_do),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
