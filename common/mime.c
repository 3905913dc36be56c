/*
 * mime — RFC 5322 message builder.
 *
 * Implements: RFC 5322 sections 2.1.1 (line limits), 2.2.3 (folding), 3.2.4
 * (quoted-string), 3.3 (date-time), 3.4 (mailbox), 3.6 (fields); RFC 2045
 * section 6.8 (base64, lines of 76); RFC 2046 sections 4.1.1 (CRLF line
 * breaks in text) and 5.1 (multipart, boundary syntax); RFC 2047 (encoded
 * words, "B" encoding, 75-character limit, whole characters per word).
 *
 * Every header is written by one folding writer (struct header) that gets
 * tokens no longer than the first line can take, so its lines stay within
 * QN_MIME_LINE_SOFT; only a single long address can be longer.  Base64 and
 * random bytes come from OpenSSL; everything else is small enough that a
 * library would add more surface than it saves.
 */
#include "mime.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "text.h"

#define CRLF "\r\n"

/* "=?UTF-8?B?" + base64 + "?=": the fixed part of every encoded-word. */
#define EW_PREFIX     "=?UTF-8?B?"
#define EW_PREFIX_LEN 10
#define EW_OVERHEAD   (EW_PREFIX_LEN + 2)

/* The smallest encoded-word that holds any one character (4 bytes -> 8 base64). */
#define EW_MIN (EW_OVERHEAD + 8)

/* After the longest header name, "Name: " must leave room for one such word. */
_Static_assert(QN_MIME_LINE_SOFT - (QN_MIME_HEADER_NAME_MAX + 2) >= EW_MIN,
               "QN_MIME_HEADER_NAME_MAX leaves no room for an encoded-word");

/* RFC 2045 section 6.8: 76 characters a line, i.e. 57 input bytes. */
#define BASE64_LINE       76
#define BASE64_LINE_INPUT 57

/* Random bytes behind a generated Message-ID (128 bits) and boundary (96 bits). */
#define MESSAGE_ID_RANDOM 16
#define BOUNDARY_RANDOM   12
#define BOUNDARY_PREFIX   "=_qn_" /* "=_" never occurs in base64, so never in a body */

_Static_assert(sizeof(BOUNDARY_PREFIX) - 1 + 2 * BOUNDARY_RANDOM <= QN_MIME_BOUNDARY_MAX,
               "generated boundary too long");

/* The folding writer of one header field. */
struct header {
    struct qn_buf *out;
    size_t line;        /* octets on the current line so far */
    size_t first_room;  /* longest token that fits after "Name: " on the first line */
    bool token_on_line; /* the current line already holds a token */
};

static bool header_name_valid(const char *name)
{
    size_t i, n;

    if (name == NULL)
        return false;
    n = strlen(name);
    if (n == 0 || n > QN_MIME_HEADER_NAME_MAX)
        return false;
    for (i = 0; i < n; i++) {
        /* RFC 5322 section 3.6.8: ftext is printable ASCII except ':'. */
        if ((unsigned char)name[i] < 33 || (unsigned char)name[i] > 126 || name[i] == ':')
            return false;
    }
    return true;
}

/* NAME must have passed header_name_valid(). */
static enum qn_status header_begin(struct header *h, struct qn_buf *out, const char *name)
{
    size_t n = strlen(name);
    enum qn_status r;

    h->out = out;
    h->line = n + 1;
    /* At least EW_MIN: see the static assertion above. */
    h->first_room = QN_MIME_LINE_SOFT - (n + 2);
    h->token_on_line = false;
    r = qn_buf_append(out, name, n);
    if (r == QN_OK)
        r = qn_buf_putc(out, ':');
    return r;
}

/*
 * Append " TOKEN", first folding (CRLF, so the space becomes the start of a
 * continuation line) when the current line would pass QN_MIME_LINE_SOFT.
 * The first token always stays on the first line: callers size it.
 */
static enum qn_status header_token(struct header *h, const char *token, size_t n)
{
    enum qn_status r;

    if (h->token_on_line && h->line + 1 + n > QN_MIME_LINE_SOFT) {
        r = qn_buf_puts(h->out, CRLF);
        if (r != QN_OK)
            return r;
        h->line = 0;
    }
    r = qn_buf_putc(h->out, ' ');
    if (r == QN_OK)
        r = qn_buf_append(h->out, token, n);
    if (r != QN_OK)
        return r;
    h->line += 1 + n;
    h->token_on_line = true;
    return QN_OK;
}

static enum qn_status header_end(struct header *h)
{
    return qn_buf_puts(h->out, CRLF);
}

/*
 * Write S (valid UTF-8, N bytes) as encoded-words of whole characters.  The
 * first word is sized to the room left on the current line, the others to
 * QN_MIME_ENCODED_WORD_MAX, which with the folding space is 76 <= 78.
 */
static enum qn_status put_encoded_words(struct header *h, const char *s, size_t n)
{
    char word[QN_MIME_ENCODED_WORD_MAX + 1];
    size_t i = 0, budget, payload, take, len, wlen;
    enum qn_status r;
    int b64;

    while (i < n) {
        budget = QN_MIME_ENCODED_WORD_MAX;
        if (!h->token_on_line && h->first_room < budget)
            budget = h->first_room;
        /* Whole base64 quanta: 4 characters carry 3 bytes. */
        payload = (budget - EW_OVERHEAD) / 4 * 3;
        take = 0;
        while (i + take < n) {
            len = qn_text_utf8_next(s + i + take, n - i - take, NULL);
            if (len == 0)
                return QN_EINVAL; /* callers pass sanitised text: cannot happen */
            if (take + len > payload)
                break;
            take += len;
        }
        if (take == 0)
            return QN_EINVAL; /* budget below EW_MIN: excluded by the name limit */
        memcpy(word, EW_PREFIX, EW_PREFIX_LEN);
        b64 = EVP_EncodeBlock((unsigned char *)word + EW_PREFIX_LEN, (const unsigned char *)s + i,
                              (int)take);
        wlen = EW_PREFIX_LEN + (size_t)b64;
        memcpy(word + wlen, "?=", 2);
        wlen += 2;
        r = header_token(h, word, wlen);
        if (r != QN_OK)
            return r;
        i += take;
    }
    return QN_OK;
}

/* Write the space-separated words of S (no leading, trailing or double spaces). */
static enum qn_status put_words(struct header *h, const char *s, size_t n)
{
    size_t i = 0, end;
    enum qn_status r;

    while (i < n) {
        for (end = i; end < n && s[end] != ' '; end++)
            ;
        r = header_token(h, s + i, end - i);
        if (r != QN_OK)
            return r;
        i = end + 1;
    }
    return QN_OK;
}

/*
 * True when S may be written as it is: printable ASCII, no "=?" that a
 * reader would try to decode as an encoded-word, and no word longer than
 * MAX_WORD (so every line stays within QN_MIME_LINE_SOFT).
 */
static bool plain_ok(const char *s, size_t n, size_t max_word)
{
    size_t i, word = 0;

    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E)
            return false;
        if (s[i] == '=' && i + 1 < n && s[i + 1] == '?')
            return false;
        word = s[i] == ' ' ? 0 : word + 1;
        if (word > max_word)
            return false;
    }
    return true;
}

/* RFC 5322 section 3.2.3 atext, plus space between atoms. */
static bool phrase_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ' ' ||
           strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

enum qn_status qn_mime_header_text(struct qn_buf *out, const char *name, const char *value)
{
    char clean[QN_MIME_VALUE_MAX + 1];
    struct header h;
    enum qn_status r;
    size_t n = 0;

    if (out == NULL || !header_name_valid(name))
        return QN_EINVAL;
    if (value != NULL)
        n = qn_text_sanitize_line(value, strlen(value), clean, sizeof(clean));
    r = header_begin(&h, out, name);
    if (r != QN_OK)
        return r;
    if (n > 0) {
        if (plain_ok(clean, n, h.first_room))
            r = put_words(&h, clean, n);
        else
            r = put_encoded_words(&h, clean, n);
        if (r != QN_OK)
            return r;
    }
    return header_end(&h);
}

/*
 * Write a display name: a phrase of atoms when it can be, else a
 * quoted-string (folded only at its spaces, which RFC 5322 section 3.2.4
 * allows), else encoded-words.
 */
static enum qn_status put_display_name(struct header *h, const char *s, size_t n)
{
    /* Worst case every character escaped, plus the two quotes. */
    char quoted[2 * QN_MIME_VALUE_MAX + 3];
    size_t i, q = 0;
    bool atoms = true;

    if (!plain_ok(s, n, h->first_room))
        return put_encoded_words(h, s, n);
    for (i = 0; i < n; i++)
        atoms = atoms && phrase_char(s[i]);
    if (atoms)
        return put_words(h, s, n);
    quoted[q++] = '"';
    for (i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            quoted[q++] = '\\';
        quoted[q++] = s[i];
    }
    quoted[q++] = '"';
    /* Escapes and quotes made words longer: check them again. */
    if (!plain_ok(quoted, q, h->first_room))
        return put_encoded_words(h, s, n);
    return put_words(h, quoted, q);
}

int qn_mime_addr_valid(const char *s)
{
    size_t i, n, at = 0, n_at = 0;

    if (s == NULL)
        return 0;
    n = strnlen(s, QN_MIME_ADDR_MAX + 1);
    if (n < 3 || n > QN_MIME_ADDR_MAX)
        return 0;
    for (i = 0; i < n; i++) {
        if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126 ||
            strchr("()<>[],;:\"\\", s[i]) != NULL)
            return 0;
        if (s[i] == '@') {
            at = i;
            n_at++;
        }
    }
    return n_at == 1 && at > 0 && at < n - 1;
}

enum qn_status qn_mime_header_mailbox(struct qn_buf *out, const char *name,
                                      const char *display_name, const char *addr)
{
    char clean[QN_MIME_VALUE_MAX + 1];
    char angle[QN_MIME_ADDR_MAX + 3];
    struct header h;
    enum qn_status r;
    size_t n = 0, len;

    if (out == NULL || !header_name_valid(name) || !qn_mime_addr_valid(addr))
        return QN_EINVAL;
    if (display_name != NULL)
        n = qn_text_sanitize_line(display_name, strlen(display_name), clean, sizeof(clean));
    r = header_begin(&h, out, name);
    if (r != QN_OK)
        return r;
    len = strlen(addr);
    if (n == 0) {
        r = header_token(&h, addr, len);
    } else {
        r = put_display_name(&h, clean, n);
        if (r == QN_OK) {
            angle[0] = '<';
            memcpy(angle + 1, addr, len);
            angle[len + 1] = '>';
            r = header_token(&h, angle, len + 2);
        }
    }
    if (r != QN_OK)
        return r;
    return header_end(&h);
}

enum qn_status qn_mime_base64_body(struct qn_buf *out, const void *p, size_t n)
{
    char line[BASE64_LINE + 1]; /* EVP_EncodeBlock adds a NUL */
    const unsigned char *in = p;
    size_t i, chunk, lines;
    enum qn_status r;
    int len;

    if (out == NULL || (p == NULL && n > 0))
        return QN_EINVAL;
    /* Refuse up front what cannot fit rather than leave half a body.  The first
     * test keeps the size arithmetic below from overflowing. */
    if (n > SIZE_MAX / 2)
        return QN_ETOOBIG;
    lines = n / BASE64_LINE_INPUT + (n % BASE64_LINE_INPUT != 0);
    if ((n + 2) / 3 * 4 + lines * 2 > out->max - out->len)
        return QN_ETOOBIG;
    for (i = 0; i < n; i += chunk) {
        chunk = n - i < BASE64_LINE_INPUT ? n - i : BASE64_LINE_INPUT;
        len = EVP_EncodeBlock((unsigned char *)line, in + i, (int)chunk);
        r = qn_buf_append(out, line, (size_t)len);
        if (r == QN_OK)
            r = qn_buf_puts(out, CRLF);
        if (r != QN_OK)
            return r;
    }
    return QN_OK;
}

/* Write the lowercase hex of N random bytes (N <= 32) and a NUL to DST. */
static enum qn_status random_hex(char *dst, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char bytes[32];
    size_t i;

    if (n > sizeof(bytes) || RAND_bytes(bytes, (int)n) != 1)
        return QN_EIO;
    for (i = 0; i < n; i++) {
        dst[2 * i] = hex[bytes[i] >> 4];
        dst[2 * i + 1] = hex[bytes[i] & 0x0F];
    }
    dst[2 * n] = '\0';
    return QN_OK;
}

bool qn_mime_message_id_valid(const char *s)
{
    size_t i, n = strnlen(s, QN_MIME_MESSAGE_ID_MAX + 1);
    bool at = false;

    if (n < 5 || n > QN_MIME_MESSAGE_ID_MAX || s[0] != '<' || s[n - 1] != '>')
        return false;
    for (i = 1; i < n - 1; i++) {
        if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126 || s[i] == '<' || s[i] == '>')
            return false;
        at = at || s[i] == '@';
    }
    return at && s[1] != '@' && s[n - 2] != '@';
}

static bool boundary_valid(const char *s)
{
    size_t i, n = strnlen(s, QN_MIME_BOUNDARY_MAX + 1);

    if (n == 0 || n > QN_MIME_BOUNDARY_MAX)
        return false;
    for (i = 0; i < n; i++) {
        char c = s[i];

        /* RFC 2046 bcharsnospace; space is left out so the boundary is one token. */
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("'()+_,-./:=?", c) != NULL))
            return false;
    }
    return true;
}

/* RFC 5322 section 3.3 in UTC; names are fixed English, not the locale's. */
static enum qn_status put_date(struct qn_buf *out, const struct tm *tm)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

    return qn_buf_printf(out, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000" CRLF, days[tm->tm_wday],
                         tm->tm_mday, months[tm->tm_mon], tm->tm_year + 1900, tm->tm_hour,
                         tm->tm_min, tm->tm_sec);
}

enum qn_status qn_mime_header_date(struct qn_buf *out, time_t t)
{
    struct tm tm;

    if (t == 0)
        t = time(NULL);
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year < 0 || tm.tm_year > 9999 - 1900)
        return QN_EINVAL;
    return put_date(out, &tm);
}

enum qn_status qn_mime_header_message_id(struct qn_buf *out, const char *id, const char *from_addr)
{
    char hex[2 * MESSAGE_ID_RANDOM + 1];
    const char *at = from_addr != NULL ? strchr(from_addr, '@') : NULL;
    enum qn_status r;

    if (id != NULL)
        return qn_mime_message_id_valid(id) ? qn_buf_printf(out, "Message-ID: %s" CRLF, id)
                                            : QN_EINVAL;
    if (at == NULL || !qn_mime_addr_valid(from_addr))
        return QN_EINVAL;
    /* The domain of From: the id is unique there, and it says who made it. */
    r = random_hex(hex, MESSAGE_ID_RANDOM);
    if (r == QN_OK)
        r = qn_buf_printf(out, "Message-ID: <%s%s>" CRLF, hex, at);
    return r;
}

static enum qn_status put_to(struct qn_buf *out, const char *const *to, size_t n_to)
{
    char token[QN_MIME_ADDR_MAX + 2];
    struct header h;
    enum qn_status r;
    size_t i, len;

    r = header_begin(&h, out, "To");
    for (i = 0; i < n_to && r == QN_OK; i++) {
        len = strlen(to[i]);
        memcpy(token, to[i], len);
        if (i + 1 < n_to)
            token[len++] = ',';
        r = header_token(&h, token, len);
    }
    if (r != QN_OK)
        return r;
    return header_end(&h);
}

/*
 * Append TEXT as it goes into a text part: invalid UTF-8 repaired, every
 * line break (CRLF, lone CR, lone LF) made CRLF.  CR and LF are ASCII and
 * never inside a UTF-8 sequence, so repairing line by line equals
 * repairing the whole.
 */
static enum qn_status put_canonical_text(struct qn_buf *out, const char *text)
{
    enum qn_status r = QN_OK;
    size_t i = 0, end;

    for (;;) {
        end = i + strcspn(text + i, "\r\n");
        r = qn_text_utf8_repair(text + i, end - i, out);
        if (r != QN_OK || text[end] == '\0')
            return r;
        r = qn_buf_puts(out, CRLF);
        if (r != QN_OK)
            return r;
        i = end + (text[end] == '\r' && text[end + 1] == '\n' ? 2 : 1);
    }
}

/* Content-Type, Content-Transfer-Encoding, blank line, base64 of TYPE part TEXT. */
static enum qn_status put_text_part(struct qn_buf *out, const char *type, const char *text)
{
    struct qn_buf canonical;
    enum qn_status r;

    /* A body larger than OUT's max cannot fit once base64 grew it. */
    qn_buf_init(&canonical, out->max);
    r = qn_buf_printf(out,
                      "Content-Type: text/%s; charset=UTF-8" CRLF
                      "Content-Transfer-Encoding: base64" CRLF CRLF,
                      type);
    if (r != QN_OK)
        goto out;
    r = put_canonical_text(&canonical, text);
    if (r != QN_OK)
        goto out;
    r = qn_mime_base64_body(out, canonical.data, canonical.len);
out:
    qn_buf_free(&canonical);
    return r;
}

static enum qn_status check_message(const struct qn_mime_message *m, struct tm *ret_tm)
{
    time_t date;
    size_t i;

    if (!qn_mime_addr_valid(m->from_addr) || m->to == NULL || m->n_to == 0 || m->text == NULL)
        return QN_EINVAL;
    if (m->n_to > QN_MIME_RECIPIENTS_MAX)
        return QN_ETOOBIG;
    for (i = 0; i < m->n_to; i++) {
        if (!qn_mime_addr_valid(m->to[i]))
            return QN_EINVAL;
    }
    if (m->reply_to != NULL && !qn_mime_addr_valid(m->reply_to))
        return QN_EINVAL;
    if (m->message_id != NULL && !qn_mime_message_id_valid(m->message_id))
        return QN_EINVAL;
    if (m->boundary != NULL && !boundary_valid(m->boundary))
        return QN_EINVAL;
    date = m->date != 0 ? m->date : time(NULL);
    if (gmtime_r(&date, ret_tm) == NULL || ret_tm->tm_year < 0 || ret_tm->tm_year > 9999 - 1900)
        return QN_EINVAL;
    return QN_OK;
}

enum qn_status qn_mime_build(const struct qn_mime_message *m, struct qn_buf *out)
{
    char boundary[QN_MIME_BOUNDARY_MAX + 1];
    enum qn_status r;
    struct tm tm;

    if (m == NULL || out == NULL)
        return QN_EINVAL;
    r = check_message(m, &tm);
    if (r != QN_OK)
        return r;

    r = put_date(out, &tm);
    if (r == QN_OK)
        r = qn_mime_header_mailbox(out, "From", m->from_name, m->from_addr);
    if (r == QN_OK)
        r = put_to(out, m->to, m->n_to);
    if (r == QN_OK && m->reply_to != NULL)
        r = qn_mime_header_mailbox(out, "Reply-To", NULL, m->reply_to);
    if (r == QN_OK)
        r = qn_mime_header_text(out, "Subject", m->subject);
    if (r == QN_OK)
        r = qn_mime_header_message_id(out, m->message_id, m->from_addr);
    if (r == QN_OK)
        r = qn_buf_puts(out, "MIME-Version: 1.0" CRLF);
    if (r != QN_OK)
        return r;

    if (m->html == NULL)
        return put_text_part(out, "plain", m->text);

    if (m->boundary != NULL) {
        memcpy(boundary, m->boundary, strlen(m->boundary) + 1); /* checked <= 70 */
    } else {
        memcpy(boundary, BOUNDARY_PREFIX, sizeof(BOUNDARY_PREFIX));
        r = random_hex(boundary + sizeof(BOUNDARY_PREFIX) - 1, BOUNDARY_RANDOM);
        if (r != QN_OK)
            return r;
    }
    /* multipart/alternative: plainest first, richest last (RFC 2046 section 5.1.4).
     * Each delimiter is CRLF "--" boundary; the CRLF belongs to it, not the part. */
    r = qn_buf_printf(
        out, "Content-Type: multipart/alternative;" CRLF " boundary=\"%s\"" CRLF CRLF "--%s" CRLF,
        boundary, boundary);
    if (r == QN_OK)
        r = put_text_part(out, "plain", m->text);
    if (r == QN_OK)
        r = qn_buf_printf(out, CRLF "--%s" CRLF, boundary);
    if (r == QN_OK)
        r = put_text_part(out, "html", m->html);
    if (r == QN_OK)
        r = qn_buf_printf(out, CRLF "--%s--" CRLF, boundary);
    return r;
}
