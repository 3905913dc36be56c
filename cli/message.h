/*
 * message — read the header of a message handed to `qqnotify sendmail`:
 * split the header block into fields and find the body, unfold a field's
 * value, parse an address list, decode encoded-words, read a Content-Type.
 * Reading only: what is written, and why, is header.h's (its one user).
 *
 * Standards: RFC 5322 sections 2.2 (fields), 2.2.3 (unfolding), 3.2.2-3.2.4
 * (comments, quoted strings), 3.4 (address lists, groups; obsolete routes
 * skipped); RFC 2045 section 5.1 (Content-Type, tokens); RFC 2047
 * sections 4-6 (B and Q encoded-words, adjacent words joined; an RFC 2231
 * language suffix on the charset is ignored).
 *
 * Hand-written: no library in our set (OpenSSL, PCRE2, libsystemd,
 * libsecret, gettext) parses RFC 5322 header blocks, and the general mail
 * libraries (GMime, libetpan, mailutils) would add a large dependency
 * without our bounds.
 *
 * The header block.  Input is raw bytes with any line ends (CRLF or LF; a
 * CR not followed by LF is data).  A leading mbox "From " line is skipped.
 * The block ends at the first empty line, or at the first line that is
 * neither a field ("Name:" with a printable ASCII name, blanks allowed
 * before the colon) nor a continuation (starts with a blank), which then
 * begins the body.  When the first line is not a field, or is a
 * continuation, the whole input is body.
 *
 * Lenient where mail in the wild is sloppy: an unterminated quote, comment
 * or <> in an address list ends with the input; an encoded-word that cannot
 * be decoded (unknown charset, bad text) stays as it is.
 *
 * Bounds: the header block QN_MESSAGE_BLOCK_MAX bytes, QN_MESSAGE_FIELDS_MAX
 * fields, a physical header line QN_MESSAGE_LINE_MAX bytes (QN_ETOOBIG);
 * display names cut at QN_MESSAGE_NAME_MAX bytes, addresses marked bad past
 * QN_MIME_ADDR_MAX; every output goes to a capped struct qn_buf.
 *
 * Memory: a struct qn_message holds offsets into the caller's bytes, which
 * must outlive it; nothing is allocated but scratch space freed before
 * returning.  Thread-safe; library code: never logs or exits.
 */
#ifndef QN_MESSAGE_H
#define QN_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "mime.h"
#include "status.h"

/* Bounds.  A physical header line may be long: cron puts a whole command line in Subject. */
#define QN_MESSAGE_BLOCK_MAX   (64 * 1024) /* bytes of the header block, line ends included */
#define QN_MESSAGE_FIELDS_MAX  256         /* fields in the header block */
#define QN_MESSAGE_LINE_MAX    (16 * 1024) /* bytes of one physical header line */
#define QN_MESSAGE_NAME_MAX    512         /* bytes of a display name kept (then cut) */
#define QN_MESSAGE_TYPE_MAX    40          /* bytes kept of a MIME type or subtype */
#define QN_MESSAGE_CHARSET_MAX 40          /* bytes of a charset name looked at */

/* One header field: offsets into the message. */
struct qn_message_field {
    size_t start;    /* the name */
    size_t name_len; /* without blanks before the colon */
    size_t value;    /* just after the colon */
    size_t end;      /* after the line end of its last line */
    size_t longest;  /* longest physical line, without its line end */
    bool eight_bit;  /* a byte >= 0x80 in the value */
    bool control;    /* NUL, bare CR, DEL or another control except TAB in the value */
};

/* A message's header block, as found by qn_message_parse(). */
struct qn_message {
    const char *msg; /* the caller's bytes */
    size_t len;
    struct qn_message_field fields[QN_MESSAGE_FIELDS_MAX]; /* in their order */
    size_t n_fields;
    size_t body; /* offset of the body (LEN when there is none) */
};

/*
 * Split MSG (LEN bytes, any bytes; non-NULL) into the fields of its header
 * block and find the body, as above, into *M.  QN_ETOOBIG past a bound
 * (*M is then incomplete).
 */
enum qn_status qn_message_parse(struct qn_message *m, const char *msg, size_t len);

/* Whether F is called NAME (ASCII case-insensitive). */
bool qn_message_field_is(const struct qn_message *m, const struct qn_message_field *f,
                         const char *name);

/*
 * F's value unfolded into OUT (reset first): line ends removed (RFC 5322
 * section 2.2.3), control characters made spaces, blanks around trimmed;
 * always a NUL-terminated string on success.  QN_ENOMEM, QN_ETOOBIG (OUT's
 * cap).
 */
enum qn_status qn_message_unfold(const struct qn_message *m, const struct qn_message_field *f,
                                 struct qn_buf *out);

/* One mailbox of an address list, as parsed (raw bytes, not yet decoded). */
struct qn_message_mailbox {
    char addr[QN_MIME_ADDR_MAX + 1];
    size_t addr_len;
    bool addr_bad;                      /* too long, blanks inside, or cut */
    char name[QN_MESSAGE_NAME_MAX + 1]; /* the display name, else the comment's text */
    size_t name_len;
};

/* Called for each mailbox; a failure stops the walk and is returned. */
typedef enum qn_status (*qn_message_mailbox_fn)(void *arg, const struct qn_message_mailbox *mb);

/*
 * Parse the address list S (N bytes, unfolded) and call FN(ARG, mailbox)
 * for each mailbox, group members included; group names, empty groups
 * ("undisclosed-recipients:;") and empty elements ("a, , b", "<>") give
 * nothing.  Returns QN_OK or FN's first failure.
 */
enum qn_status qn_message_addresses(const char *s, size_t n, qn_message_mailbox_fn fn, void *arg);

/*
 * Append S (N raw bytes: UTF-8, GB18030 or damaged; qn_text_decode) to OUT
 * as UTF-8 with its encoded-words decoded (B and Q; blanks between two
 * words dropped; charsets through iconv, GB2312 and GBK read as GB18030).
 * OUT holds a string on success.  QN_ENOMEM, QN_ETOOBIG (OUT's cap).
 */
enum qn_status qn_message_decode(const char *s, size_t n, struct qn_buf *out);

/* The RFC 2045 token at S (N bytes) lower-cased into OUT (OUTSZ bytes, cut to fit,
 * NUL-terminated); returns the bytes read. */
size_t qn_message_token(const char *s, size_t n, char *out, size_t outsz);

/*
 * Type, subtype (QN_MESSAGE_TYPE_MAX + 1 bytes each) and charset parameter
 * (QN_MESSAGE_CHARSET_MAX + 1) of the Content-Type value S (N bytes),
 * lower-cased; "" for what is absent or unreadable.
 */
void qn_message_content_type(const char *s, size_t n, char *type, char *subtype, char *charset);

#endif
