/*
 * minimal — links removed and addresses masked: see minimal.h.
 *
 * A scan over the text, byte by byte: a URL runs from "http://" or
 * "https://" to the next blank, quote or angle bracket; an IPv4 address is
 * four dot-separated numbers 0-255 that do not start or end inside a
 * longer run of digits and dots (a version such as 1.2.3.4.5 is left
 * alone); an IPv6 address is a run of hex digits and colons with at least
 * two colons that a time cannot be: a hex letter, a group of three or four
 * digits, or "::" (14:03:05 is left alone; a MAC address is masked too,
 * which hides nothing anyone needs to tell the alert apart).
 */
#include "minimal.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static bool is_hex(char c)
{
    return isxdigit((unsigned char)c) != 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Length of a URL at S (N bytes left), 0 when none starts there. */
static size_t url_at(const char *s, size_t n)
{
    size_t i;

    if (n >= 7 && strncasecmp(s, "http://", 7) == 0)
        i = 7;
    else if (n >= 8 && strncasecmp(s, "https://", 8) == 0)
        i = 8;
    else
        return 0;
    while (i < n && !isspace((unsigned char)s[i]) && strchr("\"'<>", s[i]) == NULL)
        i++;
    return i;
}

/* An IPv4 address at S: its length, and where its last number starts. */
static size_t ipv4_at(const char *s, size_t n, size_t *ret_last)
{
    size_t i = 0;

    for (int part = 0; part < 4; part++) {
        size_t start = i, value = 0;

        while (i < n && is_digit(s[i]) && i - start < 3)
            value = value * 10 + (size_t)(s[i++] - '0');
        if (i == start || value > 255)
            return 0;
        if (part == 3)
            *ret_last = start;
        else if (i >= n || s[i++] != '.')
            return 0;
    }
    /* Not the start of a longer dotted run (a version number 1.2.3.4.5). */
    if (i < n && (is_digit(s[i]) || (s[i] == '.' && i + 1 < n && is_digit(s[i + 1]))))
        return 0;
    return i;
}

/* An IPv6 address at S: its length, and where its third group starts
 * (the part masked). */
static size_t ipv6_at(const char *s, size_t n, size_t *ret_cut)
{
    size_t i = 0, colons = 0, groups = 0, run = 0;
    bool telling = false; /* a hex letter, a group of 3-4, or "::" */

    *ret_cut = 0;
    while (i < n && (is_hex(s[i]) || s[i] == ':')) {
        if (s[i] == ':') {
            if (run > 0)
                groups++;
            if (i > 0 && s[i - 1] == ':')
                telling = true;
            colons++;
            if (groups == 2 && *ret_cut == 0)
                *ret_cut = i + 1;
            run = 0;
        } else {
            if (!is_digit(s[i]))
                telling = true;
            if (++run > 4)
                return 0;
            if (run >= 3)
                telling = true;
        }
        i++;
    }
    if (i < n && (isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '.'))
        return 0;
    if (colons < 2 || !telling || colons > 7 + (telling ? 1 : 0))
        return 0;
    if (*ret_cut == 0)
        *ret_cut = i; /* "::1"-like: nothing after two groups to hide */
    return i;
}

static bool word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == ':';
}

enum qn_status qn_minimal_text(const char *s, size_t n, struct qn_buf *out)
{
    size_t start = out->len, i = 0, len, cut;
    enum qn_status r = QN_OK;

    while (r == QN_OK && i < n) {
        bool boundary = i == 0 || !word_char(s[i - 1]);

        if ((len = url_at(s + i, n - i)) > 0) {
            r = qn_buf_puts(out, QN_MINIMAL_LINK);
            i += len;
        } else if (boundary && (len = ipv4_at(s + i, n - i, &cut)) > 0) {
            r = qn_buf_append(out, s + i, cut);
            if (r == QN_OK)
                r = qn_buf_putc(out, 'x');
            i += len;
        } else if (boundary && (is_hex(s[i]) || s[i] == ':') &&
                   (len = ipv6_at(s + i, n - i, &cut)) > 0) {
            r = qn_buf_append(out, s + i, cut);
            if (r == QN_OK && cut < len)
                r = qn_buf_putc(out, 'x');
            i += len;
        } else {
            r = qn_buf_putc(out, s[i++]);
        }
    }
    if (r != QN_OK)
        qn_buf_truncate(out, start);
    return r;
}

enum qn_status qn_minimal_render(const struct qn_rendered *in, struct qn_rendered *out)
{
    enum qn_status r;

    memset(out, 0, sizeof(*out));
    qn_buf_init(&out->subject, QN_RENDER_SUBJECT_MAX - 1);
    qn_buf_init(&out->text, QN_RENDER_BODY_MAX);
    qn_buf_init(&out->html, QN_RENDER_BODY_MAX);
    r = qn_minimal_text(in->subject.data ? in->subject.data : "", in->subject.len, &out->subject);
    if (r == QN_OK)
        r = qn_minimal_text(in->text.data ? in->text.data : "", in->text.len, &out->text);
    if (r != QN_OK)
        qn_rendered_free(out);
    return r;
}
