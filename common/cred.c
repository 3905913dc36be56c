/*
 * cred — obtain the SMTP secret from a credential file or a git-credential helper.
 *
 * The helper protocol is git's (gitcred.h); the helper runs through
 * qn_spawn_run() (spawn.h), which reads its answer straight into a secret.
 *
 * Memory: every buffer that holds the secret, or output of a helper that
 * may contain it, is a struct qn_secret (secret.h): locked in RAM where
 * RLIMIT_MEMLOCK allows (so the secret is not written to swap), excluded
 * from core dumps and from children, and wiped before it is released on
 * every path.  The secret is never copied into struct qn_error.
 */
#include "cred.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gitcred.h"
#include "spawn.h"

#define SYSTEMD_CREDENTIAL_NAME "qqnotify.smtp"
#define ROUTE_CREDENTIAL_PREFIX "qqnotify.route."
#define REQUEST_MAX             1024 /* bytes of the request we write */

/* Where `make install` puts qqnotify-secret (the Makefile passes its BINDIR). */
#ifndef QN_BINDIR
#define QN_BINDIR "/usr/bin"
#endif

/* ---- credential files ------------------------------------------------------------------ */

/*
 * Read the secret of at most LINES lines from PATH (KIND describes it:
 * "credential file", "systemd credential").  QN_ENOTFOUND without touching
 * ERR when PATH does not exist, so the caller can try the next source.
 */
static enum qn_status read_secret_file(const char *path, const char *kind, unsigned lines,
                                       struct qn_secret *ret, struct qn_error *err)
{
    unsigned breaks = 0;

    struct qn_secret data = {0};
    struct stat st;
    char extra;
    ssize_t n;
    int fd;
    enum qn_status r;

    /* O_NOFOLLOW: a link planted in a writable directory must not redirect
     * us to another file.  O_NONBLOCK: a FIFO must not hang us. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return QN_ENOTFOUND;
        if (errno == ELOOP)
            return qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, ELOOP,
                                      "%s %.180s is a symbolic link, which is refused", kind, path);
        return qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, errno,
                                  "cannot open %s %.180s", kind, path);
    }
    if (fstat(fd, &st) < 0) {
        r = qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, errno,
                               "cannot examine %s %.180s", kind, path);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        r = qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, 0,
                               "%s %.180s is not a regular file", kind, path);
        goto out;
    }
    if ((st.st_mode & S_IRWXO) != 0) {
        r = qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, 0,
                               "%s %.150s is accessible by other users (mode %04o); "
                               "run chmod o-rwx on it",
                               kind, path, (unsigned)(st.st_mode & 07777));
        goto out;
    }
    if (st.st_size > QN_SECRET_MAX)
        goto too_big;
    if (qn_secret_init(&data, QN_SECRET_MAX) != QN_OK) {
        r = qn_error_set_errno(err, QN_ENOMEM, QN_STAGE_CREDENTIAL, 0, "out of memory reading %s",
                               kind);
        goto out;
    }
    while (data.len < data.cap) {
        n = read(fd, data.data + data.len, data.cap - data.len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0) {
            r = qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, errno,
                                   "cannot read %s %.180s", kind, path);
            goto out;
        }
        if (n == 0)
            break;
        data.len += (size_t)n;
    }
    if (data.len == data.cap) {
        /* Full buffer: the file may have grown since fstat. */
        do
            n = read(fd, &extra, 1);
        while (n < 0 && (errno == EINTR || errno == EAGAIN));
        explicit_bzero(&extra, sizeof(extra));
        if (n != 0)
            goto too_big;
    }
    /* Editors and `echo` add one line end; the secret itself has none. */
    if (data.len > 0 && data.data[data.len - 1] == '\n') {
        data.len--;
        if (data.len > 0 && data.data[data.len - 1] == '\r')
            data.len--;
    }
    data.data[data.len] = '\0';
    if (data.len == 0) {
        r = qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, 0, "%s %.180s is empty", kind,
                               path);
        goto out;
    }
    for (size_t i = 0; i < data.len; i++) {
        /* A line end inside is "\n" or "\r\n"; the reader of the parts drops the "\r". */
        breaks += data.data[i] == '\n';
        if (data.data[i] == '\0' || breaks >= lines ||
            (data.data[i] == '\r' && (i + 1 == data.len || data.data[i + 1] != '\n'))) {
            r = qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, 0,
                                   "%s %.180s holds more than %s or a NUL byte", kind, path,
                                   lines == 1 ? "one line" : "two lines");
            goto out;
        }
    }
    *ret = data;
    memset(&data, 0, sizeof(data)); /* handed over */
    r = QN_OK;
    goto out;

too_big:
    r = qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, 0,
                           "%s %.180s is larger than %d bytes", kind, path, QN_SECRET_MAX);
out:
    qn_secret_wipe(&data);
    /* Read-only descriptor: nothing to lose if close fails. */
    (void)close(fd);
    return r;
}

/* ---- the helper process ---------------------------------------------------------------- */

/*
 * Split COMMAND into ARGV (words in WORDS, a copy of at most WORDS_SIZE
 * bytes) and append "get".  A leading '!' runs the rest through /bin/sh, as
 * git does.  Returns false when the command is empty or has too many words.
 */
static bool build_argv(const char *command, char *words, size_t words_size,
                       char *argv[QN_CRED_HELPER_ARGS_MAX + 2])
{
    size_t argc = 0;
    char *w;

    while (*command == ' ' || *command == '\t')
        command++;
    if (command[0] == '!') {
        int n = snprintf(words, words_size, "%s get", command + 1);
        if (n < 0 || (size_t)n >= words_size || command[1] == '\0')
            return false;
        argv[0] = "/bin/sh";
        argv[1] = "-c";
        argv[2] = words;
        argv[3] = NULL;
        return true;
    }
    if (snprintf(words, words_size, "%s", command) >= (int)words_size)
        return false;
    for (w = words; *w != '\0';) {
        while (*w == ' ' || *w == '\t')
            *w++ = '\0';
        if (*w == '\0')
            break;
        if (argc == QN_CRED_HELPER_ARGS_MAX)
            return false;
        argv[argc++] = w;
        while (*w != '\0' && *w != ' ' && *w != '\t')
            w++;
    }
    if (argc == 0)
        return false;
    argv[argc++] = "get";
    argv[argc] = NULL;
    return true;
}

/* A run that did not end with an exit status: what went wrong, in words. */
static enum qn_status run_failed(enum qn_status r, const struct qn_spawn_result *res,
                                 const char *command, int timeout_ms, struct qn_error *err)
{
    if (r == QN_ETIMEOUT)
        return qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, 0,
                                  "credential helper `%.100s` did not %s within %d ms; killed",
                                  command, res->output_closed ? "exit" : "answer", timeout_ms);
    if (r == QN_ETOOBIG)
        return qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, 0,
                                  "credential helper `%.100s` answered more than %d bytes", command,
                                  QN_GITCRED_MESSAGE_MAX);
    switch (res->failed_step) {
    case QN_SPAWN_STEP_SETUP:
        return qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, res->sys_errno,
                                  "cannot create pipes for credential helper `%.100s`", command);
    case QN_SPAWN_STEP_TALK:
        return qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, res->sys_errno,
                                  "cannot read the answer of credential helper `%.100s`", command);
    case QN_SPAWN_STEP_WAIT:
        /* ECHILD: the caller reaps children itself (SIGCHLD ignored), so the
         * exit status is lost; an answer of unknown success is not trusted. */
        return qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, res->sys_errno,
                                  "cannot learn how credential helper `%.100s` ended", command);
    default:
        return qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, res->sys_errno,
                                  "cannot start credential helper `%.100s`", command);
    }
}

/* The password of a helper that exited 0, from its REPLY, into *RET. */
static enum qn_status take_answer(const struct qn_secret *reply, const char *command, bool route,
                                  struct qn_secret *ret, struct qn_error *err)
{
    switch (route ? qn_gitcred_parse_route_reply(reply->data, reply->len, ret)
                  : qn_gitcred_parse_reply(reply->data, reply->len, ret)) {
    case QN_OK:
        return QN_OK;
    case QN_ENOTFOUND:
        return qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, 0,
                                  "credential helper `%.100s` answered without a password",
                                  command);
    case QN_ETOOBIG:
        return qn_error_set_errno(
            err, QN_ECRED, QN_STAGE_CREDENTIAL, 0,
            "credential helper `%.100s` answered a password longer than %d bytes", command,
            QN_SECRET_MAX);
    case QN_ENOMEM:
        return qn_error_set_errno(err, QN_ENOMEM, QN_STAGE_CREDENTIAL, 0,
                                  "out of memory for the credential helper");
    default:
        return qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, 0,
                                  "credential helper `%.100s` answered a line that is not "
                                  "key=value",
                                  command);
    }
}

/* What a helper is asked: the SMTP account, or a route by name. */
struct ask {
    const char *protocol;
    const char *host;
    const char *user;
    bool route; /* the answer may carry the signing secret */
};

static enum qn_status run_helper(const char *command, const struct ask *ask, int timeout_ms,
                                 struct qn_secret *ret, struct qn_error *err);

enum qn_status qn_cred_run_helper(const char *command, const char *host, const char *user,
                                  int timeout_ms, struct qn_secret *ret, struct qn_error *err)
{
    const struct ask ask = {.protocol = "smtp", .host = host, .user = user};

    return run_helper(command, &ask, timeout_ms, ret, err);
}

static enum qn_status run_helper(const char *command, const struct ask *ask, int timeout_ms,
                                 struct qn_secret *ret, struct qn_error *err)
{
    char words[sizeof(((struct qn_config *)0)->credential_helper) + 8];
    char *argv[QN_CRED_HELPER_ARGS_MAX + 2];
    char request[REQUEST_MAX], program[PATH_MAX];
    struct qn_secret reply = {0};
    struct qn_spawn_program run;
    struct qn_spawn_result res;
    size_t request_len;
    enum qn_status r;
    int status;

    memset(ret, 0, sizeof(*ret));
    if (err != NULL)
        qn_error_clear(err);

    if (!build_argv(command, words, sizeof(words), argv))
        return qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, 0,
                                  "credential helper `%.100s` is empty, too long or has more "
                                  "than %d words",
                                  command, QN_CRED_HELPER_ARGS_MAX);
    r = qn_gitcred_write_request(ask->protocol, ask->host, ask->user, request, sizeof(request),
                                 &request_len);
    /* A line break in either would let it forge attributes of the request. */
    if (r == QN_EINVAL)
        return qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, 0,
                                  "the host or user name for the credential helper contains a "
                                  "line break");
    if (r != QN_OK)
        return qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, 0,
                                  "the host or user name for the credential helper is too long");
    r = qn_spawn_find_program(argv[0], program, sizeof(program));
    if (r != QN_OK)
        return qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL,
                                  r == QN_ENOTFOUND ? ENOENT : ENAMETOOLONG,
                                  "cannot start credential helper `%.100s`", command);
    if (qn_secret_init(&reply, QN_GITCRED_MESSAGE_MAX) != QN_OK)
        return qn_error_set_errno(err, QN_ENOMEM, QN_STAGE_CREDENTIAL, 0,
                                  "out of memory for the credential helper");

    if (timeout_ms <= 0)
        timeout_ms = QN_CRED_HELPER_TIMEOUT_MS;
    memset(&run, 0, sizeof(run));
    run.path = program;
    run.argv = argv;
    run.input = request;
    run.input_len = request_len;
    run.output = reply.data;
    run.output_cap = reply.cap;
    run.timeout_ms = timeout_ms; /* stderr stays ours: errors == NULL */
    r = qn_spawn_run(&run, &res);
    if (r != QN_OK) {
        r = run_failed(r, &res, command, timeout_ms, err);
        goto out;
    }
    reply.len = res.output_len;
    reply.data[reply.len] = '\0';
    status = res.wait_status;
    if (WIFSIGNALED(status))
        r = qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, 0,
                               "credential helper `%.100s` was killed by signal %d", command,
                               WTERMSIG(status));
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        r = qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, 0,
                               "credential helper `%.100s` exited with status %d", command,
                               WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    else
        r = take_answer(&reply, command, ask->route, ret, err);
out:
    qn_secret_wipe(&reply);
    return r;
}

/* ---- the sources in order ------------------------------------------------------------ */

/*
 * No source configured: root asks the installed qqnotify-secret (QN_BINDIR comes from the
 * build, as the PAM module's flush command does), which looks where `qqnotify-secret set`
 * stores the secret: the systemd-creds store, then the keyring.  Only for root, whose store
 * that is, and only a regular file that root owns and no one else may change.  NAME, ASK and
 * WHAT as for get_secret(); errors as for qn_cred_get(); RET_SOURCE names the default helper.
 */
static enum qn_status get_from_default_helper(const char *name, const struct ask *ask,
                                              const char *what, struct qn_secret *ret,
                                              char *ret_source, struct qn_error *err)
{
    char path[QN_CRED_SOURCE_MAX - 64];
    struct stat st;
    int n;

    n = snprintf(path, sizeof(path), "%s/qqnotify-secret", QN_BINDIR);
    if (n < 0 || (size_t)n >= sizeof(path) || geteuid() != 0)
        return qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, 0,
                                  "no secret source%s: neither $CREDENTIALS_DIRECTORY/%s "
                                  "nor credential_helper is configured (qqnotify-secret is the "
                                  "default for root only)",
                                  what, name);
    if (stat(path, &st) != 0)
        return qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, errno,
                                  "no secret source%s: neither $CREDENTIALS_DIRECTORY/%s "
                                  "nor credential_helper is configured, and %.100s is not "
                                  "installed",
                                  what, name, path);
    if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 ||
        (st.st_mode & S_IXUSR) == 0)
        return qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, 0,
                                  "no secret source is configured%s, and %.100s is not a program "
                                  "that root owns and only root may change",
                                  what, path);
    if (ret_source != NULL)
        snprintf(ret_source, QN_CRED_SOURCE_MAX,
                 "credential helper `%s` (the default: no source configured)", path);
    return run_helper(path, ask, QN_CRED_HELPER_TIMEOUT_MS, ret, err);
}

/*
 * The sources in order: FILE (a configured credential file, or NULL), else
 * $CREDENTIALS_DIRECTORY/NAME, then [smtp] credential_helper asked ASK.
 * LINES: of a file.  WHAT (" for route NAME", or "") names the secret in
 * the error when there is no source.
 */
static enum qn_status get_secret(const struct qn_config *cfg, const char *file, const char *name,
                                 unsigned lines, const struct ask *ask, const char *what,
                                 struct qn_secret *ret, char *ret_source, struct qn_error *err)
{
    char path[sizeof(cfg->credential_file)]; /* fits QN_CRED_SOURCE_MAX with its kind */
    const char *kind = NULL;
    const char *dir;
    enum qn_status r;

    memset(ret, 0, sizeof(*ret));
    if (ret_source != NULL)
        ret_source[0] = '\0';
    if (err != NULL)
        qn_error_clear(err);

    if (file != NULL && file[0] != '\0') {
        kind = "credential file";
        snprintf(path, sizeof(path), "%s", file);
    } else if ((dir = secure_getenv("CREDENTIALS_DIRECTORY")) != NULL && dir[0] != '\0') {
        int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
        if (n < 0 || (size_t)n >= sizeof(path))
            return qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, ENAMETOOLONG,
                                      "$CREDENTIALS_DIRECTORY is too long");
        kind = "systemd credential";
    }
    if (kind != NULL) {
        if (ret_source != NULL)
            snprintf(ret_source, QN_CRED_SOURCE_MAX, "%s %s", kind, path);
        r = read_secret_file(path, kind, lines, ret, err);
        if (r != QN_ENOTFOUND)
            return r;
        if (cfg->credential_helper[0] == '\0')
            return qn_error_set_errno(err, QN_ECRED, QN_STAGE_CREDENTIAL, ENOENT,
                                      "%s %.180s does not exist, and no credential_helper is "
                                      "configured",
                                      kind, path);
    }
    if (cfg->credential_helper[0] != '\0') {
        if (ret_source != NULL)
            snprintf(ret_source, QN_CRED_SOURCE_MAX, "credential helper `%s`",
                     cfg->credential_helper);
        return run_helper(cfg->credential_helper, ask, QN_CRED_HELPER_TIMEOUT_MS, ret, err);
    }
    return get_from_default_helper(name, ask, what, ret, ret_source, err);
}

enum qn_status qn_cred_get(const struct qn_config *cfg, struct qn_secret *ret, char *ret_source,
                           struct qn_error *err)
{
    const struct ask ask = {.protocol = "smtp", .host = cfg->host, .user = cfg->user};

    return get_secret(cfg, cfg->credential_file, SYSTEMD_CREDENTIAL_NAME, 1, &ask, "", ret,
                      ret_source, err);
}

enum qn_status qn_cred_get_route(const struct qn_config *cfg, const char *route,
                                 struct qn_secret *ret, char *ret_source, struct qn_error *err)
{
    const struct ask ask = {
        .protocol = QN_GITCRED_ROUTE_PROTOCOL, .host = route, .user = "", .route = true};
    char name[sizeof(ROUTE_CREDENTIAL_PREFIX) + QN_ROUTE_NAME_MAX];
    char what[QN_ROUTE_NAME_MAX + 16];

    memset(ret, 0, sizeof(*ret));
    snprintf(what, sizeof(what), " for route %s", route);
    if (qn_routes_find(&cfg->routes, route) == NULL || strlen(route) >= QN_ROUTE_NAME_MAX ||
        strcmp(route, QN_ROUTE_SMTP) == 0) {
        if (ret_source != NULL)
            ret_source[0] = '\0';
        qn_error_clear(err);
        return qn_error_set(err, QN_ECONFIG, QN_STAGE_CONFIG, "no chat robot route %.40s in %.180s",
                            route, cfg->path);
    }
    snprintf(name, sizeof(name), ROUTE_CREDENTIAL_PREFIX "%s", route);
    return get_secret(cfg, NULL, name, 2, &ask, what, ret, ret_source, err);
}
