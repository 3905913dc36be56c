/*
 * spawn — detached double fork; contract in spawn.h.
 *
 * Everything the children need (the descriptor limit, the environment,
 * argv) is prepared before the first fork: after it, only
 * async-signal-safe calls (POSIX.1-2017 section 2.4.3, plus the raw
 * close_range system call) are made, because a copy of a multi-threaded
 * process may hold locks (malloc's among them) that no thread will ever
 * release.
 */
#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Where an older kernel has no close_range: close up to this many fds at most. */
#define FD_LOOP_MAX 65536

/* One report through the pipe: a pid, or the errno of a failed step. */
struct report {
    int kind;  /* REPORT_* */
    int value; /* pid or errno */
};

enum {
    REPORT_PID = 1,
    REPORT_ERROR = 2,
};

/* Write one report; a failure here cannot be reported anywhere else. */
static void report(int fd, int kind, int value)
{
    struct report rep = {kind, value};
    ssize_t n;

    do
        n = write(fd, &rep, sizeof(rep)); /* <= PIPE_BUF: atomic */
    while (n < 0 && errno == EINTR);
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

/* The grandchild: clean process state, then exec.  Never returns. */
static _Noreturn void grandchild(const char *path, char *const argv[], char *const envp[],
                                 int report_fd, long fd_limit)
{
    struct sigaction dfl;
    sigset_t none;
    int null_fd, fd, sig;

    /* The report fd must survive the dup2 onto 0-2 below. */
    if (report_fd <= STDERR_FILENO) {
        fd = fcntl(report_fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
        if (fd < 0)
            _exit(127); /* cannot even report: the parent sees no pid and fails */
        report_fd = fd;
    }

    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (sig = 1; sig < NSIG; sig++) {
        /* SIGKILL, SIGSTOP and the C library's reserved signals refuse: nothing to reset. */
        (void)sigaction(sig, &dfl, NULL);
    }

    null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0)
        goto fail;
    for (fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
        if (dup2(null_fd, fd) < 0) /* dup2 clears O_CLOEXEC on the copy */
            goto fail;
    }
    if (null_fd > STDERR_FILENO)
        (void)close(null_fd);
    close_from(STDERR_FILENO + 1, report_fd, fd_limit);
    if (chdir("/") != 0)
        goto fail;

    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) != 0)
        goto fail;
    execve(path, argv, envp);
fail:
    report(report_fd, REPORT_ERROR, errno);
    _exit(127);
}

/* The first child: new session, fork the grandchild, report its pid, exit. */
static _Noreturn void first_child(const char *path, char *const argv[], char *const envp[],
                                  int report_fd, long fd_limit)
{
    pid_t pid;

    if (setsid() < 0) {
        report(report_fd, REPORT_ERROR, errno);
        _exit(1);
    }
    pid = fork_in_child();
    if (pid < 0) {
        report(report_fd, REPORT_ERROR, errno);
        _exit(1);
    }
    if (pid == 0)
        grandchild(path, argv, envp, report_fd, fd_limit);
    report(report_fd, REPORT_PID, (int)pid);
    _exit(0);
}

enum qn_status qn_spawn_detached(const char *path, char *const argv[], char *const envp[],
                                 pid_t *ret_pid)
{
    int fds[2] = {-1, -1}, status, saved_errno = 0, child_errno = 0, fork_errno;
    sigset_t all, old;
    struct report rep;
    pid_t child, grandchild_pid = 0;
    enum qn_status r = QN_EIO;
    long fd_limit;
    ssize_t n;

    if (path == NULL || argv == NULL || argv[0] == NULL) {
        errno = EINVAL;
        return QN_EINVAL;
    }
    if (envp == NULL)
        envp = environ;
    fd_limit = sysconf(_SC_OPEN_MAX);
    if (fd_limit < 0 || fd_limit > FD_LOOP_MAX)
        fd_limit = FD_LOOP_MAX;

    if (pipe2(fds, O_CLOEXEC) != 0)
        return QN_EIO;
    /*
     * No handler of the host may run in the children: block every signal
     * around fork (for the calling thread only: on Linux sigprocmask is
     * per-thread, like pthread_sigmask, which older glibc keeps in libpthread).
     */
    sigfillset(&all);
    if (sigprocmask(SIG_SETMASK, &all, &old) != 0) {
        saved_errno = errno;
        goto out;
    }
    child = fork();
    if (child == 0)
        first_child(path, argv, envp, fds[1], fd_limit);
    fork_errno = errno;
    /* Restoring a mask that sigprocmask itself returned cannot fail. */
    (void)sigprocmask(SIG_SETMASK, &old, NULL);
    if (child < 0) {
        saved_errno = fork_errno;
        goto out;
    }
    (void)close(fds[1]);
    fds[1] = -1;

    /* EOF once the first child exited and the grandchild exec'd (O_CLOEXEC) or died. */
    for (;;) {
        n = read(fds[0], &rep, sizeof(rep));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (n != (ssize_t)sizeof(rep))
            continue; /* writes of one report are atomic: cannot happen */
        if (rep.kind == REPORT_PID)
            grandchild_pid = (pid_t)rep.value;
        else if (rep.kind == REPORT_ERROR && child_errno == 0)
            child_errno = rep.value != 0 ? rep.value : EIO;
    }
    if (n < 0 && child_errno == 0)
        child_errno = errno;

    /* Reap the first child.  ECHILD: a SIGCHLD handler of the host (or SIG_IGN)
     * already did; that is fine, it is gone either way. */
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;

    if (child_errno != 0) {
        saved_errno = child_errno;
        goto out;
    }
    if (grandchild_pid <= 0) {
        saved_errno = ECHILD; /* the first child died before it could report */
        goto out;
    }
    if (ret_pid != NULL)
        *ret_pid = grandchild_pid;
    r = QN_OK;
out:
    if (fds[0] >= 0)
        (void)close(fds[0]);
    if (fds[1] >= 0)
        (void)close(fds[1]);
    if (r != QN_OK)
        errno = saved_errno != 0 ? saved_errno : EIO;
    return r;
}
