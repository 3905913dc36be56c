/*
 * config — /etc/qqnotify/qqnotify.conf: an INI file, UTF-8, '#' and ';'
 * comments, "key = value" lines under [section] headers.
 *
 * Hand-written parser: the format is a dozen keys, and a parser of our own
 * lets every error carry file:line, the offending key and the fix, and lets
 * keys that would hold a password be refused outright (the secret belongs
 * in `qqnotify-secret`, never in a file).
 *
 * Provider presets fill host, port and TLS mode: qq (smtp.qq.com:465
 * implicit TLS), exmail (smtp.exmail.qq.com:465), 163 (smtp.163.com:465),
 * gmail (smtp.gmail.com:465), outlook (smtp-mail.outlook.com:587 STARTTLS),
 * custom (host required).  Explicit host/port/tls keys override a preset.
 *
 * When the file names no provider but sets host, the provider is the preset
 * with that host name, else "custom" (so diagnoses never assume QQ for
 * another server).  When port is set and tls is not, 465 means implicit TLS
 * and 587 STARTTLS: "port = 587" alone must not try implicit TLS on 587.
 *
 * Syntax: one "key = value" per line; '#' or ';' starts a full-line
 * comment, and " #" (blank then '#') an inline one after an unquoted
 * value.  A value in double quotes keeps '#' and blanks; \" and \\ escape
 * inside it.  Keys and section names are ASCII case-insensitive.  A UTF-8
 * BOM is skipped.  A NUL byte, a line over QN_CONFIG_LINE_MAX bytes, a
 * control character or invalid UTF-8 in a value are errors.  [notify] to
 * may repeat (the lists are appended); any other key set twice is an error.
 *
 * [route NAME] sections and the [notify] keys routes, critical_routes and
 * failover_after are parsed by route.h, which this parser hands each such
 * header and line.  [smtp] user (and [notify] to, for the programs that
 * mail) are needed only when the smtp route is used: in [notify] routes
 * (the default) or critical_routes.
 *
 * [heartbeat] and [metrics] (the heartbeat's ping, the daily summary, the
 * metrics file) are parsed by assure.h, which this parser hands each line
 * of those sections.
 *
 * [limits]: max_per_minute, max_per_hour, max_per_day and digest_after are
 * counts 0-2000 (0 = no limit, or never digest by count); digest_window,
 * max_age, retry_min and retry_max are durations ("600", "30s", "10m",
 * "1h", "7d").  The counts and digest_window default per provider (the
 * preset): qq and exmail 5/min, 20/h, 90/day, digest after 3 in 10m (below
 * QQ's ~100 mails a day to other domains); others 20/min, 100/h, 500/day,
 * digest after 5 in 10m.  A [limits] key wins over the preset whatever the
 * order of the lines.  max_per_minute <= max_per_hour <= max_per_day (when
 * both non-zero) and retry_min <= retry_max are checked.
 *
 * [spool] user and drop_group name the spool's owner (the sender runs as
 * this user) and maildrop/'s group (qqnotify-drop's set-group-ID group):
 * 1-32 bytes of [a-z0-9_.-], not starting with '-' or '.'.  [limits]
 * user_max and rule_max (counts 0-100000, 0 = no cap) cap the
 * notifications one local user, and the alerts one journal rule, may
 * queue per cap_window (1 min-24 h); the rest become one summary (lanes.h).
 *
 * Bounds: the file QN_CONFIG_FILE_MAX bytes, a line QN_CONFIG_LINE_MAX,
 * names 255 bytes, commands 1023, paths 4095 (absolute), timeout 1-600 s,
 * max_entry_size 1 KiB-16 MiB (one sender pass holds at most one entry's
 * bytes: qmgr.h), QN_CONFIG_MAX_RCPT recipients, digest_window 0-24 h,
 * max_age 1 min-365 d, retry_min and retry_max 1 s-24 h.
 *
 * struct qn_config is fixed-size (bounded strings, bounded recipient list)
 * and owns no heap memory.  Loading is thread-safe (no globals).
 */
#ifndef QN_CONFIG_H
#define QN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "assure.h"
#include "noise.h"
#include "ratelimit.h"
#include "route.h"
#include "status.h"

#ifndef QN_SYSCONFDIR
#define QN_SYSCONFDIR "/etc" /* the build passes SYSCONFDIR */
#endif
#define QN_CONFIG_DEFAULT_PATH  QN_SYSCONFDIR "/qqnotify/qqnotify.conf"
#define QN_CONFIG_DEFAULT_SPOOL "/var/spool/qqnotify"
#define QN_CONFIG_MAX_RCPT      16
#define QN_ADDR_MAX             256
#define QN_CONFIG_FILE_MAX      (256 * 1024)       /* a larger config file is refused */
#define QN_CONFIG_LINE_MAX      4096               /* bytes per line, without the line end */
#define QN_CONFIG_ENTRY_MAX     (16 * 1024 * 1024) /* largest [spool] max_entry_size */
#define QN_CONFIG_ACCOUNT_MAX   33                 /* a user or group name with its NUL */
#define QN_CONFIG_SPOOL_USER    "qqnotify"         /* [spool] user by default */
#define QN_CONFIG_DROP_GROUP    "qqnotify-drop"    /* [spool] drop_group by default */

enum qn_tls_mode {
    QN_TLS_IMPLICIT = 0, /* TLS from the first byte (port 465) */
    QN_TLS_STARTTLS,     /* plain greeting, mandatory STARTTLS (port 587) */
};

enum qn_lang {
    QN_LANG_AUTO = 0, /* decide from the locale */
    QN_LANG_EN,
    QN_LANG_ZH,
};

/* Who owns the spool and how much one submitter may queue (docs/architecture.md section 4). */
struct qn_config_queue {
    char user[QN_CONFIG_ACCOUNT_MAX];       /* [spool] user: owns the spool, runs the sender */
    char drop_group[QN_CONFIG_ACCOUNT_MAX]; /* [spool] drop_group: maildrop/'s group */
    unsigned user_max;     /* [limits] user_max: per local user and cap_window, 0 = no cap */
    unsigned rule_max;     /* [limits] rule_max: per journal rule and cap_window, 0 = no cap */
    unsigned cap_window_s; /* [limits] cap_window, default 10 minutes */
};

struct qn_config {
    char path[4096]; /* the file loaded, "" for defaults only */

    /* [smtp] */
    char provider[16]; /* "qq", "exmail", "163", "gmail", "outlook", "custom" */
    char host[256];
    unsigned port;
    enum qn_tls_mode tls;
    bool tls_verify;           /* false only with an explicit `tls_verify = no` */
    char ca_file[4096];        /* "" = system trust store */
    unsigned char tls_pin[32]; /* SHA-256 of the server certificate, when has_tls_pin */
    bool has_tls_pin;
    char user[QN_ADDR_MAX];       /* the account: login, envelope sender, From */
    char from_name[256];          /* display name, UTF-8, may be "" */
    char helo_name[256];          /* "" = this host's name */
    unsigned timeout_s;           /* per network operation, default 30 */
    char credential_helper[1024]; /* command speaking the git-credential protocol */
    char credential_file[4096];   /* default $CREDENTIALS_DIRECTORY/qqnotify.smtp */

    /* [notify] */
    char to[QN_CONFIG_MAX_RCPT][QN_ADDR_MAX];
    size_t n_to;
    enum qn_lang language;

    /* [route NAME] sections and [notify] routes, critical_routes, failover_after (route.h) */
    struct qn_routes routes;

    /* [spool] */
    char spool_dir[4096];
    size_t max_entry_size; /* bytes, default 1 MiB */

    /* [limits] */
    struct qn_ratelimit_config limits; /* defaults from the provider preset */
    unsigned max_age_s;   /* an undeliverable entry older than this fails, default 3 days */
    unsigned retry_min_s; /* first retry delay, doubled on each failure, default 60 s */
    unsigned retry_max_s; /* longest retry delay, default 3600 s */

    /* [login], [quiet], [severity], [enrich] (noise.h) */
    struct qn_noise_config noise;
    struct qn_config_queue queue; /* [spool] user, drop_group; [limits] user_max... */

    /* [heartbeat], [metrics] (assure.h) */
    struct qn_assure_config assure;
};

/* What went wrong while loading, for the program to print (and translate). */
struct qn_config_error {
    char file[4096];
    unsigned line;    /* 0 when the problem is not on one line (e.g. a missing key) */
    char key[64];     /* the key or section concerned, or "" */
    const char *what; /* English msgid: what is wrong, e.g. "unknown key" */
    const char *fix;  /* English msgid: what to do, e.g. "remove it; keys of [smtp] are ..." */
    bool secret_key;  /* the file tried to hold a password: exit 78, point to qqnotify-secret */
    char value[256];  /* the offending value (a bad address, port...), sanitised; "" when
                         none, and always "" when secret_key is set */
    int sys_errno;    /* with QN_EIO: the errno of the failed call, 0 otherwise */
};

/* Defaults: provider qq (smtp.qq.com:465, implicit TLS, qq limits), tls_verify on, timeout
 * 30 s, language auto, spool QN_CONFIG_DEFAULT_SPOOL, max_entry_size 1 MiB, no recipients,
 * max_age 3 days, retry 60 s doubling to 3600 s, spool user qqnotify, drop group
 * qqnotify-drop, user_max and rule_max 20 per cap_window 10 minutes. */
void qn_config_defaults(struct qn_config *cfg);

/* Apply a provider preset by name (ASCII case-insensitive): provider, host, port, tls and
 * the provider's [limits] counts and digest_window.  "custom" clears host.  QN_EINVAL for
 * an unknown name, CFG unchanged. */
enum qn_status qn_config_preset(struct qn_config *cfg, const char *provider);

/*
 * Reset *cfg to the defaults, load PATH over them and validate the result
 * (user set and a plausible address, host set, port 1-65535, recipients
 * plausible).  QN_ENOTFOUND: the file does not exist; QN_EIO: it cannot be
 * read (errno and ret_err->sys_errno hold the cause); QN_ECONFIG: syntax or
 * validation error, or not a regular file, or larger than
 * QN_CONFIG_FILE_MAX.  *ret_err is always filled (file, what, fix) on
 * failure and zeroed on success.  On failure *cfg holds what was read so
 * far.
 */
enum qn_status qn_config_load(struct qn_config *cfg, const char *path,
                              struct qn_config_error *ret_err);

/* Same as qn_config_load() for text already in memory (LEN bytes, need not be
 * NUL-terminated); NAME (may be NULL) is used in errors and as cfg->path.
 * QN_ECONFIG or QN_OK. */
enum qn_status qn_config_parse(struct qn_config *cfg, const char *name, const char *text,
                               size_t len, struct qn_config_error *ret_err);

/* A count of decimal digits 0..MAX into *RET (route.c's limits); false for
 * anything else.  *RET is untouched on failure.  Durations:
 * qn_config_duration() below. */
bool qn_config_parse_count(const char *s, unsigned max, unsigned *ret);

/* Split "a@x, b@y" into cfg->to (replacing it); blanks around items and empty
 * items are ignored.  QN_EINVAL: an item is not a plausible address (plain
 * ASCII addr-spec, one '@', no blanks, no <>()[],;:"\ ) or the list is
 * empty; QN_ETOOBIG: more than QN_CONFIG_MAX_RCPT.  On failure cfg->to is
 * unchanged. */
enum qn_status qn_config_set_recipients(struct qn_config *cfg, const char *list);

/* "yes", "true", "on", "1" or "no", "false", "off", "0" (ASCII case-insensitive)
 * into *RET; false for anything else. */
bool qn_config_bool(const char *s, bool *ret);

/* A duration as the configuration writes it ("600", "30s", "10m", "10min",
 * "1h", "7d") into *RET seconds; false unless it is one and lies within
 * MIN..MAX.  *RET is untouched on failure. */
bool qn_config_duration(const char *s, unsigned min, unsigned max, unsigned *ret);

#endif
