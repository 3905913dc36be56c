/*
 * fuzz_event — the event spool form reader (qn_event_read) and writer.
 *
 * Properties, for any bytes:
 *  - on QN_OK the event is clean (event.h: "the struct never holds a
 *    control character"): kind non-empty, every string NUL-terminated
 *    within its array and a clean line (valid UTF-8, no control, line or
 *    bidi character, no leading, trailing or double blank), at most
 *    QN_EVENT_FIELDS_MAX fields with valid, distinct keys;
 *  - qn_event_write of it gives one "name value" line per item, no control
 *    byte but the LFs that end lines, and reading that back gives the same
 *    event (every string and number equal);
 *  - a failed read is QN_EINVAL.
 */
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "event.h"
#include "fuzz.h"

static bool key_ok(const char *k)
{
    size_t n = strnlen(k, QN_EVENT_KEY_MAX);

    if (n == 0 || n == QN_EVENT_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_' ||
              k[i] == '.' || k[i] == '-'))
            return false;
    }
    return true;
}

static void check_clean(const struct qn_event *ev)
{
    FUZZ_ASSERT(ev->kind[0] != '\0', "event without kind");
    FUZZ_ASSERT(fz_clean_field(ev->kind, sizeof ev->kind), "kind is not a clean line");
    FUZZ_ASSERT(fz_clean_field(ev->host, sizeof ev->host), "host is not a clean line");
    FUZZ_ASSERT(fz_clean_field(ev->subject, sizeof ev->subject), "subject is not a clean line");
    FUZZ_ASSERT(ev->n_fields <= QN_EVENT_FIELDS_MAX, "too many fields");
    for (size_t i = 0; i < ev->n_fields; i++) {
        FUZZ_ASSERT(key_ok(ev->fields[i].key), "invalid field key");
        FUZZ_ASSERT(fz_clean_field(ev->fields[i].value, sizeof ev->fields[i].value),
                    "field value is not a clean line");
        for (size_t j = 0; j < i; j++)
            FUZZ_ASSERT(strcmp(ev->fields[i].key, ev->fields[j].key) != 0, "duplicate field key");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct qn_event ev, again;
    struct qn_buf out;
    enum qn_status r;

    r = qn_event_read(&ev, (const char *)data, size);
    if (r != QN_OK) {
        FUZZ_ASSERT(r == QN_EINVAL, "a failed read is not QN_EINVAL");
        return 0;
    }
    check_clean(&ev);

    qn_buf_init(&out, 1024 * 1024);
    r = qn_event_write(&ev, &out);
    FUZZ_ASSERT(r == QN_OK, "writing a read event failed");
    FUZZ_ASSERT(out.len > 0 && out.data[out.len - 1] == '\n', "spool form does not end in LF");
    for (size_t i = 0; i < out.len; i++) {
        unsigned char c = (unsigned char)out.data[i];

        FUZZ_ASSERT(c == '\n' || (c >= 0x20 && c != 0x7F), "control byte in the spool form");
    }
    r = qn_event_read(&again, out.data, out.len);
    FUZZ_ASSERT(r == QN_OK, "the written event does not read back");
    FUZZ_ASSERT(fz_same_event(&ev, &again), "the event changed through write and read");
    qn_buf_free(&out);
    return 0;
}
