/*
 * cli — shared pieces of the `qqnotify` command: options common to every
 * subcommand, translation, and the mapping from failures to exit codes.
 *
 * Exit codes: the table of exit.h (sysexits(3)).
 */
#ifndef QN_CLI_H
#define QN_CLI_H

#include <stdbool.h>

#include "buf.h"
#include "config.h"
#include "diag.h"
#include "exit.h"
#include "i18n.h"
#include "log.h"
#include "pickup.h"
#include "spool.h"

struct qn_cli {
    const char *config_path; /* -c, or the default */
    bool config_explicit;    /* -c was given: a missing file is an error */
    const char *lang_arg;    /* --lang, or NULL */
    struct qn_log log;
    struct qn_config cfg;
};

/* Choose the output language from --lang, the config's language, then the
 * locale; works even when no zh_CN locale is generated (C.UTF-8 + LANGUAGE). */
void qn_cli_set_language(const struct qn_cli *cli);

/* Load cli->config_path into cli->cfg and print any error with file:line and
 * the fix.  Returns 0 or the exit code to end with. */
int qn_cli_load_config(struct qn_cli *cli);

/* Exit code for a failure. */
int qn_cli_exit_code(const struct qn_error *err);

/* Print a failure to stderr: what failed, the server's words, cause, fix, and a
 * final untranslated "diagnosis: ID" line (stable, for scripts). */
void qn_cli_report(const struct qn_cli *cli, const struct qn_error *err);

/* qn_cli_report() for a failure of a way out whose diagnosis catalog's
 * provider is PROVIDER (a chat robot's type; NULL: [smtp] provider). */
void qn_cli_report_for(const struct qn_cli *cli, const char *provider, const struct qn_error *err);

/* One line describing ERR (stage, status, detail, SMTP reply or a robot's
 * answer) in the current language. */
void qn_cli_describe(const struct qn_error *err, char *out, size_t n);

/* qn_cli_describe as the queue manager's and the failover's describe hook (ARG unused). */
void qn_cli_describe_hook(void *arg, const struct qn_error *err, char *out, size_t n);

/* snprintf for text that may be cut to fit: cutting is intended (bounded
 * fields), so no truncation warning applies. */
void qn_cli_format(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Print S padded with blanks to COLUMNS terminal columns: printf's %-Ns counts
 * bytes, and a Chinese character is three bytes in UTF-8 but two columns. */
void qn_cli_print_padded(const char *s, int columns);

/* True when the group qqnotify exists here: advice names it only then (a source build has
 * it once systemd-sysusers has read the installed sysusers.d file). */
bool qn_cli_qqnotify_group_exists(void);

/* Warn when TLS verification is disabled (every run says it). */
void qn_cli_warn_insecure(const struct qn_cli *cli);

/* ---- submitting (cli/submit.c): notify and sendmail, for any local user ---- */

/* qqnotify-drop: $QQNOTIFY_DROP when it is an absolute path (tests) and the process is not in
 * secure execution (secure_getenv: not started with ids other than its caller's), else the
 * installed one. */
const char *qn_cli_drop_program(void);

/* Load the configuration for a submission: as qn_cli_load_config(), except that a user who
 * may not read the default file (it is root's and the sender's) gets the defaults. */
int qn_cli_load_config_submit(struct qn_cli *cli);

/* Hand ENTRY (a submission, enqueue.h) to qqnotify-drop for the configured spool; its id
 * into RET_ID (QN_SPOOL_ID_MAX bytes) when not NULL.  A failure is explained for WHO
 * ("sendmail", "qqnotify notify") in the user's language; returns the exit code. */
int qn_cli_submit(const struct qn_cli *cli, const char *who, const struct qn_buf *entry,
                  char *ret_id);

/* Whether this process may start the sender itself: root only.  A user's -c/-C must never
 * reach a privileged process; for them the path unit (maildrop/) or the timer does. */
bool qn_cli_may_start_sender(void);

/* Start `qqnotify -c CONFIG flush --quiet` detached, without waiting for it
 * (after root's sendmail and notify submitted something).  A failure is logged: the
 * entry is safe in the spool and the next trigger sends it. */
void qn_cli_start_flush(const struct qn_cli *cli);

/* ---- the sender's side (cli/submission.c) ---- */

#define QN_CLI_HOST_MAX 256 /* this host's name, at most */

/* This host's name as it may appear in an address ([A-Za-z0-9.-], else "localhost"), as
 * the header rewriting qualifies local senders with: into OUT of OUTSZ bytes. */
void qn_cli_host_name(char *out, size_t outsz);

/* The pickup's rewrite of a local user's message (pickup.h, qn_pickup_rewrite_fn): the
 * header rewriting of sendmail (header.h) for the account and [notify] to, with the From
 * display name "from user NAME" and that before the Subject. */
enum qn_status qn_cli_rewrite_submission(void *arg, const struct qn_config *cfg,
                                         const struct qn_pickup_submitter *who,
                                         struct qn_spool_entry *e, char *why, size_t why_size);

/* The spool user's uid ([spool] user), or this process's effective uid when it has none. */
unsigned long long qn_cli_spool_uid(const struct qn_cli *cli);

/* For the commands that read the queue (flush, queue): QN_EXIT_OK as root or as the spool's
 * user, else QN_EXIT_NOPERM after saying so on stderr, with how users submit instead. */
int qn_cli_require_queue_access(const struct qn_cli *cli, const char *who);

int qn_cmd_send(struct qn_cli *cli, int argc, char **argv);
int qn_cmd_check(struct qn_cli *cli, int argc, char **argv);
int qn_cmd_status(struct qn_cli *cli, int argc, char **argv);
int qn_cmd_catalog(struct qn_cli *cli, int argc, char **argv);
int qn_cmd_sendmail(struct qn_cli *cli, int argc, char **argv);
int qn_cmd_notify(struct qn_cli *cli, int argc, char **argv);
int qn_cmd_flush(struct qn_cli *cli, int argc, char **argv);
int qn_cmd_queue(struct qn_cli *cli, int argc, char **argv);
int qn_cmd_silence(struct qn_cli *cli, int argc, char **argv);
int qn_cmd_seen(struct qn_cli *cli, int argc, char **argv);
int qn_cmd_queue_init(struct qn_cli *cli, int argc, char **argv);

#endif
