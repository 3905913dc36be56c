/*
 * fuzz_ratelimit — the rate limiter's state file (spool state/, writable by
 * the spool's user): qn_ratelimit_load and what runs on its result.
 *
 * Properties, for any bytes:
 *  - QN_OK or QN_EINVAL, and on QN_EINVAL the state is empty (as after
 *    qn_ratelimit_init);
 *  - a loaded state holds what ratelimit.h promises: at most
 *    QN_RATELIMIT_SENT_MAX / _EVENTS_MAX times, non-decreasing, within
 *    0..QN_RATELIMIT_TIME_MAX, backoff_s 0 or within its bounds;
 *  - saving it at the newest time it holds and loading that gives the same
 *    text again (save, load, save);
 *  - clamped at any time T (qn_ratelimit_clamp), nothing in it lies after T
 *    but a backoff of at most QN_RATELIMIT_BACKOFF_MAX and halved limits of
 *    at most QN_RATELIMIT_SLOW_S: no file can hold the sender back longer;
 *  - the decisions on it (available, should_digest, record, penalize) never
 *    pass their bounds, whatever the limits.
 */
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "ratelimit.h"

static void check_state(const struct qn_ratelimit *rl)
{
    FUZZ_ASSERT(rl->n_sent <= QN_RATELIMIT_SENT_MAX && rl->n_events <= QN_RATELIMIT_EVENTS_MAX,
                "more entries than the state holds");
    for (size_t i = 0; i < rl->n_sent; i++)
        FUZZ_ASSERT(rl->sent[i] >= 0 && rl->sent[i] <= QN_RATELIMIT_TIME_MAX &&
                        (i == 0 || rl->sent[i - 1] <= rl->sent[i]),
                    "sent times out of range or order");
    for (size_t i = 0; i < rl->n_events; i++)
        FUZZ_ASSERT(rl->events[i] >= 0 && rl->events[i] <= QN_RATELIMIT_TIME_MAX &&
                        (i == 0 || rl->events[i - 1] <= rl->events[i]),
                    "event times out of range or order");
    FUZZ_ASSERT(rl->backoff_s == 0 || (rl->backoff_s >= QN_RATELIMIT_BACKOFF_MIN &&
                                       rl->backoff_s <= QN_RATELIMIT_BACKOFF_MAX),
                "backoff_s out of its bounds");
    FUZZ_ASSERT(rl->backoff_until >= 0 && rl->backoff_until <= QN_RATELIMIT_TIME_MAX &&
                    rl->slow_until >= 0 && rl->slow_until <= QN_RATELIMIT_TIME_MAX,
                "backoff or slow time out of range");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct qn_ratelimit rl, empty, again;
    struct qn_ratelimit_config cfg;
    struct qn_buf a, b;
    long long now = 0, next;
    enum qn_status r;
    unsigned avail;

    if (size < 8)
        return 0;
    /* The first 8 bytes choose the limits; the rest is the state text. */
    cfg.max_per_minute = data[0] * 10u;
    cfg.max_per_hour = data[1] * 10u;
    cfg.max_per_day = data[2] * 10u;
    cfg.digest_after = data[3];
    cfg.digest_window_s = (unsigned)data[4] * 60u;
    qn_ratelimit_init(&empty);
    r = qn_ratelimit_load(&rl, (const char *)data + 8, size - 8);
    FUZZ_ASSERT(r == QN_OK || r == QN_EINVAL, "load status");
    if (r != QN_OK) {
        FUZZ_ASSERT(memcmp(&rl, &empty, sizeof rl) == 0, "a refused state is not empty");
        return 0;
    }
    check_state(&rl);

    for (size_t i = 0; i < rl.n_sent; i++)
        now = rl.sent[i] > now ? rl.sent[i] : now;
    for (size_t i = 0; i < rl.n_events; i++)
        now = rl.events[i] > now ? rl.events[i] : now;
    qn_buf_init(&a, QN_RATELIMIT_STATE_MAX);
    qn_buf_init(&b, QN_RATELIMIT_STATE_MAX);
    FUZZ_ASSERT(qn_ratelimit_save(&rl, now, &a) == QN_OK, "save of a loaded state");
    FUZZ_ASSERT(qn_ratelimit_load(&again, a.data, a.len) == QN_OK, "saved state does not load");
    check_state(&again);
    FUZZ_ASSERT(qn_ratelimit_save(&again, now, &b) == QN_OK, "second save");
    FUZZ_ASSERT(a.len == b.len && memcmp(a.data, b.data, a.len) == 0,
                "state changed through save, load and save");
    qn_buf_free(&a);
    qn_buf_free(&b);

    avail = qn_ratelimit_available(&rl, &cfg, now, &next);
    FUZZ_ASSERT(avail <= QN_RATELIMIT_SENT_MAX, "more mails available than the state holds");
    FUZZ_ASSERT(avail > 0 ? next == now : next > now,
                "next is not NOW when mails may go, or not later when none may");
    {
        static struct qn_ratelimit c;
        long long t = (long long)data[5] * 86400;

        c = rl;
        (void)qn_ratelimit_clamp(&c, t);
        check_state(&c);
        FUZZ_ASSERT(c.backoff_until <= t + QN_RATELIMIT_BACKOFF_MAX &&
                        c.slow_until <= t + QN_RATELIMIT_SLOW_S,
                    "a clamped backoff lies further than the code could set");
        for (size_t i = 0; i < c.n_sent; i++)
            FUZZ_ASSERT(c.sent[i] <= t, "a clamped sent time after T");
        for (size_t i = 0; i < c.n_events; i++)
            FUZZ_ASSERT(c.events[i] <= t, "a clamped event time after T");
        qn_ratelimit_available(&c, &cfg, t, &next);
        FUZZ_ASSERT(next <= t + QN_RATELIMIT_SLOW_S + 86400, "held longer than a day and more");
    }
    (void)qn_ratelimit_should_digest(&rl, &cfg, (size_t)data[5] + 1, now);
    qn_ratelimit_record_sent(&rl, now + data[6]);
    qn_ratelimit_record_events(&rl, (size_t)data[7] * 10, now);
    qn_ratelimit_penalize(&rl, now);
    check_state(&rl);
    return 0;
}
