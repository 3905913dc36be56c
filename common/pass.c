/*
 * pass — a sender pass chosen by lane, then age; contract in pass.h.
 */
#include "pass.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CANDIDATES_MAX (2 * QN_PASS_SCAN_OLD + QN_PASS_SCAN_NEW)

void qn_pass_free(struct qn_pass_plan *plan)
{
    if (plan == NULL)
        return;
    free(plan->picks);
    free(plan->bad);
    memset(plan, 0, sizeof(*plan));
}

static int by_lane_then_age(const void *a, const void *b)
{
    const struct qn_pass_pick *x = a, *y = b;

    if (x->head.lane != y->head.lane)
        return x->head.lane < y->head.lane ? -1 : 1;
    if (x->head.queued != y->head.queued)
        return x->head.queued < y->head.queued ? -1 : 1;
    return strcmp(x->head.id, y->head.id);
}

static void note_waiting(struct qn_pass_plan *p, long long queued)
{
    if (p->oldest_waiting == 0 || queued < p->oldest_waiting)
        p->oldest_waiting = queued > 0 ? queued : 1;
}

/* Peek ID of FROM into the plan: a due pick, a waiting one, or a bad one. */
static void consider(struct qn_spool *sp, enum qn_spool_queue from, const char *id, long long now,
                     size_t max_size, struct qn_pass_plan *p)
{
    struct qn_pass_pick *pick = &p->picks[p->n_picks];
    enum qn_status r = qn_spool_peek(sp, from, id, max_size, &pick->head);

    if (r == QN_ENOTFOUND)
        return; /* gone meanwhile */
    if (r != QN_OK) {
        struct qn_pass_bad *b = &p->bad[p->n_bad++];

        memcpy(b->id, id, strlen(id) + 1);
        b->from = from;
        b->status = r;
        b->sys_errno = errno;
        return;
    }
    if (from == QN_SPOOL_DEFERRED && pick->head.next_try > now) {
        p->waiting++;
        note_waiting(p, pick->head.queued);
        return;
    }
    pick->from = from;
    p->n_picks++;
    p->due++;
}

/* The ids to look at in new/: the oldest, and the newest not among them. */
static enum qn_status list_new(struct qn_spool *sp, char (*ids)[QN_SPOOL_ID_MAX], size_t *ret_n,
                               size_t *ret_total)
{
    size_t n_old = 0, n_new = 0, total = 0;
    enum qn_status r;

    r = qn_spool_list(sp, QN_SPOOL_NEW, ids, QN_PASS_SCAN_OLD, &n_old, &total);
    if (r == QN_OK && total > n_old) {
        size_t skip;

        r = qn_spool_list_newest(sp, QN_SPOOL_NEW, ids + n_old, QN_PASS_SCAN_NEW, &n_new, NULL);
        /* Entries may have come and gone between the listings: drop newest ones that the
         * oldest already hold (both are sorted; the newest start after the oldest end). */
        for (skip = 0; r == QN_OK && skip < n_new && n_old > 0 &&
                       strcmp(ids[n_old + skip], ids[n_old - 1]) <= 0;
             skip++)
            ;
        if (skip > 0 && skip <= n_new)
            memmove(ids + n_old, ids + n_old + skip, (n_new - skip) * sizeof(ids[0]));
        n_new -= skip <= n_new ? skip : n_new;
    }
    *ret_n = n_old + n_new;
    *ret_total = total;
    return r;
}

enum qn_status qn_pass_choose(struct qn_spool *sp, long long now, bool deferred, size_t max,
                              size_t max_size, struct qn_pass_plan *ret)
{
    char(*ids)[QN_SPOOL_ID_MAX] = NULL;
    enum qn_status r = QN_ENOMEM;
    size_t n = 0, total = 0;

    if (ret == NULL)
        return QN_EINVAL;
    memset(ret, 0, sizeof(*ret));
    if (sp == NULL)
        return QN_EINVAL;
    ids = malloc(sizeof(*ids) * CANDIDATES_MAX);
    ret->picks = malloc(sizeof(*ret->picks) * CANDIDATES_MAX);
    ret->bad = malloc(sizeof(*ret->bad) * CANDIDATES_MAX);
    if (ids == NULL || ret->picks == NULL || ret->bad == NULL)
        goto out;
    r = list_new(sp, ids, &n, &total);
    if (r != QN_OK)
        goto out;
    ret->listed_new = total;
    for (size_t i = 0; i < n; i++)
        consider(sp, QN_SPOOL_NEW, ids[i], now, max_size, ret);
    if (deferred) {
        r = qn_spool_list(sp, QN_SPOOL_DEFERRED, ids, QN_PASS_SCAN_OLD, &n, &total);
        if (r != QN_OK)
            goto out;
        ret->listed_deferred = total;
        for (size_t i = 0; i < n; i++)
            consider(sp, QN_SPOOL_DEFERRED, ids[i], now, max_size, ret);
    }
    qsort(ret->picks, ret->n_picks, sizeof(*ret->picks), by_lane_then_age);
    /* What does not fit in this pass waits for the next. */
    for (size_t i = max; i < ret->n_picks; i++)
        note_waiting(ret, ret->picks[i].head.queued);
    if (ret->n_picks > max)
        ret->n_picks = max;
    r = QN_OK;
out:
    free(ids);
    return r;
}
