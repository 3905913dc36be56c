/*
 * Tests for pam/pam_qqnotify.so through real PAM stacks: libpam under
 * pam_wrapper, service files from tests/pam/services/ (templated with this
 * build's paths), pam_matrix as the password module, and the spool read
 * back with the sender's own reader (qn_spool_open/list/load).
 *
 * The program prepares a private work directory, then re-executes itself
 * with LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 (pam_wrapper reads the
 * service directory once, at its first pam_start).  Environment:
 *   QN_PAM_MODULE      the module under test (default: ../pam_qqnotify.so
 *                      next to this binary's directory)
 *   QN_PAM_TEST_FILTER a cmocka test-name pattern (for the valgrind run)
 *   QN_PAM_TEST_TIMING=1     also fail a broken-spool case that takes 10 ms or more
 *                            (off by default: timing belongs to tests/bench, and a
 *                            loaded machine or a sanitizer build is slower; the time
 *                            of each case is printed either way)
 *   QN_PAM_TEST_SERVICES the service file templates (default: the source tree's)
 *   QN_PAM_TEST_KEEP=1   keep the work directory for a post-mortem
 * Root is not needed; as root the unwritable-spool test drops
 * CAP_DAC_OVERRIDE around its call, and the full-spool test uses a tmpfs in
 * a private mount namespace when it can (else write() in the spool fails
 * with ENOSPC, from this program's own write(); the output says which).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <security/pam_appl.h>
#include <security/pam_modules.h>

#include "event.h"
#include "pamhost.h"
#include "sessions.h"
#include "spool.h"
#include "sshkey.h"

#ifndef QN_PAM_TEST_SERVICES
#define QN_PAM_TEST_SERVICES "tests/pam/services"
#endif
#ifndef QN_PAM_WRAPPER_LIB
#define QN_PAM_WRAPPER_LIB "libpam_wrapper.so"
#endif
#ifndef QN_PAM_WRAPPER_MODULES
#define QN_PAM_WRAPPER_MODULES "/usr/lib/x86_64-linux-gnu/pam_wrapper"
#endif

#define ELLIPSIS   "\xE2\x80\xA6"
#define FFFD       "\xEF\xBF\xBD"
#define MAX_EVENTS 16

/* Where everything of this run lives; set once in main(). */
static struct {
    char work[PATH_MAX];   /* private directory, removed at the end */
    char spool[PATH_MAX];  /* the spool most services write to */
    char module[PATH_MAX]; /* pam_qqnotify.so under test */
    char probe[PATH_MAX];  /* flush_cmd for qn-spawn: a link to qqnotify-probe */
    bool timing;           /* fail on the 10 ms bound (QN_PAM_TEST_TIMING=1) */
} g;

/* Keys made with ssh-keygen; fingerprints as `ssh-keygen -lf` printed them. */
#define ED25519_PUB                                                                                \
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP60Y5iJAX1eV3jS5biHXaDxRQqu4wNHjnh9/hjpYVKX"
#define ED25519_FP "SHA256:JzN09GGCIbDdrBMXxngEviT6WyLlSqFVNbK8I8Q8sSo"
#define RSA3072_PUB                                                                                \
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQDNP8owslBGsKHxDfmZQalaV14xhGeujOfP8CoQ9Q1GUy7YpiEyTwA"  \
    "M/tP/2TNcdknj0STE6qBoxpSxp3qzoB0/hSkya5DcZsHRp+x/qR3h2ixpe1boFQ5PysL3wtZr/pdwBWsAS8MAj0zo8"   \
    "04/+tIEdIBdtYW7HbvSB8Z0jIH2jYjCemwt/lB0DFHhE9QZlYrLXK1i/6qt2jTBllbOgzvZSUnJ79SnoR/NrhZJA9u5"  \
    "rGC9+UOIvm/nx/EYS62ZfXQDm0mDent3uhKIMLSWqwB8CAEgdyJ6AS6dZzLNMjfIr2LaZOttdqUARM+TcPYpQshc1Xz1" \
    "/DiE3GO42YgztFA3NP+lPnojsDoIwHbwGXyJ2VHVYQMrZTqwW9oaqGnxzkXpgu8WxslZ4P8GoPO3GG+TimBi03V6rPQZ" \
    "44CZ5Euw2fPASpvZHWxcjAwmkjkz/D73NPQ3IaomQWa8UOHJVAUARl5JkMt4E0C2RdSmUHE7b6aT5wJ089f/gRcueoK"  \
    "AVy8="
#define RSA3072_FP "SHA256:X5iR7AfZgyudAiWEYZ6wxucrpBAxDXE57vyMcnsG/Ag"
#define ECDSA_PUB                                                                                  \
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBJmcH417Eh2N3L/MFv+"  \
    "ZG43zEIvF0xtNbed5wWuTsdyCgoplEblmSH9+kATUVfTcs5snrIE7nrQEgbzUEkAoUcw="
#define ECDSA_FP "SHA256:TsspbDsRnFzGlP4MjUkwJCkoblkV142aoVzqAo1dpPk"

/* ---- helpers ---- */

/* snprintf that must not truncate (paths here are short; a cut one would test the wrong file). */
static void __attribute__((format(printf, 3, 4))) fmt(char *out, size_t outsz, const char *f, ...)
{
    va_list ap;
    int n;

    va_start(ap, f);
    n = vsnprintf(out, outsz, f, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= outsz) {
        fprintf(stderr, "test_pam: string too long for its buffer: %s\n", f);
        abort();
    }
}

static void path_join(char *out, const char *a, const char *b)
{
    fmt(out, PATH_MAX, "%s/%s", a, b);
}

/* Events in SPOOL's new/, oldest first, removed afterwards; the raw entry files in RAW. */
static size_t take_events(const char *spool, struct qn_event *evs, char (*raw)[8192])
{
    static char ids[MAX_EVENTS][QN_SPOOL_ID_MAX];
    static struct qn_spool_entry entry;
    struct qn_spool *sp = NULL;
    size_t n = 0, total = 0, i;

    assert_int_equal(qn_spool_open(spool, 0, 0, &sp), QN_OK);
    assert_int_equal(qn_spool_list(sp, QN_SPOOL_NEW, ids, MAX_EVENTS, &n, &total), QN_OK);
    assert_int_equal(n, total);
    for (i = 0; i < n; i++) {
        char path[PATH_MAX];
        FILE *f;
        size_t got;

        if (raw != NULL) {
            fmt(path, sizeof(path), "%s/new/%s", spool, ids[i]);
            f = fopen(path, "re");
            assert_non_null(f);
            got = fread(raw[i], 1, sizeof(raw[i]) - 1, f);
            raw[i][got] = '\0';
            fclose(f);
        }
        memset(&entry, 0, sizeof(entry));
        assert_int_equal(qn_spool_load(sp, QN_SPOOL_NEW, ids[i], 0, &entry), QN_OK);
        assert_int_equal(entry.type, QN_SPOOL_EVENT);
        evs[i] = entry.event;
        qn_spool_entry_clear(&entry);
        assert_int_equal(qn_spool_remove(sp, QN_SPOOL_NEW, ids[i]), QN_OK);
    }
    qn_spool_close(sp);
    return n;
}

static size_t count_files(const char *dir)
{
    struct dirent *de;
    size_t n = 0;
    DIR *d = opendir(dir);

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    }
    closedir(d);
    return n;
}

/* No event and no leftover anywhere in the main spool. */
static void assert_spool_empty(void)
{
    char dir[PATH_MAX];

    path_join(dir, g.spool, "new");
    assert_int_equal(count_files(dir), 0);
    path_join(dir, g.spool, "tmp");
    assert_int_equal(count_files(dir), 0);
}

/*
 * EV has exactly the fields in EXPECT ("key", "value" pairs, NULL-terminated),
 * kind KIND, this host's name and a time within [T0, T1].
 */
static void assert_event(const struct qn_event *ev, const char *kind, long long t0, long long t1,
                         const char *const *expect)
{
    char host[256] = "";
    size_t n = 0;

    assert_string_equal(ev->kind, kind);
    assert_true(ev->time >= t0 && ev->time <= t1);
    assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
    assert_string_equal(ev->host, host);
    assert_string_equal(ev->subject, "");
    for (; expect[2 * n] != NULL; n++) {
        const char *got = qn_event_get(ev, expect[2 * n]);

        if (got == NULL)
            fail_msg("field %s missing", expect[2 * n]);
        assert_string_equal(got, expect[2 * n + 1]);
    }
    if (ev->n_fields != n) {
        size_t i;

        for (i = 0; i < ev->n_fields; i++)
            print_message("field %s = %s\n", ev->fields[i].key, ev->fields[i].value);
        fail_msg("%zu fields, expected %zu", ev->n_fields, n);
    }
}

static const char *pid_text(void)
{
    static char buf[24];

    fmt(buf, sizeof(buf), "%ld", (long)getpid());
    return buf;
}

/* The session key the module must write (sessions.h), computed here from /proc on its own:
 * the boot id without dashes, this process's pid (the module runs in it) and start time. */
static const char *session_text(void)
{
    static char buf[96];
    char boot[64] = "", stat[1024] = "", hex[40];
    const char *p;
    size_t n = 0;
    FILE *f;

    f = fopen("/proc/sys/kernel/random/boot_id", "r");
    assert_non_null(f);
    assert_non_null(fgets(boot, sizeof(boot), f));
    fclose(f);
    for (p = boot; *p != '\0' && *p != '\n'; p++) {
        if (*p != '-')
            hex[n++] = *p;
    }
    hex[n] = '\0';
    f = fopen("/proc/self/stat", "r");
    assert_non_null(f);
    assert_non_null(fgets(stat, sizeof(stat), f));
    fclose(f);
    p = strrchr(stat, ')') + 2; /* field 3, the state */
    for (int field = 3; field < 22; field++)
        p = strchr(p, ' ') + 1;
    fmt(buf, sizeof(buf), "%s:%ld:%.*s", hex, (long)getpid(), (int)strspn(p, "0123456789"), p);
    return buf;
}

/* Run CALL, which must succeed as a stack, without any log line or fd change. */
static void run_quiet(const struct qn_pamhost_call *call, struct qn_pamhost_result *res)
{
    assert_int_equal(qn_pamhost_run(call, res), 0);
    if (res->log_lines != 0)
        fail_msg("unexpected log output:\n%s", res->log);
    if (!res->fds_unchanged)
        fail_msg("file descriptors changed:\n%s", res->fd_diff);
}

static struct qn_pamhost_result res; /* large: one for all tests */

/* Before each test: an empty main spool, so one failed test cannot spill into the next. */
static int empty_spool(void **state)
{
    static const char *const subs[] = {"new", "tmp"};
    char dir[PATH_MAX], path[PATH_MAX];
    struct dirent *de;
    size_t i;
    DIR *d;

    (void)state;
    for (i = 0; i < 2; i++) {
        path_join(dir, g.spool, subs[i]);
        d = opendir(dir);
        if (d == NULL)
            return -1;
        while ((de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            path_join(path, dir, de->d_name);
            if (unlink(path) != 0) {
                closedir(d);
                return -1;
            }
        }
        closedir(d);
    }
    return 0;
}

/* ---- the module's interface ---- */

static void test_dlopen_exports_only_the_pam_entry_points(void **state)
{
    static const char *const exported[] = {"pam_sm_authenticate",  "pam_sm_setcred",
                                           "pam_sm_acct_mgmt",     "pam_sm_open_session",
                                           "pam_sm_close_session", "pam_sm_chauthtok"};
    static const char *const hidden[] = {
        "qn_event_init", "qn_event_set", "qn_enqueue_event", "qn_text_sanitize_line",
        "qn_buf_init",   "qn_strerror",  "qn_sha256",        "qn_sshkey_fingerprint",
        "run_hook",      "parse_args",   "spawn_flush"};
    void *h;
    size_t i;

    (void)state;
    h = dlopen(g.module, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        fail_msg("dlopen: %s", dlerror());
    for (i = 0; i < sizeof(exported) / sizeof(exported[0]); i++) {
        if (dlsym(h, exported[i]) == NULL)
            fail_msg("%s not exported", exported[i]);
    }
    for (i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
        if (dlsym(h, hidden[i]) != NULL)
            fail_msg("%s is exported", hidden[i]);
    }
    assert_int_equal(dlclose(h), 0);
}

typedef int (*pam_sm_fn)(pam_handle_t *, int, int, const char **);

static int conv_none(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
    (void)n;
    (void)msg;
    (void)resp;
    (void)data;
    return PAM_CONV_ERR;
}

/* Every entry point returns PAM_IGNORE, whether it wrote an event, failed, or had nothing to do. */
static void test_every_entry_point_returns_ignore(void **state)
{
    static const char *const names[] = {"pam_sm_authenticate",  "pam_sm_setcred",
                                        "pam_sm_acct_mgmt",     "pam_sm_open_session",
                                        "pam_sm_close_session", "pam_sm_chauthtok"};
    char spool_arg[PATH_MAX + 8], missing_arg[PATH_MAX + 8];
    const char *argv_sets[5][5] = {
        {NULL},
        {"services=qn-direct", spool_arg, "event=open,close,authfail", NULL},
        {"services=qn-direct", missing_arg, "event=open,close,authfail", NULL},
        {"services=qn-direct", "spool=relative", "event=open,close,authfail", NULL},
        {"services=qn-direct", spool_arg, "event=open,close,authfail", "bogus", NULL},
    };
    const int argcs[5] = {0, 3, 3, 3, 4};
    struct qn_event evs[MAX_EVENTS];
    struct pam_conv conv = {conv_none, NULL};
    pam_handle_t *pamh = NULL;
    void *h;
    size_t i, j;
    int saved_err, devnull;

    (void)state;
    fmt(spool_arg, sizeof(spool_arg), "spool=%s", g.spool);
    fmt(missing_arg, sizeof(missing_arg), "spool=%s/spools/missing", g.work);
    h = dlopen(g.module, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(h);
    assert_int_equal(pam_start("qn-direct", "root", &conv, &pamh), PAM_SUCCESS);
    /* the failing cases log; keep that out of the test output */
    fflush(stderr);
    saved_err = dup(2);
    devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    assert_true(saved_err >= 0 && devnull >= 0 && dup2(devnull, 2) == 2);
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        pam_sm_fn fn = (pam_sm_fn)dlsym(h, names[i]);

        assert_non_null(fn);
        for (j = 0; j < 5; j++) {
            int rc = fn(pamh, 0, argcs[j], argcs[j] > 0 ? argv_sets[j] : NULL);

            if (rc != PAM_IGNORE)
                fail_msg("%s with argument set %zu returned %d", names[i], j, rc);
        }
    }
    fflush(stderr);
    assert_int_equal(dup2(saved_err, 2), 2);
    close(saved_err);
    close(devnull);
    assert_int_equal(pam_end(pamh, PAM_SUCCESS), PAM_SUCCESS);
    assert_int_equal(dlclose(h), 0);
    /* the two usable argument sets wrote for authenticate, open and close: 2 x 3 events */
    assert_int_equal(take_events(g.spool, evs, NULL), 6);
}

/* ---- session events ---- */

static void test_sshd_open_session_records_every_field(void **state)
{
    const char *env[] = {"SSH_CONNECTION=203.0.113.9 50122 192.0.2.1 22",
                         "SSH_AUTH_INFO_0=publickey " ED25519_PUB "\n", NULL};
    struct qn_pamhost_call call = {.service = "sshd",
                                   .user = "root",
                                   .rhost = "203.0.113.9",
                                   .tty = "/dev/pts/3",
                                   .env = env,
                                   .ops = QN_PAMHOST_OPEN};
    struct qn_event evs[MAX_EVENTS];
    long long t0, t1;

    (void)state;
    t0 = time(NULL);
    run_quiet(&call, &res);
    t1 = time(NULL);
    assert_int_equal(res.rc_open, PAM_SUCCESS);
    assert_int_equal(take_events(g.spool, evs, NULL), 1);
    assert_event(&evs[0], "login", t0, t1,
                 (const char *const[]){"service", "sshd", "user", "root", "rhost", "203.0.113.9",
                                       "ip", "203.0.113.9", "tty", "/dev/pts/3", "method",
                                       "publickey", "key", "ssh-ed25519 " ED25519_FP, "pid",
                                       pid_text(), "session", session_text(), NULL});
    assert_spool_empty();
}

static void test_sshd_rhost_name_takes_ip_from_ssh_connection(void **state)
{
    const char *env[] = {"SSH_CONNECTION=2001:db8:0:0::7 50122 2001:db8::1 22",
                         "SSH_AUTH_INFO_0=password\n", NULL};
    struct qn_pamhost_call call = {.service = "sshd",
                                   .user = "alice",
                                   .rhost = "client.example.net",
                                   .tty = "ssh",
                                   .env = env,
                                   .ops = QN_PAMHOST_OPEN};
    struct qn_event evs[MAX_EVENTS];
    long long t0, t1;

    (void)state;
    t0 = time(NULL);
    run_quiet(&call, &res);
    t1 = time(NULL);
    assert_int_equal(take_events(g.spool, evs, NULL), 1);
    /* the address is written canonically (RFC 5952), as sshd itself would show it */
    assert_event(&evs[0], "login", t0, t1,
                 (const char *const[]){"service", "sshd", "user", "alice", "rhost",
                                       "client.example.net", "ip", "2001:db8::7", "tty", "ssh",
                                       "method", "password", "pid", pid_text(), "session",
                                       session_text(), NULL});
}

static void test_sshd_garbage_ssh_connection_gives_no_ip(void **state)
{
    const char *env[] = {"SSH_CONNECTION=203.0.113.9\r\nBcc: x@example.com 1 2 3", NULL};
    struct qn_pamhost_call call = {.service = "sshd",
                                   .user = "alice",
                                   .rhost = "client.example",
                                   .env = env,
                                   .ops = QN_PAMHOST_OPEN};
    struct qn_event evs[MAX_EVENTS];

    (void)state;
    run_quiet(&call, &res);
    assert_int_equal(take_events(g.spool, evs, NULL), 1);
    assert_null(qn_event_get(&evs[0], "ip"));
    assert_string_equal(qn_event_get(&evs[0], "rhost"), "client.example");
}

static void test_sshd_auth_info_methods_and_keys(void **state)
{
    static const struct {
        const char *info;
        const char *method; /* NULL: no field */
        const char *key;    /* NULL: no field */
    } cases[] = {
        {"publickey " RSA3072_PUB "\n", "publickey", "ssh-rsa " RSA3072_FP},
        {"publickey " ECDSA_PUB "\n", "publickey", "ecdsa-sha2-nistp256 " ECDSA_FP},
        /* AuthenticationMethods publickey,keyboard-interactive: both, submethod dropped */
        {"publickey " ED25519_PUB "\nkeyboard-interactive/pam\n", "publickey,keyboard-interactive",
         "ssh-ed25519 " ED25519_FP},
        {"keyboard-interactive/pam\n", "keyboard-interactive", NULL},
        {"gssapi-with-mic\n", "gssapi-with-mic", NULL},
        /* certificates: the type only (sshd fingerprints the key inside) */
        {"publickey ssh-ed25519-cert-v01@openssh.com "
         "AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2g=\n",
         "publickey", "ssh-ed25519-cert-v01@openssh.com"},
        /* a blob that is not base64, or not of its type: the type only */
        {"publickey ssh-ed25519 AAAA!!!!\n", "publickey", "ssh-ed25519"},
        {"publickey ssh-rsa "
         "AAAAC3NzaC1lZDI1NTE5AAAAIP60Y5iJAX1eV3jS5biHXaDxRQqu4wNHjnh9/hjpYVKX\n",
         "publickey", "ssh-rsa"},
        /* no final newline, and nothing at all */
        {"password", "password", NULL},
        {"", NULL, NULL},
    };
    char env_info[4096];
    const char *env[] = {env_info, NULL};
    struct qn_pamhost_call call = {.service = "sshd",
                                   .user = "root",
                                   .rhost = "198.51.100.4",
                                   .env = env,
                                   .ops = QN_PAMHOST_OPEN};
    struct qn_event evs[MAX_EVENTS];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *m, *k;

        fmt(env_info, sizeof(env_info), "SSH_AUTH_INFO_0=%s", cases[i].info);
        run_quiet(&call, &res);
        assert_int_equal(take_events(g.spool, evs, NULL), 1);
        m = qn_event_get(&evs[0], "method");
        k = qn_event_get(&evs[0], "key");
        if (cases[i].method == NULL)
            assert_null(m);
        else if (m == NULL || strcmp(m, cases[i].method) != 0)
            fail_msg("case %zu: method %s, expected %s", i, m ? m : "(none)", cases[i].method);
        if (cases[i].key == NULL)
            assert_null(k);
        else if (k == NULL || strcmp(k, cases[i].key) != 0)
            fail_msg("case %zu: key %s, expected %s", i, k ? k : "(none)", cases[i].key);
    }
}

static void test_sudo_open_session_records_the_invoking_user(void **state)
{
    struct qn_pamhost_call call = {.service = "sudo",
                                   .user = "root",
                                   .ruser = "alice",
                                   .tty = "/dev/pts/1",
                                   .ops = QN_PAMHOST_OPEN};
    struct qn_event evs[MAX_EVENTS];
    long long t0, t1;

    (void)state;
    t0 = time(NULL);
    run_quiet(&call, &res);
    t1 = time(NULL);
    assert_int_equal(res.rc_open, PAM_SUCCESS);
    assert_int_equal(take_events(g.spool, evs, NULL), 1);
    assert_event(&evs[0], "login", t0, t1,
                 (const char *const[]){"service", "sudo", "user", "root", "ruser", "alice", "tty",
                                       "/dev/pts/1", "pid", pid_text(), NULL});
}

static void test_su_open_session_records_the_invoking_user(void **state)
{
    /* An SSH_CONNECTION in a non-remote session proves nothing: no ip field. */
    const char *env[] = {"SSH_CONNECTION=203.0.113.50 4000 192.0.2.1 22", NULL};
    struct qn_pamhost_call call = {.service = "su",
                                   .user = "root",
                                   .ruser = "bob",
                                   .tty = "/dev/pts/2",
                                   .env = env,
                                   .ops = QN_PAMHOST_OPEN};
    struct qn_event evs[MAX_EVENTS];
    long long t0, t1;

    (void)state;
    t0 = time(NULL);
    run_quiet(&call, &res);
    t1 = time(NULL);
    assert_int_equal(res.rc_open, PAM_SUCCESS);
    assert_int_equal(take_events(g.spool, evs, NULL), 1);
    assert_event(&evs[0], "login", t0, t1,
                 (const char *const[]){"service", "su", "user", "root", "ruser", "bob", "tty",
                                       "/dev/pts/2", "pid", pid_text(), NULL});
}

static void test_close_session_records_logout_with_event_close(void **state)
{
    struct qn_pamhost_call call = {.service = "sshd",
                                   .user = "carol",
                                   .rhost = "192.0.2.77",
                                   .tty = "/dev/pts/9",
                                   .ops = QN_PAMHOST_OPEN | QN_PAMHOST_CLOSE};
    struct qn_event evs[MAX_EVENTS];
    long long t0, t1;

    (void)state;
    t0 = time(NULL);
    run_quiet(&call, &res);
    t1 = time(NULL);
    assert_int_equal(res.rc_open, PAM_SUCCESS);
    assert_int_equal(res.rc_close, PAM_SUCCESS);
    assert_int_equal(take_events(g.spool, evs, NULL), 2);
    assert_event(&evs[0], "login", t0, t1,
                 (const char *const[]){"service", "sshd", "user", "carol", "rhost", "192.0.2.77",
                                       "ip", "192.0.2.77", "tty", "/dev/pts/9", "pid", pid_text(),
                                       "session", session_text(), NULL});
    assert_event(&evs[1], "logout", t0, t1,
                 (const char *const[]){"service", "sshd", "user", "carol", "rhost", "192.0.2.77",
                                       "ip", "192.0.2.77", "tty", "/dev/pts/9", "pid", pid_text(),
                                       "session", session_text(), NULL});
}

/* The two ends of a session carry one key, which the sender's table pairs into a duration. */
static void test_open_and_close_pair_into_a_duration(void **state)
{
    struct qn_pamhost_call call = {.service = "sshd",
                                   .user = "dave",
                                   .rhost = "198.51.100.3",
                                   .ops = QN_PAMHOST_OPEN | QN_PAMHOST_CLOSE};
    struct qn_event evs[MAX_EVENTS];
    struct qn_sessions *t = malloc(sizeof(*t));
    long long duration = -1;

    (void)state;
    assert_non_null(t);
    run_quiet(&call, &res);
    assert_int_equal(take_events(g.spool, evs, NULL), 2);
    assert_true(qn_sessions_key_valid(qn_event_get(&evs[0], "session")));
    assert_string_equal(qn_event_get(&evs[0], "session"), qn_event_get(&evs[1], "session"));
    qn_sessions_init(t);
    evs[1].time = evs[0].time + 2 * 3600 + 14 * 60; /* as if the session had lasted */
    assert_int_equal(qn_sessions_open(t, &evs[0]), QN_OK);
    assert_int_equal(qn_sessions_count(t, "dave"), 1);
    assert_int_equal(qn_sessions_close(t, &evs[1], &duration), QN_OK);
    assert_int_equal(duration, 2 * 3600 + 14 * 60);
    assert_int_equal(qn_sessions_count(t, "dave"), 0);
    free(t);
}

/* A line that reports only opens writes no key: no end will ever pair with it. */
static void test_open_only_lines_write_no_session_key(void **state)
{
    struct qn_pamhost_call call = {
        .service = "su", .user = "root", .ruser = "erin", .ops = QN_PAMHOST_OPEN};
    struct qn_event evs[MAX_EVENTS];

    (void)state;
    run_quiet(&call, &res);
    assert_int_equal(take_events(g.spool, evs, NULL), 1);
    assert_null(qn_event_get(&evs[0], "session"));
}

static void test_close_session_without_event_close_records_nothing(void **state)
{
    struct qn_pamhost_call call = {
        .service = "su", .user = "root", .ruser = "bob", .ops = QN_PAMHOST_CLOSE};

    (void)state;
    run_quiet(&call, &res);
    assert_int_equal(res.rc_close, PAM_SUCCESS);
    assert_spool_empty();
}

/* ---- filters ---- */

static void test_filtered_services_and_users_record_nothing(void **state)
{
    static const struct {
        const char *service, *user, *rhost;
        size_t events;
    } cases[] = {
        {"cron", "root", NULL, 0},         /* not in the default services= */
        {"qn-notlisted", "root", NULL, 0}, /* services=sshd,sudo */
        {"qn-skip", "backup", NULL, 0},    {"qn-skip", "nagios", NULL, 0},
        {"qn-skip", "nagios2", NULL, 1}, /* whole names only */
        {"qn-skip", "root", NULL, 1},      {"qn-only", "root", NULL, 1},
        {"qn-only", "admin", NULL, 1},     {"qn-only", "adm", NULL, 0},
        {"qn-only", "alice", NULL, 0},     {"qn-only", NULL, NULL, 0},
        {"qn-remote", "alice", NULL, 0},   {"qn-remote", "alice", "203.0.113.9", 1},
    };
    struct qn_event evs[MAX_EVENTS];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct qn_pamhost_call call = {.service = cases[i].service,
                                       .user = cases[i].user,
                                       .rhost = cases[i].rhost,
                                       .ops = QN_PAMHOST_OPEN};
        size_t n;

        run_quiet(&call, &res);
        assert_int_equal(res.rc_open, PAM_SUCCESS);
        n = take_events(g.spool, evs, NULL);
        if (n != cases[i].events)
            fail_msg("%s user %s: %zu events, expected %zu", cases[i].service,
                     cases[i].user ? cases[i].user : "(none)", n, cases[i].events);
    }
}

/* ---- authfail ---- */

/* SERVICE and its baseline give the same result for PASSWORD; the number of events. */
static size_t auth_compare(const char *service, const char *baseline, const char *user,
                           const char *password, int expect_rc, struct qn_event *evs)
{
    const char *env[] = {"SSH_CONNECTION=203.0.113.66 50000 192.0.2.1 22",
                         "SSH_AUTH_INFO_0=publickey " ED25519_PUB "\n", NULL};
    struct qn_pamhost_call call = {.service = baseline,
                                   .user = user,
                                   .rhost = "203.0.113.66",
                                   .env = env,
                                   .password = password,
                                   .ops = QN_PAMHOST_AUTH};

    run_quiet(&call, &res);
    assert_int_equal(res.rc_auth, expect_rc);
    call.service = service;
    run_quiet(&call, &res);
    assert_int_equal(res.rc_auth, expect_rc);
    return take_events(g.spool, evs, NULL);
}

static void test_authfail_debian_stack(void **state)
{
    struct qn_event evs[MAX_EVENTS];
    long long t0, t1;

    (void)state;
    /* at authfail SSH_AUTH_INFO_0 holds earlier methods only: it must not be reported */
    assert_int_equal(
        auth_compare("sshd", "baseline-debian", "alice", "wonderland", PAM_SUCCESS, evs), 0);
    t0 = time(NULL);
    assert_int_equal(auth_compare("sshd", "baseline-debian", "alice", "guess", PAM_AUTH_ERR, evs),
                     1);
    t1 = time(NULL);
    /* SSH_AUTH_INFO_0 is not read at authfail: no method, no key */
    assert_event(&evs[0], "authfail", t0, t1,
                 (const char *const[]){"service", "sshd", "user", "alice", "rhost", "203.0.113.66",
                                       "ip", "203.0.113.66", "pid", pid_text(), NULL});
}

static void test_authfail_rhel_stack_and_sudo(void **state)
{
    struct qn_pamhost_call call = {.service = "sudo",
                                   .user = "alice",
                                   .ruser = "alice",
                                   .tty = "/dev/pts/4",
                                   .password = "nope",
                                   .ops = QN_PAMHOST_AUTH};
    struct qn_event evs[MAX_EVENTS];
    long long t0, t1;

    (void)state;
    assert_int_equal(auth_compare("sudo", "baseline-rhel", "alice", "wonderland", PAM_SUCCESS, evs),
                     0);
    assert_int_equal(auth_compare("sudo", "baseline-rhel", "alice", "guess", PAM_AUTH_ERR, evs), 1);
    t0 = time(NULL);
    run_quiet(&call, &res);
    t1 = time(NULL);
    assert_int_equal(res.rc_auth, PAM_AUTH_ERR);
    assert_int_equal(take_events(g.spool, evs, NULL), 1);
    assert_event(&evs[0], "authfail", t0, t1,
                 (const char *const[]){"service", "sudo", "user", "alice", "ruser", "alice", "tty",
                                       "/dev/pts/4", "pid", pid_text(), NULL});
}

static void test_auth_without_event_authfail_records_nothing(void **state)
{
    struct qn_pamhost_call call = {
        .service = "qn-authnoevent", .user = "alice", .password = "guess", .ops = QN_PAMHOST_AUTH};

    (void)state;
    run_quiet(&call, &res);
    assert_int_equal(res.rc_auth, PAM_AUTH_ERR);
    assert_spool_empty();
}

/* ---- hostile values ---- */

static void assert_one_line_per_field(const char *raw)
{
    const char *line = raw;

    assert_null(strchr(raw, '\r'));
    while (*line != '\0') {
        const char *end = strchr(line, '\n');

        if (strncmp(line, "Bcc", 3) == 0 || strncmp(line, "bcc", 3) == 0)
            fail_msg("forged line in the entry: %.60s", line);
        if (end == NULL)
            break;
        line = end + 1;
    }
}

static void test_authfail_attacker_chosen_user_is_sanitised(void **state)
{
    struct qn_pamhost_call call = {.service = "sshd",
                                   .user = "x\r\nBcc: evil@example.com\r\n\r\nhi",
                                   .rhost = "203.0.113.66",
                                   .password = "guess",
                                   .ops = QN_PAMHOST_AUTH};
    static char raw[MAX_EVENTS][8192];
    struct qn_event evs[MAX_EVENTS];

    (void)state;
    run_quiet(&call, &res);
    assert_int_equal(res.rc_auth, PAM_AUTH_ERR);
    assert_int_equal(take_events(g.spool, evs, raw), 1);
    assert_string_equal(qn_event_get(&evs[0], "user"), "x Bcc: evil@example.com hi");
    assert_one_line_per_field(raw[0]);
}

static void test_injected_items_are_sanitised_and_capped(void **state)
{
    static char big[10 * 1024 + 1];
    static char big_want[QN_EVENT_VALUE_MAX];
    static char raw[MAX_EVENTS][8192];
    struct qn_pamhost_call call = {.service = "sudo", .ops = QN_PAMHOST_OPEN};
    struct qn_event evs[MAX_EVENTS];

    (void)state;
    memset(big, 'A', sizeof(big) - 1);
    /* 511 bytes with the NUL: 508 'A' and the 3-byte ellipsis */
    memset(big_want, 'A', QN_EVENT_VALUE_MAX - 4);
    memcpy(big_want + QN_EVENT_VALUE_MAX - 4, ELLIPSIS, 4);

    call.user = "root\r\nBcc: victim@example.com";
    call.ruser = big;
    call.tty = "/dev/pts/1\x1b[2J\x07";
    run_quiet(&call, &res);
    assert_int_equal(res.rc_open, PAM_SUCCESS);
    assert_int_equal(take_events(g.spool, evs, raw), 1);
    assert_string_equal(qn_event_get(&evs[0], "user"), "root Bcc: victim@example.com");
    assert_string_equal(qn_event_get(&evs[0], "ruser"), big_want);
    assert_string_equal(qn_event_get(&evs[0], "tty"), "/dev/pts/1 [2J");
    assert_one_line_per_field(raw[0]);

    /* invalid UTF-8, a bidi override, a NUL-free 10 KB host name with line breaks */
    call.user = "b\xc3\x28ob";
    call.ruser = "ad\xe2\x80\xaemin";
    call.tty = "pts\xff\xfe";
    call.service = "sshd";
    call.rhost = "evil.example\nBcc: x@example.com\r\n";
    run_quiet(&call, &res);
    assert_int_equal(take_events(g.spool, evs, raw), 1);
    assert_string_equal(qn_event_get(&evs[0], "user"), "b" FFFD "(ob");
    assert_string_equal(qn_event_get(&evs[0], "ruser"), "ad<U+202E>min");
    assert_string_equal(qn_event_get(&evs[0], "tty"), "pts" FFFD FFFD);
    assert_string_equal(qn_event_get(&evs[0], "rhost"), "evil.example Bcc: x@example.com");
    assert_null(qn_event_get(&evs[0], "ip"));
    assert_one_line_per_field(raw[0]);

    memset(big, 'h', sizeof(big) - 1);
    big[100] = '\n';
    call.user = "root";
    call.ruser = NULL;
    call.tty = NULL;
    call.rhost = big;
    run_quiet(&call, &res);
    assert_int_equal(take_events(g.spool, evs, raw), 1);
    assert_int_equal(strlen(qn_event_get(&evs[0], "rhost")), QN_EVENT_VALUE_MAX - 1);
    assert_one_line_per_field(raw[0]);
}

/* ---- arguments ---- */

/*
 * The module's calls to fsync and sync_file_range, counted while SYNCS.ON: this
 * program exports both symbols (default visibility here, and pam/module.mk), so the module's
 * references bind here first; each passes on to libc's.
 */
static struct {
    bool on;
    unsigned fsyncs, writebacks;
    int writeback_errno; /* non-zero: sync_file_range fails with it (while ON) */
} syncs;

__attribute__((visibility("default"))) int fsync(int fd)
{
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");

    if (syncs.on)
        syncs.fsyncs++;
    if (real == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return real(fd);
}

__attribute__((visibility("default"))) int sync_file_range(int fd, off_t offset, off_t nbytes,
                                                           unsigned int flags)
{
    int (*real)(int, off_t, off_t, unsigned int) =
        (int (*)(int, off_t, off_t, unsigned int))dlsym(RTLD_NEXT, "sync_file_range");

    if (syncs.on)
        syncs.writebacks++;
    if (syncs.on && syncs.writeback_errno != 0) {
        errno = syncs.writeback_errno;
        return -1;
    }
    if (real == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return real(fd, offset, nbytes, flags);
}

/* Run CALL with the fsync and writeback calls counted, sync_file_range failing with
 * WRITEBACK_ERRNO when non-zero; run_quiet's checks when QUIET. */
static void run_counting_syncs(const struct qn_pamhost_call *call, int writeback_errno, bool quiet)
{
    memset(&syncs, 0, sizeof(syncs));
    syncs.writeback_errno = writeback_errno;
    syncs.on = true;
    if (quiet)
        run_quiet(call, &res);
    else
        assert_int_equal(qn_pamhost_run(call, &res), 0);
    syncs.on = false;
}

/* By default the login does not wait for the disk (the writeback is started, nothing is
 * fsync'd); with `sync` the file and new/ are fsync'd.  The entry is the same either way. */
static void test_the_login_waits_for_the_disk_only_with_sync(void **state)
{
    struct qn_pamhost_call call = {.service = "sshd", .user = "root", .ops = QN_PAMHOST_OPEN};
    struct qn_event evs[MAX_EVENTS];

    (void)state;
    run_counting_syncs(&call, 0, true);
    assert_int_equal(res.rc_open, PAM_SUCCESS);
    assert_int_equal(syncs.fsyncs, 0);
    assert_int_equal(syncs.writebacks, 1);
    assert_int_equal(take_events(g.spool, evs, NULL), 1);
    assert_string_equal(evs[0].kind, "login");

    call.service = "qn-sync";
    run_counting_syncs(&call, 0, true);
    assert_int_equal(res.rc_open, PAM_SUCCESS);
    assert_int_equal(syncs.fsyncs, 2); /* the entry, then new/ */
    assert_int_equal(syncs.writebacks, 0);
    assert_int_equal(take_events(g.spool, evs, NULL), 1);
    assert_string_equal(evs[0].kind, "login");
    assert_spool_empty();
}

/* A writeback that cannot start because the call is unavailable (a seccomp filter's EPERM,
 * a file system without it) costs nothing; one that fails (EIO) means the data may never
 * reach the disk: no entry, one log line, and the login still succeeds. */
static void test_writeback_errors_unavailable_is_ignored_eio_is_not(void **state)
{
    struct qn_pamhost_call call = {.service = "sshd", .user = "root", .ops = QN_PAMHOST_OPEN};
    struct qn_event evs[MAX_EVENTS];

    (void)state;
    run_counting_syncs(&call, EPERM, true);
    assert_int_equal(res.rc_open, PAM_SUCCESS);
    assert_int_equal(syncs.writebacks, 1);
    assert_int_equal(take_events(g.spool, evs, NULL), 1);

    run_counting_syncs(&call, EIO, false);
    assert_int_equal(res.rc_open, PAM_SUCCESS);
    assert_true(res.fds_unchanged);
    if (res.log_lines != 1 || strstr(res.log, "cannot queue the login event") == NULL)
        fail_msg("expected one log line about the event:\n%s", res.log);
    assert_spool_empty();
}

static void test_bad_arguments_are_logged_and_the_event_still_written(void **state)
{
    struct qn_pamhost_call call = {.service = "qn-badargs", .user = "root", .ops = QN_PAMHOST_OPEN};
    struct qn_event evs[MAX_EVENTS];

    (void)state;
    assert_int_equal(qn_pamhost_run(&call, &res), 0);
    assert_int_equal(res.rc_open, PAM_SUCCESS);
    assert_true(res.fds_unchanged);
    if (res.log_lines != 4)
        fail_msg("%u log lines, expected 4:\n%s", res.log_lines, res.log);
    assert_non_null(strstr(res.log, "unknown argument \"bogus\""));
    assert_non_null(strstr(res.log, "unknown argument \"frob=1\""));
    assert_non_null(strstr(res.log, "unknown event \"sometimes\""));
    assert_non_null(strstr(res.log, "unknown flush=maybe"));
    assert_int_equal(take_events(g.spool, evs, NULL), 1);
}

static void test_relative_spool_is_refused_with_one_log_line(void **state)
{
    struct qn_pamhost_call call = {
        .service = "qn-relspool", .user = "root", .ops = QN_PAMHOST_OPEN};

    (void)state;
    assert_int_equal(qn_pamhost_run(&call, &res), 0);
    assert_int_equal(res.rc_open, PAM_SUCCESS);
    assert_true(res.fds_unchanged);
    if (res.log_lines != 1)
        fail_msg("%u log lines, expected 1:\n%s", res.log_lines, res.log);
    assert_non_null(strstr(res.log, "not an absolute path"));
}

/* ---- broken spools: the stack succeeds, one log line, no fd, within 10 ms ---- */

/* Open a session on SERVICE and check the fail-open promises; the log must contain WHY. */
static int broken_spool_check(const char *service, const char *why, bool in_child)
{
    struct qn_pamhost_call call = {
        .service = service, .user = "root", .rhost = "203.0.113.9", .ops = QN_PAMHOST_OPEN};
    int bad = 0;

    if (qn_pamhost_run(&call, &res) != 0)
        return 1;
    if (res.rc_open != PAM_SUCCESS) {
        fprintf(stderr, "%s: pam_open_session returned %d\n", service, res.rc_open);
        bad = 1;
    }
    if (res.log_lines != 1 || strstr(res.log, why) == NULL) {
        fprintf(stderr, "%s: %u log lines, expected 1 with \"%s\":\n%s", service, res.log_lines,
                why, res.log);
        bad = 1;
    }
    if (!res.fds_unchanged) {
        fprintf(stderr, "%s: file descriptors changed:\n%s", service, res.fd_diff);
        bad = 1;
    }
    if (!in_child)
        printf("%s: pam_open_session took %.2f ms\n", service, res.ms_open);
    if (g.timing && res.ms_open >= 10.0) {
        fprintf(stderr, "%s: pam_open_session took %.2f ms\n", service, res.ms_open);
        bad = 1;
    }
    if (bad && !in_child)
        fail();
    return bad;
}

static void test_missing_spool_fails_open(void **state)
{
    (void)state;
    broken_spool_check("qn-missing", "spools/missing", false);
}

/* Effective capabilities without the ones that bypass file modes (root only). */
static int set_dac_override(bool on)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    const unsigned drop = 1u << CAP_DAC_OVERRIDE | 1u << CAP_DAC_READ_SEARCH | 1u << CAP_FOWNER;

    if (syscall(SYS_capget, &hdr, data) != 0)
        return -1;
    if (on)
        data[0].effective |= drop & data[0].permitted;
    else
        data[0].effective &= ~drop;
    return (int)syscall(SYS_capset, &hdr, data);
}

static void test_unwritable_spool_fails_open(void **state)
{
    char dir[PATH_MAX], sub[PATH_MAX];
    struct qn_spool *sp = NULL;
    int bad;

    (void)state;
    path_join(dir, g.work, "spools/unwritable");
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(qn_spool_open(dir, QN_SPOOL_CREATE, 0, &sp), QN_OK);
    qn_spool_close(sp);
    path_join(sub, dir, "tmp");
    assert_int_equal(chmod(sub, 0555), 0);
    path_join(sub, dir, "new");
    assert_int_equal(chmod(sub, 0555), 0);
    if (geteuid() == 0)
        assert_int_equal(set_dac_override(false), 0);
    bad = broken_spool_check("qn-unwritable", "Permission denied", true);
    if (geteuid() == 0)
        assert_int_equal(set_dac_override(true), 0);
    assert_int_equal(bad, 0);
    path_join(sub, dir, "new");
    assert_int_equal(count_files(sub), 0);
    path_join(sub, dir, "tmp");
    assert_int_equal(count_files(sub), 0);
}

/*
 * A full disk where no mount namespace gives a real one (a chroot, a container without
 * them): while FULL.ON, write() on a file in FULL.TMP fails with ENOSPC, as it does on a
 * full file system.  This program exports write like fsync (pam/module.mk), so the module's
 * calls bind here; every other write goes to the kernel unchanged.
 */
static struct {
    bool on;
    char tmp[PATH_MAX]; /* the full spool's tmp/ */
} full;

/* True when FD is a regular file that DIR holds (bounded: the spool's tmp/ holds the entry
 * being written, if anything). */
static bool fd_in_dir(int fd, const char *dir)
{
    struct stat fst, st;
    struct dirent *de;
    bool found = false;
    DIR *d;

    if (fstat(fd, &fst) != 0 || !S_ISREG(fst.st_mode) || (d = opendir(dir)) == NULL)
        return false;
    while (!found && (de = readdir(d)) != NULL) {
        found = fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                st.st_dev == fst.st_dev && st.st_ino == fst.st_ino;
    }
    closedir(d);
    return found;
}

__attribute__((visibility("default"))) ssize_t write(int fd, const void *buf, size_t n)
{
    if (full.on && fd_in_dir(fd, full.tmp)) {
        errno = ENOSPC;
        return -1;
    }
    return syscall(SYS_write, fd, buf, n);
}

/* The child's own mount namespace with DIR private to it: a tmpfs mounted there must not
 * reach the parent's namespace.  False (and nothing mounted) where that cannot be had:
 * unshare refused (a container), or / is not a mount point (a chroot: making it private
 * fails with EINVAL, and a mount would then propagate to the host). */
static bool private_mount_namespace(void)
{
    uid_t uid = getuid();
    gid_t gid = getgid();
    bool ns = unshare(CLONE_NEWNS) == 0;

    if (!ns && unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0) {
        char map[64];
        FILE *f;

        ns = true;
        if ((f = fopen("/proc/self/setgroups", "we")) == NULL || fputs("deny", f) < 0 ||
            fclose(f) != 0)
            ns = false;
        fmt(map, sizeof(map), "0 %ld 1", (long)uid);
        if (ns && ((f = fopen("/proc/self/uid_map", "we")) == NULL || fputs(map, f) < 0 ||
                   fclose(f) != 0))
            ns = false;
        fmt(map, sizeof(map), "0 %ld 1", (long)gid);
        if (ns && ((f = fopen("/proc/self/gid_map", "we")) == NULL || fputs(map, f) < 0 ||
                   fclose(f) != 0))
            ns = false;
    }
    return ns && mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) == 0;
}

static int remove_tree(const char *path);

/* pam_wrapper forgets its setup in a forked child (its fork handler) and makes a new copy of
 * the services, /tmp/pam.X, at the child's first pam_start; only its destructor would remove
 * it, and a child ending with exit() would also run the parent's atexit work.  In the child,
 * before _exit(): remove that copy when it is not the parent's (PARENT_DIR). */
static void remove_child_pam_wrapper_dir(const char *parent_dir)
{
    const char *dir = getenv("PAM_WRAPPER_RUNTIME_DIR");

    if (dir != NULL && strcmp(dir, parent_dir) != 0 && strncmp(dir, "/tmp/pam.", 9) == 0)
        (void)remove_tree(dir);
}

/* In a child whose stdout and stderr go to the parent: a full file system (a tmpfs of
 * 64 KiB, filled) in a private mount namespace when it can be had, else write() failing
 * with ENOSPC in the spool.  The first line says which.  Exit status 0 when every promise
 * held; otherwise the lines before it say what broke. */
static int full_spool_child(const char *dir)
{
    char sub[PATH_MAX], chunk[4096];
    struct qn_spool *sp = NULL;
    bool tmpfs;
    int fd, bad;

    tmpfs = private_mount_namespace() &&
            mount("qn-full", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755") == 0;
    if (qn_spool_open(dir, QN_SPOOL_CREATE, 0, &sp) != QN_OK) {
        perror("full spool: create");
        return 1;
    }
    qn_spool_close(sp);
    if (tmpfs) {
        printf("full spool: a tmpfs of 64 KiB, filled (ENOSPC from the kernel)\n");
        path_join(sub, dir, "filler");
        fd = open(sub, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        memset(chunk, 'x', sizeof(chunk));
        while (fd >= 0 && write(fd, chunk, sizeof(chunk)) > 0)
            ;
        if (fd < 0 || errno != ENOSPC) {
            perror("full spool: fill");
            return 1;
        }
        close(fd);
    } else {
        printf("full spool: no private mount namespace here: write() in the spool fails "
               "with ENOSPC\n");
        path_join(full.tmp, dir, "tmp");
        full.on = true;
    }
    fflush(stdout);
    bad = broken_spool_check("qn-full", "No space left on device", true);
    full.on = false;
    path_join(sub, dir, "new");
    if (count_files(sub) != 0) {
        fprintf(stderr, "full spool: an entry in new/\n");
        bad = 1;
    }
    path_join(sub, dir, "tmp");
    if (count_files(sub) != 0) {
        fprintf(stderr, "full spool: a leftover in tmp/\n");
        bad = 1;
    }
    return bad;
}

static void test_full_spool_fails_open(void **state)
{
    char dir[PATH_MAX], parent_pwrap[PATH_MAX], out[8192], *nl;
    size_t got = 0;
    ssize_t n;
    pid_t pid;
    int status, pipefd[2];

    (void)state;
    path_join(dir, g.work, "spools/full");
    assert_int_equal(mkdir(dir, 0755), 0);
    fmt(parent_pwrap, sizeof(parent_pwrap), "%s", getenv("PAM_WRAPPER_RUNTIME_DIR") ?: "");
    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int rc = 2;

        if (dup2(pipefd[1], 1) == 1 && dup2(pipefd[1], 2) == 2)
            rc = full_spool_child(dir);
        remove_child_pam_wrapper_dir(parent_pwrap);
        _exit(rc);
    }
    close(pipefd[1]);
    /* what the child said, up to its end: kept while it fits, then read and dropped, so
     * that a talkative child never blocks */
    for (;;) {
        char drop[512];
        bool room = got < sizeof(out) - 1;

        n = room ? read(pipefd[0], out + got, sizeof(out) - 1 - got)
                 : read(pipefd[0], drop, sizeof(drop));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (room)
            got += (size_t)n;
    }
    out[got] = '\0';
    close(pipefd[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    nl = strchr(out, '\n');
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("the full spool was not handled as promised (child status %#x):\n%s", status, out);
    if (nl != NULL)
        *nl = '\0';
    print_message("%s\n", out);
}

static void test_symlinked_spool_fails_open_and_writes_nothing_there(void **state)
{
    static const char *const services[] = {"qn-symdir", "qn-symtmp", "qn-symnew"};
    char real[PATH_MAX], link[PATH_MAX], target[PATH_MAX], sub[PATH_MAX];
    struct qn_spool *sp = NULL;
    size_t i;

    (void)state;
    /* symdir -> a complete spool; symtmp/tmp and symnew/new -> the attacker's directory */
    path_join(real, g.work, "spools/real");
    assert_int_equal(mkdir(real, 0755), 0);
    assert_int_equal(qn_spool_open(real, QN_SPOOL_CREATE, 0, &sp), QN_OK);
    qn_spool_close(sp);
    path_join(link, g.work, "spools/symdir");
    assert_int_equal(symlink(real, link), 0);
    path_join(target, g.work, "attacker");
    assert_int_equal(mkdir(target, 0777), 0);
    for (i = 0; i < 2; i++) {
        const char *which = i == 0 ? "spools/symtmp" : "spools/symnew";
        char dir[PATH_MAX];

        path_join(dir, g.work, which);
        assert_int_equal(mkdir(dir, 0755), 0);
        path_join(sub, dir, i == 0 ? "new" : "tmp");
        assert_int_equal(mkdir(sub, 0770), 0);
        path_join(sub, dir, i == 0 ? "tmp" : "new");
        assert_int_equal(symlink(target, sub), 0);
    }
    for (i = 0; i < sizeof(services) / sizeof(services[0]); i++)
        broken_spool_check(services[i], "Too many levels of symbolic links", false);
    assert_int_equal(count_files(target), 0);
    path_join(sub, real, "new");
    assert_int_equal(count_files(sub), 0);
    path_join(sub, real, "tmp");
    assert_int_equal(count_files(sub), 0);
}

/* ---- flush=spawn ---- */

static volatile sig_atomic_t own_pid, own_reaped, own_status, others_reaped, handler_calls;
static volatile sig_atomic_t reap_any;

/* The host's SIGCHLD handler: sudo-style reaps only its own child, sshd-style reaps all. */
static void host_sigchld(int sig)
{
    int saved = errno, st;
    pid_t p;

    (void)sig;
    handler_calls++;
    if (reap_any) {
        while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
            if (p == own_pid) {
                own_reaped++;
                own_status = st;
            } else {
                others_reaped++;
            }
        }
    } else if (own_pid > 0 && waitpid(own_pid, &st, WNOHANG) == own_pid) {
        own_reaped++;
        own_status = st;
    }
    errno = saved;
}

/* Children of this process, in any state (zombies included), from /proc. */
static int count_children(char *list, size_t listsz)
{
    struct dirent *de;
    int n = 0;
    DIR *d = opendir("/proc");

    assert_non_null(d);
    list[0] = '\0';
    while ((de = readdir(d)) != NULL) {
        char path[64], buf[512], *close_paren;
        long ppid;
        char st;
        FILE *f;

        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        fmt(path, sizeof(path), "/proc/%s/stat", de->d_name);
        f = fopen(path, "re");
        if (f == NULL)
            continue; /* exited meanwhile */
        if (fgets(buf, sizeof(buf), f) != NULL && (close_paren = strrchr(buf, ')')) != NULL &&
            sscanf(close_paren + 1, " %c %ld", &st, &ppid) == 2 && ppid == (long)getpid()) {
            size_t len = strlen(list);

            fmt(list + len, listsz - len, "%s(%c) ", de->d_name, st);
            n++;
        }
        fclose(f);
    }
    closedir(d);
    return n;
}

/* The probe's record, once it exists (up to 5 s); NULL on timeout. */
static const char *wait_probe_output(char *buf, size_t bufsz)
{
    char out[PATH_MAX + 8];
    int i;

    fmt(out, sizeof(out), "%s.out", g.probe);
    for (i = 0; i < 500; i++) {
        FILE *f = fopen(out, "re");

        if (f != NULL) {
            size_t n = fread(buf, 1, bufsz - 1, f);

            buf[n] = '\0';
            fclose(f);
            assert_int_equal(unlink(out), 0);
            return buf;
        }
        usleep(10000);
    }
    return NULL;
}

static void assert_has_line(const char *text, const char *line)
{
    char want[256];

    fmt(want, sizeof(want), "\n%s\n", line);
    if (strncmp(text, want + 1, strlen(want + 1)) != 0 && strstr(text, want) == NULL)
        fail_msg("no line \"%s\" in:\n%s", line, text);
}

static long probe_number(const char *text, const char *name)
{
    char want[64];
    const char *p;

    fmt(want, sizeof(want), "\n%s ", name);
    p = strstr(text, want);
    if (p == NULL)
        fail_msg("no %s in:\n%s", name, text);
    return strtol(p + strlen(want), NULL, 10);
}

/* One flush=spawn session in a host with its own SIGCHLD handler and child. */
static void spawn_in_host(bool reap_any_child, bool as_sudo)
{
    struct qn_pamhost_call call = {
        .service = "qn-spawn", .user = "root", .ruser = "alice", .ops = QN_PAMHOST_OPEN};
    struct sigaction sa, before, after;
    sigset_t usr1, mask_before, mask_after, old_mask;
    char probe_out[8192], children[1024], line[128];
    const char *text;
    gid_t old_groups[64], nobody_group = 65534;
    int pipefd[2], i, n_old_groups = 0, leaky;
    struct qn_event evs[MAX_EVENTS];
    long sender_pid;
    pid_t pid;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = host_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGCHLD, &sa, NULL), 0);
    /* sshd ignores SIGPIPE and hosts block signals: the sender must get neither */
    assert_true(signal(SIGPIPE, SIG_IGN) != SIG_ERR);
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    assert_int_equal(sigprocmask(SIG_BLOCK, &usr1, &old_mask), 0);
    own_reaped = own_status = others_reaped = handler_calls = 0;
    reap_any = reap_any_child;

    /* the host's own child: exits with 7 once the pipe closes */
    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char c;

        close(pipefd[1]);
        while (read(pipefd[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(7);
    }
    own_pid = pid;
    close(pipefd[0]);

    if (as_sudo) {
        /* set-user-ID root like sudo: real uid the user's, effective root, user's groups */
        n_old_groups = getgroups(64, old_groups);
        assert_true(n_old_groups >= 0);
        assert_int_equal(setgroups(1, &nobody_group), 0);
        assert_int_equal(setresuid(65534, 0, 0), 0);
    }
    /* only the bits the kernel fills are compared */
    memset(&mask_before, 0, sizeof(mask_before));
    memset(&mask_after, 0, sizeof(mask_after));
    /* like sshd's inherited sockets: a descriptor without close-on-exec */
    leaky = open("/dev/zero", O_RDONLY);
    assert_true(leaky > 2);
    assert_int_equal(sigaction(SIGCHLD, NULL, &before), 0);
    assert_int_equal(sigprocmask(SIG_BLOCK, NULL, &mask_before), 0);
    assert_int_equal(qn_pamhost_run(&call, &res), 0);
    assert_int_equal(sigaction(SIGCHLD, NULL, &after), 0);
    assert_int_equal(sigprocmask(SIG_BLOCK, NULL, &mask_after), 0);
    assert_int_equal(close(leaky), 0);
    if (as_sudo) {
        assert_int_equal(setresuid(0, 0, 0), 0);
        assert_int_equal(setgroups((size_t)n_old_groups, old_groups), 0);
    }

    assert_int_equal(res.rc_open, PAM_SUCCESS);
    if (res.log_lines != 0)
        fail_msg("unexpected log output:\n%s", res.log);
    assert_true(res.fds_unchanged);
    /* the host's handler and mask are untouched */
    assert_ptr_equal(after.sa_handler, before.sa_handler);
    assert_ptr_equal(after.sa_handler, host_sigchld);
    assert_int_equal(after.sa_flags, before.sa_flags);
    assert_memory_equal(&mask_after, &mask_before, sizeof(sigset_t));
    assert_int_equal(take_events(g.spool, evs, NULL), 1);

    /* the host's own child is still the host's: its handler reaps it */
    close(pipefd[1]);
    for (i = 0; i < 500 && own_reaped == 0; i++)
        usleep(10000);
    assert_int_equal(own_reaped, 1);
    assert_true(WIFEXITED(own_status) && WEXITSTATUS(own_status) == 7);

    text = wait_probe_output(probe_out, sizeof(probe_out));
    if (text == NULL)
        fail_msg("the sender did not run within 5 s");
    assert_has_line(text, "arg flush");
    assert_has_line(text, "env PATH=/usr/sbin:/usr/bin:/sbin:/bin");
    if (strstr(text, "\nenv ") != strstr(text, "\nenv PATH=") ||
        strstr(strstr(text, "\nenv ") + 5, "\nenv ") != NULL)
        fail_msg("environment not minimal:\n%s", text);
    assert_has_line(text, "fd 0 /dev/null");
    assert_has_line(text, "fd 1 /dev/null");
    assert_has_line(text, "fd 2 /dev/null");
    if (strstr(text, "\nfd 3 ") != NULL)
        fail_msg("descriptors leaked into the sender:\n%s", text);
    sender_pid = probe_number(text, "pid");
    assert_int_equal(probe_number(text, "sid"), sender_pid); /* setsid */
    assert_true(probe_number(text, "ppid") != (long)getpid());
    assert_has_line(text, "cwd /");
    assert_has_line(text, "SigBlk:\t0000000000000000");
    {
        /* Signals 32 and 33 are reserved by glibc (thread cancellation, setxid):
         * sigaction() refuses them, so no program can reset an "ignored" inherited
         * from whatever started the test; every other signal must be default. */
        const char *ign = strstr(text, "\nSigIgn:\t");
        unsigned long long mask;

        assert_non_null(ign);
        mask = strtoull(ign + strlen("\nSigIgn:\t"), NULL, 16);
        assert_int_equal(mask & ~((1ULL << 31) | (1ULL << 32)), 0);
    }
    assert_has_line(text, "umask 007");
    if (as_sudo) {
        /* the invoking user's real uid and groups are gone */
        assert_has_line(text, "uid 0 euid 0 gid 0 egid 0");
        assert_has_line(text, "groups 0");
    } else {
        fmt(line, sizeof(line), "uid %ld euid %ld gid %ld egid %ld", (long)getuid(),
            (long)geteuid(), (long)getgid(), (long)getegid());
        assert_has_line(text, line);
    }

    /* nothing left to reap: neither the intermediate child nor a zombie */
    for (i = 0; i < 100 && count_children(children, sizeof(children)) != 0; i++)
        usleep(10000);
    if (count_children(children, sizeof(children)) != 0)
        fail_msg("children left: %s", children);
    if (!reap_any_child)
        assert_int_equal(others_reaped, 0);

    own_pid = 0;
    assert_int_equal(sigprocmask(SIG_SETMASK, &old_mask, NULL), 0);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    assert_int_equal(sigaction(SIGCHLD, &sa, NULL), 0);
    assert_int_equal(sigaction(SIGPIPE, &sa, NULL), 0);
}

static void test_spawn_keeps_a_host_handler_reaping_its_own_child(void **state)
{
    (void)state;
    spawn_in_host(false, false);
}

static void test_spawn_survives_a_host_handler_reaping_every_child(void **state)
{
    (void)state;
    spawn_in_host(true, false);
}

static void test_spawn_from_set_user_id_host_runs_the_sender_as_root(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        /* tests/run.sh counts this line and the skip as "not run: needs root" */
        print_message("needs root: a set-user-ID host\n");
        skip();
    }
    spawn_in_host(false, true);
}

static void test_spawn_with_missing_program_logs_once_and_keeps_the_event(void **state)
{
    struct qn_pamhost_call call = {
        .service = "qn-spawn-missing", .user = "root", .ops = QN_PAMHOST_OPEN};
    struct qn_event evs[MAX_EVENTS];
    char children[256];

    (void)state;
    assert_int_equal(qn_pamhost_run(&call, &res), 0);
    assert_int_equal(res.rc_open, PAM_SUCCESS);
    assert_true(res.fds_unchanged);
    if (res.log_lines != 1 || strstr(res.log, "No such file or directory") == NULL)
        fail_msg("%u log lines:\n%s", res.log_lines, res.log);
    assert_int_equal(take_events(g.spool, evs, NULL), 1);
    assert_int_equal(count_children(children, sizeof(children)), 0);
}

/* ---- the fingerprint code on its own ---- */

static void hex(const uint8_t *d, size_t n, char *out)
{
    size_t i;

    for (i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha256_matches_the_fips_180_examples(void **state)
{
    static const char *const msgs[] = {"", "abc",
                                       "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"};
    static const char *const want[] = {
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"};
    static char million[1000000];
    uint8_t d[QN_SHA256_LEN];
    char h[2 * QN_SHA256_LEN + 1];
    size_t i;

    (void)state;
    for (i = 0; i < 3; i++) {
        qn_sha256(msgs[i], strlen(msgs[i]), d);
        hex(d, sizeof(d), h);
        assert_string_equal(h, want[i]);
    }
    memset(million, 'a', sizeof(million));
    qn_sha256(million, sizeof(million), d);
    hex(d, sizeof(d), h);
    assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* 55, 56 and 64 bytes: the padding edge cases (one block, two blocks); from Python's
     * hashlib */
    qn_sha256(million, 55, d);
    hex(d, sizeof(d), h);
    assert_string_equal(h, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    qn_sha256(million, 56, d);
    hex(d, sizeof(d), h);
    assert_string_equal(h, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
    qn_sha256(million, 64, d);
    hex(d, sizeof(d), h);
    assert_string_equal(h, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

static void test_fingerprints_match_ssh_keygen(void **state)
{
    static const struct {
        const char *pub, *fp;
    } keys[] = {{ED25519_PUB, ED25519_FP}, {RSA3072_PUB, RSA3072_FP}, {ECDSA_PUB, ECDSA_FP}};
    char fp[QN_SSHKEY_FP_MAX];
    const char *blob;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        const char *sp = strchr(keys[i].pub, ' ');

        assert_int_equal(qn_sshkey_fingerprint(keys[i].pub, (size_t)(sp - keys[i].pub), sp + 1,
                                               strlen(sp + 1), fp),
                         QN_OK);
        assert_string_equal(fp, keys[i].fp);
    }
    /* wrong type for the blob, bad base64, a lone trailing character, empty */
    blob = &ED25519_PUB[12];
    assert_int_equal(qn_sshkey_fingerprint("ssh-rsa", 7, blob, strlen(blob), fp), QN_EINVAL);
    assert_string_equal(fp, "");
    assert_int_equal(qn_sshkey_fingerprint("ssh-ed25519", 11, "AAAA*AAA", 8, fp), QN_EINVAL);
    assert_int_equal(qn_sshkey_fingerprint("ssh-ed25519", 11, "AAAAC", 5, fp), QN_EINVAL);
    assert_int_equal(qn_sshkey_fingerprint("ssh-ed25519", 11, "", 0, fp), QN_EINVAL);
}

/* ---- setup ---- */

static void __attribute__((noreturn)) die(const char *what)
{
    perror(what);
    exit(2);
}

static char *read_file(const char *path, size_t *ret_len)
{
    FILE *f = fopen(path, "re");
    char *buf;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        die(path);
    buf = malloc((size_t)n + 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n)
        die(path);
    buf[n] = '\0';
    fclose(f);
    *ret_len = (size_t)n;
    return buf;
}

/* Copy tests/pam/services/ * to SVCDIR with @NAME@ replaced. */
static void write_services(const char *srcdir, const char *svcdir, const char *passdb)
{
    const char *vars[][2] = {{"@MODULE@", g.module},
                             {"@SPOOL@", g.spool},
                             {"@WORK@", g.work},
                             {"@PASSDB@", passdb},
                             {"@MATRIX@", QN_PAM_WRAPPER_MODULES "/pam_matrix.so"}};
    struct dirent *de;
    DIR *d = opendir(srcdir);

    if (d == NULL)
        die(srcdir);
    while ((de = readdir(d)) != NULL) {
        char src[PATH_MAX], dst[PATH_MAX];
        size_t len, i;
        char *text, *p;
        FILE *out;

        if (de->d_name[0] == '.')
            continue;
        fmt(src, sizeof(src), "%s/%s", srcdir, de->d_name);
        fmt(dst, sizeof(dst), "%s/%s", svcdir, de->d_name);
        text = read_file(src, &len);
        out = fopen(dst, "we");
        if (out == NULL)
            die(dst);
        for (p = text; *p != '\0';) {
            for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
                if (strncmp(p, vars[i][0], strlen(vars[i][0])) == 0)
                    break;
            }
            if (i < sizeof(vars) / sizeof(vars[0])) {
                fputs(vars[i][1], out);
                p += strlen(vars[i][0]);
            } else {
                fputc(*p++, out);
            }
        }
        if (fclose(out) != 0)
            die(dst);
        free(text);
    }
    closedir(d);
}

static int remove_tree(const char *path)
{
    struct stat st;
    struct dirent *de;
    DIR *d;

    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    (void)chmod(path, 0700); /* the unwritable spool */
    d = opendir(path);
    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL) {
        char sub[PATH_MAX];

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        fmt(sub, sizeof(sub), "%s/%s", path, de->d_name);
        remove_tree(sub);
    }
    closedir(d);
    return rmdir(path);
}

/* Outside pam_wrapper: make the work directory, then exec this program inside it. */
static void prepare_and_reexec(char **argv)
{
    char exe[PATH_MAX], dir[PATH_MAX], path[PATH_MAX], passdb[PATH_MAX], *slash;
    const char *tmpdir = getenv("TMPDIR"), *module = getenv("QN_PAM_MODULE");
    const char *services = getenv("QN_PAM_TEST_SERVICES");
    const char *wrapper = getenv("QN_PAM_WRAPPER_LIB");
    struct qn_spool *sp = NULL;
    ssize_t n;
    FILE *f;

    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n < 0)
        die("/proc/self/exe");
    exe[n] = '\0';
    fmt(dir, sizeof(dir), "%s", exe);
    slash = strrchr(dir, '/');
    *slash = '\0'; /* BUILD/tests */

    fmt(g.work, sizeof(g.work), "%s/qn-pam-test.XXXXXX", tmpdir ? tmpdir : "/tmp");
    if (mkdtemp(g.work) == NULL)
        die("mkdtemp");
    if (module != NULL)
        fmt(path, sizeof(path), "%s", module);
    else
        fmt(path, sizeof(path), "%s/../pam_qqnotify.so", dir);
    if (realpath(path, g.module) == NULL)
        die(path);
    path_join(g.spool, g.work, "spool");
    if (mkdir(g.spool, 0770) != 0 || qn_spool_open(g.spool, QN_SPOOL_CREATE, 0, &sp) != QN_OK)
        die(g.spool);
    qn_spool_close(sp);
    path_join(path, g.work, "spools");
    if (mkdir(path, 0755) != 0)
        die(path);
    path_join(path, g.work, "probe");
    if (mkdir(path, 0755) != 0)
        die(path);
    path_join(g.probe, path, "qqnotify");
    fmt(path, sizeof(path), "%s/pam/qqnotify-probe", dir);
    if (symlink(path, g.probe) != 0)
        die(g.probe);
    path_join(path, g.work, "services");
    if (mkdir(path, 0755) != 0)
        die(path);

    /* pam_matrix: user:password:service */
    path_join(passdb, g.work, "passdb");
    f = fopen(passdb, "we");
    if (f == NULL)
        die(passdb);
    fprintf(f, "alice:wonderland:sshd\nalice:wonderland:sudo\nalice:wonderland:baseline-debian\n"
               "alice:wonderland:baseline-rhel\nalice:wonderland:qn-authnoevent\n");
    if (fclose(f) != 0)
        die(passdb);
    write_services(services != NULL ? services : QN_PAM_TEST_SERVICES, path, passdb);

    if (setenv("QN_PAM_TEST_WORK", g.work, 1) != 0 || setenv("QN_PAM_MODULE", g.module, 1) != 0 ||
        setenv("PAM_WRAPPER", "1", 1) != 0 || setenv("PAM_WRAPPER_SERVICE_DIR", path, 1) != 0 ||
        /* RTLD_DEEPBIND breaks sanitizers (the module is built with hidden symbols and
         * needs none); pam_wrapper 1.1.4 reads the variable under uid_wrapper's name */
        setenv("PAM_WRAPPER_DISABLE_DEEPBIND", "1", 1) != 0 ||
        setenv("UID_WRAPPER_DISABLE_DEEPBIND", "1", 1) != 0 ||
        setenv("LD_PRELOAD", wrapper != NULL ? wrapper : QN_PAM_WRAPPER_LIB, 1) != 0)
        die("setenv");
    execv(exe, argv);
    die("execv");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_dlopen_exports_only_the_pam_entry_points, empty_spool),
        cmocka_unit_test_setup(test_every_entry_point_returns_ignore, empty_spool),
        cmocka_unit_test_setup(test_sshd_open_session_records_every_field, empty_spool),
        cmocka_unit_test_setup(test_sshd_rhost_name_takes_ip_from_ssh_connection, empty_spool),
        cmocka_unit_test_setup(test_sshd_garbage_ssh_connection_gives_no_ip, empty_spool),
        cmocka_unit_test_setup(test_sshd_auth_info_methods_and_keys, empty_spool),
        cmocka_unit_test_setup(test_sudo_open_session_records_the_invoking_user, empty_spool),
        cmocka_unit_test_setup(test_su_open_session_records_the_invoking_user, empty_spool),
        cmocka_unit_test_setup(test_close_session_records_logout_with_event_close, empty_spool),
        cmocka_unit_test_setup(test_open_and_close_pair_into_a_duration, empty_spool),
        cmocka_unit_test_setup(test_open_only_lines_write_no_session_key, empty_spool),
        cmocka_unit_test_setup(test_close_session_without_event_close_records_nothing, empty_spool),
        cmocka_unit_test_setup(test_filtered_services_and_users_record_nothing, empty_spool),
        cmocka_unit_test_setup(test_authfail_debian_stack, empty_spool),
        cmocka_unit_test_setup(test_authfail_rhel_stack_and_sudo, empty_spool),
        cmocka_unit_test_setup(test_auth_without_event_authfail_records_nothing, empty_spool),
        cmocka_unit_test_setup(test_authfail_attacker_chosen_user_is_sanitised, empty_spool),
        cmocka_unit_test_setup(test_injected_items_are_sanitised_and_capped, empty_spool),
        cmocka_unit_test_setup(test_the_login_waits_for_the_disk_only_with_sync, empty_spool),
        cmocka_unit_test_setup(test_writeback_errors_unavailable_is_ignored_eio_is_not,
                               empty_spool),
        cmocka_unit_test_setup(test_bad_arguments_are_logged_and_the_event_still_written,
                               empty_spool),
        cmocka_unit_test_setup(test_relative_spool_is_refused_with_one_log_line, empty_spool),
        cmocka_unit_test_setup(test_missing_spool_fails_open, empty_spool),
        cmocka_unit_test_setup(test_unwritable_spool_fails_open, empty_spool),
        cmocka_unit_test_setup(test_full_spool_fails_open, empty_spool),
        cmocka_unit_test_setup(test_symlinked_spool_fails_open_and_writes_nothing_there,
                               empty_spool),
        cmocka_unit_test_setup(test_spawn_keeps_a_host_handler_reaping_its_own_child, empty_spool),
        cmocka_unit_test_setup(test_spawn_survives_a_host_handler_reaping_every_child, empty_spool),
        cmocka_unit_test_setup(test_spawn_from_set_user_id_host_runs_the_sender_as_root,
                               empty_spool),
        cmocka_unit_test_setup(test_spawn_with_missing_program_logs_once_and_keeps_the_event,
                               empty_spool),
        cmocka_unit_test_setup(test_sha256_matches_the_fips_180_examples, empty_spool),
        cmocka_unit_test_setup(test_fingerprints_match_ssh_keygen, empty_spool),
    };
    const char *work = getenv("QN_PAM_TEST_WORK"), *filter = getenv("QN_PAM_TEST_FILTER");
    const char *timing = getenv("QN_PAM_TEST_TIMING");
    int rc;

    (void)argc;
    if (work == NULL || getenv("PAM_WRAPPER") == NULL)
        prepare_and_reexec(argv);

    fmt(g.work, sizeof(g.work), "%s", work);
    fmt(g.module, sizeof(g.module), "%s", getenv("QN_PAM_MODULE"));
    path_join(g.spool, g.work, "spool");
    path_join(g.probe, g.work, "probe/qqnotify");
    g.timing = timing != NULL && strcmp(timing, "1") == 0;
    if (filter != NULL && filter[0] != '\0')
        cmocka_set_test_filter(filter);
    rc = cmocka_run_group_tests_name("pam_qqnotify", tests, NULL, NULL);
    if (getenv("QN_PAM_TEST_KEEP") == NULL)
        remove_tree(g.work);
    return rc;
}
