#include "i18n.h"

#include <libintl.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DOMAIN "qqnotify"

void qn_i18n_bind(const char *localedir)
{
    char exe[PATH_MAX], dir[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;
    int len;

    if (n > 0) {
        exe[n] = '\0';
        slash = strrchr(exe, '/');
        if (slash != NULL) {
            *slash = '\0';
            len = snprintf(dir, sizeof(dir), "%s/locale", exe);
            if (len > 0 && (size_t)len < sizeof(dir) && access(dir, R_OK | X_OK) == 0) {
                bindtextdomain(DOMAIN, dir);
                goto out;
            }
        }
    }
    bindtextdomain(DOMAIN, localedir);
out:
    bind_textdomain_codeset(DOMAIN, "UTF-8");
    textdomain(DOMAIN);
}

bool qn_i18n_is_zh(const char *arg)
{
    return arg != NULL && (strncmp(arg, "zh", 2) == 0 || strncmp(arg, "ZH", 2) == 0);
}

static bool locale_wants_zh(void)
{
    static const char *const vars[] = {"LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"};

    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *v = getenv(vars[i]);
        if (v != NULL && *v != '\0')
            return qn_i18n_is_zh(v);
    }
    return false;
}

void qn_i18n_set_language(const char *lang_arg, enum qn_lang configured)
{
    const char *cur;
    bool zh;

    if (lang_arg != NULL)
        zh = qn_i18n_is_zh(lang_arg);
    else if (configured != QN_LANG_AUTO)
        zh = configured == QN_LANG_ZH;
    else
        zh = locale_wants_zh();
    /* Only fails for lack of memory; the messages then stay in the locale's language. */
    (void)setenv("LANGUAGE", zh ? "zh_CN" : "en", 1);
    cur = setlocale(LC_ALL, "");
    if (cur == NULL || strcmp(cur, "C") == 0 || strcmp(cur, "POSIX") == 0)
        setlocale(LC_ALL, "C.UTF-8");
    else
        setlocale(LC_ALL, cur);
}
