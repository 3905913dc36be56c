/*
 * rules — journal rules: the rules.d parser, the matcher, and the bounded
 * threshold state behind it (qqnotify-rules(5) is the user's view).
 *
 * A rule set is built from text (qn_rules_parse, a pure function of its
 * input so it can be fuzzed) or from a directory of *.conf files
 * (qn_rules_load_dir, which reads them in name order and parses each).
 * One "[rule NAME]" section per rule:
 *
 *     match = FIELD=VALUE      repeatable; journalctl semantics: the same
 *                              field repeated = OR, different fields = AND
 *     regex = PCRE2            on MESSAGE; named groups become captures
 *     exclude = PCRE2          on MESSAGE; a match here vetoes the rule
 *     priority = ..warning     PRIORITY bound: "warning" = 0..4, "err..warning",
 *                              "..warning", "notice.." (names or 0-7)
 *     uid = ..999              repeatable, ORed: the entry's _UID within a range
 *                              ("0", "..999", "61184..65519", "100..")
 *     unless = FIELD=VALUE     repeatable: an entry with any of them does not match
 *     threshold = N in DURATION [per NAME[, NAME...]]
 *     cooldown = DURATION [per NAME[, NAME...]]
 *                              quiet time after an alert, per key ("per" is
 *                              given once, on threshold or on cooldown)
 *     subject = TEMPLATE       {rule} {host} {unit} {count} {CAPTURE}; {{ and }}
 *     samples = N              journal lines quoted by a threshold alert (0-5, 3)
 *     keys = N                 keys remembered per rule (1-65536, 1024)
 *
 * Patterns are PCRE2 (the engine of `journalctl --grep`), compiled once
 * with JIT when the platform allows it (the interpreter otherwise), in
 * byte mode unless the pattern starts with (*UTF): a journal message need
 * not be valid UTF-8, and a UTF check per rule per entry would cost more
 * than the match.  Every match runs under a match and depth limit, so a
 * pathological pattern costs bounded time; a pattern that hits the limit
 * simply does not match (counted in qn_rules_stats).  Duplicate group
 * names are allowed (alternatives that capture the same thing); the
 * capture is the first group of that name that took part in the match.
 *
 * Matching.  The caller feeds one journal entry at a time through a field
 * getter (struct qn_rules_entry) so this module does not depend on
 * libsystemd and can be tested on plain data.  Fields are fetched lazily
 * and at most once per entry, MESSAGE first: most entries are rejected by
 * the patterns after one lookup.  Before a pattern runs, a plain string
 * that every match of it must contain (read from the pattern, cautiously:
 * anything not plainly understood gives none) is looked for, so most
 * entries are rejected without calling PCRE2 at all.  For each rule in order, a matching entry
 * updates the rule's threshold state and may fire an alert, which is
 * handed to a callback while it is valid.
 *
 * Thresholds.  "N in D per K": the rule fires when N matching entries with
 * the same key K (the values of the named captures, or of the pseudo
 * fields "host" = _HOSTNAME and "unit", see below) fall within D of each
 * other, judged by the entries' own timestamps (so
 * replaying the same entries after a restart gives the same alerts).
 * After an alert the key's count starts again from zero and the key is
 * quiet for the cooldown; matches in that time are counted as
 * "suppressed" and reported with the next alert.  Without a threshold
 * every match fires (subject to the cooldown).
 *
 * Trust.  Only fields whose names start with '_' are set by journald
 * (from the kernel: the sender's uid, pid, cgroup, executable); every
 * other field, MESSAGE, SYSLOG_IDENTIFIER and UNIT included, is whatever
 * the sending process wrote.  So "unit" is _SYSTEMD_UNIT, or UNIT only in
 * entries of the service manager (_PID=1), which writes UNIT about the
 * unit it acted on; and qn_rules_untrusted() names every rule that a
 * local user's own entries can satisfy.
 *
 * Bounds.  State exists only for rules with a threshold above 1 or a
 * cooldown; each such rule has a fixed table of `keys` slots (a hash table
 * with least-recently-used eviction: a new key when the table is full
 * replaces the key not matched for the longest time; see "Overflow" for
 * threshold rules), allocated once when the set is built, never grown: memory is the same after a
 * billion entries as after the first.  A rule's table (keys x (slot + N timestamps + samples x
 * QN_RULES_SAMPLE_MAX)) is at most QN_RULES_RULE_STATE_MAX bytes and a whole set
 * QN_RULES_SET_STATE_MAX; a rule above that is an error at parse time.  Every string is capped
 * (names, values, captures, samples, lines, files).
 *
 * Overflow.  A flood of distinct keys (sources) must not push a real
 * count out of a threshold rule's table: a key whose count inside the
 * window is at least half its threshold is never evicted, and a new key
 * replaces (looking at most QN_RULES_EVICT_SCAN keys from the least
 * recent end) a key with nothing in its window first, then the least
 * recent key below half its threshold; when every key looked at is at
 * least half way, the new match is not counted.  Losing a live count
 * either way is itself an alert (qn_rules_alert.overflow: "more than
 * `keys` sources in the window", a distributed brute force), at most
 * once per rule per max(cooldown, window); the matches that overflow
 * meanwhile are reported with it as suppressed.
 *
 * Persistence.  qn_rules_state_save() writes the live threshold state
 * (keys with matches inside their window, in cooldown, or with suppressed
 * matches) as text, most recently used first, within a byte budget;
 * qn_rules_state_load() reads it back into a set with the same rules.  A
 * rule whose name or state parameters (threshold, window, per, cooldown,
 * samples, keys) changed starts empty.  Saved with the journal cursor
 * after each alert, this makes a restart resume counting exactly where it
 * stopped.
 *
 * Errors.  Parsing reports every problem found (up to QN_RULES_ERRORS_MAX)
 * with file and line, a fixed English msgid (`what`, for gettext) and a
 * detail (the offending value, PCRE2's message) that is not translated.
 * Library code: nothing here logs or exits.
 *
 * Memory: a struct qn_rules owns everything it holds; alerts point into
 * it and are valid only during the callback.  Not thread-safe: one set is
 * used by one thread at a time.  No global state.
 *
 * Files.  The engine is built with qqnotify-journal, its one program (not
 * in libqqnotify.a); it needs PCRE2 (-lpcre2-8) and nothing of libsystemd.
 * Three parts share one private header, rules_internal.h (the compiled
 * set's layout):
 *   rules_parse.c  rules files -> compiled rules: qn_rules_new, _free,
 *                  _count, _name, _parse, _load_dir, _parse_duration
 *   rules_match.c  entries -> alerts: qn_rules_feed, qn_rules_entry_begin,
 *                  _offer, _end, qn_rules_reads_fields_always,
 *                  qn_rules_filter, qn_rules_stats; the screens, captures,
 *                  threshold keys and subjects
 *   rules_state.c  the threshold and cooldown tables: counting a match,
 *                  overflow, qn_rules_state_save, _load, _adopt
 *   rules_trust.c  qn_rules_untrusted: rules a local user's entries fire
 */
#ifndef QN_RULES_H
#define QN_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "status.h"

#define QN_RULES_MAX             256  /* rules in one set */
#define QN_RULES_NAME_MAX        64   /* a rule name with its NUL: [A-Za-z0-9_.-] */
#define QN_RULES_MATCHES_MAX     32   /* match lines of one rule */
#define QN_RULES_FIELD_MAX       64   /* a journal field name with its NUL */
#define QN_RULES_VALUE_MAX       512  /* a match value with its NUL */
#define QN_RULES_PATTERN_MAX     2048 /* a regex or exclude pattern, bytes */
#define QN_RULES_CAPTURES_MAX    8    /* named captures of one rule */
#define QN_RULES_CAPTURE_MAX     256  /* a capture value with its NUL (longer: cut) */
#define QN_RULES_PER_MAX         4    /* names after "per" */
#define QN_RULES_SAMPLES_MAX     5    /* sample lines of one alert */
#define QN_RULES_SAMPLES_DEFAULT 3
#define QN_RULES_SAMPLE_MAX      256  /* a sample line with its NUL (sanitised, cut) */
#define QN_RULES_THRESHOLD_MAX   1000 /* N of "N in D" */
#define QN_RULES_KEYS_DEFAULT    1024
#define QN_RULES_KEYS_MAX        65536
#define QN_RULES_KEY_MAX         128 /* bytes of a threshold key kept (longer: cut, hashed whole) */
#define QN_RULES_DURATION_MAX    (7LL * 24 * 3600) /* seconds, windows and cooldowns */
#define QN_RULES_SUBJECT_MAX     256               /* a template, and its expansion, with the NUL */
#define QN_RULES_MESSAGE_MAX     (64 * 1024)       /* bytes of MESSAGE the patterns see */
#define QN_RULES_FIELD_VALUE_MAX 1024              /* bytes of another field kept for comparison */
#define QN_RULES_FILE_MAX        (1024 * 1024)     /* one rules file */
#define QN_RULES_FILES_MAX       256               /* *.conf files in a rules directory */
#define QN_RULES_LINE_MAX        4096              /* one line, without its end */
#define QN_RULES_ERRORS_MAX      32                /* problems reported by one parse or load */
#define QN_RULES_RULE_STATE_MAX  (16 * 1024 * 1024) /* bytes of one rule's threshold table */
#define QN_RULES_SET_STATE_MAX   (64 * 1024 * 1024) /* bytes of all tables of a set */
#define QN_RULES_MATCH_LIMIT     200000             /* PCRE2 match limit per pattern and entry */
#define QN_RULES_DEPTH_LIMIT     10000              /* PCRE2 backtracking depth limit */
#define QN_RULES_UIDS_MAX        8                  /* uid lines of one rule */
#define QN_RULES_EVICT_SCAN      64 /* keys looked at from the least recent end for a new key */
/* Accounts a local user can have (login.defs' UID_MIN..UID_MAX, Debian's adduser range), and
 * every uid from 65536 on (subordinate ids of rootless containers): a _UID value in these
 * is not a sign that a system service wrote the entry.  Below: system accounts; 60000-65535:
 * Debian's reserved range, systemd's DynamicUser= range and nobody. */
#define QN_RULES_USER_UID_MIN 1000UL
#define QN_RULES_USER_UID_MAX 59999UL

/* One problem found while parsing. */
struct qn_rules_error {
    char file[256]; /* the file (or the name given to qn_rules_parse), cut to fit */
    unsigned line;  /* 1-based; 0 when not about one line (e.g. a file that cannot be read) */
    char rule[QN_RULES_NAME_MAX]; /* the rule concerned, or "" */
    const char *what;             /* English msgid, e.g. "unknown key"; never NULL */
    char detail[256]; /* untranslated specifics (the key, PCRE2's message); sanitised, or "" */
    int sys_errno;    /* for a file that cannot be read: its errno, else 0 */
    char fix[256];    /* qn_rules_untrusted: lines that would do (rules syntax), else "" */
};

/* Every problem of one parse or load. */
struct qn_rules_errors {
    size_t n;                                     /* problems stored */
    size_t dropped;                               /* problems beyond QN_RULES_ERRORS_MAX */
    struct qn_rules_error e[QN_RULES_ERRORS_MAX]; /* in the order found */
};

/* A rule set with its threshold state.  Opaque. */
struct qn_rules;

/* An empty set.  QN_ENOMEM.  Free with qn_rules_free(). */
enum qn_status qn_rules_new(struct qn_rules **ret_rules);

/* Free RS and everything it holds.  RS may be NULL.  Returns NULL. */
struct qn_rules *qn_rules_free(struct qn_rules *rs);

/*
 * Parse LEN bytes at TEXT (need not be NUL-terminated) as one rules file
 * named NAME (for errors; may be NULL) and add its rules to RS.  A rule
 * with any problem is left out and every problem is appended to *ERRS
 * (which the caller zeroes once before a series of parses); the rest of
 * the file is still read, so one run shows every mistake.  A rule whose
 * name is already in RS is an error.  Returns QN_OK when this text had no
 * problem, QN_ECONFIG when it had any, QN_ENOMEM (RS keeps what was added
 * before).
 */
enum qn_status qn_rules_parse(struct qn_rules *rs, const char *text, size_t len, const char *name,
                              struct qn_rules_errors *errs);

/*
 * Parse every regular file named *.conf in DIR (not starting with '.'), in
 * byte order of their names, into RS.  QN_ENOTFOUND: DIR does not exist;
 * QN_EIO: it or a file cannot be read (recorded in *ERRS with errno);
 * QN_ETOOBIG: more than QN_RULES_FILES_MAX files, or a file larger than
 * QN_RULES_FILE_MAX (recorded); QN_ECONFIG: problems in the rules; QN_OK.
 * Files with problems still contribute their good rules.
 */
enum qn_status qn_rules_load_dir(struct qn_rules *rs, const char *dir,
                                 struct qn_rules_errors *errs);

/* Rules in RS. */
size_t qn_rules_count(const struct qn_rules *rs);

/* Name of rule I (< qn_rules_count), or NULL. */
const char *qn_rules_name(const struct qn_rules *rs, size_t i);

/*
 * The journal entry being matched, seen through the caller's getter.
 * get(ctx, FIELD, &value, &len) stores a pointer to the value of FIELD
 * (the bytes after "FIELD=") and returns 1, or returns 0 when the entry
 * has no such field, or a negative errno (treated as absent).  The value
 * needs to stay valid only until the next call of get: the matcher copies
 * what it keeps.  time_usec is the entry's realtime timestamp in
 * microseconds (thresholds and cooldowns use it, not the clock), or
 * QN_RULES_TIME_ASK: then the matcher asks get() for the pseudo field
 * "__REALTIME_TIMESTAMP" (decimal microseconds, as in the journal's
 * export format) once, and only for an entry that a rule matched: most
 * entries never need their time.
 */
#define QN_RULES_TIME_ASK (-1LL)
typedef int qn_rules_get_fn(void *ctx, const char *field, const void **ret_value, size_t *ret_len);
struct qn_rules_entry {
    qn_rules_get_fn *get;
    void *ctx;
    long long time_usec;
};

/*
 * The other way to give an entry, when reading all of its fields in one
 * pass is cheaper than looking them up one by one (sd-journal walks the
 * entry's items for each lookup, and SD_JOURNAL_FOREACH_DATA walks them
 * once): qn_rules_entry_begin(), qn_rules_entry_offer() for each
 * "FIELD=value" of the entry (DATA, LEN bytes; the matcher copies the ones
 * it needs, the first of a repeated field counts), qn_rules_entry_end(),
 * then qn_rules_feed() with entry->get == NULL (time_usec must then be
 * given: there is no getter to ask).
 */
void qn_rules_entry_begin(struct qn_rules *rs);
void qn_rules_entry_offer(struct qn_rules *rs, const void *data, size_t len);
void qn_rules_entry_end(struct qn_rules *rs);

/*
 * Which way is cheaper for RS.  False when every rule has a pattern: the
 * patterns run on MESSAGE first and other fields are needed only for the
 * few entries a pattern accepts, so lookups through a getter win.  True
 * when some rule has field conditions but no pattern, so fields besides
 * MESSAGE are needed for every entry: offer them all in one pass.
 */
bool qn_rules_reads_fields_always(const struct qn_rules *rs);

/* One fired rule, valid during the callback only.  Strings are
 * NUL-terminated; those from the journal are as found (the event module
 * sanitises what it stores) except that a NUL byte in a value is written
 * as the two characters "\0" (it would end the string and hide what
 * follows); samples are also sanitised. */
struct qn_rules_alert {
    const char *rule;         /* the rule's name */
    unsigned long count;      /* matching entries in the window when it fired (1 without one) */
    unsigned long suppressed; /* matches held back by the cooldown since the previous alert */
    size_t n_captures;
    const char *capture_names[QN_RULES_CAPTURES_MAX];  /* in pattern order */
    const char *capture_values[QN_RULES_CAPTURES_MAX]; /* "" when the group did not match */
    size_t n_samples;
    const char *samples[QN_RULES_SAMPLES_MAX]; /* threshold rules: last matches, oldest first */
    const char *message;    /* MESSAGE of the entry that fired (cut at QN_RULES_MESSAGE_MAX) */
    const char *subject;    /* the rule's subject template expanded, or "" when none */
    const char *host;       /* _HOSTNAME, or "" */
    const char *unit;       /* _SYSTEMD_UNIT, or UNIT when _PID is 1 (see "Trust"), or "" */
    const char *identifier; /* SYSLOG_IDENTIFIER, or "" */
    int priority;           /* PRIORITY 0-7, or -1 when absent or malformed */
    long long time_usec;    /* the entry's timestamp */
    bool overflow;          /* the key table overflowed (see "Overflow"): no subject, count =
                             * keys; the captures and message are the entry that overflowed */
    size_t keys;            /* the rule's table size */
    long long window_usec;  /* the rule's threshold window */
    const char *severity;   /* the rule's severity ("critical", "warning", "info"), or "" */
};

/* Called for each alert.  A failure stops the feed and is returned by it. */
typedef enum qn_status (*qn_rules_alert_fn)(void *ctx, const struct qn_rules_alert *alert);

/*
 * Match one entry (fetched through entry->get, or offered before when it
 * is NULL) against every rule, in order, calling ON_ALERT for each
 * rule that fires.  *RET_FIRED (when non-NULL) gets the number of alerts
 * delivered.  Returns QN_OK, or the first failure of ON_ALERT: the rule
 * that fired has then already counted the entry as alerted (its key is
 * reset and in cooldown) and later rules were not evaluated, so after a
 * failure the caller must not save the state, and must re-feed the entry
 * only to a state loaded from before it.
 */
enum qn_status qn_rules_feed(struct qn_rules *rs, const struct qn_rules_entry *entry,
                             qn_rules_alert_fn on_alert, void *ctx, size_t *ret_fired);

/*
 * The journal-level filter equivalent to RS (a superset of what the rules
 * can match), for sd_journal_add_match(): when every rule has at least one
 * field condition (a match line or a priority bound), calls
 * add_match(ctx, "FIELD=VALUE", len) for each of a rule's conditions and
 * add_disjunction(ctx) between rules, and stores true in *RET_POSSIBLE.
 * When some rule can match any entry, calls nothing and stores false: the
 * whole journal must be read.  A callback's negative return stops the
 * walk and is returned (0 otherwise).
 */
struct qn_rules_filter_ops {
    int (*add_match)(void *ctx, const char *data, size_t len);
    int (*add_disjunction)(void *ctx);
};
int qn_rules_filter(const struct qn_rules *rs, const struct qn_rules_filter_ops *ops, void *ctx,
                    bool *ret_possible);

/*
 * Append the live threshold state of RS to OUT as text (version 1, one
 * "rule"/"overflow"/"key"/"sample" line each, values %XX-escaped), keys most recently
 * matched first, stopping before BUDGET bytes would be exceeded (the keys
 * left out start from zero after a load).  NOW_USEC: the timestamp of the
 * last entry fed; keys with nothing in their window, no cooldown left and
 * nothing suppressed at that time are not written.  QN_ENOMEM, QN_ETOOBIG
 * (OUT's own cap).
 */
enum qn_status qn_rules_state_save(const struct qn_rules *rs, long long now_usec, size_t budget,
                                   struct qn_buf *out);

/*
 * Replace the threshold state of RS with the one in TEXT (LEN bytes, as
 * written by qn_rules_state_save).  State of rules that no longer exist or
 * whose state parameters changed is skipped.  QN_EINVAL: malformed text
 * (RS then starts empty: wrong counts are worse than none).
 */
enum qn_status qn_rules_state_load(struct qn_rules *rs, const char *text, size_t len);

/*
 * Move the threshold state of every rule of FROM into the rule of TO with
 * the same name and the same state parameters (on reload: counts survive
 * an unrelated edit).  FROM's tables are left empty.
 */
void qn_rules_state_adopt(struct qn_rules *to, struct qn_rules *from);

/* Counters for status lines and tests. */
struct qn_rules_stats {
    unsigned long long entries;      /* entries fed */
    unsigned long long matches;      /* rule matches (before thresholds) */
    unsigned long long alerts;       /* alerts delivered */
    unsigned long long suppressed;   /* matches held back by cooldowns */
    unsigned long long evicted;      /* keys evicted from full tables */
    unsigned long long overflows;    /* matches that lost a live count or were not counted */
    unsigned long long match_errors; /* pattern runs that hit a limit or failed */
    unsigned long long prefiltered;  /* rule tests ended by the literal or first-byte screen */
    size_t state_bytes;              /* bytes allocated for threshold tables */
    bool jit;                        /* every pattern is JIT-compiled */
};
void qn_rules_stats(const struct qn_rules *rs, struct qn_rules_stats *ret);

/*
 * Append to *WARNINGS (same shape as parse errors: file, line of the rule's
 * header, rule, msgid, detail) one entry per rule of RS that entries any
 * local user can write satisfy: a rule none of whose conditions is on a
 * field journald sets with a value a user's process cannot have (_UID or
 * uid of a system account, _PID=1, _TRANSPORT=kernel/audit/driver, a
 * system unit or slice that runs no user's commands, a kernel device).
 * DETAIL names the conditions a user meets and how (e.g. "logger -t
 * sshd"); FIX lines of which any one would keep users out ("match =
 * _UID=0 (the sender is root); ...").  Returns the number found (WARNINGS
 * may be NULL).
 */
size_t qn_rules_untrusted(const struct qn_rules *rs, struct qn_rules_errors *warnings);

/* Parse a duration: digits with an optional unit s, m, h or d ("90", "30s",
 * "10m", "1h", "7d"); 0..QN_RULES_DURATION_MAX seconds.  QN_EINVAL. */
enum qn_status qn_rules_parse_duration(const char *s, long long *ret_seconds);

#endif
