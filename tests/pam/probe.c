/*
 * qqnotify-probe — stands in for `qqnotify flush` in the flush=spawn tests.
 *
 * Records how it was started into "<argv[0]>.out" (written to a temporary
 * name, then renamed, so the test never reads half a file): its arguments,
 * environment, open file descriptors and where they point, session and
 * process group, parent, working directory, ids, and the blocked and
 * ignored signal sets.  The test links argv[0] (the flush_cmd path) to this
 * binary in a private directory, so the output lands next to it.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

/* "SigBlk:" and "SigIgn:" lines of /proc/self/status into F. */
static int copy_signal_sets(FILE *f)
{
    char line[256];
    FILE *st = fopen("/proc/self/status", "re");

    if (st == NULL)
        return -1;
    while (fgets(line, sizeof(line), st) != NULL) {
        if (strncmp(line, "SigBlk:", 7) == 0 || strncmp(line, "SigIgn:", 7) == 0)
            fputs(line, f);
    }
    return fclose(st);
}

int main(int argc, char **argv)
{
    char out[PATH_MAX], tmp[PATH_MAX], fds[4096], cwd[PATH_MAX];
    size_t fds_len = 0;
    struct dirent *de;
    FILE *f;
    DIR *d;
    int i;

    if (argc < 1 || snprintf(out, sizeof(out), "%s.out", argv[0]) >= (int)sizeof(out) ||
        snprintf(tmp, sizeof(tmp), "%s.out.tmp", argv[0]) >= (int)sizeof(tmp))
        return 2;

    /* Descriptors first, before this program opens anything of its own. */
    d = opendir("/proc/self/fd");
    if (d == NULL)
        return 2;
    while ((de = readdir(d)) != NULL) {
        char link[PATH_MAX + 16], target[PATH_MAX];
        ssize_t n;
        int fd;

        if (de->d_name[0] == '.')
            continue;
        fd = atoi(de->d_name);
        if (fd == dirfd(d))
            continue;
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = readlink(link, target, sizeof(target) - 1);
        if (n < 0)
            return 2;
        target[n] = '\0';
        fds_len += (size_t)snprintf(fds + fds_len, sizeof(fds) - fds_len, "fd %d %s\n", fd, target);
        if (fds_len >= sizeof(fds))
            return 2;
    }
    if (closedir(d) != 0)
        return 2;

    f = fopen(tmp, "we");
    if (f == NULL)
        return 2;
    for (i = 1; i < argc; i++)
        fprintf(f, "arg %s\n", argv[i]);
    for (i = 0; environ[i] != NULL; i++)
        fprintf(f, "env %s\n", environ[i]);
    fputs(fds, f);
    fprintf(f, "pid %ld\nppid %ld\nsid %ld\npgid %ld\n", (long)getpid(), (long)getppid(),
            (long)getsid(0), (long)getpgid(0));
    fprintf(f, "cwd %s\n", getcwd(cwd, sizeof(cwd)) != NULL ? cwd : "?");
    fprintf(f, "uid %ld euid %ld gid %ld egid %ld\n", (long)getuid(), (long)geteuid(),
            (long)getgid(), (long)getegid());
    fprintf(f, "groups %d\n", getgroups(0, NULL));
    fprintf(f, "umask %03o\n", (unsigned)umask(0));
    if (copy_signal_sets(f) != 0 || fclose(f) != 0)
        return 2;
    if (rename(tmp, out) != 0)
        return 2;
    return 0;
}
