/*
 * secmem — a small byte buffer for the secret, kept out of swap and core
 * dumps and wiped before it is released.
 *
 * Why not malloc: heap blocks can be swapped out, copied into core dumps
 * and handed to the next malloc() still holding their bytes.  This buffer
 * is its own anonymous mapping: mlock()ed (best effort: a low
 * RLIMIT_MEMLOCK makes it fail, and the buffer is then still wiped, only
 * not pinned), MADV_DONTDUMP (never in a core file) and MADV_DONTFORK (a
 * child created by fork() for systemd-creds never inherits it).
 *
 * Ownership: the struct owns its mapping.  data is NUL-terminated (when
 * non-NULL) and len excludes the NUL; cap is the largest len allowed.
 * qns_secret_free() overwrites the whole mapping with explicit_bzero()
 * (which the compiler may not drop) before unmapping it; it accepts an
 * empty or already freed buffer.  Not thread-safe per buffer.  libc only.
 */
#ifndef QNS_SECMEM_H
#define QNS_SECMEM_H

#include <stdbool.h>
#include <stddef.h>

/* Largest secret accepted anywhere (a QQ authorization code is 16 letters). */
#define QNS_SECRET_MAX 1023

struct qns_secret {
    char *data;  /* NUL-terminated, or NULL before qns_secret_init() */
    size_t len;  /* bytes used, without the NUL */
    size_t cap;  /* largest allowed len */
    size_t size; /* bytes mapped */
    bool locked; /* mlock() succeeded */
};

/* An empty buffer that can hold up to CAP bytes (plus the NUL).  Returns 0,
 * or -1 with errno ENOMEM (mapping failed) or EINVAL (CAP is 0).  A failed
 * mlock() is not an error: see s->locked. */
int qns_secret_init(struct qns_secret *s, size_t cap);

/* Append N bytes.  Returns 0, or -1 with errno E2BIG when len would pass
 * cap (the buffer is then unchanged). */
int qns_secret_append(struct qns_secret *s, const void *p, size_t n);

/* Forget the contents (wiped), keeping the mapping. */
void qns_secret_clear(struct qns_secret *s);

/* Wipe, unlock and unmap; the struct becomes empty.  Accepts NULL. */
void qns_secret_free(struct qns_secret *s);

#endif
