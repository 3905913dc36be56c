/*
 * Unit tests for common/cred.c: credential files (ours and systemd's), the
 * git-credential helper run as a real process (small /bin/sh scripts
 * written to a mkdtemp() directory).  The reply parser's own tests are in
 * test_gitcred.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "cred.h"

#define SECRET "abcdefghijklmnop" /* the shape of a QQ Mail authorization code */

struct fixture {
    struct qn_config cfg;
    struct qn_secret secret;
    char source[QN_CRED_SOURCE_MAX];
    struct qn_error err;
    char dir[64];
    char path[128]; /* scratch for the test's own files */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/qn-test-cred-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    /* The environment of whoever runs the tests must not pick the source. */
    if (unsetenv("CREDENTIALS_DIRECTORY") != 0)
        return -1;
    qn_config_defaults(&f->cfg);
    snprintf(f->cfg.user, sizeof(f->cfg.user), "alice@qq.com");
    *state = f;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    int rc;

    qn_secret_wipe(&f->secret);
    rc = nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (unsetenv("CREDENTIALS_DIRECTORY") != 0)
        rc = -1;
    free(f);
    return rc;
}

static void write_file(const char *path, const char *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
}

/* Write the credential file NAME in the test directory and point cfg at it. */
static void credential_file(struct fixture *f, const char *name, const char *data, size_t len,
                            mode_t mode)
{
    snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, name);
    write_file(f->path, data, len, mode);
    snprintf(f->cfg.credential_file, sizeof(f->cfg.credential_file), "%s", f->path);
}

/* Write an executable shell script NAME with BODY; cfg->credential_helper runs it. */
static void helper(struct fixture *f, const char *name, const char *body)
{
    char script[2048];
    int n;

    n = snprintf(script, sizeof(script), "#!/bin/sh\n%s\n", body);
    assert_true(n > 0 && (size_t)n < sizeof(script));
    snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, name);
    write_file(f->path, script, (size_t)n, 0700);
    snprintf(f->cfg.credential_helper, sizeof(f->cfg.credential_helper), "%s", f->path);
}

static void read_back(const char *path, char *buf, size_t size)
{
    FILE *fp = fopen(path, "re");
    size_t n;

    assert_non_null(fp);
    n = fread(buf, 1, size - 1, fp);
    buf[n] = '\0';
    assert_int_equal(fclose(fp), 0);
}

static void assert_secret(struct fixture *f, const char *want)
{
    assert_non_null(f->secret.data);
    assert_int_equal(f->secret.len, strlen(want));
    assert_string_equal(f->secret.data, want);
}

/* A failure: QN_ECRED at the credential stage, DETAIL_PART in the detail, no secret. */
static void assert_cred_failure(struct fixture *f, enum qn_status r, const char *detail_part)
{
    assert_int_equal(r, QN_ECRED);
    assert_int_equal(f->err.status, QN_ECRED);
    assert_int_equal(f->err.stage, QN_STAGE_CREDENTIAL);
    if (strstr(f->err.detail, detail_part) == NULL)
        fail_msg("detail \"%s\" does not contain \"%s\"", f->err.detail, detail_part);
    assert_null(f->secret.data);
    assert_int_equal(f->secret.len, 0);
    assert_null(memmem(&f->err, sizeof(f->err), SECRET, strlen(SECRET)));
}

static long long now_ms(void)
{
    struct timespec ts;

    assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- credential files ------------------------------------------------------------------ */

static void test_credential_file_loses_one_trailing_newline(void **state)
{
    struct fixture *f = *state;
    char want[256];

    credential_file(f, "secret", SECRET "\n", strlen(SECRET) + 1, 0600);
    assert_int_equal(qn_cred_get(&f->cfg, &f->secret, f->source, &f->err), QN_OK);
    assert_secret(f, SECRET);
    snprintf(want, sizeof(want), "credential file %s", f->path);
    assert_string_equal(f->source, want);
    assert_int_equal(f->err.status, QN_OK);
}

static void test_credential_file_loses_a_trailing_crlf(void **state)
{
    struct fixture *f = *state;

    credential_file(f, "secret", SECRET "\r\n", strlen(SECRET) + 2, 0400);
    assert_int_equal(qn_cred_get(&f->cfg, &f->secret, f->source, &f->err), QN_OK);
    assert_secret(f, SECRET);
}

static void test_credential_file_without_newline_is_taken_whole(void **state)
{
    struct fixture *f = *state;

    credential_file(f, "secret", " " SECRET " ", strlen(SECRET) + 2, 0600);
    assert_int_equal(qn_cred_get(&f->cfg, &f->secret, f->source, &f->err), QN_OK);
    /* Blanks may belong to a secret: only the line end goes. */
    assert_secret(f, " " SECRET " ");
}

static void test_credential_file_with_a_second_line_is_refused(void **state)
{
    struct fixture *f = *state;

    credential_file(f, "secret", SECRET "\n\n", strlen(SECRET) + 2, 0600);
    assert_cred_failure(f, qn_cred_get(&f->cfg, &f->secret, f->source, &f->err),
                        "holds more than one line or a NUL byte");
}

static void test_credential_file_at_the_size_cap_is_accepted(void **state)
{
    struct fixture *f = *state;
    char data[QN_SECRET_MAX];

    memset(data, 'k', sizeof(data));
    credential_file(f, "secret", data, sizeof(data), 0600);
    assert_int_equal(qn_cred_get(&f->cfg, &f->secret, f->source, &f->err), QN_OK);
    assert_int_equal(f->secret.len, QN_SECRET_MAX);
    assert_int_equal(f->secret.data[QN_SECRET_MAX], '\0');
    assert_memory_equal(f->secret.data, data, sizeof(data));
}

static void test_credential_file_over_the_size_cap_is_refused(void **state)
{
    struct fixture *f = *state;
    char data[QN_SECRET_MAX + 1];

    memset(data, 'k', sizeof(data));
    credential_file(f, "secret", data, sizeof(data), 0600);
    assert_cred_failure(f, qn_cred_get(&f->cfg, &f->secret, f->source, &f->err),
                        "larger than 1024 bytes");
}

static void test_empty_credential_file_is_refused(void **state)
{
    struct fixture *f = *state;

    credential_file(f, "secret", "", 0, 0600);
    assert_cred_failure(f, qn_cred_get(&f->cfg, &f->secret, f->source, &f->err), "is empty");
    credential_file(f, "secret", "\n", 1, 0600);
    assert_cred_failure(f, qn_cred_get(&f->cfg, &f->secret, f->source, &f->err), "is empty");
}

static void test_symlinked_credential_file_is_refused(void **state)
{
    struct fixture *f = *state;
    char link[160];

    credential_file(f, "secret", SECRET "\n", strlen(SECRET) + 1, 0600);
    snprintf(link, sizeof(link), "%s/link", f->dir);
    assert_int_equal(symlink(f->path, link), 0);
    snprintf(f->cfg.credential_file, sizeof(f->cfg.credential_file), "%s", link);
    assert_cred_failure(f, qn_cred_get(&f->cfg, &f->secret, f->source, &f->err),
                        "is a symbolic link");
    assert_int_equal(f->err.sys_errno, ELOOP);
}

static void test_credential_file_readable_by_others_is_refused(void **state)
{
    struct fixture *f = *state;

    credential_file(f, "secret", SECRET "\n", strlen(SECRET) + 1, 0644);
    assert_cred_failure(f, qn_cred_get(&f->cfg, &f->secret, f->source, &f->err),
                        "is accessible by other users (mode 0644)");
}

static void test_credential_file_that_is_a_fifo_is_refused_without_blocking(void **state)
{
    struct fixture *f = *state;

    snprintf(f->path, sizeof(f->path), "%s/fifo", f->dir);
    assert_int_equal(mkfifo(f->path, 0600), 0);
    snprintf(f->cfg.credential_file, sizeof(f->cfg.credential_file), "%s", f->path);
    assert_cred_failure(f, qn_cred_get(&f->cfg, &f->secret, f->source, &f->err),
                        "is not a regular file");
}

static void test_missing_credential_file_without_helper_is_reported(void **state)
{
    struct fixture *f = *state;

    snprintf(f->cfg.credential_file, sizeof(f->cfg.credential_file), "%s/none", f->dir);
    assert_cred_failure(f, qn_cred_get(&f->cfg, &f->secret, f->source, &f->err),
                        "does not exist, and no credential_helper is configured");
    assert_int_equal(f->err.sys_errno, ENOENT);
}

static void test_systemd_credential_is_found_through_the_environment(void **state)
{
    struct fixture *f = *state;
    char want[256];

    snprintf(f->path, sizeof(f->path), "%s/qqnotify.smtp", f->dir);
    write_file(f->path, SECRET "\n", strlen(SECRET) + 1, 0400);
    assert_int_equal(setenv("CREDENTIALS_DIRECTORY", f->dir, 1), 0);
    assert_int_equal(qn_cred_get(&f->cfg, &f->secret, f->source, &f->err), QN_OK);
    assert_secret(f, SECRET);
    snprintf(want, sizeof(want), "systemd credential %s", f->path);
    assert_string_equal(f->source, want);
}

static void test_configured_credential_file_wins_over_systemd(void **state)
{
    struct fixture *f = *state;
    char other[160];

    snprintf(other, sizeof(other), "%s/qqnotify.smtp", f->dir);
    write_file(other, "from-systemd", 12, 0400);
    assert_int_equal(setenv("CREDENTIALS_DIRECTORY", f->dir, 1), 0);
    credential_file(f, "mine", "from-file", 9, 0600);
    assert_int_equal(qn_cred_get(&f->cfg, &f->secret, f->source, &f->err), QN_OK);
    assert_secret(f, "from-file");
}

static void test_qn_cred_get_clears_an_earlier_error(void **state)
{
    struct fixture *f = *state;

    f->err.smtp_code = 535;
    f->err.sys_errno = EPIPE;
    credential_file(f, "secret", SECRET, strlen(SECRET), 0600);
    assert_int_equal(qn_cred_get(&f->cfg, &f->secret, f->source, &f->err), QN_OK);
    assert_int_equal(f->err.smtp_code, 0);
    assert_int_equal(f->err.sys_errno, 0);
}

static void test_wipe_empties_the_secret_and_accepts_empty_ones(void **state)
{
    struct fixture *f = *state;

    credential_file(f, "secret", SECRET, strlen(SECRET), 0600);
    assert_int_equal(qn_cred_get(&f->cfg, &f->secret, f->source, &f->err), QN_OK);
    qn_secret_wipe(&f->secret);
    assert_null(f->secret.data);
    assert_int_equal(f->secret.len, 0);
    qn_secret_wipe(&f->secret);
    qn_secret_wipe(NULL);
}

/* ---- credential helpers ---------------------------------------------------------------- */

static void test_helper_password_is_returned(void **state)
{
    struct fixture *f = *state;
    char want[256];

    helper(f, "ok.sh", "cat >/dev/null\necho password=" SECRET);
    assert_int_equal(qn_cred_get(&f->cfg, &f->secret, f->source, &f->err), QN_OK);
    assert_secret(f, SECRET);
    snprintf(want, sizeof(want), "credential helper `%s`", f->path);
    assert_string_equal(f->source, want);
}

static void test_helper_receives_the_git_credential_request_and_get(void **state)
{
    struct fixture *f = *state;
    char body[512], got[512];

    snprintf(body, sizeof(body),
             "cat > '%s/request'\nprintf '%%s\\n' \"$@\" > '%s/args'\necho password=x", f->dir,
             f->dir);
    helper(f, "record.sh", body);
    assert_int_equal(qn_cred_get(&f->cfg, &f->secret, f->source, &f->err), QN_OK);
    assert_secret(f, "x");

    snprintf(f->path, sizeof(f->path), "%s/request", f->dir);
    read_back(f->path, got, sizeof(got));
    assert_string_equal(got, "protocol=smtp\nhost=smtp.qq.com\nusername=alice@qq.com\n\n");
    snprintf(f->path, sizeof(f->path), "%s/args", f->dir);
    read_back(f->path, got, sizeof(got));
    assert_string_equal(got, "get\n");
}

static void test_helper_words_are_arguments_before_get(void **state)
{
    struct fixture *f = *state;

    helper(f, "args.sh", "cat >/dev/null\necho \"password=$#:$1:$2:$3\"");
    strcat(f->cfg.credential_helper, "  --store\tsystem ");
    assert_int_equal(qn_cred_get(&f->cfg, &f->secret, f->source, &f->err), QN_OK);
    assert_secret(f, "3:--store:system:get");
}

static void test_helper_that_checks_the_user_name(void **state)
{
    struct fixture *f = *state;
    const char *body = "ok=0\n"
                       "while IFS= read -r line; do\n"
                       "    [ -z \"$line\" ] && break\n"
                       "    [ \"$line\" = username=alice@qq.com ] && ok=1\n"
                       "done\n"
                       "[ $ok = 1 ] || exit 3\n"
                       "echo password=for-alice";

    helper(f, "user.sh", body);
    assert_int_equal(qn_cred_get(&f->cfg, &f->secret, f->source, &f->err), QN_OK);
    assert_secret(f, "for-alice");
    qn_secret_wipe(&f->secret);

    snprintf(f->cfg.user, sizeof(f->cfg.user), "bob@qq.com");
    assert_cred_failure(f, qn_cred_get(&f->cfg, &f->secret, f->source, &f->err),
                        "exited with status 3");
}

static void test_helper_exit_status_is_reported_and_its_answer_dropped(void **state)
{
    struct fixture *f = *state;
    char want[256];

    helper(f, "fail.sh", "cat >/dev/null\necho password=" SECRET "\nexit 1");
    snprintf(want, sizeof(want), "credential helper `%s` exited with status 1", f->path);
    assert_cred_failure(f, qn_cred_get(&f->cfg, &f->secret, f->source, &f->err), want);
    assert_string_equal(f->err.detail, want);
}

static void test_helper_without_password_is_reported(void **state)
{
    struct fixture *f = *state;
    char want[256];

    helper(f, "nopw.sh", "cat >/dev/null\necho username=alice@qq.com\necho");
    snprintf(want, sizeof(want), "credential helper `%s` answered without a password", f->path);
    assert_cred_failure(f, qn_cred_get(&f->cfg, &f->secret, f->source, &f->err), want);
    assert_string_equal(f->err.detail, want);
}

static void test_helper_with_a_malformed_answer_is_reported(void **state)
{
    struct fixture *f = *state;

    helper(f, "junk.sh", "cat >/dev/null\necho 'Enter password:'\necho " SECRET);
    assert_cred_failure(f, qn_cred_get(&f->cfg, &f->secret, f->source, &f->err),
                        "answered a line that is not key=value");
}

static void test_helper_run_through_the_shell_with_bang(void **state)
{
    struct fixture *f = *state;

    snprintf(f->cfg.credential_helper, sizeof(f->cfg.credential_helper),
             "!f() { test \"$1\" = get && cat >/dev/null && echo password=from-shell; }; f");
    assert_int_equal(qn_cred_get(&f->cfg, &f->secret, f->source, &f->err), QN_OK);
    assert_secret(f, "from-shell");
}

static void test_helper_that_cannot_be_started_is_reported(void **state)
{
    struct fixture *f = *state;

    snprintf(f->cfg.credential_helper, sizeof(f->cfg.credential_helper), "%s/no-such-helper",
             f->dir);
    assert_cred_failure(f, qn_cred_get(&f->cfg, &f->secret, f->source, &f->err),
                        "cannot start credential helper");
    assert_int_equal(f->err.sys_errno, ENOENT);
}

static void test_helper_killed_by_a_signal_is_reported(void **state)
{
    struct fixture *f = *state;

    helper(f, "crash.sh", "kill -KILL $$");
    assert_cred_failure(f, qn_cred_get(&f->cfg, &f->secret, f->source, &f->err),
                        "was killed by signal 9");
}

static void test_helper_that_ignores_its_input_does_not_raise_sigpipe(void **state)
{
    struct fixture *f = *state;
    int i;

    /* Exiting at once races our write of the request: repeat to hit it. */
    helper(f, "quick.sh", "exec echo password=quick");
    for (i = 0; i < 20; i++) {
        assert_int_equal(qn_cred_get(&f->cfg, &f->secret, f->source, &f->err), QN_OK);
        assert_secret(f, "quick");
        qn_secret_wipe(&f->secret);
    }
}

static void test_slow_helper_is_killed_at_the_deadline(void **state)
{
    struct fixture *f = *state;
    long long start;

    helper(f, "slow.sh", "exec sleep 20");
    start = now_ms();
    assert_cred_failure(f,
                        qn_cred_run_helper(f->cfg.credential_helper, "smtp.qq.com", "alice@qq.com",
                                           300, &f->secret, &f->err),
                        "did not answer within 300 ms; killed");
    assert_true(now_ms() - start < 5000);
}

static void test_helper_that_closes_stdout_but_stays_is_killed(void **state)
{
    struct fixture *f = *state;
    long long start;

    helper(f, "linger.sh", "echo password=x\nexec >&-\nexec sleep 20");
    start = now_ms();
    assert_cred_failure(f,
                        qn_cred_run_helper(f->cfg.credential_helper, "smtp.qq.com", "alice@qq.com",
                                           300, &f->secret, &f->err),
                        "did not exit within 300 ms; killed");
    assert_true(now_ms() - start < 5000);
}

static void test_helper_output_is_bounded(void **state)
{
    struct fixture *f = *state;

    helper(f, "flood.sh", "cat >/dev/null\nyes password=x | head -c 20000");
    assert_cred_failure(f, qn_cred_get(&f->cfg, &f->secret, f->source, &f->err),
                        "answered more than 16384 bytes");
}

static void test_line_break_in_the_request_is_refused(void **state)
{
    struct fixture *f = *state;

    helper(f, "ok.sh", "cat >/dev/null\necho password=x");
    assert_cred_failure(f,
                        qn_cred_run_helper(f->cfg.credential_helper, "smtp.qq.com",
                                           "alice@qq.com\npassword=forged", 1000, &f->secret,
                                           &f->err),
                        "contains a line break");
}

static void test_empty_or_oversized_helper_command_is_refused(void **state)
{
    struct fixture *f = *state;
    char command[512];
    size_t len = 0;
    int i;

    assert_cred_failure(
        f, qn_cred_run_helper("  ", "smtp.qq.com", "alice@qq.com", 1000, &f->secret, &f->err),
        "is empty, too long or has more than 32 words");
    for (i = 0; i < QN_CRED_HELPER_ARGS_MAX + 1; i++)
        len += (size_t)snprintf(command + len, sizeof(command) - len, "w%d ", i);
    assert_cred_failure(
        f, qn_cred_run_helper(command, "smtp.qq.com", "alice@qq.com", 1000, &f->secret, &f->err),
        "has more than 32 words");
}

static void test_missing_credential_file_passes_on_to_the_helper(void **state)
{
    struct fixture *f = *state;

    helper(f, "ok.sh", "cat >/dev/null\necho password=from-helper");
    snprintf(f->cfg.credential_file, sizeof(f->cfg.credential_file), "%s/none", f->dir);
    assert_int_equal(qn_cred_get(&f->cfg, &f->secret, f->source, &f->err), QN_OK);
    assert_secret(f, "from-helper");
}

static void test_unusable_credential_file_does_not_pass_on_to_the_helper(void **state)
{
    struct fixture *f = *state;
    char file[160];

    snprintf(file, sizeof(file), "%s/empty", f->dir);
    write_file(file, "", 0, 0600);
    helper(f, "ok.sh", "cat >/dev/null\necho password=from-helper");
    snprintf(f->cfg.credential_file, sizeof(f->cfg.credential_file), "%s", file);
    assert_cred_failure(f, qn_cred_get(&f->cfg, &f->secret, f->source, &f->err), "is empty");
}

static int count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    assert_int_equal(closedir(d), 0);
    return n;
}

/* ---- a route's secret ------------------------------------------------------------------ */

/* A config with a DingTalk route "ops" (and the [smtp] account, whose file must not count). */
static void route_config(struct fixture *f)
{
    static const char text[] = "[smtp]\nuser = alice@qq.com\n[route ops]\ntype = dingtalk\n";

    assert_int_equal(qn_config_parse(&f->cfg, "t.conf", text, strlen(text), NULL), QN_OK);
}

static void test_route_secret_comes_from_its_systemd_credential(void **state)
{
    struct fixture *f = *state;
    char want[256];

    route_config(f);
    credential_file(f, "smtp-secret", SECRET, strlen(SECRET), 0600);
    snprintf(f->path, sizeof(f->path), "%s/qqnotify.route.ops", f->dir);
    write_file(f->path, "0c23ab\r\nSECfeed\n", 16, 0400);
    assert_int_equal(setenv("CREDENTIALS_DIRECTORY", f->dir, 1), 0);
    assert_int_equal(qn_cred_get_route(&f->cfg, "ops", &f->secret, f->source, &f->err), QN_OK);
    assert_secret(f, "0c23ab\r\nSECfeed");
    snprintf(want, sizeof(want), "systemd credential %s", f->path);
    assert_string_equal(f->source, want);
}

static void test_route_credential_with_three_lines_is_refused(void **state)
{
    struct fixture *f = *state;

    route_config(f);
    snprintf(f->path, sizeof(f->path), "%s/qqnotify.route.ops", f->dir);
    write_file(f->path, "a\nSECb\nc\n", 10, 0400);
    assert_int_equal(setenv("CREDENTIALS_DIRECTORY", f->dir, 1), 0);
    assert_cred_failure(f, qn_cred_get_route(&f->cfg, "ops", &f->secret, f->source, &f->err),
                        "holds more than two lines or a NUL byte");
    /* A lone CR is not a line end. */
    write_file(f->path, "a\rSECb", 7, 0400);
    assert_cred_failure(f, qn_cred_get_route(&f->cfg, "ops", &f->secret, f->source, &f->err),
                        "holds more than two lines");
}

static void test_route_helper_is_asked_for_the_route_by_name(void **state)
{
    struct fixture *f = *state;
    char body[512], got[512];

    route_config(f);
    snprintf(body, sizeof(body),
             "cat > '%s/request'\necho password=0c23ab\necho qqnotify_signing_secret=SECfeed",
             f->dir);
    helper(f, "record.sh", body);
    assert_int_equal(qn_cred_get_route(&f->cfg, "ops", &f->secret, f->source, &f->err), QN_OK);
    assert_secret(f, "0c23ab\nSECfeed");
    snprintf(f->path, sizeof(f->path), "%s/request", f->dir);
    read_back(f->path, got, sizeof(got));
    assert_string_equal(got, "protocol=qqnotify-route\nhost=ops\nusername=\n\n");
}

/* A route the file does not declare, or the mail route, is a configuration error.  (With no
 * source configured at all: tests/unit/test_cred_default.c.) */
static void test_route_not_declared_is_a_config_error(void **state)
{
    struct fixture *f = *state;

    route_config(f);
    assert_int_equal(qn_cred_get_route(&f->cfg, "nope", &f->secret, f->source, &f->err),
                     QN_ECONFIG);
    assert_int_equal(f->err.stage, QN_STAGE_CONFIG);
    assert_int_equal(qn_cred_get_route(&f->cfg, "smtp", &f->secret, f->source, &f->err),
                     QN_ECONFIG);
    assert_null(f->secret.data);
}

static void test_helper_runs_leave_no_descriptor_and_no_zombie(void **state)
{
    static const char *const bodies[] = {
        "cat >/dev/null\necho password=x",     /* success */
        "cat >/dev/null\nexit 1",              /* failure */
        "exec sleep 20",                       /* timeout */
        "cat >/dev/null\nyes | head -c 20000", /* too much output */
    };
    struct fixture *f = *state;
    int before = count_open_fds();
    size_t i;

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        helper(f, "h.sh", bodies[i]);
        (void)qn_cred_run_helper(f->cfg.credential_helper, "smtp.qq.com", "alice@qq.com", 300,
                                 &f->secret, &f->err);
        qn_secret_wipe(&f->secret);
        assert_int_equal(count_open_fds(), before);
        /* Every child was reaped: there is nobody left to wait for. */
        assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
        assert_int_equal(errno, ECHILD);
    }
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_credential_file_loses_one_trailing_newline),
        T(test_credential_file_loses_a_trailing_crlf),
        T(test_credential_file_without_newline_is_taken_whole),
        T(test_credential_file_with_a_second_line_is_refused),
        T(test_credential_file_at_the_size_cap_is_accepted),
        T(test_credential_file_over_the_size_cap_is_refused),
        T(test_empty_credential_file_is_refused),
        T(test_symlinked_credential_file_is_refused),
        T(test_credential_file_readable_by_others_is_refused),
        T(test_credential_file_that_is_a_fifo_is_refused_without_blocking),
        T(test_missing_credential_file_without_helper_is_reported),
        T(test_systemd_credential_is_found_through_the_environment),
        T(test_configured_credential_file_wins_over_systemd),
        T(test_qn_cred_get_clears_an_earlier_error),
        T(test_wipe_empties_the_secret_and_accepts_empty_ones),
        T(test_helper_password_is_returned),
        T(test_helper_receives_the_git_credential_request_and_get),
        T(test_helper_words_are_arguments_before_get),
        T(test_helper_that_checks_the_user_name),
        T(test_helper_exit_status_is_reported_and_its_answer_dropped),
        T(test_helper_without_password_is_reported),
        T(test_helper_with_a_malformed_answer_is_reported),
        T(test_helper_run_through_the_shell_with_bang),
        T(test_helper_that_cannot_be_started_is_reported),
        T(test_helper_killed_by_a_signal_is_reported),
        T(test_helper_that_ignores_its_input_does_not_raise_sigpipe),
        T(test_slow_helper_is_killed_at_the_deadline),
        T(test_helper_that_closes_stdout_but_stays_is_killed),
        T(test_helper_output_is_bounded),
        T(test_line_break_in_the_request_is_refused),
        T(test_empty_or_oversized_helper_command_is_refused),
        T(test_missing_credential_file_passes_on_to_the_helper),
        T(test_unusable_credential_file_does_not_pass_on_to_the_helper),
        T(test_route_secret_comes_from_its_systemd_credential),
        T(test_route_credential_with_three_lines_is_refused),
        T(test_route_helper_is_asked_for_the_route_by_name),
        T(test_route_not_declared_is_a_config_error),
        T(test_helper_runs_leave_no_descriptor_and_no_zombie),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
