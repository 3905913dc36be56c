/*
 * watch — see watch.h.
 */
#include "watch.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "alerts.h"
#include "exit.h"
#include "i18n.h"
#include "source.h"
#include "state.h"
#include "writer.h"

#define JW_MAPPED_MAX        (40u << 20) /* journal file pages kept mapped, bytes ... */
#define JW_MAPPED_IDLE_MAX   (4u << 20)  /* ... and when idle */
#define JW_MAPPED_LOOK_EVERY 256         /* entries between looks at /proc/self/statm */
#define JW_CHECK_EVERY       1024        /* entries between looks at signals and the watchdog */
#define JW_IDLE_SAVE_ENTRIES 100000      /* save at idle after this many entries ... */
#define JW_IDLE_SAVE_SECONDS 30          /* ... or this long since the last save */

struct jw_watch {
    const struct jw_watch_setup *setup;
    const struct qn_log *log;
    struct qn_rules *rules;
    struct jw_source *source;
    struct jw_state *state;
    struct jw_writer *writer;
    struct jw_alerts alerts; /* of the entry being fed, handed on with the position after it */
    int signal_fd;

    /* signals seen */
    bool stop;
    bool reload;

    /* saves */
    unsigned long long unsaved; /* entries processed since the position was last saved */
    long long last_save_mono;   /* CLOCK_MONOTONIC seconds of the last save */

    /* counters for STATUS= and the final log line */
    unsigned long long entries;
    unsigned long long status_alerts; /* what the last STATUS= said */
    size_t status_rules;
    bool status_sent;
    uint64_t watchdog_usec; /* 0: no watchdog */
    long long last_ping_usec;
};

static long long mono_usec(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static int setup_signals(struct jw_watch *w)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
        qn_log(w->log, LOG_ERR, "sigprocmask: %s", strerror(errno));
        return -1;
    }
    w->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (w->signal_fd < 0) {
        qn_log(w->log, LOG_ERR, "signalfd: %s", strerror(errno));
        return -1;
    }
    /* A closed stdout/stderr pipe must be a failed write, not a death. */
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* Wait up to TIMEOUT_MS (0: just look, -1: for ever) for signals; set the flags. */
static bool poll_signals(struct jw_watch *w, int timeout_ms)
{
    struct pollfd p = {.fd = w->signal_fd, .events = POLLIN};
    struct signalfd_siginfo si;
    bool any = false;

    if (w->signal_fd < 0)
        return false;
    if (timeout_ms != 0 && poll(&p, 1, timeout_ms) <= 0)
        return false;
    while (read(w->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        any = true;
        if (si.ssi_signo == SIGHUP)
            w->reload = true;
        else
            w->stop = true;
    }
    return any;
}

/* STATUS= when what it says changed: systemd reads every datagram, and a busy journal
 * must not become a stream of identical ones. */
static void status(struct jw_watch *w)
{
    unsigned long long alerts = jw_writer_alerts(w->writer);

    if (w->status_alerts == alerts && w->status_rules == qn_rules_count(w->rules) && w->status_sent)
        return;
    sd_notifyf(0, _("STATUS=Following the journal: %zu rules loaded, %llu alerts sent"),
               qn_rules_count(w->rules), alerts);
    w->status_alerts = alerts;
    w->status_rules = qn_rules_count(w->rules);
    w->status_sent = true;
}

/* Tell systemd's watchdog we are alive (at most every quarter period unless FORCE). */
static void watchdog_ping(struct jw_watch *w, bool force)
{
    long long now;

    if (w->watchdog_usec == 0)
        return;
    now = mono_usec();
    if (force || now - w->last_ping_usec >= (long long)(w->watchdog_usec / 4)) {
        sd_notify(0, "WATCHDOG=1");
        w->last_ping_usec = now;
    }
}

/* The current entry becomes the position the next save records. */
static int note_position(struct jw_watch *w)
{
    char cursor[JW_CURSOR_MAX];
    long long t;
    int r;

    r = jw_source_cursor(w->source, cursor, sizeof(cursor), &t);
    if (r < 0)
        return r;
    jw_state_set_position(w->state, cursor, t);
    return 0;
}

/* The position was handed on (to the disk or to the writer), or failed to be (!OK).  A
 * failure is paced like a success: a failing write (its own ERR line is a new journal
 * entry) must not be retried on every entry. */
static void saved(struct jw_watch *w, bool ok)
{
    w->last_save_mono = mono_usec() / 1000000;
    if (ok)
        w->unsaved = 0;
}

/* Save the position now, waiting for the disk (nothing to save before the first entry is
 * known).  The writer has no job left: see writer_caught_up(). */
static void save(struct jw_watch *w)
{
    enum qn_status r = jw_state_save(w->state, w->rules);

    if (r != QN_EINVAL)
        saved(w, r == QN_OK);
}

/* Read after CURSOR, or from where a first start begins when it is NULL or "". */
static int position(struct jw_watch *w, const char *cursor)
{
    bool on_entry = false;
    int rc;

    rc = jw_source_position(w->source, cursor, &on_entry);
    if (rc != QN_EXIT_OK)
        return rc;
    if (on_entry)
        note_position(w);
    return QN_EXIT_OK;
}

/*
 * Set the read position again after the set of journal files changed, or
 * the matches did (MATCHES_CHANGED: sd-journal's own position may then be
 * meaningless, so without a cursor we start over as at startup).
 */
static int reposition(struct jw_watch *w, bool matches_changed)
{
    const char *cursor = jw_state_cursor(w->state);

    if (cursor[0] != '\0')
        return position(w, cursor);
    if (matches_changed)
        return position(w, NULL);
    return QN_EXIT_OK; /* nothing read yet: sd-journal's own position is all there is */
}

static void reload(struct jw_watch *w)
{
    struct qn_rules *fresh = NULL;
    struct qn_rules *old;

    w->reload = false;
    sd_notify(0, "RELOADING=1");
    qn_log(w->log, LOG_INFO, _("reloading the rules from %s"), w->setup->rules_dir);
    if (w->setup->load_rules(w->setup->load_ctx, &fresh) != QN_EXIT_OK) {
        qn_log(w->log, LOG_ERR, "%s", _("the new rules have errors: keeping the rules in use"));
        goto out;
    }
    /* The position to come back to is the entry read last, which may be past the last
     * save: take it now, before the matches change. */
    if (w->unsaved > 0)
        note_position(w);
    qn_rules_state_adopt(fresh, w->rules);
    old = w->rules;
    w->rules = fresh;
    qn_rules_free(old);
    /* New rules, new matches: the read position must be set again. */
    jw_source_apply_filter(w->source, w->rules);
    if (reposition(w, true) != QN_EXIT_OK)
        w->stop = true;
    qn_log(w->log, LOG_INFO, _("%zu rules loaded"), qn_rules_count(w->rules));
out:
    sd_notify(0, "READY=1");
    w->status_sent = false;
    status(w);
}

/* See qn_rules_reads_fields_always(): one walk over all fields, or lookups. */
static qn_rules_get_fn *getter(const struct jw_watch *w)
{
    return qn_rules_reads_fields_always(w->rules) ? NULL : jw_source_get_field;
}

/* The entry under the read position: feed it and save after an alert.  Non-zero: stop. */
static int handle_entry(struct jw_watch *w, struct qn_rules_entry *entry)
{
    size_t fired = 0;
    enum qn_status r;

    if (entry->get == NULL) {
        jw_source_offer_fields(w->source, w->rules);
        entry->time_usec = jw_source_time(w->source);
    } else {
        entry->time_usec = QN_RULES_TIME_ASK;
    }
    r = qn_rules_feed(w->rules, entry, jw_alerts_add, &w->alerts, &fired);
    if (r != QN_OK) {
        /* Out of memory for an alert: leave the position before this entry, so the next
         * start reads it again. */
        jw_alerts_drop(&w->alerts);
        return -1;
    }
    w->entries++;
    w->unsaved++;
    /* Alerts go to the writer with the state after this entry (writer.c); before the
     * first save, one try right after start; idle_save paces the rest. */
    if (w->alerts.n > 0 || (w->unsaved == 1 && !jw_state_saved(w->state))) {
        struct qn_event **events;
        size_t n_events = 0, len = 0;
        char *text = NULL;

        if (note_position(w) < 0)
            qn_log(w->log, LOG_ERR, "%s", _("cannot read the cursor of the current entry"));
        else
            (void)jw_state_text(w->state, w->rules, &text, &len); /* a failure is logged */
        events = jw_alerts_take(&w->alerts, &n_events);
        if ((n_events > 0 || text != NULL) &&
            jw_writer_submit(w->writer, events, n_events, text, len) != 0) {
            /* Stopped while the writer was stuck on a failing spool, or out of memory:
             * the entry is read again at the next start. */
            if (!w->stop)
                qn_log(w->log, LOG_ERR, "%s", _("cannot queue an alert: out of memory"));
            return -1;
        }
        if (text != NULL) {
            jw_state_handed_on(w->state);
            saved(w, true);
        }
        if (fired > 0)
            status(w);
    }
    return 0;
}

/* Sleep until the journal changes or a signal comes. */
static int wait_for_journal(struct jw_watch *w)
{
    struct pollfd p[3];
    uint64_t deadline = UINT64_MAX;
    int timeout_ms = -1, r;
    bool invalidated = false;

    r = jw_source_wait_for(w->source, &p[0], &deadline);
    if (r != QN_EXIT_OK)
        return r;
    if (deadline != UINT64_MAX) {
        long long now = mono_usec();
        long long left = (long long)deadline - now;
        timeout_ms = left <= 0 ? 0 : (int)((left + 999) / 1000);
    }
    if (w->watchdog_usec > 0) {
        int wd_ms = (int)(w->watchdog_usec / 2000);
        if (timeout_ms < 0 || wd_ms < timeout_ms)
            timeout_ms = wd_ms;
    }
    p[1].fd = w->signal_fd;
    p[1].events = POLLIN;
    p[1].revents = 0;
    p[2].fd = jw_writer_wake_fd(w->writer); /* a job finished: STATUS= may change */
    p[2].events = POLLIN;
    p[2].revents = 0;
    r = poll(p, 3, timeout_ms);
    if (r < 0 && errno != EINTR) {
        qn_log(w->log, LOG_ERR, "poll: %s", strerror(errno));
        return QN_EXIT_OSERR;
    }
    watchdog_ping(w, false);
    if (p[1].revents != 0)
        poll_signals(w, 0);
    if (p[2].revents != 0)
        jw_writer_clear_wake(w->writer);
    r = jw_source_process(w->source, &invalidated);
    if (r != QN_EXIT_OK)
        return r;
    if (invalidated) {
        qn_log(w->log, LOG_DEBUG,
               "journal files were added or removed: reading on from the "
               "last position");
        return reposition(w, false);
    }
    return QN_EXIT_OK;
}

/* Whether the writer has no job left (waiting for it when WAIT), so that a save now
 * follows every alert queued before it; a position the writer could not write counts as
 * unsaved, so that this save makes up for it.  False: not yet, or abandoned on a stop. */
static bool writer_caught_up(struct jw_watch *w, bool wait)
{
    if (wait ? !jw_writer_drain(w->writer) : !jw_writer_idle(w->writer))
        return false;
    if (jw_writer_take_state_failure(w->writer))
        w->unsaved++;
    return true;
}

static void idle_save(struct jw_watch *w)
{
    struct timespec ts;

    /* After every alert queued before it.  Following, never wait for the writer here
     * (a failing spool must not stop the reading): its eventfd brings us back when it
     * is done.  With --once the end is here: wait. */
    if (!writer_caught_up(w, w->setup->once))
        return;
    if (w->unsaved == 0)
        return;
    if (note_position(w) < 0)
        return;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return;
    if (w->setup->once || w->unsaved >= JW_IDLE_SAVE_ENTRIES ||
        (long long)ts.tv_sec - w->last_save_mono >= JW_IDLE_SAVE_SECONDS)
        save(w);
}

/* While the reader waits for the writer (writer.h): a stop ends the wait for a failing
 * spool; the watchdog and the signals are looked after meanwhile. */
static bool stop_requested(void *ctx)
{
    const struct jw_watch *w = ctx;

    return w->stop;
}

static void keep_alive(void *ctx)
{
    struct jw_watch *w = ctx;

    watchdog_ping(w, false);
    poll_signals(w, 0);
}

static int start_writer(struct jw_watch *w)
{
    struct jw_writer_setup setup = {
        .spool_dir = w->setup->spool_dir,
        .max_entry_size = w->setup->max_entry_size,
        .state = w->state,
        .log = w->log,
        .stop_requested = stop_requested,
        .keep_alive = keep_alive,
        .reader_ctx = w,
    };

    return jw_writer_start(&w->writer, &setup);
}

static int run(struct jw_watch *w)
{
    struct qn_rules_entry entry;
    unsigned long long n = 0, since_trim = 0;
    bool entry_failed = false, from_saved;
    int rc, r;

    if (setup_signals(w) != 0)
        return QN_EXIT_OSERR;
    rc = jw_state_open(&w->state, w->setup->spool_dir, w->setup->source, w->setup->source_path,
                       w->log);
    if (rc != QN_EXIT_OK)
        goto out;
    rc = jw_source_open(&w->source, w->setup->source, w->setup->source_path, w->setup->since_usec,
                        w->log);
    if (rc != QN_EXIT_OK)
        goto out;
    rc = jw_state_load(w->state, w->rules);
    if (rc != QN_EXIT_OK)
        goto out;
    from_saved = jw_state_cursor(w->state)[0] != '\0';
    jw_source_apply_filter(w->source, w->rules);
    rc = position(w, jw_state_cursor(w->state));
    if (rc != QN_EXIT_OK)
        goto out;
    /* A first start at the tail: record where we began, so a crash before the first
     * alert does not move the start to a later tail. */
    if (!jw_state_saved(w->state))
        save(w);
    if (start_writer(w) != 0) {
        rc = QN_EXIT_OSERR;
        goto out;
    }
    qn_log(w->log, LOG_INFO, _("following %s with %zu rules from %s, starting at %s; spool %s"),
           w->setup->source_path != NULL ? w->setup->source_path : _("the local journal"),
           qn_rules_count(w->rules), w->setup->rules_dir,
           from_saved                  ? _("the saved position")
           : w->setup->since_usec >= 0 ? _("--since")
                                       : _("the end of the journal"),
           w->setup->spool_dir);
    if (sd_watchdog_enabled(0, &w->watchdog_usec) <= 0)
        w->watchdog_usec = 0;
    sd_notify(0, "READY=1");
    status(w);
    watchdog_ping(w, true);

    entry.ctx = w->source;
    entry.get = getter(w);
    entry.time_usec = QN_RULES_TIME_ASK;
    for (;;) {
        if (w->stop)
            break;
        if (w->reload) {
            reload(w);
            entry.get = getter(w);
        }
        r = jw_source_next(w->source);
        if (r < 0) {
            qn_log(w->log, LOG_ERR, _("cannot read the journal: %s"), strerror(-r));
            rc = QN_EXIT_IOERR;
            break;
        }
        if (r > 0) {
            if (handle_entry(w, &entry) != 0) {
                /* Position not saved on purpose: see handle_entry.  Anything but a
                 * stop request is a failure, so that Restart=on-failure applies. */
                if (!w->stop)
                    qn_log(w->log, LOG_ERR, "%s",
                           _("stopping: an alert could not be handled (out of memory?)"));
                rc = w->stop ? QN_EXIT_OK : QN_EXIT_SOFTWARE;
                entry_failed = true;
                break;
            }
            if (++n % JW_CHECK_EVERY == 0) {
                poll_signals(w, 0);
                watchdog_ping(w, false);
            }
            if (++since_trim % JW_MAPPED_LOOK_EVERY == 0 &&
                jw_source_over_budget(w->source, JW_MAPPED_MAX, since_trim)) {
                jw_source_trim(w->source);
                since_trim = 0;
            }
            continue;
        }
        /* the end of the journal */
        idle_save(w);
        if (w->stop || w->reload)
            continue; /* read while waiting for the writer (--once) */
        /* Idle: keep less mapped (without /proc: as if 8 times as many entries). */
        if (since_trim > 0 &&
            jw_source_over_budget(w->source, JW_MAPPED_IDLE_MAX, since_trim * 8)) {
            jw_source_trim(w->source);
            since_trim = 0;
        }
        if (w->setup->once)
            break;
        status(w);
        rc = wait_for_journal(w);
        if (rc != QN_EXIT_OK)
            break;
    }
    /* Exit: the position of the last entry read, with the counts it led to. */
    sd_notify(0, "STOPPING=1");
    /* Every queued alert first; nothing is saved past alerts given up on a stop, nor
     * past an entry whose alerts could not be handled. */
    if (!entry_failed && writer_caught_up(w, true) && w->unsaved > 0 && note_position(w) >= 0)
        save(w);
    {
        struct qn_rules_stats st;
        qn_rules_stats(w->rules, &st);
        qn_log(w->log, LOG_INFO,
               _("stopped: %llu entries read, %llu matched a rule, %llu alerts "
                 "sent"),
               w->entries, st.matches, jw_writer_alerts(w->writer));
    }
out:
    w->writer = jw_writer_stop(w->writer);
    jw_alerts_free(&w->alerts);
    w->source = jw_source_close(w->source);
    w->state = jw_state_close(w->state);
    if (w->signal_fd >= 0)
        close(w->signal_fd);
    w->signal_fd = -1;
    return rc;
}

int jw_watch_run(const struct jw_watch_setup *setup, struct qn_rules *rules)
{
    struct jw_watch w;
    int rc;

    memset(&w, 0, sizeof(w));
    w.setup = setup;
    w.log = setup->log;
    w.rules = rules;
    w.signal_fd = -1;
    rc = run(&w);
    qn_rules_free(w.rules); /* RULES, or what a reload put in its place */
    return rc;
}
