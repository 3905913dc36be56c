/*
 * buf — a growable byte buffer with a hard size cap.
 *
 * Hand-written because every piece of untrusted input (server replies, MIME
 * output, spool entries) must be held with a stated upper bound, and no
 * library in the dependency set offers a capped string builder.
 *
 * The buffer owns its storage.  data is always NUL-terminated (when non-NULL)
 * so text can be passed to C string functions; len excludes the NUL.  An
 * append that would grow len past max fails with QN_ETOOBIG and leaves the
 * buffer unchanged.  qn_buf_wipe() overwrites the storage (explicit_bzero, so
 * the compiler cannot drop it) before freeing it: use it for anything that
 * held a secret.  libc only: the PAM module links this without OpenSSL.  Not thread-safe per
 * buffer.
 */
#ifndef QN_BUF_H
#define QN_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "status.h"

struct qn_buf {
    char *data; /* NUL-terminated, or NULL while empty and never grown */
    size_t len; /* bytes used, without the NUL */
    size_t cap; /* bytes allocated */
    size_t max; /* largest allowed len */
};

/* An empty buffer that may hold up to MAX bytes.  Allocates nothing. */
void qn_buf_init(struct qn_buf *b, size_t max);

/* Append N bytes from P.  QN_ETOOBIG past max, QN_ENOMEM. */
enum qn_status qn_buf_append(struct qn_buf *b, const void *p, size_t n);
enum qn_status qn_buf_puts(struct qn_buf *b, const char *s);
enum qn_status qn_buf_putc(struct qn_buf *b, char c);
enum qn_status qn_buf_printf(struct qn_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
enum qn_status qn_buf_vprintf(struct qn_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* Drop the first N bytes (N <= len), keeping the rest. */
void qn_buf_consume(struct qn_buf *b, size_t n);

/* Cut the buffer back to its first LEN bytes (LEN <= len): how a writer that
 * failed half-way gives back exactly what the caller had before. */
void qn_buf_truncate(struct qn_buf *b, size_t len);

/* Make the buffer empty, keeping its allocation. */
void qn_buf_reset(struct qn_buf *b);

/* Free the storage; the buffer is empty and reusable afterwards. */
void qn_buf_free(struct qn_buf *b);

/* Overwrite the whole allocation, then free it (for secrets). */
void qn_buf_wipe(struct qn_buf *b);

/* Hand the storage to the caller (free() it); the buffer becomes empty.
 * Returns an allocated empty string when nothing was appended; NULL only
 * on allocation failure. */
char *qn_buf_steal(struct qn_buf *b, size_t *ret_len);

#endif
