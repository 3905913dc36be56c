/*
 * ratelimit — stay under the mail provider's sending limits.
 *
 * QQ Mail caps mail per minute, per hour and per day for one account, and
 * answers bursts with "550 Connection frequency limited" or a temporary ban.
 * The sender keeps the times of the mails it sent in the last 24 hours
 * (bounded by max_per_day) and of the events it accepted in the digest
 * window, persisted in the spool's state/ between runs, and asks before each
 * mail: how many may go now, and must pending events be merged into a digest?
 *
 * Windows slide: a mail sent at T counts against the minute limit while
 * NOW - T < 60, against the hour limit while NOW - T < 3600 and against
 * the day limit while NOW - T < 86400 (so at exactly T + 60 it no longer
 * counts for the minute).  A limit of 0 means no limit; a limit above
 * QN_RATELIMIT_SENT_MAX counts as QN_RATELIMIT_SENT_MAX, the most the state
 * can remember.
 *
 * A frequency-limit reply from the server puts the limiter in a backoff
 * (no mail until backoff_until, doubling from QN_RATELIMIT_BACKOFF_MIN to
 * QN_RATELIMIT_BACKOFF_MAX on repeated limits, reset by a success) and
 * halves the effective per-minute and per-hour limits (at least 1) until a
 * day passes without another limit reply (slow_until = penalty + 24 h).
 * A provider that blocks for a fixed time after its limit (block_s) is
 * waited out: the reply's time is backoff_until - backoff_s, and no mail
 * goes before it + block_s.
 *
 * Digest decision: N pending events are merged when the events recorded in
 * the last digest_window seconds plus N exceed digest_after (0 = never for
 * this reason), or when fewer than N mails may go now.  A true answer for
 * N == 1 means "this is part of a burst": the caller may hold the event
 * until more arrive or the limiter allows a mail.
 *
 * Times are seconds since the epoch; times outside 0..QN_RATELIMIT_TIME_MAX
 * are treated as the nearest bound, and the lists only ever hold such times
 * (when filled by these functions), so no arithmetic here can overflow.  A
 * clock that steps back is tolerated: a mail recorded at a time before the
 * newest entry is recorded at the newest entry's time (it then counts a
 * little longer, never shorter).
 *
 * State text form (version 1), one "name value" line each, '\n' ends every
 * line, in exactly this order:
 *   ratelimit 1
 *   backoff_until T
 *   backoff_s S                (0, or QN_RATELIMIT_BACKOFF_MIN..MAX)
 *   slow_until T
 *   sent T                     (0..QN_RATELIMIT_SENT_MAX lines, non-decreasing)
 *   event T                    (0..QN_RATELIMIT_EVENTS_MAX lines, non-decreasing)
 * Values are decimal digits only.  Anything else (unknown, missing,
 * duplicate or reordered lines, blanks, CR, a value out of range, too many
 * entries) makes qn_ratelimit_load fail with QN_EINVAL and leaves *rl empty
 * (as after qn_ratelimit_init): the caller then starts from an empty state
 * (erring toward sending, never toward losing mail) and logs it.  The file
 * lives in the spool, which its user can write: a well-formed file may
 * still hold times meant to stop the sender for ever ("backoff_until
 * 253402300799", sent times in the future), so whoever loads it clamps
 * it to what this module could have written by NOW (qn_ratelimit_clamp).
 *
 * Fixed-size struct, no heap.  Thread-safe (no globals; one struct must not
 * be used by two threads at once).
 */
#ifndef QN_RATELIMIT_H
#define QN_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "status.h"

#define QN_RATELIMIT_SENT_MAX    2000 /* largest max_per_day honoured */
#define QN_RATELIMIT_EVENTS_MAX  2000
#define QN_RATELIMIT_BACKOFF_MIN 60             /* seconds, first backoff */
#define QN_RATELIMIT_BACKOFF_MAX 3600           /* seconds, longest backoff */
#define QN_RATELIMIT_SLOW_S      86400          /* halved limits this long after a penalty */
#define QN_RATELIMIT_TIME_MAX    253402300799LL /* 9999-12-31 23:59:59 UTC */
/* Largest state text: every line at its longest. */
#define QN_RATELIMIT_STATE_MAX (64 + (QN_RATELIMIT_SENT_MAX + QN_RATELIMIT_EVENTS_MAX + 3) * 32)

struct qn_ratelimit_config {
    unsigned max_per_minute; /* 0 = no limit */
    unsigned max_per_hour;
    unsigned max_per_day;
    unsigned digest_after; /* more than this many events within digest_window → digest */
    unsigned digest_window_s;
    /* The provider blocks the sender this long after a frequency-limit reply
     * (DingTalk: 10 minutes): no mail before the reply's time + block_s,
     * even when the backoff is shorter.  0 = the backoff alone. */
    unsigned block_s;
};

struct qn_ratelimit {
    long long backoff_until; /* no mail before this time */
    long long backoff_s;     /* current backoff length, 0 when none */
    long long slow_until;    /* halved limits until this time */
    size_t n_sent;
    long long sent[QN_RATELIMIT_SENT_MAX]; /* ascending */
    size_t n_events;
    long long events[QN_RATELIMIT_EVENTS_MAX]; /* ascending */
};

void qn_ratelimit_init(struct qn_ratelimit *rl);

/* Parse the state text form (LEN bytes at TEXT, need not be NUL-terminated);
 * see above.  QN_OK, or QN_EINVAL with *rl empty. */
enum qn_status qn_ratelimit_load(struct qn_ratelimit *rl, const char *text, size_t len);

/*
 * Clamp RL to what could be true at NOW: backoff_until at most NOW +
 * backoff_s (so at most QN_RATELIMIT_BACKOFF_MAX away), slow_until at most
 * NOW + QN_RATELIMIT_SLOW_S, every sent and event time at most NOW (a time
 * to come would count in every window until then).  The lists stay
 * ascending.  Returns true when anything was changed.
 */
bool qn_ratelimit_clamp(struct qn_ratelimit *rl, long long now);

/* Append the state text form to OUT (entries older than a day at NOW are
 * dropped).  All or nothing: on QN_ETOOBIG or QN_ENOMEM OUT is unchanged. */
enum qn_status qn_ratelimit_save(const struct qn_ratelimit *rl, long long now, struct qn_buf *out);

/* How many mails may be sent at NOW (at most QN_RATELIMIT_SENT_MAX).  When
 * 0, *ret_next is the earliest time one may; it is always set (NOW when
 * mails may go).  RET_NEXT may be NULL. */
unsigned qn_ratelimit_available(const struct qn_ratelimit *rl,
                                const struct qn_ratelimit_config *cfg, long long now,
                                long long *ret_next);

/* What holds the next mail back (qn_ratelimit_explain). */
enum qn_ratelimit_limit {
    QN_RATELIMIT_NONE = 0, /* nothing: a mail may go now */
    QN_RATELIMIT_BACKOFF,  /* the server's frequency-limit reply: no mail before backoff_until */
    QN_RATELIMIT_MINUTE,   /* max_per_minute */
    QN_RATELIMIT_HOUR,     /* max_per_hour */
    QN_RATELIMIT_DAY,      /* max_per_day */
};

struct qn_ratelimit_block {
    enum qn_ratelimit_limit limit;
    unsigned allowed; /* MINUTE, HOUR, DAY: mails that window allows now */
    bool halved;      /* ALLOWED is the configured limit halved after a frequency-limit reply */
    long long next;   /* when a mail may go: qn_ratelimit_available()'s *ret_next */
};

/* Why no mail may go at NOW, for a person: the window (or the backoff) that
 * frees last, the longer window on a tie, a window before the backoff on a
 * tie; limit NONE (next = NOW) when a mail may go. */
void qn_ratelimit_explain(const struct qn_ratelimit *rl, const struct qn_ratelimit_config *cfg,
                          long long now, struct qn_ratelimit_block *ret);

/* Record one mail sent at NOW (a success also ends any backoff).  When the
 * state is full the oldest entry is dropped. */
void qn_ratelimit_record_sent(struct qn_ratelimit *rl, long long now);

/* Record N events accepted for delivery at NOW (for the digest window).
 * When the state is full the oldest entries are dropped. */
void qn_ratelimit_record_events(struct qn_ratelimit *rl, size_t n, long long now);

/* True when N more pending events at NOW should be merged into a digest
 * (see above); false for N == 0. */
bool qn_ratelimit_should_digest(const struct qn_ratelimit *rl,
                                const struct qn_ratelimit_config *cfg, size_t n, long long now);

/* The server answered with a frequency limit at NOW: back off. */
void qn_ratelimit_penalize(struct qn_ratelimit *rl, long long now);

#endif
