/* Pieces shared by the subcommands: configuration, exit codes, reports. */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>
#include <wchar.h>

#include "cli.h"
#include "spawn.h"
#include "spool.h"
#include "spoolowner.h"
#include "status.h"

/*
 * A configuration that tells where the secret comes from (credential_helper,
 * credential_file) should be readable by root and the qqnotify group only:
 * it points every reader at the authorization code.  Group read for the
 * group qqnotify is how the sender (User=qqnotify) reads it, so only other
 * groups and all users are warned about.
 */
static void warn_readable_config(const struct qn_cli *cli)
{
    const struct group *gr;
    char fix[2 * PATH_MAX + 64];
    struct stat st;
    bool other_group, group;

    if ((cli->cfg.credential_helper[0] == '\0' && cli->cfg.credential_file[0] == '\0') ||
        stat(cli->config_path, &st) != 0)
        return;
    gr = getgrgid(st.st_gid);
    other_group = (st.st_mode & S_IRGRP) != 0 && st.st_gid != 0 &&
                  (gr == NULL || strcmp(gr->gr_name, "qqnotify") != 0);
    if ((st.st_mode & S_IROTH) == 0 && !other_group)
        return;
    /* The group qqnotify is named only where it exists (a source build may lack it). */
    group = qn_cli_qqnotify_group_exists();
    qn_cli_format(fix, sizeof(fix),
                  group ? "chown root:qqnotify %s && chmod 0640 %s"
                        : "chown root:root %s && chmod 0600 %s",
                  cli->config_path, cli->config_path);
    qn_log(&cli->log, LOG_WARNING,
           _("%s names where the secret comes from (credential_helper or credential_file) and "
             "can be read by %s; make it readable by %s only: %s"),
           cli->config_path, (st.st_mode & S_IROTH) ? _("every user") : _("another group"),
           group ? _("root and the qqnotify group") : _("root"), fix);
}

bool qn_cli_qqnotify_group_exists(void)
{
    return getgrnam("qqnotify") != NULL;
}

void qn_cli_set_language(const struct qn_cli *cli)
{
    qn_i18n_set_language(cli->lang_arg, cli->cfg.language);
}

int qn_cli_load_config(struct qn_cli *cli)
{
    struct qn_config_error cerr;
    enum qn_status r;

    memset(&cerr, 0, sizeof(cerr));
    r = qn_config_load(&cli->cfg, cli->config_path, &cerr);
    if (r == QN_OK)
        goto out;
    if (r == QN_ENOTFOUND) {
        fprintf(stderr,
                _("qqnotify: configuration file %s does not exist.\n"
                  "  Create it (see qqnotify.conf(5)); the smallest working file is:\n"
                  "    [smtp]\n"
                  "    provider = qq\n"
                  "    user = 123456789@qq.com\n"
                  "    [notify]\n"
                  "    to = you@example.com\n"),
                cli->config_path);
        return QN_EXIT_CONFIG;
    }
    if (r == QN_EIO) {
        fprintf(stderr, _("qqnotify: cannot read configuration file %s: %s\n"), cli->config_path,
                strerror(cerr.sys_errno ? cerr.sys_errno : errno));
        return QN_EXIT_CONFIG;
    }
    if (cerr.line > 0)
        fprintf(stderr, "%s:%u: ", cerr.file, cerr.line);
    else
        fprintf(stderr, "%s: ", cerr.file[0] ? cerr.file : cli->config_path);
    fprintf(stderr, "%s", cerr.what ? _(cerr.what) : _(qn_strerror(r)));
    if (cerr.key[0] != '\0')
        fprintf(stderr, " (%s)", cerr.key);
    if (cerr.value[0] != '\0')
        fprintf(stderr, ": '%s'", cerr.value);
    fputc('\n', stderr);
    if (cerr.fix != NULL)
        fprintf(stderr, _("  fix: %s\n"), _(cerr.fix));
    return QN_EXIT_CONFIG;
out:
    /* The file may choose the language; --lang still wins. */
    qn_cli_set_language(cli);
    warn_readable_config(cli);
    return QN_EXIT_OK;
}

int qn_cli_exit_code(const struct qn_error *err)
{
    switch (err->status) {
    case QN_OK:
        return QN_EXIT_OK;
    case QN_EAUTH:
    case QN_EPERM:
        return QN_EXIT_NOPERM;
    case QN_ENOBUS:
    case QN_ENOSERVICE:
    case QN_ENOKEYRING:
    case QN_ESERVICE:
        return QN_EXIT_UNAVAILABLE; /* as qqnotify-secret says for a secret store */
    case QN_ETLS:
    case QN_EPROTO:
    case QN_ESTARTTLS:
        return QN_EXIT_PROTOCOL;
    case QN_ECONFIG:
    case QN_ECRED:
        return QN_EXIT_CONFIG;
    case QN_EINVAL:
    case QN_ETOOBIG:
        return err->stage == QN_STAGE_LOCAL ? QN_EXIT_DATAERR : QN_EXIT_PROTOCOL;
    case QN_ENOMEM:
        return QN_EXIT_OSERR;
    case QN_EIO:
        return QN_EXIT_IOERR;
    case QN_ERESOLVE:
    case QN_ECONNECT:
    case QN_ETIMEOUT:
    case QN_ETEMPFAIL:
    case QN_EEOF:
    case QN_ELOCKED:
        return QN_EXIT_TEMPFAIL;
    case QN_EREJECT:
    case QN_ENOTFOUND:
        break;
    }
    /* A 5xx that means "slow down" (frequency limits) is temporary. */
    return err->verdict == QN_VERDICT_RETRY ? QN_EXIT_TEMPFAIL : QN_EXIT_UNAVAILABLE;
}

void qn_cli_describe(const struct qn_error *err, char *out, size_t n)
{
    int used;

    used = snprintf(out, n, "%s", _(qn_strerror(err->status)));
    if (used < 0 || (size_t)used >= n)
        return;
    if (err->detail[0] != '\0') {
        used += snprintf(out + used, n - (size_t)used, ": %s", err->detail);
        if ((size_t)used >= n)
            return;
    }
    if (err->smtp_code != 0)
        snprintf(out + used, n - (size_t)used, _(" (server said: %d %s%s%s)"), err->smtp_code,
                 err->enhanced, err->enhanced[0] ? " " : "", err->server_text);
    else if (err->http_status != 0 && err->api_code != 0)
        snprintf(out + used, n - (size_t)used, _(" (answer: HTTP %d, code %lld: %s)"),
                 err->http_status, err->api_code, err->server_text);
    else if (err->http_status != 0)
        snprintf(out + used, n - (size_t)used, _(" (answer: HTTP %d: %s)"), err->http_status,
                 err->server_text);
}

void qn_cli_describe_hook(void *arg, const struct qn_error *err, char *out, size_t n)
{
    (void)arg;
    qn_cli_describe(err, out, n);
}

void qn_cli_report(const struct qn_cli *cli, const struct qn_error *err)
{
    qn_cli_report_for(cli, NULL, err);
}

void qn_cli_report_for(const struct qn_cli *cli, const char *provider, const struct qn_error *err)
{
    const struct qn_diagnosis *d =
        qn_diag_lookup(provider != NULL ? provider : cli->cfg.provider, err);
    char line[QN_ERROR_TEXT_MAX + QN_ERROR_DETAIL_MAX + 128];

    qn_cli_describe(err, line, sizeof(line));
    fprintf(stderr, _("qqnotify: failed at stage %s: %s\n"), _(qn_stage_name(err->stage)), line);
    if (d == NULL)
        return;
    fprintf(stderr, _("  cause: %s\n"), _(d->cause));
    fprintf(stderr, _("  fix:   %s\n"), _(d->fix));
    fprintf(stderr, "  diagnosis: %s\n", d->id);
}

void qn_cli_warn_insecure(const struct qn_cli *cli)
{
    if (!cli->cfg.tls_verify)
        qn_log(&cli->log, LOG_WARNING, "%s",
               _("WARNING: tls_verify = no: the server's certificate is NOT checked; anyone on "
                 "the path can read the authorization code. Remove tls_verify = no."));
}

void qn_cli_format(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (vsnprintf(out, n, fmt, ap) < 0 && n > 0)
        out[0] = '\0';
    va_end(ap);
}

void qn_cli_start_flush(const struct qn_cli *cli)
{
    char config[PATH_MAX];
    enum qn_status r = QN_EIO;

    /* The sender runs with "/" as its directory: give it an absolute path.
     * /proc/self/exe still runs this program after a package upgrade
     * replaced the file (its name then ends in " (deleted)"). */
    if (realpath(cli->config_path, config) != NULL) {
        char *const argv[] = {(char *)"qqnotify", (char *)"-c",      config,
                              (char *)"flush",    (char *)"--quiet", NULL};
        r = qn_spawn_detached("/proc/self/exe", argv, NULL, NULL, NULL);
    }
    if (r != QN_OK)
        qn_log(&cli->log, LOG_WARNING,
               _("cannot start `qqnotify flush` (%s); the entry waits in the spool for the next "
                 "flush"),
               strerror(errno));
}

unsigned long long qn_cli_spool_uid(const struct qn_cli *cli)
{
    struct qn_spoolowner o;
    enum qn_spoolowner_missing missing;

    if (qn_spoolowner_resolve(&cli->cfg.queue, &o, &missing) == QN_OK)
        return o.uid;
    return (unsigned long long)geteuid();
}

int qn_cli_require_queue_access(const struct qn_cli *cli, const char *who)
{
    unsigned long long me = (unsigned long long)geteuid();

    if (me == 0 || me == qn_cli_spool_uid(cli))
        return QN_EXIT_OK;
    fprintf(stderr,
            _("%s: only root and the spool's user (%s) may read the queue %s; run it as root. "
              "Local users submit with `qqnotify notify` and `qqnotify sendmail`, and the "
              "sender delivers what they submit.\n"),
            who, cli->cfg.queue.user, cli->cfg.spool_dir);
    return QN_EXIT_NOPERM;
}

void qn_cli_print_padded(const char *s, int columns)
{
    wchar_t wide[128];
    size_t n = mbstowcs(wide, s, sizeof(wide) / sizeof(wide[0]) - 1);
    int width = -1;

    if (n != (size_t)-1) {
        wide[n] = L'\0';
        width = wcswidth(wide, n);
    }
    if (width < 0)
        width = (int)strlen(s);
    printf("%s%*s", s, width < columns ? columns - width : 0, "");
}
