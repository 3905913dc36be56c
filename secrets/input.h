/*
 * input — how the secret and the request get into qqnotify-secret: git's
 * credential-helper protocol on stdin, one line from a pipe, or a hidden
 * prompt on a terminal.
 *
 * The credential protocol (gitcredentials(7), git-credential(1)): lines
 * "key=value\n"; a blank line or end of input ends the request.  We use
 * protocol, host, username and password and ignore every other key (as
 * helpers must, so newer git versions can add keys).  A value may not hold
 * a control character.  "host" may carry ":port", which is dropped: items
 * are stored per host name, as the configuration names the server.
 *
 * Everything read from stdin goes straight into locked memory (secmem.h)
 * with read(2), never through stdio, whose buffers we cannot wipe.  Every
 * read is bounded in size, and in time unless a person is typing.
 */
#ifndef QNS_INPUT_H
#define QNS_INPUT_H

#include <stdbool.h>

#include "secmem.h"

#define QNS_PROTOCOL_INPUT_MAX (16 * 1024) /* a git request is a few hundred bytes */
#define QNS_FIELD_MAX          255

enum qns_input_result {
    QNS_INPUT_OK = 0,
    QNS_INPUT_EMPTY,    /* nothing was typed or piped */
    QNS_INPUT_TOO_BIG,  /* a value or the whole input passed its bound */
    QNS_INPUT_INVALID,  /* a control character, or a line that is not key=value */
    QNS_INPUT_MISMATCH, /* the two prompted entries differ */
    QNS_INPUT_TIMEOUT,  /* nothing complete arrived in time */
    QNS_INPUT_IO,       /* read or terminal call failed: errno is set */
};

struct qns_request {
    char protocol[64];                /* "" when not given */
    char host[QNS_FIELD_MAX + 1];     /* without ":port"; "" when not given */
    char username[QNS_FIELD_MAX + 1]; /* "" when not given */
    struct qns_secret password;       /* initialised by qns_request_read(); len 0 if absent */
    char bad_key[32];                 /* with QNS_INPUT_INVALID/TOO_BIG: the key concerned */
};

/*
 * Read one credential request from FD (stdin) within TIMEOUT_S seconds and
 * parse it into *REQ (which needs no preparation).  Always call
 * qns_request_free() afterwards, whatever the result.  QNS_INPUT_OK (an
 * empty request is fine), _TOO_BIG, _INVALID, _TIMEOUT, _IO.
 */
enum qns_input_result qns_request_read(int fd, unsigned timeout_s, struct qns_request *req);

/* Wipe and release the request's password. */
void qns_request_free(struct qns_request *req);

/*
 * Read one line from the non-terminal FD into OUT (initialised with a cap
 * of QNS_SECRET_MAX + 2, room for the line end), without its "\n" or "\r\n", within TIMEOUT_S.
 * Bytes after the first line are not read.  QNS_INPUT_OK, _EMPTY,
 * _TOO_BIG, _INVALID (control character), _TIMEOUT, _IO.
 */
enum qns_input_result qns_read_secret_line(int fd, unsigned timeout_s, struct qns_secret *out);

/*
 * Prompt on stderr for the secret twice with echo off on the terminal FD
 * and put it in OUT (initialised with a cap of QNS_SECRET_MAX + 2).  PROMPT and REPEAT are already
 * translated.  The terminal's settings are restored on every path, including SIGINT, SIGTERM,
 * SIGHUP and SIGQUIT (which then end the program as they would have).  QNS_INPUT_OK, _EMPTY,
 * _TOO_BIG, _INVALID, _MISMATCH, _IO.
 */
enum qns_input_result qns_prompt_secret(int fd, const char *prompt, const char *repeat,
                                        struct qns_secret *out);

/* True when S (N bytes) is a usable secret: no control character. */
bool qns_secret_text_ok(const char *s, size_t n);

#endif
