/*
 * smtp_script — the scripted SMTP server of the unit tests; see smtp_script.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "smtp_script.h"

#define TRANSCRIPT_MAX (256 * 1024)

struct conn {
    int fd;
    SSL *ssl;
};

static ssize_t conn_read(struct conn *c, char *p, size_t n)
{
    if (c->ssl != NULL) {
        int r = SSL_read(c->ssl, p, (int)n);

        return r > 0 ? r : (SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN ? 0 : -1);
    }
    return recv(c->fd, p, n, 0);
}

static bool conn_write(struct conn *c, const char *p, size_t n)
{
    if (c->ssl != NULL)
        return SSL_write(c->ssl, p, (int)n) == (int)n;
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);

        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Read to LF, byte by byte (so nothing after the line is consumed). */
static bool conn_line(struct conn *c, struct qn_buf *t, size_t *ret_start)
{
    char ch;

    *ret_start = t->len;
    do {
        if (conn_read(c, &ch, 1) != 1 || qn_buf_putc(t, ch) != QN_OK)
            return false;
    } while (ch != '\n');
    return true;
}

static bool run_step(struct conn *c, SSL_CTX *tls, const char *step, struct qn_buf *t)
{
    char buf[4096];
    size_t start;
    ssize_t n;

    switch (step[0]) {
    case '>':
        return conn_write(c, step + 1, strlen(step + 1));
    case '<':
        return conn_line(c, t, &start);
    case 'D':
        do {
            if (!conn_line(c, t, &start))
                return false;
        } while (strcmp(t->data + start, ".\r\n") != 0);
        return true;
    case 'T':
        c->ssl = SSL_new(tls);
        return c->ssl != NULL && SSL_set_fd(c->ssl, c->fd) == 1 && SSL_accept(c->ssl) == 1;
    case 'E':
        while ((n = conn_read(c, buf, sizeof buf)) > 0)
            if (qn_buf_append(t, buf, (size_t)n) != QN_OK)
                return false;
        return n == 0;
    }
    return false;
}

static void server_child(int listen_fd, int out_fd, const char *const *script,
                         const struct certs *certs, X509 *cert)
{
    struct conn c = {.fd = -1, .ssl = NULL};
    struct qn_buf t;
    SSL_CTX *tls = NULL;
    bool ok = true;
    size_t i, done = 0;
    ssize_t w;

    alarm(20); /* never outlive a broken test */
    signal(SIGPIPE, SIG_IGN);
    qn_buf_init(&t, TRANSCRIPT_MAX);
    if (certs != NULL) {
        tls = SSL_CTX_new(TLS_server_method());
        ok = tls != NULL && SSL_CTX_use_certificate(tls, cert != NULL ? cert : certs->good) == 1 &&
             SSL_CTX_use_PrivateKey(tls, certs->key) == 1;
    }
    c.fd = accept(listen_fd, NULL, NULL);
    ok = ok && c.fd >= 0;
    for (i = 0; ok && script[i] != NULL; i++)
        ok = run_step(&c, tls, script[i], &t);
    while (done < t.len) {
        w = write(out_fd, t.data + done, t.len - done);
        if (w <= 0) {
            ok = false;
            break;
        }
        done += (size_t)w;
    }
    /* free everything so that leak checkers (valgrind follows forks) stay quiet */
    SSL_free(c.ssl);
    SSL_CTX_free(tls);
    qn_buf_free(&t);
    _exit(ok ? 0 : 1);
}

/* Serve SCRIPT on a fresh port of 127.0.0.1, showing CERT (NULL: certs->good) for TLS. */
void server_start(struct server *srv, const char *const *script, const struct certs *certs,
                  X509 *cert)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int lfd, pipe_fds[2];

    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(lfd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(lfd, 1), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
    srv->port = ntohs(sa.sin_port);
    assert_int_equal(pipe2(pipe_fds, O_CLOEXEC), 0);
    srv->pid = fork();
    assert_true(srv->pid >= 0);
    if (srv->pid == 0) {
        close(pipe_fds[0]);
        server_child(lfd, pipe_fds[1], script, certs, cert);
    }
    close(lfd);
    close(pipe_fds[1]);
    srv->transcript_fd = pipe_fds[0];
}

unsigned closed_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    assert_int_equal(close(fd), 0);
    return ntohs(sa.sin_port);
}

/* Collect the transcript (NUL-terminated, caller frees) and the server's exit status. */
char *server_finish(struct server *srv, int *ret_status)
{
    struct qn_buf t;
    char buf[4096];
    ssize_t n;
    int status = 0;

    qn_buf_init(&t, TRANSCRIPT_MAX);
    while ((n = read(srv->transcript_fd, buf, sizeof buf)) > 0)
        assert_int_equal(qn_buf_append(&t, buf, (size_t)n), QN_OK);
    close(srv->transcript_fd);
    assert_int_equal(waitpid(srv->pid, &status, 0), srv->pid);
    *ret_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return qn_buf_steal(&t, NULL);
}

void assert_transcript(struct server *srv, const char *expected, bool script_completed)
{
    int status;
    char *t = server_finish(srv, &status);

    assert_string_equal(t, expected);
    if (script_completed)
        assert_int_equal(status, 0);
    free(t);
}

/* ---- certificates made in memory ----------------------------------------------------------- */

static EVP_PKEY *make_key(void)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
    EVP_PKEY *key = NULL;

    if (pctx != NULL && EVP_PKEY_keygen_init(pctx) == 1 &&
        EVP_PKEY_CTX_set_ec_paramgen_curve_nid(pctx, NID_X9_62_prime256v1) == 1)
        EVP_PKEY_keygen(pctx, &key);
    EVP_PKEY_CTX_free(pctx);
    return key;
}

/* A self-signed certificate valid from FROM_S to UNTIL_S seconds from now. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *san, long serial, long from_s,
                       long until_s)
{
    X509 *x = X509_new();
    X509_NAME *name;
    X509V3_CTX v3;
    X509_EXTENSION *ext;

    if (x == NULL)
        return NULL;
    name = X509_get_subject_name(x);
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    if (X509_set_version(x, 2) != 1 || ASN1_INTEGER_set(X509_get_serialNumber(x), serial) != 1 ||
        X509_gmtime_adj(X509_getm_notBefore(x), from_s) == NULL ||
        X509_gmtime_adj(X509_getm_notAfter(x), until_s) == NULL || X509_set_pubkey(x, key) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                   0) != 1 ||
        X509_set_issuer_name(x, name) != 1)
        goto fail;
    ext = X509V3_EXT_nconf_nid(NULL, &v3, NID_subject_alt_name, san);
    if (ext == NULL || X509_add_ext(x, ext, -1) != 1) {
        X509_EXTENSION_free(ext);
        goto fail;
    }
    X509_EXTENSION_free(ext);
    if (X509_sign(x, key, EVP_sha256()) == 0)
        goto fail;
    return x;
fail:
    X509_free(x);
    return NULL;
}

static bool write_pem(X509 *x, char *path, size_t n)
{
    const char *dir = getenv("TMPDIR");
    FILE *f;
    int fd;
    bool ok;

    snprintf(path, n, "%s/qqnotify-test-XXXXXX", dir != NULL && dir[0] != '\0' ? dir : "/tmp");
    fd = mkstemp(path);
    if (fd < 0)
        return false;
    f = fdopen(fd, "w");
    if (f == NULL) {
        close(fd);
        return false;
    }
    ok = PEM_write_X509(f, x) == 1;
    return fclose(f) == 0 && ok;
}

int certs_setup(void **state)
{
    struct certs *c = calloc(1, sizeof *c);

    if (c == NULL)
        return -1;
    *state = c;
    c->key = make_key();
    if (c->key == NULL)
        return -1;
    c->good = make_cert(c->key, "qqnotify-test", "IP:127.0.0.1", 1, -3600, 86400);
    c->other = make_cert(c->key, "other.example", "DNS:other.example", 2, -3600, 86400);
    c->expired = make_cert(c->key, "expired.example", "IP:127.0.0.1", 3, -2 * 86400, -86400);
    if (c->good == NULL || c->other == NULL || c->expired == NULL)
        return -1;
    if (!write_pem(c->good, c->good_file, sizeof c->good_file) ||
        !write_pem(c->other, c->other_file, sizeof c->other_file) ||
        !write_pem(c->expired, c->expired_file, sizeof c->expired_file))
        return -1;
    return 0;
}

int certs_teardown(void **state)
{
    struct certs *c = *state;

    if (c == NULL)
        return 0;
    if (c->good_file[0] != '\0')
        unlink(c->good_file);
    if (c->other_file[0] != '\0')
        unlink(c->other_file);
    if (c->expired_file[0] != '\0')
        unlink(c->expired_file);
    X509_free(c->expired);
    X509_free(c->good);
    X509_free(c->other);
    EVP_PKEY_free(c->key);
    free(c);
    return 0;
}
