/*
 * smtp — SMTP submission client (RFC 5321, RFC 3207 STARTTLS, RFC 4954
 * AUTH, RFC 4616 PLAIN, RFC 2034 enhanced status codes, RFC 8314 implicit
 * TLS).
 *
 * One struct qn_smtp is one session: qn_smtp_open() resolves the host,
 * connects (every address, IPv6 and IPv4, each within the timeout), does
 * TLS (implicit) or plain greeting + EHLO + STARTTLS (mandatory: if not
 * offered or refused, stop; nothing is ever authenticated in clear), reads
 * the greeting and EHLO.  After STARTTLS every byte buffered from before the
 * handshake is discarded and EHLO is sent again.  qn_smtp_auth() uses
 * PLAIN or LOGIN, whichever the server offers.  qn_smtp_send() may be called
 * many times per session.  Every read and write has a deadline; a reply
 * line is capped at QN_SMTP_LINE_MAX bytes and a multi-line reply at
 * QN_SMTP_REPLY_LINES_MAX lines and QN_SMTP_REPLY_MAX bytes.
 *
 * DATA: the message is sent with CRLF normalisation (a bare LF or a bare CR
 * becomes CRLF) and dot-stuffing, then "CRLF.CRLF": no byte of the message
 * can end it early.  It is encoded and sent in fixed-size chunks, so a
 * session's memory does not grow with the message (qn_smtp_encode_data()
 * is the same encoder writing to a buffer).
 *
 * Memory: a session is one fixed-size allocation (reply, read buffer, data
 * chunk; about 30 KiB) plus OpenSSL's; nothing the server sends can make
 * it grow.  Signals: plain-socket writes use send(MSG_NOSIGNAL) and TLS
 * writes go through tls's MSG_NOSIGNAL BIO, so a reset never raises SIGPIPE.
 *
 * Secrets: the credential passed to qn_smtp_auth() is copied only into
 * buffers that are wiped; never into struct qn_error or logs.
 *
 * Errors: every function returns an enum qn_status and fills the
 * struct qn_error with stage, reply and verdict.  Thread-safety: one
 * session per thread.
 */
#ifndef QN_SMTP_H
#define QN_SMTP_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "diag.h"
#include "status.h"
#include "tls.h"

#define QN_SMTP_LINE_MAX        1024
#define QN_SMTP_REPLY_LINES_MAX 100
#define QN_SMTP_REPLY_MAX       8192

/* A parsed (possibly multi-line) reply. */
struct qn_smtp_reply {
    int code;                     /* 200..599 once complete */
    char enhanced[16];            /* "2.0.0" when the server sent one, else "" */
    char text[QN_SMTP_REPLY_MAX]; /* raw text of all lines after the code, joined by '\n' */
    size_t text_len;              /* < QN_SMTP_REPLY_MAX; text[text_len] is '\0' */
    size_t n_lines;               /* lines fed so far */
    bool complete;                /* the last line ("250 ...") has been seen */
};

/*
 * Feed one reply line (without its CRLF) of LEN bytes, at most
 * QN_SMTP_LINE_MAX.  Returns QN_OK and sets reply->complete on the final
 * line; QN_EPROTO for a malformed line (no three-digit code 200-599,
 * separator not ' ' or '-', code changing between lines); QN_ETOOBIG past
 * the line bound, at a line beyond QN_SMTP_REPLY_LINES_MAX, or when the joined
 * text would not fit text[] with its NUL; QN_EINVAL when the reply is
 * already complete.  A bare code ("250") is a valid final line with empty
 * text.  The text is kept raw (it may contain NUL bytes: use text_len).
 * The enhanced code is taken from the first line when its text starts
 * with "class.subject.detail" whose class matches the reply code's first
 * digit (RFC 3463).  On error the reply is left as it was.  Start with a
 * zeroed struct.  Pure function: used by the client, the unit tests and
 * the fuzzer.
 */
enum qn_status qn_smtp_reply_feed(struct qn_smtp_reply *reply, const char *line, size_t len);

/*
 * Called after each stage succeeds, for `qqnotify check`.  DETAIL is English
 * and sanitised (server text passes through qn_text_sanitize_line).
 * Order: RESOLVE, CONNECT, then TLS, GREETING, EHLO (implicit TLS) or
 * GREETING, EHLO, STARTTLS, TLS, EHLO (STARTTLS); AUTH; MAIL in
 * qn_smtp_probe_sender(); MAIL, RCPT, DATA in qn_smtp_send(); QUIT.
 */
typedef void (*qn_smtp_stage_cb)(void *arg, enum qn_stage stage, const char *detail);

struct qn_smtp_options {
    const char *host;
    unsigned port;
    enum qn_tls_mode tls;
    unsigned timeout_s;    /* per operation (connect to each address, handshake, each
                              reply, each write); 0 means 30 */
    const char *helo_name; /* NULL or "": gethostname(); either way reduced to
                              [A-Za-z0-9.-], "localhost" when nothing is left */
    struct qn_tls_options tls_opts;
    qn_smtp_stage_cb on_stage; /* may be NULL */
    void *stage_arg;
};

struct qn_smtp;

/*
 * Connect, TLS, greeting, EHLO (STARTTLS, EHLO).  *ret is NULL on failure.
 * Errors: QN_EINVAL/stage CONFIG (no host, port 0 or > 65535, unknown TLS
 * mode), QN_ERESOLVE (gai_strerror in detail), QN_ECONNECT or QN_ETIMEOUT
 * (errno of the most telling address, "connect to 1.2.3.4:465: Connection
 * refused"), QN_ETLS, QN_EEOF, QN_ETIMEOUT, QN_EPROTO/QN_ETOOBIG (bad
 * reply), QN_ESTARTTLS (not offered, or refused: then the reply is in
 * err too), reply statuses from qn_error_set_reply().
 */
enum qn_status qn_smtp_open(struct qn_smtp **ret, const struct qn_smtp_options *opt,
                            struct qn_error *err);

/*
 * AUTH PLAIN or LOGIN with USER and the SECRET_LEN bytes at SECRET (1 to
 * 1024 bytes, no NUL).  Refuses (QN_ESTARTTLS) on a session without TLS.
 * QN_EPROTO when the server offers neither mechanism; QN_EAUTH for
 * 535/534/530 (via qn_error_set_reply()).
 */
enum qn_status qn_smtp_auth(struct qn_smtp *s, const char *user, const char *secret,
                            size_t secret_len, struct qn_error *err);

/*
 * MAIL FROM:<from>, then RSET: checks the sender without sending anything.
 * Addresses here and in qn_smtp_send() are refused (QN_EINVAL) when empty,
 * longer than 254 bytes or containing a space, a control character, '<' or '>'.
 */
enum qn_status qn_smtp_probe_sender(struct qn_smtp *s, const char *from, struct qn_error *err);

/*
 * MAIL FROM, RCPT TO for each recipient, DATA, the message, ".".  Success
 * means the server answered 250 after the final dot.  A recipient refused
 * with 5xx fails the whole message (QN_EREJECT, stage RCPT) after RSET so
 * the session stays usable (the same for any refusal before the message
 * is sent).  MAIL FROM carries SIZE= when the server announced SIZE, and
 * BODY=8BITMIME for a message with 8-bit bytes when it announced 8BITMIME.
 * A message larger than the announced SIZE fails locally (QN_ETOOBIG,
 * stage MAIL).  After a transport failure (timeout, closed connection, TLS
 * error, malformed reply) the session is unusable: every later call
 * returns QN_EINVAL; close it and open a new one.
 */
enum qn_status qn_smtp_send(struct qn_smtp *s, const char *from, const char *const *rcpt,
                            size_t n_rcpt, const char *msg, size_t len, struct qn_error *err);

/* QUIT and wait for the reply (errors ignored beyond err). */
enum qn_status qn_smtp_quit(struct qn_smtp *s, struct qn_error *err);

/* Close the connection and free; accepts NULL; returns NULL. */
struct qn_smtp *qn_smtp_close(struct qn_smtp *s);

/* The EHLO keywords the server announced (upper-case, space separated). */
const char *qn_smtp_extensions(const struct qn_smtp *s);

/*
 * Append to OUT the bytes DATA sends for the LEN-byte message MSG: bare LF
 * and bare CR become CRLF, a '.' starting a line is doubled, a CRLF is
 * added when the message does not end with a line break, then ".\r\n".
 * QN_ETOOBIG when OUT's max is reached (OUT then holds part of the
 * output), QN_ENOMEM, QN_EINVAL for MSG NULL with LEN > 0.  At most
 * 2 * LEN + 5 bytes.  Pure function, for tests and the fuzzer.
 */
enum qn_status qn_smtp_encode_data(const char *msg, size_t len, struct qn_buf *out);

#endif
