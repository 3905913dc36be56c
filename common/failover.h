/*
 * failover — several routes as one transport (qmgr.h's struct
 * qn_transport): an alert goes to the first healthy route of [notify]
 * routes, within that route's own limits, and to the next one when it
 * fails, so that it reaches a person through QQ Mail or through a chat
 * robot.  The queue manager works the queue as for one route; the choice
 * of route is made here, per message, from the routes' record (health.h).
 *
 * The rules (README "Failover"):
 *   - a route is tried when it is healthy, or when its next try has come
 *     (an unhealthy route is tried again after its backoff, and takes over
 *     again when it answers), and when its limits (state/ratelimit[.NAME],
 *     quota.h) allow a message now; otherwise the next route is;
 *   - a route becomes unhealthy after an authentication or credential
 *     failure, a frequency or quota block (its limiter is penalised as the
 *     queue manager does for one route), a permanent rejection, or
 *     temporary failures for [notify] failover_after (0: the first);
 *     health.h keeps the record.  A temporary failure of a route that is
 *     still healthy goes back to the queue manager as it is (the entry
 *     waits for that route, as without failover);
 *   - on a content refusal (the diagnosis content-spam: QQ's "550 ...
 *     inappropriate words or content", 163's "554 DT:SPM", "Mail content
 *     denied") an alert is resent once on the same route as a minimal
 *     alert (minimal.h), then fails over;
 *   - the first alert that goes out on a later route while an earlier one
 *     is unhealthy starts with a note naming that route, since when it
 *     fails and why (its reason and diagnosis id), once per incident;
 *   - login alerts (kind "login": ssh, su and sudo sessions) go at once to
 *     every route of [notify] critical_routes that may send; they count as
 *     delivered when one of them accepted;
 *   - when every route refused an alert for good, the alert fails (the
 *     queue manager moves it to failed/) and a short notice of that goes
 *     out on the first route that accepts it.
 * Sendmail messages fail over too, as they are (no note, no minimal form).
 *
 * The queue manager asks available() before each message: the routes'
 * limits and health together (qmgr.h), and counts its digests in a state
 * of its own (QN_FAILOVER_STATE_NAME) with [limits]' digest settings and
 * no count limits: each route's counts are kept here, in its own state,
 * committed when the session closes.
 *
 * Errors returned by deliver(): the route's own failure when the entry
 * must wait for that route or every route failed (the last one's; a
 * refusal for good by every route comes back as a permanent refusal at
 * DATA); QN_STAGE_LOCAL when an alert could not be formatted.
 *
 * Reports: on_event for each route failure, recovery, minimal resend and
 * refusal by every route; the library never prints.  Not thread-safe: one
 * run at a time, as the queue manager.
 */
#ifndef QN_FAILOVER_H
#define QN_FAILOVER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "diag.h"
#include "health.h"
#include "qmgr.h"
#include "spool.h"
#include "status.h"

#define QN_FAILOVER_STATE_NAME "failover.events" /* the queue manager's digest counts */
#define QN_FAILOVER_NOTE_MAX   1024              /* bytes of the note on the next route */

struct qn_failover_route {
    struct qn_transport t; /* its name, provider, limits and state name (qmgr.h) */
    bool ordered;          /* in [notify] routes, in this order */
    bool critical;         /* in [notify] critical_routes */
};

enum qn_failover_event_kind {
    QN_FAILOVER_FAILED = 1, /* route failed (err); unhealthy: it became unhealthy now */
    QN_FAILOVER_RECOVERED,  /* an unhealthy route answered again */
    QN_FAILOVER_MINIMAL,    /* content refused: resent as a minimal alert (accepted: ok) */
    QN_FAILOVER_REFUSED,    /* every route refused an alert for good; told on route (or NULL) */
};

struct qn_failover_event {
    enum qn_failover_event_kind kind;
    const char *route;
    const char *provider; /* the diagnosis catalog's, of route's failures (NULL: [smtp]) */
    const struct qn_error *err;
    bool unhealthy;
    bool ok;
};

struct qn_failover_options {
    const struct qn_config *cfg;
    struct qn_spool *spool;   /* the routes' limiters */
    struct qn_health *health; /* the routes' record: read and updated */
    const struct qn_failover_route *routes;
    size_t n_routes; /* at most QN_ROUTES_MAX */
    void (*on_event)(void *arg, const struct qn_failover_event *ev);
    /* As qmgr.h's: one line of a failure, for the routes' record. */
    void (*describe)(void *arg, const struct qn_error *err, char *out, size_t n);
    long long (*clock)(void *arg); /* NULL: time() */
    void *arg;
};

struct qn_failover;

/* A transport over OPT's routes (copied; the transports' contexts stay the
 * caller's).  Their limiters are loaded from the spool now.  QN_EINVAL,
 * QN_ENOMEM. */
enum qn_status qn_failover_new(const struct qn_failover_options *opt, struct qn_failover **ret);

/* Close every route and free (FO may be NULL).  Returns NULL. */
struct qn_failover *qn_failover_free(struct qn_failover *fo);

/* The transport: open is a no-op (each route opens when it is used),
 * deliver chooses, close closes every route and commits their limiters. */
struct qn_transport qn_failover_transport(struct qn_failover *fo);

/* True when EV (an alert's events) holds a login: it goes to the critical routes. */
bool qn_failover_is_critical(const struct qn_event *const *events, size_t n);

#endif
