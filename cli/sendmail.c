/*
 * qqnotify sendmail: the sendmail(8) command line that cron (MAILTO),
 * mail/mailx, smartd, mdadm and unattended-upgrades call.  Installed as
 * /usr/sbin/sendmail (a link to qqnotify), it is entered directly from
 * main() with every argument its own.
 *
 * Any local user may call it.  The message is read from standard input
 * (bounded by [spool] max_entry_size), its recipients found (the
 * arguments, and To, Cc and Bcc with -t), and it is submitted as it was
 * given through qqnotify-drop (cli/submit.c); the exit status is 0 once it
 * is durably in maildrop/.  The sender, not this process, rewrites it for
 * the account when it picks it up (header.h through cli/submission.c: From
 * is the account with the display name "from user NAME", the Subject says
 * it too, Bcc removed, 8-bit headers and bodies encoded): nothing the user
 * writes decides how the mail looks.  When this process may read the
 * configuration (root), it tries the same rewriting first, so what the
 * sender would refuse (a message for local users only while [notify] to is
 * empty, one too large once encoded) is refused here with its reason.
 * Root's sendmail then starts `qqnotify flush` detached (common/spawn.h),
 * not waited for: the caller (often cron) never waits for the network.
 *
 * Options (sendmail's, as Postfix and Sendmail 8 define them):
 *   -t             recipients also from To, Cc and Bcc (Bcc is removed)
 *   -i, -oi        a line with a single "." does not end the input
 *                  (without them it does, as in sendmail)
 *   -O IgnoreDots[=true]  the same, long form
 *   -f ADDR, -r ADDR      the sender; kept in Reply-To (the envelope sender
 *                  is always the account: QQ refuses any other, and the
 *                  From display name says which user sent it)
 *   -F NAME        accepted and ignored (the display name is "from user NAME")
 *   -C FILE        our configuration file (the global -c is not there when
 *                  called as "sendmail")
 *   -v             print the queue id
 *   --no-flush     root: do not start `qqnotify flush` (tests, and batch
 *                  senders that flush once at the end); other users never
 *                  start it (the path unit on maildrop/ does)
 *   -bm            deliver mail (the default)
 *   -bi            initialise aliases (newaliases): nothing to do, exit 0
 * Accepted and ignored (they tune a real MTA's queue and bounces, which
 * the spool and `qqnotify flush` decide here): -B TYPE, -G, -h N, -L TAG,
 * -N DSN, -o OPTION (-odi, -oem, -oee, -om...), -O OPTION=VALUE (other
 * than IgnoreDots), -p PROTOCOL, -R RET, -U, -V ENVID, -X FILE.
 * Refused (exit 64): -bs (SMTP on stdin), -bp (use `qqnotify queue`), -bd,
 * -bv, -bt and other modes, -q (use `qqnotify flush`).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "enqueue.h"
#include "header.h"
#include "message.h"
#include "text.h"

_Static_assert(QN_HEADER_RCPT_MAX <= QN_SPOOL_RCPT_MAX,
               "the header module must not find more recipients than the spool takes");

enum {
    OPT_NO_FLUSH = 0x100,
    OPT_HELP,
};

struct sendmail_args {
    bool extract;     /* -t */
    bool ignore_dots; /* -i, -oi, -O IgnoreDots */
    bool no_flush;    /* --no-flush */
    bool verbose;     /* -v */
    const char *from; /* -f / -r */
    char mode;        /* -b: 'm' (deliver) or 'i' (aliases) */
};

static void usage(FILE *out)
{
    fprintf(out, _("Usage: sendmail [-t] [-i] [-f FROM] [-C CONFIG] [-v] [--no-flush] "
                   "[RECIPIENT...] < MESSAGE\n"
                   "   or: qqnotify [-c CONFIG] sendmail [OPTIONS] [RECIPIENT...] < MESSAGE\n"
                   "Queue the message on standard input (any user may); the sender mails it from "
                   "the configured account as \"from user NAME\".\n"
                   "  -t          take recipients from To, Cc and Bcc too (Bcc is removed)\n"
                   "  -i, -oi     a line with only '.' does not end the message\n"
                   "  -f FROM     the original sender (kept in Reply-To)\n"
                   "  -C FILE     configuration file\n"
                   "  -v          print the submission's id\n"
                   "  --no-flush  root: queue only; do not start 'qqnotify flush'\n"
                   "Local recipients such as 'root' go to [notify] to of the configuration.\n"
                   "Exit 0 once the message is safely in the spool.\n"));
}

/* "-O Name=value": only IgnoreDots means something here. */
static void long_option(struct sendmail_args *a, const char *opt)
{
    size_t n = strcspn(opt, "=");
    const char *v = opt[n] == '=' ? opt + n + 1 : "true";

    if (n == strlen("IgnoreDots") && strncasecmp(opt, "IgnoreDots", n) == 0)
        a->ignore_dots = strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
                         strcmp(v, "1") == 0 || strcasecmp(v, "t") == 0 || strcasecmp(v, "y") == 0;
}

/* Parse sendmail's options.  Returns -1 to go on, else the exit code. */
static int parse_args(struct qn_cli *cli, struct sendmail_args *a, int argc, char **argv)
{
    static const struct option opts[] = {
        {"no-flush", no_argument, NULL, OPT_NO_FLUSH},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    int c;

    memset(a, 0, sizeof(*a));
    a->mode = 'm';
    optind = 0; /* glibc: re-initialise, whoever called getopt before */
    while ((c = getopt_long(argc, argv, "tiB:b:C:F:f:Gh:L:N:O:o:p:q::R:r:UV:vX:", opts, NULL)) !=
           -1) {
        switch (c) {
        case 't':
            a->extract = true;
            break;
        case 'i':
            a->ignore_dots = true;
            break;
        case 'o':
            if (strcmp(optarg, "i") == 0)
                a->ignore_dots = true;
            break; /* -odi, -oem...: queue and bounce tuning of a real MTA */
        case 'O':
            long_option(a, optarg);
            break;
        case 'f':
        case 'r':
            a->from = optarg;
            break;
        case 'F':
            break; /* the display name says which user sent it (the sender writes it) */
        case 'C':
            cli->config_path = optarg;
            cli->config_explicit = true;
            break;
        case 'v':
            a->verbose = true;
            break;
        case 'b':
            if (strcmp(optarg, "m") == 0 || strcmp(optarg, "i") == 0) {
                a->mode = optarg[0];
                break;
            }
            if (strcmp(optarg, "p") == 0)
                fprintf(stderr, _("sendmail: -bp (list the queue) is not supported; run "
                                  "'qqnotify queue'\n"));
            else
                fprintf(stderr,
                        _("sendmail: mode -b%s is not supported; only -bm (deliver "
                          "a message from standard input) is\n"),
                        optarg);
            return QN_EXIT_USAGE;
        case 'q':
            fprintf(stderr, _("sendmail: -q (run the queue) is not supported; run "
                              "'qqnotify flush'\n"));
            return QN_EXIT_USAGE;
        case 'B':
        case 'G':
        case 'h':
        case 'L':
        case 'N':
        case 'p':
        case 'R':
        case 'U':
        case 'V':
        case 'X':
            break; /* accepted for compatibility; nothing to tune here */
        case OPT_NO_FLUSH:
            a->no_flush = true;
            break;
        case OPT_HELP:
            usage(stdout);
            return QN_EXIT_OK;
        default:
            usage(stderr);
            return QN_EXIT_USAGE;
        }
    }
    return -1;
}

/* True when the line at LINE (N bytes with its '\n') is a lone ".". */
static bool dot_line(const char *line, size_t n)
{
    return (n == 2 && line[0] == '.') || (n == 3 && memcmp(line, ".\r\n", 3) == 0);
}

/*
 * Read the message from FD into MSG (bounded by its max: QN_ETOOBIG past
 * it).  Unless IGNORE_DOTS, a line with a single "." ends it (the line is
 * not part of the message) and nothing after it is read.
 */
static enum qn_status read_message(int fd, struct qn_buf *msg, bool ignore_dots)
{
    char chunk[16384];
    size_t line_start = 0, take, left;
    const char *p, *lf;
    enum qn_status r;
    ssize_t n;

    for (;;) {
        n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return QN_EIO;
        if (n == 0)
            break;
        /* Line by line, so a "." line is seen before anything after it counts. */
        for (p = chunk, left = (size_t)n; left > 0; p += take, left -= take) {
            lf = memchr(p, '\n', left);
            take = lf != NULL ? (size_t)(lf - p) + 1 : left;
            r = qn_buf_append(msg, p, take);
            if (r != QN_OK)
                return r;
            if (lf == NULL)
                continue;
            if (!ignore_dots && dot_line(msg->data + line_start, msg->len - line_start)) {
                msg->len = line_start;
                msg->data[msg->len] = '\0';
                return QN_OK;
            }
            line_start = msg->len;
        }
    }
    /* A "." as the last line without a line end ends the message too. */
    if (!ignore_dots && msg->len - line_start == 1 && msg->data[line_start] == '.') {
        msg->len = line_start;
        msg->data[msg->len] = '\0';
    }
    if (msg->data == NULL)
        return qn_buf_puts(msg, ""); /* an empty message is still a message */
    return QN_OK;
}

/* The refusal of a message past the header module's or the spool's limits. */
static void too_large(const struct qn_cli *cli)
{
    fprintf(stderr,
            _("sendmail: the message is too large: at most %d header lines in %d KiB, %d "
              "recipients, and %zu bytes once encoded ([spool] max_entry_size); nothing was "
              "queued.\n"),
            QN_HEADER_FIELDS_MAX, QN_HEADER_BLOCK_MAX / 1024, QN_HEADER_RCPT_MAX,
            cli->cfg.max_entry_size);
}

/* Explain a failed rewrite; the exit code. */
static int report_rewrite_error(const struct qn_cli *cli, enum qn_status r,
                                const struct qn_header_result *res)
{
    switch (r) {
    case QN_EINVAL:
        if (res->n_local > 0 && cli->cfg.n_to == 0) {
            fprintf(stderr,
                    _("sendmail: the message is for local users only (such as root), and [notify] "
                      "to is empty in %s; nothing was queued.\n"
                      "  fix: set [notify] to = you@example.com: local mail goes there\n"),
                    cli->config_path);
            return QN_EXIT_CONFIG;
        }
        if (res->n_invalid > 0)
            fprintf(stderr,
                    _("sendmail: no valid recipient ('%s' is not an address like "
                      "user@example.com); nothing was queued.\n"),
                    res->first_invalid);
        else
            fprintf(stderr, _("sendmail: no recipient: give addresses as arguments, or -t to "
                              "read To, Cc and Bcc; nothing was queued.\n"));
        return QN_EXIT_DATAERR;
    case QN_ETOOBIG:
        too_large(cli);
        return QN_EXIT_DATAERR;
    case QN_ENOMEM:
        fprintf(stderr, _("sendmail: out of memory; nothing was queued.\n"));
        return QN_EXIT_OSERR;
    default:
        fprintf(stderr, _("sendmail: cannot prepare the message: %s; nothing was queued.\n"),
                _(qn_strerror(r)));
        return QN_EXIT_SOFTWARE;
    }
}

/* The envelope recipients of a submission, each one address (local ones such as "root"
 * included: the sender maps them to [notify] to). */
struct rcpts {
    char addr[QN_SPOOL_RCPT_MAX][QN_SPOOL_ADDRESS_MAX];
    size_t n;
    size_t n_invalid;
    char first_invalid[128];
    bool too_many;
};

static enum qn_status take_rcpt(void *arg, const struct qn_message_mailbox *mb)
{
    struct rcpts *r = arg;

    if (mb->addr_bad || mb->addr_len == 0 || mb->addr_len >= QN_SPOOL_ADDRESS_MAX ||
        qn_enqueue_address_check(mb->addr, false) != QN_OK) {
        if (r->n_invalid++ == 0)
            qn_text_sanitize_line(mb->addr, mb->addr_len, r->first_invalid,
                                  sizeof(r->first_invalid));
        return QN_OK;
    }
    for (size_t i = 0; i < r->n; i++) {
        if (strcasecmp(r->addr[i], mb->addr) == 0)
            return QN_OK;
    }
    if (r->n == QN_SPOOL_RCPT_MAX) {
        r->too_many = true;
        return QN_OK;
    }
    memcpy(r->addr[r->n++], mb->addr, mb->addr_len + 1);
    return QN_OK;
}

/* The arguments' recipients, and with EXTRACT those of To, Cc and Bcc. */
static enum qn_status find_rcpts(const struct qn_buf *msg, char **args, size_t n_args, bool extract,
                                 struct rcpts *ret)
{
    static const char *const fields[] = {"to", "cc", "bcc"};
    struct qn_message *m = NULL;
    struct qn_buf value;
    enum qn_status r = QN_OK;

    for (size_t i = 0; r == QN_OK && i < n_args; i++)
        r = qn_message_addresses(args[i], strlen(args[i]), take_rcpt, ret);
    if (r != QN_OK || !extract)
        return r;
    m = malloc(sizeof(*m));
    if (m == NULL)
        return QN_ENOMEM;
    qn_buf_init(&value, QN_MESSAGE_BLOCK_MAX);
    r = qn_message_parse(m, msg->data, msg->len);
    for (size_t i = 0; r == QN_OK && i < m->n_fields; i++) {
        for (size_t k = 0; r == QN_OK && k < sizeof(fields) / sizeof(fields[0]); k++) {
            if (!qn_message_field_is(m, &m->fields[i], fields[k]))
                continue;
            r = qn_message_unfold(m, &m->fields[i], &value);
            if (r == QN_OK)
                r = qn_message_addresses(value.data, value.len, take_rcpt, ret);
        }
    }
    qn_buf_free(&value);
    free(m);
    return r;
}

/* With a configuration this process may read: rewrite as the sender will, to refuse now
 * what it would refuse.  -1 to go on, else the exit code. */
static int try_rewrite(const struct qn_cli *cli, const struct qn_buf *msg, const struct rcpts *rc,
                       const struct sendmail_args *a)
{
    const char *alert[QN_CONFIG_MAX_RCPT], *rcpt[QN_SPOOL_RCPT_MAX];
    struct qn_header_options ho;
    struct qn_header_result *res = malloc(sizeof(*res));
    struct qn_buf out;
    char host[QN_CLI_HOST_MAX + 1];
    enum qn_status r;
    int code = -1;

    if (res == NULL) {
        fprintf(stderr, _("sendmail: out of memory; nothing was queued.\n"));
        return QN_EXIT_OSERR;
    }
    qn_cli_host_name(host, sizeof(host));
    for (size_t i = 0; i < cli->cfg.n_to; i++)
        alert[i] = cli->cfg.to[i];
    for (size_t i = 0; i < rc->n; i++)
        rcpt[i] = rc->addr[i];
    memset(&ho, 0, sizeof(ho));
    ho.account = cli->cfg.user;
    ho.from_name = cli->cfg.from_name;
    ho.envelope_from = a->from;
    ho.host = host;
    ho.rcpt_args = rcpt;
    ho.n_rcpt_args = rc->n;
    ho.alert_rcpt = alert;
    ho.n_alert_rcpt = cli->cfg.n_to;
    qn_buf_init(&out, cli->cfg.max_entry_size);
    r = qn_header_rewrite(msg->data, msg->len, &ho, &out, res);
    if (r != QN_OK)
        code = report_rewrite_error(cli, r, res);
    else if (res->n_dropped > 0)
        qn_log(&cli->log, LOG_WARNING,
               _("%zu header field(s) with 8-bit text and a name over %d characters dropped"),
               res->n_dropped, QN_MIME_HEADER_NAME_MAX);
    qn_buf_free(&out);
    free(res);
    return code;
}

int qn_cmd_sendmail(struct qn_cli *cli, int argc, char **argv)
{
    const char *rcpt[QN_SPOOL_RCPT_MAX];
    struct rcpts *rc = NULL;
    struct sendmail_args a;
    struct qn_buf msg, entry;
    char id[QN_SPOOL_ID_MAX];
    enum qn_status r;
    int rc_exit;

    qn_buf_init(&msg, 0);
    qn_buf_init(&entry, 0);
    rc_exit = parse_args(cli, &a, argc, argv);
    if (rc_exit >= 0)
        goto out;
    if (a.mode == 'i') {
        rc_exit = QN_EXIT_OK; /* newaliases: there are no aliases to build */
        goto out;
    }
    if (!a.extract && optind >= argc) {
        fprintf(stderr, _("sendmail: no recipient: give addresses as arguments, or -t to read "
                          "To, Cc and Bcc\n"));
        rc_exit = QN_EXIT_USAGE;
        goto out;
    }
    rc_exit = qn_cli_load_config_submit(cli);
    if (rc_exit != QN_EXIT_OK)
        goto out;

    qn_buf_init(&msg, cli->cfg.max_entry_size);
    r = read_message(STDIN_FILENO, &msg, a.ignore_dots);
    if (r != QN_OK) {
        if (r == QN_ETOOBIG)
            fprintf(stderr,
                    _("sendmail: the message is larger than [spool] max_entry_size (%zu "
                      "bytes in %s); nothing was queued.\n"),
                    cli->cfg.max_entry_size, cli->config_path);
        else
            fprintf(stderr, _("sendmail: cannot read the message from standard input: %s\n"),
                    r == QN_EIO ? strerror(errno) : _(qn_strerror(r)));
        rc_exit = r == QN_ETOOBIG ? QN_EXIT_DATAERR : QN_EXIT_IOERR;
        goto out;
    }

    rc = calloc(1, sizeof(*rc));
    if (rc == NULL) {
        fprintf(stderr, _("sendmail: out of memory; nothing was queued.\n"));
        rc_exit = QN_EXIT_OSERR;
        goto out;
    }
    r = find_rcpts(&msg, argv + optind, (size_t)(argc - optind), a.extract, rc);
    if (r != QN_OK || rc->too_many) {
        too_large(cli);
        rc_exit = r == QN_ENOMEM ? QN_EXIT_OSERR : QN_EXIT_DATAERR;
        goto out;
    }
    if (rc->n == 0) {
        if (rc->n_invalid > 0)
            fprintf(stderr,
                    _("sendmail: no valid recipient ('%s' is not an address like "
                      "user@example.com); nothing was queued.\n"),
                    rc->first_invalid);
        else
            fprintf(stderr, _("sendmail: no recipient: give addresses as arguments, or -t to "
                              "read To, Cc and Bcc; nothing was queued.\n"));
        rc_exit = QN_EXIT_DATAERR;
        goto out;
    }
    if (rc->n_invalid > 0)
        qn_log(&cli->log, LOG_WARNING,
               _("%zu recipient(s) skipped: not an address (the first: '%s')"), rc->n_invalid,
               rc->first_invalid);
    if (cli->cfg.path[0] != '\0') {
        rc_exit = try_rewrite(cli, &msg, rc, &a);
        if (rc_exit >= 0)
            goto out;
    }
    for (size_t i = 0; i < rc->n; i++)
        rcpt[i] = rc->addr[i];
    qn_buf_init(&entry, cli->cfg.max_entry_size + QN_SPOOL_HEADER_MAX);
    r = qn_enqueue_format_message(
        a.from != NULL && qn_enqueue_address_check(a.from, true) == QN_OK ? a.from : "", rcpt,
        rc->n, msg.data, msg.len, &entry);
    if (r != QN_OK) {
        fprintf(stderr, _("sendmail: cannot prepare the message: %s; nothing was queued.\n"),
                _(qn_strerror(r)));
        rc_exit = r == QN_ENOMEM ? QN_EXIT_OSERR : QN_EXIT_DATAERR;
        goto out;
    }
    rc_exit = qn_cli_submit(cli, "sendmail", &entry, id);
    if (rc_exit != QN_EXIT_OK)
        goto out;
    if (a.verbose)
        printf(_("queued as %s for %zu recipient(s)\n"), id, rc->n);
    if (fflush(stdout) != 0)
        qn_log(&cli->log, LOG_WARNING, "%s", _("cannot write to standard output"));
    if (!a.no_flush && qn_cli_may_start_sender())
        qn_cli_start_flush(cli); /* detached (common/spawn.h); a failure only warns */
    rc_exit = QN_EXIT_OK;
out:
    free(rc);
    qn_buf_free(&msg);
    qn_buf_free(&entry);
    return rc_exit;
}
