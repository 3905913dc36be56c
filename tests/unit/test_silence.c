/*
 * Unit tests for common/silence.c: the pattern language (exact, *, ?, sets,
 * escapes, UTF-8), bounded matching time on hostile values, which events a
 * silence matches and when, the "matches every login" judgement, the set
 * (add, expire, pruning, bounds) and the state file (exact text, round
 * trip, clamping, strict rejection).  Times are fixed; nothing reads the
 * clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "silence.h"
#include "tmpdir.h"

#define T0   1795658400LL /* 2026-11-26 02:00:00 UTC */
#define HOUR 3600LL
#define DAY  86400LL

static struct qn_silence make(const char *id, long long start, long long end, const char *m1,
                              const char *m2)
{
    struct qn_silence s;

    memset(&s, 0, sizeof(s));
    snprintf(s.id, sizeof(s.id), "%s", id);
    s.created = start;
    s.start = start;
    s.end = end;
    snprintf(s.creator, sizeof(s.creator), "root (uid 0)");
    assert_int_equal(qn_silence_match_parse(m1, &s.matches[s.n_matches++]), QN_OK);
    if (m2 != NULL)
        assert_int_equal(qn_silence_match_parse(m2, &s.matches[s.n_matches++]), QN_OK);
    return s;
}

static struct qn_event login(const char *user, const char *ip, long long t)
{
    struct qn_event ev;

    qn_event_init(&ev, "login");
    ev.time = t;
    qn_event_set_host(&ev, "web1");
    assert_int_equal(qn_event_set(&ev, "service", "sshd"), QN_OK);
    assert_int_equal(qn_event_set(&ev, "user", user), QN_OK);
    if (ip != NULL)
        assert_int_equal(qn_event_set(&ev, "ip", ip), QN_OK);
    return ev;
}

/* ---- patterns ---- */

static void test_exact_value_matches_only_itself(void **state)
{
    (void)state;
    assert_true(qn_silence_glob("deploy", "deploy"));
    assert_false(qn_silence_glob("deploy", "deploy2"));
    assert_false(qn_silence_glob("deploy", "Deploy"));
    assert_false(qn_silence_glob("deploy", "deplo"));
    assert_false(qn_silence_glob("deploy", ""));
}

static void test_star_matches_any_run_also_none(void **state)
{
    (void)state;
    assert_true(qn_silence_glob("*", ""));
    assert_true(qn_silence_glob("*", "anything at all"));
    assert_true(qn_silence_glob("10.0.*", "10.0.3.4"));
    assert_true(qn_silence_glob("10.0.*", "10.0."));
    assert_false(qn_silence_glob("10.0.*", "10.1.0.1"));
    assert_true(qn_silence_glob("*-ci", "build-ci"));
    assert_true(qn_silence_glob("a*b*c", "aXXbYYbZZc"));
    assert_false(qn_silence_glob("a*b*c", "aXXbYYbZZ"));
    assert_true(qn_silence_glob("/var/*", "/var/log/x")); /* '/' is an ordinary character */
    assert_true(qn_silence_glob("**x", "x"));
}

static void test_question_mark_is_one_character_not_one_byte(void **state)
{
    (void)state;
    assert_true(qn_silence_glob("web?", "web1"));
    assert_false(qn_silence_glob("web?", "web"));
    assert_false(qn_silence_glob("web?", "web12"));
    assert_true(qn_silence_glob("用?", "用户"));    /* 户 is three bytes */
    assert_false(qn_silence_glob("用???", "用户")); /* not three bytes */
    assert_true(qn_silence_glob("*户", "用户"));
}

static void test_sets_ranges_negation_and_escapes(void **state)
{
    (void)state;
    assert_true(qn_silence_glob("web[12]", "web2"));
    assert_false(qn_silence_glob("web[12]", "web3"));
    assert_true(qn_silence_glob("web[0-9][0-9]", "web42"));
    assert_true(qn_silence_glob("web[!0-9]", "webx"));
    assert_false(qn_silence_glob("web[!0-9]", "web7"));
    assert_true(qn_silence_glob("[]]", "]"));
    assert_true(qn_silence_glob("a\\*b", "a*b"));
    assert_false(qn_silence_glob("a\\*b", "aXb"));
    assert_true(qn_silence_glob("a\\?", "a?"));
    assert_false(qn_silence_glob("[a-z]", "é")); /* sets hold ASCII only */
}

static void test_invalid_patterns_are_refused_and_match_nothing(void **state)
{
    char longp[QN_SILENCE_PATTERN_MAX + 1];

    (void)state;
    assert_int_equal(qn_silence_pattern_check(""), QN_EINVAL);
    assert_int_equal(qn_silence_pattern_check("web[12"), QN_EINVAL);
    assert_int_equal(qn_silence_pattern_check("trailing\\"), QN_EINVAL);
    assert_int_equal(qn_silence_pattern_check("tab\there"), QN_EINVAL);
    assert_int_equal(qn_silence_pattern_check("bidi\xe2\x80\xaeuser"), QN_EINVAL);
    assert_int_equal(qn_silence_pattern_check("\xff\xfe"), QN_EINVAL);
    assert_int_equal(qn_silence_pattern_check("[é]"), QN_EINVAL);
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    assert_int_equal(qn_silence_pattern_check(longp), QN_ETOOBIG);
    assert_false(qn_silence_glob("web[12", "web[12"));
    assert_int_equal(qn_silence_pattern_check("web[12]*"), QN_OK);
}

/* glibc's fnmatch takes exponential time here; this must finish at once (the test would
 * hang, never pass slowly: no timing is asserted). */
static void test_many_stars_against_a_long_hostile_value_end_quickly(void **state)
{
    char value[QN_EVENT_VALUE_MAX];

    (void)state;
    memset(value, 'a', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    for (int i = 0; i < 2000; i++)
        assert_false(qn_silence_glob("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", value));
    assert_true(qn_silence_glob("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a", value));
}

static void test_match_argument_parsing(void **state)
{
    struct qn_silence_match m;

    (void)state;
    assert_int_equal(qn_silence_match_parse("user=deploy", &m), QN_OK);
    assert_string_equal(m.key, "user");
    assert_string_equal(m.pattern, "deploy");
    assert_int_equal(qn_silence_match_parse("rule=a=b", &m), QN_OK); /* first '=' splits */
    assert_string_equal(m.key, "rule");
    assert_string_equal(m.pattern, "a=b");
    assert_int_equal(qn_silence_match_parse("user", &m), QN_EINVAL);
    assert_int_equal(qn_silence_match_parse("=x", &m), QN_EINVAL);
    assert_int_equal(qn_silence_match_parse("User=x", &m), QN_EINVAL);
    assert_int_equal(qn_silence_match_parse("user=", &m), QN_EINVAL);
    assert_int_equal(qn_silence_match_parse("us er=x", &m), QN_EINVAL);
}

/* ---- events and time ---- */

static void test_silence_matches_every_match_and_only_while_active(void **state)
{
    struct qn_silence s = make("0123456789ab", T0, T0 + 2 * HOUR, "user=deploy", "ip=10.0.*");
    struct qn_event ev = login("deploy", "10.0.0.7", T0);
    struct qn_event other = login("alice", "10.0.0.7", T0);
    struct qn_event elsewhere = login("deploy", "203.0.113.9", T0);

    (void)state;
    assert_true(qn_silence_matches_event(&s, &ev));
    assert_false(qn_silence_matches_event(&s, &other));
    assert_false(qn_silence_matches_event(&s, &elsewhere));
    assert_false(qn_silence_active(&s, T0 - 1));
    assert_true(qn_silence_active(&s, T0));
    assert_true(qn_silence_active(&s, T0 + 2 * HOUR - 1));
    assert_false(qn_silence_active(&s, T0 + 2 * HOUR));
}

static void test_kind_host_subject_and_missing_fields(void **state)
{
    struct qn_silence by_kind = make("0123456789ab", T0, T0 + HOUR, "kind=journal", NULL);
    struct qn_silence by_host = make("0123456789ac", T0, T0 + HOUR, "host=web*", NULL);
    struct qn_silence by_rule = make("0123456789ad", T0, T0 + HOUR, "rule=*", NULL);
    struct qn_silence by_subject = make("0123456789ae", T0, T0 + HOUR, "subject=*", NULL);
    struct qn_event ev = login("deploy", NULL, T0);
    struct qn_event j;

    (void)state;
    qn_event_init(&j, "journal");
    qn_event_set_host(&j, "db1");
    assert_int_equal(qn_event_set(&j, "rule", "ssh-brute-force"), QN_OK);
    assert_false(qn_silence_matches_event(&by_kind, &ev));
    assert_true(qn_silence_matches_event(&by_kind, &j));
    assert_true(qn_silence_matches_event(&by_host, &ev));
    assert_false(qn_silence_matches_event(&by_host, &j));
    /* a key the event lacks never matches, not even "*" */
    assert_false(qn_silence_matches_event(&by_rule, &ev));
    assert_true(qn_silence_matches_event(&by_rule, &j));
    assert_false(qn_silence_matches_event(&by_subject, &ev));
}

static void test_find_returns_the_first_active_matching_silence(void **state)
{
    struct qn_silences *set = malloc(sizeof(*set));
    struct qn_event ev = login("deploy", "10.0.0.7", T0 + HOUR);
    const struct qn_silence *hit;

    (void)state;
    assert_non_null(set);
    qn_silences_init(set);
    set->items[0] = make("aaaaaaaaaaaa", T0 - 2 * HOUR, T0, "user=deploy", NULL); /* ended */
    set->items[1] = make("bbbbbbbbbbbb", T0, T0 + 3 * HOUR, "user=alice", NULL);
    set->items[2] = make("cccccccccccc", T0, T0 + 3 * HOUR, "user=dep*", NULL);
    set->items[3] = make("dddddddddddd", T0, T0 + 3 * HOUR, "user=deploy", NULL);
    set->n = 4;
    hit = qn_silence_find(set, &ev, ev.time);
    assert_non_null(hit);
    assert_string_equal(hit->id, "cccccccccccc");
    assert_null(qn_silence_find(set, &ev, T0 + 3 * HOUR));
    free(set);
}

static void test_silences_that_would_match_every_login(void **state)
{
    (void)state;
    struct {
        const char *m1, *m2;
        bool all;
    } cases[] = {
        {"user=*", NULL, true},
        {"user=[a-z]*", NULL, true},
        {"kind=login", NULL, true},
        {"kind=log*", "user=?*", true},
        {"host=web1", NULL, true}, /* every login on web1 has host web1 */
        {"host=web2", NULL, false},
        {"user=deploy", NULL, false},
        {"kind=login", "user=deploy", false},
        {"rhost=10.*", NULL, false},
        {"service=sshd", NULL, false},
        {"kind=journal", NULL, false},
        {"rule=*", NULL, false}, /* logins have no rule */
        {"subject=*", NULL, false},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct qn_silence s = make("0123456789ab", T0, T0 + HOUR, cases[i].m1, cases[i].m2);

        if (qn_silence_covers_all_logins(&s, "web1") != cases[i].all)
            fail_msg("%s %s: expected %s", cases[i].m1, cases[i].m2 ? cases[i].m2 : "",
                     cases[i].all ? "all logins" : "not all logins");
    }
}

/* ---- the set ---- */

static void test_add_checks_the_silence_and_refuses_duplicates(void **state)
{
    struct qn_silences *set = malloc(sizeof(*set));
    struct qn_silence s = make("0123456789ab", T0, T0 + HOUR, "user=deploy", NULL);
    struct qn_silence bad;

    (void)state;
    assert_non_null(set);
    qn_silences_init(set);
    assert_int_equal(qn_silences_add(set, &s, T0), QN_OK);
    assert_int_equal(qn_silences_add(set, &s, T0), QN_EINVAL); /* same id */
    bad = make("0123456789ac", T0, T0 - 1, "user=x", NULL);
    assert_int_equal(qn_silences_add(set, &bad, T0), QN_EINVAL); /* ends before it starts */
    bad = make("0123456789ac", T0, T0 + QN_SILENCE_LONGEST_S + 1, "user=x", NULL);
    assert_int_equal(qn_silences_add(set, &bad, T0), QN_EINVAL); /* too long */
    bad = make("0123456789AC", T0, T0 + HOUR, "user=x", NULL);
    assert_int_equal(qn_silences_add(set, &bad, T0), QN_EINVAL); /* id not lowercase hex */
    bad = make("0123456789ac", T0, T0 + HOUR, "user=x", NULL);
    snprintf(bad.comment, sizeof(bad.comment), "two\nlines");
    assert_int_equal(qn_silences_add(set, &bad, T0), QN_EINVAL);
    bad.comment[0] = '\0';
    bad.creator[0] = '\0';
    assert_int_equal(qn_silences_add(set, &bad, T0), QN_EINVAL); /* nobody made it */
    assert_int_equal(set->n, 1);
    free(set);
}

static void test_full_set_refuses_until_old_ended_silences_can_go(void **state)
{
    struct qn_silences *set = malloc(sizeof(*set));
    struct qn_silence s;
    char id[QN_SILENCE_ID_LEN + 1];

    (void)state;
    assert_non_null(set);
    qn_silences_init(set);
    for (int i = 0; i < QN_SILENCE_MAX; i++) {
        snprintf(id, sizeof(id), "%012x", (unsigned)i);
        s = make(id, T0, T0 + HOUR, "user=deploy", NULL);
        assert_int_equal(qn_silences_add(set, &s, T0), QN_OK);
    }
    s = make("ffffffffffff", T0, T0 + HOUR, "user=deploy", NULL);
    assert_int_equal(qn_silences_add(set, &s, T0), QN_ETOOBIG);
    /* a week after they ended they are pruned */
    assert_int_equal(qn_silences_add(set, &s, T0 + HOUR + QN_SILENCE_KEEP_ENDED_S), QN_ETOOBIG);
    assert_int_equal(qn_silences_add(set, &s, T0 + HOUR + QN_SILENCE_KEEP_ENDED_S + 1), QN_OK);
    assert_int_equal(set->n, 1);
    free(set);
}

static void test_expire_ends_now_and_records_who(void **state)
{
    struct qn_silences *set = malloc(sizeof(*set));
    struct qn_silence s = make("0123456789ab", T0, T0 + 2 * HOUR, "user=deploy", NULL);
    struct qn_silence later = make("0123456789ac", T0 + DAY, T0 + DAY + HOUR, "user=x", NULL);
    struct qn_event ev = login("deploy", NULL, T0 + HOUR);

    (void)state;
    assert_non_null(set);
    qn_silences_init(set);
    assert_int_equal(qn_silences_add(set, &s, T0), QN_OK);
    assert_int_equal(qn_silences_add(set, &later, T0), QN_OK);
    assert_int_equal(qn_silences_expire(set, "0123456789ab", "root (uid 0)", T0 + HOUR), QN_OK);
    assert_int_equal(set->items[0].end, T0 + HOUR);
    assert_int_equal(set->items[0].expired, T0 + HOUR);
    assert_string_equal(set->items[0].expired_by, "root (uid 0)");
    assert_null(qn_silence_find(set, &ev, ev.time));
    assert_int_equal(qn_silences_expire(set, "0123456789ab", "root", T0 + HOUR), QN_EINVAL);
    assert_int_equal(qn_silences_expire(set, "ffffffffffff", "root", T0), QN_ENOTFOUND);
    /* one that has not started ends before it starts */
    assert_int_equal(qn_silences_expire(set, "0123456789ac", "root", T0 + HOUR), QN_OK);
    assert_int_equal(set->items[1].end, T0 + DAY);
    assert_false(qn_silence_active(&set->items[1], T0 + DAY));
    free(set);
}

static void test_new_ids_are_fresh_lowercase_hex(void **state)
{
    struct qn_silences *set = malloc(sizeof(*set));
    char a[QN_SILENCE_ID_LEN + 1], b[QN_SILENCE_ID_LEN + 1];

    (void)state;
    assert_non_null(set);
    qn_silences_init(set);
    assert_int_equal(qn_silences_new_id(set, a), QN_OK);
    assert_int_equal(strlen(a), QN_SILENCE_ID_LEN);
    assert_int_equal(strspn(a, "0123456789abcdef"), QN_SILENCE_ID_LEN);
    assert_int_equal(qn_silences_new_id(set, b), QN_OK);
    assert_string_not_equal(a, b);
    free(set);
}

/* ---- state text ---- */

static const char state_text[] = "qqnotify-silences 1\n"
                                 "silence 0123456789ab\n"
                                 "created 1795658400\n"
                                 "start 1795658400\n"
                                 "end 1795665600\n"
                                 "by root (uid 0, login alice uid 1000, SUDO_USER=alice)\n"
                                 "comment deploy of release 42 — 发布\n"
                                 "match user deploy\n"
                                 "match rhost 10.0.*\n"
                                 "silence 0123456789ac\n"
                                 "created 1795658400\n"
                                 "start 1795658400\n"
                                 "end 1795660000\n"
                                 "by root (uid 0)\n"
                                 "match kind journal\n"
                                 "expired 1795660000 root (uid 0)\n";

static void test_state_text_round_trips_exactly(void **state)
{
    struct qn_silences *set = malloc(sizeof(*set));
    struct qn_buf b;

    (void)state;
    assert_non_null(set);
    assert_int_equal(qn_silences_load(set, state_text, strlen(state_text)), QN_OK);
    assert_int_equal(set->n, 2);
    assert_string_equal(set->items[0].comment, "deploy of release 42 — 发布");
    assert_string_equal(set->items[0].matches[1].pattern, "10.0.*");
    assert_int_equal(set->items[1].expired, 1795660000LL);
    qn_buf_init(&b, QN_SILENCE_STATE_MAX);
    assert_int_equal(qn_silences_save(set, &b), QN_OK);
    assert_string_equal(b.data, state_text);
    qn_buf_free(&b);
    free(set);
}

static void test_load_clamps_spans_and_times(void **state)
{
    static const char text[] = "qqnotify-silences 1\n"
                               "silence 0123456789ab\n"
                               "created 9999999999999999999\n"
                               "start 1795658400\n"
                               "end 9999999999999\n"
                               "by root\n"
                               "match user deploy\n"
                               "expired 1 root\n"
                               "silence 0123456789ac\n"
                               "created 0\n"
                               "start 1795658400\n"
                               "end 5\n"
                               "by root\n"
                               "match user x\n";
    struct qn_silences *set = malloc(sizeof(*set));

    (void)state;
    assert_non_null(set);
    assert_int_equal(qn_silences_load(set, text, strlen(text)), QN_OK);
    assert_int_equal(set->items[0].created, QN_SILENCE_TIME_MAX);
    assert_int_equal(set->items[0].end, 1795658400LL + QN_SILENCE_LONGEST_S);
    assert_int_equal(set->items[0].expired, 1795658400LL); /* into start..end */
    assert_int_equal(set->items[1].end, 1795658400LL);     /* never before start */
    free(set);
}

static void test_load_rejects_malformed_files(void **state)
{
    static const char *const bad[] = {
        "",
        "qqnotify-silences 2\n",
        "qqnotify-silences 1", /* no line end */
        "qqnotify-silences 1\nsilence 0123456789ab\n",
        "qqnotify-silences 1\nsilence 0123456789ab\ncreated 1\nstart 1\nend 2\nby root\n",
        "qqnotify-silences 1\nsilence 0123456789ab\nstart 1\ncreated 1\nend 2\nby r\nmatch user "
        "x\n",
        "qqnotify-silences 1\nsilence 0123456789ab\ncreated 1\nstart 1\nend 2\nby r\nmatch user x",
        "qqnotify-silences 1\nsilence 0123456789ab\ncreated -1\nstart 1\nend 2\nby r\nmatch user "
        "x\n",
        "qqnotify-silences 1\nsilence 0123456789ab\ncreated 1\nstart 1\nend 2\nby \nmatch user x\n",
        "qqnotify-silences 1\nsilence 0123456789ab\ncreated 1\nstart 1\nend 2\nby r\nmatch User "
        "x\n",
        "qqnotify-silences 1\nsilence 0123456789ab\ncreated 1\nstart 1\nend 2\nby r\nmatch user "
        "[x\n",
        "qqnotify-silences 1\nsilence 0123456789ab\ncreated 1\nstart 1\nend 2\nby r\nmatch user "
        "x\ncomment late\n",
        "qqnotify-silences 1\nsilence 0123456789ab\ncreated 1\nstart 1\nend 2\nby r\nmatch user "
        "x\nsilence 0123456789ab\ncreated 1\nstart 1\nend 2\nby r\nmatch user x\n",
        "qqnotify-silences 1\nsilence 0123456789ab\ncreated 1\nstart 1\nend 2\nby r\nmatch user "
        "x\nextra line\n",
        "qqnotify-silences 1\nsilence 0123456789ab\ncreated 1\nstart 1\nend 2\nby r\x1b[31m\nmatch "
        "user x\n",
        "qqnotify-silences 1\r\nsilence 0123456789ab\n",
        /* values are sanitised lines: a blank at the end could never match */
        "qqnotify-silences 1\nsilence 0123456789ab\ncreated 1\nstart 1\nend 2\nby r\nmatch user "
        "x \n",
    };
    struct qn_silences *set = malloc(sizeof(*set));

    (void)state;
    assert_non_null(set);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (qn_silences_load(set, bad[i], strlen(bad[i])) != QN_EINVAL)
            fail_msg("accepted malformed state %zu", i);
        assert_int_equal(set->n, 0);
    }
    /* nine matches */
    {
        char text[2048];
        int n = snprintf(text, sizeof(text),
                         "qqnotify-silences 1\nsilence 0123456789ab\ncreated 1\nstart 1\nend "
                         "2\nby r\n");

        for (int i = 0; i < QN_SILENCE_MATCHES_MAX + 1; i++)
            n += snprintf(text + n, sizeof(text) - (size_t)n, "match user u%d\n", i);
        assert_int_equal(qn_silences_load(set, text, (size_t)n), QN_EINVAL);
    }
    free(set);
}

static void test_largest_set_fits_the_stated_bounds(void **state)
{
    struct qn_silences *set = malloc(sizeof(*set));
    struct qn_buf b;

    (void)state;
    assert_non_null(set);
    qn_silences_init(set);
    for (int i = 0; i < QN_SILENCE_MAX; i++) {
        struct qn_silence *s = &set->items[i];

        memset(s, 0, sizeof(*s));
        snprintf(s->id, sizeof(s->id), "%012x", (unsigned)i);
        s->created = s->start = QN_SILENCE_TIME_MAX - QN_SILENCE_LONGEST_S;
        s->end = QN_SILENCE_TIME_MAX;
        s->expired = s->end;
        memset(s->creator, 'c', sizeof(s->creator) - 1);
        memset(s->expired_by, 'e', sizeof(s->expired_by) - 1);
        memset(s->comment, 'm', sizeof(s->comment) - 1);
        s->n_matches = QN_SILENCE_MATCHES_MAX;
        for (int m = 0; m < QN_SILENCE_MATCHES_MAX; m++) {
            memset(s->matches[m].key, 'k', sizeof(s->matches[m].key) - 1);
            memset(s->matches[m].pattern, 'p', sizeof(s->matches[m].pattern) - 1);
        }
    }
    set->n = QN_SILENCE_MAX;
    qn_buf_init(&b, QN_SILENCE_STATE_MAX);
    assert_int_equal(qn_silences_save(set, &b), QN_OK);
    assert_true(QN_SILENCE_STATE_MAX <= QN_SPOOL_STATE_MAX);
    assert_int_equal(qn_silences_load(set, b.data, b.len), QN_OK);
    assert_int_equal(set->n, QN_SILENCE_MAX);
    qn_buf_free(&b);
    free(set);
}

static void test_spool_state_file_round_trip(void **state)
{
    struct qn_silences *set = malloc(sizeof(*set)), *back = malloc(sizeof(*back));
    struct qn_silence s = make("0123456789ab", T0, T0 + HOUR, "user=deploy", NULL);
    struct qn_spool *sp = NULL;
    char dir[256];

    (void)state;
    assert_non_null(set);
    assert_non_null(back);
    assert_int_equal(tmpdir_make(dir, sizeof(dir), "silence"), 0);
    assert_int_equal(qn_spool_open(dir, QN_SPOOL_CREATE, 0, &sp), QN_OK);
    assert_int_equal(qn_silences_read(sp, back), QN_ENOTFOUND);
    assert_int_equal(back->n, 0);
    qn_silences_init(set);
    assert_int_equal(qn_silences_add(set, &s, T0), QN_OK);
    assert_int_equal(qn_silences_write(sp, set), QN_OK);
    assert_int_equal(qn_silences_read(sp, back), QN_OK);
    assert_int_equal(back->n, 1);
    assert_string_equal(back->items[0].matches[0].pattern, "deploy");
    qn_spool_close(sp);
    assert_int_equal(tmpdir_remove(dir), 0);
    free(set);
    free(back);
}

#define T(f) cmocka_unit_test(f)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_exact_value_matches_only_itself),
        T(test_star_matches_any_run_also_none),
        T(test_question_mark_is_one_character_not_one_byte),
        T(test_sets_ranges_negation_and_escapes),
        T(test_invalid_patterns_are_refused_and_match_nothing),
        T(test_many_stars_against_a_long_hostile_value_end_quickly),
        T(test_match_argument_parsing),
        T(test_silence_matches_every_match_and_only_while_active),
        T(test_kind_host_subject_and_missing_fields),
        T(test_find_returns_the_first_active_matching_silence),
        T(test_silences_that_would_match_every_login),
        T(test_add_checks_the_silence_and_refuses_duplicates),
        T(test_full_set_refuses_until_old_ended_silences_can_go),
        T(test_expire_ends_now_and_records_who),
        T(test_new_ids_are_fresh_lowercase_hex),
        T(test_state_text_round_trips_exactly),
        T(test_load_clamps_spans_and_times),
        T(test_load_rejects_malformed_files),
        T(test_largest_set_fits_the_stated_bounds),
        T(test_spool_state_file_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
