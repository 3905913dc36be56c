/*
 * metrics — the Prometheus text file and the queues' figures: see metrics.h.
 */
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum qn_status qn_queue_stat_read(struct qn_spool *sp, enum qn_spool_queue queue,
                                  struct qn_queue_stat *ret)
{
    static const char *const names[] = {"new", "deferred", "failed"};
    char id[1][QN_SPOOL_ID_MAX];
    size_t n = 0, total = 0;
    enum qn_status r = qn_spool_list(sp, queue, id, 1, &n, &total);

    if (r != QN_OK)
        return r;
    ret->queue = names[queue];
    ret->entries = total;
    /* The id starts with the seconds it was spooled at (enqueue.h). */
    ret->oldest = n > 0 ? strtoll(id[0], NULL, 10) : 0;
    return QN_OK;
}

enum qn_status qn_queue_stats_read(struct qn_spool *sp, struct qn_queue_stat *ret)
{
    static const enum qn_spool_queue queues[QN_METRICS_QUEUES] = {QN_SPOOL_NEW, QN_SPOOL_DEFERRED,
                                                                  QN_SPOOL_FAILED};
    enum qn_status r = QN_OK;

    for (size_t i = 0; r == QN_OK && i < QN_METRICS_QUEUES; i++)
        r = qn_queue_stat_read(sp, queues[i], &ret[i]);
    return r;
}

static enum qn_status family(struct qn_buf *out, const char *name, const char *type,
                             const char *help)
{
    return qn_buf_printf(out, "# HELP qqnotify_%s %s\n# TYPE qqnotify_%s %s\n", name, help, name,
                         type);
}

/* The routes' gauges, one value per route. */
static const struct {
    const char *name, *help;
} gauges[] = {
    {"route_last_success_timestamp_seconds", "When each route last accepted a message (0: never)."},
    {"route_last_failure_timestamp_seconds", "When each route last failed (0: never)."},
    {"route_healthy", "1 while a route is healthy, 0 while alerts fail over from it."},
};

static long long gauge_value(const struct qn_route_health *r, size_t k)
{
    switch (k) {
    case 0:
        return r->last_ok;
    case 1:
        return r->last_fail;
    default:
        return r->down_since == 0 ? 1 : 0;
    }
}

static enum qn_status route_families(const struct qn_health *h, struct qn_buf *out)
{
    enum qn_status r;

    r = family(out, "route_sent_total", "counter", "Messages each route accepted.");
    for (size_t i = 0; r == QN_OK && i < h->n; i++)
        r = qn_buf_printf(out, "qqnotify_route_sent_total{route=\"%s\"} %llu\n", h->route[i].name,
                          h->route[i].sent);
    if (r == QN_OK)
        r = family(out, "route_failures_total", "counter",
                   "Failed attempts of each route, by diagnosis id (qqnotify catalog).");
    for (size_t i = 0; r == QN_OK && i < h->n; i++) {
        for (size_t j = 0; r == QN_OK && j < h->route[i].n_failed; j++)
            r = qn_buf_printf(
                out, "qqnotify_route_failures_total{route=\"%s\",diagnosis=\"%s\"} %llu\n",
                h->route[i].name, h->route[i].failed[j].diagnosis, h->route[i].failed[j].n);
    }
    for (size_t k = 0; r == QN_OK && k < sizeof(gauges) / sizeof(gauges[0]); k++) {
        r = family(out, gauges[k].name, "gauge", gauges[k].help);
        for (size_t i = 0; r == QN_OK && i < h->n; i++)
            r = qn_buf_printf(out, "qqnotify_%s{route=\"%s\"} %lld\n", gauges[k].name,
                              h->route[i].name, gauge_value(&h->route[i], k));
    }
    return r;
}

enum qn_status qn_metrics_format(const struct qn_health *h, const struct qn_queue_stat *queues,
                                 const struct qn_metrics_run *run, long long now,
                                 struct qn_buf *out)
{
    size_t start = out->len;
    enum qn_status r;

    r = family(out, "queue_entries", "gauge", "Entries in each spool queue.");
    for (size_t i = 0; r == QN_OK && i < QN_METRICS_QUEUES; i++)
        r = qn_buf_printf(out, "qqnotify_queue_entries{queue=\"%s\"} %zu\n", queues[i].queue,
                          queues[i].entries);
    if (r == QN_OK)
        r = family(out, "queue_oldest_age_seconds", "gauge",
                   "Age of the oldest entry of each spool queue (0 when empty).");
    for (size_t i = 0; r == QN_OK && i < QN_METRICS_QUEUES; i++) {
        long long age =
            queues[i].entries > 0 && now > queues[i].oldest ? now - queues[i].oldest : 0;

        r = qn_buf_printf(out, "qqnotify_queue_oldest_age_seconds{queue=\"%s\"} %lld\n",
                          queues[i].queue, age);
    }
    if (r == QN_OK)
        r = route_families(h, out);
    if (r == QN_OK)
        r = family(out, "run_timestamp_seconds", "gauge", "When the last flush run ended.");
    if (r == QN_OK)
        r = qn_buf_printf(out, "qqnotify_run_timestamp_seconds %lld\n", run->end);
    if (r == QN_OK)
        r = family(out, "run_ok", "gauge", "1 when the last flush run ended with nothing failing.");
    if (r == QN_OK)
        r = qn_buf_printf(out, "qqnotify_run_ok %d\n", run->ok ? 1 : 0);
    if (r != QN_OK)
        qn_buf_truncate(out, start);
    return r;
}

enum qn_status qn_metrics_write(const char *path, const char *data, size_t len)
{
    char dir[4096], tmp[4096 + 32];
    const char *slash = strrchr(path, '/'), *base;
    int dfd = -1, fd = -1, saved;
    enum qn_status r = QN_EIO;
    size_t done = 0;

    if (path[0] != '/' || slash == NULL || slash[1] == '\0' ||
        (size_t)(slash - path) >= sizeof(dir))
        return QN_EINVAL;
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash == path ? 1 : slash - path] = '\0';
    base = slash + 1;
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", base, (long)getpid());
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        goto out;
    (void)unlinkat(dfd, tmp, 0); /* a leftover of a process with this pid */
    fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        goto out;
    if (fchmod(fd, 0644) != 0)
        goto out_unlink;
    while (done < len) {
        ssize_t w = write(fd, data + done, len - done);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto out_unlink;
        done += (size_t)w;
    }
    if (fsync(fd) != 0)
        goto out_unlink;
    if (close(fd) != 0) {
        fd = -1;
        goto out_unlink;
    }
    fd = -1;
    if (renameat(dfd, tmp, dfd, base) != 0)
        goto out_unlink;
    r = fsync(dfd) == 0 ? QN_OK : QN_EIO;
    goto out;
out_unlink:
    saved = errno;
    (void)unlinkat(dfd, tmp, 0);
    errno = saved;
out:
    saved = errno;
    if (fd >= 0)
        close(fd);
    if (dfd >= 0)
        close(dfd);
    errno = saved;
    return r;
}
