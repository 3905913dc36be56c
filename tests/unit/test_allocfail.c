/*
 * Allocation-failure sweep ("torture" in curl's words): for N = 1, 2, ...
 * the Nth allocation fails, and the work must end with a clean error
 * (QN_ENOMEM, or a status the contract gives for it), never a crash, a
 * leak, a leaked descriptor, debris in the spool or a silently different
 * result.  The sweep of a scenario ends at the first N its run no longer
 * reaches.  Each scenario is swept twice: the Nth allocation alone fails
 * ("once"), then the Nth and every later one ("from"), which also drives
 * the cleanup paths through failing allocations.
 *
 * How: this binary is linked with GNU ld's --wrap for malloc, calloc,
 * realloc, free, posix_memalign, strdup, strndup, iconv_open/iconv_close,
 * fdopendir/closedir and mmap/munmap (secrets are mappings of their own,
 * secret.h) (tests/fuzz/module.mk adds the options), so every
 * call the core (libqqnotify.a) makes goes through the wrappers below;
 * OpenSSL's allocations come through CRYPTO_set_mem_functions().  Nothing
 * in the core knows about it.  Leaks: every block the core allocates is
 * tracked (the core has no global state, so nothing may survive a run);
 * OpenSSL's blocks are counted against a warmed-up baseline; descriptors
 * are counted in /proc/self/fd; under ASan, LeakSanitizer also checks each
 * run.  Scenarios: MIME build, reply parsing and diagnosis, config load,
 * credential parse and read, event write/read, spool round trip (put,
 * open, list, load, defer, fail, remove), the queue manager delivering a
 * message and two events (nothing lost, nothing sent twice, nothing failed
 * for a want of memory), sendmail header rewrite, render +
 * MIME + DATA encoding of an alert, and the journal rules (parse, match,
 * state save and load; PCRE2's own allocations are not reached: only the
 * core's).
 *
 * Built without the --wrap options (tests/fuzz/module.mk not included by
 * the Makefile) it fails and says so: a sweep that cannot inject is a test
 * that cannot fail.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <iconv.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "buf.h"
#include "config.h"
#include "cred.h"
#include "diag.h"
#include "enqueue.h"
#include "event.h"
#include "gitcred.h"
#include "header.h"
#include "mime.h"
#include "qmgr.h"
#include "render.h"
#include "rules.h"
#include "smtp.h"
#include "spool.h"
#include "text.h"

/*
 * The rules engine (journal-watch/rules_*.c) and sendmail's header rewriting
 * (cli/header.c) are not in libqqnotify.a, and the rules engine needs PCRE2 at link
 * time: the explicit link rule in tests/fuzz/module.mk adds their objects and
 * -lpcre2-8; the generic unit-test rule leaves them out, and with weak references this
 * file still links (the test then fails, having no --wrap either).
 */
#pragma weak qn_rules_new
#pragma weak qn_rules_free
#pragma weak qn_rules_parse
#pragma weak qn_rules_feed
#pragma weak qn_rules_count
#pragma weak qn_rules_state_save
#pragma weak qn_rules_state_load
#pragma weak qn_header_rewrite

/* ---- the wrappers ----------------------------------------------------------------------- */

/* Resolved by --wrap; null when this binary was linked without it. */
extern void *__real_malloc(size_t n) __attribute__((weak));
extern void *__real_calloc(size_t n, size_t size) __attribute__((weak));
extern void *__real_realloc(void *p, size_t n) __attribute__((weak));
extern void __real_free(void *p) __attribute__((weak));
extern int __real_posix_memalign(void **ret, size_t align, size_t n) __attribute__((weak));
extern char *__real_strdup(const char *s) __attribute__((weak));
extern char *__real_strndup(const char *s, size_t n) __attribute__((weak));
extern iconv_t __real_iconv_open(const char *to, const char *from) __attribute__((weak));
extern int __real_iconv_close(iconv_t cd) __attribute__((weak));
extern DIR *__real_fdopendir(int fd) __attribute__((weak));
extern int __real_closedir(DIR *d) __attribute__((weak));
extern void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
    __attribute__((weak));
extern int __real_munmap(void *addr, size_t len) __attribute__((weak));

/* Under ASan: LeakSanitizer's check on demand. */
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

enum origin { CORE = 0, OPENSSL = 1 };

/* The injector: one per process (this test is single-threaded). */
static struct {
    bool active;           /* counting and failing */
    bool persistent;       /* fail every allocation from fail_at on */
    unsigned long count;   /* allocations seen while active */
    unsigned long fail_at; /* 0: never */
    unsigned long injected;
    const char *first_failed; /* which call failed first, or NULL */
    unsigned char *origins;   /* when set: origins[count] records who made each allocation */
    size_t n_origins;
    bool iconv_failed; /* an iconv_open() was failed: GB18030 text is repaired instead */
} inj;

/* Live blocks, open addressing: pointer and origin. */
#define TRACK_SLOTS (1u << 18)
#define TOMBSTONE   ((void *)1)
static struct {
    void *p[TRACK_SLOTS];
    unsigned char origin[TRACK_SLOTS];
    unsigned long seq[TRACK_SLOTS]; /* allocation number, to tell the new from the old */
    const char *file[TRACK_SLOTS];  /* OpenSSL's caller, for the report of a leak */
    int line[TRACK_SLOTS];
    size_t live[2];
    unsigned long next_seq;
} trk;

static size_t slot_of(const void *p)
{
    uintptr_t x = (uintptr_t)p;

    x ^= x >> 17;
    x *= 0xed5ad4bbu;
    x ^= x >> 11;
    return (size_t)x & (TRACK_SLOTS - 1);
}

static void track_add(void *p, enum origin o)
{
    size_t i = slot_of(p);

    if (p == NULL)
        return;
    for (size_t k = 0; k < TRACK_SLOTS; k++, i = (i + 1) & (TRACK_SLOTS - 1)) {
        if (trk.p[i] == NULL || trk.p[i] == TOMBSTONE) {
            trk.p[i] = p;
            trk.origin[i] = (unsigned char)o;
            trk.seq[i] = ++trk.next_seq;
            trk.file[i] = NULL;
            trk.line[i] = 0;
            trk.live[o]++;
            return;
        }
    }
    fprintf(stderr, "allocfail: tracking table full\n");
    abort();
}

static void track_remove(void *p)
{
    size_t i = slot_of(p);

    if (p == NULL)
        return;
    for (size_t k = 0; k < TRACK_SLOTS; k++, i = (i + 1) & (TRACK_SLOTS - 1)) {
        if (trk.p[i] == NULL)
            return; /* not ours: allocated by libc itself, or before tracking */
        if (trk.p[i] == p) {
            trk.p[i] = TOMBSTONE;
            trk.live[trk.origin[i]]--;
            return;
        }
    }
}

/* Remember where OpenSSL allocated P. */
static void track_note(void *p, const char *file, int line)
{
    size_t i = slot_of(p);

    for (size_t k = 0; p != NULL && k < TRACK_SLOTS; k++, i = (i + 1) & (TRACK_SLOTS - 1)) {
        if (trk.p[i] == NULL)
            return;
        if (trk.p[i] == p) {
            trk.file[i] = file;
            trk.line[i] = line;
            return;
        }
    }
}

/* Print the blocks of ORIGIN allocated after sequence number SINCE and still live. */
static void track_report(enum origin o, unsigned long since)
{
    for (size_t i = 0; i < TRACK_SLOTS; i++) {
        if (trk.p[i] != NULL && trk.p[i] != TOMBSTONE && trk.origin[i] == o && trk.seq[i] > since)
            print_error("  still allocated: block #%lu from %s:%d\n", trk.seq[i],
                        trk.file[i] ? trk.file[i] : "?", trk.line[i]);
    }
}

/* True when this allocation is to fail. */
static bool should_fail(const char *what)
{
    if (!inj.active)
        return false;
    inj.count++;
    if (inj.origins != NULL && inj.count < inj.n_origins)
        inj.origins[inj.count] = strncmp(what, "OPENSSL_", 8) == 0 ? OPENSSL : CORE;
    if (inj.fail_at == 0 || inj.count < inj.fail_at || (!inj.persistent && inj.count > inj.fail_at))
        return false;
    inj.injected++;
    if (inj.first_failed == NULL)
        inj.first_failed = what;
    return true;
}

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
int __wrap_posix_memalign(void **ret, size_t align, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
iconv_t __wrap_iconv_open(const char *to, const char *from);
int __wrap_iconv_close(iconv_t cd);
DIR *__wrap_fdopendir(int fd);
int __wrap_closedir(DIR *d);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __wrap_munmap(void *addr, size_t len);

void *__wrap_malloc(size_t n)
{
    void *p;

    if (should_fail("malloc")) {
        errno = ENOMEM;
        return NULL;
    }
    p = __real_malloc(n);
    track_add(p, CORE);
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    void *p;

    if (should_fail("calloc")) {
        errno = ENOMEM;
        return NULL;
    }
    p = __real_calloc(n, size);
    track_add(p, CORE);
    return p;
}

void *__wrap_realloc(void *p, size_t n)
{
    void *q;

    if (should_fail("realloc")) {
        errno = ENOMEM;
        return NULL;
    }
    q = __real_realloc(p, n);
    if (q != NULL || n == 0) {
        track_remove(p);
        track_add(q, CORE);
    }
    return q;
}

void __wrap_free(void *p)
{
    track_remove(p);
    __real_free(p);
}

int __wrap_posix_memalign(void **ret, size_t align, size_t n)
{
    int rc;

    if (should_fail("posix_memalign"))
        return ENOMEM;
    rc = __real_posix_memalign(ret, align, n);
    if (rc == 0)
        track_add(*ret, CORE);
    return rc;
}

char *__wrap_strdup(const char *s)
{
    char *p;

    if (should_fail("strdup")) {
        errno = ENOMEM;
        return NULL;
    }
    p = __real_strdup(s);
    track_add(p, CORE);
    return p;
}

char *__wrap_strndup(const char *s, size_t n)
{
    char *p;

    if (should_fail("strndup")) {
        errno = ENOMEM;
        return NULL;
    }
    p = __real_strndup(s, n);
    track_add(p, CORE);
    return p;
}

iconv_t __wrap_iconv_open(const char *to, const char *from)
{
    iconv_t cd;

    if (should_fail("iconv_open")) {
        inj.iconv_failed = true;
        errno = ENOMEM;
        return (iconv_t)-1;
    }
    cd = __real_iconv_open(to, from);
    if (cd != (iconv_t)-1)
        track_add((void *)cd, CORE);
    return cd;
}

int __wrap_iconv_close(iconv_t cd)
{
    track_remove((void *)cd);
    return __real_iconv_close(cd);
}

DIR *__wrap_fdopendir(int fd)
{
    DIR *d;

    if (should_fail("fdopendir")) {
        errno = ENOMEM;
        return NULL;
    }
    d = __real_fdopendir(fd);
    track_add(d, CORE);
    return d;
}

int __wrap_closedir(DIR *d)
{
    track_remove(d);
    return __real_closedir(d);
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    void *p;

    if (should_fail("mmap")) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    p = __real_mmap(addr, len, prot, flags, fd, off);
    if (p != MAP_FAILED)
        track_add(p, CORE);
    return p;
}

int __wrap_munmap(void *addr, size_t len)
{
    track_remove(addr);
    return __real_munmap(addr, len);
}

static void *ossl_malloc(size_t n, const char *file, int line)
{
    void *p;

    (void)file;
    (void)line;
    if (should_fail("OPENSSL_malloc")) {
        errno = ENOMEM;
        return NULL;
    }
    p = __real_malloc(n);
    track_add(p, OPENSSL);
    track_note(p, file, line);
    return p;
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
    void *q;

    (void)file;
    (void)line;
    if (should_fail("OPENSSL_realloc")) {
        errno = ENOMEM;
        return NULL;
    }
    q = __real_realloc(p, n);
    if (q != NULL || n == 0) {
        track_remove(p);
        track_add(q, OPENSSL);
        track_note(q, file, line);
    }
    return q;
}

static void ossl_free(void *p, const char *file, int line)
{
    (void)file;
    (void)line;
    track_remove(p);
    __real_free(p);
}

/* ---- helpers -------------------------------------------------------------------------------- */

static char workdir[64];

static size_t count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    size_t n = 0;

    assert_non_null(d);
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static void write_file(const char *name, const char *text, mode_t mode)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", workdir, name);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

/* Files directly in DIR/SUB (0 when it cannot be opened). */
static size_t files_in(const char *dir, const char *sub)
{
    char path[256];
    struct dirent *e;
    size_t n = 0;
    DIR *d;

    snprintf(path, sizeof path, "%s/%s", dir, sub);
    d = opendir(path);
    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Remove every file in DIR/SUB. */
static void empty_dir(const char *dir, const char *sub)
{
    char path[256], file[600];
    struct dirent *e;
    DIR *d;

    snprintf(path, sizeof path, "%s/%s", dir, sub);
    d = opendir(path);
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        unlink(file);
    }
    closedir(d);
}

/* ---- scenarios -------------------------------------------------------------------------------
 *
 * Each run() works with the injector active and returns the status of the
 * whole; it compares a successful result with the reference made by the
 * first (failure-free) run, itself, and reports a mismatch through *bad.
 * A failure injected into iconv_open() may legitimately change text that
 * was GB18030 (it is then repaired byte by byte instead): inj.iconv_failed
 * says so and the comparison of decoded text is skipped then. */

#define BAD(...)                                                                                   \
    do {                                                                                           \
        snprintf(bad, 256, __VA_ARGS__);                                                           \
        return QN_EINVAL;                                                                          \
    } while (0)

struct scenario {
    const char *name;
    void (*setup)(void);
    void (*cleanup)(void); /* after each run, injector off */
    enum qn_status (*run)(bool reference, char *bad);
    const enum qn_status *allowed; /* besides QN_OK, ending in QN_OK */
};

/* A reference kept by the failure-free run. */
struct ref {
    char *data;
    size_t len;
};

static bool ref_check(struct ref *ref, bool reference, const char *p, size_t n)
{
    if (reference) {
        __real_free(ref->data);
        ref->data = __real_malloc(n + 1);
        assert_non_null(ref->data);
        memcpy(ref->data, p, n);
        ref->len = n;
        return true;
    }
    return ref->len == n && memcmp(ref->data, p, n) == 0;
}

static const enum qn_status only_nomem[] = {QN_ENOMEM, QN_OK};
static const enum qn_status nomem_or_eio[] = {QN_ENOMEM, QN_EIO, QN_OK};

/* QN_EIO is the documented status for a failed RAND_bytes (an OpenSSL allocation failed
 * under it) and for a failed libc call whose errno is kept (fdopendir): nothing else. */
static bool eio_explained(const char *call_prefix)
{
    return inj.first_failed != NULL &&
           strncmp(inj.first_failed, call_prefix, strlen(call_prefix)) == 0;
}

/* -- MIME: a Chinese alert with HTML, fixed ids; and one with generated ids -- */

#define SUBJECT                                                                                             \
    "【qqnotify 告警】服务器 web-01.prod.example.com 检测到来自 203.0.113.45 的 SSH 登录：" \
    "用户 root 登录成功，请立即确认是否为本人操作"
#define BODY "服务器告警：检测到新的登录。\n主机：web-01\n.以点开头\r\n\xff 无效字节\r最后一行\n"
#define HTML "<!DOCTYPE html>\n<html><body><h1>服务器告警</h1><p>web-01</p></body></html>\n"

static const char *const rcpts[] = {"ops@example.com", "987654321@qq.com"};

static enum qn_status mime_build(bool fixed, struct qn_buf *out)
{
    struct qn_mime_message m;

    memset(&m, 0, sizeof m);
    m.from_name = "服务器告警 \"web-01\"";
    m.from_addr = "123456789@qq.com";
    m.to = rcpts;
    m.n_to = 2;
    m.reply_to = "admin@example.com";
    m.subject = SUBJECT;
    m.text = BODY;
    m.html = HTML;
    m.date = 1764180000;
    m.message_id = fixed ? "<alert.1@qq.com>" : NULL;
    m.boundary = fixed ? "=_qn_fixed" : NULL;
    return qn_mime_build(&m, out);
}

static struct ref mime_ref;

static enum qn_status run_mime(bool reference, char *bad)
{
    struct qn_buf out;
    enum qn_status r;

    qn_buf_init(&out, 1024 * 1024);
    r = mime_build(true, &out);
    if (r == QN_OK && !ref_check(&mime_ref, reference, out.data, out.len)) {
        qn_buf_free(&out);
        BAD("the message built differs from the one built without failures");
    }
    qn_buf_free(&out);
    return r;
}

static enum qn_status run_mime_random(bool reference, char *bad)
{
    struct qn_buf out;
    enum qn_status r;

    (void)reference;
    qn_buf_init(&out, 1024 * 1024);
    r = mime_build(false, &out);
    if (r == QN_EIO && !eio_explained("OPENSSL_")) {
        qn_buf_free(&out);
        BAD("QN_EIO without a failed RAND_bytes");
    }
    if (r == QN_OK && (out.len < 1000 || strstr(out.data, "Message-ID: <") == NULL)) {
        qn_buf_free(&out);
        BAD("a message with generated ids is incomplete");
    }
    qn_buf_free(&out);
    return r;
}

/* -- SMTP reply (GBK, multi-line) to a diagnosis -- */

static struct ref reply_ref;

static enum qn_status run_reply(bool reference, char *bad)
{
    /* "发信人必须与认证用户一致" in GBK. */
    static const char gbk[] = "550-5.7.1 \xb7\xa2\xd0\xc5\xc8\xcb\xb1\xd8\xd0\xeb\xd3\xeb\xc8\xcf"
                              "\xd6\xa4\xd3\xc3\xbb\xa7\xd2\xbb\xd6\xc2";
    static const char last[] = "550 5.7.1 Mail from must equal authorized user";
    struct qn_smtp_reply reply;
    const struct qn_diagnosis *d;
    struct qn_error err;

    memset(&reply, 0, sizeof reply);
    if (qn_smtp_reply_feed(&reply, gbk, strlen(gbk)) != QN_OK ||
        qn_smtp_reply_feed(&reply, last, strlen(last)) != QN_OK || !reply.complete)
        BAD("the reply does not parse");
    qn_error_clear(&err);
    if (qn_error_set_reply(&err, QN_STAGE_MAIL, reply.code, reply.text, reply.text_len) !=
        QN_EREJECT)
        BAD("550 is not QN_EREJECT");
    d = qn_diag_lookup("qq", &err);
    if (d == NULL || d->id == NULL)
        BAD("no diagnosis");
    if (!qn_text_utf8_valid(err.server_text, strlen(err.server_text)))
        BAD("server text is not UTF-8");
    if (!inj.iconv_failed &&
        !ref_check(&reply_ref, reference, err.server_text, strlen(err.server_text)))
        BAD("the server text differs from the one decoded without failures");
    return QN_OK;
}

/* -- configuration file -- */

static const char config_text[] =
    "# qqnotify\n[smtp]\nprovider = qq\nuser = 123456789@qq.com\nfrom_name = 服务器告警\n"
    "timeout = 20\n[notify]\nto = ops@example.com, 987654321@qq.com\nlanguage = zh_CN\n"
    "[limits]\nmax_per_hour = 20\ndigest_window = 10m\n";
static struct ref config_ref;

static void setup_config(void)
{
    write_file("qqnotify.conf", config_text, 0600);
}

static enum qn_status run_config(bool reference, char *bad)
{
    static struct qn_config cfg;
    static struct qn_config_error err;
    char path[256];
    enum qn_status r;

    snprintf(path, sizeof path, "%s/qqnotify.conf", workdir);
    r = qn_config_load(&cfg, path, &err);
    if (r == QN_OK && !ref_check(&config_ref, reference, (const char *)&cfg, sizeof cfg))
        BAD("the configuration differs from the one loaded without failures");
    if (r == QN_ENOMEM && err.what == NULL)
        BAD("QN_ENOMEM without an error description");
    return r;
}

/* -- credentials: a helper's reply and a credential file -- */

static enum qn_status run_cred(bool reference, char *bad)
{
    static const char reply[] = "protocol=smtp\nhost=smtp.qq.com\nusername=1@qq.com\n"
                                "password=abcdefghijklmnop\n\n";
    static struct qn_config cfg;
    struct qn_secret s;
    struct qn_error err;
    enum qn_status r;

    (void)reference;
    memset(&s, 0, sizeof s);
    r = qn_gitcred_parse_reply(reply, strlen(reply), &s);
    if (r == QN_OK && (s.len != 16 || memcmp(s.data, "abcdefghijklmnop", 16) != 0))
        BAD("wrong secret from the reply");
    qn_secret_wipe(&s);
    if (r != QN_OK)
        return r;

    qn_config_defaults(&cfg);
    snprintf(cfg.credential_file, sizeof cfg.credential_file, "%s/secret", workdir);
    memset(&s, 0, sizeof s);
    r = qn_cred_get(&cfg, &s, NULL, &err);
    if (r == QN_OK && (s.len != 16 || memcmp(s.data, "ponmlkjihgfedcba", 16) != 0))
        BAD("wrong secret from the file");
    qn_secret_wipe(&s);
    return r;
}

static void setup_cred(void)
{
    write_file("secret", "ponmlkjihgfedcba\n", 0600);
}

/* -- event spool form -- */

static void make_event(struct qn_event *ev)
{
    qn_event_init(ev, "login");
    ev->time = 1764180000;
    qn_event_set_host(ev, "web-01");
    qn_event_set(ev, "service", "sshd");
    qn_event_set(ev, "user", "root");
    qn_event_set(ev, "rhost", "203.0.113.45");
    qn_event_set(ev, "method", "publickey");
    qn_event_set(ev, "message", "登录成功 %0A \xff");
}

static enum qn_status run_event(bool reference, char *bad)
{
    static struct qn_event ev, back;
    struct qn_buf out;
    enum qn_status r;

    (void)reference;
    make_event(&ev);
    qn_buf_init(&out, 64 * 1024);
    r = qn_event_write(&ev, &out);
    if (r == QN_OK && qn_event_read(&back, out.data, out.len) != QN_OK) {
        qn_buf_free(&out);
        BAD("the written event does not read back");
    }
    if (r != QN_OK && out.len != 0) {
        qn_buf_free(&out);
        BAD("a failed write left part of the event in the buffer");
    }
    qn_buf_free(&out);
    return r;
}

/* -- spool round trip -- */

static char spool_dir[128];
static const char message[] = "From: root\r\nTo: root\r\nSubject: cron\r\n\r\nbackup done\r\n";

static void setup_spool(void)
{
    snprintf(spool_dir, sizeof spool_dir, "%s/spool", workdir);
    mkdir(spool_dir, 0700);
    static const char *const subs[] = {"tmp", "new", "deferred", "failed", "state"};
    for (size_t i = 0; i < 5; i++) {
        char p[256];

        snprintf(p, sizeof p, "%s/%s", spool_dir, subs[i]);
        mkdir(p, 0700);
    }
}

static void cleanup_spool(void)
{
    static const char *const subs[] = {"tmp", "new", "deferred", "failed", "state"};

    for (size_t i = 0; i < 5; i++)
        empty_dir(spool_dir, subs[i]);
}

static enum qn_status run_spool(bool reference, char *bad)
{
    static struct qn_event ev;
    static struct qn_spool_entry e1, e2;
    static char ids[4][QN_SPOOL_ID_MAX];
    const char *rcpt[] = {"ops@example.com", "987654321@qq.com"};
    char id_msg[QN_SPOOL_ID_MAX], id_ev[QN_SPOOL_ID_MAX];
    struct qn_spool *sp = NULL;
    size_t n = 0, total = 0;
    enum qn_status r;

    (void)reference;
    r = qn_enqueue_message(spool_dir, "root@web-01", rcpt, 2, message, strlen(message), 0, id_msg);
    if (r != QN_OK) {
        if (files_in(spool_dir, "tmp") != 0 || files_in(spool_dir, "new") != 0)
            BAD("a failed put left a file in the spool");
        return r;
    }
    make_event(&ev);
    r = qn_enqueue_event(spool_dir, &ev, 0, id_ev);
    if (r != QN_OK) {
        if (files_in(spool_dir, "tmp") != 0 || files_in(spool_dir, "new") != 1)
            BAD("a failed put left a file in the spool");
        return r;
    }
    r = qn_spool_open(spool_dir, 0, 0, &sp);
    if (r != QN_OK)
        return r;
    r = qn_spool_list(sp, QN_SPOOL_NEW, ids, 4, &n, &total);
    if (r != QN_OK)
        goto out;
    if (n != 2 || total != 2) {
        qn_spool_close(sp);
        BAD("list does not show the two entries");
    }
    memset(&e1, 0, sizeof e1);
    memset(&e2, 0, sizeof e2);
    r = qn_spool_load(sp, QN_SPOOL_NEW, id_msg, 0, &e1);
    if (r != QN_OK)
        goto out;
    if (e1.message_len != strlen(message) || memcmp(e1.message, message, e1.message_len) != 0) {
        qn_spool_entry_clear(&e1);
        qn_spool_close(sp);
        BAD("the message loaded differs");
    }
    r = qn_spool_load(sp, QN_SPOOL_NEW, id_ev, 0, &e2);
    if (r != QN_OK)
        goto out;
    r = qn_spool_defer(sp, QN_SPOOL_NEW, &e1, 1764183600, "421 try later", "service-unavailable");
    if (r != QN_OK) {
        /* On failure the entry is still in new/ (spool.h): never lost. */
        if (files_in(spool_dir, "new") != 2 || files_in(spool_dir, "tmp") != 0) {
            qn_spool_entry_clear(&e1);
            qn_spool_entry_clear(&e2);
            qn_spool_close(sp);
            BAD("a failed defer lost the entry or left debris");
        }
        goto out;
    }
    r = qn_spool_fail(sp, QN_SPOOL_NEW, &e2, "550 rejected", "recipient-unknown");
    if (r != QN_OK) {
        if (files_in(spool_dir, "new") != 1 || files_in(spool_dir, "tmp") != 0) {
            qn_spool_entry_clear(&e1);
            qn_spool_entry_clear(&e2);
            qn_spool_close(sp);
            BAD("a failed fail() lost the entry or left debris");
        }
        goto out;
    }
    qn_spool_entry_clear(&e1);
    r = qn_spool_load(sp, QN_SPOOL_DEFERRED, id_msg, 0, &e1);
    if (r == QN_OK && e1.attempts != 1)
        r = QN_EINVAL;
    if (r == QN_OK)
        r = qn_spool_remove(sp, QN_SPOOL_DEFERRED, id_msg);
    if (r == QN_OK)
        r = qn_spool_drop(sp, id_ev);
out:
    qn_spool_entry_clear(&e1);
    qn_spool_entry_clear(&e2);
    qn_spool_close(sp);
    if (r == QN_EIO && !eio_explained("fdopendir"))
        BAD("QN_EIO from an allocation failure that is not a libc call's");
    return r;
}

/* -- the queue manager: a message and two events through a transport that accepts -- */

static size_t qmgr_delivered; /* entries the fake transport took */

static enum qn_status accept_open(void *ctx, struct qn_error *err)
{
    (void)ctx;
    (void)err;
    return QN_OK;
}

static enum qn_status accept_deliver(void *ctx, const struct qn_delivery *d, struct qn_error *err)
{
    (void)ctx;
    (void)err;
    qmgr_delivered += d->alert != NULL ? d->n_events : 1;
    return QN_OK;
}

static enum qn_status run_qmgr(bool reference, char *bad)
{
    static struct qn_event ev;
    static struct qn_config cfg;
    const char *rcpt[] = {"ops@example.com"};
    struct qn_qmgr_options opt = {
        .cfg = &cfg,
        .transport = {.name = "accept", .open = accept_open, .deliver = accept_deliver},
    };
    struct qn_qmgr_summary sum;
    char id[QN_SPOOL_ID_MAX];
    size_t queued = 0, left;
    enum qn_status r;

    qn_config_defaults(&cfg);
    memset(&cfg.limits, 0, sizeof(cfg.limits)); /* each event a mail of its own */
    cfg.language = QN_LANG_EN;
    r = qn_enqueue_message(spool_dir, "root@web-01", rcpt, 1, message, strlen(message), 0, id);
    queued += r == QN_OK;
    make_event(&ev);
    for (int i = 0; r == QN_OK && i < 2; i++) {
        r = qn_enqueue_event(spool_dir, &ev, 0, id);
        queued += r == QN_OK;
    }
    if (r == QN_OK)
        r = qn_spool_open(spool_dir, 0, 0, &opt.spool);
    qmgr_delivered = 0;
    if (r == QN_OK)
        r = qn_qmgr_run(&opt, &sum);
    qn_spool_close(opt.spool);
    /* Whatever failed: every entry went out exactly once or is still queued. */
    left = files_in(spool_dir, "new") + files_in(spool_dir, "deferred");
    if (files_in(spool_dir, "tmp") != 0)
        BAD("debris in tmp/");
    if (files_in(spool_dir, "failed") != 0)
        BAD("an allocation failure moved an entry to failed/");
    if (qmgr_delivered + left != queued)
        BAD("%zu queued, %zu delivered, %zu left: an entry was lost or sent twice", queued,
            qmgr_delivered, left);
    if (reference && (qmgr_delivered != 3 || sum.mails != 3 || sum.first != QN_QMGR_ALL_WELL))
        BAD("the failure-free run did not deliver the three entries");
    if (r == QN_EIO && !eio_explained("fdopendir"))
        BAD("QN_EIO from an allocation failure that is not a libc call's");
    return r;
}

/* -- sendmail header rewrite of a cron mail with a GBK body -- */

static struct ref header_ref;

static enum qn_status run_header(bool reference, char *bad)
{
    static const char msg[] =
        "From: root (Cron Daemon)\nTo: root\nCc: ops@example.com, \"Team\" <team@example.org>\n"
        "Bcc: hidden@example.net\nSubject: Cron <root@web1> /usr/local/bin/backup.sh\n"
        "Subject: =?UTF-8?B?5aSH5Lu9?=\nContent-Type: text/plain; charset=UTF-8\n\n"
        "\xb1\xb8\xb7\xdd\xcd\xea\xb3\xc9 backup done\n.\n";
    static struct qn_header_result res;
    const char *alert[] = {"alert@example.com"};
    struct qn_header_options opt;
    struct qn_buf out;
    enum qn_status r;

    memset(&opt, 0, sizeof opt);
    opt.account = "123456789@qq.com";
    opt.from_name = "服务器告警";
    opt.host = "web1";
    opt.extract_rcpt = true;
    opt.alert_rcpt = alert;
    opt.n_alert_rcpt = 1;
    opt.now = 1764180000;
    opt.message_id = "<fixed.1@qq.com>";
    qn_buf_init(&out, 1024 * 1024);
    r = qn_header_rewrite(msg, strlen(msg), &opt, &out, &res);
    if (r == QN_EIO && !eio_explained("OPENSSL_")) {
        qn_buf_free(&out);
        BAD("QN_EIO without a failed RAND_bytes");
    }
    if (r != QN_OK && out.len != 0) {
        qn_buf_free(&out);
        BAD("a failed rewrite appended to OUT");
    }
    if (r == QN_OK && !inj.iconv_failed && !ref_check(&header_ref, reference, out.data, out.len)) {
        qn_buf_free(&out);
        BAD("the rewritten message differs from the one made without failures");
    }
    qn_buf_free(&out);
    return r;
}

/* -- an alert end to end without the network: render, MIME, DATA -- */

static struct ref alert_ref;

static enum qn_status run_alert(bool reference, char *bad)
{
    static struct qn_event ev;
    struct qn_rendered rd;
    struct qn_mime_message m;
    struct qn_buf msg, data;
    enum qn_status r;

    make_event(&ev);
    memset(&rd, 0, sizeof rd);
    qn_buf_init(&msg, 8 * 1024 * 1024);
    qn_buf_init(&data, 16 * 1024 * 1024 + 5);
    r = qn_render_event(&ev, QN_LANG_ZH, &rd);
    if (r != QN_OK)
        goto out;
    memset(&m, 0, sizeof m);
    m.from_name = "服务器告警";
    m.from_addr = "123456789@qq.com";
    m.to = rcpts;
    m.n_to = 2;
    m.subject = rd.subject.data ? rd.subject.data : "";
    m.text = rd.text.data ? rd.text.data : "";
    m.html = rd.html.data ? rd.html.data : "";
    m.date = 1764180000;
    m.message_id = "<alert.2@qq.com>";
    m.boundary = "=_qn_fixed";
    r = qn_mime_build(&m, &msg);
    if (r != QN_OK)
        goto out;
    r = qn_smtp_encode_data(msg.data, msg.len, &data);
    if (r == QN_OK && !ref_check(&alert_ref, reference, data.data, data.len)) {
        snprintf(bad, 256, "the alert differs from the one made without failures");
        r = QN_EINVAL;
    }
out:
    qn_rendered_free(&rd);
    qn_buf_free(&msg);
    qn_buf_free(&data);
    return r;
}

/* -- journal rules: parse, match, save and load the threshold state -- */

static const char rules_text[] =
    "[rule ssh-brute-force]\n"
    "match = SYSLOG_IDENTIFIER=sshd\n"
    "match = SYSLOG_IDENTIFIER=sshd-session\n"
    "regex = ^Failed (?:password|keyboard-interactive/pam) for (?:invalid user )?(?<user>.*) "
    "from (?<ip>\\S+) port \\d+ ssh2$\n"
    "threshold = 3 in 10m per host, ip\n"
    "cooldown = 1h\n"
    "subject = ssh brute force on {host}: {count} failed passwords from {ip}\n"
    "samples = 2\n"
    "keys = 8\n"
    "\n"
    "[rule oom]\n"
    "regex = Out of memory: Killed process (?<pid>\\d+) \\((?<comm>[^)]*)\\)\n"
    "exclude = ^ignore\n"
    "priority = ..err\n"
    "subject = OOM killed {comm} on {host}\n";

struct journal_entry {
    const char *message;
};

static int journal_get(void *ctx, const char *field, const void **ret_value, size_t *ret_len)
{
    const struct journal_entry *e = ctx;
    const char *v = NULL;

    if (strcmp(field, "MESSAGE") == 0)
        v = e->message;
    else if (strcmp(field, "SYSLOG_IDENTIFIER") == 0)
        v = "sshd";
    else if (strcmp(field, "_HOSTNAME") == 0)
        v = "web-01";
    else if (strcmp(field, "PRIORITY") == 0)
        v = "3";
    if (v == NULL)
        return 0;
    *ret_value = v;
    *ret_len = strlen(v);
    return 1;
}

static enum qn_status count_alert(void *ctx, const struct qn_rules_alert *alert)
{
    (void)alert;
    (*(size_t *)ctx)++;
    return QN_OK;
}

static struct ref rules_ref;

static enum qn_status run_rules(bool reference, char *bad)
{
    static const char *const messages[] = {
        "Failed password for root from 203.0.113.45 port 22 ssh2",
        "Failed password for invalid user admin from 203.0.113.45 port 22 ssh2",
        "Out of memory: Killed process 1234 (java) total-vm:1kB",
        "Failed password for root from 203.0.113.45 port 22 ssh2",
    };
    static struct qn_rules_errors errs;
    struct qn_rules *rs = NULL, *again = NULL;
    struct qn_buf state;
    size_t alerts = 0, fired;
    enum qn_status r;

    qn_buf_init(&state, 1024 * 1024);
    memset(&errs, 0, sizeof errs);
    r = qn_rules_new(&rs);
    if (r == QN_OK)
        r = qn_rules_parse(rs, rules_text, strlen(rules_text), "alloc.conf", &errs);
    if (r == QN_ECONFIG) {
        snprintf(bad, 256, "valid rules refused (%.80s: %.80s) when an allocation failed",
                 errs.n > 0 ? errs.e[0].what : "?", errs.n > 0 ? errs.e[0].detail : "");
        r = QN_EINVAL;
        goto out;
    }
    for (size_t i = 0; r == QN_OK && i < 4; i++) {
        struct journal_entry e = {messages[i]};
        struct qn_rules_entry entry = {journal_get, &e, (1764180000LL + (long long)i) * 1000000};

        r = qn_rules_feed(rs, &entry, count_alert, &alerts, &fired);
    }
    if (r == QN_OK && alerts != 2) {
        snprintf(bad, 256, "%zu alerts instead of 2", alerts);
        r = QN_EINVAL;
        goto out;
    }
    if (r == QN_OK)
        r = qn_rules_state_save(rs, 1764180010LL * 1000000, 64 * 1024, &state);
    if (r == QN_OK && !ref_check(&rules_ref, reference, state.data, state.len)) {
        snprintf(bad, 256, "the saved state differs from the one made without failures");
        r = QN_EINVAL;
        goto out;
    }
    if (r == QN_OK)
        r = qn_rules_new(&again);
    if (r == QN_OK) {
        memset(&errs, 0, sizeof errs);
        r = qn_rules_parse(again, rules_text, strlen(rules_text), "alloc.conf", &errs);
        if (r == QN_ECONFIG) {
            snprintf(bad, 256, "valid rules refused when an allocation failed (second set)");
            r = QN_EINVAL;
            goto out;
        }
    }
    if (r == QN_OK) {
        r = qn_rules_state_load(again, state.data, state.len);
        /* QN_EINVAL is the documented answer to malformed text only. */
        if (r == QN_EINVAL) {
            snprintf(bad, 256, "a saved state was refused as malformed when an allocation failed");
            goto out;
        }
    }
out:
    qn_rules_free(rs);
    qn_rules_free(again);
    qn_buf_free(&state);
    return r;
}

/* -- a whole SMTP session over TLS against a scripted server in a child process -- */

static EVP_PKEY *server_key;
static X509 *server_cert;
static char server_ca[256];

/* A self-signed certificate for 127.0.0.1, made once; the client trusts it as ca_file. */
static void setup_smtp(void)
{
    X509V3_CTX v3;
    X509_EXTENSION *ext;
    FILE *f;

    if (server_cert != NULL)
        return;
    server_key = EVP_EC_gen("P-256");
    server_cert = X509_new();
    assert_non_null(server_key);
    assert_non_null(server_cert);
    X509_set_version(server_cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(server_cert), 4242);
    X509_gmtime_adj(X509_getm_notBefore(server_cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(server_cert), 3600);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(server_cert), "CN", MBSTRING_ASC,
                               (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(server_cert, X509_get_subject_name(server_cert));
    X509_set_pubkey(server_cert, server_key);
    X509V3_set_ctx(&v3, server_cert, server_cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
    assert_non_null(ext);
    X509_add_ext(server_cert, ext, -1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(server_cert, server_key, EVP_sha256()) > 0);
    snprintf(server_ca, sizeof server_ca, "%s/server.pem", workdir);
    f = fopen(server_ca, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, server_cert), 1);
    fclose(f);
}

/* Read one line (CRLF stripped) from SSL into LINE; false at the end. */
static bool server_line(SSL *ssl, char *buf, size_t *have, char *line, size_t size)
{
    for (;;) {
        char *nl = memchr(buf, '\n', *have);
        int n;

        if (nl != NULL) {
            size_t len = (size_t)(nl - buf);

            if (len >= size)
                return false;
            memcpy(line, buf, len);
            line[len > 0 && line[len - 1] == '\r' ? len - 1 : len] = '\0';
            memmove(buf, nl + 1, *have - len - 1);
            *have -= len + 1;
            return true;
        }
        if (*have >= 8192)
            return false;
        n = SSL_read(ssl, buf + *have, (int)(8192 - *have));
        if (n <= 0)
            return false;
        *have += (size_t)n;
    }
}

static void server_say(SSL *ssl, const char *s)
{
    SSL_write(ssl, s, (int)strlen(s));
}

/* The child: one connection, implicit TLS, the dialogue qn_smtp_* has; exits. */
static void serve_one(int listener)
{
    char buf[8192], line[8192];
    size_t have = 0;
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;

    inj.active = false; /* the child is the server: nothing fails here */
    alarm(20);
    fd = accept(listener, NULL, NULL);
    close(listener);
    if (fd < 0)
        _exit(1);
    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL || SSL_CTX_use_certificate(ctx, server_cert) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, server_key) != 1)
        _exit(1);
    ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) != 1)
        _exit(0); /* the client gave up in the handshake */
    server_say(ssl, "220 localhost ESMTP allocfail\r\n");
    while (server_line(ssl, buf, &have, line, sizeof line)) {
        if (strncmp(line, "EHLO", 4) == 0) {
            server_say(ssl, "250-localhost\r\n250-AUTH PLAIN LOGIN\r\n250-SIZE 1000000\r\n"
                            "250 8BITMIME\r\n");
        } else if (strncmp(line, "AUTH", 4) == 0) {
            server_say(ssl, "235 2.7.0 ok\r\n");
        } else if (strncmp(line, "DATA", 4) == 0) {
            server_say(ssl, "354 go ahead\r\n");
            while (server_line(ssl, buf, &have, line, sizeof line) && strcmp(line, ".") != 0)
                ;
            server_say(ssl, "250 2.0.0 queued\r\n");
        } else if (strncmp(line, "QUIT", 4) == 0) {
            server_say(ssl, "221 2.0.0 bye\r\n");
            break;
        } else {
            server_say(ssl, "250 2.0.0 ok\r\n");
        }
    }
    SSL_shutdown(ssl);
    _exit(0);
}

static enum qn_status run_smtp(bool reference, char *bad)
{
    static const char msg[] = "Subject: allocfail\r\n\r\nbody\r\n.line\r\n";
    const char *rcpt[] = {"a@example.com", "b@example.org"};
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    struct qn_smtp_options opt;
    struct qn_smtp *s = NULL;
    struct qn_error err;
    enum qn_status r;
    int listener, status = 0;
    pid_t child;

    (void)reference;
    listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(listener >= 0);
    assert_int_equal(bind(listener, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(listener, 1), 0);
    assert_int_equal(getsockname(listener, (struct sockaddr *)&sa, &sl), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0)
        serve_one(listener);
    close(listener);

    memset(&opt, 0, sizeof opt);
    opt.host = "127.0.0.1";
    opt.port = ntohs(sa.sin_port);
    opt.tls = QN_TLS_IMPLICIT;
    opt.timeout_s = 10;
    opt.helo_name = "allocfail.test";
    opt.tls_opts.ca_file = server_ca;
    opt.tls_opts.verify = true;
    qn_error_clear(&err);
    r = qn_smtp_open(&s, &opt, &err);
    if (r == QN_OK)
        r = qn_smtp_auth(s, "a@example.com", "secret-code", 11, &err);
    if (r == QN_OK)
        r = qn_smtp_send(s, "a@example.com", rcpt, 2, msg, strlen(msg), &err);
    if (r == QN_OK)
        qn_smtp_quit(s, &err);
    s = qn_smtp_close(s);

    /* The client is done: the server has nothing more to say (it may still wait for a
     * connection that never came). */
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    /* An allocation OpenSSL could not make fails its handshake or record layer: QN_ETLS
     * is what the caller sees then, or a closed connection on the other side. */
    if ((r == QN_ETLS || r == QN_EEOF) && eio_explained("OPENSSL_"))
        return QN_ENOMEM;
    if (r != QN_OK && r != QN_ENOMEM)
        snprintf(bad, 256, "status %s (%.150s) at stage %s", qn_strerror(r), err.detail,
                 qn_stage_name(err.stage));
    return r;
}

/* ---- the sweep ---------------------------------------------------------------------------- */

static bool allowed(const struct scenario *sc, enum qn_status r)
{
    for (size_t i = 0;; i++) {
        if (sc->allowed[i] == r)
            return true;
        if (sc->allowed[i] == QN_OK)
            return false;
    }
}

/* Who made allocation N of the failure-free run (CORE or OPENSSL), for sampling. */
#define ORIGINS_MAX 65536
static unsigned char *origins;

/*
 * OpenSSL's own allocations are many (a TLS session makes thousands) and its failure
 * paths are OpenSSL's to test: by default every core allocation fails in turn but only
 * every OPENSSL_STRIDE-th of OpenSSL's.  QN_ALLOCFAIL_FULL=1 fails every one (minutes).
 */
#define OPENSSL_STRIDE 25

/* One run with failure at FAIL_AT (0: none).  Returns the allocations the run made. */
static unsigned long run_once(const struct scenario *sc, unsigned long fail_at, bool persistent,
                              bool reference)
{
    size_t fds = count_fds(), live_core = trk.live[CORE], live_ossl = trk.live[OPENSSL];
    unsigned long since = trk.next_seq;
    char bad[256] = "";
    enum qn_status r;
    unsigned long count;
    const char *failed;

    ERR_clear_error();
    memset(&inj, 0, sizeof inj);
    inj.origins = origins;
    inj.n_origins = origins != NULL ? ORIGINS_MAX : 0;
    inj.fail_at = fail_at;
    inj.persistent = persistent;
    inj.active = true;
    r = sc->run(reference, bad);
    inj.active = false;
    count = inj.count;
    failed = inj.first_failed;
    ERR_clear_error();
    if (sc->cleanup != NULL)
        sc->cleanup();

    if (bad[0] != '\0')
        fail_msg("%s: N=%lu (%s, %s failed): %s", sc->name, fail_at, persistent ? "from" : "once",
                 failed ? failed : "nothing", bad);
    if (!allowed(sc, r))
        fail_msg("%s: N=%lu (%s, %s failed): unexpected status %d (%s)", sc->name, fail_at,
                 persistent ? "from" : "once", failed ? failed : "nothing", (int)r, qn_strerror(r));
    if (reference && r != QN_OK)
        fail_msg("%s: fails without any injected failure: %s", sc->name, qn_strerror(r));
    if (trk.live[CORE] != live_core)
        track_report(CORE, since);
    if (!reference && trk.live[OPENSSL] > live_ossl)
        track_report(OPENSSL, since);
    if (trk.live[CORE] != live_core)
        fail_msg("%s: N=%lu (%s, %s failed): %zd core block(s) leaked", sc->name, fail_at,
                 persistent ? "from" : "once", failed ? failed : "nothing",
                 (ssize_t)(trk.live[CORE] - live_core));
    /* The failure-free first run sets up OpenSSL's lasting state (DRBG, providers). */
    if (!reference && trk.live[OPENSSL] > live_ossl)
        fail_msg("%s: N=%lu (%s, %s failed): %zu OpenSSL block(s) leaked", sc->name, fail_at,
                 persistent ? "from" : "once", failed ? failed : "nothing",
                 trk.live[OPENSSL] - live_ossl);
    if (count_fds() != fds)
        fail_msg("%s: N=%lu (%s, %s failed): file descriptor leaked", sc->name, fail_at,
                 persistent ? "from" : "once", failed ? failed : "nothing");
    /* LeakSanitizer scans the whole heap: every 16th run (and at the end of a sweep). */
    if (__lsan_do_recoverable_leak_check != NULL && (fail_at % 16 == 0 || reference) &&
        __lsan_do_recoverable_leak_check() != 0)
        fail_msg("%s: N<=%lu (%s): LeakSanitizer found a leak", sc->name, fail_at,
                 persistent ? "from" : "once");
    return count;
}

static void sweep(const struct scenario *sc)
{
    const char *full_env = getenv("QN_ALLOCFAIL_FULL");
    bool full = full_env != NULL && strcmp(full_env, "1") == 0;
    unsigned long total, n, injected = 0, core = 0, sampled = 0;

    if (origins == NULL)
        origins = __real_calloc(ORIGINS_MAX, 1);
    assert_non_null(origins);
    if (sc->setup != NULL)
        sc->setup();
    /* Twice without failures: the reference, and OpenSSL's lazy one-time state; the
     * second run records who makes each allocation. */
    run_once(sc, 0, false, true);
    memset(origins, CORE, ORIGINS_MAX);
    total = run_once(sc, 0, false, false);
    if (total == 0)
        fail_msg("%s: no allocation seen: the wrappers are not in effect", sc->name);
    for (n = 1; n <= total && n < ORIGINS_MAX; n++)
        core += origins[n] == CORE;
    for (int persistent = 0; persistent <= 1; persistent++) {
        for (n = 1;; n++) {
            unsigned long seen;

            if (!full && n < ORIGINS_MAX && n <= total && origins[n] == OPENSSL &&
                n % OPENSSL_STRIDE != 0) {
                sampled++;
                continue;
            }
            seen = run_once(sc, n, persistent, false);
            if (seen < n)
                break; /* the run no longer reaches an Nth allocation */
            injected++;
            if (n > 100000)
                fail_msg("%s: more than 100000 allocations", sc->name);
        }
    }
    if (__lsan_do_recoverable_leak_check != NULL && __lsan_do_recoverable_leak_check() != 0)
        fail_msg("%s: LeakSanitizer found a leak in the last runs of the sweep", sc->name);
    print_message("allocfail: %-22s N = 1..%lu (%lu core, %lu OpenSSL allocations), failed once "
                  "and from N on: %lu runs clean%s\n",
                  sc->name, total, core, total - core, injected,
                  sampled == 0 ? "" : " (OpenSSL's sampled 1 in 25; QN_ALLOCFAIL_FULL=1 for all)");
}

#define SCENARIO_TEST(fn, ...)                                                                     \
    static void test_allocation_failures_##fn(void **state)                                        \
    {                                                                                              \
        static const struct scenario sc = {.name = #fn, __VA_ARGS__};                              \
        (void)state;                                                                               \
        sweep(&sc);                                                                                \
    }

SCENARIO_TEST(mime, .run = run_mime, .allowed = only_nomem)
SCENARIO_TEST(mime_random_ids, .run = run_mime_random, .allowed = nomem_or_eio)
SCENARIO_TEST(reply_diagnosis, .run = run_reply, .allowed = only_nomem)
SCENARIO_TEST(config_load, .setup = setup_config, .run = run_config, .allowed = only_nomem)
SCENARIO_TEST(credentials, .setup = setup_cred, .run = run_cred, .allowed = only_nomem)
SCENARIO_TEST(event, .run = run_event, .allowed = only_nomem)
SCENARIO_TEST(spool_round_trip, .setup = setup_spool, .cleanup = cleanup_spool, .run = run_spool,
              .allowed = nomem_or_eio)
SCENARIO_TEST(queue_manager, .setup = setup_spool, .cleanup = cleanup_spool, .run = run_qmgr,
              .allowed = nomem_or_eio)
SCENARIO_TEST(sendmail_header, .run = run_header, .allowed = nomem_or_eio)
SCENARIO_TEST(alert_render_mime_data, .run = run_alert, .allowed = only_nomem)

SCENARIO_TEST(smtp_session, .setup = setup_smtp, .run = run_smtp, .allowed = only_nomem)

static void test_allocation_failures_journal_rules(void **state)
{
    static const struct scenario sc = {
        .name = "journal_rules", .run = run_rules, .allowed = only_nomem};

    (void)state;
    if (qn_rules_new == NULL)
        fail_msg("the rules engine is not linked in: build this test through tests/fuzz/module.mk");
    sweep(&sc);
}

static int setup_group(void **state)
{
    (void)state;
    snprintf(workdir, sizeof workdir, "/tmp/qn-test-allocfail-XXXXXX");
    return mkdtemp(workdir) != NULL ? 0 : -1;
}

static int teardown_group(void **state)
{
    (void)state;
    return nftw(workdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allocation_failures_mime),
        cmocka_unit_test(test_allocation_failures_mime_random_ids),
        cmocka_unit_test(test_allocation_failures_reply_diagnosis),
        cmocka_unit_test(test_allocation_failures_config_load),
        cmocka_unit_test(test_allocation_failures_credentials),
        cmocka_unit_test(test_allocation_failures_event),
        cmocka_unit_test(test_allocation_failures_spool_round_trip),
        cmocka_unit_test(test_allocation_failures_queue_manager),
        cmocka_unit_test(test_allocation_failures_sendmail_header),
        cmocka_unit_test(test_allocation_failures_alert_render_mime_data),
        cmocka_unit_test(test_allocation_failures_journal_rules),
        cmocka_unit_test(test_allocation_failures_smtp_session),
    };

    if (__real_malloc == NULL || __real_free == NULL || __real_iconv_open == NULL ||
        __real_fdopendir == NULL) {
        fprintf(stderr, "test_allocfail: linked without -Wl,--wrap=malloc,...: the sweep cannot "
                        "inject failures.  Link it through tests/fuzz/module.mk (add it to the "
                        "Makefile's include list).\n");
        printf("[  FAILED  ] 1 test(s), listed below:\n");
        return 1;
    }
    /* Before OpenSSL allocates anything: its allocations come here too. */
    if (CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free) != 1) {
        fprintf(stderr, "test_allocfail: CRYPTO_set_mem_functions failed: OpenSSL allocated "
                        "before main()\n");
        printf("[  FAILED  ] 1 test(s), listed below:\n");
        return 1;
    }
    /* OpenSSL's one-time state before any count starts: the thread's error queue and the
     * data buffer of each of its slots, which ERR_clear_error() keeps for reuse. */
    for (int i = 0; i < 2 * ERR_NUM_ERRORS; i++)
        ERR_raise_data(ERR_LIB_USER, ERR_R_INTERNAL_ERROR, "warm-up %d", i);
    ERR_clear_error();
    return cmocka_run_group_tests(tests, setup_group, teardown_group);
}
