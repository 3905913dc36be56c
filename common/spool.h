/*
 * spool — the durable queue between producers (PAM module, journal
 * watcher, `qqnotify sendmail` and `notify`) and the one sender
 * (`qqnotify flush`): this is the consumer's half.  Layout, write protocol
 * and retry policy: docs/architecture.md section 4.
 *
 *   DIR/maildrop/  submissions of local users, through qqnotify-drop (pickup.h)
 *   DIR/tmp/       entries being written
 *   DIR/new/       complete entries waiting for the sender
 *   DIR/deferred/  temporary failures, with attempt count and next try
 *   DIR/failed/    permanent failures and corrupt entries, with the reason
 *   DIR/state/     rate-limit counters, lanes and caps, journal cursor, the sender's lock
 *
 * Owners and modes (spoolowner.h makes and checks them): DIR 0711 and
 * tmp/ new/ deferred/ failed/ state/ 2700, all the spool user's; maildrop/
 * 1730 the spool user's with the drop group, which only qqnotify-drop has.
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
 * subdirectories (and of maildrop/ when there is one), opened once with
 * O_NOFOLLOW: later operations are relative to those fds and never resolve
 * the path again.  One sender at a
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
#define QN_SPOOL_DIR_MODE       02700          /* subdirectories created by qn_spool_open */
#define QN_SPOOL_PEEK_MAX       4096           /* bytes read to choose a pass (qn_spool_peek) */
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
    QN_SPOOL_MAILDROP, /* maildrop/: submissions, not yet entries (pickup.h) */
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
    enum qn_spool_origin origin; /* version 1: system */
    unsigned long long uid;      /* the "uid" line (version 1: 0) */
    enum qn_lane lane;           /* version 1: from the kind (qn_enqueue_lane) */
    unsigned long long owner;    /* the file's owner, from the kernel (load, peek; 0 from parse) */
    long long queued;            /* when the producer spooled it */
    unsigned attempts;           /* delivery attempts so far */
    long long next_try;          /* not before this time (deferred/); 0 = at once */
    char last_error[QN_SPOOL_ERROR_MAX];    /* why the last attempt failed, or "" */
    char diagnosis[QN_SPOOL_DIAGNOSIS_MAX]; /* its diagnosis id, or "" */

    struct qn_event event; /* QN_SPOOL_EVENT */

    /* QN_SPOOL_MESSAGE */
    char sender[QN_SPOOL_ADDRESS_MAX]; /* "" = null sender */
    size_t n_rcpt;
    char rcpt[QN_SPOOL_RCPT_MAX][QN_SPOOL_ADDRESS_MAX];
    char *message; /* heap, message_len bytes plus a NUL not counted; may hold NULs; NULL
                      after qn_spool_load_head() (message_len is then still its size) */
    size_t message_len;
};

/*
 * What qn_spool_peek() reads: enough to choose a pass (lane, then age) and
 * to count what waits, from the first QN_SPOOL_PEEK_MAX bytes of an entry.
 */
struct qn_spool_head {
    char id[QN_SPOOL_ID_MAX];
    enum qn_spool_type type;
    enum qn_spool_origin origin;
    unsigned long long uid;
    enum qn_lane lane;
    unsigned long long owner; /* the file's owner, from the kernel */
    long long queued;
    unsigned attempts;
    long long next_try;
    unsigned long long size; /* the file's size */
};

/* Free the message bytes and zero the entry.  E may be NULL. */
void qn_spool_entry_clear(struct qn_spool_entry *e);

/* An open spool: directory fds and the lock.  Opaque. */
struct qn_spool;

/* qn_spool_open() flags */
#define QN_SPOOL_CREATE 0x1u /* create missing subdirectories (mode DIR_MODE) */

/*
 * Open the spool at DIR (which must exist: packaging creates it) and its
 * subdirectories tmp new deferred failed state, and maildrop when it
 * exists (it is optional here: only the sender's pickup needs it, and only
 * `qqnotify queue init` can make it, with the drop group).  With
 * QN_SPOOL_CREATE a missing subdirectory (not maildrop) is created and set
 * to exactly DIR_MODE with fchmod (0 = QN_SPOOL_DIR_MODE, 02700), whatever
 * the umask; existing ones are left as they are.  On success *RET_SPOOL is owned by the caller
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

/* The same, keeping the MAX newest (still sorted oldest first): what arrived last, for a
 * sender that must not miss a fresh login behind a backlog (pass.h). */
enum qn_status qn_spool_list_newest(struct qn_spool *sp, enum qn_spool_queue queue,
                                    char (*ret_ids)[QN_SPOOL_ID_MAX], size_t max, size_t *ret_n,
                                    size_t *ret_total);

/*
 * Load entry ID from QUEUE into *RET_ENTRY (overwritten without freeing:
 * clear it first if it held a message).  MAX_SIZE bounds the file (0 =
 * default; the sender uses [spool] max_entry_size plus QN_SPOOL_HEADER_MAX
 * for its own rewrites' lines), checked on the open file before anything
 * is read or allocated.  owner is the file's owner.  QN_ENOTFOUND: no such
 * entry (it may have been removed meanwhile); QN_EINVAL: bad id, or the
 * entry is corrupt: not a regular file (symlink, FIFO, directory),
 * truncated, malformed — quarantine it; QN_ETOOBIG: larger than MAX_SIZE —
 * quarantine it too; QN_EIO, QN_ENOMEM: leave it and retry later.  In
 * maildrop/ a file with more than one link is refused too (QN_EINVAL).
 */
enum qn_status qn_spool_load(struct qn_spool *sp, enum qn_spool_queue queue, const char *id,
                             size_t max_size, struct qn_spool_entry *ret_entry);

/*
 * qn_spool_load() without a message's bytes: only its header lines are
 * read (message NULL, message_len its size), so many message entries can
 * be looked at in bounded memory; the checks and errors are the same (the
 * payload's length is checked against the file's size).  An event is
 * loaded whole.
 */
enum qn_status qn_spool_load_head(struct qn_spool *sp, enum qn_spool_queue queue, const char *id,
                                  size_t max_size, struct qn_spool_entry *ret_entry);

/* The owner of ID in QUEUE (fstatat, a symlink not followed).  QN_ENOTFOUND, QN_EINVAL,
 * QN_EIO. */
enum qn_status qn_spool_owner(struct qn_spool *sp, enum qn_spool_queue queue, const char *id,
                              unsigned long long *ret_uid);

/*
 * The header of entry ID in QUEUE, from at most QN_SPOOL_PEEK_MAX bytes,
 * into *RET (the lane of a version 1 event from its kind when the kind is
 * within those bytes, else QN_LANE_JOURNAL).  Cheap: one open, one fstat,
 * one read.  Errors as qn_spool_load() with MAX_SIZE (0 = default): a file
 * larger is QN_ETOOBIG before anything is read; a corrupt header is
 * QN_EINVAL (a corrupt payload is found by the load that follows).
 */
enum qn_status qn_spool_peek(struct qn_spool *sp, enum qn_spool_queue queue, const char *id,
                             size_t max_size, struct qn_spool_head *ret);

/*
 * Parse one complete entry (LEN bytes at DATA, version 1 or 2) into
 * *RET_ENTRY (overwritten; owner 0, id ""), as strictly as qn_spool_load():
 * qqnotify-drop checks a submission with it, and the pickup reads one.
 * QN_EINVAL (malformed), QN_ENOMEM (a message's copy).
 */
enum qn_status qn_spool_parse(const char *data, size_t len, struct qn_spool_entry *ret_entry);

/*
 * Write ENTRY (its type, origin, uid, lane, queued, attempts, next-try,
 * last-error, diagnosis, envelope and event or message bytes) into new/
 * under a fresh id (tmp/, fsync, rename, fsync), which goes to RET_ID
 * (QN_SPOOL_ID_MAX bytes) when not NULL; ENTRY->id is not used.  The
 * pickup and the sender's own summaries add entries this way.  QN_EINVAL
 * (a bad entry), QN_ETOOBIG (past MAX_SIZE, 0 = default), QN_EIO,
 * QN_ENOMEM.
 */
enum qn_status qn_spool_add(struct qn_spool *sp, const struct qn_spool_entry *entry,
                            size_t max_size, char *ret_id);

/*
 * Remove entry ID from QUEUE (after the server accepted it: 250 after DATA)
 * and its quarantine reason when QUEUE is failed/; fsync the directory.
 * QN_ENOTFOUND (a leftover reason is still removed), QN_EINVAL (bad id),
 * QN_EIO.
 */
enum qn_status qn_spool_remove(struct qn_spool *sp, enum qn_spool_queue queue, const char *id);

/*
 * Remove submission or entry ID from QUEUE without waiting for the disk (no
 * fsync of the directory): for maildrop/ files the pickup has copied or
 * counted, whose coming back after a power cut costs a duplicate at worst.
 * qn_spool_sync() makes a batch of them durable.  QN_ENOTFOUND, QN_EINVAL,
 * QN_EIO.
 */
enum qn_status qn_spool_discard(struct qn_spool *sp, enum qn_spool_queue queue, const char *id);
enum qn_status qn_spool_sync(struct qn_spool *sp, enum qn_spool_queue queue);

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
 * FROM new/ or maildrop/ (a submission becomes an entry only through the
 * pickup) or a bad id, QN_ENOTFOUND, QN_EIO.
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
 * QN_SPOOL_TMP_MAX_AGE, a day): producers that crashed mid-write; and
 * maildrop/'s "<id>.part" files as old (a qqnotify-drop killed before its
 * rename).  Only non-directories are removed.  Call with the lock held.  *RET_REMOVED
 * (when non-NULL) gets the count.  QN_EIO (the count so far is still stored).
 */
enum qn_status qn_spool_clean_tmp(struct qn_spool *sp, long long max_age, size_t *ret_removed);

/* qn_spool_check() findings */
#define QN_SPOOL_UNSAFE_WORLD_WRITABLE 0x01u /* o+w: anyone can plant or remove entries */
#define QN_SPOOL_UNSAFE_OWNER          0x02u /* owned by neither root nor the spool user */
#define QN_SPOOL_UNSAFE_GROUP_WRITABLE 0x04u /* g+w on a queue: a group can change entries */
#define QN_SPOOL_UNSAFE_MAILDROP       0x08u /* maildrop/ is not exactly 1730 */
#define QN_SPOOL_WARN_WORLD_ACCESS     0x10u /* o+r, or o+x below DIR: anyone can list or read */
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
 * (fstat on the open fds, no path lookups) for the CLI to warn or refuse:
 * each must belong to root or OWNER (the spool user); none may be
 * writable by others, the queues and state/ not by their group, and
 * maildrop/ (when open) must be exactly 1730.  Fills *RET (always, on
 * QN_OK and QN_ECONFIG).  QN_ECONFIG when an UNSAFE bit is set: the spool
 * must not be used until fixed (`qqnotify queue init` names the fix).
 * QN_OK otherwise (WARN bits may be set).  QN_EIO.
 */
enum qn_status qn_spool_check(const struct qn_spool *sp, unsigned long long owner,
                              struct qn_spool_report *ret);

#endif
