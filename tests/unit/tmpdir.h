/*
 * tmpdir — a private directory under /tmp for a unit test, and its removal
 * (depth first, never following a link: only what the test wrote goes).
 */
#ifndef QN_TEST_TMPDIR_H
#define QN_TEST_TMPDIR_H

#include <stddef.h>

/* Make /tmp/qn-test-NAME-XXXXXX into DIR (SIZE bytes).  0, or -1 (errno). */
int tmpdir_make(char *dir, size_t size, const char *name);

/* Remove DIR and everything below it.  0, or -1. */
int tmpdir_remove(const char *dir);

#endif
