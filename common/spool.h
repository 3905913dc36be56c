/*
 * spool — the durable queue between producers (PAM module, journal
 * watcher, `qqnotify sendmail` and `notify`) and the one sender
 * (`qqnotify flush`): this is the consumer's half.  Layout, write protocol
 * and retry policy: docs/architecture.md section 4.
 *
 *   DIR/tmp/       entries being written
 *   DIR/new/       complete entries waiting for the sender
 *   DIR/deferred/  temporary failures, with attempt count and next try
 *   DIR/failed/    permanent failures and corrupt entries, with the reason
 *   DIR/state/     rate-limit counters, journal cursor, the sender's lock
 *
 * The producers' half is enqueue.h (qn_enqueue_event, qn_enqueue_message:
 * libc only, all the PAM module links): it defines the entry file format,
 * entry ids, the file modes and the write protocol (tmp/, fsync, rename,
 * fsync), and this half reads that format and writes with that protocol.
 * Permissions and symbolic links: enqueue.h; in addition, an entry that is
 * a symlink or not a regular file is reported as corrupt (QN_EINVAL) so it
 * can be quarantined instead of blocking the queue.
 *
 * Consumer API: for the sender (`qqnotify flush`), `qqnotify queue`, the
 * shared sending limits (quota.h) and the journal watcher's state file.  A
 * struct qn_spool holds O_CLOEXEC fds of the directory and its five
 * subdirectories, opened once with O_NOFOLLOW: later operations are
 * relative to those fds and never resolve the path again.  One sender at a
 * time: qn_spool_lock() takes flock(LOCK_EX|LOCK_NB) on state/flush.lock
 * and reports "busy" without blocking; take it before anything that moves
 * or removes entries (flush, queue retry/drop), so the sender never sends
 * an entry being dropped.  Listing and loading need no lock: entries may
 * vanish in between (QN_ENOTFOUND).  Moves are rename(2) within the spool
 * followed by fsync of the directories; a rewrite (defer, fail) is a new
 * file written in tmp/ and renamed over the destination.  A crash between
 * placing the rewritten entry and removing the old one leaves the entry in
 * two queues: delivery is at-least-once, never zero.  Entries in new/ are
 * due at once whatever their next-try says; next-try matters in deferred/.
 *
 * Errors: QN_EIO means a system call failed and errno holds its cause
 * (EACCES, ENOSPC, ELOOP, ENOTDIR...); QN_ENOTFOUND a missing directory,
 * entry or state file; QN_EINVAL a bad argument or a corrupt entry;
 * QN_ETOOBIG a stated bound; QN_ENOMEM.  Output parameters are written
 * only on success.  Library code: nothing here logs or exits.
 *
 * Thread-safety: qn_spool_id_valid() is thread-safe.  A struct qn_spool
 * must be used by one thread at a time.
 */
#ifndef QN_SPOOL_H
#define QN_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "enqueue.h"
#include "event.h"
#include "status.h"

/* Also QN_SPOOL_ID_MAX, _RCPT_MAX, _ADDRESS_MAX, _HEADER_MAX, _FILE_MODE: enqueue.h. */
#define QN_SPOOL_ERROR_MAX      512            /* last-error and quarantine reason, with the NUL */
#define QN_SPOOL_DIAGNOSIS_MAX  64             /* diagnosis id, with the NUL */
#define QN_SPOOL_STATE_MAX      (256 * 1024)   /* one state file */
#define QN_SPOOL_STATE_NAME_MAX 64             /* a state file name, with the NUL */
#define QN_SPOOL_DIR_MODE       02770          /* subdirectories created by qn_spool_open */
#define QN_SPOOL_TMP_MAX_AGE    (24 * 60 * 60) /* seconds before a tmp/ file is stale */

/*
 * True when ID is a well-formed entry id (as qn_enqueue_new_id makes
 * them): "S.U.P.R" with S 1-20 digits and P 1-10 digits (neither with a
 * leading zero), U exactly 6 digits and R exactly 16 lower-case hex
 * digits.  No other string is ever used as a file name, so no '/', "..",
 * or hidden name can reach openat().
 */
bool qn_spool_id_valid(const char *id);

/* ---- consumer API ---- */

enum qn_spool_queue {
    QN_SPOOL_NEW = 0,  /* new/ */
    QN_SPOOL_DEFERRED, /* deferred/ */
    QN_SPOOL_FAILED,   /* failed/ */
};

/*
 * One loaded entry.  Fixed-size except the message bytes, which are on the
 * heap: release them with qn_spool_entry_clear().  A zeroed struct is a
 * valid empty entry.  Every string is NUL-terminated; last_error, diagnosis
 * and the event's values are sanitised (no control character whatever the
 * file said), addresses pass the checks of qn_enqueue_message().
 */
struct qn_spool_entry {
    char id[QN_SPOOL_ID_MAX];
    enum qn_spool_type type;
    long long queued;                       /* when the producer spooled it */
    unsigned attempts;                      /* delivery attempts so far */
    long long next_try;                     /* not before this time (deferred/); 0 = at once */
    char last_error[QN_SPOOL_ERROR_MAX];    /* why the last attempt failed, or "" */
    char diagnosis[QN_SPOOL_DIAGNOSIS_MAX]; /* its diagnosis id, or "" */

    struct qn_event event; /* QN_SPOOL_EVENT */

    /* QN_SPOOL_MESSAGE */
    char sender[QN_SPOOL_ADDRESS_MAX]; /* "" = null sender */
    size_t n_rcpt;
    char rcpt[QN_SPOOL_RCPT_MAX][QN_SPOOL_ADDRESS_MAX];
    char *message; /* heap, message_len bytes plus a NUL not counted; may hold NULs */
    size_t message_len;
};

/* Free the message bytes and zero the entry.  E may be NULL. */
void qn_spool_entry_clear(struct qn_spool_entry *e);

/* An open spool: directory fds and the lock.  Opaque. */
struct qn_spool;

/* qn_spool_open() flags */
#define QN_SPOOL_CREATE 0x1u /* create missing subdirectories (mode DIR_MODE) */

/*
 * Open the spool at DIR (which must exist: packaging creates it) and its
 * subdirectories tmp new deferred failed state.  With QN_SPOOL_CREATE a
 * missing subdirectory is created and set to exactly DIR_MODE with fchmod
 * (0 = QN_SPOOL_DIR_MODE, 02770), whatever the umask; existing ones are
 * left as they are.  On success *RET_SPOOL is owned by the caller
 * (qn_spool_close).  QN_ENOTFOUND: DIR or a subdirectory missing (without
 * QN_SPOOL_CREATE); QN_EIO: errno ELOOP/ENOTDIR when DIR or a subdirectory
 * is a symlink or not a directory, EACCES, ...; QN_EINVAL: bad flags, empty
 * or too long path; QN_ENOMEM.
 */
enum qn_status qn_spool_open(const char *dir, unsigned flags, mode_t dir_mode,
                             struct qn_spool **ret_spool);

/* Release the lock, close every fd, free SP.  SP may be NULL.  Returns NULL. */
struct qn_spool *qn_spool_close(struct qn_spool *sp);

/*
 * Try to become the one sender: flock(LOCK_EX|LOCK_NB) on state/flush.lock
 * (created 0640 if missing; opened O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC, so a
 * planted symlink or FIFO cannot redirect or block it).  QN_OK with
 * *RET_LOCKED true: the lock is held until qn_spool_unlock() or
 * qn_spool_close(); QN_OK with *RET_LOCKED false: another process holds it
 * (busy: not an error, that process does the work).  Taking it twice on
 * the same SP is QN_OK, true.  QN_EIO otherwise.
 */
enum qn_status qn_spool_lock(struct qn_spool *sp, bool *ret_locked);

/* Release the lock if held. */
void qn_spool_unlock(struct qn_spool *sp);

/*
 * List the entry ids in QUEUE, ascending (oldest first: seconds compared as
 * numbers, then the rest of the id).  At most MAX ids are stored in
 * RET_IDS: the MAX oldest.  *RET_N gets how many were stored, *RET_TOTAL
 * (when non-NULL) how many valid ids the queue holds.  Names that are not
 * valid ids (quarantine reasons, stray files) are skipped.  QN_EIO, QN_EINVAL.
 */
enum qn_status qn_spool_list(struct qn_spool *sp, enum qn_spool_queue queue,
                             char (*ret_ids)[QN_SPOOL_ID_MAX], size_t max, size_t *ret_n,
                             size_t *ret_total);

/*
 * Load entry ID from QUEUE into *RET_ENTRY (overwritten without freeing:
 * clear it first if it held a message).  MAX_SIZE bounds the file (0 =
 * default; use at least the producers' bound).  QN_ENOTFOUND: no such
 * entry (it may have been removed meanwhile); QN_EINVAL: bad id, or the
 * entry is corrupt: not a regular file (symlink, FIFO, directory),
 * truncated, malformed — quarantine it; QN_ETOOBIG: larger than MAX_SIZE —
 * quarantine it too; QN_EIO, QN_ENOMEM: leave it and retry later.
 */
enum qn_status qn_spool_load(struct qn_spool *sp, enum qn_spool_queue queue, const char *id,
                             size_t max_size, struct qn_spool_entry *ret_entry);

/*
 * Remove entry ID from QUEUE (after the server accepted it: 250 after DATA)
 * and its quarantine reason when QUEUE is failed/; fsync the directory.
 * QN_ENOTFOUND (a leftover reason is still removed), QN_EINVAL (bad id),
 * QN_EIO.
 */
enum qn_status qn_spool_remove(struct qn_spool *sp, enum qn_spool_queue queue, const char *id);

/*
 * Temporary failure: rewrite ENTRY (loaded from FROM) into deferred/ with
 * attempts + 1, NEXT_TRY, LAST_ERROR and DIAGNOSIS (both sanitised, cut to
 * fit; NULL = ""), then remove it from FROM (unless FROM is deferred/,
 * where the rewrite replaced it).  On success ENTRY's metadata is updated
 * to match the file.  QN_EINVAL (bad id or entry), QN_ETOOBIG, QN_EIO,
 * QN_ENOMEM; on failure the entry is still in FROM (and maybe also in
 * deferred/ when only the removal failed).
 */
enum qn_status qn_spool_defer(struct qn_spool *sp, enum qn_spool_queue from,
                              struct qn_spool_entry *entry, long long next_try,
                              const char *last_error, const char *diagnosis);

/*
 * Not a failure: ENTRY must wait (sending limits, a burst being merged into
 * a digest).  Like qn_spool_defer() but the attempt count and the last
 * diagnosis stay as they are; WHY (sanitised) becomes last-error.
 */
enum qn_status qn_spool_hold(struct qn_spool *sp, enum qn_spool_queue from,
                             struct qn_spool_entry *entry, long long next_try, const char *why);

/* Permanent failure: the same into failed/ with REASON as last-error and
 * next-try 0. */
enum qn_status qn_spool_fail(struct qn_spool *sp, enum qn_spool_queue from,
                             struct qn_spool_entry *entry, const char *reason,
                             const char *diagnosis);

/*
 * Corrupt entry: move ID's file from FROM to failed/ unchanged (whatever it
 * is: the raw bytes are kept for inspection; a symlink is moved, never
 * followed) and write REASON (sanitised) to failed/ID.reason.  The reason
 * is written first: a crash in between leaves the entry where it was, to be
 * quarantined again, and a note the next quarantine replaces.
 * QN_ENOTFOUND, QN_EINVAL (bad id), QN_EIO.
 */
enum qn_status qn_spool_quarantine(struct qn_spool *sp, enum qn_spool_queue from, const char *id,
                                   const char *reason);

/*
 * The quarantine reason of failed/ID into OUT (OUTSZ >= 8 bytes,
 * sanitised, cut to fit).  QN_ENOTFOUND when there is none (the entry was
 * failed by qn_spool_fail: its reason is in last-error), QN_EINVAL, QN_EIO.
 */
enum qn_status qn_spool_reason(struct qn_spool *sp, const char *id, char *out, size_t outsz);

/*
 * Move ID from FROM (deferred/ or failed/) back to new/ unchanged, so the
 * next flush tries it at once; remove its quarantine reason.  QN_EINVAL for
 * FROM new/ or a bad id, QN_ENOTFOUND, QN_EIO.
 */
enum qn_status qn_spool_retry(struct qn_spool *sp, enum qn_spool_queue from, const char *id);

/* Remove ID from whichever queues hold it (and its reason).  QN_ENOTFOUND
 * when none does, QN_EINVAL, QN_EIO. */
enum qn_status qn_spool_drop(struct qn_spool *sp, const char *id);

/*
 * State files in state/: NAME is [a-z0-9_.-], 1..QN_SPOOL_STATE_NAME_MAX-1
 * bytes, not starting with '.', and not "flush.lock" (QN_EINVAL).
 *
 * qn_spool_state_read: the file into BUF (BUFSZ bytes, NUL-terminated
 * when it fits; *RET_LEN without the NUL).  QN_ENOTFOUND: no such file;
 * QN_ETOOBIG: it does not fit in BUFSZ - 1 or QN_SPOOL_STATE_MAX bytes;
 * QN_EINVAL: not a regular file; QN_EIO.
 *
 * qn_spool_state_write: replace the file atomically (written in tmp/,
 * fsync'd, renamed into state/, state/ fsync'd; mode 0640) with LEN bytes
 * at DATA.  QN_ETOOBIG past QN_SPOOL_STATE_MAX, QN_EIO.
 *
 * qn_spool_state_write_nowait: the same replacement, atomic for every
 * reader and after a crash of the caller, with the file fsync'd but not
 * state/: after a power cut the file is the new version or the previous
 * one, complete either way.  For a state that only has to lag, never
 * lead, what is already durable.
 */
enum qn_status qn_spool_state_read(struct qn_spool *sp, const char *name, char *buf, size_t bufsz,
                                   size_t *ret_len);
enum qn_status qn_spool_state_write(struct qn_spool *sp, const char *name, const void *data,
                                    size_t len);
enum qn_status qn_spool_state_write_nowait(struct qn_spool *sp, const char *name, const void *data,
                                           size_t len);

/*
 * Serialise the read-modify-write of state file NAME between processes
 * (several senders share state/ratelimit): flock(LOCK_EX) on state/NAME.lock,
 * opened like the sender's lock (created 0640, never following a symlink,
 * never blocking on a FIFO).  Waits at most TIMEOUT_MS for a holder to let
 * go (polled every 10 ms: holders keep it for one read and one write, never
 * across network I/O).  On QN_OK *RET_FD is the locked fd: release it with
 * qn_spool_state_unlock().  QN_ETIMEOUT when still held after TIMEOUT_MS;
 * QN_EINVAL for a bad NAME or one whose lock name would be "flush.lock";
 * QN_EIO.  Independent of qn_spool_lock(): a sender holding flush.lock
 * takes this one too, and a process without flush.lock may.
 */
enum qn_status qn_spool_state_lock(struct qn_spool *sp, const char *name, unsigned timeout_ms,
                                   int *ret_fd);

/* Release a lock from qn_spool_state_lock() (close FD; -1 is ignored). */
void qn_spool_state_unlock(int fd);

/*
 * Remove files in tmp/ not modified for MAX_AGE seconds (0 =
 * QN_SPOOL_TMP_MAX_AGE, a day): producers that crashed mid-write.  Only
 * non-directories are removed.  Call with the lock held.  *RET_REMOVED
 * (when non-NULL) gets the count.  QN_EIO (the count so far is still stored).
 */
enum qn_status qn_spool_clean_tmp(struct qn_spool *sp, long long max_age, size_t *ret_removed);

/* qn_spool_check() findings */
#define QN_SPOOL_UNSAFE_WORLD_WRITABLE 0x01u /* o+w: anyone can plant or remove entries */
#define QN_SPOOL_UNSAFE_OWNER          0x02u /* DIR owned by neither root nor the caller */
#define QN_SPOOL_WARN_WORLD_ACCESS     0x10u /* o+r or o+x: anyone can list or read alerts */
#define QN_SPOOL_WARN_NOT_SETGID       0x20u /* new files will not get the spool's group */
#define QN_SPOOL_UNSAFE_MASK           0x0fu

struct qn_spool_report {
    unsigned found;         /* every QN_SPOOL_UNSAFE_* and QN_SPOOL_WARN_* bit found */
    char where[16];         /* first directory refused, else first warned: ".", "tmp"... or "" */
    unsigned mode;          /* its permission bits (07777) */
    unsigned long long uid; /* its owner */
};

/*
 * Check the owner and mode of the spool directory and its subdirectories
 * (fstat on the open fds, no path lookups) for the CLI to warn or refuse.
 * Fills *RET (always, on QN_OK and QN_ECONFIG).  QN_ECONFIG when an UNSAFE
 * bit is set: the spool must not be used until fixed (chmod 2770, chown
 * root:qqnotify).  QN_OK otherwise (WARN bits may be set).  QN_EIO.
 */
enum qn_status qn_spool_check(const struct qn_spool *sp, struct qn_spool_report *ret);

#endif
