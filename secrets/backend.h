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
 * A chat robot route's secret (route.h) is kept the same way under its
 * own names: items with service=qqnotify-route, host=NAME, user="", and
 * the credential qqnotify.route.NAME (target->service, target->cred_name).
 *
 * Contract shared by both:
 *  - The secret moves only through struct qn_secret (secret.h): never
 *    argv, the environment, a file in clear or an error detail.
 *  - Every operation is bounded by target->timeout_s and returns an enum
 *    qn_status (status.h), the project's one vocabulary:
 *      QN_ENOTFOUND   the backend works, but holds no secret for this account
 *      QN_ENOBUS      no session bus address at all (D-Bus was not touched)
 *      QN_ECONNECT    an address is set but the bus does not answer
 *      QN_ENOSERVICE  nothing on the bus provides org.freedesktop.secrets;
 *                     systemd-creds is not installed (or cannot be executed)
 *      QN_ENOKEYRING  the Secret Service has no default collection
 *      QN_ELOCKED     the collection or item is locked and was not unlocked
 *      QN_ETIMEOUT    no answer within target->timeout_s
 *      QN_ESERVICE    any other Secret Service error, or systemd-creds failed:
 *                     the detail has their own words
 *      QN_EPERM       systemd-creds needs root
 *      QN_EIO         a local system call failed: detail and sys_errno
 *      QN_ETOOBIG     the secret or an answer passed its bound
 *      QN_ENOMEM
 *    On failure *err (struct qn_error, diag.h; stage QN_STAGE_CREDENTIAL)
 *    holds the status, sanitised and untranslated context in err->detail
 *    (a path, the service's or tool's own words) and in err->sys_errno the
 *    errno when a system call failed.  Backends never print: main.c turns
 *    results into translated messages with a fix and an exit code.
 *  - Output parameters are written only on QN_OK.
 *  - Child processes run through qn_spawn_run() (spawn.h): a systemd-creds
 *    that exits early turns our write into EPIPE, never SIGPIPE.
 *  - Not thread-safe (the program is single-threaded apart from the
 *    libsecret watchdog, which is private to its backend).
 */
#ifndef QNS_BACKEND_H
#define QNS_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"
#include "secret.h"
#include "status.h"

#define QNS_CRED_NAME         "qqnotify.smtp"
#define QNS_CREDSTORE_DEFAULT "/etc/credstore.encrypted"

/* Record a failure in *ERR (stage QN_STAGE_CREDENTIAL) and return STATUS:
 * qn_error_set_errno() (diag.h), which keeps the detail to one clean line. */
#define qns_fail(err, status, errnum, ...)                                                         \
    qn_error_set_errno((err), (status), QN_STAGE_CREDENTIAL, (errnum), __VA_ARGS__)

/* What to act on.  Strings are borrowed for the duration of a call. */
struct qns_target {
    const char *service;   /* Secret Service attribute: "smtp", or "qqnotify-route" */
    const char *cred_name; /* systemd credential: QNS_CRED_NAME or "qqnotify.route.NAME" */
    const char *host;      /* SMTP server, e.g. "smtp.qq.com"; a route's name */
    const char *user;      /* the account, e.g. "123456789@qq.com"; "" for a route */
    const char *credstore; /* directory of the systemd-creds file */
    const char *with_key;  /* systemd-creds --with-key= value: "host", "auto", ... */
    unsigned timeout_s;    /* bound for every wait (D-Bus prompt, child process) */
};

/* ---- libsecret -------------------------------------------------------- */

/*
 * Whether a session bus can be used, decided from the environment only:
 * DBUS_SESSION_BUS_ADDRESS, else the socket $XDG_RUNTIME_DIR/bus (which is
 * then exported as the address, so GLib never tries to autolaunch a bus).
 * QN_OK or QN_ENOBUS.
 */
enum qn_status qns_libsecret_bus(struct qn_error *err);

/*
 * Connect to the bus and ask whether org.freedesktop.secrets is owned or
 * activatable, without starting it.  QN_OK (present), QN_ENOSERVICE,
 * QN_ENOBUS, QN_ECONNECT, QN_ETIMEOUT.
 */
enum qn_status qns_libsecret_probe(const struct qns_target *target, struct qn_error *err);

/* Store SECRET for (host, user) in the default collection, replacing an
 * item with the same attributes.  LABEL is shown by keyring managers. */
enum qn_status qns_libsecret_store(const struct qns_target *target, const char *label,
                                   const struct qn_secret *secret, struct qn_error *err);

/* Look the secret up (unlocking through the service's prompt if needed)
 * and append it to RET (an initialised, empty buffer).  QN_ENOTFOUND when
 * no item matches; QN_ELOCKED when items match but stay locked. */
enum qn_status qns_libsecret_lookup(const struct qns_target *target, struct qn_secret *ret,
                                    struct qn_error *err);

/* Delete every item matching (host, user).  QN_ENOTFOUND when none
 * matched; QN_ELOCKED when they are locked. */
enum qn_status qns_libsecret_erase(const struct qns_target *target, struct qn_error *err);

/* ---- systemd-creds ------------------------------------------------------ */

/* The credential file's path (CREDSTORE/CRED_NAME) into OUT.  Returns
 * false when it does not fit. */
bool qns_creds_path(const struct qns_target *target, char *out, size_t outsz);

/* Find the systemd-creds executable in $PATH (default PATH when unset) into
 * OUT.  QN_OK or QN_ENOSERVICE. */
enum qn_status qns_creds_tool(char *out, size_t outsz, struct qn_error *err);

/*
 * Encrypt SECRET into the credential file: the directory is created 0700
 * when missing, the file is written under a temporary name (mode 0600,
 * owner root) by `systemd-creds encrypt --name=qqnotify.smtp
 * --with-key=KEY - TMP` reading the secret on its stdin, fsync'ed and
 * renamed over the old one, so a reader sees the old or the new file,
 * never half of one.  QN_EPERM, QN_ENOSERVICE, QN_ESERVICE, QN_EIO,
 * QN_ETIMEOUT.
 */
enum qn_status qns_creds_store(const struct qns_target *target, const struct qn_secret *secret,
                               struct qn_error *err);

/* Decrypt the credential file (`systemd-creds decrypt --name=qqnotify.smtp
 * FILE -`, its stdout read straight into RET) and append the secret to RET; one
 * trailing newline is dropped.  QN_ENOTFOUND when the file does not
 * exist. */
enum qn_status qns_creds_lookup(const struct qns_target *target, struct qn_secret *ret,
                                struct qn_error *err);

/* Remove the credential file.  QN_ENOTFOUND when it does not exist. */
enum qn_status qns_creds_erase(const struct qns_target *target, struct qn_error *err);

/* Whether the credential file exists, without reading it: QN_OK,
 * QN_ENOTFOUND, QN_EPERM (cannot even look: the directory is
 * root's), QN_EIO. */
enum qn_status qns_creds_exists(const struct qns_target *target, struct qn_error *err);

#endif
