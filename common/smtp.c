/*
 * smtp — SMTP submission client (see smtp.h for the contract).
 *
 * Standards: RFC 5321 (SMTP: replies, dot-stuffing, CRLF), RFC 3207
 * (STARTTLS, and the rule to discard what was learnt or buffered before
 * it), RFC 8314 (implicit TLS on 465), RFC 4954 (AUTH), RFC 4616 (PLAIN),
 * RFC 2034 / RFC 3463 (enhanced status codes), RFC 1870 (SIZE), RFC 6152
 * (8BITMIME).
 *
 * Hand-written because no library in the dependency set does SMTP
 * submission; libcurl could, but it would add a large dependency and hide
 * the stage-by-stage detail that diagnosis needs.  TLS, base64 and
 * cleansing come from OpenSSL.
 *
 * The dialogue is strictly one command, one reply (no PIPELINING): QQ Mail
 * sends few messages per session and the errors are much easier to
 * attribute to a stage.
 */
#include "smtp.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "redact.h"
#include "secret.h"
#include "text.h"

#define DEFAULT_TIMEOUT_S 30
#define READ_BUF_SIZE     4096          /* socket read buffer; holds at least one whole line */
#define DATA_CHUNK_SIZE   8192          /* DATA is encoded and sent in chunks of this size */
#define COMMAND_MAX       600           /* one command line: verb, <address> (254), parameters */
#define EXT_MAX           512           /* announced EHLO keywords kept */
#define AUTH_MECHS_MAX    256           /* announced AUTH mechanisms kept */
#define KEYWORD_MAX       32            /* longer EHLO keywords or mechanisms are ignored */
#define ADDRESSES_MAX     8             /* addresses of one host tried; bounds connect time */
#define ADDRESS_LEN_MAX   254           /* RFC 5321 path limit (256) minus the angle brackets */
#define SECRET_MAX        QN_SECRET_MAX /* the one bound of a secret (secret.h) */
#define STAGE_DETAIL_MAX  512

/* A whole line (QN_SMTP_LINE_MAX bytes plus CRLF) must fit after compaction. */
_Static_assert(READ_BUF_SIZE >= QN_SMTP_LINE_MAX + 3, "read buffer smaller than a line");

#define BASE64_LEN(n) (4 * (((n) + 2) / 3))

enum {
    EXT_STARTTLS = 1 << 0,
    EXT_AUTH = 1 << 1,
    EXT_AUTH_PLAIN = 1 << 2,
    EXT_AUTH_LOGIN = 1 << 3,
    EXT_8BITMIME = 1 << 4,
    EXT_SIZE = 1 << 5,
};

struct qn_smtp {
    int fd;
    SSL *ssl;
    struct qn_tls_ctx *tls;
    bool tls_verify;
    bool dead;     /* transport failed or stream out of step: no more I/O, no close_notify */
    bool finished; /* QUIT was sent: no more commands */
    unsigned timeout_s;
    long long timeout_ms;
    qn_smtp_stage_cb on_stage;
    void *stage_arg;
    char host[256];
    char helo[256];

    unsigned ext_flags;
    unsigned long long size_max; /* EHLO SIZE value, 0 when none announced */
    char ext[EXT_MAX];
    char auth_mechs[AUTH_MECHS_MAX];

    /* Bytes received and not yet consumed are rbuf[rstart, rend). */
    size_t rstart, rend;
    char rbuf[READ_BUF_SIZE];
    struct qn_smtp_reply reply;     /* the last reply read */
    const struct qn_redact *redact; /* during AUTH: what each reply line must not show */
    char chunk[DATA_CHUNK_SIZE];
};

/* ---- reply parser -------------------------------------------------------------------------- */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Length of 1-3 digits at P (at most N bytes), 0 when there is none or more than 3. */
static size_t digits(const char *p, size_t n)
{
    size_t i = 0;

    while (i < n && i < 4 && is_digit(p[i]))
        i++;
    return i > 3 ? 0 : i;
}

/*
 * Copy into OUT (16 bytes) the RFC 3463 code at the start of TEXT ("5.7.8"
 * followed by a space or the end), when its class is CLASS_DIGIT.
 */
static void enhanced_code(const char *text, size_t n, char class_digit, char out[16])
{
    size_t pos = 0, d;
    int part;

    out[0] = '\0';
    if (n < 5 || text[0] != class_digit || text[1] != '.')
        return;
    pos = 2;
    for (part = 0; part < 2; part++) {
        d = digits(text + pos, n - pos);
        if (d == 0)
            return;
        pos += d;
        if (part == 0) {
            if (pos >= n || text[pos] != '.')
                return;
            pos++;
        }
    }
    if (pos < n && text[pos] != ' ')
        return;
    /* pos <= 1 + 1 + 3 + 1 + 3 = 9 < 16 */
    memcpy(out, text, pos);
    out[pos] = '\0';
}

enum qn_status qn_smtp_reply_feed(struct qn_smtp_reply *reply, const char *line, size_t len)
{
    const char *text;
    size_t text_len, sep_len;
    int code;

    if (reply->complete)
        return QN_EINVAL;
    if (len > QN_SMTP_LINE_MAX)
        return QN_ETOOBIG;
    if (len < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]))
        return QN_EPROTO;
    code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (code < 200 || code > 599)
        return QN_EPROTO;
    if (len > 3 && line[3] != ' ' && line[3] != '-')
        return QN_EPROTO;
    if (reply->n_lines > 0 && code != reply->code)
        return QN_EPROTO;
    if (reply->n_lines >= QN_SMTP_REPLY_LINES_MAX)
        return QN_ETOOBIG;
    text = len > 3 ? line + 4 : line + 3;
    text_len = len > 3 ? len - 4 : 0;
    sep_len = reply->n_lines > 0 ? 1 : 0;
    /* Keep room for the NUL after the text. */
    if (text_len + sep_len >= QN_SMTP_REPLY_MAX - reply->text_len)
        return QN_ETOOBIG;

    if (reply->n_lines == 0) {
        reply->code = code;
        enhanced_code(text, text_len, line[0], reply->enhanced);
    } else {
        reply->text[reply->text_len++] = '\n';
    }
    if (text_len > 0)
        memcpy(reply->text + reply->text_len, text, text_len);
    reply->text_len += text_len;
    reply->text[reply->text_len] = '\0';
    reply->n_lines++;
    reply->complete = len == 3 || line[3] == ' ';
    return QN_OK;
}

static void reply_reset(struct qn_smtp_reply *reply)
{
    reply->code = 0;
    reply->enhanced[0] = '\0';
    reply->text[0] = '\0';
    reply->text_len = 0;
    reply->n_lines = 0;
    reply->complete = false;
}

/* ---- DATA encoder -------------------------------------------------------------------------- */

struct data_encoder {
    bool line_start; /* the next byte starts a line: a '.' there must be doubled */
    bool after_cr;   /* the last byte was a CR, already sent as CRLF: an LF now belongs to it */
    bool done;       /* the final ".\r\n" has been produced */
    size_t stuffed;  /* dots added, for the RFC 1870 size (which excludes them) */
};

static void encoder_init(struct data_encoder *e)
{
    e->line_start = true;
    e->after_cr = false;
    e->done = false;
    e->stuffed = 0;
}

/*
 * Encode from IN[*pos] on into OUT (CAP >= 5 bytes), advancing *pos, until
 * OUT is full or the input is used up; then add the terminator when it
 * fits.  Returns the bytes written.  Each input byte gives at most 2.
 */
static size_t encoder_step(struct data_encoder *e, const char *in, size_t in_len, size_t *pos,
                           char *out, size_t cap)
{
    size_t o = 0;

    while (*pos < in_len && cap - o >= 2) {
        char c = in[(*pos)++];

        if (c == '\n' && e->after_cr) {
            e->after_cr = false;
            continue;
        }
        e->after_cr = c == '\r';
        if (c == '\r' || c == '\n') {
            out[o++] = '\r';
            out[o++] = '\n';
            e->line_start = true;
            continue;
        }
        if (c == '.' && e->line_start) {
            out[o++] = '.';
            e->stuffed++;
        }
        out[o++] = c;
        e->line_start = false;
    }
    if (*pos == in_len && !e->done && cap - o >= 5) {
        if (!e->line_start) {
            out[o++] = '\r';
            out[o++] = '\n';
        }
        memcpy(out + o, ".\r\n", 3);
        o += 3;
        e->done = true;
    }
    return o;
}

enum qn_status qn_smtp_encode_data(const char *msg, size_t len, struct qn_buf *out)
{
    struct data_encoder e;
    char chunk[512]; /* small on purpose: the tests cross chunk boundaries */
    size_t pos = 0, n;
    enum qn_status r;

    if (msg == NULL && len > 0)
        return QN_EINVAL;
    encoder_init(&e);
    while (!e.done) {
        n = encoder_step(&e, msg, len, &pos, chunk, sizeof chunk);
        r = qn_buf_append(out, chunk, n);
        if (r != QN_OK)
            return r;
    }
    return QN_OK;
}

/* ---- small helpers ------------------------------------------------------------------------- */

static void stage_done(struct qn_smtp *s, enum qn_stage stage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void stage_done(struct qn_smtp *s, enum qn_stage stage, const char *fmt, ...)
{
    char detail[STAGE_DETAIL_MAX];
    va_list ap;

    if (s->on_stage == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    s->on_stage(s->stage_arg, stage, detail);
}

/* "250 first line of the reply", sanitised, into OUT. */
static void reply_summary(const struct qn_smtp_reply *reply, char *out, size_t n)
{
    const char *nl = memchr(reply->text, '\n', reply->text_len);
    size_t first = nl != NULL ? (size_t)(nl - reply->text) : reply->text_len;
    int prefix = snprintf(out, n, "%d ", reply->code);

    if (prefix < 0 || (size_t)prefix + 8 > n)
        return;
    qn_text_sanitize_line(reply->text, first, out + prefix, n - (size_t)prefix);
}

/* The reply in s->reply is the failure: record it.  421 means the server is closing. */
static enum qn_status reply_failure(struct qn_smtp *s, enum qn_stage stage, struct qn_error *err)
{
    if (s->reply.code == 421)
        s->dead = true;
    return qn_error_set_reply(err, stage, s->reply.code, s->reply.text, s->reply.text_len);
}

static bool address_valid(const char *a)
{
    size_t n;

    if (a == NULL)
        return false;
    for (n = 0; a[n] != '\0'; n++) {
        unsigned char c = (unsigned char)a[n];

        if (n >= ADDRESS_LEN_MAX || c <= ' ' || c == 0x7f || c == '<' || c == '>')
            return false;
    }
    return n > 0;
}

/* HELO name: NAME or this host's name, reduced to [A-Za-z0-9.-]. */
static void make_helo(const char *name, char *out, size_t n)
{
    char host[256];
    size_t i, o = 0;

    if (name == NULL || name[0] == '\0') {
        if (gethostname(host, sizeof host) != 0)
            host[0] = '\0';
        host[sizeof host - 1] = '\0'; /* gethostname may not terminate a truncated name */
        name = host;
    }
    for (i = 0; name[i] != '\0' && o + 1 < n; i++) {
        char c = name[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '.' || c == '-')
            out[o++] = c;
    }
    out[o] = '\0';
    if (o == 0)
        snprintf(out, n, "localhost");
}

static enum qn_status session_usable(const struct qn_smtp *s, enum qn_stage stage,
                                     struct qn_error *err)
{
    if (s == NULL)
        return qn_error_set(err, QN_EINVAL, stage, "no SMTP session");
    if (s->dead || s->finished)
        return qn_error_set(err, QN_EINVAL, stage,
                            "the SMTP session is closed (earlier failure or QUIT)");
    return QN_OK;
}

/* ---- transport ----------------------------------------------------------------------------- */

static enum qn_status plain_write(struct qn_smtp *s, const char *p, size_t n, long long deadline,
                                  enum qn_stage stage, struct qn_error *err)
{
    while (n > 0) {
        ssize_t w = send(s->fd, p, n, MSG_NOSIGNAL);
        enum qn_status r;

        if (w >= 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            err->sys_errno = errno;
            if (errno == EPIPE || errno == ECONNRESET)
                return qn_error_set(err, QN_EEOF, stage,
                                    "the server closed the connection while we were sending");
            return qn_error_set(err, QN_EIO, stage, "send: %s", strerror(errno));
        }
        r = qn_wait_fd(s->fd, POLLOUT, deadline);
        if (r == QN_ETIMEOUT)
            return qn_error_set(err, QN_ETIMEOUT, stage, "timed out sending to the server");
        if (r != QN_OK) {
            err->sys_errno = errno;
            return qn_error_set(err, QN_EIO, stage, "poll: %s", strerror(errno));
        }
    }
    return QN_OK;
}

/* Send N bytes within the timeout.  Any failure leaves the session dead. */
static enum qn_status io_write(struct qn_smtp *s, const void *p, size_t n, enum qn_stage stage,
                               struct qn_error *err)
{
    long long deadline = qn_now_ms() + s->timeout_ms;
    enum qn_status r;

    if (s->ssl != NULL)
        r = qn_tls_write(s->ssl, s->fd, p, n, deadline, stage, err);
    else
        r = plain_write(s, p, n, deadline, stage, err);
    if (r == QN_ETIMEOUT)
        qn_error_set(err, QN_ETIMEOUT, stage, "the server accepted no data for %u s", s->timeout_s);
    if (r != QN_OK)
        s->dead = true;
    return r;
}

static enum qn_status plain_read(struct qn_smtp *s, char *p, size_t n, size_t *ret_n,
                                 long long deadline, enum qn_stage stage, struct qn_error *err)
{
    for (;;) {
        ssize_t got = recv(s->fd, p, n, 0);
        enum qn_status r;

        if (got > 0) {
            *ret_n = (size_t)got;
            return QN_OK;
        }
        if (got == 0)
            return qn_error_set(err, QN_EEOF, stage, "the server closed the connection");
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            err->sys_errno = errno;
            if (errno == ECONNRESET)
                return qn_error_set(err, QN_EEOF, stage, "the server reset the connection");
            return qn_error_set(err, QN_EIO, stage, "recv: %s", strerror(errno));
        }
        r = qn_wait_fd(s->fd, POLLIN, deadline);
        if (r == QN_ETIMEOUT)
            return qn_error_set(err, QN_ETIMEOUT, stage, "timed out waiting for the server");
        if (r != QN_OK) {
            err->sys_errno = errno;
            return qn_error_set(err, QN_EIO, stage, "poll: %s", strerror(errno));
        }
    }
}

/*
 * The next line of input, without its line break (CRLF, or a bare LF, which
 * some servers send), pointing into rbuf: valid until the next read.  A
 * line never needs more than rbuf, so input is bounded whatever the
 * server sends.
 */
static enum qn_status read_line(struct qn_smtp *s, long long deadline, enum qn_stage stage,
                                const char **ret_line, size_t *ret_len, struct qn_error *err)
{
    for (;;) {
        char *start = s->rbuf + s->rstart;
        size_t avail = s->rend - s->rstart;
        char *nl = memchr(start, '\n', avail);
        size_t got = 0;
        enum qn_status r;

        if (nl != NULL) {
            size_t len = (size_t)(nl - start);

            s->rstart += len + 1;
            if (len > 0 && start[len - 1] == '\r')
                len--;
            if (len > QN_SMTP_LINE_MAX)
                break;
            *ret_line = start;
            *ret_len = len;
            return QN_OK;
        }
        if (avail > QN_SMTP_LINE_MAX + 1)
            break;
        if (s->rstart > 0) {
            memmove(s->rbuf, start, avail);
            s->rstart = 0;
            s->rend = avail;
        }
        if (s->ssl != NULL)
            r = qn_tls_read(s->ssl, s->fd, s->rbuf + s->rend, sizeof s->rbuf - s->rend, &got,
                            deadline, stage, err);
        else
            r = plain_read(s, s->rbuf + s->rend, sizeof s->rbuf - s->rend, &got, deadline, stage,
                           err);
        if (r != QN_OK)
            return r;
        s->rend += got;
    }
    return qn_error_set(err, QN_ETOOBIG, stage, "a reply line is longer than %d bytes",
                        QN_SMTP_LINE_MAX);
}

/* Read one whole reply into s->reply within the timeout.  Failures leave the session dead. */
static enum qn_status read_reply(struct qn_smtp *s, enum qn_stage stage, struct qn_error *err)
{
    long long deadline = qn_now_ms() + s->timeout_ms;
    enum qn_status r = QN_OK;
    const char *line = NULL;
    size_t len = 0;
    char shown[80];

    reply_reset(&s->reply);
    while (!s->reply.complete) {
        r = read_line(s, deadline, stage, &line, &len, err);
        if (r == QN_ETIMEOUT)
            qn_error_set(err, QN_ETIMEOUT, stage, "no reply from the server within %u s",
                         s->timeout_s);
        if (r != QN_OK)
            break;
        /* A line that quotes the credentials loses them before anything sees it (the
         * line is in rbuf, ours to change). */
        if (s->redact != NULL)
            (void)qn_redact_apply(s->redact, s->rbuf + (line - s->rbuf), len, NULL);
        r = qn_smtp_reply_feed(&s->reply, line, len);
        if (r != QN_OK) {
            if (r == QN_ETOOBIG) {
                r = qn_error_set(err, QN_ETOOBIG, stage, "reply longer than %d lines or %d bytes",
                                 QN_SMTP_REPLY_LINES_MAX, QN_SMTP_REPLY_MAX);
            } else {
                qn_text_sanitize_line(line, len, shown, sizeof shown);
                r = qn_error_set(err, QN_EPROTO, stage, "malformed reply line: \"%s\"", shown);
            }
            break;
        }
    }
    if (r != QN_OK)
        s->dead = true;
    return r;
}

/* Send the command LINE (with its CRLF) and read the reply. */
static enum qn_status transact(struct qn_smtp *s, enum qn_stage stage, const char *line, size_t len,
                               struct qn_error *err)
{
    enum qn_status r = io_write(s, line, len, stage, err);

    if (r != QN_OK)
        return r;
    return read_reply(s, stage, err);
}

static enum qn_status commandf(struct qn_smtp *s, enum qn_stage stage, struct qn_error *err,
                               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Format a command (no secrets: the buffer is not wiped), send it, read the reply. */
static enum qn_status commandf(struct qn_smtp *s, enum qn_stage stage, struct qn_error *err,
                               const char *fmt, ...)
{
    char line[COMMAND_MAX];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof line)
        return qn_error_set(err, QN_ETOOBIG, stage, "command longer than %d bytes",
                            COMMAND_MAX - 1);
    return transact(s, stage, line, (size_t)n, err);
}

/* RSET after a refused transaction, so the session can send the next message. */
static void reset_transaction(struct qn_smtp *s)
{
    struct qn_error ignored;

    qn_error_clear(&ignored);
    if (s->dead)
        return;
    /* A session whose RSET fails is in an unknown state: retire it. */
    if (commandf(s, QN_STAGE_MAIL, &ignored, "RSET\r\n") != QN_OK || s->reply.code != 250)
        s->dead = true;
}

static enum qn_status transaction_failure(struct qn_smtp *s, enum qn_stage stage,
                                          struct qn_error *err)
{
    enum qn_status r = reply_failure(s, stage, err);

    reset_transaction(s);
    return r;
}

/* ---- connecting ---------------------------------------------------------------------------- */

static void address_text(const struct addrinfo *ai, char *out, size_t n)
{
    if (getnameinfo(ai->ai_addr, ai->ai_addrlen, out, (socklen_t)n, NULL, 0, NI_NUMERICHOST) != 0)
        snprintf(out, n, "?");
}

/* Connect to one address before DEADLINE.  Returns the socket, or -1 with the errno in *ret_errno.
 */
static int connect_one(const struct addrinfo *ai, long long deadline, int *ret_errno)
{
    int fd, soerr = 0;
    socklen_t len = sizeof soerr;
    enum qn_status w;

    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        *ret_errno = errno;
        return -1;
    }
    /* SMTP is a command/reply dialogue: every command is complete when it is
     * written, so Nagle's algorithm would only add a delayed-ACK wait (40 ms
     * on Linux) to the final "." of DATA and to TLS records split by OpenSSL.
     * Failure only costs latency. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
    /* EINTR on a non-blocking connect: the connection goes on in the background. */
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    if (errno != EINPROGRESS && errno != EINTR) {
        soerr = errno;
        goto fail;
    }
    w = qn_wait_fd(fd, POLLOUT, deadline);
    if (w == QN_ETIMEOUT) {
        soerr = ETIMEDOUT;
        goto fail;
    }
    if (w != QN_OK) {
        soerr = errno;
        goto fail;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
        soerr = errno;
    if (soerr == 0)
        return fd;
fail:
    *ret_errno = soerr;
    (void)close(fd); /* nothing to do if it fails: the socket was never used */
    return -1;
}

/* Errors that say only "this address family is not usable here". */
static bool errno_uninformative(int e)
{
    return e == ENETUNREACH || e == EAFNOSUPPORT || e == EADDRNOTAVAIL;
}

/* getaddrinfo()'s failure in English, as every detail is: gai_strerror() speaks the
 * language of LANGUAGE, which `--lang zh_CN` sets, and the catalog reads these words. */
static const char *resolve_error_text(int rc)
{
    switch (rc) {
    case EAI_NONAME:
        return "Name or service not known";
    case EAI_NODATA:
        return "No address associated with hostname";
    case EAI_AGAIN:
        return "Temporary failure in name resolution";
    case EAI_FAIL:
        return "Non-recoverable failure in name resolution";
    case EAI_MEMORY:
        return "Memory allocation failure";
    default:
        return gai_strerror(rc);
    }
}

static enum qn_status connect_server(struct qn_smtp *s, unsigned port, struct qn_error *err)
{
    struct addrinfo hints, *list = NULL, *ai;
    char service[8], addr[64], failed_addr[64] = "", names[STAGE_DETAIL_MAX] = "";
    size_t count = 0, tried = 0, used = 0;
    int rc, failed_errno = 0, e;
    enum qn_status r;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV;
    snprintf(service, sizeof service, "%u", port);
    rc = getaddrinfo(s->host, service, &hints, &list);
    /* The catalog reads this detail: the host, a colon, the resolver's words (diag.h). */
    if (rc != 0) {
        if (rc == EAI_SYSTEM) {
            err->sys_errno = errno;
            return qn_error_set(err, QN_ERESOLVE, QN_STAGE_RESOLVE, "cannot resolve %s: %s",
                                s->host, strerror(errno));
        }
        return qn_error_set(err, QN_ERESOLVE, QN_STAGE_RESOLVE, "cannot resolve %s: %s", s->host,
                            resolve_error_text(rc));
    }
    for (ai = list; ai != NULL; ai = ai->ai_next) {
        count++;
        address_text(ai, addr, sizeof addr);
        if (used + strlen(addr) + 3 < sizeof names)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
                                     used > 0 ? ", " : "", addr);
    }
    stage_done(s, QN_STAGE_RESOLVE, "%s \xe2\x86\x92 %zu address%s: %s", s->host, count,
               count == 1 ? "" : "es", names);

    for (ai = list; ai != NULL && tried < ADDRESSES_MAX; ai = ai->ai_next) {
        tried++;
        address_text(ai, addr, sizeof addr);
        s->fd = connect_one(ai, qn_now_ms() + s->timeout_ms, &e);
        if (s->fd >= 0)
            break;
        /* Keep the last error, unless it only says the address family is
         * unusable here (no IPv6 route) and an earlier one said more. */
        if (failed_errno == 0 || !errno_uninformative(e) || errno_uninformative(failed_errno)) {
            failed_errno = e;
            snprintf(failed_addr, sizeof failed_addr, "%s%s%s",
                     ai->ai_family == AF_INET6 ? "[" : "", addr,
                     ai->ai_family == AF_INET6 ? "]" : "");
        }
    }
    freeaddrinfo(list);
    if (s->fd < 0) {
        err->sys_errno = failed_errno;
        r = failed_errno == ETIMEDOUT ? QN_ETIMEOUT : QN_ECONNECT;
        if (tried > 1)
            return qn_error_set(err, r, QN_STAGE_CONNECT,
                                "connect to %s:%u: %s (%zu addresses tried)", failed_addr, port,
                                strerror(failed_errno), tried);
        return qn_error_set(err, r, QN_STAGE_CONNECT, "connect to %s:%u: %s", failed_addr, port,
                            strerror(failed_errno));
    }
    stage_done(s, QN_STAGE_CONNECT, "connected to %s port %u", addr, port);
    return QN_OK;
}

static enum qn_status start_tls(struct qn_smtp *s, struct qn_error *err)
{
    char text[STAGE_DETAIL_MAX];
    enum qn_status r;

    r = qn_tls_connect(s->tls, s->fd, s->host, qn_now_ms() + s->timeout_ms, &s->ssl, err);
    if (r == QN_ETIMEOUT)
        qn_error_set(err, QN_ETIMEOUT, QN_STAGE_TLS, "TLS handshake not finished within %u s",
                     s->timeout_s);
    if (r != QN_OK) {
        s->dead = true;
        return r;
    }
    qn_tls_describe(s->ssl, s->tls_verify, text, sizeof text);
    stage_done(s, QN_STAGE_TLS, "%s", text);
    return QN_OK;
}

/* ---- EHLO ---------------------------------------------------------------------------------- */

static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    const char *p = list;

    while ((p = strstr(p, word)) != NULL) {
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
        p += n;
    }
    return false;
}

/* Append WORD to the space-separated LIST (CAP bytes) unless present or it does not fit. */
static void add_word(char *list, size_t cap, const char *word)
{
    size_t used = strlen(list), n = strlen(word);

    if (has_word(list, word) || used + n + 2 > cap)
        return;
    if (used > 0)
        list[used++] = ' ';
    memcpy(list + used, word, n + 1);
}

/*
 * Take the next token of [A-Za-z0-9_-] characters from P (N bytes) into
 * WORD upper-cased, skipping leading separators.  Returns the bytes used,
 * 0 at the end.  A token that is too long or has other bytes gives an
 * empty WORD, so that it is skipped.
 */
static size_t next_token(const char *p, size_t n, char word[KEYWORD_MAX + 1])
{
    size_t i = 0, len = 0;
    bool valid = true;

    while (i < n && (p[i] == ' ' || p[i] == '='))
        i++;
    if (i == n)
        return 0;
    for (; i < n && p[i] != ' ' && p[i] != '='; i++) {
        char c = p[i];

        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (!((c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' || c == '_') || len == KEYWORD_MAX)
            valid = false;
        else
            word[len++] = c;
    }
    word[valid ? len : 0] = '\0';
    return i;
}

/* One EHLO line after the first: "KEYWORD params" (or the old "AUTH=LOGIN"). */
static void parse_extension(struct qn_smtp *s, const char *line, size_t n)
{
    char keyword[KEYWORD_MAX + 1], word[KEYWORD_MAX + 1];
    size_t used = next_token(line, n, keyword), step;
    unsigned long long size = 0;

    if (used == 0 || keyword[0] == '\0')
        return;
    add_word(s->ext, sizeof s->ext, keyword);
    if (strcmp(keyword, "STARTTLS") == 0) {
        s->ext_flags |= EXT_STARTTLS;
    } else if (strcmp(keyword, "8BITMIME") == 0) {
        s->ext_flags |= EXT_8BITMIME;
    } else if (strcmp(keyword, "SIZE") == 0) {
        s->ext_flags |= EXT_SIZE;
        while (used < n && line[used] == ' ')
            used++;
        /* A value that does not fit is as good as no limit. */
        for (; used < n && is_digit(line[used]) && size < 1000000000000ULL; used++)
            size = size * 10 + (unsigned long long)(line[used] - '0');
        s->size_max = size;
    } else if (strcmp(keyword, "AUTH") == 0) {
        s->ext_flags |= EXT_AUTH;
        while ((step = next_token(line + used, n - used, word)) > 0) {
            used += step;
            if (word[0] == '\0')
                continue;
            add_word(s->auth_mechs, sizeof s->auth_mechs, word);
            if (strcmp(word, "PLAIN") == 0)
                s->ext_flags |= EXT_AUTH_PLAIN;
            else if (strcmp(word, "LOGIN") == 0)
                s->ext_flags |= EXT_AUTH_LOGIN;
        }
    }
}

static enum qn_status ehlo(struct qn_smtp *s, struct qn_error *err)
{
    const char *p, *end, *nl;
    enum qn_status r;

    /* RFC 3207: forget everything learnt before TLS. */
    s->ext_flags = 0;
    s->size_max = 0;
    s->ext[0] = '\0';
    s->auth_mechs[0] = '\0';
    r = commandf(s, QN_STAGE_EHLO, err, "EHLO %s\r\n", s->helo);
    if (r != QN_OK)
        return r;
    if (s->reply.code != 250)
        return reply_failure(s, QN_STAGE_EHLO, err);
    /* The first line is the server's name and greeting, not an extension. */
    p = s->reply.text;
    end = p + s->reply.text_len;
    nl = memchr(p, '\n', (size_t)(end - p));
    while (nl != NULL) {
        p = nl + 1;
        nl = memchr(p, '\n', (size_t)(end - p));
        parse_extension(s, p, (size_t)((nl != NULL ? nl : end) - p));
    }
    stage_done(s, QN_STAGE_EHLO, "extensions: %s%s%s", s->ext[0] != '\0' ? s->ext : "(none)",
               s->auth_mechs[0] != '\0' ? "; AUTH mechanisms: " : "", s->auth_mechs);
    return QN_OK;
}

/* ---- the session --------------------------------------------------------------------------- */

enum qn_status qn_smtp_open(struct qn_smtp **ret, const struct qn_smtp_options *opt,
                            struct qn_error *err)
{
    struct qn_error scratch;
    struct qn_smtp *s = NULL;
    char summary[STAGE_DETAIL_MAX];
    enum qn_status r;
    size_t discarded;

    if (err == NULL)
        err = &scratch;
    qn_error_clear(err);
    *ret = NULL;
    if (opt == NULL || opt->host == NULL || opt->host[0] == '\0' ||
        strlen(opt->host) >= sizeof s->host)
        return qn_error_set(err, QN_EINVAL, QN_STAGE_CONFIG, "no valid SMTP host name");
    if (opt->port == 0 || opt->port > 65535)
        return qn_error_set(err, QN_EINVAL, QN_STAGE_CONFIG, "SMTP port %u out of range",
                            opt->port);
    if (opt->tls != QN_TLS_IMPLICIT && opt->tls != QN_TLS_STARTTLS)
        return qn_error_set(err, QN_EINVAL, QN_STAGE_CONFIG, "unknown TLS mode %d", (int)opt->tls);

    s = calloc(1, sizeof *s);
    if (s == NULL)
        return qn_error_set(err, QN_ENOMEM, QN_STAGE_LOCAL, "cannot allocate the SMTP session");
    s->fd = -1;
    s->timeout_s = opt->timeout_s > 0 ? opt->timeout_s : DEFAULT_TIMEOUT_S;
    s->timeout_ms = (long long)s->timeout_s * 1000;
    s->on_stage = opt->on_stage;
    s->stage_arg = opt->stage_arg;
    s->tls_verify = opt->tls_opts.verify;
    snprintf(s->host, sizeof s->host, "%s", opt->host);
    make_helo(opt->helo_name, s->helo, sizeof s->helo);

    /* Before any network traffic, so a bad ca_file is reported as such. */
    r = qn_tls_ctx_new(&s->tls, &opt->tls_opts, err);
    if (r != QN_OK)
        goto out;
    r = connect_server(s, opt->port, err);
    if (r != QN_OK)
        goto out;
    if (opt->tls == QN_TLS_IMPLICIT) {
        r = start_tls(s, err);
        if (r != QN_OK)
            goto out;
    }

    r = read_reply(s, QN_STAGE_GREETING, err);
    if (r != QN_OK)
        goto out;
    if (s->reply.code != 220) {
        r = reply_failure(s, QN_STAGE_GREETING, err);
        goto out;
    }
    reply_summary(&s->reply, summary, sizeof summary);
    stage_done(s, QN_STAGE_GREETING, "%s", summary);
    r = ehlo(s, err);
    if (r != QN_OK)
        goto out;

    if (opt->tls == QN_TLS_STARTTLS) {
        if (!(s->ext_flags & EXT_STARTTLS)) {
            r = qn_error_set(err, QN_ESTARTTLS, QN_STAGE_STARTTLS,
                             "the server did not offer STARTTLS; refusing to go on without TLS");
            goto out;
        }
        r = commandf(s, QN_STAGE_STARTTLS, err, "STARTTLS\r\n");
        if (r != QN_OK)
            goto out;
        if (s->reply.code != 220) {
            /* Keep the server's reply, but the status says what it means here. */
            reply_failure(s, QN_STAGE_STARTTLS, err);
            err->verdict = QN_VERDICT_NONE;
            r = qn_error_set(err, QN_ESTARTTLS, QN_STAGE_STARTTLS,
                             "the server refused STARTTLS; refusing to go on without TLS");
            goto out;
        }
        /* RFC 3207: whatever arrived before the handshake was not protected
         * (a man in the middle can inject replies there): drop it. */
        discarded = s->rend - s->rstart;
        s->rstart = 0;
        s->rend = 0;
        if (discarded > 0)
            stage_done(s, QN_STAGE_STARTTLS,
                       "server ready for TLS; discarded %zu bytes received before the handshake",
                       discarded);
        else
            stage_done(s, QN_STAGE_STARTTLS, "server ready for TLS");
        r = start_tls(s, err);
        if (r != QN_OK)
            goto out;
        r = ehlo(s, err);
        if (r != QN_OK)
            goto out;
    }
    *ret = s;
    s = NULL;
    r = QN_OK;
out:
    qn_smtp_close(s);
    return r;
}

/* base64 of N bytes at IN into OUT, which holds BASE64_LEN(N) + 1 bytes. */
static size_t base64(const void *in, size_t n, char *out)
{
    return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* The AUTH PLAIN response before base64, "\0user\0secret" (RFC 4616, empty authorization
 * identity), into RAW (room for 2 + QN_ADDR_MAX + SECRET_MAX bytes); its length. */
static size_t plain_response(unsigned char *raw, const char *user, size_t user_len,
                             const char *secret, size_t secret_len)
{
    size_t n = 0;

    raw[n++] = '\0';
    memcpy(raw + n, user, user_len);
    n += user_len;
    raw[n++] = '\0';
    memcpy(raw + n, secret, secret_len);
    return n + secret_len;
}

/*
 * A server that quotes the credentials in its refusal (some echo the AUTH line back, whole
 * or in part) must not carry them into ERR, which is printed, logged and kept in the spool:
 * each reply line read during AUTH is redacted (read_reply), and so is what ERR made of
 * them (sanitising may join what a line break kept apart).
 */
static void redact_error(const struct qn_redact *rd, struct qn_error *err)
{
    (void)qn_redact_apply(rd, err->server_text, strnlen(err->server_text, sizeof err->server_text),
                          NULL);
    (void)qn_redact_apply(rd, err->detail, strnlen(err->detail, sizeof err->detail), NULL);
}

static enum qn_status auth_plain(struct qn_smtp *s, const char *user, size_t user_len,
                                 const char *secret, size_t secret_len, struct qn_error *err)
{
    /* "\0user\0secret" (RFC 4616, empty authorization identity) */
    unsigned char raw[2 + QN_ADDR_MAX + SECRET_MAX];
    char line[sizeof "AUTH PLAIN \r\n" + BASE64_LEN(sizeof raw)];
    size_t n, len;
    enum qn_status r;

    n = plain_response(raw, user, user_len, secret, secret_len);
    memcpy(line, "AUTH PLAIN ", 11);
    len = 11 + base64(raw, n, line + 11);
    memcpy(line + len, "\r\n", 2);
    r = transact(s, QN_STAGE_AUTH, line, len + 2, err);
    OPENSSL_cleanse(raw, sizeof raw);
    OPENSSL_cleanse(line, sizeof line);
    if (r != QN_OK)
        return r;
    if (s->reply.code != 235)
        return reply_failure(s, QN_STAGE_AUTH, err);
    return QN_OK;
}

static enum qn_status auth_login(struct qn_smtp *s, const char *user, size_t user_len,
                                 const char *secret, size_t secret_len, struct qn_error *err)
{
    char line[BASE64_LEN(SECRET_MAX > QN_ADDR_MAX ? SECRET_MAX : QN_ADDR_MAX) + 3];
    size_t len = 0;
    enum qn_status r;

    r = commandf(s, QN_STAGE_AUTH, err, "AUTH LOGIN\r\n");
    if (r != QN_OK)
        return r;
    if (s->reply.code != 334)
        return reply_failure(s, QN_STAGE_AUTH, err);
    len = base64(user, user_len, line);
    memcpy(line + len, "\r\n", 2);
    r = transact(s, QN_STAGE_AUTH, line, len + 2, err);
    if (r != QN_OK)
        goto out;
    if (s->reply.code != 334) {
        r = reply_failure(s, QN_STAGE_AUTH, err);
        goto out;
    }
    len = base64(secret, secret_len, line);
    memcpy(line + len, "\r\n", 2);
    r = transact(s, QN_STAGE_AUTH, line, len + 2, err);
    if (r != QN_OK)
        goto out;
    if (s->reply.code != 235)
        r = reply_failure(s, QN_STAGE_AUTH, err);
out:
    OPENSSL_cleanse(line, sizeof line);
    return r;
}

enum qn_status qn_smtp_auth(struct qn_smtp *s, const char *user, const char *secret,
                            size_t secret_len, struct qn_error *err)
{
    unsigned char blob[2 + QN_ADDR_MAX + SECRET_MAX];
    struct qn_redact rd;
    struct qn_error scratch;
    const char *mechanism;
    size_t user_len, blob_len, i;
    enum qn_status r;

    if (err == NULL)
        err = &scratch;
    qn_error_clear(err);
    r = session_usable(s, QN_STAGE_AUTH, err);
    if (r != QN_OK)
        return r;
    if (s->ssl == NULL)
        return qn_error_set(err, QN_ESTARTTLS, QN_STAGE_AUTH,
                            "refusing to authenticate on a connection without TLS");
    user_len = user != NULL ? strnlen(user, QN_ADDR_MAX) : 0;
    if (user_len == 0 || user_len >= QN_ADDR_MAX)
        return qn_error_set(err, QN_EINVAL, QN_STAGE_AUTH, "the user name is empty or too long");
    for (i = 0; i < user_len; i++)
        if ((unsigned char)user[i] < ' ' || user[i] == 0x7f)
            return qn_error_set(err, QN_EINVAL, QN_STAGE_AUTH,
                                "the user name contains a control character");
    /* Describe the secret's shape only, never its content. */
    if (secret == NULL || secret_len == 0 || secret_len > SECRET_MAX)
        return qn_error_set(err, QN_EINVAL, QN_STAGE_AUTH,
                            "the secret is empty or longer than %d bytes", SECRET_MAX);
    if (memchr(secret, '\0', secret_len) != NULL)
        return qn_error_set(err, QN_EINVAL, QN_STAGE_AUTH, "the secret contains a NUL byte");

    if (!(s->ext_flags & (EXT_AUTH_PLAIN | EXT_AUTH_LOGIN))) {
        if (s->ext_flags & EXT_AUTH)
            return qn_error_set(err, QN_EPROTO, QN_STAGE_AUTH,
                                "the server offers AUTH %s; qqnotify supports PLAIN and LOGIN",
                                s->auth_mechs);
        return qn_error_set(err, QN_EPROTO, QN_STAGE_AUTH,
                            "the server offers no AUTH after EHLO (extensions: %s)",
                            s->ext[0] != '\0' ? s->ext : "none");
    }
    /* What a reply must not show: the secret (raw and base64, LOGIN's form) and AUTH PLAIN's
     * argument; both point at buffers that live until the end of this function. */
    blob_len = plain_response(blob, user, user_len, secret, secret_len);
    qn_redact_init(&rd);
    (void)qn_redact_add(&rd, secret, secret_len, QN_REDACT_RAW | QN_REDACT_BASE64);
    (void)qn_redact_add(&rd, blob, blob_len, QN_REDACT_BASE64);
    s->redact = &rd;
    if (s->ext_flags & EXT_AUTH_PLAIN) {
        mechanism = "PLAIN";
        r = auth_plain(s, user, user_len, secret, secret_len, err);
    } else {
        mechanism = "LOGIN";
        r = auth_login(s, user, user_len, secret, secret_len, err);
    }
    s->redact = NULL;
    if (r != QN_OK)
        redact_error(&rd, err);
    OPENSSL_cleanse(blob, sizeof blob);
    if (r != QN_OK)
        return r;
    stage_done(s, QN_STAGE_AUTH, "AUTH %s accepted", mechanism);
    return QN_OK;
}

/* Before MAIL FROM: the session still works and FROM is a plain address. */
static enum qn_status mail_preamble(struct qn_smtp *s, const char *from, struct qn_error *err)
{
    enum qn_status r = session_usable(s, QN_STAGE_MAIL, err);

    if (r != QN_OK)
        return r;
    if (!address_valid(from))
        return qn_error_set(err, QN_EINVAL, QN_STAGE_MAIL, "the sender address is not valid");
    return QN_OK;
}

enum qn_status qn_smtp_probe_sender(struct qn_smtp *s, const char *from, struct qn_error *err)
{
    struct qn_error scratch;
    char summary[STAGE_DETAIL_MAX];
    enum qn_status r;

    if (err == NULL)
        err = &scratch;
    qn_error_clear(err);
    r = mail_preamble(s, from, err);
    if (r != QN_OK)
        return r;
    r = commandf(s, QN_STAGE_MAIL, err, "MAIL FROM:<%s>\r\n", from);
    if (r != QN_OK)
        return r;
    if (s->reply.code != 250)
        return transaction_failure(s, QN_STAGE_MAIL, err);
    reply_summary(&s->reply, summary, sizeof summary);
    r = commandf(s, QN_STAGE_MAIL, err, "RSET\r\n");
    if (r != QN_OK)
        return r;
    if (s->reply.code != 250)
        return reply_failure(s, QN_STAGE_MAIL, err);
    stage_done(s, QN_STAGE_MAIL, "MAIL FROM:<%s> accepted: %s", from, summary);
    return QN_OK;
}

/* Encoded size of MSG for RFC 1870 (CRLF-normalised, without stuffing or the final dot). */
static size_t message_size(struct qn_smtp *s, const char *msg, size_t len, bool *ret_8bit)
{
    struct data_encoder e;
    size_t pos = 0, total = 0, i;

    *ret_8bit = false;
    for (i = 0; i < len && !*ret_8bit; i++)
        *ret_8bit = (unsigned char)msg[i] >= 0x80;
    encoder_init(&e);
    while (!e.done)
        total += encoder_step(&e, msg, len, &pos, s->chunk, sizeof s->chunk);
    return total - e.stuffed - 3;
}

enum qn_status qn_smtp_send(struct qn_smtp *s, const char *from, const char *const *rcpt,
                            size_t n_rcpt, const char *msg, size_t len, struct qn_error *err)
{
    struct qn_error scratch;
    struct data_encoder e;
    char params[64] = "", summary[STAGE_DETAIL_MAX];
    size_t i, pos = 0, size, n;
    bool eight_bit;
    enum qn_status r;

    if (err == NULL)
        err = &scratch;
    qn_error_clear(err);
    r = mail_preamble(s, from, err);
    if (r != QN_OK)
        return r;
    if (rcpt == NULL || n_rcpt == 0)
        return qn_error_set(err, QN_EINVAL, QN_STAGE_RCPT, "no recipient");
    for (i = 0; i < n_rcpt; i++)
        if (!address_valid(rcpt[i]))
            return qn_error_set(err, QN_EINVAL, QN_STAGE_RCPT,
                                "recipient %zu is not a valid address", i + 1);
    if (msg == NULL && len > 0)
        return qn_error_set(err, QN_EINVAL, QN_STAGE_DATA, "no message");

    size = message_size(s, msg, len, &eight_bit);
    if (s->size_max > 0 && size > s->size_max)
        return qn_error_set(err, QN_ETOOBIG, QN_STAGE_MAIL,
                            "the message is %zu bytes; the server accepts at most %llu", size,
                            s->size_max);
    if (s->ext_flags & EXT_SIZE)
        snprintf(params, sizeof params, " SIZE=%zu", size);
    if (eight_bit && (s->ext_flags & EXT_8BITMIME))
        snprintf(params + strlen(params), sizeof params - strlen(params), " BODY=8BITMIME");

    r = commandf(s, QN_STAGE_MAIL, err, "MAIL FROM:<%s>%s\r\n", from, params);
    if (r != QN_OK)
        return r;
    if (s->reply.code != 250)
        return transaction_failure(s, QN_STAGE_MAIL, err);
    stage_done(s, QN_STAGE_MAIL, "MAIL FROM:<%s> accepted", from);
    for (i = 0; i < n_rcpt; i++) {
        r = commandf(s, QN_STAGE_RCPT, err, "RCPT TO:<%s>\r\n", rcpt[i]);
        if (r != QN_OK)
            return r;
        if (s->reply.code != 250 && s->reply.code != 251)
            return transaction_failure(s, QN_STAGE_RCPT, err);
    }
    stage_done(s, QN_STAGE_RCPT, "%zu recipient%s accepted", n_rcpt, n_rcpt == 1 ? "" : "s");
    r = commandf(s, QN_STAGE_DATA, err, "DATA\r\n");
    if (r != QN_OK)
        return r;
    if (s->reply.code != 354)
        return transaction_failure(s, QN_STAGE_DATA, err);

    encoder_init(&e);
    while (!e.done) {
        n = encoder_step(&e, msg, len, &pos, s->chunk, sizeof s->chunk);
        r = io_write(s, s->chunk, n, QN_STAGE_DATA, err);
        if (r != QN_OK)
            return r;
    }
    r = read_reply(s, QN_STAGE_DATA, err);
    if (r != QN_OK)
        return r;
    /* After the final dot the transaction is over whatever the answer: no RSET. */
    if (s->reply.code != 250)
        return reply_failure(s, QN_STAGE_DATA, err);
    reply_summary(&s->reply, summary, sizeof summary);
    stage_done(s, QN_STAGE_DATA, "message accepted: %s", summary);
    return QN_OK;
}

enum qn_status qn_smtp_quit(struct qn_smtp *s, struct qn_error *err)
{
    struct qn_error scratch;
    enum qn_status r;

    if (err == NULL)
        err = &scratch;
    qn_error_clear(err);
    r = session_usable(s, QN_STAGE_QUIT, err);
    if (r != QN_OK)
        return r;
    s->finished = true;
    r = commandf(s, QN_STAGE_QUIT, err, "QUIT\r\n");
    if (r != QN_OK)
        return r;
    if (s->reply.code != 221)
        return reply_failure(s, QN_STAGE_QUIT, err);
    stage_done(s, QN_STAGE_QUIT, "server said goodbye");
    return QN_OK;
}

struct qn_smtp *qn_smtp_close(struct qn_smtp *s)
{
    if (s == NULL)
        return NULL;
    if (s->ssl != NULL) {
        if (!s->dead)
            qn_tls_close(s->ssl);
        SSL_free(s->ssl);
    }
    if (s->fd >= 0)
        (void)close(s->fd); /* nothing useful to do on failure: the session is over */
    qn_tls_ctx_free(s->tls);
    OPENSSL_cleanse(s, sizeof *s);
    free(s);
    return NULL;
}

const char *qn_smtp_extensions(const struct qn_smtp *s)
{
    return s != NULL ? s->ext : "";
}
