/*
 * text — UTF-8 validation and repair, GB18030 decoding, line sanitising.
 *
 * The UTF-8 decoder follows RFC 3629 section 4 (the well-formed byte
 * sequences table): it rejects overlong forms, UTF-16 surrogates
 * (U+D800..U+DFFF) and anything above U+10FFFF.  GB18030 is decoded by
 * iconv; the decision between "UTF-8", "UTF-8 with repairs" and "GB18030"
 * is made once over the whole input before anything is written, so output
 * never mixes two interpretations of the same bytes.
 *
 * Nothing here allocates except through the caller's struct qn_buf, and
 * qn_text_sanitize_line() allocates nothing itself (it runs inside the PAM
 * module, in sshd): GB18030 is converted through a fixed stack buffer.  Only
 * input that is not UTF-8 reaches iconv_open(), which has its own state.
 */
#include "text.h"

#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <string.h>

/* U+FFFD REPLACEMENT CHARACTER, the stand-in for every invalid byte. */
static const char replacement[] = "\xEF\xBF\xBD";
#define REPLACEMENT_LEN 3

/* U+2026 HORIZONTAL ELLIPSIS, the mark of a cut line. */
static const char ellipsis[] = "\xE2\x80\xA6";
#define ELLIPSIS_LEN 3

/* Bytes of UTF-8 iconv writes per round; any size >= 4 works, larger is faster. */
#define ICONV_CHUNK 256

/* Result of scanning one sequence when it is not a complete valid one. */
#define SCAN_INVALID   0
#define SCAN_TRUNCATED (-1) /* a valid prefix of a sequence, cut by the end of input */

/*
 * Decode the sequence at S (N >= 1 bytes).  Returns its length (1..4) and
 * the code point in *ret_cp, SCAN_INVALID when the first byte cannot start
 * a well-formed sequence here, or SCAN_TRUNCATED when all N bytes are a
 * well-formed but incomplete start.  The second-byte ranges come from
 * RFC 3629: they are what excludes overlongs, surrogates and > U+10FFFF.
 */
static int utf8_scan(const unsigned char *s, size_t n, unsigned long *ret_cp)
{
    unsigned char b0 = s[0], lo = 0x80, hi = 0xBF;
    unsigned long cp;
    int need, i;

    if (b0 < 0x80) {
        *ret_cp = b0;
        return 1;
    }
    if (b0 < 0xC2) /* a continuation byte, or C0/C1 which only start overlongs */
        return SCAN_INVALID;
    if (b0 < 0xE0) {
        need = 2;
        cp = b0 & 0x1F;
    } else if (b0 < 0xF0) {
        need = 3;
        cp = b0 & 0x0F;
        if (b0 == 0xE0)
            lo = 0xA0; /* below is overlong */
        else if (b0 == 0xED)
            hi = 0x9F; /* above is a surrogate */
    } else if (b0 < 0xF5) {
        need = 4;
        cp = b0 & 0x07;
        if (b0 == 0xF0)
            lo = 0x90; /* below is overlong */
        else if (b0 == 0xF4)
            hi = 0x8F; /* above is past U+10FFFF */
    } else {
        return SCAN_INVALID;
    }
    for (i = 1; i < need; i++) {
        if ((size_t)i >= n)
            return SCAN_TRUNCATED;
        if (s[i] < lo || s[i] > hi)
            return SCAN_INVALID;
        cp = (cp << 6) | (s[i] & 0x3F);
        lo = 0x80;
        hi = 0xBF;
    }
    *ret_cp = cp;
    return need;
}

bool qn_text_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned long cp;
    size_t i = 0;
    int len;

    while (i < n) {
        len = utf8_scan(p + i, n - i, &cp);
        if (len <= 0)
            return false;
        i += (size_t)len;
    }
    return true;
}

size_t qn_text_utf8_next(const char *s, size_t n, unsigned long *ret_cp)
{
    unsigned long cp;
    int len;

    if (s == NULL || n == 0)
        return 0;
    len = utf8_scan((const unsigned char *)s, n, &cp);
    if (len <= 0)
        return 0;
    if (ret_cp != NULL)
        *ret_cp = cp;
    return (size_t)len;
}

/*
 * Decoded text is handed to a sink chunk by chunk; every chunk is valid
 * UTF-8 made of whole characters.  A sink returns QN_OK to continue, or a
 * failure that stops the decoding and is passed back to the caller.
 */
typedef enum qn_status (*sink_fn)(void *ctx, const char *p, size_t n);

static enum qn_status repair_to(const char *s, size_t n, sink_fn sink, void *ctx)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned long cp;
    size_t i = 0, start = 0;
    enum qn_status r;
    int len;

    /* Valid runs go out in one piece; each invalid byte becomes U+FFFD. */
    while (i < n) {
        len = utf8_scan(p + i, n - i, &cp);
        if (len > 0) {
            i += (size_t)len;
            continue;
        }
        if (i > start) {
            r = sink(ctx, s + start, i - start);
            if (r != QN_OK)
                return r;
        }
        r = sink(ctx, replacement, REPLACEMENT_LEN);
        if (r != QN_OK)
            return r;
        i++;
        start = i;
    }
    if (i > start)
        return sink(ctx, s + start, i - start);
    return QN_OK;
}

enum decoding {
    DECODE_UTF8,    /* valid UTF-8: copied */
    DECODE_REPAIR,  /* UTF-8 with damage: repaired byte by byte */
    DECODE_GB18030, /* GB18030 for the first gb_len bytes, the rest repaired */
};

/*
 * Convert S as GB18030.  With SINK NULL this is a dry run that only checks
 * the input.  Returns the number of bytes that form complete GB18030
 * characters: N when all do, less when the input ends inside a character,
 * (size_t)-1 when some byte is not GB18030 at all or iconv is unavailable.
 * *ret_status receives the sink's failure, if any.
 */
static size_t gb18030_to(const char *s, size_t n, sink_fn sink, void *ctx,
                         enum qn_status *ret_status)
{
    char chunk[ICONV_CHUNK];
    char *in = (char *)s; /* iconv's prototype is not const-correct; it does not write */
    size_t in_left = n, done = (size_t)-1, rc;
    iconv_t cd;

    *ret_status = QN_OK;
    cd = iconv_open("UTF-8", "GB18030");
    if (cd == (iconv_t)-1)
        return (size_t)-1;
    while (in_left > 0) {
        char *o = chunk;
        size_t o_left = sizeof(chunk);
        int err;

        rc = iconv(cd, &in, &in_left, &o, &o_left);
        err = rc == (size_t)-1 ? errno : 0;
        if (sink != NULL && o > chunk) {
            *ret_status = sink(ctx, chunk, (size_t)(o - chunk));
            if (*ret_status != QN_OK)
                goto out;
        }
        if (err == 0 || err == E2BIG)
            continue;
        if (err == EINVAL) /* the input ends inside a character */
            break;
        goto out; /* EILSEQ: not GB18030 */
    }
    done = n - in_left;
out:
    iconv_close(cd);
    return done;
}

/*
 * Decide how to read S.  Valid UTF-8 (or valid UTF-8 cut inside its last
 * character, as a bounded read leaves it) is UTF-8.  Otherwise, text whose
 * valid multi-byte UTF-8 outweighs its invalid bytes is damaged UTF-8:
 * reading it as GB18030 would turn every Chinese character into mojibake.
 * Only then is GB18030 tried.  Genuine GBK text almost never passes the
 * UTF-8 test: its trail bytes are mostly not continuation bytes.
 */
static enum decoding choose_decoding(const char *s, size_t n, size_t *ret_gb_len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, multi = 0, invalid = 0, gb_len;
    enum qn_status ignored;
    unsigned long cp;
    int len;

    while (i < n) {
        len = utf8_scan(p + i, n - i, &cp);
        if (len == SCAN_TRUNCATED && invalid == 0)
            return DECODE_REPAIR;
        if (len > 0) {
            if (len > 1)
                multi += (size_t)len;
            i += (size_t)len;
        } else {
            invalid++;
            i++;
        }
    }
    if (invalid == 0)
        return DECODE_UTF8;
    if (multi > invalid)
        return DECODE_REPAIR;
    gb_len = gb18030_to(s, n, NULL, NULL, &ignored);
    if (gb_len == (size_t)-1)
        return DECODE_REPAIR;
    *ret_gb_len = gb_len;
    return DECODE_GB18030;
}

static enum qn_status decode_to(const char *s, size_t n, sink_fn sink, void *ctx)
{
    enum qn_status r = QN_OK;
    size_t gb_len = 0;

    switch (choose_decoding(s, n, &gb_len)) {
    case DECODE_UTF8:
        return n > 0 ? sink(ctx, s, n) : QN_OK;
    case DECODE_REPAIR:
        return repair_to(s, n, sink, ctx);
    case DECODE_GB18030:
        /* The dry run succeeded, so a failure here can only come from the sink,
         * or from iconv_open() failing between the two calls: repair then. */
        if (gb18030_to(s, gb_len, sink, ctx, &r) == (size_t)-1 && r == QN_OK)
            return repair_to(s, n, sink, ctx);
        if (r != QN_OK)
            return r;
        return repair_to(s + gb_len, n - gb_len, sink, ctx);
    }
    return QN_EINVAL;
}

/* A sink that appends to a struct qn_buf. */
static enum qn_status buf_sink(void *ctx, const char *p, size_t n)
{
    return qn_buf_append(ctx, p, n);
}

enum qn_status qn_text_utf8_repair(const char *s, size_t n, struct qn_buf *out)
{
    size_t start = out->len;
    enum qn_status r;

    if (s == NULL && n > 0)
        return QN_EINVAL;
    r = repair_to(s, n, buf_sink, out);
    if (r != QN_OK)
        qn_buf_truncate(out, start);
    return r;
}

enum qn_status qn_text_decode(const char *s, size_t n, struct qn_buf *out)
{
    size_t start = out->len;
    enum qn_status r;

    if (s == NULL && n > 0)
        return QN_EINVAL;
    r = decode_to(s, n, buf_sink, out);
    if (r != QN_OK)
        qn_buf_truncate(out, start);
    return r;
}

/* State of qn_text_sanitize_line() while characters stream in. */
struct line {
    char *out;
    size_t room;        /* bytes usable for text: outsz - 1 (the NUL) */
    size_t len;         /* bytes written */
    bool pending_space; /* a run of spaces seen since the last character */
    bool cut;           /* a character did not fit */
};

/*
 * Characters that become a space: C0 controls and space, DEL, C1 controls, and LINE and
 * PARAGRAPH SEPARATOR (some MUAs break lines on them).
 */
static bool becomes_space(unsigned long cp)
{
    return cp <= 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029;
}

/*
 * Characters that show as nothing, or change how the text around them shows, and so must
 * be seen in an alert, as "<U+200B>": Unicode's format characters (category Cf: zero-width
 * space, joiners and non-joiners, the bidi marks, embeddings, overrides and isolates that
 * can show a name reversed ("Trojan Source"), the BOM, prepended marks, tags) and the other
 * default-ignorable code points (fillers, variation selectors, the combining grapheme
 * joiner).  "ro\u200bot" must not pass for "root".  Unicode 15.0 (UnicodeData.txt, Cf;
 * DerivedCoreProperties.txt, Default_Ignorable_Code_Point), sorted.
 */
static const struct {
    unsigned long lo, hi;
} invisible[] = {
    {0x00AD, 0x00AD},   {0x034F, 0x034F},   {0x0600, 0x0605},   {0x061C, 0x061C},
    {0x06DD, 0x06DD},   {0x070F, 0x070F},   {0x0890, 0x0891},   {0x08E2, 0x08E2},
    {0x115F, 0x1160},   {0x17B4, 0x17B5},   {0x180B, 0x180F},   {0x200B, 0x200F},
    {0x202A, 0x202E},   {0x2060, 0x206F},   {0x3164, 0x3164},   {0xFE00, 0xFE0F},
    {0xFEFF, 0xFEFF},   {0xFFA0, 0xFFA0},   {0xFFF0, 0xFFFB},   {0x110BD, 0x110BD},
    {0x110CD, 0x110CD}, {0x13430, 0x1343F}, {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A},
    {0xE0000, 0xE0FFF},
};

bool qn_text_shown_as_code(unsigned long cp)
{
    size_t lo = 0, hi = sizeof(invisible) / sizeof(invisible[0]);

    if (cp < 0xAD)
        return false; /* ASCII and most Latin text: one comparison */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < invisible[mid].lo)
            hi = mid;
        else if (cp > invisible[mid].hi)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

static enum qn_status line_sink(void *ctx, const char *p, size_t n)
{
    struct line *l = ctx;
    unsigned long cp = 0;
    size_t i = 0, len, need, shown_len;
    const char *shown;
    char code[16]; /* "<U+10FFFF>" */

    while (i < n) {
        /* Chunks are valid UTF-8 by construction; len is never 0 here. */
        len = qn_text_utf8_next(p + i, n - i, &cp);
        if (len == 0)
            return QN_EINVAL;
        if (becomes_space(cp)) {
            /* Leading spaces are dropped; inner runs become one; trailing are never written. */
            l->pending_space = l->len > 0;
            i += len;
            continue;
        }
        shown = p + i;
        shown_len = len;
        if (qn_text_shown_as_code(cp)) {
            /* One unit: it fits whole or the line is cut before it. */
            shown_len = (size_t)snprintf(code, sizeof(code), "<U+%04lX>", cp);
            shown = code;
        }
        need = shown_len + (l->pending_space ? 1 : 0);
        if (need > l->room - l->len) {
            l->cut = true;
            return QN_ETOOBIG; /* stops decoding: nothing more can be shown */
        }
        if (l->pending_space)
            l->out[l->len++] = ' ';
        l->pending_space = false;
        memcpy(l->out + l->len, shown, shown_len);
        l->len += shown_len;
        i += len;
    }
    return QN_OK;
}

/* Length of a "<U+XXXX>" code (4 to 6 hex digits) ending the LEN bytes at OUT, or 0. */
static size_t code_before(const char *out, size_t len)
{
    size_t k, digits = 0;

    if (len < 8 || out[len - 1] != '>')
        return 0;
    for (k = len - 1; k > 0 && digits < 7 && qn_text_hex_digit(out[k - 1]) >= 0; k--)
        digits++;
    if (digits < 4 || digits > 6 || k < 3 || memcmp(out + k - 3, "<U+", 3) != 0)
        return 0;
    return len - (k - 3);
}

size_t qn_text_sanitize_line(const char *s, size_t n, char *out, size_t outsz)
{
    struct line l = {.out = out, .room = outsz > 0 ? outsz - 1 : 0};

    if (out == NULL || outsz == 0)
        return 0;
    if (s == NULL)
        n = 0;
    /* The only failure line_sink() returns is "cut"; decoding has no other. */
    (void)decode_to(s, n, line_sink, &l);
    if (l.cut) {
        /* Drop whole characters until the ellipsis fits, then any space before it.
         * With outsz >= 8 as the contract asks, there is always room for it. */
        while (l.len > 0 && l.len + ELLIPSIS_LEN > l.room) {
            size_t code = code_before(out, l.len);
            if (code > 0) {
                l.len -= code; /* a "<U+200B>" goes whole */
                continue;
            }
            do
                l.len--;
            while (l.len > 0 && ((unsigned char)out[l.len] & 0xC0) == 0x80);
        }
        while (l.len > 0 && out[l.len - 1] == ' ')
            l.len--;
        if (l.len + ELLIPSIS_LEN <= l.room) {
            memcpy(out + l.len, ellipsis, ELLIPSIS_LEN);
            l.len += ELLIPSIS_LEN;
        }
    }
    out[l.len] = '\0';
    return l.len;
}

int qn_text_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}
