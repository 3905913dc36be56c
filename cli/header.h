/*
 * header — turn a message handed to `qqnotify sendmail` into one that QQ
 * Mail (or any submission server that insists on From = the account)
 * accepts, and find its recipients.
 *
 * Standards: RFC 5322 (fields, unfolding and folding, address lists with
 * groups, comments and quoted strings, line limits 78/998), RFC 2045 and
 * 2046 (MIME-Version, Content-Type, Content-Transfer-Encoding, base64),
 * RFC 2047 (encoded-words: decoded in display names and 8-bit fields,
 * written through mime.h).
 *
 * Hand-written: no library in our set (OpenSSL, PCRE2, libsystemd,
 * libsecret, gettext) parses or rewrites RFC 5322 header blocks, and the
 * general mail libraries (GMime, libetpan, mailutils) would add a large
 * dependency without our bounds (block, field, line and recipient caps
 * stated below) or the specific rewrites a QQ account needs.
 *
 Input: the raw message from stdin, LEN bytes, any line ends (CRLF or LF;
 * a CR not followed by LF is data, and in a header it becomes a space, so
 * it can never start a hidden field).  A leading mbox "From " line is
 * dropped.  The header block ends at the first empty line, or at the first
 * line that is neither a field ("Name:" with a printable ASCII name) nor a
 * continuation (starts with blank), which then begins the body.  When the
 * first line is not a field, the whole input is body.  (Reading the
 * message — fields, unfolding, address lists, encoded-words, Content-Type —
 * is message.h's; this module decides what is written.)
 *
 * Output (appended to OUT, lines ending in CRLF), in this order:
 *   Date            added when missing (UTC, "+0000")
 *   From            always OPT->account; the display name says who sent it
 *                   (see qn_header_options.host and "sender" below)
 *   Reply-To        the original sender, added when it differs from the
 *                   account, is a deliverable address and no usable
 *                   Reply-To exists
 *   ...             the original fields in their order, except From,
 *                   Sender, Return-Path, Bcc and Resent-Bcc (dropped), and a second
 *                   Date, Message-ID, Subject, MIME-Version, Content-Type or
 *                   Content-Transfer-Encoding (dropped: RFC 5322 allows one)
 *   To              "undisclosed-recipients:;" added when there is no To
 *                   and no Cc (as Postfix does)
 *   Message-ID      added when missing: <32 hex random@account's domain>
 *   MIME-Version, Content-Type, Content-Transfer-Encoding when the body is
 *                   re-encoded (see below)
 *   empty line, body
 *
 * Sender.  The original sender is the address of the first From field,
 * else OPT->envelope_from (-f); its name the From's display name (or its
 * comment: "root (Cron Daemon)"), else OPT->full_name (-F).  When there is
 * no original sender, or it is the account, the display name is that name,
 * else OPT->from_name.  Otherwise the display name is "NAME (ADDRESS)" or
 * just "ADDRESS", where a local ADDRESS (no domain, see below) gets
 * "@HOST": "root (Cron Daemon)" becomes
 *   From: "Cron Daemon (root@web1)" <account>
 *
 * Fields are rewritten only when they must be: a field of printable ASCII
 * whose lines are all within 998 octets is copied as it is (folding kept).
 *   - control characters (NUL, bare CR, ...) become spaces;
 *   - a line over 998 octets is refolded at blanks (lines of at most 78
 *     where the words allow; a word that cannot fit in 998 makes an
 *     unstructured field encoded-words, a structured one QN_ETOOBIG);
 *   - raw 8-bit bytes: To, Cc and Reply-To are written again mailbox by
 *     mailbox with encoded display names; other fields are decoded
 *     (qn_text_decode: UTF-8 repaired, else GB18030), existing
 *     encoded-words in them decoded, and written as unstructured text by
 *     qn_mime_header_text (so cut at QN_MIME_VALUE_MAX bytes).  Such a field
 *     whose name is longer than QN_MIME_HEADER_NAME_MAX is dropped (counted).
 *   - To, Cc, Reply-To are also written again when they hold a local or an
 *     unusable address; local ones are replaced by OPT->alert_rcpt in To and
 *     Cc and dropped from Reply-To; unusable ones are dropped.
 *
 * Local recipients.  A server mail account cannot deliver to "root" (cron's
 * MAILTO default, mdadm's MAILADDR, unattended-upgrades' default) through
 * QQ.  An address is local when it has no '@', or its domain is
 * "localhost", "localhost.localdomain" or has no dot ("root@web1").  Local
 * recipients are replaced by the configured alert recipients
 * (OPT->alert_rcpt, [notify] to), once however many local ones there are.
 *
 * Body.  Passed through (line ends made CRLF) unless it holds a byte >= 0x80
 * or NUL, or a line longer than 998 octets.  Then:
 *   - a message without MIME fields, or a single text/ part in 7bit, 8bit
 *     or binary whose charset is absent, US-ASCII (also "ANSI_X3.4-1968",
 *     what cron writes in the C locale) or UTF-8, is decoded like a field
 *     (UTF-8 repaired, else GB18030) and sent as text/SUBTYPE;
 *     charset=UTF-8, base64;
 *   - a single text/ part in another charset (GBK...) keeps its bytes and
 *     Content-Type, and gets base64;
 *   - anything else (multipart, message/, non-text, or already base64 or
 *     quoted-printable) is passed through.
 * Text line breaks are made CRLF before base64 (RFC 2046 section 4.1.1).
 *
 * Recipients (the envelope, in *RET): OPT->rcpt_args (each one may be an
 * address list: "a@x, Name <b@y>"), then with OPT->extract_rcpt the
 * mailboxes of To, Cc and Bcc (groups flattened, "undisclosed-recipients:;"
 * is none; Resent-To, -Cc and -Bcc are not read: give a resent message's
 * recipients as arguments).  Like Postfix, -t adds to the command-line
 * recipients.
 * Duplicates are dropped (local part exact, domain case-insensitive).
 * Addresses that are neither deliverable (qn_mime_addr_valid) nor local are
 * skipped and counted.
 *
 Bounds: the header block QN_HEADER_BLOCK_MAX bytes, QN_HEADER_FIELDS_MAX
 * fields, a physical header line QN_HEADER_LINE_MAX bytes, a display name
 * QN_HEADER_NAME_MAX bytes (longer ones are cut): the reader's bounds
 * (message.h); QN_HEADER_RCPT_MAX recipients; the output is bounded by
 * OUT's max.
 *
 * Memory: OUT and *RET belong to the caller; nothing is kept.  Message-ID
 * randomness from OpenSSL's RAND_bytes.  Thread-safe; library code: never
 * logs or exits.
 *
 * Built with `qqnotify` for its one user, cli/sendmail.c (not in
 * libqqnotify.a), with the reader it uses, message.c.
 */
#ifndef QN_HEADER_H
#define QN_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "message.h"
#include "mime.h"
#include "status.h"

#define QN_HEADER_BLOCK_MAX  QN_MESSAGE_BLOCK_MAX  /* bytes of the header block, line ends incl. */
#define QN_HEADER_FIELDS_MAX QN_MESSAGE_FIELDS_MAX /* fields in the header block */
#define QN_HEADER_LINE_MAX   QN_MESSAGE_LINE_MAX   /* bytes of one physical header line */
#define QN_HEADER_NAME_MAX   QN_MESSAGE_NAME_MAX   /* bytes of a display name kept (then cut) */
#define QN_HEADER_RCPT_MAX   32                    /* envelope recipients (the spool's bound) */

struct qn_header_options {
    const char *account;          /* required: the authenticated address, written as From */
    const char *from_name;        /* [smtp] from_name, may be NULL or "" */
    const char *envelope_from;    /* sendmail -f, may be NULL; "" and "<>" mean none */
    const char *full_name;        /* sendmail -F, may be NULL */
    const char *host;             /* this host's name, qualifies local senders; may be NULL */
    bool extract_rcpt;            /* sendmail -t */
    const char *const *rcpt_args; /* command-line recipients */
    size_t n_rcpt_args;
    const char *const *alert_rcpt; /* [notify] to: replaces local recipients */
    size_t n_alert_rcpt;
    time_t now;             /* 0: time(NULL) */
    const char *message_id; /* "<left@right>" to use when one is added; NULL: random */
};

struct qn_header_result {
    char rcpt[QN_HEADER_RCPT_MAX][QN_MIME_ADDR_MAX + 1]; /* the envelope recipients */
    size_t n_rcpt;
    size_t n_local;          /* local recipients seen (replaced by alert_rcpt, or none left) */
    size_t n_invalid;        /* recipients skipped: not an address we can send to */
    char first_invalid[128]; /* the first of those, sanitised (for messages), or "" */
    size_t n_dropped;        /* fields dropped because they could not be written safely */
    bool body_encoded;       /* the body was re-encoded as base64 */
};

/*
 * Rewrite the message MSG (LEN bytes, any bytes) as described above and
 * append the result to OUT.  *RET is always filled (zeroed first), also on
 * failure, so the caller can explain it; OUT is appended to only on success.
 *
 * QN_EINVAL: OPT, OPT->account (qn_mime_addr_valid) or OPT->message_id is
 * not valid, or no recipient is left (look at RET->n_local: local
 * recipients and an empty OPT->alert_rcpt; RET->n_invalid: unusable ones).
 * QN_ETOOBIG: a bound above, more than QN_HEADER_RCPT_MAX recipients, a
 * structured field that cannot be folded within 998 octets, or OUT's max.
 * QN_EIO: RAND_bytes failed.  QN_ENOMEM.
 */
enum qn_status qn_header_rewrite(const char *msg, size_t len, const struct qn_header_options *opt,
                                 struct qn_buf *out, struct qn_header_result *ret);

#endif
