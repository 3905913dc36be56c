/*
 * qmgr — the queue manager: works the spool (spool.h) into mail, within the
 * sending limits (ratelimit.h, quota.h), through a transport.
 *
 * How the queue is worked
 *
 * One sender at a time.  qn_qmgr_run() takes the spool's lock
 * (state/flush.lock); when another sender holds it, the run does nothing
 * (that sender looks at new/ again before it ends).  With the lock held it
 * removes producers' leftovers from tmp/ and loads the limiter's view and
 * the lanes' state (lanes.h), then works in passes.  After the last pass
 * it closes the transport's session and releases the lock, then looks at
 * new/ and maildrop/ once more: an entry spooled between the last listing
 * and the release would otherwise wait for the next trigger, so the run
 * takes the lock again (at most QN_QMGR_RELOCK_MAX rounds in all) unless
 * delivery was stopped.
 *
 * Passes.  A pass chooses at most pass_max (QN_QMGR_PASS_MAX) due entries,
 * lane first, then age (pass.h):
 * new/, and the entries of deferred/ whose next try has come; choosing
 * reads only each entry's first bytes.  So a login is in the first pass
 * that starts after it arrived, whatever floods the lower lanes.  Entries
 * are loaded bounded by [spool] max_entry_size (plus the header lines
 * the sender's own rewrites add), a message without its bytes, which are
 * read only for its delivery and freed after it: a pass holds at most one
 * message, so its memory stays bounded whatever the spool holds (a few MiB
 * plus one entry).  While loading, an entry not owned by root or the
 * sender's user, or corrupt (malformed, truncated, not a regular file,
 * over the size bound), is quarantined into failed/ with the reason; a
 * journal alert past its rule's cap is counted and removed (lanes.h); an
 * entry older than max_age is failed with its last error: none stops the
 * queue, nothing is deleted without a count.  Every entry a pass loaded
 * leaves its place (sent, held, deferred, failed); a pass that moves
 * nothing, or in which an entry could not be moved (an I/O error), ends
 * the round instead of loading the same entries again; a round runs at
 * most passes_max (QN_QMGR_PASSES_MAX) passes.  Each pass picks up local
 * users' submissions from maildrop/ (pickup.h: at most QN_PICKUP_BATCH_MAX,
 * each user capped) and queues the summaries of caps whose window ended
 * (lanes.h): before choosing its entries when no login or journal alert is
 * due (submissions join the pass), else after delivering, for the next
 * pass: a login already in new/ never waits for a flood of submissions to
 * be read.  The pickup runs after a stop too (it needs no server).  Then the
 * limiter's changes are merged into the shared state (quota.h) and the
 * lanes' state is saved.
 *
 * Order, lanes and digests.  A pass works its lanes in order, each
 * completely: the sendmail messages of a lane go first, each as it was
 * given, then its events.  The events go one mail each while the limits
 * allow and no burst is on in their lane; when more than digest_after
 * events of the lane fall within digest_window, or the lane may send fewer
 * mails than there are events (qn_lanes_should_digest), they are merged
 * into digests of at most QN_RENDER_DIGEST_MAX_EVENTS events, never with
 * another lane's.  While a mail may go, a burst is held until its oldest
 * event is digest_window old, so one burst becomes one mail.  A login as
 * root from the PAM module is the exception: it goes alone and at once,
 * never held for a burst nor digested, since the logins' lane also carries
 * what any local user can cause (a refused `su root`).  Before every
 * mail the limiter is asked again for that lane (qn_lanes_available: the
 * lanes above keep a reserve); when no mail may go, the entries are held
 * (qn_spool_hold: not an attempt) until then.  Events are rendered at send
 * time in the configured language (render.h).  A mail of the user lane is
 * marked as such: its events' subjects already say "from user NAME"
 * (pickup.h), a digest's subject says it too, and its From display name
 * is "from user NAME" instead of [smtp] from_name.
 *
 * Failures and backoff.  A failure of this one message that leaves the
 * session usable (a reply at MAIL, RCPT or DATA) fails the entry into
 * failed/ when permanent, or defers it when temporary.  Deferral counts an
 * attempt and waits retry_min doubled per earlier attempt, at most
 * retry_max, plus up to a quarter more at random (so entries deferred
 * together do not come back together), counted from the moment of the
 * failure.  A reply whose diagnosis is rate_limited (diag.h: frequency
 * limits, daily quota, a throttled recipient) puts the limiter in backoff
 * and stops the run until then.  A failure of the session or the
 * configuration (credential, network, TLS, authentication, protocol) stops
 * the run: everything not yet sent is deferred with that reason, so
 * nothing is failed for a problem the administrator can fix, and deferred/
 * is not read again in the run (deferring a deferred entry again would
 * count an attempt that was never made).
 *
 * At least once.  An entry is removed only after the transport accepted
 * its mail (SMTP: 250 after DATA).  A crash between the acceptance and the
 * removal sends it again: once more, never zero times.
 *
 * Transports.  Delivery goes through struct qn_transport, a session-style
 * interface (open, deliver, close) with the rendered alert or the sendmail
 * message in a struct qn_delivery: the mailer (mailer.h) is the SMTP one,
 * the webhook (webhook.h) the chat robots', tests drive the queue with a
 * fake.  A transport names its limits and the state file they are counted
 * in (each route has its own) and the diagnosis catalog's provider of its
 * failures.  Failover between routes is a transport of its own on top of
 * this interface (failover.h: it chooses the route of each message and
 * keeps each route's limits, which it reports through available(); the
 * lanes' shares of the limits then give way to it).  A content refusal of
 * an alert (the diagnosis content-spam) is sent once more as a minimal
 * alert (minimal.h) before it counts as refused: by the failover route by
 * route, or by this loop for a transport that does not (resends_minimal).
 *
 * Less noise (triage.h decides, this loop acts).  At the start of a run
 * the triage loads state/silences, state/seen and state/sessions and opens
 * the enrichment (reverse DNS, GeoIP); an unreadable file is empty state
 * (silence nothing, every login new, no durations), reported as a notice.
 * A pass judges each lane's events in order, before any is rendered: each
 * gets its severity (and a logout its session's duration); an event under
 * an active silence, or a login from a known (user, source) with [login]
 * notify = new, is not mailed: it is counted (state/tally, per silence
 * id, for the daily summary and `qqnotify queue`) and removed like a sent
 * one (outcome SILENCED); during quiet hours what is not critical is held
 * until they end (qn_spool_hold, not an attempt); the events of a lane that
 * waited through them go out as one digest, apart from the lane's other
 * events.  An event mailed on its own is enriched on a copy just before it
 * is rendered; a login is recorded in the seen table when it leaves the
 * queue.  Each pass ends by saving the tables and the counts (triage.h).
 *
 * Reports.  The queue manager neither prints nor logs.  Each entry's
 * outcome (enum qn_qmgr_outcome) goes to on_entry as it happens, exactly
 * once per entry handled; things that concern the run (a pass begins,
 * delivery stopped, a queue or the state could not be read or saved, the
 * lock, submissions picked up or refused) go to on_notice.  qn_qmgr_run()
 * fills a summary: the counts, the first thing that needs attention, and
 * the oldest entry still waiting, from which a program chooses its exit
 * status.
 *
 * Thread-safety: one run per spool and thread; no global state.
 */
#ifndef QN_QMGR_H
#define QN_QMGR_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "diag.h"
#include "pass.h"
#include "pickup.h"
#include "render.h"
#include "spool.h"
#include "status.h"

#define QN_QMGR_PASS_MAX          200  /* entries loaded at once (each up to the entry bound) */
#define QN_QMGR_PASSES_MAX        1000 /* passes in one round */
#define QN_QMGR_RELOCK_MAX        3    /* rounds: takes of the lock in one run */
#define QN_QMGR_DEFERRED_SCAN_MAX QN_PASS_SCAN_OLD /* deferred/ entries looked at per pass */

/* ---- transports ---- */

/* One mail to deliver: an alert or a sendmail message. */
struct qn_delivery {
    /* An alert (one event, or a digest of n_events): the transport formats
     * it and sends it to its configured recipients.  NULL for a message. */
    const struct qn_rendered *alert;
    size_t n_events;
    const struct qn_event *const *events; /* the alert's events as queued; NULL for a message */
    /* The From display name of the alert: NULL for [smtp] from_name; "from user NAME" for
     * a mail of the user lane. */
    const char *from_name;
    /* A sendmail message: the RFC 5322 bytes as given, and its envelope. */
    const char *message;
    size_t message_len;
    const char *const *rcpt;
    size_t n_rcpt;
};

/*
 * A way out.  open() makes sure a session is up (QN_OK at once when it is);
 * its failure stops the run.  deliver() sends one mail over it: QN_OK when
 * accepted; otherwise ERR tells what happened, and a failure at
 * QN_STAGE_LOCAL means the transport could not format the mail (nothing
 * was sent, the session is as it was).  close() ends the session (it may be
 * called when none is open); the next open() starts a new one.
 */
struct qn_transport {
    const char *name; /* "smtp", or a route's name */
    /* The diagnosis catalog's provider of its failures (qn_diag_lookup):
     * NULL for [smtp] provider; a robot's type ("wecom", ...). */
    const char *provider;
    /* Its sending limits and the spool state file they are counted in
     * (quota.h): NULL for [limits] and QN_QUOTA_STATE_NAME. */
    const struct qn_ratelimit_config *limits;
    const char *state;
    void *ctx;
    enum qn_status (*open)(void *ctx, struct qn_error *err);
    enum qn_status (*deliver)(void *ctx, const struct qn_delivery *d, struct qn_error *err);
    void (*close)(void *ctx);
    /* Optional: a transport that keeps limits of its own (several routes,
     * failover.h) says how many messages may go at NOW (0: *RET_NEXT is
     * when one may); the queue manager holds entries by it instead of by
     * LIMITS, which then only set the digests.  NULL: LIMITS. */
    unsigned (*available)(void *ctx, long long now, long long *ret_next);
    /* True for a transport that resends a content refusal as a minimal alert itself, route by
     * route (failover.h); otherwise the queue manager does it (one route). */
    bool resends_minimal;
};

/* ---- reports ---- */

enum qn_qmgr_outcome {
    QN_QMGR_SENT = 1,    /* accepted in a mail of its own; removed */
    QN_QMGR_DIGESTED,    /* accepted as part of a digest; removed */
    QN_QMGR_HELD,        /* waits for the limits or the end of a burst (not an attempt) */
    QN_QMGR_DEFERRED,    /* waits after a failure: attempts + 1, next try after the backoff */
    QN_QMGR_FAILED,      /* the transport refused it for good: moved to failed/ */
    QN_QMGR_EXPIRED,     /* older than max_age: moved to failed/ with its last error */
    QN_QMGR_QUARANTINED, /* corrupt: moved to failed/ unchanged, with a reason */
    QN_QMGR_STUCK,       /* the move above could not be made: still where it was */
    QN_QMGR_UNREADABLE,  /* could not be read (I/O, memory): left for a later run */
    QN_QMGR_CAPPED,      /* past its rule's cap: counted (a summary tells) and removed */
    QN_QMGR_SILENCED,    /* not mailed: under a silence, or a known login (reason says which);
                            counted in state/tally and removed */
};

struct qn_qmgr_entry {
    enum qn_qmgr_outcome outcome;
    const char *id;
    enum qn_spool_queue from;   /* where it was */
    enum qn_spool_type type;    /* 0 when it could not be loaded */
    enum qn_lane lane;          /* its lane, when it could be loaded */
    const char *reason;         /* the last-error written (HELD, DEFERRED, FAILED, EXPIRED),
                                   the quarantine reason, or "" */
    const char *diagnosis;      /* diagnosis id written with it, or "" */
    const struct qn_error *err; /* DEFERRED, FAILED (and STUCK after them): the failure, or NULL */
    long long next_try;         /* HELD, DEFERRED: when it is due again */
    /* Its place in its mail: 0..mail_size-1 of a digest of mail_size events,
     * 0 of 1 otherwise (report a mail's failure once, at index 0). */
    size_t mail_index, mail_size;
    /* STUCK: the outcome that could not be carried out (SENT and DIGESTED:
     * the mail went out but the entry could not be removed, so it will be
     * sent again).  Otherwise the outcome itself. */
    enum qn_qmgr_outcome wanted;
    /* STUCK: the move's status; QUARANTINED, UNREADABLE: the load's status
     * (QN_EINVAL, QN_ETOOBIG / QN_EIO, QN_ENOMEM); sys_errno after QN_EIO. */
    enum qn_status status;
    int sys_errno;
    /* QUARANTINED and EXPIRED: whether the move into failed/ was made.  One
     * that was not is met again by a later run; it is not counted in the
     * summary and not reported as STUCK. */
    bool moved;
};

enum qn_qmgr_notice_kind {
    QN_QMGR_PASS = 1,         /* a pass begins with `count` due entries */
    QN_QMGR_STOPPED,          /* delivery stopped: err, reason and diagnosis; the rest waits */
    QN_QMGR_LIST_FAILED,      /* a queue could not be listed: status, sys_errno */
    QN_QMGR_STATE_UNREADABLE, /* the limiter's state could not be read: status; started empty */
    QN_QMGR_STATE_NOT_SAVED,  /* the limiter's state could not be saved: status */
    QN_QMGR_BUSY,             /* another sender holds the lock: it will send the entries */
    QN_QMGR_LOCK_FAILED,      /* the lock could not be taken: sys_errno; the run ends */
    QN_QMGR_PICKED_UP,        /* submissions of maildrop/ queued: count (capped: capped) */
    QN_QMGR_REFUSED,          /* a submission refused: id, uid, who, reason */
    QN_QMGR_SUMMARY_QUEUED,   /* a cap's summary queued: reason is its subject */
    QN_QMGR_PICKUP_FAILED,    /* maildrop/ could not be listed: status, sys_errno */
    QN_QMGR_MINIMAL,          /* a content refusal resent as a minimal alert: reason is the
                                 transport's name, count 1 when it was accepted, else 0 */
};

struct qn_qmgr_notice {
    enum qn_qmgr_notice_kind kind;
    size_t count;
    enum qn_status status;
    int sys_errno;
    const struct qn_error *err;
    const char *reason;     /* STOPPED: the reason written to the entries; REFUSED: why; STATE_*: a
                               detail or NULL */
    const char *diagnosis;  /* STOPPED: its diagnosis id, or "" */
    const char *state;      /* STATE_*: the state file ("ratelimit", "lanes", "silences", "seen",
                               "sessions", "tally") or "geoip" (reason: the database, why) */
    size_t capped;          /* PICKED_UP: submissions counted past their user's cap */
    const char *id;         /* REFUSED: the submission */
    unsigned long long uid; /* REFUSED: its submitter */
    const char *who;        /* REFUSED: the submitter's name */
};

/* What needed attention first in a run, in the order things happened. */
enum qn_qmgr_attention {
    QN_QMGR_ALL_WELL = 0,
    QN_QMGR_ATTN_DEFERRED, /* an entry waits after a failure */
    QN_QMGR_ATTN_STOPPED,  /* delivery stopped (summary.stop_error) */
    QN_QMGR_ATTN_FAILED,   /* an entry was refused for good */
    QN_QMGR_ATTN_EXPIRED,  /* an entry outlived max_age */
    QN_QMGR_ATTN_CORRUPT,  /* a corrupt entry was found */
    QN_QMGR_ATTN_STUCK,    /* an entry could not be moved or removed */
};

struct qn_qmgr_summary {
    size_t mails;       /* mails the transport accepted */
    size_t messages;    /* sendmail messages among them */
    size_t events;      /* events delivered, alone or in digests */
    size_t digests;     /* digest mails */
    size_t held;        /* entries HELD */
    size_t deferred;    /* entries DEFERRED */
    size_t failed;      /* entries FAILED */
    size_t expired;     /* entries EXPIRED and moved */
    size_t quarantined; /* entries QUARANTINED and moved */
    size_t stuck;       /* entries STUCK */
    size_t capped;      /* journal alerts CAPPED, and submissions counted past a user's cap */
    size_t picked_up;   /* submissions of maildrop/ queued */
    size_t refused;     /* submissions refused */
    size_t summaries;   /* cap summaries queued */
    size_t silenced;    /* events under a silence: counted, not mailed (triage.h) */
    size_t known;       /* known logins under [login] notify = new: counted, not mailed */
    size_t quiet;       /* of the held: held for the quiet hours */
    /* After the run: entries still in new/ or deferred/ (as far as looked at) and the
     * queued time of the oldest of them (0: none). */
    size_t waiting;
    long long oldest_waiting;
    enum qn_qmgr_attention first;
    bool stopped;               /* delivery was stopped (possibly after `first`) */
    struct qn_error stop_error; /* why, when stopped */
};

/* ---- running ---- */

struct qn_qmgr_options {
    const struct qn_config *cfg; /* limits, retry_min/max, max_age, entry size, language */
    struct qn_spool *spool;      /* open; the run takes and releases its lock */
    struct qn_transport transport;

    /* Reports (each may be NULL), called in the order things happen. */
    void (*on_entry)(void *arg, const struct qn_qmgr_entry *entry);
    void (*on_notice)(void *arg, const struct qn_qmgr_notice *notice);
    /* One line describing a failure in the reader's language; the entries'
     * last error is "<stage>: <this line>".  NULL: qn_strerror(). */
    void (*describe)(void *arg, const struct qn_error *err, char *out, size_t n);
    void *arg;

    /* Seconds since the epoch; NULL: time().  Tests move time forward. */
    long long (*clock)(void *arg);
    /* 0: QN_QMGR_PASS_MAX and QN_QMGR_PASSES_MAX. */
    size_t pass_max;
    unsigned passes_max;
    /* Messages submitted by local users, rewritten for the account (pickup.h); NULL:
     * such submissions are refused. */
    qn_pickup_rewrite_fn rewrite;
};

/*
 * Work the queue once, as described above, and fill *RET_SUMMARY (always,
 * also on failure: what was done so far).  QN_OK: the run ended normally
 * (also when busy, or stopped: see the summary and the notices); QN_EIO:
 * the lock could not be taken (LOCK_FAILED was reported); QN_ENOMEM before
 * anything was done; QN_EINVAL for missing options.
 */
enum qn_status qn_qmgr_run(const struct qn_qmgr_options *opt, struct qn_qmgr_summary *ret_summary);

#endif
