/*
 * quota — the sending limits' state shared by every sender of one spool.
 *
 * The provider counts every mail of the account, whoever sends it, so the
 * limiter's state (ratelimit.h: the times of the mails and events of the
 * last day, the backoff after a frequency-limit reply) is one file,
 * state/ratelimit in the spool, for `qqnotify flush` and `qqnotify send`
 * alike.  The file is the truth; a process holds a view of it:
 *
 * A chat robot route's platform counts its robot's messages apart: its
 * limits have a state file of their own (qn_quota_set_state), with the
 * same protocol.
 *
 * - qn_quota_load() reads the file into the view (no lock needed: the file
 *   is only ever replaced whole, by rename);
 * - qn_quota_record_*() change the view at once (decisions see them) and
 *   remember the change: a mail sent at T, N events accepted at T, a
 *   frequency-limit reply at T;
 * - qn_quota_commit() takes state/ratelimit.lock (qn_spool_state_lock, a
 *   short flock held for one read and one write, never across network
 *   I/O), reads the file afresh, applies the remembered changes to it in
 *   the order they happened, writes it back atomically
 *   (qn_spool_state_write) and adopts the result as the view.
 *
 * So two senders that commit at the same time never lose each other's
 * mails: the second applies its changes on top of the first's.  Between
 * commits a view lags behind the others' mails; each sender decides from
 * its view, so two senders racing for the last free mail may both send it
 * (at most one mail over per concurrent sender, seen by the next decision).
 *
 * Bounds: at most QN_QUOTA_CHANGES_MAX changes are remembered between
 * commits.  Past that, changes still go into the view and the next commit
 * writes the view as it is instead of merging: other senders' mails since
 * the last commit are then forgotten (erring toward sending, as an
 * unreadable state does).  A sender that commits after each batch of at
 * most a few hundred mails never gets there.
 *
 * A state file that cannot be parsed is treated as empty by
 * qn_quota_load() (which says so: QN_EINVAL) and replaced by the view at
 * the next commit.  Every state read (load and the commit's merge) is
 * clamped at the time of reading (qn_ratelimit_clamp).  A commit that
 * fails (lock held too long, disk full) leaves the view and the remembered
 * changes as they were: the next commit applies them.
 *
 * Memory: struct qn_quota is fixed-size (about 60 KiB: put it on the heap);
 * qn_quota_commit() allocates a second state and a read buffer for the
 * call.  Library code: nothing here logs or exits.  Thread-safety: one
 * struct per thread; processes synchronise through the lock file.
 */
#ifndef QN_QUOTA_H
#define QN_QUOTA_H

#include <stdbool.h>
#include <stddef.h>

#include "ratelimit.h"
#include "spool.h"
#include "status.h"

#define QN_QUOTA_STATE_NAME      "ratelimit" /* state/ratelimit, locked by state/ratelimit.lock */
#define QN_QUOTA_CHANGES_MAX     1024        /* changes remembered between two commits */
#define QN_QUOTA_LOCK_TIMEOUT_MS 5000        /* longest wait for another sender's commit */

enum qn_quota_change_kind {
    QN_QUOTA_SENT = 1, /* one mail sent at t */
    QN_QUOTA_EVENTS,   /* n events accepted at t */
    QN_QUOTA_PENALTY,  /* a frequency-limit reply at t */
};

struct qn_quota_change {
    enum qn_quota_change_kind kind;
    size_t n;
    long long t;
};

struct qn_quota {
    struct qn_ratelimit view; /* read it freely; change it only through qn_quota_record_*() */
    char state[QN_SPOOL_STATE_NAME_MAX]; /* the state file: QN_QUOTA_STATE_NAME by default */
    size_t n_changes;
    bool overflow;            /* more changes than remembered: the next commit writes the view */
    unsigned lock_timeout_ms; /* QN_QUOTA_LOCK_TIMEOUT_MS from qn_quota_init() */
    struct qn_quota_change changes[QN_QUOTA_CHANGES_MAX];
};

/* An empty view, nothing remembered, the default lock timeout, state/ratelimit. */
void qn_quota_init(struct qn_quota *q);

/* Count in state/NAME instead (a chat robot route's limits: route.h); NAME
 * as spool.h's state names.  Before qn_quota_load().  QN_EINVAL when NAME
 * does not fit (the state stays what it was). */
enum qn_status qn_quota_set_state(struct qn_quota *q, const char *name);

/*
 * Replace the view with state/ratelimit, clamped at NOW
 * (qn_ratelimit_clamp: the spool's user can write the file, so no time in
 * it may hold the sender back longer than this module would), and forget
 * the remembered changes.  QN_OK; QN_ENOTFOUND: no state yet, the view is
 * empty (not an error for a caller: nothing was sent); QN_EINVAL: the
 * state is damaged, the view is empty; QN_EIO (errno kept), QN_ETOOBIG,
 * QN_ENOMEM: the view is empty.
 */
enum qn_status qn_quota_load(struct qn_quota *q, struct qn_spool *sp, long long now);

/* Record in the view and remember for the next commit. */
void qn_quota_record_sent(struct qn_quota *q, long long now);
void qn_quota_record_events(struct qn_quota *q, size_t n, long long now);
void qn_quota_penalize(struct qn_quota *q, long long now);

/*
 * Merge the remembered changes into state/ratelimit (see above) at NOW and
 * adopt the merged state as the view.  QN_OK also when nothing was
 * remembered (the view is then refreshed from the file).  QN_ETIMEOUT:
 * another process held the lock for lock_timeout_ms; QN_EIO (errno
 * kept), QN_ENOMEM: nothing written.  A state too large or damaged is
 * replaced by the view.  On failure the view and
 * the changes are unchanged.
 */
enum qn_status qn_quota_commit(struct qn_quota *q, struct qn_spool *sp, long long now);

#endif
