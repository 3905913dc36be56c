/*
 * input — how the secret and the request get into qqnotify-secret: git's
 * credential-helper protocol on stdin (gitcred.h parses it), one line from
 * a pipe, or a hidden prompt on a terminal.
 *
 * Everything read from stdin goes straight into locked memory (secret.h)
 * with read(2), never through stdio, whose buffers we cannot wipe.  Every
 * read is bounded in size, and in time unless a person is typing.
 * Results are the project's enum qn_status (status.h).
 */
#ifndef QNS_INPUT_H
#define QNS_INPUT_H

#include "gitcred.h"
#include "secret.h"
#include "status.h"

/*
 * Read one credential request from FD (stdin) within TIMEOUT_S seconds, up
 * to its blank line and at most QN_GITCRED_MESSAGE_MAX bytes, and parse it
 * into *REQ (which needs no preparation).  Always call
 * qn_gitcred_request_wipe() afterwards, whatever the result.  QN_OK (an
 * empty request is fine); QN_ETOOBIG and QN_EINVAL (req->bad_key names the
 * key, or is "" when the input as a whole was too long); QN_ETIMEOUT;
 * QN_EIO (errno is set); QN_ENOMEM.
 */
enum qn_status qns_request_read(int fd, unsigned timeout_s, struct qn_gitcred_request *req);

/*
 * Read one line from the non-terminal FD into OUT (set up with a cap of
 * QN_SECRET_MAX + 2, room for the line end), without its "\n" or "\r\n",
 * within TIMEOUT_S.  Bytes after the first line are not read.  QN_OK;
 * QN_ENOTFOUND (nothing was piped: an empty line or no input); QN_ETOOBIG;
 * QN_EINVAL (a control character); QN_ETIMEOUT; QN_EIO (errno is set).  OUT
 * is cleared on failure.
 */
enum qn_status qns_read_secret_line(int fd, unsigned timeout_s, struct qn_secret *out);

/*
 * Prompt on stderr for the secret with echo off on the terminal FD, then
 * again: the entries go to OUT and AGAIN (each set up with a cap of
 * QN_SECRET_MAX + 2), and the caller compares them.  PROMPT and REPEAT are
 * already translated.  The terminal's settings are restored on every path,
 * including SIGINT, SIGTERM, SIGHUP and SIGQUIT (which then end the program
 * as they would have).  QN_OK (AGAIN may be empty: a mismatch for the
 * caller); QN_ENOTFOUND (nothing was typed the first time); QN_ETOOBIG;
 * QN_EINVAL (a control character); QN_EIO (errno is set).  Both are cleared
 * on failure.
 */
enum qn_status qns_prompt_secret(int fd, const char *prompt, const char *repeat,
                                 struct qn_secret *out, struct qn_secret *again);

#endif
