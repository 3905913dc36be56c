/*
 * triage — the sender's "less noise" decisions (qmgr.h, "Less noise"): for
 * each event the queue manager is about to mail, whether it goes now, is
 * silenced, is a known login, or waits for the end of the quiet hours; and
 * what it carries when it goes (severity, session length, enrichment).  The
 * queue manager stays the loop: it calls this module at the start of a run,
 * for each event before it is rendered, when an event leaves the queue, and
 * at the end of each pass.
 *
 * State, loaded once per run (an unreadable file is reported through the
 * callback and taken as empty: silence nothing, every login new, no
 * durations; each errs toward mailing): state/silences (silence.h),
 * state/seen (seen.h), state/sessions (sessions.h); and the enrichment
 * handle (enrich.h: a GeoIP database that cannot be opened is reported and
 * left out, reverse DNS still works).
 *
 * Per event (qn_triage_judge), in the order of the pass (lane, then age):
 *   1. "severity" is set from [severity] (severity.h; a journal rule's own
 *      level only from a system producer), replacing whatever the event
 *      claimed: the subject's marker and quiet hours trust only this;
 *   2. a login of a system producer with a session key opens its session
 *      (again: the same key replaces); a logout closes it and gets
 *      "duration" (kept in the entry when it waits, so a later pass still
 *      has it);
 *   3. a silence active at the event's own time that matches it: SILENCED;
 *   4. `[login] notify = new`: a login from a known (user, source): KNOWN
 *      (root logins and new users are mailed, seen.h);
 *   5. quiet hours now and the severity is not critical: QUIET until they
 *      end; the queue manager holds the entry with a reason that starts
 *      with QN_TRIAGE_QUIET_REASON (not an attempt);
 *   6. MAIL; after_quiet when the entry waited through quiet hours (its
 *      reason says so): the queue manager sends all of those of one lane
 *      as one digest.
 * SILENCED and KNOWN entries are removed by the queue manager and counted
 * here (state/tally, tally.h) when it calls qn_triage_dropped(); a mailed
 * event is counted by its class (qn_triage_sent) for the daily summary.  The seen
 * table records a login when it leaves the queue (qn_triage_dropped, or
 * qn_triage_sent once its mail was accepted): an entry that waits is judged
 * again on its next pass against the same table, so a new login is never
 * taken for a known one because an earlier pass held it.
 *
 * Enrichment (qn_triage_enrich) is for an event mailed on its own: a copy
 * gets enrich.h's fields (reverse DNS bounded at 2 s, GeoIP, the previous
 * logins from the table as it was before this login, the user's open
 * sessions).  Digests list one line per event and are not enriched.
 *
 * qn_triage_commit (end of each pass) writes state/sessions and merges
 * this run's logins into state/seen under their locks (re-read first, so
 * `qqnotify seen forget` run meanwhile is kept), and adds the counts to
 * state/tally.  Failures go to the callback.
 *
 * Memory: struct qn_triage is opaque and on the heap (about 1 MiB: the
 * tables and the logins to merge).  Library code: nothing here logs or
 * prints.  One handle per thread.
 */
#ifndef QN_TRIAGE_H
#define QN_TRIAGE_H

#include <stdbool.h>

#include "config.h"
#include "severity.h"
#include "silence.h"
#include "spool.h"
#include "status.h"
#include "tally.h"

/* The start of the reason written to an entry held for the quiet hours. */
#define QN_TRIAGE_QUIET_REASON "quiet hours"
#define QN_TRIAGE_PENDING_MAX  256 /* logins to merge into state/seen before a commit */

enum qn_triage_verdict {
    QN_TRIAGE_MAIL = 0, /* mail it */
    QN_TRIAGE_SILENCED, /* a silence matches: remove, count */
    QN_TRIAGE_KNOWN,    /* notify = new and a known login: remove, count */
    QN_TRIAGE_QUIET,    /* hold until `until` (quiet hours) */
};

struct qn_triage_decision {
    enum qn_triage_verdict verdict;
    enum qn_severity severity;
    char silence[QN_SILENCE_ID_LEN + 1]; /* SILENCED: its id */
    long long until;                     /* QUIET: the end of the quiet hours */
    bool after_quiet;                    /* MAIL: waited through quiet hours */
};

/* A state that could not be read or written: STATE names it ("silences", "seen",
 * "sessions", "tally", or "geoip" with DETAIL the database and libmaxminddb's words). */
typedef void (*qn_triage_report_fn)(void *arg, const char *state, bool writing,
                                    enum qn_status status, int sys_errno, const char *detail);

struct qn_triage;

/*
 * Load the state of SP for a run at NOW with CFG (both must outlive the
 * handle).  Problems go to REPORT (may be NULL).  QN_OK with *RET;
 * QN_ENOMEM, QN_EINVAL.
 */
enum qn_status qn_triage_open(const struct qn_config *cfg, struct qn_spool *sp, long long now,
                              qn_triage_report_fn report, void *arg, struct qn_triage **ret);

/* Free the handle (NULL is fine).  Call qn_triage_commit first to keep the changes. */
void qn_triage_close(struct qn_triage *t);

/* The decision on entry E at NOW, as the file comment says (E's event gets "severity",
 * and a logout "duration").  A message is always MAIL. */
void qn_triage_judge(struct qn_triage *t, struct qn_spool_entry *e, long long now,
                     struct qn_triage_decision *ret);

/* E was removed as D decided (SILENCED, KNOWN): count it, record a login. */
void qn_triage_dropped(struct qn_triage *t, const struct qn_spool_entry *e,
                       const struct qn_triage_decision *d);

/* E's mail was accepted: record a login in the seen table. */
void qn_triage_sent(struct qn_triage *t, const struct qn_spool_entry *e);

/* EV with enrichment into *RET (a copy; EV is not changed).  QN_OK, also when nothing
 * was found. */
enum qn_status qn_triage_enrich(struct qn_triage *t, const struct qn_spool_entry *e,
                                struct qn_event *ret);

/* Save what changed (see the file comment) at NOW. */
void qn_triage_commit(struct qn_triage *t, long long now);

/* This run's counts so far (not yet committed ones included). */
const struct qn_tally *qn_triage_counts(const struct qn_triage *t);

#endif
