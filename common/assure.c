/*
 * assure — [heartbeat] and [metrics]: see assure.h.
 */
#include "assure.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "i18n.h"

enum key {
    K_PING_URL = 0,
    K_CA_FILE,
    K_TIMEOUT,
    K_DAILY,
    K_TEXTFILE,
    K_COUNT,
};

static const struct {
    enum qn_assure_section section;
    const char *name;
} keys[K_COUNT] = {
    [K_PING_URL] = {QN_ASSURE_HEARTBEAT, "ping_url"},
    [K_CA_FILE] = {QN_ASSURE_HEARTBEAT, "ca_file"},
    [K_TIMEOUT] = {QN_ASSURE_HEARTBEAT, "timeout"},
    [K_DAILY] = {QN_ASSURE_HEARTBEAT, "daily"},
    [K_TEXTFILE] = {QN_ASSURE_METRICS, "textfile"},
};

_Static_assert(K_COUNT <= QN_ASSURE_KEYS_MAX, "QN_ASSURE_KEYS_MAX too small");

void qn_assure_defaults(struct qn_assure_config *c)
{
    memset(c, 0, sizeof(*c));
    c->timeout_s = QN_ASSURE_TIMEOUT_DEFAULT;
    c->daily_minute = -1;
}

bool qn_assure_section(const char *name, enum qn_assure_section *ret)
{
    if (strcasecmp(name, "heartbeat") == 0)
        *ret = QN_ASSURE_HEARTBEAT;
    else if (strcasecmp(name, "metrics") == 0)
        *ret = QN_ASSURE_METRICS;
    else
        return false;
    return true;
}

bool qn_assure_parse_clock(const char *s, int *ret)
{
    int h, m;

    if (strlen(s) != 5 || s[2] != ':')
        return false;
    for (size_t i = 0; i < 5; i++) {
        if (i != 2 && (s[i] < '0' || s[i] > '9'))
            return false;
    }
    h = (s[0] - '0') * 10 + (s[1] - '0');
    m = (s[3] - '0') * 10 + (s[4] - '0');
    if (h > 23 || m > 59)
        return false;
    *ret = h * 60 + m;
    return true;
}

/* https://, then printable ASCII without blanks, quotes, '<', '>' or '\'. */
static bool url_ok(const char *v)
{
    size_t n = strlen(v);

    if (strncasecmp(v, "https://", 8) != 0 || n <= 8 || n >= QN_ASSURE_URL_MAX)
        return false;
    for (const char *c = v; *c != '\0'; c++) {
        if (*c <= ' ' || *c >= 0x7f || strchr("\"'<>\\", *c) != NULL)
            return false;
    }
    return v[8] != '/';
}

static bool path_ok(const char *v)
{
    return v[0] == '/' && strlen(v) < QN_ASSURE_PATH_MAX;
}

static const char *keys_fix(enum qn_assure_section section)
{
    if (section == QN_ASSURE_METRICS)
        return N_("remove it or correct its spelling; the key of [metrics] is textfile");
    return N_("remove it or correct its spelling; keys of [heartbeat] are ping_url, ca_file, "
              "timeout and daily");
}

static enum qn_status bad(const char **ret_what, const char **ret_fix, const char *what,
                          const char *fix)
{
    *ret_what = what;
    *ret_fix = fix;
    return QN_ECONFIG;
}

enum qn_status qn_assure_set(struct qn_assure_config *c, struct qn_assure_parse *st,
                             enum qn_assure_section section, const char *key, const char *value,
                             const char **ret_what, const char **ret_fix)
{
    int k = -1, minute;
    unsigned timeout;
    size_t n = strlen(value);

    for (int i = 0; i < K_COUNT; i++) {
        if (keys[i].section == section && strcasecmp(keys[i].name, key) == 0)
            k = i;
    }
    if (k < 0)
        return bad(ret_what, ret_fix, N_("unknown key"), keys_fix(section));
    if (st->seen[k])
        return bad(ret_what, ret_fix, N_("the key is set twice"),
                   N_("each key may appear once in its section; remove one of the lines"));
    switch ((enum key)k) {
    case K_PING_URL:
        if (!url_ok(value))
            return bad(ret_what, ret_fix, N_("ping_url is not an https:// URL"),
                       N_("write the check's ping URL as the monitoring service shows it, e.g. "
                          "ping_url = https://hc-ping.com/UUID (https only, no blanks, under 512 "
                          "bytes)"));
        memcpy(c->ping_url, value, n + 1);
        break;
    case K_CA_FILE:
    case K_TEXTFILE:
        if (!path_ok(value))
            return bad(ret_what, ret_fix, N_("the path is not absolute"),
                       N_("write the full path, starting with /"));
        if (k == K_TEXTFILE && (n < 6 || strcmp(value + n - 5, ".prom") != 0))
            return bad(ret_what, ret_fix, N_("the metrics file does not end in .prom"),
                       N_("name a file in node_exporter's textfile directory ending in .prom, "
                          "e.g. textfile = /var/lib/prometheus/node-exporter/qqnotify.prom"));
        memcpy(k == K_CA_FILE ? c->ca_file : c->textfile, value, n + 1);
        break;
    case K_TIMEOUT:
        if (!qn_config_duration(value, 1, QN_ASSURE_TIMEOUT_MAX, &timeout))
            return bad(ret_what, ret_fix, N_("the timeout is not between 1 and 60 seconds"),
                       N_("write a number of seconds, e.g. timeout = 10"));
        c->timeout_s = timeout;
        break;
    case K_DAILY:
        if (!qn_assure_parse_clock(value, &minute))
            return bad(ret_what, ret_fix, N_("daily is not a time of day HH:MM"),
                       N_("write the local time of the all-clear summary, e.g. daily = 09:00"));
        c->daily_minute = minute;
        break;
    case K_COUNT:
        break;
    }
    st->seen[k] = true;
    return QN_OK;
}
