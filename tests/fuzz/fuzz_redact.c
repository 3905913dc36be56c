/*
 * fuzz_redact — taking a secret out of a peer's text (common/redact.h).
 *
 * Input: byte 0: the secret's length (0..47, from its low bits) and its forms
 * (bit 6: RAW, bit 7: BASE64; neither: both); then the secret; then the text
 * (at most 384 bytes).  A second secret, AUTH PLAIN's "\0user\0SECRET" with
 * BASE64, is added when bit 6 and 7 are both set.
 *
 * Property: qn_redact_apply() gives exactly what a reference written here
 * gives: every form of redact.h is built whole (its own base64, percent, form,
 * JSON and hex encoders), and a byte of the text goes when a window of
 * QN_REDACT_RUN bytes around it, compared without ASCII case, occurs in a form
 * (or, for a form shorter than that, when the whole form occurs there).  So:
 * every run of QN_REDACT_RUN secret characters is gone, and nothing else
 * changed but the '*' put in their place; the count returned is right.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "redact.h"

#define SECRET_MAX 48
#define TEXT_MAX   384
#define FORM_MAX   (6 * 4 * (SECRET_MAX + 24) / 3 + 16)

struct form {
    unsigned char b[FORM_MAX];
    size_t n;
};

static unsigned char lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static void put(struct form *f, const char *s, size_t n)
{
    memcpy(f->b + f->n, s, n);
    f->n += n;
}

static void base64(const unsigned char *s, size_t n, bool url, struct form *out)
{
    const char *t = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                        : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char q[3];

    out->n = 0;
    for (size_t i = 0; i < n; i += 3) {
        size_t k = n - i < 3 ? n - i : 3;
        memset(q, 0, 3);
        memcpy(q, s + i, k);
        out->b[out->n++] = (unsigned char)t[q[0] >> 2];
        out->b[out->n++] = (unsigned char)t[((q[0] & 3) << 4) | (q[1] >> 4)];
        out->b[out->n++] = k > 1 ? (unsigned char)t[((q[1] & 15) << 2) | (q[2] >> 6)] : '=';
        out->b[out->n++] = k > 2 ? (unsigned char)t[q[2] & 63] : '=';
    }
}

/* BASE written as encoding E: 0 as is, 1 URL component (RFC 3986), 2 every byte %XX, 3 form
 * (WHATWG), 4 JSON, 5 hexadecimal. */
static void encode(const struct form *base, int e, struct form *out)
{
    static const char hex[] = "0123456789ABCDEF";
    char pct[3] = {'%', 0, 0};

    out->n = 0;
    for (size_t i = 0; i < base->n; i++) {
        unsigned char c = base->b[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

        pct[1] = hex[c >> 4];
        pct[2] = hex[c & 15];
        if (e == 0)
            put(out, (const char *)&c, 1);
        else if (e == 1 && (alnum || (c != 0 && strchr("-._~", c) != NULL)))
            put(out, (const char *)&c, 1);
        else if (e == 3 && c == ' ')
            put(out, "+", 1);
        else if (e == 3 && (alnum || (c != 0 && strchr("*-._", c) != NULL)))
            put(out, (const char *)&c, 1);
        else if (e == 5)
            put(out, pct + 1, 2);
        else if (e != 4)
            put(out, pct, 3);
        else if (c == '"' || c == '\\' || c == '/') {
            put(out, "\\", 1);
            put(out, (const char *)&c, 1);
        } else if (c < 0x20) {
            put(out, "\\u00", 4);
            put(out, pct + 1, 2);
        } else
            put(out, (const char *)&c, 1);
    }
}

static bool match_at(const unsigned char *text, size_t tn, size_t at, const struct form *f,
                     size_t n)
{
    if (at + n > tn)
        return false;
    for (size_t j = 0; j + n <= f->n; j++) {
        size_t k = 0;
        while (k < n && lower(text[at + k]) == lower(f->b[j + k]))
            k++;
        if (k == n)
            return true;
    }
    return false;
}

/* Mark in GONE what the form F takes out of TEXT. */
static void reference_form(const unsigned char *text, size_t tn, const struct form *f, bool *gone)
{
    size_t run = f->n < QN_REDACT_RUN ? f->n : QN_REDACT_RUN;

    if (run == 0)
        return;
    for (size_t i = 0; i + run <= tn; i++) {
        if (match_at(text, tn, i, f, run))
            for (size_t k = 0; k < run; k++)
                gone[i + k] = true;
    }
}

static void reference(const unsigned char *text, size_t tn, const unsigned char *s, size_t n,
                      unsigned forms, bool *gone)
{
    static struct form base, enc;

    for (int e = 0; e < 6; e++) {
        if (forms & QN_REDACT_RAW) {
            base.n = n;
            memcpy(base.b, s, n);
            encode(&base, e, &enc);
            reference_form(text, tn, &enc, gone);
        }
        if (!(forms & QN_REDACT_BASE64))
            continue;
        for (int url = 0; url < 2; url++) {
            for (size_t shift = 0; shift < 3 && shift < n; shift++) {
                base64(s + shift, n - shift, url, &base);
                encode(&base, e, &enc);
                reference_form(text, tn, &enc, gone);
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char user[] = "123456789@qq.com";
    unsigned char secret[SECRET_MAX], plain[2 + sizeof(user) + SECRET_MAX], text[TEXT_MAX];
    bool gone[TEXT_MAX];
    struct qn_redact rd;
    size_t n, tn, plain_len = 0, removed = 0, expected = 0;
    unsigned forms;

    if (size < 1)
        return 0;
    n = data[0] % SECRET_MAX;
    forms = (data[0] >> 6) & 3;
    if (forms == 0)
        forms = QN_REDACT_RAW | QN_REDACT_BASE64;
    if (n == 0 || size < 1 + n)
        return 0;
    memcpy(secret, data + 1, n);
    tn = size - 1 - n < TEXT_MAX ? size - 1 - n : TEXT_MAX;
    memcpy(text, data + 1 + n, tn);

    qn_redact_init(&rd);
    FUZZ_ASSERT(qn_redact_add(&rd, secret, n, forms) == QN_OK, "add");
    memset(gone, 0, sizeof gone);
    reference(text, tn, secret, n, forms, gone);
    if (forms == (QN_REDACT_RAW | QN_REDACT_BASE64)) {
        plain[plain_len++] = 0;
        memcpy(plain + plain_len, user, sizeof(user) - 1);
        plain_len += sizeof(user) - 1;
        plain[plain_len++] = 0;
        memcpy(plain + plain_len, secret, n);
        plain_len += n;
        FUZZ_ASSERT(qn_redact_add(&rd, plain, plain_len, QN_REDACT_BASE64) == QN_OK, "add 2");
        reference(text, tn, plain, plain_len, QN_REDACT_BASE64, gone);
    }

    {
        char *out = malloc(tn + 1);
        FUZZ_ASSERT(out != NULL, "malloc");
        memcpy(out, text, tn);
        FUZZ_ASSERT(qn_redact_apply(&rd, out, tn, &removed) == QN_OK, "apply failed");
        for (size_t i = 0; i < tn; i++) {
            if (gone[i]) {
                FUZZ_ASSERT(out[i] == '*', "a run of a secret's form was left");
                expected++;
            } else {
                FUZZ_ASSERT(out[i] == (char)text[i], "a byte outside the secret changed");
            }
        }
        FUZZ_ASSERT(removed == expected, "wrong count of bytes removed");
        free(out);
    }
    return 0;
}
