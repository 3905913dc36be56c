/*
 * silence — see silence.h for the contract, the pattern syntax and the
 * state form.
 *
 * The matcher walks the pattern token by token (a literal character, '?',
 * a set or '*').  On a mismatch it goes back to the last '*' seen and lets
 * it swallow one more character of the value; an earlier '*' never needs
 * revisiting, because whatever the later one can match the earlier one
 * could have left to it.  So each position of the value is the start of at
 * most one attempt per pattern token: O(value x pattern), no recursion.
 */
#include "silence.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "text.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Keys a login event of the PAM module can have (pam/pam_qqnotify.c). */
static const char *const login_keys[] = {
    "kind", "host", "service", "user", "ruser", "rhost",
    "ip",   "tty",  "method",  "key",  "pid",   "session",
};

/* ---- patterns ----------------------------------------------------------------------- */

/* Length of the UTF-8 character at S (1 for a byte that starts none: values are
 * sanitised, but a hand-made event must not make the matcher stop). */
static size_t char_len(const char *s)
{
    size_t n = qn_text_utf8_next(s, strnlen(s, 4), NULL);

    return n == 0 ? 1 : n;
}

/*
 * The set starting at P (just after '['): does it hold byte C?  *RET_END gets
 * the position after the closing ']'.  False with *RET_END NULL when the set
 * is not closed.  A ']' right after '[' or "[!" is a member; '\' escapes.
 */
static bool set_holds(const char *p, unsigned char c, const char **ret_end)
{
    bool negate = false, found = false, first = true;

    *ret_end = NULL;
    if (*p == '!' || *p == '^') {
        negate = true;
        p++;
    }
    while (*p != '\0' && (*p != ']' || first)) {
        unsigned char lo, hi;

        first = false;
        if (*p == '\\' && p[1] != '\0')
            p++;
        lo = (unsigned char)*p++;
        hi = lo;
        if (*p == '-' && p[1] != ']' && p[1] != '\0') {
            p++;
            if (*p == '\\' && p[1] != '\0')
                p++;
            hi = (unsigned char)*p++;
        }
        if (c >= lo && c <= hi)
            found = true;
    }
    if (*p != ']')
        return false;
    *ret_end = p + 1;
    return found != negate;
}

bool qn_silence_glob(const char *pattern, const char *value)
{
    const char *p = pattern, *v = value;
    const char *star_p = NULL, *star_v = NULL;

    if (pattern == NULL || value == NULL || qn_silence_pattern_check(pattern) != QN_OK)
        return false;
    while (*v != '\0') {
        if (*p == '*') {
            while (*p == '*')
                p++;
            star_p = p;
            star_v = v;
            continue;
        }
        if (*p == '?') {
            p++;
            v += char_len(v);
            continue;
        }
        if (*p == '[') {
            const char *end;

            if ((unsigned char)*v < 0x80 && set_holds(p + 1, (unsigned char)*v, &end)) {
                p = end;
                v++;
                continue;
            }
        } else if (*p != '\0') {
            const char *lit = p;

            if (*lit == '\\')
                lit++;
            if (*lit == *v) {
                p = lit + 1;
                v++;
                continue;
            }
        }
        /* Mismatch: the last star takes one more character, or the match fails. */
        if (star_p == NULL)
            return false;
        star_v += char_len(star_v);
        v = star_v;
        p = star_p;
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

enum qn_status qn_silence_pattern_check(const char *pattern)
{
    const char *p;
    size_t n;

    if (pattern == NULL)
        return QN_EINVAL;
    n = strnlen(pattern, QN_SILENCE_PATTERN_MAX);
    if (n == 0)
        return QN_EINVAL;
    if (n >= QN_SILENCE_PATTERN_MAX)
        return QN_ETOOBIG;
    if (!qn_text_utf8_valid(pattern, n))
        return QN_EINVAL;
    for (p = pattern; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;

        if (c < 0x20 || c == 0x7f)
            return QN_EINVAL;
    }
    /* C1 controls, line separators, bidi controls: the sanitiser's list. */
    {
        char clean[QN_SILENCE_PATTERN_MAX + 8];

        if (qn_text_sanitize_line(pattern, n, clean, sizeof(clean)) != n ||
            memcmp(clean, pattern, n) != 0)
            return QN_EINVAL;
    }
    for (p = pattern; *p != '\0';) {
        if (*p == '\\') {
            if (p[1] == '\0')
                return QN_EINVAL;
            p += 1 + char_len(p + 1);
        } else if (*p == '[') {
            const char *q = p + 1;
            bool first = true;

            if (*q == '!' || *q == '^')
                q++;
            while (*q != '\0' && (*q != ']' || first)) {
                first = false;
                if (*q == '\\' && q[1] != '\0')
                    q++;
                if ((unsigned char)*q >= 0x80)
                    return QN_EINVAL; /* sets hold ASCII only */
                q++;
            }
            if (*q != ']')
                return QN_EINVAL;
            p = q + 1;
        } else {
            p += char_len(p);
        }
    }
    return QN_OK;
}

enum qn_status qn_silence_key_check(const char *key)
{
    if (key == NULL || !qn_event_key_valid(key, strnlen(key, QN_SILENCE_KEY_MAX)))
        return QN_EINVAL;
    return QN_OK;
}

enum qn_status qn_silence_match_parse(const char *text, struct qn_silence_match *ret)
{
    const char *eq;
    size_t klen;
    enum qn_status r;

    if (text == NULL || ret == NULL)
        return QN_EINVAL;
    eq = strchr(text, '=');
    if (eq == NULL)
        return QN_EINVAL;
    klen = (size_t)(eq - text);
    if (!qn_event_key_valid(text, klen))
        return QN_EINVAL;
    r = qn_silence_pattern_check(eq + 1);
    if (r != QN_OK)
        return r;
    memset(ret, 0, sizeof(*ret));
    memcpy(ret->key, text, klen);
    snprintf(ret->pattern, sizeof(ret->pattern), "%s", eq + 1);
    return QN_OK;
}

/* ---- decisions ---------------------------------------------------------------------- */

/* EV's value for KEY, bounded by its arrays; NULL when it has none. */
static const char *event_value(const struct qn_event *ev, const char *key, char *buf, size_t bufsz)
{
    const char *src;
    size_t i, n, max;

    if (strcmp(key, "kind") == 0) {
        src = ev->kind;
        max = sizeof(ev->kind);
    } else if (strcmp(key, "host") == 0) {
        src = ev->host;
        max = sizeof(ev->host);
    } else if (strcmp(key, "subject") == 0) {
        src = ev->subject;
        max = sizeof(ev->subject);
    } else {
        n = ev->n_fields < QN_EVENT_FIELDS_MAX ? ev->n_fields : QN_EVENT_FIELDS_MAX;
        src = NULL;
        max = 0;
        for (i = 0; i < n; i++) {
            if (strncmp(ev->fields[i].key, key, sizeof(ev->fields[i].key)) == 0) {
                src = ev->fields[i].value;
                max = sizeof(ev->fields[i].value);
                break;
            }
        }
        if (src == NULL)
            return NULL;
    }
    n = strnlen(src, max);
    if (n == 0 && strcmp(key, "kind") != 0)
        return NULL; /* an empty host or subject is no value */
    /* The struct is public: copy so a value without its NUL is never over-read. */
    if (n >= bufsz)
        n = bufsz - 1;
    memcpy(buf, src, n);
    buf[n] = '\0';
    return buf;
}

bool qn_silence_matches_event(const struct qn_silence *s, const struct qn_event *ev)
{
    char value[QN_EVENT_VALUE_MAX + 1];
    size_t i;

    if (s == NULL || ev == NULL || s->n_matches == 0 || s->n_matches > QN_SILENCE_MATCHES_MAX)
        return false;
    for (i = 0; i < s->n_matches; i++) {
        const char *v = event_value(ev, s->matches[i].key, value, sizeof(value));

        if (v == NULL || !qn_silence_glob(s->matches[i].pattern, v))
            return false;
    }
    return true;
}

bool qn_silence_active(const struct qn_silence *s, long long t)
{
    return s != NULL && s->start <= t && t < s->end;
}

const struct qn_silence *qn_silence_find(const struct qn_silences *set, const struct qn_event *ev,
                                         long long t)
{
    size_t i, n;

    if (set == NULL || ev == NULL)
        return NULL;
    n = set->n < QN_SILENCE_MAX ? set->n : QN_SILENCE_MAX;
    for (i = 0; i < n; i++) {
        if (qn_silence_active(&set->items[i], t) && qn_silence_matches_event(&set->items[i], ev))
            return &set->items[i];
    }
    return NULL;
}

/* True when PATTERN has a character that is neither a wildcard nor in a set. */
static bool pattern_has_literal(const char *p)
{
    while (*p != '\0') {
        if (*p == '*' || *p == '?') {
            p++;
        } else if (*p == '[') {
            const char *end = NULL;

            (void)set_holds(p + 1, 0, &end);
            if (end == NULL)
                return true; /* invalid: never reached for a checked pattern */
            p = end;
        } else {
            return true;
        }
    }
    return false;
}

bool qn_silence_covers_all_logins(const struct qn_silence *s, const char *local_host)
{
    size_t i, k;

    if (s == NULL || s->n_matches == 0)
        return false;
    for (i = 0; i < s->n_matches && i < QN_SILENCE_MATCHES_MAX; i++) {
        const struct qn_silence_match *m = &s->matches[i];
        bool login_key = false;

        for (k = 0; k < ARRAY_SIZE(login_keys); k++)
            login_key = login_key || strcmp(m->key, login_keys[k]) == 0;
        if (!login_key)
            return false; /* logins never have it: this match excludes them */
        if (strcmp(m->key, "kind") == 0) {
            if (!qn_silence_glob(m->pattern, "login"))
                return false;
            continue;
        }
        if (strcmp(m->key, "host") == 0 && local_host != NULL && local_host[0] != '\0' &&
            qn_silence_glob(m->pattern, local_host))
            continue;
        if (pattern_has_literal(m->pattern))
            return false;
    }
    return true;
}

/* ---- the set ------------------------------------------------------------------------ */

void qn_silences_init(struct qn_silences *set)
{
    memset(set, 0, sizeof(*set));
}

/* The index of silence ID in SET, or -1. */
static long find(const struct qn_silences *set, const char *id)
{
    size_t i;

    if (set == NULL || id == NULL)
        return -1;
    for (i = 0; i < set->n && i < QN_SILENCE_MAX; i++) {
        if (strcmp(set->items[i].id, id) == 0)
            return (long)i;
    }
    return -1;
}

struct qn_silence *qn_silences_get(struct qn_silences *set, const char *id)
{
    long i = find(set, id);

    return i < 0 ? NULL : &set->items[i];
}

static bool id_valid(const char *id, size_t n)
{
    size_t i;

    if (n != QN_SILENCE_ID_LEN)
        return false;
    for (i = 0; i < n; i++) {
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    }
    return true;
}

/* A NUL-terminated string within SIZE bytes that is one clean line (may be empty). */
static bool clean_string(const char *s, size_t size)
{
    char tmp[QN_EVENT_VALUE_MAX + 8];
    size_t n = strnlen(s, size);

    if (n >= size || n + 8 > sizeof(tmp))
        return false;
    if (n == 0)
        return true;
    return qn_text_sanitize_line(s, n, tmp, sizeof(tmp)) == n && memcmp(tmp, s, n) == 0;
}

static bool time_valid(long long t)
{
    return t >= 0 && t <= QN_SILENCE_TIME_MAX;
}

/* Everything _add and _save require of one silence. */
static bool silence_valid(const struct qn_silence *s)
{
    size_t i;

    if (!id_valid(s->id, strnlen(s->id, sizeof(s->id))) || !time_valid(s->created) ||
        !time_valid(s->start) || !time_valid(s->end) || s->end < s->start ||
        s->end - s->start > QN_SILENCE_LONGEST_S)
        return false;
    if (s->creator[0] == '\0' || !clean_string(s->creator, sizeof(s->creator)) ||
        !clean_string(s->comment, sizeof(s->comment)) ||
        !clean_string(s->expired_by, sizeof(s->expired_by)))
        return false;
    if (s->expired != 0 &&
        (s->expired < s->start || s->expired > s->end || s->expired_by[0] == '\0'))
        return false;
    if (s->n_matches == 0 || s->n_matches > QN_SILENCE_MATCHES_MAX)
        return false;
    for (i = 0; i < s->n_matches; i++) {
        if (qn_silence_key_check(s->matches[i].key) != QN_OK ||
            qn_silence_pattern_check(s->matches[i].pattern) != QN_OK)
            return false;
    }
    return true;
}

/* Drop silences that ended more than QN_SILENCE_KEEP_ENDED_S before NOW. */
static void prune(struct qn_silences *set, long long now)
{
    size_t i, kept = 0;

    for (i = 0; i < set->n; i++) {
        if (set->items[i].end < now - QN_SILENCE_KEEP_ENDED_S)
            continue;
        if (kept != i)
            set->items[kept] = set->items[i];
        kept++;
    }
    set->n = kept;
}

enum qn_status qn_silences_add(struct qn_silences *set, const struct qn_silence *s, long long now)
{
    if (set == NULL || s == NULL || set->n > QN_SILENCE_MAX || !silence_valid(s) ||
        find(set, s->id) >= 0)
        return QN_EINVAL;
    prune(set, now);
    if (set->n == QN_SILENCE_MAX)
        return QN_ETOOBIG;
    set->items[set->n++] = *s;
    return QN_OK;
}

enum qn_status qn_silences_expire(struct qn_silences *set, const char *id, const char *by,
                                  long long now)
{
    struct qn_silence *s = qn_silences_get(set, id);

    if (s == NULL)
        return QN_ENOTFOUND;
    if (s->end <= now || by == NULL || by[0] == '\0')
        return QN_EINVAL;
    s->end = now < s->start ? s->start : now;
    s->expired = s->end;
    qn_text_sanitize_line(by, strnlen(by, 4 * QN_SILENCE_CREATOR_MAX), s->expired_by,
                          sizeof(s->expired_by));
    return QN_OK;
}

enum qn_status qn_silences_new_id(const struct qn_silences *set, char out[QN_SILENCE_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char rnd[QN_SILENCE_ID_LEN / 2];
    unsigned attempt;
    size_t i;

    for (attempt = 0; attempt < 16; attempt++) {
        ssize_t n = getrandom(rnd, sizeof(rnd), 0);

        if (n != (ssize_t)sizeof(rnd))
            return QN_EIO;
        for (i = 0; i < sizeof(rnd); i++) {
            out[2 * i] = hex[rnd[i] >> 4];
            out[2 * i + 1] = hex[rnd[i] & 0xf];
        }
        out[QN_SILENCE_ID_LEN] = '\0';
        if (find(set, out) < 0)
            return QN_OK;
    }
    errno = EEXIST;
    return QN_EIO; /* 16 collisions in 48 random bits: the random source is broken */
}

/* ---- state text --------------------------------------------------------------------- */

#define STATE_HEADER "qqnotify-silences 1\n"

enum qn_status qn_silences_save(const struct qn_silences *set, struct qn_buf *out)
{
    size_t start, i, m;
    enum qn_status r;

    if (set == NULL || out == NULL || set->n > QN_SILENCE_MAX)
        return QN_EINVAL;
    for (i = 0; i < set->n; i++) {
        if (!silence_valid(&set->items[i]))
            return QN_EINVAL;
    }
    start = out->len;
    r = qn_buf_puts(out, STATE_HEADER);
    for (i = 0; r == QN_OK && i < set->n; i++) {
        const struct qn_silence *s = &set->items[i];

        r = qn_buf_printf(out, "silence %s\ncreated %lld\nstart %lld\nend %lld\nby %s\n", s->id,
                          s->created, s->start, s->end, s->creator);
        if (r == QN_OK && s->comment[0] != '\0')
            r = qn_buf_printf(out, "comment %s\n", s->comment);
        for (m = 0; r == QN_OK && m < s->n_matches; m++)
            r = qn_buf_printf(out, "match %s %s\n", s->matches[m].key, s->matches[m].pattern);
        if (r == QN_OK && s->expired != 0)
            r = qn_buf_printf(out, "expired %lld %s\n", s->expired, s->expired_by);
    }
    if (r != QN_OK)
        qn_buf_truncate(out, start);
    return r;
}

/* A decimal number 0..QN_SILENCE_TIME_MAX (clamped above), digits only, up to END. */
static bool parse_time(const char *s, const char *end, long long *ret)
{
    long long v = 0;

    if (s == end || end - s > 19)
        return false;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9')
            return false;
        if (v <= QN_SILENCE_TIME_MAX) /* past it the value is clamped: stop growing */
            v = v * 10 + (*s - '0');
    }
    *ret = v > QN_SILENCE_TIME_MAX ? QN_SILENCE_TIME_MAX : v;
    return true;
}

/* Copy the N bytes at S into DST (SIZE bytes) if they fit and form a clean line. */
static bool take_text(const char *s, size_t n, char *dst, size_t size, bool allow_empty)
{
    if (n >= size || (n == 0 && !allow_empty))
        return false;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return clean_string(dst, size);
}

enum line_kind {
    L_SILENCE,
    L_CREATED,
    L_START,
    L_END,
    L_BY,
    L_COMMENT,
    L_MATCH,
    L_EXPIRED,
    L_NONE,
};

static enum line_kind line_kind(const char *line, size_t n, const char **ret_rest)
{
    static const char *const words[] = {
        [L_SILENCE] = "silence", [L_CREATED] = "created", [L_START] = "start",
        [L_END] = "end",         [L_BY] = "by",           [L_COMMENT] = "comment",
        [L_MATCH] = "match",     [L_EXPIRED] = "expired",
    };
    size_t i, w;

    for (i = 0; i < ARRAY_SIZE(words); i++) {
        w = strlen(words[i]);
        if (n > w && memcmp(line, words[i], w) == 0 && line[w] == ' ') {
            *ret_rest = line + w + 1;
            return (enum line_kind)i;
        }
    }
    return L_NONE;
}

/* Clamp what a hand-edited file may hold: end within start..start+LONGEST, expired within. */
static void clamp(struct qn_silence *s)
{
    if (s->end < s->start)
        s->end = s->start;
    if (s->end - s->start > QN_SILENCE_LONGEST_S)
        s->end = s->start + QN_SILENCE_LONGEST_S;
    if (s->expired != 0 && s->expired < s->start)
        s->expired = s->start;
    if (s->expired > s->end)
        s->expired = s->end;
}

/* One line (N bytes, no '\n') into the silence being read; *NEXT says which lines may come. */
static bool load_line(struct qn_silences *set, const char *line, size_t n, enum line_kind *next)
{
    const char *rest = NULL, *end = line + n;
    enum line_kind k = line_kind(line, n, &rest);
    struct qn_silence *s = set->n > 0 ? &set->items[set->n - 1] : NULL;
    size_t rn = k == L_NONE ? 0 : (size_t)(end - rest);

    switch (k) {
    case L_SILENCE:
        /* A new block: only first, or after a complete one (at least one match). */
        if (*next != L_SILENCE && *next != L_MATCH)
            return false;
        if (*next == L_MATCH && (s == NULL || s->n_matches == 0))
            return false;
        if (s != NULL)
            clamp(s);
        if (set->n == QN_SILENCE_MAX || !id_valid(rest, rn))
            return false;
        s = &set->items[set->n];
        memset(s, 0, sizeof(*s));
        memcpy(s->id, rest, rn);
        if (qn_silences_get(set, s->id) != NULL)
            return false;
        set->n++;
        *next = L_CREATED;
        return true;
    case L_CREATED:
    case L_START:
    case L_END:
        if (*next != k)
            return false;
        if (!parse_time(rest, end,
                        k == L_CREATED ? &s->created
                        : k == L_START ? &s->start
                                       : &s->end))
            return false;
        *next = (enum line_kind)(k + 1);
        return true;
    case L_BY:
        if (*next != L_BY || !take_text(rest, rn, s->creator, sizeof(s->creator), false))
            return false;
        *next = L_COMMENT;
        return true;
    case L_COMMENT:
        if (*next != L_COMMENT || !take_text(rest, rn, s->comment, sizeof(s->comment), false))
            return false;
        *next = L_MATCH;
        return true;
    case L_MATCH: {
        const char *sp = memchr(rest, ' ', rn);
        struct qn_silence_match *m;

        if ((*next != L_COMMENT && *next != L_MATCH) || s->n_matches == QN_SILENCE_MATCHES_MAX ||
            sp == NULL)
            return false;
        m = &s->matches[s->n_matches];
        if (!qn_event_key_valid(rest, (size_t)(sp - rest)) ||
            !take_text(sp + 1, (size_t)(end - sp - 1), m->pattern, sizeof(m->pattern), false) ||
            qn_silence_pattern_check(m->pattern) != QN_OK)
            return false;
        memcpy(m->key, rest, (size_t)(sp - rest));
        m->key[sp - rest] = '\0';
        s->n_matches++;
        *next = L_MATCH;
        return true;
    }
    case L_EXPIRED: {
        const char *sp = memchr(rest, ' ', rn);

        if (*next != L_MATCH || s->n_matches == 0 || sp == NULL ||
            !parse_time(rest, sp, &s->expired) || s->expired == 0 ||
            !take_text(sp + 1, (size_t)(end - sp - 1), s->expired_by, sizeof(s->expired_by), false))
            return false;
        *next = L_SILENCE; /* the block is complete */
        return true;
    }
    case L_NONE:
        break;
    }
    return false;
}

enum qn_status qn_silences_load(struct qn_silences *set, const char *text, size_t len)
{
    enum line_kind next = L_SILENCE;
    size_t pos, hl = strlen(STATE_HEADER);

    if (set == NULL)
        return QN_EINVAL;
    qn_silences_init(set);
    if (text == NULL || len < hl || memcmp(text, STATE_HEADER, hl) != 0 ||
        memchr(text, '\0', len) != NULL)
        goto bad;
    for (pos = hl; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);

        if (nl == NULL || !load_line(set, text + pos, (size_t)(nl - (text + pos)), &next))
            goto bad;
        pos = (size_t)(nl - text) + 1;
    }
    /* The last block must be complete too. */
    if (set->n > 0 && set->items[set->n - 1].n_matches == 0)
        goto bad;
    if (set->n > 0)
        clamp(&set->items[set->n - 1]);
    return QN_OK;
bad:
    qn_silences_init(set);
    return QN_EINVAL;
}

enum qn_status qn_silences_read(struct qn_spool *sp, struct qn_silences *set)
{
    size_t len = 0;
    char *buf;
    enum qn_status r;

    if (sp == NULL || set == NULL)
        return QN_EINVAL;
    qn_silences_init(set);
    buf = malloc(QN_SILENCE_STATE_MAX + 1);
    if (buf == NULL)
        return QN_ENOMEM;
    r = qn_spool_state_read(sp, QN_SILENCE_STATE_NAME, buf, QN_SILENCE_STATE_MAX + 1, &len);
    if (r == QN_OK)
        r = qn_silences_load(set, buf, len);
    free(buf);
    return r;
}

enum qn_status qn_silences_write(struct qn_spool *sp, const struct qn_silences *set)
{
    struct qn_buf b;
    enum qn_status r;

    if (sp == NULL || set == NULL)
        return QN_EINVAL;
    qn_buf_init(&b, QN_SILENCE_STATE_MAX);
    r = qn_silences_save(set, &b);
    if (r == QN_OK)
        r = qn_spool_state_write(sp, QN_SILENCE_STATE_NAME, b.data, b.len);
    qn_buf_free(&b);
    return r;
}
