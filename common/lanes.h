/*
 * lanes — the queue manager's priorities and caps: which alerts go first,
 * how much of the sending limits each lane may use, when a lane's events
 * become a digest, and how a flood from one local user or one journal rule
 * becomes one summary instead of thousands of mails.
 *
 * Lanes (enum qn_lane, enqueue.h).  0 login: the PAM module's login,
 * logout, authfail (and sudo, su) events; 1 journal: every other system
 * event (journal rules, the sender's own summaries of the journal lane);
 * 2 user: everything picked up from maildrop/ (`qqnotify notify`,
 * `sendmail`, any local user) and every sendmail message.  The lane is a
 * header line of the entry (the pass is chosen without reading payloads);
 * a user entry is lane 2 whatever it claims.
 *
 * Sending limits are shared, but not equally: a lane may send only while
 * more mails may go than the lanes above it could need right now
 * (qn_lanes_available: a reserve of one mail per higher lane, at most half
 * of the smallest configured limit), so a flood in lane 2 can use up
 * neither the minute's nor the day's last mails that a root login needs.
 *
 * Digests.  The digest decision of ratelimit.h (more than digest_after
 * events within digest_window, or fewer mails may go than events wait) is
 * made per lane, from the events that lane delivered (qn_lanes_record,
 * kept per lane): 3,000 notifications make lane 2 a burst, never lane 0,
 * and a digest only ever holds the events of one lane.
 *
 * Caps.  Per key — "uid:1001" for a local user's submissions (checked at
 * pickup), "rule:NAME" for a journal rule's alerts (checked when loaded)
 * — at most MAX entries are admitted per window (a fixed window of
 * cap_window seconds from the key's first entry).  Past that each entry is
 * counted and removed, not delivered (qn_lanes_admit says QN_LANES_OVER).
 * When a window ends with entries counted past the cap,
 * qn_lanes_take_summary() hands out one summary event for it ("user
 * mallory queued 2,980 notifications in 10 minutes"), which the sender
 * queues in the key's lane like any other alert (a system entry, not
 * capped itself).  At most QN_LANES_KEYS_MAX keys are tracked; when the
 * table is full the key whose window started first and has nothing
 * counted over its cap makes room, else the new key shares the catch-all
 * key "other" of its lane, so no count is ever dropped.
 *
 * State.  The per-lane events and the cap table survive between runs in
 * state/lanes, written only by the sender (it holds state/flush.lock), in
 * this text form, version 1, '\n' after every line:
 *   lanes 1
 *   event LANE T                 (per lane, non-decreasing; at most
 *                                 QN_LANES_EVENTS_MAX per lane)
 *   key LANE START ADMITTED OVER KEY   (at most QN_LANES_KEYS_MAX)
 * The file can be written by the spool user, so every value is clamped on
 * load (qn_lanes_load): times never after NOW (a time to come would make
 * a burst or a window last forever), windows that ended are kept only to
 * hand out their summary, counts at most QN_LANES_COUNT_MAX.  A file that
 * cannot be parsed is ignored (the tables start empty: erring toward
 * sending) and reported.
 *
 * Memory: struct qn_lanes is fixed-size (about 70 KiB: put it on the
 * heap); load and save use one state-sized buffer for the call.  Library
 * code: nothing here prints, logs or exits.  Thread-safety: one struct per
 * thread; the user name of a summary comes from getpwuid_r().
 */
#ifndef QN_LANES_H
#define QN_LANES_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "enqueue.h"
#include "event.h"
#include "ratelimit.h"
#include "render.h"
#include "spool.h"
#include "status.h"

#define QN_LANES_STATE_NAME "lanes"       /* state/lanes */
#define QN_LANES_EVENTS_MAX 2000          /* events remembered per lane, within a day */
#define QN_LANES_KEYS_MAX   256           /* cap keys tracked at once */
#define QN_LANES_KEY_MAX    72            /* "uid:N" or "rule:NAME" with its NUL */
#define QN_LANES_COUNT_MAX  1000000000ULL /* a count kept; more is counted as this */
#define QN_LANES_OTHER_KEY  "other"       /* the catch-all key of a full table */
#define QN_LANES_MARK_MAX   192           /* "from users a, b, c and 9 more" with its NUL */

struct qn_lanes_key {
    char key[QN_LANES_KEY_MAX];
    enum qn_lane lane;
    long long start;             /* the window's first entry */
    unsigned long long admitted; /* entries let through in the window */
    unsigned long long over;     /* entries counted and removed past the cap */
};

struct qn_lanes {
    size_t n_events[QN_LANES];
    long long events[QN_LANES][QN_LANES_EVENTS_MAX]; /* ascending per lane */
    size_t n_keys;
    struct qn_lanes_key keys[QN_LANES_KEYS_MAX];
};

/* Empty tables. */
void qn_lanes_init(struct qn_lanes *l);

/*
 * Replace L with state/lanes, clamped at NOW as described above.  QN_OK;
 * QN_ENOTFOUND: no state yet (L empty, not an error); QN_EINVAL: the file
 * is damaged (L empty); QN_EIO (errno kept), QN_ETOOBIG, QN_ENOMEM: L
 * empty.
 */
enum qn_status qn_lanes_load(struct qn_lanes *l, struct qn_spool *sp, long long now);

/* Write L to state/lanes (events older than a day and spent keys dropped).  QN_EIO,
 * QN_ENOMEM, QN_ETOOBIG. */
enum qn_status qn_lanes_save(const struct qn_lanes *l, struct qn_spool *sp, long long now);

/* The text form of L at NOW, and its parser (for the fuzzer and the tests): the same
 * rules as load and save.  Parse: QN_OK or QN_EINVAL with L empty. */
enum qn_status qn_lanes_format(const struct qn_lanes *l, long long now, struct qn_buf *out);
enum qn_status qn_lanes_parse(struct qn_lanes *l, const char *text, size_t len, long long now);

/* N events of LANE were delivered at NOW (one mail or a digest). */
void qn_lanes_record(struct qn_lanes *l, enum qn_lane lane, size_t n, long long now);

/*
 * How many mails LANE may send at NOW: qn_ratelimit_available() on RL and
 * LIMITS, less the reserve of the lanes above (see above).  When 0,
 * *RET_NEXT (may be NULL) is when one may, at the latest a minute from
 * NOW when only the reserve holds it back.
 */
unsigned qn_lanes_available(enum qn_lane lane, const struct qn_ratelimit *rl,
                            const struct qn_ratelimit_config *limits, long long now,
                            long long *ret_next);

/* True when N pending events of LANE should be merged into a digest at NOW (see above). */
bool qn_lanes_should_digest(const struct qn_lanes *l, enum qn_lane lane,
                            const struct qn_ratelimit *rl, const struct qn_ratelimit_config *limits,
                            size_t n, long long now);

enum qn_lanes_verdict {
    QN_LANES_ADMIT = 1, /* within the cap: deliver it */
    QN_LANES_OVER,      /* past the cap: count it (done) and remove it */
};

/*
 * One more entry for KEY (a string of [A-Za-z0-9_.:-], other bytes made
 * '_', cut to fit) in LANE at NOW, under a cap of MAX per WINDOW seconds
 * (MAX 0: no cap, always ADMIT, nothing tracked).
 */
enum qn_lanes_verdict qn_lanes_admit(struct qn_lanes *l, enum qn_lane lane, const char *key,
                                     unsigned max, unsigned window, long long now);

/*
 * When a window of WINDOW seconds has ended at NOW for a key that counted
 * entries past its cap: fill *RET_EV with its summary (a "notify" event,
 * subject and message in LANG, the count, key, cap and window as fields),
 * *RET_LANE with its lane, forget the key, and return true.  One summary
 * per call; false when none is due.  MAX is the cap the entries passed (for
 * the text); uid keys get the user's name.
 */
bool qn_lanes_take_summary(struct qn_lanes *l, long long now, const struct qn_config *cfg,
                           struct qn_event *ret_ev, enum qn_lane *ret_lane);

/*
 * Mark a rendered mail R of the N entries ES of the user lane (DIGEST: a
 * digest): OUT (OUTSZ bytes) gets its From display name, "from user
 * mallory" or "from users mallory, bob and 2 more" (Chinese unless LANG is
 * en) from the uids of the entries of origin user, "" when none is (the
 * sender's own summaries); a digest's subject gets the same words after
 * its "[host] " prefix (an event's subject already carries them, pickup.h).
 * QN_ENOMEM.
 */
enum qn_status qn_lanes_mark_user_mail(enum qn_lang lang, const struct qn_spool_entry *const *es,
                                       size_t n, bool digest, struct qn_rendered *r, char *out,
                                       size_t outsz);

/* "uid:1001" for UID, "rule:NAME" for a rule (into OUT, QN_LANES_KEY_MAX bytes). */
void qn_lanes_uid_key(unsigned long long uid, char *out);
void qn_lanes_rule_key(const char *rule, char *out);

/* The name of local user UID for a person to read ("mallory"; "uid 1001" when it has none),
 * sanitised, into OUT (OUTSZ >= 16). */
void qn_lanes_user_name(unsigned long long uid, char *out, size_t outsz);

#endif
