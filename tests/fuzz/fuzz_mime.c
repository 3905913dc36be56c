/*
 * fuzz_mime — the RFC 5322 message builder (common/mime.h).
 *
 * Input: byte 0 holds flags (bit 0 HTML part, bit 1 Reply-To, bit 2 no display
 * name, bit 3 no subject, bits 4-5 one to four recipients, bit 6 generated
 * Date/Message-ID/boundary instead of fixed ones, bit 7 the sender address
 * from the input); then NUL-separated fields: display name, subject, text,
 * HTML, sender address, a header name and a header value.
 *
 * The message is parsed back here, independently of mime.c:
 *  - every line ends in CRLF, none exceeds 998 octets; header lines are
 *    printable ASCII within 78 octets (except a line holding just a long
 *    address or a generated Message-ID with a long domain, see below);
 *  - the header names are exactly Date, From, To, [Reply-To], Subject,
 *    Message-ID, MIME-Version, Content-Type[, Content-Transfer-Encoding]
 *    in that order: no input can add or remove a header;
 *  - Subject and the From display name decode (RFC 2047 "B" words, quoted
 *    string or atoms) to exactly qn_text_sanitize_line() of the input cut at
 *    QN_MIME_VALUE_MAX; every encoded-word is at most 75 characters and
 *    holds whole UTF-8 characters; plain text never holds "=?";
 *  - To, Reply-To, Message-ID, Date, MIME-Version are exactly what was given;
 *  - each body part is base64 in lines of at most 76 and decodes to the
 *    text with invalid UTF-8 repaired and every line break made CRLF
 *    (exactly the input when it was valid UTF-8); the multipart structure
 *    is plain first, HTML last, closed by the final delimiter;
 *  - qn_mime_header_text() with any name: an invalid name writes nothing
 *    and returns QN_EINVAL; a valid one writes exactly one field that
 *    decodes to the sanitised value.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "fuzz.h"
#include "mime.h"
#include "text.h"

#define FIXED_DATE     ((time_t)1764180000)
#define FIXED_ID       "<fuzz.1234@example.com>"
#define FIXED_BOUNDARY "=_fuzz_b0undary.'()+_,-./:=?"
#define OUT_MAX        (1024 * 1024)

struct field {
    char name[64];
    char *value; /* unfolded: the CRLF of each fold removed, its blank kept */
    size_t len;
};

struct parsed {
    struct field f[16];
    size_t n;
};

static void parsed_free(struct parsed *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->f[i].value);
    p->n = 0;
}

/* Is LINE (N octets) just one address token, possibly after "Name:"? */
static bool address_line(const char *line, size_t n)
{
    const char *sp = memchr(line, ' ', n);

    if (line[0] == ' ')
        return memchr(line + 1, ' ', n - 1) == NULL;
    return sp != NULL && memchr(sp + 1, ' ', n - (size_t)(sp + 1 - line)) == NULL;
}

/*
 * Parse a header block of LEN octets (CRLF-terminated lines, no blank line)
 * into P.  LONG_OK_MESSAGE_ID: a Message-ID line may pass 78 (generated from a
 * long domain).
 */
static void parse_header_block(const char *h, size_t len, struct parsed *p)
{
    size_t pos = 0;

    p->n = 0;
    while (pos < len) {
        const char *line = h + pos, *crlf, *colon;
        size_t n;

        crlf = memmem(line, len - pos, "\r\n", 2);
        FUZZ_ASSERT(crlf != NULL, "header line without CRLF");
        n = (size_t)(crlf - line);
        pos += n + 2;
        FUZZ_ASSERT(n > 0, "empty line inside the header block");
        for (size_t i = 0; i < n; i++)
            FUZZ_ASSERT(line[i] >= 0x20 && line[i] <= 0x7E, "non-printable octet in a header");
        FUZZ_ASSERT(n <= QN_MIME_LINE_MAX, "header line over 998 octets");
        if (n > QN_MIME_LINE_SOFT) {
            bool is_msgid = p->n > 0 && line[0] != ' ' && strncmp(line, "Message-ID:", 11) == 0;

            FUZZ_ASSERT(address_line(line, n) || is_msgid,
                        "header line over 78 octets that is not a lone address");
            FUZZ_ASSERT(n <= QN_MIME_HEADER_NAME_MAX + QN_MIME_ADDR_MAX + 4 || is_msgid,
                        "address line longer than mime.h allows");
        }
        if (line[0] == ' ') {
            struct field *f;

            FUZZ_ASSERT(p->n > 0, "continuation line before any field");
            FUZZ_ASSERT(n > 1 && line[1] != ' ', "continuation line of blanks only");
            f = &p->f[p->n - 1];
            f->value = realloc(f->value, f->len + n + 1);
            FUZZ_ASSERT(f->value != NULL, "oom");
            memcpy(f->value + f->len, line, n);
            f->len += n;
            f->value[f->len] = '\0';
            continue;
        }
        colon = memchr(line, ':', n);
        FUZZ_ASSERT(colon != NULL && colon > line, "header line that is neither field nor fold");
        FUZZ_ASSERT(p->n < 16, "too many header fields");
        FUZZ_ASSERT((size_t)(colon - line) < sizeof(p->f[0].name), "header name too long");
        memcpy(p->f[p->n].name, line, (size_t)(colon - line));
        p->f[p->n].name[colon - line] = '\0';
        p->f[p->n].len = n - (size_t)(colon + 1 - line);
        p->f[p->n].value = fz_strndup(colon + 1, p->f[p->n].len);
        p->n++;
    }
}

/* Decode one encoded-word "=?UTF-8?B?...?=" into OUT (appending); false if it is not one. */
static bool decode_word(const char *w, size_t n, char *out, size_t *out_len)
{
    size_t start = *out_len;

    if (n < 12 || n > QN_MIME_ENCODED_WORD_MAX || memcmp(w, "=?UTF-8?B?", 10) != 0 ||
        memcmp(w + n - 2, "?=", 2) != 0)
        return false;
    if (!fz_b64_decode(w + 10, n - 12, (unsigned char *)out, out_len))
        return false;
    /* RFC 2047 section 5: each word holds whole characters. */
    return *out_len > start && fz_utf8_valid(out + start, *out_len - start);
}

/*
 * Decode the unstructured or phrase text V (LEN octets, as unfolded: words
 * separated by single blanks, starting with one) into OUT.  PHRASE: a
 * quoted-string is allowed too.  Returns the decoded length.
 */
static size_t decode_text(const char *v, size_t len, bool phrase, char *out)
{
    size_t o = 0, i = 0;
    bool encoded;

    if (len == 0)
        return 0;
    FUZZ_ASSERT(v[0] == ' ', "value does not start with a blank");
    encoded = len >= 3 && memcmp(v + 1, "=?", 2) == 0;
    if (encoded) {
        while (i < len) {
            size_t end;

            FUZZ_ASSERT(v[i] == ' ', "encoded-words not separated by one blank");
            i++;
            for (end = i; end < len && v[end] != ' '; end++)
                ;
            FUZZ_ASSERT(decode_word(v + i, end - i, out, &o), "malformed encoded-word");
            i = end;
        }
        return o;
    }
    FUZZ_ASSERT(memmem(v, len, "=?", 2) == NULL, "plain text holds =? (would decode)");
    for (i = 1; i < len; i++)
        FUZZ_ASSERT(!(v[i] == ' ' && v[i - 1] == ' '), "double blank in a plain value");
    FUZZ_ASSERT(v[len - 1] != ' ', "trailing blank in a value");
    if (phrase && v[1] == '"') {
        FUZZ_ASSERT(len >= 3 && v[len - 1] == '"', "unterminated quoted-string");
        for (i = 2; i < len - 1; i++) {
            if (v[i] == '\\') {
                i++;
                FUZZ_ASSERT(i < len - 1, "escape at the end of a quoted-string");
            } else {
                FUZZ_ASSERT(v[i] != '"', "unescaped quote inside a quoted-string");
            }
            out[o++] = v[i];
        }
        return o;
    }
    if (phrase) {
        for (i = 1; i < len; i++)
            FUZZ_ASSERT(strchr("()<>[]:;@\\,.\"", v[i]) == NULL,
                        "RFC 5322 special in an unquoted display name");
    }
    memcpy(out, v + 1, len - 1);
    return len - 1;
}

static void expect_sanitised(const char *decoded, size_t n, const char *input, const char *what)
{
    char want[QN_MIME_VALUE_MAX + 1];
    size_t wn = 0;

    if (input != NULL)
        wn = qn_text_sanitize_line(input, strlen(input), want, sizeof(want));
    FUZZ_ASSERT(n == wn && memcmp(decoded, want, n) == 0, what);
}

/* TEXT as a text part carries it: invalid UTF-8 repaired, CRLF line breaks. */
static void canonical(const char *text, struct qn_buf *out)
{
    size_t i = 0, end;

    for (;;) {
        end = i + strcspn(text + i, "\r\n");
        FUZZ_ASSERT(qn_text_utf8_repair(text + i, end - i, out) == QN_OK, "repair");
        if (text[end] == '\0')
            return;
        FUZZ_ASSERT(qn_buf_puts(out, "\r\n") == QN_OK, "oom");
        i = end + (text[end] == '\r' && text[end + 1] == '\n' ? 2 : 1);
    }
}

/* The same for valid UTF-8, without the library: only line breaks change. */
static void canonical_valid(const char *text, struct qn_buf *out)
{
    for (size_t i = 0; text[i] != '\0'; i++) {
        if (text[i] == '\r' || text[i] == '\n') {
            FUZZ_ASSERT(qn_buf_puts(out, "\r\n") == QN_OK, "oom");
            if (text[i] == '\r' && text[i + 1] == '\n')
                i++;
        } else {
            FUZZ_ASSERT(qn_buf_putc(out, text[i]) == QN_OK, "oom");
        }
    }
}

/* Lines of base64 from *POS up to (not including) a line starting with "--" or the end. */
static void check_part_body(const char *b, size_t len, size_t *pos, const char *text)
{
    unsigned char *dec = malloc(len + 1);
    size_t dlen = 0;
    struct qn_buf want, want2;

    FUZZ_ASSERT(dec != NULL, "oom");
    while (*pos < len) {
        const char *line = b + *pos, *crlf = memmem(line, len - *pos, "\r\n", 2);
        size_t n;

        FUZZ_ASSERT(crlf != NULL, "body line without CRLF");
        n = (size_t)(crlf - line);
        if (n >= 2 && line[0] == '-' && line[1] == '-')
            break;
        /* RFC 2046 section 5.1.1: the CRLF before a delimiter belongs to it. */
        if (n == 0 && len - *pos >= 4 && memcmp(line + 2, "--", 2) == 0) {
            *pos += 2;
            break;
        }
        FUZZ_ASSERT(n > 0 && n <= 76, "base64 line empty or over 76");
        FUZZ_ASSERT(fz_b64_decode(line, n, dec, &dlen), "bad base64 line");
        *pos += n + 2;
    }
    qn_buf_init(&want, OUT_MAX);
    canonical(text, &want);
    FUZZ_ASSERT(dlen == want.len && (dlen == 0 || memcmp(dec, want.data, dlen) == 0),
                "body does not decode to the canonical text");
    FUZZ_ASSERT(fz_utf8_valid(dec, dlen) && fz_crlf_only((const char *)dec, dlen),
                "body is not valid UTF-8 with CRLF line breaks");
    if (fz_utf8_valid(text, strlen(text))) {
        qn_buf_init(&want2, OUT_MAX);
        canonical_valid(text, &want2);
        FUZZ_ASSERT(dlen == want2.len && (dlen == 0 || memcmp(dec, want2.data, dlen) == 0),
                    "valid UTF-8 body changed beyond its line breaks");
        qn_buf_free(&want2);
    }
    qn_buf_free(&want);
    free(dec);
}

static bool take_line(const char *b, size_t len, size_t *pos, const char *want)
{
    size_t n = strlen(want);

    if (len - *pos < n + 2 || memcmp(b + *pos, want, n) != 0 || memcmp(b + *pos + n, "\r\n", 2))
        return false;
    *pos += n + 2;
    return true;
}

static void check_part_headers(const char *b, size_t len, size_t *pos, const char *type)
{
    char ct[64];

    snprintf(ct, sizeof ct, "Content-Type: text/%s; charset=UTF-8", type);
    FUZZ_ASSERT(take_line(b, len, pos, ct), "part Content-Type");
    FUZZ_ASSERT(take_line(b, len, pos, "Content-Transfer-Encoding: base64"), "part CTE");
    FUZZ_ASSERT(take_line(b, len, pos, ""), "blank line after part headers");
}

static bool hex32(const char *s)
{
    for (int i = 0; i < 32; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

static void check_date(const char *v, size_t n, bool fixed)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char want[64];
    struct tm tm;
    time_t t = FIXED_DATE;

    if (!fixed) {
        FUZZ_ASSERT(n == 32 && v[0] == ' ' && memcmp(v + n - 6, " +0000", 6) == 0, "Date form");
        return;
    }
    gmtime_r(&t, &tm);
    snprintf(want, sizeof want, " %s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday],
             tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    FUZZ_ASSERT(n == strlen(want) && memcmp(v, want, n) == 0, "Date is not the given time");
}

/* The documented addr-spec rule, written again. */
static bool addr_rule(const char *s)
{
    size_t n = strlen(s), at = 0, n_at = 0;

    if (n < 3 || n > QN_MIME_ADDR_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x21 || c > 0x7E || strchr("()<>[],;:\"\\", c) != NULL)
            return false;
        if (c == '@') {
            n_at++;
            at = i;
        }
    }
    return n_at == 1 && at > 0 && at + 1 < n;
}

static void check_header_text(const char *name, const char *value)
{
    struct qn_buf out;
    struct parsed p;
    bool valid = true;
    size_t n = strlen(name);
    char *dec;
    size_t dn;
    enum qn_status r;

    if (n == 0 || n > QN_MIME_HEADER_NAME_MAX)
        valid = false;
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)name[i] < 33 || (unsigned char)name[i] > 126 || name[i] == ':')
            valid = false;
    }
    qn_buf_init(&out, OUT_MAX);
    FUZZ_ASSERT(qn_buf_puts(&out, "X-Before: 1\r\n") == QN_OK, "setup");
    r = qn_mime_header_text(&out, name, value);
    if (!valid) {
        FUZZ_ASSERT(r == QN_EINVAL, "invalid header name accepted");
        FUZZ_ASSERT(out.len == 13, "invalid header name: something was written");
        qn_buf_free(&out);
        return;
    }
    FUZZ_ASSERT(r == QN_OK, "qn_mime_header_text failed");
    FUZZ_ASSERT(fz_crlf_only(out.data, out.len) && out.len >= 2 &&
                    memcmp(out.data + out.len - 2, "\r\n", 2) == 0,
                "header not CRLF-terminated lines");
    parse_header_block(out.data, out.len, &p);
    FUZZ_ASSERT(p.n == 2 && strcmp(p.f[0].name, "X-Before") == 0 && strcmp(p.f[1].name, name) == 0,
                "qn_mime_header_text wrote other than exactly one field");
    for (size_t i = 13; i < out.len; i++)
        ; /* printable and line bounds were checked by the parser */
    dec = malloc(p.f[1].len + 1);
    FUZZ_ASSERT(dec != NULL, "oom");
    dn = decode_text(p.f[1].value, p.f[1].len, false, dec);
    expect_sanitised(dec, dn, value, "header value does not decode to the sanitised input");
    free(dec);
    parsed_free(&p);
    qn_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const pool[] = {"a@example.com", "ops@example.org", "987654321@qq.com",
                                       "x@y.z"};
    const char *fields[7] = {"", "", "", "", "", "", ""};
    char *owned[7] = {NULL};
    struct fz_cursor c = {.p = data + 1, .n = size > 0 ? size - 1 : 0};
    struct qn_mime_message m;
    struct qn_buf out;
    struct parsed p;
    const char *head_end, *v;
    size_t i, vn, hlen, pos, k;
    char *dec;
    enum qn_status r;
    unsigned flags;
    bool fixed;

    if (size == 0)
        return 0;
    flags = data[0];
    for (i = 0; i < 7 && fz_next_field(&c, 0, &v, &vn); i++) {
        owned[i] = fz_strndup(v, vn);
        fields[i] = owned[i];
    }
    fixed = !(flags & 0x40);

    memset(&m, 0, sizeof m);
    m.from_name = (flags & 0x04) ? NULL : fields[0];
    m.subject = (flags & 0x08) ? NULL : fields[1];
    m.text = fields[2];
    m.html = (flags & 0x01) ? fields[3] : NULL;
    m.from_addr = "sender@qq.com";
    if ((flags & 0x80) != 0) {
        FUZZ_ASSERT(qn_mime_addr_valid(fields[4]) == addr_rule(fields[4]),
                    "qn_mime_addr_valid disagrees with its documented rule");
        if (addr_rule(fields[4]))
            m.from_addr = fields[4];
    }
    m.to = pool;
    m.n_to = 1 + ((flags >> 4) & 3);
    m.reply_to = (flags & 0x02) ? "reply@example.net" : NULL;
    m.date = fixed ? FIXED_DATE : 0;
    m.message_id = fixed ? FIXED_ID : NULL;
    m.boundary = fixed ? FIXED_BOUNDARY : NULL;

    qn_buf_init(&out, OUT_MAX);
    r = qn_mime_build(&m, &out);
    FUZZ_ASSERT(r == QN_OK, "qn_mime_build failed on valid arguments");
    FUZZ_ASSERT(memchr(out.data, '\0', out.len) == NULL, "NUL in the message");
    FUZZ_ASSERT(fz_crlf_only(out.data, out.len), "bare CR or LF in the message");
    for (pos = 0; pos < out.len;) {
        const char *e = memmem(out.data + pos, out.len - pos, "\r\n", 2);

        FUZZ_ASSERT(e != NULL, "message does not end in CRLF");
        FUZZ_ASSERT((size_t)(e - (out.data + pos)) <= QN_MIME_LINE_MAX, "line over 998 octets");
        pos = (size_t)(e - out.data) + 2;
    }

    head_end = memmem(out.data, out.len, "\r\n\r\n", 4);
    FUZZ_ASSERT(head_end != NULL, "no blank line after the header");
    hlen = (size_t)(head_end - out.data) + 2;
    parse_header_block(out.data, hlen, &p);

    {
        const char *want[9];
        size_t nw = 0;

        want[nw++] = "Date";
        want[nw++] = "From";
        want[nw++] = "To";
        if (m.reply_to != NULL)
            want[nw++] = "Reply-To";
        want[nw++] = "Subject";
        want[nw++] = "Message-ID";
        want[nw++] = "MIME-Version";
        want[nw++] = "Content-Type";
        if (m.html == NULL)
            want[nw++] = "Content-Transfer-Encoding";
        FUZZ_ASSERT(p.n == nw, "wrong number of header fields");
        for (i = 0; i < nw; i++)
            FUZZ_ASSERT(strcmp(p.f[i].name, want[i]) == 0, "unexpected header field or order");
    }
    k = 0;
    check_date(p.f[k].value, p.f[k].len, fixed);
    k++;

    /* From: [display-name] <addr>, or addr alone */
    {
        struct field *f = &p.f[k++];
        char angle[QN_MIME_ADDR_MAX + 4];
        size_t al = (size_t)snprintf(angle, sizeof angle, " <%s>", m.from_addr);
        char want_name[QN_MIME_VALUE_MAX + 1];
        size_t wn = m.from_name ? qn_text_sanitize_line(m.from_name, strlen(m.from_name), want_name,
                                                        sizeof want_name)
                                : 0;

        if (wn == 0) {
            FUZZ_ASSERT(f->len == strlen(m.from_addr) + 1 && f->value[0] == ' ' &&
                            strcmp(f->value + 1, m.from_addr) == 0,
                        "From without display name is not the bare address");
        } else {
            FUZZ_ASSERT(f->len > al && memcmp(f->value + f->len - al, angle, al) == 0,
                        "From does not end in <address>");
            dec = malloc(f->len + 1);
            FUZZ_ASSERT(dec != NULL, "oom");
            vn = decode_text(f->value, f->len - al, true, dec);
            expect_sanitised(dec, vn, m.from_name, "display name does not decode to its input");
            free(dec);
        }
    }
    /* To: a, b, c */
    {
        struct field *f = &p.f[k++];
        struct qn_buf want;

        qn_buf_init(&want, 4096);
        for (i = 0; i < m.n_to; i++)
            FUZZ_ASSERT(qn_buf_printf(&want, " %s%s", pool[i], i + 1 < m.n_to ? "," : "") == QN_OK,
                        "oom");
        FUZZ_ASSERT(f->len == want.len && memcmp(f->value, want.data, want.len) == 0,
                    "To is not the recipient list");
        qn_buf_free(&want);
    }
    if (m.reply_to != NULL) {
        struct field *f = &p.f[k++];

        FUZZ_ASSERT(strcmp(f->value, " reply@example.net") == 0, "Reply-To");
    }
    /* Subject */
    {
        struct field *f = &p.f[k++];

        dec = malloc(f->len + 1);
        FUZZ_ASSERT(dec != NULL, "oom");
        vn = decode_text(f->value, f->len, false, dec);
        expect_sanitised(dec, vn, m.subject, "Subject does not decode to its input");
        free(dec);
    }
    /* Message-ID */
    {
        struct field *f = &p.f[k++];

        if (fixed) {
            FUZZ_ASSERT(strcmp(f->value, " " FIXED_ID) == 0, "Message-ID is not the given one");
        } else {
            const char *dom = strchr(m.from_addr, '@');

            FUZZ_ASSERT(f->len == 1 + 1 + 32 + strlen(dom) + 1 && f->value[1] == '<' &&
                            hex32(f->value + 2) && memcmp(f->value + 34, dom, strlen(dom)) == 0 &&
                            f->value[f->len - 1] == '>',
                        "generated Message-ID form");
        }
    }
    FUZZ_ASSERT(strcmp(p.f[k++].value, " 1.0") == 0, "MIME-Version");

    pos = hlen + 2;
    if (m.html == NULL) {
        FUZZ_ASSERT(strcmp(p.f[k].value, " text/plain; charset=UTF-8") == 0, "Content-Type");
        FUZZ_ASSERT(strcmp(p.f[k + 1].value, " base64") == 0, "Content-Transfer-Encoding");
        check_part_body(out.data, out.len, &pos, m.text);
        FUZZ_ASSERT(pos == out.len, "bytes after the body");
    } else {
        char want_ct[128], delim[96], close_delim[96], boundary[QN_MIME_BOUNDARY_MAX + 1];
        const char *q;

        q = strstr(p.f[k].value, "boundary=\"");
        FUZZ_ASSERT(q != NULL, "multipart without boundary");
        q += 10;
        FUZZ_ASSERT(strlen(q) >= 2 && strlen(q) - 1 <= QN_MIME_BOUNDARY_MAX, "boundary length");
        memcpy(boundary, q, strlen(q) - 1);
        boundary[strlen(q) - 1] = '\0';
        if (fixed)
            FUZZ_ASSERT(strcmp(boundary, FIXED_BOUNDARY) == 0, "boundary is not the given one");
        snprintf(want_ct, sizeof want_ct, " multipart/alternative; boundary=\"%s\"", boundary);
        FUZZ_ASSERT(strcmp(p.f[k].value, want_ct) == 0, "multipart Content-Type");
        snprintf(delim, sizeof delim, "--%s", boundary);
        snprintf(close_delim, sizeof close_delim, "--%s--", boundary);
        FUZZ_ASSERT(take_line(out.data, out.len, &pos, delim), "first delimiter");
        check_part_headers(out.data, out.len, &pos, "plain");
        check_part_body(out.data, out.len, &pos, m.text);
        FUZZ_ASSERT(take_line(out.data, out.len, &pos, delim), "second delimiter");
        check_part_headers(out.data, out.len, &pos, "html");
        check_part_body(out.data, out.len, &pos, m.html);
        FUZZ_ASSERT(take_line(out.data, out.len, &pos, close_delim), "close delimiter");
        FUZZ_ASSERT(pos == out.len, "bytes after the close delimiter");
    }
    parsed_free(&p);
    qn_buf_free(&out);

    check_header_text(fields[5], fields[6]);

    for (i = 0; i < 7; i++)
        free(owned[i]);
    return 0;
}
