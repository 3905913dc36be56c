/*
 * Unit tests for the spool's two halves, common/enqueue.c (the producers)
 * and common/spool.c (the sender's reader and moves), together: what one
 * writes the other must read.  The entry format byte for byte, round
 * trips, escaping, corrupt and truncated entries, bounds, symlinks and
 * planted files, modes under any umask, the queue moves, the sender lock,
 * state files and tmp/ cleanup.  Every test works in its own mkdtemp
 * directory and removes it.
 *
 * getrandom() and clock_gettime() are replaced below so that a test can
 * know the next entry id in advance (to plant a file under that name);
 * unless a test switches the fakes on they call the kernel as usual.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "enqueue.h"
#include "spool.h"

#define BYTES(s) (s), (sizeof(s) - 1)

/* ---- deterministic ids on request ---- */

struct fake_clock_random {
    bool on;
    struct timespec now;
    unsigned char random[8];
};

/* Test-only switch for the two replacements below (the library has no globals). */
static struct fake_clock_random fake;

ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
    size_t i;

    if (!fake.on)
        return (ssize_t)syscall(SYS_getrandom, buf, len, flags);
    for (i = 0; i < len; i++)
        ((unsigned char *)buf)[i] = fake.random[i % sizeof(fake.random)];
    return (ssize_t)len;
}

int clock_gettime(clockid_t clock, struct timespec *ts)
{
    if (fake.on && clock == CLOCK_REALTIME) {
        *ts = fake.now;
        return 0;
    }
    return (int)syscall(SYS_clock_gettime, clock, ts);
}

/* ---- fixture and file helpers ---- */

struct fixture {
    char root[64]; /* mkdtemp; holds the spool and files outside it */
    char dir[128]; /* root/spool */
    struct qn_spool *sp;
};

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    strcpy(f->root, "/tmp/qqnotify-spool-test-XXXXXX");
    if (mkdtemp(f->root) == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/spool", f->root);
    if (mkdir(f->dir, 0750) != 0)
        return -1;
    if (qn_spool_open(f->dir, QN_SPOOL_CREATE, 0, &f->sp) != QN_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    fake.on = false;
    qn_spool_close(f->sp);
    /* FTW_PHYS: planted symlinks are removed, never followed. */
    nftw(f->root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void path_of(const struct fixture *f, char *out, size_t n, const char *sub, const char *name)
{
    int len = snprintf(out, n, "%s/%s%s%s", f->dir, sub, name != NULL ? "/" : "",
                       name != NULL ? name : "");

    assert_true(len > 0 && (size_t)len < n);
}

/* Whole file at PATH into a new heap buffer (NUL-terminated). */
static char *slurp(const char *path, size_t *ret_len)
{
    struct stat st;
    char *data;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    data = malloc((size_t)st.st_size + 1);
    assert_non_null(data);
    assert_int_equal(read(fd, data, (size_t)st.st_size), st.st_size);
    data[st.st_size] = '\0';
    close(fd);
    *ret_len = (size_t)st.st_size;
    return data;
}

static void spit(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(close(fd), 0);
}

/* Number of directory entries in PATH, "." and ".." aside. */
static size_t count_path(const char *path)
{
    struct dirent *de;
    size_t n = 0;
    DIR *d = opendir(path);

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    }
    closedir(d);
    return n;
}

/* The same for spool subdirectory SUB. */
static size_t count(const struct fixture *f, const char *sub)
{
    char path[512];

    path_of(f, path, sizeof(path), sub, NULL);
    return count_path(path);
}

static bool exists(const struct fixture *f, const char *sub, const char *name)
{
    char path[512];
    struct stat st;

    path_of(f, path, sizeof(path), sub, name);
    return lstat(path, &st) == 0;
}

static void make_event(struct qn_event *ev)
{
    qn_event_init(ev, "login");
    ev->time = 1764180000;
    qn_event_set_host(ev, "web1");
    assert_int_equal(qn_event_set(ev, "user", "root"), QN_OK);
    assert_int_equal(qn_event_set(ev, "rhost", "203.0.113.9"), QN_OK);
}

/* A message whose body holds every trap: NULs, CRLF, a dot line, a fake "end"
 * line and a whole fake entry. */
static const char trap_message[] = "From: a@x\r\nSubject: hi\r\n\r\nline\0with NUL\r\n.\r\n"
                                   "end\nsize 0\nqqnotify-spool 1\ntype event\n\xff\xfe\x01";
#define TRAP_LEN (sizeof(trap_message) - 1)

static const char *const two_rcpt[] = {"ops@example.com", "a%b@x"};

static void put_trap(const struct fixture *f, char *id)
{
    assert_int_equal(
        qn_enqueue_message(f->dir, "root@web1", two_rcpt, 2, trap_message, TRAP_LEN, 0, id), QN_OK);
}

/* Any valid id, for files the tests plant by hand. */
#define PLANT_ID "1700000000.000001.42.00112233445566ff"

static enum qn_status load_planted(struct fixture *f, const void *data, size_t len)
{
    struct qn_spool_entry e;
    enum qn_status r;
    char path[512];

    path_of(f, path, sizeof(path), "new", PLANT_ID);
    spit(path, data, len);
    memset(&e, 0, sizeof(e));
    r = qn_spool_load(f->sp, QN_SPOOL_NEW, PLANT_ID, 0, &e);
    qn_spool_entry_clear(&e);
    return r;
}

static void assert_clean(const char *s)
{
    for (; *s != '\0'; s++)
        assert_false((unsigned char)*s < 0x20 || *s == 0x7f);
}

/* ---- ids ---- */

static void test_id_validation_is_strict(void **state)
{
    static const char *const good[] = {
        "1764180000.000000.1.0123456789abcdef",
        "0.999999.4294967295.ffffffffffffffff",
        "18446744073709551615.123456.7.0000000000000000",
    };
    static const char *const bad[] = {
        "",
        ".",
        "..",
        "../1764180000.000000.1.0123456789abcdef",
        "1764180000.000000.1.0123456789abcdef/",
        "1764180000.000000.1.0123456789ABCDEF",
        "1764180000.000000.1.0123456789abcde",
        "1764180000.000000.1.0123456789abcdef0",
        "1764180000.00000.1.0123456789abcdef",
        "1764180000.0000000.1.0123456789abcdef",
        "01764180000.000000.1.0123456789abcdef",
        "1764180000.000000.01.0123456789abcdef",
        "1764180000.000000..0123456789abcdef",
        "1764180000..000000.1.0123456789abcdef",
        "1764180000.000000.1.0123456789abcdef.reason",
        "1764180000.000000.12345678901.0123456789abcdef",
        "123456789012345678901.000000.1.0123456789abcdef",
        "1764180000.000000.1.0123456789abcdeg",
        "-1.000000.1.0123456789abcdef",
        "1764180000.000000.1.0123456789abcd\nf",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(qn_spool_id_valid(good[i]));
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (qn_spool_id_valid(bad[i]))
            fail_msg("\"%s\" accepted", bad[i]);
    }
    assert_false(qn_spool_id_valid(NULL));
}

static void test_id_is_time_microseconds_pid_random(void **state)
{
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX], want[QN_SPOOL_ID_MAX];
    struct qn_event ev;

    make_event(&ev);
    fake.on = true;
    fake.now.tv_sec = 1764180000;
    fake.now.tv_nsec = 42999;
    memcpy(fake.random, "\x01\x23\x45\x67\x89\xab\xcd\xef", 8);
    assert_int_equal(qn_enqueue_event(f->dir, &ev, 0, id), QN_OK);
    fake.on = false;
    snprintf(want, sizeof(want), "1764180000.000042.%ld.0123456789abcdef", (long)getpid());
    assert_string_equal(id, want);
    assert_true(exists(f, "new", want));
}

static void test_ids_are_unique_and_listed_oldest_first(void **state)
{
    struct fixture *f = *state;
    char ids[30][QN_SPOOL_ID_MAX], listed[40][QN_SPOOL_ID_MAX];
    size_t i, j, n, total;
    struct qn_event ev;

    make_event(&ev);
    for (i = 0; i < 30; i++)
        assert_int_equal(qn_enqueue_event(f->dir, &ev, 0, ids[i]), QN_OK);
    for (i = 0; i < 30; i++) {
        assert_true(qn_spool_id_valid(ids[i]));
        for (j = 0; j < i; j++)
            assert_string_not_equal(ids[i], ids[j]);
    }
    /* Same pid, same second length: the order of creation is the string order. */
    qsort(ids, 30, sizeof(ids[0]), (int (*)(const void *, const void *))strcmp);
    assert_int_equal(qn_spool_list(f->sp, QN_SPOOL_NEW, listed, 40, &n, &total), QN_OK);
    assert_int_equal(n, 30);
    assert_int_equal(total, 30);
    for (i = 0; i < 30; i++)
        assert_string_equal(listed[i], ids[i]);

    /* Bounded: the 5 oldest, and the true total. */
    assert_int_equal(qn_spool_list(f->sp, QN_SPOOL_NEW, listed, 5, &n, &total), QN_OK);
    assert_int_equal(n, 5);
    assert_int_equal(total, 30);
    for (i = 0; i < 5; i++)
        assert_string_equal(listed[i], ids[i]);
    assert_int_equal(qn_spool_list(f->sp, QN_SPOOL_NEW, NULL, 0, &n, &total), QN_OK);
    assert_int_equal(n, 0);
    assert_int_equal(total, 30);
}

static void test_list_compares_seconds_as_numbers_and_skips_other_names(void **state)
{
    static const char *const planted[] = {
        "1000.000000.1.0000000000000000",
        "999.000001.1.0000000000000000",
        "999.000000.22.0000000000000000",
        "10000.000000.1.0000000000000000",
    };
    static const char *const want[] = {
        "999.000000.22.0000000000000000",
        "999.000001.1.0000000000000000",
        "1000.000000.1.0000000000000000",
        "10000.000000.1.0000000000000000",
    };
    struct fixture *f = *state;
    char path[512], listed[8][QN_SPOOL_ID_MAX];
    size_t i, n, total;

    for (i = 0; i < 4; i++) {
        path_of(f, path, sizeof(path), "failed", planted[i]);
        spit(path, "x", 1);
    }
    path_of(f, path, sizeof(path), "failed", "999.000000.22.0000000000000000.reason");
    spit(path, "x\n", 2);
    path_of(f, path, sizeof(path), "failed", "README");
    spit(path, "x\n", 2);
    assert_int_equal(qn_spool_list(f->sp, QN_SPOOL_FAILED, listed, 8, &n, &total), QN_OK);
    assert_int_equal(n, 4);
    assert_int_equal(total, 4);
    for (i = 0; i < 4; i++)
        assert_string_equal(listed[i], want[i]);
    /* The newest drop off a short list. */
    assert_int_equal(qn_spool_list(f->sp, QN_SPOOL_FAILED, listed, 2, &n, NULL), QN_OK);
    assert_int_equal(n, 2);
    assert_string_equal(listed[0], want[0]);
    assert_string_equal(listed[1], want[1]);
}

/* ---- format and round trips ---- */

static void test_message_entry_has_the_documented_bytes(void **state)
{
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX], path[512], head[1024];
    struct qn_spool_entry e;
    time_t before = time(NULL);
    size_t len, hlen;
    char *raw;

    put_trap(f, id);
    memset(&e, 0, sizeof(e));
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_NEW, id, 0, &e), QN_OK);
    assert_true(e.queued >= before && e.queued <= time(NULL));
    /* A system entry (this process wrote new/ itself) of the user lane (a message). */
    hlen = (size_t)snprintf(head, sizeof(head),
                            "qqnotify-spool 2\ntype message\norigin system\nuid %u\nlane 2\n"
                            "queued %lld\nattempts 0\nnext-try 0\nlast-error \ndiagnosis \n"
                            "sender root@web1\nrcpt ops@example.com\nrcpt a%%25b@x\nsize %zu\n"
                            "end\n",
                            (unsigned)geteuid(), e.queued, TRAP_LEN);
    assert_int_equal(e.origin, QN_ORIGIN_SYSTEM);
    assert_int_equal(e.lane, QN_LANE_USER);
    assert_true(e.uid == (unsigned long long)geteuid());
    assert_true(e.owner == (unsigned long long)geteuid());
    path_of(f, path, sizeof(path), "new", id);
    raw = slurp(path, &len);
    assert_int_equal(len, hlen + TRAP_LEN);
    assert_memory_equal(raw, head, hlen);
    assert_memory_equal(raw + hlen, trap_message, TRAP_LEN);
    free(raw);
    qn_spool_entry_clear(&e);
}

static void test_message_round_trip_keeps_every_byte(void **state)
{
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX], listed[4][QN_SPOOL_ID_MAX];
    struct qn_spool_entry e;
    size_t n;

    put_trap(f, id);
    assert_int_equal(count(f, "tmp"), 0);
    assert_int_equal(qn_spool_list(f->sp, QN_SPOOL_NEW, listed, 4, &n, NULL), QN_OK);
    assert_int_equal(n, 1); /* the fake entry inside the body forged nothing */
    memset(&e, 0, sizeof(e));
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_NEW, id, 0, &e), QN_OK);
    assert_string_equal(e.id, id);
    assert_int_equal(e.type, QN_SPOOL_MESSAGE);
    assert_int_equal(e.attempts, 0);
    assert_true(e.next_try == 0);
    assert_string_equal(e.last_error, "");
    assert_string_equal(e.diagnosis, "");
    assert_string_equal(e.sender, "root@web1");
    assert_int_equal(e.n_rcpt, 2);
    assert_string_equal(e.rcpt[0], "ops@example.com");
    assert_string_equal(e.rcpt[1], "a%b@x");
    assert_int_equal(e.message_len, TRAP_LEN);
    assert_memory_equal(e.message, trap_message, TRAP_LEN);
    assert_int_equal(e.message[e.message_len], '\0');
    qn_spool_entry_clear(&e);
    assert_null(e.message);
    qn_spool_entry_clear(NULL);
}

static void test_empty_message_and_null_sender_round_trip(void **state)
{
    struct fixture *f = *state;
    static const char *const one[] = {"root"};
    char id[QN_SPOOL_ID_MAX];
    struct qn_spool_entry e;

    assert_int_equal(qn_enqueue_message(f->dir, NULL, one, 1, NULL, 0, 0, id), QN_OK);
    memset(&e, 0, sizeof(e));
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_NEW, id, 0, &e), QN_OK);
    assert_string_equal(e.sender, "");
    assert_string_equal(e.rcpt[0], "root");
    assert_int_equal(e.message_len, 0);
    assert_non_null(e.message);
    qn_spool_entry_clear(&e);
}

static void test_event_entry_has_the_documented_bytes_and_round_trips(void **state)
{
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX], path[512], head[512];
    struct qn_spool_entry e;
    struct qn_event ev;
    struct qn_buf form;
    size_t len, hlen;
    char *raw;

    make_event(&ev);
    qn_event_set_subject(&ev, "end\nsize 0");
    assert_int_equal(qn_enqueue_event(f->dir, &ev, 0, id), QN_OK);
    memset(&e, 0, sizeof(e));
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_NEW, id, 0, &e), QN_OK);
    assert_int_equal(e.type, QN_SPOOL_EVENT);
    assert_null(e.message);
    assert_string_equal(e.event.kind, "login");
    assert_true(e.event.time == 1764180000);
    assert_string_equal(e.event.host, "web1");
    assert_string_equal(e.event.subject, "end size 0");
    assert_int_equal(e.event.n_fields, 2);
    assert_string_equal(qn_event_get(&e.event, "rhost"), "203.0.113.9");

    qn_buf_init(&form, 65536);
    assert_int_equal(qn_event_write(&ev, &form), QN_OK);
    /* A login: lane 0. */
    assert_int_equal(e.lane, QN_LANE_LOGIN);
    hlen = (size_t)snprintf(head, sizeof(head),
                            "qqnotify-spool 2\ntype event\norigin system\nuid %u\nlane 0\n"
                            "queued %lld\nattempts 0\nnext-try 0\nlast-error \ndiagnosis \n"
                            "size %zu\nend\n",
                            (unsigned)geteuid(), e.queued, form.len);
    path_of(f, path, sizeof(path), "new", id);
    raw = slurp(path, &len);
    assert_int_equal(len, hlen + form.len);
    assert_memory_equal(raw, head, hlen);
    assert_memory_equal(raw + hlen, form.data, form.len);
    free(raw);
    qn_buf_free(&form);
    qn_spool_entry_clear(&e);
}

/* qn_enqueue_event_nowait writes the same entry, with the same mode, as qn_enqueue_event
 * (it only does not wait for the disk; tests/pam checks which calls each makes). */
static void test_nowait_event_entry_is_the_same_entry(void **state)
{
    struct fixture *f = *state;
    char id1[QN_SPOOL_ID_MAX], id2[QN_SPOOL_ID_MAX], path[512];
    struct qn_spool_entry e1, e2;
    struct qn_event ev;
    struct stat st;
    size_t len1, len2;
    char *raw1, *raw2;

    make_event(&ev);
    assert_int_equal(qn_enqueue_event(f->dir, &ev, 0, id1), QN_OK);
    assert_int_equal(qn_enqueue_event_nowait(f->dir, &ev, 0, id2), QN_OK);
    assert_string_not_equal(id1, id2);
    memset(&e1, 0, sizeof(e1));
    memset(&e2, 0, sizeof(e2));
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_NEW, id1, 0, &e1), QN_OK);
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_NEW, id2, 0, &e2), QN_OK);
    path_of(f, path, sizeof(path), "new", id2);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, QN_SPOOL_FILE_MODE);
    raw2 = slurp(path, &len2);
    path_of(f, path, sizeof(path), "new", id1);
    raw1 = slurp(path, &len1);
    if (e1.queued == e2.queued) { /* the same second: the same bytes */
        assert_int_equal(len1, len2);
        assert_memory_equal(raw1, raw2, len1);
    }
    assert_string_equal(e2.event.kind, e1.event.kind);
    assert_int_equal(e2.event.n_fields, e1.event.n_fields);
    assert_string_equal(qn_event_get(&e2.event, "rhost"), "203.0.113.9");
    assert_int_equal(qn_enqueue_event_nowait("/nonexistent/qqnotify-spool", &ev, 0, NULL),
                     QN_ENOTFOUND);
    assert_int_equal(qn_enqueue_event_nowait(f->dir, &ev, 16, NULL), QN_ETOOBIG);
    free(raw1);
    free(raw2);
    qn_spool_entry_clear(&e1);
    qn_spool_entry_clear(&e2);
}

static void test_envelope_is_checked(void **state)
{
    struct fixture *f = *state;
    static const char *const cr[] = {"a@x\r\nRCPT TO:<evil@y>"};
    static const char *const blank[] = {"a b@x"};
    static const char *const angle[] = {"<a@x>"};
    static const char *const empty[] = {""};
    static const char *const null[] = {NULL};
    const char *many[QN_SPOOL_RCPT_MAX + 1];
    char longest[QN_SPOOL_ADDRESS_MAX + 1];
    const char *lp[] = {longest};
    size_t i;

    assert_int_equal(qn_enqueue_message(f->dir, "a@x", cr, 1, "m", 1, 0, NULL), QN_EINVAL);
    assert_int_equal(qn_enqueue_message(f->dir, "a@x", blank, 1, "m", 1, 0, NULL), QN_EINVAL);
    assert_int_equal(qn_enqueue_message(f->dir, "a@x", angle, 1, "m", 1, 0, NULL), QN_EINVAL);
    assert_int_equal(qn_enqueue_message(f->dir, "a@x", empty, 1, "m", 1, 0, NULL), QN_EINVAL);
    assert_int_equal(qn_enqueue_message(f->dir, "a@x", null, 1, "m", 1, 0, NULL), QN_EINVAL);
    assert_int_equal(qn_enqueue_message(f->dir, "a@x", two_rcpt, 0, "m", 1, 0, NULL), QN_EINVAL);
    assert_int_equal(qn_enqueue_message(f->dir, "a\n@x", two_rcpt, 2, "m", 1, 0, NULL), QN_EINVAL);
    assert_int_equal(qn_enqueue_message(f->dir, "a@x", two_rcpt, 2, NULL, 1, 0, NULL), QN_EINVAL);
    for (i = 0; i <= QN_SPOOL_RCPT_MAX; i++)
        many[i] = "r@x";
    assert_int_equal(qn_enqueue_message(f->dir, "", many, QN_SPOOL_RCPT_MAX + 1, "m", 1, 0, NULL),
                     QN_ETOOBIG);
    memset(longest, 'a', sizeof(longest));
    longest[QN_SPOOL_ADDRESS_MAX] = '\0';
    assert_int_equal(qn_enqueue_message(f->dir, "", lp, 1, "m", 1, 0, NULL), QN_ETOOBIG);
    assert_int_equal(count(f, "new") + count(f, "tmp"), 0);

    longest[QN_SPOOL_ADDRESS_MAX - 1] = '\0';
    assert_int_equal(qn_enqueue_message(f->dir, "", lp, 1, "m", 1, 0, NULL), QN_OK);
    assert_int_equal(qn_enqueue_message(f->dir, "", many, QN_SPOOL_RCPT_MAX, "m", 1, 0, NULL),
                     QN_OK);
    assert_int_equal(count(f, "new"), 2);
}

static void test_entry_size_bound_is_exact(void **state)
{
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX], path[512];
    struct qn_spool_entry e;
    struct stat st;

    put_trap(f, id);
    path_of(f, path, sizeof(path), "new", id);
    assert_int_equal(stat(path, &st), 0);
    /* The same entry with the bound at its exact size fits; one byte less does not. */
    assert_int_equal(qn_enqueue_message(f->dir, "root@web1", two_rcpt, 2, trap_message, TRAP_LEN,
                                        (size_t)st.st_size, NULL),
                     QN_OK);
    assert_int_equal(qn_enqueue_message(f->dir, "root@web1", two_rcpt, 2, trap_message, TRAP_LEN,
                                        (size_t)st.st_size - 1, NULL),
                     QN_ETOOBIG);
    assert_int_equal(count(f, "new"), 2);
    assert_int_equal(count(f, "tmp"), 0);

    memset(&e, 0, sizeof(e));
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_NEW, id, (size_t)st.st_size - 1, &e),
                     QN_ETOOBIG);
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_NEW, id, (size_t)st.st_size, &e), QN_OK);
    qn_spool_entry_clear(&e);

    {
        struct qn_event ev;

        make_event(&ev);
        assert_int_equal(qn_enqueue_event(f->dir, &ev, 64, NULL), QN_ETOOBIG);
    }
}

/* ---- corrupt entries ---- */

static void assert_every_cut_is_refused(struct fixture *f, const char *id)
{
    char path[512];
    size_t len, k;
    char *raw, *longer;

    path_of(f, path, sizeof(path), "new", id);
    raw = slurp(path, &len);
    assert_int_equal(load_planted(f, raw, len), QN_OK);
    for (k = 0; k < len; k++) {
        if (load_planted(f, raw, k) != QN_EINVAL)
            fail_msg("entry cut to %zu of %zu bytes was not refused", k, len);
    }
    longer = malloc(len + 1);
    assert_non_null(longer);
    memcpy(longer, raw, len);
    longer[len] = '\n';
    assert_int_equal(load_planted(f, longer, len + 1), QN_EINVAL);
    free(longer);
    free(raw);
}

static void test_every_truncation_of_a_message_entry_is_detected(void **state)
{
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX];

    put_trap(f, id);
    assert_every_cut_is_refused(f, id);
}

static void test_every_truncation_of_an_event_entry_is_detected(void **state)
{
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX];
    struct qn_event ev;

    make_event(&ev);
    assert_int_equal(qn_enqueue_event(f->dir, &ev, 0, id), QN_OK);
    assert_every_cut_is_refused(f, id);
}

static void test_malformed_headers_are_refused(void **state)
{
    static const char *const bad[] = {
        "qqnotify-spool 2\ntype event\nqueued 1\nattempts 0\nnext-try 0\nlast-error \n"
        "diagnosis \nsize 0\nend\n",
        "qqnotify-spool 1\ntype mail\nqueued 1\nattempts 0\nnext-try 0\nlast-error \n"
        "diagnosis \nsize 0\nend\n",
        /* lines out of order */
        "qqnotify-spool 1\ntype event\nattempts 0\nqueued 1\nnext-try 0\nlast-error \n"
        "diagnosis \nsize 0\nend\n",
        /* leading zero, sign, blank */
        "qqnotify-spool 1\ntype event\nqueued 01\nattempts 0\nnext-try 0\nlast-error \n"
        "diagnosis \nsize 0\nend\n",
        "qqnotify-spool 1\ntype event\nqueued 1\nattempts -1\nnext-try 0\nlast-error \n"
        "diagnosis \nsize 0\nend\n",
        "qqnotify-spool 1\ntype event\nqueued 1\nattempts 0\nnext-try 0 \nlast-error \n"
        "diagnosis \nsize 0\nend\n",
        /* attempts beyond unsigned */
        "qqnotify-spool 1\ntype event\nqueued 1\nattempts 4294967296\nnext-try 0\n"
        "last-error \ndiagnosis \nsize 0\nend\n",
        /* missing diagnosis */
        "qqnotify-spool 1\ntype event\nqueued 1\nattempts 0\nnext-try 0\nlast-error \n"
        "size 0\nend\n",
        /* raw control byte and bad escape in last-error */
        "qqnotify-spool 1\ntype event\nqueued 1\nattempts 0\nnext-try 0\nlast-error a\tb\n"
        "diagnosis \nsize 0\nend\n",
        "qqnotify-spool 1\ntype event\nqueued 1\nattempts 0\nnext-try 0\nlast-error %0\n"
        "diagnosis \nsize 0\nend\n",
        /* an event's payload must be an event */
        "qqnotify-spool 1\ntype event\nqueued 1\nattempts 0\nnext-try 0\nlast-error \n"
        "diagnosis \nsize 0\nend\n",
        "qqnotify-spool 1\ntype event\nqueued 1\nattempts 0\nnext-try 0\nlast-error \n"
        "diagnosis \nsize 7\nend\nkind a\n",
        /* a message needs a recipient, and good addresses */
        "qqnotify-spool 1\ntype message\nqueued 1\nattempts 0\nnext-try 0\nlast-error \n"
        "diagnosis \nsender \nsize 0\nend\n",
        "qqnotify-spool 1\ntype message\nqueued 1\nattempts 0\nnext-try 0\nlast-error \n"
        "diagnosis \nsender \nrcpt a%0Ab\nsize 0\nend\n",
        "qqnotify-spool 1\ntype message\nqueued 1\nattempts 0\nnext-try 0\nlast-error \n"
        "diagnosis \nsender a%20b\nrcpt r\nsize 0\nend\n",
        "qqnotify-spool 1\ntype message\nqueued 1\nattempts 0\nnext-try 0\nlast-error \n"
        "diagnosis \nsender \nrcpt \nsize 0\nend\n",
        /* envelope lines in an event */
        "qqnotify-spool 1\ntype event\nqueued 1\nattempts 0\nnext-try 0\nlast-error \n"
        "diagnosis \nsender \nsize 0\nend\n",
        /* CRLF line ends */
        "qqnotify-spool 1\r\ntype event\r\nqueued 1\r\nattempts 0\r\nnext-try 0\r\n"
        "last-error \r\ndiagnosis \r\nsize 0\r\nend\r\n",
        "",
        "garbage",
    };
    struct fixture *f = *state;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (load_planted(f, bad[i], strlen(bad[i])) != QN_EINVAL)
            fail_msg("case %zu was not refused", i);
    }
}

static void test_escaped_control_bytes_in_a_hand_written_entry_come_back_clean(void **state)
{
    static const char text[] = "qqnotify-spool 1\ntype message\nqueued 1\nattempts 3\n"
                               "next-try 99\nlast-error 421%0D%0Aend%0Asize 0\n"
                               "diagnosis qq%00x\nsender \nrcpt r@x\nsize 2\nend\nhi";
    struct fixture *f = *state;
    struct qn_spool_entry e;
    char path[512];

    path_of(f, path, sizeof(path), "new", PLANT_ID);
    spit(path, BYTES(text));
    memset(&e, 0, sizeof(e));
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_NEW, PLANT_ID, 0, &e), QN_OK);
    assert_int_equal(e.attempts, 3);
    assert_true(e.next_try == 99);
    assert_string_equal(e.last_error, "421 end size 0");
    assert_string_equal(e.diagnosis, "qq x");
    assert_int_equal(e.message_len, 2);
    qn_spool_entry_clear(&e);
}

static void test_random_damage_never_crashes_and_never_yields_control_bytes(void **state)
{
    static const unsigned char swaps[] = {0x00, '\n', '%', ' ', '0', '9', 'A', 0xff};
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX], path[512];
    struct qn_spool_entry e;
    size_t len, i, j, k;
    enum qn_status r;
    char *raw;

    put_trap(f, id);
    path_of(f, path, sizeof(path), "new", id);
    raw = slurp(path, &len);
    for (i = 0; i < len; i++) {
        char saved = raw[i];

        for (j = 0; j < sizeof(swaps); j++) {
            raw[i] = (char)swaps[j];
            path_of(f, path, sizeof(path), "new", PLANT_ID);
            spit(path, raw, len);
            memset(&e, 0, sizeof(e));
            r = qn_spool_load(f->sp, QN_SPOOL_NEW, PLANT_ID, 0, &e);
            if (r != QN_OK && r != QN_EINVAL)
                fail_msg("byte %zu = 0x%02x: status %d", i, swaps[j], r);
            if (r == QN_OK) {
                assert_clean(e.last_error);
                assert_clean(e.diagnosis);
                for (k = 0; k < e.n_rcpt; k++)
                    assert_clean(e.rcpt[k]);
                assert_clean(e.sender);
            }
            qn_spool_entry_clear(&e);
        }
        raw[i] = saved;
    }
    free(raw);
}

static void test_failed_load_leaves_the_output_untouched(void **state)
{
    struct fixture *f = *state;
    struct qn_spool_entry e;
    char path[512];

    path_of(f, path, sizeof(path), "new", PLANT_ID);
    spit(path, BYTES("qqnotify-spool 1\n"));
    memset(&e, 0, sizeof(e));
    strcpy(e.last_error, "marker");
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_NEW, PLANT_ID, 0, &e), QN_EINVAL);
    assert_string_equal(e.last_error, "marker");
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_NEW, "1.000000.1.0000000000000000", 0, &e),
                     QN_ENOTFOUND);
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_NEW, "../new/" PLANT_ID, 0, &e), QN_EINVAL);
    assert_int_equal(qn_spool_load(f->sp, (enum qn_spool_queue)7, PLANT_ID, 0, &e), QN_EINVAL);
    assert_string_equal(e.last_error, "marker");
}

/* ---- symlinks, planted files, modes ---- */

static void replace_with_symlink(struct fixture *f, const char *sub, char *target, size_t n)
{
    char path[512];

    snprintf(target, n, "%s/elsewhere-%s", f->root, sub);
    assert_int_equal(mkdir(target, 0700), 0);
    path_of(f, path, sizeof(path), sub, NULL);
    assert_int_equal(rmdir(path), 0);
    assert_int_equal(symlink(target, path), 0);
}

static void test_symlink_as_tmp_or_new_is_refused(void **state)
{
    static const char *const subs[] = {"tmp", "new"};
    struct fixture *f = *state;
    char target[256], path[512];
    struct qn_spool *sp = NULL;
    struct qn_event ev;
    size_t i;

    make_event(&ev);
    for (i = 0; i < 2; i++) {
        replace_with_symlink(f, subs[i], target, sizeof(target));
        errno = 0;
        assert_int_equal(qn_enqueue_event(f->dir, &ev, 0, NULL), QN_EIO);
        assert_int_equal(errno, ELOOP);
        errno = 0;
        assert_int_equal(qn_enqueue_event_nowait(f->dir, &ev, 0, NULL), QN_EIO);
        assert_int_equal(errno, ELOOP);
        assert_int_equal(qn_enqueue_message(f->dir, "", two_rcpt, 1, "m", 1, 0, NULL), QN_EIO);
        assert_int_equal(errno, ELOOP);
        assert_int_equal(qn_spool_open(f->dir, QN_SPOOL_CREATE, 0, &sp), QN_EIO);
        assert_int_equal(errno, ELOOP);
        assert_null(sp);
        assert_int_equal(count_path(target), 0);
        /* Put the directory back for the next round. */
        path_of(f, path, sizeof(path), subs[i], NULL);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(mkdir(path, 0770), 0);
    }
}

static void test_symlinked_or_missing_spool_directory_is_refused(void **state)
{
    struct fixture *f = *state;
    char link[256], slash[260], missing[256];
    struct qn_spool *sp = NULL;
    struct qn_event ev;

    make_event(&ev);
    snprintf(link, sizeof(link), "%s/link", f->root);
    assert_int_equal(symlink(f->dir, link), 0);
    errno = 0;
    assert_int_equal(qn_enqueue_event(link, &ev, 0, NULL), QN_EIO);
    assert_int_equal(errno, ELOOP);
    /* A trailing slash would make the kernel follow the link: it is stripped. */
    snprintf(slash, sizeof(slash), "%s//", link);
    assert_int_equal(qn_enqueue_event(slash, &ev, 0, NULL), QN_EIO);
    assert_int_equal(errno, ELOOP);
    assert_int_equal(qn_spool_open(slash, 0, 0, &sp), QN_EIO);
    assert_int_equal(count(f, "new"), 0);

    snprintf(missing, sizeof(missing), "%s/none", f->root);
    assert_int_equal(qn_enqueue_event(missing, &ev, 0, NULL), QN_ENOTFOUND);
    assert_int_equal(qn_spool_open(missing, QN_SPOOL_CREATE, 0, &sp), QN_ENOTFOUND);
    assert_int_equal(qn_enqueue_event("", &ev, 0, NULL), QN_EINVAL);
    assert_int_equal(qn_enqueue_event(NULL, &ev, 0, NULL), QN_EINVAL);
    assert_null(sp);

    /* With a trailing slash on the real directory everything works. */
    snprintf(slash, sizeof(slash), "%s/", f->dir);
    assert_int_equal(qn_enqueue_event(slash, &ev, 0, NULL), QN_OK);
}

static void test_file_or_nothing_where_a_queue_should_be(void **state)
{
    struct fixture *f = *state;
    struct qn_spool *sp = NULL;
    struct qn_event ev;
    char path[512];

    make_event(&ev);
    path_of(f, path, sizeof(path), "new", NULL);
    assert_int_equal(rmdir(path), 0);
    assert_int_equal(qn_enqueue_event(f->dir, &ev, 0, NULL), QN_ENOTFOUND);
    assert_int_equal(qn_spool_open(f->dir, 0, 0, &sp), QN_ENOTFOUND);
    spit(path, "x", 1);
    errno = 0;
    assert_int_equal(qn_enqueue_event(f->dir, &ev, 0, NULL), QN_EIO);
    assert_int_equal(errno, ENOTDIR);
    assert_int_equal(qn_spool_open(f->dir, QN_SPOOL_CREATE, 0, &sp), QN_EIO);
    assert_int_equal(errno, ENOTDIR);
    assert_null(sp);
    assert_int_equal(count(f, "tmp"), 0);
}

static void test_file_planted_in_tmp_under_the_next_name_is_never_followed(void **state)
{
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX], path[512], victim[256];
    struct qn_event ev;
    size_t len;
    char *data;

    make_event(&ev);
    snprintf(victim, sizeof(victim), "%s/victim", f->root);
    spit(victim, "keep", 4);
    fake.on = true;
    fake.now.tv_sec = 1764180000;
    fake.now.tv_nsec = 1000;
    memcpy(fake.random, "\xde\xad\xbe\xef\x00\x11\x22\x33", 8);
    snprintf(id, sizeof(id), "1764180000.000001.%ld.deadbeef00112233", (long)getpid());

    /* A symlink: O_NOFOLLOW|O_EXCL must not write through it. */
    path_of(f, path, sizeof(path), "tmp", id);
    assert_int_equal(symlink(victim, path), 0);
    errno = 0;
    assert_int_equal(qn_enqueue_event(f->dir, &ev, 0, NULL), QN_EIO);
    assert_int_equal(errno, EEXIST);
    data = slurp(victim, &len);
    assert_int_equal(len, 4);
    assert_memory_equal(data, "keep", 4);
    free(data);
    assert_true(exists(f, "tmp", id)); /* someone else's file: left alone */
    assert_int_equal(count(f, "new"), 0);

    /* A regular file: never reused or truncated either. */
    assert_int_equal(unlink(path), 0);
    spit(path, "planted", 7);
    assert_int_equal(qn_enqueue_message(f->dir, "", two_rcpt, 1, "m", 1, 0, NULL), QN_EIO);
    assert_int_equal(errno, EEXIST);
    data = slurp(path, &len);
    assert_int_equal(len, 7);
    free(data);
    assert_int_equal(count(f, "new"), 0);
    fake.on = false;
}

static mode_t mode_of(const char *path)
{
    struct stat st;

    assert_int_equal(lstat(path, &st), 0);
    return st.st_mode & 07777;
}

static void test_files_are_0640_under_any_umask(void **state)
{
    static const mode_t masks[] = {0, 077, 027};
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX], path[512];
    struct qn_event ev;
    mode_t old;
    size_t i;

    make_event(&ev);
    for (i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
        old = umask(masks[i]);
        assert_int_equal(qn_enqueue_event(f->dir, &ev, 0, id), QN_OK);
        umask(old);
        path_of(f, path, sizeof(path), "new", id);
        assert_int_equal(mode_of(path), 0640);
        old = umask(masks[i]);
        assert_int_equal(qn_enqueue_message(f->dir, "", two_rcpt, 1, "m", 1, 0, id), QN_OK);
        assert_int_equal(qn_spool_state_write(f->sp, "cursor", "c", 1), QN_OK);
        assert_int_equal(qn_spool_quarantine(f->sp, QN_SPOOL_NEW, id, "r"), QN_OK);
        umask(old);
        path_of(f, path, sizeof(path), "state", "cursor");
        assert_int_equal(mode_of(path), 0640);
        path_of(f, path, sizeof(path), "failed", id);
        assert_int_equal(mode_of(path), 0640);
        strcat(path, ".reason");
        assert_int_equal(mode_of(path), 0640);
    }
}

static void test_created_subdirectories_get_exactly_the_mode_asked(void **state)
{
    static const char *const subs[] = {"tmp", "new", "deferred", "failed", "state"};
    struct fixture *f = *state;
    char dir[256], path[512];
    struct qn_spool *sp;
    mode_t old;
    size_t i;

    snprintf(dir, sizeof(dir), "%s/fresh", f->root);
    assert_int_equal(mkdir(dir, 0750), 0);
    old = umask(077);
    assert_int_equal(qn_spool_open(dir, 0, 0, &sp), QN_ENOTFOUND);
    assert_int_equal(qn_spool_open(dir, QN_SPOOL_CREATE, 02770, &sp), QN_OK);
    umask(old);
    for (i = 0; i < 5; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, subs[i]);
        assert_int_equal(mode_of(path), 02770);
    }
    qn_spool_close(sp);
    /* Existing directories are left as they are. */
    snprintf(path, sizeof(path), "%s/new", dir);
    assert_int_equal(chmod(path, 0750), 0);
    assert_int_equal(qn_spool_open(dir, QN_SPOOL_CREATE, 0, &sp), QN_OK);
    assert_int_equal(mode_of(path), 0750);
    assert_null(qn_spool_close(sp));
    assert_null(qn_spool_close(NULL));
    assert_int_equal(qn_spool_open(dir, 0x80, 0, &sp), QN_EINVAL);
    assert_int_equal(qn_spool_open(dir, 0, 010000, &sp), QN_EINVAL);
}

/* ---- queue moves ---- */

static void assert_only_in(struct fixture *f, const char *id, const char *sub)
{
    static const char *const queues[] = {"new", "deferred", "failed"};
    size_t i;

    for (i = 0; i < 3; i++) {
        bool want = sub != NULL && strcmp(sub, queues[i]) == 0;

        if (exists(f, queues[i], id) != want)
            fail_msg("%s %s in %s/", id, want ? "missing" : "still", queues[i]);
    }
    assert_int_equal(count(f, "tmp"), 0);
}

static void test_defer_fail_retry_drop_move_the_entry(void **state)
{
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX];
    struct qn_spool_entry e, back;

    put_trap(f, id);
    memset(&e, 0, sizeof(e));
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_NEW, id, 0, &e), QN_OK);

    assert_int_equal(qn_spool_defer(f->sp, QN_SPOOL_NEW, &e, 1764180060, "421 frequency\r\nlimited",
                                    "qq-frequency"),
                     QN_OK);
    assert_only_in(f, id, "deferred");
    assert_int_equal(e.attempts, 1);
    assert_true(e.next_try == 1764180060);
    assert_string_equal(e.last_error, "421 frequency limited");
    memset(&back, 0, sizeof(back));
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_DEFERRED, id, 0, &back), QN_OK);
    assert_int_equal(back.attempts, 1);
    assert_true(back.next_try == 1764180060);
    assert_true(back.queued == e.queued);
    assert_string_equal(back.last_error, "421 frequency limited");
    assert_string_equal(back.diagnosis, "qq-frequency");
    assert_string_equal(back.rcpt[1], "a%b@x");
    assert_int_equal(back.message_len, TRAP_LEN);
    assert_memory_equal(back.message, trap_message, TRAP_LEN);
    qn_spool_entry_clear(&back);

    /* Deferred again: replaced in place. */
    assert_int_equal(qn_spool_defer(f->sp, QN_SPOOL_DEFERRED, &e, 1764180180, "timeout", NULL),
                     QN_OK);
    assert_only_in(f, id, "deferred");
    assert_int_equal(e.attempts, 2);
    assert_string_equal(e.diagnosis, "");

    assert_int_equal(
        qn_spool_fail(f->sp, QN_SPOOL_DEFERRED, &e, "550 mailbox unavailable", "rcpt-unknown"),
        QN_OK);
    assert_only_in(f, id, "failed");
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_FAILED, id, 0, &back), QN_OK);
    assert_int_equal(back.attempts, 3);
    assert_true(back.next_try == 0);
    assert_string_equal(back.last_error, "550 mailbox unavailable");
    assert_string_equal(back.diagnosis, "rcpt-unknown");
    qn_spool_entry_clear(&back);

    assert_int_equal(qn_spool_retry(f->sp, QN_SPOOL_NEW, id), QN_EINVAL);
    assert_int_equal(qn_spool_retry(f->sp, QN_SPOOL_FAILED, id), QN_OK);
    assert_only_in(f, id, "new");
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_NEW, id, 0, &back), QN_OK);
    assert_int_equal(back.attempts, 3); /* history kept */
    qn_spool_entry_clear(&back);
    assert_int_equal(qn_spool_retry(f->sp, QN_SPOOL_DEFERRED, id), QN_ENOTFOUND);

    assert_int_equal(qn_spool_drop(f->sp, id), QN_OK);
    assert_only_in(f, id, NULL);
    assert_int_equal(qn_spool_drop(f->sp, id), QN_ENOTFOUND);
    assert_int_equal(qn_spool_drop(f->sp, "../x"), QN_EINVAL);
    qn_spool_entry_clear(&e);
}

static void test_hold_keeps_the_attempt_count_and_the_last_diagnosis(void **state)
{
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX];
    struct qn_spool_entry e, back;
    struct qn_event ev;

    make_event(&ev);
    assert_int_equal(qn_enqueue_event(f->dir, &ev, 0, id), QN_OK);
    memset(&e, 0, sizeof(e));
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_NEW, id, 0, &e), QN_OK);
    assert_int_equal(qn_spool_defer(f->sp, QN_SPOOL_NEW, &e, 7, "421 busy", "service-unavailable"),
                     QN_OK);
    assert_int_equal(e.attempts, 1);

    /* Held for the limits twice: still one attempt, the 421's diagnosis kept. */
    assert_int_equal(qn_spool_hold(f->sp, QN_SPOOL_DEFERRED, &e, 99, "waiting for the limits"),
                     QN_OK);
    assert_int_equal(qn_spool_hold(f->sp, QN_SPOOL_DEFERRED, &e, 120, "waiting\nagain"), QN_OK);
    assert_only_in(f, id, "deferred");
    memset(&back, 0, sizeof(back));
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_DEFERRED, id, 0, &back), QN_OK);
    assert_int_equal(back.attempts, 1);
    assert_true(back.next_try == 120);
    assert_string_equal(back.last_error, "waiting again");
    assert_string_equal(back.diagnosis, "service-unavailable");
    qn_spool_entry_clear(&back);
    qn_spool_entry_clear(&e);
}

static void test_defer_of_an_event_and_remove_after_acceptance(void **state)
{
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX];
    struct qn_spool_entry e;
    struct qn_event ev;

    make_event(&ev);
    assert_int_equal(qn_enqueue_event(f->dir, &ev, 0, id), QN_OK);
    memset(&e, 0, sizeof(e));
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_NEW, id, 0, &e), QN_OK);
    assert_int_equal(qn_spool_defer(f->sp, QN_SPOOL_NEW, &e, 5, "100% down\n", "x"), QN_OK);
    qn_spool_entry_clear(&e);
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_DEFERRED, id, 0, &e), QN_OK);
    assert_string_equal(e.last_error, "100% down");
    assert_string_equal(qn_event_get(&e.event, "user"), "root");
    assert_int_equal(qn_spool_defer(f->sp, QN_SPOOL_DEFERRED, &e, -1, "", ""), QN_EINVAL);
    strcpy(e.id, "../../etc/passwd");
    assert_int_equal(qn_spool_defer(f->sp, QN_SPOOL_DEFERRED, &e, 5, "", ""), QN_EINVAL);
    qn_spool_entry_clear(&e);

    assert_int_equal(qn_spool_remove(f->sp, QN_SPOOL_DEFERRED, id), QN_OK);
    assert_only_in(f, id, NULL);
    assert_int_equal(qn_spool_remove(f->sp, QN_SPOOL_DEFERRED, id), QN_ENOTFOUND);
}

static void test_corrupt_entry_is_quarantined_unchanged_with_a_reason(void **state)
{
    struct fixture *f = *state;
    char path[512], reason[64], listed[4][QN_SPOOL_ID_MAX];
    struct qn_spool_entry e;
    size_t len, n;
    char *data;

    path_of(f, path, sizeof(path), "new", PLANT_ID);
    spit(path, BYTES("hello\0world"));
    memset(&e, 0, sizeof(e));
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_NEW, PLANT_ID, 0, &e), QN_EINVAL);
    assert_int_equal(qn_spool_quarantine(f->sp, QN_SPOOL_NEW, PLANT_ID, "bad header\nline 2"),
                     QN_OK);
    assert_only_in(f, PLANT_ID, "failed");
    path_of(f, path, sizeof(path), "failed", PLANT_ID);
    data = slurp(path, &len);
    assert_int_equal(len, 11);
    assert_memory_equal(data, "hello\0world", 11);
    free(data);
    strcat(path, ".reason");
    data = slurp(path, &len);
    assert_string_equal(data, "bad header line 2\n");
    free(data);
    assert_int_equal(qn_spool_reason(f->sp, PLANT_ID, reason, sizeof(reason)), QN_OK);
    assert_string_equal(reason, "bad header line 2");
    assert_int_equal(qn_spool_list(f->sp, QN_SPOOL_FAILED, listed, 4, &n, NULL), QN_OK);
    assert_int_equal(n, 1);
    assert_string_equal(listed[0], PLANT_ID);

    /* Retry takes the note away with it. */
    assert_int_equal(qn_spool_retry(f->sp, QN_SPOOL_FAILED, PLANT_ID), QN_OK);
    assert_only_in(f, PLANT_ID, "new");
    assert_int_equal(count(f, "failed"), 0);
    assert_int_equal(qn_spool_reason(f->sp, PLANT_ID, reason, sizeof(reason)), QN_ENOTFOUND);

    /* Quarantined again and dropped: the note goes too. */
    assert_int_equal(qn_spool_quarantine(f->sp, QN_SPOOL_NEW, PLANT_ID, "again"), QN_OK);
    assert_int_equal(qn_spool_drop(f->sp, PLANT_ID), QN_OK);
    assert_int_equal(count(f, "failed"), 0);

    assert_int_equal(qn_spool_quarantine(f->sp, QN_SPOOL_NEW, PLANT_ID, "gone"), QN_ENOTFOUND);
    assert_int_equal(count(f, "failed"), 0);
    assert_int_equal(qn_spool_quarantine(f->sp, QN_SPOOL_NEW, "x/y", "r"), QN_EINVAL);
}

static void test_symlink_fifo_or_directory_entry_is_corrupt_not_followed(void **state)
{
    struct fixture *f = *state;
    char id[QN_SPOOL_ID_MAX], path[512], target[512];
    struct qn_spool_entry e;
    struct stat st;

    /* A symlink to a perfectly good entry elsewhere is still refused. */
    put_trap(f, id);
    path_of(f, path, sizeof(path), "new", id);
    snprintf(target, sizeof(target), "%s/good-entry", f->root);
    assert_int_equal(rename(path, target), 0);
    path_of(f, path, sizeof(path), "new", PLANT_ID);
    assert_int_equal(symlink(target, path), 0);
    memset(&e, 0, sizeof(e));
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_NEW, PLANT_ID, 0, &e), QN_EINVAL);
    assert_int_equal(qn_spool_quarantine(f->sp, QN_SPOOL_NEW, PLANT_ID, "symlink"), QN_OK);
    path_of(f, path, sizeof(path), "failed", PLANT_ID);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(stat(target, &st), 0); /* the target is still where it was */
    assert_int_equal(qn_spool_drop(f->sp, PLANT_ID), QN_OK);
    assert_int_equal(stat(target, &st), 0);

    /* A FIFO must not block the reader (the alarm turns a hang into a failure). */
    path_of(f, path, sizeof(path), "new", PLANT_ID);
    assert_int_equal(mkfifo(path, 0640), 0);
    alarm(10);
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_NEW, PLANT_ID, 0, &e), QN_EINVAL);
    alarm(0);
    assert_int_equal(qn_spool_quarantine(f->sp, QN_SPOOL_NEW, PLANT_ID, "fifo"), QN_OK);
    assert_int_equal(qn_spool_drop(f->sp, PLANT_ID), QN_OK);

    /* A directory. */
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(qn_spool_load(f->sp, QN_SPOOL_NEW, PLANT_ID, 0, &e), QN_EINVAL);
    assert_int_equal(qn_spool_quarantine(f->sp, QN_SPOOL_NEW, PLANT_ID, "dir"), QN_OK);
    assert_int_equal(qn_spool_drop(f->sp, PLANT_ID), QN_OK);
    assert_int_equal(count(f, "failed") + count(f, "new"), 0);
}

/* ---- lock ---- */

static void test_second_sender_is_told_busy(void **state)
{
    struct fixture *f = *state;
    struct qn_spool *other;
    bool locked = false;

    assert_int_equal(qn_spool_open(f->dir, 0, 0, &other), QN_OK);
    assert_int_equal(qn_spool_lock(f->sp, &locked), QN_OK);
    assert_true(locked);
    assert_int_equal(qn_spool_lock(other, &locked), QN_OK);
    assert_false(locked);
    assert_int_equal(qn_spool_lock(f->sp, &locked), QN_OK); /* already ours */
    assert_true(locked);
    qn_spool_unlock(f->sp);
    assert_int_equal(qn_spool_lock(other, &locked), QN_OK);
    assert_true(locked);
    qn_spool_close(other); /* closing releases it */
    assert_int_equal(qn_spool_lock(f->sp, &locked), QN_OK);
    assert_true(locked);
    qn_spool_unlock(NULL);
}

static void test_lock_held_by_another_process_is_busy(void **state)
{
    struct fixture *f = *state;
    int ready[2], done[2], status;
    bool locked = true;
    pid_t pid;
    char c;

    assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
    assert_int_equal(pipe2(done, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct qn_spool *sp;
        bool got = false;

        /* Without the parent's ends, a parent that fails early gives EOF, not a hang. */
        close(ready[0]);
        close(done[1]);
        if (qn_spool_open(f->dir, 0, 0, &sp) != QN_OK || qn_spool_lock(sp, &got) != QN_OK || !got)
            _exit(1);
        if (write(ready[1], "L", 1) != 1 || read(done[0], &c, 1) != 1)
            _exit(2);
        _exit(0);
    }
    close(ready[1]);
    close(done[0]);
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(qn_spool_lock(f->sp, &locked), QN_OK);
    assert_false(locked);
    assert_int_equal(write(done[1], "x", 1), 1);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(qn_spool_lock(f->sp, &locked), QN_OK);
    assert_true(locked);
    close(ready[0]);
    close(done[1]);
}

static void test_planted_lock_symlink_or_fifo_is_refused_without_blocking(void **state)
{
    struct fixture *f = *state;
    char path[512], victim[256];
    bool locked = false;

    path_of(f, path, sizeof(path), "state", "flush.lock");
    snprintf(victim, sizeof(victim), "%s/victim", f->root);
    assert_int_equal(symlink(victim, path), 0);
    errno = 0;
    assert_int_equal(qn_spool_lock(f->sp, &locked), QN_EIO);
    assert_int_equal(errno, ELOOP);
    assert_int_equal(access(victim, F_OK), -1); /* not created through the link */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkfifo(path, 0640), 0);
    alarm(10);
    assert_int_equal(qn_spool_lock(f->sp, &locked), QN_EIO);
    alarm(0);
    assert_false(locked);
}

/* ---- state files and housekeeping ---- */

static void test_state_files_round_trip_atomically_and_bounded(void **state)
{
    static const char *const bad[] = {
        "",
        ".cursor",
        "../x",
        "a/b",
        "flush.lock",
        "Cursor",
        /* 64 bytes: one too many */
        "0123456789012345678901234567890123456789012345678901234567890123",
    };
    struct fixture *f = *state;
    char buf[64], *big;
    size_t len, i;

    assert_int_equal(qn_spool_state_read(f->sp, "journal.cursor", buf, sizeof(buf), &len),
                     QN_ENOTFOUND);
    assert_int_equal(qn_spool_state_write(f->sp, "journal.cursor", BYTES("s=abc;i=1\0x")), QN_OK);
    assert_int_equal(qn_spool_state_read(f->sp, "journal.cursor", buf, sizeof(buf), &len), QN_OK);
    assert_int_equal(len, 11);
    assert_memory_equal(buf, "s=abc;i=1\0x", 12);
    assert_int_equal(qn_spool_state_write(f->sp, "journal.cursor", "s=d", 3), QN_OK);
    assert_int_equal(qn_spool_state_read(f->sp, "journal.cursor", buf, sizeof(buf), &len), QN_OK);
    assert_string_equal(buf, "s=d");
    assert_int_equal(qn_spool_state_read(f->sp, "journal.cursor", buf, 4, &len), QN_OK);
    assert_int_equal(qn_spool_state_read(f->sp, "journal.cursor", buf, 3, &len), QN_ETOOBIG);
    assert_int_equal(qn_spool_state_write(f->sp, "empty", NULL, 0), QN_OK);
    assert_int_equal(qn_spool_state_read(f->sp, "empty", buf, sizeof(buf), &len), QN_OK);
    assert_int_equal(len, 0);
    /* the variant that does not wait for the disk replaces the file the same way */
    assert_int_equal(qn_spool_state_write_nowait(f->sp, "journal.cursor", "s=e;i=2", 7), QN_OK);
    assert_int_equal(qn_spool_state_read(f->sp, "journal.cursor", buf, sizeof(buf), &len), QN_OK);
    assert_string_equal(buf, "s=e;i=2");
    assert_int_equal(count(f, "tmp"), 0);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(qn_spool_state_write(f->sp, bad[i], "x", 1), QN_EINVAL);
        assert_int_equal(qn_spool_state_write_nowait(f->sp, bad[i], "x", 1), QN_EINVAL);
        assert_int_equal(qn_spool_state_read(f->sp, bad[i], buf, sizeof(buf), &len), QN_EINVAL);
    }
    big = calloc(1, QN_SPOOL_STATE_MAX + 1);
    assert_non_null(big);
    assert_int_equal(qn_spool_state_write(f->sp, "big", big, QN_SPOOL_STATE_MAX + 1), QN_ETOOBIG);
    assert_int_equal(qn_spool_state_write(f->sp, "big", big, QN_SPOOL_STATE_MAX), QN_OK);
    free(big);
}

static void plant_tmp(struct fixture *f, const char *name, time_t age, bool dir, bool link)
{
    struct timespec times[2];
    char path[512];

    path_of(f, path, sizeof(path), "tmp", name);
    if (dir)
        assert_int_equal(mkdir(path, 0700), 0);
    else if (link)
        assert_int_equal(symlink("/etc/passwd", path), 0);
    else
        spit(path, "partial", 7);
    times[0].tv_sec = times[1].tv_sec = time(NULL) - age;
    times[0].tv_nsec = times[1].tv_nsec = 0;
    assert_int_equal(utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW), 0);
}

static void test_stale_tmp_files_are_cleaned_after_a_day(void **state)
{
    struct fixture *f = *state;
    size_t removed = 99;
    struct stat st;

    plant_tmp(f, "old", 2 * 86400, false, false);
    plant_tmp(f, "old-link", 2 * 86400, false, true);
    plant_tmp(f, "old-dir", 2 * 86400, true, false);
    plant_tmp(f, "recent", 3600, false, false);
    assert_int_equal(qn_spool_clean_tmp(f->sp, 0, &removed), QN_OK);
    assert_int_equal(removed, 2);
    assert_false(exists(f, "tmp", "old"));
    assert_false(exists(f, "tmp", "old-link"));
    assert_true(exists(f, "tmp", "old-dir"));
    assert_true(exists(f, "tmp", "recent"));
    assert_int_equal(stat("/etc/passwd", &st), 0);
    /* A shorter age limit takes the recent one too. */
    assert_int_equal(qn_spool_clean_tmp(f->sp, 60, &removed), QN_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(qn_spool_clean_tmp(f->sp, -1, NULL), QN_EINVAL);
}

static void test_check_refuses_world_writable_and_warns_on_the_rest(void **state)
{
    static const char *const subs[] = {"tmp", "new", "deferred", "failed", "state"};
    struct fixture *f = *state;
    struct qn_spool_report c;
    unsigned long long me = (unsigned long long)geteuid();
    char path[512];
    size_t i;

    /* The layout of spoolowner.h: DIR 0711, the queues 2700. */
    assert_int_equal(chmod(f->dir, 0711), 0);
    for (i = 0; i < 5; i++) {
        path_of(f, path, sizeof(path), subs[i], NULL);
        assert_int_equal(chmod(path, 02700), 0);
    }
    assert_int_equal(qn_spool_check(f->sp, me, &c), QN_OK);
    assert_int_equal(c.found, 0);
    assert_string_equal(c.where, "");

    assert_int_equal(chmod(f->dir, 0755), 0);
    assert_int_equal(qn_spool_check(f->sp, me, &c), QN_OK);
    assert_int_equal(c.found, QN_SPOOL_WARN_WORLD_ACCESS);
    assert_string_equal(c.where, ".");
    assert_int_equal(c.mode, 0755);

    /* The refusal is what gets pointed at, not the earlier warning. */
    path_of(f, path, sizeof(path), "new", NULL);
    assert_int_equal(chmod(path, 0777), 0);
    assert_int_equal(qn_spool_check(f->sp, me, &c), QN_ECONFIG);
    assert_true(c.found & QN_SPOOL_UNSAFE_WORLD_WRITABLE);
    assert_true(c.found & QN_SPOOL_WARN_NOT_SETGID);
    assert_string_equal(c.where, "new");
    assert_int_equal(c.mode, 0777);

    assert_int_equal(chmod(path, 0700), 0);
    assert_int_equal(chmod(f->dir, 0711), 0);
    assert_int_equal(qn_spool_check(f->sp, me, &c), QN_OK);
    assert_int_equal(c.found, QN_SPOOL_WARN_NOT_SETGID);
    assert_string_equal(c.where, "new");
}

static void test_check_refuses_a_queue_its_group_may_change(void **state)
{
    struct fixture *f = *state;
    struct qn_spool_report c;
    char path[512];

    /* The old layout (root:qqnotify 2770): any member of the group could remove an alert. */
    path_of(f, path, sizeof(path), "new", NULL);
    assert_int_equal(chmod(path, 02770), 0);
    assert_int_equal(qn_spool_check(f->sp, (unsigned long long)geteuid(), &c), QN_ECONFIG);
    assert_int_equal(c.found & QN_SPOOL_UNSAFE_MASK, QN_SPOOL_UNSAFE_GROUP_WRITABLE);
    assert_string_equal(c.where, "new");
    assert_int_equal(c.mode, 02770);
}

static void test_check_wants_maildrop_exactly_1730(void **state)
{
    struct fixture *f = *state;
    struct qn_spool_report c;
    struct qn_spool *sp = NULL;
    char path[512];

    path_of(f, path, sizeof(path), "maildrop", NULL);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(chmod(path, 01730), 0);
    assert_int_equal(qn_spool_open(f->dir, 0, 0, &sp), QN_OK);
    assert_int_equal(qn_spool_check(sp, (unsigned long long)geteuid(), &c), QN_OK);
    assert_int_equal(c.found & QN_SPOOL_UNSAFE_MASK, 0);
    /* Readable by the drop group: it could list what users submitted. */
    assert_int_equal(chmod(path, 01770), 0);
    assert_int_equal(qn_spool_check(sp, (unsigned long long)geteuid(), &c), QN_ECONFIG);
    assert_int_equal(c.found & QN_SPOOL_UNSAFE_MASK, QN_SPOOL_UNSAFE_MAILDROP);
    assert_string_equal(c.where, "maildrop");
    qn_spool_close(sp);
}

static void test_check_refuses_a_spool_owned_by_someone_else(void **state)
{
    struct fixture *f = *state;
    struct qn_spool_report c;

    if (geteuid() != 0) {
        /* tests/run.sh counts this line and the skip as "not run: needs root" */
        print_message("needs root: chown to another user\n");
        skip();
    }
    assert_int_equal(chown(f->dir, 12345, (gid_t)-1), 0);
    assert_int_equal(qn_spool_check(f->sp, (unsigned long long)geteuid(), &c), QN_ECONFIG);
    assert_true(c.found & QN_SPOOL_UNSAFE_OWNER);
    assert_string_equal(c.where, ".");
    assert_true(c.uid == 12345);
    /* ... unless that is the spool's user. */
    assert_int_equal(qn_spool_check(f->sp, 12345, &c), QN_OK);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_validation_is_strict),
        T(test_id_is_time_microseconds_pid_random),
        T(test_ids_are_unique_and_listed_oldest_first),
        T(test_list_compares_seconds_as_numbers_and_skips_other_names),
        T(test_message_entry_has_the_documented_bytes),
        T(test_message_round_trip_keeps_every_byte),
        T(test_empty_message_and_null_sender_round_trip),
        T(test_event_entry_has_the_documented_bytes_and_round_trips),
        T(test_nowait_event_entry_is_the_same_entry),
        T(test_envelope_is_checked),
        T(test_entry_size_bound_is_exact),
        T(test_every_truncation_of_a_message_entry_is_detected),
        T(test_every_truncation_of_an_event_entry_is_detected),
        T(test_malformed_headers_are_refused),
        T(test_escaped_control_bytes_in_a_hand_written_entry_come_back_clean),
        T(test_random_damage_never_crashes_and_never_yields_control_bytes),
        T(test_failed_load_leaves_the_output_untouched),
        T(test_symlink_as_tmp_or_new_is_refused),
        T(test_symlinked_or_missing_spool_directory_is_refused),
        T(test_file_or_nothing_where_a_queue_should_be),
        T(test_file_planted_in_tmp_under_the_next_name_is_never_followed),
        T(test_files_are_0640_under_any_umask),
        T(test_created_subdirectories_get_exactly_the_mode_asked),
        T(test_defer_fail_retry_drop_move_the_entry),
        T(test_hold_keeps_the_attempt_count_and_the_last_diagnosis),
        T(test_defer_of_an_event_and_remove_after_acceptance),
        T(test_corrupt_entry_is_quarantined_unchanged_with_a_reason),
        T(test_symlink_fifo_or_directory_entry_is_corrupt_not_followed),
        T(test_second_sender_is_told_busy),
        T(test_lock_held_by_another_process_is_busy),
        T(test_planted_lock_symlink_or_fifo_is_refused_without_blocking),
        T(test_state_files_round_trip_atomically_and_bounded),
        T(test_stale_tmp_files_are_cleaned_after_a_day),
        T(test_check_refuses_world_writable_and_warns_on_the_rest),
        T(test_check_refuses_a_queue_its_group_may_change),
        T(test_check_wants_maildrop_exactly_1730),
        T(test_check_refuses_a_spool_owned_by_someone_else),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
