/*
 * qqnotify flush: the one sender.  The queue manager (common/qmgr.h) works
 * the spool into messages over the routes of [notify] routes, opened by
 * ways.h (the [smtp] account's mailer, a chat robot's webhook, the failover
 * over several), which also fetches their secrets as root and then becomes
 * the spool's user; runrecord.h keeps what the run leaves for those who
 * watch the sender (the routes' record, the daily summary, the metrics
 * file, the heartbeat ping).
 *
 * This command reads the options, opens the spool, shows a progress bar on
 * a terminal, logs what happens to each entry and to the run, and chooses
 * the exit status: 0 only when nothing went wrong; an entry moved to
 * failed/ ends the run with 69 (65 for a corrupt one), one that waits after
 * a failure with 75 (or, when delivery was stopped, the stopping failure's
 * own code), one that could not be moved with 74, so systemd and scripts
 * see what the summary says; and whatever else happened, 69 while an alert
 * older than half of max_age is still waiting (it may never go out: someone
 * must look).
 *
 * The sender runs as the spool's user ([spool] user, qqnotify), never as
 * root (ways.h).  Other users' notify and sendmail never start it: the path
 * unit on maildrop/, the timer, or root's next flush does, so a user's
 * -c/-C never reaches a privileged process.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "qmgr.h"
#include "runrecord.h"
#include "spool.h"
#include "ways.h"

struct flush {
    struct qn_cli *cli;
    const char *provider;    /* the diagnosis catalog's, of the route's failures; NULL: [smtp] */
    const char *route;       /* a chat robot route's name, or NULL for mail */
    struct qn_runrecord rec; /* for those who watch the sender (runrecord.h) */
    long long test_start;    /* --test-time: the run's clock starts there (0: the real one) */
    long long real_start;
    bool quiet;
    bool progress; /* a progress bar on the terminal */
    bool busy;     /* another sender held the lock: it reports the run */
    bool stopped;  /* delivery stopped: the deferrals that follow repeat its failure */
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

static void on_entry(void *arg, const struct qn_qmgr_entry *e)
{
    struct flush *f = arg;
    const struct qn_log *log = &f->cli->log;

    qn_runrecord_entry(&f->rec, e, f->stopped);
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
        qn_runrecord_failure(&f->rec, n->err, n->diagnosis, n->reason, 0);
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
    case QN_QMGR_MINIMAL:
        qn_log(log, n->count ? LOG_INFO : LOG_WARNING,
               n->count ? _("route %s refused the alert's content; a minimal alert (plain text, "
                            "no links, addresses masked) was accepted instead")
                        : _("route %s refused the alert's content, also as a minimal alert"),
               n->reason != NULL ? n->reason : "smtp");
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

int qn_cmd_flush(struct qn_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"quiet", no_argument, NULL, 'q'},
        {"test-time", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct flush f = {.cli = cli, .rec = {.cli = cli}};
    struct qn_qmgr_options opt = {.on_entry = on_entry,
                                  .on_notice = on_notice,
                                  .describe = qn_cli_describe_hook,
                                  .arg = &f,
                                  .rewrite = qn_cli_rewrite_submission};
    struct qn_qmgr_summary sum;
    struct qn_ways ways = {0};
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
    rc = qn_ways_open(cli, &ways, &opt.transport);
    if (rc == QN_EXIT_OK)
        rc = qn_ways_become_spool_user(cli, &ways);
    if (rc != QN_EXIT_OK)
        goto out;
    f.provider = f.rec.provider = ways.provider;
    f.route = f.rec.route = ways.route_name;
    rc = open_spool(&f, &opt.spool);
    if (rc != QN_EXIT_OK)
        goto out;
    opt.cfg = &cli->cfg;
    qn_runrecord_load(&f.rec, opt.spool);
    qn_runrecord_daily(&f.rec, opt.spool);
    rc = qn_ways_failover(cli, &ways, opt.spool, f.rec.health, &opt.transport);
    if (rc != QN_EXIT_OK)
        goto out;
    f.rec.failover = ways.failover != NULL;
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
    qn_runrecord_finish(&f.rec, opt.spool, rc, f.busy);
out:
    /* The sessions are closed before the ping: the ping never holds one open. */
    qn_ways_free(&ways);
    qn_runrecord_ping(&f.rec, rc, f.busy);
    qn_spool_close(opt.spool);
    qn_runrecord_free(&f.rec);
    return rc;
}
