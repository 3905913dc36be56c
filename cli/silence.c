/* qqnotify silence: add, list and expire silences (common/silence.h), the
 * maintenance windows the sender honours.  Only root adds or expires one,
 * and each change is an audit record (qn_log_audit: syslog authpriv) naming
 * who made it: the real uid and its name, the login uid of the session
 * (/proc/self/loginuid, set by pam_loginuid at login and kept across sudo
 * and su), and SUDO_USER as extra information only, since anybody can set
 * that variable. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "silence.h"
#include "spool.h"
#include "tally.h"
#include "text.h"

#define LOCK_TIMEOUT_MS 5000
#define NO_LOGIN_UID    4294967295ULL /* (uid_t)-1: the session has no login uid */

/* The name of UID, or "" when NSS has none. */
static void uid_name(unsigned long long uid, char *out, size_t n)
{
    struct passwd pw, *res = NULL;
    char buf[4096];

    out[0] = '\0';
    if (getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &res) == 0 && res != NULL)
        qn_text_sanitize_line(res->pw_name, strlen(res->pw_name), out, n);
}

/* The login uid from /proc/self/loginuid; false when unreadable. */
static bool login_uid(unsigned long long *ret)
{
    char buf[32];
    ssize_t n;
    char *end;
    int fd = open("/proc/self/loginuid", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return false;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    errno = 0;
    *ret = strtoull(buf, &end, 10);
    return errno == 0 && end != buf && (*end == '\0' || *end == '\n');
}

/* "root (uid 0, login alice uid 1000, SUDO_USER=alice)": who runs this. */
static void describe_caller(char *out, size_t n)
{
    char name[64], lname[64], sudo[64] = "";
    unsigned long long uid = (unsigned long long)getuid(), luid;
    const char *su = getenv("SUDO_USER");
    size_t len;

    uid_name(uid, name, sizeof(name));
    if (su != NULL && su[0] != '\0')
        qn_text_sanitize_line(su, strnlen(su, 256), sudo, sizeof(sudo));
    qn_cli_format(out, n, "%s (uid %llu", name[0] ? name : "?", uid);
    len = strlen(out);
    if (!login_uid(&luid)) {
        qn_cli_format(out + len, n - len, ", login uid unknown");
    } else if (luid == NO_LOGIN_UID) {
        qn_cli_format(out + len, n - len, ", no login uid");
    } else {
        uid_name(luid, lname, sizeof(lname));
        qn_cli_format(out + len, n - len, ", login %s uid %llu", lname[0] ? lname : "?", luid);
    }
    len = strlen(out);
    if (sudo[0] != '\0')
        qn_cli_format(out + len, n - len, ", SUDO_USER=%s", sudo);
    len = strlen(out);
    qn_cli_format(out + len, n - len, ")");
}

static void format_time(long long t, char *out, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (localtime_r(&tt, &tm) == NULL || strftime(out, n, "%Y-%m-%d %H:%M", &tm) == 0)
        snprintf(out, n, "@%lld", t);
}

/*
 * --until: "YYYY-MM-DD HH:MM[:SS]", "YYYY-MM-DDTHH:MM[:SS]", "HH:MM" (the next
 * such time, today or tomorrow) in local time, or "@SECONDS".  False when it
 * is none of them.
 */
static bool parse_until(const char *s, long long now, long long *ret)
{
    static const char *const formats[] = {"%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
                                          "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"};
    struct tm tm;
    time_t tt = (time_t)now, t;
    const char *end;
    size_t i;

    if (s[0] == '@') {
        char *e;

        errno = 0;
        *ret = strtoll(s + 1, &e, 10);
        return errno == 0 && e != s + 1 && *e == '\0';
    }
    for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        memset(&tm, 0, sizeof(tm));
        end = strptime(s, formats[i], &tm);
        if (end != NULL && *end == '\0') {
            tm.tm_isdst = -1;
            t = mktime(&tm);
            if (t == (time_t)-1)
                return false;
            *ret = (long long)t;
            return true;
        }
    }
    if (localtime_r(&tt, &tm) == NULL)
        return false;
    end = strptime(s, "%H:%M", &tm);
    if (end == NULL || *end != '\0')
        return false;
    tm.tm_sec = 0;
    tm.tm_isdst = -1;
    t = mktime(&tm);
    if (t == (time_t)-1)
        return false;
    if ((long long)t <= now) {
        tm.tm_mday++;
        tm.tm_isdst = -1;
        t = mktime(&tm);
    }
    *ret = (long long)t;
    return true;
}

static int refuse_non_root(const char *what)
{
    fprintf(stderr,
            _("qqnotify silence %s: only root may add or expire silences (you are uid %lu); "
              "run it as root, e.g. with sudo\n"),
            what, (unsigned long)geteuid());
    return QN_EXIT_NOPERM;
}

static int spool_failure(const struct qn_cli *cli, enum qn_status r, int e)
{
    fprintf(stderr,
            _("qqnotify silence: spool %s: %s (%s); check [spool] dir and that it exists\n"),
            cli->cfg.spool_dir, _(qn_strerror(r)), strerror(e));
    return r == QN_EIO ? QN_EXIT_IOERR : QN_EXIT_CONFIG;
}

/* Read state/silences into SET; an error is printed and its exit code returned. */
static int read_set(const struct qn_cli *cli, struct qn_spool *sp, struct qn_silences *set)
{
    enum qn_status r = qn_silences_read(sp, set);

    if (r == QN_OK || r == QN_ENOTFOUND)
        return QN_EXIT_OK;
    if (r == QN_EINVAL) {
        fprintf(stderr,
                _("qqnotify silence: %s/state/%s is damaged (the sender ignores it and silences "
                  "nothing); look at it, then remove it to start again\n"),
                cli->cfg.spool_dir, QN_SILENCE_STATE_NAME);
        return QN_EXIT_DATAERR;
    }
    return spool_failure(cli, r, errno);
}

/* Take state/silences.lock (into *RET_LOCK) and read the set, for a change. */
static int lock_and_read(const struct qn_cli *cli, struct qn_spool *sp, struct qn_silences *set,
                         int *ret_lock)
{
    enum qn_status r = qn_spool_state_lock(sp, QN_SILENCE_STATE_NAME, LOCK_TIMEOUT_MS, ret_lock);

    if (r != QN_OK)
        return spool_failure(cli, r, errno);
    return read_set(cli, sp, set);
}

struct add_options {
    struct qn_silence_match matches[QN_SILENCE_MATCHES_MAX];
    size_t n_matches;
    const char *for_text, *until_text, *comment;
    bool force;
};

static int parse_add(int argc, char **argv, struct add_options *o)
{
    static const struct option opts[] = {
        {"match", required_argument, NULL, 'm'}, {"for", required_argument, NULL, 'f'},
        {"until", required_argument, NULL, 'u'}, {"comment", required_argument, NULL, 'c'},
        {"force", no_argument, NULL, 'F'},       {NULL, 0, NULL, 0},
    };
    enum qn_status r;
    int c;

    memset(o, 0, sizeof(*o));
    optind = 0;
    while ((c = getopt_long(argc, argv, "m:f:u:c:F", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (o->n_matches == QN_SILENCE_MATCHES_MAX) {
                fprintf(stderr, _("qqnotify silence add: at most %d --match options\n"),
                        QN_SILENCE_MATCHES_MAX);
                return QN_EXIT_USAGE;
            }
            r = qn_silence_match_parse(optarg, &o->matches[o->n_matches]);
            if (r != QN_OK) {
                fprintf(stderr,
                        _("qqnotify silence add: --match '%s' is not KEY=VALUE: KEY is kind, "
                          "host or a field name such as user, rhost, ip, service, rule "
                          "([a-z0-9_.-]); VALUE is a text or a pattern with * ? [...] (at most "
                          "%d bytes, closed [...])\n"),
                        optarg, QN_SILENCE_PATTERN_MAX - 1);
                return QN_EXIT_USAGE;
            }
            o->n_matches++;
            break;
        case 'f':
            o->for_text = optarg;
            break;
        case 'u':
            o->until_text = optarg;
            break;
        case 'c':
            o->comment = optarg;
            break;
        case 'F':
            o->force = true;
            break;
        default:
            return QN_EXIT_USAGE;
        }
    }
    if (optind != argc || o->n_matches == 0 || (o->for_text == NULL) == (o->until_text == NULL)) {
        fprintf(stderr, _("Usage: qqnotify silence add --match KEY=VALUE [--match ...] "
                          "(--for DURATION | --until TIME) [--comment TEXT] [--force]\n"));
        return QN_EXIT_USAGE;
    }
    return QN_EXIT_OK;
}

static int cmd_add(struct qn_cli *cli, struct qn_spool *sp, const struct add_options *o)
{
    struct qn_silences *set = malloc(sizeof(*set));
    struct qn_silence s;
    char host[256] = "", from[32], until[32];
    long long now = (long long)time(NULL), end;
    unsigned dur;
    int lock = -1, rc;
    enum qn_status r;

    if (set == NULL)
        return QN_EXIT_OSERR;
    memset(&s, 0, sizeof(s));
    if (o->for_text != NULL) {
        if (!qn_config_duration(o->for_text, 60, (unsigned)QN_SILENCE_LONGEST_S, &dur)) {
            fprintf(stderr,
                    _("qqnotify silence add: --for '%s' is not a duration from 1 minute to 366 "
                      "days; write e.g. 30m, 2h or 7d\n"),
                    o->for_text);
            rc = QN_EXIT_USAGE;
            goto out;
        }
        end = now + dur;
    } else if (!parse_until(o->until_text, now, &end) || end <= now ||
               end - now > QN_SILENCE_LONGEST_S) {
        fprintf(stderr,
                _("qqnotify silence add: --until '%s' is not a local time within the next 366 "
                  "days; write \"2026-12-01 18:00\", 18:00 (the next one) or @SECONDS\n"),
                o->until_text);
        rc = QN_EXIT_USAGE;
        goto out;
    }
    s.created = s.start = now;
    s.end = end;
    s.n_matches = o->n_matches;
    memcpy(s.matches, o->matches, sizeof(s.matches));
    if (o->comment != NULL)
        qn_text_sanitize_line(o->comment, strnlen(o->comment, 4096), s.comment, sizeof(s.comment));
    describe_caller(s.creator, sizeof(s.creator));
    if (gethostname(host, sizeof(host) - 1) != 0)
        host[0] = '\0';
    if (!o->force && qn_silence_covers_all_logins(&s, host)) {
        fprintf(stderr, _("qqnotify silence add: this silence would match every login on this "
                          "host; narrow it (e.g. --match user=NAME or --match rhost=10.0.*) or "
                          "give --force if that is what you want\n"));
        rc = QN_EXIT_USAGE;
        goto out;
    }
    rc = lock_and_read(cli, sp, set, &lock);
    if (rc != QN_EXIT_OK)
        goto out;
    r = qn_silences_new_id(set, s.id);
    if (r == QN_OK)
        r = qn_silences_add(set, &s, now);
    if (r == QN_ETOOBIG) {
        fprintf(stderr,
                _("qqnotify silence add: there are already %d silences; expire some (qqnotify "
                  "silence list) and try again\n"),
                QN_SILENCE_MAX);
        rc = QN_EXIT_UNAVAILABLE;
        goto out;
    }
    if (r == QN_OK)
        r = qn_silences_write(sp, set);
    if (r != QN_OK) {
        rc = spool_failure(cli, r, errno);
        goto out;
    }
    format_time(s.start, from, sizeof(from));
    format_time(s.end, until, sizeof(until));
    {
        char what[QN_SILENCE_MATCHES_MAX * (QN_SILENCE_KEY_MAX + QN_SILENCE_PATTERN_MAX + 2)] = "";
        size_t len = 0;

        for (size_t i = 0; i < s.n_matches; i++) {
            qn_cli_format(what + len, sizeof(what) - len, "%s%s=%s", i ? " " : "", s.matches[i].key,
                          s.matches[i].pattern);
            len = strlen(what);
        }
        qn_log_audit(&cli->log, "silence %s added by %s: %s from %s until %s%s%s%s", s.id,
                     s.creator, what, from, until, s.comment[0] ? " (" : "", s.comment,
                     s.comment[0] ? ")" : "");
    }
    printf("%s\n", s.id);
    rc = QN_EXIT_OK;
out:
    qn_spool_state_unlock(lock);
    free(set);
    return rc;
}

static int cmd_expire(struct qn_cli *cli, struct qn_spool *sp, const char *id)
{
    struct qn_silences *set = malloc(sizeof(*set));
    char who[QN_SILENCE_CREATOR_MAX];
    long long now = (long long)time(NULL);
    int lock = -1, rc;
    enum qn_status r;

    if (set == NULL)
        return QN_EXIT_OSERR;
    rc = lock_and_read(cli, sp, set, &lock);
    if (rc != QN_EXIT_OK)
        goto out;
    describe_caller(who, sizeof(who));
    r = qn_silences_expire(set, id, who, now);
    if (r == QN_ENOTFOUND || r == QN_EINVAL) {
        fprintf(stderr,
                r == QN_ENOTFOUND
                    ? _("qqnotify silence expire: no silence %s; see qqnotify silence list\n")
                    : _("qqnotify silence expire: silence %s has already ended\n"),
                id);
        rc = r == QN_ENOTFOUND ? QN_EXIT_NOINPUT : QN_EXIT_DATAERR;
        goto out;
    }
    r = qn_silences_write(sp, set);
    if (r != QN_OK) {
        rc = spool_failure(cli, r, errno);
        goto out;
    }
    qn_log_audit(&cli->log, "silence %s expired by %s", id, who);
    rc = QN_EXIT_OK;
out:
    qn_spool_state_unlock(lock);
    free(set);
    return rc;
}

static int cmd_list(struct qn_cli *cli, struct qn_spool *sp, bool all)
{
    struct qn_silences *set = malloc(sizeof(*set));
    struct qn_tally *counts = malloc(sizeof(*counts));
    long long now = (long long)time(NULL);
    size_t shown = 0;
    int rc = QN_EXIT_OSERR;

    if (set == NULL || counts == NULL)
        goto out;
    rc = read_set(cli, sp, set);
    if (rc != QN_EXIT_OK)
        goto out;
    /* What each silence kept from the mail since the last daily summary (state/tally). */
    if (qn_tally_read(sp, counts, now) != QN_OK)
        qn_tally_init(counts, 0);
    for (size_t i = 0; i < set->n; i++) {
        const struct qn_silence *s = &set->items[i];
        const char *state = qn_silence_active(s, now) ? _("active")
                            : s->start > now          ? _("pending")
                            : s->expired != 0         ? _("expired")
                                                      : _("ended");
        char from[32], until[32];

        if (!all && s->end <= now)
            continue;
        format_time(s->start, from, sizeof(from));
        format_time(s->end, until, sizeof(until));
        printf("%s  %s  %s → %s\n", s->id, state, from, until);
        for (size_t m = 0; m < s->n_matches; m++)
            printf("    %s=%s\n", s->matches[m].key, s->matches[m].pattern);
        printf(_("    by %s\n"), s->creator);
        if (s->comment[0] != '\0')
            printf(_("    comment: %s\n"), s->comment);
        if (s->expired != 0)
            printf(_("    expired by %s\n"), s->expired_by);
        if (qn_tally_get(counts, s->id) != NULL) {
            format_time(counts->since, from, sizeof(from));
            printf(_("    not mailed since %s: %llu event(s)\n"), from,
                   qn_tally_get(counts, s->id)->count);
        }
        shown++;
    }
    if (shown == 0)
        printf(all ? _("No silences.\n") : _("No active or pending silences.\n"));
out:
    free(counts);
    free(set);
    return rc;
}

int qn_cmd_silence(struct qn_cli *cli, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "list";
    struct add_options add;
    struct qn_spool *sp = NULL;
    bool all = false;
    enum qn_status r;
    int rc;

    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 || strcmp(sub, "help") == 0) {
        printf(_("Usage: qqnotify silence add --match KEY=VALUE [--match ...] (--for DURATION | "
                 "--until TIME) [--comment TEXT] [--force]\n"
                 "       qqnotify silence list [--all]\n"
                 "       qqnotify silence expire ID\n"
                 "Silenced events are not mailed on their own; the sender counts them.\n"));
        return QN_EXIT_OK;
    }
    if (strcmp(sub, "add") == 0) {
        if (geteuid() != 0)
            return refuse_non_root("add");
        rc = parse_add(argc - 1, argv + 1, &add);
        if (rc != QN_EXIT_OK)
            return rc;
    } else if (strcmp(sub, "expire") == 0) {
        if (geteuid() != 0)
            return refuse_non_root("expire");
        if (argc != 3) {
            fprintf(stderr, _("Usage: qqnotify silence expire ID\n"));
            return QN_EXIT_USAGE;
        }
    } else if (strcmp(sub, "list") == 0) {
        if (argc > 3 || (argc == 3 && strcmp(argv[2], "--all") != 0)) {
            fprintf(stderr, _("Usage: qqnotify silence list [--all]\n"));
            return QN_EXIT_USAGE;
        }
        all = argc == 3;
    } else {
        fprintf(stderr, _("qqnotify silence: unknown action '%s': use add, list or expire\n"), sub);
        return QN_EXIT_USAGE;
    }
    rc = qn_cli_load_config(cli);
    if (rc != QN_EXIT_OK)
        return rc;
    r = qn_spool_open(cli->cfg.spool_dir, 0, 0, &sp);
    if (r != QN_OK)
        return spool_failure(cli, r, errno);
    if (strcmp(sub, "add") == 0)
        rc = cmd_add(cli, sp, &add);
    else if (strcmp(sub, "expire") == 0)
        rc = cmd_expire(cli, sp, argv[2]);
    else
        rc = cmd_list(cli, sp, all);
    qn_spool_close(sp);
    return rc;
}
