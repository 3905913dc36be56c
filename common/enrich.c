/*
 * enrich — see enrich.h for the contract and why reverse DNS runs in a
 * child process.
 */
#include "enrich.h"

#include <arpa/inet.h>
#include <errno.h>
#include <maxminddb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "spawn.h"
#include "text.h"

#define HELPER_PATH "PATH=/usr/bin:/bin:/usr/sbin:/sbin"

struct cache_entry {
    char addr[INET6_ADDRSTRLEN];
    struct qn_enrich_rdns rdns;
};

struct qn_enrich {
    struct qn_enrich_options opt;
    char getent[4096];
    size_t n_db;
    MMDB_s db[QN_NOISE_GEOIP_MAX];
    size_t n_cache, next_cache;
    struct cache_entry cache[QN_ENRICH_CACHE_MAX];
};

/* ---- opening ------------------------------------------------------------------------- */

enum qn_status qn_enrich_open(const struct qn_enrich_options *opt, struct qn_enrich **ret,
                              struct qn_enrich_error *err)
{
    struct qn_enrich *e;
    enum qn_status r;
    size_t i;

    if (err != NULL)
        memset(err, 0, sizeof(*err));
    if (opt == NULL || ret == NULL || opt->n_geoip > QN_NOISE_GEOIP_MAX ||
        (opt->n_geoip > 0 && opt->geoip == NULL))
        return QN_EINVAL;
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return QN_ENOMEM;
    e->opt = *opt;
    e->opt.geoip = NULL;
    if (e->opt.rdns_timeout_ms == 0)
        e->opt.rdns_timeout_ms = QN_ENRICH_RDNS_TIMEOUT_MS;
    if (qn_spawn_find_program(opt->getent != NULL ? opt->getent : "getent", e->getent,
                              sizeof(e->getent)) != QN_OK)
        e->getent[0] = '\0'; /* reverse DNS then reports QN_RDNS_FAILED */
    e->opt.getent = NULL;
    for (i = 0; i < opt->n_geoip; i++) {
        int status, e_no;

        errno = 0;
        status = MMDB_open(opt->geoip[i], MMDB_MODE_MMAP, &e->db[i]);
        e_no = errno;
        if (status != MMDB_SUCCESS) {
            if (err != NULL) {
                /* errno says more than "Error opening the specified MaxMind DB file" */
                bool sys = (status == MMDB_IO_ERROR || status == MMDB_FILE_OPEN_ERROR) && e_no != 0;

                snprintf(err->path, sizeof(err->path), "%s", opt->geoip[i]);
                snprintf(err->detail, sizeof(err->detail), "%s",
                         sys ? strerror(e_no) : MMDB_strerror(status));
            }
            r = QN_EIO;
            goto fail;
        }
        e->n_db++;
    }
    *ret = e;
    return QN_OK;
fail:
    qn_enrich_close(e);
    return r;
}

void qn_enrich_close(struct qn_enrich *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->n_db; i++)
        MMDB_close(&e->db[i]);
    free(e);
}

/* ---- reverse DNS --------------------------------------------------------------------- */

/* ADDR's bytes and family; false when it is no literal.  IPv4-mapped IPv6 becomes IPv4. */
static bool parse_addr(const char *addr, unsigned char out[16], int *ret_family)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (addr == NULL)
        return false;
    if (inet_pton(AF_INET, addr, out) == 1) {
        *ret_family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, addr, out) != 1)
        return false;
    if (memcmp(out, mapped, sizeof(mapped)) == 0) {
        memmove(out, out + 12, 4);
        *ret_family = AF_INET;
    } else {
        *ret_family = AF_INET6;
    }
    return true;
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run getent DATABASE KEY until DEADLINE; its stdout into OUT.  The exit status
 * (0 found, 2 not found) into *RET_EXIT. */
static enum qn_status run_getent(const struct qn_enrich *e, const char *database, const char *key,
                                 long long deadline, char *out, size_t *ret_len, int *ret_exit)
{
    char *const argv[] = {(char *)"getent", (char *)database, (char *)key, NULL};
    char *const envp[] = {(char *)HELPER_PATH, NULL};
    char errors[256];
    struct qn_spawn_program prog = {
        .path = e->getent,
        .argv = argv,
        .envp = envp,
        .output = out,
        .output_cap = QN_ENRICH_HELPER_OUTPUT - 1,
        .errors = errors,
        .errors_size = sizeof(errors),
    };
    struct qn_spawn_result res;
    long long left = deadline - now_ms();
    enum qn_status r;

    if (left <= 0)
        return QN_ETIMEOUT;
    prog.timeout_ms = (int)left;
    memset(&res, 0, sizeof(res));
    r = qn_spawn_run(&prog, &res);
    if (r != QN_OK)
        return r;
    out[res.output_len] = '\0';
    *ret_len = res.output_len;
    *ret_exit = WIFEXITED(res.wait_status) ? WEXITSTATUS(res.wait_status) : -1;
    return QN_OK;
}

/* A host name as DNS allows it, lower-cased into OUT; false otherwise. */
static bool take_name(const char *s, size_t n, char out[QN_ENRICH_NAME_MAX])
{
    if (n > 0 && s[n - 1] == '.')
        n--;
    if (n == 0 || n >= QN_ENRICH_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
            return false;
        out[i] = c;
    }
    out[n] = '\0';
    return true;
}

/* The second word of the first line ("ADDR NAME ALIASES..."). */
static bool first_name(const char *text, char out[QN_ENRICH_NAME_MAX])
{
    const char *p = text + strcspn(text, " \t\n");
    size_t n;

    p += strspn(p, " \t");
    n = strcspn(p, " \t\n");
    return take_name(p, n, out);
}

/* Does any line of `getent ahosts` output start with the address ADDR (FAMILY)? */
static bool leads_back(const char *text, const unsigned char addr[16], int family)
{
    const char *line = text;

    while (*line != '\0') {
        char word[INET6_ADDRSTRLEN + 1];
        unsigned char got[16];
        int got_family;
        size_t n = strcspn(line, " \t\n");

        if (n < sizeof(word)) {
            memcpy(word, line, n);
            word[n] = '\0';
            if (parse_addr(word, got, &got_family) && got_family == family &&
                memcmp(got, addr, family == AF_INET ? 4 : 16) == 0)
                return true;
        }
        line = strchr(line, '\n');
        if (line == NULL)
            break;
        line++;
    }
    return false;
}

static void lookup(const struct qn_enrich *e, const char *addr, struct qn_enrich_rdns *ret)
{
    unsigned char bin[16];
    char *out = malloc(QN_ENRICH_HELPER_OUTPUT);
    long long deadline = now_ms() + e->opt.rdns_timeout_ms;
    size_t len = 0;
    int family, status = -1;
    enum qn_status r;

    memset(ret, 0, sizeof(*ret));
    ret->result = QN_RDNS_FAILED;
    if (out == NULL || e->getent[0] == '\0' || !parse_addr(addr, bin, &family))
        goto out;
    r = run_getent(e, "hosts", addr, deadline, out, &len, &status);
    if (r == QN_ETIMEOUT) {
        ret->result = QN_RDNS_TIMEOUT;
        goto out;
    }
    if (r != QN_OK)
        goto out;
    if (status == 2) {
        ret->result = QN_RDNS_NONE;
        goto out;
    }
    if (status != 0 || !first_name(out, ret->name))
        goto out;
    r = run_getent(e, "ahosts", ret->name, deadline, out, &len, &status);
    if (r == QN_ETIMEOUT) {
        ret->result = QN_RDNS_TIMEOUT;
        ret->name[0] = '\0';
        goto out;
    }
    if (r != QN_OK || (status != 0 && status != 2)) {
        ret->name[0] = '\0';
        goto out;
    }
    ret->result =
        status == 0 && leads_back(out, bin, family) ? QN_RDNS_CONFIRMED : QN_RDNS_UNCONFIRMED;
out:
    free(out);
}

enum qn_status qn_enrich_rdns(struct qn_enrich *e, const char *addr, struct qn_enrich_rdns *ret)
{
    unsigned char bin[16];
    char canon[INET6_ADDRSTRLEN];
    struct cache_entry *c;
    int family;
    size_t i;

    if (e == NULL || ret == NULL || !e->opt.rdns || !parse_addr(addr, bin, &family) ||
        inet_ntop(family, bin, canon, sizeof(canon)) == NULL)
        return QN_EINVAL;
    for (i = 0; i < e->n_cache; i++) {
        if (strcmp(e->cache[i].addr, canon) == 0) {
            *ret = e->cache[i].rdns;
            return QN_OK;
        }
    }
    lookup(e, canon, ret);
    c = &e->cache[e->next_cache];
    e->next_cache = (e->next_cache + 1) % QN_ENRICH_CACHE_MAX;
    if (e->n_cache < QN_ENRICH_CACHE_MAX)
        e->n_cache++;
    snprintf(c->addr, sizeof(c->addr), "%s", canon);
    c->rdns = *ret;
    return QN_OK;
}

/* ---- GeoIP --------------------------------------------------------------------------- */

/* A UTF-8 string value at PATH... of ENTRY into OUT, sanitised; false when absent. */
static bool geo_string(MMDB_entry_s *entry, char *out, size_t n, const char *const *path)
{
    MMDB_entry_data_s data;

    if (MMDB_aget_value(entry, &data, path) != MMDB_SUCCESS || !data.has_data ||
        data.type != MMDB_DATA_TYPE_UTF8_STRING || data.data_size == 0)
        return false;
    qn_text_sanitize_line(data.utf8_string, data.data_size, out, n);
    return out[0] != '\0';
}

static bool geo_name(MMDB_entry_s *entry, const char *what, const char *lang, char *out, size_t n)
{
    const char *const localised[] = {what, "names", lang, NULL};
    const char *const english[] = {what, "names", "en", NULL};

    return geo_string(entry, out, n, localised) || geo_string(entry, out, n, english);
}

enum qn_status qn_enrich_geoip(struct qn_enrich *e, const char *addr, struct qn_enrich_geo *ret)
{
    const char *lang;
    unsigned char bin[16];
    int family;

    if (e == NULL || ret == NULL || !parse_addr(addr, bin, &family))
        return QN_EINVAL;
    memset(ret, 0, sizeof(*ret));
    lang = e->opt.lang == QN_LANG_EN ? "en" : "zh-CN";
    for (size_t i = 0; i < e->n_db; i++) {
        static const char *const iso[] = {"country", "iso_code", NULL};
        static const char *const org[] = {"autonomous_system_organization", NULL};
        static const char *const asn[] = {"autonomous_system_number", NULL};
        MMDB_lookup_result_s res;
        MMDB_entry_data_s data;
        int gai = 0, mmdb = 0;

        res = MMDB_lookup_string(&e->db[i], addr, &gai, &mmdb);
        if (gai != 0 || mmdb != MMDB_SUCCESS || !res.found_entry)
            continue;
        ret->found = true;
        if (ret->country_code[0] == '\0')
            (void)geo_string(&res.entry, ret->country_code, sizeof(ret->country_code), iso);
        if (ret->country[0] == '\0')
            (void)geo_name(&res.entry, "country", lang, ret->country, sizeof(ret->country));
        if (ret->city[0] == '\0')
            (void)geo_name(&res.entry, "city", lang, ret->city, sizeof(ret->city));
        if (ret->as_org[0] == '\0')
            (void)geo_string(&res.entry, ret->as_org, sizeof(ret->as_org), org);
        if (ret->asn == 0 && MMDB_aget_value(&res.entry, &data, asn) == MMDB_SUCCESS &&
            data.has_data && data.type == MMDB_DATA_TYPE_UINT32)
            ret->asn = data.uint32;
    }
    return QN_OK;
}

/* ---- the event ----------------------------------------------------------------------- */

static void add(struct qn_event *ev, const char *key, const char *value)
{
    if (value[0] != '\0' && qn_event_get(ev, key) == NULL)
        (void)qn_event_set(ev, key, value); /* a full event keeps what it has */
}

enum qn_status qn_enrich_event(struct qn_enrich *e, struct qn_event *ev, const struct qn_seen *seen,
                               const struct qn_sessions *sessions)
{
    const char *addr, *user;
    unsigned char bin[16];
    char text[2 * QN_ENRICH_GEO_TEXT_MAX];
    int family;

    if (e == NULL || ev == NULL)
        return QN_EINVAL;
    addr = qn_event_get(ev, "ip");
    if (addr == NULL || !parse_addr(addr, bin, &family))
        addr = qn_event_get(ev, "rhost");
    if (addr != NULL && !parse_addr(addr, bin, &family))
        addr = NULL;
    user = qn_event_get(ev, "user");

    if (addr != NULL && e->opt.rdns) {
        struct qn_enrich_rdns r;

        if (qn_enrich_rdns(e, addr, &r) == QN_OK) {
            if (r.result == QN_RDNS_CONFIRMED)
                add(ev, "rdns", r.name);
            else if (r.result == QN_RDNS_UNCONFIRMED)
                add(ev, "rdns_unverified", r.name);
        }
    }
    if (addr != NULL && e->n_db > 0) {
        struct qn_enrich_geo g;

        if (qn_enrich_geoip(e, addr, &g) == QN_OK && g.found) {
            if (g.country[0] != '\0' && g.country_code[0] != '\0')
                snprintf(text, sizeof(text), "%s (%s)", g.country, g.country_code);
            else
                snprintf(text, sizeof(text), "%s", g.country[0] ? g.country : g.country_code);
            add(ev, "country", text);
            add(ev, "city", g.city);
            if (g.asn != 0)
                snprintf(text, sizeof(text), "AS%lu%s%s", g.asn, g.as_org[0] ? " " : "", g.as_org);
            else
                snprintf(text, sizeof(text), "%s", g.as_org);
            add(ev, "asn", text);
        }
    }
    if (seen != NULL && user != NULL) {
        struct qn_seen_previous p;
        char source[QN_SEEN_SOURCE_MAX] = "";

        (void)qn_seen_source(ev, source);
        qn_seen_previous(seen, user, source[0] ? source : NULL, &p);
        if (p.user_seen) {
            snprintf(text, sizeof(text), "%lld", p.user_last);
            add(ev, "last_login", text);
            add(ev, "last_login_from", p.user_source);
        }
        if (p.source_seen) {
            snprintf(text, sizeof(text), "%lld", p.source_last);
            add(ev, "source_last_login", text);
            add(ev, "source_last_user", p.source_user);
        }
    }
    if (sessions != NULL && user != NULL) {
        size_t n = qn_sessions_count(sessions, user);

        if (n > 0) {
            snprintf(text, sizeof(text), "%zu", n);
            add(ev, "sessions", text);
        }
    }
    return QN_OK;
}
