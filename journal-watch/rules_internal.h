/*
 * rules_internal — the compiled rule set as the three parts of the rules
 * engine see it.  Private to journal-watch/rules_*.c: the contract is
 * rules.h, and nothing else includes this file.
 *
 *   rules_parse.c  rules files -> compiled rules: the set's lifetime, the
 *                  value syntaxes, the parser, a directory of files
 *   rules_match.c  one entry against every rule: the field cache, the
 *                  screens (a required literal, the possible first bytes:
 *                  found at parse time, tested before PCRE2 runs), the
 *                  patterns, captures, threshold keys, subjects, alerts,
 *                  and the journal-level filter
 *   rules_state.c  the threshold and cooldown tables (fixed hash tables
 *                  with LRU eviction and rings of hits and samples) and
 *                  their text form (save, load, adopt)
 *   rules_trust.c  which rules entries any local user can write satisfy
 *
 * Layout.  A set holds its rules (heap, one struct each), a table of the
 * journal fields any rule refers to (each with a per-entry cache, so a
 * field is fetched at most once per entry whatever the number of rules),
 * one PCRE2 match context (limits, JIT stack) and two match data blocks
 * (the rule's pattern and its exclude pattern, so captures survive the
 * exclude run).
 *
 * Threshold tables.  Fixed arrays allocated when the rule is built: slots
 * (key, hash, LRU links, ring indices), a ring of N timestamps per slot
 * and a ring of sample lines per slot; a bucket array of int32 slot
 * indices with chaining through the slots.  Nothing is allocated while
 * matching.  A key longer than QN_RULES_KEY_MAX keeps its first bytes and
 * is told apart by an unseeded 64-bit hash of all of it (also written to
 * the state file, so it must not depend on a per-process seed); buckets
 * use a seeded hash so that chosen keys cannot all land in one chain.
 *
 * Functions one part offers the others are named rules_* and declared
 * here; everything else is static in its part.  The small helpers more
 * than one part needs are static inline here: without LTO a call into
 * another file is never inlined, and some of them run for every match.
 */
#ifndef QN_RULES_INTERNAL_H
#define QN_RULES_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "rules.h"

#define FIELDS_MAX           128 /* distinct journal fields referenced by one set */
#define GROUPS_PER_NAME_MAX  8
#define CAPTURE_NAME_MAX     32   /* with the NUL: an event field name */
#define PER_HOST             (-2) /* "per host": _HOSTNAME */
#define PER_UNIT             (-3) /* "per unit": _SYSTEMD_UNIT, or UNIT when _PID is 1 */
#define USEC_PER_SEC         1000000LL
#define QN_RULES_LITERAL_MAX 64 /* bytes of a required literal kept for the prefilter */

/* Fields with a fixed index in every set. */
enum {
    F_MESSAGE = 0,
    F_PRIORITY,
    F_HOSTNAME,
    F_UNIT,
    F_PID,
    F_SYSTEMD_UNIT,
    F_IDENTIFIER,
    F_UID,
    F_FIXED_COUNT,
};

struct field {
    char name[QN_RULES_FIELD_MAX];
    size_t name_len;
    unsigned gen; /* the entry generation the cache below belongs to */
    bool present;
    size_t full_len; /* the value's length in the journal */
    size_t len;      /* bytes kept in value (cut at cap) */
    size_t cap;
    char *value; /* cap + 1 bytes, NUL-terminated copy */
};

struct rule_match {
    int field; /* index into the set's fields */
    size_t len;
    char *value; /* heap, NUL-terminated */
};

struct capture {
    char name[CAPTURE_NAME_MAX];
    size_t n_groups;
    int groups[GROUPS_PER_NAME_MAX]; /* group numbers with this name, in order */
};

struct slot {
    uint64_t ident;           /* unseeded hash of the whole key */
    long long cooldown_until; /* usec; no alert before this */
    int32_t hnext;            /* next slot in the bucket chain, or -1 */
    int32_t prev, next;       /* LRU list (prev = more recent), or -1 */
    uint32_t full_len;        /* the whole key's length */
    uint32_t key_len;         /* bytes kept in key */
    uint32_t nhits, head;     /* timestamp ring: count and index of the oldest */
    uint32_t nsamples, shead;
    uint32_t suppressed;
    bool used;
    char key[QN_RULES_KEY_MAX];
};

struct table {
    size_t cap; /* slots */
    size_t used;
    size_t nbuckets; /* a power of two */
    int32_t *buckets;
    struct slot *slots;
    long long *ring;            /* cap x threshold timestamps */
    char *samples;              /* cap x samples x QN_RULES_SAMPLE_MAX */
    int32_t lru_head, lru_tail; /* most and least recently matched */
    size_t bytes;
    long long overflow_until;     /* usec; no overflow alert before this */
    uint32_t overflow_suppressed; /* overflows held back since the last overflow alert */
};

struct rule {
    char name[QN_RULES_NAME_MAX];
    char file[256];
    unsigned line;

    size_t n_matches;
    struct rule_match matches[QN_RULES_MATCHES_MAX]; /* grouped by field */
    size_t n_unless;
    struct rule_match unless[QN_RULES_MATCHES_MAX]; /* any of them present: no match */

    pcre2_code *re, *ex;
    bool re_jit, ex_jit;
    char literal[QN_RULES_LITERAL_MAX]; /* every match of re contains it (see prefilter) */
    size_t literal_len;                 /* 0: none known */
    bool literal_anchored;              /* ... at the start of MESSAGE */
    size_t rare_at;                     /* the literal's least common byte, searched first */
    bool has_first;                     /* first: the bytes a match can start with */
    uint8_t first[32];                  /* (see find_first_bytes), bit c of byte c / 8 */
    size_t n_captures;
    struct capture captures[QN_RULES_CAPTURES_MAX];

    const char *severity; /* "critical", "warning", "info" (static), or NULL when unset */
    bool has_priority;
    int prio_min, prio_max;
    size_t n_uids; /* uid lines: the entry's _UID within any of the ranges */
    struct {
        unsigned long lo, hi;
    } uids[QN_RULES_UIDS_MAX];

    unsigned threshold;    /* N; 1 without a threshold line */
    long long window_usec; /* D; 0 without a threshold line */
    size_t n_per;
    int per[QN_RULES_PER_MAX]; /* capture index, PER_HOST or PER_UNIT */
    long long cooldown_usec;
    unsigned samples;
    unsigned keys;
    char *subject;        /* template, or NULL */
    uint64_t fingerprint; /* of the state parameters */
    struct table *table;  /* NULL when the rule keeps no state */
};

struct qn_rules {
    size_t n_rules;
    struct rule *rules[QN_RULES_MAX];
    size_t n_fields;
    struct field fields[FIELDS_MAX];
    int16_t by_len[QN_RULES_FIELD_MAX]; /* first field of each name length, or -1 */
    int16_t next_same_len[FIELDS_MAX];  /* next field of the same name length, or -1 */
    unsigned gen;
    unsigned other_gen;   /* the last generation a field besides MESSAGE was fetched in */
    unsigned time_gen;    /* the generation time_cache belongs to */
    long long time_cache; /* entry_time() of that entry */
    uint64_t seed;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit_stack;
    pcre2_match_data *md, *md_ex;
    uint32_t md_pairs;
    size_t state_bytes;
    struct qn_rules_stats stats;

    /* alert scratch, valid during one callback */
    char cap_values[QN_RULES_CAPTURES_MAX][QN_RULES_CAPTURE_MAX];
    char subject[QN_RULES_SUBJECT_MAX];
    char keybuf[QN_RULES_PER_MAX * (QN_RULES_FIELD_VALUE_MAX + 1)];
    /* the alert's journal values with each NUL written as "\0" (only when they hold one) */
    char message[QN_RULES_MESSAGE_MAX + 1];
    char host[QN_RULES_FIELD_VALUE_MAX + 1];
    char unit[QN_RULES_FIELD_VALUE_MAX + 1];
    char identifier[QN_RULES_FIELD_VALUE_MAX + 1];
};

/* ---- small helpers of more than one part ---- */

#define FNV_BASIS 0xcbf29ce484222325ULL

/* FNV-1a over N bytes at P, continuing from H (FNV_BASIS to start): unseeded, so the same
 * in every process (threshold keys in the state file, rule fingerprints). */
static inline uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* A 64-bit finaliser: spreads the bits of X (bucket indices, the fallback seed). */
static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* The user id written in the N bytes at S (decimal, as journald writes _UID: 0..4294967295)
 * into *RET.  False when it is not one. */
static inline bool uid_parse(const char *s, size_t n, unsigned long *ret)
{
    unsigned long long v = 0;
    size_t i;

    if (n == 0 || n > 10)
        return false;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned long long)(s[i] - '0');
    }
    if (v > 4294967295ULL)
        return false;
    *ret = (unsigned long)v;
    return true;
}

/* Index of R's capture called NAME (N bytes), or -1. */
static inline int capture_index(const struct rule *r, const char *name, size_t n)
{
    size_t i;

    for (i = 0; i < r->n_captures; i++) {
        if (strlen(r->captures[i].name) == n && strncmp(r->captures[i].name, name, n) == 0)
            return (int)i;
    }
    return -1;
}

/* The timestamp ring of slot I of R's table T. */
static inline long long *ring_of(const struct table *t, const struct rule *r, int32_t i)
{
    return &t->ring[(size_t)i * r->threshold];
}

/* Sample K of slot I of R's table T (QN_RULES_SAMPLE_MAX bytes). */
static inline char *sample_at(const struct table *t, const struct rule *r, int32_t i, uint32_t k)
{
    return &t->samples[((size_t)i * r->samples + k) * QN_RULES_SAMPLE_MAX];
}

/* ---- rules_match.c ---- */

/* Index of field NAME (LEN bytes) in RS, added when missing (its cache allocated): -1 when
 * the table is full or the name too long, -2 out of memory. */
int rules_field_index(struct qn_rules *rs, const char *name, size_t len);

/*
 * Copy N bytes at S into OUT (CAP bytes with the NUL) with every NUL byte written as the two
 * characters "\0", so that what follows a NUL is not lost to the C strings of an alert;
 * cut (between characters) when it does not fit.  Returns the length written.
 */
size_t rules_nul_escape(const char *s, size_t n, char *out, size_t cap);

/* Find the screens of R (compiled from PATTERN): the literal every match contains, and
 * for an anchored pattern the bytes a match can start with.  None found costs speed only. */
void rules_screen_prepare(struct rule *r, const char *pattern);

/* ---- rules_state.c ---- */

/* Bytes of a table of CAP keys with THRESHOLD timestamps and SAMPLES samples per key;
 * *RET_BUCKETS (when non-NULL) gets its bucket count. */
size_t rules_table_bytes(size_t cap, unsigned threshold, unsigned samples, size_t *ret_buckets);

/* An empty table as above, or NULL (out of memory).  Free with rules_table_free(). */
struct table *rules_table_new(size_t cap, unsigned threshold, unsigned samples);

/* Free T (may be NULL).  Returns NULL. */
struct table *rules_table_free(struct table *t);

/*
 * Count a match of R (which has a table) with threshold key KEY (LEN bytes) at NOW
 * (usec), MSG (MSG_LEN bytes) as its sample line: find or make the key's slot (in a full
 * table replacing a key as rules.h "Overflow" says), forget hits older than the window,
 * record this one.  Returns the slot's index, or -1 when the match could not be counted;
 * *RET_FIRES is true when the rule must fire now (the threshold reached outside a
 * cooldown; a match inside one is counted as suppressed): then the caller delivers the
 * alert and calls rules_table_fired().  *RET_OVERFLOW is true when a live count was lost
 * or the match not counted and no overflow alert was given for R in the last
 * max(cooldown, window): then the caller delivers the overflow alert (its suppressed
 * count is in the table, reset by rules_table_overflowed()).
 */
int32_t rules_table_hit(struct qn_rules *rs, const struct rule *r, const char *key, size_t len,
                        long long now, const char *msg, size_t msg_len, bool *ret_fires,
                        bool *ret_overflow);

/* The overflow alert of R was given at NOW: the next one waits max(cooldown, window). */
void rules_table_overflowed(const struct rule *r, long long now);

/* The key of slot SI fired at NOW: its count starts again, its cooldown begins. */
void rules_table_fired(const struct rule *r, int32_t si, long long now);

#endif
