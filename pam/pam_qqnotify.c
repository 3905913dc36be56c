/*
 * pam_qqnotify — the PAM module: a session that opens (and optionally one
 * that closes, or a password that fails) becomes one event in the qqnotify
 * spool.  See pam_qqnotify(8) for the arguments and stack examples.
 *
 * The module runs inside sshd, sudo, su and login, so it is built to be
 * invisible to them:
 *   - It writes one spool entry and returns.  It does not wait for the
 *     disk either (qn_enqueue_event_nowait: an fsync waits for the file
 *     system's whole journal commit, which a busy or failing disk can stretch
 *     to seconds); `sync` makes it wait.  No network, no DNS, no
 *     OpenSSL, no mail configuration: the sender (`qqnotify flush`) does all
 *     that later, started by qqnotify-flush.path or, with flush=spawn,
 *     detached from here (spawn.h).  The shared object links libc and
 *     libpam only, and exports only pam_sm_* (pam_qqnotify.map).
 *   - It fails open.  Every hook returns PAM_IGNORE, whatever happens, so
 *     the stack decides exactly as it would without this line; an error is
 *     logged with pam_syslog, one line per call.
 *   - It keeps no state: arguments are parsed on every call into a zeroed
 *     struct on the stack (pointers into argv, which PAM keeps alive for the
 *     call), the event is a fixed-size struct on the stack, no globals, no
 *     static buffers.  Thread-safe as long as each thread has its own handle.
 *   - It never touches the host's signal handlers, never leaves a child to
 *     reap and never keeps a file descriptor (the spool closes its own).
 *
 * Everything taken from PAM items or the PAM environment is untrusted (at
 * authfail, PAM_USER is whatever the attacker typed): it is capped to
 * QN_PAM_INPUT_MAX bytes here and sanitised by qn_event_set (valid UTF-8,
 * no control characters, bounded) before it reaches the spool.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <syslog.h>
#include <unistd.h>

#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "config.h"
#include "event.h"
#include "enqueue.h"
#include "spawn.h"
#include "sshkey.h"

/* The objects are built -fvisibility=hidden; only the PAM entry points are public. */
#define QN_PAM_EXPORT __attribute__((visibility("default")))

#ifndef QN_PAM_FLUSH_CMD
#define QN_PAM_FLUSH_CMD "/usr/bin/qqnotify"
#endif

#define QN_PAM_DEFAULT_SERVICES "sshd,sudo,sudo-i,su,su-l,login"
/* Bytes of any one PAM item or environment value looked at.  The event keeps
 * QN_EVENT_VALUE_MAX; the cap bounds the sanitiser's work on hostile input. */
#define QN_PAM_INPUT_MAX 4096
/* Bytes of SSH_AUTH_INFO_0 looked at: a few lines, an RSA-16384 key at most. */
#define QN_PAM_AUTHINFO_MAX 16384
/* Lines (authentication methods) of SSH_AUTH_INFO_0 listed in "method". */
#define QN_PAM_METHODS_MAX 4
/* Bytes of the "method" value: QN_PAM_METHODS_MAX names of up to 31 bytes. */
#define QN_PAM_METHOD_MAX 128
/* The sender's environment: nothing of the host's. */
#define QN_PAM_FLUSH_PATH "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
/* The "session" field, BOOT:PID:START (common/sessions.h), with its NUL. */
#define QN_PAM_SESSION_KEY_MAX 72

enum qn_pam_hook {
    QN_HOOK_OPEN = 1u << 0,     /* pam_sm_open_session, event "login" */
    QN_HOOK_CLOSE = 1u << 1,    /* pam_sm_close_session, event "logout" */
    QN_HOOK_AUTHFAIL = 1u << 2, /* pam_sm_authenticate, event "authfail" */
};

enum qn_pam_flush {
    QN_FLUSH_NONE = 0, /* qqnotify-flush.path notices the new entry */
    QN_FLUSH_SPAWN,    /* start flush_cmd detached (hosts without systemd) */
};

struct qn_pam_args {
    const char *services;   /* comma-separated PAM service names */
    const char *skip_users; /* comma-separated; NULL: skip nobody */
    const char *only_users; /* comma-separated; NULL: everybody */
    const char *spool_dir;
    const char *flush_cmd;
    unsigned events; /* enum qn_pam_hook bits; 0 until event= is seen */
    enum qn_pam_flush flush;
    bool only_remote;
    bool sync; /* wait until the entry is on the disk (two fsyncs) before returning */
    bool debug;
    bool unusable; /* an argument was refused in a way that forbids writing an event */
};

/* "name=" prefix test: the value after it, or NULL. */
static const char *arg_value(const char *arg, const char *name)
{
    size_t n = strlen(name);

    if (strncmp(arg, name, n) != 0 || arg[n] != '=')
        return NULL;
    return arg + n + 1;
}

/* True when NAME is one of the comma-separated items of LIST (exact, case-sensitive). */
static bool list_contains(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *p = list, *end;

    if (n == 0)
        return false;
    while (*p != '\0') {
        end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        if ((size_t)(end - p) == n && memcmp(p, name, n) == 0)
            return true;
        p = *end == ',' ? end + 1 : end;
    }
    return false;
}

static void parse_events(pam_handle_t *pamh, const char *value, struct qn_pam_args *args)
{
    const char *p = value, *end;
    size_t n;

    while (*p != '\0') {
        end = strchr(p, ',');
        if (end == NULL)
            end = p + strlen(p);
        n = (size_t)(end - p);
        if (n == 4 && memcmp(p, "open", 4) == 0)
            args->events |= QN_HOOK_OPEN;
        else if (n == 5 && memcmp(p, "close", 5) == 0)
            args->events |= QN_HOOK_CLOSE;
        else if (n == 8 && memcmp(p, "authfail", 8) == 0)
            args->events |= QN_HOOK_AUTHFAIL;
        else
            pam_syslog(pamh, LOG_ERR,
                       "unknown event \"%.*s\" in event=%.200s (use open, "
                       "close, authfail)",
                       (int)(n > 64 ? 64 : n), p, value);
        p = *end == ',' ? end + 1 : end;
    }
}

/*
 * All arguments into *ARGS, defaults first.  Unknown or malformed arguments
 * are logged and skipped; a relative spool= or flush_cmd= makes the call
 * unusable (logged), because guessing another directory or program would
 * put alerts where nobody looks.
 */
static void parse_args(pam_handle_t *pamh, int argc, const char **argv, struct qn_pam_args *args)
{
    const char *v;
    int i;

    memset(args, 0, sizeof(*args));
    args->services = QN_PAM_DEFAULT_SERVICES;
    args->spool_dir = QN_CONFIG_DEFAULT_SPOOL;
    args->flush_cmd = QN_PAM_FLUSH_CMD;
    args->flush = QN_FLUSH_NONE;

    for (i = 0; i < argc && argv != NULL; i++) {
        const char *a = argv[i];

        if (a == NULL)
            continue;
        if (strcmp(a, "debug") == 0) {
            args->debug = true;
        } else if (strcmp(a, "only_remote") == 0) {
            args->only_remote = true;
        } else if (strcmp(a, "sync") == 0) {
            args->sync = true;
        } else if ((v = arg_value(a, "services")) != NULL) {
            args->services = v;
        } else if ((v = arg_value(a, "skip_users")) != NULL) {
            args->skip_users = v;
        } else if ((v = arg_value(a, "only_users")) != NULL) {
            args->only_users = v;
        } else if ((v = arg_value(a, "event")) != NULL) {
            parse_events(pamh, v, args);
        } else if ((v = arg_value(a, "spool")) != NULL) {
            args->spool_dir = v;
            if (v[0] != '/') {
                pam_syslog(pamh, LOG_ERR, "spool=%.200s is not an absolute path; no event", v);
                args->unusable = true;
            }
        } else if ((v = arg_value(a, "flush")) != NULL) {
            if (strcmp(v, "none") == 0)
                args->flush = QN_FLUSH_NONE;
            else if (strcmp(v, "spawn") == 0)
                args->flush = QN_FLUSH_SPAWN;
            else
                pam_syslog(pamh, LOG_ERR, "unknown flush=%.200s (use none or spawn); using none",
                           v);
        } else if ((v = arg_value(a, "flush_cmd")) != NULL) {
            args->flush_cmd = v;
            if (v[0] != '/') {
                pam_syslog(pamh, LOG_ERR, "flush_cmd=%.200s is not an absolute path; no event", v);
                args->unusable = true;
            }
        } else {
            pam_syslog(pamh, LOG_ERR, "unknown argument \"%.200s\" ignored", a);
        }
    }
    /* A session line without event= announces session opens. */
    if (args->events == 0)
        args->events = QN_HOOK_OPEN;
}

/* A string PAM item, or NULL when unset, empty or unreadable. */
static const char *get_item(pam_handle_t *pamh, int type)
{
    const void *item = NULL;

    if (pam_get_item(pamh, type, &item) != PAM_SUCCESS || item == NULL ||
        *(const char *)item == '\0')
        return NULL;
    return item;
}

/* Set field KEY from untrusted VALUE (NULL or "" = leave unset), capped, then sanitised. */
static enum qn_status set_untrusted(struct qn_event *ev, const char *key, const char *value)
{
    if (value == NULL || value[0] == '\0')
        return QN_OK;
    return qn_event_setn(ev, key, value, strnlen(value, QN_PAM_INPUT_MAX));
}

/*
 * The canonical text of the IP address in the first N bytes of S into OUT
 * (INET6_ADDRSTRLEN bytes); false when it is not an IPv4 or IPv6 literal.
 * inet_pton never resolves names.
 */
static bool ip_literal(const char *s, size_t n, char out[INET6_ADDRSTRLEN])
{
    char text[INET6_ADDRSTRLEN];
    unsigned char addr[sizeof(struct in6_addr)];
    int family;

    if (n == 0 || n >= sizeof(text))
        return false;
    memcpy(text, s, n);
    text[n] = '\0';
    if (inet_pton(AF_INET, text, addr) == 1)
        family = AF_INET;
    else if (inet_pton(AF_INET6, text, addr) == 1)
        family = AF_INET6;
    else
        return false;
    return inet_ntop(family, addr, out, INET6_ADDRSTRLEN) != NULL;
}

/*
 * The client's address for the "ip" field: PAM_RHOST itself when it is an
 * address literal; when sshd resolved it to a name (UseDNS yes), the first
 * word of SSH_CONNECTION, which sshd >= 8.0 puts into the PAM environment.
 * Only for remote logins (RHOST set): in sudo or su the PAM environment is
 * not sshd's and its SSH_CONNECTION would prove nothing.
 */
static bool client_ip(pam_handle_t *pamh, const char *rhost, char out[INET6_ADDRSTRLEN])
{
    const char *conn;

    if (rhost == NULL)
        return false;
    if (ip_literal(rhost, strnlen(rhost, QN_PAM_INPUT_MAX), out))
        return true;
    conn = pam_getenv(pamh, "SSH_CONNECTION");
    if (conn == NULL)
        return false;
    return ip_literal(conn, strcspn(conn, " "), out);
}

/*
 * method and key from SSH_AUTH_INFO_0 (sshd with ExposeAuthInfo yes): one
 * line per completed authentication method, "METHOD[/SUBMETHOD][ DETAIL]",
 * where DETAIL is "TYPE BASE64" for publickey and hostbased.
 *   method = the method names, comma-separated, submethods dropped
 *            ("publickey", "publickey,keyboard-interactive")
 *   key    = "TYPE SHA256:FINGERPRINT" of the first key, as sshd logs it;
 *            just "TYPE" for certificates (sshd fingerprints the key inside
 *            them, which needs a certificate parser) or an unparsable blob.
 */
static enum qn_status set_auth_info(pam_handle_t *pamh, struct qn_event *ev)
{
    char method[QN_PAM_METHOD_MAX], fp[QN_SSHKEY_FP_MAX];
    char key[QN_EVENT_VALUE_MAX];
    const char *info, *line, *end, *limit;
    size_t mlen = 0, lines = 0;
    bool have_key = false;
    enum qn_status st;

    info = pam_getenv(pamh, "SSH_AUTH_INFO_0");
    if (info == NULL)
        return QN_OK;
    limit = info + strnlen(info, QN_PAM_AUTHINFO_MAX);
    for (line = info; line < limit && lines < QN_PAM_METHODS_MAX; line = end + 1) {
        const char *name_end, *detail, *type_end;
        size_t name_len;

        end = memchr(line, '\n', (size_t)(limit - line));
        if (end == NULL)
            end = limit;
        if (end == line)
            continue;
        lines++;
        name_end = line + strcspn(line, " /\n");
        if (name_end > end)
            name_end = end;
        name_len = (size_t)(name_end - line);
        if (name_len > 0 && name_len < 32 && mlen + name_len + 2 <= sizeof(method)) {
            if (mlen > 0)
                method[mlen++] = ',';
            memcpy(method + mlen, line, name_len);
            mlen += name_len;
        }
        if (have_key || name_len != 9 ||
            (memcmp(line, "publickey", 9) != 0 && memcmp(line, "hostbased", 9) != 0))
            continue;
        detail = memchr(line, ' ', (size_t)(end - line));
        if (detail == NULL)
            continue;
        detail++;
        type_end = memchr(detail, ' ', (size_t)(end - detail));
        if (type_end == NULL || type_end == detail || (size_t)(type_end - detail) > 64)
            continue;
        have_key = true;
        if (memmem(detail, (size_t)(type_end - detail), "-cert-", 6) != NULL) {
            snprintf(key, sizeof(key), "%.*s", (int)(type_end - detail), detail);
        } else if (qn_sshkey_fingerprint(detail, (size_t)(type_end - detail), type_end + 1,
                                         (size_t)(end - type_end - 1), fp) == QN_OK) {
            snprintf(key, sizeof(key), "%.*s %s", (int)(type_end - detail), detail, fp);
        } else {
            snprintf(key, sizeof(key), "%.*s", (int)(type_end - detail), detail);
        }
    }
    if (mlen > 0 && (st = qn_event_setn(ev, "method", method, mlen)) != QN_OK)
        return st;
    if (have_key && (st = qn_event_set(ev, "key", key)) != QN_OK)
        return st;
    return QN_OK;
}

/* Up to N-1 bytes of the file at PATH into BUF, NUL-terminated; its length, or -1. */
static ssize_t read_small_file(const char *path, char *buf, size_t n)
{
    ssize_t len, got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    if (fd < 0)
        return -1;
    while ((size_t)got < n - 1) {
        len = read(fd, buf + got, n - 1 - (size_t)got);
        if (len < 0 && errno == EINTR)
            continue;
        if (len <= 0)
            break;
        got += len;
    }
    close(fd);
    buf[got] = '\0';
    return got;
}

/*
 * The key both PAM calls of one session share (common/sessions.h): the boot
 * id, and the pid and start time of the process holding the PAM handle
 * (sshd's monitor, su, sudo, login: each opens and closes the session
 * itself).  False when /proc cannot tell (no key: the end is reported
 * without a duration).
 */
static bool session_key(char out[QN_PAM_SESSION_KEY_MAX])
{
    char boot[64], stat[1024], hex[33];
    const char *p;
    size_t n = 0;
    int field;

    if (read_small_file("/proc/sys/kernel/random/boot_id", boot, sizeof(boot)) <= 0)
        return false;
    for (p = boot; *p != '\0' && *p != '\n' && n < 32; p++) {
        if ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))
            hex[n++] = *p;
        else if (*p != '-')
            return false;
    }
    hex[n] = '\0';
    if (n != 32)
        return false;
    /* pid (comm) state ppid ... starttime is field 22; comm may hold blanks and ')' */
    if (read_small_file("/proc/self/stat", stat, sizeof(stat)) <= 0)
        return false;
    p = strrchr(stat, ')');
    if (p == NULL)
        return false;
    for (field = 2; field < 22 && p != NULL; field++) {
        p = strchr(p + 1, ' ');
    }
    if (p == NULL || p[1] < '0' || p[1] > '9')
        return false;
    p++;
    n = strspn(p, "0123456789");
    if (n == 0 || n > 20)
        return false;
    return snprintf(out, QN_PAM_SESSION_KEY_MAX, "%s:%ld:%.*s", hex, (long)getpid(), (int)n, p) <
           QN_PAM_SESSION_KEY_MAX;
}

/* strerror() may use a static buffer: the GNU strerror_r writes into the caller's. */
#define ERRTEXT(e, buf) strerror_r((e), (buf), sizeof(buf))

/*
 * Start "FLUSH_CMD flush" detached from the host (spawn.h: the intermediate
 * child is reaped by its pid, so the host has no zombie to collect, and its
 * handlers and signal mask are never touched).  The sender
 * leads a session of its own, gets umask 007 and, in sudo and su
 * (set-user-ID root), every id 0: with the invoking user's real ids and
 * groups, that user could signal it and cut its run short.  Started as
 * root, the sender fetches the secret and becomes the spool's user before
 * it reads the spool (cli/flush.c).
 */
static void spawn_flush(pam_handle_t *pamh, const struct qn_pam_args *args)
{
    char *const envp[] = {(char *)QN_PAM_FLUSH_PATH, NULL};
    char *const argv[] = {(char *)args->flush_cmd, (char *)"flush", NULL};
    const struct qn_spawn_options opts = {
        .flags = QN_SPAWN_LEAD_SESSION | QN_SPAWN_SET_UMASK | QN_SPAWN_ROOT_IDS,
        .umask = 007,
    };
    char ebuf[128];
    pid_t pid;

    if (qn_spawn_detached(args->flush_cmd, argv, envp, &opts, &pid) != QN_OK) {
        pam_syslog(pamh, LOG_ERR, "flush=spawn: cannot run %.200s: %s; the event waits",
                   args->flush_cmd, ERRTEXT(errno, ebuf));
        return;
    }
    if (args->debug)
        pam_syslog(pamh, LOG_DEBUG, "flush=spawn: started %.200s flush (pid %ld)", args->flush_cmd,
                   (long)pid);
}

static const char *hook_kind(enum qn_pam_hook hook)
{
    switch (hook) {
    case QN_HOOK_OPEN:
        return "login";
    case QN_HOOK_CLOSE:
        return "logout";
    case QN_HOOK_AUTHFAIL:
        return "authfail";
    }
    return "login";
}

/* Is this call one to report?  Logs the reason for "no" under debug. */
static bool wanted(pam_handle_t *pamh, const struct qn_pam_args *args, const char *service,
                   const char *user, const char *rhost)
{
    const char *why = NULL;

    if (service == NULL || !list_contains(args->services, service))
        why = "service not in services=";
    else if (args->only_users != NULL && (user == NULL || !list_contains(args->only_users, user)))
        why = "user not in only_users=";
    else if (args->skip_users != NULL && user != NULL && list_contains(args->skip_users, user))
        why = "user in skip_users=";
    else if (args->only_remote && rhost == NULL)
        why = "only_remote and no PAM_RHOST";
    if (why != NULL && args->debug)
        pam_syslog(pamh, LOG_DEBUG, "no event: %s", why);
    return why == NULL;
}

static int run_hook(pam_handle_t *pamh, enum qn_pam_hook hook, int argc, const char **argv)
{
    struct qn_pam_args args;
    struct qn_event ev;
    char ip[INET6_ADDRSTRLEN], pid[24], id[QN_SPOOL_ID_MAX], ebuf[128];
    char session[QN_PAM_SESSION_KEY_MAX];
    const char *service, *user, *ruser, *rhost, *tty;
    enum qn_status st = QN_OK;
    int e;

    parse_args(pamh, argc, argv, &args);
    if ((args.events & hook) == 0)
        return PAM_IGNORE;
    if (args.unusable)
        return PAM_IGNORE;

    service = get_item(pamh, PAM_SERVICE);
    user = get_item(pamh, PAM_USER); /* never pam_get_user(): it could prompt */
    ruser = get_item(pamh, PAM_RUSER);
    rhost = get_item(pamh, PAM_RHOST);
    tty = get_item(pamh, PAM_TTY);
    if (!wanted(pamh, &args, service, user, rhost))
        return PAM_IGNORE;

    qn_event_init(&ev, hook_kind(hook));
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    if ((st = set_untrusted(&ev, "service", service)) != QN_OK ||
        (st = set_untrusted(&ev, "user", user)) != QN_OK ||
        (st = set_untrusted(&ev, "ruser", ruser)) != QN_OK ||
        (st = set_untrusted(&ev, "rhost", rhost)) != QN_OK ||
        (client_ip(pamh, rhost, ip) && (st = qn_event_set(&ev, "ip", ip)) != QN_OK) ||
        (st = set_untrusted(&ev, "tty", tty)) != QN_OK ||
        /* at authfail SSH_AUTH_INFO_0 lists the methods that succeeded before, not the
         * one that failed: leave it out there */
        (hook != QN_HOOK_AUTHFAIL && (st = set_auth_info(pamh, &ev)) != QN_OK) ||
        (st = qn_event_set(&ev, "pid", pid)) != QN_OK ||
        /* the sender pairs the two ends of a session reported by this line */
        (hook != QN_HOOK_AUTHFAIL && (args.events & QN_HOOK_OPEN) != 0 &&
         (args.events & QN_HOOK_CLOSE) != 0 && session_key(session) &&
         (st = qn_event_set(&ev, "session", session)) != QN_OK)) {
        pam_syslog(pamh, LOG_ERR, "cannot build the %s event: %s", ev.kind, qn_strerror(st));
        return PAM_IGNORE;
    }

    errno = 0;
    st = args.sync ? qn_enqueue_event(args.spool_dir, &ev, 0, id)
                   : qn_enqueue_event_nowait(args.spool_dir, &ev, 0, id);
    if (st != QN_OK) {
        e = errno;
        /* errno names the cause (EACCES, ENOSPC, ELOOP for a symlink...) when a system call
         * failed; the status only when none did (an entry too large) */
        pam_syslog(pamh, LOG_ERR,
                   "cannot queue the %s event in %.200s: %s; it will not be mailed (check "
                   "that the spool and its tmp/ and new/ exist, are writable and have space)",
                   ev.kind, args.spool_dir, e != 0 ? ERRTEXT(e, ebuf) : qn_strerror(st));
        return PAM_IGNORE;
    }
    if (args.debug)
        pam_syslog(pamh, LOG_DEBUG, "queued %s event %s", ev.kind, id);
    if (args.flush == QN_FLUSH_SPAWN)
        spawn_flush(pamh, &args);
    return PAM_IGNORE;
}

QN_PAM_EXPORT int pam_sm_open_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)flags;
    return run_hook(pamh, QN_HOOK_OPEN, argc, argv);
}

QN_PAM_EXPORT int pam_sm_close_session(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)flags;
    return run_hook(pamh, QN_HOOK_CLOSE, argc, argv);
}

/* Reached only when the password module before it failed (the stack jumps over this line
 * on success, pam_qqnotify(8)); this module never authenticates anybody. */
QN_PAM_EXPORT int pam_sm_authenticate(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)flags;
    return run_hook(pamh, QN_HOOK_AUTHFAIL, argc, argv);
}

QN_PAM_EXPORT int pam_sm_setcred(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)pamh;
    (void)flags;
    (void)argc;
    (void)argv;
    return PAM_IGNORE;
}

QN_PAM_EXPORT int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)pamh;
    (void)flags;
    (void)argc;
    (void)argv;
    return PAM_IGNORE;
}

QN_PAM_EXPORT int pam_sm_chauthtok(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
    (void)pamh;
    (void)flags;
    (void)argc;
    (void)argv;
    return PAM_IGNORE;
}
