/*
 * smtp_script — a scripted SMTP server for the unit tests that hold real
 * sessions (test_smtp.c, test_mailer.c): forked by the test on a fresh port
 * of 127.0.0.1 (no DNS, no outside network), with throw-away certificates
 * made in memory.  The server records every byte the client sends, so the
 * tests check the exact dialogue.
 */
#ifndef QN_TEST_SMTP_SCRIPT_H
#define QN_TEST_SMTP_SCRIPT_H

#include <stdbool.h>
#include <sys/types.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/*
 * A script is a NULL-terminated list of steps:
 *   ">text"  send text
 *   "<"      read one line (to LF) into the transcript
 *   "D"      read lines until ".\r\n" (the DATA body) into the transcript
 *   "T"      TLS handshake as server
 *   "E"      read everything until the client closes, into the transcript
 * The child process runs it against one connection and hands the transcript
 * back through a pipe; its exit status says whether the whole script ran.
 */
struct server {
    pid_t pid;
    unsigned port;
    int transcript_fd;
};

struct certs {
    EVP_PKEY *key;
    X509 *good;  /* CN=qqnotify-test, IP:127.0.0.1 */
    X509 *other; /* CN=other.example, DNS:other.example only */
    char good_file[64];
    X509 *expired; /* CN=expired.example, IP:127.0.0.1, expired yesterday */
    char other_file[64];
    char expired_file[64];
};

/* Serve SCRIPT on a fresh port of 127.0.0.1, showing CERT (NULL: certs->good) for TLS. */
void server_start(struct server *srv, const char *const *script, const struct certs *certs,
                  X509 *cert);

/* Collect the transcript (NUL-terminated, caller frees) and the server's exit status. */
char *server_finish(struct server *srv, int *ret_status);

/* The transcript is EXPECTED exactly (and the whole script ran when SCRIPT_COMPLETED). */
void assert_transcript(struct server *srv, const char *expected, bool script_completed);

/* A port of 127.0.0.1 that was just free and has no listener: connecting
 * there is refused. */
unsigned closed_port(void);

/* cmocka group setup and teardown: *state is a struct certs. */
int certs_setup(void **state);
int certs_teardown(void **state);

#endif
