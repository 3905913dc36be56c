/*
 * Unit tests for common/mime.c: exact bytes of whole messages, and
 * properties checked over many inputs (every encoded-word <= 75 octets,
 * every header line <= 78, every line <= 998, encoded text decodes back to
 * the sanitised input, words split only between characters, no header can
 * be injected).  Expected base64 and dates were computed with Python's
 * base64 and datetime modules, independently of the code under test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "mime.h"
#include "text.h"

#define FFFD "\xEF\xBF\xBD"

/* Distinct Chinese characters (3 bytes each) cycled to make subjects of any length. */
static const char hanzi[] = "服务器告警登录失败磁盘已满内存不足"
                            "进程崩溃网络中断请立即检查";

static const char *const one_to[] = {"ops@example.com"};

static struct qn_mime_message base_message(void)
{
    struct qn_mime_message m = {
        .from_addr = "123456789@qq.com",
        .to = one_to,
        .n_to = 1,
        .subject = "test",
        .text = "body",
        .date = 1700000000,
        .message_id = "<fixed@qq.com>",
    };

    return m;
}

/* Build M, assert success, return the message (free() it). */
static char *build_ok(const struct qn_mime_message *m)
{
    struct qn_buf b;
    char *s;

    qn_buf_init(&b, 4 * 1024 * 1024);
    assert_int_equal(qn_mime_build(m, &b), QN_OK);
    s = qn_buf_steal(&b, NULL);
    assert_non_null(s);
    return s;
}

/* Every line ends in CRLF, no CR or LF stands alone, no line is longer than MAX. */
static void assert_lines_within(const char *s, size_t n, size_t max)
{
    size_t i = 0, start = 0;

    assert_true(n >= 2);
    assert_memory_equal(s + n - 2, "\r\n", 2);
    for (i = 0; i < n; i++) {
        if (s[i] == '\r') {
            assert_true(i + 1 < n && s[i + 1] == '\n');
            assert_true(i - start <= max);
            i++;
            start = i + 1;
        } else {
            assert_int_not_equal(s[i], '\n');
        }
    }
}

/* Length of the header block of MSG, up to and with the CRLF of its last line. */
static size_t header_len(const char *msg)
{
    const char *end = strstr(msg, "\r\n\r\n");

    assert_non_null(end);
    return (size_t)(end - msg) + 2;
}

/*
 * The value of header NAME in the header block of MSG, unfolded (CRLF
 * before a continuation removed), from just after the colon; NULL when
 * absent.  free() it.
 */
static char *unfolded(const char *msg, size_t len, const char *name)
{
    size_t nlen = strlen(name), i = 0, j;
    struct qn_buf b;

    while (i < len) {
        if (strncmp(msg + i, name, nlen) == 0 && msg[i + nlen] == ':') {
            qn_buf_init(&b, len);
            for (j = i + nlen + 1; j < len; j++) {
                if (msg[j] == '\r') {
                    if (msg[j + 2] != ' ' && msg[j + 2] != '\t')
                        break;
                    j++; /* skip CR LF, keep the space that follows */
                    continue;
                }
                assert_int_equal(qn_buf_putc(&b, msg[j]), QN_OK);
            }
            return qn_buf_steal(&b, NULL);
        }
        while (i < len && msg[i] != '\n')
            i++;
        i++;
    }
    return NULL;
}

/*
 * Decode VALUE, a run of " =?UTF-8?B?...?=" words, appending the text to
 * OUT.  Asserts each word is at most 75 octets and holds whole characters.
 */
static void decode_words(const char *value, struct qn_buf *out)
{
    const char *p = value;

    while (*p == ' ') {
        const char *start = ++p, *end = strchr(start, ' ');
        size_t wlen = end ? (size_t)(end - start) : strlen(start);
        unsigned char bin[64];
        size_t b64len, pad = 0;
        int n;

        assert_true(wlen <= QN_MIME_ENCODED_WORD_MAX);
        assert_true(wlen > 12);
        assert_memory_equal(start, "=?UTF-8?B?", 10);
        assert_memory_equal(start + wlen - 2, "?=", 2);
        b64len = wlen - 12;
        assert_int_equal(b64len % 4, 0);
        n = EVP_DecodeBlock(bin, (const unsigned char *)start + 10, (int)b64len);
        assert_true(n >= 0);
        /* EVP_DecodeBlock counts the padding as zero bytes. */
        pad = (start[10 + b64len - 1] == '=') + (start[10 + b64len - 2] == '=');
        assert_true(qn_text_utf8_valid((const char *)bin, (size_t)n - pad));
        assert_int_equal(qn_buf_append(out, bin, (size_t)n - pad), QN_OK);
        p = start + wlen;
    }
    assert_int_equal(*p, '\0');
}

/* What a reader shows for an unfolded unstructured value (encoded or plain). */
static char *displayed(const char *value)
{
    struct qn_buf b;

    qn_buf_init(&b, 1024 * 1024);
    if (strncmp(value, " =?", 3) == 0)
        decode_words(value, &b);
    else if (value[0] == ' ')
        assert_int_equal(qn_buf_puts(&b, value + 1), QN_OK);
    return qn_buf_steal(&b, NULL);
}

/* Write a header with qn_mime_header_text() and return what a reader shows. */
static char *subject_round_trip(const char *subject)
{
    struct qn_buf b;
    char *value, *shown;

    qn_buf_init(&b, 1024 * 1024);
    assert_int_equal(qn_mime_header_text(&b, "Subject", subject), QN_OK);
    assert_lines_within(b.data, b.len, QN_MIME_LINE_SOFT);
    value = unfolded(b.data, b.len, "Subject");
    assert_non_null(value);
    shown = displayed(value);
    free(value);
    qn_buf_free(&b);
    return shown;
}

/* The first N characters of the hanzi table, cycled. */
static char *chinese(size_t n)
{
    size_t table = (sizeof(hanzi) - 1) / 3, i;
    char *s = malloc(3 * n + 1);

    assert_non_null(s);
    for (i = 0; i < n; i++)
        memcpy(s + 3 * i, hanzi + 3 * (i % table), 3);
    s[3 * n] = '\0';
    return s;
}

/* ---- whole messages, exact bytes ---- */

static void test_single_part_message_is_exact_bytes(void **state)
{
    struct qn_mime_message m = base_message();
    char *msg;

    (void)state;
    m.from_name = "服务器告警";
    m.subject = "Disk full";
    m.text = "line1\nline2\n";
    msg = build_ok(&m);
    assert_string_equal(msg, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
                             "From: =?UTF-8?B?5pyN5Yqh5Zmo5ZGK6K2m?= <123456789@qq.com>\r\n"
                             "To: ops@example.com\r\n"
                             "Subject: Disk full\r\n"
                             "Message-ID: <fixed@qq.com>\r\n"
                             "MIME-Version: 1.0\r\n"
                             "Content-Type: text/plain; charset=UTF-8\r\n"
                             "Content-Transfer-Encoding: base64\r\n"
                             "\r\n"
                             "bGluZTENCmxpbmUyDQo=\r\n");
    free(msg);
}

static void test_multipart_alternative_message_is_exact_bytes(void **state)
{
    static const char *const to[] = {"ops@example.com", "987654321@qq.com"};
    struct qn_mime_message m = base_message();
    char *msg;

    (void)state;
    m.from_name = "服务器告警";
    m.to = to;
    m.n_to = 2;
    m.reply_to = "admin@example.com";
    m.subject = "[告警] 主机 web1 上 root 从 203.0.113.7 登录";
    m.text = "纯文本\n第二行";
    m.html = "<p>告警</p>";
    m.boundary = "=_test_boundary";
    msg = build_ok(&m);
    assert_string_equal(
        msg, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
             "From: =?UTF-8?B?5pyN5Yqh5Zmo5ZGK6K2m?= <123456789@qq.com>\r\n"
             "To: ops@example.com, 987654321@qq.com\r\n"
             "Reply-To: admin@example.com\r\n"
             "Subject: =?UTF-8?B?W+WRiuitpl0g5Li75py6IHdlYjEg5LiKIHJvb3Qg5LuOIDIwMy4wLjEx?=\r\n"
             " =?UTF-8?B?My43IOeZu+W9lQ==?=\r\n"
             "Message-ID: <fixed@qq.com>\r\n"
             "MIME-Version: 1.0\r\n"
             "Content-Type: multipart/alternative;\r\n"
             " boundary=\"=_test_boundary\"\r\n"
             "\r\n"
             "--=_test_boundary\r\n"
             "Content-Type: text/plain; charset=UTF-8\r\n"
             "Content-Transfer-Encoding: base64\r\n"
             "\r\n"
             "57qv5paH5pysDQrnrKzkuozooYw=\r\n"
             "\r\n"
             "--=_test_boundary\r\n"
             "Content-Type: text/html; charset=UTF-8\r\n"
             "Content-Transfer-Encoding: base64\r\n"
             "\r\n"
             "PHA+5ZGK6K2mPC9wPg==\r\n"
             "\r\n"
             "--=_test_boundary--\r\n");
    free(msg);
}

static void test_date_is_rfc5322_in_utc_with_english_names(void **state)
{
    static const struct {
        time_t t;
        const char *want;
    } cases[] = {
        {951782400, "Date: Tue, 29 Feb 2000 00:00:00 +0000\r\n"},
        {1000000000, "Date: Sun, 09 Sep 2001 01:46:40 +0000\r\n"},
        {4102444799, "Date: Thu, 31 Dec 2099 23:59:59 +0000\r\n"},
    };
    struct qn_mime_message m = base_message();
    size_t i;
    char *msg;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        m.date = cases[i].t;
        msg = build_ok(&m);
        assert_memory_equal(msg, cases[i].want, strlen(cases[i].want));
        free(msg);
    }
}

static void test_date_outside_years_1900_to_9999_is_rejected(void **state)
{
    struct qn_mime_message m = base_message();
    struct qn_buf b;
    char *msg;

    (void)state;
    qn_buf_init(&b, 64 * 1024);
    m.date = (time_t)-2208988801LL; /* 1899-12-31 23:59:59 */
    assert_int_equal(qn_mime_build(&m, &b), QN_EINVAL);
    m.date = (time_t)253402300800LL; /* 10000-01-01 00:00:00 */
    assert_int_equal(qn_mime_build(&m, &b), QN_EINVAL);
    assert_int_equal(b.len, 0);
    qn_buf_free(&b);
    m.date = (time_t)-2208988800LL; /* 1900-01-01 00:00:00, the first accepted */
    msg = build_ok(&m);
    assert_memory_equal(msg, "Date: Mon, 01 Jan 1900 00:00:00 +0000\r\n", 39);
    free(msg);
}

static void test_date_zero_means_now(void **state)
{
    struct qn_mime_message m = base_message();
    char *msg, want[64];
    time_t before = time(NULL), after;
    struct tm tm;

    (void)state;
    m.date = 0;
    msg = build_ok(&m);
    after = time(NULL);
    /* Compare the year only: the clock may tick between the two reads. */
    assert_non_null(gmtime_r(&after, &tm));
    snprintf(want, sizeof(want), " %04d ", tm.tm_year + 1900);
    assert_non_null(strstr(msg, want));
    assert_memory_equal(msg, "Date: ", 6);
    assert_memory_equal(strstr(msg, "\r\n") - 6, " +0000", 6);
    assert_true(after >= before);
    free(msg);
}

/* ---- Subject ---- */

static void test_subject_with_chinese_is_rfc2047_encoded(void **state)
{
    struct qn_buf b;

    (void)state;
    qn_buf_init(&b, 1024);
    assert_int_equal(qn_mime_header_text(&b, "Subject", "中文"), QN_OK);
    assert_string_equal(b.data, "Subject: =?UTF-8?B?5Lit5paH?=\r\n");
    qn_buf_free(&b);
}

static void test_chinese_subjects_of_every_length_up_to_200_round_trip_within_limits(void **state)
{
    size_t n;

    (void)state;
    for (n = 1; n <= 200; n++) {
        char *subject = chinese(n), *shown = subject_round_trip(subject);

        assert_string_equal(shown, subject);
        free(shown);
        free(subject);
    }
}

static void test_emoji_subjects_are_split_only_between_characters(void **state)
{
    /* 4-, 3-, 1- and 2-byte characters mixed, so word edges fall everywhere. */
    static const char *const pieces[] = {"\xF0\x9F\x94\xA5", "警", "a", "\xC3\xA9",
                                         "\xF0\x9F\x98\x80"};
    struct qn_buf subject;
    size_t n;

    (void)state;
    qn_buf_init(&subject, 4096);
    for (n = 1; n <= 300; n++) {
        char *shown;

        assert_int_equal(qn_buf_puts(&subject, pieces[n % 5]), QN_OK);
        shown = subject_round_trip(subject.data);
        assert_string_equal(shown, subject.data); /* decode_words checked each word */
        free(shown);
    }
    qn_buf_free(&subject);
}

static void test_ascii_subject_stays_plain_and_folds_at_spaces(void **state)
{
    struct qn_buf b;
    char *shown;
    const char *subject = "Disk /dev/sda1 almost full on web1.example.com: 95% used, "
                          "please check as soon as possible";

    (void)state;
    qn_buf_init(&b, 1024);
    assert_int_equal(qn_mime_header_text(&b, "Subject", subject), QN_OK);
    assert_string_equal(
        b.data, "Subject: Disk /dev/sda1 almost full on web1.example.com: 95% used, please\r\n"
                " check as soon as possible\r\n");
    qn_buf_free(&b);
    shown = subject_round_trip(subject);
    assert_string_equal(shown, subject);
    free(shown);
}

static void test_ascii_subject_with_encoded_word_lookalike_is_encoded(void **state)
{
    struct qn_buf b;
    char *shown;

    (void)state;
    /* Left plain, a reader would show "hi" instead of what was sent. */
    qn_buf_init(&b, 1024);
    assert_int_equal(qn_mime_header_text(&b, "Subject", "=?UTF-8?B?aGk=?="), QN_OK);
    assert_string_equal(b.data, "Subject: =?UTF-8?B?PT9VVEYtOD9CP2FHaz0/PQ==?=\r\n");
    qn_buf_free(&b);
    shown = subject_round_trip("=?UTF-8?B?aGk=?=");
    assert_string_equal(shown, "=?UTF-8?B?aGk=?=");
    free(shown);
}

static void test_ascii_subject_with_a_word_too_long_for_a_line_is_encoded(void **state)
{
    char subject[1001];
    char *shown;

    (void)state;
    memset(subject, 'a', 1000);
    subject[1000] = '\0';
    shown = subject_round_trip(subject); /* asserts lines <= 78 */
    assert_string_equal(shown, subject);
    free(shown);
}

static void test_empty_or_null_subject_gives_an_empty_header(void **state)
{
    struct qn_buf b;

    (void)state;
    qn_buf_init(&b, 1024);
    assert_int_equal(qn_mime_header_text(&b, "Subject", NULL), QN_OK);
    assert_int_equal(qn_mime_header_text(&b, "Subject", ""), QN_OK);
    assert_int_equal(qn_mime_header_text(&b, "Subject", " \r\n\t"), QN_OK);
    assert_string_equal(b.data, "Subject:\r\nSubject:\r\nSubject:\r\n");
    qn_buf_free(&b);
}

static void test_invalid_utf8_in_subject_becomes_replacement_characters(void **state)
{
    char *shown;

    (void)state;
    /* Overlong '/', a surrogate and a truncated 中, among Chinese. */
    shown = subject_round_trip("告警\xC0\xAF|\xED\xA0\x80|\xE4\xB8");
    assert_string_equal(shown, "告警" FFFD FFFD "|" FFFD FFFD FFFD "|" FFFD FFFD);
    free(shown);
}

static void test_crlf_in_subject_cannot_add_a_header(void **state)
{
    static const char *const attempts[] = {"x\r\nBcc: evil@x", "x\nBcc: evil@x", "x\rBcc: evil@x",
                                           "中\r\nBcc: evil@x", "x\r\n\r\nBcc: evil@x"};
    struct qn_mime_message m = base_message();
    size_t i, hlen;
    char *msg, *value, *shown;

    (void)state;
    for (i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++) {
        m.subject = attempts[i];
        msg = build_ok(&m);
        hlen = header_len(msg);
        assert_null(strstr(msg, "\nBcc"));
        assert_lines_within(msg, hlen, QN_MIME_LINE_SOFT);
        value = unfolded(msg, hlen, "Subject");
        assert_non_null(value);
        shown = displayed(value);
        assert_non_null(strstr(shown, "Bcc: evil@x"));
        assert_null(strpbrk(shown, "\r\n"));
        free(shown);
        free(value);
        free(msg);
    }
}

static void test_plain_subject_with_crlf_is_joined_with_a_space(void **state)
{
    struct qn_buf b;

    (void)state;
    qn_buf_init(&b, 1024);
    assert_int_equal(qn_mime_header_text(&b, "Subject", "x\r\nBcc: evil@x"), QN_OK);
    assert_string_equal(b.data, "Subject: x Bcc: evil@x\r\n");
    qn_buf_free(&b);
}

static void test_subject_is_cut_to_value_max_with_an_ellipsis(void **state)
{
    char *subject = chinese(5000), *shown;

    (void)state;
    shown = subject_round_trip(subject);
    assert_true(strlen(shown) <= QN_MIME_VALUE_MAX);
    assert_true(strlen(shown) > QN_MIME_VALUE_MAX - 6);
    assert_string_equal(shown + strlen(shown) - 3, "\xE2\x80\xA6");
    assert_memory_equal(shown, subject, strlen(shown) - 3);
    free(shown);
    free(subject);
}

/* ---- header names ---- */

static void test_header_text_rejects_names_that_are_not_ftext(void **state)
{
    const char *too_long = "X-Forty-One-Characters-Long-Header-Name-1";
    struct qn_buf b;

    (void)state;
    qn_buf_init(&b, 1024);
    assert_int_equal(qn_mime_header_text(&b, "", "v"), QN_EINVAL);
    assert_int_equal(qn_mime_header_text(&b, NULL, "v"), QN_EINVAL);
    assert_int_equal(qn_mime_header_text(&b, "X:Y", "v"), QN_EINVAL);
    assert_int_equal(qn_mime_header_text(&b, "X Y", "v"), QN_EINVAL);
    assert_int_equal(qn_mime_header_text(&b, "X\r\nBcc", "v"), QN_EINVAL);
    assert_int_equal(qn_mime_header_text(&b, "X-\xE4\xB8\xAD", "v"), QN_EINVAL);
    assert_int_equal(strlen(too_long), QN_MIME_HEADER_NAME_MAX + 1);
    assert_int_equal(qn_mime_header_text(&b, too_long, "v"), QN_EINVAL);
    /* One less is accepted. */
    assert_int_equal(qn_mime_header_text(&b, too_long + 1, "v"), QN_OK);
    assert_string_equal(b.data, "-Forty-One-Characters-Long-Header-Name-1: v\r\n");
    qn_buf_reset(&b);
    assert_int_equal(b.len, 0);
    qn_buf_free(&b);
}

static void test_longest_header_name_still_keeps_lines_within_78(void **state)
{
    const char *name = "X-Forty-Characters-Long-Header-Name-abcd";
    char *value = chinese(100), *unf, *shown;
    struct qn_buf b;

    (void)state;
    assert_int_equal(strlen(name), QN_MIME_HEADER_NAME_MAX);
    qn_buf_init(&b, 4096);
    assert_int_equal(qn_mime_header_text(&b, name, value), QN_OK);
    assert_lines_within(b.data, b.len, QN_MIME_LINE_SOFT);
    unf = unfolded(b.data, b.len, name);
    assert_non_null(unf);
    shown = displayed(unf);
    assert_string_equal(shown, value);
    free(shown);
    free(unf);
    free(value);
    qn_buf_free(&b);
}

/* ---- From and other mailboxes ---- */

static char *mailbox(const char *display_name, const char *addr)
{
    struct qn_buf b;

    qn_buf_init(&b, 64 * 1024);
    assert_int_equal(qn_mime_header_mailbox(&b, "From", display_name, addr), QN_OK);
    return qn_buf_steal(&b, NULL);
}

static void test_ascii_display_name_of_atoms_stays_plain(void **state)
{
    char *h = mailbox("Server Alerts", "a@qq.com");

    (void)state;
    assert_string_equal(h, "From: Server Alerts <a@qq.com>\r\n");
    free(h);
}

static void test_ascii_display_name_with_specials_is_quoted(void **state)
{
    char *h;

    (void)state;
    h = mailbox("Ops, Team \"A\" \\ B", "a@qq.com");
    assert_string_equal(h, "From: \"Ops, Team \\\"A\\\" \\\\ B\" <a@qq.com>\r\n");
    free(h);
    h = mailbox("web1.example.com (root)", "a@qq.com");
    assert_string_equal(h, "From: \"web1.example.com (root)\" <a@qq.com>\r\n");
    free(h);
}

static void test_display_name_with_encoded_word_lookalike_is_encoded(void **state)
{
    char *h = mailbox("=?UTF-8?B?aGk=?=", "a@qq.com");

    (void)state;
    assert_string_equal(h, "From: =?UTF-8?B?PT9VVEYtOD9CP2FHaz0/PQ==?= <a@qq.com>\r\n");
    free(h);
}

static void test_empty_display_name_gives_a_bare_address(void **state)
{
    char *h;

    (void)state;
    h = mailbox(NULL, "a@qq.com");
    assert_string_equal(h, "From: a@qq.com\r\n");
    free(h);
    h = mailbox("\r\n \t", "a@qq.com");
    assert_string_equal(h, "From: a@qq.com\r\n");
    free(h);
}

static void test_chinese_display_names_of_every_length_round_trip_within_limits(void **state)
{
    static const char suffix[] = " <123456789@qq.com>";
    size_t n, vlen, slen = sizeof(suffix) - 1;

    (void)state;
    for (n = 1; n <= 200; n++) {
        char *name = chinese(n), *h = mailbox(name, "123456789@qq.com");
        char *value, *shown;

        assert_lines_within(h, strlen(h), QN_MIME_LINE_SOFT);
        value = unfolded(h, strlen(h), "From");
        assert_non_null(value);
        vlen = strlen(value);
        assert_true(vlen > slen);
        assert_string_equal(value + vlen - slen, suffix);
        value[vlen - slen] = '\0';
        shown = displayed(value);
        assert_string_equal(shown, name);
        free(shown);
        free(value);
        free(h);
        free(name);
    }
}

static void test_crlf_in_from_name_cannot_add_a_header(void **state)
{
    struct qn_mime_message m = base_message();
    char *msg, *value;
    size_t hlen;

    (void)state;
    m.from_name = "x\r\nBcc: evil@x";
    msg = build_ok(&m);
    hlen = header_len(msg);
    assert_null(strstr(msg, "\nBcc"));
    value = unfolded(msg, hlen, "From");
    assert_string_equal(value, " \"x Bcc: evil@x\" <123456789@qq.com>");
    free(value);
    free(msg);

    m.from_name = "服务器\r\nBcc: evil@x";
    msg = build_ok(&m);
    assert_null(strstr(msg, "\nBcc"));
    assert_lines_within(msg, header_len(msg), QN_MIME_LINE_SOFT);
    free(msg);
}

/* ---- addresses ---- */

static void test_addr_valid_accepts_plain_addresses(void **state)
{
    char longest[QN_MIME_ADDR_MAX + 1];

    (void)state;
    assert_true(qn_mime_addr_valid("123456789@qq.com"));
    assert_true(qn_mime_addr_valid("first.last+tag@mail.example.com"));
    assert_true(qn_mime_addr_valid("a@b"));
    memset(longest, 'a', sizeof(longest) - 1);
    longest[1] = '@';
    longest[sizeof(longest) - 1] = '\0';
    assert_true(qn_mime_addr_valid(longest));
}

static void test_addr_valid_rejects_header_syntax_and_controls(void **state)
{
    char too_long[QN_MIME_ADDR_MAX + 2];

    (void)state;
    assert_false(qn_mime_addr_valid(NULL));
    assert_false(qn_mime_addr_valid(""));
    assert_false(qn_mime_addr_valid("a@"));
    assert_false(qn_mime_addr_valid("@qq.com"));
    assert_false(qn_mime_addr_valid("noat.example.com"));
    assert_false(qn_mime_addr_valid("a@b@c"));
    assert_false(qn_mime_addr_valid("a b@qq.com"));
    assert_false(qn_mime_addr_valid("a@qq.com\r\nBcc: evil@x"));
    assert_false(qn_mime_addr_valid("a@qq.com\n"));
    assert_false(qn_mime_addr_valid("a@qq.com\t"));
    assert_false(qn_mime_addr_valid("a@qq.com, b@qq.com"));
    assert_false(qn_mime_addr_valid("A <a@qq.com>"));
    assert_false(qn_mime_addr_valid("a@qq.com;"));
    assert_false(qn_mime_addr_valid("\"a\"@qq.com"));
    assert_false(qn_mime_addr_valid("a\\@qq.com"));
    assert_false(qn_mime_addr_valid("a(c)@qq.com"));
    assert_false(qn_mime_addr_valid("a@[1.2.3.4]"));
    assert_false(qn_mime_addr_valid("a:b@qq.com"));
    assert_false(qn_mime_addr_valid("用户@qq.com"));
    assert_false(qn_mime_addr_valid("a@qq.com\x7F"));
    memset(too_long, 'a', sizeof(too_long) - 1);
    too_long[1] = '@';
    too_long[sizeof(too_long) - 1] = '\0';
    assert_false(qn_mime_addr_valid(too_long));
}

static void test_bad_addresses_are_rejected_before_anything_is_written(void **state)
{
    static const char *const bad_to[] = {"ops@example.com", "x@y\r\nBcc: evil@x"};
    struct qn_mime_message m = base_message();
    struct qn_buf b;

    (void)state;
    qn_buf_init(&b, 64 * 1024);
    m.from_addr = "a@qq.com\r\nBcc: evil@x";
    assert_int_equal(qn_mime_build(&m, &b), QN_EINVAL);
    m = base_message();
    m.to = bad_to;
    m.n_to = 2;
    assert_int_equal(qn_mime_build(&m, &b), QN_EINVAL);
    m = base_message();
    m.reply_to = "r@qq.com\nBcc: evil@x";
    assert_int_equal(qn_mime_build(&m, &b), QN_EINVAL);
    assert_int_equal(b.len, 0);
    assert_int_equal(qn_mime_header_mailbox(&b, "From", "n", "bad"), QN_EINVAL);
    assert_int_equal(b.len, 0);
    qn_buf_free(&b);
}

static void test_recipients_are_comma_separated_and_folded(void **state)
{
    static const char *const to[] = {"alice.operations@example.com", "bob.oncall@example.com",
                                     "987654321@qq.com", "security-team@example.org"};
    /* The first line is 75 octets; the fourth address would make it 101. */
    static const char want[] =
        "\r\nTo: alice.operations@example.com, bob.oncall@example.com, 987654321@qq.com,\r\n"
        " security-team@example.org\r\n"
        "Subject:";
    struct qn_mime_message m = base_message();
    char *msg;

    (void)state;
    m.to = to;
    m.n_to = 4;
    msg = build_ok(&m);
    assert_non_null(strstr(msg, want));
    free(msg);
}

static void test_hundred_recipients_keep_lines_within_78_and_more_are_refused(void **state)
{
    char addrs[QN_MIME_RECIPIENTS_MAX + 1][32];
    const char *to[QN_MIME_RECIPIENTS_MAX + 1];
    struct qn_mime_message m = base_message();
    struct qn_buf b;
    char *msg, *value;
    size_t i;

    (void)state;
    for (i = 0; i <= QN_MIME_RECIPIENTS_MAX; i++) {
        snprintf(addrs[i], sizeof(addrs[i]), "user%zu@example.com", i);
        to[i] = addrs[i];
    }
    m.to = to;
    m.n_to = QN_MIME_RECIPIENTS_MAX;
    msg = build_ok(&m);
    assert_lines_within(msg, header_len(msg), QN_MIME_LINE_SOFT);
    value = unfolded(msg, header_len(msg), "To");
    assert_memory_equal(value, " user0@example.com, user1@example.com, ", 39);
    assert_string_equal(value + strlen(value) - 20, ", user99@example.com");
    free(value);
    free(msg);

    m.n_to = QN_MIME_RECIPIENTS_MAX + 1;
    qn_buf_init(&b, 64 * 1024);
    assert_int_equal(qn_mime_build(&m, &b), QN_ETOOBIG);
    assert_int_equal(b.len, 0);
    qn_buf_free(&b);
}

static void test_missing_text_or_recipients_is_rejected(void **state)
{
    struct qn_mime_message m = base_message();
    struct qn_buf b;

    (void)state;
    qn_buf_init(&b, 64 * 1024);
    m.text = NULL;
    assert_int_equal(qn_mime_build(&m, &b), QN_EINVAL);
    m = base_message();
    m.n_to = 0;
    assert_int_equal(qn_mime_build(&m, &b), QN_EINVAL);
    m = base_message();
    m.to = NULL;
    assert_int_equal(qn_mime_build(&m, &b), QN_EINVAL);
    m = base_message();
    m.from_addr = NULL;
    assert_int_equal(qn_mime_build(&m, &b), QN_EINVAL);
    assert_int_equal(qn_mime_build(NULL, &b), QN_EINVAL);
    assert_int_equal(b.len, 0);
    qn_buf_free(&b);
}

static void test_reply_to_is_written_only_when_set(void **state)
{
    struct qn_mime_message m = base_message();
    char *msg;

    (void)state;
    msg = build_ok(&m);
    assert_null(strstr(msg, "Reply-To"));
    free(msg);
    m.reply_to = "admin@example.com";
    msg = build_ok(&m);
    assert_non_null(strstr(msg, "\r\nTo: ops@example.com\r\nReply-To: admin@example.com\r\n"
                                "Subject: test\r\n"));
    free(msg);
}

/* ---- Message-ID and boundary ---- */

static void assert_hex(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        assert_non_null(strchr("0123456789abcdef", s[i]));
}

static void test_generated_message_id_is_random_hex_at_the_from_domain(void **state)
{
    struct qn_mime_message m = base_message();
    char *a, *b, *ida, *idb;

    (void)state;
    m.message_id = NULL;
    a = build_ok(&m);
    b = build_ok(&m);
    ida = strstr(a, "\r\nMessage-ID: <");
    idb = strstr(b, "\r\nMessage-ID: <");
    assert_non_null(ida);
    assert_non_null(idb);
    ida += 15;
    idb += 15;
    assert_hex(ida, 32);
    assert_memory_equal(ida + 32, "@qq.com>\r\n", 10);
    assert_memory_not_equal(ida, idb, 32);
    free(a);
    free(b);
}

static void test_generated_boundary_is_random_and_used_consistently(void **state)
{
    struct qn_mime_message m = base_message();
    char *a, *b, *ba, *bb, delim[64];

    (void)state;
    m.html = "<p>x</p>";
    a = build_ok(&m);
    b = build_ok(&m);
    ba = strstr(a, " boundary=\"=_qn_");
    bb = strstr(b, " boundary=\"=_qn_");
    assert_non_null(ba);
    assert_non_null(bb);
    ba += 11;
    bb += 11;
    assert_hex(ba + 5, 24);
    assert_memory_equal(ba + 29, "\"\r\n\r\n--", 7);
    assert_memory_not_equal(ba, bb, 29);
    /* Opening, middle and closing delimiters all use it. */
    snprintf(delim, sizeof(delim), "\r\n\r\n--%.29s\r\nContent-Type: text/html", ba);
    assert_non_null(strstr(a, delim));
    snprintf(delim, sizeof(delim), "\r\n\r\n--%.29s--\r\n", ba);
    assert_string_equal(a + strlen(a) - strlen(delim), delim);
    free(a);
    free(b);
}

static void test_invalid_message_id_or_boundary_is_rejected(void **state)
{
    static const char *const bad_ids[] = {
        "fixed@qq.com",           "<fixed@qq.com", "<fixedqq.com>", "<a b@qq.com>",
        "<x@qq.com>\r\nBcc: e@x", "<@qq.com>",     "<x@>",          "<x<y@qq.com>"};
    static const char *const bad_boundaries[] = {
        "",    "a\"b",
        "a b", "a\r\nb",
        "a;b", "71-characters-are-one-too-many-for-rfc-2046-boundary-syntax-limit-of-70"};
    struct qn_mime_message m = base_message();
    struct qn_buf b;
    size_t i;

    (void)state;
    qn_buf_init(&b, 64 * 1024);
    for (i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
        m.message_id = bad_ids[i];
        assert_int_equal(qn_mime_build(&m, &b), QN_EINVAL);
    }
    m = base_message();
    m.html = "<p>x</p>";
    assert_int_equal(strlen(bad_boundaries[5]), QN_MIME_BOUNDARY_MAX + 1);
    for (i = 0; i < sizeof(bad_boundaries) / sizeof(bad_boundaries[0]); i++) {
        m.boundary = bad_boundaries[i];
        assert_int_equal(qn_mime_build(&m, &b), QN_EINVAL);
    }
    assert_int_equal(b.len, 0);
    /* The longest allowed boundary, and RFC 2046's punctuation, are accepted. */
    m.boundary = "'()+_,-./:=?5678901234567890123456789012345678901234567890123456789012";
    assert_int_equal(strlen(m.boundary), QN_MIME_BOUNDARY_MAX);
    assert_int_equal(qn_mime_build(&m, &b), QN_OK);
    qn_buf_free(&b);
}

/* ---- bodies ---- */

static void test_body_line_endings_become_crlf(void **state)
{
    struct qn_mime_message m = base_message();
    char *msg;

    (void)state;
    /* LF, lone CR, CRLF and a final LF all become CRLF: "a\r\nb\r\nc\r\nd\r\n". */
    m.text = "a\nb\rc\r\nd\n";
    msg = build_ok(&m);
    assert_string_equal(strstr(msg, "\r\n\r\n"), "\r\n\r\nYQ0KYg0KYw0KZA0K\r\n");
    free(msg);
}

static void test_body_invalid_utf8_is_repaired_before_base64(void **state)
{
    struct qn_mime_message m = base_message();
    char *msg;

    (void)state;
    /* "x\xC0\x80y" -> "x" U+FFFD U+FFFD "y". */
    m.text = "x\xC0\x80y";
    msg = build_ok(&m);
    assert_string_equal(strstr(msg, "\r\n\r\n"), "\r\n\r\neO+/ve+/vXk=\r\n");
    free(msg);
}

static void test_base64_body_wraps_at_76_characters(void **state)
{
    unsigned char bytes[58];
    struct qn_buf b;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bytes); i++)
        bytes[i] = (unsigned char)i;
    qn_buf_init(&b, 1024);
    assert_int_equal(qn_mime_base64_body(&b, bytes, 0), QN_OK);
    assert_int_equal(b.len, 0);
    assert_int_equal(qn_mime_base64_body(&b, "A", 1), QN_OK);
    assert_string_equal(b.data, "QQ==\r\n");
    qn_buf_reset(&b);
    assert_int_equal(qn_mime_base64_body(&b, bytes, 57), QN_OK);
    assert_string_equal(
        b.data, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4\r\n");
    qn_buf_reset(&b);
    assert_int_equal(qn_mime_base64_body(&b, bytes, 58), QN_OK);
    assert_string_equal(
        b.data, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4\r\n"
                "OQ==\r\n");
    qn_buf_free(&b);
}

static void test_base64_body_that_cannot_fit_fails_without_writing(void **state)
{
    unsigned char bytes[57] = {0};
    struct qn_buf b;

    (void)state;
    /* 57 bytes need 76 + 2; allow 77. */
    qn_buf_init(&b, 77);
    assert_int_equal(qn_mime_base64_body(&b, bytes, sizeof(bytes)), QN_ETOOBIG);
    assert_int_equal(b.len, 0);
    qn_buf_free(&b);
    qn_buf_init(&b, 78);
    assert_int_equal(qn_mime_base64_body(&b, bytes, sizeof(bytes)), QN_OK);
    assert_int_equal(b.len, 78);
    qn_buf_free(&b);
}

/* ---- bounds ---- */

static void test_very_long_inputs_keep_every_line_within_limits(void **state)
{
    size_t big = 200 * 1024, i, hlen;
    char *subject = malloc(big + 1), *name = malloc(big + 1), *text = malloc(big + 1);
    struct qn_mime_message m = base_message();
    char *msg;

    (void)state;
    assert_non_null(subject);
    assert_non_null(name);
    assert_non_null(text);
    /* ASCII words, Chinese, an overlong word, and a body with no line break at all. */
    for (i = 0; i < big; i++) {
        subject[i] = i % 7 == 6 ? ' ' : 'w';
        name[i] = (char)("\xE4\xB8\xAD"[i % 3]);
        text[i] = 'x';
    }
    subject[big] = name[big - big % 3] = text[big] = '\0';
    m.subject = subject;
    m.from_name = name;
    m.text = text;
    m.html = text;
    m.boundary = "b";
    msg = build_ok(&m);
    hlen = header_len(msg);
    assert_lines_within(msg, hlen, QN_MIME_LINE_SOFT);
    assert_lines_within(msg + hlen, strlen(msg + hlen), 76); /* base64 lines are the longest */
    assert_lines_within(msg, strlen(msg), QN_MIME_LINE_MAX);
    free(msg);
    free(subject);
    free(name);
    free(text);
}

static void test_message_larger_than_buffer_max_is_etoobig(void **state)
{
    struct qn_mime_message m = base_message();
    struct qn_buf b;

    (void)state;
    qn_buf_init(&b, 100);
    assert_int_equal(qn_mime_build(&m, &b), QN_ETOOBIG);
    assert_true(b.len <= 100);
    qn_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_part_message_is_exact_bytes),
        cmocka_unit_test(test_multipart_alternative_message_is_exact_bytes),
        cmocka_unit_test(test_date_is_rfc5322_in_utc_with_english_names),
        cmocka_unit_test(test_date_outside_years_1900_to_9999_is_rejected),
        cmocka_unit_test(test_date_zero_means_now),
        cmocka_unit_test(test_subject_with_chinese_is_rfc2047_encoded),
        cmocka_unit_test(test_chinese_subjects_of_every_length_up_to_200_round_trip_within_limits),
        cmocka_unit_test(test_emoji_subjects_are_split_only_between_characters),
        cmocka_unit_test(test_ascii_subject_stays_plain_and_folds_at_spaces),
        cmocka_unit_test(test_ascii_subject_with_encoded_word_lookalike_is_encoded),
        cmocka_unit_test(test_ascii_subject_with_a_word_too_long_for_a_line_is_encoded),
        cmocka_unit_test(test_empty_or_null_subject_gives_an_empty_header),
        cmocka_unit_test(test_invalid_utf8_in_subject_becomes_replacement_characters),
        cmocka_unit_test(test_crlf_in_subject_cannot_add_a_header),
        cmocka_unit_test(test_plain_subject_with_crlf_is_joined_with_a_space),
        cmocka_unit_test(test_subject_is_cut_to_value_max_with_an_ellipsis),
        cmocka_unit_test(test_header_text_rejects_names_that_are_not_ftext),
        cmocka_unit_test(test_longest_header_name_still_keeps_lines_within_78),
        cmocka_unit_test(test_ascii_display_name_of_atoms_stays_plain),
        cmocka_unit_test(test_ascii_display_name_with_specials_is_quoted),
        cmocka_unit_test(test_display_name_with_encoded_word_lookalike_is_encoded),
        cmocka_unit_test(test_empty_display_name_gives_a_bare_address),
        cmocka_unit_test(test_chinese_display_names_of_every_length_round_trip_within_limits),
        cmocka_unit_test(test_crlf_in_from_name_cannot_add_a_header),
        cmocka_unit_test(test_addr_valid_accepts_plain_addresses),
        cmocka_unit_test(test_addr_valid_rejects_header_syntax_and_controls),
        cmocka_unit_test(test_bad_addresses_are_rejected_before_anything_is_written),
        cmocka_unit_test(test_recipients_are_comma_separated_and_folded),
        cmocka_unit_test(test_hundred_recipients_keep_lines_within_78_and_more_are_refused),
        cmocka_unit_test(test_missing_text_or_recipients_is_rejected),
        cmocka_unit_test(test_reply_to_is_written_only_when_set),
        cmocka_unit_test(test_generated_message_id_is_random_hex_at_the_from_domain),
        cmocka_unit_test(test_generated_boundary_is_random_and_used_consistently),
        cmocka_unit_test(test_invalid_message_id_or_boundary_is_rejected),
        cmocka_unit_test(test_body_line_endings_become_crlf),
        cmocka_unit_test(test_body_invalid_utf8_is_repaired_before_base64),
        cmocka_unit_test(test_base64_body_wraps_at_76_characters),
        cmocka_unit_test(test_base64_body_that_cannot_fit_fails_without_writing),
        cmocka_unit_test(test_very_long_inputs_keep_every_line_within_limits),
        cmocka_unit_test(test_message_larger_than_buffer_max_is_etoobig),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
