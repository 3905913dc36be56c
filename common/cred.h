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

#define QN_SECRET_MAX 1024

struct qn_secret {
    char *data;         /* NUL-terminated; NULL when empty */
    size_t len;
    char source[4200];  /* human description: "systemd credential /run/credentials/.../qqnotify.smtp",
                           "credential helper qqnotify-secret" */
};

/*
 * Fill *ret from the first source that has the secret.  QN_ECRED with a
 * detail naming what was tried and why it failed (no source configured,
 * helper exited 1, helper answered no password, file unreadable...);
 * QN_ENOMEM.  err->stage is QN_STAGE_CREDENTIAL.
 */
enum qn_status qn_cred_get(const struct qn_config *cfg, struct qn_secret *ret,
                           struct qn_error *err);

/* Wipe and free; accepts an empty secret. */
void qn_secret_wipe(struct qn_secret *s);

#endif
