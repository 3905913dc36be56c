/*
 * heartbeat — the ping after a flush run: see heartbeat.h.
 */
#include "heartbeat.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "http.h"
#include "secret.h"

enum qn_status qn_heartbeat_url(const struct qn_assure_config *c, bool failed, char *out, size_t n)
{
    size_t len = strlen(c->ping_url);
    int w;

    if (len == 0)
        return QN_EINVAL;
    if (!failed)
        w = snprintf(out, n, "%s", c->ping_url);
    else
        w = snprintf(out, n, "%s%sfail", c->ping_url, c->ping_url[len - 1] == '/' ? "" : "/");
    return w < 0 || (size_t)w >= n ? QN_ETOOBIG : QN_OK;
}

void qn_heartbeat_where(const char *url, char *out, size_t n)
{
    const char *host = strstr(url, "://");
    size_t len;

    host = host != NULL ? host + 3 : url;
    len = strcspn(host, "/?#");
    snprintf(out, n, "https://%.*s", (int)(len < 100 ? len : 100), host);
}

enum qn_status qn_heartbeat_ping(const struct qn_assure_config *c, bool failed,
                                 struct qn_error *err)
{
    char url[QN_ASSURE_URL_MAX + 8], where[QN_HEARTBEAT_WHERE_MAX];
    struct qn_secret u = {0};
    struct qn_http_answer ans = {0};
    struct qn_http_request req = {
        .url = &u,
        .where = where,
        .ca_file = c->ca_file,
        .connect_timeout_ms = c->timeout_s * 1000u,
        .timeout_ms = c->timeout_s * 1000u,
    };
    enum qn_status r;

    qn_error_clear(err);
    r = qn_heartbeat_url(c, failed, url, sizeof(url));
    if (r != QN_OK)
        return qn_error_set(err, r, QN_STAGE_CONFIG, "no usable [heartbeat] ping_url");
    qn_heartbeat_where(url, where, sizeof(where));
    if (qn_secret_init(&u, sizeof(url)) != QN_OK ||
        qn_secret_append(&u, url, strlen(url)) != QN_OK) {
        r = qn_error_set(err, QN_ENOMEM, QN_STAGE_LOCAL, "out of memory for the ping");
        goto out;
    }
    qn_buf_init(&ans.body, QN_HEARTBEAT_ANSWER_MAX);
    r = qn_http_get(&req, &ans, err);
    if (r == QN_OK && (ans.status < 200 || ans.status > 299)) {
        r = qn_error_set(err, QN_EREJECT, QN_STAGE_HTTP, "%s answered the ping with HTTP %ld",
                         where, ans.status);
        err->http_status = (int)ans.status;
    }
    qn_buf_free(&ans.body);
out:
    qn_secret_wipe(&u);
    explicit_bzero(url, sizeof(url));
    return r;
}
