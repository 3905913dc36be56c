/*
 * rules_match — one journal entry against every rule of a set
 * (qn_rules_feed and the two ways to give an entry), the alerts it fires,
 * and the journal-level filter equivalent to the set (qn_rules_filter).
 * Contract: rules.h ("Matching"); layout: rules_internal.h.
 *
 * The hot path is qn_rules_feed(): for most entries every rule is
 * rejected by a screen (a string every match must contain, or the bytes a
 * match can start with) without calling PCRE2, and every field is fetched
 * at most once per entry.  The screens are found here too, from the
 * pattern, when the parser builds a rule (rules_screen_prepare), so that
 * what a screen means and how it is tested stay side by side.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules_internal.h"

/* Cut N bytes at S to at most MAX without splitting a UTF-8 sequence (when S is UTF-8). */
static size_t cut_utf8(const char *s, size_t n, size_t max)
{
    size_t k;

    if (n <= max)
        return n;
    k = max;
    while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80 && max - k < 4)
        k--;
    return k; /* 0 when even the first character does not fit */
}

/* ------------------------------------------------------------------------------------ */
/* fields                                                                               */

int rules_field_index(struct qn_rules *rs, const char *name, size_t len)
{
    struct field *f;
    size_t i;

    for (i = 0; i < rs->n_fields; i++) {
        if (rs->fields[i].name_len == len && memcmp(rs->fields[i].name, name, len) == 0)
            return (int)i;
    }
    if (rs->n_fields >= FIELDS_MAX || len >= QN_RULES_FIELD_MAX)
        return -1;
    f = &rs->fields[rs->n_fields];
    memset(f, 0, sizeof(*f));
    memcpy(f->name, name, len);
    f->name[len] = '\0';
    f->name_len = len;
    f->cap = rs->n_fields == F_MESSAGE ? QN_RULES_MESSAGE_MAX : QN_RULES_FIELD_VALUE_MAX;
    /* zeroed: PCRE2 JIT may read (and ignore) bytes past the subject within the buffer */
    f->value = calloc(1, f->cap + 1);
    if (f->value == NULL)
        return -2;
    f->value[0] = '\0';
    rs->next_same_len[rs->n_fields] = rs->by_len[len];
    rs->by_len[len] = (int16_t)rs->n_fields;
    return (int)rs->n_fields++;
}

static const struct field *fetch_new(struct qn_rules *rs, const struct qn_rules_entry *entry,
                                     struct field *f);

/* The cached value of field I for the current entry, fetched on first use.  NULL: absent.
 * Inline: every rule asks for MESSAGE on every entry, and it is cached after the first. */
static inline const struct field *fetch(struct qn_rules *rs, const struct qn_rules_entry *entry,
                                        int i)
{
    struct field *f = &rs->fields[i];

    if (f->gen == rs->gen)
        return f->present ? f : NULL;
    return fetch_new(rs, entry, f);
}

static const struct field *fetch_new(struct qn_rules *rs, const struct qn_rules_entry *entry,
                                     struct field *f)
{
    const void *v = NULL;
    size_t n = 0;

    f->gen = rs->gen;
    f->present = false;
    if (entry->get(entry->ctx, f->name, &v, &n) <= 0 || v == NULL)
        return NULL;
    f->full_len = n;
    f->len = n < f->cap ? n : f->cap;
    memcpy(f->value, v, f->len);
    f->value[f->len] = '\0';
    f->present = true;
    return f;
}

/*
 * The unit an entry is about: _SYSTEMD_UNIT (journald's, from the sender's cgroup), except
 * in entries of the service manager (_PID=1), whose UNIT names the unit it acted on.  UNIT
 * from any other process is whatever that process wrote (rules.h "Trust").
 */
static const struct field *fetch_unit_field(struct qn_rules *rs, const struct qn_rules_entry *entry)
{
    const struct field *pid = fetch(rs, entry, F_PID), *f;

    if (pid != NULL && pid->full_len == 1 && pid->value[0] == '1') {
        f = fetch(rs, entry, F_UNIT);
        if (f != NULL && f->len > 0)
            return f;
    }
    return fetch(rs, entry, F_SYSTEMD_UNIT);
}

size_t rules_nul_escape(const char *s, size_t n, char *out, size_t cap)
{
    size_t i, len = 0, back = 0;

    for (i = 0; i < n && cap > 0; i++) {
        if (s[i] == '\0') {
            if (len + 2 >= cap)
                break;
            out[len++] = '\\';
            out[len++] = '0';
            continue;
        }
        if (len + 1 >= cap)
            break;
        out[len++] = s[i];
    }
    /* Cut inside a character: drop its first bytes too (they were copied one for one). */
    while (i < n && i > 0 && len > 0 && back++ < 3 && ((unsigned char)s[i] & 0xc0) == 0x80) {
        i--;
        len--;
    }
    if (cap > 0)
        out[len] = '\0';
    return len;
}

/* The value of F for an alert: F's own copy, or (when it holds a NUL) an escaped copy in
 * BUF (CAP bytes).  "" when F is NULL. */
static const char *alert_value(const struct field *f, char *buf, size_t cap)
{
    if (f == NULL)
        return "";
    if (memchr(f->value, '\0', f->len) == NULL)
        return f->value;
    rules_nul_escape(f->value, f->len, buf, cap);
    return buf;
}

static const char *fetch_unit(struct qn_rules *rs, const struct qn_rules_entry *entry)
{
    return alert_value(fetch_unit_field(rs, entry), rs->unit, sizeof(rs->unit));
}

/* ------------------------------------------------------------------------------------ */
/* screens                                                                              */

/*
 * The prefilter.  Calling the PCRE2 JIT costs a few hundred instructions
 * even when the pattern fails at once, and with ten rules that is more than
 * reading the entry: most entries are rejected before the call by a string
 * every match must contain.  PCRE2's own "required code unit" is one byte,
 * so the string is found here: the longest run of plain characters at the
 * top level of the pattern (outside groups, classes and lookarounds, with
 * no top-level alternation), leaving out characters a quantifier makes
 * optional.  Only plainly understood syntax is analysed: inline options,
 * \Q..\E, verbs, escapes that take arguments, a '{' that is not a
 * quantifier, non-ASCII bytes and anything unexpected give no literal,
 * which only costs speed, never a match.  A run right after a leading '^'
 * must start the subject.
 */
struct literal_scan {
    char run[QN_RULES_LITERAL_MAX];
    size_t len;
    bool anchored; /* the current run started right after the leading '^' */
    char best[QN_RULES_LITERAL_MAX];
    size_t best_len;
    bool best_anchored;
};

/* An anchored run of 4 or more bytes beats any other: a prefix compare, not a search. */
static size_t run_score(size_t len, bool anchored)
{
    return anchored && len >= 4 ? len + QN_RULES_LITERAL_MAX : len;
}

static void run_end(struct literal_scan *ls)
{
    if (ls->len > 0 &&
        run_score(ls->len, ls->anchored) > run_score(ls->best_len, ls->best_anchored)) {
        memcpy(ls->best, ls->run, ls->len);
        ls->best_len = ls->len;
        ls->best_anchored = ls->anchored;
    }
    ls->len = 0;
    ls->anchored = false;
}

static void run_add(struct literal_scan *ls, char c)
{
    if (ls->len < sizeof(ls->run))
        ls->run[ls->len++] = c;
}

/* Length of a valid {n}, {n,} or {n,m} quantifier at P, or 0. */
static size_t brace_quantifier(const char *p)
{
    size_t i = 1, digits = 0;

    while (p[i] >= '0' && p[i] <= '9') {
        i++;
        digits++;
    }
    if (digits == 0)
        return 0;
    if (p[i] == ',') {
        i++;
        while (p[i] >= '0' && p[i] <= '9')
            i++;
    }
    return p[i] == '}' ? i + 1 : 0;
}

/* Skip a quantifier at P (with its lazy '?' or possessive '+'); returns its length, 0 when
 * there is none, (size_t)-1 for a '{' that is not one. */
static size_t skip_quantifier(const char *p, bool *ret_optional)
{
    size_t n;

    *ret_optional = false;
    if (*p == '*' || *p == '?') {
        *ret_optional = true;
        n = 1;
    } else if (*p == '+') {
        n = 1;
    } else if (*p == '{') {
        n = brace_quantifier(p);
        if (n == 0)
            return (size_t)-1;
        *ret_optional = p[1] == '0';
    } else {
        return 0;
    }
    if (p[n] == '?' || p[n] == '+')
        n++;
    return n;
}

/* Skip a character class starting at P ('['); returns its length, or 0 when unterminated. */
static size_t skip_class(const char *p)
{
    size_t i = 1;

    if (p[i] == '^')
        i++;
    if (p[i] == ']')
        i++;
    while (p[i] != '\0') {
        if (p[i] == '\\' && p[i + 1] != '\0') {
            i += 2;
        } else if (p[i] == '[' && p[i + 1] == ':') {
            const char *end = strstr(p + i + 2, ":]");
            if (end == NULL)
                return 0;
            i = (size_t)(end - p) + 2;
        } else if (p[i] == ']') {
            return i + 1;
        } else {
            i++;
        }
    }
    return 0;
}

/*
 * How common a byte is in log text, roughly (higher: more common).  The
 * search for a literal looks for its least common byte with memchr(),
 * which is vectorised, and compares the rest only where that byte is:
 * glibc's memmem() is not vectorised and costs more than the pattern it
 * would save.
 */
static int byte_frequency(unsigned char c)
{
    static const char common[] = " etaoinsrhldcumfpgwybvk0123456789=:./-_,()[]'\"";
    const char *p;

    if (c == '\0')
        return 0;
    p = strchr(common, c);
    if (p != NULL)
        return 100 - (int)(p - common);
    if (c >= 'A' && c <= 'Z')
        return 20;
    return 10; /* rare letters (x q j z), other punctuation, bytes >= 0x80 */
}

static void choose_rare_byte(struct rule *r)
{
    size_t i, best = 0;

    for (i = 1; i < r->literal_len; i++) {
        if (byte_frequency((unsigned char)r->literal[i]) <
            byte_frequency((unsigned char)r->literal[best]))
            best = i;
    }
    r->rare_at = best;
}

/* Whether the LEN bytes at S contain the rule's literal. */
static bool contains(const char *s, size_t len, const struct rule *r)
{
    const char rare = r->literal[r->rare_at];
    const char *p = s + r->rare_at, *end = s + len;

    if (len < r->literal_len)
        return false;
    end -= r->literal_len - r->rare_at - 1; /* the rare byte cannot be later than this */
    while (p < end) {
        const char *hit = memchr(p, rare, (size_t)(end - p));
        if (hit == NULL)
            return false;
        const char *at = hit - r->rare_at;
        /* the ends first: a common rare byte (" error") has many false hits */
        if (at[0] == r->literal[0] && at[r->literal_len - 1] == r->literal[r->literal_len - 1] &&
            memcmp(at, r->literal, r->literal_len) == 0)
            return true;
        p = hit + 1;
    }
    return false;
}

static void find_literal(struct rule *r, const char *pat)
{
    struct literal_scan ls;
    size_t i = 0;
    int depth = 0;

    memset(&ls, 0, sizeof(ls));
    if (strncmp(pat, "(*", 2) == 0)
        return;
    if (pat[0] == '^') {
        i = 1;
        ls.anchored = true;
    }
    while (pat[i] != '\0') {
        unsigned char c = (unsigned char)pat[i];
        bool optional = false;
        size_t q;

        if (c >= 0x80)
            return;
        if (c == '\\') {
            char n = pat[i + 1];
            if (n == '\0' || strchr("QExopPgkNcu0123456789", n) != NULL)
                return;
            if ((n >= 'a' && n <= 'z') || (n >= 'A' && n <= 'Z')) {
                i += 2;
                if (depth == 0) {
                    run_end(&ls); /* a class, an assertion or a control character */
                    q = skip_quantifier(pat + i, &optional);
                    if (q == (size_t)-1)
                        return;
                    i += q;
                }
                continue;
            }
            if ((unsigned char)n >= 0x80)
                return;
            if (depth > 0) {
                i += 2;
                continue;
            }
            i += 2;
            q = skip_quantifier(pat + i, &optional);
            if (q == (size_t)-1)
                return;
            if (!optional)
                run_add(&ls, n);
            if (q > 0) {
                run_end(&ls);
                i += q;
            }
            continue;
        }
        if (c == '[') {
            q = skip_class(pat + i);
            if (q == 0)
                return;
            i += q;
            if (depth == 0) {
                run_end(&ls);
                q = skip_quantifier(pat + i, &optional);
                if (q == (size_t)-1)
                    return;
                i += q;
            }
            continue;
        }
        if (c == '(') {
            if (pat[i + 1] == '*')
                return;
            if (pat[i + 1] == '?' && strchr(":<P=!>|#", pat[i + 2]) == NULL)
                return; /* inline options such as (?i) */
            if (pat[i + 1] == '?' && pat[i + 2] == '#') {
                const char *end = strchr(pat + i, ')');
                if (end == NULL)
                    return;
                i = (size_t)(end - pat) + 1; /* a comment is nothing */
                continue;
            }
            if (depth == 0)
                run_end(&ls);
            depth++;
            i++;
            continue;
        }
        if (c == ')') {
            if (depth == 0)
                return;
            depth--;
            i++;
            if (depth == 0) {
                q = skip_quantifier(pat + i, &optional);
                if (q == (size_t)-1)
                    return;
                i += q;
            }
            continue;
        }
        if (depth > 0) {
            i++;
            continue;
        }
        if (c == '|')
            return;
        if (c == '.' || c == '^' || c == '$') {
            run_end(&ls);
            i++;
            q = skip_quantifier(pat + i, &optional);
            if (q == (size_t)-1)
                return;
            i += q;
            continue;
        }
        if (c == '*' || c == '+' || c == '?' || c == '{')
            return; /* a quantifier with nothing plain before it: not analysed */
        i++;
        q = skip_quantifier(pat + i, &optional);
        if (q == (size_t)-1)
            return;
        if (!optional)
            run_add(&ls, (char)c);
        if (q > 0) {
            run_end(&ls);
            i += q;
        }
    }
    if (depth != 0)
        return;
    run_end(&ls);
    /* one or two bytes anywhere reject too little to pay for the search */
    if (ls.best_len >= 3 || (ls.best_anchored && ls.best_len >= 1)) {
        memcpy(r->literal, ls.best, ls.best_len);
        r->literal_len = ls.best_len;
        r->literal_anchored = ls.best_anchored;
        choose_rare_byte(r);
    }
}

/*
 * The bytes a match of an anchored pattern can start with, from PCRE2's own
 * analysis rather than ours: for alternatives with different prefixes
 * ("^(?:EXT4-fs|XFS|BTRFS)") the literal above finds nothing, and the
 * pattern would run on every entry.  PCRE2 computes that set
 * (PCRE2_INFO_FIRSTBITMAP) only for patterns that are not anchored, so the
 * pattern is compiled once more without its leading '^': a match of "^X"
 * is a match of "X" starting at the first byte of MESSAGE, so that byte is
 * in X's set.  No set when PCRE2 has none (X can match the empty string, or
 * starts with anything) or the pattern is not anchored by that '^'.
 */
static void find_first_bytes(struct rule *r, const char *pat)
{
    const uint8_t *map = NULL;
    uint32_t opts = 0;
    PCRE2_SIZE off = 0;
    pcre2_code *bare;
    int code = 0;

    if (r->literal_len > 0 && r->literal_anchored)
        return; /* the literal already tests the first byte */
    if (pat[0] != '^' || pat[1] == '\0' || strchr("*+?{", pat[1]) != NULL)
        return;
    if (pcre2_pattern_info(r->re, PCRE2_INFO_ALLOPTIONS, &opts) != 0 ||
        (opts & PCRE2_ANCHORED) == 0 || (opts & PCRE2_MULTILINE) != 0)
        return;
    bare = pcre2_compile((PCRE2_SPTR)(pat + 1), PCRE2_ZERO_TERMINATED,
                         PCRE2_DUPNAMES | PCRE2_NEVER_BACKSLASH_C, &code, &off, NULL);
    if (bare == NULL)
        return; /* out of memory (or odd): no screen, the pattern still decides */
    if (pcre2_pattern_info(bare, PCRE2_INFO_FIRSTBITMAP, &map) == 0 && map != NULL) {
        size_t i;
        for (i = 0; i < sizeof(r->first) && map[i] == 0xff; i++)
            ;
        /* every byte allowed: a test that can only cost */
        if (i < sizeof(r->first)) {
            memcpy(r->first, map, sizeof(r->first));
            r->has_first = true;
        }
    }
    pcre2_code_free(bare);
}

void rules_screen_prepare(struct rule *r, const char *pattern)
{
    find_literal(r, pattern);
    find_first_bytes(r, pattern);
}

/* ------------------------------------------------------------------------------------ */
/* matching                                                                             */

static bool run(struct qn_rules *rs, const pcre2_code *re, bool jit, const struct field *msg,
                pcre2_match_data *md)
{
    int rc;

    if (jit)
        rc = pcre2_jit_match(re, (PCRE2_SPTR)msg->value, msg->len, 0, 0, md, rs->mctx);
    else
        rc = pcre2_match(re, (PCRE2_SPTR)msg->value, msg->len, 0, 0, md, rs->mctx);
    if (rc >= 0)
        return true;
    if (rc != PCRE2_ERROR_NOMATCH)
        rs->stats.match_errors++;
    return false;
}

/* Does the group of match lines starting at *I (all for one field) accept the entry?
 * Advances *I past the group. */
static bool group_ok(const struct rule *r, size_t *i, const struct field *f)
{
    int field = r->matches[*i].field;
    bool ok = false;

    for (; *i < r->n_matches && r->matches[*i].field == field; (*i)++) {
        const struct rule_match *m = &r->matches[*i];
        if (f != NULL && f->full_len == m->len && memcmp(f->value, m->value, m->len) == 0)
            ok = true;
    }
    return ok;
}

static int entry_priority(struct qn_rules *rs, const struct qn_rules_entry *entry)
{
    const struct field *f = fetch(rs, entry, F_PRIORITY);

    if (f == NULL || f->full_len != 1 || f->value[0] < '0' || f->value[0] > '7')
        return -1;
    return f->value[0] - '0';
}

/* Whether F (_UID: decimal, as journald writes it) is within one of R's uid ranges. */
static bool uid_ok(const struct rule *r, const struct field *f)
{
    unsigned long uid = 0;
    size_t i;

    if (f == NULL || f->full_len != f->len || !uid_parse(f->value, f->len, &uid))
        return false;
    for (i = 0; i < r->n_uids; i++) {
        if (uid >= r->uids[i].lo && uid <= r->uids[i].hi)
            return true;
    }
    return false;
}

/* Whether MSG can match R's pattern as far as its literal and first bytes tell. */
static bool literal_ok(const struct rule *r, const struct field *msg)
{
    if (r->has_first && msg->len > 0) {
        unsigned char c = (unsigned char)msg->value[0];
        if ((r->first[c >> 3] & (1u << (c & 7))) == 0)
            return false;
    }
    if (r->literal_len == 0)
        return true;
    if (r->literal_anchored) /* the first byte alone rejects nearly every entry */
        return msg->len >= r->literal_len && msg->value[0] == r->literal[0] &&
               memcmp(msg->value, r->literal, r->literal_len) == 0;
    return contains(msg->value, msg->len, r);
}

/*
 * The conditions of R besides its pattern, for an entry its pattern (if any) accepted:
 * the field groups not CHECKED before the pattern, priority, uid, unless, exclude.  Never
 * inlined: it runs for few entries, and inside the screening loop of qn_rules_feed() its
 * code would cost every entry spilled registers (measured with callgrind).
 */
static __attribute__((noinline)) bool conditions_ok(struct qn_rules *rs, const struct rule *r,
                                                    const struct qn_rules_entry *entry,
                                                    uint32_t checked)
{
    const struct field *msg;
    size_t i;

    rs->other_gen = rs->gen; /* the conditions below fetch fields: later rules may look */
    for (i = 0; i < r->n_matches;) {
        if (checked & (1u << i)) {
            int field = r->matches[i].field;
            while (i < r->n_matches && r->matches[i].field == field)
                i++;
            continue;
        }
        if (!group_ok(r, &i, fetch(rs, entry, r->matches[i].field)))
            return false;
    }
    if (r->has_priority) {
        int prio = entry_priority(rs, entry);
        if (prio < r->prio_min || prio > r->prio_max)
            return false;
    }
    if (r->n_uids > 0 && !uid_ok(r, fetch(rs, entry, F_UID)))
        return false;
    for (i = 0; i < r->n_unless; i++) {
        const struct rule_match *m = &r->unless[i];
        const struct field *f = fetch(rs, entry, m->field);
        if (f != NULL && f->full_len == m->len && memcmp(f->value, m->value, m->len) == 0)
            return false;
    }
    if (r->ex != NULL) {
        msg = fetch(rs, entry, F_MESSAGE);
        if (msg != NULL && run(rs, r->ex, r->ex_jit, msg, rs->md_ex))
            return false;
    }
    return true;
}

static bool rule_matches(struct qn_rules *rs, const struct rule *r,
                         const struct qn_rules_entry *entry)
{
    uint32_t checked = 0; /* bit per match line that starts a group already checked */
    const struct field *msg;
    bool screened = false;
    size_t i;

    /* Once MESSAGE is fetched (by the first rule with a pattern), the literal is the
     * cheapest test and rejects the most: before the field conditions. */
    if (r->re != NULL && rs->fields[F_MESSAGE].gen == rs->gen) {
        if (!rs->fields[F_MESSAGE].present)
            return false;
        if (!literal_ok(r, &rs->fields[F_MESSAGE])) {
            rs->stats.prefiltered++;
            return false;
        }
        screened = true;
    }
    /* Fields already fetched for this entry cost nothing: check them before the pattern.
     * Most entries reach here with MESSAGE alone fetched (every earlier rule rejected it
     * by its pattern or screen): then there is nothing to look at.  (other_gen is set
     * where conditions fetch fields; one that is not set only costs this shortcut.) */
    for (i = rs->other_gen == rs->gen ? 0 : r->n_matches; i < r->n_matches;) {
        size_t start = i;
        const struct field *f = &rs->fields[r->matches[i].field];
        if (f->gen == rs->gen) {
            if (!group_ok(r, &i, f->present ? f : NULL))
                return false;
            checked |= 1u << start;
        } else {
            int field = r->matches[i].field;
            while (i < r->n_matches && r->matches[i].field == field)
                i++;
        }
    }
    if (r->re != NULL) {
        msg = fetch(rs, entry, F_MESSAGE);
        if (msg == NULL)
            return false;
        if (!screened && !literal_ok(r, msg)) {
            rs->stats.prefiltered++;
            return false;
        }
        if (!run(rs, r->re, r->re_jit, msg, rs->md))
            return false;
    }
    return conditions_ok(rs, r, entry, checked);
}

/* Copy the rule's captures out of the match data into rs->cap_values. */
static void take_captures(struct qn_rules *rs, const struct rule *r)
{
    const struct field *msg = &rs->fields[F_MESSAGE];
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(rs->md);
    uint32_t pairs = pcre2_get_ovector_count(rs->md);
    size_t i, k;

    for (i = 0; i < r->n_captures; i++) {
        rs->cap_values[i][0] = '\0';
        for (k = 0; k < r->captures[i].n_groups; k++) {
            uint32_t g = (uint32_t)r->captures[i].groups[k];
            size_t a, b, n;
            if (g >= pairs || ov[2 * g] == PCRE2_UNSET || ov[2 * g + 1] < ov[2 * g] ||
                ov[2 * g + 1] > msg->len)
                continue;
            a = ov[2 * g];
            b = ov[2 * g + 1];
            if (memchr(msg->value + a, '\0', b - a) != NULL) {
                rules_nul_escape(msg->value + a, b - a, rs->cap_values[i], QN_RULES_CAPTURE_MAX);
                break;
            }
            n = cut_utf8(msg->value + a, b - a, QN_RULES_CAPTURE_MAX - 1);
            memcpy(rs->cap_values[i], msg->value + a, n);
            rs->cap_values[i][n] = '\0';
            break;
        }
    }
}

/* The threshold key of this match into rs->keybuf; returns its length. */
static size_t build_key(struct qn_rules *rs, const struct rule *r,
                        const struct qn_rules_entry *entry)
{
    size_t len = 0, i;

    for (i = 0; i < r->n_per; i++) {
        const char *v;
        size_t n;

        if (r->per[i] == PER_HOST)
            v = alert_value(fetch(rs, entry, F_HOSTNAME), rs->host, sizeof(rs->host));
        else if (r->per[i] == PER_UNIT)
            v = fetch_unit(rs, entry);
        else
            v = rs->cap_values[r->per[i]];
        n = strlen(v);
        if (n > QN_RULES_FIELD_VALUE_MAX)
            n = QN_RULES_FIELD_VALUE_MAX;
        if (i > 0)
            rs->keybuf[len++] = '\x1f'; /* unit separator: never inside a sanitised value */
        memcpy(rs->keybuf + len, v, n);
        len += n;
    }
    return len;
}

static void expand_subject(struct qn_rules *rs, const struct rule *r, const char *host,
                           const char *unit, unsigned long count)
{
    char *out = rs->subject;
    size_t cap = sizeof(rs->subject), len = 0, i = 0;
    const char *t = r->subject;

    out[0] = '\0';
    if (t == NULL)
        return;
    while (t[i] != '\0' && len + 1 < cap) {
        const char *v = NULL;
        char num[32];
        size_t n;

        if ((t[i] == '{' && t[i + 1] == '{') || (t[i] == '}' && t[i + 1] == '}')) {
            out[len++] = t[i];
            i += 2;
            continue;
        }
        if (t[i] != '{') {
            /* a whole character or nothing: the cut must leave valid UTF-8 */
            n = 1;
            while (n < 4 && ((unsigned char)t[i + n] & 0xc0) == 0x80)
                n++;
            if (n > cap - 1 - len)
                break;
            memcpy(out + len, t + i, n);
            len += n;
            i += n;
            continue;
        }
        n = strcspn(t + i + 1, "}");
        if (n == 4 && strncmp(t + i + 1, "rule", 4) == 0) {
            v = r->name;
        } else if (n == 4 && strncmp(t + i + 1, "host", 4) == 0) {
            v = host;
        } else if (n == 4 && strncmp(t + i + 1, "unit", 4) == 0) {
            v = unit;
        } else if (n == 5 && strncmp(t + i + 1, "count", 5) == 0) {
            snprintf(num, sizeof(num), "%lu", count);
            v = num;
        } else {
            int c = capture_index(r, t + i + 1, n);
            v = c >= 0 ? rs->cap_values[c] : "";
        }
        i += n + (t[i + 1 + n] == '}' ? 2 : 1);
        n = strlen(v);
        if (n > cap - 1 - len) {
            n = cut_utf8(v, n, cap - 1 - len);
            memcpy(out + len, v, n);
            len += n;
            break; /* nothing after a cut value */
        }
        memcpy(out + len, v, n);
        len += n;
    }
    out[len] = '\0';
}

/* The entry's timestamp; with QN_RULES_TIME_ASK asked for at most once per entry. */
static long long entry_time(struct qn_rules *rs, const struct qn_rules_entry *entry)
{
    const void *v = NULL;
    char num[24];
    size_t n = 0;

    if (entry->time_usec != QN_RULES_TIME_ASK)
        return entry->time_usec;
    if (rs->time_gen != rs->gen) {
        rs->time_cache = 0;
        if (entry->get(entry->ctx, "__REALTIME_TIMESTAMP", &v, &n) > 0 && v != NULL && n > 0 &&
            n < sizeof(num)) {
            memcpy(num, v, n);
            num[n] = '\0';
            rs->time_cache = strtoll(num, NULL, 10);
        }
        rs->time_gen = rs->gen;
    }
    return rs->time_cache;
}

/* Fill and deliver the alert of rule R for the current entry: the rule fired (slot S, index
 * SI, or none), or with OVERFLOW its key table overflowed. */
static enum qn_status deliver(struct qn_rules *rs, const struct rule *r,
                              const struct qn_rules_entry *entry, unsigned long count,
                              unsigned long suppressed, const struct slot *s, int32_t si,
                              bool overflow, qn_rules_alert_fn on_alert, void *ctx)
{
    struct qn_rules_alert a;
    size_t i;

    memset(&a, 0, sizeof(a));
    a.rule = r->name;
    a.count = count;
    a.suppressed = suppressed;
    a.n_captures = r->n_captures;
    for (i = 0; i < r->n_captures; i++) {
        a.capture_names[i] = r->captures[i].name;
        a.capture_values[i] = rs->cap_values[i];
    }
    if (s != NULL && r->samples > 0) {
        for (i = 0; i < s->nsamples; i++)
            a.samples[i] = sample_at(r->table, r, si, (s->shead + (uint32_t)i) % r->samples);
        a.n_samples = s->nsamples;
    }
    a.message = alert_value(fetch(rs, entry, F_MESSAGE), rs->message, sizeof(rs->message));
    a.host = alert_value(fetch(rs, entry, F_HOSTNAME), rs->host, sizeof(rs->host));
    a.unit = fetch_unit(rs, entry);
    a.identifier =
        alert_value(fetch(rs, entry, F_IDENTIFIER), rs->identifier, sizeof(rs->identifier));
    a.priority = entry_priority(rs, entry);
    a.time_usec = entry_time(rs, entry);
    a.overflow = overflow;
    a.keys = r->table != NULL ? r->table->cap : 0;
    a.window_usec = r->window_usec;
    if (overflow)
        rs->subject[0] = '\0'; /* the program words it: the rule's template is about one key */
    else
        expand_subject(rs, r, a.host, a.unit, count);
    a.subject = rs->subject;
    a.severity = r->severity != NULL ? r->severity : "";
    rs->stats.alerts++;
    return on_alert(ctx, &a);
}

/* A match of R: count it, and fire when the threshold is reached outside a cooldown, or
 * when the key table overflowed.  Never inlined: it runs for matches only, and inside
 * qn_rules_feed() its code would spread the loop that screens every rule for every entry
 * (measured with callgrind). */
static __attribute__((noinline)) enum qn_status on_match(struct qn_rules *rs, const struct rule *r,
                                                         const struct qn_rules_entry *entry,
                                                         qn_rules_alert_fn on_alert, void *ctx,
                                                         size_t *ret_fired)
{
    const struct field *msg;
    long long now = entry_time(rs, entry);
    bool fires = false, overflow = false;
    size_t klen;
    int32_t si;
    enum qn_status st = QN_OK;

    *ret_fired = 0;
    if (r->re != NULL)
        take_captures(rs, r);
    if (r->table == NULL) {
        *ret_fired = 1;
        return deliver(rs, r, entry, 1, 0, NULL, -1, false, on_alert, ctx);
    }
    klen = build_key(rs, r, entry);
    msg = fetch(rs, entry, F_MESSAGE);
    si = rules_table_hit(rs, r, rs->keybuf, klen, now, msg != NULL ? msg->value : "",
                         msg != NULL ? msg->len : 0, &fires, &overflow);
    if (overflow) {
        /* Whatever the callback says, the overflow was reported (see qn_rules_feed). */
        unsigned long held = r->table->overflow_suppressed;
        rules_table_overflowed(r, now);
        *ret_fired = 1;
        st = deliver(rs, r, entry, (unsigned long)r->table->cap, held, NULL, -1, true, on_alert,
                     ctx);
        if (st != QN_OK)
            return st;
    }
    if (!fires)
        return QN_OK;
    {
        const struct slot *s = &r->table->slots[si];

        st = deliver(rs, r, entry, s->nhits, s->suppressed, s, si, false, on_alert, ctx);
        if (st == QN_OK)
            ++*ret_fired;
    }
    /* Whatever the callback said, the key has fired (see qn_rules_feed). */
    rules_table_fired(r, si, now);
    return st;
}

/* A new generation invalidates every cached field at once. */
static void new_generation(struct qn_rules *rs)
{
    size_t i;

    if (++rs->gen == 0) {
        for (i = 0; i < rs->n_fields; i++)
            rs->fields[i].gen = 0;
        rs->gen = 1;
    }
}

void qn_rules_entry_begin(struct qn_rules *rs)
{
    new_generation(rs);
}

void qn_rules_entry_offer(struct qn_rules *rs, const void *data, size_t len)
{
    const char *d = data, *eq;
    size_t flen;
    int16_t i;

    eq = memchr(d, '=', len < QN_RULES_FIELD_MAX ? len : QN_RULES_FIELD_MAX);
    if (eq == NULL)
        return;
    flen = (size_t)(eq - d);
    for (i = rs->by_len[flen]; i >= 0; i = rs->next_same_len[i]) {
        struct field *f = &rs->fields[i];
        size_t n;

        if (memcmp(f->name, d, flen) != 0)
            continue;
        if (f->gen == rs->gen)
            return; /* a field given twice: the first counts, as with sd_journal_get_data */
        n = len - flen - 1;
        f->gen = rs->gen;
        f->present = true;
        f->full_len = n;
        f->len = n < f->cap ? n : f->cap;
        memcpy(f->value, eq + 1, f->len);
        f->value[f->len] = '\0';
        return;
    }
}

void qn_rules_entry_end(struct qn_rules *rs)
{
    size_t i;

    rs->other_gen = rs->gen;
    for (i = 0; i < rs->n_fields; i++) {
        if (rs->fields[i].gen != rs->gen) {
            rs->fields[i].gen = rs->gen;
            rs->fields[i].present = false;
        }
    }
}

bool qn_rules_reads_fields_always(const struct qn_rules *rs)
{
    size_t i;

    for (i = 0; rs != NULL && i < rs->n_rules; i++) {
        if (rs->rules[i]->re == NULL)
            return true;
    }
    return false;
}

/* The getter of an entry whose fields were offered: every field is known already. */
static int no_get(void *ctx, const char *field, const void **ret_value, size_t *ret_len)
{
    (void)ctx;
    (void)field;
    (void)ret_value;
    (void)ret_len;
    return 0;
}

enum qn_status qn_rules_feed(struct qn_rules *rs, const struct qn_rules_entry *entry,
                             qn_rules_alert_fn on_alert, void *ctx, size_t *ret_fired)
{
    struct qn_rules_entry offered;
    size_t i, fired = 0;
    enum qn_status st = QN_OK;

    if (rs == NULL || entry == NULL || on_alert == NULL)
        return QN_EINVAL;
    if (entry->get != NULL) {
        new_generation(rs);
    } else {
        offered = *entry;
        offered.get = no_get;
        entry = &offered;
    }
    rs->stats.entries++;
    for (i = 0; i < rs->n_rules; i++) {
        const struct rule *r = rs->rules[i];
        size_t f = 0;

        if (!rule_matches(rs, r, entry))
            continue;
        rs->stats.matches++;
        st = on_match(rs, r, entry, on_alert, ctx, &f);
        if (st != QN_OK)
            break;
        fired += f;
    }
    if (ret_fired != NULL)
        *ret_fired = fired;
    return st;
}

/* ------------------------------------------------------------------------------------ */
/* the journal-level filter                                                             */

int qn_rules_filter(const struct qn_rules *rs, const struct qn_rules_filter_ops *ops, void *ctx,
                    bool *ret_possible)
{
    size_t i, k;
    int e;

    *ret_possible = false;
    if (rs == NULL || rs->n_rules == 0)
        return 0;
    for (i = 0; i < rs->n_rules; i++) {
        if (rs->rules[i]->n_matches == 0 && !rs->rules[i]->has_priority)
            return 0;
    }
    for (i = 0; i < rs->n_rules; i++) {
        const struct rule *r = rs->rules[i];
        char data[QN_RULES_FIELD_MAX + QN_RULES_VALUE_MAX + 2];

        if (i > 0 && (e = ops->add_disjunction(ctx)) < 0)
            return e;
        for (k = 0; k < r->n_matches; k++) {
            const struct rule_match *m = &r->matches[k];
            int n = snprintf(data, sizeof(data), "%s=", rs->fields[m->field].name);
            if (n < 0 || (size_t)n + m->len >= sizeof(data))
                return -EINVAL;
            memcpy(data + n, m->value, m->len);
            if ((e = ops->add_match(ctx, data, (size_t)n + m->len)) < 0)
                return e;
        }
        /* A priority bound is one more field: PRIORITY=lo ... PRIORITY=hi, ORed.  When the
         * rule also matches PRIORITY itself, sd-journal ORs the two lists: a superset, and
         * the matcher checks both anyway. */
        if (r->has_priority) {
            int p;
            for (p = r->prio_min; p <= r->prio_max; p++) {
                char pd[16];
                int n = snprintf(pd, sizeof(pd), "PRIORITY=%d", p);
                if ((e = ops->add_match(ctx, pd, (size_t)n)) < 0)
                    return e;
            }
        }
    }
    *ret_possible = true;
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* counters                                                                             */

void qn_rules_stats(const struct qn_rules *rs, struct qn_rules_stats *ret)
{
    if (rs == NULL) {
        memset(ret, 0, sizeof(*ret));
        return;
    }
    *ret = rs->stats;
    ret->state_bytes = rs->state_bytes;
}
