/*
 * ways — the sender's ways out; contract in ways.h.
 */
#include "ways.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "http.h"
#include "mailtext.h"
#include "spoolowner.h"

void qn_ways_free(struct qn_ways *w)
{
    qn_failover_free(w->failover);
    qn_mailer_free(w->mailer);
    for (size_t i = 0; i < QN_ROUTES_MAX; i++)
        qn_webhook_free(w->hook[i]);
    memset(w, 0, sizeof(*w));
}

/* Started as root: fetch every route's secret while root may, then become the spool's user
 * for good (ways.h).  The exit code on failure, else QN_EXIT_OK. */
int qn_ways_become_spool_user(struct qn_cli *cli, const struct qn_ways *w)
{
    const struct qn_config *cfg = &cli->cfg;
    struct qn_spoolowner o;
    enum qn_spoolowner_missing missing;
    struct qn_error err;
    enum qn_status r;

    if (geteuid() != 0)
        return QN_EXIT_OK; /* the unit's user already (qn_cli_require_queue_access) */
    r = qn_spoolowner_resolve(&cfg->queue, &o, &missing);
    if (r != QN_OK || o.uid == 0) {
        qn_log(&cli->log, LOG_ERR,
               r != QN_OK
                   ? _("qqnotify flush: the spool's user %s ([spool] user in %s) does not exist; "
                       "the sender does not run as root. Install the package (systemd-sysusers "
                       "creates it) or: useradd --system --user-group --home-dir / --shell "
                       "/usr/sbin/nologin %s")
                   : _("qqnotify flush: [spool] user %s in %s is root; the sender does not run as "
                       "root: set a system user of its own (%s)"),
               cfg->queue.user, cli->config_path, r != QN_OK ? cfg->queue.user : "qqnotify");
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
        qn_log(&cli->log, LOG_ERR, _("qqnotify flush: cannot become the spool's user %s: %s"),
               o.user, strerror(errno));
        return QN_EXIT_OSERR;
    }
    return QN_EXIT_OK;
}

/* The transport of ROUTE into W->route[i]. */
static int open_way(struct qn_cli *cli, const struct qn_route *route, struct qn_ways *w, size_t i)
{
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

/* The ways out (ways.h). */
int qn_ways_open(struct qn_cli *cli, struct qn_ways *w, struct qn_transport *ret)
{
    const struct qn_route *used[QN_ROUTES_MAX];
    bool ordered[QN_ROUTES_MAX], critical[QN_ROUTES_MAX];
    int rc;

    w->n = qn_routes_used(&cli->cfg.routes, used, ordered, critical);
    for (size_t i = 0; i < w->n; i++) {
        rc = open_way(cli, used[i], w, i);
        if (rc != QN_EXIT_OK)
            return rc;
        w->route[i].ordered = ordered[i];
        w->route[i].critical = critical[i];
    }
    if (w->n == 1) {
        if (used[0]->type != QN_ROUTE_TYPE_SMTP) {
            w->provider = qn_route_type_name(used[0]->type);
            w->route_name = used[0]->name;
        }
        *ret = w->route[0].t;
    }
    return QN_EXIT_OK;
}

/* What the failover did with a route, in the log. */
static void on_failover(void *arg, const struct qn_failover_event *ev)
{
    struct qn_cli *cli = arg;
    const struct qn_log *log = &cli->log;

    switch (ev->kind) {
    case QN_FAILOVER_FAILED:
        qn_cli_report_for(cli, ev->provider, ev->err);
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

/* Several routes: the failover over them, with the routes' record (ways.h). */
int qn_ways_failover(struct qn_cli *cli, struct qn_ways *w, struct qn_spool *sp,
                     struct qn_health *health, struct qn_transport *ret)
{
    struct qn_failover_options fo = {.cfg = &cli->cfg,
                                     .spool = sp,
                                     .health = health,
                                     .routes = w->route,
                                     .n_routes = w->n,
                                     .on_event = on_failover,
                                     .describe = qn_cli_describe_hook,
                                     .arg = cli};

    if (w->n <= 1)
        return QN_EXIT_OK;
    if (health == NULL || qn_failover_new(&fo, &w->failover) != QN_OK)
        return QN_EXIT_OSERR;
    *ret = qn_failover_transport(w->failover);
    return QN_EXIT_OK;
}
