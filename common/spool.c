/*
 * spool — the consumer's half of the durable queue; contract and layout in
 * spool.h, the entry format and the write protocol in enqueue.h (which
 * writes every file this half writes too: rewrites, quarantine notes and
 * state files).
 *
 * How the pieces keep their promises:
 *
 * - Durability.  Every file is placed as enqueue.h says (a fresh name in
 *   tmp/, fsync, rename, fsync of the directory), so a queue holds complete
 *   files only; a crash leaves a stale tmp/ file, which
 *   qn_spool_clean_tmp() removes after a day.  qn_spool_state_write_nowait()
 *   fsyncs the file but not state/ (spool.h says what that costs).
 *
 * - No path is resolved twice.  qn_spool_open() opens the directory and its
 *   subdirectories once with O_DIRECTORY|O_NOFOLLOW; everything afterwards
 *   is openat/renameat/unlinkat relative to those fds, with names that are
 *   either constants or ids checked by qn_spool_id_valid().
 *
 * - Corrupt entries never stop the queue.  The reader (entryread.h) is
 *   strict (fixed line order, exact payload length, no raw control bytes,
 *   bounded sizes) and reports anything odd as QN_EINVAL, and entries are opened with
 *   O_NONBLOCK so a FIFO planted in new/ cannot hang the sender; the
 *   sender then quarantines the file unchanged into failed/ with a reason.
 *
 * - errno.  QN_EIO always leaves the failing call's errno in place: error
 *   paths save it before cleaning up and restore it after.
 *
 * libc only, like enqueue.c; the PAM module links only enqueue.c.
 * No global mutable state.
 */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "enqueue.h"
#include "entryread.h"
#include "text.h"

#define LOCK_NAME          "flush.lock"
#define REASON_SUFFIX      ".reason"
#define STATE_LOCK_POLL_MS 10

/* The subdirectories; maildrop/ comes last: it is optional (spool.h). */
enum subdir { SUB_TMP, SUB_NEW, SUB_DEFERRED, SUB_FAILED, SUB_STATE, SUB_MAILDROP, N_SUBDIRS };
#define N_REQUIRED SUB_MAILDROP

static const char *const subdir_names[N_SUBDIRS] = {"tmp",    "new",   "deferred",
                                                    "failed", "state", "maildrop"};

#define PART_SUFFIX ".part" /* a submission qqnotify-drop is still writing */

struct qn_spool {
    int dir_fd;
    int sub_fd[N_SUBDIRS]; /* sub_fd[SUB_MAILDROP] is -1 when there is none */
    int lock_fd;           /* -1 unless the sender lock is held */
};

/* ---- small system helpers ---- */

/* Read up to N bytes; returns the count (less than N only at end of file) or -1. */
static ssize_t read_full(int fd, void *p, size_t n)
{
    char *c = p;
    size_t got = 0;

    while (got < n) {
        ssize_t r = read(fd, c + got, n - got);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* ---- ids ---- */

bool qn_spool_id_valid(const char *id)
{
    const char *p, *dot;
    size_t len, i;

    if (id == NULL)
        return false;
    len = strnlen(id, QN_SPOOL_ID_MAX);
    if (len == QN_SPOOL_ID_MAX)
        return false;
    /* seconds */
    dot = memchr(id, '.', len);
    if (dot == NULL || (size_t)(dot - id) > 20 ||
        !qn_entryread_digits(id, (size_t)(dot - id), true))
        return false;
    /* microseconds */
    p = dot + 1;
    dot = memchr(p, '.', len - (size_t)(p - id));
    if (dot == NULL || dot - p != 6 || !qn_entryread_digits(p, 6, false))
        return false;
    /* pid */
    p = dot + 1;
    dot = memchr(p, '.', len - (size_t)(p - id));
    if (dot == NULL || (size_t)(dot - p) > 10 || !qn_entryread_digits(p, (size_t)(dot - p), true))
        return false;
    /* random */
    p = dot + 1;
    if (len - (size_t)(p - id) != QN_SPOOL_ID_RANDOM_DIGITS)
        return false;
    for (i = 0; i < QN_SPOOL_ID_RANDOM_DIGITS; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return false;
    }
    return true;
}

/* Oldest first: seconds have no leading zeros, so a shorter one is smaller. */
static int id_compare(const char *a, const char *b)
{
    size_t la = strcspn(a, "."), lb = strcspn(b, ".");

    if (la != lb)
        return la < lb ? -1 : 1;
    return strcmp(a, b);
}

enum qn_status qn_spool_parse(const char *data, size_t len, struct qn_spool_entry *ret_entry)
{
    struct qn_spool_entry *e;
    char *copy;
    enum qn_status r;

    if (data == NULL || ret_entry == NULL || len == SIZE_MAX)
        return QN_EINVAL;
    e = calloc(1, sizeof(*e));
    copy = malloc(len + 1);
    r = QN_ENOMEM;
    if (e != NULL && copy != NULL) {
        memcpy(copy, data, len);
        copy[len] = '\0';
        r = qn_entryread_whole(&copy, len, e);
    }
    if (r == QN_OK)
        *ret_entry = *e;
    free(copy);
    free(e);
    return r;
}

/* ---- consumer: open, close, lock ---- */

struct qn_spool *qn_spool_close(struct qn_spool *sp)
{
    size_t i;

    if (sp == NULL)
        return NULL;
    /* Closing the fd releases the flock. */
    qn_enqueue_close_keep_errno(sp->lock_fd);
    for (i = 0; i < N_SUBDIRS; i++)
        qn_enqueue_close_keep_errno(sp->sub_fd[i]);
    qn_enqueue_close_keep_errno(sp->dir_fd);
    free(sp);
    return NULL;
}

/* Open (and with CREATE make) subdirectory I. */
static enum qn_status open_subdir(struct qn_spool *sp, size_t i, bool create, mode_t mode)
{
    const char *name = subdir_names[i];
    enum qn_status r;
    int fd;

    r = qn_enqueue_open_dir(sp->dir_fd, name, &sp->sub_fd[i]);
    if (r != QN_ENOTFOUND || !create)
        return r;
    if (mkdirat(sp->dir_fd, name, mode & 0777) != 0) {
        if (errno != EEXIST)
            return QN_EIO;
        /* Made by someone else meanwhile: theirs to set up, just open it. */
        return qn_enqueue_open_dir(sp->dir_fd, name, &sp->sub_fd[i]);
    }
    r = qn_enqueue_open_dir(sp->dir_fd, name, &fd);
    if (r != QN_OK)
        return r;
    /* mkdir applies the umask and drops the set-group-ID bit: set the mode
     * exactly, on the fd just opened (never on a path someone could swap). */
    if (fchmod(fd, mode) != 0) {
        qn_enqueue_close_keep_errno(fd);
        return QN_EIO;
    }
    sp->sub_fd[i] = fd;
    return QN_OK;
}

enum qn_status qn_spool_open(const char *dir, unsigned flags, mode_t dir_mode,
                             struct qn_spool **ret_spool)
{
    struct qn_spool *sp;
    enum qn_status r;
    size_t i;

    if (ret_spool == NULL || (flags & ~QN_SPOOL_CREATE) != 0 || (dir_mode & ~(mode_t)07777) != 0)
        return QN_EINVAL;
    if (dir_mode == 0)
        dir_mode = QN_SPOOL_DIR_MODE;
    sp = malloc(sizeof(*sp));
    if (sp == NULL)
        return QN_ENOMEM;
    sp->dir_fd = -1;
    sp->lock_fd = -1;
    for (i = 0; i < N_SUBDIRS; i++)
        sp->sub_fd[i] = -1;

    r = qn_enqueue_open_spool(dir, &sp->dir_fd);
    for (i = 0; r == QN_OK && i < N_REQUIRED; i++)
        r = open_subdir(sp, i, (flags & QN_SPOOL_CREATE) != 0, dir_mode);
    /* maildrop/ is optional and never made here: its group is the drop group. */
    if (r == QN_OK) {
        r = open_subdir(sp, SUB_MAILDROP, false, 0);
        if (r == QN_ENOTFOUND)
            r = QN_OK;
    }
    if (r != QN_OK) {
        qn_spool_close(sp);
        return r;
    }
    *ret_spool = sp;
    return QN_OK;
}

/*
 * Open lock file NAME in state/ (created 0640; O_NOFOLLOW|O_NONBLOCK, so a
 * planted symlink or FIFO can neither redirect nor block it) and try
 * flock(LOCK_EX|LOCK_NB) once.  QN_OK with *RET_FD the locked fd, or -1
 * when another process holds the lock; QN_EIO otherwise.
 */
static enum qn_status try_lock_file(const struct qn_spool *sp, const char *name, int *ret_fd)
{
    struct stat st;
    int fd, rc;

    fd = openat(sp->sub_fd[SUB_STATE], name,
                O_RDONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY,
                QN_SPOOL_FILE_MODE);
    if (fd < 0)
        return QN_EIO;
    if (fstat(fd, &st) != 0)
        goto fail;
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        goto fail;
    }
    /* Whoever runs first creates it: keep it openable by the group under any umask. */
    if (st.st_uid == geteuid() && (st.st_mode & 07777) != QN_SPOOL_FILE_MODE &&
        fchmod(fd, QN_SPOOL_FILE_MODE) != 0)
        goto fail;
    do
        rc = flock(fd, LOCK_EX | LOCK_NB);
    while (rc != 0 && errno == EINTR);
    if (rc != 0 && errno == EWOULDBLOCK) {
        (void)close(fd); /* read-only, unlocked: nothing to lose */
        *ret_fd = -1;
        return QN_OK;
    }
    if (rc != 0)
        goto fail;
    *ret_fd = fd;
    return QN_OK;

fail:
    qn_enqueue_close_keep_errno(fd);
    return QN_EIO;
}

enum qn_status qn_spool_lock(struct qn_spool *sp, bool *ret_locked)
{
    enum qn_status r;
    int fd;

    if (sp == NULL || ret_locked == NULL)
        return QN_EINVAL;
    if (sp->lock_fd >= 0) {
        *ret_locked = true;
        return QN_OK;
    }
    r = try_lock_file(sp, LOCK_NAME, &fd);
    if (r != QN_OK)
        return r;
    sp->lock_fd = fd;
    *ret_locked = fd >= 0;
    return QN_OK;
}

void qn_spool_unlock(struct qn_spool *sp)
{
    if (sp == NULL || sp->lock_fd < 0)
        return;
    qn_enqueue_close_keep_errno(sp->lock_fd);
    sp->lock_fd = -1;
}

/* ---- consumer: queues ---- */

static int queue_fd(const struct qn_spool *sp, enum qn_spool_queue q)
{
    switch (q) {
    case QN_SPOOL_NEW:
        return sp->sub_fd[SUB_NEW];
    case QN_SPOOL_DEFERRED:
        return sp->sub_fd[SUB_DEFERRED];
    case QN_SPOOL_FAILED:
        return sp->sub_fd[SUB_FAILED];
    case QN_SPOOL_MAILDROP:
        return sp->sub_fd[SUB_MAILDROP];
    }
    return -1;
}

/* A DIR stream of its own for directory fd FD (a private offset: fds are shared). */
static DIR *open_stream(int fd)
{
    int own = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d;

    if (own < 0)
        return NULL;
    d = fdopendir(own);
    if (d == NULL)
        qn_enqueue_close_keep_errno(own);
    return d;
}

/* The MAX oldest (or NEWEST) valid ids of QUEUE, sorted oldest first. */
static enum qn_status list_ids(struct qn_spool *sp, enum qn_spool_queue queue, bool newest,
                               char (*ret_ids)[QN_SPOOL_ID_MAX], size_t max, size_t *ret_n,
                               size_t *ret_total)
{
    struct dirent *de;
    size_t n = 0, total = 0;
    int fd, saved;
    DIR *d;

    if (sp == NULL || ret_n == NULL || (ret_ids == NULL && max > 0))
        return QN_EINVAL;
    fd = queue_fd(sp, queue);
    if (fd < 0)
        return QN_EINVAL;
    d = open_stream(fd);
    if (d == NULL)
        return QN_EIO;
    for (;;) {
        size_t lo = 0, hi = n;

        errno = 0;
        de = readdir(d);
        if (de == NULL)
            break;
        if (!qn_spool_id_valid(de->d_name))
            continue;
        total++;
        /* Keep the MAX oldest (newest), sorted: binary search, then shift. */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;

            if (id_compare(ret_ids[mid], de->d_name) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (max == 0)
            continue;
        if (!newest) {
            if (lo >= max)
                continue;
            if (n == max)
                n--; /* the newest falls off the end */
            memmove(ret_ids[lo + 1], ret_ids[lo], (n - lo) * sizeof(ret_ids[0]));
            memcpy(ret_ids[lo], de->d_name, strlen(de->d_name) + 1);
            n++;
            continue;
        }
        if (n == max) {
            if (lo == 0)
                continue; /* older than all kept */
            /* The oldest falls off the front. */
            memmove(ret_ids[0], ret_ids[1], (lo - 1) * sizeof(ret_ids[0]));
            memcpy(ret_ids[lo - 1], de->d_name, strlen(de->d_name) + 1);
            continue;
        }
        memmove(ret_ids[lo + 1], ret_ids[lo], (n - lo) * sizeof(ret_ids[0]));
        memcpy(ret_ids[lo], de->d_name, strlen(de->d_name) + 1);
        n++;
    }
    saved = errno;
    (void)closedir(d); /* read-only stream */
    if (saved != 0) {
        errno = saved;
        return QN_EIO;
    }
    *ret_n = n;
    if (ret_total != NULL)
        *ret_total = total;
    return QN_OK;
}

enum qn_status qn_spool_list(struct qn_spool *sp, enum qn_spool_queue queue,
                             char (*ret_ids)[QN_SPOOL_ID_MAX], size_t max, size_t *ret_n,
                             size_t *ret_total)
{
    return list_ids(sp, queue, false, ret_ids, max, ret_n, ret_total);
}

enum qn_status qn_spool_list_newest(struct qn_spool *sp, enum qn_spool_queue queue,
                                    char (*ret_ids)[QN_SPOOL_ID_MAX], size_t max, size_t *ret_n,
                                    size_t *ret_total)
{
    return list_ids(sp, queue, true, ret_ids, max, ret_n, ret_total);
}

void qn_spool_entry_clear(struct qn_spool_entry *e)
{
    if (e == NULL)
        return;
    free(e->message);
    memset(e, 0, sizeof(*e));
}

/* Open entry ID of QUEUE for reading; a non-regular file is corrupt, not an I/O error. */
static enum qn_status open_entry(struct qn_spool *sp, enum qn_spool_queue queue, const char *id,
                                 int *ret_fd, struct stat *ret_st)
{
    int qfd, fd;

    if (sp == NULL || !qn_spool_id_valid(id))
        return QN_EINVAL;
    qfd = queue_fd(sp, queue);
    if (qfd < 0)
        return QN_EINVAL;
    fd = openat(qfd, id, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        /* ELOOP: a symlink; ENXIO: a socket.  Both are things to quarantine. */
        if (errno == ELOOP || errno == ENXIO)
            return QN_EINVAL;
        return qn_enqueue_errno_status();
    }
    if (fstat(fd, ret_st) != 0) {
        qn_enqueue_close_keep_errno(fd);
        return QN_EIO;
    }
    /* A submission with a second name could be changed through it (pickup.h). */
    if (!S_ISREG(ret_st->st_mode) || (queue == QN_SPOOL_MAILDROP && ret_st->st_nlink != 1)) {
        qn_enqueue_close_keep_errno(fd);
        errno = EINVAL;
        return QN_EINVAL;
    }
    *ret_fd = fd;
    return QN_OK;
}

enum qn_status qn_spool_owner(struct qn_spool *sp, enum qn_spool_queue queue, const char *id,
                              unsigned long long *ret_uid)
{
    struct stat st;
    int qfd;

    if (sp == NULL || ret_uid == NULL || !qn_spool_id_valid(id))
        return QN_EINVAL;
    qfd = queue_fd(sp, queue);
    if (qfd < 0)
        return QN_EINVAL;
    if (fstatat(qfd, id, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return qn_enqueue_errno_status();
    *ret_uid = (unsigned long long)st.st_uid;
    return QN_OK;
}

/*
 * Load ID (see qn_spool_load); WHOLE false reads only the header of a
 * message.  The file's size is checked against MAX_SIZE before anything
 * is allocated.
 */
static enum qn_status load(struct qn_spool *sp, enum qn_spool_queue queue, const char *id,
                           size_t max_size, bool whole, struct qn_spool_entry *ret_entry)
{
    struct qn_spool_entry *e = NULL;
    char *data = NULL, probe;
    size_t size, want, offset;
    unsigned version;
    struct stat st;
    enum qn_status r;
    ssize_t got;
    int fd = -1;

    if (ret_entry == NULL)
        return QN_EINVAL;
    if (max_size == 0)
        max_size = QN_SPOOL_DEFAULT_MAX_ENTRY;
    r = open_entry(sp, queue, id, &fd, &st);
    if (r != QN_OK)
        return r;
    if (st.st_size < 0 || (unsigned long long)st.st_size > max_size) {
        r = QN_ETOOBIG;
        goto out;
    }
    size = (size_t)st.st_size;
    /* Without the message: the header block is enough to tell, unless it is an event. */
    want = whole || size <= QN_SPOOL_HEADER_MAX ? size : QN_SPOOL_HEADER_MAX;
    r = QN_ENOMEM;
    data = malloc(want + 1);
    e = calloc(1, sizeof(*e));
    if (data == NULL || e == NULL)
        goto out;
    r = QN_EIO;
    got = read_full(fd, data, want);
    if (got < 0)
        goto out;
    if ((size_t)got < want) {
        r = QN_EINVAL; /* shorter than it said: entries are never changed in place */
        goto out;
    }
    if (want < size) {
        data[want] = '\0';
        r = QN_EINVAL;
        if (!qn_entryread_header(data, want, size, e, &offset, &version))
            goto out;
        if (e->type == QN_SPOOL_EVENT) {
            /* An event is wanted whole after all: read the rest. */
            char *more = realloc(data, size + 1);

            r = QN_ENOMEM;
            if (more == NULL)
                goto out;
            data = more;
            r = QN_EIO;
            got = read_full(fd, data + want, size - want);
            if (got < 0)
                goto out;
            r = QN_EINVAL;
            if ((size_t)got != size - want)
                goto out;
            want = size;
        } else {
            e->message_len = size - offset;
            goto done;
        }
    }
    /* Entries are never changed in place: one that grows while read is corrupt. */
    {
        ssize_t more = read_full(fd, &probe, 1);

        r = QN_EIO;
        if (more < 0)
            goto out;
        r = QN_EINVAL;
        if (more > 0)
            goto out;
    }
    memset(e, 0, sizeof(*e));
    r = qn_entryread_whole(&data, size, e);
    if (r != QN_OK)
        goto out;
    if (!whole && e->type == QN_SPOOL_MESSAGE) {
        /* A small message was read whole all the same: the contract is no bytes. */
        free(e->message);
        e->message = NULL;
    }
done:
    memcpy(e->id, id, strlen(id) + 1);
    e->owner = (unsigned long long)st.st_uid;
    *ret_entry = *e;
    r = QN_OK;
out:
    qn_enqueue_close_keep_errno(fd);
    free(data);
    free(e);
    return r;
}

enum qn_status qn_spool_load(struct qn_spool *sp, enum qn_spool_queue queue, const char *id,
                             size_t max_size, struct qn_spool_entry *ret_entry)
{
    return load(sp, queue, id, max_size, true, ret_entry);
}

enum qn_status qn_spool_load_head(struct qn_spool *sp, enum qn_spool_queue queue, const char *id,
                                  size_t max_size, struct qn_spool_entry *ret_entry)
{
    return load(sp, queue, id, max_size, false, ret_entry);
}

enum qn_status qn_spool_peek(struct qn_spool *sp, enum qn_spool_queue queue, const char *id,
                             size_t max_size, struct qn_spool_head *ret)
{
    char buf[QN_SPOOL_PEEK_MAX + 1];
    struct qn_spool_entry *e = NULL;
    unsigned version;
    struct stat st;
    enum qn_status r;
    ssize_t got;
    int fd = -1;

    if (ret == NULL)
        return QN_EINVAL;
    r = open_entry(sp, queue, id, &fd, &st);
    if (r != QN_OK)
        return r;
    if (max_size == 0)
        max_size = QN_SPOOL_DEFAULT_MAX_ENTRY;
    if (st.st_size < 0 || (unsigned long long)st.st_size > max_size) {
        r = QN_ETOOBIG;
        goto out;
    }
    r = QN_EIO;
    got = read_full(fd, buf, QN_SPOOL_PEEK_MAX);
    if (got < 0)
        goto out;
    buf[got] = '\0';
    r = QN_ENOMEM;
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        goto out;
    r = QN_EINVAL;
    if (!qn_entryread_prefix(buf, (size_t)got, e, &version))
        goto out;
    if (version == 1 && e->type == QN_SPOOL_EVENT) {
        /* The kind is the payload's first line, after "end": look for it. */
        const char *end = memmem(buf, (size_t)got, "\nend\nkind ", 10);

        if (end != NULL) {
            const char *k = end + 10, *nl = memchr(k, '\n', (size_t)(buf + got - k));

            if (nl != NULL && (size_t)(nl - k) < sizeof(e->event.kind)) {
                memcpy(e->event.kind, k, (size_t)(nl - k));
                qn_entryread_version1_lane(e);
            }
        }
    }
    memset(ret, 0, sizeof(*ret));
    memcpy(ret->id, id, strlen(id) + 1);
    ret->type = e->type;
    ret->origin = e->origin;
    ret->uid = e->uid;
    ret->lane = e->lane;
    ret->owner = (unsigned long long)st.st_uid;
    ret->queued = e->queued;
    ret->attempts = e->attempts;
    ret->next_try = e->next_try;
    ret->size = (unsigned long long)st.st_size;
    r = QN_OK;
out:
    qn_enqueue_close_keep_errno(fd);
    free(e);
    return r;
}

/* "<id>.reason" into OUT. */
static void reason_name(const char *id, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s" REASON_SUFFIX, id);
}

/* unlinkat that treats "already gone" as done. */
static int unlink_if_present(int fd, const char *name)
{
    if (unlinkat(fd, name, 0) != 0 && errno != ENOENT)
        return -1;
    return 0;
}

enum qn_status qn_spool_remove(struct qn_spool *sp, enum qn_spool_queue queue, const char *id)
{
    char reason[QN_SPOOL_ID_MAX + sizeof(REASON_SUFFIX)];
    enum qn_status r = QN_OK;
    int qfd;

    if (sp == NULL || !qn_spool_id_valid(id))
        return QN_EINVAL;
    qfd = queue_fd(sp, queue);
    if (qfd < 0)
        return QN_EINVAL;
    if (unlinkat(qfd, id, 0) != 0) {
        /* A directory planted under an entry's name (quarantined, then dropped). */
        if (errno != EISDIR || unlinkat(qfd, id, AT_REMOVEDIR) != 0)
            r = qn_enqueue_errno_status();
    }
    if (r != QN_OK && r != QN_ENOTFOUND)
        return r;
    if (queue == QN_SPOOL_FAILED) {
        reason_name(id, reason, sizeof(reason));
        if (unlink_if_present(qfd, reason) != 0)
            return QN_EIO;
    }
    if (r == QN_OK && fsync(qfd) != 0)
        return QN_EIO;
    return r;
}

enum qn_status qn_spool_discard(struct qn_spool *sp, enum qn_spool_queue queue, const char *id)
{
    int qfd;

    if (sp == NULL || !qn_spool_id_valid(id))
        return QN_EINVAL;
    qfd = queue_fd(sp, queue);
    if (qfd < 0)
        return QN_EINVAL;
    if (unlinkat(qfd, id, 0) != 0)
        return qn_enqueue_errno_status();
    return QN_OK;
}

enum qn_status qn_spool_sync(struct qn_spool *sp, enum qn_spool_queue queue)
{
    int qfd;

    if (sp == NULL)
        return QN_EINVAL;
    qfd = queue_fd(sp, queue);
    if (qfd < 0)
        return QN_EINVAL;
    return fsync(qfd) == 0 ? QN_OK : QN_EIO;
}

/*
 * H's type, origin, uid, lane, envelope and size, and *RET_PAYLOAD, for
 * writing ENTRY (the event's spool form goes to EVENT).  A message whose
 * bytes were not loaded cannot be written: QN_EINVAL.
 */
static enum qn_status entry_payload(const struct qn_spool_entry *entry, struct qn_enqueue_header *h,
                                    struct qn_buf *event, const void **ret_payload)
{
    enum qn_status r = QN_EINVAL;
    size_t i;

    h->type = entry->type;
    h->origin = entry->origin != 0 ? entry->origin : QN_ORIGIN_SYSTEM;
    h->uid = entry->uid;
    h->lane = entry->lane;
    if (entry->type == QN_SPOOL_EVENT) {
        r = qn_event_write(&entry->event, event);
        *ret_payload = event->data;
        h->size = event->len;
    } else if (entry->type == QN_SPOOL_MESSAGE) {
        if (entry->n_rcpt == 0 || entry->n_rcpt > QN_SPOOL_RCPT_MAX ||
            (entry->message == NULL && entry->message_len > 0))
            return QN_EINVAL;
        /* The entry is the caller's to change: check its envelope like a producer's. */
        r = qn_enqueue_address_check(entry->sender, true);
        for (i = 0; r == QN_OK && i < entry->n_rcpt; i++) {
            r = qn_enqueue_address_check(entry->rcpt[i], false);
            h->rcpt[i] = entry->rcpt[i];
        }
        h->sender = entry->sender;
        h->n_rcpt = entry->n_rcpt;
        *ret_payload = entry->message != NULL ? entry->message : "";
        h->size = entry->message_len;
    }
    return r;
}

enum qn_status qn_spool_add(struct qn_spool *sp, const struct qn_spool_entry *entry,
                            size_t max_size, char *ret_id)
{
    char error[QN_SPOOL_ERROR_MAX], diag[QN_SPOOL_DIAGNOSIS_MAX], id[QN_SPOOL_ID_MAX];
    struct qn_enqueue_header h = {.last_error = error, .diagnosis = diag};
    struct qn_buf head, event;
    const void *payload = NULL;
    enum qn_status r;

    if (sp == NULL || entry == NULL || entry->queued < 0 || entry->next_try < 0)
        return QN_EINVAL;
    if (max_size == 0)
        max_size = QN_SPOOL_DEFAULT_MAX_ENTRY;
    qn_text_sanitize_line(entry->last_error, strnlen(entry->last_error, sizeof(error)), error,
                          sizeof(error));
    qn_text_sanitize_line(entry->diagnosis, strnlen(entry->diagnosis, sizeof(diag)), diag,
                          sizeof(diag));
    h.queued = entry->queued;
    h.attempts = entry->attempts;
    h.next_try = entry->next_try;
    qn_buf_init(&head, QN_SPOOL_HEADER_MAX);
    qn_buf_init(&event, max_size);
    r = entry_payload(entry, &h, &event, &payload);
    if (r == QN_OK)
        r = qn_enqueue_write_header(&h, &head);
    if (r == QN_OK && (h.size > max_size || head.len > max_size - h.size))
        r = QN_ETOOBIG;
    if (r == QN_OK)
        r = qn_enqueue_new_id(id);
    if (r == QN_OK)
        r = qn_enqueue_place(sp->sub_fd[SUB_TMP], id, sp->sub_fd[SUB_NEW], id, head.data, head.len,
                             payload, h.size, QN_ENQUEUE_SYNC_ALL);
    if (r == QN_OK && ret_id != NULL)
        memcpy(ret_id, id, strlen(id) + 1);
    qn_buf_free(&event);
    qn_buf_free(&head);
    return r;
}

/* Rewrite ENTRY into TO with new metadata (ATTEMPT: count one more delivery
 * attempt), then take it out of FROM. */
static enum qn_status rewrite(struct qn_spool *sp, enum qn_spool_queue from, enum qn_spool_queue to,
                              struct qn_spool_entry *entry, bool attempt, long long next_try,
                              const char *last_error, const char *diagnosis)
{
    char error[QN_SPOOL_ERROR_MAX], diag[QN_SPOOL_DIAGNOSIS_MAX], tmp_name[QN_SPOOL_ID_MAX];
    char reason[QN_SPOOL_ID_MAX + sizeof(REASON_SUFFIX)];
    struct qn_enqueue_header h = {.last_error = error, .diagnosis = diag};
    struct qn_buf head, event;
    const void *payload = NULL;
    int from_fd, to_fd;
    enum qn_status r;

    /* Negative times could be written but not read back (numbers have no sign). */
    if (sp == NULL || entry == NULL || !qn_spool_id_valid(entry->id) || next_try < 0 ||
        entry->queued < 0 || from == QN_SPOOL_MAILDROP)
        return QN_EINVAL;
    from_fd = queue_fd(sp, from);
    to_fd = queue_fd(sp, to);
    if (from_fd < 0)
        return QN_EINVAL;
    qn_text_sanitize_line(last_error, last_error != NULL ? strlen(last_error) : 0, error,
                          sizeof(error));
    qn_text_sanitize_line(diagnosis, diagnosis != NULL ? strlen(diagnosis) : 0, diag, sizeof(diag));
    h.queued = entry->queued;
    h.attempts = entry->attempts;
    if (attempt && h.attempts < UINT_MAX)
        h.attempts++;
    h.next_try = next_try;

    qn_buf_init(&head, QN_SPOOL_HEADER_MAX);
    qn_buf_init(&event, QN_SPOOL_DEFAULT_MAX_ENTRY);
    r = entry_payload(entry, &h, &event, &payload);
    if (r != QN_OK)
        goto out;
    r = qn_enqueue_write_header(&h, &head);
    if (r == QN_OK)
        r = qn_enqueue_new_id(tmp_name);
    if (r == QN_OK)
        r = qn_enqueue_place(sp->sub_fd[SUB_TMP], tmp_name, to_fd, entry->id, head.data, head.len,
                             payload, h.size, QN_ENQUEUE_SYNC_ALL);
    if (r != QN_OK)
        goto out;
    /* Now in TO: from here on a failure can only leave a duplicate, never a loss. */
    if (from != to) {
        r = QN_EIO;
        if (unlink_if_present(from_fd, entry->id) != 0 || fsync(from_fd) != 0)
            goto out;
    }
    /* A failed/ entry's reason is its last-error now; an old quarantine note would mislead. */
    if (from == QN_SPOOL_FAILED || to == QN_SPOOL_FAILED) {
        reason_name(entry->id, reason, sizeof(reason));
        r = QN_EIO;
        if (unlink_if_present(sp->sub_fd[SUB_FAILED], reason) != 0)
            goto out;
    }
    entry->attempts = h.attempts;
    entry->next_try = h.next_try;
    memcpy(entry->last_error, error, sizeof(error));
    memcpy(entry->diagnosis, diag, sizeof(diag));
    r = QN_OK;
out:
    qn_buf_free(&event);
    qn_buf_free(&head);
    return r;
}

enum qn_status qn_spool_defer(struct qn_spool *sp, enum qn_spool_queue from,
                              struct qn_spool_entry *entry, long long next_try,
                              const char *last_error, const char *diagnosis)
{
    return rewrite(sp, from, QN_SPOOL_DEFERRED, entry, true, next_try, last_error, diagnosis);
}

enum qn_status qn_spool_hold(struct qn_spool *sp, enum qn_spool_queue from,
                             struct qn_spool_entry *entry, long long next_try, const char *why)
{
    char diag[QN_SPOOL_DIAGNOSIS_MAX];

    if (entry == NULL)
        return QN_EINVAL;
    /* The diagnosis of an earlier failure stays until a new attempt replaces it. */
    memcpy(diag, entry->diagnosis, sizeof(diag));
    return rewrite(sp, from, QN_SPOOL_DEFERRED, entry, false, next_try, why, diag);
}

enum qn_status qn_spool_fail(struct qn_spool *sp, enum qn_spool_queue from,
                             struct qn_spool_entry *entry, const char *reason,
                             const char *diagnosis)
{
    return rewrite(sp, from, QN_SPOOL_FAILED, entry, true, 0, reason, diagnosis);
}

enum qn_status qn_spool_quarantine(struct qn_spool *sp, enum qn_spool_queue from, const char *id,
                                   const char *reason)
{
    char name[QN_SPOOL_ID_MAX + sizeof(REASON_SUFFIX)], tmp_name[QN_SPOOL_ID_MAX];
    char text[QN_SPOOL_ERROR_MAX + 1];
    int from_fd, failed_fd;
    enum qn_status r;
    struct stat st;
    size_t len;

    if (sp == NULL || !qn_spool_id_valid(id) || from == QN_SPOOL_MAILDROP)
        return QN_EINVAL;
    from_fd = queue_fd(sp, from);
    if (from_fd < 0)
        return QN_EINVAL;
    failed_fd = sp->sub_fd[SUB_FAILED];
    if (fstatat(from_fd, id, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return qn_enqueue_errno_status();
    len =
        qn_text_sanitize_line(reason, reason != NULL ? strlen(reason) : 0, text, sizeof(text) - 1);
    text[len++] = '\n';
    reason_name(id, name, sizeof(name));
    r = qn_enqueue_new_id(tmp_name);
    if (r == QN_OK)
        r = qn_enqueue_place(sp->sub_fd[SUB_TMP], tmp_name, failed_fd, name, text, len, "", 0,
                             QN_ENQUEUE_SYNC_ALL);
    if (r != QN_OK)
        return r;
    /* renameat moves a symlink itself and never follows it; same path = nothing to do. */
    if (renameat(from_fd, id, failed_fd, id) != 0) {
        int saved = errno;

        (void)unlinkat(failed_fd, name, 0); /* the entry is gone: drop its note too */
        errno = saved;
        return qn_enqueue_errno_status();
    }
    if (fsync(failed_fd) != 0 || fsync(from_fd) != 0)
        return QN_EIO;
    return QN_OK;
}

/*
 * Read a small regular file NAME in directory FD into BUF (BUFSZ with room
 * for a NUL).  QN_ETOOBIG when it does not fit; QN_EINVAL when not a
 * regular file.
 */
static enum qn_status read_small(int dir_fd, const char *name, char *buf, size_t bufsz,
                                 size_t *ret_len)
{
    struct stat st;
    enum qn_status r = QN_EIO;
    ssize_t got;
    char probe;
    int fd;

    fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return errno == ELOOP || errno == ENXIO ? QN_EINVAL : qn_enqueue_errno_status();
    if (fstat(fd, &st) != 0)
        goto out;
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        r = QN_EINVAL;
        goto out;
    }
    got = read_full(fd, buf, bufsz - 1);
    if (got < 0)
        goto out;
    if ((size_t)got == bufsz - 1) {
        ssize_t more = read_full(fd, &probe, 1);

        if (more < 0)
            goto out;
        if (more > 0) {
            r = QN_ETOOBIG;
            goto out;
        }
    }
    buf[got] = '\0';
    *ret_len = (size_t)got;
    r = QN_OK;
out:
    qn_enqueue_close_keep_errno(fd);
    return r;
}

enum qn_status qn_spool_reason(struct qn_spool *sp, const char *id, char *out, size_t outsz)
{
    char name[QN_SPOOL_ID_MAX + sizeof(REASON_SUFFIX)], text[QN_SPOOL_ERROR_MAX + 2];
    enum qn_status r;
    size_t len;

    if (sp == NULL || !qn_spool_id_valid(id) || out == NULL || outsz < 8)
        return QN_EINVAL;
    reason_name(id, name, sizeof(name));
    r = read_small(sp->sub_fd[SUB_FAILED], name, text, sizeof(text), &len);
    if (r == QN_ETOOBIG)
        r = QN_EINVAL; /* we never write one that long */
    if (r != QN_OK)
        return r;
    qn_text_sanitize_line(text, len, out, outsz); /* also drops the final '\n' */
    return QN_OK;
}

enum qn_status qn_spool_retry(struct qn_spool *sp, enum qn_spool_queue from, const char *id)
{
    char reason[QN_SPOOL_ID_MAX + sizeof(REASON_SUFFIX)];
    int from_fd, new_fd;

    /* A submission becomes an entry only through the pickup (pickup.h). */
    if (sp == NULL || !qn_spool_id_valid(id) || from == QN_SPOOL_NEW || from == QN_SPOOL_MAILDROP)
        return QN_EINVAL;
    from_fd = queue_fd(sp, from);
    if (from_fd < 0)
        return QN_EINVAL;
    new_fd = sp->sub_fd[SUB_NEW];
    if (renameat(from_fd, id, new_fd, id) != 0)
        return qn_enqueue_errno_status();
    if (fsync(new_fd) != 0)
        return QN_EIO;
    if (from == QN_SPOOL_FAILED) {
        reason_name(id, reason, sizeof(reason));
        if (unlink_if_present(from_fd, reason) != 0)
            return QN_EIO;
    }
    if (fsync(from_fd) != 0)
        return QN_EIO;
    return QN_OK;
}

enum qn_status qn_spool_drop(struct qn_spool *sp, const char *id)
{
    static const enum qn_spool_queue queues[] = {QN_SPOOL_NEW, QN_SPOOL_DEFERRED, QN_SPOOL_FAILED};
    enum qn_status r, result = QN_ENOTFOUND;
    size_t i;

    if (sp == NULL || !qn_spool_id_valid(id))
        return QN_EINVAL;
    for (i = 0; i < sizeof(queues) / sizeof(queues[0]); i++) {
        r = qn_spool_remove(sp, queues[i], id);
        if (r == QN_OK)
            result = QN_OK;
        else if (r != QN_ENOTFOUND)
            return r;
    }
    return result;
}

/* ---- consumer: state files ---- */

static bool state_name_valid(const char *name)
{
    size_t i, n;

    if (name == NULL)
        return false;
    n = strnlen(name, QN_SPOOL_STATE_NAME_MAX);
    if (n == 0 || n == QN_SPOOL_STATE_NAME_MAX || name[0] == '.' || strcmp(name, LOCK_NAME) == 0)
        return false;
    for (i = 0; i < n; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

enum qn_status qn_spool_state_read(struct qn_spool *sp, const char *name, char *buf, size_t bufsz,
                                   size_t *ret_len)
{
    size_t len;
    enum qn_status r;

    if (sp == NULL || !state_name_valid(name) || buf == NULL || bufsz == 0 || ret_len == NULL)
        return QN_EINVAL;
    if (bufsz > QN_SPOOL_STATE_MAX + 1)
        bufsz = QN_SPOOL_STATE_MAX + 1;
    r = read_small(sp->sub_fd[SUB_STATE], name, buf, bufsz, &len);
    if (r == QN_OK)
        *ret_len = len;
    return r;
}

static enum qn_status state_write(struct qn_spool *sp, const char *name, const void *data,
                                  size_t len, bool wait)
{
    char tmp_name[QN_SPOOL_ID_MAX];
    enum qn_status r;

    if (sp == NULL || !state_name_valid(name) || (data == NULL && len > 0))
        return QN_EINVAL;
    if (len > QN_SPOOL_STATE_MAX)
        return QN_ETOOBIG;
    r = qn_enqueue_new_id(tmp_name);
    if (r != QN_OK)
        return r;
    return qn_enqueue_place(sp->sub_fd[SUB_TMP], tmp_name, sp->sub_fd[SUB_STATE], name,
                            data != NULL ? data : "", len, "", 0,
                            wait ? QN_ENQUEUE_SYNC_ALL : QN_ENQUEUE_SYNC_DATA);
}

enum qn_status qn_spool_state_write(struct qn_spool *sp, const char *name, const void *data,
                                    size_t len)
{
    return state_write(sp, name, data, len, true);
}

enum qn_status qn_spool_state_write_nowait(struct qn_spool *sp, const char *name, const void *data,
                                           size_t len)
{
    return state_write(sp, name, data, len, false);
}

enum qn_status qn_spool_state_lock(struct qn_spool *sp, const char *name, unsigned timeout_ms,
                                   int *ret_fd)
{
    char lock_name[QN_SPOOL_STATE_NAME_MAX];
    const struct timespec pause = {0, STATE_LOCK_POLL_MS * 1000000L};
    unsigned waited = 0;
    enum qn_status r;
    int fd = -1;

    if (sp == NULL || ret_fd == NULL || !state_name_valid(name) ||
        (size_t)snprintf(lock_name, sizeof(lock_name), "%s.lock", name) >= sizeof(lock_name) ||
        !state_name_valid(lock_name))
        return QN_EINVAL;
    for (;;) {
        r = try_lock_file(sp, lock_name, &fd);
        if (r != QN_OK || fd >= 0)
            break;
        if (waited >= timeout_ms) {
            r = QN_ETIMEOUT;
            break;
        }
        /* The holder keeps it for one read and one write: poll, bounded. */
        (void)nanosleep(&pause, NULL);
        waited += STATE_LOCK_POLL_MS;
    }
    if (r == QN_OK)
        *ret_fd = fd;
    return r;
}

void qn_spool_state_unlock(int fd)
{
    if (fd >= 0)
        qn_enqueue_close_keep_errno(fd);
}

/* ---- consumer: housekeeping ---- */

static long long now_seconds(void)
{
    time_t t = time(NULL);

    return t == (time_t)-1 ? 0 : (long long)t;
}

/* Remove the non-directories in directory FD older than CUTOFF whose name ends in SUFFIX
 * (NULL: every name); *REMOVED counts them.  QN_EIO. */
static enum qn_status clean_dir(int fd, long long cutoff, const char *suffix, size_t *removed)
{
    struct dirent *de;
    enum qn_status r = QN_OK;
    DIR *d;

    d = open_stream(fd);
    if (d == NULL)
        return QN_EIO;
    for (;;) {
        struct stat st;
        size_t n;

        errno = 0;
        de = readdir(d);
        if (de == NULL) {
            if (errno != 0)
                r = QN_EIO;
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        n = strlen(de->d_name);
        if (suffix != NULL &&
            (n <= strlen(suffix) || strcmp(de->d_name + n - strlen(suffix), suffix) != 0))
            continue;
        if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            if (errno == ENOENT)
                continue; /* renamed into place meanwhile */
            r = QN_EIO;
            break;
        }
        if (S_ISDIR(st.st_mode) || (long long)st.st_mtime >= cutoff)
            continue;
        if (unlink_if_present(fd, de->d_name) != 0) {
            r = QN_EIO;
            break;
        }
        (*removed)++;
    }
    {
        int saved = errno;

        (void)closedir(d); /* read-only stream */
        errno = saved;
    }
    return r;
}

enum qn_status qn_spool_clean_tmp(struct qn_spool *sp, long long max_age, size_t *ret_removed)
{
    long long cutoff;
    size_t removed = 0;
    enum qn_status r;

    if (sp == NULL || max_age < 0)
        return QN_EINVAL;
    if (max_age == 0)
        max_age = QN_SPOOL_TMP_MAX_AGE;
    cutoff = now_seconds() - max_age;
    r = clean_dir(sp->sub_fd[SUB_TMP], cutoff, NULL, &removed);
    if (r == QN_OK && sp->sub_fd[SUB_MAILDROP] >= 0)
        r = clean_dir(sp->sub_fd[SUB_MAILDROP], cutoff, PART_SUFFIX, &removed);
    if (ret_removed != NULL)
        *ret_removed = removed;
    return r;
}

static void note(struct qn_spool_report *c, unsigned bit, const char *where, const struct stat *st)
{
    /* Point at the first refusal if there is one, else at the first warning. */
    if (c->where[0] == '\0' ||
        ((bit & QN_SPOOL_UNSAFE_MASK) != 0 && (c->found & QN_SPOOL_UNSAFE_MASK) == 0)) {
        snprintf(c->where, sizeof(c->where), "%s", where);
        c->mode = (unsigned)(st->st_mode & 07777);
        c->uid = (unsigned long long)st->st_uid;
    }
    c->found |= bit;
}

enum qn_status qn_spool_check(const struct qn_spool *sp, unsigned long long owner,
                              struct qn_spool_report *ret)
{
    struct qn_spool_report c;
    struct stat st;
    size_t i;

    if (sp == NULL || ret == NULL)
        return QN_EINVAL;
    memset(&c, 0, sizeof(c));
    for (i = 0; i <= N_SUBDIRS; i++) {
        /* i == 0 is DIR itself, then the subdirectories (maildrop/ last, when there is one). */
        int fd = i == 0 ? sp->dir_fd : sp->sub_fd[i - 1];
        const char *where = i == 0 ? "." : subdir_names[i - 1];
        bool maildrop = i == SUB_MAILDROP + 1;

        if (fd < 0)
            continue;
        if (fstat(fd, &st) != 0)
            return QN_EIO;
        if (st.st_mode & S_IWOTH)
            note(&c, QN_SPOOL_UNSAFE_WORLD_WRITABLE, where, &st);
        /* Whoever owns a directory can swap what is in it: root or the spool user. */
        if (st.st_uid != 0 && (unsigned long long)st.st_uid != owner)
            note(&c, QN_SPOOL_UNSAFE_OWNER, where, &st);
        if (maildrop) {
            /* The drop group may create there, never list (Postfix's maildrop). */
            if ((st.st_mode & 07777) != 01730)
                note(&c, QN_SPOOL_UNSAFE_MAILDROP, where, &st);
            continue;
        }
        if (st.st_mode & S_IWGRP)
            note(&c, QN_SPOOL_UNSAFE_GROUP_WRITABLE, where, &st);
        if ((st.st_mode & S_IROTH) || (i > 0 && (st.st_mode & S_IXOTH)))
            note(&c, QN_SPOOL_WARN_WORLD_ACCESS, where, &st);
        if (i > 0 && !(st.st_mode & S_ISGID))
            note(&c, QN_SPOOL_WARN_NOT_SETGID, where, &st);
    }
    *ret = c;
    return (c.found & QN_SPOOL_UNSAFE_MASK) != 0 ? QN_ECONFIG : QN_OK;
}
