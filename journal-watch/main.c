/*
 * qqnotify-journal — follow the systemd journal and spool an alert for each
 * entry that matches a rule (qqnotify-journal(8), qqnotify-rules(5)).
 *
 * This file is the program around the loop (watch.h): the command line,
 * the configuration (spool and language come from the same file as the
 * CLI's), translations, the rules loader (also what SIGHUP runs), and
 * --check.  It owns the options, the log and the configuration for the
 * life of the process, and hands the loop what it needs of them.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "exit.h"
#include "i18n.h"
#include "jw.h"
#include "log.h"
#include "rules.h"
#include "watch.h"

#define JW_DEFAULT_RULES_DIR "/etc/qqnotify/rules.d" /* beside QN_CONFIG_DEFAULT_PATH */

struct options {
    const char *config_path;
    bool config_explicit;
    const char *rules_dir;
    enum jw_source_kind source;
    const char *source_path;
    long long since_usec; /* parsed --since, or -1 */
    bool once;
    bool check;
};

/* The program's state: the configuration is tens of KiB, so it lives on the heap. */
struct jw_main {
    struct options opt;
    struct qn_log log;
    struct qn_config cfg;
};

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

static int load_config(struct jw_main *m)
{
    struct qn_config_error cerr;
    enum qn_status r;

    memset(&cerr, 0, sizeof(cerr));
    r = qn_config_load(&m->cfg, m->opt.config_path, &cerr);
    if (r == QN_OK)
        return QN_EXIT_OK;
    if (r == QN_ENOTFOUND && !m->opt.config_explicit) {
        /* No configuration: the defaults name the spool; the sender needs the file anyway. */
        qn_config_defaults(&m->cfg);
        return QN_EXIT_OK;
    }
    if (r == QN_ENOTFOUND) {
        qn_log(&m->log, LOG_ERR, _("configuration file %s does not exist"), m->opt.config_path);
        return QN_EXIT_CONFIG;
    }
    if (r == QN_EIO) {
        qn_log(&m->log, LOG_ERR, _("cannot read configuration file %s: %s"), m->opt.config_path,
               strerror(cerr.sys_errno ? cerr.sys_errno : errno));
        return QN_EXIT_CONFIG;
    }
    qn_log(&m->log, LOG_ERR, "%s:%u: %s%s%s%s%s%s%s", cerr.file[0] ? cerr.file : m->opt.config_path,
           cerr.line, cerr.what ? _(cerr.what) : _(qn_strerror(r)), cerr.key[0] ? " (" : "",
           cerr.key, cerr.key[0] ? ")" : "", cerr.value[0] ? ": '" : "", cerr.value,
           cerr.value[0] ? "'" : "");
    if (cerr.fix != NULL)
        qn_log(&m->log, LOG_ERR, _("  fix: %s"), _(cerr.fix));
    return QN_EXIT_CONFIG;
}

static void report_rule_error(const struct jw_main *m, const struct qn_rules_error *e,
                              bool to_stderr)
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
        qn_log(&m->log, LOG_ERR, "%s: %s%s%s%s%s%s", where, e->rule[0] ? "[rule " : "", e->rule,
               e->rule[0] ? "] " : "", _(e->what), e->detail[0] ? ": " : "", e->detail);
}

/* One rule that any local user's entries can fire (qn_rules_untrusted), with the fix. */
static void report_untrusted(const struct jw_main *m, const struct qn_rules_error *w,
                             bool to_stderr)
{
    if (to_stderr) {
        fprintf(stderr, _("%s:%u: warning: [rule %s] %s: %s\n"), w->file, w->line, w->rule,
                _(w->what), w->detail);
        fprintf(stderr, _("  fix: add one of %s (see TRUSTED FIELDS in qqnotify-rules(5))\n"),
                w->fix);
    } else {
        qn_log(&m->log, LOG_WARNING, _("%s:%u: warning: [rule %s] %s: %s"), w->file, w->line,
               w->rule, _(w->what), w->detail);
        qn_log(&m->log, LOG_WARNING,
               _("  fix: add one of %s (see TRUSTED FIELDS in qqnotify-rules(5))"), w->fix);
    }
}

/*
 * Load the rules directory into a new set.  Any problem makes the whole set
 * unusable (a daemon running with some rules silently missing is worse than
 * one that says it cannot start); every problem is reported, on stderr for
 * --check (TO_STDERR) and through the log otherwise.
 */
static int load_rules(const struct jw_main *m, struct qn_rules **ret, bool to_stderr)
{
    struct qn_rules_errors *errs = NULL;
    struct qn_rules *rs = NULL;
    enum qn_status r;
    int rc = QN_EXIT_CONFIG;
    size_t i;

    errs = calloc(1, sizeof(*errs));
    if (errs == NULL || qn_rules_new(&rs) != QN_OK) {
        qn_log(&m->log, LOG_ERR, "%s", _(qn_strerror(QN_ENOMEM)));
        rc = QN_EXIT_OSERR;
        goto out;
    }
    r = qn_rules_load_dir(rs, m->opt.rules_dir, errs);
    for (i = 0; i < errs->n; i++)
        report_rule_error(m, &errs->e[i], to_stderr);
    if (errs->dropped > 0) {
        if (to_stderr)
            fprintf(stderr, _("... and %zu more problems\n"), errs->dropped);
        else
            qn_log(&m->log, LOG_ERR, _("... and %zu more problems"), errs->dropped);
    }
    if (r == QN_ENOTFOUND) {
        qn_log(&m->log, LOG_ERR, _("the rules directory %s does not exist"), m->opt.rules_dir);
        goto out;
    }
    if (r == QN_ENOMEM) {
        qn_log(&m->log, LOG_ERR, "%s", _(qn_strerror(QN_ENOMEM)));
        rc = QN_EXIT_OSERR;
        goto out;
    }
    if (r != QN_OK)
        goto out;
    if (qn_rules_count(rs) == 0) {
        qn_log(&m->log, LOG_ERR, _("no rules in %s (files named *.conf with [rule NAME] sections)"),
               m->opt.rules_dir);
        goto out;
    }
    /* Forgeable rules still run (the administrator may want them), but are named. */
    memset(errs, 0, sizeof(*errs));
    if (qn_rules_untrusted(rs, errs) > 0) {
        for (i = 0; i < errs->n; i++)
            report_untrusted(m, &errs->e[i], to_stderr);
        if (errs->dropped > 0 && to_stderr)
            fprintf(stderr, _("... and %zu more problems\n"), errs->dropped);
    }
    *ret = rs;
    rs = NULL;
    rc = QN_EXIT_OK;
out:
    qn_rules_free(rs);
    free(errs);
    return rc;
}

/* The loader the loop calls on SIGHUP (jw_rules_load_fn). */
static int reload_rules(void *ctx, struct qn_rules **ret)
{
    return load_rules(ctx, ret, false);
}

static int check(const struct jw_main *m)
{
    struct qn_rules *rs = NULL;
    struct qn_rules_stats st;
    size_t untrusted;
    int rc;

    rc = load_rules(m, &rs, true);
    if (rc != QN_EXIT_OK)
        return rc;
    qn_rules_stats(rs, &st);
    printf(_("%s: %zu rules OK (threshold state at most %zu KiB%s)\n"), m->opt.rules_dir,
           qn_rules_count(rs), st.state_bytes / 1024,
           st.jit ? "" : _("; JIT not available, patterns are interpreted"));
    untrusted = qn_rules_untrusted(rs, NULL);
    if (untrusted > 0)
        printf(_("%s: %zu of them can be fired by entries any local user writes (see the "
                 "warnings)\n"),
               m->opt.rules_dir, untrusted);
    qn_rules_free(rs);
    return QN_EXIT_OK;
}

/* Follow the journal with RULES (taken) as the options and the configuration say. */
static int watch(struct jw_main *m, struct qn_rules *rules)
{
    const struct jw_watch_setup setup = {
        .log = &m->log,
        .source = m->opt.source,
        .source_path = m->opt.source_path,
        .since_usec = m->opt.since_usec,
        .once = m->opt.once,
        .spool_dir = m->cfg.spool_dir,
        .max_entry_size = m->cfg.max_entry_size,
        .rules_dir = m->opt.rules_dir,
        .load_rules = reload_rules,
        .load_ctx = m,
    };

    return jw_watch_run(&setup, rules);
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
    struct qn_rules *rules = NULL;
    struct jw_main *m;
    bool verbose = false;
    int c, rc;

    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        fprintf(stderr, "qqnotify-journal: out of memory\n");
        return QN_EXIT_OSERR;
    }
    m->opt.config_path = QN_CONFIG_DEFAULT_PATH;
    m->opt.rules_dir = JW_DEFAULT_RULES_DIR;
    m->opt.since_usec = -1;
    qn_config_defaults(&m->cfg);
    qn_log_init(&m->log, "qqnotify-journal", STDERR_FILENO);
    qn_i18n_bind(QN_LOCALEDIR);
    qn_i18n_set_language(NULL, QN_LANG_AUTO);

    while ((c = getopt_long(argc, argv, "c:vhV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            m->opt.config_path = optarg;
            m->opt.config_explicit = true;
            break;
        case OPT_RULES:
            m->opt.rules_dir = optarg;
            break;
        case OPT_DIRECTORY:
        case OPT_FILE:
            if (m->opt.source != JW_SOURCE_LOCAL) {
                fprintf(stderr, "%s\n", _("qqnotify-journal: give --directory or --file once"));
                rc = QN_EXIT_USAGE;
                goto out;
            }
            m->opt.source = c == OPT_DIRECTORY ? JW_SOURCE_DIRECTORY : JW_SOURCE_FILE;
            m->opt.source_path = optarg;
            break;
        case OPT_SINCE:
            m->opt.since_usec = parse_since(optarg);
            if (m->opt.since_usec < 0) {
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
            m->opt.once = true;
            break;
        case OPT_CHECK:
            m->opt.check = true;
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
        m->log.max_priority = LOG_DEBUG;

    rc = load_config(m);
    if (rc != QN_EXIT_OK)
        goto out;
    qn_i18n_set_language(lang_arg, m->cfg.language);
    if (m->opt.check) {
        rc = check(m);
        goto out;
    }
    rc = load_rules(m, &rules, false);
    if (rc != QN_EXIT_OK)
        goto out;
    rc = watch(m, rules); /* RULES taken */
    rules = NULL;
out:
    qn_rules_free(rules);
    free(m);
    return rc;
}
