/*
 * failover — several routes as one transport: see failover.h.
 *
 * deliver() walks the routes: the critical ones first for a login alert,
 * then [notify] routes in order.  Each attempt (attempt()) opens the route
 * when needed, sends, and on a failure resends a minimal alert once after
 * a content refusal, then records the failure in the routes' record and
 * says whether the next route is to be tried.
 */
#include "failover.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "minimal.h"
#include "quota.h"
#include "ratelimit.h"

struct route_state {
    struct qn_failover_route r;
    const struct qn_ratelimit_config *limits;
    struct qn_quota *quota; /* its limiter; NULL when it could not be allocated */
    bool open;
};

struct qn_failover {
    struct qn_failover_options opt;
    size_t n;
    struct route_state route[QN_ROUTES_MAX];
    struct qn_ratelimit_config events_limits; /* the queue manager's: digests only */
};

enum attempt {
    ACCEPTED,
    NOT_BUILT, /* the alert could not be formatted: no route would do better */
    WAIT,      /* a temporary failure of a route still healthy: the entry waits for it */
    NEXT,      /* the route failed for this message: the next one */
};

static long long now_s(const struct qn_failover *fo)
{
    return fo->opt.clock != NULL ? fo->opt.clock(fo->opt.arg) : (long long)time(NULL);
}

static void event(const struct qn_failover *fo, const struct route_state *rs,
                  enum qn_failover_event_kind kind, const struct qn_error *err, bool flag)
{
    struct qn_failover_event ev = {.kind = kind,
                                   .route = rs != NULL ? rs->r.t.name : NULL,
                                   .provider = rs != NULL ? rs->r.t.provider : NULL,
                                   .err = err,
                                   .unhealthy = flag,
                                   .ok = flag};

    if (fo->opt.on_event != NULL)
        fo->opt.on_event(fo->opt.arg, &ev);
}

bool qn_failover_is_critical(const struct qn_event *const *events, size_t n)
{
    for (size_t i = 0; events != NULL && i < n; i++) {
        if (strcmp(events[i]->kind, "login") == 0)
            return true;
    }
    return false;
}

/* ---- limits and health ------------------------------------------------------------------ */

/* May RS send at NOW?  When not, *RET_NEXT is when it may. */
static bool may_send(const struct qn_failover *fo, const struct route_state *rs, long long now,
                     long long *ret_next)
{
    const struct qn_route_health *h = qn_health_find(fo->opt.health, rs->r.t.name);
    long long next = now;
    bool ok = true;

    if (!qn_health_usable(fo->opt.health, rs->r.t.name, now)) {
        next = h->retry_at;
        ok = false;
    }
    if (rs->quota != NULL) {
        long long free_at = now;

        if (qn_ratelimit_available(&rs->quota->view, rs->limits, now, &free_at) == 0) {
            ok = false;
            if (free_at > next)
                next = free_at;
        }
    }
    *ret_next = next;
    return ok;
}

static unsigned available(void *ctx, long long now, long long *ret_next)
{
    struct qn_failover *fo = ctx;
    long long best = 0, next;

    for (size_t i = 0; i < fo->n; i++) {
        if (may_send(fo, &fo->route[i], now, &next)) {
            *ret_next = now;
            return 1;
        }
        if (best == 0 || next < best)
            best = next;
    }
    *ret_next = best > now ? best : now + 1;
    return 0;
}

/* ---- the note on the next route --------------------------------------------------------- */

static void local_time(long long t, char *out, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (localtime_r(&tt, &tm) == NULL || strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(out, n, "%lld", t);
}

/* The note for the routes before LIMIT that are unhealthy and not told yet,
 * into OUT (N bytes; "" when none).  *RET_WHO marks them. */
static void incident_note(const struct qn_failover *fo, size_t limit, char *out, size_t n,
                          bool *ret_who)
{
    size_t len = 0;

    out[0] = '\0';
    for (size_t i = 0; i < limit; i++) {
        const struct route_state *rs = &fo->route[i];
        const struct qn_route_health *h = qn_health_find(fo->opt.health, rs->r.t.name);
        char since[32];
        int w;

        ret_who[i] = false;
        if (!rs->r.ordered || h == NULL || h->down_since == 0 || h->told)
            continue;
        local_time(h->down_since, since, sizeof(since));
        if (fo->opt.cfg->language == QN_LANG_EN)
            w = snprintf(out + len, n - len,
                         "Route %s has been failing since %s; alerts go through other routes "
                         "until it answers again: %s (diagnosis: %s)\n",
                         rs->r.t.name, since, h->reason, h->diagnosis[0] ? h->diagnosis : "-");
        else
            w = snprintf(out + len, n - len,
                         "线路 %s 自 %s 起发送失败，恢复前告警改走其他线路：%s（诊断：%s）\n",
                         rs->r.t.name, since, h->reason, h->diagnosis[0] ? h->diagnosis : "-");
        if (w < 0 || (size_t)w >= n - len) {
            out[len] = '\0';
            break;
        }
        len += (size_t)w;
        ret_who[i] = true;
    }
}

/* IN with NOTE before its text (and in its html, right after <body...>) into *OUT. */
static enum qn_status with_note(const struct qn_rendered *in, const char *note,
                                struct qn_rendered *out)
{
    const char *html = in->html.data, *body = html != NULL ? strstr(html, "<body") : NULL;
    const char *after = body != NULL ? strchr(body, '>') : NULL;
    enum qn_status r;

    memset(out, 0, sizeof(*out));
    qn_buf_init(&out->subject, QN_RENDER_SUBJECT_MAX - 1);
    qn_buf_init(&out->text, QN_RENDER_BODY_MAX + QN_FAILOVER_NOTE_MAX);
    qn_buf_init(&out->html, QN_RENDER_BODY_MAX + 8 * QN_FAILOVER_NOTE_MAX);
    r = qn_buf_append(&out->subject, in->subject.data ? in->subject.data : "", in->subject.len);
    if (r == QN_OK)
        r = qn_buf_printf(&out->text, "%s\n", note);
    if (r == QN_OK)
        r = qn_buf_append(&out->text, in->text.data ? in->text.data : "", in->text.len);
    if (r == QN_OK && after != NULL) {
        r = qn_buf_append(&out->html, html, (size_t)(after + 1 - html));
        if (r == QN_OK)
            r = qn_buf_puts(&out->html, "<p style=\"color:#b00\">");
        if (r == QN_OK)
            r = qn_render_html_escape(&out->html, note);
        if (r == QN_OK)
            r = qn_buf_puts(&out->html, "</p>");
        if (r == QN_OK)
            r = qn_buf_puts(&out->html, after + 1);
    }
    if (r != QN_OK)
        qn_rendered_free(out);
    return r;
}

/* ---- one route -------------------------------------------------------------------------- */

static void close_route(struct route_state *rs)
{
    if (rs->open && rs->r.t.close != NULL)
        rs->r.t.close(rs->r.t.ctx);
    rs->open = false;
}

static void reason_of(const struct qn_failover *fo, const struct qn_error *err, char *out, size_t n)
{
    char line[QN_ERROR_TEXT_MAX + QN_ERROR_DETAIL_MAX + 128];

    if (fo->opt.describe != NULL)
        fo->opt.describe(fo->opt.arg, err, line, sizeof(line));
    else
        snprintf(line, sizeof(line), "%s", qn_strerror(err->status));
    /* Cut to fit: the record keeps QN_HEALTH_REASON_MAX bytes of it. */
    int cut = (int)(n > 32 ? n - 32 : 0);

    snprintf(out, n, "%s: %.*s", qn_stage_name(err->stage), cut, line);
}

/* Open RS and send D.  QN_OK or the failure in *ERR. */
static enum qn_status send_on(struct route_state *rs, const struct qn_delivery *d,
                              struct qn_error *err)
{
    qn_error_clear(err);
    if (!rs->open) {
        if (rs->r.t.open(rs->r.t.ctx, err) != QN_OK)
            return err->status != QN_OK ? err->status : QN_EIO;
        rs->open = true;
    }
    return rs->r.t.deliver(rs->r.t.ctx, d, err);
}

/* The route failed with ERR (diagnosis D): its limiter, its record, the report. */
static enum attempt route_failed(struct qn_failover *fo, struct route_state *rs,
                                 const struct qn_error *err, const struct qn_diagnosis *d,
                                 long long now)
{
    enum qn_health_failure kind = qn_health_kind(err, d);
    char reason[QN_HEALTH_REASON_MAX];
    long long retry_at = now + (fo->opt.cfg->retry_min_s ? fo->opt.cfg->retry_min_s : 60);
    const struct qn_route_health *h = qn_health_find(fo->opt.health, rs->r.t.name);
    bool down;

    if (h != NULL && h->down_since != 0) {
        /* Tried again and failed again: wait twice as long, up to retry_max. */
        long long wait = 2 * (now - h->down_since);
        long long cap = fo->opt.cfg->retry_max_s ? fo->opt.cfg->retry_max_s : 3600;

        if (wait > cap)
            wait = cap;
        if (now + wait > retry_at)
            retry_at = now + wait;
    }
    if (d != NULL && d->rate_limited && rs->quota != NULL) {
        long long until = now;

        qn_quota_penalize(rs->quota, now);
        (void)qn_ratelimit_available(&rs->quota->view, rs->limits, now, &until);
        if (until > retry_at)
            retry_at = until;
    }
    reason_of(fo, err, reason, sizeof(reason));
    down = qn_health_fail(fo->opt.health, rs->r.t.name, kind, d != NULL ? d->id : "", reason,
                          fo->opt.cfg->routes.failover_after_s, retry_at, now);
    event(fo, rs, QN_FAILOVER_FAILED, err, down);
    /* A reply to this message leaves the session usable; anything else does not. */
    if (!(err->stage >= QN_STAGE_MAIL && err->stage <= QN_STAGE_DATA))
        close_route(rs);
    return qn_health_usable(fo->opt.health, rs->r.t.name, now) &&
                   qn_health_find(fo->opt.health, rs->r.t.name)->down_since == 0
               ? WAIT
               : NEXT;
}

static void route_ok(struct qn_failover *fo, struct route_state *rs, long long now)
{
    if (rs->quota != NULL)
        qn_quota_record_sent(rs->quota, now);
    if (qn_health_ok(fo->opt.health, rs->r.t.name, 1, now))
        event(fo, rs, QN_FAILOVER_RECOVERED, NULL, true);
}

/* Try D on RS (a minimal resend after a content refusal).  *ERR: the last failure. */
static enum attempt attempt(struct qn_failover *fo, struct route_state *rs,
                            const struct qn_delivery *d, struct qn_error *err)
{
    const struct qn_diagnosis *diag;
    long long now;

    if (send_on(rs, d, err) == QN_OK) {
        route_ok(fo, rs, now_s(fo));
        return ACCEPTED;
    }
    if (err->stage == QN_STAGE_LOCAL)
        return NOT_BUILT;
    diag = qn_diag_lookup(rs->r.t.provider != NULL ? rs->r.t.provider : fo->opt.cfg->provider, err);
    if (d->alert != NULL && diag != NULL && strcmp(diag->id, QN_DIAG_CONTENT_ID) == 0) {
        struct qn_rendered minimal;
        struct qn_delivery md = *d;
        struct qn_error first = *err;
        enum qn_status r;

        event(fo, rs, QN_FAILOVER_FAILED, &first, false);
        if (qn_minimal_render(d->alert, &minimal) == QN_OK) {
            md.alert = &minimal;
            r = send_on(rs, &md, err);
            qn_rendered_free(&minimal);
            event(fo, rs, QN_FAILOVER_MINIMAL, r == QN_OK ? NULL : err, r == QN_OK);
            if (r == QN_OK) {
                route_ok(fo, rs, now_s(fo));
                return ACCEPTED;
            }
            diag = qn_diag_lookup(
                rs->r.t.provider != NULL ? rs->r.t.provider : fo->opt.cfg->provider, err);
        }
    }
    now = now_s(fo);
    return route_failed(fo, rs, err, diag, now);
}

/* ---- the transport ---------------------------------------------------------------------- */

static enum qn_status fo_open(void *ctx, struct qn_error *err)
{
    (void)ctx;
    qn_error_clear(err);
    return QN_OK;
}

/* Mark the incidents WHO as told. */
static void told(struct qn_failover *fo, const bool *who, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct qn_route_health *h =
            who[i] ? qn_health_route(fo->opt.health, fo->route[i].r.t.name) : NULL;

        if (h != NULL)
            h->told = true;
    }
}

/* Send D on RS with the note of the incidents before it (an alert only). */
static enum attempt attempt_noted(struct qn_failover *fo, size_t i, const struct qn_delivery *d,
                                  struct qn_error *err)
{
    char note[QN_FAILOVER_NOTE_MAX];
    bool who[QN_ROUTES_MAX];
    struct qn_rendered noted;
    struct qn_delivery nd = *d;
    enum attempt a;

    incident_note(fo, i, note, sizeof(note), who);
    if (d->alert == NULL || note[0] == '\0')
        return attempt(fo, &fo->route[i], d, err);
    if (with_note(d->alert, note, &noted) != QN_OK)
        return attempt(fo, &fo->route[i], d, err);
    nd.alert = &noted;
    a = attempt(fo, &fo->route[i], &nd, err);
    qn_rendered_free(&noted);
    if (a == ACCEPTED)
        told(fo, who, i);
    return a;
}

/* Every route refused D for good: say so on the first route that takes it. */
static void tell_refusal(struct qn_failover *fo, const struct qn_delivery *d)
{
    struct qn_rendered notice;
    struct qn_delivery nd = {.alert = &notice, .n_events = 1};
    struct qn_error err;
    bool en = fo->opt.cfg->language == QN_LANG_EN;
    const char *subject = d->alert != NULL && d->alert->subject.data ? d->alert->subject.data : "";

    memset(&notice, 0, sizeof(notice));
    qn_buf_init(&notice.subject, QN_RENDER_SUBJECT_MAX - 1);
    qn_buf_init(&notice.text, QN_FAILOVER_NOTE_MAX * 2);
    if (qn_buf_puts(&notice.subject, en ? "[qqnotify] an alert was refused by every route"
                                        : "[qqnotify] 一条告警被所有线路拒收") != QN_OK ||
        qn_buf_puts(&notice.text,
                    en ? "Every route refused an alert for good; it is kept in the spool's "
                         "failed/ directory (qqnotify queue list). Its subject, addresses masked: "
                       : "所有线路都拒收了一条告警，它保存在队列的 failed/ 目录中（qqnotify queue "
                         "list）。告警标题（地址已部分隐藏）：") != QN_OK ||
        qn_minimal_text(subject, strlen(subject), &notice.text) != QN_OK) {
        qn_rendered_free(&notice);
        return;
    }
    for (size_t i = 0; i < fo->n; i++) {
        struct route_state *rs = &fo->route[i];
        long long next;

        if (!may_send(fo, rs, now_s(fo), &next))
            continue;
        if (send_on(rs, &nd, &err) == QN_OK) {
            route_ok(fo, rs, now_s(fo));
            event(fo, rs, QN_FAILOVER_REFUSED, NULL, true);
            qn_rendered_free(&notice);
            return;
        }
    }
    event(fo, NULL, QN_FAILOVER_REFUSED, NULL, false);
    qn_rendered_free(&notice);
}

/* A login alert: every critical route that may send, at once.  True when one accepted. */
static bool deliver_critical(struct qn_failover *fo, const struct qn_delivery *d)
{
    struct qn_error err;
    bool any = false;
    long long next;

    for (size_t i = 0; i < fo->n; i++) {
        if (fo->route[i].r.critical && may_send(fo, &fo->route[i], now_s(fo), &next))
            any = attempt(fo, &fo->route[i], d, &err) == ACCEPTED || any;
    }
    return any;
}

static enum qn_status fo_deliver(void *ctx, const struct qn_delivery *d, struct qn_error *err)
{
    struct qn_failover *fo = ctx;
    bool tried = false, all_refused = true;
    long long next;

    qn_error_clear(err);
    if (d->alert != NULL && qn_failover_is_critical(d->events, d->n_events) &&
        deliver_critical(fo, d))
        return QN_OK;
    for (size_t i = 0; i < fo->n; i++) {
        struct route_state *rs = &fo->route[i];
        enum attempt a;

        if (!rs->r.ordered)
            continue;
        if (!may_send(fo, rs, now_s(fo), &next)) {
            all_refused = false; /* it has not refused this alert: it may take it later */
            continue;
        }
        tried = true;
        a = attempt_noted(fo, i, d, err);
        if (a == ACCEPTED)
            return QN_OK;
        if (a == NOT_BUILT || a == WAIT)
            return err->status;
        all_refused = all_refused && err->verdict == QN_VERDICT_PERMANENT;
    }
    if (!tried)
        return qn_error_set(err, QN_ETEMPFAIL, QN_STAGE_CONFIG,
                            "no route may send now (each is unhealthy or at its limits)");
    if (all_refused) {
        /* Refused for good everywhere: the queue manager fails the entry. */
        tell_refusal(fo, d);
        err->stage = QN_STAGE_DATA;
        err->status = QN_EREJECT;
        err->verdict = QN_VERDICT_PERMANENT;
        return QN_EREJECT;
    }
    if (err->verdict == QN_VERDICT_PERMANENT && err->stage >= QN_STAGE_MAIL &&
        err->stage <= QN_STAGE_DATA) {
        /* This route refused it for good, another has not been asked: it waits. */
        err->verdict = QN_VERDICT_RETRY;
        err->status = QN_ETEMPFAIL;
    }
    return err->status;
}

static void commit_limits(struct qn_failover *fo)
{
    for (size_t i = 0; i < fo->n; i++) {
        if (fo->route[i].quota != NULL)
            (void)qn_quota_commit(fo->route[i].quota, fo->opt.spool, now_s(fo));
    }
}

static void fo_close(void *ctx)
{
    struct qn_failover *fo = ctx;

    for (size_t i = 0; i < fo->n; i++)
        close_route(&fo->route[i]);
    commit_limits(fo);
}

enum qn_status qn_failover_new(const struct qn_failover_options *opt, struct qn_failover **ret)
{
    struct qn_failover *fo;

    if (opt == NULL || opt->cfg == NULL || opt->spool == NULL || opt->health == NULL ||
        opt->n_routes == 0 || opt->n_routes > QN_ROUTES_MAX)
        return QN_EINVAL;
    fo = calloc(1, sizeof(*fo));
    if (fo == NULL)
        return QN_ENOMEM;
    fo->opt = *opt;
    fo->n = opt->n_routes;
    fo->events_limits = opt->cfg->limits;
    fo->events_limits.max_per_minute = 0;
    fo->events_limits.max_per_hour = 0;
    fo->events_limits.max_per_day = 0;
    fo->events_limits.block_s = 0;
    for (size_t i = 0; i < fo->n; i++) {
        struct route_state *rs = &fo->route[i];

        rs->r = opt->routes[i];
        rs->limits = rs->r.t.limits != NULL ? rs->r.t.limits : &opt->cfg->limits;
        rs->quota = malloc(sizeof(*rs->quota));
        if (rs->quota == NULL) {
            qn_failover_free(fo);
            return QN_ENOMEM;
        }
        qn_quota_init(rs->quota);
        if (rs->r.t.state != NULL)
            (void)qn_quota_set_state(rs->quota, rs->r.t.state);
        (void)qn_quota_load(rs->quota, opt->spool, now_s(fo)); /* none or damaged: empty */
    }
    *ret = fo;
    return QN_OK;
}

struct qn_failover *qn_failover_free(struct qn_failover *fo)
{
    if (fo == NULL)
        return NULL;
    for (size_t i = 0; i < fo->n; i++) {
        close_route(&fo->route[i]);
        free(fo->route[i].quota);
    }
    free(fo);
    return NULL;
}

struct qn_transport qn_failover_transport(struct qn_failover *fo)
{
    return (struct qn_transport){
        .name = "failover",
        .limits = &fo->events_limits,
        .state = QN_FAILOVER_STATE_NAME,
        .ctx = fo,
        .open = fo_open,
        .deliver = fo_deliver,
        .close = fo_close,
        .available = available,
        .resends_minimal = true,
    };
}
