/*
 * pass — choose the entries of the sender's next pass: lane first, then
 * age (lanes.h), from new/ and the due part of deferred/, reading only
 * each entry's first bytes (qn_spool_peek), in bounded time and memory.
 *
 * Candidates: the QN_PASS_SCAN_OLD oldest and the QN_PASS_SCAN_NEW newest
 * entries of new/ (a backlog of old entries cannot hide a login that just
 * arrived), and, unless deferred/ is skipped (a stopped run), the
 * QN_PASS_SCAN_OLD oldest of deferred/ whose next try has come.  Each
 * candidate's header is peeked; those whose header cannot be read are
 * returned apart (corrupt: to quarantine, or unreadable: to leave).  The
 * due ones are sorted by (lane, queued, id) and the first MAX kept: a pass
 * takes every due login before any journal alert, and every journal alert
 * before any user's notification, whatever came first.
 *
 * The plan also says what waits: deferred/ entries whose next try has not
 * come, and the queued time of the oldest entry left waiting in new/ or
 * deferred/ (the sender reports an alert that waits too long, qmgr.h).
 *
 * Memory: the plan's arrays are allocated by qn_pass_choose (at most
 * QN_PASS_SCAN_OLD * 2 + QN_PASS_SCAN_NEW ids and heads, about 1.5 MiB)
 * and freed by qn_pass_free.  Library code: nothing here prints or logs.
 * Thread-safety: one plan per thread.
 */
#ifndef QN_PASS_H
#define QN_PASS_H

#include <stdbool.h>
#include <stddef.h>

#include "spool.h"
#include "status.h"

#define QN_PASS_SCAN_OLD 5000 /* oldest entries of new/ and of deferred/ looked at */
#define QN_PASS_SCAN_NEW 1000 /* newest entries of new/ looked at besides */

struct qn_pass_pick {
    struct qn_spool_head head;
    enum qn_spool_queue from;
};

/* An entry whose header could not be read: STATUS QN_EINVAL (corrupt), else I/O. */
struct qn_pass_bad {
    char id[QN_SPOOL_ID_MAX];
    enum qn_spool_queue from;
    enum qn_status status;
    int sys_errno;
};

struct qn_pass_plan {
    struct qn_pass_pick *picks; /* n_picks due entries, lane then age */
    size_t n_picks;
    struct qn_pass_bad *bad; /* n_bad entries whose header could not be read */
    size_t n_bad;
    size_t due;               /* due entries found (n_picks of them kept) */
    size_t waiting;           /* deferred/ entries looked at whose next try is to come */
    long long oldest_waiting; /* queued time of the oldest entry looked at and not kept, 0 */
    size_t listed_new, listed_deferred; /* entries in new/ and deferred/ (all, not only seen) */
};

/*
 * Plan a pass of at most MAX entries at NOW (see above) into *RET, which
 * the caller frees with qn_pass_free (also after a failure).  DEFERRED
 * false: new/ only.  An entry larger than MAX_SIZE is bad (QN_ETOOBIG).  QN_OK; QN_EIO: a queue
 * could not be listed (errno kept: *RET holds what was planned before); QN_ENOMEM; QN_EINVAL.
 */
enum qn_status qn_pass_choose(struct qn_spool *sp, long long now, bool deferred, size_t max,
                              size_t max_size, struct qn_pass_plan *ret);

void qn_pass_free(struct qn_pass_plan *plan);

#endif
