/*
 * mailer — the session and the mail of a configuration; contract in mailer.h.
 */
#include "mailer.h"

#include <stdlib.h>
#include <string.h>

#include "mime.h"

struct qn_mailer {
    const struct qn_config *cfg;
    struct qn_smtp *smtp; /* NULL when not connected */
    bool ready;           /* connected and logged in by qn_mailer_open() */
    qn_smtp_stage_cb on_stage;
    void *stage_arg;
    /* qn_mailer_fetch_secret(): the secret (locked pages), or why there is none */
    bool fetched;
    struct qn_secret kept;
    enum qn_status kept_status;
    struct qn_error kept_err;
};

enum qn_status qn_mailer_build(const struct qn_config *cfg, const struct qn_mailer_content *content,
                               struct qn_buf *out)
{
    const char *to[QN_CONFIG_MAX_RCPT];
    struct qn_mime_message m;

    if (cfg == NULL || content == NULL || out == NULL)
        return QN_EINVAL;
    memset(&m, 0, sizeof(m));
    m.from_name = content->from_name != NULL ? content->from_name : cfg->from_name;
    m.from_addr = cfg->user;
    if (content->to != NULL) {
        m.to = content->to;
        m.n_to = content->n_to;
    } else {
        for (size_t i = 0; i < cfg->n_to && i < QN_CONFIG_MAX_RCPT; i++)
            to[i] = cfg->to[i];
        m.to = to;
        m.n_to = cfg->n_to;
    }
    m.subject = content->subject;
    m.text = content->text;
    m.html = content->html;
    m.date = content->date;
    m.message_id = content->message_id;
    m.boundary = content->boundary;
    return qn_mime_build(&m, out);
}

enum qn_status qn_mailer_new(const struct qn_config *cfg, struct qn_mailer **ret)
{
    struct qn_mailer *m;

    if (cfg == NULL || ret == NULL)
        return QN_EINVAL;
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return QN_ENOMEM;
    m->cfg = cfg;
    *ret = m;
    return QN_OK;
}

struct qn_mailer *qn_mailer_free(struct qn_mailer *m)
{
    if (m != NULL) {
        qn_mailer_abort(m);
        qn_secret_wipe(&m->kept);
        free(m);
    }
    return NULL;
}

enum qn_status qn_mailer_fetch_secret(struct qn_mailer *m, struct qn_error *err)
{
    qn_secret_wipe(&m->kept);
    qn_error_clear(&m->kept_err);
    m->kept_status = qn_cred_get(m->cfg, &m->kept, NULL, &m->kept_err);
    m->fetched = true;
    if (m->kept_status != QN_OK) {
        qn_secret_wipe(&m->kept);
        if (err != NULL)
            *err = m->kept_err;
    }
    return m->kept_status;
}

/* The secret for one login: fetched now, or a copy of the kept one (auth wipes it). */
static enum qn_status get_secret(struct qn_mailer *m, struct qn_secret *ret, struct qn_error *err)
{
    enum qn_status r;

    if (!m->fetched)
        return qn_cred_get(m->cfg, ret, NULL, err);
    if (m->kept_status != QN_OK) {
        if (err != NULL)
            *err = m->kept_err;
        return m->kept_status;
    }
    r = qn_secret_init(ret, m->kept.len > 0 ? m->kept.len : 1);
    if (r == QN_OK)
        r = qn_secret_append(ret, m->kept.data, m->kept.len);
    if (r != QN_OK) {
        qn_secret_wipe(ret);
        qn_error_set(err, r, QN_STAGE_CREDENTIAL, "cannot copy the secret");
    }
    return r;
}

void qn_mailer_set_stage_cb(struct qn_mailer *m, qn_smtp_stage_cb cb, void *arg)
{
    m->on_stage = cb;
    m->stage_arg = arg;
}

enum qn_status qn_mailer_connect(struct qn_mailer *m, struct qn_error *err)
{
    const struct qn_config *cfg = m->cfg;
    struct qn_smtp_options opt;

    if (m->smtp != NULL)
        return qn_error_set(err, QN_EINVAL, QN_STAGE_LOCAL, "a session is already open");
    memset(&opt, 0, sizeof(opt));
    opt.host = cfg->host;
    opt.port = cfg->port;
    opt.tls = cfg->tls;
    opt.timeout_s = cfg->timeout_s;
    opt.helo_name = cfg->helo_name[0] ? cfg->helo_name : NULL;
    opt.tls_opts.ca_file = cfg->ca_file[0] ? cfg->ca_file : NULL;
    opt.tls_opts.verify = cfg->tls_verify;
    opt.tls_opts.pin_sha256 = cfg->has_tls_pin ? cfg->tls_pin : NULL;
    opt.on_stage = m->on_stage;
    opt.stage_arg = m->stage_arg;
    return qn_smtp_open(&m->smtp, &opt, err);
}

enum qn_status qn_mailer_auth(struct qn_mailer *m, struct qn_secret *secret, struct qn_error *err)
{
    enum qn_status r;

    if (m->smtp == NULL)
        r = qn_error_set(err, QN_EINVAL, QN_STAGE_AUTH, "no SMTP session");
    else
        r = qn_smtp_auth(m->smtp, m->cfg->user, secret->data, secret->len, err);
    qn_secret_wipe(secret);
    m->ready = r == QN_OK;
    return r;
}

enum qn_status qn_mailer_open(struct qn_mailer *m, struct qn_error *err)
{
    struct qn_secret secret = {0};
    enum qn_status r;

    if (m->ready)
        return QN_OK;
    /* A session left by a refused login: start afresh. */
    qn_mailer_abort(m);
    /* The secret first: a missing one costs no connection. */
    r = get_secret(m, &secret, err);
    if (r == QN_OK)
        r = qn_mailer_connect(m, err);
    if (r == QN_OK)
        r = qn_mailer_auth(m, &secret, err);
    qn_secret_wipe(&secret);
    return r;
}

enum qn_status qn_mailer_probe_sender(struct qn_mailer *m, struct qn_error *err)
{
    if (m->smtp == NULL)
        return qn_error_set(err, QN_EINVAL, QN_STAGE_MAIL, "no SMTP session");
    return qn_smtp_probe_sender(m->smtp, m->cfg->user, err);
}

enum qn_status qn_mailer_send(struct qn_mailer *m, const char *const *rcpt, size_t n_rcpt,
                              const char *msg, size_t len, struct qn_error *err)
{
    const char *to[QN_CONFIG_MAX_RCPT];
    enum qn_status r;

    r = qn_mailer_open(m, err);
    if (r != QN_OK)
        return r;
    if (rcpt == NULL) {
        for (size_t i = 0; i < m->cfg->n_to && i < QN_CONFIG_MAX_RCPT; i++)
            to[i] = m->cfg->to[i];
        rcpt = to;
        n_rcpt = m->cfg->n_to;
    }
    return qn_smtp_send(m->smtp, m->cfg->user, rcpt, n_rcpt, msg, len, err);
}

void qn_mailer_close(struct qn_mailer *m)
{
    struct qn_error quit_err;

    if (m->smtp == NULL)
        return;
    qn_error_clear(&quit_err);
    qn_smtp_quit(m->smtp, &quit_err);
    qn_mailer_abort(m);
}

void qn_mailer_abort(struct qn_mailer *m)
{
    m->smtp = qn_smtp_close(m->smtp);
    m->ready = false;
}

/* ---- the queue manager's transport ---- */

static enum qn_status transport_open(void *ctx, struct qn_error *err)
{
    return qn_mailer_open(ctx, err);
}

static enum qn_status transport_deliver(void *ctx, const struct qn_delivery *d,
                                        struct qn_error *err)
{
    struct qn_mailer *m = ctx;
    struct qn_mailer_content content;
    struct qn_buf msg;
    enum qn_status r;

    if (d->alert == NULL)
        return qn_mailer_send(m, d->rcpt, d->n_rcpt, d->message, d->message_len, err);
    memset(&content, 0, sizeof(content));
    content.from_name = d->from_name;
    content.subject = d->alert->subject.data ? d->alert->subject.data : "";
    content.text = d->alert->text.data ? d->alert->text.data : "";
    content.html = d->alert->html.data;
    qn_buf_init(&msg, QN_MAILER_MESSAGE_MAX);
    r = qn_mailer_build(m->cfg, &content, &msg);
    if (r != QN_OK)
        qn_error_set(err, r, QN_STAGE_LOCAL, "cannot build the mail");
    else
        r = qn_mailer_send(m, NULL, 0, msg.data, msg.len, err);
    qn_buf_free(&msg);
    return r;
}

static void transport_close(void *ctx)
{
    qn_mailer_close(ctx);
}

struct qn_transport qn_mailer_transport(struct qn_mailer *m)
{
    return (struct qn_transport){
        .name = "smtp",
        .ctx = m,
        .open = transport_open,
        .deliver = transport_deliver,
        .close = transport_close,
    };
}
