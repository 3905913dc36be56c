/*
 * The sender's side of a local user's `sendmail`: when the pickup
 * (pickup.h) takes a submitted message out of maildrop/, it is rewritten
 * here, in the sender, for the account: sendmail's header rewriting
 * (header.h: From is the account, Bcc removed, local recipients sent to
 * [notify] to, 8-bit text encoded), then two things nothing the user wrote
 * can change: the From display name is "from user NAME" and the Subject
 * starts with it ("from user mallory: ..."; a Subject is added when there
 * is none).  The envelope becomes the account and the rewritten
 * recipients.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "header.h"
#include "message.h"
#include "mime.h"

void qn_cli_host_name(char *out, size_t outsz)
{
    size_t o = 0;

    if (outsz == 0)
        return;
    if (gethostname(out, outsz - 1) != 0)
        out[0] = '\0';
    out[outsz - 1] = '\0';
    for (size_t i = 0; out[i] != '\0'; i++) {
        char c = out[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '.' || c == '-')
            out[o++] = c;
    }
    out[o] = '\0';
    if (o == 0)
        snprintf(out, outsz, "localhost");
}

/* The Subject of IN's field F, decoded, behind PREFIX, into OUT as a header line. */
static enum qn_status mark_subject(const struct qn_message *m, const struct qn_message_field *f,
                                   const char *prefix, const char *sep, struct qn_buf *out)
{
    struct qn_buf raw, text;
    enum qn_status r;

    qn_buf_init(&raw, QN_MESSAGE_BLOCK_MAX);
    qn_buf_init(&text, QN_MESSAGE_BLOCK_MAX);
    r = qn_buf_printf(&text, "%s%s", prefix, sep);
    if (r == QN_OK && f != NULL)
        r = qn_message_unfold(m, f, &raw);
    if (r == QN_OK && f != NULL)
        r = qn_message_decode(raw.data, raw.len, &text);
    if (r == QN_OK)
        r = qn_mime_header_text(out, "Subject", f != NULL ? text.data : prefix);
    qn_buf_free(&raw);
    qn_buf_free(&text);
    return r;
}

/* IN (a message the header rewriting wrote) with its From and Subject marked for WHO. */
static enum qn_status mark(const struct qn_buf *in, const struct qn_config *cfg,
                           const struct qn_pickup_submitter *who, struct qn_buf *out)
{
    const char *sep = cfg->language == QN_LANG_EN ? ": " : "：";
    struct qn_message *m = malloc(sizeof(*m));
    bool subject = false;
    size_t end = 0;
    enum qn_status r;

    if (m == NULL)
        return QN_ENOMEM;
    r = qn_message_parse(m, in->data, in->len);
    for (size_t i = 0; r == QN_OK && i < m->n_fields; i++) {
        const struct qn_message_field *f = &m->fields[i];

        end = f->end;
        if (qn_message_field_is(m, f, "from")) {
            r = qn_mime_header_mailbox(out, "From", who->prefix, cfg->user);
        } else if (qn_message_field_is(m, f, "subject")) {
            if (!subject)
                r = mark_subject(m, f, who->prefix, sep, out);
            subject = true;
        } else {
            r = qn_buf_append(out, in->data + f->start, f->end - f->start);
        }
    }
    if (r == QN_OK && !subject)
        r = mark_subject(m, NULL, who->prefix, sep, out);
    /* The empty line and the body, as the rewriting wrote them. */
    if (r == QN_OK)
        r = qn_buf_append(out, in->data + end, in->len - end);
    free(m);
    return r;
}

enum qn_status qn_cli_rewrite_submission(void *arg, const struct qn_config *cfg,
                                         const struct qn_pickup_submitter *who,
                                         struct qn_spool_entry *e, char *why, size_t why_size)
{
    const char *alert[QN_CONFIG_MAX_RCPT], *rcpt[QN_SPOOL_RCPT_MAX];
    struct qn_header_options ho;
    struct qn_header_result *res = malloc(sizeof(*res));
    struct qn_buf rewritten, marked;
    char host[QN_CLI_HOST_MAX + 1];
    enum qn_status r = QN_ENOMEM;

    (void)arg;
    qn_buf_init(&rewritten, cfg->max_entry_size);
    qn_buf_init(&marked, cfg->max_entry_size);
    if (res == NULL)
        goto out;
    qn_cli_host_name(host, sizeof(host));
    for (size_t i = 0; i < cfg->n_to; i++)
        alert[i] = cfg->to[i];
    for (size_t i = 0; i < e->n_rcpt; i++)
        rcpt[i] = e->rcpt[i];
    memset(&ho, 0, sizeof(ho));
    ho.account = cfg->user;
    ho.from_name = who->prefix;
    ho.envelope_from = e->sender[0] != '\0' ? e->sender : NULL;
    ho.host = host;
    ho.rcpt_args = rcpt;
    ho.n_rcpt_args = e->n_rcpt;
    ho.alert_rcpt = alert;
    ho.n_alert_rcpt = cfg->n_to;
    r = qn_header_rewrite(e->message != NULL ? e->message : "", e->message_len, &ho, &rewritten,
                          res);
    if (r == QN_EINVAL && res->n_local > 0 && cfg->n_to == 0)
        snprintf(why, why_size, "for local users only, and [notify] to is empty");
    else if (r == QN_EINVAL)
        snprintf(why, why_size, "no valid recipient (the first refused: '%s')", res->first_invalid);
    else if (r == QN_ETOOBIG)
        snprintf(why, why_size,
                 "too large once written for the account ([spool] max_entry_size, %d header "
                 "lines, %d recipients)",
                 QN_HEADER_FIELDS_MAX, QN_HEADER_RCPT_MAX);
    if (r == QN_OK)
        r = mark(&rewritten, cfg, who, &marked);
    if (r == QN_ETOOBIG && why[0] == '\0')
        snprintf(why, why_size, "too large once written for the account");
    if (r != QN_OK)
        goto out;
    /* The entry takes the marked message (heap, NUL-terminated: spool.h) and the envelope. */
    free(e->message);
    e->message = marked.data;
    e->message_len = marked.len;
    marked.data = NULL;
    snprintf(e->sender, sizeof(e->sender), "%s", cfg->user);
    e->n_rcpt = res->n_rcpt;
    for (size_t i = 0; i < res->n_rcpt; i++)
        snprintf(e->rcpt[i], sizeof(e->rcpt[i]), "%s", res->rcpt[i]);
    r = QN_OK;
out:
    qn_buf_free(&rewritten);
    qn_buf_free(&marked);
    free(res);
    return r;
}
