/* qqnotify notify: submit one structured event, for scripts (backups,
 * deploys, health checks), as any local user: through qqnotify-drop into
 * maildrop/ (cli/submit.c).  The sender queues it in the user lane as a
 * notification "from user NAME" (pickup.h) and mails it with the same
 * rendering, limits and digests as every alert. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "buf.h"
#include "cli.h"
#include "event.h"
#include "enqueue.h"

int qn_cmd_notify(struct qn_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"kind", required_argument, NULL, 'k'},  {"subject", required_argument, NULL, 's'},
        {"field", required_argument, NULL, 'f'}, {"no-flush", no_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    struct qn_event ev;
    struct qn_buf entry;
    const char *kind = "notify", *subject = NULL;
    const char *fields[QN_EVENT_FIELDS_MAX];
    size_t n_fields = 0;
    bool flush = true;
    char id[QN_SPOOL_ID_MAX];
    enum qn_status r;
    int c, rc;

    while ((c = getopt_long(argc, argv, "k:s:f:nh", opts, NULL)) != -1) {
        switch (c) {
        case 'k':
            kind = optarg;
            break;
        case 's':
            subject = optarg;
            break;
        case 'f':
            if (n_fields == QN_EVENT_FIELDS_MAX - 1) {
                fprintf(stderr, _("qqnotify notify: too many --field options (at most %d)\n"),
                        QN_EVENT_FIELDS_MAX - 1);
                return QN_EXIT_USAGE;
            }
            fields[n_fields++] = optarg;
            break;
        case 'n':
            flush = false;
            break;
        case 'h':
            printf(_("Usage: qqnotify notify [--kind NAME] [--subject TEXT] [--field KEY=VALUE]... "
                     "[--no-flush] [TEXT]\n"
                     "Queues one notification from you (any user may); it is mailed as "
                     "\"from user NAME\" by `qqnotify flush` within the limits.\n"));
            return QN_EXIT_OK;
        default:
            return QN_EXIT_USAGE;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, _("qqnotify notify: give the text as one argument (quote it)\n"));
        return QN_EXIT_USAGE;
    }
    rc = qn_cli_load_config_submit(cli);
    if (rc != QN_EXIT_OK)
        return rc;

    qn_event_init(&ev, kind);
    if (ev.kind[0] == '\0') {
        fprintf(stderr, _("qqnotify notify: --kind must not be empty\n"));
        return QN_EXIT_USAGE;
    }
    if (subject != NULL)
        qn_event_set_subject(&ev, subject);
    for (size_t i = 0; i < n_fields; i++) {
        const char *eq = strchr(fields[i], '=');
        char key[QN_EVENT_KEY_MAX];
        size_t klen = eq != NULL ? (size_t)(eq - fields[i]) : 0;

        if (eq == NULL || klen == 0 || klen >= sizeof(key)) {
            fprintf(stderr, _("qqnotify notify: --field needs KEY=VALUE, got '%s'\n"), fields[i]);
            return QN_EXIT_USAGE;
        }
        memcpy(key, fields[i], klen);
        key[klen] = '\0';
        if (qn_event_set(&ev, key, eq + 1) != QN_OK) {
            fprintf(stderr,
                    _("qqnotify notify: bad field name '%s': use lower-case letters, digits, "
                      "'_', '.' and '-'\n"),
                    key);
            return QN_EXIT_USAGE;
        }
    }
    if (optind < argc && qn_event_set(&ev, "message", argv[optind]) != QN_OK) {
        fprintf(stderr, _("qqnotify notify: too many fields\n"));
        return QN_EXIT_USAGE;
    }
    qn_buf_init(&entry, cli->cfg.max_entry_size);
    r = qn_enqueue_format_event(&ev, &entry);
    if (r != QN_OK) {
        qn_buf_free(&entry);
        fprintf(stderr,
                r == QN_ETOOBIG
                    ? _("qqnotify notify: the entry is larger than [spool] max_entry_size (%zu "
                        "bytes); nothing was queued.\n")
                    : _("qqnotify notify: cannot build the entry (%zu bytes at most); nothing "
                        "was queued.\n"),
                cli->cfg.max_entry_size);
        return r == QN_ENOMEM ? QN_EXIT_OSERR : QN_EXIT_DATAERR;
    }
    rc = qn_cli_submit(cli, "qqnotify notify", &entry, id);
    qn_buf_free(&entry);
    if (rc != QN_EXIT_OK)
        return rc;
    qn_log(&cli->log, LOG_INFO, _("submitted notification %s"), id);
    if (flush && qn_cli_may_start_sender())
        qn_cli_start_flush(cli);
    return QN_EXIT_OK;
}
