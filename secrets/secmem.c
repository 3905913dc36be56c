#include "secmem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int qns_secret_init(struct qns_secret *s, size_t cap)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t size;
    void *p;

    memset(s, 0, sizeof(*s));
    if (cap == 0 || page <= 0 || cap > ((size_t)-1) / 2) {
        errno = EINVAL;
        return -1;
    }
    size = (cap + 1 + (size_t)page - 1) / (size_t)page * (size_t)page;
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        errno = ENOMEM;
        return -1;
    }
    /* Best effort, each on its own: an old kernel without MADV_DONTDUMP, or a
     * RLIMIT_MEMLOCK of 64 KiB, must not stop the program; the wipe on free
     * still happens. */
    (void)madvise(p, size, MADV_DONTDUMP);
    (void)madvise(p, size, MADV_DONTFORK);
    s->locked = mlock(p, size) == 0;
    s->data = p;
    s->cap = cap;
    s->size = size;
    s->len = 0;
    s->data[0] = '\0';
    return 0;
}

int qns_secret_append(struct qns_secret *s, const void *p, size_t n)
{
    if (s->data == NULL || n > s->cap - s->len) {
        errno = E2BIG;
        return -1;
    }
    memcpy(s->data + s->len, p, n);
    s->len += n;
    s->data[s->len] = '\0';
    return 0;
}

void qns_secret_clear(struct qns_secret *s)
{
    if (s->data == NULL)
        return;
    explicit_bzero(s->data, s->size);
    s->len = 0;
}

void qns_secret_free(struct qns_secret *s)
{
    if (s == NULL || s->data == NULL)
        return;
    explicit_bzero(s->data, s->size);
    if (s->locked)
        (void)munlock(s->data, s->size);
    (void)munmap(s->data, s->size);
    memset(s, 0, sizeof(*s));
}
