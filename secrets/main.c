/*
 * qqnotify-secret — keeps the SMTP authorization code in a keyring, never
 * in a configuration file.
 *
 * For programs it is a git credential helper (gitcredentials(7)):
 * `qqnotify-secret get|store|erase` reads key=value lines on stdin and
 * `get` answers "password=...".  For people: `set` (hidden prompt, or one
 * line from a pipe), `status` (which backend holds the secret, never the
 * secret itself) and `erase`.  Backends are in backend.h.
 *
 * Choosing a backend (--backend overrides):
 *  - a D-Bus session bus is there (a desktop session) -> libsecret;
 *  - root without a session bus (a server, a system service) ->
 *    systemd-creds; root whose session bus has no Secret Service too;
 *  - neither -> an error that says how to get one of them.
 * `set` and `store` write to that one backend; `get`, `erase` and `status`
 * look in every backend this user can reach (libsecret when a bus is
 * there, systemd-creds when root), so a secret is found wherever `set` put
 * it.
 *
 * Hygiene: core dumps are off (PR_SET_DUMPABLE 0, RLIMIT_CORE 0) before
 * anything is read; the secret lives only in locked, wiped buffers; it
 * never goes to argv or the environment of any process; stdout gets it
 * only from `get`, and only when stdout is not a terminal or with --force.
 *
 * Exit codes (exit.h, sysexits(3)): 0 done; 1 no secret stored (get, erase,
 * status); 64 usage; 65 bad input; 69 backend unavailable; 71 system
 * error; 74 I/O error; 75 temporary (locked keyring, timeout); 77 needs
 * root; 78 configuration.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "config.h"
#include "diag.h"
#include "exit.h"
#include "gitcred.h"
#include "i18n.h"
#include "input.h"
#include "secret.h"
#include "status.h"

#define PROG              "qqnotify-secret"
#define ROUTE_CRED_PREFIX "qqnotify.route."
#define DEFAULT_TIMEOUT_S 60
#define MAX_TIMEOUT_S     600

enum backend_id {
    BACKEND_AUTO = 0,
    BACKEND_LIBSECRET,
    BACKEND_CREDS,
};

struct options {
    const char *config_path;
    bool config_explicit;
    const char *user;
    const char *host;
    enum backend_id backend;
    const char *credstore;
    const char *with_key;
    unsigned timeout_s;
    bool force;
    const char *lang;
    const char *route; /* --route NAME: a chat robot route's secret */
};

struct program {
    struct options opt;
    struct qn_config cfg;
    bool cfg_loaded;
    char host[QN_GITCRED_FIELD_MAX + 1];
    char user[QN_GITCRED_FIELD_MAX + 1];
    /* A route: its name (in host) and credential name; its type when the
     * configuration declares it (0 otherwise). */
    bool is_route;
    char cred_name[sizeof(ROUTE_CRED_PREFIX) + QN_ROUTE_NAME_MAX];
    enum qn_route_type route_type;
    struct qns_target target;
};

/* ---- language ----------------------------------------------------------- */

/* --lang, then the configuration's language, then the locale (i18n.h). */
static void set_language(const struct program *p)
{
    qn_i18n_set_language(p->opt.lang, p->cfg_loaded ? p->cfg.language : QN_LANG_AUTO);
}

/* ---- messages ----------------------------------------------------------- */

static const char *backend_name(enum backend_id b)
{
    return b == BACKEND_CREDS ? "systemd-creds" : "libsecret";
}

static void print_fix(const char *fix)
{
    fprintf(stderr, _("  fix: %s\n"), fix);
}

/* The errno part of a detail, when there is one. */
static void print_detail(const struct qn_error *err)
{
    if (err->sys_errno != 0)
        fprintf(stderr, "  (%s: %s)\n", err->detail, strerror(err->sys_errno));
    else if (err->detail[0] != '\0')
        fprintf(stderr, "  (%s)\n", err->detail);
}

/* Whose secret it is, for messages: "USER on HOST", or "route NAME". */
static const char *whose(const struct program *p, char *buf, size_t n)
{
    if (p->is_route)
        snprintf(buf, n, _("route %s"), p->host);
    else
        snprintf(buf, n, _("%s on %s"), p->user, p->host);
    return buf;
}

/* The failures told by a fixed headline, the detail and a fix: (status, backend) ->
 * words and exit code.  msgids, translated when printed. */
static const struct failure_text {
    enum qn_status status;
    enum backend_id backend; /* BACKEND_AUTO: either backend */
    const char *headline;
    const char *fix; /* NULL: none */
    int exit_code;
} failure_texts[] = {
    {QN_ENOBUS, BACKEND_AUTO, N_("there is no D-Bus session bus, so no Secret Service either"),
     N_("run this inside your desktop session (or under dbus-run-session with a keyring daemon); "
        "on a server, run it as root: the secret then goes to systemd-creds"),
     QN_EXIT_UNAVAILABLE},
    {QN_ECONNECT, BACKEND_AUTO, N_("cannot connect to the D-Bus session bus"),
     N_("check that the session bus of this login runs (systemctl --user status dbus); a "
        "DBUS_SESSION_BUS_ADDRESS left over from another session must be unset"),
     QN_EXIT_UNAVAILABLE},
    {QN_ENOSERVICE, BACKEND_CREDS, N_("systemd-creds is not installed"),
     N_("install systemd 250 or newer, which provides it: apt install systemd (Debian 12, Ubuntu "
        "22.04 and later), dnf install systemd (Fedora, RHEL 9 and later); or use --backend "
        "libsecret in a desktop session"),
     QN_EXIT_UNAVAILABLE},
    {QN_ENOSERVICE, BACKEND_AUTO,
     N_("no Secret Service on the session bus (no keyring daemon runs)"),
     N_("install and start a keyring: gnome-keyring (apt install gnome-keyring / dnf install "
        "gnome-keyring, then log in again) or KeePassXC with \"Secret Service integration\" on; "
        "on a server use systemd-creds as root"),
     QN_EXIT_UNAVAILABLE},
    {QN_ENOKEYRING, BACKEND_AUTO, N_("the Secret Service has no default keyring"),
     N_("create a keyring and make it the default (Seahorse \"Passwords and Keys\", or "
        "KeePassXC's Secret Service settings), then retry"),
     QN_EXIT_UNAVAILABLE},
    {QN_ELOCKED, BACKEND_AUTO, N_("the keyring is locked"),
     N_("unlock it (log in to the desktop, or unlock the \"Login\" keyring in Seahorse or the "
        "database in KeePassXC) and retry; an unlock prompt may be waiting on the screen"),
     QN_EXIT_TEMPFAIL},
    {QN_ESERVICE, BACKEND_CREDS, N_("systemd-creds failed"),
     N_("a credential made on another machine, or before the host key "
        "/var/lib/systemd/credential.secret changed, cannot be decrypted: store it again with "
        "sudo qqnotify-secret set"),
     QN_EXIT_UNAVAILABLE},
    {QN_ESERVICE, BACKEND_AUTO, N_("the Secret Service failed"),
     N_("see the keyring daemon's log (journalctl --user) and retry"), QN_EXIT_UNAVAILABLE},
    {QN_EPERM, BACKEND_AUTO, N_("systemd-creds needs root"),
     N_("run it with sudo (the credential file and the host key "
        "/var/lib/systemd/credential.secret belong to root), or use --backend libsecret in a "
        "desktop session"),
     QN_EXIT_NOPERM},
    {QN_EIO, BACKEND_AUTO, N_("a local file operation failed"), NULL, QN_EXIT_IOERR},
    {QN_ETOOBIG, BACKEND_AUTO, N_("the secret is too long"), NULL, QN_EXIT_DATAERR},
};

/* Say what went wrong with backend B and what to do; return the exit code. */
static int report(const struct program *p, enum backend_id b, enum qn_status r,
                  const struct qn_error *err)
{
    char path[4200], who[600];
    size_t i;

    switch (r) {
    case QN_OK:
        return QN_EXIT_OK;
    case QN_ENOTFOUND:
        if (b == BACKEND_CREDS) {
            (void)qns_creds_path(&p->target, path, sizeof(path));
            fprintf(stderr, _("%s: no secret stored with systemd-creds: %s does not exist\n"), PROG,
                    path);
            if (p->is_route)
                fprintf(stderr,
                        _("  fix: store it as root: sudo qqnotify-secret set --backend "
                          "systemd-creds --route %s\n"),
                        p->host);
            else
                fprintf(stderr,
                        _("  fix: store it as root: sudo qqnotify-secret set --backend "
                          "systemd-creds --user %s\n"),
                        p->user);
        } else {
            fprintf(stderr, _("%s: no secret stored in the Secret Service for %s\n"), PROG,
                    whose(p, who, sizeof(who)));
            if (p->is_route)
                fprintf(stderr, _("  fix: store it: qqnotify-secret set --route %s\n"), p->host);
            else
                fprintf(stderr, _("  fix: store it: qqnotify-secret set --user %s --host %s\n"),
                        p->user, p->host);
        }
        return QN_EXIT_NOT_FOUND;
    case QN_ETIMEOUT:
        fprintf(stderr, _("%s: %s did not answer within %u seconds\n"), PROG, backend_name(b),
                p->target.timeout_s);
        print_detail(err);
        if (b == BACKEND_CREDS)
            print_fix(_("systemd-creds hung: check the system's load and that it works by hand "
                        "(systemd-creds list), or give more time with --timeout"));
        else
            print_fix(_("an unlock prompt may be waiting on the screen: answer it and retry, or "
                        "give more time with --timeout"));
        return QN_EXIT_TEMPFAIL;
    case QN_ENOMEM:
        fprintf(stderr, _("%s: out of memory\n"), PROG);
        return QN_EXIT_OSERR;
    default:
        break;
    }
    for (i = 0; i < sizeof(failure_texts) / sizeof(failure_texts[0]); i++) {
        const struct failure_text *t = &failure_texts[i];

        if (t->status != r || (t->backend != BACKEND_AUTO && t->backend != b))
            continue;
        fprintf(stderr, _("%s: %s\n"), PROG, _(t->headline));
        print_detail(err);
        if (t->fix != NULL)
            print_fix(_(t->fix));
        return t->exit_code;
    }
    return QN_EXIT_SOFTWARE;
}

/* Say what was wrong with what came in on stdin (or the terminal); return the exit code. */
static int report_input(enum qn_status r, const struct qn_gitcred_request *req, unsigned timeout_s)
{
    switch (r) {
    case QN_OK:
        return QN_EXIT_OK;
    case QN_ENOTFOUND:
        fprintf(stderr, _("%s: the secret is empty; nothing was stored\n"), PROG);
        return QN_EXIT_DATAERR;
    case QN_ETOOBIG:
        if (req != NULL && req->bad_key[0] != '\0')
            fprintf(stderr, _("%s: the value of \"%s\" on standard input is too long\n"), PROG,
                    req->bad_key);
        else
            fprintf(stderr,
                    _("%s: the input is too long (the secret may have at most %d "
                      "bytes)\n"),
                    PROG, QN_SECRET_MAX);
        return QN_EXIT_DATAERR;
    case QN_EINVAL:
        if (req != NULL && req->bad_key[0] != '\0')
            fprintf(stderr,
                    _("%s: bad credential line for \"%s\" on standard input: expected key=value "
                      "without control characters\n"),
                    PROG, req->bad_key);
        else
            fprintf(stderr,
                    _("%s: the secret contains a control character; nothing was "
                      "stored\n"),
                    PROG);
        return QN_EXIT_DATAERR;
    case QN_ETIMEOUT:
        fprintf(stderr, _("%s: nothing complete arrived on standard input within %u seconds\n"),
                PROG, timeout_s);
        return QN_EXIT_TEMPFAIL;
    case QN_EIO:
        fprintf(stderr, _("%s: cannot read standard input: %s\n"), PROG, strerror(errno));
        return QN_EXIT_IOERR;
    case QN_ENOMEM:
        fprintf(stderr, _("%s: out of memory\n"), PROG);
        return QN_EXIT_OSERR;
    default:
        return QN_EXIT_SOFTWARE;
    }
}

/* ---- account ------------------------------------------------------------ */

static int report_config(const struct program *p, enum qn_status r,
                         const struct qn_config_error *cerr)
{
    if (cerr->line > 0)
        fprintf(stderr, "%s: %s:%u: ", PROG, cerr->file, cerr->line);
    else
        fprintf(stderr, "%s: %s: ", PROG, cerr->file[0] ? cerr->file : p->opt.config_path);
    fputs(cerr->what != NULL ? _(cerr->what) : _(qn_strerror(r)), stderr);
    if (cerr->key[0] != '\0')
        fprintf(stderr, " (%s)", cerr->key);
    if (r == QN_EIO && cerr->sys_errno != 0)
        fprintf(stderr, ": %s", strerror(cerr->sys_errno));
    fputc('\n', stderr);
    if (cerr->fix != NULL)
        print_fix(_(cerr->fix));
    return QN_EXIT_CONFIG;
}

/* A user or host name we can put into keyring attributes and messages. */
static bool field_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > QN_GITCRED_FIELD_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c <= 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

/*
 * Decide the account: the request on stdin (when given), then --host and
 * --user, then the configuration file.  The file is read only when
 * something is still missing or -c was given, so the helper works without
 * one when the caller says everything.
 */
/* A route's name: route.h's form (lower case, a letter first, at most 31 bytes). */
static bool route_name_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= QN_ROUTE_NAME_MAX || s[0] < 'a' || s[0] > 'z')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
              s[i] == '_'))
            return false;
    }
    return true;
}

/*
 * The route NAME as the target: its credential and Secret Service names,
 * and its type from the configuration (needed only by `set`, which asks
 * for the parts the type has: NEED_TYPE).
 */
static int resolve_route(struct program *p, const char *name, bool need_type)
{
    struct qn_config_error cerr;
    const struct qn_route *route;
    enum qn_status r;

    if (!route_name_ok(name) || strcmp(name, QN_ROUTE_SMTP) == 0) {
        fprintf(stderr, _("%s: \"%s\" is not a chat robot route's name\n"), PROG, name);
        print_fix(_("name the route of a [route NAME] section (lower-case letters, digits, '-' "
                    "and '_'); the SMTP account needs no --route"));
        return QN_EXIT_USAGE;
    }
    p->is_route = true;
    snprintf(p->host, sizeof(p->host), "%s", name);
    p->user[0] = '\0';
    snprintf(p->cred_name, sizeof(p->cred_name), ROUTE_CRED_PREFIX "%s", name);
    p->target.service = QN_GITCRED_ROUTE_PROTOCOL;
    p->target.cred_name = p->cred_name;
    p->target.host = p->host;
    p->target.user = p->user;
    if (!need_type)
        return QN_EXIT_OK;
    memset(&cerr, 0, sizeof(cerr));
    r = qn_config_load(&p->cfg, p->opt.config_path, &cerr);
    if (r != QN_OK)
        return report_config(p, r, &cerr);
    p->cfg_loaded = true;
    set_language(p);
    route = qn_routes_find(&p->cfg.routes, name);
    if (route == NULL || route->type == QN_ROUTE_TYPE_SMTP) {
        fprintf(stderr, _("%s: %s declares no [route %s]\n"), PROG, p->opt.config_path, name);
        print_fix(_("add the section (type = wecom, dingtalk or feishu) first: the secret's "
                    "parts depend on the type"));
        return QN_EXIT_CONFIG;
    }
    p->route_type = route->type;
    return QN_EXIT_OK;
}

static int resolve_account(struct program *p, const struct qn_gitcred_request *req)
{
    const char *host = req != NULL && req->host[0] ? req->host : p->opt.host;
    const char *user = req != NULL && req->username[0] ? req->username : p->opt.user;
    struct qn_config_error cerr;
    enum qn_status r;

    /* A route, from the request (a program asks) or --route (a person does). */
    if (req != NULL && strcmp(req->protocol, QN_GITCRED_ROUTE_PROTOCOL) == 0)
        return resolve_route(p, req->host, false);
    if (p->opt.route != NULL)
        return resolve_route(p, p->opt.route, false);

    if (host == NULL || user == NULL || p->opt.config_explicit) {
        memset(&cerr, 0, sizeof(cerr));
        r = qn_config_load(&p->cfg, p->opt.config_path, &cerr);
        if (r == QN_OK) {
            p->cfg_loaded = true;
            set_language(p);
        } else if (r == QN_ENOTFOUND && !p->opt.config_explicit && user != NULL) {
            qn_config_defaults(&p->cfg); /* only the host is missing: the qq preset */
        } else if (r == QN_ENOTFOUND && !p->opt.config_explicit) {
            fprintf(stderr, _("%s: which account? %s does not exist and no --user was given\n"),
                    PROG, p->opt.config_path);
            print_fix(_("give the account: qqnotify-secret --user 123456789@qq.com ... (and "
                        "--host when it is not smtp.qq.com), or write [smtp] user in the "
                        "configuration file"));
            return QN_EXIT_CONFIG;
        } else {
            return report_config(p, r, &cerr);
        }
        if (host == NULL)
            host = p->cfg.host;
        if (user == NULL)
            user = p->cfg.user;
    }
    if (!field_ok(host)) {
        fprintf(stderr, _("%s: the server name \"%s\" is not usable\n"), PROG, host);
        return QN_EXIT_USAGE;
    }
    if (!field_ok(user)) {
        fprintf(stderr, _("%s: the account \"%s\" is not usable\n"), PROG, user);
        return QN_EXIT_USAGE;
    }
    snprintf(p->host, sizeof(p->host), "%s", host);
    snprintf(p->user, sizeof(p->user), "%s", user);
    p->target.service = "smtp";
    p->target.cred_name = QNS_CRED_NAME;
    p->target.host = p->host;
    p->target.user = p->user;
    return QN_EXIT_OK;
}

/* ---- backend choice ----------------------------------------------------- */

/*
 * The backend `set` and `store` write to, with the reason in words for
 * people.  Returns QN_OK or the reason no backend can be chosen (QN_ENOBUS).
 */
static enum qn_status choose_backend(const struct program *p, enum backend_id *ret,
                                     const char **ret_why, struct qn_error *err)
{
    bool root = geteuid() == 0;
    enum qn_status r;

    if (p->opt.backend != BACKEND_AUTO) {
        *ret = p->opt.backend;
        *ret_why = _("chosen with --backend");
        return QN_OK;
    }
    r = qns_libsecret_bus(err);
    if (r == QN_OK && !root) {
        *ret = BACKEND_LIBSECRET;
        *ret_why = _("a D-Bus session bus is available (a desktop session)");
        return QN_OK;
    }
    if (r == QN_OK) {
        /* root with a bus: a desktop's keyring if it has one, else the
         * system's credential store, which services can load. */
        if (qns_libsecret_probe(&p->target, err) == QN_OK) {
            *ret = BACKEND_LIBSECRET;
            *ret_why = _("running as root in a session whose bus has a Secret Service");
        } else {
            *ret = BACKEND_CREDS;
            *ret_why = _("running as root; no Secret Service answers on the session bus");
        }
        return QN_OK;
    }
    if (root) {
        *ret = BACKEND_CREDS;
        *ret_why = _("running as root without a D-Bus session bus (a server or system service)");
        return QN_OK;
    }
    return QN_ENOBUS;
}

/* The backends `get`, `erase` and `status` consult, in order.  Returns how
 * many (0 when none is reachable: see choose_backend's error). */
static size_t backends_to_search(const struct program *p, enum backend_id out[2])
{
    struct qn_error ignored;
    size_t n = 0;

    memset(&ignored, 0, sizeof(ignored));
    if (p->opt.backend != BACKEND_AUTO) {
        out[n++] = p->opt.backend;
        return n;
    }
    if (qns_libsecret_bus(&ignored) == QN_OK)
        out[n++] = BACKEND_LIBSECRET;
    if (geteuid() == 0)
        out[n++] = BACKEND_CREDS;
    return n;
}

static enum qn_status backend_lookup(const struct program *p, enum backend_id b,
                                     struct qn_secret *ret, struct qn_error *err)
{
    memset(err, 0, sizeof(*err));
    if (b == BACKEND_CREDS)
        return qns_creds_lookup(&p->target, ret, err);
    return qns_libsecret_lookup(&p->target, ret, err);
}

static enum qn_status backend_erase(const struct program *p, enum backend_id b,
                                    struct qn_error *err)
{
    memset(err, 0, sizeof(*err));
    if (b == BACKEND_CREDS)
        return qns_creds_erase(&p->target, err);
    return qns_libsecret_erase(&p->target, err);
}

static enum qn_status backend_store(const struct program *p, enum backend_id b,
                                    const struct qn_secret *secret, struct qn_error *err)
{
    char label[600];

    memset(err, 0, sizeof(*err));
    if (b == BACKEND_CREDS)
        return qns_creds_store(&p->target, secret, err);
    /* Not translated: the label stays the same whoever looks at it later. */
    if (p->is_route)
        snprintf(label, sizeof(label), "qqnotify: secret of the chat robot route %s", p->host);
    else
        snprintf(label, sizeof(label), "qqnotify: SMTP authorization code for %s on %s", p->user,
                 p->host);
    return qns_libsecret_store(&p->target, label, secret, err);
}

/* ---- commands ----------------------------------------------------------- */

/* A request for another protocol (https, when someone lists us as a git
 * helper) is not ours: helpers answer nothing and let the next one try. */
static bool request_is_ours(const struct qn_gitcred_request *req)
{
    return req->protocol[0] == '\0' || strcmp(req->protocol, "smtp") == 0 ||
           strcmp(req->protocol, "smtps") == 0 || strcmp(req->protocol, "submission") == 0 ||
           strcmp(req->protocol, QN_GITCRED_ROUTE_PROTOCOL) == 0;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* stdin of get/store/erase: the credential request, unless a person is at a
 * terminal (then the options and the configuration say everything). */
static int read_request(const struct program *p, struct qn_gitcred_request *req)
{
    enum qn_status r;

    if (isatty(STDIN_FILENO)) {
        memset(req, 0, sizeof(*req));
        return QN_EXIT_OK;
    }
    r = qns_request_read(STDIN_FILENO, p->opt.timeout_s, req);
    return report_input(r, req, p->opt.timeout_s);
}

static int cmd_get(struct program *p)
{
    struct qn_gitcred_request req;
    struct qn_secret secret = {0}, line = {0};
    struct qn_error errs[2];
    enum qn_status results[2], r;
    enum backend_id order[2];
    size_t n, i;
    int rc;

    rc = read_request(p, &req);
    if (rc != QN_EXIT_OK || !request_is_ours(&req))
        goto out;
    /* Refuse before the secret is in memory at all. */
    if (isatty(STDOUT_FILENO) && !p->opt.force) {
        fprintf(stderr, _("%s: refusing to print the secret on a terminal\n"), PROG);
        print_fix(_("`get` is for programs (it answers on a pipe); check for a secret with "
                    "qqnotify-secret status, or add --force if you really want to see it"));
        rc = QN_EXIT_USAGE;
        goto out;
    }
    rc = resolve_account(p, &req);
    if (rc != QN_EXIT_OK)
        goto out;
    n = backends_to_search(p, order);
    if (n == 0) {
        memset(&errs[0], 0, sizeof(errs[0]));
        (void)qns_libsecret_bus(&errs[0]);
        rc = report(p, BACKEND_LIBSECRET, QN_ENOBUS, &errs[0]);
        goto out;
    }
    if (qn_secret_init(&secret, QN_SECRET_MAX) != QN_OK) {
        rc = report(p, BACKEND_AUTO, QN_ENOMEM, NULL);
        goto out;
    }
    for (i = 0; i < n; i++) {
        results[i] = backend_lookup(p, order[i], &secret, &errs[i]);
        if (results[i] == QN_OK)
            break;
    }
    if (i == n) {
        /* Say what each backend answered; the exit code is that of the
         * first real failure ("locked" says more than "not found"). */
        rc = QN_EXIT_OK;
        for (i = 0; i < n; i++) {
            int code = report(p, order[i], results[i], &errs[i]);

            if (rc == QN_EXIT_OK || (rc == QN_EXIT_NOT_FOUND && code != QN_EXIT_NOT_FOUND))
                rc = code;
        }
        goto out;
    }
    /* A secret stored by another tool may hold a line break, which would add
     * lines to the credential reply (a second password=, a forged key). */
    r = p->is_route ? qn_gitcred_write_route_reply(secret.data, secret.len, &line)
                    : qn_gitcred_write_reply(secret.data, secret.len, &line);
    if (r == QN_EINVAL) {
        fprintf(stderr,
                _("%s: the stored secret contains a control character; store it again with "
                  "qqnotify-secret set\n"),
                PROG);
        rc = QN_EXIT_DATAERR;
        goto out;
    }
    if (r != QN_OK) {
        rc = report(p, order[i], r, &errs[i]);
        goto out;
    }
    /* One write(2) from locked memory: no stdio buffer ever holds it. */
    if (write_all(STDOUT_FILENO, line.data, line.len) < 0) {
        fprintf(stderr, _("%s: cannot write to standard output: %s\n"), PROG, strerror(errno));
        rc = QN_EXIT_IOERR;
        goto out;
    }
    rc = QN_EXIT_OK;
out:
    qn_secret_wipe(&line);
    qn_secret_wipe(&secret);
    qn_gitcred_request_wipe(&req);
    return rc;
}

static int cmd_store(struct program *p)
{
    struct qn_gitcred_request req;
    struct qn_error err;
    enum backend_id b;
    const char *why;
    enum qn_status r;
    int rc;

    memset(&req, 0, sizeof(req));
    if (isatty(STDIN_FILENO)) {
        fprintf(stderr, _("%s: `store` reads a credential (key=value lines) on standard input\n"),
                PROG);
        print_fix(_("to type the secret yourself, use qqnotify-secret set"));
        return QN_EXIT_USAGE;
    }
    rc = read_request(p, &req);
    if (rc != QN_EXIT_OK || !request_is_ours(&req))
        goto out;
    if (req.password.len == 0) {
        fprintf(stderr, _("%s: `store` got no password= line on standard input\n"), PROG);
        rc = QN_EXIT_DATAERR;
        goto out;
    }
    rc = resolve_account(p, &req);
    if (rc != QN_EXIT_OK)
        goto out;
    if (p->is_route) {
        /* git's store carries one password; a route's secret may have two parts. */
        fprintf(stderr, _("%s: `store` does not take a route's secret\n"), PROG);
        print_fix(_("store it with qqnotify-secret set --route NAME"));
        rc = QN_EXIT_USAGE;
        goto out;
    }
    memset(&err, 0, sizeof(err));
    r = choose_backend(p, &b, &why, &err);
    if (r == QN_OK)
        r = backend_store(p, b, &req.password, &err);
    else
        b = BACKEND_LIBSECRET;
    rc = report(p, b, r, &err);
out:
    qn_gitcred_request_wipe(&req);
    return rc;
}

static int cmd_erase(struct program *p)
{
    char who[600];
    struct qn_gitcred_request req;
    struct qn_error err;
    enum backend_id order[2];
    enum qn_status r;
    bool interactive = isatty(STDIN_FILENO);
    bool erased = false;
    int rc, worst = QN_EXIT_OK;
    size_t n, i;

    rc = read_request(p, &req);
    if (rc != QN_EXIT_OK || !request_is_ours(&req))
        goto out;
    rc = resolve_account(p, &req);
    if (rc != QN_EXIT_OK)
        goto out;
    n = backends_to_search(p, order);
    if (n == 0) {
        memset(&err, 0, sizeof(err));
        (void)qns_libsecret_bus(&err);
        rc = report(p, BACKEND_LIBSECRET, QN_ENOBUS, &err);
        goto out;
    }
    for (i = 0; i < n; i++) {
        r = backend_erase(p, order[i], &err);
        if (r == QN_OK) {
            erased = true;
            if (interactive)
                fprintf(stderr, _("%s: erased the secret for %s from %s\n"), PROG,
                        whose(p, who, sizeof(who)), backend_name(order[i]));
        } else if (r == QN_ENOTFOUND || (r == QN_ENOSERVICE && order[i] == BACKEND_LIBSECRET &&
                                         p->opt.backend == BACKEND_AUTO)) {
            /* Nothing there; a bus without a keyring holds nothing either,
             * unless --backend said to expect one. */
        } else {
            worst = report(p, order[i], r, &err);
        }
    }
    if (worst != QN_EXIT_OK) {
        rc = worst;
    } else if (erased) {
        rc = QN_EXIT_OK;
    } else if (interactive) {
        fprintf(stderr, _("%s: no secret was stored for %s; nothing to erase\n"), PROG,
                whose(p, who, sizeof(who)));
        rc = QN_EXIT_NOT_FOUND;
    } else {
        rc = QN_EXIT_OK; /* git's erase: nothing there is not a failure */
    }
out:
    qn_gitcred_request_wipe(&req);
    return rc;
}

/* One part of a route's secret into OUT (set up, cap QN_SECRET_MAX + 2): hidden and
 * twice on a terminal (AGAIN: the second entry), one line from a pipe.  QN_ENOTFOUND:
 * nothing was given; QN_EEOF: the two entries differ. */
static enum qn_status read_part(const struct program *p, const char *prompt, struct qn_secret *out,
                                struct qn_secret *again)
{
    enum qn_status r;

    if (!isatty(STDIN_FILENO))
        return qns_read_secret_line(STDIN_FILENO, p->opt.timeout_s, out);
    qn_secret_clear(again);
    r = qns_prompt_secret(STDIN_FILENO, prompt, _("Repeat it: "), out, again);
    if (r == QN_OK && (again->len != out->len || memcmp(again->data, out->data, out->len) != 0))
        return QN_EEOF;
    return r;
}

/*
 * A route's secret into SECRET as route.h reads it: the key, token or hook
 * id, and for DingTalk and Feishu the signing secret on a second line when
 * one is given (nothing typed, or no second line on a pipe: the robot does
 * not sign).  Checked before anything is stored.
 */
static int read_route_secret(struct program *p, struct qn_secret *secret)
{
    struct qn_secret id = {0}, sign = {0}, again = {0};
    struct qn_route_secret parts;
    const char *why = NULL;
    char prompt[600];
    enum qn_status r = QN_ENOMEM;
    int rc;

    if (p->route_type == QN_ROUTE_TYPE_WECOM)
        snprintf(prompt, sizeof(prompt),
                 _("Robot key of route %s (the part after key= of its webhook address; input "
                   "hidden): "),
                 p->host);
    else if (p->route_type == QN_ROUTE_TYPE_DINGTALK)
        snprintf(prompt, sizeof(prompt),
                 _("Access token of route %s (the part after access_token= of its webhook "
                   "address; input hidden): "),
                 p->host);
    else
        snprintf(prompt, sizeof(prompt),
                 _("Hook id of route %s (the part after /hook/ of its webhook address; input "
                   "hidden): "),
                 p->host);
    if (qn_secret_init(&id, QN_SECRET_MAX + 2) == QN_OK &&
        qn_secret_init(&sign, QN_SECRET_MAX + 2) == QN_OK &&
        qn_secret_init(&again, QN_SECRET_MAX + 2) == QN_OK)
        r = read_part(p, prompt, &id, &again);
    if (r == QN_OK && p->route_type != QN_ROUTE_TYPE_WECOM) {
        r = read_part(p,
                      p->route_type == QN_ROUTE_TYPE_DINGTALK
                          ? _("Signing secret (SEC..., from the robot's security settings; Enter "
                              "alone when it does not sign): ")
                          : _("Signing secret (from the bot's security settings; Enter alone "
                              "when it does not sign): "),
                      &sign, &again);
        if (r == QN_ENOTFOUND)
            r = QN_OK; /* a robot that does not sign */
    }
    /* A pipe with more lines than the type's secret has: a mistake, not a secret to cut. */
    if (r == QN_OK && !isatty(STDIN_FILENO)) {
        qn_secret_clear(&again);
        if (qns_read_secret_line(STDIN_FILENO, 1, &again) != QN_ENOTFOUND && again.len > 0) {
            fprintf(stderr,
                    _("%s: more lines than the secret of a %s robot has (%s); nothing was "
                      "stored\n"),
                    PROG, qn_route_type_name(p->route_type),
                    p->route_type == QN_ROUTE_TYPE_WECOM ? _("its key")
                                                         : _("a token or hook id, then the "
                                                             "signing secret"));
            rc = QN_EXIT_DATAERR;
            goto out;
        }
    }
    if (r == QN_EEOF) {
        fprintf(stderr, _("%s: the two entries differ; nothing was stored\n"), PROG);
        rc = QN_EXIT_DATAERR;
        goto out;
    }
    if (r != QN_OK) {
        rc = report_input(r, NULL, p->opt.timeout_s);
        goto out;
    }
    qn_secret_clear(secret);
    if (qn_secret_append(secret, id.data, id.len) != QN_OK ||
        (sign.len > 0 && (qn_secret_append(secret, "\n", 1) != QN_OK ||
                          qn_secret_append(secret, sign.data, sign.len) != QN_OK))) {
        rc = report_input(QN_ETOOBIG, NULL, p->opt.timeout_s);
        goto out;
    }
    if (qn_route_secret_parse(p->route_type, secret->data, secret->len, &parts, &why) != QN_OK) {
        fprintf(stderr, _("%s: this is not the secret of a %s robot: %s; nothing was stored\n"),
                PROG, qn_route_type_name(p->route_type), why);
        rc = QN_EXIT_DATAERR;
        goto out;
    }
    rc = QN_EXIT_OK;
out:
    qn_secret_wipe(&id);
    qn_secret_wipe(&sign);
    qn_secret_wipe(&again);
    return rc;
}

static int cmd_set(struct program *p)
{
    struct qn_secret secret = {0}, again = {0};
    struct qn_error err;
    enum backend_id b;
    const char *why;
    enum qn_status r;
    char prompt[600], path[4200], who[600];
    int rc;

    memset(&err, 0, sizeof(err));
    rc = p->opt.route != NULL ? resolve_route(p, p->opt.route, true) : resolve_account(p, NULL);
    if (rc != QN_EXIT_OK)
        goto out;
    r = choose_backend(p, &b, &why, &err);
    if (r != QN_OK) {
        rc = report(p, BACKEND_LIBSECRET, r, &err);
        goto out;
    }
    fprintf(stderr, _("%s: using %s: %s\n"), PROG, backend_name(b), why);
    /* Fail before asking for the secret when it could not be stored anyway. */
    if (b == BACKEND_CREDS) {
        char tool[4096];

        r = geteuid() != 0 ? QN_EPERM : qns_creds_tool(tool, sizeof(tool), &err);
        if (r != QN_OK) {
            rc = report(p, b, r, &err);
            goto out;
        }
    }
    if (qn_secret_init(&secret, QN_SECRET_MAX + 2) != QN_OK ||
        qn_secret_init(&again, QN_SECRET_MAX + 2) != QN_OK) {
        rc = report(p, b, QN_ENOMEM, &err);
        goto out;
    }
    if (p->is_route) {
        rc = read_route_secret(p, &secret);
        if (rc != QN_EXIT_OK)
            goto out;
        r = QN_OK;
    } else if (isatty(STDIN_FILENO)) {
        snprintf(prompt, sizeof(prompt), _("Authorization code for %s on %s (input hidden): "),
                 p->user, p->host);
        r = qns_prompt_secret(STDIN_FILENO, prompt, _("Repeat it: "), &secret, &again);
        if (r == QN_OK &&
            (again.len != secret.len || memcmp(again.data, secret.data, secret.len) != 0)) {
            fprintf(stderr, _("%s: the two entries differ; nothing was stored\n"), PROG);
            rc = QN_EXIT_DATAERR;
            goto out;
        }
    } else {
        r = qns_read_secret_line(STDIN_FILENO, p->opt.timeout_s, &secret);
    }
    if (r != QN_OK) {
        rc = report_input(r, NULL, p->opt.timeout_s);
        goto out;
    }
    r = backend_store(p, b, &secret, &err);
    if (r != QN_OK) {
        rc = report(p, b, r, &err);
        goto out;
    }
    if (b == BACKEND_CREDS) {
        (void)qns_creds_path(&p->target, path, sizeof(path));
        fprintf(stderr, _("%s: stored the secret for %s in %s (systemd-creds)\n"), PROG,
                p->is_route ? whose(p, who, sizeof(who)) : p->user, path);
        fprintf(stderr, _("  a service loads it with: LoadCredentialEncrypted=%s:%s\n"),
                p->target.cred_name, path);
    } else {
        fprintf(stderr, _("%s: stored the secret for %s in the Secret Service\n"), PROG,
                whose(p, who, sizeof(who)));
    }
    rc = QN_EXIT_OK;
out:
    qn_secret_wipe(&again);
    qn_secret_wipe(&secret);
    return rc;
}

/* One backend's line of `status`; returns true when it holds the secret. */
static bool status_backend(const struct program *p, enum backend_id b, bool reachable)
{
    struct qn_secret probe;
    struct qn_error err;
    enum qn_status r;
    char path[4200];

    if (b == BACKEND_CREDS)
        (void)qns_creds_path(&p->target, path, sizeof(path));
    if (b == BACKEND_CREDS)
        printf(_("systemd-creds (%s): "), path);
    else
        printf(_("libsecret (Secret Service): "));
    if (!reachable) {
        if (b == BACKEND_CREDS)
            printf(_("not checked: needs root\n"));
        else
            printf(_("not checked: no D-Bus session bus\n"));
        return false;
    }
    if (qn_secret_init(&probe, QN_SECRET_MAX) != QN_OK) {
        printf(_("not checked: out of memory\n"));
        return false;
    }
    /* A real lookup (and decryption) is the only proof the secret can be
     * read; it is wiped at once and never shown. */
    r = backend_lookup(p, b, &probe, &err);
    qn_secret_wipe(&probe);
    if (r == QN_OK) {
        printf(_("a secret is stored\n"));
        return true;
    }
    if (r == QN_ENOTFOUND) {
        printf(_("no secret stored\n"));
        return false;
    }
    printf(_("cannot tell (see below)\n"));
    fflush(stdout);
    (void)report(p, b, r, &err);
    return false;
}

static int cmd_status(struct program *p)
{
    struct qn_error err;
    enum backend_id b;
    const char *why;
    enum qn_status r;
    bool found = false, bus, root = geteuid() == 0;
    int rc;

    rc = resolve_account(p, NULL);
    if (rc != QN_EXIT_OK)
        return rc;
    if (p->is_route)
        printf(_("route: %s\n"), p->host);
    else
        printf(_("account: %s on %s\n"), p->user, p->host);
    memset(&err, 0, sizeof(err));
    bus = qns_libsecret_bus(&err) == QN_OK;
    if (p->opt.backend != BACKEND_CREDS)
        found |= status_backend(p, BACKEND_LIBSECRET, bus || p->opt.backend == BACKEND_LIBSECRET);
    if (p->opt.backend != BACKEND_LIBSECRET)
        found |= status_backend(p, BACKEND_CREDS, root || p->opt.backend == BACKEND_CREDS);
    r = choose_backend(p, &b, &why, &err);
    if (r == QN_OK)
        printf(_("`set` would use %s: %s\n"), backend_name(b), why);
    else
        printf(_("`set` would fail: no D-Bus session bus and not root\n"));
    if (!found) {
        if (p->is_route)
            printf(_("no backend holds a secret for this route; store it with: qqnotify-secret "
                     "set --route %s\n"),
                   p->host);
        else
            printf(_("no backend holds a secret for this account; store it with: "
                     "qqnotify-secret set\n"));
        return QN_EXIT_NOT_FOUND;
    }
    return QN_EXIT_OK;
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out,
            _("Usage: qqnotify-secret [OPTIONS] COMMAND\n"
              "\n"
              "Keeps the SMTP authorization code in a keyring (libsecret) or in an encrypted\n"
              "systemd credential, never in a configuration file.\n"
              "\n"
              "Commands for people:\n"
              "  set       ask for the secret (hidden; or one line on a pipe) and store it\n"
              "  status    tell which backend holds a secret for the account (never shows it)\n"
              "  erase     remove the secret\n"
              "Commands for programs (git credential helper protocol on stdin/stdout):\n"
              "  get       answer password=... (stdout must not be a terminal, or --force)\n"
              "  store     store the password= given on stdin\n"
              "  erase     remove the secret named on stdin\n"
              "\n"
              "Options:\n"
              "  -c, --config FILE    configuration that names the account (default %s)\n"
              "  -u, --user ADDR      the account (default: [smtp] user)\n"
              "  -H, --host HOST      the SMTP server (default: [smtp] host, else smtp.qq.com)\n"
              "  -r, --route NAME     the secret of the chat robot route NAME instead: for\n"
              "                       WeCom its key; for DingTalk and Feishu the access token\n"
              "                       or hook id, then the signing secret\n"
              "  -b, --backend NAME   libsecret or systemd-creds (default: chosen, see status)\n"
              "  --credstore DIR      systemd-creds directory (default %s)\n"
              "  --with-key KEY       systemd-creds key: host (default), auto, tpm2, host+tpm2\n"
              "  --timeout SECONDS    bound for every wait, 1-600 (default %d)\n"
              "  --force              let get print the secret on a terminal\n"
              "  --lang zh_CN|en      language of messages\n"
              "  -h, --help           this help\n"
              "  -V, --version        version\n"),
            QN_CONFIG_DEFAULT_PATH, QNS_CREDSTORE_DEFAULT, DEFAULT_TIMEOUT_S);
}

/* Before any secret exists in this process: no core dump may hold it, no
 * other process of this user may ptrace or read our memory, and files we
 * create are private. */
static int harden(void)
{
    struct sigaction sa;

    if (qn_secret_protect_process() != QN_OK) {
        fprintf(stderr, _("%s: cannot disable core dumps: %s\n"), PROG, strerror(errno));
        return QN_EXIT_OSERR;
    }
    umask(077);
    /* A reader that goes away (systemd-creds, the caller of get) must give
     * EPIPE, not kill us half-way. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    if (sigaction(SIGPIPE, &sa, NULL) < 0) {
        fprintf(stderr, "%s: sigaction: %s\n", PROG, strerror(errno));
        return QN_EXIT_OSERR;
    }
    return QN_EXIT_OK;
}

static bool parse_timeout(const char *s, unsigned *ret)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < 1 || v > MAX_TIMEOUT_S)
        return false;
    *ret = (unsigned)v;
    return true;
}

static bool with_key_ok(const char *s)
{
    static const char *const keys[] = {"host", "auto", "tpm2", "host+tpm2"};

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (strcmp(s, keys[i]) == 0)
            return true;
    }
    return false;
}

enum {
    OPT_CREDSTORE = 256,
    OPT_WITH_KEY,
    OPT_TIMEOUT,
    OPT_FORCE,
    OPT_LANG,
};

/* Options may come before or after the command (git appends the command to
 * a helper line that may carry options). */
static int parse_args(struct program *p, int argc, char **argv, const char **ret_cmd)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"user", required_argument, NULL, 'u'},
        {"host", required_argument, NULL, 'H'},
        {"backend", required_argument, NULL, 'b'},
        {"credstore", required_argument, NULL, OPT_CREDSTORE},
        {"with-key", required_argument, NULL, OPT_WITH_KEY},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"force", no_argument, NULL, OPT_FORCE},
        {"lang", required_argument, NULL, OPT_LANG},
        {"route", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;

    while ((c = getopt_long(argc, argv, "c:u:H:b:r:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            p->opt.config_path = optarg;
            p->opt.config_explicit = true;
            break;
        case 'u':
            p->opt.user = optarg;
            break;
        case 'H':
            p->opt.host = optarg;
            break;
        case 'b':
            if (strcmp(optarg, "libsecret") == 0) {
                p->opt.backend = BACKEND_LIBSECRET;
            } else if (strcmp(optarg, "systemd-creds") == 0) {
                p->opt.backend = BACKEND_CREDS;
            } else {
                fprintf(stderr, _("%s: unknown backend '%s': use libsecret or systemd-creds\n"),
                        PROG, optarg);
                return QN_EXIT_USAGE;
            }
            break;
        case OPT_CREDSTORE:
            if (optarg[0] != '/') {
                fprintf(stderr, _("%s: --credstore needs an absolute directory\n"), PROG);
                return QN_EXIT_USAGE;
            }
            p->opt.credstore = optarg;
            break;
        case OPT_WITH_KEY:
            if (!with_key_ok(optarg)) {
                fprintf(stderr, _("%s: unknown key '%s': use host, auto, tpm2 or host+tpm2\n"),
                        PROG, optarg);
                return QN_EXIT_USAGE;
            }
            p->opt.with_key = optarg;
            break;
        case OPT_TIMEOUT:
            if (!parse_timeout(optarg, &p->opt.timeout_s)) {
                fprintf(stderr, _("%s: --timeout takes whole seconds from 1 to %d\n"), PROG,
                        MAX_TIMEOUT_S);
                return QN_EXIT_USAGE;
            }
            break;
        case OPT_FORCE:
            p->opt.force = true;
            break;
        case 'r':
            if (!route_name_ok(optarg) || strcmp(optarg, QN_ROUTE_SMTP) == 0) {
                fprintf(stderr, _("%s: \"%s\" is not a chat robot route's name\n"), PROG, optarg);
                return QN_EXIT_USAGE;
            }
            p->opt.route = optarg;
            break;
        case OPT_LANG:
            if (!qn_i18n_is_zh(optarg) && strncmp(optarg, "en", 2) != 0) {
                fprintf(stderr, _("%s: unknown language '%s': use zh_CN or en\n"), PROG, optarg);
                return QN_EXIT_USAGE;
            }
            p->opt.lang = optarg;
            set_language(p);
            break;
        case 'h':
            usage(stdout);
            *ret_cmd = NULL;
            return -1;
        case 'V':
            printf("%s %s\n", PROG, QN_VERSION);
            *ret_cmd = NULL;
            return -1;
        default:
            usage(stderr);
            return QN_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        if (optind >= argc)
            fprintf(stderr, _("%s: no command given\n"), PROG);
        else
            fprintf(stderr, _("%s: one command only, got '%s' after '%s'\n"), PROG,
                    argv[optind + 1], argv[optind]);
        usage(stderr);
        return QN_EXIT_USAGE;
    }
    *ret_cmd = argv[optind];
    return QN_EXIT_OK;
}

int main(int argc, char **argv)
{
    static struct program prog; /* large (struct qn_config): not on the stack */
    struct program *p = &prog;
    const char *cmd = NULL;
    int rc;

    rc = harden();
    if (rc != QN_EXIT_OK)
        return rc;
    qn_i18n_bind(QN_LOCALEDIR);
    p->opt.config_path = QN_CONFIG_DEFAULT_PATH;
    p->opt.credstore = QNS_CREDSTORE_DEFAULT;
    p->opt.with_key = "host";
    p->opt.timeout_s = DEFAULT_TIMEOUT_S;
    qn_config_defaults(&p->cfg);
    set_language(p);

    rc = parse_args(p, argc, argv, &cmd);
    if (rc < 0)
        return QN_EXIT_OK; /* --help, --version */
    if (rc != QN_EXIT_OK)
        return rc;
    p->target.credstore = p->opt.credstore;
    p->target.with_key = p->opt.with_key;
    p->target.timeout_s = p->opt.timeout_s;

    if (strcmp(cmd, "get") == 0)
        return cmd_get(p);
    if (strcmp(cmd, "store") == 0)
        return cmd_store(p);
    if (strcmp(cmd, "erase") == 0)
        return cmd_erase(p);
    if (strcmp(cmd, "set") == 0)
        return cmd_set(p);
    if (strcmp(cmd, "status") == 0)
        return cmd_status(p);
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        return QN_EXIT_OK;
    }
    /* gitcredentials(7): a helper ignores operations it does not know (git
     * may add some); git never runs it with stdin on a terminal. */
    if (!isatty(STDIN_FILENO)) {
        fprintf(stderr, _("%s: unknown command '%s' ignored\n"), PROG, cmd);
        return QN_EXIT_OK;
    }
    fprintf(stderr, _("%s: unknown command '%s'; run 'qqnotify-secret --help'\n"), PROG, cmd);
    return QN_EXIT_USAGE;
}
