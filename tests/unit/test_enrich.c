/*
 * Unit tests for common/enrich.c.
 *
 * Reverse DNS runs against a resolver of the test's own: main() moves the
 * process into new mount and network namespaces (root only; the machine's
 * resolver and network are untouched), brings up its loopback, and
 * bind-mounts a resolv.conf ("nameserver 127.0.0.1", 5 s timeout, 2
 * attempts: glibc alone would wait 10 s) and an nsswitch.conf ("hosts:
 * files dns") over the real ones.  A thread answers DNS on 127.0.0.1:53:
 *   10.2.0.192.in-addr.arpa  PTR host.example.test   -> A 192.0.2.10 (confirmed)
 *   40.2.0.192.in-addr.arpa  PTR liar.example.test   -> A 192.0.2.99 (not confirmed)
 *   30.2.0.192.in-addr.arpa  never answered          (the bound)
 *   anything else            NXDOMAIN                (no PTR)
 * 127.0.0.1 is answered by this machine's /etc/hosts, which the test reads
 * to know what to expect.  /etc/hosts is the real one.
 *
 * GeoIP reads a database written at build time by tests/unit/write-mmdb.pl
 * (QN_TEST_GEO_DB).  Previous logins and session counts come from tables
 * filled here.  No test asserts a time; the bounded look-up would hang the
 * test (killed by the runner), never pass slowly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include "enrich.h"

static bool have_namespace; /* the private resolver is in place */
static char why_not[256];

/* ---- a DNS server of the test's own -------------------------------------------------- */

/* The query name of the DNS message at P (N bytes) as dotted text; its end offset, or 0. */
static size_t query_name(const unsigned char *p, size_t n, char *out, size_t outsz)
{
    size_t pos = 12, o = 0;

    while (pos < n && p[pos] != 0) {
        size_t len = p[pos++];

        if (len > 63 || pos + len > n || o + len + 2 > outsz)
            return 0;
        if (o > 0)
            out[o++] = '.';
        memcpy(out + o, p + pos, len);
        o += len;
        pos += len;
    }
    if (pos + 5 > n)
        return 0;
    out[o] = '\0';
    return pos + 1;
}

static size_t put_name(unsigned char *p, const char *name)
{
    size_t o = 0;

    while (*name != '\0') {
        size_t len = strcspn(name, ".");

        p[o++] = (unsigned char)len;
        memcpy(p + o, name, len);
        o += len;
        name += len;
        if (*name == '.')
            name++;
    }
    p[o++] = 0;
    return o;
}

static void *dns_server(void *arg)
{
    int fd = *(int *)arg;

    for (;;) {
        unsigned char q[512], r[1024];
        char name[256];
        struct sockaddr_in from;
        socklen_t fl = sizeof(from);
        ssize_t n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
        size_t qend, o;
        unsigned qtype;
        const char *ptr = NULL;
        unsigned char a[4];
        bool have_a = false, nx = true;

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 12)
            continue;
        qend = query_name(q, (size_t)n, name, sizeof(name));
        if (qend == 0)
            continue;
        qtype = (unsigned)q[qend] << 8 | q[qend + 1];
        if (strcmp(name, "30.2.0.192.in-addr.arpa") == 0)
            continue; /* never answered */
        if (strcmp(name, "10.2.0.192.in-addr.arpa") == 0) {
            ptr = "host.example.test";
        } else if (strcmp(name, "40.2.0.192.in-addr.arpa") == 0) {
            ptr = "liar.example.test";
        } else if (strcmp(name, "host.example.test") == 0) {
            nx = false;
            have_a = qtype == 1;
            memcpy(a, (unsigned char[]){192, 0, 2, 10}, 4);
        } else if (strcmp(name, "liar.example.test") == 0) {
            nx = false;
            have_a = qtype == 1;
            memcpy(a, (unsigned char[]){192, 0, 2, 99}, 4);
        }
        if (ptr != NULL)
            nx = qtype != 12;
        memcpy(r, q, qend + 4);  /* header and question */
        r[2] = 0x81;             /* QR, RD */
        r[3] = nx ? 0x83 : 0x80; /* RA, NXDOMAIN or NOERROR */
        r[6] = r[7] = r[8] = r[9] = r[10] = r[11] = 0;
        o = qend + 4;
        if (ptr != NULL && qtype == 12) {
            unsigned char rdata[256];
            size_t rl = put_name(rdata, ptr);

            r[7] = 1;
            memcpy(r + o, (unsigned char[]){0xc0, 0x0c, 0, 12, 0, 1, 0, 0, 0, 60}, 10);
            o += 10;
            r[o++] = (unsigned char)(rl >> 8);
            r[o++] = (unsigned char)rl;
            memcpy(r + o, rdata, rl);
            o += rl;
        } else if (have_a) {
            r[7] = 1;
            memcpy(r + o, (unsigned char[]){0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4}, 12);
            o += 12;
            memcpy(r + o, a, 4);
            o += 4;
        }
        (void)sendto(fd, r, o, 0, (struct sockaddr *)&from, fl);
    }
    return NULL;
}

static bool write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool ok;

    if (fd < 0)
        return false;
    ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    return close(fd) == 0 && ok;
}

/* The namespaces, the files, the loopback and the server; false (why_not set) when not root. */
static bool private_resolver(void)
{
    static char dir[] = "/tmp/qn-test-enrich-XXXXXX";
    static int fd;
    char resolv[64], nss[64];
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(53)};
    struct ifreq ifr;
    pthread_t t;
    int s;

    if (unshare(CLONE_NEWNS | CLONE_NEWNET) != 0) {
        snprintf(why_not, sizeof(why_not), "unshare: %s", strerror(errno));
        return false;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 || mkdtemp(dir) == NULL) {
        snprintf(why_not, sizeof(why_not), "mount or mkdtemp: %s", strerror(errno));
        return false;
    }
    snprintf(resolv, sizeof(resolv), "%s/resolv.conf", dir);
    snprintf(nss, sizeof(nss), "%s/nsswitch.conf", dir);
    if (!write_file(resolv, "nameserver 127.0.0.1\noptions timeout:5 attempts:2\n") ||
        !write_file(nss, "hosts: files dns\n") ||
        mount(resolv, "/etc/resolv.conf", NULL, MS_BIND, NULL) != 0 ||
        mount(nss, "/etc/nsswitch.conf", NULL, MS_BIND, NULL) != 0) {
        snprintf(why_not, sizeof(why_not), "bind mounts: %s", strerror(errno));
        return false;
    }
    /* The mounts hide the files; the directory can go now. */
    unlink(resolv);
    unlink(nss);
    rmdir(dir);
    s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) != 0 ||
        (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr) != 0)) {
        snprintf(why_not, sizeof(why_not), "loopback up: %s", strerror(errno));
        return false;
    }
    close(s);
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
        pthread_create(&t, NULL, dns_server, &fd) != 0) {
        snprintf(why_not, sizeof(why_not), "DNS server: %s", strerror(errno));
        return false;
    }
    pthread_detach(t);
    return true;
}

/* ---- helpers ------------------------------------------------------------------------- */

static struct qn_enrich *open_enrich(bool rdns, enum qn_lang lang)
{
    static const char *const dbs[] = {QN_TEST_GEO_DB};
    struct qn_enrich_options o = {.rdns = rdns, .n_geoip = 1, .geoip = dbs, .lang = lang};
    struct qn_enrich *e = NULL;
    struct qn_enrich_error err;

    assert_int_equal(qn_enrich_open(&o, &e, &err), QN_OK);
    return e;
}

static void need_resolver(void)
{
    if (have_namespace)
        return;
    if (geteuid() != 0) {
        /* tests/run.sh counts this line and the skip as "not run: needs root" */
        print_message("needs root: a private resolver (mount and network namespaces)\n");
        skip();
    }
    /* tests/run.sh counts this line and the skip as "not run": a chroot, a container
     * without mount namespaces */
    print_message("needs namespaces: a private resolver (%s)\n", why_not);
    skip();
}

/* What this machine's /etc/hosts says 127.0.0.1 is called (the first name on its first
 * line), or "" when it has no such line. */
static void hosts_name_of_localhost(char *out, size_t n)
{
    char line[1024];
    FILE *f = fopen("/etc/hosts", "r");

    out[0] = '\0';
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        char addr[64], name[256];

        if (line[0] == '#' || sscanf(line, "%63s %255s", addr, name) != 2)
            continue;
        if (strcmp(addr, "127.0.0.1") == 0) {
            snprintf(out, n, "%s", name);
            for (char *c = out; *c != '\0'; c++)
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c - 'A' + 'a');
            break;
        }
    }
    fclose(f);
}

/* ---- reverse DNS --------------------------------------------------------------------- */

static void test_localhost_is_named_as_etc_hosts_says(void **state)
{
    struct qn_enrich *e;
    struct qn_enrich_rdns r;
    char want[256];

    (void)state;
    need_resolver();
    hosts_name_of_localhost(want, sizeof(want));
    e = open_enrich(true, QN_LANG_EN);
    assert_int_equal(qn_enrich_rdns(e, "127.0.0.1", &r), QN_OK);
    if (want[0] == '\0') {
        assert_int_equal(r.result, QN_RDNS_NONE);
    } else {
        assert_int_equal(r.result, QN_RDNS_CONFIRMED);
        assert_string_equal(r.name, want);
    }
    qn_enrich_close(e);
}

static void test_a_name_that_leads_back_is_confirmed(void **state)
{
    struct qn_enrich *e;
    struct qn_enrich_rdns r;

    (void)state;
    need_resolver();
    e = open_enrich(true, QN_LANG_EN);
    assert_int_equal(qn_enrich_rdns(e, "192.0.2.10", &r), QN_OK);
    assert_int_equal(r.result, QN_RDNS_CONFIRMED);
    assert_string_equal(r.name, "host.example.test");
    assert_int_equal(qn_enrich_rdns(e, "192.0.2.40", &r), QN_OK);
    assert_int_equal(r.result, QN_RDNS_UNCONFIRMED);
    assert_string_equal(r.name, "liar.example.test");
    qn_enrich_close(e);
}

static void test_an_address_without_ptr_has_no_name(void **state)
{
    struct qn_enrich *e;
    struct qn_enrich_rdns r;

    (void)state;
    need_resolver();
    e = open_enrich(true, QN_LANG_EN);
    assert_int_equal(qn_enrich_rdns(e, "192.0.2.20", &r), QN_OK);
    assert_int_equal(r.result, QN_RDNS_NONE);
    assert_string_equal(r.name, "");
    qn_enrich_close(e);
}

/* glibc would wait 5 s x 2 attempts; the look-up is stopped at the bound and says so. */
static void test_a_resolver_that_never_answers_is_cut_off(void **state)
{
    struct qn_enrich *e;
    struct qn_enrich_rdns r;
    struct qn_event ev;

    (void)state;
    need_resolver();
    e = open_enrich(true, QN_LANG_EN);
    assert_int_equal(qn_enrich_rdns(e, "192.0.2.30", &r), QN_OK);
    assert_int_equal(r.result, QN_RDNS_TIMEOUT);
    /* the second time comes from the cache */
    assert_int_equal(qn_enrich_rdns(e, "::ffff:192.0.2.30", &r), QN_OK);
    assert_int_equal(r.result, QN_RDNS_TIMEOUT);
    qn_event_init(&ev, "login");
    assert_int_equal(qn_event_set(&ev, "ip", "192.0.2.30"), QN_OK);
    assert_int_equal(qn_enrich_event(e, &ev, NULL, NULL), QN_OK);
    assert_null(qn_event_get(&ev, "rdns"));
    assert_null(qn_event_get(&ev, "rdns_unverified"));
    qn_enrich_close(e);
}

static void test_a_missing_getent_fails_cleanly(void **state)
{
    struct qn_enrich_options o = {.rdns = true, .getent = "/nonexistent/getent"};
    struct qn_enrich *e = NULL;
    struct qn_enrich_rdns r;

    (void)state;
    assert_int_equal(qn_enrich_open(&o, &e, NULL), QN_OK);
    assert_int_equal(qn_enrich_rdns(e, "192.0.2.10", &r), QN_OK);
    assert_int_equal(r.result, QN_RDNS_FAILED);
    assert_int_equal(qn_enrich_rdns(e, "not-an-address", &r), QN_EINVAL);
    qn_enrich_close(e);
}

/* ---- GeoIP --------------------------------------------------------------------------- */

static void test_geoip_fields_from_the_test_database(void **state)
{
    struct qn_enrich *e = open_enrich(false, QN_LANG_ZH);
    struct qn_enrich_geo g;

    (void)state;
    assert_int_equal(qn_enrich_geoip(e, "203.0.113.7", &g), QN_OK);
    assert_true(g.found);
    assert_string_equal(g.country_code, "CN");
    assert_string_equal(g.country, "中国");
    assert_string_equal(g.city, "上海");
    assert_int_equal(g.asn, 64500);
    assert_string_equal(g.as_org, "Example Transit");
    /* a name missing in Chinese falls back to English */
    assert_int_equal(qn_enrich_geoip(e, "198.51.100.1", &g), QN_OK);
    assert_string_equal(g.country, "United States");
    assert_string_equal(g.city, "");
    assert_int_equal(g.asn, 0);
    assert_int_equal(qn_enrich_geoip(e, "192.0.2.1", &g), QN_OK);
    assert_false(g.found);
    qn_enrich_close(e);
    e = open_enrich(false, QN_LANG_EN);
    assert_int_equal(qn_enrich_geoip(e, "2001:db8::5", &g), QN_OK);
    assert_string_equal(g.country, "Japan");
    assert_string_equal(g.city, "Tokyo");
    assert_int_equal(g.asn, 64501);
    qn_enrich_close(e);
}

static void test_an_unreadable_database_is_named(void **state)
{
    static const char *const dbs[] = {"/nonexistent/GeoLite2-City.mmdb"};
    struct qn_enrich_options o = {.n_geoip = 1, .geoip = dbs};
    struct qn_enrich *e = NULL;
    struct qn_enrich_error err;

    (void)state;
    assert_int_equal(qn_enrich_open(&o, &e, &err), QN_EIO);
    assert_null(e);
    assert_string_equal(err.path, "/nonexistent/GeoLite2-City.mmdb");
    assert_string_equal(err.detail, strerror(ENOENT));
}

/* ---- the event ----------------------------------------------------------------------- */

static void test_event_gets_geoip_previous_logins_and_sessions(void **state)
{
    struct qn_enrich *e = open_enrich(false, QN_LANG_EN);
    struct qn_seen *seen = malloc(sizeof(*seen));
    struct qn_sessions *sessions = malloc(sizeof(*sessions));
    struct qn_event ev, before, s1;

    (void)state;
    assert_non_null(seen);
    assert_non_null(sessions);
    qn_seen_init(seen);
    qn_sessions_init(sessions);
    qn_event_init(&before, "login");
    assert_int_equal(qn_event_set(&before, "user", "alice"), QN_OK);
    assert_int_equal(qn_event_set(&before, "ip", "198.51.100.8"), QN_OK);
    assert_int_equal(qn_seen_record(seen, &before, 1795658400LL, 90 * 86400), QN_OK);
    qn_event_init(&before, "login");
    assert_int_equal(qn_event_set(&before, "user", "bob"), QN_OK);
    assert_int_equal(qn_event_set(&before, "ip", "203.0.113.200"), QN_OK);
    assert_int_equal(qn_seen_record(seen, &before, 1795660000LL, 90 * 86400), QN_OK);
    qn_event_init(&s1, "login");
    s1.time = 1795661000LL;
    assert_int_equal(qn_event_set(&s1, "user", "alice"), QN_OK);
    assert_int_equal(qn_event_set(&s1, "session", "0123456789abcdef0123456789abcdef:10:20"), QN_OK);
    assert_int_equal(qn_sessions_open(sessions, &s1), QN_OK);

    qn_event_init(&ev, "login");
    assert_int_equal(qn_event_set(&ev, "user", "alice"), QN_OK);
    assert_int_equal(qn_event_set(&ev, "ip", "203.0.113.7"), QN_OK);
    assert_int_equal(qn_enrich_event(e, &ev, seen, sessions), QN_OK);
    assert_string_equal(qn_event_get(&ev, "country"), "China (CN)");
    assert_string_equal(qn_event_get(&ev, "city"), "Shanghai");
    assert_string_equal(qn_event_get(&ev, "asn"), "AS64500 Example Transit");
    assert_string_equal(qn_event_get(&ev, "last_login"), "1795658400");
    assert_string_equal(qn_event_get(&ev, "last_login_from"), "198.51.100.0/24");
    assert_string_equal(qn_event_get(&ev, "source_last_login"), "1795660000");
    assert_string_equal(qn_event_get(&ev, "source_last_user"), "bob");
    assert_string_equal(qn_event_get(&ev, "sessions"), "1");
    assert_null(qn_event_get(&ev, "rdns")); /* rdns off */
    free(seen);
    free(sessions);
    qn_enrich_close(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_localhost_is_named_as_etc_hosts_says),
        cmocka_unit_test(test_a_name_that_leads_back_is_confirmed),
        cmocka_unit_test(test_an_address_without_ptr_has_no_name),
        cmocka_unit_test(test_a_resolver_that_never_answers_is_cut_off),
        cmocka_unit_test(test_a_missing_getent_fails_cleanly),
        cmocka_unit_test(test_geoip_fields_from_the_test_database),
        cmocka_unit_test(test_an_unreadable_database_is_named),
        cmocka_unit_test(test_event_gets_geoip_previous_logins_and_sessions),
    };

    /* Before any thread exists: unshare needs a single-threaded process. */
    have_namespace = private_resolver();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
