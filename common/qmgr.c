/*
 * qmgr — the queue manager; how the queue is worked is in qmgr.h.
 *
 * One struct run holds what a run knows: the options, the limiter's view,
 * the lanes' state, the counts, and the stop (once the session or the
 * configuration failed, every entry not yet sent is deferred with the
 * stop's reason).  Entries of a pass live in one array of QN_QMGR_PASS_MAX
 * loaded entries, messages without their bytes until their turn; an
 * entry's outcome is reported right after its move, so reports come in the
 * order the spool changes.  Choosing a pass is pass.c's, the pickup
 * pickup.c's, lanes, caps and summaries lanes.c's: this file is the loop.
 */
#include "qmgr.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "lanes.h"
#include "minimal.h"
#include "quota.h"
#include "ratelimit.h"
#include "severity.h"
#include "triage.h"

struct item {
    struct qn_spool_entry e; /* a message's bytes only while it is delivered */
    enum qn_spool_queue from;
};

struct run {
    const struct qn_qmgr_options *opt;
    const struct qn_config *cfg;
    const char *provider;                     /* of the transport's failures */
    const struct qn_ratelimit_config *limits; /* the transport's */
    struct qn_spool *sp;
    struct qn_quota *quota;
    struct qn_lanes *lanes;
    struct qn_triage *triage; /* the less-noise decisions (triage.h); NULL before start() */
    struct qn_qmgr_summary *sum;
    size_t pass_max;
    size_t entry_bound; /* [spool] max_entry_size plus the sender's own header lines */
    long long now;      /* the start of the pass */

    bool stop;
    long long stop_until; /* 0: each entry's own backoff */
    struct qn_error stop_err;
    char stop_reason[QN_SPOOL_ERROR_MAX];
    char stop_diag[QN_SPOOL_DIAGNOSIS_MAX];
};

/* A failure's account: "<stage>: <description>" and its diagnosis. */
struct failure {
    const struct qn_error *err;
    char reason[QN_SPOOL_ERROR_MAX];
    char diag[QN_SPOOL_DIAGNOSIS_MAX];
};

/* ---- small helpers ---------------------------------------------------------------------- */

static long long now_s(const struct run *run)
{
    if (run->opt->clock != NULL)
        return run->opt->clock(run->opt->arg);
    return (long long)time(NULL);
}

/* Backoff for an entry that failed ATTEMPTS times: retry_min doubling to
 * retry_max, then up to a quarter more at random (qmgr.h). */
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

/* snprintf for reasons that may be cut to fit (bounded spool fields). */
static void format(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void format(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (vsnprintf(out, n, fmt, ap) < 0 && n > 0)
        out[0] = '\0';
    va_end(ap);
}

static void describe(const struct run *run, const struct qn_error *err, struct failure *f)
{
    const struct qn_diagnosis *d = qn_diag_lookup(run->provider, err);
    char line[QN_ERROR_TEXT_MAX + QN_ERROR_DETAIL_MAX + 128];

    if (run->opt->describe != NULL)
        run->opt->describe(run->opt->arg, err, line, sizeof(line));
    else
        format(line, sizeof(line), "%s", qn_strerror(err->status));
    f->err = err;
    format(f->reason, sizeof(f->reason), "%s: %s", qn_stage_name(err->stage), line);
    format(f->diag, sizeof(f->diag), "%s", d != NULL ? d->id : "");
}

static void attention(struct run *run, enum qn_qmgr_attention what)
{
    if (run->sum->first == QN_QMGR_ALL_WELL)
        run->sum->first = what;
}

static void notice(const struct run *run, const struct qn_qmgr_notice *n)
{
    if (run->opt->on_notice != NULL)
        run->opt->on_notice(run->opt->arg, n);
}

/* Report the outcome R of entry ID (from FROM, of TYPE); R is completed here. */
static void report_id(const struct run *run, const char *id, enum qn_spool_queue from,
                      enum qn_spool_type type, struct qn_qmgr_entry *r)
{
    r->id = id;
    r->from = from;
    r->type = type;
    if (type == 0)
        r->lane = QN_LANE_USER;
    if (r->reason == NULL)
        r->reason = "";
    if (r->diagnosis == NULL)
        r->diagnosis = "";
    if (r->mail_size == 0)
        r->mail_size = 1;
    if (r->wanted == 0)
        r->wanted = r->outcome;
    if (run->opt->on_entry != NULL)
        run->opt->on_entry(run->opt->arg, r);
}

static void report(const struct run *run, const struct item *it, struct qn_qmgr_entry *r)
{
    r->lane = it->e.lane;
    report_id(run, it->e.id, it->from, it->e.type, r);
}

/* A move of IT failed with R (errno E): the entry is stuck where it was. */
static void stuck(struct run *run, const struct item *it, struct qn_qmgr_entry *r,
                  enum qn_status status, int e)
{
    r->wanted = r->outcome;
    r->outcome = QN_QMGR_STUCK;
    r->status = status;
    r->sys_errno = status == QN_EIO ? e : 0;
    run->sum->stuck++;
    attention(run, QN_QMGR_ATTN_STUCK);
    report(run, it, r);
}

/* ---- moving entries --------------------------------------------------------------------- */

/* Hold IT until NEXT_TRY for WHY (limits, burst): not an attempt, so later
 * retries do not back off faster and the last real diagnosis stays. */
static void hold(struct run *run, struct item *it, long long next_try, const char *why)
{
    struct qn_qmgr_entry r = {.outcome = QN_QMGR_HELD, .reason = why, .next_try = next_try};
    enum qn_status s = qn_spool_hold(run->sp, it->from, &it->e, next_try, why);

    if (s != QN_OK) {
        stuck(run, it, &r, s, errno);
        return;
    }
    run->sum->held++;
    report(run, it, &r);
}

/* Defer IT after failure F until NEXT_TRY (an attempt). */
static void defer(struct run *run, struct item *it, long long next_try, const struct failure *f,
                  size_t index, size_t size)
{
    struct qn_qmgr_entry r = {.outcome = QN_QMGR_DEFERRED,
                              .reason = f->reason,
                              .diagnosis = f->diag,
                              .err = f->err,
                              .next_try = next_try,
                              .mail_index = index,
                              .mail_size = size};
    enum qn_status s = qn_spool_defer(run->sp, it->from, &it->e, next_try, f->reason, f->diag);

    if (s != QN_OK) {
        stuck(run, it, &r, s, errno);
        return;
    }
    run->sum->deferred++;
    attention(run, QN_QMGR_ATTN_DEFERRED);
    report(run, it, &r);
}

/* Defer IT with its own backoff, counted from now (a timeout may have taken
 * longer than retry_min: the entry must not be due again in this run). */
static void defer_backoff(struct run *run, struct item *it, const struct failure *f, size_t index,
                          size_t size)
{
    defer(run, it, now_s(run) + backoff(run->cfg, it->e.attempts), f, index, size);
}

/* Defer IT because the run stopped: until the stop's time, or its own backoff. */
static void defer_stopped(struct run *run, struct item *it, size_t index, size_t size)
{
    struct failure f = {.err = &run->stop_err};
    long long now = now_s(run);

    memcpy(f.reason, run->stop_reason, sizeof(f.reason));
    memcpy(f.diag, run->stop_diag, sizeof(f.diag));
    defer(run, it,
          run->stop_until > now ? run->stop_until : now + backoff(run->cfg, it->e.attempts), &f,
          index, size);
}

static void fail(struct run *run, struct item *it, const struct failure *f, size_t index,
                 size_t size)
{
    struct qn_qmgr_entry r = {.outcome = QN_QMGR_FAILED,
                              .reason = f->reason,
                              .diagnosis = f->diag,
                              .err = f->err,
                              .mail_index = index,
                              .mail_size = size};
    enum qn_status s = qn_spool_fail(run->sp, it->from, &it->e, f->reason, f->diag);

    if (s != QN_OK) {
        stuck(run, it, &r, s, errno);
        return;
    }
    run->sum->failed++;
    attention(run, QN_QMGR_ATTN_FAILED);
    report(run, it, &r);
}

/* The mail is out: remove IT.  One that cannot be removed is sent once more
 * by a later run (this one ends its passes when an entry is stuck). */
static void remove_sent(struct run *run, struct item *it, bool digest, size_t index, size_t size)
{
    struct qn_qmgr_entry r = {.outcome = digest ? QN_QMGR_DIGESTED : QN_QMGR_SENT,
                              .mail_index = index,
                              .mail_size = size,
                              .moved = true};
    enum qn_status s = qn_spool_remove(run->sp, it->from, it->e.id);

    if (s != QN_OK && s != QN_ENOTFOUND) {
        r.moved = false;
        stuck(run, it, &r, s, errno);
        return;
    }
    qn_triage_sent(run->triage, &it->e);
    report(run, it, &r);
}

/* IT is not mailed, as triage D decided (a silence, a known login): counted, then removed
 * like a sent one. */
static void drop_unmailed(struct run *run, struct item *it, const struct qn_triage_decision *d)
{
    char reason[64];
    struct qn_qmgr_entry r = {.outcome = QN_QMGR_SILENCED, .reason = reason, .moved = true};
    enum qn_status s;

    if (d->verdict == QN_TRIAGE_SILENCED)
        format(reason, sizeof(reason), "silenced by %s", d->silence);
    else
        format(reason, sizeof(reason), "known login ([login] notify = new)");
    s = qn_spool_remove(run->sp, it->from, it->e.id);
    if (s != QN_OK && s != QN_ENOTFOUND) {
        r.moved = false;
        stuck(run, it, &r, s, errno);
        return;
    }
    qn_triage_dropped(run->triage, &it->e, d);
    if (d->verdict == QN_TRIAGE_SILENCED)
        run->sum->silenced++;
    else
        run->sum->known++;
    report(run, it, &r);
}

/* ---- delivering ------------------------------------------------------------------------- */

static void close_session(struct run *run)
{
    if (run->opt->transport.close != NULL)
        run->opt->transport.close(run->opt->transport.ctx);
}

/* Stop this run: everything not yet sent waits, until UNTIL when not 0. */
static void stop_run(struct run *run, const struct qn_error *err, long long until)
{
    if (!run->stop) {
        struct failure f;
        struct qn_qmgr_notice n = {.kind = QN_QMGR_STOPPED};

        describe(run, err, &f);
        run->stop_err = *err;
        memcpy(run->stop_reason, f.reason, sizeof(run->stop_reason));
        memcpy(run->stop_diag, f.diag, sizeof(run->stop_diag));
        run->sum->stopped = true;
        run->sum->stop_error = *err;
        attention(run, QN_QMGR_ATTN_STOPPED);
        n.err = &run->stop_err;
        n.reason = run->stop_reason;
        n.diagnosis = run->stop_diag;
        notice(run, &n);
    }
    run->stop = true;
    run->stop_until = until;
    close_session(run);
}

enum delivered {
    DELIVERED,   /* accepted */
    REFUSED,     /* refused for good: fail the entries */
    RETRY_ALONE, /* this mail must wait; the session goes on */
    WAIT_STOP,   /* the run stopped (or had stopped): defer with the stop's reason */
    NOT_BUILT,   /* the transport could not format it: defer with backoff */
};

/* Deliver D; F gets the failure when there is one. */
static enum delivered deliver(struct run *run, const struct qn_delivery *d, struct qn_error *err,
                              struct failure *f)
{
    const struct qn_transport *t = &run->opt->transport;
    const struct qn_diagnosis *diag;

    qn_error_clear(err);
    if (run->stop)
        return WAIT_STOP;
    if (t->open(t->ctx, err) != QN_OK) {
        stop_run(run, err, 0);
        return WAIT_STOP;
    }
    if (t->deliver(t->ctx, d, err) == QN_OK) {
        qn_quota_record_sent(run->quota, now_s(run));
        return DELIVERED;
    }
    describe(run, err, f);
    if (err->stage == QN_STAGE_LOCAL) {
        format(f->reason, sizeof(f->reason), "cannot build the mail: %s", qn_strerror(err->status));
        f->diag[0] = '\0';
        return NOT_BUILT;
    }
    diag = qn_diag_lookup(run->provider, err);
    if (diag != NULL && diag->rate_limited) {
        long long until = run->quota->view.backoff_until;

        /* The provider says slow down: back off for everything, and wait out a
         * block the provider keeps up longer than the backoff (limits->block_s). */
        qn_quota_penalize(run->quota, now_s(run));
        (void)qn_ratelimit_available(&run->quota->view, run->limits, now_s(run), &until);
        stop_run(run, err, until);
        return WAIT_STOP;
    }
    /* A reply to this one message, with the session still usable. */
    if (err->stage >= QN_STAGE_MAIL && err->stage <= QN_STAGE_DATA &&
        (err->status == QN_ETEMPFAIL || err->status == QN_EREJECT)) {
        if (err->verdict == QN_VERDICT_PERMANENT)
            return REFUSED;
        if (err->verdict == QN_VERDICT_RETRY)
            return RETRY_ALONE;
    }
    /* The session, the network or the configuration failed. */
    stop_run(run, err, 0);
    return WAIT_STOP;
}

/* May a mail of LANE go now?  Asked before every mail: each one sent changes
 * the answer.  When not, *RET_NEXT is when one may. */
static bool may_send(const struct run *run, enum qn_lane lane, long long *ret_next)
{
    const struct qn_transport *t = &run->opt->transport;

    /* A transport with limits of its own (several routes) answers for them. */
    if (t->available != NULL)
        return t->available(t->ctx, now_s(run), ret_next) > 0;
    return qn_lanes_available(lane, &run->quota->view, run->limits, now_s(run), ret_next) > 0;
}

static void rate_wait_reason(const struct run *run, long long next, char *out, size_t n)
{
    struct tm tm;
    time_t t = (time_t)next;
    char when[32] = "?";

    if (localtime_r(&t, &tm) != NULL)
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    if (run->opt->transport.available != NULL)
        format(out, n, "waiting for a route that may send (limits or health): next at %s", when);
    else if (run->opt->transport.limits != NULL)
        format(out, n, "waiting for the sending limits of route %s: next message at %s",
               run->opt->transport.name != NULL ? run->opt->transport.name : "?", when);
    else
        format(out, n, "waiting for the sending limits ([limits] of %s): next mail at %s",
               run->cfg->path[0] ? run->cfg->path : "the configuration", when);
}

/* The outcome of the mail of the N entries ITEMS, one by one. */
static void settle(struct run *run, struct item **items, size_t n, enum delivered how, bool digest,
                   const struct failure *f)
{
    for (size_t i = 0; i < n; i++) {
        switch (how) {
        case DELIVERED:
            remove_sent(run, items[i], digest, i, n);
            break;
        case REFUSED:
            fail(run, items[i], f, i, n);
            break;
        case RETRY_ALONE:
        case NOT_BUILT:
            defer_backoff(run, items[i], f, i, n);
            break;
        case WAIT_STOP:
            defer_stopped(run, items[i], i, n);
            break;
        }
    }
}

/* Stopped, or no mail of LANE may go: the N entries ITEMS wait.  True when they did. */
static bool must_wait(struct run *run, enum qn_lane lane, struct item **items, size_t n)
{
    char reason[QN_SPOOL_ERROR_MAX];
    long long next;

    if (run->stop) {
        for (size_t i = 0; i < n; i++)
            defer_stopped(run, items[i], i, n);
        return true;
    }
    if (may_send(run, lane, &next))
        return false;
    rate_wait_reason(run, next, reason, sizeof(reason));
    for (size_t i = 0; i < n; i++)
        hold(run, items[i], next, reason);
    return true;
}

/* ---- loading a pass --------------------------------------------------------------------- */

/* Corrupt (or untrusted) entry ID in QUEUE (load status STATUS): quarantine it. */
static void quarantine(struct run *run, enum qn_spool_queue queue, const char *id,
                       enum qn_status status, const char *why)
{
    char reason[160];
    struct qn_qmgr_entry r = {.outcome = QN_QMGR_QUARANTINED, .reason = reason, .status = status};

    if (why != NULL)
        format(reason, sizeof(reason), "%s", why);
    else
        format(reason, sizeof(reason), "corrupt spool entry: %s", qn_strerror(status));
    r.moved = qn_spool_quarantine(run->sp, queue, id, reason) == QN_OK;
    if (r.moved)
        run->sum->quarantined++;
    attention(run, QN_QMGR_ATTN_CORRUPT);
    report_id(run, id, queue, 0, &r);
}

static void unreadable(struct run *run, enum qn_spool_queue queue, const char *id,
                       enum qn_status status, int e)
{
    struct qn_qmgr_entry r = {.outcome = QN_QMGR_UNREADABLE, .status = status, .sys_errno = e};

    report_id(run, id, queue, 0, &r);
}

/* A message's bytes, read for its turn (loads keep only its header).  False when it could
 * not be read: then it was quarantined or reported unreadable. */
static bool load_message(struct run *run, struct item *it)
{
    struct qn_spool_entry *full;
    enum qn_status r;

    if (it->e.type != QN_SPOOL_MESSAGE || it->e.message != NULL)
        return true;
    full = calloc(1, sizeof(*full));
    if (full == NULL) {
        unreadable(run, it->from, it->e.id, QN_ENOMEM, ENOMEM);
        return false;
    }
    r = qn_spool_load(run->sp, it->from, it->e.id, run->entry_bound, full);
    if (r == QN_OK) {
        it->e.message = full->message;
        it->e.message_len = full->message_len;
        full->message = NULL;
    } else if (r == QN_EINVAL || r == QN_ETOOBIG) {
        quarantine(run, it->from, it->e.id, r, NULL);
    } else if (r != QN_ENOTFOUND) {
        unreadable(run, it->from, it->e.id, r, errno);
    }
    free(full);
    return r == QN_OK;
}

/* Give back a message's bytes once its mail is settled. */
static void drop_message(struct item *it)
{
    free(it->e.message);
    it->e.message = NULL;
}

static void deliver_message(struct run *run, struct item *it)
{
    const char *rcpt[QN_SPOOL_RCPT_MAX];
    struct qn_delivery d;
    struct failure f = {.reason = ""};
    struct qn_error err;
    enum delivered how;

    if (!load_message(run, it))
        return;
    if (must_wait(run, it->e.lane, &it, 1)) {
        drop_message(it);
        return;
    }
    memset(&d, 0, sizeof(d));
    d.message = it->e.message;
    d.message_len = it->e.message_len;
    d.rcpt = rcpt;
    d.n_rcpt = it->e.n_rcpt;
    for (size_t i = 0; i < it->e.n_rcpt; i++)
        rcpt[i] = it->e.rcpt[i];
    how = deliver(run, &d, &err, &f);
    if (how == DELIVERED) {
        run->sum->mails++;
        run->sum->messages++;
    }
    settle(run, &it, 1, how, false, &f);
    drop_message(it);
}

/* One event's mail, enriched (triage.h) on a copy. */
static enum qn_status render_alone(struct run *run, const struct qn_spool_entry *e,
                                   struct qn_rendered *out)
{
    struct qn_event *copy = malloc(sizeof(*copy));
    enum qn_status r;

    if (copy == NULL)
        return QN_ENOMEM;
    if (qn_triage_enrich(run->triage, e, copy) != QN_OK)
        *copy = e->event;
    r = qn_render_event(copy, run->cfg->language, out);
    free(copy);
    return r;
}

/*
 * A content filter refused the alert (QQ's 550 "inappropriate words or content", 163's
 * "554 DT:SPM": the diagnosis content-spam): sent once more as a minimal alert (minimal.h:
 * plain text, no links, source addresses masked), which such filters let through.  A
 * transport that does this itself, route by route (the failover), is left to it.
 */
static enum delivered resend_minimal(struct run *run, const struct qn_delivery *d,
                                     struct qn_error *err, struct failure *f)
{
    const struct qn_diagnosis *diag = qn_diag_lookup(run->provider, err);
    struct qn_rendered minimal;
    struct qn_delivery md = *d;
    struct qn_qmgr_notice n = {.kind = QN_QMGR_MINIMAL, .reason = run->opt->transport.name};
    enum delivered how;

    if (run->opt->transport.resends_minimal || d->alert == NULL || diag == NULL ||
        strcmp(diag->id, QN_DIAG_CONTENT_ID) != 0 || qn_minimal_render(d->alert, &minimal) != QN_OK)
        return REFUSED;
    md.alert = &minimal;
    how = deliver(run, &md, err, f);
    qn_rendered_free(&minimal);
    n.count = how == DELIVERED;
    notice(run, &n);
    return how;
}

/* Deliver N events (ITEMS) of LANE as one mail: the event itself when N is 1 and DIGEST is
 * false, a digest otherwise.  A mail of the user lane says so (qmgr.h). */
static void deliver_events(struct run *run, enum qn_lane lane, struct item **items, size_t n,
                           bool digest)
{
    const struct qn_event *evs[QN_RENDER_DIGEST_MAX_EVENTS];
    const struct qn_spool_entry *es[QN_RENDER_DIGEST_MAX_EVENTS];
    char from_name[QN_LANES_MARK_MAX];
    struct qn_rendered rendered;
    struct qn_delivery d = {.alert = &rendered, .n_events = n, .events = evs};
    struct failure f = {.reason = ""};
    struct qn_error err;
    enum delivered how;
    enum qn_status r;

    if (must_wait(run, lane, items, n))
        return;
    memset(&rendered, 0, sizeof(rendered));
    for (size_t i = 0; i < n; i++) {
        evs[i] = &items[i]->e.event;
        es[i] = &items[i]->e;
    }
    if (digest)
        r = qn_render_digest(evs, n, run->cfg->language, &rendered);
    else
        r = render_alone(run, &items[0]->e, &rendered);
    if (r == QN_OK && lane == QN_LANE_USER) {
        r = qn_lanes_mark_user_mail(run->cfg->language, es, n, digest, &rendered, from_name,
                                    sizeof(from_name));
        if (from_name[0] != '\0')
            d.from_name = from_name;
    }
    if (r != QN_OK) {
        /* A local failure (memory): keep the events for the next run. */
        format(f.reason, sizeof(f.reason), "cannot build the mail: %s", qn_strerror(r));
        how = NOT_BUILT;
    } else {
        how = deliver(run, &d, &err, &f);
        if (how == REFUSED)
            how = resend_minimal(run, &d, &err, &f);
    }
    if (how == DELIVERED) {
        run->sum->mails++;
        run->sum->events += n;
        if (digest)
            run->sum->digests++;
        qn_lanes_record(run->lanes, lane, n, now_s(run));
    }
    settle(run, items, n, how, digest, &f);
    qn_rendered_free(&rendered);
}

/*
 * A login as root, from the PAM module: never held for a burst nor folded into a digest.
 * The logins' lane also carries what any local user can cause (a refused `su root`, `su`
 * to herself): a few of those must not make the one login that matters wait a window.
 */
static bool never_waits(const struct item *it)
{
    return it->e.origin == QN_ORIGIN_SYSTEM && it->e.lane == QN_LANE_LOGIN &&
           qn_severity_class_of(&it->e.event) == QN_SEVCLASS_ROOT_LOGIN;
}

/* The triage of the N events EVS of a lane (triage.h), in their order: silenced and known
 * ones are removed and counted, quiet ones held until the hours end; those that waited
 * through quiet hours go into *QUIET (*N_QUIET), the rest stay in EVS.  Returns how many
 * stayed. */
static size_t triage_batch(struct run *run, struct item **evs, size_t n, struct item **quiet,
                           size_t *n_quiet)
{
    size_t kept = 0;

    *n_quiet = 0;
    for (size_t i = 0; i < n; i++) {
        struct qn_triage_decision d;
        char why[QN_SPOOL_ERROR_MAX];
        struct tm tm;
        time_t until;
        char when[32] = "?";

        qn_triage_judge(run->triage, &evs[i]->e, run->now, &d);
        switch (d.verdict) {
        case QN_TRIAGE_SILENCED:
        case QN_TRIAGE_KNOWN:
            drop_unmailed(run, evs[i], &d);
            break;
        case QN_TRIAGE_QUIET:
            until = (time_t)d.until;
            if (localtime_r(&until, &tm) != NULL)
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
            format(why, sizeof(why), QN_TRIAGE_QUIET_REASON " ([quiet] hours): held until %s",
                   when);
            run->sum->quiet++;
            hold(run, evs[i], d.until, why);
            break;
        case QN_TRIAGE_MAIL:
            if (d.after_quiet)
                quiet[(*n_quiet)++] = evs[i];
            else
                evs[kept++] = evs[i];
            break;
        }
    }
    return kept;
}

/* The events of one lane in one pass, after their triage: those that waited through quiet
 * hours as one digest; the others alone while the limits allow and no burst is on in that
 * lane, otherwise held until their burst is digest_window old, then digested. */
static void deliver_event_batch(struct run *run, enum qn_lane lane, struct item **evs, size_t n)
{
    const struct qn_ratelimit_config *lim = run->limits;
    struct item **quiet;
    size_t n_quiet = 0, kept;
    long long next;

    if (n == 0)
        return;
    quiet = malloc(sizeof(*quiet) * n);
    if (quiet == NULL) {
        /* Memory: every event waits for the next run, untouched. */
        struct failure f = {.reason = "cannot triage the events: out of memory"};

        for (size_t i = 0; i < n; i++)
            defer_backoff(run, evs[i], &f, i, n);
        return;
    }
    n = triage_batch(run, evs, n, quiet, &n_quiet);
    for (size_t i = 0; i < n_quiet; i += QN_RENDER_DIGEST_MAX_EVENTS) {
        size_t k =
            n_quiet - i < QN_RENDER_DIGEST_MAX_EVENTS ? n_quiet - i : QN_RENDER_DIGEST_MAX_EVENTS;

        deliver_events(run, lane, &quiet[i], k, k > 1);
    }
    free(quiet);
    /* After the triage (a silence holds for root too): logins as root go alone, now. */
    kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (never_waits(evs[i]))
            deliver_events(run, lane, &evs[i], 1, false);
        else
            evs[kept++] = evs[i];
    }
    n = kept;
    if (n == 0)
        return;
    if (!qn_lanes_should_digest(run->lanes, lane, &run->quota->view, lim, n, run->now)) {
        for (size_t i = 0; i < n; i++)
            deliver_events(run, lane, &evs[i], 1, false);
        return;
    }
    /* A burst: wait for it to end unless the oldest event has waited a whole
     * window (then it goes out now, with everything that came after it). */
    if (!run->stop && may_send(run, lane, &next) && lim->digest_window_s > 0) {
        long long oldest = evs[0]->e.queued;

        for (size_t i = 1; i < n; i++)
            if (evs[i]->e.queued < oldest)
                oldest = evs[i]->e.queued;
        if (oldest + (long long)lim->digest_window_s > run->now) {
            for (size_t i = 0; i < n; i++)
                hold(run, evs[i], oldest + (long long)lim->digest_window_s,
                     "part of a burst: merged into one digest at the end of digest_window");
            return;
        }
    }
    for (size_t i = 0; i < n; i += QN_RENDER_DIGEST_MAX_EVENTS) {
        size_t k = n - i < QN_RENDER_DIGEST_MAX_EVENTS ? n - i : QN_RENDER_DIGEST_MAX_EVENTS;

        deliver_events(run, lane, &evs[i], k, true);
    }
}

/* IT outlived max_age: fail it with its last error. */
static void expire(struct run *run, struct item *it)
{
    char reason[QN_SPOOL_ERROR_MAX];
    struct qn_qmgr_entry r = {
        .outcome = QN_QMGR_EXPIRED, .reason = reason, .diagnosis = it->e.diagnosis};

    if (!load_message(run, it))
        return;
    format(reason, sizeof(reason),
           "not delivered within max_age (%u s) after %u attempts; last error: %s",
           run->cfg->max_age_s, it->e.attempts, it->e.last_error[0] ? it->e.last_error : "none");
    r.moved = qn_spool_fail(run->sp, it->from, &it->e, reason, it->e.diagnosis) == QN_OK;
    if (r.moved)
        run->sum->expired++;
    attention(run, QN_QMGR_ATTN_EXPIRED);
    report(run, it, &r);
    drop_message(it);
}

/* A journal alert past its rule's cap (only when it first comes from new/): counted, then
 * removed (qmgr.h).  True when it was. */
static bool capped(struct run *run, struct item *it)
{
    char key[QN_LANES_KEY_MAX];
    struct qn_qmgr_entry r = {.outcome = QN_QMGR_CAPPED, .moved = true};
    enum qn_status s;

    if (it->from != QN_SPOOL_NEW || it->e.type != QN_SPOOL_EVENT ||
        it->e.origin != QN_ORIGIN_SYSTEM || it->e.lane != QN_LANE_JOURNAL ||
        strcmp(it->e.event.kind, "journal") != 0)
        return false;
    qn_lanes_rule_key(qn_event_get(&it->e.event, "rule"), key);
    if (qn_lanes_admit(run->lanes, QN_LANE_JOURNAL, key, run->cfg->queue.rule_max,
                       run->cfg->queue.cap_window_s, run->now) != QN_LANES_OVER)
        return false;
    s = qn_spool_remove(run->sp, it->from, it->e.id);
    if (s != QN_OK && s != QN_ENOTFOUND) {
        r.moved = false;
        stuck(run, it, &r, s, errno);
        return true;
    }
    run->sum->capped++;
    report(run, it, &r);
    return true;
}

/* Whom an entry in the queues may come from: root (the PAM module) or the sender's own user
 * (the journal watcher, the pickup, the sender's rewrites). */
static bool trusted_owner(unsigned long long owner)
{
    return owner == 0 || owner == (unsigned long long)geteuid();
}

/* Load the PLAN's picks into ITEMS (at most the run's pass_max); the bad ones are
 * quarantined or left.  Returns how many were loaded. */
static size_t load_pass(struct run *run, const struct qn_pass_plan *plan, struct item *items)
{
    size_t n_items = 0;

    for (size_t i = 0; i < plan->n_bad; i++) {
        const struct qn_pass_bad *b = &plan->bad[i];

        if (b->status == QN_EINVAL || b->status == QN_ETOOBIG)
            quarantine(run, b->from, b->id, b->status, NULL);
        else
            unreadable(run, b->from, b->id, b->status, b->sys_errno);
    }
    for (size_t i = 0; i < plan->n_picks && n_items < run->pass_max; i++) {
        const struct qn_pass_pick *p = &plan->picks[i];
        struct item *it = &items[n_items];
        enum qn_status r;

        qn_spool_entry_clear(&it->e);
        it->from = p->from;
        r = qn_spool_load_head(run->sp, p->from, p->head.id, run->entry_bound, &it->e);
        if (r == QN_ENOTFOUND)
            continue;
        if (r == QN_EINVAL || r == QN_ETOOBIG) {
            quarantine(run, p->from, p->head.id, r, NULL);
            continue;
        }
        if (r != QN_OK) {
            unreadable(run, p->from, p->head.id, r, errno);
            continue;
        }
        if (!trusted_owner(it->e.owner)) {
            char why[128];

            format(why, sizeof(why),
                   "written by uid %llu, which is neither root nor the spool's user: not trusted",
                   it->e.owner);
            quarantine(run, p->from, p->head.id, QN_EPERM, why);
            qn_spool_entry_clear(&it->e);
            continue;
        }
        if (p->from == QN_SPOOL_DEFERRED && it->e.next_try > run->now) {
            qn_spool_entry_clear(&it->e);
            continue;
        }
        if (run->cfg->max_age_s > 0 && it->e.queued + (long long)run->cfg->max_age_s < run->now) {
            expire(run, it);
            qn_spool_entry_clear(&it->e);
            continue;
        }
        if (capped(run, it)) {
            qn_spool_entry_clear(&it->e);
            continue;
        }
        n_items++;
    }
    return n_items;
}

static void commit_state(struct run *run)
{
    enum qn_status r = qn_quota_commit(run->quota, run->sp, now_s(run));

    qn_triage_commit(run->triage, now_s(run));
    if (r != QN_OK) {
        struct qn_qmgr_notice n = {.kind = QN_QMGR_STATE_NOT_SAVED,
                                   .status = r,
                                   .sys_errno = errno,
                                   .state = QN_QUOTA_STATE_NAME};

        notice(run, &n);
    }
    r = qn_lanes_save(run->lanes, run->sp, now_s(run));
    if (r != QN_OK) {
        struct qn_qmgr_notice n = {.kind = QN_QMGR_STATE_NOT_SAVED,
                                   .status = r,
                                   .sys_errno = errno,
                                   .state = QN_LANES_STATE_NAME};

        notice(run, &n);
    }
}

static void on_refused(void *arg, const char *id, const struct qn_pickup_submitter *who,
                       const char *why)
{
    const struct run *run = arg;
    struct qn_qmgr_notice n = {
        .kind = QN_QMGR_REFUSED, .id = id, .uid = who->uid, .who = who->name, .reason = why};

    notice(run, &n);
}

/* Local users' submissions into new/, then the summaries of caps whose window ended. */
static void pick_up(struct run *run)
{
    struct qn_pickup_options po = {.cfg = run->cfg,
                                   .spool = run->sp,
                                   .lanes = run->lanes,
                                   .now = run->now,
                                   .rewrite = run->opt->rewrite,
                                   .on_refused = on_refused,
                                   .arg = run};
    struct qn_pickup_result res;
    struct qn_spool_entry *e;
    enum qn_lane lane;
    enum qn_status r;

    r = qn_pickup_run(&po, &res);
    if (r != QN_OK && r != QN_ENOTFOUND) {
        struct qn_qmgr_notice n = {.kind = QN_QMGR_PICKUP_FAILED, .status = r, .sys_errno = errno};

        notice(run, &n);
    }
    run->sum->picked_up += res.accepted;
    run->sum->capped += res.capped;
    run->sum->refused += res.refused;
    if (res.accepted + res.capped > 0) {
        struct qn_qmgr_notice n = {
            .kind = QN_QMGR_PICKED_UP, .count = res.accepted, .capped = res.capped};

        notice(run, &n);
    }
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return;
    while (qn_lanes_take_summary(run->lanes, run->now, run->cfg, &e->event, &lane)) {
        e->type = QN_SPOOL_EVENT;
        e->origin = QN_ORIGIN_SYSTEM;
        e->uid = (unsigned long long)geteuid();
        e->lane = lane;
        e->queued = run->now;
        r = qn_spool_add(run->sp, e, run->entry_bound, NULL);
        if (r == QN_OK) {
            struct qn_qmgr_notice n = {.kind = QN_QMGR_SUMMARY_QUEUED, .reason = e->event.subject};

            run->sum->summaries++;
            notice(run, &n);
        } else {
            struct qn_qmgr_notice n = {.kind = QN_QMGR_STATE_NOT_SAVED,
                                       .status = r,
                                       .sys_errno = errno,
                                       .state = QN_LANES_STATE_NAME};

            notice(run, &n);
        }
        memset(e, 0, sizeof(*e));
    }
    free(e);
}

/* One pass: choose, load, deliver lane by lane, and pick up what users submitted: first
 * when no login or journal alert is due, else after them (for the next pass: a login
 * already in new/ never waits for a flood of submissions to be read).  Returns how many
 * were due. */
static size_t run_pass(struct run *run, struct item *items)
{
    struct qn_qmgr_notice pass = {.kind = QN_QMGR_PASS};
    struct qn_pass_plan plan;
    struct item **list = NULL;
    enum qn_status r;
    size_t n, due;
    bool picked = false;

    run->now = now_s(run);
    r = qn_pass_choose(run->sp, run->now, !run->stop, run->pass_max, run->entry_bound, &plan);
    if (r == QN_OK && (plan.n_picks == 0 || plan.picks[0].head.lane == QN_LANE_USER)) {
        /* No login or journal alert due: submissions join this pass (one digest, not two). */
        picked = true;
        pick_up(run);
        qn_pass_free(&plan);
        run->now = now_s(run);
        r = qn_pass_choose(run->sp, run->now, !run->stop, run->pass_max, run->entry_bound, &plan);
    }
    if (r != QN_OK) {
        struct qn_qmgr_notice ln = {.kind = QN_QMGR_LIST_FAILED, .status = r, .sys_errno = errno};

        notice(run, &ln);
    }
    due = plan.n_picks + plan.n_bad;
    n = load_pass(run, &plan, items);
    qn_pass_free(&plan);
    if (n > 0)
        list = malloc(sizeof(*list) * n);
    if (n > 0 && list != NULL) {
        pass.count = n;
        notice(run, &pass);
        /* The plan's order: lane, then age.  Each lane in turn: its messages, then events. */
        for (size_t i = 0; i < n;) {
            enum qn_lane lane = items[i].e.lane;
            size_t n_evs = 0;

            for (; i < n && items[i].e.lane == lane; i++) {
                struct item *it = &items[i];

                if (it->e.type == QN_SPOOL_MESSAGE)
                    deliver_message(run, it);
                else
                    list[n_evs++] = it;
            }
            deliver_event_batch(run, lane, list, n_evs);
        }
    }
    for (size_t i = 0; i < n; i++)
        qn_spool_entry_clear(&items[i].e);
    free(list);
    /* Even after a stop: reading maildrop/ needs no server, and the next pass
     * defers what it picked up like the rest of new/. */
    if (!picked) {
        run->now = now_s(run);
        pick_up(run);
    }
    commit_state(run);
    return due;
}

/* Entries that left their place (the pass loop ends when a pass moves none). */
static size_t moved(const struct qn_qmgr_summary *s)
{
    return s->mails + s->events + s->deferred + s->held + s->failed + s->expired + s->quarantined +
           s->capped + s->picked_up + s->refused + s->summaries + s->silenced + s->known;
}

/* Work left for another round: new/ not empty, or submissions in maildrop/. */
static bool work_waiting(struct qn_spool *sp)
{
    static const enum qn_spool_queue queues[] = {QN_SPOOL_NEW, QN_SPOOL_MAILDROP};
    char id[1][QN_SPOOL_ID_MAX];

    for (size_t i = 0; i < sizeof(queues) / sizeof(queues[0]); i++) {
        size_t n = 0;

        if (qn_spool_list(sp, queues[i], id, 1, &n, NULL) == QN_OK && n > 0)
            return true;
    }
    return false;
}

/* A less-noise state that could not be read (taken as empty) or saved (triage.h). */
static void on_triage_state(void *arg, const char *state, bool writing, enum qn_status status,
                            int sys_errno, const char *detail)
{
    const struct run *run = arg;
    struct qn_qmgr_notice n = {.kind = writing ? QN_QMGR_STATE_NOT_SAVED : QN_QMGR_STATE_UNREADABLE,
                               .status = status,
                               .sys_errno = sys_errno,
                               .state = state,
                               .reason = detail};

    notice(run, &n);
}

/* The first round's start: the limiter's view, the lanes, the less-noise state, producers'
 * leftovers. */
static void start(struct run *run)
{
    long long now = now_s(run);
    enum qn_status r = qn_quota_load(run->quota, run->sp, now);

    if (r != QN_OK && r != QN_ENOTFOUND) {
        struct qn_qmgr_notice n = {.kind = QN_QMGR_STATE_UNREADABLE,
                                   .status = r,
                                   .sys_errno = errno,
                                   .state = QN_QUOTA_STATE_NAME};

        notice(run, &n);
    }
    r = qn_lanes_load(run->lanes, run->sp, now);
    if (r != QN_OK && r != QN_ENOTFOUND) {
        struct qn_qmgr_notice n = {.kind = QN_QMGR_STATE_UNREADABLE,
                                   .status = r,
                                   .sys_errno = errno,
                                   .state = QN_LANES_STATE_NAME};

        notice(run, &n);
    }
    r = qn_triage_open(run->cfg, run->sp, now, on_triage_state, run, &run->triage);
    if (r != QN_OK) {
        /* Without it every event is mailed: nothing is silenced that should not be. */
        on_triage_state(run, QN_SILENCE_STATE_NAME, false, r, errno, NULL);
        run->triage = NULL;
    }
    qn_spool_clean_tmp(run->sp, 0, NULL);
}

/* The passes of one round, with the lock held. */
static void work(struct run *run, struct item *items, unsigned passes_max)
{
    /* Each pass moves every entry it loaded; one that moves nothing
     * (entries that cannot be moved) ends the round. */
    for (unsigned pass = 0; pass < passes_max; pass++) {
        size_t before = moved(run->sum), stuck_before = run->sum->stuck;

        if (run_pass(run, items) == 0 && moved(run->sum) == before)
            break;
        if (moved(run->sum) == before || run->sum->stuck != stuck_before)
            break;
    }
}

/* What still waits after the run: counted once more, without moving anything. */
static void census(struct run *run)
{
    struct qn_pass_plan plan;

    if (qn_pass_choose(run->sp, now_s(run), true, 0, run->entry_bound, &plan) == QN_OK) {
        run->sum->waiting = plan.due + plan.waiting;
        run->sum->oldest_waiting = plan.oldest_waiting;
    }
    qn_pass_free(&plan);
}

/* Rounds: take the lock, work, release it, and again while new/ or maildrop/ filled up
 * meanwhile.  QN_EIO when the lock could not be taken. */
static enum qn_status rounds(struct run *run, struct item *items, unsigned passes_max)
{
    bool locked = false;

    for (int round = 0; round < QN_QMGR_RELOCK_MAX; round++) {
        if (qn_spool_lock(run->sp, &locked) != QN_OK) {
            struct qn_qmgr_notice n = {
                .kind = QN_QMGR_LOCK_FAILED, .status = QN_EIO, .sys_errno = errno};

            notice(run, &n);
            return QN_EIO;
        }
        if (!locked) {
            /* Another sender runs; it looks at new/ again before it ends. */
            struct qn_qmgr_notice n = {.kind = QN_QMGR_BUSY};

            if (round == 0)
                notice(run, &n);
            return QN_OK;
        }
        if (round == 0)
            start(run);
        work(run, items, passes_max);
        close_session(run);
        census(run);
        qn_spool_unlock(run->sp);
        /* An entry spooled after the last pass listed new/ and before the
         * unlock would otherwise wait for the next trigger. */
        if (!work_waiting(run->sp) || run->stop)
            break;
    }
    return QN_OK;
}

enum qn_status qn_qmgr_run(const struct qn_qmgr_options *opt, struct qn_qmgr_summary *ret_summary)
{
    struct run run = {.opt = opt};
    struct item *items = NULL;
    enum qn_status r = QN_ENOMEM;

    if (ret_summary == NULL)
        return QN_EINVAL;
    memset(ret_summary, 0, sizeof(*ret_summary));
    if (opt == NULL || opt->cfg == NULL || opt->spool == NULL || opt->transport.open == NULL ||
        opt->transport.deliver == NULL)
        return QN_EINVAL;
    run.cfg = opt->cfg;
    run.provider = opt->transport.provider != NULL ? opt->transport.provider : opt->cfg->provider;
    run.limits = opt->transport.limits != NULL ? opt->transport.limits : &opt->cfg->limits;
    run.sp = opt->spool;
    run.sum = ret_summary;
    run.pass_max = opt->pass_max ? opt->pass_max : QN_QMGR_PASS_MAX;
    run.entry_bound =
        (opt->cfg->max_entry_size ? opt->cfg->max_entry_size : QN_SPOOL_DEFAULT_MAX_ENTRY) +
        QN_SPOOL_HEADER_MAX;
    run.quota = malloc(sizeof(*run.quota));
    run.lanes = malloc(sizeof(*run.lanes));
    items = calloc(run.pass_max, sizeof(*items));
    if (run.quota != NULL && run.lanes != NULL && items != NULL) {
        qn_quota_init(run.quota);
        qn_lanes_init(run.lanes);
        if (opt->transport.state != NULL)
            qn_quota_set_state(run.quota, opt->transport.state);
        r = rounds(&run, items, opt->passes_max ? opt->passes_max : QN_QMGR_PASSES_MAX);
    }
    close_session(&run);
    qn_spool_unlock(run.sp);
    if (items != NULL) {
        for (size_t i = 0; i < run.pass_max; i++)
            qn_spool_entry_clear(&items[i].e);
        free(items);
    }
    qn_triage_close(run.triage);
    free(run.lanes);
    free(run.quota);
    return r;
}
