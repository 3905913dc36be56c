/*
 * fuzz_smtp_reply — the SMTP reply parser (qn_smtp_reply_feed) and what
 * turns a reply into a diagnosis (qn_error_set_reply, qn_diag_lookup).
 *
 * Input: byte 0 chooses the stage and the provider; the rest is what a
 * server sent, cut into lines at LF with one CR before it dropped, as the
 * client's reader does.
 *
 * Properties:
 *  - every line's outcome is one the contract allows, decided by a model
 *    written from smtp.h (several conditions may hold: any of their
 *    statuses is accepted); a failed feed leaves the reply untouched; a
 *    complete reply refuses more lines;
 *  - the reply is always consistent: code 200-599, text_len < QN_SMTP_REPLY_MAX
 *    with text[text_len] == NUL, at most QN_SMTP_REPLY_LINES_MAX lines, the
 *    text exactly the lines' texts joined by LF, the enhanced code exactly
 *    the RFC 3463 code at the start of the first line when its class matches;
 *  - qn_error_set_reply on the parsed reply and on the raw input: the status
 *    follows the code (4xx QN_ETEMPFAIL; 530/534/535 at any stage and any 5xx
 *    at AUTH QN_EAUTH, as test_diag.c specifies; other 5xx QN_EREJECT; else
 *    QN_EPROTO), server_text is a clean line (valid UTF-8, no control
 *    characters) within its array, enhanced is a code or "", and the catalog
 *    always has a diagnosis with every text set.
 */
#include <stdint.h>
#include <string.h>

#include "diag.h"
#include "fuzz.h"
#include "smtp.h"

#define ERR_OK     0x01
#define ERR_PROTO  0x02
#define ERR_TOOBIG 0x04
#define ERR_INVAL  0x08

struct model {
    int code;
    size_t n_lines, text_len;
    bool complete;
    char text[QN_SMTP_REPLY_MAX];
    char enhanced[16];
};

static bool digit(char c)
{
    return c >= '0' && c <= '9';
}

/* RFC 3463 "c.s.d" (s, d 1-3 digits) at the start of T, then blank or end. */
static void model_enhanced(const char *t, size_t n, char cls, char out[16])
{
    size_t i = 2, k;

    out[0] = '\0';
    if (n < 5 || t[0] != cls || t[1] != '.')
        return;
    for (int part = 0; part < 2; part++) {
        for (k = 0; i + k < n && digit(t[i + k]); k++)
            ;
        if (k < 1 || k > 3)
            return;
        i += k;
        if (part == 0) {
            if (i >= n || t[i] != '.')
                return;
            i++;
        }
    }
    if (i < n && t[i] != ' ')
        return;
    memcpy(out, t, i);
    out[i] = '\0';
}

/* The statuses the contract allows for LINE; applies it to M when it is accepted. */
static unsigned model_feed(struct model *m, const char *line, size_t len)
{
    unsigned errs = 0;
    int code = 0;
    size_t tlen;

    if (m->complete)
        return ERR_INVAL;
    if (len > QN_SMTP_LINE_MAX)
        errs |= ERR_TOOBIG;
    if (len < 3 || !digit(line[0]) || !digit(line[1]) || !digit(line[2])) {
        errs |= ERR_PROTO;
    } else {
        code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
        if (code < 200 || code > 599)
            errs |= ERR_PROTO;
        if (m->n_lines > 0 && code != m->code)
            errs |= ERR_PROTO;
    }
    if (len > 3 && line[3] != ' ' && line[3] != '-')
        errs |= ERR_PROTO;
    if (m->n_lines >= QN_SMTP_REPLY_LINES_MAX)
        errs |= ERR_TOOBIG;
    tlen = len > 3 ? len - 4 : 0;
    if (m->text_len + (m->n_lines > 0 ? 1 : 0) + tlen >= QN_SMTP_REPLY_MAX)
        errs |= ERR_TOOBIG;
    if (errs != 0)
        return errs;
    if (m->n_lines == 0) {
        m->code = code;
        model_enhanced(line + 4, tlen, line[0], m->enhanced);
    } else {
        m->text[m->text_len++] = '\n';
    }
    memcpy(m->text + m->text_len, line + 4, tlen);
    m->text_len += tlen;
    m->n_lines++;
    m->complete = len == 3 || line[3] == ' ';
    return ERR_OK;
}

static unsigned status_bit(enum qn_status r)
{
    switch (r) {
    case QN_OK:
        return ERR_OK;
    case QN_EPROTO:
        return ERR_PROTO;
    case QN_ETOOBIG:
        return ERR_TOOBIG;
    case QN_EINVAL:
        return ERR_INVAL;
    default:
        return 0x80;
    }
}

static bool enhanced_form(const char *e)
{
    size_t n = strnlen(e, 16), i = 0, k;

    if (n == 16)
        return false;
    if (n == 0)
        return true;
    if (n < 5 || !(e[0] >= '2' && e[0] <= '5') || e[1] != '.')
        return false;
    i = 2;
    for (int part = 0; part < 2; part++) {
        for (k = 0; i + k < n && digit(e[i + k]); k++)
            ;
        if (k < 1 || k > 3)
            return false;
        i += k;
        if (part == 0) {
            if (i >= n || e[i] != '.')
                return false;
            i++;
        }
    }
    return i == n;
}

static void check_error(enum qn_stage stage, int code, const char *text, size_t len,
                        const char *provider)
{
    const struct qn_diagnosis *d;
    struct qn_error err;
    enum qn_status r, want;

    memset(&err, 0x5A, sizeof err); /* set_reply must fill what it promises */
    qn_error_clear(&err);
    r = qn_error_set_reply(&err, stage, code, text, len);
    if (code >= 400 && code <= 499)
        want = QN_ETEMPFAIL;
    else if (code == 535 || code == 534 || code == 530 ||
             (stage == QN_STAGE_AUTH && code >= 500 && code <= 599))
        want = QN_EAUTH; /* as diag.c and test_diag.c have it; diag.h says less */
    else if (code >= 500 && code <= 599)
        want = QN_EREJECT;
    else
        want = QN_EPROTO;
    FUZZ_ASSERT(r == want && err.status == want, "status does not follow the reply code");
    FUZZ_ASSERT(err.smtp_code == code && err.stage == stage, "code or stage not recorded");
    FUZZ_ASSERT(err.sys_errno == 0 && err.tls_error == 0, "errno or TLS error kept");
    FUZZ_ASSERT(fz_clean_field(err.server_text, sizeof err.server_text),
                "server_text is not a clean line within its array");
    FUZZ_ASSERT(enhanced_form(err.enhanced), "enhanced is not an RFC 3463 code");
    FUZZ_ASSERT(err.verdict == QN_VERDICT_RETRY || err.verdict == QN_VERDICT_PERMANENT ||
                    err.verdict == QN_VERDICT_CONFIG,
                "a failure without a verdict");
    d = qn_diag_lookup(provider, &err);
    FUZZ_ASSERT(d != NULL && d->id != NULL && d->when != NULL && d->cause != NULL && d->fix != NULL,
                "no complete diagnosis for a failure");
    FUZZ_ASSERT(qn_stage_name(stage) != NULL && qn_strerror(r) != NULL, "names");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const providers[] = {"qq",      "exmail", "163", "gmail",
                                            "outlook", "custom", NULL};
    struct qn_smtp_reply *reply, *before;
    struct model *m;
    struct fz_cursor c;
    const char *line, *provider;
    size_t n;
    enum qn_stage stage;
    enum qn_status r;

    if (size == 0)
        return 0;
    stage = (enum qn_stage)(QN_STAGE_GREETING + (data[0] & 0x07)); /* GREETING..DATA, QUIT */
    if (stage > QN_STAGE_DATA)
        stage = QN_STAGE_QUIT;
    provider = providers[(data[0] >> 3) % 7];
    c = (struct fz_cursor){.p = data + 1, .n = size - 1};

    reply = calloc(1, sizeof *reply);
    before = malloc(sizeof *before);
    m = calloc(1, sizeof *m);
    FUZZ_ASSERT(reply && before && m, "oom");
    while (fz_next_field(&c, '\n', &line, &n)) {
        unsigned allowed;

        if (c.done && n == 0)
            break; /* nothing after the last LF */
        if (n > 0 && line[n - 1] == '\r')
            n--;
        memcpy(before, reply, sizeof *reply);
        allowed = model_feed(m, line, n);
        r = qn_smtp_reply_feed(reply, line, n);
        FUZZ_ASSERT((status_bit(r) & allowed) != 0, "reply_feed status not allowed for this line");
        if (r != QN_OK) {
            FUZZ_ASSERT(memcmp(before, reply, sizeof *reply) == 0,
                        "a failed feed changed the reply");
            if (allowed & ERR_OK)
                break; /* model and code disagree on acceptance: stop comparing */
            if (r != QN_EINVAL)
                break; /* the client stops at the first bad line */
            continue;
        }
        FUZZ_ASSERT(allowed == ERR_OK, "reply_feed accepted a line the contract refuses");
        FUZZ_ASSERT(reply->code == m->code && reply->n_lines == m->n_lines &&
                        reply->complete == m->complete && reply->text_len == m->text_len &&
                        memcmp(reply->text, m->text, m->text_len) == 0,
                    "reply differs from the model");
        FUZZ_ASSERT(strcmp(reply->enhanced, m->enhanced) == 0, "enhanced code differs from model");
        FUZZ_ASSERT(reply->code >= 200 && reply->code <= 599, "code out of range");
        FUZZ_ASSERT(reply->text_len < QN_SMTP_REPLY_MAX && reply->text[reply->text_len] == '\0',
                    "text not NUL-terminated within its array");
        FUZZ_ASSERT(reply->n_lines <= QN_SMTP_REPLY_LINES_MAX, "too many lines kept");
        if (reply->complete) {
            check_error(stage, reply->code, reply->text, reply->text_len, provider);
            r = qn_smtp_reply_feed(reply, "250 more", 8);
            FUZZ_ASSERT(r == QN_EINVAL, "a complete reply accepted another line");
            break;
        }
    }
    /* The raw input as reply text, with a code from its first bytes. */
    if (size >= 3) {
        int code = 100 + (data[1] % 6) * 100 + data[2] % 100;

        check_error(stage, code, (const char *)data + 3, size - 3, provider);
    }
    free(reply);
    free(before);
    free(m);
    return 0;
}
