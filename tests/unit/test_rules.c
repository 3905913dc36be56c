/*
 * Unit tests for the rules engine (journal-watch/rules.h): the rules
 * language and its file:line errors, journalctl's match semantics,
 * patterns and captures, thresholds, cooldowns, bounded state with
 * eviction, state save/load/adopt, the journal-level filter, and every
 * default rule of packaging/rules.d on lines as sshd, sudo, the kernel and
 * systemd print them (and near misses).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "rules.h"
#include "text.h"

#ifndef QN_SOURCE_DIR
#define QN_SOURCE_DIR "."
#endif

#define SEC        1000000LL
#define MAX_FIELDS 32
#define MAX_ALERTS 64

/* ---- a fake journal entry ---------------------------------------------------------- */

struct fake_entry {
    const char *fields[MAX_FIELDS]; /* "FIELD=value" */
    size_t lens[MAX_FIELDS];        /* bytes of each, or 0: up to its NUL */
    size_t n;
    unsigned gets; /* getter calls, to check laziness */
};

static int fake_get(void *ctx, const char *field, const void **ret_value, size_t *ret_len)
{
    struct fake_entry *e = ctx;
    size_t fl = strlen(field), i;

    e->gets++;
    for (i = 0; i < e->n; i++) {
        if (strncmp(e->fields[i], field, fl) == 0 && e->fields[i][fl] == '=') {
            *ret_value = e->fields[i] + fl + 1;
            *ret_len = e->lens[i] > 0 ? e->lens[i] - fl - 1 : strlen(e->fields[i] + fl + 1);
            return 1;
        }
    }
    return 0;
}

/* ---- collected alerts ---------------------------------------------------------------- */

struct alerts {
    size_t n;
    char text[MAX_ALERTS][2048];
    enum qn_status fail_with; /* returned by the callback when not QN_OK */
};

static struct alerts got;

static enum qn_status collect(void *ctx, const struct qn_rules_alert *a)
{
    struct alerts *al = ctx;
    char *t;
    size_t i, len;

    if (al->fail_with != QN_OK)
        return al->fail_with;
    assert_true(al->n < MAX_ALERTS);
    t = al->text[al->n++];
    len = (size_t)snprintf(t, 2048, "%s count=%lu", a->rule, a->count);
    if (a->overflow)
        len += (size_t)snprintf(t + len, 2048 - len, " overflow keys=%zu window=%llds", a->keys,
                                a->window_usec / SEC);
    if (a->suppressed > 0)
        len += (size_t)snprintf(t + len, 2048 - len, " suppressed=%lu", a->suppressed);
    for (i = 0; i < a->n_captures; i++)
        len += (size_t)snprintf(t + len, 2048 - len, " %s=%s", a->capture_names[i],
                                a->capture_values[i]);
    if (a->host[0] != '\0')
        len += (size_t)snprintf(t + len, 2048 - len, " host=%s", a->host);
    if (a->unit[0] != '\0')
        len += (size_t)snprintf(t + len, 2048 - len, " unit=%s", a->unit);
    if (a->subject[0] != '\0')
        len += (size_t)snprintf(t + len, 2048 - len, " subject=[%s]", a->subject);
    for (i = 0; i < a->n_samples; i++)
        len += (size_t)snprintf(t + len, 2048 - len, " sample%zu=[%s]", i + 1, a->samples[i]);
    return QN_OK;
}

static void reset_alerts(void)
{
    memset(&got, 0, sizeof(got));
}

/* Feed one entry at T seconds with the NULL-terminated "FIELD=value" list; returns fired. */
static size_t feed_at(struct qn_rules *rs, long long t, ...)
{
    struct fake_entry e;
    struct qn_rules_entry en;
    size_t fired = 99;
    const char *f;
    va_list ap;

    memset(&e, 0, sizeof(e));
    va_start(ap, t);
    while ((f = va_arg(ap, const char *)) != NULL) {
        assert_true(e.n < MAX_FIELDS);
        e.fields[e.n++] = f;
    }
    va_end(ap);
    memset(&en, 0, sizeof(en));
    en.get = fake_get;
    en.ctx = &e;
    en.time_usec = t * SEC;
    assert_int_equal(qn_rules_feed(rs, &en, collect, &got, &fired), QN_OK);
    return fired;
}

static struct qn_rules *parse_ok(const char *text)
{
    struct qn_rules_errors errs;
    struct qn_rules *rs = NULL;
    enum qn_status r;

    memset(&errs, 0, sizeof(errs));
    assert_int_equal(qn_rules_new(&rs), QN_OK);
    r = qn_rules_parse(rs, text, strlen(text), "test.conf", &errs);
    if (r != QN_OK) {
        size_t i;
        for (i = 0; i < errs.n; i++)
            fprintf(stderr, "%s:%u: %s: %s\n", errs.e[i].file, errs.e[i].line, errs.e[i].what,
                    errs.e[i].detail);
    }
    assert_int_equal(r, QN_OK);
    assert_int_equal(errs.n, 0);
    reset_alerts();
    return rs;
}

/* Parse TEXT expecting errors; returns them (static storage). */
static struct qn_rules_errors *parse_errors(const char *text, size_t expected_rules)
{
    static struct qn_rules_errors errs;
    struct qn_rules *rs = NULL;

    memset(&errs, 0, sizeof(errs));
    assert_int_equal(qn_rules_new(&rs), QN_OK);
    assert_int_equal(qn_rules_parse(rs, text, strlen(text), "bad.conf", &errs), QN_ECONFIG);
    assert_true(errs.n > 0);
    assert_int_equal(qn_rules_count(rs), expected_rules);
    qn_rules_free(rs);
    return &errs;
}

static void assert_error(const struct qn_rules_error *e, unsigned line, const char *what_part,
                         const char *detail_part)
{
    assert_string_equal(e->file, "bad.conf");
    assert_int_equal(e->line, line);
    assert_non_null(strstr(e->what, what_part));
    if (detail_part != NULL)
        assert_non_null(strstr(e->detail, detail_part));
}

/* The rules of packaging/rules.d, loaded (defined with the tests of the default rules). */
static struct qn_rules *load_defaults(void);

/* ---- the language ---------------------------------------------------------------------- */

static void test_minimal_rule_parses(void **state)
{
    struct qn_rules *rs;

    (void)state;
    rs = parse_ok("# comment\n; other comment\n\n[rule one]\nregex = boom\n");
    assert_int_equal(qn_rules_count(rs), 1);
    assert_string_equal(qn_rules_name(rs, 0), "one");
    assert_null(qn_rules_name(rs, 1));
    qn_rules_free(rs);
}

static void test_crlf_bom_blanks_and_case_insensitive_keys_are_accepted(void **state)
{
    struct qn_rules *rs;

    (void)state;
    rs = parse_ok("\xef\xbb\xbf[ rule  two ]\r\n  REGEX   =   ^x$  \r\nMatch = A=b\r\n");
    assert_int_equal(qn_rules_count(rs), 1);
    assert_string_equal(qn_rules_name(rs, 0), "two");
    assert_int_equal(feed_at(rs, 1, "MESSAGE=x", "A=b", NULL), 1);
    assert_int_equal(feed_at(rs, 2, "MESSAGE=x ", "A=b", NULL), 0);
    qn_rules_free(rs);
}

static void test_every_error_is_reported_with_its_line(void **state)
{
    struct qn_rules_errors *e;

    (void)state;
    e = parse_errors("regex = outside\n"                    /* 1 */
                     "[rule ok1]\n"                         /* 2 */
                     "regex = fine\n"                       /* 3 */
                     "[rule bad1]\n"                        /* 4 */
                     "regex = (unclosed\n"                  /* 5 */
                     "[rule bad2]\n"                        /* 6 */
                     "colour = red\n"                       /* 7 */
                     "regex = x\n"                          /* 8 */
                     "[section]\n"                          /* 9 */
                     "[rule ok2]\n"                         /* 10 */
                     "match = _SYSTEMD_UNIT=ssh.service\n", /* 11 */
                     2);
    assert_int_equal(e->n, 4);
    assert_error(&e->e[0], 1, "outside a [rule NAME]", "regex");
    assert_error(&e->e[1], 5, "does not compile", "missing closing parenthesis");
    assert_string_equal(e->e[1].rule, "bad1");
    assert_error(&e->e[2], 7, "unknown key", "colour");
    assert_string_equal(e->e[2].rule, "bad2");
    assert_error(&e->e[3], 9, "[rule NAME]", "[section]");
}

static void test_value_errors(void **state)
{
    static const struct {
        const char *body;
        const char *what;
        const char *detail;
    } cases[] = {
        {"regex = x\nregex = y\n", "set twice", "first on line 2"},
        {"match = novalue\n", "FIELD=VALUE", "novalue"},
        {"match = lower=x\n", "not a journal field name", "lower"},
        {"match = __CURSOR=x\n", "not a journal field name", "__CURSOR"},
        {"match = 9ABC=x\n", "not a journal field name", NULL},
        {"regex = (?<IP>x)\n", "lower case", "IP"},
        {"regex = (?<host>x)\n", "reserved", "host"},
        {"regex = (?<sample_x>x)\n", "reserved", NULL},
        {"regex = x\npriority = loud\n", "priority", "loud"},
        {"regex = x\npriority = debug..err\n", "priority", NULL},
        {"regex = x\npriority = ..\n", "priority", NULL},
        {"regex = x\nthreshold = five in 10m\n", "N in DURATION", NULL},
        {"regex = x\nthreshold = 0 in 10m\n", "between 1 and 1000", NULL},
        {"regex = x\nthreshold = 1001 in 10m\n", "between 1 and 1000", NULL},
        {"regex = x\nthreshold = 5 in 0s\n", "window", "0s"},
        {"regex = x\nthreshold = 5 in 8d\n", "window", "8d"},
        {"regex = x\nthreshold = 5 in 10q\n", "window", "10q"},
        {"regex = x\nthreshold = 5 in 10m per ip\n", "named group", "ip"},
        {"regex = (?<ip>x)\nthreshold = 5 in 10m per\n", "N in DURATION", NULL},
        {"regex = (?<ip>x)\nthreshold = 5 in 10m per ip\ncooldown = 1h per ip\n", "once", NULL},
        {"regex = x\ncooldown = soon\n", "cooldown", "soon"},
        {"regex = x\nsubject = {nope} happened\n", "unknown name", "{nope}"},
        {"regex = x\nsubject = {rule\n", "not closed", NULL},
        {"regex = x\nsubject = a } b\n", "has no '{'", NULL},
        {"regex = x\nsamples = 6\n", "samples", "6"},
        {"regex = x\nkeys = 0\n", "keys", "0"},
        {"regex = x\nkeys = 65537\n", "keys", NULL},
        {"regex =\n", "empty", "regex"},
        {"priority = err\nexclude = x\nsubject =\nthreshold = 2 in 1s\ncooldown = 0\n"
         "keys = 5\nregex = (\n",
         "does not compile", NULL},
        {"exclude = only\n", "no condition", NULL},
        {"regex = (?<ip>x)\nthreshold = 1000 in 1h per ip\nkeys = 65536\nsamples = 5\n",
         "too large", NULL},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[1024];
        struct qn_rules_errors *e;

        snprintf(text, sizeof(text), "[rule r]\n%s", cases[i].body);
        e = parse_errors(text, 0);
        if (strstr(e->e[0].what, cases[i].what) == NULL ||
            (cases[i].detail != NULL && strstr(e->e[0].detail, cases[i].detail) == NULL))
            fail_msg("case %zu: got \"%s\" / \"%s\"", i, e->e[0].what, e->e[0].detail);
        assert_string_equal(e->e[0].rule, "r");
        assert_true(e->e[0].line >= 1);
    }
}

static void test_line_level_errors(void **state)
{
    static const char nul_line[] = "[rule r]\nregex = a\0b\n";
    struct qn_rules_errors errs;
    struct qn_rules *rs = NULL;
    char *big;

    (void)state;
    assert_int_equal(qn_rules_new(&rs), QN_OK);
    memset(&errs, 0, sizeof(errs));
    assert_int_equal(qn_rules_parse(rs, nul_line, sizeof(nul_line) - 1, "bad.conf", &errs),
                     QN_ECONFIG);
    assert_error(&errs.e[0], 2, "NUL", NULL);

    memset(&errs, 0, sizeof(errs));
    assert_int_equal(qn_rules_parse(rs, "[rule q]\nregex = \xff\n", 19, "bad.conf", &errs),
                     QN_ECONFIG);
    assert_error(&errs.e[0], 2, "UTF-8", NULL);

    big = malloc(QN_RULES_LINE_MAX + 64);
    assert_non_null(big);
    memcpy(big, "[rule z]\nregex = ", 17);
    memset(big + 17, 'a', QN_RULES_LINE_MAX);
    big[17 + QN_RULES_LINE_MAX] = '\n';
    memset(&errs, 0, sizeof(errs));
    assert_int_equal(qn_rules_parse(rs, big, 18 + QN_RULES_LINE_MAX, "bad.conf", &errs),
                     QN_ECONFIG);
    assert_error(&errs.e[0], 2, "too long", NULL);
    free(big);

    memset(&errs, 0, sizeof(errs));
    assert_int_equal(qn_rules_parse(rs, "[rule bad name]\nregex = x\n", 26, "bad.conf", &errs),
                     QN_ECONFIG);
    assert_error(&errs.e[0], 1, "rule name", "bad name");
    assert_int_equal(qn_rules_count(rs), 0);
    qn_rules_free(rs);
}

/*
 * Found by tests/fuzz/fuzz_rules (tests/fuzz/regressions/rules/): qqnotify-journal
 * prints the rule an error names as it is, so an escape sequence or DEL in a bad rule
 * name reached the terminal while the detail beside it was sanitised.  Both are.
 */
static void test_error_rule_name_is_sanitised(void **state)
{
    static const char text[] = "[rule a\x1b[31mb]\nregex = x\nbogus = 1\n[rule c\x7f"
                               "d]\n";
    struct qn_rules_errors errs;
    struct qn_rules *rs = NULL;

    (void)state;
    assert_int_equal(qn_rules_new(&rs), QN_OK);
    memset(&errs, 0, sizeof(errs));
    assert_int_equal(qn_rules_parse(rs, text, sizeof(text) - 1, "bad.conf", &errs), QN_ECONFIG);
    assert_int_equal(errs.n, 3);
    assert_string_equal(errs.e[0].rule, "a [31mb");
    assert_string_equal(errs.e[1].rule, "a [31mb");
    assert_string_equal(errs.e[2].rule, "c d");
    qn_rules_free(rs);
}

static void test_duplicate_rule_names_point_at_the_first(void **state)
{
    struct qn_rules_errors errs;
    struct qn_rules *rs = NULL;
    const char *a = "[rule same]\nregex = a\n";
    const char *b = "\n\n[rule same]\nregex = b\n";

    (void)state;
    memset(&errs, 0, sizeof(errs));
    assert_int_equal(qn_rules_new(&rs), QN_OK);
    assert_int_equal(qn_rules_parse(rs, a, strlen(a), "a.conf", &errs), QN_OK);
    assert_int_equal(qn_rules_parse(rs, b, strlen(b), "b.conf", &errs), QN_ECONFIG);
    assert_int_equal(errs.n, 1);
    assert_string_equal(errs.e[0].file, "b.conf");
    assert_int_equal(errs.e[0].line, 3);
    assert_non_null(strstr(errs.e[0].what, "already exists"));
    assert_string_equal(errs.e[0].detail, "first defined at a.conf:1");
    assert_int_equal(qn_rules_count(rs), 1);
    qn_rules_free(rs);
}

static void test_errors_beyond_the_cap_are_counted(void **state)
{
    struct qn_rules_errors errs;
    struct qn_rules *rs = NULL;
    char text[8192];
    size_t len = 0, i;

    (void)state;
    for (i = 0; i < QN_RULES_ERRORS_MAX + 10; i++)
        len += (size_t)snprintf(text + len, sizeof(text) - len, "junk line %zu\n", i);
    memset(&errs, 0, sizeof(errs));
    assert_int_equal(qn_rules_new(&rs), QN_OK);
    assert_int_equal(qn_rules_parse(rs, text, len, "bad.conf", &errs), QN_ECONFIG);
    assert_int_equal(errs.n, QN_RULES_ERRORS_MAX);
    assert_int_equal(errs.dropped, 10);
    qn_rules_free(rs);
}

static void test_durations(void **state)
{
    long long s = -1;

    (void)state;
    assert_int_equal(qn_rules_parse_duration("90", &s), QN_OK);
    assert_int_equal(s, 90);
    assert_int_equal(qn_rules_parse_duration("30s", &s), QN_OK);
    assert_int_equal(s, 30);
    assert_int_equal(qn_rules_parse_duration("10m", &s), QN_OK);
    assert_int_equal(s, 600);
    assert_int_equal(qn_rules_parse_duration("2h", &s), QN_OK);
    assert_int_equal(s, 7200);
    assert_int_equal(qn_rules_parse_duration("7d", &s), QN_OK);
    assert_int_equal(s, 604800);
    assert_int_equal(qn_rules_parse_duration("0", &s), QN_OK);
    assert_int_equal(s, 0);
    assert_int_equal(qn_rules_parse_duration("8d", &s), QN_EINVAL);
    assert_int_equal(qn_rules_parse_duration("604801", &s), QN_EINVAL);
    assert_int_equal(qn_rules_parse_duration("", &s), QN_EINVAL);
    assert_int_equal(qn_rules_parse_duration("m", &s), QN_EINVAL);
    assert_int_equal(qn_rules_parse_duration("-1", &s), QN_EINVAL);
    assert_int_equal(qn_rules_parse_duration("1 h", &s), QN_EINVAL);
    assert_int_equal(qn_rules_parse_duration("99999999999999999999", &s), QN_EINVAL);
}

/* ---- matching -------------------------------------------------------------------------- */

static void test_same_field_is_or_different_fields_are_and(void **state)
{
    struct qn_rules *rs;

    (void)state;
    rs = parse_ok("[rule m]\n"
                  "match = SYSLOG_IDENTIFIER=sshd\n"
                  "match = _TRANSPORT=syslog\n"
                  "match = SYSLOG_IDENTIFIER=sshd-session\n");
    assert_int_equal(feed_at(rs, 1, "SYSLOG_IDENTIFIER=sshd", "_TRANSPORT=syslog", NULL), 1);
    assert_int_equal(feed_at(rs, 2, "SYSLOG_IDENTIFIER=sshd-session", "_TRANSPORT=syslog", NULL),
                     1);
    assert_int_equal(feed_at(rs, 3, "SYSLOG_IDENTIFIER=sshd", "_TRANSPORT=journal", NULL), 0);
    assert_int_equal(feed_at(rs, 4, "SYSLOG_IDENTIFIER=sudo", "_TRANSPORT=syslog", NULL), 0);
    assert_int_equal(feed_at(rs, 5, "SYSLOG_IDENTIFIER=sshd", NULL), 0);
    assert_int_equal(feed_at(rs, 6, "SYSLOG_IDENTIFIER=sshdx", "_TRANSPORT=syslog", NULL), 0);
    qn_rules_free(rs);
}

static void test_empty_match_value_matches_only_an_empty_field(void **state)
{
    struct qn_rules *rs;

    (void)state;
    rs = parse_ok("[rule e]\nmatch = UNIT=\n");
    assert_int_equal(feed_at(rs, 1, "UNIT=", NULL), 1);
    assert_int_equal(feed_at(rs, 2, "UNIT=x", NULL), 0);
    assert_int_equal(feed_at(rs, 3, NULL), 0);
    qn_rules_free(rs);
}

static void test_priority_bounds(void **state)
{
    struct qn_rules *rs;

    (void)state;
    rs = parse_ok("[rule upto]\nregex = x\npriority = ..warning\n"
                  "[rule single]\nregex = y\npriority = err\n"
                  "[rule range]\nregex = z\npriority = crit..4\n"
                  "[rule open]\nregex = w\npriority = notice..\n");
    assert_int_equal(feed_at(rs, 1, "MESSAGE=x", "PRIORITY=4", NULL), 1);
    assert_int_equal(feed_at(rs, 1, "MESSAGE=x", "PRIORITY=0", NULL), 1);
    assert_int_equal(feed_at(rs, 1, "MESSAGE=x", "PRIORITY=5", NULL), 0);
    assert_int_equal(feed_at(rs, 1, "MESSAGE=x", NULL), 0); /* no PRIORITY: unknown */
    assert_int_equal(feed_at(rs, 1, "MESSAGE=x", "PRIORITY=44", NULL), 0); /* malformed */
    assert_int_equal(feed_at(rs, 1, "MESSAGE=y", "PRIORITY=3", NULL), 1);  /* "err" = 0..3 */
    assert_int_equal(feed_at(rs, 1, "MESSAGE=y", "PRIORITY=4", NULL), 0);
    assert_int_equal(feed_at(rs, 1, "MESSAGE=z", "PRIORITY=1", NULL), 0);
    assert_int_equal(feed_at(rs, 1, "MESSAGE=z", "PRIORITY=2", NULL), 1);
    assert_int_equal(feed_at(rs, 1, "MESSAGE=z", "PRIORITY=4", NULL), 1);
    assert_int_equal(feed_at(rs, 1, "MESSAGE=w", "PRIORITY=7", NULL), 1);
    assert_int_equal(feed_at(rs, 1, "MESSAGE=w", "PRIORITY=4", NULL), 0);
    qn_rules_free(rs);
}

static void test_unless_vetoes_an_entry_with_any_of_its_fields(void **state)
{
    struct qn_rules_errors *errs;
    struct qn_rules *rs;

    (void)state;
    rs = parse_ok("[rule r]\nregex = full\nunless = _COMM=sudo\nunless = _COMM=cron\n"
                  "unless = TAG=x\n");
    assert_int_equal(feed_at(rs, 1, "MESSAGE=disk full", "_COMM=app", NULL), 1);
    assert_int_equal(feed_at(rs, 1, "MESSAGE=disk full", NULL), 1); /* no such field */
    assert_int_equal(feed_at(rs, 1, "MESSAGE=disk full", "_COMM=sudo", NULL), 0);
    assert_int_equal(feed_at(rs, 1, "MESSAGE=disk full", "_COMM=cron", NULL), 0);
    assert_int_equal(feed_at(rs, 1, "MESSAGE=disk full", "_COMM=app", "TAG=x", NULL), 0);
    assert_int_equal(feed_at(rs, 1, "MESSAGE=disk full", "_COMM=sudoer", NULL), 1); /* exact */
    qn_rules_free(rs);
    /* an unless line alone is no condition */
    errs = parse_errors("[rule r]\nunless = _COMM=sudo\n[rule s]\nregex = x\nunless = sudo\n", 0);
    assert_int_equal(errs->n, 2);
    assert_error(&errs->e[0], 1, "the rule has no condition", NULL);
    assert_error(&errs->e[1], 5, "unless is not FIELD=VALUE", "sudo");
}

static void test_uid_ranges(void **state)
{
    struct qn_rules_errors *errs;
    struct qn_rules *rs;

    (void)state;
    rs = parse_ok("[rule sys]\nregex = x\nuid = ..999\nuid = 61184..65519\n"
                  "[rule root]\nregex = y\nuid = 0\n"
                  "[rule users]\nregex = z\nuid = 1000..\n");
    assert_int_equal(feed_at(rs, 1, "MESSAGE=x", "_UID=0", NULL), 1);
    assert_int_equal(feed_at(rs, 1, "MESSAGE=x", "_UID=999", NULL), 1);
    assert_int_equal(feed_at(rs, 1, "MESSAGE=x", "_UID=1000", NULL), 0);
    assert_int_equal(feed_at(rs, 1, "MESSAGE=x", "_UID=61184", NULL), 1);
    assert_int_equal(feed_at(rs, 1, "MESSAGE=x", "_UID=65520", NULL), 0);
    assert_int_equal(feed_at(rs, 1, "MESSAGE=x", NULL), 0);             /* kernel: no uid */
    assert_int_equal(feed_at(rs, 1, "MESSAGE=x", "_UID=", NULL), 0);    /* malformed */
    assert_int_equal(feed_at(rs, 1, "MESSAGE=x", "_UID=12a", NULL), 0); /* malformed */
    assert_int_equal(feed_at(rs, 1, "MESSAGE=x", "_UID=-1", NULL), 0);  /* malformed */
    assert_int_equal(feed_at(rs, 1, "MESSAGE=x", "UID=0", NULL), 0);    /* not journald's */
    assert_int_equal(feed_at(rs, 1, "MESSAGE=y", "_UID=0", NULL), 1);
    assert_int_equal(feed_at(rs, 1, "MESSAGE=y", "_UID=00", NULL), 1);
    assert_int_equal(feed_at(rs, 1, "MESSAGE=y", "_UID=1", NULL), 0);
    assert_int_equal(feed_at(rs, 1, "MESSAGE=z", "_UID=4294967295", NULL), 1);
    assert_int_equal(feed_at(rs, 1, "MESSAGE=z", "_UID=42949672950", NULL), 0);
    qn_rules_free(rs);
    errs = parse_errors("[rule a]\nregex = x\nuid = 5..1\n"
                        "[rule b]\nregex = x\nuid = ..\n"
                        "[rule c]\nregex = x\nuid = root\n"
                        "[rule d]\nregex = x\nuid = 4294967296\n",
                        0);
    assert_int_equal(errs->n, 4);
    assert_error(&errs->e[0], 3, "uid is not a user id or range", "5..1");
    assert_error(&errs->e[3], 12, "uid is not a user id or range", "4294967296");
    /* a uid line alone is a condition */
    rs = parse_ok("[rule any-root]\nuid = 0\n");
    assert_int_equal(feed_at(rs, 1, "MESSAGE=anything", "_UID=0", NULL), 1);
    qn_rules_free(rs);
}

/* A NUL in a journal value is shown as \0: the text after it is not lost. */
static void test_a_nul_in_a_field_is_shown_and_hides_nothing(void **state)
{
    static const char msg[] = "MESSAGE=Failed password for root\0 (and rm -rf /) from 10.0.0.1";
    static const char host[] = "_HOSTNAME=web\0evil";
    struct fake_entry e;
    struct qn_rules_entry en;
    struct qn_rules *rs;
    size_t fired = 0, k;

    (void)state;
    rs = parse_ok("[rule r]\nregex = ^Failed password for (?<user>.*) from (?<ip>\\S+)$\n"
                  "threshold = 2 in 1m per ip\nsubject = {user} on {host}\n");
    for (k = 0; k < 2; k++) {
        memset(&e, 0, sizeof(e));
        e.fields[e.n] = msg;
        e.lens[e.n++] = sizeof(msg) - 1;
        e.fields[e.n] = host;
        e.lens[e.n++] = sizeof(host) - 1;
        memset(&en, 0, sizeof(en));
        en.get = fake_get;
        en.ctx = &e;
        en.time_usec = (long long)(k + 1) * SEC;
        assert_int_equal(qn_rules_feed(rs, &en, collect, &got, &fired), QN_OK);
    }
    assert_int_equal(fired, 1);
    assert_string_equal(got.text[0],
                        "r count=2 user=root\\0 (and rm -rf /) ip=10.0.0.1 host=web\\0evil "
                        "subject=[root\\0 (and rm -rf /) on web\\0evil] "
                        "sample1=[Failed password for root\\0 (and rm -rf /) from 10.0.0.1] "
                        "sample2=[Failed password for root\\0 (and rm -rf /) from 10.0.0.1]");
    qn_rules_free(rs);
}

static enum qn_status keep_message(void *ctx, const struct qn_rules_alert *a)
{
    snprintf(ctx, 256, "%s|%s", a->message, a->identifier);
    return QN_OK;
}

static void test_a_nul_in_the_message_of_an_alert_is_shown(void **state)
{
    static const char msg[] = "MESSAGE=disk\0 full, and more";
    static const char ident[] = "SYSLOG_IDENTIFIER=a\0b";
    char seen[256] = "";
    struct fake_entry e;
    struct qn_rules_entry en;
    struct qn_rules *rs;

    (void)state;
    rs = parse_ok("[rule r]\nregex = full\n");
    memset(&e, 0, sizeof(e));
    e.fields[e.n] = msg;
    e.lens[e.n++] = sizeof(msg) - 1;
    e.fields[e.n] = ident;
    e.lens[e.n++] = sizeof(ident) - 1;
    memset(&en, 0, sizeof(en));
    en.get = fake_get;
    en.ctx = &e;
    en.time_usec = SEC;
    assert_int_equal(qn_rules_feed(rs, &en, keep_message, seen, NULL), QN_OK);
    assert_string_equal(seen, "disk\\0 full, and more|a\\0b");
    qn_rules_free(rs);
}

/* Which rules a local user can fire with entries of his own, and the fix named. */
static void test_rules_a_local_user_can_fire_are_named(void **state)
{
    static const char text[] =
        "[rule ident]\nmatch = SYSLOG_IDENTIFIER=sshd\nregex = x\n"                /* 1 */
        "[rule comm]\nmatch = _COMM=sshd\nregex = x\n"                             /* 4 */
        "[rule exe]\nmatch = _EXE=/usr/sbin/sshd\nregex = x\n"                     /* 7 */
        "[rule user-uid]\nmatch = _UID=1000\nmatch = _COMM=sshd\n"                 /* 10 */
        "[rule root]\nmatch = _UID=0\nmatch = _COMM=sshd\nregex = x\n"             /* 13 */
        "[rule root-or-user]\nmatch = _UID=0\nmatch = _UID=1000\n"                 /* 17 */
        "[rule pid1]\nmatch = _PID=1\nregex = x\n"                                 /* 20 */
        "[rule pid]\nmatch = _PID=4242\nregex = x\n"                               /* 23 */
        "[rule kernel]\nmatch = _TRANSPORT=kernel\nregex = x\n"                    /* 26 */
        "[rule syslog]\nmatch = _TRANSPORT=syslog\nregex = x\n"                    /* 29 */
        "[rule unit]\nmatch = _SYSTEMD_UNIT=nginx.service\n"                       /* 32 */
        "[rule cron]\nmatch = _SYSTEMD_UNIT=cron.service\n"                        /* 34 */
        "[rule session]\nmatch = _SYSTEMD_UNIT=session-3.scope\n"                  /* 36 */
        "[rule slice]\nmatch = _SYSTEMD_SLICE=system-systemd\\x2dcoredump.slice\n" /* 38 */
        "[rule sys-slice]\nmatch = _SYSTEMD_SLICE=system.slice\n"                  /* 40 */
        "[rule gid]\nmatch = _GID=0\nregex = x\n"                                  /* 42 */
        "[rule uid-sys]\nuid = ..999\nregex = x\n"                                 /* 45 */
        "[rule uid-users]\nuid = 500..1500\nregex = x\n"                           /* 48 */
        "[rule uid-high]\nuid = 70000..\n"                                         /* 51 */
        "[rule message]\nregex = No space left on device\n"                        /* 53 */
        "[rule prio]\npriority = ..crit\n";                                        /* 55 */
    static const char *const untrusted[] = {
        "ident",   "comm",      "exe", "user-uid",  "root-or-user", "pid",     "syslog", "cron",
        "session", "sys-slice", "gid", "uid-users", "uid-high",     "message", "prio"};
    struct qn_rules_errors warn;
    struct qn_rules *rs;
    size_t i;

    (void)state;
    rs = parse_ok(text);
    memset(&warn, 0, sizeof(warn));
    assert_int_equal(qn_rules_untrusted(rs, &warn), 15);
    assert_int_equal(warn.n, 15);
    for (i = 0; i < warn.n; i++) {
        assert_string_equal(warn.e[i].rule, untrusted[i]);
        assert_string_equal(warn.e[i].file, "test.conf");
        assert_string_equal(warn.e[i].what, "any local user can write entries that fire this rule");
    }
    assert_int_equal(warn.e[0].line, 1);
    assert_string_equal(warn.e[0].detail,
                        "SYSLOG_IDENTIFIER=sshd (logger -t sshd); MESSAGE (written by the sender)");
    assert_string_equal(warn.e[0].fix, "match = _UID=0 (the sender is root); uid = ..999 (a "
                                       "system service); match = _PID=1 (the service manager)");
    assert_int_equal(warn.e[1].line, 4);
    assert_string_equal(warn.e[1].detail, "_COMM=sshd (a program the user names sshd); MESSAGE "
                                          "(written by the sender)");
    assert_string_equal(warn.e[2].detail, "_EXE=/usr/sbin/sshd (the user runs /usr/sbin/sshd); "
                                          "MESSAGE (written by the sender)");
    assert_string_equal(warn.e[13].detail, "MESSAGE (written by the sender)");
    assert_string_equal(warn.e[13].fix, warn.e[0].fix);
    qn_rules_free(rs);

    /* the shipped rules: none; NULL warnings just counts */
    rs = load_defaults();
    assert_int_equal(qn_rules_untrusted(rs, NULL), 0);
    qn_rules_free(rs);
}

static void test_exclude_vetoes_and_captures_come_from_the_regex(void **state)
{
    struct qn_rules *rs;

    (void)state;
    rs = parse_ok("[rule x]\n"
                  "regex = ^job (?<name>\\w+) failed(?: with (?<code>\\d+))?\n"
                  "exclude = \\btest_\n"
                  "subject = {name} failed ({code}) on {host} {{literal}} rule {rule} x{count}\n");
    assert_int_equal(feed_at(rs, 1, "MESSAGE=job backup failed with 3", "_HOSTNAME=web1", NULL), 1);
    assert_string_equal(got.text[0], "x count=1 name=backup code=3 host=web1 "
                                     "subject=[backup failed (3) on web1 {literal} rule x x1]");
    assert_int_equal(feed_at(rs, 2, "MESSAGE=job test_db failed", NULL), 0);
    assert_int_equal(feed_at(rs, 3, "MESSAGE=job db failed", NULL), 1);
    assert_string_equal(got.text[1], "x count=1 name=db code= subject=[db failed () on  {literal} "
                                     "rule x x1]");
    qn_rules_free(rs);
}

static char last_severity[16];

static enum qn_status keep_severity(void *ctx, const struct qn_rules_alert *a)
{
    (void)ctx;
    snprintf(last_severity, sizeof(last_severity), "%s", a->severity);
    return QN_OK;
}

static void test_severity_key_travels_with_the_alert(void **state)
{
    struct qn_rules *rs;
    struct qn_rules_errors *errs;
    struct fake_entry e = {.n = 1, .fields = {"MESSAGE=boom"}};
    struct qn_rules_entry en = {.get = fake_get, .ctx = &e, .time_usec = SEC};

    (void)state;
    rs = parse_ok("[rule a]\nregex = boom\nseverity = Critical\n[rule b]\nregex = boom\n");
    last_severity[0] = 'x';
    assert_int_equal(qn_rules_feed(rs, &en, keep_severity, NULL, NULL), QN_OK);
    /* the last alert is rule b's, which has none */
    assert_string_equal(last_severity, "");
    qn_rules_free(rs);
    rs = parse_ok("[rule a]\nregex = boom\nseverity = critical\n");
    assert_int_equal(qn_rules_feed(rs, &en, keep_severity, NULL, NULL), QN_OK);
    assert_string_equal(last_severity, "critical");
    qn_rules_free(rs);
    errs = parse_errors("[rule a]\nregex = boom\nseverity = urgent\n", 0);
    assert_error(&errs->e[0], 3, "severity is not critical, warning or info", "urgent");
    errs = parse_errors("[rule a]\nregex = (?<severity>\\w+)\n", 0);
    assert_error(&errs->e[0], 2, "reserved", "severity");
}

static char last_subject[QN_RULES_SUBJECT_MAX * 2];

static enum qn_status keep_subject(void *ctx, const struct qn_rules_alert *a)
{
    (void)ctx;
    assert_true(strlen(a->subject) < sizeof(last_subject));
    strcpy(last_subject, a->subject);
    return QN_OK;
}

static size_t feed_message(struct qn_rules *rs, const char *message)
{
    struct fake_entry e;
    struct qn_rules_entry en;
    char field[QN_RULES_MESSAGE_MAX];
    size_t fired = 99;

    snprintf(field, sizeof(field), "MESSAGE=%s", message);
    memset(&e, 0, sizeof(e));
    e.fields[e.n++] = field;
    memset(&en, 0, sizeof(en));
    en.get = fake_get;
    en.ctx = &e;
    en.time_usec = SEC;
    last_subject[0] = '\0';
    assert_int_equal(qn_rules_feed(rs, &en, keep_subject, NULL, &fired), QN_OK);
    return fired;
}

/* The expanded subject keeps rules.h's cap (found by fuzz_rules) and is cut between
 * characters, never inside one, whether the cut falls in a value or in the template. */
static void test_expanded_subject_is_capped_between_characters(void **state)
{
    struct qn_rules *rs;
    char msg[4 * QN_RULES_CAPTURE_MAX];
    size_t i;

    (void)state;
    /* four captures of 255 bytes would make 1,020 */
    rs = parse_ok("[rule s]\nregex = ^(?<a>\\S+) (?<b>\\S+) (?<c>\\S+) (?<d>\\S+)$\n"
                  "subject = {a}{b}{c}{d}\n");
    memset(msg, 'x', sizeof(msg));
    for (i = 1; i < 4; i++)
        msg[i * QN_RULES_CAPTURE_MAX - 1] = ' ';
    msg[sizeof(msg) - 1] = '\0';
    assert_int_equal(feed_message(rs, msg), 1);
    assert_int_equal(strlen(last_subject), QN_RULES_SUBJECT_MAX - 1);
    qn_rules_free(rs);

    /* a value of two-byte characters: the cut leaves whole characters */
    rs = parse_ok("[rule s]\nregex = ^(?<v>.*)$\nsubject = xy{v}\n");
    msg[0] = '\0';
    for (i = 0; i < 200; i++)
        strcat(msg, "\xc3\xa9");
    assert_int_equal(feed_message(rs, msg), 1);
    /* the capture keeps 127 characters (254 bytes); 253 bytes are left after "xy" */
    assert_int_equal(strlen(last_subject), QN_RULES_SUBJECT_MAX - 2); /* "xy" + 126 × 2 */
    assert_true(qn_text_utf8_valid(last_subject, strlen(last_subject)));
    qn_rules_free(rs);

    /* a template character that no longer fits is left out whole */
    rs = parse_ok("[rule s]\nregex = ^(?<v>.*)$\nsubject = {v}\xe6\x97\xa5 tail\n");
    memset(msg, 'y', QN_RULES_SUBJECT_MAX - 3);
    msg[QN_RULES_SUBJECT_MAX - 3] = '\0';
    assert_int_equal(feed_message(rs, msg), 1);
    assert_int_equal(strlen(last_subject), QN_RULES_SUBJECT_MAX - 3);
    assert_true(qn_text_utf8_valid(last_subject, strlen(last_subject)));
    qn_rules_free(rs);
}

static void test_duplicate_group_names_take_the_group_that_matched(void **state)
{
    struct qn_rules *rs;

    (void)state;
    rs = parse_ok("[rule d]\nregex = ^(?:a (?<dev>\\w+)|b (?<dev>\\w+))$\n");
    assert_int_equal(feed_at(rs, 1, "MESSAGE=b sdc", NULL), 1);
    assert_int_equal(feed_at(rs, 2, "MESSAGE=a sdb", NULL), 1);
    assert_string_equal(got.text[0], "d count=1 dev=sdc");
    assert_string_equal(got.text[1], "d count=1 dev=sdb");
    qn_rules_free(rs);
}

static void test_unit_is_systemd_unit_or_unit_from_the_service_manager(void **state)
{
    struct qn_rules *rs;

    (void)state;
    rs = parse_ok("[rule u]\nregex = x\nsubject = {unit}\n");
    /* the service manager (pid 1) names the unit it acted on */
    assert_int_equal(
        feed_at(rs, 1, "MESSAGE=x", "_PID=1", "_SYSTEMD_UNIT=init.scope", "UNIT=a.service", NULL),
        1);
    /* any other process writes UNIT= and USER_UNIT= as it likes: journald's unit counts */
    assert_int_equal(feed_at(rs, 2, "MESSAGE=x", "_PID=4242", "_SYSTEMD_UNIT=session-7.scope",
                             "UNIT=sshd.service", NULL),
                     1);
    assert_int_equal(feed_at(rs, 3, "MESSAGE=x", "_PID=4242", "_SYSTEMD_UNIT=user@1000.service",
                             "USER_UNIT=b.service", NULL),
                     1);
    assert_int_equal(
        feed_at(rs, 4, "MESSAGE=x", "_PID=11", "_SYSTEMD_UNIT=c.service", "UNIT=", NULL), 1);
    assert_int_equal(feed_at(rs, 5, "MESSAGE=x", "_PID=1", "_SYSTEMD_UNIT=init.scope", NULL), 1);
    assert_int_equal(feed_at(rs, 6, "MESSAGE=x", "UNIT=d.service", NULL), 1); /* no pid: not 1 */
    assert_string_equal(got.text[0], "u count=1 unit=a.service subject=[a.service]");
    assert_string_equal(got.text[1], "u count=1 unit=session-7.scope subject=[session-7.scope]");
    assert_string_equal(got.text[2],
                        "u count=1 unit=user@1000.service subject=[user@1000.service]");
    assert_string_equal(got.text[3], "u count=1 unit=c.service subject=[c.service]");
    assert_string_equal(got.text[4], "u count=1 unit=init.scope subject=[init.scope]");
    assert_string_equal(got.text[5], "u count=1");
    qn_rules_free(rs);
}

static void test_patterns_see_bytes_not_only_utf8(void **state)
{
    struct qn_rules *rs;

    (void)state;
    rs = parse_ok("[rule b]\nregex = disk (?<d>\\S+) 满了\n");
    assert_int_equal(feed_at(rs, 1, "MESSAGE=\xff\xfe disk sda 满了", NULL), 1);
    assert_string_equal(got.text[0], "b count=1 d=sda");
    qn_rules_free(rs);
}

static void test_a_runaway_pattern_is_bounded_and_counted(void **state)
{
    struct qn_rules_stats st;
    struct qn_rules *rs;
    char msg[128];

    (void)state;
    rs = parse_ok("[rule slow]\nregex = ^(a+)+$\n");
    memcpy(msg, "MESSAGE=", 8);
    memset(msg + 8, 'a', 60);
    msg[68] = 'b';
    msg[69] = '\0';
    assert_int_equal(feed_at(rs, 1, msg, NULL), 0);
    qn_rules_stats(rs, &st);
    assert_int_equal(st.match_errors, 1);
    assert_int_equal(st.entries, 1);
    qn_rules_free(rs);
}

/* The literal prefilter must never hide a match: each pattern with a subject it matches
 * (by PCRE2's rules) and one it does not. */
static void test_prefilter_never_hides_a_match(void **state)
{
    static const struct {
        const char *pattern, *hit, *miss;
    } cases[] = {
        {"ab?cde", "xacde", "abde"},
        {"ab*cde", "acde", "abbde"},
        {"ab{0,2}cde", "acde", "abbbcde"},
        {"ab{2}cde", "abbcde", "abcde"},
        {"ab+cde", "abbbcde", "acde"},
        {"abc+de", "abcccde", "abde"},
        {"xy(?:z|w)uvw", "xywuvw", "xyuvw"},
        {"^Failed x", "Failed x", " Failed x"},
        {"^(?:Fa)iled", "Failed", "iled"},
        {"a\\.bcd", "a.bcd", "axbcd"},
        {"foo|barbaz", "barbaz", "fobarba"},
        {"(?i)HELLO there", "hello THERE", "hell there"},
        {"\\Qa.b\\Ecd", "a.bcd", "axbcd"},
        {"\\x41BCD", "ABCD", "BCD"},
        {"a{b}cd", "a{b}cd", "abcd"},
        {"(?x) a b c d", "abcd", "a b c d"},
        {"caf\xc3\xa9 ok", "caf\xc3\xa9 ok", "cafe ok"},
        {"\\d+ items", "12 items", "x items"},
        {"[ab]cde", "bcde", "ccde"},
        {"[]x]abc", "]abc", "yabc"},
        {"[[:digit:]]+abc", "7abc", "abc"},
        {"(?#note)abcd", "abcd", "abc"},
        {"x++yzw", "xxyzw", "yzw"},
        {"x*+yzw", "yzw", "yzx"},
        {"abc(?=def)", "abcdef", "abcde"},
        {"(?<=x)abcd", "xabcd", "yabcd"},
        {"(?<w>\\w+) abc\\b", "word abc", "word abcd"},
        {"^$", "", "x"},
        {"\\(paren\\)", "(paren)", "paren"},
        {"a.b.c.d", "a1b2c3d", "abcd"},
        {"^\\s*(?<u>\\S+) : (?<n>\\d+) incorrect password attempts? ;",
         "   al : 3 incorrect password attempt ;", "al : x incorrect password attempt ;"},
        /* first bytes (alternatives with different prefixes) */
        {"^(?:EXT4|XFS|BTRFS) x", "XFS x", "ZFS x"},
        {"^(?:EXT4|XFS|BTRFS) x", "BTRFS x", " XFS x"},
        {"^(?i)(?:abc|xyz)", "XYZ", "def"},
        {"^[a-c]+z", "bz", "dz"},
        {"^\\d*x", "x", "yx"},
        {"^\\d*x", "42x", "-42x"},
        {"^(?:ab|c)*$", "", "x"},
        {"^(?:ab|cd)?ef", "ef", "gef"},
        {"^(?:ab|cd)?ef", "cdef", "abcdef"},
        {"^(?=[xy])(?:x1|y2)", "y2", "z2"},
        {"^(?:\\xc3\\xa9t\\xc3\\xa9|hiver)", "\xc3\xa9t\xc3\xa9", "printemps"},
        {"^(?m)(?:ab|cd)", "cd", "x\nab"},
        {"(?m)^(?:ab|cd)", "x\nab", "x\nef"},
    };
    char text[512];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct qn_rules *rs;
        char hit[256], miss[256];

        snprintf(text, sizeof(text), "[rule p]\nregex = %s\n", cases[i].pattern);
        rs = parse_ok(text);
        snprintf(hit, sizeof(hit), "MESSAGE=%s", cases[i].hit);
        snprintf(miss, sizeof(miss), "MESSAGE=%s", cases[i].miss);
        if (feed_at(rs, 1, hit, NULL) != 1)
            fail_msg("case %zu: /%s/ did not match \"%s\"", i, cases[i].pattern, cases[i].hit);
        if (feed_at(rs, 2, miss, NULL) != 0)
            fail_msg("case %zu: /%s/ matched \"%s\"", i, cases[i].pattern, cases[i].miss);
        qn_rules_free(rs);
    }
}

static void test_prefilter_saves_pattern_runs_on_the_default_rules(void **state)
{
    struct qn_rules_stats st;
    struct qn_rules *rs;
    struct qn_rules_errors errs;

    (void)state;
    memset(&errs, 0, sizeof(errs));
    assert_int_equal(qn_rules_new(&rs), QN_OK);
    assert_int_equal(qn_rules_load_dir(rs, QN_SOURCE_DIR "/packaging/rules.d", &errs), QN_OK);
    reset_alerts();
    /* a line no rule wants, from a program no rule names: only patterns without a
     * field condition are tried, and the prefilter answers for those it understands */
    assert_int_equal(feed_at(rs, 1, "MESSAGE=GET /index.html 200", "SYSLOG_IDENTIFIER=nginx",
                             "_TRANSPORT=syslog", NULL),
                     0);
    qn_rules_stats(rs, &st);
    assert_true(st.prefiltered >= 6);
    qn_rules_free(rs);
}

/* Alternatives with different prefixes have no literal: the first bytes PCRE2 finds for
 * them decide instead, and only where '^' anchors the pattern. */
static void test_first_bytes_screen_anchored_alternatives(void **state)
{
    static const struct {
        const char *pattern, *line;
        unsigned long long prefiltered;
    } cases[] = {
        {"^(?:EXT4-fs error|XFS \\(|BTRFS error)", "ZFS: pool degraded", 1},
        {"^(?:EXT4-fs error|XFS \\(|BTRFS error)", "XFS: mounted", 0},
        {"^(?:ab|cd)?ef", "gef", 1},
        {"^(?:ab|c)*$", "x", 0},        /* can match the empty string: no set */
        {"(?m)^(?:ab|cd)", "x\nef", 0}, /* '^' after a line break: not anchored */
        {"^\\S+ x", " a x", 1},         /* \\S cannot start with a space */
        {"^\\S+ x", "a x", 0},
    };
    struct qn_rules_stats st;
    char text[256], line[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct qn_rules *rs;

        snprintf(text, sizeof(text), "[rule p]\nregex = %s\n", cases[i].pattern);
        rs = parse_ok(text);
        snprintf(line, sizeof(line), "MESSAGE=%s", cases[i].line);
        feed_at(rs, 1, line, NULL);
        qn_rules_stats(rs, &st);
        if (st.prefiltered != cases[i].prefiltered)
            fail_msg("case %zu: /%s/ on \"%s\": %llu pattern runs saved, expected %llu", i,
                     cases[i].pattern, cases[i].line, st.prefiltered, cases[i].prefiltered);
        qn_rules_free(rs);
    }
}

static void test_fields_are_fetched_lazily_message_first(void **state)
{
    struct fake_entry e;
    struct qn_rules_entry en;
    struct qn_rules *rs;
    size_t fired;

    (void)state;
    rs = parse_ok("[rule a]\nmatch = SYSLOG_IDENTIFIER=sshd\nregex = ^Failed\n"
                  "[rule b]\nmatch = SYSLOG_IDENTIFIER=sshd\nregex = ^Invalid\n");
    memset(&e, 0, sizeof(e));
    e.fields[0] = "MESSAGE=Accepted publickey";
    e.fields[1] = "SYSLOG_IDENTIFIER=sshd";
    e.n = 2;
    memset(&en, 0, sizeof(en));
    en.get = fake_get;
    en.ctx = &e;
    en.time_usec = SEC;
    assert_int_equal(qn_rules_feed(rs, &en, collect, &got, &fired), QN_OK);
    /* both patterns reject: MESSAGE was read once, nothing else */
    assert_int_equal(e.gets, 1);
    assert_int_equal(fired, 0);
    qn_rules_free(rs);
}

static void test_the_time_is_asked_for_only_when_a_rule_matched(void **state)
{
    struct fake_entry e;
    struct qn_rules_entry en;
    struct qn_rules *rs;
    size_t fired = 0;

    (void)state;
    rs = parse_ok("[rule a]\nregex = ^x (?<k>\\w+)\nthreshold = 2 in 1m per k\n"
                  "[rule b]\nregex = ^x\nsubject = {rule}\n");
    memset(&e, 0, sizeof(e));
    memset(&en, 0, sizeof(en));
    e.fields[0] = "MESSAGE=nothing to see";
    e.fields[1] = "__REALTIME_TIMESTAMP=42000000";
    e.n = 2;
    en.get = fake_get;
    en.ctx = &e;
    en.time_usec = QN_RULES_TIME_ASK;
    assert_int_equal(qn_rules_feed(rs, &en, collect, &got, &fired), QN_OK);
    assert_int_equal(e.gets, 1); /* MESSAGE only */
    e.fields[0] = "MESSAGE=x one";
    e.gets = 0;
    assert_int_equal(qn_rules_feed(rs, &en, collect, &got, &fired), QN_OK);
    assert_int_equal(fired, 1); /* b fires, a counts 1 of 2 */
    e.gets = 0;
    e.fields[1] = "__REALTIME_TIMESTAMP=100000000"; /* 58 s later: still in a's minute */
    assert_int_equal(qn_rules_feed(rs, &en, collect, &got, &fired), QN_OK);
    assert_int_equal(fired, 2);
    e.fields[1] = "__REALTIME_TIMESTAMP=300000000"; /* alone in a's window again */
    assert_int_equal(qn_rules_feed(rs, &en, collect, &got, &fired), QN_OK);
    assert_int_equal(fired, 1);
    qn_rules_free(rs);
}

static void test_offering_fields_gives_the_same_answers(void **state)
{
    static const char *const fields[] = {"_TRANSPORT=kernel", "MESSAGE=boom", "PRIORITY=2",
                                         "MESSAGE=second", "_HOSTNAME=h1"};
    struct qn_rules_entry en = {.get = NULL, .ctx = NULL, .time_usec = 5 * SEC};
    struct qn_rules *rs;
    size_t fired = 0, i;

    (void)state;
    rs = parse_ok("[rule k]\nmatch = _TRANSPORT=kernel\npriority = crit\n"
                  "[rule m]\nregex = ^boom$\nsubject = {host}\n");
    assert_true(qn_rules_reads_fields_always(rs));
    qn_rules_entry_begin(rs);
    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        qn_rules_entry_offer(rs, fields[i], strlen(fields[i]));
    qn_rules_entry_offer(rs, "NOEQUALS", 8);
    qn_rules_entry_end(rs);
    assert_int_equal(qn_rules_feed(rs, &en, collect, &got, &fired), QN_OK);
    assert_int_equal(fired, 2);
    assert_string_equal(got.text[0], "k count=1 host=h1");
    assert_string_equal(got.text[1], "m count=1 host=h1 subject=[h1]");
    /* the next entry starts empty */
    qn_rules_entry_begin(rs);
    qn_rules_entry_offer(rs, "MESSAGE=boom", 12);
    qn_rules_entry_end(rs);
    assert_int_equal(qn_rules_feed(rs, &en, collect, &got, &fired), QN_OK);
    assert_int_equal(fired, 1);
    assert_string_equal(got.text[2], "m count=1"); /* {host} of no host: empty subject */
    qn_rules_free(rs);

    rs = parse_ok("[rule only-patterns]\nregex = a\nmatch = X=y\n");
    assert_false(qn_rules_reads_fields_always(rs));
    qn_rules_free(rs);
}

/* ---- thresholds -------------------------------------------------------------------------- */

static const char brute[] = "[rule ssh]\n"
                            "match = SYSLOG_IDENTIFIER=sshd\n"
                            "regex = ^Failed password for (?<user>\\S+) from (?<ip>\\S+) port\n"
                            "threshold = 5 in 10m per ip\n"
                            "cooldown = 1h\n"
                            "samples = 2\n"
                            "subject = {count} failures from {ip}\n";

static size_t fail_from(struct qn_rules *rs, long long t, const char *ip)
{
    char msg[256];

    snprintf(msg, sizeof(msg), "MESSAGE=Failed password for root from %s port 22 ssh2", ip);
    return feed_at(rs, t, "SYSLOG_IDENTIFIER=sshd", msg, "_HOSTNAME=web1", NULL);
}

static void test_threshold_fires_on_the_fifth_failure_only(void **state)
{
    struct qn_rules *rs;
    int i;

    (void)state;
    rs = parse_ok(brute);
    for (i = 0; i < 4; i++)
        assert_int_equal(fail_from(rs, 100 + i, "203.0.113.9"), 0);
    assert_int_equal(got.n, 0);
    assert_int_equal(fail_from(rs, 104, "203.0.113.9"), 1);
    assert_int_equal(got.n, 1);
    assert_string_equal(got.text[0],
                        "ssh count=5 user=root ip=203.0.113.9 host=web1 subject=[5 failures from "
                        "203.0.113.9] "
                        "sample1=[Failed password for root from 203.0.113.9 port 22 ssh2] "
                        "sample2=[Failed password for root from 203.0.113.9 port 22 ssh2]");
    qn_rules_free(rs);
}

static void test_threshold_counts_each_ip_separately(void **state)
{
    struct qn_rules *rs;
    int i;

    (void)state;
    rs = parse_ok(brute);
    for (i = 0; i < 4; i++) {
        assert_int_equal(fail_from(rs, 100 + 2 * i, "203.0.113.9"), 0);
        assert_int_equal(fail_from(rs, 101 + 2 * i, "198.51.100.7"), 0);
    }
    assert_int_equal(fail_from(rs, 110, "198.51.100.7"), 1);
    assert_non_null(strstr(got.text[0], "ip=198.51.100.7"));
    assert_int_equal(fail_from(rs, 111, "203.0.113.9"), 1);
    assert_non_null(strstr(got.text[1], "ip=203.0.113.9"));
    assert_int_equal(got.n, 2);
    qn_rules_free(rs);
}

static void test_threshold_window_slides(void **state)
{
    struct qn_rules *rs;

    (void)state;
    rs = parse_ok(brute);
    /* four early, then the window (10 min) moves past the first two */
    assert_int_equal(fail_from(rs, 0, "192.0.2.1"), 0);
    assert_int_equal(fail_from(rs, 1, "192.0.2.1"), 0);
    assert_int_equal(fail_from(rs, 500, "192.0.2.1"), 0);
    assert_int_equal(fail_from(rs, 501, "192.0.2.1"), 0);
    assert_int_equal(fail_from(rs, 601, "192.0.2.1"), 0); /* 0 and 1 are out: 3 in window */
    assert_int_equal(fail_from(rs, 602, "192.0.2.1"), 0); /* 4 */
    assert_int_equal(fail_from(rs, 603, "192.0.2.1"), 1); /* 5 within 500..603 */
    assert_non_null(strstr(got.text[0], "count=5"));
    qn_rules_free(rs);
}

static void test_cooldown_holds_back_and_reports_suppressed(void **state)
{
    struct qn_rules_stats st;
    struct qn_rules *rs;
    int i;

    (void)state;
    rs = parse_ok(brute);
    for (i = 0; i < 5; i++)
        fail_from(rs, 1000 + i, "203.0.113.9");
    assert_int_equal(got.n, 1);
    /* twelve more inside the hour: nothing */
    for (i = 0; i < 12; i++)
        assert_int_equal(fail_from(rs, 1100 + i * 60, "203.0.113.9"), 0);
    assert_int_equal(got.n, 1);
    /* the cooldown ends at 1004 + 3600; the window then holds 5 recent failures */
    assert_int_equal(fail_from(rs, 4605, "203.0.113.9"), 0); /* only 1 in its window */
    for (i = 1; i < 5; i++)
        fail_from(rs, 4605 + i, "203.0.113.9");
    assert_int_equal(got.n, 2);
    assert_non_null(strstr(got.text[1], "count=5 suppressed=12 "));
    qn_rules_stats(rs, &st);
    assert_int_equal(st.alerts, 2);
    assert_int_equal(st.suppressed, 12);
    assert_int_equal(st.matches, 22);
    qn_rules_free(rs);
}

static void test_cooldown_without_threshold_is_per_key(void **state)
{
    struct qn_rules *rs;

    (void)state;
    rs = parse_ok("[rule crash]\nregex = ^(?<process>\\w+)\\[\\d+\\]: segfault\n"
                  "cooldown = 10m per host, process\n");
    assert_int_equal(feed_at(rs, 0, "MESSAGE=app[1]: segfault", "_HOSTNAME=a", NULL), 1);
    assert_int_equal(feed_at(rs, 10, "MESSAGE=app[2]: segfault", "_HOSTNAME=a", NULL), 0);
    assert_int_equal(feed_at(rs, 11, "MESSAGE=app[3]: segfault", "_HOSTNAME=b", NULL), 1);
    assert_int_equal(feed_at(rs, 12, "MESSAGE=db[4]: segfault", "_HOSTNAME=a", NULL), 1);
    assert_int_equal(feed_at(rs, 600, "MESSAGE=app[5]: segfault", "_HOSTNAME=a", NULL), 1);
    assert_non_null(strstr(got.text[3], "count=1 suppressed=1 "));
    qn_rules_free(rs);
}

static void test_full_table_replaces_a_key_with_nothing_left_first(void **state)
{
    struct qn_rules_stats st;
    struct qn_rules *rs;

    (void)state;
    rs = parse_ok("[rule ssh]\nregex = from (?<ip>\\S+)\nthreshold = 3 in 10s per ip\n"
                  "keys = 4\n");
    assert_int_equal(feed_at(rs, 1, "MESSAGE=from A", NULL), 0);
    assert_int_equal(feed_at(rs, 2, "MESSAGE=from B", NULL), 0);
    assert_int_equal(feed_at(rs, 30, "MESSAGE=from C", NULL), 0);
    assert_int_equal(feed_at(rs, 31, "MESSAGE=from D", NULL), 0);
    /* A and B have nothing in their window: E and F take their places quietly */
    assert_int_equal(feed_at(rs, 32, "MESSAGE=from E", NULL), 0);
    assert_int_equal(feed_at(rs, 33, "MESSAGE=from F", NULL), 0);
    qn_rules_stats(rs, &st);
    assert_int_equal(st.evicted, 2);
    assert_int_equal(st.overflows, 0);
    /* C, D, E still count: each reaches 3 */
    assert_int_equal(feed_at(rs, 34, "MESSAGE=from C", NULL), 0);
    assert_int_equal(feed_at(rs, 35, "MESSAGE=from C", NULL), 1);
    assert_int_equal(feed_at(rs, 36, "MESSAGE=from D", NULL), 0);
    assert_int_equal(feed_at(rs, 37, "MESSAGE=from D", NULL), 1);
    assert_int_equal(got.n, 2);
    qn_rules_free(rs);
}

/* The flush attack: four failures from one address, then more new addresses than the
 * table holds, then the fifth failure. */
static void test_a_flood_of_sources_cannot_flush_a_count_and_is_itself_an_alert(void **state)
{
    struct qn_rules_stats before, after;
    struct qn_rules *rs;
    char m[64];
    int i;

    (void)state;
    rs = parse_ok("[rule ssh]\nregex = from (?<ip>\\S+)\nthreshold = 5 in 10m per ip\n"
                  "cooldown = 1h\nkeys = 8\nsamples = 0\n");
    qn_rules_stats(rs, &before);
    for (i = 0; i < 4; i++)
        assert_int_equal(feed_at(rs, 1 + i, "MESSAGE=from 198.51.100.23", NULL), 0);
    for (i = 0; i < 110; i++) {
        snprintf(m, sizeof(m), "MESSAGE=from 203.0.113.%d", i);
        feed_at(rs, 10 + i, m, NULL);
    }
    /* the table overflowed: one alert says so, at the first match that had no place */
    assert_int_equal(got.n, 1);
    assert_string_equal(got.text[0], "ssh count=8 overflow keys=8 window=600s ip=203.0.113.7");
    /* the count of 4 was kept: the fifth failure fires */
    assert_int_equal(feed_at(rs, 200, "MESSAGE=from 198.51.100.23", NULL), 1);
    assert_string_equal(got.text[1], "ssh count=5 ip=198.51.100.23");
    qn_rules_stats(rs, &after);
    assert_int_equal(after.state_bytes, before.state_bytes); /* memory never grows */
    assert_int_equal(after.overflows, 110 - 7);
    /* an hour later the flood goes on: one more overflow alert, with what was held back */
    for (i = 0; i < 20; i++) {
        snprintf(m, sizeof(m), "MESSAGE=from 192.0.2.%d", i);
        feed_at(rs, 3700 + i, m, NULL);
    }
    for (i = 0; i < 20; i++) {
        snprintf(m, sizeof(m), "MESSAGE=from 192.0.2.%d", i);
        feed_at(rs, 3720 + i, m, NULL);
    }
    assert_int_equal(got.n, 3);
    assert_string_equal(got.text[2],
                        "ssh count=8 overflow keys=8 window=600s suppressed=102 ip=192.0.2.8");
    qn_rules_free(rs);
}

/* Keys at least half way to the threshold stay; a new key then waits (and says so). */
static void test_a_table_of_keys_half_way_leaves_new_matches_uncounted(void **state)
{
    struct qn_rules_stats st;
    struct qn_rules *rs;

    (void)state;
    rs = parse_ok("[rule r]\nregex = from (?<ip>\\S+)\nthreshold = 2 in 10s per ip\n"
                  "keys = 2\nsamples = 0\n");
    assert_int_equal(feed_at(rs, 1, "MESSAGE=from A", NULL), 0);
    assert_int_equal(feed_at(rs, 2, "MESSAGE=from B", NULL), 0);
    assert_int_equal(feed_at(rs, 3, "MESSAGE=from C", NULL), 1); /* the overflow alert */
    assert_string_equal(got.text[0], "r count=2 overflow keys=2 window=10s ip=C");
    assert_int_equal(feed_at(rs, 4, "MESSAGE=from C", NULL), 0); /* not counted, held back */
    assert_int_equal(feed_at(rs, 5, "MESSAGE=from A", NULL), 1); /* A kept its count */
    assert_string_equal(got.text[1], "r count=2 ip=A");
    /* A fired and has nothing left: C takes its place and counts from there */
    assert_int_equal(feed_at(rs, 6, "MESSAGE=from C", NULL), 0);
    assert_int_equal(feed_at(rs, 7, "MESSAGE=from C", NULL), 1);
    qn_rules_stats(rs, &st);
    assert_int_equal(st.overflows, 2);
    assert_int_equal(st.evicted, 1);
    qn_rules_free(rs);
}

static void test_cooldown_tables_give_up_their_least_recent_key(void **state)
{
    struct qn_rules *rs;

    (void)state;
    rs = parse_ok("[rule u]\nregex = (?<u>\\S+) failed\ncooldown = 1h per u\nkeys = 2\n");
    assert_int_equal(feed_at(rs, 1, "MESSAGE=a failed", NULL), 1);
    assert_int_equal(feed_at(rs, 2, "MESSAGE=b failed", NULL), 1);
    assert_int_equal(feed_at(rs, 3, "MESSAGE=c failed", NULL), 1); /* a's cooldown is lost */
    assert_int_equal(feed_at(rs, 4, "MESSAGE=b failed", NULL), 0);
    assert_int_equal(feed_at(rs, 5, "MESSAGE=a failed", NULL), 1);
    qn_rules_free(rs);
}

static void test_long_keys_are_told_apart(void **state)
{
    struct qn_rules *rs;
    char a[400], b[400];

    (void)state;
    rs = parse_ok("[rule k]\nregex = ^(?<k>.*)$\nthreshold = 2 in 1h per k\n");
    memset(a, 'x', sizeof(a));
    memcpy(a, "MESSAGE=", 8);
    a[sizeof(a) - 2] = '1';
    a[sizeof(a) - 1] = '\0';
    memcpy(b, a, sizeof(b));
    b[sizeof(b) - 2] = '2';
    /* same first 128+ bytes, different ends: two keys (capture is cut at 255 bytes, so
     * the difference must be inside it) */
    a[200] = 'A';
    b[200] = 'B';
    assert_int_equal(feed_at(rs, 1, a, NULL), 0);
    assert_int_equal(feed_at(rs, 2, b, NULL), 0);
    assert_int_equal(feed_at(rs, 3, a, NULL), 1);
    qn_rules_free(rs);
}

static void test_a_failed_callback_stops_the_feed(void **state)
{
    struct fake_entry e;
    struct qn_rules_entry en;
    struct qn_rules *rs;
    size_t fired = 9;

    (void)state;
    rs = parse_ok("[rule one]\nregex = x\n[rule two]\nregex = x\n");
    memset(&e, 0, sizeof(e));
    e.fields[0] = "MESSAGE=x";
    e.n = 1;
    memset(&en, 0, sizeof(en));
    en.get = fake_get;
    en.ctx = &e;
    en.time_usec = SEC;
    got.fail_with = QN_EIO;
    assert_int_equal(qn_rules_feed(rs, &en, collect, &got, &fired), QN_EIO);
    assert_int_equal(fired, 0);
    qn_rules_free(rs);
}

/* ---- state -------------------------------------------------------------------------------- */

static void test_state_round_trip_resumes_counting_exactly(void **state)
{
    struct qn_rules *rs, *again;
    struct qn_buf b;
    int i;

    (void)state;
    rs = parse_ok(brute);
    for (i = 0; i < 3; i++)
        fail_from(rs, 100 + i, "203.0.113.9");
    for (i = 0; i < 5; i++)
        fail_from(rs, 100 + i, "198.51.100.7"); /* fires, then in cooldown */
    fail_from(rs, 110, "198.51.100.7");         /* suppressed */
    fail_from(rs, 111, "w%k\x01-");             /* escaping */
    assert_int_equal(got.n, 1);
    qn_buf_init(&b, 1 << 20);
    assert_int_equal(qn_rules_state_save(rs, 111 * SEC, 1 << 20, &b), QN_OK);
    assert_non_null(strstr(b.data, "rules-state 1\nrule ssh "));
    assert_non_null(strstr(b.data, "key w%25k%01- "));
    qn_rules_free(rs);

    again = parse_ok(brute);
    assert_int_equal(qn_rules_state_load(again, b.data, b.len), QN_OK);
    /* two more failures of 203.0.113.9 complete its five */
    assert_int_equal(fail_from(again, 120, "203.0.113.9"), 0);
    assert_int_equal(fail_from(again, 121, "203.0.113.9"), 1);
    assert_string_equal(got.text[0],
                        "ssh count=5 user=root ip=203.0.113.9 host=web1 subject=[5 failures from "
                        "203.0.113.9] "
                        "sample1=[Failed password for root from 203.0.113.9 port 22 ssh2] "
                        "sample2=[Failed password for root from 203.0.113.9 port 22 ssh2]");
    /* 198.51.100.7 is still in its cooldown, with one suppressed so far */
    for (i = 0; i < 5; i++)
        assert_int_equal(fail_from(again, 200 + i, "198.51.100.7"), 0);
    for (i = 0; i < 5; i++)
        fail_from(again, 3800 + i, "198.51.100.7");
    assert_int_equal(got.n, 2);
    assert_non_null(strstr(got.text[1], "count=5 suppressed=6 "));
    /* the odd key came back intact: four more make its five */
    for (i = 0; i < 4; i++)
        fail_from(again, 130 + i, "w%k\x01-");
    assert_int_equal(got.n, 3);
    qn_buf_free(&b);
    qn_rules_free(again);
}

/* Replace every FROM in S (NUL-terminated, room enough) by TO of the same length or longer. */
static void replace_all(char *s, const char *from, const char *to)
{
    char tmp[1 << 16];
    size_t out = 0, fl = strlen(from), tl = strlen(to);
    const char *p = s, *hit;

    while ((hit = strstr(p, from)) != NULL) {
        memcpy(tmp + out, p, (size_t)(hit - p));
        out += (size_t)(hit - p);
        memcpy(tmp + out, to, tl);
        out += tl;
        p = hit + fl;
    }
    memcpy(tmp + out, p, strlen(p) + 1);
    memcpy(s, tmp, out + strlen(p) + 1);
}

/* The overflow's quiet time survives a restart (and a forged one is bounded by the rule's). */
static void test_state_keeps_the_overflow_and_bounds_loaded_times(void **state)
{
    static const char rules[] = "[rule r]\nregex = from (?<ip>\\S+)\nthreshold = 3 in 10m "
                                "per ip\nkeys = 1\nsamples = 0\n";
    struct qn_rules *rs, *again;
    struct qn_buf b;

    (void)state;
    rs = parse_ok(rules);
    assert_int_equal(feed_at(rs, 1, "MESSAGE=from A", NULL), 0);
    assert_int_equal(feed_at(rs, 400, "MESSAGE=from A", NULL), 0);
    assert_int_equal(feed_at(rs, 401, "MESSAGE=from B", NULL), 1); /* the overflow alert */
    assert_int_equal(feed_at(rs, 402, "MESSAGE=from C", NULL), 0); /* held back */
    qn_buf_init(&b, 1 << 16);
    assert_int_equal(qn_rules_state_save(rs, 402 * SEC, 1 << 16, &b), QN_OK);
    assert_non_null(strstr(b.data, "\noverflow 1001000000 1\n"));
    qn_rules_free(rs);
    again = parse_ok(rules);
    assert_int_equal(qn_rules_state_load(again, b.data, b.len), QN_OK);
    assert_int_equal(feed_at(again, 500, "MESSAGE=from D", NULL), 0); /* still quiet */
    assert_int_equal(feed_at(again, 900, "MESSAGE=from A", NULL), 0); /* A kept: 2 of 3 */
    assert_int_equal(feed_at(again, 1002, "MESSAGE=from E", NULL), 1);
    assert_string_equal(got.text[0], "r count=1 overflow keys=1 window=600s suppressed=2 ip=E");
    qn_rules_free(again);
    qn_buf_free(&b);

    /* a state file saying "quiet until the year 9999" costs one cooldown at most */
    rs = parse_ok("[rule r]\nregex = from (?<ip>\\S+)\nthreshold = 2 in 10s per ip\n"
                  "cooldown = 100s\nkeys = 2\nsamples = 0\n");
    assert_int_equal(feed_at(rs, 1, "MESSAGE=from A", NULL), 0);
    assert_int_equal(feed_at(rs, 2, "MESSAGE=from A", NULL), 1); /* cooldown until 102 */
    assert_int_equal(feed_at(rs, 3, "MESSAGE=from A", NULL), 0); /* suppressed */
    assert_int_equal(feed_at(rs, 4, "MESSAGE=from B", NULL), 0);
    assert_int_equal(feed_at(rs, 5, "MESSAGE=from C", NULL), 1); /* overflow, quiet until 105 */
    qn_buf_init(&b, 1 << 16);
    assert_int_equal(qn_rules_state_save(rs, 5 * SEC, 1 << 16, &b), QN_OK);
    qn_rules_free(rs);
    replace_all(b.data, " 102000000 1 1 ", " 253402300799000000 1 1 ");
    replace_all(b.data, "overflow 105000000 ", "overflow 253402300799000000 ");
    assert_non_null(strstr(b.data, "\noverflow 253402300799000000 0\n"));
    assert_non_null(strstr(b.data, " 253402300799000000 1 1 3000000\n"));
    again = parse_ok("[rule r]\nregex = from (?<ip>\\S+)\nthreshold = 2 in 10s per ip\n"
                     "cooldown = 100s\nkeys = 2\nsamples = 0\n");
    assert_int_equal(qn_rules_state_load(again, b.data, strlen(b.data)), QN_OK);
    qn_buf_free(&b);
    assert_int_equal(feed_at(again, 1000, "MESSAGE=from A", NULL), 0); /* quiet until 1100 */
    assert_int_equal(feed_at(again, 1000, "MESSAGE=from D", NULL), 0); /* takes B's place */
    assert_int_equal(feed_at(again, 1001, "MESSAGE=from E", NULL), 0); /* quiet until 1101 */
    assert_int_equal(feed_at(again, 1101, "MESSAGE=from A", NULL), 0);
    assert_int_equal(feed_at(again, 1102, "MESSAGE=from A", NULL), 1);
    assert_int_equal(feed_at(again, 1103, "MESSAGE=from D", NULL), 0);
    assert_int_equal(feed_at(again, 1103, "MESSAGE=from E", NULL), 0); /* takes A's place */
    assert_int_equal(feed_at(again, 1104, "MESSAGE=from F", NULL), 1);
    assert_string_equal(got.text[0], "r count=2 suppressed=2 ip=A");
    assert_string_equal(got.text[1], "r count=2 overflow keys=2 window=10s suppressed=1 ip=F");
    qn_rules_free(again);
}

static void test_state_of_changed_rules_is_dropped(void **state)
{
    struct qn_rules *rs, *changed;
    struct qn_buf b;
    int i;

    (void)state;
    rs = parse_ok(brute);
    for (i = 0; i < 4; i++)
        fail_from(rs, 100 + i, "203.0.113.9");
    qn_buf_init(&b, 1 << 20);
    assert_int_equal(qn_rules_state_save(rs, 103 * SEC, 1 << 20, &b), QN_OK);
    qn_rules_free(rs);

    changed = parse_ok("[rule ssh]\n"
                       "regex = ^Failed password for (?<user>\\S+) from (?<ip>\\S+) port\n"
                       "threshold = 6 in 10m per ip\n");
    assert_int_equal(qn_rules_state_load(changed, b.data, b.len), QN_OK);
    assert_int_equal(fail_from(changed, 104, "203.0.113.9"), 0); /* 1 of 6, not 5 of 6 */
    assert_int_equal(fail_from(changed, 105, "203.0.113.9"), 0);
    assert_int_equal(got.n, 0);
    qn_buf_free(&b);
    qn_rules_free(changed);
}

static void test_expired_keys_are_not_saved_and_the_budget_is_kept(void **state)
{
    struct qn_rules *rs;
    struct qn_buf b;
    char ip[32];
    int i;

    (void)state;
    rs = parse_ok(brute);
    fail_from(rs, 0, "192.0.2.1");
    qn_buf_init(&b, 1 << 20);
    assert_int_equal(qn_rules_state_save(rs, 10000 * SEC, 1 << 20, &b), QN_OK);
    assert_string_equal(b.data, "rules-state 1\n");
    for (i = 0; i < 200; i++) {
        snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 250, i % 250);
        fail_from(rs, 20000 + i, ip);
    }
    qn_buf_reset(&b);
    assert_int_equal(qn_rules_state_save(rs, 20200 * SEC, 2000, &b), QN_OK);
    assert_true(b.len <= 2000);
    /* most recent first: the last address is in, the first is not */
    assert_non_null(strstr(b.data, "10.1.0.199"));
    assert_null(strstr(b.data, "10.1.0.0 "));
    qn_buf_free(&b);
    qn_rules_free(rs);
}

static void test_malformed_state_is_refused_and_leaves_nothing(void **state)
{
    static const char *const bad[] = {
        "rules-state 2\n",
        "rules-state 1\nrule ssh\n",
        "rules-state 1\nrule ssh zz\n",
        "rules-state 1\nbogus line\n",
        "rules-state 1\nkey x 1 0000000000000000 0 0 0\n", /* fine (no rule), then: */
    };
    struct qn_rules *rs;
    struct qn_buf b;
    char text[512];
    size_t i;
    int k;

    (void)state;
    rs = parse_ok(brute);
    for (i = 0; i + 1 < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(qn_rules_state_load(rs, bad[i], strlen(bad[i])), QN_EINVAL);
    assert_int_equal(qn_rules_state_load(rs, bad[4], strlen(bad[4])), QN_OK);

    /* a valid file with one bad key line: everything is dropped */
    for (k = 0; k < 4; k++)
        fail_from(rs, 100 + k, "203.0.113.9");
    qn_buf_init(&b, 1 << 20);
    assert_int_equal(qn_rules_state_save(rs, 103 * SEC, 1 << 20, &b), QN_OK);
    snprintf(text, sizeof(text), "%skey broken\n", b.data);
    assert_int_equal(qn_rules_state_load(rs, text, strlen(text)), QN_EINVAL);
    assert_int_equal(fail_from(rs, 104, "203.0.113.9"), 0); /* count restarted */
    assert_int_equal(qn_rules_state_load(rs, b.data, b.len), QN_OK);
    /* more timestamps than the threshold can hold */
    {
        const char *rl = strstr(b.data, "rule ssh ");
        assert_non_null(rl);
        snprintf(text, sizeof(text),
                 "rules-state 1\n%.26s\nkey x 1 0000000000000001 0 0 6 1 2 3 "
                 "4 5 6\n",
                 rl);
        assert_int_equal(qn_rules_state_load(rs, text, strlen(text)), QN_EINVAL);
        snprintf(text, sizeof(text),
                 "rules-state 1\n%.26s\nkey x 1 0000000000000001 0 0 2 1 2 "
                 "extra\n",
                 rl);
        assert_int_equal(qn_rules_state_load(rs, text, strlen(text)), QN_EINVAL);
        snprintf(text, sizeof(text),
                 "rules-state 1\n%.26s\nkey x 1 0000000000000001 0 0 2 1 2\n"
                 "key x 1 0000000000000001 0 0 1 3\n",
                 rl);
        assert_int_equal(qn_rules_state_load(rs, text, strlen(text)), QN_EINVAL); /* twice */
        snprintf(text, sizeof(text),
                 "rules-state 1\n%.26s\nkey x 1 0000000000000001 0 0 2 1 2\n"
                 "sample %%4\n",
                 rl);
        assert_int_equal(qn_rules_state_load(rs, text, strlen(text)), QN_EINVAL); /* escape */
    }
    qn_buf_free(&b);
    qn_rules_free(rs);
}

static void test_reload_adopts_the_counts_of_unchanged_rules(void **state)
{
    struct qn_rules *old, *fresh;
    int i;

    (void)state;
    old = parse_ok(brute);
    for (i = 0; i < 4; i++)
        fail_from(old, 100 + i, "203.0.113.9");
    /* same rule (state parameters unchanged, subject edited) plus a new one */
    fresh = parse_ok("[rule new]\nregex = never-matches-anything\n"
                     "[rule ssh]\n"
                     "match = SYSLOG_IDENTIFIER=sshd\n"
                     "regex = ^Failed password for (?<user>\\S+) from (?<ip>\\S+) port\n"
                     "threshold = 5 in 10m per ip\n"
                     "cooldown = 1h\n"
                     "samples = 2\n"
                     "subject = edited\n");
    qn_rules_state_adopt(fresh, old);
    qn_rules_free(old);
    assert_int_equal(fail_from(fresh, 104, "203.0.113.9"), 1);
    assert_non_null(strstr(got.text[0], "count=5 "));
    qn_rules_free(fresh);
}

/* ---- the journal-level filter ---------------------------------------------------------- */

struct filter_log {
    char text[1024];
};

static int log_match(void *ctx, const char *data, size_t len)
{
    struct filter_log *l = ctx;
    size_t n = strlen(l->text);

    snprintf(l->text + n, sizeof(l->text) - n, "[%.*s]", (int)len, data);
    return 0;
}

static int log_or(void *ctx)
{
    struct filter_log *l = ctx;
    size_t n = strlen(l->text);

    snprintf(l->text + n, sizeof(l->text) - n, " OR ");
    return 0;
}

static void test_filter_pushes_down_field_conditions(void **state)
{
    static const struct qn_rules_filter_ops ops = {log_match, log_or};
    struct filter_log l;
    struct qn_rules *rs;
    bool possible = false;

    (void)state;
    rs = parse_ok("[rule a]\nmatch = SYSLOG_IDENTIFIER=sshd\nmatch = _TRANSPORT=syslog\n"
                  "match = SYSLOG_IDENTIFIER=sshd-session\nregex = x\n"
                  "[rule b]\npriority = ..crit\n");
    memset(&l, 0, sizeof(l));
    assert_int_equal(qn_rules_filter(rs, &ops, &l, &possible), 0);
    assert_true(possible);
    /* fields are grouped (same field ORed by sd-journal), rules are disjunctions */
    assert_string_equal(l.text, "[SYSLOG_IDENTIFIER=sshd][SYSLOG_IDENTIFIER=sshd-session]"
                                "[_TRANSPORT=syslog] OR [PRIORITY=0][PRIORITY=1][PRIORITY=2]");
    qn_rules_free(rs);

    rs = parse_ok("[rule a]\nmatch = SYSLOG_IDENTIFIER=sshd\n[rule any]\nregex = disk full\n");
    memset(&l, 0, sizeof(l));
    assert_int_equal(qn_rules_filter(rs, &ops, &l, &possible), 0);
    assert_false(possible);
    assert_string_equal(l.text, "");
    qn_rules_free(rs);
}

/* ---- the default rules ------------------------------------------------------------------- */

static struct qn_rules *load_defaults(void)
{
    struct qn_rules_errors errs;
    struct qn_rules *rs = NULL;
    enum qn_status r;
    size_t i;

    memset(&errs, 0, sizeof(errs));
    assert_int_equal(qn_rules_new(&rs), QN_OK);
    r = qn_rules_load_dir(rs, QN_SOURCE_DIR "/packaging/rules.d", &errs);
    for (i = 0; i < errs.n; i++)
        fprintf(stderr, "%s:%u: %s: %s\n", errs.e[i].file, errs.e[i].line, errs.e[i].what,
                errs.e[i].detail);
    assert_int_equal(r, QN_OK);
    assert_int_equal(qn_rules_count(rs), 12);
    reset_alerts();
    return rs;
}

/* The fields journald gives a syslog line MSG of the program IDENT run as UID in UNIT: its
 * identifier, and its process name (_COMM, 15 bytes at most) from the kernel. */
static size_t process_line(struct qn_rules *rs, long long t, const char *host, const char *ident,
                           const char *uid, const char *unit, const char *msg)
{
    char m[1024], h[128], i[128], u[128], id[64], comm[64];

    snprintf(m, sizeof(m), "MESSAGE=%s", msg);
    snprintf(h, sizeof(h), "_HOSTNAME=%s", host);
    snprintf(i, sizeof(i), "SYSLOG_IDENTIFIER=%s", ident);
    snprintf(u, sizeof(u), "_SYSTEMD_UNIT=%s", unit);
    snprintf(id, sizeof(id), "_UID=%s", uid);
    snprintf(comm, sizeof(comm), "_COMM=%.15s", ident);
    return feed_at(rs, t, "_TRANSPORT=syslog", "PRIORITY=6", "_PID=4242", id, comm, h, i, u, m,
                   NULL);
}

/* MSG from the program IDENT running as root in UNIT. */
static size_t syslog_line(struct qn_rules *rs, long long t, const char *host, const char *ident,
                          const char *unit, const char *msg)
{
    return process_line(rs, t, host, ident, "0", unit, msg);
}

/* The same line from a local user (uid 1000) in a login session: `logger -t IDENT MSG`, which
 * also sets UNIT= (a field any sender may write) to a system unit. */
static size_t forged_line(struct qn_rules *rs, long long t, const char *ident, const char *msg)
{
    char m[1024], i[128];

    snprintf(m, sizeof(m), "MESSAGE=%s", msg);
    snprintf(i, sizeof(i), "SYSLOG_IDENTIFIER=%s", ident);
    return feed_at(rs, t, "_TRANSPORT=syslog", "PRIORITY=6", "_PID=7777", "_UID=1000",
                   "_COMM=logger", "_HOSTNAME=web1", "_SYSTEMD_UNIT=session-7.scope",
                   "UNIT=ssh.service", i, m, NULL);
}

static size_t kernel_line(struct qn_rules *rs, long long t, const char *msg)
{
    char m[1024];

    snprintf(m, sizeof(m), "MESSAGE=%s", msg);
    return feed_at(rs, t, "_TRANSPORT=kernel", "PRIORITY=3", "_HOSTNAME=web1",
                   "SYSLOG_IDENTIFIER=kernel", m, NULL);
}

static void test_default_ssh_brute_force(void **state)
{
    struct qn_rules *rs = load_defaults();
    int i;

    (void)state;
    for (i = 0; i < 4; i++)
        assert_int_equal(syslog_line(rs, 100 + i, "web1", "sshd", "ssh.service",
                                     i % 2 ? "Failed password for root from 203.0.113.9 port "
                                             "52144 ssh2"
                                           : "Failed password for invalid user admin from "
                                             "203.0.113.9 port 40022 ssh2"),
                         0);
    /* near misses from the same address do not count */
    syslog_line(rs, 105, "web1", "sshd", "ssh.service",
                "Failed publickey for root from 203.0.113.9 port 52144 ssh2: RSA SHA256:abc");
    syslog_line(rs, 105, "web1", "sshd", "ssh.service",
                "Accepted password for deploy from 203.0.113.9 port 52144 ssh2");
    syslog_line(rs, 105, "web1", "sshd", "ssh.service",
                "Connection closed by authenticating user root 203.0.113.9 port 52144 [preauth]");
    syslog_line(rs, 105, "web1", "sshd", "ssh.service",
                "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh "
                "ruser= rhost=203.0.113.9  user=root");
    syslog_line(rs, 105, "web1", "cron", "cron.service",
                "Failed password for root from 203.0.113.9 port 52144 ssh2"); /* not sshd */
    /* a local user's look-alikes: logger -t sshd, and a program of his named sshd */
    for (i = 0; i < 5; i++) {
        assert_int_equal(forged_line(rs, 105, i % 2 ? "sshd" : "sshd-session",
                                     "Failed password for root from 203.0.113.9 port 52144 "
                                     "ssh2"),
                         0);
        assert_int_equal(process_line(rs, 105, "web1", "sshd", "1000", "session-7.scope",
                                      "Failed password for root from 203.0.113.9 port 52144 "
                                      "ssh2"),
                         0);
    }
    assert_int_equal(got.n, 0);
    /* the fifth, from OpenSSH >= 9.8's sshd-session */
    assert_int_equal(syslog_line(rs, 106, "web1", "sshd-session", "ssh.service",
                                 "Failed password for root from 203.0.113.9 port 52199 ssh2"),
                     1);
    assert_string_equal(got.text[0],
                        "ssh-brute-force count=5 user=root ip=203.0.113.9 host=web1 "
                        "unit=ssh.service subject=[ssh brute force on web1: 5 failed passwords "
                        "from 203.0.113.9] "
                        "sample1=[Failed password for invalid user admin from 203.0.113.9 port "
                        "40022 ssh2] "
                        "sample2=[Failed password for root from 203.0.113.9 port 52144 ssh2] "
                        "sample3=[Failed password for root from 203.0.113.9 port 52199 ssh2]");
    /* a user name cannot choose the address counted */
    for (i = 0; i < 5; i++)
        syslog_line(rs, 200 + i, "web1", "sshd", "ssh.service",
                    "Failed password for invalid user x from 6.6.6.6 port 1 ssh2 from "
                    "192.0.2.77 port 5 ssh2");
    assert_int_equal(got.n, 2);
    assert_non_null(strstr(got.text[1], "user=x from 6.6.6.6 port 1 ssh2 ip=192.0.2.77 "));
    /* IPv6 */
    for (i = 0; i < 5; i++)
        syslog_line(rs, 300 + i, "web1", "sshd", "ssh.service",
                    "Failed password for root from 2001:db8::5 port 22 ssh2");
    assert_int_equal(got.n, 3);
    assert_non_null(strstr(got.text[2], "ip=2001:db8::5 "));
    qn_rules_free(rs);
}

static void test_default_ssh_invalid_user(void **state)
{
    struct qn_rules *rs = load_defaults();

    (void)state;
    syslog_line(rs, 1, "web1", "sshd", "ssh.service",
                "Invalid user oracle from 203.0.113.5 port 4022");
    syslog_line(rs, 2, "web1", "sshd", "ssh.service",
                "Connection closed by invalid user oracle 203.0.113.5 port 4022 [preauth]");
    syslog_line(rs, 3, "web1", "sshd", "ssh.service",
                "Disconnected from invalid user oracle 203.0.113.5 port 4022 [preauth]");
    syslog_line(rs, 4, "web1", "sshd", "ssh.service",
                "Invalid user test from 203.0.113.5 port 4023");
    assert_int_equal(forged_line(rs, 4, "sshd", "Invalid user ubnt from 203.0.113.5 port 4024"), 0);
    assert_int_equal(process_line(rs, 4, "web1", "sshd-session", "1000", "ssh.service",
                                  "Invalid user ubnt from 203.0.113.5 port 4024"),
                     0);
    assert_int_equal(got.n, 0);
    assert_int_equal(syslog_line(rs, 5, "web1", "sshd", "ssh.service",
                                 "Invalid user ubnt from 203.0.113.5 port 4024"),
                     1);
    assert_string_equal(got.text[0],
                        "ssh-invalid-user count=3 user=ubnt ip=203.0.113.5 host=web1 "
                        "unit=ssh.service subject=[ssh logins to unknown users on web1 from "
                        "203.0.113.5] "
                        "sample1=[Invalid user oracle from 203.0.113.5 port 4022] "
                        "sample2=[Invalid user test from 203.0.113.5 port 4023] "
                        "sample3=[Invalid user ubnt from 203.0.113.5 port 4024]");
    qn_rules_free(rs);
}

static void test_default_sudo_rules(void **state)
{
    struct qn_rules *rs = load_defaults();

    (void)state;
    /* near misses: a normal command, the per-attempt pam line, a session line */
    syslog_line(rs, 1, "web1", "sudo", "session-3.scope",
                "   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id");
    syslog_line(rs, 1, "web1", "sudo", "session-3.scope",
                "pam_unix(sudo:auth): authentication failure; logname=alice uid=1000 euid=0 "
                "tty=/dev/pts/0 ruser=alice rhost=  user=alice");
    syslog_line(rs, 1, "web1", "sudo", "session-3.scope",
                "pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000)");
    assert_int_equal(got.n, 0);
    assert_int_equal(syslog_line(rs, 2, "web1", "sudo", "session-3.scope",
                                 "   alice : 3 incorrect password attempts ; TTY=pts/0 ; "
                                 "PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/su -"),
                     1);
    assert_string_equal(got.text[0], "sudo-auth-failure count=1 user=alice attempts=3 "
                                     "command=/usr/bin/su - host=web1 unit=session-3.scope "
                                     "subject=[sudo: alice mistyped the password on web1]");
    assert_int_equal(syslog_line(rs, 3, "web1", "sudo", "session-4.scope",
                                 "bob : 1 incorrect password attempt ; TTY=pts/1 ; PWD=/tmp ; "
                                 "USER=root ; COMMAND=/bin/ls"),
                     1);
    /* the same user again within 10 minutes: held back */
    assert_int_equal(syslog_line(rs, 60, "web1", "sudo", "session-3.scope",
                                 "   alice : 2 incorrect password attempts ; TTY=pts/0 ; "
                                 "PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id"),
                     0);
    assert_int_equal(syslog_line(rs, 61, "web1", "sudo", "session-5.scope",
                                 "mallory : user NOT in sudoers ; TTY=pts/2 ; PWD=/home/mallory "
                                 "; USER=root ; COMMAND=/usr/bin/cat /etc/shadow"),
                     1);
    assert_string_equal(got.text[2], "sudo-not-in-sudoers count=1 user=mallory "
                                     "command=/usr/bin/cat /etc/shadow host=web1 "
                                     "unit=session-5.scope subject=[sudo: mallory is not "
                                     "allowed to run commands as root on web1]");
    /* sudo text from another program is not sudo */
    assert_int_equal(syslog_line(rs, 62, "web1", "bash", "session-5.scope",
                                 "mallory : user NOT in sudoers ; TTY=pts/2 ; PWD=/ ; USER=root "
                                 "; COMMAND=/x"),
                     0);
    /* nor is a local user's logger -t sudo, whoever it names */
    assert_int_equal(forged_line(rs, 63, "sudo",
                                 "root : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/root ; "
                                 "USER=root ; COMMAND=/bin/sh"),
                     0);
    assert_int_equal(forged_line(rs, 63, "sudo",
                                 "carol : user NOT in sudoers ; TTY=pts/2 ; PWD=/ ; USER=root ; "
                                 "COMMAND=/x"),
                     0);
    qn_rules_free(rs);
}

static void test_default_kernel_rules(void **state)
{
    static const char *const quiet[] = {
        "java invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, "
        "oom_score_adj=0",
        "oom_reaper: reaped process 4242 (java), now anon-rss:0kB, file-rss:0kB, shmem-rss:0kB",
        "EXT4-fs (sda1): mounted filesystem with ordered data mode. Quota mode: none.",
        "EXT4-fs (sda1): re-mounted. Quota mode: none.",
        "XFS (sdb1): Mounting V5 Filesystem",
        "blk_update_request: operation not supported error, dev loop0, sector 0 op 0x9:"
        "(WRITE_ZEROES) flags 0x800 phys_seg 0 prio class 0",
        "audit: type=1701 audit(1764180000.123:42): auid=1000 uid=1000 gid=1000 ses=2 pid=4242 "
        "comm=\"app\" exe=\"/usr/bin/app\" sig=11 res=1",
        "show_signal_msg: 12 callbacks suppressed",
        "[UFW BLOCK] IN=eth0 OUT= SRC=203.0.113.9 DST=10.0.0.5 PROTO=TCP SPT=4444 DPT=23",
    };
    static const struct {
        const char *msg;
        const char *want;
    } fire[] = {
        {"Out of memory: Killed process 4242 (java) total-vm:8123456kB, anon-rss:4012345kB, "
         "file-rss:0kB, shmem-rss:0kB, UID:1001 pgtables:9000kB oom_score_adj:0",
         "oom-kill count=1 pid=4242 process=java host=web1 subject=[out of memory on web1: "
         "killed java]"},
        {"Memory cgroup out of memory: Killed process 5151 (node) total-vm:1000kB, "
         "anon-rss:900kB, file-rss:0kB, shmem-rss:0kB, UID:33 pgtables:80kB oom_score_adj:0",
         "oom-kill count=1 pid=5151 process=node host=web1 subject=[out of memory on web1: "
         "killed node]"},
        {"EXT4-fs error (device sda1): ext4_lookup:1855: inode #1234: comm ls: deleted inode "
         "referenced: 5678",
         "filesystem-error count=1 device=sda1 host=web1 subject=[file system errors on web1: "
         "sda1]"},
        {"XFS (sdb1): metadata I/O error in \"xfs_imap_to_bp+0x5d/0x90\" at daddr 0x12345 len 32 "
         "error 5",
         "filesystem-error count=1 device=sdb1 host=web1 subject=[file system errors on web1: "
         "sdb1]"},
        {"I/O error, dev sdc, sector 12345 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 2",
         "disk-io-error count=1 device=sdc host=web1 subject=[disk I/O errors on web1: sdc]"},
        {"blk_update_request: critical medium error, dev sdd, sector 77 op 0x0:(READ) flags "
         "0x0 phys_seg 1 prio class 0",
         "disk-io-error count=1 device=sdd host=web1 subject=[disk I/O errors on web1: sdd]"},
        {"BTRFS error (device nvme0n1p2): bdev /dev/nvme0n1p2 errs: wr 0, rd 1, flush 0, "
         "corrupt 0, gen 0",
         "filesystem-error count=1 device=nvme0n1p2 host=web1 subject=[file system errors on "
         "web1: nvme0n1p2]"},
        {"EXT4-fs (sdf1): Remounting filesystem read-only",
         "filesystem-error count=1 device=sdf1 host=web1 subject=[file system errors on web1: "
         "sdf1]"},
        {"Buffer I/O error on dev dm-0, logical block 0, async page read",
         "disk-io-error count=1 device=dm-0 host=web1 subject=[disk I/O errors on web1: dm-0]"},
        {"app[4242]: segfault at 0 ip 00007f3a1c2b3d4e sp 00007ffd5e6f7a80 error 4 in "
         "libc.so.6[7f3a1c200000+195000] likely on CPU 1 (core 1, socket 0)",
         "segfault count=1 process=app pid=4242 host=web1 subject=[app crashed on web1]"},
        {"traps: worker[777] general protection fault ip:7f0a sp:7ffc error:0 in "
         "libfoo.so[7f0a000+1000]",
         "cpu-trap count=1 process=worker pid=777 trap=general protection fault host=web1 "
         "subject=[worker crashed on web1: general protection fault]"},
        {"traps: calc[778] trap divide error ip:55d0 sp:7ffc error:0 in calc[55d0+1000]",
         "cpu-trap count=1 process=calc pid=778 trap=trap divide error host=web1 "
         "subject=[calc crashed on web1: trap divide error]"},
    };
    struct qn_rules *rs = load_defaults();
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++) {
        if (kernel_line(rs, 1, quiet[i]) != 0)
            fail_msg("fired on a near miss: %s -> %s", quiet[i], got.text[got.n - 1]);
    }
    for (i = 0; i < sizeof(fire) / sizeof(fire[0]); i++) {
        if (kernel_line(rs, 10 + (long long)i, fire[i].msg) != 1)
            fail_msg("did not fire: %s", fire[i].msg);
        assert_string_equal(got.text[got.n - 1], fire[i].want);
    }
    /* the same lines from user space are not the kernel */
    assert_int_equal(syslog_line(rs, 100, "web1", "logger", "x.service", fire[0].msg), 0);
    /* the second segfault of app within 10 minutes is held back */
    assert_int_equal(kernel_line(rs, 200, fire[9].msg), 0);
    qn_rules_free(rs);
}

static size_t systemd_line(struct qn_rules *rs, long long t, const char *unit, const char *msg)
{
    char m[512], u[128];

    snprintf(m, sizeof(m), "MESSAGE=%s", msg);
    snprintf(u, sizeof(u), "UNIT=%s", unit);
    return feed_at(rs, t, "_TRANSPORT=journal", "PRIORITY=4", "_HOSTNAME=web1", "_PID=1", "_UID=0",
                   "_COMM=systemd", "SYSLOG_IDENTIFIER=systemd", "_SYSTEMD_UNIT=init.scope", u, m,
                   NULL);
}

/* systemd-coredump's report MSG, from its service, sent with the uid it runs as while it
 * reports: UID, its own account (998 here) for a process of a system account, the user's
 * for a user's process. */
static size_t coredump_line(struct qn_rules *rs, long long t, const char *uid, const char *msg)
{
    char m[512], u[32];

    snprintf(m, sizeof(m), "MESSAGE=%s", msg);
    snprintf(u, sizeof(u), "_UID=%s", uid);
    return feed_at(rs, t, "_TRANSPORT=journal", "PRIORITY=2", "_HOSTNAME=web1", "_PID=5151", u,
                   "_COMM=systemd-coredum", "_EXE=/usr/lib/systemd/systemd-coredump",
                   "SYSLOG_IDENTIFIER=systemd-coredump",
                   "_SYSTEMD_UNIT=systemd-coredump@0-5150-0.service",
                   "_SYSTEMD_SLICE=system-systemd\\x2dcoredump.slice", m, NULL);
}

static void test_default_systemd_rules(void **state)
{
    struct qn_rules *rs = load_defaults();

    (void)state;
    systemd_line(rs, 1, "nginx.service",
                 "nginx.service: Main process exited, code=exited, "
                 "status=1/FAILURE");
    systemd_line(rs, 1, "nginx.service",
                 "Failed to start nginx.service - A high performance "
                 "web server and a reverse proxy server.");
    systemd_line(rs, 1, "nginx.service", "nginx.service: Deactivated successfully.");
    systemd_line(rs, 1, "nginx.service",
                 "nginx.service: Scheduled restart job, restart counter "
                 "is at 3.");
    assert_int_equal(got.n, 0);
    assert_int_equal(
        systemd_line(rs, 2, "nginx.service", "nginx.service: Failed with result 'exit-code'."), 1);
    assert_string_equal(got.text[0], "unit-failed count=1 failed_unit=nginx.service "
                                     "result=exit-code host=web1 unit=nginx.service "
                                     "subject=[nginx.service failed on web1]");
    assert_int_equal(systemd_line(rs, 3, "backup.service",
                                  "backup.service: Failed with result "
                                  "'timeout'."),
                     1);
    assert_string_equal(got.text[1], "unit-failed count=1 failed_unit=backup.service "
                                     "result=timeout host=web1 unit=backup.service "
                                     "subject=[backup.service failed on web1]");
    /* restart loop: the next failure of nginx within 30 minutes is held back */
    assert_int_equal(
        systemd_line(rs, 60, "nginx.service", "nginx.service: Failed with result 'exit-code'."), 0);

    /* a local user: logger -t systemd, and his own service manager failing his own unit */
    assert_int_equal(
        forged_line(rs, 61, "systemd", "cron.service: Failed with result 'exit-code'."), 0);
    assert_int_equal(feed_at(rs, 61, "_TRANSPORT=journal", "_HOSTNAME=web1", "_PID=2345",
                             "_UID=1000", "_COMM=systemd", "SYSLOG_IDENTIFIER=systemd",
                             "_SYSTEMD_UNIT=user@1000.service", "USER_UNIT=mine.service",
                             "MESSAGE=mine.service: Failed with result 'exit-code'.", NULL),
                     0);

    /* systemd-coredump */
    assert_int_equal(coredump_line(rs, 70, "998",
                                   "Process 4242 (nginx) of user 33 terminated abnormally "
                                   "with signal 11/SEGV, processing..."),
                     0);
    /* a local user: logger -t systemd-coredump, the systemd-coredump program itself (any
     * user may run it: its --backtrace mode reports whatever it is given), and a real
     * report of his own program's crash (his uid: his business, the kernel's segfault line
     * is rule segfault) */
    assert_int_equal(
        forged_line(rs, 71, "systemd-coredump", "Process 1 (sshd) of user 0 dumped core."), 0);
    assert_int_equal(feed_at(rs, 71, "_TRANSPORT=journal", "_HOSTNAME=web1", "_PID=7000",
                             "_UID=1000", "_COMM=systemd-coredum",
                             "_EXE=/usr/lib/systemd/systemd-coredump",
                             "SYSLOG_IDENTIFIER=systemd-coredump", "_SYSTEMD_UNIT=session-7.scope",
                             "_SYSTEMD_SLICE=user-1000.slice",
                             "MESSAGE=Process 1 (sshd) of user 0 dumped core.", NULL),
                     0);
    assert_int_equal(coredump_line(rs, 71, "1001", "Process 5353 (sshd) of user 1001 dumped core."),
                     0);
    assert_int_equal(coredump_line(rs, 71, "998",
                                   "Process 4242 (nginx) of user 33 dumped core.\n\n"
                                   "Stack trace of thread 4242:\n#0  0x00007f3a n/a (libc.so.6)"),
                     1);
    assert_string_equal(got.text[2], "core-dump count=1 pid=4242 process=nginx uid=33 host=web1 "
                                     "unit=systemd-coredump@0-5150-0.service "
                                     "subject=[nginx (user 33) dumped core on web1]");
    qn_rules_free(rs);
}

static void test_default_disk_full(void **state)
{
    struct qn_rules *rs = load_defaults();
    char unit[64];
    int i;

    (void)state;
    assert_int_equal(
        syslog_line(rs, 1, "web1", "app", "app.service", "checking free space: 12 GB left on /var"),
        0);
    /* a system service, as its own account */
    assert_int_equal(process_line(rs, 2, "web1", "postgres", "105", "postgresql.service",
                                  "PANIC:  could not write to file \"pg_wal/xlogtemp.123\": No "
                                  "space left on device"),
                     1);
    assert_string_equal(got.text[0], "disk-full count=1 host=web1 unit=postgresql.service "
                                     "subject=[disk full on web1: postgresql.service could not "
                                     "write]");
    assert_int_equal(process_line(rs, 3, "web1", "postgres", "105", "postgresql.service",
                                  "could not write: No space left on device"),
                     0); /* cooldown per host and unit */
    /* root's own cron job (its process, in cron.service) */
    assert_int_equal(syslog_line(rs, 4, "web1", "cp", "cron.service",
                                 "cp: error writing '/backup/x': No space left on device"),
                     1);
    assert_int_equal(process_line(rs, 5, "db2", "postgres", "105", "postgresql.service",
                                  "could not write: No space left on device"),
                     1);
    assert_int_equal(process_line(rs, 6, "web1", "app", "61234", "app.service",
                                  "write: No space left on device"),
                     1); /* DynamicUser= */
    /* a local user: logger, his own cron job (in cron.service, with his uid), and 3000
     * different UNIT= values, which name no unit */
    assert_int_equal(process_line(rs, 7, "web1", "cp", "1000", "cron.service",
                                  "cp: error writing '/home/u/x': No space left on device"),
                     0);
    /* root services that log what a user or a remote client chose: never a full disk */
    assert_int_equal(syslog_line(rs, 7, "web1", "sudo", "session-7.scope",
                                 "alice : user NOT in sudoers ; TTY=pts/2 ; PWD=/home/alice ; "
                                 "USER=root ; COMMAND=/bin/true No space left on device"),
                     1); /* sudo's own rule: that refusal is real */
    assert_memory_equal(got.text[got.n - 1], "sudo-not-in-sudoers ", 20);
    assert_int_equal(syslog_line(rs, 7, "web1", "sshd", "ssh.service",
                                 "error: kex_exchange_identification: client sent invalid "
                                 "protocol identifier \"No space left on device\""),
                     0);
    assert_int_equal(syslog_line(rs, 7, "web1", "cron", "cron.service",
                                 "(alice) CMD (echo No space left on device)"),
                     0);
    for (i = 0; i < 3000; i++) {
        char m[] = "MESSAGE=No space left on device";
        snprintf(unit, sizeof(unit), "UNIT=fake-%d.service", i);
        assert_int_equal(feed_at(rs, 8, "_TRANSPORT=syslog", "_PID=7777", "_UID=1000",
                                 "_COMM=logger", "_HOSTNAME=web1", "SYSLOG_IDENTIFIER=postgres",
                                 "_SYSTEMD_UNIT=session-7.scope", unit, m, NULL),
                         0);
    }
    assert_int_equal(got.n, 5);
    qn_rules_free(rs);
}

static void test_load_dir_reads_conf_files_in_name_order(void **state)
{
    struct qn_rules_errors errs;
    struct qn_rules *rs = NULL;
    char dir[] = "/tmp/qn-rules-XXXXXX";
    char path[256];
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/20-b.conf", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("[rule b]\nregex = b\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/10-a.conf", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("[rule a]\nregex = a\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/30-c.conf.disabled", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("[rule c]\nregex = c\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/.hidden.conf", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("broken\n", f);
    fclose(f);

    memset(&errs, 0, sizeof(errs));
    assert_int_equal(qn_rules_new(&rs), QN_OK);
    assert_int_equal(qn_rules_load_dir(rs, dir, &errs), QN_OK);
    assert_int_equal(qn_rules_count(rs), 2);
    assert_string_equal(qn_rules_name(rs, 0), "a");
    assert_string_equal(qn_rules_name(rs, 1), "b");
    qn_rules_free(rs);

    assert_int_equal(qn_rules_new(&rs), QN_OK);
    assert_int_equal(qn_rules_load_dir(rs, "/nonexistent/qn-rules", &errs), QN_ENOTFOUND);
    qn_rules_free(rs);

    snprintf(path, sizeof(path), "rm -rf '%s'", dir);
    assert_int_equal(system(path), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_rule_parses),
        cmocka_unit_test(test_crlf_bom_blanks_and_case_insensitive_keys_are_accepted),
        cmocka_unit_test(test_every_error_is_reported_with_its_line),
        cmocka_unit_test(test_value_errors),
        cmocka_unit_test(test_line_level_errors),
        cmocka_unit_test(test_error_rule_name_is_sanitised),
        cmocka_unit_test(test_duplicate_rule_names_point_at_the_first),
        cmocka_unit_test(test_errors_beyond_the_cap_are_counted),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_same_field_is_or_different_fields_are_and),
        cmocka_unit_test(test_empty_match_value_matches_only_an_empty_field),
        cmocka_unit_test(test_priority_bounds),
        cmocka_unit_test(test_uid_ranges),
        cmocka_unit_test(test_unless_vetoes_an_entry_with_any_of_its_fields),
        cmocka_unit_test(test_a_nul_in_a_field_is_shown_and_hides_nothing),
        cmocka_unit_test(test_a_nul_in_the_message_of_an_alert_is_shown),
        cmocka_unit_test(test_rules_a_local_user_can_fire_are_named),
        cmocka_unit_test(test_exclude_vetoes_and_captures_come_from_the_regex),
        cmocka_unit_test(test_severity_key_travels_with_the_alert),
        cmocka_unit_test(test_expanded_subject_is_capped_between_characters),
        cmocka_unit_test(test_duplicate_group_names_take_the_group_that_matched),
        cmocka_unit_test(test_unit_is_systemd_unit_or_unit_from_the_service_manager),
        cmocka_unit_test(test_patterns_see_bytes_not_only_utf8),
        cmocka_unit_test(test_a_runaway_pattern_is_bounded_and_counted),
        cmocka_unit_test(test_prefilter_never_hides_a_match),
        cmocka_unit_test(test_prefilter_saves_pattern_runs_on_the_default_rules),
        cmocka_unit_test(test_first_bytes_screen_anchored_alternatives),
        cmocka_unit_test(test_fields_are_fetched_lazily_message_first),
        cmocka_unit_test(test_the_time_is_asked_for_only_when_a_rule_matched),
        cmocka_unit_test(test_offering_fields_gives_the_same_answers),
        cmocka_unit_test(test_threshold_fires_on_the_fifth_failure_only),
        cmocka_unit_test(test_threshold_counts_each_ip_separately),
        cmocka_unit_test(test_threshold_window_slides),
        cmocka_unit_test(test_cooldown_holds_back_and_reports_suppressed),
        cmocka_unit_test(test_cooldown_without_threshold_is_per_key),
        cmocka_unit_test(test_full_table_replaces_a_key_with_nothing_left_first),
        cmocka_unit_test(test_a_flood_of_sources_cannot_flush_a_count_and_is_itself_an_alert),
        cmocka_unit_test(test_a_table_of_keys_half_way_leaves_new_matches_uncounted),
        cmocka_unit_test(test_cooldown_tables_give_up_their_least_recent_key),
        cmocka_unit_test(test_long_keys_are_told_apart),
        cmocka_unit_test(test_a_failed_callback_stops_the_feed),
        cmocka_unit_test(test_state_round_trip_resumes_counting_exactly),
        cmocka_unit_test(test_state_keeps_the_overflow_and_bounds_loaded_times),
        cmocka_unit_test(test_state_of_changed_rules_is_dropped),
        cmocka_unit_test(test_expired_keys_are_not_saved_and_the_budget_is_kept),
        cmocka_unit_test(test_malformed_state_is_refused_and_leaves_nothing),
        cmocka_unit_test(test_reload_adopts_the_counts_of_unchanged_rules),
        cmocka_unit_test(test_filter_pushes_down_field_conditions),
        cmocka_unit_test(test_default_ssh_brute_force),
        cmocka_unit_test(test_default_ssh_invalid_user),
        cmocka_unit_test(test_default_sudo_rules),
        cmocka_unit_test(test_default_kernel_rules),
        cmocka_unit_test(test_default_systemd_rules),
        cmocka_unit_test(test_default_disk_full),
        cmocka_unit_test(test_load_dir_reads_conf_files_in_name_order),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
