/*
 * cred — obtain the SMTP secret (the QQ Mail authorization code).
 *
 * Sources, in order:
 *  1. cfg->credential_file, else $CREDENTIALS_DIRECTORY/qqnotify.smtp (a
 *     systemd credential, LoadCredentialEncrypted=qqnotify.smtp);
 *  2. cfg->credential_helper, run with the git-credential protocol: the
 *     command (split on blanks, or run by /bin/sh -c when it starts with
 *     '!', as git does) gets "get" as its last argument and
 *     "protocol=smtp\nhost=H\nusername=U\n\n" on stdin, and answers
 *     "password=..." on stdout.  It runs with a bounded time and output size.
 *  3. neither configured, and running as root: the installed qqnotify-secret
 *     (BINDIR/qqnotify-secret, BINDIR from the build) as that helper, so that
 *     what `qqnotify-secret set` stored (systemd-creds, then the keyring) is
 *     found without configuring anything.  It must be a regular file owned by
 *     root and writable by root only.
 * Never argv, environment variables or the configuration file.
 *
 * The secret lives in a struct qn_secret whose buffer is locked in memory
 * where possible and wiped by qn_secret_wipe() (OPENSSL_cleanse).  The
 * secret never enters struct qn_error; errors describe the source only.
 */
#ifndef QN_CRED_H
#define QN_CRED_H

#include <stddef.h>

#include "config.h"
#include "diag.h"
#include "status.h"

#define QN_SECRET_MAX 1024                /* bytes of secret; a longer one is refused */
#define QN_CRED_REPLY_MAX (16 * 1024)     /* bytes a helper may write on stdout */
#define QN_CRED_HELPER_TIMEOUT_MS 30000   /* a helper that takes longer is killed */
#define QN_CRED_HELPER_ARGS_MAX 32        /* words in a credential_helper command */

struct qn_secret {
    char *data;         /* NUL-terminated; NULL when empty */
    size_t len;
    char source[4200];  /* human description: "systemd credential /run/credentials/.../qqnotify.smtp",
                           "credential file /etc/...", "credential helper `qqnotify-secret`" */
};

/*
 * Fill *ret from the first source that has the secret.  A credential file
 * (configured or systemd's) that does not exist passes on to the helper;
 * one that exists but is unusable is an error: a symbolic link, not a
 * regular file, accessible by other users (mode & 007), empty, larger than
 * QN_SECRET_MAX, or holding a NUL or a second line (one trailing "\n" or
 * "\r\n" is dropped).
 *
 * Errors: QN_ECRED with a detail naming what was tried and why it failed
 * (no source configured and no default helper for this user, helper exited 1,
 * helper answered no password,
 * file unreadable...), err->sys_errno when a system call failed;
 * QN_ENOMEM.  err is cleared first (may be NULL); err->stage is
 * QN_STAGE_CREDENTIAL.  On failure *ret is an empty secret whose source
 * names what was tried last, so qn_secret_wipe(ret) is always safe.
 */
enum qn_status qn_cred_get(const struct qn_config *cfg, struct qn_secret *ret,
                           struct qn_error *err);

/*
 * Run the git-credential helper COMMAND (see above) for HOST and USER and
 * fill *ret with its password.  The helper's stdin is a socket carrying
 * the request, its stdout a pipe read up to QN_CRED_REPLY_MAX bytes, its
 * stderr ours (so it can say why it failed); other descriptors are closed.
 * It is killed (SIGKILL) when it has not exited TIMEOUT_MS after start.
 * Errors as for qn_cred_get(): QN_ECRED (not startable, timed out, exited
 * non-zero or by a signal, answered too much, a malformed line or no
 * password), QN_ENOMEM.  qn_cred_get() uses QN_CRED_HELPER_TIMEOUT_MS;
 * the parameter exists for tests and for `qqnotify check` (<= 0 means the
 * default).  The caller must not reap children behind our back (SIGCHLD
 * set to SIG_IGN, or waitpid(-1) in another thread): the exit status would
 * be lost, and a helper whose success is unknown is not trusted.
 */
enum qn_status qn_cred_run_helper(const char *command, const char *host, const char *user,
                                  int timeout_ms, struct qn_secret *ret, struct qn_error *err);

/*
 * Parse a git-credential reply: "key=value" lines ending in "\n" (a "\r"
 * before it is dropped), up to the first empty line or the end of TEXT
 * (LEN bytes, need not be NUL-terminated).  The last "password=" line
 * wins; other keys are ignored.  Pure: no I/O, no global state, so it can
 * be fuzzed.
 *
 * On QN_OK ret->data is a new locked buffer holding the password (free it
 * with qn_secret_wipe()); ret->source is not touched.  Pass an empty
 * secret: a previous ret->data is overwritten, not freed.  Errors, *ret
 * untouched: QN_ENOTFOUND no password line or an empty password;
 * QN_EINVAL a NUL byte or a non-empty line without '=' (or starting with
 * it); QN_ETOOBIG a password over QN_SECRET_MAX bytes; QN_ENOMEM.
 */
enum qn_status qn_cred_parse_reply(const char *text, size_t len, struct qn_secret *ret);

/* Wipe (OPENSSL_cleanse) and free; accepts an empty secret.  Afterwards s->data is
 * NULL and s->len 0; s->source is kept. */
void qn_secret_wipe(struct qn_secret *s);

#endif
