/*
 * Unit tests for common/diag.c: how replies and local failures become
 * struct qn_error (status, verdict, enhanced code, sanitised server text)
 * and which catalog entry each one gets.
 *
 * Server texts are the wordings providers are known to send (QQ Mail,
 * 163/126, Gmail); the GBK bytes are QQ Mail's Chinese 535 reply, as
 * reported by users whose clients printed it undecoded.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "diag.h"

#define ELLIPSIS "\xE2\x80\xA6"

/* Byte strings may hold NUL: tests pass them with their length. */
#define BYTES(s) (s), (sizeof(s) - 1)

/* QQ Mail's 535 in GBK: "Error: 请使用授权码登录。详情请看: http://service.mail.qq.com/..." */
static const char qq_535_gbk[] = "Error: \xC7\xEB\xCA\xB9\xD3\xC3\xCA\xDA\xC8\xA8\xC2\xEB\xB5\xC7"
                                 "\xC2\xBC\xA1\xA3\xCF\xEA\xC7\xE9\xC7\xEB\xBF\xB4: "
                                 "http://service.mail.qq.com/cgi-bin/help?subtype=1&&id=28&&no="
                                 "1001256";

static const char qq_535_en[] = "Login Fail. Please enter your authorization code to login. More "
                                "information in http://service.mail.qq.com/cgi-bin/help?"
                                "subtype=1&&id=28&&no=1001256";

/* Record a reply and return the id of its diagnosis; the error is left in *err. */
static const char *reply_id(struct qn_error *err, const char *provider, enum qn_stage stage,
                            int code, const char *text)
{
    const struct qn_diagnosis *d;

    qn_error_clear(err);
    qn_error_set_reply(err, stage, code, text, strlen(text));
    d = qn_diag_lookup(provider, err);
    assert_non_null(d);
    return d->id;
}

/* Record a local failure (status, stage, errno, detail) and return its diagnosis id. */
static const char *failure_id(struct qn_error *err, const char *provider, enum qn_status status,
                              enum qn_stage stage, int sys_errno, const char *detail)
{
    const struct qn_diagnosis *d;

    qn_error_clear(err);
    err->sys_errno = sys_errno;
    qn_error_set(err, status, stage, "%s", detail);
    d = qn_diag_lookup(provider, err);
    assert_non_null(d);
    return d->id;
}

static bool catalog_holds(const struct qn_diagnosis *d)
{
    size_t n;
    const struct qn_diagnosis *all = qn_diag_catalog(&n);

    return d >= all && d < all + n;
}

/* ------------------------------------------------------------ authentication */

static void test_qq_535_at_auth_is_the_authorization_code_diagnosis(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(reply_id(&err, "qq", QN_STAGE_AUTH, 535, qq_535_en), "qq-auth-code");
    assert_int_equal(err.status, QN_EAUTH);
    assert_int_equal(err.verdict, QN_VERDICT_CONFIG);
    assert_string_equal(reply_id(&err, "qq", QN_STAGE_AUTH, 535, "Error: authentication failed"),
                        "qq-auth-code");
}

static void test_exmail_is_diagnosed_like_qq(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(reply_id(&err, "exmail", QN_STAGE_AUTH, 535, qq_535_en), "qq-auth-code");
    assert_string_equal(reply_id(&err, "EXMAIL", QN_STAGE_AUTH, 535, qq_535_en), "qq-auth-code");
}

static void test_same_535_from_another_provider_is_generic(void **state)
{
    struct qn_error err;
    static const char *const providers[] = {"163", "gmail", "outlook", "custom", "qqx", NULL};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(providers) / sizeof(providers[0]); i++) {
        assert_string_equal(
            reply_id(&err, providers[i], QN_STAGE_AUTH, 535, "Error: authentication failed"),
            "auth-failed");
    }
    assert_string_equal(
        reply_id(&err, "gmail", QN_STAGE_AUTH, 535, "5.7.8 Username and Password not accepted."),
        "auth-failed");
    assert_string_equal(reply_id(&err, "gmail", QN_STAGE_AUTH, 534,
                                 "5.7.9 Application-specific password required."),
                        "auth-failed");
    assert_int_equal(err.status, QN_EAUTH);
}

static void test_gbk_reply_is_decoded_into_utf8_server_text(void **state)
{
    struct qn_error err;

    (void)state;
    qn_error_clear(&err);
    assert_int_equal(qn_error_set_reply(&err, QN_STAGE_AUTH, 535, BYTES(qq_535_gbk)), QN_EAUTH);
    assert_string_equal(err.server_text,
                        "Error: 请使用授权码登录。详情请看: http://service.mail.qq.com/cgi-bin/"
                        "help?subtype=1&&id=28&&no=1001256");
    assert_string_equal(qn_diag_lookup("qq", &err)->id, "qq-auth-code");
}

static void test_530_about_encryption_is_tls_required_even_on_qq(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(
        reply_id(&err, "gmail", QN_STAGE_MAIL, 530, "5.7.0 Must issue a STARTTLS command first."),
        "tls-required");
    assert_string_equal(reply_id(&err, "qq", QN_STAGE_AUTH, 530,
                                 "Login fail. A secure connection is requiered(such as ssl)."),
                        "tls-required");
    assert_int_equal(err.status, QN_EAUTH);
}

static void test_authentication_required_before_mail(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(
        reply_id(&err, "qq", QN_STAGE_MAIL, 503, "Error: need EHLO and AUTH first !"),
        "auth-required");
    assert_string_equal(
        reply_id(&err, "custom", QN_STAGE_MAIL, 530, "5.7.0 Authentication required"),
        "auth-required");
    assert_int_equal(err.status, QN_EAUTH);
    assert_int_equal(err.verdict, QN_VERDICT_CONFIG);
}

/* ------------------------------------------------------------------ network */

static void test_connection_refused(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(failure_id(&err, "qq", QN_ECONNECT, QN_STAGE_CONNECT, ECONNREFUSED,
                                   "connect to 14.18.175.202 port 465"),
                        "connect-refused");
    assert_int_equal(err.verdict, QN_VERDICT_RETRY);
}

static void test_connection_timed_out(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(
        failure_id(&err, "qq", QN_ETIMEOUT, QN_STAGE_CONNECT, 0, "no answer within 30 s"),
        "connect-timeout");
    assert_string_equal(failure_id(&err, "qq", QN_ECONNECT, QN_STAGE_CONNECT, ETIMEDOUT, "connect"),
                        "connect-timeout");
    assert_int_equal(err.verdict, QN_VERDICT_RETRY);
}

static void test_network_unreachable(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(failure_id(&err, NULL, QN_ECONNECT, QN_STAGE_CONNECT, ENETUNREACH, ""),
                        "network-unreachable");
    assert_string_equal(failure_id(&err, NULL, QN_ECONNECT, QN_STAGE_CONNECT, EHOSTUNREACH, ""),
                        "network-unreachable");
}

static void test_connect_forbidden_by_local_policy(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(failure_id(&err, "qq", QN_ECONNECT, QN_STAGE_CONNECT, EPERM, "connect"),
                        "connect-blocked-locally");
}

static void test_dns_failures(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(failure_id(&err, "qq", QN_ERESOLVE, QN_STAGE_RESOLVE, 0,
                                   "smtp.qq.com: Temporary failure in name resolution"),
                        "dns-failure");
    assert_int_equal(err.verdict, QN_VERDICT_RETRY);
    assert_string_equal(failure_id(&err, "custom", QN_ERESOLVE, QN_STAGE_RESOLVE, 0,
                                   "smtp.qq.cmo: Name or service not known"),
                        "dns-unknown-host");
    assert_int_equal(err.verdict, QN_VERDICT_RETRY);
    /* EAI_SYSTEM: errno from inside the resolver is not about the mail server. */
    assert_string_equal(failure_id(&err, "qq", QN_ERESOLVE, QN_STAGE_RESOLVE, ECONNREFUSED,
                                   "cannot resolve smtp.qq.com: Connection refused"),
                        "dns-failure");
}

/* "No such name" for a provider's own server name: the resolver filters it or cannot reach
 * the Internet; for any other name, the name is to be checked. */
static void test_nxdomain_for_a_preset_host_blames_the_resolver(void **state)
{
    static const char *const filtered[] = {
        "cannot resolve smtp.qq.com: Name or service not known",
        "cannot resolve smtp.exmail.qq.com: No address associated with hostname",
        "cannot resolve SMTP.163.COM: Name or service not known",
        "cannot resolve smtp.gmail.com.: Name or service not known",
        "cannot resolve smtp-mail.outlook.com: Name or service not known",
        "smtp.qq.com: Name or service not known",
    };
    static const char *const misspelt[] = {
        "cannot resolve smtp.qq.con: Name or service not known",
        "cannot resolve mail.smtp.qq.com: Name or service not known",
        "cannot resolve smtp.qq.com.evil.example: Name or service not known",
        "cannot resolve xsmtp.qq.com: Name or service not known",
    };
    struct qn_error err;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(filtered) / sizeof(filtered[0]); i++) {
        /* whatever the configured provider: custom with host = smtp.qq.com is the same name */
        assert_string_equal(
            failure_id(&err, "custom", QN_ERESOLVE, QN_STAGE_RESOLVE, 0, filtered[i]),
            "dns-resolver-filtered");
        assert_int_equal(err.verdict, QN_VERDICT_RETRY);
        assert_string_equal(failure_id(&err, "qq", QN_ERESOLVE, QN_STAGE_RESOLVE, 0, filtered[i]),
                            "dns-resolver-filtered");
    }
    for (i = 0; i < sizeof(misspelt) / sizeof(misspelt[0]); i++)
        assert_string_equal(failure_id(&err, "qq", QN_ERESOLVE, QN_STAGE_RESOLVE, 0, misspelt[i]),
                            "dns-unknown-host");
    /* no answer at all is not "no such name" */
    assert_string_equal(failure_id(&err, "qq", QN_ERESOLVE, QN_STAGE_RESOLVE, 0,
                                   "cannot resolve smtp.qq.com: Temporary failure in name "
                                   "resolution"),
                        "dns-failure");
}

/* The catalog knows the server name of every preset config.c has. */
static void test_every_preset_host_is_known_to_the_resolve_diagnosis(void **state)
{
    static const char *const providers[] = {"qq", "exmail", "163", "gmail", "outlook"};
    struct qn_config cfg;
    struct qn_error err;
    char detail[300];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(providers) / sizeof(providers[0]); i++) {
        qn_config_defaults(&cfg);
        assert_int_equal(qn_config_preset(&cfg, providers[i]), QN_OK);
        snprintf(detail, sizeof(detail), "cannot resolve %s: Name or service not known", cfg.host);
        if (strcmp(failure_id(&err, providers[i], QN_ERESOLVE, QN_STAGE_RESOLVE, 0, detail),
                   "dns-resolver-filtered") != 0)
            fail_msg("preset %s: %s is not known as a provider's own name", providers[i], cfg.host);
    }
}

static void test_server_closed_mid_data_is_retried(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(failure_id(&err, "qq", QN_EEOF, QN_STAGE_DATA, 0, "after 4096 bytes"),
                        "data-connection-lost");
    assert_int_equal(err.verdict, QN_VERDICT_RETRY);
    assert_string_equal(failure_id(&err, "qq", QN_EIO, QN_STAGE_DATA, ECONNRESET, "write"),
                        "data-connection-lost");
    assert_string_equal(failure_id(&err, "qq", QN_EEOF, QN_STAGE_GREETING, 0, ""),
                        "connection-closed");
    assert_int_equal(err.verdict, QN_VERDICT_RETRY);
}

static void test_timeout_waiting_for_a_reply(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(failure_id(&err, "qq", QN_ETIMEOUT, QN_STAGE_DATA, 0, "waiting for 250"),
                        "reply-timeout");
    assert_string_equal(failure_id(&err, "qq", QN_ETIMEOUT, QN_STAGE_GREETING, 0, ""),
                        "reply-timeout");
    assert_int_equal(err.verdict, QN_VERDICT_RETRY);
}

static void test_protocol_error(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(failure_id(&err, "qq", QN_EPROTO, QN_STAGE_GREETING, 0,
                                   "reply line does not start with a code"),
                        "smtp-protocol-error");
    assert_string_equal(reply_id(&err, "qq", QN_STAGE_DATA, 250, "Ok"), "smtp-protocol-error");
    assert_int_equal(err.status, QN_EPROTO);
}

/* ---------------------------------------------------------------------- TLS */

static void test_certificate_failures(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(failure_id(&err, "qq", QN_ETLS, QN_STAGE_TLS, 0,
                                   "certificate verify failed: certificate has expired"),
                        "tls-cert-expired");
    assert_int_equal(err.verdict, QN_VERDICT_CONFIG);
    assert_string_equal(failure_id(&err, "qq", QN_ETLS, QN_STAGE_TLS, 0,
                                   "certificate verify failed: certificate is not yet valid"),
                        "tls-cert-expired");
    assert_string_equal(failure_id(&err, "qq", QN_ETLS, QN_STAGE_TLS, 0,
                                   "certificate verify failed: unable to get local issuer "
                                   "certificate"),
                        "tls-unknown-ca");
    assert_string_equal(failure_id(&err, "qq", QN_ETLS, QN_STAGE_TLS, 0,
                                   "certificate verify failed: self-signed certificate in "
                                   "certificate chain"),
                        "tls-unknown-ca");
    assert_string_equal(failure_id(&err, "qq", QN_ETLS, QN_STAGE_TLS, 0,
                                   "certificate verify failed: self signed certificate"),
                        "tls-unknown-ca");
    assert_string_equal(failure_id(&err, "qq", QN_ETLS, QN_STAGE_TLS, 0,
                                   "certificate verify failed: hostname mismatch"),
                        "tls-hostname-mismatch");
    assert_int_equal(err.verdict, QN_VERDICT_CONFIG);
    assert_string_equal(failure_id(&err, "qq", QN_ETLS, QN_STAGE_TLS, 0,
                                   "certificate pin mismatch: the server's certificate has "
                                   "SHA-256 AB:CD"),
                        "tls-pin-mismatch");
    assert_string_equal(failure_id(&err, "qq", QN_ETLS, QN_STAGE_TLS, 0,
                                   "cannot load CA file /etc/qqnotify/ca.pem: no such file"),
                        "tls-unknown-ca");
}

static void test_tls_protocol_failures(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(failure_id(&err, "outlook", QN_ETLS, QN_STAGE_TLS, 0,
                                   "SSL_connect: error:0A00010B:SSL routines::wrong version "
                                   "number"),
                        "tls-wrong-port");
    assert_string_equal(failure_id(&err, "qq", QN_ETLS, QN_STAGE_TLS, 0,
                                   "SSL_connect: sslv3 alert handshake failure"),
                        "tls-handshake-failed");
    assert_int_equal(err.verdict, QN_VERDICT_CONFIG);
}

static void test_tls_handshake_io_error_is_retried(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(failure_id(&err, "qq", QN_ETLS, QN_STAGE_TLS, ECONNRESET, "SSL_connect"),
                        "connection-closed");
    assert_int_equal(err.verdict, QN_VERDICT_RETRY);
}

static void test_starttls_missing_stops(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(
        failure_id(&err, "qq", QN_ESTARTTLS, QN_STAGE_EHLO, 0, "STARTTLS not in the EHLO reply"),
        "starttls-missing");
    assert_int_equal(err.verdict, QN_VERDICT_CONFIG);
    assert_string_equal(reply_id(&err, "outlook", QN_STAGE_STARTTLS, 454,
                                 "4.7.0 TLS not available due to local problem"),
                        "temporary-failure");
}

/* What the SMTP client does when STARTTLS is refused: keep the reply, restate the status. */
static void test_refused_starttls_keeps_the_reply_and_stops(void **state)
{
    struct qn_error err;

    (void)state;
    qn_error_clear(&err);
    qn_error_set_reply(&err, QN_STAGE_STARTTLS, 454,
                       BYTES("4.7.0 TLS not available due to local problem"));
    err.verdict = QN_VERDICT_NONE;
    qn_error_set(&err, QN_ESTARTTLS, QN_STAGE_STARTTLS, "the server refused STARTTLS");
    assert_int_equal(err.verdict, QN_VERDICT_CONFIG);
    assert_int_equal(err.smtp_code, 454);
    assert_string_equal(err.server_text, "TLS not available due to local problem");
    assert_string_equal(qn_diag_lookup("outlook", &err)->id, "starttls-missing");
}

/* ---------------------------------------------------------- sender, content */

static void test_sender_must_be_the_account(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(reply_id(&err, "qq", QN_STAGE_MAIL, 501,
                                 "mail from address must be same as authorization user."),
                        "sender-not-account");
    assert_int_equal(err.verdict, QN_VERDICT_PERMANENT);
    assert_string_equal(
        reply_id(&err, "163", QN_STAGE_MAIL, 553, "Mail from must equal authorized user"),
        "sender-not-account");
    assert_string_equal(reply_id(&err, "custom", QN_STAGE_MAIL, 550, "5.7.1 Sender rejected"),
                        "sender-not-account");
    assert_int_equal(err.status, QN_EREJECT);
}

static void test_from_header_problems_after_data(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(reply_id(&err, "qq", QN_STAGE_DATA, 550,
                                 "The From header is missing or invalid. Please follow RFC5322, "
                                 "RFC2047, RFC822 standard protocol."),
                        "from-header-invalid");
    assert_string_equal(
        reply_id(&err, "qq", QN_STAGE_DATA, 554, "Mail from must equal authorized user"),
        "from-header-invalid");
    assert_int_equal(err.verdict, QN_VERDICT_PERMANENT);
}

static void test_content_rejected_as_spam(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(reply_id(&err, "163", QN_STAGE_DATA, 554,
                                 "DT:SPM 163 smtp10,DsCowAA3D+JApVpd78gMKg--.16104S2 1566221632,"
                                 "please see http://mail.163.com/help/help_spam_16.htm"),
                        "content-spam");
    assert_int_equal(err.verdict, QN_VERDICT_PERMANENT);
    assert_string_equal(reply_id(&err, "qq", QN_STAGE_DATA, 550, "Mail content denied."),
                        "content-spam");
    assert_string_equal(reply_id(&err, "qq", QN_STAGE_DATA, 550,
                                 "The mail may contain inappropriate words or content."),
                        "content-spam");
}

/* ------------------------------------------------------------------- limits */

static void test_frequency_limits_are_retried_even_as_5xx(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(reply_id(&err, "qq", QN_STAGE_MAIL, 550, "Connection frequency limited"),
                        "frequency-limited");
    assert_int_equal(err.status, QN_EREJECT);
    assert_int_equal(err.verdict, QN_VERDICT_RETRY);
    assert_string_equal(reply_id(&err, "qq", QN_STAGE_DATA, 550, "Sender frequency limited"),
                        "frequency-limited");
    assert_int_equal(err.verdict, QN_VERDICT_RETRY);
    assert_string_equal(reply_id(&err, "qq", QN_STAGE_GREETING, 421, "Too many connections"),
                        "frequency-limited");
    assert_int_equal(err.status, QN_ETEMPFAIL);
    assert_string_equal(reply_id(&err, "qq", QN_STAGE_DATA, 451, "发送过于频繁，请稍后再试"),
                        "frequency-limited");
    assert_int_equal(err.verdict, QN_VERDICT_RETRY);
}

static void test_daily_quota(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(
        reply_id(&err, "gmail", QN_STAGE_DATA, 550, "5.4.5 Daily user sending quota exceeded."),
        "daily-quota");
    assert_string_equal(err.enhanced, "5.4.5");
    assert_int_equal(err.verdict, QN_VERDICT_RETRY);
}

static void test_qq_recipient_throttled(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(
        reply_id(&err, "qq", QN_STAGE_RCPT, 550, "Mailbox unavailable or access denied"),
        "recipient-throttled");
    assert_int_equal(err.verdict, QN_VERDICT_RETRY);
}

static void test_temporary_replies(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(reply_id(&err, "qq", QN_STAGE_GREETING, 421,
                                 "Service not available, closing transmission channel"),
                        "service-unavailable");
    assert_int_equal(err.status, QN_ETEMPFAIL);
    assert_int_equal(err.verdict, QN_VERDICT_RETRY);
    assert_string_equal(reply_id(&err, "qq", QN_STAGE_RCPT, 450, "mailbox busy"),
                        "temporary-failure");
    assert_int_equal(err.verdict, QN_VERDICT_RETRY);
}

/* --------------------------------------------------------------- recipients */

static void test_recipient_does_not_exist(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(reply_id(&err, "qq", QN_STAGE_RCPT, 550, "Mailbox not found."),
                        "recipient-unknown");
    assert_int_equal(err.verdict, QN_VERDICT_PERMANENT);
    assert_string_equal(reply_id(&err, "gmail", QN_STAGE_RCPT, 550,
                                 "5.1.1 The email account that you tried to reach does not "
                                 "exist."),
                        "recipient-unknown");
}

static void test_recipient_mailbox_full(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(reply_id(&err, "custom", QN_STAGE_RCPT, 552, "5.2.2 Mailbox full"),
                        "recipient-mailbox-full");
    assert_int_equal(err.verdict, QN_VERDICT_RETRY);
}

static void test_message_too_large(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(
        reply_id(&err, "qq", QN_STAGE_DATA, 552, "Message size exceeds fixed limit"),
        "message-too-large");
    assert_int_equal(err.verdict, QN_VERDICT_PERMANENT);
    assert_string_equal(
        reply_id(&err, "custom", QN_STAGE_DATA, 554, "5.3.4 Message too big for system"),
        "message-too-large");
}

static void test_refused_host(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(reply_id(&err, "qq", QN_STAGE_GREETING, 554, "IP in black list"),
                        "ip-blocked");
    assert_int_equal(err.verdict, QN_VERDICT_RETRY);
    /* "spamhaus" is about the host, not the content */
    assert_string_equal(reply_id(&err, "custom", QN_STAGE_RCPT, 554,
                                 "5.7.1 Service unavailable; Client host blocked using "
                                 "zen.spamhaus.org"),
                        "ip-blocked");
    assert_string_equal(reply_id(&err, "custom", QN_STAGE_EHLO, 501, "5.5.4 Invalid EHLO hostname"),
                        "helo-rejected");
    assert_int_equal(err.verdict, QN_VERDICT_CONFIG);
}

/* -------------------------------------------------------------------- local */

static void test_credential_and_config_errors(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(failure_id(&err, "qq", QN_ECRED, QN_STAGE_CREDENTIAL, 0,
                                   "credential helper qqnotify-secret answered no password"),
                        "credential-missing");
    assert_int_equal(err.verdict, QN_VERDICT_CONFIG);
    assert_string_equal(failure_id(&err, "qq", QN_ECONFIG, QN_STAGE_CONFIG, 0,
                                   "/etc/qqnotify/qqnotify.conf:3: unknown key"),
                        "config-error");
    assert_int_equal(err.verdict, QN_VERDICT_CONFIG);
    assert_string_equal(failure_id(&err, "qq", QN_ENOTFOUND, QN_STAGE_CONFIG, ENOENT,
                                   "/etc/qqnotify/qqnotify.conf"),
                        "config-error");
}

static void test_unmatched_failures_get_the_fallback_of_their_verdict(void **state)
{
    struct qn_error err;

    (void)state;
    assert_string_equal(reply_id(&err, "qq", QN_STAGE_RCPT, 554, "Relay access denied"),
                        "generic-permanent");
    assert_string_equal(failure_id(&err, "qq", QN_ENOMEM, QN_STAGE_LOCAL, 0, ""), "generic-retry");
    assert_string_equal(failure_id(&err, "qq", QN_EINVAL, QN_STAGE_LOCAL, 0, "message has no body"),
                        "generic-permanent");
    assert_string_equal(reply_id(&err, "qq", QN_STAGE_STARTTLS, 501, "Syntax error"),
                        "generic-config");
}

static void test_lookup_is_null_only_without_a_failure(void **state)
{
    struct qn_error err;

    (void)state;
    qn_error_clear(&err);
    assert_null(qn_diag_lookup("qq", &err));
    assert_null(qn_diag_lookup("qq", NULL));
}

/* Every status at every stage, with and without the usual codes and errnos. */
static void test_lookup_never_fails_for_any_failure(void **state)
{
    static const int codes[] = {0,   250, 421, 450, 451, 454, 500, 501,
                                503, 530, 534, 535, 550, 552, 553, 554};
    static const int errnos[] = {0, ECONNREFUSED, ETIMEDOUT, ECONNRESET, EPERM};
    const struct qn_diagnosis *d;
    struct qn_error err;
    size_t c, e;
    int status, stage;

    (void)state;
    for (status = QN_ENOMEM; status <= QN_ESERVICE; status++) {
        for (stage = QN_STAGE_NONE; stage <= QN_STAGE_LOCAL; stage++) {
            for (c = 0; c < sizeof(codes) / sizeof(codes[0]); c++) {
                for (e = 0; e < sizeof(errnos) / sizeof(errnos[0]); e++) {
                    qn_error_clear(&err);
                    err.smtp_code = codes[c];
                    err.sys_errno = errnos[e];
                    qn_error_set(&err, (enum qn_status)status, (enum qn_stage)stage, NULL);
                    assert_int_not_equal(err.verdict, QN_VERDICT_NONE);
                    d = qn_diag_lookup(c % 2 ? "qq" : NULL, &err);
                    assert_non_null(d);
                    assert_true(catalog_holds(d));
                }
            }
        }
    }
    /* A corrupt struct (from a damaged spool entry) still gets an answer. */
    qn_error_clear(&err);
    err.status = (enum qn_status)999;
    err.stage = (enum qn_stage) - 5;
    err.verdict = (enum qn_verdict)77;
    d = qn_diag_lookup("qq", &err);
    assert_non_null(d);
    assert_true(catalog_holds(d));
}

/* ---------------------------------------------------------- reply recording */

static void test_reply_status_follows_the_code(void **state)
{
    struct qn_error err;

    (void)state;
    qn_error_clear(&err);
    assert_int_equal(qn_error_set_reply(&err, QN_STAGE_MAIL, 451, BYTES("x")), QN_ETEMPFAIL);
    assert_int_equal(qn_error_set_reply(&err, QN_STAGE_MAIL, 530, BYTES("x")), QN_EAUTH);
    assert_int_equal(qn_error_set_reply(&err, QN_STAGE_DATA, 534, BYTES("x")), QN_EAUTH);
    assert_int_equal(qn_error_set_reply(&err, QN_STAGE_MAIL, 535, BYTES("x")), QN_EAUTH);
    assert_int_equal(qn_error_set_reply(&err, QN_STAGE_AUTH, 504, BYTES("x")), QN_EAUTH);
    assert_int_equal(qn_error_set_reply(&err, QN_STAGE_AUTH, 454, BYTES("x")), QN_ETEMPFAIL);
    assert_int_equal(qn_error_set_reply(&err, QN_STAGE_RCPT, 550, BYTES("x")), QN_EREJECT);
    assert_int_equal(qn_error_set_reply(&err, QN_STAGE_DATA, 354, BYTES("x")), QN_EPROTO);
    assert_int_equal(qn_error_set_reply(&err, QN_STAGE_DATA, 0, BYTES("")), QN_EPROTO);
    assert_int_equal(err.smtp_code, 0);
    assert_int_equal(qn_error_set_reply(NULL, QN_STAGE_RCPT, 550, BYTES("x")), QN_EREJECT);
}

static void test_reply_replaces_transport_errors(void **state)
{
    struct qn_error err;

    (void)state;
    qn_error_clear(&err);
    err.sys_errno = ECONNRESET;
    err.tls_error = 12345;
    qn_error_set_reply(&err, QN_STAGE_MAIL, 550, BYTES("Connection frequency limited"));
    assert_int_equal(err.sys_errno, 0);
    assert_int_equal(err.tls_error, 0);
    assert_int_equal(err.stage, QN_STAGE_MAIL);
    assert_int_equal(err.smtp_code, 550);
}

static void test_verdicts(void **state)
{
    (void)state;
    assert_int_equal(qn_error_verdict(QN_OK, QN_STAGE_DATA, 0), QN_VERDICT_NONE);
    assert_int_equal(qn_error_verdict(QN_ETEMPFAIL, QN_STAGE_DATA, 451), QN_VERDICT_RETRY);
    assert_int_equal(qn_error_verdict(QN_EREJECT, QN_STAGE_MAIL, 550), QN_VERDICT_PERMANENT);
    assert_int_equal(qn_error_verdict(QN_EREJECT, QN_STAGE_RCPT, 550), QN_VERDICT_PERMANENT);
    assert_int_equal(qn_error_verdict(QN_EREJECT, QN_STAGE_DATA, 554), QN_VERDICT_PERMANENT);
    assert_int_equal(qn_error_verdict(QN_EAUTH, QN_STAGE_AUTH, 535), QN_VERDICT_CONFIG);
    assert_int_equal(qn_error_verdict(QN_EAUTH, QN_STAGE_MAIL, 530), QN_VERDICT_CONFIG);
    assert_int_equal(qn_error_verdict(QN_ETIMEOUT, QN_STAGE_CONNECT, 0), QN_VERDICT_RETRY);
    assert_int_equal(qn_error_verdict(QN_ECONNECT, QN_STAGE_CONNECT, 0), QN_VERDICT_RETRY);
    assert_int_equal(qn_error_verdict(QN_EEOF, QN_STAGE_DATA, 0), QN_VERDICT_RETRY);
    assert_int_equal(qn_error_verdict(QN_ERESOLVE, QN_STAGE_RESOLVE, 0), QN_VERDICT_RETRY);
    assert_int_equal(qn_error_verdict(QN_ETLS, QN_STAGE_TLS, 0), QN_VERDICT_CONFIG);
    assert_int_equal(qn_error_verdict(QN_ESTARTTLS, QN_STAGE_EHLO, 0), QN_VERDICT_CONFIG);
    assert_int_equal(qn_error_verdict(QN_ECRED, QN_STAGE_CREDENTIAL, 0), QN_VERDICT_CONFIG);
    assert_int_equal(qn_error_verdict(QN_ECONFIG, QN_STAGE_CONFIG, 0), QN_VERDICT_CONFIG);
    assert_int_equal(qn_error_verdict(QN_EIO, QN_STAGE_CONFIG, 0), QN_VERDICT_CONFIG);
    assert_int_equal(qn_error_verdict(QN_EREJECT, QN_STAGE_GREETING, 554), QN_VERDICT_RETRY);
}

static void test_enhanced_code_is_extracted_and_not_repeated(void **state)
{
    struct qn_error err;
    static const char gmail[] = "5.7.8 Username and Password not accepted. For more information,"
                                " go to\n5.7.8  https://support.google.com/mail/?p=BadCredentials";

    (void)state;
    qn_error_clear(&err);
    qn_error_set_reply(&err, QN_STAGE_AUTH, 535, BYTES(gmail));
    assert_string_equal(err.enhanced, "5.7.8");
    assert_string_equal(err.server_text,
                        "Username and Password not accepted. For more information, go to / "
                        "https://support.google.com/mail/?p=BadCredentials");
}

static void test_enhanced_code_shapes(void **state)
{
    static const struct {
        const char *text;
        const char *enhanced;
    } cases[] = {
        {"2.0.0 Ok: queued", "2.0.0"},
        {"4.7.0 Try again later", "4.7.0"},
        {"5.1.10 Recipient not found", "5.1.10"},
        {"5.123.456 odd but valid", "5.123.456"},
        {"5.7.8", "5.7.8"},
        {"Error: authentication failed", ""},
        {"5.7 missing detail", ""},
        {"5.7.8x not a code", ""},
        {"6.1.1 bad class", ""},
        {"5.1234.1 subject too long", ""},
        {"5..1 empty subject", ""},
        {" 5.7.1 after a blank", "5.7.1"},
    };
    struct qn_error err;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        qn_error_clear(&err);
        qn_error_set_reply(&err, QN_STAGE_RCPT, 550, cases[i].text, strlen(cases[i].text));
        assert_string_equal(err.enhanced, cases[i].enhanced);
    }
}

static void test_multiline_reply_is_joined_with_slashes(void **state)
{
    struct qn_error err;

    (void)state;
    qn_error_clear(&err);
    qn_error_set_reply(&err, QN_STAGE_DATA, 554,
                       BYTES("first line\r\nsecond line\r\n\r\nthird line\r\n"));
    assert_string_equal(err.server_text, "first line / second line / third line");
}

static void test_whole_reply_lines_lose_their_code(void **state)
{
    struct qn_error err;

    (void)state;
    qn_error_clear(&err);
    qn_error_set_reply(&err, QN_STAGE_AUTH, 535,
                       BYTES("535-5.7.8 Username and Password not accepted.\r\n"
                             "535 5.7.8 https://support.google.com/mail/?p=BadCredentials"));
    assert_string_equal(err.enhanced, "5.7.8");
    assert_string_equal(err.server_text, "Username and Password not accepted. / "
                                         "https://support.google.com/mail/?p=BadCredentials");
}

static void test_server_text_never_holds_control_characters(void **state)
{
    /* ESC sequences, DEL, NEL and CSI as UTF-8 C1 controls, LINE SEPARATOR. */
    static const char tail[] = "\r\n\x1b[31mred\x1b[0m\x7f\xc2\x85\xc2\x9b\xe2\x80\xa8"
                               "end";
    char text[256 + sizeof(tail)];
    struct qn_error err;
    size_t i;

    (void)state;
    for (i = 0; i < 256; i++)
        text[i] = (char)i;
    memcpy(text + 256, tail, sizeof(tail) - 1);
    qn_error_clear(&err);
    qn_error_set_reply(&err, QN_STAGE_DATA, 554, text, 256 + sizeof(tail) - 1);
    for (i = 0; err.server_text[i] != '\0'; i++) {
        unsigned char c = (unsigned char)err.server_text[i];

        assert_true(c >= 0x20 && c != 0x7f);
        /* No C1 control in UTF-8 form either (CSI U+009B, NEL U+0085). */
        if (c == 0xc2)
            assert_false((unsigned char)err.server_text[i + 1] >= 0x80 &&
                         (unsigned char)err.server_text[i + 1] <= 0x9f);
    }
    assert_non_null(strstr(err.server_text, "[31mred [0m"));
}

static void test_injected_lines_cannot_leave_the_server_text(void **state)
{
    struct qn_error err;

    (void)state;
    qn_error_clear(&err);
    qn_error_set_reply(&err, QN_STAGE_MAIL, 550,
                       BYTES("Error\r\nqqnotify[1]: <2>forged alert\rAUTH PLAIN AGEAYg==\n"));
    assert_null(strchr(err.server_text, '\r'));
    assert_null(strchr(err.server_text, '\n'));
    assert_string_equal(err.server_text,
                        "Error / qqnotify[1]: <2>forged alert AUTH PLAIN AGEAYg==");
}

/* The struct may be written to the spool or a log as raw bytes: nothing of what
 * an earlier use of the memory held (here, a secret) may survive in it. */
static void test_secret_never_written_stays_out_of_the_struct(void **state)
{
    static const char secret[] = "abcdefghijklmnop"; /* shaped like a QQ authorization code */
    struct qn_error err;
    size_t i;

    (void)state;
    for (i = 0; i + sizeof(secret) - 1 <= sizeof(err); i += sizeof(secret) - 1)
        memcpy((char *)&err + i, secret, sizeof(secret) - 1);
    qn_error_clear(&err);
    assert_null(memmem(&err, sizeof(err), secret, sizeof(secret) - 1));

    qn_error_set_reply(&err, QN_STAGE_AUTH, 535, BYTES(qq_535_en));
    qn_error_set(&err, QN_EAUTH, QN_STAGE_AUTH, "AUTH LOGIN as %s", "123456789@qq.com");
    assert_null(memmem(&err, sizeof(err), secret, sizeof(secret) - 1));
    assert_string_equal(err.detail, "AUTH LOGIN as 123456789@qq.com");
}

/* A shorter reply after a longer one leaves no tail of the old text behind the NUL. */
static void test_new_reply_leaves_no_trace_of_the_old_one(void **state)
{
    struct qn_error err;
    char longer[400];

    (void)state;
    memset(longer, 'x', sizeof(longer));
    memcpy(longer + 300, "OLDSECRETTEXT", 13);
    qn_error_clear(&err);
    qn_error_set_reply(&err, QN_STAGE_MAIL, 550, longer, sizeof(longer));
    assert_non_null(memmem(err.server_text, sizeof(err.server_text), "OLDSECRETTEXT", 13));
    qn_error_set_reply(&err, QN_STAGE_MAIL, 550, BYTES("short"));
    assert_null(memmem(&err, sizeof(err), "OLDSECRETTEXT", 13));

    qn_error_set(&err, QN_EIO, QN_STAGE_LOCAL, "%.*s", 200, longer + 150);
    qn_error_set(&err, QN_EIO, QN_STAGE_LOCAL, "tiny");
    assert_null(memmem(&err, sizeof(err), "OLDSECRETTEXT", 13));
}

static void test_long_reply_is_cut_with_an_ellipsis(void **state)
{
    char text[10000];
    struct qn_error err;
    size_t len;

    (void)state;
    memset(text, 'a', sizeof(text));
    qn_error_clear(&err);
    qn_error_set_reply(&err, QN_STAGE_DATA, 554, text, sizeof(text));
    len = strlen(err.server_text);
    assert_true(len < sizeof(err.server_text));
    assert_true(len > sizeof(err.server_text) - 8);
    assert_memory_equal(err.server_text + len - 3, ELLIPSIS, 3);

    /* Blanks collapse: the raw cut happens before decoding, and still shows. */
    memset(text, ' ', sizeof(text));
    memcpy(text, "head", 4);
    memcpy(text + sizeof(text) - 4, "tail", 4);
    qn_error_set_reply(&err, QN_STAGE_DATA, 554, text, sizeof(text));
    assert_string_equal(err.server_text, "head" ELLIPSIS);
}

static void test_long_gbk_reply_is_cut_without_mojibake(void **state)
{
    /* "请使用授权码登录。" in GBK, 18 bytes, no ASCII: the cut cannot fall on a blank. */
    static const char phrase[] = "\xC7\xEB\xCA\xB9\xD3\xC3\xCA\xDA\xC8\xA8\xC2\xEB\xB5\xC7"
                                 "\xC2\xBC\xA1\xA3";
    char text[18 * 300];
    struct qn_error err;
    size_t i, len;

    (void)state;
    for (i = 0; i < 300; i++)
        memcpy(text + 18 * i, phrase, 18);
    qn_error_clear(&err);
    qn_error_set_reply(&err, QN_STAGE_AUTH, 535, text, sizeof(text));
    len = strlen(err.server_text);
    assert_true(len > 400);
    assert_memory_equal(err.server_text, "请使用授权码登录。请使用授权码登录。",
                        strlen("请使用授权码登录。请使用授权码登录。"));
    assert_null(strstr(err.server_text, "\xEF\xBF\xBD")); /* no U+FFFD */
    assert_memory_equal(err.server_text + len - 3, ELLIPSIS, 3);
}

static void test_error_set_formats_and_sanitises_the_detail(void **state)
{
    struct qn_error err;

    (void)state;
    qn_error_clear(&err);
    assert_int_equal(qn_error_set(&err, QN_ECONNECT, QN_STAGE_CONNECT, "connect to %s port %d",
                                  "smtp.qq.com\r\nInjected: yes", 465),
                     QN_ECONNECT);
    assert_string_equal(err.detail, "connect to smtp.qq.com Injected: yes port 465");
    assert_int_equal(err.status, QN_ECONNECT);
    assert_int_equal(err.stage, QN_STAGE_CONNECT);
    assert_int_equal(err.verdict, QN_VERDICT_RETRY);
    assert_int_equal(qn_error_set(NULL, QN_EIO, QN_STAGE_LOCAL, "x"), QN_EIO);
}

static void test_error_set_keeps_a_verdict_already_chosen(void **state)
{
    struct qn_error err;

    (void)state;
    qn_error_clear(&err);
    qn_error_set_reply(&err, QN_STAGE_MAIL, 550, BYTES("Connection frequency limited"));
    assert_int_equal(err.verdict, QN_VERDICT_RETRY);
    /* A caller adding a detail to a reply must not lose the reply's verdict. */
    qn_error_set(&err, err.status, err.stage, "MAIL FROM refused");
    assert_int_equal(err.verdict, QN_VERDICT_RETRY);
    assert_int_equal(err.smtp_code, 550);
    assert_string_equal(err.server_text, "Connection frequency limited");
    assert_string_equal(err.detail, "MAIL FROM refused");
}

static void test_error_set_cuts_a_long_detail(void **state)
{
    char big[1000];
    struct qn_error err;
    size_t len;

    (void)state;
    memset(big, 'd', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    qn_error_clear(&err);
    qn_error_set(&err, QN_EIO, QN_STAGE_LOCAL, "%s", big);
    len = strlen(err.detail);
    assert_true(len < sizeof(err.detail));
    assert_memory_equal(err.detail + len - 3, ELLIPSIS, 3);
}

/* ------------------------------------------------------------------ catalog */

static void test_catalog_entries_are_complete_and_unique(void **state)
{
    const struct qn_diagnosis *all;
    size_t n, i, j;
    const char *p;

    (void)state;
    all = qn_diag_catalog(&n);
    assert_non_null(all);
    assert_true(n >= 30);
    for (i = 0; i < n; i++) {
        assert_non_null(all[i].id);
        assert_non_null(all[i].when);
        assert_non_null(all[i].cause);
        assert_non_null(all[i].fix);
        assert_true(all[i].id[0] != '\0');
        assert_true(all[i].when[0] != '\0');
        assert_true(all[i].cause[0] != '\0');
        assert_true(all[i].fix[0] != '\0');
        /* Ids are stable identifiers for scripts: lower-case words and dashes. */
        for (p = all[i].id; *p != '\0'; p++)
            assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-');
        for (j = i + 1; j < n; j++)
            assert_string_not_equal(all[i].id, all[j].id);
    }
    assert_ptr_equal(qn_diag_catalog(NULL), all);
}

static void test_required_diagnoses_are_in_the_catalog(void **state)
{
    static const char *const required[] = {
        "qq-auth-code",         "auth-failed",           "auth-required",
        "tls-required",         "connect-refused",       "connect-timeout",
        "network-unreachable",  "dns-failure",           "tls-cert-expired",
        "tls-unknown-ca",       "tls-hostname-mismatch", "tls-pin-mismatch",
        "tls-handshake-failed", "starttls-missing",      "sender-not-account",
        "from-header-invalid",  "content-spam",          "frequency-limited",
        "daily-quota",          "service-unavailable",   "temporary-failure",
        "recipient-unknown",    "message-too-large",     "data-connection-lost",
        "reply-timeout",        "credential-missing",    "config-error",
        "generic-retry",        "generic-permanent",     "generic-config",
        "dns-unknown-host",     "dns-resolver-filtered",
    };
    const struct qn_diagnosis *all;
    size_t n, i, j;

    (void)state;
    all = qn_diag_catalog(&n);
    for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        for (j = 0; j < n && strcmp(all[j].id, required[i]) != 0; j++)
            ;
        if (j == n)
            fail_msg("diagnosis %s is missing", required[i]);
    }
}

/* The sender slows down for all mail on exactly these answers: the provider's
 * word about the account's rate, not about one message. */
static void test_only_rate_diagnoses_are_rate_limited(void **state)
{
    const struct qn_diagnosis *all;
    struct qn_error err;
    size_t n, i, found = 0;

    (void)state;
    all = qn_diag_catalog(&n);
    for (i = 0; i < n; i++) {
        bool rate = strcmp(all[i].id, "frequency-limited") == 0 ||
                    strcmp(all[i].id, "daily-quota") == 0 ||
                    strcmp(all[i].id, "recipient-throttled") == 0;
        if (all[i].rate_limited != rate)
            fail_msg("%s: rate_limited is %d", all[i].id, (int)all[i].rate_limited);
        found += rate;
    }
    assert_int_equal(found, 3);
    /* Through a lookup, as the queue manager asks. */
    qn_error_clear(&err);
    qn_error_set_reply(&err, QN_STAGE_MAIL, 550, BYTES("Connection frequency limited"));
    assert_true(qn_diag_lookup("qq", &err)->rate_limited);
    qn_error_clear(&err);
    qn_error_set_reply(&err, QN_STAGE_RCPT, 550, BYTES("Mailbox not found"));
    assert_false(qn_diag_lookup("qq", &err)->rate_limited);
}

static void test_qq_auth_fix_says_where_to_enable_smtp(void **state)
{
    struct qn_error err;
    const struct qn_diagnosis *d;

    (void)state;
    qn_error_clear(&err);
    qn_error_set_reply(&err, QN_STAGE_AUTH, 535, BYTES(qq_535_en));
    d = qn_diag_lookup("qq", &err);
    assert_non_null(strstr(d->fix, "Settings → Account"));
    assert_non_null(strstr(d->fix, "POP3/IMAP/SMTP"));
    assert_non_null(strstr(d->fix, "qqnotify-secret set"));
    assert_non_null(strstr(d->cause, "authorization code"));
}

static void test_stage_names(void **state)
{
    int i, j;

    (void)state;
    assert_string_equal(qn_stage_name(QN_STAGE_AUTH), "auth");
    assert_string_equal(qn_stage_name(QN_STAGE_TLS), "tls");
    for (i = QN_STAGE_NONE; i <= QN_STAGE_LOCAL; i++) {
        assert_non_null(qn_stage_name((enum qn_stage)i));
        assert_true(qn_stage_name((enum qn_stage)i)[0] != '\0');
        for (j = i + 1; j <= QN_STAGE_LOCAL; j++)
            assert_string_not_equal(qn_stage_name((enum qn_stage)i),
                                    qn_stage_name((enum qn_stage)j));
    }
    assert_non_null(qn_stage_name((enum qn_stage)99));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qq_535_at_auth_is_the_authorization_code_diagnosis),
        cmocka_unit_test(test_exmail_is_diagnosed_like_qq),
        cmocka_unit_test(test_same_535_from_another_provider_is_generic),
        cmocka_unit_test(test_gbk_reply_is_decoded_into_utf8_server_text),
        cmocka_unit_test(test_530_about_encryption_is_tls_required_even_on_qq),
        cmocka_unit_test(test_authentication_required_before_mail),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_connection_timed_out),
        cmocka_unit_test(test_network_unreachable),
        cmocka_unit_test(test_connect_forbidden_by_local_policy),
        cmocka_unit_test(test_dns_failures),
        cmocka_unit_test(test_nxdomain_for_a_preset_host_blames_the_resolver),
        cmocka_unit_test(test_every_preset_host_is_known_to_the_resolve_diagnosis),
        cmocka_unit_test(test_server_closed_mid_data_is_retried),
        cmocka_unit_test(test_timeout_waiting_for_a_reply),
        cmocka_unit_test(test_protocol_error),
        cmocka_unit_test(test_certificate_failures),
        cmocka_unit_test(test_tls_protocol_failures),
        cmocka_unit_test(test_tls_handshake_io_error_is_retried),
        cmocka_unit_test(test_starttls_missing_stops),
        cmocka_unit_test(test_refused_starttls_keeps_the_reply_and_stops),
        cmocka_unit_test(test_sender_must_be_the_account),
        cmocka_unit_test(test_from_header_problems_after_data),
        cmocka_unit_test(test_content_rejected_as_spam),
        cmocka_unit_test(test_frequency_limits_are_retried_even_as_5xx),
        cmocka_unit_test(test_daily_quota),
        cmocka_unit_test(test_qq_recipient_throttled),
        cmocka_unit_test(test_temporary_replies),
        cmocka_unit_test(test_recipient_does_not_exist),
        cmocka_unit_test(test_recipient_mailbox_full),
        cmocka_unit_test(test_message_too_large),
        cmocka_unit_test(test_refused_host),
        cmocka_unit_test(test_credential_and_config_errors),
        cmocka_unit_test(test_unmatched_failures_get_the_fallback_of_their_verdict),
        cmocka_unit_test(test_lookup_is_null_only_without_a_failure),
        cmocka_unit_test(test_lookup_never_fails_for_any_failure),
        cmocka_unit_test(test_reply_status_follows_the_code),
        cmocka_unit_test(test_reply_replaces_transport_errors),
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_enhanced_code_is_extracted_and_not_repeated),
        cmocka_unit_test(test_enhanced_code_shapes),
        cmocka_unit_test(test_multiline_reply_is_joined_with_slashes),
        cmocka_unit_test(test_whole_reply_lines_lose_their_code),
        cmocka_unit_test(test_server_text_never_holds_control_characters),
        cmocka_unit_test(test_injected_lines_cannot_leave_the_server_text),
        cmocka_unit_test(test_secret_never_written_stays_out_of_the_struct),
        cmocka_unit_test(test_new_reply_leaves_no_trace_of_the_old_one),
        cmocka_unit_test(test_long_reply_is_cut_with_an_ellipsis),
        cmocka_unit_test(test_long_gbk_reply_is_cut_without_mojibake),
        cmocka_unit_test(test_error_set_formats_and_sanitises_the_detail),
        cmocka_unit_test(test_error_set_keeps_a_verdict_already_chosen),
        cmocka_unit_test(test_error_set_cuts_a_long_detail),
        cmocka_unit_test(test_catalog_entries_are_complete_and_unique),
        cmocka_unit_test(test_required_diagnoses_are_in_the_catalog),
        cmocka_unit_test(test_only_rate_diagnoses_are_rate_limited),
        cmocka_unit_test(test_qq_auth_fix_says_where_to_enable_smtp),
        cmocka_unit_test(test_stage_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
