/*
 * writer — see writer.h.
 */
#include "writer.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "i18n.h"
#include "enqueue.h"

#define JW_QUEUE_MAX 64 /* jobs: entries with alerts waiting to be written */

struct jw_job {
    struct qn_event **events;
    size_t n_events;
    char *state; /* NULL: no state to write (the cursor could not be read) */
    size_t state_len;
    struct jw_job *next;
};

/* Every field under MU, except SETUP, THREAD and DONE_FD, which are set before the thread
 * starts and left alone until it is joined. */
struct jw_writer {
    struct jw_writer_setup setup;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* the thread waits: a job, finish or abandon */
    pthread_cond_t cv_done; /* the reader waits: a job done, or the thread gone */
    struct jw_job *head, *tail;
    size_t queued;             /* jobs not finished, the one being written included */
    bool running;              /* the thread has not returned */
    bool retrying;             /* the thread waits to try a failing spool again */
    bool finish;               /* write what is queued, then return */
    bool abandon;              /* write nothing more */
    bool state_failed;         /* a state write failed since the reader last asked */
    unsigned long long alerts; /* events put into the spool */
    int done_fd;               /* eventfd: a job finished (the reader polls it) */
};

static void job_free(struct jw_job *job)
{
    size_t i;

    if (job == NULL)
        return;
    for (i = 0; i < job->n_events; i++)
        free(job->events[i]);
    free(job->events);
    free(job->state);
    free(job);
}

static void deadline_in(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Put EV into the spool, retrying a failing spool.  False: abandoned (stop). */
static bool put_one(struct jw_writer *q, struct qn_event *ev)
{
    const struct qn_log *log = q->setup.log;
    const char *rule = qn_event_get(ev, "rule");
    const char *count = qn_event_get(ev, "count");
    char id[QN_SPOOL_ID_MAX];
    long pause_ms = 1000;
    enum qn_status r;

    if (rule == NULL)
        rule = "-";
    for (;;) {
        struct timespec until;
        bool give_up;

        r = qn_enqueue_event(q->setup.spool_dir, ev, q->setup.max_entry_size, id);
        if (r == QN_OK)
            break;
        if (r == QN_ETOOBIG || r == QN_EINVAL) {
            /* Cannot get better by waiting (an event is bounded by construction,
             * so this means a [spool] max_entry_size below one event): say so. */
            qn_log(log, LOG_ERR,
                   _("the alert of rule %s cannot be spooled (%s): raise [spool] "
                     "max_entry_size in the configuration; this alert is lost"),
                   rule, _(qn_strerror(r)));
            return true;
        }
        qn_log(log, LOG_ERR,
               _("cannot spool the alert of rule %s in %s: %s%s%s; retrying "
                 "in %ld s"),
               rule, q->setup.spool_dir, _(qn_strerror(r)), r == QN_EIO ? ": " : "",
               r == QN_EIO ? strerror(errno) : "", pause_ms / 1000);
        deadline_in(&until, pause_ms);
        pthread_mutex_lock(&q->mu);
        q->retrying = true;
        while (!q->abandon && !q->finish &&
               pthread_cond_timedwait(&q->cv, &q->mu, &until) != ETIMEDOUT)
            ;
        /* Asked to finish (exit) while the spool fails: give up rather than
         * hang the exit; the entry is read again at the next start. */
        give_up = q->abandon || q->finish;
        q->retrying = false;
        pthread_mutex_unlock(&q->mu);
        if (give_up) {
            qn_log(log, LOG_WARNING,
                   _("stopping with the alert of rule %s not spooled: it is raised again "
                     "at the next start"),
                   rule);
            return false;
        }
        pause_ms = pause_ms * 2 < 60000 ? pause_ms * 2 : 60000;
    }
    pthread_mutex_lock(&q->mu);
    q->alerts++;
    pthread_mutex_unlock(&q->mu);
    qn_log(log, LOG_INFO, _("rule %s fired on %s (%s matching entries): spooled as %s"), rule,
           ev->host[0] ? ev->host : "-", count != NULL ? count : "1", id);
    return true;
}

static void write_state(struct jw_writer *q, const struct jw_job *job)
{
    if (job->state == NULL)
        return;
    if (jw_state_write_nowait(q->setup.state, job->state, job->state_len) != QN_OK) {
        pthread_mutex_lock(&q->mu);
        q->state_failed = true; /* the reader saves again (jw_writer_take_state_failure) */
        pthread_mutex_unlock(&q->mu);
    }
}

/* Wake the reader's poll (an eventfd cannot overflow at one add per job). */
static void wake_reader(struct jw_writer *q)
{
    uint64_t one = 1;

    if (write(q->done_fd, &one, sizeof(one)) != (ssize_t)sizeof(one) && errno != EAGAIN)
        return; /* nothing better to do: the reader still sees the count at its next wake */
}

int jw_writer_wake_fd(const struct jw_writer *q)
{
    return q->done_fd;
}

void jw_writer_clear_wake(struct jw_writer *q)
{
    uint64_t n;

    if (read(q->done_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        qn_log(q->setup.log, LOG_DEBUG, "eventfd read: %s", strerror(errno));
}

static void *writer_main(void *arg)
{
    struct jw_writer *q = arg;

    pthread_mutex_lock(&q->mu);
    for (;;) {
        struct jw_job *job;
        bool done = true;
        size_t i;

        while (q->head == NULL && !q->finish && !q->abandon)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->abandon || q->head == NULL)
            break;
        job = q->head;
        q->head = job->next;
        if (q->head == NULL)
            q->tail = NULL;
        pthread_mutex_unlock(&q->mu);

        for (i = 0; i < job->n_events && done; i++)
            done = put_one(q, job->events[i]);
        if (done)
            write_state(q, job);
        job_free(job);

        pthread_mutex_lock(&q->mu);
        q->queued--;
        if (!done)
            q->abandon = true;
        pthread_cond_broadcast(&q->cv_done);
        wake_reader(q);
        if (q->abandon)
            break;
    }
    /* Abandoned: what is left is read again at the next start. */
    while (q->head != NULL) {
        struct jw_job *job = q->head;
        q->head = job->next;
        job_free(job);
        q->queued--;
    }
    q->tail = NULL;
    q->running = false;
    pthread_cond_broadcast(&q->cv_done);
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

int jw_writer_start(struct jw_writer **ret, const struct jw_writer_setup *setup)
{
    struct jw_writer *q;
    pthread_condattr_t ca;
    int e;

    q = calloc(1, sizeof(*q));
    if (q == NULL) {
        qn_log(setup->log, LOG_ERR, _("cannot start the spool writer thread: %s"),
               strerror(ENOMEM));
        return -1;
    }
    q->setup = *setup;
    q->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (q->done_fd < 0) {
        e = errno;
        goto fail;
    }
    if ((e = pthread_mutex_init(&q->mu, NULL)) != 0)
        goto fail_fd;
    if ((e = pthread_condattr_init(&ca)) != 0)
        goto fail_mu;
    if ((e = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC)) != 0 ||
        (e = pthread_cond_init(&q->cv, &ca)) != 0) {
        pthread_condattr_destroy(&ca);
        goto fail_mu;
    }
    if ((e = pthread_cond_init(&q->cv_done, &ca)) != 0) {
        pthread_condattr_destroy(&ca);
        goto fail_cv;
    }
    pthread_condattr_destroy(&ca);
    q->running = true;
    /* The signals are blocked already (signalfd): the thread inherits the mask. */
    if ((e = pthread_create(&q->thread, NULL, writer_main, q)) != 0) {
        q->running = false;
        pthread_cond_destroy(&q->cv_done);
        goto fail_cv;
    }
    *ret = q;
    return 0;

fail_cv:
    pthread_cond_destroy(&q->cv);
fail_mu:
    pthread_mutex_destroy(&q->mu);
fail_fd:
    close(q->done_fd);
fail:
    qn_log(setup->log, LOG_ERR, _("cannot start the spool writer thread: %s"), strerror(e));
    free(q);
    return -1;
}

/*
 * Wait (on the reader's side) until the queue has fewer than LIMIT jobs,
 * keeping the reader alive (KEEP_ALIVE).  A stop request while the writer
 * retries a failing spool abandons the queue.  False: abandoned.
 */
static bool wait_below(struct jw_writer *q, size_t limit)
{
    bool ok;

    pthread_mutex_lock(&q->mu);
    for (;;) {
        struct timespec until;

        if (q->abandon || !q->running) {
            ok = q->queued < limit && !q->abandon;
            break;
        }
        if (q->queued < limit) {
            ok = true;
            break;
        }
        if (q->retrying && q->setup.stop_requested(q->setup.reader_ctx)) {
            q->abandon = true; /* the thread lets go; jw_writer_stop joins it */
            pthread_cond_broadcast(&q->cv);
            continue;
        }
        deadline_in(&until, 250);
        pthread_cond_timedwait(&q->cv_done, &q->mu, &until);
        pthread_mutex_unlock(&q->mu);
        q->setup.keep_alive(q->setup.reader_ctx);
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return ok;
}

int jw_writer_submit(struct jw_writer *q, struct qn_event **events, size_t n_events, char *state,
                     size_t state_len)
{
    struct jw_job *job;

    job = calloc(1, sizeof(*job));
    if (job == NULL) {
        for (size_t i = 0; i < n_events; i++)
            free(events[i]);
        free(events);
        free(state);
        return -1;
    }
    job->events = events;
    job->n_events = n_events;
    job->state = state;
    job->state_len = state_len;
    if (!wait_below(q, JW_QUEUE_MAX)) {
        job_free(job);
        return -1;
    }
    pthread_mutex_lock(&q->mu);
    if (q->tail != NULL)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
    q->queued++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

bool jw_writer_idle(struct jw_writer *q)
{
    bool idle;

    if (q == NULL)
        return true;
    pthread_mutex_lock(&q->mu);
    idle = q->queued == 0 && !q->abandon;
    pthread_mutex_unlock(&q->mu);
    return idle;
}

bool jw_writer_take_state_failure(struct jw_writer *q)
{
    bool failed;

    if (q == NULL)
        return false;
    pthread_mutex_lock(&q->mu);
    failed = q->state_failed;
    q->state_failed = false;
    pthread_mutex_unlock(&q->mu);
    return failed;
}

bool jw_writer_drain(struct jw_writer *q)
{
    if (q == NULL)
        return true;
    return wait_below(q, 1);
}

struct jw_writer *jw_writer_stop(struct jw_writer *q)
{
    if (q == NULL)
        return NULL;
    pthread_mutex_lock(&q->mu);
    q->finish = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL);
    pthread_cond_destroy(&q->cv_done);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    close(q->done_fd);
    free(q);
    return NULL;
}

unsigned long long jw_writer_alerts(struct jw_writer *q)
{
    unsigned long long n;

    if (q == NULL)
        return 0;
    pthread_mutex_lock(&q->mu);
    n = q->alerts;
    pthread_mutex_unlock(&q->mu);
    return n;
}
