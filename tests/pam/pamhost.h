/*
 * pamhost — a small PAM application for the module tests: one pam_start ..
 * pam_end cycle with chosen items and PAM environment, timed per call, with
 * what the module logged and whether any file descriptor changed.
 *
 * Runs under pam_wrapper (tests/pam/test_pam.c puts the process there):
 * service files come from PAM_WRAPPER_SERVICE_DIR, and pam_syslog lines go
 * to stderr as "PWRAP_...SYSLOG(N): text", which qn_pamhost_run() captures
 * by pointing fd 2 at a memfd for the duration of the cycle.
 */
#ifndef QN_PAMHOST_H
#define QN_PAMHOST_H

#include <stdbool.h>
#include <stddef.h>

/* qn_pamhost_call.ops: run in this order */
#define QN_PAMHOST_AUTH  0x1u /* pam_authenticate */
#define QN_PAMHOST_OPEN  0x2u /* pam_open_session */
#define QN_PAMHOST_CLOSE 0x4u /* pam_close_session */

struct qn_pamhost_call {
    const char *service;
    const char *user;                /* pam_start's user; NULL: unset */
    const char *ruser, *rhost, *tty; /* PAM items set when non-NULL */
    const char *const *env;          /* "NAME=value" for pam_putenv, NULL-terminated, or NULL */
    const char *password;            /* the conversation's answer to every prompt */
    unsigned ops;
};

struct qn_pamhost_result {
    int rc_start, rc_auth, rc_open, rc_close, rc_end; /* -1 when not run */
    double ms_auth, ms_open, ms_close;
    char log[16384];    /* everything written to stderr during the cycle */
    unsigned log_lines; /* lines of it that came from pam_syslog */
    bool fds_unchanged; /* same fds, pointing at the same files, before and after */
    char fd_diff[1024]; /* what changed, when something did */
};

/* Run one cycle.  0 when it ran (whatever PAM returned), -1 when the host itself failed
 * (message on stderr). */
int qn_pamhost_run(const struct qn_pamhost_call *call, struct qn_pamhost_result *res);

/* "fd target\n" for every open descriptor into OUT (OUTSZ); 0 or -1. */
int qn_pamhost_fd_snapshot(char *out, size_t outsz);

#endif
