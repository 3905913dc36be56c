/*
 * pages — see pages.h.
 */
#include "pages.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* File-backed resident bytes of this process ("shared" in /proc/self/statm), or -errno. */
static long long file_resident(int statm_fd)
{
    char buf[256];
    unsigned long long size, resident, shared;
    ssize_t n;

    if (statm_fd < 0)
        return -EBADF;
    n = pread(statm_fd, buf, sizeof(buf) - 1, 0);
    if (n < 0)
        return -errno;
    if (n == 0)
        return -EIO;
    buf[n] = '\0';
    if (sscanf(buf, "%llu %llu %llu", &size, &resident, &shared) != 3)
        return -EIO;
    return (long long)shared * sysconf(_SC_PAGESIZE);
}

int jw_pages_open(struct jw_pages *p)
{
    long long base;

    p->base = 0;
    p->maps_errno = 0;
    p->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (p->statm_fd < 0)
        return -errno;
    base = file_resident(p->statm_fd);
    if (base < 0) {
        close(p->statm_fd);
        p->statm_fd = -1;
        return (int)base;
    }
    p->base = base;
    return 0;
}

void jw_pages_close(struct jw_pages *p)
{
    if (p->statm_fd >= 0)
        close(p->statm_fd);
    p->statm_fd = -1;
}

long long jw_pages_mapped(const struct jw_pages *p)
{
    long long now = file_resident(p->statm_fd);

    return now < 0 ? -1 : now - p->base;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);

    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

int jw_pages_release(struct jw_pages *p, int *ret_errno)
{
    char line[4096 + 256];
    long long base;
    int released = 0;
    FILE *f;

    if (ret_errno != NULL)
        *ret_errno = 0;
    if (p->maps_errno != 0)
        return -p->maps_errno; /* no /proc: it will not come back */
    f = fopen("/proc/self/maps", "re");
    if (f == NULL) {
        if (errno == ENOENT || errno == EACCES || errno == EPERM)
            p->maps_errno = errno;
        return -errno;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long long start, end;
        char perms[8];
        int path_at = 0;
        size_t n;
        char *path;

        n = strlen(line);
        if (n == 0 || line[n - 1] != '\n')
            continue; /* cut: a path longer than we read; leave it */
        line[--n] = '\0';
        if (sscanf(line, "%llx-%llx %7s %*s %*s %*s %n", &start, &end, perms, &path_at) < 3 ||
            path_at == 0)
            continue;
        if (perms[0] != 'r' || perms[1] != '-' || perms[3] != 's')
            continue;
        path = line + path_at;
        n = strlen(path);
        if (ends_with(path, n, " (deleted)"))
            n -= strlen(" (deleted)");
        if (!ends_with(path, n, ".journal") && !ends_with(path, n, ".journal~"))
            continue;
        if (madvise((void *)(uintptr_t)start, (size_t)(end - start), MADV_DONTNEED) != 0) {
            if (ret_errno != NULL)
                *ret_errno = errno;
            continue;
        }
        released++;
    }
    fclose(f);
    /* What stays resident now is the program's own (libraries, locale files loaded
     * since the start): the new base, so that it never counts as journal pages. */
    base = file_resident(p->statm_fd);
    if (base >= 0)
        p->base = base;
    return released;
}
