/*
 * spawn — detached double fork and bounded helper runs; contract in spawn.h.
 *
 * Everything the children need (the descriptor limit, the environment,
 * argv, descriptors already moved above 2) is prepared before the fork:
 * after it, only async-signal-safe calls (POSIX.1-2017 section 2.4.3, plus
 * raw system calls) are made, because a copy of a multi-threaded process
 * may hold locks (malloc's among them) that no thread will ever release.
 * Every child reports a failure before exec through an O_CLOEXEC pipe,
 * which the parent reads to its end: the end comes when exec succeeded
 * (the pipe closes with it) or the child died.
 */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* Where an older kernel has no close_range: close up to this many fds at most. */
#define FD_LOOP_MAX 65536
/* How long to nap between checks while a program that closed its output exits. */
#define WAIT_NAP_MS 10
/* Bytes read at once from a pipe whose buffer is full (then wiped and dropped). */
#define READ_SINK 256

/* One report through the pipe: a pid, or the errno of a failed step. */
struct report {
    int kind;  /* REPORT_* */
    int value; /* pid or errno */
};

enum {
    REPORT_PID = 1,
    REPORT_ERROR = 2,
};

/* ---- the child side: async-signal-safe only ------------------------------------------- */

/* Write one report; a failure here cannot be reported anywhere else. */
static void report(int fd, int kind, int value)
{
    struct report rep = {kind, value};
    ssize_t n;

    do
        n = write(fd, &rep, sizeof(rep)); /* <= PIPE_BUF: atomic */
    while (n < 0 && errno == EINTR);
}

/* Report the errno of the step that failed, and end the child. */
static _Noreturn void fail_in_child(int report_fd)
{
    report(report_fd, REPORT_ERROR, errno);
    _exit(127);
}

/* fork() without the atfork handlers where the C library allows it (glibc >= 2.34). */
static pid_t fork_in_child(void)
{
#if defined(__GLIBC__) && defined(__GLIBC_PREREQ)
#if __GLIBC_PREREQ(2, 34)
    return _Fork();
#else
    return fork();
#endif
#else
    return fork();
#endif
}

/* Close every fd from FIRST up, except KEEP (KEEP >= FIRST). */
static void close_from(int first, int keep, long fd_limit)
{
    long fd;

#ifdef SYS_close_range
    /* The raw call: glibc's wrapper (2.34) is newer than the kernel's (5.9). */
    if ((keep == first || syscall(SYS_close_range, (unsigned)first, (unsigned)keep - 1, 0) == 0) &&
        syscall(SYS_close_range, (unsigned)keep + 1, ~0U, 0) == 0)
        return;
#endif
    /* ENOSYS (kernel < 5.9): close one by one up to the limit taken before fork. */
    for (fd = first; fd < fd_limit; fd++) {
        if (fd != keep)
            (void)close((int)fd); /* EBADF for fds that are not open: expected */
    }
}

/* Every disposition to SIG_DFL: handlers would be reset by execve, but an
 * ignored signal stays ignored.  SIGKILL, SIGSTOP and the C library's
 * reserved signals refuse: nothing to reset there. */
static void default_signals(void)
{
    struct sigaction dfl;
    int sig;

    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (sig = 1; sig < NSIG; sig++)
        (void)sigaction(sig, &dfl, NULL);
}

/* Unblock every signal (the parent blocked them all around fork) and exec.  Never returns. */
static _Noreturn void exec_program(const char *path, char *const argv[], char *const envp[],
                                   int report_fd)
{
    sigset_t none;

    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) == 0)
        execve(path, argv, envp);
    fail_in_child(report_fd);
}

/* With QN_SPAWN_ROOT_IDS: every id 0 when only the effective user id is. */
static bool become_root(void)
{
    if (geteuid() != 0 || (getuid() == 0 && getgid() == 0 && getegid() == 0))
        return true;
#if defined(SYS_setresuid32)
    return syscall(SYS_setgroups32, 0, NULL) == 0 && syscall(SYS_setresgid32, 0, 0, 0) == 0 &&
           syscall(SYS_setresuid32, 0, 0, 0) == 0;
#else
    return syscall(SYS_setgroups, 0, NULL) == 0 && syscall(SYS_setresgid, 0, 0, 0) == 0 &&
           syscall(SYS_setresuid, 0, 0, 0) == 0;
#endif
}

/* The detached program's process: clean state, then exec.  Never returns. */
static _Noreturn void detached_program(const char *path, char *const argv[], char *const envp[],
                                       const struct qn_spawn_options *opts, int report_fd,
                                       long fd_limit)
{
    int null_fd, fd;

    if ((opts->flags & QN_SPAWN_LEAD_SESSION) != 0 && setsid() < 0)
        fail_in_child(report_fd);
    default_signals();
    /* Without O_CLOEXEC: when fds 0-2 are free, open() returns one of them, which then
     * must stay open across exec (dup2 onto itself would not clear the flag). */
    null_fd = open("/dev/null", O_RDWR);
    if (null_fd < 0)
        fail_in_child(report_fd);
    for (fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
        if (fd != null_fd && dup2(null_fd, fd) < 0)
            fail_in_child(report_fd);
    }
    if (null_fd > STDERR_FILENO)
        (void)close(null_fd);
    close_from(STDERR_FILENO + 1, report_fd, fd_limit);
    if (chdir("/") != 0)
        fail_in_child(report_fd);
    if ((opts->flags & QN_SPAWN_SET_UMASK) != 0)
        (void)umask(opts->umask);
    if ((opts->flags & QN_SPAWN_ROOT_IDS) != 0 && !become_root())
        fail_in_child(report_fd);
    exec_program(path, argv, envp, report_fd);
}

/* The intermediate child: new session (unless the program makes its own), fork the
 * program's process, report its pid, exit. */
static _Noreturn void intermediate_child(const char *path, char *const argv[], char *const envp[],
                                         const struct qn_spawn_options *opts, int report_fd,
                                         long fd_limit)
{
    pid_t pid;

    if ((opts->flags & QN_SPAWN_LEAD_SESSION) == 0 && setsid() < 0)
        fail_in_child(report_fd);
    pid = fork_in_child();
    if (pid < 0)
        fail_in_child(report_fd);
    if (pid == 0)
        detached_program(path, argv, envp, opts, report_fd, fd_limit);
    report(report_fd, REPORT_PID, (int)pid);
    _exit(0);
}

/* The helper's process: the caller's pipes as 0-2 (all above 2 already, so no dup2
 * overwrites another; dup2 clears O_CLOEXEC on the copy; -1 keeps the caller's). */
static _Noreturn void helper_program(const struct qn_spawn_program *p, char *const envp[],
                                     const int fds[3], int report_fd, long fd_limit)
{
    int fd;

    for (fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
        if (fds[fd] >= 0 && dup2(fds[fd], fd) < 0)
            fail_in_child(report_fd);
    }
    close_from(STDERR_FILENO + 1, report_fd, fd_limit);
    default_signals();
    exec_program(p->path, p->argv, envp, report_fd);
}

/* ---- the parent side ---------------------------------------------------------------------- */

static long fd_limit(void)
{
    long limit = sysconf(_SC_OPEN_MAX);

    return limit < 0 || limit > FD_LOOP_MAX ? FD_LOOP_MAX : limit;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        (void)close(*fd);
    *fd = -1;
}

/*
 * Move *FD above 0-2 (a no-op for -1 and higher fds): a caller running with
 * stdin or stdout closed gets new descriptors there, and the child's dup2
 * of one pipe onto 0 would then clobber another.  False with errno.
 */
static bool above_stdio(int *fd)
{
    int moved, saved_errno;

    if (*fd < 0 || *fd > STDERR_FILENO)
        return true;
    moved = fcntl(*fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    saved_errno = errno;
    close_fd(fd);
    errno = saved_errno;
    *fd = moved;
    return moved >= 0;
}

/*
 * fork() with every signal blocked in the calling thread around it, so no
 * handler of the host runs in the child, which starts with everything
 * blocked (exec_program unblocks).  sigprocmask, not pthread_sigmask: on
 * glibc < 2.34 the latter is in libpthread, and both change only the
 * calling thread's mask.  -1 with errno on failure.
 */
static pid_t fork_with_signals_blocked(void)
{
    sigset_t all, old;
    pid_t pid;
    int fork_errno;

    sigfillset(&all);
    if (sigprocmask(SIG_SETMASK, &all, &old) != 0)
        return -1;
    pid = fork();
    if (pid == 0)
        return 0;
    fork_errno = errno;
    /* Restoring a mask that sigprocmask itself returned cannot fail. */
    (void)sigprocmask(SIG_SETMASK, &old, NULL);
    errno = fork_errno;
    return pid;
}

/* Read reports from FD until every writer is gone: the pid reported (into *RET_PID
 * when not NULL) and the first errno reported, or 0 when none was. */
static int read_reports(int fd, pid_t *ret_pid)
{
    struct report rep;
    int child_errno = 0;
    ssize_t n;

    for (;;) {
        n = read(fd, &rep, sizeof(rep));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (n != (ssize_t)sizeof(rep))
            continue; /* writes of one report are atomic: cannot happen */
        if (rep.kind == REPORT_PID && ret_pid != NULL)
            *ret_pid = (pid_t)rep.value;
        else if (rep.kind == REPORT_ERROR && child_errno == 0)
            child_errno = rep.value != 0 ? rep.value : EIO;
    }
    if (n < 0 && child_errno == 0)
        child_errno = errno;
    return child_errno;
}

/* Wait for PID.  False with errno when it cannot be: ECHILD when a SIGCHLD handler of
 * the host (or SIG_IGN) reaped it first. */
static bool reap(pid_t pid, int *ret_status)
{
    int status;

    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return false;
    }
    if (ret_status != NULL)
        *ret_status = status;
    return true;
}

static void kill_and_reap(pid_t pid)
{
    (void)kill(pid, SIGKILL);
    (void)reap(pid, NULL);
}

static long long monotonic_ms(void)
{
    struct timespec ts;

    /* Cannot fail for CLOCK_MONOTONIC on Linux; a wall-clock jump must not
     * shorten or stretch a bound. */
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- detached programs ---------------------------------------------------------------------- */

enum qn_status qn_spawn_detached(const char *path, char *const argv[], char *const envp[],
                                 const struct qn_spawn_options *opts, pid_t *ret_pid)
{
    static const struct qn_spawn_options no_options;
    int fds[2] = {-1, -1}, saved_errno = 0;
    pid_t child, program = 0;
    enum qn_status r = QN_EIO;
    long limit;

    if (path == NULL || argv == NULL || argv[0] == NULL) {
        errno = EINVAL;
        return QN_EINVAL;
    }
    if (opts == NULL)
        opts = &no_options;
    if (envp == NULL)
        envp = environ;
    limit = fd_limit();

    /* The report fd must survive the program's dup2 of /dev/null onto 0-2. */
    if (pipe2(fds, O_CLOEXEC) != 0 || !above_stdio(&fds[0]) || !above_stdio(&fds[1])) {
        saved_errno = errno;
        goto out;
    }
    child = fork_with_signals_blocked();
    if (child == 0)
        intermediate_child(path, argv, envp, opts, fds[1], limit);
    if (child < 0) {
        saved_errno = errno;
        goto out;
    }
    close_fd(&fds[1]);
    /* The end comes once the intermediate child exited and the program exec'd or died. */
    saved_errno = read_reports(fds[0], &program);
    /* ECHILD: the host reaped it first; it is gone either way. */
    (void)reap(child, NULL);
    if (saved_errno != 0)
        goto out;
    if (program <= 0) {
        saved_errno = ECHILD; /* the intermediate child died before it could report */
        goto out;
    }
    if (ret_pid != NULL)
        *ret_pid = program;
    r = QN_OK;
out:
    close_fd(&fds[0]);
    close_fd(&fds[1]);
    if (r != QN_OK)
        errno = saved_errno != 0 ? saved_errno : EIO;
    return r;
}

/* ---- helper programs ------------------------------------------------------------------------ */

/* The parent's ends of the pipes, -1 once closed. */
struct streams {
    int in, out, err;
    size_t sent;
};

/* Write more input; a program that does not want it (EPIPE) keeps running, and its
 * output and exit status still count. */
static void feed(const struct qn_spawn_program *p, struct streams *s)
{
    ssize_t n =
        send(s->in, p->input + s->sent, p->input_len - s->sent, MSG_NOSIGNAL | MSG_DONTWAIT);

    if (n < 0 && errno != EINTR && errno != EAGAIN) {
        close_fd(&s->in);
    } else if (n > 0) {
        s->sent += (size_t)n;
        if (s->sent == p->input_len)
            close_fd(&s->in); /* end of input for the program */
    }
}

/*
 * Read what *FD has into the ROOM bytes at DST, or, when ROOM is 0, into a
 * buffer of our own that is wiped at once (the bytes may be a secret's).
 * *RET_N: the bytes read, 0 when none were there or at end of file, which
 * closes *FD.  QN_EIO with ret->sys_errno.
 */
static enum qn_status read_some(int *fd, char *dst, size_t room, size_t *ret_n,
                                struct qn_spawn_result *ret)
{
    char sink[READ_SINK];
    ssize_t n;

    *ret_n = 0;
    if (room > 0) {
        n = read(*fd, dst, room);
    } else {
        n = read(*fd, sink, sizeof(sink));
        explicit_bzero(sink, sizeof(sink));
    }
    if (n < 0 && errno != EINTR && errno != EAGAIN) {
        ret->sys_errno = errno;
        return QN_EIO;
    }
    if (n == 0)
        close_fd(fd);
    if (n > 0)
        *ret_n = (size_t)n;
    return QN_OK;
}

/* Read stdout straight into the caller's buffer.  QN_ETOOBIG once more than
 * output_cap bytes arrived; QN_EIO. */
static enum qn_status read_output(const struct qn_spawn_program *p, struct streams *s,
                                  struct qn_spawn_result *ret)
{
    size_t room = p->output_cap - ret->output_len, n;
    enum qn_status r = read_some(&s->out, p->output + ret->output_len, room, &n, ret);

    if (r == QN_OK && room == 0 && n > 0)
        return QN_ETOOBIG;
    ret->output_len += n;
    return r;
}

/* Read stderr into the caller's buffer, dropping what does not fit. */
static enum qn_status read_errors(const struct qn_spawn_program *p, struct streams *s,
                                  struct qn_spawn_result *ret)
{
    size_t room = p->errors_size - 1 - ret->errors_len, n;
    enum qn_status r = read_some(&s->err, p->errors + ret->errors_len, room, &n, ret);

    if (room > 0) {
        ret->errors_len += n;
        p->errors[ret->errors_len] = '\0';
    }
    return r;
}

/* Feed stdin and drain stdout and stderr until all three ended, or DEADLINE
 * (QN_ETIMEOUT).  QN_ETOOBIG, QN_EIO as read_output. */
static enum qn_status talk(const struct qn_spawn_program *p, struct streams *s, long long deadline,
                           struct qn_spawn_result *ret)
{
    enum qn_status r = QN_OK;

    if (s->in >= 0 && p->input_len == 0)
        close_fd(&s->in);
    while (r == QN_OK && (s->in >= 0 || s->out >= 0 || s->err >= 0)) {
        struct pollfd pfd[3];
        int i_in = -1, i_out = -1, i_err = -1, n = 0, rc;
        long long left = deadline - monotonic_ms();

        if (left <= 0)
            return QN_ETIMEOUT;
        if (s->in >= 0) {
            pfd[n] = (struct pollfd){.fd = s->in, .events = POLLOUT};
            i_in = n++;
        }
        if (s->out >= 0) {
            pfd[n] = (struct pollfd){.fd = s->out, .events = POLLIN};
            i_out = n++;
        }
        if (s->err >= 0) {
            pfd[n] = (struct pollfd){.fd = s->err, .events = POLLIN};
            i_err = n++;
        }
        rc = poll(pfd, (nfds_t)n, left > INT_MAX ? INT_MAX : (int)left);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            ret->sys_errno = errno;
            return QN_EIO;
        }
        if (i_in >= 0 && pfd[i_in].revents != 0)
            feed(p, s);
        if (i_out >= 0 && pfd[i_out].revents != 0)
            r = read_output(p, s, ret);
        if (r == QN_OK && i_err >= 0 && pfd[i_err].revents != 0)
            r = read_errors(p, s, ret);
    }
    return r;
}

/* Wait for PID until DEADLINE: 1 reaped (*RET_STATUS), 0 still running then, -1
 * waitpid failed (errno). */
static int wait_until(pid_t pid, long long deadline, int *ret_status)
{
    for (;;) {
        pid_t w = waitpid(pid, ret_status, WNOHANG);
        long long left;

        if (w == pid)
            return 1;
        if (w < 0 && errno != EINTR)
            return -1;
        left = deadline - monotonic_ms();
        if (left <= 0)
            return 0;
        /* Short naps: it has closed its output and is about to exit. */
        (void)poll(NULL, 0, left < WAIT_NAP_MS ? (int)left : WAIT_NAP_MS);
    }
}

enum qn_status qn_spawn_run(const struct qn_spawn_program *p, struct qn_spawn_result *ret)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, rep[2] = {-1, -1};
    int devnull = -1, child_fds[3], exec_errno, waited;
    struct streams s = {-1, -1, -1, 0};
    enum qn_status r = QN_EIO;
    char *const *envp;
    long long deadline;
    pid_t pid = -1;
    long limit;

    memset(ret, 0, sizeof(*ret));
    if (p == NULL || p->path == NULL || p->argv == NULL || p->argv[0] == NULL ||
        p->timeout_ms <= 0 || (p->input == NULL && p->input_len != 0) ||
        (p->errors != NULL && p->errors_size == 0)) {
        errno = EINVAL;
        return QN_EINVAL;
    }
    envp = p->envp != NULL ? p->envp : environ;
    limit = fd_limit();
    if (p->errors != NULL)
        p->errors[0] = '\0';

    ret->failed_step = QN_SPAWN_STEP_SETUP;
    if ((p->input == NULL || p->output == NULL) &&
        (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
        goto failed;
    if (p->input != NULL && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0)
        goto failed;
    if ((p->output != NULL && pipe2(out, O_CLOEXEC) < 0) ||
        (p->errors != NULL && pipe2(err, O_CLOEXEC) < 0) || pipe2(rep, O_CLOEXEC) < 0)
        goto failed;
    if (!above_stdio(&devnull) || !above_stdio(&in[0]) || !above_stdio(&in[1]) ||
        !above_stdio(&out[0]) || !above_stdio(&out[1]) || !above_stdio(&err[0]) ||
        !above_stdio(&err[1]) || !above_stdio(&rep[0]) || !above_stdio(&rep[1]))
        goto failed;
    child_fds[STDIN_FILENO] = p->input != NULL ? in[1] : devnull;
    child_fds[STDOUT_FILENO] = p->output != NULL ? out[1] : devnull;
    child_fds[STDERR_FILENO] = err[1];

    ret->failed_step = QN_SPAWN_STEP_FORK;
    deadline = monotonic_ms() + p->timeout_ms;
    pid = fork_with_signals_blocked();
    if (pid == 0)
        helper_program(p, envp, child_fds, rep[1], limit);
    if (pid < 0)
        goto failed;
    close_fd(&in[1]);
    close_fd(&out[1]);
    close_fd(&err[1]);
    close_fd(&rep[1]);
    close_fd(&devnull);

    ret->failed_step = QN_SPAWN_STEP_EXEC;
    exec_errno = read_reports(rep[0], NULL);
    close_fd(&rep[0]);
    if (exec_errno != 0) {
        (void)reap(pid, NULL); /* it exits at once */
        pid = -1;
        errno = exec_errno;
        goto failed;
    }

    s.in = in[0];
    s.out = out[0];
    s.err = err[0];
    in[0] = out[0] = err[0] = -1;
    ret->failed_step = QN_SPAWN_STEP_TALK;
    r = talk(p, &s, deadline, ret);
    if (r == QN_ETIMEOUT)
        ret->output_closed = s.out < 0;
    if (r != QN_OK)
        goto out;

    waited = wait_until(pid, deadline, &ret->wait_status);
    if (waited == 0) {
        ret->output_closed = true;
        r = QN_ETIMEOUT;
        goto out;
    }
    pid = -1;
    if (waited < 0) {
        ret->failed_step = QN_SPAWN_STEP_WAIT;
        goto failed;
    }
    ret->failed_step = QN_SPAWN_STEP_NONE;
    r = QN_OK;
    goto out;

failed:
    ret->sys_errno = errno;
    r = QN_EIO;
out:
    if (pid > 0)
        kill_and_reap(pid); /* never leave it behind */
    if (r != QN_EIO)
        ret->failed_step = QN_SPAWN_STEP_NONE;
    close_fd(&s.in);
    close_fd(&s.out);
    close_fd(&s.err);
    close_fd(&in[0]);
    close_fd(&in[1]);
    close_fd(&out[0]);
    close_fd(&out[1]);
    close_fd(&err[0]);
    close_fd(&err[1]);
    close_fd(&rep[0]);
    close_fd(&rep[1]);
    close_fd(&devnull);
    if (r != QN_OK && p->output != NULL) {
        explicit_bzero(p->output, ret->output_len);
        ret->output_len = 0;
    }
    if (r == QN_EIO)
        errno = ret->sys_errno;
    return r;
}

/* ---- finding a program ---------------------------------------------------------------------- */

enum qn_status qn_spawn_find_program(const char *name, char *out, size_t size)
{
    const char *path, *p, *end;
    struct stat st;
    int n;

    if (strchr(name, '/') != NULL) {
        n = snprintf(out, size, "%s", name);
        return n >= 0 && (size_t)n < size ? QN_OK : QN_ETOOBIG;
    }
    if (name[0] == '\0')
        return QN_ENOTFOUND;
    path = getenv("PATH");
    if (path == NULL || path[0] == '\0')
        path = QN_SPAWN_DEFAULT_PATH;
    for (p = path; *p != '\0'; p = *end != '\0' ? end + 1 : end) {
        end = strchrnul(p, ':');
        if (p[0] != '/')
            continue; /* "" or relative */
        n = snprintf(out, size, "%.*s/%s", (int)(end - p), p, name);
        if (n < 0 || (size_t)n >= size)
            continue;
        if (stat(out, &st) == 0 && S_ISREG(st.st_mode) &&
            faccessat(AT_FDCWD, out, X_OK, AT_EACCESS) == 0)
            return QN_OK;
    }
    return QN_ENOTFOUND;
}
