/*
 * fuzz.h — helpers shared by the libFuzzer targets in tests/fuzz/.
 *
 * The targets check properties, not only the absence of crashes: a broken
 * property calls FUZZ_ASSERT, which prints what was wrong and aborts, so
 * libFuzzer saves the input as a crash.  The helpers below are written
 * independently of the code under test (a different UTF-8 decoder, a
 * base64 decoder, the RFC 2047 word syntax), so a bug shared by the
 * encoder and the checker is unlikely.
 */
#ifndef QN_FUZZ_H
#define QN_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

#include "event.h"

#define FUZZ_ASSERT(cond, what)                                                                    \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz property violated at %s:%d: %s\n  (%s)\n", __FILE__, __LINE__,   \
                    (what), #cond);                                                                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Code point at S (N bytes) by plain arithmetic: length 1..4, or 0 when the bytes
 * are not one well-formed UTF-8 character (overlong, surrogate, > U+10FFFF, cut). */
static inline size_t fz_utf8_char(const unsigned char *s, size_t n, unsigned long *ret_cp)
{
    static const unsigned long min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    unsigned long cp;
    size_t len, i;

    if (n == 0)
        return 0;
    if (s[0] < 0x80) {
        len = 1;
        cp = s[0];
    } else if ((s[0] & 0xE0) == 0xC0) {
        len = 2;
        cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3;
        cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    if (ret_cp != NULL)
        *ret_cp = cp;
    return len;
}

static inline bool fz_utf8_valid(const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t i = 0, len;

    while (i < n) {
        len = fz_utf8_char(s + i, n - i, NULL);
        if (len == 0)
            return false;
        i += len;
    }
    return true;
}

/* What qn_text_sanitize_line() promises never to let through: controls, line separators,
 * and what shows as nothing or reorders text (it writes those as "<U+XXXX>"; which they
 * are, test_text checks against Unicode's own lists). */
static inline bool fz_forbidden_in_line(unsigned long cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
           qn_text_shown_as_code(cp);
}

/* True when S (N bytes) is valid UTF-8 without any character a header, log line or
 * spool field must not hold, and (when TRIMMED) no leading, trailing or double space. */
static inline bool fz_clean_line(const char *s, size_t n, bool trimmed)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned long cp;
    size_t i = 0, len;

    while (i < n) {
        len = fz_utf8_char(p + i, n - i, &cp);
        if (len == 0 || fz_forbidden_in_line(cp))
            return false;
        i += len;
    }
    if (trimmed && n > 0) {
        if (s[0] == ' ' || s[n - 1] == ' ')
            return false;
        for (i = 0; i + 1 < n; i++) {
            if (s[i] == ' ' && s[i + 1] == ' ')
                return false;
        }
    }
    return true;
}

/* A NUL-terminated string within SIZE bytes that is a clean line. */
static inline bool fz_clean_field(const char *s, size_t size)
{
    size_t n = strnlen(s, size);

    return n < size && fz_clean_line(s, n, true);
}

static inline int fz_b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/*
 * Strict base64 (RFC 4648 section 4): whole quanta, '=' only as padding at
 * the end, unused bits zero.  Appends to OUT (room for 3 * N / 4 bytes) and
 * adds to *OUT_LEN.  False on anything else.
 */
static inline bool fz_b64_decode(const char *in, size_t n, unsigned char *out, size_t *out_len)
{
    size_t i, o = *out_len;

    if (n % 4 != 0)
        return false;
    for (i = 0; i < n; i += 4) {
        int v[4], k, pad = 0;
        unsigned long quantum = 0;

        for (k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)in[i + k];

            if (c == '=') {
                if (i + 4 != n || k < 2)
                    return false;
                v[k] = 0;
                pad++;
            } else {
                if (pad > 0)
                    return false;
                v[k] = fz_b64_value(c);
                if (v[k] < 0)
                    return false;
            }
            quantum = (quantum << 6) | (unsigned long)v[k];
        }
        if ((pad == 1 && (quantum & 0xFF) != 0) || (pad == 2 && (quantum & 0xFFFF) != 0))
            return false;
        out[o++] = (unsigned char)(quantum >> 16);
        if (pad < 2)
            out[o++] = (unsigned char)(quantum >> 8);
        if (pad < 1)
            out[o++] = (unsigned char)quantum;
    }
    *out_len = o;
    return true;
}

/* Lines of P (N bytes) all end in CRLF: no CR without LF, no LF without CR. */
static inline bool fz_crlf_only(const char *p, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n'))
            return false;
        if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
            return false;
    }
    return true;
}

/* Split fuzz input into fields at SEP: the next field into *RET, false at the end. */
struct fz_cursor {
    const uint8_t *p;
    size_t n, pos;
    bool done;
};

static inline bool fz_next_field(struct fz_cursor *c, int sep, const char **ret, size_t *ret_n)
{
    const uint8_t *end;

    if (c->done)
        return false;
    end = memchr(c->p + c->pos, sep, c->n - c->pos);
    *ret = (const char *)c->p + c->pos;
    if (end == NULL) {
        *ret_n = c->n - c->pos;
        c->done = true;
    } else {
        *ret_n = (size_t)(end - (c->p + c->pos));
        c->pos += *ret_n + 1;
    }
    return true;
}

/* A NUL-terminated heap copy (the caller frees). */
static inline char *fz_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    if (d == NULL)
        abort();
    if (n > 0)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* Same event: equal strings (bytes after a NUL do not count) and numbers. */
static inline bool fz_same_event(const struct qn_event *a, const struct qn_event *b)
{
    if (strcmp(a->kind, b->kind) != 0 || a->time != b->time || strcmp(a->host, b->host) != 0 ||
        strcmp(a->subject, b->subject) != 0 || a->n_fields != b->n_fields)
        return false;
    for (size_t i = 0; i < a->n_fields && i < QN_EVENT_FIELDS_MAX; i++) {
        if (strcmp(a->fields[i].key, b->fields[i].key) != 0 ||
            strcmp(a->fields[i].value, b->fields[i].value) != 0)
            return false;
    }
    return true;
}

#endif
