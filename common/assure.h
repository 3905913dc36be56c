/*
 * assure — the settings of what tells a person that alerts still flow: the
 * sections [heartbeat] and [metrics] of qqnotify.conf (qqnotify.conf(5)).
 * config.c reads the file and hands each "key = value" line of these
 * sections here; struct qn_config embeds the result as `assure`.
 *
 *   [heartbeat] ping_url = https://...   a dead man's switch (healthchecks.io,
 *                                        Uptime Kuma push): GET after every
 *                                        flush run that ended well, GET
 *                                        ping_url/fail after one that did not
 *                                        (heartbeat.h); default none
 *               ca_file = PATH           its trust store (default: the system's)
 *               timeout = 10             seconds for one ping, 1-60 (a ping
 *                                        never holds delivery up for longer)
 *               daily = HH:MM            local time of the all-clear summary
 *                                        (summary.h); default none
 *   [metrics]   textfile = PATH          Prometheus text for node_exporter's
 *                                        textfile collector, written after each
 *                                        run (metrics.h); absolute, ends in .prom
 *
 * ping_url is https only (the ping goes through http.h), without blanks,
 * quotes or control characters, at most QN_ASSURE_URL_MAX - 1 bytes.  Keys
 * are ASCII case-insensitive; each may appear once.  Errors are English
 * msgids (what and fix), as config.h's.
 *
 * libc only (every program loads the configuration); fixed-size structs,
 * no heap, no globals.  Thread-safe.
 */
#ifndef QN_ASSURE_H
#define QN_ASSURE_H

#include <stdbool.h>

#include "status.h"

#define QN_ASSURE_URL_MAX         512 /* bytes of ping_url, with the NUL */
#define QN_ASSURE_PATH_MAX        4096
#define QN_ASSURE_TIMEOUT_DEFAULT 10
#define QN_ASSURE_TIMEOUT_MAX     60
#define QN_ASSURE_KEYS_MAX        8

struct qn_assure_config {
    char ping_url[QN_ASSURE_URL_MAX]; /* "" = no heartbeat */
    char ca_file[QN_ASSURE_PATH_MAX]; /* "" = the system trust store */
    unsigned timeout_s;
    int daily_minute;                  /* minute of the local day of the summary; -1 = none */
    char textfile[QN_ASSURE_PATH_MAX]; /* "" = no metrics file */
};

/* Which keys a file has set so far (one per parse). */
struct qn_assure_parse {
    bool seen[QN_ASSURE_KEYS_MAX];
};

enum qn_assure_section {
    QN_ASSURE_HEARTBEAT = 0,
    QN_ASSURE_METRICS,
};

/* No heartbeat, no summary, no metrics; timeout QN_ASSURE_TIMEOUT_DEFAULT. */
void qn_assure_defaults(struct qn_assure_config *c);

/* The section named NAME (ASCII case-insensitive) into *RET; false when it is neither. */
bool qn_assure_section(const char *name, enum qn_assure_section *ret);

/*
 * Set KEY = VALUE of SECTION.  QN_OK; QN_ECONFIG with *RET_WHAT and *RET_FIX
 * (English msgids) for an unknown key, a key set twice or a bad value; C
 * is unchanged then.
 */
enum qn_status qn_assure_set(struct qn_assure_config *c, struct qn_assure_parse *st,
                             enum qn_assure_section section, const char *key, const char *value,
                             const char **ret_what, const char **ret_fix);

/* "HH:MM" (00:00-23:59) into *RET minutes of the day; false for anything else. */
bool qn_assure_parse_clock(const char *s, int *ret);

#endif
