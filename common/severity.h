/*
 * severity — how urgent an alert is: critical, warning or info.  The sender
 * shows it in the subject (render.h reads the event's "severity" field,
 * which the sender sets from qn_severity_of), quiet hours hold what is not
 * critical (quiet.h), and routes will choose by it.
 *
 * Where an event's severity comes from, by class:
 *   root_login  a login (PAM session) as root, su or sudo to root included
 *   sudo        sudo and sudo -i to another user
 *   login       any other login
 *   logout      a session that ended
 *   authfail    a refused password (the PAM module's authfail)
 *   journal     a journal rule without a severity of its own
 *   notify      `qqnotify notify` (a user's note)
 *   other       any other kind
 * Defaults: root_login and sudo critical; login, authfail, journal and
 * other warning; logout and notify info.  `[severity] CLASS = LEVEL` in
 * qqnotify.conf changes one (noise.h parses it).  A journal rule's own
 * `severity =` (qqnotify-rules(5)) travels in the event's "severity" field;
 * qn_severity_of() believes that field only for journal events and only
 * when the caller says the producer is trusted, since anybody who may queue
 * an event could write it.
 *
 * Pure functions over fixed-size structs; no globals.  Thread-safe.
 */
#ifndef QN_SEVERITY_H
#define QN_SEVERITY_H

#include <stdbool.h>

#include "event.h"

enum qn_severity {
    QN_SEVERITY_INFO = 1,
    QN_SEVERITY_WARNING = 2,
    QN_SEVERITY_CRITICAL = 3,
};

enum qn_severity_class {
    QN_SEVCLASS_ROOT_LOGIN = 0,
    QN_SEVCLASS_SUDO,
    QN_SEVCLASS_LOGIN,
    QN_SEVCLASS_LOGOUT,
    QN_SEVCLASS_AUTHFAIL,
    QN_SEVCLASS_JOURNAL,
    QN_SEVCLASS_NOTIFY,
    QN_SEVCLASS_OTHER,
    QN_SEVCLASS_COUNT
};

struct qn_severity_config {
    enum qn_severity of[QN_SEVCLASS_COUNT];
};

/* The defaults above. */
void qn_severity_defaults(struct qn_severity_config *c);

/* "critical", "warning", "info" (ASCII case-insensitive) into *RET; false otherwise. */
bool qn_severity_parse(const char *s, enum qn_severity *ret);

/* "critical", "warning", "info"; "warning" for anything else. */
const char *qn_severity_name(enum qn_severity s);

/* The name of class K ("root_login", ...); "other" for anything else. */
const char *qn_severity_class_name(enum qn_severity_class k);

/* The class named KEY ("root_login", ...) into *RET; false otherwise. */
bool qn_severity_class_parse(const char *key, enum qn_severity_class *ret);

/* The class of EV, as listed above. */
enum qn_severity_class qn_severity_class_of(const struct qn_event *ev);

/*
 * EV's severity: a journal event's own "severity" field when
 * TRUST_EVENT_FIELD and it names a level, else its class's level in C.
 */
enum qn_severity qn_severity_of(const struct qn_severity_config *c, const struct qn_event *ev,
                                bool trust_event_field);

#endif
