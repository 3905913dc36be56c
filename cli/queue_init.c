/*
 * qqnotify queue init [--dir DIR]: make the spool named in the
 * configuration (or DIR) with the owners and modes of spoolowner.h, for
 * source installs, containers and tests (the packages use tmpfiles.d).
 * Idempotent: what is right is left alone, what is missing is made.  A
 * spool any directory of which has another owner, group or mode is not
 * touched: each is named with what it is, what it must be, and the exact
 * command that fixes it (naming only users and groups that exist).  It also
 * says whether the drop program is installed as it must be.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "spoolowner.h"

/* A user's name, or its number when it has none. */
static void user_name(unsigned long long uid, char *out, size_t n)
{
    const struct passwd *pw = getpwuid((uid_t)uid);

    if (pw != NULL)
        snprintf(out, n, "%s", pw->pw_name);
    else
        snprintf(out, n, "%llu", uid);
}

static void group_name(unsigned long long gid, char *out, size_t n)
{
    const struct group *gr = getgrgid((gid_t)gid);

    if (gr != NULL)
        snprintf(out, n, "%s", gr->gr_name);
    else
        snprintf(out, n, "%llu", gid);
}

/* DIR joined with the finding's name ("." is DIR itself). */
static void path_of(const char *dir, const struct qn_spoolowner_finding *f, char *out, size_t n)
{
    if (strcmp(f->name, ".") == 0)
        qn_cli_format(out, n, "%s", dir);
    else
        qn_cli_format(out, n, "%s/%s", dir, f->name);
}

static int missing_owner(const struct qn_cli *cli, enum qn_spoolowner_missing missing)
{
    if (missing == QN_SPOOLOWNER_NO_USER)
        fprintf(stderr,
                _("qqnotify queue init: the spool's user %s ([spool] user) does not exist; "
                  "nothing was changed.\n"
                  "  fix: systemd-sysusers (with the package's sysusers.d file), or: useradd "
                  "--system --user-group --home-dir / --shell /usr/sbin/nologin %s\n"),
                cli->cfg.queue.user, cli->cfg.queue.user);
    else
        fprintf(stderr,
                _("qqnotify queue init: the drop group %s ([spool] drop_group) does not exist; "
                  "nothing was changed.\n"
                  "  fix: systemd-sysusers (with the package's sysusers.d file), or: groupadd "
                  "--system %s\n"),
                cli->cfg.queue.drop_group, cli->cfg.queue.drop_group);
    return QN_EXIT_CONFIG;
}

/* One line per directory; the fixes of the wrong ones.  Returns how many are wrong. */
static size_t report(const char *dir, const struct qn_spoolowner *o,
                     const struct qn_spoolowner_report *rep)
{
    size_t wrong = 0;

    for (size_t i = 0; i < rep->n; i++) {
        const struct qn_spoolowner_finding *f = &rep->dirs[i];
        char path[4200], want_owner[80], want_group[80], have_owner[80], have_group[80];

        path_of(dir, f, path, sizeof(path));
        user_name(f->want_uid, want_owner, sizeof(want_owner));
        group_name(f->want_gid, want_group, sizeof(want_group));
        switch (f->state) {
        case QN_SPOOLOWNER_OK:
            printf(_("  ok       %s  %s:%s %04o\n"), path, want_owner, want_group, f->want_mode);
            break;
        case QN_SPOOLOWNER_CREATED:
            printf(_("  created  %s  %s:%s %04o\n"), path, want_owner, want_group, f->want_mode);
            break;
        case QN_SPOOLOWNER_ABSENT:
            printf(_("  missing  %s  (to be %s:%s %04o)\n"), path, want_owner, want_group,
                   f->want_mode);
            break;
        case QN_SPOOLOWNER_WRONG:
            wrong++;
            user_name(f->have_uid, have_owner, sizeof(have_owner));
            group_name(f->have_gid, have_group, sizeof(have_group));
            printf(_("  WRONG    %s  is %s:%s %04o, must be %s:%s %04o\n"
                     "           fix: chown %s:%s %s && chmod %04o %s\n"),
                   path, have_owner, have_group, f->have_mode, want_owner, want_group, f->want_mode,
                   o->user, f->want_gid == o->drop_gid ? o->drop_group : o->group, path,
                   f->want_mode, path);
            break;
        case QN_SPOOLOWNER_NOT_DIR:
            wrong++;
            printf(_("  WRONG    %s  is not a directory (a symbolic link or a file)\n"
                     "           fix: look at it, remove it (rm %s), and run `qqnotify queue "
                     "init` again\n"),
                   path, path);
            break;
        case QN_SPOOLOWNER_FAILED:
            wrong++;
            printf(_("  FAILED   %s  %s\n"), path, strerror(f->sys_errno));
            break;
        }
    }
    return wrong;
}

/* The drop program must be root's, of the drop group, set-group-ID, writable by root only. */
static void check_drop(const struct qn_spoolowner *o)
{
    const char *drop = qn_cli_drop_program();
    struct stat st;

    if (stat(drop, &st) != 0) {
        printf(_("  note     the drop program %s: %s; local users cannot submit until it is "
                 "installed (make install, or the package)\n"),
               drop, strerror(errno));
        return;
    }
    if (st.st_uid == 0 && (unsigned long long)st.st_gid == o->drop_gid && (st.st_mode & S_ISGID) &&
        !(st.st_mode & S_ISUID) && !(st.st_mode & (S_IWGRP | S_IWOTH)))
        printf(_("  ok       %s  root:%s %04o (set-group-ID)\n"), drop, o->drop_group,
               (unsigned)(st.st_mode & 07777));
    else
        printf(_("  WRONG    %s  must be root:%s 2755 for local users to submit\n"
                 "           fix: chown root:%s %s && chmod 2755 %s\n"),
               drop, o->drop_group, o->drop_group, drop, drop);
}

int qn_cmd_queue_init(struct qn_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct qn_spoolowner o;
    struct qn_spoolowner_report rep;
    enum qn_spoolowner_missing missing;
    const char *dir = NULL;
    enum qn_status r;
    size_t wrong;
    int c, rc;

    optind = 0;
    while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            dir = optarg;
            break;
        case 'h':
            printf(_("Usage: qqnotify queue init [--dir DIR]\n"
                     "Makes the spool (or DIR) with its owners and modes; as root.\n"));
            return QN_EXIT_OK;
        default:
            return QN_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, _("qqnotify queue init: unexpected argument '%s'\n"), argv[optind]);
        return QN_EXIT_USAGE;
    }
    if (dir != NULL && dir[0] != '/') {
        fprintf(stderr, _("qqnotify queue init: --dir needs an absolute path, not '%s'\n"), dir);
        return QN_EXIT_USAGE;
    }
    if (!cli->config_explicit && access(cli->config_path, F_OK) != 0 && errno == ENOENT) {
        qn_config_defaults(&cli->cfg); /* no configuration yet: the defaults' spool */
    } else {
        rc = qn_cli_load_config(cli);
        if (rc != QN_EXIT_OK)
            return rc;
    }
    if (dir == NULL)
        dir = cli->cfg.spool_dir;
    r = qn_spoolowner_resolve(&cli->cfg.queue, &o, &missing);
    if (r == QN_ENOTFOUND)
        return missing_owner(cli, missing);
    if (r != QN_OK) {
        fprintf(stderr, _("qqnotify queue init: cannot look up %s and %s: %s\n"),
                cli->cfg.queue.user, cli->cfg.queue.drop_group, strerror(errno));
        return QN_EXIT_OSERR;
    }
    /* The spool's user itself may make a spool of its own (a personal or a test spool). */
    if (geteuid() != 0 && (unsigned long long)geteuid() != o.uid) {
        fprintf(stderr,
                _("qqnotify queue init: run it as root: it gives the spool to %s and maildrop/ "
                  "to the group %s\n"),
                cli->cfg.queue.user, cli->cfg.queue.drop_group);
        return QN_EXIT_NOPERM;
    }
    if (o.uid == 0) {
        fprintf(stderr,
                _("qqnotify queue init: [spool] user must not be root: the sender runs as that "
                  "user; nothing was changed.\n"));
        return QN_EXIT_CONFIG;
    }
    r = qn_spoolowner_init(dir, &o, &rep);
    printf(_("qqnotify queue init: %s\n"), dir);
    wrong = report(dir, &o, &rep);
    check_drop(&o);
    if (r == QN_ECONFIG) {
        fprintf(stderr,
                _("qqnotify queue init: refusing to change %s: %zu director(ies) have another "
                  "owner, group or mode (see above); nothing was changed. Run the fixes, then "
                  "`qqnotify queue init` again.\n"),
                dir, wrong);
        return QN_EXIT_CONFIG;
    }
    if (r != QN_OK) {
        fprintf(stderr, _("qqnotify queue init: cannot make %s (see above)\n"), dir);
        return r == QN_EINVAL ? QN_EXIT_USAGE : QN_EXIT_CANTCREAT;
    }
    return QN_EXIT_OK;
}
