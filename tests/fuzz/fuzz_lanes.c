/*
 * fuzz_lanes — the lanes' state file (state/lanes, which the spool's user
 * can write): qn_lanes_parse and what runs on its result.
 *
 * Properties, for any bytes:
 *  - QN_OK or QN_EINVAL, and on QN_EINVAL the tables are empty;
 *  - a loaded state holds what lanes.h promises, clamped at NOW: at most
 *    QN_LANES_EVENTS_MAX times per lane, ascending, none after NOW; at most
 *    QN_LANES_KEYS_MAX keys of valid characters in valid lanes, none
 *    starting after NOW, counts at most QN_LANES_COUNT_MAX;
 *  - format, parse, format gives the same text;
 *  - the decisions on it (admit, take_summary, should_digest, record)
 *    never pass their bounds, and a window's summary is handed out once.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "lanes.h"

#define NOW 1795658400LL

static void check_state(const struct qn_lanes *l)
{
    for (unsigned lane = 0; lane < QN_LANES; lane++) {
        FUZZ_ASSERT(l->n_events[lane] <= QN_LANES_EVENTS_MAX, "too many events");
        for (size_t i = 0; i < l->n_events[lane]; i++)
            FUZZ_ASSERT(l->events[lane][i] >= 0 && l->events[lane][i] <= NOW &&
                            (i == 0 || l->events[lane][i - 1] <= l->events[lane][i]),
                        "event time out of range or order");
    }
    FUZZ_ASSERT(l->n_keys <= QN_LANES_KEYS_MAX, "too many keys");
    for (size_t i = 0; i < l->n_keys; i++) {
        const struct qn_lanes_key *k = &l->keys[i];
        size_t n = strnlen(k->key, sizeof k->key);

        FUZZ_ASSERT(n > 0 && n < sizeof k->key, "key length");
        FUZZ_ASSERT((unsigned)k->lane < QN_LANES && k->start >= 0 && k->start <= NOW &&
                        k->admitted <= QN_LANES_COUNT_MAX && k->over <= QN_LANES_COUNT_MAX,
                    "key out of its bounds");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct qn_lanes a, b;
    static struct qn_ratelimit rl;
    static const struct qn_ratelimit_config lim = {5, 20, 90, 3, 600, 0};
    struct qn_buf t1, t2;
    struct qn_config cfg;
    struct qn_event ev;
    enum qn_lane lane;
    enum qn_status r;
    size_t summaries = 0;

    r = qn_lanes_parse(&a, (const char *)data, size, NOW);
    FUZZ_ASSERT(r == QN_OK || r == QN_EINVAL, "parse: other than OK or EINVAL");
    if (r != QN_OK) {
        FUZZ_ASSERT(a.n_keys == 0 && a.n_events[0] == 0 && a.n_events[1] == 0 && a.n_events[2] == 0,
                    "a refused state is not empty");
        return 0;
    }
    check_state(&a);
    qn_buf_init(&t1, 1 << 20);
    qn_buf_init(&t2, 1 << 20);
    FUZZ_ASSERT(qn_lanes_format(&a, NOW, &t1) == QN_OK, "format");
    FUZZ_ASSERT(qn_lanes_parse(&b, t1.data, t1.len, NOW) == QN_OK, "formatted text refused");
    FUZZ_ASSERT(qn_lanes_format(&b, NOW, &t2) == QN_OK && t1.len == t2.len &&
                    memcmp(t1.data, t2.data, t1.len) == 0,
                "format, parse, format differs");
    qn_buf_free(&t1);
    qn_buf_free(&t2);

    qn_ratelimit_init(&rl);
    for (unsigned lane_i = 0; lane_i < QN_LANES; lane_i++) {
        (void)qn_lanes_should_digest(&a, (enum qn_lane)lane_i, &rl, &lim, 1, NOW);
        FUZZ_ASSERT(qn_lanes_available((enum qn_lane)lane_i, &rl, &lim, NOW, NULL) <= 5,
                    "more mails than the minute allows");
    }
    (void)qn_lanes_admit(&a, QN_LANE_USER, "uid:1", 3, 600, NOW);
    (void)qn_lanes_admit(&a, QN_LANE_JOURNAL, "rule:x", 3, 600, NOW);
    qn_lanes_record(&a, QN_LANE_LOGIN, 5, NOW);
    check_state(&a);
    qn_config_defaults(&cfg);
    while (qn_lanes_take_summary(&a, NOW + 86400, &cfg, &ev, &lane)) {
        FUZZ_ASSERT(ev.subject[0] != '\0' && (unsigned)lane < QN_LANES, "summary");
        FUZZ_ASSERT(++summaries <= QN_LANES_KEYS_MAX, "more summaries than keys");
    }
    FUZZ_ASSERT(!qn_lanes_take_summary(&a, NOW + 86400, &cfg, &ev, &lane), "a summary twice");
    return 0;
}
