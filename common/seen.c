/*
 * seen — see seen.h for the contract, the eviction rule and the state form.
 *
 * A flat array searched linearly: QN_SEEN_MAX is small, a login is judged
 * once per flush, and the order of the array is the order of first
 * appearance, which is also the order `qqnotify seen` lists.
 */
#include "seen.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "text.h"

#define STATE_HEADER "qqnotify-seen 1\n"

void qn_seen_init(struct qn_seen *t)
{
    memset(t, 0, sizeof(*t));
}

/* A token: 1..SIZE-1 bytes, a clean line, no blank. */
static bool token_valid(const char *s, size_t n, size_t size)
{
    char clean[QN_SEEN_USER_MAX + QN_SEEN_SOURCE_MAX + 8];

    if (n == 0 || n >= size || memchr(s, ' ', n) != NULL || memchr(s, '\0', n) != NULL)
        return false;
    return qn_text_sanitize_line(s, n, clean, sizeof(clean)) == n && memcmp(clean, s, n) == 0;
}

bool qn_seen_user_valid(const char *user)
{
    return user != NULL && token_valid(user, strnlen(user, QN_SEEN_USER_MAX), QN_SEEN_USER_MAX);
}

/* ---- sources ------------------------------------------------------------------------ */

/* "TYPE SHA256:base64" -> the fingerprint token. */
static bool key_source(const char *key, char out[QN_SEEN_SOURCE_MAX])
{
    const char *fp = strstr(key, "SHA256:");
    size_t n;

    if (fp == NULL || (fp != key && fp[-1] != ' '))
        return false;
    n = strcspn(fp, " ");
    if (n <= 7 || n >= QN_SEEN_SOURCE_MAX)
        return false;
    for (size_t i = 7; i < n; i++) {
        char c = fp[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '='))
            return false;
    }
    memcpy(out, fp, n);
    out[n] = '\0';
    return true;
}

/* The /24 or /64 of address literal S. */
static bool network_source(const char *s, char out[QN_SEEN_SOURCE_MAX])
{
    unsigned char a[sizeof(struct in6_addr)];
    char text[INET6_ADDRSTRLEN];

    if (inet_pton(AF_INET, s, a) == 1) {
        a[3] = 0;
    } else if (inet_pton(AF_INET6, s, a) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

        if (memcmp(a, mapped, sizeof(mapped)) == 0) {
            memmove(a, a + 12, 4);
            a[3] = 0;
        } else {
            memset(a + 8, 0, 8);
            if (inet_ntop(AF_INET6, a, text, sizeof(text)) == NULL)
                return false;
            return snprintf(out, QN_SEEN_SOURCE_MAX, "%s/64", text) < QN_SEEN_SOURCE_MAX;
        }
    } else {
        return false;
    }
    if (inet_ntop(AF_INET, a, text, sizeof(text)) == NULL)
        return false;
    return snprintf(out, QN_SEEN_SOURCE_MAX, "%s/24", text) < QN_SEEN_SOURCE_MAX;
}

enum qn_status qn_seen_source(const struct qn_event *ev, char out[QN_SEEN_SOURCE_MAX])
{
    const char *key, *ip, *rhost;
    size_t n, i;

    if (ev == NULL || out == NULL)
        return QN_EINVAL;
    key = qn_event_get(ev, "key");
    ip = qn_event_get(ev, "ip");
    rhost = qn_event_get(ev, "rhost");
    if (key != NULL && key_source(key, out))
        return QN_OK;
    if (ip != NULL && network_source(ip, out))
        return QN_OK;
    if (rhost != NULL && network_source(rhost, out))
        return QN_OK;
    if (ip == NULL && rhost == NULL) {
        snprintf(out, QN_SEEN_SOURCE_MAX, "local");
        return QN_OK;
    }
    if (ip != NULL || rhost == NULL)
        return QN_EINVAL; /* an "ip" that is no address */
    n = strlen(rhost);
    if (n == 0 || n + 5 >= QN_SEEN_SOURCE_MAX)
        return QN_EINVAL;
    memcpy(out, "name:", 5);
    for (i = 0; i < n; i++) {
        char c = rhost[i];

        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
            return QN_EINVAL;
        out[5 + i] = c;
    }
    out[5 + n] = '\0';
    return QN_OK;
}

/* ---- lookups ------------------------------------------------------------------------ */

static long find(const struct qn_seen *t, const char *user, const char *source)
{
    for (size_t i = 0; i < t->n && i < QN_SEEN_MAX; i++) {
        if (strcmp(t->entries[i].user, user) == 0 && strcmp(t->entries[i].source, source) == 0)
            return (long)i;
    }
    return -1;
}

static size_t user_count(const struct qn_seen *t, const char *user)
{
    size_t c = 0;

    for (size_t i = 0; i < t->n; i++)
        c += strcmp(t->entries[i].user, user) == 0;
    return c;
}

static bool is_login(const struct qn_event *ev)
{
    return strncmp(ev->kind, "login", sizeof(ev->kind)) == 0;
}

enum qn_seen_verdict qn_seen_decide(const struct qn_seen *t, const struct qn_event *ev,
                                    long long now, long long remember_s, bool is_root)
{
    char source[QN_SEEN_SOURCE_MAX];
    const char *user;
    bool user_known = false;
    long i;

    if (t == NULL || ev == NULL || !is_login(ev))
        return QN_SEEN_NOT_LOGIN;
    user = qn_event_get(ev, "user");
    if (is_root || (user != NULL && strcmp(user, "root") == 0))
        return QN_SEEN_ROOT;
    if (!qn_seen_user_valid(user) || qn_seen_source(ev, source) != QN_OK)
        return QN_SEEN_UNTRACKABLE;
    for (size_t k = 0; k < t->n && k < QN_SEEN_MAX; k++) {
        if (strcmp(t->entries[k].user, user) == 0 && t->entries[k].last >= now - remember_s)
            user_known = true;
    }
    if (!user_known)
        return QN_SEEN_NEW_USER;
    i = find(t, user, source);
    if (i < 0 || t->entries[i].last < now - remember_s)
        return QN_SEEN_NEW_SOURCE;
    return QN_SEEN_KNOWN;
}

bool qn_seen_verdict_mails(enum qn_seen_verdict v)
{
    return v != QN_SEEN_KNOWN;
}

const char *qn_seen_verdict_name(enum qn_seen_verdict v)
{
    switch (v) {
    case QN_SEEN_NOT_LOGIN:
        return "not a login";
    case QN_SEEN_ROOT:
        return "root login";
    case QN_SEEN_UNTRACKABLE:
        return "untrackable";
    case QN_SEEN_NEW_USER:
        return "new user";
    case QN_SEEN_NEW_SOURCE:
        return "new source";
    case QN_SEEN_KNOWN:
        return "known";
    }
    return "?";
}

void qn_seen_previous(const struct qn_seen *t, const char *user, const char *source,
                      struct qn_seen_previous *ret)
{
    memset(ret, 0, sizeof(*ret));
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n && i < QN_SEEN_MAX; i++) {
        const struct qn_seen_entry *e = &t->entries[i];
        bool same_user = user != NULL && strcmp(e->user, user) == 0;
        bool same_source = source != NULL && strcmp(e->source, source) == 0;

        if (same_user && (!ret->user_seen || e->last > ret->user_last)) {
            ret->user_seen = true;
            ret->user_last = e->last;
            snprintf(ret->user_source, sizeof(ret->user_source), "%s", e->source);
        }
        if (same_source && (!ret->source_seen || e->last > ret->source_last)) {
            ret->source_seen = true;
            ret->source_last = e->last;
            snprintf(ret->source_user, sizeof(ret->source_user), "%s", e->user);
        }
        if (same_user && same_source)
            ret->pair_count = e->count;
    }
}

/* ---- changes ------------------------------------------------------------------------ */

static void remove_at(struct qn_seen *t, size_t i)
{
    memmove(&t->entries[i], &t->entries[i + 1], (t->n - i - 1) * sizeof(t->entries[0]));
    t->n--;
    memset(&t->entries[t->n], 0, sizeof(t->entries[0]));
}

void qn_seen_prune(struct qn_seen *t, long long now, long long remember_s)
{
    size_t i = 0;

    while (i < t->n) {
        if (t->entries[i].last < now - remember_s)
            remove_at(t, i);
        else
            i++;
    }
}

/* USER's least recently seen entry (ties: the older first, then the earlier index). */
static size_t user_lru(const struct qn_seen *t, const char *user)
{
    size_t best = t->n;

    for (size_t i = 0; i < t->n; i++) {
        const struct qn_seen_entry *e = &t->entries[i];

        if (strcmp(e->user, user) != 0)
            continue;
        if (best == t->n || e->last < t->entries[best].last ||
            (e->last == t->entries[best].last && e->first < t->entries[best].first))
            best = i;
    }
    return best;
}

/* The newest FIRST among USER's entries. */
static long long user_newest(const struct qn_seen *t, const char *user)
{
    long long newest = -1;

    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->entries[i].user, user) == 0 && t->entries[i].first > newest)
            newest = t->entries[i].first;
    }
    return newest;
}

/* Rule 3 of seen.h: the user to lose an entry when the table is full. */
static const char *victim_user(const struct qn_seen *t, const char *inserting)
{
    const char *victim = inserting;
    size_t most = user_count(t, inserting);
    long long newest = user_newest(t, inserting);

    for (size_t i = 0; i < t->n; i++) {
        const char *u = t->entries[i].user;
        size_t c;
        long long nw;

        if (strcmp(u, victim) == 0)
            continue;
        c = user_count(t, u);
        if (c < most)
            continue;
        nw = user_newest(t, u);
        /* More entries wins; a tie with the inserting user goes against it; other
         * ties against the newest arrival. */
        if (c > most || (strcmp(victim, inserting) != 0 && nw > newest)) {
            victim = u;
            most = c;
            newest = nw;
        }
    }
    return victim;
}

enum qn_status qn_seen_record(struct qn_seen *t, const struct qn_event *ev, long long now,
                              long long remember_s)
{
    char source[QN_SEEN_SOURCE_MAX], user_copy[QN_SEEN_USER_MAX];
    struct qn_seen_entry *e;
    const char *user;
    long i;

    if (t == NULL || ev == NULL || !is_login(ev) || t->n > QN_SEEN_MAX)
        return QN_EINVAL;
    user = qn_event_get(ev, "user");
    if (!qn_seen_user_valid(user) || qn_seen_source(ev, source) != QN_OK)
        return QN_EINVAL;
    if (now < 0)
        now = 0;
    if (now > QN_SEEN_TIME_MAX)
        now = QN_SEEN_TIME_MAX;
    i = find(t, user, source);
    if (i >= 0) {
        e = &t->entries[i];
        if (now > e->last)
            e->last = now;
        if (e->count < QN_SEEN_COUNT_MAX)
            e->count++;
        return QN_OK;
    }
    qn_seen_prune(t, now, remember_s);
    if (user_count(t, user) >= QN_SEEN_PER_USER_MAX) {
        remove_at(t, user_lru(t, user));
    } else if (t->n == QN_SEEN_MAX) {
        /* the victim's name lives in the array: copy it before entries move */
        snprintf(user_copy, sizeof(user_copy), "%s", victim_user(t, user));
        remove_at(t, user_lru(t, user_copy));
    }
    e = &t->entries[t->n++];
    memset(e, 0, sizeof(*e));
    snprintf(e->user, sizeof(e->user), "%s", user);
    snprintf(e->source, sizeof(e->source), "%s", source);
    e->first = e->last = now;
    e->count = 1;
    return QN_OK;
}

size_t qn_seen_forget(struct qn_seen *t, const char *user, const char *source)
{
    size_t i = 0, removed = 0;

    if (t == NULL || user == NULL)
        return 0;
    while (i < t->n) {
        const struct qn_seen_entry *e = &t->entries[i];

        if (strcmp(e->user, user) == 0 && (source == NULL || strcmp(e->source, source) == 0)) {
            remove_at(t, i);
            removed++;
        } else {
            i++;
        }
    }
    return removed;
}

bool qn_seen_user_is_root(const char *user)
{
    struct passwd pw, *res = NULL;
    char buf[4096];

    if (user == NULL)
        return false;
    if (strcmp(user, "root") == 0)
        return true;
    return getpwnam_r(user, &pw, buf, sizeof(buf), &res) == 0 && res != NULL && res->pw_uid == 0;
}

/* ---- state text --------------------------------------------------------------------- */

static bool entry_valid(const struct qn_seen_entry *e)
{
    return token_valid(e->user, strnlen(e->user, sizeof(e->user)), sizeof(e->user)) &&
           token_valid(e->source, strnlen(e->source, sizeof(e->source)), sizeof(e->source)) &&
           e->first >= 0 && e->first <= e->last && e->last <= QN_SEEN_TIME_MAX && e->count >= 1 &&
           e->count <= QN_SEEN_COUNT_MAX;
}

enum qn_status qn_seen_save(const struct qn_seen *t, struct qn_buf *out)
{
    size_t start, i;
    enum qn_status r;

    if (t == NULL || out == NULL || t->n > QN_SEEN_MAX)
        return QN_EINVAL;
    for (i = 0; i < t->n; i++) {
        if (!entry_valid(&t->entries[i]))
            return QN_EINVAL;
    }
    start = out->len;
    r = qn_buf_puts(out, STATE_HEADER);
    for (i = 0; r == QN_OK && i < t->n; i++) {
        const struct qn_seen_entry *e = &t->entries[i];

        r = qn_buf_printf(out, "seen %s %s %lld %lld %lu\n", e->user, e->source, e->first, e->last,
                          e->count);
    }
    if (r != QN_OK)
        qn_buf_truncate(out, start);
    return r;
}

/* Decimal digits from *P up to a blank or END, clamped to MAX; *P moves past them. */
static bool take_number(const char **p, const char *end, unsigned long long max,
                        unsigned long long *ret)
{
    unsigned long long v = 0;
    const char *s = *p;

    if (s == end || *s < '0' || *s > '9')
        return false;
    for (; s < end && *s != ' '; s++) {
        if (*s < '0' || *s > '9' || s - *p >= 20)
            return false;
        if (v <= max)
            v = v * 10 + (unsigned long long)(*s - '0');
    }
    *ret = v > max ? max : v;
    *p = s;
    return true;
}

static bool take_token(const char **p, const char *end, char *dst, size_t size)
{
    const char *s = *p, *sp = memchr(s, ' ', (size_t)(end - s));

    if (sp == NULL || !token_valid(s, (size_t)(sp - s), size))
        return false;
    memcpy(dst, s, (size_t)(sp - s));
    dst[sp - s] = '\0';
    *p = sp + 1;
    return true;
}

static bool load_line(struct qn_seen *t, const char *line, const char *end, long long now)
{
    struct qn_seen_entry e;
    unsigned long long first, last, count;
    const char *p = line;
    long long cap = now < 0 ? 0 : now > QN_SEEN_TIME_MAX ? QN_SEEN_TIME_MAX : now;

    memset(&e, 0, sizeof(e));
    if (end - p < 5 || memcmp(p, "seen ", 5) != 0)
        return false;
    p += 5;
    if (!take_token(&p, end, e.user, sizeof(e.user)) ||
        !take_token(&p, end, e.source, sizeof(e.source)) ||
        !take_number(&p, end, (unsigned long long)cap, &first) || p == end || *p++ != ' ' ||
        !take_number(&p, end, (unsigned long long)cap, &last) || p == end || *p++ != ' ' ||
        !take_number(&p, end, QN_SEEN_COUNT_MAX, &count) || p != end)
        return false;
    e.last = (long long)last;
    e.first = first > last ? e.last : (long long)first;
    e.count = count == 0 ? 1 : (unsigned long)count;
    if (t->n == QN_SEEN_MAX || find(t, e.user, e.source) >= 0 ||
        user_count(t, e.user) >= QN_SEEN_PER_USER_MAX)
        return false;
    t->entries[t->n++] = e;
    return true;
}

enum qn_status qn_seen_load(struct qn_seen *t, const char *text, size_t len, long long now)
{
    size_t pos, hl = strlen(STATE_HEADER);

    if (t == NULL)
        return QN_EINVAL;
    qn_seen_init(t);
    if (text == NULL || len < hl || memcmp(text, STATE_HEADER, hl) != 0)
        goto bad;
    for (pos = hl; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);

        if (nl == NULL || !load_line(t, text + pos, nl, now))
            goto bad;
        pos = (size_t)(nl - text) + 1;
    }
    return QN_OK;
bad:
    qn_seen_init(t);
    return QN_EINVAL;
}

enum qn_status qn_seen_read(struct qn_spool *sp, struct qn_seen *t, long long now)
{
    size_t len = 0;
    char *buf;
    enum qn_status r;

    if (sp == NULL || t == NULL)
        return QN_EINVAL;
    qn_seen_init(t);
    buf = malloc(QN_SEEN_STATE_MAX + 1);
    if (buf == NULL)
        return QN_ENOMEM;
    r = qn_spool_state_read(sp, QN_SEEN_STATE_NAME, buf, QN_SEEN_STATE_MAX + 1, &len);
    if (r == QN_OK)
        r = qn_seen_load(t, buf, len, now);
    free(buf);
    return r;
}

enum qn_status qn_seen_write(struct qn_spool *sp, const struct qn_seen *t)
{
    struct qn_buf b;
    enum qn_status r;

    if (sp == NULL || t == NULL)
        return QN_EINVAL;
    qn_buf_init(&b, QN_SEEN_STATE_MAX);
    r = qn_seen_save(t, &b);
    if (r == QN_OK)
        r = qn_spool_state_write(sp, QN_SEEN_STATE_NAME, b.data, b.len);
    qn_buf_free(&b);
    return r;
}
