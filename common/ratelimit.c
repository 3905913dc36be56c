/*
 * ratelimit — see ratelimit.h for the contract and the state form.
 *
 * The state is a list of send times rather than counters per calendar
 * minute/hour/day: a fixed-window counter lets twice the limit through
 * around a window edge (limit at 10:59:59, limit again at 11:00:00), which
 * is exactly the burst a provider's sliding or per-IP accounting punishes.
 * With the times themselves the limiter also knows when the next mail may
 * go, so the sender can sleep or schedule a retry instead of polling.
 *
 * Every list is ascending, so "how many in the last W seconds" is the tail
 * after the first entry newer than NOW - W, and "when will one more fit" is
 * the time the (count - limit + 1)-th oldest of that tail leaves the window.
 * Linear scans over at most 2000 entries: simpler than a ring buffer and
 * far cheaper than the mail it guards.
 */
#include "ratelimit.h"

#include <stdio.h>
#include <string.h>

#define MINUTE 60LL
#define HOUR   3600LL
#define DAY    86400LL

static long long clamp_time(long long t)
{
    if (t < 0)
        return 0;
    return t > QN_RATELIMIT_TIME_MAX ? QN_RATELIMIT_TIME_MAX : t;
}

static long long max_ll(long long a, long long b)
{
    return a > b ? a : b;
}

void qn_ratelimit_init(struct qn_ratelimit *rl)
{
    memset(rl, 0, sizeof(*rl));
}

/* Index of the first of the N ascending TIMES still inside a window of W seconds at NOW. */
static size_t first_in_window(const long long *times, size_t n, long long now, long long w)
{
    size_t i;

    for (i = 0; i < n && now - times[i] >= w; i++)
        ;
    return i;
}

/* Drop entries a day old or older: no window looks further back. */
static void prune(long long *times, size_t *n, long long now)
{
    size_t k = first_in_window(times, *n, now, DAY);

    if (k == 0)
        return;
    memmove(times, times + k, (*n - k) * sizeof(times[0]));
    *n -= k;
}

/* Room for one more at the end, dropping the oldest when full. */
static void make_room(long long *times, size_t *n, size_t max)
{
    if (*n < max)
        return;
    memmove(times, times + 1, (max - 1) * sizeof(times[0]));
    *n = max - 1;
}

static unsigned effective_limit(unsigned limit, bool halved)
{
    if (limit == 0)
        return 0;
    if (limit > QN_RATELIMIT_SENT_MAX)
        limit = QN_RATELIMIT_SENT_MAX;
    if (halved)
        limit = limit / 2 > 0 ? limit / 2 : 1;
    return limit;
}

/*
 * Mails that may go at NOW under the three limits (halved minute/hour when
 * HALVED), ignoring backoff; *ret_free is the earliest time at least one
 * may go, NOW when one may already.  *RET_WINDOW (when not NULL) is the
 * index (0 minute, 1 hour, 2 day) of the full window that frees last, the
 * longer one on a tie, or -1 when none is full.
 */
static unsigned window_room(const struct qn_ratelimit *rl, const struct qn_ratelimit_config *cfg,
                            bool halved, long long now, long long *ret_free, int *ret_window)
{
    const struct {
        unsigned limit;
        long long seconds;
    } w[] = {
        {effective_limit(cfg->max_per_minute, halved), MINUTE},
        {effective_limit(cfg->max_per_hour, halved), HOUR},
        {effective_limit(cfg->max_per_day, false), DAY},
    };
    size_t n = rl->n_sent < QN_RATELIMIT_SENT_MAX ? rl->n_sent : QN_RATELIMIT_SENT_MAX;
    unsigned room = QN_RATELIMIT_SENT_MAX;
    size_t i;

    *ret_free = now;
    if (ret_window != NULL)
        *ret_window = -1;
    for (i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
        size_t first, count;
        long long free_at;

        if (w[i].limit == 0)
            continue;
        first = first_in_window(rl->sent, n, now, w[i].seconds);
        count = n - first;
        if (count < w[i].limit) {
            if (w[i].limit - count < room)
                room = (unsigned)(w[i].limit - count);
            continue;
        }
        room = 0;
        /* Free once the (count - limit + 1) oldest in the window have left it. */
        free_at = rl->sent[first + (count - w[i].limit)] + w[i].seconds;
        if (ret_window != NULL && (*ret_window < 0 || free_at >= *ret_free))
            *ret_window = (int)i;
        *ret_free = max_ll(*ret_free, free_at);
    }
    return room;
}

/* The end of the backoff, or of the provider's block after the reply (block_s). */
static long long blocked_until(const struct qn_ratelimit *rl, const struct qn_ratelimit_config *cfg)
{
    if (cfg->block_s == 0 || rl->backoff_s <= 0 || rl->backoff_until <= 0)
        return rl->backoff_until;
    return max_ll(rl->backoff_until,
                  clamp_time(rl->backoff_until - rl->backoff_s + (long long)cfg->block_s));
}

unsigned qn_ratelimit_available(const struct qn_ratelimit *rl,
                                const struct qn_ratelimit_config *cfg, long long now,
                                long long *ret_next)
{
    bool slow, backoff;
    long long free_now, free_normal, next, until = blocked_until(rl, cfg);
    unsigned room;

    now = clamp_time(now);
    slow = now < rl->slow_until;
    backoff = now < until;
    room = window_room(rl, cfg, slow, now, &free_now, NULL);
    if (room > 0 && !backoff) {
        if (ret_next != NULL)
            *ret_next = now;
        return room;
    }
    /*
     * Blocked.  Windows only empty as time passes (nothing is sent while
     * blocked), so "free" is monotone: the earliest time under the halved
     * limits, if it comes before slow_until; otherwise the earliest time
     * under the normal limits, but not before slow_until.
     */
    next = max_ll(free_now, until);
    if (slow && next >= rl->slow_until) {
        (void)window_room(rl, cfg, false, now, &free_normal, NULL);
        next = max_ll(max_ll(free_normal, until), rl->slow_until);
    }
    if (ret_next != NULL)
        *ret_next = next;
    return 0;
}

void qn_ratelimit_explain(const struct qn_ratelimit *rl, const struct qn_ratelimit_config *cfg,
                          long long now, struct qn_ratelimit_block *ret)
{
    static const enum qn_ratelimit_limit limits[] = {QN_RATELIMIT_MINUTE, QN_RATELIMIT_HOUR,
                                                     QN_RATELIMIT_DAY};
    const unsigned configured[] = {cfg->max_per_minute, cfg->max_per_hour, cfg->max_per_day};
    long long free_at;
    bool slow;
    int which;

    memset(ret, 0, sizeof(*ret));
    if (qn_ratelimit_available(rl, cfg, now, &ret->next) > 0)
        return;
    now = clamp_time(now);
    slow = now < rl->slow_until;
    (void)window_room(rl, cfg, slow, now, &free_at, &which);
    if (which < 0 || blocked_until(rl, cfg) > free_at) {
        ret->limit = QN_RATELIMIT_BACKOFF;
        return;
    }
    ret->limit = limits[which];
    ret->allowed = effective_limit(configured[which], slow && limits[which] != QN_RATELIMIT_DAY);
    ret->halved = ret->allowed != effective_limit(configured[which], false);
}

void qn_ratelimit_record_sent(struct qn_ratelimit *rl, long long now)
{
    now = clamp_time(now);
    if (rl->n_sent > QN_RATELIMIT_SENT_MAX)
        rl->n_sent = QN_RATELIMIT_SENT_MAX;
    prune(rl->sent, &rl->n_sent, now);
    make_room(rl->sent, &rl->n_sent, QN_RATELIMIT_SENT_MAX);
    /* Keep the list ascending when the clock stepped back (see the header). */
    if (rl->n_sent > 0)
        now = max_ll(now, rl->sent[rl->n_sent - 1]);
    rl->sent[rl->n_sent++] = now;
    rl->backoff_until = 0;
    rl->backoff_s = 0;
}

void qn_ratelimit_record_events(struct qn_ratelimit *rl, size_t n, long long now)
{
    size_t i;

    now = clamp_time(now);
    if (rl->n_events > QN_RATELIMIT_EVENTS_MAX)
        rl->n_events = QN_RATELIMIT_EVENTS_MAX;
    prune(rl->events, &rl->n_events, now);
    if (rl->n_events > 0)
        now = max_ll(now, rl->events[rl->n_events - 1]);
    if (n >= QN_RATELIMIT_EVENTS_MAX) {
        for (i = 0; i < QN_RATELIMIT_EVENTS_MAX; i++)
            rl->events[i] = now;
        rl->n_events = QN_RATELIMIT_EVENTS_MAX;
        return;
    }
    for (i = 0; i < n; i++) {
        make_room(rl->events, &rl->n_events, QN_RATELIMIT_EVENTS_MAX);
        rl->events[rl->n_events++] = now;
    }
}

bool qn_ratelimit_should_digest(const struct qn_ratelimit *rl,
                                const struct qn_ratelimit_config *cfg, size_t n, long long now)
{
    size_t recent,
        total = rl->n_events < QN_RATELIMIT_EVENTS_MAX ? rl->n_events : QN_RATELIMIT_EVENTS_MAX;

    if (n == 0)
        return false;
    now = clamp_time(now);
    if (cfg->digest_after > 0) {
        recent = total - first_in_window(rl->events, total, now, (long long)cfg->digest_window_s);
        if (recent + n > cfg->digest_after)
            return true;
    }
    return qn_ratelimit_available(rl, cfg, now, NULL) < n;
}

void qn_ratelimit_penalize(struct qn_ratelimit *rl, long long now)
{
    now = clamp_time(now);
    if (rl->backoff_s < QN_RATELIMIT_BACKOFF_MIN)
        rl->backoff_s = QN_RATELIMIT_BACKOFF_MIN;
    else if (rl->backoff_s >= QN_RATELIMIT_BACKOFF_MAX / 2)
        rl->backoff_s = QN_RATELIMIT_BACKOFF_MAX;
    else
        rl->backoff_s *= 2;
    rl->backoff_until = clamp_time(now + rl->backoff_s);
    rl->slow_until = clamp_time(now + QN_RATELIMIT_SLOW_S);
}

bool qn_ratelimit_clamp(struct qn_ratelimit *rl, long long now)
{
    bool changed = false;
    size_t i;

    now = clamp_time(now);
    if (rl->backoff_s > QN_RATELIMIT_BACKOFF_MAX) {
        rl->backoff_s = QN_RATELIMIT_BACKOFF_MAX;
        changed = true;
    }
    if (rl->backoff_until > now + rl->backoff_s) {
        rl->backoff_until = now + rl->backoff_s;
        changed = true;
    }
    if (rl->slow_until > now + QN_RATELIMIT_SLOW_S) {
        rl->slow_until = now + QN_RATELIMIT_SLOW_S;
        changed = true;
    }
    if (rl->n_sent > QN_RATELIMIT_SENT_MAX)
        rl->n_sent = QN_RATELIMIT_SENT_MAX;
    if (rl->n_events > QN_RATELIMIT_EVENTS_MAX)
        rl->n_events = QN_RATELIMIT_EVENTS_MAX;
    /* Ascending lists: clamping each to NOW keeps them ascending. */
    for (i = 0; i < rl->n_sent; i++) {
        if (rl->sent[i] > now) {
            rl->sent[i] = now;
            changed = true;
        }
    }
    for (i = 0; i < rl->n_events; i++) {
        if (rl->events[i] > now) {
            rl->events[i] = now;
            changed = true;
        }
    }
    return changed;
}

/* ---- state text ---------------------------------------------------------------------- */

/* "name T" lines of the entries still inside a day at NOW, never descending. */
static enum qn_status save_times(struct qn_buf *out, const char *name, const long long *times,
                                 size_t n, size_t max, long long now)
{
    long long prev = 0;
    size_t i;
    enum qn_status r = QN_OK;

    if (n > max)
        n = max;
    for (i = first_in_window(times, n, now, DAY); r == QN_OK && i < n; i++) {
        prev = max_ll(prev, clamp_time(times[i]));
        r = qn_buf_printf(out, "%s %lld\n", name, prev);
    }
    return r;
}

enum qn_status qn_ratelimit_save(const struct qn_ratelimit *rl, long long now, struct qn_buf *out)
{
    size_t start = out->len;
    long long backoff_s = rl->backoff_s;
    enum qn_status r;

    now = clamp_time(now);
    /* Write only what load accepts, whatever a caller stored by hand. */
    if (backoff_s > QN_RATELIMIT_BACKOFF_MAX)
        backoff_s = QN_RATELIMIT_BACKOFF_MAX;
    else if (backoff_s > 0 && backoff_s < QN_RATELIMIT_BACKOFF_MIN)
        backoff_s = QN_RATELIMIT_BACKOFF_MIN;
    r = qn_buf_printf(out, "ratelimit 1\nbackoff_until %lld\nbackoff_s %lld\nslow_until %lld\n",
                      backoff_s > 0 ? clamp_time(rl->backoff_until) : 0LL,
                      backoff_s > 0 ? backoff_s : 0LL, clamp_time(rl->slow_until));
    if (r == QN_OK)
        r = save_times(out, "sent", rl->sent, rl->n_sent, QN_RATELIMIT_SENT_MAX, now);
    if (r == QN_OK)
        r = save_times(out, "event", rl->events, rl->n_events, QN_RATELIMIT_EVENTS_MAX, now);
    if (r != QN_OK) {
        qn_buf_truncate(out, start);
    }
    return r;
}

/* Canonical decimal: "0" or [1-9][0-9]*, at most QN_RATELIMIT_TIME_MAX. */
static bool parse_time(const char *s, size_t n, long long *ret)
{
    long long v = 0;
    size_t i;

    if (n == 0 || (n > 1 && s[0] == '0'))
        return false;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
        if (v > QN_RATELIMIT_TIME_MAX)
            return false;
    }
    *ret = v;
    return true;
}

enum state_line {
    LINE_VERSION,
    LINE_BACKOFF_UNTIL,
    LINE_BACKOFF_S,
    LINE_SLOW_UNTIL,
    LINE_SENT,
    LINE_EVENT,
};

/* The next line must be EXPECTED (or, for the lists, a later list). */
static enum qn_status load_line(struct qn_ratelimit *rl, enum state_line *expected,
                                const char *line, size_t n)
{
    static const char *const names[] = {"ratelimit",  "backoff_until", "backoff_s",
                                        "slow_until", "sent",          "event"};
    const char *space = memchr(line, ' ', n);
    size_t name_len, which;
    long long v;

    if (space == NULL)
        return QN_EINVAL;
    name_len = (size_t)(space - line);
    for (which = 0; which < sizeof(names) / sizeof(names[0]); which++) {
        if (strlen(names[which]) == name_len && memcmp(names[which], line, name_len) == 0)
            break;
    }
    if (which == sizeof(names) / sizeof(names[0]))
        return QN_EINVAL;
    /* Fixed order; the two lists may be empty, so "event" may follow slow_until. */
    if (which != *expected && !(*expected >= LINE_SENT && which == LINE_EVENT))
        return QN_EINVAL;
    if (!parse_time(space + 1, n - name_len - 1, &v))
        return QN_EINVAL;

    switch ((enum state_line)which) {
    case LINE_VERSION:
        if (v != 1)
            return QN_EINVAL;
        break;
    case LINE_BACKOFF_UNTIL:
        rl->backoff_until = v;
        break;
    case LINE_BACKOFF_S:
        if (v != 0 && (v < QN_RATELIMIT_BACKOFF_MIN || v > QN_RATELIMIT_BACKOFF_MAX))
            return QN_EINVAL;
        /* record_sent clears both, penalize sets both: one without the other is damage. */
        if ((v == 0) != (rl->backoff_until == 0))
            return QN_EINVAL;
        rl->backoff_s = v;
        break;
    case LINE_SLOW_UNTIL:
        rl->slow_until = v;
        break;
    case LINE_SENT:
        if (rl->n_sent >= QN_RATELIMIT_SENT_MAX || (rl->n_sent > 0 && v < rl->sent[rl->n_sent - 1]))
            return QN_EINVAL;
        rl->sent[rl->n_sent++] = v;
        break;
    case LINE_EVENT:
        if (rl->n_events >= QN_RATELIMIT_EVENTS_MAX ||
            (rl->n_events > 0 && v < rl->events[rl->n_events - 1]))
            return QN_EINVAL;
        rl->events[rl->n_events++] = v;
        break;
    }
    *expected = which < LINE_SENT ? (enum state_line)(which + 1) : (enum state_line)which;
    return QN_OK;
}

enum qn_status qn_ratelimit_load(struct qn_ratelimit *rl, const char *text, size_t len)
{
    enum state_line expected = LINE_VERSION;
    size_t pos = 0;
    enum qn_status r = QN_EINVAL;

    qn_ratelimit_init(rl);
    if (text == NULL)
        goto out;
    while (pos < len) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n;

        if (nl == NULL)
            goto out; /* a cut last line: the file was not written completely */
        n = (size_t)(nl - line);
        pos += n + 1;
        if (load_line(rl, &expected, line, n) != QN_OK)
            goto out;
    }
    if (expected < LINE_SENT)
        goto out;
    r = QN_OK;
out:
    if (r != QN_OK)
        qn_ratelimit_init(rl);
    return r;
}
