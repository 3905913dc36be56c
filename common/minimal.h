/*
 * minimal — an alert cut down for a content filter: what a route resends
 * once after the provider refused the full alert's content (QQ's "550 The
 * mail may contain inappropriate words or content", 163's "554 DT:SPM",
 * "550 Mail content denied": the diagnosis content-spam, diag.h).  Users
 * of QQ Mail report the refusal going away once addresses and links leave
 * the body, so the minimal alert is:
 *   - plain text only (no HTML part);
 *   - no links: every http:// or https:// URL becomes "[link removed]";
 *   - source addresses partly masked: an IPv4 address keeps its first
 *     three numbers ("203.0.113.x"), an IPv6 address its first two groups
 *     ("2001:db8:x");
 *   - otherwise the same subject and text (the spool entry keeps every
 *     detail: `qqnotify queue show ID`).
 *
 * Pure functions over caller-owned buffers (qn_buf bounds apply); no
 * globals.  Thread-safe.
 */
#ifndef QN_MINIMAL_H
#define QN_MINIMAL_H

#include <stddef.h>

#include "buf.h"
#include "render.h"
#include "status.h"

#define QN_MINIMAL_LINK "[link removed]"

/* Append the N bytes of S to OUT with links removed and addresses masked as
 * above.  QN_ETOOBIG, QN_ENOMEM (OUT as it was). */
enum qn_status qn_minimal_text(const char *s, size_t n, struct qn_buf *out);

/* The minimal alert of IN into *OUT (overwritten; free it with
 * qn_rendered_free): its subject and text through qn_minimal_text, no html.
 * QN_ENOMEM, QN_ETOOBIG (*OUT is then empty). */
enum qn_status qn_minimal_render(const struct qn_rendered *in, struct qn_rendered *out);

#endif
