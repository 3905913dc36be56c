/*
 * qqnotify-journal — its modules, and the little they share.
 *
 *   main.c    the program: command line, configuration, language, the
 *             rules loader, --check; it wires the loop (watch.h)
 *   watch.c   the loop: read, match, hand the alerts on, save, wait;
 *             signals, sd_notify, reload (watch.h)
 *   source.c  the journal read, through sd-journal (source.h)
 *   state.c   the position and the state file: cursor + thresholds (state.h)
 *   alerts.c  the alerts of the entry being fed, as spool events (alerts.h)
 *   writer.c  the thread that spools the alerts, then the position (writer.h)
 *   pages.c   journal-file pages mapped by sd-journal: measured, given back
 *             (pages.h; the journal benchmark's floor links it too)
 *   rules_parse.c, rules_match.c, rules_state.c
 *             the rules engine (rules.h; rules_internal.h is its private
 *             header): rules files to compiled rules, entries to alerts,
 *             thresholds and cooldowns
 *
 * Each module owns the struct of its job; calls run one way:
 * main -> watch -> {source, state, alerts, writer, the rules (rules.h)},
 * writer -> state (jw_state_write_nowait), source -> pages.  Whatever a
 * lower module needs from a higher one is handed down as a callback: the
 * rules loader the loop calls on SIGHUP, what the writer calls while the
 * reader waits for it.
 *
 * Position and delivery (the contract the tests check): an alert is
 * durably in the spool before the state file says its entry was seen, so
 * a crash between the two repeats at most that alert and never skips one.
 * The state file holds the cursor of the last entry whose effects it
 * records and the rules' threshold state at that entry, written together
 * atomically: replaying from the cursor rebuilds exactly what was lost.
 * Both writes happen in the writer thread, in entry order, so reading
 * never waits for the disk.
 *
 * This header holds only what several modules share: the kinds of source
 * and the bound on a cursor.
 */
#ifndef QN_JW_H
#define QN_JW_H

#define JW_CURSOR_MAX 1024 /* bytes, with the NUL; sd-journal cursors are ~150 bytes */

enum jw_source_kind {
    JW_SOURCE_LOCAL = 0, /* the local system journal */
    JW_SOURCE_DIRECTORY, /* --directory DIR */
    JW_SOURCE_FILE,      /* --file FILE */
};

#endif
