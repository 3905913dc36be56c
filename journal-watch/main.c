/*
 * qqnotify-journal — follow the systemd journal and spool an alert for each
 * entry that matches a rule (qqnotify-journal(8), qqnotify-rules(5)).
 *
 * This file: the command line, the configuration (spool and language come
 * from the same file as the CLI's), translations, and --check.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "i18n.h"
#include "jw.h"

static void usage(FILE *out)
{
    fprintf(out,
            _("Usage: qqnotify-journal [-c FILE] [--rules DIR] [--directory DIR | --file FILE]\n"
              "                        [--since TIME] [--once] [--check]\n"
              "\n"
              "Follow the systemd journal and put an alert into the qqnotify spool for each\n"
              "entry that matches a rule (see qqnotify-rules(5)).\n"
              "\n"
              "  -c, --config FILE   configuration file: spool and language (default %s)\n"
              "  --rules DIR         rules directory (default %s)\n"
              "  --directory DIR     read the journal files in DIR (e.g. systemd-journal-remote's\n"
              "                      output) instead of the local journal\n"
              "  --file FILE         read one journal file (debugging: does not follow rotation)\n"
              "  --since TIME        on the first start, begin at TIME instead of the end of the\n"
              "                      journal: \"2026-11-26 14:00[:00]\", \"@EPOCH\", \"-1h\", "
              "\"today\"\n"
              "  --once              stop at the end of the journal instead of waiting for more\n"
              "  --check             check the rules (and the configuration) and exit\n"
              "  --lang zh_CN|en     language of messages\n"
              "  -v, --verbose       log debug messages\n"
              "  -h, --help          this help\n"
              "  -V, --version       version\n"),
            QN_CONFIG_DEFAULT_PATH, JW_DEFAULT_RULES_DIR);
}

/* --since: "@SECONDS", "YYYY-MM-DD[ HH:MM[:SS]]" (local time, 'T' also accepted),
 * "-DURATION", "today", "yesterday", "now".  Microseconds since the epoch, or -1. */
static long long parse_since(const char *s)
{
    static const char *const formats[] = {"%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S",
                                          "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d"};
    time_t now = time(NULL);
    struct tm tm;
    size_t i;

    if (s == NULL || *s == '\0' || now == (time_t)-1)
        return -1;
    if (s[0] == '@') {
        char *end = NULL;
        long long v;
        errno = 0;
        v = strtoll(s + 1, &end, 10);
        if (s[1] < '0' || s[1] > '9' || errno != 0 || *end != '\0' || v > 253402300799LL)
            return -1;
        return v * 1000000LL;
    }
    if (s[0] == '-') {
        long long secs = 0;
        if (qn_rules_parse_duration(s + 1, &secs) != QN_OK)
            return -1;
        return ((long long)now - secs) * 1000000LL;
    }
    if (strcmp(s, "now") == 0)
        return (long long)now * 1000000LL;
    if (strcmp(s, "today") == 0 || strcmp(s, "yesterday") == 0) {
        time_t t;
        if (localtime_r(&now, &tm) == NULL)
            return -1;
        tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        if (s[0] == 'y')
            tm.tm_mday--;
        tm.tm_isdst = -1;
        t = mktime(&tm);
        return t == (time_t)-1 ? -1 : (long long)t * 1000000LL;
    }
    for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        const char *end;
        time_t t;

        memset(&tm, 0, sizeof(tm));
        end = strptime(s, formats[i], &tm);
        if (end == NULL || *end != '\0')
            continue;
        tm.tm_isdst = -1;
        t = mktime(&tm);
        if (t == (time_t)-1)
            return -1;
        return (long long)t * 1000000LL;
    }
    return -1;
}

static int load_config(struct jw *w)
{
    struct qn_config_error cerr;
    enum qn_status r;

    memset(&cerr, 0, sizeof(cerr));
    r = qn_config_load(&w->cfg, w->opt.config_path, &cerr);
    if (r == QN_OK)
        return QN_EXIT_OK;
    if (r == QN_ENOTFOUND && !w->opt.config_explicit) {
        /* No configuration: the defaults name the spool; the sender needs the file anyway. */
        qn_config_defaults(&w->cfg);
        return QN_EXIT_OK;
    }
    if (r == QN_ENOTFOUND) {
        qn_log(&w->log, LOG_ERR, _("configuration file %s does not exist"), w->opt.config_path);
        return QN_EXIT_CONFIG;
    }
    if (r == QN_EIO) {
        qn_log(&w->log, LOG_ERR, _("cannot read configuration file %s: %s"), w->opt.config_path,
               strerror(cerr.sys_errno ? cerr.sys_errno : errno));
        return QN_EXIT_CONFIG;
    }
    qn_log(&w->log, LOG_ERR, "%s:%u: %s%s%s%s%s%s%s", cerr.file[0] ? cerr.file : w->opt.config_path,
           cerr.line, cerr.what ? _(cerr.what) : _(qn_strerror(r)), cerr.key[0] ? " (" : "",
           cerr.key, cerr.key[0] ? ")" : "", cerr.value[0] ? ": '" : "", cerr.value,
           cerr.value[0] ? "'" : "");
    if (cerr.fix != NULL)
        qn_log(&w->log, LOG_ERR, _("  fix: %s"), _(cerr.fix));
    return QN_EXIT_CONFIG;
}

static void report_rule_error(const struct jw *w, const struct qn_rules_error *e, bool to_stderr)
{
    char where[512];

    if (e->line > 0)
        snprintf(where, sizeof(where), "%s:%u", e->file, e->line);
    else
        snprintf(where, sizeof(where), "%s", e->file);
    if (to_stderr)
        fprintf(stderr, "%s: %s%s%s%s%s%s\n", where, e->rule[0] ? "[rule " : "", e->rule,
                e->rule[0] ? "] " : "", _(e->what), e->detail[0] ? ": " : "", e->detail);
    else
        qn_log(&w->log, LOG_ERR, "%s: %s%s%s%s%s%s", where, e->rule[0] ? "[rule " : "", e->rule,
               e->rule[0] ? "] " : "", _(e->what), e->detail[0] ? ": " : "", e->detail);
}

/*
 * Load the rules directory into a new set.  Any problem makes the whole set
 * unusable (a daemon running with some rules silently missing is worse than
 * one that says it cannot start); every problem is reported, on stderr for
 * --check (TO_STDERR) and through the log otherwise.
 */
int jw_load_rules(struct jw *w, struct qn_rules **ret, bool to_stderr)
{
    struct qn_rules_errors *errs = NULL;
    struct qn_rules *rs = NULL;
    enum qn_status r;
    int rc = QN_EXIT_CONFIG;
    size_t i;

    errs = calloc(1, sizeof(*errs));
    if (errs == NULL || qn_rules_new(&rs) != QN_OK) {
        qn_log(&w->log, LOG_ERR, "%s", _(qn_strerror(QN_ENOMEM)));
        rc = QN_EXIT_OSERR;
        goto out;
    }
    r = qn_rules_load_dir(rs, w->opt.rules_dir, errs);
    for (i = 0; i < errs->n; i++)
        report_rule_error(w, &errs->e[i], to_stderr);
    if (errs->dropped > 0) {
        if (to_stderr)
            fprintf(stderr, _("... and %zu more problems\n"), errs->dropped);
        else
            qn_log(&w->log, LOG_ERR, _("... and %zu more problems"), errs->dropped);
    }
    if (r == QN_ENOTFOUND) {
        qn_log(&w->log, LOG_ERR, _("the rules directory %s does not exist"), w->opt.rules_dir);
        goto out;
    }
    if (r == QN_ENOMEM) {
        qn_log(&w->log, LOG_ERR, "%s", _(qn_strerror(QN_ENOMEM)));
        rc = QN_EXIT_OSERR;
        goto out;
    }
    if (r != QN_OK)
        goto out;
    if (qn_rules_count(rs) == 0) {
        qn_log(&w->log, LOG_ERR, _("no rules in %s (files named *.conf with [rule NAME] sections)"),
               w->opt.rules_dir);
        goto out;
    }
    *ret = rs;
    rs = NULL;
    rc = QN_EXIT_OK;
out:
    qn_rules_free(rs);
    free(errs);
    return rc;
}

static int check(struct jw *w)
{
    struct qn_rules *rs = NULL;
    struct qn_rules_stats st;
    int rc;

    rc = jw_load_rules(w, &rs, true);
    if (rc != QN_EXIT_OK)
        return rc;
    qn_rules_stats(rs, &st);
    printf(_("%s: %zu rules OK (threshold state at most %zu KiB%s)\n"), w->opt.rules_dir,
           qn_rules_count(rs), st.state_bytes / 1024,
           st.jit ? "" : _("; JIT not available, patterns are interpreted"));
    qn_rules_free(rs);
    return QN_EXIT_OK;
}

int main(int argc, char **argv)
{
    enum { OPT_RULES = 256, OPT_DIRECTORY, OPT_FILE, OPT_SINCE, OPT_ONCE, OPT_CHECK, OPT_LANG };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"rules", required_argument, NULL, OPT_RULES},
        {"directory", required_argument, NULL, OPT_DIRECTORY},
        {"file", required_argument, NULL, OPT_FILE},
        {"since", required_argument, NULL, OPT_SINCE},
        {"once", no_argument, NULL, OPT_ONCE},
        {"check", no_argument, NULL, OPT_CHECK},
        {"lang", required_argument, NULL, OPT_LANG},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *lang_arg = NULL;
    struct jw *w;
    bool verbose = false;
    int c, rc;

    /* struct jw holds the configuration (tens of KiB): on the heap, not the stack. */
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        fprintf(stderr, "qqnotify-journal: out of memory\n");
        return QN_EXIT_OSERR;
    }
    w->signal_fd = -1;
    w->opt.config_path = QN_CONFIG_DEFAULT_PATH;
    w->opt.rules_dir = JW_DEFAULT_RULES_DIR;
    w->opt.since_usec = -1;
    qn_config_defaults(&w->cfg);
    qn_log_init(&w->log, "qqnotify-journal", STDERR_FILENO);
    qn_i18n_bind(QN_LOCALEDIR);
    qn_i18n_set_language(NULL, QN_LANG_AUTO);

    while ((c = getopt_long(argc, argv, "c:vhV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            w->opt.config_path = optarg;
            w->opt.config_explicit = true;
            break;
        case OPT_RULES:
            w->opt.rules_dir = optarg;
            break;
        case OPT_DIRECTORY:
        case OPT_FILE:
            if (w->opt.source != JW_SOURCE_LOCAL) {
                fprintf(stderr, "%s\n", _("qqnotify-journal: give --directory or --file once"));
                rc = QN_EXIT_USAGE;
                goto out;
            }
            w->opt.source = c == OPT_DIRECTORY ? JW_SOURCE_DIRECTORY : JW_SOURCE_FILE;
            w->opt.source_path = optarg;
            break;
        case OPT_SINCE:
            w->opt.since = optarg;
            w->opt.since_usec = parse_since(optarg);
            if (w->opt.since_usec < 0) {
                fprintf(stderr,
                        _("qqnotify-journal: --since '%s' is not a time: write \"YYYY-MM-DD "
                          "[HH:MM[:SS]]\", \"@SECONDS\", \"-DURATION\" (e.g. -2h), \"today\" or "
                          "\"yesterday\"\n"),
                        optarg);
                rc = QN_EXIT_USAGE;
                goto out;
            }
            break;
        case OPT_ONCE:
            w->opt.once = true;
            break;
        case OPT_CHECK:
            w->opt.check = true;
            break;
        case OPT_LANG:
            if (!qn_i18n_is_zh(optarg) && strncmp(optarg, "en", 2) != 0) {
                fprintf(stderr, _("qqnotify-journal: unknown language '%s': use zh_CN or en\n"),
                        optarg);
                rc = QN_EXIT_USAGE;
                goto out;
            }
            lang_arg = optarg;
            qn_i18n_set_language(lang_arg, QN_LANG_AUTO);
            break;
        case 'v':
            verbose = true;
            break;
        case 'h':
            usage(stdout);
            rc = QN_EXIT_OK;
            goto out;
        case 'V':
            printf("qqnotify-journal %s\n", QN_VERSION);
            rc = QN_EXIT_OK;
            goto out;
        default:
            usage(stderr);
            rc = QN_EXIT_USAGE;
            goto out;
        }
    }
    if (optind < argc) {
        usage(stderr);
        rc = QN_EXIT_USAGE;
        goto out;
    }
    if (verbose)
        w->log.max_priority = LOG_DEBUG;

    rc = load_config(w);
    if (rc != QN_EXIT_OK)
        goto out;
    qn_i18n_set_language(lang_arg, w->cfg.language);
    if (w->opt.check) {
        rc = check(w);
        goto out;
    }
    rc = jw_load_rules(w, &w->rules, false);
    if (rc != QN_EXIT_OK)
        goto out;
    rc = jw_run(w);
out:
    qn_rules_free(w->rules);
    free(w);
    return rc;
}
