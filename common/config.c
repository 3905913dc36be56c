/*
 * config — the INI parser, presets and validation of qqnotify.conf.
 *
 * The text is read line by line into a bounded stack buffer; each
 * "key = value" is looked up in one table (section, name, setter), so the
 * list of valid keys that an error prints and the keys the parser accepts
 * cannot drift apart without a test noticing.  host, port and tls are held
 * back until the whole file is read: a provider preset is applied first
 * and explicit keys on top of it, whatever their order in the file.
 *
 * Every error names the line, the key and a fix.  what and fix are static
 * English msgids (N_ marks them for xgettext; the program translates), so
 * the variable part of an error travels in key and value.
 */
#include "i18n.h"
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "text.h"

#define DEFAULT_TIMEOUT_S  30
#define MAX_TIMEOUT_S      600
#define DEFAULT_ENTRY_SIZE (1024 * 1024)
#define MIN_ENTRY_SIZE     1024
#define MAX_ENTRY_SIZE     QN_CONFIG_ENTRY_MAX

#define DAY_S               86400u
#define DEFAULT_MAX_AGE_S   (3 * DAY_S)
#define MIN_MAX_AGE_S       60u
#define MAX_MAX_AGE_S       (365 * DAY_S)
#define DEFAULT_RETRY_MIN_S 60u
#define DEFAULT_RETRY_MAX_S 3600u
#define MAX_RETRY_S         DAY_S
/* The limiter keeps a day of history: a longer window would count nothing more. */
#define MAX_DIGEST_WINDOW_S DAY_S
#define DEFAULT_CAP         20u
#define MAX_CAP             100000u
#define DEFAULT_CAP_WINDOW  600u

enum section {
    SECTION_NONE = 0,
    SECTION_SMTP,
    SECTION_NOTIFY,
    SECTION_SPOOL,
    SECTION_LIMITS,
    SECTION_NOISE,  /* [login], [quiet], [severity], [enrich]: noise.h */
    SECTION_ROUTE,  /* [route NAME]: route.c */
    SECTION_ASSURE, /* [heartbeat], [metrics]: assure.h */
};

struct preset {
    const char *name;
    const char *host;
    unsigned port;
    enum qn_tls_mode tls;
};

static const struct preset presets[] = {
    {"qq", "smtp.qq.com", 465, QN_TLS_IMPLICIT},
    {"exmail", "smtp.exmail.qq.com", 465, QN_TLS_IMPLICIT},
    {"163", "smtp.163.com", 465, QN_TLS_IMPLICIT},
    {"gmail", "smtp.gmail.com", 465, QN_TLS_IMPLICIT},
    {"outlook", "smtp-mail.outlook.com", 587, QN_TLS_STARTTLS},
    {"custom", "", 465, QN_TLS_IMPLICIT},
};

struct parser;

/* A setter stores VALUE or reports why it cannot (returns QN_ECONFIG). */
typedef enum qn_status (*setter_fn)(struct parser *p, const char *key, const char *value);

struct key_def {
    enum section section;
    const char *name;
    bool repeatable;
    setter_fn set;
};

static enum qn_status set_provider(struct parser *p, const char *key, const char *value);
static enum qn_status set_host(struct parser *p, const char *key, const char *value);
static enum qn_status set_port(struct parser *p, const char *key, const char *value);
static enum qn_status set_tls(struct parser *p, const char *key, const char *value);
static enum qn_status set_tls_verify(struct parser *p, const char *key, const char *value);
static enum qn_status set_ca_file(struct parser *p, const char *key, const char *value);
static enum qn_status set_tls_fingerprint(struct parser *p, const char *key, const char *value);
static enum qn_status set_user(struct parser *p, const char *key, const char *value);
static enum qn_status set_from_name(struct parser *p, const char *key, const char *value);
static enum qn_status set_helo_name(struct parser *p, const char *key, const char *value);
static enum qn_status set_timeout(struct parser *p, const char *key, const char *value);
static enum qn_status set_credential_helper(struct parser *p, const char *key, const char *value);
static enum qn_status set_credential_file(struct parser *p, const char *key, const char *value);
static enum qn_status set_to(struct parser *p, const char *key, const char *value);
static enum qn_status set_language(struct parser *p, const char *key, const char *value);
static enum qn_status set_spool_dir(struct parser *p, const char *key, const char *value);
static enum qn_status set_max_entry_size(struct parser *p, const char *key, const char *value);
static enum qn_status set_spool_user(struct parser *p, const char *key, const char *value);
static enum qn_status set_drop_group(struct parser *p, const char *key, const char *value);
static enum qn_status set_user_max(struct parser *p, const char *key, const char *value);
static enum qn_status set_rule_max(struct parser *p, const char *key, const char *value);
static enum qn_status set_cap_window(struct parser *p, const char *key, const char *value);
static enum qn_status set_max_per_minute(struct parser *p, const char *key, const char *value);
static enum qn_status set_max_per_hour(struct parser *p, const char *key, const char *value);
static enum qn_status set_max_per_day(struct parser *p, const char *key, const char *value);
static enum qn_status set_digest_after(struct parser *p, const char *key, const char *value);
static enum qn_status set_digest_window(struct parser *p, const char *key, const char *value);
static enum qn_status set_max_age(struct parser *p, const char *key, const char *value);
static enum qn_status set_retry_min(struct parser *p, const char *key, const char *value);
static enum qn_status set_retry_max(struct parser *p, const char *key, const char *value);
static enum qn_status set_notify_route(struct parser *p, const char *key, const char *value);

/* Keep in step with the section_keys_fix() texts: a unit test parses each. */
static const struct key_def keys[] = {
    {SECTION_SMTP, "provider", false, set_provider},
    {SECTION_SMTP, "host", false, set_host},
    {SECTION_SMTP, "port", false, set_port},
    {SECTION_SMTP, "tls", false, set_tls},
    {SECTION_SMTP, "tls_verify", false, set_tls_verify},
    {SECTION_SMTP, "ca_file", false, set_ca_file},
    {SECTION_SMTP, "tls_fingerprint", false, set_tls_fingerprint},
    {SECTION_SMTP, "user", false, set_user},
    {SECTION_SMTP, "from_name", false, set_from_name},
    {SECTION_SMTP, "helo_name", false, set_helo_name},
    {SECTION_SMTP, "timeout", false, set_timeout},
    {SECTION_SMTP, "credential_helper", false, set_credential_helper},
    {SECTION_SMTP, "credential_file", false, set_credential_file},
    {SECTION_NOTIFY, "to", true, set_to},
    {SECTION_NOTIFY, "language", false, set_language},
    {SECTION_NOTIFY, "routes", false, set_notify_route},
    {SECTION_NOTIFY, "critical_routes", false, set_notify_route},
    {SECTION_NOTIFY, "failover_after", false, set_notify_route},
    {SECTION_SPOOL, "dir", false, set_spool_dir},
    {SECTION_SPOOL, "max_entry_size", false, set_max_entry_size},
    {SECTION_SPOOL, "user", false, set_spool_user},
    {SECTION_SPOOL, "drop_group", false, set_drop_group},
    {SECTION_LIMITS, "max_per_minute", false, set_max_per_minute},
    {SECTION_LIMITS, "max_per_hour", false, set_max_per_hour},
    {SECTION_LIMITS, "max_per_day", false, set_max_per_day},
    {SECTION_LIMITS, "digest_after", false, set_digest_after},
    {SECTION_LIMITS, "digest_window", false, set_digest_window},
    {SECTION_LIMITS, "max_age", false, set_max_age},
    {SECTION_LIMITS, "retry_min", false, set_retry_min},
    {SECTION_LIMITS, "retry_max", false, set_retry_max},
    {SECTION_LIMITS, "user_max", false, set_user_max},
    {SECTION_LIMITS, "rule_max", false, set_rule_max},
    {SECTION_LIMITS, "cap_window", false, set_cap_window},
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

struct parser {
    struct qn_config *cfg;
    struct qn_config_error *err;
    enum section section;
    unsigned line;
    bool seen[N_KEYS];

    /* Held back until the end: see the file comment. */
    bool has_provider, has_host, has_port, has_tls;
    char provider[sizeof(((struct qn_config *)0)->provider)];
    char host[sizeof(((struct qn_config *)0)->host)];
    unsigned port;
    enum qn_tls_mode tls;

    /* [limits] counts as written, laid over the provider's defaults at the
     * end (apply_limits), so "provider = gmail" after them cannot undo them. */
    struct qn_ratelimit_config limits;
    bool has_max_per_minute, has_max_per_hour, has_max_per_day, has_digest_after, has_digest_window;

    enum qn_noise_section noise_section; /* with SECTION_NOISE */
    struct qn_assure_parse assure;
    enum qn_assure_section assure_section; /* with SECTION_ASSURE */
    struct qn_noise_parse noise;
};

/* ---- small helpers ------------------------------------------------------------------- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static char *trim(char *s)
{
    size_t n;

    while (is_blank(*s))
        s++;
    n = strlen(s);
    while (n > 0 && is_blank(s[n - 1]))
        n--;
    s[n] = '\0';
    return s;
}

/* What an error echoes (a value, a key) is printed to a terminal or the journal:
 * sanitised like every untrusted line (valid UTF-8, no control or bidi
 * characters, cut on a character boundary to fit DSTSZ). */
static void copy_for_error(char *dst, size_t dstsz, const char *s, size_t n)
{
    qn_text_sanitize_line(s, n, dst, dstsz);
}

static enum qn_status fail_value(struct parser *p, const char *key, const char *value,
                                 size_t value_len, const char *what, const char *fix)
{
    struct qn_config_error *err = p->err;

    err->line = p->line;
    copy_for_error(err->key, sizeof(err->key), key, strlen(key));
    if (value != NULL)
        copy_for_error(err->value, sizeof(err->value), value, value_len);
    else
        err->value[0] = '\0';
    err->what = what;
    err->fix = fix;
    err->secret_key = false;
    return QN_ECONFIG;
}

static enum qn_status fail(struct parser *p, const char *key, const char *value, const char *what,
                           const char *fix)
{
    return fail_value(p, key, value, value != NULL ? strlen(value) : 0, what, fix);
}

/* A problem route.c found: the same error, at its line when it names one. */
static enum qn_status fail_route(struct parser *p, const struct qn_route_problem *rp)
{
    unsigned line = p->line;
    enum qn_status r;

    if (rp->line != 0)
        p->line = rp->line;
    r = fail_value(p, rp->key != NULL ? rp->key : "", rp->value, rp->value_len, rp->what, rp->fix);
    p->err->secret_key = rp->secret_key;
    if (rp->secret_key)
        p->err->value[0] = '\0';
    p->line = line;
    return r;
}

static enum qn_status copy_value(struct parser *p, const char *key, const char *value, char *dst,
                                 size_t dstsz)
{
    size_t n = strlen(value);

    if (n >= dstsz)
        return fail(p, key, NULL, N_("the value is too long"),
                    N_("shorten it: names are limited to 255 bytes, commands to 1023 bytes and "
                       "paths to 4095 bytes"));
    memcpy(dst, value, n + 1);
    return QN_OK;
}

/* Decimal digits only (no sign, no blanks); *RET_END points after them. */
static bool parse_decimal(const char *s, unsigned long long max, unsigned long long *ret,
                          const char **ret_end)
{
    unsigned long long v = 0;
    const char *c = s;

    if (*c < '0' || *c > '9')
        return false;
    for (; *c >= '0' && *c <= '9'; c++) {
        unsigned d = (unsigned)(*c - '0');
        if (v > (max - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *ret = v;
    *ret_end = c;
    return true;
}

bool qn_config_bool(const char *s, bool *ret)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    size_t i;

    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *ret = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *ret = false;
            return true;
        }
    }
    return false;
}

/*
 * A plausible addr-spec: printable ASCII, exactly one '@' with text on both
 * sides, no characters that would need quoting or could end the address in
 * an SMTP command or header, and a domain of letters, digits, '-' and '.'.
 * Not RFC 5321 complete on purpose: quoted local parts and address literals
 * are not worth their risk here.  Non-ASCII is refused so that a full-width
 * '＠' or '，' typed by a Chinese input method is caught here, not at RCPT.
 */
static bool address_plausible(const char *s, size_t n)
{
    const char *at = NULL;
    size_t i;

    if (n == 0 || n >= QN_ADDR_MAX)
        return false;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7F || strchr("<>()[],;:\"\\", c) != NULL)
            return false;
        if (c == '@') {
            if (at != NULL)
                return false;
            at = s + i;
        }
    }
    if (at == NULL || at == s || at == s + n - 1)
        return false;
    for (const char *d = at + 1; d < s + n; d++) {
        if (!is_alnum(*d) && *d != '-' && *d != '.')
            return false;
        if (*d == '.' && (d == at + 1 || d == s + n - 1 || d[1] == '.'))
            return false;
    }
    return true;
}

/* A host name or IP literal: letters, digits, '-', '.', '_' and, for IPv6, ':'. */
static bool host_plausible(const char *s, bool allow_colon)
{
    size_t n = strlen(s);

    if (n == 0 || n > 253)
        return false;
    for (; *s != '\0'; s++) {
        if (!is_alnum(*s) && *s != '-' && *s != '.' && *s != '_' && !(allow_colon && *s == ':'))
            return false;
    }
    return true;
}

static const struct preset *preset_find(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(presets) / sizeof(presets[0]); i++) {
        if (strcasecmp(presets[i].name, name) == 0)
            return &presets[i];
    }
    return NULL;
}

/*
 * Append the comma-separated LIST to TO (holding *N entries).  On an
 * implausible item, *RET_BAD and *RET_BAD_LEN locate it.
 */
static enum qn_status append_recipients(char (*to)[QN_ADDR_MAX], size_t *n, const char *list,
                                        const char **ret_bad, size_t *ret_bad_len)
{
    const char *item = list;

    *ret_bad = NULL;
    *ret_bad_len = 0;
    for (;;) {
        const char *end = strchr(item, ',');
        const char *stop = end != NULL ? end : item + strlen(item);
        const char *a = item, *b = stop;

        while (a < b && is_blank(*a))
            a++;
        while (b > a && is_blank(b[-1]))
            b--;
        if (a < b) {
            if (!address_plausible(a, (size_t)(b - a))) {
                *ret_bad = a;
                *ret_bad_len = (size_t)(b - a);
                return QN_EINVAL;
            }
            if (*n >= QN_CONFIG_MAX_RCPT)
                return QN_ETOOBIG;
            memcpy(to[*n], a, (size_t)(b - a));
            to[*n][b - a] = '\0';
            (*n)++;
        }
        if (end == NULL)
            return QN_OK;
        item = end + 1;
    }
}

/* ---- setters --------------------------------------------------------------------------- */

static enum qn_status set_provider(struct parser *p, const char *key, const char *value)
{
    const struct preset *preset = preset_find(value);

    if (preset == NULL)
        return fail(p, key, value, N_("unknown provider"),
                    N_("provider is one of qq, exmail, 163, gmail, outlook and custom"));
    snprintf(p->provider, sizeof(p->provider), "%s", preset->name);
    p->has_provider = true;
    return QN_OK;
}

static enum qn_status set_host(struct parser *p, const char *key, const char *value)
{
    const char *colon = strchr(value, ':');

    /* One colon is "host:port" (IPv6 literals have several). */
    if (!host_plausible(value, true) || (colon != NULL && strchr(colon + 1, ':') == NULL))
        return fail(p, key, value, N_("the host name is not valid"),
                    N_("write the server name only, e.g. host = smtp.qq.com; the port goes in "
                       "port = 465"));
    snprintf(p->host, sizeof(p->host), "%s", value);
    p->has_host = true;
    return QN_OK;
}

static bool parse_port(const char *value, unsigned *ret)
{
    unsigned long long v;
    const char *end;

    if (!parse_decimal(value, 65535, &v, &end) || *end != '\0' || v == 0)
        return false;
    *ret = (unsigned)v;
    return true;
}

static enum qn_status set_port(struct parser *p, const char *key, const char *value)
{
    if (!parse_port(value, &p->port))
        return fail(p, key, value, N_("the port is not a number from 1 to 65535"),
                    N_("use port = 465 (implicit TLS) or port = 587 (STARTTLS)"));
    p->has_port = true;
    return QN_OK;
}

static enum qn_status set_tls(struct parser *p, const char *key, const char *value)
{
    if (strcasecmp(value, "implicit") == 0 || strcasecmp(value, "ssl") == 0 ||
        strcasecmp(value, "tls") == 0)
        p->tls = QN_TLS_IMPLICIT;
    else if (strcasecmp(value, "starttls") == 0)
        p->tls = QN_TLS_STARTTLS;
    else
        return fail(p, key, value, N_("unknown TLS mode"),
                    N_("tls is implicit (TLS from the start, port 465) or starttls (port 587); "
                       "a connection without TLS is not offered"));
    p->has_tls = true;
    return QN_OK;
}

static enum qn_status set_tls_verify(struct parser *p, const char *key, const char *value)
{
    if (!qn_config_bool(value, &p->cfg->tls_verify))
        return fail(p, key, value, N_("expected yes or no"),
                    N_("tls_verify is yes (the default) or no"));
    return QN_OK;
}

static enum qn_status set_absolute_path(struct parser *p, const char *key, const char *value,
                                        char *dst, size_t dstsz, bool allow_empty)
{
    if (value[0] == '\0' && allow_empty) {
        dst[0] = '\0';
        return QN_OK;
    }
    /* Daemons run with / as working directory: a relative path would name
     * a different file there than in the shell that tested it. */
    if (value[0] != '/')
        return fail(p, key, value, N_("the path is not absolute"),
                    N_("write the full path, starting with /"));
    return copy_value(p, key, value, dst, dstsz);
}

static enum qn_status set_ca_file(struct parser *p, const char *key, const char *value)
{
    return set_absolute_path(p, key, value, p->cfg->ca_file, sizeof(p->cfg->ca_file), true);
}

/* 64 hex digits, optionally with ':' between byte pairs (as openssl prints it). */
static bool parse_fingerprint(const char *s, unsigned char out[32])
{
    size_t digits = 0;
    const char *c;

    for (c = s; *c != '\0'; c++) {
        unsigned v;

        if (*c == ':') {
            if (digits == 0 || digits % 2 != 0 || c[1] == ':' || c[1] == '\0')
                return false;
            continue;
        }
        if (qn_text_hex_digit(*c) < 0)
            return false;
        v = (unsigned)qn_text_hex_digit(*c);
        if (digits >= 64)
            return false;
        if (digits % 2 == 0)
            out[digits / 2] = (unsigned char)(v << 4);
        else
            out[digits / 2] |= (unsigned char)v;
        digits++;
    }
    return digits == 64;
}

static enum qn_status set_tls_fingerprint(struct parser *p, const char *key, const char *value)
{
    unsigned char pin[32];

    if (value[0] == '\0') {
        p->cfg->has_tls_pin = false;
        return QN_OK;
    }
    if (!parse_fingerprint(value, pin))
        return fail(p, key, value, N_("the fingerprint is not a SHA-256 hash"),
                    N_("write the 64 hexadecimal digits (with or without ':') printed by "
                       "`openssl x509 -noout -fingerprint -sha256`"));
    memcpy(p->cfg->tls_pin, pin, sizeof(pin));
    p->cfg->has_tls_pin = true;
    return QN_OK;
}

static const char user_fix[] = N_("write the full address of the sending account, e.g. "
                                  "user = 123456789@qq.com");

static enum qn_status set_user(struct parser *p, const char *key, const char *value)
{
    if (!address_plausible(value, strlen(value)))
        return fail(p, key, value, N_("[smtp] user is not a plausible mail address"), user_fix);
    return copy_value(p, key, value, p->cfg->user, sizeof(p->cfg->user));
}

static enum qn_status set_from_name(struct parser *p, const char *key, const char *value)
{
    return copy_value(p, key, value, p->cfg->from_name, sizeof(p->cfg->from_name));
}

static enum qn_status set_helo_name(struct parser *p, const char *key, const char *value)
{
    if (value[0] != '\0' && !host_plausible(value, false))
        return fail(p, key, value, N_("the HELO name is not a valid host name"),
                    N_("write a host name such as server1.example.com, or remove the line to use "
                       "this host's name"));
    return copy_value(p, key, value, p->cfg->helo_name, sizeof(p->cfg->helo_name));
}

static enum qn_status set_timeout(struct parser *p, const char *key, const char *value)
{
    unsigned long long v;
    const char *end;

    if (!parse_decimal(value, 1000000, &v, &end))
        goto bad;
    if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
        v *= 60;
    else if (strcmp(end, "s") != 0 && *end != '\0')
        goto bad;
    if (v < 1 || v > MAX_TIMEOUT_S)
        goto bad;
    p->cfg->timeout_s = (unsigned)v;
    return QN_OK;
bad:
    return fail(p, key, value, N_("the timeout is not between 1 and 600 seconds"),
                N_("write a number of seconds, e.g. timeout = 30 or timeout = 30s"));
}

static enum qn_status set_credential_helper(struct parser *p, const char *key, const char *value)
{
    return copy_value(p, key, value, p->cfg->credential_helper, sizeof(p->cfg->credential_helper));
}

static enum qn_status set_credential_file(struct parser *p, const char *key, const char *value)
{
    return set_absolute_path(p, key, value, p->cfg->credential_file,
                             sizeof(p->cfg->credential_file), true);
}

static enum qn_status set_to(struct parser *p, const char *key, const char *value)
{
    struct qn_config *cfg = p->cfg;
    const char *bad;
    size_t bad_len, before = cfg->n_to;
    enum qn_status r;

    r = append_recipients(cfg->to, &cfg->n_to, value, &bad, &bad_len);
    if (r == QN_EINVAL)
        return fail_value(p, key, bad, bad_len, N_("a recipient is not a plausible mail address"),
                          N_("write plain addresses such as ops@example.com, separated by ASCII "
                             "commas (not the full-width ，)"));
    if (r == QN_ETOOBIG)
        return fail(p, key, NULL, N_("too many recipients"),
                    N_("at most 16 recipients; use a mailing list for more"));
    if (cfg->n_to == before)
        return fail(p, key, NULL, N_("the recipient list is empty"),
                    N_("write at least one address, e.g. to = ops@example.com"));
    return QN_OK;
}

static bool parse_language(const char *s, enum qn_lang *ret)
{
    if (strcasecmp(s, "zh_CN") == 0 || strcasecmp(s, "zh") == 0)
        *ret = QN_LANG_ZH;
    else if (strcasecmp(s, "en") == 0)
        *ret = QN_LANG_EN;
    else if (strcasecmp(s, "auto") == 0)
        *ret = QN_LANG_AUTO;
    else
        return false;
    return true;
}

static enum qn_status set_language(struct parser *p, const char *key, const char *value)
{
    if (!parse_language(value, &p->cfg->language))
        return fail(p, key, value, N_("unknown language"),
                    N_("language is zh_CN, en or auto (from the locale)"));
    return QN_OK;
}

static enum qn_status set_spool_dir(struct parser *p, const char *key, const char *value)
{
    return set_absolute_path(p, key, value, p->cfg->spool_dir, sizeof(p->cfg->spool_dir), false);
}

static enum qn_status set_notify_route(struct parser *p, const char *key, const char *value)
{
    struct qn_route_problem rp;

    if (qn_route_notify_set(&p->cfg->routes, key, value, p->line, &rp) == QN_ECONFIG)
        return fail_route(p, &rp);
    return QN_OK;
}

static enum qn_status set_max_entry_size(struct parser *p, const char *key, const char *value)
{
    unsigned long long v;
    const char *end;

    if (!parse_decimal(value, MAX_ENTRY_SIZE, &v, &end))
        goto bad;
    if (strcasecmp(end, "k") == 0 || strcasecmp(end, "kb") == 0 || strcasecmp(end, "kib") == 0)
        v *= 1024;
    else if (strcasecmp(end, "m") == 0 || strcasecmp(end, "mb") == 0 || strcasecmp(end, "mib") == 0)
        v *= 1024 * 1024;
    else if (*end != '\0')
        goto bad;
    if (v < MIN_ENTRY_SIZE || v > MAX_ENTRY_SIZE)
        goto bad;
    p->cfg->max_entry_size = (size_t)v;
    return QN_OK;
bad:
    return fail(p, key, value, N_("the size is not between 1K and 16M"),
                N_("write a number of bytes with an optional K or M suffix, e.g. "
                   "max_entry_size = 1M"));
}

/* A system user or group name: [a-z0-9_.-], not starting with '-' or '.'. */
static enum qn_status set_account_name(struct parser *p, const char *key, const char *value,
                                       char *dst, size_t dstsz)
{
    size_t i, n = strlen(value);

    for (i = 0; i < n; i++) {
        char c = value[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == '-') ||
            (i == 0 && (c == '-' || c == '.')))
            break;
    }
    if (n == 0 || n >= dstsz || i < n)
        return fail(p, key, value, N_("not a user or group name"),
                    N_("write a system user or group name of at most 32 lower-case letters, "
                       "digits, '_', '.' and '-', e.g. user = qqnotify"));
    memcpy(dst, value, n + 1);
    return QN_OK;
}

static enum qn_status set_spool_user(struct parser *p, const char *key, const char *value)
{
    return set_account_name(p, key, value, p->cfg->queue.user, sizeof(p->cfg->queue.user));
}

static enum qn_status set_drop_group(struct parser *p, const char *key, const char *value)
{
    return set_account_name(p, key, value, p->cfg->queue.drop_group,
                            sizeof(p->cfg->queue.drop_group));
}

/* ---- [limits] ------------------------------------------------------------------------- */

/*
 * Sending limits per provider, below what the provider enforces so that a
 * burst of alerts never gets the account blocked: QQ Mail and Tencent
 * Exmail allow about 100 mails a day to other domains and punish bursts
 * (shared/reference/qq-smtp-guide.zh.txt); the others allow far more.
 */
static void preset_limits(const char *provider, struct qn_ratelimit_config *ret)
{
    if (strcasecmp(provider, "qq") == 0 || strcasecmp(provider, "exmail") == 0) {
        ret->max_per_minute = 5;
        ret->max_per_hour = 20;
        ret->max_per_day = 90;
        ret->digest_after = 3;
    } else {
        ret->max_per_minute = 20;
        ret->max_per_hour = 100;
        ret->max_per_day = 500;
        ret->digest_after = 5;
    }
    ret->digest_window_s = 600;
}

/* A count of mails or events, 0..MAX (QN_RATELIMIT_*_MAX, both 2000); 0 means no limit. */
static enum qn_status set_count(struct parser *p, const char *key, const char *value, unsigned max,
                                unsigned *dst, bool *ret_has)
{
    unsigned long long v;
    const char *end;

    if (!parse_decimal(value, max, &v, &end) || *end != '\0')
        return fail(p, key, value, N_("the value is not a whole number from 0 to 2000"),
                    N_("write a count, e.g. max_per_hour = 20; 0 means no limit"));
    *dst = (unsigned)v;
    *ret_has = true;
    return QN_OK;
}

bool qn_config_duration(const char *s, unsigned min, unsigned max, unsigned *ret)
{
    unsigned long long v, unit = 1;
    const char *end;

    if (!parse_decimal(s, 1000000000ULL, &v, &end))
        return false;
    if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
        unit = 60;
    else if (strcmp(end, "h") == 0)
        unit = 3600;
    else if (strcmp(end, "d") == 0)
        unit = DAY_S;
    else if (strcmp(end, "s") != 0 && *end != '\0')
        return false;
    v *= unit;
    if (v < min || v > max)
        return false;
    *ret = (unsigned)v;
    return true;
}

bool qn_config_parse_count(const char *s, unsigned max, unsigned *ret)
{
    unsigned long long v;
    const char *end;

    if (!parse_decimal(s, max, &v, &end) || *end != '\0')
        return false;
    *ret = (unsigned)v;
    return true;
}

static const char duration_fix[] = N_("write seconds or a number followed by s, m, h or d, e.g. "
                                      "digest_window = 10m");

static enum qn_status set_max_per_minute(struct parser *p, const char *key, const char *value)
{
    return set_count(p, key, value, QN_RATELIMIT_SENT_MAX, &p->limits.max_per_minute,
                     &p->has_max_per_minute);
}

static enum qn_status set_max_per_hour(struct parser *p, const char *key, const char *value)
{
    return set_count(p, key, value, QN_RATELIMIT_SENT_MAX, &p->limits.max_per_hour,
                     &p->has_max_per_hour);
}

static enum qn_status set_max_per_day(struct parser *p, const char *key, const char *value)
{
    return set_count(p, key, value, QN_RATELIMIT_SENT_MAX, &p->limits.max_per_day,
                     &p->has_max_per_day);
}

static enum qn_status set_digest_after(struct parser *p, const char *key, const char *value)
{
    return set_count(p, key, value, QN_RATELIMIT_EVENTS_MAX, &p->limits.digest_after,
                     &p->has_digest_after);
}

static enum qn_status set_digest_window(struct parser *p, const char *key, const char *value)
{
    if (!qn_config_duration(value, 0, MAX_DIGEST_WINDOW_S, &p->limits.digest_window_s))
        return fail(p, key, value, N_("the duration is not between 0 and 24 hours"), duration_fix);
    p->has_digest_window = true;
    return QN_OK;
}

static enum qn_status set_cap(struct parser *p, const char *key, const char *value, unsigned *dst)
{
    unsigned long long v;
    const char *end;

    if (!parse_decimal(value, MAX_CAP, &v, &end) || *end != '\0')
        return fail(p, key, value, N_("the value is not a whole number from 0 to 100000"),
                    N_("write a count, e.g. user_max = 20; 0 means no cap"));
    *dst = (unsigned)v;
    return QN_OK;
}

static enum qn_status set_user_max(struct parser *p, const char *key, const char *value)
{
    return set_cap(p, key, value, &p->cfg->queue.user_max);
}

static enum qn_status set_rule_max(struct parser *p, const char *key, const char *value)
{
    return set_cap(p, key, value, &p->cfg->queue.rule_max);
}

static enum qn_status set_cap_window(struct parser *p, const char *key, const char *value)
{
    if (!qn_config_duration(value, 60, DAY_S, &p->cfg->queue.cap_window_s))
        return fail(p, key, value, N_("the duration is not between 1 minute and 24 hours"),
                    duration_fix);
    return QN_OK;
}

static enum qn_status set_max_age(struct parser *p, const char *key, const char *value)
{
    if (!qn_config_duration(value, MIN_MAX_AGE_S, MAX_MAX_AGE_S, &p->cfg->max_age_s))
        return fail(p, key, value, N_("the duration is not between 1 minute and 365 days"),
                    duration_fix);
    return QN_OK;
}

static enum qn_status set_retry_min(struct parser *p, const char *key, const char *value)
{
    if (!qn_config_duration(value, 1, MAX_RETRY_S, &p->cfg->retry_min_s))
        return fail(p, key, value, N_("the duration is not between 1 second and 24 hours"),
                    duration_fix);
    return QN_OK;
}

static enum qn_status set_retry_max(struct parser *p, const char *key, const char *value)
{
    if (!qn_config_duration(value, 1, MAX_RETRY_S, &p->cfg->retry_max_s))
        return fail(p, key, value, N_("the duration is not between 1 second and 24 hours"),
                    duration_fix);
    return QN_OK;
}

/* The provider's limits (known only once the whole file is read), then the file's. */
static void apply_limits(struct parser *p)
{
    struct qn_ratelimit_config *l = &p->cfg->limits;

    preset_limits(p->cfg->provider, l);
    if (p->has_max_per_minute)
        l->max_per_minute = p->limits.max_per_minute;
    if (p->has_max_per_hour)
        l->max_per_hour = p->limits.max_per_hour;
    if (p->has_max_per_day)
        l->max_per_day = p->limits.max_per_day;
    if (p->has_digest_after)
        l->digest_after = p->limits.digest_after;
    if (p->has_digest_window)
        l->digest_window_s = p->limits.digest_window_s;
}

/* Limits that contradict each other are a typo more often than a wish. */
static enum qn_status validate_limits(struct parser *p)
{
    const struct qn_config *cfg = p->cfg;
    const struct qn_ratelimit_config *l = &cfg->limits;

    if (l->max_per_minute > 0 && l->max_per_hour > 0 && l->max_per_minute > l->max_per_hour)
        return fail(p, "max_per_minute", NULL, N_("max_per_minute is larger than max_per_hour"),
                    N_("lower max_per_minute or raise max_per_hour under [limits]"));
    if (l->max_per_hour > 0 && l->max_per_day > 0 && l->max_per_hour > l->max_per_day)
        return fail(p, "max_per_hour", NULL, N_("max_per_hour is larger than max_per_day"),
                    N_("lower max_per_hour or raise max_per_day under [limits]"));
    if (cfg->retry_min_s > cfg->retry_max_s)
        return fail(p, "retry_min", NULL, N_("retry_min is longer than retry_max"),
                    N_("the first retry waits retry_min, doubling up to retry_max: make "
                       "retry_min the shorter one"));
    return QN_OK;
}

/* ---- lines ----------------------------------------------------------------------------- */

/*
 * Keys that would put the secret into the file.  Checked before anything
 * else on the line, in every section: the file is often world-readable and
 * ends up in backups and bug reports.  '-' counts as '_'.
 */
static bool key_is_secret(const char *key)
{
    static const char *const names[] = {
        "password",
        "passwd",
        "pass",
        "pwd",
        "auth_code",
        "authcode",
        "authorization_code",
        "secret",
        "token",
        "smtp_password",
        "passphrase",
        "smtp_pass",
        "授权码",
    };
    char norm[64];
    size_t i, n = strlen(key);

    if (n >= sizeof(norm))
        n = sizeof(norm) - 1;
    for (i = 0; i < n; i++) {
        char c = key[i];
        norm[i] = c == '-' ? '_' : (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    norm[n] = '\0';
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(norm, names[i]) == 0)
            return true;
    }
    return strstr(norm, "password") != NULL || strstr(norm, "secret") != NULL ||
           strstr(norm, "授权码") != NULL || strstr(norm, "密码") != NULL;
}

static const char *section_keys_fix(enum section s)
{
    switch (s) {
    case SECTION_SMTP:
        return N_("remove it or correct its spelling; keys of [smtp] are provider, host, port, "
                  "tls, tls_verify, ca_file, tls_fingerprint, user, from_name, helo_name, "
                  "timeout, credential_helper and credential_file");
    case SECTION_NOTIFY:
        return N_("remove it or correct its spelling; keys of [notify] are to, language, routes, "
                  "critical_routes and failover_after");
    case SECTION_SPOOL:
        return N_("remove it or correct its spelling; keys of [spool] are dir, "
                  "max_entry_size, user and drop_group");
    case SECTION_LIMITS:
        return N_("remove it or correct its spelling; keys of [limits] are max_per_minute, "
                  "max_per_hour, max_per_day, digest_after, digest_window, max_age, retry_min, "
                  "retry_max, user_max, rule_max and cap_window");
    case SECTION_NOISE: /* noise.c words its own */
    case SECTION_NONE:
    case SECTION_ROUTE:  /* route.c has its own list */
    case SECTION_ASSURE: /* assure.c too */
        break;
    }
    return N_("put it under [smtp], [notify], [spool], [limits] or [route NAME]");
}

static enum qn_status parse_section(struct parser *p, char *line)
{
    static const struct {
        const char *name;
        enum section section;
    } sections[] = {
        {"smtp", SECTION_SMTP},
        {"notify", SECTION_NOTIFY},
        {"spool", SECTION_SPOOL},
        {"limits", SECTION_LIMITS},
    };
    char *close = strchr(line, ']');
    char *name, *rest;
    size_t i;

    if (close == NULL)
        return fail(p, "", NULL, N_("a section header does not end with ']'"),
                    N_("write the section as [smtp], [notify], [spool], [limits] or [route "
                       "NAME]"));
    *close = '\0';
    name = trim(line + 1);
    rest = close + 1;
    while (is_blank(*rest))
        rest++;
    if (*rest != '\0' && *rest != '#' && *rest != ';')
        return fail(p, name, NULL, N_("unexpected text after the section header"),
                    N_("put nothing but a comment after ']'"));
    p->cfg->routes.current = -1;
    for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        if (strcasecmp(name, sections[i].name) == 0) {
            p->section = sections[i].section;
            return QN_OK;
        }
    }
    if (qn_noise_section(name, &p->noise_section)) {
        p->section = SECTION_NOISE;
        return QN_OK;
    }
    if (qn_assure_section(name, &p->assure_section)) {
        p->section = SECTION_ASSURE;
        return QN_OK;
    }
    if (strncasecmp(name, "route", 5) == 0 && is_blank(name[5])) {
        struct qn_route_problem rp;

        p->section = SECTION_ROUTE;
        if (qn_route_begin(&p->cfg->routes, trim(name + 5), p->line, &rp) != QN_OK)
            return fail_route(p, &rp);
        return QN_OK;
    }
    if (strncasecmp(name, "rule", 4) == 0)
        return fail(p, name, NULL, N_("unknown section"),
                    N_("journal rules belong in /etc/qqnotify/rules.d/*.conf, not here"));
    return fail(p, name, NULL, N_("unknown section"),
                N_("sections are [smtp], [notify], [spool], [limits], [login], [quiet], "
                   "[severity], [enrich], [heartbeat], [metrics] and [route NAME]"));
}

/* Turn the raw text after '=' into the value, in place: quotes, comments, blanks. */
static enum qn_status parse_value(struct parser *p, const char *key, char *raw, char **ret)
{
    char *v = raw;

    while (is_blank(*v))
        v++;
    if (*v == '"') {
        char *out = v;
        const char *in = v + 1;

        while (*in != '\0' && *in != '"') {
            if (*in == '\\' && (in[1] == '"' || in[1] == '\\'))
                in++;
            *out++ = *in++;
        }
        if (*in != '"')
            return fail(p, key, NULL, N_("the closing double quote is missing"),
                        N_("end the value with \", or write \\\" for a quote inside it"));
        in++;
        while (is_blank(*in))
            in++;
        if (*in != '\0' && *in != '#' && *in != ';')
            return fail(p, key, NULL, N_("unexpected text after the closing quote"),
                        N_("put nothing but a comment after the quoted value"));
        *out = '\0';
    } else {
        char *c;

        /* A '#' right after '=' or after a blank starts a comment; inside a
         * word it is data ("a#b").  Quote a value that needs " #". */
        if (*v == '#') {
            *v = '\0';
        } else {
            for (c = v + 1; *c != '\0'; c++) {
                if (*c == '#' && is_blank(c[-1])) {
                    *c = '\0';
                    break;
                }
            }
        }
        v = trim(v);
    }
    for (const char *c = v; *c != '\0'; c++) {
        unsigned char u = (unsigned char)*c;
        if (u < 0x20 || u == 0x7F)
            return fail(p, key, NULL, N_("the value contains a control character"),
                        N_("remove the control character (a tab or a stray carriage return)"));
    }
    if (!qn_text_utf8_valid(v, strlen(v)))
        return fail(p, key, NULL, N_("the value is not valid UTF-8"),
                    N_("save the file as UTF-8 (not GBK or GB18030)"));
    *ret = v;
    return QN_OK;
}

/* A line of [login], [quiet], [severity] or [enrich] (noise.c judges it), or of
 * [heartbeat] or [metrics] (assure.c). */
static enum qn_status delegated_assignment(struct parser *p, const char *key, char *raw)
{
    const char *what = NULL, *fix = NULL;
    char *value = NULL;
    enum qn_status r = parse_value(p, key, raw, &value);

    if (r != QN_OK)
        return r;
    if (p->section == SECTION_NOISE)
        r = qn_noise_set(&p->cfg->noise, &p->noise, p->noise_section, key, value, &what, &fix);
    else
        r = qn_assure_set(&p->cfg->assure, &p->assure, p->assure_section, key, value, &what, &fix);
    if (r != QN_OK)
        return fail(p, key, strcmp(what, "unknown key") == 0 ? NULL : value, what, fix);
    return QN_OK;
}

static enum qn_status parse_assignment(struct parser *p, char *line)
{
    char *eq = strchr(line, '=');
    char *key, *value = NULL;
    const struct key_def *def = NULL;
    enum qn_status r;
    size_t i;

    /* No value is echoed here: a line without '=' may be a pasted secret. */
    if (eq == NULL)
        return fail(p, "", NULL, N_("expected key = value"),
                    N_("write settings as key = value (an ASCII '=', not the full-width ＝) and "
                       "start comments with #"));
    *eq = '\0';
    key = trim(line);
    if (key[0] == '\0')
        return fail(p, "", NULL, N_("the line has no key before '='"),
                    N_("write settings as key = value"));
    if (key_is_secret(key)) {
        struct qn_config_error *err = p->err;

        err->line = p->line;
        copy_for_error(err->key, sizeof(err->key), key, strlen(key));
        err->value[0] = '\0';
        err->what = N_("the configuration file must not hold the password or authorization code");
        err->fix = N_("remove the line and store the authorization code with "
                      "`qqnotify-secret set`");
        err->secret_key = true;
        return QN_ECONFIG;
    }
    if (qn_route_key_is_secret(key)) {
        struct qn_route_problem rp = {
            .key = key,
            .what = N_("the configuration file must not hold a robot's key, token or signing "
                       "secret"),
            .fix = N_("remove the line and store it with `qqnotify-secret set --route NAME`"),
            .secret_key = true,
        };
        return fail_route(p, &rp);
    }
    if (p->section == SECTION_ROUTE) {
        struct qn_route_problem rp;

        r = parse_value(p, key, eq + 1, &value);
        if (r == QN_OK && qn_route_set(&p->cfg->routes, key, value, &rp) != QN_OK)
            r = fail_route(p, &rp);
        return r;
    }
    if (p->section == SECTION_NOISE || p->section == SECTION_ASSURE)
        return delegated_assignment(p, key, eq + 1);
    for (i = 0; i < N_KEYS; i++) {
        if (keys[i].section == p->section && strcasecmp(keys[i].name, key) == 0) {
            def = &keys[i];
            break;
        }
    }
    if (def == NULL) {
        if (p->section == SECTION_NONE)
            return fail(p, key, NULL, N_("the key is not under a section header"),
                        section_keys_fix(SECTION_NONE));
        return fail(p, key, NULL, N_("unknown key"), section_keys_fix(p->section));
    }
    if (p->seen[i] && !def->repeatable)
        return fail(p, def->name, NULL, N_("the key is set twice"),
                    N_("each key may appear once in its section; remove one of the lines"));
    p->seen[i] = true;
    r = parse_value(p, def->name, eq + 1, &value);
    if (r != QN_OK)
        return r;
    return def->set(p, def->name, value);
}

static enum qn_status parse_line(struct parser *p, char *line)
{
    char *s = trim(line);

    if (*s == '\0' || *s == '#' || *s == ';')
        return QN_OK;
    if (*s == '[')
        return parse_section(p, s);
    return parse_assignment(p, s);
}

/* ---- the whole file ---------------------------------------------------------------------- */

/* Presets first, explicit keys over them (see the file comment). */
static void apply_server(struct parser *p)
{
    struct qn_config *cfg = p->cfg;
    size_t i;

    if (p->has_provider) {
        (void)qn_config_preset(cfg, p->provider);
    } else if (p->has_host) {
        snprintf(cfg->provider, sizeof(cfg->provider), "custom");
        for (i = 0; i < sizeof(presets) / sizeof(presets[0]); i++) {
            if (presets[i].host[0] != '\0' && strcasecmp(presets[i].host, p->host) == 0)
                snprintf(cfg->provider, sizeof(cfg->provider), "%s", presets[i].name);
        }
    }
    if (p->has_host)
        snprintf(cfg->host, sizeof(cfg->host), "%s", p->host);
    if (p->has_port) {
        cfg->port = p->port;
        if (!p->has_tls && p->port == 465)
            cfg->tls = QN_TLS_IMPLICIT;
        else if (!p->has_tls && p->port == 587)
            cfg->tls = QN_TLS_STARTTLS;
    }
    if (p->has_tls)
        cfg->tls = p->tls;
}

/* Checks on the result that no single line can make (line 0). */
static enum qn_status validate(struct parser *p)
{
    const struct qn_config *cfg = p->cfg;
    size_t i;

    p->line = 0;
    if (!qn_routes_use_smtp(&cfg->routes))
        goto smtp_done; /* no mail is sent: [smtp] user is not needed */
    if (cfg->user[0] == '\0')
        return fail(p, "user", NULL, N_("[smtp] user is not set"),
                    N_("set user to the mail address of the sending account under [smtp], e.g. "
                       "user = 123456789@qq.com (for QQ Mail: your QQ number followed by "
                       "@qq.com)"));
    if (!address_plausible(cfg->user, strlen(cfg->user)))
        return fail(p, "user", cfg->user, N_("[smtp] user is not a plausible mail address"),
                    user_fix);
    if (cfg->host[0] == '\0')
        return fail(p, "host", NULL, N_("[smtp] host is not set"),
                    N_("set provider = qq (or another preset), or host = the name of the SMTP "
                       "server"));
    if (cfg->port < 1 || cfg->port > 65535)
        return fail(p, "port", NULL, N_("the port is not a number from 1 to 65535"),
                    N_("use port = 465 (implicit TLS) or port = 587 (STARTTLS)"));
smtp_done:
    if (cfg->n_to > QN_CONFIG_MAX_RCPT)
        return fail(p, "to", NULL, N_("too many recipients"),
                    N_("at most 16 recipients; use a mailing list for more"));
    for (i = 0; i < cfg->n_to; i++) {
        if (!address_plausible(cfg->to[i], strnlen(cfg->to[i], QN_ADDR_MAX)))
            return fail(p, "to", cfg->to[i], N_("a recipient is not a plausible mail address"),
                        N_("write plain addresses such as ops@example.com, separated by commas"));
    }
    if (cfg->language != QN_LANG_AUTO && cfg->language != QN_LANG_EN && cfg->language != QN_LANG_ZH)
        return fail(p, "language", NULL, N_("unknown language"),
                    N_("language is zh_CN, en or auto (from the locale)"));
    return validate_limits(p);
}

/* The routes once every section is read: names listed in [notify] exist. */
static enum qn_status finish_routes(struct parser *p)
{
    struct qn_route_problem rp;

    if (qn_routes_finish(&p->cfg->routes, &rp) != QN_OK) {
        p->line = 0;
        return fail_route(p, &rp);
    }
    return QN_OK;
}

static void error_reset(struct qn_config_error *err, const char *name)
{
    memset(err, 0, sizeof(*err));
    snprintf(err->file, sizeof(err->file), "%s", name != NULL ? name : "");
}

static enum qn_status parse_text(struct parser *p, const char *text, size_t len)
{
    char line[QN_CONFIG_LINE_MAX + 1];
    size_t pos = 0;
    enum qn_status r;

    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;
    while (pos < len) {
        const char *start = text + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t n = nl != NULL ? (size_t)(nl - start) : len - pos;

        pos += n + (nl != NULL ? 1 : 0);
        p->line++;
        if (n > 0 && start[n - 1] == '\r')
            n--;
        if (memchr(start, '\0', n) != NULL)
            return fail(p, "", NULL, N_("the line contains a NUL byte"),
                        N_("this is not a text file; check the path, or save it as UTF-8 text"));
        if (n > QN_CONFIG_LINE_MAX)
            return fail(p, "", NULL, N_("the line is too long"),
                        N_("lines are limited to 4096 bytes"));
        memcpy(line, start, n);
        line[n] = '\0';
        r = parse_line(p, line);
        if (r != QN_OK)
            return r;
    }
    return QN_OK;
}

/* ---- public functions ------------------------------------------------------------------ */

void qn_config_defaults(struct qn_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    (void)qn_config_preset(cfg, "qq");
    cfg->tls_verify = true;
    cfg->timeout_s = DEFAULT_TIMEOUT_S;
    cfg->language = QN_LANG_AUTO;
    snprintf(cfg->spool_dir, sizeof(cfg->spool_dir), "%s", QN_CONFIG_DEFAULT_SPOOL);
    cfg->max_entry_size = DEFAULT_ENTRY_SIZE;
    cfg->max_age_s = DEFAULT_MAX_AGE_S;
    cfg->retry_min_s = DEFAULT_RETRY_MIN_S;
    cfg->retry_max_s = DEFAULT_RETRY_MAX_S;
    qn_noise_defaults(&cfg->noise);
    snprintf(cfg->queue.user, sizeof(cfg->queue.user), "%s", QN_CONFIG_SPOOL_USER);
    snprintf(cfg->queue.drop_group, sizeof(cfg->queue.drop_group), "%s", QN_CONFIG_DROP_GROUP);
    cfg->queue.user_max = DEFAULT_CAP;
    cfg->queue.rule_max = DEFAULT_CAP;
    cfg->queue.cap_window_s = DEFAULT_CAP_WINDOW;
    qn_routes_defaults(&cfg->routes);
    qn_assure_defaults(&cfg->assure);
}

enum qn_status qn_config_preset(struct qn_config *cfg, const char *provider)
{
    const struct preset *preset = preset_find(provider);

    if (preset == NULL)
        return QN_EINVAL;
    snprintf(cfg->provider, sizeof(cfg->provider), "%s", preset->name);
    snprintf(cfg->host, sizeof(cfg->host), "%s", preset->host);
    cfg->port = preset->port;
    cfg->tls = preset->tls;
    preset_limits(preset->name, &cfg->limits);
    return QN_OK;
}

enum qn_status qn_config_parse(struct qn_config *cfg, const char *name, const char *text,
                               size_t len, struct qn_config_error *ret_err)
{
    struct qn_config_error scratch;
    struct parser p;
    enum qn_status r;

    if (ret_err == NULL)
        ret_err = &scratch;
    memset(&p, 0, sizeof(p));
    p.cfg = cfg;
    p.err = ret_err;
    error_reset(ret_err, name);
    qn_config_defaults(cfg);
    snprintf(cfg->path, sizeof(cfg->path), "%s", name != NULL ? name : "");

    r = parse_text(&p, text, len);
    /* Even on failure: what was read so far includes the server settings. */
    apply_server(&p);
    apply_limits(&p);
    if (r == QN_OK)
        r = finish_routes(&p);
    if (r == QN_OK)
        r = validate(&p);
    if (r == QN_OK)
        error_reset(ret_err, NULL);
    return r;
}

enum qn_status qn_config_load(struct qn_config *cfg, const char *path,
                              struct qn_config_error *ret_err)
{
    struct stat st;
    char *text = NULL;
    size_t len = 0;
    struct qn_config_error scratch;
    int fd = -1, saved_errno = 0;
    enum qn_status r = QN_EIO;

    if (ret_err == NULL)
        ret_err = &scratch;
    error_reset(ret_err, path);
    qn_config_defaults(cfg);
    if (strlen(path) >= sizeof(cfg->path)) {
        saved_errno = ENAMETOOLONG;
        ret_err->what = N_("the configuration file cannot be read");
        ret_err->fix = N_("check the path and that this user may read the file");
        goto out;
    }
    /* O_NONBLOCK: a FIFO at the path must not hang the caller. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        saved_errno = errno;
        if (saved_errno == ENOENT || saved_errno == ENOTDIR) {
            r = QN_ENOTFOUND;
            ret_err->what = N_("the configuration file does not exist");
            ret_err->fix = N_("create it; see qqnotify.conf(5)");
        } else {
            ret_err->what = N_("the configuration file cannot be read");
            ret_err->fix = N_("check the path and that this user may read the file");
        }
        goto out;
    }
    if (fstat(fd, &st) < 0) {
        saved_errno = errno;
        ret_err->what = N_("the configuration file cannot be read");
        ret_err->fix = N_("check the path and that this user may read the file");
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        r = QN_ECONFIG;
        ret_err->what = N_("the configuration path is not a regular file");
        ret_err->fix = N_("point to the configuration file itself, e.g. "
                          "/etc/qqnotify/qqnotify.conf");
        goto out;
    }
    if (st.st_size > QN_CONFIG_FILE_MAX)
        goto too_big;
    /* One byte more than allowed, to notice a file that grew since fstat. */
    text = malloc(QN_CONFIG_FILE_MAX + 1);
    if (text == NULL) {
        r = QN_ENOMEM;
        ret_err->what = N_("out of memory");
        goto out;
    }
    while (len <= QN_CONFIG_FILE_MAX) {
        ssize_t n = read(fd, text + len, QN_CONFIG_FILE_MAX + 1 - len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            saved_errno = errno;
            ret_err->what = N_("the configuration file cannot be read");
            ret_err->fix = N_("check the path and that this user may read the file");
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > QN_CONFIG_FILE_MAX)
        goto too_big;
    r = qn_config_parse(cfg, path, text, len, ret_err);
    goto out;

too_big:
    r = QN_ECONFIG;
    ret_err->what = N_("the configuration file is larger than 256 KiB");
    ret_err->fix = N_("check the path: a qqnotify configuration is a few lines");
out:
    free(text);
    /* Read-only descriptor: a failing close cannot lose data, and the file
     * was read completely or its error is already reported. */
    if (fd >= 0)
        (void)close(fd);
    if (r == QN_EIO) {
        ret_err->sys_errno = saved_errno;
        errno = saved_errno;
    }
    return r;
}

enum qn_status qn_config_set_recipients(struct qn_config *cfg, const char *list)
{
    char to[QN_CONFIG_MAX_RCPT][QN_ADDR_MAX];
    size_t n = 0;
    const char *bad;
    size_t bad_len;
    enum qn_status r;

    r = append_recipients(to, &n, list, &bad, &bad_len);
    if (r != QN_OK)
        return r;
    if (n == 0)
        return QN_EINVAL;
    memcpy(cfg->to, to, n * sizeof(to[0]));
    cfg->n_to = n;
    return QN_OK;
}
