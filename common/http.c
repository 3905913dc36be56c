/*
 * http — one HTTPS request with libcurl; contract in http.h.
 *
 * The stage of a failure comes from how far the transfer got: libcurl's
 * connect and TLS times are 0 until those steps are done, so a timeout is
 * placed where it happened without guessing from words.
 */
#include "http.h"

#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#ifndef QN_VERSION
#define QN_VERSION "0"
#endif

struct sink {
    struct qn_buf *body;
    enum qn_status failed; /* QN_ETOOBIG or QN_ENOMEM once the body could not take more */
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    enum qn_status r;

    if (size != 1 && n > SIZE_MAX / size)
        return 0;
    r = qn_buf_append(s->body, data, size * n);
    if (r != QN_OK) {
        s->failed = r;
        return 0; /* CURLE_WRITE_ERROR: the transfer stops here */
    }
    return size * n;
}

enum qn_status qn_http_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? QN_OK : QN_EIO;
}

/* How far a failed transfer got: RESOLVE, CONNECT, TLS or HTTP. */
static enum qn_stage reached(CURL *h)
{
    curl_off_t lookup = 0, connect = 0, tls = 0;

    curl_easy_getinfo(h, CURLINFO_NAMELOOKUP_TIME_T, &lookup);
    curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connect);
    curl_easy_getinfo(h, CURLINFO_APPCONNECT_TIME_T, &tls);
    if (connect == 0)
        return lookup == 0 ? QN_STAGE_RESOLVE : QN_STAGE_CONNECT;
    return tls == 0 ? QN_STAGE_TLS : QN_STAGE_HTTP;
}

static enum qn_status failure(CURL *h, CURLcode code, const char *errbuf, const struct sink *sink,
                              const char *where, struct qn_error *err)
{
    const char *words = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(code);
    long os_errno = 0;
    enum qn_stage stage = reached(h);

    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
    switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return qn_error_set(err, QN_ERESOLVE, QN_STAGE_RESOLVE, "%.*s: %s", QN_HTTP_WHERE_MAX,
                            where, words);
    case CURLE_COULDNT_CONNECT:
        return qn_error_set_errno(err, QN_ECONNECT, QN_STAGE_CONNECT, (int)os_errno, "%.*s: %s",
                                  QN_HTTP_WHERE_MAX, where, words);
    case CURLE_OPERATION_TIMEDOUT:
        return qn_error_set(err, QN_ETIMEOUT, stage == QN_STAGE_RESOLVE ? QN_STAGE_CONNECT : stage,
                            "%.*s: %s", QN_HTTP_WHERE_MAX, where, words);
    case CURLE_SSL_CONNECT_ERROR:
        /* The handshake itself failed: on I/O (sys_errno, worth a retry) or on TLS. */
        return qn_error_set_errno(err, QN_ETLS, QN_STAGE_TLS, (int)os_errno, "%.*s: %s",
                                  QN_HTTP_WHERE_MAX, where, words);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_USE_SSL_FAILED:
        return qn_error_set(err, QN_ETLS, QN_STAGE_TLS, "%.*s: %s", QN_HTTP_WHERE_MAX, where,
                            words);
    case CURLE_WRITE_ERROR:
        if (sink->failed == QN_ETOOBIG)
            return qn_error_set(err, QN_ETOOBIG, QN_STAGE_HTTP,
                                "%.*s: the answer is larger than %zu bytes", QN_HTTP_WHERE_MAX,
                                where, sink->body->max);
        if (sink->failed == QN_ENOMEM)
            return qn_error_set(err, QN_ENOMEM, QN_STAGE_HTTP, "out of memory for the answer");
        break;
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        return qn_error_set_errno(
            err, QN_EEOF, stage == QN_STAGE_RESOLVE ? QN_STAGE_HTTP : stage,
            code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR ? (int)os_errno : 0, "%.*s: %s",
            QN_HTTP_WHERE_MAX, where, words);
    case CURLE_OUT_OF_MEMORY:
        return qn_error_set(err, QN_ENOMEM, QN_STAGE_HTTP, "out of memory in libcurl");
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_NOT_BUILT_IN:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_BAD_FUNCTION_ARGUMENT:
        return qn_error_set(err, QN_ECONFIG, QN_STAGE_CONFIG, "%.*s: %s", QN_HTTP_WHERE_MAX, where,
                            words);
    default:
        break;
    }
    return qn_error_set_errno(err, QN_EIO, stage, (int)os_errno, "%.*s: %s", QN_HTTP_WHERE_MAX,
                              where, words);
}

/* Every option; false when libcurl refused one. */
static bool configure(CURL *h, const struct qn_http_request *req, bool get,
                      struct curl_slist *headers, struct sink *sink, char *errbuf)
{
    bool ok = true;
    unsigned connect_ms =
        req->connect_timeout_ms != 0 ? req->connect_timeout_ms : QN_HTTP_CONNECT_TIMEOUT_MS;

    if (req->timeout_ms != 0 && connect_ms > req->timeout_ms)
        connect_ms = req->timeout_ms;
    ok = ok && curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_URL, req->url->data) == CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
    ok = ok && curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK;
#else
    ok = ok && curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS) == CURLE_OK;
#endif
    ok = ok && curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
    if (req->ca_file != NULL && req->ca_file[0] != '\0') {
        /* That file alone, as [smtp] ca_file: not the system's directory besides. */
        ok = ok && curl_easy_setopt(h, CURLOPT_CAINFO, req->ca_file) == CURLE_OK;
        ok = ok && curl_easy_setopt(h, CURLOPT_CAPATH, NULL) == CURLE_OK;
    }
    /* "" turns off the proxies the environment would name. */
    ok = ok && curl_easy_setopt(h, CURLOPT_PROXY, req->proxy != NULL ? req->proxy : "") == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_NETRC, (long)CURL_NETRC_IGNORED) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_USERAGENT, "qqnotify/" QN_VERSION) == CURLE_OK;
    if (req->connect_only)
        return ok && curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers) == CURLE_OK;
    if (get) {
        ok = ok && curl_easy_setopt(h, CURLOPT_HTTPGET, 1L) == CURLE_OK;
    } else {
        ok = ok && curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body) == CURLE_OK;
        ok = ok && curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len) ==
                       CURLE_OK;
    }
    ok = ok && curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_WRITEDATA, sink) == CURLE_OK;
    return ok;
}

static enum qn_status perform(const struct qn_http_request *req, bool get,
                              struct qn_http_answer *ans, struct qn_error *err)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL, *more;
    struct sink sink = {.body = &ans->body, .failed = QN_OK};
    const char *where = req->where != NULL ? req->where : "the robot";
    char *ip = NULL;
    CURL *h = NULL;
    CURLcode code;
    enum qn_status r;

    qn_error_clear(err);
    ans->status = 0;
    ans->address[0] = '\0';
    qn_buf_reset(&ans->body);
    if (req->url == NULL || req->url->data == NULL ||
        (!get && !req->connect_only && req->body == NULL))
        return qn_error_set(err, QN_EINVAL, QN_STAGE_LOCAL, "no URL or no body to send");
    h = curl_easy_init();
    /* No Expect: 100-continue (a second's wait on servers that do not answer it). */
    headers = curl_slist_append(NULL, get ? "Accept: */*"
                                          : "Content-Type: application/json; charset=utf-8");
    more = headers != NULL ? curl_slist_append(headers, "Expect:") : NULL;
    if (h == NULL || more == NULL) {
        r = qn_error_set(err, QN_ENOMEM, QN_STAGE_LOCAL, "out of memory for the request");
        goto out;
    }
    headers = more;
    if (!configure(h, req, get, headers, &sink, errbuf)) {
        r = qn_error_set(err, QN_ECONFIG, QN_STAGE_CONFIG,
                         "libcurl refused an option for %.*s (too old a libcurl?)",
                         QN_HTTP_WHERE_MAX, where);
        goto out;
    }
    code = curl_easy_perform(h);
    if (curl_easy_getinfo(h, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip != NULL)
        snprintf(ans->address, sizeof(ans->address), "%s", ip);
    if (code != CURLE_OK) {
        r = failure(h, code, errbuf, &sink, where, err);
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ans->status);
    r = QN_OK;
out:
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return r;
}

enum qn_status qn_http_post(const struct qn_http_request *req, struct qn_http_answer *ans,
                            struct qn_error *err)
{
    return perform(req, false, ans, err);
}

enum qn_status qn_http_get(const struct qn_http_request *req, struct qn_http_answer *ans,
                           struct qn_error *err)
{
    return perform(req, true, ans, err);
}
