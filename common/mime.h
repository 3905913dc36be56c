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
 *   split on character boundaries, folded so no line exceeds 78 octets
 *   (only a line that holds a single long address, or a caller-given long
 *   Message-ID or boundary, can be longer, at most QN_MIME_HEADER_NAME_MAX +
 *   QN_MIME_ADDR_MAX + 4 octets; no line ever exceeds 998);
 * - bodies are UTF-8, base64-encoded (lines of 76), so no body byte can end
 *   the SMTP DATA phase or forge a header;
 * - output lines end in CRLF.
 *
 * The message is written to a caller-owned struct qn_buf (its max bounds
 * the size).  Message-ID and boundary come from OpenSSL's RAND_bytes
 * unless the caller fixes them (tests do).  Thread-safe.
 *
 * Header values are first passed through qn_text_sanitize_line() and cut to
 * QN_MIME_VALUE_MAX bytes (ending in "…").  A display name or subject stays
 * plain ASCII only when it is printable ASCII, holds no "=?" (which a reader
 * would take for an encoded-word) and no word longer than fits on the first
 * line; a display name with RFC 5322 specials is then a quoted-string.
 * Anything else is encoded whole as "=?UTF-8?B?...?=" words separated by
 * folding white space, which readers drop when decoding.  Text bodies get
 * invalid UTF-8 repaired and every line break (CR, LF, CRLF) made CRLF
 * before base64 (RFC 2046 section 4.1.1).
 */
#ifndef QN_MIME_H
#define QN_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "status.h"

#define QN_MIME_LINE_MAX         998  /* RFC 5322 section 2.1.1: never exceeded */
#define QN_MIME_LINE_SOFT        78   /* RFC 5322 section 2.1.1: kept to in headers we fold */
#define QN_MIME_ENCODED_WORD_MAX 75   /* RFC 2047 section 2 */
#define QN_MIME_VALUE_MAX        2048 /* bytes of a sanitised display name or subject */
#define QN_MIME_ADDR_MAX         254  /* bytes of an addr-spec (RFC 5321 path limit less <>) */
#define QN_MIME_RECIPIENTS_MAX   100  /* To addresses per message */
#define QN_MIME_HEADER_NAME_MAX  40   /* bytes of a header field name we write */
#define QN_MIME_MESSAGE_ID_MAX   250  /* bytes of a caller-given Message-ID with its <> */
#define QN_MIME_BOUNDARY_MAX     70   /* RFC 2046 section 5.1.1 */

struct qn_mime_message {
    const char *from_name; /* display name, UTF-8, may be NULL */
    const char *from_addr; /* addr-spec, required, e.g. "123456@qq.com" */
    const char *const *to; /* addr-specs, at least one */
    size_t n_to;
    const char *reply_to;   /* addr-spec or NULL */
    const char *subject;    /* UTF-8, may be NULL (empty subject) */
    const char *text;       /* UTF-8 plain-text body, required */
    const char *html;       /* UTF-8 HTML body or NULL; then multipart/alternative */
    time_t date;            /* 0: now */
    const char *message_id; /* full "<...>" or NULL: generated from from_addr's domain */
    const char *boundary;   /* or NULL: generated */
};

/*
 * Append the whole message (headers, blank line, body) to OUT.  Headers, in
 * this order: Date (UTC, "+0000"), From, To, Reply-To (when set), Subject,
 * Message-ID, MIME-Version, Content-Type, Content-Transfer-Encoding.
 * QN_EINVAL: from_addr, reply_to or a recipient is not a plausible
 * addr-spec (see qn_mime_addr_valid), to is NULL or empty, text is NULL,
 * message_id is not "<id-left@id-right>" of printable ASCII within
 * QN_MIME_MESSAGE_ID_MAX, boundary is not 1..70 RFC 2046 bchars without
 * space, or date is outside the years 1900..9999.  Nothing is written then.
 * QN_ETOOBIG: more than QN_MIME_RECIPIENTS_MAX recipients (nothing written),
 * or OUT's max was reached.  QN_EIO: RAND_bytes failed.  QN_ENOMEM.  On
 * these last errors OUT may hold a partial message: reset it before reuse.
 */
enum qn_status qn_mime_build(const struct qn_mime_message *m, struct qn_buf *out);

/*
 * Append "NAME: value" for an unstructured header (RFC 5322 section 3.6.5),
 * sanitised and encoded as above, folded, ending in CRLF.  A NULL or empty
 * value gives "NAME:" CRLF.  QN_EINVAL when NAME is not 1..QN_MIME_HEADER_NAME_MAX
 * printable ASCII characters without ':' (nothing written then).  QN_ETOOBIG
 * or QN_ENOMEM from OUT; OUT may then hold a partial header.
 */
enum qn_status qn_mime_header_text(struct qn_buf *out, const char *name, const char *value);

/*
 * Append "NAME: display-name <addr>" (RFC 5322 section 3.4 mailbox, for
 * From, Reply-To, Sender), or "NAME: addr" when DISPLAY_NAME is NULL or
 * empty once sanitised.  The display name is sanitised and encoded as above.
 * QN_EINVAL for a bad NAME or an ADDR that fails qn_mime_addr_valid (nothing
 * written then); QN_ETOOBIG or QN_ENOMEM from OUT, which may then hold a
 * partial header.
 */
enum qn_status qn_mime_header_mailbox(struct qn_buf *out, const char *name,
                                      const char *display_name, const char *addr);

/*
 * True when S is a plausible addr-spec: 3..QN_MIME_ADDR_MAX bytes of
 * printable ASCII (no SMTPUTF8), exactly one '@' with something on both
 * sides, and none of the characters ()<>[],;:"\ that would end or nest an
 * address in a header.  Not a full RFC 5321 check: the server has the last
 * word, and diag explains its refusal.
 */
int qn_mime_addr_valid(const char *s);

/* Append "Date: ..." for T (0 = now), RFC 5322 section 3.3, in UTC with English
 * day and month names.  QN_EINVAL for a year outside 1900-9999. */
enum qn_status qn_mime_header_date(struct qn_buf *out, time_t t);

/* Append "Message-ID: ID" (ID must pass qn_mime_message_id_valid), or with ID
 * NULL a new one: 32 random hex digits "@" the domain of FROM_ADDR.
 * QN_EINVAL for a bad ID or address, QN_EIO when RAND_bytes fails. */
enum qn_status qn_mime_header_message_id(struct qn_buf *out, const char *id, const char *from_addr);

/* True when S is "<left@right>", 5..QN_MIME_MESSAGE_ID_MAX printable ASCII
 * bytes without other '<' or '>', with something on both sides of an '@'. */
bool qn_mime_message_id_valid(const char *s);

/* Append the N bytes at P base64-encoded, in lines of 76 ending in CRLF. */
enum qn_status qn_mime_base64_body(struct qn_buf *out, const void *p, size_t n);

#endif
