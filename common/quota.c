/*
 * quota — see quota.h: the view, the remembered changes and the merge.
 */
#include "quota.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void qn_quota_init(struct qn_quota *q)
{
    snprintf(q->state, sizeof(q->state), "%s", QN_QUOTA_STATE_NAME);
    qn_ratelimit_init(&q->view);
    q->n_changes = 0;
    q->overflow = false;
    q->lock_timeout_ms = QN_QUOTA_LOCK_TIMEOUT_MS;
}

enum qn_status qn_quota_set_state(struct qn_quota *q, const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n >= sizeof(q->state))
        return QN_EINVAL;
    memcpy(q->state, name, n + 1);
    return QN_OK;
}

/* Read the state file NAME into *RL, clamped at NOW (empty on any failure). */
static enum qn_status read_state(struct qn_spool *sp, const char *name, struct qn_ratelimit *rl,
                                 long long now)
{
    char *text = malloc(QN_SPOOL_STATE_MAX + 1);
    size_t len = 0;
    enum qn_status r = QN_ENOMEM;
    int saved;

    qn_ratelimit_init(rl);
    if (text != NULL)
        r = qn_spool_state_read(sp, name, text, QN_SPOOL_STATE_MAX + 1, &len);
    if (r == QN_OK)
        r = qn_ratelimit_load(rl, text, len);
    if (r == QN_OK)
        (void)qn_ratelimit_clamp(rl, now);
    saved = errno;
    free(text);
    errno = saved;
    return r;
}

enum qn_status qn_quota_load(struct qn_quota *q, struct qn_spool *sp, long long now)
{
    q->n_changes = 0;
    q->overflow = false;
    return read_state(sp, q->state, &q->view, now);
}

static void remember(struct qn_quota *q, enum qn_quota_change_kind kind, size_t n, long long t)
{
    if (q->n_changes == QN_QUOTA_CHANGES_MAX) {
        q->overflow = true;
        return;
    }
    q->changes[q->n_changes++] = (struct qn_quota_change){.kind = kind, .n = n, .t = t};
}

static void apply(struct qn_ratelimit *rl, const struct qn_quota_change *c)
{
    switch (c->kind) {
    case QN_QUOTA_SENT:
        qn_ratelimit_record_sent(rl, c->t);
        break;
    case QN_QUOTA_EVENTS:
        qn_ratelimit_record_events(rl, c->n, c->t);
        break;
    case QN_QUOTA_PENALTY:
        qn_ratelimit_penalize(rl, c->t);
        break;
    }
}

void qn_quota_record_sent(struct qn_quota *q, long long now)
{
    remember(q, QN_QUOTA_SENT, 1, now);
    qn_ratelimit_record_sent(&q->view, now);
}

void qn_quota_record_events(struct qn_quota *q, size_t n, long long now)
{
    remember(q, QN_QUOTA_EVENTS, n, now);
    qn_ratelimit_record_events(&q->view, n, now);
}

void qn_quota_penalize(struct qn_quota *q, long long now)
{
    remember(q, QN_QUOTA_PENALTY, 1, now);
    qn_ratelimit_penalize(&q->view, now);
}

enum qn_status qn_quota_commit(struct qn_quota *q, struct qn_spool *sp, long long now)
{
    struct qn_ratelimit *merged = malloc(sizeof(*merged));
    struct qn_buf text;
    enum qn_status r = QN_ENOMEM;
    int lock_fd = -1, saved;

    qn_buf_init(&text, QN_SPOOL_STATE_MAX);
    if (merged == NULL)
        goto out;
    r = qn_spool_state_lock(sp, q->state, q->lock_timeout_ms, &lock_fd);
    if (r != QN_OK)
        goto out;
    r = q->overflow ? QN_EINVAL : read_state(sp, q->state, merged, now);
    if (r == QN_OK || r == QN_ENOTFOUND) {
        for (size_t i = 0; i < q->n_changes; i++)
            apply(merged, &q->changes[i]);
    } else if (r == QN_EINVAL || r == QN_ETOOBIG) {
        /* Damaged, or more happened here than was remembered: this view
         * already holds its own changes and is the best there is. */
        *merged = q->view;
    } else {
        goto out;
    }
    r = qn_ratelimit_save(merged, now, &text);
    if (r == QN_OK)
        r = qn_spool_state_write(sp, q->state, text.data, text.len);
    if (r != QN_OK)
        goto out;
    q->view = *merged;
    q->n_changes = 0;
    q->overflow = false;
out:
    saved = errno;
    qn_spool_state_unlock(lock_fd);
    qn_buf_free(&text);
    free(merged);
    errno = saved;
    return r;
}
