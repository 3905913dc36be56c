/*
 * fuzz_smtp_data — the DATA encoder (qn_smtp_encode_data): CRLF
 * normalisation, dot-stuffing and the final ".": the defence against SMTP
 * smuggling (a message that ends DATA early and starts a second one).
 *
 * Properties, for any message bytes (NUL included):
 *  - the output is at most 2 * LEN + 5 bytes, every line ends in CRLF (no
 *    bare CR or LF survives), and it ends in the terminator: ".\r\n" for an
 *    empty message, else "\r\n.\r\n";
 *  - a line holding only "." occurs once, as the last line: no input can end
 *    DATA early;
 *  - what a server reads back (remove the last line, drop one leading dot
 *    of every line) is the input with every line break (CRLF, lone CR, lone
 *    LF) made CRLF and a final CRLF when it did not end in a line break;
 *  - an output bound that is too small gives QN_ETOOBIG.
 */
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "smtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *msg = (const char *)data;
    struct qn_buf out, want, back, small;
    size_t i, pos, lines_dot = 0;
    enum qn_status r;

    qn_buf_init(&out, 2 * size + 5);
    r = qn_smtp_encode_data(msg, size, &out);
    FUZZ_ASSERT(r == QN_OK, "encode_data failed within 2 * LEN + 5");
    FUZZ_ASSERT(out.len <= 2 * size + 5, "output over 2 * LEN + 5");
    FUZZ_ASSERT(fz_crlf_only(out.data, out.len), "bare CR or LF in DATA");
    if (size == 0)
        FUZZ_ASSERT(out.len == 3 && memcmp(out.data, ".\r\n", 3) == 0, "empty message");
    else
        FUZZ_ASSERT(out.len >= 5 && memcmp(out.data + out.len - 5, "\r\n.\r\n", 5) == 0,
                    "DATA does not end in CRLF.CRLF");

    /* The model: line breaks made CRLF, a final CRLF when missing. */
    qn_buf_init(&want, 2 * size + 5);
    for (i = 0; i < size; i++) {
        if (msg[i] == '\r' || msg[i] == '\n') {
            FUZZ_ASSERT(qn_buf_puts(&want, "\r\n") == QN_OK, "oom");
            if (msg[i] == '\r' && i + 1 < size && msg[i + 1] == '\n')
                i++;
        } else {
            FUZZ_ASSERT(qn_buf_putc(&want, msg[i]) == QN_OK, "oom");
        }
    }
    if (want.len > 0 && (want.len < 2 || memcmp(want.data + want.len - 2, "\r\n", 2) != 0))
        FUZZ_ASSERT(qn_buf_puts(&want, "\r\n") == QN_OK, "oom");

    /* What the server reads: lines up to the one holding only ".", unstuffed. */
    qn_buf_init(&back, 2 * size + 5);
    for (pos = 0; pos < out.len;) {
        const char *line = out.data + pos;
        const char *crlf = memmem(line, out.len - pos, "\r\n", 2);
        size_t n = (size_t)(crlf - line);

        pos += n + 2;
        if (n == 1 && line[0] == '.') {
            lines_dot++;
            break;
        }
        if (n > 0 && line[0] == '.') {
            FUZZ_ASSERT(n >= 2 && line[1] == '.', "a line starting with one dot was not stuffed");
            line++;
            n--;
        }
        FUZZ_ASSERT(qn_buf_append(&back, line, n) == QN_OK && qn_buf_puts(&back, "\r\n") == QN_OK,
                    "oom");
    }
    FUZZ_ASSERT(lines_dot == 1 && pos == out.len,
                "the lone dot is not the last line: DATA ends early");
    FUZZ_ASSERT(back.len == want.len &&
                    (want.len == 0 || memcmp(back.data, want.data, want.len) == 0),
                "the server would not read back the message");

    /* Too small a bound. */
    qn_buf_init(&small, out.len - 1);
    r = qn_smtp_encode_data(msg, size, &small);
    FUZZ_ASSERT(r == QN_ETOOBIG, "encode_data into a too small buffer is not QN_ETOOBIG");
    FUZZ_ASSERT(small.len < out.len &&
                    (small.len == 0 || memcmp(small.data, out.data, small.len) == 0),
                "partial output is not a prefix of the output");

    qn_buf_free(&small);
    qn_buf_free(&back);
    qn_buf_free(&want);
    qn_buf_free(&out);
    return 0;
}
