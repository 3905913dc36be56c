/*
 * Unit tests for cli/header.c: the exact bytes produced for messages as
 * cron, mailx and scripts hand them to sendmail; recipient extraction; the
 * encodings of 8-bit headers and bodies; injection attempts; bounds.
 * Expected base64 was computed with Python's base64 module and the GBK
 * bytes with Python's codecs, independently of the code under test.  Every
 * successful output is also checked against the wire rules (CRLF only,
 * lines <= 998, ASCII header block made of fields and continuations).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "header.h"

/* 1700000000 as Python's datetime writes it in UTC */
#define DATE_LINE         "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
#define MSGID_LINE        "Message-ID: <fixed@qq.com>\r\n"
#define FROM_ACCOUNT_NAME "From: =?UTF-8?B?5pyN5Yqh5Zmo5ZGK6K2m?= <123456789@qq.com>\r\n"

/* Byte strings may hold NUL: pass them with their length. */
#define BYTES(s) (s), (sizeof(s) - 1)

static const char *const alert[] = {"ops@example.com", "987654321@qq.com"};

static struct qn_header_options options(void)
{
    struct qn_header_options o = {
        .account = "123456789@qq.com",
        .from_name = "服务器告警", /* base64 5pyN5Yqh5Zmo5ZGK6K2m */
        .host = "web1",
        .alert_rcpt = alert,
        .n_alert_rcpt = 2,
        .now = 1700000000,
        .message_id = "<fixed@qq.com>",
    };

    return o;
}

/* The wire rules every result must keep, whatever the input. */
static void assert_wire_clean(const char *s, size_t n)
{
    size_t i, start = 0;
    bool in_header = true, first_line = true;

    assert_true(n >= 2);
    for (i = 0; i < n; i++) {
        if (s[i] == '\n') {
            fail_msg("bare LF at %zu", i);
        } else if (s[i] == '\r') {
            if (i + 1 >= n || s[i + 1] != '\n')
                fail_msg("bare CR at %zu", i);
            assert_true(i - start <= 998);
            if (in_header) {
                if (i == start) {
                    in_header = false; /* the empty line */
                } else if (s[start] == ' ' || s[start] == '\t') {
                    assert_false(first_line); /* a continuation needs a field */
                } else {
                    const char *colon = memchr(s + start, ':', i - start);

                    assert_non_null(colon);
                    for (const char *p = s + start; p < colon; p++)
                        assert_true(*p > 32 && *p < 127);
                }
                for (size_t k = start; k < i; k++) {
                    unsigned char c = (unsigned char)s[k];

                    assert_true(c == '\t' || (c >= 32 && c < 127));
                }
                first_line = false;
            }
            i++;
            start = i + 1;
        }
    }
    assert_false(in_header); /* there is always an empty line */
}

/* Rewrite, assert QN_OK and the wire rules; return the output (free it). */
static char *rewrite_ok(const char *in, size_t n, const struct qn_header_options *o,
                        struct qn_header_result *res)
{
    struct qn_buf out;
    char *s;
    size_t len;

    qn_buf_init(&out, 4 * 1024 * 1024);
    assert_int_equal(qn_header_rewrite(in, n, o, &out, res), QN_OK);
    s = qn_buf_steal(&out, &len);
    assert_non_null(s);
    assert_wire_clean(s, len);
    return s;
}

static enum qn_status rewrite_status(const char *in, size_t n, const struct qn_header_options *o,
                                     struct qn_header_result *res)
{
    struct qn_buf out;
    enum qn_status r;

    qn_buf_init(&out, 4 * 1024 * 1024);
    r = qn_header_rewrite(in, n, o, &out, res);
    if (r != QN_OK)
        assert_int_equal(out.len, 0); /* nothing appended on failure */
    qn_buf_free(&out);
    return r;
}

static void assert_rcpt(const struct qn_header_result *res, const char *const *want, size_t n)
{
    assert_int_equal(res->n_rcpt, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(res->rcpt[i], want[i]);
}

/* The header block of S (up to the empty line, without it). */
static char *header_block(const char *s)
{
    const char *end = strstr(s, "\r\n\r\n");

    assert_non_null(end);
    return strndup(s, (size_t)(end - s) + 2);
}

/* The unfolded value of the first field NAME in S, or NULL. */
static char *field(const char *s, const char *name)
{
    char *head = header_block(s), *p = head, *v = NULL;
    size_t n = strlen(name), o = 0;

    while (*p != '\0') {
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            p += n + 1;
            while (*p == ' ')
                p++;
            v = calloc(1, strlen(p) + 1);
            assert_non_null(v);
            for (; *p != '\0'; p++) {
                if (p[0] == '\r' && p[1] == '\n' && (p[2] == ' ' || p[2] == '\t')) {
                    p++;
                    continue;
                }
                if (p[0] == '\r' && p[1] == '\n')
                    break;
                v[o++] = *p;
            }
            break;
        }
        p = strstr(p, "\r\n");
        if (p == NULL)
            break;
        p += 2;
    }
    free(head);
    return v;
}

/* Decode a value made of "=?UTF-8?B?...?=" words and plain text (for checking only). */
static char *decode_words(const char *v)
{
    char *out = calloc(1, 4 * strlen(v) + 1);
    size_t o = 0;
    bool last_word = false;

    assert_non_null(out);
    while (*v != '\0') {
        if (strncmp(v, "=?UTF-8?B?", 10) == 0) {
            const char *end = strstr(v + 10, "?=");
            unsigned char tmp[256];
            int len;
            size_t pad = 0, n;

            assert_non_null(end);
            n = (size_t)(end - (v + 10));
            assert_true(n + 12 <= 75); /* RFC 2047: a word is at most 75 characters */
            len = EVP_DecodeBlock(tmp, (const unsigned char *)v + 10, (int)n);
            assert_true(len >= 0);
            pad = (n > 0 && v[10 + n - 1] == '=') + (n > 1 && v[10 + n - 2] == '=');
            memcpy(out + o, tmp, (size_t)len - pad);
            o += (size_t)len - pad;
            v = end + 2;
            last_word = true;
            continue;
        }
        if (last_word && *v == ' ' && strncmp(v + 1, "=?UTF-8?B?", 10) == 0) {
            v++; /* blanks between encoded-words are not text */
            continue;
        }
        out[o++] = *v++;
        last_word = false;
    }
    return out;
}

/* ---- whole messages ---- */

static void test_cron_message_is_from_the_account_and_its_8bit_body_base64(void **state)
{
    static const char in[] = "From: root (Cron Daemon)\n"
                             "To: root\n"
                             "Subject: Cron <root@web1> /usr/local/bin/backup\n"
                             "X-Cron-Env: <SHELL=/bin/sh>\n"
                             "X-Cron-Env: <HOME=/root>\n"
                             "X-Cron-Env: <PATH=/usr/bin:/bin>\n"
                             "X-Cron-Env: <LOGNAME=root>\n"
                             "\n"
                             "备份失败：磁盘已满\n"
                             "/dev/sda1 100%\n";
    static const char want[] =
        DATE_LINE "From: \"Cron Daemon (root@web1)\" <123456789@qq.com>\r\n"
                  "To: ops@example.com, 987654321@qq.com\r\n"
                  "Subject: Cron <root@web1> /usr/local/bin/backup\r\n"
                  "X-Cron-Env: <SHELL=/bin/sh>\r\n"
                  "X-Cron-Env: <HOME=/root>\r\n"
                  "X-Cron-Env: <PATH=/usr/bin:/bin>\r\n"
                  "X-Cron-Env: <LOGNAME=root>\r\n" MSGID_LINE "MIME-Version: 1.0\r\n"
                  "Content-Type: text/plain; charset=UTF-8\r\n"
                  "Content-Transfer-Encoding: base64\r\n"
                  "\r\n"
                  "5aSH5Lu95aSx6LSl77ya56OB55uY5bey5ruhDQovZGV2L3NkYTEgMTAwJQ0K\r\n";
    static const char *const rcpt[] = {"ops@example.com", "987654321@qq.com"};
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out;

    (void)state;
    o.extract_rcpt = true;
    out = rewrite_ok(BYTES(in), &o, &res);
    assert_string_equal(out, want);
    assert_rcpt(&res, rcpt, 2);
    assert_int_equal(res.n_local, 1);
    assert_int_equal(res.n_invalid, 0);
    assert_true(res.body_encoded);
    free(out);
}

static void test_cron_message_labelled_ansi_charset_with_gbk_body_is_decoded(void **state)
{
    /* Debian's cron in the C locale labels the body ANSI_X3.4-1968; the job printed GBK. */
    static const char in[] = "From: root (Cron Daemon)\n"
                             "To: ops@example.com\n"
                             "Subject: Cron <root@web1> /opt/check-disk\n"
                             "MIME-Version: 1.0\n"
                             "Content-Type: text/plain; charset=ANSI_X3.4-1968\n"
                             "Content-Transfer-Encoding: 8bit\n"
                             "\n"
                             "\xb4\xc5\xc5\xcc\xb8\xe6\xbe\xaf\xa3\xba/var \xd2\xd1\xd3\xc3 95%\n";
    static const char want[] = DATE_LINE
        "From: \"Cron Daemon (root@web1)\" <123456789@qq.com>\r\n"
        "To: ops@example.com\r\n"
        "Subject: Cron <root@web1> /opt/check-disk\r\n"
        "MIME-Version: 1.0\r\n" MSGID_LINE "Content-Type: text/plain; charset=UTF-8\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        "56OB55uY5ZGK6K2m77yaL3ZhciDlt7LnlKggOTUlDQo=\r\n"; /* "磁盘告警：/var 已用 95%" */
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out;

    (void)state;
    o.extract_rcpt = true;
    out = rewrite_ok(BYTES(in), &o, &res);
    assert_string_equal(out, want);
    free(out);
}

static void test_mailx_message_keeps_date_and_id_and_gets_base64(void **state)
{
    /* s-nail / GNU mailutils: no From, its own Date and Message-Id, 8bit UTF-8. */
    static const char in[] = "Date: Mon, 13 Nov 2023 08:00:00 +0800\n"
                             "To: ops@example.com\n"
                             "Subject: disk full on web1\n"
                             "User-Agent: mail (GNU Mailutils 3.15)\n"
                             "Message-Id: <20231113000000.1234@web1>\n"
                             "MIME-Version: 1.0\n"
                             "Content-Type: text/plain; charset=utf-8\n"
                             "Content-Transfer-Encoding: 8bit\n"
                             "\n"
                             "服务器 web1 的磁盘已满\n";
    static const char want[] = "From: \"root@web1\" <123456789@qq.com>\r\n"
                               "Date: Mon, 13 Nov 2023 08:00:00 +0800\r\n"
                               "To: ops@example.com\r\n"
                               "Subject: disk full on web1\r\n"
                               "User-Agent: mail (GNU Mailutils 3.15)\r\n"
                               "Message-Id: <20231113000000.1234@web1>\r\n"
                               "MIME-Version: 1.0\r\n"
                               "Content-Type: text/plain; charset=UTF-8\r\n"
                               "Content-Transfer-Encoding: base64\r\n"
                               "\r\n"
                               "5pyN5Yqh5ZmoIHdlYjEg55qE56OB55uY5bey5ruhDQo=\r\n";
    static const char *const args[] = {"ops@example.com"};
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out;

    (void)state;
    o.envelope_from = "root"; /* the CLI's default: the user who runs sendmail */
    o.rcpt_args = args;
    o.n_rcpt_args = 1;
    out = rewrite_ok(BYTES(in), &o, &res);
    assert_string_equal(out, want);
    assert_rcpt(&res, args, 1);
    free(out);
}

static void test_seven_bit_message_is_kept_except_from_and_line_ends(void **state)
{
    static const char in[] = "From: Backup <backup@example.com>\r\n"
                             "To: ops@example.com,\r\n"
                             "\tdev@example.com\r\n"
                             "Subject: nightly backup done\r\n"
                             "Date: Mon, 13 Nov 2023 08:00:00 +0000\r\n"
                             "Message-ID: <abc@example.com>\r\n"
                             "\r\n"
                             "all fine\r\n"
                             ".\r\n"
                             "bye\n";
    static const char want[] = "From: \"Backup (backup@example.com)\" <123456789@qq.com>\r\n"
                               "Reply-To: backup@example.com\r\n"
                               "To: ops@example.com,\r\n"
                               "\tdev@example.com\r\n"
                               "Subject: nightly backup done\r\n"
                               "Date: Mon, 13 Nov 2023 08:00:00 +0000\r\n"
                               "Message-ID: <abc@example.com>\r\n"
                               "\r\n"
                               "all fine\r\n"
                               ".\r\n"
                               "bye\r\n";
    static const char *const rcpt[] = {"ops@example.com", "dev@example.com"};
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out;

    (void)state;
    o.extract_rcpt = true;
    out = rewrite_ok(BYTES(in), &o, &res);
    assert_string_equal(out, want);
    assert_rcpt(&res, rcpt, 2);
    assert_false(res.body_encoded);
    free(out);
}

static void test_crlf_and_lf_input_give_the_same_output(void **state)
{
    static const char lf[] = "Subject: a\nTo: ops@example.com\nX-Folded: one\n two\n\nx\ny\n";
    static const char crlf[] =
        "Subject: a\r\nTo: ops@example.com\r\nX-Folded: one\r\n two\r\n\r\nx\r\ny\r\n";
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *a, *b;

    (void)state;
    o.extract_rcpt = true;
    a = rewrite_ok(BYTES(lf), &o, &res);
    b = rewrite_ok(BYTES(crlf), &o, &res);
    assert_string_equal(a, b);
    assert_non_null(strstr(a, "X-Folded: one\r\n two\r\n"));
    free(a);
    free(b);
}

/* ---- Bcc and recipient extraction ---- */

static void test_bcc_is_removed_and_its_recipients_kept_with_t(void **state)
{
    static const char in[] = "To: ops@example.com\n"
                             "Bcc: secret@example.net,\n"
                             " Hidden <hidden@example.net>\n"
                             "BCC: shout@example.net\n"
                             "Subject: s\n"
                             "\n"
                             "b\n";
    static const char *const rcpt[] = {"ops@example.com", "secret@example.net",
                                       "hidden@example.net", "shout@example.net"};
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out;

    (void)state;
    o.extract_rcpt = true;
    out = rewrite_ok(BYTES(in), &o, &res);
    assert_null(strcasestr(out, "bcc"));
    assert_null(strstr(out, "hidden"));
    assert_null(strstr(out, "secret"));
    assert_rcpt(&res, rcpt, 4);
    free(out);
}

/* Resent-Bcc names hidden recipients just as Bcc does. */
static void test_resent_bcc_is_removed_like_bcc(void **state)
{
    static const char in[] = "Resent-From: ops@example.com\n"
                             "Resent-To: next@example.org\n"
                             "Resent-Bcc: hidden@example.net,\n"
                             " Boss <boss@example.net>\n"
                             "RESENT-BCC: shout@example.net\n"
                             "resent-bcc:\n"
                             "To: ops@example.com\n"
                             "Subject: s\n"
                             "\n"
                             "b\n";
    static const char *const rcpt[] = {"ops@example.com"};
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out;

    (void)state;
    o.extract_rcpt = true;
    out = rewrite_ok(BYTES(in), &o, &res);
    assert_null(strcasestr(out, "resent-bcc"));
    assert_null(strstr(out, "hidden"));
    assert_null(strstr(out, "boss"));
    assert_null(strstr(out, "shout"));
    assert_non_null(strstr(out, "\r\nResent-To: next@example.org\r\n"));
    assert_non_null(strstr(out, "\r\nResent-From: ops@example.com\r\n"));
    assert_rcpt(&res, rcpt, 1); /* the Resent- fields are not read for recipients */
    free(out);
}

static void test_without_t_recipients_are_the_arguments_and_bcc_still_removed(void **state)
{
    static const char in[] = "To: listed@example.com\nBcc: secret@example.net\n\nb\n";
    static const char *const args[] = {"Alice <alice@example.com>, bob@example.com", "root"};
    static const char *const rcpt[] = {"alice@example.com", "bob@example.com", "ops@example.com",
                                       "987654321@qq.com"};
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out;

    (void)state;
    o.rcpt_args = args;
    o.n_rcpt_args = 2;
    out = rewrite_ok(BYTES(in), &o, &res);
    assert_null(strstr(out, "secret"));
    assert_non_null(strstr(out, "\r\nTo: listed@example.com\r\n"));
    assert_rcpt(&res, rcpt, 4);
    free(out);
}

static void test_t_arguments_come_first_then_to_cc_bcc_without_duplicates(void **state)
{
    static const char in[] = "Cc: b@example.com\nTo: a@example.com, B@EXAMPLE.COM\n"
                             "Bcc: a@Example.Com\n\nx\n";
    static const char *const args[] = {"c@example.com"};
    /* Domains compare without case, local parts exactly (RFC 5321 section 2.4). */
    static const char *const rcpt[] = {"c@example.com", "b@example.com", "a@example.com",
                                       "B@EXAMPLE.COM"};
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out;

    (void)state;
    o.extract_rcpt = true;
    o.rcpt_args = args;
    o.n_rcpt_args = 1;
    out = rewrite_ok(BYTES(in), &o, &res);
    assert_rcpt(&res, rcpt, 4);
    free(out);
}

static void test_t_extraction_reads_names_comments_groups_and_routes(void **state)
{
    static const char in[] =
        "To: \"Doe, John\" <john@example.com>, a@b.example (Comment, with comma),\n"
        "  team: x@example.org, Why <y@example.org>;, undisclosed-recipients:;,\n"
        "  <@relay.example,@other.example:z@example.net>, , (just a comment),\n"
        "  \"quoted \\\"name\\\"\" <q@example.com> (and (nested) comment)\n"
        "Cc: Joe Smith, broken@, \xe7\x94\xa8\xe6\x88\xb7@example.com, ok@example.com\n"
        "\n"
        "x\n";
    static const char *const rcpt[] = {"john@example.com", "a@b.example",   "x@example.org",
                                       "y@example.org",    "z@example.net", "q@example.com",
                                       "ok@example.com"};
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out, *cc;

    (void)state;
    o.extract_rcpt = true;
    out = rewrite_ok(BYTES(in), &o, &res);
    assert_rcpt(&res, rcpt, 7);
    assert_int_equal(res.n_invalid, 3); /* "Joe Smith", "broken@", the 8-bit address */
    assert_string_equal(res.first_invalid, "Joe Smith");
    assert_int_equal(res.n_local, 0);
    /* Cc held unusable addresses: written again with only the usable one. */
    cc = field(out, "Cc");
    assert_string_equal(cc, "ok@example.com");
    free(cc);
    free(out);
}

static void test_local_recipients_are_replaced_by_the_alert_recipients_once(void **state)
{
    static const char in[] = "To: root, root@localhost, www-data@web1\n"
                             "Cc: admin@LOCALHOST.localdomain, ops@example.com\n\nx\n";
    static const char *const rcpt[] = {"ops@example.com", "987654321@qq.com"};
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out, *to, *cc;

    (void)state;
    o.extract_rcpt = true;
    out = rewrite_ok(BYTES(in), &o, &res);
    assert_rcpt(&res, rcpt, 2);
    assert_int_equal(res.n_local, 4);
    to = field(out, "To");
    cc = field(out, "Cc");
    assert_string_equal(to, "ops@example.com, 987654321@qq.com");
    assert_string_equal(cc, "ops@example.com, 987654321@qq.com"); /* no duplicate */
    free(to);
    free(cc);
    free(out);
}

static void test_local_recipients_without_alert_recipients_is_einval(void **state)
{
    static const char in[] = "To: root\n\nx\n";
    struct qn_header_options o = options();
    struct qn_header_result res;

    (void)state;
    o.extract_rcpt = true;
    o.n_alert_rcpt = 0;
    o.alert_rcpt = NULL;
    assert_int_equal(rewrite_status(BYTES(in), &o, &res), QN_EINVAL);
    assert_int_equal(res.n_local, 1);
    assert_int_equal(res.n_rcpt, 0);
}

static void test_no_recipient_is_einval(void **state)
{
    static const char in[] = "To: undisclosed-recipients:;\nSubject: x\n\nx\n";
    static const char *const bad[] = {"not an address"};
    struct qn_header_options o = options();
    struct qn_header_result res;

    (void)state;
    assert_int_equal(rewrite_status(BYTES(in), &o, &res), QN_EINVAL); /* no -t, no argument */
    o.extract_rcpt = true;
    assert_int_equal(rewrite_status(BYTES(in), &o, &res), QN_EINVAL);
    assert_int_equal(res.n_invalid, 0);
    o.rcpt_args = bad;
    o.n_rcpt_args = 1;
    assert_int_equal(rewrite_status(BYTES(in), &o, &res), QN_EINVAL);
    assert_int_equal(res.n_invalid, 1);
    assert_string_equal(res.first_invalid, "not an address");
}

static void test_more_than_the_recipient_bound_is_etoobig(void **state)
{
    struct qn_header_options o = options();
    struct qn_header_result res;
    char in[4096];
    size_t n = 0;

    (void)state;
    o.extract_rcpt = true;
    n += (size_t)snprintf(in + n, sizeof(in) - n, "To: ");
    for (int i = 0; i < QN_HEADER_RCPT_MAX; i++)
        n += (size_t)snprintf(in + n, sizeof(in) - n, "u%d@example.com,\n ", i);
    n += (size_t)snprintf(in + n, sizeof(in) - n, "u0@example.com\n\nx\n");
    assert_int_equal(rewrite_status(in, n, &o, &res), QN_OK); /* exactly the bound */
    n -= strlen("u0@example.com\n\nx\n");
    n += (size_t)snprintf(in + n, sizeof(in) - n, "one-more@example.com\n\nx\n");
    assert_int_equal(rewrite_status(in, n, &o, &res), QN_ETOOBIG);
}

/* ---- 8-bit headers ---- */

static void test_utf8_subject_is_encoded_and_decodes_back(void **state)
{
    static const char in[] = "To: ops@example.com\nSubject: 【告警】web1 磁盘已满\n\nx\n";
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out, *subject, *decoded;

    (void)state;
    o.extract_rcpt = true;
    out = rewrite_ok(BYTES(in), &o, &res);
    assert_non_null(
        strstr(out, "\r\nSubject: =?UTF-8?B?44CQ5ZGK6K2m44CRd2ViMSDno4Hnm5jlt7Lmu6E=?=\r\n"));
    subject = field(out, "Subject");
    decoded = decode_words(subject);
    assert_string_equal(decoded, "【告警】web1 磁盘已满");
    free(decoded);
    free(subject);
    free(out);
}

static void test_gbk_subject_is_decoded_and_encoded_as_utf8(void **state)
{
    /* "磁盘已满" in GBK, as a script in a zh_CN.GBK locale writes it. */
    static const char in[] =
        "To: ops@example.com\nSubject: \xb4\xc5\xc5\xcc\xd2\xd1\xc2\xfa\n\nx\n";
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out, *subject, *decoded;

    (void)state;
    o.extract_rcpt = true;
    out = rewrite_ok(BYTES(in), &o, &res);
    assert_non_null(strstr(out, "\r\nSubject: =?UTF-8?B?56OB55uY5bey5ruh?=\r\n"));
    subject = field(out, "Subject");
    decoded = decode_words(subject);
    assert_string_equal(decoded, "磁盘已满");
    free(decoded);
    free(subject);
    free(out);
}

static void test_long_8bit_subject_is_folded_into_whole_character_words(void **state)
{
    struct qn_header_options o = options();
    struct qn_header_result res;
    char in[4096], text[2048] = "", *out, *subject, *decoded, *head, *line;
    size_t n;

    (void)state;
    o.extract_rcpt = true;
    for (int i = 0; i < 40; i++)
        strcat(text, "服务器告警");
    n = (size_t)snprintf(in, sizeof(in), "To: ops@example.com\nSubject: %s\n\nx\n", text);
    out = rewrite_ok(in, n, &o, &res);
    head = header_block(out);
    for (line = strtok(head, "\r\n"); line != NULL; line = strtok(NULL, "\r\n"))
        assert_true(strlen(line) <= 78);
    subject = field(out, "Subject");
    decoded = decode_words(subject);
    assert_string_equal(decoded, text);
    free(decoded);
    free(subject);
    free(head);
    free(out);
}

static void test_8bit_address_fields_are_written_again_with_encoded_names(void **state)
{
    static const char in[] = "To: 张三 <zs@example.com>, \"Doe, John\" <john@example.com>\n"
                             "Cc: \xc0\xee\xcb\xc4 <ls@example.com>\n" /* 李四 in GBK */
                             "Reply-To: 运维组 <ops-team@example.com>\n"
                             "\n"
                             "x\n";
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out, *to, *cc, *reply;

    (void)state;
    o.extract_rcpt = true;
    out = rewrite_ok(BYTES(in), &o, &res);
    to = field(out, "To");
    cc = field(out, "Cc");
    reply = field(out, "Reply-To");
    assert_string_equal(to, "=?UTF-8?B?5byg5LiJ?= <zs@example.com>, \"Doe, John\" "
                            "<john@example.com>");
    assert_string_equal(cc, "=?UTF-8?B?5p2O5Zub?= <ls@example.com>");
    assert_string_equal(reply, "=?UTF-8?B?6L+Q57u057uE?= <ops-team@example.com>");
    /* an existing, usable Reply-To is the only one */
    assert_non_null(strstr(out, "\r\nReply-To:"));
    assert_null(strstr(strstr(out, "\r\nReply-To:") + 3, "Reply-To:"));
    free(to);
    free(cc);
    free(reply);
    free(out);
}

static void test_encoded_words_in_a_display_name_are_decoded_not_encoded_twice(void **state)
{
    /* The sender's name arrives encoded (UTF-8 and GB2312): the From display name
     * must show the name, not the literal "=?...?=" text. */
    static const char in_utf8[] = "From: =?UTF-8?B?5byg5LiJ?= <zs@example.com>\n"
                                  "To: ops@example.com\n\nx\n";
    static const char in_gb[] = "From: =?GB2312?B?1cXI/Q==?= <zs@example.com>\n"
                                "To: ops@example.com\n\nx\n";
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out, *from, *decoded;

    (void)state;
    o.extract_rcpt = true;
    out = rewrite_ok(BYTES(in_utf8), &o, &res);
    from = field(out, "From");
    decoded = decode_words(from);
    assert_string_equal(decoded, "张三 (zs@example.com) <123456789@qq.com>");
    free(decoded);
    free(from);
    free(out);

    out = rewrite_ok(BYTES(in_gb), &o, &res);
    from = field(out, "From");
    decoded = decode_words(from);
    assert_string_equal(decoded, "张三 (zs@example.com) <123456789@qq.com>");
    free(decoded);
    free(from);
    free(out);
}

/* ---- injection ---- */

static void test_encoded_crlf_in_subject_stays_encoded_and_adds_nothing(void **state)
{
    /* base64 of "x\r\nBcc: evil@example.net": decoding is the reader's business,
     * and no field or recipient may come out of it here. */
    static const char in[] = "To: ops@example.com\n"
                             "Subject: =?UTF-8?B?eA0KQmNjOiBldmlsQGV4YW1wbGUubmV0?=\n\nx\n";
    static const char *const rcpt[] = {"ops@example.com"};
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out;

    (void)state;
    o.extract_rcpt = true;
    out = rewrite_ok(BYTES(in), &o, &res);
    assert_non_null(strstr(out, "\r\nSubject: =?UTF-8?B?eA0KQmNjOiBldmlsQGV4YW1wbGUubmV0?=\r\n"));
    assert_null(strstr(out, "evil@"));
    assert_rcpt(&res, rcpt, 1);
    free(out);
}

static void test_bare_cr_and_nul_in_a_header_cannot_start_a_field(void **state)
{
    static const char in[] = "To: ops@example.com\n"
                             "Subject: hi\rBcc: evil@example.net\n"
                             "X-Note: a\0b\rTo: evil2@example.net\n"
                             "\n"
                             "x\n";
    static const char *const rcpt[] = {"ops@example.com"};
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out, *head;

    (void)state;
    o.extract_rcpt = true;
    out = rewrite_ok(BYTES(in), &o, &res);
    head = header_block(out);
    assert_non_null(strstr(head, "\r\nSubject: hi Bcc: evil@example.net\r\n"));
    assert_non_null(strstr(head, "\r\nX-Note: a b To: evil2@example.net\r\n"));
    assert_null(strstr(head, "\r\nBcc:"));
    assert_rcpt(&res, rcpt, 1);
    free(head);
    free(out);
}

static void test_8bit_subject_with_crlf_in_encoded_word_is_one_line(void **state)
{
    /* Raw 8-bit forces re-encoding; the decoded CR LF must become a space. */
    static const char in[] = "To: ops@example.com\n"
                             "Subject: 告警 =?UTF-8?B?eA0KQmNjOiBldmlsQGV4YW1wbGUubmV0?=\n\nx\n";
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out, *subject, *decoded;

    (void)state;
    o.extract_rcpt = true;
    out = rewrite_ok(BYTES(in), &o, &res);
    subject = field(out, "Subject");
    decoded = decode_words(subject);
    assert_string_equal(decoded, "告警 x Bcc: evil@example.net");
    assert_int_equal(res.n_rcpt, 1);
    free(decoded);
    free(subject);
    free(out);
}

/* ---- folding, odd shapes ---- */

static void test_overlong_header_lines_are_folded(void **state)
{
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *in = malloc(16384), *out, *head, *line, *subject, *want = malloc(8192);
    size_t n = 0, w = 0;

    (void)state;
    assert_non_null(in);
    assert_non_null(want);
    o.extract_rcpt = true;
    n += (size_t)sprintf(in + n, "To: ops@example.com\nSubject:");
    for (int i = 0; i < 300; i++) {
        n += (size_t)sprintf(in + n, " word%d", i);
        w += (size_t)sprintf(want + w, "%sword%d", i ? " " : "", i);
    }
    /* Between 78 and 998: legal, kept as it is. */
    n += (size_t)sprintf(in + n, "\nX-Medium: %0100d\n", 7);
    n += (size_t)sprintf(in + n, "X-Word: ");
    memset(in + n, 'x', 1200);
    n += 1200;
    n += (size_t)sprintf(in + n, "\n\nbody\n");
    out = rewrite_ok(in, n, &o, &res);

    head = header_block(out);
    for (line = strtok(head, "\r\n"); line != NULL; line = strtok(NULL, "\r\n")) {
        if (strncmp(line, "X-Medium:", 9) != 0)
            assert_true(strlen(line) <= 78);
    }
    subject = field(out, "Subject");
    assert_string_equal(subject, want); /* refolded at blanks: unfolding gives it back */
    free(subject);
    assert_non_null(strstr(out, "\r\nX-Medium: 0000000000"));
    /* A 1200-octet word cannot be folded: an unstructured field becomes encoded-words. */
    subject = field(out, "X-Word");
    assert_true(strncmp(subject, "=?UTF-8?B?", 10) == 0);
    line = decode_words(subject);
    assert_int_equal(strlen(line), 1200);
    assert_int_equal(strspn(line, "x"), 1200);
    free(line);
    free(subject);
    free(head);
    free(out);
    free(in);
    free(want);
}

static void test_structured_field_with_an_unfoldable_word_is_etoobig(void **state)
{
    struct qn_header_options o = options();
    struct qn_header_result res;
    char in[2048];
    size_t n;

    (void)state;
    o.extract_rcpt = true;
    n = (size_t)sprintf(in, "To: ops@example.com\nReferences: <");
    memset(in + n, 'r', 1100);
    n += 1100;
    n += (size_t)sprintf(in + n, "@example.com>\n\nx\n");
    assert_int_equal(rewrite_status(in, n, &o, &res), QN_ETOOBIG);
}

static void test_message_without_headers_is_all_body(void **state)
{
    static const char in[] = "hello world: not a field\nsecond line\n";
    static const char in_blank[] = " starts with a blank\nSubject: body too\n";
    static const char *const args[] = {"ops@example.com"};
    static const char want[] =
        DATE_LINE FROM_ACCOUNT_NAME "To: undisclosed-recipients:;\r\n" MSGID_LINE "\r\n"
                                    "hello world: not a field\r\n"
                                    "second line\r\n";
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out;

    (void)state;
    o.rcpt_args = args;
    o.n_rcpt_args = 1;
    out = rewrite_ok(BYTES(in), &o, &res);
    assert_string_equal(out, want);
    free(out);
    out = rewrite_ok(BYTES(in_blank), &o, &res);
    assert_non_null(strstr(out, "\r\n\r\n starts with a blank\r\nSubject: body too\r\n"));
    free(out);
}

static void test_empty_message_gets_the_fields_it_needs(void **state)
{
    static const char *const args[] = {"ops@example.com"};
    static const char want[] =
        DATE_LINE FROM_ACCOUNT_NAME "To: undisclosed-recipients:;\r\n" MSGID_LINE "\r\n";
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out;

    (void)state;
    o.rcpt_args = args;
    o.n_rcpt_args = 1;
    out = rewrite_ok("", 0, &o, &res);
    assert_string_equal(out, want);
    free(out);
}

static void test_block_ends_at_a_line_that_is_not_a_field(void **state)
{
    static const char in[] = "From me@host Mon Nov 13 08:00:00 2023\n" /* mbox separator */
                             "Subject: report\n"
                             "To: ops@example.com\n"
                             "this line is body\n"
                             "Not-A-Header-Anymore: x\n";
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out;

    (void)state;
    o.extract_rcpt = true;
    out = rewrite_ok(BYTES(in), &o, &res);
    assert_null(strstr(out, "me@host"));
    assert_non_null(strstr(out, "\r\nSubject: report\r\nTo: ops@example.com\r\n" MSGID_LINE
                                "\r\nthis line is body\r\nNot-A-Header-Anymore: x\r\n"));
    free(out);
}

static void test_second_single_fields_are_dropped_and_sender_fields_removed(void **state)
{
    static const char in[] = "Subject: first\n"
                             "Subject: second\n"
                             "Date: Mon, 13 Nov 2023 08:00:00 +0000\n"
                             "Date: Sun, 12 Nov 2023 08:00:00 +0000\n"
                             "Sender: someone@example.com\n"
                             "Return-Path: <bounce@example.com>\n"
                             "To: ops@example.com\n"
                             "\n"
                             "x\n";
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out;

    (void)state;
    o.extract_rcpt = true;
    out = rewrite_ok(BYTES(in), &o, &res);
    assert_string_equal(out, FROM_ACCOUNT_NAME "Subject: first\r\n"
                                               "Date: Mon, 13 Nov 2023 08:00:00 +0000\r\n"
                                               "To: ops@example.com\r\n" MSGID_LINE "\r\n"
                                               "x\r\n");
    free(out);
}

/* ---- sender: From, -f, -F ---- */

static char *from_for(const char *in, const char *envelope_from, const char *full_name,
                      char **ret_reply_to)
{
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out, *from;

    o.extract_rcpt = true;
    o.envelope_from = envelope_from;
    o.full_name = full_name;
    out = rewrite_ok(in, strlen(in), &o, &res);
    from = field(out, "From");
    *ret_reply_to = field(out, "Reply-To");
    free(out);
    return from;
}

static void test_sender_from_f_and_F_when_there_is_no_from(void **state)
{
    static const char in[] = "To: ops@example.com\n\nx\n";
    char *from, *reply;

    (void)state;
    from = from_for(in, "root", "Backup Job", &reply);
    assert_string_equal(from, "\"Backup Job (root@web1)\" <123456789@qq.com>");
    assert_null(reply); /* root@web1 cannot be answered */
    free(from);

    from = from_for(in, "<alice@example.com>", NULL, &reply);
    assert_string_equal(from, "\"alice@example.com\" <123456789@qq.com>");
    assert_string_equal(reply, "alice@example.com");
    free(from);
    free(reply);

    from = from_for(in, "<>", NULL, &reply); /* the null sender: nobody */
    assert_string_equal(from, "=?UTF-8?B?5pyN5Yqh5Zmo5ZGK6K2m?= <123456789@qq.com>");
    assert_null(reply);
    free(from);

    from = from_for(in, NULL, "Nightly", &reply);
    assert_string_equal(from, "Nightly <123456789@qq.com>");
    assert_null(reply);
    free(from);
}

static void test_from_field_wins_over_f_and_F(void **state)
{
    static const char in[] = "From: Alice <alice@example.com>\nTo: ops@example.com\n\nx\n";
    char *from, *reply;

    (void)state;
    from = from_for(in, "bob@example.com", "Bob", &reply);
    assert_string_equal(from, "\"Alice (alice@example.com)\" <123456789@qq.com>");
    assert_string_equal(reply, "alice@example.com");
    free(from);
    free(reply);
}

static void test_from_that_is_the_account_keeps_its_name_and_gets_no_reply_to(void **state)
{
    static const char in[] = "From: Ops Bot <123456789@QQ.com>\nTo: ops@example.com\n\nx\n";
    static const char in_bare[] = "From: 123456789@qq.com\nTo: ops@example.com\n\nx\n";
    char *from, *reply;

    (void)state;
    from = from_for(in, NULL, NULL, &reply);
    assert_string_equal(from, "Ops Bot <123456789@qq.com>");
    assert_null(reply);
    free(from);
    from = from_for(in_bare, NULL, NULL, &reply);
    assert_string_equal(from, "=?UTF-8?B?5pyN5Yqh5Zmo5ZGK6K2m?= <123456789@qq.com>");
    assert_null(reply);
    free(from);
}

static void test_existing_reply_to_is_kept_and_not_doubled(void **state)
{
    static const char in[] = "From: alice@example.com\nReply-To: team@example.com\n"
                             "To: ops@example.com\n\nx\n";
    static const char in_local[] = "From: alice@example.com\nReply-To: root\n"
                                   "To: ops@example.com\n\nx\n";
    char *from, *reply;

    (void)state;
    from = from_for(in, NULL, NULL, &reply);
    assert_string_equal(from, "\"alice@example.com\" <123456789@qq.com>");
    assert_string_equal(reply, "team@example.com");
    free(from);
    free(reply);
    /* A Reply-To nobody can answer is replaced by the original sender. */
    from = from_for(in_local, NULL, NULL, &reply);
    assert_string_equal(reply, "alice@example.com");
    free(from);
    free(reply);
}

/* ---- bodies ---- */

static void test_body_in_declared_gbk_keeps_its_bytes_in_base64(void **state)
{
    static const char in[] = "To: ops@example.com\nMIME-Version: 1.0\n"
                             "Content-Type: text/plain; charset=\"GBK\"\n"
                             "Content-Transfer-Encoding: 8bit\n\n"
                             "\xb4\xc5\xc5\xcc\xb8\xe6\xbe\xaf\xa3\xba/var \xd2\xd1\xd3\xc3 95%\n";
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out;

    (void)state;
    o.extract_rcpt = true;
    out = rewrite_ok(BYTES(in), &o, &res);
    assert_non_null(strstr(out, "\r\nContent-Type: text/plain; charset=\"GBK\"\r\n" MSGID_LINE
                                "Content-Transfer-Encoding: base64\r\n\r\n"
                                "tMXFzLjmvq+jui92YXIg0tHTwyA5NSUNCg==\r\n"));
    assert_null(strstr(out, "8bit"));
    free(out);
}

static void test_multipart_and_encoded_bodies_are_passed_through(void **state)
{
    static const char multipart[] = "To: ops@example.com\nMIME-Version: 1.0\n"
                                    "Content-Type: multipart/mixed; boundary=\"b\"\n\n"
                                    "--b\nContent-Type: text/plain; charset=utf-8\n"
                                    "Content-Transfer-Encoding: 8bit\n\n告警\n--b--\n";
    static const char qp[] = "To: ops@example.com\nMIME-Version: 1.0\n"
                             "Content-Type: text/plain; charset=utf-8\n"
                             "Content-Transfer-Encoding: quoted-printable\n\n=E5=91=8A\xff\n";
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out;

    (void)state;
    o.extract_rcpt = true;
    out = rewrite_ok(BYTES(multipart), &o, &res);
    assert_false(res.body_encoded);
    assert_non_null(strstr(out, "boundary=\"b\"\r\n" MSGID_LINE "\r\n--b\r\n"
                                "Content-Type: text/plain; charset=utf-8\r\n"
                                "Content-Transfer-Encoding: 8bit\r\n\r\n告警\r\n--b--\r\n"));
    free(out);
    out = rewrite_ok(BYTES(qp), &o, &res);
    assert_false(res.body_encoded);
    assert_non_null(strstr(out, "quoted-printable\r\n" MSGID_LINE "\r\n=E5=91=8A\xff\r\n"));
    free(out);
}

static void test_ascii_body_with_an_overlong_line_gets_base64(void **state)
{
    struct qn_header_options o = options();
    struct qn_header_result res;
    char in[2048], *out;
    size_t n;

    (void)state;
    o.extract_rcpt = true;
    n = (size_t)sprintf(in, "To: ops@example.com\n\n");
    memset(in + n, 'a', 1000);
    n += 1000;
    in[n++] = '\n';
    out = rewrite_ok(in, n, &o, &res);
    assert_true(res.body_encoded);
    assert_non_null(strstr(out, "Content-Transfer-Encoding: base64\r\n\r\nYWFh"));
    free(out);
}

static void test_damaged_utf8_body_is_repaired(void **state)
{
    /* "告" then a lone continuation byte: mostly UTF-8, so repaired, not read as GBK. */
    static const char in[] = "To: ops@example.com\n\n\xe5\x91\x8a\xe8\xad\xa6\x80\n";
    struct qn_header_options o = options();
    struct qn_header_result res;
    char *out;

    (void)state;
    o.extract_rcpt = true;
    out = rewrite_ok(BYTES(in), &o, &res);
    /* base64 of "告警\xEF\xBF\xBD\r\n" (Python) */
    assert_non_null(strstr(out, "\r\n\r\n5ZGK6K2m77+9DQo=\r\n"));
    free(out);
}

/* ---- bounds and arguments ---- */

static void test_header_bounds_are_enforced(void **state)
{
    struct qn_header_options o = options();
    struct qn_header_result res;
    size_t cap = QN_HEADER_BLOCK_MAX * 2, n;
    char *in = malloc(cap);

    (void)state;
    assert_non_null(in);
    o.extract_rcpt = true;

    /* QN_HEADER_FIELDS_MAX fields pass, one more does not. */
    n = (size_t)sprintf(in, "To: ops@example.com\n");
    for (int i = 1; i < QN_HEADER_FIELDS_MAX; i++)
        n += (size_t)sprintf(in + n, "X-F%d: v\n", i);
    memcpy(in + n, "\nx\n", 3);
    assert_int_equal(rewrite_status(in, n + 3, &o, &res), QN_OK);
    n += (size_t)sprintf(in + n, "X-Last: v\n");
    memcpy(in + n, "\nx\n", 3);
    assert_int_equal(rewrite_status(in, n + 3, &o, &res), QN_ETOOBIG);

    /* A header line over QN_HEADER_LINE_MAX. */
    n = (size_t)sprintf(in, "To: ops@example.com\nX-Big: ");
    memset(in + n, 'a', QN_HEADER_LINE_MAX);
    n += QN_HEADER_LINE_MAX;
    memcpy(in + n, "\n\nx\n", 4);
    assert_int_equal(rewrite_status(in, n + 4, &o, &res), QN_ETOOBIG);

    /* A header block over QN_HEADER_BLOCK_MAX, in lines each within bounds. */
    n = (size_t)sprintf(in, "To: ops@example.com\nX-Many: a");
    while (n < QN_HEADER_BLOCK_MAX + 10)
        n += (size_t)sprintf(in + n, "\n %0100d", 1);
    memcpy(in + n, "\n\nx\n", 4);
    assert_int_equal(rewrite_status(in, n + 4, &o, &res), QN_ETOOBIG);

    /* A body line of any length is not a header line. */
    o.extract_rcpt = false;
    o.rcpt_args = alert;
    o.n_rcpt_args = 1;
    memset(in, 'b', QN_HEADER_LINE_MAX + 100);
    assert_int_equal(rewrite_status(in, QN_HEADER_LINE_MAX + 100, &o, &res), QN_OK);
    free(in);
}

static void test_output_bound_and_bad_options_leave_out_unchanged(void **state)
{
    static const char in[] = "To: ops@example.com\n\nhello\n";
    struct qn_header_options o = options();
    struct qn_header_result res;
    struct qn_buf out;

    (void)state;
    o.extract_rcpt = true;
    qn_buf_init(&out, 64);
    assert_int_equal(qn_buf_puts(&out, "kept"), QN_OK);
    assert_int_equal(qn_header_rewrite(BYTES(in), &o, &out, &res), QN_ETOOBIG);
    assert_string_equal(out.data, "kept");

    out.max = 4096;
    o.account = "not-an-address";
    assert_int_equal(qn_header_rewrite(BYTES(in), &o, &out, &res), QN_EINVAL);
    o = options();
    o.extract_rcpt = true;
    o.message_id = "no-angle@x";
    assert_int_equal(qn_header_rewrite(BYTES(in), &o, &out, &res), QN_EINVAL);
    assert_int_equal(qn_header_rewrite(BYTES(in), NULL, &out, &res), QN_EINVAL);
    assert_string_equal(out.data, "kept");

    o.message_id = NULL; /* a random id on the account's domain */
    assert_int_equal(qn_header_rewrite(BYTES(in), &o, &out, &res), QN_OK);
    {
        const char *id = strstr(out.data, "\r\nMessage-ID: <");

        assert_non_null(id);
        id += strlen("\r\nMessage-ID: <");
        assert_int_equal(strspn(id, "0123456789abcdef"), 32);
        assert_true(strncmp(id + 32, "@qq.com>\r\n", 10) == 0);
    }
    qn_buf_free(&out);
}

/* Hostile inputs built from fragments: every result keeps the wire rules. */
static void test_fragment_soup_always_gives_a_clean_message(void **state)
{
    static const char *const frags[] = {
        "To: ",
        "Cc: ",
        "Bcc: ",
        "From: ",
        "Subject: ",
        "Reply-To: ",
        "X-A: ",
        "\n",
        "\r\n",
        "\r",
        " ",
        "\t",
        "\n ",
        ":",
        ",",
        ";",
        "<",
        ">",
        "\"",
        "(",
        ")",
        "\\",
        "@",
        "root",
        "a@example.com",
        "=?UTF-8?B?5byg5LiJ?=",
        "=?GBK?Q?=D5=C5?=",
        "=?x?B?!!?=",
        "\xb4\xc5",
        "\xe5\x91\x8a",
        "\xff",
        "\0",
        ".",
        "\n.\n",
        "\n\n",
        "Content-Type: text/plain",
        "MIME-Version: 1.0\n",
        "Content-Transfer-Encoding: 8bit\n",
        "undisclosed-recipients:;",
    };
    struct qn_header_options o = options();
    struct qn_header_result res;
    uint32_t seed = 12345;
    char in[900]; /* below 998: no line can be too long to fold */

    (void)state;
    o.extract_rcpt = true;
    o.rcpt_args = alert;
    o.n_rcpt_args = 1;
    for (int round = 0; round < 3000; round++) {
        size_t n = 0, parts;

        seed = seed * 1103515245u + 12345u;
        parts = 1 + (seed >> 16) % 40;
        for (size_t k = 0; k < parts; k++) {
            size_t f, len;

            seed = seed * 1103515245u + 12345u;
            f = (seed >> 16) % (sizeof(frags) / sizeof(frags[0]));
            len = frags[f][0] == '\0' ? 1 : strlen(frags[f]);
            if (n + len > sizeof(in))
                break;
            memcpy(in + n, frags[f], len);
            n += len;
        }
        char *out = rewrite_ok(in, n, &o, &res); /* checks the wire rules */
        char *head = header_block(out);

        for (char *p = head; (p = strcasestr(p, "bcc:")) != NULL; p++)
            assert_false(p == head || p[-1] == '\n'); /* never a Bcc field */
        free(head);
        free(out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cron_message_is_from_the_account_and_its_8bit_body_base64),
        cmocka_unit_test(test_cron_message_labelled_ansi_charset_with_gbk_body_is_decoded),
        cmocka_unit_test(test_mailx_message_keeps_date_and_id_and_gets_base64),
        cmocka_unit_test(test_seven_bit_message_is_kept_except_from_and_line_ends),
        cmocka_unit_test(test_crlf_and_lf_input_give_the_same_output),
        cmocka_unit_test(test_bcc_is_removed_and_its_recipients_kept_with_t),
        cmocka_unit_test(test_resent_bcc_is_removed_like_bcc),
        cmocka_unit_test(test_without_t_recipients_are_the_arguments_and_bcc_still_removed),
        cmocka_unit_test(test_t_arguments_come_first_then_to_cc_bcc_without_duplicates),
        cmocka_unit_test(test_t_extraction_reads_names_comments_groups_and_routes),
        cmocka_unit_test(test_local_recipients_are_replaced_by_the_alert_recipients_once),
        cmocka_unit_test(test_local_recipients_without_alert_recipients_is_einval),
        cmocka_unit_test(test_no_recipient_is_einval),
        cmocka_unit_test(test_more_than_the_recipient_bound_is_etoobig),
        cmocka_unit_test(test_utf8_subject_is_encoded_and_decodes_back),
        cmocka_unit_test(test_gbk_subject_is_decoded_and_encoded_as_utf8),
        cmocka_unit_test(test_long_8bit_subject_is_folded_into_whole_character_words),
        cmocka_unit_test(test_8bit_address_fields_are_written_again_with_encoded_names),
        cmocka_unit_test(test_encoded_words_in_a_display_name_are_decoded_not_encoded_twice),
        cmocka_unit_test(test_encoded_crlf_in_subject_stays_encoded_and_adds_nothing),
        cmocka_unit_test(test_bare_cr_and_nul_in_a_header_cannot_start_a_field),
        cmocka_unit_test(test_8bit_subject_with_crlf_in_encoded_word_is_one_line),
        cmocka_unit_test(test_overlong_header_lines_are_folded),
        cmocka_unit_test(test_structured_field_with_an_unfoldable_word_is_etoobig),
        cmocka_unit_test(test_message_without_headers_is_all_body),
        cmocka_unit_test(test_empty_message_gets_the_fields_it_needs),
        cmocka_unit_test(test_block_ends_at_a_line_that_is_not_a_field),
        cmocka_unit_test(test_second_single_fields_are_dropped_and_sender_fields_removed),
        cmocka_unit_test(test_sender_from_f_and_F_when_there_is_no_from),
        cmocka_unit_test(test_from_field_wins_over_f_and_F),
        cmocka_unit_test(test_from_that_is_the_account_keeps_its_name_and_gets_no_reply_to),
        cmocka_unit_test(test_existing_reply_to_is_kept_and_not_doubled),
        cmocka_unit_test(test_body_in_declared_gbk_keeps_its_bytes_in_base64),
        cmocka_unit_test(test_multipart_and_encoded_bodies_are_passed_through),
        cmocka_unit_test(test_ascii_body_with_an_overlong_line_gets_base64),
        cmocka_unit_test(test_damaged_utf8_body_is_repaired),
        cmocka_unit_test(test_header_bounds_are_enforced),
        cmocka_unit_test(test_output_bound_and_bad_options_leave_out_unchanged),
        cmocka_unit_test(test_fragment_soup_always_gives_a_clean_message),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
