/*
 * secret — the one holder of a secret in the project: the SMTP
 * authorization code, a credential helper's answer that carries it, a
 * keyring's answer, what a person types at the prompt.
 *
 * Why not malloc: heap blocks can be swapped out, copied into core dumps
 * and handed to the next malloc() still holding their bytes.  A secret is
 * its own anonymous mapping (whole pages):
 *   - mlock()ed, best effort: a low RLIMIT_MEMLOCK makes it fail, and the
 *     buffer is then still wiped, only not pinned (see s->locked);
 *   - MADV_DONTDUMP: never in a core file;
 *   - MADV_DONTFORK: a child made by fork() (spawn.h: the credential helper,
 *     systemd-creds) never inherits it;
 *   - wiped with explicit_bzero(), which the compiler may not drop, before
 *     it is unmapped, on every path.
 * libc only (no OpenSSL): the secret program and the core share it, and a
 * libc-only module may use it.
 *
 * Ownership: the struct owns its mapping.  An all-zero struct (`= {0}`) is
 * an empty secret that is not set up yet, which every function here
 * accepts.  data is NUL-terminated when set up, len excludes the NUL, cap
 * is the largest len allowed.  A reader may fill data directly (read(2)
 * straight into the locked pages, never through a stdio or heap buffer):
 * it writes at most cap - len bytes at data + len, then sets len and
 * data[len] = '\0'.  Never copy the struct to keep a second owner.
 *
 * Not thread-safe per secret; no global state.
 */
#ifndef QN_SECRET_H
#define QN_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

/* Bytes of secret accepted anywhere (a QQ Mail authorization code has 16). */
#define QN_SECRET_MAX 1024

struct qn_secret {
    char *data;  /* NUL-terminated; NULL while not set up */
    size_t len;  /* bytes used, without the NUL */
    size_t cap;  /* largest len allowed */
    size_t size; /* bytes mapped */
    bool locked; /* mlock() succeeded */
};

/*
 * Set up *S as an empty secret that can hold CAP bytes (plus the NUL).
 * QN_OK; QN_EINVAL when CAP is 0 or absurdly large; QN_ENOMEM when the
 * mapping fails (errno ENOMEM).  A failed mlock() is not an error.  *S is
 * overwritten: pass a secret that is not set up (or wiped).  On failure *S
 * is an empty secret.
 */
enum qn_status qn_secret_init(struct qn_secret *s, size_t cap);

/* Append N bytes of P.  QN_OK; QN_ETOOBIG when len would pass cap (the
 * secret is then unchanged); QN_EINVAL when S is not set up. */
enum qn_status qn_secret_append(struct qn_secret *s, const void *p, size_t n);

/* Forget the contents (wiped), keeping the mapping.  Accepts NULL and a
 * secret that is not set up. */
void qn_secret_clear(struct qn_secret *s);

/* Wipe, unlock and unmap: *S becomes an all-zero empty secret.  Accepts
 * NULL and a secret that is not set up, so it can run on every path. */
void qn_secret_wipe(struct qn_secret *s);

/*
 * Make this process safe to hold a secret, before it holds one: no core dump (the kernel
 * writes none for a process that is not dumpable, whatever core_pattern says, and
 * RLIMIT_CORE 0 is inherited by every child), and no other process of the same user may
 * attach to it or read its memory (/proc/PID/mem, ptrace need a dumpable target).  The
 * pages of a struct qn_secret are kept out of dumps anyway (MADV_DONTDUMP); this covers
 * every other copy (the AUTH line on the stack, a TLS record, a reply that quoted it).
 * Process-wide: only programs call it (qqnotify and qqnotify-secret at start).  A program
 * it execs is dumpable again (and sets this itself if it holds secrets); the core limit
 * stays.  QN_OK; QN_EIO with errno when the kernel refused.
 */
enum qn_status qn_secret_protect_process(void);

#endif
