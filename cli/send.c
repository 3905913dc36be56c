/* qqnotify send: one mail now, body from standard input, outcome reported;
 * the mail counts against the sending limits shared with `qqnotify flush`. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "mailer.h"
#include "quota.h"
#include "spool.h"

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

/*
 * The sending limits shared with `qqnotify flush` (common/quota.h): the
 * spool's state/ratelimit.  A user who cannot open the spool (only root
 * and the spool's user may) still sends; the mail is then neither checked against the
 * limits nor counted, and one line says so with WHY.
 */
struct shared_quota {
    struct qn_spool *sp; /* NULL: not available, see why */
    struct qn_quota *q;
    char why[512];
};

static void quota_open(struct qn_cli *cli, struct shared_quota *sq)
{
    struct qn_spool_report check;
    enum qn_status r;

    /* Never creating anything: what root made here the sender could not change. */
    r = qn_spool_open(cli->cfg.spool_dir, 0, 0, &sq->sp);
    if (r != QN_OK) {
        const char *cause = r == QN_EIO ? strerror(errno) : _(qn_strerror(r));

        if (r == QN_ENOTFOUND)
            cause = strerror(ENOENT);
        snprintf(sq->why, sizeof(sq->why), _("cannot open the spool %s: %s"), cli->cfg.spool_dir,
                 cause);
        return;
    }
    if (qn_spool_check(sq->sp, qn_cli_spool_uid(cli), &check) == QN_ECONFIG) {
        snprintf(sq->why, sizeof(sq->why),
                 _("the spool %s is not used: its directory %s can be changed by other users"),
                 cli->cfg.spool_dir, check.where);
        goto unusable;
    }
    sq->q = malloc(sizeof(*sq->q));
    if (sq->q == NULL) {
        snprintf(sq->why, sizeof(sq->why), "%s", _(qn_strerror(QN_ENOMEM)));
        goto unusable;
    }
    qn_quota_init(sq->q);
    r = qn_quota_load(sq->q, sq->sp, (long long)time(NULL));
    if (r != QN_OK && r != QN_ENOTFOUND)
        qn_log(&cli->log, LOG_WARNING,
               _("the rate-limit state in the spool's state/ is unreadable (%s); starting from "
                 "an empty one"),
               _(qn_strerror(r)));
    return;
unusable:
    sq->sp = qn_spool_close(sq->sp);
}

static void quota_close(struct shared_quota *sq)
{
    qn_spool_close(sq->sp);
    free(sq->q);
}

static void print_time(char *out, size_t n, long long t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (localtime_r(&tt, &tm) == NULL || strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(out, n, "?");
}

/* True (after saying why, what limit and until when) when the limits allow
 * no mail now. */
static bool quota_spent(const struct qn_cli *cli, const struct shared_quota *sq)
{
    static const char *const keys[] = {
        [QN_RATELIMIT_MINUTE] = "max_per_minute",
        [QN_RATELIMIT_HOUR] = "max_per_hour",
        [QN_RATELIMIT_DAY] = "max_per_day",
    };
    const struct qn_ratelimit_config *lim = &cli->cfg.limits;
    const unsigned configured[] = {
        [QN_RATELIMIT_MINUTE] = lim->max_per_minute,
        [QN_RATELIMIT_HOUR] = lim->max_per_hour,
        [QN_RATELIMIT_DAY] = lim->max_per_day,
    };
    struct qn_ratelimit_block b;
    char when[32];

    if (sq->sp == NULL)
        return false;
    qn_ratelimit_explain(&sq->q->view, lim, (long long)time(NULL), &b);
    if (b.limit == QN_RATELIMIT_NONE)
        return false;
    print_time(when, sizeof(when), b.next);
    if (b.limit == QN_RATELIMIT_BACKOFF) {
        fprintf(stderr,
                _("qqnotify send: not sent: the mail server answered with a frequency limit, so "
                  "no mail goes before %s.\n"),
                when);
    } else {
        fprintf(stderr,
                _("qqnotify send: not sent: %s = %u in [limits] of %s is used up (mails sent by "
                  "qqnotify send and flush count together); the next mail may go at %s.\n"),
                keys[b.limit], b.allowed, cli->config_path, when);
        if (b.halved)
            fprintf(stderr,
                    _("  The limit is half of %u for a day after the mail server's last "
                      "frequency-limit reply.\n"),
                    configured[b.limit]);
    }
    fprintf(stderr, _("  fix: wait, or send anyway with --force\n"));
    return true;
}

/* Count the outcome of this mail in the shared limits: SENT, or the mail
 * server's frequency-limit reply ERR; one line when that cannot be done. */
static void quota_record(const struct qn_cli *cli, struct shared_quota *sq, bool sent,
                         const struct qn_error *err)
{
    const struct qn_diagnosis *d = sent ? NULL : qn_diag_lookup(cli->cfg.provider, err);
    long long now = (long long)time(NULL);
    enum qn_status r;

    if (!sent && (d == NULL || !d->rate_limited))
        return;
    if (sq->sp != NULL) {
        if (sent)
            qn_quota_record_sent(sq->q, now);
        else
            qn_quota_penalize(sq->q, now);
        r = qn_quota_commit(sq->q, sq->sp, now);
        if (r == QN_OK)
            return;
        snprintf(sq->why, sizeof(sq->why), _("cannot save the state in %s/state: %s"),
                 cli->cfg.spool_dir, r == QN_EIO ? strerror(errno) : _(qn_strerror(r)));
    }
    if (sent)
        qn_log(&cli->log, LOG_WARNING,
               _("this mail is not counted in the sending limits shared with `qqnotify flush`: "
                 "%s"),
               sq->why);
    else
        qn_log(&cli->log, LOG_WARNING,
               _("the mail server's frequency-limit reply is not recorded for `qqnotify flush`: "
                 "%s"),
               sq->why);
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
        {"to", required_argument, NULL, 't'},   {"subject", required_argument, NULL, 's'},
        {"html", required_argument, NULL, 'H'}, {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    struct qn_buf to_list, body, html, msg;
    const char *subject = NULL, *html_path = NULL;
    struct qn_mailer_content content = {0};
    struct shared_quota quota = {0};
    struct qn_error err;
    bool force = false;
    enum qn_status r;
    int c, rc = QN_EXIT_SOFTWARE;

    qn_buf_init(&to_list, 64 * 1024);
    qn_buf_init(&body, BODY_MAX);
    qn_buf_init(&html, BODY_MAX);
    qn_buf_init(&msg, QN_MAILER_MESSAGE_MAX);
    qn_error_clear(&err);

    while ((c = getopt_long(argc, argv, "t:s:H:fh", opts, NULL)) != -1) {
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
        case 'f':
            force = true;
            break;
        case 'h':
            printf(_("Usage: qqnotify send [--to ADDR[,ADDR...]] --subject TEXT [--html FILE] "
                     "[--force] < BODY\n"
                     "Without --to the mail goes to [notify] to of the configuration.\n"
                     "The mail counts against the sending limits ([limits]) together with "
                     "`qqnotify flush`;\nwhen they are used up it is not sent (exit 75) unless "
                     "--force is given.\n"));
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
        fprintf(stderr,
                _("qqnotify send: invalid --to '%s': give addresses like "
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
        fprintf(stderr, _("qqnotify send: cannot build the message: %s\n"), _(qn_strerror(r)));
        rc = r == QN_ENOMEM ? QN_EXIT_OSERR : QN_EXIT_DATAERR;
        goto out;
    }

    quota_open(cli, &quota);
    if (!force && quota_spent(cli, &quota)) {
        rc = QN_EXIT_TEMPFAIL;
        goto out;
    }
    r = deliver(cli, &msg, &err);
    if (r != QN_OK) {
        qn_cli_report(cli, &err);
        quota_record(cli, &quota, false, &err);
        rc = qn_cli_exit_code(&err);
        goto out;
    }
    qn_log(&cli->log, LOG_INFO, _("sent to %zu recipient(s) through %s:%u"), cli->cfg.n_to,
           cli->cfg.host, cli->cfg.port);
    quota_record(cli, &quota, true, NULL);
    rc = QN_EXIT_OK;
out:
    quota_close(&quota);
    qn_buf_free(&to_list);
    qn_buf_free(&body);
    qn_buf_free(&html);
    qn_buf_free(&msg);
    return rc;
}
