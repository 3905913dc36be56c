/* qqnotify queue: look into the spool and act on entries, like mailq and
 * postqueue.  list | show ID | retry ID|all | drop ID, for root (and the
 * spool's user); init is cli/queue_init.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "spool.h"

#define LIST_MAX 10000 /* entries listed per queue */

static const char *queue_name(enum qn_spool_queue q)
{
    switch (q) {
    case QN_SPOOL_NEW:
        return "new";
    case QN_SPOOL_DEFERRED:
        return "deferred";
    case QN_SPOOL_FAILED:
        return "failed";
    case QN_SPOOL_MAILDROP:
        return "maildrop";
    }
    return "?";
}

static void format_time(long long t, char *out, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (t <= 0 || localtime_r(&tt, &tm) == NULL || strftime(out, n, "%m-%d %H:%M:%S", &tm) == 0)
        snprintf(out, n, "-");
}

static int spool_failure(const struct qn_cli *cli, enum qn_status r)
{
    fprintf(stderr, _("qqnotify queue: spool %s: %s (%s)\n"), cli->cfg.spool_dir, _(qn_strerror(r)),
            strerror(errno));
    return r == QN_EIO ? QN_EXIT_IOERR : QN_EXIT_CONFIG;
}

/* The bound of an entry loaded here: what the sender reads (qmgr.h). */
static size_t entry_bound(const struct qn_cli *cli)
{
    return cli->cfg.max_entry_size + QN_SPOOL_HEADER_MAX;
}

/* What an entry is about, in one short line: its lane, and who sent a user's. */
static void entry_summary(const struct qn_spool_entry *e, char *out, size_t n)
{
    char who[48] = "";

    if (e->origin == QN_ORIGIN_USER)
        qn_cli_format(who, sizeof(who), "uid %llu: ", e->uid);
    if (e->type == QN_SPOOL_MESSAGE) {
        qn_cli_format(out, n, "[%u] %smessage to %s%s (%zu bytes)", (unsigned)e->lane, who,
                      e->rcpt[0], e->n_rcpt > 1 ? ", ..." : "", e->message_len);
        return;
    }
    const char *user = qn_event_get(&e->event, "user");
    const char *rule = qn_event_get(&e->event, "rule");
    qn_cli_format(out, n, "[%u] %s%s %s%s%s", (unsigned)e->lane, who, e->event.kind,
                  e->event.subject[0] ? e->event.subject : "",
                  user ? " user=" : (rule ? " rule=" : ""), user ? user : (rule ? rule : ""));
}

static int cmd_list(struct qn_cli *cli, struct qn_spool *sp)
{
    static const enum qn_spool_queue queues[] = {QN_SPOOL_NEW, QN_SPOOL_DEFERRED, QN_SPOOL_FAILED};
    char(*ids)[QN_SPOOL_ID_MAX] = malloc(sizeof(*ids) * LIST_MAX);
    struct qn_spool_entry *e = calloc(1, sizeof(*e));
    size_t shown = 0;
    int rc = QN_EXIT_OK;

    if (ids == NULL || e == NULL) {
        rc = QN_EXIT_OSERR;
        goto out;
    }
    /* The headings may be Chinese: pad them by screen columns, not bytes. */
    qn_cli_print_padded(_("ID"), 45);
    qn_cli_print_padded(_("QUEUE"), 9);
    qn_cli_print_padded(_("QUEUED"), 15);
    qn_cli_print_padded(_("TRY"), 5);
    qn_cli_print_padded(_("NEXT TRY"), 15);
    printf("%s\n", _("WHAT / LAST ERROR"));
    for (size_t q = 0; q < 3; q++) {
        size_t n = 0, total = 0;
        enum qn_status r = qn_spool_list(sp, queues[q], ids, LIST_MAX, &n, &total);

        if (r != QN_OK) {
            rc = spool_failure(cli, r);
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            char queued[32], next[32], what[160];

            qn_spool_entry_clear(e);
            r = qn_spool_load_head(sp, queues[q], ids[i], entry_bound(cli), e);
            if (r == QN_ENOTFOUND)
                continue;
            if (r != QN_OK) {
                printf("%-44s %-8s %s\n", ids[i], queue_name(queues[q]),
                       _("(unreadable: corrupt or quarantined)"));
                shown++;
                continue;
            }
            format_time(e->queued, queued, sizeof(queued));
            format_time(queues[q] == QN_SPOOL_DEFERRED ? e->next_try : 0, next, sizeof(next));
            entry_summary(e, what, sizeof(what));
            printf("%-44s %-8s %-14s %4u %-14s %s\n", e->id, queue_name(queues[q]), queued,
                   e->attempts, next, what);
            if (e->last_error[0] != '\0')
                printf("%-44s %s%s%s%s\n", "", _("last error: "), e->last_error,
                       e->diagnosis[0] ? "  diagnosis: " : "", e->diagnosis);
            shown++;
        }
        if (total > n)
            printf(_("... and %zu more in %s/\n"), total - n, queue_name(queues[q]));
    }
    {
        size_t n = 0, waiting = 0;

        if (qn_spool_list(sp, QN_SPOOL_MAILDROP, NULL, 0, &n, &waiting) == QN_OK && waiting > 0) {
            printf(_("%zu submission(s) of local users wait in maildrop/ for the sender's "
                     "pickup\n"),
                   waiting);
            shown++;
        }
    }
    if (shown == 0)
        printf(_("The spool is empty.\n"));
out:
    qn_spool_entry_clear(e);
    free(e);
    free(ids);
    return rc;
}

static int cmd_show(const struct qn_cli *cli, struct qn_spool *sp, const char *id)
{
    static const enum qn_spool_queue queues[] = {QN_SPOOL_NEW, QN_SPOOL_DEFERRED, QN_SPOOL_FAILED};
    struct qn_spool_entry *e = calloc(1, sizeof(*e));
    char when[32], reason[QN_SPOOL_ERROR_MAX];
    int rc = QN_EXIT_OK;

    if (e == NULL)
        return QN_EXIT_OSERR;
    if (!qn_spool_id_valid(id)) {
        fprintf(stderr,
                _("qqnotify queue: '%s' is not a spool entry id (see `qqnotify queue "
                  "list`)\n"),
                id);
        rc = QN_EXIT_USAGE;
        goto out;
    }
    for (size_t q = 0; q < 3; q++) {
        enum qn_status r = qn_spool_load_head(sp, queues[q], id, entry_bound(cli), e);
        if (r == QN_ENOTFOUND)
            continue;
        printf(_("id:         %s\nqueue:      %s\n"), id, queue_name(queues[q]));
        if (r != QN_OK) {
            printf(_("state:      unreadable (%s)\n"), _(qn_strerror(r)));
            if (queues[q] == QN_SPOOL_FAILED &&
                qn_spool_reason(sp, id, reason, sizeof(reason)) == QN_OK)
                printf(_("reason:     %s\n"), reason);
            goto out;
        }
        format_time(e->queued, when, sizeof(when));
        printf(_("queued:     %s\nattempts:   %u\n"), when, e->attempts);
        printf(_("lane:       %u (%s)\n"), (unsigned)e->lane,
               e->lane == QN_LANE_LOGIN     ? _("logins")
               : e->lane == QN_LANE_JOURNAL ? _("journal alerts")
                                            : _("users' notifications and mail"));
        if (e->origin == QN_ORIGIN_USER)
            printf(_("from:       local user, uid %llu (maildrop/)\n"), e->uid);
        if (queues[q] == QN_SPOOL_DEFERRED) {
            format_time(e->next_try, when, sizeof(when));
            printf(_("next try:   %s\n"), when);
        }
        if (e->last_error[0] != '\0')
            printf(_("last error: %s\n"), e->last_error);
        if (e->diagnosis[0] != '\0') {
            const struct qn_diagnosis *d = qn_diag_find(e->diagnosis);

            printf("diagnosis:  %s\n", e->diagnosis);
            if (d != NULL)
                printf(_("  cause: %s\n  fix:   %s\n"), _(d->cause), _(d->fix));
        }
        if (e->type == QN_SPOOL_MESSAGE) {
            printf(_("type:       message (%zu bytes) from <%s>\n"), e->message_len, e->sender);
            for (size_t i = 0; i < e->n_rcpt; i++)
                printf(_("recipient:  %s\n"), e->rcpt[i]);
        } else {
            format_time(e->event.time, when, sizeof(when));
            printf(_("type:       event %s on %s at %s\n"), e->event.kind, e->event.host, when);
            if (e->event.subject[0] != '\0')
                printf(_("subject:    %s\n"), e->event.subject);
            for (size_t i = 0; i < e->event.n_fields; i++)
                printf("  %-16s %s\n", e->event.fields[i].key, e->event.fields[i].value);
        }
        goto out;
    }
    fprintf(stderr, _("qqnotify queue: no entry %s in the spool\n"), id);
    rc = QN_EXIT_DATAERR;
out:
    qn_spool_entry_clear(e);
    free(e);
    return rc;
}

/* retry and drop change the queue: they take the sender's lock so that a
 * running flush never sends an entry that is being dropped. */
static int cmd_change(struct qn_cli *cli, struct qn_spool *sp, bool retry, const char *id)
{
    char(*ids)[QN_SPOOL_ID_MAX] = NULL;
    bool locked = false;
    size_t moved = 0;
    enum qn_status r;
    int rc = QN_EXIT_OK;

    r = qn_spool_lock(sp, &locked);
    if (r != QN_OK)
        return spool_failure(cli, r);
    if (!locked) {
        fprintf(stderr, _("qqnotify queue: a flush is running; try again when it has finished\n"));
        return QN_EXIT_TEMPFAIL;
    }
    if (retry && strcmp(id, "all") == 0) {
        ids = malloc(sizeof(*ids) * LIST_MAX);
        if (ids == NULL)
            return QN_EXIT_OSERR;
        for (enum qn_spool_queue q = QN_SPOOL_DEFERRED; q <= QN_SPOOL_FAILED; q++) {
            size_t n = 0;
            if (qn_spool_list(sp, q, ids, LIST_MAX, &n, NULL) != QN_OK)
                continue;
            for (size_t i = 0; i < n; i++)
                if (qn_spool_retry(sp, q, ids[i]) == QN_OK)
                    moved++;
        }
        free(ids);
        printf(_("%zu entr(ies) moved back to new/; run `qqnotify flush` to send them now\n"),
               moved);
        return QN_EXIT_OK;
    }
    if (!qn_spool_id_valid(id)) {
        fprintf(stderr,
                _("qqnotify queue: '%s' is not a spool entry id (see `qqnotify queue "
                  "list`)\n"),
                id);
        return QN_EXIT_USAGE;
    }
    if (retry) {
        r = qn_spool_retry(sp, QN_SPOOL_DEFERRED, id);
        if (r == QN_ENOTFOUND)
            r = qn_spool_retry(sp, QN_SPOOL_FAILED, id);
    } else {
        r = qn_spool_drop(sp, id);
    }
    if (r == QN_ENOTFOUND) {
        fprintf(stderr,
                retry ? _("qqnotify queue: no entry %s in deferred/ or failed/\n")
                      : _("qqnotify queue: no entry %s in the spool\n"),
                id);
        rc = QN_EXIT_DATAERR;
    } else if (r != QN_OK) {
        rc = spool_failure(cli, r);
    } else {
        printf(retry ? _("%s moved back to new/\n") : _("%s dropped\n"), id);
    }
    return rc;
}

int qn_cmd_queue(struct qn_cli *cli, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "list";
    struct qn_spool *sp = NULL;
    enum qn_status r;
    int rc;

    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0) {
        printf(_("Usage: qqnotify queue [list | show ID | retry ID|all | drop ID | init [--dir "
                 "DIR]]\n"));
        return QN_EXIT_OK;
    }
    if (strcmp(sub, "init") == 0)
        return qn_cmd_queue_init(cli, argc - 1, argv + 1);
    if ((strcmp(sub, "list") == 0 && argc > 2) ||
        ((strcmp(sub, "show") == 0 || strcmp(sub, "retry") == 0 || strcmp(sub, "drop") == 0) &&
         argc != 3)) {
        fprintf(stderr, _("qqnotify queue: usage: qqnotify queue [list | show ID | retry ID|all | "
                          "drop ID]\n"));
        return QN_EXIT_USAGE;
    }
    rc = qn_cli_load_config(cli);
    if (rc != QN_EXIT_OK)
        return rc;
    rc = qn_cli_require_queue_access(cli, "qqnotify queue");
    if (rc != QN_EXIT_OK)
        return rc;
    r = qn_spool_open(cli->cfg.spool_dir, 0, 0, &sp);
    if (r != QN_OK)
        return spool_failure(cli, r);
    if (strcmp(sub, "list") == 0)
        rc = cmd_list(cli, sp);
    else if (strcmp(sub, "show") == 0)
        rc = cmd_show(cli, sp, argv[2]);
    else if (strcmp(sub, "retry") == 0)
        rc = cmd_change(cli, sp, true, argv[2]);
    else if (strcmp(sub, "drop") == 0)
        rc = cmd_change(cli, sp, false, argv[2]);
    else {
        fprintf(stderr, _("qqnotify queue: unknown action '%s': use list, show, retry or drop\n"),
                sub);
        rc = QN_EXIT_USAGE;
    }
    qn_spool_close(sp);
    return rc;
}
