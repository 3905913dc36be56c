/*
 * status — the one status enum of the project.
 *
 * Every function of libqqnotify that can fail returns an enum qn_status.
 * QN_OK is zero; every failure is positive.  The numbers are part of the
 * contract: they never change meaning and new ones are only appended, so
 * they can be logged, stored in the spool and compared across versions.
 *
 * Programs, not the library, turn a status into an exit code and wording.
 * qn_strerror() returns a short English phrase (a gettext msgid: programs
 * translate it) and never NULL.  Thread-safe; no allocation.
 */
#ifndef QN_STATUS_H
#define QN_STATUS_H

enum qn_status {
    QN_OK = 0,
    QN_ENOMEM = 1,     /* an allocation failed */
    QN_EINVAL = 2,     /* invalid argument or input */
    QN_ETOOBIG = 3,    /* a stated bound (line, header, buffer, entry) was exceeded */
    QN_EIO = 4,        /* a local system call failed; errno is kept in struct qn_error */
    QN_ECONFIG = 5,    /* the configuration is wrong */
    QN_ERESOLVE = 6,   /* the server's name could not be resolved */
    QN_ECONNECT = 7,   /* no address of the server accepted a TCP connection */
    QN_ETIMEOUT = 8,   /* the peer did not answer in time */
    QN_ETLS = 9,       /* TLS handshake, certificate or record failure */
    QN_EPROTO = 10,    /* the peer broke the protocol (bad reply, missing extension) */
    QN_EAUTH = 11,     /* the server rejected the credentials */
    QN_ETEMPFAIL = 12, /* the server answered 4xx: retry later */
    QN_EREJECT = 13,   /* the server answered 5xx: permanent rejection */
    QN_ENOTFOUND = 14, /* a looked-up item (file, entry, secret) does not exist */
    QN_ECRED = 15,     /* the secret could not be obtained */
    QN_EEOF = 16,      /* the peer closed the connection unexpectedly */
    QN_ESTARTTLS = 17, /* STARTTLS required but not offered or refused */
    /* Secret stores (qqnotify-secret: the Secret Service, systemd-creds). */
    QN_ENOBUS = 18,     /* no D-Bus session bus to reach a desktop service on */
    QN_ENOSERVICE = 19, /* the service or program that does the job is not there */
    QN_ENOKEYRING = 20, /* the keyring service has no default keyring */
    QN_ELOCKED = 21,    /* the keyring (or the item) is locked and was not unlocked */
    QN_EPERM = 22,      /* the operation needs privileges (root) the caller lacks */
    QN_ESERVICE = 23,   /* the service or program failed on its own: see the detail */
};

/* A short English description of STATUS (a msgid); never NULL. */
const char *qn_strerror(enum qn_status status);

#endif
