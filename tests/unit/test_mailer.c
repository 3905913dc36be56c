/*
 * Unit tests for common/mailer.c: the builder's exact bytes; sessions opened
 * from a configuration (credential file, implicit TLS) against the scripted
 * server of smtp_script.h, checking the exact dialogue; the secret wiped and
 * never in an error; typed errors; the queue manager's transport over it.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "cred.h"
#include "mailer.h"
#include "render.h"
#include "smtp_script.h"
#include "tmpdir.h"

#define USER   "123456789@qq.com"
#define SECRET "abcdefghijklmnop" /* the shape of a QQ Mail authorization code */
/* AUTH PLAIN of USER and SECRET: base64("\0" USER "\0" SECRET) */
#define AUTH_LINE "AUTH PLAIN ADEyMzQ1Njc4OUBxcS5jb20AYWJjZGVmZ2hpamtsbW5vcA==\r\n"
#define GREETING                                                                                   \
    "T", ">220 test.example ESMTP\r\n", "<", ">250-test.example\r\n250 AUTH PLAIN LOGIN\r\n"

/* ---- the builder ----------------------------------------------------------------------- */

static void config_base(struct qn_config *cfg)
{
    qn_config_defaults(cfg);
    snprintf(cfg->user, sizeof(cfg->user), USER);
    snprintf(cfg->from_name, sizeof(cfg->from_name), "服务器告警");
    snprintf(cfg->to[0], sizeof(cfg->to[0]), "ops@example.com");
    snprintf(cfg->to[1], sizeof(cfg->to[1]), "987654321@qq.com");
    cfg->n_to = 2;
}

static char *build_ok(const struct qn_config *cfg, const struct qn_mailer_content *c)
{
    struct qn_buf out;

    qn_buf_init(&out, QN_MAILER_MESSAGE_MAX);
    assert_int_equal(qn_mailer_build(cfg, c, &out), QN_OK);
    return qn_buf_steal(&out, NULL);
}

static void test_build_gives_the_configured_sender_and_recipients(void **state)
{
    struct qn_config cfg;
    struct qn_mailer_content c = {.subject = "disk /var 95% full",
                                  .text = "磁盘已满\n",
                                  .date = 1800000000,
                                  .message_id = "<mailer-test@qq.com>"};
    char *msg;

    (void)state;
    config_base(&cfg);
    snprintf(cfg.from_name, sizeof(cfg.from_name), "web1 告警");
    msg = build_ok(&cfg, &c);
    assert_string_equal(msg, "Date: Fri, 15 Jan 2027 08:00:00 +0000\r\n"
                             "From: =?UTF-8?B?d2ViMSDlkYroraY=?= <123456789@qq.com>\r\n"
                             "To: ops@example.com, 987654321@qq.com\r\n"
                             "Subject: disk /var 95% full\r\n"
                             "Message-ID: <mailer-test@qq.com>\r\n"
                             "MIME-Version: 1.0\r\n"
                             "Content-Type: text/plain; charset=UTF-8\r\n"
                             "Content-Transfer-Encoding: base64\r\n"
                             "\r\n"
                             "56OB55uY5bey5ruhDQo=\r\n");
    free(msg);
}

static void test_build_to_given_recipients_without_display_name(void **state)
{
    static const char *const to[] = {"x@example.net"};
    struct qn_config cfg;
    struct qn_mailer_content c = {.subject = "t",
                                  .text = "hi",
                                  .to = to,
                                  .n_to = 1,
                                  .date = 1700000000,
                                  .message_id = "<fixed@qq.com>"};
    char *msg;

    (void)state;
    config_base(&cfg);
    cfg.from_name[0] = '\0';
    msg = build_ok(&cfg, &c);
    assert_string_equal(msg, "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
                             "From: 123456789@qq.com\r\n"
                             "To: x@example.net\r\n"
                             "Subject: t\r\n"
                             "Message-ID: <fixed@qq.com>\r\n"
                             "MIME-Version: 1.0\r\n"
                             "Content-Type: text/plain; charset=UTF-8\r\n"
                             "Content-Transfer-Encoding: base64\r\n"
                             "\r\n"
                             "aGk=\r\n");
    free(msg);
}

static void test_build_without_recipient_or_account_is_refused(void **state)
{
    struct qn_config cfg;
    struct qn_mailer_content c = {.subject = "t", .text = "hi"};
    struct qn_buf out;

    (void)state;
    qn_buf_init(&out, 4096);
    config_base(&cfg);
    cfg.n_to = 0;
    assert_int_equal(qn_mailer_build(&cfg, &c, &out), QN_EINVAL);
    assert_int_equal(out.len, 0);
    config_base(&cfg);
    snprintf(cfg.user, sizeof(cfg.user), "not an address");
    assert_int_equal(qn_mailer_build(&cfg, &c, &out), QN_EINVAL);
    assert_int_equal(out.len, 0);
    qn_buf_free(&out);
}

/* ---- sessions -------------------------------------------------------------------------- */

struct session {
    struct qn_config cfg;
    char dir[64];
    char secret_file[96];
};

/* A configuration for SRV (port 0: nobody listens), the secret in a credential file. */
static void session_config(struct session *s, const struct certs *certs, unsigned port)
{
    int fd;

    config_base(&s->cfg);
    snprintf(s->cfg.host, sizeof(s->cfg.host), "127.0.0.1");
    s->cfg.port = port;
    s->cfg.tls = QN_TLS_IMPLICIT;
    s->cfg.tls_verify = true;
    snprintf(s->cfg.ca_file, sizeof(s->cfg.ca_file), "%s", certs->good_file);
    snprintf(s->cfg.helo_name, sizeof(s->cfg.helo_name), "client.example");
    s->cfg.timeout_s = 5;
    assert_int_equal(tmpdir_make(s->dir, sizeof(s->dir), "mailer"), 0);
    snprintf(s->secret_file, sizeof(s->secret_file), "%s/secret", s->dir);
    fd = open(s->secret_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, SECRET "\n", strlen(SECRET) + 1), (ssize_t)strlen(SECRET) + 1);
    assert_int_equal(close(fd), 0);
    snprintf(s->cfg.credential_file, sizeof(s->cfg.credential_file), "%s", s->secret_file);
    assert_int_equal(unsetenv("CREDENTIALS_DIRECTORY"), 0);
}

static void session_end(struct session *s)
{
    assert_int_equal(tmpdir_remove(s->dir), 0);
}

static void assert_no_secret(const struct qn_error *err)
{
    assert_null(memmem(err, sizeof(*err), SECRET, strlen(SECRET)));
}

/* Login, two mails (two recipients, then one), QUIT. */
static const char *const two_mails[] = {
    GREETING,
    "<",
    ">235 2.7.0 Authentication successful\r\n",
    "<",
    ">250 OK\r\n",
    "<",
    ">250 OK\r\n",
    "<",
    ">250 OK\r\n",
    "<",
    ">354 go on\r\n",
    "D",
    ">250 queued as 1\r\n",
    "<",
    ">250 OK\r\n",
    "<",
    ">250 OK\r\n",
    "<",
    ">354 go on\r\n",
    "D",
    ">250 queued as 2\r\n",
    "<",
    ">221 Bye\r\n",
    "E",
    NULL,
};

static void test_send_opens_one_authenticated_session_for_several_mails(void **state)
{
    static const char *const one[] = {"x@example.net"};
    static const char msg[] = "Subject: t\n\nhi\n";
    struct session s;
    struct server srv;
    struct qn_mailer *m = NULL;
    struct qn_error err;

    server_start(&srv, two_mails, *state, NULL);
    session_config(&s, *state, srv.port);
    assert_int_equal(qn_mailer_new(&s.cfg, &m), QN_OK);
    /* opened on first use, for [notify] to; then reused for given recipients */
    assert_int_equal(qn_mailer_send(m, NULL, 0, msg, sizeof(msg) - 1, &err), QN_OK);
    assert_int_equal(qn_mailer_send(m, one, 1, msg, sizeof(msg) - 1, &err), QN_OK);
    qn_mailer_close(m);
    qn_mailer_close(m); /* nothing open: no-op */
    m = qn_mailer_free(m);
    assert_null(m);
    assert_transcript(&srv,
                      "EHLO client.example\r\n" AUTH_LINE "MAIL FROM:<123456789@qq.com>\r\n"
                      "RCPT TO:<ops@example.com>\r\n"
                      "RCPT TO:<987654321@qq.com>\r\n"
                      "DATA\r\n"
                      "Subject: t\r\n\r\nhi\r\n.\r\n"
                      "MAIL FROM:<123456789@qq.com>\r\n"
                      "RCPT TO:<x@example.net>\r\n"
                      "DATA\r\n"
                      "Subject: t\r\n\r\nhi\r\n.\r\n"
                      "QUIT\r\n",
                      true);
    session_end(&s);
}

static void test_missing_secret_fails_before_any_connection(void **state)
{
    struct session s;
    struct qn_mailer *m = NULL;
    struct qn_error err;

    session_config(&s, *state, closed_port());
    assert_int_equal(unlink(s.secret_file), 0);
    assert_int_equal(qn_mailer_new(&s.cfg, &m), QN_OK);
    /* ECONNECT would mean it connected first: the secret comes first */
    assert_int_equal(qn_mailer_open(m, &err), QN_ECRED);
    assert_int_equal(err.stage, QN_STAGE_CREDENTIAL);
    assert_int_equal(qn_mailer_send(m, NULL, 0, "x", 1, &err), QN_ECRED);
    qn_mailer_free(m);
    session_end(&s);
}

static void test_refused_connection_is_typed_and_names_the_address(void **state)
{
    struct session s;
    struct qn_mailer *m = NULL;
    struct qn_error err;
    char where[64];

    session_config(&s, *state, closed_port());
    assert_int_equal(qn_mailer_new(&s.cfg, &m), QN_OK);
    assert_int_equal(qn_mailer_open(m, &err), QN_ECONNECT);
    assert_int_equal(err.stage, QN_STAGE_CONNECT);
    assert_int_equal(err.sys_errno, ECONNREFUSED);
    snprintf(where, sizeof(where), "127.0.0.1:%u", s.cfg.port);
    assert_non_null(strstr(err.detail, where));
    assert_no_secret(&err);
    qn_mailer_free(m);
    session_end(&s);
}

static void test_refused_login_is_eauth_and_close_still_says_quit(void **state)
{
    static const char *const script[] = {
        GREETING,
        "<",
        ">535 Login Fail. Please enter your authorization code to login\r\n",
        "<",
        ">221 Bye\r\n",
        "E",
        NULL,
    };
    struct session s;
    struct server srv;
    struct qn_mailer *m = NULL;
    struct qn_error err;

    server_start(&srv, script, *state, NULL);
    session_config(&s, *state, srv.port);
    assert_int_equal(qn_mailer_new(&s.cfg, &m), QN_OK);
    assert_int_equal(qn_mailer_open(m, &err), QN_EAUTH);
    assert_int_equal(err.stage, QN_STAGE_AUTH);
    assert_int_equal(err.smtp_code, 535);
    assert_no_secret(&err);
    qn_mailer_close(m);
    qn_mailer_free(m);
    assert_transcript(&srv, "EHLO client.example\r\n" AUTH_LINE "QUIT\r\n", true);
    session_end(&s);
}

#define STAGES_MAX 16

struct stages {
    enum qn_stage stage[STAGES_MAX];
    size_t n;
};

static void record_stage(void *arg, enum qn_stage stage, const char *detail)
{
    struct stages *st = arg;

    (void)detail;
    if (st->n < STAGES_MAX)
        st->stage[st->n++] = stage;
}

/* `qqnotify check`'s way: the secret fetched apart, each step on its own. */
static void test_staged_login_reports_stages_and_wipes_the_secret(void **state)
{
    static const char *const script[] = {
        GREETING, "<", ">235 OK\r\n", "<", ">250 OK\r\n", "<", ">250 reset\r\n", "E", NULL,
    };
    static const enum qn_stage want[] = {QN_STAGE_RESOLVE,  QN_STAGE_CONNECT, QN_STAGE_TLS,
                                         QN_STAGE_GREETING, QN_STAGE_EHLO,    QN_STAGE_AUTH,
                                         QN_STAGE_MAIL};
    struct stages seen = {.n = 0};
    struct session s;
    struct server srv;
    struct qn_secret secret = {0};
    struct qn_mailer *m = NULL;
    struct qn_error err;

    server_start(&srv, script, *state, NULL);
    session_config(&s, *state, srv.port);
    assert_int_equal(qn_mailer_new(&s.cfg, &m), QN_OK);
    qn_mailer_set_stage_cb(m, record_stage, &seen);
    assert_int_equal(qn_cred_get(&s.cfg, &secret, NULL, &err), QN_OK);
    assert_int_equal(qn_mailer_auth(m, &secret, &err), QN_EINVAL); /* not connected */
    assert_null(secret.data);                                      /* wiped all the same */
    assert_int_equal(qn_cred_get(&s.cfg, &secret, NULL, &err), QN_OK);
    assert_int_equal(qn_mailer_connect(m, &err), QN_OK);
    assert_int_equal(qn_mailer_connect(m, &err), QN_EINVAL);
    assert_int_equal(qn_mailer_auth(m, &secret, &err), QN_OK);
    assert_null(secret.data);
    assert_int_equal(secret.len, 0);
    assert_int_equal(qn_mailer_probe_sender(m, &err), QN_OK);
    assert_int_equal(qn_mailer_open(m, &err), QN_OK); /* logged in already: nothing sent */
    qn_mailer_abort(m);                               /* no QUIT */
    qn_mailer_free(m);
    assert_transcript(&srv,
                      "EHLO client.example\r\n" AUTH_LINE "MAIL FROM:<123456789@qq.com>\r\n"
                      "RSET\r\n",
                      true);
    assert_int_equal(seen.n, sizeof(want) / sizeof(want[0]));
    assert_memory_equal(seen.stage, want, sizeof(want));
    session_end(&s);
}

/* ---- the queue manager's transport ----------------------------------------------------- */

static void rendered_alert(struct qn_rendered *r)
{
    qn_buf_init(&r->subject, 1024);
    qn_buf_init(&r->text, 1024);
    qn_buf_init(&r->html, 1024);
    assert_int_equal(qn_buf_puts(&r->subject, "disk full on web1"), QN_OK);
    assert_int_equal(qn_buf_puts(&r->text, "line1\nline2\n"), QN_OK);
    assert_int_equal(qn_buf_puts(&r->html, "<p>告警</p>"), QN_OK);
}

static void assert_contains(const char *s, const char *part)
{
    if (strstr(s, part) == NULL)
        fail_msg("\"%s\" not found in:\n%s", part, s);
}

static void test_transport_formats_alerts_and_sends_messages_as_given(void **state)
{
    static const char *const rcpt[] = {"x@example.net"};
    static const char msg[] = "Subject: as given\r\n\r\n.dot\r\n";
    struct session s;
    struct server srv;
    struct qn_mailer *m = NULL;
    struct qn_transport t;
    struct qn_rendered alert;
    struct qn_delivery alert_d = {.alert = &alert, .n_events = 1};
    struct qn_delivery msg_d = {
        .message = msg, .message_len = sizeof(msg) - 1, .rcpt = rcpt, .n_rcpt = 1};
    struct qn_error err;
    const char *head = "EHLO client.example\r\n" AUTH_LINE "MAIL FROM:<123456789@qq.com>\r\n"
                       "RCPT TO:<ops@example.com>\r\n"
                       "RCPT TO:<987654321@qq.com>\r\n"
                       "DATA\r\n";
    const char *tail = "\r\n.\r\n"
                       "MAIL FROM:<123456789@qq.com>\r\n"
                       "RCPT TO:<x@example.net>\r\n"
                       "DATA\r\n"
                       "Subject: as given\r\n\r\n..dot\r\n.\r\n"
                       "QUIT\r\n";
    char *got;
    int status;

    server_start(&srv, two_mails, *state, NULL);
    session_config(&s, *state, srv.port);
    assert_int_equal(qn_mailer_new(&s.cfg, &m), QN_OK);
    t = qn_mailer_transport(m);
    assert_string_equal(t.name, "smtp");
    rendered_alert(&alert);
    assert_int_equal(t.open(t.ctx, &err), QN_OK);
    assert_int_equal(t.deliver(t.ctx, &alert_d, &err), QN_OK);
    assert_int_equal(t.deliver(t.ctx, &msg_d, &err), QN_OK);
    t.close(t.ctx);
    qn_mailer_free(m);
    qn_rendered_free(&alert);

    got = server_finish(&srv, &status);
    assert_int_equal(status, 0);
    assert_int_equal(strncmp(got, head, strlen(head)), 0);
    assert_contains(got, "\r\nFrom: =?UTF-8?B?5pyN5Yqh5Zmo5ZGK6K2m?= <123456789@qq.com>\r\n");
    assert_contains(got, "\r\nTo: ops@example.com, 987654321@qq.com\r\n");
    assert_contains(got, "\r\nSubject: disk full on web1\r\n");
    assert_contains(got, "\r\nbGluZTENCmxpbmUyDQo=\r\n");
    assert_contains(got, "\r\nPHA+5ZGK6K2mPC9wPg==\r\n");
    assert_true(strlen(got) > strlen(tail));
    assert_string_equal(got + strlen(got) - strlen(tail), tail);
    free(got);
    session_end(&s);
}

static void test_transport_reports_an_unbuildable_alert_at_the_local_stage(void **state)
{
    struct session s;
    struct qn_mailer *m = NULL;
    struct qn_transport t;
    struct qn_rendered alert;
    struct qn_delivery d = {.alert = &alert, .n_events = 1};
    struct qn_error err;

    session_config(&s, *state, closed_port());
    snprintf(s.cfg.user, sizeof(s.cfg.user), "no address");
    assert_int_equal(qn_mailer_new(&s.cfg, &m), QN_OK);
    t = qn_mailer_transport(m);
    rendered_alert(&alert);
    /* built before any connection: QN_ECONNECT would mean it tried to send */
    assert_int_equal(t.deliver(t.ctx, &d, &err), QN_EINVAL);
    assert_int_equal(err.stage, QN_STAGE_LOCAL);
    qn_rendered_free(&alert);
    qn_mailer_free(m);
    session_end(&s);
}

int main(void)
{
    const struct CMUnitTest build[] = {
        cmocka_unit_test(test_build_gives_the_configured_sender_and_recipients),
        cmocka_unit_test(test_build_to_given_recipients_without_display_name),
        cmocka_unit_test(test_build_without_recipient_or_account_is_refused),
    };
    const struct CMUnitTest sessions[] = {
        cmocka_unit_test(test_send_opens_one_authenticated_session_for_several_mails),
        cmocka_unit_test(test_missing_secret_fails_before_any_connection),
        cmocka_unit_test(test_refused_connection_is_typed_and_names_the_address),
        cmocka_unit_test(test_refused_login_is_eauth_and_close_still_says_quit),
        cmocka_unit_test(test_staged_login_reports_stages_and_wipes_the_secret),
        cmocka_unit_test(test_transport_formats_alerts_and_sends_messages_as_given),
        cmocka_unit_test(test_transport_reports_an_unbuildable_alert_at_the_local_stage),
    };
    int failed = 0;

    failed += cmocka_run_group_tests_name("mailer: the message builder", build, NULL, NULL);
    failed += cmocka_run_group_tests_name("mailer: sessions against a scripted server", sessions,
                                          certs_setup, certs_teardown);
    return failed;
}
