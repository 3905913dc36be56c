/*
 * spoolowner — the spool's owners and modes: who they are ([spool] user
 * and drop_group, looked up in the passwd and group databases), what each
 * directory must be, checking a spool against that, creating what is
 * missing (`qqnotify queue init`), and becoming the spool's user (a
 * sender started as root).  The packages make the same tree with
 * tmpfiles.d (packaging/tmpfiles.d/qqnotify.conf); docs/architecture.md
 * section 4 explains it:
 *
 *   DIR            USER:GROUP        0711  others may only pass through
 *   DIR/maildrop   USER:DROP_GROUP   1730  the drop group may create, not list; sticky
 *   DIR/tmp        USER:GROUP        2700  and new, deferred, failed, state: nobody but
 *                                          root and USER; set-group-ID, so a file root
 *                                          writes gets GROUP (read by the sender, 0640)
 *
 * GROUP is USER's primary group.  Nobody is meant to be a member of
 * DROP_GROUP: only the set-group-ID program qqnotify-drop has it.
 *
 * Checking (qn_spoolowner_check) looks at each directory without following
 * a symbolic link and changes nothing; creating (qn_spoolowner_init) first
 * checks, refuses to touch a spool any directory of which exists with
 * another owner, group or mode (the caller prints the exact fix), and then
 * makes the missing ones: mkdir 0700, then fchown and fchmod on the open
 * directory (never on a path that could be swapped).  Run twice, the
 * second run finds everything in place and changes nothing.
 *
 * Becoming the user (qn_spoolowner_become): supplementary groups none,
 * then real, effective and saved group ids GROUP, then the user ids USER,
 * each checked, and checked again that root's ids cannot be had back;
 * then not dumpable again (the uid change reset the flag to
 * fs.suid_dumpable, and the credential read as root is still in memory).
 *
 * Library code: nothing here prints or exits.  Thread-safety: resolve uses
 * the _r lookups; become changes the whole process (call it before
 * threads exist).
 */
#ifndef QN_SPOOLOWNER_H
#define QN_SPOOLOWNER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "status.h"

#define QN_SPOOLOWNER_DIRS     7  /* the spool directory and its six subdirectories */
#define QN_SPOOLOWNER_NAME_MAX 16 /* "maildrop" with its NUL */

struct qn_spoolowner {
    char user[QN_CONFIG_ACCOUNT_MAX];
    char group[QN_CONFIG_ACCOUNT_MAX]; /* USER's primary group */
    char drop_group[QN_CONFIG_ACCOUNT_MAX];
    unsigned long long uid, gid, drop_gid;
};

enum qn_spoolowner_missing {
    QN_SPOOLOWNER_HAVE_ALL = 0,
    QN_SPOOLOWNER_NO_USER,       /* [spool] user is not in the passwd database */
    QN_SPOOLOWNER_NO_DROP_GROUP, /* [spool] drop_group is not in the group database */
};

/*
 * Look up Q's user (and its primary group) and drop group into *RET.
 * QN_OK; QN_ENOTFOUND with *RET_MISSING saying which does not exist;
 * QN_EIO (a lookup failed: errno), QN_ENOMEM.
 */
enum qn_status qn_spoolowner_resolve(const struct qn_config_queue *q, struct qn_spoolowner *ret,
                                     enum qn_spoolowner_missing *ret_missing);

enum qn_spoolowner_state {
    QN_SPOOLOWNER_OK = 1,  /* as the layout says */
    QN_SPOOLOWNER_CREATED, /* made by qn_spoolowner_init */
    QN_SPOOLOWNER_ABSENT,  /* does not exist (init makes it) */
    QN_SPOOLOWNER_WRONG,   /* exists with another owner, group or mode: have_* */
    QN_SPOOLOWNER_NOT_DIR, /* a symbolic link or something else that is not a directory */
    QN_SPOOLOWNER_FAILED,  /* a system call failed: sys_errno */
};

struct qn_spoolowner_finding {
    char name[QN_SPOOLOWNER_NAME_MAX]; /* "." for the spool directory, else "maildrop"... */
    enum qn_spoolowner_state state;
    unsigned want_mode;
    unsigned long long want_uid, want_gid;
    unsigned have_mode; /* WRONG: what it is */
    unsigned long long have_uid, have_gid;
    int sys_errno; /* FAILED */
};

struct qn_spoolowner_report {
    struct qn_spoolowner_finding dirs[QN_SPOOLOWNER_DIRS]; /* in the order of the table above */
    size_t n;
};

/*
 * Compare DIR and its subdirectories with the layout for O (no change).
 * Fills *RET (always).  QN_OK: every directory exists and is right;
 * QN_ENOTFOUND: none is wrong but some are ABSENT; QN_ECONFIG: one is
 * WRONG or NOT_DIR; QN_EIO: one FAILED; QN_EINVAL.
 */
enum qn_status qn_spoolowner_check(const char *dir, const struct qn_spoolowner *o,
                                   struct qn_spoolowner_report *ret);

/*
 * `qqnotify queue init`: check, and when nothing is WRONG, NOT_DIR or
 * FAILED, create what is ABSENT (DIR itself inside its existing parent).
 * Needs root (chown).  Fills *RET (always).  QN_OK: the spool is as the
 * layout says (CREATED marks what this call made); QN_ECONFIG: refused,
 * nothing changed; QN_EIO: a step failed (the finding says which, with
 * errno); QN_EINVAL.
 */
enum qn_status qn_spoolowner_init(const char *dir, const struct qn_spoolowner *o,
                                  struct qn_spoolowner_report *ret);

/* Become O's user for good, as described above.  QN_EPERM when a step was refused or root
 * could be had back (errno kept); QN_EIO when the process could not be made undumpable. */
enum qn_status qn_spoolowner_become(const struct qn_spoolowner *o);

#endif
