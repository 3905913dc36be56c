/*
 * Unit tests for common/smtp.c (and common/tls.c through it).
 *
 * Three parts:
 *  - the reply parser (qn_smtp_reply_feed), byte by byte;
 *  - the DATA encoder (qn_smtp_encode_data): exact wire bytes;
 *  - whole sessions against a scripted server (smtp_script.h) forked by
 *    the test on 127.0.0.1 (no DNS, no outside network), with a throw-away
 *    certificate made in memory.  The server records every byte the client
 *    sends, so the tests check the exact dialogue, including what must NOT
 *    be sent (no AUTH without STARTTLS) and what must be ignored (bytes
 *    injected before the STARTTLS handshake).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "diag.h"
#include "smtp.h"
#include "smtp_script.h"
#include "tls.h"

/* ---- reply parser -------------------------------------------------------------------------- */

static enum qn_status feed(struct qn_smtp_reply *reply, const char *line)
{
    return qn_smtp_reply_feed(reply, line, strlen(line));
}

static struct qn_smtp_reply *new_reply(void)
{
    struct qn_smtp_reply *reply = calloc(1, sizeof *reply);

    assert_non_null(reply);
    return reply;
}

static void test_reply_single_line_is_complete(void **state)
{
    struct qn_smtp_reply *reply = new_reply();

    (void)state;
    assert_int_equal(feed(reply, "250 OK"), QN_OK);
    assert_true(reply->complete);
    assert_int_equal(reply->code, 250);
    assert_int_equal(reply->n_lines, 1);
    assert_int_equal(reply->text_len, 2);
    assert_string_equal(reply->text, "OK");
    assert_string_equal(reply->enhanced, "");
    free(reply);
}

static void test_reply_multi_line_joins_text_with_newlines(void **state)
{
    struct qn_smtp_reply *reply = new_reply();

    (void)state;
    assert_int_equal(feed(reply, "250-smtp.qq.com"), QN_OK);
    assert_false(reply->complete);
    assert_int_equal(feed(reply, "250-PIPELINING"), QN_OK);
    assert_false(reply->complete);
    assert_int_equal(feed(reply, "250 8BITMIME"), QN_OK);
    assert_true(reply->complete);
    assert_int_equal(reply->code, 250);
    assert_int_equal(reply->n_lines, 3);
    assert_string_equal(reply->text, "smtp.qq.com\nPIPELINING\n8BITMIME");
    assert_int_equal(reply->text_len, strlen("smtp.qq.com\nPIPELINING\n8BITMIME"));
    free(reply);
}

static void test_reply_enhanced_code_is_taken_from_the_first_line(void **state)
{
    struct qn_smtp_reply *reply = new_reply();

    (void)state;
    assert_int_equal(feed(reply, "535-5.7.8 Username and Password not accepted."), QN_OK);
    assert_int_equal(feed(reply, "535 5.7.8 https://support.example/answer"), QN_OK);
    assert_string_equal(reply->enhanced, "5.7.8");
    /* the text stays raw, code included: diag decodes and shows it */
    assert_string_equal(reply->text, "5.7.8 Username and Password not accepted.\n"
                                     "5.7.8 https://support.example/answer");
    free(reply);
}

static void check_enhanced(const char *line, const char *expected)
{
    struct qn_smtp_reply *reply = new_reply();

    assert_int_equal(feed(reply, line), QN_OK);
    assert_string_equal(reply->enhanced, expected);
    free(reply);
}

static void test_reply_enhanced_code_needs_matching_class_and_shape(void **state)
{
    (void)state;
    check_enhanced("250 2.1.0 Sender OK", "2.1.0");
    check_enhanced("550 5.1.1", "5.1.1");                   /* the code alone */
    check_enhanced("550 5.7.139 Access denied", "5.7.139"); /* three-digit parts */
    check_enhanced("250 5.1.1 class differs", "");
    check_enhanced("250 2.1.0x no space after", "");
    check_enhanced("250 2.1 two parts", "");
    check_enhanced("250 2.1234.0 four digits", "");
    check_enhanced("250 2..0 empty part", "");
    check_enhanced("535 Login Fail. Please enter your authorization code", "");
}

static void test_reply_code_changing_between_lines_is_protocol_error(void **state)
{
    struct qn_smtp_reply *reply = new_reply();

    (void)state;
    assert_int_equal(feed(reply, "250-first"), QN_OK);
    assert_int_equal(feed(reply, "251 second"), QN_EPROTO);
    /* the failed line changed nothing */
    assert_int_equal(reply->n_lines, 1);
    assert_string_equal(reply->text, "first");
    assert_false(reply->complete);
    free(reply);
}

static void test_reply_garbage_lines_are_protocol_errors(void **state)
{
    static const char *const bad[] = {
        "",
        "2",
        "25",
        "abc def",
        "2x0 OK",
        "250+OK",
        "250OK",
        "199 too small",
        "600 too big",
        "099 x",
        " 250 OK",
        "2500 OK",
        "-250 OK",
        "25 0 OK",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct qn_smtp_reply *reply = new_reply();

        if (feed(reply, bad[i]) != QN_EPROTO)
            fail_msg("\"%s\" was not refused as QN_EPROTO", bad[i]);
        assert_int_equal(reply->n_lines, 0);
        assert_int_equal(reply->code, 0);
        free(reply);
    }
}

static void test_reply_code_alone_is_final_with_empty_text(void **state)
{
    struct qn_smtp_reply *reply = new_reply();

    (void)state;
    assert_int_equal(feed(reply, "250"), QN_OK);
    assert_true(reply->complete);
    assert_int_equal(reply->code, 250);
    assert_int_equal(reply->text_len, 0);
    assert_string_equal(reply->text, "");
    free(reply);

    reply = new_reply();
    assert_int_equal(feed(reply, "250-"), QN_OK);
    assert_false(reply->complete);
    assert_int_equal(feed(reply, "250-a"), QN_OK);
    assert_int_equal(feed(reply, "250"), QN_OK);
    assert_true(reply->complete);
    assert_int_equal(reply->text_len, 3);
    assert_memory_equal(reply->text, "\na\n", 4);
    free(reply);
}

static void test_reply_lines_max_lines_fit_one_more_is_too_big(void **state)
{
    struct qn_smtp_reply *reply = new_reply();
    size_t i;

    (void)state;
    for (i = 0; i + 1 < QN_SMTP_REPLY_LINES_MAX; i++)
        assert_int_equal(feed(reply, "250-x"), QN_OK);
    assert_int_equal(feed(reply, "250 x"), QN_OK);
    assert_true(reply->complete);
    assert_int_equal(reply->n_lines, QN_SMTP_REPLY_LINES_MAX);
    free(reply);

    reply = new_reply();
    for (i = 0; i < QN_SMTP_REPLY_LINES_MAX; i++)
        assert_int_equal(feed(reply, "250-x"), QN_OK);
    assert_int_equal(feed(reply, "250 x"), QN_ETOOBIG);
    assert_int_equal(reply->n_lines, QN_SMTP_REPLY_LINES_MAX);
    assert_false(reply->complete);
    free(reply);
}

static void test_reply_line_longer_than_line_max_is_too_big(void **state)
{
    struct qn_smtp_reply *reply = new_reply();
    char line[QN_SMTP_LINE_MAX + 2];

    (void)state;
    memset(line, 'x', sizeof line);
    memcpy(line, "250 ", 4);
    assert_int_equal(qn_smtp_reply_feed(reply, line, QN_SMTP_LINE_MAX + 1), QN_ETOOBIG);
    assert_int_equal(reply->n_lines, 0);
    assert_int_equal(qn_smtp_reply_feed(reply, line, QN_SMTP_LINE_MAX), QN_OK);
    assert_int_equal(reply->text_len, QN_SMTP_LINE_MAX - 4);
    free(reply);
}

static void test_reply_text_beyond_reply_max_is_too_big(void **state)
{
    struct qn_smtp_reply *reply = new_reply();
    char line[QN_SMTP_LINE_MAX];
    size_t i, text = QN_SMTP_LINE_MAX - 4;
    /* lines whose text, '\n' separators and the final NUL fit in QN_SMTP_REPLY_MAX */
    size_t fit = QN_SMTP_REPLY_MAX / (text + 1);

    (void)state;
    memset(line, 'y', sizeof line);
    memcpy(line, "250-", 4);
    for (i = 0; i < fit; i++)
        assert_int_equal(qn_smtp_reply_feed(reply, line, sizeof line), QN_OK);
    assert_int_equal(reply->text_len, fit * text + (fit - 1));
    assert_int_equal(qn_smtp_reply_feed(reply, line, sizeof line), QN_ETOOBIG);
    assert_int_equal(reply->n_lines, fit);
    assert_true(reply->text_len < QN_SMTP_REPLY_MAX);
    assert_int_equal(reply->text[reply->text_len], '\0');
    free(reply);
}

static void test_reply_nul_bytes_in_text_are_kept(void **state)
{
    struct qn_smtp_reply *reply = new_reply();
    static const char line[] = "550 bad\0user";

    (void)state;
    assert_int_equal(qn_smtp_reply_feed(reply, line, sizeof line - 1), QN_OK);
    assert_true(reply->complete);
    assert_int_equal(reply->code, 550);
    assert_int_equal(reply->text_len, 8);
    assert_memory_equal(reply->text, "bad\0user", 9);
    free(reply);
}

static void test_reply_feeding_a_complete_reply_is_refused(void **state)
{
    struct qn_smtp_reply *reply = new_reply();

    (void)state;
    assert_int_equal(feed(reply, "221 bye"), QN_OK);
    assert_int_equal(feed(reply, "250 more"), QN_EINVAL);
    assert_int_equal(reply->n_lines, 1);
    assert_string_equal(reply->text, "bye");
    free(reply);
}

/* ---- DATA encoder -------------------------------------------------------------------------- */

static void check_encoding(const char *in, size_t in_len, const char *expected, size_t expected_len)
{
    struct qn_buf out;

    qn_buf_init(&out, 1 << 20);
    assert_int_equal(qn_smtp_encode_data(in, in_len, &out), QN_OK);
    assert_int_equal(out.len, expected_len);
    assert_memory_equal(out.data, expected, expected_len);
    qn_buf_free(&out);
}

#define ENCODES(in, expected) check_encoding(in, sizeof(in) - 1, expected, sizeof(expected) - 1)

static void test_data_lf_dot_crlf_is_stuffed(void **state)
{
    (void)state;
    ENCODES("\n.\r\n", "\r\n..\r\n.\r\n");
}

static void test_data_cr_dot_crlf_is_stuffed(void **state)
{
    (void)state;
    ENCODES("\r.\r\n", "\r\n..\r\n.\r\n");
}

static void test_data_lf_dot_lf_is_stuffed(void **state)
{
    (void)state;
    ENCODES("\n.\n", "\r\n..\r\n.\r\n");
}

static void test_data_lone_cr_and_lone_lf_become_crlf(void **state)
{
    (void)state;
    ENCODES("a\rb", "a\r\nb\r\n.\r\n");
    ENCODES("a\nb", "a\r\nb\r\n.\r\n");
    ENCODES("a\r\rb\n\nc", "a\r\n\r\nb\r\n\r\nc\r\n.\r\n");
    ENCODES("a\r\r\nb", "a\r\n\r\nb\r\n.\r\n");
    ENCODES("a\n\r\nb", "a\r\n\r\nb\r\n.\r\n");
    ENCODES("a\r", "a\r\n.\r\n");
}

static void test_data_crlf_is_kept_as_is(void **state)
{
    (void)state;
    ENCODES("Subject: x\r\n\r\nbody\r\n", "Subject: x\r\n\r\nbody\r\n.\r\n");
}

static void test_data_leading_dot_at_start_is_stuffed(void **state)
{
    (void)state;
    ENCODES(".hidden\r\n", "..hidden\r\n.\r\n");
    ENCODES(".", "..\r\n.\r\n");
    ENCODES("..\r\n", "...\r\n.\r\n");
}

static void test_data_dot_inside_a_line_is_not_stuffed(void **state)
{
    (void)state;
    ENCODES("a.b\r\n x.\r\n", "a.b\r\n x.\r\n.\r\n");
}

static void test_data_message_without_final_newline_gets_crlf(void **state)
{
    (void)state;
    ENCODES("abc", "abc\r\n.\r\n");
    ENCODES("", ".\r\n");
}

static void test_data_nul_and_8bit_bytes_pass_through(void **state)
{
    (void)state;
    ENCODES("a\0b\xe4\xbd\xa0\n", "a\0b\xe4\xbd\xa0\r\n.\r\n");
}

/* The encoder works in chunks: state must carry across chunk boundaries. */
static void test_data_long_message_is_encoded_across_chunks(void **state)
{
    static const char *const units[] = {".\n", "\r", "x\r\n.", "..\r"};
    struct qn_buf in, expected, out;
    size_t i;

    (void)state;
    qn_buf_init(&in, 1 << 20);
    qn_buf_init(&expected, 1 << 20);
    qn_buf_init(&out, 1 << 20);
    for (i = 0; i < 5000; i++)
        assert_int_equal(qn_buf_puts(&in, units[i % 4]), QN_OK);
    /* per 4 units: ".\n" "\r" "x\r\n." "..\r" → "..\r\n" "\r\n" "x\r\n" "....\r\n":
     * the "." ending unit 3 starts a line, is doubled and joins the ".." of unit 4 */
    for (i = 0; i < 5000 / 4; i++)
        assert_int_equal(qn_buf_puts(&expected, "..\r\n\r\nx\r\n....\r\n"), QN_OK);
    assert_int_equal(qn_buf_puts(&expected, ".\r\n"), QN_OK);
    assert_int_equal(qn_smtp_encode_data(in.data, in.len, &out), QN_OK);
    assert_int_equal(out.len, expected.len);
    assert_memory_equal(out.data, expected.data, expected.len);
    qn_buf_free(&in);
    qn_buf_free(&expected);
    qn_buf_free(&out);
}

static void test_data_output_bound_is_respected(void **state)
{
    struct qn_buf out;

    (void)state;
    qn_buf_init(&out, 8);
    assert_int_equal(qn_smtp_encode_data("abcdefgh", 8, &out), QN_ETOOBIG);
    assert_true(out.len <= 8);
    qn_buf_free(&out);
    assert_int_equal(qn_smtp_encode_data(NULL, 1, &out), QN_EINVAL);
}

static void assert_prefix(const char *s, const char *prefix)
{
    if (strncmp(s, prefix, strlen(prefix)) != 0)
        fail_msg("\"%s\" does not start with \"%s\"", s, prefix);
}

/* ---- client side helpers ------------------------------------------------------------------- */

#define STAGES_MAX 32

struct stage_log {
    enum qn_stage stage[STAGES_MAX];
    char detail[STAGES_MAX][QN_ERROR_DETAIL_MAX * 2];
    size_t n;
};

static void record_stage(void *arg, enum qn_stage stage, const char *detail)
{
    struct stage_log *log = arg;

    if (log->n == STAGES_MAX)
        return;
    log->stage[log->n] = stage;
    snprintf(log->detail[log->n], sizeof log->detail[0], "%s", detail);
    log->n++;
}

static struct qn_smtp_options client_options(const struct server *srv, const struct certs *certs,
                                             enum qn_tls_mode mode, struct stage_log *log)
{
    struct qn_smtp_options opt;

    memset(&opt, 0, sizeof opt);
    opt.host = "127.0.0.1";
    opt.port = srv->port;
    opt.tls = mode;
    opt.timeout_s = 5;
    opt.helo_name = "client.example";
    opt.tls_opts.verify = true;
    opt.tls_opts.ca_file = certs->good_file;
    opt.on_stage = log != NULL ? record_stage : NULL;
    opt.stage_arg = log;
    return opt;
}

/* ---- sessions ------------------------------------------------------------------------------ */

static void test_implicit_tls_session_sends_exact_dialogue(void **state)
{
    static const char *const script[] = {
        "T",
        ">220 test.example ESMTP ready\r\n",
        "<",
        ">250-test.example hello\r\n250-SIZE 100000\r\n250-8BITMIME\r\n250 AUTH LOGIN PLAIN\r\n",
        "<",
        ">235 2.7.0 Authentication successful\r\n",
        "<",
        ">250 2.1.0 Sender OK\r\n",
        "<",
        ">250 2.1.5 Recipient OK\r\n",
        "<",
        ">250 2.1.5 Recipient OK\r\n",
        "<",
        ">354 End data with <CR><LF>.<CR><LF>\r\n",
        "D",
        ">250 2.0.0 Ok: queued as 42\r\n",
        "<",
        ">221 2.0.0 Bye\r\n",
        "E",
        NULL,
    };
    static const char *const rcpt[] = {"b@y.example", "c@z.example"};
    static const char msg[] = "Subject: t\n\n.hi\n";
    static const enum qn_stage stages[] = {
        QN_STAGE_RESOLVE, QN_STAGE_CONNECT, QN_STAGE_TLS,  QN_STAGE_GREETING, QN_STAGE_EHLO,
        QN_STAGE_AUTH,    QN_STAGE_MAIL,    QN_STAGE_RCPT, QN_STAGE_DATA,     QN_STAGE_QUIT,
    };
    struct certs *certs = *state;
    struct stage_log log = {.n = 0};
    struct server srv;
    struct qn_smtp_options opt;
    struct qn_smtp *s = NULL;
    struct qn_error err;
    char expected[64];
    size_t i;

    server_start(&srv, script, certs, NULL);
    opt = client_options(&srv, certs, QN_TLS_IMPLICIT, &log);
    assert_int_equal(qn_smtp_open(&s, &opt, &err), QN_OK);
    assert_string_equal(qn_smtp_extensions(s), "SIZE 8BITMIME AUTH");
    assert_int_equal(qn_smtp_auth(s, "a@x.example", "s3cret", 6, &err), QN_OK);
    assert_int_equal(qn_smtp_send(s, "a@x.example", rcpt, 2, msg, sizeof msg - 1, &err), QN_OK);
    assert_int_equal(qn_smtp_quit(s, &err), QN_OK);
    s = qn_smtp_close(s);
    assert_null(s);

    /* PLAIN preferred over LOGIN; SIZE is the CRLF size of the message (19) */
    assert_transcript(&srv,
                      "EHLO client.example\r\n"
                      "AUTH PLAIN AGFAeC5leGFtcGxlAHMzY3JldA==\r\n"
                      "MAIL FROM:<a@x.example> SIZE=19\r\n"
                      "RCPT TO:<b@y.example>\r\n"
                      "RCPT TO:<c@z.example>\r\n"
                      "DATA\r\n"
                      "Subject: t\r\n\r\n..hi\r\n.\r\n"
                      "QUIT\r\n",
                      true);

    assert_int_equal(log.n, sizeof stages / sizeof stages[0]);
    for (i = 0; i < log.n; i++)
        assert_int_equal(log.stage[i], stages[i]);
    assert_string_equal(log.detail[0], "127.0.0.1 \xe2\x86\x92 1 address: 127.0.0.1");
    snprintf(expected, sizeof expected, "connected to 127.0.0.1 port %u", srv.port);
    assert_string_equal(log.detail[1], expected);
    assert_non_null(strstr(log.detail[2], "certificate CN=qqnotify-test issued by "
                                          "CN=qqnotify-test"));
    assert_non_null(strstr(log.detail[2], ", verified"));
    assert_string_equal(log.detail[3], "220 test.example ESMTP ready");
    assert_string_equal(log.detail[5], "AUTH PLAIN accepted");
    assert_string_equal(log.detail[8], "message accepted: 250 2.0.0 Ok: queued as 42");
}

static void test_auth_login_is_used_when_plain_is_not_offered_and_535_is_eauth(void **state)
{
    static const char *const script[] = {
        "T", ">220 test.example ESMTP\r\n",
        "<", ">250-test.example\r\n250-AUTH=LOGIN\r\n250 AUTH LOGIN XOAUTH2\r\n",
        "<", ">334 VXNlcm5hbWU6\r\n",
        "<", ">334 UGFzc3dvcmQ6\r\n",
        "<", ">535 Login Fail. Please enter your authorization code to login\r\n",
        "E", NULL,
    };
    struct certs *certs = *state;
    struct server srv;
    struct qn_smtp_options opt;
    struct qn_smtp *s = NULL;
    struct qn_error err;

    server_start(&srv, script, certs, NULL);
    opt = client_options(&srv, certs, QN_TLS_IMPLICIT, NULL);
    assert_int_equal(qn_smtp_open(&s, &opt, &err), QN_OK);
    assert_string_equal(qn_smtp_extensions(s), "AUTH");
    assert_int_equal(qn_smtp_auth(s, "a@x.example", "s3cret", 6, &err), QN_EAUTH);
    assert_int_equal(err.status, QN_EAUTH);
    assert_int_equal(err.stage, QN_STAGE_AUTH);
    assert_int_equal(err.smtp_code, 535);
    assert_null(strstr(err.server_text, "s3cret"));
    assert_null(strstr(err.detail, "s3cret"));
    qn_smtp_close(s);
    assert_transcript(&srv,
                      "EHLO client.example\r\n"
                      "AUTH LOGIN\r\n"
                      "YUB4LmV4YW1wbGU=\r\n"
                      "czNjcmV0\r\n",
                      true);
}

/* A refusal that quotes AUTH PLAIN's argument minus its last 4 characters, and
 * pieces of the code in another case, shows none of them; nor does a malformed line. */
static void test_a_refusal_quoting_the_credentials_in_part_shows_none_of_them(void **state)
{
    static const char *const plain_script[] = {
        "T",
        ">220 test.example ESMTP\r\n",
        "<",
        ">250-test.example\r\n250 AUTH PLAIN\r\n",
        "<",
        ">535-5.7.8 Authentication failed for AUTH PLAIN "
        "AGFAeC5leGFtcGxlAGt6N1FwMnZXOXhMbTRSdDhZ\r\n"
        "535 5.7.8 (your code starts KZ7QP2VW9, ends ...4Rt8Yb)\r\n",
        "E",
        NULL,
    };
    static const char *const login_script[] = {
        "T", ">220 test.example ESMTP\r\n",
        "<", ">250-test.example\r\n250 AUTH LOGIN\r\n",
        "<", ">334 VXNlcm5hbWU6\r\n",
        "<", ">334 UGFzc3dvcmQ6\r\n",
        "<", ">53X you sent a3o3UXAydlc5eExtNFJ0OFli\r\n",
        "E", NULL,
    };
    static const char code[] = "kz7Qp2vW9xLm4Rt8Yb";
    struct certs *certs = *state;
    struct server srv;
    struct qn_smtp_options opt;
    struct qn_smtp *s = NULL;
    struct qn_error err;

    server_start(&srv, plain_script, certs, NULL);
    opt = client_options(&srv, certs, QN_TLS_IMPLICIT, NULL);
    assert_int_equal(qn_smtp_open(&s, &opt, &err), QN_OK);
    assert_int_equal(qn_smtp_auth(s, "a@x.example", code, strlen(code), &err), QN_EAUTH);
    assert_int_equal(err.smtp_code, 535);
    assert_string_equal(err.server_text,
                        "Authentication failed for AUTH PLAIN "
                        "**************************************** / (your code starts "
                        "*********, ends ...******)");
    qn_smtp_close(s);
    assert_transcript(&srv,
                      "EHLO client.example\r\n"
                      "AUTH PLAIN AGFAeC5leGFtcGxlAGt6N1FwMnZXOXhMbTRSdDhZYg==\r\n",
                      true);

    server_start(&srv, login_script, certs, NULL);
    opt = client_options(&srv, certs, QN_TLS_IMPLICIT, NULL);
    assert_int_equal(qn_smtp_open(&s, &opt, &err), QN_OK);
    assert_int_equal(qn_smtp_auth(s, "a@x.example", code, strlen(code), &err), QN_EPROTO);
    assert_string_equal(err.detail, "malformed reply line: \"53X you sent "
                                    "************************\"");
    qn_smtp_close(s);
    assert_transcript(&srv,
                      "EHLO client.example\r\nAUTH LOGIN\r\nYUB4LmV4YW1wbGU=\r\n"
                      "a3o3UXAydlc5eExtNFJ0OFli\r\n",
                      false); /* out of step: the client drops the connection, no TLS close */
}

static void test_refused_recipient_resets_and_session_stays_usable(void **state)
{
    static const char *const script[] = {
        "T", ">220 test.example ESMTP\r\n",
        "<", ">250-test.example\r\n250 PIPELINING\r\n",
        "<", ">250 OK\r\n",
        "<", ">550 5.1.1 Mailbox not found\r\n",
        "<", ">250 OK\r\n",
        "<", ">250 OK\r\n",
        "<", ">250 OK\r\n",
        "<", ">354 go\r\n",
        "D", ">250 OK\r\n",
        "E", NULL,
    };
    static const char *const bad[] = {"nobody@y.example"};
    static const char *const good[] = {"b@y.example"};
    struct certs *certs = *state;
    struct server srv;
    struct qn_smtp_options opt;
    struct qn_smtp *s = NULL;
    struct qn_error err;

    server_start(&srv, script, certs, NULL);
    opt = client_options(&srv, certs, QN_TLS_IMPLICIT, NULL);
    assert_int_equal(qn_smtp_open(&s, &opt, &err), QN_OK);
    assert_int_equal(qn_smtp_send(s, "a@x.example", bad, 1, "x", 1, &err), QN_EREJECT);
    assert_int_equal(err.stage, QN_STAGE_RCPT);
    assert_int_equal(err.smtp_code, 550);
    assert_string_equal(err.enhanced, "5.1.1");
    assert_int_equal(qn_smtp_send(s, "a@x.example", good, 1, "x", 1, &err), QN_OK);
    qn_smtp_close(s);
    assert_transcript(&srv,
                      "EHLO client.example\r\n"
                      "MAIL FROM:<a@x.example>\r\n"
                      "RCPT TO:<nobody@y.example>\r\n"
                      "RSET\r\n"
                      "MAIL FROM:<a@x.example>\r\n"
                      "RCPT TO:<b@y.example>\r\n"
                      "DATA\r\n"
                      "x\r\n.\r\n",
                      true);
}

/*
 * The server goes away after the greeting.  The client's EHLO makes the
 * server's kernel answer with a reset; OpenSSL then meets the end of the
 * stream and writes an alert to the reset socket, which raises SIGPIPE
 * unless the write uses MSG_NOSIGNAL.  The test process keeps the default
 * SIGPIPE action, so it would die here.
 */
static void test_server_vanishing_after_greeting_is_eof_without_sigpipe(void **state)
{
    static const char *const script[] = {"T", ">220 test.example ESMTP\r\n", NULL};
    struct certs *certs = *state;
    struct server srv;
    struct qn_smtp_options opt;
    struct qn_smtp *s = NULL;
    struct qn_error err;
    void (*previous)(int) = signal(SIGPIPE, SIG_DFL);
    int i, status;

    /* a few rounds: whether the reset arrives before the alert is up to the kernel */
    for (i = 0; i < 5; i++) {
        server_start(&srv, script, certs, NULL);
        opt = client_options(&srv, certs, QN_TLS_IMPLICIT, NULL);
        assert_int_equal(qn_smtp_open(&s, &opt, &err), QN_EEOF);
        assert_null(s);
        assert_int_equal(err.stage, QN_STAGE_EHLO);
        free(server_finish(&srv, &status));
    }
    signal(SIGPIPE, previous);
}

/* A connection lost during DATA is QN_EEOF, and the session refuses further use. */
static void test_server_vanishing_during_data_is_eof_and_ends_the_session(void **state)
{
    static const char *const script[] = {
        "T",  ">220 test.example ESMTP\r\n",
        "<",  ">250 test.example\r\n",
        "<",  ">250 OK\r\n",
        "<",  ">250 OK\r\n",
        "<",  ">354 go\r\n",
        NULL, /* then exit: the kernel closes (and, with unread data, resets) the connection */
    };
    static const char *const rcpt[] = {"b@y.example"};
    struct certs *certs = *state;
    struct server srv;
    struct qn_smtp_options opt;
    struct qn_smtp *s = NULL;
    struct qn_error err;
    size_t len = 4u << 20;
    char *msg = malloc(len);
    void (*previous)(int) = signal(SIGPIPE, SIG_DFL);
    int status;

    assert_non_null(msg);
    memset(msg, 'a', len);
    server_start(&srv, script, certs, NULL);
    opt = client_options(&srv, certs, QN_TLS_IMPLICIT, NULL);
    assert_int_equal(qn_smtp_open(&s, &opt, &err), QN_OK);
    assert_int_equal(qn_smtp_send(s, "a@x.example", rcpt, 1, msg, len, &err), QN_EEOF);
    assert_int_equal(err.stage, QN_STAGE_DATA);
    /* the session is dead: later calls are refused without touching the socket */
    assert_int_equal(qn_smtp_quit(s, &err), QN_EINVAL);
    qn_smtp_close(s);
    free(server_finish(&srv, &status));
    free(msg);
    signal(SIGPIPE, previous);
}

static void test_addresses_that_could_inject_commands_are_refused(void **state)
{
    static const char *const script[] = {
        "T", ">220 test.example ESMTP\r\n", "<", ">250 test.example\r\n", "E", NULL,
    };
    static const char *const injected[] = {"b@y.example>\r\nRCPT TO:<evil@z.example"};
    static const char *const spaced[] = {"b@y.example SIZE=1"};
    struct certs *certs = *state;
    struct server srv;
    struct qn_smtp_options opt;
    struct qn_smtp *s = NULL;
    struct qn_error err;

    server_start(&srv, script, certs, NULL);
    opt = client_options(&srv, certs, QN_TLS_IMPLICIT, NULL);
    assert_int_equal(qn_smtp_open(&s, &opt, &err), QN_OK);
    assert_int_equal(qn_smtp_send(s, "a@x.example", injected, 1, "x", 1, &err), QN_EINVAL);
    assert_int_equal(err.stage, QN_STAGE_RCPT);
    assert_int_equal(qn_smtp_send(s, "a@x.example", spaced, 1, "x", 1, &err), QN_EINVAL);
    assert_int_equal(qn_smtp_probe_sender(s, "a@x.example>\r\nDATA", &err), QN_EINVAL);
    assert_int_equal(err.stage, QN_STAGE_MAIL);
    qn_smtp_close(s);
    assert_transcript(&srv, "EHLO client.example\r\n", true);
}

static void test_starttls_discards_bytes_injected_before_the_handshake(void **state)
{
    static const char *const script[] = {
        ">220 test.example ESMTP\r\n",
        "<",
        ">250-test.example\r\n250 STARTTLS\r\n",
        "<",
        /* a man in the middle appends a forged answer to the coming EHLO */
        ">220 Ready to start TLS\r\n250-evil.example\r\n250 INJECTED\r\n",
        "T",
        "<",
        ">250-test.example\r\n250 8BITMIME\r\n",
        "<",
        ">221 Bye\r\n",
        "E",
        NULL,
    };
    static const enum qn_stage stages[] = {
        QN_STAGE_RESOLVE,  QN_STAGE_CONNECT, QN_STAGE_GREETING, QN_STAGE_EHLO,
        QN_STAGE_STARTTLS, QN_STAGE_TLS,     QN_STAGE_EHLO,     QN_STAGE_QUIT,
    };
    struct certs *certs = *state;
    struct stage_log log = {.n = 0};
    struct server srv;
    struct qn_smtp_options opt;
    struct qn_smtp *s = NULL;
    struct qn_error err;
    size_t i;

    server_start(&srv, script, certs, NULL);
    opt = client_options(&srv, certs, QN_TLS_STARTTLS, &log);
    assert_int_equal(qn_smtp_open(&s, &opt, &err), QN_OK);
    assert_string_equal(qn_smtp_extensions(s), "8BITMIME");
    assert_int_equal(qn_smtp_quit(s, &err), QN_OK);
    qn_smtp_close(s);
    assert_transcript(&srv,
                      "EHLO client.example\r\n"
                      "STARTTLS\r\n"
                      "EHLO client.example\r\n"
                      "QUIT\r\n",
                      true);
    assert_int_equal(log.n, sizeof stages / sizeof stages[0]);
    for (i = 0; i < log.n; i++)
        assert_int_equal(log.stage[i], stages[i]);
    assert_string_equal(log.detail[4], "server ready for TLS; discarded 32 bytes received before "
                                       "the handshake");
}

static void test_starttls_not_offered_stops_before_auth(void **state)
{
    static const char *const script[] = {
        ">220 test.example ESMTP\r\n",
        "<",
        ">250-test.example\r\n250 AUTH PLAIN LOGIN\r\n",
        "E",
        NULL,
    };
    struct certs *certs = *state;
    struct server srv;
    struct qn_smtp_options opt;
    struct qn_smtp *s = NULL;
    struct qn_error err;

    server_start(&srv, script, certs, NULL);
    opt = client_options(&srv, certs, QN_TLS_STARTTLS, NULL);
    assert_int_equal(qn_smtp_open(&s, &opt, &err), QN_ESTARTTLS);
    assert_null(s);
    assert_int_equal(err.status, QN_ESTARTTLS);
    assert_int_equal(err.stage, QN_STAGE_STARTTLS);
    /* nothing after EHLO: certainly no AUTH in clear */
    assert_transcript(&srv, "EHLO client.example\r\n", true);
}

static void test_starttls_refused_keeps_the_reply(void **state)
{
    static const char *const script[] = {
        ">220 test.example ESMTP\r\n",
        "<",
        ">250-test.example\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n",
        "<",
        ">454 4.7.0 TLS not available due to temporary reason\r\n",
        "E",
        NULL,
    };
    struct certs *certs = *state;
    struct server srv;
    struct qn_smtp_options opt;
    struct qn_smtp *s = NULL;
    struct qn_error err;

    server_start(&srv, script, certs, NULL);
    opt = client_options(&srv, certs, QN_TLS_STARTTLS, NULL);
    assert_int_equal(qn_smtp_open(&s, &opt, &err), QN_ESTARTTLS);
    assert_null(s);
    assert_int_equal(err.stage, QN_STAGE_STARTTLS);
    assert_int_equal(err.smtp_code, 454);
    assert_string_equal(err.enhanced, "4.7.0");
    assert_transcript(&srv, "EHLO client.example\r\nSTARTTLS\r\n", true);
}

static void test_greeting_other_than_220_is_the_servers_refusal(void **state)
{
    static const char *const script[] = {
        ">554 5.7.1 No SMTP service here\r\n",
        "E",
        NULL,
    };
    struct certs *certs = *state;
    struct server srv;
    struct qn_smtp_options opt;
    struct qn_smtp *s = NULL;
    struct qn_error err;

    server_start(&srv, script, certs, NULL);
    opt = client_options(&srv, certs, QN_TLS_STARTTLS, NULL);
    assert_int_equal(qn_smtp_open(&s, &opt, &err), QN_EREJECT);
    assert_int_equal(err.stage, QN_STAGE_GREETING);
    assert_int_equal(err.smtp_code, 554);
    assert_transcript(&srv, "", true);
}

static void test_silent_server_times_out_at_greeting(void **state)
{
    static const char *const script[] = {"E", NULL};
    struct certs *certs = *state;
    struct server srv;
    struct qn_smtp_options opt;
    struct qn_smtp *s = NULL;
    struct qn_error err;
    long long start;

    server_start(&srv, script, certs, NULL);
    opt = client_options(&srv, certs, QN_TLS_STARTTLS, NULL);
    opt.timeout_s = 1;
    start = qn_now_ms();
    assert_int_equal(qn_smtp_open(&s, &opt, &err), QN_ETIMEOUT);
    assert_true(qn_now_ms() - start >= 1000);
    assert_int_equal(err.stage, QN_STAGE_GREETING);
    assert_string_equal(err.detail, "no reply from the server within 1 s");
    assert_transcript(&srv, "", true);
}

static void test_server_closing_before_greeting_is_eof(void **state)
{
    static const char *const script[] = {NULL};
    struct certs *certs = *state;
    struct server srv;
    struct qn_smtp_options opt;
    struct qn_smtp *s = NULL;
    struct qn_error err;

    server_start(&srv, script, certs, NULL);
    opt = client_options(&srv, certs, QN_TLS_STARTTLS, NULL);
    assert_int_equal(qn_smtp_open(&s, &opt, &err), QN_EEOF);
    assert_int_equal(err.stage, QN_STAGE_GREETING);
    assert_transcript(&srv, "", true);

    /* the same at the TLS handshake of implicit TLS */
    server_start(&srv, script, certs, NULL);
    opt = client_options(&srv, certs, QN_TLS_IMPLICIT, NULL);
    assert_int_equal(qn_smtp_open(&s, &opt, &err), QN_EEOF);
    assert_int_equal(err.stage, QN_STAGE_TLS);
    assert_transcript(&srv, "", true);
}

static void test_endless_reply_line_is_cut_off(void **state)
{
    static char line[3 * QN_SMTP_LINE_MAX];
    static const char *const script[] = {line, "E", NULL};
    struct certs *certs = *state;
    struct server srv;
    struct qn_smtp_options opt;
    struct qn_smtp *s = NULL;
    struct qn_error err;

    line[0] = '>';
    memset(line + 1, 'x', sizeof line - 2);
    line[sizeof line - 1] = '\0';
    server_start(&srv, script, certs, NULL);
    opt = client_options(&srv, certs, QN_TLS_STARTTLS, NULL);
    assert_int_equal(qn_smtp_open(&s, &opt, &err), QN_ETOOBIG);
    assert_int_equal(err.stage, QN_STAGE_GREETING);
    /* the client closes with unread input, which resets the connection: the
     * server's last read may fail, so its exit status is not checked */
    assert_transcript(&srv, "", false);
}

static void test_malformed_reply_is_protocol_error(void **state)
{
    static const char *const script[] = {">HTTP/1.1 400 Bad Request\r\n", "E", NULL};
    struct certs *certs = *state;
    struct server srv;
    struct qn_smtp_options opt;
    struct qn_smtp *s = NULL;
    struct qn_error err;

    server_start(&srv, script, certs, NULL);
    opt = client_options(&srv, certs, QN_TLS_STARTTLS, NULL);
    assert_int_equal(qn_smtp_open(&s, &opt, &err), QN_EPROTO);
    assert_int_equal(err.stage, QN_STAGE_GREETING);
    assert_string_equal(err.detail, "malformed reply line: \"HTTP/1.1 400 Bad Request\"");
    assert_transcript(&srv, "", true);
}

static void test_connection_refused_names_address_and_errno(void **state)
{
    struct certs *certs = *state;
    struct server srv = {.pid = 0, .port = closed_port(), .transcript_fd = -1};
    struct qn_smtp_options opt;
    struct qn_smtp *s = NULL;
    struct qn_error err;
    char expected[QN_ERROR_DETAIL_MAX];

    opt = client_options(&srv, certs, QN_TLS_IMPLICIT, NULL);
    assert_int_equal(qn_smtp_open(&s, &opt, &err), QN_ECONNECT);
    assert_null(s);
    assert_int_equal(err.stage, QN_STAGE_CONNECT);
    assert_int_equal(err.sys_errno, ECONNREFUSED);
    snprintf(expected, sizeof expected, "connect to 127.0.0.1:%u: %s", srv.port,
             strerror(ECONNREFUSED));
    assert_string_equal(err.detail, expected);
}

static void test_invalid_options_are_refused_before_any_io(void **state)
{
    struct certs *certs = *state;
    struct server srv = {.pid = 0, .port = 25, .transcript_fd = -1};
    struct qn_smtp_options opt = client_options(&srv, certs, QN_TLS_IMPLICIT, NULL);
    struct qn_smtp *s = NULL;
    struct qn_error err;

    opt.port = 0;
    assert_int_equal(qn_smtp_open(&s, &opt, &err), QN_EINVAL);
    assert_int_equal(err.stage, QN_STAGE_CONFIG);
    opt.port = 70000;
    assert_int_equal(qn_smtp_open(&s, &opt, &err), QN_EINVAL);
    opt.port = 25;
    opt.host = "";
    assert_int_equal(qn_smtp_open(&s, &opt, &err), QN_EINVAL);
    opt.host = "127.0.0.1";
    opt.tls = (enum qn_tls_mode)7;
    assert_int_equal(qn_smtp_open(&s, &opt, &err), QN_EINVAL);
    assert_null(s);
    opt.tls = QN_TLS_IMPLICIT;
    opt.tls_opts.ca_file = "/nonexistent/qqnotify-ca.pem";
    assert_int_equal(qn_smtp_open(&s, &opt, &err), QN_ETLS);
    assert_int_equal(err.stage, QN_STAGE_TLS);
    assert_non_null(strstr(err.detail, "/nonexistent/qqnotify-ca.pem"));
    assert_null(s);
}

/* ---- certificate failures ------------------------------------------------------------------ */

static void open_expecting_tls_failure(struct certs *certs, X509 *server_cert, const char *ca_file,
                                       const unsigned char *pin, struct qn_error *err)
{
    static const char *const script[] = {"T", ">220 test.example ESMTP\r\n", "E", NULL};
    struct server srv;
    struct qn_smtp_options opt;
    struct qn_smtp *s = NULL;
    int status;

    server_start(&srv, script, certs, server_cert);
    opt = client_options(&srv, certs, QN_TLS_IMPLICIT, NULL);
    opt.tls_opts.ca_file = ca_file;
    opt.tls_opts.pin_sha256 = pin;
    assert_int_equal(qn_smtp_open(&s, &opt, err), QN_ETLS);
    assert_null(s);
    assert_int_equal(err->stage, QN_STAGE_TLS);
    free(server_finish(&srv, &status));
}

static void test_certificate_for_another_name_is_named_in_the_error(void **state)
{
    struct certs *certs = *state;
    struct qn_error err;

    open_expecting_tls_failure(certs, certs->other, certs->other_file, NULL, &err);
    assert_prefix(err.detail, "certificate verify failed: IP address mismatch "
                              "(certificate CN=other.example issued by CN=other.example, "
                              "valid until 20");
}

static void test_untrusted_certificate_is_named_in_the_error(void **state)
{
    struct certs *certs = *state;
    struct qn_error err;

    /* the server shows the good certificate, the client trusts only the other one */
    open_expecting_tls_failure(certs, NULL, certs->other_file, NULL, &err);
    assert_prefix(err.detail, "certificate verify failed: self");
    assert_non_null(strstr(err.detail, "(certificate CN=qqnotify-test issued by "
                                       "CN=qqnotify-test, valid until "));
}

/* Expiry (or a wrong local clock) is named, with the date, so the fix is obvious. */
static void test_expired_certificate_is_named_with_its_date(void **state)
{
    struct certs *certs = *state;
    struct qn_error err;
    char until[16];
    time_t yesterday = time(NULL) - 86400;
    struct tm tm;

    assert_non_null(gmtime_r(&yesterday, &tm));
    assert_true(strftime(until, sizeof until, "%Y-%m-%d", &tm) > 0);
    open_expecting_tls_failure(certs, certs->expired, certs->expired_file, NULL, &err);
    assert_prefix(err.detail, "certificate verify failed: certificate has expired "
                              "(certificate CN=expired.example issued by CN=expired.example, "
                              "valid until ");
    assert_non_null(strstr(err.detail, until));
}

static void test_certificate_pin_must_match_on_top_of_verification(void **state)
{
    static const char *const script[] = {
        "T", ">220 test.example ESMTP\r\n", "<", ">250 test.example\r\n", "E", NULL,
    };
    struct certs *certs = *state;
    unsigned char pin[32], wrong[32];
    unsigned int len = 0;
    struct server srv;
    struct qn_smtp_options opt;
    struct qn_smtp *s = NULL;
    struct qn_error err;

    assert_int_equal(X509_digest(certs->good, EVP_sha256(), pin, &len), 1);
    assert_int_equal(len, 32);
    memcpy(wrong, pin, sizeof wrong);
    wrong[31] ^= 1;
    open_expecting_tls_failure(certs, NULL, certs->good_file, wrong, &err);
    assert_prefix(err.detail, "certificate pin mismatch: the server's certificate has SHA-256 ");
    assert_int_equal(strlen(err.detail), strlen("certificate pin mismatch: the server's "
                                                "certificate has SHA-256 ") +
                                             32 * 3 - 1);

    server_start(&srv, script, certs, NULL);
    opt = client_options(&srv, certs, QN_TLS_IMPLICIT, NULL);
    opt.tls_opts.pin_sha256 = pin;
    assert_int_equal(qn_smtp_open(&s, &opt, &err), QN_OK);
    qn_smtp_close(s);
    assert_transcript(&srv, "EHLO client.example\r\n", true);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_reply_single_line_is_complete),
        cmocka_unit_test(test_reply_multi_line_joins_text_with_newlines),
        cmocka_unit_test(test_reply_enhanced_code_is_taken_from_the_first_line),
        cmocka_unit_test(test_reply_enhanced_code_needs_matching_class_and_shape),
        cmocka_unit_test(test_reply_code_changing_between_lines_is_protocol_error),
        cmocka_unit_test(test_reply_garbage_lines_are_protocol_errors),
        cmocka_unit_test(test_reply_code_alone_is_final_with_empty_text),
        cmocka_unit_test(test_reply_lines_max_lines_fit_one_more_is_too_big),
        cmocka_unit_test(test_reply_line_longer_than_line_max_is_too_big),
        cmocka_unit_test(test_reply_text_beyond_reply_max_is_too_big),
        cmocka_unit_test(test_reply_nul_bytes_in_text_are_kept),
        cmocka_unit_test(test_reply_feeding_a_complete_reply_is_refused),
        cmocka_unit_test(test_data_lf_dot_crlf_is_stuffed),
        cmocka_unit_test(test_data_cr_dot_crlf_is_stuffed),
        cmocka_unit_test(test_data_lf_dot_lf_is_stuffed),
        cmocka_unit_test(test_data_lone_cr_and_lone_lf_become_crlf),
        cmocka_unit_test(test_data_crlf_is_kept_as_is),
        cmocka_unit_test(test_data_leading_dot_at_start_is_stuffed),
        cmocka_unit_test(test_data_dot_inside_a_line_is_not_stuffed),
        cmocka_unit_test(test_data_message_without_final_newline_gets_crlf),
        cmocka_unit_test(test_data_nul_and_8bit_bytes_pass_through),
        cmocka_unit_test(test_data_long_message_is_encoded_across_chunks),
        cmocka_unit_test(test_data_output_bound_is_respected),
    };
    const struct CMUnitTest sessions[] = {
        cmocka_unit_test(test_implicit_tls_session_sends_exact_dialogue),
        cmocka_unit_test(test_auth_login_is_used_when_plain_is_not_offered_and_535_is_eauth),
        cmocka_unit_test(test_a_refusal_quoting_the_credentials_in_part_shows_none_of_them),
        cmocka_unit_test(test_refused_recipient_resets_and_session_stays_usable),
        cmocka_unit_test(test_server_vanishing_after_greeting_is_eof_without_sigpipe),
        cmocka_unit_test(test_server_vanishing_during_data_is_eof_and_ends_the_session),
        cmocka_unit_test(test_addresses_that_could_inject_commands_are_refused),
        cmocka_unit_test(test_starttls_discards_bytes_injected_before_the_handshake),
        cmocka_unit_test(test_starttls_not_offered_stops_before_auth),
        cmocka_unit_test(test_starttls_refused_keeps_the_reply),
        cmocka_unit_test(test_greeting_other_than_220_is_the_servers_refusal),
        cmocka_unit_test(test_silent_server_times_out_at_greeting),
        cmocka_unit_test(test_server_closing_before_greeting_is_eof),
        cmocka_unit_test(test_endless_reply_line_is_cut_off),
        cmocka_unit_test(test_malformed_reply_is_protocol_error),
        cmocka_unit_test(test_connection_refused_names_address_and_errno),
        cmocka_unit_test(test_invalid_options_are_refused_before_any_io),
        cmocka_unit_test(test_certificate_for_another_name_is_named_in_the_error),
        cmocka_unit_test(test_untrusted_certificate_is_named_in_the_error),
        cmocka_unit_test(test_expired_certificate_is_named_with_its_date),
        cmocka_unit_test(test_certificate_pin_must_match_on_top_of_verification),
    };
    int failed = 0;

    failed += cmocka_run_group_tests_name("smtp reply parser and DATA encoder", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("smtp sessions against a scripted server", sessions,
                                          certs_setup, certs_teardown);
    return failed;
}
