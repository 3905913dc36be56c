/*
 * render — events to mail: a subject, a plain-text body and a compact HTML
 * table that reads well on a phone, in Chinese or English.
 *
 * One template per event kind (login, logout, authfail, journal, notify, and
 * a generic one for any other kind), e.g.
 *   「root 于 14:03 从 203.0.113.9 通过 ssh 公钥登录 web1」
 *   "root logged in to web1 via ssh publickey from 203.0.113.9 at 14:03"
 * Host name and time are in every alert.  A digest lists every event it
 * covers, grouped by kind, user, host and source address, with counts and
 * first/last times, so nothing merged is lost from sight.
 *
 * The templates are C tables holding both languages instead of gettext
 * catalogs: the mail's language is a setting of the configuration
 * ([notify] language), independent of the locale of the process that
 * happens to flush the spool, and the library must not touch process-wide
 * locale state.
 *
 * What the output looks like:
 * - subject: always "[host] ..."; an event's own subject (a journal rule's
 *   template, `qqnotify notify --subject`) is used as given after that
 *   prefix (not added twice when the subject already starts with it); one
 *   line, cut to QN_RENDER_SUBJECT_MAX bytes on a character boundary;
 * - text: a headline sentence, the event's details, a table of every field
 *   ("label: value" lines, well-known names translated), host and time
 *   ("2026-11-26 14:03:05 +0800"), then a footer line naming qqnotify and
 *   the host;
 * - html: the same as a small complete document with inline styles only
 *   (mail clients drop <style>), max-width and word-breaking so long keys
 *   and addresses wrap on a phone.
 * The source address shown in sentences is the ip field when present, else
 * rhost: a reverse-DNS name is chosen by whoever owns the address block.
 *
 * Fields the sender adds before rendering (the event as it was queued is
 * not changed): "severity" (severity.h) puts a marker after the host in the
 * subject ("[web1] 【严重】…", "[web1] [critical] …"; a digest shows its
 * highest); "duration" (seconds, sessions.h) ends a session's sentences
 * ("… ended after 2h 14m", "…，持续 2 小时 14 分钟"); enrich.h's fields get
 * labels, with last_login and source_last_login shown as local times.
 *
 * All event text is sanitised by event.c; the renderer sanitises it again
 * (the struct is public and may be filled by hand), so every line of the
 * output is valid UTF-8 without control characters, and the HTML output
 * escapes & < > " '.  Output goes into caller-owned buffers (struct
 * qn_rendered, freed with qn_rendered_free, which accepts a zeroed struct).
 * Thread-safe (localtime_r, no globals).
 */
#ifndef QN_RENDER_H
#define QN_RENDER_H

#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "event.h"
#include "status.h"

/* Largest digest: callers with more pending events split them into several
 * digests of at most this many.  With the line cap below, a digest of this
 * many events cannot reach QN_RENDER_BODY_MAX whatever the events hold. */
#define QN_RENDER_DIGEST_MAX_EVENTS 500
#define QN_RENDER_BODY_MAX          (4 * 1024 * 1024) /* bytes of text and of html */
#define QN_RENDER_SUBJECT_MAX       512               /* bytes of the subject, with its NUL */
#define QN_RENDER_DIGEST_LINE_MAX   400 /* bytes of one digest line, before escaping */

struct qn_rendered {
    struct qn_buf subject; /* one line, UTF-8, no control characters */
    struct qn_buf text;    /* plain text, '\n' line ends */
    struct qn_buf html;    /* a complete small HTML document */
};

/* Render one event.  LANG QN_LANG_AUTO means Chinese.  TZ: times are shown in
 * the process's local time zone.  *OUT is overwritten (free an earlier
 * result first); on failure it is left empty.  QN_EINVAL (NULL argument),
 * QN_ENOMEM, QN_ETOOBIG. */
enum qn_status qn_render_event(const struct qn_event *ev, enum qn_lang lang,
                               struct qn_rendered *out);

/* Render a digest of N events (1 <= N <= QN_RENDER_DIGEST_MAX_EVENTS) in the
 * order given: subject "[host] N 条告警汇总（10:00–10:09）", counts per kind
 * and per (user, host, source address) — for journal events the rule takes
 * the user's place — with first and last times, then every event on one
 * line (time, kind, summary), each named exactly once.  QN_EINVAL for N == 0
 * or a NULL event, QN_ETOOBIG for N above the maximum (split and retry),
 * QN_ENOMEM.  *OUT as for qn_render_event. */
enum qn_status qn_render_digest(const struct qn_event *const *evs, size_t n, enum qn_lang lang,
                                struct qn_rendered *out);

void qn_rendered_free(struct qn_rendered *r);

/* Append S to B with & < > " ' escaped for HTML text and attribute values.
 * QN_ETOOBIG, QN_ENOMEM (B may hold part of it). */
enum qn_status qn_render_html_escape(struct qn_buf *b, const char *s);

#endif
