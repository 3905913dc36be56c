/*
 * source — see source.h.
 */
#include "source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>

#include "exit.h"
#include "i18n.h"
#include "pages.h"

#define JW_TRIM_EVERY 16384 /* entries between releases without /proc */

struct jw_source {
    sd_journal *j;
    const struct qn_log *log;
    long long since_usec;  /* where to start without a cursor, or -1 */
    struct jw_pages pages; /* journal pages mapped (see jw_source_over_budget) */
    bool skip_check;       /* the next entry may be the one under SKIP_CURSOR */
    char skip_cursor[JW_CURSOR_MAX];
    char time_text[24]; /* the getter's answer for __REALTIME_TIMESTAMP */
};

/*
 * Whether the journal pages mapped now (file-backed resident bytes beyond
 * what the program and its libraries held right after the journal was
 * opened) exceed BUDGET: then jw_source_trim() should run.  A byte budget,
 * not a number of entries, so that large entries (a flood of 60 KB lines)
 * cannot grow the resident size between two trims.  Without /proc: whether
 * ENTRIES (read since the last trim) reached JW_TRIM_EVERY.
 */
bool jw_source_over_budget(struct jw_source *s, size_t budget, unsigned long long entries)
{
    long long mapped = jw_pages_mapped(&s->pages);

    return mapped < 0 ? entries >= JW_TRIM_EVERY : mapped > (long long)budget;
}

int jw_source_open(struct jw_source **ret, enum jw_source_kind kind, const char *path,
                   long long since_usec, const struct qn_log *log)
{
    struct jw_source *s;
    int r;

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        qn_log(log, LOG_ERR, "%s", _(qn_strerror(QN_ENOMEM)));
        return QN_EXIT_OSERR;
    }
    s->log = log;
    s->since_usec = since_usec;
    s->pages.statm_fd = -1;
    switch (kind) {
    case JW_SOURCE_DIRECTORY:
        r = sd_journal_open_directory(&s->j, path, 0);
        break;
    case JW_SOURCE_FILE: {
        const char *files[] = {path, NULL};
        r = sd_journal_open_files(&s->j, files, 0);
        break;
    }
    default:
        /* All local journals (system and users'): what journalctl shows by default. */
        r = sd_journal_open(&s->j, SD_JOURNAL_LOCAL_ONLY);
        break;
    }
    if (r < 0) {
        qn_log(log, LOG_ERR, _("cannot open the journal %s: %s"),
               path != NULL ? path : _("(local)"), strerror(-r));
        free(s);
        return r == -ENOENT ? QN_EXIT_NOINPUT : QN_EXIT_IOERR;
    }
    /* The matcher sees at most this much of a field; decompressing more is wasted. */
    r = sd_journal_set_data_threshold(s->j, QN_RULES_MESSAGE_MAX);
    if (r < 0)
        qn_log(log, LOG_WARNING, "sd_journal_set_data_threshold: %s", strerror(-r));
    /* Without it, pages are given back every JW_TRIM_EVERY entries instead. */
    r = jw_pages_open(&s->pages);
    if (r < 0)
        qn_log(log, LOG_DEBUG,
               "/proc/self/statm cannot be read (%s): journal pages are given back every %d "
               "entries instead",
               strerror(-r), JW_TRIM_EVERY);
    *ret = s;
    return QN_EXIT_OK;
}

struct jw_source *jw_source_close(struct jw_source *s)
{
    if (s == NULL)
        return NULL;
    sd_journal_close(s->j);
    jw_pages_close(&s->pages);
    free(s);
    return NULL;
}

static int add_match(void *ctx, const char *data, size_t len)
{
    return sd_journal_add_match(ctx, data, len);
}

static int add_disjunction(void *ctx)
{
    return sd_journal_add_disjunction(ctx);
}

void jw_source_apply_filter(struct jw_source *s, const struct qn_rules *rules)
{
    static const struct qn_rules_filter_ops ops = {add_match, add_disjunction};
    bool possible = false;
    int r;

    sd_journal_flush_matches(s->j);
    r = qn_rules_filter(rules, &ops, s->j, &possible);
    if (r < 0) {
        sd_journal_flush_matches(s->j);
        qn_log(s->log, LOG_WARNING,
               _("cannot use the rules as journal matches (%s): reading "
                 "every entry"),
               strerror(-r));
        return;
    }
    qn_log(s->log, LOG_DEBUG,
           possible ? "every rule has a field condition: reading only "
                      "entries that can match"
                    : "a rule has no field condition: reading every entry");
}

int jw_source_position(struct jw_source *s, const char *cursor, bool *ret_on_entry)
{
    int r;

    *ret_on_entry = false;
    s->skip_check = false;
    if (cursor != NULL && cursor[0] != '\0') {
        r = sd_journal_seek_cursor(s->j, cursor);
        if (r < 0) {
            qn_log(s->log, LOG_ERR, _("cannot seek to the saved cursor: %s"), strerror(-r));
            return QN_EXIT_IOERR;
        }
        snprintf(s->skip_cursor, sizeof(s->skip_cursor), "%s", cursor);
        s->skip_check = true;
        return QN_EXIT_OK;
    }
    if (s->since_usec >= 0) {
        r = sd_journal_seek_realtime_usec(s->j, (uint64_t)s->since_usec);
        if (r < 0) {
            qn_log(s->log, LOG_ERR, "sd_journal_seek_realtime_usec: %s", strerror(-r));
            return QN_EXIT_IOERR;
        }
        return QN_EXIT_OK;
    }
    r = sd_journal_seek_tail(s->j);
    if (r < 0) {
        qn_log(s->log, LOG_ERR, "sd_journal_seek_tail: %s", strerror(-r));
        return QN_EXIT_IOERR;
    }
    /* Step onto the last entry so that next() returns what comes after it; the caller
     * remembers it, so that the state file holds a position from the very start. */
    r = sd_journal_previous(s->j);
    if (r < 0) {
        qn_log(s->log, LOG_ERR, "sd_journal_previous: %s", strerror(-r));
        return QN_EXIT_IOERR;
    }
    *ret_on_entry = r > 0;
    return QN_EXIT_OK;
}

/* The first entry after positioning at a cursor: past the one under it, which was handled
 * before the restart, when it still exists.  Out of line, so that jw_source_next() stays a
 * test and a jump on the path every entry takes. */
static __attribute__((noinline)) int next_after_cursor(struct jw_source *s)
{
    int r = sd_journal_next(s->j);

    if (r > 0) {
        s->skip_check = false;
        if (sd_journal_test_cursor(s->j, s->skip_cursor) > 0)
            r = sd_journal_next(s->j);
    }
    return r;
}

int jw_source_next(struct jw_source *s)
{
    if (s->skip_check)
        return next_after_cursor(s);
    return sd_journal_next(s->j);
}

int jw_source_cursor(struct jw_source *s, char *buf, size_t size, long long *ret_time_usec)
{
    uint64_t t = 0;
    char *c = NULL;
    int r;

    *ret_time_usec = -1;
    r = sd_journal_get_cursor(s->j, &c);
    if (r < 0)
        return r;
    if (strlen(c) >= size) {
        free(c);
        if (size > 0)
            buf[0] = '\0';
        return -E2BIG;
    }
    snprintf(buf, size, "%s", c);
    free(c);
    if (sd_journal_get_realtime_usec(s->j, &t) >= 0)
        *ret_time_usec = (long long)t;
    return 0;
}

long long jw_source_time(struct jw_source *s)
{
    uint64_t t = 0;

    return sd_journal_get_realtime_usec(s->j, &t) >= 0 ? (long long)t : 0;
}

int jw_source_get_field(void *ctx, const char *field, const void **ret_value, size_t *ret_len)
{
    struct jw_source *s = ctx;
    size_t flen = strlen(field);
    const void *data;
    size_t len;
    int r;

    /* The first bytes first: this runs for MESSAGE of every entry. */
    if (field[0] == '_' && field[1] == '_' && strcmp(field, "__REALTIME_TIMESTAMP") == 0) {
        r = snprintf(s->time_text, sizeof(s->time_text), "%lld", jw_source_time(s));
        *ret_value = s->time_text;
        *ret_len = r > 0 ? (size_t)r : 0;
        return 1;
    }
    r = sd_journal_get_data(s->j, field, &data, &len);
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
 * sd_journal_get_data() walks the entry's items reading each data object
 * until the field is found (MESSAGE, written last, is usually found last),
 * so each lookup costs about a whole walk; one enumeration costs one walk
 * (about 13 % more than one lookup, measured) and gives the matcher every
 * field.  A damaged item is skipped by sd-journal.
 */
void jw_source_offer_fields(struct jw_source *s, struct qn_rules *rules)
{
    const void *data;
    size_t len;
    int r;

    qn_rules_entry_begin(rules);
    sd_journal_restart_data(s->j);
    while ((r = sd_journal_enumerate_data(s->j, &data, &len)) > 0)
        qn_rules_entry_offer(rules, data, len);
    if (r < 0)
        qn_log(s->log, LOG_DEBUG, "sd_journal_enumerate_data: %s", strerror(-r));
    qn_rules_entry_end(rules);
}

/* Costs one read of /proc/self/maps each time the pages mapped exceed the budget
 * (jw_source_over_budget). */
void jw_source_trim(struct jw_source *s)
{
    int e = 0, r;

    if (s->pages.maps_errno != 0)
        return; /* said once already */
    r = jw_pages_release(&s->pages, &e);
    if (r < 0)
        qn_log(s->log, LOG_DEBUG, "/proc/self/maps: %s", strerror(-r));
    else if (e != 0)
        qn_log(s->log, LOG_DEBUG, "madvise: %s", strerror(e));
}

int jw_source_wait_for(struct jw_source *s, struct pollfd *ret_poll, uint64_t *ret_deadline_usec)
{
    uint64_t timeout = UINT64_MAX;
    int fd, events;

    fd = sd_journal_get_fd(s->j);
    if (fd < 0) {
        qn_log(s->log, LOG_ERR, "sd_journal_get_fd: %s", strerror(-fd));
        return QN_EXIT_IOERR;
    }
    events = sd_journal_get_events(s->j);
    if (events < 0)
        events = POLLIN;
    /* UINT64_MAX: inotify works, no timeout; else a poll interval for file systems
     * without inotify (sd-journal decides). */
    if (sd_journal_get_timeout(s->j, &timeout) < 0)
        timeout = UINT64_MAX;
    ret_poll->fd = fd;
    ret_poll->events = (short)events;
    ret_poll->revents = 0;
    *ret_deadline_usec = timeout;
    return QN_EXIT_OK;
}

int jw_source_process(struct jw_source *s, bool *ret_invalidated)
{
    /* It also catches up after a timeout (file systems without inotify). */
    int r = sd_journal_process(s->j);

    *ret_invalidated = false;
    if (r < 0) {
        qn_log(s->log, LOG_ERR, "sd_journal_process: %s", strerror(-r));
        return QN_EXIT_IOERR;
    }
    *ret_invalidated = r == SD_JOURNAL_INVALIDATE;
    return QN_EXIT_OK;
}
