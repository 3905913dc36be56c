/*
 * redact — take every trace of a secret out of text a peer sent back.
 *
 * A server may quote what it was sent: an SMTP server its AUTH line in a
 * 535 reply, a chat robot's HTTP endpoint the route's key (from the URL)
 * or its signing secret in an error body.  Such text is printed, logged and
 * kept in the spool, so every run of QN_REDACT_RUN or more characters that
 * also occurs in one of a secret's forms is overwritten with '*', wherever
 * it is in the text and however short the quote: a reply that quotes the
 * AUTH PLAIN argument minus its last 4 characters loses all of it but the
 * parts shorter than QN_REDACT_RUN at its ends.  A secret shorter than
 * QN_REDACT_RUN is removed wherever it appears whole.
 *
 * The forms of a secret S (each one matched ignoring ASCII case):
 *   QN_REDACT_RAW     S itself;
 *   QN_REDACT_BASE64  the base64 of S, of S without its first byte and of S
 *                     without its first two (so that S inside any longer
 *                     base64-encoded string, such as AUTH PLAIN's
 *                     "\0user\0S", is found whatever its alignment), each in
 *                     the standard and the URL-safe alphabet (RFC 4648
 *                     sections 4 and 5), with padding;
 * and of each of these: percent-encoded as a URL component (RFC 3986: all
 * but the unreserved characters), percent-encoded byte by byte, form
 * encoded (WHATWG application/x-www-form-urlencoded: alphanumerics and
 * "*-._" kept, space as '+'), as a JSON string (RFC 8259: \", \\, \/ and
 * \u00XX for control characters), and in hexadecimal.
 *
 * How: the text's runs of QN_REDACT_RUN characters are put into a hash
 * table (they are not secret); each form is then generated one byte at a
 * time and its runs looked up there.  No form is ever stored: the only
 * secret-derived bytes held are the last QN_REDACT_RUN of the form being
 * generated, on the stack, wiped before returning.  Time is linear in the
 * text plus the secrets' lengths (at most QN_REDACT_FORMS forms of at most
 * 6 bytes per secret byte each); memory is about 24 bytes per byte of text,
 * for at most QN_REDACT_TEXT_MAX bytes: on the stack (about 30 KiB) for a
 * text of up to 1 KiB, so that an SMTP reply line or an error's text is
 * redacted without allocating, else on the heap, freed before returning.
 *
 * Ownership: struct qn_redact only points at the caller's secrets (it
 * copies nothing), which must stay valid and unchanged until the last
 * qn_redact_apply(); it holds no other state and needs no cleanup.
 * Thread-safe for distinct texts; no global state; libc only (so the
 * secret program and every transport may use it).  Library code: never
 * logs or exits.
 */
#ifndef QN_REDACT_H
#define QN_REDACT_H

#include <stddef.h>

#include "status.h"

#define QN_REDACT_RUN         6           /* a run this long of a form is removed */
#define QN_REDACT_SECRETS_MAX 4           /* secrets one struct qn_redact names */
#define QN_REDACT_SECRET_MAX  4096        /* bytes of one secret */
#define QN_REDACT_TEXT_MAX    (64 * 1024) /* bytes of text one call looks at */
#define QN_REDACT_FORMS       42          /* forms of one secret with both flags */

/* Which forms of a secret to remove (qn_redact_add). */
enum {
    QN_REDACT_RAW = 1 << 0,
    QN_REDACT_BASE64 = 1 << 1,
};

struct qn_redact {
    size_t n;
    struct {
        const unsigned char *data;
        size_t len;
        unsigned forms;
    } secret[QN_REDACT_SECRETS_MAX];
};

/* An empty set: nothing to remove. */
void qn_redact_init(struct qn_redact *rd);

/*
 * Remove the FORMS (QN_REDACT_RAW, QN_REDACT_BASE64, or both) of the LEN bytes
 * at SECRET too.  SECRET is not copied (see the top).  QN_OK; QN_EINVAL (LEN 0
 * or no form); QN_ETOOBIG (more than QN_REDACT_SECRET_MAX bytes, or
 * QN_REDACT_SECRETS_MAX secrets already).
 */
enum qn_status qn_redact_add(struct qn_redact *rd, const void *secret, size_t len, unsigned forms);

/*
 * Overwrite with '*' every byte of the LEN bytes at TEXT (need not be
 * NUL-terminated) that is inside a run of QN_REDACT_RUN or more characters
 * also found in a form of a secret of RD; nothing else changes.  *RET_REMOVED
 * (when not NULL) gets the number of bytes overwritten.  QN_OK; QN_ENOMEM
 * (then, to be safe, the whole text is overwritten); QN_ETOOBIG: LEN is over
 * QN_REDACT_TEXT_MAX (the text is overwritten too).
 */
enum qn_status qn_redact_apply(const struct qn_redact *rd, char *text, size_t len,
                               size_t *ret_removed);

#endif
