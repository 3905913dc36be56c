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
 * can end it early.
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

#include "config.h"
#include "diag.h"
#include "status.h"
#include "tls.h"

#define QN_SMTP_LINE_MAX 1024
#define QN_SMTP_REPLY_LINES_MAX 100
#define QN_SMTP_REPLY_MAX 8192

/* A parsed (possibly multi-line) reply. */
struct qn_smtp_reply {
    int code;                          /* 200..599 once complete */
    char enhanced[16];                 /* "2.0.0" when the server sent one, else "" */
    char text[QN_SMTP_REPLY_MAX];      /* raw text of all lines after the code, joined by '\n' */
    size_t text_len;
    size_t n_lines;
    bool complete;                     /* the last line ("250 ...") has been seen */
};

/*
 * Feed one reply line (without its CRLF) of LEN bytes.  Returns QN_OK and
 * sets reply->complete on the final line; QN_EPROTO for a malformed line
 * (no three-digit code 200-599, separator not ' ' or '-', code changing
 * between lines); QN_ETOOBIG past the line or reply bounds.  Start with a
 * zeroed struct.  Pure function: used by the client, the unit tests and the fuzzer.
 */
enum qn_status qn_smtp_reply_feed(struct qn_smtp_reply *reply, const char *line, size_t len);

/* Called after each stage succeeds, for `qqnotify check`.  DETAIL is English. */
typedef void (*qn_smtp_stage_cb)(void *arg, enum qn_stage stage, const char *detail);

struct qn_smtp_options {
    const char *host;
    unsigned port;
    enum qn_tls_mode tls;
    unsigned timeout_s;          /* per operation (connect, handshake, each reply) */
    const char *helo_name;       /* NULL: gethostname() */
    struct qn_tls_options tls_opts;
    qn_smtp_stage_cb on_stage;   /* may be NULL */
    void *stage_arg;
};

struct qn_smtp;

/* Connect, TLS, greeting, EHLO (STARTTLS, EHLO).  *ret is NULL on failure. */
enum qn_status qn_smtp_open(struct qn_smtp **ret, const struct qn_smtp_options *opt,
                            struct qn_error *err);

/* AUTH PLAIN or LOGIN with USER and the SECRET_LEN bytes at SECRET. */
enum qn_status qn_smtp_auth(struct qn_smtp *s, const char *user, const char *secret,
                            size_t secret_len, struct qn_error *err);

/* MAIL FROM:<from>, then RSET: checks the sender without sending anything. */
enum qn_status qn_smtp_probe_sender(struct qn_smtp *s, const char *from, struct qn_error *err);

/*
 * MAIL FROM, RCPT TO for each recipient, DATA, the message, ".".  Success
 * means the server answered 250 after the final dot.  A recipient refused
 * with 5xx fails the whole message (QN_EREJECT, stage RCPT) after RSET so
 * the session stays usable.
 */
enum qn_status qn_smtp_send(struct qn_smtp *s, const char *from, const char *const *rcpt,
                            size_t n_rcpt, const char *msg, size_t len, struct qn_error *err);

/* QUIT and wait for the reply (errors ignored beyond err). */
enum qn_status qn_smtp_quit(struct qn_smtp *s, struct qn_error *err);

/* Close the connection and free; accepts NULL; returns NULL. */
struct qn_smtp *qn_smtp_close(struct qn_smtp *s);

/* The EHLO keywords the server announced (upper-case, space separated). */
const char *qn_smtp_extensions(const struct qn_smtp *s);

#endif
