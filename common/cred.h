/*
 * cred — obtain the SMTP secret (the QQ Mail authorization code), and a
 * chat robot route's secret (qn_cred_get_route, below).
 *
 * Sources, in order:
 *  1. cfg->credential_file, else $CREDENTIALS_DIRECTORY/qqnotify.smtp (a
 *     systemd credential, LoadCredentialEncrypted=qqnotify.smtp);
 *  2. cfg->credential_helper, run with git's credential protocol
 *     (gitcred.h): the command (split on blanks, or run by /bin/sh -c when
 *     it starts with '!', as git does) gets "get" as its last argument and
 *     "protocol=smtp\nhost=H\nusername=U\n\n" on stdin, and answers
 *     "password=..." on stdout.  It runs through spawn.h with a bounded time
 *     and output size.
 *  3. neither configured, and running as root: the installed qqnotify-secret
 *     (BINDIR/qqnotify-secret, BINDIR from the build) as that helper, so that
 *     what `qqnotify-secret set` stored (systemd-creds, then the keyring) is
 *     found without configuring anything.  It must be a regular file owned by
 *     root and writable by root only.
 * Never argv, environment variables or the configuration file.
 *
 * The secret lives in a struct qn_secret (secret.h: locked pages, wiped by
 * qn_secret_wipe()), and so does every byte of a helper's answer.  The
 * description of where it came from is kept beside it, never in it, and
 * the secret never enters struct qn_error: errors describe the source only.
 */
#ifndef QN_CRED_H
#define QN_CRED_H

#include <stddef.h>

#include "config.h"
#include "diag.h"
#include "secret.h"
#include "status.h"

#define QN_CRED_HELPER_TIMEOUT_MS 30000 /* a helper that takes longer is killed */
#define QN_CRED_HELPER_ARGS_MAX   32    /* words in a credential_helper command */
#define QN_CRED_SOURCE_MAX        4200  /* bytes of the description of a source */

/*
 * Fill *RET (pass it not set up, or wiped) from the first source that has
 * the secret.  A credential file (configured or systemd's) that does not
 * exist passes on to the helper; one that exists but is unusable is an
 * error: a symbolic link, not a regular file, accessible by other users
 * (mode & 007), empty, larger than QN_SECRET_MAX, or holding a NUL or a
 * second line (one trailing "\n" or "\r\n" is dropped).
 *
 * RET_SOURCE (QN_CRED_SOURCE_MAX bytes, or NULL) gets a description for
 * people of the source that gave the secret, or on failure of the one
 * tried last: "systemd credential /run/credentials/.../qqnotify.smtp",
 * "credential file /etc/...", "credential helper `qqnotify-secret`"; ""
 * when none was tried.
 *
 * Errors: QN_ECRED with a detail naming what was tried and why it failed
 * (no source configured and no default helper for this user, helper exited 1, helper answered no
 * password, file unreadable...), err->sys_errno when a system call failed; QN_ENOMEM.  err is
 * cleared first (may be NULL); err->stage is QN_STAGE_CREDENTIAL.  On failure *RET is an empty
 * secret, so qn_secret_wipe(RET) is always safe.
 */
enum qn_status qn_cred_get(const struct qn_config *cfg, struct qn_secret *ret, char *ret_source,
                           struct qn_error *err);

/*
 * The secret of the chat robot route ROUTE of CFG (route.h; not "smtp"),
 * from the same places by the route's name: the systemd credential
 * $CREDENTIALS_DIRECTORY/qqnotify.route.ROUTE (LoadCredentialEncrypted=
 * qqnotify.route.ROUTE), else [smtp] credential_helper asked
 * "protocol=qqnotify-route\nhost=ROUTE\nusername=\n\n", whose answer
 * carries the key, token or hook id in password= and the signing secret
 * in qqnotify_signing_secret= (gitcred.h).  The secret is one line, or two
 * (the second the signing secret): what route.h's
 * qn_route_secret_parse() reads.  Errors and RET_SOURCE as qn_cred_get();
 * QN_ECONFIG (stage CONFIG) when CFG has no such robot route.
 */
enum qn_status qn_cred_get_route(const struct qn_config *cfg, const char *route,
                                 struct qn_secret *ret, char *ret_source, struct qn_error *err);

/*
 * Run the git-credential helper COMMAND (see above) for HOST and USER and
 * fill *RET (pass it not set up) with its password.  The helper's stdin
 * carries the request, its stdout is read up to QN_GITCRED_MESSAGE_MAX
 * bytes into locked memory, its stderr is ours (so it can say why it
 * failed); other descriptors are closed.  It is killed (SIGKILL) when it
 * has not exited TIMEOUT_MS after start.  Errors as for qn_cred_get():
 * QN_ECRED (not startable, timed out, exited non-zero or by a signal,
 * answered too much, a malformed line or no password), QN_ENOMEM.
 * qn_cred_get() uses QN_CRED_HELPER_TIMEOUT_MS; the parameter exists for
 * tests and for `qqnotify check` (<= 0 means the default).  The caller must
 * not reap children behind our back (spawn.h, qn_spawn_run()): a helper
 * whose success is unknown is not trusted.
 */
enum qn_status qn_cred_run_helper(const char *command, const char *host, const char *user,
                                  int timeout_ms, struct qn_secret *ret, struct qn_error *err);

#endif
