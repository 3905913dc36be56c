/*
 * fuzz_seen — the first-seen table's state file (spool state/seen) and the
 * decisions and changes that run on what it loaded.
 *
 * Input: 8 bytes choosing NOW and REMEMBER, then "STATE\x00LOGINS", LOGINS
 * being "user ip [key]" lines.  Properties, for any bytes:
 *  - qn_seen_load gives QN_OK or QN_EINVAL, and on QN_EINVAL an empty table;
 *  - a loaded table holds what seen.h promises: at most QN_SEEN_MAX entries,
 *    at most QN_SEEN_PER_USER_MAX per user, distinct pairs, clean tokens
 *    without blanks, 0 <= first <= last <= NOW, count 1..QN_SEEN_COUNT_MAX;
 *  - save, load, save gives the same text within QN_SEEN_STATE_MAX;
 *  - after each recorded login the table still holds all of that, the pair
 *    is KNOWN at that time, and a pair that was KNOWN before stays KNOWN
 *    unless the table was full or its user at its maximum (eviction).
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "seen.h"

static void check_table(const struct qn_seen *t, long long now)
{
    FUZZ_ASSERT(t->n <= QN_SEEN_MAX, "too many entries");
    for (size_t i = 0; i < t->n; i++) {
        const struct qn_seen_entry *e = &t->entries[i];
        size_t same_user = 0;

        FUZZ_ASSERT(fz_clean_field(e->user, sizeof(e->user)) && e->user[0] != '\0' &&
                        strchr(e->user, ' ') == NULL,
                    "bad user token");
        FUZZ_ASSERT(fz_clean_field(e->source, sizeof(e->source)) && e->source[0] != '\0' &&
                        strchr(e->source, ' ') == NULL,
                    "bad source token");
        FUZZ_ASSERT(e->first >= 0 && e->first <= e->last && e->last <= now, "times out of bounds");
        FUZZ_ASSERT(e->count >= 1 && e->count <= QN_SEEN_COUNT_MAX, "count out of bounds");
        for (size_t j = 0; j < t->n; j++) {
            if (strcmp(t->entries[j].user, e->user) == 0) {
                same_user++;
                FUZZ_ASSERT(j == i || strcmp(t->entries[j].source, e->source) != 0,
                            "duplicate pair");
            }
        }
        FUZZ_ASSERT(same_user <= QN_SEEN_PER_USER_MAX, "a user over its maximum");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct qn_seen t, again;
    struct fz_cursor cur;
    const char *state = "", *logins = "";
    size_t state_n = 0, logins_n = 0;
    long long now, remember;
    struct qn_buf a, b;
    enum qn_status r;

    if (size < 8)
        return 0;
    now = 1700000000LL + (long long)data[0] * 86400 + data[1];
    remember = 1 + (long long)data[2] * 86400 + data[3];
    cur = (struct fz_cursor){.p = data + 8, .n = size - 8};
    (void)(fz_next_field(&cur, 0, &state, &state_n) && fz_next_field(&cur, 0, &logins, &logins_n));

    r = qn_seen_load(&t, state, state_n, now);
    FUZZ_ASSERT(r == QN_OK || r == QN_EINVAL, "load status");
    if (r != QN_OK) {
        FUZZ_ASSERT(t.n == 0, "a refused file left entries");
        return 0;
    }
    check_table(&t, now);
    qn_buf_init(&a, QN_SEEN_STATE_MAX);
    qn_buf_init(&b, QN_SEEN_STATE_MAX);
    FUZZ_ASSERT(qn_seen_save(&t, &a) == QN_OK, "save of a loaded table");
    FUZZ_ASSERT(qn_seen_load(&again, a.data, a.len, now) == QN_OK, "saved table does not load");
    FUZZ_ASSERT(qn_seen_save(&again, &b) == QN_OK, "second save");
    FUZZ_ASSERT(a.len == b.len && memcmp(a.data, b.data, a.len) == 0,
                "table changed through save, load and save");
    qn_buf_free(&a);
    qn_buf_free(&b);

    cur = (struct fz_cursor){.p = (const uint8_t *)logins, .n = logins_n};
    for (int n = 0; n < 64; n++) {
        const char *line;
        size_t line_n;
        char *l, *ip, *key;
        struct qn_event ev;
        enum qn_seen_verdict before, after;
        size_t n_before = t.n;

        if (!fz_next_field(&cur, '\n', &line, &line_n))
            break;
        l = fz_strndup(line, line_n);
        ip = strchr(l, ' ');
        if (ip != NULL)
            *ip++ = '\0';
        key = ip != NULL ? strchr(ip, ' ') : NULL;
        if (key != NULL)
            *key++ = '\0';
        qn_event_init(&ev, "login");
        (void)qn_event_set(&ev, "user", l);
        if (ip != NULL && ip[0] != '\0')
            (void)qn_event_set(&ev, "ip", ip);
        if (key != NULL && key[0] != '\0')
            (void)qn_event_set(&ev, "key", key);
        before = qn_seen_decide(&t, &ev, now, remember, false);
        r = qn_seen_record(&t, &ev, now, remember);
        after = qn_seen_decide(&t, &ev, now, remember, false);
        if (r == QN_OK) {
            FUZZ_ASSERT(after == QN_SEEN_KNOWN || after == QN_SEEN_ROOT, "recorded pair not known");
            FUZZ_ASSERT(t.n >= 1 && t.n <= n_before + 1, "record changed the size wrongly");
        } else {
            FUZZ_ASSERT(before == after && t.n == n_before, "a refused record changed something");
        }
        check_table(&t, now);
        free(l);
        now += data[4];
    }
    return 0;
}
