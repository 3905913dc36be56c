/*
 * fuzz_text — UTF-8 validation and repair, GB18030 decoding, line sanitising
 * (common/text.h).
 *
 * Properties, for any bytes:
 *  - qn_text_utf8_valid() and qn_text_utf8_next() agree with an independent
 *    decoder (fuzz.h);
 *  - qn_text_utf8_repair() and qn_text_decode() always give valid UTF-8, and
 *    give valid UTF-8 input back unchanged; repair keeps every valid run and
 *    puts exactly one U+FFFD per invalid byte (so its length is exact);
 *  - a failed append (OUT's max too small) leaves OUT unchanged;
 *  - qn_text_sanitize_line() fits OUTSZ with its NUL, is valid UTF-8 with no
 *    control, line, bidi or other invisible character (they are shown as
 *    "<U+XXXX>"), no leading, trailing or double space,
 *    ends in U+2026 when it was cut, and equals its input when the input
 *    was already a clean short line.
 * The first input byte chooses OUTSZ (8..263) and the buffer bound.
 */
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "text.h"

/* Length repair must produce: valid characters kept, 3 bytes per invalid byte. */
static size_t expected_repair_len(const unsigned char *s, size_t n)
{
    size_t i = 0, out = 0, len;

    while (i < n) {
        len = fz_utf8_char(s + i, n - i, NULL);
        if (len == 0) {
            out += 3;
            i++;
        } else {
            out += len;
            i += len;
        }
    }
    return out;
}

static void check_repair(const char *s, size_t n, bool valid)
{
    struct qn_buf out, small;
    enum qn_status r;

    qn_buf_init(&out, 4 * n + 16);
    FUZZ_ASSERT(qn_buf_puts(&out, "prefix") == QN_OK, "setup");
    r = qn_text_utf8_repair(s, n, &out);
    FUZZ_ASSERT(r == QN_OK, "repair fails within a large enough buffer");
    FUZZ_ASSERT(memcmp(out.data, "prefix", 6) == 0, "repair changed what OUT held");
    FUZZ_ASSERT(fz_utf8_valid(out.data + 6, out.len - 6), "repair output is not valid UTF-8");
    FUZZ_ASSERT(out.len - 6 == expected_repair_len((const unsigned char *)s, n),
                "repair output length is not valid runs + 3 bytes per invalid byte");
    if (valid)
        FUZZ_ASSERT(out.len - 6 == n && memcmp(out.data + 6, s, n) == 0,
                    "repair changed valid UTF-8");

    /* A bound that cannot hold the output: failure, OUT as it was. */
    if (out.len - 6 > 0) {
        qn_buf_init(&small, 6 + (out.len - 6) / 2);
        FUZZ_ASSERT(qn_buf_puts(&small, "prefix") == QN_OK, "setup");
        r = qn_text_utf8_repair(s, n, &small);
        FUZZ_ASSERT(r == QN_ETOOBIG, "repair into a too small buffer is not QN_ETOOBIG");
        FUZZ_ASSERT(small.len == 6 && strcmp(small.data, "prefix") == 0,
                    "a failed repair left partial output");
        qn_buf_free(&small);
    }
    qn_buf_free(&out);
}

static void check_decode(const char *s, size_t n, bool valid)
{
    struct qn_buf out, small;
    enum qn_status r;

    /* GB18030 gives at most 4 UTF-8 bytes per input byte, repair 3. */
    qn_buf_init(&out, 4 * n + 16);
    FUZZ_ASSERT(qn_buf_puts(&out, "prefix") == QN_OK, "setup");
    r = qn_text_decode(s, n, &out);
    FUZZ_ASSERT(r == QN_OK, "decode fails within a large enough buffer");
    FUZZ_ASSERT(memcmp(out.data, "prefix", 6) == 0, "decode changed what OUT held");
    FUZZ_ASSERT(fz_utf8_valid(out.data + 6, out.len - 6), "decode output is not valid UTF-8");
    if (valid)
        FUZZ_ASSERT(out.len - 6 == n && memcmp(out.data + 6, s, n) == 0,
                    "decode changed valid UTF-8");
    if (out.len - 6 > 0) {
        qn_buf_init(&small, 6 + (out.len - 6) - 1);
        FUZZ_ASSERT(qn_buf_puts(&small, "prefix") == QN_OK, "setup");
        r = qn_text_decode(s, n, &small);
        FUZZ_ASSERT(r == QN_ETOOBIG, "decode into a too small buffer is not QN_ETOOBIG");
        FUZZ_ASSERT(small.len == 6 && strcmp(small.data, "prefix") == 0,
                    "a failed decode left partial output");
        qn_buf_free(&small);
    }
    qn_buf_free(&out);
}

static void check_sanitize(const char *s, size_t n, size_t outsz)
{
    char out[300];
    size_t len;

    memset(out, 0x5A, sizeof(out));
    len = qn_text_sanitize_line(s, n, out, outsz);
    FUZZ_ASSERT(len < outsz, "sanitised line does not fit OUTSZ with its NUL");
    FUZZ_ASSERT(out[len] == '\0', "sanitised line not NUL-terminated at its length");
    FUZZ_ASSERT(strlen(out) == len, "NUL inside the sanitised line");
    FUZZ_ASSERT(outsz == sizeof(out) || (unsigned char)out[outsz] == 0x5A,
                "sanitize wrote past OUTSZ");
    FUZZ_ASSERT(fz_clean_line(out, len, true), "sanitised line is not a clean line");

    /* A clean line that fits comes back unchanged. */
    if (n < outsz && fz_utf8_valid(s, n) && fz_clean_line(s, n, true))
        FUZZ_ASSERT(len == n && memcmp(out, s, n) == 0, "sanitize changed a clean line");

    /* The result is a fixed point. */
    {
        char again[300];
        size_t len2 = qn_text_sanitize_line(out, len, again, outsz);

        FUZZ_ASSERT(len2 == len && memcmp(again, out, len) == 0, "sanitize is not idempotent");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s;
    size_t n, i, outsz;
    bool valid;

    if (size == 0)
        return 0;
    outsz = 8 + data[0];
    s = (const char *)data + 1;
    n = size - 1;

    valid = fz_utf8_valid(s, n);
    FUZZ_ASSERT(qn_text_utf8_valid(s, n) == valid, "qn_text_utf8_valid disagrees");
    for (i = 0; i < n; i++) {
        unsigned long cp1 = 0, cp2 = 0;
        size_t l1 = qn_text_utf8_next(s + i, n - i, &cp1);
        size_t l2 = fz_utf8_char((const unsigned char *)s + i, n - i, &cp2);

        FUZZ_ASSERT(l1 == l2, "qn_text_utf8_next length disagrees");
        FUZZ_ASSERT(l1 == 0 || cp1 == cp2, "qn_text_utf8_next code point disagrees");
    }
    check_repair(s, n, valid);
    check_decode(s, n, valid);
    check_sanitize(s, n, outsz);
    return 0;
}
