/*
 * lanes — priorities, per-lane digests and caps; the contract and the
 * state form are in lanes.h.
 *
 * The per-lane event lists work like ratelimit.c's (ascending times,
 * linear scans over at most QN_LANES_EVENTS_MAX entries); the cap table is
 * a small array searched linearly: a sender pass looks up a key once per
 * entry, and a few hundred keys cost nothing next to the entry's disk I/O.
 */
#include "lanes.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "text.h"

#define DAY          86400LL
#define NORMAL_KEYS  (QN_LANES_KEYS_MAX - QN_LANES) /* the last slots: one "other" per lane */
#define RESERVE_WAIT 60LL /* a lane held back only by the reserve looks again after this */
#define PWBUF_MAX    16384

void qn_lanes_init(struct qn_lanes *l)
{
    memset(l, 0, sizeof(*l));
}

static long long clamp_time(long long t, long long now)
{
    if (t < 0)
        return 0;
    return t > now ? now : t;
}

/* ---- keys ---------------------------------------------------------------------------- */

static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == ':' || c == '-';
}

/* KEY with every byte outside [A-Za-z0-9_.:-] made '_', cut to fit. */
static void clean_key(const char *key, char *out)
{
    size_t i;

    for (i = 0; key[i] != '\0' && i + 1 < QN_LANES_KEY_MAX; i++)
        out[i] = key_char(key[i]) ? key[i] : '_';
    out[i] = '\0';
}

void qn_lanes_uid_key(unsigned long long uid, char *out)
{
    snprintf(out, QN_LANES_KEY_MAX, "uid:%llu", uid);
}

void qn_lanes_rule_key(const char *rule, char *out)
{
    char raw[QN_LANES_KEY_MAX];

    snprintf(raw, sizeof(raw), "rule:%s", rule != NULL && rule[0] != '\0' ? rule : "-");
    clean_key(raw, out);
}

void qn_lanes_user_name(unsigned long long uid, char *out, size_t outsz)
{
    char *buf = malloc(PWBUF_MAX);
    struct passwd pw, *found = NULL;

    if (buf != NULL && uid <= (unsigned long long)(uid_t)-1 &&
        getpwuid_r((uid_t)uid, &pw, buf, PWBUF_MAX, &found) == 0 && found != NULL &&
        found->pw_name != NULL && found->pw_name[0] != '\0')
        qn_text_sanitize_line(found->pw_name, strnlen(found->pw_name, 64), out, outsz);
    else
        snprintf(out, outsz, "uid %llu", uid);
    free(buf);
}

static bool window_over(const struct qn_lanes_key *k, unsigned window, long long now)
{
    return now - k->start >= (long long)window;
}

static void remove_key(struct qn_lanes *l, size_t i)
{
    memmove(&l->keys[i], &l->keys[i + 1], (l->n_keys - i - 1) * sizeof(l->keys[0]));
    l->n_keys--;
}

/* Keys whose window ended with nothing over the cap are spent. */
static void drop_spent(struct qn_lanes *l, unsigned window, long long now)
{
    for (size_t i = 0; i < l->n_keys;) {
        if (window_over(&l->keys[i], window, now) && l->keys[i].over == 0)
            remove_key(l, i);
        else
            i++;
    }
}

static struct qn_lanes_key *find_current(struct qn_lanes *l, enum qn_lane lane, const char *key,
                                         unsigned window, long long now)
{
    for (size_t i = 0; i < l->n_keys; i++) {
        struct qn_lanes_key *k = &l->keys[i];

        if (k->lane == lane && strcmp(k->key, key) == 0 && !window_over(k, window, now))
            return k;
    }
    return NULL;
}

static struct qn_lanes_key *add_key(struct qn_lanes *l, enum qn_lane lane, const char *key,
                                    long long now)
{
    struct qn_lanes_key *k = &l->keys[l->n_keys++];

    memset(k, 0, sizeof(*k));
    snprintf(k->key, sizeof(k->key), "%s", key);
    k->lane = lane;
    k->start = now;
    return k;
}

/* Room for a key: a free normal slot, else the oldest key with nothing over its cap. */
static bool make_room(struct qn_lanes *l, unsigned window, long long now)
{
    size_t normal = 0, oldest = QN_LANES_KEYS_MAX;

    drop_spent(l, window, now);
    for (size_t i = 0; i < l->n_keys; i++) {
        if (strcmp(l->keys[i].key, QN_LANES_OTHER_KEY) == 0)
            continue;
        normal++;
        if (l->keys[i].over == 0 &&
            (oldest == QN_LANES_KEYS_MAX || l->keys[i].start < l->keys[oldest].start))
            oldest = i;
    }
    if (normal < NORMAL_KEYS)
        return true;
    if (oldest == QN_LANES_KEYS_MAX)
        return false;
    remove_key(l, oldest);
    return true;
}

enum qn_lanes_verdict qn_lanes_admit(struct qn_lanes *l, enum qn_lane lane, const char *key,
                                     unsigned max, unsigned window, long long now)
{
    char clean[QN_LANES_KEY_MAX];
    struct qn_lanes_key *k;

    if (max == 0 || key == NULL || (unsigned)lane >= QN_LANES)
        return QN_LANES_ADMIT;
    clean_key(key, clean);
    k = find_current(l, lane, clean, window, now);
    if (k == NULL) {
        if (make_room(l, window, now)) {
            k = add_key(l, lane, clean, now);
        } else {
            /* Full of keys with counts to report: this one shares its lane's catch-all. */
            k = find_current(l, lane, QN_LANES_OTHER_KEY, window, now);
            if (k == NULL && l->n_keys < QN_LANES_KEYS_MAX)
                k = add_key(l, lane, QN_LANES_OTHER_KEY, now);
            if (k == NULL)
                return QN_LANES_ADMIT; /* cannot happen: a slot per lane is kept */
        }
    }
    if (k->admitted < max) {
        k->admitted++;
        return QN_LANES_ADMIT;
    }
    if (k->over < QN_LANES_COUNT_MAX)
        k->over++;
    return QN_LANES_OVER;
}

/* ---- summaries --------------------------------------------------------------------------- */

/* N with thousands separators in English ("2,980"), plain in Chinese. */
static void format_count(unsigned long long n, bool zh, char *out, size_t outsz)
{
    char digits[32];
    size_t len, o = 0;

    snprintf(digits, sizeof(digits), "%llu", n);
    len = strlen(digits);
    for (size_t i = 0; i < len && o + 2 < outsz; i++) {
        if (!zh && i > 0 && (len - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
}

/* "10 minutes" / "10 分钟" */
static void format_window(unsigned s, bool zh, char *out, size_t outsz)
{
    if (s % 3600 == 0)
        snprintf(out, outsz, zh ? "%u 小时" : (s == 3600 ? "%u hour" : "%u hours"), s / 3600);
    else if (s % 60 == 0)
        snprintf(out, outsz, zh ? "%u 分钟" : (s == 60 ? "%u minute" : "%u minutes"), s / 60);
    else
        snprintf(out, outsz, zh ? "%u 秒" : "%u seconds", s);
}

bool qn_lanes_take_summary(struct qn_lanes *l, long long now, const struct qn_config *cfg,
                           struct qn_event *ret_ev, enum qn_lane *ret_lane)
{
    unsigned window = cfg->queue.cap_window_s;
    bool zh = cfg->language != QN_LANG_EN;

    for (size_t i = 0; i < l->n_keys; i++) {
        const struct qn_lanes_key *k = &l->keys[i];
        char count[32], win[32], cap[32], name[80], subject[QN_EVENT_SUBJECT_MAX];
        char message[QN_EVENT_VALUE_MAX];
        unsigned max;

        if (k->over == 0 || !window_over(k, window, now))
            continue;
        format_count(k->over, zh, count, sizeof(count));
        format_window(window, zh, win, sizeof(win));
        qn_event_init(ret_ev, "notify");
        if (strncmp(k->key, "uid:", 4) == 0) {
            max = cfg->queue.user_max;
            qn_lanes_user_name(strtoull(k->key + 4, NULL, 10), name, sizeof(name));
            snprintf(subject, sizeof(subject),
                     zh ? "用户 %s 在 %s内提交了 %s 条通知"
                        : "user %s queued %s notifications in %s",
                     name, zh ? win : count, zh ? count : win);
            qn_event_set(ret_ev, "user", name);
        } else if (strncmp(k->key, "rule:", 5) == 0) {
            max = cfg->queue.rule_max;
            snprintf(name, sizeof(name), "%s", k->key + 5);
            snprintf(subject, sizeof(subject),
                     zh ? "规则 %s 在 %s内触发了 %s 次告警" : "rule %s fired %s times in %s", name,
                     zh ? win : count, zh ? count : win);
            qn_event_set(ret_ev, "rule", name);
        } else {
            max = k->lane == QN_LANE_USER ? cfg->queue.user_max : cfg->queue.rule_max;
            snprintf(subject, sizeof(subject),
                     zh ? "%s内另有 %s 条告警超出上限" : "%s more alerts over their caps in %s",
                     zh ? win : count, zh ? count : win);
        }
        format_count(max, zh, cap, sizeof(cap));
        snprintf(message, sizeof(message),
                 zh ? "超出每 %s %s 条的上限（[limits] %s）的部分已计数并删除，未逐条投递；"
                      "上限以内的 %llu 条已正常投递。"
                    : "past the cap of %s per %s ([limits] %s) they were counted and removed, "
                      "not delivered one by one; the %llu within the cap were delivered.",
                 zh ? win : cap, zh ? cap : win, k->lane == QN_LANE_USER ? "user_max" : "rule_max",
                 k->admitted);
        qn_event_set_subject(ret_ev, subject);
        qn_event_set(ret_ev, "message", message);
        qn_event_set(ret_ev, "count", count);
        qn_event_set(ret_ev, "key", k->key);
        *ret_lane = k->lane;
        remove_key(l, i);
        return true;
    }
    return false;
}

/* ---- marking the user lane's mail --------------------------------------------------------- */

#define MARK_NAMES 3 /* names written out; the rest are counted */

enum qn_status qn_lanes_mark_user_mail(enum qn_lang lang, const struct qn_spool_entry *const *es,
                                       size_t n, bool digest, struct qn_rendered *r, char *out,
                                       size_t outsz)
{
    unsigned long long uids[MARK_NAMES];
    char names[MARK_NAMES][64];
    size_t n_names = 0, others = 0, used, len;
    bool zh = lang != QN_LANG_EN;
    const char *old, *cut;
    char *line;
    enum qn_status st;

    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        size_t j;

        if (es[i]->origin != QN_ORIGIN_USER)
            continue;
        for (j = 0; j < n_names && uids[j] != es[i]->uid; j++)
            ;
        if (j < n_names)
            continue;
        if (n_names < MARK_NAMES) {
            uids[n_names] = es[i]->uid;
            qn_lanes_user_name(es[i]->uid, names[n_names], sizeof(names[n_names]));
            n_names++;
            continue;
        }
        /* Count each further uid once. */
        for (j = 0; j < i && !(es[j]->origin == QN_ORIGIN_USER && es[j]->uid == es[i]->uid); j++)
            ;
        if (j == i)
            others++;
    }
    if (n_names == 0)
        return QN_OK;
    used = (size_t)snprintf(out, outsz, "%s %s",
                            zh ? "来自用户" : (n_names > 1 ? "from users" : "from user"), names[0]);
    for (size_t j = 1; j < n_names && used < outsz; j++)
        used += (size_t)snprintf(out + used, outsz - used, "%s%s", zh ? "、" : ", ", names[j]);
    if (others > 0 && used < outsz)
        snprintf(out + used, outsz - used, zh ? " 等另外 %zu 人" : " and %zu more", others);
    if (!digest || r->subject.data == NULL)
        return QN_OK;
    /* "[host] digest of 5 alerts" -> "[host] from user mallory: digest of 5 alerts" */
    old = r->subject.data;
    cut = old[0] == '[' ? strstr(old, "] ") : NULL;
    cut = cut != NULL ? cut + 2 : old;
    line = malloc(2 * QN_RENDER_SUBJECT_MAX + QN_LANES_MARK_MAX);
    if (line == NULL)
        return QN_ENOMEM;
    snprintf(line, 2 * QN_RENDER_SUBJECT_MAX + QN_LANES_MARK_MAX, "%.*s%s%s%s", (int)(cut - old),
             old, out, zh ? "：" : ": ", cut);
    /* One line, cut on a character boundary to the renderer's bound. */
    {
        char cut_line[QN_RENDER_SUBJECT_MAX];

        len = qn_text_sanitize_line(line, strlen(line), cut_line, sizeof(cut_line));
        qn_buf_reset(&r->subject);
        st = qn_buf_append(&r->subject, cut_line, len);
    }
    free(line);
    return st;
}

/* ---- events and digests ----------------------------------------------------------------- */

void qn_lanes_record(struct qn_lanes *l, enum qn_lane lane, size_t n, long long now)
{
    long long *t;
    size_t *cnt, k;

    if ((unsigned)lane >= QN_LANES || n == 0)
        return;
    t = l->events[lane];
    cnt = &l->n_events[lane];
    /* Keep the list ascending when the clock stepped back; drop what a day forgot. */
    if (*cnt > 0 && now < t[*cnt - 1])
        now = t[*cnt - 1];
    for (k = 0; k < *cnt && now - t[k] >= DAY; k++)
        ;
    memmove(t, t + k, (*cnt - k) * sizeof(t[0]));
    *cnt -= k;
    if (n > QN_LANES_EVENTS_MAX)
        n = QN_LANES_EVENTS_MAX;
    if (*cnt + n > QN_LANES_EVENTS_MAX) {
        size_t drop = *cnt + n - QN_LANES_EVENTS_MAX;

        memmove(t, t + drop, (*cnt - drop) * sizeof(t[0]));
        *cnt -= drop;
    }
    for (k = 0; k < n; k++)
        t[(*cnt)++] = now;
}

/* The smallest configured limit (0: none): the reserve is at most half of it. */
static unsigned smallest_limit(const struct qn_ratelimit_config *c)
{
    const unsigned limits[] = {c->max_per_minute, c->max_per_hour, c->max_per_day};
    unsigned smallest = 0;

    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        unsigned v = limits[i] > QN_RATELIMIT_SENT_MAX ? QN_RATELIMIT_SENT_MAX : limits[i];

        if (v > 0 && (smallest == 0 || v < smallest))
            smallest = v;
    }
    return smallest;
}

unsigned qn_lanes_available(enum qn_lane lane, const struct qn_ratelimit *rl,
                            const struct qn_ratelimit_config *limits, long long now,
                            long long *ret_next)
{
    unsigned smallest = smallest_limit(limits), reserve = 0, room;
    long long next = now;

    if (smallest > 0) {
        reserve = (unsigned)lane;
        if (reserve > (smallest - 1) / 2)
            reserve = (smallest - 1) / 2;
    }
    room = qn_ratelimit_available(rl, limits, now, &next);
    if (room > reserve) {
        if (ret_next != NULL)
            *ret_next = now;
        return room - reserve;
    }
    if (ret_next != NULL)
        *ret_next = room == 0 ? next : now + RESERVE_WAIT;
    return 0;
}

bool qn_lanes_should_digest(const struct qn_lanes *l, enum qn_lane lane,
                            const struct qn_ratelimit *rl, const struct qn_ratelimit_config *limits,
                            size_t n, long long now)
{
    if (n == 0 || (unsigned)lane >= QN_LANES)
        return false;
    if (limits->digest_after > 0) {
        const long long *t = l->events[lane];
        size_t total = l->n_events[lane], first;

        for (first = 0; first < total && now - t[first] >= (long long)limits->digest_window_s;
             first++)
            ;
        if (total - first + n > limits->digest_after)
            return true;
    }
    return qn_lanes_available(lane, rl, limits, now, NULL) < n;
}

/* ---- state text ------------------------------------------------------------------------ */

enum qn_status qn_lanes_format(const struct qn_lanes *l, long long now, struct qn_buf *out)
{
    size_t start = out->len;
    enum qn_status r = qn_buf_puts(out, "lanes 1\n");

    for (unsigned lane = 0; r == QN_OK && lane < QN_LANES; lane++) {
        for (size_t i = 0; r == QN_OK && i < l->n_events[lane] && i < QN_LANES_EVENTS_MAX; i++) {
            if (now - l->events[lane][i] < DAY)
                r = qn_buf_printf(out, "event %u %lld\n", lane, l->events[lane][i]);
        }
    }
    for (size_t i = 0; r == QN_OK && i < l->n_keys && i < QN_LANES_KEYS_MAX; i++) {
        const struct qn_lanes_key *k = &l->keys[i];

        /* A day is the longest window: older keys have nothing left to say. */
        if (now - k->start < DAY || k->over > 0)
            r = qn_buf_printf(out, "key %u %lld %llu %llu %s\n", (unsigned)k->lane, k->start,
                              k->admitted, k->over, k->key);
    }
    if (r != QN_OK)
        qn_buf_truncate(out, start);
    return r;
}

/* Decimal digits only, at most MAX (larger values count as MAX when CLAMP). */
static bool number(const char **p, unsigned long long max, bool clamp, unsigned long long *ret)
{
    unsigned long long v = 0;
    const char *s = *p;

    if (*s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
        return false;
    for (; *s >= '0' && *s <= '9'; s++) {
        if (v > (ULLONG_MAX - (unsigned)(*s - '0')) / 10)
            return false; /* not a number this file could hold */
        v = v * 10 + (unsigned)(*s - '0');
    }
    if (v > max) {
        if (!clamp)
            return false;
        v = max;
    }
    *p = s;
    *ret = v;
    return true;
}

static bool blank(const char **p)
{
    if (**p != ' ')
        return false;
    (*p)++;
    return true;
}

static bool parse_line(struct qn_lanes *l, const char *line, long long now, bool *keys_started)
{
    unsigned long long lane, t, admitted, over;
    const char *p;

    if (strncmp(line, "event ", 6) == 0) {
        p = line + 6;
        if (*keys_started || !number(&p, QN_LANES - 1, false, &lane) || !blank(&p) ||
            !number(&p, (unsigned long long)QN_RATELIMIT_TIME_MAX, false, &t) || *p != '\0')
            return false;
        if (l->n_events[lane] == QN_LANES_EVENTS_MAX)
            return false;
        /* Never after now, never before the one before it (ascending). */
        t = (unsigned long long)clamp_time((long long)t, now);
        if (l->n_events[lane] > 0 && (long long)t < l->events[lane][l->n_events[lane] - 1])
            t = (unsigned long long)l->events[lane][l->n_events[lane] - 1];
        l->events[lane][l->n_events[lane]++] = (long long)t;
        return true;
    }
    if (strncmp(line, "key ", 4) == 0) {
        struct qn_lanes_key *k;
        size_t n;

        *keys_started = true;
        p = line + 4;
        if (!number(&p, QN_LANES - 1, false, &lane) || !blank(&p) ||
            !number(&p, (unsigned long long)QN_RATELIMIT_TIME_MAX, false, &t) || !blank(&p) ||
            !number(&p, QN_LANES_COUNT_MAX, true, &admitted) || !blank(&p) ||
            !number(&p, QN_LANES_COUNT_MAX, true, &over) || !blank(&p))
            return false;
        n = strlen(p);
        if (n == 0 || n >= QN_LANES_KEY_MAX || l->n_keys == QN_LANES_KEYS_MAX)
            return false;
        for (size_t i = 0; i < n; i++)
            if (!key_char(p[i]))
                return false;
        k = &l->keys[l->n_keys++];
        memset(k, 0, sizeof(*k));
        memcpy(k->key, p, n + 1);
        k->lane = (enum qn_lane)lane;
        k->start = clamp_time((long long)t, now);
        k->admitted = admitted;
        k->over = over;
        return true;
    }
    return false;
}

enum qn_status qn_lanes_parse(struct qn_lanes *l, const char *text, size_t len, long long now)
{
    char line[QN_LANES_KEY_MAX + 128];
    bool keys_started = false;
    size_t pos = 0;

    qn_lanes_init(l);
    if (text == NULL || len < 8 || memcmp(text, "lanes 1\n", 8) != 0)
        goto bad;
    pos = 8;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n;

        if (nl == NULL)
            goto bad; /* cut: not written completely */
        n = (size_t)(nl - (text + pos));
        if (n >= sizeof(line) || memchr(text + pos, '\0', n) != NULL)
            goto bad;
        memcpy(line, text + pos, n);
        line[n] = '\0';
        pos += n + 1;
        if (!parse_line(l, line, now, &keys_started))
            goto bad;
    }
    return QN_OK;
bad:
    qn_lanes_init(l);
    return QN_EINVAL;
}

/* The longest state text: every line at its longest. */
#define STATE_MAX                                                                                  \
    (16 + QN_LANES * QN_LANES_EVENTS_MAX * 32 + QN_LANES_KEYS_MAX * (QN_LANES_KEY_MAX + 80))

enum qn_status qn_lanes_load(struct qn_lanes *l, struct qn_spool *sp, long long now)
{
    char *text = malloc(STATE_MAX + 1);
    size_t len = 0;
    enum qn_status r = QN_ENOMEM;
    int saved;

    qn_lanes_init(l);
    if (text != NULL)
        r = qn_spool_state_read(sp, QN_LANES_STATE_NAME, text, STATE_MAX + 1, &len);
    if (r == QN_OK)
        r = qn_lanes_parse(l, text, len, now);
    saved = errno;
    free(text);
    errno = saved;
    return r;
}

enum qn_status qn_lanes_save(const struct qn_lanes *l, struct qn_spool *sp, long long now)
{
    struct qn_buf text;
    enum qn_status r;

    qn_buf_init(&text, STATE_MAX);
    r = qn_lanes_format(l, now, &text);
    if (r == QN_OK)
        r = qn_spool_state_write(sp, QN_LANES_STATE_NAME, text.data, text.len);
    qn_buf_free(&text);
    return r;
}
