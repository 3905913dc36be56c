/*
 * spoolowner — owners and modes of the spool; contract in spoolowner.h.
 */
#include "spoolowner.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "enqueue.h"

#define LOOKUP_BUF_MAX (64 * 1024) /* a passwd or group record (large groups list members) */

/* The layout: name, mode, whether the group is the drop group. */
static const struct {
    const char *name;
    unsigned mode;
    bool drop_group;
} layout[QN_SPOOLOWNER_DIRS] = {
    {".", 0711, false},      {"maildrop", 01730, true},  {"tmp", 02700, false},
    {"new", 02700, false},   {"deferred", 02700, false}, {"failed", 02700, false},
    {"state", 02700, false},
};

enum qn_status qn_spoolowner_resolve(const struct qn_config_queue *q, struct qn_spoolowner *ret,
                                     enum qn_spoolowner_missing *ret_missing)
{
    struct passwd pw, *pwp = NULL;
    struct group gr, *grp = NULL;
    char *buf = malloc(LOOKUP_BUF_MAX);
    enum qn_status r = QN_ENOMEM;
    int e;

    *ret_missing = QN_SPOOLOWNER_HAVE_ALL;
    if (buf == NULL)
        return r;
    memset(ret, 0, sizeof(*ret));
    e = getpwnam_r(q->user, &pw, buf, LOOKUP_BUF_MAX, &pwp);
    if (e != 0 || pwp == NULL) {
        *ret_missing = QN_SPOOLOWNER_NO_USER;
        errno = e;
        r = e == 0 || e == ENOENT || e == ESRCH ? QN_ENOTFOUND : QN_EIO;
        goto out;
    }
    snprintf(ret->user, sizeof(ret->user), "%s", q->user);
    ret->uid = pw.pw_uid;
    ret->gid = pw.pw_gid;
    e = getgrgid_r(pw.pw_gid, &gr, buf, LOOKUP_BUF_MAX, &grp);
    if (e == 0 && grp != NULL && strlen(gr.gr_name) < sizeof(ret->group))
        snprintf(ret->group, sizeof(ret->group), "%s", gr.gr_name);
    else
        snprintf(ret->group, sizeof(ret->group), "%llu", ret->gid);
    e = getgrnam_r(q->drop_group, &gr, buf, LOOKUP_BUF_MAX, &grp);
    if (e != 0 || grp == NULL) {
        *ret_missing = QN_SPOOLOWNER_NO_DROP_GROUP;
        errno = e;
        r = e == 0 || e == ENOENT || e == ESRCH ? QN_ENOTFOUND : QN_EIO;
        goto out;
    }
    snprintf(ret->drop_group, sizeof(ret->drop_group), "%s", q->drop_group);
    ret->drop_gid = gr.gr_gid;
    r = QN_OK;
out:
    free(buf);
    return r;
}

/* Open DIR's parent and keep DIR's last name in BASE: trailing slashes stripped. */
static enum qn_status open_parent(const char *dir, int *ret_fd, char *base, size_t basesz)
{
    char path[PATH_MAX];
    char *slash;
    size_t len;
    int fd;

    len = strnlen(dir, sizeof(path));
    if (len == 0 || len == sizeof(path))
        return QN_EINVAL;
    memcpy(path, dir, len + 1);
    while (len > 1 && path[len - 1] == '/')
        path[--len] = '\0';
    slash = strrchr(path, '/');
    if (slash == NULL || slash[1] == '\0' || strcmp(slash + 1, ".") == 0 ||
        strcmp(slash + 1, "..") == 0 || strlen(slash + 1) >= basesz)
        return QN_EINVAL; /* an absolute path to a directory of its own */
    snprintf(base, basesz, "%s", slash + 1);
    if (slash == path)
        slash[1] = '\0';
    else
        *slash = '\0';
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return qn_enqueue_errno_status();
    *ret_fd = fd;
    return QN_OK;
}

static void want(struct qn_spoolowner_finding *f, size_t i, const struct qn_spoolowner *o)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->name, sizeof(f->name), "%s", layout[i].name);
    f->want_mode = layout[i].mode;
    f->want_uid = o->uid;
    f->want_gid = layout[i].drop_group ? o->drop_gid : o->gid;
}

/* Look at directory NAME in AT (the spool's parent for i == 0) into F; its fd into *RET_FD
 * when it exists and is a directory (-1 otherwise). */
static void look(int at, const char *name, struct qn_spoolowner_finding *f, int *ret_fd)
{
    struct stat st;
    int fd;

    *ret_fd = -1;
    if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        f->state = errno == ENOENT ? QN_SPOOLOWNER_ABSENT : QN_SPOOLOWNER_FAILED;
        f->sys_errno = errno;
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        f->state = QN_SPOOLOWNER_NOT_DIR;
        return;
    }
    fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        f->state = QN_SPOOLOWNER_FAILED;
        f->sys_errno = errno;
        if (fd >= 0)
            qn_enqueue_close_keep_errno(fd);
        return;
    }
    f->have_mode = (unsigned)(st.st_mode & 07777);
    f->have_uid = (unsigned long long)st.st_uid;
    f->have_gid = (unsigned long long)st.st_gid;
    f->state =
        f->have_mode == f->want_mode && f->have_uid == f->want_uid && f->have_gid == f->want_gid
            ? QN_SPOOLOWNER_OK
            : QN_SPOOLOWNER_WRONG;
    *ret_fd = fd;
}

/* Check into *RET; with CREATE, then make what is absent.  The worst finding decides. */
static enum qn_status walk(const char *dir, const struct qn_spoolowner *o, bool create,
                           struct qn_spoolowner_report *ret)
{
    char base[NAME_MAX + 1];
    int parent = -1, top = -1, fds[QN_SPOOLOWNER_DIRS];
    bool wrong = false, absent = false, failed = false;
    enum qn_status r;
    size_t i;

    memset(ret, 0, sizeof(*ret));
    for (i = 0; i < QN_SPOOLOWNER_DIRS; i++) {
        fds[i] = -1;
        want(&ret->dirs[i], i, o);
    }
    ret->n = QN_SPOOLOWNER_DIRS;
    r = open_parent(dir, &parent, base, sizeof(base));
    if (r != QN_OK) {
        ret->dirs[0].state = QN_SPOOLOWNER_FAILED;
        ret->dirs[0].sys_errno = r == QN_EINVAL ? EINVAL : errno;
        return r == QN_EINVAL ? QN_EINVAL : QN_EIO;
    }
    look(parent, base, &ret->dirs[0], &fds[0]);
    top = fds[0];
    for (i = 1; i < QN_SPOOLOWNER_DIRS; i++) {
        if (top >= 0)
            look(top, layout[i].name, &ret->dirs[i], &fds[i]);
        else if (ret->dirs[0].state == QN_SPOOLOWNER_ABSENT)
            ret->dirs[i].state = QN_SPOOLOWNER_ABSENT;
        else
            ret->dirs[i].state = QN_SPOOLOWNER_FAILED;
    }
    for (i = 0; i < QN_SPOOLOWNER_DIRS; i++) {
        enum qn_spoolowner_state st = ret->dirs[i].state;

        wrong |= st == QN_SPOOLOWNER_WRONG || st == QN_SPOOLOWNER_NOT_DIR;
        absent |= st == QN_SPOOLOWNER_ABSENT;
        failed |= st == QN_SPOOLOWNER_FAILED;
    }
    if (wrong || failed || !create || !absent) {
        r = wrong ? QN_ECONFIG : failed ? QN_EIO : absent ? QN_ENOTFOUND : QN_OK;
        goto out;
    }
    /* Nothing wrong: make what is missing, the spool directory first. */
    r = QN_OK;
    for (i = 0; i < QN_SPOOLOWNER_DIRS && r == QN_OK; i++) {
        struct qn_spoolowner_finding *f = &ret->dirs[i];
        int at = i == 0 ? parent : fds[0];
        const char *name = i == 0 ? base : layout[i].name;
        int fd;

        if (f->state != QN_SPOOLOWNER_ABSENT)
            continue;
        if (mkdirat(at, name, 0700) != 0 ||
            (fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
            f->state = QN_SPOOLOWNER_FAILED;
            f->sys_errno = errno;
            r = QN_EIO;
            break;
        }
        fds[i] = fd;
        /* Owner first, then the mode: chown clears the set-group-ID bit. */
        if (fchown(fd, (uid_t)f->want_uid, (gid_t)f->want_gid) != 0 ||
            fchmod(fd, (mode_t)f->want_mode) != 0) {
            f->state = QN_SPOOLOWNER_FAILED;
            f->sys_errno = errno;
            r = QN_EIO;
            break;
        }
        f->state = QN_SPOOLOWNER_CREATED;
        f->have_mode = f->want_mode;
        f->have_uid = f->want_uid;
        f->have_gid = f->want_gid;
    }
    if (r == QN_OK && (fsync(fds[0]) != 0 || fsync(parent) != 0))
        r = QN_EIO;
out:
    for (i = 0; i < QN_SPOOLOWNER_DIRS; i++)
        qn_enqueue_close_keep_errno(fds[i]);
    qn_enqueue_close_keep_errno(parent);
    return r;
}

enum qn_status qn_spoolowner_check(const char *dir, const struct qn_spoolowner *o,
                                   struct qn_spoolowner_report *ret)
{
    if (dir == NULL || o == NULL || ret == NULL)
        return QN_EINVAL;
    return walk(dir, o, false, ret);
}

enum qn_status qn_spoolowner_init(const char *dir, const struct qn_spoolowner *o,
                                  struct qn_spoolowner_report *ret)
{
    if (dir == NULL || o == NULL || ret == NULL)
        return QN_EINVAL;
    return walk(dir, o, true, ret);
}

enum qn_status qn_spoolowner_become(const struct qn_spoolowner *o)
{
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;
    uid_t uid = (uid_t)o->uid;
    gid_t gid = (gid_t)o->gid;

    if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0)
        return QN_EPERM;
    if (getresuid(&ruid, &euid, &suid) != 0 || getresgid(&rgid, &egid, &sgid) != 0)
        return QN_EPERM;
    if (ruid != uid || euid != uid || suid != uid || rgid != gid || egid != gid || sgid != gid) {
        errno = EPERM;
        return QN_EPERM;
    }
    /* Root's ids must be gone for good (a spool user of uid 0 is refused by the caller). */
    if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
        errno = EPERM;
        return QN_EPERM;
    }
    /* A change of uid sets the dumpable flag to fs.suid_dumpable, which may be 1 or 2: the
     * credential read as root is still in memory, so it stays out of core dumps and ptrace. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return QN_EIO;
    return QN_OK;
}
