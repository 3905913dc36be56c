/*
 * pickup — the sender's side of local submission: what qqnotify-drop left
 * in maildrop/ becomes an entry of the user lane in new/, or is counted
 * past its submitter's cap, or is refused.  Postfix's pickup(8) does the
 * same with its maildrop.
 *
 * Any local user may submit (`qqnotify notify`, `qqnotify sendmail`); the
 * set-group-ID program qqnotify-drop (drop/main.c) is the only way into
 * maildrop/ (the spool user's, group qqnotify-drop, mode 1730: the drop
 * group may create files there but not list them; sticky).  So nobody but
 * root and the spool user can list, read, alter, reorder or remove a
 * submission, the submitter included, and the file's owner, which the
 * kernel sets to whoever ran qqnotify-drop, says who submitted it.
 *
 * What the pickup believes of a submission: nothing but its owner.  Each
 * file (a valid entry id; "<id>.part" files are drop's unfinished ones)
 * is opened O_NOFOLLOW|O_NONBLOCK, must be a regular file with one link,
 * at most [spool] max_entry_size bytes, and a valid entry (spool.h's
 * strict reader).  Then:
 *   - the submitter is the file's owner uid; its name comes from the
 *     passwd database ("uid 1001" when it has none);
 *   - the entry becomes origin user, that uid, lane 2, queued now, no
 *     attempt, no error: every header line the user wrote is replaced;
 *   - an event becomes kind "notify" (a claimed other kind is kept as the
 *     field "kind", first), on this host, at the time of the pickup, with
 *     its subject prefixed "from user NAME: " ("来自用户 NAME：" in Chinese,
 *     [notify] language); the sender gives its mail the From display name
 *     "from user NAME" too (qmgr.h): it can never look like a system alert;
 *   - a message is handed to the REWRITE hook (the CLI's header rewriting,
 *     cli/submission.c), which writes it for the account with the From
 *     display name and the Subject prefix saying "from user NAME", and
 *     finds its recipients; without a hook messages are refused;
 *   - at most [limits] user_max submissions of one uid are queued per
 *     cap_window; the rest are counted and removed (lanes.h), and one
 *     summary says how many;
 *   - a file that is not a valid submission is removed, counted against
 *     its owner's cap like any other, and reported (within the cap) to
 *     ON_REFUSED with the owner and the reason.
 * An accepted submission is written into new/ (qn_spool_add: tmp/, fsync,
 * rename, fsync) before its maildrop file is removed: a crash in between
 * sends it twice, never zero times.  Removals are made durable once per
 * batch (qn_spool_sync).
 *
 * Bounds: at most MAX submissions per call (QN_PICKUP_BATCH_MAX), oldest
 * first; memory: one entry (a message at most max_entry_size) at a time.
 * Library code: nothing here prints, logs or exits.  Thread-safety: one
 * call per spool at a time (the caller holds state/flush.lock).
 */
#ifndef QN_PICKUP_H
#define QN_PICKUP_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "lanes.h"
#include "spool.h"
#include "status.h"

#define QN_PICKUP_BATCH_MAX 500 /* submissions looked at per call */
#define QN_PICKUP_NAME_MAX  72  /* a submitter's name for people, with its NUL */

/* Who submitted: from the kernel (the file's owner), never from the file. */
struct qn_pickup_submitter {
    unsigned long long uid;
    char name[QN_PICKUP_NAME_MAX]; /* "mallory", or "uid 1001" */
    const char *prefix;            /* "from user mallory" in the configured language */
};

/*
 * Rewrite the submitted message in E (its bytes, sender and recipients as
 * the user gave them) for sending from the account: E's message, sender and
 * recipients are replaced (the message with a heap buffer of the hook's;
 * the old one is freed).  On failure WHY (WHY_SIZE bytes) says what is
 * wrong with the submission, in English.  QN_OK, or any status: refused.
 */
typedef enum qn_status (*qn_pickup_rewrite_fn)(void *arg, const struct qn_config *cfg,
                                               const struct qn_pickup_submitter *who,
                                               struct qn_spool_entry *e, char *why,
                                               size_t why_size);

struct qn_pickup_options {
    const struct qn_config *cfg; /* max_entry_size, language, queue.user_max, cap_window */
    struct qn_spool *spool;      /* open, with maildrop/ */
    struct qn_lanes *lanes;      /* the caps */
    long long now;
    size_t max; /* 0: QN_PICKUP_BATCH_MAX */
    qn_pickup_rewrite_fn rewrite;
    /* A submission refused (not counted past the cap): ID, its owner, why (English). */
    void (*on_refused)(void *arg, const char *id, const struct qn_pickup_submitter *who,
                       const char *why);
    void *arg;
};

struct qn_pickup_result {
    size_t accepted; /* written into new/ */
    size_t capped;   /* counted past their submitter's cap and removed */
    size_t refused;  /* not valid submissions: removed */
    size_t left;     /* could not be read or written now (I/O, memory): left for later */
    size_t waiting;  /* submissions in maildrop/ when listed (all, not only this batch) */
};

/*
 * Pick up at most MAX submissions of maildrop/, oldest first, as described
 * above, into *RET (always filled).  QN_OK; QN_ENOTFOUND: the spool has no
 * maildrop/ (nothing to do); QN_EIO: maildrop/ could not be listed (errno
 * kept); QN_EINVAL for missing options.
 */
enum qn_status qn_pickup_run(const struct qn_pickup_options *opt, struct qn_pickup_result *ret);

/* "from user NAME" (EN) or "来自用户 NAME" (ZH, also for QN_LANG_AUTO) into OUT. */
void qn_pickup_prefix(enum qn_lang lang, const char *name, char *out, size_t outsz);

#endif
