/*
 * Unit tests for common/spawn.c.
 *
 * Detached: the spawned program is really detached (not our child, own
 * session without being its leader unless asked, no zombie left), has
 * /dev/null as stdio and no other fd, "/" as cwd, a clean signal mask and
 * default dispositions, the options (session, umask, ids) take effect, and
 * failures come back with their errno.  The program's state is read from
 * /proc/PID, not from what it says itself.
 *
 * Run to the end: input arrives byte for byte, output is bounded, stderr
 * is passed through or captured bounded, the exit status comes back, a
 * late program is killed and reaped, a program that cannot start is an
 * error with its errno, nothing leaks into the child or stays open.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spawn.h"

#define SLEEP "/bin/sleep"

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Read /proc/PID/NAME into BUF (NUL-terminated); false when it is gone. */
static bool proc_read(pid_t pid, const char *name, char *buf, size_t n)
{
    char path[64];
    ssize_t got;
    int fd;

    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    got = read(fd, buf, n - 1);
    close(fd);
    if (got < 0)
        return false;
    buf[got] = '\0';
    return true;
}

/* The hex value of "NAME:\t..." in /proc/PID/status. */
static unsigned long long status_hex(pid_t pid, const char *name)
{
    char buf[4096], *p;

    assert_true(proc_read(pid, "status", buf, sizeof(buf)));
    p = strstr(buf, name);
    assert_non_null(p);
    return strtoull(p + strlen(name) + 1, NULL, 16);
}

static long status_dec(pid_t pid, const char *name)
{
    char buf[4096], *p;

    assert_true(proc_read(pid, "status", buf, sizeof(buf)));
    p = strstr(buf, name);
    assert_non_null(p);
    return strtol(p + strlen(name) + 1, NULL, 10);
}

/* Session id: field 6 of /proc/PID/stat, counted after the ")" ending the name. */
static long session_of(pid_t pid)
{
    char buf[1024], *p;
    long pgrp, sid;
    char state;
    int ppid;

    assert_true(proc_read(pid, "stat", buf, sizeof(buf)));
    p = strrchr(buf, ')');
    assert_non_null(p);
    assert_int_equal(sscanf(p + 2, "%c %d %ld %ld", &state, &ppid, &pgrp, &sid), 4);
    return sid;
}

/* Wait until PID is asleep in its program (exec done, start-up over). */
static void wait_sleeping(pid_t pid)
{
    char buf[1024], *p;

    for (int i = 0; i < 200; i++) {
        assert_true(proc_read(pid, "stat", buf, sizeof(buf)));
        p = strrchr(buf, ')');
        if (p != NULL && p[2] == 'S')
            return;
        pause_ms(10);
    }
    fail_msg("process %d never went to sleep", (int)pid);
}

static pid_t spawn_sleep(const char *seconds)
{
    char prog[] = SLEEP, *argv[] = {prog, (char *)seconds, NULL};
    pid_t pid = 0;

    assert_int_equal(qn_spawn_detached(SLEEP, argv, NULL, NULL, &pid), QN_OK);
    assert_true(pid > 0);
    return pid;
}

static void assert_no_child_left(void)
{
    int status;

    errno = 0;
    assert_int_equal(waitpid(-1, &status, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

/* Exactly fds 0, 1, 2, each /dev/null. */
static void assert_only_dev_null(pid_t pid)
{
    char dir[64], path[64 + 256 + 8], target[256];
    struct dirent *d;
    size_t count = 0;
    ssize_t n;
    DIR *dp;

    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    dp = opendir(dir);
    assert_non_null(dp);
    while ((d = readdir(dp)) != NULL) {
        if (d->d_name[0] == '.')
            continue;
        count++;
        assert_true(strcmp(d->d_name, "0") == 0 || strcmp(d->d_name, "1") == 0 ||
                    strcmp(d->d_name, "2") == 0);
        snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
        n = readlink(path, target, sizeof(target) - 1);
        assert_true(n > 0);
        target[n] = '\0';
        assert_string_equal(target, "/dev/null");
    }
    closedir(dp);
    assert_int_equal(count, 3);
}

static void test_program_is_detached_with_clean_process_state(void **state)
{
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_usr2, old_pipe;
    sigset_t block, old_mask;
    int leaked, leaked_pipe[2];
    char cwd[64];
    ssize_t n;
    pid_t pid;

    (void)state;
    /* State a host process may have that must not reach the program. */
    leaked = open("/dev/null", O_RDONLY); /* no O_CLOEXEC on purpose */
    assert_true(leaked > 2);
    assert_int_equal(pipe(leaked_pipe), 0);
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    assert_int_equal(sigprocmask(SIG_BLOCK, &block, &old_mask), 0);
    assert_int_equal(sigaction(SIGUSR2, &ign, &old_usr2), 0);
    assert_int_equal(sigaction(SIGPIPE, &ign, &old_pipe), 0);

    pid = spawn_sleep("30");
    wait_sleeping(pid);

    assert_no_child_left();
    assert_int_not_equal(status_dec(pid, "PPid:"), (long)getpid());
    assert_int_not_equal(session_of(pid), (long)getsid(0)); /* a session of its own... */
    assert_int_not_equal(session_of(pid), (long)pid);       /* ...that it does not lead */
    assert_only_dev_null(pid);
    assert_int_equal(status_hex(pid, "SigBlk:"), 0);
    assert_int_equal(
        status_hex(pid, "SigIgn:") & ((1ULL << (SIGUSR2 - 1)) | (1ULL << (SIGPIPE - 1))), 0);
    snprintf(cwd, sizeof(cwd), "/proc/%d/cwd", (int)pid);
    {
        char target[64];

        n = readlink(cwd, target, sizeof(target) - 1);
        assert_true(n > 0);
        target[n] = '\0';
        assert_string_equal(target, "/");
    }

    assert_int_equal(kill(pid, SIGKILL), 0); /* init reaps it: it is not ours */
    close(leaked);
    close(leaked_pipe[0]);
    close(leaked_pipe[1]);
    assert_int_equal(sigprocmask(SIG_SETMASK, &old_mask, NULL), 0);
    assert_int_equal(sigaction(SIGUSR2, &old_usr2, NULL), 0);
    assert_int_equal(sigaction(SIGPIPE, &old_pipe, NULL), 0);
}

static void test_returns_at_once_while_the_program_runs(void **state)
{
    double t0 = now();
    pid_t pid;

    (void)state;
    pid = spawn_sleep("30");
    assert_true(now() - t0 < 2.0);
    assert_int_equal(kill(pid, 0), 0); /* still running */
    assert_no_child_left();
    assert_int_equal(kill(pid, SIGKILL), 0);
}

static void test_works_when_the_caller_has_no_stdin(void **state)
{
    int saved = dup(STDIN_FILENO);
    pid_t pid;

    (void)state;
    /* With fd 0 free, the report pipe itself gets fd 0: it must survive the dup2s. */
    assert_true(saved > 2);
    assert_int_equal(close(STDIN_FILENO), 0);
    pid = spawn_sleep("30");
    assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
    close(saved);
    wait_sleeping(pid);
    assert_only_dev_null(pid);
    assert_no_child_left();
    assert_int_equal(kill(pid, SIGKILL), 0);
}

static void test_environment_is_the_one_given(void **state)
{
    char dir[] = "/tmp/qn-spawn-XXXXXX", out[64], script[512], buf[64] = "";
    char sh[] = "/bin/sh", opt[] = "-c", name[] = "sh";
    char env0[] = "QN_SPAWN_TEST=given", *envp[] = {env0, NULL};
    char *argv[] = {sh, opt, script, name, NULL};
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(out, sizeof(out), "%s/out", dir);
    snprintf(script, sizeof(script),
             "printf '%%s %%s' \"$QN_SPAWN_TEST\" \"${HOME:-nohome}\" > '%s.tmp' && "
             "mv '%s.tmp' '%s'",
             out, out, out);
    const char *home = getenv("HOME");
    char *saved_home = home != NULL ? strdup(home) : NULL;

    assert_int_equal(setenv("HOME", "/should/not/pass", 1), 0);
    assert_int_equal(qn_spawn_detached(sh, argv, envp, NULL, NULL), QN_OK);
    for (int i = 0; i < 500 && access(out, F_OK) != 0; i++)
        pause_ms(10);
    f = fopen(out, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_string_equal(buf, "given nohome");
    if (saved_home != NULL)
        assert_int_equal(setenv("HOME", saved_home, 1), 0);
    else
        assert_int_equal(unsetenv("HOME"), 0);
    free(saved_home);
    unlink(out);
    rmdir(dir);
    assert_no_child_left();
}

static void test_exec_failure_comes_back_with_its_errno(void **state)
{
    char dir[] = "/tmp/qn-spawn-XXXXXX", file[300];
    char prog[] = "prog", *argv[] = {prog, NULL};
    pid_t pid = 12345;
    int fd;

    (void)state;
    errno = 0;
    assert_int_equal(qn_spawn_detached("/nonexistent/qqnotify", argv, NULL, NULL, &pid), QN_EIO);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(pid, 12345); /* untouched on failure */
    assert_no_child_left();

    assert_non_null(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/not-executable", dir);
    fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
    close(fd);
    errno = 0;
    assert_int_equal(qn_spawn_detached(file, argv, NULL, NULL, NULL), QN_EIO);
    assert_int_equal(errno, EACCES); /* for root too: execve wants some x bit */
    assert_no_child_left();
    unlink(file);
    rmdir(dir);
}

static void test_bad_arguments_are_einval(void **state)
{
    char prog[] = SLEEP, *argv[] = {prog, NULL}, *empty[] = {NULL};

    (void)state;
    errno = 0;
    assert_int_equal(qn_spawn_detached(NULL, argv, NULL, NULL, NULL), QN_EINVAL);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(qn_spawn_detached(SLEEP, NULL, NULL, NULL, NULL), QN_EINVAL);
    assert_int_equal(qn_spawn_detached(SLEEP, empty, NULL, NULL, NULL), QN_EINVAL);
    assert_no_child_left();
}

static void test_lead_session_option_makes_the_program_lead_its_own_session(void **state)
{
    const struct qn_spawn_options opts = {.flags = QN_SPAWN_LEAD_SESSION};
    char prog[] = SLEEP, arg[] = "30", *argv[] = {prog, arg, NULL};
    pid_t pid = 0;

    (void)state;
    assert_int_equal(qn_spawn_detached(SLEEP, argv, NULL, &opts, &pid), QN_OK);
    wait_sleeping(pid);
    assert_int_equal(session_of(pid), (long)pid);
    assert_int_not_equal(status_dec(pid, "PPid:"), (long)getpid());
    assert_only_dev_null(pid);
    assert_no_child_left();
    assert_int_equal(kill(pid, SIGKILL), 0);
}

/* Run SCRIPT with sh detached (OPTS); what it wrote to "$1" into OUT once a whole
 * line is there (up to 5 s). */
static void detached_script(const struct qn_spawn_options *opts, const char *script, char *out,
                            size_t outsz)
{
    char dir[] = "/tmp/qn-spawn-XXXXXX", file[64];
    char sh[] = "/bin/sh", opt[] = "-c", name[] = "sh", *argv[] = {sh, opt, NULL, name, file, NULL};
    FILE *f;
    int i;

    assert_non_null(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/out", dir);
    argv[2] = (char *)script;
    out[0] = '\0';
    assert_int_equal(qn_spawn_detached(sh, argv, NULL, opts, NULL), QN_OK);
    for (i = 0; i < 500; i++) {
        f = fopen(file, "r");
        if (f != NULL) {
            size_t n = fread(out, 1, outsz - 1, f);

            fclose(f);
            out[n] = '\0';
            if (n > 0 && out[n - 1] == '\n')
                break;
        }
        pause_ms(10);
    }
    unlink(file);
    rmdir(dir);
    assert_no_child_left();
}

static void test_umask_option_sets_the_program_umask(void **state)
{
    const struct qn_spawn_options opts = {.flags = QN_SPAWN_SET_UMASK, .umask = 027};
    char out[64] = "";
    mode_t old = umask(022);

    (void)state;
    detached_script(&opts, "umask > \"$1\"", out, sizeof(out));
    assert_string_equal(out, "0027\n");
    detached_script(NULL, "umask > \"$1\"", out, sizeof(out));
    assert_string_equal(out, "0022\n"); /* without the option: the caller's */
    umask(old);
}

static void test_root_ids_option_drops_the_real_user_of_a_set_user_id_caller(void **state)
{
    const struct qn_spawn_options opts = {.flags = QN_SPAWN_ROOT_IDS};
    const char *script = "printf '%s %s %s %s %s\\n' \"$(id -ru)\" \"$(id -u)\" \"$(id -rg)\" "
                         "\"$(id -g)\" \"$(id -G)\" > \"$1\"";
    gid_t nobody = 65534, old_groups[64];
    char out[128] = "";
    int n_old;

    (void)state;
    if (geteuid() != 0) {
        /* tests/run.sh counts this line and the skip as "not run: needs root" */
        print_message("needs root: a set-user-ID caller (setresuid)\n");
        skip();
    }
    /* like sudo: real uid the user's, effective root, the user's groups */
    n_old = getgroups(64, old_groups);
    assert_true(n_old >= 0);
    assert_int_equal(setgroups(1, &nobody), 0);
    assert_int_equal(setresuid(65534, 0, 0), 0);
    detached_script(&opts, script, out, sizeof(out));
    assert_int_equal(setresuid(0, 0, 0), 0);
    assert_int_equal(setgroups((size_t)n_old, old_groups), 0);
    assert_string_equal(out, "0 0 0 0 0\n");
}

/* ---- qn_spawn_run ---- */

static const char *const SH_ARGV0 = "sh";

/* Run the shell SCRIPT (argv "sh -c SCRIPT") with the given I/O. */
static enum qn_status run_sh(const char *script, const char *input, size_t input_len, char *output,
                             size_t output_cap, char *errors, size_t errors_size, int timeout_ms,
                             struct qn_spawn_result *res)
{
    char *argv[] = {(char *)SH_ARGV0, (char *)"-c", (char *)script, NULL};
    struct qn_spawn_program p = {
        .path = "/bin/sh",
        .argv = argv,
        .input = input,
        .input_len = input_len,
        .output = output,
        .output_cap = output_cap,
        .errors = errors,
        .errors_size = errors_size,
        .timeout_ms = timeout_ms,
    };

    return qn_spawn_run(&p, res);
}

static void test_run_passes_input_and_returns_output_byte_for_byte(void **state)
{
    static const char input[] = "protocol=smtp\n\0binary\377\r\n";
    char out[64];
    struct qn_spawn_result res;

    (void)state;
    memset(out, 'x', sizeof(out));
    assert_int_equal(
        run_sh("exec cat", input, sizeof(input) - 1, out, sizeof(out), NULL, 0, 10000, &res),
        QN_OK);
    assert_int_equal(res.output_len, sizeof(input) - 1);
    assert_memory_equal(out, input, sizeof(input) - 1);
    assert_int_equal(out[sizeof(input) - 1], 'x'); /* nothing written past the output */
    assert_true(WIFEXITED(res.wait_status) && WEXITSTATUS(res.wait_status) == 0);
    assert_int_equal(res.failed_step, QN_SPAWN_STEP_NONE);
    assert_no_child_left();
}

static void test_run_without_input_gives_an_empty_stdin(void **state)
{
    char out[16];
    struct qn_spawn_result res;

    (void)state;
    assert_int_equal(run_sh("wc -c", NULL, 0, out, sizeof(out), NULL, 0, 10000, &res), QN_OK);
    assert_int_equal(res.output_len, 2);
    assert_memory_equal(out, "0\n", 2);
    assert_int_equal(run_sh("exec cat", "", 0, out, sizeof(out), NULL, 0, 10000, &res), QN_OK);
    assert_int_equal(res.output_len, 0);
}

static void test_run_returns_the_exit_status(void **state)
{
    struct qn_spawn_result res;

    (void)state;
    assert_int_equal(run_sh("exit 3", NULL, 0, NULL, 0, NULL, 0, 10000, &res), QN_OK);
    assert_true(WIFEXITED(res.wait_status));
    assert_int_equal(WEXITSTATUS(res.wait_status), 3);
    assert_int_equal(run_sh("kill -TERM $$", NULL, 0, NULL, 0, NULL, 0, 10000, &res), QN_OK);
    assert_true(WIFSIGNALED(res.wait_status));
    assert_int_equal(WTERMSIG(res.wait_status), SIGTERM);
    assert_no_child_left();
}

static void test_run_kills_and_reaps_a_program_at_its_deadline(void **state)
{
    char out[16];
    struct qn_spawn_result res;

    (void)state;
    /* still answering at the deadline */
    assert_int_equal(run_sh("exec sleep 20", "x", 1, out, sizeof(out), NULL, 0, 200, &res),
                     QN_ETIMEOUT);
    assert_false(res.output_closed);
    assert_no_child_left();
    /* answered, closed its output, but does not exit */
    assert_int_equal(run_sh("echo partial; exec >&-; exec sleep 20", NULL, 0, out, sizeof(out),
                            NULL, 0, 300, &res),
                     QN_ETIMEOUT);
    assert_true(res.output_closed);
    assert_int_equal(res.output_len, 0);             /* a failed run leaves no output */
    assert_memory_equal(out, "\0\0\0\0\0\0\0\0", 8); /* ...and wipes what it had read */
    assert_no_child_left();
}

static void test_run_output_is_bounded(void **state)
{
    char out[4096];
    struct qn_spawn_result res;
    size_t i;

    (void)state;
    assert_int_equal(run_sh("head -c 4096 /dev/zero | tr '\\0' p", NULL, 0, out, sizeof(out), NULL,
                            0, 10000, &res),
                     QN_OK);
    assert_int_equal(res.output_len, sizeof(out));
    assert_int_equal(run_sh("head -c 4097 /dev/zero | tr '\\0' p", NULL, 0, out, sizeof(out), NULL,
                            0, 10000, &res),
                     QN_ETOOBIG);
    assert_int_equal(res.output_len, 0);
    for (i = 0; i < sizeof(out); i++)
        assert_int_equal(out[i], 0); /* wiped */
    /* one that never stops is killed, not read forever */
    assert_int_equal(run_sh("exec yes", NULL, 0, out, sizeof(out), NULL, 0, 10000, &res),
                     QN_ETOOBIG);
    assert_no_child_left();
}

static void test_run_captures_stderr_bounded_and_keeps_reading_it(void **state)
{
    char out[16], errors[8];
    struct qn_spawn_result res;

    (void)state;
    assert_int_equal(run_sh("echo out; echo 'first error' >&2; head -c 100000 /dev/zero >&2; "
                            "exit 1",
                            NULL, 0, out, sizeof(out), errors, sizeof(errors), 10000, &res),
                     QN_OK);
    assert_int_equal(res.output_len, 4);
    assert_memory_equal(out, "out\n", 4);
    assert_int_equal(res.errors_len, 7);
    assert_string_equal(errors, "first e");
    assert_int_equal(WEXITSTATUS(res.wait_status), 1);
}

static void test_run_passes_stderr_through_when_not_captured(void **state)
{
    char out[PATH_MAX], ours[PATH_MAX];
    struct qn_spawn_result res;
    ssize_t n;

    (void)state;
    n = readlink("/proc/self/fd/2", ours, sizeof(ours) - 1);
    assert_true(n > 0);
    ours[n] = '\0';
    assert_int_equal(
        run_sh("readlink /proc/self/fd/2", NULL, 0, out, sizeof(out), NULL, 0, 10000, &res), QN_OK);
    assert_true(res.output_len > 0);
    out[res.output_len - 1] = '\0'; /* the newline */
    assert_string_equal(out, ours);
}

/* Descriptors open in this process, by asking each number up to the soft limit. */
static int count_open_fds(void)
{
    long max = sysconf(_SC_OPEN_MAX);
    int n = 0;

    for (long fd = 0; fd < max && fd < 65536; fd++)
        n += fcntl((int)fd, F_GETFD) != -1;
    return n;
}

static void test_run_leaks_no_descriptor_either_way(void **state)
{
    char out[256];
    struct qn_spawn_result res;
    int before, leaky;

    (void)state;
    leaky = open("/dev/null", O_RDONLY); /* no O_CLOEXEC, like a careless host's */
    assert_true(leaky > 2);
    assert_int_equal(dup2(leaky, 50), 50);
    before = count_open_fds();
    /* the child has 0, 1, 2 only (ls adds its own directory's fd) */
    assert_int_equal(
        run_sh("exec ls /proc/self/fd", "in", 2, out, sizeof(out) - 1, NULL, 0, 10000, &res),
        QN_OK);
    out[res.output_len] = '\0';
    assert_string_equal(out, "0\n1\n2\n3\n");
    assert_int_equal(run_sh("exec sleep 20", NULL, 0, out, sizeof(out), NULL, 0, 100, &res),
                     QN_ETIMEOUT);
    assert_int_equal(run_sh("exec yes", NULL, 0, out, sizeof(out), out, 8, 10000, &res),
                     QN_ETOOBIG);
    assert_int_equal(count_open_fds(), before);
    close(50);
    close(leaky);
    assert_no_child_left();
}

static void test_run_works_when_the_caller_has_no_stdin_or_stdout(void **state)
{
    int saved_in = dup(STDIN_FILENO), saved_out = dup(STDOUT_FILENO);
    char out[16];
    struct qn_spawn_result res;
    enum qn_status r;

    (void)state;
    /* New pipes then get fds 0 and 1: one must not clobber the other in the child. */
    assert_true(saved_in > 2 && saved_out > 2);
    assert_int_equal(close(STDIN_FILENO), 0);
    assert_int_equal(close(STDOUT_FILENO), 0);
    r = run_sh("exec cat", "hello", 5, out, sizeof(out), NULL, 0, 10000, &res);
    assert_int_equal(dup2(saved_in, STDIN_FILENO), STDIN_FILENO);
    assert_int_equal(dup2(saved_out, STDOUT_FILENO), STDOUT_FILENO);
    close(saved_in);
    close(saved_out);
    assert_int_equal(r, QN_OK);
    assert_int_equal(res.output_len, 5);
    assert_memory_equal(out, "hello", 5);
}

static void test_run_program_that_ignores_its_input_raises_no_sigpipe(void **state)
{
    static char input[1 << 20]; /* more than a socket buffer holds */
    struct sigaction dfl = {.sa_handler = SIG_DFL}, old;
    struct qn_spawn_result res;

    (void)state;
    /* with SIGPIPE at its default, a write to a gone reader would kill this test */
    assert_int_equal(sigaction(SIGPIPE, &dfl, &old), 0);
    memset(input, 'i', sizeof(input));
    assert_int_equal(run_sh("exit 0", input, sizeof(input), NULL, 0, NULL, 0, 10000, &res), QN_OK);
    assert_int_equal(WEXITSTATUS(res.wait_status), 0);
    assert_int_equal(sigaction(SIGPIPE, &old, NULL), 0);
}

static void test_run_child_has_default_signals_and_an_empty_mask(void **state)
{
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe, old_usr2;
    char grep[] = "/bin/grep", opt[] = "-E", pattern[] = "^Sig(Blk|Ign)",
         file[] = "/proc/self/status", *argv[] = {grep, opt, pattern, file, NULL};
    struct qn_spawn_program p = {.path = "/bin/grep", .argv = argv, .timeout_ms = 10000};
    struct qn_spawn_result res;
    unsigned long long blk, ign_set;
    char out[256], *ignored;
    sigset_t usr1, old_mask;

    (void)state;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    assert_int_equal(sigprocmask(SIG_BLOCK, &usr1, &old_mask), 0);
    assert_int_equal(sigaction(SIGPIPE, &ign, &old_pipe), 0);
    assert_int_equal(sigaction(SIGUSR2, &ign, &old_usr2), 0);
    p.output = out;
    p.output_cap = sizeof(out) - 1;
    assert_int_equal(qn_spawn_run(&p, &res), QN_OK);
    out[res.output_len] = '\0';
    assert_int_equal(sigprocmask(SIG_SETMASK, &old_mask, NULL), 0);
    assert_int_equal(sigaction(SIGPIPE, &old_pipe, NULL), 0);
    assert_int_equal(sigaction(SIGUSR2, &old_usr2, NULL), 0);

    assert_int_equal(sscanf(out, "SigBlk:\t%llx", &blk), 1);
    ignored = strstr(out, "SigIgn:\t");
    assert_non_null(ignored);
    assert_int_equal(sscanf(ignored, "SigIgn:\t%llx", &ign_set), 1);
    assert_int_equal(blk, 0);
    /* 32 and 33 are glibc's own (sigaction refuses them): whatever started the test decides */
    assert_int_equal(ign_set & ~((1ULL << 31) | (1ULL << 32)), 0);
}

static void test_run_program_that_cannot_start_comes_back_with_its_errno(void **state)
{
    char dir[] = "/tmp/qn-spawn-XXXXXX", file[300];
    char prog[] = "prog", *argv[] = {prog, NULL};
    struct qn_spawn_program p = {.argv = argv, .timeout_ms = 10000};
    struct qn_spawn_result res;
    int fd;

    (void)state;
    p.path = "/nonexistent/helper";
    errno = 0;
    assert_int_equal(qn_spawn_run(&p, &res), QN_EIO);
    assert_int_equal(res.failed_step, QN_SPAWN_STEP_EXEC);
    assert_int_equal(res.sys_errno, ENOENT);
    assert_int_equal(errno, ENOENT);
    assert_no_child_left();

    assert_non_null(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/not-executable", dir);
    fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    close(fd);
    p.path = file;
    assert_int_equal(qn_spawn_run(&p, &res), QN_EIO);
    assert_int_equal(res.failed_step, QN_SPAWN_STEP_EXEC);
    assert_int_equal(res.sys_errno, EACCES);
    assert_no_child_left();
    unlink(file);
    rmdir(dir);
}

static void test_run_says_so_when_the_caller_reaps_behind_its_back(void **state)
{
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    struct qn_spawn_result res;

    (void)state;
    /* SIGCHLD ignored: the kernel reaps every child itself, the status is lost */
    assert_int_equal(sigaction(SIGCHLD, &ign, &old), 0);
    assert_int_equal(run_sh("exit 0", NULL, 0, NULL, 0, NULL, 0, 10000, &res), QN_EIO);
    assert_int_equal(sigaction(SIGCHLD, &old, NULL), 0);
    assert_int_equal(res.failed_step, QN_SPAWN_STEP_WAIT);
    assert_int_equal(res.sys_errno, ECHILD);
}

static void test_run_bad_arguments_are_einval(void **state)
{
    char prog[] = "/bin/true", *argv[] = {prog, NULL}, *empty[] = {NULL};
    struct qn_spawn_program p = {.path = prog, .argv = argv, .timeout_ms = 1000};
    struct qn_spawn_result res;

    (void)state;
    assert_int_equal(qn_spawn_run(&p, &res), QN_OK);
    p.timeout_ms = 0;
    assert_int_equal(qn_spawn_run(&p, &res), QN_EINVAL);
    p.timeout_ms = 1000;
    p.argv = empty;
    assert_int_equal(qn_spawn_run(&p, &res), QN_EINVAL);
    p.argv = argv;
    p.path = NULL;
    assert_int_equal(qn_spawn_run(&p, &res), QN_EINVAL);
    assert_no_child_left();
}

/* ---- qn_spawn_find_program ---- */

static void test_find_program_searches_absolute_path_entries_only(void **state)
{
    char dir[] = "/tmp/qn-spawn-XXXXXX", file[300], path[600], out[PATH_MAX], cwd[PATH_MAX];
    const char *saved = getenv("PATH");
    char *saved_path = saved != NULL ? strdup(saved) : NULL;
    int fd;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/qn-helper", dir);
    fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
    assert_true(fd >= 0);
    close(fd);
    snprintf(path, sizeof(path), "/nonexistent::.:%s:/bin", dir);
    assert_int_equal(setenv("PATH", path, 1), 0);
    assert_int_equal(qn_spawn_find_program("qn-helper", out, sizeof(out)), QN_OK);
    assert_string_equal(out, file);
    assert_int_equal(qn_spawn_find_program("./x/y", out, sizeof(out)), QN_OK);
    assert_string_equal(out, "./x/y"); /* a name with a '/' is used as it is */
    assert_int_equal(qn_spawn_find_program("qn-helper", out, 8), QN_ENOTFOUND);

    /* in the current directory, reachable only through "" and ".": not found */
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(setenv("PATH", ":.:/nonexistent", 1), 0);
    assert_int_equal(qn_spawn_find_program("qn-helper", out, sizeof(out)), QN_ENOTFOUND);
    assert_int_equal(chdir(cwd), 0);

    assert_int_equal(unsetenv("PATH"), 0); /* the default PATH then */
    assert_int_equal(qn_spawn_find_program("sh", out, sizeof(out)), QN_OK);
    assert_true(strcmp(out, "/usr/bin/sh") == 0 || strcmp(out, "/bin/sh") == 0);
    assert_int_equal(qn_spawn_find_program("", out, sizeof(out)), QN_ENOTFOUND);

    if (saved_path != NULL)
        assert_int_equal(setenv("PATH", saved_path, 1), 0);
    free(saved_path);
    unlink(file);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_program_is_detached_with_clean_process_state),
        cmocka_unit_test(test_returns_at_once_while_the_program_runs),
        cmocka_unit_test(test_works_when_the_caller_has_no_stdin),
        cmocka_unit_test(test_environment_is_the_one_given),
        cmocka_unit_test(test_exec_failure_comes_back_with_its_errno),
        cmocka_unit_test(test_bad_arguments_are_einval),
        cmocka_unit_test(test_lead_session_option_makes_the_program_lead_its_own_session),
        cmocka_unit_test(test_umask_option_sets_the_program_umask),
        cmocka_unit_test(test_root_ids_option_drops_the_real_user_of_a_set_user_id_caller),
        cmocka_unit_test(test_run_passes_input_and_returns_output_byte_for_byte),
        cmocka_unit_test(test_run_without_input_gives_an_empty_stdin),
        cmocka_unit_test(test_run_returns_the_exit_status),
        cmocka_unit_test(test_run_kills_and_reaps_a_program_at_its_deadline),
        cmocka_unit_test(test_run_output_is_bounded),
        cmocka_unit_test(test_run_captures_stderr_bounded_and_keeps_reading_it),
        cmocka_unit_test(test_run_passes_stderr_through_when_not_captured),
        cmocka_unit_test(test_run_leaks_no_descriptor_either_way),
        cmocka_unit_test(test_run_works_when_the_caller_has_no_stdin_or_stdout),
        cmocka_unit_test(test_run_program_that_ignores_its_input_raises_no_sigpipe),
        cmocka_unit_test(test_run_child_has_default_signals_and_an_empty_mask),
        cmocka_unit_test(test_run_program_that_cannot_start_comes_back_with_its_errno),
        cmocka_unit_test(test_run_says_so_when_the_caller_reaps_behind_its_back),
        cmocka_unit_test(test_run_bad_arguments_are_einval),
        cmocka_unit_test(test_find_program_searches_absolute_path_entries_only),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
