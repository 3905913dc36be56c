/*
 * state — how far qqnotify-journal has read: the position (the cursor of
 * the last entry whose effects are recorded, and its time) and the state
 * file in the spool that keeps it, with the rules' threshold state, across
 * restarts.
 *
 * The file (state/journal.cursor, or a name derived from the source for
 * --directory and --file, so two watchers sharing a spool do not overwrite
 * each other's position), version 1:
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
 * renamed into state/).  After an entry that raised alerts the writer
 * thread (writer.h) replaces it once those alerts are durably in the spool,
 * without waiting for state/ to reach the disk (jw_state_write_nowait):
 * the file only has to lag the alerts, never lead them, and it cannot lead
 * them since each alert was durable before the file named its entry.
 * After a power cut it may be an earlier version, so the alerts since the
 * last durable save can come again (never fewer).  The saves at start, at
 * idle and on exit wait for the disk (jw_state_save).
 *
 * Ownership: struct jw_state is opaque; it owns the spool handle it reads
 * and writes the file through (qn_spool_open), the file's name and the
 * position.  The spool directory and the log given to jw_state_open() are
 * borrowed for the state's life; rules are borrowed for each call.
 *
 * Errors: every failure is logged here, naming the file and what to expect;
 * functions return a QN_EXIT_* code (open, load) or an enum qn_status.
 *
 * Thread-safety: the reader owns the state.  jw_state_write_nowait() alone
 * may run in another thread (the writer) at the same time as the reader's
 * calls, except jw_state_load(), jw_state_save() and jw_state_close(),
 * which use the spool handle too: it reads only what jw_state_open() set.
 */
#ifndef QN_JW_STATE_H
#define QN_JW_STATE_H

#include <stdbool.h>
#include <stddef.h>

#include "jw.h"
#include "log.h"
#include "rules.h"
#include "status.h"

struct jw_state;

/*
 * Open (creating what is missing) the spool SPOOL_DIR and name the state
 * file for the source of KIND at SOURCE_PATH (NULL for the local journal;
 * the same directory named two ways gets the same file).  No position yet:
 * jw_state_load() reads it.  QN_EXIT_OK, QN_EXIT_IOERR or QN_EXIT_OSERR
 * (logged).
 */
int jw_state_open(struct jw_state **ret, const char *spool_dir, enum jw_source_kind kind,
                  const char *source_path, const struct qn_log *log);

/* Close the spool and free ST (NULL is fine).  Returns NULL. */
struct jw_state *jw_state_close(struct jw_state *st);

/*
 * Read the state file: the position, and the threshold state into RULES.
 * No file: no position.  A damaged file is reported and treated as absent
 * (reading starts at the tail): refusing to start would lose every alert
 * from now on to save some from the past.  Damaged threshold counts alone
 * are reported and start from zero.  QN_EXIT_OK; QN_EXIT_IOERR when the
 * file cannot be read, QN_EXIT_OSERR.
 */
int jw_state_load(struct jw_state *st, struct qn_rules *rules);

/* The cursor of the position, "" when there is none yet.  Valid until the next change. */
const char *jw_state_cursor(const struct jw_state *st);

/* The position becomes CURSOR (at most JW_CURSOR_MAX - 1 bytes) at TIME_USEC (-1: unknown,
 * keep the time of the previous position). */
void jw_state_set_position(struct jw_state *st, const char *cursor, long long time_usec);

/* Whether a position was saved: a sound state file was loaded, or one was written since, or
 * its text handed to the writer (jw_state_handed_on). */
bool jw_state_saved(const struct jw_state *st);

/* The text of jw_state_text() was handed to the writer, which writes it. */
void jw_state_handed_on(struct jw_state *st);

/*
 * The file's text for the position and RULES' threshold state into *RET
 * (malloc'd, the caller frees; *RET_LEN bytes).  QN_EINVAL when there is
 * no position yet (nothing to write); QN_ENOMEM or QN_ETOOBIG (logged).
 */
enum qn_status jw_state_text(const struct jw_state *st, const struct qn_rules *rules, char **ret,
                             size_t *ret_len);

/*
 * Write the file now (jw_state_text), waiting for the disk.  The caller
 * has made sure the writer has no job left, so the file follows every
 * alert before it and nobody else uses the spool handle.  QN_OK; QN_EINVAL
 * when there is no position yet (nothing written); else the failure,
 * logged: the alerts are safe already, and the worst outcome of a stale
 * position is that a restart repeats work.
 */
enum qn_status jw_state_save(struct jw_state *st, const struct qn_rules *rules);

/*
 * Replace the file with TEXT (LEN bytes, from jw_state_text) without
 * waiting for state/ to reach the disk.  For the writer thread (see
 * Thread-safety).  QN_OK, or the failure (logged).
 */
enum qn_status jw_state_write_nowait(const struct jw_state *st, const char *text, size_t len);

#endif
