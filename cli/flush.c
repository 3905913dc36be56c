/*
 * qqnotify flush: the one sender.  Delivers what producers left in the
 * spool over as few SMTP sessions as possible, within the rate limits.
 *
 * Strategy (DESIGN.md section 4):
 * - One sender at a time (the spool's flush.lock); a second flush that finds
 *   it busy exits at once, the running one picks up what arrived: before it
 *   releases the lock it looks at new/ again, and after releasing it looks
 *   once more, so an entry spooled during the last pass is never stranded.
 * - Work goes in passes of at most PASS_MAX entries, oldest first: new/, then
 *   the entries of deferred/ whose next try is due.  Memory stays bounded
 *   whatever the queue holds.
 * - An entry is removed only after the server answered 250 to its DATA: a
 *   crash between that answer and the unlink sends it again (at least once,
 *   never zero).
 * - Events are rendered now, in the configured language.  When more than
 *   digest_after events arrive within digest_window, or the limits allow
 *   fewer mails than there are events, they are merged into digests; an
 *   event that is part of a burst waits until its burst is digest_window old
 *   (or the limits allow a mail), so a burst becomes one mail.
 * - Failures: 4xx, network and TLS trouble defer with exponential backoff and
 *   jitter (retry_min doubling to retry_max); a 5xx for one message moves
 *   that entry to failed/ with its diagnosis; a failure of the session or of
 *   the configuration (authentication, certificate) defers everything that
 *   is left, so nothing is failed for a problem the administrator can fix.
 *   A frequency-limit reply puts the limiter in backoff and defers the rest.
 *   Entries older than max_age go to failed/ and are reported: nothing is
 *   ever deleted silently.  Corrupt entries are quarantined in failed/.
 * - Exit status: 0 only when nothing went wrong; an entry moved to failed/
 *   ends the run with 69 (65 for a corrupt one), one that waits after a
 *   failure with the failure's code (75 for most), one that could not be
 *   moved with 74, so systemd and scripts see what the summary says.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "cred.h"
#include "mime.h"
#include "ratelimit.h"
#include "render.h"
#include "smtp.h"
#include "spool.h"
#include "text.h"

#define PASS_MAX 200        /* entries loaded at once (~25 KiB each) */
#define PASSES_MAX 1000     /* bound on passes in one run */
#define RELOCK_MAX 3        /* looks at new/ after releasing the lock */
#define DEFERRED_SCAN_MAX 5000 /* deferred/ entries looked at per pass for due ones */
#define MESSAGE_MAX (16u * 1024 * 1024)
#define STATE_RATELIMIT "ratelimit"

struct flush_counts {
    size_t mails;      /* mails the server accepted */
    size_t messages;   /* sendmail entries among them */
    size_t events;     /* events delivered, alone or in digests */
    size_t digests;    /* digest mails */
    size_t deferred;   /* entries deferred for a failure */
    size_t waiting;    /* entries held back by the limits or a burst */
    size_t failed;     /* entries moved to failed/ after a 5xx */
    size_t expired;    /* entries moved to failed/ after max_age */
    size_t corrupt;    /* entries quarantined */
    size_t stuck;      /* entries that could not be moved (I/O errors): still where they were */
};

struct flush {
    struct qn_cli *cli;
    struct qn_spool *sp;
    struct qn_ratelimit *rl;
    struct qn_smtp *smtp;
    long long now;
    bool quiet;
    bool progress;     /* a progress bar on the terminal */
    size_t done, total;

    /* Set once the session or the configuration failed: everything not yet
     * sent in this run is deferred with this reason. */
    bool stop;
    long long stop_until; /* 0: each entry's own backoff */
    char stop_reason[QN_SPOOL_ERROR_MAX];
    char stop_diag[QN_SPOOL_DIAGNOSIS_MAX];
    int exit_code;
    struct flush_counts n;
};

/* ---- helpers ---------------------------------------------------------------------------- */

static long long now_s(void)
{
    return (long long)time(NULL);
}

/* Backoff for an entry that failed ATTEMPTS times: retry_min doubling to
 * retry_max, then up to a quarter more at random, so that entries deferred
 * together do not come back together. */
static long long backoff(const struct qn_config *cfg, unsigned attempts)
{
    long long delay = cfg->retry_min_s ? cfg->retry_min_s : 60;
    long long cap = cfg->retry_max_s ? cfg->retry_max_s : 3600;
    unsigned r = 0;

    for (unsigned i = 0; i < attempts && delay < cap; i++)
        delay *= 2;
    if (delay > cap)
        delay = cap;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r = (unsigned)getpid();
    return delay + (long long)(r % (unsigned)(delay / 4 + 1));
}

static void show_progress(struct flush *f, size_t step)
{
    f->done += step;
    if (!f->progress || f->total == 0)
        return;
    size_t width = 30, filled = f->done >= f->total ? width : f->done * width / f->total;
    char bar[31];

    memset(bar, '#', filled);
    memset(bar + filled, '.', width - filled);
    bar[width] = '\0';
    fprintf(stderr, "\r[%s] %zu/%zu", bar, f->done > f->total ? f->total : f->done, f->total);
    if (f->done >= f->total)
        fputc('\n', stderr);
    fflush(stderr);
}

static void describe_error(const struct qn_cli *cli, const struct qn_error *err, char *reason,
                           size_t reason_size, char *diag_id, size_t diag_size)
{
    const struct qn_diagnosis *d = qn_diag_lookup(cli->cfg.provider, err);
    char line[QN_ERROR_TEXT_MAX + QN_ERROR_DETAIL_MAX + 128];

    qn_cli_describe(err, line, sizeof(line));
    qn_cli_format(reason, reason_size, "%s: %s", qn_stage_name(err->stage), line);
    snprintf(diag_id, diag_size, "%s", d != NULL ? d->id : "");
}

/* ---- moving entries ---------------------------------------------------------------------- */

struct item {
    struct qn_spool_entry e;
    enum qn_spool_queue from;
};

static void defer_item(struct flush *f, struct item *it, long long next_try, const char *reason,
                       const char *diag, bool failure)
{
    /* Waiting for the limits or a burst is not an attempt: it must not make
     * later retries back off faster or hide the last real diagnosis. */
    enum qn_status r = failure ? qn_spool_defer(f->sp, it->from, &it->e, next_try, reason, diag)
                               : qn_spool_hold(f->sp, it->from, &it->e, next_try, reason);

    if (r != QN_OK) {
        int e = errno; /* "No space left on device" says more than a number */
        qn_log(&f->cli->log, LOG_ERR,
               _("cannot defer spool entry %s: %s (%s); it stays where it is and will be tried "
                 "again"),
               it->e.id, _(qn_strerror(r)), r == QN_EIO ? strerror(e) : "-");
        f->n.stuck++;
        if (f->exit_code == QN_EXIT_OK)
            f->exit_code = QN_EXIT_IOERR;
        return;
    }
    if (failure) {
        f->n.deferred++;
        if (f->exit_code == QN_EXIT_OK)
            f->exit_code = QN_EXIT_TEMPFAIL;
    } else {
        f->n.waiting++;
    }
}

/* Defer after a failure: the run's stop reason, or ERR.  The backoff counts
 * from now, not from the start of the pass: a timeout may have taken longer
 * than retry_min, and the entry must not be due again in this run. */
static void defer_failed(struct flush *f, struct item *it)
{
    long long now = now_s();
    long long next = f->stop_until > now ? f->stop_until : now + backoff(&f->cli->cfg,
                                                                       it->e.attempts);

    defer_item(f, it, next, f->stop_reason, f->stop_diag, true);
}

static void fail_item(struct flush *f, struct item *it, const char *reason, const char *diag)
{
    enum qn_status r = qn_spool_fail(f->sp, it->from, &it->e, reason, diag);

    if (r != QN_OK) {
        qn_log(&f->cli->log, LOG_ERR, _("cannot move spool entry %s to failed/: %s"), it->e.id,
               _(qn_strerror(r)));
        f->n.stuck++;
        if (f->exit_code == QN_EXIT_OK)
            f->exit_code = QN_EXIT_IOERR;
        return;
    }
    f->n.failed++;
    /* An alert that will never go out: say so to systemd and scripts. */
    if (f->exit_code == QN_EXIT_OK)
        f->exit_code = QN_EXIT_UNAVAILABLE;
}

static void remove_item(struct flush *f, struct item *it)
{
    enum qn_status r = qn_spool_remove(f->sp, it->from, it->e.id);

    /* The mail is out; an entry we cannot remove will be sent once more (by a
     * later run: this one stops, so it is not sent again pass after pass). */
    if (r != QN_OK && r != QN_ENOTFOUND) {
        qn_log(&f->cli->log, LOG_ERR,
               _("mail for spool entry %s was accepted but the entry cannot be removed (%s): it "
                 "will be sent again"),
               it->e.id, _(qn_strerror(r)));
        f->n.stuck++;
        if (f->exit_code == QN_EXIT_OK)
            f->exit_code = QN_EXIT_IOERR;
    }
}

/* ---- the SMTP session --------------------------------------------------------------------- */

static void close_session(struct flush *f)
{
    if (f->smtp != NULL) {
        struct qn_error quit_err;
        qn_error_clear(&quit_err);
        qn_smtp_quit(f->smtp, &quit_err);
        f->smtp = qn_smtp_close(f->smtp);
    }
}

/* Stop this run: everything not yet sent is deferred with ERR's explanation. */
static void stop_run(struct flush *f, const struct qn_error *err, long long until)
{
    const struct qn_diagnosis *d = qn_diag_lookup(f->cli->cfg.provider, err);

    if (!f->stop) {
        describe_error(f->cli, err, f->stop_reason, sizeof(f->stop_reason), f->stop_diag,
                       sizeof(f->stop_diag));
        qn_cli_report(f->cli, err);
        qn_log(&f->cli->log, LOG_WARNING, _("delivery stopped, the rest stays queued: %s%s%s"),
               f->stop_reason, d ? " — " : "", d ? _(d->fix) : "");
    }
    f->stop = true;
    f->stop_until = until;
    /* The first code that needs attention wins, as everywhere in this file;
     * a plain "retry later" gives way to the stop's more precise one. */
    int code = qn_cli_exit_code(err);
    if (code == QN_EXIT_OK || code == QN_EXIT_UNAVAILABLE)
        code = QN_EXIT_TEMPFAIL;
    if (f->exit_code == QN_EXIT_OK || f->exit_code == QN_EXIT_TEMPFAIL)
        f->exit_code = code;
    close_session(f);
}

static bool open_session(struct flush *f)
{
    struct qn_smtp_options opt;
    struct qn_secret secret = {0};
    struct qn_error err;
    enum qn_status r;

    if (f->smtp != NULL)
        return true;
    qn_error_clear(&err);
    r = qn_cred_get(&f->cli->cfg, &secret, &err);
    if (r == QN_OK) {
        qn_cli_smtp_options(f->cli, &opt);
        r = qn_smtp_open(&f->smtp, &opt, &err);
    }
    if (r == QN_OK)
        r = qn_smtp_auth(f->smtp, f->cli->cfg.user, secret.data, secret.len, &err);
    qn_secret_wipe(&secret);
    if (r != QN_OK) {
        stop_run(f, &err, 0);
        return false;
    }
    return true;
}

static bool is_rate_reply(const char *diag)
{
    return strcmp(diag, "frequency-limited") == 0 || strcmp(diag, "daily-quota") == 0 ||
           strcmp(diag, "recipient-throttled") == 0;
}

/*
 * Send one mail.  Returns 1 when the server accepted it, 0 when this mail
 * failed permanently (REASON/DIAG filled), -1 when it must wait (the run
 * may have been stopped; deferral is the caller's).
 */
static int send_mail(struct flush *f, const char *msg, size_t len, const char *const *rcpt,
                     size_t n_rcpt, char *reason, size_t reason_size, char *diag,
                     size_t diag_size)
{
    struct qn_error err;
    enum qn_status r;

    if (f->stop || !open_session(f))
        return -1;
    qn_error_clear(&err);
    r = qn_smtp_send(f->smtp, f->cli->cfg.user, rcpt, n_rcpt, msg, len, &err);
    if (r == QN_OK) {
        qn_ratelimit_record_sent(f->rl, now_s());
        return 1;
    }
    describe_error(f->cli, &err, reason, reason_size, diag, diag_size);
    if (is_rate_reply(diag)) {
        /* The provider says slow down: back off for everything. */
        qn_ratelimit_penalize(f->rl, now_s());
        stop_run(f, &err, f->rl->backoff_until);
        return -1;
    }
    /* A reply to this one message, with the session still usable. */
    if (err.stage >= QN_STAGE_MAIL && err.stage <= QN_STAGE_DATA &&
        (err.status == QN_ETEMPFAIL || err.status == QN_EREJECT)) {
        if (err.verdict == QN_VERDICT_PERMANENT) {
            qn_cli_report(f->cli, &err);
            return 0;
        }
        if (err.verdict == QN_VERDICT_RETRY)
            return -2;
    }
    /* The session, the network or the configuration failed. */
    stop_run(f, &err, 0);
    return -1;
}

/* Save the limiter's state; a failure costs accuracy, not mail. */
static void save_ratelimit(struct flush *f)
{
    struct qn_buf text;
    enum qn_status r;

    qn_buf_init(&text, QN_SPOOL_STATE_MAX);
    r = qn_ratelimit_save(f->rl, now_s(), &text);
    if (r == QN_OK)
        r = qn_spool_state_write(f->sp, STATE_RATELIMIT, text.data, text.len);
    if (r != QN_OK)
        qn_log(&f->cli->log, LOG_WARNING,
               _("cannot save the rate-limit state in the spool's state/: %s; limits may be "
                 "exceeded after a restart"),
               _(qn_strerror(r)));
    qn_buf_free(&text);
}

static void load_ratelimit(struct flush *f)
{
    char *text = malloc(QN_SPOOL_STATE_MAX + 1);
    size_t len = 0;
    enum qn_status r = QN_ENOMEM;

    qn_ratelimit_init(f->rl);
    if (text != NULL)
        r = qn_spool_state_read(f->sp, STATE_RATELIMIT, text, QN_SPOOL_STATE_MAX + 1, &len);
    if (r == QN_OK)
        r = qn_ratelimit_load(f->rl, text, len);
    if (r != QN_OK && r != QN_ENOTFOUND)
        qn_log(&f->cli->log, LOG_WARNING,
               _("the rate-limit state in the spool's state/ is unreadable (%s); starting from "
                 "an empty one"),
               _(qn_strerror(r)));
    free(text);
}

/* ---- delivering entries ------------------------------------------------------------------ */

/* May a mail go now?  Asked before every mail: each one sent changes the answer.
 * When not, *RET_NEXT is when one may. */
static bool may_send(struct flush *f, long long *ret_next)
{
    long long next = 0;
    unsigned avail = qn_ratelimit_available(f->rl, &f->cli->cfg.limits, now_s(), &next);

    *ret_next = next;
    return avail > 0;
}

static void rate_wait_reason(struct flush *f, long long next, char *out, size_t n)
{
    struct tm tm;
    time_t t = (time_t)next;
    char when[32] = "?";

    if (localtime_r(&t, &tm) != NULL)
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    qn_cli_format(out, n, "waiting for the sending limits ([limits] of %s): next mail at %s",
             f->cli->cfg.path[0] ? f->cli->cfg.path : "the configuration", when);
}

static void deliver_message(struct flush *f, struct item *it)
{
    const char *rcpt[QN_SPOOL_RCPT_MAX];
    char reason[QN_SPOOL_ERROR_MAX], diag[QN_SPOOL_DIAGNOSIS_MAX];
    long long next;
    int r;

    if (f->stop) {
        defer_failed(f, it);
        return;
    }
    if (!may_send(f, &next)) {
        rate_wait_reason(f, next, reason, sizeof(reason));
        defer_item(f, it, next, reason, "", false);
        return;
    }
    for (size_t i = 0; i < it->e.n_rcpt; i++)
        rcpt[i] = it->e.rcpt[i];
    r = send_mail(f, it->e.message, it->e.message_len, rcpt, it->e.n_rcpt, reason,
                  sizeof(reason), diag, sizeof(diag));
    if (r == 1) {
        f->n.mails++;
        f->n.messages++;
        remove_item(f, it);
    } else if (r == 0) {
        fail_item(f, it, reason, diag);
    } else if (r == -2) {
        defer_item(f, it, now_s() + backoff(&f->cli->cfg, it->e.attempts), reason, diag, true);
    } else {
        defer_failed(f, it);
    }
}

/* Build the mail for rendered content R to the configured recipients. */
static enum qn_status build_mail(struct flush *f, const struct qn_rendered *r, struct qn_buf *msg)
{
    const char *to[QN_CONFIG_MAX_RCPT];
    struct qn_mime_message m;

    for (size_t i = 0; i < f->cli->cfg.n_to; i++)
        to[i] = f->cli->cfg.to[i];
    memset(&m, 0, sizeof(m));
    m.from_name = f->cli->cfg.from_name;
    m.from_addr = f->cli->cfg.user;
    m.to = to;
    m.n_to = f->cli->cfg.n_to;
    m.subject = r->subject.data ? r->subject.data : "";
    m.text = r->text.data ? r->text.data : "";
    m.html = r->html.data;
    return qn_mime_build(&m, msg);
}

/* Deliver N events (ITEMS) as one mail: the event itself when N is 1 and
 * DIGEST is false, a digest otherwise. */
static void deliver_events(struct flush *f, struct item **items, size_t n, bool digest)
{
    const struct qn_event *evs[QN_RENDER_DIGEST_MAX_EVENTS];
    const char *to[QN_CONFIG_MAX_RCPT];
    struct qn_rendered rendered;
    struct qn_buf msg;
    char reason[QN_SPOOL_ERROR_MAX], diag[QN_SPOOL_DIAGNOSIS_MAX] = "";
    long long next;
    enum qn_status r;
    int sent;

    if (f->stop) {
        for (size_t i = 0; i < n; i++)
            defer_failed(f, items[i]);
        return;
    }
    if (!may_send(f, &next)) {
        rate_wait_reason(f, next, reason, sizeof(reason));
        for (size_t i = 0; i < n; i++)
            defer_item(f, items[i], next, reason, "", false);
        return;
    }
    memset(&rendered, 0, sizeof(rendered));
    qn_buf_init(&msg, MESSAGE_MAX);
    for (size_t i = 0; i < n; i++)
        evs[i] = &items[i]->e.event;
    if (digest)
        r = qn_render_digest(evs, n, f->cli->cfg.language, &rendered);
    else
        r = qn_render_event(evs[0], f->cli->cfg.language, &rendered);
    if (r == QN_OK)
        r = build_mail(f, &rendered, &msg);
    if (r != QN_OK) {
        /* A local failure (memory): keep the events for the next run. */
        snprintf(reason, sizeof(reason), "cannot build the mail: %s", qn_strerror(r));
        for (size_t i = 0; i < n; i++)
            defer_item(f, items[i], now_s() + backoff(&f->cli->cfg, items[i]->e.attempts), reason,
                       "", true);
        goto out;
    }
    for (size_t i = 0; i < f->cli->cfg.n_to; i++)
        to[i] = f->cli->cfg.to[i];
    sent = send_mail(f, msg.data, msg.len, to, f->cli->cfg.n_to, reason, sizeof(reason), diag,
                     sizeof(diag));
    if (sent == 1) {
        f->n.mails++;
        f->n.events += n;
        if (digest)
            f->n.digests++;
        qn_ratelimit_record_events(f->rl, n, now_s());
        for (size_t i = 0; i < n; i++)
            remove_item(f, items[i]);
    } else {
        for (size_t i = 0; i < n; i++) {
            if (sent == 0)
                fail_item(f, items[i], reason, diag);
            else if (sent == -2)
                defer_item(f, items[i], now_s() + backoff(&f->cli->cfg, items[i]->e.attempts),
                           reason, diag, true);
            else
                defer_failed(f, items[i]);
        }
    }
out:
    qn_rendered_free(&rendered);
    qn_buf_free(&msg);
}

/* The events of one pass: alone while the limits allow and no burst is on,
 * otherwise held until their burst is digest_window old, then digested. */
static void deliver_event_batch(struct flush *f, struct item **evs, size_t n)
{
    const struct qn_ratelimit_config *lim = &f->cli->cfg.limits;
    long long next;
    bool digest;

    if (n == 0)
        return;
    digest = qn_ratelimit_should_digest(f->rl, lim, n, f->now);
    if (!digest) {
        for (size_t i = 0; i < n; i++)
            deliver_events(f, &evs[i], 1, false);
        return;
    }
    /* A burst: wait for it to end unless the oldest event has waited a whole
     * window (then it goes out now, with everything that came after it). */
    if (!f->stop && may_send(f, &next) && lim->digest_window_s > 0) {
        long long oldest = evs[0]->e.queued;
        long long due;

        for (size_t i = 1; i < n; i++)
            if (evs[i]->e.queued < oldest)
                oldest = evs[i]->e.queued;
        due = oldest + (long long)lim->digest_window_s;
        if (due > f->now) {
            char reason[QN_SPOOL_ERROR_MAX];
            snprintf(reason, sizeof(reason),
                     "part of a burst: merged into one digest at the end of digest_window");
            for (size_t i = 0; i < n; i++)
                defer_item(f, evs[i], due, reason, "", false);
            return;
        }
    }
    for (size_t i = 0; i < n; i += QN_RENDER_DIGEST_MAX_EVENTS) {
        size_t k = n - i < QN_RENDER_DIGEST_MAX_EVENTS ? n - i : QN_RENDER_DIGEST_MAX_EVENTS;
        deliver_events(f, &evs[i], k, true);
    }
}

/* Load up to MAX due entries into ITEMS (new/ first, then due deferred/).
 * Corrupt entries are quarantined, expired ones failed. */
static size_t load_pass(struct flush *f, struct item *items, size_t max, bool *ret_io_error)
{
    static const enum qn_spool_queue queues[] = {QN_SPOOL_NEW, QN_SPOOL_DEFERRED};
    char (*ids)[QN_SPOOL_ID_MAX] = malloc(sizeof(*ids) * DEFERRED_SCAN_MAX);
    size_t n_items = 0;

    *ret_io_error = false;
    if (ids == NULL) {
        *ret_io_error = true;
        return 0;
    }
    /* A stopped run sends nothing more: deferring a deferred entry again would
     * count an attempt that was never made (new/ is still moved to deferred/). */
    for (size_t q = 0; q < (f->stop ? 1u : 2u) && n_items < max; q++) {
        size_t n_ids = 0;
        /* deferred/ may hold many entries that are not due yet: look further
         * into it than one pass holds, so a due entry is not starved by older
         * ones that must still wait. */
        enum qn_status r = qn_spool_list(f->sp, queues[q], ids,
                                         queues[q] == QN_SPOOL_NEW ? max : DEFERRED_SCAN_MAX,
                                         &n_ids, NULL);
        if (r != QN_OK) {
            qn_log(&f->cli->log, LOG_ERR, _("cannot list the spool: %s (errno %d)"),
                   _(qn_strerror(r)), errno);
            *ret_io_error = true;
            break;
        }
        for (size_t i = 0; i < n_ids && n_items < max; i++) {
            struct item *it = &items[n_items];
            size_t limit = f->cli->cfg.max_entry_size;

            qn_spool_entry_clear(&it->e);
            it->from = queues[q];
            r = qn_spool_load(f->sp, queues[q], ids[i], limit > MESSAGE_MAX ? limit : MESSAGE_MAX,
                              &it->e);
            if (r == QN_ENOTFOUND)
                continue;
            if (r == QN_EINVAL || r == QN_ETOOBIG) {
                char reason[128];
                snprintf(reason, sizeof(reason), "corrupt spool entry: %s", qn_strerror(r));
                if (qn_spool_quarantine(f->sp, queues[q], ids[i], reason) == QN_OK)
                    f->n.corrupt++;
                if (f->exit_code == QN_EXIT_OK)
                    f->exit_code = QN_EXIT_DATAERR;
                qn_log(&f->cli->log, LOG_WARNING,
                       _("spool entry %s is corrupt (%s): moved to failed/ for inspection"),
                       ids[i], _(qn_strerror(r)));
                continue;
            }
            if (r != QN_OK) {
                qn_log(&f->cli->log, LOG_ERR, _("cannot read spool entry %s: %s"), ids[i],
                       _(qn_strerror(r)));
                continue;
            }
            if (queues[q] == QN_SPOOL_DEFERRED && it->e.next_try > f->now) {
                qn_spool_entry_clear(&it->e);
                continue;
            }
            if (f->cli->cfg.max_age_s > 0 &&
                it->e.queued + (long long)f->cli->cfg.max_age_s < f->now) {
                char reason[QN_SPOOL_ERROR_MAX];
                qn_cli_format(reason, sizeof(reason),
                         "not delivered within max_age (%u s) after %u attempts; last error: %s",
                         f->cli->cfg.max_age_s, it->e.attempts,
                         it->e.last_error[0] ? it->e.last_error : "none");
                qn_log(&f->cli->log, LOG_WARNING, _("spool entry %s expired: %s"), it->e.id,
                       reason);
                if (qn_spool_fail(f->sp, queues[q], &it->e, reason, it->e.diagnosis) == QN_OK)
                    f->n.expired++;
                if (f->exit_code == QN_EXIT_OK)
                    f->exit_code = QN_EXIT_UNAVAILABLE;
                qn_spool_entry_clear(&it->e);
                continue;
            }
            n_items++;
        }
    }
    free(ids);
    return n_items;
}

/* Oldest first, whichever queue an entry came from: ids start with the time. */
static int by_age(const void *a, const void *b)
{
    const struct item *x = a, *y = b;

    if (x->e.queued != y->e.queued)
        return x->e.queued < y->e.queued ? -1 : 1;
    return strcmp(x->e.id, y->e.id);
}

static size_t moved(const struct flush *f)
{
    const struct flush_counts *c = &f->n;

    return c->mails + c->events + c->deferred + c->waiting + c->failed + c->expired + c->corrupt;
}

/* One pass over at most PASS_MAX due entries.  Returns how many were due. */
static size_t run_pass(struct flush *f, struct item *items)
{
    struct item **evs = NULL;
    size_t n, n_evs = 0;
    bool io_error;

    f->now = now_s();
    n = load_pass(f, items, PASS_MAX, &io_error);
    if (n == 0)
        return 0;
    evs = malloc(sizeof(*evs) * n);
    if (evs == NULL) {
        for (size_t i = 0; i < n; i++)
            qn_spool_entry_clear(&items[i].e);
        return 0;
    }
    if (f->total < f->done + n)
        f->total = f->done + n;
    qsort(items, n, sizeof(*items), by_age);
    for (size_t i = 0; i < n; i++) {
        if (items[i].e.type == QN_SPOOL_MESSAGE) {
            deliver_message(f, &items[i]);
            show_progress(f, 1);
        } else {
            evs[n_evs++] = &items[i];
        }
    }
    deliver_event_batch(f, evs, n_evs);
    show_progress(f, n_evs);
    save_ratelimit(f);
    for (size_t i = 0; i < n; i++)
        qn_spool_entry_clear(&items[i].e);
    free(evs);
    return n;
}

static void summary(struct flush *f)
{
    const struct flush_counts *c = &f->n;
    size_t any = c->mails + c->deferred + c->waiting + c->failed + c->expired + c->corrupt;

    /* Entries that could not be moved were there to send: not "nothing". */
    if (any + c->stuck == 0) {
        if (!f->quiet)
            qn_log(&f->cli->log, LOG_INFO, "%s", _("flush: nothing to send"));
        return;
    }
    if (c->stuck > 0)
        qn_log(&f->cli->log, LOG_ERR,
               _("flush: %zu spool entr(ies) could not be moved (see above); they stay where "
                 "they are"),
               c->stuck);
    bool trouble = c->failed + c->expired + c->corrupt > 0;

    /* --quiet (the sender started by sendmail, notify and the PAM module)
     * keeps only the runs that need the administrator's attention. */
    if (f->quiet && !trouble && c->deferred == 0)
        return;
    qn_log(&f->cli->log, trouble ? LOG_WARNING : LOG_INFO,
           _("flush: sent %zu mail(s): %zu sendmail message(s) and %zu event(s), %zu of the mails "
             "digests; held back %zu (limits or burst), deferred %zu, failed %zu, expired %zu, "
             "corrupt %zu"),
           c->mails, c->messages, c->events, c->digests, c->waiting, c->deferred, c->failed,
           c->expired, c->corrupt);
}

/* Is anything in new/?  (Checked after the lock is released.) */
static bool new_not_empty(struct qn_spool *sp)
{
    char id[1][QN_SPOOL_ID_MAX];
    size_t n = 0;

    return qn_spool_list(sp, QN_SPOOL_NEW, id, 1, &n, NULL) == QN_OK && n > 0;
}

static int open_spool(struct flush *f)
{
    struct qn_spool_report check;
    enum qn_status r;

    r = qn_spool_open(f->cli->cfg.spool_dir, QN_SPOOL_CREATE, 0, &f->sp);
    if (r != QN_OK) {
        qn_log(&f->cli->log, LOG_ERR,
               _("cannot open the spool %s: %s (%s); create it with `systemd-tmpfiles --create "
                 "qqnotify.conf` or set [spool] dir"),
               f->cli->cfg.spool_dir, _(qn_strerror(r)), strerror(errno));
        return r == QN_EIO ? QN_EXIT_IOERR : QN_EXIT_CONFIG;
    }
    r = qn_spool_check(f->sp, &check);
    if (r == QN_ECONFIG) {
        /* The group qqnotify is named only where it exists (a source build may lack it). */
        qn_log(&f->cli->log, LOG_ERR,
               _("refusing to use the spool %s: its directory %s (mode %04o, owner %llu) can be "
                 "changed by other users; run: %s on it"),
               f->cli->cfg.spool_dir, check.where, check.mode, check.uid,
               qn_cli_qqnotify_group_exists() ? "chown root:qqnotify and chmod 2770"
                                              : "chown root:root and chmod 0700");
        return QN_EXIT_CONFIG;
    }
    return QN_EXIT_OK;
}

int qn_cmd_flush(struct qn_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct flush f;
    struct item *items = NULL;
    bool locked = false;
    int c, rc;

    memset(&f, 0, sizeof(f));
    f.cli = cli;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 'q':
            f.quiet = true;
            break;
        case 'h':
            printf(_("Usage: qqnotify flush [--quiet]\n"
                     "Delivers the spool: new entries and deferred ones that are due.\n"));
            return QN_EXIT_OK;
        default:
            return QN_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, _("qqnotify flush: unexpected argument '%s'\n"), argv[optind]);
        return QN_EXIT_USAGE;
    }
    rc = qn_cli_load_config(cli);
    if (rc != QN_EXIT_OK)
        return rc;
    if (cli->cfg.n_to == 0) {
        fprintf(stderr, _("qqnotify flush: [notify] to is empty in %s: alerts have nowhere to "
                          "go; add the recipients and run again (nothing was sent or lost)\n"),
                cli->config_path);
        return QN_EXIT_CONFIG;
    }
    qn_cli_warn_insecure(cli);
    rc = open_spool(&f);
    if (rc != QN_EXIT_OK)
        goto out;
    f.rl = malloc(sizeof(*f.rl));
    items = calloc(PASS_MAX, sizeof(*items));
    if (f.rl == NULL || items == NULL) {
        rc = QN_EXIT_OSERR;
        goto out;
    }
    f.progress = !f.quiet && isatty(STDERR_FILENO);

    for (int round = 0; round < RELOCK_MAX; round++) {
        if (qn_spool_lock(f.sp, &locked) != QN_OK) {
            qn_log(&cli->log, LOG_ERR, _("cannot take the spool's lock state/flush.lock: %s"),
                   strerror(errno));
            rc = QN_EXIT_IOERR;
            goto out;
        }
        if (!locked) {
            /* Another flush is running; it looks at new/ again before it ends. */
            if (!f.quiet && round == 0)
                qn_log(&cli->log, LOG_INFO, "%s",
                       _("flush: another flush is running; it will send these entries"));
            break;
        }
        if (round == 0) {
            load_ratelimit(&f);
            qn_spool_clean_tmp(f.sp, 0, NULL);
        }
        /* Each pass moves every entry it loaded (sent, deferred, failed); one
         * that moves nothing (entries that cannot be moved: I/O errors) ends
         * the run instead of loading the same entries again. */
        for (int pass = 0; pass < PASSES_MAX; pass++) {
            size_t before = moved(&f), stuck = f.n.stuck;
            if (run_pass(&f, items) == 0 || moved(&f) == before || f.n.stuck != stuck)
                break;
        }
        close_session(&f);
        qn_spool_unlock(f.sp);
        /* An entry spooled after the last pass listed new/ and before the
         * unlock would otherwise wait for the next trigger. */
        if (!new_not_empty(f.sp) || f.stop)
            break;
    }
    summary(&f);
    rc = f.exit_code;
out:
    close_session(&f);
    qn_spool_close(f.sp);
    free(f.rl);
    if (items != NULL) {
        for (size_t i = 0; i < PASS_MAX; i++)
            qn_spool_entry_clear(&items[i].e);
        free(items);
    }
    return rc;
}
