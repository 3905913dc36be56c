/*
 * fuzz_tally — the state file of what the sender did not mail (spool
 * state/tally, writable by the spool's user) and the merge the sender does
 * onto what it loaded.
 *
 * Input: 2 bytes choosing NOW, then the state text.  Properties, for any
 * bytes:
 *  - qn_tally_load gives QN_OK or QN_EINVAL, and on QN_EINVAL an empty tally
 *    with since 0;
 *  - a loaded tally holds what tally.h promises: at most
 *    QN_TALLY_SILENCES_MAX distinct ids of 12 lowercase hex digits, counts
 *    1..QN_TALLY_COUNT_MAX, 0 <= first <= last <= NOW, since <= NOW;
 *  - save, load, save gives the same text within QN_TALLY_STATE_MAX;
 *  - merging the tally into itself doubles every count (capped), keeps the
 *    ids and the bounds.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "tally.h"

static void check(const struct qn_tally *t, long long now)
{
    FUZZ_ASSERT(t->n <= QN_TALLY_SILENCES_MAX, "too many ids");
    FUZZ_ASSERT(t->since >= 0 && t->since <= now, "since out of bounds");
    for (size_t i = 0; i < t->n; i++) {
        const struct qn_tally_count *c = &t->silenced[i];

        FUZZ_ASSERT(strlen(c->id) == QN_SILENCE_ID_LEN &&
                        strspn(c->id, "0123456789abcdef") == QN_SILENCE_ID_LEN,
                    "bad id");
        FUZZ_ASSERT(c->count >= 1 && c->count <= QN_TALLY_COUNT_MAX, "count out of bounds");
        FUZZ_ASSERT(c->first >= 0 && c->first <= c->last && c->last <= now, "times out of bounds");
        for (size_t j = 0; j < i; j++)
            FUZZ_ASSERT(strcmp(t->silenced[j].id, c->id) != 0, "duplicate id");
    }
    FUZZ_ASSERT(t->silenced_other <= QN_TALLY_COUNT_MAX, "other out of bounds");
    FUZZ_ASSERT(t->known <= QN_TALLY_COUNT_MAX, "known out of bounds");
    FUZZ_ASSERT(t->known == 0 || (t->known_first >= 0 && t->known_first <= t->known_last &&
                                  t->known_last <= now),
                "known times out of bounds");
}

static unsigned long long doubled(unsigned long long v)
{
    return v > QN_TALLY_COUNT_MAX / 2 ? QN_TALLY_COUNT_MAX : 2 * v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct qn_tally t, again, twice;
    long long now;
    struct qn_buf a, b;
    enum qn_status r;

    if (size < 2)
        return 0;
    now = 1700000000LL + (long long)data[0] * 86400 + data[1];
    r = qn_tally_load(&t, (const char *)data + 2, size - 2, now);
    FUZZ_ASSERT(r == QN_OK || r == QN_EINVAL, "unexpected status");
    if (r != QN_OK) {
        FUZZ_ASSERT(qn_tally_empty(&t) && t.since == 0, "a refused file left counts");
        return 0;
    }
    check(&t, now);
    qn_buf_init(&a, QN_TALLY_STATE_MAX);
    qn_buf_init(&b, QN_TALLY_STATE_MAX);
    FUZZ_ASSERT(qn_tally_save(&t, &a) == QN_OK, "a loaded tally does not save");
    FUZZ_ASSERT(qn_tally_load(&again, a.data, a.len, now) == QN_OK, "saved text does not load");
    FUZZ_ASSERT(qn_tally_save(&again, &b) == QN_OK, "reloaded tally does not save");
    FUZZ_ASSERT(a.len == b.len && memcmp(a.data, b.data, a.len) == 0, "save/load/save differs");
    twice = t;
    qn_tally_merge(&twice, &t);
    check(&twice, now);
    FUZZ_ASSERT(twice.n == t.n, "merging into itself changed the ids");
    for (size_t i = 0; i < t.n; i++)
        FUZZ_ASSERT(twice.silenced[i].count == doubled(t.silenced[i].count), "count not doubled");
    FUZZ_ASSERT(twice.known == doubled(t.known), "known not doubled");
    qn_buf_free(&a);
    qn_buf_free(&b);
    return 0;
}
