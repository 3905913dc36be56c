/*
 * silence — maintenance windows for alerts: "do not mail logins of user
 * deploy for the next 2 hours".  A silence is a set of KEY=VALUE matches, a
 * time span, who made it and why.  This module holds the silences, decides
 * whether an event falls under one, and reads and writes their state file
 * (state/silences in the spool).  Nothing here mails, drops or logs: a
 * silenced event is still a fact the sender counts and names in its
 * summaries (unlike Alertmanager, which drops silenced notifications for
 * good, which is wrong for security events).
 *
 * Matches.  KEY is "kind", "host", "subject" or any event field name
 * (user, rhost, ip, service, rule, uid, ...: [a-z0-9_.-], as event.h).
 * VALUE is a pattern in fnmatch(3) style, matched against the whole value:
 *   *       any run of characters, also none (and also '/')
 *   ?       exactly one character (a UTF-8 character, not a byte)
 *   [abc] [a-z] [!a-z]   one ASCII character of (not of) the set
 *   \c      the character c itself
 * anything else stands for itself (case-sensitive).  A value without
 * wildcards is an exact match.  An event matches a silence when, for every
 * match, the event has that key and its value matches the pattern (the
 * same key twice: both must match).  A key the event does not have never
 * matches, whatever the pattern, "*" included.
 *
 * Hand-written matcher instead of fnmatch(3): glibc's fnmatch backtracks
 * recursively and takes time exponential in the number of '*' (a pattern
 * such as "*a*a*a*a*a*a*b" against a 500-byte user name runs for minutes),
 * while event values are attacker-chosen (the user name of a failed
 * login).  This one keeps a single backtrack point, the classic
 * wildcard algorithm: at most (value length + 1) x (pattern length) steps.
 *
 * Time.  A silence is active at T when start <= T < end.  The caller
 * chooses T (the event's own time: a login during a maintenance window is
 * silenced even when the sender handles it after the window).  A silence
 * lasts at most QN_SILENCE_LONGEST_S; expiring one early sets its end to
 * the moment of expiry (and records who did it); ended silences stay in
 * the file for QN_SILENCE_KEEP_ENDED_S, so summaries can still name them,
 * and are dropped when the file is next written.
 *
 * Silences that would match every login.  qn_silence_covers_all_logins()
 * says whether a silence could match every login event the PAM module
 * writes: the program then asks for --force.  A match narrows a silence
 * only when its key is one a login event has (kind host service user ruser
 * rhost ip tty method key pid session) and its pattern holds at least one
 * ordinary character (not a wildcard, not a [...] set), except kind and
 * host patterns that match "login" and this host's name (every login here
 * has both); a match on another key (rule, subject, uid...) excludes
 * logins, and kind=journal too.  So user=*, user=[a-z]*, kind=login and
 * host=web1 (on web1) each alone match every login; user=deploy,
 * rhost=10.* and service=sshd do not.
 *
 * State file, version 1 (text, '\n' after every line, fields in this
 * order, one block per silence):
 *     qqnotify-silences 1
 *     silence 3f9a0c1b2d4e           12 lowercase hex digits, unique
 *     created 1764180000             seconds since the epoch
 *     start 1764180000
 *     end 1764187200
 *     by root (uid 0, login alice uid 1000, SUDO_USER=alice)
 *     comment deploy of release 42   optional
 *     match user deploy              1..QN_SILENCE_MATCHES_MAX, "KEY PATTERN"
 *     expired 1764183000 root (uid 0)   optional: ended early, when and by whom
 * The text after the key word runs to the end of the line, verbatim: it is
 * valid UTF-8 without control characters (the writer refuses anything
 * else), so no escaping is needed.  The parser is strict: an unknown,
 * missing, repeated or misplaced line, a bad number, an invalid pattern or
 * key, a duplicate id, more than QN_SILENCE_MAX silences or any field over
 * its bound fails the whole file with QN_EINVAL (the sender then silences
 * nothing: an unreadable file errs toward mailing).  Numbers are clamped:
 * times into 0..QN_SILENCE_TIME_MAX, end to at least start and at most
 * start + QN_SILENCE_LONGEST_S, expired into start..end.
 *
 * Bounds: QN_SILENCE_MAX silences of QN_SILENCE_MATCHES_MAX matches; every
 * string has its array; the largest file fits QN_SILENCE_STATE_MAX, below
 * the spool's QN_SPOOL_STATE_MAX.  struct qn_silences is fixed-size (about
 * 140 KiB: put it on the heap) and owns no other memory.  Library code:
 * nothing here logs, prints or exits.  Thread-safe (no globals).
 */
#ifndef QN_SILENCE_H
#define QN_SILENCE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "event.h"
#include "spool.h"
#include "status.h"

#define QN_SILENCE_MAX          100 /* silences in the file, ended ones included */
#define QN_SILENCE_MATCHES_MAX  8
#define QN_SILENCE_KEY_MAX      QN_EVENT_KEY_MAX /* with the NUL */
#define QN_SILENCE_PATTERN_MAX  128              /* bytes of a pattern, with the NUL */
#define QN_SILENCE_COMMENT_MAX  256
#define QN_SILENCE_CREATOR_MAX  160
#define QN_SILENCE_ID_LEN       12
#define QN_SILENCE_LONGEST_S    (366LL * 86400) /* a silence's longest span */
#define QN_SILENCE_KEEP_ENDED_S (7LL * 86400)   /* ended silences kept this long */
#define QN_SILENCE_TIME_MAX     253402300799LL  /* 9999-12-31 23:59:59 UTC */
#define QN_SILENCE_STATE_NAME   "silences"      /* state/silences, locked by state/silences.lock */
/* Largest state text: every line of every silence at its longest. */
#define QN_SILENCE_STATE_MAX                                                                       \
    (32 +                                                                                          \
     QN_SILENCE_MAX *                                                                              \
         (24 + 3 * 28 + 2 * (8 + 21 + QN_SILENCE_CREATOR_MAX) + (9 + QN_SILENCE_COMMENT_MAX) +     \
          QN_SILENCE_MATCHES_MAX * (8 + QN_SILENCE_KEY_MAX + QN_SILENCE_PATTERN_MAX)))

struct qn_silence_match {
    char key[QN_SILENCE_KEY_MAX];
    char pattern[QN_SILENCE_PATTERN_MAX];
};

struct qn_silence {
    char id[QN_SILENCE_ID_LEN + 1];
    long long created, start, end; /* active while start <= T < end */
    char creator[QN_SILENCE_CREATOR_MAX];
    char comment[QN_SILENCE_COMMENT_MAX]; /* "" when none */
    size_t n_matches;                     /* 1..QN_SILENCE_MATCHES_MAX */
    struct qn_silence_match matches[QN_SILENCE_MATCHES_MAX];
    long long expired; /* 0, or when it was ended early */
    char expired_by[QN_SILENCE_CREATOR_MAX];
};

struct qn_silences {
    size_t n;
    struct qn_silence items[QN_SILENCE_MAX]; /* in the order they were added */
};

/* ---- patterns and matches ---- */

/* True when PATTERN matches the whole of VALUE (the syntax above).  An
 * invalid pattern matches nothing.  Bounded time: see the file comment. */
bool qn_silence_glob(const char *pattern, const char *value);

/* QN_OK for a valid pattern: 1..QN_SILENCE_PATTERN_MAX-1 bytes, one clean
 * line as event values are (valid UTF-8, no control character, no blank at
 * either end, no two blanks in a row: such a pattern could never match),
 * sets closed and holding ASCII only, no '\' at the end.  QN_EINVAL
 * otherwise, QN_ETOOBIG when too long. */
enum qn_status qn_silence_pattern_check(const char *pattern);

/* QN_OK for a valid key: "kind", "host", "subject" or a field name
 * ([a-z0-9_.-], 1..QN_SILENCE_KEY_MAX-1 bytes).  QN_EINVAL otherwise. */
enum qn_status qn_silence_key_check(const char *key);

/*
 * Parse "KEY=VALUE" (a --match argument) into *RET: the key up to the first
 * '=', the pattern after it.  QN_EINVAL (no '=', bad key, bad pattern:
 * the checks above), QN_ETOOBIG (pattern too long).
 */
enum qn_status qn_silence_match_parse(const char *text, struct qn_silence_match *ret);

/* ---- decisions (pure: no I/O, no clock) ---- */

/* True when EV matches every match of S (time not considered). */
bool qn_silence_matches_event(const struct qn_silence *s, const struct qn_event *ev);

/* True when S is active at T. */
bool qn_silence_active(const struct qn_silence *s, long long t);

/*
 * The first silence of SET (in file order) that is active at T and matches
 * EV, or NULL.  Its id is what the summary names.
 */
const struct qn_silence *qn_silence_find(const struct qn_silences *set, const struct qn_event *ev,
                                         long long t);

/* True when S could match every login event (see the file comment); LOCAL_HOST
 * is this host's name (gethostname), "" when unknown. */
bool qn_silence_covers_all_logins(const struct qn_silence *s, const char *local_host);

/* ---- the set ---- */

/* An empty set. */
void qn_silences_init(struct qn_silences *set);

/* The silence with ID, or NULL. */
struct qn_silence *qn_silences_get(struct qn_silences *set, const char *id);

/*
 * Add S to SET (copied), after dropping silences that ended more than
 * QN_SILENCE_KEEP_ENDED_S before NOW.  S must be complete: a fresh id (not
 * in SET), 1..QN_SILENCE_MATCHES_MAX valid matches, start <= end <= start +
 * QN_SILENCE_LONGEST_S, strings clean (one line, valid UTF-8).  QN_EINVAL
 * for anything else; QN_ETOOBIG when SET holds QN_SILENCE_MAX silences that
 * are all active, pending or recently ended.  On failure SET is unchanged.
 */
enum qn_status qn_silences_add(struct qn_silences *set, const struct qn_silence *s, long long now);

/*
 * End silence ID at NOW, recording BY (sanitised, cut to fit).  QN_ENOTFOUND
 * when there is no such silence; QN_EINVAL when it has already ended (end <=
 * NOW).  A silence that has not started yet ends before it starts (end =
 * start): it never silences anything.
 */
enum qn_status qn_silences_expire(struct qn_silences *set, const char *id, const char *by,
                                  long long now);

/* A fresh random id (getrandom) that SET does not hold, into OUT.  QN_EIO
 * when no random bytes could be had. */
enum qn_status qn_silences_new_id(const struct qn_silences *set, char out[QN_SILENCE_ID_LEN + 1]);

/* ---- state text ---- */

/* Append SET's state text to OUT, all or nothing (QN_ETOOBIG, QN_ENOMEM
 * from OUT; QN_EINVAL for a silence that breaks the rules of _add). */
enum qn_status qn_silences_save(const struct qn_silences *set, struct qn_buf *out);

/* Parse the state text (LEN bytes at TEXT) into *SET.  QN_EINVAL as described
 * in the file comment, and *SET is then empty. */
enum qn_status qn_silences_load(struct qn_silences *set, const char *text, size_t len);

/*
 * The spool's state/silences: read and parse it (QN_ENOTFOUND when there is
 * none: *SET is empty, which is no error for the sender), or replace it
 * atomically with SET.  Read-modify-write (`qqnotify silence add/expire`)
 * holds qn_spool_state_lock(sp, QN_SILENCE_STATE_NAME) around both.
 */
enum qn_status qn_silences_read(struct qn_spool *sp, struct qn_silences *set);
enum qn_status qn_silences_write(struct qn_spool *sp, const struct qn_silences *set);

#endif
