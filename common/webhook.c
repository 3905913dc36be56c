/*
 * webhook — a chat robot route's session and transport; contract in webhook.h.
 */
#include "webhook.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cred.h"
#include "http.h"
#include "redact.h"
#include "robot.h"
#include "secret.h"

#define PACE_MAX    100         /* max_per_second kept: route.c bounds it to 100 */
#define SUMMARY_MAX (64 * 1024) /* bytes of a sendmail message's text looked at */
#define SUBJECT_MAX 512

struct qn_webhook {
    struct qn_webhook_options opt;
    struct qn_secret secret;      /* set up while open */
    struct qn_route_secret parts; /* views into secret */
    bool kept;                    /* qn_webhook_fetch_secret(): close keeps the secret */
    enum qn_status kept_status;   /* and what that fetch returned, */
    struct qn_error kept_err;     /* and why when it failed */
    struct qn_ratelimit_config limits;
    char state[QN_ROUTE_NAME_MAX + 16];
    long long sent_ms[PACE_MAX]; /* the last requests, oldest first, for max_per_second */
    size_t n_sent;
};

/* ---- time ----------------------------------------------------------------------------- */

static long long now_ms(const struct qn_webhook *w)
{
    struct timespec ts;

    if (w->opt.clock_ms != NULL)
        return w->opt.clock_ms(w->opt.arg);
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return (long long)time(NULL) * 1000;
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(const struct qn_webhook *w, long long ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};

    if (w->opt.sleep_ms != NULL) {
        w->opt.sleep_ms(w->opt.arg, ms);
        return;
    }
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* max_per_second: when that many went out within the last second, wait until the oldest
 * of them is a second old (at most a second; a clock that steps back waits nothing). */
static void pace(struct qn_webhook *w)
{
    unsigned max = w->opt.route->limits.max_per_second;
    long long wait;

    if (max == 0 || w->n_sent < max)
        return;
    wait = w->sent_ms[w->n_sent - max] + 1000 - now_ms(w);
    if (wait > 0)
        sleep_ms(w, wait > 1000 ? 1000 : wait);
}

static void record_sent(struct qn_webhook *w, long long t)
{
    if (w->n_sent == PACE_MAX) {
        memmove(w->sent_ms, w->sent_ms + 1, (PACE_MAX - 1) * sizeof(w->sent_ms[0]));
        w->n_sent--;
    }
    w->sent_ms[w->n_sent++] = t;
}

/* ---- secrecy ----------------------------------------------------------------------------- */

/*
 * The one place where what the platform or libcurl said is cleaned of the
 * route's secret before it reaches ERR (and from there a terminal, the
 * journal or the spool): every run of QN_REDACT_RUN or more characters of
 * any part of the secret, in any of redact.h's forms (raw, base64, URL,
 * form, JSON, hex), wherever it appears.
 */
static void redact_answer(const struct qn_webhook *w, struct qn_error *err)
{
    const struct qn_route_secret *s = &w->parts;
    struct qn_redact rd;

    if (err == NULL)
        return;
    qn_redact_init(&rd);
    if (s->id != NULL)
        (void)qn_redact_add(&rd, s->id, s->id_len, QN_REDACT_RAW | QN_REDACT_BASE64);
    if (s->sign != NULL)
        (void)qn_redact_add(&rd, s->sign, s->sign_len, QN_REDACT_RAW | QN_REDACT_BASE64);
    /* QN_ENOMEM or QN_ETOOBIG overwrite the whole text: nothing of the secret is left. */
    (void)qn_redact_apply(&rd, err->server_text,
                          strnlen(err->server_text, sizeof(err->server_text)), NULL);
    (void)qn_redact_apply(&rd, err->detail, strnlen(err->detail, sizeof(err->detail)), NULL);
}

/* ---- the session -------------------------------------------------------------------------- */

enum qn_status qn_webhook_new(const struct qn_webhook_options *opt, struct qn_webhook **ret)
{
    struct qn_webhook *w;

    if (opt == NULL || opt->cfg == NULL || opt->route == NULL || ret == NULL ||
        (opt->route->type != QN_ROUTE_TYPE_WECOM && opt->route->type != QN_ROUTE_TYPE_DINGTALK &&
         opt->route->type != QN_ROUTE_TYPE_FEISHU))
        return QN_EINVAL;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return QN_ENOMEM;
    w->opt = *opt;
    qn_route_ratelimit(opt->route, &opt->cfg->limits, &w->limits);
    if (!qn_route_state_name(opt->route, w->state, sizeof(w->state))) {
        free(w);
        return QN_EINVAL;
    }
    *ret = w;
    return QN_OK;
}

static void wipe(struct qn_webhook *w)
{
    qn_secret_wipe(&w->secret);
    memset(&w->parts, 0, sizeof(w->parts));
}

struct qn_webhook *qn_webhook_free(struct qn_webhook *w)
{
    if (w != NULL) {
        wipe(w);
        free(w);
    }
    return NULL;
}

void qn_webhook_close(struct qn_webhook *w)
{
    if (!w->kept)
        wipe(w);
}

static enum qn_status fetch(struct qn_webhook *w, char *ret_source, struct qn_error *err)
{
    const struct qn_route *route = w->opt.route;
    const char *why = NULL;
    enum qn_status r;

    r = qn_cred_get_route(w->opt.cfg, route->name, &w->secret, ret_source, err);
    if (r != QN_OK)
        return r;
    r = qn_route_secret_parse(route->type, w->secret.data, w->secret.len, &w->parts, &why);
    if (r != QN_OK) {
        wipe(w);
        return qn_error_set(err, QN_ECRED, QN_STAGE_CREDENTIAL,
                            "the secret of route %s has the wrong form: %s", route->name, why);
    }
    return QN_OK;
}

enum qn_status qn_webhook_open(struct qn_webhook *w, char *ret_source, struct qn_error *err)
{
    if (w->kept && w->kept_status != QN_OK) {
        *err = w->kept_err;
        return w->kept_status;
    }
    if (w->secret.data != NULL) {
        qn_error_clear(err);
        return QN_OK;
    }
    return fetch(w, ret_source, err);
}

enum qn_status qn_webhook_fetch_secret(struct qn_webhook *w, struct qn_error *err)
{
    wipe(w);
    qn_error_clear(&w->kept_err);
    w->kept_status = fetch(w, NULL, &w->kept_err);
    w->kept = true;
    if (w->kept_status != QN_OK && err != NULL)
        *err = w->kept_err;
    return w->kept_status;
}

/* The request every step shares. */
static void request(const struct qn_webhook *w, struct qn_http_request *req)
{
    const struct qn_route *route = w->opt.route;

    memset(req, 0, sizeof(*req));
    req->where = route->url;
    req->ca_file = route->ca_file;
    req->proxy = route->proxy;
    req->timeout_ms = route->timeout_s * 1000u;
    req->connect_timeout_ms = QN_HTTP_CONNECT_TIMEOUT_MS;
}

enum qn_status qn_webhook_probe(struct qn_webhook *w, char *address, size_t n, struct qn_error *err)
{
    const struct qn_route *route = w->opt.route;
    struct qn_http_request req;
    struct qn_http_answer ans;
    struct qn_secret url = {0};
    enum qn_status r;

    /* The endpoint itself: the path the secret would go to is not needed to test TLS. */
    if (qn_secret_init(&url, QN_ROUTE_URL_MAX) != QN_OK ||
        qn_secret_append(&url, route->url, strlen(route->url)) != QN_OK) {
        qn_secret_wipe(&url);
        return qn_error_set(err, QN_ENOMEM, QN_STAGE_LOCAL, "out of memory");
    }
    request(w, &req);
    req.url = &url;
    req.connect_only = true;
    memset(&ans, 0, sizeof(ans));
    qn_buf_init(&ans.body, 1);
    r = qn_http_post(&req, &ans, err);
    if (address != NULL && n > 0)
        snprintf(address, n, "%s", ans.address);
    qn_buf_free(&ans.body);
    qn_secret_wipe(&url);
    return r;
}

enum qn_status qn_webhook_send(struct qn_webhook *w, const char *title, const char *text,
                               struct qn_error *err)
{
    const struct qn_route *route = w->opt.route;
    struct qn_robot_message m = {
        .title = title, .text = text, .keyword = route->keyword, .lang = w->opt.cfg->language};
    struct qn_http_request req;
    struct qn_http_answer ans;
    struct qn_secret url = {0};
    struct qn_buf body;
    long long t;
    enum qn_status r;

    r = qn_webhook_open(w, NULL, err);
    if (r != QN_OK)
        return r;
    qn_error_clear(err);
    qn_buf_init(&body, QN_ROBOT_BODY_MAX);
    memset(&ans, 0, sizeof(ans));
    qn_buf_init(&ans.body, QN_ROBOT_ANSWER_MAX);
    pace(w);
    t = now_ms(w);
    r = qn_robot_body(route->type, route->format, &m, &w->parts, t / 1000, &body);
    if (r != QN_OK) {
        qn_error_set(err, r, QN_STAGE_LOCAL, "cannot build the message for route %s", route->name);
        goto out;
    }
    r = qn_robot_url(route->type, route->url, &w->parts, t, &url);
    if (r != QN_OK) {
        qn_error_set(err, r, QN_STAGE_LOCAL, "cannot build the address of route %s", route->name);
        goto out;
    }
    request(w, &req);
    req.url = &url;
    req.body = body.data;
    req.body_len = body.len;
    r = qn_http_post(&req, &ans, err);
    if (r == QN_OK)
        r = qn_robot_answer(route->type, ans.status, ans.body.data, ans.body.len, err);
    /* A request that reached the platform counts toward its per-second limit, from the
     * moment its answer came: the platform counted it on arrival, somewhere before that,
     * so the next second is waited out on the safe side of any delay on the way. */
    if (r == QN_OK || (err != NULL && (err->stage == QN_STAGE_HTTP || err->stage == QN_STAGE_DATA)))
        record_sent(w, now_ms(w));
    if (r != QN_OK)
        redact_answer(w, err);
out:
    qn_secret_wipe(&url);
    qn_buf_free(&body);
    qn_buf_wipe(&ans.body);
    return r;
}

/* ---- the queue manager's transport --------------------------------------------------------- */

static enum qn_status transport_open(void *ctx, struct qn_error *err)
{
    return qn_webhook_open(ctx, NULL, err);
}

/* A sendmail message as title and text: what the program reads out of it, or its size. */
static enum qn_status summarize(struct qn_webhook *w, const struct qn_delivery *d,
                                struct qn_buf *subject, struct qn_buf *text)
{
    bool en = w->opt.cfg->language == QN_LANG_EN;

    if (w->opt.summarize != NULL &&
        w->opt.summarize(w->opt.arg, d->message, d->message_len, subject, text) == QN_OK)
        return QN_OK;
    qn_buf_reset(subject);
    qn_buf_reset(text);
    if (qn_buf_puts(subject, en ? "A mail for " : "一封发给 ") != QN_OK ||
        qn_buf_puts(subject, d->n_rcpt > 0 ? d->rcpt[0] : "?") != QN_OK ||
        (!en && qn_buf_puts(subject, " 的邮件") != QN_OK) ||
        qn_buf_printf(text,
                      en ? "%zu bytes; its text could not be read." : "%zu 字节，正文无法读取。",
                      d->message_len) != QN_OK)
        return QN_ENOMEM;
    return QN_OK;
}

static enum qn_status transport_deliver(void *ctx, const struct qn_delivery *d,
                                        struct qn_error *err)
{
    struct qn_webhook *w = ctx;
    struct qn_buf subject, text;
    enum qn_status r;

    if (d->alert != NULL)
        return qn_webhook_send(w, d->alert->subject.data != NULL ? d->alert->subject.data : "",
                               d->alert->text.data != NULL ? d->alert->text.data : "", err);
    qn_buf_init(&subject, SUBJECT_MAX);
    qn_buf_init(&text, SUMMARY_MAX);
    r = summarize(w, d, &subject, &text);
    if (r != QN_OK)
        qn_error_set(err, r, QN_STAGE_LOCAL, "cannot read the mail for route %s",
                     w->opt.route->name);
    else
        r = qn_webhook_send(w, subject.data != NULL ? subject.data : "",
                            text.data != NULL ? text.data : "", err);
    qn_buf_free(&subject);
    qn_buf_free(&text);
    return r;
}

static void transport_close(void *ctx)
{
    qn_webhook_close(ctx);
}

struct qn_transport qn_webhook_transport(struct qn_webhook *w)
{
    return (struct qn_transport){
        .name = w->opt.route->name,
        .provider = qn_route_type_name(w->opt.route->type),
        .limits = &w->limits,
        .state = w->state,
        .ctx = w,
        .open = transport_open,
        .deliver = transport_deliver,
        .close = transport_close,
    };
}
