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

bool qns_secret_text_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

/* Wait until FD is readable.  DEADLINE < 0: wait for as long as it takes (a
 * person typing). */
static enum qns_input_result wait_readable(int fd, long long deadline)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    for (;;) {
        long long left = deadline < 0 ? -1 : deadline - now_ms();
        int n;

        if (deadline >= 0 && left <= 0)
            return QNS_INPUT_TIMEOUT;
        n = poll(&pfd, 1, left < 0 ? -1 : left > 1000000 ? 1000000 : (int)left);
        if (n > 0)
            return QNS_INPUT_OK;
        if (n < 0 && errno != EINTR)
            return QNS_INPUT_IO;
    }
}

/*
 * Append bytes from FD to OUT one at a time (so nothing past the end is
 * consumed) until DONE(OUT) is true or end of input.  Reading straight into
 * OUT keeps every byte in locked memory.  *ret_eof tells whether input
 * ended.
 */
static enum qns_input_result read_until(int fd, long long deadline, struct qns_secret *out,
                                        bool (*done)(const struct qns_secret *), bool *ret_eof)
{
    enum qns_input_result r;
    ssize_t n;

    *ret_eof = false;
    while (!done(out)) {
        if (out->len >= out->cap)
            return QNS_INPUT_TOO_BIG;
        r = wait_readable(fd, deadline);
        if (r != QNS_INPUT_OK)
            return r;
        n = read(fd, out->data + out->len, 1);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return QNS_INPUT_IO;
        }
        if (n == 0) {
            *ret_eof = true;
            break;
        }
        out->len++;
        out->data[out->len] = '\0';
    }
    return QNS_INPUT_OK;
}

static bool line_done(const struct qns_secret *b)
{
    return b->len > 0 && b->data[b->len - 1] == '\n';
}

/* A request ends with a blank line: "\n" first, or "\n\n" anywhere. */
static bool request_done(const struct qns_secret *b)
{
    return (b->len == 1 && b->data[0] == '\n') ||
           (b->len >= 2 && b->data[b->len - 1] == '\n' && b->data[b->len - 2] == '\n');
}

static void chop_line_end(struct qns_secret *b)
{
    if (b->len > 0 && b->data[b->len - 1] == '\n')
        b->data[--b->len] = '\0';
    if (b->len > 0 && b->data[b->len - 1] == '\r')
        b->data[--b->len] = '\0';
}

/* Drop ":port" from a host ("smtp.qq.com:465", "[::1]:465"); a bare IPv6
 * address keeps its colons. */
static void strip_port(char *host)
{
    char *colon = strrchr(host, ':');
    const char *p;

    if (colon == NULL || colon[1] == '\0')
        return;
    for (p = colon + 1; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return;
    }
    if (host[0] == '[') {
        if (colon > host && colon[-1] == ']')
            *colon = '\0';
        return;
    }
    if (strchr(host, ':') == colon)
        *colon = '\0';
}

static void set_bad_key(struct qns_request *req, const char *key, size_t n)
{
    size_t i, j = 0;

    /* The key is echoed in an error message: printable ASCII only. */
    for (i = 0; i < n && j + 1 < sizeof(req->bad_key); i++) {
        unsigned char c = (unsigned char)key[i];

        req->bad_key[j++] = c >= 0x21 && c < 0x7f ? (char)c : '?';
    }
    req->bad_key[j] = '\0';
}

static enum qns_input_result copy_field(struct qns_request *req, const char *key, size_t keylen,
                                        char *dst, size_t dstsz, const char *value, size_t n)
{
    if (n >= dstsz) {
        set_bad_key(req, key, keylen);
        return QNS_INPUT_TOO_BIG;
    }
    memcpy(dst, value, n);
    dst[n] = '\0';
    return QNS_INPUT_OK;
}

static enum qns_input_result parse_request(const struct qns_secret *raw, struct qns_request *req)
{
    const char *p = raw->data, *end = raw->data + raw->len;
    enum qns_input_result r;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl != NULL ? nl : end;
        const char *eq;
        size_t keylen, vallen;

        if (line_end > p && line_end[-1] == '\r')
            line_end--;
        if (line_end == p)
            break; /* the blank line ends the request */
        eq = memchr(p, '=', (size_t)(line_end - p));
        if (eq == NULL) {
            set_bad_key(req, p, (size_t)(line_end - p));
            return QNS_INPUT_INVALID;
        }
        keylen = (size_t)(eq - p);
        vallen = (size_t)(line_end - eq - 1);
        if (!qns_secret_text_ok(eq + 1, vallen)) {
            set_bad_key(req, p, keylen);
            return QNS_INPUT_INVALID;
        }
        /* Repeated keys: the last one wins, as in git. */
        r = QNS_INPUT_OK;
        if (keylen == 8 && memcmp(p, "protocol", 8) == 0) {
            r = copy_field(req, p, keylen, req->protocol, sizeof(req->protocol), eq + 1, vallen);
        } else if (keylen == 4 && memcmp(p, "host", 4) == 0) {
            r = copy_field(req, p, keylen, req->host, sizeof(req->host), eq + 1, vallen);
            strip_port(req->host);
        } else if (keylen == 8 && memcmp(p, "username", 8) == 0) {
            r = copy_field(req, p, keylen, req->username, sizeof(req->username), eq + 1, vallen);
        } else if (keylen == 8 && memcmp(p, "password", 8) == 0) {
            qns_secret_clear(&req->password);
            if (qns_secret_append(&req->password, eq + 1, vallen) < 0) {
                set_bad_key(req, p, keylen);
                r = QNS_INPUT_TOO_BIG;
            }
        }
        if (r != QNS_INPUT_OK)
            return r;
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    return QNS_INPUT_OK;
}

enum qns_input_result qns_request_read(int fd, unsigned timeout_s, struct qns_request *req)
{
    struct qns_secret raw;
    enum qns_input_result r = QNS_INPUT_IO;
    bool eof;

    memset(req, 0, sizeof(*req));
    memset(&raw, 0, sizeof(raw));
    if (qns_secret_init(&req->password, QNS_SECRET_MAX) < 0 ||
        qns_secret_init(&raw, QNS_PROTOCOL_INPUT_MAX) < 0)
        goto out;
    r = read_until(fd, now_ms() + (long long)timeout_s * 1000, &raw, request_done, &eof);
    if (r != QNS_INPUT_OK)
        goto out;
    r = parse_request(&raw, req);
out:
    qns_secret_free(&raw);
    if (r != QNS_INPUT_OK)
        qns_secret_clear(&req->password);
    return r;
}

void qns_request_free(struct qns_request *req)
{
    qns_secret_free(&req->password);
}

static enum qns_input_result finish_line(struct qns_secret *out, enum qns_input_result r)
{
    if (r != QNS_INPUT_OK)
        return r;
    chop_line_end(out);
    if (out->len == 0)
        return QNS_INPUT_EMPTY;
    if (out->len > QNS_SECRET_MAX)
        return QNS_INPUT_TOO_BIG;
    if (!qns_secret_text_ok(out->data, out->len))
        return QNS_INPUT_INVALID;
    return QNS_INPUT_OK;
}

enum qns_input_result qns_read_secret_line(int fd, unsigned timeout_s, struct qns_secret *out)
{
    enum qns_input_result r;
    bool eof;

    r = read_until(fd, now_ms() + (long long)timeout_s * 1000, out, line_done, &eof);
    r = finish_line(out, r);
    if (r != QNS_INPUT_OK)
        qns_secret_clear(out);
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
static enum qns_input_result prompt_once(int fd, const char *prompt, struct qns_secret *out)
{
    enum qns_input_result r;
    bool eof;

    show(prompt);
    r = read_until(fd, -1, out, line_done, &eof);
    if (eof)
        show("\n"); /* Ctrl-D: ECHONL printed no newline for it */
    return finish_line(out, r);
}

enum qns_input_result qns_prompt_secret(int fd, const char *prompt, const char *repeat,
                                        struct qns_secret *out)
{
    struct sigaction sa, old_actions[4], old_tstp;
    struct termios hidden;
    struct qns_secret again;
    enum qns_input_result r = QNS_INPUT_IO;
    int saved_errno;
    size_t i;

    memset(&again, 0, sizeof(again));
    memset(old_actions, 0, sizeof(old_actions));
    if (qns_secret_init(&again, out->cap) < 0)
        return QNS_INPUT_IO;
    if (tcgetattr(fd, &saved_tty) < 0)
        goto free;
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
    if (r != QNS_INPUT_OK)
        goto restore;
    r = prompt_once(fd, repeat, &again);
    if (r == QNS_INPUT_EMPTY || r == QNS_INPUT_OK) {
        if (again.len != out->len || memcmp(again.data, out->data, out->len) != 0)
            r = QNS_INPUT_MISMATCH;
    }
restore:
    saved_errno = errno; /* a failed read's errno matters more than tcsetattr's */
    if (tcsetattr(fd, TCSAFLUSH, &saved_tty) < 0 && r == QNS_INPUT_OK)
        r = QNS_INPUT_IO;
    else
        errno = saved_errno;
    saved_tty_valid = 0;
    for (i = 0; i < sizeof(prompt_signals) / sizeof(prompt_signals[0]); i++)
        sigaction(prompt_signals[i], &old_actions[i], NULL);
    sigaction(SIGTSTP, &old_tstp, NULL);
free:
    qns_secret_free(&again);
    if (r != QNS_INPUT_OK)
        qns_secret_clear(out);
    return r;
}
