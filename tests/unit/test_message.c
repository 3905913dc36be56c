/*
 * Unit tests for cli/message.c, the reader under sendmail's header
 * rewriting: where the header block ends, field offsets, unfolding, address
 * lists (quotes, comments, groups, routes, empty elements), encoded-words
 * and Content-Type.  tests/unit/test_header.c checks the bytes the
 * rewriter writes from what is read here.  Expected base64 and GBK bytes
 * were computed with Python's base64 module and codecs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "message.h"

#define BYTES(s) (s), (sizeof(s) - 1)

static struct qn_message m; /* large: not on the stack */

static void assert_field(size_t i, const char *name, const char *raw_value)
{
    const struct qn_message_field *f = &m.fields[i];

    assert_true(i < m.n_fields);
    assert_true(qn_message_field_is(&m, f, name));
    assert_int_equal(f->end - f->value, strlen(raw_value));
    assert_memory_equal(m.msg + f->value, raw_value, strlen(raw_value));
}

static void test_block_ends_at_the_empty_line_after_an_mbox_from_line(void **state)
{
    static const char msg[] = "From root Mon Nov 14 22:13:20 2023\n"
                              "Subject: backup\r\n\tdone\r\nTo : a@x\n\nTo: body@x\n";

    (void)state;
    assert_int_equal(qn_message_parse(&m, BYTES(msg)), QN_OK);
    assert_int_equal(m.n_fields, 2);
    assert_field(0, "subject", " backup\r\n\tdone\r\n");
    assert_field(1, "TO", " a@x\n");
    assert_int_equal(m.fields[1].name_len, 2); /* the blank before the colon is not the name */
    assert_false(qn_message_field_is(&m, &m.fields[0], "subjec"));
    assert_string_equal(m.msg + m.body, "To: body@x\n");
    assert_int_equal(m.fields[0].longest, strlen("Subject: backup"));
}

static void test_a_line_that_is_no_field_begins_the_body(void **state)
{
    static const char not_field[] = "Subject: a\nthis is text\nX-Other: b\n";
    static const char continuation_first[] = " folded\nSubject: a\n\nbody";
    static const char no_header[] = "hello\n";

    (void)state;
    assert_int_equal(qn_message_parse(&m, BYTES(not_field)), QN_OK);
    assert_int_equal(m.n_fields, 1);
    assert_string_equal(m.msg + m.body, "this is text\nX-Other: b\n");
    assert_int_equal(qn_message_parse(&m, BYTES(continuation_first)), QN_OK);
    assert_int_equal(m.n_fields, 0);
    assert_int_equal(m.body, 0);
    assert_int_equal(qn_message_parse(&m, BYTES(no_header)), QN_OK);
    assert_int_equal(m.n_fields, 0);
    assert_int_equal(m.body, 0);
}

static void test_field_flags_tell_8bit_and_control_bytes(void **state)
{
    static const char msg[] = "A: plain\r\nB: \xe5\xa4\x87\nC: bare\rcr\nD: nul\0x\n\n";

    (void)state;
    assert_int_equal(qn_message_parse(&m, BYTES(msg)), QN_OK);
    assert_int_equal(m.n_fields, 4);
    assert_false(m.fields[0].eight_bit || m.fields[0].control); /* a CRLF is no control */
    assert_true(m.fields[1].eight_bit && !m.fields[1].control);
    assert_true(m.fields[2].control && !m.fields[2].eight_bit);
    assert_true(m.fields[3].control);
}

static void test_over_a_bound_is_too_big(void **state)
{
    static char msg[QN_MESSAGE_LINE_MAX + 16];

    (void)state;
    memcpy(msg, "Subject: ", 9);
    memset(msg + 9, 'a', QN_MESSAGE_LINE_MAX - 9);
    msg[QN_MESSAGE_LINE_MAX] = '\n';
    assert_int_equal(qn_message_parse(&m, msg, QN_MESSAGE_LINE_MAX + 1), QN_OK);
    msg[QN_MESSAGE_LINE_MAX] = 'a';
    msg[QN_MESSAGE_LINE_MAX + 1] = '\n';
    assert_int_equal(qn_message_parse(&m, msg, QN_MESSAGE_LINE_MAX + 2), QN_ETOOBIG);
}

static void test_unfold_removes_line_ends_and_controls_and_trims(void **state)
{
    static const char msg[] = "Subject:  a\r\n\tb\x01"
                              "c  \r\n\n";
    struct qn_buf out;

    (void)state;
    assert_int_equal(qn_message_parse(&m, BYTES(msg)), QN_OK);
    qn_buf_init(&out, 1024);
    assert_int_equal(qn_buf_puts(&out, "stale"), QN_OK);
    assert_int_equal(qn_message_unfold(&m, &m.fields[0], &out), QN_OK);
    assert_string_equal(out.data, "a\tb c");
    qn_buf_free(&out);
}

struct seen {
    size_t n, fail_at;
    char text[512];
};

static enum qn_status collect(void *arg, const struct qn_message_mailbox *mb)
{
    struct seen *s = arg;
    size_t len = strlen(s->text);

    s->n++;
    snprintf(s->text + len, sizeof(s->text) - len, "[%s|%s%s]", mb->addr, mb->name,
             mb->addr_bad ? "|bad" : "");
    return s->n == s->fail_at ? QN_ENOMEM : QN_OK;
}

static void test_address_list_with_quotes_comments_groups_and_routes(void **state)
{
    static const char list[] = "\"Joe \\\"Q\\\" Public\" <joe@x.org>, (Cron Daemon) root, "
                               "Team: a@y, b@z;, <@r1,@r2:u@h>, , <>, \"Smith, J\" <j@s>, "
                               "Joe Smith, undisclosed-recipients:;";
    struct seen s = {0};

    (void)state;
    assert_int_equal(qn_message_addresses(BYTES(list), collect, &s), QN_OK);
    assert_string_equal(s.text, "[joe@x.org|Joe \"Q\" Public][root|Cron Daemon][a@y|][b@z|]"
                                "[u@h|][j@s|Smith, J][Joe Smith||bad]");
}

static void test_a_failing_callback_stops_the_walk(void **state)
{
    struct seen s = {.fail_at = 2};

    (void)state;
    assert_int_equal(qn_message_addresses(BYTES("a@x, b@x, c@x"), collect, &s), QN_ENOMEM);
    assert_int_equal(s.n, 2);
}

static void test_decode_joins_encoded_words_and_reads_gbk(void **state)
{
    struct qn_buf out;

    (void)state;
    qn_buf_init(&out, 4096);
    /* "备份" in UTF-8 (B), then " done" (Q): the blank between two words is dropped. */
    assert_int_equal(qn_message_decode(BYTES("=?UTF-8?B?5aSH5Lu9?= =?utf-8?q?_done?="), &out),
                     QN_OK);
    assert_string_equal(out.data, "备份 done");
    qn_buf_reset(&out);
    /* "备份" in GBK, labelled GBK, and as raw bytes in the field */
    assert_int_equal(qn_message_decode(BYTES("=?GBK?B?sbi33Q==?= ok \xb1\xb8\xb7\xdd"), &out),
                     QN_OK);
    assert_string_equal(out.data, "备份 ok 备份");
    qn_buf_reset(&out);
    /* A word that cannot be decoded stays as it is. */
    assert_int_equal(qn_message_decode(BYTES("a =?x-unknown?B?QUJD?= b"), &out), QN_OK);
    assert_string_equal(out.data, "a =?x-unknown?B?QUJD?= b");
    qn_buf_reset(&out);
    assert_int_equal(qn_message_decode("", 0, &out), QN_OK);
    assert_string_equal(out.data, "");
    qn_buf_free(&out);
}

static void test_content_type_and_tokens_are_lower_cased(void **state)
{
    char type[QN_MESSAGE_TYPE_MAX + 1], subtype[QN_MESSAGE_TYPE_MAX + 1];
    char charset[QN_MESSAGE_CHARSET_MAX + 1], token[8];

    (void)state;
    qn_message_content_type(BYTES(" Text/Plain; format=flowed; charset=\"GBK\""), type, subtype,
                            charset);
    assert_string_equal(type, "text");
    assert_string_equal(subtype, "plain");
    assert_string_equal(charset, "gbk");
    qn_message_content_type(BYTES("multipart/mixed; boundary=x"), type, subtype, charset);
    assert_string_equal(type, "multipart");
    assert_string_equal(subtype, "mixed");
    assert_string_equal(charset, "");
    assert_int_equal(qn_message_token(BYTES("Base64 ;"), token, sizeof(token)), 6);
    assert_string_equal(token, "base64");
    assert_int_equal(qn_message_token(BYTES("quoted-printable"), token, sizeof(token)), 16);
    assert_string_equal(token, "quoted-"); /* cut to fit, all of it read */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_block_ends_at_the_empty_line_after_an_mbox_from_line),
        cmocka_unit_test(test_a_line_that_is_no_field_begins_the_body),
        cmocka_unit_test(test_field_flags_tell_8bit_and_control_bytes),
        cmocka_unit_test(test_over_a_bound_is_too_big),
        cmocka_unit_test(test_unfold_removes_line_ends_and_controls_and_trims),
        cmocka_unit_test(test_address_list_with_quotes_comments_groups_and_routes),
        cmocka_unit_test(test_a_failing_callback_stops_the_walk),
        cmocka_unit_test(test_decode_joins_encoded_words_and_reads_gbk),
        cmocka_unit_test(test_content_type_and_tokens_are_lower_cased),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
