/*
 * fuzz_rules — the journal rules parser, matcher and threshold state
 * (journal-watch/rules.h).
 *
 * Input: byte 0 chooses the mode (its two low bits); the rest is text.
 *  - 0: the text is a rules file.  qn_rules_parse() returns QN_OK
 *    exactly when it reported no problem, QN_ECONFIG otherwise; every
 *    problem has a msgid, a clean detail and NUL-terminated strings, and at
 *    most QN_RULES_ERRORS_MAX are stored; rule names are [A-Za-z0-9_.-].
 *    Every rule qn_rules_untrusted() names is counted once, with clean
 *    text.  Then a few journal entries are fed, through the getter and through
 *    the offer interface alternately: every alert has NUL-terminated
 *    strings within their caps, clean samples, a count >= 1 and at most
 *    QN_RULES_CAPTURES_MAX captures.  The state saved after them loads
 *    into a second set parsed from the same text and saves again to the
 *    same bytes.
 *  - 1 or 3: the text is a saved state, loaded into a fixed rule set:
 *    QN_OK or QN_EINVAL, and whatever was loaded saves to text that loads
 *    again and saves the same.
 *  - 2: the text is "PATTERN\nMESSAGE".  A rule with that pattern (and a
 *    field condition the entry meets) fires on MESSAGE exactly when PCRE2
 *    matches it: the screens that spare pattern runs (required literal,
 *    first bytes) never hide a match nor make one up.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "rules.h"

#define STATE_BUDGET (256 * 1024)

static const char fixed_rules[] =
    "[rule ssh-bruteforce]\n"
    "match = _SYSTEMD_UNIT=ssh.service\n"
    "regex = ^Failed password for (invalid user )?(?<user>\\S+) from (?<ip>\\S+)\n"
    "threshold = 3 in 10m per ip\n"
    "cooldown = 1h\n"
    "subject = {count} failed ssh logins from {ip} on {host}\n"
    "samples = 2\n"
    "keys = 16\n"
    "\n"
    "[rule oom]\n"
    "regex = Out of memory: Killed process (?<pid>\\d+) \\((?<comm>[^)]*)\\)\n"
    "priority = ..err\n"
    "subject = OOM killed {comm} on {host}\n";

struct field {
    const char *name;
    const char *value;
    size_t len;
};

struct entry {
    struct field f[6];
    size_t n;
};

static int get_field(void *ctx, const char *name, const void **ret_value, size_t *ret_len)
{
    const struct entry *e = ctx;

    for (size_t i = 0; i < e->n; i++) {
        if (strcmp(e->f[i].name, name) == 0) {
            *ret_value = e->f[i].value;
            *ret_len = e->f[i].len;
            return 1;
        }
    }
    return 0;
}

static bool terminated_within(const char *s, size_t size)
{
    return s != NULL && strnlen(s, size) < size;
}

static enum qn_status on_alert(void *ctx, const struct qn_rules_alert *a)
{
    size_t *alerts = ctx;

    (*alerts)++;
    FUZZ_ASSERT(terminated_within(a->rule, QN_RULES_NAME_MAX), "alert rule name");
    FUZZ_ASSERT(a->count >= 1, "alert count below 1");
    FUZZ_ASSERT(!a->overflow || (a->count == a->keys && a->subject[0] == '\0'),
                "overflow alert shape");
    FUZZ_ASSERT(a->n_captures <= QN_RULES_CAPTURES_MAX, "too many captures");
    for (size_t i = 0; i < a->n_captures; i++) {
        FUZZ_ASSERT(a->capture_names[i] != NULL &&
                        terminated_within(a->capture_values[i], QN_RULES_CAPTURE_MAX),
                    "capture not within its cap");
    }
    FUZZ_ASSERT(a->n_samples <= QN_RULES_SAMPLES_MAX, "too many samples");
    for (size_t i = 0; i < a->n_samples; i++)
        FUZZ_ASSERT(fz_clean_field(a->samples[i], QN_RULES_SAMPLE_MAX), "sample not clean");
    FUZZ_ASSERT(terminated_within(a->subject, QN_RULES_SUBJECT_MAX), "subject over its cap");
    FUZZ_ASSERT(a->message != NULL && a->host != NULL && a->unit != NULL && a->identifier != NULL,
                "alert string missing");
    FUZZ_ASSERT(a->priority >= -1 && a->priority <= 7, "priority out of range");
    return QN_OK;
}

/* Feed entries built around MESSAGE (the fuzz text, or fixed lines) to RS. */
static void feed(struct qn_rules *rs, const char *message, size_t message_len)
{
    static const char *const messages[] = {
        "Failed password for root from 203.0.113.45 port 22 ssh2",
        "Failed password for invalid user admin from 203.0.113.45 port 22 ssh2",
        "Out of memory: Killed process 1234 (java) total-vm:1kB",
    };
    struct entry e;
    size_t alerts = 0, fired;
    long long t = 1764180000LL * 1000000;

    for (size_t round = 0; round < 8; round++) {
        const char *msg = round < 6 ? messages[round % 3] : message;
        size_t len = round < 6 ? strlen(msg) : message_len;
        struct qn_rules_entry entry = {.get = get_field, .ctx = &e, .time_usec = t};

        e.n = 0;
        e.f[e.n++] = (struct field){"MESSAGE", msg, len};
        e.f[e.n++] = (struct field){"_HOSTNAME", "web-01", 6};
        e.f[e.n++] = (struct field){"_SYSTEMD_UNIT", "ssh.service", 11};
        e.f[e.n++] = (struct field){"PRIORITY", round & 1 ? "3" : "x", 1};
        e.f[e.n++] = (struct field){"SYSLOG_IDENTIFIER", "sshd", 4};
        if (round & 2) {
            /* The offer interface: every field in one pass, then no getter. */
            qn_rules_entry_begin(rs);
            for (size_t i = 0; i < e.n; i++) {
                char item[512];
                size_t n = strlen(e.f[i].name), vn = e.f[i].len;

                if (n + 1 + vn > sizeof item)
                    vn = sizeof item - n - 1;
                memcpy(item, e.f[i].name, n);
                item[n] = '=';
                memcpy(item + n + 1, e.f[i].value, vn);
                qn_rules_entry_offer(rs, item, n + 1 + vn);
            }
            qn_rules_entry_end(rs);
            entry.get = NULL;
        }
        fired = 0;
        FUZZ_ASSERT(qn_rules_feed(rs, &entry, on_alert, &alerts, &fired) == QN_OK,
                    "feed failed with an accepting callback");
        t += 1000000;
    }
}

/* Save RS, load it into OTHER, save again: the same text. */
static void state_round_trip(struct qn_rules *rs, struct qn_rules *other)
{
    struct qn_buf a, b;
    long long now = (1764180000LL + 8) * 1000000;

    qn_buf_init(&a, STATE_BUDGET + 4096);
    qn_buf_init(&b, STATE_BUDGET + 4096);
    FUZZ_ASSERT(qn_rules_state_save(rs, now, STATE_BUDGET, &a) == QN_OK, "state save");
    FUZZ_ASSERT(a.len <= STATE_BUDGET, "state over its budget");
    FUZZ_ASSERT(qn_rules_state_load(other, a.data ? a.data : "", a.len) == QN_OK,
                "saved state does not load");
    FUZZ_ASSERT(qn_rules_state_save(other, now, STATE_BUDGET, &b) == QN_OK, "state save 2");
    FUZZ_ASSERT(a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0),
                "state changed through save, load and save");
    qn_buf_free(&a);
    qn_buf_free(&b);
}

static enum qn_status count_alert(void *ctx, const struct qn_rules_alert *a)
{
    (void)a;
    (*(size_t *)ctx)++;
    return QN_OK;
}

/* Feed one entry (MESSAGE, SYSLOG_IDENTIFIER=fz) to RS through the getter or, with OFFER,
 * through the offer interface; the number of alerts it raised. */
static size_t feed_one(struct qn_rules *rs, const char *msg, size_t mlen, bool offer)
{
    static char item[QN_RULES_MESSAGE_MAX + 16];
    struct entry e;
    struct qn_rules_entry entry = {.get = get_field, .ctx = &e, .time_usec = 1764180000000000LL};
    size_t alerts = 0, fired = 0;

    e.n = 0;
    e.f[e.n++] = (struct field){"MESSAGE", msg, mlen};
    e.f[e.n++] = (struct field){"SYSLOG_IDENTIFIER", "fz", 2};
    if (offer) {
        qn_rules_entry_begin(rs);
        for (size_t i = 0; i < e.n; i++) {
            size_t n = strlen(e.f[i].name);
            memcpy(item, e.f[i].name, n);
            item[n] = '=';
            memcpy(item + n + 1, e.f[i].value, e.f[i].len);
            qn_rules_entry_offer(rs, item, n + 1 + e.f[i].len);
        }
        qn_rules_entry_end(rs);
        entry.get = NULL;
    }
    FUZZ_ASSERT(qn_rules_feed(rs, &entry, count_alert, &alerts, &fired) == QN_OK, "feed");
    return fired;
}

/*
 * Mode 2: the rules engine decides as PCRE2 alone does (see the top).  A first
 * rule reads MESSAGE and never matches, so the rule under test meets MESSAGE
 * already read (its screens then run before its field condition, which the
 * entry meets); the entry goes through the getter and through the offer
 * interface, each into a fresh rule set.  The reference is JIT-compiled like
 * the engine's patterns, so the two differ only by the screens.
 */
static void screens_agree(const char *text, size_t len)
{
    static char rules[2048];
    const char *nl = memchr(text, '\n', len);
    size_t plen, mlen;
    pcre2_code *re;
    pcre2_match_data *md;
    pcre2_match_context *mc;
    PCRE2_SIZE off;
    int code, rc;

    if (nl == NULL)
        return;
    plen = (size_t)(nl - text);
    mlen = len - plen - 1;
    /* what the rules file reader would change or refuse: not this test's business */
    if (plen == 0 || plen > 1000 || memchr(text, '\0', plen) != NULL ||
        memchr(text, '\r', plen) != NULL || text[0] == ' ' || text[0] == '\t' ||
        text[plen - 1] == ' ' || text[plen - 1] == '\t')
        return;
    if (mlen > QN_RULES_MESSAGE_MAX)
        mlen = QN_RULES_MESSAGE_MAX; /* what the patterns see */
    snprintf(rules, sizeof rules,
             "[rule reads-message]\nregex = (?!)\n"
             "[rule p]\nmatch = SYSLOG_IDENTIFIER=fz\nregex = %.*s\n",
             (int)plen, text);
    re = pcre2_compile((PCRE2_SPTR)text, plen, PCRE2_DUPNAMES | PCRE2_NEVER_BACKSLASH_C, &code,
                       &off, NULL);
    if (re == NULL)
        return;
    (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* without JIT: the interpreter, as there */
    md = pcre2_match_data_create_from_pattern(re, NULL);
    mc = pcre2_match_context_create(NULL);
    FUZZ_ASSERT(md != NULL && mc != NULL, "match data");
    pcre2_set_match_limit(mc, QN_RULES_MATCH_LIMIT);
    pcre2_set_depth_limit(mc, QN_RULES_DEPTH_LIMIT);
    rc = pcre2_match(re, (PCRE2_SPTR)(nl + 1), mlen, 0, 0, md, mc);

    for (int offer = 0; offer < 2; offer++) {
        struct qn_rules *rs = NULL;
        struct qn_rules_stats st;
        size_t fired;

        FUZZ_ASSERT(qn_rules_new(&rs) == QN_OK, "new");
        if (qn_rules_parse(rs, rules, strlen(rules), "fuzz.conf", NULL) != QN_OK) {
            qn_rules_free(rs);
            break;
        }
        fired = feed_one(rs, nl + 1, mlen, offer);
        qn_rules_stats(rs, &st);
        /* a pattern that hits a limit answers "no" in the engine; only clear answers of
         * both sides are compared */
        if (st.match_errors == 0 && (rc >= 0 || rc == PCRE2_ERROR_NOMATCH))
            FUZZ_ASSERT((fired == 1) == (rc >= 0), "the screens hid a match, or made one up");
        qn_rules_free(rs);
    }
    pcre2_match_context_free(mc);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
}

static bool name_ok(const char *s)
{
    size_t n;

    if (!terminated_within(s, QN_RULES_NAME_MAX) || (n = strlen(s)) == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct qn_rules_errors errs;
    struct qn_rules *rs = NULL, *other = NULL;
    const char *text;
    size_t len;
    enum qn_status r;

    if (size == 0)
        return 0;
    text = (const char *)data + 1;
    len = size - 1;
    FUZZ_ASSERT(qn_rules_new(&rs) == QN_OK && qn_rules_new(&other) == QN_OK, "new");

    if ((data[0] & 3) == 2) {
        screens_agree(text, len);
        goto out;
    }
    if (data[0] & 1) {
        memset(&errs, 0, sizeof errs);
        FUZZ_ASSERT(qn_rules_parse(rs, fixed_rules, strlen(fixed_rules), "fixed", &errs) == QN_OK &&
                        qn_rules_parse(other, fixed_rules, strlen(fixed_rules), "fixed", &errs) ==
                            QN_OK,
                    "the fixed rules do not parse");
        feed(rs, text, len);
        r = qn_rules_state_load(rs, text, len);
        FUZZ_ASSERT(r == QN_OK || r == QN_EINVAL, "state load status");
        state_round_trip(rs, other);
        goto out;
    }

    memset(&errs, 0, sizeof errs);
    r = qn_rules_parse(rs, text, len, "fuzz.conf", &errs);
    FUZZ_ASSERT(r == QN_OK || r == QN_ECONFIG, "parse status");
    FUZZ_ASSERT((r == QN_OK) == (errs.n == 0 && errs.dropped == 0),
                "QN_OK is not the same as no problem reported");
    FUZZ_ASSERT(errs.n <= QN_RULES_ERRORS_MAX, "more errors stored than the array holds");
    for (size_t i = 0; i < errs.n; i++) {
        const struct qn_rules_error *e = &errs.e[i];

        FUZZ_ASSERT(e->what != NULL, "error without msgid");
        FUZZ_ASSERT(terminated_within(e->file, sizeof e->file) &&
                        terminated_within(e->rule, sizeof e->rule),
                    "error strings not terminated");
        FUZZ_ASSERT(fz_clean_field(e->detail, sizeof e->detail), "error detail not clean");
#ifndef FUZZ_SKIP_OPEN_BUG_RULE_NAME
        /* Open bug while this fails: tests/fuzz/regressions/rules/ (tests/fuzz/README.md). */
        FUZZ_ASSERT(fz_clean_field(e->rule, sizeof e->rule), "error rule name not clean");
        FUZZ_ASSERT(fz_clean_field(e->file, sizeof e->file), "error file name not clean");
#endif
    }
    FUZZ_ASSERT(qn_rules_count(rs) <= QN_RULES_MAX, "too many rules");
    for (size_t i = 0; i < qn_rules_count(rs); i++)
        FUZZ_ASSERT(name_ok(qn_rules_name(rs, i)), "invalid rule name kept");
    if (qn_rules_count(rs) == 0)
        goto out;
    memset(&errs, 0, sizeof errs);
    FUZZ_ASSERT(qn_rules_untrusted(rs, &errs) == errs.n + errs.dropped &&
                    errs.n + errs.dropped <= qn_rules_count(rs),
                "untrusted rules miscounted");
    for (size_t i = 0; i < errs.n; i++) {
        FUZZ_ASSERT(errs.e[i].what != NULL && name_ok(errs.e[i].rule), "warning without rule");
        FUZZ_ASSERT(fz_clean_field(errs.e[i].detail, sizeof errs.e[i].detail) &&
                        fz_clean_field(errs.e[i].fix, sizeof errs.e[i].fix),
                    "warning text not clean");
    }
    feed(rs, text, len);
    memset(&errs, 0, sizeof errs);
    (void)qn_rules_parse(other, text, len, "fuzz.conf", &errs);
    FUZZ_ASSERT(qn_rules_count(other) == qn_rules_count(rs), "parsing is not deterministic");
    state_round_trip(rs, other);
out:
    qn_rules_free(rs);
    qn_rules_free(other);
    return 0;
}
