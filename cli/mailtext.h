/*
 * mailtext — the subject and plain text of a message handed to `qqnotify
 * sendmail`, for a chat robot route (webhook.h: its summarize hook), which
 * shows a message as a title and lines of text rather than as a mail.
 *
 * Standards: RFC 5322 (the header block, through message.h), RFC 2047 (the
 * subject's encoded-words), RFC 2045 section 6 (base64, quoted-printable,
 * 7bit, 8bit, binary), RFC 2046 section 5.1 (multipart: the first
 * text/plain part, looked for at most QN_MAILTEXT_DEPTH levels deep; else
 * the first text/html part with its tags taken out; else a line naming
 * what the message holds).  The text is read as UTF-8, or as GB18030 when
 * it is not UTF-8 (qn_text_decode: what Chinese mail uses); other charsets
 * are read the same way, which keeps ASCII and repairs the rest.
 *
 * Bounds: the body looked at is QN_MAILTEXT_BODY_MAX bytes, a part's
 * boundary QN_MAILTEXT_BOUNDARY_MAX; the outputs are the caller's capped
 * buffers, cut (on a character boundary) where they are full: the robot
 * cuts again to its platform's size anyway.
 *
 * Hand-written beside message.h, its one user being flush's robot
 * transport: no library in our set reads MIME bodies.  Thread-safe; never
 * logs or exits.
 */
#ifndef QN_MAILTEXT_H
#define QN_MAILTEXT_H

#include <stddef.h>

#include "buf.h"
#include "status.h"

#define QN_MAILTEXT_BODY_MAX     (256 * 1024) /* bytes of the raw body looked at */
#define QN_MAILTEXT_BOUNDARY_MAX 70           /* RFC 2046: a boundary's length */
#define QN_MAILTEXT_DEPTH        3            /* multipart levels looked into */

/*
 * The subject (decoded, one line; "" when there is none) into SUBJECT and
 * the plain text into TEXT of the LEN-byte message MSG (both reset first).
 * ARG is unused (the summarize hook's signature).  QN_OK (also when the
 * outputs had to be cut); QN_ENOMEM.
 */
enum qn_status qn_mailtext_summary(void *arg, const char *msg, size_t len, struct qn_buf *subject,
                                   struct qn_buf *text);

#endif
