/*
 * gitcred — git's credential helper protocol (git-credential(1) "INPUT/OUTPUT
 * FORMAT", gitcredentials(7) "CUSTOM HELPERS"), both sides of it:
 * `qqnotify` asks a helper (cred.c writes the request and parses the
 * reply), `qqnotify-secret` is one (secrets/ parses the request and writes
 * the reply).
 *
 * A message is "key=value" lines, each ended by "\n" (a "\r" before it is
 * dropped), up to the first empty line or the end of the text.  The value
 * is everything after the first '='.  Keys we do not use are ignored (git
 * adds new ones); when a key comes twice the last line wins, as in git.
 * Each direction is read with its own strictness, stated at its parser:
 * a reply comes from a program the administrator configured and any oddity
 * means it is the wrong program; a request comes from git or qqnotify.
 *
 * Bounds: a message read from the other side is at most
 * QN_GITCRED_MESSAGE_MAX bytes (the reader enforces it); protocol, host and
 * username at most QN_GITCRED_PROTOCOL_MAX / QN_GITCRED_FIELD_MAX bytes;
 * a password at most QN_SECRET_MAX bytes.  Passwords only ever live in
 * struct qn_secret (secret.h), never in a plain buffer.
 *
 * Written by hand: the format is a few lines of text, and git's own code is
 * not a library.  Pure functions: no I/O, no global state, no allocation
 * besides the secrets, so the parsers can be fuzzed (tests/fuzz/fuzz_cred.c).
 * Thread-safe for distinct arguments.  libc only.
 */
#ifndef QN_GITCRED_H
#define QN_GITCRED_H

#include <stdbool.h>
#include <stddef.h>

#include "secret.h"
#include "status.h"

#define QN_GITCRED_MESSAGE_MAX  (16 * 1024) /* bytes of a request or reply we read */
#define QN_GITCRED_PROTOCOL_MAX 63          /* bytes of "protocol" */
#define QN_GITCRED_FIELD_MAX    255         /* bytes of "host" or "username" */
#define QN_GITCRED_KEY_SHOWN    31          /* bytes of a refused key kept for the message */

/* A parsed request (what qqnotify-secret reads on stdin). */
struct qn_gitcred_request {
    char protocol[QN_GITCRED_PROTOCOL_MAX + 1]; /* "" when not given */
    char host[QN_GITCRED_FIELD_MAX + 1];        /* without ":port"; "" when not given */
    char username[QN_GITCRED_FIELD_MAX + 1];    /* "" when not given */
    struct qn_secret password;                  /* len 0 when not given (or empty) */
    char bad_key[QN_GITCRED_KEY_SHOWN + 1];     /* on QN_EINVAL/QN_ETOOBIG: the key concerned,
                                                   printable ASCII ('?' for other bytes) */
};

/* True when the N bytes at S hold no control character (< 0x20 or 0x7f):
 * what a request value, and a password we answer, must satisfy. */
bool qn_gitcred_value_ok(const char *s, size_t n);

/*
 * Write the request "protocol=P\nhost=H\nusername=U\n\n" into OUT (SIZE
 * bytes, NUL-terminated) and its length (without the NUL) into *RET_LEN.
 * QN_EINVAL when a value holds "\r" or "\n" (it would forge more lines);
 * QN_ETOOBIG when it does not fit.  OUT is undefined on failure.
 */
enum qn_status qn_gitcred_write_request(const char *protocol, const char *host,
                                        const char *username, char *out, size_t size,
                                        size_t *ret_len);

/*
 * Parse a request of LEN bytes at TEXT (need not be NUL-terminated) into
 * *RET, which is overwritten (pass it not set up, or wiped).  protocol,
 * host and username are kept; "host" loses a ":port" suffix (items are
 * stored per host name, as the configuration names the server; a bare
 * IPv6 address keeps its colons); "password" goes into ret->password, set
 * up here.  Errors, with ret->bad_key naming the key: QN_EINVAL a
 * non-empty line without '=' or a value with a control character;
 * QN_ETOOBIG a value over its bound; QN_ENOMEM.  Whatever the result, call
 * qn_gitcred_request_wipe(RET) afterwards; on failure the password is
 * already wiped.
 */
enum qn_status qn_gitcred_parse_request(const char *text, size_t len,
                                        struct qn_gitcred_request *ret);

/* Wipe the request's password.  Accepts NULL. */
void qn_gitcred_request_wipe(struct qn_gitcred_request *req);

/*
 * The reply "password=PASSWORD\n" (LEN bytes of PASSWORD) into *RET, a new
 * secret set up here (pass it not set up, or wiped).  QN_EINVAL when the
 * password is empty or holds a control character (a line break would add
 * lines to the reply: a second password, a forged key); QN_ETOOBIG over
 * QN_SECRET_MAX; QN_ENOMEM.  *RET is untouched on failure.
 */
enum qn_status qn_gitcred_write_reply(const char *password, size_t len, struct qn_secret *ret);

/*
 * A chat robot route's secret (route.h) travels in two keys, since git's
 * values hold no line break: "password=" the key, token or hook id, and,
 * for a robot that signs, QN_GITCRED_SIGNING_KEY "=" its signing secret.
 * The request names the route: protocol=QN_GITCRED_ROUTE_PROTOCOL,
 * host=NAME.
 */
#define QN_GITCRED_ROUTE_PROTOCOL "qqnotify-route"
#define QN_GITCRED_SIGNING_KEY    "qqnotify_signing_secret"

/* The reply for a route's secret "ID" or "ID\nSIGNING" (LEN bytes; a "\r"
 * before the line end is dropped) into *RET, set up here.  QN_EINVAL: an
 * empty part, more than two lines, a control character; QN_ETOOBIG;
 * QN_ENOMEM.  *RET is untouched on failure. */
enum qn_status qn_gitcred_write_route_reply(const char *secret, size_t len, struct qn_secret *ret);

/* A helper's reply to a route's request, parsed as qn_gitcred_parse_reply()
 * parses (same strictness and errors), into *RET as "ID" or "ID\nSIGNING"
 * (the last line of each key wins; an empty signing secret is none). */
enum qn_status qn_gitcred_parse_route_reply(const char *text, size_t len, struct qn_secret *ret);

/*
 * Parse a helper's reply of LEN bytes at TEXT (need not be NUL-terminated):
 * the last "password=" line wins, other keys are ignored.  Strict: a NUL
 * byte anywhere, or a non-empty line without '=' or with an empty key, is
 * QN_EINVAL.  QN_ENOTFOUND no password line, or an empty password;
 * QN_ETOOBIG a password over QN_SECRET_MAX bytes; QN_ENOMEM.  On QN_OK
 * *RET is a new secret holding the password (set up here: pass it not set
 * up; a previous one would be overwritten, not wiped).  *RET is untouched
 * on failure.
 */
enum qn_status qn_gitcred_parse_reply(const char *text, size_t len, struct qn_secret *ret);

#endif
