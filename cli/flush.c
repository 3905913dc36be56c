/*
 * qqnotify flush: the one sender.  The queue manager (common/qmgr.h) works
 * the spool into mail over the first route of [notify] routes: the
 * mailer's SMTP session (common/mailer.h), or a chat robot's webhook
 * (common/webhook.h; a sendmail message shown by its subject and text,
 * mailtext.h);
 * this command opens the spool, shows a progress bar on a terminal, logs
 * what happens to each entry and to the run, and chooses the exit status:
 * 0 only when nothing went wrong; an entry moved to failed/ ends the run
 * with 69 (65 for a corrupt one), one that waits after a failure with 75
 * (or, when delivery was stopped, the stopping failure's own code), one that
 * could not be moved with 74, so systemd and scripts see what the summary
 * says; and whatever else happened, 69 while an alert older than half of
 * max_age is still waiting (it may never go out: someone must look).
 *
 * The sender runs as the spool's user ([spool] user, qqnotify), never as
 * root.  Started as root (by hand, by root's notify or sendmail, by the PAM
 * module's flush=spawn), it reads the configuration and fetches the secret
 * (the systemd credential store is root's) first, then becomes that user
 * for good (spoolowner.h) before it opens the spool or reads any entry.
 * Other users' notify and sendmail never start it: the path unit on
 * maildrop/, the timer, or root's next flush does, so a user's -c/-C never
 * reaches a privileged process.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "enqueue.h"
#include "failover.h"
#include "health.h"
#include "heartbeat.h"
#include "http.h"
#include "mailer.h"
#include "mailtext.h"
#include "metrics.h"
#include "qmgr.h"
#include "spool.h"
#include "spoolowner.h"
#include "summary.h"
#include "tally.h"
#include "webhook.h"

struct flush {
    struct qn_cli *cli;
    const char *provider; /* the diagnosis catalog's, of the route's failures; NULL: [smtp] */
    const char *route;    /* a chat robot route's name, or NULL for mail */
    long long test_start; /* --test-time: the run's clock starts there (0: the real one) */
    long long real_start;
    bool quiet;
    bool progress;            /* a progress bar on the terminal */
    bool busy;                /* another sender held the lock: it reports the run */
    bool stopped;             /* delivery stopped: the deferrals that follow repeat its failure */
    struct qn_health *health; /* the routes' record (state/routes), NULL when none is kept */
    bool failover;            /* several routes: the failover keeps the record and reports */
    size_t done, total;
};

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

/* The run's clock with --test-time: the given start, advancing with the real clock. */
static long long test_clock(void *arg)
{
    const struct flush *f = arg;

    return f->test_start + ((long long)time(NULL) - f->real_start);
}

/* --test-time=SECONDS: seconds since the epoch, 1..QN_SILENCE_TIME_MAX.  False otherwise. */
static bool parse_test_time(const char *text, long long *ret)
{
    char *end = NULL;
    long long v;

    errno = 0;
    v = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v <= 0 || v > 253402300799LL)
        return false;
    *ret = v;
    return true;
}

/* The stored explanation of a failure, in the user's language. */
static void describe(void *arg, const struct qn_error *err, char *out, size_t n)
{
    (void)arg;
    qn_cli_describe(err, out, n);
}

/* A mail refused for good: the report once per mail, before its entries' moves. */
static void report_refusal(const struct flush *f, const struct qn_qmgr_entry *e)
{
    if (e->err != NULL && e->mail_index == 0)
        qn_cli_report_for(f->cli, f->provider, e->err);
}

static void log_stuck(const struct flush *f, const struct qn_qmgr_entry *e)
{
    const struct qn_log *log = &f->cli->log;

    switch (e->wanted) {
    case QN_QMGR_SENT:
    case QN_QMGR_DIGESTED:
        qn_log(log, LOG_ERR,
               _("mail for spool entry %s was accepted but the entry cannot be removed (%s): it "
                 "will be sent again"),
               e->id, _(qn_strerror(e->status)));
        break;
    case QN_QMGR_FAILED:
        report_refusal(f, e);
        qn_log(log, LOG_ERR, _("cannot move spool entry %s to failed/: %s"), e->id,
               _(qn_strerror(e->status)));
        break;
    default: /* held or deferred: "No space left on device" says more than a number */
        qn_log(log, LOG_ERR,
               _("cannot defer spool entry %s: %s (%s); it stays where it is and will be tried "
                 "again"),
               e->id, _(qn_strerror(e->status)),
               e->status == QN_EIO ? strerror(e->sys_errno) : "-");
        break;
    }
}

static const char *route_name(const struct flush *f)
{
    return f->route != NULL ? f->route : QN_ROUTE_SMTP;
}

/* A failure of the route in its record: the incident's start, its backoff. */
static void record_failure(struct flush *f, const struct qn_error *err, const char *diagnosis,
                           const char *reason, long long retry_at)
{
    const struct qn_diagnosis *d;
    long long now = time(NULL);

    if (f->health == NULL || f->failover || err == NULL)
        return;
    d = qn_diag_lookup(f->provider != NULL ? f->provider : f->cli->cfg.provider, err);
    if (retry_at <= now)
        retry_at = now + f->cli->cfg.retry_min_s;
    qn_health_fail(f->health, route_name(f), qn_health_kind(err, d), diagnosis, reason,
                   f->cli->cfg.routes.failover_after_s, retry_at, now);
}

/* What the route did with this entry's mail, once per mail (its index 0). */
static void record_outcome(struct flush *f, const struct qn_qmgr_entry *e)
{
    if (f->health == NULL || f->failover || e->mail_index != 0)
        return;
    switch (e->outcome) {
    case QN_QMGR_SENT:
    case QN_QMGR_DIGESTED:
        qn_health_ok(f->health, route_name(f), 1, time(NULL));
        break;
    case QN_QMGR_FAILED:
        record_failure(f, e->err, e->diagnosis, e->reason, 0);
        break;
    case QN_QMGR_DEFERRED:
        if (!f->stopped)
            record_failure(f, e->err, e->diagnosis, e->reason, e->next_try);
        break;
    default:
        break;
    }
}

static void on_entry(void *arg, const struct qn_qmgr_entry *e)
{
    struct flush *f = arg;
    const struct qn_log *log = &f->cli->log;

    record_outcome(f, e);
    switch (e->outcome) {
    case QN_QMGR_FAILED:
        report_refusal(f, e);
        break;
    case QN_QMGR_STUCK:
        log_stuck(f, e);
        break;
    case QN_QMGR_EXPIRED:
        qn_log(log, LOG_WARNING, _("spool entry %s expired: %s"), e->id, e->reason);
        return;
    case QN_QMGR_QUARANTINED:
        qn_log(log, LOG_WARNING,
               _("spool entry %s is corrupt (%s): moved to failed/ for inspection"), e->id,
               _(qn_strerror(e->status)));
        return;
    case QN_QMGR_UNREADABLE:
        qn_log(log, LOG_ERR, _("cannot read spool entry %s: %s"), e->id, _(qn_strerror(e->status)));
        return;
    case QN_QMGR_CAPPED:
        return; /* counted; the cap's summary says how many */
    case QN_QMGR_SILENCED:
        if (!f->quiet)
            qn_log(log, LOG_INFO, _("spool entry %s not mailed: %s"), e->id, e->reason);
        break;
    default:
        break;
    }
    show_progress(f, 1); /* an entry of the pass is done */
}

static void on_notice(void *arg, const struct qn_qmgr_notice *n)
{
    struct flush *f = arg;
    const struct qn_log *log = &f->cli->log;
    const struct qn_diagnosis *d;

    switch (n->kind) {
    case QN_QMGR_PASS:
        if (f->total < f->done + n->count)
            f->total = f->done + n->count;
        break;
    case QN_QMGR_STOPPED:
        record_failure(f, n->err, n->diagnosis, n->reason, 0);
        f->stopped = true;
        d = qn_diag_lookup(f->provider != NULL ? f->provider : f->cli->cfg.provider, n->err);
        qn_cli_report_for(f->cli, f->provider, n->err);
        qn_log(log, LOG_WARNING, _("delivery stopped, the rest stays queued: %s%s%s"), n->reason,
               d ? " — " : "", d ? _(d->fix) : "");
        break;
    case QN_QMGR_LIST_FAILED:
        qn_log(log, LOG_ERR, _("cannot list the spool: %s (errno %d)"), _(qn_strerror(n->status)),
               n->sys_errno);
        break;
    case QN_QMGR_STATE_UNREADABLE:
        if (n->state != NULL && strcmp(n->state, "geoip") == 0) {
            qn_log(log, LOG_WARNING,
                   _("cannot open the GeoIP database ([enrich] geoip): %s; alerts go out "
                     "without country, city and network owner until it is fixed"),
                   n->reason != NULL ? n->reason : "?");
            break;
        }
        qn_log(log, LOG_WARNING,
               _("the state file state/%s in the spool is unreadable (%s); starting from an "
                 "empty one"),
               n->state != NULL ? n->state : "ratelimit", _(qn_strerror(n->status)));
        break;
    case QN_QMGR_STATE_NOT_SAVED:
        qn_log(log, LOG_WARNING,
               _("cannot save the state file state/%s in the spool: %s; limits and caps may be "
                 "exceeded after a restart"),
               n->state != NULL ? n->state : "ratelimit", _(qn_strerror(n->status)));
        break;
    case QN_QMGR_PICKED_UP:
        if (!f->quiet && n->count > 0)
            qn_log(log, LOG_INFO, _("picked up %zu submission(s) of local users"), n->count);
        if (n->capped > 0)
            qn_log(log, LOG_WARNING,
                   _("%zu submission(s) of local users were over their cap ([limits] user_max): "
                     "counted, not queued; one summary will say how many"),
                   n->capped);
        break;
    case QN_QMGR_REFUSED:
        qn_log(log, LOG_WARNING, _("submission %s of user %s (uid %llu) refused: %s"), n->id,
               n->who, n->uid, n->reason);
        break;
    case QN_QMGR_SUMMARY_QUEUED:
        qn_log(log, LOG_WARNING, _("cap reached, summary queued: %s"), n->reason);
        break;
    case QN_QMGR_PICKUP_FAILED:
        qn_log(log, LOG_ERR, _("cannot read the spool's maildrop/: %s (%s)"),
               _(qn_strerror(n->status)), strerror(n->sys_errno));
        break;
    case QN_QMGR_BUSY:
        /* Another flush is running; it looks at new/ again before it ends. */
        f->busy = true;
        if (!f->quiet)
            qn_log(log, LOG_INFO, "%s",
                   _("flush: another flush is running; it will send these entries"));
        break;
    case QN_QMGR_LOCK_FAILED:
        qn_log(log, LOG_ERR, _("cannot take the spool's lock state/flush.lock: %s"),
               strerror(n->sys_errno));
        break;
    }
}

static void summary(const struct flush *f, const struct qn_qmgr_summary *c)
{
    size_t any = c->mails + c->deferred + c->held + c->failed + c->expired + c->quarantined +
                 c->silenced + c->known;

    /* Entries that could not be moved were there to send: not "nothing". */
    if (any + c->stuck == 0) {
        if (!f->quiet)
            qn_log(&f->cli->log, LOG_INFO, "%s", _("flush: nothing to send"));
        return;
    }
    if (!f->quiet && c->silenced + c->known + c->quiet > 0)
        qn_log(&f->cli->log, LOG_INFO,
               _("flush: not mailed: %zu event(s) under a silence and %zu known login(s) "
                 "([login] notify = new), counted for `qqnotify queue` and the daily summary; "
                 "%zu held for the quiet hours"),
               c->silenced, c->known, c->quiet);
    if (c->stuck > 0)
        qn_log(&f->cli->log, LOG_ERR,
               _("flush: %zu spool entr(ies) could not be moved (see above); they stay where "
                 "they are"),
               c->stuck);
    bool trouble = c->failed + c->expired + c->quarantined > 0;

    /* --quiet (the sender started by the units, root's sendmail and notify and the PAM
     * module) keeps the runs that need the administrator's attention, and always says
     * when mail was held back: silence must never hide alerts that wait. */
    if (f->quiet && !trouble && c->deferred == 0 && c->held == 0)
        return;
    if (f->route != NULL)
        qn_log(&f->cli->log, trouble || c->held > 0 ? LOG_WARNING : LOG_INFO,
               _("flush: sent %zu message(s) through route %s: %zu sendmail message(s) and %zu "
                 "event(s), %zu of the messages digests; held back %zu (limits or burst), "
                 "deferred %zu, failed %zu, expired %zu, corrupt %zu"),
               c->mails, f->route, c->messages, c->events, c->digests, c->held, c->deferred,
               c->failed, c->expired, c->quarantined);
    else
        qn_log(&f->cli->log, trouble || c->held > 0 ? LOG_WARNING : LOG_INFO,
               _("flush: sent %zu mail(s): %zu sendmail message(s) and %zu event(s), %zu of the "
                 "mails digests; held back %zu (limits or burst), deferred %zu, failed %zu, "
                 "expired %zu, corrupt %zu"),
               c->mails, c->messages, c->events, c->digests, c->held, c->deferred, c->failed,
               c->expired, c->quarantined);
}

/* An alert waiting longer than half of max_age may never go out: one line, even quiet.
 * True when that is so. */
static bool stale(const struct flush *f, const struct qn_qmgr_summary *c)
{
    long long now = (long long)time(NULL), half = (long long)f->cli->cfg.max_age_s / 2;
    char when[32] = "?";
    struct tm tm;
    time_t t;

    if (c->oldest_waiting <= 0 || half <= 0 || now - c->oldest_waiting <= half)
        return false;
    t = (time_t)c->oldest_waiting;
    if (localtime_r(&t, &tm) != NULL)
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    qn_log(&f->cli->log, LOG_ERR,
           _("flush: %zu entr(ies) still wait in the spool, the oldest queued at %s, more than "
             "half of max_age (%u s) ago; see `qqnotify queue list` and the lines above"),
           c->waiting, when, f->cli->cfg.max_age_s);
    return true;
}

/* The first thing that needed attention decides; a stop outranks a deferral
 * before it ("retry later" gives way to the stop's more precise code). */
static int exit_code(const struct qn_qmgr_summary *s)
{
    int code;

    if (s->first == QN_QMGR_ATTN_STOPPED || (s->first == QN_QMGR_ATTN_DEFERRED && s->stopped)) {
        code = qn_cli_exit_code(&s->stop_error);
        return code == QN_EXIT_OK || code == QN_EXIT_UNAVAILABLE ? QN_EXIT_TEMPFAIL : code;
    }
    switch (s->first) {
    case QN_QMGR_ALL_WELL:
        return QN_EXIT_OK;
    case QN_QMGR_ATTN_DEFERRED:
    case QN_QMGR_ATTN_STOPPED:
        return QN_EXIT_TEMPFAIL;
    case QN_QMGR_ATTN_FAILED:
    case QN_QMGR_ATTN_EXPIRED:
        /* An alert that will never go out: say so to systemd and scripts. */
        return QN_EXIT_UNAVAILABLE;
    case QN_QMGR_ATTN_CORRUPT:
        return QN_EXIT_DATAERR;
    case QN_QMGR_ATTN_STUCK:
        return QN_EXIT_IOERR;
    }
    return QN_EXIT_SOFTWARE;
}

static int open_spool(struct flush *f, struct qn_spool **ret)
{
    struct qn_spool_report check;
    enum qn_status r;

    r = qn_spool_open(f->cli->cfg.spool_dir, QN_SPOOL_CREATE, 0, ret);
    if (r != QN_OK) {
        qn_log(&f->cli->log, LOG_ERR,
               _("cannot open the spool %s as user %s: %s (%s); as root, run `qqnotify queue "
                 "init` (or `systemd-tmpfiles --create qqnotify.conf`), or set [spool] dir"),
               f->cli->cfg.spool_dir, f->cli->cfg.queue.user, _(qn_strerror(r)), strerror(errno));
        return r == QN_EIO ? QN_EXIT_IOERR : QN_EXIT_CONFIG;
    }
    r = qn_spool_check(*ret, (unsigned long long)geteuid(), &check);
    if (r == QN_ECONFIG) {
        qn_log(&f->cli->log, LOG_ERR,
               _("refusing to use the spool %s: its directory %s (mode %04o, owner %llu) can be "
                 "changed by others than root and the spool's user; as root, run `qqnotify "
                 "queue init`, which names the fix"),
               f->cli->cfg.spool_dir, check.where, check.mode, check.uid);
        return QN_EXIT_CONFIG;
    }
    return QN_EXIT_OK;
}

/* The transports of the routes alerts may take (qn_routes_used), and the
 * failover over them when there are several. */
struct ways {
    struct qn_mailer *mailer;
    struct qn_webhook *hook[QN_ROUTES_MAX];
    struct qn_failover_route route[QN_ROUTES_MAX];
    size_t n;
    struct qn_failover *failover;
};

static void ways_free(struct ways *w)
{
    qn_failover_free(w->failover);
    qn_mailer_free(w->mailer);
    for (size_t i = 0; i < QN_ROUTES_MAX; i++)
        qn_webhook_free(w->hook[i]);
    memset(w, 0, sizeof(*w));
}

/*
 * Started as root: fetch the secret while root may, then become the spool's user for good.
 * The exit code on failure, else QN_EXIT_OK.
 */
static int become_spool_user(struct flush *f, const struct ways *w)
{
    const struct qn_config *cfg = &f->cli->cfg;
    struct qn_spoolowner o;
    enum qn_spoolowner_missing missing;
    struct qn_error err;
    enum qn_status r;

    if (geteuid() != 0)
        return QN_EXIT_OK; /* the unit's user already (qn_cli_require_queue_access) */
    r = qn_spoolowner_resolve(&cfg->queue, &o, &missing);
    if (r != QN_OK || o.uid == 0) {
        qn_log(&f->cli->log, LOG_ERR,
               r != QN_OK
                   ? _("qqnotify flush: the spool's user %s ([spool] user in %s) does not exist; "
                       "the sender does not run as root. Install the package (systemd-sysusers "
                       "creates it) or: useradd --system --user-group --home-dir / --shell "
                       "/usr/sbin/nologin %s")
                   : _("qqnotify flush: [spool] user %s in %s is root; the sender does not run as "
                       "root: set a system user of its own (%s)"),
               cfg->queue.user, f->cli->config_path, r != QN_OK ? cfg->queue.user : "qqnotify");
        return QN_EXIT_CONFIG;
    }
    /* A failure is kept: the run reports it at the first message, as it always did. */
    if (w->mailer != NULL)
        (void)qn_mailer_fetch_secret(w->mailer, &err);
    for (size_t i = 0; i < QN_ROUTES_MAX; i++) {
        if (w->hook[i] != NULL)
            (void)qn_webhook_fetch_secret(w->hook[i], &err);
    }
    if (qn_spoolowner_become(&o) != QN_OK) {
        qn_log(&f->cli->log, LOG_ERR, _("qqnotify flush: cannot become the spool's user %s: %s"),
               o.user, strerror(errno));
        return QN_EXIT_OSERR;
    }
    return QN_EXIT_OK;
}

/*
 * A pass holds at most one message's bytes at a time (qmgr.h), but glibc's malloc raises its
 * mmap threshold to the size of the largest block freed so far: after the first message of
 * a few MiB, the next ones come from the heap, where the small blocks between them (TLS,
 * the configuration) keep it from shrinking, and the process grew by a message per few
 * entries (200 entries of 16 MiB: 110 MB).  A fixed threshold keeps every large block an
 * mmap of its own, given back when freed.
 */
static void large_blocks_given_back(void)
{
    (void)mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

/* The transport of ROUTE into W->route[i]. */
static int open_way(struct flush *f, const struct qn_route *route, struct ways *w, size_t i)
{
    struct qn_cli *cli = f->cli;
    struct qn_webhook_options wo = {
        .cfg = &cli->cfg, .route = route, .summarize = qn_mailtext_summary};

    if (route->type == QN_ROUTE_TYPE_SMTP) {
        if (cli->cfg.n_to == 0) {
            fprintf(stderr,
                    _("qqnotify flush: [notify] to is empty in %s: alerts have nowhere to "
                      "go; add the recipients and run again (nothing was sent or lost)\n"),
                    cli->config_path);
            return QN_EXIT_CONFIG;
        }
        qn_cli_warn_insecure(cli);
        if (qn_mailer_new(&cli->cfg, &w->mailer) != QN_OK)
            return QN_EXIT_OSERR;
        w->route[i].t = qn_mailer_transport(w->mailer);
        return QN_EXIT_OK;
    }
    if (qn_http_global_init() != QN_OK) {
        qn_log(&cli->log, LOG_ERR, "%s", _("cannot initialise libcurl"));
        return QN_EXIT_OSERR;
    }
    if (qn_webhook_new(&wo, &w->hook[i]) != QN_OK)
        return QN_EXIT_OSERR;
    w->route[i].t = qn_webhook_transport(w->hook[i]);
    return QN_EXIT_OK;
}

/* The ways out: [notify] routes (the [smtp] account by default) and the
 * critical routes.  One route is the queue manager's transport itself;
 * several go through the failover (made by open_failover, with the spool). */
static int open_routes(struct flush *f, struct ways *w, struct qn_transport *ret)
{
    const struct qn_route *used[QN_ROUTES_MAX];
    bool ordered[QN_ROUTES_MAX], critical[QN_ROUTES_MAX];
    int rc;

    w->n = qn_routes_used(&f->cli->cfg.routes, used, ordered, critical);
    for (size_t i = 0; i < w->n; i++) {
        rc = open_way(f, used[i], w, i);
        if (rc != QN_EXIT_OK)
            return rc;
        w->route[i].ordered = ordered[i];
        w->route[i].critical = critical[i];
    }
    if (w->n == 1) {
        if (used[0]->type != QN_ROUTE_TYPE_SMTP) {
            f->provider = qn_route_type_name(used[0]->type);
            f->route = used[0]->name;
        }
        *ret = w->route[0].t;
    }
    return QN_EXIT_OK;
}

/* What the failover did with a route, in the log. */
static void on_failover(void *arg, const struct qn_failover_event *ev)
{
    struct flush *f = arg;
    const struct qn_log *log = &f->cli->log;

    switch (ev->kind) {
    case QN_FAILOVER_FAILED:
        qn_cli_report_for(f->cli, ev->provider, ev->err);
        if (ev->unhealthy)
            qn_log(log, LOG_WARNING,
                   _("route %s is unhealthy: alerts go to the next route of [notify] routes until "
                     "it answers again"),
                   ev->route);
        break;
    case QN_FAILOVER_RECOVERED:
        qn_log(log, LOG_INFO, _("route %s answers again and takes its alerts back"), ev->route);
        break;
    case QN_FAILOVER_MINIMAL:
        qn_log(log, ev->ok ? LOG_INFO : LOG_WARNING,
               ev->ok ? _("route %s refused the alert's content; a minimal alert (plain text, no "
                          "links, addresses masked) was accepted instead")
                      : _("route %s refused the alert's content, also as a minimal alert"),
               ev->route);
        break;
    case QN_FAILOVER_REFUSED:
        if (ev->ok)
            qn_log(log, LOG_WARNING,
                   _("every route refused an alert for good: it goes to failed/, and a notice "
                     "of it went out through route %s"),
                   ev->route);
        else
            qn_log(log, LOG_ERR, "%s",
                   _("every route refused an alert for good: it goes to failed/, and no route "
                     "took the notice of it"));
        break;
    }
}

/* Several routes: the failover over them, with the routes' record. */
static int open_failover(struct flush *f, struct ways *w, struct qn_spool *sp,
                         struct qn_transport *ret)
{
    struct qn_failover_options fo = {.cfg = &f->cli->cfg,
                                     .spool = sp,
                                     .health = f->health,
                                     .routes = w->route,
                                     .n_routes = w->n,
                                     .on_event = on_failover,
                                     .describe = describe,
                                     .arg = f};

    if (w->n <= 1)
        return QN_EXIT_OK;
    if (f->health == NULL || qn_failover_new(&fo, &w->failover) != QN_OK)
        return QN_EXIT_OSERR;
    f->failover = true;
    *ret = qn_failover_transport(w->failover);
    return QN_EXIT_OK;
}

/* The dead man's switch: ping_url after a run that ended well, ping_url/fail
 * otherwise.  After delivery, bounded by [heartbeat] timeout; a failed ping
 * is logged and changes nothing else. */
static void heartbeat(const struct flush *f, int rc)
{
    const struct qn_assure_config *a = &f->cli->cfg.assure;
    struct qn_error err;
    char why[512];

    if (a->ping_url[0] == '\0' || f->busy)
        return;
    if (qn_http_global_init() != QN_OK) {
        qn_log(&f->cli->log, LOG_WARNING, "%s",
               _("heartbeat: cannot initialise libcurl; no ping was sent"));
        return;
    }
    if (qn_heartbeat_ping(a, rc != QN_EXIT_OK, &err) == QN_OK)
        return;
    qn_cli_describe(&err, why, sizeof(why));
    qn_log(&f->cli->log, LOG_WARNING,
           _("heartbeat: the ping to [heartbeat] ping_url failed: %s; the monitoring service will "
             "report this host as down until a ping arrives (check ping_url, ca_file and the "
             "network)"),
           why);
}

/* The routes' record as the last runs left it; a damaged or unreadable one
 * is an empty record (the queue is not held up for it). */
static void load_health(struct flush *f, struct qn_spool *sp)
{
    enum qn_status r;

    f->health = malloc(sizeof(*f->health));
    if (f->health == NULL)
        return;
    r = qn_health_load(f->health, sp, time(NULL));
    if (r != QN_OK && r != QN_ENOTFOUND)
        qn_log(&f->cli->log, LOG_WARNING,
               _("cannot read the routes' record state/%s: %s; starting from an empty one"),
               QN_HEALTH_STATE_NAME, _(qn_strerror(r)));
}

/* [heartbeat] daily: the all-clear summary, spooled before the run so that
 * the run delivers it like any alert; once a day (state/routes). */
static void daily_summary(struct flush *f, struct qn_spool *sp)
{
    const struct qn_config *cfg = &f->cli->cfg;
    const struct qn_route *used[QN_ROUTES_MAX];
    struct qn_summary_route routes[QN_ROUTES_MAX];
    struct qn_queue_stat q[QN_METRICS_QUEUES];
    struct qn_event ev;
    struct qn_tally t;
    char id[QN_SPOOL_ID_MAX];
    long long now = time(NULL);
    bool taken = false;
    size_t n;
    enum qn_status r;

    if (f->health == NULL || !qn_summary_due(&cfg->assure, f->health->summary_day, now))
        return;
    n = qn_routes_used(&cfg->routes, used, NULL, NULL);
    for (size_t i = 0; i < n; i++)
        qn_summary_route_read(sp, used[i], cfg, now, &routes[i]);
    r = qn_queue_stats_read(sp, q);
    if (r == QN_OK) {
        /* What silences and notify = new kept from the mail since the last summary: taken
         * (the file starts again), and given back when the summary cannot be spooled. */
        taken = qn_tally_take(sp, &t, now) == QN_OK;
        qn_summary_event(f->health, routes, n, q, taken ? &t : NULL, cfg->language, now, &ev);
        r = qn_enqueue_event(cfg->spool_dir, &ev, cfg->max_entry_size, id);
    }
    if (r != QN_OK) {
        if (taken)
            (void)qn_tally_commit(sp, &t, now);
        qn_log(&f->cli->log, LOG_WARNING,
               _("cannot spool the daily summary: %s; the next run tries again"),
               _(qn_strerror(r)));
        return;
    }
    f->health->summary_day = qn_summary_local_day(now);
    f->health->summary_changed = true;
}

/* [metrics] textfile: the queues, the routes and this run. */
static void write_metrics(const struct flush *f, struct qn_spool *sp, int rc)
{
    const char *path = f->cli->cfg.assure.textfile;
    struct qn_queue_stat q[QN_METRICS_QUEUES];
    struct qn_metrics_run run = {.end = time(NULL), .ok = rc == QN_EXIT_OK};
    struct qn_buf out;
    enum qn_status r;

    if (path[0] == '\0' || f->health == NULL)
        return;
    qn_buf_init(&out, QN_METRICS_MAX);
    r = qn_queue_stats_read(sp, q);
    if (r == QN_OK)
        r = qn_metrics_format(f->health, q, &run, run.end, &out);
    if (r == QN_OK)
        r = qn_metrics_write(path, out.data, out.len);
    if (r != QN_OK)
        qn_log(&f->cli->log, LOG_WARNING,
               _("cannot write the metrics file %s: %s (%s); check that the directory exists and "
                 "that the sender's user may write in it"),
               path, _(qn_strerror(r)), r == QN_EIO ? strerror(errno) : "-");
    qn_buf_free(&out);
}

/* After the run: the routes' record, the metrics file. */
static void record_run(struct flush *f, struct qn_spool *sp, int rc)
{
    enum qn_status r;

    /* Busy: the other sender records its run; a summary spooled here is ours. */
    if (f->health == NULL || (f->busy && !f->health->summary_changed))
        return;
    r = qn_health_commit(f->health, sp, time(NULL));
    if (r != QN_OK)
        qn_log(&f->cli->log, LOG_WARNING,
               _("cannot save the routes' record state/%s: %s; status and metrics miss this "
                 "run"),
               QN_HEALTH_STATE_NAME, _(qn_strerror(r)));
    if (!f->busy)
        write_metrics(f, sp, rc);
}

int qn_cmd_flush(struct qn_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"quiet", no_argument, NULL, 'q'},
        {"test-time", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct flush f = {.cli = cli};
    struct qn_qmgr_options opt = {.on_entry = on_entry,
                                  .on_notice = on_notice,
                                  .describe = describe,
                                  .arg = &f,
                                  .rewrite = qn_cli_rewrite_submission};
    struct qn_qmgr_summary sum;
    struct ways ways = {0};
    enum qn_status r;
    int c, rc;

    large_blocks_given_back();
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case 'q':
            f.quiet = true;
            break;
        case 'T':
            if (!parse_test_time(optarg, &f.test_start)) {
                fprintf(stderr,
                        _("qqnotify flush: --test-time wants seconds since the epoch, not "
                          "'%s'\n"),
                        optarg);
                return QN_EXIT_USAGE;
            }
            f.real_start = (long long)time(NULL);
            opt.clock = test_clock;
            break;
        case 'h':
            printf(_("Usage: qqnotify flush [--quiet] [--test-time SECONDS]\n"
                     "Delivers the spool: local users' submissions, new entries and deferred "
                     "ones that are due.\n"));
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
    rc = qn_cli_require_queue_access(cli, "qqnotify flush");
    if (rc != QN_EXIT_OK)
        return rc;
    rc = open_routes(&f, &ways, &opt.transport);
    if (rc == QN_EXIT_OK)
        rc = become_spool_user(&f, &ways);
    if (rc != QN_EXIT_OK)
        goto out;
    rc = open_spool(&f, &opt.spool);
    if (rc != QN_EXIT_OK)
        goto out;
    opt.cfg = &cli->cfg;
    load_health(&f, opt.spool);
    daily_summary(&f, opt.spool);
    rc = open_failover(&f, &ways, opt.spool, &opt.transport);
    if (rc != QN_EXIT_OK)
        goto out;
    f.progress = !f.quiet && isatty(STDERR_FILENO);
    r = qn_qmgr_run(&opt, &sum);
    if (r == QN_OK) {
        summary(&f, &sum);
        rc = exit_code(&sum);
        if (stale(&f, &sum) && (rc == QN_EXIT_OK || rc == QN_EXIT_TEMPFAIL))
            rc = QN_EXIT_UNAVAILABLE;
    } else {
        rc = r == QN_EIO ? QN_EXIT_IOERR : r == QN_ENOMEM ? QN_EXIT_OSERR : QN_EXIT_SOFTWARE;
    }
    record_run(&f, opt.spool, rc);
out:
    /* The session is closed before the ping: the ping never holds it open. */
    ways_free(&ways);
    heartbeat(&f, rc);
    qn_spool_close(opt.spool);
    free(f.health);
    return rc;
}
