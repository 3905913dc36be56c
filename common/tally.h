/*
 * tally — what the sender chose not to mail, counted, so that people still
 * learn of it: events that fell under a silence (silence.h), per silence
 * id, and logins from a known (user, source) under `[login] notify = new`
 * (seen.h); and, for the daily summary's alerts per kind, the events it
 * mailed, by class (severity.h: root_login, sudo, login, ...).  A silenced security event is a
 * fact, not a deletion: the counts live in state/tally until the daily summary takes them, and
 * `qqnotify queue` shows them.
 *
 * Who changes the file.  The sender adds its counts at the end of each pass
 * (qn_tally_commit: lock, read, add, write); the daily summary takes them
 * (qn_tally_take: lock, read, write an empty tally starting now).  Both hold
 * qn_spool_state_lock(sp, QN_TALLY_STATE_NAME) for one read and one write,
 * so no count is lost or given twice between them.
 *
 * State file (state/tally), version 1, '\n' after every line:
 *     qqnotify-tally 1
 *     since 1764180000                 the counts cover events from then on
 *     silenced 3f9a0c1b2d4e 42 FIRST LAST   one line per silence id
 *     silenced-other 7                 ids past QN_TALLY_SILENCES_MAX
 *     known 120 FIRST LAST             logins not mailed as known (optional)
 *     mailed login 12                  events mailed, one line per class that
 *                                      had any, in severity.h's class order
 * COUNT is 1..QN_TALLY_COUNT_MAX, FIRST and LAST the times of the first and
 * last event counted (the events' own times).  Strict: an unknown, repeated
 * or misplaced line, a bad number or id, more than QN_TALLY_SILENCES_MAX
 * ids fail the whole file with QN_EINVAL (qn_tally_commit then starts a new
 * tally from the run's counts: the sender's own counts are never lost).
 * Times are clamped into 0..NOW and FIRST to at most LAST.
 *
 * struct qn_tally is fixed-size (a few KiB) and owns no memory.  Library
 * code: nothing here logs or prints.  Thread-safe (no globals).
 */
#ifndef QN_TALLY_H
#define QN_TALLY_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "severity.h"
#include "silence.h"
#include "spool.h"
#include "status.h"

#define QN_TALLY_SILENCES_MAX 128 /* silence ids counted one by one */
#define QN_TALLY_COUNT_MAX    999999999999ULL
#define QN_TALLY_STATE_NAME   "tally" /* state/tally, locked by state/tally.lock */
#define QN_TALLY_LOCK_MS      2000    /* waiting for the other holder of the lock */
#define QN_TALLY_STATE_MAX    (64 + (QN_TALLY_SILENCES_MAX + 2 + QN_SEVCLASS_COUNT) * 80)

struct qn_tally_count {
    char id[QN_SILENCE_ID_LEN + 1];
    unsigned long long count;
    long long first, last; /* the first and last event counted */
};

struct qn_tally {
    long long since; /* when this tally started (0: never taken) */
    size_t n;
    struct qn_tally_count silenced[QN_TALLY_SILENCES_MAX]; /* in the order first counted */
    unsigned long long silenced_other;                     /* ids past the bound */
    unsigned long long known;                              /* known logins not mailed */
    unsigned long long mailed[QN_SEVCLASS_COUNT];          /* events mailed, by class */
    long long known_first, known_last;
};

/* An empty tally starting at SINCE. */
void qn_tally_init(struct qn_tally *t, long long since);

/* Count one event of time WHEN under silence ID / as a known login. */
void qn_tally_silenced(struct qn_tally *t, const char *id, long long when);
void qn_tally_known(struct qn_tally *t, long long when);
void qn_tally_mailed(struct qn_tally *t, enum qn_severity_class k);

/* The count of silence ID, or NULL when none (or it is among the "other" ones). */
const struct qn_tally_count *qn_tally_get(const struct qn_tally *t, const char *id);

/* True when nothing is counted. */
bool qn_tally_empty(const struct qn_tally *t);

/* Events counted under any silence. */
unsigned long long qn_tally_silenced_total(const struct qn_tally *t);

/* Add ADD's counts to INTO (INTO's since stays). */
void qn_tally_merge(struct qn_tally *into, const struct qn_tally *add);

/* The state text: append to OUT (all or nothing), or parse it (QN_EINVAL as the file
 * comment says, *T then empty with since 0) with times clamped to NOW. */
enum qn_status qn_tally_save(const struct qn_tally *t, struct qn_buf *out);
enum qn_status qn_tally_load(struct qn_tally *t, const char *text, size_t len, long long now);

/* Read state/tally (QN_ENOTFOUND when none: *T empty, since 0). */
enum qn_status qn_tally_read(struct qn_spool *sp, struct qn_tally *t, long long now);

/*
 * Add ADD to state/tally under its lock.  An unreadable file is replaced by a
 * tally of ADD alone starting at NOW (QN_OK: the counts are kept; the old
 * ones were unreadable anyway).  QN_ETIMEOUT (lock), QN_EIO, QN_ENOMEM.
 */
enum qn_status qn_tally_commit(struct qn_spool *sp, const struct qn_tally *add, long long now);

/*
 * For the daily summary: the counts since the last take into *RET, and the
 * file replaced by an empty tally starting at NOW, under the lock.  An
 * unreadable file gives an empty *RET (since NOW) and is replaced too.
 * QN_ETIMEOUT, QN_EIO, QN_ENOMEM (the file is unchanged then).
 */
enum qn_status qn_tally_take(struct qn_spool *sp, struct qn_tally *ret, long long now);

#endif
