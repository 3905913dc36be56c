/*
 * qqnotify-drop — put one submission into the spool's maildrop/, for any
 * local user.  Installed set-group-ID qqnotify-drop (mode 2755, root
 * owner): the only holder of the group that may create files in maildrop/
 * (the spool user's, group qqnotify-drop, mode 1730).  `qqnotify notify`
 * and `qqnotify sendmail` run it; qqnotify-drop(8) is its page, pickup.h
 * says what the sender does with the file.  Postfix's postdrop(1) is the
 * model.
 *
 *   qqnotify-drop SPOOL_DIR < ENTRY
 *
 * It trusts nothing of its caller:
 *   - no configuration file (the caller's -c/-C never reaches it): the one
 *     argument is the spool directory, and the directory gains the caller
 *     nothing unless its maildrop/ is a real one: checked on the open
 *     directory (never through a symlink) to be owned by the spool
 *     directory's owner, with this program's effective group, mode
 *     exactly 1730, inside a spool directory nobody else can write;
 *   - no environment (cleared first), no locale, no translations: the
 *     caller explains failures from the exit status (exit.h) in its own
 *     language; the few lines here are plain English;
 *   - core dumps off and not ptrace-attachable (PR_SET_DUMPABLE 0,
 *     RLIMIT_CORE 0), although it holds nothing secret;
 *   - the entry is read whole from stdin, at most QN_DROP_INPUT_MAX bytes,
 *     and must be a valid entry of the user origin (spool.h's strict
 *     reader); the sender checks it again and believes nothing in it but
 *     the file's owner, which the kernel sets to the caller.
 * The file is written as "<id>.part" (O_CREAT|O_EXCL|O_NOFOLLOW, mode
 * 0444: the sender, which owns maildrop/ but not the file, reads it as
 * "other"), fsync'd, and renamed to "<id>"; then the id is printed and the
 * exit status is 0.  The directories are opened O_PATH: the drop group may
 * not read maildrop/ (nor others the spool directory), so maildrop/ cannot
 * be fsync'd here; the rename reaches the disk with the file system's next
 * commit, and a crash before it leaves the submission complete or absent,
 * never cut.  A killed run leaves a ".part" file, which the sender removes
 * once it is ten minutes old (the input is read whole before the file is
 * made, so nothing writes a ".part" that long).
 *
 * It refuses a submission that would leave less free space than its own
 * size and SPACE_RESERVE, or fewer free inodes than INODE_RESERVE: the
 * sender copies a submission into new/ before removing it, and the PAM
 * module, the journal watcher and the sender's state need room and files
 * too, so users filling the disk (or its inodes: every submission, and every
 * ".part" of a killed run, takes one) through this program cannot stop
 * them.  The room is looked at before the write and again once the file is
 * written: runs started together all pass the first look, and the ones that
 * find the reserves taken by the others' files remove their own.
 *
 * Exit status (exit.h): 0 done; 64 usage; 65 the entry is not valid or
 * too large; 73 no usable maildrop/ (missing, not made by `qqnotify queue
 * init`, or this program not set-group-ID); 74 a read or write failed; 75
 * no space or quota left (try again later); 71 out of memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "enqueue.h"
#include "exit.h"
#include "spool.h"

/* The largest submission: the largest [spool] max_entry_size and its header lines.  The
 * sender enforces the configured bound (this program cannot read the configuration). */
#define QN_DROP_INPUT_MAX (QN_CONFIG_ENTRY_MAX + QN_SPOOL_HEADER_MAX)
#define PART_SUFFIX       ".part"
#define SUBMISSION_MODE   0444
/* Free space a submission must leave besides its own size: the sender copies it into new/
 * before removing it from maildrop/, and trusted producers (a login alert is about 2 KiB)
 * and the sender's state files must still find room when users fill the disk through this
 * program (Postfix's queue_minfree does the same for its queue). */
#define SPACE_RESERVE (32ULL * 1024 * 1024)
/* Free inodes a submission must leave besides its own two (its file, the sender's copy):
 * a login alert, a state file's rewrite and each of the sender's moves takes one while it
 * is written. */
#define INODE_RESERVE 1024ULL

#if defined(__SANITIZE_ADDRESS__)
#define QN_DROP_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QN_DROP_SANITIZED 1
#endif
#endif
#ifdef QN_DROP_SANITIZED
/* Sanitizer builds only (make check-asan).  LeakSanitizer's check at exit runs in a tracer
 * that must attach to this process, which a set-group-ID program made non-dumpable does
 * not allow when another user runs it: every such run would end in "LeakSanitizer has
 * encountered a fatal error" and exit 1.  Address and undefined-behaviour checks stay on;
 * the leak checks of the unit tests cover the core code this program shares. */
__attribute__((visibility("default"), used)) const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "detect_leaks=0";
}
#endif

static int fail(int code, const char *what, int e)
{
    if (e != 0)
        fprintf(stderr, "qqnotify-drop: %s: %s\n", what, strerror(e));
    else
        fprintf(stderr, "qqnotify-drop: %s\n", what);
    return code;
}

/* The exit status for a failed write. */
static int write_failure(const char *what, int e)
{
    return fail(e == ENOSPC || e == EDQUOT || e == EFBIG ? QN_EXIT_TEMPFAIL : QN_EXIT_IOERR, what,
                e);
}

/* Room on MAILDROP's file system for LEN more bytes and FILES more inodes, plus the
 * reserves?  0, or an exit status (ENOSPC). */
static int check_space(int maildrop, unsigned long long len, unsigned long long files)
{
    struct statvfs vfs;

    if (fstatvfs(maildrop, &vfs) != 0)
        return 0; /* cannot tell: the write says */
    if ((unsigned long long)vfs.f_bavail * vfs.f_frsize < len + SPACE_RESERVE)
        return write_failure("not enough free space in the spool's file system", ENOSPC);
    /* f_files 0: inodes are made as needed (btrfs), there is no count to run out of. */
    if (vfs.f_files != 0 && (unsigned long long)vfs.f_favail < files + INODE_RESERVE)
        return write_failure("not enough free inodes in the spool's file system", ENOSPC);
    return 0;
}

static int harden(void)
{
    struct rlimit none = {0, 0};

    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || setrlimit(RLIMIT_CORE, &none) != 0)
        return -1;
    /* A caller's RLIMIT_FSIZE must end in EFBIG, its .part removed and exit 75, not in a
     * signal that leaves the .part behind (Postfix's postdrop ignores it too). */
    if (signal(SIGXFSZ, SIG_IGN) == SIG_ERR)
        return -1;
    if (clearenv() != 0)
        return -1;
    umask(077);
    return 0;
}

/* Read stdin whole into IN (bounded).  0, or an exit status. */
static int read_entry(struct qn_buf *in)
{
    char chunk[65536];

    for (;;) {
        ssize_t n = read(STDIN_FILENO, chunk, sizeof(chunk));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(QN_EXIT_IOERR, "cannot read the entry from standard input", errno);
        if (n == 0)
            return 0;
        if (qn_buf_append(in, chunk, (size_t)n) != QN_OK)
            return fail(QN_EXIT_DATAERR, "the entry is too large", 0);
    }
}

/* Is MAILDROP (fd) the real maildrop/ of the spool SPOOL (fd)?  0, or an exit status. */
static int check_maildrop(int spool, int maildrop)
{
    struct stat top, md;

    if (fstat(spool, &top) != 0 || fstat(maildrop, &md) != 0)
        return fail(QN_EXIT_IOERR, "cannot look at the spool", errno);
    if (!S_ISDIR(md.st_mode) || md.st_gid != getegid() || (md.st_mode & 07777) != 01730 ||
        md.st_uid != top.st_uid || (top.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return fail(QN_EXIT_CANTCREAT,
                    "maildrop/ is not the spool user's with this program's group and mode "
                    "1730, or this program is not set-group-ID (run `qqnotify queue init` as "
                    "root; install qqnotify-drop root:qqnotify-drop 2755)",
                    0);
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Write IN as a new submission in MAILDROP; its id into ID.  0, or an exit status. */
static int place(int maildrop, const struct qn_buf *in, char *id)
{
    char part[QN_SPOOL_ID_MAX + sizeof(PART_SUFFIX)];
    int fd, e, rc;

    if (qn_enqueue_new_id(id) != QN_OK)
        return fail(QN_EXIT_OSERR, "cannot make an entry id", errno);
    snprintf(part, sizeof(part), "%s" PART_SUFFIX, id);
    fd = openat(maildrop, part, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
                SUBMISSION_MODE);
    if (fd < 0)
        return write_failure("cannot create the submission in maildrop/", errno);
    if (fchmod(fd, SUBMISSION_MODE) != 0 || write_all(fd, in->data, in->len) != 0 ||
        fsync(fd) != 0) {
        e = errno;
        (void)close(fd);
        (void)unlinkat(maildrop, part, 0);
        return write_failure("cannot write the submission", e);
    }
    /* Written and counted: the reserves left for the sender's copy, else give them back. */
    rc = check_space(maildrop, in->len, 1);
    if (rc != 0) {
        (void)close(fd);
        (void)unlinkat(maildrop, part, 0);
        return rc;
    }
    if (close(fd) != 0 || renameat(maildrop, part, maildrop, id) != 0) {
        e = errno;
        (void)unlinkat(maildrop, part, 0);
        return write_failure("cannot write the submission", e);
    }
    return 0;
}

/* Directory NAME in AT (or the path NAME when AT is AT_FDCWD) for *at() calls only: O_PATH,
 * because the drop group may not read maildrop/ and others may not read the spool. */
static int open_path_dir(int at, const char *name)
{
    return openat(at, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

int main(int argc, char **argv)
{
    struct qn_spool_entry *e = NULL;
    struct qn_buf in;
    char id[QN_SPOOL_ID_MAX];
    int spool = -1, maildrop = -1, rc;

    qn_buf_init(&in, QN_DROP_INPUT_MAX);
    if (harden() != 0) {
        rc = fail(QN_EXIT_OSERR, "cannot switch core dumps off", errno);
        goto out;
    }
    if (argc != 2 || argv[1][0] != '/') {
        rc = fail(QN_EXIT_USAGE, "usage: qqnotify-drop /ABSOLUTE/SPOOL/DIR < ENTRY", 0);
        goto out;
    }
    {
        /* With a trailing slash the kernel would follow a final symlink even under
         * O_NOFOLLOW: strip them. */
        char path[PATH_MAX];
        size_t len = strnlen(argv[1], sizeof(path));

        if (len == sizeof(path)) {
            rc = fail(QN_EXIT_USAGE, "the spool directory's path is too long", 0);
            goto out;
        }
        memcpy(path, argv[1], len + 1);
        while (len > 1 && path[len - 1] == '/')
            path[--len] = '\0';
        spool = open_path_dir(AT_FDCWD, path);
    }
    if (spool >= 0)
        maildrop = open_path_dir(spool, "maildrop");
    if (spool < 0 || maildrop < 0) {
        rc = fail(QN_EXIT_CANTCREAT, "cannot open the spool's maildrop/", errno);
        goto out;
    }
    rc = check_maildrop(spool, maildrop);
    if (rc != 0)
        goto out;
    rc = read_entry(&in);
    if (rc != 0)
        goto out;
    e = calloc(1, sizeof(*e));
    if (e == NULL) {
        rc = fail(QN_EXIT_OSERR, "out of memory", 0);
        goto out;
    }
    switch (qn_spool_parse(in.data != NULL ? in.data : "", in.len, e)) {
    case QN_OK:
        break;
    case QN_ENOMEM:
        rc = fail(QN_EXIT_OSERR, "out of memory", 0);
        goto out;
    default:
        rc = fail(QN_EXIT_DATAERR, "not a valid entry", 0);
        goto out;
    }
    if (e->origin != QN_ORIGIN_USER) {
        rc = fail(QN_EXIT_DATAERR, "not a valid entry: its origin must be user", 0);
        goto out;
    }
    rc = check_space(maildrop, 2ULL * in.len, 2);
    if (rc != 0)
        goto out;
    rc = place(maildrop, &in, id);
    if (rc != 0)
        goto out;
    if (printf("%s\n", id) < 0 || fflush(stdout) != 0) {
        rc = QN_EXIT_IOERR; /* it is in maildrop/ already: the caller learns it from the status */
        goto out;
    }
    rc = QN_EXIT_OK;
out:
    qn_spool_entry_clear(e);
    free(e);
    qn_buf_free(&in);
    if (maildrop >= 0)
        (void)close(maildrop);
    if (spool >= 0)
        (void)close(spool);
    return rc;
}
