/*
 * state — alerts into the spool, and the state file that says how far the
 * journal has been read.
 *
 * The state file (state/journal.cursor, or a name derived from the source
 * for --directory and --file, so two watchers sharing a spool do not
 * overwrite each other's position), version 1:
 *
 *     qqnotify-journal-state 1
 *     cursor s=...;i=...;b=...;m=...;t=...;x=...
 *     time 1764180000123456
 *     rules-state 1
 *     rule ssh-brute-force 5a1b...
 *     key 203.0.113.9 ...
 *
 * "cursor" is the last entry whose effects the file records, "time" its
 * timestamp, and the rest the rules' threshold state after that entry
 * (qn_rules_state_save).  It is replaced atomically (written in tmp/,
 * renamed into state/) right after every entry that raised an alert, once
 * that alert is itself durably in the spool (fsync'd, with new/), by the
 * writer thread (writer.c): a crash of the daemon then repeats at most the
 * alerts of one entry and never skips one.
 * That replacement fsyncs the file but not state/ (qn_spool_state_write_nowait):
 * the file only has to lag the alerts, never lead them, and it cannot lead
 * them since each alert was durable before the file named its entry.
 * After a power cut it may be an earlier version, so the alerts since the
 * last durable save can come again (never fewer).  The saves at start, at
 * idle (JW_IDLE_SAVE_*) and on exit wait for the disk
 * (qn_spool_state_write).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event.h"
#include "jw.h"

#define STATE_HEADER "qqnotify-journal-state 1"

static const char *const priority_names[8] = {"emerg",   "alert",  "crit", "err",
                                              "warning", "notice", "info", "debug"};

static unsigned long long fnv1a(const char *s)
{
    unsigned long long h = 0xcbf29ce484222325ULL;

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

void jw_state_name(const struct jw_options *opt, char *out, size_t outsz)
{
    char real[PATH_MAX];
    const char *path;

    if (opt->source == JW_SOURCE_LOCAL) {
        snprintf(out, outsz, "journal.cursor");
        return;
    }
    /* The same directory named two ways must get the same state. */
    path = realpath(opt->source_path, real) != NULL ? real : opt->source_path;
    snprintf(out, outsz, "journal-%s-%016llx.cursor",
             opt->source == JW_SOURCE_DIRECTORY ? "dir" : "file", fnv1a(path));
}

static long long mono_seconds(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (long long)ts.tv_sec;
}

/*
 * Read the state file: the cursor into RET_CURSOR ("" when there is none)
 * and the threshold state into w->rules.  A damaged file is reported and
 * treated as absent (start at the tail): refusing to start would lose
 * every alert from now on to save some from the past.
 */
int jw_state_load(struct jw *w, char *ret_cursor, size_t cursor_size)
{
    size_t cap = QN_SPOOL_STATE_MAX + 1, len = 0, n;
    const char *p, *end, *nl;
    char *buf;
    enum qn_status r;
    int rc = QN_EXIT_OK;

    ret_cursor[0] = '\0';
    buf = malloc(cap);
    if (buf == NULL)
        return QN_EXIT_OSERR;
    r = qn_spool_state_read(w->spool, w->state_name, buf, cap, &len);
    if (r == QN_ENOTFOUND)
        goto out;
    if (r != QN_OK) {
        qn_log(&w->log, LOG_ERR, _("cannot read the journal position %s/state/%s: %s%s%s"),
               w->cfg.spool_dir, w->state_name, _(qn_strerror(r)), r == QN_EIO ? ": " : "",
               r == QN_EIO ? strerror(errno) : "");
        rc = QN_EXIT_IOERR;
        goto out;
    }
    w->have_saved = true;
    p = buf;
    end = buf + len;
    /* header line */
    nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL || (size_t)(nl - p) != strlen(STATE_HEADER) ||
        memcmp(p, STATE_HEADER, (size_t)(nl - p)) != 0)
        goto damaged;
    p = nl + 1;
    /* cursor line */
    nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL || nl - p < 8 || memcmp(p, "cursor ", 7) != 0)
        goto damaged;
    n = (size_t)(nl - p) - 7;
    if (n == 0 || n >= cursor_size)
        goto damaged;
    memcpy(ret_cursor, p + 7, n);
    ret_cursor[n] = '\0';
    p = nl + 1;
    /* time line */
    nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL || nl - p < 6 || memcmp(p, "time ", 5) != 0)
        goto damaged;
    w->cursor_time = strtoll(p + 5, NULL, 10);
    p = nl + 1;
    if (qn_rules_state_load(w->rules, p, (size_t)(end - p)) != QN_OK)
        qn_log(&w->log, LOG_WARNING,
               _("the threshold counts in %s/state/%s are damaged: counting starts from zero"),
               w->cfg.spool_dir, w->state_name);
    goto out;
damaged:
    ret_cursor[0] = '\0';
    w->have_saved = false; /* write a sound one as soon as there is a position */
    qn_log(&w->log, LOG_ERR,
           _("the journal position in %s/state/%s is damaged: starting at the end of the "
             "journal (entries since the last position are not looked at)"),
           w->cfg.spool_dir, w->state_name);
out:
    free(buf);
    return rc;
}

/*
 * The state text for the position w->cursor (the caller has just set it to
 * the entry the threshold state was last fed, or it is the position loaded
 * or found at the start with nothing fed since) and the threshold state,
 * into *RET (malloc'd, the caller frees; *RET_LEN bytes).  QN_EINVAL when
 * no position is known yet (nothing to write), QN_ENOMEM.
 */
enum qn_status jw_state_text(struct jw *w, char **ret, size_t *ret_len)
{
    struct qn_buf b;
    enum qn_status r;

    *ret = NULL;
    *ret_len = 0;
    if (w->cursor[0] == '\0')
        return QN_EINVAL;
    qn_buf_init(&b, QN_SPOOL_STATE_MAX);
    r = qn_buf_printf(&b, STATE_HEADER "\ncursor %s\ntime %lld\n", w->cursor, w->cursor_time);
    if (r == QN_OK)
        r = qn_rules_state_save(w->rules, w->cursor_time, JW_STATE_RULES_BUDGET, &b);
    if (r == QN_OK) {
        *ret = qn_buf_steal(&b, ret_len);
        if (*ret == NULL)
            r = QN_ENOMEM;
    }
    qn_buf_free(&b);
    return r;
}

void jw_state_report_error(struct jw *w, enum qn_status r)
{
    qn_log(&w->log, LOG_ERR, _("cannot save the journal position in %s/state/%s: %s%s%s"),
           w->cfg.spool_dir, w->state_name, _(qn_strerror(r)), r == QN_EIO ? ": " : "",
           r == QN_EIO ? strerror(errno) : "");
}

/* Note that the position was handed on (to the disk or to the writer): RC 0 or -1. */
void jw_state_mark_saved(struct jw *w, int rc)
{
    /* A failure is paced like a success: a failing write (its own ERR line is a new
     * journal entry) must not be retried on every entry. */
    w->last_save_mono = mono_seconds();
    if (rc == 0) {
        w->have_saved = true;
        w->unsaved = 0;
    }
}

/*
 * Write the position and threshold state (jw_state_text), waiting for the
 * disk.  The caller has made sure no alert before it is still queued
 * (jw_writer_drain).  Nothing to write before the first entry is known.  A
 * failure is logged and the daemon carries on: the alerts are already
 * safe, and the worst outcome of a stale position is that a restart
 * repeats work.
 */
int jw_state_save(struct jw *w)
{
    enum qn_status r;
    size_t len;
    char *text;

    r = jw_state_text(w, &text, &len);
    if (r == QN_EINVAL)
        return 0;
    if (r == QN_OK)
        r = qn_spool_state_write(w->spool, w->state_name, text, len);
    free(text);
    if (r != QN_OK)
        jw_state_report_error(w, r);
    jw_state_mark_saved(w, r == QN_OK ? 0 : -1);
    return r == QN_OK ? 0 : -1;
}

static void set_field(struct qn_event *ev, const char *key, const char *value)
{
    /* A full event keeps what it has: fields are added most important first. */
    if (value != NULL && value[0] != '\0')
        (void)qn_event_set(ev, key, value);
}

static void build_event(const struct qn_rules_alert *a, struct qn_event *ev)
{
    char num[32], key[QN_EVENT_KEY_MAX];
    size_t i;

    qn_event_init(ev, "journal");
    if (a->time_usec > 0)
        ev->time = a->time_usec / 1000000;
    /* The entry's host: on a central log host, the machine that logged it. */
    if (a->host[0] != '\0')
        qn_event_set_host(ev, a->host);
    if (a->subject[0] != '\0')
        qn_event_set_subject(ev, a->subject);
    set_field(ev, "rule", a->rule);
    snprintf(num, sizeof(num), "%lu", a->count);
    set_field(ev, "count", num);
    set_field(ev, "unit", a->unit);
    set_field(ev, "message", a->message);
    for (i = 0; i < a->n_captures; i++)
        set_field(ev, a->capture_names[i], a->capture_values[i]);
    if (a->priority >= 0 && a->priority <= 7)
        set_field(ev, "priority", priority_names[a->priority]);
    set_field(ev, "identifier", a->identifier);
    if (a->suppressed > 0) {
        snprintf(num, sizeof(num), "%lu", a->suppressed);
        set_field(ev, "suppressed", num);
    }
    for (i = 0; i < a->n_samples; i++) {
        snprintf(key, sizeof(key), "sample.%zu", i + 1);
        set_field(ev, key, a->samples[i]);
    }
}

/*
 * The matcher's alert callback: the event joins the alerts of the current
 * entry, which handle_entry() hands to the writer thread (writer.c) with
 * the state after the entry.
 */
enum qn_status jw_on_alert(void *ctx, const struct qn_rules_alert *a)
{
    struct jw *w = ctx;
    struct qn_event **grown, *ev;

    if (w->n_pending == w->cap_pending) {
        size_t cap = w->cap_pending != 0 ? w->cap_pending * 2 : 4;
        grown = realloc(w->pending, cap * sizeof(*grown));
        if (grown == NULL)
            return QN_ENOMEM;
        w->pending = grown;
        w->cap_pending = cap;
    }
    ev = malloc(sizeof(*ev));
    if (ev == NULL)
        return QN_ENOMEM;
    build_event(a, ev);
    w->pending[w->n_pending++] = ev;
    return QN_OK;
}

/* Drop the alerts of the current entry that were not handed on (an error or a stop). */
void jw_drop_pending(struct jw *w)
{
    size_t i;

    for (i = 0; i < w->n_pending; i++)
        free(w->pending[i]);
    w->n_pending = 0;
}
