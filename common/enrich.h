/*
 * enrich — what the sender adds to a login alert just before it renders it:
 * the source's name (reverse DNS, forward-confirmed), where it is (GeoIP
 * country, city, network owner), the user's previous login and the
 * source's (seen.h), and how many sessions the user has open (sessions.h).
 * Never in the PAM module: everything here may wait or read files.
 *
 * Reverse DNS, bounded.  glibc's getnameinfo() and gethostbyaddr() have no
 * timeout of their own: they wait resolv.conf's timeout times attempts per
 * server (5 s x 2 x up to 3 by default), and NSS modules (ldap, sss, mdns,
 * resolve) add waits of their own.  getaddrinfo_a() is forward only and its
 * requests cannot be stopped; res_nquery() with short options would bound
 * DNS but skips NSS, so /etc/hosts and systemd-resolved would not answer as
 * they do for sshd; a thread stuck in the resolver cannot be cancelled and
 * would outlive the call.  So the look-ups run in a child process that can
 * be killed at the deadline: glibc's own `getent` (libc-bin, always there),
 * `getent hosts ADDR` for the name (NSS, exactly as getnameinfo), then
 * `getent ahosts NAME` to confirm that the name leads back to the address,
 * both within QN_ENRICH_RDNS_TIMEOUT_MS in total whatever the resolver
 * does (qn_spawn_run kills and reaps a late child).  Only a confirmed name
 * is shown as the name ("rdns"): whoever owns the address block writes its
 * PTR record and could claim "mail.google.com"; a name that does not lead
 * back is shown as "rdns_unverified".  Results are cached per handle
 * (QN_ENRICH_CACHE_MAX addresses), so a digest of one attacker's attempts
 * costs one look-up.
 *
 * GeoIP.  `[enrich] geoip = PATH[, PATH...]` names MaxMind DB files (GeoLite2
 * City/Country/ASN, DB-IP lite, ...), read with libmaxminddb (memory-mapped
 * once per handle).  Each field comes from the first database that has it:
 * country (name in the mail's language and ISO code), city, ASN and the
 * network's owner.
 *
 * Sessions open: counted from the sender's own session table (sessions.h),
 * not utmp or logind: utmp has only sessions with a terminal (not `ssh host
 * cmd`, not sudo) and logind only sessions pam_systemd registered, and
 * both tell the state when the sender runs, which may be long after the
 * login (a queue held by limits or quiet hours); the table is the state as
 * of the login event itself.  It needs `event=open,close` on the PAM line.
 *
 * Fields added (render.h labels them; times are seconds since the epoch,
 * shown as local times):
 *   rdns, rdns_unverified       the source's name, confirmed or not
 *   country, city, asn          "中国 (CN)" / "China (CN)", "Shanghai",
 *                               "AS4134 CHINANET-BACKBONE"
 *   last_login, last_login_from the user's previous login and its source
 *   source_last_login, source_last_user   the source's previous login and its user
 *   sessions                    sessions the user has open, this one included
 * A field that is already set is left alone; a full event takes what fits.
 *
 * Memory: struct qn_enrich is opaque (qn_enrich_open/_close), owning the
 * mapped databases and the cache.  Library code: nothing here logs or
 * prints.  Not thread-safe per handle (the cache); one handle per thread.
 */
#ifndef QN_ENRICH_H
#define QN_ENRICH_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "event.h"
#include "seen.h"
#include "sessions.h"
#include "status.h"

#define QN_ENRICH_RDNS_TIMEOUT_MS 2000 /* both look-ups together */
#define QN_ENRICH_NAME_MAX        254  /* a host name with its NUL */
#define QN_ENRICH_CACHE_MAX       32
#define QN_ENRICH_GEO_TEXT_MAX    128
#define QN_ENRICH_HELPER_OUTPUT   8192 /* bytes of getent's output read */

struct qn_enrich_options {
    bool rdns;
    unsigned rdns_timeout_ms; /* 0: QN_ENRICH_RDNS_TIMEOUT_MS */
    const char *getent;       /* the program; NULL: "getent" from PATH (QN_SPAWN_DEFAULT_PATH) */
    size_t n_geoip;
    const char *const *geoip; /* N_GEOIP absolute paths of .mmdb files */
    enum qn_lang lang;        /* for GeoIP names; QN_LANG_AUTO means Chinese, as render.h */
};

enum qn_enrich_rdns_result {
    QN_RDNS_CONFIRMED = 1, /* a name that leads back to the address */
    QN_RDNS_UNCONFIRMED,   /* a name that does not */
    QN_RDNS_NONE,          /* no name (no PTR, NXDOMAIN) */
    QN_RDNS_TIMEOUT,       /* the resolver did not answer in time */
    QN_RDNS_FAILED,        /* getent could not run, or answered nonsense */
};

struct qn_enrich_rdns {
    enum qn_enrich_rdns_result result;
    char name[QN_ENRICH_NAME_MAX]; /* CONFIRMED, UNCONFIRMED: lower-case, [a-z0-9.-_] */
};

struct qn_enrich_geo {
    bool found; /* some database knew the address */
    char country_code[4];
    char country[QN_ENRICH_GEO_TEXT_MAX];
    char city[QN_ENRICH_GEO_TEXT_MAX];
    unsigned long asn; /* 0 when unknown */
    char as_org[QN_ENRICH_GEO_TEXT_MAX];
};

/* What went wrong opening a database, for the program to say. */
struct qn_enrich_error {
    char path[4096];
    char detail[256]; /* libmaxminddb's words */
};

struct qn_enrich;

/*
 * A handle for OPT (copied).  Each GeoIP database is opened now.  QN_OK with
 * *RET; QN_EINVAL for bad options; QN_EIO when a database cannot be opened
 * or read (*ERR names it; nothing is returned then); QN_ENOMEM.
 */
enum qn_status qn_enrich_open(const struct qn_enrich_options *opt, struct qn_enrich **ret,
                              struct qn_enrich_error *err);

/* Unmap the databases, free the handle.  NULL is fine. */
void qn_enrich_close(struct qn_enrich *e);

/*
 * Reverse DNS of ADDR (an IPv4 or IPv6 literal), forward-confirmed, within
 * the handle's timeout (see the file comment).  QN_OK with *RET filled (its
 * result says what was found, a timeout included); QN_EINVAL when ADDR is no
 * address or rdns is off.
 */
enum qn_status qn_enrich_rdns(struct qn_enrich *e, const char *addr, struct qn_enrich_rdns *ret);

/* GeoIP of ADDR.  QN_OK (ret->found false when no database knows it, or none
 * is configured); QN_EINVAL for no address. */
enum qn_status qn_enrich_geoip(struct qn_enrich *e, const char *addr, struct qn_enrich_geo *ret);

/*
 * Add the fields listed above to EV, for its "ip" (or "rhost" when that is
 * an address).  SEEN (previous logins: call before recording this one) and
 * SESSIONS (after this login's qn_sessions_open) may be NULL.  QN_OK, also
 * when nothing was found; QN_EINVAL for NULL arguments.
 */
enum qn_status qn_enrich_event(struct qn_enrich *e, struct qn_event *ev, const struct qn_seen *seen,
                               const struct qn_sessions *sessions);

#endif
