/*
 * summary — the daily all-clear ([heartbeat] daily = HH:MM, assure.h): once
 * a day, at the first flush run after that local time, an alert of kind
 * "summary" says how delivery went, so that silence never has to be read
 * as "healthy":
 *   subject   all clear (every route healthy, nothing waiting or failed),
 *             or that something needs attention, in the configured language;
 *   route.NAME      health, messages sent, in the last 24 hours against
 *                   its daily limit, failures by diagnosis;
 *   queue.NAME      entries and the age of the oldest;
 *   silenced        events a silence kept from the mail since the last
 *                   summary (tally.h), and silence.ID for each silence;
 *   known_logins    logins not mailed under [login] notify = new;
 *   mailed.CLASS    the alerts mailed since the last summary, per kind
 *                   (severity.h's classes: root_login, sudo, login, ...).
 * The day of the last summary is kept in state/routes (health.h), so it
 * goes once a day whatever the number of runs.
 *
 * Pure functions; no globals.  Thread-safe (localtime_r).
 */
#ifndef QN_SUMMARY_H
#define QN_SUMMARY_H

#include <stdbool.h>
#include <stddef.h>

#include "assure.h"
#include "config.h"
#include "event.h"
#include "health.h"
#include "metrics.h"
#include "route.h"
#include "spool.h"
#include "tally.h"

#define QN_SUMMARY_SILENCES_MAX 8

/* A route as the summary shows it. */
struct qn_summary_route {
    const char *name;
    size_t sent_24h;      /* from its limiter */
    unsigned max_per_day; /* 0: none */
};

/* ROUTE's figures into *RET: its name, its daily limit (its own limits over
 * CFG's [limits]) and the messages its limiter counted in the 24 hours
 * before NOW (none when its state cannot be read). */
void qn_summary_route_read(struct qn_spool *sp, const struct qn_route *route,
                           const struct qn_config *cfg, long long now,
                           struct qn_summary_route *ret);

/* The local day (days since the epoch, local time) of NOW. */
long long qn_summary_local_day(long long now);

/* True when the summary is due at NOW: daily is set, its time of day has
 * passed today (local time), and LAST_DAY (health.h summary_day) is an
 * earlier day. */
bool qn_summary_due(const struct qn_assure_config *a, long long last_day, long long now);

/* The summary event into *EV (kind "summary", time NOW): the N ROUTES with
 * their record in H, the queues Q (QN_METRICS_QUEUES), what was not mailed
 * on purpose in T (tally.h: taken for this summary; NULL: not known), in
 * LANG.  At most QN_SUMMARY_SILENCES_MAX silences are named one by one; the
 * total counts them all. */
void qn_summary_event(const struct qn_health *h, const struct qn_summary_route *routes, size_t n,
                      const struct qn_queue_stat *q, const struct qn_tally *t, enum qn_lang lang,
                      long long now, struct qn_event *ev);

#endif
