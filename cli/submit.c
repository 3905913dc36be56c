/*
 * Submitting for any local user: `qqnotify notify` and `qqnotify sendmail`
 * hand their entry to the set-group-ID qqnotify-drop (drop/main.c), which
 * puts it into the spool's maildrop/; the sender picks it up (pickup.h).
 * This side runs as the user: it reads the configuration when it can (a
 * user who may not read it submits with the defaults), explains a failure
 * of the drop program in the user's language from its exit status, and
 * starts the sender only for root (a user's -c/-C never reaches a
 * privileged process: the path unit or the timer starts the sender).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "spawn.h"

#ifndef QN_DROP_PATH
#define QN_DROP_PATH "/usr/libexec/qqnotify/qqnotify-drop" /* the build passes LIBEXECDIR */
#endif
#define DROP_TIMEOUT_MS 60000 /* writing one entry and two fsyncs; a stuck disk gives up */
#define DROP_ENV_NAME   "QQNOTIFY_DROP"

const char *qn_cli_drop_program(void)
{
    const char *p = getenv(DROP_ENV_NAME);

    return p != NULL && p[0] == '/' ? p : QN_DROP_PATH;
}

bool qn_cli_may_start_sender(void)
{
    return getuid() == 0 && geteuid() == 0;
}

int qn_cli_load_config_submit(struct qn_cli *cli)
{
    if (!cli->config_explicit && getuid() != 0 && access(cli->config_path, R_OK) != 0 &&
        errno == EACCES) {
        /* Readable by root and the sender only: submit with the defaults (the spool's
         * place and size bound), which is all a submission needs. */
        qn_config_defaults(&cli->cfg);
        qn_cli_set_language(cli);
        return QN_EXIT_OK;
    }
    return qn_cli_load_config(cli);
}

/* Explain the drop program's exit status CODE (its own line is in ERRORS). */
static int explain(const struct qn_cli *cli, const char *who, const char *drop, int code,
                   const char *errors)
{
    const char *dir = cli->cfg.spool_dir;

    if (errors[0] != '\0')
        fprintf(stderr, "%s", errors);
    switch (code) {
    case QN_EXIT_CANTCREAT:
        fprintf(stderr,
                _("%s: the spool %s has no maildrop/ that accepts submissions, or %s is not "
                  "installed set-group-ID; nothing was queued.\n"
                  "  fix: as root, run `qqnotify queue init` (it says what to change), and "
                  "install the drop program root:qqnotify-drop mode 2755\n"),
                who, dir, drop);
        return QN_EXIT_CANTCREAT;
    case QN_EXIT_DATAERR:
        fprintf(stderr,
                _("%s: the spool refused the entry (larger than the drop program takes, or "
                  "malformed); nothing was queued.\n"),
                who);
        return QN_EXIT_DATAERR;
    case QN_EXIT_TEMPFAIL:
        fprintf(stderr,
                _("%s: no space left for the spool %s; nothing was queued.\n"
                  "  fix: free disk space (or quota) on its file system, then send again\n"),
                who, dir);
        return QN_EXIT_TEMPFAIL;
    case QN_EXIT_OSERR:
        fprintf(stderr, _("%s: the drop program ran out of memory; nothing was queued.\n"), who);
        return QN_EXIT_OSERR;
    default:
        fprintf(stderr, _("%s: the drop program %s failed (exit %d); nothing was queued.\n"), who,
                drop, code);
        return code == QN_EXIT_USAGE ? QN_EXIT_SOFTWARE : QN_EXIT_IOERR;
    }
}

int qn_cli_submit(const struct qn_cli *cli, const char *who, const struct qn_buf *entry,
                  char *ret_id)
{
    const char *drop = qn_cli_drop_program();
    char out[QN_SPOOL_ID_MAX + 2], errors[512];
    char *const argv[] = {(char *)"qqnotify-drop", (char *)cli->cfg.spool_dir, NULL};
    char *const envp[] = {(char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    struct qn_spawn_program p = {.path = drop,
                                 .argv = argv,
                                 .envp = envp,
                                 .input = entry->data != NULL ? entry->data : "",
                                 .input_len = entry->len,
                                 .output = out,
                                 .output_cap = sizeof(out) - 1,
                                 .errors = errors,
                                 .errors_size = sizeof(errors),
                                 .timeout_ms = DROP_TIMEOUT_MS};
    struct qn_spawn_result res;
    enum qn_status r;
    size_t n;

    errors[0] = '\0';
    r = qn_spawn_run(&p, &res);
    if (r != QN_OK) {
        if (r == QN_EIO && res.failed_step == QN_SPAWN_STEP_EXEC) {
            fprintf(stderr,
                    _("%s: cannot run the drop program %s: %s; nothing was queued.\n"
                      "  fix: install qqnotify (it puts qqnotify-drop there, set-group-ID "
                      "qqnotify-drop)\n"),
                    who, drop, strerror(res.sys_errno));
            return QN_EXIT_UNAVAILABLE;
        }
        fprintf(stderr, _("%s: the drop program %s did not finish: %s; nothing was queued.\n"), who,
                drop, r == QN_EIO ? strerror(res.sys_errno) : _(qn_strerror(r)));
        return QN_EXIT_TEMPFAIL;
    }
    if (WIFSIGNALED(res.wait_status)) {
        fprintf(stderr,
                _("%s: the drop program %s was killed by signal %d (%s); nothing was "
                  "queued.\n"),
                who, drop, WTERMSIG(res.wait_status), strsignal(WTERMSIG(res.wait_status)));
        return QN_EXIT_TEMPFAIL;
    }
    if (!WIFEXITED(res.wait_status) || WEXITSTATUS(res.wait_status) != 0)
        return explain(cli, who, drop,
                       WIFEXITED(res.wait_status) ? WEXITSTATUS(res.wait_status) : -1, errors);
    out[res.output_len] = '\0';
    n = strcspn(out, "\n");
    if (n >= QN_SPOOL_ID_MAX)
        n = QN_SPOOL_ID_MAX - 1;
    out[n] = '\0';
    if (ret_id != NULL)
        memcpy(ret_id, out, n + 1);
    return QN_EXIT_OK;
}
