/*
 * header — rewrite a submitted message for an account-bound submission
 * server; contract and rules in header.h.
 *
 * Implements: RFC 5322 sections 2.1.1 (998/78), 2.2 (fields), 2.2.3
 * (unfolding, folding), 3.2.2-3.2.4 (comments, quoted strings), 3.4
 * (address lists, groups, obsolete routes skipped), 3.6 (at most one of
 * Date, Message-ID, Subject, Reply-To); RFC 2045 sections 4-6 (MIME fields,
 * 7bit/8bit/binary, base64); RFC 2047 sections 4-6 (decoding B and Q words,
 * adjacent words joined).
 *
 * The whole output is built in a private buffer and appended to the
 * caller's only on success.  Parsing keeps offsets into the caller's
 * message; every copy goes to a capped struct qn_buf.
 */
#include "header.h"

#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "text.h"

#define CRLF      "\r\n"
#define LINE_SOFT QN_MIME_LINE_SOFT /* 78 */
#define LINE_HARD QN_MIME_LINE_MAX  /* 998 */

#define CHARSET_MAX       40   /* bytes of a charset name we look at */
#define SUBTYPE_MAX       40   /* bytes of a text/ subtype we keep */
#define WORD_TEXT_MAX     1024 /* encoded text of one encoded-word we decode (RFC: 75 in all) */
#define SEEN_MAX          64   /* addresses remembered to drop duplicates within one field */

/* One header field: offsets into the message. */
struct field {
    size_t start;    /* the name */
    size_t name_len; /* without blanks before the colon */
    size_t value;    /* just after the colon */
    size_t end;      /* after the line end of its last line */
    size_t longest;  /* longest physical line, without its line end */
    bool eight_bit;  /* a byte >= 0x80 in the value */
    bool control;    /* NUL, bare CR, DEL or another control except TAB in the value */
};

/* One mailbox of an address list, as parsed (raw bytes, not yet decoded). */
struct mailbox {
    char addr[QN_MIME_ADDR_MAX + 1];
    size_t addr_len;
    bool addr_bad; /* too long, or blanks inside */
    char name[QN_HEADER_NAME_MAX + 1];
    size_t name_len;
};

enum addr_kind {
    ADDR_DELIVERABLE, /* a plausible Internet address */
    ADDR_LOCAL,       /* "root", "root@localhost", "root@web1" */
    ADDR_BAD,         /* anything else */
};

enum body_mode {
    BODY_PASS, /* copied, line ends made CRLF */
    BODY_UTF8, /* decoded to UTF-8, text/SUBTYPE; charset=UTF-8, base64 */
    BODY_RAW,  /* bytes kept, base64; Content-Type kept */
};

struct ctx {
    const char *msg;
    size_t len;
    const struct qn_header_options *opt;
    struct qn_header_result *res;

    struct field fields[QN_HEADER_FIELDS_MAX];
    size_t n_fields;
    size_t body; /* offset of the body */

    /* what the first pass found */
    const struct field *from;
    bool has_date, has_message_id, has_mime_version, has_to_or_cc, reply_to_usable;
    enum body_mode body_mode;
    char subtype[SUBTYPE_MAX + 1];

    struct qn_buf value;   /* the unfolded value of the field at hand */
    struct qn_buf decoded; /* decoded text (display names, 8-bit fields) */
    struct qn_buf scratch; /* one mailbox written by mime.c, to be split in tokens */
    struct qn_buf out;     /* the whole result, handed over on success */

    /* addresses written in the field at hand, to drop duplicates */
    char seen[SEEN_MAX][QN_MIME_ADDR_MAX + 1];
    size_t n_seen;
};

/* ---- small helpers ---- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_control(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7F;
}

/* RFC 5322 section 3.2.3 atext. */
static bool is_atext(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* RFC 2045 section 5.1 token character. */
static bool is_token(char c)
{
    return c > 0x20 && c < 0x7F && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static bool name_is(const struct ctx *c, const struct field *f, const char *name)
{
    return f->name_len == strlen(name) && strncasecmp(c->msg + f->start, name, f->name_len) == 0;
}

/* Fields that carry a structure a folding writer must not break inside words. */
static bool structured(const struct ctx *c, const struct field *f)
{
    static const char *const names[] = {
        "date",
        "message-id",
        "in-reply-to",
        "references",
        "received",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
        "content-id",
        "content-disposition",
        "dkim-signature",
        "reply-to",
        "to",
        "cc",
        "resent-date",
        "resent-from",
        "resent-sender",
        "resent-to",
        "resent-cc",
        "resent-bcc",
        "resent-message-id",
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (name_is(c, f, names[i]))
            return true;
    }
    return false;
}

/* Same mailbox: local part exact, domain ASCII case-insensitive (RFC 5321 section 2.4). */
static bool same_address(const char *a, const char *b)
{
    const char *at_a = strrchr(a, '@'), *at_b = strrchr(b, '@');

    if (at_a == NULL || at_b == NULL)
        return strcmp(a, b) == 0;
    return at_a - a == at_b - b && memcmp(a, b, (size_t)(at_a - a)) == 0 &&
           strcasecmp(at_a + 1, at_b + 1) == 0;
}

static enum addr_kind addr_kind(const char *a, size_t n, bool bad)
{
    const char *at, *domain;

    if (bad || n == 0)
        return ADDR_BAD;
    at = memchr(a, '@', n);
    if (at == NULL) {
        /* A local user name: "root", "www-data", "first.last". */
        if (n > 64)
            return ADDR_BAD;
        for (size_t i = 0; i < n; i++) {
            if (!is_atext(a[i]) && a[i] != '.')
                return ADDR_BAD;
        }
        return ADDR_LOCAL;
    }
    if (!qn_mime_addr_valid(a))
        return ADDR_BAD;
    domain = at + 1;
    if (strcasecmp(domain, "localhost") == 0 || strcasecmp(domain, "localhost.localdomain") == 0 ||
        strchr(domain, '.') == NULL)
        return ADDR_LOCAL;
    return ADDR_DELIVERABLE;
}

/* ---- the header block ---- */

/* Flags of F's value: 8-bit bytes, control characters, longest physical line. */
static void field_scan(const struct ctx *c, struct field *f)
{
    size_t i, line_start = f->start;

    f->eight_bit = false;
    f->control = false;
    f->longest = 0;
    for (i = f->start; i < f->end; i++) {
        unsigned char b = (unsigned char)c->msg[i];
        size_t content;

        if (b == '\n') {
            content = i > line_start && c->msg[i - 1] == '\r' ? i - 1 : i;
            if (content - line_start > f->longest)
                f->longest = content - line_start;
            line_start = i + 1;
            continue;
        }
        if (i < f->value)
            continue;
        if (b >= 0x80)
            f->eight_bit = true;
        else if (is_control(b) && !(b == '\r' && i + 1 < f->end && c->msg[i + 1] == '\n'))
            f->control = true;
    }
    if (i > line_start && i - line_start > f->longest)
        f->longest = i - line_start;
}

/*
 * Split the header block into fields and find the body.  A line that is
 * neither a field nor a continuation ends the block (and is body); when
 * that is the first line, there are no fields at all.
 */
static enum qn_status parse_block(struct ctx *c)
{
    const char *msg = c->msg;
    size_t pos = 0, start, eol, next, content, colon, name_end, i;
    const char *lf;

    /* An mbox "From " separator line is not part of the message (sendmail drops it too). */
    if (c->len >= 5 && memcmp(msg, "From ", 5) == 0) {
        lf = memchr(msg, '\n', c->len);
        pos = lf != NULL ? (size_t)(lf - msg) + 1 : c->len;
    }
    start = pos;
    c->n_fields = 0;
    c->body = c->len;
    while (pos < c->len) {
        lf = memchr(msg + pos, '\n', c->len - pos);
        eol = lf != NULL ? (size_t)(lf - msg) : c->len;
        next = lf != NULL ? eol + 1 : c->len;
        content = lf != NULL && eol > pos && msg[eol - 1] == '\r' ? eol - 1 : eol;

        if (content == pos) { /* the empty line */
            c->body = next;
            break;
        }
        if (is_blank(msg[pos])) {
            if (c->n_fields == 0) { /* a continuation of nothing: not a header block */
                c->body = start;
                break;
            }
        } else {
            colon = pos;
            while (colon < content && msg[colon] != ':')
                colon++;
            name_end = colon;
            while (name_end > pos && is_blank(msg[name_end - 1]))
                name_end--;
            for (i = pos; i < name_end; i++) {
                if ((unsigned char)msg[i] < 33 || (unsigned char)msg[i] > 126)
                    break;
            }
            if (colon == content || name_end == pos || i < name_end) {
                c->body = c->n_fields == 0 ? start : pos; /* not a field: the body begins */
                break;
            }
            if (c->n_fields == QN_HEADER_FIELDS_MAX)
                return QN_ETOOBIG;
            c->fields[c->n_fields].start = pos;
            c->fields[c->n_fields].name_len = name_end - pos;
            c->fields[c->n_fields].value = colon + 1;
            c->n_fields++;
        }
        /* The line belongs to the header block: now its bounds apply. */
        if (content - pos > QN_HEADER_LINE_MAX || next - start > QN_HEADER_BLOCK_MAX)
            return QN_ETOOBIG;
        c->fields[c->n_fields - 1].end = next;
        pos = next;
    }
    for (i = 0; i < c->n_fields; i++)
        field_scan(c, &c->fields[i]);
    return QN_OK;
}

/*
 * The unfolded value of F in c->value: line ends removed (RFC 5322 section
 * 2.2.3), control characters made spaces, blanks around trimmed.
 */
static enum qn_status field_value(struct ctx *c, const struct field *f)
{
    size_t i, from = f->value;
    enum qn_status r;
    char b;

    qn_buf_reset(&c->value);
    while (from < f->end && is_blank(c->msg[from]))
        from++;
    for (i = from; i < f->end; i++) {
        b = c->msg[i];
        if (b == '\n' || (b == '\r' && i + 1 < f->end && c->msg[i + 1] == '\n'))
            continue;
        r = qn_buf_putc(&c->value, is_control((unsigned char)b) ? ' ' : b);
        if (r != QN_OK)
            return r;
    }
    while (c->value.len > 0 && is_blank(c->value.data[c->value.len - 1]))
        qn_buf_truncate(&c->value, c->value.len - 1);
    if (c->value.data == NULL)
        return qn_buf_puts(&c->value, ""); /* always a string */
    return QN_OK;
}

/* ---- address lists (RFC 5322 section 3.4) ---- */

typedef enum qn_status (*mailbox_fn)(struct ctx *c, const struct mailbox *mb, void *arg);

struct addr_parser {
    char phrase[QN_HEADER_NAME_MAX + 1]; /* outside <>: display name, or a bare addr-spec */
    size_t phrase_len;
    bool phrase_cut, phrase_blank;
    char angle[QN_MIME_ADDR_MAX + 1]; /* inside <> */
    size_t angle_len;
    bool angle_cut, has_angle;
    char comment[QN_HEADER_NAME_MAX + 1]; /* the comments' text: "a@b (Name)" */
    size_t comment_len;
    bool blank_pending; /* blanks seen in the phrase since its last character */
};

static void parser_reset(struct addr_parser *p)
{
    p->phrase_len = 0;
    p->phrase_cut = p->phrase_blank = false;
    p->angle_len = 0;
    p->angle_cut = p->has_angle = false;
    p->comment_len = 0;
    p->blank_pending = false;
}

static void put_phrase(struct addr_parser *p, char ch)
{
    if (p->blank_pending && p->phrase_len > 0) {
        if (p->phrase_len < QN_HEADER_NAME_MAX)
            p->phrase[p->phrase_len++] = ' ';
        p->phrase_blank = true;
    }
    p->blank_pending = false;
    if (p->phrase_len < QN_HEADER_NAME_MAX)
        p->phrase[p->phrase_len++] = ch;
    else
        p->phrase_cut = true;
}

static void put_angle(struct addr_parser *p, char ch)
{
    if (p->angle_len < QN_MIME_ADDR_MAX)
        p->angle[p->angle_len++] = ch;
    else
        p->angle_cut = true;
}

static void put_comment(struct addr_parser *p, char ch)
{
    if (p->comment_len < QN_HEADER_NAME_MAX)
        p->comment[p->comment_len++] = ch;
}

static void set_text(char *dst, size_t *ret_len, size_t max, const char *src, size_t n)
{
    n = n < max ? n : max;
    memcpy(dst, src, n);
    dst[n] = '\0';
    *ret_len = n;
}

/* The mailbox collected in P, if any, to FN. */
static enum qn_status end_mailbox(struct ctx *c, struct addr_parser *p, mailbox_fn fn, void *arg)
{
    struct mailbox mb;
    const char *addr, *colon;
    size_t addr_len;
    enum qn_status r = QN_OK;

    memset(&mb, 0, sizeof(mb));
    if (p->has_angle) {
        addr = p->angle;
        addr_len = p->angle_len;
        /* Obsolete source route "<@a,@b:user@host>": only the mailbox counts. */
        if (addr_len > 0 && addr[0] == '@' && (colon = memchr(addr, ':', addr_len)) != NULL) {
            addr_len -= (size_t)(colon + 1 - addr);
            addr = colon + 1;
        }
        mb.addr_bad = p->angle_cut;
        if (p->phrase_len > 0)
            set_text(mb.name, &mb.name_len, QN_HEADER_NAME_MAX, p->phrase, p->phrase_len);
        else
            set_text(mb.name, &mb.name_len, QN_HEADER_NAME_MAX, p->comment, p->comment_len);
    } else {
        addr = p->phrase;
        addr_len = p->phrase_len;
        /* "Joe Smith" without <> is not an address, nor is anything cut. */
        mb.addr_bad = p->phrase_cut || p->phrase_blank || addr_len > QN_MIME_ADDR_MAX;
        set_text(mb.name, &mb.name_len, QN_HEADER_NAME_MAX, p->comment, p->comment_len);
    }
    set_text(mb.addr, &mb.addr_len, QN_MIME_ADDR_MAX, addr, addr_len);
    if (mb.addr_len > 0)
        r = fn(c, &mb, arg); /* an empty element ("a, , b", "<>") is nothing */
    parser_reset(p);
    return r;
}

/*
 * Parse the address list S (N bytes, unfolded) and call FN for each
 * mailbox, group members included; group names and empty groups
 * ("undisclosed-recipients:;") give nothing.  Lenient: an unterminated
 * quote, comment or <> ends with the input.
 */
static enum qn_status parse_addresses(struct ctx *c, const char *s, size_t n, mailbox_fn fn,
                                      void *arg)
{
    struct addr_parser p;
    bool in_quote = false, in_angle = false;
    unsigned depth = 0;
    enum qn_status r;
    size_t i;

    parser_reset(&p);
    for (i = 0; i < n; i++) {
        char ch = s[i];

        if (in_quote) {
            if (ch == '\\' && i + 1 < n)
                ch = s[++i];
            else if (ch == '"') {
                in_quote = false;
                continue;
            }
            if (in_angle)
                put_angle(&p, ch);
            else
                put_phrase(&p, ch);
            continue;
        }
        if (depth > 0) {
            if (ch == '\\' && i + 1 < n) {
                put_comment(&p, s[++i]);
            } else if (ch == '(') {
                depth++;
                put_comment(&p, ch);
            } else if (ch == ')') {
                if (--depth > 0)
                    put_comment(&p, ch);
                else
                    p.blank_pending = true; /* a comment separates like a blank */
            } else {
                put_comment(&p, ch);
            }
            continue;
        }
        switch (ch) {
        case '"':
            in_quote = true;
            break;
        case '(':
            depth = 1;
            if (p.comment_len > 0)
                put_comment(&p, ' ');
            break;
        case '<':
            in_angle = true;
            p.has_angle = true;
            p.angle_len = 0;
            p.angle_cut = false;
            break;
        case '>':
            in_angle = false;
            break;
        case ',':
        case ';':
            if (in_angle) {
                put_angle(&p, ch);
                break;
            }
            r = end_mailbox(c, &p, fn, arg);
            if (r != QN_OK)
                return r;
            break;
        case ':':
            if (in_angle) {
                put_angle(&p, ch);
                break;
            }
            parser_reset(&p); /* what came before was a group's name */
            break;
        case ' ':
        case '\t':
        case '\r':
        case '\n':
            if (!in_angle)
                p.blank_pending = true;
            break;
        default:
            if (in_angle)
                put_angle(&p, ch);
            else
                put_phrase(&p, ch);
            break;
        }
    }
    return end_mailbox(c, &p, fn, arg);
}

/* ---- RFC 2047 decoding ---- */

/* Length of the encoded-word at S ("=?charset?X?text?="), or 0 when there is none. */
static size_t word_len(const char *s, size_t n, size_t *ret_charset_len, char *ret_encoding,
                       size_t *ret_text_at, size_t *ret_text_len)
{
    size_t i = 2, cs_start = 2, text_start;

    if (n < 8 || s[0] != '=' || s[1] != '?')
        return 0;
    while (i < n && s[i] != '?' && is_token(s[i]) && i - cs_start < CHARSET_MAX)
        i++;
    if (i == cs_start || i + 3 >= n || s[i] != '?' || s[i + 2] != '?')
        return 0;
    *ret_charset_len = i - cs_start;
    *ret_encoding = s[i + 1];
    if (strchr("BbQq", *ret_encoding) == NULL)
        return 0;
    text_start = i + 3;
    for (i = text_start; i < n && s[i] != '?'; i++) {
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7F ||
            i - text_start >= WORD_TEXT_MAX)
            return 0;
    }
    if (i + 1 >= n || s[i + 1] != '=')
        return 0;
    *ret_text_at = text_start;
    *ret_text_len = i - text_start;
    return i + 2;
}

/* The bytes of an encoded-word's text into OUT (room for WORD_TEXT_MAX); -1 when invalid. */
static long word_bytes(char encoding, const char *t, size_t n, unsigned char *out)
{
    char padded[WORD_TEXT_MAX + 4];
    size_t i, o = 0, pad = 0, total;
    int len, hi, lo;

    if (encoding == 'Q' || encoding == 'q') {
        for (i = 0; i < n; i++) {
            if (t[i] == '_') {
                out[o++] = ' ';
            } else if (t[i] == '=') {
                if (i + 2 >= n)
                    return -1;
                hi = qn_text_hex_digit(t[i + 1]);
                lo = qn_text_hex_digit(t[i + 2]);
                if (hi < 0 || lo < 0)
                    return -1;
                out[o++] = (unsigned char)(hi * 16 + lo);
                i += 2;
            } else {
                out[o++] = (unsigned char)t[i];
            }
        }
        return (long)o;
    }
    /* B: encoders may leave the padding out; EVP_DecodeBlock wants it. */
    if (n % 4 == 1)
        return -1;
    memcpy(padded, t, n);
    for (total = n; total % 4 != 0; total++)
        padded[total] = '=';
    /* EVP_DecodeBlock counts padding as zero bytes: take them off again. */
    while (pad < total && padded[total - 1 - pad] == '=')
        pad++;
    if (pad > 2)
        return -1;
    len = EVP_DecodeBlock(out, (const unsigned char *)padded, (int)total);
    if (len < 0 || (size_t)len < pad)
        return -1;
    return (long)((size_t)len - pad);
}

/* Append BYTES in CHARSET (N bytes) to OUT as UTF-8.  QN_EINVAL when that is not possible. */
static enum qn_status charset_to_utf8(const char *charset, const unsigned char *bytes, size_t n,
                                      struct qn_buf *out)
{
    char converted[WORD_TEXT_MAX * 4];
    char *in = (char *)bytes; /* iconv's prototype is not const-correct; it does not write */
    char *o = converted;
    size_t in_left = n, o_left = sizeof(converted);
    const char *from = charset;
    iconv_t cd;
    size_t rc;

    if (strcasecmp(charset, "utf-8") == 0 || strcasecmp(charset, "utf8") == 0 ||
        strcasecmp(charset, "us-ascii") == 0)
        return qn_text_utf8_repair((const char *)bytes, n, out);
    /* Text labelled GB2312 is GBK in practice; GB18030 reads both. */
    if (strcasecmp(charset, "gb2312") == 0 || strcasecmp(charset, "gbk") == 0 ||
        strcasecmp(charset, "x-gbk") == 0 || strcasecmp(charset, "cp936") == 0)
        from = "GB18030";
    cd = iconv_open("UTF-8", from);
    if (cd == (iconv_t)-1)
        return QN_EINVAL;
    rc = iconv(cd, &in, &in_left, &o, &o_left);
    iconv_close(cd);
    if (rc == (size_t)-1 || in_left != 0)
        return QN_EINVAL;
    return qn_text_utf8_repair(converted, (size_t)(o - converted), out);
}

/* Decode the encoded-word at S (its parts found by word_len) to OUT. */
static enum qn_status decode_word(const char *s, size_t cs_len, char enc, size_t text_at,
                                  size_t text_len, struct qn_buf *out)
{
    unsigned char bytes[WORD_TEXT_MAX];
    char charset[CHARSET_MAX + 1];
    char *star;
    long n;

    memcpy(charset, s + 2, cs_len);
    charset[cs_len] = '\0';
    star = strchr(charset, '*'); /* RFC 2231 language suffix */
    if (star != NULL)
        *star = '\0';
    n = word_bytes(enc, s + text_at, text_len, bytes);
    if (n < 0)
        return QN_EINVAL;
    return charset_to_utf8(charset, bytes, (size_t)n, out);
}

/*
 * Append S (N bytes of UTF-8) to OUT with its encoded-words decoded; blanks
 * between two encoded-words are dropped (RFC 2047 section 6.2).  A word that
 * cannot be decoded (unknown charset, bad text) stays as it is.
 */
static enum qn_status decode_words(const char *s, size_t n, struct qn_buf *out)
{
    size_t i = 0, held_at = 0, held = 0, wlen, cs_len = 0, text_at = 0, text_len = 0;
    bool after_word = false;
    enum qn_status r;
    char enc = 0;

    while (i < n) {
        if (after_word && is_blank(s[i])) {
            held_at = i;
            while (i < n && is_blank(s[i]))
                i++;
            held = i - held_at;
            after_word = false;
            continue;
        }
        wlen = word_len(s + i, n - i, &cs_len, &enc, &text_at, &text_len);
        if (wlen > 0) {
            size_t mark = out->len;

            r = decode_word(s + i, cs_len, enc, text_at, text_len, out);
            if (r == QN_OK) {
                i += wlen;
                held = 0; /* blanks between two words are not text */
                after_word = true;
                continue;
            }
            if (r != QN_EINVAL)
                return r;
            qn_buf_truncate(out, mark);
        }
        if (held > 0) {
            r = qn_buf_append(out, s + held_at, held);
            if (r != QN_OK)
                return r;
            held = 0;
        }
        r = qn_buf_putc(out, s[i]);
        if (r != QN_OK)
            return r;
        i++;
        after_word = false;
    }
    return held > 0 ? qn_buf_append(out, s + held_at, held) : QN_OK;
}

/* c->decoded = S (raw bytes: UTF-8, GB18030 or damaged) as UTF-8 with encoded-words decoded. */
static enum qn_status decode_text(struct ctx *c, const char *s, size_t n)
{
    struct qn_buf utf8;
    enum qn_status r;

    qn_buf_reset(&c->decoded);
    /* Decoding can grow text threefold (a lone byte becomes U+FFFD). */
    qn_buf_init(&utf8, 3 * n + 16);
    r = qn_text_decode(s, n, &utf8);
    if (r == QN_OK)
        r = decode_words(utf8.data != NULL ? utf8.data : "", utf8.len, &c->decoded);
    if (r == QN_OK && c->decoded.data == NULL)
        r = qn_buf_puts(&c->decoded, "");
    qn_buf_free(&utf8);
    return r;
}

/* ---- writing fields ---- */

/* A folding writer for fields we build ourselves. */
struct fold {
    struct qn_buf *out;
    size_t line;        /* octets on the current line */
    bool token_on_line; /* the current line holds a token after the name */
    bool too_long;      /* a token did not fit in 998 octets */
};

static enum qn_status fold_begin(struct fold *f, struct qn_buf *out, const char *name, size_t n)
{
    enum qn_status r;

    f->out = out;
    f->line = n + 1;
    f->token_on_line = false;
    f->too_long = false;
    r = qn_buf_append(out, name, n);
    return r == QN_OK ? qn_buf_putc(out, ':') : r;
}

/*
 * Append " TOKEN", folding first when the line would pass 78 octets with
 * RESERVE more (a comma that may follow).  The first token stays after the
 * name unless it would pass 998 there.  QN_ETOOBIG when TOKEN cannot fit
 * in 998 octets even on a line of its own.
 */
static enum qn_status fold_token(struct fold *f, const char *token, size_t n, size_t reserve)
{
    enum qn_status r;

    if ((f->token_on_line && f->line + 1 + n + reserve > LINE_SOFT) ||
        (f->line > 0 && f->line + 1 + n + reserve > LINE_HARD)) {
        r = qn_buf_puts(f->out, CRLF);
        if (r != QN_OK)
            return r;
        f->line = 0;
    }
    if (f->line + 1 + n + reserve > LINE_HARD) {
        f->too_long = true;
        return QN_ETOOBIG;
    }
    r = qn_buf_putc(f->out, ' ');
    if (r == QN_OK)
        r = qn_buf_append(f->out, token, n);
    if (r != QN_OK)
        return r;
    f->line += 1 + n;
    f->token_on_line = true;
    return QN_OK;
}

/* Append the blank-separated words of S as tokens. */
static enum qn_status fold_words(struct fold *f, const char *s, size_t n)
{
    size_t i = 0, end;
    enum qn_status r;

    while (i < n) {
        while (i < n && (is_blank(s[i]) || s[i] == '\r' || s[i] == '\n'))
            i++;
        for (end = i; end < n && !is_blank(s[end]) && s[end] != '\r' && s[end] != '\n'; end++)
            ;
        if (end > i) {
            r = fold_token(f, s + i, end - i, 0);
            if (r != QN_OK)
                return r;
        }
        i = end;
    }
    return QN_OK;
}

/*
 * True when F may be copied as it is: printable ASCII, no line over 998,
 * and "Name:" without the obsolete blanks before the colon.
 */
static bool copyable(const struct field *f)
{
    return !f->eight_bit && !f->control && f->longest <= LINE_HARD &&
           f->start + f->name_len + 1 == f->value;
}

/* Copy F's lines as they are, each line end made CRLF. */
static enum qn_status copy_field(struct ctx *c, const struct field *f)
{
    size_t i = f->start, lf;
    enum qn_status r;
    const char *p;

    while (i < f->end) {
        p = memchr(c->msg + i, '\n', f->end - i);
        lf = p != NULL ? (size_t)(p - c->msg) : f->end;
        /* The CR of a CRLF is left out here and written back below. */
        r = qn_buf_append(&c->out, c->msg + i,
                          (lf > i && p != NULL && c->msg[lf - 1] == '\r' ? lf - 1 : lf) - i);
        if (r == QN_OK)
            r = qn_buf_puts(&c->out, CRLF);
        if (r != QN_OK)
            return r;
        i = p != NULL ? lf + 1 : f->end;
    }
    return QN_OK;
}

/* F's name as a C string in NAME (QN_MIME_HEADER_NAME_MAX + 1); false when it is longer. */
static bool field_name(const struct ctx *c, const struct field *f, char *name)
{
    if (f->name_len > QN_MIME_HEADER_NAME_MAX)
        return false;
    memcpy(name, c->msg + f->start, f->name_len);
    name[f->name_len] = '\0';
    return true;
}

/* F as unstructured text (decoded, encoded-words where needed) through mime.c. */
static enum qn_status write_text_field(struct ctx *c, const struct field *f)
{
    char name[QN_MIME_HEADER_NAME_MAX + 1];
    enum qn_status r;

    if (!field_name(c, f, name)) {
        c->res->n_dropped++; /* mime.c writes no such name: dropping it is the safe way */
        return QN_OK;
    }
    r = decode_text(c, c->value.data, c->value.len);
    if (r != QN_OK)
        return r;
    return qn_mime_header_text(&c->out, name, c->decoded.data);
}

/*
 * Write F, whose value is in c->value, changing only what must change
 * (header.h): copied, refolded, or re-encoded.
 */
static enum qn_status write_plain_field(struct ctx *c, const struct field *f)
{
    struct fold fold;
    size_t mark = c->out.len;
    enum qn_status r;

    if (f->eight_bit)
        return write_text_field(c, f);
    if (copyable(f))
        return copy_field(c, f);
    r = fold_begin(&fold, &c->out, c->msg + f->start, f->name_len);
    if (r == QN_OK)
        r = fold_words(&fold, c->value.data, c->value.len);
    if (r == QN_OK)
        return qn_buf_puts(&c->out, CRLF);
    if (!fold.too_long || structured(c, f))
        return r;
    /* A word longer than a line: encoded-words can be split, words cannot. */
    qn_buf_truncate(&c->out, mark);
    return write_text_field(c, f);
}

/* ---- address fields ---- */

struct address_writer {
    struct fold fold;
    char field[16];  /* "To", "Cc" or "Reply-To" as the message spells it */
    size_t written;  /* mailboxes written */
    bool reply_to;   /* local addresses are dropped, not replaced */
    bool alert_done; /* the alert recipients were written for a local one */
};

static bool seen_before(struct ctx *c, const char *addr)
{
    for (size_t i = 0; i < c->n_seen; i++) {
        if (same_address(c->seen[i], addr))
            return true;
    }
    if (c->n_seen < SEEN_MAX) {
        memcpy(c->seen[c->n_seen], addr, strlen(addr) + 1);
        c->n_seen++;
    }
    return false;
}

/*
 * Write one mailbox: mime.c encodes it as a one-mailbox field into scratch
 * (its folding spaces are where a break is allowed); its tokens are then
 * refolded into the list, the last one with room for a comma.
 */
static enum qn_status write_mailbox(struct ctx *c, struct address_writer *w, const char *name,
                                    const char *addr)
{
    size_t i, end, n, prefix = strlen(w->field) + 1;
    enum qn_status r;
    const char *s;

    if (seen_before(c, addr))
        return QN_OK;
    qn_buf_reset(&c->scratch);
    /* The field's own name, so the first line is sized as it will be written. */
    r = qn_mime_header_mailbox(&c->scratch, w->field, name, addr);
    if (r != QN_OK)
        return r;
    if (w->written > 0) {
        r = qn_buf_putc(w->fold.out, ',');
        if (r != QN_OK)
            return r;
        w->fold.line++;
    }
    s = c->scratch.data + prefix;
    n = c->scratch.len - prefix;
    for (i = 0; i < n; i = end) {
        while (i < n && (s[i] == ' ' || s[i] == '\r' || s[i] == '\n'))
            i++;
        for (end = i; end < n && s[end] != ' ' && s[end] != '\r' && s[end] != '\n'; end++)
            ;
        if (end == i)
            continue;
        /* The last token may get a comma: keep a column for it. */
        r = fold_token(&w->fold, s + i, end - i, end + 2 >= n ? 1 : 0);
        if (r != QN_OK)
            return r;
    }
    w->written++;
    return QN_OK;
}

static enum qn_status write_address_mailbox(struct ctx *c, const struct mailbox *mb, void *arg)
{
    struct address_writer *w = arg;
    enum qn_status r;

    switch (addr_kind(mb->addr, mb->addr_len, mb->addr_bad)) {
    case ADDR_DELIVERABLE:
        r = decode_text(c, mb->name, mb->name_len);
        if (r != QN_OK)
            return r;
        return write_mailbox(c, w, c->decoded.data, mb->addr);
    case ADDR_LOCAL:
        if (w->reply_to || w->alert_done)
            return QN_OK;
        w->alert_done = true;
        for (size_t i = 0; i < c->opt->n_alert_rcpt; i++) {
            if (!qn_mime_addr_valid(c->opt->alert_rcpt[i]))
                continue;
            r = write_mailbox(c, w, NULL, c->opt->alert_rcpt[i]);
            if (r != QN_OK)
                return r;
        }
        return QN_OK;
    case ADDR_BAD:
        break;
    }
    return QN_OK; /* nobody can answer or be reached there: left out */
}

struct address_census {
    size_t deliverable, local, bad;
};

static enum qn_status count_mailbox(struct ctx *c, const struct mailbox *mb, void *arg)
{
    struct address_census *n = arg;

    (void)c;
    switch (addr_kind(mb->addr, mb->addr_len, mb->addr_bad)) {
    case ADDR_DELIVERABLE:
        n->deliverable++;
        break;
    case ADDR_LOCAL:
        n->local++;
        break;
    case ADDR_BAD:
        n->bad++;
        break;
    }
    return QN_OK;
}

/* To, Cc or Reply-To (value in c->value): copied when clean, else written again. */
static enum qn_status write_address_field(struct ctx *c, const struct field *f, bool reply_to)
{
    struct address_census census = {0};
    struct address_writer w;
    enum qn_status r;

    r = parse_addresses(c, c->value.data, c->value.len, count_mailbox, &census);
    if (r != QN_OK)
        return r;
    if (copyable(f) && census.local == 0 && census.bad == 0)
        return copy_field(c, f);

    memset(&w, 0, sizeof(w));
    w.reply_to = reply_to;
    if (f->name_len >= sizeof(w.field))
        return QN_EINVAL; /* callers pass only To, Cc, Reply-To */
    memcpy(w.field, c->msg + f->start, f->name_len);
    c->n_seen = 0;
    r = fold_begin(&w.fold, &c->out, c->msg + f->start, f->name_len);
    if (r == QN_OK)
        r = parse_addresses(c, c->value.data, c->value.len, write_address_mailbox, &w);
    if (r == QN_OK && w.written == 0)
        r = fold_token(&w.fold, "undisclosed-recipients:;", 24, 0);
    if (r != QN_OK)
        return r;
    return qn_buf_puts(&c->out, CRLF);
}

/* ---- recipients ---- */

static enum qn_status add_rcpt(struct ctx *c, const char *addr)
{
    struct qn_header_result *res = c->res;

    for (size_t i = 0; i < res->n_rcpt; i++) {
        if (same_address(res->rcpt[i], addr))
            return QN_OK;
    }
    if (res->n_rcpt == QN_HEADER_RCPT_MAX)
        return QN_ETOOBIG;
    memcpy(res->rcpt[res->n_rcpt], addr, strlen(addr) + 1); /* valid: at most QN_MIME_ADDR_MAX */
    res->n_rcpt++;
    return QN_OK;
}

static enum qn_status take_rcpt(struct ctx *c, const struct mailbox *mb, void *arg)
{
    struct qn_header_result *res = c->res;
    enum qn_status r;

    (void)arg;
    switch (addr_kind(mb->addr, mb->addr_len, mb->addr_bad)) {
    case ADDR_DELIVERABLE:
        return add_rcpt(c, mb->addr);
    case ADDR_LOCAL:
        res->n_local++;
        for (size_t i = 0; i < c->opt->n_alert_rcpt; i++) {
            if (!qn_mime_addr_valid(c->opt->alert_rcpt[i]))
                continue;
            r = add_rcpt(c, c->opt->alert_rcpt[i]);
            if (r != QN_OK)
                return r;
        }
        return QN_OK;
    case ADDR_BAD:
        break;
    }
    if (res->n_invalid++ == 0)
        qn_text_sanitize_line(mb->addr, mb->addr_len, res->first_invalid,
                              sizeof(res->first_invalid));
    return QN_OK;
}

static enum qn_status collect_rcpt(struct ctx *c)
{
    const struct qn_header_options *opt = c->opt;
    enum qn_status r;

    for (size_t i = 0; i < opt->n_rcpt_args; i++) {
        if (opt->rcpt_args[i] == NULL)
            continue;
        r = parse_addresses(c, opt->rcpt_args[i], strlen(opt->rcpt_args[i]), take_rcpt, NULL);
        if (r != QN_OK)
            return r;
    }
    if (!opt->extract_rcpt)
        return QN_OK;
    for (size_t i = 0; i < c->n_fields; i++) {
        const struct field *f = &c->fields[i];

        if (!name_is(c, f, "to") && !name_is(c, f, "cc") && !name_is(c, f, "bcc"))
            continue;
        r = field_value(c, f);
        if (r == QN_OK)
            r = parse_addresses(c, c->value.data, c->value.len, take_rcpt, NULL);
        if (r != QN_OK)
            return r;
    }
    return QN_OK;
}

/* ---- From, Reply-To, Date, Message-ID ---- */

struct first_mailbox {
    bool found;
    struct mailbox mb;
};

static enum qn_status keep_first(struct ctx *c, const struct mailbox *mb, void *arg)
{
    struct first_mailbox *first = arg;

    (void)c;
    if (!first->found) {
        first->found = true;
        first->mb = *mb;
    }
    return QN_OK;
}

/* The -f address without <>; "" for none or the null sender. */
static void envelope_address(const char *s, char *out, size_t outsz)
{
    size_t n;

    out[0] = '\0';
    if (s == NULL)
        return;
    while (is_blank(*s))
        s++;
    n = strlen(s);
    while (n > 0 && is_blank(s[n - 1]))
        n--;
    if (n >= 2 && s[0] == '<' && s[n - 1] == '>') {
        s++;
        n -= 2;
    }
    if (n < outsz) {
        memcpy(out, s, n);
        out[n] = '\0';
    }
}

/* From (and the Reply-To that keeps the original sender) as header.h says. */
static enum qn_status write_from(struct ctx *c)
{
    const struct qn_header_options *opt = c->opt;
    struct first_mailbox first = {0};
    char addr[QN_MIME_ADDR_MAX + 1], name[QN_MIME_VALUE_MAX + 1];
    struct qn_buf qualified, display;
    enum addr_kind kind = ADDR_BAD;
    const char *shown, *at;
    enum qn_status r;
    size_t local_len;

    addr[0] = name[0] = '\0';
    if (c->from != NULL) {
        r = field_value(c, c->from);
        if (r == QN_OK)
            r = parse_addresses(c, c->value.data, c->value.len, keep_first, &first);
        if (r != QN_OK)
            return r;
    }
    if (first.found) {
        kind = addr_kind(first.mb.addr, first.mb.addr_len, first.mb.addr_bad);
        if (kind != ADDR_BAD)
            memcpy(addr, first.mb.addr, first.mb.addr_len + 1);
        if (first.mb.name_len > 0) {
            r = decode_text(c, first.mb.name, first.mb.name_len);
            if (r != QN_OK)
                return r;
            qn_text_sanitize_line(c->decoded.data, c->decoded.len, name, sizeof(name));
        }
    }
    if (addr[0] == '\0') {
        envelope_address(opt->envelope_from, addr, sizeof(addr));
        kind = addr_kind(addr, strlen(addr), false);
        if (kind == ADDR_BAD)
            addr[0] = '\0';
    }
    if (name[0] == '\0' && opt->full_name != NULL)
        qn_text_sanitize_line(opt->full_name, strlen(opt->full_name), name, sizeof(name));

    if (addr[0] == '\0' || same_address(addr, opt->account)) {
        shown = name[0] != '\0' ? name : opt->from_name;
        return qn_mime_header_mailbox(&c->out, "From", shown, opt->account);
    }
    /* Say which host's "root" it was: "root" and "root@localhost" become "root@HOST". */
    qn_buf_init(&qualified, 2 * QN_MIME_VALUE_MAX);
    qn_buf_init(&display, 4 * QN_MIME_VALUE_MAX);
    at = strchr(addr, '@');
    local_len = at != NULL ? (size_t)(at - addr) : strlen(addr);
    if (opt->host != NULL && opt->host[0] != '\0' &&
        (at == NULL || strcasecmp(at + 1, "localhost") == 0 ||
         strcasecmp(at + 1, "localhost.localdomain") == 0))
        r = qn_buf_printf(&qualified, "%.*s@%s", (int)local_len, addr, opt->host);
    else
        r = qn_buf_puts(&qualified, addr);
    if (r != QN_OK)
        goto out;
    /* mime.c sanitises the name and cuts it to QN_MIME_VALUE_MAX. */
    if (name[0] == '\0' || strcasecmp(name, qualified.data) == 0)
        r = qn_buf_puts(&display, qualified.data);
    else
        r = qn_buf_printf(&display, "%s (%s)", name, qualified.data);
    if (r == QN_OK)
        r = qn_mime_header_mailbox(&c->out, "From", display.data, opt->account);
    if (r == QN_OK && kind == ADDR_DELIVERABLE && !c->reply_to_usable)
        r = qn_mime_header_mailbox(&c->out, "Reply-To", NULL, addr);
out:
    qn_buf_free(&qualified);
    qn_buf_free(&display);
    return r;
}

static enum qn_status write_date(struct ctx *c)
{
    return qn_mime_header_date(&c->out, c->opt->now);
}

static enum qn_status write_message_id(struct ctx *c)
{
    return qn_mime_header_message_id(&c->out, c->opt->message_id, c->opt->account);
}

/* ---- the body ---- */

/* Lower-cased RFC 2045 token at S into OUT (OUTSZ); returns the bytes read. */
static size_t read_token(const char *s, size_t n, char *out, size_t outsz)
{
    size_t i = 0, o = 0;

    while (i < n && is_token(s[i])) {
        if (o + 1 < outsz)
            out[o++] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
        i++;
    }
    out[o] = '\0';
    return i;
}

/* Type, subtype and charset of a Content-Type value (RFC 2045 section 5.1). */
static void parse_content_type(const char *s, size_t n, char *type, char *subtype, char *charset)
{
    char pname[32];
    size_t i = 0, o;

    type[0] = subtype[0] = charset[0] = '\0';
    while (i < n && is_blank(s[i]))
        i++;
    i += read_token(s + i, n - i, type, SUBTYPE_MAX + 1);
    if (i < n && s[i] == '/') {
        i++;
        i += read_token(s + i, n - i, subtype, SUBTYPE_MAX + 1);
    }
    while (i < n) {
        while (i < n && (is_blank(s[i]) || s[i] == ';'))
            i++;
        i += read_token(s + i, n - i, pname, sizeof(pname));
        while (i < n && is_blank(s[i]))
            i++;
        if (i >= n || s[i] != '=') {
            /* Not a parameter: skip to the next ';'. */
            while (i < n && s[i] != ';')
                i++;
            continue;
        }
        i++;
        while (i < n && is_blank(s[i]))
            i++;
        if (i < n && s[i] == '"') {
            char quoted[CHARSET_MAX + 1];

            for (i++, o = 0; i < n && s[i] != '"'; i++) {
                if (s[i] == '\\' && i + 1 < n)
                    i++;
                if (o < CHARSET_MAX)
                    quoted[o++] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
            }
            quoted[o] = '\0';
            i++;
            if (strcmp(pname, "charset") == 0)
                memcpy(charset, quoted, o + 1);
        } else {
            char value[CHARSET_MAX + 1];

            i += read_token(s + i, n - i, value, sizeof(value));
            if (strcmp(pname, "charset") == 0)
                memcpy(charset, value, strlen(value) + 1);
        }
    }
}

/* Charsets whose 8-bit content can only be a mislabel or UTF-8: decode it. */
static bool charset_decodable(const char *charset)
{
    static const char *const names[] = {"",          "us-ascii", "ascii", "ansi_x3.4-1968",
                                        "iso646-us", "utf-8",    "utf8"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(charset, names[i]) == 0)
            return true;
    }
    return false;
}

/* Decide how the body goes out (header.h, "Body"). */
static enum qn_status choose_body_mode(struct ctx *c)
{
    const char *b = c->msg + c->body;
    size_t n = c->len - c->body, i, line = 0;
    const struct field *ct = NULL, *cte = NULL;
    char type[SUBTYPE_MAX + 1], subtype[SUBTYPE_MAX + 1], charset[CHARSET_MAX + 1];
    char encoding[32];
    bool needs = false, mime = false;
    enum qn_status r;

    for (i = 0; i < n && !needs; i++) {
        if (b[i] == '\n') {
            line = 0;
            continue;
        }
        if ((unsigned char)b[i] >= 0x80 || b[i] == '\0')
            needs = true;
        else if (b[i] != '\r' || (i + 1 < n && b[i + 1] != '\n'))
            needs = ++line > LINE_HARD;
    }
    memcpy(c->subtype, "plain", sizeof("plain"));
    c->body_mode = BODY_PASS;
    for (i = 0; i < c->n_fields; i++) {
        const struct field *f = &c->fields[i];

        if (name_is(c, f, "content-type") && ct == NULL)
            ct = f;
        else if (name_is(c, f, "content-transfer-encoding") && cte == NULL)
            cte = f;
        mime = mime || name_is(c, f, "mime-version") || f == ct || f == cte;
    }
    if (!needs)
        return QN_OK;
    if (!mime) {
        c->body_mode = BODY_UTF8;
        return QN_OK;
    }
    encoding[0] = '\0';
    if (cte != NULL) {
        r = field_value(c, cte);
        if (r != QN_OK)
            return r;
        read_token(c->value.data, c->value.len, encoding, sizeof(encoding));
    }
    if (encoding[0] != '\0' && strcmp(encoding, "7bit") != 0 && strcmp(encoding, "8bit") != 0 &&
        strcmp(encoding, "binary") != 0)
        return QN_OK; /* base64, quoted-printable...: already safe, or not ours to touch */
    memcpy(type, "text", sizeof("text"));
    subtype[0] = charset[0] = '\0';
    if (ct != NULL) {
        r = field_value(c, ct);
        if (r != QN_OK)
            return r;
        parse_content_type(c->value.data, c->value.len, type, subtype, charset);
        if (type[0] == '\0') /* RFC 2045 section 5.2: an unreadable type is text/plain */
            memcpy(type, "text", sizeof("text"));
    }
    if (strcmp(type, "text") != 0)
        return QN_OK; /* multipart, message, application: passed through */
    if (subtype[0] != '\0')
        memcpy(c->subtype, subtype, strlen(subtype) + 1);
    c->body_mode = charset_decodable(charset) ? BODY_UTF8 : BODY_RAW;
    return QN_OK;
}

/* Append S with every line break (CRLF, LF, lone CR) made CRLF. */
static enum qn_status put_crlf(struct qn_buf *out, const char *s, size_t n)
{
    size_t i = 0, end;
    enum qn_status r;

    while (i < n) {
        for (end = i; end < n && s[end] != '\r' && s[end] != '\n'; end++)
            ;
        r = qn_buf_append(out, s + i, end - i);
        if (r != QN_OK || end == n)
            return r;
        r = qn_buf_puts(out, CRLF);
        if (r != QN_OK)
            return r;
        i = end + (s[end] == '\r' && end + 1 < n && s[end + 1] == '\n' ? 2 : 1);
    }
    return QN_OK;
}

static enum qn_status write_body(struct ctx *c)
{
    const char *b = c->msg + c->body;
    size_t n = c->len - c->body;
    struct qn_buf utf8, lines;
    enum qn_status r;

    if (c->body_mode == BODY_PASS)
        return put_crlf(&c->out, b, n);
    /* Whatever does not fit in the output would not fit once base64 grew it. */
    qn_buf_init(&utf8, c->out.max);
    qn_buf_init(&lines, c->out.max);
    if (c->body_mode == BODY_UTF8) {
        r = qn_text_decode(b, n, &utf8);
        if (r != QN_OK)
            goto out;
        b = utf8.data != NULL ? utf8.data : "";
        n = utf8.len;
    }
    r = put_crlf(&lines, b, n);
    if (r == QN_OK)
        r = qn_mime_base64_body(&c->out, lines.data, lines.len);
    c->res->body_encoded = r == QN_OK;
out:
    qn_buf_free(&utf8);
    qn_buf_free(&lines);
    return r;
}

/* ---- the whole message ---- */

/* What the fields say before any is written: From, Date, Message-ID, usable Reply-To. */
static enum qn_status survey(struct ctx *c)
{
    struct address_census census;
    bool seen_reply_to = false;
    enum qn_status r;

    for (size_t i = 0; i < c->n_fields; i++) {
        const struct field *f = &c->fields[i];

        if (name_is(c, f, "from") && c->from == NULL)
            c->from = f;
        c->has_date = c->has_date || name_is(c, f, "date");
        c->has_message_id = c->has_message_id || name_is(c, f, "message-id");
        c->has_mime_version = c->has_mime_version || name_is(c, f, "mime-version");
        c->has_to_or_cc = c->has_to_or_cc || name_is(c, f, "to") || name_is(c, f, "cc");
        /* Only the first Reply-To is kept (RFC 5322 allows one). */
        if (name_is(c, f, "reply-to") && !seen_reply_to) {
            seen_reply_to = true;
            memset(&census, 0, sizeof(census));
            r = field_value(c, f);
            if (r == QN_OK)
                r = parse_addresses(c, c->value.data, c->value.len, count_mailbox, &census);
            if (r != QN_OK)
                return r;
            c->reply_to_usable = census.deliverable > 0;
        }
    }
    return QN_OK;
}

/* Fields of which RFC 5322 (or MIME) allows one: later ones are dropped. */
static const char *const single_fields[] = {
    "date",
    "message-id",
    "subject",
    "reply-to",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
};
#define N_SINGLE (sizeof(single_fields) / sizeof(single_fields[0]))

static enum qn_status write_fields(struct ctx *c)
{
    bool seen[N_SINGLE] = {false};
    enum qn_status r;
    size_t i, k;

    for (i = 0; i < c->n_fields; i++) {
        const struct field *f = &c->fields[i];
        bool drop = name_is(c, f, "from") || name_is(c, f, "sender") ||
                    name_is(c, f, "return-path") || name_is(c, f, "bcc");

        for (k = 0; k < N_SINGLE && !drop; k++) {
            if (name_is(c, f, single_fields[k])) {
                drop = seen[k];
                seen[k] = true;
            }
        }
        /* Replaced by the fields the new body needs. */
        if (name_is(c, f, "content-transfer-encoding"))
            drop = drop || c->body_mode != BODY_PASS;
        if (name_is(c, f, "content-type"))
            drop = drop || c->body_mode == BODY_UTF8;
        if (name_is(c, f, "reply-to"))
            drop = drop || !c->reply_to_usable;
        if (drop)
            continue;
        r = field_value(c, f);
        if (r != QN_OK)
            return r;
        if (name_is(c, f, "to") || name_is(c, f, "cc") || name_is(c, f, "reply-to"))
            r = write_address_field(c, f, name_is(c, f, "reply-to"));
        else
            r = write_plain_field(c, f);
        if (r != QN_OK)
            return r;
    }
    return QN_OK;
}

static enum qn_status rewrite(struct ctx *c)
{
    enum qn_status r;

    r = parse_block(c);
    if (r == QN_OK)
        r = survey(c);
    if (r == QN_OK)
        r = collect_rcpt(c);
    if (r != QN_OK)
        return r;
    if (c->res->n_rcpt == 0)
        return QN_EINVAL;
    r = choose_body_mode(c);
    if (r == QN_OK && !c->has_date)
        r = write_date(c);
    if (r == QN_OK)
        r = write_from(c);
    if (r == QN_OK)
        r = write_fields(c);
    if (r == QN_OK && !c->has_to_or_cc)
        r = qn_buf_puts(&c->out, "To: undisclosed-recipients:;" CRLF);
    if (r == QN_OK && !c->has_message_id)
        r = write_message_id(c);
    if (r == QN_OK && c->body_mode != BODY_PASS && !c->has_mime_version)
        r = qn_buf_puts(&c->out, "MIME-Version: 1.0" CRLF);
    if (r == QN_OK && c->body_mode == BODY_UTF8)
        r = qn_buf_printf(&c->out, "Content-Type: text/%s; charset=UTF-8" CRLF, c->subtype);
    if (r == QN_OK && c->body_mode != BODY_PASS)
        r = qn_buf_puts(&c->out, "Content-Transfer-Encoding: base64" CRLF);
    if (r == QN_OK)
        r = qn_buf_puts(&c->out, CRLF);
    if (r == QN_OK)
        r = write_body(c);
    return r;
}

enum qn_status qn_header_rewrite(const char *msg, size_t len, const struct qn_header_options *opt,
                                 struct qn_buf *out, struct qn_header_result *ret)
{
    struct ctx *c = NULL;
    enum qn_status r = QN_EINVAL;

    if (ret != NULL)
        memset(ret, 0, sizeof(*ret));
    if (opt == NULL || out == NULL || ret == NULL || (msg == NULL && len > 0) ||
        !qn_mime_addr_valid(opt->account) ||
        (opt->message_id != NULL && !qn_mime_message_id_valid(opt->message_id)) ||
        (opt->n_rcpt_args > 0 && opt->rcpt_args == NULL) ||
        (opt->n_alert_rcpt > 0 && opt->alert_rcpt == NULL))
        goto out;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        r = QN_ENOMEM;
        goto out;
    }
    c->msg = msg != NULL ? msg : "";
    c->len = len;
    c->opt = opt;
    c->res = ret;
    qn_buf_init(&c->value, QN_HEADER_BLOCK_MAX);
    qn_buf_init(&c->decoded, 3 * QN_HEADER_BLOCK_MAX + 16);
    qn_buf_init(&c->scratch, QN_HEADER_BLOCK_MAX);
    qn_buf_init(&c->out, out->max - out->len);

    r = rewrite(c);
    if (r == QN_OK)
        r = qn_buf_append(out, c->out.data, c->out.len);
    qn_buf_free(&c->value);
    qn_buf_free(&c->decoded);
    qn_buf_free(&c->scratch);
    qn_buf_free(&c->out);
out:
    free(c);
    return r;
}
