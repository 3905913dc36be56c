/*
 * message — read a submitted message's header; contract in message.h.
 *
 * Implements: RFC 5322 sections 2.2 (fields), 2.2.3 (unfolding), 3.2.2-3.2.4
 * (comments, quoted strings), 3.4 (address lists, groups, obsolete routes
 * skipped); RFC 2045 section 5.1 (Content-Type); RFC 2047 sections 4-6
 * (decoding B and Q words, adjacent words joined).
 *
 * Parsing keeps offsets into the caller's message; every copy goes to a
 * capped struct qn_buf or a fixed array.
 */
#include "message.h"

#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "text.h"

#define WORD_TEXT_MAX 1024 /* encoded text of one encoded-word we decode (RFC: 75 in all) */

/* ---- small helpers ---- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_control(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7F;
}

/* RFC 2045 section 5.1 token character. */
static bool is_token(char c)
{
    return c > 0x20 && c < 0x7F && strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

/* ---- the header block ---- */

/* Flags of F's value: 8-bit bytes, control characters, longest physical line. */
static void field_scan(const struct qn_message *m, struct qn_message_field *f)
{
    size_t i, line_start = f->start;

    f->eight_bit = false;
    f->control = false;
    f->longest = 0;
    for (i = f->start; i < f->end; i++) {
        unsigned char b = (unsigned char)m->msg[i];
        size_t content;

        if (b == '\n') {
            content = i > line_start && m->msg[i - 1] == '\r' ? i - 1 : i;
            if (content - line_start > f->longest)
                f->longest = content - line_start;
            line_start = i + 1;
            continue;
        }
        if (i < f->value)
            continue;
        if (b >= 0x80)
            f->eight_bit = true;
        else if (is_control(b) && !(b == '\r' && i + 1 < f->end && m->msg[i + 1] == '\n'))
            f->control = true;
    }
    if (i > line_start && i - line_start > f->longest)
        f->longest = i - line_start;
}

/*
 * A line that is neither a field nor a continuation ends the block (and is
 * body); when that is the first line, there are no fields at all.
 */
enum qn_status qn_message_parse(struct qn_message *m, const char *msg, size_t len)
{
    size_t pos = 0, start, eol, next, content, colon, name_end, i;
    const char *lf;

    m->msg = msg;
    m->len = len;
    /* An mbox "From " separator line is not part of the message (sendmail drops it too). */
    if (m->len >= 5 && memcmp(msg, "From ", 5) == 0) {
        lf = memchr(msg, '\n', m->len);
        pos = lf != NULL ? (size_t)(lf - msg) + 1 : m->len;
    }
    start = pos;
    m->n_fields = 0;
    m->body = m->len;
    while (pos < m->len) {
        lf = memchr(msg + pos, '\n', m->len - pos);
        eol = lf != NULL ? (size_t)(lf - msg) : m->len;
        next = lf != NULL ? eol + 1 : m->len;
        content = lf != NULL && eol > pos && msg[eol - 1] == '\r' ? eol - 1 : eol;

        if (content == pos) { /* the empty line */
            m->body = next;
            break;
        }
        if (is_blank(msg[pos])) {
            if (m->n_fields == 0) { /* a continuation of nothing: not a header block */
                m->body = start;
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
                m->body = m->n_fields == 0 ? start : pos; /* not a field: the body begins */
                break;
            }
            if (m->n_fields == QN_MESSAGE_FIELDS_MAX)
                return QN_ETOOBIG;
            m->fields[m->n_fields].start = pos;
            m->fields[m->n_fields].name_len = name_end - pos;
            m->fields[m->n_fields].value = colon + 1;
            m->n_fields++;
        }
        /* The line belongs to the header block: now its bounds apply. */
        if (content - pos > QN_MESSAGE_LINE_MAX || next - start > QN_MESSAGE_BLOCK_MAX)
            return QN_ETOOBIG;
        m->fields[m->n_fields - 1].end = next;
        pos = next;
    }
    for (i = 0; i < m->n_fields; i++)
        field_scan(m, &m->fields[i]);
    return QN_OK;
}

enum qn_status qn_message_unfold(const struct qn_message *m, const struct qn_message_field *f,
                                 struct qn_buf *out)
{
    size_t i, from = f->value;
    enum qn_status r;
    char b;

    qn_buf_reset(out);
    while (from < f->end && is_blank(m->msg[from]))
        from++;
    for (i = from; i < f->end; i++) {
        b = m->msg[i];
        if (b == '\n' || (b == '\r' && i + 1 < f->end && m->msg[i + 1] == '\n'))
            continue;
        r = qn_buf_putc(out, is_control((unsigned char)b) ? ' ' : b);
        if (r != QN_OK)
            return r;
    }
    while (out->len > 0 && is_blank(out->data[out->len - 1]))
        qn_buf_truncate(out, out->len - 1);
    if (out->data == NULL)
        return qn_buf_puts(out, ""); /* always a string */
    return QN_OK;
}

bool qn_message_field_is(const struct qn_message *m, const struct qn_message_field *f,
                         const char *name)
{
    return f->name_len == strlen(name) && strncasecmp(m->msg + f->start, name, f->name_len) == 0;
}

/* ---- address lists (RFC 5322 section 3.4) ---- */

struct addr_parser {
    char phrase[QN_MESSAGE_NAME_MAX + 1]; /* outside <>: display name, or a bare addr-spec */
    size_t phrase_len;
    bool phrase_cut, phrase_blank;
    char angle[QN_MIME_ADDR_MAX + 1]; /* inside <> */
    size_t angle_len;
    bool angle_cut, has_angle;
    char comment[QN_MESSAGE_NAME_MAX + 1]; /* the comments' text: "a@b (Name)" */
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
        if (p->phrase_len < QN_MESSAGE_NAME_MAX)
            p->phrase[p->phrase_len++] = ' ';
        p->phrase_blank = true;
    }
    p->blank_pending = false;
    if (p->phrase_len < QN_MESSAGE_NAME_MAX)
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
    if (p->comment_len < QN_MESSAGE_NAME_MAX)
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
static enum qn_status end_mailbox(struct addr_parser *p, qn_message_mailbox_fn fn, void *arg)
{
    struct qn_message_mailbox mb;
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
            set_text(mb.name, &mb.name_len, QN_MESSAGE_NAME_MAX, p->phrase, p->phrase_len);
        else
            set_text(mb.name, &mb.name_len, QN_MESSAGE_NAME_MAX, p->comment, p->comment_len);
    } else {
        addr = p->phrase;
        addr_len = p->phrase_len;
        /* "Joe Smith" without <> is not an address, nor is anything cut. */
        mb.addr_bad = p->phrase_cut || p->phrase_blank || addr_len > QN_MIME_ADDR_MAX;
        set_text(mb.name, &mb.name_len, QN_MESSAGE_NAME_MAX, p->comment, p->comment_len);
    }
    set_text(mb.addr, &mb.addr_len, QN_MIME_ADDR_MAX, addr, addr_len);
    if (mb.addr_len > 0)
        r = fn(arg, &mb); /* an empty element ("a, , b", "<>") is nothing */
    parser_reset(p);
    return r;
}

enum qn_status qn_message_addresses(const char *s, size_t n, qn_message_mailbox_fn fn, void *arg)
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
            r = end_mailbox(&p, fn, arg);
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
    return end_mailbox(&p, fn, arg);
}

/* ---- RFC 2047 decoding ---- */

/* Length of the encoded-word at S ("=?charset?X?text?="), or 0 when there is none. */
static size_t word_len(const char *s, size_t n, size_t *ret_charset_len, char *ret_encoding,
                       size_t *ret_text_at, size_t *ret_text_len)
{
    size_t i = 2, cs_start = 2, text_start;

    if (n < 8 || s[0] != '=' || s[1] != '?')
        return 0;
    while (i < n && s[i] != '?' && is_token(s[i]) && i - cs_start < QN_MESSAGE_CHARSET_MAX)
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
    char charset[QN_MESSAGE_CHARSET_MAX + 1];
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

enum qn_status qn_message_decode(const char *s, size_t n, struct qn_buf *out)
{
    struct qn_buf utf8;
    enum qn_status r;

    /* Decoding can grow text threefold (a lone byte becomes U+FFFD). */
    qn_buf_init(&utf8, 3 * n + 16);
    r = qn_text_decode(s, n, &utf8);
    if (r == QN_OK)
        r = decode_words(utf8.data != NULL ? utf8.data : "", utf8.len, out);
    if (r == QN_OK && out->data == NULL)
        r = qn_buf_puts(out, "");
    qn_buf_free(&utf8);
    return r;
}

/* ---- Content-Type (RFC 2045 section 5.1) ---- */

size_t qn_message_token(const char *s, size_t n, char *out, size_t outsz)
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

void qn_message_content_type(const char *s, size_t n, char *type, char *subtype, char *charset)
{
    char pname[32];
    size_t i = 0, o;

    type[0] = subtype[0] = charset[0] = '\0';
    while (i < n && is_blank(s[i]))
        i++;
    i += qn_message_token(s + i, n - i, type, QN_MESSAGE_TYPE_MAX + 1);
    if (i < n && s[i] == '/') {
        i++;
        i += qn_message_token(s + i, n - i, subtype, QN_MESSAGE_TYPE_MAX + 1);
    }
    while (i < n) {
        while (i < n && (is_blank(s[i]) || s[i] == ';'))
            i++;
        i += qn_message_token(s + i, n - i, pname, sizeof(pname));
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
            char quoted[QN_MESSAGE_CHARSET_MAX + 1];

            for (i++, o = 0; i < n && s[i] != '"'; i++) {
                if (s[i] == '\\' && i + 1 < n)
                    i++;
                if (o < QN_MESSAGE_CHARSET_MAX)
                    quoted[o++] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
            }
            quoted[o] = '\0';
            i++;
            if (strcmp(pname, "charset") == 0)
                memcpy(charset, quoted, o + 1);
        } else {
            char value[QN_MESSAGE_CHARSET_MAX + 1];

            i += qn_message_token(s + i, n - i, value, sizeof(value));
            if (strcmp(pname, "charset") == 0)
                memcpy(charset, value, strlen(value) + 1);
        }
    }
}
