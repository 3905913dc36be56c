/*
 * entryread — the strict reader of the spool's entry format (versions 1 and
 * 2, enqueue.h): the header lines in their fixed order, each value
 * unescaped and checked, the payload exactly its stated size, an event's
 * payload parsed (event.h).  Anything else is refused: the caller
 * quarantines a corrupt entry, qqnotify-drop refuses a submission.  The
 * spool (spool.c) reads entries with it; nothing else should.
 *
 * Bounds: the header lines are looked for in the first QN_SPOOL_HEADER_MAX
 * bytes; text values are cut to their arrays (sanitised), addresses checked
 * like a producer's (qn_enqueue_address_check), numbers canonical decimal
 * within their type.
 *
 * Memory: only qn_entryread_whole allocates (a message's bytes, handed to
 * the entry).  libc only (with text.c, event.c, enqueue.c).  No global
 * state; thread-safe.
 */
#ifndef QN_ENTRYREAD_H
#define QN_ENTRYREAD_H

#include <stdbool.h>
#include <stddef.h>

#include "spool.h"
#include "status.h"

/* True when the N bytes at S are decimal digits, at least one, and, with NO_LEADING_ZERO,
 * no leading zero unless S is "0". */
bool qn_entryread_digits(const char *s, size_t n, bool no_leading_zero);

/*
 * The lines every version has, up to next-try (version, type, and for
 * version 2 origin, uid and lane; queued, attempts, next-try), from the LEN
 * bytes at DATA into E; *RET_VERSION gets 1 or 2.  What a pass is chosen by
 * (qn_spool_peek).  False when they are not exactly as the format says.
 */
bool qn_entryread_prefix(const char *data, size_t len, struct qn_spool_entry *e,
                         unsigned *ret_version);

/*
 * Every header line of an entry of TOTAL bytes whose first AVAIL bytes are
 * at DATA, into E, and the payload's offset into *RET_OFFSET: the payload
 * must be exactly TOTAL minus the offset.  False on any deviation.
 */
bool qn_entryread_header(const char *data, size_t avail, size_t total, struct qn_spool_entry *e,
                         size_t *ret_offset, unsigned *ret_version);

/* A version 1 event's lane, from its kind (qn_enqueue_lane). */
void qn_entryread_version1_lane(struct qn_spool_entry *e);

/*
 * Fill E from a whole entry of SIZE bytes in *DATA (heap, SIZE + 1
 * bytes): the header, then the event, or the message, which takes *DATA
 * over (moved to the front; *DATA is then NULL).  QN_EINVAL, or QN_OK.
 */
enum qn_status qn_entryread_whole(char **data, size_t size, struct qn_spool_entry *e);

#endif
