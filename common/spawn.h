/*
 * spawn — start a program fully detached from the caller and do not wait
 * for it: `qqnotify sendmail` starts `qqnotify flush` this way, and the PAM
 * module (flush=spawn, DESIGN.md section 4) can too.
 *
 * The classic double fork, with the details that matter inside a host
 * process such as sshd:
 *   - the caller forks a child, which calls setsid() and forks the
 *     grandchild, then exits at once; the caller reaps that child before
 *     returning, so no zombie is left and the grandchild is not the
 *     caller's child (init or a subreaper adopts it); not being a session
 *     leader, it can never get a controlling terminal;
 *   - every signal is blocked around the first fork, so no handler of the
 *     host ever runs in the children; the grandchild resets every
 *     disposition to SIG_DFL (SIG_IGN would survive exec) and starts the
 *     program with an empty signal mask;
 *   - the grandchild has /dev/null as fds 0, 1 and 2 and no other fd open
 *     (close_range, or a loop over the descriptor limit on older kernels),
 *     and "/" as its working directory (so it keeps no mount busy: give
 *     absolute paths);
 *   - between fork and exec only async-signal-safe calls are made (the
 *     second fork is _Fork() where the C library has it, so no atfork
 *     handler runs in a copy of a multi-threaded process);
 *   - an O_CLOEXEC pipe reports back: the grandchild's pid, or the errno
 *     of whatever failed before exec (setsid, fork, /dev/null, execve).
 *     The call returns once the program has been executed (or has failed
 *     to be), which takes a millisecond, never as long as the program runs.
 *
 * libc only (no OpenSSL), so the PAM module can link it.  Nothing here
 * logs.  Thread-safe in the sense that fork() is: other threads of the
 * caller keep running; only the calling thread is copied.
 */
#ifndef QN_SPAWN_H
#define QN_SPAWN_H

#include <sys/types.h>

#include "status.h"

/*
 * Run PATH (absolute) with ARGV (NULL-terminated, ARGV[0] set) and ENVP
 * (NULL: the caller's environment) detached as above.  QN_OK: the program
 * was executed; its pid goes to *RET_PID when RET_PID is not NULL.
 * QN_EINVAL: PATH or ARGV missing (errno EINVAL).  QN_EIO: a step failed
 * and errno holds its cause (ENOENT, EACCES from execve; EAGAIN from fork;
 * EMFILE from pipe...).  Nothing is left running or unreaped on failure.
 */
enum qn_status qn_spawn_detached(const char *path, char *const argv[], char *const envp[],
                                 pid_t *ret_pid);

#endif
