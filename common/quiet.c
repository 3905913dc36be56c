/*
 * quiet — see quiet.h.
 */
#include "quiet.h"

#include <string.h>
#include <time.h>

/* "HH:MM" at *P (24:00 only when END), moving *P past it. */
static bool parse_clock(const char **p, bool end, unsigned *ret)
{
    const char *s = *p;
    unsigned h, m;

    if (!(s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && s[2] == ':' && s[3] >= '0' &&
          s[3] <= '5' && s[4] >= '0' && s[4] <= '9'))
        return false;
    h = (unsigned)(s[0] - '0') * 10 + (unsigned)(s[1] - '0');
    m = (unsigned)(s[3] - '0') * 10 + (unsigned)(s[4] - '0');
    if (h > 24 || (h == 24 && (!end || m != 0)))
        return false;
    *ret = h * 60 + m;
    *p = s + 5;
    return true;
}

static const char *skip_blanks(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

enum qn_status qn_quiet_parse(const char *text, struct qn_quiet *ret)
{
    const char *p = text;
    unsigned a, b;

    if (text == NULL || ret == NULL)
        return QN_EINVAL;
    p = skip_blanks(p);
    if (!parse_clock(&p, false, &a))
        return QN_EINVAL;
    p = skip_blanks(p);
    if (*p++ != '-')
        return QN_EINVAL;
    p = skip_blanks(p);
    if (!parse_clock(&p, true, &b) || *skip_blanks(p) != '\0' || a == b || (a == 0 && b == 0))
        return QN_EINVAL;
    ret->set = true;
    ret->start_min = a;
    ret->end_min = b;
    return QN_OK;
}

bool qn_quiet_contains(const struct qn_quiet *q, long long t, long long *ret_end)
{
    time_t tt = (time_t)t, e;
    struct tm tm;
    unsigned now_min;
    bool inside;

    if (q == NULL || !q->set || (long long)tt != t || localtime_r(&tt, &tm) == NULL)
        return false;
    now_min = (unsigned)tm.tm_hour * 60 + (unsigned)tm.tm_min;
    if (q->start_min < q->end_min)
        inside = now_min >= q->start_min && now_min < q->end_min;
    else
        inside = now_min >= q->start_min || now_min < q->end_min;
    if (!inside)
        return false;
    if (ret_end != NULL) {
        /* The end on today's date, or tomorrow's when it is behind us. */
        if (q->end_min <= now_min)
            tm.tm_mday++;
        tm.tm_hour = (int)(q->end_min / 60);
        tm.tm_min = (int)(q->end_min % 60);
        tm.tm_sec = 0;
        tm.tm_isdst = -1;
        e = mktime(&tm);
        /* mktime cannot fail for a date next to one localtime_r gave, but a clock
         * change must never make the end lie before T. */
        *ret_end = e == (time_t)-1 || (long long)e <= t ? t + 60 : (long long)e;
    }
    return true;
}

bool qn_quiet_holds(const struct qn_quiet *q, enum qn_severity sev, long long t,
                    long long *ret_until)
{
    if (sev >= QN_SEVERITY_CRITICAL)
        return false;
    return qn_quiet_contains(q, t, ret_until);
}
