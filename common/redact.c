/*
 * redact — see redact.h for the contract and the forms.
 *
 * Hand-written: finding every common substring of a minimum length between
 * a text and a few generated strings is a few dozen lines over a hash table;
 * no library in the dependency set does it, and the forms must never be
 * materialised (a pattern library would need them whole).
 *
 * Standards: RFC 4648 sections 4-5 (base64, base64url), RFC 3986 section
 * 2.1-2.3 (percent-encoding, unreserved characters), the WHATWG URL
 * standard's application/x-www-form-urlencoded serializer, RFC 8259 section 7
 * (JSON string escapes).
 */
#include "redact.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RUN_MASK   ((1ULL << (8 * QN_REDACT_RUN)) - 1)
#define SMALL_TEXT 1024 /* texts up to this long (an SMTP line, an error's text) use the stack */

/* ---- the text's runs ----------------------------------------------------------------- */

/* Every distinct run of QN_REDACT_RUN bytes of the text (case-folded), and where it is. */
struct runs {
    char *text;
    size_t len;
    size_t nb;           /* buckets, a power of two */
    int32_t *bucket;     /* first entry of each bucket, or -1 */
    uint64_t *key;       /* per entry: the run, folded, packed */
    int32_t *enext;      /* per entry: next entry of its bucket */
    int32_t *first;      /* per entry: a position of the run; -1 once removed */
    int32_t *pnext;      /* per position: the next position of the same run, or -1 */
    unsigned char *gone; /* per position: to be overwritten */
    size_t n;            /* entries */
    bool heap;           /* the arrays are malloc'd (else they are a struct small's) */
};

/* The arrays of struct runs for a text of at most SMALL_TEXT bytes: no allocation, so that
 * an SMTP session out of memory still reads its replies. */
struct small {
    int32_t bucket[2 * SMALL_TEXT];
    uint64_t key[SMALL_TEXT];
    int32_t enext[SMALL_TEXT];
    int32_t first[SMALL_TEXT];
    int32_t pnext[SMALL_TEXT];
    unsigned char gone[SMALL_TEXT + 1];
};

static unsigned char fold(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

static size_t bucket_of(const struct runs *rs, uint64_t key)
{
    key ^= key >> 29;
    key *= 0xbf58476d1ce4e5b9ULL;
    key ^= key >> 32;
    return (size_t)(key & (rs->nb - 1));
}

static int32_t find(const struct runs *rs, uint64_t key)
{
    int32_t e;

    for (e = rs->bucket[bucket_of(rs, key)]; e >= 0; e = rs->enext[e]) {
        if (rs->key[e] == key)
            return e;
    }
    return -1;
}

static void runs_free(struct runs *rs)
{
    if (!rs->heap)
        return;
    free(rs->bucket);
    free(rs->key);
    free(rs->enext);
    free(rs->first);
    free(rs->pnext);
    free(rs->gone);
}

static enum qn_status runs_build(struct runs *rs, char *text, size_t len, struct small *small)
{
    size_t count = len >= QN_REDACT_RUN ? len - QN_REDACT_RUN + 1 : 0, i;
    uint64_t key = 0;

    memset(rs, 0, sizeof(*rs));
    rs->text = text;
    rs->len = len;
    rs->nb = 2;
    while (rs->nb < 2 * count)
        rs->nb *= 2;
    if (len <= SMALL_TEXT) {
        rs->bucket = small->bucket;
        rs->key = small->key;
        rs->enext = small->enext;
        rs->first = small->first;
        rs->pnext = small->pnext;
        rs->gone = small->gone;
        memset(rs->gone, 0, len + 1);
    } else {
        rs->heap = true;
        rs->bucket = malloc(rs->nb * sizeof(*rs->bucket));
        rs->key = malloc((count + 1) * sizeof(*rs->key));
        rs->enext = malloc((count + 1) * sizeof(*rs->enext));
        rs->first = malloc((count + 1) * sizeof(*rs->first));
        rs->pnext = malloc((count + 1) * sizeof(*rs->pnext));
        rs->gone = calloc(len + 1, 1);
        if (rs->bucket == NULL || rs->key == NULL || rs->enext == NULL || rs->first == NULL ||
            rs->pnext == NULL || rs->gone == NULL) {
            runs_free(rs);
            return QN_ENOMEM;
        }
    }
    for (i = 0; i < rs->nb; i++)
        rs->bucket[i] = -1;
    for (i = 0; i < len; i++) {
        int32_t e;
        size_t p, b;

        key = ((key << 8) | fold((unsigned char)text[i])) & RUN_MASK;
        if (i + 1 < QN_REDACT_RUN)
            continue;
        p = i + 1 - QN_REDACT_RUN;
        e = find(rs, key);
        if (e < 0) {
            e = (int32_t)rs->n++;
            b = bucket_of(rs, key);
            rs->key[e] = key;
            rs->enext[e] = rs->bucket[b];
            rs->bucket[b] = e;
            rs->first[e] = -1;
        }
        rs->pnext[p] = rs->first[e];
        rs->first[e] = (int32_t)p;
    }
    return QN_OK;
}

/* The run KEY of a form is in the text: every place of it goes. */
static void runs_hit(struct runs *rs, uint64_t key)
{
    int32_t e = find(rs, key), p;

    if (e < 0 || rs->first[e] < 0)
        return;
    for (p = rs->first[e]; p >= 0; p = rs->pnext[p])
        memset(rs->gone + p, 1, QN_REDACT_RUN);
    rs->first[e] = -1; /* each place is marked once, whatever the number of hits */
}

/* A whole form shorter than a run (FORM, N < QN_REDACT_RUN bytes, folded): every place. */
static void runs_hit_short(struct runs *rs, const unsigned char *form, size_t n)
{
    size_t i, k;

    for (i = 0; n > 0 && i + n <= rs->len; i++) {
        for (k = 0; k < n && fold((unsigned char)rs->text[i + k]) == form[k]; k++)
            ;
        if (k == n)
            memset(rs->gone + i, 1, n);
    }
}

/* ---- the forms, one byte at a time --------------------------------------------------- */

enum encoding {
    ENC_PLAIN,
    ENC_URL_COMPONENT,
    ENC_PERCENT_ALL,
    ENC_FORM,
    ENC_JSON,
    ENC_HEX,
    ENC_COUNT,
};

/* One form being generated: its last QN_REDACT_RUN bytes (secret-derived: wiped). */
struct roller {
    struct runs *rs;
    uint64_t window;
    size_t emitted;
};

static void roll(struct roller *r, unsigned char c)
{
    r->window = ((r->window << 8) | fold(c)) & RUN_MASK;
    if (++r->emitted >= QN_REDACT_RUN)
        runs_hit(r->rs, r->window);
}

static void roll_end(struct roller *r)
{
    unsigned char tail[QN_REDACT_RUN];
    size_t i;

    if (r->emitted > 0 && r->emitted < QN_REDACT_RUN) {
        for (i = 0; i < r->emitted; i++)
            tail[i] = (unsigned char)(r->window >> (8 * (r->emitted - 1 - i)));
        runs_hit_short(r->rs, tail, r->emitted);
        explicit_bzero(tail, sizeof(tail));
    }
    r->window = 0;
    r->emitted = 0;
}

static bool unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static void roll_hex(struct roller *r, unsigned char c)
{
    static const char hex[] = "0123456789ABCDEF";

    roll(r, (unsigned char)hex[c >> 4]);
    roll(r, (unsigned char)hex[c & 15]);
}

/* Byte C of the form's first stage, written as ENCODING writes it. */
static void encode(struct roller *r, enum encoding enc, unsigned char c)
{
    switch (enc) {
    case ENC_PLAIN:
        roll(r, c);
        return;
    case ENC_URL_COMPONENT:
    case ENC_FORM:
        if (enc == ENC_FORM && c == ' ') {
            roll(r, '+');
            return;
        }
        /* RFC 3986 keeps the unreserved characters; WHATWG's form encoding keeps the
         * alphanumerics and "*-._" */
        if (enc == ENC_URL_COMPONENT ? unreserved(c) : (unreserved(c) && c != '~') || c == '*') {
            roll(r, c);
            return;
        }
        /* fall through */
    case ENC_PERCENT_ALL:
        roll(r, '%');
        roll_hex(r, c);
        return;
    case ENC_JSON:
        if (c == '"' || c == '\\' || c == '/') {
            roll(r, '\\');
            roll(r, c);
        } else if (c < 0x20) {
            roll(r, '\\');
            roll(r, 'u');
            roll(r, '0');
            roll(r, '0');
            roll_hex(r, c);
        } else {
            roll(r, c);
        }
        return;
    case ENC_HEX:
        roll_hex(r, c);
        return;
    case ENC_COUNT:
        break;
    }
}

/* The form of the N bytes at S: as they are (ALPHABET NULL) or base64 in ALPHABET with
 * padding, then written as ENC. */
static void generate(struct roller *r, const unsigned char *s, size_t n, const char *alphabet,
                     enum encoding enc)
{
    size_t i;

    if (alphabet == NULL) {
        for (i = 0; i < n; i++)
            encode(r, enc, s[i]);
    } else {
        for (i = 0; i < n; i += 3) {
            uint32_t v = (uint32_t)s[i] << 16;
            size_t left = n - i;

            if (left > 1)
                v |= (uint32_t)s[i + 1] << 8;
            if (left > 2)
                v |= s[i + 2];
            encode(r, enc, (unsigned char)alphabet[(v >> 18) & 63]);
            encode(r, enc, (unsigned char)alphabet[(v >> 12) & 63]);
            encode(r, enc, left > 1 ? (unsigned char)alphabet[(v >> 6) & 63] : '=');
            encode(r, enc, left > 2 ? (unsigned char)alphabet[v & 63] : '=');
        }
    }
    roll_end(r);
}

/* ---- the interface -------------------------------------------------------------------- */

void qn_redact_init(struct qn_redact *rd)
{
    memset(rd, 0, sizeof(*rd));
}

enum qn_status qn_redact_add(struct qn_redact *rd, const void *secret, size_t len, unsigned forms)
{
    if (rd == NULL || secret == NULL || len == 0 ||
        (forms & (QN_REDACT_RAW | QN_REDACT_BASE64)) == 0)
        return QN_EINVAL;
    if (len > QN_REDACT_SECRET_MAX || rd->n >= QN_REDACT_SECRETS_MAX)
        return QN_ETOOBIG;
    rd->secret[rd->n].data = secret;
    rd->secret[rd->n].len = len;
    rd->secret[rd->n].forms = forms;
    rd->n++;
    return QN_OK;
}

enum qn_status qn_redact_apply(const struct qn_redact *rd, char *text, size_t len,
                               size_t *ret_removed)
{
    static const char *const alphabets[] = {
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
    };
    struct small small;
    struct roller r;
    struct runs rs;
    size_t removed = 0, i, k, shift;
    enum qn_status st;
    int enc;

    if (ret_removed != NULL)
        *ret_removed = 0;
    if (rd == NULL || (text == NULL && len > 0))
        return QN_EINVAL;
    if (rd->n == 0 || len == 0)
        return QN_OK;
    if (len > QN_REDACT_TEXT_MAX) {
        st = QN_ETOOBIG;
        goto all;
    }
    st = runs_build(&rs, text, len, &small);
    if (st != QN_OK)
        goto all;
    memset(&r, 0, sizeof(r));
    r.rs = &rs;
    for (i = 0; i < rd->n; i++) {
        const unsigned char *s = rd->secret[i].data;
        size_t n = rd->secret[i].len;

        for (enc = 0; enc < ENC_COUNT; enc++) {
            if (rd->secret[i].forms & QN_REDACT_RAW)
                generate(&r, s, n, NULL, (enum encoding)enc);
            if (!(rd->secret[i].forms & QN_REDACT_BASE64))
                continue;
            for (k = 0; k < sizeof(alphabets) / sizeof(alphabets[0]); k++) {
                for (shift = 0; shift < 3 && shift < n; shift++)
                    generate(&r, s + shift, n - shift, alphabets[k], (enum encoding)enc);
            }
        }
    }
    explicit_bzero(&r, sizeof(r));
    for (i = 0; i < len; i++) {
        if (rs.gone[i]) {
            text[i] = '*';
            removed++;
        }
    }
    runs_free(&rs);
    if (ret_removed != NULL)
        *ret_removed = removed;
    return QN_OK;
all:
    /* Not sure what the text holds: none of it may be shown. */
    memset(text, '*', len);
    if (ret_removed != NULL)
        *ret_removed = len;
    return st;
}
