/*
 * fuzz_header — the sendmail header rewriter (qn_header_rewrite).
 *
 * Input: byte 0 holds flags (bit 0 -t, bit 1 a -f sender, bit 2 a
 * command-line recipient, bit 3 no alert recipients, bit 4 a random
 * Message-ID); the rest is the message.
 *
 * Properties, for any message:
 *  - on failure nothing is appended to OUT; the status is one header.h lists;
 *  - on success: lines end in CRLF; header lines are printable ASCII (or a
 *    folding TAB) within 998 octets; exactly one From, holding the account;
 *    no Bcc, Resent-Bcc, Sender or Return-Path; exactly one Date and Message-ID; at most
 *    one Subject, MIME-Version, Content-Type and Content-Transfer-Encoding;
 *    To or Cc present;
 *  - no header appears that was not asked for: every field name is one the
 *    rewriter adds, or one that starts a line of the input (so a CR, a
 *    folded line or an encoded-word cannot smuggle a new field in);
 *  - 1..QN_HEADER_RCPT_MAX recipients, all plausible addresses
 *    (qn_mime_addr_valid), no two the same (domain compared without case);
 *  - the result struct's strings are NUL-terminated within their arrays.
 */
#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "fuzz.h"
#include "header.h"
#include "mime.h"

#define ACCOUNT "sender@qq.com"
#define OUT_MAX (4 * 1024 * 1024)

/* NAME (N bytes) starts a line of MSG, followed by optional blanks and ':'. */
static bool input_has_field(const char *msg, size_t len, const char *name, size_t n)
{
    for (size_t i = 0; i + n < len; i++) {
        size_t j;

        if (i > 0 && msg[i - 1] != '\n')
            continue;
        if (strncasecmp(msg + i, name, n) != 0)
            continue;
        for (j = i + n; j < len && (msg[j] == ' ' || msg[j] == '\t'); j++)
            ;
        if (j < len && msg[j] == ':')
            return true;
    }
    return false;
}

static bool same_address(const char *a, const char *b)
{
    const char *at_a = strrchr(a, '@'), *at_b = strrchr(b, '@');

    if (at_a == NULL || at_b == NULL)
        return strcmp(a, b) == 0;
    return at_a - a == at_b - b && strncmp(a, b, (size_t)(at_a - a)) == 0 &&
           strcasecmp(at_a, at_b) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const added[] = {
        "Date",       "From",         "Reply-To",     "To",
        "Message-ID", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"};
    static const char *const single[] = {"Subject", "MIME-Version", "Content-Type",
                                         "Content-Transfer-Encoding"};
    /* header.h: dropped. */
    static const char *const dropped[] = {"Bcc", "Resent-Bcc", "Sender", "Return-Path"};
    static struct qn_header_result res;
    const char *rcpt_args[] = {"ops@example.com, Name <second@example.org>"};
    const char *alert[] = {"alert@example.com"};
    struct qn_header_options opt;
    struct qn_buf out;
    const char *msg, *head_end;
    size_t len, hlen, pos, n_from = 0, n_date = 0, n_id = 0, n_to = 0;
    size_t n_single[4] = {0};
    enum qn_status r;
    unsigned flags;
    bool in_from = false, from_has_account = false;

    if (size == 0)
        return 0;
    flags = data[0];
    msg = (const char *)data + 1;
    len = size - 1;

    memset(&opt, 0, sizeof opt);
    opt.account = ACCOUNT;
    opt.from_name = "服务器告警";
    opt.envelope_from = (flags & 0x02) ? "root" : NULL;
    opt.full_name = (flags & 0x02) ? "Cron Daemon" : NULL;
    opt.host = "web1";
    opt.extract_rcpt = (flags & 0x01) != 0;
    opt.rcpt_args = (flags & 0x04) ? rcpt_args : NULL;
    opt.n_rcpt_args = (flags & 0x04) ? 1 : 0;
    opt.alert_rcpt = (flags & 0x08) ? NULL : alert;
    opt.n_alert_rcpt = (flags & 0x08) ? 0 : 1;
    opt.now = 1764180000;
    opt.message_id = (flags & 0x10) ? NULL : "<fuzz.1@qq.com>";

    qn_buf_init(&out, OUT_MAX);
    FUZZ_ASSERT(qn_buf_puts(&out, "X") == QN_OK, "setup");
    memset(&res, 0x5A, sizeof res);
    r = qn_header_rewrite(msg, len, &opt, &out, &res);
    FUZZ_ASSERT(strnlen(res.first_invalid, sizeof res.first_invalid) < sizeof res.first_invalid,
                "first_invalid not NUL-terminated");
    FUZZ_ASSERT(res.n_rcpt <= QN_HEADER_RCPT_MAX, "too many recipients in the result");
    if (r != QN_OK) {
        FUZZ_ASSERT(r == QN_EINVAL || r == QN_ETOOBIG, "unexpected failure status");
        FUZZ_ASSERT(out.len == 1, "a failed rewrite appended to OUT");
        qn_buf_free(&out);
        return 0;
    }
    FUZZ_ASSERT(res.n_rcpt >= 1, "success without a recipient");
    for (size_t i = 0; i < res.n_rcpt; i++) {
        FUZZ_ASSERT(strnlen(res.rcpt[i], sizeof res.rcpt[i]) < sizeof res.rcpt[i],
                    "recipient not NUL-terminated");
        FUZZ_ASSERT(qn_mime_addr_valid(res.rcpt[i]), "recipient is not a plausible address");
        for (size_t j = 0; j < i; j++)
            FUZZ_ASSERT(!same_address(res.rcpt[i], res.rcpt[j]), "duplicate recipient");
    }

    FUZZ_ASSERT(fz_crlf_only(out.data + 1, out.len - 1), "bare CR or LF in the output");
    head_end = memmem(out.data + 1, out.len - 1, "\r\n\r\n", 4);
    FUZZ_ASSERT(head_end != NULL, "no blank line after the header block");
    hlen = (size_t)(head_end - out.data) + 2;
    for (pos = 1; pos < hlen;) {
        const char *line = out.data + pos, *crlf = memmem(line, hlen - pos, "\r\n", 2);
        size_t n = (size_t)(crlf - line), k;
        const char *colon;
        char name[QN_MIME_LINE_MAX + 1];

        pos += n + 2;
        FUZZ_ASSERT(n > 0 && n <= QN_MIME_LINE_MAX, "empty header line or over 998 octets");
        for (k = 0; k < n; k++)
            FUZZ_ASSERT((line[k] >= 0x20 && line[k] <= 0x7E) || line[k] == '\t',
                        "non-printable octet in the header block");
        if (line[0] == ' ' || line[0] == '\t') {
            if (in_from && memmem(line, n, "<" ACCOUNT ">", strlen(ACCOUNT) + 2) != NULL)
                from_has_account = true;
            continue;
        }
        in_from = false;
        colon = memchr(line, ':', n);
        FUZZ_ASSERT(colon != NULL && colon > line, "header line that is not a field");
        FUZZ_ASSERT((size_t)(colon - line) < sizeof name, "field name too long");
        memcpy(name, line, (size_t)(colon - line));
        name[colon - line] = '\0';
        for (k = 0; name[k] != '\0'; k++)
            FUZZ_ASSERT(name[k] > 0x20 && name[k] < 0x7F, "blank or control in a field name");

        {
            bool ok = false;

            for (k = 0; k < sizeof added / sizeof added[0]; k++)
                ok = ok || strcasecmp(name, added[k]) == 0;
            ok = ok || input_has_field(msg, len, name, strlen(name));
            FUZZ_ASSERT(ok, "a header field that was not in the input nor added by design");
        }
        for (k = 0; k < sizeof dropped / sizeof dropped[0]; k++)
            FUZZ_ASSERT(strcasecmp(name, dropped[k]) != 0,
                        "Bcc, Resent-Bcc, Sender or Return-Path kept");
        for (k = 0; k < 4; k++)
            n_single[k] += strcasecmp(name, single[k]) == 0;
        if (strcasecmp(name, "From") == 0) {
            n_from++;
            in_from = true;
            from_has_account =
                memmem(line, n, "<" ACCOUNT ">", strlen(ACCOUNT) + 2) != NULL ||
                (n == 6 + strlen(ACCOUNT) && memcmp(line + 6, ACCOUNT, strlen(ACCOUNT)) == 0);
        }
        n_date += strcasecmp(name, "Date") == 0;
        n_id += strcasecmp(name, "Message-ID") == 0;
        n_to += strcasecmp(name, "To") == 0 || strcasecmp(name, "Cc") == 0;
    }
    FUZZ_ASSERT(n_from == 1, "not exactly one From");
    FUZZ_ASSERT(from_has_account, "From does not hold the account");
    FUZZ_ASSERT(n_date == 1 && n_id == 1, "not exactly one Date and Message-ID");
    FUZZ_ASSERT(n_to >= 1, "neither To nor Cc");
    for (size_t k = 0; k < 4; k++)
        FUZZ_ASSERT(n_single[k] <= 1, "a field RFC 5322 allows once appears twice");
    qn_buf_free(&out);
    return 0;
}
