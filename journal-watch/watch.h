/*
 * watch — the daemon's loop.
 *
 *   read entries (source.h) and feed each to the rules; hand the alerts
 *   of an entry (alerts.h), with the position after it (state.h), to the
 *   writer thread (writer.h);
 *   at the end of the journal: --once stops; otherwise save the position
 *   if much was read, and sleep in poll() on the journal's inotify fd,
 *   a signalfd and the writer's wake-up descriptor, with no timeout unless
 *   systemd asked for watchdog pings;
 *   files added or removed (rotation, vacuum): read on after the last
 *   entry read, so a file vanishing under the read position cannot lose or
 *   repeat anything;
 *   SIGHUP reloads the rules (all or nothing) through the loader it was
 *   given, keeping the position and the counts of unchanged rules; SIGTERM
 *   and SIGINT save and exit.
 *
 * Signals arrive through a signalfd (blocked otherwise), so there is no
 * handler, no global flag and no race between checking a flag and
 * sleeping.  While catching up on a long backlog the loop looks at the
 * signalfd every 1024 entries.  systemd hears READY=1, RELOADING=1,
 * STOPPING=1, STATUS= (the rules loaded and the alerts sent, when that
 * changed) and WATCHDOG=1 (sd_notify(3)).
 *
 * Ownership: jw_watch_run() takes the rules it is given (and the sets it
 * reloads) and frees them; it opens and closes the source, the state and
 * the writer.  What struct jw_watch_setup points to is borrowed for the
 * run.
 *
 * Errors: logged where they happen; jw_watch_run() returns a QN_EXIT_*
 * code (exit.h): a stop request is QN_EXIT_OK, anything else that ends
 * the loop a failure, so that systemd's Restart=on-failure applies.
 *
 * Thread-safety: jw_watch_run() blocks SIGTERM, SIGINT and SIGHUP in the
 * calling thread, starts the writer thread (which inherits that mask) and
 * joins it before returning.  Call it once per process.
 */
#ifndef QN_JW_WATCH_H
#define QN_JW_WATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "jw.h"
#include "log.h"
#include "rules.h"

/* Load a fresh set of rules into *RET: QN_EXIT_OK, or an exit code with every problem
 * logged (the set in use then stays). */
typedef int jw_rules_load_fn(void *ctx, struct qn_rules **ret);

struct jw_watch_setup {
    const struct qn_log *log;
    enum jw_source_kind source;
    const char *source_path;      /* the directory or the file; NULL for the local journal */
    long long since_usec;         /* a first start reads from here (epoch usec), or -1: the end */
    bool once;                    /* stop at the end of the journal */
    const char *spool_dir;        /* where the alerts and the state file go */
    size_t max_entry_size;        /* [spool] max_entry_size */
    const char *rules_dir;        /* named in messages */
    jw_rules_load_fn *load_rules; /* on SIGHUP, with LOAD_CTX */
    void *load_ctx;
};

/* Follow the journal until a stop (or its end, with ONCE), matching RULES (taken, freed in
 * every case).  Returns the exit code. */
int jw_watch_run(const struct jw_watch_setup *setup, struct qn_rules *rules);

#endif
