/*
 * source — the journal side: open the local journal, a directory or a file;
 * push the rules down as sd-journal matches; position at the saved
 * cursor, a --since time or the tail; hand fields to the matcher; keep the
 * resident memory of mapped journal files bounded.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jw.h"

/*
 * Whether the journal pages mapped now (file-backed resident bytes beyond
 * what the program and its libraries held right after the journal was
 * opened) exceed BUDGET: then jw_source_trim() should run.  A byte budget,
 * not a number of entries, so that large entries (a flood of 60 KB lines)
 * cannot grow the resident size between two trims.  Without /proc: whether
 * ENTRIES (read since the last trim) reached JW_TRIM_EVERY.
 */
bool jw_source_over_budget(struct jw *w, size_t budget, unsigned long long entries)
{
    long long mapped = jw_pages_mapped(&w->pages);

    return mapped < 0 ? entries >= JW_TRIM_EVERY : mapped > (long long)budget;
}

int jw_source_open(struct jw *w)
{
    int r;

    switch (w->opt.source) {
    case JW_SOURCE_DIRECTORY:
        r = sd_journal_open_directory(&w->j, w->opt.source_path, 0);
        break;
    case JW_SOURCE_FILE: {
        const char *files[] = {w->opt.source_path, NULL};
        r = sd_journal_open_files(&w->j, files, 0);
        break;
    }
    default:
        /* All local journals (system and users'): what journalctl shows by default. */
        r = sd_journal_open(&w->j, SD_JOURNAL_LOCAL_ONLY);
        break;
    }
    if (r < 0) {
        w->j = NULL;
        qn_log(&w->log, LOG_ERR, _("cannot open the journal %s: %s"),
               w->opt.source_path != NULL ? w->opt.source_path : _("(local)"), strerror(-r));
        return r == -ENOENT ? QN_EXIT_NOINPUT : QN_EXIT_IOERR;
    }
    /* The matcher sees at most this much of a field; decompressing more is wasted. */
    r = sd_journal_set_data_threshold(w->j, QN_RULES_MESSAGE_MAX);
    if (r < 0)
        qn_log(&w->log, LOG_WARNING, "sd_journal_set_data_threshold: %s", strerror(-r));
    /* Without it, pages are given back every JW_TRIM_EVERY entries instead. */
    r = jw_pages_open(&w->pages);
    if (r < 0)
        qn_log(&w->log, LOG_DEBUG,
               "/proc/self/statm cannot be read (%s): journal pages are given back every %d "
               "entries instead",
               strerror(-r), JW_TRIM_EVERY);
    return QN_EXIT_OK;
}

void jw_source_close(struct jw *w)
{
    if (w->j != NULL)
        sd_journal_close(w->j);
    w->j = NULL;
    jw_pages_close(&w->pages);
}

static int add_match(void *ctx, const char *data, size_t len)
{
    return sd_journal_add_match(ctx, data, len);
}

static int add_disjunction(void *ctx)
{
    return sd_journal_add_disjunction(ctx);
}

/*
 * Let sd-journal skip what no rule can match, using its field indexes,
 * when every rule has a field condition.  Changing matches invalidates the
 * read position: the caller positions afterwards.
 */
int jw_source_apply_filter(struct jw *w)
{
    static const struct qn_rules_filter_ops ops = {add_match, add_disjunction};
    bool possible = false;
    int r;

    sd_journal_flush_matches(w->j);
    r = qn_rules_filter(w->rules, &ops, w->j, &possible);
    if (r < 0) {
        sd_journal_flush_matches(w->j);
        qn_log(&w->log, LOG_WARNING,
               _("cannot use the rules as journal matches (%s): reading "
                 "every entry"),
               strerror(-r));
        return 0;
    }
    qn_log(&w->log, LOG_DEBUG,
           possible ? "every rule has a field condition: reading only "
                      "entries that can match"
                    : "a rule has no field condition: reading every entry");
    return 0;
}

/*
 * Position for the next sd_journal_next(): after CURSOR (the entry under it
 * is skipped when it still exists), else at --since, else after the last
 * entry (a first start must not mail the whole history).
 */
int jw_source_position(struct jw *w, const char *cursor)
{
    int r;

    w->skip_check = false;
    if (cursor != NULL && cursor[0] != '\0') {
        r = sd_journal_seek_cursor(w->j, cursor);
        if (r < 0) {
            qn_log(&w->log, LOG_ERR, _("cannot seek to the saved cursor: %s"), strerror(-r));
            return QN_EXIT_IOERR;
        }
        if (cursor != w->cursor)
            snprintf(w->cursor, sizeof(w->cursor), "%s", cursor);
        w->skip_check = true;
        return QN_EXIT_OK;
    }
    if (w->opt.since_usec >= 0) {
        r = sd_journal_seek_realtime_usec(w->j, (uint64_t)w->opt.since_usec);
        if (r < 0) {
            qn_log(&w->log, LOG_ERR, "sd_journal_seek_realtime_usec: %s", strerror(-r));
            return QN_EXIT_IOERR;
        }
        return QN_EXIT_OK;
    }
    r = sd_journal_seek_tail(w->j);
    if (r < 0) {
        qn_log(&w->log, LOG_ERR, "sd_journal_seek_tail: %s", strerror(-r));
        return QN_EXIT_IOERR;
    }
    /* Step onto the last entry so that next() returns what comes after it, and remember
     * it: the state file then holds a position from the very start. */
    r = sd_journal_previous(w->j);
    if (r < 0) {
        qn_log(&w->log, LOG_ERR, "sd_journal_previous: %s", strerror(-r));
        return QN_EXIT_IOERR;
    }
    if (r > 0)
        jw_source_current_cursor(w);
    return QN_EXIT_OK;
}

/* Store the cursor and time of the current entry in w->cursor / w->cursor_time. */
int jw_source_current_cursor(struct jw *w)
{
    uint64_t t = 0;
    char *c = NULL;
    int r;

    r = sd_journal_get_cursor(w->j, &c);
    if (r < 0)
        return r;
    if (strlen(c) >= sizeof(w->cursor)) {
        free(c);
        return -E2BIG;
    }
    snprintf(w->cursor, sizeof(w->cursor), "%s", c);
    free(c);
    if (sd_journal_get_realtime_usec(w->j, &t) >= 0)
        w->cursor_time = (long long)t;
    return 0;
}

/* The current entry's realtime timestamp, 0 if unreadable. */
long long jw_source_time(sd_journal *j)
{
    uint64_t t = 0;

    return sd_journal_get_realtime_usec(j, &t) >= 0 ? (long long)t : 0;
}

/* The matcher's field getter (CTX: the struct jw): the value after "FIELD=", and the
 * entry's timestamp as the pseudo field __REALTIME_TIMESTAMP (QN_RULES_TIME_ASK). */
int jw_source_get_field(void *ctx, const char *field, const void **ret_value, size_t *ret_len)
{
    struct jw *w = ctx;
    size_t flen = strlen(field);
    const void *data;
    size_t len;
    int r;

    if (strcmp(field, "__REALTIME_TIMESTAMP") == 0) {
        r = snprintf(w->time_text, sizeof(w->time_text), "%lld", jw_source_time(w->j));
        *ret_value = w->time_text;
        *ret_len = r > 0 ? (size_t)r : 0;
        return 1;
    }
    r = sd_journal_get_data(w->j, field, &data, &len);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return r;
    if (len < flen + 1)
        return 0;
    *ret_value = (const char *)data + flen + 1;
    *ret_len = len - flen - 1;
    return 1;
}

/*
 * Hand every field of the current entry to the matcher in one pass, for
 * rule sets that read fields other than MESSAGE on every entry (see
 * qn_rules_reads_fields_always).  sd_journal_get_data() walks the entry's
 * items reading each data object until the field is found (MESSAGE,
 * written last, is usually found last), so each lookup costs about a whole
 * walk; one enumeration costs one walk (about 13 % more than one lookup,
 * measured) and gives the matcher every field.  A damaged item is skipped
 * by sd-journal.
 */
void jw_source_offer_fields(struct jw *w)
{
    const void *data;
    size_t len;
    int r;

    qn_rules_entry_begin(w->rules);
    sd_journal_restart_data(w->j);
    while ((r = sd_journal_enumerate_data(w->j, &data, &len)) > 0)
        qn_rules_entry_offer(w->rules, data, len);
    if (r < 0)
        qn_log(&w->log, LOG_DEBUG, "sd_journal_enumerate_data: %s", strerror(-r));
    qn_rules_entry_end(w->rules);
}

/* Give back the journal file pages mapped in our address space (see pages.h).  Costs one
 * read of /proc/self/maps each time the pages mapped exceed the budget
 * (jw_source_over_budget). */
void jw_source_trim(struct jw *w)
{
    int e = 0, r;

    if (w->pages.maps_errno != 0)
        return; /* said once already */
    r = jw_pages_release(&w->pages, &e);
    if (r < 0)
        qn_log(&w->log, LOG_DEBUG, "/proc/self/maps: %s", strerror(-r));
    else if (e != 0)
        qn_log(&w->log, LOG_DEBUG, "madvise: %s", strerror(e));
}

/* --since: "@SECONDS", "YYYY-MM-DD[ HH:MM[:SS]]" (local time, 'T' also accepted),
 * "-DURATION", "today", "yesterday", "now".  Microseconds since the epoch, or -1. */
long long jw_parse_since(const char *s)
{
    static const char *const formats[] = {"%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S",
                                          "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"};
    time_t now = time(NULL);
    struct tm tm;
    size_t i;

    if (s == NULL || *s == '\0' || now == (time_t)-1)
        return -1;
    if (s[0] == '@') {
        char *end = NULL;
        long long v;
        errno = 0;
        v = strtoll(s + 1, &end, 10);
        if (s[1] < '0' || s[1] > '9' || errno != 0 || *end != '\0' || v > 253402300799LL)
            return -1;
        return v * 1000000LL;
    }
    if (s[0] == '-') {
        long long secs = 0;
        if (qn_rules_parse_duration(s + 1, &secs) != QN_OK)
            return -1;
        return ((long long)now - secs) * 1000000LL;
    }
    if (strcmp(s, "now") == 0)
        return (long long)now * 1000000LL;
    if (strcmp(s, "today") == 0 || strcmp(s, "yesterday") == 0) {
        time_t t;
        if (localtime_r(&now, &tm) == NULL)
            return -1;
        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        if (s[0] == 'y')
            tm.tm_mday--;
        tm.tm_isdst = -1;
        t = mktime(&tm);
        return t == (time_t)-1 ? -1 : (long long)t * 1000000LL;
    }
    for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        const char *end;
        time_t t;

        memset(&tm, 0, sizeof(tm));
        end = strptime(s, formats[i], &tm);
        if (end == NULL || *end != '\0')
            continue;
        tm.tm_isdst = -1;
        t = mktime(&tm);
        if (t == (time_t)-1)
            return -1;
        return (long long)t * 1000000LL;
    }
    return -1;
}
