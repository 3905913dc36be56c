/*
 * noise — see noise.h.  One table of keys, as config.c keeps its own, so
 * the list an error prints and the keys accepted cannot drift apart.
 */
#include "i18n.h"
#include "noise.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "seen.h"

#define DAY_S          86400u
#define MIN_REMEMBER_S DAY_S
#define MAX_REMEMBER_S (3650u * DAY_S)

enum key {
    K_NOTIFY,
    K_REMEMBER,
    K_HOURS,
    K_RDNS,
    K_GEOIP,
    K_SEVERITY_FIRST, /* one key per severity class from here on */
    K_COUNT = K_SEVERITY_FIRST + QN_SEVCLASS_COUNT
};

_Static_assert(K_COUNT <= QN_NOISE_KEYS_MAX, "QN_NOISE_KEYS_MAX too small");

static const struct {
    enum qn_noise_section section;
    const char *name;
} keys[K_SEVERITY_FIRST] = {
    [K_NOTIFY] = {QN_NOISE_LOGIN, "notify"}, [K_REMEMBER] = {QN_NOISE_LOGIN, "remember"},
    [K_HOURS] = {QN_NOISE_QUIET, "hours"},   [K_RDNS] = {QN_NOISE_ENRICH, "rdns"},
    [K_GEOIP] = {QN_NOISE_ENRICH, "geoip"},
};

static const char *const section_names[] = {
    [QN_NOISE_LOGIN] = "login",
    [QN_NOISE_QUIET] = "quiet",
    [QN_NOISE_SEVERITY] = "severity",
    [QN_NOISE_ENRICH] = "enrich",
};

void qn_noise_defaults(struct qn_noise_config *c)
{
    memset(c, 0, sizeof(*c));
    c->login_notify = QN_LOGIN_NOTIFY_ALWAYS;
    c->remember_s = (unsigned)QN_SEEN_REMEMBER_DEFAULT_S;
    qn_severity_defaults(&c->severity);
    c->rdns = true;
}

bool qn_noise_section(const char *name, enum qn_noise_section *ret)
{
    for (size_t i = 0; i < sizeof(section_names) / sizeof(section_names[0]); i++) {
        if (strcasecmp(name, section_names[i]) == 0) {
            *ret = (enum qn_noise_section)i;
            return true;
        }
    }
    return false;
}

static const char *keys_fix(enum qn_noise_section s)
{
    switch (s) {
    case QN_NOISE_LOGIN:
        return N_("remove it or correct its spelling; keys of [login] are notify and remember");
    case QN_NOISE_QUIET:
        return N_("remove it or correct its spelling; the key of [quiet] is hours");
    case QN_NOISE_SEVERITY:
        return N_("remove it or correct its spelling; keys of [severity] are root_login, sudo, "
                  "login, logout, authfail, journal, notify and other");
    case QN_NOISE_ENRICH:
        break;
    }
    return N_("remove it or correct its spelling; keys of [enrich] are rdns and geoip");
}

/* "a, b" into C's geoip list: absolute paths, at most QN_NOISE_GEOIP_MAX. */
static bool set_geoip(struct qn_noise_config *c, const char *value)
{
    char paths[QN_NOISE_GEOIP_MAX][QN_NOISE_PATH_MAX];
    size_t n = 0;
    const char *p = value;

    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t len;

        if (end == NULL)
            end = p + strlen(p);
        while (p < end && *p == ' ')
            p++;
        len = (size_t)(end - p);
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len > 0) {
            if (n == QN_NOISE_GEOIP_MAX || p[0] != '/' || len >= QN_NOISE_PATH_MAX)
                return false;
            memcpy(paths[n], p, len);
            paths[n][len] = '\0';
            n++;
        }
        p = *end == ',' ? end + 1 : end;
    }
    if (n == 0)
        return false;
    memcpy(c->geoip, paths, sizeof(paths));
    c->n_geoip = n;
    return true;
}

enum qn_status qn_noise_set(struct qn_noise_config *c, struct qn_noise_parse *st,
                            enum qn_noise_section section, const char *key, const char *value,
                            const char **ret_what, const char **ret_fix)
{
    enum qn_severity_class cls;
    enum qn_severity sev;
    int k = -1;
    unsigned dur;

    for (int i = 0; i < K_SEVERITY_FIRST; i++) {
        if (keys[i].section == section && strcasecmp(keys[i].name, key) == 0)
            k = i;
    }
    if (section == QN_NOISE_SEVERITY && qn_severity_class_parse(key, &cls))
        k = K_SEVERITY_FIRST + (int)cls;
    if (k < 0) {
        *ret_what = N_("unknown key");
        *ret_fix = keys_fix(section);
        return QN_ECONFIG;
    }
    if (st->seen[k]) {
        *ret_what = N_("the key is set twice");
        *ret_fix = N_("each key may appear once in its section; remove one of the lines");
        return QN_ECONFIG;
    }
    switch (k) {
    case K_NOTIFY:
        if (strcasecmp(value, "always") == 0)
            c->login_notify = QN_LOGIN_NOTIFY_ALWAYS;
        else if (strcasecmp(value, "new") == 0)
            c->login_notify = QN_LOGIN_NOTIFY_NEW;
        else
            goto bad_notify;
        break;
    case K_REMEMBER:
        if (!qn_config_duration(value, MIN_REMEMBER_S, MAX_REMEMBER_S, &dur)) {
            *ret_what = N_("the duration is not between 1 day and 3650 days");
            *ret_fix = N_("write a number followed by d (or h, m, s), e.g. remember = 90d");
            return QN_ECONFIG;
        }
        c->remember_s = dur;
        break;
    case K_HOURS:
        if (qn_quiet_parse(value, &c->quiet) != QN_OK) {
            *ret_what = N_("the quiet hours are not HH:MM-HH:MM");
            *ret_fix = N_("write the local start and end times, e.g. hours = 23:00-07:00 (over "
                          "midnight when the end comes first)");
            return QN_ECONFIG;
        }
        break;
    case K_RDNS:
        if (!qn_config_bool(value, &c->rdns)) {
            *ret_what = N_("the value is not yes or no");
            *ret_fix = N_("write rdns = yes or rdns = no");
            return QN_ECONFIG;
        }
        break;
    case K_GEOIP:
        if (!set_geoip(c, value)) {
            *ret_what = N_("geoip is not a list of absolute paths");
            *ret_fix = N_("write one to four .mmdb files separated by commas, e.g. geoip = "
                          "/var/lib/GeoIP/GeoLite2-City.mmdb, /var/lib/GeoIP/GeoLite2-ASN.mmdb");
            return QN_ECONFIG;
        }
        break;
    default:
        if (!qn_severity_parse(value, &sev)) {
            *ret_what = N_("the severity is not critical, warning or info");
            *ret_fix = N_("write e.g. login = warning");
            return QN_ECONFIG;
        }
        c->severity.of[k - K_SEVERITY_FIRST] = sev;
        break;
    }
    st->seen[k] = true;
    return QN_OK;
bad_notify:
    *ret_what = N_("notify is not always or new");
    *ret_fix = N_("write notify = always (every login is mailed) or notify = new (only logins "
                  "from a new network or key)");
    return QN_ECONFIG;
}
