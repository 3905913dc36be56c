/*
 * spool — the durable queue between producers (PAM module, journal
 * watcher, `qqnotify sendmail` and `notify`) and the one sender
 * (`qqnotify flush`).  Layout, write protocol and retry policy: DESIGN.md
 * section 4.
 *
 *   DIR/tmp/       entries being written
 *   DIR/new/       complete entries waiting for the sender
 *   DIR/deferred/  temporary failures, with attempt count and next try
 *   DIR/failed/    permanent failures and corrupt entries, with the reason
 *   DIR/state/     rate-limit counters, journal cursor, the sender's lock
 *
 * Producer API (this part): needs only the spool directory — no network,
 * no OpenSSL, no mail configuration; libc only, so the PAM module can link
 * it.  An entry is created in tmp/ with O_CREAT|O_EXCL|O_NOFOLLOW relative
 * to an O_DIRECTORY|O_NOFOLLOW fd of tmp/, written, fsync'd, renamed into
 * new/, and new/ is fsync'd: a reader never sees a partial entry, and a
 * crash at any point leaves either nothing or a complete entry (a stale
 * file in tmp/ at worst, which the sender removes after a day);
 * qn_spool_put_event_nowait() keeps the first promise and trades the second
 * for not waiting on the disk (below).  Entry ids
 * are "<seconds>.<microseconds>.<pid>.<16 hex random>": they sort by
 * creation time and cannot be guessed (getrandom).  Every fd is O_CLOEXEC
 * and closed before returning.
 *
 * Permissions.  The spool directory is root:qqnotify 2770 (tmpfiles.d);
 * its subdirectories are 2770 too, so every file created in them gets the
 * qqnotify group whoever writes it (root in the PAM module, the qqnotify
 * user in the daemons).  Entry and state files are set to exactly 0640 with
 * fchmod, whatever the umask: a PAM module running under umask 077 would
 * otherwise write entries the sender (group qqnotify) cannot read, and
 * umask 000 must not make them world-readable.  Group members can rename
 * and remove entries (directory write permission), which is all the sender
 * needs; nobody but the writer can change an entry in place.
 *
 * Symbolic links.  The spool directory (its last component) and every
 * subdirectory are opened with O_DIRECTORY|O_NOFOLLOW, entries with
 * O_NOFOLLOW: a symlink planted as tmp/, new/ or an entry is never
 * followed.  Opening fails with QN_EIO and errno ELOOP (or ENOTDIR for a
 * file where a directory should be); an entry that is a symlink or not a
 * regular file is reported as corrupt (QN_EINVAL) so it can be quarantined
 * instead of blocking the queue.
 *
 * Entry file format, version 1.  Lines end in a single '\n'; a value is
 * the rest of its line after "name ", with '%', every byte below 0x20 and
 * 0x7f written as %XX (upper-case hex), so no value can contain a line
 * break and forge another line; the lines come in exactly this order, each
 * exactly once unless marked:
 *
 *     qqnotify-spool 1
 *     type event                   ("event" or "message")
 *     queued 1764180000            (seconds since the epoch, when spooled)
 *     attempts 0                   (delivery attempts so far)
 *     next-try 0                   (not before this time; 0 = at once)
 *     last-error <text>            (sanitised one-line text, may be empty)
 *     diagnosis <id>               (qn_diagnosis id of the last failure, may be empty)
 *     sender <address>             (message only; may be empty: null sender)
 *     rcpt <address>               (message only; 1..QN_SPOOL_RCPT_MAX lines)
 *     size 1234                    (decimal byte count of the payload)
 *     end
 *     <exactly size bytes of payload>
 *
 * The payload of an event is its spool form (event.h, qn_event_write); of
 * a message, the RFC 5322 message as raw bytes (any bytes, NUL included;
 * never interpreted by the spool).  Numbers are decimal without sign or
 * leading zeros.  Addresses hold no byte below 0x21, no 0x7f, '<' or '>'.
 * The file must end exactly after the payload: a file cut anywhere, or with
 * bytes appended, is corrupt.  An unknown version, an unknown or missing
 * line, a line out of order, a bad escape or number: corrupt (QN_EINVAL).
 * A future format change gets a new version number.
 *
 * Consumer API (the rest): for `qqnotify flush` and `qqnotify queue`.  A
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
 * Thread-safety: the producer functions and qn_spool_id_valid() are
 * thread-safe.  A struct qn_spool must be used by one thread at a time.
 */
#ifndef QN_SPOOL_H
#define QN_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "event.h"
#include "status.h"

#define QN_SPOOL_ID_MAX            64
#define QN_SPOOL_DEFAULT_MAX_ENTRY (1024 * 1024)

#define QN_SPOOL_RCPT_MAX       32           /* envelope recipients of one message */
#define QN_SPOOL_ADDRESS_MAX    256          /* an envelope address with its NUL (RFC 5321 path) */
#define QN_SPOOL_ERROR_MAX      512          /* last-error and quarantine reason, with the NUL */
#define QN_SPOOL_DIAGNOSIS_MAX  64           /* diagnosis id, with the NUL */
#define QN_SPOOL_HEADER_MAX     (64 * 1024)  /* the lines before the payload */
#define QN_SPOOL_STATE_MAX      (256 * 1024) /* one state file */
#define QN_SPOOL_STATE_NAME_MAX 64           /* a state file name, with the NUL */
#define QN_SPOOL_DIR_MODE       02770        /* subdirectories created by qn_spool_open */
#define QN_SPOOL_FILE_MODE      0640         /* entries, state files, quarantine reasons */
#define QN_SPOOL_TMP_MAX_AGE    (24 * 60 * 60) /* seconds before a tmp/ file is stale */

/*
 * Put one event into DIR's new/.  MAX_SIZE bounds the entry (0 = default
 * 1 MiB).  On success the id is written to RET_ID (QN_SPOOL_ID_MAX bytes)
 * when non-NULL.  QN_ENOTFOUND: DIR or DIR/tmp or DIR/new missing;
 * QN_EIO: a system call failed (errno kept: EACCES, ENOSPC, ELOOP for a
 * symlink...); QN_ETOOBIG.
 */
enum qn_status qn_spool_put_event(const char *dir, const struct qn_event *ev, size_t max_size,
                                  char *ret_id);

/*
 * qn_spool_put_event() without waiting for the disk, for producers that
 * must not wait on it (the PAM module inside a login).  The entry is as
 * complete and atomic for the sender as with qn_spool_put_event() (written
 * in tmp/, renamed into new/), and its writeback is started before the
 * rename (sync_file_range: not waited for, though it may block briefly on
 * a saturated device), but neither the file nor new/ is fsync'd.  A crash
 * of the caller loses nothing.  A power cut or kernel crash before the
 * file system's next commit (ext4: 5 s) or before the sender handled the
 * entry may lose it, or, on file systems that do not write a file's data
 * before its rename (XFS; ext4 with data=writeback), leave it empty or
 * cut, which the sender then moves to failed/ as damaged.  The same errors,
 * plus QN_EIO when the writeback cannot start for a reason other than the
 * call being unavailable.
 */
enum qn_status qn_spool_put_event_nowait(const char *dir, const struct qn_event *ev,
                                         size_t max_size, char *ret_id);

/*
 * Put one RFC 5322 message (MSG, LEN bytes, any bytes, copied as given)
 * into DIR's new/ with its envelope: SENDER (from `sendmail -f`; "" or NULL
 * for the null sender) and N_RCPT recipients RCPT[].  The spool does not
 * check the message's headers (the sender does); it checks the envelope:
 * QN_EINVAL for no recipient, an empty recipient, or an address with a
 * control character, blank, '<' or '>'; QN_ETOOBIG for more than
 * QN_SPOOL_RCPT_MAX recipients, an address of QN_SPOOL_ADDRESS_MAX bytes
 * or more, or an entry larger than MAX_SIZE (0 = default 1 MiB).  Other
 * errors and RET_ID as qn_spool_put_event().
 */
enum qn_status qn_spool_put_message(const char *dir, const char *sender, const char *const rcpt[],
                                    size_t n_rcpt, const void *msg, size_t len, size_t max_size,
                                    char *ret_id);

/*
 * True when ID is a well-formed entry id: "S.U.P.R" with S 1-20 digits and
 * P 1-10 digits (neither with a leading zero), U exactly 6 digits and R
 * exactly 16 lower-case hex digits.  No other string is ever used as a
 * file name, so no '/', "..", or hidden name can reach openat().
 */
bool qn_spool_id_valid(const char *id);

/* ---- consumer API ---- */

enum qn_spool_queue {
    QN_SPOOL_NEW = 0,  /* new/ */
    QN_SPOOL_DEFERRED, /* deferred/ */
    QN_SPOOL_FAILED,   /* failed/ */
};

enum qn_spool_type {
    QN_SPOOL_EVENT = 1,
    QN_SPOOL_MESSAGE = 2,
};

/*
 * One loaded entry.  Fixed-size except the message bytes, which are on the
 * heap: release them with qn_spool_entry_clear().  A zeroed struct is a
 * valid empty entry.  Every string is NUL-terminated; last_error, diagnosis
 * and the event's values are sanitised (no control character whatever the
 * file said), addresses pass the checks of qn_spool_put_message().
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
enum qn_status qn_spool_state_write_nowait(struct qn_spool *sp, const char *name,
                                           const void *data, size_t len);

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
