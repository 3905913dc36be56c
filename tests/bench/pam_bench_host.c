/*
 * pam_bench_host — the PAM application tests/bench/pam_bench.py times: COUNT
 * sessions of SERVICE, each a fresh pam_start with PAM_RHOST and PAM_TTY set
 * as sshd sets them, and prints the time pam_open_session took, one line per
 * session, in microseconds.  pam_start (which loads the modules) and
 * pam_close_session are outside the measurement.  Runs under pam_wrapper
 * (the script sets LD_PRELOAD and the service directory).
 *
 *     pam_bench_host SERVICE COUNT
 *
 * Exit status 1 as soon as a session does not open: a benchmark of a
 * failing stack would measure the wrong thing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <security/pam_appl.h>

static int conv_none(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
    (void)n;
    (void)msg;
    (void)resp;
    (void)data;
    return PAM_CONV_ERR;
}

static double now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
    struct pam_conv conv = {conv_none, NULL};
    long count, i;
    char *end;

    if (argc != 3 || (count = strtol(argv[2], &end, 10)) <= 0 || *end != '\0') {
        fprintf(stderr, "usage: pam_bench_host SERVICE COUNT\n");
        return 2;
    }
    for (i = 0; i < count; i++) {
        pam_handle_t *pamh = NULL;
        double t0, t1;
        int rc;

        rc = pam_start(argv[1], "alice", &conv, &pamh);
        if (rc != PAM_SUCCESS) {
            fprintf(stderr, "pam_start: %d\n", rc);
            return 1;
        }
        if (pam_set_item(pamh, PAM_RHOST, "203.0.113.9") != PAM_SUCCESS ||
            pam_set_item(pamh, PAM_TTY, "/dev/pts/0") != PAM_SUCCESS ||
            pam_putenv(pamh, "SSH_CONNECTION=203.0.113.9 50122 192.0.2.1 22") != PAM_SUCCESS) {
            fprintf(stderr, "pam_set_item failed\n");
            return 1;
        }
        t0 = now_us();
        rc = pam_open_session(pamh, 0);
        t1 = now_us();
        if (rc != PAM_SUCCESS) {
            fprintf(stderr, "pam_open_session: %s\n", pam_strerror(pamh, rc));
            pam_end(pamh, rc);
            return 1;
        }
        printf("%.3f\n", t1 - t0);
        fflush(stdout);
        rc = pam_close_session(pamh, 0);
        pam_end(pamh, rc);
    }
    return 0;
}
