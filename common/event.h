/*
 * event — the notification record every producer writes and the sender
 * renders: a kind, a time, the host it happened on, an optional subject and
 * up to QN_EVENT_FIELDS_MAX named fields.
 *
 * Kinds in use: "login" (PAM session open), "logout" (session close),
 * "authfail" (PAM auth failure), "journal" (a journal rule fired), "notify"
 * (qqnotify notify).  Field names are [a-z0-9_.-], 1..QN_EVENT_KEY_MAX-1
 * bytes; well-known names: service user ruser rhost ip tty method key
 * rule count unit sample.N message.
 *
 * Every value is sanitised on the way in (qn_text_sanitize_line: valid
 * UTF-8, no control characters, capped), so a field can never carry a line
 * break into a header, a log line or the spool form.
 *
 * Spool form (version 1), one "name value" line each, values escaped
 * (%XX for '%', bytes < 0x20 and 0x7f) so no value can forge a line:
 *     kind login
 *     time 1764180000
 *     host web1
 *     subject ...            (optional)
 *     field user root        (repeated)
 * The struct is fixed-size and owns no heap memory; libc only (the PAM
 * module links it).  Thread-safe.
 */
#ifndef QN_EVENT_H
#define QN_EVENT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "status.h"

#define QN_EVENT_FIELDS_MAX  24
#define QN_EVENT_KEY_MAX     32
#define QN_EVENT_VALUE_MAX   512
#define QN_EVENT_KIND_MAX    32
#define QN_EVENT_HOST_MAX    256
#define QN_EVENT_SUBJECT_MAX 256

struct qn_event_field {
    char key[QN_EVENT_KEY_MAX];
    char value[QN_EVENT_VALUE_MAX];
};

struct qn_event {
    char kind[QN_EVENT_KIND_MAX];
    long long time; /* seconds since the epoch */
    char host[QN_EVENT_HOST_MAX];
    char subject[QN_EVENT_SUBJECT_MAX]; /* "" = rendered from kind and fields */
    size_t n_fields;
    struct qn_event_field fields[QN_EVENT_FIELDS_MAX];
};

/* Zero EV, set KIND (sanitised), time = now, host = this host's name ("" if
 * gethostname fails: the event is still worth sending). */
void qn_event_init(struct qn_event *ev, const char *kind);

/* Set or replace field KEY with VALUE (sanitised, cut to fit).  QN_EINVAL for
 * a bad key, QN_ETOOBIG when all fields are used. */
enum qn_status qn_event_set(struct qn_event *ev, const char *key, const char *value);

/* Same with a value of LEN bytes that need not be NUL-terminated. */
enum qn_status qn_event_setn(struct qn_event *ev, const char *key, const char *value, size_t len);

/* True when the LEN bytes at KEY are a valid field name: [a-z0-9_.-],
 * 1..QN_EVENT_KEY_MAX-1 bytes. */
bool qn_event_key_valid(const char *key, size_t len);

/* The value of KEY, or NULL. */
const char *qn_event_get(const struct qn_event *ev, const char *key);

/* Set the host or subject (sanitised, cut to fit). */
void qn_event_set_host(struct qn_event *ev, const char *host);
void qn_event_set_subject(struct qn_event *ev, const char *subject);

/* Append the spool form to OUT, all or nothing.  QN_EINVAL for an event that
 * could not be read back (empty kind, a bad field name, n_fields too large);
 * QN_ETOOBIG / QN_ENOMEM from OUT. */
enum qn_status qn_event_write(const struct qn_event *ev, struct qn_buf *out);

/* Parse the spool form (LEN bytes at TEXT).  QN_EINVAL for anything malformed
 * (unknown line, bad escape, missing or empty kind, missing time, duplicate,
 * too many fields, a value too long for its array, a last line without
 * '\n'); *ev is then unspecified.  Decoded values are sanitised again, so an
 * event read from a hand-edited file holds no control character either. */
enum qn_status qn_event_read(struct qn_event *ev, const char *text, size_t len);

#endif
