/*
 * tls — OpenSSL client context and handshake for the SMTP client.
 *
 * Policy: TLS 1.2 minimum; the server certificate chain is verified against
 * the system trust store (or ca_file) and the host name with SSL_set1_host;
 * SNI is always sent; an optional SHA-256 pin of the leaf certificate must
 * match on top of (not instead of) normal verification.  Verification is
 * off only when the configuration says so (tls_verify = no); callers must
 * warn on every run in that case.  Never a silent fallback.
 *
 * The pin is the SHA-256 of the whole DER certificate, the value that
 * `openssl x509 -noout -fingerprint -sha256` prints.
 *
 * SIGPIPE: records go through a BIO of our own that writes with
 * send(MSG_NOSIGNAL), so a peer that resets the connection makes writes
 * fail with EPIPE instead of killing the process; callers need not touch
 * signal dispositions for TLS.
 *
 * Ownership: qn_tls_ctx_new() returns a context the caller frees with
 * qn_tls_ctx_free() (accepts NULL).  qn_tls_connect() returns an SSL the
 * caller frees with SSL_free() after qn_tls_close(); every SSL made from a
 * context must be freed before the context (the context owns the BIO
 * method the SSL uses).  A context may be used for many connections from
 * one thread at a time.  No global state.
 */
#ifndef QN_TLS_H
#define QN_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "diag.h"
#include "status.h"

struct qn_tls_options {
    const char *ca_file;             /* PEM bundle or NULL for the system store */
    bool verify;                     /* chain and host-name verification */
    const unsigned char *pin_sha256; /* 32 bytes or NULL */
};

struct qn_tls_ctx;

/* QN_ETLS (err->detail names the OpenSSL call, e.g. loading ca_file), QN_ENOMEM. */
enum qn_status qn_tls_ctx_new(struct qn_tls_ctx **ret, const struct qn_tls_options *opt,
                              struct qn_error *err);
struct qn_tls_ctx *qn_tls_ctx_free(struct qn_tls_ctx *ctx);

/*
 * Handshake as a client on the connected non-blocking socket FD for server
 * name HOST, giving up at DEADLINE_MS (CLOCK_MONOTONIC milliseconds, see
 * qn_now_ms()).  HOST is checked against the certificate (DNS names, or
 * the IP address when HOST is an IPv4/IPv6 literal) and sent as SNI
 * (except for IP literals, which RFC 6066 forbids there).  On success *ret
 * is the SSL (FD stays owned by the caller).  Errors: QN_ETLS with
 * err->tls_error and a detail that says what failed ("certificate verify
 * failed: certificate has expired (certificate CN=... issued by ...)",
 * "certificate pin mismatch: ..."), QN_ETIMEOUT, QN_EEOF when the peer
 * closed, QN_EIO for a socket error (err->sys_errno).  err->stage is
 * QN_STAGE_TLS.  ERR may be NULL.
 */
enum qn_status qn_tls_connect(struct qn_tls_ctx *ctx, int fd, const char *host,
                              long long deadline_ms, SSL **ret, struct qn_error *err);

/* Describe the session after a handshake: "TLSv1.3 TLS_AES_256_GCM_SHA384, certificate
 * CN=... issued by ..., verified".  Writes at most N bytes including NUL. */
void qn_tls_describe(SSL *ssl, bool verified, char *out, size_t n);

/*
 * Read at most N bytes of application data into BUF; *ret_n is at least 1
 * on success.  Waits with poll() on FD until DEADLINE_MS.  Errors (err->stage
 * set to STAGE): QN_ETIMEOUT, QN_EEOF (close_notify, reset or unexpected
 * end of stream), QN_ETLS, QN_EIO.
 */
enum qn_status qn_tls_read(SSL *ssl, int fd, void *buf, size_t n, size_t *ret_n,
                           long long deadline_ms, enum qn_stage stage, struct qn_error *err);

/* Write all N bytes at BUF before DEADLINE_MS.  Errors as qn_tls_read(). */
enum qn_status qn_tls_write(SSL *ssl, int fd, const void *buf, size_t n, long long deadline_ms,
                            enum qn_stage stage, struct qn_error *err);

/*
 * Send close_notify once, without waiting for the peer's.  Accepts NULL.
 * Must not be called after a read, write or handshake on SSL failed
 * (OpenSSL forbids a shutdown after a fatal error): just SSL_free() then.
 */
void qn_tls_close(SSL *ssl);

/* Monotonic clock in milliseconds (CLOCK_MONOTONIC); 0 if the clock fails. */
long long qn_now_ms(void);

/*
 * Wait until FD is ready for EVENTS (POLLIN, POLLOUT) or has an error or
 * hang-up pending (the next read or write reports it), retrying after
 * signals.  QN_OK, QN_ETIMEOUT once DEADLINE_MS has passed, QN_EIO when
 * poll() fails (errno kept).  Shared by tls and smtp.
 */
enum qn_status qn_wait_fd(int fd, short events, long long deadline_ms);

#endif
