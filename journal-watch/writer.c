/*
 * writer — the thread that puts alerts into the spool, so that reading the
 * journal never waits for the disk.
 *
 * An alert has to be durable (fsync'd, with new/) before the state file
 * names its entry; that takes one to several milliseconds per alert on a
 * real disk, and seconds on a busy or failing one.  The reader used to wait
 * for it; now it hands each entry that raised alerts to this thread as a
 * job: the events, and the state text (cursor + threshold state) right
 * after that entry.  The thread, in order: puts every event of the job
 * into the spool (retrying a spool that fails, with growing pauses), then
 * replaces the state file with the job's text.  So the state file still
 * never leads the alerts, a SIGKILL repeats at most the alerts of the job
 * being written and never skips one, and the jobs still queued are simply
 * read again at the next start.
 *
 * The queue is bounded (JW_QUEUE_MAX): a reader that gets that far ahead
 * waits, feeding the watchdog and watching for signals.  Saves that must be
 * durable (at start, idle and exit) first wait until the queue is empty
 * (jw_writer_drain at exit and with --once; at idle the save is simply put
 * off while jobs are queued, jw_writer_idle, so that a failing spool never
 * stops the reading), so they too follow every alert before them.  A state
 * write that fails here is logged and flagged for the reader, whose next
 * save makes up for it (jw_writer_take_state_failure).  A stop
 * request while the spool is failing abandons the queue (nothing more is
 * written, the state file stays where the last finished job left it).
 *
 * After each job the thread bumps an eventfd (done_fd) that the reader
 * polls while idle, so STATUS= follows the alerts without a timer.
 *
 * Everything shared is under one mutex; the thread touches only its jobs,
 * the spool directory (qn_enqueue_event opens its own descriptors), the
 * spool handle for state writes (the reader uses it only when the queue is
 * empty) and the log (one write(2) per line).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "enqueue.h"
#include "jw.h"

struct jw_job {
    struct qn_event **events;
    size_t n_events;
    char *state; /* NULL: no state to write (the cursor could not be read) */
    size_t state_len;
    struct jw_job *next;
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
static bool put_one(struct jw *w, struct qn_event *ev)
{
    struct jw_writer *q = &w->writer;
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

        r = qn_enqueue_event(w->cfg.spool_dir, ev, w->cfg.max_entry_size, id);
        if (r == QN_OK)
            break;
        if (r == QN_ETOOBIG || r == QN_EINVAL) {
            /* Cannot get better by waiting (an event is bounded by construction,
             * so this means a [spool] max_entry_size below one event): say so. */
            qn_log(&w->log, LOG_ERR,
                   _("the alert of rule %s cannot be spooled (%s): raise [spool] "
                     "max_entry_size in the configuration; this alert is lost"),
                   rule, _(qn_strerror(r)));
            return true;
        }
        qn_log(&w->log, LOG_ERR,
               _("cannot spool the alert of rule %s in %s: %s%s%s; retrying "
                 "in %ld s"),
               rule, w->cfg.spool_dir, _(qn_strerror(r)), r == QN_EIO ? ": " : "",
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
            qn_log(&w->log, LOG_WARNING,
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
    qn_log(&w->log, LOG_INFO, _("rule %s fired on %s (%s matching entries): spooled as %s"), rule,
           ev->host[0] ? ev->host : "-", count != NULL ? count : "1", id);
    return true;
}

static void write_state(struct jw *w, const struct jw_job *job)
{
    enum qn_status r;

    if (job->state == NULL)
        return;
    /* The job's alerts are durable already; the position only has to follow them. */
    r = qn_spool_state_write_nowait(w->spool, w->state_name, job->state, job->state_len);
    if (r != QN_OK) {
        jw_state_report_error(w, r);
        pthread_mutex_lock(&w->writer.mu);
        w->writer.state_failed = true; /* the reader saves again (idle_save) */
        pthread_mutex_unlock(&w->writer.mu);
    }
}

/* Wake the reader's poll (an eventfd cannot overflow at one add per job). */
static void wake_reader(struct jw_writer *q)
{
    uint64_t one = 1;

    if (write(q->done_fd, &one, sizeof(one)) != (ssize_t)sizeof(one) && errno != EAGAIN)
        return; /* nothing better to do: the reader still sees the count at its next wake */
}

/* The reader's side: clear the eventfd after poll said it is readable. */
void jw_writer_clear_wake(struct jw *w)
{
    uint64_t n;

    if (read(w->writer.done_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
        qn_log(&w->log, LOG_DEBUG, "eventfd read: %s", strerror(errno));
}

static void *writer_main(void *arg)
{
    struct jw *w = arg;
    struct jw_writer *q = &w->writer;

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
            done = put_one(w, job->events[i]);
        if (done)
            write_state(w, job);
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

int jw_writer_start(struct jw *w)
{
    struct jw_writer *q = &w->writer;
    pthread_condattr_t ca;
    int e;

    memset(q, 0, sizeof(*q));
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
    if ((e = pthread_create(&q->thread, NULL, writer_main, w)) != 0) {
        q->running = false;
        pthread_cond_destroy(&q->cv_done);
        goto fail_cv;
    }
    q->started = true;
    return 0;

fail_cv:
    pthread_cond_destroy(&q->cv);
fail_mu:
    pthread_mutex_destroy(&q->mu);
fail_fd:
    close(q->done_fd);
    q->done_fd = -1;
fail:
    qn_log(&w->log, LOG_ERR, _("cannot start the spool writer thread: %s"), strerror(e));
    return -1;
}

/*
 * Wait (on the reader's side) until the queue has fewer than LIMIT jobs,
 * feeding the watchdog and reading signals.  A stop request while the
 * writer retries a failing spool abandons the queue.  False: abandoned.
 */
static bool wait_below(struct jw *w, size_t limit)
{
    struct jw_writer *q = &w->writer;
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
        if (w->stop && q->retrying) {
            q->abandon = true; /* the thread lets go; jw_writer_stop joins it */
            pthread_cond_broadcast(&q->cv);
            continue;
        }
        deadline_in(&until, 250);
        pthread_cond_timedwait(&q->cv_done, &q->mu, &until);
        pthread_mutex_unlock(&q->mu);
        jw_watchdog_ping(w, false);
        jw_poll_signals(w, 0);
        pthread_mutex_lock(&q->mu);
    }
    pthread_mutex_unlock(&q->mu);
    return ok;
}

int jw_writer_submit(struct jw *w, struct qn_event **events, size_t n_events, char *state,
                     size_t state_len)
{
    struct jw_writer *q = &w->writer;
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
    if (!wait_below(w, JW_QUEUE_MAX)) {
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

bool jw_writer_idle(struct jw *w)
{
    struct jw_writer *q = &w->writer;
    bool idle;

    if (!q->started)
        return true;
    pthread_mutex_lock(&q->mu);
    idle = q->queued == 0 && !q->abandon;
    pthread_mutex_unlock(&q->mu);
    return idle;
}

bool jw_writer_take_state_failure(struct jw *w)
{
    struct jw_writer *q = &w->writer;
    bool failed;

    if (!q->started)
        return false;
    pthread_mutex_lock(&q->mu);
    failed = q->state_failed;
    q->state_failed = false;
    pthread_mutex_unlock(&q->mu);
    return failed;
}

bool jw_writer_drain(struct jw *w)
{
    if (!w->writer.started)
        return true;
    return wait_below(w, 1);
}

void jw_writer_stop(struct jw *w)
{
    struct jw_writer *q = &w->writer;

    if (!q->started)
        return;
    pthread_mutex_lock(&q->mu);
    q->finish = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL);
    q->started = false;
    pthread_cond_destroy(&q->cv_done);
    pthread_cond_destroy(&q->cv);
    pthread_mutex_destroy(&q->mu);
    close(q->done_fd);
    q->done_fd = -1;
}

unsigned long long jw_writer_alerts(struct jw *w)
{
    struct jw_writer *q = &w->writer;
    unsigned long long n;

    if (!q->started)
        return q->alerts;
    pthread_mutex_lock(&q->mu);
    n = q->alerts;
    pthread_mutex_unlock(&q->mu);
    return n;
}
