/*
 * route — the ways an alert can leave: the [route NAME] sections of
 * qqnotify.conf and the [notify] keys that order them.
 *
 * A route is a way out with its own limits: the SMTP account of [smtp] is
 * the route "smtp" (always there, its limits are [limits]), and a chat
 * robot is a [route NAME] section:
 *
 *   [route ops]
 *   type = wecom | dingtalk | feishu   (required; smtp only in [route smtp])
 *   url = https://...                  (default: the platform's official endpoint)
 *   format = markdown | text | post    (default: markdown; feishu: post)
 *   keyword = 告警                     (a word the robot's security settings require)
 *   ca_file = /path                    (default: the system trust store)
 *   proxy = http://host:port           (default: none, whatever the environment says)
 *   timeout = 30                       (seconds for one request, 1-600)
 *   max_per_second, max_per_minute, max_per_hour, max_per_day   (0 = no limit, 0-2000)
 *   limit_block = 10m                  (how long the platform blocks after its limit)
 *
 * The secret (the WeCom robot key; the DingTalk access token and signing
 * secret; the Feishu hook id and signing secret) never goes here: it comes
 * from the systemd credential qqnotify.route.NAME or `qqnotify-secret set
 * --route NAME` (cred.h).  A key that would hold it (key, token, webhook,
 * access_token, hook_id, and what config.h refuses) is refused, and so is a
 * url with a query string or a Feishu hook id in it.
 *
 * The limits default to what each platform allows one robot: WeCom 20 a
 * minute; DingTalk 20 a minute and a 10-minute block when that is passed;
 * Feishu 100 a minute and 5 a second.  The minute, hour and day limits and
 * limit_block feed the queue manager's limiter (ratelimit.h, one state per
 * route); max_per_second is kept by the transport itself, which paces its
 * requests.
 *
 * [notify] in the same file:
 *   routes = smtp, ops         the order the routes are tried in (default: smtp)
 *   critical_routes = all      routes that get login and sudo alerts at once:
 *                              "all", or a list (default: none)
 *   failover_after = 10m       temporary failures of a route for this long make
 *                              it unhealthy (0 = at the first failure, up to 24h)
 * Every name listed must be "smtp" or a declared route; a list names a route
 * once.  Failover itself is the queue manager's; this module only settles
 * and checks the format.
 *
 * Names: a letter, then letters, digits, '-' or '_', lower case, at most
 * QN_ROUTE_NAME_MAX - 1 bytes ("smtp" is the [smtp] account).  They name
 * the systemd credential (qqnotify.route.NAME) and the limiter's state file
 * (state/ratelimit.NAME).
 *
 * The parser (config.c) hands over each [route NAME] header and each
 * key = value line; errors come back as a struct qn_route_problem (static
 * English msgids, the offending part of the value, the line when it is
 * not the current one), which config.c turns into file:line errors.
 *
 * Fixed-size structs, no heap; libc only (qqnotify-secret and
 * qqnotify-journal load the configuration too).  Thread-safe.
 */
#ifndef QN_ROUTE_H
#define QN_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "ratelimit.h"
#include "status.h"

#define QN_ROUTES_MAX        8   /* routes, the smtp route included */
#define QN_ROUTE_NAME_MAX    32  /* bytes of a name, with the NUL */
#define QN_ROUTE_URL_MAX     512 /* bytes of url and proxy, with the NUL */
#define QN_ROUTE_KEYWORD_MAX 64  /* bytes of keyword, with the NUL */
#define QN_ROUTE_PATH_MAX    4096
#define QN_ROUTE_SMTP        "smtp"

/* The official endpoints (the default url of each type). */
#define QN_ROUTE_WECOM_URL    "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
#define QN_ROUTE_DINGTALK_URL "https://oapi.dingtalk.com/robot/send"
#define QN_ROUTE_FEISHU_URL   "https://open.feishu.cn/open-apis/bot/v2/hook"

enum qn_route_type {
    QN_ROUTE_TYPE_SMTP = 1,
    QN_ROUTE_TYPE_WECOM,
    QN_ROUTE_TYPE_DINGTALK,
    QN_ROUTE_TYPE_FEISHU,
};

enum qn_route_format {
    QN_ROUTE_FORMAT_MARKDOWN = 1, /* wecom, dingtalk (their default) */
    QN_ROUTE_FORMAT_TEXT,         /* every robot */
    QN_ROUTE_FORMAT_POST,         /* feishu (its default): a rich-text post */
};

struct qn_route_limits {
    unsigned max_per_second; /* kept by the transport; 0 = no limit */
    unsigned max_per_minute; /* 0 = no limit */
    unsigned max_per_hour;
    unsigned max_per_day;
    unsigned block_s; /* after the platform's frequency answer: no message for this long */
};

struct qn_route {
    char name[QN_ROUTE_NAME_MAX];
    enum qn_route_type type;
    enum qn_route_format format;
    char url[QN_ROUTE_URL_MAX]; /* the endpoint, without the secret; "" for smtp */
    char keyword[QN_ROUTE_KEYWORD_MAX];
    char ca_file[QN_ROUTE_PATH_MAX]; /* "" = the system trust store */
    char proxy[QN_ROUTE_URL_MAX];    /* "" = no proxy */
    unsigned timeout_s;
    struct qn_route_limits limits;
    unsigned line; /* of its [route NAME] header; 0 for the implicit smtp */
};

struct qn_routes {
    struct qn_route route[QN_ROUTES_MAX]; /* route[0] is smtp */
    size_t n;
    size_t order[QN_ROUTES_MAX]; /* [notify] routes: indices into route[] */
    size_t n_order;
    bool critical_all;              /* critical_routes = all */
    size_t critical[QN_ROUTES_MAX]; /* otherwise its list */
    size_t n_critical;
    unsigned failover_after_s;

    /* While parsing (qn_route_*): the section being read, the keys it set,
     * and the [notify] lists as written, resolved by qn_routes_finish(). */
    int current;   /* index into route[], -1 outside a [route] section */
    unsigned seen; /* bit per key of the current section */
    bool has_type; /* the current section set type */
    char names[2][QN_ROUTES_MAX][QN_ROUTE_NAME_MAX];
    size_t n_names[2];
    unsigned names_line[2];
};

/* What went wrong, for config.c: WHAT and FIX are English msgids; VALUE
 * (VALUE_LEN bytes, may be NULL) the part of the value concerned; LINE the
 * line when it is not the one being read (0: that one); KEY the key or
 * section named. */
struct qn_route_problem {
    const char *what;
    const char *fix;
    const char *value;
    size_t value_len;
    unsigned line;
    const char *key;
    bool secret_key; /* the key would hold the robot's secret */
};

/*
 * A robot route's secret is one line for WeCom (the robot key) and one or
 * two lines for DingTalk (the access token, then the signing secret
 * "SEC…" when the robot signs) and Feishu (the hook id, then the signing
 * secret when it signs).  Its parts, as views into the secret's own memory
 * (secret.h: it is never copied anywhere else):
 */
#define QN_ROUTE_SECRET_PART_MAX 256 /* bytes of a key, token, hook id or signing secret */

struct qn_route_secret {
    const char *id; /* WeCom key, DingTalk access token, Feishu hook id */
    size_t id_len;
    const char *sign; /* the signing secret, or NULL when the robot does not sign */
    size_t sign_len;
};

/*
 * Split the secret S (LEN bytes) of a TYPE route into *RET.  QN_EINVAL with
 * *RET_WHY (an English sentence that never quotes the secret) when it has
 * the wrong form: empty; more lines than the type has; an id with other
 * characters than letters, digits, '-' and '_' or over
 * QN_ROUTE_SECRET_PART_MAX; a signing secret with blanks or control
 * characters, or a DingTalk one not starting with "SEC".  A "\r" before a
 * line end is dropped.
 */
enum qn_status qn_route_secret_parse(enum qn_route_type type, const char *s, size_t len,
                                     struct qn_route_secret *ret, const char **ret_why);

/* The defaults: the smtp route only, tried first; no critical routes;
 * failover_after 10 minutes. */
void qn_routes_defaults(struct qn_routes *rs);

/* A [route NAME] header at LINE (NAME trimmed).  QN_ECONFIG with *RET: a bad
 * or repeated name, too many routes. */
enum qn_status qn_route_begin(struct qn_routes *rs, const char *name, unsigned line,
                              struct qn_route_problem *ret);

/* A key = value line of the current [route] section.  QN_ECONFIG with *RET:
 * an unknown or repeated key, a bad value, a key that would hold the secret. */
enum qn_status qn_route_set(struct qn_routes *rs, const char *key, const char *value,
                            struct qn_route_problem *ret);

/* True when KEY (any section) would hold a robot's secret: checked before
 * anything else on a line, like config.h's password keys. */
bool qn_route_key_is_secret(const char *key);

/* The [notify] keys of this module (routes, critical_routes, failover_after)
 * at LINE.  QN_ENOTFOUND when KEY is not one of them (nothing changed);
 * QN_ECONFIG with *RET for a bad value. */
enum qn_status qn_route_notify_set(struct qn_routes *rs, const char *key, const char *value,
                                   unsigned line, struct qn_route_problem *ret);

/* After the whole file: every section has a type, every listed name is a
 * route.  QN_ECONFIG with *RET (its line set). */
enum qn_status qn_routes_finish(struct qn_routes *rs, struct qn_route_problem *ret);

/* True when the N bytes at S are a route's name (see above). */
bool qn_route_name_valid(const char *s, size_t n);

/* The route called NAME, or NULL. */
const struct qn_route *qn_routes_find(const struct qn_routes *rs, const char *name);

/* The routes alerts may take, into OUT[QN_ROUTES_MAX]: [notify] routes in
 * their order, then the routes of critical_routes not among them.  For each,
 * RET_ORDERED[i] (in [notify] routes) and RET_CRITICAL[i] (in
 * critical_routes); either array may be NULL.  Returns how many. */
size_t qn_routes_used(const struct qn_routes *rs, const struct qn_route **out, bool *ret_ordered,
                      bool *ret_critical);

/* The first route of [notify] routes (never NULL after qn_routes_defaults). */
const struct qn_route *qn_routes_first(const struct qn_routes *rs);

/* True when the smtp route is in [notify] routes or critical_routes: the
 * [smtp] account and [notify] to are then needed. */
bool qn_routes_use_smtp(const struct qn_routes *rs);

/* "smtp", "wecom", "dingtalk", "feishu": the type's name, which is also the
 * diagnosis catalog's provider of a robot's failures (diag.h). */
const char *qn_route_type_name(enum qn_route_type type);

/* The limiter's configuration for R: BASE (the [limits] of the file: its
 * digest settings, and for smtp everything) with R's limits over it. */
void qn_route_ratelimit(const struct qn_route *r, const struct qn_ratelimit_config *base,
                        struct qn_ratelimit_config *ret);

/* The state file of R's limits (quota.h): "ratelimit" for smtp, else
 * "ratelimit.NAME", into OUT (OUTSZ bytes).  False when it does not fit. */
bool qn_route_state_name(const struct qn_route *r, char *out, size_t outsz);

#endif
