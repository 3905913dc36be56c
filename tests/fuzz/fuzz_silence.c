/*
 * fuzz_silence — the silences' state file (spool state/silences) and the
 * matcher that runs on what it loaded.
 *
 * Input: "STATE\x00PATTERN\x00VALUE\x00EVENT-FIELDS" (missing parts are
 * empty).  Properties, for any bytes:
 *  - qn_silences_load gives QN_OK or QN_EINVAL, and on QN_EINVAL an empty set;
 *  - a loaded set holds what silence.h promises: at most QN_SILENCE_MAX
 *    silences, ids of 12 lowercase hex digits and distinct, times in range,
 *    start <= end <= start + QN_SILENCE_LONGEST_S, expired within them,
 *    1..QN_SILENCE_MATCHES_MAX valid matches, clean strings;
 *  - save, load, save gives the same text, within QN_SILENCE_STATE_MAX;
 *  - qn_silence_glob agrees with a plain recursive matcher written here from
 *    the documented syntax (short inputs only: that one is exponential);
 *  - qn_silence_find on an event made of the last part returns an active
 *    silence whose every match holds, or NULL only when none does.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "silence.h"

/* The documented syntax, by recursion: * any run, ? one UTF-8 character, [set], \c. */
static bool ref_glob(const char *p, const char *v)
{
    if (*p == '\0')
        return *v == '\0';
    if (*p == '*') {
        for (;;) {
            size_t n;

            if (ref_glob(p + 1, v))
                return true;
            if (*v == '\0')
                return false;
            n = fz_utf8_char((const unsigned char *)v, strlen(v), NULL);
            v += n == 0 ? 1 : n;
        }
    }
    if (*v == '\0')
        return false;
    if (*p == '?') {
        size_t n = fz_utf8_char((const unsigned char *)v, strlen(v), NULL);

        return ref_glob(p + 1, v + (n == 0 ? 1 : n));
    }
    if (*p == '[') {
        const char *q = p + 1;
        bool neg = false, in = false, first = true;
        unsigned char c = (unsigned char)*v;

        if (*q == '!' || *q == '^') {
            neg = true;
            q++;
        }
        while (*q != '\0' && (*q != ']' || first)) {
            unsigned char lo, hi;

            first = false;
            if (*q == '\\' && q[1] != '\0')
                q++;
            lo = hi = (unsigned char)*q++;
            if (*q == '-' && q[1] != ']' && q[1] != '\0') {
                q++;
                if (*q == '\\' && q[1] != '\0')
                    q++;
                hi = (unsigned char)*q++;
            }
            in = in || (c >= lo && c <= hi);
        }
        if (*q != ']' || c >= 0x80 || in == neg)
            return false;
        return ref_glob(q + 1, v + 1);
    }
    if (*p == '\\')
        p++;
    return *p == *v && ref_glob(p + 1, v + 1);
}

static size_t count_stars(const char *p, size_t n)
{
    size_t c = 0;

    for (size_t i = 0; i < n; i++)
        c += p[i] == '*';
    return c;
}

static void check_set(const struct qn_silences *set)
{
    FUZZ_ASSERT(set->n <= QN_SILENCE_MAX, "too many silences");
    for (size_t i = 0; i < set->n; i++) {
        const struct qn_silence *s = &set->items[i];

        FUZZ_ASSERT(strlen(s->id) == QN_SILENCE_ID_LEN &&
                        strspn(s->id, "0123456789abcdef") == QN_SILENCE_ID_LEN,
                    "bad id");
        for (size_t j = 0; j < i; j++)
            FUZZ_ASSERT(strcmp(set->items[j].id, s->id) != 0, "duplicate id");
        FUZZ_ASSERT(s->created >= 0 && s->created <= QN_SILENCE_TIME_MAX && s->start >= 0 &&
                        s->start <= QN_SILENCE_TIME_MAX && s->end >= s->start &&
                        s->end - s->start <= QN_SILENCE_LONGEST_S,
                    "times out of their bounds");
        FUZZ_ASSERT(s->expired == 0 || (s->expired >= s->start && s->expired <= s->end),
                    "expired outside the span");
        FUZZ_ASSERT(fz_clean_field(s->creator, sizeof(s->creator)) && s->creator[0] != '\0' &&
                        fz_clean_field(s->comment, sizeof(s->comment)) &&
                        fz_clean_field(s->expired_by, sizeof(s->expired_by)),
                    "a string is not a clean line");
        FUZZ_ASSERT(s->n_matches >= 1 && s->n_matches <= QN_SILENCE_MATCHES_MAX, "match count");
        for (size_t m = 0; m < s->n_matches; m++)
            FUZZ_ASSERT(qn_silence_key_check(s->matches[m].key) == QN_OK &&
                            qn_silence_pattern_check(s->matches[m].pattern) == QN_OK,
                        "invalid match loaded");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct qn_silences set, again;
    struct fz_cursor cur = {.p = data, .n = size};
    const char *state = "", *pat = "", *val = "", *rest = "";
    size_t state_n = 0, pat_n = 0, val_n = 0, rest_n = 0;
    struct qn_buf a, b;
    enum qn_status r;

    (void)(fz_next_field(&cur, 0, &state, &state_n) && fz_next_field(&cur, 0, &pat, &pat_n) &&
           fz_next_field(&cur, 0, &val, &val_n) && fz_next_field(&cur, 0, &rest, &rest_n));

    r = qn_silences_load(&set, state, state_n);
    FUZZ_ASSERT(r == QN_OK || r == QN_EINVAL, "load status");
    if (r != QN_OK) {
        FUZZ_ASSERT(set.n == 0, "a refused file left silences");
    } else {
        check_set(&set);
        qn_buf_init(&a, QN_SILENCE_STATE_MAX);
        qn_buf_init(&b, QN_SILENCE_STATE_MAX);
        FUZZ_ASSERT(qn_silences_save(&set, &a) == QN_OK, "save of a loaded set");
        FUZZ_ASSERT(qn_silences_load(&again, a.data, a.len) == QN_OK, "saved set does not load");
        FUZZ_ASSERT(qn_silences_save(&again, &b) == QN_OK, "second save");
        FUZZ_ASSERT(a.len == b.len && memcmp(a.data, b.data, a.len) == 0,
                    "set changed through save, load and save");
        qn_buf_free(&a);
        qn_buf_free(&b);
    }

    /* The matcher against the reference, on short inputs with few stars (the
     * reference is exponential in them). */
    if (pat_n < 24 && val_n < 24 && count_stars(pat, pat_n) <= 3) {
        char *p = fz_strndup(pat, pat_n), *v = fz_strndup(val, val_n);
        bool valid = qn_silence_pattern_check(p) == QN_OK;
        bool got = qn_silence_glob(p, v);

        if (!valid)
            FUZZ_ASSERT(!got, "an invalid pattern matched");
        else if (strlen(v) == val_n && fz_utf8_valid(v, val_n))
            FUZZ_ASSERT(got == ref_glob(p, v), "glob disagrees with the reference");
        free(p);
        free(v);
    }

    /* An event made of the rest: "kind\nhost\nkey=value\n..." */
    if (set.n > 0) {
        struct fz_cursor ec = {.p = (const uint8_t *)rest, .n = rest_n};
        struct qn_event ev;
        const char *f;
        size_t fn, line = 0;
        const struct qn_silence *hit;
        long long t = set.items[0].start;

        qn_event_init(&ev, "login");
        while (fz_next_field(&ec, '\n', &f, &fn) && line < QN_EVENT_FIELDS_MAX + 2) {
            char *s = fz_strndup(f, fn);
            char *eq = strchr(s, '=');

            if (line == 0)
                snprintf(ev.kind, sizeof(ev.kind), "%s", s);
            else if (line == 1)
                qn_event_set_host(&ev, s);
            else if (eq != NULL) {
                *eq = '\0';
                (void)qn_event_set(&ev, s, eq + 1);
            }
            free(s);
            line++;
        }
        if (rest_n > 0)
            t += (long long)(unsigned char)rest[0] * 60;
        hit = qn_silence_find(&set, &ev, t);
        if (hit != NULL) {
            FUZZ_ASSERT(qn_silence_active(hit, t) && qn_silence_matches_event(hit, &ev),
                        "found a silence that does not hold");
        } else {
            for (size_t i = 0; i < set.n; i++)
                FUZZ_ASSERT(!(qn_silence_active(&set.items[i], t) &&
                              qn_silence_matches_event(&set.items[i], &ev)),
                            "missed an active matching silence");
        }
        (void)qn_silence_covers_all_logins(&set.items[0], ev.host);
    }
    return 0;
}
