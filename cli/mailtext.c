/*
 * mailtext — a sendmail message as a subject and plain text; contract in mailtext.h.
 */
#include "mailtext.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "message.h"
#include "text.h"

#define FIELD_MAX (16 * 1024) /* bytes of an unfolded field kept */

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Append the N bytes at S (valid UTF-8) to OUT, as much as fits, cut on a character
 * boundary.  QN_ENOMEM only. */
static enum qn_status append_cut(struct qn_buf *out, const char *s, size_t n)
{
    size_t room = out->max - out->len;

    if (n > room) {
        n = room;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    return n == 0 ? QN_OK : qn_buf_append(out, s, n) == QN_ENOMEM ? QN_ENOMEM : QN_OK;
}

/* The unfolded value of the first field NAME of M into OUT ("" when absent). */
static void field(const struct qn_message *m, const char *name, struct qn_buf *out)
{
    qn_buf_reset(out);
    for (size_t i = 0; i < m->n_fields; i++) {
        if (qn_message_field_is(m, &m->fields[i], name)) {
            if (qn_message_unfold(m, &m->fields[i], out) != QN_OK)
                qn_buf_reset(out);
            return;
        }
    }
}

/* The boundary parameter of the Content-Type value CT into OUT (QN_MAILTEXT_BOUNDARY_MAX + 1). */
static bool boundary_of(const char *ct, char *out)
{
    const char *p = ct;
    size_t n = 0;

    while ((p = strcasestr(p, "boundary")) != NULL) {
        const char *q = p + 8;
        bool starts = p == ct || p[-1] == ';' || blank(p[-1]);

        p = q;
        while (blank(*q))
            q++;
        if (!starts || *q != '=')
            continue;
        q++;
        while (blank(*q))
            q++;
        if (*q == '"') {
            for (q++; *q != '\0' && *q != '"' && n < QN_MAILTEXT_BOUNDARY_MAX; q++)
                out[n++] = *q;
        } else {
            for (; *q != '\0' && *q != ';' && !blank(*q) && n < QN_MAILTEXT_BOUNDARY_MAX; q++)
                out[n++] = *q;
        }
        out[n] = '\0';
        return n > 0;
    }
    return false;
}

/* ---- decoding a body ------------------------------------------------------------------ */

static int hex(char c)
{
    return qn_text_hex_digit(c);
}

static enum qn_status quoted_printable(const char *s, size_t n, struct qn_buf *out)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        enum qn_status r;

        if (c == '=' && i + 2 < n && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            c = (char)(hex(s[i + 1]) * 16 + hex(s[i + 2]));
            i += 2;
        } else if (c == '=' && i + 1 < n && (s[i + 1] == '\n' || s[i + 1] == '\r')) {
            /* A soft line break: "=" at the end of the line. */
            i += s[i + 1] == '\r' && i + 2 < n && s[i + 2] == '\n' ? 2 : 1;
            continue;
        }
        r = qn_buf_putc(out, c);
        if (r != QN_OK)
            return r;
    }
    return QN_OK;
}

static enum qn_status base64(const char *s, size_t n, struct qn_buf *out)
{
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    unsigned char chunk[3 * 1024];
    enum qn_status r = QN_ENOMEM;
    int got;

    if (ctx == NULL)
        return QN_ENOMEM;
    EVP_DecodeInit(ctx);
    r = QN_OK;
    /* In pieces small enough that each decodes into CHUNK (3 bytes per 4). */
    for (size_t at = 0; r == QN_OK && at < n; at += 4 * 1024) {
        size_t k = n - at < 4 * 1024 ? n - at : 4 * 1024;

        got = 0;
        if (EVP_DecodeUpdate(ctx, chunk, &got, (const unsigned char *)s + at, (int)k) < 0)
            r = QN_EINVAL;
        else if (got > 0)
            r = qn_buf_append(out, chunk, (size_t)got);
    }
    if (r == QN_OK && EVP_DecodeFinal(ctx, chunk, &got) >= 0 && got > 0)
        r = qn_buf_append(out, chunk, (size_t)got);
    EVP_ENCODE_CTX_free(ctx);
    return r;
}

/* The body of a part (N bytes at S) in its transfer encoding CTE into OUT as UTF-8. */
static enum qn_status decode_body(const char *cte, const char *s, size_t n, struct qn_buf *out)
{
    struct qn_buf raw;
    enum qn_status r;

    if (n > QN_MAILTEXT_BODY_MAX)
        n = QN_MAILTEXT_BODY_MAX;
    qn_buf_init(&raw, n + 1);
    if (strcasecmp(cte, "base64") == 0)
        r = base64(s, n, &raw);
    else if (strcasecmp(cte, "quoted-printable") == 0)
        r = quoted_printable(s, n, &raw);
    else
        r = QN_EINVAL;
    if (r == QN_EINVAL || r == QN_ETOOBIG) { /* 7bit, 8bit, binary, or broken: as it is */
        qn_buf_reset(&raw);
        r = qn_buf_append(&raw, s, n);
    }
    if (r == QN_OK)
        r = qn_text_decode(raw.data != NULL ? raw.data : "", raw.len, out);
    qn_buf_free(&raw);
    return r;
}

/* HTML's text: tags out (line ends for those that end a block), a few entities decoded. */
static enum qn_status html_text(const char *s, size_t n, struct qn_buf *out)
{
    static const struct {
        const char *entity;
        const char *text;
    } entities[] = {{"&lt;", "<"},    {"&gt;", ">"},  {"&amp;", "&"},
                    {"&quot;", "\""}, {"&#39;", "'"}, {"&nbsp;", " "}};
    enum qn_status r = QN_OK;
    size_t i = 0;

    while (r == QN_OK && i < n) {
        if (s[i] == '<') {
            const char *end = memchr(s + i, '>', n - i);
            size_t tag = end != NULL ? (size_t)(end - (s + i)) + 1 : n - i;

            if (tag >= 3 &&
                (strncasecmp(s + i, "<br", 3) == 0 || strncasecmp(s + i, "</p", 3) == 0 ||
                 strncasecmp(s + i, "</div", 5) == 0 || strncasecmp(s + i, "</tr", 4) == 0))
                r = qn_buf_putc(out, '\n');
            i += tag;
            continue;
        }
        if (s[i] == '&') {
            size_t k;

            for (k = 0; k < sizeof(entities) / sizeof(entities[0]); k++) {
                size_t len = strlen(entities[k].entity);
                if (n - i >= len && strncasecmp(s + i, entities[k].entity, len) == 0) {
                    r = qn_buf_puts(out, entities[k].text);
                    i += len;
                    break;
                }
            }
            if (k < sizeof(entities) / sizeof(entities[0]))
                continue;
        }
        if (s[i] != '\r' && !(s[i] == '\n' && out->len > 0 && out->data[out->len - 1] == '\n'))
            r = qn_buf_putc(out, s[i]);
        i++;
    }
    return r;
}

/* ---- parts ------------------------------------------------------------------------------- */

struct want {
    const char *subtype; /* "plain" or "html" */
    struct qn_buf *text;
    bool found;
};

static enum qn_status find_text(const char *msg, size_t len, int depth, struct want *want);

/* Each part of the multipart body (LEN bytes at BODY) with BOUNDARY, until one has the text. */
static enum qn_status each_part(const char *body, size_t len, const char *boundary, int depth,
                                struct want *want)
{
    size_t blen = strlen(boundary), pos = 0, start = 0;
    bool open = false;
    enum qn_status r;

    while (pos < len && !want->found) {
        const char *nl = memchr(body + pos, '\n', len - pos);
        size_t line_end = nl != NULL ? (size_t)(nl - body) : len;
        size_t next = nl != NULL ? line_end + 1 : len;

        if (line_end - pos >= 2 + blen && body[pos] == '-' && body[pos + 1] == '-' &&
            memcmp(body + pos + 2, boundary, blen) == 0) {
            if (open) {
                /* The line end before the delimiter belongs to it. */
                size_t end = pos;
                if (end > start && body[end - 1] == '\n')
                    end--;
                if (end > start && body[end - 1] == '\r')
                    end--;
                r = find_text(body + start, end - start, depth + 1, want);
                if (r != QN_OK)
                    return r;
            }
            /* "--boundary--" closes the multipart. */
            if (line_end - pos >= 4 + blen && memcmp(body + pos + 2 + blen, "--", 2) == 0)
                return QN_OK;
            open = true;
            start = next;
        }
        pos = next;
    }
    return QN_OK;
}

static enum qn_status find_text(const char *msg, size_t len, int depth, struct want *want)
{
    char type[QN_MESSAGE_TYPE_MAX + 1], subtype[QN_MESSAGE_TYPE_MAX + 1],
        charset[QN_MESSAGE_CHARSET_MAX + 1], boundary[QN_MAILTEXT_BOUNDARY_MAX + 1];
    struct qn_message *m = malloc(sizeof(*m));
    struct qn_buf value, cte;
    enum qn_status r = QN_OK;

    if (m == NULL)
        return QN_ENOMEM;
    qn_buf_init(&value, FIELD_MAX);
    qn_buf_init(&cte, 64);
    (void)qn_message_parse(m, msg, len); /* a header past its bounds: what was read */
    field(m, "Content-Type", &value);
    qn_message_content_type(value.data != NULL ? value.data : "", value.len, type, subtype,
                            charset);
    if (type[0] == '\0') { /* RFC 2045 section 5.2: text/plain */
        strcpy(type, "text");
        strcpy(subtype, "plain");
    }
    if (strcmp(type, "multipart") == 0) {
        if (depth < QN_MAILTEXT_DEPTH && value.data != NULL && boundary_of(value.data, boundary))
            r = each_part(msg + m->body, len - m->body, boundary, depth, want);
    } else if (strcmp(type, "text") == 0 && strcmp(subtype, want->subtype) == 0) {
        struct qn_buf decoded;

        field(m, "Content-Transfer-Encoding", &cte);
        qn_buf_init(&decoded, 4 * QN_MAILTEXT_BODY_MAX);
        r = decode_body(cte.data != NULL ? cte.data : "", msg + m->body, len - m->body, &decoded);
        if (r == QN_OK && strcmp(subtype, "html") == 0) {
            struct qn_buf plain;

            qn_buf_init(&plain, decoded.len + 1);
            r = html_text(decoded.data != NULL ? decoded.data : "", decoded.len, &plain);
            qn_buf_free(&decoded);
            decoded = plain;
        }
        if (r == QN_OK)
            r = append_cut(want->text, decoded.data != NULL ? decoded.data : "", decoded.len);
        if (r == QN_OK)
            want->found = true;
        qn_buf_free(&decoded);
        if (r == QN_ETOOBIG)
            r = QN_OK;
    }
    qn_buf_free(&value);
    qn_buf_free(&cte);
    free(m);
    return r;
}

enum qn_status qn_mailtext_summary(void *arg, const char *msg, size_t len, struct qn_buf *subject,
                                   struct qn_buf *text)
{
    struct want want = {.subtype = "plain", .text = text};
    struct qn_message *m = malloc(sizeof(*m));
    struct qn_buf value, decoded;
    char line[512];
    enum qn_status r = QN_OK;

    (void)arg;
    if (m == NULL)
        return QN_ENOMEM;
    qn_buf_reset(subject);
    qn_buf_reset(text);
    qn_buf_init(&value, FIELD_MAX);
    qn_buf_init(&decoded, FIELD_MAX);
    (void)qn_message_parse(m, msg, len);
    field(m, "Subject", &value);
    if (value.len > 0 && qn_message_decode(value.data, value.len, &decoded) == QN_OK) {
        size_t n = qn_text_sanitize_line(decoded.data, decoded.len, line, sizeof(line));
        r = append_cut(subject, line, n);
    }
    if (r == QN_OK)
        r = find_text(msg, len, 0, &want);
    if (r == QN_OK && !want.found) {
        want.subtype = "html";
        r = find_text(msg, len, 0, &want);
    }
    if (r == QN_OK && !want.found) {
        field(m, "Content-Type", &value);
        qn_buf_reset(text);
        r = qn_buf_printf(text, "(%zu bytes of %.100s)", len,
                          value.len > 0 ? value.data : "text/plain");
        if (r == QN_ETOOBIG)
            r = QN_OK;
    }
    qn_buf_free(&value);
    qn_buf_free(&decoded);
    free(m);
    return r;
}
