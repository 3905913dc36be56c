/* qqnotify send: one mail now, body from standard input, outcome reported. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "mailer.h"

#define BODY_MAX (8u * 1024 * 1024) /* a larger body is refused: alerts are small */

/* Read all of FD into OUT (bounded by OUT's max). */
static enum qn_status read_all(int fd, struct qn_buf *out)
{
    char chunk[16384];
    ssize_t n;
    enum qn_status r;

    for (;;) {
        n = read(fd, chunk, sizeof(chunk));
        if (n == 0)
            return QN_OK;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return QN_EIO;
        }
        r = qn_buf_append(out, chunk, (size_t)n);
        if (r != QN_OK)
            return r;
    }
}

static enum qn_status read_file(const char *path, struct qn_buf *out)
{
    enum qn_status r;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return QN_EIO;
    r = read_all(fd, out);
    close(fd);
    return r;
}

/* Join repeated --to options with commas into LIST. */
static int add_recipients(struct qn_buf *list, const char *arg)
{
    if (list->len > 0 && qn_buf_putc(list, ',') != QN_OK)
        return -1;
    return qn_buf_puts(list, arg) == QN_OK ? 0 : -1;
}

/* Send MSG to every recipient over a session of its own; ERR says what failed. */
static enum qn_status deliver(struct qn_cli *cli, const struct qn_buf *msg, struct qn_error *err)
{
    struct qn_mailer *m = NULL;
    enum qn_status r;

    r = qn_mailer_new(&cli->cfg, &m);
    if (r != QN_OK)
        return qn_error_set(err, r, QN_STAGE_LOCAL, "cannot allocate the mail session");
    r = qn_mailer_send(m, NULL, 0, msg->data, msg->len, err);
    /* The message is accepted: a failing QUIT changes nothing for the user. */
    if (r == QN_OK)
        qn_mailer_close(m);
    qn_mailer_free(m);
    return r;
}

int qn_cmd_send(struct qn_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"to", required_argument, NULL, 't'},
        {"subject", required_argument, NULL, 's'},
        {"html", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct qn_buf to_list, body, html, msg;
    const char *subject = NULL, *html_path = NULL;
    struct qn_mailer_content content = {0};
    struct qn_error err;
    enum qn_status r;
    int c, rc = QN_EXIT_SOFTWARE;

    qn_buf_init(&to_list, 64 * 1024);
    qn_buf_init(&body, BODY_MAX);
    qn_buf_init(&html, BODY_MAX);
    qn_buf_init(&msg, QN_MAILER_MESSAGE_MAX);
    qn_error_clear(&err);

    while ((c = getopt_long(argc, argv, "t:s:H:h", opts, NULL)) != -1) {
        switch (c) {
        case 't':
            if (add_recipients(&to_list, optarg) != 0) {
                fprintf(stderr, _("qqnotify send: too many recipients (at most %d)\n"),
                        QN_CONFIG_MAX_RCPT);
                rc = QN_EXIT_USAGE;
                goto out;
            }
            break;
        case 's':
            subject = optarg;
            break;
        case 'H':
            html_path = optarg;
            break;
        case 'h':
            printf(_("Usage: qqnotify send [--to ADDR[,ADDR...]] --subject TEXT [--html FILE] "
                     "< BODY\n"
                     "Without --to the mail goes to [notify] to of the configuration.\n"));
            rc = QN_EXIT_OK;
            goto out;
        default:
            rc = QN_EXIT_USAGE;
            goto out;
        }
    }
    if (optind != argc || subject == NULL) {
        fprintf(stderr, _("qqnotify send: --subject is required and the body is read from "
                          "standard input; see 'qqnotify send --help'\n"));
        rc = QN_EXIT_USAGE;
        goto out;
    }

    rc = qn_cli_load_config(cli);
    if (rc != QN_EXIT_OK)
        goto out;
    qn_cli_warn_insecure(cli);
    if (to_list.len > 0 && qn_config_set_recipients(&cli->cfg, to_list.data) != QN_OK) {
        fprintf(stderr, _("qqnotify send: invalid --to '%s': give addresses like "
                          "user@example.com, separated by commas (at most %d)\n"),
                to_list.data, QN_CONFIG_MAX_RCPT);
        rc = QN_EXIT_USAGE;
        goto out;
    }
    if (cli->cfg.n_to == 0) {
        fprintf(stderr, _("qqnotify send: no recipient: give --to or set [notify] to in %s\n"),
                cli->config_path);
        rc = QN_EXIT_USAGE;
        goto out;
    }

    r = read_all(STDIN_FILENO, &body);
    if (r != QN_OK) {
        fprintf(stderr, r == QN_ETOOBIG
                            ? _("qqnotify send: the body on standard input is larger than 8 MiB\n")
                            : _("qqnotify send: cannot read the body from standard input\n"));
        rc = r == QN_EIO ? QN_EXIT_IOERR : r == QN_ENOMEM ? QN_EXIT_OSERR : QN_EXIT_DATAERR;
        goto out;
    }
    if (html_path != NULL && (r = read_file(html_path, &html)) != QN_OK) {
        fprintf(stderr, _("qqnotify send: cannot read HTML file %s: %s\n"), html_path,
                r == QN_ETOOBIG ? _("larger than 8 MiB") : strerror(errno));
        rc = QN_EXIT_DATAERR;
        goto out;
    }

    content.subject = subject;
    content.text = body.data ? body.data : "";
    content.html = html_path != NULL ? (html.data ? html.data : "") : NULL;
    r = qn_mailer_build(&cli->cfg, &content, &msg);
    if (r != QN_OK) {
        fprintf(stderr, _("qqnotify send: cannot build the message: %s\n"),
                _(qn_strerror(r)));
        rc = r == QN_ENOMEM ? QN_EXIT_OSERR : QN_EXIT_DATAERR;
        goto out;
    }

    r = deliver(cli, &msg, &err);
    if (r != QN_OK) {
        qn_cli_report(cli, &err);
        rc = qn_cli_exit_code(&err);
        goto out;
    }
    qn_log(&cli->log, LOG_INFO, _("sent to %zu recipient(s) through %s:%u"), cli->cfg.n_to,
           cli->cfg.host, cli->cfg.port);
    rc = QN_EXIT_OK;
out:
    qn_buf_free(&to_list);
    qn_buf_free(&body);
    qn_buf_free(&html);
    qn_buf_free(&msg);
    return rc;
}
