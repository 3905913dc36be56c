/*
 * mailer — the mail session and the mail of a configuration: one
 * authenticated SMTP session opened from a struct qn_config, and one message
 * builder that gives every mail qqnotify writes the configured sender and
 * recipients.  `qqnotify send`, `check` and `flush` (through the queue
 * manager's transport, qmgr.h) all go through here, so there is one place
 * where a session is opened and one where a mail gets its From and To.
 *
 * A session: the secret comes from qn_cred_get() (credential file, systemd
 * credential or helper; cred.h), then qn_smtp_open() connects with the
 * configuration's host, port, TLS mode, CA file, pin, timeout and HELO name,
 * then qn_smtp_auth() logs in as [smtp] user, and the secret is wiped
 * (qn_secret_wipe) before qn_mailer_open() returns, whatever happened: the
 * mailer does not keep it, with one exception: a sender started as root
 * that is about to become the spool's user fetches it first
 * (qn_mailer_fetch_secret) and the mailer keeps it, in its locked pages
 * (secret.h), until qn_mailer_free().  The credential is fetched before
 * connecting, so a missing secret costs no connection.  qn_mailer_send() opens the session
 * on first use; one session carries any number of mails; qn_mailer_close()
 * says QUIT and closes, qn_mailer_abort() closes without a word (after a
 * failure, when the dialogue is over anyway).  The envelope sender is
 * always [smtp] user: providers such as QQ Mail refuse any other.
 *
 * `qqnotify check` reports every stage on its own, so the steps are also
 * offered one by one: qn_mailer_connect() (no login) and qn_mailer_auth()
 * with a secret the caller fetched; qn_mailer_set_stage_cb() passes each
 * stage the SMTP client completes to the caller (smtp.h, qn_smtp_stage_cb).
 *
 * The builder: qn_mailer_build() fills an RFC 5322 message (mime.h) with
 * From = from_name <user> (or the content's own display name: a mail of
 * the user lane says "from user NAME", qmgr.h), To = the given recipients or [notify] to, the
 * subject, a plain-text body and optionally an HTML alternative.
 *
 * Errors: the session calls return an enum qn_status and fill the caller's
 * struct qn_error (stage, reply, verdict), as smtp.h and cred.h describe;
 * the transport reports a mail it cannot build at QN_STAGE_LOCAL.  The
 * mailer neither prints nor logs.  Memory: a struct qn_mailer is one small allocation plus
 * the session's (smtp.h); it keeps a pointer to the configuration, which
 * must outlive it.  Thread-safety: one mailer per thread.
 */
#ifndef QN_MAILER_H
#define QN_MAILER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "cred.h"
#include "diag.h"
#include "qmgr.h"
#include "smtp.h"
#include "status.h"

#define QN_MAILER_MESSAGE_MAX (16u * 1024 * 1024) /* bytes of a built mail */

/* What one mail says.  Date, Message-ID and boundary are fixed only by
 * tests that compare bytes; programs leave them 0/NULL (now, random). */
struct qn_mailer_content {
    const char *from_name; /* the From display name; NULL: [smtp] from_name */
    const char *subject;   /* UTF-8, may be NULL */
    const char *text;      /* UTF-8 plain-text body, required */
    const char *html;      /* UTF-8 HTML alternative, or NULL */
    const char *const *to; /* recipients, or NULL for [notify] to */
    size_t n_to;
    time_t date;
    const char *message_id;
    const char *boundary;
};

/*
 * Append the mail for CONTENT, from the configured account (from_name <user>),
 * to OUT (whose max bounds it; use QN_MAILER_MESSAGE_MAX).  Errors as
 * qn_mime_build(): QN_EINVAL (no recipient, an address that is not one, no
 * text), QN_ETOOBIG, QN_ENOMEM, QN_EIO; OUT may then hold part of a message.
 */
enum qn_status qn_mailer_build(const struct qn_config *cfg, const struct qn_mailer_content *content,
                               struct qn_buf *out);

struct qn_mailer;

/* A mailer for CFG, not yet connected (no I/O).  *RET owned by the caller
 * (qn_mailer_free).  QN_ENOMEM, QN_EINVAL. */
enum qn_status qn_mailer_new(const struct qn_config *cfg, struct qn_mailer **ret);

/* Close any session without QUIT (as qn_mailer_abort) and free.  M may be
 * NULL.  Returns NULL. */
struct qn_mailer *qn_mailer_free(struct qn_mailer *m);

/*
 * Fetch the secret now (qn_cred_get) and keep it for every session this
 * mailer opens, until qn_mailer_free() wipes it: for a sender that is about
 * to give up the privileges it needs to read it (the systemd credential
 * store is root's).  A failure is kept too: qn_mailer_open() then fails
 * with it (stage QN_STAGE_CREDENTIAL), as it would have fetching it then.
 * Returns the fetch's status, ERR filled on failure (may be NULL).
 */
enum qn_status qn_mailer_fetch_secret(struct qn_mailer *m, struct qn_error *err);

/* Report each SMTP stage passed from now on to CB (NULL: none). */
void qn_mailer_set_stage_cb(struct qn_mailer *m, qn_smtp_stage_cb cb, void *arg);

/*
 * Open an authenticated session: credential, connect, AUTH; the secret is
 * wiped before returning.  QN_OK at once when one is open.  On failure ERR
 * says which stage failed (QN_STAGE_CREDENTIAL for the secret, then
 * smtp.h's stages); after a refused login the connection is still there,
 * to be ended with qn_mailer_close() (QUIT) or qn_mailer_abort(); the next
 * qn_mailer_open() starts a new session.
 */
enum qn_status qn_mailer_open(struct qn_mailer *m, struct qn_error *err);

/* Connect without logging in (TLS, greeting, EHLO, STARTTLS): for
 * `qqnotify check`, which fetches the secret itself to report it apart.
 * QN_EINVAL (stage LOCAL) when already connected. */
enum qn_status qn_mailer_connect(struct qn_mailer *m, struct qn_error *err);

/* Log the connected session in with SECRET, which is wiped before this
 * returns, whatever the result.  QN_EINVAL without a session. */
enum qn_status qn_mailer_auth(struct qn_mailer *m, struct qn_secret *secret, struct qn_error *err);

/* MAIL FROM:<user> then RSET on the open session: is the account accepted
 * as sender?  QN_EINVAL without a session. */
enum qn_status qn_mailer_probe_sender(struct qn_mailer *m, struct qn_error *err);

/*
 * Send the LEN-byte message MSG from [smtp] user to the N_RCPT envelope
 * recipients RCPT (NULL: [notify] to), opening the session first when none
 * is open (qn_mailer_open).  QN_OK when the server answered 250 after DATA.
 * A refusal of this message (a reply at MAIL, RCPT or DATA) leaves the
 * session usable; after any other failure close or abort the mailer before
 * sending again.
 */
enum qn_status qn_mailer_send(struct qn_mailer *m, const char *const *rcpt, size_t n_rcpt,
                              const char *msg, size_t len, struct qn_error *err);

/* QUIT (waiting for the reply within the timeout, its failure ignored)
 * and close; the next send opens a new session.  No-op when not connected. */
void qn_mailer_close(struct qn_mailer *m);

/* Close the connection without QUIT. */
void qn_mailer_abort(struct qn_mailer *m);

/*
 * The queue manager's transport (qmgr.h) over M: open = qn_mailer_open;
 * deliver = a rendered alert built with qn_mailer_build() for [notify] to,
 * or a sendmail message sent as given to its envelope recipients; close =
 * qn_mailer_close.  M must outlive the transport.
 */
struct qn_transport qn_mailer_transport(struct qn_mailer *m);

#endif
