/* qqnotify check: walk every stage from the configuration to a test mail, one
 * line per stage, and stop at the first failure with its cause and fix.
 * With --route NAME the stages of a chat robot route instead: the route's
 * configuration, its secret, DNS, TCP and TLS to its host, and with
 * --send-test a signed test message (a robot's key is checked by nothing
 * else). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "cred.h"
#include "http.h"
#include "mailer.h"
#include "mime.h"
#include "text.h"
#include "webhook.h"

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

static void print_fail(const struct qn_cli *cli, const char *provider, const struct qn_error *err)
{
    const struct qn_diagnosis *d =
        qn_diag_lookup(provider != NULL ? provider : cli->cfg.provider, err);
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

/* The configuration, or its stage failed: the loader has said why. */
static int load_config(struct qn_cli *cli)
{
    int rc = qn_cli_load_config(cli);

    if (rc != QN_EXIT_OK) {
        print_stage("✗", _(qn_stage_name(QN_STAGE_CONFIG)));
        printf("%s\n", cli->config_path);
    }
    return rc;
}

/* ---- a chat robot route -------------------------------------------------------------------- */

/* The host of URL (https://HOST[:PORT]/...) into OUT. */
static void url_host(const char *url, char *out, size_t n)
{
    const char *h = strstr(url, "://"), *end;

    h = h != NULL ? h + 3 : url;
    end = h + strcspn(h, ":/");
    if (h[0] == '[')
        end = h + strcspn(h, "]") + 1;
    snprintf(out, n, "%.*s", (int)(end - h), h);
}

static enum qn_status send_route_test(struct qn_webhook *w, struct qn_error *err)
{
    char host[256] = "localhost", when[64], text[1024];
    time_t now = time(NULL);
    struct tm tm;

    if (gethostname(host, sizeof(host) - 1) != 0)
        snprintf(host, sizeof(host), "localhost");
    localtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %z", &tm);
    snprintf(text, sizeof(text),
             "这是 qqnotify 的测试消息：%s 上的配置可以正常发送。\n"
             "This is a qqnotify test message: the setup on %s can send.\n"
             "发送时间 / sent at: %s\n",
             host, host, when);
    return qn_webhook_send(w, "qqnotify 测试消息 / test message", text, err);
}

/* --route NAME: the route's stages, one line each. */
static int check_route(struct qn_cli *cli, const char *name, bool send_test)
{
    const struct qn_route *route = qn_routes_find(&cli->cfg.routes, name);
    struct qn_webhook_options wo = {.cfg = &cli->cfg};
    const char *provider;
    struct qn_webhook *w = NULL;
    struct qn_error err, cred_err;
    char detail[1200], source[QN_CRED_SOURCE_MAX], host[256], address[64];
    bool have_secret;
    int rc;

    qn_error_clear(&err);
    qn_error_clear(&cred_err);
    if (route == NULL) {
        print_stage("✗", _(qn_stage_name(QN_STAGE_CONFIG)));
        printf(_("%s declares no route %s\n"), cli->config_path, name);
        return QN_EXIT_CONFIG;
    }
    provider = qn_route_type_name(route->type);
    snprintf(detail, sizeof(detail), _("%s: route %s, %s, %s, format %s%s%s"), cli->config_path,
             route->name, provider, route->url,
             route->format == QN_ROUTE_FORMAT_MARKDOWN ? "markdown"
             : route->format == QN_ROUTE_FORMAT_POST   ? "post"
                                                       : "text",
             route->proxy[0] ? _(", proxy ") : "", route->proxy);
    print_ok(QN_STAGE_CONFIG, detail);
    wo.route = route;
    if (qn_http_global_init() != QN_OK || qn_webhook_new(&wo, &w) != QN_OK) {
        qn_error_set(&err, QN_ENOMEM, QN_STAGE_LOCAL, "cannot set up the route's session");
        goto fail;
    }
    /* A missing secret is reported, but DNS and TLS are still worth checking. */
    have_secret = qn_webhook_open(w, source, &cred_err) == QN_OK;
    if (have_secret) {
        snprintf(detail, sizeof(detail), _("secret from %s"), source);
        print_ok(QN_STAGE_CREDENTIAL, detail);
    } else {
        print_fail(cli, provider, &cred_err);
    }
    if (qn_webhook_probe(w, address, sizeof(address), &err) != QN_OK)
        goto fail;
    url_host(route->url, host, sizeof(host));
    snprintf(detail, sizeof(detail), "%s → %s", host, address);
    print_ok(QN_STAGE_RESOLVE, detail);
    snprintf(detail, sizeof(detail), _("TLS to %s verified (%s)"), host,
             route->ca_file[0] ? route->ca_file : _("the system's trust store"));
    print_ok(QN_STAGE_TLS, detail);
    if (!have_secret) {
        print_stage("-", _(qn_stage_name(QN_STAGE_HTTP)));
        printf(_("not tried: no secret\n"));
        err = cred_err;
        goto done;
    }
    if (!send_test) {
        print_stage("-", _(qn_stage_name(QN_STAGE_HTTP)));
        printf(_("not tried: only a message shows whether the robot takes the key; add "
                 "--send-test\n"));
        printf(_("All checks passed.\n"));
        goto done;
    }
    if (send_route_test(w, &err) != QN_OK)
        goto fail;
    print_stage("✓", _("send"));
    printf(_("%s accepted a signed test message\n"), provider);
    printf(_("All checks passed.\n"));
    qn_error_clear(&err);
    goto done;
fail:
    print_fail(cli, provider, &err);
done:
    rc = qn_cli_exit_code(&err);
    qn_webhook_free(w);
    return rc;
}

/* The name given with --route (or --route=NAME), or NULL: with it --send-test takes no
 * address, so it must be known before the options are read. */
static const char *route_arg(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--route") == 0 && i + 1 < argc)
            return argv[i + 1];
        if (strncmp(argv[i], "--route=", 8) == 0)
            return argv[i] + 8;
    }
    return NULL;
}

static int check_route_command(struct qn_cli *cli, const char *name, int argc, char **argv)
{
    static const struct option opts[] = {
        {"route", required_argument, NULL, 'r'},
        {"send-test", no_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    bool send_test = false;
    int c, rc;

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 's')
            send_test = true;
        else if (c != 'r')
            return QN_EXIT_USAGE;
    }
    if (optind != argc) {
        fprintf(stderr, _("qqnotify check: unexpected argument '%s'\n"), argv[optind]);
        return QN_EXIT_USAGE;
    }
    rc = load_config(cli);
    return rc != QN_EXIT_OK ? rc : check_route(cli, name, send_test);
}

int qn_cmd_check(struct qn_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"send-test", required_argument, NULL, 's'},
        {"route", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *test_to = NULL, *route;
    struct qn_mailer *m = NULL;
    struct qn_secret secret = {0};
    struct qn_error err, cred_err;
    char detail[1024], source[QN_CRED_SOURCE_MAX];
    bool quiet = false;
    enum qn_status r;
    int c, rc;

    qn_error_clear(&err);
    qn_error_clear(&cred_err);
    route = route_arg(argc, argv);
    /* --route smtp is the mail route: the checks below. */
    if (route != NULL && strcmp(route, QN_ROUTE_SMTP) != 0)
        return check_route_command(cli, route, argc, argv);
    while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            test_to = optarg;
            break;
        case 'r': /* --route smtp */
            break;
        case 'h':
            printf(_("Usage: qqnotify check [--send-test ADDR]\n"
                     "       qqnotify check --route NAME [--send-test]\n"
                     "Checks configuration, secret, DNS, TCP, TLS and certificate, greeting, "
                     "EHLO, STARTTLS, AUTH and the sender; --send-test also sends a test mail.\n"
                     "With --route, a chat robot route: its configuration, secret, DNS and TLS; "
                     "--send-test also sends a signed test message.\n"));
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

    rc = load_config(cli);
    if (rc != QN_EXIT_OK)
        return rc;
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
        print_fail(cli, NULL, &cred_err);
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
    print_fail(cli, NULL, &err);
done:
    qn_secret_wipe(&secret);
    qn_mailer_free(m);
    return qn_cli_exit_code(&err);
}
