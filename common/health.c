/*
 * health — the routes' record in state/routes: see health.h.
 */
#include "health.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

#define LOCK_TIMEOUT_MS 5000
#define DAY_S           86400LL
#define TIME_MAX        253402300799LL /* 9999-12-31 */

enum qn_health_failure qn_health_kind(const struct qn_error *err, const struct qn_diagnosis *d)
{
    if (err->status == QN_EAUTH || err->status == QN_ECRED || (d != NULL && d->rate_limited) ||
        err->verdict == QN_VERDICT_PERMANENT || err->verdict == QN_VERDICT_CONFIG)
        return QN_HEALTH_BLOCKING;
    return QN_HEALTH_TEMPORARY;
}

void qn_health_init(struct qn_health *h)
{
    memset(h, 0, sizeof(*h));
}

static bool diag_valid(const char *s, size_t n)
{
    if (n == 0 || n >= QN_HEALTH_DIAG_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

const struct qn_route_health *qn_health_find(const struct qn_health *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++) {
        if (strcmp(h->route[i].name, name) == 0)
            return &h->route[i];
    }
    return NULL;
}

struct qn_route_health *qn_health_route(struct qn_health *h, const char *name)
{
    struct qn_route_health *r = (struct qn_route_health *)qn_health_find(h, name);

    if (r != NULL)
        return r;
    if (h->n >= QN_ROUTES_MAX || !qn_route_name_valid(name, strlen(name)))
        return NULL;
    r = &h->route[h->n++];
    memset(r, 0, sizeof(*r));
    memcpy(r->name, name, strlen(name) + 1);
    return r;
}

/* The counter of DIAGNOSIS ("other" when the table is full); NULL only for an invalid id. */
static struct qn_health_count *counter(struct qn_route_health *r, const char *diagnosis,
                                       size_t *ret_index)
{
    size_t n = strlen(diagnosis);
    const char *d = diag_valid(diagnosis, n) ? diagnosis : QN_HEALTH_OTHER;

    for (size_t i = 0; i < r->n_failed; i++) {
        if (strcmp(r->failed[i].diagnosis, d) == 0) {
            *ret_index = i;
            return &r->failed[i];
        }
    }
    if (r->n_failed == QN_HEALTH_DIAGS_MAX) {
        /* The last slot becomes "other" and takes every further id. */
        struct qn_health_count *last = &r->failed[QN_HEALTH_DIAGS_MAX - 1];

        snprintf(last->diagnosis, sizeof(last->diagnosis), "%s", QN_HEALTH_OTHER);
        *ret_index = QN_HEALTH_DIAGS_MAX - 1;
        return last;
    }
    *ret_index = r->n_failed;
    snprintf(r->failed[r->n_failed].diagnosis, QN_HEALTH_DIAG_MAX, "%s", d);
    r->failed[r->n_failed].n = 0;
    return &r->failed[r->n_failed++];
}

static unsigned long long add_count(unsigned long long a, unsigned long long b)
{
    return a > QN_HEALTH_COUNT_MAX - (b > QN_HEALTH_COUNT_MAX ? QN_HEALTH_COUNT_MAX : b)
               ? QN_HEALTH_COUNT_MAX
               : a + b;
}

bool qn_health_ok(struct qn_health *h, const char *name, size_t n, long long now)
{
    struct qn_route_health *r = qn_health_route(h, name);
    bool was_down;

    if (r == NULL)
        return false;
    was_down = r->down_since != 0;
    r->sent = add_count(r->sent, n);
    r->sent_added = add_count(r->sent_added, n);
    if (now > r->last_ok)
        r->last_ok = now;
    r->failing_since = 0;
    r->down_since = 0;
    r->retry_at = 0;
    r->told = false;
    return was_down;
}

bool qn_health_fail(struct qn_health *h, const char *name, enum qn_health_failure kind,
                    const char *diagnosis, const char *reason, unsigned failover_after_s,
                    long long retry_at, long long now)
{
    struct qn_route_health *r = qn_health_route(h, name);
    struct qn_health_count *c;
    size_t i;

    if (r == NULL)
        return false;
    diagnosis = diagnosis != NULL ? diagnosis : "";
    c = counter(r, diagnosis[0] != '\0' ? diagnosis : QN_HEALTH_OTHER, &i);
    c->n = add_count(c->n, 1);
    r->failed_added[i] = add_count(r->failed_added[i], 1);
    if (now > r->last_fail)
        r->last_fail = now;
    snprintf(r->diagnosis, sizeof(r->diagnosis), "%s",
             diag_valid(diagnosis, strlen(diagnosis)) ? diagnosis : "");
    qn_text_sanitize_line(reason != NULL ? reason : "", reason != NULL ? strlen(reason) : 0,
                          r->reason, sizeof(r->reason));
    if (r->failing_since == 0)
        r->failing_since = now;
    if (retry_at < now)
        retry_at = now;
    if (r->down_since != 0) {
        r->retry_at = retry_at; /* tried again and failed again: its backoff */
        return false;
    }
    if (kind == QN_HEALTH_TEMPORARY && now - r->failing_since < (long long)failover_after_s)
        return false;
    r->down_since = now;
    r->retry_at = retry_at;
    r->told = false;
    return true;
}

bool qn_health_usable(const struct qn_health *h, const char *name, long long now)
{
    const struct qn_route_health *r = qn_health_find(h, name);

    return r == NULL || r->down_since == 0 || r->retry_at <= now;
}

/* ---- the state text ---- */

static long long clamp_time(long long t, long long max)
{
    return t < 0 ? 0 : t > max ? max : t;
}

/* The next blank-separated word of *P (within END): *RET, *RET_N; false at the end. */
static bool word(const char **p, const char *end, const char **ret, size_t *ret_n)
{
    const char *s = *p;

    while (s < end && *s == ' ')
        s++;
    *ret = s;
    while (s < end && *s != ' ')
        s++;
    *ret_n = (size_t)(s - *ret);
    *p = s;
    return *ret_n > 0;
}

static bool number(const char *s, size_t n, unsigned long long *ret)
{
    unsigned long long v = 0;

    if (n == 0 || n > 19)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned long long)(s[i] - '0');
    }
    *ret = v;
    return true;
}

static bool same(const char *s, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(s, lit, n) == 0;
}

/* The record of the route named by the next word, or NULL. */
static struct qn_route_health *route_word(struct qn_health *h, const char **p, const char *end)
{
    char name[QN_ROUTE_NAME_MAX];
    const char *w;
    size_t n;

    if (!word(p, end, &w, &n) || !qn_route_name_valid(w, n))
        return NULL;
    memcpy(name, w, n);
    name[n] = '\0';
    return qn_health_route(h, name);
}

static void parse_route(struct qn_health *h, const char *p, const char *end, long long now)
{
    struct qn_route_health *r = route_word(h, &p, end);
    unsigned long long v[7];
    const char *w;
    size_t n;

    if (r == NULL)
        return;
    for (size_t i = 0; i < 7; i++) {
        if (!word(&p, end, &w, &n) || !number(w, n, &v[i]))
            return;
    }
    r->sent = v[0] > QN_HEALTH_COUNT_MAX ? QN_HEALTH_COUNT_MAX : v[0];
    r->last_ok = clamp_time((long long)(v[1] > TIME_MAX ? TIME_MAX : v[1]), now);
    r->last_fail = clamp_time((long long)(v[2] > TIME_MAX ? TIME_MAX : v[2]), now);
    r->failing_since = clamp_time((long long)(v[3] > TIME_MAX ? TIME_MAX : v[3]), now);
    r->down_since = clamp_time((long long)(v[4] > TIME_MAX ? TIME_MAX : v[4]), now);
    r->retry_at = clamp_time((long long)(v[5] > TIME_MAX ? TIME_MAX : v[5]), now + DAY_S);
    r->told = v[6] != 0 && r->down_since != 0;
    if (r->down_since == 0)
        r->retry_at = 0;
    if (word(&p, end, &w, &n) && diag_valid(w, n)) {
        memcpy(r->diagnosis, w, n);
        r->diagnosis[n] = '\0';
    }
}

static void parse_line(struct qn_health *h, const char *p, const char *end, long long now)
{
    struct qn_health_count *c;
    struct qn_route_health *r;
    unsigned long long v;
    const char *w;
    size_t n, i;

    if (!word(&p, end, &w, &n))
        return;
    if (same(w, n, "summary")) {
        if (word(&p, end, &w, &n) && number(w, n, &v))
            h->summary_day = clamp_time((long long)(v > TIME_MAX ? TIME_MAX : v), now / DAY_S + 1);
    } else if (same(w, n, "route")) {
        parse_route(h, p, end, now);
    } else if (same(w, n, "reason")) {
        r = route_word(h, &p, end);
        if (r != NULL && p < end)
            qn_text_sanitize_line(p + 1, (size_t)(end - p - 1), r->reason, sizeof(r->reason));
    } else if (same(w, n, "failed")) {
        char d[QN_HEALTH_DIAG_MAX];

        r = route_word(h, &p, end);
        if (r == NULL || !word(&p, end, &w, &n) || !diag_valid(w, n))
            return;
        memcpy(d, w, n);
        d[n] = '\0';
        if (!word(&p, end, &w, &n) || !number(w, n, &v))
            return;
        c = counter(r, d, &i);
        c->n = add_count(c->n, v);
    }
}

void qn_health_parse(struct qn_health *h, const char *text, size_t len, long long now)
{
    const char *p = text, *end = text + len, *nl;
    size_t vlen = strlen(QN_HEALTH_VERSION);

    qn_health_init(h);
    if (len <= vlen || memcmp(text, QN_HEALTH_VERSION, vlen) != 0 || text[vlen] != '\n')
        return;
    p += vlen + 1;
    while (p < end) {
        nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            nl = end;
        parse_line(h, p, nl, now);
        p = nl + 1;
    }
}

enum qn_status qn_health_format(const struct qn_health *h, struct qn_buf *out)
{
    size_t start = out->len;
    enum qn_status r;

    r = qn_buf_printf(out, "%s\nsummary %lld\n", QN_HEALTH_VERSION, h->summary_day);
    for (size_t i = 0; r == QN_OK && i < h->n; i++) {
        const struct qn_route_health *x = &h->route[i];

        r = qn_buf_printf(out, "route %s %llu %lld %lld %lld %lld %lld %d %s\n", x->name, x->sent,
                          x->last_ok, x->last_fail, x->failing_since, x->down_since, x->retry_at,
                          x->told ? 1 : 0, x->diagnosis[0] ? x->diagnosis : "-");
        if (r == QN_OK && x->reason[0] != '\0')
            r = qn_buf_printf(out, "reason %s %s\n", x->name, x->reason);
        for (size_t j = 0; r == QN_OK && j < x->n_failed; j++)
            r = qn_buf_printf(out, "failed %s %s %llu\n", x->name, x->failed[j].diagnosis,
                              x->failed[j].n);
    }
    if (r != QN_OK)
        qn_buf_truncate(out, start);
    return r;
}

enum qn_status qn_health_load(struct qn_health *h, struct qn_spool *sp, long long now)
{
    char *buf = malloc(QN_SPOOL_STATE_MAX);
    size_t len = 0;
    enum qn_status r;

    qn_health_init(h);
    if (buf == NULL)
        return QN_ENOMEM;
    r = qn_spool_state_read(sp, QN_HEALTH_STATE_NAME, buf, QN_SPOOL_STATE_MAX, &len);
    if (r == QN_OK)
        qn_health_parse(h, buf, len, now);
    free(buf);
    return r;
}

/* MINE's part added to DISK's record: counts added, the later story wins. */
static void merge_route(struct qn_health *disk, const struct qn_route_health *mine)
{
    struct qn_route_health *d = qn_health_route(disk, mine->name);
    long long mine_last, disk_last;
    size_t i;

    if (d == NULL)
        return;
    d->sent = add_count(d->sent, mine->sent_added);
    for (size_t j = 0; j < mine->n_failed; j++) {
        if (mine->failed_added[j] == 0)
            continue;
        struct qn_health_count *c = counter(d, mine->failed[j].diagnosis, &i);

        c->n = add_count(c->n, mine->failed_added[j]);
    }
    mine_last = mine->last_ok > mine->last_fail ? mine->last_ok : mine->last_fail;
    disk_last = d->last_ok > d->last_fail ? d->last_ok : d->last_fail;
    if (mine_last >= disk_last) {
        d->last_ok = mine->last_ok;
        d->last_fail = mine->last_fail;
        memcpy(d->diagnosis, mine->diagnosis, sizeof(d->diagnosis));
        memcpy(d->reason, mine->reason, sizeof(d->reason));
        d->failing_since = mine->failing_since;
        d->down_since = mine->down_since;
        d->retry_at = mine->retry_at;
        d->told = mine->told;
    }
}

enum qn_status qn_health_commit(struct qn_health *h, struct qn_spool *sp, long long now)
{
    struct qn_health *disk = malloc(sizeof(*disk));
    struct qn_buf out;
    enum qn_status r;
    int fd = -1;

    if (disk == NULL)
        return QN_ENOMEM;
    qn_buf_init(&out, QN_SPOOL_STATE_MAX);
    r = qn_spool_state_lock(sp, QN_HEALTH_STATE_NAME, LOCK_TIMEOUT_MS, &fd);
    if (r != QN_OK)
        goto out;
    r = qn_health_load(disk, sp, now);
    if (r != QN_OK && r != QN_ENOTFOUND && r != QN_EINVAL && r != QN_ETOOBIG)
        goto out;
    for (size_t i = 0; i < h->n; i++)
        merge_route(disk, &h->route[i]);
    if (h->summary_changed && h->summary_day > disk->summary_day)
        disk->summary_day = h->summary_day;
    r = qn_health_format(disk, &out);
    if (r == QN_OK)
        r = qn_spool_state_write(sp, QN_HEALTH_STATE_NAME, out.data, out.len);
    if (r == QN_OK) {
        *h = *disk; /* the merged state, with nothing of this process's left to add */
        h->summary_changed = false;
    }
out:
    qn_spool_state_unlock(fd);
    qn_buf_free(&out);
    free(disk);
    return r;
}
