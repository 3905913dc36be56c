/*
 * alerts — the alerts the rules raise on the entry being fed, as spool
 * events ready for the writer (writer.h).
 *
 * jw_alerts_add() is the matcher's alert callback (qn_rules_alert_fn): it
 * turns each alert into a "journal" event (event.h) with, most important
 * first, the fields rule, count, unit, message, the pattern's named
 * captures, priority, identifier, suppressed and sample.N (and for an
 * overflow of the rule's key table the subject "distributed brute force:
 * more than N sources in WINDOW (rule R)" and the field overflow = WINDOW,
 * in the configured language), and keeps it
 * until the caller takes the entry's batch (jw_alerts_take) or drops it
 * (jw_alerts_drop: the entry failed or the daemon stops).
 *
 * Ownership: struct jw_alerts belongs to the caller, zeroed to start and
 * released with jw_alerts_free(); N says how many events wait; change it
 * only through these functions.  The events and their array are the
 * module's until jw_alerts_take() hands them over.
 *
 * Errors: QN_ENOMEM from jw_alerts_add() (the matcher then stops the feed
 * and returns it).  Thread-safety: none; the reader's.
 */
#ifndef QN_JW_ALERTS_H
#define QN_JW_ALERTS_H

#include <stddef.h>

#include "event.h"
#include "rules.h"
#include "status.h"

struct jw_alerts {
    struct qn_event **events;
    size_t n;   /* events waiting */
    size_t cap; /* room in EVENTS */
};

/* The alert callback for qn_rules_feed(); CTX is the struct jw_alerts.  QN_OK or QN_ENOMEM. */
enum qn_status jw_alerts_add(void *ctx, const struct qn_rules_alert *alert);

/* The events waiting (malloc'd array of malloc'd events; *RET_N of them), now the caller's,
 * or NULL and 0 when none wait.  A is empty afterwards. */
struct qn_event **jw_alerts_take(struct jw_alerts *a, size_t *ret_n);

/* Free the events waiting. */
void jw_alerts_drop(struct jw_alerts *a);

/* Free the events waiting and the room for them. */
void jw_alerts_free(struct jw_alerts *a);

#endif
