/*
 * i18n — the language of a program's messages: gettext catalog binding and
 * the choice between Chinese and English.
 *
 * For the programs (qqnotify, qqnotify-secret, qqnotify-journal) only: it
 * changes process-wide state (the locale and the LANGUAGE variable of the
 * process itself), so library code and the PAM module, which runs inside
 * sshd and sudo, never call it.
 *
 * The choice: an explicit --lang, else the configuration's language, else
 * the locale (LANGUAGE, LC_ALL, LC_MESSAGES, LANG: the first one set decides;
 * "zh..." means Chinese).  It must also work on servers where no zh_CN
 * locale is generated: gettext ignores LANGUAGE in the "C" locale, so the
 * always-present C.UTF-8 stands in for it, and LANGUAGE picks the catalog.
 * Setting the locale again after LANGUAGE changed also makes gettext drop
 * the translations it cached.
 */
#ifndef QN_I18N_H
#define QN_I18N_H

#include <libintl.h>
#include <stdbool.h>

#include "config.h"

/* The one translation macro of the programs: _() translates a msgid now,
 * N_() only marks one for xgettext (tables translated when printed). */
#define _(s)  gettext(s)
#define N_(s) (s)

/* Bind the "qqnotify" text domain, UTF-8: the build tree's locale/ next to the
 * executable when there is one (so build/ binaries speak Chinese before they
 * are installed), else LOCALEDIR. */
void qn_i18n_bind(const char *localedir);

/* True when ARG names Chinese ("zh", "zh_CN", "zh_CN.UTF-8"...). */
bool qn_i18n_is_zh(const char *arg);

/* Choose the language: LANG_ARG (--lang, may be NULL), else CONFIGURED, else the locale. */
void qn_i18n_set_language(const char *lang_arg, enum qn_lang configured);

#endif
