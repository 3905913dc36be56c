/*
 * diag — the error model for mail delivery and the catalog of causes and fixes.
 *
 * Every failure on the way to the mail server is described by one
 * struct qn_error: the stage it happened at, the SMTP reply (code, enhanced
 * status code, text), errno, the OpenSSL error and a verdict that says what
 * the sender should do with the message (retry later, give up, or stop
 * until the administrator fixes the configuration).
 *
 * The struct is fixed-size and holds no pointers: it can be copied, kept
 * in the spool and filled without allocating.  Server text is stored as
 * sanitised UTF-8 (GB18030 replies are decoded, control characters
 * replaced) and truncated to fit.  A qn_error never holds the secret: the
 * SMTP client never copies what it sent, only what the server answered.
 *
 * The catalog maps (provider, stage, status, SMTP code, enhanced code,
 * server text) to a diagnosis: a stable id, a cause and a fix.  The texts
 * are English gettext msgids; programs translate them (po/zh_CN.po).  The
 * catalog is static, read-only data: thread-safe.
 *
 * What the catalog reads besides status, stage and reply: sys_errno at the
 * connect stage (ECONNREFUSED, ETIMEDOUT, ENETUNREACH, EHOSTUNREACH,
 * EPERM, EACCES), and words of the detail for QN_ETLS and QN_ERESOLVE: the
 * verification result as OpenSSL words it (X509_verify_cert_error_string:
 * "certificate has expired", "hostname mismatch", "self-signed ..."),
 * "pin mismatch" or "fingerprint" for a pinned certificate that differs,
 * "CA file" for an unusable ca_file, OpenSSL's "wrong version number", and
 * gai_strerror() text for resolver failures, after the host name and a colon
 * ("cannot resolve smtp.qq.com: Name or service not known"): a provider
 * preset's own server name that "does not exist" means a filtering or cut-off
 * resolver, any other name a typo.  Keep those words in details.
 *
 * Verdicts go beyond qn_error_verdict() where the struct knows more: a
 * QN_ETLS with sys_errno set (I/O broke the handshake) is RETRY, and a 5xx
 * whose text means "slow down" (frequency, quota, "too many") is RETRY
 * while its status stays QN_EREJECT: decide on the verdict, not the status.
 * Such diagnoses also say rate_limited: the answer concerns the account's
 * sending rate, not the one message, so a sender slows down for all mail.
 *
 * The chat robots' failures (provider "wecom", "dingtalk", "feishu") are
 * looked up in their own part of the catalog first (diag_robot.h: the
 * platforms' codes, HTTP statuses, TLS and network failures of their
 * transports); what it leaves open falls to the rules below.
 */
#ifndef QN_DIAG_H
#define QN_DIAG_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

enum qn_stage {
    QN_STAGE_NONE = 0,
    QN_STAGE_CONFIG,
    QN_STAGE_CREDENTIAL,
    QN_STAGE_RESOLVE,
    QN_STAGE_CONNECT,
    QN_STAGE_TLS,
    QN_STAGE_GREETING,
    QN_STAGE_EHLO,
    QN_STAGE_STARTTLS,
    QN_STAGE_AUTH,
    QN_STAGE_MAIL,
    QN_STAGE_RCPT,
    QN_STAGE_DATA,
    QN_STAGE_QUIT,
    QN_STAGE_LOCAL,
    QN_STAGE_HTTP, /* a chat robot's request and its answer, after TLS (webhook.h) */
};

enum qn_verdict {
    QN_VERDICT_NONE = 0,  /* no failure */
    QN_VERDICT_RETRY,     /* temporary: keep the message and try again later */
    QN_VERDICT_PERMANENT, /* the server refused this message for good */
    QN_VERDICT_CONFIG,    /* nothing will work until the configuration is fixed */
};

#define QN_ERROR_TEXT_MAX   512
#define QN_ERROR_DETAIL_MAX 256

struct qn_error {
    enum qn_status status;
    enum qn_stage stage;
    enum qn_verdict verdict;
    int smtp_code;                       /* 0 when no reply was involved */
    char enhanced[16];                   /* "5.7.8", or "" */
    char server_text[QN_ERROR_TEXT_MAX]; /* sanitised UTF-8, lines joined by " / " */
    int sys_errno;                       /* 0 when not a system call failure */
    unsigned long tls_error;             /* ERR_get_error() code, 0 if none */
    char detail[QN_ERROR_DETAIL_MAX];    /* local detail in English, e.g. the call that failed */
    /* A chat robot's answer (robot.h): its HTTP status (0 when none came)
     * and the platform's own code in its body (errcode, code; 0 when none);
     * the platform's words are in server_text. */
    int http_status;
    long long api_code;
};

struct qn_diagnosis {
    const char *id;    /* stable identifier, e.g. "qq-auth-code" */
    const char *when;  /* English msgid: the symptom, e.g. "535 at AUTH on smtp.qq.com" */
    const char *cause; /* English msgid */
    const char *fix;   /* English msgid */
    /* The provider asks this account or host to send less (frequency limits,
     * daily quota, a throttled recipient): a sender backs off for every
     * message, not only for the one refused. */
    bool rate_limited;
};

/* Reset ERR to "no failure". */
void qn_error_clear(struct qn_error *err);

/*
 * Record a failure.  DETAIL is printf-formatted English (may be NULL).  Sets
 * status, stage and detail, keeps the other fields, and fills verdict from
 * status and smtp_code when it is still QN_VERDICT_NONE.  Returns STATUS so
 * callers can write `return qn_error_set(err, ...)`.  ERR may be NULL.
 */
enum qn_status qn_error_set(struct qn_error *err, enum qn_status status, enum qn_stage stage,
                            const char *detail, ...) __attribute__((format(printf, 4, 5)));

/* qn_error_set() for a failed system call: err->sys_errno becomes ERRNUM (0: none)
 * first, so the verdict derived from it is right. */
enum qn_status qn_error_set_errno(struct qn_error *err, enum qn_status status, enum qn_stage stage,
                                  int errnum, const char *detail, ...)
    __attribute__((format(printf, 5, 6)));

/*
 * Record an SMTP reply as the failure: code, enhanced code and text (raw
 * bytes from the server, any encoding; decoded and sanitised here).  Status
 * is derived from the code (4xx QN_ETEMPFAIL, 535/534/530 at auth QN_EAUTH,
 * other 5xx QN_EREJECT, anything else QN_EPROTO).  Returns the status.
 *
 * TEXT is what follows the code on each line, lines separated by "\n" (a
 * "\r" before it and whole "250-..." lines are accepted too).  The first
 * enhanced code goes to err->enhanced and is dropped from every line that
 * repeats it; the lines are joined by " / ".  Always sets status,
 * stage, smtp_code, enhanced, server_text (the unused bytes zeroed) and
 * verdict; clears sys_errno and tls_error; keeps detail.  ERR may be NULL.
 */
enum qn_status qn_error_set_reply(struct qn_error *err, enum qn_stage stage, int code,
                                  const char *text, size_t text_len);

/* The verdict a status and SMTP code imply at STAGE. */
enum qn_verdict qn_error_verdict(enum qn_status status, enum qn_stage stage, int smtp_code);

/* Stage name in English ("auth", "tls"...): a msgid, never NULL. */
const char *qn_stage_name(enum qn_stage stage);

/*
 * The diagnosis for ERR with PROVIDER ("qq", "163", ... or NULL).  Never
 * NULL for a failure: an unknown failure gets a generic diagnosis built
 * from its stage and verdict.  NULL only when err->status is QN_OK.
 */
const struct qn_diagnosis *qn_diag_lookup(const char *provider, const struct qn_error *err);

/* The mail part of the catalog, in order, for documentation (README table,
 * man page); the chat robots' part is qn_diag_robot_catalog() (diag_robot.h). */
const struct qn_diagnosis *qn_diag_catalog(size_t *ret_count);

/* The diagnosis with the stable ID, in either part of the catalog; NULL
 * when there is none (an id stored by another version). */
const struct qn_diagnosis *qn_diag_find(const char *id);

/* True when one of the NULL-terminated NEEDLES (lower-case ASCII or any
 * UTF-8) is in the first HAYSZ bytes of HAY, ASCII letters compared without
 * regard to case (not strcasestr: that folds by the locale).  For the
 * catalog's rules. */
bool qn_diag_text_has(const char *hay, size_t haysz, const char *const *needles);

/* The diagnosis of a content filter's refusal (QQ's 550 "inappropriate words or content",
 * 163's "554 DT:SPM", "Mail content denied"): a minimal alert is sent instead (minimal.h). */
#define QN_DIAG_CONTENT_ID "content-spam"

#endif
