/*
 * backend — where qqnotify-secret keeps the SMTP secret.
 *
 * Two backends implement the same four operations (store, lookup, erase,
 * and the checks behind `status`):
 *
 *  - libsecret (backend_libsecret.c): the freedesktop Secret Service on the
 *    user's D-Bus session bus (GNOME Keyring, KeePassXC, KWallet >= 5.97).
 *    Items carry service=smtp, host=H, user=U; lookups ignore the schema
 *    name, so an item made by `secret-tool store --label=L service smtp
 *    host H user U` is found, and ours are visible to `secret-tool lookup`.
 *  - systemd-creds (backend_creds.c): one encrypted credential file,
 *    CREDSTORE/qqnotify.smtp (default /etc/credstore.encrypted), made by
 *    `systemd-creds encrypt --name=qqnotify.smtp` so that a unit can load it
 *    with LoadCredentialEncrypted=qqnotify.smtp:<path>.  It holds a single
 *    account: host and user are not recorded in it.  Root only (the host
 *    key /var/lib/systemd/credential.secret is root's).
 *
 * Contract shared by both:
 *  - The secret moves only through struct qns_secret (secmem.h): never
 *    argv, the environment, a file in clear or an error detail.
 *  - Every operation is bounded by target->timeout_s and returns an enum
 *    qns_result; on failure err->detail holds sanitised, untranslated
 *    context (a path, the service's or tool's own words) and err->sys_errno
 *    the errno when a system call failed.  Backends never print: main.c
 *    turns results into translated messages with a fix and an exit code.
 *  - Output parameters are written only on QNS_OK.
 *  - The program must ignore SIGPIPE: a systemd-creds that exits early
 *    must turn our write into EPIPE, not kill us.
 *  - Not thread-safe (the program is single-threaded apart from the
 *    libsecret watchdog, which is private to its backend).
 */
#ifndef QNS_BACKEND_H
#define QNS_BACKEND_H

#include <stdbool.h>

#include "secmem.h"

#define QNS_CRED_NAME         "qqnotify.smtp"
#define QNS_CREDSTORE_DEFAULT "/etc/credstore.encrypted"
#define QNS_DETAIL_MAX        512

enum qns_result {
    QNS_OK = 0,
    QNS_NOT_FOUND,       /* the backend works, but holds no secret for this account */
    QNS_NO_BUS,          /* no session bus address at all (D-Bus was not touched) */
    QNS_BUS_UNREACHABLE, /* an address is set but the bus does not answer */
    QNS_NO_SERVICE,      /* nothing on the bus provides org.freedesktop.secrets */
    QNS_NO_COLLECTION,   /* the Secret Service has no default collection */
    QNS_LOCKED,          /* the collection or item is locked and was not unlocked */
    QNS_TIMEOUT,         /* no answer within target->timeout_s */
    QNS_SERVICE_ERROR,   /* any other Secret Service error: detail has its text */
    QNS_NOT_ROOT,        /* systemd-creds needs root */
    QNS_NO_TOOL,         /* systemd-creds is not installed */
    QNS_TOOL_FAILED,     /* systemd-creds failed: detail has its own message */
    QNS_IO,              /* a local system call failed: detail and sys_errno */
    QNS_TOO_BIG,         /* the secret or an answer passed its bound */
    QNS_NO_MEMORY,
};

struct qns_error {
    char detail[QNS_DETAIL_MAX];
    int sys_errno;
};

/* What to act on.  Strings are borrowed for the duration of a call. */
struct qns_target {
    const char *host;      /* SMTP server, e.g. "smtp.qq.com" */
    const char *user;      /* the account, e.g. "123456789@qq.com" */
    const char *credstore; /* directory of the systemd-creds file */
    const char *with_key;  /* systemd-creds --with-key= value: "host", "auto", ... */
    unsigned timeout_s;    /* bound for every wait (D-Bus prompt, child process) */
};

/* ---- libsecret -------------------------------------------------------- */

/*
 * Whether a session bus can be used, decided from the environment only:
 * DBUS_SESSION_BUS_ADDRESS, else the socket $XDG_RUNTIME_DIR/bus (which is
 * then exported as the address, so GLib never tries to autolaunch a bus).
 * QNS_OK or QNS_NO_BUS.
 */
enum qns_result qns_libsecret_bus(struct qns_error *err);

/*
 * Connect to the bus and ask whether org.freedesktop.secrets is owned or
 * activatable, without starting it.  QNS_OK (present), QNS_NO_SERVICE,
 * QNS_NO_BUS, QNS_BUS_UNREACHABLE, QNS_TIMEOUT.
 */
enum qns_result qns_libsecret_probe(const struct qns_target *target, struct qns_error *err);

/* Store SECRET for (host, user) in the default collection, replacing an
 * item with the same attributes.  LABEL is shown by keyring managers. */
enum qns_result qns_libsecret_store(const struct qns_target *target, const char *label,
                                    const struct qns_secret *secret, struct qns_error *err);

/* Look the secret up (unlocking through the service's prompt if needed)
 * and append it to RET (an initialised, empty buffer).  QNS_NOT_FOUND when
 * no item matches; QNS_LOCKED when items match but stay locked. */
enum qns_result qns_libsecret_lookup(const struct qns_target *target, struct qns_secret *ret,
                                     struct qns_error *err);

/* Delete every item matching (host, user).  QNS_NOT_FOUND when none
 * matched; QNS_LOCKED when they are locked. */
enum qns_result qns_libsecret_erase(const struct qns_target *target, struct qns_error *err);

/* ---- systemd-creds ------------------------------------------------------ */

/* The credential file's path (CREDSTORE/qqnotify.smtp) into OUT.  Returns
 * false when it does not fit. */
bool qns_creds_path(const struct qns_target *target, char *out, size_t outsz);

/* Find the systemd-creds executable in $PATH (default PATH when unset) into
 * OUT.  QNS_OK or QNS_NO_TOOL. */
enum qns_result qns_creds_tool(char *out, size_t outsz, struct qns_error *err);

/*
 * Encrypt SECRET into the credential file: the directory is created 0700
 * when missing, the file is written under a temporary name (mode 0600,
 * owner root) by `systemd-creds encrypt --name=qqnotify.smtp
 * --with-key=KEY - TMP` reading the secret from a pipe, fsync'ed and
 * renamed over the old one, so a reader sees the old or the new file,
 * never half of one.  QNS_NOT_ROOT, QNS_NO_TOOL, QNS_TOOL_FAILED, QNS_IO,
 * QNS_TIMEOUT.
 */
enum qns_result qns_creds_store(const struct qns_target *target, const struct qns_secret *secret,
                                struct qns_error *err);

/* Decrypt the credential file (`systemd-creds decrypt --name=qqnotify.smtp
 * FILE -`, stdout read through a pipe) and append the secret to RET; one
 * trailing newline is dropped.  QNS_NOT_FOUND when the file does not
 * exist. */
enum qns_result qns_creds_lookup(const struct qns_target *target, struct qns_secret *ret,
                                 struct qns_error *err);

/* Remove the credential file.  QNS_NOT_FOUND when it does not exist. */
enum qns_result qns_creds_erase(const struct qns_target *target, struct qns_error *err);

/* Whether the credential file exists, without reading it: QNS_OK,
 * QNS_NOT_FOUND, QNS_NOT_ROOT (cannot even look: the directory is
 * root's), QNS_IO. */
enum qns_result qns_creds_exists(const struct qns_target *target, struct qns_error *err);

/* ---- shared helpers (backend_util.c) ------------------------------------ */

/* Fill ERR->detail from a printf format, sanitised to one printable line. */
void qns_error_set(struct qns_error *err, int sys_errno, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
