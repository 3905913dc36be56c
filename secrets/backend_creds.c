/*
 * The systemd-creds backend: one encrypted credential file per host,
 * CREDSTORE/qqnotify.smtp, that a unit loads with
 * LoadCredentialEncrypted=qqnotify.smtp:/etc/credstore.encrypted/qqnotify.smtp.
 *
 * We run the systemd-creds program instead of re-implementing its file
 * format: the format and its keys (the host key in
 * /var/lib/systemd/credential.secret, a TPM2 when asked) belong to systemd,
 * and PID 1 must be able to decrypt what we write.  The secret goes to the
 * child through a pipe and comes back through a pipe into a locked buffer;
 * it is never in the child's argv or environment.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"

#define TOOL_NAME    "systemd-creds"
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define ERRTEXT_MAX  2048 /* what we keep of the tool's stderr; the rest is read and dropped */
#define EXIT_NOEXEC  127  /* the child could not exec the tool */

extern char **environ;

/* One run of the tool: the secret in on stdin and/or out on stdout. */
struct child_run {
    const char *const *argv;     /* argv[0] is an absolute path */
    const struct qns_secret *in; /* written to stdin, or NULL for /dev/null */
    struct qns_secret *out;      /* stdout appended here, or NULL for /dev/null */
    unsigned timeout_s;
    char errtext[ERRTEXT_MAX + 1]; /* stderr, NUL-terminated, cut at ERRTEXT_MAX */
    size_t errlen;
    int wait_status;
};

bool qns_creds_path(const struct qns_target *target, char *out, size_t outsz)
{
    int n = snprintf(out, outsz, "%s/%s", target->credstore, QNS_CRED_NAME);

    return n > 0 && (size_t)n < outsz;
}

enum qns_result qns_creds_tool(char *out, size_t outsz, struct qns_error *err)
{
    const char *path = getenv("PATH");
    const char *p, *end;
    struct stat st;
    size_t dirlen;
    int n;

    if (path == NULL || *path == '\0')
        path = DEFAULT_PATH;
    for (p = path; *p != '\0'; p = *end ? end + 1 : end) {
        end = strchr(p, ':');
        if (end == NULL)
            end = p + strlen(p);
        dirlen = (size_t)(end - p);
        /* A relative entry ("" or ".") would run whatever sits in the current
         * directory as root: skip it. */
        if (dirlen == 0 || *p != '/')
            continue;
        n = snprintf(out, outsz, "%.*s/%s", (int)dirlen, p, TOOL_NAME);
        if (n < 0 || (size_t)n >= outsz)
            continue;
        if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
            return QNS_OK;
    }
    qns_error_set(err, 0, "%s not found in PATH=%s", TOOL_NAME, path);
    return QNS_NO_TOOL;
}

static long long now_ms(void)
{
    struct timespec ts;

    /* CLOCK_MONOTONIC cannot fail on Linux; a wall-clock jump must not
     * shorten or stretch the bound. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* Child side: only async-signal-safe calls between fork() and exec. */
static void child_exec(const struct child_run *run, int in_fd, int out_fd, int err_fd)
{
    struct sigaction sa;

    if (dup2(in_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
        dup2(err_fd, STDERR_FILENO) < 0)
        _exit(EXIT_NOEXEC);
    /* We ignore SIGPIPE; an ignored signal stays ignored across exec. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &sa, NULL);
    execve(run->argv[0], (char *const *)run->argv, environ);
    _exit(EXIT_NOEXEC);
}

/* Read what is available on *FD into the secret buffer (or discard it when
 * DST is NULL or full).  Closes *FD at end of file.  Returns 0, or -1 with
 * errno on a read error; *overflow is set when bytes had to be dropped. */
static int drain_secret(int *fd, struct qns_secret *dst, bool *overflow)
{
    char sink[256];
    ssize_t n;
    size_t room = dst != NULL ? dst->cap - dst->len : 0;

    if (room > 0)
        n = read(*fd, dst->data + dst->len, room);
    else
        n = read(*fd, sink, sizeof(sink));
    if (n < 0) {
        explicit_bzero(sink, sizeof(sink));
        return errno == EINTR || errno == EAGAIN ? 0 : -1;
    }
    if (n == 0) {
        close_fd(fd);
        return 0;
    }
    if (room > 0) {
        dst->len += (size_t)n;
        dst->data[dst->len] = '\0';
    } else if (dst != NULL) {
        *overflow = true;
    }
    explicit_bzero(sink, sizeof(sink));
    return 0;
}

static int drain_text(int *fd, struct child_run *run)
{
    char chunk[512];
    ssize_t n = read(*fd, chunk, sizeof(chunk));
    size_t keep;

    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -1;
    if (n == 0) {
        close_fd(fd);
        return 0;
    }
    keep = ERRTEXT_MAX - run->errlen;
    if (keep > (size_t)n)
        keep = (size_t)n;
    memcpy(run->errtext + run->errlen, chunk, keep);
    run->errlen += keep;
    run->errtext[run->errlen] = '\0';
    return 0;
}

/*
 * Run the tool, feed run->in, collect stdout and stderr, and wait for it,
 * all within run->timeout_s.  QNS_OK when the child was reaped (look at
 * run->wait_status); QNS_TIMEOUT (the child was killed), QNS_TOO_BIG
 * (stdout larger than run->out can hold), QNS_IO.
 */
static enum qns_result child_run(struct child_run *run, struct qns_error *err)
{
    int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
    int devnull = -1;
    enum qns_result r = QNS_IO;
    long long deadline = now_ms() + (long long)run->timeout_s * 1000;
    size_t written = 0;
    bool overflow = false, timed_out = false;
    pid_t pid = -1;

    run->errlen = 0;
    run->errtext[0] = '\0';
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0) {
        qns_error_set(err, errno, "open /dev/null");
        goto out;
    }
    if ((run->in != NULL && pipe2(in_pipe, O_CLOEXEC) < 0) ||
        (run->out != NULL && pipe2(out_pipe, O_CLOEXEC) < 0) || pipe2(err_pipe, O_CLOEXEC) < 0) {
        qns_error_set(err, errno, "pipe");
        goto out;
    }
    pid = fork();
    if (pid < 0) {
        qns_error_set(err, errno, "fork");
        goto out;
    }
    if (pid == 0)
        child_exec(run, run->in != NULL ? in_pipe[0] : devnull,
                   run->out != NULL ? out_pipe[1] : devnull, err_pipe[1]);

    close_fd(&in_pipe[0]);
    close_fd(&out_pipe[1]);
    close_fd(&err_pipe[1]);
    close_fd(&devnull);
    if (in_pipe[1] >= 0 && fcntl(in_pipe[1], F_SETFL, O_NONBLOCK) < 0) {
        qns_error_set(err, errno, "fcntl");
        goto out;
    }
    if (in_pipe[1] >= 0 && run->in->len == 0)
        close_fd(&in_pipe[1]);

    while (in_pipe[1] >= 0 || out_pipe[0] >= 0 || err_pipe[0] >= 0) {
        struct pollfd pfd[3] = {
            {.fd = in_pipe[1], .events = POLLOUT},
            {.fd = out_pipe[0], .events = POLLIN},
            {.fd = err_pipe[0], .events = POLLIN},
        };
        long long left = deadline - now_ms();
        int ready;

        if (left <= 0) {
            timed_out = true;
            break;
        }
        ready = poll(pfd, 3, left > 1000000 ? 1000000 : (int)left);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            qns_error_set(err, errno, "poll");
            goto out;
        }
        if (pfd[0].revents & (POLLOUT | POLLERR | POLLHUP)) {
            ssize_t n = write(in_pipe[1], run->in->data + written, run->in->len - written);

            if (n < 0 && errno != EAGAIN && errno != EINTR) {
                /* EPIPE: the tool exited without reading; its status and
                 * stderr will say why. */
                close_fd(&in_pipe[1]);
            } else if (n > 0) {
                written += (size_t)n;
                if (written == run->in->len)
                    close_fd(&in_pipe[1]);
            }
        }
        if ((pfd[1].revents & (POLLIN | POLLERR | POLLHUP)) &&
            drain_secret(&out_pipe[0], run->out, &overflow) < 0) {
            qns_error_set(err, errno, "read from %s", TOOL_NAME);
            goto out;
        }
        if ((pfd[2].revents & (POLLIN | POLLERR | POLLHUP)) && drain_text(&err_pipe[0], run) < 0) {
            qns_error_set(err, errno, "read from %s", TOOL_NAME);
            goto out;
        }
    }
    if (timed_out) {
        r = QNS_TIMEOUT;
        qns_error_set(err, 0, "%s did not finish within %u s", TOOL_NAME, run->timeout_s);
        goto out;
    }
    for (;;) {
        pid_t w = waitpid(pid, &run->wait_status, 0);

        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            qns_error_set(err, errno, "waitpid");
            goto out;
        }
    }
    pid = -1;
    if (overflow) {
        r = QNS_TOO_BIG;
        qns_error_set(err, 0, "%s answered more than %zu bytes", TOOL_NAME,
                      run->out != NULL ? run->out->cap : (size_t)0);
        goto out;
    }
    r = QNS_OK;
out:
    if (pid > 0) {
        /* Timed out or failed half-way: never leave the child behind. */
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    close_fd(&in_pipe[0]);
    close_fd(&in_pipe[1]);
    close_fd(&out_pipe[0]);
    close_fd(&out_pipe[1]);
    close_fd(&err_pipe[0]);
    close_fd(&err_pipe[1]);
    close_fd(&devnull);
    if (r != QNS_OK && run->out != NULL)
        qns_secret_clear(run->out);
    return r;
}

/* The tool's last non-empty stderr line: the error itself (earlier lines are
 * warnings such as "not located on encrypted media"). */
static const char *last_line(char *text)
{
    char *end = text + strlen(text);
    char *start;

    while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
        end--;
    *end = '\0';
    start = end;
    while (start > text && start[-1] != '\n')
        start--;
    return start;
}

/* Map a finished run to a result. */
static enum qns_result child_verdict(struct child_run *run, struct qns_error *err)
{
    int st = run->wait_status;

    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return QNS_OK;
    if (WIFEXITED(st) && WEXITSTATUS(st) == EXIT_NOEXEC && run->errlen == 0) {
        qns_error_set(err, 0, "could not execute %s", run->argv[0]);
        return QNS_NO_TOOL;
    }
    if (WIFSIGNALED(st))
        qns_error_set(err, 0, "%s %s killed by signal %d: %s", TOOL_NAME, run->argv[1],
                      WTERMSIG(st), last_line(run->errtext));
    else
        qns_error_set(err, 0, "%s %s exited with status %d: %s", TOOL_NAME, run->argv[1],
                      WEXITSTATUS(st), last_line(run->errtext));
    return QNS_TOOL_FAILED;
}

/* Open the credstore directory, creating it (0700, as systemd's tmpfiles.d
 * does) when it does not exist yet. */
static enum qns_result open_credstore(const struct qns_target *target, int *ret_fd,
                                      struct qns_error *err)
{
    int fd = open(target->credstore, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 && errno == ENOENT) {
        if (mkdir(target->credstore, 0700) < 0 && errno != EEXIST) {
            qns_error_set(err, errno, "mkdir %s", target->credstore);
            return errno == EACCES || errno == EPERM ? QNS_NOT_ROOT : QNS_IO;
        }
        fd = open(target->credstore, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    }
    if (fd < 0) {
        qns_error_set(err, errno, "open %s", target->credstore);
        return errno == EACCES || errno == EPERM ? QNS_NOT_ROOT : QNS_IO;
    }
    *ret_fd = fd;
    return QNS_OK;
}

/* Make the file the tool wrote private and durable before it gets its name. */
static enum qns_result seal_file(const char *path, struct qns_error *err)
{
    enum qns_result r = QNS_IO;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0) {
        qns_error_set(err, errno, "open %s", path);
        goto out;
    }
    if (fstat(fd, &st) < 0) {
        qns_error_set(err, errno, "fstat %s", path);
        goto out;
    }
    if (!S_ISREG(st.st_mode) || st.st_size == 0) {
        r = QNS_TOOL_FAILED;
        qns_error_set(err, 0, "%s wrote no credential to %s", TOOL_NAME, path);
        goto out;
    }
    /* umask 077 already made it 0600; say so explicitly in case the tool
     * ever chooses its own mode. */
    if (fchown(fd, 0, 0) < 0 || fchmod(fd, 0600) < 0) {
        qns_error_set(err, errno, "chmod 0600 %s", path);
        goto out;
    }
    if (fsync(fd) < 0) {
        qns_error_set(err, errno, "fsync %s", path);
        goto out;
    }
    r = QNS_OK;
out:
    if (fd >= 0)
        close(fd);
    return r;
}

enum qns_result qns_creds_store(const struct qns_target *target, const struct qns_secret *secret,
                                struct qns_error *err)
{
    char tool[4096], path[4096], tmp[4096], key_arg[64];
    const char *argv[7];
    struct child_run run;
    enum qns_result r;
    int dirfd = -1, fd;
    int n;

    tmp[0] = '\0';
    if (!qns_creds_path(target, path, sizeof(path))) {
        r = QNS_IO;
        qns_error_set(err, ENAMETOOLONG, "%s", target->credstore);
        goto out;
    }
    if (geteuid() != 0) {
        r = QNS_NOT_ROOT;
        qns_error_set(err, 0, "writing %s", path);
        goto out;
    }
    r = qns_creds_tool(tool, sizeof(tool), err);
    if (r != QNS_OK)
        goto out;
    r = open_credstore(target, &dirfd, err);
    if (r != QNS_OK)
        goto out;

    r = QNS_IO;
    n = snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", target->credstore, QNS_CRED_NAME);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        tmp[0] = '\0';
        qns_error_set(err, ENAMETOOLONG, "%s", target->credstore);
        goto out;
    }
    /* Reserve a fresh name (O_EXCL, 0600) for the tool to write into. */
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        tmp[0] = '\0';
        qns_error_set(err, errno, "create a temporary file in %s", target->credstore);
        goto out;
    }
    close(fd);

    n = snprintf(key_arg, sizeof(key_arg), "--with-key=%s", target->with_key);
    if (n < 0 || (size_t)n >= sizeof(key_arg)) {
        qns_error_set(err, EINVAL, "--with-key=%s", target->with_key);
        goto out;
    }
    argv[0] = tool;
    argv[1] = "encrypt";
    argv[2] = "--name=" QNS_CRED_NAME;
    argv[3] = key_arg;
    argv[4] = "-"; /* plaintext from stdin: our pipe */
    argv[5] = tmp;
    argv[6] = NULL;
    memset(&run, 0, sizeof(run));
    run.argv = argv;
    run.in = secret;
    run.timeout_s = target->timeout_s;
    r = child_run(&run, err);
    if (r != QNS_OK)
        goto out;
    r = child_verdict(&run, err);
    if (r != QNS_OK)
        goto out;
    r = seal_file(tmp, err);
    if (r != QNS_OK)
        goto out;
    r = QNS_IO;
    if (rename(tmp, path) < 0) {
        qns_error_set(err, errno, "rename to %s", path);
        goto out;
    }
    tmp[0] = '\0';
    /* The rename is durable only once the directory is on disk. */
    if (fsync(dirfd) < 0) {
        qns_error_set(err, errno, "fsync %s", target->credstore);
        goto out;
    }
    r = QNS_OK;
out:
    if (tmp[0] != '\0')
        (void)unlink(tmp);
    if (dirfd >= 0)
        close(dirfd);
    return r;
}

enum qns_result qns_creds_exists(const struct qns_target *target, struct qns_error *err)
{
    char path[4096];
    struct stat st;

    if (!qns_creds_path(target, path, sizeof(path))) {
        qns_error_set(err, ENAMETOOLONG, "%s", target->credstore);
        return QNS_IO;
    }
    if (stat(path, &st) < 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            qns_error_set(err, 0, "%s", path);
            return QNS_NOT_FOUND;
        }
        qns_error_set(err, errno, "%s", path);
        return errno == EACCES ? QNS_NOT_ROOT : QNS_IO;
    }
    if (!S_ISREG(st.st_mode)) {
        qns_error_set(err, EINVAL, "%s is not a regular file", path);
        return QNS_IO;
    }
    return QNS_OK;
}

enum qns_result qns_creds_lookup(const struct qns_target *target, struct qns_secret *ret,
                                 struct qns_error *err)
{
    char tool[4096], path[4096];
    const char *argv[6];
    struct child_run run;
    enum qns_result r;

    r = qns_creds_exists(target, err);
    if (r != QNS_OK)
        goto out;
    (void)qns_creds_path(target, path, sizeof(path)); /* fits: exists() built the same path */
    if (geteuid() != 0) {
        /* The file is 0600 root and the host key root's own. */
        r = QNS_NOT_ROOT;
        qns_error_set(err, 0, "reading %s", path);
        goto out;
    }
    r = qns_creds_tool(tool, sizeof(tool), err);
    if (r != QNS_OK)
        goto out;
    argv[0] = tool;
    argv[1] = "decrypt";
    argv[2] = "--name=" QNS_CRED_NAME; /* refuse a file renamed from another credential */
    argv[3] = path;
    argv[4] = "-"; /* plaintext to stdout: our pipe */
    argv[5] = NULL;
    memset(&run, 0, sizeof(run));
    run.argv = argv;
    run.out = ret;
    run.timeout_s = target->timeout_s;
    r = child_run(&run, err);
    if (r != QNS_OK)
        goto out;
    r = child_verdict(&run, err);
    if (r != QNS_OK)
        goto out;
    /* `echo code | systemd-creds encrypt` stores a newline; drop one. */
    if (ret->len > 0 && ret->data[ret->len - 1] == '\n')
        ret->data[--ret->len] = '\0';
    if (ret->len > 0 && ret->data[ret->len - 1] == '\r')
        ret->data[--ret->len] = '\0';
    if (ret->len == 0) {
        r = QNS_TOOL_FAILED;
        qns_error_set(err, 0, "%s holds an empty secret", path);
        goto out;
    }
    r = QNS_OK;
out:
    if (r != QNS_OK)
        qns_secret_clear(ret);
    return r;
}

enum qns_result qns_creds_erase(const struct qns_target *target, struct qns_error *err)
{
    char path[4096];
    enum qns_result r;
    int dirfd = -1;

    r = qns_creds_exists(target, err);
    if (r != QNS_OK)
        goto out;
    (void)qns_creds_path(target, path, sizeof(path)); /* fits: exists() built the same path */
    r = QNS_IO;
    if (unlink(path) < 0) {
        qns_error_set(err, errno, "remove %s", path);
        if (errno == ENOENT)
            r = QNS_NOT_FOUND;
        else if (errno == EACCES || errno == EPERM)
            r = QNS_NOT_ROOT;
        goto out;
    }
    dirfd = open(target->credstore, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0 || fsync(dirfd) < 0) {
        qns_error_set(err, errno, "fsync %s", target->credstore);
        goto out;
    }
    r = QNS_OK;
out:
    if (dirfd >= 0)
        close(dirfd);
    return r;
}
