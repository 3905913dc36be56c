/*
 * heartbeat — the dead man's switch: one HTTPS GET to [heartbeat] ping_url
 * after a flush run (assure.h), in the push style of healthchecks.io and
 * Uptime Kuma: ping_url when the run ended with nothing failing (also when
 * there was nothing to send), ping_url + "/fail" when it did not.  The
 * service raises its own alarm when the pings stop or say fail, so a
 * broken sender or a dead timer is noticed through another way out.
 *
 * The ping goes through http.h (libcurl: https only, TLS verified against
 * ca_file or the system store, no redirects, no proxy from the
 * environment), bounded by [heartbeat] timeout for everything (DNS, TCP,
 * TLS and the answer) and an answer of at most QN_HEARTBEAT_ANSWER_MAX
 * bytes, which is not kept.  The caller pings after delivery is done: a
 * slow or dead monitoring service delays the end of the run by the timeout
 * at most and never holds an alert up.
 *
 * The ping URL names the check and may hold its key (a healthchecks.io
 * UUID, an Uptime Kuma push token): errors name its scheme and host only.
 *
 * Errors: qn_http_get's (a struct qn_error at its stage), and at
 * QN_STAGE_HTTP QN_EREJECT with http_status set for an answer that is not
 * 2xx.  Library code: never prints or logs.  Needs qn_http_global_init().
 * Thread-safe.
 */
#ifndef QN_HEARTBEAT_H
#define QN_HEARTBEAT_H

#include <stdbool.h>
#include <stddef.h>

#include "assure.h"
#include "diag.h"
#include "status.h"

#define QN_HEARTBEAT_ANSWER_MAX 4096 /* bytes of the service's answer read (and dropped) */
#define QN_HEARTBEAT_WHERE_MAX  128  /* bytes of "https://host" in errors, with the NUL */

/* The URL to GET after a run that FAILED or not, into OUT (N bytes):
 * ping_url, or ping_url + "/fail" (one '/' between them).  QN_ETOOBIG when
 * it does not fit, QN_EINVAL when no ping_url is set. */
enum qn_status qn_heartbeat_url(const struct qn_assure_config *c, bool failed, char *out, size_t n);

/* "https://host[:port]" of URL, for errors, into OUT (N bytes). */
void qn_heartbeat_where(const char *url, char *out, size_t n);

/* GET the URL above.  QN_OK when the service answered 2xx; otherwise the
 * failure in *ERR (see above). */
enum qn_status qn_heartbeat_ping(const struct qn_assure_config *c, bool failed,
                                 struct qn_error *err);

#endif
