/*
 * enqueue — the producers' half of the spool: put one event or one message
 * into DIR/new/ (the trusted producers: the PAM module and the journal
 * watcher), format a submission for qqnotify-drop (`qqnotify notify` and
 * `sendmail`, any user), and the entry format and write protocol that the
 * consumer's rewrites and pickup (spool.h, pickup.h) use too.  Layout and retry policy: spool.h
 * and docs/architecture.md section 4.
 *
 * It needs only the spool directory — no network, no OpenSSL, no mail
 * configuration, no consumer code; libc only (with event.c, text.c, buf.c
 * and status.c), so the PAM module links it and nothing else of the spool.
 *
 * Write protocol.  An entry is created in tmp/ with
 * O_CREAT|O_EXCL|O_NOFOLLOW relative to an O_DIRECTORY|O_NOFOLLOW fd of
 * tmp/, written, fsync'd, renamed into new/, and new/ is fsync'd: a reader
 * never sees a partial entry, and a crash at any point leaves either
 * nothing or a complete entry (a stale file in tmp/ at worst, which the
 * sender removes after a day); qn_enqueue_event_nowait() keeps the first
 * promise and trades the second for not waiting on the disk (below).
 * Entry ids are "<seconds>.<microseconds>.<pid>.<16 hex random>": they
 * sort by creation time and cannot be guessed (getrandom); the consumer
 * accepts no other name (qn_spool_id_valid).  Every fd is O_CLOEXEC and
 * closed before returning.
 *
 * Permissions.  The spool belongs to its user (`[spool] user`, qqnotify
 * in the packages): tmp/ new/ deferred/ failed/ state/ are
 * qqnotify:qqnotify 2700, so nobody but root and that user can list,
 * read, rename or remove an entry (docs/architecture.md section 4).  The
 * set-group-ID bit gives every file created in them the spool's group
 * whoever writes it (root in the PAM module, the qqnotify user in the
 * journal watcher).  Entry and state files are set to exactly 0640 with
 * fchmod, whatever the umask: a PAM module running under umask 077 would
 * otherwise write entries the sender (group qqnotify) cannot read, and
 * umask 000 must not make them world-readable.  Only root and the spool
 * user write here directly (the trusted producers); every other
 * submission goes through maildrop/ and qqnotify-drop (pickup.h).
 *
 * Symbolic links.  The spool directory (its last component) and every
 * subdirectory are opened with O_DIRECTORY|O_NOFOLLOW, entries with
 * O_NOFOLLOW: a symlink planted as tmp/, new/ or an entry is never
 * followed.  Opening fails with QN_EIO and errno ELOOP (or ENOTDIR for a
 * file where a directory should be).
 *
 * Entry file format, version 2 (written only here; read by spool.c).
 * Lines end in a single '\n'; a value is the rest of its line after
 * "name ", with '%', every byte below 0x20 and 0x7f written as %XX
 * (upper-case hex), so no value can contain a line break and forge another
 * line; the lines come in exactly this order, each exactly once unless
 * marked:
 *
 *     qqnotify-spool 2
 *     type event                   ("event" or "message")
 *     origin system                ("system": a trusted producer; "user": picked up
 *                                   from maildrop/, submitted by uid below)
 *     uid 0                        (the submitter: the writer's uid for system entries,
 *                                   the maildrop file's owner for user ones)
 *     lane 0                       (enum qn_lane: 0 login, 1 journal, 2 user)
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
 * Everything the sender needs to choose a pass (origin, lane, queued,
 * next-try) comes in the first few hundred bytes, so choosing never reads
 * a payload (qn_spool_peek).  The lane of a system entry follows from its
 * kind (qn_enqueue_lane); a user entry is always lane 2, whatever it
 * claims.  The payload of an event is its spool form (event.h,
 * qn_event_write); of a message, the RFC 5322 message as raw bytes (any
 * bytes, NUL included; never interpreted by the spool).  Numbers are
 * decimal without sign or leading zeros.  Addresses hold no byte below
 * 0x21, no 0x7f, '<' or '>'.  The file must end exactly after the
 * payload: a file cut anywhere, or with bytes appended, is corrupt.  An
 * unknown version, an unknown or missing line, a line out of order, a bad
 * escape or number: corrupt (QN_EINVAL).
 *
 * Version 1 (before origin, uid and lane existed) is still read: such an
 * entry is a system entry of uid 0 with the lane its kind gives (a message:
 * lane 2).  Every rewrite writes version 2.
 *
 * Errors: QN_EIO means a system call failed and errno holds its cause
 * (EACCES, ENOSPC, ELOOP, ENOTDIR...); QN_ENOTFOUND a missing directory;
 * QN_EINVAL a bad argument; QN_ETOOBIG a stated bound; QN_ENOMEM.  Output
 * parameters are written only on success.  Library code: nothing here
 * logs or exits.
 *
 * Thread-safety: every function here is thread-safe.  No global state.
 */
#ifndef QN_ENQUEUE_H
#define QN_ENQUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "event.h"
#include "status.h"

/* The entry format's constants, shared with the consumer (spool.h). */
#define QN_SPOOL_VERSION_LINE      "qqnotify-spool 2" /* an entry's first line */
#define QN_SPOOL_VERSION1_LINE     "qqnotify-spool 1" /* entries written before lanes */
#define QN_SPOOL_ID_RANDOM_DIGITS  16                 /* hex digits at the end of an id */
#define QN_SPOOL_ID_MAX            64                 /* an entry id with its NUL */
#define QN_SPOOL_DEFAULT_MAX_ENTRY (1024 * 1024)
#define QN_SPOOL_RCPT_MAX          32  /* envelope recipients of one message */
#define QN_SPOOL_ADDRESS_MAX       256 /* an envelope address with its NUL (RFC 5321 path) */
#define QN_SPOOL_HEADER_MAX        (64 * 1024) /* the lines before the payload */
#define QN_SPOOL_FILE_MODE         0640        /* entries, state files, quarantine reasons */

/* The "type" line. */
enum qn_spool_type {
    QN_SPOOL_EVENT = 1,
    QN_SPOOL_MESSAGE = 2,
};

/* The "origin" line: who put the entry into new/. */
enum qn_spool_origin {
    QN_ORIGIN_SYSTEM = 1, /* a trusted producer writing new/ itself: root, the spool user */
    QN_ORIGIN_USER = 2,   /* picked up from maildrop/: any local user, through qqnotify-drop */
};

/* The "lane" line: the sender works lanes in this order (lanes.h). */
enum qn_lane {
    QN_LANE_LOGIN = 0,   /* system login, logout, authfail, sudo, su events */
    QN_LANE_JOURNAL = 1, /* every other system event (journal rules, the sender's summaries) */
    QN_LANE_USER = 2,    /* everything from maildrop/ (notify, sendmail), and messages */
};
#define QN_LANES 3

/*
 * The lane of an entry of ORIGIN and TYPE whose event kind is KIND (NULL or
 * ignored for a message): a user entry or a message is QN_LANE_USER; a
 * system event of kind login, logout, authfail, sudo or su is
 * QN_LANE_LOGIN; any other system event QN_LANE_JOURNAL.
 */
enum qn_lane qn_enqueue_lane(enum qn_spool_origin origin, enum qn_spool_type type,
                             const char *kind);

/* ---- producer API ---- */

/*
 * Put one event into DIR's new/, as a system entry (origin system, uid the
 * caller's effective uid, the lane its kind gives): for the trusted
 * producers only, which may write new/ (root, the spool user).  MAX_SIZE
 * bounds the entry (0 = default 1 MiB).  On success the id is written to RET_ID (QN_SPOOL_ID_MAX
 * bytes) when non-NULL.  QN_ENOTFOUND: DIR or DIR/tmp or DIR/new missing; QN_EIO: a system call
 * failed (errno kept: EACCES, ENOSPC, ELOOP for a symlink...); QN_ETOOBIG.
 */
enum qn_status qn_enqueue_event(const char *dir, const struct qn_event *ev, size_t max_size,
                                char *ret_id);

/*
 * qn_enqueue_event() without waiting for the disk, for producers that
 * must not wait on it (the PAM module inside a login).  The entry is as
 * complete and atomic for the sender as with qn_enqueue_event() (written
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
enum qn_status qn_enqueue_event_nowait(const char *dir, const struct qn_event *ev, size_t max_size,
                                       char *ret_id);

/*
 * Put one RFC 5322 message (MSG, LEN bytes, any bytes, copied as given)
 * into DIR's new/ as a system entry of lane 2 with its envelope: SENDER (from `sendmail -f`; "" or
 * NULL for the null sender) and N_RCPT recipients RCPT[].  The spool does not check the message's
 * headers (the sender does); it checks the envelope: QN_EINVAL for no recipient, an empty
 * recipient, or an address with a control character, blank, '<' or '>'; QN_ETOOBIG for more than
 * QN_SPOOL_RCPT_MAX recipients, an address of QN_SPOOL_ADDRESS_MAX bytes
 * or more, or an entry larger than MAX_SIZE (0 = default 1 MiB).  Other
 * errors and RET_ID as qn_enqueue_event().
 */
enum qn_status qn_enqueue_message(const char *dir, const char *sender, const char *const rcpt[],
                                  size_t n_rcpt, const void *msg, size_t len, size_t max_size,
                                  char *ret_id);

/*
 * A submission for qqnotify-drop (the CLI's `notify` and `sendmail`): the
 * complete entry for EV, or for the message MSG (LEN bytes) with its
 * envelope, appended to OUT, all or nothing, as a user entry of lane 2 with
 * the caller's real uid (the sender believes neither: pickup.h).  The same
 * checks and errors as qn_enqueue_event() and qn_enqueue_message(), with
 * OUT's max as the bound (QN_ETOOBIG).
 */
enum qn_status qn_enqueue_format_event(const struct qn_event *ev, struct qn_buf *out);
enum qn_status qn_enqueue_format_message(const char *sender, const char *const rcpt[],
                                         size_t n_rcpt, const void *msg, size_t len,
                                         struct qn_buf *out);

/* ---- the format and the write protocol, for the consumer's rewrites (spool.c) ---- */

/* Everything an entry's header lines say; strings are NUL-terminated. */
struct qn_enqueue_header {
    enum qn_spool_type type;
    enum qn_spool_origin origin;
    unsigned long long uid;
    enum qn_lane lane;
    long long queued; /* >= 0: numbers are written without sign */
    unsigned attempts;
    long long next_try; /* >= 0 */
    const char *last_error;
    const char *diagnosis;
    const char *sender;                  /* message only */
    const char *rcpt[QN_SPOOL_RCPT_MAX]; /* message only, checked addresses */
    size_t n_rcpt;
    size_t size; /* payload bytes */
};

/* Append H's lines, "qqnotify-spool 2" to "end", to OUT.  QN_EINVAL for an origin or lane
 * out of range; QN_ENOMEM, QN_ETOOBIG (OUT's cap). */
enum qn_status qn_enqueue_write_header(const struct qn_enqueue_header *h, struct qn_buf *out);

/* An envelope address as the format allows it: QN_EINVAL for an empty one (unless
 * MAY_BE_EMPTY) or a forbidden byte, QN_ETOOBIG for QN_SPOOL_ADDRESS_MAX bytes or more. */
enum qn_status qn_enqueue_address_check(const char *address, bool may_be_empty);

/*
 * Open the spool directory DIR itself (trailing slashes stripped: with
 * one, the kernel resolves a final symlink even under O_NOFOLLOW) as an
 * O_PATH fd (a base for *at() calls and fstat only: the spool is 0711), or
 * the directory NAME relative to the directory fd AT (readable), never
 * through a symlink (ELOOP, told apart from ENOTDIR).  The fd is the
 * caller's to close.  QN_ENOTFOUND, QN_EIO, QN_EINVAL (empty or too long
 * DIR).
 */
enum qn_status qn_enqueue_open_spool(const char *dir, int *ret_fd);
enum qn_status qn_enqueue_open_dir(int at, const char *name, int *ret_fd);

/* A fresh entry id into OUT (QN_SPOOL_ID_MAX bytes), also used as an unguessable name in
 * tmp/.  QN_EIO (clock, getrandom; a clock before 1970: EINVAL). */
enum qn_status qn_enqueue_new_id(char *out);

/* close(FD) when FD >= 0, leaving errno as it was: error paths report the first failure. */
void qn_enqueue_close_keep_errno(int fd);

/* The status of a failed system call, errno kept: QN_ENOTFOUND for ENOENT, else QN_EIO. */
enum qn_status qn_enqueue_errno_status(void);

/* How qn_enqueue_place() makes a file durable. */
enum qn_enqueue_sync {
    QN_ENQUEUE_SYNC_ALL,  /* fsync the file, rename, fsync the directory: durable on return */
    QN_ENQUEUE_SYNC_DATA, /* fsync the file, rename: after a power cut the old or the new file */
    QN_ENQUEUE_SYNC_NONE, /* start the writeback, rename: nothing waited for */
};

/*
 * Write A and B (ALEN, BLEN bytes) to a new file TMP_NAME in directory
 * TMP_FD (O_EXCL|O_NOFOLLOW), make it exactly QN_SPOOL_FILE_MODE, then as
 * HOW says: fsync, rename it to DST_NAME in DST_FD (replacing a file of
 * that name), fsync that directory.  On failure the temporary file is
 * removed (best effort: a leftover is a stale tmp/ file, cleaned later)
 * and errno kept; with SYNC_ALL a failed directory fsync is QN_EIO with the
 * file already in place.  QN_EIO.
 */
enum qn_status qn_enqueue_place(int tmp_fd, const char *tmp_name, int dst_fd, const char *dst_name,
                                const void *a, size_t alen, const void *b, size_t blen,
                                enum qn_enqueue_sync how);

#endif
