/*
 * rules_trust — which rules of a set entries any local user can write
 * satisfy (qn_rules_untrusted).  Contract: rules.h ("Trust"); layout:
 * rules_internal.h.
 *
 * What a process cannot choose (systemd.journal-fields(7)): journald adds
 * the fields starting with '_' from the kernel — the sender's credentials
 * (_UID, _GID, _PID), its cgroup (_SYSTEMD_UNIT, _SYSTEMD_SLICE, ...), how
 * the entry came in (_TRANSPORT) — and drops such fields when a client
 * sends them.  Not all of them keep a user out, though:
 *   - _COMM and _EXE are the sender's own process name and program: a user
 *     can run any program (including /usr/sbin/sshd) or name one "sshd";
 *   - _UID is the user's own uid for the user's processes, so only the uids
 *     of system accounts (below QN_RULES_USER_UID_MIN, and the reserved
 *     range up to 65535) say "a service wrote this"; _GID never does
 *     (newgrp gives a user's process any group the user belongs to);
 *   - _PID=1 is the service manager; any other pid can be a user's;
 *   - _TRANSPORT=kernel, audit and driver (journald's own) cannot come
 *     from a user; journal, syslog and stdout can;
 *   - _SYSTEMD_UNIT, _SYSTEMD_SLICE and _SYSTEMD_CGROUP are a user's for
 *     the user's sessions and user manager (session-*.scope, user@.service,
 *     user-*.slice), and for the units that run users' commands (cron and
 *     at jobs, sshd without pam_systemd): those values do not count;
 *   - the _SYSTEMD_USER_*, _SYSTEMD_OWNER_UID, _SYSTEMD_SESSION,
 *     _AUDIT_SESSION, _CAP_EFFECTIVE, _SELINUX_CONTEXT, _CMDLINE,
 *     _HOSTNAME, _BOOT_ID, _MACHINE_ID, _SOURCE_* fields describe (or are
 *     the same for) users' entries too;
 *   - _KERNEL_* and _UDEV_* come with kernel entries only.
 * Fields not named here count as a user's (an unknown field is not proof).
 * Only equality conditions (match lines) and uid ranges are judged: a
 * pattern, an exclude, unless or a priority bound never keeps a user out.
 * One condition that keeps users out is enough: with _UID=0, the
 * SYSLOG_IDENTIFIER beside it was chosen by a root process.  (The firmest
 * are _UID and _PID, which come with the message; _COMM, _EXE and the unit
 * fields are read from /proc afterwards: missing when the sender has
 * exited, and lent by another process that got its pid.)
 *
 * This is advice for `qqnotify-journal --check` and the log at start:
 * nothing here changes what a rule matches.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "i18n.h"
#include "rules_internal.h"
#include "text.h"

/* Whether the N bytes at S, a decimal id, can be the id of a local user's account. */
static bool user_id(const char *s, size_t n)
{
    unsigned long v;

    if (!uid_parse(s, n, &v))
        return true;
    return (v >= QN_RULES_USER_UID_MIN && v <= QN_RULES_USER_UID_MAX) || v > 65535;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Units in which the commands of users run (without pam_systemd for their sessions). */
static bool runs_users_commands(const char *unit)
{
    static const char *const units[] = {"cron.service", "crond.service",   "anacron.service",
                                        "atd.service",  "ssh.service",     "sshd.service",
                                        "system.slice", "user.slice",      "session.slice",
                                        "app.slice",    "background.slice"};
    size_t i;

    if (strcmp(unit, "init.scope") == 0 || strcmp(unit, "-.slice") == 0)
        return false; /* the service manager's own */
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(unit, units[i]) == 0)
            return true;
    }
    /* sessions, user managers, their slices; per-connection sshd (socket activation) */
    return starts_with(unit, "session-") || starts_with(unit, "user@") ||
           starts_with(unit, "user-") || starts_with(unit, "sshd@") || starts_with(unit, "ssh@") ||
           ends_with(unit, ".scope");
}

/* Whether a process of a local user can write an entry whose FIELD is VALUE. */
static bool user_can_write(const char *field, const char *value, size_t len)
{
    static const char *const kernel_only[] = {"_KERNEL_DEVICE", "_KERNEL_SUBSYSTEM",
                                              "_UDEV_SYSNAME", "_UDEV_DEVNODE", "_UDEV_DEVLINK"};
    size_t i;

    if (field[0] != '_')
        return true;
    if (strcmp(field, "_TRANSPORT") == 0)
        return strcmp(value, "kernel") != 0 && strcmp(value, "audit") != 0 &&
               strcmp(value, "driver") != 0;
    /* _GID is not among them: newgrp gives a user's processes any group the user is in. */
    if (strcmp(field, "_UID") == 0 || strcmp(field, "_AUDIT_LOGINUID") == 0)
        return user_id(value, len);
    if (strcmp(field, "_PID") == 0)
        return strcmp(value, "1") != 0;
    if (strcmp(field, "_SYSTEMD_UNIT") == 0 || strcmp(field, "_SYSTEMD_SLICE") == 0)
        return value[0] == '\0' || runs_users_commands(value);
    if (strcmp(field, "_SYSTEMD_CGROUP") == 0) {
        const char *last = strrchr(value, '/');
        return value[0] != '/' || starts_with(value, "/user.slice") || strcmp(value, "/") == 0 ||
               last == NULL || runs_users_commands(last + 1);
    }
    for (i = 0; i < sizeof(kernel_only) / sizeof(kernel_only[0]); i++) {
        if (strcmp(field, kernel_only[i]) == 0)
            return false;
    }
    return true;
}

/* Whether some uid range of R holds a local user's uid. */
static bool uids_reach_users(const struct rule *r)
{
    size_t i;

    for (i = 0; i < r->n_uids; i++) {
        unsigned long lo = r->uids[i].lo, hi = r->uids[i].hi;
        if ((lo <= QN_RULES_USER_UID_MAX && hi >= QN_RULES_USER_UID_MIN) || hi > 65535)
            return true;
    }
    return false;
}

/* Append "; " (unless first) and TEXT to OUT (N bytes, *LEN used), cutting quietly. */
static void add_part(char *out, size_t n, size_t *len, const char *text)
{
    const char *sep = *len > 0 ? "; " : "";
    size_t k;

    for (k = 0; sep[k] != '\0' && *len + 1 < n; k++)
        out[(*len)++] = sep[k];
    for (k = 0; text[k] != '\0' && *len + 1 < n; k++)
        out[(*len)++] = text[k];
    out[*len] = '\0';
}

/* What a user does to meet R's conditions, into OUT (N bytes). */
static void describe(const struct qn_rules *rs, const struct rule *r, char *out, size_t n)
{
    char part[QN_RULES_FIELD_MAX + QN_RULES_VALUE_MAX + 64];
    size_t len = 0, i;

    out[0] = '\0';
    for (i = 0; i < r->n_matches; i++) {
        const char *name = rs->fields[r->matches[i].field].name;
        const char *v = r->matches[i].value;

        if (strcmp(name, "SYSLOG_IDENTIFIER") == 0)
            snprintf(part, sizeof(part), "SYSLOG_IDENTIFIER=%s (logger -t %s)", v, v);
        else if (strcmp(name, "_COMM") == 0)
            snprintf(part, sizeof(part), "_COMM=%s (a program the user names %s)", v, v);
        else if (strcmp(name, "_EXE") == 0)
            snprintf(part, sizeof(part), "_EXE=%s (the user runs %s)", v, v);
        else if (name[0] != '_')
            snprintf(part, sizeof(part), "%s=%s (written by the sender)", name, v);
        else
            snprintf(part, sizeof(part), "%s=%s (a user's process can have it)", name, v);
        add_part(out, n, &len, part);
    }
    if (r->n_uids > 0)
        add_part(out, n, &len, "uid (a range holding users' uids)");
    if (r->re != NULL)
        add_part(out, n, &len, "MESSAGE (written by the sender)");
    if (r->has_priority)
        add_part(out, n, &len, "PRIORITY (written by the sender)");
}

/* The lines that would keep users out of R, into OUT (N bytes): a condition on the sender's
 * credentials, which journald takes from the kernel with the message. */
static void suggest(char *out, size_t n)
{
    size_t len = 0;

    out[0] = '\0';
    add_part(out, n, &len, "match = _UID=0 (the sender is root)");
    add_part(out, n, &len, "uid = ..999 (a system service)");
    add_part(out, n, &len, "match = _PID=1 (the service manager)");
}

size_t qn_rules_untrusted(const struct qn_rules *rs, struct qn_rules_errors *warnings)
{
    char detail[1024];
    size_t found = 0, i, k;

    for (i = 0; rs != NULL && i < rs->n_rules; i++) {
        const struct rule *r = rs->rules[i];
        bool anchored = r->n_uids > 0 && !uids_reach_users(r);
        struct qn_rules_error *w;

        /* Match lines are grouped by field (ORed within, ANDed across): a group keeps users
         * out when none of its values is one a user can write. */
        for (k = 0; k < r->n_matches && !anchored;) {
            int field = r->matches[k].field;
            bool group_trusted = true;

            for (; k < r->n_matches && r->matches[k].field == field; k++) {
                if (user_can_write(rs->fields[field].name, r->matches[k].value, r->matches[k].len))
                    group_trusted = false;
            }
            anchored = group_trusted;
        }
        if (anchored)
            continue;
        found++;
        if (warnings == NULL)
            continue;
        if (warnings->n >= QN_RULES_ERRORS_MAX) {
            warnings->dropped++;
            continue;
        }
        describe(rs, r, detail, sizeof(detail));
        w = &warnings->e[warnings->n++];
        memset(w, 0, sizeof(*w));
        qn_text_sanitize_line(r->file, strlen(r->file), w->file, sizeof(w->file));
        w->line = r->line;
        qn_text_sanitize_line(r->name, strlen(r->name), w->rule, sizeof(w->rule));
        w->what = N_("any local user can write entries that fire this rule");
        qn_text_sanitize_line(detail, strlen(detail), w->detail, sizeof(w->detail));
        suggest(detail, sizeof(detail));
        qn_text_sanitize_line(detail, strlen(detail), w->fix, sizeof(w->fix));
    }
    return found;
}
