/*
 * Unit tests for common/spawn.c: the spawned program is really detached
 * (not our child, own session without being its leader, no zombie left),
 * has /dev/null as stdio and no other fd, "/" as cwd, a clean signal mask
 * and default dispositions, and failures come back with their errno.  The
 * program's state is read from /proc/PID, not from what it says itself.
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

    assert_int_equal(qn_spawn_detached(SLEEP, argv, NULL, &pid), QN_OK);
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
    assert_int_equal(qn_spawn_detached(sh, argv, envp, NULL), QN_OK);
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
    assert_int_equal(qn_spawn_detached("/nonexistent/qqnotify", argv, NULL, &pid), QN_EIO);
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
    assert_int_equal(qn_spawn_detached(file, argv, NULL, NULL), QN_EIO);
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
    assert_int_equal(qn_spawn_detached(NULL, argv, NULL, NULL), QN_EINVAL);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(qn_spawn_detached(SLEEP, NULL, NULL, NULL), QN_EINVAL);
    assert_int_equal(qn_spawn_detached(SLEEP, empty, NULL, NULL), QN_EINVAL);
    assert_no_child_left();
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
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
