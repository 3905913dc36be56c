/*
 * route — [route NAME] sections and the [notify] route keys; contract in route.h.
 *
 * One table of keys (name, setter) like config.c's, so the list an error
 * prints and the keys accepted cannot drift apart.  Defaults per type are
 * laid down when type is read, and keys written before type are refused
 * ("type comes first"), so a default can never overwrite what the file
 * says.
 */
#include "i18n.h"
#include "route.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"

#define DEFAULT_TIMEOUT_S    30
#define MAX_TIMEOUT_S        600
#define MAX_PER_SECOND       100
#define MAX_BLOCK_S          86400u
#define DEFAULT_FAILOVER_S   600u
#define MAX_FAILOVER_AFTER_S 86400u

enum list_kind { LIST_ROUTES = 0, LIST_CRITICAL = 1 };

struct type_def {
    const char *name;
    enum qn_route_type type;
    const char *url;
    enum qn_route_format format;
    struct qn_route_limits limits;
};

/* What each platform allows one robot (route.h). */
static const struct type_def types[] = {
    {"smtp", QN_ROUTE_TYPE_SMTP, "", QN_ROUTE_FORMAT_TEXT, {0, 0, 0, 0, 0}},
    {"wecom", QN_ROUTE_TYPE_WECOM, QN_ROUTE_WECOM_URL, QN_ROUTE_FORMAT_MARKDOWN, {0, 20, 0, 0, 0}},
    {"dingtalk",
     QN_ROUTE_TYPE_DINGTALK,
     QN_ROUTE_DINGTALK_URL,
     QN_ROUTE_FORMAT_MARKDOWN,
     {0, 20, 0, 0, 600}},
    {"feishu", QN_ROUTE_TYPE_FEISHU, QN_ROUTE_FEISHU_URL, QN_ROUTE_FORMAT_POST, {5, 100, 0, 0, 0}},
};

typedef enum qn_status (*route_setter)(struct qn_route *r, const char *key, const char *value,
                                       struct qn_route_problem *ret);

struct key_def {
    const char *name;
    route_setter set;
};

static enum qn_status set_url(struct qn_route *r, const char *key, const char *value,
                              struct qn_route_problem *ret);
static enum qn_status set_format(struct qn_route *r, const char *key, const char *value,
                                 struct qn_route_problem *ret);
static enum qn_status set_keyword(struct qn_route *r, const char *key, const char *value,
                                  struct qn_route_problem *ret);
static enum qn_status set_ca_file(struct qn_route *r, const char *key, const char *value,
                                  struct qn_route_problem *ret);
static enum qn_status set_proxy(struct qn_route *r, const char *key, const char *value,
                                struct qn_route_problem *ret);
static enum qn_status set_timeout(struct qn_route *r, const char *key, const char *value,
                                  struct qn_route_problem *ret);
static enum qn_status set_per_second(struct qn_route *r, const char *key, const char *value,
                                     struct qn_route_problem *ret);
static enum qn_status set_per_minute(struct qn_route *r, const char *key, const char *value,
                                     struct qn_route_problem *ret);
static enum qn_status set_per_hour(struct qn_route *r, const char *key, const char *value,
                                   struct qn_route_problem *ret);
static enum qn_status set_per_day(struct qn_route *r, const char *key, const char *value,
                                  struct qn_route_problem *ret);
static enum qn_status set_limit_block(struct qn_route *r, const char *key, const char *value,
                                      struct qn_route_problem *ret);

/* "type" is not here: it comes first and is handled apart.  Keep in step with keys_fix. */
static const struct key_def keys[] = {
    {"url", set_url},
    {"format", set_format},
    {"keyword", set_keyword},
    {"ca_file", set_ca_file},
    {"proxy", set_proxy},
    {"timeout", set_timeout},
    {"max_per_second", set_per_second},
    {"max_per_minute", set_per_minute},
    {"max_per_hour", set_per_hour},
    {"max_per_day", set_per_day},
    {"limit_block", set_limit_block},
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static const char keys_fix[] =
    N_("remove it or correct its spelling; keys of [route NAME] are type, url, format, keyword, "
       "ca_file, proxy, timeout, max_per_second, max_per_minute, max_per_hour, max_per_day and "
       "limit_block");

/* ---- small helpers -------------------------------------------------------------------- */

static enum qn_status problem(struct qn_route_problem *ret, const char *key, const char *value,
                              size_t value_len, const char *what, const char *fix)
{
    memset(ret, 0, sizeof(*ret));
    ret->key = key;
    ret->value = value;
    ret->value_len = value != NULL ? value_len : 0;
    ret->what = what;
    ret->fix = fix;
    return QN_ECONFIG;
}

static enum qn_status bad_value(struct qn_route_problem *ret, const char *key, const char *value,
                                const char *what, const char *fix)
{
    return problem(ret, key, value, value != NULL ? strlen(value) : 0, what, fix);
}

bool qn_route_name_valid(const char *s, size_t n)
{
    if (n == 0 || n >= QN_ROUTE_NAME_MAX || s[0] < 'a' || s[0] > 'z')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

static const struct type_def *type_find(const char *name)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcasecmp(types[i].name, name) == 0)
            return &types[i];
    }
    return NULL;
}

static int route_index(const struct qn_routes *rs, const char *name, size_t n)
{
    for (size_t i = 0; i < rs->n; i++) {
        if (strlen(rs->route[i].name) == n && memcmp(rs->route[i].name, name, n) == 0)
            return (int)i;
    }
    return -1;
}

static bool copy(char *dst, size_t dstsz, const char *value)
{
    size_t n = strlen(value);

    if (n >= dstsz)
        return false;
    memcpy(dst, value, n + 1);
    return true;
}

/* ---- URLs ----------------------------------------------------------------------------- */

/*
 * An https URL we may send a secret to and print: printable ASCII without
 * blanks, quotes or backslashes, a host, no user:password@, no query or
 * fragment (the secret is added by the transport, and a url that already
 * carries one would be a secret in the file).  *RET_WHY says what is wrong.
 */
static bool url_plausible(const char *url, const char *const *schemes, const char **ret_why)
{
    const char *host = NULL, *end;
    size_t i;

    for (i = 0; schemes[i] != NULL; i++) {
        size_t n = strlen(schemes[i]);
        if (strncasecmp(url, schemes[i], n) == 0) {
            host = url + n;
            break;
        }
    }
    if (host == NULL) {
        *ret_why = "scheme";
        return false;
    }
    for (const char *c = url; *c != '\0'; c++) {
        unsigned char u = (unsigned char)*c;
        if (u <= 0x20 || u >= 0x7f || strchr("\"'\\<>{}|^`", u) != NULL) {
            *ret_why = "character";
            return false;
        }
    }
    if (strchr(url, '?') != NULL || strchr(url, '#') != NULL) {
        *ret_why = "query";
        return false;
    }
    end = host + strcspn(host, "/");
    if (end == host) {
        *ret_why = "host";
        return false;
    }
    if (memchr(host, '@', (size_t)(end - host)) != NULL) {
        *ret_why = "userinfo";
        return false;
    }
    return true;
}

/* A path segment that looks like a Feishu hook id: 8-4-4-4-12 hex digits. */
static bool looks_like_hook_id(const char *s, size_t n)
{
    static const size_t groups[] = {8, 4, 4, 4, 12};
    size_t pos = 0;

    if (n != 36)
        return false;
    for (size_t g = 0; g < 5; g++) {
        for (size_t i = 0; i < groups[g]; i++, pos++) {
            char c = s[pos];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
                return false;
        }
        if (g < 4 && s[pos++] != '-')
            return false;
    }
    return true;
}

static enum qn_status secret_in_url(struct qn_route_problem *ret, const char *key, const char *fix)
{
    problem(ret, key, NULL, 0, N_("the url must not hold the robot's key or token"), fix);
    ret->secret_key = true;
    return QN_ECONFIG;
}

/* The url is never echoed in an error: whatever is wrong with it, it may hold the secret. */
static enum qn_status set_url(struct qn_route *r, const char *key, const char *value,
                              struct qn_route_problem *ret)
{
    static const char *const https[] = {"https://", NULL};
    const char *why = "", *last;
    size_t n = strlen(value);

    if (strchr(value, '?') != NULL)
        return secret_in_url(ret, key,
                             N_("write the endpoint only (or remove url for the official one) "
                                "and store the key or token with `qqnotify-secret set --route "
                                "NAME`"));
    while (n > 0 && value[n - 1] == '/')
        n--;
    last = value + n;
    while (last > value && last[-1] != '/')
        last--;
    if (r->type == QN_ROUTE_TYPE_FEISHU && looks_like_hook_id(last, (size_t)(value + n - last)))
        return secret_in_url(
            ret, key,
            N_("write the endpoint without the hook id "
               "(https://open.feishu.cn/open-apis/bot/v2/hook) and store the hook id with "
               "`qqnotify-secret set --route NAME`"));
    if (!url_plausible(value, https, &why))
        return bad_value(
            ret, key, NULL, N_("the url is not an https:// address"),
            N_("write the endpoint as https://host/path without spaces, user name "
               "or query, e.g. url = https://qyapi.weixin.qq.com/cgi-bin/webhook/send"));
    if (!copy(r->url, sizeof(r->url), value))
        return bad_value(ret, key, NULL, N_("the value is too long"),
                         N_("a url has at most 511 bytes"));
    return QN_OK;
}

static enum qn_status set_proxy(struct qn_route *r, const char *key, const char *value,
                                struct qn_route_problem *ret)
{
    static const char *const schemes[] = {"http://", "https://", "socks5://", "socks5h://", NULL};
    const char *why = "";

    if (value[0] == '\0') {
        r->proxy[0] = '\0';
        return QN_OK;
    }
    if (strchr(value, '@') != NULL) {
        problem(ret, key, NULL, 0, N_("the proxy address must not hold a password"),
                N_("use a proxy that does not need a password, or one that trusts this host's "
                   "address"));
        ret->secret_key = true;
        return QN_ECONFIG;
    }
    if (!url_plausible(value, schemes, &why) || !copy(r->proxy, sizeof(r->proxy), value))
        return bad_value(ret, key, value, N_("the proxy is not a proxy address"),
                         N_("write it as http://host:port, https://host:port or "
                            "socks5h://host:port"));
    return QN_OK;
}

/* ---- the other keys -------------------------------------------------------------------- */

static enum qn_status set_format(struct qn_route *r, const char *key, const char *value,
                                 struct qn_route_problem *ret)
{
    if (strcasecmp(value, "text") == 0)
        r->format = QN_ROUTE_FORMAT_TEXT;
    else if (strcasecmp(value, "markdown") == 0 && r->type != QN_ROUTE_TYPE_FEISHU)
        r->format = QN_ROUTE_FORMAT_MARKDOWN;
    else if (strcasecmp(value, "post") == 0 && r->type == QN_ROUTE_TYPE_FEISHU)
        r->format = QN_ROUTE_FORMAT_POST;
    else
        return bad_value(ret, key, value, N_("unknown format for this robot"),
                         N_("wecom and dingtalk take format = markdown (the default) or text; "
                            "feishu takes post (the default) or text"));
    return QN_OK;
}

static enum qn_status set_keyword(struct qn_route *r, const char *key, const char *value,
                                  struct qn_route_problem *ret)
{
    if (!copy(r->keyword, sizeof(r->keyword), value))
        return bad_value(ret, key, NULL, N_("the value is too long"),
                         N_("a keyword has at most 63 bytes"));
    return QN_OK;
}

static enum qn_status set_ca_file(struct qn_route *r, const char *key, const char *value,
                                  struct qn_route_problem *ret)
{
    if (value[0] != '\0' && value[0] != '/')
        return bad_value(ret, key, value, N_("the path is not absolute"),
                         N_("write the full path, starting with /"));
    if (!copy(r->ca_file, sizeof(r->ca_file), value))
        return bad_value(ret, key, NULL, N_("the value is too long"),
                         N_("paths are limited to 4095 bytes"));
    return QN_OK;
}

static enum qn_status set_timeout(struct qn_route *r, const char *key, const char *value,
                                  struct qn_route_problem *ret)
{
    if (!qn_config_duration(value, 1, MAX_TIMEOUT_S, &r->timeout_s))
        return bad_value(ret, key, value, N_("the timeout is not between 1 and 600 seconds"),
                         N_("write a number of seconds, e.g. timeout = 30 or timeout = 30s"));
    return QN_OK;
}

static enum qn_status set_count(const char *key, const char *value, unsigned max, unsigned *dst,
                                struct qn_route_problem *ret)
{
    if (!qn_config_parse_count(value, max, dst))
        return bad_value(ret, key, value,
                         max == MAX_PER_SECOND
                             ? N_("the value is not a whole number from 0 to 100")
                             : N_("the value is not a whole number from 0 to 2000"),
                         N_("write a count, e.g. max_per_minute = 20; 0 means no limit"));
    return QN_OK;
}

static enum qn_status set_per_second(struct qn_route *r, const char *key, const char *value,
                                     struct qn_route_problem *ret)
{
    return set_count(key, value, MAX_PER_SECOND, &r->limits.max_per_second, ret);
}

static enum qn_status set_per_minute(struct qn_route *r, const char *key, const char *value,
                                     struct qn_route_problem *ret)
{
    return set_count(key, value, QN_RATELIMIT_SENT_MAX, &r->limits.max_per_minute, ret);
}

static enum qn_status set_per_hour(struct qn_route *r, const char *key, const char *value,
                                   struct qn_route_problem *ret)
{
    return set_count(key, value, QN_RATELIMIT_SENT_MAX, &r->limits.max_per_hour, ret);
}

static enum qn_status set_per_day(struct qn_route *r, const char *key, const char *value,
                                  struct qn_route_problem *ret)
{
    return set_count(key, value, QN_RATELIMIT_SENT_MAX, &r->limits.max_per_day, ret);
}

static enum qn_status set_limit_block(struct qn_route *r, const char *key, const char *value,
                                      struct qn_route_problem *ret)
{
    if (!qn_config_duration(value, 0, MAX_BLOCK_S, &r->limits.block_s))
        return bad_value(ret, key, value, N_("the duration is not between 0 and 24 hours"),
                         N_("write seconds or a number followed by s, m, h or d, e.g. "
                            "limit_block = 10m"));
    return QN_OK;
}

static enum qn_status set_type(struct qn_routes *rs, struct qn_route *r, const char *key,
                               const char *value, struct qn_route_problem *ret)
{
    const struct type_def *t = type_find(value);

    if (t == NULL)
        return bad_value(ret, key, value, N_("unknown route type"),
                         N_("type is wecom, dingtalk or feishu (smtp is the [smtp] section)"));
    if ((t->type == QN_ROUTE_TYPE_SMTP) != (strcmp(r->name, QN_ROUTE_SMTP) == 0))
        return bad_value(ret, key, value,
                         t->type == QN_ROUTE_TYPE_SMTP ? N_("a second SMTP route is not supported")
                                                       : N_("the route smtp is the [smtp] section"),
                         N_("the [smtp] section is the route smtp, the one SMTP account; name "
                            "chat robots otherwise, e.g. [route ops] with type = wecom"));
    r->type = t->type;
    r->format = t->format;
    r->limits = t->limits;
    r->timeout_s = DEFAULT_TIMEOUT_S;
    snprintf(r->url, sizeof(r->url), "%s", t->url);
    rs->has_type = true;
    return QN_OK;
}

/* ---- public functions ------------------------------------------------------------------ */

void qn_routes_defaults(struct qn_routes *rs)
{
    memset(rs, 0, sizeof(*rs));
    snprintf(rs->route[0].name, sizeof(rs->route[0].name), "%s", QN_ROUTE_SMTP);
    rs->route[0].type = QN_ROUTE_TYPE_SMTP;
    rs->route[0].format = QN_ROUTE_FORMAT_TEXT;
    rs->n = 1;
    rs->order[0] = 0;
    rs->n_order = 1;
    rs->failover_after_s = DEFAULT_FAILOVER_S;
    rs->current = -1;
}

bool qn_route_key_is_secret(const char *key)
{
    static const char *const names[] = {
        "key",     "token",  "access_token", "accesstoken", "webhook",        "webhook_url", "hook",
        "hook_id", "hookid", "robot_key",    "sign",        "signing_secret", "sign_key",    NULL,
    };
    char norm[64];
    size_t i, n = strlen(key);

    if (n >= sizeof(norm))
        return false;
    for (i = 0; i < n; i++) {
        char c = key[i];
        norm[i] = c == '-' ? '_' : (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    norm[n] = '\0';
    for (i = 0; names[i] != NULL; i++) {
        if (strcmp(norm, names[i]) == 0)
            return true;
    }
    return strstr(norm, "token") != NULL;
}

enum qn_status qn_route_begin(struct qn_routes *rs, const char *name, unsigned line,
                              struct qn_route_problem *ret)
{
    size_t n = strlen(name);
    struct qn_route *r;

    rs->current = -1;
    if (!qn_route_name_valid(name, n))
        return problem(ret, "route", name, n, N_("the route name is not valid"),
                       N_("name routes with lower-case letters, digits, '-' and '_', starting "
                          "with a letter, at most 31 bytes, e.g. [route ops]"));
    if (strcmp(name, QN_ROUTE_SMTP) == 0) {
        /* [route smtp] may say type = smtp, nothing else: its keys are [smtp]'s. */
        if (rs->route[0].line != 0)
            return problem(ret, "route", name, n, N_("the route is declared twice"),
                           N_("each [route NAME] appears once; merge the two sections"));
        rs->route[0].line = line;
        rs->current = 0;
        rs->seen = 0;
        rs->has_type = false;
        return QN_OK;
    }
    if (route_index(rs, name, n) >= 0)
        return problem(ret, "route", name, n, N_("the route is declared twice"),
                       N_("each [route NAME] appears once; merge the two sections"));
    if (rs->n >= QN_ROUTES_MAX)
        return problem(ret, "route", NULL, 0, N_("too many routes"),
                       N_("at most 8 routes, the smtp route included"));
    r = &rs->route[rs->n];
    memset(r, 0, sizeof(*r));
    memcpy(r->name, name, n + 1);
    r->line = line;
    rs->current = (int)rs->n++;
    rs->seen = 0;
    rs->has_type = false;
    return QN_OK;
}

enum qn_status qn_route_set(struct qn_routes *rs, const char *key, const char *value,
                            struct qn_route_problem *ret)
{
    struct qn_route *r;
    size_t i;

    if (rs->current < 0)
        return bad_value(ret, key, NULL, N_("the key is not under a section header"), keys_fix);
    r = &rs->route[rs->current];
    if (strcasecmp(key, "type") == 0) {
        if (rs->has_type)
            return bad_value(ret, "type", NULL, N_("the key is set twice"),
                             N_("each key may appear once in its section; remove one of the "
                                "lines"));
        return set_type(rs, r, "type", value, ret);
    }
    for (i = 0; i < N_KEYS && strcasecmp(keys[i].name, key) != 0; i++)
        ;
    if (i == N_KEYS)
        return bad_value(ret, key, NULL, N_("unknown key"), keys_fix);
    if (!rs->has_type)
        return bad_value(ret, keys[i].name, NULL, N_("type must come first in a [route] section"),
                         N_("start the section with type = wecom, dingtalk or feishu"));
    if (r->type == QN_ROUTE_TYPE_SMTP)
        return bad_value(ret, keys[i].name, NULL, N_("the route smtp takes no keys but type"),
                         N_("set the SMTP account in [smtp] and its limits in [limits]"));
    if (rs->seen & (1u << i))
        return bad_value(ret, keys[i].name, NULL, N_("the key is set twice"),
                         N_("each key may appear once in its section; remove one of the lines"));
    rs->seen |= 1u << i;
    return keys[i].set(r, keys[i].name, value, ret);
}

/* A comma-separated list of route names into rs->names[KIND] (checked at the end). */
static enum qn_status set_list(struct qn_routes *rs, enum list_kind kind, const char *key,
                               const char *value, unsigned line, struct qn_route_problem *ret)
{
    const char *item = value;
    size_t *n = &rs->n_names[kind];

    *n = 0;
    rs->names_line[kind] = line;
    for (;;) {
        const char *end = strchr(item, ',');
        const char *a = item, *b = end != NULL ? end : item + strlen(item);

        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (a == b || !qn_route_name_valid(a, (size_t)(b - a)))
            return problem(ret, key, a, (size_t)(b - a),
                           N_("a route name in the list is not valid"),
                           N_("list route names separated by ASCII commas, e.g. routes = smtp, "
                              "ops"));
        for (size_t i = 0; i < *n; i++) {
            if (strlen(rs->names[kind][i]) == (size_t)(b - a) &&
                memcmp(rs->names[kind][i], a, (size_t)(b - a)) == 0)
                return problem(ret, key, a, (size_t)(b - a), N_("a route is listed twice"),
                               N_("name each route once"));
        }
        if (*n >= QN_ROUTES_MAX)
            return problem(ret, key, NULL, 0, N_("too many routes"),
                           N_("at most 8 routes, the smtp route included"));
        memcpy(rs->names[kind][*n], a, (size_t)(b - a));
        rs->names[kind][*n][b - a] = '\0';
        (*n)++;
        if (end == NULL)
            return QN_OK;
        item = end + 1;
    }
}

enum qn_status qn_route_notify_set(struct qn_routes *rs, const char *key, const char *value,
                                   unsigned line, struct qn_route_problem *ret)
{
    if (strcasecmp(key, "routes") == 0)
        return set_list(rs, LIST_ROUTES, "routes", value, line, ret);
    if (strcasecmp(key, "critical_routes") == 0) {
        if (strcasecmp(value, "all") == 0) {
            rs->critical_all = true;
            rs->n_names[LIST_CRITICAL] = 0;
            return QN_OK;
        }
        rs->critical_all = false;
        return set_list(rs, LIST_CRITICAL, "critical_routes", value, line, ret);
    }
    if (strcasecmp(key, "failover_after") == 0) {
        if (!qn_config_duration(value, 0, MAX_FAILOVER_AFTER_S, &rs->failover_after_s))
            return bad_value(ret, "failover_after", value,
                             N_("the duration is not between 0 and 24 hours"),
                             N_("write seconds or a number followed by s, m, h or d, e.g. "
                                "failover_after = 10m; 0 fails over at the first failure"));
        return QN_OK;
    }
    return QN_ENOTFOUND;
}

/* Resolve the names of list KIND into OUT (*N_OUT entries). */
static enum qn_status resolve(const struct qn_routes *rs, enum list_kind kind, const char *key,
                              size_t *out, size_t *n_out, struct qn_route_problem *ret)
{
    for (size_t i = 0; i < rs->n_names[kind]; i++) {
        const char *name = rs->names[kind][i];
        int k = route_index(rs, name, strlen(name));

        if (k < 0) {
            problem(ret, key, name, strlen(name), N_("the list names a route that is not declared"),
                    N_("declare it with a [route NAME] section, or remove it from the list; smtp "
                       "is the [smtp] section"));
            ret->line = rs->names_line[kind];
            return QN_ECONFIG;
        }
        out[i] = (size_t)k;
    }
    *n_out = rs->n_names[kind];
    return QN_OK;
}

enum qn_status qn_routes_finish(struct qn_routes *rs, struct qn_route_problem *ret)
{
    enum qn_status r;

    rs->current = -1;
    for (size_t i = 1; i < rs->n; i++) {
        const struct qn_route *rt = &rs->route[i];
        const struct qn_route_limits *l = &rt->limits;

        if (rt->type == 0) {
            problem(ret, "type", NULL, 0, N_("the route has no type"),
                    N_("start the section with type = wecom, dingtalk or feishu"));
            ret->line = rt->line;
            return QN_ECONFIG;
        }
        if ((l->max_per_minute > 0 && l->max_per_hour > 0 && l->max_per_minute > l->max_per_hour) ||
            (l->max_per_hour > 0 && l->max_per_day > 0 && l->max_per_hour > l->max_per_day)) {
            problem(ret, "max_per_minute", rt->name, strlen(rt->name),
                    N_("the route's limits contradict each other"),
                    N_("make max_per_minute <= max_per_hour <= max_per_day (0 = no limit)"));
            ret->line = rt->line;
            return QN_ECONFIG;
        }
    }
    if (rs->n_names[LIST_ROUTES] > 0) {
        r = resolve(rs, LIST_ROUTES, "routes", rs->order, &rs->n_order, ret);
        if (r != QN_OK)
            return r;
    }
    return resolve(rs, LIST_CRITICAL, "critical_routes", rs->critical, &rs->n_critical, ret);
}

const struct qn_route *qn_routes_find(const struct qn_routes *rs, const char *name)
{
    int k = route_index(rs, name, strlen(name));

    return k >= 0 ? &rs->route[k] : NULL;
}

const struct qn_route *qn_routes_first(const struct qn_routes *rs)
{
    return &rs->route[rs->n_order > 0 ? rs->order[0] : 0];
}

bool qn_routes_use_smtp(const struct qn_routes *rs)
{
    if (rs->critical_all)
        return true;
    for (size_t i = 0; i < rs->n_order; i++) {
        if (rs->order[i] == 0)
            return true;
    }
    for (size_t i = 0; i < rs->n_critical; i++) {
        if (rs->critical[i] == 0)
            return true;
    }
    return false;
}

const char *qn_route_type_name(enum qn_route_type type)
{
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (types[i].type == type)
            return types[i].name;
    }
    return "?";
}

void qn_route_ratelimit(const struct qn_route *r, const struct qn_ratelimit_config *base,
                        struct qn_ratelimit_config *ret)
{
    *ret = *base;
    if (r->type == QN_ROUTE_TYPE_SMTP)
        return;
    ret->max_per_minute = r->limits.max_per_minute;
    ret->max_per_hour = r->limits.max_per_hour;
    ret->max_per_day = r->limits.max_per_day;
    ret->block_s = r->limits.block_s;
}

bool qn_route_state_name(const struct qn_route *r, char *out, size_t outsz)
{
    int n = r->type == QN_ROUTE_TYPE_SMTP ? snprintf(out, outsz, "ratelimit")
                                          : snprintf(out, outsz, "ratelimit.%s", r->name);

    return n > 0 && (size_t)n < outsz;
}

/* ---- a route's secret -------------------------------------------------------------------------
 */

static bool secret_id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

enum qn_status qn_route_secret_parse(enum qn_route_type type, const char *s, size_t len,
                                     struct qn_route_secret *ret, const char **ret_why)
{
    const char *nl = memchr(s, '\n', len);
    size_t id_len = nl != NULL ? (size_t)(nl - s) : len;
    const char *sign = nl != NULL ? nl + 1 : NULL;
    size_t sign_len = nl != NULL ? len - id_len - 1 : 0;

    memset(ret, 0, sizeof(*ret));
    *ret_why = NULL;
    if (id_len > 0 && s[id_len - 1] == '\r')
        id_len--;
    if (sign_len > 0 && sign[sign_len - 1] == '\r')
        sign_len--;
    if (id_len == 0) {
        *ret_why = "the secret is empty or starts with an empty line";
        return QN_EINVAL;
    }
    if (id_len > QN_ROUTE_SECRET_PART_MAX) {
        *ret_why = "the key, token or hook id on the first line is too long";
        return QN_EINVAL;
    }
    for (size_t i = 0; i < id_len; i++) {
        if (!secret_id_char(s[i])) {
            *ret_why = "the first line has characters other than letters, digits, '-' and '_': it "
                       "must be the key, token or hook id alone, not the whole address";
            return QN_EINVAL;
        }
    }
    if (sign != NULL && type == QN_ROUTE_TYPE_WECOM) {
        *ret_why = "a WeCom robot's secret is one line: its key";
        return QN_EINVAL;
    }
    if (sign != NULL) {
        if (sign_len == 0 || sign_len > QN_ROUTE_SECRET_PART_MAX) {
            *ret_why = "the signing secret on the second line is empty or too long";
            return QN_EINVAL;
        }
        for (size_t i = 0; i < sign_len; i++) {
            unsigned char c = (unsigned char)sign[i];
            if (c <= 0x20 || c >= 0x7f) {
                *ret_why = "the signing secret has blanks, control characters or more lines";
                return QN_EINVAL;
            }
        }
        if (type == QN_ROUTE_TYPE_DINGTALK && (sign_len < 3 || memcmp(sign, "SEC", 3) != 0)) {
            *ret_why = "a DingTalk signing secret starts with SEC";
            return QN_EINVAL;
        }
        ret->sign = sign;
        ret->sign_len = sign_len;
    }
    ret->id = s;
    ret->id_len = id_len;
    return QN_OK;
}

static bool is_critical(const struct qn_routes *rs, size_t index)
{
    bool critical = rs->critical_all;

    for (size_t j = 0; !critical && j < rs->n_critical; j++)
        critical = rs->critical[j] == index;
    return critical;
}

size_t qn_routes_used(const struct qn_routes *rs, const struct qn_route **out, bool *ret_ordered,
                      bool *ret_critical)
{
    size_t n = 0;

    for (size_t i = 0; i < rs->n_order && n < QN_ROUTES_MAX; i++) {
        if (ret_ordered != NULL)
            ret_ordered[n] = true;
        if (ret_critical != NULL)
            ret_critical[n] = is_critical(rs, rs->order[i]);
        out[n++] = &rs->route[rs->order[i]];
    }
    for (size_t i = 0; i < rs->n && n < QN_ROUTES_MAX; i++) {
        bool listed = false;

        for (size_t j = 0; j < rs->n_order; j++)
            listed = listed || rs->order[j] == i;
        if (listed || !is_critical(rs, i))
            continue;
        if (ret_ordered != NULL)
            ret_ordered[n] = false;
        if (ret_critical != NULL)
            ret_critical[n] = true;
        out[n++] = &rs->route[i];
    }
    return n;
}
