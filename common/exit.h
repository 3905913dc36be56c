/*
 * exit — the one exit-code table of every qqnotify program (qqnotify,
 * qqnotify-journal, qqnotify-secret).
 *
 * The numbers follow sysexits(3), so systemd, cron and scripts read them the
 * way they read any mail program's; the one addition is 1, "nothing
 * stored", which git's credential protocol and `qqnotify-secret status`
 * use for a secret that is simply not there.  Library code never exits:
 * programs map an enum qn_status or a struct qn_error to one of these.
 */
#ifndef QN_EXIT_H
#define QN_EXIT_H

enum qn_exit {
    QN_EXIT_OK = 0,           /* done */
    QN_EXIT_NOT_FOUND = 1,    /* qqnotify-secret: no secret stored for this account */
    QN_EXIT_USAGE = 64,       /* wrong options or arguments */
    QN_EXIT_DATAERR = 65,     /* bad input (a message, a corrupt spool entry) */
    QN_EXIT_NOINPUT = 66,     /* an input file or journal cannot be opened */
    QN_EXIT_UNAVAILABLE = 69, /* permanent rejection (5xx), or a backend that is not there */
    QN_EXIT_SOFTWARE = 70,    /* a bug: an impossible state */
    QN_EXIT_OSERR = 71,       /* the system refused a resource (memory, fork) */
    QN_EXIT_CANTCREAT = 73,   /* the spool cannot be written */
    QN_EXIT_IOERR = 74,       /* a local read or write failed */
    QN_EXIT_TEMPFAIL = 75,    /* temporary failure (4xx, network, timeout, limits): retry later */
    QN_EXIT_PROTOCOL = 76,    /* TLS or protocol failure, STARTTLS missing included */
    QN_EXIT_NOPERM = 77,      /* authentication failed, or the operation needs root */
    QN_EXIT_CONFIG = 78,      /* configuration error (a password in the config file included) */
};

#endif
