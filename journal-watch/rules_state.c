/*
 * rules_state — the threshold and cooldown state of a rule set: the
 * per-rule tables (rules_internal.h says how they are laid out), counting
 * one match, and the state's text form (qn_rules_state_save, _load,
 * _adopt).  Contract: rules.h ("Thresholds", "Bounds", "Persistence").
 *
 * Nothing here allocates after a table is built, except the scratch
 * buffer of one qn_rules_state_load() call.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rules_internal.h"
#include "text.h"

#define STATE_VERSION_LINE "rules-state 1"

/* ------------------------------------------------------------------------------------ */
/* threshold tables                                                                     */

size_t rules_table_bytes(size_t cap, unsigned threshold, unsigned samples, size_t *ret_buckets)
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
    t->overflow_until = 0;
    t->overflow_suppressed = 0;
}

struct table *rules_table_free(struct table *t)
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

struct table *rules_table_new(size_t cap, unsigned threshold, unsigned samples)
{
    struct table *t = calloc(1, sizeof(*t));

    if (t == NULL)
        return NULL;
    t->cap = cap;
    t->bytes = rules_table_bytes(cap, threshold, samples, &t->nbuckets);
    /* calloc: pages are touched only as keys arrive, so a big table costs
     * address space, not memory, until it fills. */
    t->buckets = calloc(t->nbuckets, sizeof(int32_t));
    t->slots = calloc(cap, sizeof(struct slot));
    t->ring = calloc(cap * (size_t)threshold, sizeof(long long));
    t->samples = samples > 0 ? calloc(cap * (size_t)samples, QN_RULES_SAMPLE_MAX) : NULL;
    if (t->buckets == NULL || t->slots == NULL || t->ring == NULL ||
        (samples > 0 && t->samples == NULL))
        return rules_table_free(t);
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
 * A new slot for KEY, which is not in T: slot VICTIM (evicted first; -1 when the table is
 * not full and the next unused slot is taken).  AT_TAIL: the new key goes to the LRU tail
 * (state loading, which sees keys most recent first) instead of the head.
 */
static int32_t table_insert(struct table *t, uint64_t seed, uint64_t ident, const char *key,
                            size_t full_len, bool at_tail, int32_t victim)
{
    size_t keep = full_len < QN_RULES_KEY_MAX ? full_len : QN_RULES_KEY_MAX;
    struct slot *s;
    int32_t i;
    size_t b;

    if (victim < 0) {
        /* Slots fill in index order and are only freed all at once (table_clear), so the
         * first unused one is always at index t->used. */
        i = (int32_t)t->used++;
    } else {
        i = victim;
        s = &t->slots[i];
        bucket_remove(t, bucket_of(t, seed, s->ident), i);
        lru_unlink(t, i);
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
    char escaped[QN_RULES_SAMPLE_MAX * 4];

    if (r->samples == 0)
        return;
    if (s->nsamples == r->samples) {
        s->shead = (s->shead + 1) % r->samples;
        s->nsamples--;
    }
    /* A NUL would end the line early: shown as "\0" (enough of the line for the sample). */
    if (memchr(msg, '\0', len) != NULL) {
        len = rules_nul_escape(msg, len, escaped, sizeof(escaped));
        msg = escaped;
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
/* a match counted                                                                      */

/*
 * The slot a new key takes in R's full table T at NOW (rules.h "Overflow"), or -1 when
 * none may be taken.  Looks at most QN_RULES_EVICT_SCAN keys from the least recent end:
 * the first with nothing left (no hit in the window, no cooldown, nothing suppressed) is
 * taken at once; else the first with nothing in its window, then the first live one below
 * half the threshold (*RET_LOST: a live count is lost).  Keys at least half way are moved
 * to the most recent end, so that the next look sees other keys.  Rules without a window
 * (cooldown only) simply give up their least recent key.
 */
static int32_t choose_victim(struct table *t, const struct rule *r, long long now, bool *ret_lost)
{
    int32_t i = t->lru_tail, quiet = -1, live = -1;
    unsigned looked;

    *ret_lost = false;
    if (r->window_usec == 0)
        return t->lru_tail;
    for (looked = 0; i >= 0 && looked < QN_RULES_EVICT_SCAN; looked++) {
        struct slot *s = &t->slots[i];
        int32_t more_recent = s->prev;

        ring_prune(t, r, s, i, now);
        if (s->nhits == 0 && s->suppressed == 0 && s->cooldown_until <= now)
            return i;
        if (s->nhits == 0) {
            if (quiet < 0)
                quiet = i;
        } else if ((size_t)s->nhits * 2 < r->threshold) {
            if (live < 0)
                live = i;
        } else if (t->lru_head != i) {
            lru_unlink(t, i); /* kept: looked at again only after every other key */
            lru_push_head(t, i);
        }
        i = more_recent;
    }
    if (quiet >= 0)
        return quiet;
    *ret_lost = true;
    return live;
}

int32_t rules_table_hit(struct qn_rules *rs, const struct rule *r, const char *key, size_t len,
                        long long now, const char *msg, size_t msg_len, bool *ret_fires,
                        bool *ret_overflow)
{
    struct table *t = r->table;
    uint64_t ident = fnv1a(FNV_BASIS, key, len);
    bool lost = false;
    struct slot *s;
    int32_t si;

    *ret_fires = false;
    *ret_overflow = false;
    si = table_find(t, rs->seed, ident, key, len);
    if (si < 0) {
        int32_t victim = -1;

        if (t->used >= t->cap) {
            long long quiet = r->cooldown_usec > r->window_usec ? r->cooldown_usec : r->window_usec;

            if (t->overflow_until > now + quiet) /* loaded from a state file: bounded */
                t->overflow_until = now + quiet;
            victim = choose_victim(t, r, now, &lost);
            if (lost) {
                rs->stats.overflows++;
                if (now >= t->overflow_until)
                    *ret_overflow = true;
                else if (t->overflow_suppressed < UINT32_MAX)
                    t->overflow_suppressed++;
            }
            if (victim < 0)
                return -1; /* every key looked at is close to firing: this match waits */
            rs->stats.evicted++;
        }
        si = table_insert(t, rs->seed, ident, key, len, false, victim);
    }
    s = &t->slots[si];
    if (t->lru_head != si) {
        lru_unlink(t, si);
        lru_push_head(t, si);
    }
    /* A cooldown loaded from a state file never lasts longer than the rule's own. */
    if (s->cooldown_until > now + r->cooldown_usec)
        s->cooldown_until = now + r->cooldown_usec;
    if (r->window_usec > 0)
        ring_prune(t, r, s, si, now);
    ring_push(t, r, s, si, now);
    sample_push(t, r, s, si, msg, msg_len);
    if (now < s->cooldown_until) {
        s->suppressed++;
        rs->stats.suppressed++;
        return si;
    }
    *ret_fires = s->nhits >= r->threshold;
    return si;
}

void rules_table_overflowed(const struct rule *r, long long now)
{
    long long quiet = r->cooldown_usec > r->window_usec ? r->cooldown_usec : r->window_usec;

    r->table->overflow_until = now + quiet;
    r->table->overflow_suppressed = 0;
}

void rules_table_fired(const struct rule *r, int32_t si, long long now)
{
    struct slot *s = &r->table->slots[si];

    s->nhits = 0;
    s->head = 0;
    s->nsamples = 0;
    s->shead = 0;
    s->suppressed = 0;
    s->cooldown_until = now + r->cooldown_usec;
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
        if (t->overflow_until > now_usec || t->overflow_suppressed > 0) {
            r = qn_buf_printf(out, "rule %s %016llx\noverflow %lld %u\n", ru->name,
                              (unsigned long long)ru->fingerprint, t->overflow_until,
                              t->overflow_suppressed);
            header = true;
        }
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
            slot_index = table_insert(cur->table, rs->seed, ident, tmp, (size_t)full_len, true, -1);
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
        } else if (tn == 8 && memcmp(t, "overflow", 8) == 0) {
            long long until, held;

            slot = NULL;
            if (!token_ll(&p, le, &until) || !token_ll(&p, le, &held) || held < 0 ||
                held > UINT32_MAX || token(&p, le, &t, &tn))
                goto out;
            if (cur != NULL) {
                cur->table->overflow_until = until;
                cur->table->overflow_suppressed = (uint32_t)held;
            }
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
