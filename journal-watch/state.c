/*
 * state — see state.h.
 */
#include "state.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "exit.h"
#include "i18n.h"
#include "spool.h"

#define STATE_HEADER          "qqnotify-journal-state 1"
#define JW_STATE_RULES_BUDGET (200 * 1024) /* bytes of threshold state in the file */

struct jw_state {
    struct qn_spool *spool;
    const char *spool_dir; /* borrowed: for messages */
    const struct qn_log *log;
    char name[QN_SPOOL_STATE_NAME_MAX];
    char cursor[JW_CURSOR_MAX]; /* of the position, or "" */
    long long cursor_time;      /* its realtime timestamp */
    bool saved;                 /* a state file exists (or was written, or is on its way) */
};

static unsigned long long fnv1a(const char *s)
{
    unsigned long long h = 0xcbf29ce484222325ULL;

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void state_name(enum jw_source_kind kind, const char *source_path, char *out, size_t outsz)
{
    char real[PATH_MAX];
    const char *path;

    if (kind == JW_SOURCE_LOCAL) {
        snprintf(out, outsz, "journal.cursor");
        return;
    }
    /* The same directory named two ways must get the same state. */
    path = realpath(source_path, real) != NULL ? real : source_path;
    snprintf(out, outsz, "journal-%s-%016llx.cursor", kind == JW_SOURCE_DIRECTORY ? "dir" : "file",
             fnv1a(path));
}

int jw_state_open(struct jw_state **ret, const char *spool_dir, enum jw_source_kind kind,
                  const char *source_path, const struct qn_log *log)
{
    struct jw_state *st;

    st = calloc(1, sizeof(*st));
    if (st == NULL) {
        qn_log(log, LOG_ERR, "%s", _(qn_strerror(QN_ENOMEM)));
        return QN_EXIT_OSERR;
    }
    if (qn_spool_open(spool_dir, QN_SPOOL_CREATE, 0, &st->spool) != QN_OK) {
        qn_log(log, LOG_ERR, _("cannot open the spool %s: %s"), spool_dir, strerror(errno));
        free(st);
        return QN_EXIT_IOERR;
    }
    st->spool_dir = spool_dir;
    st->log = log;
    state_name(kind, source_path, st->name, sizeof(st->name));
    *ret = st;
    return QN_EXIT_OK;
}

struct jw_state *jw_state_close(struct jw_state *st)
{
    if (st == NULL)
        return NULL;
    qn_spool_close(st->spool);
    free(st);
    return NULL;
}

int jw_state_load(struct jw_state *st, struct qn_rules *rules)
{
    size_t cap = QN_SPOOL_STATE_MAX + 1, len = 0, n;
    const char *p, *end, *nl;
    char *buf;
    enum qn_status r;
    int rc = QN_EXIT_OK;

    st->cursor[0] = '\0';
    buf = malloc(cap);
    if (buf == NULL)
        return QN_EXIT_OSERR;
    r = qn_spool_state_read(st->spool, st->name, buf, cap, &len);
    if (r == QN_ENOTFOUND)
        goto out;
    if (r != QN_OK) {
        qn_log(st->log, LOG_ERR, _("cannot read the journal position %s/state/%s: %s%s%s"),
               st->spool_dir, st->name, _(qn_strerror(r)), r == QN_EIO ? ": " : "",
               r == QN_EIO ? strerror(errno) : "");
        rc = QN_EXIT_IOERR;
        goto out;
    }
    st->saved = true;
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
    if (n == 0 || n >= sizeof(st->cursor))
        goto damaged;
    memcpy(st->cursor, p + 7, n);
    st->cursor[n] = '\0';
    p = nl + 1;
    /* time line */
    nl = memchr(p, '\n', (size_t)(end - p));
    if (nl == NULL || nl - p < 6 || memcmp(p, "time ", 5) != 0)
        goto damaged;
    st->cursor_time = strtoll(p + 5, NULL, 10);
    p = nl + 1;
    if (qn_rules_state_load(rules, p, (size_t)(end - p)) != QN_OK)
        qn_log(st->log, LOG_WARNING,
               _("the threshold counts in %s/state/%s are damaged: counting starts from zero"),
               st->spool_dir, st->name);
    goto out;
damaged:
    st->cursor[0] = '\0';
    st->saved = false; /* write a sound one as soon as there is a position */
    qn_log(st->log, LOG_ERR,
           _("the journal position in %s/state/%s is damaged: starting at the end of the "
             "journal (entries since the last position are not looked at)"),
           st->spool_dir, st->name);
out:
    free(buf);
    return rc;
}

const char *jw_state_cursor(const struct jw_state *st)
{
    return st->cursor;
}

void jw_state_set_position(struct jw_state *st, const char *cursor, long long time_usec)
{
    snprintf(st->cursor, sizeof(st->cursor), "%s", cursor);
    if (time_usec >= 0)
        st->cursor_time = time_usec;
}

bool jw_state_saved(const struct jw_state *st)
{
    return st->saved;
}

void jw_state_handed_on(struct jw_state *st)
{
    st->saved = true;
}

static void report_write_error(const struct jw_state *st, enum qn_status r)
{
    qn_log(st->log, LOG_ERR, _("cannot save the journal position in %s/state/%s: %s%s%s"),
           st->spool_dir, st->name, _(qn_strerror(r)), r == QN_EIO ? ": " : "",
           r == QN_EIO ? strerror(errno) : "");
}

enum qn_status jw_state_text(const struct jw_state *st, const struct qn_rules *rules, char **ret,
                             size_t *ret_len)
{
    struct qn_buf b;
    enum qn_status r;

    *ret = NULL;
    *ret_len = 0;
    if (st->cursor[0] == '\0')
        return QN_EINVAL;
    qn_buf_init(&b, QN_SPOOL_STATE_MAX);
    r = qn_buf_printf(&b, STATE_HEADER "\ncursor %s\ntime %lld\n", st->cursor, st->cursor_time);
    if (r == QN_OK)
        r = qn_rules_state_save(rules, st->cursor_time, JW_STATE_RULES_BUDGET, &b);
    if (r == QN_OK) {
        *ret = qn_buf_steal(&b, ret_len);
        if (*ret == NULL)
            r = QN_ENOMEM;
    }
    qn_buf_free(&b);
    if (r != QN_OK)
        report_write_error(st, r);
    return r;
}

enum qn_status jw_state_save(struct jw_state *st, const struct qn_rules *rules)
{
    enum qn_status r;
    size_t len;
    char *text;

    r = jw_state_text(st, rules, &text, &len);
    if (r != QN_OK)
        return r;
    r = qn_spool_state_write(st->spool, st->name, text, len);
    free(text);
    if (r != QN_OK)
        report_write_error(st, r);
    else
        st->saved = true;
    return r;
}

enum qn_status jw_state_write_nowait(const struct jw_state *st, const char *text, size_t len)
{
    /* The job's alerts are durable already; the position only has to follow them. */
    enum qn_status r = qn_spool_state_write_nowait(st->spool, st->name, text, len);

    if (r != QN_OK)
        report_write_error(st, r);
    return r;
}
