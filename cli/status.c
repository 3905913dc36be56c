/*
 * qqnotify status [--json]: is delivery healthy?  Per route (in the order
 * of [notify] routes, then the critical routes not among them): its health
 * (healthy, failing, unhealthy and when it is tried again), messages sent,
 * the quota used in the last 24 hours against its daily limit, the last
 * success and the last failure with its diagnosis; per queue: its entries
 * and the age of the oldest.  From the spool's state (state/routes,
 * health.h; state/ratelimit[.NAME], quota.h) and its queues: nothing is
 * sent, nothing is changed, no lock is taken.
 *
 * --json prints one object (json-c) for monitoring scripts:
 *   {"time": T, "routes": [{"name", "type", "health", "sent", "sent_24h",
 *    "max_per_day", "last_success", "last_failure", "diagnosis", "reason",
 *    "unhealthy_since", "retry_at", "failures": {ID: N}}...],
 *    "queues": [{"queue", "entries", "oldest_age"}...]}
 * times in seconds since the epoch, null for never.
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "health.h"
#include "metrics.h"
#include "spool.h"
#include "summary.h"

struct route_view {
    const struct qn_route *route;
    const struct qn_route_health *h; /* NULL: nothing recorded yet */
    struct qn_summary_route use;     /* sent in the last 24 hours, daily limit */
};

static const char *health_word(const struct qn_route_health *h)
{
    if (h == NULL || (h->down_since == 0 && h->failing_since == 0))
        return N_("healthy");
    return h->down_since != 0 ? N_("unhealthy") : N_("failing");
}

static void format_time(long long t, long long now, char *out, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;
    char when[32];

    if (t <= 0 || localtime_r(&tt, &tm) == NULL ||
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm) == 0) {
        snprintf(out, n, "%s", _("never"));
        return;
    }
    if (t <= now)
        qn_cli_format(out, n, _("%s (%llds ago)"), when, now - t);
    else
        qn_cli_format(out, n, _("%s (in %llds)"), when, t - now);
}

static void print_route(const struct route_view *v, long long now)
{
    const struct qn_route_health *h = v->h;
    char t[96];

    printf(_("route %s (%s): %s\n"), v->route->name, qn_route_type_name(v->route->type),
           _(health_word(h)));
    if (v->use.max_per_day > 0)
        printf(_("  sent: %llu; in the last 24 hours %zu of %u a day\n"), h ? h->sent : 0ULL,
               v->use.sent_24h, v->use.max_per_day);
    else
        printf(_("  sent: %llu; in the last 24 hours %zu (no daily limit)\n"), h ? h->sent : 0ULL,
               v->use.sent_24h);
    format_time(h ? h->last_ok : 0, now, t, sizeof(t));
    printf(_("  last success: %s\n"), t);
    format_time(h ? h->last_fail : 0, now, t, sizeof(t));
    printf(_("  last failure: %s\n"), t);
    if (h != NULL && h->last_fail > 0)
        printf(_("    diagnosis: %s — %s\n"), h->diagnosis[0] ? h->diagnosis : "-", h->reason);
    if (h != NULL && h->down_since != 0) {
        format_time(h->retry_at, now, t, sizeof(t));
        printf(_("  alerts go to the next route; this one is tried again at %s\n"), t);
    }
}

static void print_queue(const struct qn_queue_stat *q, long long now)
{
    if (q->entries == 0)
        printf(_("queue %s: empty\n"), q->queue);
    else
        printf(_("queue %s: %zu entr(ies), the oldest %llds old\n"), q->queue, q->entries,
               q->oldest > 0 && now > q->oldest ? now - q->oldest : 0LL);
}

static json_object *json_time(long long t)
{
    return t > 0 ? json_object_new_int64(t) : NULL;
}

static json_object *json_route(const struct route_view *v)
{
    const struct qn_route_health *h = v->h;
    json_object *o = json_object_new_object(), *f = json_object_new_object();

    json_object_object_add(o, "name", json_object_new_string(v->route->name));
    json_object_object_add(o, "type", json_object_new_string(qn_route_type_name(v->route->type)));
    json_object_object_add(o, "health", json_object_new_string(health_word(h)));
    json_object_object_add(o, "sent", json_object_new_int64(h ? (int64_t)h->sent : 0));
    json_object_object_add(o, "sent_24h", json_object_new_int64((int64_t)v->use.sent_24h));
    json_object_object_add(o, "max_per_day", json_object_new_int64(v->use.max_per_day));
    json_object_object_add(o, "last_success", json_time(h ? h->last_ok : 0));
    json_object_object_add(o, "last_failure", json_time(h ? h->last_fail : 0));
    json_object_object_add(o, "diagnosis",
                           h && h->diagnosis[0] ? json_object_new_string(h->diagnosis) : NULL);
    json_object_object_add(o, "reason",
                           h && h->reason[0] ? json_object_new_string(h->reason) : NULL);
    json_object_object_add(o, "unhealthy_since", json_time(h ? h->down_since : 0));
    json_object_object_add(o, "retry_at", json_time(h && h->down_since ? h->retry_at : 0));
    for (size_t j = 0; h != NULL && j < h->n_failed; j++)
        json_object_object_add(f, h->failed[j].diagnosis,
                               json_object_new_int64((int64_t)h->failed[j].n));
    json_object_object_add(o, "failures", f);
    return o;
}

static void print_json(const struct route_view *v, size_t n, const struct qn_queue_stat *q,
                       long long now)
{
    json_object *all = json_object_new_object(), *routes = json_object_new_array(),
                *queues = json_object_new_array();

    for (size_t i = 0; i < n; i++)
        json_object_array_add(routes, json_route(&v[i]));
    for (size_t i = 0; i < QN_METRICS_QUEUES; i++) {
        json_object *o = json_object_new_object();

        json_object_object_add(o, "queue", json_object_new_string(q[i].queue));
        json_object_object_add(o, "entries", json_object_new_int64((int64_t)q[i].entries));
        json_object_object_add(
            o, "oldest_age",
            q[i].entries > 0 ? json_object_new_int64(now > q[i].oldest ? now - q[i].oldest : 0)
                             : NULL);
        json_object_array_add(queues, o);
    }
    json_object_object_add(all, "time", json_object_new_int64(now));
    json_object_object_add(all, "routes", routes);
    json_object_object_add(all, "queues", queues);
    printf("%s\n", json_object_to_json_string_ext(all, JSON_C_TO_STRING_PRETTY |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(all);
}

int qn_cmd_status(struct qn_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const struct qn_route *shown[QN_ROUTES_MAX];
    struct route_view v[QN_ROUTES_MAX];
    struct qn_queue_stat q[QN_METRICS_QUEUES];
    struct qn_health *h = NULL;
    struct qn_spool *sp = NULL;
    long long now = time(NULL);
    bool json = false;
    enum qn_status r;
    size_t n;
    int c, rc;

    while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = true;
            break;
        case 'h':
            printf(
                _("Usage: qqnotify status [--json]\n"
                  "Shows each route's health, its last success and failure, the quota it used "
                  "in the last 24 hours, and each queue's entries and the age of the oldest.\n"));
            return QN_EXIT_OK;
        default:
            return QN_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, _("qqnotify status: unexpected argument '%s'\n"), argv[optind]);
        return QN_EXIT_USAGE;
    }
    rc = qn_cli_load_config(cli);
    if (rc != QN_EXIT_OK)
        return rc;
    rc = qn_cli_require_queue_access(cli, "qqnotify status");
    if (rc != QN_EXIT_OK)
        return rc;
    r = qn_spool_open(cli->cfg.spool_dir, 0, 0, &sp);
    if (r == QN_OK)
        r = qn_queue_stats_read(sp, q);
    h = malloc(sizeof(*h));
    if (r == QN_OK && h == NULL)
        r = QN_ENOMEM;
    if (r != QN_OK) {
        fprintf(stderr,
                _("qqnotify status: cannot read the spool %s: %s (%s); as root, run `qqnotify "
                  "queue init`, or set [spool] dir\n"),
                cli->cfg.spool_dir, _(qn_strerror(r)), strerror(errno));
        rc = r == QN_EIO ? QN_EXIT_IOERR : r == QN_ENOMEM ? QN_EXIT_OSERR : QN_EXIT_CONFIG;
        goto out;
    }
    qn_health_load(h, sp, now); /* none or unreadable: nothing recorded yet */
    n = qn_routes_used(&cli->cfg.routes, shown, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        v[i] = (struct route_view){.route = shown[i], .h = qn_health_find(h, shown[i]->name)};
        qn_summary_route_read(sp, shown[i], &cli->cfg, now, &v[i].use);
    }
    if (json) {
        print_json(v, n, q, now);
    } else {
        for (size_t i = 0; i < n; i++)
            print_route(&v[i], now);
        for (size_t i = 0; i < QN_METRICS_QUEUES; i++)
            print_queue(&q[i], now);
    }
out:
    free(h);
    qn_spool_close(sp);
    return rc;
}
