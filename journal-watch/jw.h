/*
 * qqnotify-journal — internal interfaces of the journal watcher.
 *
 *   main.c    command line, configuration, language, --check
 *   watch.c   the loop: read, match, wait; signals, sd_notify, reload
 *   source.c  sd-journal: open, filter, position, field getter, memory
 *             (its own header and struct: source.h)
 *   state.c   the position and the state file (cursor + thresholds): state.h
 *   alerts.c  the alerts of the entry being fed, as spool events: alerts.h
 *   writer.c  the thread that spools the events and then writes the state: writer.h
 *   pages.c   journal-file pages mapped by sd-journal: measured, given back
 *             (its own header: the journal benchmark's floor links it too)
 *
 * Position and delivery (the contract the tests check): an alert is
 * durably in the spool before the state file says its entry was seen, so
 * a crash between the two repeats at most that alert and never skips one.
 * The state file holds the cursor of the last entry whose effects it
 * records and the rules' threshold state at that entry, written together
 * atomically: replaying from the cursor rebuilds exactly what was lost.
 * Both writes happen in the writer thread, in entry order, so reading
 * never waits for the disk.
 */
#ifndef QN_JW_H
#define QN_JW_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alerts.h"
#include "config.h"
#include "exit.h"
#include "i18n.h"
#include "log.h"
#include "rules.h"
#include "spool.h"


#define JW_DEFAULT_RULES_DIR  "/etc/qqnotify/rules.d" /* beside QN_CONFIG_DEFAULT_PATH */
#define JW_CURSOR_MAX         1024                    /* sd-journal cursors are ~150 bytes */
#define JW_MAPPED_MAX         (40u << 20)  /* journal file pages kept mapped, bytes ... */
#define JW_MAPPED_IDLE_MAX    (4u << 20)   /* ... and when idle */
#define JW_MAPPED_LOOK_EVERY  256          /* entries between looks at /proc/self/statm */
#define JW_CHECK_EVERY        1024         /* entries between looks at signals and the watchdog */
#define JW_IDLE_SAVE_ENTRIES  100000       /* save at idle after this many entries ... */
#define JW_IDLE_SAVE_SECONDS  30           /* ... or this long since the last save */

enum jw_source_kind {
    JW_SOURCE_LOCAL = 0, /* the local system journal */
    JW_SOURCE_DIRECTORY, /* --directory DIR */
    JW_SOURCE_FILE,      /* --file FILE */
};

struct jw_options {
    const char *config_path;
    bool config_explicit;
    const char *rules_dir;
    enum jw_source_kind source;
    const char *source_path;
    const char *since;
    long long since_usec; /* parsed --since, or -1 */
    bool once;
    bool check;
};

struct jw {
    struct jw_options opt;
    struct qn_log log;
    struct qn_config cfg;
    struct qn_rules *rules;
    struct jw_source *source;
    struct jw_state *state;
    int signal_fd;

    /* saves */
    unsigned long long unsaved; /* entries processed since the state was last written */
    long long last_save_mono;   /* CLOCK_MONOTONIC seconds of the last write */

    /* alerts of the entry being fed, handed to the writer with the state after it */
    struct jw_alerts alerts;
    struct jw_writer *writer;

    /* signals seen */
    bool stop;
    bool reload;

    /* counters for STATUS= and the final log line */
    unsigned long long entries;
    unsigned long long status_alerts; /* what the last STATUS= said */
    size_t status_rules;
    bool status_sent;
    uint64_t watchdog_usec; /* 0: no watchdog */
    long long last_ping_usec;
};

/* main.c */
int jw_load_rules(struct jw *w, struct qn_rules **ret, bool report_all);

/* watch.c */
int jw_run(struct jw *w);

#endif
