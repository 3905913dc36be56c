/*
 * tls — OpenSSL client context and handshake for the SMTP client.
 *
 * Policy: TLS 1.2 minimum; the server certificate chain is verified against
 * the system trust store (or ca_file) and the host name with SSL_set1_host;
 * SNI is always sent; an optional SHA-256 pin of the leaf certificate must
 * match on top of (not instead of) normal verification.  Verification is
 * off only when the configuration says so (verify = false); callers must
 * warn on every run in that case.  Never a silent fallback.
 *
 * Ownership: qn_tls_ctx_new() returns a context the caller frees with
 * qn_tls_ctx_free() (accepts NULL).  qn_tls_connect() returns an SSL the
 * caller frees with SSL_free() after qn_tls_close().  A context may be used
 * for many connections from one thread at a time.
 */
#ifndef QN_TLS_H
#define QN_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "diag.h"
#include "status.h"

struct qn_tls_options {
    const char *ca_file;            /* PEM bundle or NULL for the system store */
    bool verify;                    /* chain and host-name verification */
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
 * qn_now_ms()).  On success *ret is the SSL (FD stays owned by the
 * caller).  Errors: QN_ETLS with err->tls_error and a detail that says
 * what failed (verification result text for certificate problems),
 * QN_ETIMEOUT, QN_EEOF when the peer closed.  err->stage is QN_STAGE_TLS.
 */
enum qn_status qn_tls_connect(struct qn_tls_ctx *ctx, int fd, const char *host,
                              long long deadline_ms, SSL **ret, struct qn_error *err);

/* Describe the session after a handshake: "TLSv1.3 TLS_AES_256_GCM_SHA384, certificate
 * CN=... issued by ..., verified".  Writes at most N bytes including NUL. */
void qn_tls_describe(SSL *ssl, bool verified, char *out, size_t n);

/* Monotonic clock in milliseconds. */
long long qn_now_ms(void);

#endif
