/* qqnotify seen: the first-seen table (common/seen.h) behind `[login] notify
 * = new`: list it, or forget entries so that the next login of a user (from
 * a source) is mailed again.  A command of its own rather than a `queue`
 * action: the table is sender state, not a queue.  Forgetting only ever
 * makes more mail, so whoever may write the spool's state/ may do it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "seen.h"
#include "spool.h"

#define LOCK_TIMEOUT_MS 5000

static void format_time(long long t, char *out, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (localtime_r(&tt, &tm) == NULL || strftime(out, n, "%Y-%m-%d %H:%M", &tm) == 0)
        snprintf(out, n, "@%lld", t);
}

static int failure(const struct qn_cli *cli, enum qn_status r)
{
    if (r == QN_EINVAL) {
        fprintf(stderr,
                _("qqnotify seen: %s/state/%s is damaged (the sender starts it anew and mails "
                  "every login as new); remove it to start again\n"),
                cli->cfg.spool_dir, QN_SEEN_STATE_NAME);
        return QN_EXIT_DATAERR;
    }
    fprintf(stderr, _("qqnotify seen: spool %s: %s (%s); check [spool] dir and its permissions\n"),
            cli->cfg.spool_dir, _(qn_strerror(r)), strerror(errno));
    return r == QN_EIO ? QN_EXIT_IOERR : QN_EXIT_CONFIG;
}

static int cmd_list(const struct qn_cli *cli, const struct qn_seen *t)
{
    (void)cli;
    if (t->n == 0) {
        printf(_("No logins seen yet.\n"));
        return QN_EXIT_OK;
    }
    qn_cli_print_padded(_("USER"), 17);
    qn_cli_print_padded(_("SOURCE"), 46);
    qn_cli_print_padded(_("FIRST"), 17);
    qn_cli_print_padded(_("LAST"), 17);
    printf("%s\n", _("LOGINS"));
    for (size_t i = 0; i < t->n; i++) {
        const struct qn_seen_entry *e = &t->entries[i];
        char first[32], last[32];

        format_time(e->first, first, sizeof(first));
        format_time(e->last, last, sizeof(last));
        printf("%-16s %-45s %-16s %-16s %lu\n", e->user, e->source, first, last, e->count);
    }
    return QN_EXIT_OK;
}

/* "USER" or "USER@SOURCE": the part after the last '@' is a source when it looks like one
 * (a network, an address, SHA256:..., name:..., local); an address becomes its network. */
static void split_target(const char *arg, char *user, size_t usz, char *source, bool *has_source)
{
    const char *at = strrchr(arg, '@');
    struct qn_event ev;

    *has_source = false;
    snprintf(user, usz, "%s", arg);
    if (at == NULL)
        return;
    const char *src = at + 1;
    if (strncmp(src, "SHA256:", 7) == 0 || strncmp(src, "name:", 5) == 0 ||
        strcmp(src, "local") == 0 || strchr(src, '/') != NULL) {
        snprintf(source, QN_SEEN_SOURCE_MAX, "%s", src);
        *has_source = true;
    } else {
        qn_event_init(&ev, "login");
        if (qn_event_set(&ev, "ip", src) == QN_OK && qn_seen_source(&ev, source) == QN_OK)
            *has_source = true;
    }
    if (*has_source)
        snprintf(user, usz, "%.*s", (int)(at - arg), arg);
}

int qn_cmd_seen(struct qn_cli *cli, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "list";
    struct qn_seen *t = NULL;
    struct qn_spool *sp = NULL;
    char user[QN_SEEN_USER_MAX + 64], source[QN_SEEN_SOURCE_MAX];
    bool has_source = false;
    long long now = (long long)time(NULL);
    int lock = -1, rc;
    enum qn_status r;

    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
        printf(_("Usage: qqnotify seen [list]\n"
                 "       qqnotify seen forget USER[@SOURCE]\n"
                 "SOURCE is a network (203.0.113.0/24), an address (made its network), a key "
                 "fingerprint (SHA256:...) or local.\n"));
        return QN_EXIT_OK;
    }
    if (!((strcmp(sub, "list") == 0 && argc <= 2) || (strcmp(sub, "forget") == 0 && argc == 3))) {
        fprintf(stderr, _("Usage: qqnotify seen [list] | qqnotify seen forget USER[@SOURCE]\n"));
        return QN_EXIT_USAGE;
    }
    rc = qn_cli_load_config(cli);
    if (rc != QN_EXIT_OK)
        return rc;
    t = malloc(sizeof(*t));
    if (t == NULL)
        return QN_EXIT_OSERR;
    r = qn_spool_open(cli->cfg.spool_dir, 0, 0, &sp);
    if (r == QN_OK && strcmp(sub, "forget") == 0)
        r = qn_spool_state_lock(sp, QN_SEEN_STATE_NAME, LOCK_TIMEOUT_MS, &lock);
    if (r == QN_OK)
        r = qn_seen_read(sp, t, now);
    if (r == QN_ENOTFOUND)
        r = QN_OK;
    if (r != QN_OK) {
        rc = failure(cli, r);
        goto out;
    }
    if (strcmp(sub, "list") == 0) {
        rc = cmd_list(cli, t);
        goto out;
    }
    split_target(argv[2], user, sizeof(user), source, &has_source);
    size_t n = qn_seen_forget(t, user, has_source ? source : NULL);
    if (n == 0) {
        fprintf(stderr, _("qqnotify seen forget: no entry for %s; see qqnotify seen list\n"),
                argv[2]);
        rc = QN_EXIT_NOINPUT;
        goto out;
    }
    r = qn_seen_write(sp, t);
    if (r != QN_OK) {
        rc = failure(cli, r);
        goto out;
    }
    printf(_("Forgot %zu entries: the next such login is mailed as new.\n"), n);
    rc = QN_EXIT_OK;
out:
    qn_spool_state_unlock(lock);
    qn_spool_close(sp);
    free(t);
    return rc;
}
