/* qqnotify check: walk every stage from the configuration to a test mail, one
 * line per stage, and stop at the first failure with its cause and fix. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "cred.h"
#include "mailer.h"
#include "mime.h"
#include "text.h"

#define STAGE_COLUMNS 12

static void print_stage(const char *mark, const char *name)
{
    printf("%s ", mark);
    qn_cli_print_padded(name, STAGE_COLUMNS);
    putchar(' ');
}

static void print_ok(enum qn_stage stage, const char *detail)
{
    char clean[512];

    qn_text_sanitize_line(detail, strlen(detail), clean, sizeof(clean));
    print_stage("✓", _(qn_stage_name(stage)));
    printf("%s\n", clean);
    fflush(stdout);
}

/* The session reports its stages as they pass; once the sender has been
 * checked, the stages of the test mail itself are summed up in one line. */
static void on_stage(void *arg, enum qn_stage stage, const char *detail)
{
    const bool *quiet = arg;

    if (!*quiet)
        print_ok(stage, detail);
}

static void print_fail(const struct qn_cli *cli, const struct qn_error *err)
{
    const struct qn_diagnosis *d = qn_diag_lookup(cli->cfg.provider, err);
    char line[QN_ERROR_TEXT_MAX + QN_ERROR_DETAIL_MAX + 128];

    qn_cli_describe(err, line, sizeof(line));
    print_stage("✗", _(qn_stage_name(err->stage)));
    printf("%s\n", line);
    if (d != NULL) {
        printf(_("    cause: %s\n"), _(d->cause));
        printf(_("    fix:   %s\n"), _(d->fix));
        printf("    diagnosis: %s\n", d->id);
    }
    fflush(stdout);
}

static enum qn_status send_test(struct qn_cli *cli, struct qn_mailer *m, const char *to,
                                struct qn_error *err)
{
    struct qn_mailer_content content = {0};
    struct qn_buf msg, text;
    char host[256] = "localhost", when[64];
    const char *rcpt[1] = {to};
    time_t now = time(NULL);
    struct tm tm;
    enum qn_status r;

    qn_buf_init(&msg, 1024 * 1024);
    qn_buf_init(&text, 64 * 1024);
    if (gethostname(host, sizeof(host) - 1) != 0)
        snprintf(host, sizeof(host), "localhost");
    localtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %z", &tm);
    r = qn_buf_printf(&text,
                      "这是 qqnotify 的测试邮件：%s 上的配置可以正常发信。\n"
                      "This is a qqnotify test mail: the setup on %s can send mail.\n\n"
                      "发送时间 / sent at: %s\n"
                      "服务器 / server: %s:%u\n",
                      host, host, when, cli->cfg.host, cli->cfg.port);
    if (r != QN_OK)
        goto fail;
    content.to = rcpt;
    content.n_to = 1;
    content.subject = "qqnotify 测试邮件 / test mail";
    content.text = text.data;
    r = qn_mailer_build(&cli->cfg, &content, &msg);
    if (r != QN_OK)
        goto fail;
    r = qn_mailer_send(m, rcpt, 1, msg.data, msg.len, err);
    goto out;
fail:
    qn_error_set(err, r, QN_STAGE_LOCAL, "building the test message");
out:
    qn_buf_free(&msg);
    qn_buf_free(&text);
    return r;
}

int qn_cmd_check(struct qn_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"send-test", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *test_to = NULL;
    struct qn_mailer *m = NULL;
    struct qn_secret secret = {0};
    struct qn_error err, cred_err;
    char detail[1024], source[QN_CRED_SOURCE_MAX];
    bool quiet = false;
    enum qn_status r;
    int c, rc;

    qn_error_clear(&err);
    qn_error_clear(&cred_err);
    while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            test_to = optarg;
            break;
        case 'h':
            printf(_("Usage: qqnotify check [--send-test ADDR]\n"
                     "Checks configuration, secret, DNS, TCP, TLS and certificate, greeting, "
                     "EHLO, STARTTLS, AUTH and the sender; --send-test also sends a test mail.\n"));
            return QN_EXIT_OK;
        default:
            return QN_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, _("qqnotify check: unexpected argument '%s'\n"), argv[optind]);
        return QN_EXIT_USAGE;
    }
    if (test_to != NULL && !qn_mime_addr_valid(test_to)) {
        fprintf(stderr, _("qqnotify check: --send-test needs an address like you@example.com\n"));
        return QN_EXIT_USAGE;
    }

    rc = qn_cli_load_config(cli);
    if (rc != QN_EXIT_OK) {
        print_stage("✗", _(qn_stage_name(QN_STAGE_CONFIG)));
        printf("%s\n", cli->config_path);
        return rc;
    }
    snprintf(detail, sizeof(detail), _("%s: provider %s, %s port %u, %s, account %s"),
             cli->config_path, cli->cfg.provider, cli->cfg.host, cli->cfg.port,
             cli->cfg.tls == QN_TLS_IMPLICIT ? _("implicit TLS") : _("STARTTLS"), cli->cfg.user);
    print_ok(QN_STAGE_CONFIG, detail);
    qn_cli_warn_insecure(cli);

    /* A missing secret is reported, but the network stages are still worth
     * checking: they tell the administrator the rest of the path works. */
    if (qn_cred_get(&cli->cfg, &secret, source, &cred_err) == QN_OK) {
        snprintf(detail, sizeof(detail), _("secret from %s"), source);
        print_ok(QN_STAGE_CREDENTIAL, detail);
    } else {
        print_fail(cli, &cred_err);
    }

    r = qn_mailer_new(&cli->cfg, &m);
    if (r != QN_OK) {
        qn_error_set(&err, r, QN_STAGE_LOCAL, "cannot allocate the mail session");
        goto fail;
    }
    qn_mailer_set_stage_cb(m, on_stage, &quiet);
    r = qn_mailer_connect(m, &err);
    if (r != QN_OK)
        goto fail;
    if (secret.data == NULL) {
        print_stage("-", _(qn_stage_name(QN_STAGE_AUTH)));
        printf(_("not tried: no secret\n"));
        err = cred_err;
        goto done;
    }
    r = qn_mailer_auth(m, &secret, &err);
    if (r != QN_OK)
        goto fail;
    r = qn_mailer_probe_sender(m, &err);
    if (r != QN_OK)
        goto fail;
    quiet = true;
    if (test_to != NULL) {
        r = send_test(cli, m, test_to, &err);
        if (r != QN_OK)
            goto fail;
        snprintf(detail, sizeof(detail), _("test mail accepted for %s"), test_to);
        print_stage("✓", _("send"));
        printf("%s\n", detail);
    }
    qn_mailer_close(m);
    qn_error_clear(&err);
    printf(_("All checks passed.\n"));
    goto done;
fail:
    print_fail(cli, &err);
done:
    qn_secret_wipe(&secret);
    qn_mailer_free(m);
    return qn_cli_exit_code(&err);
}
