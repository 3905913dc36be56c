/*
 * rules — see rules.h for the contract and the rule language.
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
 * Why PCRE2 in byte mode: see rules.h.  Why hand-written parsing: the
 * rules language is a few lines of INI with its own value syntaxes
 * (threshold, priority ranges, templates); no library in the dependency
 * set parses it, and the parser must be a pure function for fuzzing.
 */
#include "rules.h"

#define PCRE2_CODE_UNIT_WIDTH 8

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "text.h"

#define N_(s) s

#define FIELDS_MAX           128 /* distinct journal fields referenced by one set */
#define GROUPS_PER_NAME_MAX  8
#define CAPTURE_NAME_MAX     32   /* with the NUL: an event field name */
#define PER_HOST             (-2) /* "per host": _HOSTNAME */
#define PER_UNIT             (-3) /* "per unit": UNIT, USER_UNIT or _SYSTEMD_UNIT */
#define STATE_VERSION_LINE   "rules-state 1"
#define USEC_PER_SEC         1000000LL
#define QN_RULES_LITERAL_MAX 64 /* bytes of a required literal kept for the prefilter */

/* Fields with a fixed index in every set. */
enum {
    F_MESSAGE = 0,
    F_PRIORITY,
    F_HOSTNAME,
    F_UNIT,
    F_USER_UNIT,
    F_SYSTEMD_UNIT,
    F_IDENTIFIER,
    F_FIXED_COUNT,
};

static const char *const fixed_fields[F_FIXED_COUNT] = {
    "MESSAGE", "PRIORITY", "_HOSTNAME", "UNIT", "USER_UNIT", "_SYSTEMD_UNIT", "SYSLOG_IDENTIFIER",
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
};

struct rule {
    char name[QN_RULES_NAME_MAX];
    char file[256];
    unsigned line;

    size_t n_matches;
    struct rule_match matches[QN_RULES_MATCHES_MAX]; /* grouped by field */

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

    bool has_priority;
    int prio_min, prio_max;

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
};

/* ------------------------------------------------------------------------------------ */
/* small helpers                                                                        */

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#define FNV_BASIS 0xcbf29ce484222325ULL

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static void trim(const char **s, size_t *n)
{
    while (*n > 0 && is_blank(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_blank((*s)[*n - 1]))
        (*n)--;
}

/* Cut N bytes at S to at most MAX without splitting a UTF-8 sequence (when S is UTF-8). */
static size_t cut_utf8(const char *s, size_t n, size_t max)
{
    size_t k;

    if (n <= max)
        return n;
    k = max;
    while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80 && max - k < 4)
        k--;
    return k; /* 0 when even the first character does not fit */
}

/* ------------------------------------------------------------------------------------ */
/* errors                                                                               */

static void add_error(struct qn_rules_errors *errs, const char *file, unsigned line,
                      const char *rule, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void add_error(struct qn_rules_errors *errs, const char *file, unsigned line,
                      const char *rule, const char *what, const char *fmt, ...)
{
    struct qn_rules_error *e;
    char detail[1024];
    va_list ap;

    if (errs == NULL)
        return;
    if (errs->n >= QN_RULES_ERRORS_MAX) {
        errs->dropped++;
        return;
    }
    e = &errs->e[errs->n++];
    memset(e, 0, sizeof(*e));
    /* A bad rule name, or a file name, may hold anything: the program prints them. */
    if (file != NULL)
        qn_text_sanitize_line(file, strlen(file), e->file, sizeof(e->file));
    e->line = line;
    if (rule != NULL)
        qn_text_sanitize_line(rule, strlen(rule), e->rule, sizeof(e->rule));
    e->what = what;
    detail[0] = '\0';
    if (fmt != NULL) {
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
    }
    qn_text_sanitize_line(detail, strlen(detail), e->detail, sizeof(e->detail));
}

/* ------------------------------------------------------------------------------------ */
/* fields                                                                               */

/* Index of field NAME (LEN bytes), added when missing; -1 when the table is full. */
static int field_index(struct qn_rules *rs, const char *name, size_t len)
{
    struct field *f;
    size_t i;

    for (i = 0; i < rs->n_fields; i++) {
        if (rs->fields[i].name_len == len && memcmp(rs->fields[i].name, name, len) == 0)
            return (int)i;
    }
    if (rs->n_fields >= FIELDS_MAX || len >= QN_RULES_FIELD_MAX)
        return -1;
    f = &rs->fields[rs->n_fields];
    memset(f, 0, sizeof(*f));
    memcpy(f->name, name, len);
    f->name[len] = '\0';
    f->name_len = len;
    f->cap = rs->n_fields == F_MESSAGE ? QN_RULES_MESSAGE_MAX : QN_RULES_FIELD_VALUE_MAX;
    /* zeroed: PCRE2 JIT may read (and ignore) bytes past the subject within the buffer */
    f->value = calloc(1, f->cap + 1);
    if (f->value == NULL)
        return -2;
    f->value[0] = '\0';
    rs->next_same_len[rs->n_fields] = rs->by_len[len];
    rs->by_len[len] = (int16_t)rs->n_fields;
    return (int)rs->n_fields++;
}

static const struct field *fetch_new(struct qn_rules *rs, const struct qn_rules_entry *entry,
                                     struct field *f);

/* The cached value of field I for the current entry, fetched on first use.  NULL: absent.
 * Inline: every rule asks for MESSAGE on every entry, and it is cached after the first. */
static inline const struct field *fetch(struct qn_rules *rs, const struct qn_rules_entry *entry,
                                        int i)
{
    struct field *f = &rs->fields[i];

    if (f->gen == rs->gen)
        return f->present ? f : NULL;
    return fetch_new(rs, entry, f);
}

static const struct field *fetch_new(struct qn_rules *rs, const struct qn_rules_entry *entry,
                                     struct field *f)
{
    const void *v = NULL;
    size_t n = 0;

    f->gen = rs->gen;
    f->present = false;
    if (entry->get(entry->ctx, f->name, &v, &n) <= 0 || v == NULL)
        return NULL;
    f->full_len = n;
    f->len = n < f->cap ? n : f->cap;
    memcpy(f->value, v, f->len);
    f->value[f->len] = '\0';
    f->present = true;
    return f;
}

static const char *fetch_text(struct qn_rules *rs, const struct qn_rules_entry *entry, int i)
{
    const struct field *f = fetch(rs, entry, i);

    return f != NULL ? f->value : "";
}

static const char *fetch_unit(struct qn_rules *rs, const struct qn_rules_entry *entry)
{
    static const int order[] = {F_UNIT, F_USER_UNIT, F_SYSTEMD_UNIT};
    size_t k;

    for (k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
        const struct field *f = fetch(rs, entry, order[k]);
        if (f != NULL && f->len > 0)
            return f->value;
    }
    return "";
}

/* ------------------------------------------------------------------------------------ */
/* threshold tables                                                                     */

static size_t table_bytes(size_t cap, unsigned threshold, unsigned samples, size_t *ret_buckets)
{
    size_t nb = 2;

    while (nb < 2 * cap)
        nb *= 2;
    if (ret_buckets != NULL)
        *ret_buckets = nb;
    return sizeof(struct table) + nb * sizeof(int32_t) + cap * sizeof(struct slot) +
           cap * (size_t)threshold * sizeof(long long) +
           cap * (size_t)samples * QN_RULES_SAMPLE_MAX;
}

static void table_clear(struct table *t)
{
    size_t i;

    for (i = 0; i < t->nbuckets; i++)
        t->buckets[i] = -1;
    /* Slots are reset lazily: only "used" and the lists matter. */
    for (i = 0; i < t->cap; i++)
        t->slots[i].used = false;
    t->used = 0;
    t->lru_head = t->lru_tail = -1;
}

static struct table *table_free(struct table *t)
{
    if (t == NULL)
        return NULL;
    free(t->buckets);
    free(t->slots);
    free(t->ring);
    free(t->samples);
    free(t);
    return NULL;
}

static struct table *table_new(size_t cap, unsigned threshold, unsigned samples)
{
    struct table *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return NULL;
    t->cap = cap;
    t->bytes = table_bytes(cap, threshold, samples, &t->nbuckets);
    /* calloc: pages are touched only as keys arrive, so a big table costs
     * address space, not memory, until it fills. */
    t->buckets = calloc(t->nbuckets, sizeof(int32_t));
    t->slots = calloc(cap, sizeof(struct slot));
    t->ring = calloc(cap * (size_t)threshold, sizeof(long long));
    t->samples = samples > 0 ? calloc(cap * (size_t)samples, QN_RULES_SAMPLE_MAX) : NULL;
    if (t->buckets == NULL || t->slots == NULL || t->ring == NULL ||
        (samples > 0 && t->samples == NULL))
        return table_free(t);
    table_clear(t);
    return t;
}

static void lru_unlink(struct table *t, int32_t i)
{
    struct slot *s = &t->slots[i];

    if (s->prev >= 0)
        t->slots[s->prev].next = s->next;
    else
        t->lru_head = s->next;
    if (s->next >= 0)
        t->slots[s->next].prev = s->prev;
    else
        t->lru_tail = s->prev;
    s->prev = s->next = -1;
}

static void lru_push_head(struct table *t, int32_t i)
{
    struct slot *s = &t->slots[i];

    s->prev = -1;
    s->next = t->lru_head;
    if (t->lru_head >= 0)
        t->slots[t->lru_head].prev = i;
    t->lru_head = i;
    if (t->lru_tail < 0)
        t->lru_tail = i;
}

static void lru_push_tail(struct table *t, int32_t i)
{
    struct slot *s = &t->slots[i];

    s->next = -1;
    s->prev = t->lru_tail;
    if (t->lru_tail >= 0)
        t->slots[t->lru_tail].next = i;
    t->lru_tail = i;
    if (t->lru_head < 0)
        t->lru_head = i;
}

static size_t bucket_of(const struct table *t, uint64_t seed, uint64_t ident)
{
    return (size_t)(mix64(ident ^ seed) & (t->nbuckets - 1));
}

static void bucket_remove(struct table *t, size_t b, int32_t i)
{
    int32_t *p = &t->buckets[b];

    while (*p >= 0) {
        if (*p == i) {
            *p = t->slots[i].hnext;
            return;
        }
        p = &t->slots[*p].hnext;
    }
}

static int32_t table_find(const struct table *t, uint64_t seed, uint64_t ident, const char *key,
                          size_t full_len)
{
    size_t keep = full_len < QN_RULES_KEY_MAX ? full_len : QN_RULES_KEY_MAX;
    int32_t i = t->buckets[bucket_of(t, seed, ident)];

    while (i >= 0) {
        const struct slot *s = &t->slots[i];
        if (s->ident == ident && s->full_len == full_len && memcmp(s->key, key, keep) == 0)
            return i;
        i = s->hnext;
    }
    return -1;
}

/*
 * The slot of KEY, created when missing; with the table full the least
 * recently matched key is evicted.  AT_TAIL: a new key goes to the LRU
 * tail (state loading, which sees keys most recent first) instead of the
 * head.  *RET_EVICTED is set when a key was evicted.
 */
static int32_t table_get(struct table *t, uint64_t seed, uint64_t ident, const char *key,
                         size_t full_len, bool at_tail, bool *ret_evicted)
{
    size_t keep = full_len < QN_RULES_KEY_MAX ? full_len : QN_RULES_KEY_MAX;
    int32_t i = table_find(t, seed, ident, key, full_len);
    struct slot *s;
    size_t b;

    *ret_evicted = false;
    if (i >= 0)
        return i;
    if (t->used < t->cap) {
        /* Slots fill in index order and are only freed all at once (table_clear), so the
         * first unused one is always at index t->used. */
        i = (int32_t)t->used++;
    } else {
        i = t->lru_tail;
        s = &t->slots[i];
        bucket_remove(t, bucket_of(t, seed, s->ident), i);
        lru_unlink(t, i);
        *ret_evicted = true;
    }
    s = &t->slots[i];
    memset(s, 0, offsetof(struct slot, key));
    s->ident = ident;
    s->full_len = (uint32_t)full_len;
    s->key_len = (uint32_t)keep;
    memcpy(s->key, key, keep);
    s->used = true;
    b = bucket_of(t, seed, ident);
    s->hnext = t->buckets[b];
    t->buckets[b] = i;
    s->prev = s->next = -1;
    if (at_tail)
        lru_push_tail(t, i);
    else
        lru_push_head(t, i);
    return i;
}

static long long *ring_of(const struct table *t, const struct rule *r, int32_t i)
{
    return &t->ring[(size_t)i * r->threshold];
}

static char *sample_at(const struct table *t, const struct rule *r, int32_t i, uint32_t k)
{
    return &t->samples[((size_t)i * r->samples + k) * QN_RULES_SAMPLE_MAX];
}

static void ring_push(const struct table *t, const struct rule *r, struct slot *s, int32_t i,
                      long long ts)
{
    long long *ring = ring_of(t, r, i);

    if (s->nhits == r->threshold) { /* full: only in a cooldown; drop the oldest */
        s->head = (s->head + 1) % r->threshold;
        s->nhits--;
    }
    ring[(s->head + s->nhits) % r->threshold] = ts;
    s->nhits++;
}

static void sample_push(const struct table *t, const struct rule *r, struct slot *s, int32_t i,
                        const char *msg, size_t len)
{
    if (r->samples == 0)
        return;
    if (s->nsamples == r->samples) {
        s->shead = (s->shead + 1) % r->samples;
        s->nsamples--;
    }
    qn_text_sanitize_line(msg, len, sample_at(t, r, i, (s->shead + s->nsamples) % r->samples),
                          QN_RULES_SAMPLE_MAX);
    s->nsamples++;
}

/* Forget the hits (and their samples) that left the window ending at NOW. */
static void ring_prune(const struct table *t, const struct rule *r, struct slot *s, int32_t i,
                       long long now)
{
    const long long *ring = ring_of(t, r, i);

    while (s->nhits > 0 && ring[s->head] <= now - r->window_usec) {
        s->head = (s->head + 1) % r->threshold;
        s->nhits--;
    }
    while (s->nsamples > s->nhits) {
        s->shead = r->samples > 0 ? (s->shead + 1) % r->samples : 0;
        s->nsamples--;
    }
}

/* ------------------------------------------------------------------------------------ */
/* rule lifetime                                                                        */

static struct rule *rule_free(struct rule *r)
{
    size_t i;

    if (r == NULL)
        return NULL;
    for (i = 0; i < r->n_matches; i++)
        free(r->matches[i].value);
    pcre2_code_free(r->re);
    pcre2_code_free(r->ex);
    free(r->subject);
    table_free(r->table);
    free(r);
    return NULL;
}

enum qn_status qn_rules_new(struct qn_rules **ret_rules)
{
    struct qn_rules *rs;
    enum qn_status r = QN_ENOMEM;
    size_t i;

    rs = calloc(1, sizeof(*rs));
    if (rs == NULL)
        return QN_ENOMEM;
    for (i = 0; i < QN_RULES_FIELD_MAX; i++)
        rs->by_len[i] = -1;
    for (i = 0; i < F_FIXED_COUNT; i++) {
        if (field_index(rs, fixed_fields[i], strlen(fixed_fields[i])) < 0)
            goto out;
    }
    /* The seed only spreads keys over buckets; any value is correct. */
    if (getrandom(&rs->seed, sizeof(rs->seed), GRND_NONBLOCK) != (ssize_t)sizeof(rs->seed))
        rs->seed = mix64((uint64_t)(uintptr_t)rs ^ (uint64_t)getpid());
    rs->mctx = pcre2_match_context_create(NULL);
    if (rs->mctx == NULL)
        goto out;
    pcre2_set_match_limit(rs->mctx, QN_RULES_MATCH_LIMIT);
    pcre2_set_depth_limit(rs->mctx, QN_RULES_DEPTH_LIMIT);
    /* JIT code runs on its own stack: 32 KiB grows to 512 KiB for deep patterns. */
    rs->jit_stack = pcre2_jit_stack_create(32 * 1024, 512 * 1024, NULL);
    if (rs->jit_stack != NULL)
        pcre2_jit_stack_assign(rs->mctx, NULL, rs->jit_stack);
    rs->md_pairs = 1;
    rs->md = pcre2_match_data_create(rs->md_pairs, NULL);
    rs->md_ex = pcre2_match_data_create(1, NULL);
    if (rs->md == NULL || rs->md_ex == NULL)
        goto out;
    rs->gen = 1;
    rs->stats.jit = true;
    *ret_rules = rs;
    rs = NULL;
    r = QN_OK;
out:
    qn_rules_free(rs);
    return r;
}

struct qn_rules *qn_rules_free(struct qn_rules *rs)
{
    size_t i;

    if (rs == NULL)
        return NULL;
    for (i = 0; i < rs->n_rules; i++)
        rule_free(rs->rules[i]);
    for (i = 0; i < rs->n_fields; i++)
        free(rs->fields[i].value);
    pcre2_match_data_free(rs->md);
    pcre2_match_data_free(rs->md_ex);
    pcre2_match_context_free(rs->mctx);
    pcre2_jit_stack_free(rs->jit_stack);
    free(rs);
    return NULL;
}

size_t qn_rules_count(const struct qn_rules *rs)
{
    return rs != NULL ? rs->n_rules : 0;
}

const char *qn_rules_name(const struct qn_rules *rs, size_t i)
{
    return rs != NULL && i < rs->n_rules ? rs->rules[i]->name : NULL;
}

/* ------------------------------------------------------------------------------------ */
/* value syntaxes                                                                       */

enum qn_status qn_rules_parse_duration(const char *s, long long *ret_seconds)
{
    long long v = 0, mult = 1;
    size_t i = 0;

    if (s == NULL || s[0] < '0' || s[0] > '9')
        return QN_EINVAL;
    while (s[i] >= '0' && s[i] <= '9') {
        v = v * 10 + (s[i] - '0');
        if (v > QN_RULES_DURATION_MAX)
            return QN_EINVAL;
        i++;
    }
    switch (s[i]) {
    case '\0':
        break;
    case 's':
        i++;
        break;
    case 'm':
        mult = 60;
        i++;
        break;
    case 'h':
        mult = 3600;
        i++;
        break;
    case 'd':
        mult = 86400;
        i++;
        break;
    default:
        return QN_EINVAL;
    }
    if (s[i] != '\0' || v * mult > QN_RULES_DURATION_MAX)
        return QN_EINVAL;
    *ret_seconds = v * mult;
    return QN_OK;
}

static int priority_value(const char *s, size_t n)
{
    static const char *const names[] = {"emerg",   "alert",  "crit", "err",
                                        "warning", "notice", "info", "debug"};
    size_t i;

    if (n == 1 && s[0] >= '0' && s[0] <= '7')
        return s[0] - '0';
    for (i = 0; i < 8; i++) {
        if (strlen(names[i]) == n && strncasecmp(names[i], s, n) == 0)
            return (int)i;
    }
    /* the spellings journalctl and syslog also accept */
    if (n == 5 && strncasecmp(s, "error", 5) == 0)
        return 3;
    if (n == 4 && strncasecmp(s, "warn", 4) == 0)
        return 4;
    return -1;
}

/* "warning" (0..4), "A..B", "..B", "A..". */
static bool parse_priority(const char *s, int *ret_min, int *ret_max)
{
    const char *dots = strstr(s, "..");
    int lo = 0, hi;

    if (dots == NULL) {
        hi = priority_value(s, strlen(s));
        if (hi < 0)
            return false;
    } else {
        if (dots > s) {
            lo = priority_value(s, (size_t)(dots - s));
            if (lo < 0)
                return false;
        }
        if (dots[2] == '\0') {
            hi = 7;
        } else {
            hi = priority_value(dots + 2, strlen(dots + 2));
            if (hi < 0)
                return false;
        }
        if (dots == s && dots[2] == '\0')
            return false;
    }
    if (lo > hi)
        return false;
    *ret_min = lo;
    *ret_max = hi;
    return true;
}

static bool valid_rule_name(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n >= QN_RULES_NAME_MAX)
        return false;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* A journal field name as journald accepts it from clients: [A-Z0-9_], not starting with a
 * digit; "__" names are addresses (cursor, timestamps), not data. */
static bool valid_field_name(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n >= QN_RULES_FIELD_MAX || (s[0] >= '0' && s[0] <= '9'))
        return false;
    if (n >= 2 && s[0] == '_' && s[1] == '_')
        return false;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

/* Names a template or "per" may use besides captures; captures may not take them. */
static bool reserved_name(const char *s)
{
    static const char *const names[] = {"rule",     "count",      "unit", "message",
                                        "priority", "identifier", "host", "suppressed",
                                        "time",     "subject",    "kind"};
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i]) == 0)
            return true;
    }
    return strncmp(s, "sample", 6) == 0;
}

/* ------------------------------------------------------------------------------------ */
/* the parser                                                                           */

enum rule_key {
    K_MATCH = 0,
    K_REGEX,
    K_EXCLUDE,
    K_PRIORITY,
    K_THRESHOLD,
    K_COOLDOWN,
    K_SUBJECT,
    K_SAMPLES,
    K_KEYS,
    K_COUNT,
};

static const char *const key_names[K_COUNT] = {
    "match", "regex", "exclude", "priority", "threshold", "cooldown", "subject", "samples", "keys",
};

static const char keys_fix[] = "match regex exclude priority threshold cooldown subject samples "
                               "keys";

/* A rule being read: the raw values, checked together at the end of its section. */
struct draft {
    bool open;
    bool bad;
    unsigned line; /* of the section header */
    char name[QN_RULES_NAME_MAX];
    unsigned key_line[K_COUNT];
    struct rule *r;
    char *regex, *exclude, *threshold, *cooldown, *subject;
};

struct parser {
    struct qn_rules *rs;
    struct qn_rules_errors *errs;
    const char *file;
    unsigned line;
    bool failed;
    bool nomem;
    struct draft d;
};

static void perr(struct parser *p, unsigned line, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void perr(struct parser *p, unsigned line, const char *what, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;

    detail[0] = '\0';
    if (fmt != NULL) {
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
    }
    add_error(p->errs, p->file, line, p->d.open ? p->d.name : "", what, "%s", detail);
    p->failed = true;
    if (p->d.open)
        p->d.bad = true;
}

static void draft_reset(struct draft *d)
{
    rule_free(d->r);
    free(d->regex);
    free(d->exclude);
    free(d->threshold);
    free(d->cooldown);
    free(d->subject);
    memset(d, 0, sizeof(*d));
}

static char *dup_n(const char *s, size_t n)
{
    char *c = malloc(n + 1);

    if (c != NULL) {
        memcpy(c, s, n);
        c[n] = '\0';
    }
    return c;
}

/* Compile PATTERN; NULL with an error recorded on failure. */
static pcre2_code *compile(struct parser *p, unsigned line, const char *pattern, bool *ret_jit)
{
    PCRE2_UCHAR msg[256];
    PCRE2_SIZE off = 0;
    pcre2_code *re;
    int code = 0;

    if (strlen(pattern) > QN_RULES_PATTERN_MAX) {
        perr(p, line, N_("the pattern is too long"), "%zu bytes, at most %d", strlen(pattern),
             QN_RULES_PATTERN_MAX);
        return NULL;
    }
    re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                       PCRE2_DUPNAMES | PCRE2_NEVER_BACKSLASH_C, &code, &off, NULL);
    if (re == NULL && code == PCRE2_ERROR_HEAP_FAILED) {
        /* out of memory is not a mistake in the rule */
        p->nomem = true;
        if (p->d.open)
            p->d.bad = true;
        return NULL;
    }
    if (re == NULL) {
        if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
            snprintf((char *)msg, sizeof(msg), "error %d", code);
        perr(p, line, N_("the regular expression does not compile"), "%s at offset %zu",
             (const char *)msg, (size_t)off);
        return NULL;
    }
    /* Without JIT (e.g. W^X policies) the interpreter gives the same answers, slower. */
    *ret_jit = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;
    return re;
}

/* Record the named groups of the rule's pattern as captures. */
static bool collect_captures(struct parser *p, struct rule *r)
{
    PCRE2_SPTR table;
    uint32_t count = 0, size = 0, i;

    if (pcre2_pattern_info(r->re, PCRE2_INFO_NAMECOUNT, &count) != 0 ||
        pcre2_pattern_info(r->re, PCRE2_INFO_NAMEENTRYSIZE, &size) != 0 ||
        pcre2_pattern_info(r->re, PCRE2_INFO_NAMETABLE, &table) != 0)
        return false;
    /* The name table is sorted by name, duplicates adjacent, each entry: group number
     * (2 bytes, big-endian) then the NUL-terminated name. */
    for (i = 0; i < count; i++) {
        PCRE2_SPTR e = table + (size_t)i * size;
        int group = (e[0] << 8) | e[1];
        const char *name = (const char *)(e + 2);
        struct capture *c = NULL;
        size_t k;

        for (k = 0; k < r->n_captures; k++) {
            if (strcmp(r->captures[k].name, name) == 0)
                c = &r->captures[k];
        }
        if (c == NULL) {
            size_t j, n = strlen(name);
            if (r->n_captures >= QN_RULES_CAPTURES_MAX) {
                perr(p, p->d.key_line[K_REGEX], N_("too many named groups in the pattern"),
                     "at most %d", QN_RULES_CAPTURES_MAX);
                return false;
            }
            if (n >= CAPTURE_NAME_MAX) {
                perr(p, p->d.key_line[K_REGEX], N_("a group name is too long"), "%s", name);
                return false;
            }
            for (j = 0; j < n; j++) {
                if (name[j] >= 'A' && name[j] <= 'Z') {
                    perr(p, p->d.key_line[K_REGEX],
                         N_("group names must be lower case (they become field names)"), "%s",
                         name);
                    return false;
                }
            }
            if (reserved_name(name)) {
                perr(p, p->d.key_line[K_REGEX], N_("this group name is reserved"),
                     "%s (reserved: rule count unit message priority identifier host "
                     "suppressed time subject kind sample*)",
                     name);
                return false;
            }
            c = &r->captures[r->n_captures++];
            snprintf(c->name, sizeof(c->name), "%s", name);
        }
        if (c->n_groups < GROUPS_PER_NAME_MAX)
            c->groups[c->n_groups++] = group;
    }
    /* Keep pattern order (by first group number) for alerts: stable insertion sort. */
    for (i = 1; i < r->n_captures; i++) {
        struct capture tmp = r->captures[i];
        size_t k = i;
        while (k > 0 && r->captures[k - 1].groups[0] > tmp.groups[0]) {
            r->captures[k] = r->captures[k - 1];
            k--;
        }
        r->captures[k] = tmp;
    }
    return true;
}

/*
 * The prefilter.  Calling the PCRE2 JIT costs a few hundred instructions
 * even when the pattern fails at once, and with ten rules that is more than
 * reading the entry: most entries are rejected before the call by a string
 * every match must contain.  PCRE2's own "required code unit" is one byte,
 * so the string is found here: the longest run of plain characters at the
 * top level of the pattern (outside groups, classes and lookarounds, with
 * no top-level alternation), leaving out characters a quantifier makes
 * optional.  Only plainly understood syntax is analysed: inline options,
 * \Q..\E, verbs, escapes that take arguments, a '{' that is not a
 * quantifier, non-ASCII bytes and anything unexpected give no literal,
 * which only costs speed, never a match.  A run right after a leading '^'
 * must start the subject.
 */
struct literal_scan {
    char run[QN_RULES_LITERAL_MAX];
    size_t len;
    bool anchored; /* the current run started right after the leading '^' */
    char best[QN_RULES_LITERAL_MAX];
    size_t best_len;
    bool best_anchored;
};

/* An anchored run of 4 or more bytes beats any other: a prefix compare, not a search. */
static size_t run_score(size_t len, bool anchored)
{
    return anchored && len >= 4 ? len + QN_RULES_LITERAL_MAX : len;
}

static void run_end(struct literal_scan *ls)
{
    if (ls->len > 0 &&
        run_score(ls->len, ls->anchored) > run_score(ls->best_len, ls->best_anchored)) {
        memcpy(ls->best, ls->run, ls->len);
        ls->best_len = ls->len;
        ls->best_anchored = ls->anchored;
    }
    ls->len = 0;
    ls->anchored = false;
}

static void run_add(struct literal_scan *ls, char c)
{
    if (ls->len < sizeof(ls->run))
        ls->run[ls->len++] = c;
}

/* Length of a valid {n}, {n,} or {n,m} quantifier at P, or 0. */
static size_t brace_quantifier(const char *p)
{
    size_t i = 1, digits = 0;

    while (p[i] >= '0' && p[i] <= '9') {
        i++;
        digits++;
    }
    if (digits == 0)
        return 0;
    if (p[i] == ',') {
        i++;
        while (p[i] >= '0' && p[i] <= '9')
            i++;
    }
    return p[i] == '}' ? i + 1 : 0;
}

/* Skip a quantifier at P (with its lazy '?' or possessive '+'); returns its length, 0 when
 * there is none, (size_t)-1 for a '{' that is not one. */
static size_t skip_quantifier(const char *p, bool *ret_optional)
{
    size_t n;

    *ret_optional = false;
    if (*p == '*' || *p == '?') {
        *ret_optional = true;
        n = 1;
    } else if (*p == '+') {
        n = 1;
    } else if (*p == '{') {
        n = brace_quantifier(p);
        if (n == 0)
            return (size_t)-1;
        *ret_optional = p[1] == '0';
    } else {
        return 0;
    }
    if (p[n] == '?' || p[n] == '+')
        n++;
    return n;
}

/* Skip a character class starting at P ('['); returns its length, or 0 when unterminated. */
static size_t skip_class(const char *p)
{
    size_t i = 1;

    if (p[i] == '^')
        i++;
    if (p[i] == ']')
        i++;
    while (p[i] != '\0') {
        if (p[i] == '\\' && p[i + 1] != '\0') {
            i += 2;
        } else if (p[i] == '[' && p[i + 1] == ':') {
            const char *end = strstr(p + i + 2, ":]");
            if (end == NULL)
                return 0;
            i = (size_t)(end - p) + 2;
        } else if (p[i] == ']') {
            return i + 1;
        } else {
            i++;
        }
    }
    return 0;
}

/*
 * How common a byte is in log text, roughly (higher: more common).  The
 * search for a literal looks for its least common byte with memchr(),
 * which is vectorised, and compares the rest only where that byte is:
 * glibc's memmem() is not vectorised and costs more than the pattern it
 * would save.
 */
static int byte_frequency(unsigned char c)
{
    static const char common[] = " etaoinsrhldcumfpgwybvk0123456789=:./-_,()[]'\"";
    const char *p;

    if (c == '\0')
        return 0;
    p = strchr(common, c);
    if (p != NULL)
        return 100 - (int)(p - common);
    if (c >= 'A' && c <= 'Z')
        return 20;
    return 10; /* rare letters (x q j z), other punctuation, bytes >= 0x80 */
}

static void choose_rare_byte(struct rule *r)
{
    size_t i, best = 0;

    for (i = 1; i < r->literal_len; i++) {
        if (byte_frequency((unsigned char)r->literal[i]) <
            byte_frequency((unsigned char)r->literal[best]))
            best = i;
    }
    r->rare_at = best;
}

/* Whether the LEN bytes at S contain the rule's literal. */
static bool contains(const char *s, size_t len, const struct rule *r)
{
    const char rare = r->literal[r->rare_at];
    const char *p = s + r->rare_at, *end = s + len;

    if (len < r->literal_len)
        return false;
    end -= r->literal_len - r->rare_at - 1; /* the rare byte cannot be later than this */
    while (p < end) {
        const char *hit = memchr(p, rare, (size_t)(end - p));
        if (hit == NULL)
            return false;
        const char *at = hit - r->rare_at;
        /* the ends first: a common rare byte (" error") has many false hits */
        if (at[0] == r->literal[0] && at[r->literal_len - 1] == r->literal[r->literal_len - 1] &&
            memcmp(at, r->literal, r->literal_len) == 0)
            return true;
        p = hit + 1;
    }
    return false;
}

static void find_literal(struct rule *r, const char *pat)
{
    struct literal_scan ls;
    size_t i = 0;
    int depth = 0;

    memset(&ls, 0, sizeof(ls));
    if (strncmp(pat, "(*", 2) == 0)
        return;
    if (pat[0] == '^') {
        i = 1;
        ls.anchored = true;
    }
    while (pat[i] != '\0') {
        unsigned char c = (unsigned char)pat[i];
        bool optional = false;
        size_t q;

        if (c >= 0x80)
            return;
        if (c == '\\') {
            char n = pat[i + 1];
            if (n == '\0' || strchr("QExopPgkNcu0123456789", n) != NULL)
                return;
            if ((n >= 'a' && n <= 'z') || (n >= 'A' && n <= 'Z')) {
                i += 2;
                if (depth == 0) {
                    run_end(&ls); /* a class, an assertion or a control character */
                    q = skip_quantifier(pat + i, &optional);
                    if (q == (size_t)-1)
                        return;
                    i += q;
                }
                continue;
            }
            if ((unsigned char)n >= 0x80)
                return;
            if (depth > 0) {
                i += 2;
                continue;
            }
            i += 2;
            q = skip_quantifier(pat + i, &optional);
            if (q == (size_t)-1)
                return;
            if (!optional)
                run_add(&ls, n);
            if (q > 0) {
                run_end(&ls);
                i += q;
            }
            continue;
        }
        if (c == '[') {
            q = skip_class(pat + i);
            if (q == 0)
                return;
            i += q;
            if (depth == 0) {
                run_end(&ls);
                q = skip_quantifier(pat + i, &optional);
                if (q == (size_t)-1)
                    return;
                i += q;
            }
            continue;
        }
        if (c == '(') {
            if (pat[i + 1] == '*')
                return;
            if (pat[i + 1] == '?' && strchr(":<P=!>|#", pat[i + 2]) == NULL)
                return; /* inline options such as (?i) */
            if (pat[i + 1] == '?' && pat[i + 2] == '#') {
                const char *end = strchr(pat + i, ')');
                if (end == NULL)
                    return;
                i = (size_t)(end - pat) + 1; /* a comment is nothing */
                continue;
            }
            if (depth == 0)
                run_end(&ls);
            depth++;
            i++;
            continue;
        }
        if (c == ')') {
            if (depth == 0)
                return;
            depth--;
            i++;
            if (depth == 0) {
                q = skip_quantifier(pat + i, &optional);
                if (q == (size_t)-1)
                    return;
                i += q;
            }
            continue;
        }
        if (depth > 0) {
            i++;
            continue;
        }
        if (c == '|')
            return;
        if (c == '.' || c == '^' || c == '$') {
            run_end(&ls);
            i++;
            q = skip_quantifier(pat + i, &optional);
            if (q == (size_t)-1)
                return;
            i += q;
            continue;
        }
        if (c == '*' || c == '+' || c == '?' || c == '{')
            return; /* a quantifier with nothing plain before it: not analysed */
        i++;
        q = skip_quantifier(pat + i, &optional);
        if (q == (size_t)-1)
            return;
        if (!optional)
            run_add(&ls, (char)c);
        if (q > 0) {
            run_end(&ls);
            i += q;
        }
    }
    if (depth != 0)
        return;
    run_end(&ls);
    /* one or two bytes anywhere reject too little to pay for the search */
    if (ls.best_len >= 3 || (ls.best_anchored && ls.best_len >= 1)) {
        memcpy(r->literal, ls.best, ls.best_len);
        r->literal_len = ls.best_len;
        r->literal_anchored = ls.best_anchored;
        choose_rare_byte(r);
    }
}

/*
 * The bytes a match of an anchored pattern can start with, from PCRE2's own
 * analysis rather than ours: for alternatives with different prefixes
 * ("^(?:EXT4-fs|XFS|BTRFS)") the literal above finds nothing, and the
 * pattern would run on every entry.  PCRE2 computes that set
 * (PCRE2_INFO_FIRSTBITMAP) only for patterns that are not anchored, so the
 * pattern is compiled once more without its leading '^': a match of "^X"
 * is a match of "X" starting at the first byte of MESSAGE, so that byte is
 * in X's set.  No set when PCRE2 has none (X can match the empty string, or
 * starts with anything) or the pattern is not anchored by that '^'.
 */
static void find_first_bytes(struct rule *r, const char *pat)
{
    const uint8_t *map = NULL;
    uint32_t opts = 0;
    PCRE2_SIZE off = 0;
    pcre2_code *bare;
    int code = 0;

    if (r->literal_len > 0 && r->literal_anchored)
        return; /* the literal already tests the first byte */
    if (pat[0] != '^' || pat[1] == '\0' || strchr("*+?{", pat[1]) != NULL)
        return;
    if (pcre2_pattern_info(r->re, PCRE2_INFO_ALLOPTIONS, &opts) != 0 ||
        (opts & PCRE2_ANCHORED) == 0 || (opts & PCRE2_MULTILINE) != 0)
        return;
    bare = pcre2_compile((PCRE2_SPTR)(pat + 1), PCRE2_ZERO_TERMINATED,
                         PCRE2_DUPNAMES | PCRE2_NEVER_BACKSLASH_C, &code, &off, NULL);
    if (bare == NULL)
        return; /* out of memory (or odd): no screen, the pattern still decides */
    if (pcre2_pattern_info(bare, PCRE2_INFO_FIRSTBITMAP, &map) == 0 && map != NULL) {
        size_t i;
        for (i = 0; i < sizeof(r->first) && map[i] == 0xff; i++)
            ;
        /* every byte allowed: a test that can only cost */
        if (i < sizeof(r->first)) {
            memcpy(r->first, map, sizeof(r->first));
            r->has_first = true;
        }
    }
    pcre2_code_free(bare);
}

static int capture_index(const struct rule *r, const char *name, size_t n)
{
    size_t i;

    for (i = 0; i < r->n_captures; i++) {
        if (strlen(r->captures[i].name) == n && strncmp(r->captures[i].name, name, n) == 0)
            return (int)i;
    }
    return -1;
}

/* "per NAME[, NAME...]" after a threshold or cooldown: S points after "per". */
static bool parse_per(struct parser *p, struct rule *r, const char *per, unsigned line)
{
    if (r->n_per > 0) {
        perr(p, line, N_("\"per\" may be given once, on threshold or on cooldown"), NULL);
        return false;
    }
    while (*per != '\0') {
        size_t len;
        int idx;

        while (is_blank(*per) || *per == ',')
            per++;
        if (*per == '\0')
            break;
        len = strcspn(per, " \t,");
        if (len == 4 && strncmp(per, "host", 4) == 0)
            idx = PER_HOST;
        else if (len == 4 && strncmp(per, "unit", 4) == 0)
            idx = PER_UNIT;
        else
            idx = capture_index(r, per, len);
        if (idx == -1) {
            perr(p, line, N_("\"per\" names neither a named group of the regex nor host or unit"),
                 "%.*s", (int)(len > 64 ? 64 : len), per);
            return false;
        }
        if (r->n_per >= QN_RULES_PER_MAX) {
            perr(p, line, N_("too many names after \"per\""), "at most %d", QN_RULES_PER_MAX);
            return false;
        }
        r->per[r->n_per++] = idx;
        per += len;
    }
    if (r->n_per == 0) {
        perr(p, line, N_("\"per\" needs at least one name"), NULL);
        return false;
    }
    return true;
}

/* Split "DURATION [per NAMES]" at S: the duration token into UNIT (UNITSZ bytes) and a
 * pointer to what follows "per" (or NULL).  False when the shape is wrong. */
static bool split_duration_per(const char *s, char *unit, size_t unitsz, const char **ret_per)
{
    size_t ulen;

    while (is_blank(*s))
        s++;
    ulen = strcspn(s, " \t");
    if (ulen == 0 || ulen >= unitsz)
        return false;
    memcpy(unit, s, ulen);
    unit[ulen] = '\0';
    s += ulen;
    while (is_blank(*s))
        s++;
    *ret_per = NULL;
    if (*s == '\0')
        return true;
    if (strncmp(s, "per", 3) != 0 || !is_blank(s[3]))
        return false;
    *ret_per = s + 3;
    return true;
}

/* "N in DURATION [per NAME[, NAME...]]" */
static bool parse_threshold(struct parser *p, struct rule *r, const char *s, unsigned line)
{
    char *end = NULL, unit[32];
    const char *q, *per = NULL;
    long long window = 0;
    unsigned long n;

    errno = 0;
    if (s[0] < '0' || s[0] > '9')
        goto bad;
    n = strtoul(s, &end, 10);
    if (errno != 0 || n < 1 || n > QN_RULES_THRESHOLD_MAX) {
        perr(p, line, N_("the threshold count is not between 1 and 1000"), "%s", s);
        return false;
    }
    q = end;
    while (is_blank(*q))
        q++;
    if (strncmp(q, "in", 2) != 0 || !is_blank(q[2]))
        goto bad;
    if (!split_duration_per(q + 2, unit, sizeof(unit), &per))
        goto bad;
    if (qn_rules_parse_duration(unit, &window) != QN_OK || window < 1) {
        perr(p, line, N_("the threshold window is not a duration between 1s and 7d"), "%s", unit);
        return false;
    }
    r->threshold = (unsigned)n;
    r->window_usec = window * USEC_PER_SEC;
    return per == NULL || parse_per(p, r, per, line);
bad:
    perr(p, line, N_("the threshold is not \"N in DURATION [per NAME]\""),
         "%s; write e.g. \"5 in 10m\" or \"5 in 10m per host, ip\"", s);
    return false;
}

/* "DURATION [per NAME[, NAME...]]" */
static bool parse_cooldown(struct parser *p, struct rule *r, const char *s, unsigned line)
{
    const char *per = NULL;
    long long secs = 0;
    char unit[32];

    if (!split_duration_per(s, unit, sizeof(unit), &per) ||
        qn_rules_parse_duration(unit, &secs) != QN_OK) {
        perr(p, line,
             N_("the cooldown is not a duration between 0 and 7d (seconds or a number followed "
                "by s, m, h or d), optionally followed by \"per NAME\""),
             "%s", s);
        return false;
    }
    r->cooldown_usec = secs * USEC_PER_SEC;
    return per == NULL || parse_per(p, r, per, line);
}

/* Check a subject template: balanced braces, known names. */
static bool check_template(struct parser *p, const struct rule *r, const char *t, unsigned line)
{
    size_t i = 0;

    while (t[i] != '\0') {
        if (t[i] == '{' && t[i + 1] == '{') {
            i += 2;
        } else if (t[i] == '}' && t[i + 1] == '}') {
            i += 2;
        } else if (t[i] == '{') {
            size_t n = strcspn(t + i + 1, "{}");
            const char *name = t + i + 1;
            if (name[n] != '}') {
                perr(p, line, N_("a '{' in the subject is not closed (write {{ for a brace)"), "%s",
                     t);
                return false;
            }
            if (!((n == 4 && (strncmp(name, "rule", 4) == 0 || strncmp(name, "host", 4) == 0 ||
                              strncmp(name, "unit", 4) == 0)) ||
                  (n == 5 && strncmp(name, "count", 5) == 0) || capture_index(r, name, n) >= 0)) {
                perr(p, line,
                     N_("the subject uses an unknown name (use rule, host, unit, count or a "
                        "named group of the regex)"),
                     "{%.*s}", (int)n, name);
                return false;
            }
            i += n + 2;
        } else if (t[i] == '}') {
            perr(p, line, N_("a '}' in the subject has no '{' (write }} for a brace)"), "%s", t);
            return false;
        } else {
            i++;
        }
    }
    return true;
}

static int match_cmp_field(const struct rule_match *a, const struct rule_match *b)
{
    return a->field - b->field;
}

static uint64_t rule_fingerprint(const struct rule *r)
{
    char buf[512];
    int n;
    size_t i;
    uint64_t h;

    n = snprintf(buf, sizeof(buf), "%u %lld %lld %u %u", r->threshold, r->window_usec,
                 r->cooldown_usec, r->samples, r->keys);
    h = fnv1a(FNV_BASIS, buf, n > 0 ? (size_t)n : 0);
    for (i = 0; i < r->n_per; i++) {
        const char *name = r->per[i] == PER_HOST   ? "host"
                           : r->per[i] == PER_UNIT ? "unit"
                                                   : r->captures[r->per[i]].name;
        h = fnv1a(h, " ", 1);
        h = fnv1a(h, name, strlen(name));
    }
    return h;
}

/* Check the draft as a whole and move it into the set. */
static void finish_rule(struct parser *p)
{
    struct draft *d = &p->d;
    struct rule *r = d->r;
    size_t i, bytes, pairs;

    if (!d->open)
        return;
    if (d->bad)
        goto out;
    if (d->regex != NULL) {
        r->re = compile(p, d->key_line[K_REGEX], d->regex, &r->re_jit);
        if (r->re == NULL || !collect_captures(p, r))
            goto out;
        find_literal(r, d->regex);
        find_first_bytes(r, d->regex);
    }
    if (d->exclude != NULL) {
        r->ex = compile(p, d->key_line[K_EXCLUDE], d->exclude, &r->ex_jit);
        if (r->ex == NULL)
            goto out;
    }
    if (r->re == NULL && r->n_matches == 0 && !r->has_priority) {
        perr(p, d->line, N_("the rule has no condition and would match every entry"),
             "add regex, match or priority");
        goto out;
    }
    r->threshold = 1;
    if (d->threshold != NULL && !parse_threshold(p, r, d->threshold, d->key_line[K_THRESHOLD]))
        goto out;
    if (d->cooldown != NULL && !parse_cooldown(p, r, d->cooldown, d->key_line[K_COOLDOWN]))
        goto out;
    if (d->subject != NULL) {
        if (!check_template(p, r, d->subject, d->key_line[K_SUBJECT]))
            goto out;
        r->subject = d->subject;
        d->subject = NULL;
    }
    if (d->key_line[K_SAMPLES] == 0)
        r->samples = QN_RULES_SAMPLES_DEFAULT;
    if (r->threshold <= 1)
        r->samples = 0; /* the alert quotes its one entry as the message */
    if (d->key_line[K_KEYS] == 0)
        r->keys = QN_RULES_KEYS_DEFAULT;
    if (r->n_per == 0)
        r->keys = 1;
    /* group the match lines by field (stable), for journalctl's OR-within-field */
    for (i = 1; i < r->n_matches; i++) {
        struct rule_match tmp = r->matches[i];
        size_t k = i;
        while (k > 0 && match_cmp_field(&r->matches[k - 1], &tmp) > 0) {
            r->matches[k] = r->matches[k - 1];
            k--;
        }
        r->matches[k] = tmp;
    }
    for (i = 0; i < p->rs->n_rules; i++) {
        if (strcmp(p->rs->rules[i]->name, r->name) == 0) {
            perr(p, d->line, N_("a rule of this name already exists"), "first defined at %s:%u",
                 p->rs->rules[i]->file, p->rs->rules[i]->line);
            goto out;
        }
    }
    if (p->rs->n_rules >= QN_RULES_MAX) {
        perr(p, d->line, N_("too many rules"), "at most %d", QN_RULES_MAX);
        goto out;
    }
    if (r->threshold > 1 || r->cooldown_usec > 0) {
        bytes = table_bytes(r->keys, r->threshold, r->samples, NULL);
        if (bytes > QN_RULES_RULE_STATE_MAX) {
            perr(p, d->key_line[K_KEYS] ? d->key_line[K_KEYS] : d->key_line[K_THRESHOLD],
                 N_("the rule's threshold state would be too large: lower keys, the threshold "
                    "count or samples"),
                 "%zu bytes, at most %d", bytes, QN_RULES_RULE_STATE_MAX);
            goto out;
        }
        if (p->rs->state_bytes + bytes > QN_RULES_SET_STATE_MAX) {
            perr(p, d->line, N_("the rules' threshold state together would be too large"),
                 "at most %d bytes", QN_RULES_SET_STATE_MAX);
            goto out;
        }
        r->table = table_new(r->keys, r->threshold, r->samples);
        if (r->table == NULL) {
            p->nomem = true;
            goto out;
        }
        p->rs->state_bytes += r->table->bytes;
    }
    /* one match data block large enough for every pattern of the set */
    pairs = 1;
    if (r->re != NULL) {
        uint32_t cc = 0;
        pcre2_pattern_info(r->re, PCRE2_INFO_CAPTURECOUNT, &cc);
        pairs = (size_t)cc + 1;
    }
    if (pairs > p->rs->md_pairs) {
        pcre2_match_data *md = pcre2_match_data_create((uint32_t)pairs, NULL);
        if (md == NULL) {
            p->nomem = true;
            goto out;
        }
        pcre2_match_data_free(p->rs->md);
        p->rs->md = md;
        p->rs->md_pairs = (uint32_t)pairs;
    }
    if ((r->re != NULL && !r->re_jit) || (r->ex != NULL && !r->ex_jit))
        p->rs->stats.jit = false;
    r->fingerprint = rule_fingerprint(r);
    p->rs->rules[p->rs->n_rules++] = r;
    d->r = NULL;
out:
    draft_reset(d);
}

static void open_rule(struct parser *p, const char *s, size_t n)
{
    finish_rule(p);
    p->d.open = true;
    p->d.line = p->line;
    snprintf(p->d.name, sizeof(p->d.name), "%.*s", (int)(n < QN_RULES_NAME_MAX ? n : 0), s);
    if (!valid_rule_name(s, n)) {
        perr(p, p->line,
             N_("a rule name may hold only letters, digits, '_', '.' and '-' (at most "
                "63)"),
             "%.*s", (int)(n > 200 ? 200 : n), s);
        return;
    }
    p->d.r = calloc(1, sizeof(struct rule));
    if (p->d.r == NULL) {
        p->nomem = true;
        p->d.bad = true;
        return;
    }
    memcpy(p->d.r->name, s, n);
    p->d.r->name[n] = '\0';
    snprintf(p->d.r->file, sizeof(p->d.r->file), "%s", p->file);
    p->d.r->line = p->line;
}

static void set_key(struct parser *p, const char *k, size_t kn, const char *v, size_t vn)
{
    struct draft *d = &p->d;
    struct rule *r = d->r;
    char *value = NULL;
    int key = -1, i;

    for (i = 0; i < K_COUNT; i++) {
        if (strlen(key_names[i]) == kn && strncasecmp(key_names[i], k, kn) == 0)
            key = i;
    }
    if (key < 0) {
        perr(p, p->line, N_("unknown key"), "%.*s; keys are: %s", (int)(kn > 64 ? 64 : kn), k,
             keys_fix);
        return;
    }
    if (d->bad || r == NULL)
        return; /* the header was already reported */
    if (key != K_MATCH && d->key_line[key] != 0) {
        perr(p, p->line, N_("key set twice in one rule"), "%s (first on line %u)", key_names[key],
             d->key_line[key]);
        return;
    }
    d->key_line[key] = p->line;
    if (vn == 0 && key != K_SUBJECT) {
        perr(p, p->line, N_("the value is empty"), "%s", key_names[key]);
        return;
    }
    value = dup_n(v, vn);
    if (value == NULL) {
        p->nomem = true;
        d->bad = true;
        return;
    }
    switch (key) {
    case K_MATCH: {
        const char *eq = memchr(value, '=', vn);
        size_t fn;
        int f;

        if (eq == NULL) {
            perr(p, p->line, N_("match is not FIELD=VALUE"), "%s", value);
            break;
        }
        fn = (size_t)(eq - value);
        if (!valid_field_name(value, fn)) {
            perr(p, p->line,
                 N_("not a journal field name (upper case letters, digits and '_', e.g. "
                    "SYSLOG_IDENTIFIER or _SYSTEMD_UNIT)"),
                 "%.*s", (int)(fn > 64 ? 64 : fn), value);
            break;
        }
        if (vn - fn - 1 >= QN_RULES_VALUE_MAX) {
            perr(p, p->line, N_("the match value is too long"), "at most %d bytes",
                 QN_RULES_VALUE_MAX - 1);
            break;
        }
        if (r->n_matches >= QN_RULES_MATCHES_MAX) {
            perr(p, p->line, N_("too many match lines in one rule"), "at most %d",
                 QN_RULES_MATCHES_MAX);
            break;
        }
        f = field_index(p->rs, value, fn);
        if (f == -2) {
            p->nomem = true;
            d->bad = true;
            break;
        }
        if (f < 0) {
            perr(p, p->line, N_("the rules refer to too many different fields"), "at most %d",
                 FIELDS_MAX);
            break;
        }
        r->matches[r->n_matches].field = f;
        r->matches[r->n_matches].len = vn - fn - 1;
        r->matches[r->n_matches].value = dup_n(eq + 1, vn - fn - 1);
        if (r->matches[r->n_matches].value == NULL) {
            p->nomem = true;
            d->bad = true;
            break;
        }
        r->n_matches++;
        break;
    }
    case K_REGEX:
        d->regex = value;
        value = NULL;
        break;
    case K_EXCLUDE:
        d->exclude = value;
        value = NULL;
        break;
    case K_PRIORITY:
        if (!parse_priority(value, &r->prio_min, &r->prio_max)) {
            perr(p, p->line,
                 N_("the priority is not a level or range (emerg alert crit err warning notice "
                    "info debug, 0-7; e.g. \"warning\" or \"..err\" or \"crit..warning\")"),
                 "%s", value);
            break;
        }
        r->has_priority = true;
        break;
    case K_THRESHOLD:
        d->threshold = value;
        value = NULL;
        break;
    case K_COOLDOWN:
        d->cooldown = value;
        value = NULL;
        break;
    case K_SUBJECT:
        if (vn >= QN_RULES_SUBJECT_MAX) {
            perr(p, p->line, N_("the subject is too long"), "at most %d bytes",
                 QN_RULES_SUBJECT_MAX - 1);
            break;
        }
        d->subject = value;
        value = NULL;
        break;
    case K_SAMPLES:
    case K_KEYS: {
        unsigned long max = key == K_SAMPLES ? QN_RULES_SAMPLES_MAX : QN_RULES_KEYS_MAX;
        unsigned long min = key == K_SAMPLES ? 0 : 1;
        unsigned long n;
        char *end = NULL;

        errno = 0;
        n = strtoul(value, &end, 10);
        if (value[0] < '0' || value[0] > '9' || errno != 0 || *end != '\0' || n < min || n > max) {
            perr(p, p->line,
                 key == K_SAMPLES ? N_("samples is not a number from 0 to 5")
                                  : N_("keys is not a number from 1 to 65536"),
                 "%s", value);
            break;
        }
        if (key == K_SAMPLES)
            r->samples = (unsigned)n;
        else
            r->keys = (unsigned)n;
        break;
    }
    default:
        break;
    }
    free(value);
}

static void parse_line(struct parser *p, const char *s, size_t n)
{
    const char *eq;

    trim(&s, &n);
    if (n == 0 || s[0] == '#' || s[0] == ';')
        return;
    if (s[0] == '[') {
        const char *name;
        size_t nn;

        if (s[n - 1] != ']') {
            perr(p, p->line, N_("a section header must end with ']'"), "%.*s",
                 (int)(n > 100 ? 100 : n), s);
            return;
        }
        name = s + 1;
        nn = n - 2;
        trim(&name, &nn);
        if (nn < 5 || strncasecmp(name, "rule", 4) != 0 || !is_blank(name[4])) {
            finish_rule(p);
            perr(p, p->line, N_("a section must be [rule NAME]"), "%.*s", (int)(n > 100 ? 100 : n),
                 s);
            return;
        }
        name += 4;
        nn -= 4;
        trim(&name, &nn);
        open_rule(p, name, nn);
        return;
    }
    eq = memchr(s, '=', n);
    if (eq == NULL) {
        perr(p, p->line, N_("expected \"key = value\""), "%.*s", (int)(n > 100 ? 100 : n), s);
        return;
    }
    if (!p->d.open) {
        perr(p, p->line, N_("a key outside a [rule NAME] section"), "%.*s",
             (int)(n > 100 ? 100 : n), s);
        return;
    }
    {
        const char *k = s, *v = eq + 1;
        size_t kn = (size_t)(eq - s), vn = n - kn - 1;
        trim(&k, &kn);
        trim(&v, &vn);
        set_key(p, k, kn, v, vn);
    }
}

enum qn_status qn_rules_parse(struct qn_rules *rs, const char *text, size_t len, const char *name,
                              struct qn_rules_errors *errs)
{
    struct parser p;
    size_t pos = 0;

    if (rs == NULL || (text == NULL && len > 0))
        return QN_EINVAL;
    memset(&p, 0, sizeof(p));
    p.rs = rs;
    p.errs = errs;
    p.file = name != NULL ? name : "";
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        pos = 3;
    while (pos < len && !p.nomem) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl != NULL ? (size_t)(nl - line) : len - pos;

        pos += n + (nl != NULL ? 1 : 0);
        p.line++;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n > QN_RULES_LINE_MAX) {
            perr(&p, p.line, N_("the line is too long"), "%zu bytes, at most %d", n,
                 QN_RULES_LINE_MAX);
            continue;
        }
        if (memchr(line, '\0', n) != NULL) {
            perr(&p, p.line, N_("the line holds a NUL byte"), NULL);
            continue;
        }
        if (!qn_text_utf8_valid(line, n)) {
            perr(&p, p.line, N_("the line is not valid UTF-8"), NULL);
            continue;
        }
        parse_line(&p, line, n);
    }
    if (!p.nomem)
        finish_rule(&p);
    draft_reset(&p.d);
    if (p.nomem)
        return QN_ENOMEM;
    return p.failed ? QN_ECONFIG : QN_OK;
}

/* ------------------------------------------------------------------------------------ */
/* loading a directory                                                                  */

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool conf_name(const char *n)
{
    size_t len = strlen(n);

    return n[0] != '.' && len > 5 && strcmp(n + len - 5, ".conf") == 0;
}

/* Read FD (a regular file of at most QN_RULES_FILE_MAX bytes) into *RET (malloc'd). */
static enum qn_status read_file(int fd, char **ret, size_t *ret_len)
{
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    enum qn_status r = QN_EIO;

    if (fstat(fd, &st) != 0)
        goto out;
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        goto out;
    }
    if (st.st_size > QN_RULES_FILE_MAX) {
        r = QN_ETOOBIG;
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        r = QN_ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, (size_t)st.st_size + 1 - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > (size_t)st.st_size) { /* grew while we read it */
            r = QN_ETOOBIG;
            goto out;
        }
    }
    *ret = buf;
    *ret_len = len;
    buf = NULL;
    r = QN_OK;
out:
    free(buf);
    return r;
}

enum qn_status qn_rules_load_dir(struct qn_rules *rs, const char *dir, struct qn_rules_errors *errs)
{
    char *names[QN_RULES_FILES_MAX];
    size_t n_names = 0, i;
    enum qn_status r = QN_OK, fr;
    struct dirent *de;
    DIR *d = NULL;
    int dfd = -1;

    if (rs == NULL || dir == NULL)
        return QN_EINVAL;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        int e = errno;
        if (e == ENOENT)
            return QN_ENOTFOUND;
        add_error(errs, dir, 0, NULL, N_("cannot open the rules directory"), "%s", strerror(e));
        if (errs != NULL && errs->n > 0)
            errs->e[errs->n - 1].sys_errno = e;
        return QN_EIO;
    }
    d = fdopendir(dfd);
    if (d == NULL) {
        close(dfd);
        return QN_EIO;
    }
    for (;;) {
        errno = 0;
        de = readdir(d);
        if (de == NULL) {
            if (errno != 0)
                r = QN_EIO;
            break;
        }
        if (!conf_name(de->d_name))
            continue;
        if (n_names >= QN_RULES_FILES_MAX) {
            add_error(errs, dir, 0, NULL, N_("too many rules files"), "at most %d",
                      QN_RULES_FILES_MAX);
            r = QN_ETOOBIG;
            break;
        }
        names[n_names] = strdup(de->d_name);
        if (names[n_names] == NULL) {
            r = QN_ENOMEM;
            break;
        }
        n_names++;
    }
    if (r != QN_OK)
        goto out;
    qsort(names, n_names, sizeof(names[0]), name_cmp);
    for (i = 0; i < n_names; i++) {
        char path[4096 + 256];
        char *text = NULL;
        size_t len = 0;
        int fd;

        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        fd = openat(dirfd(d), names[i], O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
            int e = errno;
            add_error(errs, path, 0, NULL, N_("cannot read the rules file"), "%s", strerror(e));
            if (errs != NULL && errs->n > 0)
                errs->e[errs->n - 1].sys_errno = e;
            r = QN_EIO;
            continue;
        }
        fr = read_file(fd, &text, &len);
        if (fr != QN_OK) {
            int e = errno;
            close(fd);
            if (fr == QN_ENOMEM) {
                r = QN_ENOMEM;
                goto out;
            }
            add_error(errs, path, 0, NULL,
                      fr == QN_ETOOBIG ? N_("the rules file is too large (at most 1 MiB)")
                                       : N_("cannot read the rules file"),
                      "%s", fr == QN_ETOOBIG ? "" : strerror(e));
            if (fr == QN_EIO && errs != NULL && errs->n > 0)
                errs->e[errs->n - 1].sys_errno = e;
            if (r == QN_OK || r == QN_ECONFIG)
                r = fr;
            continue;
        }
        close(fd);
        fr = qn_rules_parse(rs, text, len, path, errs);
        free(text);
        if (fr == QN_ENOMEM) {
            r = fr;
            goto out;
        }
        if (fr != QN_OK && r == QN_OK)
            r = fr;
    }
out:
    for (i = 0; i < n_names; i++)
        free(names[i]);
    closedir(d);
    return r;
}

/* ------------------------------------------------------------------------------------ */
/* matching                                                                             */

static bool run(struct qn_rules *rs, const pcre2_code *re, bool jit, const struct field *msg,
                pcre2_match_data *md)
{
    int rc;

    if (jit)
        rc = pcre2_jit_match(re, (PCRE2_SPTR)msg->value, msg->len, 0, 0, md, rs->mctx);
    else
        rc = pcre2_match(re, (PCRE2_SPTR)msg->value, msg->len, 0, 0, md, rs->mctx);
    if (rc >= 0)
        return true;
    if (rc != PCRE2_ERROR_NOMATCH)
        rs->stats.match_errors++;
    return false;
}

/* Does the group of match lines starting at *I (all for one field) accept the entry?
 * Advances *I past the group. */
static bool group_ok(const struct rule *r, size_t *i, const struct field *f)
{
    int field = r->matches[*i].field;
    bool ok = false;

    for (; *i < r->n_matches && r->matches[*i].field == field; (*i)++) {
        const struct rule_match *m = &r->matches[*i];
        if (f != NULL && f->full_len == m->len && memcmp(f->value, m->value, m->len) == 0)
            ok = true;
    }
    return ok;
}

static int entry_priority(struct qn_rules *rs, const struct qn_rules_entry *entry)
{
    const struct field *f = fetch(rs, entry, F_PRIORITY);

    if (f == NULL || f->full_len != 1 || f->value[0] < '0' || f->value[0] > '7')
        return -1;
    return f->value[0] - '0';
}

/* Whether MSG can match R's pattern as far as its literal and first bytes tell. */
static bool literal_ok(const struct rule *r, const struct field *msg)
{
    if (r->has_first && msg->len > 0) {
        unsigned char c = (unsigned char)msg->value[0];
        if ((r->first[c >> 3] & (1u << (c & 7))) == 0)
            return false;
    }
    if (r->literal_len == 0)
        return true;
    if (r->literal_anchored) /* the first byte alone rejects nearly every entry */
        return msg->len >= r->literal_len && msg->value[0] == r->literal[0] &&
               memcmp(msg->value, r->literal, r->literal_len) == 0;
    return contains(msg->value, msg->len, r);
}

static bool rule_matches(struct qn_rules *rs, const struct rule *r,
                         const struct qn_rules_entry *entry)
{
    uint32_t checked = 0; /* bit per match line that starts a group already checked */
    const struct field *msg;
    bool screened = false;
    size_t i;

    /* Once MESSAGE is fetched (by the first rule with a pattern), the literal is the
     * cheapest test and rejects the most: before the field conditions. */
    if (r->re != NULL && rs->fields[F_MESSAGE].gen == rs->gen) {
        if (!rs->fields[F_MESSAGE].present)
            return false;
        if (!literal_ok(r, &rs->fields[F_MESSAGE])) {
            rs->stats.prefiltered++;
            return false;
        }
        screened = true;
    }
    /* Fields already fetched for this entry cost nothing: check them before the pattern. */
    for (i = 0; i < r->n_matches;) {
        size_t start = i;
        const struct field *f = &rs->fields[r->matches[i].field];
        if (f->gen == rs->gen) {
            if (!group_ok(r, &i, f->present ? f : NULL))
                return false;
            checked |= 1u << start;
        } else {
            int field = r->matches[i].field;
            while (i < r->n_matches && r->matches[i].field == field)
                i++;
        }
    }
    if (r->re != NULL) {
        msg = fetch(rs, entry, F_MESSAGE);
        if (msg == NULL)
            return false;
        if (!screened && !literal_ok(r, msg)) {
            rs->stats.prefiltered++;
            return false;
        }
        if (!run(rs, r->re, r->re_jit, msg, rs->md))
            return false;
    }
    for (i = 0; i < r->n_matches;) {
        if (checked & (1u << i)) {
            int field = r->matches[i].field;
            while (i < r->n_matches && r->matches[i].field == field)
                i++;
            continue;
        }
        if (!group_ok(r, &i, fetch(rs, entry, r->matches[i].field)))
            return false;
    }
    if (r->has_priority) {
        int prio = entry_priority(rs, entry);
        if (prio < r->prio_min || prio > r->prio_max)
            return false;
    }
    if (r->ex != NULL) {
        msg = fetch(rs, entry, F_MESSAGE);
        if (msg != NULL && run(rs, r->ex, r->ex_jit, msg, rs->md_ex))
            return false;
    }
    return true;
}

/* Copy the rule's captures out of the match data into rs->cap_values. */
static void take_captures(struct qn_rules *rs, const struct rule *r)
{
    const struct field *msg = &rs->fields[F_MESSAGE];
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(rs->md);
    uint32_t pairs = pcre2_get_ovector_count(rs->md);
    size_t i, k;

    for (i = 0; i < r->n_captures; i++) {
        rs->cap_values[i][0] = '\0';
        for (k = 0; k < r->captures[i].n_groups; k++) {
            uint32_t g = (uint32_t)r->captures[i].groups[k];
            size_t a, b, n;
            if (g >= pairs || ov[2 * g] == PCRE2_UNSET || ov[2 * g + 1] < ov[2 * g] ||
                ov[2 * g + 1] > msg->len)
                continue;
            a = ov[2 * g];
            b = ov[2 * g + 1];
            n = cut_utf8(msg->value + a, b - a, QN_RULES_CAPTURE_MAX - 1);
            memcpy(rs->cap_values[i], msg->value + a, n);
            rs->cap_values[i][n] = '\0';
            break;
        }
    }
}

/* The threshold key of this match into rs->keybuf; returns its length. */
static size_t build_key(struct qn_rules *rs, const struct rule *r,
                        const struct qn_rules_entry *entry)
{
    size_t len = 0, i;

    for (i = 0; i < r->n_per; i++) {
        const char *v;
        size_t n;

        if (r->per[i] == PER_HOST)
            v = fetch_text(rs, entry, F_HOSTNAME);
        else if (r->per[i] == PER_UNIT)
            v = fetch_unit(rs, entry);
        else
            v = rs->cap_values[r->per[i]];
        n = strlen(v);
        if (n > QN_RULES_FIELD_VALUE_MAX)
            n = QN_RULES_FIELD_VALUE_MAX;
        if (i > 0)
            rs->keybuf[len++] = '\x1f'; /* unit separator: never inside a sanitised value */
        memcpy(rs->keybuf + len, v, n);
        len += n;
    }
    return len;
}

static void expand_subject(struct qn_rules *rs, const struct rule *r, const char *host,
                           const char *unit, unsigned long count)
{
    char *out = rs->subject;
    size_t cap = sizeof(rs->subject), len = 0, i = 0;
    const char *t = r->subject;

    out[0] = '\0';
    if (t == NULL)
        return;
    while (t[i] != '\0' && len + 1 < cap) {
        const char *v = NULL;
        char num[32];
        size_t n;

        if ((t[i] == '{' && t[i + 1] == '{') || (t[i] == '}' && t[i + 1] == '}')) {
            out[len++] = t[i];
            i += 2;
            continue;
        }
        if (t[i] != '{') {
            /* a whole character or nothing: the cut must leave valid UTF-8 */
            n = 1;
            while (n < 4 && ((unsigned char)t[i + n] & 0xc0) == 0x80)
                n++;
            if (n > cap - 1 - len)
                break;
            memcpy(out + len, t + i, n);
            len += n;
            i += n;
            continue;
        }
        n = strcspn(t + i + 1, "}");
        if (n == 4 && strncmp(t + i + 1, "rule", 4) == 0) {
            v = r->name;
        } else if (n == 4 && strncmp(t + i + 1, "host", 4) == 0) {
            v = host;
        } else if (n == 4 && strncmp(t + i + 1, "unit", 4) == 0) {
            v = unit;
        } else if (n == 5 && strncmp(t + i + 1, "count", 5) == 0) {
            snprintf(num, sizeof(num), "%lu", count);
            v = num;
        } else {
            int c = capture_index(r, t + i + 1, n);
            v = c >= 0 ? rs->cap_values[c] : "";
        }
        i += n + (t[i + 1 + n] == '}' ? 2 : 1);
        n = strlen(v);
        if (n > cap - 1 - len) {
            n = cut_utf8(v, n, cap - 1 - len);
            memcpy(out + len, v, n);
            len += n;
            break; /* nothing after a cut value */
        }
        memcpy(out + len, v, n);
        len += n;
    }
    out[len] = '\0';
}

/* The entry's timestamp; with QN_RULES_TIME_ASK asked for at most once per entry. */
static long long entry_time(struct qn_rules *rs, const struct qn_rules_entry *entry)
{
    const void *v = NULL;
    char num[24];
    size_t n = 0;

    if (entry->time_usec != QN_RULES_TIME_ASK)
        return entry->time_usec;
    if (rs->time_gen != rs->gen) {
        rs->time_cache = 0;
        if (entry->get(entry->ctx, "__REALTIME_TIMESTAMP", &v, &n) > 0 && v != NULL && n > 0 &&
            n < sizeof(num)) {
            memcpy(num, v, n);
            num[n] = '\0';
            rs->time_cache = strtoll(num, NULL, 10);
        }
        rs->time_gen = rs->gen;
    }
    return rs->time_cache;
}

/* Fill and deliver the alert of rule R for the current entry. */
static enum qn_status deliver(struct qn_rules *rs, const struct rule *r,
                              const struct qn_rules_entry *entry, unsigned long count,
                              unsigned long suppressed, const struct slot *s, int32_t si,
                              qn_rules_alert_fn on_alert, void *ctx)
{
    struct qn_rules_alert a;
    size_t i;

    memset(&a, 0, sizeof(a));
    a.rule = r->name;
    a.count = count;
    a.suppressed = suppressed;
    a.n_captures = r->n_captures;
    for (i = 0; i < r->n_captures; i++) {
        a.capture_names[i] = r->captures[i].name;
        a.capture_values[i] = rs->cap_values[i];
    }
    if (s != NULL && r->samples > 0) {
        for (i = 0; i < s->nsamples; i++)
            a.samples[i] = sample_at(r->table, r, si, (s->shead + (uint32_t)i) % r->samples);
        a.n_samples = s->nsamples;
    }
    a.message = fetch_text(rs, entry, F_MESSAGE);
    a.host = fetch_text(rs, entry, F_HOSTNAME);
    a.unit = fetch_unit(rs, entry);
    a.identifier = fetch_text(rs, entry, F_IDENTIFIER);
    a.priority = entry_priority(rs, entry);
    a.time_usec = entry_time(rs, entry);
    expand_subject(rs, r, a.host, a.unit, count);
    a.subject = rs->subject;
    rs->stats.alerts++;
    return on_alert(ctx, &a);
}

/* A match of R: count it, and fire when the threshold is reached outside a cooldown. */
static enum qn_status on_match(struct qn_rules *rs, const struct rule *r,
                               const struct qn_rules_entry *entry, qn_rules_alert_fn on_alert,
                               void *ctx, bool *ret_fired)
{
    struct table *t = r->table;
    const struct field *msg;
    long long now = entry_time(rs, entry);
    unsigned long count, suppressed;
    bool evicted = false;
    struct slot *s;
    uint64_t ident;
    size_t klen;
    int32_t si;
    enum qn_status st;

    *ret_fired = false;
    if (r->re != NULL)
        take_captures(rs, r);
    if (t == NULL) {
        *ret_fired = true;
        return deliver(rs, r, entry, 1, 0, NULL, -1, on_alert, ctx);
    }
    klen = build_key(rs, r, entry);
    ident = fnv1a(FNV_BASIS, rs->keybuf, klen);
    si = table_get(t, rs->seed, ident, rs->keybuf, klen, false, &evicted);
    if (evicted)
        rs->stats.evicted++;
    s = &t->slots[si];
    if (t->lru_head != si) {
        lru_unlink(t, si);
        lru_push_head(t, si);
    }
    if (r->window_usec > 0)
        ring_prune(t, r, s, si, now);
    ring_push(t, r, s, si, now);
    msg = fetch(rs, entry, F_MESSAGE);
    if (msg != NULL)
        sample_push(t, r, s, si, msg->value, msg->len);
    else
        sample_push(t, r, s, si, "", 0);
    if (now < s->cooldown_until) {
        s->suppressed++;
        rs->stats.suppressed++;
        return QN_OK;
    }
    if (s->nhits < r->threshold)
        return QN_OK;
    count = s->nhits;
    suppressed = s->suppressed;
    *ret_fired = true;
    st = deliver(rs, r, entry, count, suppressed, s, si, on_alert, ctx);
    /* Whatever the callback said, the key has fired (see qn_rules_feed). */
    s->nhits = 0;
    s->head = 0;
    s->nsamples = 0;
    s->shead = 0;
    s->suppressed = 0;
    s->cooldown_until = now + r->cooldown_usec;
    return st;
}

/* A new generation invalidates every cached field at once. */
static void new_generation(struct qn_rules *rs)
{
    size_t i;

    if (++rs->gen == 0) {
        for (i = 0; i < rs->n_fields; i++)
            rs->fields[i].gen = 0;
        rs->gen = 1;
    }
}

void qn_rules_entry_begin(struct qn_rules *rs)
{
    new_generation(rs);
}

void qn_rules_entry_offer(struct qn_rules *rs, const void *data, size_t len)
{
    const char *d = data, *eq;
    size_t flen;
    int16_t i;

    eq = memchr(d, '=', len < QN_RULES_FIELD_MAX ? len : QN_RULES_FIELD_MAX);
    if (eq == NULL)
        return;
    flen = (size_t)(eq - d);
    for (i = rs->by_len[flen]; i >= 0; i = rs->next_same_len[i]) {
        struct field *f = &rs->fields[i];
        size_t n;

        if (memcmp(f->name, d, flen) != 0)
            continue;
        if (f->gen == rs->gen)
            return; /* a field given twice: the first counts, as with sd_journal_get_data */
        n = len - flen - 1;
        f->gen = rs->gen;
        f->present = true;
        f->full_len = n;
        f->len = n < f->cap ? n : f->cap;
        memcpy(f->value, eq + 1, f->len);
        f->value[f->len] = '\0';
        return;
    }
}

void qn_rules_entry_end(struct qn_rules *rs)
{
    size_t i;

    for (i = 0; i < rs->n_fields; i++) {
        if (rs->fields[i].gen != rs->gen) {
            rs->fields[i].gen = rs->gen;
            rs->fields[i].present = false;
        }
    }
}

bool qn_rules_reads_fields_always(const struct qn_rules *rs)
{
    size_t i;

    for (i = 0; rs != NULL && i < rs->n_rules; i++) {
        if (rs->rules[i]->re == NULL)
            return true;
    }
    return false;
}

/* The getter of an entry whose fields were offered: every field is known already. */
static int no_get(void *ctx, const char *field, const void **ret_value, size_t *ret_len)
{
    (void)ctx;
    (void)field;
    (void)ret_value;
    (void)ret_len;
    return 0;
}

enum qn_status qn_rules_feed(struct qn_rules *rs, const struct qn_rules_entry *entry,
                             qn_rules_alert_fn on_alert, void *ctx, size_t *ret_fired)
{
    struct qn_rules_entry offered;
    size_t i, fired = 0;
    enum qn_status st = QN_OK;

    if (rs == NULL || entry == NULL || on_alert == NULL)
        return QN_EINVAL;
    if (entry->get != NULL) {
        new_generation(rs);
    } else {
        offered = *entry;
        offered.get = no_get;
        entry = &offered;
    }
    rs->stats.entries++;
    for (i = 0; i < rs->n_rules; i++) {
        const struct rule *r = rs->rules[i];
        bool f = false;

        if (!rule_matches(rs, r, entry))
            continue;
        rs->stats.matches++;
        st = on_match(rs, r, entry, on_alert, ctx, &f);
        if (f && st == QN_OK)
            fired++;
        if (st != QN_OK)
            break;
    }
    if (ret_fired != NULL)
        *ret_fired = fired;
    return st;
}

/* ------------------------------------------------------------------------------------ */
/* the journal-level filter                                                             */

int qn_rules_filter(const struct qn_rules *rs, const struct qn_rules_filter_ops *ops, void *ctx,
                    bool *ret_possible)
{
    size_t i, k;
    int e;

    *ret_possible = false;
    if (rs == NULL || rs->n_rules == 0)
        return 0;
    for (i = 0; i < rs->n_rules; i++) {
        if (rs->rules[i]->n_matches == 0 && !rs->rules[i]->has_priority)
            return 0;
    }
    for (i = 0; i < rs->n_rules; i++) {
        const struct rule *r = rs->rules[i];
        char data[QN_RULES_FIELD_MAX + QN_RULES_VALUE_MAX + 2];

        if (i > 0 && (e = ops->add_disjunction(ctx)) < 0)
            return e;
        for (k = 0; k < r->n_matches; k++) {
            const struct rule_match *m = &r->matches[k];
            int n = snprintf(data, sizeof(data), "%s=", rs->fields[m->field].name);
            if (n < 0 || (size_t)n + m->len >= sizeof(data))
                return -EINVAL;
            memcpy(data + n, m->value, m->len);
            if ((e = ops->add_match(ctx, data, (size_t)n + m->len)) < 0)
                return e;
        }
        /* A priority bound is one more field: PRIORITY=lo ... PRIORITY=hi, ORed.  When the
         * rule also matches PRIORITY itself, sd-journal ORs the two lists: a superset, and
         * the matcher checks both anyway. */
        if (r->has_priority) {
            int p;
            for (p = r->prio_min; p <= r->prio_max; p++) {
                char pd[16];
                int n = snprintf(pd, sizeof(pd), "PRIORITY=%d", p);
                if ((e = ops->add_match(ctx, pd, (size_t)n)) < 0)
                    return e;
            }
        }
    }
    *ret_possible = true;
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* state: save, load, adopt                                                             */

static enum qn_status put_escaped(struct qn_buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    enum qn_status r = QN_OK;
    size_t i;

    if (n == 0)
        return qn_buf_putc(out, '-'); /* an empty key still needs a token */
    for (i = 0; i < n && r == QN_OK; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c == 0x7f || c == '%' || (i == 0 && c == '-')) {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            r = qn_buf_append(out, e, 3);
        } else {
            r = qn_buf_putc(out, (char)c);
        }
    }
    return r;
}

static bool slot_live(const struct rule *r, const struct slot *s, long long now)
{
    const long long *ring = ring_of(r->table, r, (int32_t)(s - r->table->slots));
    size_t newest;

    if (s->suppressed > 0 || s->cooldown_until > now)
        return true;
    if (s->nhits == 0)
        return false;
    newest = (s->head + s->nhits - 1) % r->threshold;
    return r->window_usec == 0 || ring[newest] > now - r->window_usec;
}

enum qn_status qn_rules_state_save(const struct qn_rules *rs, long long now_usec, size_t budget,
                                   struct qn_buf *out)
{
    size_t start = out->len, i;
    enum qn_status r;

    if (rs == NULL)
        return QN_EINVAL;
    r = qn_buf_puts(out, STATE_VERSION_LINE "\n");
    for (i = 0; i < rs->n_rules && r == QN_OK; i++) {
        const struct rule *ru = rs->rules[i];
        const struct table *t = ru->table;
        bool header = false;
        int32_t si;

        if (t == NULL)
            continue;
        for (si = t->lru_head; si >= 0 && r == QN_OK; si = t->slots[si].next) {
            const struct slot *s = &t->slots[si];
            const long long *ring = ring_of(t, ru, si);
            size_t mark = out->len;
            uint32_t k;

            if (!slot_live(ru, s, now_usec))
                continue;
            if (!header) {
                r = qn_buf_printf(out, "rule %s %016llx\n", ru->name,
                                  (unsigned long long)ru->fingerprint);
                header = true;
            }
            if (r == QN_OK)
                r = qn_buf_puts(out, "key ");
            if (r == QN_OK)
                r = put_escaped(out, s->key, s->key_len);
            if (r == QN_OK)
                r = qn_buf_printf(out, " %u %016llx %lld %u %u", s->full_len,
                                  (unsigned long long)s->ident, s->cooldown_until, s->suppressed,
                                  s->nhits);
            for (k = 0; k < s->nhits && r == QN_OK; k++)
                r = qn_buf_printf(out, " %lld", ring[(s->head + k) % ru->threshold]);
            if (r == QN_OK)
                r = qn_buf_putc(out, '\n');
            for (k = 0; k < s->nsamples && r == QN_OK; k++) {
                const char *smp = sample_at(t, ru, si, (s->shead + k) % ru->samples);
                r = qn_buf_puts(out, "sample ");
                if (r == QN_OK)
                    r = put_escaped(out, smp, strlen(smp));
                if (r == QN_OK)
                    r = qn_buf_putc(out, '\n');
            }
            if (r == QN_OK && out->len - start > budget) {
                /* over budget: drop this key and stop (older keys start from zero) */
                out->len = mark;
                out->data[mark] = '\0';
                goto done;
            }
        }
    }
done:
    if (r != QN_OK) {
        qn_buf_truncate(out, start);
    }
    return r;
}

/* Decode one escaped token (N bytes at S) into OUT (CAP bytes); returns the length or -1. */
static long unescape(const char *s, size_t n, char *out, size_t cap)
{
    size_t i, len = 0;

    if (n == 1 && s[0] == '-')
        return 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int a, b;
            if (i + 2 >= n)
                return -1;
            a = qn_text_hex_digit(s[i + 1]);
            b = qn_text_hex_digit(s[i + 2]);
            if (a < 0 || b < 0)
                return -1;
            c = (char)(a * 16 + b);
            i += 2;
        }
        if (len + 1 >= cap)
            return -1;
        out[len++] = c;
    }
    out[len] = '\0';
    return (long)len;
}

/* The next blank-separated token of the line [*P, END); false at the end. */
static bool token(const char **p, const char *end, const char **ret, size_t *ret_len)
{
    const char *s = *p;

    while (s < end && *s == ' ')
        s++;
    if (s >= end)
        return false;
    *ret = s;
    while (s < end && *s != ' ')
        s++;
    *ret_len = (size_t)(s - *ret);
    *p = s;
    return true;
}

static bool token_ll(const char **p, const char *end, long long *ret)
{
    char buf[32], *e = NULL;
    const char *t;
    size_t n;

    if (!token(p, end, &t, &n) || n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, t, n);
    buf[n] = '\0';
    errno = 0;
    *ret = strtoll(buf, &e, 10);
    return errno == 0 && *e == '\0' && (buf[0] == '-' || (buf[0] >= '0' && buf[0] <= '9'));
}

static bool token_hex64(const char **p, const char *end, uint64_t *ret)
{
    char buf[32], *e = NULL;
    const char *t;
    size_t n;

    if (!token(p, end, &t, &n) || n != 16)
        return false;
    memcpy(buf, t, n);
    buf[n] = '\0';
    errno = 0;
    *ret = strtoull(buf, &e, 16);
    return errno == 0 && *e == '\0';
}

static void clear_all_state(struct qn_rules *rs)
{
    size_t i;

    for (i = 0; i < rs->n_rules; i++) {
        if (rs->rules[i]->table != NULL)
            table_clear(rs->rules[i]->table);
    }
}

enum qn_status qn_rules_state_load(struct qn_rules *rs, const char *text, size_t len)
{
    const char *pos = text, *end = text + len;
    struct rule *cur = NULL;  /* the rule the next key lines belong to, or NULL to skip */
    struct slot *slot = NULL; /* the key the next sample lines belong to, or NULL */
    int32_t slot_index = -1;
    bool first = true;
    char *tmp;
    enum qn_status r = QN_EINVAL;

    if (rs == NULL || (text == NULL && len > 0))
        return QN_EINVAL;
    clear_all_state(rs);
    tmp = malloc(QN_RULES_SAMPLE_MAX * 4 + QN_RULES_KEY_MAX * 4);
    if (tmp == NULL)
        return QN_ENOMEM;
    while (pos < end) {
        const char *nl = memchr(pos, '\n', (size_t)(end - pos));
        const char *le = nl != NULL ? nl : end;
        const char *p = pos, *t;
        size_t tn;

        pos = nl != NULL ? nl + 1 : end;
        if (le == p)
            continue;
        if (first) {
            if ((size_t)(le - p) != strlen(STATE_VERSION_LINE) ||
                memcmp(p, STATE_VERSION_LINE, (size_t)(le - p)) != 0)
                goto out;
            first = false;
            continue;
        }
        if (!token(&p, le, &t, &tn))
            goto out;
        if (tn == 4 && memcmp(t, "rule", 4) == 0) {
            const char *nm;
            size_t nn, i;
            uint64_t fp;

            if (!token(&p, le, &nm, &nn) || !token_hex64(&p, le, &fp))
                goto out;
            cur = NULL;
            slot = NULL;
            for (i = 0; i < rs->n_rules; i++) {
                struct rule *ru = rs->rules[i];
                if (strlen(ru->name) == nn && memcmp(ru->name, nm, nn) == 0 &&
                    ru->fingerprint == fp && ru->table != NULL)
                    cur = ru;
            }
        } else if (tn == 3 && memcmp(t, "key", 3) == 0) {
            long long full_len, cooldown, suppressed, nhits, ts;
            const char *kt;
            size_t kn;
            long klen;
            uint64_t ident;
            bool evicted = false;
            long long k;

            slot = NULL;
            if (!token(&p, le, &kt, &kn) || !token_ll(&p, le, &full_len) ||
                !token_hex64(&p, le, &ident) || !token_ll(&p, le, &cooldown) ||
                !token_ll(&p, le, &suppressed) || !token_ll(&p, le, &nhits))
                goto out;
            klen = unescape(kt, kn, tmp, QN_RULES_KEY_MAX + 1);
            if (klen < 0 || full_len < klen || full_len > UINT32_MAX ||
                (full_len > klen && klen != QN_RULES_KEY_MAX) ||
                (full_len <= QN_RULES_KEY_MAX && full_len != klen) || suppressed < 0 ||
                suppressed > UINT32_MAX || nhits < 0)
                goto out;
            if (cur == NULL)
                continue;
            if ((unsigned long long)nhits > cur->threshold)
                goto out;
            if (cur->table->used >= cur->table->cap)
                continue; /* full: the rest of this rule's keys start from zero */
            if (table_find(cur->table, rs->seed, ident, tmp, (size_t)full_len) >= 0)
                goto out; /* a key twice */
            slot_index =
                table_get(cur->table, rs->seed, ident, tmp, (size_t)full_len, true, &evicted);
            slot = &cur->table->slots[slot_index];
            slot->cooldown_until = cooldown;
            slot->suppressed = (uint32_t)suppressed;
            for (k = 0; k < nhits; k++) {
                if (!token_ll(&p, le, &ts))
                    goto out;
                ring_push(cur->table, cur, slot, slot_index, ts);
            }
            if (token(&p, le, &t, &tn))
                goto out;
        } else if (tn == 6 && memcmp(t, "sample", 6) == 0) {
            long n;
            if (!token(&p, le, &t, &tn))
                goto out;
            n = unescape(t, tn, tmp, QN_RULES_SAMPLE_MAX * 4);
            if (n < 0)
                goto out;
            if (slot != NULL && cur != NULL && cur->samples > 0)
                sample_push(cur->table, cur, slot, slot_index, tmp, (size_t)n);
        } else {
            goto out;
        }
    }
    r = QN_OK;
out:
    if (r != QN_OK)
        clear_all_state(rs);
    free(tmp);
    return r;
}

void qn_rules_state_adopt(struct qn_rules *to, struct qn_rules *from)
{
    size_t i, k;

    if (to == NULL || from == NULL)
        return;
    for (i = 0; i < to->n_rules; i++) {
        struct rule *t = to->rules[i];
        for (k = 0; k < from->n_rules; k++) {
            struct rule *f = from->rules[k];
            if (strcmp(f->name, t->name) == 0 && f->fingerprint == t->fingerprint &&
                f->table != NULL && t->table != NULL) {
                struct table *swap = t->table;
                /* The buckets depend on the seed: rehash into TO's seed. */
                t->table = f->table;
                f->table = swap;
                if (to->seed != from->seed) {
                    struct table *tb = t->table;
                    size_t j;
                    for (j = 0; j < tb->nbuckets; j++)
                        tb->buckets[j] = -1;
                    for (j = 0; j < tb->cap; j++) {
                        struct slot *s = &tb->slots[j];
                        size_t b;
                        if (!s->used)
                            continue;
                        b = bucket_of(tb, to->seed, s->ident);
                        s->hnext = tb->buckets[b];
                        tb->buckets[b] = (int32_t)j;
                    }
                }
                table_clear(f->table);
                break;
            }
        }
    }
}

void qn_rules_stats(const struct qn_rules *rs, struct qn_rules_stats *ret)
{
    if (rs == NULL) {
        memset(ret, 0, sizeof(*ret));
        return;
    }
    *ret = rs->stats;
    ret->state_bytes = rs->state_bytes;
}
