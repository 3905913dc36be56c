/*
 * enqueue — the producers' half of the spool; contract, write protocol and
 * entry format in enqueue.h.
 *
 * How the pieces keep their promises:
 *
 * - Durability.  Every file is written under a fresh, unguessable name in
 *   tmp/ (O_CREAT|O_EXCL|O_NOFOLLOW: nothing planted there can be followed
 *   or reused), fsync'd, then renamed to its final name and the destination
 *   directory is fsync'd.  rename(2) within one file system is atomic, so
 *   a queue holds complete files only; a crash leaves a stale tmp/ file,
 *   which qn_spool_clean_tmp() removes after a day.  Two lighter ways, for
 *   callers that must not wait (enqueue.h and spool.h say what each costs):
 *   qn_enqueue_event_nowait() starts the writeback instead of waiting for
 *   it, and qn_spool_state_write_nowait() fsyncs the file but not state/.
 *
 * - Nothing on disk before the entry is known to fit: the header lines and
 *   the payload are built and measured first.
 *
 * - errno.  QN_EIO always leaves the failing call's errno in place: error
 *   paths save it before cleaning up and restore it after.
 *
 * libc only (plus event.c, text.c, buf.c, which are libc only): the PAM
 * module links this file and no other part of the spool.  No global
 * mutable state.
 */
#include "enqueue.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define RANDOM_BYTES (QN_SPOOL_ID_RANDOM_DIGITS / 2)

/* ---- small helpers ---- */

void qn_enqueue_close_keep_errno(int fd)
{
    int saved = errno;

    if (fd >= 0)
        (void)close(fd); /* nothing useful to do with a second error */
    errno = saved;
}

enum qn_status qn_enqueue_errno_status(void)
{
    return errno == ENOENT ? QN_ENOTFOUND : QN_EIO;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;

    while (n > 0) {
        ssize_t w = write(fd, c, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- opening the spool's directories ---- */

/*
 * Open directory NAME relative to AT, never through a symlink.  Linux says
 * ENOTDIR for a symlink under O_DIRECTORY|O_NOFOLLOW; it is told apart and
 * reported as ELOOP, so a program can say "is a symbolic link" rather than
 * "is not a directory".
 */
enum qn_status qn_enqueue_open_dir(int at, const char *name, int *ret_fd)
{
    int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;

    if (fd < 0) {
        int saved = errno;

        if (saved != ENOTDIR)
            return qn_enqueue_errno_status();
        if (fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
            saved = ELOOP;
        errno = saved;
        return QN_EIO;
    }
    *ret_fd = fd;
    return QN_OK;
}

/*
 * Open the spool directory itself, O_PATH: it is only ever a base for the
 * *at() calls and fstat, and with mode 0711 others (and the spool user,
 * when root owns it) may pass through it but not read it.  Trailing
 * slashes are stripped first: with one, the kernel resolves a final
 * symlink even under O_NOFOLLOW.
 */
enum qn_status qn_enqueue_open_spool(const char *dir, int *ret_fd)
{
    char path[PATH_MAX];
    struct stat st;
    size_t len;
    int fd;

    if (dir == NULL)
        return QN_EINVAL;
    len = strnlen(dir, sizeof(path));
    if (len == 0 || len == sizeof(path))
        return QN_EINVAL;
    memcpy(path, dir, len + 1);
    while (len > 1 && path[len - 1] == '/')
        path[--len] = '\0';
    fd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int saved = errno;

        if (saved != ENOTDIR)
            return qn_enqueue_errno_status();
        if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
            saved = ELOOP;
        errno = saved;
        return QN_EIO;
    }
    *ret_fd = fd;
    return QN_OK;
}

/* ---- ids ---- */

static enum qn_status random_bytes(unsigned char *p, size_t n)
{
    size_t got = 0;
    unsigned flags = GRND_NONBLOCK;

    while (got < n) {
        ssize_t r = getrandom(p + got, n - got, flags);

        if (r < 0 && errno == EINTR)
            continue;
#ifdef GRND_INSECURE
        /* Early at boot the pool may not be ready; a login must not wait for
         * it, and the name only has to be unique (O_EXCL guards the rest). */
        if (r < 0 && errno == EAGAIN && flags == GRND_NONBLOCK) {
            flags = GRND_INSECURE;
            continue;
        }
#endif
        if (r < 0)
            return QN_EIO;
        got += (size_t)r;
    }
    return QN_OK;
}

/* "<seconds>.<microseconds>.<pid>.<16 hex>" */
enum qn_status qn_enqueue_new_id(char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char rnd[RANDOM_BYTES];
    char rhex[2 * RANDOM_BYTES + 1];
    struct timespec ts;
    enum qn_status r;
    size_t i;
    int n;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return QN_EIO;
    /* A clock before 1970 would make an id the reader refuses (a sign): fail now, not later. */
    if (ts.tv_sec < 0) {
        errno = EINVAL;
        return QN_EIO;
    }
    r = random_bytes(rnd, sizeof(rnd));
    if (r != QN_OK)
        return r;
    for (i = 0; i < sizeof(rnd); i++) {
        rhex[2 * i] = hex[rnd[i] >> 4];
        rhex[2 * i + 1] = hex[rnd[i] & 0xf];
    }
    rhex[sizeof(rhex) - 1] = '\0';
    n = snprintf(out, QN_SPOOL_ID_MAX, "%lld.%06ld.%ld.%s", (long long)ts.tv_sec,
                 (long)(ts.tv_nsec / 1000), (long)getpid(), rhex);
    if (n < 0 || n >= QN_SPOOL_ID_MAX) {
        errno = EINVAL;
        return QN_EIO;
    }
    return QN_OK;
}

/* ---- placing a file ---- */

/*
 * Ask the kernel to write FD's pages now without waiting for the write to
 * complete (it may still block briefly on a saturated device).  Only the
 * call being unavailable (EINVAL, ESPIPE: a file system without it; ENOSYS;
 * EPERM from a seccomp filter) is ignored: the file system's own writeback
 * does the same a little later.  Anything else (EIO, ENOSPC...) means the
 * data may never reach the disk, and fails the entry.
 */
static int start_writeback(int fd)
{
    if (sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE) == 0)
        return 0;
    return errno == EINVAL || errno == ESPIPE || errno == ENOSYS || errno == EPERM ? 0 : -1;
}

/* qn_enqueue_place(): see enqueue.h. */
enum qn_status qn_enqueue_place(int tmp_fd, const char *tmp_name, int dst_fd, const char *dst_name,
                                const void *a, size_t alen, const void *b, size_t blen,
                                enum qn_enqueue_sync how)
{
    int fd, saved, rc;

    fd = openat(tmp_fd, tmp_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY,
                QN_SPOOL_FILE_MODE);
    if (fd < 0)
        return QN_EIO;
    /* The umask may have removed group read (the sender needs it) or a
     * caller's umask may be 0: set the mode exactly. */
    if (fchmod(fd, QN_SPOOL_FILE_MODE) != 0 || write_all(fd, a, alen) != 0 ||
        write_all(fd, b, blen) != 0)
        goto fail;
    if (how == QN_ENQUEUE_SYNC_NONE ? start_writeback(fd) != 0 : fsync(fd) != 0)
        goto fail;
    rc = close(fd);
    fd = -1;
    if (rc != 0 || renameat(tmp_fd, tmp_name, dst_fd, dst_name) != 0)
        goto fail;
    if (how == QN_ENQUEUE_SYNC_ALL && fsync(dst_fd) != 0)
        return QN_EIO; /* in place but maybe not durable: report it, keep the file */
    return QN_OK;

fail:
    saved = errno;
    qn_enqueue_close_keep_errno(fd);
    (void)unlinkat(tmp_fd, tmp_name, 0); /* best effort, see above */
    errno = saved;
    return QN_EIO;
}

/* ---- the entry format ---- */

static bool needs_escape(unsigned char c)
{
    return c == '%' || c < 0x20 || c == 0x7f;
}

/* Append "NAME VALUE\n" with VALUE (N bytes) escaped (enqueue.h). */
static enum qn_status put_line(struct qn_buf *out, const char *name, const char *value, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    enum qn_status r;
    size_t i;

    r = qn_buf_puts(out, name);
    if (r == QN_OK)
        r = qn_buf_putc(out, ' ');
    for (i = 0; r == QN_OK && i < n; i++) {
        unsigned char c = (unsigned char)value[i];
        char esc[3] = {'%', hex[c >> 4], hex[c & 0xf]};

        r = needs_escape(c) ? qn_buf_append(out, esc, sizeof(esc)) : qn_buf_putc(out, (char)c);
    }
    if (r == QN_OK)
        r = qn_buf_putc(out, '\n');
    return r;
}

enum qn_status qn_enqueue_address_check(const char *a, bool may_be_empty)
{
    size_t i, n = strnlen(a, QN_SPOOL_ADDRESS_MAX);

    if (n == QN_SPOOL_ADDRESS_MAX)
        return QN_ETOOBIG;
    if (n == 0 && !may_be_empty)
        return QN_EINVAL;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)a[i];

        /* SMTP puts the address between < > on a command line: no blank,
         * no control byte and no angle bracket may end or split it. */
        if (c <= 0x20 || c == 0x7f || c == '<' || c == '>')
            return QN_EINVAL;
    }
    return QN_OK;
}

enum qn_lane qn_enqueue_lane(enum qn_spool_origin origin, enum qn_spool_type type, const char *kind)
{
    static const char *const login_kinds[] = {"login", "logout", "authfail", "sudo", "su"};

    if (origin != QN_ORIGIN_SYSTEM || type != QN_SPOOL_EVENT || kind == NULL)
        return QN_LANE_USER;
    for (size_t i = 0; i < sizeof(login_kinds) / sizeof(login_kinds[0]); i++) {
        if (strcmp(kind, login_kinds[i]) == 0)
            return QN_LANE_LOGIN;
    }
    return QN_LANE_JOURNAL;
}

enum qn_status qn_enqueue_write_header(const struct qn_enqueue_header *h, struct qn_buf *out)
{
    enum qn_status r;
    size_t i;

    if ((h->origin != QN_ORIGIN_SYSTEM && h->origin != QN_ORIGIN_USER) ||
        (unsigned)h->lane >= QN_LANES)
        return QN_EINVAL;
    r = qn_buf_printf(out,
                      QN_SPOOL_VERSION_LINE "\ntype %s\norigin %s\nuid %llu\nlane %u\n"
                                            "queued %lld\nattempts %u\nnext-try %lld\n",
                      h->type == QN_SPOOL_EVENT ? "event" : "message",
                      h->origin == QN_ORIGIN_USER ? "user" : "system", h->uid, (unsigned)h->lane,
                      h->queued, h->attempts, h->next_try);
    if (r == QN_OK)
        r = put_line(out, "last-error", h->last_error, strlen(h->last_error));
    if (r == QN_OK)
        r = put_line(out, "diagnosis", h->diagnosis, strlen(h->diagnosis));
    if (r == QN_OK && h->type == QN_SPOOL_MESSAGE) {
        r = put_line(out, "sender", h->sender, strlen(h->sender));
        for (i = 0; r == QN_OK && i < h->n_rcpt; i++)
            r = put_line(out, "rcpt", h->rcpt[i], strlen(h->rcpt[i]));
    }
    if (r == QN_OK)
        r = qn_buf_printf(out, "size %zu\nend\n", h->size);
    return r;
}

/* ---- producers ---- */

static long long now_seconds(void)
{
    time_t t = time(NULL);

    return t == (time_t)-1 ? 0 : (long long)t;
}

/* Producers: build nothing on disk until the whole entry is known to fit. */
static enum qn_status put_entry(const char *dir, const struct qn_enqueue_header *h,
                                const void *payload, size_t max_size, bool wait, char *ret_id)
{
    struct qn_buf head;
    char id[QN_SPOOL_ID_MAX];
    int top = -1, tmp = -1, new_fd = -1;
    enum qn_status r;

    qn_buf_init(&head, QN_SPOOL_HEADER_MAX);
    if (max_size == 0)
        max_size = QN_SPOOL_DEFAULT_MAX_ENTRY;
    r = qn_enqueue_write_header(h, &head);
    if (r != QN_OK)
        goto out;
    if (h->size > max_size || head.len > max_size - h->size) {
        r = QN_ETOOBIG;
        goto out;
    }
    r = qn_enqueue_open_spool(dir, &top);
    if (r == QN_OK)
        r = qn_enqueue_open_dir(top, "tmp", &tmp);
    if (r == QN_OK)
        r = qn_enqueue_open_dir(top, "new", &new_fd);
    if (r == QN_OK)
        r = qn_enqueue_new_id(id);
    if (r == QN_OK)
        r = qn_enqueue_place(tmp, id, new_fd, id, head.data, head.len, payload, h->size,
                             wait ? QN_ENQUEUE_SYNC_ALL : QN_ENQUEUE_SYNC_NONE);
    if (r == QN_OK && ret_id != NULL)
        memcpy(ret_id, id, strlen(id) + 1);
out:
    qn_enqueue_close_keep_errno(new_fd);
    qn_enqueue_close_keep_errno(tmp);
    qn_enqueue_close_keep_errno(top);
    qn_buf_free(&head);
    return r;
}

/* The header and payload of a system event entry (origin, lane, uid, queued): PAYLOAD's
 * max bounds it. */
static enum qn_status event_entry(const struct qn_event *ev, enum qn_spool_origin origin,
                                  unsigned long long uid, struct qn_enqueue_header *h,
                                  struct qn_buf *payload)
{
    enum qn_status r;

    if (ev == NULL)
        return QN_EINVAL;
    r = qn_event_write(ev, payload);
    if (r != QN_OK)
        return r;
    memset(h, 0, sizeof(*h));
    h->type = QN_SPOOL_EVENT;
    h->origin = origin;
    h->uid = uid;
    h->lane = qn_enqueue_lane(origin, QN_SPOOL_EVENT, ev->kind);
    h->last_error = "";
    h->diagnosis = "";
    h->queued = now_seconds();
    h->size = payload->len;
    return QN_OK;
}

static enum qn_status put_event(const char *dir, const struct qn_event *ev, size_t max_size,
                                bool wait, char *ret_id)
{
    struct qn_enqueue_header h;
    struct qn_buf payload;
    enum qn_status r;

    qn_buf_init(&payload, max_size != 0 ? max_size : QN_SPOOL_DEFAULT_MAX_ENTRY);
    r = event_entry(ev, QN_ORIGIN_SYSTEM, (unsigned long long)geteuid(), &h, &payload);
    if (r == QN_OK)
        r = put_entry(dir, &h, payload.data, max_size, wait, ret_id);
    qn_buf_free(&payload);
    return r;
}

enum qn_status qn_enqueue_event(const char *dir, const struct qn_event *ev, size_t max_size,
                                char *ret_id)
{
    return put_event(dir, ev, max_size, true, ret_id);
}

enum qn_status qn_enqueue_event_nowait(const char *dir, const struct qn_event *ev, size_t max_size,
                                       char *ret_id)
{
    return put_event(dir, ev, max_size, false, ret_id);
}

/* The header of a message entry, its envelope checked like a producer's. */
static enum qn_status message_entry(const char *sender, const char *const rcpt[], size_t n_rcpt,
                                    const void *msg, size_t len, enum qn_spool_origin origin,
                                    unsigned long long uid, struct qn_enqueue_header *h)
{
    enum qn_status r;
    size_t i;

    if ((msg == NULL && len > 0) || n_rcpt == 0 || rcpt == NULL)
        return QN_EINVAL;
    if (n_rcpt > QN_SPOOL_RCPT_MAX)
        return QN_ETOOBIG;
    memset(h, 0, sizeof(*h));
    h->type = QN_SPOOL_MESSAGE;
    h->origin = origin;
    h->uid = uid;
    h->lane = QN_LANE_USER;
    h->last_error = "";
    h->diagnosis = "";
    h->sender = sender != NULL ? sender : "";
    r = qn_enqueue_address_check(h->sender, true);
    for (i = 0; r == QN_OK && i < n_rcpt; i++) {
        if (rcpt[i] == NULL)
            return QN_EINVAL;
        r = qn_enqueue_address_check(rcpt[i], false);
        h->rcpt[i] = rcpt[i];
    }
    if (r != QN_OK)
        return r;
    h->n_rcpt = n_rcpt;
    h->queued = now_seconds();
    h->size = len;
    return QN_OK;
}

enum qn_status qn_enqueue_message(const char *dir, const char *sender, const char *const rcpt[],
                                  size_t n_rcpt, const void *msg, size_t len, size_t max_size,
                                  char *ret_id)
{
    struct qn_enqueue_header h;
    enum qn_status r;

    r = message_entry(sender, rcpt, n_rcpt, msg, len, QN_ORIGIN_SYSTEM,
                      (unsigned long long)geteuid(), &h);
    if (r != QN_OK)
        return r;
    return put_entry(dir, &h, msg, max_size, true, ret_id);
}

/* ---- submissions for qqnotify-drop ---- */

/* Header and payload into OUT, all or nothing. */
static enum qn_status format_entry(const struct qn_enqueue_header *h, const void *payload,
                                   struct qn_buf *out)
{
    size_t start = out->len;
    enum qn_status r;

    r = qn_enqueue_write_header(h, out);
    if (r == QN_OK)
        r = qn_buf_append(out, payload, h->size);
    if (r != QN_OK)
        qn_buf_truncate(out, start);
    return r;
}

enum qn_status qn_enqueue_format_event(const struct qn_event *ev, struct qn_buf *out)
{
    struct qn_enqueue_header h;
    struct qn_buf payload;
    enum qn_status r;

    if (out == NULL)
        return QN_EINVAL;
    qn_buf_init(&payload, out->max != 0 ? out->max : QN_SPOOL_DEFAULT_MAX_ENTRY);
    r = event_entry(ev, QN_ORIGIN_USER, (unsigned long long)getuid(), &h, &payload);
    if (r == QN_OK)
        r = format_entry(&h, payload.data, out);
    qn_buf_free(&payload);
    return r;
}

enum qn_status qn_enqueue_format_message(const char *sender, const char *const rcpt[],
                                         size_t n_rcpt, const void *msg, size_t len,
                                         struct qn_buf *out)
{
    struct qn_enqueue_header h;
    enum qn_status r;

    if (out == NULL)
        return QN_EINVAL;
    r = message_entry(sender, rcpt, n_rcpt, msg, len, QN_ORIGIN_USER, (unsigned long long)getuid(),
                      &h);
    if (r != QN_OK)
        return r;
    return format_entry(&h, msg != NULL ? msg : "", out);
}
