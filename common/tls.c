/*
 * tls — OpenSSL client context and handshake (see tls.h for the contract).
 *
 * Standards: RFC 8446 / RFC 5246 (TLS 1.3 / 1.2, nothing older), RFC 6066
 * (SNI), RFC 6125 (host-name checks, done by OpenSSL's SSL_set1_host, never
 * by hand).
 *
 * The socket is non-blocking: every OpenSSL call that wants more I/O is
 * retried after poll() until the caller's deadline.  Records travel through
 * a minimal BIO that uses send(MSG_NOSIGNAL) and recv(), because OpenSSL's
 * own socket BIO uses write(), which raises SIGPIPE on a reset connection
 * and would kill a program that has not ignored it.
 */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "text.h"

#define PIN_LEN 32

struct qn_tls_ctx {
    SSL_CTX *ssl_ctx;
    BIO_METHOD *bio_method; /* the MSG_NOSIGNAL socket BIO, one per context: no globals */
    bool verify;
    bool has_pin;
    unsigned char pin[PIN_LEN];
};

/* ---- the socket BIO ------------------------------------------------------------------------ */

static int fd_of(BIO *bio)
{
    return (int)(intptr_t)BIO_get_data(bio);
}

static int sock_bio_write(BIO *bio, const char *data, int len)
{
    ssize_t n;

    BIO_clear_retry_flags(bio);
    if (len <= 0)
        return 0;
    do {
        n = send(fd_of(bio), data, (size_t)len, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            BIO_set_retry_write(bio);
        return -1;
    }
    return (int)n;
}

static int sock_bio_read(BIO *bio, char *data, int len)
{
    ssize_t n;

    BIO_clear_retry_flags(bio);
    if (len <= 0)
        return 0;
    do {
        n = recv(fd_of(bio), data, (size_t)len, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            BIO_set_retry_read(bio);
        return -1;
    }
    if (n == 0) {
        /* Tell OpenSSL this is the end of the stream (BIO_eof), so a close
         * without close_notify is reported as "unexpected eof" and not as an
         * error with a stale errno. */
#ifdef BIO_FLAGS_IN_EOF
        BIO_set_flags(bio, BIO_FLAGS_IN_EOF);
#endif
        errno = 0;
    }
    return (int)n;
}

static long sock_bio_ctrl(BIO *bio, int cmd, long num, void *ptr)
{
    (void)bio;
    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1; /* nothing is buffered here */
#ifdef BIO_FLAGS_IN_EOF
    case BIO_CTRL_EOF:
        return BIO_test_flags(bio, BIO_FLAGS_IN_EOF) != 0;
#endif
    default:
        return 0; /* unsupported: OpenSSL treats 0 as "no" (no kTLS, nothing pending) */
    }
}

static BIO_METHOD *sock_bio_method_new(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "qqnotify socket");

    if (m == NULL)
        return NULL;
    if (!BIO_meth_set_write(m, sock_bio_write) || !BIO_meth_set_read(m, sock_bio_read) ||
        !BIO_meth_set_ctrl(m, sock_bio_ctrl)) {
        BIO_meth_free(m);
        return NULL;
    }
    return m;
}

/* ---- errors -------------------------------------------------------------------------------- */

/* The short reason text of an OpenSSL error code ("unsupported protocol"). */
static const char *openssl_reason(unsigned long code, char *buf, size_t n)
{
    const char *reason = ERR_reason_error_string(code);

    if (reason != NULL)
        return reason;
    if (code == 0)
        return "unknown error";
    ERR_error_string_n(code, buf, n);
    return buf;
}

/*
 * Map a failed SSL_connect/SSL_read/SSL_write (SSL_get_error() result
 * SSL_ERROR, errno SAVED_ERRNO right after the call) to a status.  WHAT
 * names the operation for the detail.
 */
static enum qn_status tls_failure(int ssl_error, int saved_errno, enum qn_stage stage,
                                  const char *what, struct qn_error *err)
{
    unsigned long code = ERR_peek_error();
    char buf[256];

    switch (ssl_error) {
    case SSL_ERROR_ZERO_RETURN:
        return qn_error_set(err, QN_EEOF, stage, "%s: the server closed the TLS session", what);
    case SSL_ERROR_SYSCALL:
        if (code != 0)
            break; /* an OpenSSL error after all: report it below */
        err->sys_errno = saved_errno;
        if (saved_errno == 0 || saved_errno == ECONNRESET || saved_errno == EPIPE)
            return qn_error_set(err, QN_EEOF, stage, "%s: the server closed the connection", what);
        return qn_error_set(err, QN_EIO, stage, "%s: %s", what, strerror(saved_errno));
    default:
        break;
    }
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
    if (ERR_GET_LIB(code) == ERR_LIB_SSL &&
        ERR_GET_REASON(code) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        return qn_error_set(err, QN_EEOF, stage, "%s: the server closed the connection", what);
#endif
    err->tls_error = code;
    return qn_error_set(err, QN_ETLS, stage, "%s failed: %s", what,
                        openssl_reason(code, buf, sizeof buf));
}

/* ---- context ------------------------------------------------------------------------------- */

enum qn_status qn_tls_ctx_new(struct qn_tls_ctx **ret, const struct qn_tls_options *opt,
                              struct qn_error *err)
{
    struct qn_tls_ctx *ctx = NULL;
    struct qn_error scratch;
    enum qn_status r = QN_ETLS;
    char buf[256];

    if (err == NULL)
        err = &scratch;
    *ret = NULL;
    ctx = calloc(1, sizeof *ctx);
    if (ctx == NULL)
        return qn_error_set(err, QN_ENOMEM, QN_STAGE_TLS, "cannot allocate the TLS context");
    ERR_clear_error();
    ctx->verify = opt->verify;
    if (opt->pin_sha256 != NULL) {
        memcpy(ctx->pin, opt->pin_sha256, PIN_LEN);
        ctx->has_pin = true;
    }
    ctx->bio_method = sock_bio_method_new();
    if (ctx->bio_method == NULL) {
        r = qn_error_set(err, QN_ENOMEM, QN_STAGE_TLS, "cannot create the socket BIO method");
        goto out;
    }
    ctx->ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (ctx->ssl_ctx == NULL) {
        err->tls_error = ERR_peek_error();
        r = qn_error_set(err, QN_ETLS, QN_STAGE_TLS, "SSL_CTX_new failed: %s",
                         openssl_reason(err->tls_error, buf, sizeof buf));
        goto out;
    }
    if (!SSL_CTX_set_min_proto_version(ctx->ssl_ctx, TLS1_2_VERSION)) {
        err->tls_error = ERR_peek_error();
        r = qn_error_set(err, QN_ETLS, QN_STAGE_TLS, "cannot require TLS 1.2: %s",
                         openssl_reason(err->tls_error, buf, sizeof buf));
        goto out;
    }
    /* A mail client has no use for renegotiation; refusing it removes a
     * class of attacks and surprises in the middle of DATA. */
    SSL_CTX_set_options(ctx->ssl_ctx, SSL_OP_NO_RENEGOTIATION);
    if (opt->verify) {
        int ok;

        if (opt->ca_file != NULL && opt->ca_file[0] != '\0')
            ok = SSL_CTX_load_verify_locations(ctx->ssl_ctx, opt->ca_file, NULL);
        else
            ok = SSL_CTX_set_default_verify_paths(ctx->ssl_ctx);
        if (!ok) {
            err->tls_error = ERR_peek_error();
            if (opt->ca_file != NULL && opt->ca_file[0] != '\0')
                r = qn_error_set(err, QN_ETLS, QN_STAGE_TLS, "cannot load CA file %s: %s",
                                 opt->ca_file, openssl_reason(err->tls_error, buf, sizeof buf));
            else
                r = qn_error_set(err, QN_ETLS, QN_STAGE_TLS,
                                 "cannot load the system trust store: %s",
                                 openssl_reason(err->tls_error, buf, sizeof buf));
            goto out;
        }
        SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_NONE, NULL);
    }
    *ret = ctx;
    ctx = NULL;
    r = QN_OK;
out:
    ERR_clear_error();
    qn_tls_ctx_free(ctx);
    return r;
}

struct qn_tls_ctx *qn_tls_ctx_free(struct qn_tls_ctx *ctx)
{
    if (ctx == NULL)
        return NULL;
    SSL_CTX_free(ctx->ssl_ctx);
    BIO_meth_free(ctx->bio_method);
    OPENSSL_cleanse(ctx, sizeof *ctx);
    free(ctx);
    return NULL;
}

/* ---- certificates -------------------------------------------------------------------------- */

/*
 * The leaf certificate the server sent, borrowed from the SSL.  The peer
 * chain (which starts with the leaf on a client) is kept even when
 * verification failed, unlike the session's peer certificate, so failures
 * can still name the certificate.
 */
static X509 *peer_leaf(SSL *ssl)
{
    STACK_OF(X509) *chain = SSL_get_peer_cert_chain(ssl);

    if (chain == NULL || sk_X509_num(chain) < 1)
        return NULL;
    return sk_X509_value(chain, 0);
}

/* "CN=name" (or "O=org" when there is no CN) of NAME, sanitised: it comes from the server. */
static void name_text(X509_NAME *name, char *out, size_t n)
{
    static const int nids[] = {NID_commonName, NID_organizationName};
    static const char *const labels[] = {"CN=", "O="};
    unsigned char *utf8 = NULL;
    size_t i, prefix;
    int idx, len;

    snprintf(out, n, "(no name)");
    if (name == NULL)
        return;
    for (i = 0; i < sizeof nids / sizeof nids[0]; i++) {
        idx = X509_NAME_get_index_by_NID(name, nids[i], -1);
        if (idx < 0)
            continue;
        len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
        if (len < 0)
            continue;
        prefix = (size_t)snprintf(out, n, "%s", labels[i]);
        if (prefix + 8 <= n)
            qn_text_sanitize_line((const char *)utf8, (size_t)len, out + prefix, n - prefix);
        OPENSSL_free(utf8);
        return;
    }
}

/*
 * "certificate CN=x issued by CN=y, valid until 2026-01-31" for CERT.  The
 * date matters: expiry and a wrong local clock are the usual causes of a
 * verification failure.  OUT holds 256 bytes: the parts are sized to fit.
 */
static void cert_text(X509 *cert, char out[256])
{
    char subject[96], issuer[96], until[16];
    struct tm tm;

    name_text(X509_get_subject_name(cert), subject, sizeof subject);
    name_text(X509_get_issuer_name(cert), issuer, sizeof issuer);
    if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1 ||
        strftime(until, sizeof until, "%Y-%m-%d", &tm) == 0)
        snprintf(until, sizeof until, "?");
    snprintf(out, 256, "certificate %s issued by %s, valid until %s", subject, issuer, until);
}

static bool is_ip_literal(const char *host)
{
    unsigned char addr[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

/* After a failed handshake: name the certificate problem if verification is what failed. */
static enum qn_status handshake_failure(struct qn_tls_ctx *ctx, SSL *ssl, int ssl_error,
                                        int saved_errno, struct qn_error *err)
{
    long result = SSL_get_verify_result(ssl);
    char cert[256] = "no certificate received";
    X509 *leaf;

    if (!ctx->verify || result == X509_V_OK || ssl_error != SSL_ERROR_SSL)
        return tls_failure(ssl_error, saved_errno, QN_STAGE_TLS, "TLS handshake", err);
    leaf = peer_leaf(ssl);
    if (leaf != NULL)
        cert_text(leaf, cert);
    err->tls_error = ERR_peek_error();
    return qn_error_set(err, QN_ETLS, QN_STAGE_TLS, "certificate verify failed: %s (%s)",
                        X509_verify_cert_error_string(result), cert);
}

static enum qn_status check_pin(struct qn_tls_ctx *ctx, SSL *ssl, struct qn_error *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    char hex[PIN_LEN * 3];
    X509 *leaf = peer_leaf(ssl);
    size_t i;

    if (leaf == NULL)
        return qn_error_set(err, QN_ETLS, QN_STAGE_TLS,
                            "certificate pin set but the server sent no certificate");
    if (!X509_digest(leaf, EVP_sha256(), md, &md_len) || md_len != PIN_LEN) {
        err->tls_error = ERR_peek_error();
        return qn_error_set(err, QN_ETLS, QN_STAGE_TLS, "cannot hash the server certificate");
    }
    if (CRYPTO_memcmp(md, ctx->pin, PIN_LEN) == 0)
        return QN_OK;
    for (i = 0; i < PIN_LEN; i++)
        snprintf(hex + 3 * i, sizeof hex - 3 * i, "%02X%s", md[i], i + 1 < PIN_LEN ? ":" : "");
    return qn_error_set(err, QN_ETLS, QN_STAGE_TLS,
                        "certificate pin mismatch: the server's certificate has SHA-256 %s", hex);
}

/* ---- connections --------------------------------------------------------------------------- */

enum qn_status qn_tls_connect(struct qn_tls_ctx *ctx, int fd, const char *host,
                              long long deadline_ms, SSL **ret, struct qn_error *err)
{
    struct qn_error scratch;
    enum qn_status r = QN_ETLS;
    SSL *ssl = NULL;
    BIO *bio = NULL;
    char buf[256];

    if (err == NULL)
        err = &scratch;
    *ret = NULL;
    ERR_clear_error();
    ssl = SSL_new(ctx->ssl_ctx);
    bio = BIO_new(ctx->bio_method);
    if (ssl == NULL || bio == NULL) {
        r = qn_error_set(err, QN_ENOMEM, QN_STAGE_TLS, "cannot allocate the TLS session");
        goto out;
    }
    BIO_set_data(bio, (void *)(intptr_t)fd);
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl, bio, bio); /* one reference, now owned by ssl */
    bio = NULL;

    if (is_ip_literal(host)) {
        if (ctx->verify && !X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host)) {
            err->tls_error = ERR_peek_error();
            r = qn_error_set(err, QN_ETLS, QN_STAGE_TLS, "cannot set the expected IP address");
            goto out;
        }
    } else {
        if (!SSL_set_tlsext_host_name(ssl, host)) {
            err->tls_error = ERR_peek_error();
            r = qn_error_set(err, QN_ETLS, QN_STAGE_TLS, "cannot set SNI to %s: %s", host,
                             openssl_reason(err->tls_error, buf, sizeof buf));
            goto out;
        }
        if (ctx->verify) {
            SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            if (!SSL_set1_host(ssl, host)) {
                err->tls_error = ERR_peek_error();
                r = qn_error_set(err, QN_ETLS, QN_STAGE_TLS, "cannot set the expected host name");
                goto out;
            }
        }
    }

    for (;;) {
        int rc, ssl_error, saved_errno;
        enum qn_status w;

        ERR_clear_error();
        errno = 0;
        rc = SSL_connect(ssl);
        saved_errno = errno;
        if (rc == 1)
            break;
        ssl_error = SSL_get_error(ssl, rc);
        if (ssl_error != SSL_ERROR_WANT_READ && ssl_error != SSL_ERROR_WANT_WRITE) {
            r = handshake_failure(ctx, ssl, ssl_error, saved_errno, err);
            goto out;
        }
        w = qn_wait_fd(fd, ssl_error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline_ms);
        if (w == QN_ETIMEOUT) {
            r = qn_error_set(err, QN_ETIMEOUT, QN_STAGE_TLS, "TLS handshake with %s timed out",
                             host);
            goto out;
        }
        if (w != QN_OK) {
            err->sys_errno = errno;
            r = qn_error_set(err, QN_EIO, QN_STAGE_TLS, "poll: %s", strerror(errno));
            goto out;
        }
    }
    if (ctx->has_pin) {
        r = check_pin(ctx, ssl, err);
        if (r != QN_OK)
            goto out;
    }
    *ret = ssl;
    ssl = NULL;
    r = QN_OK;
out:
    ERR_clear_error();
    BIO_free(bio);
    SSL_free(ssl);
    return r;
}

enum qn_status qn_tls_read(SSL *ssl, int fd, void *buf, size_t n, size_t *ret_n,
                           long long deadline_ms, enum qn_stage stage, struct qn_error *err)
{
    struct qn_error scratch;
    int want = n > INT_MAX ? INT_MAX : (int)n;

    if (err == NULL)
        err = &scratch;
    *ret_n = 0;
    for (;;) {
        int rc, ssl_error, saved_errno;
        enum qn_status w;

        /* SSL_read() first, poll() only when it asks: bytes already
         * decrypted or buffered inside OpenSSL (SSL_pending) are never
         * left waiting for the socket to become readable. */
        ERR_clear_error();
        errno = 0;
        rc = SSL_read(ssl, buf, want);
        saved_errno = errno;
        if (rc > 0) {
            *ret_n = (size_t)rc;
            return QN_OK;
        }
        ssl_error = SSL_get_error(ssl, rc);
        if (ssl_error != SSL_ERROR_WANT_READ && ssl_error != SSL_ERROR_WANT_WRITE)
            return tls_failure(ssl_error, saved_errno, stage, "TLS read", err);
        w = qn_wait_fd(fd, ssl_error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline_ms);
        if (w == QN_ETIMEOUT)
            return qn_error_set(err, QN_ETIMEOUT, stage, "timed out waiting for the server");
        if (w != QN_OK) {
            err->sys_errno = errno;
            return qn_error_set(err, QN_EIO, stage, "poll: %s", strerror(errno));
        }
    }
}

enum qn_status qn_tls_write(SSL *ssl, int fd, const void *buf, size_t n, long long deadline_ms,
                            enum qn_stage stage, struct qn_error *err)
{
    struct qn_error scratch;
    const char *p = buf;

    if (err == NULL)
        err = &scratch;
    while (n > 0) {
        int want = n > INT_MAX ? INT_MAX : (int)n;
        int rc, ssl_error, saved_errno;
        enum qn_status w;

        /* After WANT_READ/WANT_WRITE, SSL_write must be repeated with the
         * same arguments, which this loop does. */
        ERR_clear_error();
        errno = 0;
        rc = SSL_write(ssl, p, want);
        saved_errno = errno;
        if (rc > 0) {
            p += rc;
            n -= (size_t)rc;
            continue;
        }
        ssl_error = SSL_get_error(ssl, rc);
        if (ssl_error != SSL_ERROR_WANT_READ && ssl_error != SSL_ERROR_WANT_WRITE)
            return tls_failure(ssl_error, saved_errno, stage, "TLS write", err);
        w = qn_wait_fd(fd, ssl_error == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline_ms);
        if (w == QN_ETIMEOUT)
            return qn_error_set(err, QN_ETIMEOUT, stage, "timed out sending to the server");
        if (w != QN_OK) {
            err->sys_errno = errno;
            return qn_error_set(err, QN_EIO, stage, "poll: %s", strerror(errno));
        }
    }
    return QN_OK;
}

void qn_tls_close(SSL *ssl)
{
    if (ssl == NULL)
        return;
    /* Best effort: one close_notify, no wait for the server's.  The
     * session is over either way and the caller closes the socket. */
    ERR_clear_error();
    (void)SSL_shutdown(ssl);
    ERR_clear_error();
}

void qn_tls_describe(SSL *ssl, bool verified, char *out, size_t n)
{
    char cert[256] = "no certificate";
    const char *cipher;
    X509 *leaf;

    if (out == NULL || n == 0)
        return;
    if (ssl == NULL) {
        snprintf(out, n, "no TLS session");
        return;
    }
    leaf = peer_leaf(ssl);
    if (leaf != NULL)
        cert_text(leaf, cert);
    cipher = SSL_get_cipher_name(ssl);
    snprintf(out, n, "%s %s, %s, %s", SSL_get_version(ssl), cipher != NULL ? cipher : "?", cert,
             verified ? "verified" : "NOT verified (tls_verify = no)");
}

/* ---- time and waiting ---------------------------------------------------------------------- */

long long qn_now_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum qn_status qn_wait_fd(int fd, short events, long long deadline_ms)
{
    for (;;) {
        long long left = deadline_ms - qn_now_ms();
        struct pollfd pfd = {.fd = fd, .events = events, .revents = 0};
        int n;

        if (left <= 0)
            return QN_ETIMEOUT;
        n = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (n > 0)
            return QN_OK;
        if (n < 0 && errno != EINTR)
            return QN_EIO;
        /* n == 0 (poll may wake a little early) or EINTR: check the deadline again */
    }
}
