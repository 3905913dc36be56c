/*
 * render — see render.h for the contract.
 *
 * Every sentence comes from one table, templates[][], holding the Chinese
 * and the English form side by side, so a translator sees both and a new
 * sentence cannot exist in one language only.  A template is plain text
 * with two kinds of markup:
 *   {name}     the value of a variable (user, host, src, time, ...);
 *   [ ... ]    an optional part, written only when every variable inside
 *              it is non-empty (no nesting).
 * e.g. "{user} logged in to {host} via {svc}[ {method}][ from {src}] at {time}".
 * Values are substituted as plain text; the HTML writer escapes whole
 * sentences afterwards, so no template holds markup and no value can
 * inject any.  Templates contain no literal '{', '}', '[' or ']'.
 *
 * Sanitising again: each event is copied through qn_text_sanitize_line()
 * before use (strings bounded by their array sizes, so a hand-filled
 * struct without NULs cannot be over-read).
 *
 * Digests are grouped with O(n^2) comparisons over at most
 * QN_RENDER_DIGEST_MAX_EVENTS events instead of sorting or hashing: no
 * allocation besides the output buffers, and the order of first appearance
 * is kept, which is the order a reader expects.
 */
#include "render.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "severity.h"
#include "text.h"

enum { ZH = 0, EN = 1, N_LANGS };

enum tpl {
    T_LOGIN_SUBJECT,
    T_LOGIN_LINE,
    T_SWITCH_SUBJECT,
    T_SWITCH_LINE,
    T_LOGOUT_SUBJECT,
    T_LOGOUT_LINE,
    T_SWITCH_END_SUBJECT,
    T_SWITCH_END_LINE,
    T_AUTHFAIL_SUBJECT,
    T_AUTHFAIL_LINE,
    T_JOURNAL_SUBJECT,
    T_JOURNAL_LINE_ONE,
    T_JOURNAL_LINE_MANY,
    T_NOTIFY_SUBJECT,
    T_NOTIFY_LINE,
    T_GENERIC_SUBJECT,
    T_GENERIC_LINE,
    T_DETAIL,
    T_SAMPLES,
    T_FOOTER,
    T_HOSTS_TWO,
    T_HOSTS_MANY,
    T_DIGEST_SUBJECT_ONE,
    T_DIGEST_SUBJECT_MANY,
    T_DIGEST_INTRO_ONE,
    T_DIGEST_INTRO_MANY,
    T_DIGEST_KIND,
    T_DIGEST_GROUP_ONE,
    T_DIGEST_GROUP_MANY,
    T_DIGEST_ALL,
    T_UNKNOWN_USER,
    T_UNKNOWN_HOST,
    T_UNKNOWN_SERVICE,
    T_UNNAMED_RULE,
    T_NO_TEXT,
    T_SEV_CRITICAL,
    T_SEV_WARNING,
    T_SEV_INFO,
    T_SEV_NAME_CRITICAL,
    T_SEV_NAME_WARNING,
    T_SEV_NAME_INFO,
    T_COUNT
};

static const char *const templates[T_COUNT][N_LANGS] = {
    [T_LOGIN_SUBJECT] = {"{user} 通过 {svc} 登录[，来自 {src}]",
                         "{user} logged in via {svc}[ from {src}]"},
    [T_LOGIN_LINE] = {"{user} 于 {time}[ 从 {src}] 通过 {svc} [{method}]登录 {host}",
                      "{user} logged in to {host} via {svc}[ {method}][ from {src}] at {time}"},
    [T_SWITCH_SUBJECT] = {"{ruser} 通过 {svc} 成为 {user}", "{ruser} became {user} via {svc}"},
    [T_SWITCH_LINE] = {"{ruser} 在 {host} 上通过 {svc} 成为 {user}[（终端 {tty}）]",
                       "{ruser} became {user} on {host} via {svc}[ (tty {tty})]"},
    [T_LOGOUT_SUBJECT] = {"{user} 的 {svc} 会话已结束[，来自 {src}][，持续 {duration}]",
                          "{user}'s {svc} session[ from {src}] ended[ after {duration}]"},
    [T_LOGOUT_LINE] =
        {"{user} 于 {time} 结束了 {host} 上[来自 {src} 的 ]{svc} 会话[（持续 {duration}）]",
         "{user} ended the {svc} session on {host}[ from {src}] at {time}[ after "
         "{duration}]"},
    [T_SWITCH_END_SUBJECT] = {"{ruser} 以 {user} 身份的 {svc} 会话已结束[，持续 {duration}]",
                              "{ruser}'s {svc} session as {user} ended[ after {duration}]"},
    [T_SWITCH_END_LINE] = {"{ruser} 于 {time} 结束了在 {host} 上以 {user} 身份的 {svc} 会话",
                           "{ruser} ended the {svc} session as {user} on {host} at {time}"},
    [T_AUTHFAIL_SUBJECT] = {"登录失败：用户 {user}[，来自 {src}][（{service}）]",
                            "failed login: user {user}[ from {src}][ ({service})]"},
    [T_AUTHFAIL_LINE] = {"{user} 于 {time}[ 从 {src}] 登录 {host} 失败[（{service}）]",
                         "failed login to {host} as {user}[ from {src}] at {time}[ ({service})]"},
    [T_JOURNAL_SUBJECT] = {"日志告警：{rule}", "journal alert: {rule}"},
    [T_JOURNAL_LINE_ONE] = {"规则 {rule} 于 {time} 在 {host} 上匹配到日志[（单元 {unit}）]",
                            "rule {rule} matched a journal entry on {host}[ (unit {unit})] at "
                            "{time}"},
    [T_JOURNAL_LINE_MANY] = {"规则 {rule} 于 {time} 在 {host} 上匹配到 {count} 条日志[（单元 "
                             "{unit}）]",
                             "rule {rule} matched {count} journal entries on {host}[ (unit "
                             "{unit})] at {time}"},
    [T_NOTIFY_SUBJECT] = {"通知", "notification"},
    [T_NOTIFY_LINE] = {"{host} 上的通知", "notification from {host}"},
    [T_GENERIC_SUBJECT] = {"{kind}", "{kind}"},
    [T_GENERIC_LINE] = {"{host} 上的 {kind} 事件，时间 {time}", "{kind} event on {host} at {time}"},
    /* A digest line: the sentence, then what the producer wrote. */
    [T_DETAIL] = {"{line}[：{subject}][ — {message}]", "{line}[: {subject}][ — {message}]"},
    [T_SAMPLES] = {"样例", "Samples"},
    [T_FOOTER] = {"— 由 qqnotify 在 {host} 上发送", "— sent by qqnotify on {host}"},
    [T_HOSTS_TWO] = {"{host} 等 2 台主机", "{host} and 1 more host"},
    [T_HOSTS_MANY] = {"{host} 等 {n} 台主机", "{host} and {others} more hosts"},
    [T_DIGEST_SUBJECT_ONE] = {"1 条告警汇总（{range}）", "digest of 1 alert ({range})"},
    [T_DIGEST_SUBJECT_MANY] = {"{n} 条告警汇总（{range}）", "digest of {n} alerts ({range})"},
    [T_DIGEST_INTRO_ONE] = {"{first}，{hosts} 有 1 条告警。", "1 alert from {hosts} at {first}."},
    [T_DIGEST_INTRO_MANY] = {"{first} 至 {last}，{hosts} 共有 {n} 条告警，汇总如下。",
                             "{n} alerts from {hosts} between {first} and {last}, summarised "
                             "below."},
    [T_DIGEST_KIND] = {"{kindname}（{n} 条）", "{kindname} ({n})"},
    [T_DIGEST_GROUP_ONE] = {"[{wholabel} {who} · ]主机 {host}[ · 来源 {src}]：1 次，{first}",
                            "[{wholabel} {who} · ]host {host}[ · from {src}]: once, {first}"},
    [T_DIGEST_GROUP_MANY] = {"[{wholabel} {who} · ]主机 {host}[ · 来源 {src}]：{n} 次，首次 "
                             "{first}，最后 {last}",
                             "[{wholabel} {who} · ]host {host}[ · from {src}]: {n} times, first "
                             "{first}, last {last}"},
    [T_DIGEST_ALL] = {"全部事件（{n} 条）", "All events ({n})"},
    [T_UNKNOWN_USER] = {"未知用户", "unknown user"},
    [T_UNKNOWN_HOST] = {"未知主机", "unknown host"},
    [T_UNKNOWN_SERVICE] = {"未知服务", "unknown service"},
    [T_UNNAMED_RULE] = {"未命名规则", "unnamed rule"},
    [T_NO_TEXT] = {"（无内容）", "(no text)"},
    /* Severity in the subject (severity.h; the sender sets the "severity" field). */
    [T_SEV_CRITICAL] = {"【严重】", "[critical] "},
    [T_SEV_WARNING] = {"【警告】", "[warning] "},
    [T_SEV_INFO] = {"【提示】", "[info] "},
    [T_SEV_NAME_CRITICAL] = {"严重", "critical"},
    [T_SEV_NAME_WARNING] = {"警告", "warning"},
    [T_SEV_NAME_INFO] = {"提示", "info"},
};

/* Table labels of well-known field names; other names are shown as they are. */
static const struct {
    const char *key;
    const char *label[N_LANGS];
} labels[] = {
    {"service", {"服务", "service"}},
    {"user", {"用户", "user"}},
    {"ruser", {"发起用户", "invoking user"}},
    {"rhost", {"来源主机", "remote host"}},
    {"ip", {"来源 IP", "source IP"}},
    {"tty", {"终端", "tty"}},
    {"method", {"认证方式", "method"}},
    {"key", {"密钥", "key"}},
    {"pid", {"进程号", "process id"}},
    {"rule", {"规则", "rule"}},
    {"count", {"次数", "count"}},
    {"unit", {"单元", "unit"}},
    {"message", {"内容", "message"}},
    {"host", {"主机", "host"}},
    {"time", {"时间", "time"}},
    /* what the sender adds (enrich.h, sessions.h, severity.h) */
    {"severity", {"严重程度", "severity"}},
    {"duration", {"会话时长", "session length"}},
    {"session", {"会话标识", "session id"}},
    {"rdns", {"来源域名", "source name"}},
    {"rdns_unverified", {"来源自称域名（未经正向验证）", "source name (not confirmed)"}},
    {"country", {"国家/地区", "country"}},
    {"city", {"城市", "city"}},
    {"asn", {"网络（ASN）", "network (ASN)"}},
    {"last_login", {"该用户上次登录", "user's previous login"}},
    {"last_login_from", {"上次登录来源", "previous login from"}},
    {"source_last_login", {"该来源上次登录", "source's previous login"}},
    {"source_last_user", {"该来源上次登录的用户", "source's previous user"}},
    {"sessions", {"该用户当前会话数", "user's open sessions"}},
};

/* Kind names in digest headings and lines. */
static const struct {
    const char *kind;
    const char *name[N_LANGS];
} kind_names[] = {
    {"login", {"登录", "login"}},
    {"logout", {"退出登录", "logout"}},
    {"authfail", {"登录失败", "failed login"}},
    {"journal", {"日志告警", "journal alert"}},
    {"notify", {"通知", "notification"}},
};

/* sshd's authentication method names (auth2-*.c) as words in a sentence. */
static const struct {
    const char *method;
    const char *word[N_LANGS];
} methods[] = {
    {"publickey", {"公钥", "publickey"}},
    {"password", {"密码", "password"}},
    {"keyboard-interactive", {"键盘交互", "keyboard-interactive"}},
    {"hostbased", {"主机认证", "hostbased"}},
    {"gssapi-with-mic", {"GSSAPI", "gssapi-with-mic"}},
};

/* PAM service names as the word a reader knows; "switch" services change
 * the user (ruser becomes user) rather than log someone in. */
static const struct {
    const char *service;
    const char *word;
    bool is_switch;
} services[] = {
    {"sshd", "ssh", false},
    {"sudo", "sudo", true},
    {"sudo-i", "sudo -i", true},
    {"su", "su", true},
    {"su-l", "su -", true},
    {"runuser", "runuser", true},
    {"runuser-l", "runuser -l", true},
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Scratch bound for one sentence: every value is under 512 bytes and a
 * template holds at most a dozen of them. */
#define SENTENCE_MAX (16 * 1024)

/* ---- template expansion ------------------------------------------------------------- */

#define VARS_MAX 32

struct vars {
    size_t n;
    struct {
        const char *name;
        const char *value;
    } v[VARS_MAX];
};

static void var_set(struct vars *vs, const char *name, const char *value)
{
    size_t i;

    if (value == NULL)
        value = "";
    for (i = 0; i < vs->n; i++) {
        if (strcmp(vs->v[i].name, name) == 0) {
            vs->v[i].value = value;
            return;
        }
    }
    /* VARS_MAX is above the number of names this file uses; a test renders every template. */
    if (vs->n < VARS_MAX) {
        vs->v[vs->n].name = name;
        vs->v[vs->n].value = value;
        vs->n++;
    }
}

static const char *var_get(const struct vars *vs, const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < vs->n; i++) {
        if (strlen(vs->v[i].name) == len && memcmp(vs->v[i].name, name, len) == 0)
            return vs->v[i].value;
    }
    return "";
}

/* True when every {name} between S and END has a non-empty value. */
static bool vars_all_set(const struct vars *vs, const char *s, const char *end)
{
    while (s < end) {
        const char *close;

        if (*s != '{') {
            s++;
            continue;
        }
        close = memchr(s, '}', (size_t)(end - s));
        if (close == NULL || var_get(vs, s + 1, (size_t)(close - s - 1))[0] == '\0')
            return false;
        s = close + 1;
    }
    return true;
}

static enum qn_status expand_range(struct qn_buf *out, const char *s, const char *end,
                                   const struct vars *vs)
{
    enum qn_status r = QN_OK;

    while (r == QN_OK && s < end) {
        const char *close, *next;

        if (*s == '{' || *s == '[') {
            close = memchr(s, *s == '{' ? '}' : ']', (size_t)(end - s));
            if (close == NULL)
                return QN_EINVAL; /* a broken template: the tests render every one */
            if (*s == '{')
                r = qn_buf_puts(out, var_get(vs, s + 1, (size_t)(close - s - 1)));
            else if (vars_all_set(vs, s + 1, close))
                r = expand_range(out, s + 1, close, vs);
            s = close + 1;
            continue;
        }
        for (next = s; next < end && *next != '{' && *next != '['; next++)
            ;
        r = qn_buf_append(out, s, (size_t)(next - s));
        s = next;
    }
    return r;
}

static enum qn_status expand(struct qn_buf *out, enum tpl t, size_t lang, const struct vars *vs)
{
    const char *s = templates[t][lang];

    return expand_range(out, s, s + strlen(s), vs);
}

/* ---- small helpers ------------------------------------------------------------------ */

static size_t lang_index(enum qn_lang lang)
{
    return lang == QN_LANG_EN ? EN : ZH;
}

/* Copy S (at most MAX bytes, NUL or not) sanitised into OUT. */
static void clean_string(const char *s, size_t max, char *out, size_t outsz)
{
    qn_text_sanitize_line(s, strnlen(s, max), out, outsz);
}

static void clean_event(const struct qn_event *src, struct qn_event *dst)
{
    size_t i, n = src->n_fields < QN_EVENT_FIELDS_MAX ? src->n_fields : QN_EVENT_FIELDS_MAX;

    memset(dst, 0, sizeof(*dst));
    clean_string(src->kind, sizeof(src->kind), dst->kind, sizeof(dst->kind));
    clean_string(src->host, sizeof(src->host), dst->host, sizeof(dst->host));
    clean_string(src->subject, sizeof(src->subject), dst->subject, sizeof(dst->subject));
    dst->time = src->time;
    for (i = 0; i < n; i++) {
        struct qn_event_field *f = &dst->fields[dst->n_fields];

        clean_string(src->fields[i].key, sizeof(src->fields[i].key), f->key, sizeof(f->key));
        if (f->key[0] == '\0')
            continue;
        clean_string(src->fields[i].value, sizeof(src->fields[i].value), f->value,
                     sizeof(f->value));
        dst->n_fields++;
    }
}

/* The value of KEY in a clean event, "" when absent. */
static const char *field(const struct qn_event *ev, const char *key)
{
    size_t i;

    for (i = 0; i < ev->n_fields; i++) {
        if (strcmp(ev->fields[i].key, key) == 0)
            return ev->fields[i].value;
    }
    return "";
}

/* The value of KEY in a caller's event, bounded by the array sizes; "" when absent. */
static const char *raw_field(const struct qn_event *ev, const char *key, size_t *ret_len)
{
    size_t i, n = ev->n_fields < QN_EVENT_FIELDS_MAX ? ev->n_fields : QN_EVENT_FIELDS_MAX;

    for (i = 0; i < n; i++) {
        if (strncmp(ev->fields[i].key, key, sizeof(ev->fields[i].key)) == 0) {
            *ret_len = strnlen(ev->fields[i].value, sizeof(ev->fields[i].value));
            return ev->fields[i].value;
        }
    }
    *ret_len = 0;
    return "";
}

static bool same_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

static bool kind_is(const struct qn_event *ev, const char *kind)
{
    return strncmp(ev->kind, kind, sizeof(ev->kind)) == 0;
}

static const char *kind_name(const char *kind, size_t lang)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(kind_names); i++) {
        if (strcmp(kind_names[i].kind, kind) == 0)
            return kind_names[i].name[lang];
    }
    return kind;
}

/* LABEL for field KEY in LANG, into OUT (sample.N gets its number). */
static const char *field_label(const char *key, size_t lang, char *out, size_t outsz)
{
    size_t i;

    for (i = 0; i < ARRAY_SIZE(labels); i++) {
        if (strcmp(labels[i].key, key) == 0)
            return labels[i].label[lang];
    }
    if (strncmp(key, "sample.", 7) == 0 && key[7] != '\0') {
        snprintf(out, outsz, "%s %s", lang == ZH ? "样例" : "sample", key + 7);
        return out;
    }
    return key;
}

/* "2", "17" and so on: more than one, so the plural sentence applies. */
static bool count_is_many(const char *s)
{
    size_t i, digits = 0;
    bool first_at_least_two = false;

    for (i = 0; s[i] == '0'; i++)
        ;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (digits++ == 0)
            first_at_least_two = s[i] >= '2';
    }
    if (s[i] != '\0')
        return false;
    return digits > 1 || first_at_least_two;
}

/* ---- time --------------------------------------------------------------------------- */

enum time_format {
    TF_FULL,    /* 2026-11-26 14:03:05 +0800 */
    TF_HM,      /* 14:03 */
    TF_HMS,     /* 14:03:05 */
    TF_MD_HM,   /* 11-26 14:03 */
    TF_MD_HMS,  /* 11-26 14:03:05 */
    TF_YMD_HM,  /* 2026-11-26 14:03 */
    TF_YMD_HMS, /* 2026-11-26 14:03:05 */
};

static bool local_time(long long t, struct tm *tm)
{
    time_t tt = (time_t)t;

    if ((long long)tt != t)
        return false;
    return localtime_r(&tt, tm) != NULL;
}

/* Literal strftime formats only: -Wformat=2 checks each. */
static void format_time(long long t, enum time_format f, char *out, size_t outsz)
{
    struct tm tm;
    size_t n = 0;

    if (local_time(t, &tm)) {
        switch (f) {
        case TF_FULL:
            n = strftime(out, outsz, "%Y-%m-%d %H:%M:%S %z", &tm);
            break;
        case TF_HM:
            n = strftime(out, outsz, "%H:%M", &tm);
            break;
        case TF_HMS:
            n = strftime(out, outsz, "%H:%M:%S", &tm);
            break;
        case TF_MD_HM:
            n = strftime(out, outsz, "%m-%d %H:%M", &tm);
            break;
        case TF_MD_HMS:
            n = strftime(out, outsz, "%m-%d %H:%M:%S", &tm);
            break;
        case TF_YMD_HM:
            n = strftime(out, outsz, "%Y-%m-%d %H:%M", &tm);
            break;
        case TF_YMD_HMS:
            n = strftime(out, outsz, "%Y-%m-%d %H:%M:%S", &tm);
            break;
        }
    }
    /* A time the C library cannot convert is still shown, as seconds. */
    if (n == 0)
        snprintf(out, outsz, "@%lld", t);
}

#define TIME_STR_MAX 64

/* ---- one event, as the templates see it ---------------------------------------------- */

enum shape {
    SHAPE_LOGIN,
    SHAPE_SWITCH,
    SHAPE_LOGOUT,
    SHAPE_SWITCH_END,
    SHAPE_AUTHFAIL,
    SHAPE_JOURNAL,
    SHAPE_NOTIFY,
    SHAPE_GENERIC,
};

struct view {
    struct qn_event ev; /* sanitised copy */
    size_t lang;
    enum shape shape;
    bool journal_many;
    char time_full[TIME_STR_MAX];
    char time_hm[TIME_STR_MAX];
    char method[QN_EVENT_VALUE_MAX + 1];
    char duration[64];
    struct vars vars;
};

static void format_duration(const char *value, size_t lang, char *out, size_t n);

static void view_init(struct view *v, const struct qn_event *ev, size_t lang)
{
    const char *service, *svc, *method, *user, *ruser, *src, *rule;
    bool is_switch = false;
    size_t i;

    memset(v, 0, sizeof(*v));
    clean_event(ev, &v->ev);
    v->lang = lang;
    format_time(v->ev.time, TF_FULL, v->time_full, sizeof(v->time_full));
    format_time(v->ev.time, TF_HM, v->time_hm, sizeof(v->time_hm));

    service = field(&v->ev, "service");
    svc = service[0] != '\0' ? service : templates[T_UNKNOWN_SERVICE][lang];
    for (i = 0; i < ARRAY_SIZE(services); i++) {
        if (strcmp(services[i].service, service) == 0) {
            svc = services[i].word;
            is_switch = services[i].is_switch;
        }
    }
    method = field(&v->ev, "method");
    for (i = 0; i < ARRAY_SIZE(methods); i++) {
        if (strcmp(methods[i].method, method) == 0)
            method = methods[i].word[lang];
    }
    /* 「通过 ssh 公钥登录」 but 「通过 ssh none 登录」: a Latin word needs a space before 登录. */
    i = strlen(method);
    snprintf(v->method, sizeof(v->method), "%s%s", method,
             lang == ZH && i > 0 && (unsigned char)method[i - 1] < 0x80 ? " " : "");
    method = v->method;
    user = field(&v->ev, "user");
    ruser = field(&v->ev, "ruser");
    src = field(&v->ev, "ip");
    if (src[0] == '\0')
        src = field(&v->ev, "rhost");
    rule = field(&v->ev, "rule");

    if (strcmp(v->ev.kind, "login") == 0)
        v->shape = is_switch ? SHAPE_SWITCH : SHAPE_LOGIN;
    else if (strcmp(v->ev.kind, "logout") == 0)
        v->shape = is_switch ? SHAPE_SWITCH_END : SHAPE_LOGOUT;
    else if (strcmp(v->ev.kind, "authfail") == 0)
        v->shape = SHAPE_AUTHFAIL;
    else if (strcmp(v->ev.kind, "journal") == 0)
        v->shape = SHAPE_JOURNAL;
    else if (strcmp(v->ev.kind, "notify") == 0)
        v->shape = SHAPE_NOTIFY;
    else
        v->shape = SHAPE_GENERIC;
    v->journal_many = count_is_many(field(&v->ev, "count"));

    var_set(&v->vars, "host", v->ev.host[0] != '\0' ? v->ev.host : templates[T_UNKNOWN_HOST][lang]);
    var_set(&v->vars, "time", v->time_hm);
    var_set(&v->vars, "user", user[0] != '\0' ? user : templates[T_UNKNOWN_USER][lang]);
    var_set(&v->vars, "ruser", ruser[0] != '\0' ? ruser : templates[T_UNKNOWN_USER][lang]);
    var_set(&v->vars, "src", src);
    var_set(&v->vars, "svc", svc);
    var_set(&v->vars, "service", service);
    var_set(&v->vars, "method", method);
    var_set(&v->vars, "tty", field(&v->ev, "tty"));
    var_set(&v->vars, "rule", rule[0] != '\0' ? rule : templates[T_UNNAMED_RULE][lang]);
    var_set(&v->vars, "count", field(&v->ev, "count"));
    var_set(&v->vars, "unit", field(&v->ev, "unit"));
    var_set(&v->vars, "kind", v->ev.kind);
    var_set(&v->vars, "message", field(&v->ev, "message"));
    var_set(&v->vars, "subject", v->ev.subject);
    format_duration(field(&v->ev, "duration"), lang, v->duration, sizeof(v->duration));
    var_set(&v->vars, "duration", v->duration);
}

static const char *view_host(const struct view *v)
{
    return var_get(&v->vars, "host", 4);
}

static enum tpl subject_template(const struct view *v)
{
    switch (v->shape) {
    case SHAPE_LOGIN:
        return T_LOGIN_SUBJECT;
    case SHAPE_SWITCH:
        return T_SWITCH_SUBJECT;
    case SHAPE_LOGOUT:
        return T_LOGOUT_SUBJECT;
    case SHAPE_SWITCH_END:
        return T_SWITCH_END_SUBJECT;
    case SHAPE_AUTHFAIL:
        return T_AUTHFAIL_SUBJECT;
    case SHAPE_JOURNAL:
        return T_JOURNAL_SUBJECT;
    case SHAPE_NOTIFY:
        return T_NOTIFY_SUBJECT;
    case SHAPE_GENERIC:
        break;
    }
    return T_GENERIC_SUBJECT;
}

static enum tpl line_template(const struct view *v)
{
    switch (v->shape) {
    case SHAPE_LOGIN:
        return T_LOGIN_LINE;
    case SHAPE_SWITCH:
        return T_SWITCH_LINE;
    case SHAPE_LOGOUT:
        return T_LOGOUT_LINE;
    case SHAPE_SWITCH_END:
        return T_SWITCH_END_LINE;
    case SHAPE_AUTHFAIL:
        return T_AUTHFAIL_LINE;
    case SHAPE_JOURNAL:
        return v->journal_many ? T_JOURNAL_LINE_MANY : T_JOURNAL_LINE_ONE;
    case SHAPE_NOTIFY:
        return T_NOTIFY_LINE;
    case SHAPE_GENERIC:
        break;
    }
    return T_GENERIC_LINE;
}

/* Shapes whose own text (message, subject) belongs in a digest line. */
static bool shape_has_detail(enum shape s)
{
    return s == SHAPE_JOURNAL || s == SHAPE_NOTIFY || s == SHAPE_GENERIC;
}

/* Fields the body shows above the table, so the table leaves them out. */
static bool field_in_body(const struct view *v, const char *key)
{
    if (v->shape == SHAPE_JOURNAL && strncmp(key, "sample.", 7) == 0)
        return true;
    return shape_has_detail(v->shape) && strcmp(key, "message") == 0;
}

/* Cut TEXT (LEN bytes, sanitised) into OUT of OUTSZ bytes, ending in "…" when cut. */
static void cut_line(const char *text, size_t len, char *out, size_t outsz)
{
    qn_text_sanitize_line(text, len, out, outsz);
}

/* "[host] " + SEVERITY + REST, cut and sanitised into the subject buffer (SEVERITY: the
 * marker of severity.h's level, "" when none). */
static enum qn_status put_subject(struct qn_buf *subject, const char *host, const char *severity,
                                  const char *rest)
{
    char line[QN_RENDER_SUBJECT_MAX];
    struct qn_buf tmp;
    size_t hlen = strlen(host);
    enum qn_status r;

    qn_buf_init(&tmp, SENTENCE_MAX);
    /* A rule's template may already name the host the same way: do not say it twice. */
    if (rest[0] == '[' && strncmp(rest + 1, host, hlen) == 0 && rest[hlen + 1] == ']') {
        rest += hlen + 2;
        while (*rest == ' ')
            rest++;
    }
    r = qn_buf_printf(&tmp, "[%s] %s%s", host, severity, rest);
    if (r == QN_OK) {
        cut_line(tmp.data, tmp.len, line, sizeof(line));
        r = qn_buf_puts(subject, line);
    }
    qn_buf_free(&tmp);
    return r;
}

/* ---- what the sender adds ------------------------------------------------------------ */

/* The level named by an event's "severity" field, or 0. */
static enum qn_severity severity_of(const char *value)
{
    enum qn_severity s;

    return qn_severity_parse(value, &s) ? s : (enum qn_severity)0;
}

/* The subject marker (NAME false) or the word (NAME true) of level S; "" for none. */
static const char *severity_text(enum qn_severity s, bool name, size_t lang)
{
    switch (s) {
    case QN_SEVERITY_CRITICAL:
        return templates[name ? T_SEV_NAME_CRITICAL : T_SEV_CRITICAL][lang];
    case QN_SEVERITY_WARNING:
        return templates[name ? T_SEV_NAME_WARNING : T_SEV_WARNING][lang];
    case QN_SEVERITY_INFO:
        return templates[name ? T_SEV_NAME_INFO : T_SEV_INFO][lang];
    }
    return "";
}

/* Seconds as "2h 14m" / "2 小时 14 分钟": the largest unit and the next when not zero. */
static void format_duration(const char *value, size_t lang, char *out, size_t n)
{
    static const char *const units[N_LANGS][4] = {{" 天", " 小时", " 分钟", " 秒"},
                                                  {"d", "h", "m", "s"}};
    unsigned long long v = 0, parts[4];
    const char *p = value;
    size_t i = 0;
    int len;

    out[0] = '\0';
    if (*p == '\0')
        return;
    for (; *p >= '0' && *p <= '9' && v < 10000000000ULL; p++)
        v = v * 10 + (unsigned long long)(*p - '0');
    if (*p != '\0')
        return; /* not a number of seconds: the caller shows the value as it is */
    parts[0] = v / 86400;
    parts[1] = v % 86400 / 3600;
    parts[2] = v % 3600 / 60;
    parts[3] = v % 60;
    while (i < 3 && parts[i] == 0)
        i++;
    len = snprintf(out, n, "%llu%s", parts[i], units[lang][i]);
    if (i < 3 && parts[i + 1] != 0 && len > 0 && (size_t)len < n)
        snprintf(out + len, n - (size_t)len, " %llu%s", parts[i + 1], units[lang][i + 1]);
}

/* How field F is shown in the table: times as local times, durations and severities in words. */
static const char *field_display(const struct qn_event_field *f, size_t lang, char *buf, size_t n)
{
    if (strcmp(f->key, "last_login") == 0 || strcmp(f->key, "source_last_login") == 0) {
        char *end = NULL;
        long long t = strtoll(f->value, &end, 10);

        if (end != f->value && *end == '\0') {
            format_time(t, TF_FULL, buf, n);
            return buf;
        }
    } else if (strcmp(f->key, "duration") == 0) {
        format_duration(f->value, lang, buf, n);
        if (buf[0] != '\0')
            return buf;
    } else if (strcmp(f->key, "severity") == 0 && severity_of(f->value) != 0) {
        return severity_text(severity_of(f->value), true, lang);
    }
    return f->value;
}

/* ---- HTML --------------------------------------------------------------------------- */

/* Inline styles only: most mail clients drop <style> and <link>. */
#define STYLE_BODY                                                                                 \
    "margin:0;padding:12px;background:#ffffff;color:#1f2328;font-family:-apple-system,"            \
    "'PingFang SC','Microsoft YaHei','Helvetica Neue',Arial,sans-serif;font-size:15px;"            \
    "line-height:1.5"
#define STYLE_WRAP "max-width:640px;margin:0 auto"
#define STYLE_HEAD                                                                                 \
    "margin:0 0 12px;font-size:17px;font-weight:600;overflow-wrap:anywhere;word-break:break-word"
#define STYLE_PARA    "margin:0 0 12px;overflow-wrap:anywhere;word-break:break-word"
#define STYLE_SECTION "margin:16px 0 6px;font-weight:600"
#define STYLE_LIST    "margin:0 0 12px;padding-left:0;list-style:none"
#define STYLE_ITEM    "margin:0 0 4px;overflow-wrap:anywhere;word-break:break-word"
#define STYLE_TABLE   "width:100%;border-collapse:collapse;table-layout:fixed;margin:0 0 12px"
#define STYLE_TH                                                                                   \
    "width:32%;padding:6px 8px 6px 0;border-top:1px solid #e5e7eb;text-align:left;"                \
    "vertical-align:top;color:#57606a;font-weight:normal;overflow-wrap:anywhere"
#define STYLE_TD                                                                                   \
    "padding:6px 0;border-top:1px solid #e5e7eb;vertical-align:top;overflow-wrap:anywhere;"        \
    "word-break:break-all"
#define STYLE_LIST_TABLE "width:100%;border-collapse:collapse;margin:0 0 12px"
#define STYLE_TIME                                                                                 \
    "padding:4px 8px 4px 0;border-top:1px solid #e5e7eb;vertical-align:top;white-space:nowrap;"    \
    "color:#57606a"
#define STYLE_FOOT "margin:16px 0 0;font-size:12px;color:#8c959f"

enum qn_status qn_render_html_escape(struct qn_buf *b, const char *s)
{
    enum qn_status r = QN_OK;

    while (r == QN_OK && *s != '\0') {
        size_t n = strcspn(s, "&<>\"'");

        r = qn_buf_append(b, s, n);
        s += n;
        if (r != QN_OK || *s == '\0')
            break;
        switch (*s) {
        case '&':
            r = qn_buf_puts(b, "&amp;");
            break;
        case '<':
            r = qn_buf_puts(b, "&lt;");
            break;
        case '>':
            r = qn_buf_puts(b, "&gt;");
            break;
        case '"':
            r = qn_buf_puts(b, "&quot;");
            break;
        default:
            r = qn_buf_puts(b, "&#39;");
            break;
        }
        s++;
    }
    return r;
}

/* "<open>" escaped TEXT "<close>\n" */
static enum qn_status html_element(struct qn_buf *b, const char *open, const char *text,
                                   const char *close)
{
    enum qn_status r = qn_buf_puts(b, open);

    if (r == QN_OK)
        r = qn_render_html_escape(b, text);
    if (r == QN_OK)
        r = qn_buf_puts(b, close);
    if (r == QN_OK)
        r = qn_buf_putc(b, '\n');
    return r;
}

static enum qn_status html_open(struct qn_buf *b, size_t lang, const char *title)
{
    enum qn_status r;

    r = qn_buf_printf(b,
                      "<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n"
                      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
                      lang == ZH ? "zh-CN" : "en");
    if (r == QN_OK)
        r = html_element(b, "<title>", title, "</title>");
    if (r == QN_OK)
        r = qn_buf_puts(b, "</head>\n<body style=\"" STYLE_BODY "\">\n<div style=\"" STYLE_WRAP
                           "\">\n");
    return r;
}

static enum qn_status html_close(struct qn_buf *b, const char *footer)
{
    enum qn_status r = html_element(b, "<p style=\"" STYLE_FOOT "\">", footer, "</p>");

    if (r == QN_OK)
        r = qn_buf_puts(b, "</div>\n</body>\n</html>\n");
    return r;
}

/* ---- writing both bodies at once ---------------------------------------------------- */

/* A paragraph: one text line followed by a blank line, one <p>. */
static enum qn_status put_para(struct qn_rendered *o, const char *style_open, const char *text)
{
    enum qn_status r = qn_buf_printf(&o->text, "%s\n\n", text);

    if (r == QN_OK)
        r = html_element(&o->html, style_open, text, "</p>");
    return r;
}

static enum qn_status put_row(struct qn_rendered *o, size_t lang, const char *label,
                              const char *value)
{
    enum qn_status r;

    r = qn_buf_printf(&o->text, "%s%s%s\n", label, lang == ZH ? "：" : ": ", value);
    if (r == QN_OK)
        r = html_element(&o->html, "<tr><th style=\"" STYLE_TH "\">", label, "</th>");
    if (r == QN_OK)
        r = html_element(&o->html, "<td style=\"" STYLE_TD "\">", value, "</td></tr>");
    return r;
}

static enum qn_status put_footer(struct qn_rendered *o, size_t lang, const char *host,
                                 struct qn_buf *scratch)
{
    struct vars vs = {0};
    enum qn_status r;

    var_set(&vs, "host", host);
    qn_buf_reset(scratch);
    r = expand(scratch, T_FOOTER, lang, &vs);
    if (r == QN_OK)
        r = qn_buf_printf(&o->text, "%s\n", scratch->data);
    if (r == QN_OK)
        r = html_close(&o->html, scratch->data);
    return r;
}

static void rendered_init(struct qn_rendered *o)
{
    qn_buf_init(&o->subject, QN_RENDER_SUBJECT_MAX - 1);
    qn_buf_init(&o->text, QN_RENDER_BODY_MAX);
    qn_buf_init(&o->html, QN_RENDER_BODY_MAX);
}

void qn_rendered_free(struct qn_rendered *r)
{
    if (r == NULL)
        return;
    qn_buf_free(&r->subject);
    qn_buf_free(&r->text);
    qn_buf_free(&r->html);
}

/* ---- one event ---------------------------------------------------------------------- */

static enum qn_status event_subject(const struct view *v, struct qn_buf *out,
                                    struct qn_buf *scratch)
{
    enum qn_status r = QN_OK;

    qn_buf_reset(scratch);
    if (v->ev.subject[0] != '\0')
        r = qn_buf_puts(scratch, v->ev.subject);
    else
        r = expand(scratch, subject_template(v), v->lang, &v->vars);
    if (r == QN_OK)
        r = put_subject(out, view_host(v),
                        severity_text(severity_of(field(&v->ev, "severity")), false, v->lang),
                        scratch->data);
    return r;
}

/* The journal entries a rule quoted, in the order the watcher stored them. */
static enum qn_status put_samples(struct qn_rendered *o, const struct view *v)
{
    bool any = false;
    size_t i;
    enum qn_status r = QN_OK;

    for (i = 0; r == QN_OK && i < v->ev.n_fields; i++) {
        const struct qn_event_field *f = &v->ev.fields[i];

        if (strncmp(f->key, "sample.", 7) != 0)
            continue;
        if (!any) {
            r = qn_buf_printf(&o->text, "%s%s\n", templates[T_SAMPLES][v->lang],
                              v->lang == ZH ? "：" : ":");
            if (r == QN_OK)
                r = html_element(&o->html, "<p style=\"" STYLE_SECTION "\">",
                                 templates[T_SAMPLES][v->lang], "</p>");
            if (r == QN_OK)
                r = qn_buf_puts(&o->html, "<ul style=\"" STYLE_LIST "\">\n");
            any = true;
        }
        if (r == QN_OK)
            r = qn_buf_printf(&o->text, "  %s. %s\n", f->key + 7, f->value);
        if (r == QN_OK)
            r = qn_buf_printf(&o->html, "<li style=\"" STYLE_ITEM "\">%s. ", f->key + 7);
        if (r == QN_OK)
            r = html_element(&o->html, "", f->value, "</li>");
    }
    if (r == QN_OK && any) {
        r = qn_buf_putc(&o->text, '\n');
        if (r == QN_OK)
            r = qn_buf_puts(&o->html, "</ul>\n");
    }
    return r;
}

static enum qn_status event_body(struct qn_rendered *o, const struct view *v,
                                 struct qn_buf *scratch)
{
    const char *message = field(&v->ev, "message");
    char label[QN_EVENT_KEY_MAX + 16], shown[QN_EVENT_VALUE_MAX + 1];
    size_t i;
    enum qn_status r;

    r = html_open(&o->html, v->lang, o->subject.data != NULL ? o->subject.data : "");
    if (r != QN_OK)
        return r;

    /* The headline: what happened, in one sentence; for notify, the text itself. */
    qn_buf_reset(scratch);
    if (v->shape == SHAPE_NOTIFY)
        r = qn_buf_puts(scratch, message[0] != '\0' ? message : templates[T_NO_TEXT][v->lang]);
    else
        r = expand(scratch, line_template(v), v->lang, &v->vars);
    if (r == QN_OK)
        r = put_para(o,
                     v->shape == SHAPE_NOTIFY ? "<p style=\"" STYLE_PARA "\">"
                                              : "<p style=\"" STYLE_HEAD "\">",
                     scratch->data);
    if (r == QN_OK && v->shape != SHAPE_NOTIFY && shape_has_detail(v->shape) && message[0] != '\0')
        r = put_para(o, "<p style=\"" STYLE_PARA "\">", message);
    if (r == QN_OK && v->shape == SHAPE_JOURNAL)
        r = put_samples(o, v);

    if (r == QN_OK)
        r = qn_buf_puts(&o->html, "<table style=\"" STYLE_TABLE "\">\n");
    for (i = 0; r == QN_OK && i < v->ev.n_fields; i++) {
        const struct qn_event_field *f = &v->ev.fields[i];

        if (field_in_body(v, f->key))
            continue;
        r = put_row(o, v->lang, field_label(f->key, v->lang, label, sizeof(label)),
                    field_display(f, v->lang, shown, sizeof(shown)));
    }
    if (r == QN_OK)
        r = put_row(o, v->lang, field_label("host", v->lang, label, sizeof(label)), view_host(v));
    if (r == QN_OK)
        r = put_row(o, v->lang, field_label("time", v->lang, label, sizeof(label)), v->time_full);
    if (r == QN_OK)
        r = qn_buf_puts(&o->html, "</table>\n");
    if (r == QN_OK)
        r = qn_buf_putc(&o->text, '\n');
    if (r == QN_OK)
        r = put_footer(o, v->lang, view_host(v), scratch);
    return r;
}

enum qn_status qn_render_event(const struct qn_event *ev, enum qn_lang lang,
                               struct qn_rendered *out)
{
    struct view v;
    struct qn_buf scratch;
    enum qn_status r = QN_EINVAL;

    if (out == NULL)
        return QN_EINVAL;
    rendered_init(out);
    qn_buf_init(&scratch, SENTENCE_MAX);
    if (ev == NULL)
        goto out;
    view_init(&v, ev, lang_index(lang));
    r = event_subject(&v, &out->subject, &scratch);
    if (r == QN_OK)
        r = event_body(out, &v, &scratch);
out:
    qn_buf_free(&scratch);
    if (r != QN_OK)
        qn_rendered_free(out);
    return r;
}

/* ---- digests ------------------------------------------------------------------------ */

/* Who a digest group is about: the user, or for journal events the rule. */
static const char *group_who_key(const struct qn_event *ev)
{
    return kind_is(ev, "journal") ? "rule" : "user";
}

/* The source address a group is keyed on: ip, else rhost (as in sentences). */
static const char *raw_source(const struct qn_event *ev, size_t *ret_len)
{
    const char *s = raw_field(ev, "ip", ret_len);

    return *ret_len > 0 ? s : raw_field(ev, "rhost", ret_len);
}

static bool same_kind(const struct qn_event *a, const struct qn_event *b)
{
    return strncmp(a->kind, b->kind, sizeof(a->kind)) == 0;
}

static bool same_host(const struct qn_event *a, const struct qn_event *b)
{
    return strncmp(a->host, b->host, sizeof(a->host)) == 0;
}

static bool same_group(const struct qn_event *a, const struct qn_event *b)
{
    const char *x, *y;
    size_t xl, yl;

    if (!same_kind(a, b) || !same_host(a, b))
        return false;
    x = raw_field(a, group_who_key(a), &xl);
    y = raw_field(b, group_who_key(b), &yl);
    if (!same_bytes(x, xl, y, yl))
        return false;
    x = raw_source(a, &xl);
    y = raw_source(b, &yl);
    return same_bytes(x, xl, y, yl);
}

struct digest {
    const struct qn_event *const *evs;
    size_t n;
    size_t lang;
    long long first, last;      /* earliest and latest event time */
    enum time_format range_fmt; /* for the subject's range */
    enum time_format point_fmt; /* for times in groups and lines */
    char hosts[QN_EVENT_HOST_MAX + 64];
    char first_host[QN_EVENT_HOST_MAX];
    enum qn_severity severity; /* the highest of the events', 0 when none has one */
    struct qn_buf scratch;
    struct qn_buf line;
};

/* Short formats when every event is on one day, with the date (and year) otherwise. */
static void digest_formats(struct digest *d)
{
    struct tm a, b;

    d->range_fmt = TF_YMD_HM;
    d->point_fmt = TF_YMD_HMS;
    if (!local_time(d->first, &a) || !local_time(d->last, &b) || a.tm_year != b.tm_year)
        return;
    d->range_fmt = TF_MD_HM;
    d->point_fmt = TF_MD_HMS;
    if (a.tm_yday != b.tm_yday)
        return;
    d->range_fmt = TF_HM;
    d->point_fmt = TF_HMS;
}

static void digest_hosts(struct digest *d)
{
    struct vars vs = {0};
    char n_str[24], others[24];
    struct qn_buf b;
    size_t i, j, distinct = 0;

    for (i = 0; i < d->n; i++) {
        for (j = 0; j < i && !same_host(d->evs[i], d->evs[j]); j++)
            ;
        if (j == i)
            distinct++;
    }
    clean_string(d->evs[0]->host, sizeof(d->evs[0]->host), d->first_host, sizeof(d->first_host));
    if (d->first_host[0] == '\0')
        snprintf(d->first_host, sizeof(d->first_host), "%s", templates[T_UNKNOWN_HOST][d->lang]);
    if (distinct <= 1) {
        snprintf(d->hosts, sizeof(d->hosts), "%s", d->first_host);
        return;
    }
    snprintf(n_str, sizeof(n_str), "%zu", distinct);
    snprintf(others, sizeof(others), "%zu", distinct - 1);
    var_set(&vs, "host", d->first_host);
    var_set(&vs, "n", n_str);
    var_set(&vs, "others", others);
    /* The label fits: a host name is under QN_EVENT_HOST_MAX and the rest is short. */
    qn_buf_init(&b, sizeof(d->hosts) - 1);
    if (expand(&b, distinct == 2 ? T_HOSTS_TWO : T_HOSTS_MANY, d->lang, &vs) == QN_OK)
        snprintf(d->hosts, sizeof(d->hosts), "%s", b.data);
    else
        snprintf(d->hosts, sizeof(d->hosts), "%s", d->first_host);
    qn_buf_free(&b);
}

static enum qn_status digest_head(struct digest *d, struct qn_rendered *o)
{
    char n_str[24], range[2 * TIME_STR_MAX + 8], a[TIME_STR_MAX], b[TIME_STR_MAX];
    struct vars vs = {0};
    enum qn_status r;

    snprintf(n_str, sizeof(n_str), "%zu", d->n);
    format_time(d->first, d->range_fmt, a, sizeof(a));
    format_time(d->last, d->range_fmt, b, sizeof(b));
    if (strcmp(a, b) == 0)
        snprintf(range, sizeof(range), "%s", a);
    else
        snprintf(range, sizeof(range), "%s–%s", a, b);
    var_set(&vs, "n", n_str);
    var_set(&vs, "range", range);
    var_set(&vs, "hosts", d->hosts);

    qn_buf_reset(&d->scratch);
    r = expand(&d->scratch, d->n == 1 ? T_DIGEST_SUBJECT_ONE : T_DIGEST_SUBJECT_MANY, d->lang, &vs);
    /* Several hosts: the bracket names them all ("[web1 等 3 台主机]"). */
    if (r == QN_OK)
        r = put_subject(&o->subject, d->hosts, severity_text(d->severity, false, d->lang),
                        d->scratch.data);
    if (r == QN_OK)
        r = html_open(&o->html, d->lang, o->subject.data != NULL ? o->subject.data : "");

    format_time(d->first, TF_FULL, a, sizeof(a));
    format_time(d->last, TF_FULL, b, sizeof(b));
    var_set(&vs, "first", a);
    var_set(&vs, "last", b);
    qn_buf_reset(&d->scratch);
    if (r == QN_OK)
        r = expand(&d->scratch, d->n == 1 ? T_DIGEST_INTRO_ONE : T_DIGEST_INTRO_MANY, d->lang, &vs);
    if (r == QN_OK)
        r = put_para(o, "<p style=\"" STYLE_HEAD "\">", d->scratch.data);
    return r;
}

/* Bytes of a name in a group line, with its NUL: three of them, the labels,
 * the count and two times stay well under QN_RENDER_DIGEST_LINE_MAX. */
#define GROUP_NAME_MAX 65

/* One group line: who, host, source, count, first and last time. */
static enum qn_status digest_group(struct digest *d, struct qn_rendered *o, size_t first_index,
                                   struct view *v)
{
    char n_str[24], first[TIME_STR_MAX], last[TIME_STR_MAX];
    char cut[QN_RENDER_DIGEST_LINE_MAX + 1];
    char who[GROUP_NAME_MAX], host[GROUP_NAME_MAX], src[GROUP_NAME_MAX];
    long long tmin, tmax;
    size_t j, count = 0;
    const char *who_key;
    char label[QN_EVENT_KEY_MAX + 16];
    enum qn_status r;

    tmin = tmax = d->evs[first_index]->time;
    for (j = first_index; j < d->n; j++) {
        if (!same_group(d->evs[first_index], d->evs[j]))
            continue;
        count++;
        if (d->evs[j]->time < tmin)
            tmin = d->evs[j]->time;
        if (d->evs[j]->time > tmax)
            tmax = d->evs[j]->time;
    }
    view_init(v, d->evs[first_index], d->lang);
    who_key = v->shape == SHAPE_JOURNAL ? "rule" : "user";
    /* Each name is cut on its own, so the count and times always fit the line. */
    cut_line(field(&v->ev, who_key), strlen(field(&v->ev, who_key)), who, sizeof(who));
    cut_line(view_host(v), strlen(view_host(v)), host, sizeof(host));
    cut_line(var_get(&v->vars, "src", 3), strlen(var_get(&v->vars, "src", 3)), src, sizeof(src));
    snprintf(n_str, sizeof(n_str), "%zu", count);
    format_time(tmin, d->point_fmt, first, sizeof(first));
    format_time(tmax, d->point_fmt, last, sizeof(last));
    var_set(&v->vars, "n", n_str);
    var_set(&v->vars, "first", first);
    var_set(&v->vars, "last", last);
    var_set(&v->vars, "who", who);
    var_set(&v->vars, "host", host);
    var_set(&v->vars, "src", src);
    var_set(&v->vars, "wholabel", field_label(who_key, d->lang, label, sizeof(label)));

    qn_buf_reset(&d->scratch);
    r = expand(&d->scratch, count == 1 ? T_DIGEST_GROUP_ONE : T_DIGEST_GROUP_MANY, d->lang,
               &v->vars);
    if (r != QN_OK)
        return r;
    cut_line(d->scratch.data, d->scratch.len, cut, sizeof(cut));
    r = qn_buf_printf(&o->text, "  %s\n", cut);
    if (r == QN_OK)
        r = html_element(&o->html, "<li style=\"" STYLE_ITEM "\">", cut, "</li>");
    return r;
}

/* Per kind (in order of first appearance): a heading with the count, then its groups. */
static enum qn_status digest_kinds(struct digest *d, struct qn_rendered *o, struct view *v)
{
    size_t i, j;
    enum qn_status r = QN_OK;

    for (i = 0; r == QN_OK && i < d->n; i++) {
        char kind[QN_EVENT_KIND_MAX], n_str[24];
        struct vars vs = {0};
        size_t count = 0;

        for (j = 0; j < i && !same_kind(d->evs[i], d->evs[j]); j++)
            ;
        if (j < i)
            continue; /* kind already listed */
        for (j = i; j < d->n; j++)
            count += same_kind(d->evs[i], d->evs[j]);
        clean_string(d->evs[i]->kind, sizeof(d->evs[i]->kind), kind, sizeof(kind));
        snprintf(n_str, sizeof(n_str), "%zu", count);
        var_set(&vs, "kindname", kind_name(kind, d->lang));
        var_set(&vs, "n", n_str);
        qn_buf_reset(&d->scratch);
        r = expand(&d->scratch, T_DIGEST_KIND, d->lang, &vs);
        if (r == QN_OK)
            r = qn_buf_printf(&o->text, "%s\n", d->scratch.data);
        if (r == QN_OK)
            r = html_element(&o->html, "<p style=\"" STYLE_SECTION "\">", d->scratch.data, "</p>");
        if (r == QN_OK)
            r = qn_buf_puts(&o->html, "<ul style=\"" STYLE_LIST "\">\n");

        for (j = i; r == QN_OK && j < d->n; j++) {
            size_t k;

            if (!same_kind(d->evs[i], d->evs[j]))
                continue;
            for (k = i; k < j && !same_group(d->evs[k], d->evs[j]); k++)
                ;
            if (k < j)
                continue; /* group already listed */
            r = digest_group(d, o, j, v);
        }
        if (r == QN_OK)
            r = qn_buf_putc(&o->text, '\n');
        if (r == QN_OK)
            r = qn_buf_puts(&o->html, "</ul>\n");
    }
    return r;
}

/* One line per event: time, kind, summary. */
static enum qn_status digest_list(struct digest *d, struct qn_rendered *o, struct view *v)
{
    char n_str[24], when[TIME_STR_MAX], cut[QN_RENDER_DIGEST_LINE_MAX + 1];
    struct vars vs = {0};
    size_t i;
    enum qn_status r;

    snprintf(n_str, sizeof(n_str), "%zu", d->n);
    var_set(&vs, "n", n_str);
    qn_buf_reset(&d->scratch);
    r = expand(&d->scratch, T_DIGEST_ALL, d->lang, &vs);
    if (r == QN_OK)
        r = qn_buf_printf(&o->text, "%s\n", d->scratch.data);
    if (r == QN_OK)
        r = html_element(&o->html, "<p style=\"" STYLE_SECTION "\">", d->scratch.data, "</p>");
    if (r == QN_OK)
        r = qn_buf_puts(&o->html, "<table style=\"" STYLE_LIST_TABLE "\">\n");

    for (i = 0; r == QN_OK && i < d->n; i++) {
        const char *kname;

        view_init(v, d->evs[i], d->lang);
        kname = kind_name(v->ev.kind, d->lang);
        qn_buf_reset(&d->line);
        r = expand(&d->line, line_template(v), d->lang, &v->vars);
        if (r == QN_OK && shape_has_detail(v->shape)) {
            var_set(&v->vars, "line", d->line.data);
            qn_buf_reset(&d->scratch);
            r = expand(&d->scratch, T_DETAIL, d->lang, &v->vars);
            if (r == QN_OK)
                cut_line(d->scratch.data, d->scratch.len, cut, sizeof(cut));
        } else if (r == QN_OK) {
            cut_line(d->line.data, d->line.len, cut, sizeof(cut));
        }
        if (r != QN_OK)
            break;
        format_time(v->ev.time, d->point_fmt, when, sizeof(when));
        r = qn_buf_printf(&o->text, "%s  %s  %s\n", when, kname, cut);
        if (r == QN_OK)
            r = html_element(&o->html, "<tr><td style=\"" STYLE_TIME "\">", when, "</td>");
        if (r == QN_OK)
            r = html_element(&o->html, "<td style=\"" STYLE_TD "\">", kname, " · ");
        if (r == QN_OK)
            r = html_element(&o->html, "", cut, "</td></tr>");
    }
    if (r == QN_OK)
        r = qn_buf_puts(&o->html, "</table>\n");
    if (r == QN_OK)
        r = qn_buf_putc(&o->text, '\n');
    return r;
}

enum qn_status qn_render_digest(const struct qn_event *const *evs, size_t n, enum qn_lang lang,
                                struct qn_rendered *out)
{
    struct digest d;
    struct view *v = NULL;
    size_t i;
    enum qn_status r = QN_EINVAL;

    if (out == NULL)
        return QN_EINVAL;
    rendered_init(out);
    memset(&d, 0, sizeof(d));
    qn_buf_init(&d.scratch, SENTENCE_MAX);
    qn_buf_init(&d.line, SENTENCE_MAX);
    if (evs == NULL || n == 0)
        goto out;
    r = QN_ETOOBIG;
    if (n > QN_RENDER_DIGEST_MAX_EVENTS)
        goto out;
    r = QN_EINVAL;
    for (i = 0; i < n; i++) {
        if (evs[i] == NULL)
            goto out;
    }
    /* A view holds a copy of an event (about 14 KiB): keep it off the stack of
     * the caller's caller, once for the whole digest. */
    r = QN_ENOMEM;
    v = malloc(sizeof(*v));
    if (v == NULL)
        goto out;

    d.evs = evs;
    d.n = n;
    d.lang = lang_index(lang);
    d.first = d.last = evs[0]->time;
    for (i = 1; i < n; i++) {
        if (evs[i]->time < d.first)
            d.first = evs[i]->time;
        if (evs[i]->time > d.last)
            d.last = evs[i]->time;
    }
    digest_formats(&d);
    digest_hosts(&d);
    for (i = 0; i < n; i++) {
        char sev[16];
        size_t len;
        const char *value = raw_field(evs[i], "severity", &len);

        if (len < sizeof(sev)) {
            memcpy(sev, value, len);
            sev[len] = '\0';
            if (severity_of(sev) > d.severity)
                d.severity = severity_of(sev);
        }
    }

    r = digest_head(&d, out);
    if (r == QN_OK)
        r = digest_kinds(&d, out, v);
    if (r == QN_OK)
        r = digest_list(&d, out, v);
    if (r == QN_OK)
        r = put_footer(out, d.lang, d.hosts, &d.scratch);
out:
    free(v);
    qn_buf_free(&d.scratch);
    qn_buf_free(&d.line);
    if (r != QN_OK)
        qn_rendered_free(out);
    return r;
}
