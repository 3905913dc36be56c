/*
 * Unit tests for common/log.c: journal detection through JOURNAL_STREAM,
 * "<N>" versus "prog: " lines, one sanitised line per message, bounds.
 * Lines are read back from a pipe, the way journald or a terminal gets them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

#define ELLIPSIS "\xE2\x80\xA6"

struct pipe_pair {
    int rd, wr;
};

static void pipe_open(struct pipe_pair *p)
{
    int fds[2];

    assert_int_equal(pipe(fds), 0);
    /* A read finds what was written, or nothing: no test can hang. */
    assert_int_equal(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
    p->rd = fds[0];
    p->wr = fds[1];
}

static void pipe_close(struct pipe_pair *p)
{
    close(p->rd);
    close(p->wr);
}

/* Everything written so far, NUL-terminated; returns its length. */
static size_t drain(const struct pipe_pair *p, char *buf, size_t size)
{
    size_t len = 0;
    ssize_t n;

    while (len < size - 1) {
        n = read(p->rd, buf + len, size - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return len;
}

static void set_journal_stream_to(int fd)
{
    struct stat st;
    char value[64];

    assert_int_equal(fstat(fd, &st), 0);
    snprintf(value, sizeof(value), "%llu:%llu", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino);
    assert_int_equal(setenv("JOURNAL_STREAM", value, 1), 0);
}

static void test_plain_line_has_the_program_name(void **state)
{
    struct pipe_pair p;
    struct qn_log log;
    char out[256];

    (void)state;
    unsetenv("JOURNAL_STREAM");
    pipe_open(&p);
    qn_log_init(&log, "qqnotify", p.wr);
    assert_false(log.journal);
    assert_int_equal(log.max_priority, LOG_INFO);
    qn_log(&log, LOG_ERR, "sent %d of %d", 2, 3);
    drain(&p, out, sizeof(out));
    assert_string_equal(out, "qqnotify: sent 2 of 3\n");
    pipe_close(&p);
}

static void test_journal_stream_of_this_fd_gets_priority_prefixes(void **state)
{
    struct pipe_pair p;
    struct qn_log log;
    char out[256];

    (void)state;
    pipe_open(&p);
    set_journal_stream_to(p.wr);
    qn_log_init(&log, "qqnotify", p.wr);
    assert_true(log.journal);
    qn_log(&log, LOG_ERR, "failed");
    qn_log(&log, LOG_WARNING, "slow");
    qn_log(&log, LOG_INFO, "sent");
    /* A facility in the priority does not leak into the prefix. */
    qn_log(&log, LOG_DAEMON | LOG_ERR, "daemon");
    drain(&p, out, sizeof(out));
    assert_string_equal(out, "<3>failed\n<4>slow\n<6>sent\n<3>daemon\n");
    unsetenv("JOURNAL_STREAM");
    pipe_close(&p);
}

/* A child of a service inherits JOURNAL_STREAM but may write elsewhere. */
static void test_journal_stream_of_another_file_is_ignored(void **state)
{
    static const char *const malformed[] = {"",     "abc", "1:",   ":2",
                                            "1:2x", "1;2", "-1:2", "99999999999999999999999:1"};
    struct pipe_pair p, other;
    struct qn_log log;
    size_t i;

    (void)state;
    pipe_open(&p);
    pipe_open(&other);
    set_journal_stream_to(other.wr);
    qn_log_init(&log, "qqnotify", p.wr);
    assert_false(log.journal);
    for (i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        assert_int_equal(setenv("JOURNAL_STREAM", malformed[i], 1), 0);
        qn_log_init(&log, "qqnotify", p.wr);
        assert_false(log.journal);
    }
    unsetenv("JOURNAL_STREAM");
    pipe_close(&p);
    pipe_close(&other);
}

static void test_control_characters_never_reach_the_log(void **state)
{
    struct pipe_pair p;
    struct qn_log log;
    char out[256];

    (void)state;
    unsetenv("JOURNAL_STREAM");
    pipe_open(&p);
    qn_log_init(&log, "qqnotify", p.wr);
    qn_log(&log, LOG_WARNING, "login by %s from %s", "evil\nqqnotify: forged line\x1b[2J",
           "10.0.0.1\r\x7f");
    drain(&p, out, sizeof(out));
    assert_string_equal(out, "qqnotify: login by evil qqnotify: forged line [2J from 10.0.0.1\n");
    pipe_close(&p);
}

static void test_debug_lines_are_hidden_unless_asked_for(void **state)
{
    struct pipe_pair p;
    struct qn_log log;
    char out[256];

    (void)state;
    unsetenv("JOURNAL_STREAM");
    pipe_open(&p);
    qn_log_init(&log, "qqnotify", p.wr);
    qn_log(&log, LOG_DEBUG, "hidden");
    assert_int_equal(drain(&p, out, sizeof(out)), 0);
    log.max_priority = LOG_DEBUG;
    qn_log(&log, LOG_DEBUG, "shown");
    drain(&p, out, sizeof(out));
    assert_string_equal(out, "qqnotify: shown\n");
    pipe_close(&p);
}

static void test_long_message_is_one_bounded_line(void **state)
{
    static char big[20000];
    struct pipe_pair p;
    struct qn_log log;
    char out[8192];
    size_t len;

    (void)state;
    unsetenv("JOURNAL_STREAM");
    memset(big, 'x', sizeof(big) - 1);
    pipe_open(&p);
    qn_log_init(&log, "qqnotify", p.wr);
    qn_log(&log, LOG_ERR, "%s", big);
    len = drain(&p, out, sizeof(out));
    /* Under PIPE_BUF, so that the kernel writes it in one piece. */
    assert_true(len <= PIPE_BUF);
    assert_true(len > 1000);
    assert_memory_equal(out, "qqnotify: xxx", 13);
    assert_string_equal(out + len - 4, ELLIPSIS "\n");
    assert_ptr_equal(strchr(out, '\n'), out + len - 1);
    pipe_close(&p);
}

static void test_errno_is_preserved_and_seen_by_percent_m(void **state)
{
    struct pipe_pair p;
    struct qn_log log;
    char out[256], want[256];

    (void)state;
    unsetenv("JOURNAL_STREAM");
    pipe_open(&p);
    qn_log_init(&log, "qqnotify", p.wr);
    snprintf(want, sizeof(want), "qqnotify: open: %s\n", strerror(ENOENT));
    errno = ENOENT;
    qn_log(&log, LOG_ERR, "open: %m");
    assert_int_equal(errno, ENOENT);
    drain(&p, out, sizeof(out));
    assert_string_equal(out, want);
    pipe_close(&p);
}

static void test_null_program_name_falls_back(void **state)
{
    struct pipe_pair p;
    struct qn_log log;
    char out[256];

    (void)state;
    unsetenv("JOURNAL_STREAM");
    pipe_open(&p);
    qn_log_init(&log, NULL, p.wr);
    qn_log(&log, LOG_ERR, "x");
    drain(&p, out, sizeof(out));
    assert_string_equal(out, "qqnotify: x\n");
    pipe_close(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_line_has_the_program_name),
        cmocka_unit_test(test_journal_stream_of_this_fd_gets_priority_prefixes),
        cmocka_unit_test(test_journal_stream_of_another_file_is_ignored),
        cmocka_unit_test(test_control_characters_never_reach_the_log),
        cmocka_unit_test(test_debug_lines_are_hidden_unless_asked_for),
        cmocka_unit_test(test_long_message_is_one_bounded_line),
        cmocka_unit_test(test_errno_is_preserved_and_seen_by_percent_m),
        cmocka_unit_test(test_null_program_name_falls_back),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
