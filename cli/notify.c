/* qqnotify notify: put one structured event into the spool, for scripts
 * (backups, deploys, health checks).  It goes through the same rendering,
 * limits and digests as PAM and journal events. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

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
                     "Queues one alert; it is mailed by `qqnotify flush` within the limits.\n"));
            return QN_EXIT_OK;
        default:
            return QN_EXIT_USAGE;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, _("qqnotify notify: give the text as one argument (quote it)\n"));
        return QN_EXIT_USAGE;
    }
    rc = qn_cli_load_config(cli);
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
    qn_cli_prepare_spool(cli);
    r = qn_enqueue_event(cli->cfg.spool_dir, &ev, cli->cfg.max_entry_size, id);
    if (r != QN_OK)
        return qn_cli_spool_error(cli, "qqnotify notify", r, errno);
    qn_log(&cli->log, LOG_INFO, _("queued event %s"), id);
    if (flush)
        qn_cli_start_flush(cli);
    return QN_EXIT_OK;
}
