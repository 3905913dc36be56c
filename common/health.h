/*
 * health — what each route has done lately, kept in the spool's state:
 * state/routes.  The queue manager's failover reads it (a route's health),
 * `qqnotify status` and the metrics file (metrics.h) show it, the daily
 * summary counts from it.
 *
 * Per route (route.h's names, at most QN_ROUTES_MAX): messages sent and
 * failures per diagnosis id (at most QN_HEALTH_DIAGS_MAX ids, then
 * "other"), the time of the last success and of the last failure with its
 * diagnosis and reason, and the failover state:
 *
 *   healthy     no failure since the last success, or only temporary ones
 *               for less than [notify] failover_after;
 *   failing     failing_since is the first failure after the last success;
 *   unhealthy   after an authentication failure, a frequency or quota
 *               block, a permanent rejection (qn_health_fail's BLOCKING),
 *               or temporary failures for failover_after (0: at once);
 *               down_since says since when, retry_at when the route is to
 *               be tried again (its backoff); told says the next route's
 *               message has named this incident (once per incident);
 *   a success makes it healthy again and ends the incident.
 *
 * The state text (one line each, space-separated, at most
 * QN_SPOOL_STATE_MAX bytes):
 *   qqnotify-routes 1
 *   summary DAY                       the local day of the last daily summary
 *   route NAME SENT OK FAIL SINCE DOWN RETRY TOLD DIAG   (times in seconds,
 *                                     0 = never; DIAG "-" for none)
 *   reason NAME TEXT                  the last failure's reason (to the end)
 *   failed NAME DIAG COUNT
 * It is read back clamped, like every state file: a time after NOW is NOW
 * (RETRY at most a day ahead), a count past QN_HEALTH_COUNT_MAX is that,
 * a name or diagnosis id that is not one is skipped, a reason is
 * sanitised and cut, unknown and surplus lines are ignored, and a file
 * that does not start with the version line is an empty state.
 *
 * Writers: the sender alone (flush), after each run: qn_health_commit()
 * takes state/routes.lock, reads the file again and merges this run's
 * work into it (counts added, the later story of each route wins), so two
 * runs never lose each other's counts.
 *
 * Fixed-size structs, no heap but qn_buf's for the text; no globals.
 * Thread-safe on distinct structs.
 */
#ifndef QN_HEALTH_H
#define QN_HEALTH_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "diag.h"
#include "route.h"
#include "spool.h"
#include "status.h"

#define QN_HEALTH_STATE_NAME "routes"
#define QN_HEALTH_VERSION    "qqnotify-routes 1"
#define QN_HEALTH_DIAGS_MAX  16  /* failure counters per route */
#define QN_HEALTH_DIAG_MAX   64  /* bytes of a diagnosis id, with the NUL */
#define QN_HEALTH_REASON_MAX 256 /* bytes of a reason, with the NUL */
#define QN_HEALTH_COUNT_MAX  1000000000000000ULL
#define QN_HEALTH_OTHER      "other" /* the diagnosis counted past QN_HEALTH_DIAGS_MAX */

struct qn_health_count {
    char diagnosis[QN_HEALTH_DIAG_MAX];
    unsigned long long n;
};

struct qn_route_health {
    char name[QN_ROUTE_NAME_MAX];
    unsigned long long sent;            /* messages the route accepted */
    long long last_ok;                  /* last success, 0 = never */
    long long last_fail;                /* last failure, 0 = never */
    char diagnosis[QN_HEALTH_DIAG_MAX]; /* of the last failure, "" = none */
    char reason[QN_HEALTH_REASON_MAX];  /* of the last failure, "" = none */
    long long failing_since;            /* first failure after the last success, 0 = none */
    long long down_since;               /* unhealthy since, 0 = healthy */
    long long retry_at;                 /* unhealthy: tried again from then */
    bool told;                          /* this incident was named on another route */
    size_t n_failed;
    struct qn_health_count failed[QN_HEALTH_DIAGS_MAX];
    /* This process's part, for the merge of qn_health_commit(). */
    unsigned long long sent_added;
    unsigned long long failed_added[QN_HEALTH_DIAGS_MAX];
};

struct qn_health {
    size_t n;
    struct qn_route_health route[QN_ROUTES_MAX];
    long long summary_day; /* the local day (days since the epoch) of the last summary */
    bool summary_changed;  /* by this process */
};

/* How bad a failure is for the route's health. */
enum qn_health_failure {
    QN_HEALTH_TEMPORARY = 1, /* an outage, a 4xx or 5xx: unhealthy after failover_after */
    QN_HEALTH_BLOCKING,      /* credentials, a frequency or quota block, a permanent rejection */
};

/* How failure ERR (its diagnosis D may be NULL) counts: BLOCKING for a
 * credential or authentication failure, a rate_limited diagnosis, or a
 * PERMANENT or CONFIG verdict (nothing will pass until someone acts);
 * TEMPORARY otherwise (an outage, a timeout, a 4xx, a 5xx). */
enum qn_health_failure qn_health_kind(const struct qn_error *err, const struct qn_diagnosis *d);

/* An empty state. */
void qn_health_init(struct qn_health *h);

/* Replace *H with the state text (LEN bytes, need not be NUL-terminated),
 * clamped at NOW as described above.  Never fails: what cannot be read is
 * left out. */
void qn_health_parse(struct qn_health *h, const char *text, size_t len, long long now);

/* Append the state text to OUT.  QN_ETOOBIG, QN_ENOMEM (OUT as it was). */
enum qn_status qn_health_format(const struct qn_health *h, struct qn_buf *out);

/* The route NAME's record, added (empty) when there is room; NULL when
 * NAME is not a route name or QN_ROUTES_MAX are kept already. */
struct qn_route_health *qn_health_route(struct qn_health *h, const char *name);

/* The route NAME's record or NULL, without adding it. */
const struct qn_route_health *qn_health_find(const struct qn_health *h, const char *name);

/* N messages accepted by route NAME at NOW: healthy again.  True when it
 * had been unhealthy (an incident ended). */
bool qn_health_ok(struct qn_health *h, const char *name, size_t n, long long now);

/*
 * A failure of route NAME at NOW (DIAGNOSIS and REASON may be "" or NULL),
 * counted once.  KIND, FAILOVER_AFTER_S and RETRY_AT (the route's next try
 * when it is unhealthy; at least NOW) decide as described above.  True when
 * the route became unhealthy with this failure (an incident began).
 */
bool qn_health_fail(struct qn_health *h, const char *name, enum qn_health_failure kind,
                    const char *diagnosis, const char *reason, unsigned failover_after_s,
                    long long retry_at, long long now);

/* True when route NAME may be tried at NOW: healthy, or its retry_at has come. */
bool qn_health_usable(const struct qn_health *h, const char *name, long long now);

/* Read state/routes into *H (an empty state when there is none or it
 * cannot be read: the status says which, QN_OK or QN_ENOTFOUND for
 * none). */
enum qn_status qn_health_load(struct qn_health *h, struct qn_spool *sp, long long now);

/* Merge this process's part of *H into state/routes (see above) and adopt
 * the result.  QN_OK; QN_ETIMEOUT, QN_EIO, QN_ENOMEM, QN_ETOOBIG: nothing
 * written, *H unchanged. */
enum qn_status qn_health_commit(struct qn_health *h, struct qn_spool *sp, long long now);

#endif
