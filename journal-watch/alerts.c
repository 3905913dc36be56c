/*
 * alerts — see alerts.h.
 */
#include "alerts.h"

#include <stdio.h>
#include <stdlib.h>

#include "i18n.h"

static const char *const priority_names[8] = {"emerg",   "alert",  "crit", "err",
                                              "warning", "notice", "info", "debug"};

static void set_field(struct qn_event *ev, const char *key, const char *value)
{
    /* A full event keeps what it has: fields are added most important first. */
    if (value != NULL && value[0] != '\0')
        (void)qn_event_set(ev, key, value);
}

/* A duration in microseconds as the rules write it: "10m", "1h", "90s". */
static void duration_text(long long usec, char *out, size_t n)
{
    long long s = usec / 1000000;

    if (s > 0 && s % 86400 == 0)
        snprintf(out, n, "%lldd", s / 86400);
    else if (s > 0 && s % 3600 == 0)
        snprintf(out, n, "%lldh", s / 3600);
    else if (s > 0 && s % 60 == 0)
        snprintf(out, n, "%lldm", s / 60);
    else
        snprintf(out, n, "%llds", s);
}

static void build_event(const struct qn_rules_alert *a, struct qn_event *ev)
{
    char num[32], key[QN_EVENT_KEY_MAX], subject[QN_EVENT_SUBJECT_MAX], window[32];
    size_t i;

    qn_event_init(ev, "journal");
    if (a->time_usec > 0)
        ev->time = a->time_usec / 1000000;
    /* The entry's host: on a central log host, the machine that logged it. */
    if (a->host[0] != '\0')
        qn_event_set_host(ev, a->host);
    if (a->overflow) {
        /* The rule's table of sources overflowed: many sources at once, each below the
         * threshold (rules.h "Overflow"). */
        duration_text(a->window_usec, window, sizeof(window));
        snprintf(subject, sizeof(subject),
                 _("distributed brute force: more than %zu sources in %s (rule %s)"), a->keys,
                 window, a->rule);
        qn_event_set_subject(ev, subject);
        set_field(ev, "overflow", window);
    } else if (a->subject[0] != '\0') {
        qn_event_set_subject(ev, a->subject);
    }
    set_field(ev, "rule", a->rule);
    set_field(ev, "severity", a->severity);
    snprintf(num, sizeof(num), "%lu", a->count);
    set_field(ev, "count", num);
    set_field(ev, "unit", a->unit);
    set_field(ev, "message", a->message);
    for (i = 0; i < a->n_captures; i++)
        set_field(ev, a->capture_names[i], a->capture_values[i]);
    if (a->priority >= 0 && a->priority <= 7)
        set_field(ev, "priority", priority_names[a->priority]);
    set_field(ev, "identifier", a->identifier);
    if (a->suppressed > 0) {
        snprintf(num, sizeof(num), "%lu", a->suppressed);
        set_field(ev, "suppressed", num);
    }
    for (i = 0; i < a->n_samples; i++) {
        snprintf(key, sizeof(key), "sample.%zu", i + 1);
        set_field(ev, key, a->samples[i]);
    }
}

enum qn_status jw_alerts_add(void *ctx, const struct qn_rules_alert *alert)
{
    struct jw_alerts *a = ctx;
    struct qn_event **grown, *ev;

    if (a->n == a->cap) {
        size_t cap = a->cap != 0 ? a->cap * 2 : 4;
        grown = realloc(a->events, cap * sizeof(*grown));
        if (grown == NULL)
            return QN_ENOMEM;
        a->events = grown;
        a->cap = cap;
    }
    ev = malloc(sizeof(*ev));
    if (ev == NULL)
        return QN_ENOMEM;
    build_event(alert, ev);
    a->events[a->n++] = ev;
    return QN_OK;
}

struct qn_event **jw_alerts_take(struct jw_alerts *a, size_t *ret_n)
{
    struct qn_event **events = a->events;

    *ret_n = a->n;
    if (a->n == 0)
        return NULL;
    /* The array goes with the events; the next alert makes a new one. */
    a->events = NULL;
    a->n = a->cap = 0;
    return events;
}

void jw_alerts_drop(struct jw_alerts *a)
{
    size_t i;

    for (i = 0; i < a->n; i++)
        free(a->events[i]);
    a->n = 0;
}

void jw_alerts_free(struct jw_alerts *a)
{
    jw_alerts_drop(a);
    free(a->events);
    a->events = NULL;
    a->cap = 0;
}
