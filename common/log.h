/*
 * log — the one logging call of the programs.
 *
 * Under systemd (JOURNAL_STREAM set and matching stderr) each line gets a
 * "<N>" priority prefix that journald understands; on a terminal or in a
 * pipe, plain "prog: message" lines.  Messages are sanitised: control
 * characters never reach the log.  The struct is owned by the program (no
 * global state); the library itself never logs, it returns statuses.
 */
#ifndef QN_LOG_H
#define QN_LOG_H

#include <stdbool.h>
#include <stdarg.h>
#include <syslog.h>

struct qn_log {
    const char *prog; /* program name, static */
    int fd;           /* where lines go, normally 2 */
    bool journal;     /* prefix "<N>" */
    int max_priority; /* LOG_DEBUG to show debug lines, LOG_INFO by default */
};

/* Set up for PROG writing to FD, detecting journald on FD via JOURNAL_STREAM. */
void qn_log_init(struct qn_log *log, const char *prog, int fd);

/* Log one message at PRIORITY (LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG). */
void qn_log(const struct qn_log *log, int priority, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void qn_logv(const struct qn_log *log, int priority, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/*
 * An audit record: a change an administrator made (`qqnotify silence add`,
 * `expire`), who made it and what it was.  Goes to syslog(3) with facility
 * authpriv at LOG_NOTICE (the journal under systemd, /var/log/auth.log with
 * rsyslog), whatever the log's fd is, and to the fd like qn_log(LOG_NOTICE).
 * The same sanitising as qn_log.  syslog(3) keeps its connection in the C
 * library's own state: programs only, as everything here.
 */
void qn_log_audit(const struct qn_log *log, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
