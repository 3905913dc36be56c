/*
 * log — one line per message, to a file descriptor, never more than one
 * write(2) per line.
 *
 * systemd connects a service's stderr to the journal and says so in
 * JOURNAL_STREAM ("DEVICE:INODE" of that stream, see systemd.exec(5)).
 * Comparing it with fstat() of our fd, rather than trusting the variable
 * alone, keeps "<3>" prefixes out of a terminal or a pipe when a child of a
 * service inherited the variable but not the stream.
 *
 * Lines are built in fixed stack buffers smaller than PIPE_BUF, so that a
 * line written to a pipe is never interleaved with another process's, and
 * logging works when memory is short.  errno is preserved, so a caller can
 * log and then still inspect it (and "%m" sees the caller's errno).
 */
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "text.h"

/* Formatted message before and after sanitising; a longer one is cut with "…". */
#define LOG_MESSAGE_MAX 2048
/* "<7>" or the program name (cut to LOG_PROG_MAX) and ": ", the message, "\n". */
#define LOG_PROG_MAX 64
#define LOG_LINE_MAX (LOG_PROG_MAX + 2 + LOG_MESSAGE_MAX + 1)

#define ELLIPSIS     "\xE2\x80\xA6"
#define ELLIPSIS_LEN 3

/* Parse a decimal unsigned number that ends at *ret_end; false when there are no digits. */
static bool parse_decimal(const char *s, unsigned long long *ret, const char **ret_end)
{
    unsigned long long v = 0;
    const char *p = s;

    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (~0ULL - 9) / 10)
            return false;
        v = v * 10 + (unsigned long long)(*p - '0');
    }
    if (p == s)
        return false;
    *ret = v;
    *ret_end = p;
    return true;
}

static bool fd_is_journal_stream(int fd)
{
    const char *env = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    const char *p;
    struct stat st;

    if (env == NULL)
        return false;
    if (!parse_decimal(env, &dev, &p) || *p != ':')
        return false;
    if (!parse_decimal(p + 1, &ino, &p) || *p != '\0')
        return false;
    if (fstat(fd, &st) != 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void qn_log_init(struct qn_log *log, const char *prog, int fd)
{
    int saved_errno = errno;

    log->prog = prog != NULL ? prog : "qqnotify";
    log->fd = fd;
    log->max_priority = LOG_INFO;
    log->journal = fd_is_journal_stream(fd);
    errno = saved_errno;
}

/* One write(2) for the line; a short write (a full pipe, a signal) continues. */
static void write_line(int fd, const char *line, size_t len)
{
    ssize_t n;

    while (len > 0) {
        n = write(fd, line, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* nowhere else to report it */
        line += n;
        len -= (size_t)n;
    }
}

/* FMT and AP as one sanitised line into MESSAGE (LOG_MESSAGE_MAX bytes); false when
 * vsnprintf fails. */
static bool format_message(char *message, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static bool format_message(char *message, const char *fmt, va_list ap)
{
    char raw[LOG_MESSAGE_MAX];
    size_t raw_len, len;
    bool cut;
    int n;

    n = vsnprintf(raw, sizeof(raw), fmt, ap);
    if (n < 0)
        return false;
    cut = (size_t)n >= sizeof(raw);
    raw_len = cut ? sizeof(raw) - 1 : (size_t)n;

    /* Messages quote user names, hosts and server replies: one line, no control
     * characters (no forged lines, no terminal escapes).  When vsnprintf cut the
     * text, room is kept for the ellipsis that says so. */
    len = qn_text_sanitize_line(raw, raw_len, message, LOG_MESSAGE_MAX - (cut ? ELLIPSIS_LEN : 0));
    if (cut &&
        (len < ELLIPSIS_LEN || memcmp(message + len - ELLIPSIS_LEN, ELLIPSIS, ELLIPSIS_LEN) != 0)) {
        memcpy(message + len, ELLIPSIS, ELLIPSIS_LEN);
        len += ELLIPSIS_LEN;
        message[len] = '\0';
    }
    return true;
}

/* MESSAGE as one line on the log's fd. */
static void put_line(const struct qn_log *log, int priority, const char *message)
{
    char line[LOG_LINE_MAX];
    size_t len;
    int n;

    if (log->journal)
        n = snprintf(line, sizeof(line), "<%d>%s\n", priority, message);
    else
        n = snprintf(line, sizeof(line), "%.*s: %s\n", LOG_PROG_MAX, log->prog, message);
    if (n < 0)
        return;
    len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    write_line(log->fd, line, len);
}

void qn_logv(const struct qn_log *log, int priority, const char *fmt, va_list ap)
{
    char message[LOG_MESSAGE_MAX];
    int saved_errno = errno;

    if (log == NULL || fmt == NULL)
        goto out;
    priority = LOG_PRI(priority);
    if (priority > log->max_priority)
        goto out;
    if (format_message(message, fmt, ap))
        put_line(log, priority, message);
out:
    errno = saved_errno;
}

void qn_log_audit(const struct qn_log *log, const char *fmt, ...)
{
    char message[LOG_MESSAGE_MAX];
    int saved_errno = errno;
    va_list ap;
    bool ok;

    if (log == NULL || fmt == NULL)
        return;
    va_start(ap, fmt);
    ok = format_message(message, fmt, ap);
    va_end(ap);
    if (ok) {
        syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s", message);
        put_line(log, LOG_NOTICE, message);
    }
    errno = saved_errno;
}

void qn_log(const struct qn_log *log, int priority, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    qn_logv(log, priority, fmt, ap);
    va_end(ap);
}
