/*
 * statvfsstub — an LD_PRELOAD library for the free-space test of qqnotify-drop
 * (test_trust.py): fstatvfs() answers as the real one does, except that the space
 * available to unprivileged users (f_bavail) is QN_TEST_FREE bytes, read before main()
 * (qqnotify-drop clears its environment first thing).  No mount, no root and no full disk:
 * it works the same on a host, in a chroot and in a container.  The loader ignores
 * LD_PRELOAD for a set-group-ID program, so the test preloads it into a copy without that
 * bit, run with the drop group as its real and effective group.  Never installed.
 *
 * A missing or malformed QN_TEST_FREE aborts: the test must never measure the real disk.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/statvfs.h>

static unsigned long long free_bytes;

static void __attribute__((noreturn)) refuse(const char *why)
{
    fprintf(stderr, "statvfsstub: %s\n", why);
    abort();
}

static void __attribute__((constructor)) setup(void)
{
    const char *s = getenv("QN_TEST_FREE");
    char *end = NULL;

    if (s == NULL || *s < '0' || *s > '9')
        refuse("QN_TEST_FREE (bytes) is not set");
    free_bytes = strtoull(s, &end, 10);
    if (*end != '\0')
        refuse("QN_TEST_FREE is not a number of bytes");
}

static void fake(struct statvfs *buf)
{
    if (buf->f_frsize > 0)
        buf->f_bavail = (fsblkcnt_t)(free_bytes / buf->f_frsize);
}

int fstatvfs(int fd, struct statvfs *buf)
{
    int (*real)(int, struct statvfs *) =
        (int (*)(int, struct statvfs *))dlsym(RTLD_NEXT, "fstatvfs");
    int r;

    if (real == NULL)
        refuse("no fstatvfs to wrap");
    r = real(fd, buf);
    if (r == 0)
        fake(buf);
    return r;
}

int fstatvfs64(int fd, struct statvfs64 *buf)
{
    int (*real)(int, struct statvfs64 *) =
        (int (*)(int, struct statvfs64 *))dlsym(RTLD_NEXT, "fstatvfs64");
    int r;

    if (real == NULL)
        refuse("no fstatvfs64 to wrap");
    r = real(fd, buf);
    if (r == 0 && buf->f_frsize > 0)
        buf->f_bavail = (__fsblkcnt64_t)(free_bytes / buf->f_frsize);
    return r;
}
