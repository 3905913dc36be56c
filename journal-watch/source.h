/*
 * source — the journal qqnotify-journal reads: the local journal, a
 * directory or one file, through sd-journal (sd-journal(3)).
 *
 * It opens the journal, pushes the rules down as sd-journal matches,
 * positions the reading (after a saved cursor, at a --since time, or on
 * the last entry), steps from entry to entry, hands the current entry's
 * fields to the matcher, says when and how to wait for new entries, and
 * keeps the journal-file pages sd-journal maps within a byte budget
 * (pages.h).
 *
 * Ownership: struct jw_source is opaque; it owns the sd_journal handle,
 * the page measurement (struct jw_pages) and the buffer the field getter
 * answers from, and nothing else.  The log given to jw_source_open() is
 * borrowed for the source's life; rules are borrowed for each call.
 *
 * Errors: jw_source_open() and jw_source_position() log what failed and
 * return a QN_EXIT_* code (exit.h); the others return -errno (sd-journal's
 * convention) or log at debug level what they can do without.
 *
 * Thread-safety: none.  A source is used by one thread, the reader (an
 * sd_journal handle may not be shared between threads either).
 */
#ifndef QN_JW_SOURCE_H
#define QN_JW_SOURCE_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jw.h"
#include "log.h"
#include "rules.h"

struct jw_source;

/*
 * Open the journal of KIND (PATH: the directory or the file; NULL for the
 * local journal) into *RET.  SINCE_USEC (microseconds since the epoch, or
 * -1) is where jw_source_position() starts without a cursor.  LOG is
 * borrowed.  QN_EXIT_OK; QN_EXIT_NOINPUT when PATH does not exist;
 * QN_EXIT_IOERR or QN_EXIT_OSERR otherwise (logged).
 */
int jw_source_open(struct jw_source **ret, enum jw_source_kind kind, const char *path,
                   long long since_usec, const struct qn_log *log);

/* Close the journal and free S (NULL is fine).  Returns NULL. */
struct jw_source *jw_source_close(struct jw_source *s);

/*
 * Let sd-journal skip what no rule of RULES can match, using its field
 * indexes, when every rule has a field condition (qn_rules_filter); when
 * the matches cannot be added, every entry is read (logged).  Changing the
 * matches invalidates the read position: call jw_source_position() next.
 */
void jw_source_apply_filter(struct jw_source *s, const struct qn_rules *rules);

/*
 * Set the position for jw_source_next(): after CURSOR when it is not NULL
 * or "" (the entry under it, when it still exists, is skipped: it was
 * handled before), else at the since time given to jw_source_open(), else
 * on the last entry (a first start must not mail the whole history).
 * *RET_ON_ENTRY says whether the source now stands on an entry (the last
 * one): its cursor (jw_source_cursor) is then where reading begins.
 * QN_EXIT_OK, or QN_EXIT_IOERR (logged).
 */
int jw_source_position(struct jw_source *s, const char *cursor, bool *ret_on_entry);

/* Step to the next entry: 1, 0 at the end of the journal, or -errno. */
int jw_source_next(struct jw_source *s);

/*
 * The cursor of the current entry into BUF (SIZE bytes, NUL-terminated),
 * and its realtime timestamp into *RET_TIME_USEC (-1 when it cannot be
 * read).  0; -E2BIG when the cursor does not fit (BUF is then ""), or
 * sd-journal's -errno.
 */
int jw_source_cursor(struct jw_source *s, char *buf, size_t size, long long *ret_time_usec);

/* The current entry's realtime timestamp in microseconds, 0 if unreadable. */
long long jw_source_time(struct jw_source *s);

/*
 * The matcher's field getter (qn_rules_get_fn; CTX is the struct
 * jw_source): the value after "FIELD=" in the current entry, and its
 * timestamp as the pseudo field __REALTIME_TIMESTAMP (QN_RULES_TIME_ASK).
 * The value stays valid until the next call on S.
 */
int jw_source_get_field(void *ctx, const char *field, const void **ret_value, size_t *ret_len);

/* Offer every field of the current entry to RULES in one pass (for rule sets that read
 * fields other than MESSAGE on every entry, qn_rules_reads_fields_always). */
void jw_source_offer_fields(struct jw_source *s, struct qn_rules *rules);

/*
 * Whether the journal pages mapped now exceed BUDGET bytes: then
 * jw_source_trim() should run.  Without /proc: whether ENTRIES (read
 * since the last trim) reached the count between two trims.
 */
bool jw_source_over_budget(struct jw_source *s, size_t budget, unsigned long long entries);

/* Give back the journal-file pages mapped in this process (pages.h). */
void jw_source_trim(struct jw_source *s);

/*
 * How to wait for new entries: the descriptor and events to poll into
 * *RET_POLL, and in *RET_DEADLINE_USEC the CLOCK_MONOTONIC time at which
 * to look again even without an event (file systems without inotify), or
 * UINT64_MAX for none.  QN_EXIT_OK, or QN_EXIT_IOERR (logged).
 */
int jw_source_wait_for(struct jw_source *s, struct pollfd *ret_poll, uint64_t *ret_deadline_usec);

/*
 * After the wait: let sd-journal take in what changed.  *RET_INVALIDATED
 * says whether journal files were added or removed (rotation, vacuum), so
 * that the caller positions again after the last entry it read.
 * QN_EXIT_OK, or QN_EXIT_IOERR (logged).
 */
int jw_source_process(struct jw_source *s, bool *ret_invalidated);

#endif
