/*
 * entryread — the strict reader of the spool's entry format; contract in
 * entryread.h, the format in enqueue.h (which writes it).
 *
 * A cursor walks the header lines in their fixed order; every value is
 * unescaped into a bounded array, numbers are canonical decimal, addresses
 * pass the producers' check, text is sanitised, and the payload must be
 * exactly the stated size.  libc only; no global state.
 */
#include "entryread.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

bool qn_entryread_digits(const char *s, size_t n, bool no_leading_zero)
{
    size_t i;

    if (n == 0 || (no_leading_zero && n > 1 && s[0] == '0'))
        return false;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return true;
}

struct cursor {
    const char *p;
    size_t len; /* bytes that may hold header lines */
    size_t pos;
};

/* The next line (without '\n') or false when none is complete. */
static bool next_line(struct cursor *c, const char **ret_line, size_t *ret_n)
{
    const char *nl;

    if (c->pos >= c->len)
        return false;
    nl = memchr(c->p + c->pos, '\n', c->len - c->pos);
    if (nl == NULL)
        return false;
    *ret_line = c->p + c->pos;
    *ret_n = (size_t)(nl - *ret_line);
    c->pos += *ret_n + 1;
    return true;
}

/* The next line is "NAME value": its value.  Leaves the cursor alone when not. */
static bool expect(struct cursor *c, const char *name, const char **ret_v, size_t *ret_vn)
{
    struct cursor save = *c;
    size_t k = strlen(name), n;
    const char *line;

    if (!next_line(c, &line, &n) || n < k + 1 || memcmp(line, name, k) != 0 || line[k] != ' ') {
        *c = save;
        return false;
    }
    *ret_v = line + k + 1;
    *ret_vn = n - k - 1;
    return true;
}

/* Undo the writer's escaping (enqueue.h) of V (VN bytes) into DST (DSTSZ, NUL-terminated). */
static bool unescape(const char *v, size_t vn, char *dst, size_t dstsz, size_t *ret_len)
{
    size_t i, len = 0;

    for (i = 0; i < vn; i++) {
        unsigned char c = (unsigned char)v[i];

        if (c < 0x20 || c == 0x7f)
            return false;
        if (c == '%') {
            int hi, lo;

            if (vn - i < 3 || (hi = qn_text_hex_digit(v[i + 1])) < 0 ||
                (lo = qn_text_hex_digit(v[i + 2])) < 0)
                return false;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        if (len + 1 >= dstsz)
            return false;
        dst[len++] = (char)c;
    }
    dst[len] = '\0';
    *ret_len = len;
    return true;
}

/* A text value (last-error, diagnosis): decoded, then sanitised like every event value. */
static bool read_text(const char *v, size_t vn, char *dst, size_t dstsz)
{
    char raw[QN_SPOOL_ERROR_MAX];
    size_t len;

    if (dstsz > sizeof(raw) || !unescape(v, vn, raw, dstsz, &len))
        return false;
    qn_text_sanitize_line(raw, len, dst, dstsz);
    return true;
}

static bool read_address(const char *v, size_t vn, char *dst, bool may_be_empty)
{
    size_t len;

    return unescape(v, vn, dst, QN_SPOOL_ADDRESS_MAX, &len) &&
           qn_enqueue_address_check(dst, may_be_empty) == QN_OK;
}

/* Decimal without sign or leading zeros, at most MAX. */
static bool read_number(const char *v, size_t vn, unsigned long long max, unsigned long long *ret)
{
    unsigned long long x = 0;
    size_t i;

    if (!qn_entryread_digits(v, vn, true))
        return false;
    for (i = 0; i < vn; i++) {
        unsigned d = (unsigned)(v[i] - '0');

        if (x > (max - d) / 10)
            return false;
        x = x * 10 + d;
    }
    *ret = x;
    return true;
}

/* "origin", "uid" and "lane" of a version 2 entry. */
static bool parse_origin(struct cursor *c, struct qn_spool_entry *e)
{
    unsigned long long x;
    const char *v;
    size_t vn;

    if (!expect(c, "origin", &v, &vn))
        return false;
    if (vn == 6 && memcmp(v, "system", 6) == 0)
        e->origin = QN_ORIGIN_SYSTEM;
    else if (vn == 4 && memcmp(v, "user", 4) == 0)
        e->origin = QN_ORIGIN_USER;
    else
        return false;
    if (!expect(c, "uid", &v, &vn) || !read_number(v, vn, UINT32_MAX, &x))
        return false;
    e->uid = x;
    if (!expect(c, "lane", &v, &vn) || !read_number(v, vn, QN_LANES - 1, &x))
        return false;
    e->lane = (enum qn_lane)x;
    /* A user's entry is in the user lane whatever it says (enqueue.h). */
    return e->origin == QN_ORIGIN_SYSTEM || e->lane == QN_LANE_USER;
}

/*
 * The lines every version has, up to next-try, into E; *RET_VERSION gets 1
 * or 2.  What a pass is chosen by: qn_spool_peek() stops here.
 */
static bool parse_prefix(struct cursor *c, struct qn_spool_entry *e, unsigned *ret_version)
{
    unsigned long long x;
    const char *v;
    size_t vn;

    if (!next_line(c, &v, &vn))
        return false;
    if (vn == strlen(QN_SPOOL_VERSION_LINE) && memcmp(v, QN_SPOOL_VERSION_LINE, vn) == 0)
        *ret_version = 2;
    else if (vn == strlen(QN_SPOOL_VERSION1_LINE) && memcmp(v, QN_SPOOL_VERSION1_LINE, vn) == 0)
        *ret_version = 1;
    else
        return false;
    if (!expect(c, "type", &v, &vn))
        return false;
    if (vn == 5 && memcmp(v, "event", 5) == 0)
        e->type = QN_SPOOL_EVENT;
    else if (vn == 7 && memcmp(v, "message", 7) == 0)
        e->type = QN_SPOOL_MESSAGE;
    else
        return false;
    if (*ret_version == 2) {
        if (!parse_origin(c, e))
            return false;
    } else {
        /* Written by a trusted producer before lanes existed; the lane of an
         * event follows from its kind once the payload is read. */
        e->origin = QN_ORIGIN_SYSTEM;
        e->uid = 0;
        e->lane = e->type == QN_SPOOL_MESSAGE ? QN_LANE_USER : QN_LANE_JOURNAL;
    }
    if (!expect(c, "queued", &v, &vn) || !read_number(v, vn, LLONG_MAX, &x))
        return false;
    e->queued = (long long)x;
    if (!expect(c, "attempts", &v, &vn) || !read_number(v, vn, UINT_MAX, &x))
        return false;
    e->attempts = (unsigned)x;
    if (!expect(c, "next-try", &v, &vn) || !read_number(v, vn, LLONG_MAX, &x))
        return false;
    e->next_try = (long long)x;
    return true;
}

/*
 * Parse the header of an entry of TOTAL bytes whose first AVAIL bytes are
 * at DATA into E and return the payload's offset in *RET_OFFSET and the
 * version in *RET_VERSION.  Any deviation from the format: false.
 */
bool qn_entryread_header(const char *data, size_t avail, size_t total, struct qn_spool_entry *e,
                         size_t *ret_offset, unsigned *ret_version)
{
    struct cursor c = {.p = data, .len = avail < QN_SPOOL_HEADER_MAX ? avail : QN_SPOOL_HEADER_MAX};
    unsigned long long x;
    const char *v;
    size_t vn;

    if (!parse_prefix(&c, e, ret_version))
        return false;
    if (!expect(&c, "last-error", &v, &vn) ||
        !read_text(v, vn, e->last_error, sizeof(e->last_error)))
        return false;
    if (!expect(&c, "diagnosis", &v, &vn) || !read_text(v, vn, e->diagnosis, sizeof(e->diagnosis)))
        return false;
    if (e->type == QN_SPOOL_MESSAGE) {
        if (!expect(&c, "sender", &v, &vn) || !read_address(v, vn, e->sender, true))
            return false;
        while (expect(&c, "rcpt", &v, &vn)) {
            if (e->n_rcpt == QN_SPOOL_RCPT_MAX || !read_address(v, vn, e->rcpt[e->n_rcpt], false))
                return false;
            e->n_rcpt++;
        }
        if (e->n_rcpt == 0)
            return false;
    }
    if (!expect(&c, "size", &v, &vn) || !read_number(v, vn, SIZE_MAX, &x))
        return false;
    if (!next_line(&c, &v, &vn) || vn != 3 || memcmp(v, "end", 3) != 0)
        return false;
    /* The trailing check: exactly SIZE bytes follow, no fewer (cut) and no more. */
    if (c.pos > total || x != total - c.pos)
        return false;
    *ret_offset = c.pos;
    return true;
}

/* A version 1 event's lane, from its kind (enqueue.h). */
void qn_entryread_version1_lane(struct qn_spool_entry *e)
{
    if (e->type == QN_SPOOL_EVENT)
        e->lane = qn_enqueue_lane(QN_ORIGIN_SYSTEM, QN_SPOOL_EVENT, e->event.kind);
}

/*
 * Fill E from a whole entry of SIZE bytes in DATA (heap, SIZE + 1 bytes):
 * the header, then the event, or the message, which takes DATA over (moved
 * to the front; *DATA is then NULL).  QN_EINVAL, or QN_OK.
 */
enum qn_status qn_entryread_whole(char **data, size_t size, struct qn_spool_entry *e)
{
    size_t offset;
    unsigned version;
    char *d = *data, *shrunk;

    if (!qn_entryread_header(d, size, size, e, &offset, &version))
        return QN_EINVAL;
    if (e->type == QN_SPOOL_EVENT) {
        if (qn_event_read(&e->event, d + offset, size - offset) != QN_OK)
            return QN_EINVAL;
        if (version == 1)
            qn_entryread_version1_lane(e);
        return QN_OK;
    }
    /* Keep only the message: move it to the front and give back the header's room. */
    e->message_len = size - offset;
    memmove(d, d + offset, e->message_len);
    d[e->message_len] = '\0';
    shrunk = realloc(d, e->message_len + 1);
    e->message = shrunk != NULL ? shrunk : d;
    *data = NULL;
    return QN_OK;
}

bool qn_entryread_prefix(const char *data, size_t len, struct qn_spool_entry *e,
                         unsigned *ret_version)
{
    struct cursor c = {.p = data, .len = len < QN_SPOOL_HEADER_MAX ? len : QN_SPOOL_HEADER_MAX};

    return parse_prefix(&c, e, ret_version);
}
