/*
 * runrecord — what a `qqnotify flush` run leaves for those who watch the
 * sender, so that silence can be told from death:
 *   - the routes' record (state/routes, health.h): each mail's outcome on
 *     its route (one route; with several the failover keeps it itself),
 *     committed after the run; `qqnotify status` and the metrics read it;
 *   - the daily summary ([heartbeat] daily, summary.h), spooled before the
 *     run so the run delivers it like any alert, once a day, with what
 *     silences and [login] notify = new kept from the mail (tally.h: taken
 *     for it, given back when it cannot be spooled);
 *   - the metrics file ([metrics] textfile, metrics.h), written after the
 *     run;
 *   - the heartbeat ([heartbeat] ping_url, heartbeat.h): ping_url after a
 *     run that ended well, ping_url/fail otherwise, after the sessions are
 *     closed and bounded by its timeout.
 * None of them holds up delivery: a failure is logged through the
 * command's log (cli.h), in the user's language, and the run goes on.  A
 * run that found another sender busy records nothing of its own but a
 * summary it spooled, and pings nothing.  One consumer: cli/flush.c.
 */
#ifndef QN_CLI_RUNRECORD_H
#define QN_CLI_RUNRECORD_H

#include <stdbool.h>

#include "cli.h"
#include "diag.h"
#include "health.h"
#include "qmgr.h"
#include "spool.h"

struct qn_runrecord {
    struct qn_cli *cli;
    struct qn_health *health; /* the record, NULL when none is kept (memory) */
    const char *provider;     /* one robot route: its platform (the catalog's); NULL: [smtp] */
    const char *route;        /* one robot route: its name; NULL: the smtp route */
    bool failover;            /* several routes: the failover keeps the record */
};

/* The record as the last runs left it into RR->health (allocated); a damaged or unreadable
 * one is an empty record, logged. */
void qn_runrecord_load(struct qn_runrecord *rr, struct qn_spool *sp);

/* The daily summary, when it is due. */
void qn_runrecord_daily(struct qn_runrecord *rr, struct qn_spool *sp);

/* E's outcome in the record, once per mail; STOPPED: delivery was stopped and the
 * deferrals that follow repeat its failure. */
void qn_runrecord_entry(struct qn_runrecord *rr, const struct qn_qmgr_entry *e, bool stopped);

/* A failure of the route (ERR with its DIAGNOSIS id and REASON): the incident's start, its
 * backoff until RETRY_AT (0: retry_min from now). */
void qn_runrecord_failure(struct qn_runrecord *rr, const struct qn_error *err,
                          const char *diagnosis, const char *reason, long long retry_at);

/* After the run that ended with exit status RC: the record committed, the metrics file. */
void qn_runrecord_finish(struct qn_runrecord *rr, struct qn_spool *sp, int rc, bool busy);

/* The heartbeat ping for a run that ended with RC. */
void qn_runrecord_ping(const struct qn_runrecord *rr, int rc, bool busy);

/* Free the record. */
void qn_runrecord_free(struct qn_runrecord *rr);

#endif
