/*
 * summary — the daily all-clear alert: see summary.h.
 */
#include "summary.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "quota.h"

#define DAY_S 86400LL

void qn_summary_route_read(struct qn_spool *sp, const struct qn_route *route,
                           const struct qn_config *cfg, long long now, struct qn_summary_route *ret)
{
    struct qn_quota *q = malloc(sizeof(*q));
    struct qn_ratelimit_config limits;
    char state[QN_SPOOL_STATE_NAME_MAX];

    qn_route_ratelimit(route, &cfg->limits, &limits);
    ret->name = route->name;
    ret->max_per_day = limits.max_per_day;
    ret->sent_24h = 0;
    if (q == NULL)
        return;
    qn_quota_init(q);
    if (qn_route_state_name(route, state, sizeof(state)) && qn_quota_set_state(q, state) == QN_OK &&
        qn_quota_load(q, sp, now) == QN_OK) {
        for (size_t i = 0; i < q->view.n_sent; i++)
            ret->sent_24h += q->view.sent[i] > now - DAY_S;
    }
    free(q);
}

long long qn_summary_local_day(long long now)
{
    time_t t = (time_t)now;
    struct tm tm;

    if (localtime_r(&t, &tm) == NULL)
        return now / DAY_S;
    return (now + tm.tm_gmtoff) / DAY_S;
}

bool qn_summary_due(const struct qn_assure_config *a, long long last_day, long long now)
{
    time_t t = (time_t)now;
    struct tm tm;

    if (a->daily_minute < 0 || localtime_r(&t, &tm) == NULL)
        return false;
    return tm.tm_hour * 60 + tm.tm_min >= a->daily_minute && qn_summary_local_day(now) > last_day;
}

/* What a silence, or [login] notify = new, kept from the mail. */
static void tally_fields(struct qn_event *ev, const struct qn_tally *t)
{
    char key[QN_EVENT_KEY_MAX], value[64];

    snprintf(value, sizeof(value), "%llu", qn_tally_silenced_total(t));
    (void)qn_event_set(ev, "silenced", value);
    for (size_t i = 0; i < t->n && i < QN_SUMMARY_SILENCES_MAX; i++) {
        snprintf(key, sizeof(key), "silence.%s", t->silenced[i].id);
        snprintf(value, sizeof(value), "%llu", t->silenced[i].count);
        (void)qn_event_set(ev, key, value);
    }
    if (t->known > 0) {
        snprintf(value, sizeof(value), "%llu", t->known);
        (void)qn_event_set(ev, "known_logins", value);
    }
    for (size_t k = 0; k < QN_SEVCLASS_COUNT; k++) {
        if (t->mailed[k] == 0)
            continue;
        snprintf(key, sizeof(key), "mailed.%s", qn_severity_class_name((enum qn_severity_class)k));
        snprintf(value, sizeof(value), "%llu", t->mailed[k]);
        (void)qn_event_set(ev, key, value);
    }
}

static void route_field(struct qn_event *ev, const struct qn_route_health *h,
                        const struct qn_summary_route *r)
{
    char key[QN_EVENT_KEY_MAX], value[QN_EVENT_VALUE_MAX], limit[32] = "";
    size_t len;
    const char *health = h == NULL || (h->down_since == 0 && h->failing_since == 0) ? "healthy"
                         : h->down_since != 0                                       ? "unhealthy"
                                                                                    : "failing";

    snprintf(key, sizeof(key), "route.%s", r->name);
    if (r->max_per_day > 0)
        snprintf(limit, sizeof(limit), "/%u", r->max_per_day);
    len = (size_t)snprintf(value, sizeof(value), "%s; sent %llu, 24h %zu%s", health,
                           h ? h->sent : 0ULL, r->sent_24h, limit);
    for (size_t j = 0; h != NULL && j < h->n_failed && len < sizeof(value); j++)
        len += (size_t)snprintf(value + len, sizeof(value) - len, "%s%s %llu",
                                j == 0 ? "; failures: " : ", ", h->failed[j].diagnosis,
                                h->failed[j].n);
    (void)qn_event_set(ev, key, value);
}

void qn_summary_event(const struct qn_health *h, const struct qn_summary_route *routes, size_t n,
                      const struct qn_queue_stat *q, const struct qn_tally *t, enum qn_lang lang,
                      long long now, struct qn_event *ev)
{
    bool clear = true;
    char key[QN_EVENT_KEY_MAX], value[64];

    qn_event_init(ev, "summary");
    ev->time = now;
    for (size_t i = 0; i < n; i++) {
        const struct qn_route_health *rh = qn_health_find(h, routes[i].name);

        clear = clear && (rh == NULL || (rh->down_since == 0 && rh->failing_since == 0));
        route_field(ev, rh, &routes[i]);
    }
    for (size_t i = 0; i < QN_METRICS_QUEUES; i++) {
        snprintf(key, sizeof(key), "queue.%s", q[i].queue);
        if (q[i].entries == 0)
            snprintf(value, sizeof(value), "0");
        else
            snprintf(value, sizeof(value), "%zu, oldest %llds", q[i].entries,
                     now > q[i].oldest ? now - q[i].oldest : 0LL);
        (void)qn_event_set(ev, key, value);
        if (i > 0) /* deferred/ and failed/ hold what did not go */
            clear = clear && q[i].entries == 0;
    }
    if (t != NULL)
        tally_fields(ev, t);
    if (lang == QN_LANG_EN)
        qn_event_set_subject(ev, clear ? "daily report: all clear, every route healthy and "
                                         "nothing waiting"
                                       : "daily report: delivery needs attention");
    else
        qn_event_set_subject(ev, clear ? "每日报告：一切正常，所有线路健康，无待发告警"
                                       : "每日报告：告警投递需要处理");
}
