/*
 * Unit tests for common/qmgr.c: the queue manager driven on a temporary
 * spool through a fake transport whose every answer the test scripts, with
 * a clock the test moves.  Each test checks what the spool holds afterwards
 * (which queue, attempts, next try, last error, diagnosis, the limiter's
 * state file), the outcome reported for each entry, and the summary.
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
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "event.h"
#include "qmgr.h"
#include "quota.h"
#include "enqueue.h"
#include "robot.h"
#include "silence.h"
#include "spool.h"
#include "tally.h"
#include "tmpdir.h"

#define MAX_RECORDS 512

/* A transport that accepts or refuses as scripted, and remembers what it got. */
struct fake {
    bool open_fails;
    struct qn_error open_err;
    struct reply {
        enum qn_stage stage; /* QN_STAGE_NONE: accept */
        int code;
        const char *text;
    } reply[MAX_RECORDS];
    const char *wecom[MAX_RECORDS]; /* or a WeCom answer's body (HTTP 200) */
    size_t opens, closes, delivers;
    bool open;
    size_t queued_at[MAX_RECORDS]; /* entries in new/ + deferred/ at each delivery */
    size_t events[MAX_RECORDS];    /* events in each delivery (0: a message) */
    char what[MAX_RECORDS][128];   /* the alert's subject or the message's first line */
};

struct record {
    enum qn_qmgr_outcome outcome, wanted;
    char id[QN_SPOOL_ID_MAX];
    char reason[QN_SPOOL_ERROR_MAX];
    char diagnosis[QN_SPOOL_DIAGNOSIS_MAX];
    long long next_try;
    size_t mail_index, mail_size;
    int smtp_code; /* of err, -1 without err */
    enum qn_status status;
    bool moved;
};

struct fixture {
    char dir[64];
    struct qn_config cfg;
    struct qn_spool *sp;
    long long clock;
    struct fake fake;
    struct record rec[MAX_RECORDS];
    size_t n_rec;
    enum qn_qmgr_notice_kind notice[MAX_RECORDS];
    size_t notice_count[MAX_RECORDS];
    size_t n_notices;
    struct qn_qmgr_summary sum;
    struct qn_qmgr_options opt;
};

/* ---- the spool ------------------------------------------------------------------------- */

static size_t count_dir(struct fixture *f, const char *queue)
{
    char path[128];
    DIR *d;
    struct dirent *de;
    size_t n = 0;

    snprintf(path, sizeof(path), "%s/%s", f->dir, queue);
    d = opendir(path);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        if (qn_spool_id_valid(de->d_name))
            n++;
    closedir(d);
    return n;
}

static void assert_queues(struct fixture *f, size_t new, size_t deferred, size_t failed)
{
    size_t n = count_dir(f, "new"), d = count_dir(f, "deferred"), x = count_dir(f, "failed");

    if (n != new || d != deferred || x != failed)
        fail_msg("new/ %zu deferred/ %zu failed/ %zu, want %zu %zu %zu", n, d, x, new, deferred,
                 failed);
}

/* The one entry ID in QUEUE, loaded (the caller clears it). */
static struct qn_spool_entry *entry(struct fixture *f, enum qn_spool_queue queue, const char *id)
{
    struct qn_spool_entry *e = calloc(1, sizeof(*e));

    assert_non_null(e);
    assert_int_equal(qn_spool_load(f->sp, queue, id, 0, e), QN_OK);
    return e;
}

static void free_entry(struct qn_spool_entry *e)
{
    qn_spool_entry_clear(e);
    free(e);
}

static void spool_event(struct fixture *f, const char *subject, char *ret_id)
{
    struct qn_event *ev = malloc(sizeof(*ev));

    assert_non_null(ev);
    qn_event_init(ev, "login");
    qn_event_set_host(ev, "web1");
    qn_event_set_subject(ev, subject);
    assert_int_equal(qn_enqueue_event(f->dir, ev, 0, ret_id), QN_OK);
    free(ev);
}

static void spool_message(struct fixture *f, const char *subject, char *ret_id)
{
    static const char *const rcpt[] = {"x@example.net"};
    char msg[256];
    int n = snprintf(msg, sizeof(msg), "Subject: %s\r\n\r\nbody\r\n", subject);

    assert_int_equal(qn_enqueue_message(f->dir, "root@web1", rcpt, 1, msg, (size_t)n, 0, ret_id),
                     QN_OK);
}

/* An entry of LANE and ORIGIN written into new/ by the sender's own path: an event of KIND
 * with SUBJECT (and the rule RULE when not NULL), queued at QUEUED (0: now). */
static void add_event(struct fixture *f, const char *kind, enum qn_lane lane,
                      enum qn_spool_origin origin, const char *subject, const char *rule,
                      long long queued, char *ret_id)
{
    struct qn_spool_entry *e = calloc(1, sizeof(*e));

    assert_non_null(e);
    e->type = QN_SPOOL_EVENT;
    e->origin = origin;
    e->uid = 0;
    e->lane = lane;
    e->queued = queued != 0 ? queued : f->clock;
    qn_event_init(&e->event, kind);
    qn_event_set_host(&e->event, "web1");
    qn_event_set_subject(&e->event, subject);
    if (rule != NULL)
        qn_event_set(&e->event, "rule", rule);
    assert_int_equal(qn_spool_add(f->sp, e, 0, ret_id), QN_OK);
    free(e);
}

/* Write DATA as entry ID of new/ by hand (a corrupt one). */
static void plant(struct fixture *f, const char *id, const char *data, off_t size)
{
    char path[160];
    int fd;

    snprintf(path, sizeof(path), "%s/new/%s", f->dir, id);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
    if (size > 0)
        assert_int_equal(ftruncate(fd, size), 0);
    assert_int_equal(close(fd), 0);
}

static const char *state_file_named(struct fixture *f, const char *name)
{
    static char buf[4096];
    char path[128];
    FILE *fp;
    size_t n;

    snprintf(path, sizeof(path), "%s/state/%s", f->dir, name);
    fp = fopen(path, "re");
    if (fp == NULL)
        return NULL;
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static const char *state_file(struct fixture *f)
{
    const char *text = state_file_named(f, "ratelimit");

    assert_non_null(text);
    return text;
}

/* ---- the fake transport and the reports ------------------------------------------------ */

static enum qn_status fake_open(void *ctx, struct qn_error *err)
{
    struct fixture *f = ctx;

    if (f->fake.open)
        return QN_OK;
    f->fake.opens++;
    if (f->fake.open_fails) {
        *err = f->fake.open_err;
        return err->status;
    }
    f->fake.open = true;
    return QN_OK;
}

static enum qn_status fake_deliver(void *ctx, const struct qn_delivery *d, struct qn_error *err)
{
    struct fixture *f = ctx;
    size_t i = f->fake.delivers++;

    assert_true(f->fake.open);
    assert_true(i < MAX_RECORDS);
    f->fake.queued_at[i] = count_dir(f, "new") + count_dir(f, "deferred");
    f->fake.events[i] = d->alert != NULL ? d->n_events : 0;
    if (d->alert != NULL)
        snprintf(f->fake.what[i], sizeof(f->fake.what[i]), "%s", d->alert->subject.data);
    else
        snprintf(f->fake.what[i], sizeof(f->fake.what[i]), "%.*s",
                 (int)(strchr(d->message, '\r') - d->message), d->message);
    if (f->fake.wecom[i] != NULL)
        return qn_robot_answer(QN_ROUTE_TYPE_WECOM, 200, f->fake.wecom[i], strlen(f->fake.wecom[i]),
                               err);
    if (f->fake.reply[i].stage == QN_STAGE_NONE)
        return QN_OK;
    qn_error_clear(err);
    return qn_error_set_reply(err, f->fake.reply[i].stage, f->fake.reply[i].code,
                              f->fake.reply[i].text, strlen(f->fake.reply[i].text));
}

static void fake_close(void *ctx)
{
    struct fixture *f = ctx;

    f->fake.closes++;
    f->fake.open = false;
}

static void on_entry(void *arg, const struct qn_qmgr_entry *e)
{
    struct fixture *f = arg;
    struct record *r = &f->rec[f->n_rec++];

    assert_true(f->n_rec <= MAX_RECORDS);
    r->outcome = e->outcome;
    r->wanted = e->wanted;
    snprintf(r->id, sizeof(r->id), "%s", e->id);
    snprintf(r->reason, sizeof(r->reason), "%s", e->reason);
    snprintf(r->diagnosis, sizeof(r->diagnosis), "%s", e->diagnosis);
    r->next_try = e->next_try;
    r->mail_index = e->mail_index;
    r->mail_size = e->mail_size;
    r->smtp_code = e->err != NULL ? e->err->smtp_code : -1;
    r->status = e->status;
    r->moved = e->moved;
}

static void on_notice(void *arg, const struct qn_qmgr_notice *n)
{
    struct fixture *f = arg;

    assert_true(f->n_notices < MAX_RECORDS);
    f->notice[f->n_notices] = n->kind;
    f->notice_count[f->n_notices++] = n->count;
}

static void describe(void *arg, const struct qn_error *err, char *out, size_t n)
{
    (void)arg;
    snprintf(out, n, "%s (%d)", qn_strerror(err->status), err->smtp_code);
}

static long long fake_clock(void *arg)
{
    return ((struct fixture *)arg)->clock;
}

/* ---- fixture --------------------------------------------------------------------------- */

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    if (tmpdir_make(f->dir, sizeof(f->dir), "qmgr") != 0 ||
        qn_spool_open(f->dir, QN_SPOOL_CREATE, 0, &f->sp) != QN_OK)
        return -1;
    qn_config_defaults(&f->cfg);
    snprintf(f->cfg.provider, sizeof(f->cfg.provider), "custom");
    snprintf(f->cfg.to[0], sizeof(f->cfg.to[0]), "ops@example.com");
    f->cfg.n_to = 1;
    f->cfg.language = QN_LANG_EN;
    memset(&f->cfg.limits, 0, sizeof(f->cfg.limits)); /* no limits, no digests */
    f->cfg.max_age_s = 0;
    f->cfg.retry_min_s = 60;
    f->cfg.retry_max_s = 3600;
    f->clock = (long long)time(NULL);
    f->opt = (struct qn_qmgr_options){
        .cfg = &f->cfg,
        .spool = f->sp,
        .transport = {.name = "fake",
                      .ctx = f,
                      .open = fake_open,
                      .deliver = fake_deliver,
                      .close = fake_close},
        .on_entry = on_entry,
        .on_notice = on_notice,
        .describe = describe,
        .arg = f,
        .clock = fake_clock,
    };
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc;

    qn_spool_close(f->sp);
    rc = tmpdir_remove(f->dir);
    free(f);
    return rc;
}

/* Run once with the scripted replies, which are used up then (the reports
 * and deliveries of an earlier run are forgotten first). */
static void run(struct fixture *f)
{
    f->n_rec = 0;
    f->n_notices = 0;
    f->fake.delivers = 0;
    assert_int_equal(qn_qmgr_run(&f->opt, &f->sum), QN_OK);
    assert_false(f->fake.open); /* the session is closed at the end of every run */
    memset(f->fake.reply, 0, sizeof(f->fake.reply));
    memset(f->fake.wecom, 0, sizeof(f->fake.wecom));
}

static const struct record *outcome_of(struct fixture *f, const char *id)
{
    for (size_t i = 0; i < f->n_rec; i++)
        if (strcmp(f->rec[i].id, id) == 0)
            return &f->rec[i];
    fail_msg("no outcome reported for %s", id);
    return NULL;
}

static void assert_starts_with(const char *s, const char *prefix)
{
    if (strncmp(s, prefix, strlen(prefix)) != 0)
        fail_msg("\"%s\" does not start with \"%s\"", s, prefix);
}

/* ---- tests ----------------------------------------------------------------------------- */

static void
test_everything_is_sent_lane_first_then_oldest_and_removed_after_acceptance(void **state)
{
    struct fixture *f = *state;
    char a[QN_SPOOL_ID_MAX], b[QN_SPOOL_ID_MAX], c[QN_SPOOL_ID_MAX];

    spool_message(f, "m1", a);
    spool_event(f, "alert e1", b);
    spool_message(f, "m2", c);
    run(f);
    assert_queues(f, 0, 0, 0);
    /* the login (lane 0) first although it came second, then the messages (lane 2) oldest
     * first; each entry still queued while its mail went */
    assert_int_equal(f->fake.delivers, 3);
    assert_string_equal(f->fake.what[0], "[web1] [warning] alert e1");
    assert_string_equal(f->fake.what[1], "Subject: m1");
    assert_string_equal(f->fake.what[2], "Subject: m2");
    assert_int_equal(f->fake.events[0], 1);
    assert_int_equal(f->fake.queued_at[0], 3);
    assert_int_equal(f->fake.queued_at[1], 2);
    assert_int_equal(f->fake.queued_at[2], 1);
    assert_int_equal(f->fake.opens, 1); /* one session */
    assert_int_equal(f->n_rec, 3);
    assert_int_equal(outcome_of(f, a)->outcome, QN_QMGR_SENT);
    assert_int_equal(outcome_of(f, b)->outcome, QN_QMGR_SENT);
    assert_true(outcome_of(f, c)->moved);
    assert_int_equal(f->sum.mails, 3);
    assert_int_equal(f->sum.messages, 2);
    assert_int_equal(f->sum.events, 1);
    assert_int_equal(f->sum.first, QN_QMGR_ALL_WELL);
    assert_false(f->sum.stopped);
    /* the limiter knows the three mails; the lanes state the event, in its lane */
    char want[256];
    snprintf(want, sizeof(want),
             "ratelimit 1\nbackoff_until 0\nbackoff_s 0\nslow_until 0\nsent %lld\nsent %lld\n"
             "sent %lld\n",
             f->clock, f->clock, f->clock);
    assert_string_equal(state_file(f), want);
}

static void test_burst_is_held_then_sent_as_one_digest(void **state)
{
    struct fixture *f = *state;
    char id[3][QN_SPOOL_ID_MAX];
    struct qn_spool_entry *e;
    long long due;

    f->cfg.limits.digest_after = 2;
    f->cfg.limits.digest_window_s = 600;
    for (int i = 0; i < 3; i++) {
        char subject[32];
        snprintf(subject, sizeof(subject), "alert %d", i);
        spool_event(f, subject, id[i]);
    }
    run(f);
    assert_int_equal(f->fake.delivers, 0);
    assert_int_equal(f->fake.opens, 0); /* nothing to send: no session */
    assert_queues(f, 0, 3, 0);
    e = entry(f, QN_SPOOL_DEFERRED, id[0]);
    due = e->queued + 600;
    assert_int_equal(e->attempts, 0); /* holding is not an attempt */
    assert_int_equal(e->next_try, due);
    assert_string_equal(e->last_error,
                        "part of a burst: merged into one digest at the end of digest_window");
    free_entry(e);
    assert_int_equal(outcome_of(f, id[2])->outcome, QN_QMGR_HELD);
    assert_int_equal(outcome_of(f, id[2])->next_try, due);
    assert_int_equal(f->sum.held, 3);
    assert_int_equal(f->sum.first, QN_QMGR_ALL_WELL);

    /* Not due a second early. */
    f->clock = due - 1;
    run(f);
    assert_int_equal(f->fake.delivers, 0);
    assert_queues(f, 0, 3, 0);

    f->clock = due;
    run(f);
    assert_queues(f, 0, 0, 0);
    assert_int_equal(f->fake.delivers, 1);
    assert_int_equal(f->fake.events[0], 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(f->rec[i].outcome, QN_QMGR_DIGESTED);
        assert_int_equal(f->rec[i].mail_index, i);
        assert_int_equal(f->rec[i].mail_size, 3);
    }
    assert_int_equal(f->sum.mails, 1);
    assert_int_equal(f->sum.digests, 1);
    assert_int_equal(f->sum.events, 3);
}

static void test_limits_hold_without_counting_an_attempt(void **state)
{
    struct fixture *f = *state;
    char a[QN_SPOOL_ID_MAX], b[QN_SPOOL_ID_MAX];
    struct qn_spool_entry *e;

    f->cfg.limits.max_per_minute = 1;
    spool_message(f, "m1", a);
    spool_message(f, "m2", b);
    run(f);
    assert_int_equal(f->fake.delivers, 1);
    assert_queues(f, 0, 1, 0);
    e = entry(f, QN_SPOOL_DEFERRED, b);
    assert_int_equal(e->attempts, 0);
    assert_int_equal(e->next_try, f->clock + 60);
    assert_starts_with(e->last_error, "waiting for the sending limits ([limits] of the "
                                      "configuration): next mail at ");
    assert_string_equal(e->diagnosis, "");
    free_entry(e);
    assert_int_equal(outcome_of(f, b)->outcome, QN_QMGR_HELD);
    assert_int_equal(f->sum.held, 1);
    assert_int_equal(f->sum.first, QN_QMGR_ALL_WELL);
}

static void test_temporary_refusal_defers_with_backoff_and_the_session_goes_on(void **state)
{
    struct fixture *f = *state;
    char a[QN_SPOOL_ID_MAX], b[QN_SPOOL_ID_MAX];
    struct qn_spool_entry *e;

    spool_message(f, "m1", a);
    spool_message(f, "m2", b);
    f->fake.reply[0] = (struct reply){QN_STAGE_DATA, 451, "4.3.0 Temporary system problem"};
    run(f);
    assert_int_equal(f->fake.delivers, 2);
    assert_int_equal(f->fake.opens, 1);
    assert_queues(f, 0, 1, 0);
    e = entry(f, QN_SPOOL_DEFERRED, a);
    assert_int_equal(e->attempts, 1);
    /* retry_min plus up to a quarter more */
    assert_in_range(e->next_try, f->clock + 60, f->clock + 75);
    assert_string_equal(e->last_error, "data: temporary failure, retry later (451)");
    assert_string_equal(e->diagnosis, "temporary-failure");
    assert_int_equal(outcome_of(f, a)->outcome, QN_QMGR_DEFERRED);
    assert_int_equal(outcome_of(f, a)->smtp_code, 451);
    assert_int_equal(outcome_of(f, a)->next_try, e->next_try);
    free_entry(e);
    assert_int_equal(outcome_of(f, b)->outcome, QN_QMGR_SENT);
    assert_int_equal(f->sum.deferred, 1);
    assert_int_equal(f->sum.first, QN_QMGR_ATTN_DEFERRED);
    assert_false(f->sum.stopped);

    /* A second failure doubles the wait. */
    f->clock += 100;
    f->fake.reply[0] = (struct reply){QN_STAGE_DATA, 451, "4.3.0 Again"};
    run(f);
    e = entry(f, QN_SPOOL_DEFERRED, a);
    assert_int_equal(e->attempts, 2);
    assert_in_range(e->next_try, f->clock + 120, f->clock + 150);
    free_entry(e);
}

static void test_permanent_refusal_fails_the_entry_with_its_diagnosis(void **state)
{
    struct fixture *f = *state;
    char a[QN_SPOOL_ID_MAX], b[QN_SPOOL_ID_MAX];
    struct qn_spool_entry *e;

    spool_message(f, "m1", a);
    spool_message(f, "m2", b);
    f->fake.reply[0] = (struct reply){QN_STAGE_RCPT, 550, "Mailbox not found"};
    run(f);
    assert_queues(f, 0, 0, 1);
    e = entry(f, QN_SPOOL_FAILED, a);
    assert_string_equal(e->last_error, "rcpt: rejected by the server (550)");
    assert_string_equal(e->diagnosis, "recipient-unknown");
    free_entry(e);
    assert_int_equal(outcome_of(f, a)->outcome, QN_QMGR_FAILED);
    assert_int_equal(outcome_of(f, a)->smtp_code, 550);
    assert_int_equal(outcome_of(f, b)->outcome, QN_QMGR_SENT);
    assert_int_equal(f->sum.failed, 1);
    assert_int_equal(f->sum.first, QN_QMGR_ATTN_FAILED);
}

static void test_login_failure_stops_the_run_and_defers_the_rest(void **state)
{
    struct fixture *f = *state;
    char id[3][QN_SPOOL_ID_MAX];

    spool_message(f, "m1", id[0]);
    spool_event(f, "alert e1", id[1]);
    spool_event(f, "alert e2", id[2]);
    f->fake.open_fails = true;
    qn_error_set_reply(&f->fake.open_err, QN_STAGE_AUTH, 535, "Error: authentication failed",
                       strlen("Error: authentication failed"));
    run(f);
    assert_int_equal(f->fake.opens, 1); /* not once per entry */
    assert_int_equal(f->fake.delivers, 0);
    assert_queues(f, 0, 3, 0);
    for (int i = 0; i < 3; i++) {
        struct qn_spool_entry *e = entry(f, QN_SPOOL_DEFERRED, id[i]);

        assert_int_equal(e->attempts, 1);
        assert_string_equal(e->last_error, "auth: authentication failed (535)");
        assert_string_equal(e->diagnosis, "auth-failed");
        assert_int_equal(outcome_of(f, id[i])->outcome, QN_QMGR_DEFERRED);
        assert_int_equal(outcome_of(f, id[i])->smtp_code, 535);
        free_entry(e);
    }
    assert_int_equal(f->notice[1], QN_QMGR_STOPPED); /* after the pass began */
    assert_int_equal(f->sum.first, QN_QMGR_ATTN_STOPPED);
    assert_true(f->sum.stopped);
    assert_int_equal(f->sum.stop_error.status, QN_EAUTH);
    assert_int_equal(f->sum.deferred, 3);
}

static void test_frequency_limit_reply_backs_off_everything(void **state)
{
    struct fixture *f = *state;
    char id[3][QN_SPOOL_ID_MAX];
    char want[256];

    for (int i = 0; i < 3; i++)
        spool_message(f, "m", id[i]);
    f->fake.reply[0] = (struct reply){QN_STAGE_MAIL, 550, "Connection frequency limited"};
    run(f);
    assert_int_equal(f->fake.delivers, 1); /* stop at the first frequency reply */
    assert_queues(f, 0, 3, 0);
    for (int i = 0; i < 3; i++) {
        struct qn_spool_entry *e = entry(f, QN_SPOOL_DEFERRED, id[i]);

        assert_int_equal(e->next_try, f->clock + 60); /* the limiter's backoff, for all */
        assert_string_equal(e->diagnosis, "frequency-limited");
        free_entry(e);
    }
    snprintf(want, sizeof(want), "ratelimit 1\nbackoff_until %lld\nbackoff_s 60\nslow_until %lld\n",
             f->clock + 60, f->clock + 86400);
    assert_string_equal(state_file(f), want);
    assert_true(f->sum.stopped);
    assert_int_equal(f->sum.first, QN_QMGR_ATTN_STOPPED);

    /* During the backoff even due entries wait: no session at all. */
    f->clock += 59;
    f->fake.opens = 0;
    for (int i = 0; i < 3; i++)
        assert_int_equal(qn_spool_retry(f->sp, QN_SPOOL_DEFERRED, id[i]), QN_OK);
    run(f);
    assert_int_equal(f->fake.opens, 0);
    assert_int_equal(f->sum.held, 3);
    assert_queues(f, 0, 3, 0);
}

/* A robot route: its own limits and state file, its platform's diagnoses, its block. */
/* A transport with limits of its own (failover.h): no route may send for 5 minutes. */
static unsigned fake_available(void *ctx, long long now, long long *ret_next)
{
    (void)ctx;
    *ret_next = now + 300;
    return 0;
}

static void test_a_transports_own_limits_hold_without_an_attempt(void **state)
{
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX];
    struct qn_spool_entry *e;

    f->opt.transport.available = fake_available;
    spool_message(f, "m1", id);
    run(f);
    assert_int_equal(f->fake.delivers, 0);
    assert_int_equal(outcome_of(f, id)->outcome, QN_QMGR_HELD);
    e = entry(f, QN_SPOOL_DEFERRED, id);
    assert_int_equal(e->attempts, 0);
    assert_int_equal(e->next_try, f->clock + 300);
    assert_starts_with(e->last_error,
                       "waiting for a route that may send (limits or health): next at ");
    free_entry(e);
}

static void test_a_route_counts_in_its_own_state_with_its_own_limits(void **state)
{
    static const struct qn_ratelimit_config ding = {.max_per_minute = 1, .block_s = 600};
    struct fixture *f = *state;
    char id[2][QN_SPOOL_ID_MAX];

    f->opt.transport.provider = "wecom";
    f->opt.transport.limits = &ding;
    f->opt.transport.state = "ratelimit.ops";
    spool_message(f, "m1", id[0]);
    spool_message(f, "m2", id[1]);
    run(f);
    assert_int_equal(f->fake.delivers, 1);
    assert_int_equal(outcome_of(f, id[0])->outcome, QN_QMGR_SENT);
    assert_int_equal(outcome_of(f, id[1])->outcome, QN_QMGR_HELD);
    assert_starts_with(outcome_of(f, id[1])->reason,
                       "waiting for the sending limits of route fake: next message at ");
    assert_non_null(strstr(state_file_named(f, "ratelimit.ops"), "\nsent "));
    assert_null(state_file_named(f, "ratelimit"));

    /* A frequency answer: the platform's diagnosis, and no message before its block ends. */
    f->clock += 61;
    assert_int_equal(qn_spool_retry(f->sp, QN_SPOOL_DEFERRED, id[1]), QN_OK);
    f->fake.wecom[0] = "{\"errcode\":45009,\"errmsg\":\"api freq out of limit\"}";
    run(f);
    assert_int_equal(f->fake.delivers, 1);
    assert_string_equal(outcome_of(f, id[1])->diagnosis, "wecom-rate-limited");
    assert_true(outcome_of(f, id[1])->next_try == f->clock + 600);
    assert_true(f->sum.stopped);
}

static void test_entries_older_than_max_age_expire_into_failed(void **state)
{
    struct fixture *f = *state;
    char a[QN_SPOOL_ID_MAX];
    struct qn_spool_entry *e;

    f->cfg.max_age_s = 100;
    spool_event(f, "old alert", a);
    f->clock += 101;
    run(f);
    assert_int_equal(f->fake.opens, 0);
    assert_queues(f, 0, 0, 1);
    e = entry(f, QN_SPOOL_FAILED, a);
    assert_string_equal(e->last_error,
                        "not delivered within max_age (100 s) after 0 attempts; last error: none");
    free_entry(e);
    assert_int_equal(f->rec[0].outcome, QN_QMGR_EXPIRED);
    assert_true(f->rec[0].moved);
    assert_int_equal(f->sum.expired, 1);
    assert_int_equal(f->sum.first, QN_QMGR_ATTN_EXPIRED);
}

static void test_corrupt_and_oversized_entries_are_quarantined(void **state)
{
    struct fixture *f = *state;
    static const char bad[] = "1700000000.000000.123.0123456789abcdef";
    static const char big[] = "1700000001.000000.123.0123456789abcdef";
    char good[QN_SPOOL_ID_MAX], reason[128];

    plant(f, bad, "qqnotify-spool 1\ntype event\n", 0);
    plant(f, big, "", (off_t)(f->cfg.max_entry_size + QN_SPOOL_HEADER_MAX + 1));
    spool_message(f, "m1", good);
    run(f);
    assert_queues(f, 0, 0, 2);
    assert_int_equal(qn_spool_reason(f->sp, bad, reason, sizeof(reason)), QN_OK);
    assert_string_equal(reason, "corrupt spool entry: invalid argument or input");
    assert_int_equal(qn_spool_reason(f->sp, big, reason, sizeof(reason)), QN_OK);
    assert_string_equal(reason, "corrupt spool entry: size limit exceeded");
    assert_int_equal(outcome_of(f, bad)->outcome, QN_QMGR_QUARANTINED);
    assert_int_equal(outcome_of(f, bad)->status, QN_EINVAL);
    assert_int_equal(outcome_of(f, big)->status, QN_ETOOBIG);
    assert_int_equal(outcome_of(f, good)->outcome, QN_QMGR_SENT); /* the queue went on */
    assert_int_equal(f->sum.quarantined, 2);
    assert_int_equal(f->sum.first, QN_QMGR_ATTN_CORRUPT);
}

static void test_passes_and_rounds_are_bounded(void **state)
{
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX];

    for (int i = 0; i < 7; i++)
        spool_message(f, "m", id);
    f->opt.pass_max = 2;
    f->opt.passes_max = 1;
    run(f);
    /* one pass of two per round, QN_QMGR_RELOCK_MAX rounds: one entry waits */
    assert_int_equal(QN_QMGR_RELOCK_MAX, 3);
    assert_int_equal(f->fake.delivers, 6);
    assert_queues(f, 1, 0, 0);
    assert_int_equal(f->n_notices, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(f->notice[i], QN_QMGR_PASS);
        assert_int_equal(f->notice_count[i], 2);
    }
    assert_int_equal(f->fake.opens, 3); /* the session is closed with each round's lock */

    f->opt.passes_max = 0; /* the default */
    run(f);
    assert_queues(f, 0, 0, 0);
}

static void test_another_sender_holding_the_lock_means_nothing_is_done(void **state)
{
    struct fixture *f = *state;
    struct qn_spool *other = NULL;
    char id[QN_SPOOL_ID_MAX];
    bool locked = false;

    spool_message(f, "m", id);
    assert_int_equal(qn_spool_open(f->dir, 0, 0, &other), QN_OK);
    assert_int_equal(qn_spool_lock(other, &locked), QN_OK);
    assert_true(locked);
    run(f);
    assert_int_equal(f->n_notices, 1);
    assert_int_equal(f->notice[0], QN_QMGR_BUSY);
    assert_int_equal(f->n_rec, 0);
    assert_queues(f, 1, 0, 0);
    qn_spool_close(other);
}

static void test_a_login_goes_first_whatever_floods_the_lanes_below(void **state)
{
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX], login[QN_SPOOL_ID_MAX];

    /* 150 users' notifications and 150 journal alerts, all older than the login. */
    for (int i = 0; i < 150; i++) {
        add_event(f, "notify", QN_LANE_USER, QN_ORIGIN_USER, "user", NULL, f->clock - 600 + i, id);
        add_event(f, "journal", QN_LANE_JOURNAL, QN_ORIGIN_SYSTEM, "journal", "r", f->clock - 600,
                  id);
    }
    spool_event(f, "root logged in", login);
    f->cfg.queue.rule_max = 0;
    f->cfg.queue.user_max = 0;
    f->opt.pass_max = 100;
    f->opt.passes_max = 1;
    run(f);
    /* Each round one pass of 100: the login first and alone, then the journal alerts; no
     * user entry while journal alerts wait. */
    assert_int_equal(f->fake.delivers, 300); /* three rounds */
    assert_string_equal(f->fake.what[0], "[web1] [warning] root logged in");
    assert_int_equal(f->fake.events[0], 1);
    for (size_t i = 1; i <= 150; i++)
        assert_string_equal(f->fake.what[i], "[web1] [warning] journal");
    for (size_t i = 151; i < f->fake.delivers; i++)
        assert_string_equal(f->fake.what[i], "[web1] [info] user");
}

static void test_a_digest_never_mixes_lanes(void **state)
{
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX];

    f->cfg.limits.digest_after = 3;
    f->cfg.limits.digest_window_s = 600;
    for (int i = 0; i < 10; i++)
        add_event(f, "notify", QN_LANE_USER, QN_ORIGIN_USER, "from user root: n", NULL,
                  f->clock - 700, id);
    spool_event(f, "root logged in", id);
    run(f);
    /* The login alone, at once; the users' burst, a whole window old, as one digest. */
    assert_int_equal(f->fake.delivers, 2);
    assert_string_equal(f->fake.what[0], "[web1] [warning] root logged in");
    assert_int_equal(f->fake.events[0], 1);
    assert_int_equal(f->fake.events[1], 10);
    assert_starts_with(f->fake.what[1], "[web1] from user root: [info] digest of 10 alerts (");
}

static void test_a_journal_rule_past_its_cap_is_counted_then_summarised(void **state)
{
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX];

    f->cfg.queue.rule_max = 3;
    f->cfg.queue.cap_window_s = 600;
    for (int i = 0; i < 50; i++)
        add_event(f, "journal", QN_LANE_JOURNAL, QN_ORIGIN_SYSTEM, "disk full", "disk-full", 0, id);
    run(f);
    assert_int_equal(f->fake.delivers, 3);
    assert_int_equal(f->sum.capped, 47);
    assert_queues(f, 0, 0, 0);
    /* The window ends: one summary in the journal lane, sent like any alert. */
    f->clock += 600;
    run(f);
    assert_int_equal(f->sum.summaries, 1);
    assert_int_equal(f->fake.delivers, 1);
    assert_non_null(strstr(f->fake.what[0], "rule disk-full fired 47 times in 10 minutes"));
    run(f);
    assert_int_equal(f->fake.delivers, 0); /* once */
}

static void test_an_entry_of_another_owner_is_quarantined(void **state)
{
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX], path[192], reason[160];

    if (geteuid() != 0) {
        /* tests/run.sh counts this line and the skip as "not run: needs root" */
        print_message("needs root: chown to another user\n");
        skip();
    }
    spool_event(f, "root logged in", id);
    snprintf(path, sizeof(path), "%s/new/%s", f->dir, id);
    assert_int_equal(chown(path, 4242, 4242), 0);
    run(f);
    assert_int_equal(f->fake.delivers, 0);
    assert_queues(f, 0, 0, 1);
    assert_int_equal(qn_spool_reason(f->sp, id, reason, sizeof(reason)), QN_OK);
    assert_string_equal(reason, "written by uid 4242, which is neither root nor the spool's "
                                "user: not trusted");
    assert_int_equal(f->sum.quarantined, 1);
}

static void test_a_backoff_until_the_year_9999_in_the_state_holds_at_most_an_hour(void **state)
{
    struct fixture *f = *state;
    static const char planted[] = "ratelimit 1\nbackoff_until 253402300799\nbackoff_s 3600\n"
                                  "slow_until 253402300799\nsent 253402300799\n";
    char id[QN_SPOOL_ID_MAX];
    struct qn_spool_entry *e;

    assert_int_equal(qn_spool_state_write(f->sp, QN_QUOTA_STATE_NAME, planted, strlen(planted)),
                     QN_OK);
    f->cfg.limits.max_per_minute = 5;
    spool_event(f, "root logged in", id);
    run(f);
    assert_int_equal(f->fake.delivers, 0);
    e = entry(f, QN_SPOOL_DEFERRED, id);
    assert_true(e->next_try <= f->clock + 3600); /* clamped: never the year 9999 */
    free_entry(e);
    assert_int_equal(f->sum.held, 1);
    assert_true(f->sum.oldest_waiting == f->clock);
    assert_int_equal(f->sum.waiting, 1);
}

static void test_entries_are_read_within_max_entry_size(void **state)
{
    struct fixture *f = *state;
    static const char big[] = "1700000001.000000.123.0123456789abcdef";
    char good[QN_SPOOL_ID_MAX];

    /* A message of 16 MiB in a spool whose bound is 64 KiB: refused before it is read. */
    f->cfg.max_entry_size = 64 * 1024;
    plant(f, big, "qqnotify-spool 2\n", (off_t)16 * 1024 * 1024);
    spool_message(f, "m1", good);
    run(f);
    assert_int_equal(outcome_of(f, big)->outcome, QN_QMGR_QUARANTINED);
    assert_int_equal(outcome_of(f, big)->status, QN_ETOOBIG);
    assert_int_equal(outcome_of(f, good)->outcome, QN_QMGR_SENT);
}

/* ---- less noise (triage.h) -------------------------------------------------------------- */

/* A login or logout of the PAM module (root, lane 0) of USER from IP at time WHEN, with the
 * session key SESSION when not NULL. */
static void add_session_event(struct fixture *f, const char *kind, const char *user, const char *ip,
                              const char *session, long long when, char *ret_id)
{
    struct qn_spool_entry *e = calloc(1, sizeof(*e));

    assert_non_null(e);
    e->type = QN_SPOOL_EVENT;
    e->origin = QN_ORIGIN_SYSTEM;
    e->lane = QN_LANE_LOGIN;
    e->queued = when;
    qn_event_init(&e->event, kind);
    e->event.time = when;
    qn_event_set_host(&e->event, "web1");
    qn_event_set(&e->event, "service", "sshd");
    qn_event_set(&e->event, "user", user);
    qn_event_set(&e->event, "ip", ip);
    if (session != NULL)
        qn_event_set(&e->event, "session", session);
    assert_int_equal(qn_spool_add(f->sp, e, 0, ret_id), QN_OK);
    free(e);
}

static const char *read_state(struct fixture *f, const char *name)
{
    static char buf[65536];
    size_t len = 0;

    buf[0] = '\0';
    if (qn_spool_state_read(f->sp, name, buf, sizeof(buf) - 1, &len) == QN_OK)
        buf[len] = '\0';
    return buf;
}

static void test_a_silenced_event_is_counted_and_removed_without_a_mail(void **state)
{
    struct fixture *f = *state;
    struct qn_silences *set = calloc(1, sizeof(*set));
    struct qn_silence s = {.n_matches = 1};
    char id[QN_SPOOL_ID_MAX], want[96];

    assert_non_null(set);
    f->cfg.noise.rdns = false;
    qn_silences_init(set);
    memcpy(s.id, "0123456789ab", 13);
    s.created = s.start = f->clock - 60;
    s.end = f->clock + 3600;
    snprintf(s.creator, sizeof(s.creator), "root (uid 0)");
    assert_int_equal(qn_silence_match_parse("user=dep*", &s.matches[0]), QN_OK);
    assert_int_equal(qn_silences_add(set, &s, f->clock), QN_OK);
    assert_int_equal(qn_silences_write(f->sp, set), QN_OK);
    add_session_event(f, "login", "deploy", "203.0.113.9", NULL, f->clock - 5, id);
    add_session_event(f, "login", "alice", "203.0.113.9", NULL, f->clock - 4, id);
    add_session_event(f, "login", "deploy", "203.0.113.9", NULL, f->clock - 3, id);
    run(f);
    assert_queues(f, 0, 0, 0);
    assert_int_equal(f->fake.delivers, 1);
    assert_string_equal(f->fake.what[0],
                        "[web1] [warning] alice logged in via ssh from 203.0.113.9");
    assert_int_equal(f->sum.silenced, 2);
    assert_int_equal(f->sum.events, 1);
    assert_int_equal(f->rec[0].outcome, QN_QMGR_SILENCED);
    assert_string_equal(f->rec[0].reason, "silenced by 0123456789ab");
    assert_true(f->rec[0].moved);
    snprintf(want, sizeof(want), "\nsilenced 0123456789ab 2 %lld %lld\n", f->clock - 5,
             f->clock - 3);
    assert_non_null(strstr(read_state(f, QN_TALLY_STATE_NAME), want));
    free(set);
}

static void test_a_known_login_is_counted_not_mailed_with_notify_new(void **state)
{
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX];

    f->cfg.noise.rdns = false;
    f->cfg.noise.login_notify = QN_LOGIN_NOTIFY_NEW;
    add_session_event(f, "login", "alice", "203.0.113.9", NULL, f->clock - 10, id);
    run(f);
    assert_int_equal(f->fake.delivers, 1);
    /* the same /24 again, then another network */
    add_session_event(f, "login", "alice", "203.0.113.200", NULL, f->clock - 5, id);
    run(f);
    assert_int_equal(f->fake.delivers, 0);
    assert_int_equal(f->sum.known, 1);
    assert_int_equal(f->rec[0].outcome, QN_QMGR_SILENCED);
    assert_string_equal(f->rec[0].reason, "known login ([login] notify = new)");
    add_session_event(f, "login", "alice", "198.51.100.1", NULL, f->clock - 1, id);
    run(f);
    assert_int_equal(f->fake.delivers, 1);
    assert_non_null(strstr(read_state(f, QN_TALLY_STATE_NAME), "\nknown 1 "));
    assert_non_null(strstr(read_state(f, "seen"), "\nseen alice 198.51.100.0/24 "));
}

/* More logins in one pass than the triage keeps to replay: none is lost from state/seen. */
static void test_every_login_of_a_large_pass_reaches_the_seen_table(void **state)
{
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX], user[16];
    const char *seen, *p;
    size_t lines = 0;

    f->cfg.noise.rdns = false;
    f->cfg.noise.login_notify = QN_LOGIN_NOTIFY_NEW;
    f->cfg.limits.digest_after = 1000;
    f->opt.pass_max = 300;
    for (int i = 0; i < 300; i++) {
        snprintf(user, sizeof(user), "u%d", i);
        add_session_event(f, "login", user, "203.0.113.9", NULL, f->clock - 300 + i, id);
    }
    run(f);
    assert_int_equal(f->sum.events, 300);
    seen = read_state(f, "seen");
    for (p = seen; (p = strstr(p, "\nseen u")) != NULL; p++)
        lines++;
    assert_int_equal(lines, 300);
}

/* A login whose mail was refused for now is judged again on its retry: still new (the seen
 * table records a login only when it leaves the queue), so it is still mailed. */
static void test_a_new_login_that_waited_is_still_new_when_it_goes(void **state)
{
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX];

    f->cfg.noise.rdns = false;
    f->cfg.noise.login_notify = QN_LOGIN_NOTIFY_NEW;
    add_session_event(f, "login", "alice", "203.0.113.9", NULL, f->clock - 10, id);
    f->fake.reply[0] = (struct reply){QN_STAGE_DATA, 451, "4.3.0 Temporary system problem"};
    run(f);
    assert_int_equal(f->fake.delivers, 1);
    assert_queues(f, 0, 1, 0);
    assert_null(strstr(read_state(f, "seen"), "alice"));
    f->clock += 7200;
    f->fake.reply[0] = (struct reply){QN_STAGE_NONE, 0, NULL};
    run(f);
    assert_int_equal(f->fake.delivers, 1);
    assert_non_null(strstr(f->fake.what[0], "alice logged in"));
    assert_queues(f, 0, 0, 0);
    assert_non_null(strstr(read_state(f, "seen"), "\nseen alice 203.0.113.0/24 "));
}

static void test_a_logout_says_how_long_its_session_lasted(void **state)
{
    struct fixture *f = *state;
    const char *key = "0123456789abcdef0123456789abcdef:4242:99";
    char id[QN_SPOOL_ID_MAX];

    f->cfg.noise.rdns = false;
    add_session_event(f, "login", "alice", "203.0.113.9", key, f->clock - 8040 - 60, id);
    run(f);
    assert_non_null(strstr(read_state(f, "sessions"), "\nsession 0123456789abcdef0123456789abcdef"
                                                      ":4242:99 alice "));
    add_session_event(f, "logout", "alice", "203.0.113.9", key, f->clock - 60, id);
    run(f);
    assert_int_equal(f->fake.delivers, 1);
    assert_string_equal(f->fake.what[0],
                        "[web1] [info] alice's ssh session from 203.0.113.9 ended after 2h 14m");
    assert_string_equal(read_state(f, "sessions"), "qqnotify-sessions 1\n");
}

/* A day at HH:MM UTC. */
static long long utc(int hh, int mm)
{
    return 1764547200LL /* 2025-12-01 00:00 UTC */ + hh * 3600LL + mm * 60LL;
}

static void test_quiet_hours_hold_all_but_critical_then_one_digest(void **state)
{
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX];

    setenv("TZ", "UTC", 1);
    tzset();
    f->cfg.noise.rdns = false;
    assert_int_equal(qn_quiet_parse("02:00-03:00", &f->cfg.noise.quiet), QN_OK);
    f->clock = utc(2, 30);
    add_session_event(f, "login", "alice", "203.0.113.9", NULL, utc(2, 20), id);
    add_session_event(f, "login", "bob", "203.0.113.9", NULL, utc(2, 21), id);
    add_session_event(f, "login", "root", "203.0.113.9", NULL, utc(2, 22), id);
    run(f);
    assert_int_equal(f->fake.delivers, 1);
    assert_string_equal(f->fake.what[0],
                        "[web1] [critical] root logged in via ssh from 203.0.113.9");
    assert_int_equal(f->sum.held, 2);
    assert_int_equal(f->sum.quiet, 2);
    assert_int_equal(f->rec[0].outcome, QN_QMGR_HELD);
    assert_int_equal(f->rec[0].next_try, utc(3, 0));
    assert_string_equal(f->rec[0].reason,
                        "quiet hours ([quiet] hours): held until 2025-12-01 03:00");
    assert_queues(f, 0, 2, 0);
    f->clock = utc(2, 59);
    run(f);
    assert_int_equal(f->fake.delivers, 0);
    f->clock = utc(3, 0);
    run(f);
    assert_int_equal(f->fake.delivers, 1);
    assert_int_equal(f->fake.events[0], 2);
    assert_int_equal(f->sum.digests, 1);
    assert_string_equal(f->fake.what[0], "[web1] [warning] digest of 2 alerts (02:20–02:21)");
    assert_queues(f, 0, 0, 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_everything_is_sent_lane_first_then_oldest_and_removed_after_acceptance),
        T(test_burst_is_held_then_sent_as_one_digest),
        T(test_limits_hold_without_counting_an_attempt),
        T(test_a_transports_own_limits_hold_without_an_attempt),
        T(test_temporary_refusal_defers_with_backoff_and_the_session_goes_on),
        T(test_permanent_refusal_fails_the_entry_with_its_diagnosis),
        T(test_login_failure_stops_the_run_and_defers_the_rest),
        T(test_frequency_limit_reply_backs_off_everything),
        T(test_a_route_counts_in_its_own_state_with_its_own_limits),
        T(test_entries_older_than_max_age_expire_into_failed),
        T(test_corrupt_and_oversized_entries_are_quarantined),
        T(test_passes_and_rounds_are_bounded),
        T(test_another_sender_holding_the_lock_means_nothing_is_done),
        T(test_a_login_goes_first_whatever_floods_the_lanes_below),
        T(test_a_digest_never_mixes_lanes),
        T(test_a_journal_rule_past_its_cap_is_counted_then_summarised),
        T(test_an_entry_of_another_owner_is_quarantined),
        T(test_a_backoff_until_the_year_9999_in_the_state_holds_at_most_an_hour),
        T(test_entries_are_read_within_max_entry_size),
        T(test_a_silenced_event_is_counted_and_removed_without_a_mail),
        T(test_a_known_login_is_counted_not_mailed_with_notify_new),
        T(test_a_new_login_that_waited_is_still_new_when_it_goes),
        T(test_every_login_of_a_large_pass_reaches_the_seen_table),
        T(test_a_logout_says_how_long_its_session_lasted),
        T(test_quiet_hours_hold_all_but_critical_then_one_digest),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
