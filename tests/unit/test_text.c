/*
 * Unit tests for common/text.c: UTF-8 validation (RFC 3629 section 4 table),
 * repair, GB18030 decoding and line sanitising.  Expected bytes were
 * written from the standards and cross-checked with Python's codecs.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "text.h"

#define FFFD     "\xEF\xBF\xBD"
#define ELLIPSIS "\xE2\x80\xA6"

/* Byte strings may hold NUL: tests pass them with their length. */
#define BYTES(s) (s), (sizeof(s) - 1)

static void assert_repair(const char *in, size_t n, const char *want, size_t want_len)
{
    struct qn_buf b;

    qn_buf_init(&b, 4096);
    assert_int_equal(qn_text_utf8_repair(in, n, &b), QN_OK);
    assert_int_equal(b.len, want_len);
    assert_memory_equal(b.data, want, want_len);
    assert_true(qn_text_utf8_valid(b.data, b.len));
    qn_buf_free(&b);
}

static void assert_decode(const char *in, size_t n, const char *want, size_t want_len)
{
    struct qn_buf b;

    qn_buf_init(&b, 4096);
    assert_int_equal(qn_text_decode(in, n, &b), QN_OK);
    assert_int_equal(b.len, want_len);
    if (want_len > 0)
        assert_memory_equal(b.data, want, want_len);
    assert_true(qn_text_utf8_valid(b.data, b.len));
    qn_buf_free(&b);
}

static void assert_sanitized(const char *in, size_t n, size_t outsz, const char *want)
{
    char out[512];
    size_t len;

    assert_true(outsz <= sizeof(out));
    memset(out, 'Z', sizeof(out));
    len = qn_text_sanitize_line(in, n, out, outsz);
    assert_string_equal(out, want);
    assert_int_equal(len, strlen(want));
    assert_true(len < outsz);
    /* Nothing may be written past outsz. */
    if (outsz < sizeof(out))
        assert_int_equal(out[outsz], 'Z');
}

/* ---- qn_text_utf8_valid ---- */

static void test_utf8_valid_accepts_ascii_chinese_and_emoji(void **state)
{
    (void)state;
    assert_true(qn_text_utf8_valid(BYTES("")));
    assert_true(qn_text_utf8_valid(BYTES("root logged in")));
    assert_true(qn_text_utf8_valid(BYTES("服务器告警")));
    assert_true(qn_text_utf8_valid(BYTES("\xF0\x9F\x98\x80"))); /* U+1F600 */
    assert_true(qn_text_utf8_valid(BYTES("a\0b")));             /* U+0000 is a character */
}

static void test_utf8_valid_accepts_every_range_boundary(void **state)
{
    (void)state;
    assert_true(qn_text_utf8_valid(BYTES("\x7F")));             /* U+007F */
    assert_true(qn_text_utf8_valid(BYTES("\xC2\x80")));         /* U+0080 */
    assert_true(qn_text_utf8_valid(BYTES("\xDF\xBF")));         /* U+07FF */
    assert_true(qn_text_utf8_valid(BYTES("\xE0\xA0\x80")));     /* U+0800 */
    assert_true(qn_text_utf8_valid(BYTES("\xED\x9F\xBF")));     /* U+D7FF */
    assert_true(qn_text_utf8_valid(BYTES("\xEE\x80\x80")));     /* U+E000 */
    assert_true(qn_text_utf8_valid(BYTES("\xEF\xBF\xBF")));     /* U+FFFF */
    assert_true(qn_text_utf8_valid(BYTES("\xF0\x90\x80\x80"))); /* U+10000 */
    assert_true(qn_text_utf8_valid(BYTES("\xF4\x8F\xBF\xBF"))); /* U+10FFFF */
}

static void test_utf8_valid_rejects_overlong_forms(void **state)
{
    (void)state;
    assert_false(qn_text_utf8_valid(BYTES("\xC0\x80")));         /* NUL in 2 bytes */
    assert_false(qn_text_utf8_valid(BYTES("\xC1\xBF")));         /* U+007F in 2 bytes */
    assert_false(qn_text_utf8_valid(BYTES("\xE0\x80\xAF")));     /* '/' in 3 bytes */
    assert_false(qn_text_utf8_valid(BYTES("\xE0\x9F\xBF")));     /* U+07FF in 3 bytes */
    assert_false(qn_text_utf8_valid(BYTES("\xF0\x80\x80\xAF"))); /* '/' in 4 bytes */
    assert_false(qn_text_utf8_valid(BYTES("\xF0\x8F\xBF\xBF"))); /* U+FFFF in 4 bytes */
}

static void test_utf8_valid_rejects_surrogates_and_beyond_10ffff(void **state)
{
    (void)state;
    assert_false(qn_text_utf8_valid(BYTES("\xED\xA0\x80")));     /* U+D800 */
    assert_false(qn_text_utf8_valid(BYTES("\xED\xBF\xBF")));     /* U+DFFF */
    assert_false(qn_text_utf8_valid(BYTES("\xF4\x90\x80\x80"))); /* U+110000 */
    assert_false(qn_text_utf8_valid(BYTES("\xF5\x80\x80\x80")));
    assert_false(qn_text_utf8_valid(BYTES("\xFE")));
    assert_false(qn_text_utf8_valid(BYTES("\xFF")));
}

static void test_utf8_valid_rejects_truncated_and_stray_continuation(void **state)
{
    (void)state;
    assert_false(qn_text_utf8_valid(BYTES("\xE4\xB8")));     /* 中 without its last byte */
    assert_false(qn_text_utf8_valid(BYTES("\xF0\x9F\x98"))); /* emoji cut */
    assert_false(qn_text_utf8_valid(BYTES("\xE4\xB8z")));    /* interrupted */
    assert_false(qn_text_utf8_valid(BYTES("\x80")));
    assert_false(qn_text_utf8_valid(BYTES("a\xBF")));
    /* The length bounds the check: a valid prefix of a longer string is valid. */
    assert_true(qn_text_utf8_valid("\xE4\xB8\xAD\xE4", 3));
}

/* ---- qn_text_utf8_next ---- */

static void test_utf8_next_returns_length_and_code_point(void **state)
{
    unsigned long cp = 0;

    (void)state;
    assert_int_equal(qn_text_utf8_next(BYTES("A"), &cp), 1);
    assert_int_equal(cp, 0x41);
    assert_int_equal(qn_text_utf8_next(BYTES("\xC2\xA9"), &cp), 2);
    assert_int_equal(cp, 0xA9);
    assert_int_equal(qn_text_utf8_next(BYTES("中文"), &cp), 3);
    assert_int_equal(cp, 0x4E2D);
    assert_int_equal(qn_text_utf8_next(BYTES("\xF0\x9F\x98\x80"), &cp), 4);
    assert_int_equal(cp, 0x1F600);
    assert_int_equal(qn_text_utf8_next(BYTES("\xF4\x8F\xBF\xBF"), &cp), 4);
    assert_int_equal(cp, 0x10FFFF);
    assert_int_equal(qn_text_utf8_next(BYTES("\xC3\xA9"), NULL), 2);
}

static void test_utf8_next_returns_zero_for_invalid_or_cut_sequences(void **state)
{
    unsigned long cp = 12345;

    (void)state;
    assert_int_equal(qn_text_utf8_next("", 0, &cp), 0);
    assert_int_equal(qn_text_utf8_next(NULL, 4, &cp), 0);
    assert_int_equal(qn_text_utf8_next(BYTES("\xC0\x80"), &cp), 0);
    assert_int_equal(qn_text_utf8_next(BYTES("\xED\xA0\x80"), &cp), 0);
    assert_int_equal(qn_text_utf8_next(BYTES("\x80"), &cp), 0);
    /* n limits the look-ahead even when more bytes follow in memory. */
    assert_int_equal(qn_text_utf8_next("中", 2, &cp), 0);
    /* *ret_cp is untouched on failure. */
    assert_int_equal(cp, 12345);
}

/* ---- qn_text_utf8_repair ---- */

static void test_repair_copies_valid_text_unchanged(void **state)
{
    (void)state;
    assert_repair(BYTES("ssh 登录 \xF0\x9F\x94\x92 ok"), BYTES("ssh 登录 \xF0\x9F\x94\x92 ok"));
    assert_repair(BYTES(""), BYTES(""));
}

static void test_repair_replaces_each_byte_of_an_overlong_form(void **state)
{
    (void)state;
    assert_repair(BYTES("x\xC0\x80y"), BYTES("x" FFFD FFFD "y"));
    assert_repair(BYTES("\xE0\x80\xAF"), BYTES(FFFD FFFD FFFD));
}

static void test_repair_replaces_each_byte_of_a_surrogate(void **state)
{
    (void)state;
    assert_repair(BYTES("x\xED\xA0\x80y"), BYTES("x" FFFD FFFD FFFD "y"));
}

static void test_repair_replaces_truncated_sequences(void **state)
{
    (void)state;
    /* At the end of input and followed by ASCII or by another character. */
    assert_repair(BYTES("中\xE6\x96"), BYTES("中" FFFD FFFD));
    assert_repair(BYTES("\xF0\x9F\x98z"), BYTES(FFFD FFFD FFFD "z"));
    assert_repair(BYTES("\xE4\xB8中"), BYTES(FFFD FFFD "中"));
    assert_repair(BYTES("\xF4\x90\x80\x80"), BYTES(FFFD FFFD FFFD FFFD));
    assert_repair(BYTES("\xFF\xFE"), BYTES(FFFD FFFD));
}

static void test_repair_appends_to_existing_content(void **state)
{
    struct qn_buf b;

    (void)state;
    qn_buf_init(&b, 64);
    assert_int_equal(qn_buf_puts(&b, "head:"), QN_OK);
    assert_int_equal(qn_text_utf8_repair(BYTES("\x80z"), &b), QN_OK);
    assert_string_equal(b.data, "head:" FFFD "z");
    qn_buf_free(&b);
}

static void test_repair_past_buffer_max_fails_and_leaves_buffer_unchanged(void **state)
{
    struct qn_buf b;

    (void)state;
    qn_buf_init(&b, 8);
    assert_int_equal(qn_buf_puts(&b, "ab"), QN_OK);
    /* "cd" fits, the three replacement characters do not. */
    assert_int_equal(qn_text_utf8_repair(BYTES("cd\x80\x80\x80"), &b), QN_ETOOBIG);
    assert_int_equal(b.len, 2);
    assert_string_equal(b.data, "ab");
    qn_buf_free(&b);
}

/* ---- qn_text_decode ---- */

static void test_decode_copies_valid_utf8_even_when_it_is_also_valid_gb18030(void **state)
{
    (void)state;
    /* E4 B8 AD E6 96 87 is also GB18030 for two other characters: UTF-8 wins. */
    assert_decode(BYTES("中文"), BYTES("中文"));
    assert_decode(BYTES("plain ascii"), BYTES("plain ascii"));
    assert_decode(BYTES(""), BYTES(""));
}

static void test_decode_reads_gbk_bytes_as_chinese(void **state)
{
    (void)state;
    assert_decode(BYTES("\xD6\xD0\xCE\xC4"), BYTES("中文"));
}

static void test_decode_reads_qq_gbk_auth_error_reply(void **state)
{
    (void)state;
    /* "535 请使用授权码登录" as QQ Mail sends it in GBK. */
    assert_decode(BYTES("535 \xC7\xEB\xCA\xB9\xD3\xC3\xCA\xDA\xC8\xA8\xC2\xEB\xB5\xC7\xC2\xBC"),
                  BYTES("535 请使用授权码登录"));
}

static void test_decode_reads_gb18030_four_byte_sequences(void **state)
{
    (void)state;
    /* U+1F600 is 94 39 FC 36 in GB18030; mixed with GBK 中. */
    assert_decode(BYTES("\xD6\xD0\x94\x39\xFC\x36"), BYTES("中\xF0\x9F\x98\x80"));
}

static void test_decode_keeps_whole_gbk_characters_when_cut_inside_the_last(void **state)
{
    (void)state;
    /* 中文 cut after D6 D0 CE: 中, then the lone lead byte repaired. */
    assert_decode(BYTES("\xD6\xD0\xCE"), BYTES("中" FFFD));
}

static void test_decode_repairs_mostly_utf8_text_instead_of_reading_gb18030(void **state)
{
    (void)state;
    /* As a whole this is valid GB18030 (鍛婅纮鐧诲綍澶辫触, mojibake): repair instead. */
    assert_decode(BYTES("告警\xC0\x80登录失败"), BYTES("告警" FFFD FFFD "登录失败"));
    /* UTF-8 cut inside its last character (a bounded read), even after ASCII only,
     * where E4 B8 could also be GBK 涓. */
    assert_decode(BYTES("中文\xE6\x96"), BYTES("中文" FFFD FFFD));
    assert_decode(BYTES("ab\xE4\xB8"), BYTES("ab" FFFD FFFD));
}

static void test_decode_reads_ascii_with_one_gb18030_pair_as_gb18030(void **state)
{
    (void)state;
    /* Without multi-byte UTF-8 around it, C0 80 is taken for the GB18030 character 纮:
     * the two readings cannot be told apart and GBK is what QQ Mail sends. */
    assert_decode(BYTES("x\xC0\x80y"), BYTES("x纮y"));
}

static void test_decode_repairs_bytes_that_are_neither_utf8_nor_gb18030(void **state)
{
    (void)state;
    /* 0xFF and a lone 0x80 are invalid in both. */
    assert_decode(BYTES("x\xFFy\x80"), BYTES("x" FFFD "y" FFFD));
    assert_decode(BYTES("\xD6\xD0\xFF"), BYTES(FFFD FFFD FFFD));
}

static void test_decode_past_buffer_max_fails_and_leaves_buffer_unchanged(void **state)
{
    struct qn_buf b;

    (void)state;
    qn_buf_init(&b, 5);
    assert_int_equal(qn_buf_puts(&b, "x"), QN_OK);
    /* 中文 needs 6 bytes of UTF-8. */
    assert_int_equal(qn_text_decode(BYTES("\xD6\xD0\xCE\xC4"), &b), QN_ETOOBIG);
    assert_int_equal(b.len, 1);
    assert_string_equal(b.data, "x");
    qn_buf_free(&b);
}

static void test_decode_long_gbk_text_crosses_conversion_chunks(void **state)
{
    /* 1000 x 中 in GBK (2000 bytes) decodes to 1000 x 中 in UTF-8 (3000 bytes). */
    char in[2000], want[3000];
    struct qn_buf b;
    size_t i;

    (void)state;
    for (i = 0; i < 1000; i++) {
        memcpy(in + 2 * i, "\xD6\xD0", 2);
        memcpy(want + 3 * i, "中", 3);
    }
    qn_buf_init(&b, 4000);
    assert_int_equal(qn_text_decode(in, sizeof(in), &b), QN_OK);
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    qn_buf_free(&b);
}

/* ---- qn_text_sanitize_line ---- */

static void test_sanitize_turns_crlf_injection_into_one_line(void **state)
{
    (void)state;
    assert_sanitized(BYTES("x\r\nBcc: evil@x"), 64, "x Bcc: evil@x");
    assert_sanitized(BYTES("a\rb\nc"), 64, "a b c");
}

static void test_sanitize_replaces_controls_and_collapses_spaces(void **state)
{
    (void)state;
    assert_sanitized(BYTES("  a\t\t b\x1B[31mc\x7Fz  "), 64, "a b [31mc z");
    assert_sanitized(BYTES("user\0name"), 64, "user name");
    /* C1 NEL (U+0085), LINE SEPARATOR, PARAGRAPH SEPARATOR. */
    assert_sanitized(BYTES("p\xC2\x85q\xE2\x80\xA8r\xE2\x80\xA9s"), 64, "p q r s");
}

static void test_sanitize_shows_bidi_overrides_that_reverse_names(void **state)
{
    (void)state;
    /* U+202E RIGHT-TO-LEFT OVERRIDE and U+2066 LEFT-TO-RIGHT ISOLATE. */
    assert_sanitized(BYTES("root\xE2\x80\xAEnimda\xE2\x81\xA6x"), 64, "root<U+202E>nimda<U+2066>x");
}

/* A zero-width space must not let "ro\u200bot" pass for "root". */
static void test_sanitize_shows_invisible_characters_as_their_code(void **state)
{
    (void)state;
    assert_sanitized(BYTES("ro\xE2\x80\x8Bot"), 64, "ro<U+200B>ot");
    /* LRM, RLM, BOM, word joiner, soft hyphen, Hangul filler, VS16, a tag */
    assert_sanitized(BYTES("a\xE2\x80\x8E"
                           "b\xE2\x80\x8F"
                           "c\xEF\xBB\xBF"
                           "d\xE2\x81\xA0"
                           "e\xC2\xAD"
                           "f\xE3\x85\xA4"
                           "g\xEF\xB8\x8F"
                           "h\xF3\xA0\x80\x81"),
                     128,
                     "a<U+200E>b<U+200F>c<U+FEFF>d<U+2060>e<U+00AD>f<U+3164>g<U+FE0F>h<U+E0001>");
    /* a code is one unit: it fits whole or the line is cut before it */
    assert_sanitized(BYTES("abcd\xE2\x80\x8Bxyz"), 12, "abcd\xE2\x80\xA6");
    assert_sanitized(BYTES("ab\xE2\x80\x8Bxyzw"), 14, "ab<U+200B>\xE2\x80\xA6");
    assert_sanitized(BYTES("ab\xE2\x80\x8Bxyzw"), 13, "ab\xE2\x80\xA6");
    /* the result sanitises to itself */
    assert_sanitized(BYTES("ro<U+200B>ot"), 64, "ro<U+200B>ot");
}

/* Unicode 15.0: category Cf (UnicodeData.txt) and Default_Ignorable_Code_Point
 * (DerivedCoreProperties.txt), written out here from those files, not from text.c. */
static bool invisible_in_unicode(unsigned long cp)
{
    static const unsigned long cf[][2] = {
        {0x00AD, 0x00AD},   {0x0600, 0x0605},   {0x061C, 0x061C},   {0x06DD, 0x06DD},
        {0x070F, 0x070F},   {0x0890, 0x0891},   {0x08E2, 0x08E2},   {0x180E, 0x180E},
        {0x200B, 0x200F},   {0x202A, 0x202E},   {0x2060, 0x2064},   {0x2066, 0x206F},
        {0xFEFF, 0xFEFF},   {0xFFF9, 0xFFFB},   {0x110BD, 0x110BD}, {0x110CD, 0x110CD},
        {0x13430, 0x1343F}, {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A}, {0xE0001, 0xE0001},
        {0xE0020, 0xE007F},
    };
    static const unsigned long ignorable[][2] = {
        {0x00AD, 0x00AD},   {0x034F, 0x034F}, {0x061C, 0x061C},   {0x115F, 0x1160},
        {0x17B4, 0x17B5},   {0x180B, 0x180F}, {0x200B, 0x200F},   {0x202A, 0x202E},
        {0x2060, 0x206F},   {0x3164, 0x3164}, {0xFE00, 0xFE0F},   {0xFEFF, 0xFEFF},
        {0xFFA0, 0xFFA0},   {0xFFF0, 0xFFF8}, {0x1BCA0, 0x1BCA3}, {0x1D173, 0x1D17A},
        {0xE0000, 0xE0FFF},
    };
    size_t i;

    for (i = 0; i < sizeof(cf) / sizeof(cf[0]); i++)
        if (cp >= cf[i][0] && cp <= cf[i][1])
            return true;
    for (i = 0; i < sizeof(ignorable) / sizeof(ignorable[0]); i++)
        if (cp >= ignorable[i][0] && cp <= ignorable[i][1])
            return true;
    return false;
}

static size_t utf8_encode(unsigned long cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Every code point between two letters: an invisible one as its code, a control, space or
 * line separator as one space, every other one as it is. */
static void test_sanitize_every_code_point(void **state)
{
    unsigned long cp;
    char in[8], out[32], want[32];
    size_t n;

    (void)state;
    for (cp = 1; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        in[0] = 'a';
        n = 1 + utf8_encode(cp, in + 1);
        in[n++] = 'z';
        qn_text_sanitize_line(in, n, out, sizeof(out));
        if (invisible_in_unicode(cp))
            snprintf(want, sizeof(want), "a<U+%04lX>z", cp);
        else if (cp <= 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029)
            snprintf(want, sizeof(want), "a z");
        else
            snprintf(want, sizeof(want), "%.*s", (int)n, in);
        if (strcmp(out, want) != 0)
            fail_msg("U+%04lX: \"%s\", expected \"%s\"", cp, out, want);
    }
}

static void test_sanitize_keeps_chinese_emoji_and_ideographic_space(void **state)
{
    (void)state;
    assert_sanitized(BYTES("服务器\xE3\x80\x80告警 \xF0\x9F\x94\xA5"), 64,
                     "服务器\xE3\x80\x80告警 \xF0\x9F\x94\xA5");
}

static void test_sanitize_only_controls_gives_empty_string(void **state)
{
    (void)state;
    assert_sanitized(BYTES(" \r\n\t "), 16, "");
    assert_sanitized(BYTES(""), 16, "");
    assert_sanitized(NULL, 5, 16, "");
}

static void test_sanitize_decodes_gbk_and_repairs_invalid_utf8(void **state)
{
    (void)state;
    assert_sanitized(BYTES("\xD6\xD0\xCE\xC4\r\n"), 64, "中文");
    /* A surrogate followed by ASCII: invalid in UTF-8 and in GB18030 (0x80 alone). */
    assert_sanitized(BYTES("x\xED\xA0\x80y"), 64, "x" FFFD FFFD FFFD "y");
}

static void test_sanitize_exact_fit_is_not_cut(void **state)
{
    (void)state;
    /* 6 bytes of text + NUL = 7. */
    assert_sanitized(BYTES("中文"), 7, "中文");
    assert_sanitized(BYTES("abcdefg"), 8, "abcdefg");
}

static void test_sanitize_cut_ends_in_ellipsis_on_a_character_boundary(void **state)
{
    (void)state;
    /* Room for 7 bytes: 中 + … is 6, 中文 + … would be 9. */
    assert_sanitized(BYTES("中文中文"), 8, "中" ELLIPSIS);
    assert_sanitized(BYTES("abcdefgh"), 8, "abcd" ELLIPSIS);
    /* Room for 10 bytes: emoji are never split, 4 + 3 fits, 8 + 3 does not. */
    assert_sanitized(BYTES("\xF0\x9F\x98\x80\xF0\x9F\x98\x81\xF0\x9F\x98\x82"), 11,
                     "\xF0\x9F\x98\x80" ELLIPSIS);
}

static void test_sanitize_cut_drops_the_space_before_the_ellipsis(void **state)
{
    (void)state;
    assert_sanitized(BYTES("abc defghij"), 8, "abc" ELLIPSIS);
}

static void test_sanitize_bounds_very_long_input(void **state)
{
    size_t n = 1024 * 1024, len;
    char *in = malloc(n), out[256];

    (void)state;
    assert_non_null(in);
    memset(in, 'a', n);
    in[100] = '\n';
    len = qn_text_sanitize_line(in, n, out, sizeof(out));
    assert_int_equal(len, sizeof(out) - 1);
    assert_int_equal(strlen(out), len);
    assert_memory_equal(out + len - 3, ELLIPSIS, 3);
    assert_int_equal(out[100], ' ');
    free(in);
}

static void test_sanitize_long_gbk_input_is_cut_like_utf8(void **state)
{
    char in[2000], want[64];
    size_t i;

    (void)state;
    for (i = 0; i < 1000; i++)
        memcpy(in + 2 * i, "\xD6\xD0", 2);
    /* Room for 63 bytes: 20 x 中 (60) + … = 63. */
    for (i = 0; i < 20; i++)
        memcpy(want + 3 * i, "中", 3);
    memcpy(want + 60, ELLIPSIS "", 4);
    assert_sanitized(in, sizeof(in), 64, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_valid_accepts_ascii_chinese_and_emoji),
        cmocka_unit_test(test_utf8_valid_accepts_every_range_boundary),
        cmocka_unit_test(test_utf8_valid_rejects_overlong_forms),
        cmocka_unit_test(test_utf8_valid_rejects_surrogates_and_beyond_10ffff),
        cmocka_unit_test(test_utf8_valid_rejects_truncated_and_stray_continuation),
        cmocka_unit_test(test_utf8_next_returns_length_and_code_point),
        cmocka_unit_test(test_utf8_next_returns_zero_for_invalid_or_cut_sequences),
        cmocka_unit_test(test_repair_copies_valid_text_unchanged),
        cmocka_unit_test(test_repair_replaces_each_byte_of_an_overlong_form),
        cmocka_unit_test(test_repair_replaces_each_byte_of_a_surrogate),
        cmocka_unit_test(test_repair_replaces_truncated_sequences),
        cmocka_unit_test(test_repair_appends_to_existing_content),
        cmocka_unit_test(test_repair_past_buffer_max_fails_and_leaves_buffer_unchanged),
        cmocka_unit_test(test_decode_copies_valid_utf8_even_when_it_is_also_valid_gb18030),
        cmocka_unit_test(test_decode_reads_gbk_bytes_as_chinese),
        cmocka_unit_test(test_decode_reads_qq_gbk_auth_error_reply),
        cmocka_unit_test(test_decode_reads_gb18030_four_byte_sequences),
        cmocka_unit_test(test_decode_keeps_whole_gbk_characters_when_cut_inside_the_last),
        cmocka_unit_test(test_decode_repairs_mostly_utf8_text_instead_of_reading_gb18030),
        cmocka_unit_test(test_decode_reads_ascii_with_one_gb18030_pair_as_gb18030),
        cmocka_unit_test(test_decode_repairs_bytes_that_are_neither_utf8_nor_gb18030),
        cmocka_unit_test(test_decode_past_buffer_max_fails_and_leaves_buffer_unchanged),
        cmocka_unit_test(test_decode_long_gbk_text_crosses_conversion_chunks),
        cmocka_unit_test(test_sanitize_turns_crlf_injection_into_one_line),
        cmocka_unit_test(test_sanitize_replaces_controls_and_collapses_spaces),
        cmocka_unit_test(test_sanitize_shows_bidi_overrides_that_reverse_names),
        cmocka_unit_test(test_sanitize_shows_invisible_characters_as_their_code),
        cmocka_unit_test(test_sanitize_every_code_point),
        cmocka_unit_test(test_sanitize_keeps_chinese_emoji_and_ideographic_space),
        cmocka_unit_test(test_sanitize_only_controls_gives_empty_string),
        cmocka_unit_test(test_sanitize_decodes_gbk_and_repairs_invalid_utf8),
        cmocka_unit_test(test_sanitize_exact_fit_is_not_cut),
        cmocka_unit_test(test_sanitize_cut_ends_in_ellipsis_on_a_character_boundary),
        cmocka_unit_test(test_sanitize_cut_drops_the_space_before_the_ellipsis),
        cmocka_unit_test(test_sanitize_bounds_very_long_input),
        cmocka_unit_test(test_sanitize_long_gbk_input_is_cut_like_utf8),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
