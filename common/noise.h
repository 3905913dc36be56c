/*
 * noise — the settings of the features that keep alerts worth reading:
 * the sections [login], [quiet], [severity] and [enrich] of qqnotify.conf
 * (qqnotify.conf(5)).  config.c reads the file and hands each "key = value"
 * line of these sections here; struct qn_config embeds the result as
 * `noise`.
 *
 *   [login]    notify = always | new     mail every login, or only new ones
 *                                        (seen.h); default always
 *              remember = DURATION       how long a (user, source) stays
 *                                        known; 1d..3650d, default 90d
 *   [quiet]    hours = HH:MM-HH:MM       quiet hours (quiet.h); none by default
 *   [severity] root_login | sudo | login | logout | authfail | journal |
 *              notify | other = critical | warning | info   (severity.h)
 *   [enrich]   rdns = yes | no           reverse DNS of the source, forward-
 *                                        confirmed (enrich.h); default yes
 *              geoip = PATH[, PATH...]   MaxMind DB files (.mmdb) for
 *                                        country, city and ASN; absolute,
 *                                        at most QN_NOISE_GEOIP_MAX
 * Keys are ASCII case-insensitive; each may appear once.  Errors are
 * English msgids (what and fix), as config.h's.
 *
 * Fixed-size structs, no heap, no globals.  Thread-safe.
 */
#ifndef QN_NOISE_H
#define QN_NOISE_H

#include <stdbool.h>

#include "quiet.h"
#include "severity.h"
#include "status.h"

#define QN_NOISE_GEOIP_MAX 4
#define QN_NOISE_PATH_MAX  4096
#define QN_NOISE_KEYS_MAX  16 /* keys of all four sections, for the "set twice" check */

enum qn_login_notify {
    QN_LOGIN_NOTIFY_ALWAYS = 0,
    QN_LOGIN_NOTIFY_NEW,
};

struct qn_noise_config {
    enum qn_login_notify login_notify;
    unsigned remember_s;
    struct qn_quiet quiet;
    struct qn_severity_config severity;
    bool rdns;
    size_t n_geoip;
    char geoip[QN_NOISE_GEOIP_MAX][QN_NOISE_PATH_MAX];
};

/* Which keys a file has set so far (one per parse). */
struct qn_noise_parse {
    bool seen[QN_NOISE_KEYS_MAX];
};

enum qn_noise_section {
    QN_NOISE_LOGIN = 0,
    QN_NOISE_QUIET,
    QN_NOISE_SEVERITY,
    QN_NOISE_ENRICH,
};

/* The defaults listed above. */
void qn_noise_defaults(struct qn_noise_config *c);

/* The section named NAME (ASCII case-insensitive) into *RET; false when it is not one of these. */
bool qn_noise_section(const char *name, enum qn_noise_section *ret);

/*
 * Set KEY = VALUE of SECTION.  QN_OK; QN_ECONFIG with *RET_WHAT and *RET_FIX
 * (English msgids) for an unknown key, a key set twice or a bad value; C
 * is unchanged then.
 */
enum qn_status qn_noise_set(struct qn_noise_config *c, struct qn_noise_parse *st,
                            enum qn_noise_section section, const char *key, const char *value,
                            const char **ret_what, const char **ret_fix);

#endif
