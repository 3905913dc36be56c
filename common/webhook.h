/*
 * webhook — a chat robot route as a way out: the queue manager's transport
 * (qmgr.h) for WeCom, DingTalk and Feishu routes (route.h), and the steps
 * `qqnotify check --route` reports one by one.
 *
 * A session: open() fetches the route's secret (cred.h:
 * qn_cred_get_route) and checks its form (robot.h) before anything goes on
 * the network; the secret stays in its locked struct qn_secret until
 * close(), which wipes it (unless it was fetched to be kept:
 * qn_webhook_fetch_secret).  Each message is one HTTPS POST (http.h): the
 * URL carries the key or token (built in a struct qn_secret, signed with
 * the time of the request for DingTalk), the body is rendered by robot.h
 * from the alert's subject and text (a sendmail message: from the subject
 * and text the program's summarize() reads out of it), signed in the body
 * for Feishu; robot.h judges the answer.
 *
 * Limits: the route's minute, hour and day limits and limit_block are the
 * queue manager's (the transport names them, and the state file they are
 * counted in: one per route).  max_per_second is kept here: before a
 * request, when that many went out in the last second, the transport waits
 * until the oldest of them is a second old (never longer than a second).
 *
 * Secrecy: the secret never leaves struct qn_secret but for libcurl's copy
 * of the URL during a request (http.h); errors name the route's url, which
 * holds no secret, and whatever the platform or libcurl said is redacted
 * of every part of the secret (qn_redact_apply: any run of six of its
 * characters, in any of redact.h's forms) before it reaches struct
 * qn_error, in one place (webhook.c: redact_answer).
 *
 * Errors as robot.h and http.h describe (stages CREDENTIAL, RESOLVE,
 * CONNECT, TLS, HTTP, DATA for a message refused as too large) and
 * QN_STAGE_LOCAL for a message that cannot be rendered.  Library code:
 * never prints or logs.  Memory: a struct qn_webhook is one allocation and
 * the secret's mapping; it points to the configuration and the route,
 * which must outlive it.  One webhook per thread.
 */
#ifndef QN_WEBHOOK_H
#define QN_WEBHOOK_H

#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "diag.h"
#include "qmgr.h"
#include "route.h"
#include "status.h"

struct qn_webhook_options {
    const struct qn_config *cfg;  /* language, credential sources, [limits] digest */
    const struct qn_route *route; /* a wecom, dingtalk or feishu route of cfg */
    /* The subject and plain text of a sendmail message (LEN bytes at MSG), into
     * SUBJECT and TEXT (capped; reset by the caller): reading RFC 5322 is the
     * program's (cli/message.h).  NULL: the message is announced by its size. */
    enum qn_status (*summarize)(void *arg, const char *msg, size_t len, struct qn_buf *subject,
                                struct qn_buf *text);
    void *arg;
    /* Milliseconds since the epoch, and a wait: NULL for the real ones (tests pace). */
    long long (*clock_ms)(void *arg);
    void (*sleep_ms)(void *arg, long long ms);
};

struct qn_webhook;

/* A webhook for OPT (copied), not yet open.  QN_EINVAL (no config, a route
 * that is not a robot's), QN_ENOMEM. */
enum qn_status qn_webhook_new(const struct qn_webhook_options *opt, struct qn_webhook **ret);

/* Close (wiping the secret) and free.  W may be NULL.  Returns NULL. */
struct qn_webhook *qn_webhook_free(struct qn_webhook *w);

/* Fetch and check the route's secret; QN_OK at once when open.  RET_SOURCE
 * (QN_CRED_SOURCE_MAX bytes, or NULL) as cred.h's.  Errors at
 * QN_STAGE_CREDENTIAL (QN_ECRED: none, or the wrong form, said without
 * quoting it) or QN_STAGE_CONFIG. */
enum qn_status qn_webhook_open(struct qn_webhook *w, char *ret_source, struct qn_error *err);

/* Fetch the route's secret now and keep it (or why there is none) until
 * qn_webhook_free: close no longer wipes it and open returns it, or the
 * same error, without asking again.  For a program that fetches as root
 * and then gives root up (`qqnotify flush`); mailer.h's
 * qn_mailer_fetch_secret does the same for the [smtp] account. */
enum qn_status qn_webhook_fetch_secret(struct qn_webhook *w, struct qn_error *err);

/* Send one message with TITLE and TEXT (UTF-8) now, opening first when
 * needed.  QN_OK when the platform accepted it. */
enum qn_status qn_webhook_send(struct qn_webhook *w, const char *title, const char *text,
                               struct qn_error *err);

/* DNS, TCP and TLS to the route's host, nothing sent (for `qqnotify
 * check`); the peer's address into ADDRESS (N bytes). */
enum qn_status qn_webhook_probe(struct qn_webhook *w, char *address, size_t n,
                                struct qn_error *err);

/* End the session: the secret is wiped.  The next send opens again. */
void qn_webhook_close(struct qn_webhook *w);

/*
 * The queue manager's transport over W: name the route's, provider its
 * type (the diagnosis catalog's part for it), limits the route's over
 * [limits], state "ratelimit.NAME"; open = qn_webhook_open, deliver = the
 * alert's subject and text, or a sendmail message summarized; close =
 * qn_webhook_close.  W must outlive the transport.
 */
struct qn_transport qn_webhook_transport(struct qn_webhook *w);

#endif
