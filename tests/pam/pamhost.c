/* A PAM application for the module tests; see pamhost.h. */
#include "pamhost.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>

static int conv_answer(int n, const struct pam_message **msg, struct pam_response **resp,
                       void *data)
{
    const char *password = data;
    struct pam_response *r;
    int i;

    if (n <= 0 || n > PAM_MAX_NUM_MSG)
        return PAM_CONV_ERR;
    r = calloc((size_t)n, sizeof(*r));
    if (r == NULL)
        return PAM_BUF_ERR;
    for (i = 0; i < n; i++) {
        if (msg[i]->msg_style != PAM_PROMPT_ECHO_OFF && msg[i]->msg_style != PAM_PROMPT_ECHO_ON)
            continue;
        r[i].resp = strdup(password != NULL ? password : "");
        if (r[i].resp == NULL) {
            while (i-- > 0)
                free(r[i].resp);
            free(r);
            return PAM_BUF_ERR;
        }
    }
    *resp = r;
    return PAM_SUCCESS;
}

int qn_pamhost_fd_snapshot(char *out, size_t outsz)
{
    struct dirent *de;
    size_t len = 0;
    DIR *d;

    d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    out[0] = '\0';
    while ((de = readdir(d)) != NULL) {
        char link[64], target[PATH_MAX];
        ssize_t n;
        int fd, w;

        if (de->d_name[0] == '.')
            continue;
        fd = atoi(de->d_name);
        if (fd == dirfd(d))
            continue;
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = readlink(link, target, sizeof(target) - 1);
        if (n < 0)
            continue; /* closed between readdir and readlink: not ours to list */
        target[n] = '\0';
        w = snprintf(out + len, outsz - len, "%d %s\n", fd, target);
        if (w < 0 || (size_t)w >= outsz - len) {
            closedir(d);
            return -1;
        }
        len += (size_t)w;
    }
    return closedir(d);
}

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static unsigned count_syslog_lines(const char *log)
{
    unsigned n = 0;
    const char *p = log;

    while ((p = strstr(p, "SYSLOG(")) != NULL) {
        n++;
        p += 7;
    }
    return n;
}

int qn_pamhost_run(const struct qn_pamhost_call *call, struct qn_pamhost_result *res)
{
    struct pam_conv conv = {conv_answer, (void *)call->password};
    char before[8192], after[8192];
    pam_handle_t *pamh = NULL;
    int saved_err = -1, logfd = -1, rc = -1;
    double t;
    ssize_t n;
    size_t i;

    memset(res, 0, sizeof(*res));
    res->rc_start = res->rc_auth = res->rc_open = res->rc_close = res->rc_end = -1;
    if (qn_pamhost_fd_snapshot(before, sizeof(before)) != 0) {
        perror("pamhost: fd snapshot");
        return -1;
    }
    fflush(stderr);
    saved_err = dup(2);
    logfd = memfd_create("pamhost-log", MFD_CLOEXEC);
    if (saved_err < 0 || logfd < 0 || dup2(logfd, 2) < 0) {
        perror("pamhost: capture stderr");
        goto out;
    }

    res->rc_start = pam_start(call->service, call->user, &conv, &pamh);
    if (res->rc_start != PAM_SUCCESS)
        goto end;
    if ((call->ruser != NULL && pam_set_item(pamh, PAM_RUSER, call->ruser) != PAM_SUCCESS) ||
        (call->rhost != NULL && pam_set_item(pamh, PAM_RHOST, call->rhost) != PAM_SUCCESS) ||
        (call->tty != NULL && pam_set_item(pamh, PAM_TTY, call->tty) != PAM_SUCCESS)) {
        fprintf(stderr, "pamhost: pam_set_item failed\n");
        goto end;
    }
    for (i = 0; call->env != NULL && call->env[i] != NULL; i++) {
        if (pam_putenv(pamh, call->env[i]) != PAM_SUCCESS) {
            fprintf(stderr, "pamhost: pam_putenv failed\n");
            goto end;
        }
    }
    if (call->ops & QN_PAMHOST_AUTH) {
        t = now_ms();
        res->rc_auth = pam_authenticate(pamh, 0);
        res->ms_auth = now_ms() - t;
    }
    if (call->ops & QN_PAMHOST_OPEN) {
        t = now_ms();
        res->rc_open = pam_open_session(pamh, 0);
        res->ms_open = now_ms() - t;
    }
    if (call->ops & QN_PAMHOST_CLOSE) {
        t = now_ms();
        res->rc_close = pam_close_session(pamh, 0);
        res->ms_close = now_ms() - t;
    }
end:
    if (pamh != NULL)
        res->rc_end = pam_end(pamh, PAM_SUCCESS);
    rc = 0;
out:
    fflush(stderr);
    if (saved_err >= 0) {
        if (dup2(saved_err, 2) < 0)
            rc = -1;
        close(saved_err);
    }
    if (logfd >= 0) {
        n = pread(logfd, res->log, sizeof(res->log) - 1, 0);
        res->log[n > 0 ? n : 0] = '\0';
        close(logfd);
    }
    res->log_lines = count_syslog_lines(res->log);
    if (qn_pamhost_fd_snapshot(after, sizeof(after)) != 0) {
        perror("pamhost: fd snapshot");
        return -1;
    }
    res->fds_unchanged = strcmp(before, after) == 0;
    if (!res->fds_unchanged)
        snprintf(res->fd_diff, sizeof(res->fd_diff), "before:\n%.500safter:\n%.500s", before,
                 after);
    return rc;
}
