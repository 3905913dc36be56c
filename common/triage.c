/*
 * triage — see triage.h for the decisions and their order.
 *
 * The seen table is the one state another program changes while the sender
 * runs (`qqnotify seen forget`): the logins this run recorded are kept as a
 * list and replayed onto a fresh read of state/seen at each commit, under
 * its lock, so a forget made meanwhile stays forgotten.  state/sessions is
 * the sender's alone (it holds flush.lock); state/tally is merged
 * (tally.h).
 */
#include "triage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "enrich.h"
#include "quiet.h"
#include "seen.h"
#include "sessions.h"

#define STATE_LOCK_MS 2000

/* A login to replay onto state/seen: the fields qn_seen_record reads. */
struct pending_login {
    char user[QN_SEEN_USER_MAX];
    char ip[QN_EVENT_VALUE_MAX];
    char rhost[QN_EVENT_VALUE_MAX];
    char key[QN_EVENT_VALUE_MAX];
    long long time;
};

struct qn_triage {
    const struct qn_config *cfg;
    struct qn_spool *sp;
    qn_triage_report_fn report;
    void *arg;

    struct qn_silences silences;
    struct qn_seen seen;
    struct qn_sessions sessions;
    struct qn_enrich *enrich; /* NULL when it could not be opened */
    bool sessions_changed;
    long long now; /* the latest time the queue manager gave */

    size_t n_pending;
    struct pending_login pending[QN_TRIAGE_PENDING_MAX];
    struct qn_tally counts;    /* not yet added to state/tally */
    struct qn_tally run_total; /* the whole run's */

    struct qn_event scratch; /* replaying a pending login */
};

static void report(const struct qn_triage *t, const char *state, bool writing, enum qn_status s,
                   int e, const char *detail)
{
    if (t->report != NULL)
        t->report(t->arg, state, writing, s, e, detail);
}

static long long remember_s(const struct qn_triage *t)
{
    return t->cfg->noise.remember_s > 0 ? (long long)t->cfg->noise.remember_s
                                        : QN_SEEN_REMEMBER_DEFAULT_S;
}

static bool from_system(const struct qn_spool_entry *e)
{
    return e->type == QN_SPOOL_EVENT && e->origin == QN_ORIGIN_SYSTEM;
}

static bool is_kind(const struct qn_spool_entry *e, const char *kind)
{
    return strcmp(e->event.kind, kind) == 0;
}

/* The GeoIP databases and reverse DNS; without the databases when one cannot be opened. */
static void open_enrich(struct qn_triage *t)
{
    const struct qn_noise_config *n = &t->cfg->noise;
    const char *paths[QN_NOISE_GEOIP_MAX];
    struct qn_enrich_options o = {.rdns = n->rdns, .lang = t->cfg->language};
    struct qn_enrich_error err;
    enum qn_status r;

    for (size_t i = 0; i < n->n_geoip && i < QN_NOISE_GEOIP_MAX; i++)
        paths[i] = n->geoip[i];
    o.n_geoip = n->n_geoip < QN_NOISE_GEOIP_MAX ? n->n_geoip : QN_NOISE_GEOIP_MAX;
    o.geoip = paths;
    memset(&err, 0, sizeof(err));
    r = qn_enrich_open(&o, &t->enrich, &err);
    if (r == QN_OK)
        return;
    if (o.n_geoip > 0) {
        char detail[sizeof(err.path) + sizeof(err.detail) + 4];

        snprintf(detail, sizeof(detail), "%s: %s", err.path, err.detail);
        report(t, "geoip", false, r, errno, detail);
        o.n_geoip = 0;
        if (qn_enrich_open(&o, &t->enrich, &err) == QN_OK)
            return;
    }
    t->enrich = NULL;
}

enum qn_status qn_triage_open(const struct qn_config *cfg, struct qn_spool *sp, long long now,
                              qn_triage_report_fn report_fn, void *arg, struct qn_triage **ret)
{
    struct qn_triage *t;
    enum qn_status r;

    if (cfg == NULL || sp == NULL || ret == NULL)
        return QN_EINVAL;
    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return QN_ENOMEM;
    t->cfg = cfg;
    t->sp = sp;
    t->report = report_fn;
    t->arg = arg;
    t->now = now;
    qn_tally_init(&t->counts, now);
    qn_tally_init(&t->run_total, now);
    r = qn_silences_read(sp, &t->silences);
    if (r != QN_OK && r != QN_ENOTFOUND) {
        report(t, QN_SILENCE_STATE_NAME, false, r, errno, NULL);
        qn_silences_init(&t->silences);
    }
    r = qn_seen_read(sp, &t->seen, now);
    if (r != QN_OK && r != QN_ENOTFOUND) {
        report(t, QN_SEEN_STATE_NAME, false, r, errno, NULL);
        qn_seen_init(&t->seen);
    }
    r = qn_sessions_read(sp, &t->sessions, now);
    if (r != QN_OK && r != QN_ENOTFOUND) {
        report(t, QN_SESSIONS_STATE_NAME, false, r, errno, NULL);
        qn_sessions_init(&t->sessions);
    }
    qn_sessions_prune(&t->sessions, now);
    open_enrich(t);
    *ret = t;
    return QN_OK;
}

void qn_triage_close(struct qn_triage *t)
{
    if (t == NULL)
        return;
    qn_enrich_close(t->enrich);
    free(t);
}

/* Step 2 of triage.h: a session's ends. */
static void track_session(struct qn_triage *t, struct qn_spool_entry *e)
{
    long long duration;
    char text[24];

    if (!from_system(e) || qn_event_get(&e->event, "session") == NULL)
        return;
    if (is_kind(e, "login")) {
        if (qn_sessions_open(&t->sessions, &e->event) == QN_OK)
            t->sessions_changed = true;
        return;
    }
    /* A logout that waited keeps the duration found the first time. */
    if (!is_kind(e, "logout") || qn_event_get(&e->event, "duration") != NULL)
        return;
    if (qn_sessions_close(&t->sessions, &e->event, &duration) != QN_OK)
        return;
    t->sessions_changed = true;
    snprintf(text, sizeof(text), "%lld", duration);
    (void)qn_event_set(&e->event, "duration", text);
}

static bool waited_for_quiet(const struct qn_spool_entry *e)
{
    return strncmp(e->last_error, QN_TRIAGE_QUIET_REASON, strlen(QN_TRIAGE_QUIET_REASON)) == 0;
}

void qn_triage_judge(struct qn_triage *t, struct qn_spool_entry *e, long long now,
                     struct qn_triage_decision *ret)
{
    const struct qn_silence *s;
    long long when;

    memset(ret, 0, sizeof(*ret));
    ret->verdict = QN_TRIAGE_MAIL;
    if (t == NULL || e == NULL || e->type != QN_SPOOL_EVENT)
        return;
    t->now = now;
    when = e->event.time > 0 ? e->event.time : now;
    ret->severity = qn_severity_of(&t->cfg->noise.severity, &e->event, from_system(e));
    (void)qn_event_set(&e->event, "severity", qn_severity_name(ret->severity));
    track_session(t, e);

    s = qn_silence_find(&t->silences, &e->event, when);
    if (s != NULL) {
        ret->verdict = QN_TRIAGE_SILENCED;
        memcpy(ret->silence, s->id, sizeof(ret->silence));
        return;
    }
    if (t->cfg->noise.login_notify == QN_LOGIN_NOTIFY_NEW && from_system(e) &&
        is_kind(e, "login")) {
        const char *user = qn_event_get(&e->event, "user");
        bool root = user != NULL && qn_seen_user_is_root(user);

        if (qn_seen_decide(&t->seen, &e->event, when, remember_s(t), root) == QN_SEEN_KNOWN) {
            ret->verdict = QN_TRIAGE_KNOWN;
            return;
        }
    }
    if (qn_quiet_holds(&t->cfg->noise.quiet, ret->severity, now, &ret->until)) {
        ret->verdict = QN_TRIAGE_QUIET;
        return;
    }
    ret->after_quiet = ret->severity != QN_SEVERITY_CRITICAL && waited_for_quiet(e);
}

static void copy_field(char *out, size_t n, const struct qn_event *ev, const char *key)
{
    const char *v = qn_event_get(ev, key);

    snprintf(out, n, "%s", v != NULL ? v : "");
}

static void commit_seen(struct qn_triage *t, long long now);

/* Record login E in the table now and for the next commit. */
static void record_login(struct qn_triage *t, const struct qn_spool_entry *e)
{
    struct pending_login *p;
    long long when;

    if (!from_system(e) || !is_kind(e, "login"))
        return;
    when = e->event.time > 0 ? e->event.time : 0;
    if (t->n_pending == QN_TRIAGE_PENDING_MAX)
        commit_seen(t, t->now);
    if (qn_seen_record(&t->seen, &e->event, when, remember_s(t)) != QN_OK)
        return; /* untrackable */
    p = &t->pending[t->n_pending++];
    copy_field(p->user, sizeof(p->user), &e->event, "user");
    copy_field(p->ip, sizeof(p->ip), &e->event, "ip");
    copy_field(p->rhost, sizeof(p->rhost), &e->event, "rhost");
    copy_field(p->key, sizeof(p->key), &e->event, "key");
    p->time = when;
}

void qn_triage_dropped(struct qn_triage *t, const struct qn_spool_entry *e,
                       const struct qn_triage_decision *d)
{
    long long when;

    if (t == NULL || e == NULL || d == NULL || e->type != QN_SPOOL_EVENT)
        return;
    when = e->event.time;
    if (d->verdict == QN_TRIAGE_SILENCED) {
        qn_tally_silenced(&t->counts, d->silence, when);
        qn_tally_silenced(&t->run_total, d->silence, when);
    } else if (d->verdict == QN_TRIAGE_KNOWN) {
        qn_tally_known(&t->counts, when);
        qn_tally_known(&t->run_total, when);
    }
    record_login(t, e);
}

void qn_triage_sent(struct qn_triage *t, const struct qn_spool_entry *e)
{
    if (t == NULL || e == NULL || e->type != QN_SPOOL_EVENT)
        return;
    record_login(t, e);
    qn_tally_mailed(&t->counts, qn_severity_class_of(&e->event));
    qn_tally_mailed(&t->run_total, qn_severity_class_of(&e->event));
}

enum qn_status qn_triage_enrich(struct qn_triage *t, const struct qn_spool_entry *e,
                                struct qn_event *ret)
{
    if (t == NULL || e == NULL || ret == NULL || e->type != QN_SPOOL_EVENT)
        return QN_EINVAL;
    *ret = e->event;
    if (t->enrich == NULL || !from_system(e) ||
        !(is_kind(e, "login") || is_kind(e, "logout") || is_kind(e, "authfail")))
        return QN_OK;
    return qn_enrich_event(t->enrich, ret, &t->seen, is_kind(e, "login") ? &t->sessions : NULL);
}

/* ---- saving ---- */

static void replay(struct qn_triage *t, struct qn_seen *into)
{
    for (size_t i = 0; i < t->n_pending; i++) {
        const struct pending_login *p = &t->pending[i];

        qn_event_init(&t->scratch, "login");
        (void)qn_event_set(&t->scratch, "user", p->user);
        if (p->ip[0] != '\0')
            (void)qn_event_set(&t->scratch, "ip", p->ip);
        if (p->rhost[0] != '\0')
            (void)qn_event_set(&t->scratch, "rhost", p->rhost);
        if (p->key[0] != '\0')
            (void)qn_event_set(&t->scratch, "key", p->key);
        (void)qn_seen_record(into, &t->scratch, p->time, remember_s(t));
    }
}

/* The logins of this run onto a fresh read of state/seen, under its lock. */
static void commit_seen(struct qn_triage *t, long long now)
{
    struct qn_seen *fresh;
    enum qn_status r;
    int fd = -1;

    if (t->n_pending == 0)
        return;
    fresh = malloc(sizeof(*fresh));
    if (fresh == NULL) {
        report(t, QN_SEEN_STATE_NAME, true, QN_ENOMEM, ENOMEM, NULL);
        t->n_pending = 0;
        return;
    }
    r = qn_spool_state_lock(t->sp, QN_SEEN_STATE_NAME, STATE_LOCK_MS, &fd);
    if (r == QN_OK) {
        r = qn_seen_read(t->sp, fresh, now);
        if (r == QN_OK || r == QN_ENOTFOUND || r == QN_EINVAL) {
            replay(t, fresh);
            r = qn_seen_write(t->sp, fresh);
            if (r == QN_OK)
                t->seen = *fresh; /* what others changed counts from now on */
        }
        qn_spool_state_unlock(fd);
    }
    if (r != QN_OK)
        report(t, QN_SEEN_STATE_NAME, true, r, errno, NULL);
    t->n_pending = 0;
    free(fresh);
}

void qn_triage_commit(struct qn_triage *t, long long now)
{
    enum qn_status r;

    if (t == NULL)
        return;
    commit_seen(t, now);
    if (t->sessions_changed) {
        int fd = -1;

        r = qn_spool_state_lock(t->sp, QN_SESSIONS_STATE_NAME, STATE_LOCK_MS, &fd);
        if (r == QN_OK) {
            r = qn_sessions_write(t->sp, &t->sessions);
            qn_spool_state_unlock(fd);
        }
        if (r != QN_OK)
            report(t, QN_SESSIONS_STATE_NAME, true, r, errno, NULL);
        t->sessions_changed = false;
    }
    /* Counts that could not be added are kept for the next commit. */
    r = qn_tally_commit(t->sp, &t->counts, now);
    if (r != QN_OK)
        report(t, QN_TALLY_STATE_NAME, true, r, errno, NULL);
    else
        qn_tally_init(&t->counts, now);
}

const struct qn_tally *qn_triage_counts(const struct qn_triage *t)
{
    return t != NULL ? &t->run_total : NULL;
}
