/*
 * input — reading the request, a piped line and the hidden prompt; contract
 * in input.h.
 */
#include "input.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/*
 * Terminal state for the signal handler.  Globals because a handler has no
 * other way to reach them; this is program code, not the core, and only
 * one prompt runs at a time.
 */
static struct termios saved_tty;
static volatile sig_atomic_t saved_tty_valid;
static volatile sig_atomic_t saved_tty_fd = -1;

static const int prompt_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until FD is readable.  DEADLINE < 0: wait for as long as it takes (a
 * person typing). */
static enum qn_status wait_readable(int fd, long long deadline)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    for (;;) {
        long long left = deadline < 0 ? -1 : deadline - now_ms();
        int n;

        if (deadline >= 0 && left <= 0)
            return QN_ETIMEOUT;
        n = poll(&pfd, 1, left < 0 ? -1 : left > 1000000 ? 1000000 : (int)left);
        if (n > 0)
            return QN_OK;
        if (n < 0 && errno != EINTR)
            return QN_EIO;
    }
}

/*
 * Append bytes from FD to OUT one at a time (so nothing past the end is
 * consumed) until DONE(OUT) is true or end of input.  Reading straight into
 * OUT keeps every byte in locked memory.  *ret_eof tells whether input
 * ended.
 */
static enum qn_status read_until(int fd, long long deadline, struct qn_secret *out,
                                 bool (*done)(const struct qn_secret *), bool *ret_eof)
{
    enum qn_status r;
    ssize_t n;

    *ret_eof = false;
    while (!done(out)) {
        if (out->len >= out->cap)
            return QN_ETOOBIG;
        r = wait_readable(fd, deadline);
        if (r != QN_OK)
            return r;
        n = read(fd, out->data + out->len, 1);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return QN_EIO;
        }
        if (n == 0) {
            *ret_eof = true;
            break;
        }
        out->len++;
        out->data[out->len] = '\0';
    }
    return QN_OK;
}

static bool line_done(const struct qn_secret *b)
{
    return b->len > 0 && b->data[b->len - 1] == '\n';
}

/* A request ends with a blank line: "\n" first, or "\n\n" anywhere. */
static bool request_done(const struct qn_secret *b)
{
    return (b->len == 1 && b->data[0] == '\n') ||
           (b->len >= 2 && b->data[b->len - 1] == '\n' && b->data[b->len - 2] == '\n');
}

static void chop_line_end(struct qn_secret *b)
{
    if (b->len > 0 && b->data[b->len - 1] == '\n')
        b->data[--b->len] = '\0';
    if (b->len > 0 && b->data[b->len - 1] == '\r')
        b->data[--b->len] = '\0';
}

enum qn_status qns_request_read(int fd, unsigned timeout_s, struct qn_gitcred_request *req)
{
    struct qn_secret raw = {0};
    enum qn_status r;
    bool eof;

    memset(req, 0, sizeof(*req));
    r = qn_secret_init(&raw, QN_GITCRED_MESSAGE_MAX);
    if (r == QN_OK)
        r = read_until(fd, now_ms() + (long long)timeout_s * 1000, &raw, request_done, &eof);
    if (r == QN_OK)
        r = qn_gitcred_parse_request(raw.data, raw.len, req);
    qn_secret_wipe(&raw);
    return r;
}

static enum qn_status finish_line(struct qn_secret *out, enum qn_status r)
{
    if (r != QN_OK)
        return r;
    chop_line_end(out);
    if (out->len == 0)
        return QN_ENOTFOUND;
    if (out->len > QN_SECRET_MAX)
        return QN_ETOOBIG;
    if (!qn_gitcred_value_ok(out->data, out->len))
        return QN_EINVAL;
    return QN_OK;
}

enum qn_status qns_read_secret_line(int fd, unsigned timeout_s, struct qn_secret *out)
{
    enum qn_status r;
    bool eof;

    r = read_until(fd, now_ms() + (long long)timeout_s * 1000, out, line_done, &eof);
    r = finish_line(out, r);
    if (r != QN_OK)
        qn_secret_clear(out);
    return r;
}

static void restore_tty_and_die(int sig)
{
    int saved_errno = errno;

    if (saved_tty_valid)
        tcsetattr(saved_tty_fd, TCSAFLUSH, &saved_tty);
    /* SA_RESETHAND made the action the default again: end as that signal
     * would have ended us. */
    raise(sig);
    errno = saved_errno;
}

/* Show TEXT on stderr.  A failure is not fatal: the reading still works and
 * the person at the terminal may know what is asked. */
static void show(const char *text)
{
    size_t len = strlen(text), done = 0;

    while (done < len) {
        ssize_t n = write(STDERR_FILENO, text + done, len - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        done += (size_t)n;
    }
}

/* Read one hidden line (no time bound: a person is typing). */
static enum qn_status prompt_once(int fd, const char *prompt, struct qn_secret *out)
{
    enum qn_status r;
    bool eof;

    show(prompt);
    r = read_until(fd, -1, out, line_done, &eof);
    if (eof)
        show("\n"); /* Ctrl-D: ECHONL printed no newline for it */
    return finish_line(out, r);
}

enum qn_status qns_prompt_secret(int fd, const char *prompt, const char *repeat,
                                 struct qn_secret *out, struct qn_secret *again)
{
    struct sigaction sa, old_actions[4], old_tstp;
    struct termios hidden;
    enum qn_status r = QN_EIO;
    int saved_errno;
    size_t i;

    memset(old_actions, 0, sizeof(old_actions));
    if (tcgetattr(fd, &saved_tty) < 0)
        goto out;
    hidden = saved_tty;
    hidden.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
    hidden.c_lflag |= ECHONL | ICANON; /* the Enter key still moves the cursor */

    /* Restore the terminal if we are killed while echo is off. */
    saved_tty_fd = fd;
    saved_tty_valid = 1;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = restore_tty_and_die;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < sizeof(prompt_signals) / sizeof(prompt_signals[0]); i++)
        sigaction(prompt_signals[i], &sa, &old_actions[i]);
    /* Ctrl-Z would leave the shell with a terminal that does not echo. */
    sa.sa_handler = SIG_IGN;
    sa.sa_flags = 0;
    sigaction(SIGTSTP, &sa, &old_tstp);

    if (tcsetattr(fd, TCSAFLUSH, &hidden) < 0)
        goto restore;
    r = prompt_once(fd, prompt, out);
    if (r != QN_OK)
        goto restore;
    r = prompt_once(fd, repeat, again);
    if (r == QN_ENOTFOUND)
        r = QN_OK; /* nothing the second time: differs from the first, the caller says so */
restore:
    saved_errno = errno; /* a failed read's errno matters more than tcsetattr's */
    if (tcsetattr(fd, TCSAFLUSH, &saved_tty) < 0 && r == QN_OK)
        r = QN_EIO;
    else
        errno = saved_errno;
    saved_tty_valid = 0;
    for (i = 0; i < sizeof(prompt_signals) / sizeof(prompt_signals[0]); i++)
        sigaction(prompt_signals[i], &old_actions[i], NULL);
    sigaction(SIGTSTP, &old_tstp, NULL);
out:
    if (r != QN_OK) {
        qn_secret_clear(out);
        qn_secret_clear(again);
    }
    return r;
}
