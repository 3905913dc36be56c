/*
 * event — see event.h for the contract and the spool form.
 *
 * Two defences, on purpose redundant:
 * - on the way in (qn_event_set*, set_host, set_subject, init) every value
 *   is sanitised, so the struct never holds a control character;
 * - the spool form escapes '%', bytes below 0x20 and 0x7f anyway, because
 *   the struct is public and a caller may fill it by hand: whatever it
 *   holds, one value stays one line.
 * qn_event_read() sanitises every decoded value again: a spool entry is a
 * file other users of the spool group can write, and the renderer relies on
 * events being clean (render.h), not on who wrote them.
 *
 * libc only (plus text.c, which is libc only): the PAM module links this.
 */
#include "event.h"

#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "text.h"

static const char hex_digits[] = "0123456789ABCDEF";

static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

bool qn_event_key_valid(const char *key, size_t len)
{
    size_t i;

    if (key == NULL || len == 0 || len >= QN_EVENT_KEY_MAX)
        return false;
    for (i = 0; i < len; i++) {
        if (!key_char(key[i]))
            return false;
    }
    return true;
}

static void sanitize_into(char *dst, size_t dstsz, const char *src, size_t len)
{
    if (src == NULL)
        len = 0;
    qn_text_sanitize_line(src, len, dst, dstsz);
}

void qn_event_init(struct qn_event *ev, const char *kind)
{
    /* HOST_NAME_MAX is 64 on Linux; one more for a NUL gethostname may omit. */
    char host[HOST_NAME_MAX + 2];
    time_t now = time(NULL);

    memset(ev, 0, sizeof(*ev));
    sanitize_into(ev->kind, sizeof(ev->kind), kind, kind != NULL ? strlen(kind) : 0);
    ev->time = now == (time_t)-1 ? 0 : (long long)now;
    /* An event without a host name is still worth sending: on failure host stays "". */
    if (gethostname(host, sizeof(host) - 1) == 0) {
        host[sizeof(host) - 1] = '\0';
        sanitize_into(ev->host, sizeof(ev->host), host, strlen(host));
    }
}

/* Index of field KEY (KEYLEN bytes), or QN_EVENT_FIELDS_MAX when absent. */
static size_t find_field(const struct qn_event *ev, const char *key, size_t keylen)
{
    size_t i, n = ev->n_fields < QN_EVENT_FIELDS_MAX ? ev->n_fields : QN_EVENT_FIELDS_MAX;

    for (i = 0; i < n; i++) {
        const char *k = ev->fields[i].key;

        if (strnlen(k, sizeof(ev->fields[i].key)) == keylen && memcmp(k, key, keylen) == 0)
            return i;
    }
    return QN_EVENT_FIELDS_MAX;
}

enum qn_status qn_event_setn(struct qn_event *ev, const char *key, const char *value, size_t len)
{
    struct qn_event_field *f;
    size_t keylen, i;

    if (ev == NULL || key == NULL || (value == NULL && len > 0))
        return QN_EINVAL;
    keylen = strnlen(key, QN_EVENT_KEY_MAX);
    if (!qn_event_key_valid(key, keylen))
        return QN_EINVAL;
    i = find_field(ev, key, keylen);
    if (i == QN_EVENT_FIELDS_MAX) {
        if (ev->n_fields >= QN_EVENT_FIELDS_MAX)
            return QN_ETOOBIG;
        i = ev->n_fields++;
        memcpy(ev->fields[i].key, key, keylen);
        ev->fields[i].key[keylen] = '\0';
    }
    f = &ev->fields[i];
    sanitize_into(f->value, sizeof(f->value), value, len);
    return QN_OK;
}

enum qn_status qn_event_set(struct qn_event *ev, const char *key, const char *value)
{
    return qn_event_setn(ev, key, value, value != NULL ? strlen(value) : 0);
}

const char *qn_event_get(const struct qn_event *ev, const char *key)
{
    size_t keylen, i;

    if (ev == NULL || key == NULL)
        return NULL;
    keylen = strnlen(key, QN_EVENT_KEY_MAX);
    if (!qn_event_key_valid(key, keylen))
        return NULL;
    i = find_field(ev, key, keylen);
    return i < QN_EVENT_FIELDS_MAX ? ev->fields[i].value : NULL;
}

void qn_event_set_host(struct qn_event *ev, const char *host)
{
    sanitize_into(ev->host, sizeof(ev->host), host, host != NULL ? strlen(host) : 0);
}

void qn_event_set_subject(struct qn_event *ev, const char *subject)
{
    sanitize_into(ev->subject, sizeof(ev->subject), subject, subject != NULL ? strlen(subject) : 0);
}

/* ---- spool form: writing ---- */

static bool needs_escape(unsigned char c)
{
    return c == '%' || c < 0x20 || c == 0x7f;
}

/* Append "NAME VALUE\n", VALUE (at most MAXLEN bytes, up to its NUL) escaped. */
static enum qn_status put_line(struct qn_buf *out, const char *name, const char *value,
                               size_t maxlen)
{
    size_t i, n = strnlen(value, maxlen);
    enum qn_status r;

    r = qn_buf_puts(out, name);
    if (r == QN_OK)
        r = qn_buf_putc(out, ' ');
    for (i = 0; r == QN_OK && i < n; i++) {
        unsigned char c = (unsigned char)value[i];
        char esc[3];

        if (!needs_escape(c)) {
            r = qn_buf_putc(out, (char)c);
            continue;
        }
        esc[0] = '%';
        esc[1] = hex_digits[c >> 4];
        esc[2] = hex_digits[c & 0xf];
        r = qn_buf_append(out, esc, sizeof(esc));
    }
    if (r == QN_OK)
        r = qn_buf_putc(out, '\n');
    return r;
}

enum qn_status qn_event_write(const struct qn_event *ev, struct qn_buf *out)
{
    size_t i, start;
    enum qn_status r = QN_EINVAL;

    if (ev == NULL || out == NULL || ev->n_fields > QN_EVENT_FIELDS_MAX)
        return QN_EINVAL;
    /* An event without a kind could not be read back; refuse it here, not at send time. */
    if (strnlen(ev->kind, sizeof(ev->kind)) == 0)
        return QN_EINVAL;
    for (i = 0; i < ev->n_fields; i++) {
        if (!qn_event_key_valid(ev->fields[i].key, strnlen(ev->fields[i].key, QN_EVENT_KEY_MAX)))
            return QN_EINVAL;
    }

    start = out->len;
    r = put_line(out, "kind", ev->kind, sizeof(ev->kind));
    if (r == QN_OK)
        r = qn_buf_printf(out, "time %lld\n", ev->time);
    if (r == QN_OK)
        r = put_line(out, "host", ev->host, sizeof(ev->host));
    if (r == QN_OK && ev->subject[0] != '\0')
        r = put_line(out, "subject", ev->subject, sizeof(ev->subject));
    for (i = 0; r == QN_OK && i < ev->n_fields; i++) {
        char name[sizeof("field ") + QN_EVENT_KEY_MAX];

        memcpy(name, "field ", 6);
        memcpy(name + 6, ev->fields[i].key, strnlen(ev->fields[i].key, QN_EVENT_KEY_MAX) + 1);
        name[sizeof(name) - 1] = '\0';
        r = put_line(out, name, ev->fields[i].value, sizeof(ev->fields[i].value));
    }
    if (r != QN_OK) {
        /* All or nothing: never leave half an event in the caller's buffer. */
        qn_buf_truncate(out, start);
    }
    return r;
}

/* ---- spool form: reading ---- */

/*
 * Decode the escaped value S (N bytes) and store it sanitised in DST.  A raw
 * control byte, a bad escape or a decoded value that does not fit DSTSZ
 * (with its NUL) is malformed: QN_EINVAL.
 */
static enum qn_status read_value(const char *s, size_t n, char *dst, size_t dstsz)
{
    char raw[QN_EVENT_VALUE_MAX];
    size_t i, len = 0;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == 0x7f)
            return QN_EINVAL;
        if (c == '%') {
            int hi, lo;

            if (n - i < 3)
                return QN_EINVAL;
            hi = qn_text_hex_digit(s[i + 1]);
            lo = qn_text_hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                return QN_EINVAL;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        if (len + 1 >= dstsz || len >= sizeof(raw))
            return QN_EINVAL;
        raw[len++] = (char)c;
    }
    sanitize_into(dst, dstsz, raw, len);
    return QN_OK;
}

/* "-?[0-9]+" within long long; no sign other than '-', no blanks. */
static enum qn_status read_time(const char *s, size_t n, long long *ret)
{
    unsigned long long v = 0, limit = (unsigned long long)LLONG_MAX;
    bool negative = false;
    size_t i = 0;

    if (n > 0 && s[0] == '-') {
        negative = true;
        limit += 1; /* LLONG_MIN's magnitude */
        i = 1;
    }
    if (i == n)
        return QN_EINVAL;
    for (; i < n; i++) {
        unsigned d;

        if (s[i] < '0' || s[i] > '9')
            return QN_EINVAL;
        d = (unsigned)(s[i] - '0');
        if (v > (limit - d) / 10)
            return QN_EINVAL;
        v = v * 10 + d;
    }
    if (negative)
        *ret = v == limit ? LLONG_MIN : -(long long)v;
    else
        *ret = (long long)v;
    return QN_OK;
}

/* LINE (N bytes, no '\n') starts with "NAME " : the rest is the value. */
static bool line_is(const char *line, size_t n, const char *name, const char **ret_value,
                    size_t *ret_len)
{
    size_t k = strlen(name);

    if (n <= k || memcmp(line, name, k) != 0 || line[k] != ' ')
        return false;
    *ret_value = line + k + 1;
    *ret_len = n - k - 1;
    return true;
}

static enum qn_status read_field(struct qn_event *ev, const char *s, size_t n)
{
    const char *space = memchr(s, ' ', n);
    size_t keylen;
    struct qn_event_field *f;

    if (space == NULL)
        return QN_EINVAL;
    keylen = (size_t)(space - s);
    if (!qn_event_key_valid(s, keylen) || find_field(ev, s, keylen) != QN_EVENT_FIELDS_MAX)
        return QN_EINVAL;
    if (ev->n_fields >= QN_EVENT_FIELDS_MAX)
        return QN_EINVAL;
    f = &ev->fields[ev->n_fields];
    memcpy(f->key, s, keylen);
    f->key[keylen] = '\0';
    if (read_value(space + 1, n - keylen - 1, f->value, sizeof(f->value)) != QN_OK)
        return QN_EINVAL;
    ev->n_fields++;
    return QN_OK;
}

enum qn_status qn_event_read(struct qn_event *ev, const char *text, size_t len)
{
    bool have_kind = false, have_time = false, have_host = false, have_subject = false;
    size_t pos = 0;

    if (ev == NULL || (text == NULL && len > 0))
        return QN_EINVAL;
    memset(ev, 0, sizeof(*ev));
    while (pos < len) {
        const char *line = text + pos, *nl = memchr(line, '\n', len - pos), *v;
        size_t n, vn;
        enum qn_status r;

        /* Every line ends in '\n': a cut final line is malformed, not a short value. */
        if (nl == NULL)
            return QN_EINVAL;
        n = (size_t)(nl - line);
        pos += n + 1;
        if (line_is(line, n, "kind", &v, &vn)) {
            if (have_kind)
                return QN_EINVAL;
            have_kind = true;
            r = read_value(v, vn, ev->kind, sizeof(ev->kind));
            if (r == QN_OK && ev->kind[0] == '\0')
                r = QN_EINVAL;
        } else if (line_is(line, n, "time", &v, &vn)) {
            if (have_time)
                return QN_EINVAL;
            have_time = true;
            r = read_time(v, vn, &ev->time);
        } else if (line_is(line, n, "host", &v, &vn)) {
            if (have_host)
                return QN_EINVAL;
            have_host = true;
            r = read_value(v, vn, ev->host, sizeof(ev->host));
        } else if (line_is(line, n, "subject", &v, &vn)) {
            if (have_subject)
                return QN_EINVAL;
            have_subject = true;
            r = read_value(v, vn, ev->subject, sizeof(ev->subject));
        } else if (line_is(line, n, "field", &v, &vn)) {
            r = read_field(ev, v, vn);
        } else {
            r = QN_EINVAL;
        }
        if (r != QN_OK)
            return QN_EINVAL;
    }
    if (!have_kind || !have_time)
        return QN_EINVAL;
    return QN_OK;
}
