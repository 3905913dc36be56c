/* Helpers shared by the backends. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "text.h"

void qns_error_set(struct qns_error *err, int sys_errno, const char *fmt, ...)
{
    char raw[QNS_DETAIL_MAX * 2];
    va_list ap;
    int n;

    err->sys_errno = sys_errno;
    va_start(ap, fmt);
    n = vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    if (n < 0) {
        err->detail[0] = '\0';
        return;
    }
    /* Details quote other programs (GLib, systemd-creds): one clean line, so
     * nothing they say can forge a line of our output. */
    qn_text_sanitize_line(raw, strnlen(raw, sizeof(raw)), err->detail, sizeof(err->detail));
}
