/*
 * pickup — maildrop/ submissions into the user lane; contract in pickup.h.
 */
#include "pickup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

static bool is_zh(enum qn_lang lang)
{
    return lang != QN_LANG_EN; /* render.h: auto means Chinese */
}

void qn_pickup_prefix(enum qn_lang lang, const char *name, char *out, size_t outsz)
{
    snprintf(out, outsz, is_zh(lang) ? "来自用户 %s" : "from user %s", name);
}

/*
 * E's event as a user's notification (pickup.h): kind "notify", this host,
 * the pickup's time, the subject prefixed with who sent it, the claimed kind
 * as the first field when it was another, then the user's own fields (as
 * many as fit after it; a field of the user's called "kind" is replaced).
 */
static void normalize_event(struct qn_event *ev, const struct qn_pickup_submitter *who,
                            enum qn_lang lang, long long now)
{
    struct qn_event *user = malloc(sizeof(*user));
    char subject[QN_PICKUP_NAME_MAX + 32 + QN_EVENT_SUBJECT_MAX];
    bool claimed;

    if (user == NULL) {
        /* Keep nothing of the user's but who they are. */
        qn_event_init(ev, "notify");
        ev->time = now;
        qn_event_set_subject(ev, who->prefix);
        return;
    }
    *user = *ev;
    qn_event_init(ev, "notify");
    ev->time = now;
    if (user->subject[0] != '\0')
        snprintf(subject, sizeof(subject), "%s%s%s", who->prefix, is_zh(lang) ? "：" : ": ",
                 user->subject);
    else
        snprintf(subject, sizeof(subject), "%s", who->prefix);
    qn_event_set_subject(ev, subject);
    claimed = user->kind[0] != '\0' && strcmp(user->kind, "notify") != 0;
    if (claimed)
        qn_event_set(ev, "kind", user->kind);
    for (size_t i = 0; i < user->n_fields && ev->n_fields < QN_EVENT_FIELDS_MAX; i++) {
        if (!(claimed && strcmp(user->fields[i].key, "kind") == 0))
            qn_event_set(ev, user->fields[i].key, user->fields[i].value);
    }
    free(user);
}

/* Make E a user entry of WHO (every header line replaced), its content as pickup.h says. */
static enum qn_status accept(const struct qn_pickup_options *opt,
                             const struct qn_pickup_submitter *who, struct qn_spool_entry *e,
                             char *why, size_t why_size)
{
    e->origin = QN_ORIGIN_USER;
    e->uid = who->uid;
    e->lane = QN_LANE_USER;
    e->queued = opt->now;
    e->attempts = 0;
    e->next_try = 0;
    e->last_error[0] = '\0';
    e->diagnosis[0] = '\0';
    if (e->type == QN_SPOOL_EVENT) {
        normalize_event(&e->event, who, opt->cfg->language, opt->now);
        return QN_OK;
    }
    if (opt->rewrite == NULL) {
        snprintf(why, why_size, "messages cannot be taken here");
        return QN_EINVAL;
    }
    return opt->rewrite(opt->arg, opt->cfg, who, e, why, why_size);
}

static void refused(const struct qn_pickup_options *opt, const char *id,
                    const struct qn_pickup_submitter *who, const char *why)
{
    char line[160];

    /* The reason may quote the user's bytes (a bad recipient): one clean line. */
    qn_text_sanitize_line(why, strlen(why), line, sizeof(line));
    if (opt->on_refused != NULL)
        opt->on_refused(opt->arg, id, who, line);
}

static const char *load_why(enum qn_status r)
{
    if (r == QN_ETOOBIG)
        return "larger than [spool] max_entry_size";
    return "not a valid entry (malformed, not a regular file, or more than one link)";
}

/* One submission ID.  Returns true when its file was removed. */
static bool pick_one(const struct qn_pickup_options *opt, const char *id, struct qn_spool_entry *e,
                     struct qn_pickup_result *res)
{
    struct qn_pickup_submitter who;
    char key[QN_LANES_KEY_MAX], prefix[QN_PICKUP_NAME_MAX + 32], why[160] = "";
    enum qn_status r;

    memset(&who, 0, sizeof(who));
    r = qn_spool_owner(opt->spool, QN_SPOOL_MAILDROP, id, &who.uid);
    if (r == QN_ENOTFOUND)
        return false;
    if (r != QN_OK) {
        res->left++;
        return false;
    }
    qn_lanes_user_name(who.uid, who.name, sizeof(who.name));
    qn_pickup_prefix(opt->cfg->language, who.name, prefix, sizeof(prefix));
    who.prefix = prefix;

    qn_spool_entry_clear(e);
    r = qn_spool_load(opt->spool, QN_SPOOL_MAILDROP, id, opt->cfg->max_entry_size, e);
    if (r == QN_ENOTFOUND)
        return false;
    if (r != QN_OK && r != QN_EINVAL && r != QN_ETOOBIG) {
        res->left++;
        return false;
    }
    /* Counted against the cap whatever it holds: garbage floods no more than mail does. */
    qn_lanes_uid_key(who.uid, key);
    if (qn_lanes_admit(opt->lanes, QN_LANE_USER, key, opt->cfg->queue.user_max,
                       opt->cfg->queue.cap_window_s, opt->now) == QN_LANES_OVER) {
        res->capped++;
        return qn_spool_discard(opt->spool, QN_SPOOL_MAILDROP, id) == QN_OK;
    }
    if (r == QN_OK)
        r = accept(opt, &who, e, why, sizeof(why));
    else
        snprintf(why, sizeof(why), "%s", load_why(r));
    if (r == QN_ENOMEM || r == QN_EIO) {
        res->left++;
        return false;
    }
    if (r != QN_OK) {
        res->refused++;
        refused(opt, id, &who, why[0] ? why : qn_strerror(r));
        return qn_spool_discard(opt->spool, QN_SPOOL_MAILDROP, id) == QN_OK;
    }
    r = qn_spool_add(opt->spool, e, opt->cfg->max_entry_size + QN_SPOOL_HEADER_MAX, NULL);
    if (r == QN_ETOOBIG || r == QN_EINVAL) {
        res->refused++;
        refused(opt, id, &who,
                r == QN_ETOOBIG ? "larger than [spool] max_entry_size once written for the account"
                                : "not a valid entry once rewritten");
        return qn_spool_discard(opt->spool, QN_SPOOL_MAILDROP, id) == QN_OK;
    }
    if (r != QN_OK) {
        res->left++;
        return false;
    }
    /* In new/ now: removing the submission can only fail to a duplicate. */
    res->accepted++;
    return qn_spool_discard(opt->spool, QN_SPOOL_MAILDROP, id) == QN_OK;
}

enum qn_status qn_pickup_run(const struct qn_pickup_options *opt, struct qn_pickup_result *ret)
{
    char(*ids)[QN_SPOOL_ID_MAX] = NULL;
    struct qn_spool_entry *e = NULL;
    size_t max, n = 0, total = 0, removed = 0;
    enum qn_status r;

    if (ret == NULL)
        return QN_EINVAL;
    memset(ret, 0, sizeof(*ret));
    if (opt == NULL || opt->cfg == NULL || opt->spool == NULL || opt->lanes == NULL)
        return QN_EINVAL;
    max = opt->max != 0 ? opt->max : QN_PICKUP_BATCH_MAX;
    ids = malloc(sizeof(*ids) * max);
    e = calloc(1, sizeof(*e));
    r = QN_ENOMEM;
    if (ids == NULL || e == NULL)
        goto out;
    r = qn_spool_list(opt->spool, QN_SPOOL_MAILDROP, ids, max, &n, &total);
    if (r == QN_EINVAL) {
        r = QN_ENOTFOUND; /* no maildrop/ in this spool */
        goto out;
    }
    if (r != QN_OK)
        goto out;
    ret->waiting = total;
    for (size_t i = 0; i < n; i++) {
        if (pick_one(opt, ids[i], e, ret))
            removed++;
        qn_spool_entry_clear(e);
    }
    /* The removals, durable once for the batch (pickup.h). */
    if (removed > 0)
        (void)qn_spool_sync(opt->spool, QN_SPOOL_MAILDROP);
    r = QN_OK;
out:
    qn_spool_entry_clear(e);
    free(e);
    free(ids);
    return r;
}
