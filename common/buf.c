#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void qn_buf_init(struct qn_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

static enum qn_status reserve(struct qn_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (extra > b->max - b->len)
        return QN_ETOOBIG;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return QN_OK;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > (size_t)-1 / 2 ? need : cap * 2;
    p = realloc(b->data, cap);
    if (p == NULL)
        return QN_ENOMEM;
    b->data = p;
    b->cap = cap;
    return QN_OK;
}

enum qn_status qn_buf_append(struct qn_buf *b, const void *p, size_t n)
{
    enum qn_status r = reserve(b, n);

    if (r != QN_OK)
        return r;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return QN_OK;
}

enum qn_status qn_buf_puts(struct qn_buf *b, const char *s)
{
    return qn_buf_append(b, s, strlen(s));
}

enum qn_status qn_buf_putc(struct qn_buf *b, char c)
{
    return qn_buf_append(b, &c, 1);
}

enum qn_status qn_buf_vprintf(struct qn_buf *b, const char *fmt, va_list ap)
{
    va_list copy;
    enum qn_status r;
    int n;

    va_copy(copy, ap);
    n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        return QN_EINVAL;
    r = reserve(b, (size_t)n);
    if (r != QN_OK)
        return r;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return QN_OK;
}

enum qn_status qn_buf_printf(struct qn_buf *b, const char *fmt, ...)
{
    va_list ap;
    enum qn_status r;

    va_start(ap, fmt);
    r = qn_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}

void qn_buf_consume(struct qn_buf *b, size_t n)
{
    if (n >= b->len) {
        qn_buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

void qn_buf_truncate(struct qn_buf *b, size_t len)
{
    if (len >= b->len)
        return;
    b->len = len;
    b->data[len] = '\0';
}

void qn_buf_reset(struct qn_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

void qn_buf_free(struct qn_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void qn_buf_wipe(struct qn_buf *b)
{
    if (b->data != NULL)
        explicit_bzero(b->data, b->cap);
    qn_buf_free(b);
}

char *qn_buf_steal(struct qn_buf *b, size_t *ret_len)
{
    char *p;

    if (b->data == NULL) {
        if (reserve(b, 0) != QN_OK)
            return NULL;
        b->data[0] = '\0';
    }
    p = b->data;
    if (ret_len != NULL)
        *ret_len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
