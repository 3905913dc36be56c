/*
 * runrecord — what a flush run leaves for those who watch the sender;
 * contract in runrecord.h.
 */
#include "runrecord.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "enqueue.h"
#include "heartbeat.h"
#include "http.h"
#include "metrics.h"
#include "summary.h"
#include "tally.h"

static const char *route_name(const struct qn_runrecord *rr)
{
    return rr->route != NULL ? rr->route : QN_ROUTE_SMTP;
}

/* A failure of the route in its record: the incident's start, its backoff. */
void qn_runrecord_failure(struct qn_runrecord *rr, const struct qn_error *err,
                          const char *diagnosis, const char *reason, long long retry_at)
{
    const struct qn_diagnosis *d;
    long long now = time(NULL);

    if (rr->health == NULL || rr->failover || err == NULL)
        return;
    d = qn_diag_lookup(rr->provider != NULL ? rr->provider : rr->cli->cfg.provider, err);
    if (retry_at <= now)
        retry_at = now + rr->cli->cfg.retry_min_s;
    qn_health_fail(rr->health, route_name(rr), qn_health_kind(err, d), diagnosis, reason,
                   rr->cli->cfg.routes.failover_after_s, retry_at, now);
}

/* What the route did with this entry's mail, once per mail (runrecord.h). */
void qn_runrecord_entry(struct qn_runrecord *rr, const struct qn_qmgr_entry *e, bool stopped)
{
    if (rr->health == NULL || rr->failover || e->mail_index != 0)
        return;
    switch (e->outcome) {
    case QN_QMGR_SENT:
    case QN_QMGR_DIGESTED:
        qn_health_ok(rr->health, route_name(rr), 1, time(NULL));
        break;
    case QN_QMGR_FAILED:
        qn_runrecord_failure(rr, e->err, e->diagnosis, e->reason, 0);
        break;
    case QN_QMGR_DEFERRED:
        if (!stopped)
            qn_runrecord_failure(rr, e->err, e->diagnosis, e->reason, e->next_try);
        break;
    default:
        break;
    }
}

/* The dead man's switch (runrecord.h). */
void qn_runrecord_ping(const struct qn_runrecord *rr, int rc, bool busy)
{
    const struct qn_assure_config *a = &rr->cli->cfg.assure;
    struct qn_error err;
    char why[512];

    if (a->ping_url[0] == '\0' || busy)
        return;
    if (qn_http_global_init() != QN_OK) {
        qn_log(&rr->cli->log, LOG_WARNING, "%s",
               _("heartbeat: cannot initialise libcurl; no ping was sent"));
        return;
    }
    if (qn_heartbeat_ping(a, rc != QN_EXIT_OK, &err) == QN_OK)
        return;
    qn_cli_describe(&err, why, sizeof(why));
    qn_log(&rr->cli->log, LOG_WARNING,
           _("heartbeat: the ping to [heartbeat] ping_url failed: %s; the monitoring service will "
             "report this host as down until a ping arrives (check ping_url, ca_file and the "
             "network)"),
           why);
}

/* The routes' record as the last runs left it (runrecord.h). */
void qn_runrecord_load(struct qn_runrecord *rr, struct qn_spool *sp)
{
    enum qn_status r;

    rr->health = malloc(sizeof(*rr->health));
    if (rr->health == NULL)
        return;
    r = qn_health_load(rr->health, sp, time(NULL));
    if (r != QN_OK && r != QN_ENOTFOUND)
        qn_log(&rr->cli->log, LOG_WARNING,
               _("cannot read the routes' record state/%s: %s; starting from an empty one"),
               QN_HEALTH_STATE_NAME, _(qn_strerror(r)));
}

/* [heartbeat] daily (runrecord.h). */
void qn_runrecord_daily(struct qn_runrecord *rr, struct qn_spool *sp)
{
    const struct qn_config *cfg = &rr->cli->cfg;
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

    if (rr->health == NULL || !qn_summary_due(&cfg->assure, rr->health->summary_day, now))
        return;
    n = qn_routes_used(&cfg->routes, used, NULL, NULL);
    for (size_t i = 0; i < n; i++)
        qn_summary_route_read(sp, used[i], cfg, now, &routes[i]);
    r = qn_queue_stats_read(sp, q);
    if (r == QN_OK) {
        /* What silences and notify = new kept from the mail since the last summary: taken
         * (the file starts again), and given back when the summary cannot be spooled. */
        taken = qn_tally_take(sp, &t, now) == QN_OK;
        qn_summary_event(rr->health, routes, n, q, taken ? &t : NULL, cfg->language, now, &ev);
        r = qn_enqueue_event(cfg->spool_dir, &ev, cfg->max_entry_size, id);
    }
    if (r != QN_OK) {
        if (taken)
            (void)qn_tally_commit(sp, &t, now);
        qn_log(&rr->cli->log, LOG_WARNING,
               _("cannot spool the daily summary: %s; the next run tries again"),
               _(qn_strerror(r)));
        return;
    }
    rr->health->summary_day = qn_summary_local_day(now);
    rr->health->summary_changed = true;
}

/* [metrics] textfile: the queues, the routes and this run. */
static void write_metrics(const struct qn_runrecord *rr, struct qn_spool *sp, int rc)
{
    const char *path = rr->cli->cfg.assure.textfile;
    struct qn_queue_stat q[QN_METRICS_QUEUES];
    struct qn_metrics_run run = {.end = time(NULL), .ok = rc == QN_EXIT_OK};
    struct qn_buf out;
    enum qn_status r;

    if (path[0] == '\0' || rr->health == NULL)
        return;
    qn_buf_init(&out, QN_METRICS_MAX);
    r = qn_queue_stats_read(sp, q);
    if (r == QN_OK)
        r = qn_metrics_format(rr->health, q, &run, run.end, &out);
    if (r == QN_OK)
        r = qn_metrics_write(path, out.data, out.len);
    if (r != QN_OK)
        qn_log(&rr->cli->log, LOG_WARNING,
               _("cannot write the metrics file %s: %s (%s); check that the directory exists and "
                 "that the sender's user may write in it"),
               path, _(qn_strerror(r)), r == QN_EIO ? strerror(errno) : "-");
    qn_buf_free(&out);
}

/* After the run (runrecord.h). */
void qn_runrecord_finish(struct qn_runrecord *rr, struct qn_spool *sp, int rc, bool busy)
{
    enum qn_status r;

    /* Busy: the other sender records its run; a summary spooled here is ours. */
    if (rr->health == NULL || (busy && !rr->health->summary_changed))
        return;
    r = qn_health_commit(rr->health, sp, time(NULL));
    if (r != QN_OK)
        qn_log(&rr->cli->log, LOG_WARNING,
               _("cannot save the routes' record state/%s: %s; status and metrics miss this "
                 "run"),
               QN_HEALTH_STATE_NAME, _(qn_strerror(r)));
    if (!busy)
        write_metrics(rr, sp, rc);
}

void qn_runrecord_free(struct qn_runrecord *rr)
{
    free(rr->health);
    rr->health = NULL;
}
