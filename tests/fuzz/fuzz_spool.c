/*
 * fuzz_spool — the spool entry reader (qn_spool_load), on real files.
 *
 * Each input is written as the entry file new/ID of a spool in a private
 * temporary directory (on /dev/shm when there is one) and loaded.
 *
 * Properties, for any bytes:
 *  - the status is one of those spool.h lists; a file larger than the
 *    bound is QN_ETOOBIG;
 *  - on QN_OK every field is as spool.h promises: id as asked, type event
 *    or message, last_error and diagnosis clean lines, the event clean; a
 *    message has 1..QN_SPOOL_RCPT_MAX recipients and addresses without
 *    blanks, control bytes or angle brackets, and message_len bytes (plus a
 *    NUL) of payload;
 *  - round trips: a loaded message put again with qn_enqueue_message, a
 *    loaded event with qn_enqueue_event, loads back the same; an entry
 *    deferred with qn_spool_defer loads from deferred/ with attempts + 1,
 *    the new next-try and last-error, and the same payload (and its origin,
 *    uid and lane);
 *  - the readers agree: qn_spool_parse on the same bytes, qn_spool_load_head
 *    and qn_spool_peek (when the header fits its bytes) say what the load
 *    says; a user entry is always in the user lane.
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "enqueue.h"
#include "fuzz.h"
#include "spool.h"

#define ID       "1764180000.000001.4242.0123456789abcdef"
#define MAX_SIZE (64 * 1024)

static char top[256], dir_a[300], dir_b[300];
static struct qn_spool *spool_a, *spool_b;

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    qn_spool_close(spool_a);
    qn_spool_close(spool_b);
    if (top[0] != '\0')
        nftw(top, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(top, sizeof top, "%s/qn-fuzz-spool-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    FUZZ_ASSERT(mkdtemp(top) != NULL, "mkdtemp");
    atexit(cleanup);
    snprintf(dir_a, sizeof dir_a, "%s/a", top);
    snprintf(dir_b, sizeof dir_b, "%s/b", top);
    FUZZ_ASSERT(mkdir(dir_a, 0700) == 0 && mkdir(dir_b, 0700) == 0, "mkdir");
    FUZZ_ASSERT(qn_spool_open(dir_a, QN_SPOOL_CREATE, 0700, &spool_a) == QN_OK, "open spool a");
    FUZZ_ASSERT(qn_spool_open(dir_b, QN_SPOOL_CREATE, 0700, &spool_b) == QN_OK, "open spool b");
    return 0;
}

static void write_entry(const char *queue, const uint8_t *data, size_t size)
{
    char path[400];
    int fd;

    snprintf(path, sizeof path, "%s/%s/%s", dir_a, queue, ID);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FUZZ_ASSERT(fd >= 0, "cannot write the entry file");
    FUZZ_ASSERT(size == 0 || write(fd, data, size) == (ssize_t)size, "short write");
    close(fd);
}

static void unlink_in(const char *dir, const char *queue, const char *id)
{
    char path[400];

    snprintf(path, sizeof path, "%s/%s/%s", dir, queue, id);
    unlink(path);
}

static bool address_ok(const char *a, size_t size, bool may_be_empty)
{
    size_t n = strnlen(a, size);

    if (n == size || (n == 0 && !may_be_empty))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)a[i];

        if (c <= 0x20 || c == 0x7F || c == '<' || c == '>')
            return false;
    }
    return true;
}

static void check_entry(const struct qn_spool_entry *e, size_t file_size)
{
    FUZZ_ASSERT(strcmp(e->id, ID) == 0, "loaded id differs");
    FUZZ_ASSERT(e->type == QN_SPOOL_EVENT || e->type == QN_SPOOL_MESSAGE, "type");
    FUZZ_ASSERT(e->origin == QN_ORIGIN_SYSTEM || e->origin == QN_ORIGIN_USER, "origin");
    FUZZ_ASSERT((unsigned)e->lane < QN_LANES, "lane");
    FUZZ_ASSERT(e->origin == QN_ORIGIN_SYSTEM || e->lane == QN_LANE_USER,
                "a user entry outside the user lane");
    FUZZ_ASSERT(e->queued >= 0 && e->next_try >= 0, "negative time");
    FUZZ_ASSERT(fz_clean_field(e->last_error, sizeof e->last_error), "last_error not clean");
    FUZZ_ASSERT(fz_clean_field(e->diagnosis, sizeof e->diagnosis), "diagnosis not clean");
    if (e->type == QN_SPOOL_EVENT) {
        const struct qn_event *ev = &e->event;

        FUZZ_ASSERT(e->message == NULL && e->n_rcpt == 0, "event with message parts");
        FUZZ_ASSERT(ev->kind[0] != '\0' && fz_clean_field(ev->kind, sizeof ev->kind) &&
                        fz_clean_field(ev->host, sizeof ev->host) &&
                        fz_clean_field(ev->subject, sizeof ev->subject) &&
                        ev->n_fields <= QN_EVENT_FIELDS_MAX,
                    "event not clean");
        for (size_t i = 0; i < ev->n_fields; i++)
            FUZZ_ASSERT(fz_clean_field(ev->fields[i].value, sizeof ev->fields[i].value),
                        "event field not clean");
        return;
    }
    FUZZ_ASSERT(e->n_rcpt >= 1 && e->n_rcpt <= QN_SPOOL_RCPT_MAX, "recipient count");
    FUZZ_ASSERT(address_ok(e->sender, sizeof e->sender, true), "sender address");
    for (size_t i = 0; i < e->n_rcpt; i++)
        FUZZ_ASSERT(address_ok(e->rcpt[i], sizeof e->rcpt[i], false), "recipient address");
    FUZZ_ASSERT(e->message != NULL && e->message_len < file_size &&
                    e->message[e->message_len] == '\0',
                "message bytes");
}

static void same_payload(const struct qn_spool_entry *a, const struct qn_spool_entry *b)
{
    FUZZ_ASSERT(a->type == b->type, "type changed");
    if (a->type == QN_SPOOL_EVENT) {
        FUZZ_ASSERT(fz_same_event(&a->event, &b->event), "event changed");
        return;
    }
    FUZZ_ASSERT(strcmp(a->sender, b->sender) == 0 && a->n_rcpt == b->n_rcpt, "envelope changed");
    for (size_t i = 0; i < a->n_rcpt; i++)
        FUZZ_ASSERT(strcmp(a->rcpt[i], b->rcpt[i]) == 0, "recipient changed");
    FUZZ_ASSERT(a->message_len == b->message_len &&
                    memcmp(a->message, b->message, a->message_len) == 0,
                "message bytes changed");
}

static void round_trip_put(const struct qn_spool_entry *e)
{
    static struct qn_spool_entry back;
    char id[QN_SPOOL_ID_MAX];
    enum qn_status r;

    if (e->type == QN_SPOOL_MESSAGE) {
        const char *rcpt[QN_SPOOL_RCPT_MAX];

        for (size_t i = 0; i < e->n_rcpt; i++)
            rcpt[i] = e->rcpt[i];
        r = qn_enqueue_message(dir_b, e->sender, rcpt, e->n_rcpt, e->message, e->message_len,
                               MAX_SIZE * 2, id);
    } else {
        r = qn_enqueue_event(dir_b, &e->event, MAX_SIZE * 2, id);
    }
    FUZZ_ASSERT(r == QN_OK, "a loaded entry cannot be put again");
    memset(&back, 0, sizeof back);
    r = qn_spool_load(spool_b, QN_SPOOL_NEW, id, MAX_SIZE * 2, &back);
    FUZZ_ASSERT(r == QN_OK, "a put entry does not load");
    same_payload(e, &back);
    FUZZ_ASSERT(back.attempts == 0 && back.next_try == 0 && back.last_error[0] == '\0',
                "a new entry has metadata");
    qn_spool_entry_clear(&back);
    FUZZ_ASSERT(qn_spool_remove(spool_b, QN_SPOOL_NEW, id) == QN_OK, "remove");
}

static void round_trip_defer(struct qn_spool_entry *e)
{
    static struct qn_spool_entry orig, back;
    unsigned want_attempts = e->attempts < 0xFFFFFFFFu ? e->attempts + 1 : e->attempts;
    enum qn_status r;

    orig = *e;
    r = qn_spool_defer(spool_a, QN_SPOOL_NEW, e, 12345, "fuzz\terror\n", "fuzz-diag");
    FUZZ_ASSERT(r == QN_OK, "defer of a loaded entry failed");
    memset(&back, 0, sizeof back);
    r = qn_spool_load(spool_a, QN_SPOOL_DEFERRED, ID, MAX_SIZE * 2, &back);
    FUZZ_ASSERT(r == QN_OK, "a deferred entry does not load");
    same_payload(&orig, &back);
    FUZZ_ASSERT(back.attempts == want_attempts && back.next_try == 12345 &&
                    back.queued == orig.queued && strcmp(back.last_error, "fuzz error") == 0 &&
                    strcmp(back.diagnosis, "fuzz-diag") == 0 && back.origin == orig.origin &&
                    back.uid == orig.uid && back.lane == orig.lane,
                "deferred metadata");
    FUZZ_ASSERT(back.attempts == e->attempts && strcmp(back.last_error, e->last_error) == 0,
                "defer did not update the caller's entry to match the file");
    qn_spool_entry_clear(&back);
    unlink_in(dir_a, "deferred", ID);
}

/* The other readers of the same bytes agree with the load (R, E). */
static void readers_agree(const uint8_t *data, size_t size, enum qn_status r,
                          const struct qn_spool_entry *e)
{
    static struct qn_spool_entry other;
    struct qn_spool_head h;
    enum qn_status r2;

    memset(&other, 0, sizeof other);
    r2 = qn_spool_parse((const char *)data, size, &other);
    FUZZ_ASSERT(r2 == r, "qn_spool_parse and qn_spool_load disagree");
    if (r == QN_OK)
        same_payload(e, &other);
    qn_spool_entry_clear(&other);
    memset(&other, 0, sizeof other);
    r2 = qn_spool_load_head(spool_a, QN_SPOOL_NEW, ID, MAX_SIZE, &other);
    if (size <= QN_SPOOL_HEADER_MAX || r2 == QN_OK)
        FUZZ_ASSERT(r2 == r, "qn_spool_load_head and qn_spool_load disagree");
    if (r == QN_OK && r2 == QN_OK) {
        FUZZ_ASSERT(other.type == e->type && other.lane == e->lane && other.origin == e->origin &&
                        other.queued == e->queued &&
                        (e->type == QN_SPOOL_EVENT ||
                         (other.message == NULL && other.message_len == e->message_len)),
                    "the head differs from the whole");
    }
    qn_spool_entry_clear(&other);
    r2 = qn_spool_peek(spool_a, QN_SPOOL_NEW, ID, MAX_SIZE, &h);
    FUZZ_ASSERT(r2 == QN_OK || r2 == QN_EINVAL, "peek: other than OK or EINVAL");
    if (r == QN_OK) {
        FUZZ_ASSERT(r2 == QN_OK || size > QN_SPOOL_PEEK_MAX, "a loadable entry that peek refuses");
        if (r2 == QN_OK)
            FUZZ_ASSERT(h.type == e->type && h.origin == e->origin && h.uid == e->uid &&
                            h.queued == e->queued && h.next_try == e->next_try &&
                            h.attempts == e->attempts &&
                            (h.lane == e->lane || size > QN_SPOOL_PEEK_MAX),
                        "peek differs from the load");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct qn_spool_entry e;
    enum qn_status r;

    if (size > MAX_SIZE)
        return 0;
    write_entry("new", data, size);

    /* A bound below the size: too big, whatever the bytes. */
    if (size > 1) {
        memset(&e, 0, sizeof e);
        r = qn_spool_load(spool_a, QN_SPOOL_NEW, ID, size - 1, &e);
        FUZZ_ASSERT(r == QN_ETOOBIG, "an entry over the bound is not QN_ETOOBIG");
    }
    memset(&e, 0, sizeof e);
    r = qn_spool_load(spool_a, QN_SPOOL_NEW, ID, MAX_SIZE, &e);
    FUZZ_ASSERT(r == QN_OK || r == QN_EINVAL, "load of a regular file: other than OK or EINVAL");
    readers_agree(data, size, r, &e);
    if (r == QN_OK) {
        check_entry(&e, size);
        round_trip_put(&e);
        round_trip_defer(&e);
    }
    qn_spool_entry_clear(&e);
    unlink_in(dir_a, "new", ID);
    return 0;
}
