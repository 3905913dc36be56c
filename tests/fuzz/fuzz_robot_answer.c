/*
 * fuzz_robot_answer — what turns a chat platform's answer into a failure
 * and a diagnosis (qn_robot_answer, qn_diag_lookup), and the escaping of
 * text for the robots' markup (qn_robot_escape).
 *
 * Input: byte 0 chooses the platform (WeCom, DingTalk, Feishu) and byte 1
 * the HTTP status (200 most of the time, else one of 3xx, 4xx, 5xx); the
 * rest is the answer's body, any bytes.
 *
 * Properties:
 *  - QN_OK only for a 2xx answer; then nothing else is asked;
 *  - a failure is one of the statuses robot.h lists, with the stage it
 *    names (QN_STAGE_DATA only for 413), a verdict, http_status as given,
 *    a detail, and server_text a clean line (valid UTF-8, no control
 *    character) within its array;
 *  - api_code is 0 exactly when the status says "not the platform's" or
 *    the HTTP status decided, and never 0 for an unknown-code refusal;
 *  - the catalog has a complete diagnosis for every failure;
 *  - the body escaped as markdown is valid UTF-8 whose only ASCII markup
 *    characters are gone, and escaping is all or nothing on a small buffer.
 */
#include <stdint.h>
#include <string.h>

#include "diag.h"
#include "fuzz.h"
#include "robot.h"

static bool clean_line(const char *s, size_t size)
{
    size_t n = strnlen(s, size), i = 0;

    if (n == size)
        return false;
    while (i < n) {
        unsigned long cp;
        size_t k = fz_utf8_char((const unsigned char *)s + i, n - i, &cp);
        if (k == 0 || cp < 0x20 || cp == 0x7f)
            return false;
        i += k;
    }
    return true;
}

static void check_escape(const uint8_t *data, size_t size)
{
    struct qn_buf out, small;

    qn_buf_init(&out, 8 * size + 16);
    FUZZ_ASSERT(qn_robot_escape(QN_ROBOT_MARKDOWN, (const char *)data, size, &out) == QN_OK,
                "escape into a large enough buffer failed");
    for (size_t i = 0; i < out.len; i++)
        FUZZ_ASSERT(strchr("\\*_`~#[]<>|&", out.data[i]) == NULL || out.data[i] == '\0',
                    "markup character left in markdown");
    if (out.len > 0) {
        size_t i = 0;
        while (i < out.len) {
            unsigned long cp;
            size_t k = fz_utf8_char((const unsigned char *)out.data + i, out.len - i, &cp);
            FUZZ_ASSERT(k > 0, "escaped text is not valid UTF-8");
            FUZZ_ASSERT(cp == '\n' || (cp >= 0x20 && cp != 0x7f), "control character left");
            i += k;
        }
    }
    qn_buf_init(&small, 8);
    qn_buf_putc(&small, 'x');
    if (qn_robot_escape(QN_ROBOT_MARKDOWN, (const char *)data, size, &small) != QN_OK)
        FUZZ_ASSERT(small.len == 1, "a failed escape changed the buffer");
    qn_buf_free(&small);
    qn_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum qn_route_type types[] = {QN_ROUTE_TYPE_WECOM, QN_ROUTE_TYPE_DINGTALK,
                                               QN_ROUTE_TYPE_FEISHU};
    static const long others[] = {301, 302, 400, 401, 403, 404, 413, 429, 500, 502, 503, 504, 100};
    enum qn_route_type type;
    const struct qn_diagnosis *d;
    struct qn_error err;
    enum qn_status r;
    long http;

    if (size < 2)
        return 0;
    type = types[data[0] % 3];
    http = data[1] < 160 ? 200 : others[data[1] % (sizeof(others) / sizeof(others[0]))];
    r = qn_robot_answer(type, http, (const char *)data + 2, size - 2, &err);
    if (r == QN_OK) {
        FUZZ_ASSERT(http == 200, "accepted a non-2xx answer");
    } else {
        FUZZ_ASSERT(r == err.status, "returned status differs from err.status");
        FUZZ_ASSERT(r == QN_EAUTH || r == QN_ECONFIG || r == QN_ETEMPFAIL || r == QN_EREJECT ||
                        r == QN_EPROTO,
                    "a status robot.h does not list");
        FUZZ_ASSERT(err.stage == (http == 413 && err.api_code == 0 ? QN_STAGE_DATA : QN_STAGE_HTTP),
                    "wrong stage");
        FUZZ_ASSERT(err.verdict != QN_VERDICT_NONE, "no verdict");
        FUZZ_ASSERT(err.http_status == http, "http_status not kept");
        FUZZ_ASSERT(err.smtp_code == 0, "an SMTP code for a robot");
        FUZZ_ASSERT(err.detail[0] != '\0', "no detail");
        FUZZ_ASSERT(clean_line(err.server_text, sizeof(err.server_text)),
                    "server_text is not a clean line");
        if (r == QN_EPROTO)
            FUZZ_ASSERT(err.api_code == 0, "not the platform's answer, yet a code");
        if (r == QN_EREJECT && http != 413)
            FUZZ_ASSERT(err.api_code != 0, "an unknown-code refusal without the code");
        d = qn_diag_lookup(qn_route_type_name(type), &err);
        FUZZ_ASSERT(d != NULL && d->id != NULL && d->when != NULL && d->cause != NULL &&
                        d->fix != NULL,
                    "no complete diagnosis");
    }
    check_escape(data + 2, size - 2);
    return 0;
}
