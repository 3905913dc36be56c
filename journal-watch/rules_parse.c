/*
 * rules_parse — rules files into a compiled rule set: the set's lifetime
 * (qn_rules_new, qn_rules_free), the rules language (qn_rules_parse, a
 * pure function of its input so it can be fuzzed), a directory of files
 * (qn_rules_load_dir).  Contract and the language: rules.h and
 * qqnotify-rules(5); layout: rules_internal.h.
 *
 * Why PCRE2 in byte mode: see rules.h.  Why hand-written parsing: the
 * rules language is a few lines of INI with its own value syntaxes
 * (threshold, priority ranges, templates); no library in the dependency
 * set parses it, and the parser must be a pure function for fuzzing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "i18n.h"
#include "rules_internal.h"
#include "severity.h"
#include "text.h"

static const char *const fixed_fields[F_FIXED_COUNT] = {
    "MESSAGE", "PRIORITY",      "_HOSTNAME",         "UNIT",
    "_PID",    "_SYSTEMD_UNIT", "SYSLOG_IDENTIFIER", "_UID",
};

/* ------------------------------------------------------------------------------------ */
/* small helpers                                                                        */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static void trim(const char **s, size_t *n)
{
    while (*n > 0 && is_blank(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && is_blank((*s)[*n - 1]))
        (*n)--;
}

/* ------------------------------------------------------------------------------------ */
/* errors                                                                               */

static void add_error(struct qn_rules_errors *errs, const char *file, unsigned line,
                      const char *rule, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void add_error(struct qn_rules_errors *errs, const char *file, unsigned line,
                      const char *rule, const char *what, const char *fmt, ...)
{
    struct qn_rules_error *e;
    char detail[1024];
    va_list ap;

    if (errs == NULL)
        return;
    if (errs->n >= QN_RULES_ERRORS_MAX) {
        errs->dropped++;
        return;
    }
    e = &errs->e[errs->n++];
    memset(e, 0, sizeof(*e));
    /* A bad rule name, or a file name, may hold anything: the program prints them. */
    if (file != NULL)
        qn_text_sanitize_line(file, strlen(file), e->file, sizeof(e->file));
    e->line = line;
    if (rule != NULL)
        qn_text_sanitize_line(rule, strlen(rule), e->rule, sizeof(e->rule));
    e->what = what;
    detail[0] = '\0';
    if (fmt != NULL) {
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
    }
    qn_text_sanitize_line(detail, strlen(detail), e->detail, sizeof(e->detail));
}

/* ------------------------------------------------------------------------------------ */
/* rule lifetime                                                                        */

static struct rule *rule_free(struct rule *r)
{
    size_t i;

    if (r == NULL)
        return NULL;
    for (i = 0; i < r->n_matches; i++)
        free(r->matches[i].value);
    for (i = 0; i < r->n_unless; i++)
        free(r->unless[i].value);
    pcre2_code_free(r->re);
    pcre2_code_free(r->ex);
    free(r->subject);
    rules_table_free(r->table);
    free(r);
    return NULL;
}

enum qn_status qn_rules_new(struct qn_rules **ret_rules)
{
    struct qn_rules *rs;
    enum qn_status r = QN_ENOMEM;
    size_t i;

    rs = calloc(1, sizeof(*rs));
    if (rs == NULL)
        return QN_ENOMEM;
    for (i = 0; i < QN_RULES_FIELD_MAX; i++)
        rs->by_len[i] = -1;
    for (i = 0; i < F_FIXED_COUNT; i++) {
        if (rules_field_index(rs, fixed_fields[i], strlen(fixed_fields[i])) < 0)
            goto out;
    }
    /* The seed only spreads keys over buckets; any value is correct. */
    if (getrandom(&rs->seed, sizeof(rs->seed), GRND_NONBLOCK) != (ssize_t)sizeof(rs->seed))
        rs->seed = mix64((uint64_t)(uintptr_t)rs ^ (uint64_t)getpid());
    rs->mctx = pcre2_match_context_create(NULL);
    if (rs->mctx == NULL)
        goto out;
    pcre2_set_match_limit(rs->mctx, QN_RULES_MATCH_LIMIT);
    pcre2_set_depth_limit(rs->mctx, QN_RULES_DEPTH_LIMIT);
    /* JIT code runs on its own stack: 32 KiB grows to 512 KiB for deep patterns. */
    rs->jit_stack = pcre2_jit_stack_create(32 * 1024, 512 * 1024, NULL);
    if (rs->jit_stack != NULL)
        pcre2_jit_stack_assign(rs->mctx, NULL, rs->jit_stack);
    rs->md_pairs = 1;
    rs->md = pcre2_match_data_create(rs->md_pairs, NULL);
    rs->md_ex = pcre2_match_data_create(1, NULL);
    if (rs->md == NULL || rs->md_ex == NULL)
        goto out;
    rs->gen = 1;
    rs->stats.jit = true;
    *ret_rules = rs;
    rs = NULL;
    r = QN_OK;
out:
    qn_rules_free(rs);
    return r;
}

struct qn_rules *qn_rules_free(struct qn_rules *rs)
{
    size_t i;

    if (rs == NULL)
        return NULL;
    for (i = 0; i < rs->n_rules; i++)
        rule_free(rs->rules[i]);
    for (i = 0; i < rs->n_fields; i++)
        free(rs->fields[i].value);
    pcre2_match_data_free(rs->md);
    pcre2_match_data_free(rs->md_ex);
    pcre2_match_context_free(rs->mctx);
    pcre2_jit_stack_free(rs->jit_stack);
    free(rs);
    return NULL;
}

size_t qn_rules_count(const struct qn_rules *rs)
{
    return rs != NULL ? rs->n_rules : 0;
}

const char *qn_rules_name(const struct qn_rules *rs, size_t i)
{
    return rs != NULL && i < rs->n_rules ? rs->rules[i]->name : NULL;
}

/* ------------------------------------------------------------------------------------ */
/* value syntaxes                                                                       */

enum qn_status qn_rules_parse_duration(const char *s, long long *ret_seconds)
{
    long long v = 0, mult = 1;
    size_t i = 0;

    if (s == NULL || s[0] < '0' || s[0] > '9')
        return QN_EINVAL;
    while (s[i] >= '0' && s[i] <= '9') {
        v = v * 10 + (s[i] - '0');
        if (v > QN_RULES_DURATION_MAX)
            return QN_EINVAL;
        i++;
    }
    switch (s[i]) {
    case '\0':
        break;
    case 's':
        i++;
        break;
    case 'm':
        mult = 60;
        i++;
        break;
    case 'h':
        mult = 3600;
        i++;
        break;
    case 'd':
        mult = 86400;
        i++;
        break;
    default:
        return QN_EINVAL;
    }
    if (s[i] != '\0' || v * mult > QN_RULES_DURATION_MAX)
        return QN_EINVAL;
    *ret_seconds = v * mult;
    return QN_OK;
}

static int priority_value(const char *s, size_t n)
{
    static const char *const names[] = {"emerg",   "alert",  "crit", "err",
                                        "warning", "notice", "info", "debug"};
    size_t i;

    if (n == 1 && s[0] >= '0' && s[0] <= '7')
        return s[0] - '0';
    for (i = 0; i < 8; i++) {
        if (strlen(names[i]) == n && strncasecmp(names[i], s, n) == 0)
            return (int)i;
    }
    /* the spellings journalctl and syslog also accept */
    if (n == 5 && strncasecmp(s, "error", 5) == 0)
        return 3;
    if (n == 4 && strncasecmp(s, "warn", 4) == 0)
        return 4;
    return -1;
}

/* "warning" (0..4), "A..B", "..B", "A..". */
static bool parse_priority(const char *s, int *ret_min, int *ret_max)
{
    const char *dots = strstr(s, "..");
    int lo = 0, hi;

    if (dots == NULL) {
        hi = priority_value(s, strlen(s));
        if (hi < 0)
            return false;
    } else {
        if (dots > s) {
            lo = priority_value(s, (size_t)(dots - s));
            if (lo < 0)
                return false;
        }
        if (dots[2] == '\0') {
            hi = 7;
        } else {
            hi = priority_value(dots + 2, strlen(dots + 2));
            if (hi < 0)
                return false;
        }
        if (dots == s && dots[2] == '\0')
            return false;
    }
    if (lo > hi)
        return false;
    *ret_min = lo;
    *ret_max = hi;
    return true;
}

/* "N", "A..B", "..B", "A..": user ids, as priority ranges are written. */
static bool parse_uid_range(const char *s, unsigned long *ret_lo, unsigned long *ret_hi)
{
    const char *dots = strstr(s, "..");
    unsigned long lo = 0, hi = 4294967295UL;

    if (dots == NULL) {
        if (!uid_parse(s, strlen(s), &lo))
            return false;
        hi = lo;
    } else {
        if (dots == s && dots[2] == '\0')
            return false;
        if (dots > s && !uid_parse(s, (size_t)(dots - s), &lo))
            return false;
        if (dots[2] != '\0' && !uid_parse(dots + 2, strlen(dots + 2), &hi))
            return false;
    }
    if (lo > hi)
        return false;
    *ret_lo = lo;
    *ret_hi = hi;
    return true;
}

static bool valid_rule_name(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n >= QN_RULES_NAME_MAX)
        return false;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* A journal field name as journald accepts it from clients: [A-Z0-9_], not starting with a
 * digit; "__" names are addresses (cursor, timestamps), not data. */
static bool valid_field_name(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n >= QN_RULES_FIELD_MAX || (s[0] >= '0' && s[0] <= '9'))
        return false;
    if (n >= 2 && s[0] == '_' && s[1] == '_')
        return false;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

/* Names a template or "per" may use besides captures; captures may not take them. */
static bool reserved_name(const char *s)
{
    static const char *const names[] = {"rule",     "count",      "unit", "message",
                                        "priority", "identifier", "host", "suppressed",
                                        "time",     "subject",    "kind", "severity"};
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i]) == 0)
            return true;
    }
    return strncmp(s, "sample", 6) == 0;
}

/* ------------------------------------------------------------------------------------ */
/* the parser                                                                           */

enum rule_key {
    K_MATCH = 0,
    K_REGEX,
    K_EXCLUDE,
    K_PRIORITY,
    K_THRESHOLD,
    K_COOLDOWN,
    K_SUBJECT,
    K_SAMPLES,
    K_KEYS,
    K_UID,
    K_UNLESS,
    K_SEVERITY,
    K_COUNT,
};

static const char *const key_names[K_COUNT] = {
    "match",   "regex",   "exclude", "priority", "threshold", "cooldown",
    "subject", "samples", "keys",    "uid",      "unless",    "severity",
};

static const char keys_fix[] = "match regex exclude priority threshold cooldown subject samples "
                               "keys uid unless severity";

/* A rule being read: the raw values, checked together at the end of its section. */
struct draft {
    bool open;
    bool bad;
    unsigned line; /* of the section header */
    char name[QN_RULES_NAME_MAX];
    unsigned key_line[K_COUNT];
    struct rule *r;
    char *regex, *exclude, *threshold, *cooldown, *subject;
};

struct parser {
    struct qn_rules *rs;
    struct qn_rules_errors *errs;
    const char *file;
    unsigned line;
    bool failed;
    bool nomem;
    struct draft d;
};

static void perr(struct parser *p, unsigned line, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void perr(struct parser *p, unsigned line, const char *what, const char *fmt, ...)
{
    char detail[1024];
    va_list ap;

    detail[0] = '\0';
    if (fmt != NULL) {
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
    }
    add_error(p->errs, p->file, line, p->d.open ? p->d.name : "", what, "%s", detail);
    p->failed = true;
    if (p->d.open)
        p->d.bad = true;
}

static void draft_reset(struct draft *d)
{
    rule_free(d->r);
    free(d->regex);
    free(d->exclude);
    free(d->threshold);
    free(d->cooldown);
    free(d->subject);
    memset(d, 0, sizeof(*d));
}

static char *dup_n(const char *s, size_t n)
{
    char *c = malloc(n + 1);

    if (c != NULL) {
        memcpy(c, s, n);
        c[n] = '\0';
    }
    return c;
}

/* Compile PATTERN; NULL with an error recorded on failure. */
static pcre2_code *compile(struct parser *p, unsigned line, const char *pattern, bool *ret_jit)
{
    PCRE2_UCHAR msg[256];
    PCRE2_SIZE off = 0;
    pcre2_code *re;
    int code = 0;

    if (strlen(pattern) > QN_RULES_PATTERN_MAX) {
        perr(p, line, N_("the pattern is too long"), "%zu bytes, at most %d", strlen(pattern),
             QN_RULES_PATTERN_MAX);
        return NULL;
    }
    re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                       PCRE2_DUPNAMES | PCRE2_NEVER_BACKSLASH_C, &code, &off, NULL);
    if (re == NULL && code == PCRE2_ERROR_HEAP_FAILED) {
        /* out of memory is not a mistake in the rule */
        p->nomem = true;
        if (p->d.open)
            p->d.bad = true;
        return NULL;
    }
    if (re == NULL) {
        if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
            snprintf((char *)msg, sizeof(msg), "error %d", code);
        perr(p, line, N_("the regular expression does not compile"), "%s at offset %zu",
             (const char *)msg, (size_t)off);
        return NULL;
    }
    /* Without JIT (e.g. W^X policies) the interpreter gives the same answers, slower. */
    *ret_jit = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;
    return re;
}

/* Record the named groups of the rule's pattern as captures. */
static bool collect_captures(struct parser *p, struct rule *r)
{
    PCRE2_SPTR table;
    uint32_t count = 0, size = 0, i;

    if (pcre2_pattern_info(r->re, PCRE2_INFO_NAMECOUNT, &count) != 0 ||
        pcre2_pattern_info(r->re, PCRE2_INFO_NAMEENTRYSIZE, &size) != 0 ||
        pcre2_pattern_info(r->re, PCRE2_INFO_NAMETABLE, &table) != 0)
        return false;
    /* The name table is sorted by name, duplicates adjacent, each entry: group number
     * (2 bytes, big-endian) then the NUL-terminated name. */
    for (i = 0; i < count; i++) {
        PCRE2_SPTR e = table + (size_t)i * size;
        int group = (e[0] << 8) | e[1];
        const char *name = (const char *)(e + 2);
        struct capture *c = NULL;
        size_t k;

        for (k = 0; k < r->n_captures; k++) {
            if (strcmp(r->captures[k].name, name) == 0)
                c = &r->captures[k];
        }
        if (c == NULL) {
            size_t j, n = strlen(name);
            if (r->n_captures >= QN_RULES_CAPTURES_MAX) {
                perr(p, p->d.key_line[K_REGEX], N_("too many named groups in the pattern"),
                     "at most %d", QN_RULES_CAPTURES_MAX);
                return false;
            }
            if (n >= CAPTURE_NAME_MAX) {
                perr(p, p->d.key_line[K_REGEX], N_("a group name is too long"), "%s", name);
                return false;
            }
            for (j = 0; j < n; j++) {
                if (name[j] >= 'A' && name[j] <= 'Z') {
                    perr(p, p->d.key_line[K_REGEX],
                         N_("group names must be lower case (they become field names)"), "%s",
                         name);
                    return false;
                }
            }
            if (reserved_name(name)) {
                perr(p, p->d.key_line[K_REGEX], N_("this group name is reserved"),
                     "%s (reserved: rule count unit message priority identifier host "
                     "suppressed time subject kind severity sample*)",
                     name);
                return false;
            }
            c = &r->captures[r->n_captures++];
            snprintf(c->name, sizeof(c->name), "%s", name);
        }
        if (c->n_groups < GROUPS_PER_NAME_MAX)
            c->groups[c->n_groups++] = group;
    }
    /* Keep pattern order (by first group number) for alerts: stable insertion sort. */
    for (i = 1; i < r->n_captures; i++) {
        struct capture tmp = r->captures[i];
        size_t k = i;
        while (k > 0 && r->captures[k - 1].groups[0] > tmp.groups[0]) {
            r->captures[k] = r->captures[k - 1];
            k--;
        }
        r->captures[k] = tmp;
    }
    return true;
}

/* "per NAME[, NAME...]" after a threshold or cooldown: S points after "per". */
static bool parse_per(struct parser *p, struct rule *r, const char *per, unsigned line)
{
    if (r->n_per > 0) {
        perr(p, line, N_("\"per\" may be given once, on threshold or on cooldown"), NULL);
        return false;
    }
    while (*per != '\0') {
        size_t len;
        int idx;

        while (is_blank(*per) || *per == ',')
            per++;
        if (*per == '\0')
            break;
        len = strcspn(per, " \t,");
        if (len == 4 && strncmp(per, "host", 4) == 0)
            idx = PER_HOST;
        else if (len == 4 && strncmp(per, "unit", 4) == 0)
            idx = PER_UNIT;
        else
            idx = capture_index(r, per, len);
        if (idx == -1) {
            perr(p, line, N_("\"per\" names neither a named group of the regex nor host or unit"),
                 "%.*s", (int)(len > 64 ? 64 : len), per);
            return false;
        }
        if (r->n_per >= QN_RULES_PER_MAX) {
            perr(p, line, N_("too many names after \"per\""), "at most %d", QN_RULES_PER_MAX);
            return false;
        }
        r->per[r->n_per++] = idx;
        per += len;
    }
    if (r->n_per == 0) {
        perr(p, line, N_("\"per\" needs at least one name"), NULL);
        return false;
    }
    return true;
}

/* Split "DURATION [per NAMES]" at S: the duration token into UNIT (UNITSZ bytes) and a
 * pointer to what follows "per" (or NULL).  False when the shape is wrong. */
static bool split_duration_per(const char *s, char *unit, size_t unitsz, const char **ret_per)
{
    size_t ulen;

    while (is_blank(*s))
        s++;
    ulen = strcspn(s, " \t");
    if (ulen == 0 || ulen >= unitsz)
        return false;
    memcpy(unit, s, ulen);
    unit[ulen] = '\0';
    s += ulen;
    while (is_blank(*s))
        s++;
    *ret_per = NULL;
    if (*s == '\0')
        return true;
    if (strncmp(s, "per", 3) != 0 || !is_blank(s[3]))
        return false;
    *ret_per = s + 3;
    return true;
}

/* "N in DURATION [per NAME[, NAME...]]" */
static bool parse_threshold(struct parser *p, struct rule *r, const char *s, unsigned line)
{
    char *end = NULL, unit[32];
    const char *q, *per = NULL;
    long long window = 0;
    unsigned long n;

    errno = 0;
    if (s[0] < '0' || s[0] > '9')
        goto bad;
    n = strtoul(s, &end, 10);
    if (errno != 0 || n < 1 || n > QN_RULES_THRESHOLD_MAX) {
        perr(p, line, N_("the threshold count is not between 1 and 1000"), "%s", s);
        return false;
    }
    q = end;
    while (is_blank(*q))
        q++;
    if (strncmp(q, "in", 2) != 0 || !is_blank(q[2]))
        goto bad;
    if (!split_duration_per(q + 2, unit, sizeof(unit), &per))
        goto bad;
    if (qn_rules_parse_duration(unit, &window) != QN_OK || window < 1) {
        perr(p, line, N_("the threshold window is not a duration between 1s and 7d"), "%s", unit);
        return false;
    }
    r->threshold = (unsigned)n;
    r->window_usec = window * USEC_PER_SEC;
    return per == NULL || parse_per(p, r, per, line);
bad:
    perr(p, line, N_("the threshold is not \"N in DURATION [per NAME]\""),
         "%s; write e.g. \"5 in 10m\" or \"5 in 10m per host, ip\"", s);
    return false;
}

/* "DURATION [per NAME[, NAME...]]" */
static bool parse_cooldown(struct parser *p, struct rule *r, const char *s, unsigned line)
{
    const char *per = NULL;
    long long secs = 0;
    char unit[32];

    if (!split_duration_per(s, unit, sizeof(unit), &per) ||
        qn_rules_parse_duration(unit, &secs) != QN_OK) {
        perr(p, line,
             N_("the cooldown is not a duration between 0 and 7d (seconds or a number followed "
                "by s, m, h or d), optionally followed by \"per NAME\""),
             "%s", s);
        return false;
    }
    r->cooldown_usec = secs * USEC_PER_SEC;
    return per == NULL || parse_per(p, r, per, line);
}

/* Check a subject template: balanced braces, known names. */
static bool check_template(struct parser *p, const struct rule *r, const char *t, unsigned line)
{
    size_t i = 0;

    while (t[i] != '\0') {
        if (t[i] == '{' && t[i + 1] == '{') {
            i += 2;
        } else if (t[i] == '}' && t[i + 1] == '}') {
            i += 2;
        } else if (t[i] == '{') {
            size_t n = strcspn(t + i + 1, "{}");
            const char *name = t + i + 1;
            if (name[n] != '}') {
                perr(p, line, N_("a '{' in the subject is not closed (write {{ for a brace)"), "%s",
                     t);
                return false;
            }
            if (!((n == 4 && (strncmp(name, "rule", 4) == 0 || strncmp(name, "host", 4) == 0 ||
                              strncmp(name, "unit", 4) == 0)) ||
                  (n == 5 && strncmp(name, "count", 5) == 0) || capture_index(r, name, n) >= 0)) {
                perr(p, line,
                     N_("the subject uses an unknown name (use rule, host, unit, count or a "
                        "named group of the regex)"),
                     "{%.*s}", (int)n, name);
                return false;
            }
            i += n + 2;
        } else if (t[i] == '}') {
            perr(p, line, N_("a '}' in the subject has no '{' (write }} for a brace)"), "%s", t);
            return false;
        } else {
            i++;
        }
    }
    return true;
}

static int match_cmp_field(const struct rule_match *a, const struct rule_match *b)
{
    return a->field - b->field;
}

static uint64_t rule_fingerprint(const struct rule *r)
{
    char buf[512];
    int n;
    size_t i;
    uint64_t h;

    n = snprintf(buf, sizeof(buf), "%u %lld %lld %u %u", r->threshold, r->window_usec,
                 r->cooldown_usec, r->samples, r->keys);
    h = fnv1a(FNV_BASIS, buf, n > 0 ? (size_t)n : 0);
    for (i = 0; i < r->n_per; i++) {
        const char *name = r->per[i] == PER_HOST   ? "host"
                           : r->per[i] == PER_UNIT ? "unit"
                                                   : r->captures[r->per[i]].name;
        h = fnv1a(h, " ", 1);
        h = fnv1a(h, name, strlen(name));
    }
    return h;
}

/* Check the draft as a whole and move it into the set. */
static void finish_rule(struct parser *p)
{
    struct draft *d = &p->d;
    struct rule *r = d->r;
    size_t i, bytes, pairs;

    if (!d->open)
        return;
    if (d->bad)
        goto out;
    if (d->regex != NULL) {
        r->re = compile(p, d->key_line[K_REGEX], d->regex, &r->re_jit);
        if (r->re == NULL || !collect_captures(p, r))
            goto out;
        rules_screen_prepare(r, d->regex);
    }
    if (d->exclude != NULL) {
        r->ex = compile(p, d->key_line[K_EXCLUDE], d->exclude, &r->ex_jit);
        if (r->ex == NULL)
            goto out;
    }
    if (r->re == NULL && r->n_matches == 0 && !r->has_priority && r->n_uids == 0) {
        perr(p, d->line, N_("the rule has no condition and would match every entry"),
             "add regex, match, priority or uid");
        goto out;
    }
    r->threshold = 1;
    if (d->threshold != NULL && !parse_threshold(p, r, d->threshold, d->key_line[K_THRESHOLD]))
        goto out;
    if (d->cooldown != NULL && !parse_cooldown(p, r, d->cooldown, d->key_line[K_COOLDOWN]))
        goto out;
    if (d->subject != NULL) {
        if (!check_template(p, r, d->subject, d->key_line[K_SUBJECT]))
            goto out;
        r->subject = d->subject;
        d->subject = NULL;
    }
    if (d->key_line[K_SAMPLES] == 0)
        r->samples = QN_RULES_SAMPLES_DEFAULT;
    if (r->threshold <= 1)
        r->samples = 0; /* the alert quotes its one entry as the message */
    if (d->key_line[K_KEYS] == 0)
        r->keys = QN_RULES_KEYS_DEFAULT;
    if (r->n_per == 0)
        r->keys = 1;
    /* group the match lines by field (stable), for journalctl's OR-within-field */
    for (i = 1; i < r->n_matches; i++) {
        struct rule_match tmp = r->matches[i];
        size_t k = i;
        while (k > 0 && match_cmp_field(&r->matches[k - 1], &tmp) > 0) {
            r->matches[k] = r->matches[k - 1];
            k--;
        }
        r->matches[k] = tmp;
    }
    for (i = 0; i < p->rs->n_rules; i++) {
        if (strcmp(p->rs->rules[i]->name, r->name) == 0) {
            perr(p, d->line, N_("a rule of this name already exists"), "first defined at %s:%u",
                 p->rs->rules[i]->file, p->rs->rules[i]->line);
            goto out;
        }
    }
    if (p->rs->n_rules >= QN_RULES_MAX) {
        perr(p, d->line, N_("too many rules"), "at most %d", QN_RULES_MAX);
        goto out;
    }
    if (r->threshold > 1 || r->cooldown_usec > 0) {
        bytes = rules_table_bytes(r->keys, r->threshold, r->samples, NULL);
        if (bytes > QN_RULES_RULE_STATE_MAX) {
            perr(p, d->key_line[K_KEYS] ? d->key_line[K_KEYS] : d->key_line[K_THRESHOLD],
                 N_("the rule's threshold state would be too large: lower keys, the threshold "
                    "count or samples"),
                 "%zu bytes, at most %d", bytes, QN_RULES_RULE_STATE_MAX);
            goto out;
        }
        if (p->rs->state_bytes + bytes > QN_RULES_SET_STATE_MAX) {
            perr(p, d->line, N_("the rules' threshold state together would be too large"),
                 "at most %d bytes", QN_RULES_SET_STATE_MAX);
            goto out;
        }
        r->table = rules_table_new(r->keys, r->threshold, r->samples);
        if (r->table == NULL) {
            p->nomem = true;
            goto out;
        }
        p->rs->state_bytes += r->table->bytes;
    }
    /* one match data block large enough for every pattern of the set */
    pairs = 1;
    if (r->re != NULL) {
        uint32_t cc = 0;
        pcre2_pattern_info(r->re, PCRE2_INFO_CAPTURECOUNT, &cc);
        pairs = (size_t)cc + 1;
    }
    if (pairs > p->rs->md_pairs) {
        pcre2_match_data *md = pcre2_match_data_create((uint32_t)pairs, NULL);
        if (md == NULL) {
            p->nomem = true;
            goto out;
        }
        pcre2_match_data_free(p->rs->md);
        p->rs->md = md;
        p->rs->md_pairs = (uint32_t)pairs;
    }
    if ((r->re != NULL && !r->re_jit) || (r->ex != NULL && !r->ex_jit))
        p->rs->stats.jit = false;
    r->fingerprint = rule_fingerprint(r);
    p->rs->rules[p->rs->n_rules++] = r;
    d->r = NULL;
out:
    draft_reset(d);
}

static void open_rule(struct parser *p, const char *s, size_t n)
{
    finish_rule(p);
    p->d.open = true;
    p->d.line = p->line;
    snprintf(p->d.name, sizeof(p->d.name), "%.*s", (int)(n < QN_RULES_NAME_MAX ? n : 0), s);
    if (!valid_rule_name(s, n)) {
        perr(p, p->line,
             N_("a rule name may hold only letters, digits, '_', '.' and '-' (at most "
                "63)"),
             "%.*s", (int)(n > 200 ? 200 : n), s);
        return;
    }
    p->d.r = calloc(1, sizeof(struct rule));
    if (p->d.r == NULL) {
        p->nomem = true;
        p->d.bad = true;
        return;
    }
    memcpy(p->d.r->name, s, n);
    p->d.r->name[n] = '\0';
    snprintf(p->d.r->file, sizeof(p->d.r->file), "%s", p->file);
    p->d.r->line = p->line;
}

static void set_key(struct parser *p, const char *k, size_t kn, const char *v, size_t vn)
{
    struct draft *d = &p->d;
    struct rule *r = d->r;
    char *value = NULL;
    int key = -1, i;

    for (i = 0; i < K_COUNT; i++) {
        if (strlen(key_names[i]) == kn && strncasecmp(key_names[i], k, kn) == 0)
            key = i;
    }
    if (key < 0) {
        perr(p, p->line, N_("unknown key"), "%.*s; keys are: %s", (int)(kn > 64 ? 64 : kn), k,
             keys_fix);
        return;
    }
    if (d->bad || r == NULL)
        return; /* the header was already reported */
    if (key != K_MATCH && key != K_UID && key != K_UNLESS && d->key_line[key] != 0) {
        perr(p, p->line, N_("key set twice in one rule"), "%s (first on line %u)", key_names[key],
             d->key_line[key]);
        return;
    }
    d->key_line[key] = p->line;
    if (vn == 0 && key != K_SUBJECT) {
        perr(p, p->line, N_("the value is empty"), "%s", key_names[key]);
        return;
    }
    value = dup_n(v, vn);
    if (value == NULL) {
        p->nomem = true;
        d->bad = true;
        return;
    }
    switch (key) {
    case K_MATCH:
    case K_UNLESS: {
        const char *eq = memchr(value, '=', vn);
        struct rule_match *list = key == K_MATCH ? r->matches : r->unless;
        size_t *n = key == K_MATCH ? &r->n_matches : &r->n_unless;
        size_t fn;
        int f;

        if (eq == NULL) {
            perr(p, p->line,
                 key == K_MATCH ? N_("match is not FIELD=VALUE") : N_("unless is not FIELD=VALUE"),
                 "%s", value);
            break;
        }
        fn = (size_t)(eq - value);
        if (!valid_field_name(value, fn)) {
            perr(p, p->line,
                 N_("not a journal field name (upper case letters, digits and '_', e.g. "
                    "SYSLOG_IDENTIFIER or _SYSTEMD_UNIT)"),
                 "%.*s", (int)(fn > 64 ? 64 : fn), value);
            break;
        }
        if (vn - fn - 1 >= QN_RULES_VALUE_MAX) {
            perr(p, p->line, N_("the match value is too long"), "at most %d bytes",
                 QN_RULES_VALUE_MAX - 1);
            break;
        }
        if (*n >= QN_RULES_MATCHES_MAX) {
            perr(p, p->line,
                 key == K_MATCH ? N_("too many match lines in one rule")
                                : N_("too many unless lines in one rule"),
                 "at most %d", QN_RULES_MATCHES_MAX);
            break;
        }
        f = rules_field_index(p->rs, value, fn);
        if (f == -2) {
            p->nomem = true;
            d->bad = true;
            break;
        }
        if (f < 0) {
            perr(p, p->line, N_("the rules refer to too many different fields"), "at most %d",
                 FIELDS_MAX);
            break;
        }
        list[*n].field = f;
        list[*n].len = vn - fn - 1;
        list[*n].value = dup_n(eq + 1, vn - fn - 1);
        if (list[*n].value == NULL) {
            p->nomem = true;
            d->bad = true;
            break;
        }
        (*n)++;
        break;
    }
    case K_REGEX:
        d->regex = value;
        value = NULL;
        break;
    case K_EXCLUDE:
        d->exclude = value;
        value = NULL;
        break;
    case K_PRIORITY:
        if (!parse_priority(value, &r->prio_min, &r->prio_max)) {
            perr(p, p->line,
                 N_("the priority is not a level or range (emerg alert crit err warning notice "
                    "info debug, 0-7; e.g. \"warning\" or \"..err\" or \"crit..warning\")"),
                 "%s", value);
            break;
        }
        r->has_priority = true;
        break;
    case K_UID:
        if (r->n_uids >= QN_RULES_UIDS_MAX) {
            perr(p, p->line, N_("too many uid lines in one rule"), "at most %d", QN_RULES_UIDS_MAX);
            break;
        }
        if (!parse_uid_range(value, &r->uids[r->n_uids].lo, &r->uids[r->n_uids].hi)) {
            perr(p, p->line,
                 N_("uid is not a user id or range (e.g. \"0\", \"..999\" or "
                    "\"61184..65519\")"),
                 "%s", value);
            break;
        }
        r->n_uids++;
        break;
    case K_THRESHOLD:
        d->threshold = value;
        value = NULL;
        break;
    case K_COOLDOWN:
        d->cooldown = value;
        value = NULL;
        break;
    case K_SUBJECT:
        if (vn >= QN_RULES_SUBJECT_MAX) {
            perr(p, p->line, N_("the subject is too long"), "at most %d bytes",
                 QN_RULES_SUBJECT_MAX - 1);
            break;
        }
        d->subject = value;
        value = NULL;
        break;
    case K_SAMPLES:
    case K_KEYS: {
        unsigned long max = key == K_SAMPLES ? QN_RULES_SAMPLES_MAX : QN_RULES_KEYS_MAX;
        unsigned long min = key == K_SAMPLES ? 0 : 1;
        unsigned long n;
        char *end = NULL;

        errno = 0;
        n = strtoul(value, &end, 10);
        if (value[0] < '0' || value[0] > '9' || errno != 0 || *end != '\0' || n < min || n > max) {
            perr(p, p->line,
                 key == K_SAMPLES ? N_("samples is not a number from 0 to 5")
                                  : N_("keys is not a number from 1 to 65536"),
                 "%s", value);
            break;
        }
        if (key == K_SAMPLES)
            r->samples = (unsigned)n;
        else
            r->keys = (unsigned)n;
        break;
    }
    case K_SEVERITY: {
        enum qn_severity sev;

        if (!qn_severity_parse(value, &sev)) {
            perr(p, p->line, N_("severity is not critical, warning or info"), "%s", value);
            break;
        }
        r->severity = qn_severity_name(sev);
        break;
    }
    default:
        break;
    }
    free(value);
}

static void parse_line(struct parser *p, const char *s, size_t n)
{
    const char *eq;

    trim(&s, &n);
    if (n == 0 || s[0] == '#' || s[0] == ';')
        return;
    if (s[0] == '[') {
        const char *name;
        size_t nn;

        if (s[n - 1] != ']') {
            perr(p, p->line, N_("a section header must end with ']'"), "%.*s",
                 (int)(n > 100 ? 100 : n), s);
            return;
        }
        name = s + 1;
        nn = n - 2;
        trim(&name, &nn);
        if (nn < 5 || strncasecmp(name, "rule", 4) != 0 || !is_blank(name[4])) {
            finish_rule(p);
            perr(p, p->line, N_("a section must be [rule NAME]"), "%.*s", (int)(n > 100 ? 100 : n),
                 s);
            return;
        }
        name += 4;
        nn -= 4;
        trim(&name, &nn);
        open_rule(p, name, nn);
        return;
    }
    eq = memchr(s, '=', n);
    if (eq == NULL) {
        perr(p, p->line, N_("expected \"key = value\""), "%.*s", (int)(n > 100 ? 100 : n), s);
        return;
    }
    if (!p->d.open) {
        perr(p, p->line, N_("a key outside a [rule NAME] section"), "%.*s",
             (int)(n > 100 ? 100 : n), s);
        return;
    }
    {
        const char *k = s, *v = eq + 1;
        size_t kn = (size_t)(eq - s), vn = n - kn - 1;
        trim(&k, &kn);
        trim(&v, &vn);
        set_key(p, k, kn, v, vn);
    }
}

enum qn_status qn_rules_parse(struct qn_rules *rs, const char *text, size_t len, const char *name,
                              struct qn_rules_errors *errs)
{
    struct parser p;
    size_t pos = 0;

    if (rs == NULL || (text == NULL && len > 0))
        return QN_EINVAL;
    memset(&p, 0, sizeof(p));
    p.rs = rs;
    p.errs = errs;
    p.file = name != NULL ? name : "";
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        pos = 3;
    while (pos < len && !p.nomem) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl != NULL ? (size_t)(nl - line) : len - pos;

        pos += n + (nl != NULL ? 1 : 0);
        p.line++;
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n > QN_RULES_LINE_MAX) {
            perr(&p, p.line, N_("the line is too long"), "%zu bytes, at most %d", n,
                 QN_RULES_LINE_MAX);
            continue;
        }
        if (memchr(line, '\0', n) != NULL) {
            perr(&p, p.line, N_("the line holds a NUL byte"), NULL);
            continue;
        }
        if (!qn_text_utf8_valid(line, n)) {
            perr(&p, p.line, N_("the line is not valid UTF-8"), NULL);
            continue;
        }
        parse_line(&p, line, n);
    }
    if (!p.nomem)
        finish_rule(&p);
    draft_reset(&p.d);
    if (p.nomem)
        return QN_ENOMEM;
    return p.failed ? QN_ECONFIG : QN_OK;
}

/* ------------------------------------------------------------------------------------ */
/* loading a directory                                                                  */

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool conf_name(const char *n)
{
    size_t len = strlen(n);

    return n[0] != '.' && len > 5 && strcmp(n + len - 5, ".conf") == 0;
}

/* Read FD (a regular file of at most QN_RULES_FILE_MAX bytes) into *RET (malloc'd). */
static enum qn_status read_file(int fd, char **ret, size_t *ret_len)
{
    struct stat st;
    char *buf = NULL;
    size_t len = 0;
    enum qn_status r = QN_EIO;

    if (fstat(fd, &st) != 0)
        goto out;
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        goto out;
    }
    if (st.st_size > QN_RULES_FILE_MAX) {
        r = QN_ETOOBIG;
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        r = QN_ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, (size_t)st.st_size + 1 - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > (size_t)st.st_size) { /* grew while we read it */
            r = QN_ETOOBIG;
            goto out;
        }
    }
    *ret = buf;
    *ret_len = len;
    buf = NULL;
    r = QN_OK;
out:
    free(buf);
    return r;
}

enum qn_status qn_rules_load_dir(struct qn_rules *rs, const char *dir, struct qn_rules_errors *errs)
{
    char *names[QN_RULES_FILES_MAX];
    size_t n_names = 0, i;
    enum qn_status r = QN_OK, fr;
    struct dirent *de;
    DIR *d = NULL;
    int dfd = -1;

    if (rs == NULL || dir == NULL)
        return QN_EINVAL;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        int e = errno;
        if (e == ENOENT)
            return QN_ENOTFOUND;
        add_error(errs, dir, 0, NULL, N_("cannot open the rules directory"), "%s", strerror(e));
        if (errs != NULL && errs->n > 0)
            errs->e[errs->n - 1].sys_errno = e;
        return QN_EIO;
    }
    d = fdopendir(dfd);
    if (d == NULL) {
        close(dfd);
        return QN_EIO;
    }
    for (;;) {
        errno = 0;
        de = readdir(d);
        if (de == NULL) {
            if (errno != 0)
                r = QN_EIO;
            break;
        }
        if (!conf_name(de->d_name))
            continue;
        if (n_names >= QN_RULES_FILES_MAX) {
            add_error(errs, dir, 0, NULL, N_("too many rules files"), "at most %d",
                      QN_RULES_FILES_MAX);
            r = QN_ETOOBIG;
            break;
        }
        names[n_names] = strdup(de->d_name);
        if (names[n_names] == NULL) {
            r = QN_ENOMEM;
            break;
        }
        n_names++;
    }
    if (r != QN_OK)
        goto out;
    qsort(names, n_names, sizeof(names[0]), name_cmp);
    for (i = 0; i < n_names; i++) {
        char path[4096 + 256];
        char *text = NULL;
        size_t len = 0;
        int fd;

        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        fd = openat(dirfd(d), names[i], O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
            int e = errno;
            add_error(errs, path, 0, NULL, N_("cannot read the rules file"), "%s", strerror(e));
            if (errs != NULL && errs->n > 0)
                errs->e[errs->n - 1].sys_errno = e;
            r = QN_EIO;
            continue;
        }
        fr = read_file(fd, &text, &len);
        if (fr != QN_OK) {
            int e = errno;
            close(fd);
            if (fr == QN_ENOMEM) {
                r = QN_ENOMEM;
                goto out;
            }
            add_error(errs, path, 0, NULL,
                      fr == QN_ETOOBIG ? N_("the rules file is too large (at most 1 MiB)")
                                       : N_("cannot read the rules file"),
                      "%s", fr == QN_ETOOBIG ? "" : strerror(e));
            if (fr == QN_EIO && errs != NULL && errs->n > 0)
                errs->e[errs->n - 1].sys_errno = e;
            if (r == QN_OK || r == QN_ECONFIG)
                r = fr;
            continue;
        }
        close(fd);
        fr = qn_rules_parse(rs, text, len, path, errs);
        free(text);
        if (fr == QN_ENOMEM) {
            r = fr;
            goto out;
        }
        if (fr != QN_OK && r == QN_OK)
            r = fr;
    }
out:
    for (i = 0; i < n_names; i++)
        free(names[i]);
    closedir(d);
    return r;
}
