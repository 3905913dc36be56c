/*
 * sessions — see sessions.h for the contract, the key and the state form.
 */
#include "sessions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STATE_HEADER "qqnotify-sessions 1\n"
#define BOOT_LEN     32

void qn_sessions_init(struct qn_sessions *t)
{
    memset(t, 0, sizeof(*t));
}

/* N digits at S, MIN..MAX of them; returns the position after them or NULL. */
static const char *digits(const char *s, size_t min, size_t max)
{
    size_t n = 0;

    while (s[n] >= '0' && s[n] <= '9' && n <= max)
        n++;
    return n >= min && n <= max ? s + n : NULL;
}

bool qn_sessions_key_valid(const char *key)
{
    const char *p;
    size_t i;

    if (key == NULL || strnlen(key, QN_SESSIONS_KEY_MAX) >= QN_SESSIONS_KEY_MAX)
        return false;
    for (i = 0; i < BOOT_LEN; i++) {
        if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f')))
            return false;
    }
    if (key[BOOT_LEN] != ':')
        return false;
    p = digits(key + BOOT_LEN + 1, 1, 10);
    if (p == NULL || *p != ':')
        return false;
    p = digits(p + 1, 1, 20);
    return p != NULL && *p == '\0';
}

static bool same_boot(const char *a, const char *b)
{
    return memcmp(a, b, BOOT_LEN) == 0;
}

static long find(const struct qn_sessions *t, const char *key)
{
    for (size_t i = 0; i < t->n && i < QN_SESSIONS_MAX; i++) {
        if (strcmp(t->items[i].key, key) == 0)
            return (long)i;
    }
    return -1;
}

size_t qn_sessions_count(const struct qn_sessions *t, const char *user)
{
    size_t c = 0;

    for (size_t i = 0; t != NULL && user != NULL && i < t->n && i < QN_SESSIONS_MAX; i++)
        c += strcmp(t->items[i].user, user) == 0;
    return c;
}

static void remove_at(struct qn_sessions *t, size_t i)
{
    memmove(&t->items[i], &t->items[i + 1], (t->n - i - 1) * sizeof(t->items[0]));
    t->n--;
    memset(&t->items[t->n], 0, sizeof(t->items[0]));
}

/* The oldest session of USER (or of anybody when USER is NULL). */
static size_t oldest(const struct qn_sessions *t, const char *user)
{
    size_t best = t->n;

    for (size_t i = 0; i < t->n; i++) {
        if (user != NULL && strcmp(t->items[i].user, user) != 0)
            continue;
        if (best == t->n || t->items[i].opened < t->items[best].opened)
            best = i;
    }
    return best;
}

/* The user who loses a session when the table is full: the one holding the most,
 * a tie going against INSERTING. */
static const char *victim(const struct qn_sessions *t, const char *inserting)
{
    const char *v = inserting;
    size_t most = qn_sessions_count(t, inserting);

    for (size_t i = 0; i < t->n; i++) {
        size_t c = qn_sessions_count(t, t->items[i].user);

        if (c > most) {
            v = t->items[i].user;
            most = c;
        }
    }
    return v;
}

void qn_sessions_prune(struct qn_sessions *t, long long now)
{
    size_t i = 0;

    while (i < t->n) {
        if (t->items[i].opened < now - QN_SESSIONS_LONGEST_S)
            remove_at(t, i);
        else
            i++;
    }
}

enum qn_status qn_sessions_open(struct qn_sessions *t, const struct qn_event *ev)
{
    const char *key, *user;
    char victim_user[QN_SEEN_USER_MAX];
    struct qn_session *s;
    long long now;
    long i;

    if (t == NULL || ev == NULL || t->n > QN_SESSIONS_MAX ||
        strncmp(ev->kind, "login", sizeof(ev->kind)) != 0)
        return QN_EINVAL;
    key = qn_event_get(ev, "session");
    user = qn_event_get(ev, "user");
    if (!qn_sessions_key_valid(key) || !qn_seen_user_valid(user))
        return QN_EINVAL;
    now = ev->time < 0 ? 0 : ev->time;
    i = find(t, key);
    if (i >= 0) {
        t->items[i].opened = now;
        snprintf(t->items[i].user, sizeof(t->items[i].user), "%s", user);
        return QN_OK;
    }
    /* Sessions of another boot opened before this one ended with that boot. */
    for (size_t k = 0; k < t->n;) {
        if (!same_boot(t->items[k].key, key) && t->items[k].opened <= now)
            remove_at(t, k);
        else
            k++;
    }
    qn_sessions_prune(t, now);
    if (qn_sessions_count(t, user) >= QN_SESSIONS_PER_USER_MAX) {
        remove_at(t, oldest(t, user));
    } else if (t->n == QN_SESSIONS_MAX) {
        snprintf(victim_user, sizeof(victim_user), "%s", victim(t, user));
        remove_at(t, oldest(t, victim_user));
    }
    s = &t->items[t->n++];
    memset(s, 0, sizeof(*s));
    snprintf(s->key, sizeof(s->key), "%s", key);
    snprintf(s->user, sizeof(s->user), "%s", user);
    s->opened = now;
    return QN_OK;
}

enum qn_status qn_sessions_close(struct qn_sessions *t, const struct qn_event *ev,
                                 long long *ret_duration)
{
    const char *key;
    long i;

    if (t == NULL || ev == NULL || strncmp(ev->kind, "logout", sizeof(ev->kind)) != 0)
        return QN_EINVAL;
    key = qn_event_get(ev, "session");
    if (!qn_sessions_key_valid(key))
        return QN_EINVAL;
    i = find(t, key);
    if (i < 0)
        return QN_ENOTFOUND;
    if (ret_duration != NULL)
        *ret_duration = ev->time > t->items[i].opened ? ev->time - t->items[i].opened : 0;
    remove_at(t, (size_t)i);
    return QN_OK;
}

/* ---- state text --------------------------------------------------------------------- */

enum qn_status qn_sessions_save(const struct qn_sessions *t, struct qn_buf *out)
{
    size_t start, i;
    enum qn_status r;

    if (t == NULL || out == NULL || t->n > QN_SESSIONS_MAX)
        return QN_EINVAL;
    for (i = 0; i < t->n; i++) {
        if (!qn_sessions_key_valid(t->items[i].key) || !qn_seen_user_valid(t->items[i].user) ||
            t->items[i].opened < 0 || t->items[i].opened > QN_SEEN_TIME_MAX)
            return QN_EINVAL;
    }
    start = out->len;
    r = qn_buf_puts(out, STATE_HEADER);
    for (i = 0; r == QN_OK && i < t->n; i++)
        r = qn_buf_printf(out, "session %s %s %lld\n", t->items[i].key, t->items[i].user,
                          t->items[i].opened);
    if (r != QN_OK)
        qn_buf_truncate(out, start);
    return r;
}

static bool load_line(struct qn_sessions *t, const char *line, size_t n, long long now)
{
    struct qn_session s;
    const char *p = line, *end = line + n, *sp;
    long long v = 0;

    memset(&s, 0, sizeof(s));
    if (n < 8 || memcmp(p, "session ", 8) != 0)
        return false;
    p += 8;
    sp = memchr(p, ' ', (size_t)(end - p));
    if (sp == NULL || (size_t)(sp - p) >= sizeof(s.key))
        return false;
    memcpy(s.key, p, (size_t)(sp - p));
    p = sp + 1;
    sp = memchr(p, ' ', (size_t)(end - p));
    if (sp == NULL || (size_t)(sp - p) >= sizeof(s.user))
        return false;
    memcpy(s.user, p, (size_t)(sp - p));
    p = sp + 1;
    if (p == end || end - p > 20)
        return false;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return false;
        if (v <= now)
            v = v * 10 + (*p - '0');
    }
    s.opened = v > now ? now : v;
    if (!qn_sessions_key_valid(s.key) || !qn_seen_user_valid(s.user) || t->n == QN_SESSIONS_MAX ||
        find(t, s.key) >= 0 || qn_sessions_count(t, s.user) >= QN_SESSIONS_PER_USER_MAX)
        return false;
    t->items[t->n++] = s;
    return true;
}

enum qn_status qn_sessions_load(struct qn_sessions *t, const char *text, size_t len, long long now)
{
    size_t pos, hl = strlen(STATE_HEADER);

    if (t == NULL)
        return QN_EINVAL;
    qn_sessions_init(t);
    if (now < 0)
        now = 0;
    if (now > QN_SEEN_TIME_MAX)
        now = QN_SEEN_TIME_MAX;
    if (text == NULL || len < hl || memcmp(text, STATE_HEADER, hl) != 0)
        goto bad;
    for (pos = hl; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);

        if (nl == NULL || memchr(text + pos, '\0', (size_t)(nl - (text + pos))) != NULL ||
            !load_line(t, text + pos, (size_t)(nl - (text + pos)), now))
            goto bad;
        pos = (size_t)(nl - text) + 1;
    }
    return QN_OK;
bad:
    qn_sessions_init(t);
    return QN_EINVAL;
}

enum qn_status qn_sessions_read(struct qn_spool *sp, struct qn_sessions *t, long long now)
{
    size_t len = 0;
    char *buf;
    enum qn_status r;

    if (sp == NULL || t == NULL)
        return QN_EINVAL;
    qn_sessions_init(t);
    buf = malloc(QN_SESSIONS_STATE_MAX + 1);
    if (buf == NULL)
        return QN_ENOMEM;
    r = qn_spool_state_read(sp, QN_SESSIONS_STATE_NAME, buf, QN_SESSIONS_STATE_MAX + 1, &len);
    if (r == QN_OK)
        r = qn_sessions_load(t, buf, len, now);
    free(buf);
    return r;
}

enum qn_status qn_sessions_write(struct qn_spool *sp, const struct qn_sessions *t)
{
    struct qn_buf b;
    enum qn_status r;

    if (sp == NULL || t == NULL)
        return QN_EINVAL;
    qn_buf_init(&b, QN_SESSIONS_STATE_MAX);
    r = qn_sessions_save(t, &b);
    if (r == QN_OK)
        r = qn_spool_state_write(sp, QN_SESSIONS_STATE_NAME, b.data, b.len);
    qn_buf_free(&b);
    return r;
}
