/*
 * cred — obtain the SMTP secret from a credential file or a git-credential helper.
 *
 * The helper protocol is git's (git-credential(1), "CUSTOM HELPERS"): the
 * request and the reply are "key=value" lines ended by an empty line.
 *
 * Memory: every buffer that holds the secret, or output of a helper that
 * may contain it, comes from locked_alloc(): whole pages, locked in RAM
 * where RLIMIT_MEMLOCK allows (so the secret is not written to swap),
 * excluded from core dumps, and wiped with OPENSSL_cleanse() before it is
 * freed on every path.  The secret is never copied into struct qn_error.
 *
 * The helper runs through posix_spawnp(): glibc implements it with
 * clone(CLONE_VFORK), which is safe in a multi-threaded caller where
 * fork() followed by non-async-signal-safe code is not.
 */
#include "cred.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

extern char **environ;

#define SYSTEMD_CREDENTIAL_NAME "qqnotify.smtp"

/* Where `make install` puts qqnotify-secret (the Makefile passes its BINDIR). */
#ifndef QN_BINDIR
#define QN_BINDIR "/usr/bin"
#endif
#define REQUEST_MAX             1024

/* ---- locked, wiped memory ------------------------------------------------------------ */

static size_t page_size(void)
{
    long page = sysconf(_SC_PAGESIZE);

    return page > 0 ? (size_t)page : 4096;
}

static size_t locked_size(size_t n)
{
    size_t page = page_size();

    return (n + page - 1) / page * page;
}

/* Zeroed whole pages for N bytes, or NULL. */
static char *locked_alloc(size_t n)
{
    size_t size = locked_size(n);
    void *p;

    if (posix_memalign(&p, page_size(), size) != 0)
        return NULL;
    memset(p, 0, size);
    /* Both are hardening, not correctness: mlock fails under a small
     * RLIMIT_MEMLOCK and madvise on old kernels; the buffer is still wiped. */
    (void)mlock(p, size);
    (void)madvise(p, size, MADV_DONTDUMP);
    return p;
}

static void locked_free(char *p, size_t n)
{
    size_t size = locked_size(n);

    if (p == NULL)
        return;
    OPENSSL_cleanse(p, size);
    /* The pages go back to the heap: let later users of them be dumped again. */
    (void)madvise(p, size, MADV_DODUMP);
    (void)munlock(p, size);
    free(p);
}

void qn_secret_wipe(struct qn_secret *s)
{
    if (s == NULL)
        return;
    locked_free(s->data, QN_SECRET_MAX + 1);
    s->data = NULL;
    s->len = 0;
}

/* ---- the git-credential reply ---------------------------------------------------------- */

enum qn_status qn_cred_parse_reply(const char *text, size_t len, struct qn_secret *ret)
{
    const char *password = NULL;
    size_t password_len = 0, pos = 0;
    char *data;

    if (memchr(text, '\0', len) != NULL)
        return QN_EINVAL;
    while (pos < len) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl != NULL ? (size_t)(nl - line) : len - pos;
        const char *eq;

        pos += n + (nl != NULL ? 1 : 0);
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n == 0)
            break; /* the empty line ends the reply */
        eq = memchr(line, '=', n);
        if (eq == NULL || eq == line)
            return QN_EINVAL;
        if (eq - line == 8 && memcmp(line, "password", 8) == 0) {
            password = eq + 1;
            password_len = n - 9;
        }
    }
    if (password == NULL || password_len == 0)
        return QN_ENOTFOUND;
    if (password_len > QN_SECRET_MAX)
        return QN_ETOOBIG;
    data = locked_alloc(QN_SECRET_MAX + 1);
    if (data == NULL)
        return QN_ENOMEM;
    memcpy(data, password, password_len);
    data[password_len] = '\0';
    ret->data = data;
    ret->len = password_len;
    return QN_OK;
}

/* ---- errors ---------------------------------------------------------------------------- */

static enum qn_status cred_fail_errno(struct qn_error *err, enum qn_status status, int errnum,
                                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Record STATUS with a detail; ERRNUM (0 for none) goes into err->sys_errno. */
static enum qn_status cred_fail_errno(struct qn_error *err, enum qn_status status, int errnum,
                                      const char *fmt, ...)
{
    char detail[QN_ERROR_DETAIL_MAX];
    va_list ap;

    if (err == NULL)
        return status;
    va_start(ap, fmt);
    (void)vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    /* Before qn_error_set(): the verdict it derives may depend on errno. */
    err->sys_errno = errnum;
    return qn_error_set(err, status, QN_STAGE_CREDENTIAL, "%s", detail);
}

/* ---- credential files ------------------------------------------------------------------ */

/*
 * Read the secret from PATH (KIND describes it: "credential file",
 * "systemd credential").  QN_ENOTFOUND without touching ERR when PATH does
 * not exist, so the caller can try the next source.
 */
static enum qn_status read_secret_file(const char *path, const char *kind, struct qn_secret *ret,
                                       struct qn_error *err)
{
    struct stat st;
    char *data = NULL;
    char extra;
    size_t len = 0;
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
            return cred_fail_errno(err, QN_ECRED, ELOOP,
                                   "%s %.180s is a symbolic link, which is refused", kind, path);
        return cred_fail_errno(err, QN_ECRED, errno, "cannot open %s %.180s", kind, path);
    }
    if (fstat(fd, &st) < 0) {
        r = cred_fail_errno(err, QN_ECRED, errno, "cannot examine %s %.180s", kind, path);
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        r = cred_fail_errno(err, QN_ECRED, 0, "%s %.180s is not a regular file", kind, path);
        goto out;
    }
    if ((st.st_mode & S_IRWXO) != 0) {
        r = cred_fail_errno(err, QN_ECRED, 0,
                            "%s %.150s is accessible by other users (mode %04o); "
                            "run chmod o-rwx on it",
                            kind, path, (unsigned)(st.st_mode & 07777));
        goto out;
    }
    if (st.st_size > QN_SECRET_MAX)
        goto too_big;
    data = locked_alloc(QN_SECRET_MAX + 1);
    if (data == NULL) {
        r = cred_fail_errno(err, QN_ENOMEM, 0, "out of memory reading %s", kind);
        goto out;
    }
    while (len < QN_SECRET_MAX) {
        n = read(fd, data + len, QN_SECRET_MAX - len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n < 0) {
            r = cred_fail_errno(err, QN_ECRED, errno, "cannot read %s %.180s", kind, path);
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len == QN_SECRET_MAX) {
        /* Full buffer: the file may have grown since fstat. */
        do
            n = read(fd, &extra, 1);
        while (n < 0 && (errno == EINTR || errno == EAGAIN));
        OPENSSL_cleanse(&extra, sizeof(extra));
        if (n != 0)
            goto too_big;
    }
    /* Editors and `echo` add one line end; the secret itself has none. */
    if (len > 0 && data[len - 1] == '\n') {
        len--;
        if (len > 0 && data[len - 1] == '\r')
            len--;
    }
    data[len] = '\0';
    if (len == 0) {
        r = cred_fail_errno(err, QN_ECRED, 0, "%s %.180s is empty", kind, path);
        goto out;
    }
    if (memchr(data, '\0', len) != NULL || memchr(data, '\n', len) != NULL ||
        memchr(data, '\r', len) != NULL) {
        r = cred_fail_errno(err, QN_ECRED, 0, "%s %.180s holds more than one line or a NUL byte",
                            kind, path);
        goto out;
    }
    ret->data = data;
    ret->len = len;
    data = NULL;
    r = QN_OK;
    goto out;

too_big:
    r = cred_fail_errno(err, QN_ECRED, 0, "%s %.180s is larger than %d bytes", kind, path,
                        QN_SECRET_MAX);
out:
    locked_free(data, QN_SECRET_MAX + 1);
    /* Read-only descriptor: nothing to lose if close fails. */
    (void)close(fd);
    return r;
}

/* ---- the helper process ---------------------------------------------------------------- */

static long long monotonic_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
        return 0; /* cannot fail for CLOCK_MONOTONIC on Linux */
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Move FD above 0-2: if the caller runs with stdin or stdout closed, a new
 * descriptor can be 0 or 1, and the dup2 of one end onto 0 would then
 * clobber the other.
 */
static int fd_above_stdio(int fd)
{
    int moved;

    int saved_errno;

    if (fd > STDERR_FILENO)
        return fd;
    moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    saved_errno = errno;
    (void)close(fd);
    errno = saved_errno;
    return moved;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        (void)close(*fd);
    *fd = -1;
}

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

/* Wait for PID until DEADLINE; false when it is still running then. */
static bool wait_until(pid_t pid, long long deadline, int *ret_status, int *ret_errno)
{
    for (;;) {
        pid_t w = waitpid(pid, ret_status, WNOHANG);
        long long left;

        if (w == pid)
            return true;
        if (w < 0 && errno != EINTR) {
            *ret_errno = errno;
            return true;
        }
        left = deadline - monotonic_ms();
        if (left <= 0)
            return false;
        /* Short naps: the helper has closed stdout and is about to exit. */
        (void)poll(NULL, 0, left < 10 ? (int)left : 10);
    }
}

static void kill_and_reap(pid_t pid)
{
    int status;

    (void)kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
}

/*
 * Exchange the request and the reply with the running helper.  Returns
 * QN_OK at end of its output, QN_ETIMEOUT at DEADLINE, QN_ETOOBIG when it
 * writes more than QN_CRED_REPLY_MAX, QN_EIO (errno in *ret_errno).
 */
static enum qn_status converse(int *in_fd, int *out_fd, const char *request, size_t request_len,
                               char *reply, size_t *reply_len, long long deadline, int *ret_errno)
{
    size_t sent = 0;

    while (*out_fd >= 0) {
        struct pollfd pfd[2];
        nfds_t n = 0;
        long long left = deadline - monotonic_ms();
        int rc;

        if (left <= 0)
            return QN_ETIMEOUT;
        pfd[n].fd = *out_fd;
        pfd[n].events = POLLIN;
        pfd[n++].revents = 0;
        if (*in_fd >= 0) {
            pfd[n].fd = *in_fd;
            pfd[n].events = POLLOUT;
            pfd[n++].revents = 0;
        }
        rc = poll(pfd, n, left > 1000 ? 1000 : (int)left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0) {
            *ret_errno = errno;
            return QN_EIO;
        }
        if (n == 2 && pfd[1].revents != 0) {
            /* MSG_NOSIGNAL: a helper that exits without reading its input
             * must not kill us with SIGPIPE. */
            ssize_t w =
                send(*in_fd, request + sent, request_len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w < 0 && errno != EINTR && errno != EAGAIN) {
                /* It does not want the request; its answer still counts. */
                close_fd(in_fd);
            } else if (w > 0) {
                sent += (size_t)w;
                if (sent == request_len)
                    close_fd(in_fd); /* end of input for the helper */
            }
        }
        if (pfd[0].revents != 0) {
            ssize_t r = read(*out_fd, reply + *reply_len, QN_CRED_REPLY_MAX + 1 - *reply_len);
            if (r < 0 && errno != EINTR && errno != EAGAIN) {
                *ret_errno = errno;
                return QN_EIO;
            }
            if (r == 0)
                close_fd(out_fd);
            if (r > 0) {
                *reply_len += (size_t)r;
                if (*reply_len > QN_CRED_REPLY_MAX)
                    return QN_ETOOBIG;
            }
        }
    }
    return QN_OK;
}

enum qn_status qn_cred_run_helper(const char *command, const char *host, const char *user,
                                  int timeout_ms, struct qn_secret *ret, struct qn_error *err)
{
    char words[sizeof(((struct qn_config *)0)->credential_helper) + 8];
    char *argv[QN_CRED_HELPER_ARGS_MAX + 2];
    char request[REQUEST_MAX];
    char *reply = NULL;
    size_t reply_len = 0;
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    bool actions_ready = false, attr_ready = false;
    sigset_t signals;
    pid_t pid = -1;
    long long deadline;
    int n, rc, status = 0, sys_errno = 0;
    enum qn_status r;

    ret->data = NULL;
    ret->len = 0;
    snprintf(ret->source, sizeof(ret->source), "credential helper `%s`", command);
    if (err != NULL)
        qn_error_clear(err);

    if (!build_argv(command, words, sizeof(words), argv))
        return cred_fail_errno(err, QN_ECRED, 0,
                               "credential helper `%.100s` is empty, too long or has more than "
                               "%d words",
                               command, QN_CRED_HELPER_ARGS_MAX);
    /* A line break in either would let it forge attributes of the request. */
    if (strpbrk(host, "\r\n") != NULL || strpbrk(user, "\r\n") != NULL)
        return cred_fail_errno(err, QN_ECRED, 0,
                               "the host or user name for the credential helper contains a line "
                               "break");
    n = snprintf(request, sizeof(request), "protocol=smtp\nhost=%s\nusername=%s\n\n", host, user);
    if (n < 0 || (size_t)n >= sizeof(request))
        return cred_fail_errno(err, QN_ECRED, 0,
                               "the host or user name for the credential helper is too long");

    reply = locked_alloc(QN_CRED_REPLY_MAX + 1);
    if (reply == NULL) {
        r = cred_fail_errno(err, QN_ENOMEM, 0, "out of memory for the credential helper");
        goto out;
    }
    /* stdin is a socket so that writing to a helper that ignores it fails
     * with EPIPE (MSG_NOSIGNAL) instead of raising SIGPIPE. */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0 || pipe2(out, O_CLOEXEC) < 0) {
        r = cred_fail_errno(err, QN_ECRED, errno,
                            "cannot create pipes for credential helper "
                            "`%.100s`",
                            command);
        goto out;
    }
    in[0] = fd_above_stdio(in[0]);
    in[1] = fd_above_stdio(in[1]);
    out[0] = fd_above_stdio(out[0]);
    out[1] = fd_above_stdio(out[1]);
    if (in[0] < 0 || in[1] < 0 || out[0] < 0 || out[1] < 0) {
        r = cred_fail_errno(err, QN_ECRED, errno,
                            "cannot create pipes for credential helper "
                            "`%.100s`",
                            command);
        goto out;
    }

    rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0)
        goto spawn_failed;
    actions_ready = true;
    rc = posix_spawn_file_actions_adddup2(&actions, in[1], STDIN_FILENO);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    /* Descriptors the caller opened without O_CLOEXEC are not the helper's business. */
    if (rc == 0)
        rc = posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1);
#endif
    if (rc != 0)
        goto spawn_failed;
    rc = posix_spawnattr_init(&attr);
    if (rc != 0)
        goto spawn_failed;
    attr_ready = true;
    /* The caller may ignore SIGPIPE or block signals; the helper should
     * start with the usual dispositions. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGPIPE);
    sigaddset(&signals, SIGCHLD);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGQUIT);
    rc = posix_spawnattr_setsigdefault(&attr, &signals);
    if (rc == 0) {
        sigemptyset(&signals);
        rc = posix_spawnattr_setsigmask(&attr, &signals);
    }
    if (rc == 0)
        rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    if (rc != 0)
        goto spawn_failed;

    if (timeout_ms <= 0)
        timeout_ms = QN_CRED_HELPER_TIMEOUT_MS;
    deadline = monotonic_ms() + timeout_ms;
    rc = posix_spawnp(&pid, argv[0], &actions, &attr, argv, environ);
    if (rc != 0) {
        pid = -1;
        goto spawn_failed;
    }
    close_fd(&in[1]);
    close_fd(&out[1]);
    if (fcntl(out[0], F_SETFL, O_NONBLOCK) < 0) {
        r = cred_fail_errno(err, QN_ECRED, errno, "cannot set up credential helper `%.100s`",
                            command);
        goto out;
    }

    r = converse(&in[0], &out[0], request, (size_t)n, reply, &reply_len, deadline, &sys_errno);
    if (r == QN_ETIMEOUT) {
        r = cred_fail_errno(err, QN_ECRED, 0,
                            "credential helper `%.100s` did not answer within %d ms; killed",
                            command, timeout_ms);
        goto out;
    }
    if (r == QN_ETOOBIG) {
        r = cred_fail_errno(err, QN_ECRED, 0,
                            "credential helper `%.100s` answered more than %d bytes", command,
                            QN_CRED_REPLY_MAX);
        goto out;
    }
    if (r != QN_OK) {
        r = cred_fail_errno(err, QN_ECRED, sys_errno,
                            "cannot read the answer of credential helper `%.100s`", command);
        goto out;
    }
    if (!wait_until(pid, deadline, &status, &sys_errno)) {
        r = cred_fail_errno(err, QN_ECRED, 0,
                            "credential helper `%.100s` did not exit within %d ms; killed", command,
                            timeout_ms);
        goto out;
    }
    if (sys_errno != 0) {
        /* ECHILD: the caller reaps children itself (SIGCHLD ignored), so the
         * exit status is lost; an answer of unknown success is not trusted. */
        pid = -1;
        r = cred_fail_errno(err, QN_ECRED, sys_errno,
                            "cannot learn how credential helper `%.100s` ended", command);
        goto out;
    }
    pid = -1;
    if (WIFSIGNALED(status)) {
        r = cred_fail_errno(err, QN_ECRED, 0, "credential helper `%.100s` was killed by signal %d",
                            command, WTERMSIG(status));
        goto out;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        r = cred_fail_errno(err, QN_ECRED, 0, "credential helper `%.100s` exited with status %d",
                            command, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        goto out;
    }
    r = qn_cred_parse_reply(reply, reply_len, ret);
    switch (r) {
    case QN_OK:
        break;
    case QN_ENOTFOUND:
        r = cred_fail_errno(err, QN_ECRED, 0,
                            "credential helper `%.100s` answered without a password", command);
        break;
    case QN_ETOOBIG:
        r = cred_fail_errno(err, QN_ECRED, 0,
                            "credential helper `%.100s` answered a password longer than %d bytes",
                            command, QN_SECRET_MAX);
        break;
    case QN_ENOMEM:
        r = cred_fail_errno(err, QN_ENOMEM, 0, "out of memory for the credential helper");
        break;
    default:
        r = cred_fail_errno(err, QN_ECRED, 0,
                            "credential helper `%.100s` answered a line that is not key=value",
                            command);
        break;
    }
    goto out;

spawn_failed:
    r = cred_fail_errno(err, QN_ECRED, rc, "cannot start credential helper `%.100s`", command);
out:
    if (pid > 0)
        kill_and_reap(pid);
    if (attr_ready)
        posix_spawnattr_destroy(&attr);
    if (actions_ready)
        posix_spawn_file_actions_destroy(&actions);
    close_fd(&in[0]);
    close_fd(&in[1]);
    close_fd(&out[0]);
    close_fd(&out[1]);
    locked_free(reply, QN_CRED_REPLY_MAX + 1);
    return r;
}

/* ---- the sources in order ------------------------------------------------------------ */

/*
 * No source configured: root asks the installed qqnotify-secret (QN_BINDIR comes from the
 * build, as the PAM module's flush command does), which looks where `qqnotify-secret set`
 * stores the code: the systemd-creds store, then the keyring.  Only for root, whose store
 * that is, and only a regular file that root owns and no one else may change.  Errors as
 * for qn_cred_get(); ret->source names the default helper.
 */
static enum qn_status get_from_default_helper(const struct qn_config *cfg, struct qn_secret *ret,
                                              struct qn_error *err)
{
    char path[sizeof(ret->source) - 64];
    struct stat st;
    enum qn_status r;
    int n;

    n = snprintf(path, sizeof(path), "%s/qqnotify-secret", QN_BINDIR);
    if (n < 0 || (size_t)n >= sizeof(path) || geteuid() != 0)
        return cred_fail_errno(err, QN_ECRED, 0,
                               "no secret source: neither $CREDENTIALS_DIRECTORY/qqnotify.smtp nor "
                               "credential_helper is configured (qqnotify-secret is the default "
                               "for root only)");
    if (stat(path, &st) != 0)
        return cred_fail_errno(err, QN_ECRED, errno,
                               "no secret source: neither $CREDENTIALS_DIRECTORY/qqnotify.smtp nor "
                               "credential_helper is configured, and %.100s is not installed",
                               path);
    if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 ||
        (st.st_mode & S_IXUSR) == 0)
        return cred_fail_errno(err, QN_ECRED, 0,
                               "no secret source is configured, and %.100s is not a program that "
                               "root owns and only root may change",
                               path);
    r = qn_cred_run_helper(path, cfg->host, cfg->user, QN_CRED_HELPER_TIMEOUT_MS, ret, err);
    snprintf(ret->source, sizeof(ret->source),
             "credential helper `%s` (the default: no source configured)", path);
    return r;
}

enum qn_status qn_cred_get(const struct qn_config *cfg, struct qn_secret *ret, struct qn_error *err)
{
    char path[sizeof(cfg->credential_file)]; /* fits ret->source with its kind */
    const char *kind = NULL;
    const char *dir;
    enum qn_status r;

    ret->data = NULL;
    ret->len = 0;
    ret->source[0] = '\0';
    if (err != NULL)
        qn_error_clear(err);

    if (cfg->credential_file[0] != '\0') {
        kind = "credential file";
        snprintf(path, sizeof(path), "%s", cfg->credential_file);
    } else if ((dir = secure_getenv("CREDENTIALS_DIRECTORY")) != NULL && dir[0] != '\0') {
        int n = snprintf(path, sizeof(path), "%s/%s", dir, SYSTEMD_CREDENTIAL_NAME);
        if (n < 0 || (size_t)n >= sizeof(path))
            return cred_fail_errno(err, QN_ECRED, ENAMETOOLONG,
                                   "$CREDENTIALS_DIRECTORY is too long");
        kind = "systemd credential";
    }
    if (kind != NULL) {
        snprintf(ret->source, sizeof(ret->source), "%s %s", kind, path);
        r = read_secret_file(path, kind, ret, err);
        if (r != QN_ENOTFOUND)
            return r;
        if (cfg->credential_helper[0] == '\0')
            return cred_fail_errno(err, QN_ECRED, ENOENT,
                                   "%s %.180s does not exist, and no credential_helper is "
                                   "configured",
                                   kind, path);
    }
    if (cfg->credential_helper[0] != '\0')
        return qn_cred_run_helper(cfg->credential_helper, cfg->host, cfg->user,
                                  QN_CRED_HELPER_TIMEOUT_MS, ret, err);
    return get_from_default_helper(cfg, ret, err);
}
