/*
 * severity — see severity.h.
 */
#include "severity.h"

#include <string.h>
#include <strings.h>

static const char *const level_names[] = {
    [QN_SEVERITY_INFO] = "info",
    [QN_SEVERITY_WARNING] = "warning",
    [QN_SEVERITY_CRITICAL] = "critical",
};

static const char *const class_names[QN_SEVCLASS_COUNT] = {
    [QN_SEVCLASS_ROOT_LOGIN] = "root_login", [QN_SEVCLASS_SUDO] = "sudo",
    [QN_SEVCLASS_LOGIN] = "login",           [QN_SEVCLASS_LOGOUT] = "logout",
    [QN_SEVCLASS_AUTHFAIL] = "authfail",     [QN_SEVCLASS_JOURNAL] = "journal",
    [QN_SEVCLASS_NOTIFY] = "notify",         [QN_SEVCLASS_OTHER] = "other",
};

const char *qn_severity_class_name(enum qn_severity_class k)
{
    return (unsigned)k < QN_SEVCLASS_COUNT ? class_names[k] : class_names[QN_SEVCLASS_OTHER];
}

void qn_severity_defaults(struct qn_severity_config *c)
{
    c->of[QN_SEVCLASS_ROOT_LOGIN] = QN_SEVERITY_CRITICAL;
    c->of[QN_SEVCLASS_SUDO] = QN_SEVERITY_CRITICAL;
    c->of[QN_SEVCLASS_LOGIN] = QN_SEVERITY_WARNING;
    c->of[QN_SEVCLASS_LOGOUT] = QN_SEVERITY_INFO;
    c->of[QN_SEVCLASS_AUTHFAIL] = QN_SEVERITY_WARNING;
    c->of[QN_SEVCLASS_JOURNAL] = QN_SEVERITY_WARNING;
    c->of[QN_SEVCLASS_NOTIFY] = QN_SEVERITY_INFO;
    c->of[QN_SEVCLASS_OTHER] = QN_SEVERITY_WARNING;
}

bool qn_severity_parse(const char *s, enum qn_severity *ret)
{
    for (int l = QN_SEVERITY_INFO; s != NULL && l <= QN_SEVERITY_CRITICAL; l++) {
        if (strcasecmp(s, level_names[l]) == 0) {
            *ret = (enum qn_severity)l;
            return true;
        }
    }
    return false;
}

const char *qn_severity_name(enum qn_severity s)
{
    if (s < QN_SEVERITY_INFO || s > QN_SEVERITY_CRITICAL)
        return level_names[QN_SEVERITY_WARNING];
    return level_names[s];
}

bool qn_severity_class_parse(const char *key, enum qn_severity_class *ret)
{
    for (int i = 0; key != NULL && i < QN_SEVCLASS_COUNT; i++) {
        if (strcasecmp(key, class_names[i]) == 0) {
            *ret = (enum qn_severity_class)i;
            return true;
        }
    }
    return false;
}

static bool kind_is(const struct qn_event *ev, const char *kind)
{
    return strncmp(ev->kind, kind, sizeof(ev->kind)) == 0;
}

enum qn_severity_class qn_severity_class_of(const struct qn_event *ev)
{
    const char *user, *service;

    if (kind_is(ev, "login")) {
        user = qn_event_get(ev, "user");
        service = qn_event_get(ev, "service");
        if (user != NULL && strcmp(user, "root") == 0)
            return QN_SEVCLASS_ROOT_LOGIN;
        if (service != NULL && (strcmp(service, "sudo") == 0 || strcmp(service, "sudo-i") == 0))
            return QN_SEVCLASS_SUDO;
        return QN_SEVCLASS_LOGIN;
    }
    if (kind_is(ev, "logout"))
        return QN_SEVCLASS_LOGOUT;
    if (kind_is(ev, "authfail"))
        return QN_SEVCLASS_AUTHFAIL;
    if (kind_is(ev, "journal"))
        return QN_SEVCLASS_JOURNAL;
    if (kind_is(ev, "notify"))
        return QN_SEVCLASS_NOTIFY;
    return QN_SEVCLASS_OTHER;
}

enum qn_severity qn_severity_of(const struct qn_severity_config *c, const struct qn_event *ev,
                                bool trust_event_field)
{
    enum qn_severity_class k = qn_severity_class_of(ev);
    enum qn_severity s;

    if (k == QN_SEVCLASS_JOURNAL && trust_event_field &&
        qn_severity_parse(qn_event_get(ev, "severity"), &s))
        return s;
    s = c->of[k];
    return s >= QN_SEVERITY_INFO && s <= QN_SEVERITY_CRITICAL ? s : QN_SEVERITY_WARNING;
}
