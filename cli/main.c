/*
 * qqnotify — send alert mail through QQ Mail (or any SMTP submission
 * server) and diagnose why it fails.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "i18n.h"
#include "secret.h"
#include "smtp.h"
#include "status.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        _("Usage: qqnotify [-c FILE] [--lang zh_CN|en] COMMAND [OPTIONS]\n"
          "\n"
          "Commands:\n"
          "  send [--to ADDR[,ADDR...]] --subject TEXT [--html FILE] [--force]\n"
          "                  send a mail now; the body is read from standard input\n"
          "  check [--send-test ADDR] | check --route NAME [--send-test]\n"
          "                  test the setup (or a chat robot route) stage by stage and explain\n"
          "                  any failure\n"
          "  catalog [--markdown]\n"
          "                  list every known failure with its cause and fix\n"
          "  notify [--kind NAME] [--subject TEXT] [--field KEY=VALUE]... [TEXT]\n"
          "                  queue one alert for scripts (backups, deploys, checks)\n"
          "  sendmail [-t] [-i] [-f FROM] [-F NAME] [RCPT...]\n"
          "                  queue a message from cron, mail(1) and other programs\n"
          "  flush [--quiet]\n"
          "                  deliver the spool within the sending limits, through the first\n"
          "                  healthy route of [notify] routes (the next when it fails)\n"
          "  queue [list | show ID | retry ID|all | drop ID]\n"
          "                  inspect the spool and act on entries\n"
          "  status [--json]\n"
          "                  each route's health, last success and failure, quota used;\n"
          "                  each queue's entries and the age of the oldest\n"
          "  silence add --match KEY=VALUE... --for DURATION|--until TIME | list | expire ID\n"
          "                  maintenance windows: matching events are not mailed\n"
          "  seen [list | forget USER[@SOURCE]]\n"
          "                  the logins seen so far ([login] notify = new)\n"
          "\n"
          "Options:\n"
          "  -c, --config FILE   configuration file (default %s)\n"
          "  --lang zh_CN|en     language of messages (default: config, then locale)\n"
          "  -h, --help          this help\n"
          "  -V, --version       version\n"),
        QN_CONFIG_DEFAULT_PATH);
}

/* The last component of PATH (argv[0] may be NULL with execve). */
static const char *base_name(const char *path)
{
    const char *slash;

    if (path == NULL)
        return "";
    slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"lang", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct qn_cli cli;
    const char *cmd;
    int c;

    memset(&cli, 0, sizeof(cli));
    cli.config_path = QN_CONFIG_DEFAULT_PATH;
    qn_config_defaults(&cli.cfg);
    qn_log_init(&cli.log, "qqnotify", STDERR_FILENO);

    /* A server closing the connection must be an error we report, not a
     * silent death: OpenSSL's writes can raise SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);

    qn_i18n_bind(QN_LOCALEDIR);
    qn_cli_set_language(&cli);

    /* Before any command can read the secret: no core dump, no reading of our memory by
     * another process of this user (send, check and flush hold it; the others exec them). */
    if (qn_secret_protect_process() != QN_OK) {
        fprintf(stderr, _("%s: cannot disable core dumps: %s\n"), "qqnotify", strerror(errno));
        return QN_EXIT_OSERR;
    }

    /* Installed as /usr/sbin/sendmail: every argument is sendmail's (no global -c;
     * sendmail -C FILE chooses the configuration). */
    if (strcmp(base_name(argv[0]), "sendmail") == 0)
        return qn_cmd_sendmail(&cli, argc, argv);

    while ((c = getopt_long(argc, argv, "+c:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cli.config_path = optarg;
            cli.config_explicit = true;
            break;
        case 'L':
            if (!qn_i18n_is_zh(optarg) && strncmp(optarg, "en", 2) != 0) {
                fprintf(stderr, _("qqnotify: unknown language '%s': use zh_CN or en\n"), optarg);
                return QN_EXIT_USAGE;
            }
            cli.lang_arg = optarg;
            qn_cli_set_language(&cli);
            break;
        case 'h':
            usage(stdout);
            return QN_EXIT_OK;
        case 'V':
            printf("qqnotify %s\n", QN_VERSION);
            return QN_EXIT_OK;
        default:
            usage(stderr);
            return QN_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return QN_EXIT_USAGE;
    }
    cmd = argv[optind];
    argc -= optind;
    argv += optind;
    optind = 0; /* glibc: 0 re-initialises getopt for the subcommand */

    if (strcmp(cmd, "send") == 0)
        return qn_cmd_send(&cli, argc, argv);
    if (strcmp(cmd, "check") == 0)
        return qn_cmd_check(&cli, argc, argv);
    if (strcmp(cmd, "catalog") == 0)
        return qn_cmd_catalog(&cli, argc, argv);
    if (strcmp(cmd, "flush") == 0)
        return qn_cmd_flush(&cli, argc, argv);
    if (strcmp(cmd, "queue") == 0)
        return qn_cmd_queue(&cli, argc, argv);
    if (strcmp(cmd, "status") == 0)
        return qn_cmd_status(&cli, argc, argv);
    if (strcmp(cmd, "silence") == 0)
        return qn_cmd_silence(&cli, argc, argv);
    if (strcmp(cmd, "seen") == 0)
        return qn_cmd_seen(&cli, argc, argv);
    if (strcmp(cmd, "notify") == 0)
        return qn_cmd_notify(&cli, argc, argv);
    if (strcmp(cmd, "sendmail") == 0)
        return qn_cmd_sendmail(&cli, argc, argv);
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return QN_EXIT_OK;
    }
    fprintf(stderr, _("qqnotify: unknown command '%s'; run 'qqnotify --help' for the list\n"), cmd);
    return QN_EXIT_USAGE;
}
