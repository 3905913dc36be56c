/*
 * cli — shared pieces of the `qqnotify` command: options common to every
 * subcommand, translation, and the mapping from failures to exit codes.
 *
 * Exit codes: the table of exit.h (sysexits(3)).
 */
#ifndef QN_CLI_H
#define QN_CLI_H

#include <stdbool.h>

#include "config.h"
#include "diag.h"
#include "exit.h"
#include "i18n.h"
#include "log.h"

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

/* Make sure the spool's subdirectories exist (creating them, mode 2770, when
 * this user may) before a producer command writes to it.  Errors are left to
 * the write that follows, which explains them. */
void qn_cli_prepare_spool(const struct qn_cli *cli);

/* A producer (WHO: "sendmail", "qqnotify notify") could not write its entry:
 * print the spool directory, the cause (ERR: errno after QN_EIO) and what to
 * do, and return the exit code (73 setup, 75 temporary, 65 bad entry...). */
int qn_cli_spool_error(const struct qn_cli *cli, const char *who, enum qn_status r, int err);

/* Start `qqnotify -c CONFIG flush --quiet` detached, without waiting for it
 * (after sendmail and notify spooled something).  A failure is logged: the
 * entry is safe in the spool and the next trigger sends it. */
void qn_cli_start_flush(const struct qn_cli *cli);

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

#endif
