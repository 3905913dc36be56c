/*
 * mime — build an RFC 5322 message with RFC 2045-2047 encodings.
 *
 * Standards: RFC 5322 (message format, line limit 998, folding), RFC 2045
 * (MIME, base64 with 76-character lines), RFC 2046 (multipart/alternative),
 * RFC 2047 (encoded-words, each at most 75 characters, UTF-8 "B" encoding),
 * RFC 3282/2231 not used.
 *
 * Guarantees, whatever the input:
 * - every header value is single-line: CR, LF and other control characters
 *   in input are replaced, invalid UTF-8 is repaired (U+FFFD), never passed;
 * - any non-ASCII in a display name or the subject becomes encoded-words,
 *   split on character boundaries, folded so no line exceeds 78 octets;
 * - bodies are UTF-8, base64-encoded (lines of 76), so no body byte can end
 *   the SMTP DATA phase or forge a header;
 * - output lines end in CRLF.
 *
 * The message is written to a caller-owned struct qn_buf (its max bounds
 * the size).  Message-ID and boundary come from OpenSSL's RAND_bytes
 * unless the caller fixes them (tests do).  Thread-safe.
 */
#ifndef QN_MIME_H
#define QN_MIME_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "status.h"

struct qn_mime_message {
    const char *from_name;       /* display name, UTF-8, may be NULL */
    const char *from_addr;       /* addr-spec, required, e.g. "123456@qq.com" */
    const char *const *to;       /* addr-specs, at least one */
    size_t n_to;
    const char *reply_to;        /* addr-spec or NULL */
    const char *subject;         /* UTF-8, may be NULL (empty subject) */
    const char *text;            /* UTF-8 plain-text body, required */
    const char *html;            /* UTF-8 HTML body or NULL; then multipart/alternative */
    time_t date;                 /* 0: now */
    const char *message_id;      /* full "<...>" or NULL: generated from from_addr's domain */
    const char *boundary;        /* or NULL: generated */
};

/*
 * Append the whole message (headers, blank line, body) to OUT.
 * QN_EINVAL: from_addr or a recipient is not a plausible addr-spec (must
 * contain one '@', no spaces, no control characters, no <>,;:"\ ), or text
 * is NULL.  QN_ETOOBIG: OUT's max was reached.  QN_ENOMEM.  On error OUT
 * may hold a partial message: reset it before reuse.
 */
enum qn_status qn_mime_build(const struct qn_mime_message *m, struct qn_buf *out);

/*
 * Append "NAME: value" for an unstructured header (RFC 5322 section 3.6.5),
 * sanitised and encoded as above, folded, ending in CRLF.
 */
enum qn_status qn_mime_header_text(struct qn_buf *out, const char *name, const char *value);

/* True when S is a plausible addr-spec (see qn_mime_build). */
int qn_mime_addr_valid(const char *s);

/* Append the N bytes at P base64-encoded, in lines of 76 ending in CRLF. */
enum qn_status qn_mime_base64_body(struct qn_buf *out, const void *p, size_t n);

#endif
