/*
 * sessions — the sender's table of open login sessions, so that a session's
 * end can say how long it lasted ("session of alice from 203.0.113.9 ended
 * after 2h 14m") and enrichment can say how many sessions a user has open.
 * The PAM module keeps nothing between its calls: it writes a "login" event
 * at pam_open_session and a "logout" event at pam_close_session, both with
 * the same "session" field, and the sender pairs them here.
 *
 * The session key.  What both PAM calls of one session share is the
 * process that holds the PAM handle: sshd calls pam_open_session in its
 * privileged monitor ([priv]) before it forks the unprivileged child, and
 * pam_close_session in the same monitor when the connection ends; su,
 * sudo (also sudo -i and su -) and login open the session, fork the shell or
 * command, wait for it and close the session in the same process.  A pid
 * alone is reused, so the key is
 *     BOOT:PID:START
 * BOOT the 32 hex digits of /proc/sys/kernel/random/boot_id, PID the
 * process id, START its start time in clock ticks since boot (field 22 of
 * /proc/self/stat): unique on this host for ever, and the boot part tells
 * sessions of an earlier boot, which can never end with a logout event.
 * The module adds the key only when its line reports both open and close
 * (event=open,close); without /proc it adds none and the logout is
 * reported without a duration.
 *
 * What the sender does (triage.h, for the queue manager, in the order events happened):
 *   login with a key  -> qn_sessions_open: remember (key, user, time);
 *                        sessions of another boot opened before it are
 *                        dropped (they ended with that boot)
 *   logout with a key -> qn_sessions_close: the duration, entry removed;
 *                        QN_ENOTFOUND when the open was never seen (the
 *                        mail then says nothing about a duration)
 *   enrichment        -> qn_sessions_count(user): sessions open now, this
 *                        one included (why this source and not utmp or
 *                        logind: enrich.h).
 *
 * Bounds: QN_SESSIONS_MAX open sessions, QN_SESSIONS_PER_USER_MAX per user;
 * a session open longer than QN_SESSIONS_LONGEST_S is forgotten.  A user at
 * the maximum loses its own oldest session; a full table loses the oldest
 * session of the user holding the most (a tie goes against the user
 * logging in), so one account opening sessions in a loop cannot push
 * another user's sessions out.  A forgotten session's end is reported
 * without a duration: nothing is lost but the number.
 *
 * State file (state/sessions), version 1, '\n' after every line:
 *     qqnotify-sessions 1
 *     session KEY USER OPENED
 * Strict (unknown line, bad key or user, duplicate key, over a bound:
 * QN_EINVAL and an empty table, so ends are reported without durations);
 * OPENED is clamped to 0..NOW.
 *
 * struct qn_sessions is fixed-size (about 140 KiB: put it on the heap).
 * Decisions and changes are pure (no I/O, no clock); qn_sessions_read and
 * _write use the spool's state files.  Library code: nothing here logs.
 * Thread-safe (no globals).
 */
#ifndef QN_SESSIONS_H
#define QN_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "event.h"
#include "seen.h"
#include "spool.h"
#include "status.h"

#define QN_SESSIONS_MAX          1024
#define QN_SESSIONS_PER_USER_MAX 64
#define QN_SESSIONS_KEY_MAX      72 /* "BOOT:PID:START" with the NUL */
#define QN_SESSIONS_LONGEST_S    (366LL * 86400)
#define QN_SESSIONS_STATE_NAME   "sessions" /* state/sessions, locked by state/sessions.lock */
#define QN_SESSIONS_STATE_MAX                                                                      \
    (24 + QN_SESSIONS_MAX * (8 + QN_SESSIONS_KEY_MAX + QN_SEEN_USER_MAX + 14))

struct qn_session {
    char key[QN_SESSIONS_KEY_MAX];
    char user[QN_SEEN_USER_MAX];
    long long opened;
};

struct qn_sessions {
    size_t n;
    struct qn_session items[QN_SESSIONS_MAX];
};

/* An empty table. */
void qn_sessions_init(struct qn_sessions *t);

/* True for a key of the form above: 32 lowercase hex digits, ':', a pid
 * (1..10 digits), ':', a start time (1..20 digits). */
bool qn_sessions_key_valid(const char *key);

/*
 * Remember login EV (kind "login" with valid "session" and "user" fields),
 * opened at EV's time.  The same key again replaces the entry.  QN_EINVAL
 * for any other event (nothing changes).
 */
enum qn_status qn_sessions_open(struct qn_sessions *t, const struct qn_event *ev);

/*
 * Session end EV (kind "logout" with a valid "session" field): the seconds
 * since its open into *RET_DURATION (0 when the clock went back) and the
 * entry removed.  QN_ENOTFOUND: its open was not seen (or was forgotten);
 * QN_EINVAL: not such an event.
 */
enum qn_status qn_sessions_close(struct qn_sessions *t, const struct qn_event *ev,
                                 long long *ret_duration);

/* Open sessions of USER. */
size_t qn_sessions_count(const struct qn_sessions *t, const char *user);

/* Forget sessions opened more than QN_SESSIONS_LONGEST_S before NOW. */
void qn_sessions_prune(struct qn_sessions *t, long long now);

/* State text: append to OUT (all or nothing), or parse with times clamped to NOW. */
enum qn_status qn_sessions_save(const struct qn_sessions *t, struct qn_buf *out);
enum qn_status qn_sessions_load(struct qn_sessions *t, const char *text, size_t len, long long now);

/* The spool's state/sessions (QN_ENOTFOUND when none: *T empty). */
enum qn_status qn_sessions_read(struct qn_spool *sp, struct qn_sessions *t, long long now);
enum qn_status qn_sessions_write(struct qn_spool *sp, const struct qn_sessions *t);

#endif
