/*
 * seen — the first-seen table behind `[login] notify = new`: which user
 * logged in from which source, first and last time, how often.  A login is
 * worth a mail when its (user, source) pair was not seen within `remember`
 * (default 90 days); root logins and logins of a user not seen at all
 * within it are always worth one.  The table also answers "when did this
 * user last log in, and from where" for enrichment (enrich.h).
 *
 * Source.  What a login came from, as one token:
 *   SHA256:...        the key fingerprint, when the event has one (field
 *                     "key", written by the PAM module from sshd's
 *                     ExposeAuthInfo): a known key from a new network is
 *                     the same person;
 *   203.0.113.0/24    else the network of the "ip" field (or of "rhost"
 *   2001:db8:1:2::/64 when that is an address): /24 for IPv4 (IPv4-mapped
 *                     IPv6 counts as IPv4), /64 for IPv6, so a DHCP lease
 *                     or a privacy address is not a new source;
 *   name:host.example else the name in "rhost" (sshd with UseDNS yes and no
 *                     address at hand), lower-cased;
 *   local             no remote host: su, sudo, the console.
 * A user or source that cannot be stored (longer than its array, a blank
 * or a character outside a clean line) is "untrackable": always mailed,
 * never recorded.
 *
 * Decisions are pure (qn_seen_decide: a table, an event, a time; no I/O,
 * no clock).  Only "login" events are judged and recorded; authfail
 * events never enter the table, since their user name is whatever an
 * attacker typed.  The caller records a login after deciding (and after
 * asking qn_seen_previous for enrichment), mailed or not.
 *
 * Bounds and eviction.  At most QN_SEEN_MAX entries, at most
 * QN_SEEN_PER_USER_MAX per user.  Eviction can only make a known source
 * look new (a mail more), never a new one known, since entries are only
 * created by logins; the rule below also keeps an attacker who can log in
 * to some accounts from using them to push other users' entries out:
 *   1. entries whose last login is older than `remember` go first (they no
 *      longer keep anything quiet);
 *   2. a user at QN_SEEN_PER_USER_MAX loses its own least recently seen
 *      entry: one account logging in from many networks or with many keys
 *      (cheap with IPv6 /64s and ssh-keygen) only cycles its own entries;
 *   3. a full table loses the least recently seen entry of the user holding
 *      the most entries; a tie goes against the user who logs in now, then
 *      against the user whose newest entry is the newest (an account
 *      flooding now, not one established for months).
 * So another account's logins can take an entry from user U only when the
 * table is full and U holds at least as many entries as every other user;
 * filling the table takes QN_SEEN_MAX / QN_SEEN_PER_USER_MAX accounts at
 * their maximum.
 *
 * State file (state/seen), version 1, '\n' after every line:
 *     qqnotify-seen 1
 *     seen USER SOURCE FIRST LAST COUNT
 * FIRST and LAST are seconds since the epoch, COUNT 1..QN_SEEN_COUNT_MAX.
 * Strict: an unknown line, a bad token or number, a duplicate pair, more
 * than QN_SEEN_MAX entries or more than QN_SEEN_PER_USER_MAX for a user
 * fail the whole file with QN_EINVAL (the table is then empty: everything
 * is new, erring toward mailing).  Values are clamped: times into
 * 0..NOW (a future LAST would keep a pair known for ever), FIRST to at most
 * LAST, COUNT to its maximum.  The table is only as trustworthy as state/
 * (writable by the spool's group, docs/architecture.md section 4).
 *
 * struct qn_seen is fixed-size (about 160 KiB: put it on the heap) and owns
 * no other memory.  Library code: nothing here logs, prints or exits.
 * Thread-safe (no globals); qn_seen_user_is_root() asks NSS.
 */
#ifndef QN_SEEN_H
#define QN_SEEN_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "event.h"
#include "spool.h"
#include "status.h"

#define QN_SEEN_MAX                1024
#define QN_SEEN_PER_USER_MAX       16
#define QN_SEEN_USER_MAX           65 /* bytes of a user name, with the NUL */
#define QN_SEEN_SOURCE_MAX         65 /* bytes of a source token, with the NUL */
#define QN_SEEN_COUNT_MAX          999999999UL
#define QN_SEEN_REMEMBER_DEFAULT_S (90LL * 86400)
#define QN_SEEN_TIME_MAX           253402300799LL /* 9999-12-31 23:59:59 UTC */
#define QN_SEEN_STATE_NAME         "seen"         /* state/seen, locked by state/seen.lock */
/* Largest state text: every line at its longest. */
#define QN_SEEN_STATE_MAX                                                                          \
    (16 + QN_SEEN_MAX * (5 + QN_SEEN_USER_MAX + QN_SEEN_SOURCE_MAX + 2 * 13 + 11))

struct qn_seen_entry {
    char user[QN_SEEN_USER_MAX];
    char source[QN_SEEN_SOURCE_MAX];
    long long first, last; /* first and last login seen */
    unsigned long count;   /* logins seen, 1..QN_SEEN_COUNT_MAX */
};

struct qn_seen {
    size_t n;
    struct qn_seen_entry entries[QN_SEEN_MAX];
};

enum qn_seen_verdict {
    QN_SEEN_NOT_LOGIN = 1, /* not a login: notify = new does not judge it */
    QN_SEEN_ROOT,          /* a root login: always mailed */
    QN_SEEN_UNTRACKABLE,   /* user or source cannot be stored: always mailed */
    QN_SEEN_NEW_USER,      /* no login of this user within remember: mailed */
    QN_SEEN_NEW_SOURCE,    /* the user is known, this source is not: mailed */
    QN_SEEN_KNOWN,         /* this pair was seen within remember: not mailed */
};

/* What qn_seen_previous() found (before this login is recorded). */
struct qn_seen_previous {
    bool user_seen;                       /* the user logged in before (any source) */
    long long user_last;                  /* ... last at */
    char user_source[QN_SEEN_SOURCE_MAX]; /* ... from */
    bool source_seen;                     /* somebody logged in from this source before */
    long long source_last;                /* ... last at */
    char source_user[QN_SEEN_USER_MAX];   /* ... as */
    unsigned long pair_count;             /* logins of this user from this source, 0 if none */
};

/* An empty table. */
void qn_seen_init(struct qn_seen *t);

/*
 * The source token of EV (see the file comment) into OUT.  QN_OK;
 * QN_EINVAL when it cannot be stored (untrackable).
 */
enum qn_status qn_seen_source(const struct qn_event *ev, char out[QN_SEEN_SOURCE_MAX]);

/* True when USER can be stored (QN_SEEN_USER_MAX, no blank, a clean line). */
bool qn_seen_user_valid(const char *user);

/*
 * The verdict on EV at time NOW (the login's own time) with REMEMBER_S
 * (> 0).  IS_ROOT: the caller's judgement that the user has uid 0
 * (qn_seen_user_is_root), so this stays free of NSS.  Pure.
 */
enum qn_seen_verdict qn_seen_decide(const struct qn_seen *t, const struct qn_event *ev,
                                    long long now, long long remember_s, bool is_root);

/* True for the verdicts that mean "mail it" (all but QN_SEEN_KNOWN). */
bool qn_seen_verdict_mails(enum qn_seen_verdict v);

/* A short English name of V ("new source"...), for logs and tests. */
const char *qn_seen_verdict_name(enum qn_seen_verdict v);

/* The user's previous login and the source's (see the struct), at NOW. */
void qn_seen_previous(const struct qn_seen *t, const char *user, const char *source,
                      struct qn_seen_previous *ret);

/*
 * Record login EV at NOW: the pair's last = max(last, NOW), count + 1, or a
 * new entry (evicting as the file comment says).  QN_EINVAL for an event
 * that is not a login or is untrackable (nothing changes).
 */
enum qn_status qn_seen_record(struct qn_seen *t, const struct qn_event *ev, long long now,
                              long long remember_s);

/* Remove USER's entry for SOURCE, or all of USER's when SOURCE is NULL.
 * Returns how many went. */
size_t qn_seen_forget(struct qn_seen *t, const char *user, const char *source);

/* Drop entries whose last login is older than NOW - REMEMBER_S. */
void qn_seen_prune(struct qn_seen *t, long long now, long long remember_s);

/* True when USER is "root" or NSS gives it uid 0 (getpwnam_r: I/O). */
bool qn_seen_user_is_root(const char *user);

/* Append the state text to OUT, all or nothing (QN_ETOOBIG, QN_ENOMEM; QN_EINVAL
 * for a table that breaks its own rules). */
enum qn_status qn_seen_save(const struct qn_seen *t, struct qn_buf *out);

/* Parse the state text, clamping times to NOW (see the file comment).  QN_EINVAL
 * leaves *T empty. */
enum qn_status qn_seen_load(struct qn_seen *t, const char *text, size_t len, long long now);

/* The spool's state/seen: read (QN_ENOTFOUND when none: *T empty) or replace
 * it atomically.  Read-modify-write holds qn_spool_state_lock(sp,
 * QN_SEEN_STATE_NAME) around both. */
enum qn_status qn_seen_read(struct qn_spool *sp, struct qn_seen *t, long long now);
enum qn_status qn_seen_write(struct qn_spool *sp, const struct qn_seen *t);

#endif
