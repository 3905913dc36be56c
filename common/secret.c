/*
 * secret — locked, wiped buffers for secrets; contract in secret.h.
 */
#include "secret.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

enum qn_status qn_secret_init(struct qn_secret *s, size_t cap)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t size;
    void *p;

    memset(s, 0, sizeof(*s));
    if (cap == 0 || page <= 0 || cap > SIZE_MAX / 2) {
        errno = EINVAL;
        return QN_EINVAL;
    }
    size = (cap + 1 + (size_t)page - 1) / (size_t)page * (size_t)page;
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        errno = ENOMEM;
        return QN_ENOMEM;
    }
    /* Each on its own and best effort: an old kernel without MADV_DONTDUMP, or a
     * RLIMIT_MEMLOCK of 64 KiB, must not stop the program; the wipe still happens. */
    (void)madvise(p, size, MADV_DONTDUMP);
    (void)madvise(p, size, MADV_DONTFORK);
    s->locked = mlock(p, size) == 0;
    s->data = p; /* fresh anonymous pages are zero: data[0] is the NUL */
    s->cap = cap;
    s->size = size;
    return QN_OK;
}

enum qn_status qn_secret_append(struct qn_secret *s, const void *p, size_t n)
{
    if (s->data == NULL)
        return QN_EINVAL;
    if (n > s->cap - s->len)
        return QN_ETOOBIG;
    memcpy(s->data + s->len, p, n);
    s->len += n;
    s->data[s->len] = '\0';
    return QN_OK;
}

void qn_secret_clear(struct qn_secret *s)
{
    if (s == NULL || s->data == NULL)
        return;
    explicit_bzero(s->data, s->size);
    s->len = 0;
}

void qn_secret_wipe(struct qn_secret *s)
{
    if (s == NULL || s->data == NULL)
        return;
    explicit_bzero(s->data, s->size);
    if (s->locked)
        (void)munlock(s->data, s->size);
    /* Cannot fail for a mapping this module made, with its own size. */
    (void)munmap(s->data, s->size);
    memset(s, 0, sizeof(*s));
}

enum qn_status qn_secret_protect_process(void)
{
    const struct rlimit no_core = {0, 0};

    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return QN_EIO;
    if (setrlimit(RLIMIT_CORE, &no_core) != 0)
        return QN_EIO;
    return QN_OK;
}
