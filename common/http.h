/*
 * http — one HTTPS POST (or a connection check) for the chat robots, and
 * one HTTPS GET for the heartbeat's ping (heartbeat.h), with libcurl, under
 * the project's TLS and secrecy rules.
 *
 * Policy, whatever the environment says:
 *   - https only (CURLOPT_PROTOCOLS_STR "https"), TLS 1.2 or newer, the
 *     peer's chain and host name verified (libcurl's defaults, set again),
 *     against ca_file when given, else the system trust store;
 *   - no redirect is followed: an answer 3xx comes back as it is (a robot's
 *     key must never travel to another host);
 *   - a proxy only when one is given; "" turns off the http_proxy,
 *     https_proxy and ALL_PROXY variables libcurl would otherwise read;
 *   - connect_timeout_ms for DNS, TCP and TLS, timeout_ms for the whole
 *     request; no signals (CURLOPT_NOSIGNAL);
 *   - the answer's body is read into a capped buffer: past its max the
 *     transfer is aborted (QN_ETOOBIG); headers are bounded by libcurl;
 *   - HTTP/1.1, one connection per request (a message is one small POST);
 *   - no cookies, no credentials from .netrc, no user agent beyond
 *     "qqnotify/VERSION".
 *
 * Secrecy: the URL may hold a robot's key (robot.h).  It comes in a
 * struct qn_secret and is handed to libcurl, which keeps its own copy for
 * the transfer and frees it with the handle (libcurl has no way to wipe
 * it).  Errors never quote the URL: they name WHERE (the route's url
 * without its secret) and libcurl's words, which name the host at most;
 * the transport redacts them once more (webhook.c).
 *
 * Errors: a struct qn_error (diag.h) with the stage the transfer reached:
 *   QN_ERESOLVE at RESOLVE;  QN_ECONNECT (sys_errno from libcurl) or
 *   QN_ETIMEOUT at CONNECT;  QN_ETLS at TLS (the verification result in
 *   the detail, as OpenSSL words it; sys_errno when I/O broke it), or
 *   QN_ETIMEOUT there;  at HTTP: QN_ETIMEOUT, QN_EEOF (nothing or half an
 *   answer came), QN_ETOOBIG (an answer over the body's max), QN_EIO;
 *   QN_ECONFIG (a URL or option libcurl refuses), QN_ENOMEM.  An answer
 *   with any HTTP status is QN_OK here: robot.h judges it.
 *
 * Library code: never prints or logs (libcurl's verbose output stays off).
 * Call qn_http_global_init() once at the start of a program that uses this
 * module, before threads (libcurl's global state); each request makes and
 * frees its own handle.  Thread-safe after that.
 */
#ifndef QN_HTTP_H
#define QN_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "diag.h"
#include "secret.h"
#include "status.h"

#define QN_HTTP_CONNECT_TIMEOUT_MS 10000 /* at most, for DNS, TCP and TLS together */
#define QN_HTTP_WHERE_MAX          256   /* bytes of WHERE kept in a detail */

struct qn_http_request {
    const struct qn_secret *url; /* https://..., may hold a secret */
    const char *where;           /* for errors: the url without its secret */
    const char *body;            /* POST body (JSON); NULL with connect_only and for a GET */
    size_t body_len;
    const char *ca_file; /* NULL or "": the system trust store */
    const char *proxy;   /* NULL or "": none */
    unsigned connect_timeout_ms;
    unsigned timeout_ms;
    bool connect_only; /* DNS, TCP and TLS only; no request is sent */
};

struct qn_http_answer {
    long status;        /* the HTTP status; 0 with connect_only */
    struct qn_buf body; /* the caller inits it with its bound and frees it */
    char address[64];   /* the peer's IP address, for check's report */
};

/* libcurl's global initialisation (curl_global_init).  QN_OK or QN_EIO. */
enum qn_status qn_http_global_init(void);

/* POST REQ (or only connect), the answer into *ANS.  Errors above. */
enum qn_status qn_http_post(const struct qn_http_request *req, struct qn_http_answer *ans,
                            struct qn_error *err);

/* GET REQ's URL (REQ's body is not used), the answer into *ANS.  Errors as
 * qn_http_post's. */
enum qn_status qn_http_get(const struct qn_http_request *req, struct qn_http_answer *ans,
                           struct qn_error *err);

#endif
