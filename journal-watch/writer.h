/*
 * writer — the thread that puts alerts into the spool, then the position
 * after them into the state file, so that reading the journal never waits
 * for the disk.
 *
 * An alert has to be durable (fsync'd, with new/) before the state file
 * names its entry; that takes one to several milliseconds per alert on a
 * real disk, and seconds on a busy or failing one.  So the reader hands
 * each entry that raised alerts to this thread as a job: the events, and
 * the state text (cursor + threshold state, jw_state_text) right after
 * that entry.  The thread, in order: puts every event of the job into the
 * spool (qn_enqueue_event, retrying a spool that fails with growing
 * pauses), then replaces the state file with the job's text
 * (jw_state_write_nowait).  So the state file never leads the alerts, a
 * SIGKILL repeats at most the alerts of the job being written and never
 * skips one, and the jobs still queued are simply read again at the next
 * start.
 *
 * The queue is bounded (64 jobs): a reader that gets that
 * far ahead waits in jw_writer_submit(), and keeps the daemon alive
 * meanwhile through the callbacks it gave (struct jw_writer_setup): the
 * writer knows nothing of signals or the watchdog.  Saves that must be
 * durable (at start, idle and exit) first wait until the queue is empty
 * (jw_writer_drain at exit and with --once; at idle the save is simply put
 * off while jobs are queued, jw_writer_idle, so that a failing spool never
 * stops the reading), so they too follow every alert before them.  A state
 * write that fails here is logged and flagged for the reader, whose next
 * save makes up for it (jw_writer_take_state_failure).  A stop request
 * while the spool is failing abandons the queue (nothing more is written,
 * the state file stays where the last finished job left it).
 *
 * After each job the thread makes a descriptor readable
 * (jw_writer_wake_fd) that the reader polls while idle, so STATUS= follows
 * the alerts without a timer.
 *
 * Ownership: struct jw_writer is opaque; it owns the thread, the queue and
 * the jobs in it (events and state texts handed over by jw_writer_submit)
 * and the descriptor.  What struct jw_writer_setup points to is borrowed
 * until jw_writer_stop().
 *
 * Thread-safety: every function here is for the reader, one thread.
 * Between the reader and the thread, everything shared is under one mutex;
 * the thread touches only its jobs, the spool directory (qn_enqueue_event
 * opens its own descriptors), the state file through jw_state_write_nowait
 * (the reader writes it only when the queue is empty) and the log (one
 * write(2) per line).  The callbacks run in the reader's thread.
 */
#ifndef QN_JW_WRITER_H
#define QN_JW_WRITER_H

#include <stdbool.h>
#include <stddef.h>

#include "event.h"
#include "log.h"
#include "state.h"

struct jw_writer;

struct jw_writer_setup {
    const char *spool_dir;        /* where the events go ... */
    size_t max_entry_size;        /* ... and how large one may be ([spool] max_entry_size) */
    const struct jw_state *state; /* where the position after each job goes */
    const struct qn_log *log;
    /* The reader, while it waits for room in the queue or for the queue to drain.
     * STOP_REQUESTED: whether the daemon was asked to stop (then a failing spool is given
     * up on); called with the writer's lock held, so it only reads a flag.  KEEP_ALIVE:
     * called every 250 ms of waiting, to feed the watchdog and read signals. */
    bool (*stop_requested)(void *ctx);
    void (*keep_alive)(void *ctx);
    void *reader_ctx;
};

/* Start the thread (the caller's signal mask is inherited: block signals first).  0, or
 * -1 (logged). */
int jw_writer_start(struct jw_writer **ret, const struct jw_writer_setup *setup);

/* Write what is queued (giving up on a failing spool), join the thread and free Q (NULL is
 * fine).  Returns NULL. */
struct jw_writer *jw_writer_stop(struct jw_writer *q);

/*
 * Queue EVENTS (N_EVENTS of them, malloc'd, in a malloc'd array; NULL
 * when none) and STATE (the state text after them, malloc'd, STATE_LEN
 * bytes; NULL when there is none): taken in every case.  Waits while the
 * queue is full.  0, or -1: not queued (out of memory, or a stop while the
 * queue was full and the spool failing).
 */
int jw_writer_submit(struct jw_writer *q, struct qn_event **events, size_t n_events, char *state,
                     size_t state_len);

/* Wait until the queue is empty.  False: abandoned on a stop request. */
bool jw_writer_drain(struct jw_writer *q);

/* Whether nothing is queued (does not wait; true without a writer). */
bool jw_writer_idle(struct jw_writer *q);

/* Whether a state write failed since the last call. */
bool jw_writer_take_state_failure(struct jw_writer *q);

/* Events put into the spool so far. */
unsigned long long jw_writer_alerts(struct jw_writer *q);

/* The descriptor that becomes readable when a job is finished (poll it for POLLIN), and
 * what to call once it is: jw_writer_clear_wake(). */
int jw_writer_wake_fd(const struct jw_writer *q);
void jw_writer_clear_wake(struct jw_writer *q);

#endif
