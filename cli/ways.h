/*
 * ways — the sender's ways out, opened by `qqnotify flush` before it reads
 * the spool: the transports of the routes that [notify] routes and
 * critical_routes use (route.h, qn_routes_used): the [smtp] account's
 * mailer (mailer.h) or a chat robot's webhook (webhook.h).  One route is
 * the queue manager's transport itself; several go through the failover
 * (failover.h), made once the spool and the routes' record are open.
 *
 * Privileges.  Started as root (by hand, by root's notify or sendmail, by
 * the PAM module's flush=spawn), the sender fetches every route's secret
 * while root may (the systemd credential store and root's keyring are
 * root's) and keeps it (qn_mailer_fetch_secret, qn_webhook_fetch_secret),
 * then becomes the spool's user for good (spoolowner.h) before it opens
 * the spool or reads any entry.  A fetch that failed is kept too: the run
 * reports it at its first message.
 *
 * What goes wrong is logged through the command's log (cli.h) in the
 * user's language; the functions return an exit status (exit.h).  One
 * consumer: cli/flush.c.
 */
#ifndef QN_CLI_WAYS_H
#define QN_CLI_WAYS_H

#include <stddef.h>

#include "cli.h"
#include "failover.h"
#include "health.h"
#include "mailer.h"
#include "qmgr.h"
#include "route.h"
#include "spool.h"
#include "webhook.h"

struct qn_ways {
    struct qn_mailer *mailer;
    struct qn_webhook *hook[QN_ROUTES_MAX];
    struct qn_failover_route route[QN_ROUTES_MAX];
    size_t n;
    struct qn_failover *failover; /* several routes: qn_ways_failover made it */
    const char *provider;         /* one robot route: its platform (the catalog's); else NULL */
    const char *route_name;       /* one robot route: its name; else NULL */
};

/* The transports of the routes in use, into W (zeroed by the caller); with one route
 * *RET is its transport.  QN_EXIT_CONFIG ([notify] to empty for the smtp route),
 * QN_EXIT_OSERR. */
int qn_ways_open(struct qn_cli *cli, struct qn_ways *w, struct qn_transport *ret);

/* As root: every secret fetched and kept, then the spool's user ([spool] user) for good;
 * nothing to do for another user.  QN_EXIT_CONFIG (no such user, or root), QN_EXIT_OSERR. */
int qn_ways_become_spool_user(struct qn_cli *cli, const struct qn_ways *w);

/* Several routes: the failover over them into *RET, keeping its record in HEALTH (which
 * must outlive it) and logging what it does with a route.  Nothing to do for one route.
 * QN_EXIT_OSERR (no record, memory). */
int qn_ways_failover(struct qn_cli *cli, struct qn_ways *w, struct qn_spool *sp,
                     struct qn_health *health, struct qn_transport *ret);

/* Close every session (wiping the secrets) and free; W is zeroed. */
void qn_ways_free(struct qn_ways *w);

#endif
