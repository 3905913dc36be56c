/*
 * tally — see tally.h for the contract and the state form.
 */
#include "tally.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_HEADER "qqnotify-tally 1\n"

void qn_tally_init(struct qn_tally *t, long long since)
{
    memset(t, 0, sizeof(*t));
    t->since = since;
}

static unsigned long long add_count(unsigned long long a, unsigned long long b)
{
    return a > QN_TALLY_COUNT_MAX - b || b > QN_TALLY_COUNT_MAX ? QN_TALLY_COUNT_MAX : a + b;
}

static void widen(long long *first, long long *last, bool had, long long f, long long l)
{
    if (!had || f < *first)
        *first = f;
    if (!had || l > *last)
        *last = l;
}

static bool id_valid(const char *id)
{
    size_t i;

    for (i = 0; id[i] != '\0'; i++) {
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    }
    return i == QN_SILENCE_ID_LEN;
}

static long index_of(const struct qn_tally *t, const char *id)
{
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->silenced[i].id, id) == 0)
            return (long)i;
    }
    return -1;
}

static struct qn_tally_count *find(struct qn_tally *t, const char *id)
{
    long i = index_of(t, id);

    return i >= 0 ? &t->silenced[i] : NULL;
}

/* Add COUNT events (FIRST..LAST) under ID. */
static void add_silenced(struct qn_tally *t, const char *id, unsigned long long count,
                         long long first, long long last)
{
    struct qn_tally_count *c;

    if (count == 0)
        return;
    if (id == NULL || !id_valid(id)) {
        t->silenced_other = add_count(t->silenced_other, count);
        return;
    }
    c = find(t, id);
    if (c == NULL) {
        if (t->n == QN_TALLY_SILENCES_MAX) {
            t->silenced_other = add_count(t->silenced_other, count);
            return;
        }
        c = &t->silenced[t->n++];
        memcpy(c->id, id, sizeof(c->id));
    }
    widen(&c->first, &c->last, c->count > 0, first, last);
    c->count = add_count(c->count, count);
}

static void add_known(struct qn_tally *t, unsigned long long count, long long first, long long last)
{
    if (count == 0)
        return;
    widen(&t->known_first, &t->known_last, t->known > 0, first, last);
    t->known = add_count(t->known, count);
}

void qn_tally_silenced(struct qn_tally *t, const char *id, long long when)
{
    if (t != NULL)
        add_silenced(t, id, 1, when, when);
}

void qn_tally_known(struct qn_tally *t, long long when)
{
    if (t != NULL)
        add_known(t, 1, when, when);
}

void qn_tally_mailed(struct qn_tally *t, enum qn_severity_class k)
{
    if (t != NULL && (unsigned)k < QN_SEVCLASS_COUNT)
        t->mailed[k] = add_count(t->mailed[k], 1);
}

const struct qn_tally_count *qn_tally_get(const struct qn_tally *t, const char *id)
{
    long i = t != NULL && id != NULL ? index_of(t, id) : -1;

    return i >= 0 ? &t->silenced[i] : NULL;
}

bool qn_tally_empty(const struct qn_tally *t)
{
    if (t == NULL)
        return true;
    for (size_t k = 0; k < QN_SEVCLASS_COUNT; k++)
        if (t->mailed[k] > 0)
            return false;
    return t->n == 0 && t->silenced_other == 0 && t->known == 0;
}

unsigned long long qn_tally_silenced_total(const struct qn_tally *t)
{
    unsigned long long sum = 0;

    if (t == NULL)
        return 0;
    for (size_t i = 0; i < t->n; i++)
        sum = add_count(sum, t->silenced[i].count);
    return add_count(sum, t->silenced_other);
}

void qn_tally_merge(struct qn_tally *into, const struct qn_tally *add)
{
    if (into == NULL || add == NULL)
        return;
    for (size_t i = 0; i < add->n; i++) {
        const struct qn_tally_count *c = &add->silenced[i];

        add_silenced(into, c->id, c->count, c->first, c->last);
    }
    into->silenced_other = add_count(into->silenced_other, add->silenced_other);
    add_known(into, add->known, add->known_first, add->known_last);
    for (size_t k = 0; k < QN_SEVCLASS_COUNT; k++)
        into->mailed[k] = add_count(into->mailed[k], add->mailed[k]);
}

enum qn_status qn_tally_save(const struct qn_tally *t, struct qn_buf *out)
{
    size_t start;
    enum qn_status r;

    if (t == NULL || out == NULL || t->n > QN_TALLY_SILENCES_MAX)
        return QN_EINVAL;
    start = out->len;
    r = qn_buf_printf(out, STATE_HEADER "since %lld\n", t->since);
    for (size_t i = 0; r == QN_OK && i < t->n; i++) {
        const struct qn_tally_count *c = &t->silenced[i];

        r = qn_buf_printf(out, "silenced %s %llu %lld %lld\n", c->id, c->count, c->first, c->last);
    }
    if (r == QN_OK && t->silenced_other > 0)
        r = qn_buf_printf(out, "silenced-other %llu\n", t->silenced_other);
    if (r == QN_OK && t->known > 0)
        r = qn_buf_printf(out, "known %llu %lld %lld\n", t->known, t->known_first, t->known_last);
    for (size_t k = 0; r == QN_OK && k < QN_SEVCLASS_COUNT; k++)
        if (t->mailed[k] > 0)
            r = qn_buf_printf(out, "mailed %s %llu\n",
                              qn_severity_class_name((enum qn_severity_class)k), t->mailed[k]);
    if (r != QN_OK)
        qn_buf_truncate(out, start);
    return r;
}

/* ---- parsing ---- */

/* " NUMBER" at *P (before END): 1..20 digits, followed by a blank or END; values above CAP
 * become CAP.  *P moves past it. */
static bool number(const char **p, const char *end, unsigned long long cap, unsigned long long *ret)
{
    const char *s = *p;
    unsigned long long v = 0;
    size_t n = 0;

    if (s == end || *s != ' ')
        return false;
    for (s++; s < end && *s >= '0' && *s <= '9' && n < 20; s++, n++) {
        if (v <= cap)
            v = v * 10 + (unsigned long long)(*s - '0');
    }
    if (n == 0 || (s < end && *s != ' '))
        return false;
    *p = s;
    *ret = v > cap ? cap : v;
    return true;
}

/* FIRST LAST clamped into 0..NOW, FIRST <= LAST. */
static bool times(const char **p, const char *end, long long now, long long *first, long long *last)
{
    unsigned long long f, l;

    if (!number(p, end, (unsigned long long)now, &f) ||
        !number(p, end, (unsigned long long)now, &l))
        return false;
    *first = (long long)f;
    *last = (long long)l;
    if (*first > *last)
        *first = *last;
    return true;
}

enum parsed { P_SINCE = 1, P_SILENCED, P_OTHER, P_KNOWN, P_MAILED };

/* "CLASS COUNT" of a "mailed" line: a class of severity.h, each once and in its order. */
static bool load_mailed(struct qn_tally *t, const char *p, const char *end, enum parsed *last)
{
    enum qn_severity_class k;
    char name[16];
    const char *sp = memchr(p, ' ', (size_t)(end - p));

    if (sp == NULL || (size_t)(sp - p) >= sizeof(name))
        return false;
    memcpy(name, p, (size_t)(sp - p));
    name[sp - p] = '\0';
    if (!qn_severity_class_parse(name, &k) || t->mailed[k] != 0)
        return false;
    for (size_t j = (size_t)k + 1; j < QN_SEVCLASS_COUNT; j++)
        if (t->mailed[j] != 0)
            return false; /* out of order */
    p = sp;
    if (!number(&p, end, QN_TALLY_COUNT_MAX, &t->mailed[k]) || t->mailed[k] == 0 || p != end)
        return false;
    *last = P_MAILED;
    return true;
}

static bool load_line(struct qn_tally *t, const char *line, size_t n, long long now,
                      enum parsed *last)
{
    const char *p, *end = line + n;
    unsigned long long v;

    if (*last == 0) {
        if (n < 6 || memcmp(line, "since ", 6) != 0)
            return false;
        p = line + 5;
        if (!number(&p, end, (unsigned long long)now, &v) || p != end)
            return false;
        t->since = (long long)v;
        *last = P_SINCE;
        return true;
    }
    if (n > 9 && memcmp(line, "silenced ", 9) == 0 && *last <= P_SILENCED) {
        struct qn_tally_count c;

        memset(&c, 0, sizeof(c));
        p = line + 9;
        if (end - p < QN_SILENCE_ID_LEN)
            return false;
        memcpy(c.id, p, QN_SILENCE_ID_LEN);
        p += QN_SILENCE_ID_LEN;
        if (!id_valid(c.id) || find(t, c.id) != NULL || t->n == QN_TALLY_SILENCES_MAX ||
            !number(&p, end, QN_TALLY_COUNT_MAX, &c.count) || c.count == 0 ||
            !times(&p, end, now, &c.first, &c.last) || p != end)
            return false;
        t->silenced[t->n++] = c;
        *last = P_SILENCED;
        return true;
    }
    if (n > 15 && memcmp(line, "silenced-other ", 15) == 0 && *last <= P_SILENCED) {
        p = line + 14;
        if (!number(&p, end, QN_TALLY_COUNT_MAX, &t->silenced_other) || t->silenced_other == 0 ||
            p != end)
            return false;
        *last = P_OTHER;
        return true;
    }
    if (n > 6 && memcmp(line, "known ", 6) == 0 && *last <= P_OTHER) {
        p = line + 5;
        if (!number(&p, end, QN_TALLY_COUNT_MAX, &t->known) || t->known == 0 ||
            !times(&p, end, now, &t->known_first, &t->known_last) || p != end)
            return false;
        *last = P_KNOWN;
        return true;
    }
    if (n > 7 && memcmp(line, "mailed ", 7) == 0 && *last <= P_MAILED)
        return load_mailed(t, line + 7, end, last);
    return false;
}

enum qn_status qn_tally_load(struct qn_tally *t, const char *text, size_t len, long long now)
{
    size_t pos, hl = strlen(STATE_HEADER);
    enum parsed last = 0;

    if (t == NULL)
        return QN_EINVAL;
    qn_tally_init(t, 0);
    if (now < 0)
        now = 0;
    if (text == NULL || len < hl || memcmp(text, STATE_HEADER, hl) != 0)
        goto bad;
    for (pos = hl; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);

        if (nl == NULL || memchr(text + pos, '\0', (size_t)(nl - (text + pos))) != NULL ||
            !load_line(t, text + pos, (size_t)(nl - (text + pos)), now, &last))
            goto bad;
        pos = (size_t)(nl - text) + 1;
    }
    if (last == 0)
        goto bad;
    return QN_OK;
bad:
    qn_tally_init(t, 0);
    return QN_EINVAL;
}

/* ---- the state file ---- */

enum qn_status qn_tally_read(struct qn_spool *sp, struct qn_tally *t, long long now)
{
    char *buf;
    size_t len = 0;
    enum qn_status r;

    if (sp == NULL || t == NULL)
        return QN_EINVAL;
    qn_tally_init(t, 0);
    buf = malloc(QN_TALLY_STATE_MAX + 1);
    if (buf == NULL)
        return QN_ENOMEM;
    r = qn_spool_state_read(sp, QN_TALLY_STATE_NAME, buf, QN_TALLY_STATE_MAX + 1, &len);
    if (r == QN_OK)
        r = qn_tally_load(t, buf, len, now);
    free(buf);
    return r;
}

static enum qn_status write_tally(struct qn_spool *sp, const struct qn_tally *t)
{
    struct qn_buf b;
    enum qn_status r;

    qn_buf_init(&b, QN_TALLY_STATE_MAX);
    r = qn_tally_save(t, &b);
    if (r == QN_OK)
        r = qn_spool_state_write(sp, QN_TALLY_STATE_NAME, b.data, b.len);
    qn_buf_free(&b);
    return r;
}

/* Take the lock and read the file into *CUR (a fresh tally starting at NOW when there is
 * none or it is unreadable); on QN_OK *RET_FD holds the lock. */
static enum qn_status locked_read(struct qn_spool *sp, struct qn_tally *cur, long long now,
                                  int *ret_fd)
{
    enum qn_status r = qn_spool_state_lock(sp, QN_TALLY_STATE_NAME, QN_TALLY_LOCK_MS, ret_fd);

    if (r != QN_OK)
        return r;
    r = qn_tally_read(sp, cur, now);
    if (r == QN_ENOTFOUND || r == QN_EINVAL) {
        qn_tally_init(cur, now);
        r = QN_OK;
    }
    if (r != QN_OK) {
        qn_spool_state_unlock(*ret_fd);
        *ret_fd = -1;
    }
    return r;
}

enum qn_status qn_tally_commit(struct qn_spool *sp, const struct qn_tally *add, long long now)
{
    struct qn_tally *cur;
    enum qn_status r;
    int fd = -1;

    if (sp == NULL || add == NULL)
        return QN_EINVAL;
    if (qn_tally_empty(add))
        return QN_OK;
    cur = malloc(sizeof(*cur));
    if (cur == NULL)
        return QN_ENOMEM;
    r = locked_read(sp, cur, now, &fd);
    if (r == QN_OK) {
        qn_tally_merge(cur, add);
        r = write_tally(sp, cur);
        qn_spool_state_unlock(fd);
    }
    free(cur);
    return r;
}

enum qn_status qn_tally_take(struct qn_spool *sp, struct qn_tally *ret, long long now)
{
    struct qn_tally *fresh;
    enum qn_status r;
    int fd = -1;

    if (sp == NULL || ret == NULL)
        return QN_EINVAL;
    fresh = malloc(sizeof(*fresh));
    if (fresh == NULL)
        return QN_ENOMEM;
    r = locked_read(sp, ret, now, &fd);
    if (r == QN_OK) {
        qn_tally_init(fresh, now);
        r = write_tally(sp, fresh);
        qn_spool_state_unlock(fd);
    }
    free(fresh);
    return r;
}
