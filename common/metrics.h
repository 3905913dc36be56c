/*
 * metrics — the sender's health for Prometheus: [metrics] textfile
 * (assure.h) in the text exposition format (version 0.0.4) that
 * node_exporter's textfile collector reads, and the queues' depth and age
 * that `qqnotify status` shows too.
 *
 * Families (all "qqnotify_", each with its HELP and TYPE lines, in this
 * order; a route's samples in the order of state/routes, health.h):
 *   qqnotify_queue_entries{queue}                     gauge
 *   qqnotify_queue_oldest_age_seconds{queue}          gauge (0 when empty)
 *   qqnotify_route_sent_total{route}                  counter
 *   qqnotify_route_failures_total{route,diagnosis}    counter
 *   qqnotify_route_last_success_timestamp_seconds{route}  gauge (0: never)
 *   qqnotify_route_last_failure_timestamp_seconds{route}  gauge (0: never)
 *   qqnotify_route_healthy{route}                     gauge 1 or 0
 *   qqnotify_run_timestamp_seconds                    gauge: the run's end
 *   qqnotify_run_ok                                   gauge 1 or 0
 * Label values are route names, diagnosis ids and queue names: no
 * escaping is needed, and health.h guarantees their alphabet.
 *
 * The file is replaced atomically (written beside it as NAME.tmp.PID,
 * which the collector ignores, fsync'd, renamed over it, the directory
 * fsync'd), mode 0644, never following a symbolic link: a scrape sees the
 * previous run or this one, never half of one.
 *
 * Library code: no logging; errors are enum qn_status with errno kept.
 * No globals.  Thread-safe.
 */
#ifndef QN_METRICS_H
#define QN_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "health.h"
#include "spool.h"
#include "status.h"

#define QN_METRICS_MAX    (256 * 1024) /* bytes of the text */
#define QN_METRICS_QUEUES 3            /* new, deferred, failed */

struct qn_queue_stat {
    const char *queue; /* "new", "deferred", "failed" */
    size_t entries;
    long long oldest; /* when its oldest entry was spooled; 0 when empty */
};

struct qn_metrics_run {
    long long end; /* the run's end */
    bool ok;       /* it ended with nothing failing */
};

/* The entries of QUEUE and the time of its oldest (from its id, enqueue.h)
 * into *RET.  QN_OK; QN_EIO (errno kept), QN_ENOMEM. */
enum qn_status qn_queue_stat_read(struct qn_spool *sp, enum qn_spool_queue queue,
                                  struct qn_queue_stat *ret);

/* The three queues into RET[QN_METRICS_QUEUES] (new, deferred, failed). */
enum qn_status qn_queue_stats_read(struct qn_spool *sp, struct qn_queue_stat *ret);

/* Append the text above to OUT, ages counted at NOW.  QN_ETOOBIG, QN_ENOMEM
 * (OUT as it was). */
enum qn_status qn_metrics_format(const struct qn_health *h, const struct qn_queue_stat *queues,
                                 const struct qn_metrics_run *run, long long now,
                                 struct qn_buf *out);

/* Replace PATH (absolute) with LEN bytes of DATA atomically, as above.
 * QN_OK; QN_EINVAL for a relative path; QN_EIO (errno kept). */
enum qn_status qn_metrics_write(const char *path, const char *data, size_t len);

#endif
