/*
 * spawn — the one way the project starts a process.  Two kinds:
 *
 *  1. qn_spawn_detached(): start a program fully detached from the caller
 *     and do not wait for it.  `qqnotify sendmail` starts `qqnotify flush`
 *     this way, and the PAM module (flush=spawn, docs/architecture.md section 4) does
 *     too, with the options it needs inside sshd, sudo and su.
 *  2. qn_spawn_run(): run a helper program to its end with pipes: data for
 *     its stdin, its stdout captured into the caller's bounded buffer (a
 *     secret's own locked pages when the output is a secret), its stderr
 *     passed through or captured bounded, a time limit after which it is
 *     killed and reaped, and its exit status.  The credential helper
 *     (cred.c) and systemd-creds (secrets/backend_creds.c) run this way.
 *
 * What both do, because the caller may be a host process such as sshd:
 *   - every signal is blocked around fork, so no handler of the host ever
 *     runs in a child; the child resets every disposition to SIG_DFL
 *     (SIG_IGN would survive exec: a host that ignores SIGPIPE must not
 *     pass that on) and starts the program with an empty signal mask.  The
 *     caller's handlers and mask are never changed;
 *   - between fork and exec only async-signal-safe calls are made
 *     (POSIX.1-2017 section 2.4.3, plus raw system calls), because a copy
 *     of a multi-threaded process may hold locks (malloc's among them) that
 *     no thread will ever release: everything the child needs is prepared
 *     before the fork;
 *   - the program gets fds 0, 1 and 2 as described below and no other
 *     (close_range, or a loop up to the descriptor limit on kernels older
 *     than 5.9); every fd made here is O_CLOEXEC on the caller's side;
 *   - an O_CLOEXEC pipe reports back from the child: the errno of whatever
 *     failed before exec (ENOENT, EACCES from execve; EMFILE...), or
 *     nothing when exec succeeded, so a program that cannot be started is
 *     an error with its cause, never an exit status to guess from.
 *
 * libc only (no OpenSSL), so the PAM module can link it.  Nothing here
 * logs.  Thread-safe in the sense that fork() is: other threads of the
 * caller keep running; only the calling thread is copied.
 */
#ifndef QN_SPAWN_H
#define QN_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "status.h"

/* PATH searched by qn_spawn_find_program() when the environment has none. */
#define QN_SPAWN_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- detached programs ----------------------------------------------------------------- */

/* Bits of qn_spawn_options.flags. */
enum {
    /* The program leads a new session and process group of its own (so
     * `kill -- -PID` reaches it and whatever it starts).  Without it the
     * session belongs to the intermediate child and the program, not being
     * a session leader, can never acquire a controlling terminal. */
    QN_SPAWN_LEAD_SESSION = 1u << 0,
    /* Start the program with the umask in qn_spawn_options.umask. */
    QN_SPAWN_SET_UMASK = 1u << 1,
    /* When the caller's effective user id is 0 but its real ids are a
     * user's (a set-user-ID root program: sudo, su), the program gets real,
     * effective and saved user and group ids 0 and no supplementary
     * groups, so the invoking user cannot signal it.  Raw system calls:
     * glibc's wrappers are not async-signal-safe (they change the ids of
     * every thread). */
    QN_SPAWN_ROOT_IDS = 1u << 2,
};

struct qn_spawn_options {
    unsigned flags; /* QN_SPAWN_* bits */
    mode_t umask;   /* with QN_SPAWN_SET_UMASK */
};

/*
 * Run PATH (absolute) with ARGV (NULL-terminated, ARGV[0] set) and ENVP
 * (NULL: the caller's environment) detached, as adjusted by OPTS (NULL:
 * none of the options):
 *   - the classic double fork: the caller forks a child, which calls
 *     setsid() (or, with QN_SPAWN_LEAD_SESSION, leaves that to the
 *     program's process) and forks the program's process, then exits at
 *     once; the caller reaps that child before returning, so no zombie is
 *     left and the program is not the caller's child (init or a subreaper
 *     adopts it); a SIGCHLD handler of the host sees at most that
 *     short-lived child, and a host that reaps it first (waitpid(-1), or
 *     SIGCHLD ignored) is fine;
 *   - the program has /dev/null as fds 0, 1 and 2 and "/" as its working
 *     directory (so it keeps no mount busy: give absolute paths);
 *   - the second fork is _Fork() where the C library has it, so no atfork
 *     handler runs in a copy of a multi-threaded process.
 * It returns once the program has been executed (or has failed to be),
 * which takes a millisecond, never as long as the program runs.
 *
 * QN_OK: the program was executed; its pid goes to *RET_PID when RET_PID
 * is not NULL.  QN_EINVAL: PATH or ARGV missing (errno EINVAL).  QN_EIO: a
 * step failed and errno holds its cause (ENOENT, EACCES from execve;
 * EAGAIN from fork; EMFILE from pipe; EPERM when the ids could not be
 * changed...).  Nothing is left running or unreaped on failure.
 */
enum qn_status qn_spawn_detached(const char *path, char *const argv[], char *const envp[],
                                 const struct qn_spawn_options *opts, pid_t *ret_pid);

/* ---- helper programs run to their end ---------------------------------------------------- */

/* What to run and with which data.  Pointers are borrowed for the call. */
struct qn_spawn_program {
    const char *path;  /* the executable: contains a '/' (qn_spawn_find_program) */
    char *const *argv; /* NULL-terminated, argv[0] set */
    char *const *envp; /* NULL: the caller's environment */
    const char *input; /* written to stdin, which then ends; NULL: stdin is /dev/null */
    size_t input_len;
    char *output;      /* stdout is read into these OUTPUT_CAP bytes; NULL: /dev/null */
    size_t output_cap; /* more output than this is an error (QN_ETOOBIG) */
    char *errors;      /* stderr into these ERRORS_SIZE bytes, NUL-terminated, the rest read
                          and dropped; NULL: stderr is the caller's own */
    size_t errors_size;
    int timeout_ms; /* from the start until the program has exited; > 0 */
};

/* Which step of qn_spawn_run() failed (with QN_EIO). */
enum qn_spawn_step {
    QN_SPAWN_STEP_NONE = 0,
    QN_SPAWN_STEP_SETUP, /* the pipes and /dev/null, before any child exists */
    QN_SPAWN_STEP_FORK,  /* fork() */
    QN_SPAWN_STEP_EXEC,  /* the child's set-up or execve(): the program could not start */
    QN_SPAWN_STEP_TALK,  /* poll, read or write on the pipes */
    QN_SPAWN_STEP_WAIT,  /* waitpid(): ECHILD when somebody else reaped the child */
};

struct qn_spawn_result {
    size_t output_len;  /* bytes of stdout in program->output */
    size_t errors_len;  /* bytes of stderr kept in program->errors */
    int wait_status;    /* how it ended (WIFEXITED...), on QN_OK */
    bool output_closed; /* with QN_ETIMEOUT: it had closed its stdout (or it was /dev/null),
                           so it was late to exit rather than to answer */
    enum qn_spawn_step failed_step; /* with QN_EIO */
    int sys_errno;                  /* with QN_EIO: the cause */
};

/*
 * Run PROGRAM: write its input while reading its stdout and stderr, until
 * both end, then wait for it to exit, all within program->timeout_ms of
 * the start.  The child runs in the caller's session and working
 * directory; its stdin is a socket (so writing to a program that exits
 * without reading fails with EPIPE, never SIGPIPE, whatever the caller does
 * with that signal), its stdout and stderr pipes, read straight into the
 * caller's buffers (nothing of the output passes through another buffer
 * that is not wiped).
 *
 * QN_OK: the program ran and was reaped; look at ret->wait_status (its own
 * failure is the caller's to judge).  QN_ETIMEOUT: it was still running at
 * the deadline and was killed (SIGKILL) and reaped.  QN_ETOOBIG: it wrote
 * more than output_cap bytes and was killed and reaped.  QN_EIO: a step
 * failed (ret->failed_step, ret->sys_errno; QN_SPAWN_STEP_EXEC: the program
 * could not be executed).  QN_EINVAL: a required field is missing.  On every
 * result but QN_OK the output bytes read are wiped and output_len is 0.
 * Nothing is left running, unreaped or open.
 *
 * The caller must not reap children behind our back (SIGCHLD set to
 * SIG_IGN, or waitpid(-1) in another thread): the exit status would be
 * lost (QN_EIO at QN_SPAWN_STEP_WAIT, ECHILD), and a program whose success
 * is unknown is not to be trusted.
 */
enum qn_status qn_spawn_run(const struct qn_spawn_program *program, struct qn_spawn_result *ret);

/*
 * The executable for NAME into OUT (SIZE bytes): NAME itself when it
 * contains a '/', else the first regular file in $PATH (QN_SPAWN_DEFAULT_PATH
 * when unset or empty) that the caller may execute.  Relative entries of
 * PATH ("" or ".") are skipped: they would run whatever lies in the current
 * directory.  QN_OK; QN_ENOTFOUND; QN_ETOOBIG when NAME does not fit.
 */
enum qn_status qn_spawn_find_program(const char *name, char *out, size_t size);

#endif
