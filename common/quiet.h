/*
 * quiet — quiet hours: `[quiet] hours = 23:00-07:00`.  During them the
 * sender holds alerts that are not critical (severity.h) and sends what it
 * held as one digest when they end; critical ones (login as root, sudo,
 * rules marked `severity = critical`) go out at once.
 *
 * The hours are local wall-clock times of the process's time zone (TZ,
 * /etc/localtime), start inclusive, end exclusive; a window whose end is
 * not after its start runs over midnight (23:00-07:00).  "00:00-24:00" is
 * the whole day.  Days with a daylight-saving change are measured on the
 * wall clock: 23:00-07:00 on the night clocks go back lasts nine hours;
 * an end time that does not exist that night (02:30 when 02:00 becomes
 * 03:00) ends the hours at the first time after the gap.
 *
 * Pure functions: the time to judge is a parameter (tests inject the clock
 * and set TZ).  localtime_r/mktime read the time zone: thread-safe as far
 * as they are.  No globals.
 */
#ifndef QN_QUIET_H
#define QN_QUIET_H

#include <stdbool.h>

#include "severity.h"
#include "status.h"

struct qn_quiet {
    bool set;           /* false: no quiet hours (the default) */
    unsigned start_min; /* minutes after local midnight, 0..1439 */
    unsigned end_min;   /* 1..1440 */
};

/*
 * "HH:MM-HH:MM" (blanks around '-' allowed; hours 00-23, minutes 00-59, the
 * end may be 24:00; start and end differ) into *RET.  QN_EINVAL otherwise,
 * *RET untouched.
 */
enum qn_status qn_quiet_parse(const char *text, struct qn_quiet *ret);

/*
 * True when T (seconds since the epoch) falls inside the quiet hours; then
 * *RET_END (when not NULL) gets the first moment after them.  False when
 * outside, or when Q is not set.
 */
bool qn_quiet_contains(const struct qn_quiet *q, long long t, long long *ret_end);

/*
 * The decision for one alert of severity SEV at T: true = hold it until
 * *RET_UNTIL (the end of the quiet hours); false = send it now (outside the
 * hours, or critical).
 */
bool qn_quiet_holds(const struct qn_quiet *q, enum qn_severity sev, long long t,
                    long long *ret_until);

#endif
